/* feedarchd.h -- the feed archives' thread: journals every segment's sent packets, answers from
 * them.
 *
 * One thread for the box (not a worker lcore: it makes system calls and
 * allocates) runs every segment's feed archive (dataplane/feedarch.h): it
 * drives the archive journals' writers, indexes what became durable, and
 * answers the retransmission requests a worker forwards because they ask
 * for sequence numbers older than its in-memory history. The answers are
 * whole frames (the worker put the addresses in the request) built in the
 * thread's own mbufs and handed back to the worker over an SPSC ring; the
 * worker only queues them for tx. docs/protocol/feed.md §2.4. */
#ifndef XCHG_DATAPLANE_FEEDARCHD_H
#define XCHG_DATAPLANE_FEEDARCHD_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "dataplane/net.h"
#include "dataplane/worker.h"

/* A request the worker forwards (worker -> archive thread ring element):
 * everything needed to answer without the worker. */
typedef struct {
    uint64_t seq;
    uint32_t dstIp, srcIp; /* requester, our port's address (host order) */
    uint16_t dstPort, srcPort, count;
    uint8_t dstMac[NET_MAC_LEN], srcMac[NET_MAC_LEN];
    uint16_t reserved;
} faRequest;

/* How long a request waits for the packets it asks for to become durable
 * (they left the in-memory history, so they were sent; with a very small
 * history they may still be on their way to the disk). */
#define FA_WAIT_NS  UINT64_C(200000000) /* 200 ms */
#define FA_REQ_RING 256                 /* forwarded requests per segment in flight */
#define FA_TX_RING  1024                /* answer frames per segment waiting for the worker */
#define FA_POOL     2047                /* mbufs per segment for answer frames */

typedef struct faService faService;

/* Opens every segment's archive (<wal_dir>/feed-<segment id>/<session of
 * tradingDay>/), attaches it to the segment's worker (wkAttachArchive) and
 * starts the thread. Before the workers run, after recovery (a replayed
 * feed is not archived again). A segment whose archive cannot be opened
 * (no space, damage, memory) runs without one, said on stdout and in the
 * log: its requests older than the history are refused as gone. Returns
 * NULL with a message in err only when memory or the thread cannot be had. */
faService *faStart(const cfgConfig *cfg, wkWorker **workers, uint32_t n, uint32_t tradingDay,
                   char *err, size_t errlen);

/* Stops the thread once every archived packet is durable, closes the
 * archives, frees the answer frames still queued and the rings and pools.
 * After the workers were destroyed. NULL is a no-op. */
void faStop(faService *s);

#endif
