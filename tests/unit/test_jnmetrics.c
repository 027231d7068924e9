/* test_jnmetrics.c -- unit tests of the journal metrics source (control/jnmetrics.c).
 *
 * Two real journals in a temporary directory get known records; after
 * jnFlush the exposition must carry their exact counts per stream (records,
 * durable sequence, commits at least one, up 1), pass `promtool check
 * metrics` (when promtool is installed) and be empty with no journal; bad
 * registrations are refused. */
#define _GNU_SOURCE
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/jnmetrics.h"

static char tmpDir[64];

static int rmEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setUp(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-jm-XXXXXX");
    assert_non_null(mkdtemp(tmpDir));
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    nftw(tmpDir, rmEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static jnJournal *openIn(const char *sub)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/%s", tmpDir, sub);
    jnConfig c;
    jnConfigDefaults(&c);
    c.dir = dir;
    c.segmentBytes = 1u << 20;
    c.ringBytes = 1u << 20;
    c.maxPayload = 4096;
    c.maxBatchBytes = 16u << 10;
    c.prefill = 0;
    c.sync = JN_SYNC_FDATASYNC; /* keeps the test independent of O_DIRECT support */
    jnError err;
    jnJournal *j = jnOpen(&c, &err);
    if (!j)
        fail_msg("jnOpen: %s", err.msg);
    return j;
}

static void append(jnJournal *j, int n)
{
    char payload[100];
    memset(payload, 'x', sizeof payload);
    for (int i = 0; i < n; i++)
        assert_true(jnAppend(j, 1, payload, sizeof payload) != 0);
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
}

static char buf[1 << 16];

static const char *render(jmJournals *js, int wantRc)
{
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(jmRender(js, &w), wantRc);
    assert_false(w.overflow);
    assert_false(w.invalid);
    return buf;
}

static void test_counts(void **state)
{
    (void)state;
    jnJournal *a = openIn("a"), *b = openIn("b");
    append(a, 10);
    append(b, 3);
    append(b, 4);
    jmJournals js = {0};
    assert_int_equal(jmAdd(&js, "segment0", a), 0);
    assert_int_equal(jmAdd(&js, "control", b), 0);
    const char *t = render(&js, 0);
    assert_non_null(strstr(t, "xchg_journal_records_total{stream=\"segment0\"} 10\n"));
    assert_non_null(strstr(t, "xchg_journal_records_total{stream=\"control\"} 7\n"));
    assert_non_null(strstr(t, "xchg_journal_durable_sequence{stream=\"segment0\"} 10\n"));
    assert_non_null(strstr(t, "xchg_journal_durable_sequence{stream=\"control\"} 7\n"));
    assert_non_null(strstr(t, "xchg_journal_up{stream=\"segment0\"} 1\n"));
    assert_non_null(strstr(t, "# TYPE xchg_journal_commits_total counter\n"));
    assert_null(strstr(t, "xchg_journal_commits_total{stream=\"control\"} 0\n"));
    assert_null(strstr(t, "xchg_journal_commits_total{stream=\"control\"} 1\n")); /* 2 flushes */
    jnStats st;
    jnGetStats(a, &st);
    char line[128];
    snprintf(line, sizeof line, "xchg_journal_record_bytes_total{stream=\"segment0\"} %llu\n",
             (unsigned long long)st.recordBytes);
    assert_non_null(strstr(t, line));
    assert_true(st.recordBytes >= 10 * 100);
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        char path[96];
        snprintf(path, sizeof path, "%s/x.prom", tmpDir);
        FILE *f = fopen(path, "w");
        fputs(t, f);
        fclose(f);
        char cmd[320];
        snprintf(cmd, sizeof cmd, "promtool check metrics <%s >%s.out 2>&1", path, path);
        int rc = system(cmd);
        snprintf(cmd, sizeof cmd, "%s.out", path);
        FILE *o = fopen(cmd, "r");
        char out[256] = "";
        size_t n = fread(out, 1, sizeof out - 1, o);
        fclose(o);
        if (rc != 0 || n != 0)
            fail_msg("promtool: rc %d: %s", rc, out);
    } else {
        print_message("promtool not installed (Debian package prometheus): lint skipped\n");
    }
    jnClose(a);
    jnClose(b);
}

/* The value of one sample line "NAME{LABELS} V" in t, or -1. */
static long long sample(const char *t, const char *series)
{
    const char *p = strstr(t, series);
    return p ? atoll(p + strlen(series) + 1) : -1;
}

/* The commit histogram counts every commit (count = commits_total, the
 * +Inf bucket too); the durable lag is what is published and not durable:
 * N records before the writer runs, 0 after. */
static void test_histogram_and_lag(void **state)
{
    (void)state;
    jnJournal *a = openIn("h");
    jmJournals js = {0};
    assert_int_equal(jmAdd(&js, "segment0", a), 0);
    for (int k = 0; k < 5; k++)
        append(a, 3 + k);
    const char *t = render(&js, 0);
    const long long commits = sample(t, "xchg_journal_commits_total{stream=\"segment0\"}");
    assert_true(commits >= 5); /* five flushes, each at least one commit */
    assert_int_equal(sample(t, "xchg_journal_records_total{stream=\"segment0\"}"), 25);
    assert_int_equal(sample(t, "xchg_journal_commit_seconds_count{stream=\"segment0\"}"), commits);
    assert_int_equal(
        sample(t, "xchg_journal_commit_seconds_bucket{stream=\"segment0\",le=\"+Inf\"}"), commits);
    assert_non_null(strstr(t, "# TYPE xchg_journal_commit_seconds histogram\n"));
    assert_int_equal(sample(t, "xchg_journal_durable_lag_records{stream=\"segment0\"}"), 0);
    assert_int_equal(sample(t, "xchg_journal_errors_total{stream=\"segment0\"}"), 0);
    /* published, not yet written: the lag is those records */
    char payload[64] = {0};
    for (int i = 0; i < 7; i++)
        assert_true(jnAppend(a, 1, payload, sizeof payload) != 0);
    jnPublish(a);
    t = render(&js, 0);
    assert_int_equal(sample(t, "xchg_journal_durable_lag_records{stream=\"segment0\"}"), 7);
    assert_int_equal(jnFlush(a), 0);
    t = render(&js, 0);
    assert_int_equal(sample(t, "xchg_journal_durable_lag_records{stream=\"segment0\"}"), 0);
    json_t *j = jmJson(&js);
    assert_int_equal(json_array_size(j), 1);
    json_t *o = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(o, "stream")), "segment0");
    assert_int_equal(json_integer_value(json_object_get(o, "records")), 32);
    assert_int_equal(json_integer_value(json_object_get(o, "commit_count")),
                     json_integer_value(json_object_get(o, "commits")));
    assert_true(json_integer_value(json_object_get(o, "commit_p99_ns")) > 0);
    json_decref(j);
    jnClose(a);
}

static void test_empty_and_refusals(void **state)
{
    (void)state;
    jmJournals js = {0};
    assert_string_equal(render(&js, 0), "");
    jnJournal *a = openIn("a");
    assert_int_equal(jmAdd(&js, "", a), -1);
    assert_int_equal(jmAdd(&js, NULL, a), -1);
    assert_int_equal(jmAdd(&js, "x", NULL), -1);
    assert_int_equal(jmAdd(&js, "a-name-that-is-far-too-long-for-a-label", a), -1);
    for (int i = 0; i < JM_MAX_JOURNALS; i++)
        assert_int_equal(jmAdd(&js, "s", a), 0);
    assert_int_equal(jmAdd(&js, "s", a), -1);
    jnClose(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_empty_and_refusals, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_histogram_and_lag, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
