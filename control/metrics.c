/* metrics.c -- the process-wide registry of metric sources behind /metrics. */
#include <string.h>
#include <time.h>

#include "control/metrics.h"

typedef struct {
    char name[METRICS_NAME_MAX];
    metricsSourceFn *fn;
    void *ctx;
    uint64_t failures;
} metricsSource;

static struct {
    metricsSource src[METRICS_MAX_SOURCES];
    uint32_t n;
    uint64_t renders;
    uint64_t lastRenderNs;
} reg;

static uint64_t metricsNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int metricsFind(const char *name)
{
    for (uint32_t i = 0; i < reg.n; i++)
        if (strcmp(reg.src[i].name, name) == 0)
            return (int)i;
    return -1;
}

int metricsAddSource(const char *name, metricsSourceFn *fn, void *ctx)
{
    if (!fn || !name || !name[0] || strlen(name) >= METRICS_NAME_MAX ||
        reg.n == METRICS_MAX_SOURCES || metricsFind(name) >= 0)
        return -1;
    metricsSource *s = &reg.src[reg.n++];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, strlen(name) + 1);
    s->fn = fn;
    s->ctx = ctx;
    return 0;
}

int metricsRemoveSource(const char *name)
{
    int i = metricsFind(name);
    if (i < 0)
        return -1;
    memmove(&reg.src[i], &reg.src[i + 1], (reg.n - (uint32_t)i - 1) * sizeof reg.src[0]);
    reg.n--;
    return 0;
}

void metricsReset(void)
{
    memset(&reg, 0, sizeof reg);
}

uint32_t metricsSourceCount(void)
{
    return reg.n;
}

/* The registry's own families, after every source. */
static void metricsWriteSelf(promWriter *w)
{
    if (reg.n) {
        promFamily(w, "xchg_metrics_source_failures_total", PROM_COUNTER,
                   "Renders in which a metrics source reported a failure.");
        for (uint32_t i = 0; i < reg.n; i++) {
            promLabel l = {"source", reg.src[i].name};
            promSampleU64(w, &l, 1, reg.src[i].failures);
        }
    }
    promFamily(w, "xchg_metrics_renders_total", PROM_COUNTER,
               "Expositions rendered (scrapes answered, before this one).");
    promSampleU64(w, NULL, 0, reg.renders);
    promFamily(w, "xchg_metrics_render_seconds", PROM_GAUGE,
               "Time the previous exposition took to render, on the control lcore.");
    promSampleFrac(w, NULL, 0, (int64_t)reg.lastRenderNs, 1000000000);
}

int metricsRender(void *ctx, promWriter *w)
{
    (void)ctx;
    uint64_t t0 = metricsNowNs();
    for (uint32_t i = 0; i < reg.n; i++)
        if (reg.src[i].fn(reg.src[i].ctx, w) != 0)
            reg.src[i].failures++;
    metricsWriteSelf(w);
    reg.renders++;
    reg.lastRenderNs = metricsNowNs() - t0;
    return w->overflow ? -1 : 0;
}
