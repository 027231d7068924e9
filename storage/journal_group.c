/* journal_group.c -- one storage thread driving the writers of several journals.
 *
 * xchgd has a journal per component (each worker, later the control core)
 * and one storage thread for all of them (DESIGN.md §1: on a two-core box
 * it shares the control core). The thread round-robins jnWriterPoll over
 * the journals; while any commit is in flight and nothing else progressed
 * it sleeps in that journal's io_uring (the kernel completes the I/O on
 * these few cores), and when idle it spins a while and then backs off. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "storage/journal.h"
#include "storage/journal_int.h"

#define JG_SPIN_NS        20000 /* spin this long after the last progress, then sleep */
#define JG_TIMER_SLACK_NS 1000  /* the kernel's default 50 us would stretch every short sleep */

struct jnGroup {
    pthread_t thread;
    jnJournal **js;
    unsigned n;
    int cpu;
    uint32_t idleSleepUs;
    _Atomic int stop;
};

/* One round over every journal: 1 if any made progress; *live counts the
 * journals that have not failed. */
static int jgRound(jnGroup *g, int *live)
{
    int progress = 0;
    *live = 0;
    for (unsigned i = 0; i < g->n; i++) {
        int rc = jnWriterPoll(g->js[i]);
        if (rc > 0)
            progress = 1;
        if (rc >= 0)
            (*live)++;
    }
    return progress;
}

static void *jgMain(void *arg)
{
    jnGroup *g = arg;
    if (g->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(g->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    prctl(PR_SET_TIMERSLACK, JG_TIMER_SLACK_NS, 0, 0, 0);
    unsigned turn = 0;
    uint32_t sleepUs = 1;
    uint64_t idleSince = 0; /* 0: progress in the last round */
    while (!atomic_load_explicit(&g->stop, memory_order_acquire)) {
        int live;
        if (jgRound(g, &live)) {
            idleSince = 0;
            sleepUs = 1;
            continue;
        }
        if (!live)
            break; /* every journal failed: nothing left to write */
        /* sleeps in io_uring only while that journal has a commit in flight */
        jnWriterWait(g->js[turn++ % g->n], g->idleSleepUs ? g->idleSleepUs : 50);
        /* Spinning only briefly: on a two-core box this thread shares its core
         * with the control lcore and everything else, and a spin of
         * thousands of rounds never ended under a steady trickle of records. */
        const uint64_t now = jnNowNs(CLOCK_MONOTONIC);
        if (!idleSince)
            idleSince = now;
        if (g->idleSleepUs && now - idleSince >= JG_SPIN_NS) {
            struct timespec ts = {0, (long)sleepUs * 1000};
            nanosleep(&ts, NULL);
            sleepUs = sleepUs * 2 > g->idleSleepUs ? g->idleSleepUs : sleepUs * 2;
        }
    }
    for (unsigned i = 0; i < g->n; i++)
        jnFlush(g->js[i]);
    return NULL;
}

jnGroup *jnGroupStart(jnJournal *const *js, unsigned n, int cpu, uint32_t idleSleepUs)
{
    if (n == 0) {
        errno = EINVAL;
        return NULL;
    }
    jnGroup *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->js = calloc(n, sizeof *g->js);
    if (!g->js) {
        free(g);
        return NULL;
    }
    memcpy(g->js, js, n * sizeof *js);
    g->n = n;
    g->cpu = cpu;
    g->idleSleepUs = idleSleepUs;
    int rc = pthread_create(&g->thread, NULL, jgMain, g);
    if (rc) {
        free(g->js);
        free(g);
        errno = rc;
        return NULL;
    }
    pthread_setname_np(g->thread, "xchg-storage");
    return g;
}

void jnGroupStop(jnGroup *g)
{
    if (!g)
        return;
    atomic_store_explicit(&g->stop, 1, memory_order_release);
    pthread_join(g->thread, NULL);
    free(g->js);
    free(g);
}
