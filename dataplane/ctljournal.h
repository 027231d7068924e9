/* ctljournal.h -- the control core's own journal stream: admin commands and consumed segment
 * events.
 *
 * The control core's state (account book, positions mirror, the ledger's
 * view of every credit line, instruments, settlement, risk limits,
 * liquidation records, id counters) is a deterministic function of the
 * records of stream CJ_STREAM (<wal_dir>/control/): every state-changing
 * control command and every worker event the control core consumes is
 * journaled, in the order it is consumed, before it is applied (DESIGN.md
 * §9; docs/storage/recovery.md, "The control core's stream"). Record types:
 *
 *   CJ_CMD      u64 nowNs, then {"cmd":NAME,"args":{...}} (JSON text)
 *   CJ_EVENT    u64 nowNs, then the 64-byte crEvent as dequeued
 *   CJ_SCAN     u64 nowNs: a risk scan (lines synced, liquidations)
 *   CJ_WAIT_END u64 nowNs: a command stopped draining events (withdraw,
 *               settlement): the CJ_EVENTs before it were consumed inside it
 *   CJ_RESYNC   u64 nowNs, u16 segment, u16 0, u32 account, i64 line:
 *               at start, the control view of a line set to the worker's
 *   CJ_EPOCH    as CJ_RESYNC with account 0 and line = the number of the
 *               segment's events applied at a start: CJ_EVENT records of
 *               that segment before it and beyond that number are void
 *               (events whose worker input never became durable)
 *
 * No DPDK: runs in xchgd, xchg-replay and the unit tests. Control lcore
 * only. */
#ifndef XCHG_DATAPLANE_CTLJOURNAL_H
#define XCHG_DATAPLANE_CTLJOURNAL_H

#include <stdint.h>

#include "dataplane/credit.h"
#include "storage/journal.h"

#define CJ_STREAM       0xFFFFu
#define CJ_MAX_SEGMENTS 64

enum { CJ_CMD = 1, CJ_EVENT = 2, CJ_SCAN = 3, CJ_WAIT_END = 4, CJ_RESYNC = 5, CJ_EPOCH = 6 };

typedef struct {
    uint64_t nowNs;
    uint16_t segment, pad;
    uint32_t account;
    int64_t line;
} cjResyncRec;

typedef struct {
    jnJournal *jn; /* NULL: nothing journaled (not attached) */
    jnReader *rd;  /* while replaying: nested drains read from it */
    int replaying; /* sends muted, worker requests skipped */
    int replayErr; /* a nested read failed */
    jnError replayError;
    uint64_t consumed[CJ_MAX_SEGMENTS]; /* events applied per segment (state) */
    uint64_t records;                   /* replayed */
    uint64_t unjournaled;               /* applied though the journal could not take them */
    uint64_t refused;                   /* commands refused (5002): journal unavailable */
    uint64_t lastSeq;                   /* last record journaled */
    int dirty;                          /* changed since the last scan */
    uint64_t scanFails;                 /* ledger sendFailed seen at the last scan */
    /* replay: the epochs of each segment (seq, count) and the final limit */
    struct {
        uint64_t *seq, *count;
        uint32_t n, pos;
    } ep[CJ_MAX_SEGMENTS];
    uint64_t limit[CJ_MAX_SEGMENTS]; /* events applicable after the last epoch */
    uint64_t voided;                 /* replayed CJ_EVENTs skipped as void */
    uint64_t afterSeq;               /* records up to here are in a restored checkpoint */
} cjState;

typedef struct acdState acdState;

/* Wall-clock ns, or the time of the command or record being applied (so a
 * replay stamps what the original run stamped). */
uint64_t acdNowNs(void);

/* Sets the time acdNowNs returns (0: the wall clock again). */
void cjClockSet(uint64_t ns);

/* Journals one record (payload a then b) and publishes it. 0 (also when
 * no journal is attached or while replaying), or -1 when the journal
 * cannot take it now (ring full, writer failed). */
int cjAppend(acdState *s, uint16_t type, const void *a, uint32_t alen, const void *b,
             uint32_t blen);

/* First pass at start: reads the stream (cutting a torn tail with
 * JN_RD_REPAIR in flags), records its epochs in s and stores in skip[seg]
 * how many of segment seg's events the stream holds as applied (what the
 * worker's replay must not emit again). 0, or -1 with *err. A missing
 * directory is an empty stream. */
int cjPrepass(acdState *s, const char *dir, unsigned flags, uint64_t *skip, jnError *err);

/* Sets the number of segment seg's events that exist (what its worker's
 * replay emitted): replayed CJ_EVENTs beyond it are void. Default: all. */
void cjSetLimit(acdState *s, uint16_t seg, uint64_t events);

/* Journals a CJ_EPOCH for every segment (after the replay at start). */
void cjEpoch(acdState *s);

/* Replays stream CJ_STREAM in dir into s (a fresh state from
 * acdCreateCore), from its first record. flags: JN_RD_*. Fills *lastSeq
 * and *records. Returns 0, or -1 with *err (a damaged record, an unknown
 * type or a command that does not parse, with file and offset). A missing
 * directory is an empty stream. */
int cjReplay(acdState *s, const char *dir, unsigned flags, uint64_t *lastSeq, uint64_t *records,
             jnError *err);

/* Attaches an opened journal: from now on commands and events are
 * journaled. */
void cjAttach(acdState *s, jnJournal *jn);

/* The worker's line of account on segment seg (-1 unknown). */
typedef int64_t cjLineFn(void *ctx, uint16_t seg, uint32_t account);

/* At start, after the tail of the workers' events was drained: sets every
 * line the control core's view has wrong (commands lost in the rings at
 * the crash) to the worker's value, journaling each as CJ_RESYNC. Returns
 * the number of lines set. */
uint32_t cjResync(acdState *s, cjLineFn *fn, void *ctx);

/* 64-bit FNV-1a over the control state (accounts with their figures,
 * positions, every line's control view, limits, instruments, orders,
 * trades, settlements, liquidations, counters). */
uint64_t cjStateHash(acdState *s);

#endif
