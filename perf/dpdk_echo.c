/*
 * dpdk_echo -- bare DPDK UDP reflector: the baseline the perf work compares the
 * dataplane against (docs/dpdk-on-this-machine.md).
 *
 * One port, one RX and one TX queue, one polling loop on the main lcore
 * (l3fwd style). It answers ARP requests for its own IPv4 address and sends
 * every UDP datagram addressed to that address back to its sender: MACs, IPs
 * and ports swapped, TTL reset, IPv4 header checksum recomputed. The UDP
 * checksum covers a pseudo-header whose sum does not change when source and
 * destination are swapped, so a valid incoming checksum stays valid and is
 * left alone. Everything else is counted and dropped. Once the port is up it
 * prints a JSON "ready" line on stdout; at exit (SIGINT or SIGTERM) one JSON
 * line of counters. EAL logs go to stderr.
 *
 * The counters include "in_box_latency", measured the way xchgd's worker
 * measures its own (dataplane/worker.c): for every burst that reflected
 * something, the TSC after the rx burst returned to just before the tx burst,
 * recorded once per reflected datagram in the same log-linear histogram
 * (dataplane/histogram.h), and "tx_call_latency", the tx burst call itself,
 * once per burst. On net_af_packet the tx burst is a sendto() that also runs
 * the veth and the receiving side's softirq, so tx_call_latency is the floor
 * any application pays on that path on top of its own in-box time.
 *
 *   dpdk_echo [EAL args] -- --ip A.B.C.D [--port N] [--burst N]
 *             [--idle poll|pause|sleep] [--spin-us N] [--sleep-us N]
 *             [--no-verify]
 *
 * e.g. dpdk_echo -l 1 --no-pci --in-memory --file-prefix echo0 \
 *        --vdev=net_af_packet0,iface=xchg0 -- --ip 198.18.0.1
 * (--no-huge -m 256 instead of --in-memory without hugepages).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "dataplane/histogram.h"

#define BURST_MAX  64
#define NB_MBUF    8191 /* 2^n - 1 is the optimum for the ring-backed mempool */
#define MBUF_CACHE 256
#define NB_RXD     1024
#define NB_TXD     1024
#define REPLY_TTL  64

enum idle_mode { IDLE_POLL, IDLE_PAUSE, IDLE_SLEEP };

struct echo_opts {
    uint32_t ip; /* network byte order */
    uint16_t port;
    uint16_t burst;
    enum idle_mode idle;
    uint32_t spin_us; /* IDLE_SLEEP: keep polling this long after the last packet */
    uint32_t sleep_us;
    bool verify; /* check IPv4 and UDP checksums of what comes in */
};

/* Written by the polling loop only; read after it has stopped. */
struct echo_stats {
    uint64_t polls;       /* rx bursts attempted */
    uint64_t empty_polls; /* ... that returned nothing */
    uint64_t idle_sleeps;
    uint64_t rx_pkts;
    uint64_t tx_pkts;
    uint64_t tx_dropped; /* not accepted by rte_eth_tx_burst */
    uint64_t udp_reflected;
    uint64_t arp_requests; /* for our address */
    uint64_t arp_ignored;  /* other ARP: not for us, replies, malformed */
    uint64_t ip_not_ours;  /* IPv4 to another destination (incl. broadcast, multicast) */
    uint64_t ip_fragments;
    uint64_t ip_bad;     /* short, bad version/IHL/length or header checksum */
    uint64_t ip_other;   /* IPv4 to us, not UDP (ICMP, TCP, ...) */
    uint64_t udp_bad;    /* short or bad UDP length */
    uint64_t udp_badsum; /* bad UDP checksum (see docs: veth TX checksum offload) */
    uint64_t multiseg;   /* chained mbufs (not expected with MTU 1500) */
    uint64_t other_ethertype;
    uint64_t runts;
    uint64_t busy_cycles; /* rx burst to tx burst of the bursts that reflected something */
    histLog in_box;       /* the same per reflected datagram, in ns */
    histLog tx_call;      /* rte_eth_tx_burst per burst, in ns */
} __rte_cache_aligned;

static volatile bool force_quit;
static struct echo_opts opts = {
    .port = 0, .burst = 32, .idle = IDLE_POLL, .spin_us = 200, .sleep_us = 50, .verify = true};
static struct echo_stats st;
static struct rte_ether_addr port_mac;
static bool promisc_set; /* we turned promiscuous mode on: turn it off at exit */

static void on_signal(int sig)
{
    (void)sig;
    force_quit = true;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [EAL args] -- --ip A.B.C.D [--port N] [--burst 1..%d]\n"
            "       [--idle poll|pause|sleep] [--spin-us N] [--sleep-us N] [--no-verify]\n"
            "  --ip         IPv4 address this reflector owns (answers ARP, reflects UDP)\n"
            "  --port       ethdev port id (default 0)\n"
            "  --burst      rx burst size (default 32)\n"
            "  --idle       what an empty poll does: poll (spin, default), pause\n"
            "               (rte_pause), sleep (when nothing came for --spin-us\n"
            "               microseconds, sleep --sleep-us microseconds per empty poll;\n"
            "               defaults 200 and 50)\n"
            "  --no-verify  do not check incoming IPv4/UDP checksums\n",
            prog, BURST_MAX);
}

static unsigned long parse_num(const char *prog, const char *name, const char *s, unsigned long lo,
                               unsigned long hi)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad value '%s' for --%s (%lu..%lu)\n", prog, s, name, lo, hi);
        usage(prog);
        exit(EXIT_FAILURE);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {{"ip", required_argument, NULL, 'i'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"burst", required_argument, NULL, 'b'},
                                             {"idle", required_argument, NULL, 'd'},
                                             {"spin-us", required_argument, NULL, 'n'},
                                             {"sleep-us", required_argument, NULL, 's'},
                                             {"no-verify", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *prog = argv[0];
    bool have_ip = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1) {
                fprintf(stderr, "%s: bad IPv4 address '%s'\n", prog, optarg);
                exit(EXIT_FAILURE);
            }
            opts.ip = a.s_addr;
            have_ip = true;
            break;
        }
        case 'p':
            opts.port = (uint16_t)parse_num(prog, "port", optarg, 0, RTE_MAX_ETHPORTS - 1);
            break;
        case 'b':
            opts.burst = (uint16_t)parse_num(prog, "burst", optarg, 1, BURST_MAX);
            break;
        case 'd':
            if (strcmp(optarg, "poll") == 0) {
                opts.idle = IDLE_POLL;
            } else if (strcmp(optarg, "pause") == 0) {
                opts.idle = IDLE_PAUSE;
            } else if (strcmp(optarg, "sleep") == 0) {
                opts.idle = IDLE_SLEEP;
            } else {
                fprintf(stderr, "%s: --idle must be poll, pause or sleep\n", prog);
                exit(EXIT_FAILURE);
            }
            break;
        case 'n':
            opts.spin_us = (uint32_t)parse_num(prog, "spin-us", optarg, 0, 10000000);
            break;
        case 's':
            opts.sleep_us = (uint32_t)parse_num(prog, "sleep-us", optarg, 1, 1000000);
            break;
        case 'v':
            opts.verify = false;
            break;
        case 'h':
            usage(prog);
            exit(EXIT_SUCCESS);
        default:
            usage(prog);
            exit(EXIT_FAILURE);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        usage(prog);
        exit(EXIT_FAILURE);
    }
    if (!have_ip) {
        fprintf(stderr, "%s: --ip is required\n", prog);
        usage(prog);
        exit(EXIT_FAILURE);
    }
}

static struct rte_mempool *port_init(uint16_t port)
{
    struct rte_eth_conf conf;
    struct rte_eth_dev_info info;
    struct rte_eth_rxconf rxconf;
    struct rte_eth_txconf txconf;
    uint16_t nb_rxd = NB_RXD, nb_txd = NB_TXD;
    int socket, ret;

    if (!rte_eth_dev_is_valid_port(port))
        rte_exit(EXIT_FAILURE,
                 "port %u does not exist (%u ports; did the --vdev PMD load and probe?)\n", port,
                 rte_eth_dev_count_avail());
    socket = rte_eth_dev_socket_id(port);
    if (socket < 0)
        socket = (int)rte_socket_id();

    struct rte_mempool *pool = rte_pktmbuf_pool_create("echo_mbufs", NB_MBUF, MBUF_CACHE, 0,
                                                       RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (pool == NULL)
        rte_exit(EXIT_FAILURE, "rte_pktmbuf_pool_create(%u mbufs): %s\n", NB_MBUF,
                 rte_strerror(rte_errno));

    ret = rte_eth_dev_info_get(port, &info);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_info_get(port %u): %s\n", port, rte_strerror(-ret));

    memset(&conf, 0, sizeof(conf));
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    ret = rte_eth_dev_configure(port, 1, 1, &conf);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_configure(port %u, 1 rxq, 1 txq): %s\n", port,
                 rte_strerror(-ret));
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_adjust_nb_rx_tx_desc(port %u): %s\n", port,
                 rte_strerror(-ret));

    rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    ret = rte_eth_rx_queue_setup(port, 0, nb_rxd, (unsigned)socket, &rxconf, pool);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_rx_queue_setup(port %u, %u descriptors): %s\n", port,
                 nb_rxd, rte_strerror(-ret));
    txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    ret = rte_eth_tx_queue_setup(port, 0, nb_txd, (unsigned)socket, &txconf);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_tx_queue_setup(port %u, %u descriptors): %s\n", port,
                 nb_txd, rte_strerror(-ret));

    ret = rte_eth_dev_start(port);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_start(port %u): %s\n", port, rte_strerror(-ret));
    ret = rte_eth_macaddr_get(port, &port_mac);
    if (ret != 0)
        rte_exit(EXIT_FAILURE, "rte_eth_macaddr_get(port %u): %s\n", port, rte_strerror(-ret));
    /* Frames come to our MAC (we answer ARP with it); promiscuous mode only
     * helps when a peer uses a stale MAC, so a PMD without it is fine. */
    if (rte_eth_promiscuous_get(port) != 1) {
        ret = rte_eth_promiscuous_enable(port);
        if (ret != 0)
            fprintf(stderr, "dpdk_echo: note: promiscuous mode on port %u: %s\n", port,
                    rte_strerror(-ret));
        else
            promisc_set = true;
    }
    return pool;
}

/* IPv4 header: valid when its ones' complement sum is 0xffff. */
static inline bool ipv4_hdr_ok(const struct rte_ipv4_hdr *ip, unsigned ihl)
{
    return rte_raw_cksum(ip, ihl) == 0xffff;
}

/* UDP over IPv4: the sum of pseudo-header, header and payload is 0xffff. */
static inline bool udp_cksum_ok(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp,
                                unsigned len)
{
    uint32_t sum = rte_ipv4_phdr_cksum(ip, 0);
    sum += rte_raw_cksum(udp, len);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* ARP request for our address: turn it into the reply in place. */
static inline bool handle_arp(struct rte_mbuf *m, struct rte_ether_hdr *eth)
{
    struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

    if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
        arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != sizeof(uint32_t) ||
        arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
        arp->arp_data.arp_tip != opts.ip) {
        st.arp_ignored++;
        return false;
    }
    st.arp_requests++;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    arp->arp_data.arp_sha = port_mac;
    arp->arp_data.arp_sip = opts.ip;
    eth->dst_addr = eth->src_addr;
    eth->src_addr = port_mac;
    return true;
}

/* Returns true when m was rewritten and must be transmitted. */
static inline bool handle_pkt(struct rte_mbuf *m)
{
    struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

    if (unlikely(m->nb_segs != 1)) {
        st.multiseg++;
        return false;
    }
    if (unlikely(m->data_len < sizeof(*eth))) {
        st.runts++;
        return false;
    }
    if (unlikely(eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))) {
        if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
            return handle_arp(m, eth);
        st.other_ethertype++;
        return false;
    }

    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    unsigned l3len = m->data_len - (unsigned)sizeof(*eth);
    if (unlikely(l3len < sizeof(*ip))) {
        st.ip_bad++;
        return false;
    }
    unsigned ihl = (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
    unsigned tot = rte_be_to_cpu_16(ip->total_length);
    if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl + 8 || tot > l3len ||
                 (opts.verify && !ipv4_hdr_ok(ip, ihl)))) {
        st.ip_bad++;
        return false;
    }
    if (unlikely(ip->dst_addr != opts.ip)) {
        st.ip_not_ours++;
        return false;
    }
    if (unlikely(ip->fragment_offset &
                 rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
        st.ip_fragments++;
        return false;
    }
    if (unlikely(ip->next_proto_id != IPPROTO_UDP)) {
        st.ip_other++;
        return false;
    }

    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((char *)ip + ihl);
    unsigned ulen = rte_be_to_cpu_16(udp->dgram_len);
    if (unlikely(ulen < sizeof(*udp) || ulen > tot - ihl)) {
        st.udp_bad++;
        return false;
    }
    if (unlikely(opts.verify && udp->dgram_cksum != 0 && !udp_cksum_ok(ip, udp, ulen))) {
        st.udp_badsum++;
        return false;
    }

    /* Reflect. Swapping addresses and ports keeps the UDP checksum valid. */
    eth->dst_addr = eth->src_addr;
    eth->src_addr = port_mac;
    uint32_t a = ip->src_addr;
    ip->src_addr = ip->dst_addr;
    ip->dst_addr = a;
    ip->time_to_live = REPLY_TTL;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    uint16_t p = udp->src_port;
    udp->src_port = udp->dst_port;
    udp->dst_port = p;
    /* Trailing Ethernet padding is not ours to send back. */
    m->pkt_len = (uint32_t)sizeof(*eth) + tot;
    m->data_len = (uint16_t)m->pkt_len;
    st.udp_reflected++;
    return true;
}

static void echo_loop(void)
{
    struct rte_mbuf *rx[BURST_MAX];
    struct rte_mbuf *tx[BURST_MAX];
    const uint16_t port = opts.port;
    const uint16_t burst = opts.burst;
    const uint64_t spin_cycles = (uint64_t)opts.spin_us * rte_get_tsc_hz() / 1000000;
    uint64_t idle_since = 0; /* TSC of the first empty poll in a row, 0 while busy */
    const uint64_t tsc_hz = rte_get_tsc_hz();

    while (!force_quit) {
        st.polls++;
        const uint64_t t = rte_rdtsc();
        const uint16_t nb_rx = rte_eth_rx_burst(port, 0, rx, burst);
        if (nb_rx == 0) {
            st.empty_polls++;
            if (opts.idle == IDLE_PAUSE) {
                rte_pause();
            } else if (opts.idle == IDLE_SLEEP) {
                const uint64_t now = rte_rdtsc();
                if (idle_since == 0) {
                    idle_since = now;
                } else if (now - idle_since >= spin_cycles) {
                    st.idle_sleeps++;
                    rte_delay_us_sleep(opts.sleep_us);
                }
            }
            continue;
        }
        idle_since = 0;
        const uint64_t rx_tsc = rte_rdtsc();
        st.rx_pkts += nb_rx;

        uint16_t nb_tx = 0;
        rte_prefetch0(rte_pktmbuf_mtod(rx[0], void *));
        for (uint16_t i = 0; i < nb_rx; i++) {
            if (likely(i + 1 < nb_rx))
                rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
            if (likely(handle_pkt(rx[i])))
                tx[nb_tx++] = rx[i];
            else
                rte_pktmbuf_free(rx[i]);
        }
        if (nb_tx == 0)
            continue;
        const uint64_t ready = rte_rdtsc();
        const uint16_t sent = rte_eth_tx_burst(port, 0, tx, nb_tx);
        st.tx_pkts += sent;
        if (unlikely(sent < nb_tx)) {
            st.tx_dropped += (uint64_t)(nb_tx - sent);
            rte_pktmbuf_free_bulk(&tx[sent], nb_tx - sent);
        }
        const uint64_t done = rte_rdtsc();
        st.busy_cycles += done - t;
        histRecord(&st.in_box, (ready - rx_tsc) * 1000000000ULL / tsc_hz, nb_tx);
        histRecord(&st.tx_call, (done - ready) * 1000000000ULL / tsc_hz, 1);
    }
}

static void print_stats(double seconds)
{
    struct rte_eth_stats es;
    char ip[INET_ADDRSTRLEN];
    char mac[RTE_ETHER_ADDR_FMT_SIZE];

    memset(&es, 0, sizeof(es));
    rte_eth_stats_get(opts.port, &es);
    const double cycles = seconds * (double)rte_get_tsc_hz();
    const uint64_t busy_permille =
        cycles > 0 ? (uint64_t)((double)st.busy_cycles * 1000.0 / cycles) : 0;
    inet_ntop(AF_INET, &opts.ip, ip, sizeof(ip));
    rte_ether_format_addr(mac, sizeof(mac), &port_mac);
    printf("{\"prog\":\"dpdk_echo\",\"ip\":\"%s\",\"mac\":\"%s\",\"port\":%u,\"lcore\":%u,"
           "\"seconds\":%.3f,\"polls\":%" PRIu64 ",\"empty_polls\":%" PRIu64
           ",\"idle_sleeps\":%" PRIu64 ",\"rx_pkts\":%" PRIu64 ",\"tx_pkts\":%" PRIu64
           ",\"tx_dropped\":%" PRIu64 ",\"udp_reflected\":%" PRIu64 ",\"arp_requests\":%" PRIu64
           ",\"arp_ignored\":%" PRIu64 ",\"ip_not_ours\":%" PRIu64 ",\"ip_fragments\":%" PRIu64
           ",\"ip_bad\":%" PRIu64 ",\"ip_other\":%" PRIu64 ",\"udp_bad\":%" PRIu64
           ",\"udp_badsum\":%" PRIu64 ",\"multiseg\":%" PRIu64 ",\"other_ethertype\":%" PRIu64
           ",\"runts\":%" PRIu64 ",\"eth\":{\"ipackets\":%" PRIu64 ",\"opackets\":%" PRIu64
           ",\"ibytes\":%" PRIu64 ",\"obytes\":%" PRIu64 ",\"imissed\":%" PRIu64
           ",\"ierrors\":%" PRIu64 ",\"oerrors\":%" PRIu64 ",\"rx_nombuf\":%" PRIu64 "}"
           ",\"busy_permille\":%" PRIu64 ",\"in_box_latency\":{\"count\":%" PRIu64
           ",\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
           ",\"p999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64
           "},\"tx_call_latency\":{\"count\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64
           ",\"p99_ns\":%" PRIu64 ",\"p999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}}\n",
           ip, mac, opts.port, rte_lcore_id(), seconds, st.polls, st.empty_polls, st.idle_sleeps,
           st.rx_pkts, st.tx_pkts, st.tx_dropped, st.udp_reflected, st.arp_requests, st.arp_ignored,
           st.ip_not_ours, st.ip_fragments, st.ip_bad, st.ip_other, st.udp_bad, st.udp_badsum,
           st.multiseg, st.other_ethertype, st.runts, es.ipackets, es.opackets, es.ibytes,
           es.obytes, es.imissed, es.ierrors, es.oerrors, es.rx_nombuf, busy_permille,
           st.in_box.total, histQuantile(&st.in_box, 1, 2), histQuantile(&st.in_box, 9, 10),
           histQuantile(&st.in_box, 99, 100), histQuantile(&st.in_box, 999, 1000), st.in_box.max,
           st.tx_call.total, histQuantile(&st.tx_call, 1, 2), histQuantile(&st.tx_call, 9, 10),
           histQuantile(&st.tx_call, 99, 100), histQuantile(&st.tx_call, 999, 1000),
           st.tx_call.max);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    char ip[INET_ADDRSTRLEN];
    char mac[RTE_ETHER_ADDR_FMT_SIZE];

    /* EAL and PMD logs to stderr only (by default they also go to syslog);
     * stdout carries only our JSON lines. */
    rte_openlog_stream(stderr);
    int ret = rte_eal_init(argc, argv);
    if (ret < 0)
        rte_exit(EXIT_FAILURE, "rte_eal_init failed: %s (see the EAL messages above)\n",
                 rte_errno ? rte_strerror(rte_errno) : "no reason given");
    argv[ret] = argv[0];
    parse_args(argc - ret, argv + ret);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        rte_exit(EXIT_FAILURE, "sigaction: cannot install SIGINT/SIGTERM handlers\n");

    port_init(opts.port);
    /* A sleeping poller wakes up to 50 us late by default (the timer slack of
     * normal threads); with slack 1 ns it wakes when asked. */
    if (opts.idle == IDLE_SLEEP && prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) != 0)
        fprintf(stderr, "dpdk_echo: note: PR_SET_TIMERSLACK failed; sleeps may overshoot\n");

    struct rte_eth_link link;
    memset(&link, 0, sizeof(link));
    rte_eth_link_get_nowait(opts.port, &link);
    inet_ntop(AF_INET, &opts.ip, ip, sizeof(ip));
    rte_ether_format_addr(mac, sizeof(mac), &port_mac);
    printf("{\"prog\":\"dpdk_echo\",\"event\":\"ready\",\"ip\":\"%s\",\"mac\":\"%s\",\"port\":%u,"
           "\"lcore\":%u,\"link_up\":%s,\"tsc_hz\":%" PRIu64 "}\n",
           ip, mac, opts.port, rte_lcore_id(), link.link_status ? "true" : "false",
           rte_get_tsc_hz());
    fflush(stdout);

    const uint64_t t0 = rte_get_tsc_cycles();
    echo_loop();
    const double seconds = (double)(rte_get_tsc_cycles() - t0) / (double)rte_get_tsc_hz();

    print_stats(seconds);
    /* net_af_packet leaves IFF_PROMISC on the kernel interface otherwise. */
    if (promisc_set)
        rte_eth_promiscuous_disable(opts.port);
    ret = rte_eth_dev_stop(opts.port);
    if (ret != 0)
        fprintf(stderr, "dpdk_echo: rte_eth_dev_stop(port %u): %s\n", opts.port,
                rte_strerror(-ret));
    rte_eth_dev_close(opts.port);
    rte_eal_cleanup();
    return 0;
}
