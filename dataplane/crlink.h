/* crlink.h -- the SPSC rings between a worker's credit lines and the control core.
 *
 * One ring of crEvent from the worker to the control core and one of crCmd
 * back, both rte_rings with single-producer/single-consumer flags and
 * fixed-size elements (DESIGN.md §2). The worker side (crlPoll, the emit
 * callback) never blocks: an event the ring cannot take goes to a spill
 * array that is flushed first on the next poll; while anything is spilled
 * new orders still run (their events queue behind). The control side
 * (crlEvents, crlSend) is used by dataplane/accounts.c. */
#ifndef XCHG_DATAPLANE_CRLINK_H
#define XCHG_DATAPLANE_CRLINK_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/credit.h"
#include "dataplane/gateway.h"

typedef struct crLink crLink;

#define CRL_BURST 32 /* commands crlPoll applies at most per call */

typedef struct {
    uint64_t events, spilled, lost, commands;
    uint64_t liquidationsNoSession; /* closing orders with no session of the account here */
    uint64_t unjournaled;           /* commands dropped: the journal refused them */
    uint64_t skipped;               /* events of a replay the control core had consumed already */
} crlStats;

/* Creates the rings and the segment's crRisk on NUMA node `socket`, with
 * memory from `alloc`. NULL with a message in err on failure. */
crLink *crlCreate(const cfgConfig *cfg, uint16_t segment, uint32_t refCap, unsigned socket,
                  const mtAllocator *alloc, char *err, size_t errlen);
void crlDestroy(crLink *l);

/* Whether the worker may take more input: 0 while the events the control
 * core has not taken fill more than half of the spill array, so a burst's
 * events always fit and none is ever lost (the input waits in the NIC
 * instead). Worker lcore only; never fails. */
int crlRoom(const crLink *l);

/* The worker's crRisk, for gwOptions.risk. */
crRisk *crlRisk(crLink *l);

/* The crOptions of a segment's crRisk (emit left NULL: the caller sets
 * it). Replay builds its crRisk with them so its tables have the live
 * ones' sizes (walStateHash walks them in slot order). */
void crlRiskOptions(crOptions *o, const cfgConfig *cfg, uint16_t segment, uint32_t refCap,
                    const mtAllocator *alloc);

/* A segment's order refs: the matcher's capacity and these spares. */
#define CRL_REF_SPARE 4

/* Applies one control command to a segment: credit lines (crApply, with
 * the parked order a top-up lets through run again by gwResume), force
 * liquidation cancels (gwAdminCancel) and closing orders (gwAdminOrder).
 * crlPoll calls it for each command, the journal's replay (dataplane/wal.c)
 * for each recorded one, so both apply them alike. Returns 0, or -1 when a
 * closing order found no session of its account. Reports are queued
 * (gwFlush). In dataplane/crapply.c: no DPDK, so replay tools link it. */
int crlApply(crRisk *risk, gwGateway *gw, const crCmd *c, uint64_t nowNs);

/* Called by crlPoll before each command is applied (the worker journals it
 * there: dataplane/wal.h WAL_CREDIT..WAL_LIQ_ORDER). Nonzero: the command
 * is not applied (the journal refused it after a storage failure; counted
 * in crlStats.unjournaled). */
typedef int crlJournalFn(void *ctx, const crCmd *c, uint64_t nowNs);
void crlSetJournal(crLink *l, crlJournalFn *fn, void *ctx);

/* Worker lcore: flushes spilled events and applies up to a burst of
 * control commands (parked orders are run again through gw). Returns the
 * number of commands applied (the caller flushes the gateway if > 0). */
uint32_t crlPoll(crLink *l, gwGateway *gw, uint64_t nowNs);

/* Control lcore: dequeues up to n events; returns how many. */
uint32_t crlEvents(crLink *l, crEvent *out, uint32_t n);

/* Control lcore: enqueues a command; 0, or -1 when the ring is full. */
int crlSend(crLink *l, const crCmd *c);

void crlGetStats(const crLink *l, crlStats *out);

/* Before the segment's replay: the next n events emitted are dropped (the
 * control core consumed them in the run that wrote the journal; its own
 * stream has them). Not for a running worker. */
void crlSetSkip(crLink *l, uint64_t n);

/* The events still to drop (crlSetSkip's n less those dropped since). */
uint64_t crlSkip(const crLink *l);

/* Before a replay that starts from a checkpoint: the segment had emitted
 * n events up to the checkpoint's sequence, which the replay does not emit
 * again. The event counter starts at n (it stays the segment's whole
 * count, as the control core's are) and the skip shrinks by n. Returns 0,
 * or -1 when the skip was below n (the control core never consumed some
 * events the checkpoint covers: skip becomes 0; the caller should not
 * have chosen that checkpoint). Not for a running worker. */
int crlSetEmitted(crLink *l, uint64_t n);

#endif
