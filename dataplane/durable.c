/* durable.c -- recovery by replay at start, the journals and their storage thread, shutdown. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dataplane/durable.h"
#include "dataplane/wal.h"
#include "storage/journal.h"

/* frames a segment may hold for durability: half of it (the point where the
 * worker stops reading input) stays well below the worker's 8191 mbufs */
#define DU_GATE_SLOTS 4096

struct duStore {
    uint32_t n;
    jnJournal **j;
    walLog **wal;
    jnGroup *group;
    jnJournal *control; /* the control core's stream, in the group after the segments */
    int recovered;
    uint32_t maxSessionId;
};

static uint64_t duNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* mkdir -p, then a file actually created and removed: access(2) says yes
 * to root on a read-only filesystem. */
static int duCheckDir(const char *dir, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0750) && errno != EEXIST) {
            snprintf(err, errlen, "storage directory %s cannot be created: %s", path,
                     strerror(errno));
            return -1;
        }
        *p = c;
        if (!c)
            break;
    }
    snprintf(path, sizeof path, "%s/.xchgd-write-test", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "storage directory %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(path);
    return 0;
}

static void duProgress(void *ctx, const walReplayReport *r)
{
    const unsigned *seg = ctx;
    printf("xchgd: recovery: segment %u: %llu records replayed (%.0f records/s)\n", *seg,
           (unsigned long long)r->records, r->ns ? (double)r->records * 1e9 / (double)r->ns : 0.0);
    fflush(stdout);
}

/* Replays one segment's stream into its gateway. */
static int duReplay(duStore *d, const char *dir, unsigned segId, gwGateway *gw,
                    const duOptions *opt, char *err, size_t errlen)
{
    walReplayReport rep;
    jnError je;
    unsigned flags = JN_RD_REPAIR | (opt->recoverToCorruption ? JN_RD_STOP_AT_BAD : 0);
    gwSetReplaying(gw, 1); /* the answers went out before: count them, build none */
    const int rc = walReplay(dir, segId, flags, gw, duProgress, &segId, &rep, &je);
    gwSetReplaying(gw, 0);
    if (rc) {
        snprintf(err, errlen,
                 "recovery of segment %u stopped: %s; xchgd does not start on a damaged journal "
                 "(--recover-to-corruption replays up to the damage and sets the rest aside)",
                 segId, je.msg);
        return -1;
    }
    const jnReadReport *rd = &rep.read;
    if (rd->cut)
        printf("xchgd: recovery: segment %u: torn tail cut: %s offset %llu (%llu bytes, %llu "
               "records of the unfinished commit)\n",
               segId, rd->tornFile, (unsigned long long)rd->tornOffset,
               (unsigned long long)rd->tornBytes, (unsigned long long)rd->tornRecords);
    if (rd->stoppedAtBad) {
        printf("xchgd: recovery: segment %u: WARNING: journal damaged: %s; recovering up to it "
               "as asked: the inputs after it are lost\n",
               segId, rd->bad.msg);
        int k = jnCutAt(dir, rd->bad.file, rd->bad.offset, &je);
        if (k < 0) {
            snprintf(err, errlen, "segment %u: cannot set the damage aside: %s", segId, je.msg);
            return -1;
        }
        printf("xchgd: recovery: segment %u: %d file(s) cut or renamed *.damaged\n", segId, k);
    }
    double secs = (double)rep.ns / 1e9;
    printf("xchgd: recovery: segment %u: %llu records (sequences %llu..%llu) replayed in %.3f s, "
           "%.0f records/s, %u segment file(s)\n",
           segId, (unsigned long long)rep.records, (unsigned long long)rep.firstSeq,
           (unsigned long long)rep.lastSeq, secs, secs > 0 ? (double)rep.records / secs : 0.0,
           rd->segments);
    fflush(stdout);
    d->recovered |= rep.records > 0;
    if (rep.maxSessionId > d->maxSessionId)
        d->maxSessionId = rep.maxSessionId;
    return 0;
}

/* Opens segment i's stream and attaches its log to the worker. */
static int duAttach(duStore *d, const cfgConfig *cfg, uint32_t i, const char *dir, wkWorker *w,
                    const duOptions *opt, char *err, size_t errlen)
{
    jnConfig jc;
    jnError je;
    jnConfigDefaults(&jc);
    jc.dir = dir;
    jc.stream = cfg->segments[i].id;
    jc.segmentBytes = cfg->storage.walSegmentSize;
    if (opt->ringMiB > 0)
        jc.ringBytes = (uint32_t)opt->ringMiB << 20;
    d->j[i] = jnOpen(&jc, &je);
    if (!d->j[i]) {
        snprintf(err, errlen, "segment %u: %s", cfg->segments[i].id, je.msg);
        return -1;
    }
    d->wal[i] = walCreate(d->j[i], wkGateway(w), cfg->storage.durability == CFG_DURABILITY_SYNC,
                          DU_GATE_SLOTS, NULL);
    if (!d->wal[i]) {
        snprintf(err, errlen, "segment %u: out of memory for the output gate", cfg->segments[i].id);
        return -1;
    }
    wkAttachWal(w, d->wal[i]);
    return 0;
}

/* Warns when a worker lcore spins on the CPU that takes the disk's
 * interrupts: every commit then waits for a scheduler tick or more. */
static void duCheckPlacement(const cfgConfig *cfg, uint32_t n)
{
    int irq = jnDiskIrqCpu(cfg->storage.walDir);
    for (uint32_t i = 0; irq >= 0 && i < n; i++) {
        if ((int)rte_lcore_to_cpu_id((int)cfg->segments[i].lcore) != irq)
            continue;
        printf("xchgd: warning: the disk under %s takes its interrupts on CPU %d, where worker "
               "lcore %u spins: journal commits will wait for scheduler ticks (ms, not us). Move "
               "the interrupt to the storage lcore's CPU (/proc/irq/N/smp_affinity_list) or the "
               "worker to another CPU (docs/storage/journal.md, \"Used by xchgd\")\n",
               cfg->storage.walDir, irq, cfg->segments[i].lcore);
    }
}

duStore *duOpen(const cfgConfig *cfg, wkWorker **workers, uint32_t n, const duOptions *opt,
                char *err, size_t errlen)
{
    duStore *d = calloc(1, sizeof *d);
    if (d) {
        d->j = calloc(n, sizeof *d->j);
        d->wal = calloc(n, sizeof *d->wal);
    }
    if (!d || !d->j || !d->wal) {
        snprintf(err, errlen, "out of memory");
        duClose(d);
        return NULL;
    }
    d->n = n;
    for (uint32_t i = 0; i < n; i++) {
        char dir[CFG_PATH_MAX + 32];
        snprintf(dir, sizeof dir, "%s/seg-%u", cfg->storage.walDir, cfg->segments[i].id);
        gwGateway *gw = wkGateway(workers[i]);
        if (duCheckDir(dir, err, errlen) ||
            duReplay(d, dir, cfg->segments[i].id, gw, opt, err, errlen) ||
            duAttach(d, cfg, i, dir, workers[i], opt, err, errlen)) {
            duClose(d);
            return NULL;
        }
        /* every start is an input too: it opens logons (a shutdown closed them) */
        const walTimeRec start = {.nowNs = duNow()};
        walControl(d->wal[i], WAL_START, &start, sizeof start);
        walApply(gw, WAL_START, &start, sizeof start);
        walPoll(d->wal[i]);
        walSetMuted(d->wal[i], 0);
    }
    d->control = opt->control;
    jnJournal *all[n + 1];
    for (uint32_t i = 0; i < n; i++)
        all[i] = d->j[i];
    if (d->control)
        all[n] = d->control;
    d->group = jnGroupStart(all, n + (d->control != NULL), cfg->lcores.storage, 50);
    if (!d->group) {
        snprintf(err, errlen, "storage thread: %s", strerror(errno));
        duClose(d);
        return NULL;
    }
    duCheckPlacement(cfg, n);
    printf("xchgd: storage: %u journal stream(s) in %s, durability %s, segments of %llu MiB\n", n,
           cfg->storage.walDir, cfgDurabilityName(cfg->storage.durability),
           (unsigned long long)(cfg->storage.walSegmentSize >> 20));
    fflush(stdout);
    return d;
}

jnJournal *duJournal(const duStore *d, uint32_t i)
{
    return i < d->n ? d->j[i] : i == d->n ? d->control : NULL;
}

int duRecovered(const duStore *d)
{
    return d->recovered;
}

uint32_t duNextSessionId(const duStore *d)
{
    return d->maxSessionId + 1;
}

void duForEachSession(const duStore *d, wkWorker **workers, duSessionFn *fn, void *ctx)
{
    static gwSessionInfo s[WK_MAX_SESSIONS];
    for (uint32_t i = 0; i < d->n; i++) {
        uint32_t k = gwSessionList(wkGateway(workers[i]), s, WK_MAX_SESSIONS);
        for (uint32_t j = 0; j < k; j++)
            if (s[j].state != GW_SESSION_DISABLED)
                fn(ctx, i, &s[j]);
    }
}

void duClose(duStore *d)
{
    if (!d)
        return;
    jnGroupStop(d->group); /* drains: everything published becomes durable */
    for (uint32_t i = 0; d->j && i < d->n; i++) {
        jnClose(d->j[i]);
        walDestroy(d->wal ? d->wal[i] : NULL);
    }
    jnClose(d->control);
    free(d->j);
    free(d->wal);
    free(d);
}
