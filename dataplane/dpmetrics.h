/* dpmetrics.h -- xchgd's monitor on the control lcore: worker snapshots, DPDK port counters,
 * host sampling, as Prometheus sources and as the JSON of `stats` and `top`.
 *
 * Nothing here runs on a worker. Workers publish a wkSnapshot every
 * WK_PUBLISH_MS (dataplane/worker.h); the monitor reads those copies
 * lock-free when /metrics is scraped or `top` is asked, so a scrape costs a
 * worker nothing. The DPDK port's counters (rte_eth_stats, xstats) are read
 * here too, on the control lcore. dmTick, called once a second by the
 * control loop, samples the host (/proc, control/hostmon.h) and keeps the
 * previous second's snapshots so `top` can show rates and latency
 * percentiles over the last interval. Names of the metrics:
 * docs/operations/metrics.md. */
#ifndef XCHG_DATAPLANE_DPMETRICS_H
#define XCHG_DATAPLANE_DPMETRICS_H

#include <jansson.h>
#include <stdint.h>

#include "config/config.h"
#include "control/ctl.h"
#include "control/prom.h"
#include "dataplane/worker.h"

#define DM_MAX_RINGS 32

struct rte_ring;
typedef struct dmMonitor dmMonitor;

typedef struct {
    const cfgConfig *cfg;
    wkWorker **workers; /* one per segment, by cfg->segments index */
    uint32_t workerCount;
    uint16_t portId;      /* the DPDK port of cfg->ports[0] */
    const char *procRoot; /* NULL: "/proc" */
} dmOptions;

/* Allocates the monitor (snapshot buffers, the host sampler, xstats
 * tables) and takes a first host sample. Returns NULL with a message in err
 * on failure. Control lcore only, like every function here. */
dmMonitor *dmCreate(const dmOptions *opt, char *err, size_t errlen);

/* Frees everything dmCreate allocated. NULL is a no-op. */
void dmDestroy(dmMonitor *m);

/* Adds the monitor's sources to the metrics registry (control/metrics.h):
 * "dataplane", "port", "rings", "host", and "http" when server is not NULL.
 * Returns 0, or -1 when the registry refused one. */
int dmRegisterSources(dmMonitor *m, promServer *server);

/* Exports a ring's depth and capacity as xchg_ring_entries{ring} and
 * xchg_ring_capacity{ring} (rte_ring_count is safe from any lcore). Other
 * subsystems call it for their SPSC rings. Returns 0, or -1 when
 * DM_MAX_RINGS rings are registered already. */
int dmAddRing(dmMonitor *m, const struct rte_ring *ring);

/* Once a second from the control loop: samples the host and moves the
 * interval window on. Returns the number of host sources read (-1: none). */
int dmTick(dmMonitor *m);

/* Registers `top` (the live view's data, see docs/operations/metrics.md)
 * on the control socket. Returns 0, or -1 on a clash. */
int dmRegisterCommands(dmMonitor *m, ctlServer *s);

/* Adds to the answer of `stats` (an object with "segments"): per segment
 * "matcher_latency", "sessions_by_state", "drops", "ring"; top-level
 * "instruments", "port", "host". Reads fresh snapshots (the caller made
 * the workers publish through WK_REQ_STATS just before). */
void dmStatsAugment(dmMonitor *m, json_t *data);

#endif
