/* xchg-client-example.c -- the smallest useful libxchg-client program.
 *
 * Usage:
 *   xchg-client-example --server IP [--port N] --session ID:TOKENHEX
 *                       [--instrument N] [--side buy|sell] [--price DEC] [--qty N]
 *                       [--tif gfd|ioc|gtc] [--wait-ms N]
 *
 * Logs on to one market segment, sends one limit order, prints every report
 * for --wait-ms milliseconds (default 2000; less if the order is finished
 * earlier), logs out. Exit status 0 when the order was accepted, 1 when it
 * was rejected or something failed, 2 for a usage error.
 *
 * Build against an installed library: cc example.c $(pkg-config --cflags
 * --libs xchg-client). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xchg/client.h"

static void usage(void)
{
    fprintf(stderr, "usage: xchg-client-example --server IP [--port N] --session ID:TOKENHEX\n"
                    "         [--instrument N] [--side buy|sell] [--price DEC] [--qty N]\n"
                    "         [--tif gfd|ioc|gtc] [--wait-ms N]\n");
}

int main(int argc, char **argv)
{
    const char *server = NULL;
    unsigned long port = 9000, waitMs = 2000;
    uint32_t sessionId = 0;
    uint8_t token[XOE_TOKEN_SIZE];
    xclOrder o;
    memset(&o, 0, sizeof o);
    o.price = 38000000; /* 3800 */
    o.qty = 1;
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"session", required_argument, NULL, 'S'},
                                         {"instrument", required_argument, NULL, 'i'},
                                         {"side", required_argument, NULL, 'd'},
                                         {"price", required_argument, NULL, 'P'},
                                         {"qty", required_argument, NULL, 'q'},
                                         {"tif", required_argument, NULL, 't'},
                                         {"wait-ms", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'p':
            port = strtoul(optarg, NULL, 10);
            break;
        case 'S':
            if (xclSessionParse(optarg, &sessionId, token) != XCL_OK) {
                fprintf(stderr, "--session: want ID:TOKENHEX (32 hex digits)\n");
                return 2;
            }
            break;
        case 'i':
            o.instrument = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            if (strcmp(optarg, "buy") == 0) {
                o.side = XOE_BUY;
            } else if (strcmp(optarg, "sell") == 0) {
                o.side = XOE_SELL;
            } else {
                fprintf(stderr, "--side: buy or sell\n");
                return 2;
            }
            break;
        case 'P': {
            const int rc = xclPriceParse(optarg, &o.price);
            if (rc != XCL_OK) {
                fprintf(stderr, "--price %s: %s\n", optarg, xclStrerror(rc));
                return 2;
            }
            break;
        }
        case 'q':
            o.qty = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            if (strcmp(optarg, "gfd") == 0) {
                o.timeCondition = XOE_GFD;
            } else if (strcmp(optarg, "ioc") == 0) {
                o.timeCondition = XOE_IOC;
            } else if (strcmp(optarg, "gtc") == 0) {
                o.timeCondition = XOE_GTC;
            } else {
                fprintf(stderr, "--tif: gfd, ioc or gtc\n");
                return 2;
            }
            break;
        case 'w':
            waitMs = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (server == NULL || sessionId == 0 || port == 0 || port > 65535 || o.qty == 0) {
        usage();
        return 2;
    }

    char err[256];
    xclSession *s = xclOpen(server, (uint16_t)port, sessionId, token, NULL, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "xclOpen: %s\n", err);
        return 1;
    }
    int rc = xclLogon(s, 1000, 5000);
    if (rc != XCL_OK) {
        fprintf(stderr, "logon: %s\n", xclLastError(s));
        xclClose(s);
        return 1;
    }
    xclInfo info;
    xclGetInfo(s, &info);
    printf("logged on: session %" PRIu32 ", segment %u, trading day %" PRIu32 ", heartbeat %" PRIu32
           " ms\n",
           sessionId, info.segment, info.tradingDay, info.heartbeatMs);

    uint64_t clOrdId = 0;
    rc = xclNewOrder(s, &o, &clOrdId);
    if (rc != XCL_OK) {
        fprintf(stderr, "NewOrder: %s\n", xclLastError(s));
        xclClose(s);
        return 1;
    }
    char price[XCL_PRICE_STRLEN];
    xclPriceFormat(o.price, price, sizeof price);
    printf("sent: clOrdId %" PRIu64 " %s %" PRIu32 " @ %s instrument %u\n", clOrdId,
           o.side == XOE_BUY ? "BUY" : "SELL", o.qty, price, o.instrument);

    int accepted = 0, done = 0;
    for (unsigned long waited = 0; waited < waitMs && !done; waited += 50) {
        xclReport r;
        while ((rc = xclPoll(s, 50, &r)) == 1) {
            char line[320];
            xclReportFormat(&r, line, sizeof line);
            printf("  %s\n", line);
            if (r.type == XOE_MSG_ACCEPTED && r.clOrdId == clOrdId)
                accepted = 1;
            else if (r.type == XOE_MSG_REJECTED && r.clOrdId == clOrdId)
                done = 1;
            else if (r.type == XOE_MSG_CANCELLED && r.clOrdId == clOrdId)
                done = 1;
            else if (r.type == XOE_MSG_EXECUTED && r.clOrdId == clOrdId &&
                     r.msg.u.executed.leaves == 0)
                done = 1;
            else if (r.type == XOE_MSG_LOGGED_OUT || r.type == XCL_RPT_SESSION_LOST)
                done = 1;
        }
        if (rc < 0) {
            fprintf(stderr, "poll: %s\n", xclLastError(s));
            break;
        }
    }
    xclGetInfo(s, &info);
    if (info.state == XCL_STATE_LOGGED_ON && xclLogout(s, 2000) == XCL_OK)
        printf("logged out\n");
    xclClose(s);
    return accepted ? 0 : 1;
}
