/* fuzz_net.c -- libFuzzer target for the appliance's L2/L3 (dataplane/net.h).
 *
 * The input is a received frame for the fixed address FZ_MY_IP. It is
 * classified twice from an exact-size heap copy (so ASan flags any read past
 * len): as it is, and with the IPv4 header, UDP and ICMP checksums made
 * right where the lengths allow (so mutations get past the checksums). For
 * whatever netClassify accepts, the harness checks the result against the
 * bytes with a checksum of its own and then:
 *   NET_UDP        payloadOff + payloadLen <= len, the fields are the
 *                  frame's; netUdpHeaders answering with the same payload
 *                  classifies back as NET_UDP at the peer;
 *   NET_ARP_REQUEST  netArpReply on a copy gives a reply with the fields
 *                  swapped, which classifies as NET_DROP_ARP_OTHER;
 *   NET_ICMP_ECHO  netIcmpReply on a copy gives an echo reply with right
 *                  checksums that the peer classifies as NET_DROP_ICMP, and
 *                  as NET_ICMP_ECHO once turned back into a request.
 *
 * make fuzz compiles only this file, so it includes dataplane/net.c.
 * Build and run:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iinclude -I. tests/fuzz/fuzz_net.c -o build/fuzz/fuzz_net
 *   build/fuzz/fuzz_net -max_total_time=60 -max_len=1600 tests/fuzz/corpus_net
 * The seeds are written by `build/tests/test_net --corpus tests/fuzz/corpus_net`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/net.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define FZ_MY_IP 0xC0000201u /* 192.0.2.1 */
static const uint8_t FZ_MY_MAC[NET_MAC_LEN] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x01};

#define FZ_MAX 65536u
static uint8_t fzWork[FZ_MAX + 64];

static uint16_t fzGet16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t fzGet32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fzPut16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* RFC 1071 ones' complement sum, one word at a time with end-around carry;
 * continues from sum. */
static uint16_t fzSum(uint16_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        const unsigned s = sum + ((unsigned)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0u));
        sum = (uint16_t)((s & 0xFFFF) + (s >> 16));
    }
    return sum;
}

static uint16_t fzAdd(uint16_t sum, unsigned word)
{
    const unsigned s = sum + word;
    return (uint16_t)((s & 0xFFFF) + (s >> 16));
}

/* Sum of the UDP pseudo-header for ip (addresses as in the header). */
static uint16_t fzPseudo(const uint8_t *ip, unsigned udpLen)
{
    return fzAdd(fzAdd(fzSum(0, ip + 12, 8), 17), udpLen);
}

/* An exact-size heap copy, classified. */
static netKind fzClassify(const uint8_t *f, size_t len, uint32_t myIp, netFrame *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, f, len);
    memset(out, 0xA5, sizeof *out);
    const netKind k = netClassify(copy, (uint16_t)len, myIp, out);
    free(copy);
    CHECK((unsigned)k < NET_KIND_COUNT);
    CHECK(strcmp(netKindName(k), "unknown") != 0);
    return k;
}

/* The IPv4 header of an accepted datagram: everything netClassify checks. */
static unsigned checkIpv4(const uint8_t *f, size_t len, const netFrame *nf, uint8_t proto)
{
    const uint8_t *ip = f + NET_ETH_HDR;
    CHECK(len >= NET_ETH_HDR + NET_IP_HDR && fzGet16(f + 12) == 0x0800);
    const unsigned ihl = (ip[0] & 0x0Fu) * 4, ipLen = fzGet16(ip + 2);
    CHECK(ip[0] >> 4 == 4 && ihl >= NET_IP_HDR && ipLen >= ihl && NET_ETH_HDR + ipLen <= len);
    CHECK(fzSum(0, ip, ihl) == 0xFFFF);
    CHECK((fzGet16(ip + 6) & 0x3FFF) == 0);
    CHECK(fzGet32(ip + 16) == FZ_MY_IP && ip[9] == proto);
    CHECK(memcmp(nf->srcMac, f + 6, NET_MAC_LEN) == 0 && nf->srcIp == fzGet32(ip + 12));
    return ihl;
}

static void checkUdp(const uint8_t *f, size_t len, const netFrame *nf)
{
    CHECK((size_t)nf->payloadOff + nf->payloadLen <= len);
    const unsigned ihl = checkIpv4(f, len, nf, 17);
    const uint8_t *ip = f + NET_ETH_HDR, *udp = ip + ihl;
    const unsigned ipLen = fzGet16(ip + 2), udpLen = fzGet16(udp + 4);
    CHECK(nf->payloadOff == NET_ETH_HDR + ihl + NET_UDP_HDR);
    CHECK(udpLen == ipLen - ihl && nf->payloadLen == udpLen - NET_UDP_HDR);
    CHECK(nf->srcPort == fzGet16(udp) && nf->dstPort == fzGet16(udp + 2));
    if (fzGet16(udp + 6) != 0)
        CHECK(fzSum(fzPseudo(ip, udpLen), udp, udpLen) == 0xFFFF);

    /* answer with the same payload: the peer takes it */
    uint8_t *r = fzWork;
    memmove(r + NET_UDP_HLEN, f + nf->payloadOff, nf->payloadLen);
    const uint16_t rlen = netUdpHeaders(r, FZ_MY_MAC, nf->srcMac, FZ_MY_IP, nf->srcIp, nf->dstPort,
                                        nf->srcPort, nf->payloadLen);
    CHECK(rlen == NET_UDP_HLEN + nf->payloadLen);
    netFrame back;
    CHECK(fzClassify(r, rlen, nf->srcIp, &back) == NET_UDP);
    CHECK(back.srcPort == nf->dstPort && back.dstPort == nf->srcPort);
    CHECK(back.srcIp == FZ_MY_IP && memcmp(back.srcMac, FZ_MY_MAC, NET_MAC_LEN) == 0);
    CHECK(back.payloadOff == NET_UDP_HLEN && back.payloadLen == nf->payloadLen);
    CHECK(memcmp(r + NET_UDP_HLEN, f + nf->payloadOff, nf->payloadLen) == 0);
    CHECK(fzSum(0, r + NET_ETH_HDR, NET_IP_HDR) == 0xFFFF);
    CHECK(fzGet16(r + 40) != 0 &&
          fzSum(fzPseudo(r + NET_ETH_HDR, rlen - 34u), r + 34, rlen - 34u) == 0xFFFF);
}

static void checkArp(const uint8_t *f, size_t len, const netFrame *nf)
{
    CHECK(len >= NET_ARP_LEN && fzGet16(f + 12) == 0x0806);
    const uint8_t *a = f + NET_ETH_HDR;
    CHECK(fzGet16(a) == 1 && fzGet16(a + 2) == 0x0800 && a[4] == 6 && a[5] == 4);
    CHECK(fzGet16(a + 6) == 1 && fzGet32(a + 24) == FZ_MY_IP);
    CHECK(memcmp(nf->srcMac, a + 8, NET_MAC_LEN) == 0 && nf->srcIp == fzGet32(a + 14));

    uint8_t *r = fzWork;
    memcpy(r, f, len);
    CHECK(netArpReply(r, FZ_MY_MAC) == NET_ARP_LEN);
    const uint8_t *ra = r + NET_ETH_HDR;
    CHECK(memcmp(r, a + 8, NET_MAC_LEN) == 0 && memcmp(r + 6, FZ_MY_MAC, NET_MAC_LEN) == 0);
    CHECK(memcmp(r + 12, f + 12, 2 + 6) == 0 && fzGet16(ra + 6) == 2);
    CHECK(memcmp(ra + 8, FZ_MY_MAC, NET_MAC_LEN) == 0 && fzGet32(ra + 14) == FZ_MY_IP);
    CHECK(memcmp(ra + 18, a + 8, NET_MAC_LEN) == 0 && memcmp(ra + 24, a + 14, 4) == 0);
    CHECK(memcmp(r + NET_ARP_LEN, f + NET_ARP_LEN, len - NET_ARP_LEN) == 0);
    /* a reply is never a request, for us or for the peer */
    netFrame back;
    CHECK(fzClassify(r, NET_ARP_LEN, FZ_MY_IP, &back) == NET_DROP_ARP_OTHER);
    CHECK(fzClassify(r, NET_ARP_LEN, nf->srcIp, &back) == NET_DROP_ARP_OTHER);
    CHECK(back.srcIp == FZ_MY_IP && memcmp(back.srcMac, FZ_MY_MAC, NET_MAC_LEN) == 0);
}

static void checkEcho(const uint8_t *f, size_t len, const netFrame *nf)
{
    const unsigned ihl = checkIpv4(f, len, nf, 1);
    const uint8_t *ip = f + NET_ETH_HDR, *icmp = ip + ihl;
    const unsigned ipLen = fzGet16(ip + 2), icmpLen = ipLen - ihl;
    CHECK(icmpLen >= 8 && icmp[0] == 8 && icmp[1] == 0 && fzSum(0, icmp, icmpLen) == 0xFFFF);

    uint8_t *r = fzWork;
    memcpy(r, f, len);
    const uint16_t rlen = netIcmpReply(r);
    CHECK(rlen == NET_ETH_HDR + ipLen && rlen <= len);
    uint8_t *rip = r + NET_ETH_HDR, *ricmp = rip + ihl;
    CHECK(memcmp(r, f + 6, NET_MAC_LEN) == 0 && memcmp(r + 6, f, NET_MAC_LEN) == 0);
    CHECK(memcmp(rip + 12, ip + 16, 4) == 0 && memcmp(rip + 16, ip + 12, 4) == 0);
    CHECK(memcmp(rip, ip, 8) == 0 && rip[8] == 64 && rip[9] == 1);
    CHECK(memcmp(rip + 20, ip + 20, ihl - 20) == 0);
    CHECK(fzSum(0, rip, ihl) == 0xFFFF);
    CHECK(ricmp[0] == 0 && ricmp[1] == 0 && fzSum(0, ricmp, icmpLen) == 0xFFFF);
    CHECK(memcmp(ricmp + 4, icmp + 4, icmpLen - 4) == 0);
    CHECK(memcmp(r + rlen, f + rlen, len - rlen) == 0);
    /* the peer sees a valid ICMP that is not an echo request */
    netFrame back;
    CHECK(fzClassify(r, rlen, nf->srcIp, &back) == NET_DROP_ICMP);
    CHECK(back.srcIp == FZ_MY_IP && memcmp(back.srcMac, f, NET_MAC_LEN) == 0);
    /* ...and a request once the type is put back */
    ricmp[0] = 8;
    fzPut16(ricmp + 2, 0);
    fzPut16(ricmp + 2, (uint16_t)~fzSum(0, ricmp, icmpLen));
    CHECK(fzClassify(r, rlen, nf->srcIp, &back) == NET_ICMP_ECHO);
}

/* Classifies f and checks the result. */
static void exercise(const uint8_t *f, size_t len)
{
    netFrame nf;
    const netKind k = fzClassify(f, len, FZ_MY_IP, &nf);
    if (len < NET_ETH_HDR)
        CHECK(k == NET_DROP_SHORT);
    if (k != NET_UDP)
        CHECK(nf.payloadOff == 0 && nf.payloadLen == 0 && nf.srcPort == 0 && nf.dstPort == 0);
    switch (k) {
    case NET_UDP:
        checkUdp(f, len, &nf);
        break;
    case NET_ARP_REQUEST:
        checkArp(f, len, &nf);
        break;
    case NET_ICMP_ECHO:
        checkEcho(f, len, &nf);
        break;
    default:
        break;
    }
}

/* Makes the IPv4 header, UDP and ICMP checksums of f right where its
 * lengths allow. */
static void fixChecksums(uint8_t *f, size_t len)
{
    if (len < NET_ETH_HDR + NET_IP_HDR || fzGet16(f + 12) != 0x0800)
        return;
    uint8_t *ip = f + NET_ETH_HDR;
    const unsigned ihl = (ip[0] & 0x0Fu) * 4, ipLen = fzGet16(ip + 2);
    if (ihl < NET_IP_HDR || ihl > len - NET_ETH_HDR)
        return;
    fzPut16(ip + 10, 0);
    fzPut16(ip + 10, (uint16_t)~fzSum(0, ip, ihl));
    if (ipLen < ihl || ipLen > len - NET_ETH_HDR)
        return;
    uint8_t *l4 = ip + ihl;
    const unsigned l4Len = ipLen - ihl;
    if (ip[9] == 17 && l4Len >= NET_UDP_HDR && fzGet16(l4 + 4) == l4Len && fzGet16(l4 + 6)) {
        fzPut16(l4 + 6, 0);
        /* a checksum that computes to 0 goes as 0xFFFF */
        const uint16_t sum = fzSum(fzPseudo(ip, l4Len), l4, l4Len);
        fzPut16(l4 + 6, sum == 0xFFFF ? 0xFFFFu : (uint16_t)~sum);
    } else if (ip[9] == 1 && l4Len >= 4) {
        fzPut16(l4 + 2, 0);
        fzPut16(l4 + 2, (uint16_t)~fzSum(0, l4, l4Len));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0xFFFF)
        return 0;
    exercise(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    if (size)
        memcpy(fixed, data, size);
    fixChecksums(fixed, size);
    exercise(fixed, size);
    free(fixed);
    return 0;
}
