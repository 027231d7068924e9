/* snapcodec.h -- big-endian record building and bounds-checked parsing for component snapshots.
 *
 * Shared by dataplane/gwsnap.c and dataplane/crsnap.c. A snapBuf grows by
 * realloc (snapshots run off the worker lcores); a snapRd never reads past
 * its end: a short read yields 0 and marks it bad, so parsers check once at
 * the end of a record. */
#ifndef XCHG_DATAPLANE_SNAPCODEC_H
#define XCHG_DATAPLANE_SNAPCODEC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/ckpt.h"

/* Record kinds: the first key byte (docs/storage/checkpoint.md). */
enum {
    SNAP_META = 0x01,
    SNAP_GW = 0x02,
    SNAP_SESSION = 0x03,
    SNAP_HISTORY = 0x04,
    SNAP_RANGES = 0x05,
    SNAP_REF_FREE = 0x06,
    SNAP_ENGINE = 0x10,
    SNAP_BOOK = 0x11,
    SNAP_ORDER = 0x12,
    SNAP_CREDIT = 0x20,
    SNAP_CR_INSTRUMENT = 0x21,
    SNAP_CR_ACCOUNT = 0x22,
    SNAP_CR_POSITION = 0x23,
    SNAP_CR_ORDER = 0x24,
    SNAP_CR_PARK = 0x25,
    SNAP_END = 0x7F
};

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} snapBuf;

static inline void sbPut(snapBuf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void sbU8(snapBuf *b, uint8_t v)
{
    sbPut(b, &v, 1);
}

static inline void sbU16(snapBuf *b, uint16_t v)
{
    const uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    sbPut(b, x, sizeof x);
}

static inline void sbU32(snapBuf *b, uint32_t v)
{
    const uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    sbPut(b, x, sizeof x);
}

static inline void sbU64(snapBuf *b, uint64_t v)
{
    sbU32(b, (uint32_t)(v >> 32));
    sbU32(b, (uint32_t)v);
}

typedef struct {
    const uint8_t *p;
    size_t n;
    int bad; /* a read went past the end */
} snapRd;

static inline snapRd srOf(const void *p, size_t n)
{
    return (snapRd){p, n, 0};
}

static inline const uint8_t *srTake(snapRd *r, size_t n)
{
    if (r->bad || r->n < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

static inline uint8_t srU8(snapRd *r)
{
    const uint8_t *p = srTake(r, 1);
    return p ? p[0] : 0;
}

static inline uint16_t srU16(snapRd *r)
{
    const uint8_t *p = srTake(r, 2);
    return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static inline uint32_t srU32(snapRd *r)
{
    const uint8_t *p = srTake(r, 4);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static inline uint64_t srU64(snapRd *r)
{
    const uint64_t hi = srU32(r);
    return hi << 32 | srU32(r);
}

static inline void srBytes(snapRd *r, void *dst, size_t n)
{
    const uint8_t *p = srTake(r, n);
    if (p)
        memcpy(dst, p, n);
}

/* 1 when the record was read exactly: no short read, no bytes left over. */
static inline int srDone(const snapRd *r)
{
    return !r->bad && r->n == 0;
}

/* Where a snapshot goes: the sink, the record being built, what went wrong. */
typedef struct {
    const ckptSink *sink;
    snapBuf k, v;
    uint64_t records;
    char *err; /* errLen bytes */
    size_t errLen;
} snapOut;

/* Starts a record of kind `kind` (key and value emptied). */
static inline void soBegin(snapOut *o, uint8_t kind)
{
    o->k.n = 0;
    o->v.n = 0;
    sbU8(&o->k, kind);
}

__attribute__((format(printf, 2, 3))) static inline int snapFail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, 256, fmt, ap);
    va_end(ap);
    return -1;
}

/* Hands the record built to the sink. 0 or -1 (message set). */
static inline int soPut(snapOut *o)
{
    if (o->k.oom || o->v.oom)
        return snapFail(o->err, "snapshot: out of memory building record kind 0x%02x",
                        o->k.n ? o->k.p[0] : 0);
    if (o->k.n > CKPT_MAX_KEY || o->v.n > CKPT_MAX_VALUE)
        return snapFail(o->err, "snapshot: record kind 0x%02x too large (%zu/%zu bytes)", o->k.p[0],
                        o->k.n, o->v.n);
    if (ckptPut(o->sink, o->k.p, o->k.n, o->v.p, o->v.n) != 0)
        return snapFail(o->err, "snapshot: the sink refused record kind 0x%02x", o->k.p[0]);
    o->records++;
    return 0;
}

/* A record being restored, for messages: kind and key bytes in hex. */
static inline void snapKeyHex(const uint8_t *k, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 3 < cap; i++)
        j += (size_t)snprintf(out + j, cap - j, "%02x", k[i]);
    out[j] = 0;
}

#endif
