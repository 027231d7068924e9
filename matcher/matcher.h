/* matcher.h -- price-time priority matching engine for one market segment.
 *
 * A plain C library with no DPDK dependency. One mtEngine owns the books of
 * every instrument of a segment, one preallocated order pool shared by them,
 * and the segment's order and trade id counters. All prices are int64 counts
 * of ticks; quantities are uint32 lots. Nothing here allocates after
 * mtEngineCreate, takes a lock, makes a system call or uses floating point.
 *
 * Every call reports what it did through the event callback given at
 * creation, synchronously and in a fixed order; docs/matcher.md is the
 * normative description of that order. The engine is single-threaded: one
 * thread (the segment's worker lcore) calls it. */
#ifndef XCHG_MATCHER_H
#define XCHG_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reference system error codes the matcher can produce (docs/matcher.md). */
enum {
    MT_OK = 0,
    MT_ERR_UNKNOWN_INSTRUMENT = 1007,
    MT_ERR_INVALID_PARAMS = 1008, /* lots, enums, min qty, price band */
    MT_ERR_ORDER_NOT_FOUND = 3001,
    MT_ERR_NOT_CANCELLABLE = 3002, /* order existed but is filled/cancelled */
    MT_ERR_STATE = 3003,           /* trading state does not accept it */
    MT_ERR_REPLACE = 3004,         /* new quantity not above filled */
    MT_ERR_POOL_FULL = 4002
};

typedef enum { MT_BUY = 0, MT_SELL = 1 } mtSide;
typedef enum { MT_LIMIT = 0, MT_MARKET = 1 } mtPriceType;
typedef enum { MT_GFD = 0, MT_IOC = 1, MT_GTC = 2 } mtTimeCondition;
typedef enum { MT_VOL_ANY = 0, MT_VOL_MIN = 1, MT_VOL_ALL = 2 } mtVolumeCondition;

typedef enum {
    MT_STP_NONE = 0,            /* same-account orders trade with each other */
    MT_STP_CANCEL_RESTING = 1,  /* cancel the resting order, keep matching */
    MT_STP_CANCEL_INCOMING = 2, /* cancel the incoming remainder */
    MT_STP_CANCEL_BOTH = 3      /* cancel the resting order and the incoming remainder */
} mtStpPolicy;

typedef enum {
    MT_STATE_CLOSED = 0,     /* cancels only; entering it expires GFD orders */
    MT_STATE_PRE_OPEN = 1,   /* orders collected, book may cross, no matching */
    MT_STATE_CONTINUOUS = 2, /* continuous matching; entering it uncrosses */
    MT_STATE_HALTED = 3      /* cancels only, no matching */
} mtState;

typedef enum {
    MT_CXL_USER = 0,       /* cancel request */
    MT_CXL_IOC = 1,        /* unfilled remainder of an IOC or market order */
    MT_CXL_FOK = 2,        /* fill-or-kill could not fill completely */
    MT_CXL_MIN_QTY = 3,    /* minimum quantity not available */
    MT_CXL_SELF_TRADE = 4, /* self-trade prevention */
    MT_CXL_EXPIRED = 5     /* GFD order at the close */
} mtCancelReason;

typedef enum { MT_OP_NEW = 0, MT_OP_CANCEL = 1, MT_OP_REPLACE = 2 } mtOp;

typedef enum {
    MT_EV_ACCEPTED = 1,
    MT_EV_REJECTED = 2,
    MT_EV_FILL = 3,
    MT_EV_CANCELLED = 4,
    MT_EV_REPLACED = 5,
    MT_EV_LEVEL = 6,     /* aggregate quantity at a price level changed */
    MT_EV_STATE = 7,     /* trading state changed */
    MT_EV_IMBALANCE = 8, /* indicative auction result (mtEngineIndicate) */
    MT_EV_UNCROSS = 9    /* auction uncross price and volume */
} mtEventType;

#define MT_AGGRESSOR_NONE 2 /* auction fills have no aggressor */
#define MT_ANY_ACCOUNT    UINT32_MAX

typedef struct {
    uint64_t orderId;
    uint64_t userRef;
    int64_t price; /* 0 for market orders */
    uint32_t account;
    uint32_t qty;
    uint32_t minQty;
    uint8_t side, priceType, timeCondition, volumeCondition;
} mtAccepted;

typedef struct {
    uint64_t orderId; /* 0 for a rejected new order */
    uint64_t userRef;
    uint16_t code;
    uint8_t op; /* mtOp */
} mtRejected;

typedef struct {
    uint64_t tradeId;
    int64_t price;
    uint32_t qty;
    uint8_t aggressor; /* MT_BUY, MT_SELL or MT_AGGRESSOR_NONE */
    /* index 0 is the buy order, index 1 the sell order */
    uint64_t orderId[2];
    uint64_t userRef[2];
    uint32_t account[2];
    uint32_t leaves[2]; /* quantity left open after this fill */
} mtFill;

typedef struct {
    uint64_t orderId;
    uint64_t userRef;
    uint32_t account;
    uint32_t qty; /* the open quantity that was cancelled */
    uint8_t side;
    uint8_t reason; /* mtCancelReason */
} mtCancelled;

typedef struct {
    uint64_t orderId;
    uint64_t userRef; /* of the replace request */
    int64_t price;
    uint32_t account;
    uint32_t qty;    /* new total quantity */
    uint32_t leaves; /* new open quantity */
    uint8_t side;
    uint8_t keptPriority; /* 1 when the order kept its place in the queue */
} mtReplaced;

typedef struct {
    int64_t price;
    uint64_t qty; /* total open quantity now at the level, 0 = level gone */
    uint8_t side;
} mtLevel;

typedef struct {
    uint8_t state; /* mtState */
    uint8_t previous;
} mtStateChange;

typedef struct {
    int64_t price;         /* uncross price, 0 when nothing crosses */
    uint64_t pairedQty;    /* volume that would execute */
    uint64_t imbalanceQty; /* unmatched quantity at that price */
    uint8_t imbalanceSide; /* MT_BUY, MT_SELL, or MT_AGGRESSOR_NONE if none */
} mtAuction;

typedef struct {
    uint8_t type; /* mtEventType */
    uint16_t instrument;
    union {
        mtAccepted accepted;
        mtRejected rejected;
        mtFill fill;
        mtCancelled cancelled;
        mtReplaced replaced;
        mtLevel level;
        mtStateChange state;
        mtAuction auction; /* MT_EV_IMBALANCE and MT_EV_UNCROSS */
    } u;
} mtEvent;

typedef void mtEventFn(void *ctx, const mtEvent *ev);

/* Memory provider: alloc returns zeroed, 64-byte aligned memory or NULL. */
typedef struct {
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p, size_t bytes);
    void *ctx;
} mtAllocator;

typedef struct {
    uint8_t segmentId;       /* top 8 bits of every order and trade id */
    uint32_t orderCapacity;  /* live orders the pool holds, >= 1 */
    uint16_t maxInstruments; /* instrument indexes 0..maxInstruments-1 */
    mtStpPolicy stp;
    mtEventFn *onEvent;
    void *eventCtx;
    const mtAllocator *allocator; /* NULL: mtDefaultAllocator() */
} mtEngineConfig;

typedef struct {
    int64_t lowerPrice; /* daily limit band in ticks, 1 <= lower <= upper */
    int64_t upperPrice;
    int64_t referencePrice; /* auction tie-break (pre-settlement price) */
    uint32_t minLots;       /* accepted order size range */
    uint32_t maxLots;
} mtBookConfig;

typedef struct {
    uint16_t instrument;
    uint8_t side, priceType, timeCondition, volumeCondition;
    int64_t price; /* ignored for market orders */
    uint32_t qty;
    uint32_t minQty; /* MT_VOL_MIN only */
    uint32_t account;
    uint64_t userRef; /* opaque to the engine, echoed in events */
} mtNewOrder;

typedef struct {
    uint64_t orderId;
    uint64_t userRef;
    int64_t price;
    uint32_t account;
    uint32_t qty;    /* total quantity */
    uint32_t leaves; /* open quantity */
    uint16_t instrument;
    uint8_t side, timeCondition;
} mtOrderInfo;

typedef struct {
    int64_t price;
    uint64_t qty;
} mtDepthLevel;

typedef struct {
    uint64_t ordersAccepted, ordersRejected, fills, cancels, replaces;
    uint32_t ordersResting, poolCapacity;
    uint64_t bytesAllocated; /* all memory the engine took at creation */
    uint32_t bytesPerOrder;  /* pool slot plus id-index share */
} mtStats;

typedef struct mtEngine mtEngine;

/* The default allocator: hugepages through libhugetlbfs when the system has
 * free ones, else page-aligned anonymous memory. Never NULL. */
const mtAllocator *mtDefaultAllocator(void);

/* Creates an engine with every instrument undefined. Returns NULL when the
 * configuration is invalid or memory cannot be had. Free with
 * mtEngineDestroy. */
mtEngine *mtEngineCreate(const mtEngineConfig *cfg);

/* Frees the engine and everything it allocated. NULL is a no-op. */
void mtEngineDestroy(mtEngine *e);

/* Defines instrument `instrument` (< maxInstruments) with an empty book in
 * MT_STATE_CLOSED. Allocates the level arrays, so call it at start-up.
 * Returns MT_OK, MT_ERR_INVALID_PARAMS for a bad index, band or lot range or
 * an instrument already defined, or MT_ERR_POOL_FULL when memory is out. */
int mtEngineAddInstrument(mtEngine *e, uint16_t instrument, const mtBookConfig *bc);

/* Memory of one book's price levels, bitmaps and auction scratch, taken
 * apart from the engine so a running engine's lcore can define an
 * instrument without allocating (instrument.add, docs/accounts.md). */
typedef struct {
    void *levels[2], *l0[2], *l1[2], *scratch;
    uint32_t nLevels;
    size_t bytes;
} mtBookMem;

/* Allocates (with the engine's allocator, which must be safe from another
 * thread: the default one is) and initialises the memory a book with band
 * bc needs. Reads only the engine's allocator, so any thread may call it
 * while the engine runs. Returns MT_OK, MT_ERR_INVALID_PARAMS for a bad
 * band or lot range, MT_ERR_POOL_FULL when memory is out (*out zeroed).
 * Free with mtBookMemFree unless mtEngineAttachInstrument took it. */
int mtBookMemAlloc(const mtEngine *e, const mtBookConfig *bc, mtBookMem *out);

/* Frees memory mtBookMemAlloc returned and zeroes *m; NULL or zeroed is a no-op. */
void mtBookMemFree(const mtEngine *e, mtBookMem *m);

/* Defines instrument `instrument` like mtEngineAddInstrument, with the
 * memory of mem (from mtBookMemAlloc for the same band): no allocation, no
 * system call. On MT_OK the engine owns the memory and *mem is zeroed; on
 * MT_ERR_INVALID_PARAMS (bad index, band, an instrument already defined,
 * memory of another size) the caller still owns it. */
int mtEngineAttachInstrument(mtEngine *e, uint16_t instrument, const mtBookConfig *bc,
                             mtBookMem *mem);

/* The number of instrument slots the engine was created with. */
uint16_t mtEngineMaxInstruments(const mtEngine *e);

/* Enters a new order. Emits REJECTED, or ACCEPTED followed by what happened.
 * Returns MT_OK when accepted, else the reject code. */
int mtEngineNewOrder(mtEngine *e, const mtNewOrder *o);

/* Cancels the open quantity of an order. `account` must own the order unless
 * it is MT_ANY_ACCOUNT. Returns MT_OK, MT_ERR_ORDER_NOT_FOUND or
 * MT_ERR_NOT_CANCELLABLE (and emits REJECTED). */
int mtEngineCancel(mtEngine *e, uint64_t orderId, uint32_t account, uint64_t userRef);

/* Changes the price and/or total quantity of a resting order (docs/matcher.md
 * for priority rules). A price change can trade. Returns MT_OK or a code. */
int mtEngineReplace(mtEngine *e, uint64_t orderId, uint32_t account, int64_t newPrice,
                    uint32_t newQty, uint64_t userRef);

/* Moves an instrument to a trading state. Entering CONTINUOUS uncrosses a
 * crossed book; entering CLOSED expires GFD orders. Returns MT_OK,
 * MT_ERR_UNKNOWN_INSTRUMENT or MT_ERR_INVALID_PARAMS (bad state). */
int mtEngineSetState(mtEngine *e, uint16_t instrument, mtState state);

/* Sets the auction tie-break reference price. Returns MT_OK or a code. */
int mtEngineSetReferencePrice(mtEngine *e, uint16_t instrument, int64_t price);

/* Computes the auction result the book would uncross at now and emits it as
 * MT_EV_IMBALANCE; fills *out when non-NULL. Returns MT_OK or a code. */
int mtEngineIndicate(mtEngine *e, uint16_t instrument, mtAuction *out);

/* Queries. They emit nothing and never fail on a defined instrument. */
int mtEngineState(const mtEngine *e, uint16_t instrument);                   /* -1 if unknown */
int mtEngineOrderGet(const mtEngine *e, uint64_t orderId, mtOrderInfo *out); /* MT_OK/3001 */
/* Fills up to n best levels of one side; returns how many were filled. */
uint32_t mtEngineDepth(const mtEngine *e, uint16_t instrument, mtSide side, mtDepthLevel *out,
                       uint32_t n);
/* Calls fn for each resting order of a side in priority order (best price,
 * then time). Returns the number of orders visited. */
typedef void mtOrderVisitFn(void *ctx, const mtOrderInfo *o);
uint32_t mtEngineForEachOrder(const mtEngine *e, uint16_t instrument, mtSide side,
                              mtOrderVisitFn *fn, void *ctx);
void mtEngineGetStats(const mtEngine *e, mtStats *out);

/* Shape of the order-id index (open addressing, linear probing): an entry's
 * displacement is how far past its home slot it sits, so a lookup of it
 * reads displacement + 1 slots; an insert or a failed lookup reads to the
 * end of its run of occupied slots, an erase to the end of the run. For
 * tests and benchmarks: reads the whole table (2 x capacity slots). */
typedef struct {
    uint32_t slots, entries;
    uint32_t maxDisplacement, longestRun;
    uint64_t displacementSum;
} mtIndexStats;
void mtEngineIndexStats(const mtEngine *e, mtIndexStats *out);

/* ---- snapshots (dataplane/gwsnap.c; docs/storage/checkpoint.md) ----------- */

/* The engine's id counters and event counters. */
typedef struct {
    uint64_t nextOrderSeq, nextTradeSeq; /* low 56 bits of the next ids, >= 1 */
    uint64_t ordersAccepted, ordersRejected, fills, cancels, replaces;
} mtCounters;

/* A defined book's configuration and trading state. */
typedef struct {
    mtBookConfig config; /* referencePrice is the current one */
    uint8_t state;       /* mtState */
} mtBookInfo;

void mtEngineGetCounters(const mtEngine *e, mtCounters *out);

/* Sets the counters of an engine that has accepted nothing yet (restore).
 * Returns MT_OK, or MT_ERR_INVALID_PARAMS for a sequence of 0 or beyond 56
 * bits, or when orders already rest. Emits nothing. */
int mtEngineSetCounters(mtEngine *e, const mtCounters *c);

/* Returns MT_OK with the book's info, or MT_ERR_UNKNOWN_INSTRUMENT. */
int mtEngineBookInfo(const mtEngine *e, uint16_t instrument, mtBookInfo *out);

/* Restore: sets a book's trading state and reference price without the
 * effects of a transition (no uncross, no expiry, no event). Returns MT_OK,
 * MT_ERR_UNKNOWN_INSTRUMENT or MT_ERR_INVALID_PARAMS (bad state). */
int mtEngineRestoreBook(mtEngine *e, uint16_t instrument, mtState state, int64_t reference);

/* Restore: puts a resting order (all of o's fields) at the tail of its
 * price level, silently; give a side's orders in priority order. Returns
 * MT_OK; MT_ERR_UNKNOWN_INSTRUMENT; MT_ERR_INVALID_PARAMS for a side, time
 * condition (IOC never rests), price outside the band, quantities (leaves
 * 0 or above qty) or an id this engine did not issue or already holds;
 * MT_ERR_POOL_FULL. */
int mtEngineRestoreOrder(mtEngine *e, const mtOrderInfo *o);

#ifdef __cplusplus
}
#endif
#endif
