/* hostmon.c -- /proc parsers, the two-sample sampler and its Prometheus rendering (hostmon.h).
 *
 * Every parser walks the text line by line with a small cursor, splits a row
 * at its first ':' where the file has labels, and reads numbers as strict
 * unsigned decimals (no sign, no overflow). Nothing allocates after
 * hmSampleCreate: names are copied into fixed arrays, per-CPU tables are
 * [row * maxCpus + column]. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control/hostmon.h"

static const char *const hmFiles[HM_SRC_COUNT] = {"stat",       "loadavg", "softirqs",
                                                  "interrupts", "meminfo", "net/dev"};
static const char *const hmNames[HM_SRC_COUNT] = {"stat",       "loadavg", "softirqs",
                                                  "interrupts", "meminfo", "netdev"};

const char *hmSourceFile(hmSource src)
{
    return (unsigned)src < HM_SRC_COUNT ? hmFiles[src] : "?";
}

const char *hmSourceName(hmSource src)
{
    return (unsigned)src < HM_SRC_COUNT ? hmNames[src] : "?";
}

static uint64_t hmNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- limits and samples ---------------------------------------------------------- */

void hmLimitsResolve(hmLimits *out, const hmLimits *in)
{
    hmLimits l;
    if (in)
        l = *in;
    else
        memset(&l, 0, sizeof l);
    if (l.maxCpus == 0) {
        long n = sysconf(_SC_NPROCESSORS_CONF);
        l.maxCpus = n > 16 ? (uint32_t)n : 16;
    }
    if (l.maxSoftirqs == 0)
        l.maxSoftirqs = 32;
    if (l.maxIrqs == 0)
        l.maxIrqs = 1024;
    if (l.maxMemFields == 0)
        l.maxMemFields = 128;
    if (l.maxIfaces == 0)
        l.maxIfaces = 256;
    if (l.readBuf == 0)
        l.readBuf = 1u << 20;
    if (l.clockTicks == 0) {
        long hz = sysconf(_SC_CLK_TCK);
        l.clockTicks = hz > 0 ? (uint32_t)hz : 100;
    }
    *out = l;
}

hmSample *hmSampleCreate(const hmLimits *lim)
{
    hmSample *smp = calloc(1, sizeof *smp);
    if (smp == NULL)
        return NULL;
    hmLimitsResolve(&smp->lim, lim);
    const hmLimits *l = &smp->lim;
    smp->cpuOnline = calloc(l->maxCpus, sizeof *smp->cpuOnline);
    smp->cpu = calloc(l->maxCpus, sizeof *smp->cpu);
    smp->softColCpu = calloc(l->maxCpus, sizeof *smp->softColCpu);
    smp->softName = calloc(l->maxSoftirqs, sizeof *smp->softName);
    smp->softCount = calloc((size_t)l->maxSoftirqs * l->maxCpus, sizeof *smp->softCount);
    smp->irqColCpu = calloc(l->maxCpus, sizeof *smp->irqColCpu);
    smp->irq = calloc(l->maxIrqs, sizeof *smp->irq);
    smp->irqCount = calloc((size_t)l->maxIrqs * l->maxCpus, sizeof *smp->irqCount);
    smp->mem = calloc(l->maxMemFields, sizeof *smp->mem);
    smp->net = calloc(l->maxIfaces, sizeof *smp->net);
    if (!smp->cpuOnline || !smp->cpu || !smp->softColCpu || !smp->softName || !smp->softCount ||
        !smp->irqColCpu || !smp->irq || !smp->irqCount || !smp->mem || !smp->net) {
        hmSampleFree(smp);
        return NULL;
    }
    return smp;
}

void hmSampleFree(hmSample *smp)
{
    if (smp == NULL)
        return;
    free(smp->cpuOnline);
    free(smp->cpu);
    free(smp->softColCpu);
    free(smp->softName);
    free(smp->softCount);
    free(smp->irqColCpu);
    free(smp->irq);
    free(smp->irqCount);
    free(smp->mem);
    free(smp->net);
    free(smp);
}

const hmMemField *hmMemFind(const hmSample *smp, const char *name)
{
    for (uint32_t i = 0; i < smp->memCount; i++)
        if (strcmp(smp->mem[i].name, name) == 0)
            return &smp->mem[i];
    return NULL;
}

const hmNetDev *hmNetFind(const hmSample *smp, const char *name)
{
    for (uint32_t i = 0; i < smp->ifCount; i++)
        if (strcmp(smp->net[i].name, name) == 0)
            return &smp->net[i];
    return NULL;
}

/* ---- text cursor ----------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
} hmCur;

static bool hmIsSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The next line of *text (without its newline) in *line. False at the end. */
static bool hmNextLine(hmCur *text, hmCur *line)
{
    if (text->p >= text->end)
        return false;
    const char *nl = memchr(text->p, '\n', (size_t)(text->end - text->p));
    line->p = text->p;
    line->end = nl ? nl : text->end;
    text->p = nl ? nl + 1 : text->end;
    return true;
}

static void hmSkipSpace(hmCur *c)
{
    while (c->p < c->end && hmIsSpace(*c->p))
        c->p++;
}

static bool hmBlank(hmCur c)
{
    hmSkipSpace(&c);
    return c.p >= c.end;
}

/* The next space-separated token. False at the end of the line. */
static bool hmToken(hmCur *c, hmCur *tok)
{
    hmSkipSpace(c);
    if (c->p >= c->end)
        return false;
    tok->p = c->p;
    while (c->p < c->end && !hmIsSpace(*c->p))
        c->p++;
    tok->end = c->p;
    return true;
}

static bool hmTokEq(hmCur tok, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(tok.end - tok.p) == n && memcmp(tok.p, s, n) == 0;
}

/* A strict unsigned decimal. */
static bool hmU64(hmCur tok, uint64_t *out)
{
    if (tok.p >= tok.end)
        return false;
    uint64_t v = 0;
    for (const char *q = tok.p; q < tok.end; q++) {
        if (*q < '0' || *q > '9')
            return false;
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool hmNextU64(hmCur *c, uint64_t *out)
{
    hmCur tok;
    return hmToken(c, &tok) && hmU64(tok, out);
}

/* "12.34" as hundredths (further digits are cut); at most UINT32_MAX. */
static bool hmHundredths(hmCur tok, uint32_t *out)
{
    const char *dot = memchr(tok.p, '.', (size_t)(tok.end - tok.p));
    hmCur ip = {tok.p, dot ? dot : tok.end};
    uint64_t whole, frac = 0;
    if (!hmU64(ip, &whole))
        return false;
    if (dot) {
        const char *q = dot + 1;
        if (q >= tok.end)
            return false;
        for (int i = 0; i < 2; i++) {
            frac *= 10;
            if (q < tok.end) {
                if (*q < '0' || *q > '9')
                    return false;
                frac += (uint64_t)(*q - '0');
                q++;
            }
        }
        for (; q < tok.end; q++)
            if (*q < '0' || *q > '9')
                return false;
    }
    if (whole > (UINT32_MAX - frac) / 100)
        return false;
    *out = (uint32_t)(whole * 100 + frac);
    return true;
}

/* Splits a line at its first ':' into the trimmed label and the rest. False
 * if there is no ':' or the label is empty or has inner spaces. */
static bool hmSplitLabel(hmCur line, hmCur *label, hmCur *rest)
{
    const char *colon = memchr(line.p, ':', (size_t)(line.end - line.p));
    if (colon == NULL)
        return false;
    hmCur l = {line.p, colon};
    hmSkipSpace(&l);
    while (l.end > l.p && hmIsSpace(l.end[-1]))
        l.end--;
    if (l.p >= l.end)
        return false;
    for (const char *q = l.p; q < l.end; q++)
        if (hmIsSpace(*q))
            return false;
    *label = l;
    rest->p = colon + 1;
    rest->end = line.end;
    return true;
}

/* Copies a token into a fixed name field. False if it does not fit. */
static bool hmCopyName(char *dst, size_t cap, hmCur tok)
{
    size_t n = (size_t)(tok.end - tok.p);
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, tok.p, n);
    dst[n] = '\0';
    return true;
}

/* ---- /proc/stat ------------------------------------------------------------------ */

int hmParseStat(hmSample *smp, const char *text, size_t len)
{
    const uint32_t maxCpus = smp->lim.maxCpus;
    memset(smp->cpuOnline, 0, maxCpus * sizeof *smp->cpuOnline);
    memset(smp->cpu, 0, maxCpus * sizeof *smp->cpu);
    memset(&smp->cpuAll, 0, sizeof smp->cpuAll);
    smp->cpuCount = 0;
    smp->statHave = 0;
    smp->ctxt = smp->btime = smp->processes = 0;
    smp->procsRunning = smp->procsBlocked = smp->intrTotal = smp->softirqTotal = 0;
    smp->malformed[HM_SRC_STAT] = smp->dropped[HM_SRC_STAT] = 0;
    smp->ok &= ~(1u << HM_SRC_STAT);

    static const struct {
        const char *key;
        uint32_t bit;
        size_t off;
    } scalars[] = {
        {"ctxt", HM_STAT_CTXT, offsetof(hmSample, ctxt)},
        {"btime", HM_STAT_BTIME, offsetof(hmSample, btime)},
        {"processes", HM_STAT_PROCESSES, offsetof(hmSample, processes)},
        {"procs_running", HM_STAT_RUNNING, offsetof(hmSample, procsRunning)},
        {"procs_blocked", HM_STAT_BLOCKED, offsetof(hmSample, procsBlocked)},
        {"intr", HM_STAT_INTR, offsetof(hmSample, intrTotal)},
        {"softirq", HM_STAT_SOFTIRQ, offsetof(hmSample, softirqTotal)},
    };

    hmCur all = {text, text + len}, line, tok;
    while (hmNextLine(&all, &line)) {
        if (!hmToken(&line, &tok))
            continue;
        size_t klen = (size_t)(tok.end - tok.p);
        if (klen >= 3 && memcmp(tok.p, "cpu", 3) == 0) {
            uint64_t id = 0;
            bool aggregate = klen == 3;
            if (!aggregate && !hmU64((hmCur){tok.p + 3, tok.end}, &id))
                continue; /* "cpufoo": not ours */
            hmCpuTimes t;
            memset(&t, 0, sizeof t);
            int n = 0;
            bool bad = false;
            while (hmToken(&line, &tok)) {
                uint64_t v;
                if (!hmU64(tok, &v)) {
                    bad = true;
                    break;
                }
                if (n < HM_CPU_FIELDS)
                    t.t[n] = v;
                n++;
            }
            if (bad || n < 4) {
                smp->malformed[HM_SRC_STAT]++;
                continue;
            }
            if (aggregate) {
                smp->cpuAll = t;
                smp->statHave |= HM_STAT_ALL;
            } else if (id >= maxCpus) {
                smp->dropped[HM_SRC_STAT]++;
            } else {
                if (!smp->cpuOnline[id])
                    smp->cpuCount++;
                smp->cpuOnline[id] = true;
                smp->cpu[id] = t;
            }
            continue;
        }
        for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) {
            if (!hmTokEq(tok, scalars[k].key))
                continue;
            uint64_t v;
            if (hmNextU64(&line, &v)) {
                *(uint64_t *)((char *)smp + scalars[k].off) = v;
                smp->statHave |= scalars[k].bit;
            } else {
                smp->malformed[HM_SRC_STAT]++;
            }
            break;
        }
    }
    if (smp->cpuCount == 0 && !(smp->statHave & HM_STAT_ALL))
        return -1;
    smp->ok |= 1u << HM_SRC_STAT;
    return 0;
}

/* ---- /proc/loadavg --------------------------------------------------------------- */

int hmParseLoadavg(hmSample *smp, const char *text, size_t len)
{
    memset(smp->load, 0, sizeof smp->load);
    smp->tasksRunnable = smp->tasksTotal = smp->lastPid = 0;
    smp->malformed[HM_SRC_LOADAVG] = smp->dropped[HM_SRC_LOADAVG] = 0;
    smp->ok &= ~(1u << HM_SRC_LOADAVG);

    hmCur all = {text, text + len}, line, tok;
    while (hmNextLine(&all, &line)) {
        if (hmBlank(line))
            continue;
        uint32_t load[3];
        bool good = true;
        for (int i = 0; i < 3 && good; i++)
            good = hmToken(&line, &tok) && hmHundredths(tok, &load[i]);
        if (!good) {
            smp->malformed[HM_SRC_LOADAVG]++;
            continue;
        }
        memcpy(smp->load, load, sizeof load);
        /* "runnable/total" and the last pid are optional extras */
        if (hmToken(&line, &tok)) {
            const char *slash = memchr(tok.p, '/', (size_t)(tok.end - tok.p));
            uint64_t r, t, pid;
            if (slash && hmU64((hmCur){tok.p, slash}, &r) &&
                hmU64((hmCur){slash + 1, tok.end}, &t) && r <= UINT32_MAX && t <= UINT32_MAX) {
                smp->tasksRunnable = (uint32_t)r;
                smp->tasksTotal = (uint32_t)t;
            } else {
                smp->malformed[HM_SRC_LOADAVG]++;
            }
            if (hmNextU64(&line, &pid) && pid <= UINT32_MAX)
                smp->lastPid = (uint32_t)pid;
        }
        smp->ok |= 1u << HM_SRC_LOADAVG;
        return 0;
    }
    return -1;
}

/* ---- /proc/softirqs and /proc/interrupts ----------------------------------------- */

/* A header of "CPU<n>" tokens into colCpu. Returns the column count, -1 if a
 * token is not CPU<n> or there is none. Ids >= maxCpus map to HM_NO_CPU;
 * columns beyond maxCpus are counted but not stored. */
static int hmCpuHeader(hmCur line, uint32_t *colCpu, uint32_t maxCpus, uint64_t *dropped)
{
    hmCur tok;
    uint32_t cols = 0;
    while (hmToken(&line, &tok)) {
        uint64_t id;
        if (tok.end - tok.p < 4 || memcmp(tok.p, "CPU", 3) != 0 ||
            !hmU64((hmCur){tok.p + 3, tok.end}, &id))
            return -1;
        if (cols < maxCpus) {
            colCpu[cols] = id < maxCpus ? (uint32_t)id : HM_NO_CPU;
            if (id >= maxCpus)
                (*dropped)++;
        } else {
            (*dropped)++;
        }
        if (cols == UINT32_MAX - 1)
            return -1;
        cols++;
    }
    return cols ? (int)cols : -1;
}

int hmParseSoftirqs(hmSample *smp, const char *text, size_t len)
{
    const uint32_t maxCpus = smp->lim.maxCpus;
    smp->softCols = smp->softKinds = 0;
    smp->malformed[HM_SRC_SOFTIRQS] = smp->dropped[HM_SRC_SOFTIRQS] = 0;
    smp->ok &= ~(1u << HM_SRC_SOFTIRQS);

    hmCur all = {text, text + len}, line, label, rest, tok;
    bool header = false;
    while (hmNextLine(&all, &line)) {
        if (hmBlank(line))
            continue;
        if (!header) {
            int cols = hmCpuHeader(line, smp->softColCpu, maxCpus, &smp->dropped[HM_SRC_SOFTIRQS]);
            if (cols < 0) {
                smp->malformed[HM_SRC_SOFTIRQS]++;
                return -1;
            }
            smp->softCols = (uint32_t)cols;
            header = true;
            continue;
        }
        if (!hmSplitLabel(line, &label, &rest)) {
            smp->malformed[HM_SRC_SOFTIRQS]++;
            continue;
        }
        uint32_t k = smp->softKinds;
        if (k >= smp->lim.maxSoftirqs) {
            smp->dropped[HM_SRC_SOFTIRQS]++;
            continue;
        }
        uint64_t *row = smp->softCount + (size_t)k * maxCpus;
        uint32_t n = 0;
        bool bad = false;
        while (n < smp->softCols && hmToken(&rest, &tok)) {
            uint64_t v;
            if (!hmU64(tok, &v)) {
                bad = true;
                break;
            }
            if (n < maxCpus)
                row[n] = v;
            n++;
        }
        if (bad || n < smp->softCols || !hmCopyName(smp->softName[k], HM_NAME_MAX, label)) {
            smp->malformed[HM_SRC_SOFTIRQS]++;
            continue;
        }
        smp->softKinds++;
    }
    if (!header)
        return -1;
    smp->ok |= 1u << HM_SRC_SOFTIRQS;
    return 0;
}

/* x86 and arm rows that hold one machine-wide count, not one per CPU. */
static bool hmIrqGlobal(hmCur label)
{
    return hmTokEq(label, "ERR") || hmTokEq(label, "MIS") || hmTokEq(label, "Err");
}

/* The rest of a row as a description: runs of spaces become one, cut to fit. */
static void hmCopyInfo(char *dst, size_t cap, hmCur rest)
{
    size_t n = 0;
    hmCur tok;
    while (hmToken(&rest, &tok)) {
        size_t t = (size_t)(tok.end - tok.p);
        if (n > 0 && n + 1 < cap)
            dst[n++] = ' ';
        if (t > cap - 1 - n)
            t = cap - 1 - n;
        memcpy(dst + n, tok.p, t);
        n += t;
    }
    dst[n] = '\0';
}

int hmParseInterrupts(hmSample *smp, const char *text, size_t len)
{
    const uint32_t maxCpus = smp->lim.maxCpus;
    smp->irqCols = smp->irqRows = 0;
    smp->malformed[HM_SRC_INTERRUPTS] = smp->dropped[HM_SRC_INTERRUPTS] = 0;
    smp->ok &= ~(1u << HM_SRC_INTERRUPTS);

    hmCur all = {text, text + len}, line, label, rest, tok;
    bool header = false;
    while (hmNextLine(&all, &line)) {
        if (hmBlank(line))
            continue;
        if (!header) {
            int cols = hmCpuHeader(line, smp->irqColCpu, maxCpus, &smp->dropped[HM_SRC_INTERRUPTS]);
            if (cols < 0) {
                smp->malformed[HM_SRC_INTERRUPTS]++;
                return -1;
            }
            smp->irqCols = (uint32_t)cols;
            header = true;
            continue;
        }
        if (!hmSplitLabel(line, &label, &rest)) {
            smp->malformed[HM_SRC_INTERRUPTS]++;
            continue;
        }
        uint32_t r = smp->irqRows;
        if (r >= smp->lim.maxIrqs) {
            smp->dropped[HM_SRC_INTERRUPTS]++;
            continue;
        }
        hmIrq *irq = &smp->irq[r];
        uint64_t *row = smp->irqCount + (size_t)r * maxCpus;
        uint32_t n = 0;
        uint64_t total = 0, first = 0;
        /* counts until the first word that is not one */
        for (;;) {
            hmCur save = rest;
            uint64_t v;
            if (n >= smp->irqCols || !hmToken(&rest, &tok))
                break;
            if (!hmU64(tok, &v)) {
                rest = save;
                break;
            }
            if (n == 0)
                first = v;
            if (n < maxCpus)
                row[n] = v;
            total += v;
            n++;
        }
        if (!hmCopyName(irq->name, HM_NAME_MAX, label) || n == 0) {
            smp->malformed[HM_SRC_INTERRUPTS]++;
            continue;
        }
        if (hmIrqGlobal(label) || (n == 1 && n < smp->irqCols && hmBlank(rest))) {
            irq->perCpu = false;
            irq->total = first;
            irq->info[0] = '\0';
            hmCopyInfo(irq->info, HM_INFO_MAX, rest);
        } else if (n == smp->irqCols) {
            irq->perCpu = true;
            irq->total = total;
            hmCopyInfo(irq->info, HM_INFO_MAX, rest);
        } else {
            smp->malformed[HM_SRC_INTERRUPTS]++; /* fewer counts than CPUs */
            continue;
        }
        smp->irqRows++;
    }
    if (!header)
        return -1;
    smp->ok |= 1u << HM_SRC_INTERRUPTS;
    return 0;
}

/* ---- /proc/meminfo --------------------------------------------------------------- */

int hmParseMeminfo(hmSample *smp, const char *text, size_t len)
{
    smp->memCount = 0;
    smp->malformed[HM_SRC_MEMINFO] = smp->dropped[HM_SRC_MEMINFO] = 0;
    smp->ok &= ~(1u << HM_SRC_MEMINFO);

    hmCur all = {text, text + len}, line, label, rest, tok;
    while (hmNextLine(&all, &line)) {
        if (hmBlank(line))
            continue;
        uint64_t v;
        if (!hmSplitLabel(line, &label, &rest) || !hmNextU64(&rest, &v)) {
            smp->malformed[HM_SRC_MEMINFO]++;
            continue;
        }
        bool bytes = false;
        if (hmToken(&rest, &tok)) {
            if (!hmTokEq(tok, "kB") || v > UINT64_MAX / 1024 || hmToken(&rest, &tok)) {
                smp->malformed[HM_SRC_MEMINFO]++;
                continue;
            }
            bytes = true;
            v *= 1024;
        }
        if (smp->memCount >= smp->lim.maxMemFields) {
            smp->dropped[HM_SRC_MEMINFO]++;
            continue;
        }
        hmMemField *f = &smp->mem[smp->memCount];
        if (!hmCopyName(f->name, HM_NAME_MAX, label)) {
            smp->malformed[HM_SRC_MEMINFO]++;
            continue;
        }
        f->value = v;
        f->isBytes = bytes;
        smp->memCount++;
    }
    if (smp->memCount == 0)
        return -1;
    smp->ok |= 1u << HM_SRC_MEMINFO;
    return 0;
}

/* ---- /proc/net/dev --------------------------------------------------------------- */

#define HM_NET_MAX_COLS 32

/* Column names of the header's receive or transmit section into map. */
static int hmNetSection(hmCur sec, bool tx, int8_t *map, int cols)
{
    static const char *const rx[] = {"bytes", "packets", "errs",       "drop",
                                     "fifo",  "frame",   "compressed", "multicast"};
    static const char *const txn[] = {"bytes", "packets", "errs",    "drop",
                                      "fifo",  "colls",   "carrier", "compressed"};
    const char *const *names = tx ? txn : rx;
    hmCur tok;
    while (hmToken(&sec, &tok)) {
        if (cols >= HM_NET_MAX_COLS)
            return -1;
        map[cols] = -1; /* unknown column: parsed, not kept */
        for (int i = 0; i < 8; i++)
            if (hmTokEq(tok, names[i]))
                map[cols] = (int8_t)((tx ? HM_NET_TX_BYTES : HM_NET_RX_BYTES) + i);
        cols++;
    }
    return cols;
}

int hmParseNetDev(hmSample *smp, const char *text, size_t len)
{
    smp->ifCount = 0;
    smp->malformed[HM_SRC_NETDEV] = smp->dropped[HM_SRC_NETDEV] = 0;
    smp->ok &= ~(1u << HM_SRC_NETDEV);

    /* the layout every kernel since 2.6 prints, used until a header says otherwise */
    int8_t map[HM_NET_MAX_COLS];
    int cols = HM_NET_FIELDS;
    for (int i = 0; i < HM_NET_FIELDS; i++)
        map[i] = (int8_t)i;

    bool any = false;
    hmCur all = {text, text + len}, line, label, rest, tok;
    while (hmNextLine(&all, &line)) {
        if (hmBlank(line))
            continue;
        const char *bar = memchr(line.p, '|', (size_t)(line.end - line.p));
        if (bar != NULL) {
            /* " face |bytes packets ...|bytes packets ..." names the columns;
             * the line above it ("Inter-|   Receive |  Transmit") does not */
            hmCur first = {line.p, bar};
            if (!hmToken(&first, &tok) || !hmTokEq(tok, "face"))
                continue;
            const char *bar2 = memchr(bar + 1, '|', (size_t)(line.end - bar - 1)); /* rx | tx */
            int8_t m[HM_NET_MAX_COLS];
            int c = bar2 ? hmNetSection((hmCur){bar + 1, bar2}, false, m, 0) : -1;
            if (c >= 0)
                c = hmNetSection((hmCur){bar2 + 1, line.end}, true, m, c);
            if (c <= 0) {
                smp->malformed[HM_SRC_NETDEV]++;
                continue; /* keep the default layout */
            }
            memcpy(map, m, sizeof m);
            cols = c;
            any = true;
            continue;
        }
        if (!hmSplitLabel(line, &label, &rest)) {
            smp->malformed[HM_SRC_NETDEV]++;
            continue;
        }
        uint64_t v[HM_NET_MAX_COLS];
        int n = 0;
        bool bad = false;
        while (n < cols && hmToken(&rest, &tok)) {
            if (!hmU64(tok, &v[n])) {
                bad = true;
                break;
            }
            n++;
        }
        if (bad || n < cols) {
            smp->malformed[HM_SRC_NETDEV]++;
            continue;
        }
        if (smp->ifCount >= smp->lim.maxIfaces) {
            smp->dropped[HM_SRC_NETDEV]++;
            continue;
        }
        hmNetDev *d = &smp->net[smp->ifCount];
        if (!hmCopyName(d->name, HM_NAME_MAX, label)) {
            smp->malformed[HM_SRC_NETDEV]++;
            continue;
        }
        memset(d->v, 0, sizeof d->v);
        d->have = 0;
        for (int i = 0; i < n; i++) {
            if (map[i] < 0)
                continue;
            d->v[map[i]] = v[i];
            d->have |= 1u << map[i];
        }
        smp->ifCount++;
        any = true;
    }
    if (!any)
        return -1;
    smp->ok |= 1u << HM_SRC_NETDEV;
    return 0;
}

/* ---- reading files --------------------------------------------------------------- */

typedef int hmParser(hmSample *smp, const char *text, size_t len);

static hmParser *const hmParsers[HM_SRC_COUNT] = {
    hmParseStat, hmParseLoadavg, hmParseSoftirqs, hmParseInterrupts, hmParseMeminfo, hmParseNetDev};

int hmReadSource(hmSample *smp, hmSource src, const char *root, char *buf, size_t cap)
{
    if ((unsigned)src >= HM_SRC_COUNT || cap < 2)
        return -1;
    smp->ok &= ~(1u << src);
    char path[PATH_MAX];
    int pn = snprintf(path, sizeof path, "%s/%s", root, hmFiles[src]);
    if (pn < 0 || (size_t)pn >= sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    bool cut = false;
    for (;;) {
        if (len == cap - 1) {
            char probe;
            ssize_t n;
            do {
                n = read(fd, &probe, 1);
            } while (n < 0 && errno == EINTR);
            cut = n > 0;
            break;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (cut) {
        while (len > 0 && buf[len - 1] != '\n')
            len--;
    }
    buf[len] = '\0';
    int rc = hmParsers[src](smp, buf, len);
    if (cut)
        smp->dropped[src]++;
    return rc;
}

int hmReadAll(hmSample *smp, const char *root, char *buf, size_t cap)
{
    uint64_t t0 = hmNowNs();
    int n = 0;
    smp->monoNs = t0;
    for (int src = 0; src < HM_SRC_COUNT; src++)
        if (hmReadSource(smp, (hmSource)src, root, buf, cap) == 0)
            n++;
    smp->durationNs = hmNowNs() - t0;
    return n ? n : -1;
}

/* ---- utilisation ----------------------------------------------------------------- */

static uint16_t hmPermille(uint64_t part, uint64_t total)
{
    return (uint16_t)(((unsigned __int128)part * 1000 + total / 2) / total);
}

void hmCpuUtilCompute(const hmCpuTimes *prev, const hmCpuTimes *cur, hmCpuUtil *out)
{
    memset(out, 0, sizeof *out);
    uint64_t d[HM_CPU_MODES], total = 0;
    for (int m = 0; m < HM_CPU_MODES; m++) {
        if (cur->t[m] < prev->t[m])
            return; /* went backwards (offline and back): no figure */
        d[m] = cur->t[m] - prev->t[m];
        total += d[m];
    }
    if (total == 0)
        return;
    for (int m = 0; m < HM_CPU_MODES; m++)
        out->mode[m] = hmPermille(d[m], total);
    out->busy = hmPermille(total - d[HM_CPU_IDLE] - d[HM_CPU_IOWAIT], total);
    out->ticks = total;
    out->valid = true;
}

/* ---- sampler --------------------------------------------------------------------- */

struct hmSampler {
    char root[PATH_MAX];
    hmLimits lim;
    hmSample *smp[2];
    int latest;    /* index into smp, -1 before the first sample */
    bool havePrev; /* smp[1 - latest] is a sample */
    hmCpuUtil *util;
    hmCpuUtil utilAll;
    char *buf;
    hmSamplerStats stats;
};

hmSampler *hmSamplerCreate(const char *root, const hmLimits *lim, char *err, size_t errlen)
{
    hmSampler *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "hostmon: out of memory");
        return NULL;
    }
    s->latest = -1;
    if (hmSamplerSetRoot(s, root ? root : "/proc") < 0) {
        snprintf(err, errlen, "hostmon: root path too long");
        free(s);
        return NULL;
    }
    hmLimitsResolve(&s->lim, lim);
    s->smp[0] = hmSampleCreate(&s->lim);
    s->smp[1] = hmSampleCreate(&s->lim);
    s->util = calloc(s->lim.maxCpus, sizeof *s->util);
    s->buf = malloc(s->lim.readBuf);
    if (!s->smp[0] || !s->smp[1] || !s->util || !s->buf || s->lim.readBuf < 2) {
        snprintf(err, errlen, "hostmon: out of memory for %u CPUs, %u irq rows, %zu byte buffer",
                 s->lim.maxCpus, s->lim.maxIrqs, s->lim.readBuf);
        hmSamplerDestroy(s);
        return NULL;
    }
    return s;
}

int hmSamplerSetRoot(hmSampler *s, const char *root)
{
    size_t n = strlen(root);
    if (n >= sizeof s->root)
        return -1;
    memcpy(s->root, root, n + 1);
    return 0;
}

int hmSamplerSample(hmSampler *s)
{
    int target = s->latest < 0 ? 0 : 1 - s->latest;
    hmSample *smp = s->smp[target];
    int n = hmReadAll(smp, s->root, s->buf, s->lim.readBuf);
    for (int src = 0; src < HM_SRC_COUNT; src++) {
        if (!(smp->ok & (1u << src)))
            s->stats.readErrors[src]++;
        s->stats.malformed[src] += smp->malformed[src];
        s->stats.dropped[src] += smp->dropped[src];
    }
    s->stats.lastDurationNs = smp->durationNs;
    if (n < 0) {
        s->havePrev = false; /* the older sample was overwritten */
        return -1;
    }
    s->stats.samples++;
    s->havePrev = s->latest >= 0;
    s->latest = target;

    memset(s->util, 0, s->lim.maxCpus * sizeof *s->util);
    memset(&s->utilAll, 0, sizeof s->utilAll);
    const hmSample *prev = s->havePrev ? s->smp[1 - target] : NULL;
    const uint32_t statOk = 1u << HM_SRC_STAT;
    if (prev && (prev->ok & statOk) && (smp->ok & statOk)) {
        for (uint32_t c = 0; c < s->lim.maxCpus; c++)
            if (prev->cpuOnline[c] && smp->cpuOnline[c])
                hmCpuUtilCompute(&prev->cpu[c], &smp->cpu[c], &s->util[c]);
        if ((prev->statHave & HM_STAT_ALL) && (smp->statHave & HM_STAT_ALL))
            hmCpuUtilCompute(&prev->cpuAll, &smp->cpuAll, &s->utilAll);
    }
    return n;
}

const hmSample *hmSamplerLatest(const hmSampler *s)
{
    return s->latest < 0 ? NULL : s->smp[s->latest];
}

const hmSample *hmSamplerPrevious(const hmSampler *s)
{
    return s->latest < 0 || !s->havePrev ? NULL : s->smp[1 - s->latest];
}

const hmCpuUtil *hmSamplerCpuUtil(const hmSampler *s, uint32_t cpu)
{
    if (cpu >= s->lim.maxCpus || !s->util[cpu].valid)
        return NULL;
    return &s->util[cpu];
}

const hmCpuUtil *hmSamplerCpuUtilAll(const hmSampler *s)
{
    return s->utilAll.valid ? &s->utilAll : NULL;
}

uint32_t hmSamplerClockTicks(const hmSampler *s)
{
    return s->lim.clockTicks;
}

void hmSamplerGetStats(const hmSampler *s, hmSamplerStats *out)
{
    *out = s->stats;
}

void hmSamplerDestroy(hmSampler *s)
{
    if (s == NULL)
        return;
    hmSampleFree(s->smp[0]);
    hmSampleFree(s->smp[1]);
    free(s->util);
    free(s->buf);
    free(s);
}

/* ---- Prometheus ------------------------------------------------------------------ */

static const char *const hmModeNames[HM_CPU_MODES] = {"user",   "nice", "system",  "idle",
                                                      "iowait", "irq",  "softirq", "steal"};

static int hmWriteCpu(promWriter *w, const hmSampler *s, const hmSample *smp)
{
    const uint32_t hz = s->lim.clockTicks;
    char cpu[16];
    promLabel l[2] = {{"cpu", cpu}, {"mode", NULL}};
    int rc = 0;
    if (smp->cpuCount) {
        rc |= promFamily(w, "xchg_host_cpu_seconds_total", PROM_COUNTER,
                         "Time each CPU spent in each mode, from /proc/stat.");
        for (uint32_t c = 0; c < s->lim.maxCpus; c++) {
            if (!smp->cpuOnline[c])
                continue;
            snprintf(cpu, sizeof cpu, "%u", c);
            for (int m = 0; m < HM_CPU_MODES; m++) {
                l[1].value = hmModeNames[m];
                rc |= promSampleFrac(w, l, 2, (int64_t)smp->cpu[c].t[m], hz);
            }
        }
        rc |= promFamily(w, "xchg_host_cpu_guest_seconds_total", PROM_COUNTER,
                         "Time each CPU ran guests (included in user and nice), from /proc/stat.");
        for (uint32_t c = 0; c < s->lim.maxCpus; c++) {
            if (!smp->cpuOnline[c])
                continue;
            snprintf(cpu, sizeof cpu, "%u", c);
            l[1].value = "user";
            rc |= promSampleFrac(w, l, 2, (int64_t)smp->cpu[c].t[HM_CPU_GUEST], hz);
            l[1].value = "nice";
            rc |= promSampleFrac(w, l, 2, (int64_t)smp->cpu[c].t[HM_CPU_GUEST_NICE], hz);
        }
        rc |= promFamily(w, "xchg_host_cpus_online", PROM_GAUGE,
                         "CPUs with a line in /proc/stat (online).");
        rc |= promSampleU64(w, NULL, 0, smp->cpuCount);
    }
    bool anyUtil = false;
    for (uint32_t c = 0; c < s->lim.maxCpus && !anyUtil; c++)
        anyUtil = s->util[c].valid;
    if (anyUtil) {
        rc |= promFamily(w, "xchg_host_cpu_busy_ratio", PROM_GAUGE,
                         "Share of the last sampling interval each CPU was neither idle nor in "
                         "iowait (permille resolution).");
        for (uint32_t c = 0; c < s->lim.maxCpus; c++) {
            if (!s->util[c].valid)
                continue;
            snprintf(cpu, sizeof cpu, "%u", c);
            rc |= promSampleFrac(w, l, 1, s->util[c].busy, 1000);
        }
        rc |= promFamily(w, "xchg_host_cpu_mode_ratio", PROM_GAUGE,
                         "Share of the last sampling interval each CPU spent in each mode "
                         "(permille resolution).");
        for (uint32_t c = 0; c < s->lim.maxCpus; c++) {
            if (!s->util[c].valid)
                continue;
            snprintf(cpu, sizeof cpu, "%u", c);
            for (int m = 0; m < HM_CPU_MODES; m++) {
                l[1].value = hmModeNames[m];
                rc |= promSampleFrac(w, l, 2, s->util[c].mode[m], 1000);
            }
        }
    }
    if (s->utilAll.valid) {
        rc |= promFamily(w, "xchg_host_cpu_all_busy_ratio", PROM_GAUGE,
                         "Share of the last sampling interval all CPUs together were neither idle "
                         "nor in iowait (the cpu line of /proc/stat).");
        rc |= promSampleFrac(w, NULL, 0, s->utilAll.busy, 1000);
    }
    return rc;
}

static int hmWriteStat(promWriter *w, const hmSample *smp)
{
    static const struct {
        uint32_t bit;
        size_t off;
        const char *name;
        promType type;
        const char *help;
    } m[] = {
        {HM_STAT_CTXT, offsetof(hmSample, ctxt), "xchg_host_context_switches_total", PROM_COUNTER,
         "Context switches since boot (ctxt in /proc/stat)."},
        {HM_STAT_PROCESSES, offsetof(hmSample, processes), "xchg_host_forks_total", PROM_COUNTER,
         "Processes and threads created since boot (processes in /proc/stat)."},
        {HM_STAT_INTR, offsetof(hmSample, intrTotal), "xchg_host_intr_total", PROM_COUNTER,
         "Interrupts serviced since boot, all CPUs (intr in /proc/stat)."},
        {HM_STAT_SOFTIRQ, offsetof(hmSample, softirqTotal), "xchg_host_softirq_total", PROM_COUNTER,
         "Soft interrupts serviced since boot, all CPUs (softirq in /proc/stat)."},
        {HM_STAT_BTIME, offsetof(hmSample, btime), "xchg_host_boot_time_seconds", PROM_GAUGE,
         "Boot time, seconds since the epoch (btime in /proc/stat)."},
        {HM_STAT_RUNNING, offsetof(hmSample, procsRunning), "xchg_host_procs_running", PROM_GAUGE,
         "Threads runnable now (procs_running in /proc/stat)."},
        {HM_STAT_BLOCKED, offsetof(hmSample, procsBlocked), "xchg_host_procs_blocked", PROM_GAUGE,
         "Threads blocked on I/O now (procs_blocked in /proc/stat)."},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!(smp->statHave & m[i].bit))
            continue;
        rc |= promFamily(w, m[i].name, m[i].type, m[i].help);
        rc |= promSampleU64(w, NULL, 0, *(const uint64_t *)((const char *)smp + m[i].off));
    }
    return rc;
}

static int hmWriteLoad(promWriter *w, const hmSample *smp)
{
    static const char *const names[3] = {"xchg_host_load1", "xchg_host_load5", "xchg_host_load15"};
    static const char *const helps[3] = {"Load average over 1 minute (/proc/loadavg).",
                                         "Load average over 5 minutes (/proc/loadavg).",
                                         "Load average over 15 minutes (/proc/loadavg)."};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        rc |= promFamily(w, names[i], PROM_GAUGE, helps[i]);
        rc |= promSampleFrac(w, NULL, 0, smp->load[i], 100);
    }
    rc |= promFamily(w, "xchg_host_tasks_runnable", PROM_GAUGE,
                     "Scheduling entities runnable now (/proc/loadavg).");
    rc |= promSampleU64(w, NULL, 0, smp->tasksRunnable);
    rc |= promFamily(w, "xchg_host_tasks", PROM_GAUGE,
                     "Scheduling entities (processes and threads) that exist (/proc/loadavg).");
    rc |= promSampleU64(w, NULL, 0, smp->tasksTotal);
    rc |= promFamily(w, "xchg_host_last_pid", PROM_GAUGE,
                     "Most recently assigned process id (/proc/loadavg).");
    rc |= promSampleU64(w, NULL, 0, smp->lastPid);
    return rc;
}

static int hmWriteSoftirqs(promWriter *w, const hmSample *smp)
{
    if (smp->softKinds == 0)
        return 0;
    char cpu[16];
    promLabel l[2] = {{"cpu", cpu}, {"type", NULL}};
    int rc = promFamily(w, "xchg_host_softirqs_total", PROM_COUNTER,
                        "Soft interrupts each CPU serviced, by type (/proc/softirqs).");
    uint32_t cols = smp->softCols < smp->lim.maxCpus ? smp->softCols : smp->lim.maxCpus;
    for (uint32_t k = 0; k < smp->softKinds; k++) {
        l[1].value = smp->softName[k];
        for (uint32_t c = 0; c < cols; c++) {
            if (smp->softColCpu[c] == HM_NO_CPU)
                continue;
            snprintf(cpu, sizeof cpu, "%u", smp->softColCpu[c]);
            rc |= promSampleU64(w, l, 2, smp->softCount[(size_t)k * smp->lim.maxCpus + c]);
        }
    }
    return rc;
}

static int hmWriteInterrupts(promWriter *w, const hmSample *smp)
{
    int rc = 0;
    bool perCpu = false, global = false;
    for (uint32_t r = 0; r < smp->irqRows; r++) {
        perCpu |= smp->irq[r].perCpu;
        global |= !smp->irq[r].perCpu;
    }
    uint32_t cols = smp->irqCols < smp->lim.maxCpus ? smp->irqCols : smp->lim.maxCpus;
    if (perCpu) {
        char cpu[16];
        promLabel l[3] = {{"cpu", cpu}, {"irq", NULL}, {"info", NULL}};
        rc |= promFamily(w, "xchg_host_interrupts_total", PROM_COUNTER,
                         "Hardware and architecture interrupts each CPU serviced, by line "
                         "(/proc/interrupts).");
        for (uint32_t r = 0; r < smp->irqRows; r++) {
            const hmIrq *irq = &smp->irq[r];
            if (!irq->perCpu)
                continue;
            l[1].value = irq->name;
            l[2].value = irq->info;
            for (uint32_t c = 0; c < cols; c++) {
                if (smp->irqColCpu[c] == HM_NO_CPU)
                    continue;
                snprintf(cpu, sizeof cpu, "%u", smp->irqColCpu[c]);
                rc |= promSampleU64(w, l, 3, smp->irqCount[(size_t)r * smp->lim.maxCpus + c]);
            }
        }
    }
    if (global) {
        rc |= promFamily(w, "xchg_host_interrupts_global_total", PROM_COUNTER,
                         "Machine-wide interrupt counts of /proc/interrupts (x86 ERR, MIS).");
        for (uint32_t r = 0; r < smp->irqRows; r++) {
            if (smp->irq[r].perCpu)
                continue;
            promLabel g = {"irq", smp->irq[r].name};
            rc |= promSampleU64(w, &g, 1, smp->irq[r].total);
        }
    }
    return rc;
}

static int hmWriteMemory(promWriter *w, const hmSample *smp)
{
    promLabel l = {"field", NULL};
    int rc = 0;
    for (int pass = 0; pass < 2; pass++) {
        bool bytes = pass == 0, any = false;
        for (uint32_t i = 0; i < smp->memCount && !any; i++)
            any = smp->mem[i].isBytes == bytes;
        if (!any)
            continue;
        if (bytes)
            rc |= promFamily(w, "xchg_host_memory_bytes", PROM_GAUGE,
                             "Lines of /proc/meminfo with a kB unit, in bytes, by field name.");
        else
            rc |= promFamily(w, "xchg_host_memory_pages", PROM_GAUGE,
                             "Lines of /proc/meminfo without a unit (the HugePages_ counts), "
                             "by field name.");
        for (uint32_t i = 0; i < smp->memCount; i++) {
            if (smp->mem[i].isBytes != bytes)
                continue;
            l.value = smp->mem[i].name;
            rc |= promSampleU64(w, &l, 1, smp->mem[i].value);
        }
    }
    return rc;
}

static int hmWriteNet(promWriter *w, const hmSample *smp)
{
    static const char *const fam[HM_NET_FIELDS] = {
        "xchg_host_network_receive_bytes_total",      "xchg_host_network_receive_packets_total",
        "xchg_host_network_receive_errs_total",       "xchg_host_network_receive_drop_total",
        "xchg_host_network_receive_fifo_total",       "xchg_host_network_receive_frame_total",
        "xchg_host_network_receive_compressed_total", "xchg_host_network_receive_multicast_total",
        "xchg_host_network_transmit_bytes_total",     "xchg_host_network_transmit_packets_total",
        "xchg_host_network_transmit_errs_total",      "xchg_host_network_transmit_drop_total",
        "xchg_host_network_transmit_fifo_total",      "xchg_host_network_transmit_colls_total",
        "xchg_host_network_transmit_carrier_total",   "xchg_host_network_transmit_compressed_total",
    };
    static const char *const what[HM_NET_FIELDS] = {
        "bytes received",
        "packets received",
        "receive errors",
        "received packets dropped",
        "receive FIFO overruns",
        "receive framing errors",
        "compressed packets received",
        "multicast packets received",
        "bytes sent",
        "packets sent",
        "transmit errors",
        "packets dropped on transmit",
        "transmit FIFO overruns",
        "collisions",
        "carrier losses",
        "compressed packets sent",
    };
    promLabel l = {"device", NULL};
    char help[128];
    int rc = 0;
    for (int f = 0; f < HM_NET_FIELDS; f++) {
        bool any = false;
        for (uint32_t i = 0; i < smp->ifCount && !any; i++)
            any = (smp->net[i].have >> f) & 1u;
        if (!any)
            continue;
        snprintf(help, sizeof help, "Network device counter: %s (/proc/net/dev).", what[f]);
        rc |= promFamily(w, fam[f], PROM_COUNTER, help);
        for (uint32_t i = 0; i < smp->ifCount; i++) {
            if (!((smp->net[i].have >> f) & 1u))
                continue;
            l.value = smp->net[i].name;
            rc |= promSampleU64(w, &l, 1, smp->net[i].v[f]);
        }
    }
    return rc;
}

static int hmWriteSampler(promWriter *w, const hmSampler *s, const hmSample *smp)
{
    promLabel l = {"source", NULL};
    int rc = promFamily(w, "xchg_host_sampler_samples_total", PROM_COUNTER,
                        "Host samples taken (each reads every /proc source).");
    rc |= promSampleU64(w, NULL, 0, s->stats.samples);
    rc |= promFamily(w, "xchg_host_sampler_source_up", PROM_GAUGE,
                     "1 if the source was read and parsed in the latest sample, else 0.");
    for (int src = 0; src < HM_SRC_COUNT; src++) {
        l.value = hmNames[src];
        rc |= promSampleU64(w, &l, 1, (smp->ok >> src) & 1u);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } c[] = {
        {"xchg_host_sampler_read_errors_total",
         "Samples in which a source could not be read "
         "or parsed.",
         offsetof(hmSamplerStats, readErrors)},
        {"xchg_host_sampler_malformed_lines_total",
         "Lines of a source skipped because they did not parse.",
         offsetof(hmSamplerStats, malformed)},
        {"xchg_host_sampler_dropped_total",
         "Rows or columns of a source skipped because they exceed the sampler's limits.",
         offsetof(hmSamplerStats, dropped)},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const uint64_t *v = (const uint64_t *)((const char *)&s->stats + c[i].off);
        rc |= promFamily(w, c[i].name, PROM_COUNTER, c[i].help);
        for (int src = 0; src < HM_SRC_COUNT; src++) {
            l.value = hmNames[src];
            rc |= promSampleU64(w, &l, 1, v[src]);
        }
    }
    rc |= promFamily(w, "xchg_host_sampler_duration_seconds", PROM_GAUGE,
                     "Time the latest sample took to read and parse every source.");
    rc |= promSampleFrac(w, NULL, 0, (int64_t)smp->durationNs, 1000000000u);
    return rc;
}

int hmWriteProm(promWriter *w, const hmSampler *s)
{
    const hmSample *smp = hmSamplerLatest(s);
    if (smp == NULL)
        return 0;
    int rc = 0;
    if (smp->ok & (1u << HM_SRC_STAT)) {
        rc |= hmWriteCpu(w, s, smp);
        rc |= hmWriteStat(w, smp);
    }
    if (smp->ok & (1u << HM_SRC_LOADAVG))
        rc |= hmWriteLoad(w, smp);
    if (smp->ok & (1u << HM_SRC_SOFTIRQS))
        rc |= hmWriteSoftirqs(w, smp);
    if (smp->ok & (1u << HM_SRC_INTERRUPTS))
        rc |= hmWriteInterrupts(w, smp);
    if (smp->ok & (1u << HM_SRC_MEMINFO))
        rc |= hmWriteMemory(w, smp);
    if (smp->ok & (1u << HM_SRC_NETDEV))
        rc |= hmWriteNet(w, smp);
    rc |= hmWriteSampler(w, s, smp);
    return rc < 0 || w->overflow || w->invalid ? -1 : 0;
}
