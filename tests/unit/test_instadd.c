/* test_instadd.c -- unit tests of instrument.add: instrument_capacity, the checks and their codes.
 *
 * The config side (instrument_capacity, cfgInstrumentCheck and each of its
 * refusals, cfgInstrumentAppend growing the table in place), the matcher's
 * book memory taken apart from the engine, and the control command through
 * the real handler with a simulated worker: every error code, nothing
 * changed on a refusal, the worker asked once, and a replay of the control
 * journal re-creating the instrument without asking the worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "config/config.h"
#include "dataplane/accounts.h"
#include "dataplane/ctljournal.h"
#include "matcher/matcher.h"
#include "storage/journal.h"

#define CONF_CAP 6 /* config/xchg.conf trades 4 instruments in its one segment */

typedef struct {
    int rc;         /* what the simulated worker answers */
    int calls;      /* instrument.add requests it got */
    uint16_t index; /* the cfgIndex of the last one */
    cfgInstrument last;
} Worker;

typedef struct {
    char dir[64], conf[96], jdir[96];
    cfgConfig cfg;
    Worker wk;
} Fx;

/* config/xchg.conf with `extra` added to its segment. */
static int writeConf(Fx *fx, const char *extra)
{
    FILE *in = fopen("config/xchg.conf", "r");
    FILE *out = fopen(fx->conf, "w");
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, in)) {
        fputs(line, out);
        if (strstr(line, "order_capacity =") && extra)
            fprintf(out, "        %s\n", extra);
    }
    fclose(in);
    return fclose(out);
}

static int loadWith(Fx *fx, const char *extra, cfgConfig *cfg, char *err, size_t len)
{
    if (writeConf(fx, extra) != 0)
        return -2;
    return cfgLoad(fx->conf, cfg, err, len);
}

static int setup(void **state)
{
    Fx *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_instadd.XXXXXX");
    if (!fx || !mkdtemp(fx->dir))
        return -1;
    snprintf(fx->conf, sizeof fx->conf, "%s/xchg.conf", fx->dir);
    snprintf(fx->jdir, sizeof fx->jdir, "%s/control", fx->dir);
    char err[256];
    char extra[64];
    snprintf(extra, sizeof extra, "instrument_capacity = %d;", CONF_CAP);
    if (loadWith(fx, extra, &fx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fx *fx = *state;
    cfgFree(&fx->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

/* A spec the loader would accept from a file: a copy of cu2501 as "al2501". */
static cfgInstrument spec(const Fx *fx)
{
    cfgInstrument s = {0};
    const cfgInstrument *cu = cfgFindInstrument(&fx->cfg, "cu2501");
    assert_non_null(cu);
    snprintf(s.id, sizeof s.id, "al2501");
    s.segment = cu->segment;
    s.tickSize = 50000; /* 5.0 */
    s.multiplier = 5;
    s.marginRate = 100000;
    s.commissionPerLot = 30000;
    s.limitUp = s.limitDown = 50000;
    s.preSettlement = 200000000; /* 20000.0 */
    s.minLots = 1;
    s.maxLots = 1000;
    return s;
}

/* ---- the config ---- */

static void testCapacityInConfig(void **state)
{
    Fx *fx = *state;
    assert_int_equal(fx->cfg.segments[0].instrumentCount, 4);
    assert_int_equal(fx->cfg.segments[0].instrumentCapacity, CONF_CAP);
    assert_int_equal(fx->cfg.instrumentCapacity, CONF_CAP);
    cfgConfig c;
    char err[256];
    assert_int_equal(loadWith(fx, NULL, &c, err, sizeof err), 0);
    assert_int_equal(c.segments[0].instrumentCapacity, 4); /* default: the configured count */
    assert_int_equal(c.instrumentCapacity, 4);
    cfgFree(&c);
    assert_int_equal(loadWith(fx, "instrument_capacity = 3;", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "instrument_capacity"));
    assert_non_null(strstr(err, "below the 4 instruments"));
    assert_int_equal(loadWith(fx, "instrument_capacity = 4097;", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "between 1 and 4096"));
}

static void testCheckEachRefusal(void **state)
{
    Fx *fx = *state;
    char why[200];
    cfgInstrument s = spec(fx);
    assert_int_equal(cfgInstrumentCheck(&fx->cfg, &s, why, sizeof why), CFG_ADD_OK);
    assert_int_equal(s.book, 4);
    assert_int_equal(s.segIndex, 0);
    assert_int_equal(s.preSettlementTicks, 4000);
    assert_int_equal(s.lowerTicks, 3800); /* 20000 -5% on tick 5 */
    assert_int_equal(s.upperTicks, 4200);
    assert_string_equal(s.name, "al2501"); /* default: the id */
    assert_int_equal(s.preClose, s.preSettlement);
    static const struct {
        const char *field;
        int code;
        const char *msg;
    } cases[] = {
        {"id", CFG_ADD_PARAMS, "letters and digits"},
        {"tick", CFG_ADD_PARAMS, "tick_size"},
        {"offtick", CFG_ADD_PARAMS, "not on tick"},
        {"margin", CFG_ADD_PARAMS, "margin_rate"},
        {"lots", CFG_ADD_PARAMS, "min_lots"},
        {"band", CFG_ADD_PARAMS, "1000000 ticks"},
        {"segment", CFG_ADD_SEGMENT, "no segment has id 9"},
        {"duplicate", CFG_ADD_DUPLICATE, "IF2501"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfgInstrument b = spec(fx);
        const char *f = cases[i].field;
        if (!strcmp(f, "id"))
            snprintf(b.id, sizeof b.id, "9ab");
        else if (!strcmp(f, "tick"))
            b.tickSize = 0;
        else if (!strcmp(f, "offtick"))
            b.preSettlement += 1;
        else if (!strcmp(f, "margin"))
            b.marginRate = 0;
        else if (!strcmp(f, "lots"))
            b.minLots = 2000;
        else if (!strcmp(f, "band"))
            b.tickSize = 1, b.preSettlement = 200000000, b.limitUp = b.limitDown = 900000;
        else if (!strcmp(f, "segment"))
            b.segment = 9;
        else
            snprintf(b.id, sizeof b.id, "if2501"); /* ids compare case-insensitively */
        why[0] = 0;
        assert_int_equal(cfgInstrumentCheck(&fx->cfg, &b, why, sizeof why), cases[i].code);
        if (!strstr(why, cases[i].msg))
            fail_msg("%s: \"%s\" lacks \"%s\"", f, why, cases[i].msg);
    }
    assert_int_equal(fx->cfg.instrumentCount, 4); /* checks change nothing */
}

static void testAppendInPlaceUntilFull(void **state)
{
    Fx *fx = *state;
    const cfgInstrument *table = fx->cfg.instruments;
    for (int k = 0; k < CONF_CAP - 4; k++) {
        cfgInstrument s = spec(fx);
        snprintf(s.id, sizeof s.id, "al25%02u", (unsigned)k % 100u);
        assert_int_equal(cfgInstrumentCheck(&fx->cfg, &s, NULL, 0), CFG_ADD_OK);
        assert_int_equal(cfgInstrumentAppend(&fx->cfg, &s), 4 + k);
        assert_ptr_equal(fx->cfg.instruments, table); /* nothing moved */
        assert_int_equal(fx->cfg.segments[0].instrumentCount, 5 + k);
        assert_ptr_equal(cfgFindBook(&fx->cfg, 0, (uint16_t)(4 + k)), &table[4 + k]);
    }
    cfgInstrument s = spec(fx);
    snprintf(s.id, sizeof s.id, "ni2501");
    char why[200];
    assert_int_equal(cfgInstrumentCheck(&fx->cfg, &s, why, sizeof why), CFG_ADD_CAPACITY);
    assert_non_null(strstr(why, "instrument_capacity"));
    assert_int_equal(cfgInstrumentAppend(&fx->cfg, &s), -1);
    assert_int_equal(fx->cfg.instrumentCount, CONF_CAP);
    /* a stale check (the book taken since) is refused too */
    cfgConfig c;
    assert_int_equal(loadWith(fx, "instrument_capacity = 6;", &c, why, sizeof why), 0);
    cfgInstrument x = spec(fx), y = spec(fx);
    snprintf(y.id, sizeof y.id, "zn2501");
    assert_int_equal(cfgInstrumentCheck(&c, &x, NULL, 0), CFG_ADD_OK);
    assert_int_equal(cfgInstrumentCheck(&c, &y, NULL, 0), CFG_ADD_OK);
    assert_int_equal(cfgInstrumentAppend(&c, &x), 4);
    assert_int_equal(cfgInstrumentAppend(&c, &y), -1); /* y was checked as book 4 */
    cfgFree(&c);
}

/* ---- the matcher's book memory ---- */

static void noEvent(void *ctx, const mtEvent *ev)
{
    (void)ctx;
    (void)ev;
}

static void testBookMemory(void **state)
{
    (void)state;
    const mtEngineConfig ec = {
        .segmentId = 1, .orderCapacity = 64, .maxInstruments = 2, .onEvent = noEvent};
    mtEngine *e = mtEngineCreate(&ec);
    assert_non_null(e);
    const mtBookConfig bc = {
        .lowerPrice = 100, .upperPrice = 199, .referencePrice = 150, .minLots = 1, .maxLots = 10};
    const mtBookConfig wider = {
        .lowerPrice = 100, .upperPrice = 299, .referencePrice = 150, .minLots = 1, .maxLots = 10};
    mtBookMem m;
    assert_int_equal(mtBookMemAlloc(e, &bc, &m), MT_OK);
    assert_int_equal(m.nLevels, 100);
    assert_int_equal(mtEngineAttachInstrument(e, 0, &wider, &m), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineAttachInstrument(e, 2, &bc, &m), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineAttachInstrument(e, 0, &bc, &m), MT_OK);
    assert_int_equal(m.nLevels, 0); /* the engine owns it */
    assert_int_equal(mtEngineState(e, 0), MT_STATE_CLOSED);
    assert_int_equal(mtBookMemAlloc(e, &bc, &m), MT_OK);
    assert_int_equal(mtEngineAttachInstrument(e, 0, &bc, &m), MT_ERR_INVALID_PARAMS); /* defined */
    mtBookMemFree(e, &m);
    const mtBookConfig bad = {.lowerPrice = 0, .upperPrice = 10, .minLots = 1, .maxLots = 1};
    assert_int_equal(mtBookMemAlloc(e, &bad, &m), MT_ERR_INVALID_PARAMS);
    assert_int_equal(mtEngineSetState(e, 0, MT_STATE_CONTINUOUS), MT_OK);
    const mtNewOrder o = {.instrument = 0, .side = MT_BUY, .price = 120, .qty = 3, .account = 7};
    assert_int_equal(mtEngineNewOrder(e, &o), MT_OK);
    mtEngineDestroy(e); /* frees the attached book (ASan: no leak) */
}

/* ---- the control command ---- */

static int simSend(void *ctx, uint16_t seg, const crCmd *c)
{
    (void)ctx, (void)seg, (void)c;
    return 0;
}

static uint32_t simFetch(void *ctx, uint32_t seg, crEvent *out, uint32_t max)
{
    (void)ctx, (void)seg, (void)out, (void)max;
    return 0;
}

static int simState(void *ctx, uint16_t seg, uint16_t book, uint8_t state)
{
    (void)ctx, (void)seg, (void)book, (void)state;
    return 0;
}

static int simAdd(void *ctx, const cfgInstrument *ins, uint16_t cfgIndex)
{
    Worker *w = ctx;
    w->calls++;
    w->index = cfgIndex;
    w->last = *ins;
    return w->rc;
}

static acdState *newState(Fx *fx, cfgConfig *cfg)
{
    const acdHooks h = {.send = simSend,
                        .fetch = simFetch,
                        .setBookState = simState,
                        .addInstrument = simAdd,
                        .ctx = &fx->wk};
    acdState *s = acdCreateCore(cfg, 1, NULL, 20250102, &h);
    assert_non_null(s);
    return s;
}

/* instrument.add with the arguments of a good spec, `edit` (JSON) merged in. */
static int add(acdState *s, const char *edit, json_t **data, ctlError *err)
{
    json_t *args = json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i}", "instrument",
                             "al2501", "segment", 0, "tick", "5", "multiplier", 5, "margin_rate",
                             "10%", "limit_up", "5%", "limit_down", "5%", "pre_settlement", "20000",
                             "commission_per_lot", "3", "max_lots", 1000);
    if (edit) {
        json_t *e = json_loads(edit, 0, NULL);
        assert_non_null(e);
        json_object_update(args, e);
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v) if (json_is_null(v)) json_object_del(args, k);
        json_decref(e);
    }
    *data = NULL;
    memset(err, 0, sizeof *err);
    const int rc = acdCommand(s, "instrument.add", args, data, err);
    json_decref(args);
    return rc;
}

static void expectRefusal(acdState *s, Fx *fx, const char *edit, int code, const char *msg)
{
    json_t *data;
    ctlError err;
    const uint32_t before = fx->cfg.instrumentCount, calls = (uint32_t)fx->wk.calls;
    assert_int_equal(add(s, edit, &data, &err), -1);
    if (err.code != code || !strstr(err.message, msg))
        fail_msg("%s: got %d \"%s\", wanted %d \"%s\"", edit ? edit : "(as is)", err.code,
                 err.message, code, msg);
    assert_null(data);
    assert_int_equal(fx->cfg.instrumentCount, before); /* nothing changed */
    assert_int_equal(instCount(s->book), before);
    if (code != 5002 && code != 5000)
        assert_int_equal(fx->wk.calls, calls); /* refused before the worker */
}

static void testCommandCodes(void **state)
{
    Fx *fx = *state;
    acdState *s = newState(fx, &fx->cfg);
    expectRefusal(s, fx, "{\"instrument\":null}", 1008, "args.instrument");
    expectRefusal(s, fx, "{\"segment\":null}", 1008, "args.segment");
    expectRefusal(s, fx, "{\"multiplier\":null}", 1008, "args.multiplier");
    expectRefusal(s, fx, "{\"margin_rate\":\"abc\"}", 1008, "args.margin_rate");
    expectRefusal(s, fx, "{\"limit_up\":null}", 1008, "args.limit_up");
    expectRefusal(s, fx, "{\"pre_settlement\":null}", 1008, "args.pre_settlement");
    expectRefusal(s, fx, "{\"pre_settlement\":\"20001\"}", 1008, "not on tick");
    expectRefusal(s, fx, "{\"instrument\":\"2bad\"}", 1008, "letters and digits");
    expectRefusal(s, fx, "{\"close_rule\":\"fifo\"}", 1008, "args.close_rule");
    expectRefusal(s, fx, "{\"state\":\"open\"}", 1008, "args.state");
    expectRefusal(s, fx, "{\"segment\":7}", 1008, "no segment has id 7");
    expectRefusal(s, fx, "{\"instrument\":\"IF2501\"}", 1008, "already exists");
    fx->wk.rc = 5002;
    expectRefusal(s, fx, NULL, 5002, "journal");
    fx->wk.rc = 5000;
    expectRefusal(s, fx, NULL, 5000, "refused");
    assert_int_equal(fx->wk.calls, 2);
    fx->wk.rc = 0;
    json_t *data;
    ctlError err;
    assert_int_equal(
        add(s, "{\"name\":\"aluminium 2025-01\",\"close_rule\":\"split\"}", &data, &err), 0);
    assert_int_equal(fx->wk.calls, 3);
    assert_int_equal(fx->wk.index, 4);
    assert_int_equal(fx->wk.last.book, 4);
    assert_int_equal(fx->wk.last.lowerTicks, 3800);
    assert_string_equal(json_string_value(json_object_get(data, "instrument_id")), "al2501");
    assert_string_equal(json_string_value(json_object_get(data, "instrument_name")),
                        "aluminium 2025-01");
    assert_string_equal(json_string_value(json_object_get(data, "close_rule")), "split");
    assert_string_equal(json_string_value(json_object_get(data, "upper_limit")), "21000");
    assert_int_equal(json_integer_value(json_object_get(data, "book")), 4);
    json_decref(data);
    assert_int_equal(fx->cfg.instrumentCount, 5);
    assert_int_equal(instFind(s->book, "al2501"), 4);
    assert_string_equal(cfgFindBook(&fx->cfg, 0, 4)->id, "al2501");
    expectRefusal(s, fx, NULL, 1008, "already exists"); /* the same again */
    assert_int_equal(add(s, "{\"instrument\":\"zn2501\"}", &data, &err), 0);
    json_decref(data);
    expectRefusal(s, fx, "{\"instrument\":\"ni2501\"}", 5001, "instrument_capacity");
    acdDestroy(s);
}

/* The control journal keeps instrument.add; a replay into a state made
 * from the config file re-creates it (the worker is not asked: its own
 * journal has the book). */
static void testControlReplay(void **state)
{
    Fx *fx = *state;
    jnConfig c;
    jnError e;
    jnConfigDefaults(&c);
    c.dir = fx->jdir;
    c.stream = CJ_STREAM;
    c.segmentBytes = 1 << 20;
    c.ringBytes = 1 << 20;
    c.prefill = 0;
    jnJournal *j = jnOpen(&c, &e);
    if (!j)
        fail_msg("jnOpen: %s", e.msg);
    acdState *s = newState(fx, &fx->cfg);
    cjAttach(s, j);
    json_t *data;
    ctlError err;
    assert_int_equal(add(s, "{\"state\":\"continuous\"}", &data, &err), 0);
    json_decref(data);
    fx->wk.rc = 5002; /* refused by the worker, but journaled by the control core */
    assert_int_equal(add(s, "{\"instrument\":\"zn2501\"}", &data, &err), -1);
    fx->wk.rc = 0;
    assert_int_equal(jnFlush(j), 0);
    cjAttach(s, NULL);
    jnClose(j);
    acdDestroy(s);

    cfgConfig fresh;
    char why[256];
    char extra[64];
    snprintf(extra, sizeof extra, "instrument_capacity = %d;", CONF_CAP);
    assert_int_equal(loadWith(fx, extra, &fresh, why, sizeof why), 0);
    acdState *r = newState(fx, &fresh);
    const int calls = fx->wk.calls;
    uint64_t last, records;
    if (cjReplay(r, fx->jdir, 0, &last, &records, &e) != 0)
        fail_msg("replay: %s", e.msg);
    assert_int_equal(fx->wk.calls, calls); /* replay asks no worker */
    assert_int_equal(fresh.instrumentCount, 6);
    assert_string_equal(fresh.instruments[4].id, "al2501");
    assert_int_equal(fresh.instruments[4].book, 4);
    /* the refused one too: acdInstrumentsRecover defines it on the segment at start */
    assert_string_equal(fresh.instruments[5].id, "zn2501");
    assert_int_equal(instFind(r->book, "al2501"), 4);
    acdDestroy(r);
    cfgFree(&fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testCapacityInConfig, setup, teardown),
        cmocka_unit_test_setup_teardown(testCheckEachRefusal, setup, teardown),
        cmocka_unit_test_setup_teardown(testAppendInPlaceUntilFull, setup, teardown),
        cmocka_unit_test_setup_teardown(testBookMemory, setup, teardown),
        cmocka_unit_test_setup_teardown(testCommandCodes, setup, teardown),
        cmocka_unit_test_setup_teardown(testControlReplay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
