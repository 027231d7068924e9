/* commands.h -- the control socket commands of xchgd (status, books, sessions, stats). */
#ifndef XCHG_DATAPLANE_COMMANDS_H
#define XCHG_DATAPLANE_COMMANDS_H

#include <stdint.h>

#include "config/config.h"
#include "control/ctl.h"
#include "dataplane/dpmetrics.h"
#include "control/jnmetrics.h"
#include "dataplane/worker.h"

typedef struct {
    const cfgConfig *cfg;
    wkWorker **workers; /* one per segment, index = cfg->segments index */
    uint32_t workerCount;
    uint64_t startNs;    /* CLOCK_MONOTONIC at start */
    uint32_t tradingDay; /* YYYYMMDD */
    volatile int *quit;  /* set by the shutdown command */
    uint32_t nextSessionId;
    int (*accountKnown)(void *ctx, uint32_t account); /* NULL: any account */
    void *accountCtx;
    json_t *(*controlStatus)(void *ctx); /* the control stream's status object, or NULL */
    const jmJournals *journals;          /* journal streams for `stats`, or NULL */
    dmMonitor *monitor;                  /* NULL: stats without the monitor's tables */
} cmdDaemon;

/* Registers every xchgd command on the server. Returns 0, -1 on a clash. */
int cmdRegisterAll(ctlServer *s, cmdDaemon *d);

/* Moves every instrument to a trading state through the workers. Returns 0
 * or -1 if a worker did not answer. */
int cmdSetAllStates(cmdDaemon *d, mtState state);

#endif
