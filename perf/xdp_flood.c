/* xdp_flood -- sends UDP datagrams from a chosen source address as fast as it
 * can (or a fixed count), to flood or probe the XDP allowlist filter.
 *
 * Raw mode (default) writes whole Ethernet frames on an AF_PACKET socket
 * with sendmmsg bursts and PACKET_QDISC_BYPASS, so any source address can be
 * used (a spoofed one too) and the kernel's routing is not involved.
 * --kernel sends ordinary datagrams from a UDP socket bound to --src (the
 * address must be configured on the interface): what a real client from
 * another address does. Only 198.18.0.0/15 addresses are accepted.
 *
 *   xdp_flood --dev IF --src IP --dst IP [--dst-mac MAC] [--port 9000]
 *             [--count N | --duration S] [--size 64] [--batch 64]
 *             [--rate PPS] [--frag] [--kernel] [--label TEXT]
 *
 * --rate paces the bursts to about PPS frames a second (0, the default: as
 * fast as the socket takes them).
 *
 * Prints one JSON line: sent, send_errors, duration_s, rate_pps. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_FRAME 1514

typedef struct {
    const char *dev, *label;
    struct in_addr src, dst;
    uint8_t dstMac[6];
    uint16_t port;
    uint64_t count;
    double duration;
    uint64_t rate; /* frames/s, 0 = unpaced */
    unsigned size, batch;
    int frag, kernel;
} floodOpts;

static uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: xdp_flood --dev IF --src IP --dst IP [--dst-mac MAC] [--port N]\n"
                    "                 [--count N | --duration S] [--size BYTES] [--batch N]\n"
                    "                 [--rate PPS] [--frag] [--kernel] [--label TEXT]\n");
    exit(2);
}

static int testNet(struct in_addr a)
{
    return (ntohl(a.s_addr) >> 17) == (0xC6120000u >> 17); /* 198.18.0.0/15 */
}

static void parseArgs(int argc, char **argv, floodOpts *o)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},      {"src", required_argument, NULL, 's'},
        {"dst", required_argument, NULL, 't'},      {"dst-mac", required_argument, NULL, 'm'},
        {"port", required_argument, NULL, 'p'},     {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'D'}, {"size", required_argument, NULL, 'z'},
        {"batch", required_argument, NULL, 'b'},    {"frag", no_argument, NULL, 'f'},
        {"kernel", no_argument, NULL, 'k'},         {"rate", required_argument, NULL, 'r'},
        {"label", required_argument, NULL, 'l'},    {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    memset(o->dstMac, 0xff, 6);
    o->port = 9000;
    o->size = 64;
    o->batch = 64;
    o->label = "";
    int c, haveSrc = 0, haveDst = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->dev = optarg;
            break;
        case 's':
            haveSrc = inet_pton(AF_INET, optarg, &o->src) == 1;
            break;
        case 't':
            haveDst = inet_pton(AF_INET, optarg, &o->dst) == 1;
            break;
        case 'm':
            if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &o->dstMac[0], &o->dstMac[1],
                       &o->dstMac[2], &o->dstMac[3], &o->dstMac[4], &o->dstMac[5]) != 6)
                usage();
            break;
        case 'p':
            o->port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o->count = strtoull(optarg, NULL, 10);
            break;
        case 'D':
            o->duration = strtod(optarg, NULL);
            break;
        case 'z':
            o->size = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            o->batch = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            o->frag = 1;
            break;
        case 'k':
            o->kernel = 1;
            break;
        case 'r':
            o->rate = strtoull(optarg, NULL, 10);
            break;
        case 'l':
            o->label = optarg;
            break;
        default:
            usage();
        }
    }
    if (!haveSrc || !haveDst || (!o->kernel && !o->dev) || (!o->count && o->duration <= 0) ||
        o->size < 8 || o->size > MAX_FRAME - 42 || o->batch < 1 || o->batch > MAX_BATCH)
        usage();
    if (!testNet(o->dst) || !testNet(o->src)) {
        fprintf(stderr, "xdp_flood: only 198.18.0.0/15 addresses\n");
        exit(2);
    }
}

static uint16_t ipChecksum(const void *p, size_t n)
{
    const uint16_t *w = p;
    uint32_t sum = 0;
    for (size_t i = 0; i < n / 2; i++)
        sum += w[i];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 + UDP (checksum 0: none) + zero payload; returns length. */
static size_t buildFrame(const floodOpts *o, const uint8_t srcMac[6], uint8_t *f)
{
    struct ether_header *eth = (struct ether_header *)f;
    struct iphdr *ip = (struct iphdr *)(eth + 1);
    struct udphdr *udp = (struct udphdr *)(ip + 1);
    memset(f, 0, MAX_FRAME);
    memcpy(eth->ether_dhost, o->dstMac, 6);
    memcpy(eth->ether_shost, srcMac, 6);
    eth->ether_type = htons(ETHERTYPE_IP);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons((uint16_t)(20 + 8 + o->size));
    ip->frag_off = o->frag ? htons(IP_MF) : 0;
    ip->saddr = o->src.s_addr;
    ip->daddr = o->dst.s_addr;
    ip->check = ipChecksum(ip, 20);
    udp->source = htons(40000);
    udp->dest = htons(o->port);
    udp->len = htons((uint16_t)(8 + o->size));
    return sizeof *eth + 28 + o->size;
}

static int openRaw(const floodOpts *o, uint8_t *frame, size_t *len, struct sockaddr_ll *to)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    struct ifreq ifr;
    int one = 1;
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", o->dev);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    *len = buildFrame(o, (const uint8_t *)ifr.ifr_hwaddr.sa_data, frame);
    memset(to, 0, sizeof *to);
    to->sll_family = AF_PACKET;
    to->sll_ifindex = (int)if_nametoindex(o->dev);
    to->sll_halen = 6;
    memcpy(to->sll_addr, o->dstMac, 6);
    return fd;
}

static int openKernel(const floodOpts *o, struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr = o->src};
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) != 0)
        return -1;
    memset(to, 0, sizeof *to);
    to->sin_family = AF_INET;
    to->sin_addr = o->dst;
    to->sin_port = htons(o->port);
    return fd;
}

int main(int argc, char **argv)
{
    floodOpts o;
    static uint8_t frame[MAX_FRAME];
    static struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov;
    struct sockaddr_ll ll;
    struct sockaddr_in in;
    size_t len = 0;
    parseArgs(argc, argv, &o);
    int fd = o.kernel ? openKernel(&o, &in) : openRaw(&o, frame, &len, &ll);
    if (fd < 0) {
        fprintf(stderr, "xdp_flood: socket on %s: %s\n", o.dev ? o.dev : "udp", strerror(errno));
        return 1;
    }
    if (o.kernel) {
        len = o.size;
        iov = (struct iovec){frame + 42, len};
    } else {
        iov = (struct iovec){frame, len};
    }
    for (unsigned i = 0; i < o.batch; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = o.kernel ? (void *)&in : (void *)&ll;
        msgs[i].msg_hdr.msg_namelen = o.kernel ? sizeof in : sizeof ll;
    }
    uint64_t sent = 0, errors = 0, t0 = nowNs();
    uint64_t until = o.duration > 0 ? t0 + (uint64_t)(o.duration * 1e9) : UINT64_MAX;
    while ((!o.count || sent < o.count) && nowNs() < until) {
        unsigned n = o.batch;
        if (o.count && o.count - sent < n)
            n = (unsigned)(o.count - sent);
        if (o.rate) /* the schedule: frame k leaves at t0 + k/rate */
            while (nowNs() - t0 < sent * 1000000000ULL / o.rate)
                ;
        int r = sendmmsg(fd, msgs, n, 0);
        if (r > 0)
            sent += (uint64_t)r;
        else
            errors++;
    }
    double secs = (double)(nowNs() - t0) / 1e9;
    printf("{\"sent\":%llu,\"send_errors\":%llu,\"duration_s\":%.3f,\"rate_pps\":%.0f,"
           "\"frame_bytes\":%zu,\"mode\":\"%s\",\"label\":\"%s\"}\n",
           (unsigned long long)sent, (unsigned long long)errors, secs, secs > 0 ? sent / secs : 0,
           o.kernel ? len + 42 : len, o.kernel ? "kernel" : "raw", o.label);
    close(fd);
    return 0;
}
