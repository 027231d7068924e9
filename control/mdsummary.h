/* mdsummary.h -- summary market data: 1-second snapshots, K-lines and daily statistics.
 *
 * Built on the control lcore, off the workers' hot path (DESIGN.md §5): each
 * worker pushes a compact mdsTrade per fill into an SPSC ring; the control
 * lcore drains it into mdsOnTrade, calls mdsTick with the clock, and once a
 * second builds a snapshot per instrument with mdsSnapshotBuild from the
 * book depth it fetched from the worker. Finished K-lines and the daily
 * statistics of an ended trading day are handed to callbacks (the summary
 * channel publishes them); mdsKlines and mdsDailyGet answer queries.
 *
 * Units (DESIGN.md §3): prices in 1e-4 price units (int64), quantities in
 * lots, turnover and K-line amount in 1e-4 currency units = price x qty x
 * multiplier, change_percent in 1e-4 percent (= parts per million of the
 * pre-close, rounded half away from zero), times in ns since the Unix epoch
 * (UTC). Trading day and bar alignment follow the exchange's local time
 * (cfgMarketData: utc offset, trading-day start). docs/market-data.md is the
 * normative description; docs/protocol/summary.md the wire format.
 *
 * No DPDK, no floating point, no allocation after mdsCreate. One thread calls
 * every function of one mds. */
#ifndef XCHG_CONTROL_MDSUMMARY_H
#define XCHG_CONTROL_MDSUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define MDS_LEVELS      5    /* book levels per side in a snapshot */
#define MDS_MAX_HISTORY 1000 /* bars kept per instrument and period, at most */
#define MDS_SECOND_NS   UINT64_C(1000000000)
#define MDS_DAY_NS      (UINT64_C(86400) * MDS_SECOND_NS)
#define MDS_NO_OFFSET   0xFF /* mdsTrade.offset[] when the order's offset is unknown */

/* K-line periods; the numbers are the wire and JSON codes (HQChart's). */
typedef enum {
    MDS_DAY = 0,
    MDS_3S = 3,
    MDS_1M = 4,
    MDS_5M = 5,
    MDS_15M = 6,
    MDS_30M = 7,
    MDS_60M = 8
} mdsPeriod;
#define MDS_PERIODS 7

/* What a worker pushes per fill: 24 bytes, a multiple of 4 for rte_ring. */
typedef struct {
    uint64_t timeNs;     /* wall clock of the fill */
    int64_t price;       /* 1e-4 price units */
    uint32_t qty;        /* lots */
    uint16_t instrument; /* index into cfg->instruments */
    uint8_t aggressor;   /* MT_BUY, MT_SELL or MT_AGGRESSOR_NONE (auction) */
    uint8_t offset[2];   /* xoeOffset of the buy [0] and sell [1] order, or MDS_NO_OFFSET */
    uint8_t pad[3];
} mdsTrade;

typedef struct {
    uint64_t startNs;    /* first instant of the bar (inclusive) */
    uint64_t endNs;      /* first instant after it (exclusive) */
    uint32_t tradingDay; /* YYYYMMDD the bar belongs to */
    uint8_t period;      /* mdsPeriod */
    uint8_t finished;    /* 1 once its end has passed */
    int64_t open, high, low, close;
    uint64_t volume; /* lots */
    int64_t amount;  /* 1e-4 currency units */
    int64_t openOi;  /* open interest before the bar's first trade */
    int64_t closeOi; /* after its last trade */
    uint32_t trades;
} mdsBar;

/* Daily statistics of one instrument and trading day. open/high/low/close
 * are 0 until the first trade. */
typedef struct {
    uint32_t tradingDay;
    uint64_t dayStartNs;
    int64_t preClose, open, high, low, close;
    uint64_t volume;
    int64_t turnover;
    int64_t vwap; /* turnover / (volume x multiplier), rounded down; 0 without trades */
    int64_t openInterest, preOpenInterest;
    uint64_t trades;
    int64_t upperLimit, lowerLimit;
} mdsDaily;

typedef struct {
    int64_t price;
    uint64_t qty;
} mdsLevel;

/* The 35 fields of the reference system's MarketSnapshot. */
typedef struct {
    uint16_t instrument; /* index into cfg->instruments (the id is cfg's) */
    uint64_t timestampNs;
    uint32_t tradingDay;
    int64_t lastPrice;     /* pre-close until the first trade of the day */
    int64_t changePercent; /* 1e-4 percent of preClose */
    int64_t changeAmount;  /* last - preClose */
    int64_t preClose;
    mdsLevel bid[MDS_LEVELS], ask[MDS_LEVELS]; /* best first; {0,0} = no level */
    int64_t open, high, low;
    uint64_t volume;
    int64_t turnover;
    int64_t openInterest;
    int64_t upperLimit, lowerLimit;
} mdsSnapshot;

typedef void mdsBarFn(void *ctx, uint16_t instrument, const mdsBar *bar);
typedef void mdsDailyFn(void *ctx, uint16_t instrument, const mdsDaily *day);

typedef struct {
    const cfgConfig *cfg; /* instruments and market_data; must outlive the mds */
    uint32_t history;     /* bars per instrument and period; 0 = cfg's kline_history */
    mdsBarFn *onBar;      /* each finished bar, or NULL */
    mdsDailyFn *onDaily;  /* each instrument's statistics at a trading-day rollover, or NULL */
    void *ctx;
    uint64_t nowNs; /* the clock at creation: sets the first trading day */
} mdsOptions;

/* Counters of the aggregator. */
typedef struct {
    uint64_t trades;       /* applied */
    uint64_t rejected;     /* unknown instrument, zero qty, non-positive price */
    uint64_t late;         /* trades older than a closed bar or day: applied at the clock */
    uint64_t barsFinished; /* handed to onBar */
    uint64_t rollovers;    /* trading days ended */
    uint64_t oiFloored;    /* closes that would have made open interest negative */
} mdsStats;

typedef struct mds mds;

/* Creates the aggregator for every instrument of opt->cfg. Returns NULL when
 * opt is invalid (no cfg, history > MDS_MAX_HISTORY) or memory is short.
 * Free with mdsDestroy. */
mds *mdsCreate(const mdsOptions *opt);

/* Frees. NULL is a no-op. */
void mdsDestroy(mds *m);

/* Takes in the instruments appended to the config since (instrument.add,
 * cfgInstrumentAppend), up to the config's instrument capacity the
 * aggregator was sized for: each starts a fresh day. Returns how many.
 * No allocation. */
uint32_t mdsSync(mds *m);

/* Applies one fill: advances the clock to its time (finishing bars and
 * rolling the trading day as mdsTick does), then updates the daily
 * statistics, open interest and the current bar of every period. Returns 0,
 * or -1 (counted in rejected, nothing changed) for an unknown instrument, a
 * zero quantity or a non-positive price. Never fails otherwise. */
int mdsOnTrade(mds *m, const mdsTrade *t);

/* Advances the clock to nowNs (earlier times are ignored): every bar whose
 * end is <= nowNs is finished and given to onBar; when nowNs reaches the
 * next trading day, each instrument's daily statistics go to onDaily and the
 * new day starts (pre-close = the ended day's close when it traded). */
void mdsTick(mds *m, uint64_t nowNs);

/* Fills *out for an instrument from the statistics and the given book
 * levels (best first, nbid/nask <= MDS_LEVELS used, prices in 1e-4 units).
 * Returns 0, -1 for an unknown instrument. */
int mdsSnapshotBuild(const mds *m, uint16_t instrument, const mdsLevel *bids, uint32_t nbid,
                     const mdsLevel *asks, uint32_t nask, uint64_t nowNs, mdsSnapshot *out);

/* Copies the last min(count, kept) bars of a period, oldest first; the last
 * one is the current bar (finished == 0) when the period has one. Returns
 * how many were copied, or -1 for an unknown instrument or period or count
 * above MDS_MAX_HISTORY. */
int mdsKlines(const mds *m, uint16_t instrument, mdsPeriod period, uint32_t count, mdsBar *out);

/* Copies the current trading day's statistics. Returns 0, -1 if unknown. */
int mdsDailyGet(const mds *m, uint16_t instrument, mdsDaily *out);

/* The current trading day (YYYYMMDD) and the clock. */
uint32_t mdsTradingDay(const mds *m);
uint64_t mdsNow(const mds *m);

void mdsGetStats(const mds *m, mdsStats *out);

/* Trading day of an instant: the local calendar day (utcOffset seconds east
 * of UTC), plus one day from dayStart seconds after local midnight on (when
 * dayStart > 0), and a Saturday or Sunday moves on to Monday. Sets
 * *startNs (if not NULL) to the day's first instant: dayStart local time on
 * the previous weekday (dayStart > 0) or local midnight after it. Exchange
 * holidays are not known (docs/market-data.md). */
uint32_t mdsTradingDayOf(uint64_t ns, int32_t dayStart, int32_t utcOffset, uint64_t *startNs);

/* Period length in ns (MDS_DAY: 0, day bars follow the trading day); 0 for an
 * unknown period. */
uint64_t mdsPeriodNs(mdsPeriod p);

/* Parses "3s", "1m", "5m", "15m", "30m", "60m", "day" (also "1min", "1h",
 * "1d") or the numeric code. Returns 0 and sets *out, -1 otherwise. */
int mdsPeriodParse(const char *s, mdsPeriod *out);

/* Short name ("3s", "1m", ..., "day"); "?" for an unknown period. */
const char *mdsPeriodName(mdsPeriod p);

/* Integer percent of change in 1e-4 percent (ppm of base), rounded half
 * away from zero; 0 when base <= 0. */
int64_t mdsChangePercent(int64_t change, int64_t base);

/* ---- the summary channel's wire format (control/mdswire.c) ----------------------------
 *
 * Messages are big-endian with fixed layouts (docs/protocol/summary.md),
 * carried in MoldUDP64 packets like the ITCH feed. Every message starts with
 * type (1), locate = instrument index (2), instrument id padded with spaces
 * (8), timestamp in ns since the Unix epoch (8). */

#define MDS_MSG_SNAPSHOT 'M'
#define MDS_MSG_KLINE    'K'
#define MDS_MSG_DAILY    'Y'
#define MDS_SNAPSHOT_LEN 279
#define MDS_KLINE_LEN    108
#define MDS_DAILY_LEN    127

typedef struct {
    uint8_t type; /* MDS_MSG_* */
    uint16_t locate;
    char stock[CFG_ID_MAX + 1]; /* without the padding */
    uint64_t timestampNs;
    union {
        mdsSnapshot snapshot;
        mdsBar bar;
        mdsDaily daily;
    } u;
} mdsWireMsg;

/* Encoders: write the message into buf (at least the MDS_*_LEN of the type)
 * and return its length. `stock` is the instrument id (at most 8 bytes). */
size_t mdsEncodeSnapshot(uint8_t *buf, const char *stock, const mdsSnapshot *s);
size_t mdsEncodeKline(uint8_t *buf, uint16_t locate, const char *stock, uint64_t nowNs,
                      const mdsBar *b);
size_t mdsEncodeDaily(uint8_t *buf, uint16_t locate, const char *stock, uint64_t nowNs,
                      const mdsDaily *d);

/* Decodes one message. Returns 0, or -1 for an unknown type or a length
 * that is not the type's. Reads only buf[0..len). */
int mdsDecode(const uint8_t *buf, size_t len, mdsWireMsg *out);

/* MoldUDP64 packer of the summary channel: session "YYYYMMDDSM", sequence
 * from 1 per session, packets of at most mtu - 28 bytes. */
typedef void mdsSendFn(void *ctx, const uint8_t *pkt, uint16_t len);

typedef struct {
    uint8_t pkt[1472];
    uint16_t len, max, count;
    uint64_t seq; /* of the next message */
    char session[10];
    mdsSendFn *send;
    void *ctx;
} mdsPacker;

/* Starts a session for a trading day (sequence 1); mtu 0 = 1500, at most
 * 1500. */
void mdsPackerInit(mdsPacker *p, uint32_t tradingDay, uint16_t mtu, mdsSendFn *send, void *ctx);

/* Appends one message (sends the packet first when it does not fit). */
void mdsPackerAdd(mdsPacker *p, const uint8_t *msg, uint16_t len);

/* Sends the pending packet, if any. */
void mdsPackerFlush(mdsPacker *p);

#endif
