/* bench_gateway.c -- xchgd's worker work per rx burst without the port: the in-box
 * latency the worker would record if the PMD's rx and tx cost nothing.
 *
 *   bench_gateway [--config F] [--sessions N] [--batch K] [--burst B]
 *                 [--datagrams N] [--cross-pct P] [--levels N] [--max-resting N]
 *                 [--cold KB] [--pin CPU] [--feed] [--risk] [--md]
 *                 [--match-every N] [--no-match-timing] [--plain-headers]
 *                 [--features [--rounds R]]
 *
 * xchgd's worker (dataplane/worker.c) times each rx burst from before the
 * rx call to after the tx call and records that per order-entry datagram.
 * On net_af_packet over a veth the tx call is a sendto() that runs the veth
 * and the receiving side's UDP stack on the worker's core, several
 * microseconds (docs/perf/dataplane.md). This program times only what the
 * worker itself does with a burst: per frame netClassify (Ethernet, IPv4 and
 * UDP checks and checksums) and gwOnDatagram (session, matcher, reports),
 * then gwFlush, whose send callback does what the worker's does except the
 * mbuf: copy the frame into a buffer and write the headers with
 * netUdpHeaders. No DPDK, no sockets; needs no privileges.
 *
 * The order flow is xchg-load's (perf/xchg-load.c): N sessions logged on,
 * datagrams of K requests from one session at a time in turn; NewOrders of 1
 * lot alternating buy and sell, resting 1..levels ticks from 3800.0 on
 * instrument 0, --cross-pct of them IOC through the book; once a session has
 * --max-resting orders resting, its next request cancels the oldest. The
 * client side (building frames, reading answers) is not timed. The
 * throttle of the config is raised so it never refuses.
 *
 * Back to back, bursts find the gateway's and the matcher's memory in the
 * caches. In xchgd a burst comes every few microseconds at most, and in
 * between the poll loop, the PMD and (on net_af_packet) the kernel's send
 * path run on the same core; --cold KB writes that many KB of another
 * buffer between bursts (not timed), so each burst starts with colder
 * caches, closer to what the worker sees at moderate rates.
 *
 * --feed adds the segment's market feed as xchgd's worker runs it: every
 * matcher event goes through the gateway's tap to the feed (dataplane/
 * feedsrv.h: ITCH messages, history, MoldUDP64 packets) and each finished
 * packet is copied into a frame with its headers (multicast MAC), as the
 * worker's feed send callback does minus the mbuf; the feed is flushed
 * with the gateway at each burst. perf/bench_feed.sh runs this with and
 * without --feed, interleaved, for the feed's cost per order.
 * --archive (with --feed) also appends every packet to a feed archive
 * journal (dataplane/feedarch.h) in a temporary directory, as the worker
 * does; its writer runs untimed between bursts (a thread of its own in xchgd).
 *
 * --risk adds the segment's pre-trade risk and credit lines (dataplane/
 * credit.h, as crlCreate sets them up; every account granted far more than
 * it can use, events copied into a ring as the worker's crlink does), --md
 * the summary market data hook (a 24-byte record per fill into a ring, as
 * wkOnTrade does). --match-every N times 1 matcher call in N (xchgd: 16,
 * GW_MATCH_SAMPLE_EVERY; 1 times every call, as before 2026-11-22),
 * --no-match-timing none. --plain-headers writes each answer's headers
 * with netUdpHeaders (the worker before 2026-11-22) instead of the
 * prepared per-peer headers of netFlowCacheFrame (the worker now).
 *
 * --features measures what each feature costs, in one run: R rounds
 * (--rounds, default 5) of every configuration below, interleaved, each a
 * fresh gateway fed --datagrams datagrams (default 300,000 here), and
 * prints one line
 *   {"bench":"gateway_features","configs":{NAME:{"ns_per_request_trim99",
 *    "burst_ns_p50_exact","in_box_p50","in_box_p99","in_box_p999"}...},
 *    "cost_ns_per_request":{FEATURE:ns...}}
 * with medians over the rounds. Configurations: "all" (feed, risk, md,
 * matcher timing 1 in 16, prepared headers: xchgd's worker without the
 * journal), "all" minus each of feed, risk, md, matcher timing, and
 * "match_every" (every call timed), "plain_headers", "bare" (none of the
 * features). cost = median(all) - median(all minus it); for match_every
 * and plain_headers, median(them) - median(all): what the old way costs
 * more.
 *
 * Output: one JSON line,
 *   {"bench":"gateway","datagrams","orders_per_datagram","datagrams_per_burst",
 *    "sessions","requests","ns_per_datagram_mean","ns_per_request_mean",
 *    "in_box_ns":{"count","p50","p90","p99","p999","max"}, counters...}
 * in_box_ns uses the worker's histogram (dataplane/histogram.h): one value
 * per burst, recorded once per datagram of the burst, as xchgd does.
 * instructions_per_request counts user-space instructions of the same timed
 * work (perf_event_open; 0 where perf events are not allowed): unlike the
 * time it does not move with the load of a shared machine. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "config/config.h"
#include "dataplane/credit.h"
#include "dataplane/crlink.h"
#include "dataplane/feedsrv.h"
#include "dataplane/gateway.h"
#include "dataplane/histogram.h"
#include "dataplane/net.h"
#include "dataplane/wal.h"
#include "xchg/xoe.h"

#define BG_MAX_SESSIONS 64
#define BG_MAX_BURST    32
#define BG_MAX_BATCH    36
#define BG_FRAME        1600
#define BG_OUT_MAX      (4 * BG_MAX_BURST * BG_MAX_SESSIONS)
#define BG_SERVER_IP    0xC6120001u /* 198.18.0.1 */
#define BG_CLIENT_IP    0xC6120002u /* 198.18.0.2 */
#define BG_PORT         9000
#define BG_PRICE        38000000 /* 3800.0 in 1e-4 */
#define BG_TICK         2000     /* 0.2 */
#define BG_KINDS        4096     /* clOrdIds in flight per session, far more than a burst */

typedef struct {
    uint64_t orderId, clOrdId;
} bgRest;

typedef struct {
    uint32_t id;
    uint16_t port;
    uint8_t token[XOE_TOKEN_SIZE];
    uint64_t nextSeq, nextClOrdId;
    bgRest *rest; /* FIFO of resting orders, 2 * maxResting slots */
    uint32_t head, count;
    unsigned side;
    uint8_t ioc[BG_KINDS]; /* by clOrdId: 1 for an IOC order, whose Accepted is not resting */
} bgSess;

typedef struct {
    uint16_t len;
    uint8_t data[BG_FRAME];
} bgFrame;

static struct {
    unsigned sessions, batch, burst, levels, crossPct, maxResting, coldKb, feed, archive;
    int noMatchTiming;     /* no matcher-time histogram (baseline) */
    unsigned matchEvery;   /* gwOptions.matchSampleEvery */
    int risk, md, plainHd; /* --risk, --md, --plain-headers */
    int features;          /* --features: every configuration, interleaved */
    const char *journal;   /* --journal DIR: the segment's input journal in DIR/seg-<id> */
    int journalOn;         /* this run journals (--journal, and not a features config without) */
    walLog *wal;
    unsigned rounds;
    uint64_t datagrams;
    int pin;
    const char *config;
    bgSess sess[BG_MAX_SESSIONS];
    uint64_t rng;
    /* the worker's side */
    uint8_t mac[NET_MAC_LEN], peerMac[NET_MAC_LEN];
    bgFrame out[BG_OUT_MAX];
    unsigned nOut;
    uint64_t framesOut, outBytes;
    bgFrame feedFrame;   /* the last feed packet, in its frame */
    netUdpFlow feedFlow; /* the feed's headers, prepared as the worker does */
    uint32_t feedGroup;
    netFlowCache flows; /* the answers' prepared headers, as the worker's */
    /* the rings the worker pushes to (crlink's events, wkOnTrade's fills):
     * plain single-producer arrays nobody reads, for the producer's cost */
    crEvent crRing[1024];
    uint8_t mdRing[1024][24];
    uint32_t crHead, mdHead;
    /* counters of the answers */
    uint64_t accepted, rejected, executed, cancelled, cancelRejected, newOrders, cancels, other;
} B;

static uint64_t bgRand(void)
{
    uint64_t x = B.rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return B.rng = x;
}

static uint64_t monoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The worker's send callback minus the mbuf: frame = headers + payload. */
static void bgSend(void *ctx, gwAddr to, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    if (B.nOut == BG_OUT_MAX || len > BG_FRAME - NET_UDP_HLEN) {
        fprintf(stderr, "bench_gateway: more output than expected\n");
        exit(1);
    }
    bgFrame *f = &B.out[B.nOut++];
    if (B.plainHd) {
        memcpy(f->data + NET_UDP_HLEN, data, len);
        f->len =
            netUdpHeaders(f->data, B.mac, B.peerMac, BG_SERVER_IP, to.ip, BG_PORT, to.port, len);
    } else {
        f->len =
            netFlowCacheFrame(&B.flows, f->data, B.peerMac, to.ip, BG_PORT, to.port, data, len);
    }
    if (B.wal) /* through the output gate, as the worker (async: out at once) */
        walHold(B.wal, f, 0);
}

/* The gate's release and drop: the frame is already in B.out. */
static void bgGateOut(void *ctx, void *frame)
{
    (void)ctx;
    (void)frame;
}

/* The credit lines' events to the control core (crlink: an rte_ring push). */
static void bgRiskEmit(void *ctx, const crEvent *ev)
{
    (void)ctx;
    B.crRing[B.crHead++ & 1023] = *ev;
}

/* wkOnTrade: a 24-byte record per fill onto the ring to the control core. */
static void bgOnTrade(void *ctx, uint16_t instrument, int64_t price, uint32_t qty,
                      uint8_t aggressor, const uint8_t offset[2], uint64_t nowNs)
{
    (void)ctx;
    uint8_t *r = B.mdRing[B.mdHead++ & 1023];
    memcpy(r, &nowNs, 8);
    memcpy(r + 8, &price, 8);
    memcpy(r + 16, &qty, 4);
    memcpy(r + 20, &instrument, 2);
    r[22] = aggressor;
    r[23] = (uint8_t)(offset[0] << 4 | offset[1]);
}

/* The worker's feed send callback minus the mbuf (wkFeedSend): packets to
 * the group get the prepared headers, the payload copied and summed in one
 * pass; answers to a requester (none here) get netUdpHeaders. */
static void bgFeedSend(void *ctx, uint32_t ip, uint16_t port, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    bgFrame *f = &B.feedFrame;
    if (ip == B.feedGroup) {
        f->len = netUdpFlowFrame(f->data, &B.feedFlow, data, len);
        return;
    }
    memcpy(f->data + NET_UDP_HLEN, data, len);
    f->len = netUdpHeaders(f->data, B.mac, B.peerMac, BG_SERVER_IP, ip, 9101, port, len);
}

/* A user-space instruction counter enabled only around the timed work
 * (the count does not depend on the machine's load, unlike the time).
 * Returns the fd, or -1 when perf events are not available. */
static int bgInsnOpen(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

/* ---- the client (not timed) ------------------------------------------------------ */

static uint16_t bgWrap(uint8_t *frame, const bgSess *s, size_t payloadLen)
{
    return netUdpHeaders(frame, B.peerMac, B.mac, BG_CLIENT_IP, BG_SERVER_IP, s->port, BG_PORT,
                         (uint16_t)payloadLen);
}

static uint16_t bgLogon(uint8_t *frame, bgSess *s)
{
    xoeWriter w;
    xoeLogon l;
    memset(&l, 0, sizeof l);
    l.heartbeatMs = 30000;
    memcpy(l.token, s->token, XOE_TOKEN_SIZE);
    xoeWriterInit(&w, frame + NET_UDP_HLEN, XOE_FRAME_MAX, s->id, s->nextSeq, 0);
    xoeAppendLogon(&w, &l);
    return bgWrap(frame, s, xoeWriterFinish(&w));
}

/* The next datagram of session s: K requests, as xchg-load builds them. */
static uint16_t bgRequests(uint8_t *frame, bgSess *s)
{
    xoeWriter w;
    xoeWriterInit(&w, frame + NET_UDP_HLEN, XOE_FRAME_MAX, s->id, s->nextSeq, 0);
    for (unsigned k = 0; k < B.batch; k++) {
        const uint64_t c = s->nextClOrdId++;
        if (s->count >= B.maxResting) {
            const bgRest r = s->rest[s->head];
            s->head = (s->head + 1) % (2 * B.maxResting);
            s->count--;
            xoeCancel m;
            memset(&m, 0, sizeof m);
            m.clOrdId = c;
            m.orderId = r.orderId;
            xoeAppendCancel(&w, &m);
            s->ioc[c % BG_KINDS] = 0;
            B.cancels++;
            continue;
        }
        xoeNewOrder m;
        memset(&m, 0, sizeof m);
        m.instrument = 0;
        m.side = (uint8_t)(s->side ^= 1u);
        m.clOrdId = c;
        m.qty = 1;
        const int cross = (unsigned)(bgRand() % 100) < B.crossPct;
        const int64_t k1 = 1 + (int64_t)(bgRand() % B.levels);
        if (cross) {
            m.timeCondition = XOE_IOC;
            m.price = BG_PRICE + (m.side == XOE_BUY ? 1 : -1) * (int64_t)B.levels * BG_TICK;
        } else {
            m.price = BG_PRICE + (m.side == XOE_BUY ? -k1 : k1) * BG_TICK;
        }
        xoeAppendNewOrder(&w, &m);
        s->ioc[c % BG_KINDS] = (uint8_t)cross;
        B.newOrders++;
    }
    s->nextSeq += B.batch;
    return bgWrap(frame, s, xoeWriterFinish(&w));
}

static bgSess *bgSessOf(uint32_t id)
{
    for (unsigned i = 0; i < B.sessions; i++)
        if (B.sess[i].id == id)
            return &B.sess[i];
    return NULL;
}

/* Reads what the worker sent: resting orders go into their session's FIFO. */
static void bgAnswers(void)
{
    for (unsigned i = 0; i < B.nOut; i++) {
        const bgFrame *o = &B.out[i];
        B.framesOut++;
        B.outBytes += o->len;
        xoeFrame f;
        if (xoeFrameParse(o->data + NET_UDP_HLEN, (size_t)o->len - NET_UDP_HLEN, XOE_DIR_TO_CLIENT,
                          &f, NULL) != XOE_OK) {
            fprintf(stderr, "bench_gateway: the gateway sent a frame that does not parse\n");
            exit(1);
        }
        bgSess *s = bgSessOf(f.session);
        xoeIter it;
        xoeMsg m;
        xoeIterInit(&it, &f);
        while (s && xoeIterNext(&it, &m)) {
            switch (m.type) {
            case XOE_MSG_ACCEPTED:
                B.accepted++;
                /* an order that rests (a cancel of one that trades later is
                 * rejected, as with xchg-load) */
                if (!s->ioc[m.u.accepted.clOrdId % BG_KINDS] && s->count < 2 * B.maxResting) {
                    s->rest[(s->head + s->count) % (2 * B.maxResting)] =
                        (bgRest){m.u.accepted.orderId, m.u.accepted.clOrdId};
                    s->count++;
                }
                break;
            case XOE_MSG_REJECTED:
                B.rejected++;
                break;
            case XOE_MSG_EXECUTED:
                B.executed++;
                break;
            case XOE_MSG_CANCELLED:
                B.cancelled++;
                break;
            case XOE_MSG_CANCEL_REJECTED:
                B.cancelRejected++;
                break;
            default:
                B.other++;
                break;
            }
        }
    }
    B.nOut = 0;
}

/* ---- main ------------------------------------------------------------------------- */

/* The matcher-time clock xchgd's worker gives the gateway (rte_rdtsc). */
static uint64_t bgCycles(void)
{
    return __rdtsc();
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_gateway [--config F] [--sessions N (1-%d)] [--batch K (1-%d)]\n"
            "         [--burst B (1-%d)] [--datagrams N] [--cross-pct P] [--levels N]\n"
            "         [--max-resting N] [--cold KB] [--pin CPU] [--feed] [--risk] [--md]\n"
            "         [--match-every N] [--no-match-timing] [--plain-headers]\n"
            "         [--features [--rounds R]] [--journal DIR]\n",
            BG_MAX_SESSIONS, BG_MAX_BATCH, BG_MAX_BURST);
}

static int bgArgs(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"sessions", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"burst", required_argument, NULL, 'B'},
                                         {"datagrams", required_argument, NULL, 'n'},
                                         {"cross-pct", required_argument, NULL, 'x'},
                                         {"levels", required_argument, NULL, 'l'},
                                         {"max-resting", required_argument, NULL, 'm'},
                                         {"pin", required_argument, NULL, 'p'},
                                         {"cold", required_argument, NULL, 'C'},
                                         {"feed", no_argument, NULL, 'f'},
                                         {"archive", no_argument, NULL, 'A'},
                                         {"no-match-timing", no_argument, NULL, 'T'},
                                         {"match-every", required_argument, NULL, 'E'},
                                         {"risk", no_argument, NULL, 'r'},
                                         {"md", no_argument, NULL, 'M'},
                                         {"plain-headers", no_argument, NULL, 'H'},
                                         {"features", no_argument, NULL, 'F'},
                                         {"rounds", required_argument, NULL, 'R'},
                                         {"journal", required_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    B.config = "config/xchg.conf";
    B.sessions = 8;
    B.batch = 1;
    B.burst = 1;
    B.datagrams = 2000000;
    B.crossPct = 10;
    B.levels = 5;
    B.maxResting = 50;
    B.pin = -1;
    B.matchEvery = GW_MATCH_SAMPLE_EVERY;
    B.rounds = 5;
    int datagramsSet = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const unsigned long v = optarg ? strtoul(optarg, NULL, 10) : 0;
        switch (c) {
        case 'c':
            B.config = optarg;
            break;
        case 's':
            B.sessions = (unsigned)v;
            break;
        case 'b':
            B.batch = (unsigned)v;
            break;
        case 'B':
            B.burst = (unsigned)v;
            break;
        case 'n':
            B.datagrams = v;
            datagramsSet = 1;
            break;
        case 'x':
            B.crossPct = (unsigned)v;
            break;
        case 'l':
            B.levels = (unsigned)v;
            break;
        case 'm':
            B.maxResting = (unsigned)v;
            break;
        case 'p':
            B.pin = (int)v;
            break;
        case 'C':
            B.coldKb = (unsigned)v;
            break;
        case 'f':
            B.feed = 1;
            break;
        case 'A': /* with --feed: the feed archive's append, as xchgd's worker */
            B.archive = 1;
            break;
        case 'T':
            B.noMatchTiming = 1;
            break;
        case 'E':
            B.matchEvery = (unsigned)v;
            break;
        case 'r':
            B.risk = 1;
            break;
        case 'M':
            B.md = 1;
            break;
        case 'H':
            B.plainHd = 1;
            break;
        case 'F':
            B.features = 1;
            break;
        case 'R':
            B.rounds = (unsigned)v;
            break;
        case 'J':
            B.journal = optarg;
            break;
        default:
            usage();
            exit(c == 'h' ? 0 : 2);
        }
    }
    if (B.sessions < 1 || B.sessions > BG_MAX_SESSIONS || B.batch < 1 || B.batch > BG_MAX_BATCH ||
        B.burst < 1 || B.burst > BG_MAX_BURST || B.datagrams < 1 || B.crossPct > 100 ||
        B.levels < 1 || B.levels > 100 || B.maxResting < 1 || B.coldKb > 1048576 ||
        B.matchEvery < 1 || (B.matchEvery & (B.matchEvery - 1)) || B.rounds < 1 || B.rounds > 99 ||
        optind != argc) {
        usage();
        return -1;
    }
    if (B.journal && !B.risk && !B.features) {
        fprintf(stderr, "bench_gateway: --journal needs --risk (replay has credit lines)\n");
        return -1;
    }
    B.journalOn = B.journal != NULL;
    if (B.features && !datagramsSet)
        B.datagrams = 300000;
    return 0;
}

static int bgCmpU64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Statistics of the timed bursts that the load of a shared machine moves
 * less than the mean: the exact median burst time, and the mean time per
 * request over the bursts up to the 99th percentile (a burst that lost the
 * core to another process costs as much as thousands of others). */
static void bgRobust(const uint32_t *ns, const uint32_t *n, uint64_t count, unsigned batch,
                     double *p50, double *trim99)
{
    *p50 = *trim99 = 0;
    if (count == 0)
        return;
    uint64_t *k = malloc(count * sizeof *k); /* ns << 8 | datagrams: sorts by time */
    if (!k)
        return;
    for (uint64_t i = 0; i < count; i++)
        k[i] = (uint64_t)ns[i] << 8 | n[i];
    qsort(k, count, sizeof *k, bgCmpU64);
    *p50 = count % 2 ? (double)(k[count / 2] >> 8)
                     : ((double)(k[count / 2 - 1] >> 8) + (double)(k[count / 2] >> 8)) / 2;
    const uint64_t keep = count - count / 100;
    double sum = 0, reqs = 0;
    for (uint64_t i = 0; i < keep; i++) {
        sum += (double)(k[i] >> 8);
        reqs += (double)(k[i] & 0xFF) * batch;
    }
    *trim99 = reqs > 0 ? sum / reqs : 0;
    free(k);
}

/* TSC ticks per second, against CLOCK_MONOTONIC over 100 ms. */
static double tscHz(void)
{
    const uint64_t n0 = monoNs(), t0 = __rdtsc();
    while (monoNs() - n0 < 100000000ull)
        ;
    const uint64_t n1 = monoNs(), t1 = __rdtsc();
    return (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}

/* The segment's journal as xchgd's worker keeps it (dataplane/durable.c):
 * a stream in DIR/seg-<id>, its writer thread, the wal in async mode. */
typedef struct {
    jnJournal *j;
    pthread_t writer;
    int running;
    uint64_t records;
} bgJournal;

/* Empties a stream directory of an earlier run (flat: segment files). */
static void bgRmStream(const char dir[4096])
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[4096 + 256];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Opens a fresh journal stream for segment 0 and attaches B.wal; journals
 * the start and the throttle xchgd's config copy would give (so that
 * xchg-replay with the bench's throttle sees the same input). */
static int bgJournalOpen(bgJournal *jr, const cfgConfig *cfg, gwGateway *gw, uint64_t now)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/seg-%u", B.journal, cfg->segments[0].id);
    bgRmStream(dir);
    jnConfig jc;
    jnConfigDefaults(&jc);
    jc.dir = dir;
    jc.stream = cfg->segments[0].id;
    jc.segmentBytes = cfg->storage.walSegmentSize;
    jnError je;
    jr->j = jnOpen(&jc, &je);
    if (!jr->j) {
        fprintf(stderr, "bench_gateway: journal %s: %s\n", dir, je.msg);
        return -1;
    }
    B.wal = walCreate(jr->j, gw, 0, 1024, NULL);
    if (!B.wal || pthread_create(&jr->writer, NULL, jnWriterMain, jr->j) != 0) {
        fprintf(stderr, "bench_gateway: journal %s: wal or writer thread failed\n", dir);
        return -1;
    }
    jr->running = 1;
    if (B.pin >= 0) { /* xchgd's storage thread is on another core than the worker */
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c = 0; c < CPU_SETSIZE && c < 1024; c++)
            if (c != B.pin)
                CPU_SET(c, &set);
        pthread_setaffinity_np(jr->writer, sizeof set, &set);
    }
    walSetOutput(B.wal, bgGateOut, bgGateOut, NULL);
    walSetMuted(B.wal, 0);
    const walTimeRec start = {.nowNs = now};
    walControl(B.wal, WAL_START, &start, sizeof start);
    walApply(gw, WAL_START, &start, sizeof start);
    const walThrottleRec th = {.nowNs = now, .msgsPerSec = cfg->risk.throttle};
    walControl(B.wal, WAL_SET_THROTTLE, &th, sizeof th);
    return 0;
}

/* Makes everything durable, stops the writer, closes the stream. */
static void bgJournalClose(bgJournal *jr)
{
    if (B.wal)
        walPoll(B.wal);
    if (jr->running) {
        jnWriterStop(jr->j);
        pthread_join(jr->writer, NULL);
    }
    walCounters wc;
    if (B.wal) {
        walGetCounters(B.wal, &wc);
        jr->records = wc.records;
    }
    walDestroy(B.wal);
    B.wal = NULL;
    jnClose(jr->j);
}

/* One order-entry datagram as xchgd's worker takes it (wkHandle): parsed
 * once, journaled, given to the gateway; a malformed one (none here) to
 * gwOnDatagram. */
static void bgDatagram(gwGateway *gw, const netFrame *nf, const uint8_t *frame, uint64_t now)
{
    const gwAddr from = {nf->srcIp, nf->srcPort};
    const uint8_t *p = frame + nf->payloadOff;
    xoeFrame xf;
    xoeErrorInfo ei;
    if (xoeFrameParse(p, nf->payloadLen, XOE_DIR_TO_XCHG, &xf, &ei) != XOE_OK)
        gwOnDatagram(gw, from, p, nf->payloadLen, now);
    else if (!B.wal || walDatagramParsed(B.wal, from, p, nf->payloadLen, now) == WAL_APPLY)
        gwOnDatagramParsed(gw, from, &xf, now);
}

/* What one run measured (medians are taken over --features rounds). */
typedef struct {
    double trim99, p50Exact;
    uint64_t p50, p99, p999;
} bgResult;

/* One run with the features B says: a fresh gateway (and feed, risk) fed
 * B.datagrams timed datagrams after a tenth as many untimed ones. Prints
 * the JSON line when print. Returns 0, or 1 when the run failed (no
 * accepted order, throttled, or no memory). */
static int bgRun(const cfgConfig *cfg, double hz, int print, bgResult *r)
{
    memset(B.sess, 0, sizeof B.sess);
    B.nOut = 0;
    B.framesOut = B.outBytes = 0;
    B.accepted = B.rejected = B.executed = B.cancelled = B.cancelRejected = 0;
    B.newOrders = B.cancels = B.other = 0;
    gwOptions o = {.cfg = cfg,
                   .segment = 0,
                   .maxSessions = 64,    /* xchgd's MAX_SESSIONS */
                   .historyDepth = 4096, /* xchgd's HISTORY_DEPTH */
                   .tradingDay = 20251006,
                   .send = bgSend,
                   .sendCtx = NULL,
                   .cycles = B.noMatchTiming ? NULL : bgCycles, /* as xchgd's worker */
                   .matchSampleEvery = B.matchEvery,
                   .onTrade = B.md ? bgOnTrade : NULL};
    const uint8_t mac[NET_MAC_LEN] = {0x02, 0, 0, 0, 0, 1},
                  peer[NET_MAC_LEN] = {0x02, 0, 0, 0, 0, 2};
    memcpy(B.mac, mac, sizeof mac);
    memcpy(B.peerMac, peer, sizeof peer);
    fsServer *fs = NULL;
    if (B.feed) {
        const cfgSegment *seg = &cfg->segments[0];
        const uint8_t gmac[NET_MAC_LEN] = {0x01,
                                           0x00,
                                           0x5e,
                                           (uint8_t)(seg->feedGroup >> 16 & 0x7f),
                                           (uint8_t)(seg->feedGroup >> 8),
                                           (uint8_t)seg->feedGroup};
        B.feedGroup = seg->feedGroup;
        netUdpFlowInit(&B.feedFlow, B.mac, gmac, BG_SERVER_IP, seg->feedGroup, seg->retransPort,
                       seg->feedPort);
        const fsOptions fo = {.cfg = cfg, .segment = 0, .tradingDay = 20251006, .send = bgFeedSend};
        fs = fsCreate(&fo);
        if (!fs) {
            fprintf(stderr, "bench_gateway: fsCreate failed (memory or config)\n");
            return 1;
        }
        o.tap = fdTap; /* as the worker: straight into the builder */
        o.tapCtx = fsFeed(fs);
        fsStart(fs, monoNs());
    }
    jnJournal *arch = NULL;
    char archDir[] = "/tmp/bench_gateway_archive.XXXXXX";
    if (fs && B.archive) {
        jnConfig jc;
        jnError je;
        jnConfigDefaults(&jc);
        jc.dir = mkdtemp(archDir);
        jc.maxPayload = 2048;
        jc.segmentBytes = 256u << 20;
        jc.prefill = 0;
        arch = jc.dir ? jnOpen(&jc, &je) : NULL;
        if (!arch) {
            fprintf(stderr, "bench_gateway: archive journal: %s\n", jc.dir ? je.msg : "mkdtemp");
            return 1;
        }
        fsSetArchive(fs, arch, NULL, NULL, NULL);
    }
    crRisk *risk = NULL;
    if (B.risk) {
        crOptions co;
        crlRiskOptions(&co, cfg, 0, cfg->segments[0].orderCapacity + CRL_REF_SPARE, NULL);
        co.emit = bgRiskEmit;
        risk = crCreate(&co);
        if (!risk) {
            fprintf(stderr, "bench_gateway: crCreate failed (memory or config)\n");
            return 1;
        }
        o.risk = risk;
    }
    netFlowCacheInit(&B.flows, B.mac, BG_SERVER_IP);
    gwGateway *gw = gwCreate(&o);
    if (!gw) {
        fprintf(stderr, "bench_gateway: gwCreate failed (memory or config)\n");
        return 1;
    }
    uint64_t now = monoNs();
    bgJournal jr = {0};
    if (B.journalOn && bgJournalOpen(&jr, cfg, gw, now) != 0)
        return 1;
    for (uint16_t b = 0; b < cfg->segments[0].instrumentCount; b++) {
        const walSetStateRec st = {.nowNs = now, .instrument = b, .state = MT_STATE_CONTINUOUS};
        if (B.wal)
            walControl(B.wal, WAL_SET_STATE, &st, sizeof st);
        gwSetState(gw, b, MT_STATE_CONTINUOUS, now);
    }
    B.rng = 0x9E3779B97F4A7C15ull;

    static uint8_t frames[BG_MAX_BURST][BG_FRAME];
    uint16_t lens[BG_MAX_BURST];
    for (unsigned i = 0; i < B.sessions; i++) {
        bgSess *s = &B.sess[i];
        s->id = i + 1;
        s->port = (uint16_t)(40000 + i);
        for (int k = 0; k < XOE_TOKEN_SIZE; k++)
            s->token[k] = (uint8_t)(i * 31u + (unsigned)k * 7u + 1u);
        s->nextSeq = 1;
        s->nextClOrdId = 1;
        s->rest = calloc(2 * B.maxResting, sizeof *s->rest);
        if (risk) { /* a credit line for the session's account, journaled like crlPoll's */
            walCreditRec cr = {.nowNs = now};
            cr.cmd = (crCmd){.type = CR_CMD_ACCOUNT,
                             .account = 1001 + i,
                             .amount = INT64_C(1) << 50,
                             .concCap = INT64_MAX};
            if (B.wal)
                walControl(B.wal, walCreditType(&cr.cmd), &cr, sizeof cr);
            crlApply(risk, gw, &cr.cmd, now);
        }
        walSessionAddRec sa = {.nowNs = now, .sessionId = s->id, .account = 1001 + i};
        memcpy(sa.token, s->token, XOE_TOKEN_SIZE);
        if (B.wal)
            walControl(B.wal, WAL_SESSION_ADD, &sa, sizeof sa);
        if (!s->rest || gwSessionAdd(gw, s->id, s->token, 1001 + i, 0) != 0) {
            fprintf(stderr, "bench_gateway: session %u could not be added\n", s->id);
            return 1;
        }
        netFrame nf;
        lens[0] = bgLogon(frames[0], s);
        netClassify(frames[0], lens[0], BG_SERVER_IP, &nf);
        bgDatagram(gw, &nf, frames[0], now);
        gwFlush(gw);
        if (B.wal)
            walPoll(B.wal);
        bgAnswers();
    }

    const size_t coldBytes = (size_t)B.coldKb * 1024;
    uint8_t *cold = coldBytes ? malloc(coldBytes) : NULL;
    if (coldBytes && !cold) {
        fprintf(stderr, "bench_gateway: out of memory\n");
        return 1;
    }
    static histLog hist;
    memset(&hist, 0, sizeof hist);
    /* every timed burst's ns, for the exact median and the trimmed mean */
    const uint64_t maxBursts = B.datagrams / B.burst + 2;
    uint32_t *burstNs = malloc(maxBursts * sizeof *burstNs);
    uint32_t *burstN = malloc(maxBursts * sizeof *burstN);
    uint64_t nBursts = 0;
    if (!burstNs || !burstN) {
        fprintf(stderr, "bench_gateway: out of memory\n");
        return 1;
    }
    const int insnFd = bgInsnOpen();
    uint64_t busyTicks = 0, next = 0, lastTimer = now, warm = B.datagrams / 10;
    const uint64_t total = B.datagrams + warm;
    unsigned rr = 0;
    while (next < total) {
        /* client: the next burst of datagrams */
        unsigned n = 0;
        for (; n < B.burst && next + n < total; n++) {
            lens[n] = bgRequests(frames[n], &B.sess[rr]);
            rr = (rr + 1) % B.sessions;
        }
        while (B.wal && !walRoom(B.wal, 64 * 1024)) { /* the worker waits too (wkMain) */
            walPoll(B.wal);
            sched_yield();
        }
        if (arch) /* the archive's writer: another thread in xchgd, untimed here */
            while (jnWriterPoll(arch) > 0)
                ;
        if (cold) /* what else ran on the core since the last burst */
            for (size_t i = 0; i < coldBytes; i += 64)
                cold[i] = (uint8_t)(cold[i] + 1);
        now = monoNs();
        if (now - lastTimer > 1000000) {
            if (!B.wal || walTimer(B.wal, now) == WAL_APPLY)
                gwOnTimer(gw, now);
            gwFlush(gw);
            if (fs)
                fsTick(fs, now);
            lastTimer = now;
        }
        /* the worker: what it does between rte_eth_rx_burst and rte_eth_tx_burst */
        if (insnFd >= 0 && next >= warm)
            ioctl(insnFd, PERF_EVENT_IOC_ENABLE, 0);
        const uint64_t t0 = __rdtsc();
        for (unsigned i = 0; i < n; i++) {
            netFrame nf;
            if (netClassify(frames[i], lens[i], BG_SERVER_IP, &nf) == NET_UDP)
                bgDatagram(gw, &nf, frames[i], now);
        }
        gwFlush(gw);
        if (fs)
            fsFlush(fs);
        if (B.wal)
            walPoll(B.wal); /* publishes the burst's records */
        const uint64_t t1 = __rdtsc();
        if (insnFd >= 0 && next >= warm)
            ioctl(insnFd, PERF_EVENT_IOC_DISABLE, 0);
        if (next >= warm) {
            const uint64_t ns = (uint64_t)((double)(t1 - t0) * 1e9 / hz);
            histRecord(&hist, ns, n);
            if (nBursts < maxBursts) {
                burstNs[nBursts] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
                burstN[nBursts++] = n;
            }
            busyTicks += t1 - t0;
        }
        next += n;
        bgAnswers();
    }

    gwStats gs;
    gwGetStats(gw, &gs);
    uint64_t insns = 0;
    if (insnFd < 0 || read(insnFd, &insns, sizeof insns) != (ssize_t)sizeof insns)
        insns = 0;
    fdStats fst = {0};
    uint64_t archLost = 0;
    if (fs) {
        fdGetStats(fsFeed(fs), &fst);
        fsStats sst;
        fsGetStats(fs, &sst);
        archLost = sst.archiveLost;
    }
    const double busyNs = (double)busyTicks * 1e9 / hz;
    double p50Exact = 0, trimmed = 0;
    bgRobust(burstNs, burstN, nBursts, B.batch, &p50Exact, &trimmed);
    if (print)
        printf("{\"bench\":\"gateway\",\"datagrams\":%" PRIu64 ",\"orders_per_datagram\":%u,"
               "\"datagrams_per_burst\":%u,\"sessions\":%u,\"requests\":%" PRIu64
               ",\"ns_per_datagram_mean\":%.1f,\"ns_per_request_mean\":%.1f,"
               "\"in_box_ns\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
               ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "},"
               "\"new_orders\":%" PRIu64 ",\"cancels\":%" PRIu64 ",\"accepted\":%" PRIu64
               ",\"rejected\":%" PRIu64 ",\"executed\":%" PRIu64 ",\"cancelled\":%" PRIu64
               ",\"cancel_rejected\":%" PRIu64 ",\"throttled\":%" PRIu64 ",\"frames_out\":%" PRIu64
               ",\"orders_resting\":%" PRIu64 ",\"cold_kb\":%u,\"tsc_hz\":%.0f,\"pin\":%d,"
               "\"match_timing\":%d,\"feed\":%u,\"feed_messages\":%" PRIu64
               ",\"feed_packets\":%" PRIu64 ",\"feed_bytes\":%" PRIu64
               ",\"busy_ns\":%.0f,\"instructions_per_request\":%.1f,"
               "\"burst_ns_p50_exact\":%.1f,\"ns_per_request_trim99\":%.1f,\"archive\":%u,"
               "\"archive_lost\":%" PRIu64 "}\n",
               B.datagrams, B.batch, B.burst, B.sessions, B.datagrams * B.batch,
               busyNs / (double)B.datagrams, busyNs / (double)(B.datagrams * B.batch), hist.total,
               histQuantile(&hist, 1, 2), histQuantile(&hist, 9, 10), histQuantile(&hist, 99, 100),
               histQuantile(&hist, 999, 1000), hist.max, B.newOrders, B.cancels, B.accepted,
               B.rejected, B.executed, B.cancelled, B.cancelRejected, gs.throttled, B.framesOut,
               gs.orderRefs, B.coldKb, hz, B.pin, !B.noMatchTiming, B.feed, fst.messages,
               fst.packets, fst.bytes, busyNs, (double)insns / (double)(B.datagrams * B.batch),
               p50Exact, trimmed, B.archive, archLost);
    if (B.journalOn) {
        bgJournalClose(&jr);
        if (print)
            printf("{\"bench\":\"gateway_journal\",\"dir\":\"%s\",\"records\":%" PRIu64
                   ",\"state_hash\":\"%016" PRIx64 "\"}\n",
                   B.journal, jr.records, walStateHash(gw, cfg->segments[0].instrumentCount));
    }
    r->trim99 = trimmed;
    r->p50Exact = p50Exact;
    r->p50 = histQuantile(&hist, 1, 2);
    r->p99 = histQuantile(&hist, 99, 100);
    r->p999 = histQuantile(&hist, 999, 1000);
    gwDestroy(gw);
    fsDestroy(fs);
    crDestroy(risk);
    if (arch) {
        jnFlush(arch);
        jnClose(arch);
        char cmd[sizeof archDir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", archDir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_gateway: could not remove %s\n", archDir);
    }
    for (unsigned i = 0; i < B.sessions; i++)
        free(B.sess[i].rest);
    free(cold);
    free(burstNs);
    free(burstN);
    return gs.throttled == 0 && B.accepted > 0 ? 0 : 1;
}

static int bgCmpDouble(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double bgMedian(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, bgCmpDouble);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A configuration of --features: which features are on. */
typedef struct {
    const char *name;
    int feed, risk, md, timing, every1, plainHd, journal;
} bgConfig;

/* --features: every configuration R times, interleaved (so a neighbour's
 * load hits them alike), then medians and each feature's cost. */
static int bgFeatures(const cfgConfig *cfg, double hz)
{
    static const bgConfig cf[] = {{"all", 1, 1, 1, 1, 0, 0, 0},
                                  {"no_feed", 0, 1, 1, 1, 0, 0, 0},
                                  {"no_risk", 1, 0, 1, 1, 0, 0, 0},
                                  {"no_md", 1, 1, 0, 1, 0, 0, 0},
                                  {"no_match_timing", 1, 1, 1, 0, 0, 0, 0},
                                  {"match_every", 1, 1, 1, 1, 1, 0, 0},
                                  {"plain_headers", 1, 1, 1, 1, 0, 1, 0},
                                  {"bare", 0, 0, 0, 0, 0, 0, 0},
                                  {"all_journal", 1, 1, 1, 1, 0, 0, 1}}; /* only with --journal */
    enum { NALL = sizeof cf / sizeof cf[0] };
    const unsigned NCF = B.journal ? NALL : NALL - 1;
    static double v[NALL][5][99];
    for (unsigned round = 0; round < B.rounds; round++)
        for (unsigned k = 0; k < NCF; k++) {
            B.feed = (unsigned)cf[k].feed;
            B.risk = cf[k].risk;
            B.md = cf[k].md;
            B.noMatchTiming = !cf[k].timing;
            B.matchEvery = cf[k].every1 ? 1 : GW_MATCH_SAMPLE_EVERY;
            B.plainHd = cf[k].plainHd;
            B.journalOn = cf[k].journal;
            bgResult r;
            if (bgRun(cfg, hz, 0, &r) != 0) {
                fprintf(stderr, "bench_gateway: configuration %s failed\n", cf[k].name);
                return 1;
            }
            v[k][0][round] = r.trim99;
            v[k][1][round] = r.p50Exact;
            v[k][2][round] = (double)r.p50;
            v[k][3][round] = (double)r.p99;
            v[k][4][round] = (double)r.p999;
        }
    double med[NALL][5];
    for (unsigned k = 0; k < NCF; k++)
        for (unsigned q = 0; q < 5; q++)
            med[k][q] = bgMedian(v[k][q], B.rounds);
    printf("{\"bench\":\"gateway_features\",\"rounds\":%u,\"datagrams\":%" PRIu64
           ",\"orders_per_datagram\":%u,\"datagrams_per_burst\":%u,\"sessions\":%u,"
           "\"cold_kb\":%u,\"pin\":%d,\"configs\":{",
           B.rounds, B.datagrams, B.batch, B.burst, B.sessions, B.coldKb, B.pin);
    for (unsigned k = 0; k < NCF; k++)
        printf("%s\"%s\":{\"ns_per_request_trim99\":%.1f,\"burst_ns_p50_exact\":%.1f,"
               "\"in_box_p50\":%.0f,\"in_box_p99\":%.0f,\"in_box_p999\":%.0f}",
               k ? "," : "", cf[k].name, med[k][0], med[k][1], med[k][2], med[k][3], med[k][4]);
    /* all minus a feature (index) and the old ways compared with all */
    const double all = med[0][0];
    printf("},\"cost_ns_per_request\":{\"feed\":%.1f,\"risk\":%.1f,\"md\":%.1f,"
           "\"match_timing_1_in_16\":%.1f,\"match_timing_every_call_extra\":%.1f,"
           "\"plain_headers_extra\":%.1f,\"all_features\":%.1f",
           all - med[1][0], all - med[2][0], all - med[3][0], all - med[4][0], med[5][0] - all,
           med[6][0] - all, all - med[7][0]);
    if (B.journal)
        printf(",\"journal\":%.1f", med[NALL - 1][0] - all);
    printf("}}\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (bgArgs(argc, argv) != 0)
        return 2;
    if (B.pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(B.pin, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            fprintf(stderr, "bench_gateway: pin %d: %s\n", B.pin, strerror(errno));
    }
    static cfgConfig cfg;
    char err[512];
    if (cfgLoad(B.config, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_gateway: %s\n", err);
        return 1;
    }
    cfg.risk.throttle = 10000000; /* the config's maximum: never refuses here */
    const double hz = tscHz();
    bgResult res;
    const int rc = B.features ? bgFeatures(&cfg, hz) : bgRun(&cfg, hz, 1, &res);
    cfgFree(&cfg);
    return rc;
}
