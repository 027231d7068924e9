/* jnmetrics.h -- the journals' counters as a metrics source (xchg_journal_*).
 *
 * A daemon has several journal streams (one per segment, one for the control
 * lcore: DESIGN.md §9). They are rendered by one source, so each family
 * appears once with a `stream` label per journal. Everything is read
 * without locks from the writer's published counters (jnGetStats, relaxed),
 * jnDurableSeq (acquire) and jnStatus: a scrape never disturbs the writer
 * or the producers. Wiring, once the journal runs inside xchgd:
 *
 *     static jmJournals journals;
 *     jmAdd(&journals, "segment0", segmentJournal);
 *     metricsAddSource("journal", jmRender, &journals);
 *
 * The durable lag is published - durable sequence (the producer publishes
 * its last sequence with each jnPublish) and the age of the commit in
 * flight. xchgd adds one stream per segment ("segment<id>") and the control
 * core's ("control"); `xchgctl stats` shows jmJson's view. */
#ifndef XCHG_CONTROL_JNMETRICS_H
#define XCHG_CONTROL_JNMETRICS_H

#include <jansson.h>
#include <stdint.h>

#include "control/prom.h"
#include "storage/journal.h"

#define JM_MAX_JOURNALS 16
#define JM_NAME_MAX     32

typedef struct {
    uint32_t n;
    char name[JM_MAX_JOURNALS][JM_NAME_MAX];
    const jnJournal *j[JM_MAX_JOURNALS];
} jmJournals;

/* Adds a journal under a stream name (copied; a label value). Returns 0, or
 * -1 when JM_MAX_JOURNALS are there, the name is empty or too long, or j is
 * NULL. */
int jmAdd(jmJournals *js, const char *name, const jnJournal *j);

/* A metricsSourceFn (control/metrics.h): ctx is a jmJournals. Writes every
 * family even with no journal (then without samples, i.e. nothing). Returns
 * 0, or -1 when a journal has stopped (jnStatus != 0), which the registry
 * counts as a source failure; its figures are written all the same. */
int jmRender(void *ctx, promWriter *w);

/* The same figures as a JSON array, one object per stream (stream, records,
 * bytes, commits, errors, durable_seq, lag_records, lag_ns, commit_p50_ns,
 * commit_p99_ns, commit_max_ns, commit_count, up): a new reference. */
json_t *jmJson(const jmJournals *js);

#endif
