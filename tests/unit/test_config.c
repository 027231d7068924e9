/* test_config.c -- unit tests of the config loader (config/config.c).
 *
 * Loads the default config/xchg.conf (the Makefile runs tests from the repo
 * root), checks the decimal, band and tick helpers against hand-computed
 * numbers, and feeds the loader many broken files: each is a small, valid
 * base file with one or two lines replaced, written with mkstemp into a
 * private temporary directory, and must be refused with the right line, key
 * and reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

static char tmpDir[64];

/* ---- the base file the bad cases edit: numbered for the expectations ---- */

static const char *const baseLines[] = {
    /*  1 */ "lcores = { control = 0; storage = 0; };",
    /*  2 */ "segments = (",
    /*  3 */ "  { id = 0; lcore = 1; order_port = 9000; feed_group = \"239.1.1.1\";",
    /*  4 */ "    feed_port = 9100; stp = \"cancel_both\"; }",
    /*  5 */ ");",
    /*  6 */ "ports = ( { name = \"p0\"; devargs = \"net_af_packet0,iface=xchg0\";",
    /*  7 */ "            address = \"198.18.0.1/24\"; } );",
    /*  8 */ "instruments = (",
    /*  9 */ "  { id = \"IF2501\"; segment = 0; tick_size = \"0.2\"; multiplier = 300;",
    /* 10 */ "    margin_rate = \"12%\"; limit_up = \"10%\"; limit_down = \"10%\";",
    /* 11 */ "    pre_settlement = \"3800.0\"; },",
    /* 12 */ "  {",
    /* 13 */ "    id = \"cu2501\";",
    /* 14 */ "    segment = 0;",
    /* 15 */ "    tick_size = \"10\";",
    /* 16 */ "    multiplier = 5;",
    /* 17 */ "    margin_rate = \"10%\";",
    /* 18 */ "    limit_up = \"8%\";",
    /* 19 */ "    limit_down = \"8%\";",
    /* 20 */ "    pre_settlement = \"75230\";",
    /* 21 */ "  }",
    /* 22 */ ");",
    /* 23 */ "storage = { data_dir = \"./data\"; durability = \"sync\"; };",
    /* 24 */ "risk = { reject_risk_ratio = \"95%\"; };",
    /* 25 */ "control = { socket = \"/tmp/xchg/t.sock\"; socket_mode = \"0660\"; };",
};
#define BASE_LINES ((int)(sizeof baseLines / sizeof baseLines[0]))
#define APPEND     (BASE_LINES + 1) /* an edit at this line adds a line 26 */

typedef struct {
    int line;         /* 1-based line to replace; APPEND adds one; 0 = none */
    const char *text; /* replacement ("" keeps an empty line) */
} edit;

typedef struct {
    const char *name;
    edit e[4];
    const char *where;  /* ":line: key" expected after the file name */
    const char *reason; /* substring of the reason */
} badCase;

#define PATH_LEN (sizeof tmpDir + 32)

/* Writes the base file with the edits (line 0 = unused) to a new temp file
 * whose name goes to path (PATH_LEN bytes); the caller unlinks it. */
static void writeConfig(const edit *edits, int nEdits, char *path)
{
    snprintf(path, PATH_LEN, "%s/cfg-XXXXXX", tmpDir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int line = 1; line <= APPEND; line++) {
        const char *text = line <= BASE_LINES ? baseLines[line - 1] : NULL;
        for (int k = 0; k < nEdits; k++)
            if (edits[k].line == line)
                text = edits[k].text;
        if (text != NULL)
            fprintf(f, "%s\n", text);
    }
    assert_int_equal(fclose(f), 0);
}

/* Loads a config written from the base with edits; returns cfgLoad's result. */
static int loadEdited(const edit *edits, int nEdits, cfgConfig *cfg, char *err, size_t errlen)
{
    char path[PATH_LEN];
    writeConfig(edits, nEdits, path);
    int rc = cfgLoad(path, cfg, err, errlen);
    unlink(path);
    return rc;
}

/* ---- fixtures ---- */

static int groupSetup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-test-config-XXXXXX");
    return mkdtemp(tmpDir) == NULL ? -1 : 0;
}

static int groupTeardown(void **state)
{
    (void)state;
    return rmdir(tmpDir);
}

/* ---- the default config ---- */

static void testDefaultInstruments(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    int rc = cfgLoad("config/xchg.conf", &c, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(c.instrumentCount, 4);
    const cfgInstrument *i = cfgFindInstrument(&c, "IF2501");
    assert_non_null(i);
    assert_int_equal(i->tickSize, 2000);
    assert_int_equal(i->priceDecimals, 1);
    assert_int_equal(i->multiplier, 300);
    assert_int_equal(i->marginRate, 120000);
    assert_int_equal(i->limitUp, 100000);
    assert_int_equal(i->limitDown, 100000);
    assert_int_equal(i->commissionRate, 23);
    assert_int_equal(i->preSettlement, 38000000);
    assert_int_equal(i->preSettlementTicks, 19000);
    assert_int_equal(i->lowerTicks, 17100);
    assert_int_equal(i->upperTicks, 20900);
    assert_int_equal(i->minLots, 1);
    assert_int_equal(i->maxLots, 10000);
    assert_int_equal(i->closeRule, CFG_CLOSE_TODAY_FIRST);
    assert_int_equal(i->book, 0);
    i = cfgFindInstrument(&c, "IC2501");
    assert_non_null(i);
    assert_int_equal(i->multiplier, 200);
    assert_int_equal(i->lowerTicks, 25200);
    assert_int_equal(i->upperTicks, 30800);
    i = cfgFindInstrument(&c, "IH2501");
    assert_non_null(i);
    assert_int_equal(i->lowerTicks, 12600);
    assert_int_equal(i->upperTicks, 15400);
    i = cfgFindInstrument(&c, "cu2501");
    assert_non_null(i);
    assert_int_equal(i->tickSize, 100000);
    assert_int_equal(i->priceDecimals, 0);
    assert_int_equal(i->multiplier, 5);
    assert_int_equal(i->marginRate, 100000);
    assert_int_equal(i->preSettlementTicks, 7523);
    assert_int_equal(i->lowerTicks, 6922); /* 7523 * 0.92 = 6921.16, up */
    assert_int_equal(i->upperTicks, 8124); /* 7523 * 1.08 = 8124.84, down */
    assert_int_equal(i->closeRule, CFG_CLOSE_SPLIT);
    assert_int_equal(i->book, 3);
    assert_ptr_equal(cfgFindBook(&c, 0, 3), i);
    assert_null(cfgFindBook(&c, 0, 4));
    assert_null(cfgFindInstrument(&c, "CU2501")); /* lookups are exact */
    assert_null(cfgFindInstrument(&c, NULL));
    cfgFree(&c);
}

static void testDefaultSystem(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    int rc = cfgLoad("config/xchg.conf", &c, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(c.source, "config/xchg.conf");
    assert_int_equal(c.lcores.control, 0);
    assert_int_equal(c.lcores.storage, 0);
    assert_int_equal(c.segmentCount, 1);
    const cfgSegment *s = cfgFindSegment(&c, 0);
    assert_non_null(s);
    assert_null(cfgFindSegment(&c, 1));
    assert_int_equal(s->lcore, 1);
    assert_int_equal(s->cpu, 1); /* segments.cpu defaults to the lcore */
    assert_int_equal(s->orderPort, 9000);
    assert_int_equal(s->feedGroup, 0xEF010101u); /* 239.1.1.1 */
    assert_int_equal(s->feedPort, 9100);
    assert_int_equal(s->retransPort, 9101);
    assert_int_equal(s->feedHistory, 65536);
    assert_int_equal(s->feedHeartbeatMs, 1000);
    assert_int_equal(s->orderCapacity, 1048576);
    assert_int_equal(s->stp, MT_STP_CANCEL_INCOMING);
    assert_int_equal(s->instrumentCount, 4);
    assert_int_equal(c.portCount, 1);
    assert_string_equal(c.ports[0].name, "p0");
    assert_string_equal(c.ports[0].devargs, "net_af_packet0,iface=xchg0");
    assert_int_equal(c.ports[0].address, 0xC6120001u); /* 198.18.0.1 */
    assert_int_equal(c.ports[0].prefixLen, 24);
    assert_string_equal(c.storage.dataDir, "./data");
    assert_string_equal(c.storage.walDir, "./data/wal");
    assert_string_equal(c.storage.sstDir, "./data/sst");
    assert_int_equal(c.storage.walSegmentSize, 64u << 20);
    assert_int_equal(c.storage.durability, CFG_DURABILITY_SYNC);
    assert_int_equal(c.storage.asyncCommitUs, 1000);
    assert_int_equal(c.risk.rejectRatio, 950000);
    assert_int_equal(c.risk.liquidationRatio, 1000000);
    assert_int_equal(c.risk.concentration, 500000);
    assert_int_equal(c.risk.maxOrderNotional, 100000000000LL); /* 10M in 1e-4 */
    assert_int_equal(c.risk.throttle, 10000);
    /* market_data: night session from 21:00 at +08:00, 239.1.2.1:9200 */
    assert_int_equal(c.marketData.tradingDayStart, 21 * 3600);
    assert_int_equal(c.marketData.utcOffset, 8 * 3600);
    assert_int_equal(c.marketData.summaryGroup, 0xEF010201u);
    assert_int_equal(c.marketData.summaryPort, 9200);
    assert_int_equal(c.marketData.klineHistory, 1000);
    assert_int_equal(cfgFindInstrument(&c, "IF2501")->preClose, 38000000); /* = pre_settlement */
    assert_string_equal(c.control.socketPath, "/tmp/xchg/xchgd.sock");
    assert_int_equal(c.control.socketMode, 0660);
    assert_int_equal(c.control.metricsPort, 9180);
    assert_int_equal(c.filter.enabled, 1);
    assert_int_equal(c.filter.mode, CFG_XDP_AUTO);
    cfgFree(&c);
    cfgFree(&c); /* a freed config is zeroed: freeing again is harmless */
    cfgFree(NULL);
}

/* The base file leaves most keys out: the documented defaults apply. */
static void testMarketData(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    const edit e[] = {{11, "    pre_settlement = \"3800.0\"; pre_close = \"3791.2\"; },"},
                      {APPEND, "market_data = { trading_day_start = \"00:00\"; utc_offset = "
                               "\"-05:30\"; summary_group = \"239.9.9.9\"; summary_port = 1; "
                               "kline_history = 7; };"}};
    if (loadEdited(e, 2, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(cfgFindInstrument(&c, "IF2501")->preClose, 37912000);
    assert_int_equal(c.marketData.tradingDayStart, 0);
    assert_int_equal(c.marketData.utcOffset, -(5 * 3600 + 30 * 60));
    assert_int_equal(c.marketData.summaryGroup, 0xEF090909u);
    assert_int_equal(c.marketData.summaryPort, 1);
    assert_int_equal(c.marketData.klineHistory, 7);
    cfgFree(&c);
    const edit late[] = {{APPEND, "market_data = { trading_day_start = \"23:59\"; utc_offset = "
                                  "\"+14:00\"; };"}};
    const edit off[] = {{APPEND, "market_data = { summary_port = 0; };"}};
    if (loadEdited(off, 1, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.marketData.summaryPort, 0); /* the channel off */
    cfgFree(&c);
    if (loadEdited(late, 1, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.marketData.summaryPort, 9200);
    assert_int_equal(c.marketData.tradingDayStart, 23 * 3600 + 59 * 60);
    assert_int_equal(c.marketData.utcOffset, 14 * 3600);
    cfgFree(&c);
}

static void testDefaultsApplied(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    const edit e[] = {{23, ""}, {24, ""}};
    if (loadEdited(e, 2, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    const cfgInstrument *i = cfgFindInstrument(&c, "cu2501");
    assert_non_null(i);
    assert_string_equal(i->name, "cu2501"); /* name defaults to the id */
    assert_int_equal(i->minLots, 1);
    assert_int_equal(i->maxLots, 10000);
    assert_int_equal(i->closeRule, CFG_CLOSE_YESTERDAY_FIRST);
    assert_int_equal(i->commissionRate, 0);
    assert_int_equal(i->commissionPerLot, 0);
    assert_int_equal(c.segments[0].stp, MT_STP_CANCEL_BOTH);
    assert_int_equal(c.segments[0].orderCapacity, 1u << 20);
    assert_int_equal(c.segments[0].retransPort, 9100); /* default: feed_port */
    assert_int_equal(c.segments[0].feedHistory, 65536);
    assert_int_equal(c.segments[0].feedHeartbeatMs, 1000);
    assert_string_equal(c.storage.walDir, "./data/wal");
    assert_int_equal(c.storage.walSegmentSize, 64u << 20);
    assert_int_equal(c.storage.durability, CFG_DURABILITY_SYNC);
    assert_int_equal(c.storage.checkpointIntervalS, 300);
    assert_int_equal(c.storage.checkpointRecords, 0);
    assert_int_equal(c.storage.checkpointsKept, 2);
    assert_int_equal(c.storage.segmentsRetained, -1);
    assert_int_equal(c.risk.rejectRatio, 950000);
    assert_int_equal(c.risk.liquidationRatio, 1000000);
    assert_int_equal(c.risk.concentration, 500000);
    assert_int_equal(c.risk.maxOrderNotional, 100000000000LL);
    assert_int_equal(c.risk.throttle, 10000);
    assert_int_equal(c.control.socketMode, 0660);
    assert_string_equal(c.control.socketOwner, "");
    assert_int_equal(c.log.level, 2); /* info */
    assert_string_equal(c.log.destination, "stderr");
    /* no filter section: the filter is on, auto attach, paths found at start */
    assert_int_equal(c.filter.enabled, 1);
    assert_int_equal(c.filter.mode, CFG_XDP_AUTO);
    assert_string_equal(c.filter.program, "");
    assert_string_equal(c.filter.interface, "");
    cfgFree(&c);
}

/* Every filter key written out. */
static void testFilterKeys(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    const edit e[] = {{APPEND, "filter = { enabled = false; mode = \"generic\"; "
                               "program = \"/opt/xchg/f.o\"; interface = \"ens5f0\"; };"}};
    if (loadEdited(e, 1, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.filter.enabled, 0);
    assert_int_equal(c.filter.mode, CFG_XDP_GENERIC);
    assert_string_equal(c.filter.program, "/opt/xchg/f.o");
    assert_string_equal(c.filter.interface, "ens5f0");
    cfgFree(&c);
    const edit n[] = {{APPEND, "filter = { mode = \"native\"; };"}};
    if (loadEdited(n, 1, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.filter.enabled, 1);
    assert_int_equal(c.filter.mode, CFG_XDP_NATIVE);
    cfgFree(&c);
}

/* The log section: every level name, and the three kinds of destination. */
static void testLogSection(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int level;
        const char *dest;
    } ok[] = {
        {"log = { level = \"error\"; destination = \"syslog\"; };", 0, "syslog"},
        {"log = { level = \"warning\"; destination = \"/var/log/xchg/xchgd.log\"; };", 1,
         "/var/log/xchg/xchgd.log"},
        {"log = { level = \"debug\"; destination = \"./xchgd.log\"; };", 3, "./xchgd.log"},
        {"log = { destination = \"stderr\"; };", 2, "stderr"},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        cfgConfig c;
        char err[512];
        const edit e[] = {{APPEND, ok[k].line}};
        if (loadEdited(e, 1, &c, err, sizeof err) != 0)
            fail_msg("%s: %s", ok[k].line, err);
        assert_int_equal(c.log.level, ok[k].level);
        assert_string_equal(c.log.destination, ok[k].dest);
        assert_string_equal(cfgLogLevelName(c.log.level), cfgLogLevelName(ok[k].level));
        cfgFree(&c);
    }
    assert_string_equal(cfgLogLevelName(3), "debug");
    assert_string_equal(cfgLogLevelName(4), "?");
}

/* Values written in the other accepted forms. */
static void testAlternativeForms(void **state)
{
    (void)state;
    cfgConfig c;
    char err[512];
    const edit e[] = {{16, "    multiplier = 5; min_lots = 2; max_lots = 500; commission_per_lot = "
                           "\"0.5\"; commission_rate = \"0.00005\"; close_rule = \"split\";"},
                      {23, "storage = { data_dir = \"/var/xchg\"; wal_dir = \"/fast/wal\"; "
                           "wal_segment_size = 1048576; durability = \"async\"; "
                           "async_commit_us = 250; };"}};
    if (loadEdited(e, 2, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    const cfgInstrument *i = cfgFindInstrument(&c, "cu2501");
    assert_int_equal(i->tickSize, 100000); /* integer "10" and string agree */
    assert_int_equal(i->minLots, 2);
    assert_int_equal(i->maxLots, 500);
    assert_int_equal(i->commissionPerLot, 5000);
    assert_int_equal(i->commissionRate, 50);
    assert_string_equal(c.storage.walDir, "/fast/wal"); /* absolute: as written */
    assert_string_equal(c.storage.sstDir, "/var/xchg/sst");
    assert_int_equal(c.storage.walSegmentSize, 1048576);
    assert_int_equal(c.storage.durability, CFG_DURABILITY_ASYNC);
    assert_int_equal(c.storage.asyncCommitUs, 250);
    cfgFree(&c);
}

/* ---- helpers ---- */

static void testLimitBand(void **state)
{
    (void)state;
    int64_t lo = -7, hi = -7;
    /* IF2501: 3800.0 with tick 0.2 and +-10%: 3420.0 .. 4180.0 */
    assert_int_equal(cfgLimitBand(38000000, 2000, 100000, 100000, &lo, &hi), 0);
    assert_int_equal(lo, 17100);
    assert_int_equal(hi, 20900);
    /* IC2501 5600.0: 5040.0 .. 6160.0; IH2501 2800.0: 2520.0 .. 3080.0 */
    assert_int_equal(cfgLimitBand(56000000, 2000, 100000, 100000, &lo, &hi), 0);
    assert_int_equal(lo, 25200);
    assert_int_equal(hi, 30800);
    assert_int_equal(cfgLimitBand(28000000, 2000, 100000, 100000, &lo, &hi), 0);
    assert_int_equal(lo, 12600);
    assert_int_equal(hi, 15400);
    /* 3801.0 +-7%: 3534.93 -> up to 3535.0 (17675), 4067.07 -> down to 4067.0 (20335) */
    assert_int_equal(cfgLimitBand(38010000, 2000, 70000, 70000, &lo, &hi), 0);
    assert_int_equal(lo, 17675);
    assert_int_equal(hi, 20335);
    /* cu2501 75230 tick 10 +-8%: 69211.6 -> 69220, 81248.4 -> 81240 */
    assert_int_equal(cfgLimitBand(752300000, 100000, 80000, 80000, &lo, &hi), 0);
    assert_int_equal(lo, 6922);
    assert_int_equal(hi, 8124);
    /* Exact bounds stay: 100 ticks +-5% is 95 .. 105. */
    assert_int_equal(cfgLimitBand(100, 1, 50000, 50000, &lo, &hi), 0);
    assert_int_equal(lo, 95);
    assert_int_equal(hi, 105);
    /* The lower bound never goes below one tick. */
    assert_int_equal(cfgLimitBand(6000, 2000, 100000, 1000000, &lo, &hi), 0);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 3);
    assert_int_equal(cfgLimitBand(6000, 2000, 100000, 900000, &lo, &hi), 0);
    assert_int_equal(lo, 1); /* 0.3 ticks rounds up to 1 */
}

static void testLimitBandErrors(void **state)
{
    (void)state;
    int64_t lo = -7, hi = -7;
    assert_int_equal(cfgLimitBand(0, 2000, 100000, 100000, &lo, &hi), -1);
    assert_int_equal(cfgLimitBand(-38000000, 2000, 100000, 100000, &lo, &hi), -1);
    assert_int_equal(cfgLimitBand(38000000, 0, 100000, 100000, &lo, &hi), -1);
    assert_int_equal(cfgLimitBand(38000000, 2000, 100000, 1000001, &lo, &hi), -1);
    assert_int_equal(cfgLimitBand(INT64_MAX, 1, 100000, 100000, &lo, &hi), -1);
    assert_int_equal(cfgLimitBand(1000, INT64_MAX, 100000, 100000, &lo, &hi), -1);
    /* 1.5 ticks +-10%: 1.35 .. 1.65 holds no whole tick */
    assert_int_equal(cfgLimitBand(3000, 2000, 100000, 100000, &lo, &hi), -1);
    assert_int_equal(lo, -7); /* outputs untouched on error */
    assert_int_equal(hi, -7);
}

static void testPriceToTicks(void **state)
{
    (void)state;
    int64_t t = -7;
    assert_int_equal(cfgPriceToTicks(38000000, 2000, &t), 0);
    assert_int_equal(t, 19000);
    assert_int_equal(cfgPriceToTicks(38002000, 2000, &t), 0);
    assert_int_equal(t, 19001);
    assert_int_equal(cfgPriceToTicks(752300000, 100000, &t), 0);
    assert_int_equal(t, 7523);
    assert_int_equal(cfgPriceToTicks(0, 2000, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(cfgPriceToTicks(-4000, 2000, &t), 0);
    assert_int_equal(t, -2);
    t = -7;
    assert_int_equal(cfgPriceToTicks(38001000, 2000, &t), -1); /* 3800.1 off a 0.2 tick */
    assert_int_equal(cfgPriceToTicks(752350000, 100000, &t), -1);
    assert_int_equal(cfgPriceToTicks(38000000, 0, &t), -1);
    assert_int_equal(cfgPriceToTicks(38000000, -2000, &t), -1);
    assert_int_equal(t, -7);
}

static void testParseDecimal(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        unsigned decimals;
        int rc;
        int64_t v;
    } cases[] = {
        {"0.2", 4, CFG_DEC_OK, 2000},
        {"3800", 4, CFG_DEC_OK, 38000000},
        {"3800.0", 4, CFG_DEC_OK, 38000000},
        {"3800.0001", 4, CFG_DEC_OK, 38000001},
        {"0", 4, CFG_DEC_OK, 0},
        {"00012.5", 4, CFG_DEC_OK, 125000},
        {"5", 0, CFG_DEC_OK, 5},
        {"922337203685477.5807", 4, CFG_DEC_OK, INT64_MAX},
        {"922337203685477.5808", 4, CFG_DEC_RANGE, 0},
        {"99999999999999999999", 4, CFG_DEC_RANGE, 0},
        {"99999999999999999999", 0, CFG_DEC_RANGE, 0},
        {"3800.00001", 4, CFG_DEC_DECIMALS, 0},
        {"5.0", 0, CFG_DEC_DECIMALS, 0},
        {"-1", 4, CFG_DEC_NEGATIVE, 0},
        {"-0.5", 4, CFG_DEC_NEGATIVE, 0},
        {"-x", 4, CFG_DEC_SYNTAX, 0},
        {"", 4, CFG_DEC_SYNTAX, 0},
        {"1.", 4, CFG_DEC_SYNTAX, 0},
        {".5", 4, CFG_DEC_SYNTAX, 0},
        {"+1", 4, CFG_DEC_SYNTAX, 0},
        {"1e3", 4, CFG_DEC_SYNTAX, 0},
        {" 1", 4, CFG_DEC_SYNTAX, 0},
        {"1 ", 4, CFG_DEC_SYNTAX, 0},
        {"1,000", 4, CFG_DEC_SYNTAX, 0},
        {"1.2.3", 4, CFG_DEC_SYNTAX, 0},
        {"0x10", 4, CFG_DEC_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -7;
        int rc = cfgParseDecimal(cases[i].s, cases[i].decimals, INT64_MAX, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": got %d want %d", cases[i].s, rc, cases[i].rc);
        assert_int_equal(v, rc == CFG_DEC_OK ? cases[i].v : -7);
    }
    int64_t v;
    assert_int_equal(cfgParseDecimal("429496.7295", 4, UINT32_MAX, &v), CFG_DEC_OK);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(cfgParseDecimal("429496.7296", 4, UINT32_MAX, &v), CFG_DEC_RANGE);
    assert_int_equal(cfgParseDecimal(NULL, 4, 100, &v), CFG_DEC_SYNTAX);
    assert_int_equal(cfgParseDecimal("1", 19, INT64_MAX, &v), CFG_DEC_SYNTAX);
    assert_string_equal(cfgDecimalError(CFG_DEC_DECIMALS), "too many decimals");
}

static void testParseRate(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        uint32_t ppm;
    } cases[] = {
        {"12%", CFG_DEC_OK, 120000},        {"0.12", CFG_DEC_OK, 120000},
        {"1", CFG_DEC_OK, 1000000},         {"100%", CFG_DEC_OK, 1000000},
        {"0.0023%", CFG_DEC_OK, 23},        {"0.000001", CFG_DEC_OK, 1},
        {"12.5%", CFG_DEC_OK, 125000},      {"0%", CFG_DEC_OK, 0},
        {"0.0000001", CFG_DEC_DECIMALS, 0}, {"12.34567%", CFG_DEC_DECIMALS, 0},
        {"%", CFG_DEC_SYNTAX, 0},           {"12 %", CFG_DEC_SYNTAX, 0},
        {"12%%", CFG_DEC_SYNTAX, 0},        {"twelve", CFG_DEC_SYNTAX, 0},
        {"-1%", CFG_DEC_NEGATIVE, 0},       {"101%", CFG_DEC_RANGE, 0},
        {"1.000001", CFG_DEC_RANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t ppm = 7;
        int rc = cfgParseRate(cases[i].s, CFG_PPM, &ppm);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": got %d want %d", cases[i].s, rc, cases[i].rc);
        assert_int_equal(ppm, rc == CFG_DEC_OK ? cases[i].ppm : 7);
    }
}

static void testFormat(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(cfgFormatDecimal(38002000, 4, 1, buf, sizeof buf), 6);
    assert_string_equal(buf, "3800.2");
    cfgFormatDecimal(38000000, 4, 1, buf, sizeof buf);
    assert_string_equal(buf, "3800.0");
    cfgFormatDecimal(752300000, 4, 0, buf, sizeof buf);
    assert_string_equal(buf, "75230");
    cfgFormatDecimal(12345, 4, 0, buf, sizeof buf); /* more digits than asked: kept */
    assert_string_equal(buf, "1.2345");
    cfgFormatDecimal(-5000, 4, 1, buf, sizeof buf);
    assert_string_equal(buf, "-0.5");
    cfgFormatDecimal(0, 4, 2, buf, sizeof buf);
    assert_string_equal(buf, "0.00");
    cfgFormatDecimal(INT64_MIN, 4, 0, buf, sizeof buf);
    assert_string_equal(buf, "-922337203685477.5808");
    cfgFormatDecimal(120000, 6, 0, buf, sizeof buf);
    assert_string_equal(buf, "0.12");
    assert_int_equal(cfgFormatDecimal(38002000, 4, 1, buf, 4), 6); /* truncated */
    assert_string_equal(buf, "380");

    cfgInstrument ins = {.tickSize = 2000, .priceDecimals = 1};
    cfgFormatPrice(&ins, 19001, buf, sizeof buf);
    assert_string_equal(buf, "3800.2");
    cfgFormatPrice(&ins, INT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "(overflow)");
    assert_string_equal(cfgStpName(MT_STP_CANCEL_RESTING), "cancel_resting");
    assert_string_equal(cfgCloseRuleName(CFG_CLOSE_SPLIT), "split");
    assert_string_equal(cfgDurabilityName(CFG_DURABILITY_ASYNC), "async");
    assert_string_equal(cfgStpName((mtStpPolicy)9), "?");
}

/* ---- loader failures outside the table ---- */

static void testMissingFile(void **state)
{
    (void)state;
    cfgConfig c;
    char err[256];
    memset(&c, 0xA5, sizeof c);
    assert_int_equal(cfgLoad("/nonexistent/xchg.conf", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/xchg.conf: cannot open: "));
    assert_null(c.instruments); /* zeroed: nothing to free */
    assert_int_equal(c.instrumentCount, 0);
    cfgFree(&c);
    assert_int_equal(cfgLoad(tmpDir, &c, err, sizeof err), -1); /* a directory */
    assert_non_null(strstr(err, "cannot read"));
    assert_int_equal(cfgLoad(NULL, &c, err, sizeof err), -1);
}

static void testSmallErrorBuffer(void **state)
{
    (void)state;
    cfgConfig c;
    char err[8];
    const edit e[] = {{16, "    multiplier = 0;"}};
    memset(err, 'x', sizeof err);
    assert_int_equal(loadEdited(e, 1, &c, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(loadEdited(e, 1, &c, NULL, 0), -1); /* no buffer at all */
}

static void testEmptyFile(void **state)
{
    (void)state;
    cfgConfig c;
    char err[256];
    char path[96];
    snprintf(path, sizeof path, "%s/empty-XXXXXX", tmpDir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cfgLoad(path, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, ": segments: required section missing"));
    unlink(path);
}

/* ---- the bad-file table ---- */

#define SEG1(fields) "  , { id = 1; " fields " } );"

static const badCase badCases[] = {
    {"syntax error", {{14, "    segment = = 0;"}}, ":14: ", "syntax error"},
    {"trading day start not a time",
     {{APPEND, "market_data = { trading_day_start = \"24:00\"; };"}},
     ":26: market_data.trading_day_start: ",
     "a time of day HH:MM"},
    {"trading day start without colon",
     {{APPEND, "market_data = { trading_day_start = \"2100\"; };"}},
     ":26: market_data.trading_day_start: ",
     "a time of day HH:MM"},
    {"utc offset without sign",
     {{APPEND, "market_data = { utc_offset = \"08:00\"; };"}},
     ":26: market_data.utc_offset: ",
     "is not an offset"},
    {"utc offset too large",
     {{APPEND, "market_data = { utc_offset = \"+14:30\"; };"}},
     ":26: market_data.utc_offset: ",
     "from -14:00 to +14:00"},
    {"summary group not multicast",
     {{APPEND, "market_data = { summary_group = \"198.18.0.9\"; };"}},
     ":26: market_data.summary_group: ",
     "not in 239.0.0.0/8"},
    {"summary group is a feed group",
     {{APPEND, "market_data = { summary_group = \"239.1.1.1\"; };"}},
     ":26: market_data.summary_group: ",
     "feed group of segment 0"},
    {"kline history above 1000",
     {{APPEND, "market_data = { kline_history = 1001; };"}},
     ":26: market_data.kline_history: ",
     "between 1 and 1000"},
    {"summary port too large",
     {{APPEND, "market_data = { summary_port = 65536; };"}},
     ":26: market_data.summary_port: ",
     "between 0 and 65535"},
    {"unknown market data key",
     {{APPEND, "market_data = { snapshot_ms = 500; };"}},
     ":26: market_data.snapshot_ms: ",
     "unknown key"},
    {"pre close zero",
     {{11, "    pre_settlement = \"3800.0\"; pre_close = \"0\"; },"}},
     ":11: instruments.[0].pre_close: ",
     "must be between"},
    {"duplicate setting",
     {{15, "    tick_size = \"10\"; segment = 0;"}},
     ":15: ",
     "duplicate setting name"},
    {"missing required key",
     {{16, ""}},
     ":12: instruments.[1].multiplier: ",
     "required key missing"},
    {"missing instrument id", {{13, ""}}, ":12: instruments.[1].id: ", "required key missing"},
    {"missing section", {{6, ""}, {7, ""}}, ": ports: ", "required section missing"},
    {"empty list",
     {{2, "segments = ( );"}, {3, ""}, {4, ""}, {5, ""}},
     ":2: segments: ",
     "at least one entry"},
    {"unknown key",
     {{16, "    multipler = 5;"}},
     ":16: instruments.[1].multipler: ",
     "unknown key (known keys: id, name, "},
    {"unknown root key", {{APPEND, "instrument = ( );"}}, ":26: instrument: ", "unknown key"},
    {"unknown key in group",
     {{24, "risk = { reject_ratio = \"95%\"; };"}},
     ":24: risk.reject_ratio: ",
     "unknown key"},
    {"integer as string",
     {{16, "    multiplier = \"5\";"}},
     ":16: instruments.[1].multiplier: ",
     "must be an integer (got a string)"},
    {"float rate",
     {{17, "    margin_rate = 0.1;"}},
     ":17: instruments.[1].margin_rate: ",
     "(got a float; floats are not exact)"},
    {"integer rate",
     {{17, "    margin_rate = 10;"}},
     ":17: instruments.[1].margin_rate: ",
     "must be a string such as \"12%\" or \"0.12\" (got an integer)"},
    {"float price",
     {{20, "    pre_settlement = 75230.0;"}},
     ":20: instruments.[1].pre_settlement: ",
     "floats are not exact"},
    {"section of wrong type",
     {{23, "storage = 5;"}},
     ":23: storage: ",
     "must be a group { ... } (got an integer)"},
    {"list of wrong type",
     {{2, "segments = { a = 1; };"}, {3, ""}, {4, ""}, {5, ""}},
     ":2: segments: ",
     "must be a list"},
    {"zero multiplier",
     {{16, "    multiplier = 0;"}},
     ":16: instruments.[1].multiplier: ",
     "must be between 1 and 1000000 (got 0)"},
    {"negative multiplier",
     {{16, "    multiplier = -5;"}},
     ":16: instruments.[1].multiplier: ",
     "must be between 1 and 1000000 (got -5)"},
    {"negative price",
     {{20, "    pre_settlement = \"-75230\";"}},
     ":20: instruments.[1].pre_settlement: ",
     "must not be negative"},
    {"negative integer price",
     {{20, "    pre_settlement = -75230;"}},
     ":20: instruments.[1].pre_settlement: ",
     "must not be negative (got -75230)"},
    {"zero tick",
     {{15, "    tick_size = \"0\";"}},
     ":15: instruments.[1].tick_size: ",
     "must be between 0.0001 and 429496.7295 (got 0)"},
    {"off-tick pre_settlement",
     {{20, "    pre_settlement = \"75235\";"}},
     ":20: instruments.[1].pre_settlement: ",
     "75235 is not on tick (not a multiple of tick_size 10)"},
    {"margin rate over 100%",
     {{17, "    margin_rate = \"150%\";"}},
     ":17: instruments.[1].margin_rate: ",
     "must be between 1 and 1000000 ppm (got 1500000)"},
    {"margin rate zero",
     {{17, "    margin_rate = \"0\";"}},
     ":17: instruments.[1].margin_rate: ",
     "must be between 1 and 1000000 ppm (got 0)"},
    {"limit down over 100%",
     {{19, "    limit_down = \"1.2\";"}},
     ":19: instruments.[1].limit_down: ",
     "(got 1200000)"},
    {"too many decimals in a price",
     {{20, "    pre_settlement = \"75230.00001\";"}},
     ":20: instruments.[1].pre_settlement: ",
     "too many decimals in \"75230.00001\" (at most 4)"},
    {"too many decimals in a rate",
     {{17, "    margin_rate = \"0.1234567\";"}},
     ":17: instruments.[1].margin_rate: ",
     "too many decimals"},
    {"too many decimals in a percentage",
     {{17, "    margin_rate = \"10.00001%\";"}},
     ":17: instruments.[1].margin_rate: ",
     "too many decimals"},
    {"not a number",
     {{15, "    tick_size = \"1e3\";"}},
     ":15: instruments.[1].tick_size: ",
     "not a decimal number"},
    {"overflowing decimal",
     {{20, "    pre_settlement = \"99999999999999999999\";"}},
     ":20: instruments.[1].pre_settlement: ",
     "is too large (at most 429496.7295)"},
    {"overflowing integer literal",
     {{16, "    multiplier = 4294967301;"}},
     ":16: instruments.[1].multiplier: ",
     "integer literal 4294967301 is out of range"},
    {"overflowing hex literal",
     {{16, "    multiplier = 0x100000005;"}},
     ":16: instruments.[1].multiplier: ",
     "integer literal 0x100000005 is out of range"},
    {"overflowing 64-bit literal",
     {{16, "    multiplier = 99999999999999999999L;"}},
     ":16: instruments.[1].multiplier: ",
     "is out of range"},
    {"64-bit literal out of range",
     {{16, "    multiplier = 5000000000L;"}},
     ":16: instruments.[1].multiplier: ",
     "must be between 1 and 1000000 (got 5000000000)"},
    {"price beyond ITCH",
     {{20, "    pre_settlement = \"420000\";"}},
     ":18: instruments.[1].limit_up: ",
     "exceeds the largest ITCH price 429496.7295"},
    {"band too wide",
     {{15, "    tick_size = \"0.0001\";"}},
     ":12: instruments.[1]: ",
     "daily limit band spans"},
    {"min above max lots",
     {{16, "    multiplier = 5; min_lots = 100; max_lots = 10;"}},
     ":16: instruments.[1].max_lots: ",
     "must be between 100 and 1000000 (got 10)"},
    {"bad close rule",
     {{16, "    multiplier = 5; close_rule = \"lifo\";"}},
     ":16: instruments.[1].close_rule: ",
     "must be one of yesterday_first, today_first, split (got \"lifo\")"},
    {"duplicate instrument id",
     {{13, "    id = \"IF2501\";"}},
     ":13: instruments.[1].id: ",
     "instrument id \"IF2501\" already used by instruments.[0]"},
    {"duplicate id differing in case",
     {{13, "    id = \"if2501\";"}},
     ":13: instruments.[1].id: ",
     "already used by instruments.[0] (\"IF2501\")"},
    {"instrument id too long",
     {{13, "    id = \"CU2501XYZ\";"}},
     ":13: instruments.[1].id: ",
     "longer than 8 bytes (got 9)"},
    {"instrument id characters",
     {{13, "    id = \"cu-2501\";"}},
     ":13: instruments.[1].id: ",
     "use letters and digits"},
    {"segment out of range",
     {{14, "    segment = 3;"}},
     ":14: instruments.[1].segment: ",
     "no segment has id 3 (1 segment defined)"},
    {"two segments on one lcore",
     {{5, SEG1("lcore = 1; order_port = 9001; feed_group = \"239.1.1.2\"; feed_port = 9100;")}},
     ":5: segments.[1].lcore: ",
     "lcore already used by segments.[0]"},
    {"duplicate segment id",
     {{5, "  , { id = 0; lcore = 2; order_port = 9001; feed_group = \"239.1.1.2\"; "
          "feed_port = 9100; } );"}},
     ":5: segments.[1].id: ",
     "segment id already used by segments.[0]"},
    {"duplicate order port",
     {{5, SEG1("lcore = 2; order_port = 9000; feed_group = \"239.1.1.2\"; feed_port = 9100;")}},
     ":5: segments.[1].order_port: ",
     "order-entry UDP port already used by segments.[0]"},
    {"duplicate multicast group",
     {{5, SEG1("lcore = 2; order_port = 9001; feed_group = \"239.1.1.1\"; feed_port = 9101;")}},
     ":5: segments.[1].feed_group: ",
     "feed multicast group already used by segments.[0]"},
    {"segment without instruments",
     {{5, SEG1("lcore = 2; order_port = 9001; feed_group = \"239.1.1.2\"; feed_port = 9100; "
               "feed_retransmit_port = 9102;")}},
     ":5: segments.[1]: ",
     "segment 1 trades no instrument"},
    {"cpu out of range",
     {{5, SEG1("lcore = 2; cpu = 1024; order_port = 9001; feed_group = \"239.1.1.2\"; "
               "feed_port = 9102;")}},
     ":5: segments.[1].cpu: ",
     "1024"},
    {"worker on the control lcore",
     {{1, "lcores = { control = 1; storage = 0; };"}},
     ":3: segments.[0].lcore: ",
     "lcore 1 is the control lcore"},
    {"worker on the storage lcore",
     {{1, "lcores = { control = 0; storage = 1; };"}},
     ":3: segments.[0].lcore: ",
     "lcore 1 is the storage lcore"},
    {"multicast group outside 239/8",
     {{3, "  { id = 0; lcore = 1; order_port = 9000; feed_group = \"224.1.1.1\";"}},
     ":3: segments.[0].feed_group: ",
     "224.1.1.1 is not in 239.0.0.0/8"},
    {"feed group not an address",
     {{3, "  { id = 0; lcore = 1; order_port = 9000; feed_group = \"239.1.1\";"}},
     ":3: segments.[0].feed_group: ",
     "\"239.1.1\" is not an IPv4 address"},
    {"order port zero",
     {{3, "  { id = 0; lcore = 1; order_port = 0; feed_group = \"239.1.1.1\";"}},
     ":3: segments.[0].order_port: ",
     "must be between 1 and 65535 (got 0)"},
    {"feed history not a power of two",
     {{4, "    feed_port = 9100; feed_history = 1000; }"}},
     ":4: segments.[0].feed_history: ",
     "must be 0 or a power of two (got 1000)"},
    {"feed history too deep",
     {{4, "    feed_port = 9100; feed_history = 33554432; }"}},
     ":4: segments.[0].feed_history: ",
     "must be between 0 and 16777216 (got 33554432)"},
    {"heartbeat interval too short",
     {{4, "    feed_port = 9100; feed_heartbeat_ms = 5; }"}},
     ":4: segments.[0].feed_heartbeat_ms: ",
     "must be between 10 and 60000 (got 5)"},
    {"retransmission port on the order-entry port",
     {{4, "    feed_port = 9100; feed_retransmit_port = 9000; }"}},
     ":4: segments.[0].feed_retransmit_port: ",
     "9000 is also the order-entry port"},
    {"retransmission port of two segments",
     {{5, SEG1("lcore = 2; order_port = 9001; feed_group = \"239.1.1.2\"; feed_port = 9100;")}},
     ":5: segments.[1].feed_retransmit_port: ",
     "retransmission UDP port already used by segments.[0]"},
    {"retransmission port on another segment's order port",
     {{5, SEG1("lcore = 2; order_port = 9001; feed_group = \"239.1.1.2\"; feed_port = 9102; "
               "feed_retransmit_port = 9000;")}},
     ":5: segments.[1].feed_retransmit_port: ",
     "UDP port (order entry and retransmission) already used by segments.[0]"},
    {"bad stp policy",
     {{4, "    feed_port = 9100; stp = \"sometimes\"; }"}},
     ":4: segments.[0].stp: ",
     "must be one of none, cancel_resting, cancel_incoming, cancel_both"},
    {"bad durability mode",
     {{23, "storage = { durability = \"fast\"; };"}},
     ":23: storage.durability: ",
     "must be one of sync, async (got \"fast\")"},
    {"async commit interval out of range",
     {{23, "storage = { async_commit_us = 1000001; };"}},
     ":23: storage.async_commit_us: ",
     "1000000"},
    {"bad WAL segment size",
     {{23, "storage = { wal_segment_size = \"1000\"; };"}},
     ":23: storage.wal_segment_size: ",
     "must be a multiple of 4096"},
    {"bad WAL size unit",
     {{23, "storage = { wal_segment_size = \"64T\"; };"}},
     ":23: storage.wal_segment_size: ",
     "is not a size such as \"64M\""},
    {"checkpoints kept zero",
     {{23, "storage = { checkpoints_kept = 0; };"}},
     ":23: storage.checkpoints_kept: ",
     "must be between 1 and 100 (got 0)"},
    {"segments retained below -1",
     {{23, "storage = { segments_retained = -2; };"}},
     ":23: storage.segments_retained: ",
     "must be between -1 and 1000000 (got -2)"},
    {"checkpoint interval as a string",
     {{23, "storage = { checkpoint_interval_s = \"5m\"; };"}},
     ":23: storage.checkpoint_interval_s: ",
     "must be an integer"},
    {"WAL and SST in one directory",
     {{23, "storage = { wal_dir = \"x\"; sst_dir = \"x\"; };"}},
     ":23: storage.sst_dir: ",
     "./data/x is also the WAL directory"},
    {"bad octal mode",
     {{25, "control = { socket_mode = \"0690\"; };"}},
     ":25: control.socket_mode: ",
     "\"0690\" is not an octal permission mode"},
    {"world-writable socket",
     {{25, "control = { socket_mode = \"0666\"; };"}},
     ":25: control.socket_mode: ",
     "others may not write"},
    {"socket mode as integer",
     {{25, "control = { socket_mode = 660; };"}},
     ":25: control.socket_mode: ",
     "must be a string (got an integer)"},
    {"socket path too long",
     {{25, "control = { socket = \"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; };"}},
     ":25: control.socket: ",
     "longer than 107 bytes"},
    {"bad socket group",
     {{25, "control = { socket_group = \"Trad ers\"; };"}},
     ":25: control.socket_group: ",
     "is not a user or group name"},
    {"reject above liquidation",
     {{24, "risk = { reject_risk_ratio = \"120%\"; };"}},
     ":24: risk.reject_risk_ratio: ",
     "must not exceed liquidation_ratio"},
    {"zero notional",
     {{24, "risk = { max_order_notional = \"0\"; };"}},
     ":24: risk.max_order_notional: ",
     "must be between 0.0001 and"},
    {"port address without prefix",
     {{7, "            address = \"198.18.0.1\"; } );"}},
     ":7: ports.[0].address: ",
     "is not an IPv4 address with a prefix"},
    {"port address leading zero",
     {{7, "            address = \"198.018.0.1/24\"; } );"}},
     ":7: ports.[0].address: ",
     "is not an IPv4 address with a prefix"},
    {"port network address",
     {{7, "            address = \"198.18.0.0/24\"; } );"}},
     ":7: ports.[0].address: ",
     "the network or broadcast address"},
    {"port multicast address",
     {{7, "            address = \"239.1.1.1/24\"; } );"}},
     ":7: ports.[0].address: ",
     "multicast or reserved"},
    {"duplicate port name",
     {{7, "  address = \"198.18.0.1/24\"; }, { name = \"p0\"; "
          "devargs = \"net_af_packet1,iface=xchg1\"; address = \"198.18.1.1/24\"; } );"}},
     ":7: ports.[1].name: ",
     "port name \"p0\" already used by ports.[0]"},
    {"duplicate port address",
     {{7, "  address = \"198.18.0.1/24\"; }, { name = \"p1\"; "
          "devargs = \"net_af_packet1,iface=xchg1\"; address = \"198.18.0.1/16\"; } );"}},
     ":7: ports.[1].address: ",
     "address 198.18.0.1 already used by ports.[0]"},
    {"duplicate port device",
     {{7, "  address = \"198.18.0.1/24\"; }, { name = \"p1\"; "
          "devargs = \"net_af_packet0,iface=xchg1\"; address = \"198.18.1.1/24\"; } );"}},
     ":7: ports.[1].devargs: ",
     "device \"net_af_packet0\" already used by ports.[0]"},
    {"bad log level",
     {{APPEND, "log = { level = \"loud\"; };"}},
     ":26: log.level: ",
     "must be one of error, warning, info, debug (got \"loud\")"},
    {"log destination neither keyword nor path",
     {{APPEND, "log = { destination = \"xchgd.log\"; };"}},
     ":26: log.destination: ",
     "is neither stderr, syslog nor a file path"},
    {"log destination a directory",
     {{APPEND, "log = { destination = \"/var/log/\"; };"}},
     ":26: log.destination: ",
     "names a directory"},
    {"unknown log key", {{APPEND, "log = { file = \"/tmp/x\"; };"}}, ":26: log", "file"},
    {"filter not a group", {{APPEND, "filter = true;"}}, ":26: filter: ", "must be a group"},
    {"filter unknown key",
     {{APPEND, "filter = { enable = true; };"}},
     ":26: filter.enable: ",
     "unknown key (known keys: enabled, mode, program, interface)"},
    {"filter enabled not a bool",
     {{APPEND, "filter = { enabled = 1; };"}},
     ":26: filter.enabled: ",
     "must be true or false"},
    {"filter bad mode",
     {{APPEND, "filter = { mode = \"offload\"; };"}},
     ":26: filter.mode: ",
     "must be one of auto, native, generic (got \"offload\")"},
    {"filter empty program",
     {{APPEND, "filter = { program = \"\"; };"}},
     ":26: filter.program: ",
     "must not be empty"},
    {"filter interface too long",
     {{APPEND, "filter = { interface = \"abcdefghijklmnop\"; };"}},
     ":26: filter.interface: ",
     "longer than 15 bytes"},
    {"include refused",
     {{APPEND, "@include \"other.conf\""}},
     ":26: ",
     "@include is not supported"},
};
#define N_BAD (sizeof badCases / sizeof badCases[0])

static void testBadFile(void **state)
{
    const badCase *bc = *state;
    cfgConfig c;
    char err[1024];
    char path[PATH_LEN];
    writeConfig(bc->e, 4, path);
    int rc = cfgLoad(path, &c, err, sizeof err);
    unlink(path); /* before any assertion can end the test */
    if (rc == 0) {
        cfgFree(&c);
        fail_msg("%s: accepted", bc->name);
    }
    assert_int_equal(rc, -1);
    assert_null(c.instruments);
    /* "<path><where>...<reason>" */
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || strncmp(err + n, bc->where, strlen(bc->where)) != 0 ||
        strstr(err, bc->reason) == NULL)
        fail_msg("%s: unexpected message \"%s\" (want \"%s\" then \"%s\")", bc->name, err + n,
                 bc->where, bc->reason);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(testDefaultInstruments), cmocka_unit_test(testDefaultSystem),
        cmocka_unit_test(testDefaultsApplied),    cmocka_unit_test(testAlternativeForms),
        cmocka_unit_test(testLimitBand),          cmocka_unit_test(testLimitBandErrors),
        cmocka_unit_test(testPriceToTicks),       cmocka_unit_test(testParseDecimal),
        cmocka_unit_test(testParseRate),          cmocka_unit_test(testFormat),
        cmocka_unit_test(testMissingFile),        cmocka_unit_test(testSmallErrorBuffer),
        cmocka_unit_test(testEmptyFile),          cmocka_unit_test(testLogSection),
        cmocka_unit_test(testMarketData),         cmocka_unit_test(testFilterKeys),
    };
    size_t nFixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = calloc(nFixed + N_BAD, sizeof *tests);
    if (tests == NULL)
        return 1;
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < N_BAD; i++) {
        tests[nFixed + i].name = badCases[i].name;
        tests[nFixed + i].test_func = testBadFile;
        tests[nFixed + i].initial_state = (void *)&badCases[i];
    }
    int failed =
        _cmocka_run_group_tests("config", tests, nFixed + N_BAD, groupSetup, groupTeardown);
    free(tests);
    return failed;
}
