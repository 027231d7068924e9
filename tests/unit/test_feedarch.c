/* test_feedarch.c -- the feed archive (dataplane/feedarch.h) behind a real feed server.
 *
 * A real matcher with config/xchg.conf's instruments feeds an fsServer with
 * a 64-message history; its archive journal lives in a temporary directory
 * with small segment files, so the archive spans several of them. Checked:
 * every packet with messages is archived and nothing else (heartbeats);
 * an answer for a packet's first sequence number and count is that packet
 * byte for byte; a long answer is 8 packets, contiguous, every message the
 * original's; an answer from the middle of a packet; past the end (not yet)
 * and before the start (gone); the server forwards requests older than its
 * history and answers the rest itself; a reopened archive (a restart)
 * indexes the same packets and answers the same; holes and re-sent
 * numbers; a damaged record is refused, not sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "dataplane/feedarch.h"
#include "dataplane/feedsrv.h"
#include "matcher/matcher.h"
#include "xchg/itch.h"

#define GROUP    0xEF010101u /* 239.1.1.1 */
#define CLIENT   0xC6120002u /* 198.18.0.2 */
#define MIDNIGHT UINT64_C(1700000000000000000)
#define T0       (MIDNIGHT + UINT64_C(34200000000000))
#define MAX_PKTS 8192
#define PAYLOAD  1472

typedef struct {
    uint8_t *data;
    uint16_t len;
    uint32_t ip;
} pkt;

typedef struct {
    cfgConfig cfg;
    fsServer *fs;
    mtEngine *eng;
    faArchive *a;
    char dir[64];
    uint64_t now, rng;
    pkt sent[MAX_PKTS]; /* everything the server sent */
    size_t n;
    pkt out[64]; /* faAnswer's packets */
    size_t nOut;
    uint64_t fwdSeq;
    uint16_t fwdCount;
    int fwdCalls;
} fixture;

static void keep(pkt *p, uint32_t ip, const uint8_t *data, uint16_t len)
{
    p->data = malloc(len);
    assert_non_null(p->data);
    memcpy(p->data, data, len);
    p->len = len;
    p->ip = ip;
}

static void onSend(void *ctx, uint32_t ip, uint16_t port, const uint8_t *p, uint16_t len)
{
    fixture *f = ctx;
    (void)port;
    assert_true(f->n < MAX_PKTS);
    keep(&f->sent[f->n++], ip, p, len);
}

static void onAnswer(void *ctx, const uint8_t *p, uint16_t len)
{
    fixture *f = ctx;
    assert_true(f->nOut < 64);
    assert_true(len <= PAYLOAD);
    keep(&f->out[f->nOut++], CLIENT, p, len);
}

static int onForward(void *ctx, uint32_t ip, uint16_t port, uint64_t seq, uint16_t count)
{
    fixture *f = ctx;
    assert_int_equal(ip, CLIENT);
    assert_int_equal(port, 40000);
    f->fwdSeq = seq;
    f->fwdCount = count;
    f->fwdCalls++;
    return 0;
}

static void onEvent(void *ctx, const mtEvent *ev)
{
    fixture *f = ctx;
    fsOnEvent(f->fs, ev, f->now);
}

static void clearOut(fixture *f)
{
    for (size_t i = 0; i < f->nOut; i++)
        free(f->out[i].data);
    f->nOut = 0;
}

static faArchive *archiveOpen(fixture *f)
{
    jnConfig jc;
    jnConfigDefaults(&jc);
    jc.segmentBytes = 64 << 10; /* several segment files */
    jc.ringBytes = 1 << 20;
    char err[512];
    faArchive *a = faOpen(f->dir, 7, PAYLOAD, &jc, err, sizeof err);
    if (!a)
        fail_msg("%s", err);
    return a;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[512];
    if (cfgLoad("config/xchg.conf", &f->cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    cfgSegment *seg = &f->cfg.segments[0];
    seg->orderCapacity = 1 << 14;
    seg->feedHistory = 64;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_feedarch.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->a = archiveOpen(f);
    f->now = T0;
    f->rng = 0x9e3779b97f4a7c15ull;
    fsOptions o = {.cfg = &f->cfg,
                   .segment = 0,
                   .tradingDay = 20250106,
                   .midnightNs = MIDNIGHT,
                   .send = onSend,
                   .sendCtx = f};
    f->fs = fsCreate(&o);
    assert_non_null(f->fs);
    fsSetArchive(f->fs, faJournal(f->a), onForward, f, NULL);
    mtEngineConfig ec = {.segmentId = seg->id,
                         .orderCapacity = seg->orderCapacity,
                         .maxInstruments = seg->instrumentCount,
                         .stp = MT_STP_NONE,
                         .onEvent = onEvent,
                         .eventCtx = f};
    f->eng = mtEngineCreate(&ec);
    assert_non_null(f->eng);
    for (uint32_t i = 0; i < f->cfg.instrumentCount; i++) {
        const cfgInstrument *ci = &f->cfg.instruments[i];
        mtBookConfig bc = {ci->lowerTicks, ci->upperTicks, ci->preSettlementTicks, ci->minLots,
                           ci->maxLots};
        assert_int_equal(mtEngineAddInstrument(f->eng, ci->book, &bc), MT_OK);
    }
    fsStart(f->fs, f->now);
    for (uint16_t i = 0; i < seg->instrumentCount; i++)
        assert_int_equal(mtEngineSetState(f->eng, i, MT_STATE_CONTINUOUS), MT_OK);
    fsFlush(f->fs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    clearOut(f);
    for (size_t i = 0; i < f->n; i++)
        free(f->sent[i].data);
    mtEngineDestroy(f->eng);
    fsDestroy(f->fs);
    faClose(f->a);
    cfgFree(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint64_t rnd(fixture *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

/* n limit orders around the reference (some crossing), a flush every k. */
static void trade(fixture *f, int n, int k)
{
    for (int i = 0; i < n; i++) {
        f->now += 1000;
        const cfgInstrument *ci = &f->cfg.instruments[rnd(f) % f->cfg.instrumentCount];
        mtNewOrder o = {.instrument = ci->book,
                        .side = rnd(f) % 2 ? MT_BUY : MT_SELL,
                        .qty = (uint32_t)(1 + rnd(f) % 8),
                        .account = (uint32_t)(1 + rnd(f) % 3)};
        int64_t away = (int64_t)(rnd(f) % 10) - 2;
        o.price = ci->preSettlementTicks + (o.side == MT_BUY ? -away : away);
        mtEngineNewOrder(f->eng, &o);
        if (i % k == k - 1)
            fsFlush(f->fs);
    }
    fsFlush(f->fs);
}

static uint64_t nextSeq(const fixture *f)
{
    fdStats st;
    fdGetStats(fsFeed(f->fs), &st);
    return st.nextSequence;
}

static uint64_t monoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Drives the archive until everything sent is indexed (a generous bound:
 * a commit's fdatasync can take seconds on a shared, loaded disk). */
static void settle(fixture *f, uint64_t next)
{
    uint64_t first, got = 0;
    for (uint64_t t0 = monoNs(); got != next && monoNs() - t0 < 60000000000ull;) {
        assert_true(faPoll(f->a) >= 0);
        faRange(f->a, &first, &got);
        if (got != next)
            usleep(100);
    }
    assert_int_equal(got, next);
}

/* The message with sequence number seq in the packets the server sent to
 * the group: its block (length prefix included), or NULL. */
static const uint8_t *original(const fixture *f, uint64_t seq, size_t *blk)
{
    for (size_t i = 0; i < f->n; i++) {
        const pkt *p = &f->sent[i];
        uint64_t s = itchGet64(p->data + MOLD_OFF_SEQUENCE);
        uint16_t c = itchGet16(p->data + MOLD_OFF_COUNT);
        if (p->ip != GROUP || c == 0 || c == MOLD_END_OF_SESSION || seq < s || seq >= s + c)
            continue;
        size_t off = MOLD_HEADER_SIZE;
        for (; s < seq; s++)
            off += 2u + itchGet16(p->data + off);
        *blk = 2u + itchGet16(p->data + off);
        return p->data + off;
    }
    return NULL;
}

/* Every message of the answer packets equals the original; returns how
 * many there were; they start at seq and are contiguous. */
static uint64_t checkAnswer(const fixture *f, uint64_t seq)
{
    uint64_t msgs = 0;
    for (size_t i = 0; i < f->nOut; i++) {
        const pkt *p = &f->out[i];
        assert_memory_equal(p->data, fdSession(fsFeed(f->fs)), MOLD_SESSION_LEN);
        assert_int_equal(itchGet64(p->data + MOLD_OFF_SEQUENCE), seq);
        uint16_t c = itchGet16(p->data + MOLD_OFF_COUNT);
        size_t off = MOLD_HEADER_SIZE;
        for (uint16_t k = 0; k < c; k++, seq++, msgs++) {
            size_t blk = 0;
            const uint8_t *o = original(f, seq, &blk);
            assert_non_null(o);
            assert_true(off + blk <= p->len);
            assert_memory_equal(p->data + off, o, blk);
            off += blk;
        }
        assert_int_equal(off, p->len);
    }
    return msgs;
}

static void archive_answers_equal_the_packets_sent(void **state)
{
    fixture *f = *state;
    trade(f, 4000, 5);
    fsTick(f->fs, f->now);
    f->now += 3000000000ull;
    fsTick(f->fs, f->now); /* a heartbeat: not archived */
    uint64_t next = nextSeq(f);
    settle(f, next);
    size_t withMsgs = 0, heartbeats = 0;
    for (size_t i = 0; i < f->n; i++) {
        uint16_t c = itchGet16(f->sent[i].data + MOLD_OFF_COUNT);
        withMsgs += c != 0 && c != MOLD_END_OF_SESSION;
        heartbeats += c == 0;
    }
    assert_true(heartbeats >= 1);
    assert_int_equal(faPackets(f->a), withMsgs);
    uint64_t first, end;
    faRange(f->a, &first, &end);
    assert_int_equal(first, 1);
    /* each packet asked for by its own first number and count: itself */
    uint32_t m;
    for (size_t i = 0; i < f->n; i++) {
        const pkt *p = &f->sent[i];
        uint16_t c = itchGet16(p->data + MOLD_OFF_COUNT);
        if (c == 0 || c == MOLD_END_OF_SESSION)
            continue;
        clearOut(f);
        assert_int_equal(faAnswer(f->a, itchGet64(p->data + MOLD_OFF_SEQUENCE), c, onAnswer, f, &m),
                         FA_ANSWERED);
        assert_int_equal(m, c);
        assert_int_equal(f->nOut, 1);
        assert_int_equal(f->out[0].len, p->len);
        assert_memory_equal(f->out[0].data, p->data, p->len);
    }
    /* a long request: 8 full packets from the middle of a packet on */
    clearOut(f);
    uint64_t from = itchGet64(f->sent[f->n / 3].data + MOLD_OFF_SEQUENCE) + 1;
    assert_int_equal(faAnswer(f->a, from, 65534, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(f->nOut, FA_MAX_PACKETS);
    for (size_t i = 0; i + 1 < f->nOut; i++)
        assert_true(f->out[i].len > PAYLOAD - 52); /* as full as the MTU allows */
    assert_int_equal(checkAnswer(f, from), m);
    /* the tail: what there is, then nothing */
    clearOut(f);
    assert_int_equal(faAnswer(f->a, next - 3, 100, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(m, 3);
    assert_int_equal(checkAnswer(f, next - 3), 3);
    clearOut(f);
    assert_int_equal(faAnswer(f->a, next, 1, onAnswer, f, &m), FA_NOT_YET);
    assert_int_equal(faAnswer(f->a, next + 1000, 1, onAnswer, f, &m), FA_NOT_YET);
    assert_int_equal(f->nOut, 0);
}

static void request(fixture *f, uint64_t seq, uint16_t count)
{
    uint8_t r[MOLD_HEADER_SIZE];
    memcpy(r, fdSession(fsFeed(f->fs)), MOLD_SESSION_LEN);
    itchPut64(r + MOLD_OFF_SEQUENCE, seq);
    itchPut16(r + MOLD_OFF_COUNT, count);
    f->now += 10000000; /* under the rate limit */
    fsOnRequest(f->fs, CLIENT, 40000, r, sizeof r, f->eng, f->now);
}

static void server_forwards_what_left_its_memory(void **state)
{
    fixture *f = *state;
    trade(f, 500, 7);
    uint64_t next = nextSeq(f);
    size_t n0 = f->n;
    request(f, 1, 100); /* long out of the 64-message history */
    assert_int_equal(f->fwdCalls, 1);
    assert_int_equal(f->fwdSeq, 1);
    assert_int_equal(f->fwdCount, 100);
    assert_int_equal(f->n, n0); /* the worker sent nothing itself */
    request(f, next - 10, 10);  /* in memory: answered by the server */
    assert_int_equal(f->fwdCalls, 1);
    assert_int_equal(f->n, n0 + 1);
    request(f, next + 5, 1); /* not sent yet: neither */
    assert_int_equal(f->fwdCalls, 1);
    fsStats st;
    fsGetStats(f->fs, &st);
    assert_int_equal(st.archiveForwarded, 1);
    assert_int_equal(st.answered, 1);
    assert_int_equal(st.notYetSent, 1);
    assert_int_equal(st.gone, 0);
    assert_int_equal(st.archiveLost, 0);
}

static void reopened_archive_holes_and_resent_numbers(void **state)
{
    fixture *f = *state;
    trade(f, 1500, 3);
    uint64_t next = nextSeq(f);
    settle(f, next);
    uint64_t packets = faPackets(f->a);
    uint32_t m;
    assert_int_equal(faAnswer(f->a, 40, 200, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(checkAnswer(f, 40), 200);
    clearOut(f);
    /* a restart: the same index from the files */
    fsSetArchive(f->fs, NULL, NULL, NULL, NULL);
    faClose(f->a);
    f->a = archiveOpen(f);
    assert_int_equal(faPackets(f->a), packets);
    uint64_t first, end;
    faRange(f->a, &first, &end);
    assert_int_equal(first, 1);
    assert_int_equal(end, next);
    assert_int_equal(faAnswer(f->a, 40, 200, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(checkAnswer(f, 40), 200);
    clearOut(f);
    /* packets appended after the reopen, with a hole of 10 numbers (a crash
     * lost them), then a packet re-sending numbers already there */
    const uint8_t *base = f->sent[f->n - 1].data;
    uint8_t p[MOLD_HEADER_SIZE + 2 + 12];
    memcpy(p, base, MOLD_SESSION_LEN);
    itchPut16(p + MOLD_OFF_COUNT, 1);
    itchPut16(p + MOLD_HEADER_SIZE, 12);
    memset(p + MOLD_HEADER_SIZE + 2, 'S', 12);
    itchPut64(p + MOLD_OFF_SEQUENCE, next + 10);
    assert_true(jnAppend(faJournal(f->a), FA_REC_PACKET, p, sizeof p) != 0);
    jnPublish(faJournal(f->a));
    settle(f, next + 11);
    assert_int_equal(faAnswer(f->a, next + 2, 5, onAnswer, f, &m), FA_GONE); /* the hole */
    assert_int_equal(faAnswer(f->a, next + 10, 5, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(m, 1);
    assert_memory_equal(f->out[0].data, p, sizeof p);
    clearOut(f);
    assert_int_equal(faAnswer(f->a, 0, 5, onAnswer, f, &m), FA_GONE); /* before the start */
    itchPut64(p + MOLD_OFF_SEQUENCE, next - 1); /* re-sent: replaces what it overlaps */
    assert_true(jnAppend(faJournal(f->a), FA_REC_PACKET, p, sizeof p) != 0);
    jnPublish(faJournal(f->a));
    settle(f, next);
    assert_int_equal(faAnswer(f->a, next - 1, 5, onAnswer, f, &m), FA_ANSWERED);
    assert_int_equal(m, 1);
    assert_memory_equal(f->out[0].data, p, sizeof p);
    clearOut(f);
}

/* The first segment file of the archive. */
static void firstSegment(const fixture *f, char *path, size_t n)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    char best[300] = "";
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "seg-", 4) && (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%.255s", e->d_name);
    closedir(d);
    assert_true(best[0] != 0);
    snprintf(path, n, "%s/%s", f->dir, best);
}

static void damaged_record_is_not_sent(void **state)
{
    fixture *f = *state;
    trade(f, 300, 4);
    settle(f, nextSeq(f));
    char path[400];
    firstSegment(f, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 4096 + 24 + 25), 1); /* inside the first packet */
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, 4096 + 24 + 25), 1);
    close(fd);
    uint32_t m;
    assert_int_equal(faAnswer(f->a, 1, 10, onAnswer, f, &m), FA_ERROR);
    assert_int_equal(f->nOut, 0);
    assert_non_null(strstr(faError(f->a), "damaged"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(archive_answers_equal_the_packets_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(server_forwards_what_left_its_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(reopened_archive_holes_and_resent_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_record_is_not_sent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
