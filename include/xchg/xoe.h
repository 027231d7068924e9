/* xoe.h -- XOE order-entry wire format: message layouts, validating decoder and encoder.
 *
 * XOE is xchg's binary order-entry protocol over UDP; docs/protocol/xoe.md is
 * the normative spec and every layout here is checked against it with
 * _Static_assert (size and offset of every field). Header-only: the
 * dataplane, libxchg-client and the tests include it and link nothing.
 *
 * Wire format in one paragraph: a datagram is one frame, a 24-byte header
 * (magic, version, flags, message count, frame length, session id, sequence
 * number of the first application message) followed by `count` messages.
 * Every message starts with its length (a multiple of 8) and its type, has a
 * fixed little-endian layout with naturally aligned fields and no padding
 * holes (reserved bytes are explicit and must be zero). Bit 7 of the type is
 * the direction (1 = xchg to client); types whose low 7 bits are >= 0x10 are
 * application messages and consume one sequence number each.
 *
 * Hot-path rules (DESIGN.md §2): no allocation, no system calls, no floating
 * point, no locks; every loop is bounded by the datagram length. The decoder
 * never reads outside [buf, buf + len) and never dereferences the datagram
 * through a struct pointer (a UDP payload inside an mbuf is not 8-byte
 * aligned): it copies each message into an aligned xoeMsg. */
#ifndef XCHG_XOE_H
#define XCHG_XOE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xoe.h maps the little-endian wire layout onto host structs: little-endian hosts only"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Constants                                                                */

#define XOE_MAGIC          0x4F58u /* bytes 'X' 'O' on the wire */
#define XOE_VERSION        1
#define XOE_HEADER_SIZE    24
#define XOE_FRAME_MAX      1472 /* UDP payload of one 1500-byte-MTU Ethernet frame */
#define XOE_MSG_MIN        8
#define XOE_MSG_MAX        64 /* largest known message (Executed) */
#define XOE_MAX_MESSAGES   ((XOE_FRAME_MAX - XOE_HEADER_SIZE) / XOE_MSG_MIN) /* 181 */
#define XOE_TOKEN_SIZE     16
#define XOE_NO_MSG         0xFFFFu /* xoeErrorInfo.msgIndex of a frame header error */
#define XOE_TYPE_TO_CLIENT 0x80u   /* direction bit of a message type */
#define XOE_TYPE_APP_MIN   0x10u   /* low 7 bits >= this: application (sequenced) message */

/* Frame header flags. */
#define XOE_FLAG_RETRANSMIT 0x01u /* the application messages were sent before */
#define XOE_FLAGS_KNOWN     0x01u

/* Session timing and retransmission limits (docs/protocol/xoe.md §5-§6). */
#define XOE_HEARTBEAT_DEFAULT_MS 1000
#define XOE_HEARTBEAT_MIN_MS     100
#define XOE_HEARTBEAT_MAX_MS     60000
#define XOE_TIMEOUT_INTERVALS    3
#define XOE_RETRANSMIT_MAX       512 /* messages resent per request at most */

/* Directions, for xoeFrameParse. */
typedef enum {
    XOE_DIR_TO_XCHG = 0,   /* client -> xchg: types 0x00-0x7F */
    XOE_DIR_TO_CLIENT = 1, /* xchg -> client: types 0x80-0xFF */
    XOE_DIR_ANY = 2        /* taken from the first message; all must agree */
} xoeDir;

/* Message types. */
typedef enum {
    /* client -> xchg, session */
    XOE_MSG_LOGON = 0x01,
    XOE_MSG_LOGOUT = 0x02,
    XOE_MSG_HEARTBEAT = 0x03,
    XOE_MSG_RETRANSMIT_REQUEST = 0x04,
    /* client -> xchg, application (sequenced) */
    XOE_MSG_NEW_ORDER = 0x10,
    XOE_MSG_CANCEL = 0x11,
    XOE_MSG_REPLACE = 0x12,
    /* xchg -> client, session */
    XOE_MSG_LOGON_ACCEPTED = 0x81,
    XOE_MSG_LOGON_REJECTED = 0x82,
    XOE_MSG_LOGGED_OUT = 0x83,
    XOE_MSG_SERVER_HEARTBEAT = 0x84,
    XOE_MSG_SESSION_REJECT = 0x85,
    XOE_MSG_RETRANSMIT_END = 0x86,
    /* xchg -> client, application (sequenced) */
    XOE_MSG_ACCEPTED = 0x90,
    XOE_MSG_REJECTED = 0x91,
    XOE_MSG_EXECUTED = 0x92,
    XOE_MSG_CANCELLED = 0x93,
    XOE_MSG_REPLACED = 0x94,
    XOE_MSG_CANCEL_REJECTED = 0x95
} xoeMsgType;

/* Enumerated fields. The order-field values equal matcher/matcher.h's. */
typedef enum { XOE_BUY = 0, XOE_SELL = 1 } xoeSide;
typedef enum {
    XOE_OPEN = 0,
    XOE_CLOSE = 1,
    XOE_CLOSE_TODAY = 2,
    XOE_CLOSE_YESTERDAY = 3
} xoeOffset;
typedef enum { XOE_LIMIT = 0, XOE_MARKET = 1 } xoePriceType;
typedef enum { XOE_GFD = 0, XOE_IOC = 1, XOE_GTC = 2 } xoeTimeCondition;
typedef enum { XOE_VOL_ANY = 0, XOE_VOL_MIN = 1, XOE_VOL_ALL = 2 } xoeVolumeCondition;
typedef enum { XOE_MAKER = 0, XOE_TAKER = 1, XOE_AUCTION = 2 } xoeLiquidity;
typedef enum {
    XOE_CXL_USER = 0,       /* Cancel request */
    XOE_CXL_IOC = 1,        /* unfilled remainder of an IOC or market order */
    XOE_CXL_FOK = 2,        /* volume condition ALL could not fill completely */
    XOE_CXL_MIN_QTY = 3,    /* minimum quantity not available */
    XOE_CXL_SELF_TRADE = 4, /* self-trade prevention (reference code 1005) */
    XOE_CXL_EXPIRED = 5,    /* GFD order at the close */
    XOE_CXL_ADMIN = 6       /* cancelled by the operator or by force liquidation */
} xoeCancelReason;
typedef enum { XOE_OP_CANCEL = 1, XOE_OP_REPLACE = 2 } xoeOp;
typedef enum {
    XOE_LOGOUT_USER = 0,       /* the client's Logout */
    XOE_LOGOUT_TIMEOUT = 1,    /* nothing received for XOE_TIMEOUT_INTERVALS intervals */
    XOE_LOGOUT_SUPERSEDED = 2, /* a Logon from another address took the session over */
    XOE_LOGOUT_ADMIN = 3,      /* the operator ended or disabled the session */
    XOE_LOGOUT_SHUTDOWN = 4    /* xchgd is stopping */
} xoeLogoutReason;
typedef enum {
    XOE_SR_GAP = 0,               /* sequence above the expected one: resend from expected */
    XOE_SR_DUPLICATE_EXPIRED = 1, /* duplicate whose answer left the history */
    XOE_SR_MALFORMED = 2,         /* frame failed xoeFrameParse; detail = xoeError */
    XOE_SR_NOT_LOGGED_ON = 3      /* session not logged on (code 9002) */
} xoeSessionRejectReason;
/* RetransmitEnd flags. */
#define XOE_RT_TOO_OLD     0x01u /* range started before the oldest message kept */
#define XOE_RT_LIMIT       0x02u /* request longer than XOE_RETRANSMIT_MAX */
#define XOE_RT_BEYOND      0x04u /* range reached past the last message sent */
#define XOE_RT_FLAGS_KNOWN 0x07u

/* Reference-system codes XOE carries (docs/protocol/xoe.md §8). */
enum {
    XOE_CODE_INSUFFICIENT_FUNDS = 1001,
    XOE_CODE_POSITION_LIMIT = 1002,
    XOE_CODE_ORDER_AMOUNT = 1003,
    XOE_CODE_RISK_RATIO = 1004,
    XOE_CODE_ACCOUNT_NOT_FOUND = 1006,
    XOE_CODE_UNKNOWN_INSTRUMENT = 1007,
    XOE_CODE_INVALID_PARAMS = 1008,
    XOE_CODE_ACCOUNT_FROZEN = 2002,
    XOE_CODE_INSUFFICIENT_POSITION = 2005,
    XOE_CODE_ORDER_NOT_FOUND = 3001,
    XOE_CODE_NOT_CANCELLABLE = 3002,
    XOE_CODE_STATE = 3003,
    XOE_CODE_REPLACE = 3004,
    XOE_CODE_POOL_FULL = 4002,
    XOE_CODE_INTERNAL = 5000,
    XOE_CODE_STORAGE = 5002,
    XOE_CODE_AUTH = 9001,
    XOE_CODE_NOT_LOGGED_ON = 9002,
    XOE_CODE_MALFORMED = 9003,
    XOE_CODE_THROTTLED = 9004,
    XOE_CODE_UNAVAILABLE = 9005
};

/* ------------------------------------------------------------------------ */
/* Layouts. All little-endian, naturally aligned, no implicit padding.      */

typedef struct {
    uint16_t magic; /* XOE_MAGIC */
    uint8_t version;
    uint8_t flags;   /* XOE_FLAG_* */
    uint16_t count;  /* messages in the frame, >= 1 */
    uint16_t length; /* bytes in the frame, header included = datagram length */
    uint32_t session;
    uint32_t reserved;
    uint64_t seq; /* first application message's number, or the next one */
} xoeFrameHeader;

typedef struct {
    uint16_t length; /* bytes in this message, a multiple of 8, >= its type's size */
    uint8_t type;    /* xoeMsgType */
    uint8_t reserved;
} xoeMsgHeader;

/* client -> xchg */
typedef struct {
    xoeMsgHeader h;
    uint32_t heartbeatMs; /* requested interval; 0 = default */
    uint8_t token[XOE_TOKEN_SIZE];
    uint64_t nextOutSeq; /* next xchg->client number the client expects; 0 = no replay */
} xoeLogon;

typedef struct {
    xoeMsgHeader h;
    uint32_t reserved;
} xoeLogout;

typedef struct {
    xoeMsgHeader h;
    uint32_t reserved;
} xoeHeartbeat;

typedef struct {
    xoeMsgHeader h;
    uint32_t count; /* messages wanted */
    uint64_t fromSeq;
} xoeRetransmitRequest;

typedef struct {
    xoeMsgHeader h;
    uint16_t instrument; /* index in the segment (ITCH stock locate) */
    uint8_t side;        /* xoeSide */
    uint8_t offset;      /* xoeOffset */
    uint64_t clOrdId;
    int64_t price; /* 1e-4 currency units; ignored (send 0) for MARKET */
    uint32_t qty;
    uint32_t minQty;         /* volume condition MIN only, else 0 */
    uint8_t priceType;       /* xoePriceType */
    uint8_t timeCondition;   /* xoeTimeCondition */
    uint8_t volumeCondition; /* xoeVolumeCondition */
    uint8_t reserved1;
    uint32_t reserved2;
} xoeNewOrder;

typedef struct {
    xoeMsgHeader h;
    uint32_t reserved;
    uint64_t clOrdId; /* of this request */
    uint64_t orderId; /* exchange order id */
} xoeCancel;

typedef struct {
    xoeMsgHeader h;
    uint32_t qty;     /* new total quantity, filled lots included */
    uint64_t clOrdId; /* the order's new client id */
    uint64_t orderId;
    int64_t price; /* new price, 1e-4 units */
} xoeReplace;

/* xchg -> client */
typedef struct {
    xoeMsgHeader h;
    uint32_t heartbeatMs; /* granted interval */
    uint64_t nextInSeq;   /* next client->xchg number xchg expects */
    uint64_t nextOutSeq;  /* number of the next new xchg->client message */
    uint32_t tradingDay;  /* YYYYMMDD */
    uint8_t segment;
    uint8_t reserved[3];
} xoeLogonAccepted;

typedef struct {
    xoeMsgHeader h;
    uint16_t code; /* 9001, 9003, 9005, 1006, 1008 */
    uint16_t reserved;
} xoeLogonRejected;

typedef struct {
    xoeMsgHeader h;
    uint8_t reason; /* xoeLogoutReason */
    uint8_t reserved[3];
} xoeLoggedOut;

typedef struct {
    xoeMsgHeader h;
    uint32_t reserved;
} xoeServerHeartbeat;

typedef struct {
    xoeMsgHeader h;
    uint16_t code;  /* reference code, 0 for sequence reasons */
    uint8_t reason; /* xoeSessionRejectReason */
    uint8_t detail; /* xoeError for XOE_SR_MALFORMED, else 0 */
    uint64_t expectedSeq;
    uint64_t receivedSeq;
} xoeSessionReject;

typedef struct {
    xoeMsgHeader h;
    uint32_t sent;    /* messages resent */
    uint64_t fromSeq; /* as requested */
    uint32_t count;   /* as requested */
    uint8_t flags;    /* XOE_RT_* */
    uint8_t reserved[3];
    uint64_t firstSeq; /* first number resent, 0 if none */
} xoeRetransmitEnd;

typedef struct {
    xoeMsgHeader h;
    uint16_t instrument;
    uint8_t side;
    uint8_t offset;
    uint64_t clOrdId;
    uint64_t orderId;
    int64_t price; /* 1e-4 units, 0 for MARKET */
    uint32_t qty;
    uint32_t minQty;
    uint8_t priceType;
    uint8_t timeCondition;
    uint8_t volumeCondition;
    uint8_t reserved1;
    uint32_t reserved2;
    uint64_t timestamp; /* ns since the Unix epoch, UTC */
} xoeAccepted;

typedef struct {
    xoeMsgHeader h;
    uint16_t code;
    uint16_t instrument; /* as requested */
    uint64_t clOrdId;
    uint64_t timestamp;
} xoeRejected;

typedef struct {
    xoeMsgHeader h;
    uint16_t instrument;
    uint8_t side;
    uint8_t liquidity; /* xoeLiquidity */
    uint64_t clOrdId;
    uint64_t orderId;
    uint64_t tradeId;
    int64_t price; /* 1e-4 units */
    uint32_t qty;
    uint32_t leaves;
    int64_t commission; /* 1e-4 currency units */
    uint64_t timestamp;
} xoeExecuted;

typedef struct {
    xoeMsgHeader h;
    uint16_t instrument;
    uint8_t side;
    uint8_t reason; /* xoeCancelReason */
    uint64_t clOrdId;
    uint64_t orderId;
    uint32_t qty; /* open quantity cancelled */
    uint32_t reserved;
    uint64_t timestamp;
} xoeCancelled;

typedef struct {
    xoeMsgHeader h;
    uint16_t instrument;
    uint8_t side;
    uint8_t keptPriority; /* 0 or 1 */
    uint64_t clOrdId;
    uint64_t orderId;
    int64_t price;
    uint32_t qty;    /* new total */
    uint32_t leaves; /* new open quantity */
    uint64_t timestamp;
} xoeReplaced;

typedef struct {
    xoeMsgHeader h;
    uint16_t code;
    uint8_t op; /* xoeOp */
    uint8_t reserved;
    uint64_t clOrdId; /* of the request */
    uint64_t orderId; /* as requested */
    uint64_t timestamp;
} xoeCancelRejected;

/* Size and offset of every field, as docs/protocol/xoe.md lists them. */
#ifdef __cplusplus
#define XOE_STATIC_ASSERT static_assert
#define XOE_ALIGNOF       alignof
#else
#define XOE_STATIC_ASSERT _Static_assert
#define XOE_ALIGNOF       _Alignof
#endif
#define XOE_FIELD(T, f, off, sz)                                                                   \
    XOE_STATIC_ASSERT(offsetof(T, f) == (off) && sizeof(((T *)0)->f) == (sz), #T "." #f)
#define XOE_SIZE(T, sz) XOE_STATIC_ASSERT(sizeof(T) == (sz) && XOE_ALIGNOF(T) <= 8, "sizeof " #T)

XOE_SIZE(xoeFrameHeader, 24);
XOE_FIELD(xoeFrameHeader, magic, 0, 2);
XOE_FIELD(xoeFrameHeader, version, 2, 1);
XOE_FIELD(xoeFrameHeader, flags, 3, 1);
XOE_FIELD(xoeFrameHeader, count, 4, 2);
XOE_FIELD(xoeFrameHeader, length, 6, 2);
XOE_FIELD(xoeFrameHeader, session, 8, 4);
XOE_FIELD(xoeFrameHeader, reserved, 12, 4);
XOE_FIELD(xoeFrameHeader, seq, 16, 8);

XOE_SIZE(xoeMsgHeader, 4);
XOE_FIELD(xoeMsgHeader, length, 0, 2);
XOE_FIELD(xoeMsgHeader, type, 2, 1);
XOE_FIELD(xoeMsgHeader, reserved, 3, 1);

XOE_SIZE(xoeLogon, 32);
XOE_FIELD(xoeLogon, h, 0, 4);
XOE_FIELD(xoeLogon, heartbeatMs, 4, 4);
XOE_FIELD(xoeLogon, token, 8, 16);
XOE_FIELD(xoeLogon, nextOutSeq, 24, 8);

XOE_SIZE(xoeLogout, 8);
XOE_FIELD(xoeLogout, h, 0, 4);
XOE_FIELD(xoeLogout, reserved, 4, 4);

XOE_SIZE(xoeHeartbeat, 8);
XOE_FIELD(xoeHeartbeat, h, 0, 4);
XOE_FIELD(xoeHeartbeat, reserved, 4, 4);

XOE_SIZE(xoeRetransmitRequest, 16);
XOE_FIELD(xoeRetransmitRequest, h, 0, 4);
XOE_FIELD(xoeRetransmitRequest, count, 4, 4);
XOE_FIELD(xoeRetransmitRequest, fromSeq, 8, 8);

XOE_SIZE(xoeNewOrder, 40);
XOE_FIELD(xoeNewOrder, h, 0, 4);
XOE_FIELD(xoeNewOrder, instrument, 4, 2);
XOE_FIELD(xoeNewOrder, side, 6, 1);
XOE_FIELD(xoeNewOrder, offset, 7, 1);
XOE_FIELD(xoeNewOrder, clOrdId, 8, 8);
XOE_FIELD(xoeNewOrder, price, 16, 8);
XOE_FIELD(xoeNewOrder, qty, 24, 4);
XOE_FIELD(xoeNewOrder, minQty, 28, 4);
XOE_FIELD(xoeNewOrder, priceType, 32, 1);
XOE_FIELD(xoeNewOrder, timeCondition, 33, 1);
XOE_FIELD(xoeNewOrder, volumeCondition, 34, 1);
XOE_FIELD(xoeNewOrder, reserved1, 35, 1);
XOE_FIELD(xoeNewOrder, reserved2, 36, 4);

XOE_SIZE(xoeCancel, 24);
XOE_FIELD(xoeCancel, h, 0, 4);
XOE_FIELD(xoeCancel, reserved, 4, 4);
XOE_FIELD(xoeCancel, clOrdId, 8, 8);
XOE_FIELD(xoeCancel, orderId, 16, 8);

XOE_SIZE(xoeReplace, 32);
XOE_FIELD(xoeReplace, h, 0, 4);
XOE_FIELD(xoeReplace, qty, 4, 4);
XOE_FIELD(xoeReplace, clOrdId, 8, 8);
XOE_FIELD(xoeReplace, orderId, 16, 8);
XOE_FIELD(xoeReplace, price, 24, 8);

XOE_SIZE(xoeLogonAccepted, 32);
XOE_FIELD(xoeLogonAccepted, h, 0, 4);
XOE_FIELD(xoeLogonAccepted, heartbeatMs, 4, 4);
XOE_FIELD(xoeLogonAccepted, nextInSeq, 8, 8);
XOE_FIELD(xoeLogonAccepted, nextOutSeq, 16, 8);
XOE_FIELD(xoeLogonAccepted, tradingDay, 24, 4);
XOE_FIELD(xoeLogonAccepted, segment, 28, 1);
XOE_FIELD(xoeLogonAccepted, reserved, 29, 3);

XOE_SIZE(xoeLogonRejected, 8);
XOE_FIELD(xoeLogonRejected, h, 0, 4);
XOE_FIELD(xoeLogonRejected, code, 4, 2);
XOE_FIELD(xoeLogonRejected, reserved, 6, 2);

XOE_SIZE(xoeLoggedOut, 8);
XOE_FIELD(xoeLoggedOut, h, 0, 4);
XOE_FIELD(xoeLoggedOut, reason, 4, 1);
XOE_FIELD(xoeLoggedOut, reserved, 5, 3);

XOE_SIZE(xoeServerHeartbeat, 8);
XOE_FIELD(xoeServerHeartbeat, h, 0, 4);
XOE_FIELD(xoeServerHeartbeat, reserved, 4, 4);

XOE_SIZE(xoeSessionReject, 24);
XOE_FIELD(xoeSessionReject, h, 0, 4);
XOE_FIELD(xoeSessionReject, code, 4, 2);
XOE_FIELD(xoeSessionReject, reason, 6, 1);
XOE_FIELD(xoeSessionReject, detail, 7, 1);
XOE_FIELD(xoeSessionReject, expectedSeq, 8, 8);
XOE_FIELD(xoeSessionReject, receivedSeq, 16, 8);

XOE_SIZE(xoeRetransmitEnd, 32);
XOE_FIELD(xoeRetransmitEnd, h, 0, 4);
XOE_FIELD(xoeRetransmitEnd, sent, 4, 4);
XOE_FIELD(xoeRetransmitEnd, fromSeq, 8, 8);
XOE_FIELD(xoeRetransmitEnd, count, 16, 4);
XOE_FIELD(xoeRetransmitEnd, flags, 20, 1);
XOE_FIELD(xoeRetransmitEnd, reserved, 21, 3);
XOE_FIELD(xoeRetransmitEnd, firstSeq, 24, 8);

XOE_SIZE(xoeAccepted, 56);
XOE_FIELD(xoeAccepted, h, 0, 4);
XOE_FIELD(xoeAccepted, instrument, 4, 2);
XOE_FIELD(xoeAccepted, side, 6, 1);
XOE_FIELD(xoeAccepted, offset, 7, 1);
XOE_FIELD(xoeAccepted, clOrdId, 8, 8);
XOE_FIELD(xoeAccepted, orderId, 16, 8);
XOE_FIELD(xoeAccepted, price, 24, 8);
XOE_FIELD(xoeAccepted, qty, 32, 4);
XOE_FIELD(xoeAccepted, minQty, 36, 4);
XOE_FIELD(xoeAccepted, priceType, 40, 1);
XOE_FIELD(xoeAccepted, timeCondition, 41, 1);
XOE_FIELD(xoeAccepted, volumeCondition, 42, 1);
XOE_FIELD(xoeAccepted, reserved1, 43, 1);
XOE_FIELD(xoeAccepted, reserved2, 44, 4);
XOE_FIELD(xoeAccepted, timestamp, 48, 8);

XOE_SIZE(xoeRejected, 24);
XOE_FIELD(xoeRejected, h, 0, 4);
XOE_FIELD(xoeRejected, code, 4, 2);
XOE_FIELD(xoeRejected, instrument, 6, 2);
XOE_FIELD(xoeRejected, clOrdId, 8, 8);
XOE_FIELD(xoeRejected, timestamp, 16, 8);

XOE_SIZE(xoeExecuted, 64);
XOE_FIELD(xoeExecuted, h, 0, 4);
XOE_FIELD(xoeExecuted, instrument, 4, 2);
XOE_FIELD(xoeExecuted, side, 6, 1);
XOE_FIELD(xoeExecuted, liquidity, 7, 1);
XOE_FIELD(xoeExecuted, clOrdId, 8, 8);
XOE_FIELD(xoeExecuted, orderId, 16, 8);
XOE_FIELD(xoeExecuted, tradeId, 24, 8);
XOE_FIELD(xoeExecuted, price, 32, 8);
XOE_FIELD(xoeExecuted, qty, 40, 4);
XOE_FIELD(xoeExecuted, leaves, 44, 4);
XOE_FIELD(xoeExecuted, commission, 48, 8);
XOE_FIELD(xoeExecuted, timestamp, 56, 8);

XOE_SIZE(xoeCancelled, 40);
XOE_FIELD(xoeCancelled, h, 0, 4);
XOE_FIELD(xoeCancelled, instrument, 4, 2);
XOE_FIELD(xoeCancelled, side, 6, 1);
XOE_FIELD(xoeCancelled, reason, 7, 1);
XOE_FIELD(xoeCancelled, clOrdId, 8, 8);
XOE_FIELD(xoeCancelled, orderId, 16, 8);
XOE_FIELD(xoeCancelled, qty, 24, 4);
XOE_FIELD(xoeCancelled, reserved, 28, 4);
XOE_FIELD(xoeCancelled, timestamp, 32, 8);

XOE_SIZE(xoeReplaced, 48);
XOE_FIELD(xoeReplaced, h, 0, 4);
XOE_FIELD(xoeReplaced, instrument, 4, 2);
XOE_FIELD(xoeReplaced, side, 6, 1);
XOE_FIELD(xoeReplaced, keptPriority, 7, 1);
XOE_FIELD(xoeReplaced, clOrdId, 8, 8);
XOE_FIELD(xoeReplaced, orderId, 16, 8);
XOE_FIELD(xoeReplaced, price, 24, 8);
XOE_FIELD(xoeReplaced, qty, 32, 4);
XOE_FIELD(xoeReplaced, leaves, 36, 4);
XOE_FIELD(xoeReplaced, timestamp, 40, 8);

XOE_SIZE(xoeCancelRejected, 32);
XOE_FIELD(xoeCancelRejected, h, 0, 4);
XOE_FIELD(xoeCancelRejected, code, 4, 2);
XOE_FIELD(xoeCancelRejected, op, 6, 1);
XOE_FIELD(xoeCancelRejected, reserved, 7, 1);
XOE_FIELD(xoeCancelRejected, clOrdId, 8, 8);
XOE_FIELD(xoeCancelRejected, orderId, 16, 8);
XOE_FIELD(xoeCancelRejected, timestamp, 24, 8);

/* Every application message has its client order id at offset 8. */
XOE_STATIC_ASSERT(offsetof(xoeNewOrder, clOrdId) == 8 && offsetof(xoeCancel, clOrdId) == 8 &&
                      offsetof(xoeReplace, clOrdId) == 8 && offsetof(xoeAccepted, clOrdId) == 8 &&
                      offsetof(xoeRejected, clOrdId) == 8 && offsetof(xoeExecuted, clOrdId) == 8 &&
                      offsetof(xoeCancelled, clOrdId) == 8 && offsetof(xoeReplaced, clOrdId) == 8 &&
                      offsetof(xoeCancelRejected, clOrdId) == 8,
                  "clOrdId at offset 8");

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/* Why xoeFrameParse refused a frame (checked in this order; the first
 * failing check is reported), and what the encoder can refuse. The values
 * are stable: they are metric labels and SessionReject.detail. */
typedef enum {
    XOE_OK = 0,
    XOE_ERR_SHORT_HEADER = 1,     /* datagram shorter than the 24-byte header */
    XOE_ERR_FRAME_TOO_LONG = 2,   /* datagram longer than XOE_FRAME_MAX */
    XOE_ERR_MAGIC = 3,            /* header.magic != XOE_MAGIC */
    XOE_ERR_VERSION = 4,          /* header.version != XOE_VERSION */
    XOE_ERR_FRAME_LENGTH = 5,     /* header.length != datagram length */
    XOE_ERR_FRAME_ALIGN = 6,      /* frame length not a multiple of 8 */
    XOE_ERR_FLAGS = 7,            /* unknown header flag bit */
    XOE_ERR_HEADER_RESERVED = 8,  /* header.reserved != 0 */
    XOE_ERR_NO_MESSAGES = 9,      /* header.count == 0 */
    XOE_ERR_COUNT_SHORT = 10,     /* the frame ends before `count` messages */
    XOE_ERR_MSG_ZERO_LENGTH = 11, /* message length 0 */
    XOE_ERR_MSG_ALIGN = 12,       /* message length not a multiple of 8 */
    XOE_ERR_MSG_OVERRUN = 13,     /* message length past the end of the frame */
    XOE_ERR_DIRECTION = 14,       /* type of the other direction */
    XOE_ERR_MSG_SHORT = 15,       /* known type, length below its size */
    XOE_ERR_RESERVED = 16,        /* a reserved byte of a known message is not 0 */
    XOE_ERR_ENUM = 17,            /* enumerated or flag field out of range */
    XOE_ERR_TRAILING = 18,        /* bytes after the `count`-th message */
    /* encoder only */
    XOE_ERR_NO_SPACE = 32,     /* the message does not fit the buffer or frame */
    XOE_ERR_UNKNOWN_TYPE = 33, /* typed append of a type this header does not know */
    XOE_ERR_TYPE_MISMATCH = 34 /* raw append whose header disagrees with its length */
} xoeError;

/* Where the first failure is: message index (XOE_NO_MSG for the frame
 * header) and the byte offset in the datagram of the offending field. */
typedef struct {
    uint16_t msgIndex;
    uint16_t offset;
} xoeErrorInfo;

/* ------------------------------------------------------------------------ */
/* Message descriptors: what the decoder checks, one rule per checked field,
 * in ascending offset order.
 *
 * A rule bounds every byte of one field: reserved bytes to 0, an enumerated
 * byte to [lo, hi] (lo 0 or 1). It is stored as masks over the 8-byte word
 * of the message holding the field (fields never straddle words: they are
 * naturally aligned and at most 4 bytes), so checking it is a load and a
 * few branch-free operations (xoeRuleBad). In each byte lane of the field:
 * add = 0x7F - hi, top = 0x80, and nz = 0x80 when the byte must not be 0. */

enum { XOE_RULE_ZERO = 0, XOE_RULE_ENUM = 1 };

typedef struct {
    uint8_t word; /* the field is in bytes [8 * word, 8 * word + 8) of the message */
    uint8_t kind; /* XOE_RULE_ZERO (reports XOE_ERR_RESERVED) or XOE_RULE_ENUM */
    uint64_t add;
    uint64_t top;
    uint64_t nz;
} xoeRule;

typedef struct {
    uint16_t size; /* bytes the type defines */
    uint8_t nrules;
    xoeRule rules[8];
} xoeMsgDesc;

#define XOE_LANES_LOW       0x7F7F7F7F7F7F7F7Full
#define XOE_LANES_TOP       0x8080808080808080ull
#define XOE_LANE_SHIFT(off) (8u * ((unsigned)(off)&7u))
#define XOE_LANE_BYTES(n)   ((n) >= 8 ? ~0ull : (1ull << (8u * (n))) - 1u)
#define XOE_RULE(off, n, kind, lo, hi)                                                             \
    {                                                                                              \
        (uint8_t)((off) / 8), (kind),                                                              \
            ((0x0101010101010101ull * (0x7Fu - (hi))) & XOE_LANE_BYTES(n)) << XOE_LANE_SHIFT(off), \
            (XOE_LANES_TOP & XOE_LANE_BYTES(n)) << XOE_LANE_SHIFT(off),                            \
            (lo) ? 0x80ull << XOE_LANE_SHIFT(off) : 0                                              \
    }
#define XOE_R_ZERO(T, f)         XOE_RULE(offsetof(T, f), sizeof(((T *)0)->f), XOE_RULE_ZERO, 0, 0)
#define XOE_R_ENUM(T, f, lo, hi) XOE_RULE(offsetof(T, f), 1, XOE_RULE_ENUM, lo, hi)
#define XOE_R_HDR                XOE_RULE(3, 1, XOE_RULE_ZERO, 0, 0)

/* RetransmitEnd.flags is checked as the range 0..XOE_RT_FLAGS_KNOWN. */
XOE_STATIC_ASSERT((XOE_RT_FLAGS_KNOWN & (XOE_RT_FLAGS_KNOWN + 1)) == 0, "contiguous flags");

/* Describes a known type; NULL for a type this version does not define. */
static inline const xoeMsgDesc *xoeDescribe(uint8_t type)
{
    static const xoeMsgDesc logon = {sizeof(xoeLogon), 1, {XOE_R_HDR}};
    static const xoeMsgDesc logout = {
        sizeof(xoeLogout), 2, {XOE_R_HDR, XOE_R_ZERO(xoeLogout, reserved)}};
    static const xoeMsgDesc heartbeat = {
        sizeof(xoeHeartbeat), 2, {XOE_R_HDR, XOE_R_ZERO(xoeHeartbeat, reserved)}};
    static const xoeMsgDesc retransReq = {sizeof(xoeRetransmitRequest), 1, {XOE_R_HDR}};
    static const xoeMsgDesc newOrder = {
        sizeof(xoeNewOrder),
        8,
        {XOE_R_HDR, XOE_R_ENUM(xoeNewOrder, side, 0, 1), XOE_R_ENUM(xoeNewOrder, offset, 0, 3),
         XOE_R_ENUM(xoeNewOrder, priceType, 0, 1), XOE_R_ENUM(xoeNewOrder, timeCondition, 0, 2),
         XOE_R_ENUM(xoeNewOrder, volumeCondition, 0, 2), XOE_R_ZERO(xoeNewOrder, reserved1),
         XOE_R_ZERO(xoeNewOrder, reserved2)}};
    static const xoeMsgDesc cancel = {
        sizeof(xoeCancel), 2, {XOE_R_HDR, XOE_R_ZERO(xoeCancel, reserved)}};
    static const xoeMsgDesc replace = {sizeof(xoeReplace), 1, {XOE_R_HDR}};
    static const xoeMsgDesc logonAccepted = {
        sizeof(xoeLogonAccepted), 2, {XOE_R_HDR, XOE_R_ZERO(xoeLogonAccepted, reserved)}};
    static const xoeMsgDesc logonRejected = {
        sizeof(xoeLogonRejected), 2, {XOE_R_HDR, XOE_R_ZERO(xoeLogonRejected, reserved)}};
    static const xoeMsgDesc loggedOut = {
        sizeof(xoeLoggedOut),
        3,
        {XOE_R_HDR, XOE_R_ENUM(xoeLoggedOut, reason, 0, 4), XOE_R_ZERO(xoeLoggedOut, reserved)}};
    static const xoeMsgDesc serverHeartbeat = {
        sizeof(xoeServerHeartbeat), 2, {XOE_R_HDR, XOE_R_ZERO(xoeServerHeartbeat, reserved)}};
    static const xoeMsgDesc sessionReject = {
        sizeof(xoeSessionReject), 2, {XOE_R_HDR, XOE_R_ENUM(xoeSessionReject, reason, 0, 3)}};
    static const xoeMsgDesc retransEnd = {
        sizeof(xoeRetransmitEnd),
        3,
        {XOE_R_HDR, XOE_R_ENUM(xoeRetransmitEnd, flags, 0, XOE_RT_FLAGS_KNOWN),
         XOE_R_ZERO(xoeRetransmitEnd, reserved)}};
    static const xoeMsgDesc accepted = {
        sizeof(xoeAccepted),
        8,
        {XOE_R_HDR, XOE_R_ENUM(xoeAccepted, side, 0, 1), XOE_R_ENUM(xoeAccepted, offset, 0, 3),
         XOE_R_ENUM(xoeAccepted, priceType, 0, 1), XOE_R_ENUM(xoeAccepted, timeCondition, 0, 2),
         XOE_R_ENUM(xoeAccepted, volumeCondition, 0, 2), XOE_R_ZERO(xoeAccepted, reserved1),
         XOE_R_ZERO(xoeAccepted, reserved2)}};
    static const xoeMsgDesc rejected = {sizeof(xoeRejected), 1, {XOE_R_HDR}};
    static const xoeMsgDesc executed = {
        sizeof(xoeExecuted),
        3,
        {XOE_R_HDR, XOE_R_ENUM(xoeExecuted, side, 0, 1), XOE_R_ENUM(xoeExecuted, liquidity, 0, 2)}};
    static const xoeMsgDesc cancelled = {sizeof(xoeCancelled),
                                         4,
                                         {XOE_R_HDR, XOE_R_ENUM(xoeCancelled, side, 0, 1),
                                          XOE_R_ENUM(xoeCancelled, reason, 0, 6),
                                          XOE_R_ZERO(xoeCancelled, reserved)}};
    static const xoeMsgDesc replaced = {sizeof(xoeReplaced),
                                        3,
                                        {XOE_R_HDR, XOE_R_ENUM(xoeReplaced, side, 0, 1),
                                         XOE_R_ENUM(xoeReplaced, keptPriority, 0, 1)}};
    static const xoeMsgDesc cancelRejected = {sizeof(xoeCancelRejected),
                                              3,
                                              {XOE_R_HDR, XOE_R_ENUM(xoeCancelRejected, op, 1, 2),
                                               XOE_R_ZERO(xoeCancelRejected, reserved)}};
    switch (type) {
    case XOE_MSG_LOGON:
        return &logon;
    case XOE_MSG_LOGOUT:
        return &logout;
    case XOE_MSG_HEARTBEAT:
        return &heartbeat;
    case XOE_MSG_RETRANSMIT_REQUEST:
        return &retransReq;
    case XOE_MSG_NEW_ORDER:
        return &newOrder;
    case XOE_MSG_CANCEL:
        return &cancel;
    case XOE_MSG_REPLACE:
        return &replace;
    case XOE_MSG_LOGON_ACCEPTED:
        return &logonAccepted;
    case XOE_MSG_LOGON_REJECTED:
        return &logonRejected;
    case XOE_MSG_LOGGED_OUT:
        return &loggedOut;
    case XOE_MSG_SERVER_HEARTBEAT:
        return &serverHeartbeat;
    case XOE_MSG_SESSION_REJECT:
        return &sessionReject;
    case XOE_MSG_RETRANSMIT_END:
        return &retransEnd;
    case XOE_MSG_ACCEPTED:
        return &accepted;
    case XOE_MSG_REJECTED:
        return &rejected;
    case XOE_MSG_EXECUTED:
        return &executed;
    case XOE_MSG_CANCELLED:
        return &cancelled;
    case XOE_MSG_REPLACED:
        return &replaced;
    case XOE_MSG_CANCEL_REJECTED:
        return &cancelRejected;
    default:
        return NULL;
    }
}

/* Size in bytes of a known type, 0 for an unknown one. */
static inline uint16_t xoeMsgSize(uint8_t type)
{
    const xoeMsgDesc *d = xoeDescribe(type);
    return d ? d->size : 0;
}

/* 1 if messages of this type (known or not) consume a sequence number. */
static inline int xoeIsSequenced(uint8_t type)
{
    return (type & 0x7Fu) >= XOE_TYPE_APP_MIN;
}

/* Direction of a type: XOE_DIR_TO_XCHG or XOE_DIR_TO_CLIENT. */
static inline int xoeTypeDir(uint8_t type)
{
    return (type & XOE_TYPE_TO_CLIENT) ? XOE_DIR_TO_CLIENT : XOE_DIR_TO_XCHG;
}

/* The lanes of rule r's field that break it in message m, as 0x80 bits
 * (0 when the field is valid). m must hold 8 * (r->word + 1) bytes. */
static inline uint64_t xoeRuleBad(const xoeRule *r, const uint8_t *m)
{
    uint64_t x;
    memcpy(&x, m + 8u * r->word, sizeof x);
    const uint64_t low = x & XOE_LANES_LOW;               /* lane sums below stay under 0x100 */
    const uint64_t above = ((low + r->add) | x) & r->top; /* byte > hi */
    const uint64_t zero = ~((low + XOE_LANES_LOW) | x) & r->nz; /* byte == 0 < lo */
    return above | zero;
}

/* Checks a known message's rules against its first d->size bytes at p.
 * Returns XOE_OK, or XOE_ERR_RESERVED / XOE_ERR_ENUM with *at = the offset
 * in the message of the first (lowest) offending byte. */
static inline int xoeCheckRules(const xoeMsgDesc *d, const uint8_t *p, uint16_t *at)
{
    uint64_t bad = 0;
    for (unsigned i = 0; i < d->nrules; i++)
        bad |= xoeRuleBad(&d->rules[i], p);
    if (__builtin_expect(bad == 0, 1))
        return XOE_OK;
    for (unsigned i = 0; i < d->nrules; i++) {
        const uint64_t b = xoeRuleBad(&d->rules[i], p);
        if (b) {
            *at = (uint16_t)(8u * d->rules[i].word + (unsigned)__builtin_ctzll(b) / 8u);
            return d->rules[i].kind == XOE_RULE_ZERO ? XOE_ERR_RESERVED : XOE_ERR_ENUM;
        }
    }
    return XOE_OK; /* not reached */
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                  */

/* A frame that passed xoeFrameParse. `buf` points into the caller's
 * datagram, which must outlive the frame and its iterators. */
typedef struct {
    const uint8_t *buf;
    uint16_t len; /* = header.length */
    uint8_t version;
    uint8_t flags;
    uint8_t dir;    /* xoeDir of its messages (never XOE_DIR_ANY) */
    uint16_t count; /* messages, known and unknown */
    uint32_t session;
    uint64_t seq;
    uint16_t sequenced; /* application messages (known or not): numbers seq.. */
    uint16_t unknown;   /* messages of types this version does not know */
} xoeFrame;

/* One decoded message. For a known type `u` holds exactly its defined bytes
 * (bytes beyond the defined size of a longer message are not copied); for
 * an unknown type `u.raw` holds its first min(length, XOE_MSG_MAX) bytes and
 * zeros after. Aligned: read fields directly. */
typedef struct {
    uint8_t type;
    uint8_t known;   /* 1 if this header defines the type */
    uint16_t length; /* on the wire; may exceed the type's size */
    uint16_t index;  /* position in the frame, from 0 */
    uint16_t offset; /* byte offset in the datagram */
    uint64_t seq;    /* its sequence number if an application message, else 0 */
    union {
        xoeMsgHeader h;
        xoeLogon logon;
        xoeLogout logout;
        xoeHeartbeat heartbeat;
        xoeRetransmitRequest retransmitRequest;
        xoeNewOrder newOrder;
        xoeCancel cancel;
        xoeReplace replace;
        xoeLogonAccepted logonAccepted;
        xoeLogonRejected logonRejected;
        xoeLoggedOut loggedOut;
        xoeServerHeartbeat serverHeartbeat;
        xoeSessionReject sessionReject;
        xoeRetransmitEnd retransmitEnd;
        xoeAccepted accepted;
        xoeRejected rejected;
        xoeExecuted executed;
        xoeCancelled cancelled;
        xoeReplaced replaced;
        xoeCancelRejected cancelRejected;
        uint8_t raw[XOE_MSG_MAX];
        uint64_t align;
    } u;
} xoeMsg;

typedef struct {
    const xoeFrame *f;
    uint16_t off;
    uint16_t index;
    uint64_t nextSeq;
} xoeIter;

static inline uint16_t xoeLoad16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int xoeFail(xoeErrorInfo *ei, int err, unsigned msgIndex, size_t offset)
{
    if (ei) {
        ei->msgIndex = (uint16_t)msgIndex;
        ei->offset = (uint16_t)offset;
    }
    return err;
}

/* Checks the message at m, of wire length mlen (which the caller has
 * verified lies inside the datagram) and descriptor d (NULL: unknown type,
 * nothing to check). Returns XOE_OK or the error; *at is the failing byte's
 * offset inside the message. */
static inline int xoeCheckMsg(const xoeMsgDesc *d, const uint8_t *m, uint16_t mlen, uint16_t *at)
{
    if (!d)
        return XOE_OK;
    if (mlen < d->size) {
        *at = 0;
        return XOE_ERR_MSG_SHORT;
    }
    return xoeCheckRules(d, m, at);
}

/* Validates a whole datagram before anything in it is acted upon.
 *
 * buf/len: the UDP payload; any alignment; never read outside it.
 * dir: the direction the caller receives (XOE_DIR_ANY: taken from the first
 * message, and all messages must agree).
 * Returns XOE_OK and fills *f, or the first xoeError found (in the order of
 * the xoeError list: frame header checks, then each message in turn: zero
 * length, alignment, overrun, direction, then for a known type size,
 * reserved bytes and enums in offset order; after the last message,
 * trailing bytes) with *ei (if not NULL) saying where; *f is then
 * unspecified. Unknown types are accepted and counted in f->unknown. */
static inline int xoeFrameParse(const void *buf, size_t len, int dir, xoeFrame *f, xoeErrorInfo *ei)
{
    const uint8_t *p = (const uint8_t *)buf;
    xoeFrameHeader h;
    if (len < XOE_HEADER_SIZE)
        return xoeFail(ei, XOE_ERR_SHORT_HEADER, XOE_NO_MSG, 0);
    if (len > XOE_FRAME_MAX)
        return xoeFail(ei, XOE_ERR_FRAME_TOO_LONG, XOE_NO_MSG, offsetof(xoeFrameHeader, length));
    memcpy(&h, p, sizeof h);
    if (h.magic != XOE_MAGIC)
        return xoeFail(ei, XOE_ERR_MAGIC, XOE_NO_MSG, offsetof(xoeFrameHeader, magic));
    if (h.version != XOE_VERSION)
        return xoeFail(ei, XOE_ERR_VERSION, XOE_NO_MSG, offsetof(xoeFrameHeader, version));
    if (h.length != len)
        return xoeFail(ei, XOE_ERR_FRAME_LENGTH, XOE_NO_MSG, offsetof(xoeFrameHeader, length));
    if (len % 8 != 0)
        return xoeFail(ei, XOE_ERR_FRAME_ALIGN, XOE_NO_MSG, offsetof(xoeFrameHeader, length));
    if (h.flags & ~XOE_FLAGS_KNOWN)
        return xoeFail(ei, XOE_ERR_FLAGS, XOE_NO_MSG, offsetof(xoeFrameHeader, flags));
    if (h.reserved != 0)
        return xoeFail(ei, XOE_ERR_HEADER_RESERVED, XOE_NO_MSG, offsetof(xoeFrameHeader, reserved));
    if (h.count == 0)
        return xoeFail(ei, XOE_ERR_NO_MESSAGES, XOE_NO_MSG, offsetof(xoeFrameHeader, count));

    size_t off = XOE_HEADER_SIZE;
    unsigned sequenced = 0, unknown = 0;
    for (unsigned i = 0; i < h.count; i++) {
        if (off == len)
            return xoeFail(ei, XOE_ERR_COUNT_SHORT, i, off);
        /* len and off are multiples of 8, so a whole 8-byte minimum is here */
        const uint8_t *m = p + off;
        const uint16_t mlen = xoeLoad16(m);
        const uint8_t type = m[2];
        if (mlen == 0)
            return xoeFail(ei, XOE_ERR_MSG_ZERO_LENGTH, i, off);
        if (mlen % 8 != 0)
            return xoeFail(ei, XOE_ERR_MSG_ALIGN, i, off);
        if (mlen > len - off)
            return xoeFail(ei, XOE_ERR_MSG_OVERRUN, i, off);
        if (dir == XOE_DIR_ANY)
            dir = xoeTypeDir(type);
        if (xoeTypeDir(type) != dir)
            return xoeFail(ei, XOE_ERR_DIRECTION, i, off + 2);
        const xoeMsgDesc *d = xoeDescribe(type);
        uint16_t at = 0;
        const int rc = xoeCheckMsg(d, m, mlen, &at);
        if (rc != XOE_OK)
            return xoeFail(ei, rc, i, off + at);
        unknown += d == NULL;
        sequenced += (unsigned)xoeIsSequenced(type);
        off += mlen;
    }
    if (off != len)
        return xoeFail(ei, XOE_ERR_TRAILING, h.count, off);

    f->buf = p;
    f->len = h.length;
    f->version = h.version;
    f->flags = h.flags;
    f->dir = (uint8_t)dir;
    f->count = h.count;
    f->session = h.session;
    f->seq = h.seq;
    f->sequenced = (uint16_t)sequenced;
    f->unknown = (uint16_t)unknown;
    return XOE_OK;
}

/* Starts iterating the messages of a parsed frame, in wire order. */
static inline void xoeIterInit(xoeIter *it, const xoeFrame *f)
{
    it->f = f;
    it->off = XOE_HEADER_SIZE;
    it->index = 0;
    it->nextSeq = f->seq;
}

/* Copies the next message (known or unknown) into *m and returns 1, or
 * returns 0 after the last one. Only for frames xoeFrameParse accepted. */
static inline int xoeIterNext(xoeIter *it, xoeMsg *m)
{
    if (it->index >= it->f->count)
        return 0;
    const uint8_t *p = it->f->buf + it->off;
    const uint16_t mlen = xoeLoad16(p);
    const xoeMsgDesc *d = xoeDescribe(p[2]);
    m->type = p[2];
    m->known = d != NULL;
    m->length = mlen;
    m->index = it->index;
    m->offset = it->off;
    m->seq = xoeIsSequenced(p[2]) ? it->nextSeq++ : 0;
    if (d) {
        memcpy(m->u.raw, p, d->size);
    } else {
        const size_t n = mlen < XOE_MSG_MAX ? mlen : XOE_MSG_MAX;
        memset(m->u.raw, 0, sizeof m->u.raw);
        memcpy(m->u.raw, p, n);
    }
    it->off = (uint16_t)(it->off + mlen);
    it->index++;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                  */

/* Builds one frame in a caller buffer. Messages are appended in order; the
 * header's count and length are written by xoeWriterFinish. */
typedef struct {
    uint8_t *buf;
    uint16_t cap; /* min(buffer size, XOE_FRAME_MAX) */
    uint16_t len;
    uint16_t count;
    uint16_t sequenced; /* application messages appended */
    uint8_t dir;        /* XOE_DIR_ANY until the first message */
} xoeWriter;

/* Starts a frame in buf (cap bytes, any alignment) with this session, first
 * sequence number and flags. Returns XOE_OK; XOE_ERR_NO_SPACE if cap is
 * below the header size; XOE_ERR_FLAGS for an unknown flag. On error the
 * writer is unusable (appends fail). */
static inline int xoeWriterInit(xoeWriter *w, void *buf, size_t cap, uint32_t session, uint64_t seq,
                                uint8_t flags)
{
    w->buf = (uint8_t *)buf;
    w->cap = 0;
    w->len = 0;
    w->count = 0;
    w->sequenced = 0;
    w->dir = XOE_DIR_ANY;
    if (cap < XOE_HEADER_SIZE)
        return XOE_ERR_NO_SPACE;
    if (flags & ~XOE_FLAGS_KNOWN)
        return XOE_ERR_FLAGS;
    const xoeFrameHeader h = {XOE_MAGIC, XOE_VERSION, flags, 0, XOE_HEADER_SIZE, session, 0, seq};
    memcpy(w->buf, &h, sizeof h);
    w->cap = (uint16_t)(cap < XOE_FRAME_MAX ? cap : XOE_FRAME_MAX);
    w->len = XOE_HEADER_SIZE;
    return XOE_OK;
}

/* Bytes still free in the frame. */
static inline size_t xoeWriterRoom(const xoeWriter *w)
{
    return (size_t)(w->cap - w->len);
}

static inline int xoeWriterAccept(xoeWriter *w, uint8_t type, uint16_t mlen)
{
    if (w->dir == XOE_DIR_ANY)
        w->dir = (uint8_t)xoeTypeDir(type);
    w->len = (uint16_t)(w->len + mlen);
    w->count++;
    w->sequenced = (uint16_t)(w->sequenced + xoeIsSequenced(type));
    return XOE_OK;
}

/* Appends a known message: copies the type's size from msg (a pointer to the
 * struct of that type), sets its length and type, zeroes every reserved
 * byte, then checks its enumerated fields. Returns XOE_OK;
 * XOE_ERR_UNKNOWN_TYPE; XOE_ERR_DIRECTION if the frame already holds
 * messages of the other direction; XOE_ERR_NO_SPACE; XOE_ERR_ENUM. Nothing
 * is appended on error. */
static inline int xoeAppend(xoeWriter *w, uint8_t type, const void *msg)
{
    const xoeMsgDesc *d = xoeDescribe(type);
    if (!d)
        return XOE_ERR_UNKNOWN_TYPE;
    if (w->dir != XOE_DIR_ANY && xoeTypeDir(type) != w->dir)
        return XOE_ERR_DIRECTION;
    if (d->size > xoeWriterRoom(w))
        return XOE_ERR_NO_SPACE;
    uint8_t *m = w->buf + w->len;
    memcpy(m, msg, d->size);
    const xoeMsgHeader h = {d->size, type, 0};
    memcpy(m, &h, sizeof h);
    for (unsigned i = 0; i < d->nrules; i++) {
        const xoeRule *r = &d->rules[i];
        if (r->kind == XOE_RULE_ZERO) {
            uint64_t x;
            memcpy(&x, m + 8u * r->word, sizeof x);
            x &= ~((r->top >> 7) * 0xFFu); /* clear the field's lanes */
            memcpy(m + 8u * r->word, &x, sizeof x);
        }
    }
    uint16_t at;
    const int rc = xoeCheckRules(d, m, &at);
    if (rc != XOE_OK)
        return rc;
    return xoeWriterAccept(w, type, d->size);
}

/* Appends one message exactly as given (len bytes at msg, its own header
 * first): for unknown types, messages longer than their type, and tests.
 * The message must be one xoeFrameParse accepts: len a non-zero multiple
 * of 8 equal to its length field (else XOE_ERR_MSG_ZERO_LENGTH,
 * XOE_ERR_MSG_ALIGN or XOE_ERR_TYPE_MISMATCH), same direction as the frame
 * (XOE_ERR_DIRECTION), and for a known type the checks of xoeFrameParse
 * (XOE_ERR_MSG_SHORT, XOE_ERR_RESERVED, XOE_ERR_ENUM). XOE_ERR_NO_SPACE if
 * it does not fit. Nothing is appended on error. */
static inline int xoeAppendRaw(xoeWriter *w, const void *msg, size_t len)
{
    const uint8_t *m = (const uint8_t *)msg;
    if (len == 0)
        return XOE_ERR_MSG_ZERO_LENGTH;
    if (len % 8 != 0)
        return XOE_ERR_MSG_ALIGN;
    if (xoeLoad16(m) != len)
        return XOE_ERR_TYPE_MISMATCH;
    if (w->dir != XOE_DIR_ANY && xoeTypeDir(m[2]) != w->dir)
        return XOE_ERR_DIRECTION;
    if (len > xoeWriterRoom(w))
        return XOE_ERR_NO_SPACE;
    uint16_t at;
    const int rc = xoeCheckMsg(xoeDescribe(m[2]), m, (uint16_t)len, &at);
    if (rc != XOE_OK)
        return rc;
    memcpy(w->buf + w->len, m, len);
    return xoeWriterAccept(w, m[2], (uint16_t)len);
}

/* Writes count and length into the header. Returns the frame length to
 * send, or 0 when no message was appended (an empty frame is invalid).
 * More messages may be appended afterwards and Finish called again. */
static inline size_t xoeWriterFinish(xoeWriter *w)
{
    if (w->count == 0)
        return 0;
    memcpy(w->buf + offsetof(xoeFrameHeader, count), &w->count, sizeof w->count);
    memcpy(w->buf + offsetof(xoeFrameHeader, length), &w->len, sizeof w->len);
    return w->len;
}

/* Typed appends: xoeAppend with the type implied by the struct. */
static inline int xoeAppendLogon(xoeWriter *w, const xoeLogon *m)
{
    return xoeAppend(w, XOE_MSG_LOGON, m);
}
static inline int xoeAppendLogout(xoeWriter *w, const xoeLogout *m)
{
    return xoeAppend(w, XOE_MSG_LOGOUT, m);
}
static inline int xoeAppendHeartbeat(xoeWriter *w, const xoeHeartbeat *m)
{
    return xoeAppend(w, XOE_MSG_HEARTBEAT, m);
}
static inline int xoeAppendRetransmitRequest(xoeWriter *w, const xoeRetransmitRequest *m)
{
    return xoeAppend(w, XOE_MSG_RETRANSMIT_REQUEST, m);
}
static inline int xoeAppendNewOrder(xoeWriter *w, const xoeNewOrder *m)
{
    return xoeAppend(w, XOE_MSG_NEW_ORDER, m);
}
static inline int xoeAppendCancel(xoeWriter *w, const xoeCancel *m)
{
    return xoeAppend(w, XOE_MSG_CANCEL, m);
}
static inline int xoeAppendReplace(xoeWriter *w, const xoeReplace *m)
{
    return xoeAppend(w, XOE_MSG_REPLACE, m);
}
static inline int xoeAppendLogonAccepted(xoeWriter *w, const xoeLogonAccepted *m)
{
    return xoeAppend(w, XOE_MSG_LOGON_ACCEPTED, m);
}
static inline int xoeAppendLogonRejected(xoeWriter *w, const xoeLogonRejected *m)
{
    return xoeAppend(w, XOE_MSG_LOGON_REJECTED, m);
}
static inline int xoeAppendLoggedOut(xoeWriter *w, const xoeLoggedOut *m)
{
    return xoeAppend(w, XOE_MSG_LOGGED_OUT, m);
}
static inline int xoeAppendServerHeartbeat(xoeWriter *w, const xoeServerHeartbeat *m)
{
    return xoeAppend(w, XOE_MSG_SERVER_HEARTBEAT, m);
}
static inline int xoeAppendSessionReject(xoeWriter *w, const xoeSessionReject *m)
{
    return xoeAppend(w, XOE_MSG_SESSION_REJECT, m);
}
static inline int xoeAppendRetransmitEnd(xoeWriter *w, const xoeRetransmitEnd *m)
{
    return xoeAppend(w, XOE_MSG_RETRANSMIT_END, m);
}
static inline int xoeAppendAccepted(xoeWriter *w, const xoeAccepted *m)
{
    return xoeAppend(w, XOE_MSG_ACCEPTED, m);
}
static inline int xoeAppendRejected(xoeWriter *w, const xoeRejected *m)
{
    return xoeAppend(w, XOE_MSG_REJECTED, m);
}
static inline int xoeAppendExecuted(xoeWriter *w, const xoeExecuted *m)
{
    return xoeAppend(w, XOE_MSG_EXECUTED, m);
}
static inline int xoeAppendCancelled(xoeWriter *w, const xoeCancelled *m)
{
    return xoeAppend(w, XOE_MSG_CANCELLED, m);
}
static inline int xoeAppendReplaced(xoeWriter *w, const xoeReplaced *m)
{
    return xoeAppend(w, XOE_MSG_REPLACED, m);
}
static inline int xoeAppendCancelRejected(xoeWriter *w, const xoeCancelRejected *m)
{
    return xoeAppend(w, XOE_MSG_CANCEL_REJECTED, m);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* Compares two logon tokens in time independent of their contents. Returns
 * 1 when equal. */
static inline int xoeTokenEqual(const uint8_t *a, const uint8_t *b)
{
    unsigned diff = 0;
    for (unsigned i = 0; i < XOE_TOKEN_SIZE; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

/* Name of a message type ("NewOrder"), "?" if unknown. Static storage. */
static inline const char *xoeTypeName(uint8_t type)
{
    switch (type) {
    case XOE_MSG_LOGON:
        return "Logon";
    case XOE_MSG_LOGOUT:
        return "Logout";
    case XOE_MSG_HEARTBEAT:
        return "Heartbeat";
    case XOE_MSG_RETRANSMIT_REQUEST:
        return "RetransmitRequest";
    case XOE_MSG_NEW_ORDER:
        return "NewOrder";
    case XOE_MSG_CANCEL:
        return "Cancel";
    case XOE_MSG_REPLACE:
        return "Replace";
    case XOE_MSG_LOGON_ACCEPTED:
        return "LogonAccepted";
    case XOE_MSG_LOGON_REJECTED:
        return "LogonRejected";
    case XOE_MSG_LOGGED_OUT:
        return "LoggedOut";
    case XOE_MSG_SERVER_HEARTBEAT:
        return "ServerHeartbeat";
    case XOE_MSG_SESSION_REJECT:
        return "SessionReject";
    case XOE_MSG_RETRANSMIT_END:
        return "RetransmitEnd";
    case XOE_MSG_ACCEPTED:
        return "Accepted";
    case XOE_MSG_REJECTED:
        return "Rejected";
    case XOE_MSG_EXECUTED:
        return "Executed";
    case XOE_MSG_CANCELLED:
        return "Cancelled";
    case XOE_MSG_REPLACED:
        return "Replaced";
    case XOE_MSG_CANCEL_REJECTED:
        return "CancelRejected";
    default:
        return "?";
    }
}

/* Short name of an xoeError ("msg_overrun"), usable as a metric label;
 * "?" if unknown. Static storage. */
static inline const char *xoeErrorName(int err)
{
    switch (err) {
    case XOE_OK:
        return "ok";
    case XOE_ERR_SHORT_HEADER:
        return "short_header";
    case XOE_ERR_FRAME_TOO_LONG:
        return "frame_too_long";
    case XOE_ERR_MAGIC:
        return "bad_magic";
    case XOE_ERR_VERSION:
        return "bad_version";
    case XOE_ERR_FRAME_LENGTH:
        return "frame_length";
    case XOE_ERR_FRAME_ALIGN:
        return "frame_align";
    case XOE_ERR_FLAGS:
        return "bad_flags";
    case XOE_ERR_HEADER_RESERVED:
        return "header_reserved";
    case XOE_ERR_NO_MESSAGES:
        return "no_messages";
    case XOE_ERR_COUNT_SHORT:
        return "count_short";
    case XOE_ERR_MSG_ZERO_LENGTH:
        return "msg_zero_length";
    case XOE_ERR_MSG_ALIGN:
        return "msg_align";
    case XOE_ERR_MSG_OVERRUN:
        return "msg_overrun";
    case XOE_ERR_DIRECTION:
        return "direction";
    case XOE_ERR_MSG_SHORT:
        return "msg_short";
    case XOE_ERR_RESERVED:
        return "reserved";
    case XOE_ERR_ENUM:
        return "bad_enum";
    case XOE_ERR_TRAILING:
        return "trailing";
    case XOE_ERR_NO_SPACE:
        return "no_space";
    case XOE_ERR_UNKNOWN_TYPE:
        return "unknown_type";
    case XOE_ERR_TYPE_MISMATCH:
        return "type_mismatch";
    default:
        return "?";
    }
}

#ifdef __cplusplus
}
#endif
#endif
