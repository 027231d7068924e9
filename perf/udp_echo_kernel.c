/*
 * udp_echo_kernel -- plain kernel-socket UDP echo server: the comparison point
 * for dpdk_echo (docs/dpdk-on-this-machine.md). Sends every datagram back to
 * its sender; prints one JSON line of counters when SIGINT/SIGTERM stops it.
 *
 *   udp_echo_kernel [--bind 198.18.0.1] [--port 9000] [--spin] [--cpu N]
 *
 * --spin polls with MSG_DONTWAIT instead of sleeping in recvfrom().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--bind A.B.C.D] [--port 9000] [--spin] [--cpu N]\n", prog);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bind", required_argument, NULL, 'b'}, {"port", required_argument, NULL, 'p'},
        {"spin", no_argument, NULL, 's'},       {"cpu", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *bind_addr = "0.0.0.0";
    long port = 9000, cpu = -1;
    bool spin = false;
    char *end;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            bind_addr = optarg;
            break;
        case 'p':
            port = strtol(optarg, &end, 10);
            if (*end != '\0' || port < 1 || port > 65535) {
                fprintf(stderr, "%s: bad port '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 's':
            spin = true;
            break;
        case 'c':
            cpu = strtol(optarg, &end, 10);
            if (*end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE) {
                fprintf(stderr, "%s: bad cpu '%s'\n", argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            usage(argv[0]);
            return 0;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        usage(argv[0]);
        return 2;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            perror("udp_echo_kernel: sched_setaffinity");
            return 1;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends a blocking recvfrom */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct sockaddr_in me;
    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    me.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &me.sin_addr) != 1) {
        fprintf(stderr, "udp_echo_kernel: bad IPv4 address '%s'\n", bind_addr);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp_echo_kernel: socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
        perror("udp_echo_kernel: bind");
        return 1;
    }
    printf("{\"prog\":\"udp_echo_kernel\",\"event\":\"ready\",\"bind\":\"%s\",\"port\":%ld}\n",
           bind_addr, port);
    fflush(stdout);

    uint64_t rx = 0, tx = 0, tx_err = 0;
    char buf[65536];
    while (!stop) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        ssize_t r = recvfrom(fd, buf, sizeof(buf), spin ? MSG_DONTWAIT : 0,
                             (struct sockaddr *)&peer, &plen);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            perror("udp_echo_kernel: recvfrom");
            return 1;
        }
        rx++;
        if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&peer, plen) == r)
            tx++;
        else
            tx_err++;
    }
    printf("{\"prog\":\"udp_echo_kernel\",\"rx\":%" PRIu64 ",\"tx\":%" PRIu64
           ",\"tx_errors\":%" PRIu64 "}\n",
           rx, tx, tx_err);
    close(fd);
    return 0;
}
