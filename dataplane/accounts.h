/* accounts.h -- xchgd's accounts on the control lcore: the book, the ledger, the rings, commands.
 *
 * Owns the authoritative acctBook (control/account.h) and the ledger
 * (dataplane/ledger.h), drains every worker's credit events from its SPSC
 * ring, scans risk every few milliseconds (force liquidation through the
 * owning workers), streams events to control-socket subscribers, and
 * registers the account, instrument, settlement, order, trade, position
 * and risk commands (docs/accounts.md, docs/operations/control-socket.md). */
#ifndef XCHG_DATAPLANE_ACCOUNTS_H
#define XCHG_DATAPLANE_ACCOUNTS_H

#include <stdint.h>

#include "config/config.h"
#include "control/account.h"
#include "control/ctl.h"
#include "dataplane/ctljournal.h"
#include "dataplane/ledger.h"
#include "dataplane/worker.h"

#define ACD_MAX_ACCOUNTS 65536 /* the workers' credit tables (dataplane/crlink.c) */

typedef struct acdState acdState;

/* Creates the book from the config (instruments, risk limits), the ledger,
 * and binds to the workers' credit rings. NULL on failure. The control
 * stream is replayed and attached by acdRecover, before the workers'
 * streams are replayed (duOpen), and acdStart runs after duOpen. */
acdState *acdCreate(cfgConfig *cfg, wkWorker **workers, uint32_t nWorkers, ctlServer *ctl,
                    uint32_t tradingDay);
void acdDestroy(acdState *s);

/* Before the workers' replay: reads <wal_dir>/control/ once (cutting a
 * torn tail), tells every worker's credit link how many of the events its
 * replay will emit the control core has applied already (crlSetSkip), and
 * opens the stream for appending (*jn, for the storage thread's group).
 * 0, or -1 with err. */
int acdRecover(acdState *s, const char *walDir, int recoverToCorruption, jnJournal **jn, char *err,
               size_t errlen);

/* After the workers' replay, before they run: replays the control stream
 * (events beyond what the workers' replay emitted are void), journals an
 * epoch, consumes (journaling) the events the workers' replay emitted
 * beyond what the control core had applied, then resyncs the lines
 * (cjResync). Logs what it did. 0, or -1 with err (xchgd must not start). */
int acdStart(acdState *s, char *err, size_t errlen);

/* Drains the workers' events, scans risk when due. Returns the number of
 * events applied (0 = idle). */
uint32_t acdPoll(acdState *s);

/* How long the control loop may sleep in poll: 0 while events flow, else 1. */
int acdIdleMs(const acdState *s);

/* Registers the commands. 0, or -1 on a name clash. */
int acdRegister(ctlServer *ctl, acdState *s);

/* 1 when the account exists (session.add refuses unknown accounts, 1006). */
int acdAccountKnown(void *state, uint32_t account);

/* The live view's accounts (`top`, dataplane/dpmetrics.h dmSetAccounts):
 * the limit accounts with the highest risk ratio, highest first, as the
 * rows of risk.accounts with "account" for "user_id". A new reference,
 * NULL when out of memory. Control lcore. */
json_t *acdTopAccounts(void *state, uint32_t limit);

/* Adds the "accounts" source to the metrics registry (control/metrics.h):
 * accounts over the reject and liquidation levels, the ledger's counters
 * and fill lag (docs/operations/metrics.md). Returns 0, or -1 when the
 * registry refused it. */
int acdRegisterMetrics(acdState *s);

/* What the control core reaches the workers through (accounts.c fills it
 * with the SPSC rings and worker requests; tests with queues). */
typedef struct {
    lgSendFn *send; /* a command to segment seg's worker */
    void *sendCtx;
    /* up to max events of segment seg's ring into out; the count */
    uint32_t (*fetch)(void *ctx, uint32_t seg, crEvent *out, uint32_t max);
    /* moves a book's trading state through its worker: 0 or -1 */
    int (*setBookState)(void *ctx, uint16_t seg, uint16_t book, uint8_t state);
    /* defines a checked instrument (ins->segIndex, ins->book) on its worker,
     * cfgIndex its coming index in the config: 0, 5002 (the worker's journal
     * refused it) or another code */
    int (*addInstrument)(void *ctx, const cfgInstrument *ins, uint16_t cfgIndex);
    /* the segments' credit-link counters for ledger.stats (a new array), or NULL */
    json_t *(*segStats)(void *ctx);
    void *ctx;
} acdHooks;

/* Internals shared with acctcmd.c and ctljournal.c. */
struct acdState {
    cfgConfig *cfg; /* grows with instrument.add (cfgInstrumentAppend): control lcore only */
    wkWorker **workers;
    uint32_t nWorkers;
    ctlServer *ctl;
    acctBook *book;
    lgLedger *lg;
    uint32_t tradingDay;
    uint64_t lastScanNs, lastEventNs;
    uint64_t closeSeq;
    acdHooks hooks;
    cjState cj;                     /* the control core's journal stream (dataplane/ctljournal.h) */
    char walDir[CFG_PATH_MAX + 32]; /* <wal_dir>/control */
    jnJournal *pendingJn;           /* opened by acdRecover, attached by acdStart */
};

/* The part of acdCreate that needs no DPDK: the book from the config, the
 * ledger sending through hooks->send (muted while replaying), no worker.
 * nSegments: the segments hooks reach. NULL on failure. */
acdState *acdCreateCore(cfgConfig *cfg, uint32_t nSegments, ctlServer *ctl, uint32_t tradingDay,
                        const acdHooks *hooks);

/* Runs one control command by name as the control socket would (journaled
 * first when the command changes state and a journal is attached). Returns
 * the handler's result (0, or -1 with *err); *data as a ctlHandler's. -1
 * with 9003 for an unknown command. For tests and tools. */
int acdCommand(acdState *s, const char *cmd, json_t *args, json_t **data, ctlError *err);

/* 1 when cmd is a command that changes the control core's state (and is
 * journaled), 0 when it only reads, -1 when unknown. */
int acdCommandJournaled(const char *cmd);

/* Applies a journaled command while replaying: the handler runs with the
 * record's time, nothing is journaled, its answer is dropped. 0, or -1
 * for an unknown command. */
int acdReplayCommand(acdState *s, const char *cmd, json_t *args, uint64_t nowNs);

/* The control core's state hash and journal position for `status`
 * (state_hash, journal_seq, durable_seq, records_replayed, unjournaled,
 * refused): a new object. ctx: the acdState. */
json_t *acdControlStatus(void *ctx);

/* Events to control-socket subscribers on (1) or off. */
void acdSetNotify(acdState *s, int on);

/* After recovery (acdRecover, then duOpen), before the workers run:
 * appends to the config the instruments the recovered control state has
 * beyond it (a checkpoint's), and defines, journaled, on each segment the
 * books the config has but the segment's recovered gateway lacks (an
 * instrument.add the control journal kept and the segment's did not: a
 * crash in between, or a refusal by the segment). Returns 0, or -1 with a
 * message. */
int acdInstrumentsRecover(acdState *s, char *err, size_t errlen);

/* Force liquidation of one account (cancels, then closing orders through
 * hooks->send). */
void acdLiquidate(acdState *s, uint32_t account);

/* One risk scan at nowNs (journaled as CJ_SCAN when a journal is
 * attached): lines synced, liquidations decided and sent. */
void acdScan(acdState *s, uint64_t nowNs);

/* Drains the segments' events into the ledger, each journaled before it is
 * applied; while replaying, applies the recorded events up to the next
 * CJ_WAIT_END instead. Returns the number applied. */
uint32_t acdDrain(acdState *s);

/* Drains events until the account has no reclaim pending or timeoutMs
 * passes. */
void acdWaitReclaims(acdState *s, uint32_t account, uint32_t timeoutMs);

/* Drains events until none arrive for quietMs (at most timeoutMs). */
void acdQuiesce(acdState *s, uint32_t quietMs, uint32_t timeoutMs);

#endif
