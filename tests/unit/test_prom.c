/* test_prom.c -- unit tests of the Prometheus writer and the /metrics server (control/prom.c).
 *
 * The writer tests compare exact text. The histogram tests record known
 * values into a histLog and check the cumulative `le` buckets and the
 * estimated _sum by hand, then check the bucket rule (never counts a value
 * above its bound, misses at most one log-linear bucket below it) on random
 * values. The server tests start a server on an ephemeral 127.0.0.1 port and
 * talk to it over real TCP connections from the same thread: every wait for
 * an answer also calls promServerPoll. The promtool test serves a complete
 * exposition (every kind of family, escaping, histograms, the live host
 * metrics), fetches it over a socket and runs `promtool check metrics` on it
 * (skipped when promtool, Debian package prometheus, is not installed). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/hostmon.h"
#include "control/prom.h"

static char tmpDir[64];

static uint64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* realloc that fails the test instead of returning NULL */
static char *grow(char *p, size_t n)
{
    char *q = realloc(p, n);
    if (q == NULL) {
        free(p);
        fail_msg("out of memory");
    }
    return q;
}

/* ---- writer ------------------------------------------------------------------------------ */

static void test_format_frac(void **state)
{
    (void)state;
    char b[64];
    static const struct {
        int64_t num;
        uint64_t den;
        const char *want;
    } cases[] = {
        {287983, 100, "2879.83"},
        {5, 1, "5"},
        {0, 1, "0"},
        {0, 7, "0"},
        {-5, 100, "-0.05"},
        {-300, 100, "-3"},
        {1, 3, "0.333333333"},
        {2, 3, "0.666666666"}, /* cut, not rounded */
        {100, 1000000000, "0.0000001"},
        {1, 1000000000, "0.000000001"},
        {1, 2000000000, "0"}, /* below the ninth digit */
        {121, 1000, "0.121"},
        {990, 1000, "0.99"},
        {1000, 1000, "1"},
        {INT64_MAX, 1, "9223372036854775807"},
        {INT64_MIN, 1, "-9223372036854775808"},
        {INT64_MIN, 1000000000, "-9223372036.854775808"},
        {1, 0, "NaN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = promFormatFrac(b, sizeof b, cases[i].num, cases[i].den);
        assert_string_equal(b, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    assert_int_equal(promFormatFrac(b, 4, 287983, 100), 0);
    assert_int_equal(promFormatFrac(b, 8, 287983, 100), 7);
}

static void test_writer_text(void **state)
{
    (void)state;
    char buf[4096];
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_string_equal(buf, "");
    assert_int_equal(
        promFamily(&w, "xchg_orders_total", PROM_COUNTER, "Orders by \\ side\nand type."), 0);
    promLabel l[2] = {{"side", "buy"}, {"type", "li\"m\\it\n"}};
    assert_int_equal(promSampleU64(&w, l, 2, 18446744073709551615ull), 0);
    assert_int_equal(promSampleU64(&w, l, 1, 0), 0);
    assert_int_equal(promFamily(&w, "xchg_depth", PROM_GAUGE, NULL), 0);
    assert_int_equal(promSampleI64(&w, NULL, 0, -42), 0);
    assert_int_equal(promFamily(&w, "xchg_ratio", PROM_GAUGE, "A ratio."), 0);
    assert_int_equal(promSampleFrac(&w, NULL, 0, 562, 1000), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, 0.1), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, 1.0 / 3), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, NAN), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, INFINITY), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, -INFINITY), 0);
    assert_int_equal(promSampleDouble(&w, NULL, 0, 1e300), 0);
    assert_int_equal(promFamily(&w, "xchg_thing", PROM_UNTYPED, "Untyped."), 0);
    promLabel e = {"v", ""};
    assert_int_equal(promSampleU64(&w, &e, 1, 1), 0);
    const char *want = "# HELP xchg_orders_total Orders by \\\\ side\\nand type.\n"
                       "# TYPE xchg_orders_total counter\n"
                       "xchg_orders_total{side=\"buy\",type=\"li\\\"m\\\\it\\n\"} "
                       "18446744073709551615\n"
                       "xchg_orders_total{side=\"buy\"} 0\n"
                       "# TYPE xchg_depth gauge\n"
                       "xchg_depth -42\n"
                       "# HELP xchg_ratio A ratio.\n"
                       "# TYPE xchg_ratio gauge\n"
                       "xchg_ratio 0.562\n"
                       "xchg_ratio 0.1\n"
                       "xchg_ratio 0.33333333333333331\n"
                       "xchg_ratio NaN\n"
                       "xchg_ratio +Inf\n"
                       "xchg_ratio -Inf\n"
                       "xchg_ratio 1e+300\n"
                       "# HELP xchg_thing Untyped.\n"
                       "# TYPE xchg_thing untyped\n"
                       "xchg_thing{v=\"\"} 1\n";
    assert_string_equal(buf, want);
    assert_int_equal(w.len, strlen(want));
    assert_false(w.overflow);
    assert_false(w.invalid);
}

static void test_writer_rules(void **state)
{
    (void)state;
    char buf[1024];
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    /* a sample before any family */
    assert_int_equal(promSampleU64(&w, NULL, 0, 1), -1);
    assert_true(w.invalid);
    assert_int_equal(w.len, 0);
    /* counters end in _total */
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(promFamily(&w, "xchg_orders", PROM_COUNTER, "x"), -1);
    assert_true(w.invalid);
    assert_int_equal(promSampleU64(&w, NULL, 0, 1), -1); /* refused too */
    assert_int_equal(w.len, 0);
    /* metric names */
    static const char *const badNames[] = {"", "9abc", "a-b", "a b", "__reserved", "é"};
    for (size_t i = 0; i < sizeof badNames / sizeof badNames[0]; i++) {
        promWriterInit(&w, buf, sizeof buf);
        assert_int_equal(promFamily(&w, badNames[i], PROM_GAUGE, "x"), -1);
        assert_true(w.invalid);
        assert_int_equal(w.len, 0);
    }
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(promFamily(&w, "a:b_c9", PROM_GAUGE, NULL), 0); /* colons are allowed */
    assert_int_equal(promFamily(&w, NULL, PROM_GAUGE, NULL), -1);
    char longName[PROM_NAME_MAX + 1];
    memset(longName, 'a', sizeof longName - 1);
    longName[PROM_NAME_MAX] = '\0';
    assert_int_equal(promFamily(&w, longName, PROM_GAUGE, NULL), -1);
    /* label names */
    static const char *const badLabels[] = {"", "1a", "a-b", "__name__", "a:b"};
    assert_int_equal(promFamily(&w, "xchg_g", PROM_GAUGE, NULL), 0);
    size_t len = w.len;
    for (size_t i = 0; i < sizeof badLabels / sizeof badLabels[0]; i++) {
        promLabel l[2] = {{"ok", "1"}, {badLabels[i], "v"}};
        w.invalid = false;
        assert_int_equal(promSampleU64(&w, l, 2, 1), -1);
        assert_true(w.invalid);
        assert_int_equal(w.len, len);
        assert_int_equal(buf[len], '\0'); /* the text stays terminated */
    }
    promLabel nullValue = {"a", NULL};
    assert_int_equal(promSampleU64(&w, &nullValue, 1, 1), -1);
    assert_int_equal(promSampleU64(&w, NULL, 1, 1), -1);
    /* histograms take promHistLog only, and not an "le" label */
    histLog h;
    memset(&h, 0, sizeof h);
    assert_int_equal(promHistLog(&w, NULL, 0, &h, 1000000000), -1); /* a gauge is open */
    assert_int_equal(promFamily(&w, "xchg_h_seconds", PROM_HISTOGRAM, NULL), 0);
    len = w.len;
    assert_int_equal(promSampleU64(&w, NULL, 0, 1), -1);
    promLabel le = {"le", "1"};
    assert_int_equal(promHistLog(&w, &le, 1, &h, 1000000000), -1);
    assert_int_equal(promHistLog(&w, NULL, 0, &h, 0), -1);
    assert_int_equal(w.len, len);
    assert_false(w.overflow);
    /* an unknown type */
    assert_int_equal(promFamily(&w, "xchg_t", (promType)9, NULL), -1);
}

static void test_writer_overflow(void **state)
{
    (void)state;
    char buf[100];
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(promFamily(&w, "xchg_a", PROM_GAUGE, "Help of a."), 0);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        if (promSampleU64(&w, NULL, 0, 1234567) == 0)
            ok++;
    assert_true(w.overflow);
    assert_false(w.invalid);
    /* whole lines only: 25 + 20 bytes of family, 15 per sample, one byte
     * kept for the NUL */
    assert_int_equal(ok, (100 - 1 - 45) / 15);
    assert_int_equal(w.len, 45 + 15 * ok);
    assert_int_equal(buf[w.len - 1], '\n');
    assert_int_equal(strlen(buf), w.len);
    /* a family that does not fit leaves no HELP behind, and its samples
     * count as overflow, not as invalid */
    size_t len = w.len;
    assert_int_equal(promFamily(&w, "xchg_b", PROM_GAUGE, "x"), -1);
    assert_int_equal(w.len, len);
    assert_int_equal(promSampleU64(&w, NULL, 0, 1), -1);
    assert_false(w.invalid);
    /* HELP fits, TYPE does not: both go */
    char small[40];
    promWriterInit(&w, small, sizeof small);
    assert_int_equal(promFamily(&w, "xchg_c", PROM_GAUGE, "Help."), -1);
    assert_int_equal(w.len, 0);
    assert_string_equal(small, "");
    /* a histogram is written whole or not at all */
    char hb[600];
    promWriterInit(&w, hb, sizeof hb);
    histLog h;
    memset(&h, 0, sizeof h);
    assert_int_equal(promFamily(&w, "xchg_h_seconds", PROM_HISTOGRAM, NULL), 0);
    len = w.len;
    assert_int_equal(promHistLog(&w, NULL, 0, &h, 1000000000), -1);
    assert_true(w.overflow);
    assert_int_equal(w.len, len);
    /* a zero-sized buffer */
    promWriterInit(&w, NULL, 0);
    assert_int_equal(promFamily(&w, "xchg_z", PROM_GAUGE, NULL), -1);
    assert_true(w.overflow);
}

/* ---- histograms -------------------------------------------------------------------------- */

static const char *histText(const histLog *h, const promLabel *l, size_t n, uint64_t perSec)
{
    static char buf[8192];
    promWriter w;
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(promFamily(&w, "xchg_x_seconds", PROM_HISTOGRAM, "x"), 0);
    assert_int_equal(promHistLog(&w, l, n, h, perSec), 0);
    return buf;
}

static bool hasLine(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_hist_known(void **state)
{
    (void)state;
    histLog h;
    memset(&h, 0, sizeof h);
    histRecord(&h, 7, 1);           /* bucket 7 = [7, 7]: exact */
    histRecord(&h, 50, 3);          /* bucket 28 = [48, 51] */
    histRecord(&h, 150, 2);         /* bucket 41 = [144, 159] */
    histRecord(&h, 999, 1);         /* bucket 63 = [960, 1023]: straddles 1 us */
    histRecord(&h, 1000, 1);        /* the same bucket */
    histRecord(&h, 2000000000, 1);  /* bucket 230 = [1879048192, 2013265919] */
    histRecord(&h, 20000000000, 1); /* bucket 257, above 10 s: only +Inf */
    promLabel l = {"op", "new"};
    const char *t = histText(&h, &l, 1, 1000000000);
    /* 7 and the three 50s are <= 100 ns */
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"0.0000001\"} 4"));
    /* 150's bucket ends at 159 <= 200 */
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"0.0000002\"} 6"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"0.0000005\"} 6"));
    /* 999 and 1000 share [960, 1023], which ends above 1000: counted at 2 us */
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"0.000001\"} 6"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"0.000002\"} 8"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"2\"} 8"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"5\"} 9"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"10\"} 9"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{op=\"new\",le=\"+Inf\"} 10"));
    assert_true(hasLine(t, "xchg_x_seconds_count{op=\"new\"} 10"));
    /* sum of midpoints: 7 + 3 * 49 + 2 * 151 + 2 * 991 + 1946157055 + the
     * last bucket's midpoint capped at the max, 19327352832 + (2e10 -
     * 19327352832) / 2 = 19663676416: 21609835909 ns */
    assert_true(hasLine(t, "xchg_x_seconds_sum{op=\"new\"} 21.609835909"));
    /* 25 bounds + Inf + sum + count, plus HELP and TYPE */
    int lines = 0;
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, PROM_HIST_BOUNDS + 3 + 2);

    /* other units: TSC cycles at 2.5 GHz put 100 ns at 250 cycles */
    memset(&h, 0, sizeof h);
    histRecord(&h, 200, 1); /* [192, 207] <= 250 */
    histRecord(&h, 250, 1); /* [240, 255] > 250: at 200 ns */
    t = histText(&h, NULL, 0, 2500000000u);
    assert_true(hasLine(t, "xchg_x_seconds_bucket{le=\"0.0000001\"} 1"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{le=\"0.0000002\"} 2"));
    /* microseconds */
    memset(&h, 0, sizeof h);
    histRecord(&h, 1, 5);
    t = histText(&h, NULL, 0, 1000000);
    assert_true(hasLine(t, "xchg_x_seconds_bucket{le=\"0.0000005\"} 0"));
    assert_true(hasLine(t, "xchg_x_seconds_bucket{le=\"0.000001\"} 5"));
    assert_true(hasLine(t, "xchg_x_seconds_sum 0.000005"));
    /* empty */
    memset(&h, 0, sizeof h);
    t = histText(&h, NULL, 0, 1000000000);
    assert_true(hasLine(t, "xchg_x_seconds_bucket{le=\"+Inf\"} 0"));
    assert_true(hasLine(t, "xchg_x_seconds_sum 0"));
    assert_true(hasLine(t, "xchg_x_seconds_count 0"));
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The bucket rule on random values: le="x" counts no value above x and
 * every value at or below x/1.125 (one log-linear bucket). */
static void test_hist_rule(void **state)
{
    (void)state;
    enum { N = 20000 };
    static uint64_t v[N];
    static histLog h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < N; i++) {
        /* log-uniform from 1 ns to ~17 s */
        v[i] = (next() >> (64 - 34)) >> (next() % 34);
        histRecord(&h, v[i], 1);
    }
    const char *t = histText(&h, NULL, 0, 1000000000);
    uint64_t prev = 0;
    for (int b = 0; b < PROM_HIST_BOUNDS; b++) {
        char le[48], key[96];
        promFormatFrac(le, sizeof le, (int64_t)promHistBoundsNs[b], 1000000000);
        snprintf(key, sizeof key, "xchg_x_seconds_bucket{le=\"%s\"} ", le);
        const char *p = strstr(t, key);
        assert_non_null(p);
        uint64_t got = strtoull(p + strlen(key), NULL, 10);
        uint64_t bound = promHistBoundsNs[b], atOrBelow = 0, wellBelow = 0;
        for (int i = 0; i < N; i++) {
            atOrBelow += v[i] <= bound;
            wellBelow += v[i] * 9 <= bound * 8;
        }
        assert_true(got <= atOrBelow);
        assert_true(got >= wellBelow);
        assert_true(got >= prev);
        prev = got;
    }
    char key[64];
    snprintf(key, sizeof key, "xchg_x_seconds_count %d", N);
    assert_true(hasLine(t, key));
}

/* ---- server ------------------------------------------------------------------------------ */

typedef struct {
    const char *body; /* NULL: fail */
    size_t repeat;    /* body written this many times (0 = once) */
    int calls;
} renderCtx;

static int renderBody(void *ctx, promWriter *w)
{
    renderCtx *r = ctx;
    r->calls++;
    if (r->body == NULL)
        return -1;
    size_t n = strlen(r->body);
    for (size_t i = 0; i < (r->repeat ? r->repeat : 1); i++) {
        if (w->cap - w->len < n + 1) {
            w->overflow = true;
            return 0;
        }
        memcpy(w->buf + w->len, r->body, n);
        w->len += n;
    }
    return 0;
}

static promServer *startServer(renderCtx *r, uint32_t maxClients, size_t maxBody, uint32_t idleMs)
{
    promServerOptions o = {.port = 0,
                           .maxClients = maxClients,
                           .maxBody = maxBody,
                           .idleTimeoutMs = idleMs,
                           .render = renderBody,
                           .ctx = r};
    char err[256];
    promServer *s = promServerCreate(&o, err, sizeof err);
    if (s == NULL)
        fail_msg("%s", err);
    assert_true(promServerPort(s) != 0);
    return s;
}

static int connectPort(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    assert_true(rc == 0 || errno == EINPROGRESS);
    return fd;
}

static void sendAll(promServer *s, int fd, const char *data, size_t n)
{
    size_t off = 0;
    uint64_t deadline = nowMs() + 5000;
    while (off < n) {
        ssize_t k = send(fd, data + off, n - off, MSG_NOSIGNAL);
        if (k > 0)
            off += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINPROGRESS && errno != ENOTCONN)
            fail_msg("send: %s", strerror(errno));
        promServerPoll(s, 1);
        if (nowMs() > deadline)
            fail_msg("send timed out");
    }
}

/* Reads until EOF, polling the server in between. Returns the bytes
 * (malloc'd), NUL-terminated; *len their count. */
static char *readAll(promServer *s, int fd, size_t *len)
{
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    *len = 0;
    uint64_t deadline = nowMs() + 10000;
    for (;;) {
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n > 0) {
            *len += (size_t)n;
            if (*len + 1 == cap)
                buf = grow(buf, cap *= 2);
            continue;
        }
        if (n == 0)
            break;
        if (errno != EAGAIN)
            fail_msg("recv: %s", strerror(errno));
        promServerPoll(s, 2);
        if (nowMs() > deadline)
            fail_msg("no EOF from the server");
    }
    buf[*len] = '\0';
    return buf;
}

/* One request on a new connection; the whole response. */
static char *request(promServer *s, const char *req, size_t *len)
{
    int fd = connectPort(promServerPort(s));
    sendAll(s, fd, req, strlen(req));
    char *out = readAll(s, fd, len);
    close(fd);
    return out;
}

static int status(const char *resp)
{
    if (strncmp(resp, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(resp + 9);
}

static const char *bodyOf(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");
    return p ? p + 4 : NULL;
}

static void test_server_get(void **state)
{
    (void)state;
    renderCtx r = {.body = "# TYPE xchg_up gauge\nxchg_up 1\n"};
    promServer *s = startServer(&r, 0, 0, 0);
    size_t len;
    char *resp =
        request(s, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n", &len);
    assert_int_equal(status(resp), 200);
    assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(resp, "\r\nContent-Length: 31\r\n"));
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
    assert_string_equal(bodyOf(resp), r.body);
    free(resp);
    assert_int_equal(r.calls, 1);
    promServerStats st;
    promServerGetStats(s, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.responses, 1);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.lastBody, 31);
    /* the connection is closed on the server side too */
    for (int i = 0; i < 50 && st.clients; i++) {
        promServerPoll(s, 2);
        promServerGetStats(s, &st);
    }
    assert_int_equal(st.clients, 0);
    promServerDestroy(s);
}

static void test_server_requests(void **state)
{
    (void)state;
    renderCtx r = {.body = "xchg_up 1\n"};
    promServer *s = startServer(&r, 0, 0, 0);
    static const struct {
        const char *req;
        int status;
        bool body;
    } cases[] = {
        {"GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, true},
        {"GET /metrics HTTP/1.0\r\n\r\n", 200, true},
        {"GET /metrics HTTP/1.1\n\n", 200, true}, /* bare LF */
        {"HEAD /metrics HTTP/1.1\r\n\r\n", 200, false},
        {"GET / HTTP/1.1\r\n\r\n", 404, true},
        {"GET /metricsx HTTP/1.1\r\n\r\n", 404, true},
        {"GET /metrics/ HTTP/1.1\r\n\r\n", 404, true},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, true},
        {"DELETE /metrics HTTP/1.1\r\n\r\n", 405, true},
        {"garbage\r\n\r\n", 400, true},
        {"GET /metrics\r\n\r\n", 400, true},
        {"GET  /metrics HTTP/1.1\r\n\r\n", 400, true},
        {"GET /metrics FTP/1.0\r\n\r\n", 400, true},
        {"GET /metrics HTTP/2.0\r\n\r\n", 505, true},
        {"\r\n\r\n", 400, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *resp = request(s, cases[i].req, &len);
        if (status(resp) != cases[i].status)
            fail_msg("%s: got %.40s", cases[i].req, resp);
        const char *body = bodyOf(resp);
        assert_non_null(body);
        if (cases[i].status == 200 && cases[i].body)
            assert_string_equal(body, "xchg_up 1\n");
        if (!cases[i].body)
            assert_string_equal(body, "");
        if (cases[i].status != 200) /* errors are not exposition text */
            assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        if (cases[i].status == 405)
            assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
        if (cases[i].status == 200)
            assert_non_null(strstr(resp, "\r\nContent-Length: 10\r\n"));
        free(resp);
    }
    promServerStats st;
    promServerGetStats(s, &st);
    assert_int_equal(st.ok, 4);
    assert_int_equal(st.notFound, 3);
    assert_int_equal(st.badRequest, 8);
    assert_int_equal(st.responses, sizeof cases / sizeof cases[0]);
    assert_int_equal(r.calls, 4);
    promServerDestroy(s);
}

static void test_server_split_and_large(void **state)
{
    (void)state;
    renderCtx r = {.body = "xchg_up 1\n"};
    promServer *s = startServer(&r, 0, 0, 0);
    /* a request arriving a byte at a time */
    int fd = connectPort(promServerPort(s));
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; req[i]; i++) {
        sendAll(s, fd, req + i, 1);
        promServerPoll(s, 0);
    }
    size_t len;
    char *resp = readAll(s, fd, &len);
    close(fd);
    assert_int_equal(status(resp), 200);
    free(resp);

    /* a header block over 8 KiB */
    char big[PROM_REQUEST_MAX + 100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    fd = connectPort(promServerPort(s));
    sendAll(s, fd, big, strlen(big));
    resp = readAll(s, fd, &len);
    close(fd);
    assert_int_equal(status(resp), 431);
    free(resp);

    /* a body far larger than the socket buffers: queued and finished later */
    renderCtx big3 = {.body = "xchg_filler_metric_with_a_long_name{label=\"value\"} 1234567890\n",
                      .repeat = 50000};
    promServer *s2 = startServer(&big3, 0, 8u << 20, 0);
    resp = request(s2, "GET /metrics HTTP/1.1\r\n\r\n", &len);
    assert_int_equal(status(resp), 200);
    const char *body = bodyOf(resp);
    size_t line = strlen(big3.body);
    assert_int_equal(strlen(body), line * 50000);
    for (size_t i = 0; i < 50000; i += 997)
        assert_memory_equal(body + i * line, big3.body, line);
    free(resp);
    promServerStats st;
    promServerGetStats(s2, &st);
    assert_int_equal(st.lastBody, line * 50000);
    assert_true(st.bytesSent > line * 50000);
    promServerDestroy(s2);
    promServerDestroy(s);
}

static void test_server_render_fail(void **state)
{
    (void)state;
    renderCtx r = {.body = NULL};
    promServer *s = startServer(&r, 0, 0, 0);
    size_t len;
    char *resp = request(s, "GET /metrics HTTP/1.1\r\n\r\n", &len);
    assert_int_equal(status(resp), 500);
    free(resp);
    promServerDestroy(s);
    /* larger than maxBody */
    renderCtx big = {.body = "xchg_up 1\n", .repeat = 100};
    s = startServer(&big, 0, 256, 0);
    resp = request(s, "GET /metrics HTTP/1.1\r\n\r\n", &len);
    assert_int_equal(status(resp), 500);
    free(resp);
    promServerStats st;
    promServerGetStats(s, &st);
    assert_int_equal(st.renderFails, 1);
    assert_int_equal(st.ok, 0);
    promServerDestroy(s);
}

/* promServerPoll waits at most its timeout, whatever the clients do. */
static void test_server_timeouts(void **state)
{
    (void)state;
    renderCtx r = {.body = "xchg_up 1\n"};
    promServer *s = startServer(&r, 2, 0, 400);
    uint64_t t0 = nowMs();
    assert_int_equal(promServerPoll(s, 0), 0);
    assert_true(nowMs() - t0 < 100);
    t0 = nowMs();
    assert_int_equal(promServerPoll(s, 60), 0);
    uint64_t took = nowMs() - t0;
    assert_true(took >= 55 && took < 60 + 500); /* generous: the machine may be busy */

    /* two silent clients fill the table; a third waits in the backlog */
    int a = connectPort(promServerPort(s));
    int b = connectPort(promServerPort(s));
    sendAll(s, a, "GET /met", 8); /* half a request, then nothing */
    for (int i = 0; i < 10; i++)
        promServerPoll(s, 1);
    promServerStats st;
    promServerGetStats(s, &st);
    assert_int_equal(st.clients, 2);
    int c = connectPort(promServerPort(s));
    sendAll(s, c, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    t0 = nowMs();
    for (int i = 0; i < 5; i++)
        promServerPoll(s, 10);
    assert_true(nowMs() - t0 < 50 + 300); /* each call bounded by its 10 ms */
    promServerGetStats(s, &st);
    assert_int_equal(st.responses, 0);
    assert_int_equal(st.accepted, 2);
    /* after 400 ms both are closed and the third is served */
    size_t len;
    char *resp = readAll(s, c, &len);
    assert_int_equal(status(resp), 200);
    free(resp);
    promServerGetStats(s, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.accepted, 3);
    char x;
    assert_int_equal(recv(a, &x, 1, 0), 0); /* closed by the server */
    assert_int_equal(recv(b, &x, 1, 0), 0);
    close(a);
    close(b);
    close(c);
    promServerDestroy(s);
}

static void test_server_many(void **state)
{
    (void)state;
    renderCtx r = {.body = "xchg_up 1\n"};
    promServer *s = startServer(&r, 4, 0, 0);
    for (int i = 0; i < 300; i++) {
        size_t len;
        char *resp = request(s, "GET /metrics HTTP/1.1\r\n\r\n", &len);
        assert_int_equal(status(resp), 200);
        free(resp);
    }
    /* four at once */
    int fd[4];
    for (int i = 0; i < 4; i++) {
        fd[i] = connectPort(promServerPort(s));
        sendAll(s, fd[i], "GET /metrics HTTP/1.1\r\n\r\n", 25);
    }
    for (int i = 0; i < 4; i++) {
        size_t len;
        char *resp = readAll(s, fd[i], &len);
        assert_int_equal(status(resp), 200);
        free(resp);
        close(fd[i]);
    }
    /* a client that goes away without reading does not disturb the server */
    int gone = connectPort(promServerPort(s));
    sendAll(s, gone, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    close(gone);
    for (int i = 0; i < 10; i++)
        promServerPoll(s, 1);
    promServerStats st;
    promServerGetStats(s, &st);
    assert_int_equal(st.ok, 305);
    assert_int_equal(r.calls, 305);
    promServerDestroy(s);
}

static void test_server_create(void **state)
{
    (void)state;
    renderCtx r = {.body = "x 1\n"};
    promServer *s = startServer(&r, 0, 0, 0);
    char err[256] = "";
    promServerOptions o = {.port = promServerPort(s), .render = renderBody, .ctx = &r};
    assert_null(promServerCreate(&o, err, sizeof err)); /* the port is taken */
    assert_non_null(strstr(err, "bind 127.0.0.1:"));
    o.render = NULL;
    assert_null(promServerCreate(&o, err, sizeof err));
    assert_non_null(strstr(err, "render"));
    /* it listens on 127.0.0.1 only: /proc/net/tcp has the listener as
     * 0100007F:PORT in state 0A */
    char want[64], line[512];
    snprintf(want, sizeof want, ": 0100007F:%04X 00000000:0000 0A", promServerPort(s));
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    bool found = false;
    while (fgets(line, sizeof line, f))
        found |= strstr(line, want) != NULL;
    fclose(f);
    assert_true(found);
    promServerDestroy(s);
    promServerDestroy(NULL);
}

/* ---- promtool ---------------------------------------------------------------------------- */

static bool findExe(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/local/bin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs `promtool check metrics` with text on stdin. Returns the exit
 * status; its output (stdout and stderr) in out. */
static int promtool(const char *exe, const char *text, char *out, size_t cap)
{
    char inPath[128], outPath[128];
    snprintf(inPath, sizeof inPath, "%s/metrics.txt", tmpDir);
    snprintf(outPath, sizeof outPath, "%s/promtool.out", tmpDir);
    FILE *f = fopen(inPath, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open(inPath, O_RDONLY);
        int o = open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0)
            _exit(126);
        dup2(in, 0);
        dup2(o, 1);
        dup2(o, 2);
        execl(exe, exe, "check", "metrics", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    f = fopen(outPath, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

typedef struct {
    hmSampler *host;
    histLog *lat;
} fullCtx;

/* Every kind of family the writer makes, plus the host metrics. */
static int renderFull(void *ctx, promWriter *w)
{
    fullCtx *f = ctx;
    int rc = 0;
    rc |= promFamily(w, "xchg_orders_total", PROM_COUNTER,
                     "Orders accepted, by segment.\nSecond line with a \\ backslash.");
    promLabel l[2] = {{"segment", "fut\"ures\\1\n"}, {"side", "buy"}};
    rc |= promSampleU64(w, l, 2, 12345);
    l[1].value = "sell";
    rc |= promSampleU64(w, l, 2, 0);
    rc |= promFamily(w, "xchg_ring_depth_messages", PROM_GAUGE, "Ring depth.");
    rc |= promSampleI64(w, NULL, 0, -1);
    rc |= promFamily(w, "xchg_clock_offset_seconds", PROM_GAUGE, "A double.");
    rc |= promSampleDouble(w, NULL, 0, 1.0 / 3);
    rc |= promFamily(w, "xchg_nan_ratio", PROM_GAUGE, "Not a number.");
    rc |= promSampleDouble(w, NULL, 0, NAN);
    rc |= promFamily(w, "xchg_inbox_latency_seconds", PROM_HISTOGRAM,
                     "rx burst to tx, per answered datagram.");
    promLabel seg = {"segment", "0"};
    rc |= promHistLog(w, &seg, 1, f->lat, 1000000000);
    seg.value = "1";
    histLog empty;
    memset(&empty, 0, sizeof empty);
    rc |= promHistLog(w, &seg, 1, &empty, 1000000000);
    rc |= hmWriteProm(w, f->host);
    return rc < 0 ? -1 : 0;
}

static void test_promtool(void **state)
{
    (void)state;
    char exe[PATH_MAX];
    if (!findExe("promtool", exe, sizeof exe)) {
        print_message("skipped: promtool not installed (apt-get install prometheus)\n");
        skip();
    }
    static histLog lat;
    memset(&lat, 0, sizeof lat);
    for (int i = 0; i < 100000; i++)
        histRecord(&lat, (next() >> 40) >> (next() % 24), 1);
    char err[256];
    hmSampler *host = hmSamplerCreate("/proc", NULL, err, sizeof err);
    assert_non_null(host);
    assert_int_equal(hmSamplerSample(host), HM_SRC_COUNT);
    usleep(30000);
    assert_int_equal(hmSamplerSample(host), HM_SRC_COUNT);
    fullCtx f = {host, &lat};
    promServerOptions o = {.render = renderFull, .ctx = &f};
    promServer *s = promServerCreate(&o, err, sizeof err);
    assert_non_null(s);
    size_t len;
    char *resp = request(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", &len);
    assert_int_equal(status(resp), 200);
    const char *body = bodyOf(resp);
    assert_non_null(strstr(body, "xchg_inbox_latency_seconds_bucket{segment=\"0\",le=\"+Inf\"} "
                                 "100000\n"));
    assert_non_null(strstr(body, "xchg_host_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} "));
    char out[8192];
    int rc = promtool(exe, body, out, sizeof out);
    if (rc != 0 || out[0] != '\0')
        fail_msg("promtool check metrics: exit %d: %s", rc, out);
    print_message("promtool check metrics: clean on %zu bytes\n", strlen(body));
    free(resp);

    /* the check is real: promtool refuses what our writer refuses to write */
    rc = promtool(exe, "# TYPE xchg_orders counter\nxchg_orders 1\n", out, sizeof out);
    assert_int_not_equal(rc, 0);
    rc = promtool(exe, "xchg_a{x=\"1} 1\n", out, sizeof out);
    assert_int_not_equal(rc, 0);
    promServerDestroy(s);
    hmSamplerDestroy(host);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-prom-XXXXXX");
    if (mkdtemp(tmpDir) == NULL)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
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
        cmocka_unit_test(test_format_frac),
        cmocka_unit_test(test_writer_text),
        cmocka_unit_test(test_writer_rules),
        cmocka_unit_test(test_writer_overflow),
        cmocka_unit_test(test_hist_known),
        cmocka_unit_test(test_hist_rule),
        cmocka_unit_test(test_server_get),
        cmocka_unit_test(test_server_requests),
        cmocka_unit_test(test_server_split_and_large),
        cmocka_unit_test(test_server_render_fail),
        cmocka_unit_test(test_server_timeouts),
        cmocka_unit_test(test_server_many),
        cmocka_unit_test(test_server_create),
        cmocka_unit_test(test_promtool),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
