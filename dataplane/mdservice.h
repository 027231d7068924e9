/* mdservice.h -- summary market data in xchgd: the control lcore's side of control/mdsummary.
 *
 * Drains the workers' fill rings into the aggregator, ticks its clock,
 * builds every instrument's snapshot once a second from the book depth the
 * workers report (WK_REQ_BOOK), publishes snapshots, finished K-lines and
 * daily statistics on the summary channel (MoldUDP64 multicast, sent through
 * segment 0's worker's TX queue; docs/protocol/summary.md), and serves the
 * control commands md.snapshot, md.klines and md.daily. Runs on the control
 * lcore only; docs/market-data.md describes the whole path. */
#ifndef XCHG_DATAPLANE_MDSERVICE_H
#define XCHG_DATAPLANE_MDSERVICE_H

#include <stdint.h>

#include "config/config.h"
#include "control/ctl.h"
#include "dataplane/worker.h"

typedef struct {
    const cfgConfig *cfg;
    wkWorker **workers; /* one per segment, index = cfg->segments index */
    uint32_t workerCount;
    uint16_t portId; /* the port the summary channel leaves by */
    uint32_t ip;     /* the port's address, host order: the packets' source */
    unsigned socketId;
} mdsvOptions;

typedef struct mdsvService mdsvService;

/* Creates the service (aggregator, packet pool). Returns NULL with a message
 * in err on failure. */
mdsvService *mdsvCreate(const mdsvOptions *opt, char *err, size_t errlen);

/* Registers md.snapshot, md.klines and md.daily. Returns 0, -1 on a clash. */
int mdsvRegister(mdsvService *s, ctlServer *ctl);

/* Drains the fill rings, advances the clock (CLOCK_REALTIME) and, at each
 * whole second, builds and publishes the snapshots. Call every few ms. */
void mdsvPoll(mdsvService *s);

/* Frees. NULL is a no-op. The workers must be stopped (their rings are read
 * no more). */
void mdsvDestroy(mdsvService *s);

#endif
