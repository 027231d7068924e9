/* test_log.c -- unit tests of the logging rings and the logger (control/log.c).
 *
 * Formatting of integer-argument records, level filtering, a full ring
 * dropping and counting (and the drop reported in the log), several
 * producer threads against the running logger thread (every record written
 * or counted as dropped, each thread's lines in order), file destinations
 * and their errors, timestamps. Files live in a private temporary directory. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/log.h"

static char tmpDir[64];

/* ---- helpers ---------------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n)
        b[0] = 0;
    fclose(f);
    return b;
}

/* Occurrences of needle in s (each log line holds it at most once). */
static int countLines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void logTo(const char *name, int level, char *path, size_t len)
{
    char err[256];
    snprintf(path, len, "%s/%s", tmpDir, name);
    unlink(path);
    if (logConfigure(level, path, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void fmt1(const char *want, const char *f, uint64_t a)
{
    char buf[128];
    logFormat(buf, sizeof buf, f, &a, 1);
    if (strcmp(buf, want) != 0)
        fail_msg("format \"%s\": got \"%s\", want \"%s\"", f, buf, want);
}

/* ---- formatting ------------------------------------------------------------------- */

static void testFormat(void **state)
{
    (void)state;
    int neg = -5;
    fmt1("-5", "%d", (uint64_t)neg);
    fmt1("4000000000", "%u", 4000000000u);
    fmt1("ffffffff", "%x", (uint64_t)-1); /* an int's width, not 64 bits */
    fmt1("ffffffffffffffff", "%lx", (uint64_t)-1);
    fmt1("18446744073709551615", "%llu", UINT64_MAX);
    fmt1("18446744073709551615", "%" PRIu64, UINT64_MAX);
    fmt1("44", "%hhd", 300); /* 300 as a signed char */
    fmt1("65535", "%hu", (uint64_t)-1);
    fmt1("[   42]", "[%5d]", 42);
    fmt1("[42   ]", "[%-5d]", 42);
    fmt1("[00042]", "[%05u]", 42);
    fmt1("x=7%", "x=%zu%%", 7);
    fmt1("A", "%c", 'A');
    fmt1("id IF2501", "id %s", (uintptr_t) "IF2501");
    fmt1("(null)", "%s", 0);
    fmt1("<float>", "%f", 1);
    fmt1("%n", "%n", 1);
    fmt1("no args", "no args", 0);
    char buf[64];
    uint64_t two[2] = {1, 2};
    logFormat(buf, sizeof buf, "%d %d %d", two, 2);
    assert_string_equal(buf, "1 2 <?>"); /* a missing argument is visible */
    logFormat(buf, 8, "0123456789", NULL, 0);
    assert_string_equal(buf, "0123456"); /* truncated, NUL-terminated */
    logFormat(buf, sizeof buf, "trailing %", NULL, 0);
    assert_string_equal(buf, "trailing ");
}

static void testLevels(void **state)
{
    (void)state;
    assert_int_equal(logLevelParse("error"), LOGL_ERROR);
    assert_int_equal(logLevelParse("debug"), LOGL_DEBUG);
    assert_int_equal(logLevelParse("loud"), -1);
    assert_int_equal(logLevelParse(NULL), -1);
    assert_string_equal(logLevelName(LOGL_WARNING), "warning");
    assert_string_equal(logLevelName(9), "?");
    assert_int_equal(logSetLevel(4), -1);
    assert_int_equal(logSetLevel(-1), -1);

    logInit();
    char path[128];
    logTo("levels.log", LOGL_WARNING, path, sizeof path);
    logMsg(LOGL_INFO, "hidden %d", 1);
    logText(LOGL_DEBUG, "hidden %d", 2);
    logMsg(LOGL_WARNING, "shown %d", 3);
    logText(LOGL_ERROR, "shown %s", "four");
    assert_int_equal(logFlush(), 2);
    logSetLevel(LOGL_DEBUG);
    logMsg(LOGL_DEBUG, "now shown %d", 5);
    assert_int_equal(logFlush(), 1);
    char *s = slurp(path);
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "warning [thread0] shown 3\n"));
    assert_non_null(strstr(s, "error   [thread0] shown four\n"));
    assert_non_null(strstr(s, "debug   [thread0] now shown 5\n"));
    free(s);
    logStats st;
    logGetStats(&st);
    assert_int_equal(st.written, 3);
    assert_int_equal(st.filtered, 1); /* logText counts what the level kept out */
    assert_int_equal(st.dropped, 0);
    assert_string_equal(st.destination, path);
    logInit();
}

/* A full ring drops, counts, and the logger reports the drop. */
static void testFullRingDrops(void **state)
{
    (void)state;
    logInit();
    char path[128];
    logTo("drops.log", LOGL_INFO, path, sizeof path);
    assert_int_equal(logAttach("filler"), 0);
    for (unsigned i = 0; i < LOG_RING_SLOTS + 10; i++)
        logMsg(LOGL_INFO, "record %u", i);
    logStats st;
    logGetStats(&st);
    assert_int_equal(st.dropped, 10);
    assert_int_equal(logFlush(), LOG_RING_SLOTS + 1); /* the records, then the drop report */
    char *s = slurp(path);
    assert_int_equal(countLines(s, "[filler] record "), LOG_RING_SLOTS);
    char last[64];
    snprintf(last, sizeof last, "record %u\n", LOG_RING_SLOTS - 1);
    assert_non_null(strstr(s, last));
    snprintf(last, sizeof last, "record %u\n", LOG_RING_SLOTS);
    assert_null(strstr(s, last)); /* the first record that did not fit */
    assert_non_null(strstr(s, "warning [filler] log: 10 record(s) dropped (ring full)"));
    free(s);
    /* drained: the ring takes records again, the drop is not reported twice */
    logMsg(LOGL_INFO, "after %u", 1u);
    assert_int_equal(logFlush(), 1);
    logInit();
}

/* Timestamps are wall-clock UTC of the moment of logging. */
static void testTimestamp(void **state)
{
    (void)state;
    logInit();
    char path[128];
    logTo("time.log", LOGL_INFO, path, sizeof path);
    time_t before = time(NULL);
    logMsg(LOGL_INFO, "tick");
    logFlush();
    char *s = slurp(path);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    assert_int_equal(end[0], '.');
    assert_int_equal(end[7], 'Z'); /* microseconds */
    time_t t = timegm(&tm);
    assert_true(t >= before - 1 && t <= time(NULL) + 1);
    free(s);
    logInit();
}

/* ---- threads ---------------------------------------------------------------------- */

#define PER_THREAD 600
#define THREADS    4

static void *producer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "p%u", id);
    logAttach(name);
    for (unsigned i = 0; i < PER_THREAD; i++)
        logMsg(LOGL_INFO, "n %u", i);
    return NULL;
}

/* Producers against the running logger: nothing lost that is not counted,
 * each thread's lines in order. */
static void testThreads(void **state)
{
    (void)state;
    logInit();
    char path[128], err[128];
    logTo("threads.log", LOGL_INFO, path, sizeof path);
    assert_int_equal(logStart(err, sizeof err), 0);
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    logStop();
    logStats st;
    logGetStats(&st);
    assert_int_equal(st.rings, THREADS);
    char *s = slurp(path);
    for (unsigned i = 0; i < THREADS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "[p%u] n ", i);
        int seen = 0, prev = -1;
        for (const char *p = strstr(s, tag); p; p = strstr(p + 1, tag)) {
            int n = atoi(p + strlen(tag));
            assert_true(n > prev);
            prev = n;
            seen++;
        }
        /* PER_THREAD < LOG_RING_SLOTS: none of this thread's records may drop */
        assert_int_equal(seen, PER_THREAD);
    }
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, (uint64_t)THREADS * PER_THREAD);
    free(s);
    logInit();
}

#define FLOOD 200000

static void *flooder(void *arg)
{
    (void)arg;
    logAttach("flood");
    for (unsigned i = 0; i < FLOOD; i++)
        logMsg(LOGL_INFO, "f %u", i);
    return NULL;
}

/* A producer faster than the logger: it never waits; written + dropped =
 * everything it produced. */
static void testFlood(void **state)
{
    (void)state;
    logInit();
    char path[128], err[128];
    logTo("flood.log", LOGL_INFO, path, sizeof path);
    assert_int_equal(logStart(err, sizeof err), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, flooder, NULL), 0);
    pthread_join(t, NULL);
    logStop();
    logStats st;
    logGetStats(&st);
    char *s = slurp(path);
    uint64_t lines = (uint64_t)countLines(s, "[flood] f ");
    uint64_t reports = (uint64_t)countLines(s, "record(s) dropped");
    assert_int_equal(lines + st.dropped, FLOOD);
    assert_int_equal(st.written, lines + reports);
    assert_true(reports > 0 || st.dropped == 0);
    free(s);
    logInit();
}

/* ---- destinations ----------------------------------------------------------------- */

static void testDestinations(void **state)
{
    (void)state;
    logInit();
    char err[256], path[128];
    assert_int_equal(logConfigure(LOGL_INFO, "/nonexistent-dir/x/y.log", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x/y.log"));
    assert_int_equal(logConfigure(7, "stderr", err, sizeof err), -1);
    logStats st;
    logGetStats(&st);
    assert_string_equal(st.destination, "stderr"); /* unchanged by the failures */
    /* a switch writes what was queued before it to the old file */
    logTo("one.log", LOGL_INFO, path, sizeof path);
    logMsg(LOGL_INFO, "before %d", 1);
    char second[128];
    logTo("two.log", LOGL_INFO, second, sizeof second);
    logMsg(LOGL_INFO, "after %d", 2);
    logFlush();
    char *a = slurp(path), *b = slurp(second);
    assert_non_null(strstr(a, "before 1"));
    assert_null(strstr(a, "after 2"));
    assert_non_null(strstr(b, "after 2"));
    assert_null(strstr(b, "before 1"));
    free(a);
    free(b);
    /* rotation: the same path is reopened, a new file appears */
    char rotated[160];
    snprintf(rotated, sizeof rotated, "%s.1", second);
    assert_int_equal(rename(second, rotated), 0);
    assert_int_equal(logConfigure(LOGL_INFO, second, err, sizeof err), 0);
    logMsg(LOGL_INFO, "fresh %d", 3);
    logFlush();
    b = slurp(second);
    assert_non_null(strstr(b, "fresh 3"));
    free(b);
    unlink(rotated);
    assert_int_equal(logConfigure(LOGL_INFO, "syslog", err, sizeof err), 0);
    logGetStats(&st);
    assert_string_equal(st.destination, "syslog");
    logInit();
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/test_log.XXXXXX");
    return mkdtemp(tmpDir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpDir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testFormat),        cmocka_unit_test(testLevels),
        cmocka_unit_test(testFullRingDrops), cmocka_unit_test(testTimestamp),
        cmocka_unit_test(testThreads),       cmocka_unit_test(testFlood),
        cmocka_unit_test(testDestinations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
