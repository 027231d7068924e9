/* client.h -- libxchg-client: XOE order entry over ordinary UDP sockets (no DPDK).
 *
 * One xclSession is one XOE session (docs/protocol/xoe.md) on one market
 * segment: a UDP socket connected to the segment's order-entry port, the
 * two sequence numbers, the requests not yet answered and the reports not
 * yet read. The library does the session bookkeeping the spec asks of a
 * client:
 *
 *   - logon with retries, and resumption of both sequences on a later logon
 *     (the Logon asks xchg to replay what was missed, §8.1);
 *   - reports handed out strictly in xchg's order: duplicates (numbers
 *     already seen) are dropped, reports after a hole are held and the hole
 *     is asked for with a RetransmitRequest (§7.2), again after
 *     `retransmitMs` if it stays open;
 *   - requests kept until their direct answer arrives and sent again, with
 *     the same numbers, when xchg reports a gap (SessionReject GAP) or a new
 *     logon shows it did not get them (§7.1), so nothing is lost and nothing
 *     executes twice;
 *   - Heartbeats when nothing was sent for one interval; a session silent
 *     for 3 intervals is reported lost (§8.3);
 *   - optional batching: several requests in one datagram.
 *
 * Threads and time: nothing runs in the background. The library acts only
 * inside its calls, so call xclPoll (or xclService) at least every half
 * heartbeat interval; xclFd and xclNextTimeoutMs fit it into a poll/epoll
 * loop. A session is not thread-safe: use it from one thread at a time;
 * distinct sessions are independent.
 *
 * Numbers: prices are int64 in 1e-4 currency units (3800.2 is 38002000),
 * quantities uint32 lots; xclPriceParse / xclPriceFormat convert decimal
 * strings exactly with integer arithmetic. Enumerated fields take the wire
 * values of xoe.h (XOE_BUY, XOE_GFD, ...), and reports carry the decoded
 * message as xoe.h's xoeMsg.
 *
 * Errors: functions returning int give 0 (or a count) on success and a
 * negative xclError on failure; xclStrerror names it and xclLastError gives
 * the session's last detailed message. Build: pkg-config xchg-client. */
#ifndef XCHG_CLIENT_H
#define XCHG_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "xoe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------------- */

typedef enum {
    XCL_OK = 0,
    XCL_EINVAL = -1,    /* bad argument (NULL, out-of-range enum, zero quantity, ...) */
    XCL_ESTATE = -2,    /* not allowed in the session's state (e.g. not logged on) */
    XCL_EAGAIN = -3,    /* `window` requests unanswered: poll for answers, then retry */
    XCL_ETIMEOUT = -4,  /* no answer within the time given */
    XCL_EREJECTED = -5, /* logon rejected by xchg: xclInfo.lastRejectCode says why */
    XCL_ESYS = -6,      /* a system call failed; errno is kept */
    XCL_ENOMEM = -7,    /* out of memory */
    XCL_ESYNTAX = -8,   /* not a decimal number / not hex */
    XCL_EDECIMALS = -9, /* more than 4 decimals */
    XCL_ERANGE = -10    /* does not fit int64 */
} xclError;

/* Short description of an xclError ("not logged on", ...). Static storage,
 * never NULL. */
const char *xclStrerror(int err);

/* Short English meaning of an XOE reject code ("insufficient funds" for
 * 1001, "throttled" for 9004, ...), "unknown code" otherwise. Static
 * storage, never NULL. */
const char *xclCodeName(unsigned code);

/* ---- prices and tokens ------------------------------------------------------ */

#define XCL_PRICE_SCALE  10000 /* price units per currency unit */
#define XCL_PRICE_STRLEN 24    /* buffer that holds any formatted price, NUL included */

/* Parses a decimal price "[-]digits[.digits]" with at most 4 decimals into
 * 1e-4 units, exactly: "3800.2" -> 38002000, "-0.0001" -> -1, "7" -> 70000.
 * Refuses (returning the error, *out untouched): NULL or empty strings,
 * spaces, "+", "1.", ".5", exponents, any other character (XCL_ESYNTAX);
 * more than 4 decimals, even zeros ("1.00000") (XCL_EDECIMALS); values
 * outside int64 (XCL_ERANGE). Returns XCL_OK. */
int xclPriceParse(const char *s, int64_t *out);

/* Writes `price` (1e-4 units) as the shortest exact decimal: 38002000 ->
 * "3800.2", 70000 -> "7", -1 -> "-0.0001"; xclPriceParse reads it back to
 * the same value. Returns the length of the full text (as snprintf does);
 * the output is truncated but NUL-terminated when len is too small
 * (XCL_PRICE_STRLEN always suffices); nothing is written when len is 0. */
int xclPriceFormat(int64_t price, char *buf, size_t len);

/* Parses a 16-byte logon token written as 32 hex digits (either case, no
 * separators). Returns XCL_OK, or XCL_ESYNTAX with token untouched. */
int xclTokenParse(const char *hex, uint8_t token[XOE_TOKEN_SIZE]);

/* Parses a session given as "ID:TOKENHEX" (decimal id 1..4294967295, a
 * colon, 32 hex digits), as tools take it on the command line. Returns
 * XCL_OK, or XCL_ESYNTAX with the outputs untouched. */
int xclSessionParse(const char *spec, uint32_t *sessionId, uint8_t token[XOE_TOKEN_SIZE]);

/* ---- sessions ---------------------------------------------------------------- */

typedef struct xclSession xclSession;

/* Options of xclOpen. A zeroed struct (or NULL) gives the defaults. */
typedef struct {
    const char *localIp;   /* IPv4 address to bind; NULL = any */
    uint16_t localPort;    /* UDP port to bind; 0 = ephemeral */
    int batch;             /* 0: each request is sent at once. 1: requests are queued and
                              sent together by xclFlush, xclPoll, xclService or xclLogout,
                              or when the next one would not fit the 1472-byte frame */
    uint64_t firstClOrdId; /* first automatic client order id; 0 = 1 */
    uint64_t nextInSeq;    /* resuming a session: number our next application message
                              carries; 0 = 1. LogonAccepted corrects it anyway */
    uint64_t nextOutSeq;   /* resuming a session: first xchg->client number wanted at the
                              first logon (xchg replays from there); 0 = no replay, start
                              at xchg's next number */
    uint32_t window;       /* reports held (out of order or unread) and requests kept
                              unanswered, each; rounded up to a power of two; 0 = 4096 */
    uint32_t retransmitMs; /* how long a RetransmitRequest or a resend after a gap is
                              given before it is repeated; 0 = 200 */
    uint32_t logonRetryMs; /* Logon and Logout repeated after this long unanswered;
                              0 = 1100 (xchg evaluates one Logon per second per session:
                              a quicker repeat only helps when the Logon itself was lost) */
    int rcvbuf;            /* SO_RCVBUF in bytes; 0 = system default */
} xclOptions;

/* Session states (xclInfo.state). */
typedef enum {
    XCL_STATE_LOGGED_OUT = 0, /* opened, or logged out, rejected, lost: xclLogon may be called */
    XCL_STATE_LOGGING_ON = 1, /* inside xclLogon */
    XCL_STATE_LOGGED_ON = 2
} xclState;

/* Opens a session: creates a UDP socket, binds it (opt->localIp/localPort,
 * else any address and an ephemeral port) and connects it to serverIp:port
 * (dotted IPv4), so only that address's datagrams are received. Sends
 * nothing: log on with xclLogon. The token is copied.
 * Returns the session, which the caller frees with xclClose; or NULL with a
 * NUL-terminated reason in err (when errlen > 0): bad address, bad option,
 * socket error, out of memory. */
xclSession *xclOpen(const char *serverIp, uint16_t port, uint32_t sessionId,
                    const uint8_t token[XOE_TOKEN_SIZE], const xclOptions *opt, char *err,
                    size_t errlen);

/* Closes the socket and frees the session, its queued requests and unread
 * reports. Sends nothing (call xclLogout first to end the session cleanly;
 * otherwise xchg times it out). NULL is a no-op. */
void xclClose(xclSession *s);

/* Logs on and waits for the answer, repeating the Logon every logonRetryMs,
 * for at most timeoutMs (< 0: no limit). heartbeatMs is the interval asked
 * for (0 = xchg's default 1000; xchg clamps to 100..60000 and the granted
 * value is in xclInfo.heartbeatMs). The Logon carries the number of our
 * next request and asks for a replay of every report from the first one
 * not yet received (or opt->nextOutSeq at the first logon), so a session
 * that was logged out or lost resumes where it was: replayed reports come
 * out of xclPoll in order, and requests xchg had not received are sent
 * again with the numbers it expects.
 * Allowed in every state (a Logon while logged on is answered again).
 * Reports arriving meanwhile are kept for xclPoll, except LoggedOut and
 * SessionReject{NOT_LOGGED_ON}: they concern the binding before this logon
 * (e.g. xchg timing out a session whose LogonAccepted was lost) and are
 * dropped (xclInfo.staleDropped).
 * Returns XCL_OK (logged on); XCL_EREJECTED (LogonRejected; the code is in
 * xclInfo.lastRejectCode: 9001 bad session or token, 9005 not accepting
 * logons, 1006, 1008 ...); XCL_ETIMEOUT; XCL_ESYS; XCL_EINVAL. On failure
 * the state is XCL_STATE_LOGGED_OUT. */
int xclLogon(xclSession *s, uint32_t heartbeatMs, int timeoutMs);

/* Sends any queued batch, then Logout, and waits up to timeoutMs (< 0: no
 * limit) for LoggedOut, repeating the Logout every logonRetryMs. Reports
 * arriving meanwhile (LoggedOut included) are kept for xclPoll. When the
 * LoggedOut is lost, xchg answers the repeated Logout with
 * SessionReject{NOT_LOGGED_ON}: that also ends the wait (and is not
 * reported). Orders stay in the book (XOE has no cancel on disconnect). The
 * session can log on again with xclLogon. Returns XCL_OK; XCL_ETIMEOUT;
 * XCL_ESTATE when not logged on; XCL_ESYS. Afterwards the state is
 * XCL_STATE_LOGGED_OUT whatever the result. */
int xclLogout(xclSession *s, int timeoutMs);

/* ---- requests ---------------------------------------------------------------- */

/* A new order. Zeroed fields mean BUY, OPEN, LIMIT, GFD, ANY. */
typedef struct {
    uint16_t instrument;     /* instrument index in the segment */
    uint8_t side;            /* XOE_BUY, XOE_SELL */
    uint8_t offset;          /* XOE_OPEN, XOE_CLOSE, XOE_CLOSE_TODAY, XOE_CLOSE_YESTERDAY */
    uint8_t priceType;       /* XOE_LIMIT, XOE_MARKET */
    uint8_t timeCondition;   /* XOE_GFD, XOE_IOC, XOE_GTC */
    uint8_t volumeCondition; /* XOE_VOL_ANY, XOE_VOL_MIN, XOE_VOL_ALL */
    int64_t price;           /* 1e-4 units; send 0 for MARKET */
    uint32_t qty;            /* lots, > 0 */
    uint32_t minQty;         /* XOE_VOL_MIN: 1..qty; otherwise 0 */
    uint64_t clOrdId;        /* 0: the library assigns the next automatic id */
} xclOrder;

/* Sends (or, with `batch`, queues) a NewOrder. The answer is Accepted or
 * Rejected, then what the order does at once (Executed, Cancelled).
 * *clOrdIdOut (if not NULL) receives the client order id used.
 * Returns XCL_OK once the request is sent or queued: from then on the
 * library owns its delivery and keeps it until answered (a datagram the
 * socket refuses counts as lost, in xclInfo.sendErrors and xclLastError,
 * and is sent again when xchg reports the gap, within one heartbeat
 * interval). XCL_EINVAL (NULL, bad enum, qty 0); XCL_ESTATE (not logged
 * on); XCL_EAGAIN (window full). On an error nothing is queued and no
 * automatic id is used up. */
int xclNewOrder(xclSession *s, const xclOrder *o, uint64_t *clOrdIdOut);

/* Sends (or queues) a Cancel of xchg's order `orderId` (from Accepted).
 * clOrdId identifies this request (0: automatic), *clOrdIdOut gets it.
 * Answer: Cancelled (carrying the ORDER's client id) or CancelRejected
 * (carrying this request's). Returns as xclNewOrder. */
int xclCancel(xclSession *s, uint64_t orderId, uint64_t clOrdId, uint64_t *clOrdIdOut);

/* Sends (or queues) a Replace of order `orderId`: new limit price (1e-4
 * units; the current one to change only the quantity) and new TOTAL
 * quantity (filled lots included). clOrdId becomes the order's client id
 * (0: automatic), *clOrdIdOut gets it. Answer: Replaced (then any Executed)
 * or CancelRejected. Returns as xclNewOrder. */
int xclReplace(xclSession *s, uint64_t orderId, int64_t price, uint32_t qty, uint64_t clOrdId,
               uint64_t *clOrdIdOut);

/* Sends the queued batch, if any, as one datagram. Harmless without
 * `batch` or with nothing queued. Returns XCL_OK, or XCL_ESYS when the
 * socket refused the datagram (the requests are kept and sent again when
 * xchg reports the gap). */
int xclFlush(xclSession *s);

/* ---- reports ----------------------------------------------------------------- */

/* Report types beyond XOE's message types:
 *   XCL_RPT_LOST          reports lostFrom .. lostFrom + lostCount - 1 have left
 *                         xchg's history (RetransmitEnd TOO_OLD) and cannot be had
 *                         over XOE: get the orders' state from the control plane;
 *   XCL_RPT_SESSION_LOST  nothing from xchg for 3 heartbeat intervals: the
 *                         session is considered lost (state LOGGED_OUT); call
 *                         xclLogon again. */
#define XCL_RPT_LOST         0x100
#define XCL_RPT_SESSION_LOST 0x101

typedef struct {
    /* XOE_MSG_ACCEPTED, _REJECTED, _EXECUTED, _CANCELLED, _REPLACED,
     * _CANCEL_REJECTED, any other type >= 0x90 (an application message this
     * version does not know, msg.known = 0), XOE_MSG_LOGGED_OUT,
     * XOE_MSG_SESSION_REJECT (reasons MALFORMED, DUPLICATE_EXPIRED,
     * NOT_LOGGED_ON; GAP is handled inside), or XCL_RPT_*. */
    int type;
    int retransmitted;            /* 1: it came in a RETRANSMIT frame (replay or resend) */
    uint64_t seq;                 /* xchg->client number of an application message, else 0 */
    uint64_t clOrdId;             /* application messages: the client id at offset 8 (for Cancelled
                                     and Executed the order's current one), else 0 */
    uint64_t rxNs;                /* CLOCK_MONOTONIC time the datagram was read */
    uint64_t lostFrom, lostCount; /* XCL_RPT_LOST */
    xoeMsg msg; /* the decoded message (msg.u.executed, ...); zero for XCL_RPT_* */
} xclReport;

/* Returns the next report, in xchg's order, waiting up to timeoutMs for one
 * (0: do not wait, < 0: no limit). Each call first sends any queued batch,
 * reads what arrived, asks for missing reports, resends what xchg did not
 * get and sends a heartbeat when due.
 * Returns 1 with *out filled; 0 if none came in time; XCL_ESYS; XCL_EINVAL.
 * LoggedOut, SessionReject{NOT_LOGGED_ON} and XCL_RPT_SESSION_LOST end a
 * logged-on session (state XCL_STATE_LOGGED_OUT) and are reported once,
 * then; when the session is not logged on (or is logging out) they are
 * about an earlier binding or repeats, and are dropped and counted in
 * xclInfo.staleDropped. */
int xclPoll(xclSession *s, int timeoutMs, xclReport *out);

/* xclPoll without taking a report: sends the batch, reads, does the timed
 * duties. Returns the number of reports ready (>= 0) or XCL_ESYS. */
int xclService(xclSession *s);

/* The socket, for poll/epoll (readable: call xclPoll with timeout 0). Owned
 * by the session: do not read it or close it. */
int xclFd(const xclSession *s);

/* Milliseconds until the session needs a call even if nothing arrives
 * (heartbeat, retransmission, timeout check); 0 when now; -1 when nothing
 * is scheduled (not logged on). */
int xclNextTimeoutMs(const xclSession *s);

/* Writes a one-line readable rendering of a report, prices as decimals:
 * "Executed seq=2 clOrdId=1001 orderId=0x0100000000000001 BUY 2 @ 3800.2
 * leaves=3 MAKER tradeId=... commission=52.4428". Returns as snprintf. */
int xclReportFormat(const xclReport *r, char *buf, size_t len);

/* ---- state and counters ------------------------------------------------------ */

typedef struct {
    int state; /* xclState */
    uint32_t sessionId;
    uint32_t heartbeatMs;    /* granted at the last logon */
    uint32_t tradingDay;     /* YYYYMMDD, from LogonAccepted */
    uint8_t segment;         /* from LogonAccepted */
    uint16_t lastRejectCode; /* of the last LogonRejected, 0 if none */
    uint64_t nextInSeq;      /* number our next application message carries */
    uint64_t nextOutSeq;     /* next xchg->client number expected; 0 = not known yet */
    uint32_t unanswered;     /* requests sent or queued and not yet answered */
    uint32_t ready;          /* reports waiting to be read */
    uint16_t localPort;      /* the socket's local port */
    /* counters since xclOpen */
    uint64_t datagramsOut, datagramsIn, messagesOut, messagesIn;
    uint64_t heartbeatsOut;      /* Heartbeats sent */
    uint64_t logonsOut;          /* Logon messages sent (retries included) */
    uint64_t retransmitRequests; /* RetransmitRequests sent */
    uint64_t resent;             /* requests sent again after a gap or a logon */
    uint64_t duplicates;         /* reports received again and dropped */
    uint64_t outOfOrder;         /* reports received after a hole */
    uint64_t windowDrops;        /* reports beyond the window, dropped (asked again later) */
    uint64_t lost;               /* reports declared lost (XCL_RPT_LOST) */
    uint64_t malformed, foreign; /* datagrams failing validation, for another session */
    uint64_t gapRejects;         /* SessionReject{GAP} received */
    uint64_t sendErrors;         /* datagrams the socket refused */
    uint64_t staleDropped;       /* LoggedOut / SessionReject{NOT_LOGGED_ON} that did not end a
                                    logged-on session (earlier binding, repeat), dropped */
} xclInfo;

/* Copies the session's state and counters into *out. */
void xclGetInfo(const xclSession *s, xclInfo *out);

/* The last detailed error message of the session ("logon rejected: 9001
 * (logon refused)", "send: Connection refused", ...); "" if none. Owned by
 * the session, valid until its next call. */
const char *xclLastError(const xclSession *s);

#ifdef __cplusplus
}
#endif
#endif
