/* test_wal.c -- unit tests of dataplane/wal.c: journaled inputs replay to the same state and
 * outputs, output gating in sync and async modes, journaled timers, unknown records, and
 * recovery up to a corruption (jnCutAt), and the control core's inputs (credit grants, top-ups
 * with parked orders resumed, reclaims, liquidation cancels and orders, throttle changes)
 * replayed with the credit lines. Real journal files in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "dataplane/crlink.h"
#include "dataplane/gateway.h"
#include "dataplane/wal.h"
#include "storage/journal.h"

#define T0         UINT64_C(1759714200000000000)
#define MS         UINT64_C(1000000)
#define SEC        UINT64_C(1000000000)
#define NS         3 /* sessions */
#define MAX_FRAMES 200000

/* Frames the gateway sent, in order. */
typedef struct {
    uint16_t len[MAX_FRAMES];
    gwAddr to[MAX_FRAMES];
    uint8_t *data[MAX_FRAMES];
    size_t n;
} Frames;

typedef struct {
    cfgConfig cfg;
    char dir[64];
    jnJournal *j;
    gwGateway *gw;
    walLog *wal;
    Frames live;     /* released by the gate */
    size_t produced; /* frames the gateway produced (before the gate) */
    size_t dropped;
    uint64_t now;
    uint64_t inSeq[NS + 1];
    crRisk *risk;     /* credit lines of the live gateway, NULL: none */
    crEvent ev[4096]; /* its events, as the control core would read them */
    uint32_t nEv;
    uint64_t cmdSeq;
} Fx;

static uint8_t *frameCopy(const uint8_t *d, uint16_t len)
{
    uint8_t *p = malloc(len + sizeof(uint16_t));
    memcpy(p, &len, sizeof len);
    memcpy(p + sizeof len, d, len);
    return p;
}

static void framesAdd(Frames *f, gwAddr to, uint8_t *owned)
{
    assert_true(f->n < MAX_FRAMES);
    memcpy(&f->len[f->n], owned, sizeof(uint16_t));
    f->to[f->n] = to;
    f->data[f->n++] = owned;
}

static void framesFree(Frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->data[i]);
    f->n = 0;
}

/* Gate objects: the frame bytes plus where they go. */
typedef struct {
    gwAddr to;
    uint8_t *bytes;
} GateFrame;

static void onRelease(void *ctx, void *frame)
{
    Fx *fx = ctx;
    GateFrame *g = frame;
    framesAdd(&fx->live, g->to, g->bytes);
    free(g);
}

static void onDrop(void *ctx, void *frame)
{
    Fx *fx = ctx;
    GateFrame *g = frame;
    fx->dropped++;
    free(g->bytes);
    free(g);
}

static void onSendLive(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    Fx *fx = ctx;
    if (walMuted(fx->wal))
        return;
    GateFrame *g = malloc(sizeof *g);
    g->to = to;
    g->bytes = frameCopy(data, len);
    fx->produced++;
    walHold(fx->wal, g, data[offsetof(xoeFrameHeader, flags)] & XOE_FLAG_RETRANSMIT);
}

static void onSendReplay(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    framesAdd(ctx, to, frameCopy(data, len));
}

static void onEmit(void *ctx, const crEvent *ev)
{
    Fx *fx = ctx;
    assert_true(fx->nEv < sizeof fx->ev / sizeof fx->ev[0]);
    fx->ev[fx->nEv++] = *ev;
}

static void onEmitReplay(void *ctx, const crEvent *ev)
{
    (*(uint64_t *)ctx)++;
    (void)ev;
}

/* A crRisk sized as the worker's (dataplane/crlink.c). */
static crRisk *newRisk(Fx *fx, crEmitFn *emit, void *ctx)
{
    crOptions o;
    crlRiskOptions(&o, &fx->cfg, 0, fx->cfg.segments[0].orderCapacity + CRL_REF_SPARE, NULL);
    o.emit = emit;
    o.emitCtx = ctx;
    crRisk *r = crCreate(&o);
    assert_non_null(r);
    return r;
}

static gwGateway *newGatewayRisk(Fx *fx, gwSendFn *send, void *ctx, crRisk *risk)
{
    gwOptions o = {.cfg = &fx->cfg,
                   .segment = 0,
                   .maxSessions = 16,
                   .historyDepth = 1024,
                   .tradingDay = 20251006,
                   .risk = risk,
                   .send = send,
                   .sendCtx = ctx};
    gwGateway *gw = gwCreate(&o);
    assert_non_null(gw);
    return gw;
}

static gwGateway *newGateway(Fx *fx, gwSendFn *send, void *ctx)
{
    gwOptions o = {.cfg = &fx->cfg,
                   .segment = 0,
                   .maxSessions = 16,
                   .historyDepth = 1024,
                   .tradingDay = 20251006,
                   .send = send,
                   .sendCtx = ctx};
    gwGateway *gw = gwCreate(&o);
    assert_non_null(gw);
    return gw;
}

static jnJournal *openJournal(const char *dir)
{
    jnConfig c;
    jnError e;
    jnConfigDefaults(&c);
    c.dir = dir;
    c.stream = 0;
    c.segmentBytes = 64u << 10; /* small: the workloads rotate */
    c.ringBytes = 1u << 20;
    c.maxPayload = 4096;
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
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_wal.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->now = T0;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    walDestroy(fx->wal);
    jnClose(fx->j);
    gwDestroy(fx->gw);
    crDestroy(fx->risk);
    framesFree(&fx->live);
    cfgFree(&fx->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* The live segment: journal, gateway and gate, as durable.c builds them. */
static void liveOpen(Fx *fx, int sync)
{
    fx->j = openJournal(fx->dir);
    fx->gw = newGateway(fx, onSendLive, fx);
    fx->wal = walCreate(fx->j, fx->gw, sync, 1u << 16, NULL);
    assert_non_null(fx->wal);
    walSetOutput(fx->wal, onRelease, onDrop, fx);
    walSetMuted(fx->wal, 0);
}

/* ---- inputs, the way the worker applies them ---- */

static gwAddr addrOf(unsigned s)
{
    return (gwAddr){(198u << 24) | (18u << 16) | (2u + s), (uint16_t)(40000 + s)};
}

static void tokenOf(unsigned s, uint8_t *t)
{
    for (int i = 0; i < XOE_TOKEN_SIZE; i++)
        t[i] = (uint8_t)(s * 17 + (unsigned)i);
}

static void drainEvents(Fx *fx);

/* Every other datagram the way xchgd's worker does it (parsed once, then
 * walDatagramParsed and gwOnDatagramParsed; a malformed one straight to
 * gwOnDatagram), the others through walDatagram and gwOnDatagram: the
 * journals and the replays' state hashes must not tell them apart. */
static void datagram(Fx *fx, gwAddr from, const uint8_t *d, uint16_t len)
{
    static unsigned turn;
    xoeFrame f;
    xoeErrorInfo ei;
    if (turn++ % 2 == 0) {
        if (walDatagram(fx->wal, from, d, len, fx->now) == WAL_APPLY)
            gwOnDatagram(fx->gw, from, d, len, fx->now);
    } else if (xoeFrameParse(d, len, XOE_DIR_TO_XCHG, &f, &ei) != XOE_OK) {
        gwOnDatagram(fx->gw, from, d, len, fx->now);
    } else if (walDatagramParsed(fx->wal, from, d, len, fx->now) == WAL_APPLY) {
        gwOnDatagramParsed(fx->gw, from, &f, fx->now);
    }
    gwFlush(fx->gw);
    walPoll(fx->wal);
    if (fx->risk)
        drainEvents(fx);
}

/* A control-core command reaching the worker: journaled, then applied by
 * crlApply, as crlPoll does with the worker's journal hook. */
static void command(Fx *fx, crCmd c)
{
    c.seq = ++fx->cmdSeq;
    walCreditRec rec = {.nowNs = fx->now, .cmd = c};
    assert_int_equal(walControl(fx->wal, walCreditType(&c), &rec, sizeof rec), WAL_APPLY);
    crlApply(fx->risk, fx->gw, &c, fx->now);
    gwFlush(fx->gw);
    walPoll(fx->wal);
}

/* The control core's answer to a parked order (dataplane/ledger.c): a
 * grant that covers it, then TOPUP_DONE for its park slot. */
static void drainEvents(Fx *fx)
{
    while (fx->nEv) {
        const crEvent ev = fx->ev[0];
        memmove(fx->ev, fx->ev + 1, sizeof ev * --fx->nEv);
        if (ev.type != CR_EV_TOPUP)
            continue;
        command(fx, (crCmd){.type = CR_CMD_ACCOUNT,
                            .account = ev.account,
                            .amount = ev.price,
                            .concCap = INT64_MAX});
        command(fx, (crCmd){.type = CR_CMD_TOPUP_DONE, .account = ev.account, .parked = ev.qty});
    }
}

static void sendMsg(Fx *fx, unsigned s, uint8_t type, const void *msg)
{
    uint8_t buf[XOE_FRAME_MAX];
    xoeWriter w;
    const int app = type == XOE_MSG_NEW_ORDER || type == XOE_MSG_CANCEL || type == XOE_MSG_REPLACE;
    xoeWriterInit(&w, buf, sizeof buf, s, app ? fx->inSeq[s] : fx->inSeq[s], 0);
    assert_int_equal(xoeAppend(&w, type, msg), XOE_OK);
    size_t len = xoeWriterFinish(&w);
    if (app)
        fx->inSeq[s]++;
    datagram(fx, addrOf(s), buf, (uint16_t)len);
}

static void control(Fx *fx, walType type, const void *rec, uint32_t len)
{
    assert_int_equal(walControl(fx->wal, type, rec, len), WAL_APPLY);
    assert_int_equal(walApply(fx->gw, (uint16_t)type, rec, len), 0);
    walPoll(fx->wal);
}

static void timer(Fx *fx)
{
    if (walTimer(fx->wal, fx->now) == WAL_APPLY)
        gwOnTimer(fx->gw, fx->now);
    walPoll(fx->wal);
}

static void addSessions(Fx *fx)
{
    for (unsigned s = 1; s <= NS; s++) {
        walSessionAddRec r = {.nowNs = fx->now, .sessionId = s, .account = 1000 + s};
        tokenOf(s, r.token);
        control(fx, WAL_SESSION_ADD, &r, sizeof r);
        xoeLogon l = {.heartbeatMs = 1000};
        tokenOf(s, l.token);
        fx->inSeq[s] = 1;
        sendMsg(fx, s, XOE_MSG_LOGON, &l);
    }
    const walSetStateRec st = {.nowNs = fx->now, .instrument = 0, .state = MT_STATE_CONTINUOUS};
    control(fx, WAL_SET_STATE, &st, sizeof st);
}

/* The control core's other inputs, now and then: a reclaim, a force
 * liquidation (cancel of an order, a closing order), a throttle change. */
static void controlTraffic(Fx *fx, unsigned i, uint64_t x)
{
    switch ((i / 97) % 4) {
    case 0:
        command(fx, (crCmd){.type = CR_CMD_RECLAIM, .account = 1001, .amount = 1000000});
        break;
    case 1:
        command(fx, (crCmd){.type = CR_CMD_CANCEL, .amount = (int64_t)(1 + (x >> 8) % (i + 1))});
        break;
    case 2:
        command(fx, (crCmd){.type = CR_CMD_CLOSE,
                            .account = 1001 + (uint32_t)(x % 2),
                            .book = 0,
                            .side = (uint8_t)(x >> 40 & 1),
                            .offset = XOE_CLOSE,
                            .parked = 1});
        break;
    default: {
        const walThrottleRec t = {.nowNs = fx->now, .msgsPerSec = 500 + (uint32_t)(x % 1000)};
        control(fx, WAL_SET_THROTTLE, &t, sizeof t);
    }
    }
    drainEvents(fx);
}

/* A day in the life: orders that rest and cross, cancels of live ids,
 * timers (heartbeats, a timeout), a kick, a malformed datagram. */
static void workload(Fx *fx, unsigned orders)
{
    uint64_t x = 88172645463325252ull;
    for (unsigned s = 1; fx->risk && s <= NS; s++) /* session 3's account: a thin line */
        command(fx, (crCmd){.type = CR_CMD_ACCOUNT,
                            .account = 1000 + s,
                            .amount = s == 3 ? 50000000 : INT64_C(100000000000000),
                            .concCap = INT64_MAX});
    addSessions(fx);
    for (unsigned i = 0; i < orders; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned s = 1 + (unsigned)(x % NS);
        fx->now += (x >> 20) % (2 * MS);
        if (i % 7 == 3) {
            /* ids are the segment's sequence: cancel a recent one (may be gone) */
            xoeCancel c = {.clOrdId = 100000 + i, .orderId = 1 + (x >> 8) % (i + 1)};
            sendMsg(fx, s, XOE_MSG_CANCEL, &c);
        } else {
            xoeNewOrder o = {.instrument = 0,
                             .side = (uint8_t)(x >> 40 & 1),
                             .clOrdId = i + 1,
                             .price = (int64_t)(18990 + (x >> 24) % 20) * 2000,
                             .qty = 1 + (uint32_t)((x >> 32) % 5)};
            sendMsg(fx, s, XOE_MSG_NEW_ORDER, &o);
        }
        if (i % 50 == 0)
            timer(fx);
        if (fx->risk && i % 97 == 5)
            controlTraffic(fx, i, x);
        if (i == orders / 2) {
            const uint8_t junk[40] = {1, 2, 3};
            datagram(fx, addrOf(9), junk, sizeof junk); /* not journaled */
            const walSessionRec k = {.nowNs = fx->now, .sessionId = 3};
            control(fx, WAL_SESSION_KICK, &k, sizeof k);
        }
    }
    fx->now += 5 * SEC; /* everyone silent: heartbeats, then timeouts */
    timer(fx);
}

static uint16_t instruments(const Fx *fx)
{
    return fx->cfg.segments[0].instrumentCount;
}

/* ---- tests ---- */

static void testReplaySameStateAndOutputs(void **state)
{
    Fx *fx = *state;
    liveOpen(fx, 0);
    workload(fx, 3000);
    walPoll(fx->wal);
    assert_int_equal(jnFlush(fx->j), 0);
    const uint64_t live = walStateHash(fx->gw, instruments(fx));
    assert_int_equal(fx->live.n, fx->produced); /* async: nothing held */
    assert_true(fx->live.n > 3000);
    mtStats ms;
    mtEngineGetStats(gwEngine(fx->gw), &ms);
    assert_true(ms.fills > 100 && ms.cancels > 10 && ms.ordersResting > 10);
    walCounters c;
    walGetCounters(fx->wal, &c);
    uint64_t last, durable;
    walPosition(fx->wal, &last, &durable);
    assert_int_equal(durable, last);
    assert_int_equal(c.records, last);
    jnStats js;
    jnGetStats(fx->j, &js);
    assert_true(js.rotations > 0); /* the stream spans segment files */

    static Frames replayed;
    gwGateway *gw = newGateway(fx, onSendReplay, &replayed);
    walReplayReport rep;
    jnError e;
    assert_int_equal(walReplay(fx->dir, 0, 0, gw, NULL, NULL, &rep, &e), 0);
    assert_int_equal(rep.records, c.records);
    assert_int_equal(rep.lastSeq, last);
    assert_int_equal(rep.maxSessionId, NS);
    assert_true(rep.read.segments > 1);
    assert_true(live == walStateHash(gw, instruments(fx)));
    /* the same frames, byte for byte, in the same order */
    assert_int_equal(replayed.n, fx->live.n);
    for (size_t i = 0; i < replayed.n; i++) {
        assert_int_equal(replayed.len[i], fx->live.len[i]);
        assert_memory_equal(replayed.data[i], fx->live.data[i], replayed.len[i] + sizeof(uint16_t));
    }
    /* the state is not trivially equal: more input changes the hash */
    xoeNewOrder o = {.instrument = 0, .side = 0, .clOrdId = 9, .price = 18900 * 2000, .qty = 1};
    fx->now += MS;
    xoeLogon l = {.heartbeatMs = 1000};
    tokenOf(1, l.token);
    sendMsg(fx, 1, XOE_MSG_LOGON, &l);
    sendMsg(fx, 1, XOE_MSG_NEW_ORDER, &o);
    assert_true(live != walStateHash(fx->gw, instruments(fx)));
    gwDestroy(gw);
    framesFree(&replayed);
}

/* gwSetReplaying (xchg-replay): no frame is built or
 * sent, and everything sending them changes is as when they are built:
 * datagramsOut (frame splits included), each session's messagesOut and
 * outbound numbers, and lastSentNs, which decides when the journaled timers
 * send heartbeats (the workload ends with a silent stretch: heartbeats,
 * then timeouts), hence messagesOut and the state hash. */
static void testReplayingBuildsNoFrames(void **state)
{
    Fx *fx = *state;
    liveOpen(fx, 0);
    workload(fx, 3000);
    walPoll(fx->wal);
    assert_int_equal(jnFlush(fx->j), 0);
    const uint64_t live = walStateHash(fx->gw, instruments(fx));

    static Frames built, quiet;
    gwGateway *a = newGateway(fx, onSendReplay, &built);
    gwGateway *b = newGateway(fx, onSendReplay, &quiet);
    walReplayReport rep;
    jnError e;
    assert_int_equal(walReplay(fx->dir, 0, 0, a, NULL, NULL, &rep, &e), 0);
    gwSetReplaying(b, 1);
    assert_int_equal(gwReplaying(b), 1);
    assert_int_equal(walReplay(fx->dir, 0, 0, b, NULL, NULL, &rep, &e), 0);
    gwSetReplaying(b, 0);
    assert_int_equal(quiet.n, 0);
    assert_int_equal(built.n, fx->live.n);
    assert_true(live == walStateHash(a, instruments(fx)));
    assert_true(live == walStateHash(b, instruments(fx)));
    gwStats sa, sb;
    gwGetStats(a, &sa);
    gwGetStats(b, &sb);
    assert_int_equal(sb.datagramsOut, sa.datagramsOut);
    assert_int_equal(sa.datagramsOut, built.n);
    assert_true(sa.timeouts > 0);
    assert_int_equal(sb.timeouts, sa.timeouts);
    gwSessionInfo ia[16], ib[16];
    const uint32_t n = gwSessionList(a, ia, 16);
    assert_int_equal(gwSessionList(b, ib, 16), n);
    assert_int_equal(n, NS);
    uint64_t out = 0;
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(ib[i].messagesOut, ia[i].messagesOut);
        assert_int_equal(ib[i].nextOutSeq, ia[i].nextOutSeq);
        out += ia[i].messagesOut;
    }
    assert_true(out > 3000);
    /* live again: the same input gets the same answers from both */
    gwDestroy(b);
    b = newGateway(fx, onSendReplay, &quiet);
    gwSetReplaying(b, 1);
    assert_int_equal(walReplay(fx->dir, 0, 0, b, NULL, NULL, &rep, &e), 0);
    gwSetReplaying(b, 0);
    const size_t before = built.n;
    xoeLogon l = {.heartbeatMs = 1000};
    tokenOf(1, l.token);
    uint8_t buf[256];
    xoeWriter w;
    xoeWriterInit(&w, buf, sizeof buf, 1, fx->inSeq[1], 0);
    assert_int_equal(xoeAppend(&w, XOE_MSG_LOGON, &l), XOE_OK);
    const size_t len = xoeWriterFinish(&w);
    for (int k = 0; k < 2; k++) {
        gwGateway *g = k ? b : a;
        gwOnDatagram(g, addrOf(1), buf, (uint16_t)len, fx->now + SEC);
        gwFlush(g);
        gwOnTimer(g, fx->now + 3 * SEC);
        gwFlush(g);
    }
    assert_true(built.n > before);
    assert_int_equal(quiet.n, built.n - before);
    for (size_t i = 0; i < quiet.n; i++) {
        assert_int_equal(quiet.len[i], built.len[before + i]);
        assert_memory_equal(quiet.data[i], built.data[before + i], quiet.len[i] + sizeof(uint16_t));
    }
    gwDestroy(a);
    gwDestroy(b);
    framesFree(&built);
    framesFree(&quiet);
}

/* A run with credit traffic: the replay rebuilds the credit lines (their
 * digest is in the state hash), the parked orders resumed by top-ups, the
 * liquidations and the throttle, with the same frames. */
static void testReplayWithCredit(void **state)
{
    Fx *fx = *state;
    fx->j = openJournal(fx->dir);
    fx->risk = newRisk(fx, onEmit, fx);
    fx->gw = newGatewayRisk(fx, onSendLive, fx, fx->risk);
    fx->wal = walCreate(fx->j, fx->gw, 0, 1u << 16, NULL);
    assert_non_null(fx->wal);
    walSetOutput(fx->wal, onRelease, onDrop, fx);
    walSetMuted(fx->wal, 0);
    workload(fx, 3000);
    /* instrument.update narrows book 0's band (a journaled credit command):
     * the state changes, and the replay must make the same change */
    const cfgInstrument *in0 = cfgFindBook(&fx->cfg, 0, 0);
    const uint64_t wide = walStateHash(fx->gw, instruments(fx));
    command(fx, (crCmd){.type = CR_CMD_INSTRUMENT,
                        .book = 0,
                        .marginRate = in0->marginRate,
                        .commissionRate = in0->commissionRate,
                        .commissionPerLot = in0->commissionPerLot,
                        .minLots = in0->minLots,
                        .maxLots = in0->maxLots,
                        .amount = in0->lowerTicks + 1,
                        .concCap = in0->upperTicks - 1});
    assert_true(wide != walStateHash(fx->gw, instruments(fx)));
    walPoll(fx->wal);
    assert_int_equal(jnFlush(fx->j), 0);
    const uint64_t live = walStateHash(fx->gw, instruments(fx));
    crStats cs;
    crGetStats(fx->risk, &cs);
    assert_true(cs.parked > 0 && cs.resumed > 0); /* top-ups ran parked orders again */
    assert_true(cs.reclaims > 0 && cs.grants > NS);
    mtStats ms;
    mtEngineGetStats(gwEngine(fx->gw), &ms);
    assert_true(ms.fills > 100 && ms.cancels > 10);
    uint64_t last, durable;
    walPosition(fx->wal, &last, &durable);

    static Frames replayed;
    uint64_t events = 0;
    crRisk *risk = newRisk(fx, onEmitReplay, &events);
    gwGateway *gw = newGatewayRisk(fx, onSendReplay, &replayed, risk);
    walReplayReport rep;
    jnError e;
    assert_int_equal(walReplay(fx->dir, 0, 0, gw, NULL, NULL, &rep, &e), 0);
    assert_int_equal(rep.lastSeq, last);
    assert_true(live == walStateHash(gw, instruments(fx)));
    crStats rs;
    crGetStats(risk, &rs);
    assert_int_equal(rs.parked, cs.parked);
    assert_int_equal(rs.resumed, cs.resumed);
    assert_int_equal(rs.grants, cs.grants);
    assert_int_equal(rs.reclaims, cs.reclaims);
    assert_int_equal(crLine(risk, 1003), crLine(fx->risk, 1003));
    assert_int_equal(events, cs.events);
    assert_int_equal(replayed.n, fx->live.n);
    for (size_t i = 0; i < replayed.n; i++) {
        assert_int_equal(replayed.len[i], fx->live.len[i]);
        assert_memory_equal(replayed.data[i], fx->live.data[i], replayed.len[i] + sizeof(uint16_t));
    }
    /* the credit lines are in the hash: a grant alone changes it */
    command(fx,
            (crCmd){.type = CR_CMD_ACCOUNT, .account = 1002, .amount = 1, .concCap = INT64_MAX});
    assert_true(live != walStateHash(fx->gw, instruments(fx)));
    gwDestroy(gw);
    crDestroy(risk);
    framesFree(&replayed);
}

static void testSyncHoldsUntilDurable(void **state)
{
    Fx *fx = *state;
    liveOpen(fx, 1);
    addSessions(fx);
    for (unsigned i = 0; i < 20; i++) {
        xoeNewOrder o = {.instrument = 0,
                         .side = (uint8_t)(i & 1),
                         .clOrdId = i + 1,
                         .price = (int64_t)(18995 + i % 3) * 2000,
                         .qty = 2};
        sendMsg(fx, 1 + i % 2, XOE_MSG_NEW_ORDER, &o);
    }
    /* no writer has run: nothing is durable, nothing left */
    assert_true(fx->produced > 20);
    assert_int_equal(fx->live.n, 0);
    assert_int_equal(walHeld(fx->wal), fx->produced);
    assert_int_equal(walPoll(fx->wal), 0);
    /* the storage thread's work, here: then everything goes, in order */
    assert_int_equal(jnFlush(fx->j), 0);
    assert_int_equal(walPoll(fx->wal), fx->produced);
    assert_int_equal(fx->live.n, fx->produced);
    assert_int_equal(walHeld(fx->wal), 0);
    assert_int_equal(fx->dropped, 0);
    /* a frame whose inputs are durable goes at once */
    fx->now += 2 * SEC;
    timer(fx); /* heartbeats: the timer call is journaled, so they wait too */
    size_t before = fx->live.n;
    assert_true(fx->produced > before);
    assert_int_equal(fx->live.n, before);
    assert_int_equal(jnFlush(fx->j), 0);
    walPoll(fx->wal);
    assert_int_equal(fx->live.n, fx->produced);
}

static void testAsyncReleasesAtOnce(void **state)
{
    Fx *fx = *state;
    liveOpen(fx, 0);
    addSessions(fx);
    xoeNewOrder o = {.instrument = 0, .side = 0, .clOrdId = 1, .price = 19000 * 2000, .qty = 1};
    sendMsg(fx, 1, XOE_MSG_NEW_ORDER, &o);
    uint64_t last, durable;
    walPosition(fx->wal, &last, &durable);
    assert_true(durable < last); /* not durable, but out */
    assert_int_equal(walHeld(fx->wal), 0);
    assert_int_equal(fx->live.n, fx->produced);
}

static void testTimerJournaledWhenDue(void **state)
{
    Fx *fx = *state;
    liveOpen(fx, 0);
    walCounters a, b;
    timer(fx); /* no session: nothing due */
    walGetCounters(fx->wal, &a);
    assert_int_equal(a.records, 0);
    addSessions(fx); /* logons: heartbeat 1 s */
    walGetCounters(fx->wal, &a);
    fx->now += 100 * MS;
    timer(fx);
    walGetCounters(fx->wal, &b);
    assert_int_equal(b.records, a.records); /* not due */
    fx->now += SEC;
    timer(fx);
    walGetCounters(fx->wal, &b);
    assert_int_equal(b.records, a.records + 1);
}

static void testUnknownRecordStopsReplay(void **state)
{
    Fx *fx = *state;
    fx->j = openJournal(fx->dir);
    const walTimeRec t = {.nowNs = T0};
    assert_true(jnAppend(fx->j, WAL_TIMER, &t, sizeof t) > 0);
    assert_true(jnAppend(fx->j, 50, &t, sizeof t) > 0);
    jnPublish(fx->j);
    assert_int_equal(jnFlush(fx->j), 0);
    assert_int_equal(walApply(NULL, 50, &t, sizeof t), -1);
    assert_int_equal(walApply(NULL, WAL_TIMER, &t, 3), -1); /* wrong length */
    static Frames none;
    gwGateway *gw = newGateway(fx, onSendReplay, &none);
    walReplayReport rep;
    jnError e;
    assert_int_equal(walReplay(fx->dir, 0, 0, gw, NULL, NULL, &rep, &e), -1);
    assert_non_null(strstr(e.msg, "type 50"));
    assert_non_null(strstr(e.msg, "seg-0000000001.jnl"));
    assert_int_equal(rep.records, 1);
    gwDestroy(gw);
    framesFree(&none);
}

/* Flips one byte at off of dir/seg-<index>.jnl. */
static void corrupt(const char *dir, unsigned index, long off)
{
    char path[128];
    snprintf(path, sizeof path, "%s/seg-%010u.jnl", dir, index);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void testRecoverUpToCorruption(void **state)
{
    Fx *fx = *state;
    fx->j = openJournal(fx->dir);
    uint8_t payload[1000];
    for (unsigned i = 0; i < 300; i++) { /* 300 KiB: segments 1..5 */
        memset(payload, (int)i, sizeof payload);
        assert_int_equal(jnAppend(fx->j, 1, payload, sizeof payload), i + 1);
        jnPublish(fx->j);
        if (i % 16 == 15)
            assert_int_equal(jnFlush(fx->j), 0);
    }
    assert_int_equal(jnFlush(fx->j), 0);
    jnClose(fx->j);
    fx->j = NULL;
    corrupt(fx->dir, 2, 4096 + 3 * 1024 + 100); /* inside the 4th record of segment 2 */

    jnError e;
    jnReader *r = jnReaderOpen(fx->dir, 0, JN_RD_REPAIR, &e);
    assert_non_null(r);
    jnRecord rec;
    int rc;
    uint64_t n = 0;
    while ((rc = jnReaderNext(r, &rec, &e)) == 1)
        n++;
    assert_int_equal(rc, -1); /* refused, with file and offset */
    assert_int_equal(e.code, JN_ECORRUPT);
    assert_non_null(strstr(e.file, "seg-0000000002.jnl"));
    assert_int_equal(e.offset, 4096 + 3 * 1024);
    jnReaderClose(r);

    r = jnReaderOpen(fx->dir, 0, JN_RD_REPAIR | JN_RD_STOP_AT_BAD, &e);
    n = 0;
    while ((rc = jnReaderNext(r, &rec, &e)) == 1)
        n++;
    assert_int_equal(rc, 0);
    const jnReadReport *rep = jnReaderReport(r);
    assert_true(rep->stoppedAtBad);
    const uint64_t good = rep->lastSeq;
    assert_int_equal(n, good);
    int k = jnCutAt(fx->dir, rep->bad.file, rep->bad.offset, &e);
    jnReaderClose(r);
    assert_true(k >= 2); /* segment 2 cut, the later ones set aside */
    char path[128];
    snprintf(path, sizeof path, "%s/seg-0000000003.jnl.damaged", fx->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* the stream now ends cleanly and continues after the last good record */
    fx->j = openJournal(fx->dir);
    assert_int_equal(jnAppend(fx->j, 1, payload, 8), good + 1);
    jnPublish(fx->j);
    assert_int_equal(jnFlush(fx->j), 0);
    r = jnReaderOpen(fx->dir, 0, 0, &e);
    n = 0;
    while ((rc = jnReaderNext(r, &rec, &e)) == 1)
        n++;
    assert_int_equal(rc, 0);
    assert_int_equal(n, good + 1);
    jnReaderClose(r);
    assert_int_equal(jnCutAt(fx->dir, "/nonexistent/seg-0000000009.jnl", 5000, &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testReplaySameStateAndOutputs, setup, teardown),
        cmocka_unit_test_setup_teardown(testReplayingBuildsNoFrames, setup, teardown),
        cmocka_unit_test_setup_teardown(testReplayWithCredit, setup, teardown),
        cmocka_unit_test_setup_teardown(testSyncHoldsUntilDurable, setup, teardown),
        cmocka_unit_test_setup_teardown(testAsyncReleasesAtOnce, setup, teardown),
        cmocka_unit_test_setup_teardown(testTimerJournaledWhenDue, setup, teardown),
        cmocka_unit_test_setup_teardown(testUnknownRecordStopsReplay, setup, teardown),
        cmocka_unit_test_setup_teardown(testRecoverUpToCorruption, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
