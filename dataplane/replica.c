/* replica.c -- the replica thread: shadows fed from the journal files, checkpoints taken from them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/replica.h"

/* records applied per component per turn: the others and requests wait no longer */
#define RP_BURST 4096

struct rpReplica {
    rpOptions opt;
    char root[512];
    rpComponent c[RP_MAX_COMPONENTS];
    jnTail *tail[RP_MAX_COMPONENTS];
    uint32_t n;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, request; /* under mu */
    const char *reqWhy;
    uint64_t reqGen, doneGen;
    int reqRc;
    rpResult reqRes;
    char reqErr[CK_ERR_MAX];
    uint64_t nextId, sinceLast, lastNs;
    rpStats st;
};

static uint64_t rpNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

rpReplica *rpCreate(const rpOptions *opt)
{
    rpReplica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->opt = *opt;
    snprintf(r->root, sizeof r->root, "%s", opt->root);
    r->opt.root = r->root;
    if (r->opt.kept < 1)
        r->opt.kept = 1;
    r->nextId = opt->firstId ? opt->firstId : 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    return r;
}

int rpAddComponent(rpReplica *r, const rpComponent *c)
{
    if (r->started || r->n >= RP_MAX_COMPONENTS)
        return -1;
    r->c[r->n++] = *c;
    return 0;
}

/* Applies what is durable of component i, at most max records (0: all up
 * to limit). Returns records applied, or -1 (the replica stops: a shadow
 * that missed a record is no longer a copy). */
static int64_t rpFollow(rpReplica *r, uint32_t i, uint64_t limit, uint64_t max)
{
    rpComponent *c = &r->c[i];
    int64_t k = 0;
    jnRecord rec;
    jnError je;
    int rc = 0;
    if (!c->apply)
        return 0; /* captured by its owner, not followed */
    while ((!max || (uint64_t)k < max) && (rc = jnTailNext(r->tail[i], limit, &rec, &je)) == 1) {
        if (c->apply(c->state, rec.type, rec.payload, rec.len)) {
            printf("xchgd: replica: %s: record %" PRIu64 " (type %u) not applied: the replica "
                   "stops, no more checkpoints\n",
                   c->name, rec.seq, rec.type);
            return -1;
        }
        c->seq = rec.seq;
        k++;
    }
    if (rc < 0) {
        printf("xchgd: replica: %s: %s: the replica stops, no more checkpoints\n", c->name, je.msg);
        return -1;
    }
    return k;
}

/* Deletes the journal files of component i that the oldest kept
 * checkpoint covers and the replica has read, keeping segmentsRetained. */
static uint32_t rpRetire(rpReplica *r, uint32_t i)
{
    if (r->opt.segmentsRetained < 0 || !r->tail[i])
        return 0;
    uint64_t ids[256], covered = UINT64_MAX;
    int n = ckList(r->root, ids, 256);
    for (int k = 0; k < n; k++) {
        ckManifest m;
        char err[CK_ERR_MAX];
        if (ckLoad(r->root, ids[k], &m, err, sizeof err))
            continue;
        const ckStream *s = ckFind(&m, r->c[i].stream);
        covered = s && s->seq < covered ? s->seq : (s ? covered : 0);
    }
    if (covered == UINT64_MAX || covered == 0)
        return 0;
    jnError je;
    int k = jnRetire(r->c[i].dir, r->c[i].stream, covered, jnTailSegment(r->tail[i]),
                     (uint32_t)r->opt.segmentsRetained, &je);
    if (k < 0)
        printf("xchgd: replica: %s: retention: %s\n", r->c[i].name, je.msg);
    return k > 0 ? (uint32_t)k : 0;
}

/* A captured component's state goes into this checkpoint: its owner has
 * captured one (c->seq set to what it covers) and the journal has made that
 * sequence durable (a second at most: else a crash could leave the
 * checkpoint ahead of its journal, which recovery would refuse anyway). */
static int rpCaptured(rpComponent *c)
{
    const uint64_t seq = c->seqNow ? c->seqNow(c->state) : 0;
    if (!seq)
        return 0;
    for (int k = 0; k < 100 && jnDurableSeq(c->journal) < seq; k++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (jnDurableSeq(c->journal) < seq) {
        printf("xchgd: replica: %s: its capture at sequence %" PRIu64
               " is not durable yet: this checkpoint goes without it\n",
               c->name, seq);
        return 0;
    }
    c->seq = seq;
    return 1;
}

/* Catches every shadow up with what is durable now, then writes them. */
static int rpTake(rpReplica *r, rpResult *res, char *err, size_t errlen)
{
    const uint64_t t0 = rpNow();
    memset(res, 0, sizeof *res);
    for (uint32_t i = 0; i < r->n; i++)
        if (rpFollow(r, i, jnDurableSeq(r->c[i].journal), 0) < 0) {
            r->st.stopped = 1;
            snprintf(err, errlen, "the replica of %s stopped (see the log)", r->c[i].name);
            return -1;
        }
    ckWriter *w = ckBegin(r->root, r->nextId, err, errlen);
    if (!w)
        return -1;
    for (uint32_t i = 0; i < r->n; i++) {
        ckptSink sink;
        rpComponent *c = &r->c[i];
        if (!c->apply && !rpCaptured(c))
            continue;
        if (ckStreamBegin(w, c->stream, c->seq, &sink)) {
            snprintf(err, errlen, "too many streams");
            ckAbort(w);
            return -1;
        }
        if (c->snapshot(c->state, &sink)) {
            snprintf(err, errlen, "%s: snapshot failed: %s", c->name, c->why ? c->why() : "");
            ckAbort(w);
            return -1;
        }
        if (ckStreamEnd(w, err, errlen)) {
            ckAbort(w);
            return -1;
        }
    }
    if (ckCommit(w, &res->m, err, errlen))
        return -1;
    r->nextId++;
    ckPrune(r->root, (int)r->opt.kept);
    for (uint32_t i = 0; i < res->m.n; i++)
        res->bytes += res->m.s[i].bytes;
    for (uint32_t i = 0; i < r->n; i++)
        res->filesRetired += rpRetire(r, i);
    res->ms = (double)(rpNow() - t0) / 1e6;
    return 0;
}

/* Runs a checkpoint and logs it; why: "requested", "periodic", "final". */
static int rpRun(rpReplica *r, const char *why, rpResult *res, char *err, size_t errlen)
{
    int rc = rpTake(r, res, err, errlen);
    r->sinceLast = 0;
    r->lastNs = rpNow();
    pthread_mutex_lock(&r->mu);
    if (rc) {
        r->st.failed++;
    } else {
        r->st.taken++;
        r->st.lastId = res->m.id;
        r->st.lastMs = (uint64_t)res->ms;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        printf("xchgd: checkpoint (%s) failed: %s\n", why, err);
    } else {
        printf("xchgd: checkpoint %" PRIu64 " (%s): %u stream(s),", res->m.id, why, res->m.n);
        for (uint32_t i = 0; i < res->m.n; i++)
            printf(" %u@%" PRIu64, res->m.s[i].stream, res->m.s[i].seq);
        printf(", %" PRIu64 " bytes, %.1f ms, %u journal file(s) retired\n", res->bytes, res->ms,
               res->filesRetired);
    }
    fflush(stdout);
    return rc;
}

static void rpLowPriority(int cpu)
{
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_setname_np(pthread_self(), "xchg-replica");
}

/* A periodic trigger is due. */
static int rpDue(const rpReplica *r)
{
    if (r->opt.everyRecords && r->sinceLast >= r->opt.everyRecords)
        return 1;
    return r->opt.intervalS && r->sinceLast &&
           rpNow() - r->lastNs >= (uint64_t)r->opt.intervalS * 1000000000ull;
}

static void *rpMain(void *arg)
{
    rpReplica *r = arg;
    rpLowPriority(r->opt.cpu);
    r->lastNs = rpNow();
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int stop = r->stop, req = r->request;
        uint64_t gen = r->reqGen;
        const char *why = r->reqWhy;
        r->request = 0;
        pthread_mutex_unlock(&r->mu);
        if (req) {
            rpResult res;
            char err[CK_ERR_MAX] = "";
            int rc = r->st.stopped ? (snprintf(err, sizeof err,
                                               "the replica stopped (see the "
                                               "log): no checkpoint can be taken"),
                                      -1)
                                   : rpRun(r, why, &res, err, sizeof err);
            pthread_mutex_lock(&r->mu);
            r->reqRc = rc;
            r->reqRes = res;
            memcpy(r->reqErr, err, sizeof err);
            r->doneGen = gen;
            pthread_cond_broadcast(&r->cv);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (stop)
            break;
        int64_t applied = 0;
        for (uint32_t i = 0; i < r->n && !r->st.stopped; i++) {
            int64_t k = rpFollow(r, i, jnDurableSeq(r->c[i].journal), RP_BURST);
            if (k < 0)
                r->st.stopped = 1;
            else
                applied += k;
        }
        r->sinceLast += (uint64_t)applied;
        __atomic_store_n(&r->st.applied, r->st.applied + (uint64_t)applied, __ATOMIC_RELAXED);
        if (!r->st.stopped && rpDue(r)) {
            rpResult res;
            char err[CK_ERR_MAX];
            rpRun(r, "periodic", &res, err, sizeof err);
        }
        if (!applied) {
            struct timespec ts = {0, 2000000}; /* 2 ms: the replica may lag, never spin */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int rpStart(rpReplica *r, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < r->n; i++) {
        jnError je;
        if (!r->c[i].apply)
            continue; /* captured, not followed */
        r->tail[i] = jnTailOpen(r->c[i].dir, r->c[i].stream, r->c[i].seq + 1, &je);
        if (!r->tail[i]) {
            snprintf(err, errlen, "replica of %s: %s", r->c[i].name, je.msg);
            return -1;
        }
    }
    if (pthread_create(&r->thread, NULL, rpMain, r)) {
        snprintf(err, errlen, "replica thread: %s", strerror(errno));
        return -1;
    }
    r->started = 1;
    return 0;
}

int rpCheckpoint(rpReplica *r, const char *why, rpResult *res, char *err, size_t errlen)
{
    if (!r || !r->started) {
        snprintf(err, errlen, "checkpoints are not running");
        return -1;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    pthread_mutex_lock(&r->mu);
    uint64_t gen = ++r->reqGen;
    r->request = 1;
    r->reqWhy = why;
    int rc = 0;
    while (r->doneGen < gen && rc == 0)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &dl);
    if (r->doneGen >= gen) {
        rc = r->reqRc;
        *res = r->reqRes;
        snprintf(err, errlen, "%s", r->reqErr);
    } else {
        snprintf(err, errlen, "the checkpoint did not finish within 60 s");
        rc = -1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void rpGetStats(rpReplica *r, rpStats *st)
{
    pthread_mutex_lock(&r->mu);
    *st = r->st;
    st->applied = __atomic_load_n(&r->st.applied, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&r->mu);
}

void rpDestroy(rpReplica *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (uint32_t i = 0; i < r->n; i++)
        jnTailClose(r->tail[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
