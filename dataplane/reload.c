/* reload.c -- SIGHUP reload: log settings and the session throttle; the rest waits for a restart.
 *
 * What is reloadable is what the running daemon can change without
 * reallocating or re-steering anything: the log (level, destination) and the
 * per-session throttle, a single integer each worker's gateway reads per
 * message. Instruments, segments, ports, lcores, storage and the control
 * socket size memory, queues and files at start; changing them needs a
 * restart, and the reload says so instead of half-applying them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/daemon.h"
#include "control/log.h"
#include "dataplane/reload.h"

#define RLD_TIMEOUT_MS 2000

static int rldSame(const void *a, const void *b, size_t n)
{
    return (a == NULL && b == NULL) || (a && b && memcmp(a, b, n) == 0);
}

/* Storage and control hold strings whose bytes after the NUL are not
 * defined: compare them field by field. */
static int rldSameStorage(const cfgStorage *a, const cfgStorage *b)
{
    return strcmp(a->dataDir, b->dataDir) == 0 && strcmp(a->walDir, b->walDir) == 0 &&
           strcmp(a->sstDir, b->sstDir) == 0 && a->walSegmentSize == b->walSegmentSize &&
           a->durability == b->durability;
}

static int rldSameControl(const cfgControl *a, const cfgControl *b)
{
    return strcmp(a->socketPath, b->socketPath) == 0 && a->socketMode == b->socketMode &&
           strcmp(a->socketOwner, b->socketOwner) == 0 &&
           strcmp(a->socketGroup, b->socketGroup) == 0 && a->metricsPort == b->metricsPort;
}

static int rldSameFilter(const cfgFilter *a, const cfgFilter *b)
{
    return a->enabled == b->enabled && a->mode == b->mode && strcmp(a->program, b->program) == 0 &&
           strcmp(a->interface, b->interface) == 0;
}

/* Logs every section of `next` that differs from `cur` and is not reloadable. */
static void rldWarnFixed(const cfgConfig *cur, const cfgConfig *next)
{
    cfgRisk r1 = cur->risk, r2 = next->risk;
    r1.throttle = r2.throttle = 0;
    const struct {
        const char *name;
        int same;
    } s[] = {
        {"instruments", cur->instrumentCount == next->instrumentCount &&
                            rldSame(cur->instruments, next->instruments,
                                    cur->instrumentCount * sizeof *cur->instruments)},
        {"segments",
         cur->segmentCount == next->segmentCount &&
             rldSame(cur->segments, next->segments, cur->segmentCount * sizeof *cur->segments)},
        {"ports", cur->portCount == next->portCount &&
                      rldSame(cur->ports, next->ports, cur->portCount * sizeof *cur->ports)},
        {"lcores", rldSame(&cur->lcores, &next->lcores, sizeof cur->lcores)},
        {"storage", rldSameStorage(&cur->storage, &next->storage)},
        {"control", rldSameControl(&cur->control, &next->control)},
        {"filter", rldSameFilter(&cur->filter, &next->filter)},
        {"risk (other than throttle_msgs_per_sec)", rldSame(&r1, &r2, sizeof r1)},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (!s[i].same)
            logText(LOGL_WARNING, "reload: %s changed in %s: takes effect at the next start",
                    s[i].name, cur->source);
}

static int rldThrottle(cmdDaemon *d, uint32_t rate)
{
    int rc = 0;
    for (uint32_t i = 0; i < d->workerCount; i++) {
        wkRequest *r = calloc(1, sizeof *r);
        if (!r)
            return -1;
        r->type = WK_REQ_SET_THROTTLE;
        r->arg.throttle = rate;
        if (wkCall(d->workers[i], r, RLD_TIMEOUT_MS) != 0) {
            logText(LOGL_ERROR, "reload: segment %u did not take the new throttle within %d ms", i,
                    RLD_TIMEOUT_MS);
            rc = -1; /* r stays allocated: the worker may still write it */
            continue;
        }
        rc |= r->rc;
        free(r);
    }
    return rc;
}

int rldReload(cmdDaemon *d, cfgConfig *cfg)
{
    static cfgConfig next;
    char err[512];
    dmnNotify("RELOADING=1");
    logText(LOGL_INFO, "reload: SIGHUP: reading %s", cfg->source);
    int rc = 0;
    if (cfgLoad(cfg->source, &next, err, sizeof err) != 0) {
        logText(LOGL_ERROR, "reload refused, keeping the running configuration: %s", err);
        dmnNotify("READY=1");
        return -1;
    }
    rldWarnFixed(cfg, &next);
    const char *dest = next.log.destination;
    if (dmnIsDaemon() && strcmp(dest, "stderr") == 0)
        dest = "syslog"; /* a daemon's stderr is /dev/null */
    if (logConfigure(next.log.level, dest, err, sizeof err) != 0) {
        logText(LOGL_ERROR, "reload: log: %s (keeping %s)", err, cfg->log.destination);
        rc = -1;
    } else {
        cfg->log = next.log;
        logText(LOGL_INFO, "reload: log level %s, destination %s", logLevelName(next.log.level),
                dest);
    }
    if (next.risk.throttle != cfg->risk.throttle) {
        if (rldThrottle(d, next.risk.throttle) == 0) {
            logText(LOGL_INFO, "reload: risk.throttle_msgs_per_sec %u -> %u", cfg->risk.throttle,
                    next.risk.throttle);
            cfg->risk.throttle = next.risk.throttle;
        } else {
            rc = -1;
        }
    }
    cfgFree(&next);
    dmnNotify("READY=1");
    return rc;
}
