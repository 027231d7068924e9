/*
 * udp_rtt_client -- ping-pong round-trip latency of a UDP echo service, measured
 * from an ordinary kernel socket (what a colocated client without DPDK sees).
 *
 * Sends one datagram (sequence number + send time), waits for it to come back,
 * records the round trip, repeats. Replies with another sequence number (late
 * ones after a timeout) are skipped. Prints one JSON line: percentiles in ns.
 *
 *   udp_rtt_client --server 198.18.0.1 [--port 9000] [--count 100000]
 *                  [--warmup 1000] [--size 64] [--timeout-ms 200]
 *                  [--interval-us 0] [--spin] [--cpu N] [--label TEXT]
 *
 * --spin polls the socket with MSG_DONTWAIT instead of sleeping in recv(),
 * trading a busy core for the wake-up latency.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD 1472                /* 1500 MTU - 20 IPv4 - 8 UDP */
#define MAGIC       0x58434847544152ULL /* "RATGHCX" */

struct probe {
    uint64_t magic;
    uint64_t seq;
    uint64_t sent_ns;
};

struct client_opts {
    const char *server;
    uint16_t port;
    uint32_t count;
    uint32_t warmup;
    uint32_t size;
    int timeout_ms;
    uint32_t interval_us;
    bool spin;
    int cpu;
    const char *label;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --server A.B.C.D [--port 9000] [--count 100000] [--warmup 1000]\n"
            "       [--size 64] [--timeout-ms 200] [--interval-us 0] [--spin] [--cpu N]\n"
            "       [--label TEXT]\n",
            prog);
}

static unsigned long parse_num(const char *prog, const char *name, const char *s, unsigned long lo,
                               unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "%s: bad value '%s' for --%s (%lu..%lu)\n", prog, s, name, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, struct client_opts *o)
{
    static const struct option longopts[] = {{"server", required_argument, NULL, 'S'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"warmup", required_argument, NULL, 'w'},
                                             {"size", required_argument, NULL, 's'},
                                             {"timeout-ms", required_argument, NULL, 't'},
                                             {"interval-us", required_argument, NULL, 'i'},
                                             {"spin", no_argument, NULL, 'P'},
                                             {"cpu", required_argument, NULL, 'c'},
                                             {"label", required_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'S':
            o->server = optarg;
            break;
        case 'p':
            o->port = (uint16_t)parse_num(argv[0], "port", optarg, 1, 65535);
            break;
        case 'n':
            o->count = (uint32_t)parse_num(argv[0], "count", optarg, 1, 100000000);
            break;
        case 'w':
            o->warmup = (uint32_t)parse_num(argv[0], "warmup", optarg, 0, 100000000);
            break;
        case 's':
            o->size =
                (uint32_t)parse_num(argv[0], "size", optarg, sizeof(struct probe), MAX_PAYLOAD);
            break;
        case 't':
            o->timeout_ms = (int)parse_num(argv[0], "timeout-ms", optarg, 1, 60000);
            break;
        case 'i':
            o->interval_us = (uint32_t)parse_num(argv[0], "interval-us", optarg, 0, 10000000);
            break;
        case 'P':
            o->spin = true;
            break;
        case 'c':
            o->cpu = (int)parse_num(argv[0], "cpu", optarg, 0, CPU_SETSIZE - 1);
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'h':
            usage(argv[0]);
            exit(0);
        default:
            usage(argv[0]);
            exit(2);
        }
    }
    if (o->server == NULL || optind != argc) {
        usage(argv[0]);
        exit(2);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n-1]. */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* Waits for the reply to seq. Returns its round trip in ns, or 0 on timeout. */
static uint64_t wait_reply(int fd, const struct client_opts *o, uint64_t seq, uint64_t *stale,
                           uint64_t *refused)
{
    char buf[MAX_PAYLOAD];
    const uint64_t deadline = now_ns() + (uint64_t)o->timeout_ms * 1000000ULL;

    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), o->spin ? MSG_DONTWAIT : 0);
        uint64_t t = now_ns();
        if (r < 0) {
            if (errno == ECONNREFUSED) { /* ICMP port unreachable: nobody listens */
                (*refused)++;
                return 0;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                perror("udp_rtt_client: recv");
                exit(1);
            }
            if (t >= deadline)
                return 0;
            continue;
        }
        struct probe pr;
        if ((size_t)r < sizeof(pr)) {
            (*stale)++;
            continue;
        }
        memcpy(&pr, buf, sizeof(pr));
        if (pr.magic != MAGIC || pr.seq != seq) {
            (*stale)++;
            continue;
        }
        return t - pr.sent_ns;
    }
}

int main(int argc, char **argv)
{
    struct client_opts o = {.port = 9000,
                            .count = 100000,
                            .warmup = 1000,
                            .size = 64,
                            .timeout_ms = 200,
                            .cpu = -1,
                            .label = ""};
    parse_args(argc, argv, &o);

    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            perror("udp_rtt_client: sched_setaffinity");
            return 1;
        }
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(o.port);
    if (inet_pton(AF_INET, o.server, &sa.sin_addr) != 1) {
        fprintf(stderr, "udp_rtt_client: bad IPv4 address '%s'\n", o.server);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_rtt_client: socket");
        return 1;
    }
    /* connect(): only the server's datagrams are delivered, and ICMP errors
     * (port unreachable) show up as ECONNREFUSED instead of silence. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("udp_rtt_client: connect");
        return 1;
    }
    if (!o.spin) {
        struct timeval tv = {.tv_sec = o.timeout_ms / 1000,
                             .tv_usec = (o.timeout_ms % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
            perror("udp_rtt_client: SO_RCVTIMEO");
            return 1;
        }
    }

    uint64_t *rtt = calloc(o.count, sizeof(*rtt));
    char *payload = calloc(1, o.size);
    if (rtt == NULL || payload == NULL) {
        fprintf(stderr, "udp_rtt_client: out of memory for %u samples\n", o.count);
        return 1;
    }

    uint64_t lost = 0, stale = 0, n = 0, refused = 0;
    const uint64_t total = (uint64_t)o.warmup + o.count;
    const uint64_t t_start = now_ns();
    for (uint64_t seq = 1; seq <= total; seq++) {
        struct probe pr = {.magic = MAGIC, .seq = seq, .sent_ns = now_ns()};
        memcpy(payload, &pr, sizeof(pr));
        if (send(fd, payload, o.size, 0) != (ssize_t)o.size) {
            if (errno == ECONNREFUSED) { /* ICMP port unreachable from an earlier probe */
                refused++;
                lost++;
                continue;
            }
            perror("udp_rtt_client: send");
            return 1;
        }
        uint64_t d = wait_reply(fd, &o, seq, &stale, &refused);
        if (d == 0) {
            lost++;
        } else if (seq > o.warmup) {
            rtt[n++] = d;
        }
        if (o.interval_us) {
            struct timespec ts = {.tv_sec = o.interval_us / 1000000,
                                  .tv_nsec = (long)(o.interval_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    const double secs = (double)(now_ns() - t_start) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    printf("{\"prog\":\"udp_rtt_client\",\"label\":\"%s\",\"server\":\"%s\",\"port\":%u,"
           "\"size\":%u,\"spin\":%s,\"warmup\":%u,\"samples\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"refused\":%" PRIu64 ",\"stale\":%" PRIu64
           ",\"seconds\":%.3f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f",
           o.label, o.server, o.port, o.size, o.spin ? "true" : "false", o.warmup, n, lost, refused,
           stale, secs, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    if (n > 0) {
        uint64_t sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += rtt[i];
        qsort(rtt, n, sizeof(*rtt), cmp_u64);
        printf(",\"min_ns\":%" PRIu64 ",\"mean_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64
               ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"p999_ns\":%" PRIu64
               ",\"max_ns\":%" PRIu64,
               rtt[0], sum / n, pct(rtt, n, 50), pct(rtt, n, 90), pct(rtt, n, 99),
               pct(rtt, n, 99.9), rtt[n - 1]);
    }
    printf("}\n");
    free(rtt);
    free(payload);
    close(fd);
    return n > 0 ? 0 : 1;
}
