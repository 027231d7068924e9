/* config.h -- loads and validates xchgd's configuration file (libconfig syntax).
 *
 * cfgLoad reads one file, checks every value and every cross-reference, and
 * fills a cfgConfig with plain integers in the units of DESIGN.md §3: prices
 * in 1e-4 price units or in ticks, money in 1e-4 currency units, rates in parts
 * per million. Humans write decimals as strings ("0.2", "3800.0", "12%"); they
 * are parsed exactly with integer code, never through floating point.
 * docs/config.md lists every key, its default and its range. */
#ifndef XCHG_CONFIG_H
#define XCHG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "matcher/matcher.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_ID_MAX          8    /* instrument id: ITCH's 8-byte stock field */
#define CFG_NAME_MAX        63   /* instrument description, bytes */
#define CFG_PORT_NAME_MAX   15   /* port name, like a Linux interface name */
#define CFG_DEVARGS_MAX     255  /* DPDK device string */
#define CFG_PATH_MAX        255  /* directories and the config file's own path */
#define CFG_SOCK_PATH_MAX   107  /* sun_path holds 108 bytes with the NUL */
#define CFG_USER_MAX        32   /* socket owner / group name */
#define CFG_MAX_INSTRUMENTS 4096 /* per file */
#define CFG_MAX_SEGMENTS    64
#define CFG_MAX_PORTS       8
#define CFG_MAX_LCORE       1023    /* highest lcore number accepted */
#define CFG_MAX_BAND_TICKS  1000000 /* matcher allocates one level per tick of the band */

#define CFG_PRICE_SCALE 10000   /* price and money units per 1 (4 decimals) */
#define CFG_PPM         1000000 /* parts per million in 100% */

/* How a CLOSE-type order picks the lots it closes (used by the position
 * keeper; docs/config.md has the exchange conventions behind the names). */
typedef enum {
    CFG_CLOSE_YESTERDAY_FIRST = 0, /* CLOSE takes yesterday's lots first (FIFO) */
    CFG_CLOSE_TODAY_FIRST = 1,     /* CLOSE takes today's lots first (CFFEX) */
    CFG_CLOSE_SPLIT = 2            /* CLOSETODAY only today's, CLOSE(YESTERDAY) only
                                      yesterday's (SHFE/INE) */
} cfgCloseRule;

typedef enum { CFG_DURABILITY_SYNC = 0, CFG_DURABILITY_ASYNC = 1 } cfgDurability;

typedef struct {
    char id[CFG_ID_MAX + 1];
    char name[CFG_NAME_MAX + 1];
    uint8_t segment;          /* id of the segment that trades it */
    uint16_t segIndex;        /* index of that segment in cfgConfig.segments */
    uint16_t book;            /* instrument index inside its segment's engine */
    int64_t tickSize;         /* 1e-4 price units, > 0 */
    uint8_t priceDecimals;    /* decimals the tick size needs (0.2 -> 1) */
    uint32_t multiplier;      /* currency units per price unit per lot */
    uint32_t marginRate;      /* ppm of notional */
    uint32_t commissionRate;  /* ppm of notional, 0 = none */
    int64_t commissionPerLot; /* 1e-4 currency units, 0 = none */
    uint32_t limitUp;         /* ppm above the pre-settlement price */
    uint32_t limitDown;       /* ppm below it */
    int64_t preSettlement;    /* 1e-4 price units, on tick */
    int64_t preSettlementTicks;
    int64_t preClose;   /* 1e-4 price units: change is quoted against it; default preSettlement */
    int64_t lowerTicks; /* daily band from cfgLimitBand, in ticks */
    int64_t upperTicks;
    uint32_t minLots, maxLots;
    cfgCloseRule closeRule;
} cfgInstrument;

typedef struct {
    uint8_t id;               /* top 8 bits of order and trade ids */
    uint16_t lcore;           /* worker lcore */
    uint16_t cpu;             /* CPU the worker lcore runs on (default: lcore) */
    uint16_t orderPort;       /* UDP order-entry port */
    uint32_t feedGroup;       /* IPv4 multicast group, host byte order */
    uint16_t feedPort;        /* UDP destination port of the feed */
    uint16_t retransPort;     /* UDP port of the retransmission/snapshot server */
    uint32_t feedHistory;     /* messages kept for retransmission, power of two */
    uint32_t feedHeartbeatMs; /* idle time before a heartbeat packet */
    uint32_t orderCapacity;   /* live orders the segment's pool holds */
    mtStpPolicy stp;
    uint16_t instrumentCount;    /* instruments traded here (their `book` < this); grows
                                    with instrument.add (cfgInstrumentAppend) */
    uint16_t instrumentCapacity; /* books the segment is sized for (instrument_capacity;
                                    default: the configured count) */
} cfgSegment;

typedef struct {
    char name[CFG_PORT_NAME_MAX + 1];
    char devargs[CFG_DEVARGS_MAX + 1]; /* "net_af_packet0,iface=xchg0" */
    uint32_t address;                  /* appliance IPv4 address, host byte order */
    uint8_t prefixLen;                 /* 1..32 */
} cfgPort;

typedef struct {
    uint16_t control; /* control lcore */
    uint16_t storage; /* storage threads' lcore, may equal control */
} cfgLcores;

typedef struct {
    char dataDir[CFG_PATH_MAX + 1];
    char walDir[CFG_PATH_MAX + 1];
    char sstDir[CFG_PATH_MAX + 1];
    uint64_t walSegmentSize; /* bytes per preallocated journal file */
    cfgDurability durability;
    uint32_t checkpointIntervalS; /* periodic checkpoint every N s, 0: off */
    uint64_t checkpointRecords;   /* ... or after N journal records, 0: off */
    uint32_t checkpointsKept;     /* complete checkpoints kept, >= 1 */
    int32_t segmentsRetained;     /* covered journal files kept per stream, -1: all */
    int recoverFromCheckpoint;    /* 1: start from the newest checkpoint even when the
                                   * journals are complete (0: full replay then) */
    uint32_t asyncCommitUs;       /* async: least time between two commits' starts */
} cfgStorage;

typedef struct {
    uint32_t rejectRatio;      /* ppm risk ratio above which orders are refused */
    uint32_t liquidationRatio; /* ppm risk ratio that triggers force liquidation */
    uint32_t concentration;    /* ppm max share of one instrument's open interest */
    int64_t maxOrderNotional;  /* 1e-4 currency units */
    uint32_t throttle;         /* messages per second per session */
} cfgRisk;

typedef struct {
    char socketPath[CFG_SOCK_PATH_MAX + 1];
    uint32_t socketMode;                /* permission bits, e.g. 0660 */
    char socketOwner[CFG_USER_MAX + 1]; /* "" = the daemon's user */
    char socketGroup[CFG_USER_MAX + 1]; /* "" = the daemon's group */
    uint16_t metricsPort;               /* on 127.0.0.1; 0 = no metrics server */
} cfgControl;

/* Summary market data (docs/protocol/summary.md, docs/config.md). */
typedef struct {
    int32_t tradingDayStart; /* seconds after local midnight at which the next
                                trading day begins (21:00 = 75600); 0 = the
                                calendar day is the trading day */
    int32_t utcOffset;       /* seconds east of UTC of the exchange's local time */
    uint32_t summaryGroup;   /* IPv4 multicast group, host byte order */
    uint16_t summaryPort;    /* UDP destination port of the summary channel; 0 = not sent */
    uint32_t klineHistory;   /* bars kept per instrument and period, 1..1000 */
} cfgMarketData;
/* The XDP ingress allowlist filter (dataplane/xdp/, docs/xdp-filter.md). */
typedef enum { CFG_XDP_AUTO = 0, CFG_XDP_NATIVE = 1, CFG_XDP_GENERIC = 2 } cfgXdpMode;

#define CFG_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

typedef struct {
    int enabled;                        /* load the filter at start (default 1) */
    cfgXdpMode mode;                    /* front-filter attach mode (default auto) */
    char program[CFG_PATH_MAX + 1];     /* BPF object; "" = next to xchgd */
    char interface[CFG_IFNAME_MAX + 1]; /* "" = iface= of the port's devargs */
} cfgFilter;

typedef struct {
    int level;                          /* 0 error, 1 warning, 2 info, 3 debug (LOGL_*) */
    char destination[CFG_PATH_MAX + 1]; /* "stderr", "syslog" or a file path */
} cfgLog;

typedef struct {
    char source[CFG_PATH_MAX + 1]; /* the path the config was loaded from */
    cfgInstrument *instruments;    /* owned; cfgFree releases. Allocated for
                                      instrumentCapacity entries at load, so an
                                      instrument.add never moves them */
    cfgSegment *segments;          /* owned */
    cfgPort *ports;                /* owned */
    uint32_t instrumentCount, segmentCount, portCount;
    uint32_t instrumentCapacity; /* sum of the segments' instrumentCapacity */
    cfgLcores lcores;
    cfgStorage storage;
    cfgRisk risk;
    cfgControl control;
    cfgLog log;
    cfgMarketData marketData;
    cfgFilter filter;
} cfgConfig;

/* Status of the decimal parsers. */
typedef enum {
    CFG_DEC_OK = 0,
    CFG_DEC_SYNTAX = -1,   /* not digits[.digits] */
    CFG_DEC_NEGATIVE = -2, /* a minus sign */
    CFG_DEC_DECIMALS = -3, /* more decimals than the unit can hold */
    CFG_DEC_RANGE = -4     /* above the maximum */
} cfgDecStatus;

/* Loads and validates `path`. Returns 0 and fills *out, which the caller then
 * releases with cfgFree. Returns -1 on any error, with *out zeroed (nothing to
 * free) and a NUL-terminated message in err (if errlen > 0) of the form
 * "file:line: key.path: reason"; only the first error is reported. */
int cfgLoad(const char *path, cfgConfig *out, char *err, size_t errlen);

/* Releases what cfgLoad allocated and zeroes *cfg. NULL and an already freed
 * or zeroed config are fine. Does not free cfg itself. */
void cfgFree(cfgConfig *cfg);

/* Returns the instrument with this id (exact match), or NULL. The pointer is
 * owned by cfg and valid until cfgFree. */
const cfgInstrument *cfgFindInstrument(const cfgConfig *cfg, const char *id);

/* Returns the segment with this id, or NULL. Owned by cfg. */
const cfgSegment *cfgFindSegment(const cfgConfig *cfg, uint8_t id);

/* Returns the instrument traded as book `book` in segment index `segIndex`,
 * or NULL. Owned by cfg. */
const cfgInstrument *cfgFindBook(const cfgConfig *cfg, uint16_t segIndex, uint16_t book);

/* Why cfgInstrumentCheck refused an instrument added at run time. */
typedef enum {
    CFG_ADD_OK = 0,
    CFG_ADD_PARAMS = -1,    /* a field out of range, off tick, a band too wide */
    CFG_ADD_SEGMENT = -2,   /* no segment has that id */
    CFG_ADD_DUPLICATE = -3, /* the id is taken (compared case-insensitively) */
    CFG_ADD_CAPACITY = -4   /* the segment's instrument_capacity is used up */
} cfgAddStatus;

/* Checks an instrument to add to a loaded config (instrument.add) with the
 * rules the loader applies to the file: id 1..8 letters and digits starting
 * with a letter, name (empty: the id), tick, pre-settlement on tick, rates,
 * lots, a band the matcher can hold. spec gives id, name, segment (the id),
 * tickSize, multiplier, marginRate, commissionRate, commissionPerLot,
 * limitUp, limitDown, preSettlement, preClose (0: preSettlement), minLots,
 * maxLots, closeRule; the derived fields (segIndex, book, priceDecimals,
 * preSettlementTicks, lowerTicks, upperTicks) are filled in. Returns
 * CFG_ADD_OK or the first problem, with a message in err. Changes nothing
 * in cfg. */
int cfgInstrumentCheck(const cfgConfig *cfg, cfgInstrument *spec, char *err, size_t errlen);

/* Appends an instrument cfgInstrumentCheck accepted (against this cfg, with
 * nothing appended since) as the next book of its segment. The entry is
 * written before the counts grow, and the counts are stored with release
 * order, so a reader that loads a count with acquire order sees complete
 * entries below it; nothing already there moves. Returns the instrument's
 * index in cfg->instruments, or -1 (nothing changed) when the check would
 * now fail. Single writer: the control lcore (or start-up). */
int cfgInstrumentAppend(cfgConfig *cfg, const cfgInstrument *spec);

/* Computes the daily limit band in ticks from a pre-settlement price (1e-4
 * units, > 0), the tick size (1e-4 units, > 0) and the up/down rates (ppm):
 *   upper = floor(pre * (1e6 + up)   / (1e6 * tick))   rounds DOWN to a tick
 *   lower = ceil (pre * (1e6 - down) / (1e6 * tick))   rounds UP to a tick
 *   lower = max(lower, 1)
 * so every price in the band is inside the exchange's limits. Returns 0, or
 * -1 (outputs untouched) for a non-positive price or tick, down > 1e6, or
 * arithmetic that would overflow int64. */
int cfgLimitBand(int64_t preSettlement, int64_t tickSize, uint32_t limitUp, uint32_t limitDown,
                 int64_t *lowerTicks, int64_t *upperTicks);

/* Converts a price in 1e-4 units to ticks. Returns 0, or -1 (*ticks
 * untouched) when tickSize <= 0 or the price is not a whole number of ticks.
 * Negative prices convert (they are on tick or not like any other). */
int cfgPriceToTicks(int64_t price, int64_t tickSize, int64_t *ticks);

/* Parses an unsigned decimal "digits[.digits]" into units of 10^-decimals
 * (decimals <= 18) without floating point: "3800.2" with 4 decimals gives
 * 38002000. Refuses signs, spaces, exponents, "1." and ".5", more fraction
 * digits than `decimals` and values above `max`. Returns CFG_DEC_OK and sets
 * *out, or a negative cfgDecStatus with *out untouched. */
int cfgParseDecimal(const char *s, unsigned decimals, int64_t max, int64_t *out);

/* Parses a rate into ppm: "12%" (at most 4 decimals before the %) or a
 * fraction "0.12" (at most 6 decimals); both give 120000. Returns CFG_DEC_OK
 * or a negative cfgDecStatus as cfgParseDecimal (CFG_DEC_RANGE above max). */
int cfgParseRate(const char *s, uint32_t max, uint32_t *ppm);

/* A short English description of a cfgDecStatus ("too many decimals", ...).
 * Static storage; never NULL. */
const char *cfgDecimalError(int status);

/* Writes `value` (in units of 10^-scale, scale <= 18) as a decimal with at
 * least `decimals` fraction digits and more when the value needs them, so
 * nothing is ever rounded: (38002000, 4, 1) -> "3800.2", (752300000, 4, 0) ->
 * "75230". Returns the length snprintf would have written (output truncated
 * and NUL-terminated when len is too small). */
int cfgFormatDecimal(int64_t value, unsigned scale, unsigned decimals, char *buf, size_t len);

/* Writes a price given in ticks of `ins` as a decimal ("3800.2"). Returns as
 * cfgFormatDecimal; "(overflow)" when ticks * tickSize does not fit int64. */
int cfgFormatPrice(const cfgInstrument *ins, int64_t ticks, char *buf, size_t len);

/* Name used in the config for a value, e.g. "cancel_both"; "?" if unknown. */
const char *cfgStpName(mtStpPolicy stp);
const char *cfgCloseRuleName(cfgCloseRule rule);
const char *cfgDurabilityName(cfgDurability d);
const char *cfgLogLevelName(int level);

#ifdef __cplusplus
}
#endif
#endif
