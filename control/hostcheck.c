/* hostcheck.c -- xchgd --check-host: isolation, hugepages, IRQs, governor and NIC queues of this
 * host.
 *
 * Every check reads files under a root directory and compares them with the
 * worker CPUs; docs/tuning.md explains each item and how to fix it. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/cpulist.h"
#include "control/hostcheck.h"

#define HC_HUGE_NEED (512ull << 20) /* what xchgd needs free to use hugepages */

typedef uint64_t hcMask[HC_MAX_CPUS / 64];

static void hcSet(uint64_t *m, unsigned cpu)
{
    if (cpu < HC_MAX_CPUS)
        m[cpu / 64] |= 1ull << (cpu % 64);
}

static int hcHas(const uint64_t *m, unsigned cpu)
{
    return cpu < HC_MAX_CPUS && (m[cpu / 64] >> (cpu % 64) & 1);
}

/* CPUs of `want` missing from `have`, as a list in out; returns how many. */
static int hcMissing(const uint64_t *want, const uint64_t *have, char *out, size_t len)
{
    int n = 0;
    size_t at = 0;
    out[0] = 0;
    for (unsigned c = 0; c < HC_MAX_CPUS; c++)
        if (hcHas(want, c) && !hcHas(have, c)) {
            if (at < len)
                at += (size_t)snprintf(out + at, len - at, "%s%u", n ? "," : "", c);
            n++;
        }
    return n;
}

static void hcMaskString(const uint64_t *m, char *out, size_t len)
{
    size_t at = 0;
    out[0] = 0;
    for (unsigned c = 0; c < HC_MAX_CPUS && at < len; c++) {
        if (!hcHas(m, c))
            continue;
        unsigned e = c;
        while (e + 1 < HC_MAX_CPUS && hcHas(m, e + 1))
            e++;
        at += (size_t)(e > c ? snprintf(out + at, len - at, "%s%u-%u", at ? "," : "", c, e)
                             : snprintf(out + at, len - at, "%s%u", at ? "," : "", c));
        c = e;
    }
}

int hcParseCpuList(const char *s, uint64_t mask[HC_MAX_CPUS / 64])
{
    return cpuListParse(s, mask);
}

/* ---- reading files ---------------------------------------------------------------- */

static int hcRead(const char *root, const char *path, char *buf, size_t len)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", strcmp(root, "/") == 0 ? "" : root, path);
    FILE *f = fopen(full, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
    return (int)n;
}

static DIR *hcOpenDir(const char *root, const char *path)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", strcmp(root, "/") == 0 ? "" : root, path);
    return opendir(full);
}

/* The value of a kernel parameter in cmdline ("isolcpus" -> "1-3"), or NULL. */
static const char *hcParam(const char *cmdline, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    for (const char *p = cmdline; (p = strstr(p, key)) != NULL; p += kl) {
        if ((p == cmdline || isspace((unsigned char)p[-1])) && p[kl] == '=') {
            snprintf(out, len, "%.*s", (int)strcspn(p + kl + 1, " \t\n"), p + kl + 1);
            return out;
        }
    }
    return NULL;
}

static hcItem *hcAdd(hcReport *r, const char *item, hcStatus st, const char *check, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
static hcItem *hcAdd(hcReport *r, const char *item, hcStatus st, const char *check, const char *fmt,
                     ...)
{
    if (r->count >= HC_MAX_ITEMS)
        return NULL;
    hcItem *it = &r->items[r->count++];
    snprintf(it->item, sizeof it->item, "%s", item);
    snprintf(it->check, sizeof it->check, "%s", check);
    it->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->detail, sizeof it->detail, fmt, ap);
    va_end(ap);
    r->warnings += st == HC_WARN;
    return it;
}

/* ---- the checks ------------------------------------------------------------------- */

/* isolcpus, nohz_full, rcu_nocbs: each must cover every worker CPU. */
static void hcCmdlineItem(hcReport *r, const char *cmdline, const char *key)
{
    char val[512], miss[256], check[64];
    hcMask m;
    snprintf(check, sizeof check, "grep -o '%s=[^ ]*' /proc/cmdline", key);
    if (!hcParam(cmdline, key, val, sizeof val)) {
        hcAdd(r, key, HC_WARN, check, "not on the kernel command line (workers %s)", r->workers);
        return;
    }
    if (hcParseCpuList(val, m) < 0) {
        hcAdd(r, key, HC_WARN, check, "%s=%s: cannot parse the CPU list", key, val);
        return;
    }
    int n = hcMissing(r->workerMask, m, miss, sizeof miss);
    if (n)
        hcAdd(r, key, HC_WARN, check, "%s=%s leaves worker CPU(s) %s out", key, val, miss);
    else
        hcAdd(r, key, HC_OK, check, "%s=%s covers the workers (%s)", key, val, r->workers);
}

static unsigned long long hcMeminfo(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void hcHugepages(hcReport *r, const char *root)
{
    static char meminfo[16384], mounts[16384];
    const char *check = "grep -i huge /proc/meminfo; grep hugetlbfs /proc/mounts";
    if (hcRead(root, "/proc/meminfo", meminfo, sizeof meminfo) < 0) {
        hcAdd(r, "hugepages", HC_NA, check, "/proc/meminfo unreadable");
        return;
    }
    unsigned long long total = hcMeminfo(meminfo, "HugePages_Total:");
    unsigned long long freeP = hcMeminfo(meminfo, "HugePages_Free:");
    unsigned long long kb = hcMeminfo(meminfo, "Hugepagesize:");
    int mounted = hcRead(root, "/proc/mounts", mounts, sizeof mounts) > 0 &&
                  strstr(mounts, " hugetlbfs ") != NULL;
    unsigned long long freeB = freeP * kb * 1024, totalB = total * kb * 1024;
    if (!mounted)
        hcAdd(r, "hugepages", HC_WARN, check,
              "no hugetlbfs mounted (%llu MiB reserved, %llu MiB free); xchgd runs --no-huge",
              totalB >> 20, freeB >> 20);
    else if (freeB < HC_HUGE_NEED)
        hcAdd(r, "hugepages", HC_WARN, check,
              "%llu MiB reserved, %llu MiB free of %llu kB pages: below the %llu MiB xchgd "
              "needs; it runs --no-huge",
              totalB >> 20, freeB >> 20, kb, HC_HUGE_NEED >> 20);
    else
        hcAdd(r, "hugepages", HC_OK, check, "%llu MiB reserved, %llu MiB free (%llu kB pages)",
              totalB >> 20, freeB >> 20, kb);
}

/* Interrupts whose affinity includes a worker CPU. */
static void hcIrqs(hcReport *r, const char *root)
{
    const char *check = "grep . /proc/irq/*/smp_affinity_list";
    DIR *d = hcOpenDir(root, "/proc/irq");
    if (!d) {
        hcAdd(r, "irq_affinity", HC_NA, check, "/proc/irq unreadable");
        return;
    }
    int total = 0, bad = 0;
    char list[128] = "";
    size_t at = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], val[256];
        hcMask m;
        snprintf(path, sizeof path, "/proc/irq/%s/smp_affinity_list", e->d_name);
        if (hcRead(root, path, val, sizeof val) <= 0 || hcParseCpuList(val, m) < 0)
            continue;
        total++;
        char miss[8];
        hcMask inter;
        for (int i = 0; i < HC_MAX_CPUS / 64; i++)
            inter[i] = m[i] & r->workerMask[i];
        hcMask none = {0};
        if (hcMissing(inter, none, miss, sizeof miss) > 0) {
            if (bad < 8 && at < sizeof list)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", bad ? "," : "",
                                       e->d_name);
            bad++;
        }
    }
    closedir(d);
    if (total == 0)
        hcAdd(r, "irq_affinity", HC_NA, check, "no IRQ affinity readable");
    else if (bad)
        hcAdd(r, "irq_affinity", HC_WARN, check,
              "%d of %d IRQs may run on worker CPU(s) %s (IRQ %s%s)", bad, total, r->workers, list,
              bad > 8 ? ",..." : "");
    else
        hcAdd(r, "irq_affinity", HC_OK, check, "none of %d IRQs may run on worker CPU(s) %s", total,
              r->workers);
}

/* irqbalance would move IRQs back onto the workers unless told to ban them. */
static void hcIrqbalance(hcReport *r, const char *root)
{
    const char *check = "pgrep -a irqbalance";
    DIR *d = hcOpenDir(root, "/proc");
    int found = 0;
    if (!d) {
        hcAdd(r, "irqbalance", HC_NA, check, "/proc unreadable");
        return;
    }
    const struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char path[300], comm[64];
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        found = hcRead(root, path, comm, sizeof comm) > 0 && strncmp(comm, "irqbalance", 10) == 0;
    }
    closedir(d);
    if (found)
        hcAdd(r, "irqbalance", HC_WARN, check,
              "irqbalance runs: ban the worker CPUs (IRQBALANCE_BANNED_CPULIST=%s) or stop it",
              r->workers);
    else
        hcAdd(r, "irqbalance", HC_OK, check, "not running");
}

static void hcGovernor(hcReport *r, const char *root)
{
    const char *check = "cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor";
    int seen = 0, bad = 0;
    char badList[128] = "", gov[64] = "";
    size_t at = 0;
    for (unsigned c = 0; c < HC_MAX_CPUS; c++) {
        if (!hcHas(r->workerMask, c))
            continue;
        char path[128], val[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_governor", c);
        if (hcRead(root, path, val, sizeof val) <= 0)
            continue;
        val[strcspn(val, "\n")] = 0;
        seen++;
        if (strcmp(val, "performance") != 0) {
            if (at < sizeof badList)
                at +=
                    (size_t)snprintf(badList + at, sizeof badList - at, "%s%u", bad ? "," : "", c);
            snprintf(gov, sizeof gov, "%s", val);
            bad++;
        }
    }
    if (!seen)
        hcAdd(r, "cpu_governor", HC_NA, check,
              "no cpufreq for the worker CPUs (a VM or a fixed-frequency CPU)");
    else if (bad)
        hcAdd(r, "cpu_governor", HC_WARN, check,
              "worker CPU(s) %s use the '%s' governor, not 'performance'", badList, gov);
    else
        hcAdd(r, "cpu_governor", HC_OK, check, "'performance' on every worker CPU");
}

static void hcPortIface(const cfgPort *p, char *iface, size_t len)
{
    iface[0] = 0;
    const char *k = strstr(p->devargs, ",iface=");
    if (k)
        snprintf(iface, len, "%.*s", (int)strcspn(k + 7, ","), k + 7);
}

static int hcCountPrefix(const char *root, const char *dir, const char *prefix)
{
    DIR *d = hcOpenDir(root, dir);
    int n = 0;
    if (!d)
        return -1;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Queues per port against the segments; ring sizes are not in /sys. */
static void hcNics(hcReport *r, const char *root, const cfgConfig *cfg)
{
    if (!cfg || cfg->portCount == 0) {
        hcAdd(r, "nic_queues", HC_NA, "ls /sys/class/net/IFACE/queues",
              "no configuration: no ports to check");
        return;
    }
    for (uint32_t i = 0; i < cfg->portCount; i++) {
        const cfgPort *p = &cfg->ports[i];
        char iface[32], dir[160], check[200];
        hcPortIface(p, iface, sizeof iface);
        if (!iface[0]) {
            snprintf(check, sizeof check, "ethtool -l <interface of %.40s>", p->devargs);
            hcAdd(r, "nic_queues", HC_NA, check, "port %s (%s): not a kernel interface", p->name,
                  p->devargs);
            continue;
        }
        snprintf(dir, sizeof dir, "/sys/class/net/%s/queues", iface);
        snprintf(check, sizeof check, "ls /sys/class/net/%s/queues; ethtool -l %s", iface, iface);
        int rx = hcCountPrefix(root, dir, "rx-"), tx = hcCountPrefix(root, dir, "tx-");
        if (rx < 0)
            hcAdd(r, "nic_queues", HC_WARN, check, "port %s: interface %s not found", p->name,
                  iface);
        else if ((uint32_t)rx < cfg->segmentCount || (uint32_t)tx < cfg->segmentCount)
            hcAdd(r, "nic_queues", HC_WARN, check,
                  "port %s (%s): %d rx / %d tx queues for %u segment(s)", p->name, iface, rx, tx,
                  cfg->segmentCount);
        else
            hcAdd(r, "nic_queues", HC_OK, check,
                  "port %s (%s): %d rx / %d tx queues for %u segment(s)", p->name, iface, rx, tx,
                  cfg->segmentCount);
        snprintf(check, sizeof check, "ethtool -g %s", iface);
        hcAdd(r, "nic_rings", HC_NA, check,
              "port %s (%s): ring sizes are not in /proc or /sys; xchgd asks the PMD for 1024 "
              "descriptors per queue",
              p->name, iface);
    }
}

/* Worker CPUs: the config's segment lcores, else every CPU but 0. */
static void hcWorkers(hcReport *r, const char *root, const cfgConfig *cfg)
{
    memset(r->workerMask, 0, sizeof r->workerMask);
    if (cfg) {
        for (uint32_t i = 0; i < cfg->segmentCount; i++)
            hcSet(r->workerMask, cfg->segments[i].cpu);
    } else {
        char online[256];
        hcMask m;
        if (hcRead(root, "/sys/devices/system/cpu/online", online, sizeof online) > 0 &&
            hcParseCpuList(online, m) > 0) {
            memcpy(r->workerMask, m, sizeof m);
            r->workerMask[0] &= ~1ull;
        }
    }
    hcMaskString(r->workerMask, r->workers, sizeof r->workers);
    if (!r->workers[0])
        snprintf(r->workers, sizeof r->workers, "none");
}

void hcRun(const char *root, const cfgConfig *cfg, hcReport *out)
{
    static char cmdline[8192];
    memset(out, 0, sizeof *out);
    hcWorkers(out, root, cfg);
    if (hcRead(root, "/proc/cmdline", cmdline, sizeof cmdline) < 0) {
        hcAdd(out, "cmdline", HC_NA, "cat /proc/cmdline", "/proc/cmdline unreadable");
        cmdline[0] = 0;
    }
    hcCmdlineItem(out, cmdline, "isolcpus");
    hcCmdlineItem(out, cmdline, "nohz_full");
    hcCmdlineItem(out, cmdline, "rcu_nocbs");
    hcHugepages(out, root);
    hcIrqs(out, root);
    hcIrqbalance(out, root);
    hcGovernor(out, root);
    hcNics(out, root, cfg);
}

/* ---- output ----------------------------------------------------------------------- */

static const char *const hcStatusName[] = {"ok", "warn", "n/a"};

void hcPrint(const hcReport *r, int json, FILE *f)
{
    if (json) {
        json_t *items = json_array();
        for (int i = 0; i < r->count; i++)
            json_array_append_new(items,
                                  json_pack("{s:s, s:s, s:s, s:s}", "item", r->items[i].item,
                                            "status", hcStatusName[r->items[i].status], "detail",
                                            r->items[i].detail, "check", r->items[i].check));
        json_t *o = json_pack("{s:s, s:i, s:o}", "worker_cpus", r->workers, "warnings", r->warnings,
                              "items", items);
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
        return;
    }
    fprintf(f, "xchg host check (worker CPUs %s; docs/tuning.md explains each item)\n\n",
            r->workers);
    fprintf(f, "%-13s %-5s %s\n", "ITEM", "STATE", "DETAIL / HOW TO CHECK");
    for (int i = 0; i < r->count; i++) {
        const hcItem *it = &r->items[i];
        fprintf(f, "%-13s %-5s %s\n", it->item, hcStatusName[it->status], it->detail);
        fprintf(f, "%-13s %-5s   $ %s\n", "", "", it->check);
    }
    fprintf(f, "\n%d warning(s)\n", r->warnings);
}

int hcMain(const char *configPath, const char *root, int json, FILE *f)
{
    static cfgConfig cfg;
    static hcReport r;
    char err[512];
    const cfgConfig *c = &cfg;
    if (cfgLoad(configPath, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "xchgd --check-host: %s: checking without a configuration\n", err);
        c = NULL;
    }
    hcRun(root ? root : "/", c, &r);
    hcPrint(&r, json, f);
    cfgFree(&cfg);
    return 0;
}
