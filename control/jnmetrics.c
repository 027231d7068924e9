/* jnmetrics.c -- journal counters rendered as xchg_journal_* families. */
#include <stddef.h>
#include <string.h>

#include "control/jnmetrics.h"

int jmAdd(jmJournals *js, const char *name, const jnJournal *j)
{
    if (!j || !name || !name[0] || strlen(name) >= JM_NAME_MAX || js->n == JM_MAX_JOURNALS)
        return -1;
    memcpy(js->name[js->n], name, strlen(name) + 1);
    js->j[js->n++] = j;
    return 0;
}

typedef struct {
    const char *name, *help;
    promType type;
    size_t off; /* of a uint64_t in jnStats */
} jmField;

static const jmField jmFields[] = {
    {"xchg_journal_commits_total", "Batches made durable.", PROM_COUNTER,
     offsetof(jnStats, commits)},
    {"xchg_journal_records_total", "Records made durable.", PROM_COUNTER,
     offsetof(jnStats, records)},
    {"xchg_journal_record_bytes_total", "Bytes of the records made durable (headers included).",
     PROM_COUNTER, offsetof(jnStats, recordBytes)},
    {"xchg_journal_io_bytes_total", "Bytes written for commits (block-aligned).", PROM_COUNTER,
     offsetof(jnStats, ioBytes)},
    {"xchg_journal_rotations_total", "Segments started after the first.", PROM_COUNTER,
     offsetof(jnStats, rotations)},
    {"xchg_journal_prefill_bytes_total", "Zeros written ahead into prepared segments.",
     PROM_COUNTER, offsetof(jnStats, prefillBytes)},
    {"xchg_journal_max_batch_records", "Largest batch so far, in records.", PROM_GAUGE,
     offsetof(jnStats, maxBatchRecords)},
    {"xchg_journal_segment_index", "Segment being written.", PROM_GAUGE,
     offsetof(jnStats, segmentIndex)},
    {"xchg_journal_errors_total", "Write, sync and segment-preparation failures.", PROM_COUNTER,
     offsetof(jnStats, errors)},
};

int jmRender(void *ctx, promWriter *w)
{
    const jmJournals *js = ctx;
    jnStats st[JM_MAX_JOURNALS];
    int failed = 0;
    for (uint32_t i = 0; i < js->n; i++)
        jnGetStats(js->j[i], &st[i]);
    for (size_t f = 0; f < sizeof jmFields / sizeof jmFields[0]; f++) {
        if (!js->n)
            break;
        promFamily(w, jmFields[f].name, jmFields[f].type, jmFields[f].help);
        for (uint32_t i = 0; i < js->n; i++) {
            promLabel l = {"stream", js->name[i]};
            promSampleU64(w, &l, 1, *(const uint64_t *)((const char *)&st[i] + jmFields[f].off));
        }
    }
    if (!js->n)
        return 0;
    promFamily(w, "xchg_journal_last_commit_seconds", PROM_GAUGE,
               "Submit-to-durable time of the latest commit.");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        promSampleFrac(w, &l, 1, (int64_t)st[i].lastCommitNs, 1000000000);
    }
    promFamily(w, "xchg_journal_durable_sequence", PROM_GAUGE,
               "Highest record sequence on stable storage.");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        promSampleU64(w, &l, 1, jnDurableSeq(js->j[i]));
    }
    promFamily(w, "xchg_journal_durable_lag_records", PROM_GAUGE,
               "Records published by the producer and not yet durable.");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        const uint64_t d = jnDurableSeq(js->j[i]);
        promSampleU64(w, &l, 1, st[i].publishedSeq > d ? st[i].publishedSeq - d : 0);
    }
    promFamily(w, "xchg_journal_durable_lag_seconds", PROM_GAUGE,
               "Age of the commit in flight (0 when none): how far durability trails.");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        promSampleFrac(w, &l, 1, (int64_t)st[i].inflightNs, 1000000000);
    }
    promFamily(w, "xchg_journal_commit_seconds", PROM_HISTOGRAM,
               "Submit-to-durable time of each commit (write + fdatasync).");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        static histLog h; /* 4 KiB: not on the control lcore's stack */
        jnGetCommitHist(js->j[i], &h);
        promHistLog(w, &l, 1, &h, 1000000000);
    }
    promFamily(w, "xchg_journal_up", PROM_GAUGE,
               "1 while the journal accepts records, 0 once its writer stopped on an error.");
    for (uint32_t i = 0; i < js->n; i++) {
        promLabel l = {"stream", js->name[i]};
        int up = jnStatus(js->j[i]) == 0;
        failed |= !up;
        promSampleU64(w, &l, 1, (uint64_t)up);
    }
    return failed ? -1 : 0;
}

json_t *jmJson(const jmJournals *js)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < js->n; i++) {
        jnStats st;
        static histLog h;
        jnGetStats(js->j[i], &st);
        jnGetCommitHist(js->j[i], &h);
        const uint64_t d = jnDurableSeq(js->j[i]);
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "stream", js->name[i], "records", (json_int_t)st.records, "bytes",
                         (json_int_t)st.recordBytes, "commits", (json_int_t)st.commits, "errors",
                         (json_int_t)st.errors, "durable_seq", (json_int_t)d, "lag_records",
                         (json_int_t)(st.publishedSeq > d ? st.publishedSeq - d : 0), "lag_ns",
                         (json_int_t)st.inflightNs, "commit_p50_ns",
                         (json_int_t)histQuantile(&h, 1, 2), "commit_p99_ns",
                         (json_int_t)histQuantile(&h, 99, 100), "commit_max_ns", (json_int_t)h.max,
                         "commit_count", (json_int_t)h.total, "up",
                         (json_int_t)(jnStatus(js->j[i]) == 0)));
    }
    return a;
}
