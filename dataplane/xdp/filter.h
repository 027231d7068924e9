/* filter.h -- the XDP allowlist filter's loader and map access (libbpf).
 *
 * Runs on the control lcore only (load, attach, map updates are system
 * calls). Addresses and ports in this API are in host byte order. */
#ifndef XCHG_XDP_FILTER_H
#define XCHG_XDP_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/xdp/filter_abi.h"

typedef enum {
    XDP_ATTACH_AUTO = 0, /* native (driver) mode, else generic (skb) */
    XDP_ATTACH_NATIVE = 1,
    XDP_ATTACH_GENERIC = 2
} xdpAttachMode;

typedef struct xdpFilter xdpFilter;

/* One allowlist entry as read back from the kernel. */
typedef struct {
    uint32_t ip; /* 0 = any source */
    uint16_t port;
    uint64_t packets; /* frames let through by this entry */
} xdpEntry;

/* Loads the BPF object at objPath and attaches its program to interface
 * ifname (front-filter mode). Refuses an interface that already has an XDP
 * program (it is someone else's). ifname NULL loads without attaching (for
 * xdpRun). Returns NULL with a message in err on any failure; the caller
 * frees the result with xdpClose. */
xdpFilter *xdpLoad(const char *objPath, const char *ifname, xdpAttachMode mode, char *err,
                   size_t errlen);

/* Removes an xchg filter program attached to ifname that no process holds
 * any more (an xchgd killed with SIGKILL leaves its attachment behind; a
 * live xchgd or af_xdp PMD keeps a descriptor of it). Returns its program id
 * when one was removed, 0 when there was nothing to remove (no program,
 * someone else's, or one still held: left alone), -1 when the detach
 * itself failed. Runs at start, never on a worker. */
int xdpClearLeftover(const char *ifname);

/* Takes hold of our program already attached to ifname by someone else
 * (the net_af_xdp PMD, through its xdp_prog= devarg): finds its maps by
 * name. xdpClose then leaves the attachment to its owner. NULL with a
 * message in err when the interface has no program or not ours. */
xdpFilter *xdpAdopt(const char *ifname, char *err, size_t errlen);

/* Detaches the program if xdpLoad attached it (and it is still the one on
 * the interface), closes every descriptor, frees f. NULL is accepted. */
void xdpClose(xdpFilter *f);

/* The port's own address (0 = unknown), for the spoofed-source check.
 * 0 or -errno. */
int xdpSetSelf(xdpFilter *f, uint32_t ip);

/* Marks port as an order-entry port of segment seg. 0 or -errno. */
int xdpAddPort(xdpFilter *f, uint16_t port, uint32_t seg);

/* Adds (ip, port) to the allowlist; an existing entry keeps its packet
 * count. ip 0 allows every source on that port. 0 or -errno (-E2BIG when
 * the map is full). */
int xdpAllowAdd(xdpFilter *f, uint32_t ip, uint16_t port);

/* Removes (ip, port). 0, -ENOENT when absent, or -errno. */
int xdpAllowDel(xdpFilter *f, uint32_t ip, uint16_t port);

/* Reads up to max entries into out; returns how many, or -errno. */
int xdpAllowList(xdpFilter *f, xdpEntry *out, int max);

/* Per-reason packet counts summed over CPUs, indexed by enum xdpf_reason.
 * 0 or -errno (out is then zeroed). */
int xdpReadCounters(xdpFilter *f, uint64_t out[XDPF_REASON_COUNT]);

/* Runs the program once on a frame in the kernel (BPF_PROG_TEST_RUN), for
 * tests and diagnostics: returns its XDP action (XDP_DROP, XDP_PASS, ...)
 * or -errno. Counters and maps change as for a real frame. */
int xdpRun(xdpFilter *f, const void *frame, size_t len);

/* "allowed", "not_allowed", ...; "unknown" outside the range. */
const char *xdpReasonName(int reason);

/* How the program is attached: "native", "generic", "af_xdp" (adopted) or
 * "loaded" (not attached). */
const char *xdpHow(const xdpFilter *f);

/* Kernel id of the attached program. */
uint32_t xdpProgId(const xdpFilter *f);

#endif
