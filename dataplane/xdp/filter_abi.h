/* filter_abi.h -- what the XDP filter program and its loader share: map
 * names, key and value layouts, counter reasons.
 *
 * Included by the BPF program (dataplane/xdp/filter.bpf.c, built with
 * clang -target bpf) and by the loader (dataplane/xdp/filter.c), so it uses
 * only the kernel's fixed-width types. Addresses and ports are kept in
 * network byte order, as the program reads them from the packet. */
#ifndef XCHG_XDP_FILTER_ABI_H
#define XCHG_XDP_FILTER_ABI_H

#include <linux/types.h>

/* Map and program names the loader looks up (the kernel keeps 15 bytes of
 * a name). The net_af_xdp PMD looks up its XSKMAP as "xsks_map". */
#define XDPF_PROG_NAME  "xchg_xdp_filter"
#define XDPF_MAP_ALLOW  "xchg_allow"
#define XDPF_MAP_PORTS  "xchg_ports"
#define XDPF_MAP_CONFIG "xchg_config"
#define XDPF_MAP_STATS  "xchg_stats"
#define XDPF_MAP_XSKS   "xsks_map"

#define XDPF_MAX_ALLOW  4096 /* allowlist entries */
#define XDPF_MAX_PORTS  64   /* order-entry ports (one per segment) */
#define XDPF_MAX_QUEUES 64   /* AF_XDP sockets, one per rx queue */

/* Allowlist key: client source address and order-entry destination port.
 * addr 0 is the wildcard "any source" entry of a port. */
struct xdpf_key {
    __u32 addr; /* IPv4 source, network order */
    __u16 port; /* UDP destination, network order */
    __u16 pad;  /* always 0 (the whole key is hashed) */
};

/* Allowlist value: packets let through by this entry (atomic add). */
struct xdpf_value {
    __u64 packets;
};

/* Settings the loader writes after the program is loaded (the net_af_xdp
 * PMD loads the object itself, so they cannot be load-time constants). */
struct xdpf_config {
    __u32 self_addr; /* the port's IPv4 address, network order; 0 = unknown */
    __u32 pad;
};

/* Per-reason packet counters (a per-CPU array indexed by these). */
enum xdpf_reason {
    XDPF_ALLOWED = 0,     /* order entry from an allowed source: passed or redirected */
    XDPF_NOT_ALLOWED = 1, /* order entry from a source not on the allowlist: dropped */
    XDPF_SPOOFED = 2,     /* order entry from an impossible source (bogon, ours): dropped */
    XDPF_FRAGMENT = 3,    /* UDP fragment to the appliance: dropped (XOE never fragments) */
    XDPF_MALFORMED = 4,   /* truncated or invalid IPv4/UDP header: dropped */
    XDPF_OTHER = 5,       /* not order entry (ARP, ICMP, feed requests...): passed */
    XDPF_REASON_COUNT = 6
};

#endif
