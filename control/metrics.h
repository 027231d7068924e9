/* metrics.h -- the metrics registry: subsystems add a render callback, /metrics calls them all.
 *
 * xchgd serves one Prometheus exposition (control/prom.h) assembled from
 * sources: the dataplane (workers, instruments, the DPDK port), the host
 * monitor, the metrics server itself, and whatever other subsystems
 * (journal, feed, XDP filter, accounts) add with one call at start-up:
 *
 *     metricsAddSource("journal", journalMetricsRender, journal);
 *
 * A source writes whole families into the promWriter (promFamily, then its
 * samples) and must not open a family another source writes (Prometheus
 * wants each family's samples together): name families after the source
 * (`xchg_journal_...`). It runs on the control lcore while a scrape is
 * answered, so it reads what other cores publish without locks (published
 * snapshots, relaxed loads of counters their owner writes) and never makes
 * a worker wait. The registry is process-wide and used from the control
 * lcore only (sources are added before the server starts or from the
 * control lcore's loop); it holds METRICS_MAX_SOURCES sources. Conventions
 * for names and units are in docs/operations/metrics.md. */
#ifndef XCHG_CONTROL_METRICS_H
#define XCHG_CONTROL_METRICS_H

#include <stdint.h>

#include "control/prom.h"

#define METRICS_MAX_SOURCES 32
#define METRICS_NAME_MAX    32

/* Writes a source's families. Returns 0, or -1 when it could not (the
 * failure is counted in xchg_metrics_source_failures_total{source} and the
 * other sources still render; what it wrote stays, so write whole
 * families). */
typedef int metricsSourceFn(void *ctx, promWriter *w);

/* Adds a source, rendered after the ones added before it. name (a label
 * value, copied, at most METRICS_NAME_MAX - 1 bytes) must be unique.
 * Returns 0, or -1 when the table is full, fn is NULL or the name is taken
 * or too long. */
int metricsAddSource(const char *name, metricsSourceFn *fn, void *ctx);

/* Removes the source of that name (a subsystem that shuts down before the
 * server). Returns 0, or -1 if there is none. */
int metricsRemoveSource(const char *name);

/* Removes every source and zeroes the registry's counters (tests, exit). */
void metricsReset(void);

/* Number of sources registered. */
uint32_t metricsSourceCount(void);

/* Renders every source, then the registry's own families
 * (xchg_metrics_source_failures_total, xchg_metrics_render_seconds of the
 * previous render). A promRender for promServerCreate (ctx unused).
 * Returns 0, or -1 when the writer overflowed (the server answers 500). */
int metricsRender(void *ctx, promWriter *w);

#endif
