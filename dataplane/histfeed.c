/* histfeed.c -- the shadow gateways' reports into the trading history, exactly once (histfeed.h).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/settle.h"
#include "dataplane/histfeed.h"
#include "storage/history.h"
#include "xchg/xoe.h"

#include <jansson.h>

#define HF_KNOWN_BITS (1u << 20) /* session ids below this are remembered in a bitmap */
/* memtable room a record's rows must find (a quarter of the default 4 MiB:
 * an order sweeping some 800 price levels) */
#define HF_RECORD_ROOM (1u << 20)

typedef struct {
    uint32_t stream; /* the segment's id: its journal stream and the rows' segment */
    uint64_t pos;    /* position stored (or read at open) */
    uint64_t cur;    /* record being applied, 0: none */
    int take;        /* its reports are taken */
} hfSegment;

struct hfFeed {
    histWriter *h;
    hfSegment *seg;
    uint32_t n;
    uint8_t *known; /* bitmap: the session's account was given to the writer */
    int failed;
    hfStats st; /* replica thread */
    pthread_mutex_t mu;
    hfStats pub;            /* copy for other threads, under mu */
    uint64_t *posPub;       /* each segment's position, under mu */
    histSettleRow *settleQ; /* handed over by the control core, under mu */
    uint32_t settleN, settleCap;
};

static uint64_t hfMonoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hfDrainSettlements(hfFeed *f);

/* Logs the first failure and stops taking reports. */
static void hfFail(hfFeed *f, const char *what, const sstError *e)
{
    if (!f->failed)
        printf("xchgd: history: %s: %s: the history stops here (trading goes on)\n", what, e->msg);
    fflush(stdout);
    f->failed = 1;
}

/* Opens the tree with the calling thread moved to CPU cpu meanwhile, so
 * the tree's background thread (flushes, compactions, fsync) is born
 * there, on the storage CPU, and not on the caller's (xchgd's control
 * lcore, whose polling loop it would slow), and at nice 10 like the
 * replica. */
static histWriter *hfOpenOn(const char *dir, int cpu, sstError *e)
{
    cpu_set_t old, set;
    int moved = 0;
    if (cpu >= 0 && cpu < CPU_SETSIZE &&
        pthread_getaffinity_np(pthread_self(), sizeof old, &old) == 0) {
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        moved = pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
    }
    /* ... and at the replica's low priority (a thread's nice value is
     * inherited by the threads it creates) */
    const id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    const int prio = getpriority(PRIO_PROCESS, tid);
    const int havePrio = errno == 0 && setpriority(PRIO_PROCESS, tid, 10) == 0;
    histWriter *h = histOpen(dir, NULL, e);
    if (havePrio)
        setpriority(PRIO_PROCESS, tid, prio);
    if (moved)
        pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    return h;
}

hfFeed *hfOpen(const cfgConfig *cfg, const char *dir, char *err, size_t errlen)
{
    sstError e;
    hfFeed *f = calloc(1, sizeof *f);
    if (f) {
        pthread_mutex_init(&f->mu, NULL);
        f->seg = calloc(cfg->segmentCount ? cfg->segmentCount : 1, sizeof *f->seg);
        f->known = calloc(HF_KNOWN_BITS / 8, 1);
        f->posPub = calloc(cfg->segmentCount ? cfg->segmentCount : 1, sizeof *f->posPub);
    }
    if (!f || !f->seg || !f->known || !f->posPub) {
        snprintf(err, errlen, "history: out of memory");
        goto fail;
    }
    f->n = cfg->segmentCount;
    if (!(f->h = hfOpenOn(dir, cfg->lcores.storage, &e))) {
        snprintf(err, errlen, "history %s: %s", dir, e.msg);
        goto fail;
    }
    histSetTickBars(f->h, 1);
    for (uint32_t i = 0; i < cfg->instrumentCount; i++) {
        const cfgInstrument *in = &cfg->instruments[i];
        histMapInstrument(f->h, in->segment, in->book, (uint16_t)i);
    }
    for (uint32_t i = 0; i < f->n; i++) {
        f->seg[i].stream = cfg->segments[i].id;
        if (histGetPosition(f->h, f->seg[i].stream, &f->seg[i].pos, &e)) {
            snprintf(err, errlen, "history %s: %s", dir, e.msg);
            goto fail;
        }
        f->posPub[i] = f->seg[i].pos;
    }
    return f;
fail:
    hfClose(f);
    return NULL;
}

void hfClose(hfFeed *f)
{
    if (!f)
        return;
    if (f->h && f->seg)
        hfDrainSettlements(f);
    histClose(f->h);
    pthread_mutex_destroy(&f->mu);
    free(f->seg);
    free(f->known);
    free(f->posPub);
    free(f->settleQ);
    free(f);
}

uint64_t hfPosition(const hfFeed *f, uint32_t i)
{
    return i < f->n ? f->seg[i].pos : 0;
}

int hfBegin(hfFeed *f, uint32_t i, uint64_t seq)
{
    if (i >= f->n)
        return 0;
    hfSegment *s = &f->seg[i];
    sstError e;
    s->cur = seq;
    s->take = !f->failed && seq > s->pos;
    if (!s->take && !f->failed)
        f->st.skipped++;
    if (s->take && histRoom(f->h, HF_RECORD_ROOM, &e)) {
        hfFail(f, "flush", &e);
        s->take = 0;
    }
    return s->take;
}

/* Tells the writer the account of every session gw has (once a session). */
static void hfLearnSessions(hfFeed *f, const gwGateway *gw)
{
    gwSessionInfo info[64];
    uint32_t n = gwSessionList(gw, info, 64);
    for (uint32_t k = 0; k < n && k < 64; k++) {
        const uint32_t id = info[k].sessionId;
        if (histSetAccount(f->h, id, info[k].account) == 0 && id < HF_KNOWN_BITS)
            f->known[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
}

void hfFrame(hfFeed *f, uint32_t i, const gwGateway *gw, const uint8_t *data, uint16_t len)
{
    if (i >= f->n || !f->seg[i].take || f->failed)
        return;
    xoeFrame fr;
    if (xoeFrameParse(data, len, XOE_DIR_TO_CLIENT, &fr, NULL) == XOE_OK &&
        (fr.session >= HF_KNOWN_BITS || !(f->known[fr.session >> 3] & (1u << (fr.session & 7)))))
        hfLearnSessions(f, gw);
    sstError e;
    f->st.frames++;
    if (histOnFrame(f->h, (uint8_t)f->seg[i].stream, data, len, &e))
        hfFail(f, "a report could not be stored", &e);
}

void hfEnd(hfFeed *f, uint32_t i)
{
    if (i >= f->n)
        return;
    hfSegment *s = &f->seg[i];
    if (s->take && !f->failed) {
        sstError e;
        if (histSetPosition(f->h, s->stream, s->cur, &e))
            hfFail(f, "the journal position could not be stored", &e);
        else {
            s->pos = s->cur;
            f->st.records++;
        }
    }
    s->cur = 0;
    s->take = 0;
}

/* Publishes the counters for other threads. */
static void hfPublish(hfFeed *f)
{
    histStats hs;
    histGetStats(f->h, &hs);
    f->st.orders = hs.orders;
    f->st.trades = hs.trades;
    f->st.rejects = hs.rejects;
    f->st.ticks = hs.ticks;
    f->st.klines = hs.klines;
    f->st.replayed = hs.replayed;
    f->st.failed = f->failed;
    pthread_mutex_lock(&f->mu);
    f->pub = f->st;
    for (uint32_t i = 0; i < f->n; i++)
        f->posPub[i] = f->seg[i].pos;
    pthread_mutex_unlock(&f->mu);
}

/* Writes the settlement rows the control core handed over. */
static void hfDrainSettlements(hfFeed *f)
{
    histSettleRow *q = NULL;
    uint32_t n = 0;
    pthread_mutex_lock(&f->mu);
    if (f->settleN) {
        q = f->settleQ;
        n = f->settleN;
        f->settleQ = NULL;
        f->settleN = f->settleCap = 0;
    }
    pthread_mutex_unlock(&f->mu);
    for (uint32_t k = 0; k < n && !f->failed; k++) {
        sstError e;
        if (histOnSettlement(f->h, &q[k], &e))
            hfFail(f, "a settlement result could not be stored", &e);
        else
            f->st.settlements++;
    }
    free(q);
}

void hfTick(hfFeed *f)
{
    hfDrainSettlements(f);
    if (!f->failed)
        histTick(f->h, hfMonoNs());
    hfPublish(f);
}

static hfFeed *hfCtl; /* the control core's history (hfSetControl) */

void hfSetControl(hfFeed *f)
{
    __atomic_store_n(&hfCtl, f, __ATOMIC_RELEASE);
}

void hfSettled(const acctBook *book, uint32_t index)
{
    hfFeed *f = __atomic_load_n(&hfCtl, __ATOMIC_ACQUIRE);
    const settleResult *r = settleAt(book, index);
    if (!f || !r)
        return;
    pthread_mutex_lock(&f->mu);
    for (uint32_t k = 0; k < r->totalAccounts; k++) {
        const settleAccount *d = settleDetailAt(book, r->firstDetail + k);
        if (!d)
            continue;
        if (f->settleN == f->settleCap) {
            uint32_t cap = f->settleCap ? f->settleCap * 2 : 64;
            histSettleRow *q = realloc(f->settleQ, cap * sizeof *q);
            if (!q) {
                printf("xchgd: history: out of memory: settlement of %u not kept\n", r->date);
                break;
            }
            f->settleQ = q;
            f->settleCap = cap;
        }
        histSettleRow *row = &f->settleQ[f->settleN++];
        memset(row, 0, sizeof *row);
        row->date = d->date;
        row->account = d->account;
        row->forceClose = d->forceClose;
        row->preBalance = d->preBalance;
        row->deposit = d->deposit;
        row->withdraw = d->withdraw;
        row->closeProfit = d->closeProfit;
        row->positionProfit = d->positionProfit;
        row->commission = d->commission;
        row->balance = d->balance;
        row->margin = d->margin;
        row->riskRatio = d->riskRatio;
    }
    pthread_mutex_unlock(&f->mu);
}

void hfSettledAll(const acctBook *book)
{
    for (uint32_t i = 0; i < settleCount(book); i++)
        hfSettled(book, i);
}

int hfSync(hfFeed *f, char *err, size_t errlen)
{
    sstError e;
    (void)err;
    (void)errlen;
    hfDrainSettlements(f);
    if (!f->failed && histFlush(f->h, &e))
        hfFail(f, "flush", &e);
    hfPublish(f);
    /* a stopped history does not hold checkpoints back: the exchange's
     * recovery and journal retention come first; the history has said it
     * ends there, and the next start says which records it then lacks */
    return 0;
}

void hfGetStats(hfFeed *f, hfStats *st)
{
    pthread_mutex_lock(&f->mu);
    *st = f->pub;
    pthread_mutex_unlock(&f->mu);
}

/* storage.history: what the feed took and where each segment's history ends. */
static int hfCmdHistory(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    hfFeed *f = ctx;
    hfStats st;
    (void)args;
    (void)err;
    hfGetStats(f, &st);
    json_t *pos = json_array();
    pthread_mutex_lock(&f->mu);
    for (uint32_t i = 0; i < f->n; i++)
        json_array_append_new(pos, json_pack("{s:I, s:I}", "stream", (json_int_t)f->seg[i].stream,
                                             "seq", (json_int_t)f->posPub[i]));
    pthread_mutex_unlock(&f->mu);
    *data = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "positions", pos,
                      "records", (json_int_t)st.records, "skipped", (json_int_t)st.skipped,
                      "frames", (json_int_t)st.frames, "orders", (json_int_t)st.orders, "trades",
                      (json_int_t)st.trades, "rejects", (json_int_t)st.rejects, "ticks",
                      (json_int_t)st.ticks, "klines", (json_int_t)st.klines, "replayed",
                      (json_int_t)st.replayed, "failed", st.failed);
    json_object_set_new(*data, "settlements", json_integer((json_int_t)st.settlements));
    return 0;
}

int hfRegister(ctlServer *s, hfFeed *f)
{
    return ctlServerRegister(s, "storage.history", hfCmdHistory, f,
                             "the trading history's counters and covered journal positions");
}
