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
#include "dataplane/ledger.h"
#include "dataplane/worker.h"

#define ACD_MAX_ACCOUNTS 65536 /* the workers' credit tables (dataplane/crlink.c) */

typedef struct acdState acdState;

/* Creates the book from the config (instruments, risk limits), the ledger,
 * and binds to the workers' credit rings. NULL on failure. */
acdState *acdCreate(const cfgConfig *cfg, wkWorker **workers, uint32_t nWorkers, ctlServer *ctl,
                    uint32_t tradingDay);
void acdDestroy(acdState *s);

/* Drains the workers' events, scans risk when due. Returns the number of
 * events applied (0 = idle). */
uint32_t acdPoll(acdState *s);

/* How long the control loop may sleep in poll: 0 while events flow, else 1. */
int acdIdleMs(const acdState *s);

/* Registers the commands. 0, or -1 on a name clash. */
int acdRegister(ctlServer *ctl, acdState *s);

/* 1 when the account exists (session.add refuses unknown accounts, 1006). */
int acdAccountKnown(void *state, uint32_t account);

/* Internals shared with acctcmd.c. */
struct acdState {
    const cfgConfig *cfg;
    wkWorker **workers;
    uint32_t nWorkers;
    ctlServer *ctl;
    acctBook *book;
    lgLedger *lg;
    uint32_t tradingDay;
    uint64_t lastScanNs, lastEventNs;
    uint64_t closeSeq;
};

/* Wall-clock nanoseconds. */
uint64_t acdNowNs(void);

/* Drains events until the account has no reclaim pending or timeoutMs
 * passes. */
void acdWaitReclaims(acdState *s, uint32_t account, uint32_t timeoutMs);

/* Drains events until none arrive for quietMs (at most timeoutMs). */
void acdQuiesce(acdState *s, uint32_t quietMs, uint32_t timeoutMs);

#endif
