/* filter.bpf.c -- the XDP ingress allowlist filter in front of xchgd's port.
 *
 * Order-entry traffic (IPv4 UDP to one of the order-entry ports in
 * xchg_ports) goes through only from an allowed (source address, port) in
 * xchg_allow; everything else that is not order entry (ARP, ICMP, SSH, the
 * feed's retransmission port...) is left to the kernel untouched. Allowed
 * frames are redirected to the AF_XDP socket of their rx queue when one is
 * registered in xsks_map (the net_af_xdp PMD loads this object through its
 * xdp_prog= devarg and fills the map), and passed up the stack otherwise
 * (front filter for net_af_packet). Every verdict is counted by reason in
 * xchg_stats (per CPU, no atomics). Built with clang -O2 -g -target bpf. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "filter_abi.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, XDPF_MAX_ALLOW);
    __type(key, struct xdpf_key);
    __type(value, struct xdpf_value);
} xchg_allow SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, XDPF_MAX_PORTS);
    __type(key, __u16);   /* UDP port, network order */
    __type(value, __u32); /* segment index */
} xchg_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xdpf_config);
} xchg_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XDPF_REASON_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} xchg_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, XDPF_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

static __always_inline int verdict(__u32 reason, int action)
{
    __u64 *n = bpf_map_lookup_elem(&xchg_stats, &reason);
    if (n)
        *n += 1;
    return action;
}

/* The appliance's address (network order), 0 until the loader sets it. */
static __always_inline __u32 selfAddr(void)
{
    __u32 key = 0;
    const struct xdpf_config *cfg = bpf_map_lookup_elem(&xchg_config, &key);
    return cfg ? cfg->self_addr : 0;
}

/* 0/8, 127/8, multicast and class E (broadcast included): no client sends
 * from these; nor from the appliance's own address. */
static __always_inline int bogusSource(__u32 saddr)
{
    __u32 h = bpf_ntohl(saddr);
    __u32 self = selfAddr();
    if ((h >> 24) == 0 || (h >> 24) == 127 || (h >> 28) >= 0xe)
        return 1;
    return self && self == saddr;
}

/* Frames for the appliance go to its AF_XDP socket if there is one on this
 * queue, else to the kernel (where af_packet sees them). */
static __always_inline int toAppliance(struct xdp_md *ctx, __u32 reason)
{
    __u32 q = ctx->rx_queue_index;
    verdict(reason, XDP_PASS);
    if (bpf_map_lookup_elem(&xsks_map, &q))
        return bpf_redirect_map(&xsks_map, q, XDP_PASS);
    return XDP_PASS;
}

/* Not order entry: what is addressed to the appliance (ARP for its address,
 * ICMP, feed retransmission requests) goes where the appliance reads, as
 * without the filter; everything else (the host's own traffic on a shared
 * port) to the kernel. */
static __always_inline int notOrderEntry(struct xdp_md *ctx, __u32 daddr)
{
    __u32 self = selfAddr();
    if (self && daddr == self)
        return toAppliance(ctx, XDPF_OTHER);
    return verdict(XDPF_OTHER, XDP_PASS);
}

/* The target protocol address of an IPv4-over-Ethernet ARP packet, 0 when
 * it is not one. */
static __always_inline __u32 arpTarget(const void *arp, const void *end)
{
    const __u8 *p = arp;
    if ((const void *)(p + 28) > end || p[4] != 6 || p[5] != 4)
        return 0;
    return (__u32)p[24] | (__u32)p[25] << 8 | (__u32)p[26] << 16 | (__u32)p[27] << 24;
}

/* A UDP fragment for the appliance (or for anyone when its address is not
 * known) cannot be checked by port: order entry never fragments. */
static __always_inline int isOurs(__u32 daddr)
{
    __u32 self = selfAddr();
    return !self || self == daddr;
}

/* SEC("xdp") spelled out: cppcheck does not know libbpf's macro */
__attribute__((section("xdp"), used)) int xchg_xdp_filter(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return verdict(XDPF_OTHER, XDP_PASS); /* runt: the stack drops it */
    if (eth->h_proto == bpf_htons(ETH_P_ARP))
        return notOrderEntry(ctx, arpTarget(eth + 1, end));
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return verdict(XDPF_OTHER, XDP_PASS);
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
        return verdict(XDPF_MALFORMED, XDP_DROP);
    if (ip->protocol != IPPROTO_UDP)
        return notOrderEntry(ctx, ip->daddr);
    if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
        return isOurs(ip->daddr) ? verdict(XDPF_FRAGMENT, XDP_DROP) : verdict(XDPF_OTHER, XDP_PASS);
    struct udphdr *udp = (struct udphdr *)((__u8 *)ip + ip->ihl * 4);
    if ((void *)(udp + 1) > end)
        return verdict(XDPF_MALFORMED, XDP_DROP);
    __u16 dport = udp->dest;
    if (!bpf_map_lookup_elem(&xchg_ports, &dport))
        return notOrderEntry(ctx, ip->daddr);
    if (bogusSource(ip->saddr))
        return verdict(XDPF_SPOOFED, XDP_DROP);
    struct xdpf_key k = {.addr = ip->saddr, .port = dport, .pad = 0};
    struct xdpf_value *v = bpf_map_lookup_elem(&xchg_allow, &k);
    if (!v) {
        k.addr = 0; /* the port's "any source" entry */
        v = bpf_map_lookup_elem(&xchg_allow, &k);
    }
    if (!v)
        return verdict(XDPF_NOT_ALLOWED, XDP_DROP);
    __sync_fetch_and_add(&v->packets, 1);
    return toAppliance(ctx, XDPF_ALLOWED);
}

char LICENSE[] SEC("license") = "GPL";
