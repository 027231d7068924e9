/* history.h -- the trading history: gateway reports turned into rows of an LSM tree of SSTables.
 *
 * The history is derived data: everything in it follows from the journal
 * (replaying a segment's journal reproduces the reports the gateway sent,
 * DESIGN.md §9), so it needs no log of its own and can be rebuilt. The
 * storage thread feeds it the XOE frames a segment sends to its clients
 * (histOnFrame) and the session -> account mapping (histSetAccount); it
 * keeps one row per order (updated by fills, cancels and replaces), one
 * row per execution and one per rejected order, in an LSM tree (lsm.h) in
 * its own directory, which `xchgctl query` reads through SQLite virtual
 * tables (hist_query.c). docs/storage/history.md is normative for the key
 * layout and the rows.
 *
 * Key layout: one byte naming the table, then the row's identity as
 * big-endian integers, so keys sort by table and then numerically:
 *   'O' order id                                 -> histOrderRow
 *   'T' trade id, order id                       -> histTradeRow
 *   'R' time (ns), session, client order id      -> histRejectRow
 *   'K' instrument (2), period (1), start (ns)   -> histKlineRow
 *   'M' instrument (2), time (ns), trade id      -> histTickRow
 *   'S' trading day (4), account (4)             -> histSettleRow
 *   'P' journal stream (4)                       -> u64 sequence covered
 * Reserved for tables other modules will add (docs/storage/history.md,
 * "Adding a table"): 'A' account changes.
 *
 * Rows are little-endian structs with a version byte first; a reader
 * accepts any row at least as long as the version it knows. */
#ifndef XCHG_STORAGE_HISTORY_H
#define XCHG_STORAGE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "control/mdsummary.h"
#include "storage/lsm.h"
#include "xchg/xoe.h"

/* Table bytes (first byte of every key). */
enum {
    HIST_T_ORDER = 'O',
    HIST_T_TRADE = 'T',
    HIST_T_REJECT = 'R',
    /* reserved, see the header comment */
    HIST_T_ACCOUNT = 'A',
    HIST_T_KLINE = 'K',
    HIST_T_TICK = 'M',
    HIST_T_SETTLEMENT = 'S',
    HIST_T_POSITION = 'P' /* journal position the history covers, per stream */
};

#define HIST_ROW_VERSION 1

/* Order status in histOrderRow.status. */
enum {
    HIST_ORDER_NEW = 0,       /* accepted, nothing filled */
    HIST_ORDER_PARTIAL = 1,   /* some filled, rest open */
    HIST_ORDER_FILLED = 2,    /* completely filled */
    HIST_ORDER_CANCELLED = 3, /* the open rest cancelled (cancelReason says why) */
};

typedef struct {
    uint8_t version; /* HIST_ROW_VERSION */
    uint8_t status;  /* HIST_ORDER_* */
    uint8_t side, offset, priceType, timeCondition, volumeCondition;
    uint8_t cancelReason; /* xoeCancelReason when CANCELLED, else 0 */
    uint16_t instrument;
    uint8_t segment;
    uint8_t replaces; /* times replaced (saturating) */
    uint32_t session;
    uint32_t account;
    uint32_t reserved;
    uint64_t orderId;
    uint64_t clOrdId; /* the latest (a replace sets a new one) */
    int64_t price;    /* 1e-4 currency units; latest */
    uint32_t qty;     /* total quantity, latest */
    uint32_t minQty;
    uint32_t filled;  /* lots executed */
    uint32_t leaves;  /* lots open */
    int64_t notional; /* sum of price x qty of its executions (1e-4 units x lots) */
    int64_t commission;
    uint64_t acceptedNs; /* exchange timestamps, ns since the epoch */
    uint64_t updatedNs;
    uint64_t lastSeq; /* the session's message sequence that last changed the row: a message
                         taken again (a record re-applied after a crash) is not counted twice */
} histOrderRow;

typedef struct {
    uint8_t version;
    uint8_t side, liquidity, segment;
    uint16_t instrument;
    uint16_t reserved;
    uint32_t session;
    uint32_t account;
    uint64_t tradeId, orderId, clOrdId;
    int64_t price; /* 1e-4 units */
    uint32_t qty;
    uint32_t leaves;
    int64_t commission;
    uint64_t timestamp;
} histTradeRow;

typedef struct {
    uint8_t version;
    uint8_t segment;
    uint16_t code; /* reference error code */
    uint16_t instrument;
    uint16_t reserved;
    uint32_t session;
    uint32_t account;
    uint64_t clOrdId;
    uint64_t timestamp;
} histRejectRow;

/* A finished K-line bar (control/mdsummary.h's mdsBar, as stored). */
typedef struct {
    uint8_t version;
    uint8_t period; /* mdsPeriod */
    uint16_t instrument;
    uint32_t tradingDay;
    uint64_t startNs, endNs;
    int64_t open, high, low, close; /* 1e-4 price units */
    uint64_t volume;                /* lots */
    int64_t amount;                 /* 1e-4 currency units */
    int64_t openOi, closeOi;
    uint32_t trades;
    uint32_t reserved;
    /* bars built from ticks: the trades whose prices are close and open
     * (0: a stored mdsBar) */
    uint64_t lastTradeId, firstTradeId;
} histKlineRow;

/* One account's result of a daily settlement (control/settle.h's
 * settleAccount). Money in 1e-4 currency units. */
typedef struct {
    uint8_t version;
    uint8_t forceClose; /* at or over the liquidation level */
    uint16_t reserved;
    uint32_t date; /* YYYYMMDD */
    uint32_t account;
    uint32_t reserved2;
    int64_t preBalance, deposit, withdraw, closeProfit, positionProfit, commission, balance, margin;
    int64_t riskRatio; /* 1e-6 */
} histSettleRow;

/* A market tick: one trade print (a trade's two executions give one). */
typedef struct {
    uint8_t version;
    uint8_t side; /* the aggressor's (taker's) side; BUY for an auction trade */
    uint8_t liquidity;
    uint8_t segment;
    uint16_t instrument; /* index into the config's instruments */
    uint16_t reserved;
    uint32_t reserved2;
    uint32_t qty;
    uint64_t tradeId;
    int64_t price;
    uint64_t timestamp;
} histTickRow;

typedef struct histWriter histWriter;

typedef struct {
    uint64_t frames, messages;        /* offered */
    uint64_t orders, trades, rejects; /* rows written (an order row counts once per write) */
    uint64_t klines;                  /* bars written */
    uint64_t ticks;                   /* tick rows written */
    uint64_t settlements;             /* settlement rows written */
    uint64_t replayed;                /* messages already in the stored rows (not counted again) */
    uint64_t duplicates;              /* messages already seen (retransmissions) */
    uint64_t unknownOrders;           /* fills/cancels of orders with no row: row started */
    uint64_t badFrames;               /* frames that did not parse */
} histStats;

/* Opens (creating) the history tree in dir. cfg NULL: lsmConfigDefaults;
 * cfg->dir is ignored. Returns NULL with *err (lsmOpen's errors). */
histWriter *histOpen(const char *dir, const lsmConfig *cfg, sstError *err);

/* Flushes and closes. NULL is a no-op. */
void histClose(histWriter *h);

/* The account of a session, for the rows of its reports (0 until told). */
int histSetAccount(histWriter *h, uint32_t session, uint32_t account);

/* Takes one XOE frame a segment sent to a client (xchg -> client). Accepted,
 * Rejected, Executed, Cancelled and Replaced messages become rows; others
 * are ignored; application messages whose sequence the session already
 * delivered (retransmissions) are skipped. A frame that does not parse is
 * counted and ignored (returns 0). Returns 0, or -1 with *err when the tree
 * failed. */
int histOnFrame(histWriter *h, uint8_t segment, const void *frame, size_t len, sstError *err);

/* One message of a session, as histOnFrame does for each. m->seq is used
 * for de-duplication when non-zero. */
int histOnMessage(histWriter *h, uint8_t segment, uint32_t session, const xoeMsg *m, sstError *err);

/* Stores a finished K-line bar of an instrument (the mdsOptions.onBar
 * callback of the summary aggregator, on the control core, hands them over;
 * a bar stored again replaces the first). Returns 0, or -1 with *err. */
int histOnBar(histWriter *h, uint16_t instrument, const mdsBar *bar, sstError *err);

/* The config's instrument index of book `book` of segment index `segment`
 * (ticks and K-lines are keyed by it; trades and orders keep the book).
 * Without it the book is taken. Returns 0, -1 out of range (>= 64 segments
 * or >= 1024 books). */
int histMapInstrument(histWriter *h, uint8_t segment, uint16_t book, uint16_t instrument);

/* on: every trade print also updates its K-line bar of each period (3s,
 * 1m, 5m, 15m, 30m, 60m: aligned on multiples of the period since the
 * epoch; day: the UTC day), so the history needs no aggregator (xchgd).
 * Off (the default): bars come only from histOnBar. Do not mix both in
 * one tree: they write the same keys. */
void histSetTickBars(histWriter *h, int on);

/* The trading day (YYYYMMDD) of the bars built from ticks (0: the trade's
 * UTC date). */
void histSetTradingDay(histWriter *h, uint32_t tradingDay);

/* Makes the next `bytes` bytes of writes land in one memtable: flushes the
 * current one first (and waits) when fewer are free. The feed calls it
 * before each journal record, so a record's rows and its position reach
 * the files together: a crash keeps all of a record or none of it (a
 * record writing more than `bytes` may still straddle two memtables).
 * Returns 0, or -1 with *err. */
int histRoom(histWriter *h, size_t bytes, sstError *err);

/* The journal position the history covers for a stream: every report of its
 * records up to seq is in the tree. Put it after a record's rows: the tree's
 * memtables reach the files in order, so a position found after a crash
 * covers only rows that are there (with histRoom, rows of a later record are
 * all there or none; a message taken again, such as a retransmission, is
 * not counted twice in an order row, a tick or a bar either).
 * Returns 0, or -1 with *err. */
int histSetPosition(histWriter *h, uint32_t stream, uint64_t seq, sstError *err);

/* The stored position of a stream (0 when none). Returns 0, or -1 with *err. */
int histGetPosition(histWriter *h, uint32_t stream, uint64_t *seq, sstError *err);

/* Stores one account's settlement result (r->version is set here). The key
 * is (date, account): a result stored again replaces the first, so the
 * control core may hand over every result again after a restart. Returns
 * 0, or -1 with *err. */
int histOnSettlement(histWriter *h, const histSettleRow *r, sstError *err);

/* Time-based flush of the memtable (lsmTick). */
int histTick(histWriter *h, uint64_t nowNs);

/* Makes everything taken so far visible to readers (lsmFlush). */
int histFlush(histWriter *h, sstError *err);

void histGetStats(const histWriter *h, histStats *st);

/* The tree, for reads in the same process. */
lsmDb *histDb(histWriter *h);

/* Key builders (big-endian ids). Return the key length. */
size_t histOrderKey(uint8_t *k, uint64_t orderId);
size_t histTradeKey(uint8_t *k, uint64_t tradeId, uint64_t orderId);
size_t histRejectKey(uint8_t *k, uint64_t timestamp, uint32_t session, uint64_t clOrdId);
size_t histKlineKey(uint8_t *k, uint16_t instrument, uint8_t period, uint64_t startNs);
size_t histSettleKey(uint8_t *k, uint32_t date, uint32_t account);
size_t histTickKey(uint8_t *k, uint16_t instrument, uint64_t timestamp, uint64_t tradeId);

#endif
