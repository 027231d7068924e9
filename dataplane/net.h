/* net.h -- the appliance's minimal L2/L3: classify frames, answer ARP and ICMP, build UDP.
 *
 * Pure functions over frame bytes (no DPDK), so they are unit-tested with
 * plain buffers and fuzzed. xchg owns one IPv4 address per port; it answers
 * ARP requests and ICMP echo for it, takes IPv4/UDP datagrams addressed to
 * it after checking every header and checksum, and drops the rest with a
 * counted reason. No IP options, fragments or VLAN tags on order entry. */
#ifndef XCHG_DATAPLANE_NET_H
#define XCHG_DATAPLANE_NET_H

#include <stdint.h>

#define NET_ETH_HDR  14
#define NET_IP_HDR   20
#define NET_UDP_HDR  8
#define NET_UDP_HLEN (NET_ETH_HDR + NET_IP_HDR + NET_UDP_HDR) /* 42 */
#define NET_ARP_LEN  (NET_ETH_HDR + 28)
#define NET_MAC_LEN  6

/* What a frame is; the values are metric labels' indexes. */
typedef enum {
    NET_UDP = 0,        /* UDP datagram for us: payload fields of netFrame are set */
    NET_ARP_REQUEST,    /* ARP request for our address: answer with netArpReply */
    NET_ICMP_ECHO,      /* ICMP echo request for us: answer with netIcmpReply */
    NET_DROP_SHORT,     /* shorter than its headers */
    NET_DROP_ETHERTYPE, /* not IPv4 or ARP (IPv6, VLAN, LLDP...) */
    NET_DROP_ARP_OTHER, /* ARP not a request for our address (still learned) */
    NET_DROP_IP_HEADER, /* bad version, header length or total length */
    NET_DROP_IP_CSUM,   /* IPv4 header checksum wrong */
    NET_DROP_IP_FRAG,   /* a fragment */
    NET_DROP_NOT_US,    /* IPv4 destination is not our address */
    NET_DROP_PROTO,     /* IP protocol other than UDP and ICMP echo */
    NET_DROP_UDP_LEN,   /* UDP length inconsistent with the IP length */
    NET_DROP_UDP_CSUM,  /* UDP checksum wrong */
    NET_DROP_ICMP,      /* ICMP that is not a valid echo request */
    NET_KIND_COUNT
} netKind;

typedef struct {
    uint8_t srcMac[NET_MAC_LEN];
    uint32_t srcIp; /* host byte order, set for IPv4 and ARP */
    uint16_t srcPort, dstPort;
    uint16_t payloadOff, payloadLen; /* UDP payload inside the frame */
} netFrame;

/* Classifies a received frame for address myIp (host order). Never reads
 * past len. Fills *out as far as the frame was understood. */
netKind netClassify(const uint8_t *frame, uint16_t len, uint32_t myIp, netFrame *out);

/* Turns an ARP request (classified NET_ARP_REQUEST) into the reply from
 * myMac/myIp, in place. Returns the reply's length. */
uint16_t netArpReply(uint8_t *frame, const uint8_t myMac[NET_MAC_LEN]);

/* Turns an ICMP echo request (classified NET_ICMP_ECHO) into the echo reply,
 * in place. Returns the reply's length (the request's IP length + 14). */
uint16_t netIcmpReply(uint8_t *frame);

/* Writes Ethernet, IPv4 and UDP headers in front of a payload already at
 * frame + NET_UDP_HLEN, with both checksums. Returns the frame length. */
uint16_t netUdpHeaders(uint8_t *frame, const uint8_t srcMac[NET_MAC_LEN],
                       const uint8_t dstMac[NET_MAC_LEN], uint32_t srcIp, uint32_t dstIp,
                       uint16_t srcPort, uint16_t dstPort, uint16_t payloadLen);

/* One UDP flow's headers, prepared once (docs/protocol/feed.md §9): the
 * market feed sends every packet to the same group and port, so only the
 * lengths and the checksums change from packet to packet. */
typedef struct {
    uint8_t hdr[NET_UDP_HLEN]; /* Ethernet, IPv4, UDP; lengths and checksums 0 */
    uint32_t ipSum;            /* ones' complement sum of the IPv4 header, unfolded */
    uint32_t udpSum;           /* same, of the pseudo-header and UDP header */
} netUdpFlow;

/* Prepares the headers of the flow srcIp:srcPort -> dstIp:dstPort (host
 * order) between the two MACs. Cannot fail. */
void netUdpFlowInit(netUdpFlow *fl, const uint8_t srcMac[NET_MAC_LEN],
                    const uint8_t dstMac[NET_MAC_LEN], uint32_t srcIp, uint32_t dstIp,
                    uint16_t srcPort, uint16_t dstPort);

/* Writes a frame of the flow: the headers, then `payloadLen` bytes copied
 * from payload, summed for the UDP checksum as they are copied (one pass).
 * The frame is byte for byte what netUdpHeaders would make. frame must hold
 * NET_UDP_HLEN + payloadLen bytes and not overlap payload. Returns the
 * frame length. */
uint16_t netUdpFlowFrame(uint8_t *frame, const netUdpFlow *fl, const uint8_t *payload,
                         uint16_t payloadLen);

/* Prepared headers for the answers of one source (MAC, IPv4) to its peers
 * (docs/perf/dataplane.md, 2026-11-22 second section): a direct-mapped
 * table of flows by (peer IP, both ports, peer MAC). An answer to a known
 * peer copies its payload and sums it in one pass (netUdpFlowFrame)
 * instead of writing every header field and summing the payload again
 * (netUdpHeaders); a peer whose MAC changed, or a slot another peer took,
 * is prepared again. The frames are byte for byte netUdpHeaders'. */
#define NET_FLOW_SLOTS 128 /* power of two; xchgd has at most 64 sessions a segment */

typedef struct {
    uint32_t dstIp; /* 0: empty */
    uint16_t srcPort, dstPort;
    uint8_t dstMac[NET_MAC_LEN];
    netUdpFlow flow;
} netFlowSlot;

typedef struct {
    uint8_t srcMac[NET_MAC_LEN];
    uint32_t srcIp;
    uint64_t prepared; /* slots (re)prepared: misses */
    netFlowSlot slot[NET_FLOW_SLOTS];
} netFlowCache;

/* Empties the cache of source srcMac/srcIp (host order). Cannot fail. */
void netFlowCacheInit(netFlowCache *c, const uint8_t srcMac[NET_MAC_LEN], uint32_t srcIp);

/* Writes the frame srcIp:srcPort -> dstIp:dstPort to dstMac carrying
 * payloadLen bytes of payload (copied), with both checksums; what
 * netUdpHeaders would write with the payload in place. frame must hold
 * NET_UDP_HLEN + payloadLen bytes and not overlap payload. Cannot fail.
 * Returns the frame length. */
uint16_t netFlowCacheFrame(netFlowCache *c, uint8_t *frame, const uint8_t dstMac[NET_MAC_LEN],
                           uint32_t dstIp, uint16_t srcPort, uint16_t dstPort,
                           const uint8_t *payload, uint16_t payloadLen);

/* Name of a netKind for logs and metrics ("udp", "drop_ip_csum", ...). */
const char *netKindName(netKind k);

#endif
