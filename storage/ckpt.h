/* ckpt.h -- the interface between a component's state and a checkpoint: records out, back in.
 *
 * A checkpoint (DESIGN.md §9) is a snapshot of every component's state as
 * SSTables with the journal position it covers. Each component (a segment's
 * gateway with its matcher and credit state, the control core's account
 * book, ...) writes its state as key-value records into a ckptSink and
 * reads them back, in ascending key order, from a ckptSource. The component
 * chooses its keys (a one-byte record kind first, then big-endian ids, so
 * that byte order is the order restore wants, e.g. resting orders in
 * priority order); the checkpoint writer (which owns files, SSTables and
 * the manifest) does not interpret them.
 *
 * Neither side allocates on behalf of the other: a sink copies what it is
 * given before put returns; a source's pointers stay valid until its next
 * call. Keys are at most CKPT_MAX_KEY bytes, values at most CKPT_MAX_VALUE. */
#ifndef XCHG_STORAGE_CKPT_H
#define XCHG_STORAGE_CKPT_H

#include <stddef.h>
#include <stdint.h>

#define CKPT_MAX_KEY   256u
#define CKPT_MAX_VALUE (1u << 20)

/* Where a component writes its records. Keys need not arrive sorted, but a
 * key given twice is an error of the component. put returns 0, or -1 when
 * the record cannot be stored (the snapshot then fails as a whole). */
typedef struct ckptSink {
    int (*put)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
    void *ctx;
} ckptSink;

/* Where a component reads its records back, ascending by key (memcmp order,
 * shorter first on a tie). next returns 1 with the record, 0 at the end,
 * or -1 when the checkpoint is damaged (the restore then fails). */
typedef struct ckptSource {
    int (*next)(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen);
    void *ctx;
} ckptSource;

/* Convenience for components: sink->put(sink->ctx, ...). */
static inline int ckptPut(const ckptSink *s, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    return s->put(s->ctx, key, klen, val, vlen);
}

/* Convenience for components: src->next(src->ctx, ...). */
static inline int ckptNext(const ckptSource *s, const void **key, size_t *klen, const void **val,
                           size_t *vlen)
{
    return s->next(s->ctx, key, klen, val, vlen);
}

#endif
