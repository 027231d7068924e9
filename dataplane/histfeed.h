/* histfeed.h -- the running xchgd's trading history: the replica's shadow gateways' reports into
 * storage/history.h, exactly once across restarts.
 *
 * The replica thread (dataplane/replica.h) applies every durable journal
 * record of a segment to a shadow gateway, off the worker lcores. The feed
 * takes what the shadow sends while it applies a record (histOnFrame:
 * orders, trades, rejects, ticks, K-lines) and, after the record, stores
 * the record's sequence as the position the history covers for that
 * stream (histSetPosition). At start it reads the positions back: a
 * record at or below its stream's position is applied to the shadow (the
 * shadow may restart from an older checkpoint) but its reports are not
 * taken again. Before a checkpoint is committed the history is flushed
 * (hfSync), so the history always covers at least what any checkpoint
 * covers and a restart from that checkpoint misses nothing.
 * docs/storage/history.md, "Wiring into xchgd", says why this is exactly
 * once after a graceful stop and after kill -9.
 *
 * Replica thread only, except hfOpen/hfClose (before the replica starts,
 * after it stopped) and hfGetStats (any thread). */
#ifndef XCHG_DATAPLANE_HISTFEED_H
#define XCHG_DATAPLANE_HISTFEED_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "control/ctl.h"
#include "dataplane/gateway.h"

typedef struct hfFeed hfFeed;

/* Opens (creating) the history tree in dir for cfg's segments and instruments;
 * reads each segment's stored position. Returns NULL with err (the tree's
 * error: unwritable, damaged, locked by another process). */
hfFeed *hfOpen(const cfgConfig *cfg, const char *dir, char *err, size_t errlen);

/* Flushes what was taken (the positions with it) and closes. NULL is a no-op. */
void hfClose(hfFeed *f);

/* The position stored for segment index i at open (0: nothing yet). */
uint64_t hfPosition(const hfFeed *f, uint32_t i);

/* Record seq of segment index i is about to be applied to its shadow.
 * Returns 1 when its reports are to be taken (seq is beyond the stored
 * position and the feed has not failed), else 0. */
int hfBegin(hfFeed *f, uint32_t i, uint64_t seq);

/* One frame the shadow gw of segment index i sent while applying the
 * current record; ignored outside hfBegin/hfEnd or when hfBegin said 0. */
void hfFrame(hfFeed *f, uint32_t i, const gwGateway *gw, const uint8_t *data, uint16_t len);

/* The current record is applied (and the shadow flushed): stores it as the
 * position of segment index i. A history write failure is logged once and
 * stops the feed (the trading goes on; the history then ends there). */
void hfEnd(hfFeed *f, uint32_t i);

/* From the replica's loop: time-based flush of the memtable. */
void hfTick(hfFeed *f);

/* Makes everything taken visible in the files (before a checkpoint is
 * committed, so the history covers at least what the checkpoint does).
 * Returns 0, also when the feed has failed (logged once): a stopped
 * history does not hold checkpoints back; a restart then says which
 * records it lacks (duStartReplica). err is unused. */
int hfSync(hfFeed *f, char *err, size_t errlen);

typedef struct {
    uint64_t records; /* records whose reports were taken */
    uint64_t skipped; /* records at or below the stored position (taken before) */
    uint64_t frames;  /* frames taken */
    uint64_t orders, trades, rejects, ticks, klines; /* rows written */
    uint64_t replayed;    /* messages found already in the rows (after a crash) */
    uint64_t settlements; /* settlement rows written (handed over again included) */
    int failed;           /* the history stopped on a write error */
} hfStats;

/* Counters (relaxed reads: may be a turn behind). Any thread. */
void hfGetStats(hfFeed *f, hfStats *st);

/* ---- the control core's part: settlement results ----
 *
 * Settlement results are state of the control core (control/settle.h),
 * not of a segment's reports. The control core hands each result over
 * after settlement.run (hfSettled) and, at start, every result its
 * recovered book holds (hfSettledAll): the rows are keyed by (date,
 * account), so handing one over again replaces it with the same row, and
 * a result lost with the memtable in a kill -9 comes back at the restart.
 * The rows wait in a queue (a mutex: the control core, not a worker) that
 * the replica thread empties into the history at its next turn. */

typedef struct acctBook acctBook;

/* Makes f the history the control core's hand-overs go to (NULL: none).
 * Before the control core runs commands. */
void hfSetControl(hfFeed *f);

/* The accounts of settlement run #index of book (settleAt), to the history.
 * Control lcore; a no-op without hfSetControl. */
void hfSettled(const acctBook *book, uint32_t index);

/* Every settlement run book holds (at start, after recovery). */
void hfSettledAll(const acctBook *book);

/* Registers the control command storage.history (its counters and each
 * segment's covered journal position; docs/control.md). Returns 0, -1 when
 * the name is taken. */
int hfRegister(ctlServer *s, hfFeed *f);

#endif
