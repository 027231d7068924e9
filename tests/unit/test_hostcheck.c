/* test_hostcheck.c -- unit tests of xchgd --check-host (control/hostcheck.c).
 *
 * Two fixture hosts under tests/fixtures/host/: "good" has every tuning item
 * for worker CPUs 1-2 (isolcpus with flags, nohz_full, rcu_nocbs, 1 GiB of
 * hugepages mounted, no IRQ on a worker, performance governor, two queues on
 * eth9), "bad" lacks each in a different way. Then a run on this very host
 * (whatever it has, every item is reported once) and the JSON form. */
#define _GNU_SOURCE
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/hostcheck.h"

#define FIXTURES "tests/fixtures/host"

static cfgSegment segs[2];
static cfgPort port;
static cfgConfig cfg;

static void makeConfig(void)
{
    memset(segs, 0, sizeof segs);
    segs[0].lcore = segs[0].cpu = 1; /* cfgLoad: cpu defaults to the lcore */
    segs[1].lcore = segs[1].cpu = 2;
    memset(&port, 0, sizeof port);
    snprintf(port.name, sizeof port.name, "p0");
    snprintf(port.devargs, sizeof port.devargs, "net_af_packet0,iface=eth9");
    memset(&cfg, 0, sizeof cfg);
    cfg.segments = segs;
    cfg.segmentCount = 2;
    cfg.ports = &port;
    cfg.portCount = 1;
}

static const hcItem *item(const hcReport *r, const char *name)
{
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->items[i].item, name) == 0)
            return &r->items[i];
    fail_msg("no item %s", name);
    return NULL;
}

static void expect(const hcReport *r, const char *name, hcStatus st, const char *detail)
{
    const hcItem *it = item(r, name);
    if (it->status != st || !strstr(it->detail, detail))
        fail_msg("%s: status %d \"%s\", want %d with \"%s\"", name, it->status, it->detail, st,
                 detail);
    assert_true(it->check[0] != 0);
}

static void testCpuList(void **state)
{
    (void)state;
    uint64_t m[HC_MAX_CPUS / 64];
    assert_int_equal(hcParseCpuList("0-3,8,10-11", m), 7);
    assert_int_equal(m[0], 0xdull << 8 | 0xf);
    assert_int_equal(hcParseCpuList("managed_irq,domain,2-3", m), 2);
    assert_int_equal(m[0], 0xc);
    assert_int_equal(hcParseCpuList("1000-1100", m), 24); /* clipped at HC_MAX_CPUS */
    assert_int_equal(hcParseCpuList("all", m), HC_MAX_CPUS);
    assert_int_equal(hcParseCpuList("", m), 0);
    assert_int_equal(hcParseCpuList("1-3\n", m), 3);
    assert_int_equal(hcParseCpuList("1-x", m), -1);
    assert_int_equal(hcParseCpuList("-1", m), -1);
}

static void testGoodHost(void **state)
{
    (void)state;
    static hcReport r;
    makeConfig();
    hcRun(FIXTURES "/good", &cfg, &r);
    assert_string_equal(r.workers, "1-2");
    expect(&r, "isolcpus", HC_OK, "isolcpus=managed_irq,domain,1-2 covers the workers");
    expect(&r, "nohz_full", HC_OK, "nohz_full=1-2");
    expect(&r, "rcu_nocbs", HC_OK, "rcu_nocbs=1-3");
    expect(&r, "hugepages", HC_OK, "1024 MiB reserved, 1000 MiB free");
    expect(&r, "irq_affinity", HC_OK, "none of 3 IRQs");
    expect(&r, "irqbalance", HC_OK, "not running");
    expect(&r, "cpu_governor", HC_OK, "'performance' on every worker CPU");
    expect(&r, "nic_queues", HC_OK, "port p0 (eth9): 2 rx / 2 tx queues for 2 segment(s)");
    expect(&r, "nic_rings", HC_NA, "ring sizes are not in /proc or /sys");
    assert_int_equal(r.warnings, 0);
}

static void testBadHost(void **state)
{
    (void)state;
    static hcReport r;
    makeConfig();
    hcRun(FIXTURES "/bad", &cfg, &r);
    expect(&r, "isolcpus", HC_WARN, "isolcpus=2 leaves worker CPU(s) 1 out");
    expect(&r, "nohz_full", HC_WARN, "not on the kernel command line");
    expect(&r, "rcu_nocbs", HC_WARN, "not on the kernel command line");
    expect(&r, "hugepages", HC_WARN, "128 MiB reserved, 128 MiB free");
    expect(&r, "irq_affinity", HC_WARN, "2 of 3 IRQs may run on worker CPU(s) 1-2 (IRQ ");
    expect(&r, "irqbalance", HC_WARN, "IRQBALANCE_BANNED_CPULIST=1-2");
    expect(&r, "cpu_governor", HC_WARN, "worker CPU(s) 2 use the 'powersave' governor");
    expect(&r, "nic_queues", HC_WARN, "1 rx / 1 tx queues for 2 segment(s)");
    assert_int_equal(r.warnings, 8);
    /* without a config: every CPU but 0 is a worker; no ports */
    hcRun(FIXTURES "/bad", NULL, &r);
    assert_string_equal(r.workers, "1-3");
    expect(&r, "nic_queues", HC_NA, "no configuration");
    /* a root with nothing in it: every item says what it could not read */
    hcRun(FIXTURES "/nonexistent", &cfg, &r);
    expect(&r, "hugepages", HC_NA, "unreadable");
    expect(&r, "irq_affinity", HC_NA, "unreadable");
    expect(&r, "nic_queues", HC_WARN, "interface eth9 not found");
}

static void testThisHostAndJson(void **state)
{
    (void)state;
    static hcReport r;
    hcRun("/", NULL, &r);
    const char *names[] = {"isolcpus",     "nohz_full",  "rcu_nocbs",    "hugepages",
                           "irq_affinity", "irqbalance", "cpu_governor", "nic_queues"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        item(&r, names[i]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    makeConfig();
    hcRun(FIXTURES "/bad", &cfg, &r);
    hcPrint(&r, 1, f);
    fclose(f);
    json_error_t e;
    json_t *o = json_loads(buf, 0, &e);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "warnings")), 8);
    assert_string_equal(json_string_value(json_object_get(o, "worker_cpus")), "1-2");
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), (size_t)r.count);
    json_t *first = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(first, "item")), "isolcpus");
    assert_string_equal(json_string_value(json_object_get(first, "status")), "warn");
    json_decref(o);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    hcPrint(&r, 0, f);
    fclose(f);
    assert_non_null(strstr(buf, "cpu_governor  warn  worker CPU(s) 2 use the 'powersave'"));
    assert_non_null(strstr(buf, "8 warning(s)"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCpuList),
        cmocka_unit_test(testGoodHost),
        cmocka_unit_test(testBadHost),
        cmocka_unit_test(testThisHostAndJson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
