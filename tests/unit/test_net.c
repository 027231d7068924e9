/* test_net.c -- unit tests of the appliance's L2/L3 (dataplane/net.h).
 *
 * Frames are built byte by byte here, and every checksum is computed and
 * verified with a reference implementation of its own (RFC 1071, adding one
 * 16-bit word at a time with the end-around carry, over a contiguous copy of
 * the UDP pseudo-header), itself checked against published vectors.
 *
 * Covers every netKind netClassify returns (valid UDP, ICMP echo and ARP
 * request, and each drop reason, including every prefix of 0..42 bytes of
 * valid frames), Ethernet padding, IP options, what netArpReply and
 * netIcmpReply write, a round trip of netUdpHeaders through netClassify for
 * every payload length 0..1472, and netKindName. Every frame is classified
 * from an exact-size heap copy, so ASan (make asan) flags a read past len.
 *
 * The same program writes the fuzzer's seed frames (run from the repository
 * root):
 *   build/tests/test_net --corpus tests/fuzz/corpus_net */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/net.h"

#define MY_IP   0xC0000201u /* 192.0.2.1 */
#define PEER_IP 0xC6336407u /* 198.51.100.7 */
#define ALT_IP  0xC0000202u /* 192.0.2.2: another host on our subnet */

#define PEER_PORT 40001
#define MY_PORT   9000

#define MAX_FRAME 1514                       /* Ethernet without FCS */
#define MAX_UDP   (MAX_FRAME - NET_UDP_HLEN) /* 1472 */

static const uint8_t MY_MAC[NET_MAC_LEN] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x01};
static const uint8_t PEER_MAC[NET_MAC_LEN] = {0x02, 0x00, 0x5e, 0x30, 0x40, 0x07};
static const uint8_t BCAST[NET_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ------------------------------------------------------------------------ */
/* Byte access and the reference checksum                                   */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* RFC 1071: the 16-bit ones' complement sum of the data as big-endian words
 * (an odd last byte padded with a zero byte), one word at a time with the
 * end-around carry; the checksum is its complement. */
static uint16_t refSum(const uint8_t *p, size_t n)
{
    uint16_t sum = 0;
    for (size_t i = 0; i < n; i += 2) {
        const unsigned word = (unsigned)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0u);
        const unsigned s = sum + word;
        sum = (uint16_t)((s & 0xFFFF) + (s >> 16));
    }
    return sum;
}

static uint16_t refCsum(const uint8_t *p, size_t n)
{
    return (uint16_t)~refSum(p, n);
}

/* A received header or message verifies when the sum over it, checksum
 * included, is all ones. */
static int refVerifies(const uint8_t *p, size_t n)
{
    return refSum(p, n) == 0xFFFF;
}

/* The UDP checksum (RFC 768) over a contiguous pseudo-header + datagram. */
static uint16_t refUdpCsum(uint32_t src, uint32_t dst, const uint8_t *udp, uint16_t udpLen)
{
    static uint8_t buf[12 + 65536];
    put32(buf, src);
    put32(buf + 4, dst);
    buf[8] = 0;
    buf[9] = 17;
    put16(buf + 10, udpLen);
    memcpy(buf + 12, udp, udpLen);
    return refCsum(buf, 12u + udpLen);
}

/* ------------------------------------------------------------------------ */
/* Frame builders                                                            */

#define ETH_IPV4 0x0800
#define ETH_ARP  0x0806

static void putEth(uint8_t *f, const uint8_t dst[NET_MAC_LEN], const uint8_t src[NET_MAC_LEN],
                   unsigned type)
{
    memcpy(f, dst, NET_MAC_LEN);
    memcpy(f + 6, src, NET_MAC_LEN);
    put16(f + 12, type);
}

/* Ethernet (peer -> us) and an IPv4 header of ihlWords 32-bit words (the
 * options NOPs) carrying l4Len bytes of proto, DF set, checksum right.
 * Returns the IP header. */
static uint8_t *putIpv4(uint8_t *f, unsigned ihlWords, uint8_t proto, unsigned l4Len, uint32_t src,
                        uint32_t dst)
{
    putEth(f, MY_MAC, PEER_MAC, ETH_IPV4);
    uint8_t *ip = f + NET_ETH_HDR;
    const unsigned ihl = ihlWords * 4;
    ip[0] = (uint8_t)(0x40 | ihlWords);
    ip[1] = 0x10;
    put16(ip + 2, ihl + l4Len);
    put16(ip + 4, 0x1234); /* identification */
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 57;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, src);
    put32(ip + 16, dst);
    for (unsigned i = NET_IP_HDR; i < ihl; i++)
        ip[i] = 1; /* NOP */
    put16(ip + 10, refCsum(ip, ihl >= NET_IP_HDR ? ihl : NET_IP_HDR));
    return ip;
}

static unsigned ihlOf(const uint8_t *f)
{
    return (f[NET_ETH_HDR] & 0x0Fu) * 4;
}

/* Recomputes the IPv4 header checksum after a change. */
static void fixIp(uint8_t *f)
{
    uint8_t *ip = f + NET_ETH_HDR;
    put16(ip + 10, 0);
    put16(ip + 10, refCsum(ip, ihlOf(f)));
}

/* Recomputes the UDP checksum over the length in the UDP header. */
static void fixUdp(uint8_t *f)
{
    uint8_t *ip = f + NET_ETH_HDR, *udp = ip + ihlOf(f);
    put16(udp + 6, 0);
    const uint16_t c = refUdpCsum(get32(ip + 12), get32(ip + 16), udp, get16(udp + 4));
    put16(udp + 6, c ? c : 0xFFFF);
}

/* A UDP datagram peer:PEER_PORT -> us:MY_PORT carrying n bytes of payload
 * (a pattern); returns the frame length. */
static uint16_t buildUdpOpt(uint8_t *f, unsigned ihlWords, const uint8_t *payload, unsigned n)
{
    uint8_t *ip = putIpv4(f, ihlWords, 17, NET_UDP_HDR + n, PEER_IP, MY_IP);
    uint8_t *udp = ip + ihlWords * 4;
    put16(udp, PEER_PORT);
    put16(udp + 2, MY_PORT);
    put16(udp + 4, NET_UDP_HDR + n);
    if (payload)
        memcpy(udp + NET_UDP_HDR, payload, n);
    else
        for (unsigned i = 0; i < n; i++)
            udp[NET_UDP_HDR + i] = (uint8_t)(0xA0 + i * 7);
    fixUdp(f);
    return (uint16_t)(NET_ETH_HDR + ihlWords * 4 + NET_UDP_HDR + n);
}

static uint16_t buildUdp(uint8_t *f, unsigned n)
{
    return buildUdpOpt(f, 5, NULL, n);
}

/* An ICMP message peer -> us: type, code, identifier 0x4242, sequence 7 and
 * n data bytes, checksum right; returns the frame length. */
static uint16_t buildIcmpOpt(uint8_t *f, unsigned ihlWords, uint8_t type, uint8_t code, unsigned n)
{
    uint8_t *ip = putIpv4(f, ihlWords, 1, 8 + n, PEER_IP, MY_IP);
    uint8_t *icmp = ip + ihlWords * 4;
    icmp[0] = type;
    icmp[1] = code;
    put16(icmp + 2, 0);
    put16(icmp + 4, 0x4242);
    put16(icmp + 6, 7);
    for (unsigned i = 0; i < n; i++)
        icmp[8 + i] = (uint8_t)(0x30 + i * 3);
    put16(icmp + 2, refCsum(icmp, 8 + n));
    return (uint16_t)(NET_ETH_HDR + ihlWords * 4 + 8 + n);
}

static uint16_t buildEcho(uint8_t *f, unsigned n)
{
    return buildIcmpOpt(f, 5, 8, 0, n);
}

/* An ARP message (Ethernet/IPv4) from the peer: op, asking for target. */
static uint16_t buildArp(uint8_t *f, unsigned op, uint32_t target)
{
    putEth(f, BCAST, PEER_MAC, ETH_ARP);
    uint8_t *a = f + NET_ETH_HDR;
    put16(a, 1);
    put16(a + 2, ETH_IPV4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, PEER_MAC, NET_MAC_LEN);
    put32(a + 14, PEER_IP);
    memset(a + 18, 0, NET_MAC_LEN);
    put32(a + 24, target);
    return NET_ARP_LEN;
}

/* Classifies the first len bytes of f from an exact-size heap copy, with
 * *out pre-filled with garbage so stale fields would show. */
static netKind classifyAs(const uint8_t *f, size_t len, uint32_t myIp, netFrame *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, f, len);
    memset(out, 0xA5, sizeof *out);
    const netKind k = netClassify(copy, (uint16_t)len, myIp, out);
    free(copy);
    return k;
}

static netKind classify(const uint8_t *f, size_t len, netFrame *out)
{
    return classifyAs(f, len, MY_IP, out);
}

static void assertZero(const netFrame *nf)
{
    static const netFrame zero;
    assert_memory_equal(nf, &zero, sizeof zero);
}

/* The fields an IPv4 frame from the peer fills once its header is good. */
static void assertFromPeer(const netFrame *nf)
{
    assert_memory_equal(nf->srcMac, PEER_MAC, NET_MAC_LEN);
    assert_int_equal(nf->srcIp, PEER_IP);
}

/* ------------------------------------------------------------------------ */
/* The reference checksum itself                                             */

static void test_reference_checksum(void **state)
{
    (void)state;
    /* RFC 1071 section 3 example: sum 0xddf2 */
    const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(refSum(rfc, sizeof rfc), 0xddf2);
    assert_int_equal(refCsum(rfc, sizeof rfc), 0x220d);
    /* a well-known IPv4 header (checksum field b861) */
    const uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                             0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(refCsum(hdr, sizeof hdr), 0xb861);
    uint8_t h2[20];
    memcpy(h2, hdr, sizeof h2);
    put16(h2 + 10, 0xb861);
    assert_true(refVerifies(h2, sizeof h2));
    /* an odd length pads with a zero byte on the right */
    const uint8_t odd[3] = {0x12, 0x34, 0x56};
    assert_int_equal(refSum(odd, 3), 0x1234 + 0x5600);
    /* the end-around carry */
    const uint8_t carry[4] = {0xff, 0xff, 0x00, 0x02};
    assert_int_equal(refSum(carry, 4), 0x0002);
}

/* ------------------------------------------------------------------------ */
/* UDP                                                                      */

static void test_udp_valid(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    const uint8_t msg[] = "hello, exchange";
    const uint16_t len = buildUdpOpt(f, 5, msg, sizeof msg);
    assert_int_equal(len, NET_UDP_HLEN + sizeof msg);
    netFrame nf;
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    assertFromPeer(&nf);
    assert_int_equal(nf.srcPort, PEER_PORT);
    assert_int_equal(nf.dstPort, MY_PORT);
    assert_int_equal(nf.payloadOff, NET_UDP_HLEN);
    assert_int_equal(nf.payloadLen, sizeof msg);
    assert_memory_equal(f + nf.payloadOff, msg, sizeof msg);
    /* the destination MAC is not checked (the NIC filters) */
    memcpy(f, BCAST, NET_MAC_LEN);
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    /* neither are the TTL, TOS and identification (beyond the checksum) */
    f[NET_ETH_HDR + 1] = 0xb8;
    f[NET_ETH_HDR + 8] = 1;
    put16(f + NET_ETH_HDR + 4, 0xffff);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    /* a datagram without DF is fine too */
    put16(f + NET_ETH_HDR + 6, 0);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_UDP);
}

static void test_udp_empty_payload(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    const uint16_t len = buildUdp(f, 0);
    assert_int_equal(len, NET_UDP_HLEN);
    netFrame nf;
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    assert_int_equal(nf.payloadOff, NET_UDP_HLEN);
    assert_int_equal(nf.payloadLen, 0);
}

static void test_udp_checksum_zero_accepted(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    for (unsigned n = 0; n < 20; n++) {
        const uint16_t len = buildUdp(f, n);
        put16(f + 34 + 6, 0); /* "no checksum" */
        netFrame nf;
        assert_int_equal(classify(f, len, &nf), NET_UDP);
        assert_int_equal(nf.payloadLen, n);
        /* with no checksum a corrupted payload goes through, as IPv4 allows */
        if (n) {
            f[NET_UDP_HLEN] ^= 0xFF;
            assert_int_equal(classify(f, len, &nf), NET_UDP);
        }
    }
}

static void test_udp_checksum_wrong(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 32);
    uint8_t *ip = f + NET_ETH_HDR, *udp = ip + NET_IP_HDR;
    const uint16_t good = get16(udp + 6);

    /* every single-bit error in the checksum field */
    for (int b = 0; b < 16; b++) {
        put16(udp + 6, good ^ (1u << b));
        if (get16(udp + 6) == 0)
            continue;
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
    }
    put16(udp + 6, good);
    assert_int_equal(classify(f, len, &nf), NET_UDP);

    /* every payload byte and every UDP header byte (ports) is covered */
    for (unsigned i = 0; i < 32; i++) {
        f[NET_UDP_HLEN + i] ^= 0x40;
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
        f[NET_UDP_HLEN + i] ^= 0x40;
    }
    for (unsigned i = 0; i < 4; i++) {
        udp[i] ^= 0x01;
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
        udp[i] ^= 0x01;
    }

    /* the pseudo-header's source address is covered: a changed source with a
     * fixed IP header checksum fails the UDP checksum */
    put32(ip + 12, PEER_IP ^ 0x100);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
    put32(ip + 12, PEER_IP);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_UDP);

    /* the destination too: datagram checksummed for another address, then
     * re-addressed to us */
    put32(ip + 16, ALT_IP);
    fixIp(f);
    fixUdp(f);
    put32(ip + 16, MY_IP);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);

    /* the all-ones checksum where the datagram sums to zero-checksum is
     * right, but 0xFFFF is not a wildcard otherwise */
    buildUdp(f, 32);
    put16(udp + 6, get16(udp + 6) == 0xFFFF ? 0xFFFE : 0xFFFF);
    assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
}

/* A datagram whose checksum computes to 0x0000 goes on the wire as 0xFFFF
 * (RFC 768), and is accepted as such. */
static void test_udp_checksum_all_ones(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    uint8_t payload[4] = {0x11, 0x22, 0, 0};
    buildUdpOpt(f, 5, payload, sizeof payload);
    uint8_t *udp = f + 34;
    /* choose the last payload word so that the ones' complement sum over
     * the pseudo-header and datagram (checksum field 0) is 0xFFFF */
    put16(udp + 6, 0);
    const uint16_t s = (uint16_t)~refUdpCsum(PEER_IP, MY_IP, udp, 12);
    put16(payload + 2, (uint16_t)~s);
    const uint16_t len = buildUdpOpt(f, 5, payload, sizeof payload);
    put16(udp + 6, 0);
    assert_int_equal(refUdpCsum(PEER_IP, MY_IP, udp, 12), 0);
    put16(udp + 6, 0xFFFF);
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    assert_int_equal(nf.payloadLen, 4);

    /* netUdpHeaders writes 0xFFFF for that datagram */
    uint8_t g[MAX_FRAME];
    memcpy(g + NET_UDP_HLEN, payload, sizeof payload);
    const uint16_t glen =
        netUdpHeaders(g, PEER_MAC, MY_MAC, PEER_IP, MY_IP, PEER_PORT, MY_PORT, sizeof payload);
    assert_int_equal(glen, len);
    assert_int_equal(get16(g + 34 + 6), 0xFFFF);
    assert_int_equal(classify(g, glen, &nf), NET_UDP);
}

static void test_udp_odd_lengths(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    for (unsigned n = 1; n < 64; n += 2) {
        const uint16_t len = buildUdp(f, n);
        assert_int_equal(classify(f, len, &nf), NET_UDP);
        assert_int_equal(nf.payloadOff, NET_UDP_HLEN);
        assert_int_equal(nf.payloadLen, n);
        /* the last, unpaired byte counts as the high byte of a word */
        f[len - 1] ^= 0x01;
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
        f[len - 1] ^= 0x01;
        /* a byte after the datagram (padding) does not count */
        f[len] = 0x5A;
        assert_int_equal(classify(f, len + 1u, &nf), NET_UDP);
        assert_int_equal(nf.payloadLen, n);
    }
    /* a checksum made as if the odd byte were the low byte fails */
    const uint16_t len = buildUdp(f, 3);
    uint8_t *udp = f + 34;
    uint8_t tmp[12];
    memcpy(tmp, udp, 11);
    tmp[11] = tmp[10];
    tmp[10] = 0;
    put16(tmp + 6, 0);
    put16(udp + 6, refUdpCsum(PEER_IP, MY_IP, tmp, 12));
    assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_CSUM);
}

static void test_udp_length_mismatch(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const unsigned n = 10;
    const uint16_t len = buildUdp(f, n);
    uint8_t *udp = f + 34;

    /* UDP length longer, shorter, below its header, zero (checksums fixed
     * where the data allows, so only the length is wrong) */
    static const unsigned bad[] = {NET_UDP_HDR + n + 1,
                                   NET_UDP_HDR + n + 2,
                                   NET_UDP_HDR + n - 1,
                                   NET_UDP_HDR + 1,
                                   NET_UDP_HDR,
                                   NET_UDP_HDR - 1,
                                   1,
                                   0,
                                   0xFFFF};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buildUdp(f, n);
        put16(udp + 4, bad[i]);
        if (bad[i] >= NET_UDP_HDR && bad[i] <= NET_UDP_HDR + n)
            fixUdp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_LEN);
        put16(udp + 6, 0); /* no checksum: still the length */
        assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_LEN);
    }

    /* an IP datagram too short for the UDP header: 0..7 bytes after the IP
     * header, the frame as long as the IP datagram */
    for (unsigned l4 = 0; l4 < NET_UDP_HDR; l4++) {
        uint8_t *ip = putIpv4(f, 5, 17, l4, PEER_IP, MY_IP);
        memset(ip + NET_IP_HDR, 0, l4);
        if (l4 >= 6)
            put16(ip + NET_IP_HDR + 4, l4);
        assert_int_equal(classify(f, 34u + l4, &nf), NET_DROP_UDP_LEN);
        /* and with the frame padded to the Ethernet minimum */
        memset(f + 34 + l4, 0, 60 - 34 - l4);
        assert_int_equal(classify(f, 60, &nf), NET_DROP_UDP_LEN);
    }
    /* with options, the UDP header must fit after them */
    uint8_t *ip = putIpv4(f, 15, 17, 4, PEER_IP, MY_IP);
    memset(ip + 60, 0, 8);
    put16(ip + 60 + 4, 8);
    assert_int_equal(classify(f, 14 + 60 + 8, &nf), NET_DROP_UDP_LEN);
}

/* The Ethernet minimum (60 bytes without FCS) pads short datagrams: the
 * payload is what the IP and UDP lengths say, not the frame. */
static void test_ethernet_padding(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    for (unsigned n = 0; n <= 18; n++) {
        const uint16_t len = buildUdp(f, n);
        assert_true(len <= 60);
        for (unsigned i = len; i < 60; i++)
            f[i] = (uint8_t)(0xC3 ^ i); /* non-zero padding: must not count */
        assert_int_equal(classify(f, 60, &nf), NET_UDP);
        assert_int_equal(nf.payloadOff, NET_UDP_HLEN);
        assert_int_equal(nf.payloadLen, n);
        assert_int_equal(nf.srcPort, PEER_PORT);
        assert_int_equal(nf.dstPort, MY_PORT);
    }
    /* ICMP and ARP padded likewise */
    uint16_t len = buildEcho(f, 4);
    memset(f + len, 0xEE, 60 - len);
    assert_int_equal(classify(f, 60, &nf), NET_ICMP_ECHO);
    len = buildArp(f, 1, MY_IP);
    memset(f + len, 0xEE, 60 - len);
    assert_int_equal(classify(f, 60, &nf), NET_ARP_REQUEST);
}

/* ------------------------------------------------------------------------ */
/* IPv4 header                                                               */

static void test_ip_checksum_wrong(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 8);
    /* a flipped bit anywhere in the header except the version/IHL and total
     * length, which fail earlier */
    for (unsigned i = 1; i < NET_IP_HDR; i++) {
        if (i == 2 || i == 3)
            continue;
        f[NET_ETH_HDR + i] ^= 0x02;
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_CSUM);
        assertZero(&nf);
        f[NET_ETH_HDR + i] ^= 0x02;
    }
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    /* a wrong checksum on a datagram that is otherwise fine for us */
    put16(f + NET_ETH_HDR + 10, get16(f + NET_ETH_HDR + 10) + 1);
    assert_int_equal(classify(f, len, &nf), NET_DROP_IP_CSUM);
    /* ICMP too */
    const uint16_t elen = buildEcho(f, 8);
    f[NET_ETH_HDR + 10] ^= 0x80;
    assert_int_equal(classify(f, elen, &nf), NET_DROP_IP_CSUM);
}

static void test_ip_version(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 8);
    for (unsigned v = 0; v < 16; v++) {
        if (v == 4)
            continue;
        f[NET_ETH_HDR] = (uint8_t)(v << 4 | 5);
        fixIp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_HEADER);
        assertZero(&nf);
    }
    /* an IPv6 header behind the IPv4 ethertype */
    uint8_t *ip = f + NET_ETH_HDR;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, 8);
    ip[6] = 17;
    ip[7] = 64;
    assert_int_equal(classify(f, 14 + 40 + 8, &nf), NET_DROP_IP_HEADER);
}

static void test_ip_ihl_too_small(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 8);
    for (unsigned ihl = 0; ihl < 5; ihl++) {
        f[NET_ETH_HDR] = (uint8_t)(0x40 | ihl);
        fixIp(f); /* the checksum over the short header is right */
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_HEADER);
        put16(f + NET_ETH_HDR + 10, refCsum(f + NET_ETH_HDR, NET_IP_HDR));
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_HEADER);
    }
}

static void test_ip_options_accepted(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint8_t msg[] = {1, 2, 3, 4, 5, 6, 7};
    for (unsigned ihl = 6; ihl <= 15; ihl++) {
        const uint16_t len = buildUdpOpt(f, ihl, msg, sizeof msg);
        assert_int_equal(len, 14 + ihl * 4 + 8 + sizeof msg);
        assert_int_equal(classify(f, len, &nf), NET_UDP);
        assertFromPeer(&nf);
        assert_int_equal(nf.srcPort, PEER_PORT);
        assert_int_equal(nf.dstPort, MY_PORT);
        assert_int_equal(nf.payloadOff, 14 + ihl * 4 + 8);
        assert_int_equal(nf.payloadLen, sizeof msg);
        assert_memory_equal(f + nf.payloadOff, msg, sizeof msg);
        /* the header checksum covers the options */
        f[NET_ETH_HDR + ihl * 4 - 1] ^= 0x10;
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_CSUM);
        /* ICMP echo behind options */
        const uint16_t elen = buildIcmpOpt(f, ihl, 8, 0, 5);
        assert_int_equal(classify(f, elen, &nf), NET_ICMP_ECHO);
    }
}

static void test_ip_total_length(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 16);
    uint8_t *ip = f + NET_ETH_HDR;
    const unsigned ipLen = len - 14u;
    /* larger than the frame, by one and by a lot */
    const unsigned over[] = {ipLen + 1, ipLen + 2, ipLen + 100, 0xFFFF};
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        put16(ip + 2, over[i]);
        fixIp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_HEADER);
    }
    /* shorter than the IP header */
    static const unsigned under[] = {0, 1, 19};
    for (size_t i = 0; i < sizeof under / sizeof under[0]; i++) {
        put16(ip + 2, under[i]);
        fixIp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_HEADER);
    }
    /* shorter than a header with options */
    buildUdpOpt(f, 8, NULL, 0);
    put16(ip + 2, 31);
    fixIp(f);
    assert_int_equal(classify(f, 14 + 32 + 8, &nf), NET_DROP_IP_HEADER);
    /* exactly the frame is fine; the frame longer than IP is padding */
    buildUdp(f, 16);
    assert_int_equal(classify(f, len, &nf), NET_UDP);
    /* a total length shorter than the datagram (but covering the UDP
     * header) makes the UDP length inconsistent */
    put16(ip + 2, ipLen - 1);
    fixIp(f);
    assert_int_equal(classify(f, len, &nf), NET_DROP_UDP_LEN);
}

static void test_ip_fragments(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildUdp(f, 16);
    uint8_t *ip = f + NET_ETH_HDR;
    /* MF; offsets alone; both; with and without DF */
    static const unsigned frag[] = {0x2000, 0x0001, 0x0100, 0x1FFF, 0x2001, 0x3FFF,
                                    0x6000, 0x4001, 0x7FFF, 0xFFFF, 0x0800};
    for (size_t i = 0; i < sizeof frag / sizeof frag[0]; i++) {
        put16(ip + 6, frag[i]);
        fixIp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_IP_FRAG);
        assertFromPeer(&nf);
    }
    /* DF alone, nothing, or the reserved bit (ignored, as receivers do):
     * not a fragment */
    static const unsigned whole[] = {0x4000, 0x0000, 0x8000, 0xC000};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        put16(ip + 6, whole[i]);
        fixIp(f);
        assert_int_equal(classify(f, len, &nf), NET_UDP);
    }
    /* an ICMP fragment */
    const uint16_t elen = buildEcho(f, 16);
    put16(ip + 6, 0x2000);
    fixIp(f);
    assert_int_equal(classify(f, elen, &nf), NET_DROP_IP_FRAG);
}

static void test_ip_not_us(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    uint16_t len = buildUdp(f, 16);
    uint8_t *ip = f + NET_ETH_HDR;
    static const uint32_t others[] = {ALT_IP, 0xFFFFFFFFu,         0xC00002FFu,
                                      0,      MY_IP ^ 0x80000000u, 0x01020000u | (MY_IP & 0xFFFF)};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        put32(ip + 16, others[i]);
        fixIp(f);
        fixUdp(f);
        assert_int_equal(classify(f, len, &nf), NET_DROP_NOT_US);
        assertFromPeer(&nf);
        /* and to us it is fine */
        assert_int_equal(classifyAs(f, len, others[i], &nf), NET_UDP);
    }
    len = buildEcho(f, 8);
    assert_int_equal(classifyAs(f, len, ALT_IP, &nf), NET_DROP_NOT_US);
}

static void test_ip_other_protocols(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    /* TCP (a SYN), IGMP, GRE, ESP, SCTP, UDP-Lite, raw 0 and 255 */
    static const uint8_t protos[] = {6, 2, 47, 50, 132, 136, 0, 255};
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
        uint8_t *ip = putIpv4(f, 5, protos[i], 20, PEER_IP, MY_IP);
        uint8_t *tcp = ip + NET_IP_HDR;
        memset(tcp, 0, 20);
        put16(tcp, PEER_PORT);
        put16(tcp + 2, MY_PORT);
        tcp[12] = 0x50;
        tcp[13] = 0x02;
        assert_int_equal(classify(f, 14 + 40, &nf), NET_DROP_PROTO);
        assertFromPeer(&nf);
    }
}

/* ------------------------------------------------------------------------ */
/* ICMP                                                                     */

static void test_icmp_echo(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    /* any data length, odd ones included, up to a full frame */
    for (unsigned n = 0; n <= MAX_FRAME - 42; n += (n < 70 ? 1 : 97)) {
        const uint16_t len = buildEcho(f, n);
        assert_int_equal(classify(f, len, &nf), NET_ICMP_ECHO);
        assertFromPeer(&nf);
    }
    /* the wrong checksum: in the field, in the header, in the data (the
     * last, odd, byte included) */
    uint16_t len = buildEcho(f, 9);
    uint8_t *icmp = f + 34;
    for (unsigned i = 2; i < 8u + 9; i++) {
        icmp[i] ^= 0x04;
        assert_int_equal(classify(f, len, &nf), NET_DROP_ICMP);
        icmp[i] ^= 0x04;
    }
    assert_int_equal(classify(f, len, &nf), NET_ICMP_ECHO);
    /* a checksum of zero is not "none" for ICMP */
    put16(icmp + 2, 0);
    assert_int_equal(classify(f, len, &nf), NET_DROP_ICMP);
}

static void test_icmp_not_echo_request(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    /* an echo reply, unreachable, redirect, time exceeded, timestamp,
     * each with a right checksum */
    static const uint8_t types[] = {0, 3, 5, 11, 13, 9, 10, 255};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const uint16_t len = buildIcmpOpt(f, 5, types[i], 0, 8);
        assert_int_equal(classify(f, len, &nf), NET_DROP_ICMP);
    }
    /* an echo request with a non-zero code */
    for (unsigned code = 1; code < 256; code += 127) {
        const uint16_t len = buildIcmpOpt(f, 5, 8, (uint8_t)code, 8);
        assert_int_equal(classify(f, len, &nf), NET_DROP_ICMP);
    }
    /* ICMP shorter than the echo header (IP length says so; the frame is
     * padded) */
    for (unsigned l4 = 0; l4 < 8; l4++) {
        uint8_t *ip = putIpv4(f, 5, 1, l4, PEER_IP, MY_IP);
        memset(ip + NET_IP_HDR, 0, 60 - 34);
        ip[NET_IP_HDR] = 8;
        assert_int_equal(classify(f, 34u + l4, &nf), NET_DROP_ICMP);
        assert_int_equal(classify(f, 60, &nf), NET_DROP_ICMP);
    }
}

/* ------------------------------------------------------------------------ */
/* ARP                                                                      */

static void test_arp_request_for_us(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    const uint16_t len = buildArp(f, 1, MY_IP);
    assert_int_equal(len, 42);
    assert_int_equal(classify(f, len, &nf), NET_ARP_REQUEST);
    assert_memory_equal(nf.srcMac, PEER_MAC, NET_MAC_LEN);
    assert_int_equal(nf.srcIp, PEER_IP);
    assert_int_equal(nf.payloadLen, 0);
    /* a unicast request (ARP refresh) with a target MAC filled in */
    memcpy(f, MY_MAC, NET_MAC_LEN);
    memcpy(f + 14 + 18, MY_MAC, NET_MAC_LEN);
    assert_int_equal(classify(f, len, &nf), NET_ARP_REQUEST);
    /* the learned MAC is the sender hardware address, not the Ethernet
     * source */
    static const uint8_t other[NET_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x99};
    memcpy(f + 6, other, NET_MAC_LEN);
    assert_int_equal(classify(f, len, &nf), NET_ARP_REQUEST);
    assert_memory_equal(nf.srcMac, PEER_MAC, NET_MAC_LEN);
    /* a gratuitous ARP / probe (sender 0.0.0.0) for our address */
    put32(f + 14 + 14, 0);
    assert_int_equal(classify(f, len, &nf), NET_ARP_REQUEST);
    assert_int_equal(nf.srcIp, 0);
}

static void test_arp_other(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    /* a request for another address: dropped but learned */
    uint16_t len = buildArp(f, 1, ALT_IP);
    assert_int_equal(classify(f, len, &nf), NET_DROP_ARP_OTHER);
    assert_memory_equal(nf.srcMac, PEER_MAC, NET_MAC_LEN);
    assert_int_equal(nf.srcIp, PEER_IP);
    /* a reply to us, and other opcodes (RARP, InARP, 0): learned, dropped */
    static const unsigned ops[] = {2, 0, 3, 4, 8, 9, 0x0101};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        len = buildArp(f, ops[i], MY_IP);
        assert_int_equal(classify(f, len, &nf), NET_DROP_ARP_OTHER);
        assert_memory_equal(nf.srcMac, PEER_MAC, NET_MAC_LEN);
        assert_int_equal(nf.srcIp, PEER_IP);
    }
}

static void test_arp_malformed(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    uint8_t *a = f + NET_ETH_HDR;
    /* {offset, size, bad value}: hardware type, protocol type, lengths */
    static const struct {
        unsigned off, size, value;
    } bad[] = {{0, 2, 6},  {0, 2, 0}, {0, 2, 0x0100}, {2, 2, 0x86DD}, {2, 2, 0x0008},
               {2, 2, 0},  {4, 1, 0}, {4, 1, 8},      {4, 1, 5},      {5, 1, 0},
               {5, 1, 16}, {5, 1, 6}, {4, 1, 4}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const uint16_t len = buildArp(f, 1, MY_IP);
        if (bad[i].size == 2)
            put16(a + bad[i].off, bad[i].value);
        else
            a[bad[i].off] = (uint8_t)bad[i].value;
        assert_int_equal(classify(f, len, &nf), NET_DROP_ARP_OTHER);
        /* nothing learned from a malformed packet */
        assertZero(&nf);
    }
}

/* ------------------------------------------------------------------------ */
/* Short frames and other ethertypes                                         */

/* Every prefix of 0..42 bytes of valid frames, from an exact-size buffer. */
static void test_short_frames(void **state)
{
    (void)state;
    uint8_t udp[MAX_FRAME], udp0[MAX_FRAME], echo[MAX_FRAME], arp[MAX_FRAME], v6[MAX_FRAME];
    const uint16_t udpLen = buildUdp(udp, 6);
    const uint16_t udp0Len = buildUdp(udp0, 0);
    const uint16_t echoLen = buildEcho(echo, 8);
    const uint16_t arpLen = buildArp(arp, 1, MY_IP);
    memset(v6, 0, sizeof v6);
    putEth(v6, MY_MAC, PEER_MAC, 0x86DD);
    assert_true(udpLen > 42 && echoLen > 42 && udp0Len == 42 && arpLen == 42);
    netFrame nf;
    for (unsigned len = 0; len <= 42; len++) {
        /* no Ethernet header */
        if (len < NET_ETH_HDR) {
            assert_int_equal(classify(udp, len, &nf), NET_DROP_SHORT);
            assert_int_equal(classify(echo, len, &nf), NET_DROP_SHORT);
            assert_int_equal(classify(arp, len, &nf), NET_DROP_SHORT);
            assert_int_equal(classify(v6, len, &nf), NET_DROP_SHORT);
            assertZero(&nf);
            continue;
        }
        assert_int_equal(classify(v6, len, &nf), NET_DROP_ETHERTYPE);
        /* ARP: the whole 28-byte packet is needed */
        assert_int_equal(classify(arp, len, &nf), len < 42 ? NET_DROP_SHORT : NET_ARP_REQUEST);
        /* IPv4: without its 20-byte header, short; with it, the total length
         * (more than what is left) is wrong */
        const netKind ipWant = len < 34 ? NET_DROP_SHORT : NET_DROP_IP_HEADER;
        assert_int_equal(classify(udp, len, &nf), ipWant);
        assert_int_equal(classify(echo, len, &nf), ipWant);
        if (len < 34)
            assertZero(&nf);
        assert_int_equal(classify(udp0, len, &nf), len < 42 ? ipWant : NET_UDP);
    }
}

static void test_other_ethertypes(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame nf;
    /* IPv6, VLAN (802.1Q, QinQ), LLDP, RARP, PTP, an 802.3 length, 0 */
    static const unsigned types[] = {0x86DD, 0x8100, 0x88A8, 0x9100, 0x88CC,
                                     0x8035, 0x88F7, 0x002E, 0x05DC, 0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        buildUdp(f, 32);
        put16(f + 12, types[i]);
        assert_int_equal(classify(f, 14 + 20 + 8 + 32, &nf), NET_DROP_ETHERTYPE);
        assertZero(&nf);
        assert_int_equal(classify(f, 14, &nf), NET_DROP_ETHERTYPE);
    }
    /* an IPv4 datagram behind a VLAN tag is still dropped */
    uint8_t inner[MAX_FRAME];
    const uint16_t len = buildUdp(inner, 16);
    memcpy(f, inner, 12);
    put16(f + 12, 0x8100);
    put16(f + 14, 0x0064); /* VLAN 100 */
    memcpy(f + 16, inner + 12, len - 12u);
    assert_int_equal(classify(f, len + 4u, &nf), NET_DROP_ETHERTYPE);
    /* a full IPv6 UDP datagram */
    memset(f, 0, sizeof f);
    putEth(f, MY_MAC, PEER_MAC, 0x86DD);
    f[14] = 0x60;
    put16(f + 18, 8);
    f[20] = 17;
    f[21] = 64;
    assert_int_equal(classify(f, 14 + 40 + 8, &nf), NET_DROP_ETHERTYPE);
}

/* ------------------------------------------------------------------------ */
/* Replies and the UDP headers                                               */

static void test_arp_reply(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME], req[MAX_FRAME];
    netFrame nf;
    for (unsigned padded = 0; padded < 2; padded++) {
        uint16_t len = buildArp(f, 1, MY_IP);
        /* the target hardware field of a request is anything */
        memset(f + 14 + 18, 0x77, NET_MAC_LEN);
        if (padded) {
            memset(f + len, 0x3C, 60 - len);
            len = 60;
        }
        memcpy(req, f, len);
        assert_int_equal(classify(f, len, &nf), NET_ARP_REQUEST);
        assert_int_equal(netArpReply(f, MY_MAC), NET_ARP_LEN);
        const uint8_t *a = f + 14, *ra = req + 14;
        /* Ethernet: to the requester, from us, still ARP */
        assert_memory_equal(f, PEER_MAC, NET_MAC_LEN);
        assert_memory_equal(f + 6, MY_MAC, NET_MAC_LEN);
        assert_int_equal(get16(f + 12), ETH_ARP);
        /* hardware/protocol types and lengths unchanged */
        assert_memory_equal(a, ra, 6);
        assert_int_equal(get16(a + 6), 2);
        assert_memory_equal(a + 8, MY_MAC, NET_MAC_LEN);
        assert_int_equal(get32(a + 14), MY_IP);
        assert_memory_equal(a + 18, PEER_MAC, NET_MAC_LEN);
        assert_int_equal(get32(a + 24), PEER_IP);
        /* nothing after the ARP packet touched */
        if (padded)
            assert_memory_equal(f + 42, req + 42, 60 - 42);
        /* the reply, seen by the requester: an ARP reply from us */
        assert_int_equal(classifyAs(f, NET_ARP_LEN, PEER_IP, &nf), NET_DROP_ARP_OTHER);
        assert_memory_equal(nf.srcMac, MY_MAC, NET_MAC_LEN);
        assert_int_equal(nf.srcIp, MY_IP);
    }
    /* the reply goes to the sender hardware address even when the Ethernet
     * source differs (a proxy or bridge) */
    buildArp(f, 1, MY_IP);
    static const uint8_t bridge[NET_MAC_LEN] = {0x02, 0xbb, 0, 0, 0, 1};
    memcpy(f + 6, bridge, NET_MAC_LEN);
    assert_int_equal(netArpReply(f, MY_MAC), NET_ARP_LEN);
    assert_memory_equal(f, PEER_MAC, NET_MAC_LEN);
}

/* Checks an echo reply f (length rlen) made from request req. */
static void checkEchoReply(const uint8_t *f, uint16_t rlen, const uint8_t *req)
{
    const uint8_t *ip = f + 14, *rip = req + 14;
    const unsigned ihl = ihlOf(req), ipLen = get16(rip + 2);
    assert_int_equal(rlen, 14 + ipLen);
    /* MACs swapped */
    assert_memory_equal(f, req + 6, NET_MAC_LEN);
    assert_memory_equal(f + 6, req, NET_MAC_LEN);
    assert_int_equal(get16(f + 12), ETH_IPV4);
    /* addresses swapped, TTL renewed, header checksum right, the rest as
     * received (options included) */
    assert_int_equal(get32(ip + 12), get32(rip + 16));
    assert_int_equal(get32(ip + 16), get32(rip + 12));
    assert_int_equal(ip[8], 64);
    assert_true(refVerifies(ip, ihl));
    assert_memory_equal(ip, rip, 8);
    assert_int_equal(ip[9], 1);
    assert_memory_equal(ip + 20, rip + 20, ihl - 20);
    /* an echo reply with identifier, sequence and data echoed, checksum
     * right */
    const uint8_t *icmp = ip + ihl, *ricmp = rip + ihl;
    assert_int_equal(icmp[0], 0);
    assert_int_equal(icmp[1], 0);
    assert_memory_equal(icmp + 4, ricmp + 4, ipLen - ihl - 4);
    assert_true(refVerifies(icmp, ipLen - ihl));
}

static void test_icmp_reply(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME], req[MAX_FRAME];
    netFrame nf;
    for (unsigned ihl = 5; ihl <= 15; ihl += 5) {
        for (unsigned n = 0; n <= 1400; n += (n < 40 ? 1 : 271)) {
            const uint16_t len = buildIcmpOpt(f, ihl, 8, 0, n);
            memcpy(req, f, len);
            assert_int_equal(classify(f, len, &nf), NET_ICMP_ECHO);
            const uint16_t rlen = netIcmpReply(f);
            checkEchoReply(f, rlen, req);
            /* the peer sees an echo reply: a valid ICMP that is not a
             * request */
            assert_int_equal(classifyAs(f, rlen, PEER_IP, &nf), NET_DROP_ICMP);
            assert_memory_equal(nf.srcMac, MY_MAC, NET_MAC_LEN);
            assert_int_equal(nf.srcIp, MY_IP);
        }
    }
    /* a request padded to the Ethernet minimum: the reply is the IP length */
    uint16_t len = buildEcho(f, 2);
    memset(f + len, 0xAB, 60 - len);
    memcpy(req, f, 60);
    assert_int_equal(classify(f, 60, &nf), NET_ICMP_ECHO);
    const uint16_t rlen = netIcmpReply(f);
    assert_int_equal(rlen, len);
    checkEchoReply(f, rlen, req);
    /* a request with TTL 1 and DF clear */
    len = buildEcho(f, 5);
    f[14 + 8] = 1;
    put16(f + 14 + 6, 0);
    fixIp(f);
    memcpy(req, f, len);
    assert_int_equal(classify(f, len, &nf), NET_ICMP_ECHO);
    checkEchoReply(f, netIcmpReply(f), req);
}

/* netUdpHeaders for every payload length of a standard frame: the frame
 * classifies back, and every header field and checksum is right. */
static void test_udp_headers_roundtrip(void **state)
{
    (void)state;
    static uint8_t f[MAX_FRAME + 64], payload[MAX_UDP];
    uint32_t x = 0x9E3779B9u;
    for (unsigned i = 0; i < MAX_UDP; i++) {
        x = x * 1664525u + 1013904223u;
        payload[i] = (uint8_t)(x >> 24);
    }
    netFrame nf;
    for (unsigned n = 0; n <= MAX_UDP; n++) {
        memset(f, 0xCC, sizeof f);
        memcpy(f + NET_UDP_HLEN, payload, n);
        const uint16_t srcPort = (uint16_t)(1 + n * 37), dstPort = (uint16_t)(65535 - n);
        const uint16_t len =
            netUdpHeaders(f, MY_MAC, PEER_MAC, MY_IP, PEER_IP, srcPort, dstPort, (uint16_t)n);
        assert_int_equal(len, NET_UDP_HLEN + n);
        /* payload and what follows untouched */
        assert_memory_equal(f + NET_UDP_HLEN, payload, n);
        assert_int_equal(f[len], 0xCC);
        /* Ethernet */
        assert_memory_equal(f, PEER_MAC, NET_MAC_LEN);
        assert_memory_equal(f + 6, MY_MAC, NET_MAC_LEN);
        assert_int_equal(get16(f + 12), ETH_IPV4);
        /* IPv4: 20 bytes, DF, TTL 64, UDP, lengths, checksum */
        const uint8_t *ip = f + 14, *udp = ip + 20;
        assert_int_equal(ip[0], 0x45);
        assert_int_equal(get16(ip + 2), 28 + n);
        assert_int_equal(get16(ip + 6), 0x4000);
        assert_int_equal(ip[8], 64);
        assert_int_equal(ip[9], 17);
        assert_int_equal(get32(ip + 12), MY_IP);
        assert_int_equal(get32(ip + 16), PEER_IP);
        assert_true(refVerifies(ip, 20));
        /* UDP: ports, length, checksum as the reference computes it */
        assert_int_equal(get16(udp), srcPort);
        assert_int_equal(get16(udp + 2), dstPort);
        assert_int_equal(get16(udp + 4), 8 + n);
        uint8_t hdr[8];
        memcpy(hdr, udp, 8);
        put16(hdr + 6, 0);
        uint8_t *tmp = malloc(8 + n);
        assert_non_null(tmp);
        memcpy(tmp, hdr, 8);
        memcpy(tmp + 8, udp + 8, n);
        uint16_t want = refUdpCsum(MY_IP, PEER_IP, tmp, (uint16_t)(8 + n));
        free(tmp);
        if (want == 0)
            want = 0xFFFF;
        assert_int_equal(get16(udp + 6), want);
        /* the peer classifies it as UDP with the same ports and payload */
        assert_int_equal(classifyAs(f, len, PEER_IP, &nf), NET_UDP);
        assert_memory_equal(nf.srcMac, MY_MAC, NET_MAC_LEN);
        assert_int_equal(nf.srcIp, MY_IP);
        assert_int_equal(nf.srcPort, srcPort);
        assert_int_equal(nf.dstPort, dstPort);
        assert_int_equal(nf.payloadOff, NET_UDP_HLEN);
        assert_int_equal(nf.payloadLen, n);
        assert_memory_equal(f + nf.payloadOff, payload, n);
        /* and not to us */
        assert_int_equal(classify(f, len, &nf), NET_DROP_NOT_US);
    }
}

/* A prepared flow (the feed's packets) makes the same frames as
 * netUdpHeaders, for every length and alignment, and a payload whose sum
 * makes the checksum 0 is sent as 0xFFFF. */
static void test_udp_flow_frame(void **state)
{
    (void)state;
    static uint8_t want[MAX_FRAME + 64], got[MAX_FRAME + 64], payload[MAX_UDP + 8];
    uint32_t x = 0x2545F491u;
    for (unsigned i = 0; i < sizeof payload; i++) {
        x = x * 1664525u + 1013904223u;
        payload[i] = (uint8_t)(x >> 24);
    }
    const uint32_t group = 0xEF000001u; /* 239.0.0.1 */
    const uint8_t gmac[NET_MAC_LEN] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    netUdpFlow fl;
    memset(&fl, 0, sizeof fl);
    netUdpFlowInit(&fl, MY_MAC, gmac, MY_IP, group, 9101, 9100);
    for (unsigned off = 0; off < 8; off++)
        for (unsigned n = 0; n <= MAX_UDP; n += 1 + (n > 64) * 13) {
            memset(want, 0xCC, sizeof want);
            memset(got, 0xCC, sizeof got);
            memcpy(want + NET_UDP_HLEN, payload + off, n);
            uint16_t a = netUdpHeaders(want, MY_MAC, gmac, MY_IP, group, 9101, 9100, (uint16_t)n);
            uint16_t b = netUdpFlowFrame(got, &fl, payload + off, (uint16_t)n);
            assert_int_equal(a, b);
            assert_memory_equal(want, got, a + 1u);
        }
    /* the payload that makes the sum 0xFFFF: checksum 0 becomes 0xFFFF */
    uint8_t f[NET_UDP_HLEN + 2];
    uint8_t p2[2] = {0, 0};
    netUdpFlowFrame(f, &fl, p2, 2);
    uint16_t c = get16(f + NET_UDP_HLEN - 2);
    uint32_t s = (uint32_t)(~c & 0xFFFF); /* sum of everything but the payload */
    put16(p2, (uint16_t)(~s & 0xFFFF));
    netUdpFlowFrame(f, &fl, p2, 2);
    assert_int_equal(get16(f + NET_UDP_HLEN - 2), 0xFFFF);
    assert_int_equal(classifyAs(f, sizeof f, group, &(netFrame){0}), NET_UDP);
}

/* The answers' flow cache: every frame is netUdpHeaders' byte for byte,
 * for many peers (slots shared by several), a peer whose MAC changes and
 * ports that differ; a peer seen again in its slot is not prepared again. */
static void test_flow_cache(void **state)
{
    (void)state;
    static netFlowCache c;
    static uint8_t want[MAX_FRAME + 64], got[MAX_FRAME + 64], payload[MAX_UDP + 8];
    for (unsigned i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7u + 3u);
    netFlowCacheInit(&c, MY_MAC, MY_IP);
    uint8_t mac[NET_MAC_LEN] = {0x02, 0, 0, 0, 0, 9};
    for (unsigned k = 0; k < 3000; k++) {
        const uint32_t ip = 0xC6120000u + 2u + (k * 37u) % 300u; /* 300 peers > slots */
        const uint16_t dport = (uint16_t)(40000u + k % 5u), sport = k % 7 ? 9000 : 9101;
        mac[5] = (uint8_t)(k % 900 < 450 ? 9 : 10); /* every peer's MAC changes once */
        const unsigned n = (k * 131u) % (MAX_UDP + 1u);
        memset(want, 0xCC, sizeof want);
        memset(got, 0xCC, sizeof got);
        memcpy(want + NET_UDP_HLEN, payload, n);
        uint16_t a = netUdpHeaders(want, MY_MAC, mac, MY_IP, ip, sport, dport, (uint16_t)n);
        uint16_t b = netFlowCacheFrame(&c, got, mac, ip, sport, dport, payload, (uint16_t)n);
        assert_int_equal(a, b);
        assert_memory_equal(want, got, a + 1u);
    }
    const uint64_t misses = c.prepared;
    assert_true(misses > 0 && misses < 3000);
    uint16_t n1 = netFlowCacheFrame(&c, got, mac, PEER_IP, MY_PORT, PEER_PORT, payload, 10);
    const uint64_t after1 = c.prepared;
    for (int i = 0; i < 5; i++) /* the same peer again: no new preparation */
        assert_int_equal(netFlowCacheFrame(&c, got, mac, PEER_IP, MY_PORT, PEER_PORT, payload, 10),
                         n1);
    assert_int_equal(c.prepared, after1);
    netFrame back;
    assert_int_equal(classifyAs(got, n1, PEER_IP, &back), NET_UDP);
    assert_int_equal(back.srcPort, MY_PORT);
    assert_int_equal(back.payloadLen, 10);
}

/* Our own reply to a received datagram: swap, rebuild, the sender accepts. */
static void test_udp_headers_answer(void **state)
{
    (void)state;
    uint8_t f[MAX_FRAME];
    netFrame in, back;
    const uint16_t len = buildUdp(f, 100);
    assert_int_equal(classify(f, len, &in), NET_UDP);
    const uint16_t rlen =
        netUdpHeaders(f, MY_MAC, in.srcMac, MY_IP, in.srcIp, in.dstPort, in.srcPort, in.payloadLen);
    assert_int_equal(rlen, len);
    assert_int_equal(classifyAs(f, rlen, PEER_IP, &back), NET_UDP);
    assert_int_equal(back.srcPort, MY_PORT);
    assert_int_equal(back.dstPort, PEER_PORT);
    assert_int_equal(back.payloadLen, 100);
}

static void test_kind_names(void **state)
{
    (void)state;
    static const char *const want[NET_KIND_COUNT] = {
        [NET_UDP] = "udp",
        [NET_ARP_REQUEST] = "arp_request",
        [NET_ICMP_ECHO] = "icmp_echo",
        [NET_DROP_SHORT] = "drop_short",
        [NET_DROP_ETHERTYPE] = "drop_ethertype",
        [NET_DROP_ARP_OTHER] = "drop_arp_other",
        [NET_DROP_IP_HEADER] = "drop_ip_header",
        [NET_DROP_IP_CSUM] = "drop_ip_csum",
        [NET_DROP_IP_FRAG] = "drop_ip_frag",
        [NET_DROP_NOT_US] = "drop_not_us",
        [NET_DROP_PROTO] = "drop_proto",
        [NET_DROP_UDP_LEN] = "drop_udp_len",
        [NET_DROP_UDP_CSUM] = "drop_udp_csum",
        [NET_DROP_ICMP] = "drop_icmp",
    };
    for (int k = 0; k < NET_KIND_COUNT; k++) {
        assert_non_null(want[k]);
        assert_string_equal(netKindName((netKind)k), want[k]);
        for (int j = 0; j < k; j++)
            assert_string_not_equal(netKindName((netKind)k), netKindName((netKind)j));
    }
    assert_string_equal(netKindName(NET_KIND_COUNT), "unknown");
    assert_string_equal(netKindName((netKind)(NET_KIND_COUNT + 1)), "unknown");
    assert_string_equal(netKindName((netKind)1000), "unknown");
    assert_string_equal(netKindName((netKind)-1), "unknown");
}

/* ------------------------------------------------------------------------ */
/* Seed corpus for tests/fuzz/fuzz_net.c                                     */

static int writeFile(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n) {
        perror(path);
        if (fp)
            fclose(fp);
        return -1;
    }
    return fclose(fp);
}

static int writeCorpus(const char *dir)
{
    uint8_t f[MAX_FRAME];
    int rc = 0;
    uint16_t len = buildArp(f, 1, MY_IP);
    rc |= writeFile(dir, "arp_request", f, len);
    len = buildEcho(f, 56);
    rc |= writeFile(dir, "icmp_echo", f, len);
    len = buildIcmpOpt(f, 6, 8, 0, 5);
    rc |= writeFile(dir, "icmp_echo_options_odd", f, len);
    const uint8_t msg[] = "new order 42";
    len = buildUdpOpt(f, 5, msg, sizeof msg - 1);
    rc |= writeFile(dir, "udp", f, len);
    len = buildUdp(f, 3);
    memset(f + len, 0, 60 - len);
    rc |= writeFile(dir, "udp_padded", f, 60);
    len = buildUdpOpt(f, 7, NULL, 9);
    rc |= writeFile(dir, "udp_options", f, len);
    return rc;
}

/* ------------------------------------------------------------------------ */

#define T(f) cmocka_unit_test(f)

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
        return writeCorpus(argv[2]) == 0 ? 0 : 1;
    const struct CMUnitTest tests[] = {
        T(test_reference_checksum),
        T(test_udp_valid),
        T(test_udp_empty_payload),
        T(test_udp_checksum_zero_accepted),
        T(test_udp_checksum_wrong),
        T(test_udp_checksum_all_ones),
        T(test_udp_odd_lengths),
        T(test_udp_length_mismatch),
        T(test_ethernet_padding),
        T(test_ip_checksum_wrong),
        T(test_ip_version),
        T(test_ip_ihl_too_small),
        T(test_ip_options_accepted),
        T(test_ip_total_length),
        T(test_ip_fragments),
        T(test_ip_not_us),
        T(test_ip_other_protocols),
        T(test_icmp_echo),
        T(test_icmp_not_echo_request),
        T(test_arp_request_for_us),
        T(test_arp_other),
        T(test_arp_malformed),
        T(test_short_frames),
        T(test_other_ethertypes),
        T(test_arp_reply),
        T(test_icmp_reply),
        T(test_udp_headers_roundtrip),
        T(test_udp_headers_answer),
        T(test_udp_flow_frame),
        T(test_flow_cache),
        T(test_kind_names),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL) ? 1 : 0;
}
