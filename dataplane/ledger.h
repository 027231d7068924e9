/* ledger.h -- the control core's side of the credit lines: worker events into the accounts.
 *
 * The ledger owns nothing but bookkeeping: it applies every crEvent a
 * worker reports to the authoritative acctBook (control/account.h, as a
 * trusted mirror: the worker already decided), keeps its own view of each
 * (account, segment) credit line, and after every change sends the commands
 * that bring the lines back to the account's available money (grant when
 * below, reclaim when above; DESIGN.md §7). It answers top-up requests,
 * decides force liquidations from the risk scan, and reports account,
 * position, trade, risk and liquidation events through a callback.
 *
 * No DPDK: the daemon passes a send function that enqueues on the SPSC ring
 * to the segment's worker (dataplane/crlink.c); the tests pass a queue.
 * Single-threaded (the control lcore). */
#ifndef XCHG_DATAPLANE_LEDGER_H
#define XCHG_DATAPLANE_LEDGER_H

#include <jansson.h>
#include <stdint.h>

#include "config/config.h"
#include "control/account.h"
#include "dataplane/credit.h"
#include "dataplane/histogram.h"
#include "storage/ckpt.h"

/* Sends a command to segment segIndex's worker. Returns 0, or -1 when it
 * cannot be queued now (the ledger tries again at its next scan). */
typedef int lgSendFn(void *ctx, uint16_t segIndex, const crCmd *c);

/* An event for subscribers: kind is "trade", "order", "account",
 * "position", "risk" or "liquidation"; ev is borrowed. */
typedef void lgNotifyFn(void *ctx, const char *kind, uint32_t account, json_t *ev);

typedef struct {
    uint64_t events, fills, orders, cancels, replaces, topups, reclaims, grants;
    uint64_t mismatches; /* events the book refused: the worker and control disagree */
    uint64_t sendFailed; /* commands a full ring refused (retried) */
    uint64_t liquidations;
    /* multi-segment top-ups (docs/accounts.md "Credit lines"): reclaims
     * from other segments' idle lines a top-up waited for, and top-ups
     * answered at once because the waiting list was full */
    uint64_t topupReclaims, topupWaitFull;
    histLog lagNs; /* worker event time to account update, per fill */
} lgStats;

typedef struct lgLedger lgLedger;

/* Creates the ledger for a book whose instruments are the config's (the
 * book's instrument index = cfg->instruments index). Returns NULL when out
 * of memory. */
lgLedger *lgCreate(const cfgConfig *cfg, acctBook *book, lgSendFn *send, void *sendCtx);
void lgDestroy(lgLedger *l);

/* Subscribers: notify is called only while `on` is set. */
void lgSetNotify(lgLedger *l, lgNotifyFn *fn, void *ctx, int on);

/* Applies one worker event (wall-clock nowNs for the lag). */
void lgOnEvent(lgLedger *l, const crEvent *ev, uint64_t nowNs);

/* Brings the account's lines, flags and caps up to date after a change
 * made on the control core (open, deposit, withdraw, freeze, limits).
 * Returns 0, or -1 if a command could not be queued (retried by lgScan). */
int lgSync(lgLedger *l, uint32_t account);

/* Syncs every account and decides liquidations: an account at or over the
 * liquidation level gets its plan recorded (acctLiquidate), a
 * "liquidation" event, and *toLiquidate lists it (at most max, the count
 * returned) for the caller to cancel its orders and submit the closing
 * orders. Call every few ms; O(accounts). */
uint32_t lgScan(lgLedger *l, uint64_t nowNs, uint32_t *toLiquidate, uint32_t max);

/* What the account's lines hold (control view, all segments). */
int64_t lgLineTotal(const lgLedger *l, uint32_t account);

/* Keeps `hold` of the account's available money off the lines (a
 * withdrawal reclaims it first) and syncs. 0, or -1 (unknown account or a
 * command not queued). */
int lgSetHold(lgLedger *l, uint32_t account, int64_t hold);

/* Reclaims asked of the workers and not answered yet, for the account. */
int64_t lgPending(const lgLedger *l, uint32_t account);

/* An "account" event with the account's figures for subscribers (the
 * control socket changed it: open, deposit, withdraw, freeze). Cannot fail;
 * nothing when no one is subscribed or the account is unknown. */
void lgNotifyAccount(lgLedger *l, uint32_t account);

/* Sends a daily roll to every segment for the settled instruments. */
void lgRoll(lgLedger *l, uint16_t instrument, int64_t settlePrice);

/* Sends an instrument's changed rates and lots to its segment. */
void lgInstrumentChanged(lgLedger *l, uint16_t instrument);

/* Learns the book of an instrument added at run time (instrument.add), so
 * its segment's fills reach the accounts. */
void lgInstrumentAdded(lgLedger *l, uint16_t instrument);

void lgGetStats(const lgLedger *l, lgStats *out);

/* The control view of one line: 0, or -1 (unknown account or segment). */
int lgLineView(const lgLedger *l, uint32_t account, uint16_t seg, int64_t *line, int64_t *pending);

/* Sets the control view of a line to what the worker holds and forgets
 * pending reclaims (at start, commands lost in the rings). 0 or -1. */
int lgResyncLine(lgLedger *l, uint32_t account, uint16_t seg, int64_t line);

/* 1 while a scan still has work without new input (answers to resend, an
 * account being liquidated), else 0. */
int lgBusy(const lgLedger *l);

/* Writes the ledger's state (every line's control view, the command
 * counter, answers waiting to be resent) as checkpoint records with keys
 * 0x20..0x22. 0, or -1 when the sink refused a record. */
int lgSnapshot(const lgLedger *l, const ckptSink *sink);

/* Reads what lgSnapshot wrote into a fresh ledger whose book was restored
 * first (same segment count). 0, or -1 on a damaged or foreign checkpoint. */
int lgRestore(lgLedger *l, const ckptSource *src);

/* FNV-1a of every line's control view and the command counter, continuing h. */
uint64_t lgHash(const lgLedger *l, uint64_t h);

/* JSON views (QIFI field names; money and prices as exact decimal
 * strings). New references. */
json_t *lgMoney(int64_t v);
json_t *lgAccountJson(const acctBook *b, const acctAccount *a);
json_t *lgPositionJson(const acctBook *b, uint32_t account, uint16_t instrument,
                       const posPosition *p);
json_t *lgOrderJson(const acctBook *b, const acctOrder *o);
json_t *lgTradeJson(const acctBook *b, const acctTrade *t);
const char *lgOrderStatusName(uint8_t status);
const char *lgOffsetName(uint8_t offset);

#endif
