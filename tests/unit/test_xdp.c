/* test_xdp.c -- unit tests of the XDP filter program and its loader
 * (dataplane/xdp/filter.bpf.c, filter.c).
 *
 * Loads the compiled object (bpf/ beside this program's tests/ directory)
 * without attaching it and runs crafted frames through it in the kernel
 * with BPF_PROG_TEST_RUN: every verdict and counter of docs/xdp-filter.md,
 * the allowlist map operations and the loader's failure paths. The frames
 * never touch a network. Needs root (CAP_BPF); skipped otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "dataplane/xdp/filter.h"
#include "dataplane/xdp/xdpctl.h"

#define SELF    0xC6120001u /* 198.18.0.1 */
#define CLIENT  0xC6120002u /* 198.18.0.2, allowed */
#define STRANGE 0xC6120003u /* 198.18.0.3, not allowed */
#define OPORT   9000
#define FEED    9100

static char objPath[512];
static xdpFilter *F;

/* ---- frames ---- */

typedef struct {
    uint32_t src, dst;
    uint16_t dport;
    uint8_t proto, ihl;
    uint16_t frag;  /* host order: flags and offset */
    size_t cut;     /* frame length; 0 = whole */
    uint16_t ether; /* 0 = IPv4 */
} frameSpec;

static size_t buildIp(const frameSpec *s, uint8_t *f)
{
    memset(f, 0, 128);
    memset(f, 0x02, 12); /* MACs */
    uint16_t et = htons(s->ether ? s->ether : 0x0800);
    memcpy(f + 12, &et, 2);
    uint8_t *ip = f + 14;
    uint8_t ihl = s->ihl ? s->ihl : 5;
    ip[0] = (uint8_t)(0x40 | ihl);
    uint16_t tot = htons((uint16_t)(ihl * 4 + 8 + 32));
    memcpy(ip + 2, &tot, 2);
    uint16_t frag = htons(s->frag);
    memcpy(ip + 6, &frag, 2);
    ip[8] = 64;
    ip[9] = s->proto ? s->proto : 17;
    uint32_t a = htonl(s->src), b = htonl(s->dst ? s->dst : SELF);
    memcpy(ip + 12, &a, 4);
    memcpy(ip + 16, &b, 4);
    uint8_t *udp = ip + ihl * 4;
    uint16_t sp = htons(40000), dp = htons(s->dport ? s->dport : OPORT), ul = htons(40);
    memcpy(udp, &sp, 2);
    memcpy(udp + 2, &dp, 2);
    memcpy(udp + 4, &ul, 2);
    size_t whole = 14 + (size_t)ihl * 4 + 8 + 32;
    return s->cut ? s->cut : whole;
}

static size_t buildArp(uint32_t target, uint8_t *f)
{
    static const uint8_t hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memset(f, 0, 128);
    memset(f, 0xff, 6);
    memset(f + 6, 0x02, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    memcpy(f + 14, hdr, 8);
    uint32_t t = htonl(target), s = htonl(CLIENT);
    memcpy(f + 14 + 14, &s, 4);
    memcpy(f + 14 + 24, &t, 4);
    return 60;
}

/* Runs a frame; checks the action and that exactly counter `reason` grew by 1. */
static void expect(const uint8_t *frame, size_t len, int action, int reason)
{
    uint64_t before[XDPF_REASON_COUNT], after[XDPF_REASON_COUNT];
    assert_int_equal(xdpReadCounters(F, before), 0);
    assert_int_equal(xdpRun(F, frame, len), action);
    assert_int_equal(xdpReadCounters(F, after), 0);
    for (int r = 0; r < XDPF_REASON_COUNT; r++)
        if (after[r] - before[r] != (uint64_t)(r == reason)) {
            fail_msg("counter %s moved by %llu (expected the %s counter to move by 1)",
                     xdpReasonName(r), (unsigned long long)(after[r] - before[r]),
                     xdpReasonName(reason));
        }
}

static void expectIp(frameSpec s, int action, int reason)
{
    uint8_t f[128];
    size_t n = buildIp(&s, f);
    expect(f, n, action, reason);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    char exe[400], err[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    snprintf(objPath, sizeof objPath, "%s/../bpf/xchg_filter.bpf.o", dirname(exe));
    if (geteuid() != 0)
        return 0;
    F = xdpLoad(objPath, NULL, XDP_ATTACH_AUTO, err, sizeof err);
    if (!F) {
        fprintf(stderr, "test_xdp: %s\n", err);
        return -1;
    }
    if (xdpSetSelf(F, SELF) || xdpAddPort(F, OPORT, 0) || xdpAllowAdd(F, CLIENT, OPORT))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xdpClose(F);
    F = NULL;
    return 0;
}

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (!F)                                                                                    \
            skip();                                                                                \
    } while (0)

/* ---- tests ---- */

static void testOrderEntry(void **state)
{
    (void)state;
    NEED_ROOT();
    expectIp((frameSpec){.src = CLIENT}, XDP_PASS, XDPF_ALLOWED);
    expectIp((frameSpec){.src = STRANGE}, XDP_DROP, XDPF_NOT_ALLOWED);
    /* IP options: the UDP header is found after them */
    expectIp((frameSpec){.src = CLIENT, .ihl = 7}, XDP_PASS, XDPF_ALLOWED);
    expectIp((frameSpec){.src = STRANGE, .ihl = 7}, XDP_DROP, XDPF_NOT_ALLOWED);
    /* allowed on 9000 is not allowed on another order port */
    assert_int_equal(xdpAddPort(F, 9001, 1), 0);
    expectIp((frameSpec){.src = CLIENT, .dport = 9001}, XDP_DROP, XDPF_NOT_ALLOWED);
}

static void testSpoofed(void **state)
{
    (void)state;
    NEED_ROOT();
    static const uint32_t bogus[] = {SELF, 0x7F000001u, 0, 0xFFFFFFFFu, 0xE0000001u, 0xF0000001u};
    /* even with the port open to any source */
    assert_int_equal(xdpAllowAdd(F, 0, OPORT), 0);
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++)
        expectIp((frameSpec){.src = bogus[i]}, XDP_DROP, XDPF_SPOOFED);
    assert_int_equal(xdpAllowDel(F, 0, OPORT), 0);
}

static void testWildcard(void **state)
{
    (void)state;
    NEED_ROOT();
    expectIp((frameSpec){.src = STRANGE}, XDP_DROP, XDPF_NOT_ALLOWED);
    assert_int_equal(xdpAllowAdd(F, 0, OPORT), 0);
    expectIp((frameSpec){.src = STRANGE}, XDP_PASS, XDPF_ALLOWED);
    assert_int_equal(xdpAllowDel(F, 0, OPORT), 0);
    expectIp((frameSpec){.src = STRANGE}, XDP_DROP, XDPF_NOT_ALLOWED);
}

static void testNotOrderEntry(void **state)
{
    (void)state;
    NEED_ROOT();
    uint8_t f[128];
    expect(f, buildArp(SELF, f), XDP_PASS, XDPF_OTHER);
    expect(f, buildArp(STRANGE, f), XDP_PASS, XDPF_OTHER);
    expectIp((frameSpec){.src = STRANGE, .proto = 1}, XDP_PASS, XDPF_OTHER);      /* ICMP */
    expectIp((frameSpec){.src = STRANGE, .proto = 6}, XDP_PASS, XDPF_OTHER);      /* TCP */
    expectIp((frameSpec){.src = STRANGE, .dport = FEED}, XDP_PASS, XDPF_OTHER);   /* retrans */
    expectIp((frameSpec){.src = STRANGE, .ether = 0x86DD}, XDP_PASS, XDPF_OTHER); /* IPv6 */
}

static void testFragments(void **state)
{
    (void)state;
    NEED_ROOT();
    expectIp((frameSpec){.src = CLIENT, .frag = 0x2000}, XDP_DROP, XDPF_FRAGMENT); /* MF */
    expectIp((frameSpec){.src = CLIENT, .frag = 0x0010}, XDP_DROP, XDPF_FRAGMENT); /* offset */
    /* DF alone is not a fragment */
    expectIp((frameSpec){.src = CLIENT, .frag = 0x4000}, XDP_PASS, XDPF_ALLOWED);
    /* a fragment for another host is the kernel's business */
    expectIp((frameSpec){.src = CLIENT, .dst = 0xC6120009u, .frag = 0x2000}, XDP_PASS, XDPF_OTHER);
}

static void testMalformed(void **state)
{
    (void)state;
    NEED_ROOT();
    expectIp((frameSpec){.src = CLIENT, .cut = 14 + 12}, XDP_DROP, XDPF_MALFORMED);
    expectIp((frameSpec){.src = CLIENT, .ihl = 4}, XDP_DROP, XDPF_MALFORMED);
    /* IHL 15 (60 bytes) in a frame that ends before the UDP header */
    expectIp((frameSpec){.src = CLIENT, .ihl = 15, .cut = 14 + 60 + 4}, XDP_DROP, XDPF_MALFORMED);
    expectIp((frameSpec){.src = CLIENT, .cut = 14 + 20 + 7}, XDP_DROP, XDPF_MALFORMED);
}

static void testAllowMap(void **state)
{
    (void)state;
    NEED_ROOT();
    xdpEntry e[8];
    int n = xdpAllowList(F, e, 8);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].ip, CLIENT);
    assert_int_equal(e[0].port, OPORT);
    uint64_t before = e[0].packets;
    expectIp((frameSpec){.src = CLIENT}, XDP_PASS, XDPF_ALLOWED);
    assert_int_equal(xdpAllowList(F, e, 8), 1);
    assert_int_equal(e[0].packets, before + 1);
    /* adding again keeps the count */
    assert_int_equal(xdpAllowAdd(F, CLIENT, OPORT), 0);
    assert_int_equal(xdpAllowList(F, e, 8), 1);
    assert_int_equal(e[0].packets, before + 1);
    assert_int_equal(xdpAllowDel(F, STRANGE, OPORT), -ENOENT);
    assert_int_equal(xdpAllowDel(F, CLIENT, OPORT), 0);
    assert_int_equal(xdpAllowList(F, e, 8), 0);
    expectIp((frameSpec){.src = CLIENT}, XDP_DROP, XDPF_NOT_ALLOWED);
    assert_int_equal(xdpAllowAdd(F, CLIENT, OPORT), 0);
    assert_string_equal(xdpHow(F), "loaded");
    assert_string_equal(xdpReasonName(XDPF_NOT_ALLOWED), "not_allowed");
    assert_string_equal(xdpReasonName(XDPF_REASON_COUNT), "unknown");
}

static void testLoaderErrors(void **state)
{
    (void)state;
    NEED_ROOT();
    char err[512] = "";
    assert_null(xdpLoad("/nonexistent/filter.o", NULL, XDP_ATTACH_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "cannot open BPF object '/nonexistent/filter.o'"));
    assert_null(xdpLoad(objPath, "nosuchif0", XDP_ATTACH_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "interface 'nosuchif0'"));
    assert_null(xdpAdopt("nosuchif0", err, sizeof err));
    assert_non_null(strstr(err, "interface 'nosuchif0'"));
    assert_null(xdpAdopt("lo", err, sizeof err)); /* no XDP program on lo */
    assert_non_null(strstr(err, "has no XDP program"));
    xdpClose(NULL);
}

/* With the filter not started (as in xchgd with filter.enabled = false) the
 * metrics say so and the counters read zero; the text is valid exposition. */
static void testMetricsOff(void **state)
{
    (void)state;
    char buf[4096];
    promWriter w;
    uint64_t c[XDPF_REASON_COUNT];
    promWriterInit(&w, buf, sizeof buf);
    assert_int_equal(xdpCtlMetricsRender(NULL, &w), 0);
    assert_false(w.invalid);
    assert_non_null(strstr(buf, "# TYPE xchg_xdp_packets_total counter\n"));
    assert_non_null(strstr(buf, "xchg_xdp_enabled 0\n"));
    assert_non_null(strstr(buf, "xchg_xdp_packets_total{reason=\"not_allowed\"} 0\n"));
    assert_non_null(strstr(buf, "xchg_xdp_allowlist_entries 0\n"));
    assert_int_equal(xdpCtlCounters(c), 0);
    assert_string_equal(xdpCtlSessionAdded(1, CLIENT, OPORT), "off");
    xdpCtlSessionRemoved(1); /* harmless when off */
    /* a writer too small for the families fails the render */
    char tiny[64];
    promWriterInit(&w, tiny, sizeof tiny);
    assert_int_equal(xdpCtlMetricsRender(NULL, &w), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testOrderEntry), cmocka_unit_test(testSpoofed),
        cmocka_unit_test(testWildcard),   cmocka_unit_test(testNotOrderEntry),
        cmocka_unit_test(testFragments),  cmocka_unit_test(testMalformed),
        cmocka_unit_test(testAllowMap),   cmocka_unit_test(testLoaderErrors),
        cmocka_unit_test(testMetricsOff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
