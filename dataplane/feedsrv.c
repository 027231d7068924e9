/* feedsrv.c -- a segment's feed endpoints: incremental multicast, retransmission, snapshot.
 *
 * API and contracts in dataplane/feedsrv.h; the wire rules in
 * docs/protocol/feed.md §2. The rate limit is GCRA (a token bucket kept as
 * one "theoretical arrival time" per requester), in integer nanoseconds. */
#include "dataplane/feedsrv.h"

#include <string.h>

#include "dataplane/feedarch.h"

typedef struct {
    uint32_t ip;      /* 0 = free */
    uint64_t reqTat;  /* GCRA theoretical arrival time of the next request */
    uint64_t snapTat; /* same, snapshots */
} fsRequester;

struct fsServer {
    fdFeed *fd;
    fsSendFn *send;
    void *sendCtx;
    uint32_t group;
    uint16_t feedPort;
    uint64_t midnightNs;
    int closed;
    /* the snapshot being sent: packets as [u16 length][bytes], to snapIp:snapPort */
    uint32_t snapIp;
    uint16_t snapPort;
    uint8_t *snap;
    size_t snapLen, snapSent;
    uint32_t snapPackets;
    int snapOverflow;
    fsRequester req[FS_REQUESTERS];
    uint8_t buf[FD_MTU_MAX];
    fsStats stats;
    const mtAllocator *alloc;
    /* the feed archive (fsSetArchive): journal of sent packets, forwarding */
    jnJournal *archive;
    fsForwardFn *forward;
    void *forwardCtx;
    const fsArchiveStats *archiveStats;
};

/* ITCH timestamp: nanoseconds since the midnight the server counts from. */
static inline uint64_t fsItchNs(const fsServer *fs, uint64_t nowNs)
{
    return nowNs > fs->midnightNs ? nowNs - fs->midnightNs : 0;
}

static void fsSendFeed(void *ctx, const uint8_t *pkt, uint16_t len)
{
    fsServer *fs = ctx;
    fs->send(fs->sendCtx, fs->group, fs->feedPort, pkt, len);
    if (fs->archive) { /* packets with messages only: not heartbeats, not end of session */
        uint16_t count = itchGet16(pkt + MOLD_OFF_COUNT);
        if (count != 0 && count != MOLD_END_OF_SESSION) {
            if (__builtin_expect(jnAppend(fs->archive, FA_REC_PACKET, pkt, len) == 0, 0))
                fs->stats.archiveLost++;
            jnPublish(fs->archive);
        }
    }
}

/* fdSnapshot's packets go to the snapshot buffer; fsPump sends them. */
static void fsKeepSnapshot(void *ctx, const uint8_t *pkt, uint16_t len)
{
    fsServer *fs = ctx;
    if (fs->snapLen + 2 + len > FS_SNAPSHOT_BYTES) {
        fs->snapOverflow = 1;
        return;
    }
    memcpy(fs->snap + fs->snapLen, &len, 2);
    memcpy(fs->snap + fs->snapLen + 2, pkt, len);
    fs->snapLen += 2 + (size_t)len;
    fs->snapPackets++;
}

uint32_t fsPump(fsServer *fs)
{
    if (__builtin_expect(fs->snapSent == fs->snapLen, 1))
        return 0;
    for (int i = 0; i < FS_PUMP_PACKETS && fs->snapSent < fs->snapLen; i++) {
        uint16_t len;
        memcpy(&len, fs->snap + fs->snapSent, 2);
        fs->send(fs->sendCtx, fs->snapIp, fs->snapPort, fs->snap + fs->snapSent + 2, len);
        fs->snapSent += 2 + (size_t)len;
        fs->snapPackets--;
        fs->stats.snapshotPackets++;
    }
    if (fs->snapSent == fs->snapLen)
        fs->snapSent = fs->snapLen = 0;
    return fs->snapPackets;
}

/* ---- life ------------------------------------------------------------------ */

fsServer *fsCreate(const fsOptions *opt)
{
    if (!opt || !opt->cfg || !opt->send || opt->segment >= opt->cfg->segmentCount)
        return NULL;
    const cfgSegment *seg = &opt->cfg->segments[opt->segment];
    const mtAllocator *a = opt->allocator ? opt->allocator : mtDefaultAllocator();
    fsServer *fs = a->alloc(a->ctx, sizeof *fs + FS_SNAPSHOT_BYTES);
    if (!fs)
        return NULL;
    memset(fs, 0, sizeof *fs);
    fs->snap = (uint8_t *)(fs + 1);
    fs->alloc = a;
    fs->send = opt->send;
    fs->sendCtx = opt->sendCtx;
    fs->group = seg->feedGroup;
    fs->feedPort = seg->feedPort;
    fs->midnightNs = opt->midnightNs;
    fdOptions fo = {.cfg = opt->cfg,
                    .segment = opt->segment,
                    .tradingDay = opt->tradingDay,
                    .mtu = opt->mtu,
                    .heartbeatNs = (uint64_t)seg->feedHeartbeatMs * 1000000u,
                    .historyDepth = seg->feedHistory,
                    .send = fsSendFeed,
                    .sendCtx = fs,
                    .allocator = a};
    fs->fd = fdCreate(&fo);
    if (!fs->fd) {
        a->free(a->ctx, fs, sizeof *fs + FS_SNAPSHOT_BYTES);
        return NULL;
    }
    fdSetMidnight(fs->fd, fs->midnightNs);
    return fs;
}

void fsDestroy(fsServer *fs)
{
    if (!fs)
        return;
    const mtAllocator *a = fs->alloc;
    fdDestroy(fs->fd);
    a->free(a->ctx, fs, sizeof *fs + FS_SNAPSHOT_BYTES);
}

/* ---- the day ----------------------------------------------------------------- */

void fsStart(fsServer *fs, uint64_t nowNs)
{
    uint64_t ns = fsItchNs(fs, nowNs);
    fdSystemEvent(fs->fd, ITCH_EVENT_START_OF_MESSAGES, ns);
    fdDirectory(fs->fd, ns);
    fdSystemEvent(fs->fd, ITCH_EVENT_START_OF_SYSTEM_HOURS, ns);
    fdFlush(fs->fd);
}

void fsOnEvent(void *ctx, const mtEvent *ev, uint64_t nowNs)
{
    fsServer *fs = ctx;
    fdTap(fs->fd, ev, nowNs); /* 'Q' and the midnight are the builder's (fdTap) */
}

void fsFlush(fsServer *fs)
{
    fdFlush(fs->fd);
}

void fsTick(fsServer *fs, uint64_t nowNs)
{
    if (__builtin_expect(nowNs >= fs->midnightNs + FS_DAY_NS, 0)) {
        while (nowNs >= fs->midnightNs + FS_DAY_NS)
            fs->midnightNs += FS_DAY_NS; /* a session that runs past midnight restarts at 0 */
        fdSetMidnight(fs->fd, fs->midnightNs);
    }
    fdTick(fs->fd, nowNs);
}

void fsClose(fsServer *fs, uint64_t nowNs)
{
    if (fs->closed)
        return;
    uint64_t ns = fsItchNs(fs, nowNs);
    if (fdMarketOpen(fs->fd))
        fdSystemEvent(fs->fd, ITCH_EVENT_END_OF_MARKET_HOURS, ns);
    fdSystemEvent(fs->fd, ITCH_EVENT_END_OF_SYSTEM_HOURS, ns);
    fdEndSession(fs->fd, ns);
    fs->closed = 1;
}

/* ---- requests ------------------------------------------------------------------ */

static fsRequester *fsRequesterOf(fsServer *fs, uint32_t ip)
{
    fsRequester *r = &fs->req[(ip * 2654435761u) >> 24 & (FS_REQUESTERS - 1)];
    if (r->ip != ip) { /* a new requester takes the slot (collisions share nothing) */
        r->ip = ip;
        r->reqTat = r->snapTat = 0;
    }
    return r;
}

/* GCRA: admits an event at `now` when it is no earlier than tat minus the
 * burst tolerance; the next theoretical time moves one interval on. */
static int fsAdmit(uint64_t *tat, uint64_t now, uint64_t interval, uint64_t burst)
{
    uint64_t tolerance = interval * (burst - 1);
    if (*tat > now && *tat - now > tolerance)
        return 0;
    *tat = (*tat > now ? *tat : now) + interval;
    return 1;
}

static void fsRetransmit(fsServer *fs, uint32_t ip, uint16_t port, uint64_t seq, uint16_t count)
{
    uint64_t first, next;
    fdHistoryRange(fs->fd, &first, &next);
    if (seq >= next) {
        fs->stats.notYetSent++;
        return;
    }
    if (seq < first) {
        if (!fs->forward)
            fs->stats.gone++;
        else if (fs->forward(fs->forwardCtx, ip, port, seq, count) == 0)
            fs->stats.archiveForwarded++; /* answered off the worker, from the journal */
        else
            fs->stats.archiveBusy++;
        return;
    }
    fs->stats.answered++;
    for (int p = 0; p < FS_MAX_PACKETS && count > 0; p++) {
        size_t n = fdRetransmit(fs->fd, seq, count, fs->buf, sizeof fs->buf);
        if (n == 0)
            break;
        uint16_t got = itchGet16(fs->buf + MOLD_OFF_COUNT);
        fs->stats.retransPackets++;
        fs->stats.retransMessages += got;
        fs->send(fs->sendCtx, ip, port, fs->buf, (uint16_t)n);
        seq += got;
        count = (uint16_t)(count - got);
    }
}

static void fsSnapshot(fsServer *fs, uint32_t ip, uint16_t port, const mtEngine *e, uint64_t nowNs)
{
    if (fs->snapLen) {
        fs->stats.snapshotBusy++; /* the requester asks again */
        return;
    }
    fs->snapIp = ip;
    fs->snapPort = port;
    fs->snapOverflow = 0;
    fs->snapPackets = 0;
    int64_t n = fdSnapshot(fs->fd, e, fsItchNs(fs, nowNs), fsKeepSnapshot, fs);
    fs->stats.snapshots++;
    if (n < 0 || fs->snapOverflow) {
        fs->stats.snapshotFailed++;
        fs->snapLen = fs->snapSent = 0; /* nothing sent: a partial image is useless */
        fs->snapPackets = 0;
    } else {
        fs->stats.snapshotMessages += (uint64_t)n;
    }
}

void fsOnRequest(fsServer *fs, uint32_t srcIp, uint16_t srcPort, const uint8_t *data, uint16_t len,
                 const mtEngine *engine, uint64_t nowNs)
{
    fs->stats.requests++;
    /* a request is a downstream header alone (no blocks): not moldParse's */
    moldHeader h;
    if (len == MOLD_HEADER_SIZE) {
        h.sequence = itchGet64(data + MOLD_OFF_SEQUENCE);
        h.count = itchGet16(data + MOLD_OFF_COUNT);
    }
    if (len != MOLD_HEADER_SIZE ||
        (h.sequence != 0 && (h.count == 0 || h.count == MOLD_END_OF_SESSION))) {
        fs->stats.malformed++;
        return;
    }
    if (memcmp(data + MOLD_OFF_SESSION, fdSession(fs->fd), MOLD_SESSION_LEN) != 0) {
        fs->stats.wrongSession++;
        return;
    }
    fsRequester *r = fsRequesterOf(fs, srcIp);
    if (!fsAdmit(&r->reqTat, nowNs, 1000000000u / FS_REQ_RATE, FS_REQ_BURST) ||
        (h.sequence == 0 &&
         !fsAdmit(&r->snapTat, nowNs, FS_SNAPSHOT_INTERVAL_NS, FS_SNAPSHOT_BURST))) {
        fs->stats.rateLimited++;
        return;
    }
    if (h.sequence == 0)
        fsSnapshot(fs, srcIp, srcPort, engine, nowNs);
    else
        fsRetransmit(fs, srcIp, srcPort, h.sequence, h.count);
}

fdFeed *fsFeed(const fsServer *fs)
{
    return fs->fd;
}

void fsSetArchive(fsServer *fs, jnJournal *j, fsForwardFn *fwd, void *ctx, const fsArchiveStats *st)
{
    fs->archive = j;
    fs->forward = fwd;
    fs->forwardCtx = ctx;
    fs->archiveStats = st;
}

void fsGetStats(const fsServer *fs, fsStats *out)
{
    *out = fs->stats;
    const fsArchiveStats *a = fs->archiveStats;
    if (!a)
        return;
    out->archive.answered = __atomic_load_n(&a->answered, __ATOMIC_RELAXED);
    out->archive.gone = __atomic_load_n(&a->gone, __ATOMIC_RELAXED);
    out->archive.notDurable = __atomic_load_n(&a->notDurable, __ATOMIC_RELAXED);
    out->archive.errors = __atomic_load_n(&a->errors, __ATOMIC_RELAXED);
    out->archive.dropped = __atomic_load_n(&a->dropped, __ATOMIC_RELAXED);
    out->archive.packets = __atomic_load_n(&a->packets, __ATOMIC_RELAXED);
    out->archive.messages = __atomic_load_n(&a->messages, __ATOMIC_RELAXED);
    out->archive.first = __atomic_load_n(&a->first, __ATOMIC_RELAXED);
    out->archive.next = __atomic_load_n(&a->next, __ATOMIC_RELAXED);
}
