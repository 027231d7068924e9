/* itch.h -- NASDAQ TotalView-ITCH 5.0 messages and MoldUDP64 framing: layouts, encoder, decoder.
 *
 * xchg publishes its market feed as ITCH 5.0 messages in MoldUDP64 packets
 * (DESIGN.md §5, docs/protocol/feed.md). The layouts below are the public
 * ITCH 5.0 specification's, byte for byte: big-endian integers, alpha fields
 * left-justified and padded with spaces, prices as 4-decimal uint32
 * ("Price(4)"), timestamps as 6-byte nanoseconds since midnight. Every message
 * starts with the same 11 bytes: type (1), stock locate (2), tracking number
 * (2), timestamp (6). Each message's size and the offset of each of its
 * fields are constants here, checked with _Static_assert (the last field ends
 * at the size the spec gives).
 *
 * MoldUDP64 (the spec of the same name): a packet is a 20-byte header,
 * session (10 alphanumeric bytes), sequence number of the first message (8),
 * message count (2), then `count` message blocks, each a 2-byte length and
 * that many bytes. Count 0 is a heartbeat and count 0xFFFF the end of the
 * session; both carry the next sequence number and no blocks. A request for
 * retransmission has the same 20-byte layout (count = messages requested).
 *
 * Header-only: the dataplane's feed builder (dataplane/feed.c), tools and
 * tests include it and link nothing. The encoder and decoder never read or
 * write outside the buffer they are given, never cast the buffer to a struct
 * (alignment) and do no allocation, system call or floating point. */
#ifndef XCHG_ITCH_H
#define XCHG_ITCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Big-endian loads and stores (any alignment)                              */

static inline void itchPut16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void itchPut32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The low 48 bits of v (ITCH timestamps). */
static inline void itchPut48(uint8_t *p, uint64_t v)
{
    itchPut16(p, (uint16_t)(v >> 32));
    itchPut32(p + 2, (uint32_t)v);
}

static inline void itchPut64(uint8_t *p, uint64_t v)
{
    itchPut32(p, (uint32_t)(v >> 32));
    itchPut32(p + 4, (uint32_t)v);
}

static inline uint16_t itchGet16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t itchGet32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t itchGet48(const uint8_t *p)
{
    return (uint64_t)itchGet16(p) << 32 | itchGet32(p + 2);
}

static inline uint64_t itchGet64(const uint8_t *p)
{
    return (uint64_t)itchGet32(p) << 32 | itchGet32(p + 4);
}

/* ------------------------------------------------------------------------ */
/* ITCH 5.0 message types, sizes and field offsets                          */

#define ITCH_SYSTEM_EVENT      'S'
#define ITCH_STOCK_DIRECTORY   'R'
#define ITCH_TRADING_ACTION    'H'
#define ITCH_ADD_ORDER         'A'
#define ITCH_ADD_ORDER_MPID    'F'
#define ITCH_ORDER_EXECUTED    'E'
#define ITCH_ORDER_EXECUTED_PX 'C'
#define ITCH_ORDER_CANCEL      'X'
#define ITCH_ORDER_DELETE      'D'
#define ITCH_ORDER_REPLACE     'U'
#define ITCH_TRADE             'P'
#define ITCH_CROSS_TRADE       'Q'
#define ITCH_NOII              'I'

#define ITCH_STOCK_LEN     8               /* alpha, left-justified, space padded */
#define ITCH_REASON_LEN    4               /* trading action reason */
#define ITCH_MPID_LEN      4               /* attribution of an F message */
#define ITCH_PRICE_MAX     UINT32_MAX      /* Price(4): 429496.7295 */
#define ITCH_TIMESTAMP_MAX 0xFFFFFFFFFFFFu /* 48 bits */
#define ITCH_MSG_MAX       50              /* largest message used here (I) */

/* Common header. */
#define ITCH_OFF_TYPE      0
#define ITCH_OFF_LOCATE    1
#define ITCH_OFF_TRACKING  3
#define ITCH_OFF_TIMESTAMP 5
#define ITCH_HEADER_SIZE   11

/* S: System Event */
#define ITCH_S_EVENT_CODE 11
#define ITCH_SIZE_S       12
/* R: Stock Directory */
#define ITCH_R_STOCK                11
#define ITCH_R_MARKET_CATEGORY      19
#define ITCH_R_FINANCIAL_STATUS     20
#define ITCH_R_ROUND_LOT_SIZE       21
#define ITCH_R_ROUND_LOTS_ONLY      25
#define ITCH_R_ISSUE_CLASSIFICATION 26
#define ITCH_R_ISSUE_SUBTYPE        27
#define ITCH_R_AUTHENTICITY         29
#define ITCH_R_SHORT_SALE_THRESHOLD 30
#define ITCH_R_IPO_FLAG             31
#define ITCH_R_LULD_TIER            32
#define ITCH_R_ETP_FLAG             33
#define ITCH_R_ETP_LEVERAGE         34
#define ITCH_R_INVERSE              38
#define ITCH_SIZE_R                 39
/* H: Stock Trading Action */
#define ITCH_H_STOCK    11
#define ITCH_H_STATE    19
#define ITCH_H_RESERVED 20
#define ITCH_H_REASON   21
#define ITCH_SIZE_H     25
/* A: Add Order (no attribution); F: Add Order with MPID attribution */
#define ITCH_A_REF         11
#define ITCH_A_SIDE        19
#define ITCH_A_SHARES      20
#define ITCH_A_STOCK       24
#define ITCH_A_PRICE       32
#define ITCH_SIZE_A        36
#define ITCH_F_ATTRIBUTION 36
#define ITCH_SIZE_F        40
/* E: Order Executed; C: Order Executed With Price */
#define ITCH_E_REF       11
#define ITCH_E_SHARES    19
#define ITCH_E_MATCH     23
#define ITCH_SIZE_E      31
#define ITCH_C_PRINTABLE 31
#define ITCH_C_PRICE     32
#define ITCH_SIZE_C      36
/* X: Order Cancel (partial) */
#define ITCH_X_REF    11
#define ITCH_X_SHARES 19
#define ITCH_SIZE_X   23
/* D: Order Delete */
#define ITCH_D_REF  11
#define ITCH_SIZE_D 19
/* U: Order Replace */
#define ITCH_U_ORIG_REF 11
#define ITCH_U_NEW_REF  19
#define ITCH_U_SHARES   27
#define ITCH_U_PRICE    31
#define ITCH_SIZE_U     35
/* P: Trade (non-cross) */
#define ITCH_P_REF    11
#define ITCH_P_SIDE   19
#define ITCH_P_SHARES 20
#define ITCH_P_STOCK  24
#define ITCH_P_PRICE  32
#define ITCH_P_MATCH  36
#define ITCH_SIZE_P   44
/* Q: Cross Trade */
#define ITCH_Q_SHARES     11
#define ITCH_Q_STOCK      19
#define ITCH_Q_PRICE      27
#define ITCH_Q_MATCH      31
#define ITCH_Q_CROSS_TYPE 39
#define ITCH_SIZE_Q       40
/* I: Net Order Imbalance Indicator (NOII) */
#define ITCH_I_PAIRED          11
#define ITCH_I_IMBALANCE       19
#define ITCH_I_DIRECTION       27
#define ITCH_I_STOCK           28
#define ITCH_I_FAR_PRICE       36
#define ITCH_I_NEAR_PRICE      40
#define ITCH_I_REF_PRICE       44
#define ITCH_I_CROSS_TYPE      48
#define ITCH_I_PRICE_VARIATION 49
#define ITCH_SIZE_I            50

/* Each message ends where its last field ends, and the sizes are the spec's. */
_Static_assert(ITCH_OFF_TIMESTAMP + 6 == ITCH_HEADER_SIZE, "ITCH header");
_Static_assert(ITCH_S_EVENT_CODE + 1 == ITCH_SIZE_S && ITCH_SIZE_S == 12, "S");
_Static_assert(ITCH_R_MARKET_CATEGORY == ITCH_R_STOCK + ITCH_STOCK_LEN &&
                   ITCH_R_ROUND_LOTS_ONLY == ITCH_R_ROUND_LOT_SIZE + 4 &&
                   ITCH_R_AUTHENTICITY == ITCH_R_ISSUE_SUBTYPE + 2 &&
                   ITCH_R_INVERSE == ITCH_R_ETP_LEVERAGE + 4 && ITCH_R_INVERSE + 1 == ITCH_SIZE_R &&
                   ITCH_SIZE_R == 39,
               "R");
_Static_assert(ITCH_H_STATE == ITCH_H_STOCK + ITCH_STOCK_LEN &&
                   ITCH_H_REASON + ITCH_REASON_LEN == ITCH_SIZE_H && ITCH_SIZE_H == 25,
               "H");
_Static_assert(ITCH_A_SIDE == ITCH_A_REF + 8 && ITCH_A_SHARES == ITCH_A_SIDE + 1 &&
                   ITCH_A_STOCK == ITCH_A_SHARES + 4 &&
                   ITCH_A_PRICE == ITCH_A_STOCK + ITCH_STOCK_LEN &&
                   ITCH_A_PRICE + 4 == ITCH_SIZE_A && ITCH_SIZE_A == 36,
               "A");
_Static_assert(ITCH_F_ATTRIBUTION == ITCH_SIZE_A &&
                   ITCH_F_ATTRIBUTION + ITCH_MPID_LEN == ITCH_SIZE_F && ITCH_SIZE_F == 40,
               "F");
_Static_assert(ITCH_E_SHARES == ITCH_E_REF + 8 && ITCH_E_MATCH == ITCH_E_SHARES + 4 &&
                   ITCH_E_MATCH + 8 == ITCH_SIZE_E && ITCH_SIZE_E == 31,
               "E");
_Static_assert(ITCH_C_PRINTABLE == ITCH_SIZE_E && ITCH_C_PRICE == ITCH_C_PRINTABLE + 1 &&
                   ITCH_C_PRICE + 4 == ITCH_SIZE_C && ITCH_SIZE_C == 36,
               "C");
_Static_assert(ITCH_X_SHARES == ITCH_X_REF + 8 && ITCH_X_SHARES + 4 == ITCH_SIZE_X &&
                   ITCH_SIZE_X == 23,
               "X");
_Static_assert(ITCH_D_REF + 8 == ITCH_SIZE_D && ITCH_SIZE_D == 19, "D");
_Static_assert(ITCH_U_NEW_REF == ITCH_U_ORIG_REF + 8 && ITCH_U_SHARES == ITCH_U_NEW_REF + 8 &&
                   ITCH_U_PRICE == ITCH_U_SHARES + 4 && ITCH_U_PRICE + 4 == ITCH_SIZE_U &&
                   ITCH_SIZE_U == 35,
               "U");
_Static_assert(ITCH_P_SIDE == ITCH_P_REF + 8 && ITCH_P_SHARES == ITCH_P_SIDE + 1 &&
                   ITCH_P_STOCK == ITCH_P_SHARES + 4 &&
                   ITCH_P_PRICE == ITCH_P_STOCK + ITCH_STOCK_LEN &&
                   ITCH_P_MATCH == ITCH_P_PRICE + 4 && ITCH_P_MATCH + 8 == ITCH_SIZE_P &&
                   ITCH_SIZE_P == 44,
               "P");
_Static_assert(ITCH_Q_STOCK == ITCH_Q_SHARES + 8 && ITCH_Q_PRICE == ITCH_Q_STOCK + ITCH_STOCK_LEN &&
                   ITCH_Q_MATCH == ITCH_Q_PRICE + 4 && ITCH_Q_CROSS_TYPE == ITCH_Q_MATCH + 8 &&
                   ITCH_Q_CROSS_TYPE + 1 == ITCH_SIZE_Q && ITCH_SIZE_Q == 40,
               "Q");
_Static_assert(ITCH_I_IMBALANCE == ITCH_I_PAIRED + 8 && ITCH_I_DIRECTION == ITCH_I_IMBALANCE + 8 &&
                   ITCH_I_STOCK == ITCH_I_DIRECTION + 1 &&
                   ITCH_I_FAR_PRICE == ITCH_I_STOCK + ITCH_STOCK_LEN &&
                   ITCH_I_NEAR_PRICE == ITCH_I_FAR_PRICE + 4 &&
                   ITCH_I_REF_PRICE == ITCH_I_NEAR_PRICE + 4 &&
                   ITCH_I_CROSS_TYPE == ITCH_I_REF_PRICE + 4 &&
                   ITCH_I_PRICE_VARIATION == ITCH_I_CROSS_TYPE + 1 &&
                   ITCH_I_PRICE_VARIATION + 1 == ITCH_SIZE_I && ITCH_SIZE_I == ITCH_MSG_MAX,
               "I");

/* Enumerated alpha values (the ones xchg sends, and what the decoder checks). */
#define ITCH_EVENT_START_OF_MESSAGES     'O'
#define ITCH_EVENT_START_OF_SYSTEM_HOURS 'S'
#define ITCH_EVENT_START_OF_MARKET_HOURS 'Q'
#define ITCH_EVENT_END_OF_MARKET_HOURS   'M'
#define ITCH_EVENT_END_OF_SYSTEM_HOURS   'E'
#define ITCH_EVENT_END_OF_MESSAGES       'C'
#define ITCH_STATE_HALTED                'H'
#define ITCH_STATE_PAUSED                'P'
#define ITCH_STATE_QUOTATION_ONLY        'Q'
#define ITCH_STATE_TRADING               'T'
#define ITCH_BUY                         'B'
#define ITCH_SELL                        'S'
#define ITCH_CROSS_OPENING               'O'
#define ITCH_CROSS_CLOSING               'C'
#define ITCH_CROSS_HALT                  'H' /* IPO and halted/paused securities */
#define ITCH_CROSS_INTRADAY              'I' /* Q only: Cross Network intraday/post-close */
#define ITCH_IMBALANCE_BUY               'B'
#define ITCH_IMBALANCE_SELL              'S'
#define ITCH_IMBALANCE_NONE              'N'
#define ITCH_IMBALANCE_INSUFFICIENT      'O' /* insufficient orders to calculate */

/* ------------------------------------------------------------------------ */
/* Decoded messages                                                         */

typedef struct {
    uint8_t eventCode;
} itchSystemEvent;

typedef struct {
    char stock[ITCH_STOCK_LEN];
    uint8_t marketCategory, financialStatus;
    uint32_t roundLotSize;
    uint8_t roundLotsOnly, issueClassification;
    char issueSubType[2];
    uint8_t authenticity, shortSaleThreshold, ipoFlag, luldTier, etpFlag;
    uint32_t etpLeverage;
    uint8_t inverse;
} itchStockDirectory;

typedef struct {
    char stock[ITCH_STOCK_LEN];
    uint8_t state, reserved;
    char reason[ITCH_REASON_LEN];
} itchTradingAction;

typedef struct { /* A and F */
    uint64_t orderRef;
    uint8_t side;
    uint32_t shares;
    char stock[ITCH_STOCK_LEN];
    uint32_t price;
    char attribution[ITCH_MPID_LEN]; /* F only */
} itchAddOrder;

typedef struct { /* E and C */
    uint64_t orderRef;
    uint32_t shares;
    uint64_t matchNumber;
    uint8_t printable; /* C only: 'Y' or 'N' */
    uint32_t price;    /* C only */
} itchOrderExecuted;

typedef struct {
    uint64_t orderRef;
    uint32_t shares; /* cancelled shares */
} itchOrderCancel;

typedef struct {
    uint64_t orderRef;
} itchOrderDelete;

typedef struct {
    uint64_t origRef, newRef;
    uint32_t shares, price;
} itchOrderReplace;

typedef struct {
    uint64_t orderRef;
    uint8_t side;
    uint32_t shares;
    char stock[ITCH_STOCK_LEN];
    uint32_t price;
    uint64_t matchNumber;
} itchTrade;

typedef struct {
    uint64_t shares;
    char stock[ITCH_STOCK_LEN];
    uint32_t price;
    uint64_t matchNumber;
    uint8_t crossType;
} itchCrossTrade;

typedef struct {
    uint64_t pairedShares, imbalanceShares;
    uint8_t direction;
    char stock[ITCH_STOCK_LEN];
    uint32_t farPrice, nearPrice, refPrice;
    uint8_t crossType, priceVariation;
} itchNoii;

typedef struct {
    uint8_t type; /* ITCH_SYSTEM_EVENT ... ITCH_NOII */
    uint16_t locate;
    uint16_t tracking;
    uint64_t timestamp; /* ns since midnight, 48 bits */
    union {
        itchSystemEvent systemEvent;       /* S */
        itchStockDirectory stockDirectory; /* R */
        itchTradingAction tradingAction;   /* H */
        itchAddOrder addOrder;             /* A, F */
        itchOrderExecuted executed;        /* E, C */
        itchOrderCancel cancel;            /* X */
        itchOrderDelete del;               /* D */
        itchOrderReplace replace;          /* U */
        itchTrade trade;                   /* P */
        itchCrossTrade cross;              /* Q */
        itchNoii noii;                     /* I */
    } u;
} itchMsg;

/* Decoder results. */
typedef enum {
    ITCH_OK = 0,
    ITCH_ERR_EMPTY = -1,  /* zero-length message */
    ITCH_ERR_TYPE = -2,   /* a type this header does not describe */
    ITCH_ERR_LENGTH = -3, /* length differs from the type's size */
    ITCH_ERR_FIELD = -4   /* an enumerated alpha field holds a value the spec does not list */
} itchError;

/* Size of a message type, 0 for a type this header does not describe. */
static inline size_t itchSize(uint8_t type)
{
    switch (type) {
    case ITCH_SYSTEM_EVENT:
        return ITCH_SIZE_S;
    case ITCH_STOCK_DIRECTORY:
        return ITCH_SIZE_R;
    case ITCH_TRADING_ACTION:
        return ITCH_SIZE_H;
    case ITCH_ADD_ORDER:
        return ITCH_SIZE_A;
    case ITCH_ADD_ORDER_MPID:
        return ITCH_SIZE_F;
    case ITCH_ORDER_EXECUTED:
        return ITCH_SIZE_E;
    case ITCH_ORDER_EXECUTED_PX:
        return ITCH_SIZE_C;
    case ITCH_ORDER_CANCEL:
        return ITCH_SIZE_X;
    case ITCH_ORDER_DELETE:
        return ITCH_SIZE_D;
    case ITCH_ORDER_REPLACE:
        return ITCH_SIZE_U;
    case ITCH_TRADE:
        return ITCH_SIZE_P;
    case ITCH_CROSS_TRADE:
        return ITCH_SIZE_Q;
    case ITCH_NOII:
        return ITCH_SIZE_I;
    default:
        return 0;
    }
}

/* Writes an alpha field: `s` left-justified, padded with spaces to n bytes
 * (at most n bytes of s are used; s stops at its NUL). */
static inline void itchPutAlpha(uint8_t *p, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && s[i]; i++)
        p[i] = (uint8_t)s[i];
    for (; i < n; i++)
        p[i] = ' ';
}

/* Encodes m into out (cap bytes). Returns the message size, or 0 when the
 * type is unknown or cap is too small. Values are written as given (no
 * validation): the timestamp's low 48 bits, alpha fields byte for byte. */
static inline size_t itchEncode(const itchMsg *m, uint8_t *out, size_t cap)
{
    size_t n = itchSize(m->type);
    if (n == 0 || cap < n)
        return 0;
    uint8_t *p = out;
    p[ITCH_OFF_TYPE] = m->type;
    itchPut16(p + ITCH_OFF_LOCATE, m->locate);
    itchPut16(p + ITCH_OFF_TRACKING, m->tracking);
    itchPut48(p + ITCH_OFF_TIMESTAMP, m->timestamp);
    switch (m->type) {
    case ITCH_SYSTEM_EVENT:
        p[ITCH_S_EVENT_CODE] = m->u.systemEvent.eventCode;
        break;
    case ITCH_STOCK_DIRECTORY: {
        const itchStockDirectory *r = &m->u.stockDirectory;
        memcpy(p + ITCH_R_STOCK, r->stock, ITCH_STOCK_LEN);
        p[ITCH_R_MARKET_CATEGORY] = r->marketCategory;
        p[ITCH_R_FINANCIAL_STATUS] = r->financialStatus;
        itchPut32(p + ITCH_R_ROUND_LOT_SIZE, r->roundLotSize);
        p[ITCH_R_ROUND_LOTS_ONLY] = r->roundLotsOnly;
        p[ITCH_R_ISSUE_CLASSIFICATION] = r->issueClassification;
        memcpy(p + ITCH_R_ISSUE_SUBTYPE, r->issueSubType, 2);
        p[ITCH_R_AUTHENTICITY] = r->authenticity;
        p[ITCH_R_SHORT_SALE_THRESHOLD] = r->shortSaleThreshold;
        p[ITCH_R_IPO_FLAG] = r->ipoFlag;
        p[ITCH_R_LULD_TIER] = r->luldTier;
        p[ITCH_R_ETP_FLAG] = r->etpFlag;
        itchPut32(p + ITCH_R_ETP_LEVERAGE, r->etpLeverage);
        p[ITCH_R_INVERSE] = r->inverse;
        break;
    }
    case ITCH_TRADING_ACTION:
        memcpy(p + ITCH_H_STOCK, m->u.tradingAction.stock, ITCH_STOCK_LEN);
        p[ITCH_H_STATE] = m->u.tradingAction.state;
        p[ITCH_H_RESERVED] = m->u.tradingAction.reserved;
        memcpy(p + ITCH_H_REASON, m->u.tradingAction.reason, ITCH_REASON_LEN);
        break;
    case ITCH_ADD_ORDER:
    case ITCH_ADD_ORDER_MPID:
        itchPut64(p + ITCH_A_REF, m->u.addOrder.orderRef);
        p[ITCH_A_SIDE] = m->u.addOrder.side;
        itchPut32(p + ITCH_A_SHARES, m->u.addOrder.shares);
        memcpy(p + ITCH_A_STOCK, m->u.addOrder.stock, ITCH_STOCK_LEN);
        itchPut32(p + ITCH_A_PRICE, m->u.addOrder.price);
        if (m->type == ITCH_ADD_ORDER_MPID)
            memcpy(p + ITCH_F_ATTRIBUTION, m->u.addOrder.attribution, ITCH_MPID_LEN);
        break;
    case ITCH_ORDER_EXECUTED:
    case ITCH_ORDER_EXECUTED_PX:
        itchPut64(p + ITCH_E_REF, m->u.executed.orderRef);
        itchPut32(p + ITCH_E_SHARES, m->u.executed.shares);
        itchPut64(p + ITCH_E_MATCH, m->u.executed.matchNumber);
        if (m->type == ITCH_ORDER_EXECUTED_PX) {
            p[ITCH_C_PRINTABLE] = m->u.executed.printable;
            itchPut32(p + ITCH_C_PRICE, m->u.executed.price);
        }
        break;
    case ITCH_ORDER_CANCEL:
        itchPut64(p + ITCH_X_REF, m->u.cancel.orderRef);
        itchPut32(p + ITCH_X_SHARES, m->u.cancel.shares);
        break;
    case ITCH_ORDER_DELETE:
        itchPut64(p + ITCH_D_REF, m->u.del.orderRef);
        break;
    case ITCH_ORDER_REPLACE:
        itchPut64(p + ITCH_U_ORIG_REF, m->u.replace.origRef);
        itchPut64(p + ITCH_U_NEW_REF, m->u.replace.newRef);
        itchPut32(p + ITCH_U_SHARES, m->u.replace.shares);
        itchPut32(p + ITCH_U_PRICE, m->u.replace.price);
        break;
    case ITCH_TRADE:
        itchPut64(p + ITCH_P_REF, m->u.trade.orderRef);
        p[ITCH_P_SIDE] = m->u.trade.side;
        itchPut32(p + ITCH_P_SHARES, m->u.trade.shares);
        memcpy(p + ITCH_P_STOCK, m->u.trade.stock, ITCH_STOCK_LEN);
        itchPut32(p + ITCH_P_PRICE, m->u.trade.price);
        itchPut64(p + ITCH_P_MATCH, m->u.trade.matchNumber);
        break;
    case ITCH_CROSS_TRADE:
        itchPut64(p + ITCH_Q_SHARES, m->u.cross.shares);
        memcpy(p + ITCH_Q_STOCK, m->u.cross.stock, ITCH_STOCK_LEN);
        itchPut32(p + ITCH_Q_PRICE, m->u.cross.price);
        itchPut64(p + ITCH_Q_MATCH, m->u.cross.matchNumber);
        p[ITCH_Q_CROSS_TYPE] = m->u.cross.crossType;
        break;
    case ITCH_NOII:
        itchPut64(p + ITCH_I_PAIRED, m->u.noii.pairedShares);
        itchPut64(p + ITCH_I_IMBALANCE, m->u.noii.imbalanceShares);
        p[ITCH_I_DIRECTION] = m->u.noii.direction;
        memcpy(p + ITCH_I_STOCK, m->u.noii.stock, ITCH_STOCK_LEN);
        itchPut32(p + ITCH_I_FAR_PRICE, m->u.noii.farPrice);
        itchPut32(p + ITCH_I_NEAR_PRICE, m->u.noii.nearPrice);
        itchPut32(p + ITCH_I_REF_PRICE, m->u.noii.refPrice);
        p[ITCH_I_CROSS_TYPE] = m->u.noii.crossType;
        p[ITCH_I_PRICE_VARIATION] = m->u.noii.priceVariation;
        break;
    }
    return n;
}

static inline int itchIsOneOf(uint8_t c, const char *set)
{
    for (; *set; set++)
        if ((uint8_t)*set == c)
            return 1;
    return 0;
}

/* Decodes one message of exactly len bytes (a MoldUDP64 block). Checks the
 * type, that len is the type's size, and the enumerated fields the spec
 * lists values for: system event code, trading state, buy/sell indicator,
 * printable, cross type, imbalance direction, price variation indicator.
 * Stock Directory codes, reasons, stocks and attributions are not checked.
 * Returns ITCH_OK (and fills *m) or a negative itchError (*m unspecified). */
static inline int itchDecode(const uint8_t *p, size_t len, itchMsg *m)
{
    if (len == 0)
        return ITCH_ERR_EMPTY;
    size_t n = itchSize(p[0]);
    if (n == 0)
        return ITCH_ERR_TYPE;
    if (len != n)
        return ITCH_ERR_LENGTH;
    memset(m, 0, sizeof *m);
    m->type = p[ITCH_OFF_TYPE];
    m->locate = itchGet16(p + ITCH_OFF_LOCATE);
    m->tracking = itchGet16(p + ITCH_OFF_TRACKING);
    m->timestamp = itchGet48(p + ITCH_OFF_TIMESTAMP);
    int ok = 1;
    switch (m->type) {
    case ITCH_SYSTEM_EVENT:
        m->u.systemEvent.eventCode = p[ITCH_S_EVENT_CODE];
        ok = itchIsOneOf(p[ITCH_S_EVENT_CODE], "OSQMEC");
        break;
    case ITCH_STOCK_DIRECTORY: {
        itchStockDirectory *r = &m->u.stockDirectory;
        memcpy(r->stock, p + ITCH_R_STOCK, ITCH_STOCK_LEN);
        r->marketCategory = p[ITCH_R_MARKET_CATEGORY];
        r->financialStatus = p[ITCH_R_FINANCIAL_STATUS];
        r->roundLotSize = itchGet32(p + ITCH_R_ROUND_LOT_SIZE);
        r->roundLotsOnly = p[ITCH_R_ROUND_LOTS_ONLY];
        r->issueClassification = p[ITCH_R_ISSUE_CLASSIFICATION];
        memcpy(r->issueSubType, p + ITCH_R_ISSUE_SUBTYPE, 2);
        r->authenticity = p[ITCH_R_AUTHENTICITY];
        r->shortSaleThreshold = p[ITCH_R_SHORT_SALE_THRESHOLD];
        r->ipoFlag = p[ITCH_R_IPO_FLAG];
        r->luldTier = p[ITCH_R_LULD_TIER];
        r->etpFlag = p[ITCH_R_ETP_FLAG];
        r->etpLeverage = itchGet32(p + ITCH_R_ETP_LEVERAGE);
        r->inverse = p[ITCH_R_INVERSE];
        break;
    }
    case ITCH_TRADING_ACTION:
        memcpy(m->u.tradingAction.stock, p + ITCH_H_STOCK, ITCH_STOCK_LEN);
        m->u.tradingAction.state = p[ITCH_H_STATE];
        m->u.tradingAction.reserved = p[ITCH_H_RESERVED];
        memcpy(m->u.tradingAction.reason, p + ITCH_H_REASON, ITCH_REASON_LEN);
        ok = itchIsOneOf(p[ITCH_H_STATE], "HPQT");
        break;
    case ITCH_ADD_ORDER:
    case ITCH_ADD_ORDER_MPID:
        m->u.addOrder.orderRef = itchGet64(p + ITCH_A_REF);
        m->u.addOrder.side = p[ITCH_A_SIDE];
        m->u.addOrder.shares = itchGet32(p + ITCH_A_SHARES);
        memcpy(m->u.addOrder.stock, p + ITCH_A_STOCK, ITCH_STOCK_LEN);
        m->u.addOrder.price = itchGet32(p + ITCH_A_PRICE);
        if (m->type == ITCH_ADD_ORDER_MPID)
            memcpy(m->u.addOrder.attribution, p + ITCH_F_ATTRIBUTION, ITCH_MPID_LEN);
        ok = itchIsOneOf(p[ITCH_A_SIDE], "BS");
        break;
    case ITCH_ORDER_EXECUTED:
    case ITCH_ORDER_EXECUTED_PX:
        m->u.executed.orderRef = itchGet64(p + ITCH_E_REF);
        m->u.executed.shares = itchGet32(p + ITCH_E_SHARES);
        m->u.executed.matchNumber = itchGet64(p + ITCH_E_MATCH);
        if (m->type == ITCH_ORDER_EXECUTED_PX) {
            m->u.executed.printable = p[ITCH_C_PRINTABLE];
            m->u.executed.price = itchGet32(p + ITCH_C_PRICE);
            ok = itchIsOneOf(p[ITCH_C_PRINTABLE], "YN");
        }
        break;
    case ITCH_ORDER_CANCEL:
        m->u.cancel.orderRef = itchGet64(p + ITCH_X_REF);
        m->u.cancel.shares = itchGet32(p + ITCH_X_SHARES);
        break;
    case ITCH_ORDER_DELETE:
        m->u.del.orderRef = itchGet64(p + ITCH_D_REF);
        break;
    case ITCH_ORDER_REPLACE:
        m->u.replace.origRef = itchGet64(p + ITCH_U_ORIG_REF);
        m->u.replace.newRef = itchGet64(p + ITCH_U_NEW_REF);
        m->u.replace.shares = itchGet32(p + ITCH_U_SHARES);
        m->u.replace.price = itchGet32(p + ITCH_U_PRICE);
        break;
    case ITCH_TRADE:
        m->u.trade.orderRef = itchGet64(p + ITCH_P_REF);
        m->u.trade.side = p[ITCH_P_SIDE];
        m->u.trade.shares = itchGet32(p + ITCH_P_SHARES);
        memcpy(m->u.trade.stock, p + ITCH_P_STOCK, ITCH_STOCK_LEN);
        m->u.trade.price = itchGet32(p + ITCH_P_PRICE);
        m->u.trade.matchNumber = itchGet64(p + ITCH_P_MATCH);
        ok = itchIsOneOf(p[ITCH_P_SIDE], "BS");
        break;
    case ITCH_CROSS_TRADE:
        m->u.cross.shares = itchGet64(p + ITCH_Q_SHARES);
        memcpy(m->u.cross.stock, p + ITCH_Q_STOCK, ITCH_STOCK_LEN);
        m->u.cross.price = itchGet32(p + ITCH_Q_PRICE);
        m->u.cross.matchNumber = itchGet64(p + ITCH_Q_MATCH);
        m->u.cross.crossType = p[ITCH_Q_CROSS_TYPE];
        ok = itchIsOneOf(p[ITCH_Q_CROSS_TYPE], "OCHI");
        break;
    case ITCH_NOII:
        m->u.noii.pairedShares = itchGet64(p + ITCH_I_PAIRED);
        m->u.noii.imbalanceShares = itchGet64(p + ITCH_I_IMBALANCE);
        m->u.noii.direction = p[ITCH_I_DIRECTION];
        memcpy(m->u.noii.stock, p + ITCH_I_STOCK, ITCH_STOCK_LEN);
        m->u.noii.farPrice = itchGet32(p + ITCH_I_FAR_PRICE);
        m->u.noii.nearPrice = itchGet32(p + ITCH_I_NEAR_PRICE);
        m->u.noii.refPrice = itchGet32(p + ITCH_I_REF_PRICE);
        m->u.noii.crossType = p[ITCH_I_CROSS_TYPE];
        m->u.noii.priceVariation = p[ITCH_I_PRICE_VARIATION];
        ok = itchIsOneOf(p[ITCH_I_DIRECTION], "BSNO") && itchIsOneOf(p[ITCH_I_CROSS_TYPE], "OCH") &&
             itchIsOneOf(p[ITCH_I_PRICE_VARIATION], "L123456789ABC ");
        break;
    }
    return ok ? ITCH_OK : ITCH_ERR_FIELD;
}

/* A short English name of an itchError; static storage, never NULL. */
static inline const char *itchErrorName(int err)
{
    switch (err) {
    case ITCH_OK:
        return "ok";
    case ITCH_ERR_EMPTY:
        return "empty message";
    case ITCH_ERR_TYPE:
        return "unknown message type";
    case ITCH_ERR_LENGTH:
        return "length differs from the type's size";
    case ITCH_ERR_FIELD:
        return "enumerated field out of range";
    default:
        return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* MoldUDP64                                                                */

#define MOLD_SESSION_LEN     10
#define MOLD_OFF_SESSION     0
#define MOLD_OFF_SEQUENCE    10
#define MOLD_OFF_COUNT       18
#define MOLD_HEADER_SIZE     20
#define MOLD_BLOCK_HEADER    2      /* message length before each message */
#define MOLD_HEARTBEAT       0      /* count of a heartbeat packet */
#define MOLD_END_OF_SESSION  0xFFFF /* count of an end-of-session packet */
#define MOLD_MAX_COUNT       0xFFFE /* most messages a packet can carry */
#define MOLD_IP_UDP_OVERHEAD 28     /* IPv4 (no options) + UDP headers */
_Static_assert(MOLD_OFF_SEQUENCE == MOLD_OFF_SESSION + MOLD_SESSION_LEN &&
                   MOLD_OFF_COUNT == MOLD_OFF_SEQUENCE + 8 &&
                   MOLD_OFF_COUNT + 2 == MOLD_HEADER_SIZE,
               "MoldUDP64 header");

typedef struct {
    char session[MOLD_SESSION_LEN]; /* not NUL-terminated */
    uint64_t sequence;              /* first message's, or the next one for count 0/0xFFFF */
    uint16_t count;
} moldHeader;

typedef enum {
    MOLD_OK = 0,
    MOLD_ERR_SHORT = -1,    /* shorter than the header */
    MOLD_ERR_BLOCK = -2,    /* a block's length runs past the packet, or is 0 */
    MOLD_ERR_TRAILING = -3, /* bytes after the last block (or after a count 0/0xFFFF header) */
    MOLD_ERR_SEQUENCE = -4  /* sequence + count overflows 64 bits */
} moldError;

/* Writes a 20-byte header; `session` is MOLD_SESSION_LEN bytes. */
static inline void moldPutHeader(uint8_t *p, const char *session, uint64_t sequence, uint16_t count)
{
    memcpy(p + MOLD_OFF_SESSION, session, MOLD_SESSION_LEN);
    itchPut64(p + MOLD_OFF_SEQUENCE, sequence);
    itchPut16(p + MOLD_OFF_COUNT, count);
}

/* Validates a whole downstream packet: the header, then exactly `count`
 * blocks of 1+ bytes that end at the end of the packet (heartbeats and
 * end-of-session packets carry none). Fills *h (when the header was there).
 * Returns MOLD_OK or a negative moldError. Messages are then walked with
 * moldNextMessage. */
static inline int moldParse(const uint8_t *p, size_t len, moldHeader *h)
{
    if (len < MOLD_HEADER_SIZE)
        return MOLD_ERR_SHORT;
    memcpy(h->session, p + MOLD_OFF_SESSION, MOLD_SESSION_LEN);
    h->sequence = itchGet64(p + MOLD_OFF_SEQUENCE);
    h->count = itchGet16(p + MOLD_OFF_COUNT);
    size_t off = MOLD_HEADER_SIZE;
    if (h->count != MOLD_HEARTBEAT && h->count != MOLD_END_OF_SESSION) {
        if (h->sequence > UINT64_MAX - h->count)
            return MOLD_ERR_SEQUENCE;
        for (unsigned i = 0; i < h->count; i++) {
            if (len - off < MOLD_BLOCK_HEADER)
                return MOLD_ERR_BLOCK;
            size_t n = itchGet16(p + off);
            off += MOLD_BLOCK_HEADER;
            if (n == 0 || len - off < n)
                return MOLD_ERR_BLOCK;
            off += n;
        }
    }
    return off == len ? MOLD_OK : MOLD_ERR_TRAILING;
}

/* Walks the blocks of a packet moldParse accepted: *off starts at
 * MOLD_HEADER_SIZE; each call sets *msg and *msgLen to the next message and
 * advances *off. Returns 1, or 0 at the end of the packet. */
static inline int moldNextMessage(const uint8_t *p, size_t len, size_t *off, const uint8_t **msg,
                                  size_t *msgLen)
{
    if (*off + MOLD_BLOCK_HEADER > len)
        return 0;
    size_t n = itchGet16(p + *off);
    if (n == 0 || *off + MOLD_BLOCK_HEADER + n > len)
        return 0;
    *msg = p + *off + MOLD_BLOCK_HEADER;
    *msgLen = n;
    *off += MOLD_BLOCK_HEADER + n;
    return 1;
}

static inline const char *moldErrorName(int err)
{
    switch (err) {
    case MOLD_OK:
        return "ok";
    case MOLD_ERR_SHORT:
        return "shorter than the header";
    case MOLD_ERR_BLOCK:
        return "bad message block length";
    case MOLD_ERR_TRAILING:
        return "bytes after the last message";
    case MOLD_ERR_SEQUENCE:
        return "sequence number overflows";
    default:
        return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* End of Snapshot (GLIMPSE 5.0 'G'), closing xchg's book snapshot          */

/* The last message of a snapshot (docs/protocol/feed.md §2.5), as NASDAQ's
 * GLIMPSE 5.0 defines it: type 'G' and the ITCH sequence number the
 * snapshot corresponds to as 20 ASCII digits (right-justified, zero-filled
 * here; GLIMPSE calls the field Alpha). It has no locate, tracking number
 * or timestamp. A subscriber applies the incremental feed from that
 * sequence number on. */
#define ITCH_END_OF_SNAPSHOT      'G'
#define ITCH_END_OF_SNAPSHOT_SIZE 21
#define ITCH_SNAPSHOT_SEQ_DIGITS  20

static inline void itchPutEndOfSnapshot(uint8_t *p, uint64_t sequence)
{
    p[0] = ITCH_END_OF_SNAPSHOT;
    for (int i = ITCH_SNAPSHOT_SEQ_DIGITS; i >= 1; i--) {
        p[i] = (uint8_t)('0' + sequence % 10);
        sequence /= 10;
    }
}

/* Reads an End of Snapshot message. Returns 0 with *sequence set, or -1
 * for another type, another length, a non-digit (leading spaces are
 * accepted) or a number above 64 bits. */
static inline int itchGetEndOfSnapshot(const uint8_t *p, size_t len, uint64_t *sequence)
{
    if (len != ITCH_END_OF_SNAPSHOT_SIZE || p[0] != ITCH_END_OF_SNAPSHOT)
        return -1;
    uint64_t v = 0;
    int digits = 0;
    for (int i = 1; i <= ITCH_SNAPSHOT_SEQ_DIGITS; i++) {
        uint8_t c = p[i];
        if (c == ' ' && digits == 0)
            continue;
        if (c < '0' || c > '9' || v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(c - '0');
        digits++;
    }
    if (digits == 0)
        return -1;
    *sequence = v;
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif
