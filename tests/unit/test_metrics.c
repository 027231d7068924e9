/* test_metrics.c -- unit tests of the metrics registry (control/metrics.c).
 *
 * Sources render in the order they were added, then the registry's own
 * families; a failing source is counted and the others still render; bad
 * registrations are refused; an overflowing writer makes the render fail so
 * the server answers 500. The full exposition is checked with `promtool
 * check metrics` when promtool (Debian package prometheus) is installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/metrics.h"

typedef struct {
    const char *family;
    uint64_t value;
    int fail;
    int calls;
} Src;

static int srcRender(void *ctx, promWriter *w)
{
    Src *s = ctx;
    s->calls++;
    promFamily(w, s->family, PROM_COUNTER, "A test counter.");
    promSampleU64(w, NULL, 0, s->value);
    return s->fail ? -1 : 0;
}

static int reset(void **state)
{
    (void)state;
    metricsReset();
    return 0;
}

static char buf[1 << 16];

static const char *render(void)
{
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(metricsRender(NULL, &w), 0);
    return buf;
}

static void test_order_and_self(void **state)
{
    (void)state;
    Src a = {"xchg_test_alpha_total", 7, 0, 0}, b = {"xchg_test_beta_total", 9, 0, 0};
    assert_int_equal(metricsAddSource("a", srcRender, &a), 0);
    assert_int_equal(metricsAddSource("b", srcRender, &b), 0);
    assert_int_equal(metricsSourceCount(), 2);
    const char *t = render();
    const char *pa = strstr(t, "xchg_test_alpha_total 7\n"),
               *pb = strstr(t, "xchg_test_beta_total 9\n");
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(pa < pb);
    assert_non_null(strstr(t, "xchg_metrics_source_failures_total{source=\"a\"} 0\n"));
    assert_non_null(strstr(t, "xchg_metrics_source_failures_total{source=\"b\"} 0\n"));
    assert_non_null(strstr(t, "xchg_metrics_renders_total 0\n"));
    assert_non_null(strstr(t, "# TYPE xchg_metrics_render_seconds gauge\n"));
    t = render();
    assert_non_null(strstr(t, "xchg_metrics_renders_total 1\n"));
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);
}

static void test_failure_counted(void **state)
{
    (void)state;
    Src a = {"xchg_test_alpha_total", 1, 1, 0}, b = {"xchg_test_beta_total", 2, 0, 0};
    assert_int_equal(metricsAddSource("a", srcRender, &a), 0);
    assert_int_equal(metricsAddSource("b", srcRender, &b), 0);
    render();
    const char *t = render();
    assert_non_null(strstr(t, "xchg_metrics_source_failures_total{source=\"a\"} 2\n"));
    assert_non_null(strstr(t, "xchg_metrics_source_failures_total{source=\"b\"} 0\n"));
    assert_non_null(strstr(t, "xchg_test_beta_total 2\n")); /* the others still render */
}

static void test_refusals(void **state)
{
    (void)state;
    Src a = {"xchg_test_alpha_total", 1, 0, 0};
    char longName[METRICS_NAME_MAX + 1];
    memset(longName, 'x', sizeof longName - 1);
    longName[sizeof longName - 1] = 0;
    assert_int_equal(metricsAddSource("a", NULL, &a), -1);
    assert_int_equal(metricsAddSource(NULL, srcRender, &a), -1);
    assert_int_equal(metricsAddSource("", srcRender, &a), -1);
    assert_int_equal(metricsAddSource(longName, srcRender, &a), -1);
    longName[METRICS_NAME_MAX - 1] = 0; /* the longest accepted */
    assert_int_equal(metricsAddSource(longName, srcRender, &a), 0);
    assert_int_equal(metricsAddSource("a", srcRender, &a), 0);
    assert_int_equal(metricsAddSource("a", srcRender, &a), -1); /* taken */
    for (int i = 2; i < METRICS_MAX_SOURCES; i++) {
        char n[16];
        snprintf(n, sizeof n, "s%d", i);
        assert_int_equal(metricsAddSource(n, srcRender, &a), 0);
    }
    assert_int_equal(metricsAddSource("one-too-many", srcRender, &a), -1);
    assert_int_equal(metricsSourceCount(), METRICS_MAX_SOURCES);
    assert_int_equal(metricsRemoveSource("nope"), -1);
    assert_int_equal(metricsRemoveSource("a"), 0);
    assert_int_equal(metricsSourceCount(), METRICS_MAX_SOURCES - 1);
    assert_int_equal(metricsAddSource("one-more", srcRender, &a), 0);
}

static void test_remove_keeps_order(void **state)
{
    (void)state;
    Src a = {"xchg_test_alpha_total", 1, 0, 0}, b = {"xchg_test_beta_total", 2, 0, 0},
        c = {"xchg_test_gamma_total", 3, 0, 0};
    metricsAddSource("a", srcRender, &a);
    metricsAddSource("b", srcRender, &b);
    metricsAddSource("c", srcRender, &c);
    assert_int_equal(metricsRemoveSource("b"), 0);
    const char *t = render();
    assert_null(strstr(t, "xchg_test_beta_total"));
    assert_true(strstr(t, "xchg_test_alpha_total 1") < strstr(t, "xchg_test_gamma_total 3"));
    assert_int_equal(b.calls, 0);
}

static void test_overflow_fails(void **state)
{
    (void)state;
    Src a = {"xchg_test_alpha_total", 1, 0, 0};
    metricsAddSource("a", srcRender, &a);
    char small[64];
    promWriter w;
    promWriterInit(&w, small, sizeof small);
    assert_int_equal(metricsRender(NULL, &w), -1);
    assert_true(w.overflow);
}

static void test_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        print_message("skipped: promtool not installed (Debian package prometheus)\n");
        return;
    }
    Src a = {"xchg_test_alpha_total", 1, 1, 0}, b = {"xchg_test_beta_total", 2, 0, 0};
    metricsAddSource("a", srcRender, &a);
    metricsAddSource("b", srcRender, &b);
    const char *t = render();
    char path[] = "/tmp/test_metrics.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics <%s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    int rc = pclose(p);
    unlink(path);
    out[n] = 0;
    if (rc != 0 || n != 0)
        fail_msg("promtool: rc %d, output: %s", rc, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_self, reset, reset),
        cmocka_unit_test_setup_teardown(test_failure_counted, reset, reset),
        cmocka_unit_test_setup_teardown(test_refusals, reset, reset),
        cmocka_unit_test_setup_teardown(test_remove_keeps_order, reset, reset),
        cmocka_unit_test_setup_teardown(test_overflow_fails, reset, reset),
        cmocka_unit_test_setup_teardown(test_promtool, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
