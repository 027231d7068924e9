/* test_ctljournal.c -- unit tests of the control core's journal stream (dataplane/ctljournal.c).
 *
 * Random admin commands (through the real command handlers) and worker
 * events (orders, fills, cancels, reclaim answers from a simulated worker)
 * go into a control state with a journal; a fresh state replaying the
 * journal must reach the same state hash and answer every query the same.
 * Damaged, unknown and unparsable records must stop the replay with the
 * file and offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "config/config.h"
#include "control/settle.h"
#include "dataplane/accounts.h"
#include "dataplane/ctlckpt.h"
#include "dataplane/ctljournal.h"
#include "dataplane/ctlstate.h"
#include "storage/checkpoint.h"
#include "storage/journal.h"

#define QCAP 65536

/* the simulated worker: commands in, events out */
typedef struct {
    crEvent q[QCAP];
    uint32_t head, n;
    uint64_t commands;
    uint64_t cmdHash; /* FNV-1a of every command sent, in order */
} Sim;

typedef struct {
    cfgConfig cfg;
    char dir[64], sdir[96];
    Sim sim;
    Sim *simp; /* where the generated worker events go (the state's sim) */
    uint64_t seed, nextOrder, nextTrade;
} Fx;

static uint64_t rnd(Fx *fx)
{
    fx->seed ^= fx->seed << 13;
    fx->seed ^= fx->seed >> 7;
    fx->seed ^= fx->seed << 17;
    return fx->seed;
}

static void simPush(Sim *s, const crEvent *ev)
{
    assert_true(s->n < QCAP);
    s->q[(s->head + s->n++) % QCAP] = *ev;
}

static int simSend(void *ctx, uint16_t seg, const crCmd *c)
{
    Sim *s = ctx;
    s->commands++;
    const unsigned char *p = (const unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        s->cmdHash = (s->cmdHash ^ p[i]) * 1099511628211ull;
    if (c->type == CR_CMD_RECLAIM) {
        crEvent ev = {.type = CR_EV_RECLAIMED,
                      .segment = seg,
                      .account = c->account,
                      .price = c->amount,
                      .lineDelta = -c->amount};
        simPush(s, &ev);
    }
    return 0;
}

static uint32_t simFetch(void *ctx, uint32_t seg, crEvent *out, uint32_t max)
{
    Sim *s = ctx;
    uint32_t k = 0;
    (void)seg;
    while (k < max && s->n) {
        out[k++] = s->q[s->head];
        s->head = (s->head + 1) % QCAP;
        s->n--;
    }
    return k;
}

static int simState(void *ctx, uint16_t seg, uint16_t book, uint8_t state)
{
    (void)ctx;
    (void)seg;
    (void)book;
    (void)state;
    return 0;
}

static acdState *newStateSim(Fx *fx, Sim *sim)
{
    const acdHooks h = {
        .send = simSend, .sendCtx = sim, .fetch = simFetch, .setBookState = simState, .ctx = sim};
    acdState *s = acdCreateCore(&fx->cfg, 1, NULL, 20250102, &h);
    assert_non_null(s);
    return s;
}

static acdState *newState(Fx *fx)
{
    return newStateSim(fx, &fx->sim);
}

static jnJournal *openJournal(Fx *fx)
{
    jnConfig c;
    jnError e;
    jnConfigDefaults(&c);
    c.dir = fx->sdir;
    c.stream = CJ_STREAM;
    c.segmentBytes = 1 << 20;
    c.ringBytes = 1 << 20;
    c.prefill = 0;
    jnJournal *j = jnOpen(&c, &e);
    if (!j)
        fail_msg("jnOpen: %s", e.msg);
    return j;
}

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    char err[256];
    if (cfgLoad("config/xchg.conf", &fx->cfg, err, sizeof err))
        fail_msg("%s", err);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_ctljournal.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->sdir, sizeof fx->sdir, "%s/control", fx->dir);
    fx->seed = 0x9e3779b97f4a7c15ull;
    fx->simp = &fx->sim;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    cfgFree(&fx->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void cmd(acdState *s, const char *name, json_t *args)
{
    json_t *data = NULL;
    ctlError err;
    acdCommand(s, name, args, &data, &err); /* refusals are inputs too */
    json_decref(data);
    json_decref(args);
}

/* The answers of the read-only queries, concatenated. */
static char *queries(acdState *s)
{
    static const char *q[] = {"account.list",      "position.list",      "risk.accounts",
                              "risk.liquidations", "settlement.history", "order.list",
                              "trade.list",        "instrument.get",     "risk.limits"};
    size_t len = 0;
    char *all = calloc(1, 1);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        json_t *data = NULL, *args = json_object();
        ctlError err;
        assert_int_equal(acdCommandJournaled(q[i]) == 1 && strcmp(q[i], "risk.limits"), 0);
        assert_int_equal(acdCommand(s, q[i], args, &data, &err), 0);
        char *t = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        all = realloc(all, len + strlen(t) + 2);
        memcpy(all + len, t, strlen(t) + 1);
        len += strlen(t);
        free(t);
        json_decref(data);
        json_decref(args);
    }
    return all;
}

static const char *insIds[] = {"IF2501", "IC2501", "IH2501"};

static void randomOrder(Fx *fx, acdState *s, uint32_t account)
{
    const int ins = (int)(rnd(fx) % 3);
    const int i = instFind(s->book, insIds[ins]);
    assert_true(i >= 0);
    const acctInstrument *in = instAt(s->book, (uint16_t)i);
    const int64_t px = in->lastPrice + ((int64_t)(rnd(fx) % 11) - 5) * in->spec.tickSize;
    const uint32_t qty = 1 + (uint32_t)(rnd(fx) % 3);
    const uint64_t oid = ++fx->nextOrder;
    crEvent ev = {.type = CR_EV_ORDER,
                  .side = (uint8_t)(rnd(fx) & 1),
                  .offset = rnd(fx) % 4 == 0 ? POS_CLOSE : POS_OPEN,
                  .book = in->spec.book,
                  .account = account,
                  .qty = qty,
                  .leaves = qty,
                  .orderId = oid,
                  .tradeId = oid * 10,
                  .price = px,
                  .lineDelta = -(int64_t)(rnd(fx) % 100000),
                  .ns = 1000 + oid};
    simPush(fx->simp, &ev);
    const uint64_t r = rnd(fx) % 4;
    if (r < 2) {
        crEvent f = ev;
        f.type = CR_EV_FILL;
        f.tradeId = ++fx->nextTrade;
        f.qty = r == 0 ? qty : 1;
        f.leaves = qty - f.qty;
        f.lineDelta = 50;
        simPush(fx->simp, &f);
    } else if (r == 2) {
        crEvent c = ev;
        c.type = CR_EV_CANCEL;
        c.lineDelta = -ev.lineDelta;
        simPush(fx->simp, &c);
    }
}

static json_t *acc(uint32_t id)
{
    return json_pack("{s:I}", "account", (json_int_t)id);
}

/* One random step: a command or worker events, then a drain and a scan. */
static void randomStep(Fx *fx, acdState *s, uint64_t *now)
{
    const uint32_t id = 1 + (uint32_t)(rnd(fx) % 12);
    char amount[32];
    snprintf(amount, sizeof amount, "%llu", (unsigned long long)(1 + rnd(fx) % 200000));
    switch (rnd(fx) % 16) {
    case 0:
    case 1:
        cmd(s, "account.open",
            json_pack("{s:I, s:s, s:s}", "account", (json_int_t)id, "name", "t", "init_cash",
                      "5000000"));
        break;
    case 2:
        cmd(s, "account.deposit",
            json_pack("{s:I, s:s}", "account", (json_int_t)id, "amount", amount));
        break;
    case 3:
        cmd(s, "account.withdraw",
            json_pack("{s:I, s:s}", "account", (json_int_t)id, "amount", amount));
        break;
    case 4:
        cmd(s, rnd(fx) & 1 ? "account.freeze" : "account.unfreeze", acc(id));
        break;
    case 5:
        cmd(s, "risk.limits", json_pack("{s:s}", "concentration", rnd(fx) & 1 ? "50%" : "80%"));
        break;
    case 6:
        cmd(s, "instrument.update",
            json_pack("{s:s, s:s}", "instrument", insIds[rnd(fx) % 3], "margin_rate",
                      rnd(fx) & 1 ? "12%" : "15%"));
        break;
    case 7:
        cmd(s, "settlement.set_price",
            json_pack("{s:s, s:s}", "instrument", insIds[rnd(fx) % 3], "price", "3800.2"));
        break;
    default:
        randomOrder(fx, s, id);
        break;
    }
    acdDrain(s);
    *now += 10000000;
    acdScan(s, *now);
}

static void test_replay_reaches_the_same_state(void **state)
{
    Fx *fx = *state;
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    uint64_t now = 1700000000000000000ull;
    for (int i = 0; i < 3000; i++) {
        randomStep(fx, s, &now);
        if (i % 100 == 99)
            assert_int_equal(jnFlush(j), 0); /* many commits */
        if (i == 1500) {
            /* a settlement with prices for every instrument: it drains and
             * quiesces inside the command */
            for (int k = 0; k < 4; k++) {
                const acctInstrument *in = instAt(s->book, (uint16_t)k);
                char px[40];
                cfgFormatDecimal(in->lastPrice, 4, 4, px, sizeof px);
                cmd(s, "settlement.set_price",
                    json_pack("{s:s, s:s}", "instrument", in->spec.id, "price", px));
            }
            cmd(s, "settlement.run", json_pack("{s:i}", "date", 20250102));
            assert_int_equal(settleCount(s->book), 1);
        }
    }
    assert_true(acctCount(s->book) >= 10);
    assert_true(acctTradeCount(s->book) > 100);
    const uint64_t h1 = cjStateHash(s);
    char *q1 = queries(s); /* risk.limits is journaled: flush after it */
    assert_int_equal(jnFlush(j), 0);
    const uint64_t last = jnLastSeq(j);
    jnClose(j);

    acdState *r = newState(fx);
    assert_int_not_equal(cjStateHash(r), h1);
    uint64_t lastSeq, records;
    jnError e;
    const uint64_t commands = fx->sim.commands;
    if (cjReplay(r, fx->sdir, 0, &lastSeq, &records, &e) != 0)
        fail_msg("replay: %s", e.msg);
    assert_int_equal(fx->sim.commands, commands); /* replay sends nothing */
    assert_int_equal(lastSeq, last);
    assert_int_equal(records, last);
    assert_int_equal(cjStateHash(r), h1);
    char *q2 = queries(r);
    assert_string_equal(q1, q2);
    lgStats a, b;
    lgGetStats(s->lg, &a);
    lgGetStats(r->lg, &b);
    assert_int_equal(a.mismatches, b.mismatches);
    assert_int_equal(a.fills, b.fills);
    free(q1);
    free(q2);
    acdDestroy(s);
    acdDestroy(r);
}

/* A state that differs in one input does not reach the hash. */
static void test_hash_sees_one_deposit(void **state)
{
    Fx *fx = *state;
    acdState *a = newState(fx), *b = newState(fx);
    cjClockSet(5);
    cmd(a, "account.open", json_pack("{s:i, s:s}", "account", 7, "init_cash", "100"));
    cmd(b, "account.open", json_pack("{s:i, s:s}", "account", 7, "init_cash", "100"));
    cjClockSet(0);
    assert_int_equal(cjStateHash(a), cjStateHash(b));
    cmd(b, "account.deposit", json_pack("{s:i, s:s}", "account", 7, "amount", "1"));
    assert_int_not_equal(cjStateHash(a), cjStateHash(b));
    acdDestroy(a);
    acdDestroy(b);
}

static void writeSome(Fx *fx, int commits)
{
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    uint64_t now = 1;
    for (int c = 0; c < commits; c++) {
        for (int i = 0; i < 20; i++)
            randomStep(fx, s, &now);
        assert_int_equal(jnFlush(j), 0);
    }
    jnClose(j);
    acdDestroy(s);
}

static char *firstSegment(Fx *fx)
{
    static char path[256];
    DIR *d = opendir(fx->sdir);
    struct dirent *de;
    assert_non_null(d);
    path[0] = 0;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".jnl") && (!path[0] || strcmp(de->d_name, path) < 0))
            snprintf(path, sizeof path, "%s", de->d_name);
    closedir(d);
    static char full[400];
    snprintf(full, sizeof full, "%s/%s", fx->sdir, path);
    return full;
}

static void test_damaged_record_is_refused_with_file_and_offset(void **state)
{
    Fx *fx = *state;
    writeSome(fx, 10);
    const char *f = firstSegment(fx);
    int fd = open(f, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, 4096 + 40), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, 4096 + 40), 1);
    close(fd);
    acdState *r = newState(fx);
    uint64_t last, n;
    jnError e;
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), -1);
    assert_non_null(strstr(e.msg, f));
    assert_non_null(strstr(e.msg, "offset"));
    acdDestroy(r);
}

static void test_unknown_and_unparsable_records_stop_replay(void **state)
{
    Fx *fx = *state;
    writeSome(fx, 2);
    jnJournal *j = openJournal(fx);
    const uint64_t now = 1;
    char bad[64];
    memcpy(bad, &now, 8);
    memcpy(bad + 8, "{\"cmd\":", 7);
    assert_true(jnAppend(j, CJ_CMD, bad, 15) > 0);
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    acdState *r = newState(fx);
    uint64_t last, n;
    jnError e;
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), -1);
    assert_non_null(strstr(e.msg, "does not parse"));
    assert_non_null(strstr(e.msg, "offset"));
    acdDestroy(r);

    char cmdline[160];
    snprintf(cmdline, sizeof cmdline, "rm -rf %s", fx->sdir);
    assert_int_equal(system(cmdline), 0);
    writeSome(fx, 1);
    j = openJournal(fx);
    assert_true(jnAppend(j, 99, &now, 8) > 0);
    jnPublish(j);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    r = newState(fx);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), -1);
    assert_non_null(strstr(e.msg, "unknown record type"));
    acdDestroy(r);
}

/* A missing stream directory is an empty stream (the first start). */
static void test_missing_directory_is_empty(void **state)
{
    Fx *fx = *state;
    acdState *r = newState(fx);
    uint64_t last = 1, n = 1;
    jnError e;
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), 0);
    assert_int_equal(last, 0);
    assert_int_equal(n, 0);
    acdDestroy(r);
}

static int64_t lineOf(void *ctx, uint16_t seg, uint32_t account)
{
    (void)ctx;
    (void)seg;
    return account == 3 ? 777 : -1;
}

/* Lines the workers hold otherwise are set to theirs, journaled, replayed. */
static void test_resync_is_journaled(void **state)
{
    Fx *fx = *state;
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    cmd(s, "account.open", json_pack("{s:i, s:s}", "account", 3, "init_cash", "100"));
    acdDrain(s);
    assert_int_equal(cjResync(s, lineOf, NULL), 1);
    int64_t line, pending;
    assert_int_equal(lgLineView(s->lg, 3, 0, &line, &pending), 0);
    assert_int_equal(line, 777);
    assert_int_equal(cjResync(s, lineOf, NULL), 0);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    acdState *r = newState(fx);
    uint64_t last, n;
    jnError e;
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), 0);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    acdDestroy(s);
    acdDestroy(r);
}

static void pushOrder(Fx *fx, acdState *s, uint32_t account)
{
    const int i = instFind(s->book, "IF2501");
    const acctInstrument *in = instAt(s->book, (uint16_t)i);
    const uint64_t oid = ++fx->nextOrder;
    crEvent ev = {.type = CR_EV_ORDER,
                  .book = in->spec.book,
                  .account = account,
                  .qty = 1,
                  .leaves = 1,
                  .orderId = oid,
                  .price = in->lastPrice,
                  .ns = oid};
    simPush(fx->simp, &ev);
}

/* Events whose worker inputs never became durable (beyond what the
 * worker's replay emits) are void; an epoch records it, so a later replay
 * of the same stream voids them too and applies what came after. */
static void test_void_events_and_epochs(void **state)
{
    Fx *fx = *state;
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    cmd(s, "account.open", json_pack("{s:i, s:s}", "account", 4, "init_cash", "10000000"));
    for (int i = 0; i < 10; i++)
        pushOrder(fx, s, 4);
    while (acdDrain(s)) /* the orders, then the reclaims they cause */
        ;
    const uint64_t all = s->cj.consumed[0];
    assert_true(all >= 10);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);
    acdDestroy(s);

    /* the restart: the worker's replay emitted 6 of the 10 */
    acdState *r = newState(fx);
    uint64_t skip[CJ_MAX_SEGMENTS], last, n;
    jnError e;
    assert_int_equal(cjPrepass(r, fx->sdir, JN_RD_REPAIR, skip, &e), 0);
    assert_int_equal(skip[0], all);
    fx->sim.n = 0; /* the restarted workers' rings are empty */
    cjSetLimit(r, 0, 6);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &last, &n, &e), 0);
    assert_int_equal(r->cj.consumed[0], 6);
    assert_int_equal(r->cj.voided, all - 6);
    assert_int_equal(acctOrderCount(r->book), 6);
    j = openJournal(fx);
    cjAttach(r, j);
    cjEpoch(r);
    for (int i = 0; i < 3; i++)
        pushOrder(fx, r, 4);
    while (acdDrain(r))
        ;
    assert_int_equal(acctOrderCount(r->book), 9);
    assert_int_equal(jnFlush(j), 0);
    jnClose(j);

    /* a replay from scratch (xchg-replay: no limit) reaches the same state;
     * the next start's skip counts from the epoch */
    acdState *x = newState(fx);
    assert_int_equal(cjPrepass(x, fx->sdir, 0, skip, &e), 0);
    assert_int_equal(skip[0], r->cj.consumed[0]);
    assert_int_equal(cjReplay(x, fx->sdir, 0, &last, &n, &e), 0);
    assert_int_equal(x->cj.voided, all - 6);
    assert_int_equal(acctOrderCount(x->book), 9);
    assert_int_equal(cjStateHash(x), cjStateHash(r));
    acdDestroy(r);
    acdDestroy(x);
}

/* ---- checkpoints: an in-memory sink and source ---- */

typedef struct {
    unsigned char *k, *v;
    size_t kl, vl;
} Rec;

typedef struct {
    Rec *r;
    size_t n, cap, pos;
    int failAfter; /* sink refuses the put number failAfter (0: never) */
} Mem;

static int memPut(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    Mem *m = ctx;
    if (m->failAfter && (int)m->n + 1 >= m->failAfter)
        return -1;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->r = realloc(m->r, sizeof *m->r * m->cap);
    }
    Rec *r = &m->r[m->n++];
    r->k = malloc(klen);
    memcpy(r->k, key, klen);
    r->v = malloc(vlen ? vlen : 1);
    memcpy(r->v, val, vlen);
    r->kl = klen;
    r->vl = vlen;
    return 0;
}

static int recCmp(const void *x, const void *y)
{
    const Rec *a = x, *b = y;
    const int c = memcmp(a->k, b->k, a->kl < b->kl ? a->kl : b->kl);
    return c ? c : (a->kl > b->kl) - (a->kl < b->kl);
}

static int memNext(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    Mem *m = ctx;
    if (m->pos == m->n)
        return 0;
    Rec *r = &m->r[m->pos++];
    *key = r->k;
    *klen = r->kl;
    *val = r->v;
    *vlen = r->vl;
    return 1;
}

static void memFree(Mem *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->r[i].k);
        free(m->r[i].v);
    }
    free(m->r);
    memset(m, 0, sizeof *m);
}

/* snapshot -> sorted records -> restore into a fresh state */
static acdState *roundTrip(Fx *fx, acdState *s, Sim *sim, Mem *m)
{
    const ckptSink sink = {memPut, m};
    assert_int_equal(ctlStateSnapshot(s, &sink), 0);
    qsort(m->r, m->n, sizeof *m->r, recCmp);
    for (size_t i = 1; i < m->n; i++)
        assert_true(recCmp(&m->r[i - 1], &m->r[i]) < 0); /* no key twice */
    acdState *r = newStateSim(fx, sim);
    const ckptSource src = {memNext, m};
    m->pos = 0;
    assert_int_equal(ctlStateRestore(r, &src), 0);
    return r;
}

/* snapshot -> restore: the same hash and answers; then the same inputs to
 * both give the same answers and hash again, and the same commands out */
static void test_checkpoint_round_trip(void **state)
{
    Fx *fx = *state;
    acdState *s = newState(fx);
    uint64_t now = 1700000000000000000ull;
    for (int i = 0; i < 1500; i++)
        randomStep(fx, s, &now);
    while (acdDrain(s))
        ;
    assert_true(acctCount(s->book) >= 10 && acctTradeCount(s->book) > 50);
    Mem m = {0};
    Sim *sim2 = calloc(1, sizeof *sim2);
    acdState *r = roundTrip(fx, s, sim2, &m);
    assert_true(m.n > 100);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    char *q1 = queries(s), *q2 = queries(r);
    assert_string_equal(q1, q2);
    free(q1);
    free(q2);
    /* the same following inputs */
    const uint64_t seed = fx->seed, nextOrder = fx->nextOrder, nextTrade = fx->nextTrade;
    uint64_t t1 = now, t2 = now;
    const uint64_t c1 = fx->sim.commands;
    fx->sim.cmdHash = 0;
    for (int i = 0; i < 800; i++)
        randomStep(fx, s, &t1);
    const uint64_t sent1 = fx->sim.commands - c1;
    fx->simp = sim2; /* r's worker */
    fx->seed = seed;
    fx->nextOrder = nextOrder;
    fx->nextTrade = nextTrade;
    for (int i = 0; i < 800; i++)
        randomStep(fx, r, &t2);
    assert_int_equal(sim2->commands, sent1);
    assert_true(sent1 > 100);
    assert_int_equal(sim2->cmdHash, fx->sim.cmdHash); /* the same commands to the workers */
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    q1 = queries(s);
    q2 = queries(r);
    assert_string_equal(q1, q2);
    free(q1);
    free(q2);
    free(sim2);
    memFree(&m);
    acdDestroy(s);
    acdDestroy(r);
}

/* recovery = checkpoint + the stream's tail after it */
static void test_checkpoint_plus_tail(void **state)
{
    Fx *fx = *state;
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    uint64_t now = 1;
    for (int i = 0; i < 700; i++)
        randomStep(fx, s, &now);
    Mem m = {0};
    const ckptSink sink = {memPut, &m};
    assert_int_equal(ctlStateSnapshot(s, &sink), 0);
    qsort(m.r, m.n, sizeof *m.r, recCmp);
    const uint64_t at = ctlStateSeq(s);
    assert_true(at > 0);
    for (int i = 0; i < 700; i++)
        randomStep(fx, s, &now);
    while (acdDrain(s))
        ;
    assert_int_equal(jnFlush(j), 0);
    const uint64_t last = jnLastSeq(j);
    jnClose(j);
    acdState *r = newState(fx);
    const ckptSource src = {memNext, &m};
    assert_int_equal(ctlStateRestore(r, &src), 0);
    assert_int_equal(ctlStateSeq(r), at);
    uint64_t skip[CJ_MAX_SEGMENTS], lastSeq, n;
    jnError e;
    assert_int_equal(cjPrepass(r, fx->sdir, 0, skip, &e), 0);
    assert_int_equal(skip[0], s->cj.consumed[0]);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &lastSeq, &n, &e), 0);
    assert_int_equal(lastSeq, last);
    assert_int_equal(n, last - at);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    memFree(&m);
    acdDestroy(s);
    acdDestroy(r);
}

/* a sink that refuses fails the snapshot; damaged or foreign records fail
 * the restore */
static void test_checkpoint_failures(void **state)
{
    Fx *fx = *state;
    acdState *s = newState(fx);
    uint64_t now = 1;
    for (int i = 0; i < 200; i++)
        randomStep(fx, s, &now);
    Mem m = {.failAfter = 5};
    const ckptSink sink = {memPut, &m};
    assert_int_equal(ctlStateSnapshot(s, &sink), -1);
    memFree(&m);
    const ckptSink ok = {memPut, &m};
    assert_int_equal(ctlStateSnapshot(s, &ok), 0);
    qsort(m.r, m.n, sizeof *m.r, recCmp);
    const ckptSource src = {memNext, &m};
    /* a record cut short */
    m.r[3].vl--;
    m.pos = 0;
    acdState *r = newState(fx);
    assert_int_equal(ctlStateRestore(r, &src), -1);
    acdDestroy(r);
    m.r[3].vl++;
    /* another layout version in the header */
    m.r[0].v[0] ^= 1;
    m.pos = 0;
    r = newState(fx);
    assert_int_equal(ctlStateRestore(r, &src), -1);
    acdDestroy(r);
    m.r[0].v[0] ^= 1;
    /* the stream counters missing (a truncated checkpoint) */
    m.n--;
    m.pos = 0;
    r = newState(fx);
    assert_int_equal(ctlStateRestore(r, &src), -1);
    acdDestroy(r);
    m.n++;
    m.pos = 0;
    r = newState(fx);
    assert_int_equal(ctlStateRestore(r, &src), 0);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    acdDestroy(r);
    memFree(&m);
    acdDestroy(s);
}

/* writes checkpoint id under root with the mailbox's capture as the control
 * stream (as the replica does), returns the sequence it covers */
static uint64_t writeCtlCheckpoint(const char *root, uint64_t id, ccMailbox *mb)
{
    char err[256];
    const uint64_t seq = ccSeqNow(mb);
    assert_true(seq > 0);
    ckWriter *w = ckBegin(root, id, err, sizeof err);
    assert_non_null(w);
    ckptSink sink;
    assert_int_equal(ckStreamBegin(w, CJ_STREAM, seq, &sink), 0);
    assert_int_equal(ccSnapshot(mb, &sink), 0);
    assert_int_equal(ckStreamEnd(w, err, sizeof err), 0);
    ckManifest m;
    assert_int_equal(ckCommit(w, &m, err, sizeof err), 0);
    return seq;
}

/* xchgd's control checkpoint path (dataplane/ctlckpt.h): captures taken
 * on the "control lcore" between inputs, written as checkpoints; recovery
 * restores the newest usable one and replays the stream's tail, reaching
 * the state (hash) and the skip counts (events consumed per segment) of
 * the live core; a checkpoint ahead of the journal, a damaged one and one
 * without control state are passed over; with none usable the whole stream
 * replays to the same state */
static void test_control_checkpoint_recovery(void **state)
{
    Fx *fx = *state;
    char root[128], cmd[300];
    snprintf(root, sizeof root, "%s/checkpoints", fx->dir);
    jnJournal *j = openJournal(fx);
    acdState *s = newState(fx);
    cjAttach(s, j);
    ccMailbox *mb = ccCreate(s, fx->sdir);
    assert_non_null(mb);
    uint64_t now = 1;
    for (int i = 0; i < 500; i++)
        randomStep(fx, s, &now);
    while (acdDrain(s))
        ;
    ccTick(mb); /* asked at creation: captures */
    uint64_t caps, recs;
    double ms;
    ccStats(mb, &caps, &ms, &recs);
    assert_int_equal(caps, 1);
    assert_true(recs > 10);
    assert_int_equal(jnFlush(j), 0); /* the replica waits for it to be durable */
    const uint64_t at1 = writeCtlCheckpoint(root, 1, mb);
    assert_int_equal(at1, ctlStateSeq(s));
    for (int i = 0; i < 500; i++)
        randomStep(fx, s, &now);
    while (acdDrain(s))
        ;
    ccTick(mb); /* the replica asked again after its checkpoint */
    assert_int_equal(jnFlush(j), 0);
    const uint64_t at2 = writeCtlCheckpoint(root, 2, mb);
    assert_true(at2 > at1);
    for (int i = 0; i < 300; i++)
        randomStep(fx, s, &now);
    while (acdDrain(s))
        ;
    assert_int_equal(jnFlush(j), 0);
    const uint64_t last = jnLastSeq(j);
    jnClose(j);
    cjAttach(s, NULL);

    uint64_t skip[CJ_MAX_SEGMENTS], lastSeq, n;
    jnError e;
    char err[256];
    /* the newest: state at2, then the tail */
    acdState *r = newState(fx);
    assert_int_equal(ccRecover(r, root, fx->sdir, err, sizeof err), 1);
    assert_int_equal(ctlStateSeq(r), at2);
    assert_int_equal(cjPrepass(r, fx->sdir, 0, skip, &e), 0);
    assert_int_equal(skip[0], s->cj.consumed[0]);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &lastSeq, &n, &e), 0);
    assert_int_equal(lastSeq, last);
    assert_int_equal(n, last - at2);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    acdDestroy(r);

    /* the newest damaged (a flipped byte in its SSTable): the previous one */
    snprintf(cmd, sizeof cmd,
             "printf '\\377\\376\\375' | dd of=%s/ckpt-00000000000000000002/stream-65535.sst "
             "bs=1 seek=100 conv=notrunc status=none",
             root);
    assert_int_equal(system(cmd), 0);
    r = newState(fx);
    assert_int_equal(ccRecover(r, root, fx->sdir, err, sizeof err), 1);
    assert_int_equal(ctlStateSeq(r), at1);
    assert_int_equal(cjPrepass(r, fx->sdir, 0, skip, &e), 0);
    assert_int_equal(skip[0], s->cj.consumed[0]);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &lastSeq, &n, &e), 0);
    assert_int_equal(n, last - at1);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    acdDestroy(r);

    /* a checkpoint of another history (a control journal put back that is
     * not the one it was taken from): its sequence fits, its record does
     * not, so it is passed over too */
    snprintf(cmd, sizeof cmd, "rm -rf %s/ckpt-00000000000000000002", root);
    assert_int_equal(system(cmd), 0);
    char sdir[sizeof fx->sdir], odir[sizeof fx->sdir];
    memcpy(sdir, fx->sdir, sizeof sdir);
    snprintf(odir, sizeof odir, "%s/other", fx->dir);
    memcpy(fx->sdir, odir, sizeof odir);
    jnJournal *oj = openJournal(fx);
    acdState *other = newState(fx);
    cjAttach(other, oj);
    fx->seed ^= 0x5555; /* other inputs */
    for (int i = 0; i < 300; i++)
        randomStep(fx, other, &now);
    while (acdDrain(other))
        ;
    assert_int_equal(jnFlush(oj), 0);
    ccMailbox *mb2 = ccCreate(other, odir);
    ccTick(mb2);
    const uint64_t at3 = writeCtlCheckpoint(root, 3, mb2);
    assert_true(at3 > 0 && at3 <= last); /* fits the first journal's range */
    jnClose(oj);
    cjAttach(other, NULL);
    memcpy(fx->sdir, sdir, sizeof sdir);
    r = newState(fx);
    assert_int_equal(ccRecover(r, root, fx->sdir, err, sizeof err), 1);
    assert_int_equal(ctlStateSeq(r), at1);
    acdDestroy(r);
    ccDestroy(mb2);
    acdDestroy(other);

    /* none usable: nothing restored, the whole stream replays alike */
    snprintf(cmd, sizeof cmd, "rm -f %s/ckpt-00000000000000000001/MANIFEST", root);
    assert_int_equal(system(cmd), 0);
    r = newState(fx);
    assert_int_equal(ccRecover(r, root, fx->sdir, err, sizeof err), 0);
    assert_int_equal(ctlStateSeq(r), 0);
    assert_int_equal(cjPrepass(r, fx->sdir, 0, skip, &e), 0);
    assert_int_equal(cjReplay(r, fx->sdir, 0, &lastSeq, &n, &e), 0);
    assert_int_equal(n, last);
    assert_int_equal(cjStateHash(r), cjStateHash(s));
    acdDestroy(r);
    ccDestroy(mb);
    acdDestroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_reaches_the_same_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_sees_one_deposit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_is_refused_with_file_and_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_unparsable_records_stop_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_is_journaled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_void_events_and_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_plus_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_checkpoint_recovery, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
