/* settle.h -- daily settlement of an acctBook: settlement prices, mark to market, roll, history.
 *
 * The reference SettlementEngine (reference/qaexchange-notes-1.md, notes-3
 * §5) in integer money: set each traded instrument's settlement price (one
 * or a batch), then settle a date once. Settling marks every position at
 * its settlement price (the position profit becomes part of the balance and
 * the position price becomes the settlement price), recomputes margin at
 * that price, rolls today's lots into yesterday's, starts the next day from
 * the new balance (pre_balance), recomputes risk and lists the accounts at
 * or over the liquidation level. Results are kept per date. */
#ifndef XCHG_CONTROL_SETTLE_H
#define XCHG_CONTROL_SETTLE_H

#include <stdint.h>

typedef struct acctBook acctBook;

/* One account's settlement (AccountSettlement). */
typedef struct {
    uint32_t account;
    uint32_t date;      /* YYYYMMDD */
    int64_t preBalance; /* the day's starting balance */
    int64_t deposit, withdraw;
    int64_t closeProfit;    /* realised during the day */
    int64_t positionProfit; /* marked at the settlement prices */
    int64_t commission;
    int64_t balance; /* the new pre_balance */
    int64_t margin;  /* at the settlement prices */
    int64_t riskRatio;
    uint8_t forceClose;
} settleAccount;

/* One settlement run (SettlementResult). */
typedef struct {
    uint32_t date;
    uint32_t totalAccounts, settledAccounts, failedAccounts;
    uint32_t forceClosed; /* accounts at or over the liquidation level */
    int64_t totalCommission;
    int64_t totalProfit;  /* close + position profit of every account */
    uint32_t firstDetail; /* its accounts: settleDetailAt(firstDetail ..) */
} settleResult;

/* Sets the settlement price of instrument i (1e-4 units, > 0, on tick).
 * Returns 0, 1007 unknown or delisted, 1008 bad price. */
int settleSetPrice(acctBook *b, uint16_t i, int64_t price);

/* The price set for instrument i, 0 when none. */
int64_t settlePrice(const acctBook *b, uint16_t i);

/* Settles the book for `date` (YYYYMMDD). Every instrument with open
 * positions needs a settlement price: otherwise 6001 and the first such
 * instrument's index in *missing (nothing changed). A date settled before,
 * or not after the last settled date: 6002. On success returns 0, appends
 * the result to the history and clears the prices (the next day needs new
 * ones); settlement prices become the instruments' last and pre-settlement
 * prices. Finished orders and the day's trades are dropped. */
int settleRun(acctBook *b, uint32_t date, uint64_t nowNs, int *missing);

/* What settleRun would answer first, changing nothing: 0, 6002 or 6001
 * (with *missing). */
int settleCheck(const acctBook *b, uint32_t date, int *missing);

/* History: results in date order. */
uint32_t settleCount(const acctBook *b);
const settleResult *settleAt(const acctBook *b, uint32_t i);

/* The result for a date, or NULL. */
const settleResult *settleFind(const acctBook *b, uint32_t date);

/* Account details of a result: settleDetailAt(b, r->firstDetail + k) for
 * k < r->totalAccounts. */
const settleAccount *settleDetailAt(const acctBook *b, uint32_t i);

#endif
