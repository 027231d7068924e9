/* net.c -- ARP, ICMP echo and IPv4/UDP checks and headers for the appliance's own address. */
#include <string.h>

#include "dataplane/net.h"

#define ETH_P_IPV4    0x0800
#define ETH_P_ARP     0x0806
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_  17
#define ICMP_ECHO_REQ 8
#define ICMP_ECHO_REP 0
#define ARP_REQUEST   1
#define ARP_REPLY     2
#define IP_TTL        64

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Ones' complement sum of big-endian 16-bit words, not yet folded. */
static uint32_t csumAdd(uint32_t sum, const uint8_t *p, uint32_t len)
{
    /* 8 bytes at a time in host order, folded and byte-swapped into the
     * big-endian sum (RFC 1071 §2: the one's complement sum does not depend
     * on byte order up to a swap): 4x fewer steps on full-size datagrams. */
    uint64_t acc = 0;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        acc += (v >> 32) + (v & 0xFFFFFFFFu);
    }
    while (acc >> 16)
        acc = (acc & 0xFFFF) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    sum += __builtin_bswap16((uint16_t)acc);
#else
    sum += (uint32_t)acc;
#endif
    while (len > 1) {
        sum += rd16(p);
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csumFold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The UDP checksum over the pseudo-header, header and payload. */
static uint16_t udpChecksum(const uint8_t *ip, const uint8_t *udp, uint16_t udpLen)
{
    uint32_t sum = csumAdd(0, ip + 12, 8); /* source and destination addresses */
    sum += IPPROTO_UDP_ + udpLen;
    sum = csumAdd(sum, udp, udpLen);
    uint16_t c = csumFold(sum);
    return c ? c : 0xFFFF; /* 0 means "no checksum" on the wire */
}

static netKind classifyArp(const uint8_t *f, uint16_t len, uint32_t myIp, netFrame *out)
{
    const uint8_t *a = f + NET_ETH_HDR;
    if (len < NET_ARP_LEN)
        return NET_DROP_SHORT;
    if (rd16(a) != 1 || rd16(a + 2) != ETH_P_IPV4 || a[4] != 6 || a[5] != 4)
        return NET_DROP_ARP_OTHER;
    memcpy(out->srcMac, a + 8, NET_MAC_LEN);
    out->srcIp = rd32(a + 14);
    if (rd16(a + 6) == ARP_REQUEST && rd32(a + 24) == myIp)
        return NET_ARP_REQUEST;
    return NET_DROP_ARP_OTHER;
}

static netKind classifyIcmp(const uint8_t *ip, uint16_t ipLen, uint16_t ihl)
{
    const uint8_t *icmp = ip + ihl;
    uint16_t icmpLen = (uint16_t)(ipLen - ihl);
    if (icmpLen < 8 || icmp[0] != ICMP_ECHO_REQ || icmp[1] != 0)
        return NET_DROP_ICMP;
    if (csumFold(csumAdd(0, icmp, icmpLen)) != 0)
        return NET_DROP_ICMP;
    return NET_ICMP_ECHO;
}

static netKind classifyUdp(const uint8_t *f, const uint8_t *ip, uint16_t ipLen, uint16_t ihl,
                           netFrame *out)
{
    const uint8_t *udp = ip + ihl;
    if (ipLen < ihl + NET_UDP_HDR)
        return NET_DROP_UDP_LEN;
    uint16_t udpLen = rd16(udp + 4);
    if (udpLen < NET_UDP_HDR || udpLen != ipLen - ihl)
        return NET_DROP_UDP_LEN;
    /* a checksum of 0 means the sender computed none (IPv4 allows it) */
    if (rd16(udp + 6) != 0 &&
        csumFold(csumAdd(csumAdd(IPPROTO_UDP_ + udpLen, ip + 12, 8), udp, udpLen)) != 0)
        return NET_DROP_UDP_CSUM;
    out->srcPort = rd16(udp);
    out->dstPort = rd16(udp + 2);
    out->payloadOff = (uint16_t)(udp + NET_UDP_HDR - f);
    out->payloadLen = (uint16_t)(udpLen - NET_UDP_HDR);
    return NET_UDP;
}

static netKind classifyIpv4(const uint8_t *f, uint16_t len, uint32_t myIp, netFrame *out)
{
    const uint8_t *ip = f + NET_ETH_HDR;
    if (len < NET_ETH_HDR + NET_IP_HDR)
        return NET_DROP_SHORT;
    uint16_t ihl = (uint16_t)((ip[0] & 0x0F) * 4);
    uint16_t ipLen = rd16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < NET_IP_HDR || ipLen < ihl || ipLen > len - NET_ETH_HDR)
        return NET_DROP_IP_HEADER;
    if (csumFold(csumAdd(0, ip, ihl)) != 0)
        return NET_DROP_IP_CSUM;
    memcpy(out->srcMac, f + 6, NET_MAC_LEN);
    out->srcIp = rd32(ip + 12);
    if (rd16(ip + 6) & 0x3FFF) /* more-fragments flag or a fragment offset */
        return NET_DROP_IP_FRAG;
    if (rd32(ip + 16) != myIp)
        return NET_DROP_NOT_US;
    if (ip[9] == IPPROTO_UDP_)
        return classifyUdp(f, ip, ipLen, ihl, out);
    if (ip[9] == IPPROTO_ICMP_)
        return classifyIcmp(ip, ipLen, ihl);
    return NET_DROP_PROTO;
}

netKind netClassify(const uint8_t *frame, uint16_t len, uint32_t myIp, netFrame *out)
{
    memset(out, 0, sizeof *out);
    if (len < NET_ETH_HDR)
        return NET_DROP_SHORT;
    uint16_t type = rd16(frame + 12);
    if (type == ETH_P_IPV4)
        return classifyIpv4(frame, len, myIp, out);
    if (type == ETH_P_ARP)
        return classifyArp(frame, len, myIp, out);
    return NET_DROP_ETHERTYPE;
}

uint16_t netArpReply(uint8_t *f, const uint8_t myMac[NET_MAC_LEN])
{
    uint8_t *a = f + NET_ETH_HDR;
    uint8_t peerMac[NET_MAC_LEN], peerIp[4], myIp[4];
    memcpy(peerMac, a + 8, NET_MAC_LEN);
    memcpy(peerIp, a + 14, 4);
    memcpy(myIp, a + 24, 4);
    memcpy(f, peerMac, NET_MAC_LEN);
    memcpy(f + 6, myMac, NET_MAC_LEN);
    wr16(a + 6, ARP_REPLY);
    memcpy(a + 8, myMac, NET_MAC_LEN);
    memcpy(a + 14, myIp, 4);
    memcpy(a + 18, peerMac, NET_MAC_LEN);
    memcpy(a + 24, peerIp, 4);
    return NET_ARP_LEN;
}

uint16_t netIcmpReply(uint8_t *f)
{
    uint8_t mac[NET_MAC_LEN], addr[4];
    memcpy(mac, f, NET_MAC_LEN);
    memcpy(f, f + 6, NET_MAC_LEN);
    memcpy(f + 6, mac, NET_MAC_LEN);
    uint8_t *ip = f + NET_ETH_HDR;
    uint16_t ihl = (uint16_t)((ip[0] & 0x0F) * 4), ipLen = rd16(ip + 2);
    memcpy(addr, ip + 12, 4);
    memcpy(ip + 12, ip + 16, 4);
    memcpy(ip + 16, addr, 4);
    ip[8] = IP_TTL;
    wr16(ip + 10, 0);
    wr16(ip + 10, csumFold(csumAdd(0, ip, ihl)));
    uint8_t *icmp = ip + ihl;
    icmp[0] = ICMP_ECHO_REP;
    wr16(icmp + 2, 0);
    wr16(icmp + 2, csumFold(csumAdd(0, icmp, (uint32_t)(ipLen - ihl))));
    return (uint16_t)(NET_ETH_HDR + ipLen);
}

uint16_t netUdpHeaders(uint8_t *f, const uint8_t srcMac[NET_MAC_LEN],
                       const uint8_t dstMac[NET_MAC_LEN], uint32_t srcIp, uint32_t dstIp,
                       uint16_t srcPort, uint16_t dstPort, uint16_t payloadLen)
{
    memcpy(f, dstMac, NET_MAC_LEN);
    memcpy(f + 6, srcMac, NET_MAC_LEN);
    wr16(f + 12, ETH_P_IPV4);
    uint8_t *ip = f + NET_ETH_HDR;
    uint16_t udpLen = (uint16_t)(NET_UDP_HDR + payloadLen);
    ip[0] = 0x45;
    ip[1] = 0;
    wr16(ip + 2, (uint16_t)(NET_IP_HDR + udpLen));
    wr16(ip + 4, 0);      /* identification: never fragmented */
    wr16(ip + 6, 0x4000); /* don't fragment */
    ip[8] = IP_TTL;
    ip[9] = IPPROTO_UDP_;
    wr16(ip + 10, 0);
    wr32(ip + 12, srcIp);
    wr32(ip + 16, dstIp);
    wr16(ip + 10, csumFold(csumAdd(0, ip, NET_IP_HDR)));
    uint8_t *udp = ip + NET_IP_HDR;
    wr16(udp, srcPort);
    wr16(udp + 2, dstPort);
    wr16(udp + 4, udpLen);
    wr16(udp + 6, 0);
    wr16(udp + 6, udpChecksum(ip, udp, udpLen));
    return (uint16_t)(NET_UDP_HLEN + payloadLen);
}

void netUdpFlowInit(netUdpFlow *fl, const uint8_t srcMac[NET_MAC_LEN],
                    const uint8_t dstMac[NET_MAC_LEN], uint32_t srcIp, uint32_t dstIp,
                    uint16_t srcPort, uint16_t dstPort)
{
    uint8_t *f = fl->hdr;
    netUdpHeaders(f, srcMac, dstMac, srcIp, dstIp, srcPort, dstPort, 0);
    uint8_t *ip = f + NET_ETH_HDR, *udp = ip + NET_IP_HDR;
    wr16(ip + 2, 0);
    wr16(ip + 10, 0);
    wr16(udp + 4, 0);
    wr16(udp + 6, 0);
    fl->ipSum = csumAdd(0, ip, NET_IP_HDR);
    fl->udpSum = csumAdd(csumAdd(0, ip + 12, 8), udp, NET_UDP_HDR) + IPPROTO_UDP_;
}

typedef uint64_t netV4u64 __attribute__((vector_size(32)));

/* Copies len bytes and returns their ones' complement sum as big-endian
 * words, folded to 16 bits, like csumAdd, in the same pass: 32 bytes a step
 * into four 64-bit lanes (each adds its two 32-bit halves: no carry is
 * lost), then 8, 4, 2, 1 bytes, in host order (RFC 1071 §2). */
static uint32_t csumCopy(uint8_t *dst, const uint8_t *src, uint32_t len)
{
    uint64_t acc = 0;
    if (len >= 32) {
        netV4u64 vacc = {0};
        for (; len >= 32; src += 32, dst += 32, len -= 32) {
            netV4u64 v;
            memcpy(&v, src, sizeof v);
            memcpy(dst, &v, sizeof v);
            vacc += (v & 0xFFFFFFFFu) + (v >> 32);
        }
        acc = vacc[0] + vacc[1] + vacc[2] + vacc[3];
    }
    for (; len >= 8; src += 8, dst += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, src, sizeof v);
        memcpy(dst, &v, sizeof v);
        acc += (v >> 32) + (v & 0xFFFFFFFFu);
    }
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, src, sizeof v);
        memcpy(dst, &v, sizeof v);
        acc += v;
        src += 4, dst += 4, len -= 4;
    }
    if (len >= 2) {
        uint16_t v;
        memcpy(&v, src, sizeof v);
        memcpy(dst, &v, sizeof v);
        acc += v;
        src += 2, dst += 2, len -= 2;
    }
    if (len) {
        dst[0] = src[0];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        acc += src[0]; /* the first byte of a little-endian word is its low byte */
#else
        acc += (uint64_t)src[0] << 8;
#endif
    }
    /* fold 64 -> 16 bits without a loop: two 32-bit rounds leave at most
     * 2^32, three 16-bit rounds then at most 0xFFFF */
    acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
    acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
    acc = (acc & 0xFFFF) + (acc >> 16);
    acc = (acc & 0xFFFF) + (acc >> 16);
    acc = (acc & 0xFFFF) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap16((uint16_t)acc);
#else
    return (uint16_t)acc;
#endif
}

uint16_t netUdpFlowFrame(uint8_t *f, const netUdpFlow *fl, const uint8_t *payload,
                         uint16_t payloadLen)
{
    uint16_t udpLen = (uint16_t)(NET_UDP_HDR + payloadLen);
    uint32_t sum = csumCopy(f + NET_UDP_HLEN, payload, payloadLen);
    memcpy(f, fl->hdr, NET_UDP_HLEN);
    uint8_t *ip = f + NET_ETH_HDR, *udp = ip + NET_IP_HDR;
    uint16_t ipLen = (uint16_t)(NET_IP_HDR + udpLen);
    wr16(ip + 2, ipLen);
    wr16(ip + 10, csumFold(fl->ipSum + ipLen));
    wr16(udp + 4, udpLen);
    uint16_t c = csumFold(fl->udpSum + 2u * udpLen + sum);
    wr16(udp + 6, c ? c : 0xFFFF); /* 0 means "no checksum" on the wire */
    return (uint16_t)(NET_UDP_HLEN + payloadLen);
}

void netFlowCacheInit(netFlowCache *c, const uint8_t srcMac[NET_MAC_LEN], uint32_t srcIp)
{
    memset(c, 0, sizeof *c);
    memcpy(c->srcMac, srcMac, NET_MAC_LEN);
    c->srcIp = srcIp;
}

uint16_t netFlowCacheFrame(netFlowCache *c, uint8_t *frame, const uint8_t dstMac[NET_MAC_LEN],
                           uint32_t dstIp, uint16_t srcPort, uint16_t dstPort,
                           const uint8_t *payload, uint16_t payloadLen)
{
    const uint32_t h = (dstIp ^ ((uint32_t)dstPort << 16 | srcPort)) * 2654435761u;
    netFlowSlot *sl = &c->slot[h >> 25 & (NET_FLOW_SLOTS - 1)];
    if (sl->dstIp != dstIp || sl->dstPort != dstPort || sl->srcPort != srcPort ||
        memcmp(sl->dstMac, dstMac, NET_MAC_LEN) != 0 || dstIp == 0) {
        sl->dstIp = dstIp;
        sl->dstPort = dstPort;
        sl->srcPort = srcPort;
        memcpy(sl->dstMac, dstMac, NET_MAC_LEN);
        netUdpFlowInit(&sl->flow, c->srcMac, dstMac, c->srcIp, dstIp, srcPort, dstPort);
        c->prepared++;
    }
    return netUdpFlowFrame(frame, &sl->flow, payload, payloadLen);
}

const char *netKindName(netKind k)
{
    static const char *const names[NET_KIND_COUNT] = {"udp",
                                                      "arp_request",
                                                      "icmp_echo",
                                                      "drop_short",
                                                      "drop_ethertype",
                                                      "drop_arp_other",
                                                      "drop_ip_header",
                                                      "drop_ip_csum",
                                                      "drop_ip_frag",
                                                      "drop_not_us",
                                                      "drop_proto",
                                                      "drop_udp_len",
                                                      "drop_udp_csum",
                                                      "drop_icmp"};
    return (unsigned)k < NET_KIND_COUNT ? names[k] : "unknown";
}
