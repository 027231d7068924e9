/* ctlstate.h -- the control core's checkpoint functions (storage/ckpt.h): its whole state out and
 * back.
 *
 * The control core's state (account book, positions, orders, trades,
 * instruments, limits, settlement history, liquidation records, the
 * ledger's view of every credit line, the control stream's counters) is
 * written as records whose keys start with one kind byte:
 *
 *   0x00..0x17  the book (control/acctckpt.c; a layout header first)
 *   0x20..0x22  the ledger (dataplane/ledger.c)
 *   0x30        the control stream's counters: events consumed per
 *               segment, the journal sequence the snapshot covers, ids
 *
 * Taken on the control lcore between two inputs (never inside a command),
 * the snapshot covers the control stream up to ctlStateSeq(); recovery =
 * ctlStateRestore into a fresh state from acdCreateCore, then the stream's
 * records after that sequence (cjPrepass and cjReplay skip the records the
 * snapshot covers). docs/storage/recovery.md, "Checkpoints of the control
 * core". */
#ifndef XCHG_DATAPLANE_CTLSTATE_H
#define XCHG_DATAPLANE_CTLSTATE_H

#include <stdint.h>

#include "storage/ckpt.h"

typedef struct acdState acdState;

/* Writes the control core's state into sink. Returns 0, or -1 when the
 * sink refused a record (the checkpoint then fails as a whole). Control
 * lcore, between inputs; allocates nothing. */
int ctlStateSnapshot(acdState *s, const ckptSink *sink);

/* Restores a state written by ctlStateSnapshot into s, fresh from
 * acdCreateCore with the same config (segment count). Returns 0, or -1 on
 * a damaged, truncated or foreign checkpoint (s must then be destroyed).
 * Afterwards cjPrepass/cjReplay on the stream continue after
 * ctlStateSeq(s). */
int ctlStateRestore(acdState *s, const ckptSource *src);

/* The control stream sequence the state covers (last record applied). */
uint64_t ctlStateSeq(const acdState *s);

#endif
