/* account.h -- accounts, margin, orders, fills and risk of the control core (integer money).
 *
 * An acctBook holds the exchange's business state as the reference system
 * defines it (reference/qaexchange-notes-1.md "Futures mechanics", QIFI
 * fields; DESIGN.md §3, §6, §7): instruments with their rates and status,
 * accounts with their money, positions (control/position.h), live and
 * finished orders of the trading day with what they froze, trades, and the
 * settlement history (control/settle.h). Money is int64 in 1e-4 currency
 * units, prices int64 in 1e-4 price units, rates ppm; margin and commission
 * round up, P&L is exact (docs/accounts.md has every formula).
 *
 * Functions return 0 or a reference error code (reference/qaexchange-notes-3.md):
 * 1001-1008 pre-trade risk, 2001-2005 account, 3001-3003 order, 6001-6002
 * settlement. The book allocates as it grows (control core only, never a
 * worker) and is single-threaded. */
#ifndef XCHG_CONTROL_ACCOUNT_H
#define XCHG_CONTROL_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "control/position.h"

#define ACCT_NAME_MAX      63
#define ACCT_PPM           1000000
#define ACCT_RISK_INFINITE 1000000000 /* ppm: margin held with no positive balance */

/* Codes (reference notes-3 §3). */
enum {
    ACCT_OK = 0,
    ACCT_ERR_FUNDS = 1001,           /* margin + commission above available (or the line) */
    ACCT_ERR_CONCENTRATION = 1002,   /* one instrument's margin above its share of balance */
    ACCT_ERR_NOTIONAL = 1003,        /* order notional above the maximum */
    ACCT_ERR_RISK = 1004,            /* risk ratio above the reject level */
    ACCT_ERR_SELF_TRADE = 1005,      /* (matcher's self-trade prevention) */
    ACCT_ERR_NO_ACCOUNT = 1006,      /* account does not exist */
    ACCT_ERR_NO_INSTRUMENT = 1007,   /* instrument does not exist (or is delisted) */
    ACCT_ERR_PARAMS = 1008,          /* lots, price, tick, band, side, offset */
    ACCT_ERR_EXISTS = 2001,          /* account exists */
    ACCT_ERR_FROZEN = 2002,          /* account frozen */
    ACCT_ERR_DEPOSIT = 2003,         /* deposit amount not positive */
    ACCT_ERR_WITHDRAW = 2004,        /* withdraw not positive or above available */
    ACCT_ERR_POSITION = 2005,        /* not enough position to close */
    ACCT_ERR_NO_ORDER = 3001,        /* order not found */
    ACCT_ERR_NOT_CANCELLABLE = 3002, /* order filled or cancelled */
    ACCT_ERR_STATE = 3003,           /* instrument suspended */
    ACCT_ERR_PRICE_MISSING = 6001,   /* settlement price not set */
    ACCT_ERR_SETTLED = 6002          /* settlement already run for that date */
};

typedef enum { ACCT_INDIVIDUAL = 0, ACCT_INSTITUTIONAL = 1 } acctType;
typedef enum { INST_TRADING = 0, INST_SUSPENDED = 1, INST_DELISTED = 2 } instStatus;
typedef enum {
    ACCT_ORDER_ALIVE = 0,
    ACCT_ORDER_PARTIAL = 1,
    ACCT_ORDER_FILLED = 2,
    ACCT_ORDER_CANCELLED = 3
} acctOrderStatus;

typedef struct {
    cfgInstrument spec;  /* rates, limits, tick, close rule (config/config.h units) */
    uint8_t status;      /* instStatus */
    int64_t lastPrice;   /* 1e-4 price units; starts at the pre-settlement price */
    int64_t settlePrice; /* set for the coming settlement; 0 = not set */
} acctInstrument;

typedef struct {
    uint32_t id; /* account number (sessions carry it) */
    char name[ACCT_NAME_MAX + 1];
    uint8_t type;                          /* acctType */
    uint8_t frozen;                        /* 1: no trading, no withdrawal (2002) */
    int64_t preBalance, deposit, withdraw; /* today's, 1e-4 money */
    int64_t closeProfit, commission;
    int64_t margin, frozenMargin, frozenCommission;
    uint32_t firstPos; /* its positions, a chain through the pool; UINT32_MAX = none */
    uint32_t liveOrders;
    uint64_t createdNs;
} acctAccount;

/* The derived QIFI figures (docs/accounts.md). */
typedef struct {
    int64_t staticBalance;  /* pre_balance + deposit - withdraw + close_profit - commission */
    int64_t positionProfit; /* marked at last prices against position prices */
    int64_t floatProfit;    /* marked at last prices against open prices */
    int64_t balance;        /* static_balance + position_profit */
    int64_t available;      /* balance - margin - frozen_margin - frozen_commission */
    int64_t riskRatio;      /* margin / balance in ppm; ACCT_RISK_INFINITE if balance <= 0 */
} acctFigures;

typedef struct {
    uint64_t orderId, clOrdId;
    uint32_t account;
    uint16_t instrument; /* index in the book */
    uint8_t side;        /* 0 BUY, 1 SELL */
    uint8_t offset;      /* POS_OPEN .. POS_CLOSE_YESTERDAY */
    uint8_t priceType;   /* 0 LIMIT, 1 MARKET */
    uint8_t status;      /* acctOrderStatus */
    int64_t price;       /* 1e-4 price units; the band's edge for a market order */
    uint32_t qty, leaves, filled;
    uint32_t frozenToday, frozenYd;         /* lots a close reserves */
    int64_t frozenMargin, frozenCommission; /* what an open still freezes */
    int64_t commission;                     /* charged so far */
    uint64_t insertNs, updateNs;
} acctOrder;

typedef struct {
    uint64_t tradeId, orderId;
    uint32_t account;
    uint16_t instrument;
    uint8_t side, offset;
    int64_t price;
    uint32_t qty;
    int64_t commission, closeProfit;
    uint64_t ns;
} acctTrade;

/* A new order as the gateway saw it. */
typedef struct {
    uint64_t orderId, clOrdId;
    uint32_t account;
    uint16_t instrument;
    uint8_t side, offset, priceType;
    int64_t price; /* 1e-4 price units, LIMIT only */
    uint32_t qty;
    uint64_t nowNs;
} acctOrderReq;

/* What an order needs (acctOrderCost). */
typedef struct {
    int64_t price; /* the price margin is computed at (band edge for MARKET) */
    int64_t notional, margin, commission;
} acctCost;

/* Risk limits (config risk group; ppm and 1e-4 money). */
typedef struct {
    uint32_t rejectRatio, liquidationRatio, concentration;
    int64_t maxOrderNotional;
} acctLimits;

typedef struct acctBook acctBook;

/* ---- formulas (shared with the workers' risk checks) ---------------------- */

/* v x ppm / 1e6 rounded up, for v >= 0. */
static inline int64_t acctCeilPpm(int64_t v, uint32_t ppm)
{
    __int128 p = (__int128)v * ppm;
    /* the same value in 64 bits when it fits (every real order): a 128-bit
     * division is a library call (__divti3), a 64-bit one by a constant a
     * multiplication */
    if (p >= 0 && p <= INT64_MAX - (ACCT_PPM - 1))
        return ((int64_t)p + (ACCT_PPM - 1)) / ACCT_PPM;
    return (int64_t)((p + ACCT_PPM - 1) / ACCT_PPM);
}

static inline int64_t acctNotional(const cfgInstrument *ins, int64_t price, uint32_t qty)
{
    return price * (int64_t)qty * (int64_t)ins->multiplier;
}

/* margin = price x qty x multiplier x margin_rate, rounded up. */
static inline int64_t acctMargin(const cfgInstrument *ins, int64_t price, uint32_t qty)
{
    return acctCeilPpm(acctNotional(ins, price, qty), ins->marginRate);
}

/* commission = notional x commission_rate (rounded up) + per_lot x qty. */
static inline int64_t acctCommission(const cfgInstrument *ins, int64_t price, uint32_t qty)
{
    return acctCeilPpm(acctNotional(ins, price, qty), ins->commissionRate) +
           ins->commissionPerLot * (int64_t)qty;
}

/* risk ratio in ppm of margin to balance. */
static inline int64_t acctRiskRatio(int64_t margin, int64_t balance)
{
    if (margin <= 0)
        return 0;
    if (balance <= 0)
        return ACCT_RISK_INFINITE;
    __int128 r = (__int128)margin * ACCT_PPM / balance;
    return r > ACCT_RISK_INFINITE ? ACCT_RISK_INFINITE : (int64_t)r;
}

/* What an order of `qty` lots at `price` (LIMIT) or at the band's upper
 * edge (MARKET) needs: 0, or 1008 for bad side, offset, price type, lots
 * outside min..max, or a LIMIT price off tick or outside the band. No
 * allocation, no floating point: the workers' checks use it. */
int acctCostOf(const cfgInstrument *s, uint8_t side, uint8_t offset, uint8_t priceType,
               int64_t price, uint32_t qty, acctCost *out);

/* ---- the book ------------------------------------------------------------ */

/* Creates an empty book with these limits. NULL when out of memory. Free
 * with acctDestroy. */
acctBook *acctCreate(const acctLimits *limits);

/* Limits from the config's risk group. */
acctLimits acctLimitsFromConfig(const cfgRisk *risk);

void acctDestroy(acctBook *b);

const acctLimits *acctGetLimits(const acctBook *b);

/* Replaces the limits. Returns 0, or 1008 if reject > liquidation or a
 * ratio or the notional is 0. */
int acctSetLimits(acctBook *b, const acctLimits *l);

/* ---- accounts ------------------------------------------------------------ */

/* Opens an account with initial cash (deposited, counted in deposit).
 * Returns 0, 2001 if the id exists, 1008 for id 0, a name longer than
 * ACCT_NAME_MAX, a bad type or negative cash. */
int acctOpen(acctBook *b, uint32_t id, const char *name, uint8_t type, int64_t cash,
             uint64_t nowNs);

/* Adds money. Returns 0, 1006, or 2003 when amount <= 0 or the balance
 * would overflow. */
int acctDeposit(acctBook *b, uint32_t id, int64_t amount);

/* Takes money out, never more than available. Returns 0, 1006, 2002 for a
 * frozen account, 2004 when amount <= 0 or above available. */
int acctWithdraw(acctBook *b, uint32_t id, int64_t amount);

/* Freezes (no trading, no withdrawal) or unfreezes. Returns 0 or 1006. */
int acctSetFrozen(acctBook *b, uint32_t id, int frozen);

/* The account, or NULL. Valid until the next call that opens an account. */
const acctAccount *acctGet(const acctBook *b, uint32_t id);

/* The account's index for acctAt, or UINT32_MAX. */
uint32_t acctIndex(const acctBook *b, uint32_t id);

/* Accounts in opening order: acctAt(b, 0 .. acctCount(b) - 1). */
uint32_t acctCount(const acctBook *b);
const acctAccount *acctAt(const acctBook *b, uint32_t i);

/* Computes the derived figures at the instruments' last prices. */
void acctCompute(const acctBook *b, const acctAccount *a, acctFigures *out);

/* The account's positions: iterate with it = 0 until it returns NULL;
 * *instrument gets the instrument index. */
const posPosition *acctNextPosition(const acctBook *b, const acctAccount *a, uint32_t *it,
                                    uint16_t *instrument);

/* The position of an account in an instrument, or NULL if never held. */
const posPosition *acctPosition(const acctBook *b, uint32_t account, uint16_t instrument);

/* Sum of margin (used and frozen) the account has on one instrument. */
int64_t acctInstrumentMargin(const acctBook *b, uint32_t account, uint16_t instrument);

/* ---- orders and fills ------------------------------------------------------ */

/* What an order would freeze and its notional; 0, 1007 or 1008 (price off
 * tick, outside the band, lots outside min..max, bad side/offset). */
int acctOrderCost(const acctBook *b, const acctOrderReq *r, acctCost *out);

/* Pre-trade checks of a new order against the account (in this order:
 * 1006, 1007, 3003 suspended, 1008, 2002, 1004 opening over the reject
 * level, 1003, 2005 for closes, 1002 and 1001 for opens). `available`
 * replaces the account's available money when >= 0 (a worker's credit
 * line); pass -1 for the account's own. Changes nothing. */
int acctCheckOrder(const acctBook *b, const acctOrderReq *r, int64_t available);

/* Checks the order (acctCheckOrder) and, if it passes, records it and
 * freezes what it needs: an open freezes margin and commission at its
 * price, a close freezes the lots by the instrument's close rule. With
 * trusted != 0 only the parameters and lots are checked (the worker already
 * decided; used to mirror), and a MARKET order with a price > 0 freezes at
 * that price (the one the worker froze at). Returns 0 or the reject code. */
int acctOrderNew(acctBook *b, const acctOrderReq *r, int trusted);

/* Applies a fill of qty lots at price to an order: releases the frozen
 * share of those lots, charges commission, opens or closes the position
 * (margin at the fill price; close profit against the position price) and
 * marks the instrument's last price. Fills *trade when not NULL. Returns
 * 0, 3001 unknown order, 3002 order done, 1008 qty 0 or above leaves or a
 * price <= 0. */
int acctOrderFill(acctBook *b, uint64_t orderId, uint64_t tradeId, int64_t price, uint32_t qty,
                  uint64_t nowNs, acctTrade *trade);

/* Replaces an order's price and total quantity (the matcher's replace):
 * leaves become newQty - filled; an open re-freezes margin and commission
 * for the leaves at the new price, a close reserves more or fewer lots.
 * Returns 0, 3001, 3002, 3004 when newQty is not above the filled
 * quantity, 1008 bad price or lots, 2005 lots missing, or (unless trusted)
 * 1001 when the extra freeze exceeds available. */
int acctOrderReplace(acctBook *b, uint64_t orderId, int64_t price, uint32_t newQty, int trusted,
                     uint64_t nowNs);

/* Cancels what is left of an order, releasing its frozen money or lots.
 * Returns 0, 3001 or 3002. */
int acctOrderCancel(acctBook *b, uint64_t orderId, uint64_t nowNs);

/* The order, or NULL. */
const acctOrder *acctOrderGet(const acctBook *b, uint64_t orderId);

/* Orders of the day in arrival order: acctOrderAt(b, 0 .. acctOrderCount - 1). */
uint32_t acctOrderCount(const acctBook *b);
const acctOrder *acctOrderAt(const acctBook *b, uint32_t i);

/* Trades (one per side per fill) of the day in order. */
uint32_t acctTradeCount(const acctBook *b);
const acctTrade *acctTradeAt(const acctBook *b, uint32_t i);

/* Sets an instrument's last price (marks float profit). 0, 1007 or 1008. */
int acctMark(acctBook *b, uint16_t instrument, int64_t price);

/* Book-wide totals since creation, for the conservation checks. */
typedef struct {
    int64_t deposits, withdrawals, commission;
    uint64_t fills;
} acctTotals;
void acctGetTotals(const acctBook *b, acctTotals *out);

/* ---- risk --------------------------------------------------------------------- */

/* 1 when the account's risk ratio has reached the liquidation level
 * (>= the level: fires at the level, not below). */
int acctShouldLiquidate(const acctBook *b, const acctAccount *a);

/* One closing order of a liquidation plan. */
typedef struct {
    uint16_t instrument;
    uint8_t side;   /* 1 SELL to close longs, 0 BUY to close shorts */
    uint8_t offset; /* POS_CLOSE_TODAY or POS_CLOSE_YESTERDAY */
    uint32_t qty;
} acctCloseOrder;

/* A liquidation the control core decided. */
typedef struct {
    uint32_t account;
    uint64_t ns;
    int64_t riskRatio, balance, margin;
    uint32_t orders; /* closing orders planned */
} acctLiquidation;

/* Plans the force liquidation of an account: one closing order per
 * position side and day with free lots (at most max written to out; the
 * total needed is returned) and records an acctLiquidation. The caller
 * submits the orders (cancelling the account's pending orders first frees
 * the lots they reserve). Returns the number of orders needed, or -1006. */
int acctLiquidate(acctBook *b, uint32_t id, uint64_t nowNs, acctCloseOrder *out, uint32_t max);

uint32_t acctLiquidationCount(const acctBook *b);
const acctLiquidation *acctLiquidationAt(const acctBook *b, uint32_t i);

/* ---- instruments (control/instrument.c) ------------------------------------ */

/* Adds an instrument (spec copied; status TRADING, last price = pre
 * settlement). Returns its index >= 0, or -1008 for an invalid spec or an
 * id that exists. */
int instAdd(acctBook *b, const cfgInstrument *spec);

/* Adds every instrument of a config, in order (index = position in
 * cfg->instruments). Returns 0 or -1. */
int instLoadConfig(acctBook *b, const cfgConfig *cfg);

/* Index of an instrument by id, or -1. Delisted ones are found too. */
int instFind(const acctBook *b, const char *id);

uint32_t instCount(const acctBook *b);
const acctInstrument *instAt(const acctBook *b, uint16_t i);

/* The instrument traded as book `book` of segment index segIndex, or -1. */
int instByBook(const acctBook *b, uint16_t segIndex, uint16_t book);

/* Fields an update may change; a field is changed when its has* flag is set. */
typedef struct {
    int hasMarginRate, hasCommissionRate, hasCommissionPerLot, hasLimits, hasLots;
    uint32_t marginRate, commissionRate;
    int64_t commissionPerLot;
    uint32_t limitUp, limitDown;
    uint32_t minLots, maxLots;
} instUpdate;

/* Changes rates and limits of a non-delisted instrument (new orders use
 * them; held positions keep their margin until settlement recomputes it).
 * Returns 0, 1007, or 1008 for a value out of range. */
int instSetParams(acctBook *b, uint16_t i, const instUpdate *u);

/* Suspends or resumes trading (orders get 3003 while suspended). Returns
 * 0, 1007 (unknown or delisted). */
int instSetStatus(acctBook *b, uint16_t i, instStatus status);

/* Delists an instrument: refused while any position or live order remains.
 * On refusal returns 1008 and writes the holders (accounts with positions or
 * live orders, ascending, at most max) to holders with their number in
 * *nHolders. Returns 0 or 1007 otherwise. */
int instDelist(acctBook *b, uint16_t i, uint32_t *holders, uint32_t max, uint32_t *nHolders);

/* ---- checkpoints (storage/ckpt.h) ------------------------------------------ */

struct ckptSink;
struct ckptSource;

/* Writes the whole book (limits, totals, instruments, accounts, positions,
 * orders, trades, liquidations, settlement history) as records with keys
 * starting 0x00..0x17 (a version header first). Returns 0, or -1 when the
 * sink refused a record. */
int acctSnapshot(const acctBook *b, const struct ckptSink *sink);

/* Reads a book written by acctSnapshot into b, which must be fresh from
 * acctCreate (instruments loaded or not: the checkpoint's replace them).
 * Returns 0, or -1 on a damaged or foreign checkpoint (wrong version or
 * layout, keys out of order, sizes wrong) or out of memory; b is then
 * unusable (destroy it). */
int acctRestore(acctBook *b, const struct ckptSource *src);

#endif
