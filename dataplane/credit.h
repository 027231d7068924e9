/* credit.h -- a worker's credit lines, positions and pre-trade checks (DESIGN.md §7).
 *
 * The control core grants each account a credit line on the segment: money
 * the segment may freeze on its own. The worker keeps, per account, the
 * line, the account's frozen/blocked flags and a cap on one instrument's
 * margin (1002); per (account, instrument) the position (control/position.h,
 * exact today/yesterday lots, so CLOSE orders are checked here); per order
 * (by the gateway's ref index) what it froze. It checks every new order and
 * replace (codes 1001-1008, 2002, 2005 in docs/protocol/xoe.md §9 order),
 * freezes against the line on accept, releases on cancel and better fills,
 * and reports every change to the control core as a fixed-size crEvent. An
 * opening order the line cannot cover is parked and a top-up is asked for;
 * the control core grants what the account has and answers, and the order
 * is checked again (crResume) before anything else of the account.
 *
 * Single-threaded, on the worker lcore. Everything is allocated by
 * crCreate; no later call allocates, locks, makes a system call or uses
 * floating point. The formulas are control/account.h's, so both sides
 * compute the same money to the unit. */
#ifndef XCHG_DATAPLANE_CREDIT_H
#define XCHG_DATAPLANE_CREDIT_H

#include <stdint.h>

#include "config/config.h"
#include "control/account.h"
#include "xchg/xoe.h"

#define CR_PARKED   (-1) /* crCheckNew: parked, a top-up was asked for */
#define CR_MAX_PARK 256  /* orders waiting for a top-up per segment */

/* Worker -> control core. */
typedef enum {
    CR_EV_ORDER = 1,     /* an order was accepted (froze lineDelta) */
    CR_EV_FILL = 2,      /* a fill of one side */
    CR_EV_CANCEL = 3,    /* the rest of an order was cancelled or expired */
    CR_EV_REPLACE = 4,   /* an order's price/quantity changed */
    CR_EV_TOPUP = 5,     /* the line cannot cover `price` (the need); order parked in `qty` */
    CR_EV_RECLAIMED = 6, /* a reclaim took -lineDelta from the line */
    CR_EV_LOST = 7       /* events were lost (ring and spill full): resync needed */
} crEventType;

typedef struct {
    uint8_t type, side, offset, priceType;
    uint16_t book;    /* instrument index in the segment */
    uint16_t segment; /* segment index */
    uint32_t account;
    uint32_t qty;    /* order qty, fill qty, cancelled qty, replace total qty */
    uint32_t leaves; /* after the event */
    uint32_t pad;
    uint64_t orderId;
    uint64_t tradeId;  /* fills; clOrdId for CR_EV_ORDER */
    int64_t price;     /* 1e-4 price units */
    int64_t lineDelta; /* what the worker applied to the line (signed) */
    uint64_t ns;       /* worker wall-clock ns of the event */
} crEvent;

_Static_assert(sizeof(crEvent) == 64, "crEvent is one cache line");

/* Control core -> worker. */
typedef enum {
    CR_CMD_ACCOUNT = 1,    /* create/update an account: flags, cap; grants `amount` */
    CR_CMD_RECLAIM = 2,    /* take up to `amount` back (answered CR_EV_RECLAIMED) */
    CR_CMD_TOPUP_DONE = 3, /* the top-up for parked slot `parked` is done: retry it */
    CR_CMD_INSTRUMENT = 4, /* new rates/lots for `book`; band in ticks: amount..concCap */
    CR_CMD_ROLL = 5,       /* daily settlement at price `amount`: today's lots become his */
    CR_CMD_CANCEL = 6,     /* cancel order `amount` (force liquidation; crlPoll) */
    CR_CMD_CLOSE = 7       /* MARKET IOC close of `parked` lots of `book` for `account`:
                              side, offset (force liquidation; crlPoll) */
} crCmdType;

typedef struct {
    uint8_t type, frozen, blocked, side;
    uint16_t book;
    uint8_t offset, pad;
    uint32_t account;
    uint32_t parked; /* TOPUP_DONE: park slot; CLOSE: lots */
    int64_t amount;  /* grant (+) or reclaim wanted */
    int64_t concCap; /* largest margin one instrument may take; INT64_MAX = none */
    uint32_t marginRate, commissionRate;
    int64_t commissionPerLot;
    uint32_t minLots, maxLots;
    uint64_t seq; /* the control core's command number (journal, tests) */
} crCmd;

_Static_assert(sizeof(crCmd) == 64, "crCmd is one cache line");

typedef void crEmitFn(void *ctx, const crEvent *ev);

typedef struct {
    const cfgConfig *cfg;
    uint16_t segment;      /* index into cfg->segments */
    uint32_t maxAccounts;  /* accounts known to the segment */
    uint32_t maxPositions; /* (account, instrument) pairs */
    uint32_t refCap;       /* the gateway's order refs (orderCapacity + spares) */
    crEmitFn *emit;
    void *emitCtx;
    const mtAllocator *allocator; /* NULL: mtDefaultAllocator() */
} crOptions;

typedef struct {
    uint64_t checks, rejects[16]; /* rejects by code (see crRejectSlot) */
    uint64_t parked, resumed, topupRejects, parkFull;
    uint64_t grants, reclaims, clamped; /* clamped: fills the line could not cover */
    uint64_t events, accountsFull, positionsFull;
} crStats;

typedef struct crRisk crRisk;

/* Allocates everything. NULL on bad options or no memory. */
crRisk *crCreate(const crOptions *opt);
void crDestroy(crRisk *r);

/* An instrument added at run time (gwAddInstrument): its book's rates, so
 * orders in it are checked from now on. No allocation. Returns 0, or -1 for
 * a book outside the segment's capacity or one already defined. */
int crAddInstrument(crRisk *r, const cfgInstrument *ins);

/* The definition of book `book` as the checks use it (rates as
 * instrument.update left them), or NULL for a book not defined. */
const cfgInstrument *crInstrument(const crRisk *r, uint16_t book);

/* 1 when the account is known to the segment (logon check, 1006). */
int crAccountExists(const crRisk *r, uint32_t account);

/* Pre-trade checks of a NewOrder for gateway ref `ref` (the price already
 * checked on tick by the gateway; instrument index valid). On 0 the order's
 * needs are reserved under `ref`. CR_PARKED: kept for a top-up (the caller
 * answers nothing now) -- only when allowPark and a park slot is free.
 * Otherwise a reject code. */
int crCheckNew(crRisk *r, uint32_t ref, uint32_t session, uint32_t account, const xoeNewOrder *o,
               int allowPark, uint64_t nowNs);

/* A parked order to retry: crTakeParked after CR_CMD_TOPUP_DONE. */
typedef struct {
    uint32_t session;
    xoeNewOrder order;
} crParkedOrder;

/* Pre-trade checks of a Replace of the order under `ref` (its info as the
 * matcher has it) to newPrice (1e-4 units) and newQty total. 0 or a code.
 * The change is applied by crOnReplaced. */
int crCheckReplace(crRisk *r, uint32_t ref, int64_t newPrice, uint32_t newQty, uint32_t filled);

/* Matcher events, by ref. crOnAccepted emits CR_EV_ORDER; crOnRejected
 * releases what crCheckNew reserved (no event: the control core never
 * heard of it); crOnFill returns the commission charged (for Executed). */
void crOnAccepted(crRisk *r, uint32_t ref, uint64_t orderId, uint64_t clOrdId, uint64_t nowNs);
void crOnRejected(crRisk *r, uint32_t ref);
int64_t crOnFill(crRisk *r, uint32_t ref, uint64_t orderId, uint64_t tradeId, int64_t price,
                 uint32_t qty, uint32_t leaves, uint64_t nowNs);
void crOnCancelled(crRisk *r, uint32_t ref, uint64_t orderId, uint32_t qty, uint64_t nowNs);
void crOnReplaced(crRisk *r, uint32_t oldRef, uint32_t newRef, uint64_t orderId, int64_t price,
                  uint32_t qty, uint32_t leaves, uint64_t nowNs);

/* Applies a control command. For CR_CMD_TOPUP_DONE returns 1 and fills
 * *resume with the parked order to run again (crCheckNew with allowPark 0);
 * otherwise returns 0. */
int crApply(crRisk *r, const crCmd *c, crParkedOrder *resume, uint64_t nowNs);

/* Read-only views for tests and the control core's checks. */
int64_t crLine(const crRisk *r, uint32_t account); /* -1: unknown account */
const posPosition *crPosition(const crRisk *r, uint32_t account, uint16_t book);
void crGetStats(const crRisk *r, crStats *out);

/* A 64-bit FNV-1a digest of the credit state (accounts, lines, positions,
 * parked orders, instruments' rates, lots and bands), folded into dataplane/wal.h walStateHash so a
 * replay proves it rebuilt the credit lines too. Same inputs, same digest. */
uint64_t crStateHash(const crRisk *r);

/* Index in crStats.rejects of a reject code. */
int crRejectSlot(int code);

#endif
