/* acctcmd.c -- control socket commands for accounts, instruments, settlement, orders and risk.
 *
 * Money and prices are read as decimal strings ("1000.5") or integers (whole
 * units) and written as exact decimal strings; rates as "12%" or "0.12".
 * Errors carry the reference codes (docs/accounts.md). Handlers run on the
 * control lcore; what a worker must apply goes through the credit rings
 * (ledger) or a worker request (trading state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/settle.h"
#include "dataplane/accounts.h"

#define ACMD_TIMEOUT_MS 2000

/* ---- arguments ---------------------------------------------------------------------- */

static int argAccount(json_t *args, uint32_t *id, ctlError *err)
{
    json_t *j = json_object_get(args, "account");
    if (!j)
        j = json_object_get(args, "user_id");
    if (!json_is_integer(j) || json_integer_value(j) < 1 || json_integer_value(j) >= UINT32_MAX)
        return ctlErrorf(err, 1008, "args.account: an account number from 1 to %u is required",
                         UINT32_MAX - 1);
    *id = (uint32_t)json_integer_value(j);
    return 0;
}

/* A decimal ("1000.5", 4 decimals at most) or an integer, in 1e-4 units. */
static int argDecimal(json_t *args, const char *key, int64_t *out, int required, ctlError *err)
{
    json_t *j = json_object_get(args, key);
    if (!j) {
        if (required)
            return ctlErrorf(err, 1008, "args.%s is required", key);
        return 1;
    }
    if (json_is_integer(j)) {
        const json_int_t v = json_integer_value(j);
        if (v < 0 || v > INT64_MAX / 10000 / 16)
            return ctlErrorf(err, 1008, "args.%s: out of range", key);
        *out = (int64_t)v * 10000;
        return 0;
    }
    const char *s = json_string_value(j);
    int rc = s ? cfgParseDecimal(s, 4, INT64_MAX / 16, out) : CFG_DEC_SYNTAX;
    if (rc != CFG_DEC_OK)
        return ctlErrorf(err, 1008, "args.%s: %s (a decimal with at most 4 decimals)", key,
                         s ? cfgDecimalError(rc) : "not a number");
    return 0;
}

static int argRate(json_t *args, const char *key, uint32_t *out, ctlError *err)
{
    json_t *j = json_object_get(args, key);
    if (!j)
        return 1;
    if (json_is_integer(j) && (json_integer_value(j) == 0 || json_integer_value(j) == 1)) {
        *out = (uint32_t)json_integer_value(j) * ACCT_PPM;
        return 0;
    }
    const char *s = json_string_value(j);
    int rc = s ? cfgParseRate(s, 10 * ACCT_PPM, out) : CFG_DEC_SYNTAX;
    if (rc != CFG_DEC_OK)
        return ctlErrorf(err, 1008, "args.%s: a rate like \"12%%\" or \"0.12\"", key);
    return 0;
}

static int argInstrument(acdState *s, json_t *args, uint16_t *out, ctlError *err)
{
    const char *id = json_string_value(json_object_get(args, "instrument"));
    if (!id)
        id = json_string_value(json_object_get(args, "instrument_id"));
    if (!id)
        return ctlErrorf(err, 1008, "args.instrument: an instrument id is required");
    int i = instFind(s->book, id);
    if (i < 0)
        return ctlErrorf(err, 1007, "unknown instrument '%s'", id);
    *out = (uint16_t)i;
    return 0;
}

static const char *acmdMessage(int code)
{
    switch (code) {
    case ACCT_ERR_NO_ACCOUNT:
        return "account does not exist";
    case ACCT_ERR_NO_INSTRUMENT:
        return "instrument does not exist or is delisted";
    case ACCT_ERR_PARAMS:
        return "invalid parameters";
    case ACCT_ERR_EXISTS:
        return "account exists";
    case ACCT_ERR_FROZEN:
        return "account frozen";
    case ACCT_ERR_DEPOSIT:
        return "deposit failed: the amount must be positive";
    case ACCT_ERR_WITHDRAW:
        return "withdraw failed: the amount must be positive and at most the available money";
    case ACCT_ERR_NO_ORDER:
        return "order not found";
    case ACCT_ERR_PRICE_MISSING:
        return "settlement price not set";
    case ACCT_ERR_SETTLED:
        return "settlement already run for that date";
    default:
        return "failed";
    }
}

static int acmdFail(ctlError *err, int code)
{
    return ctlErrorf(err, code, "%s", acmdMessage(code));
}

/* ---- accounts ------------------------------------------------------------------------- */

static json_t *accountFull(acdState *s, const acctAccount *a)
{
    json_t *o = lgAccountJson(s->book, a);
    json_t *pos = json_array();
    uint32_t it = 0;
    uint16_t ins;
    const posPosition *p;
    while ((p = acctNextPosition(s->book, a, &it, &ins)) != NULL)
        if (!posEmpty(p))
            json_array_append_new(pos, lgPositionJson(s->book, a->id, ins, p));
    json_object_set_new(o, "positions", pos);
    return o;
}

static int cmdOpen(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    int64_t cash = 0;
    if (argAccount(args, &id, err) || argDecimal(args, "init_cash", &cash, 0, err) < 0)
        return -1;
    const char *name = json_string_value(json_object_get(args, "name"));
    if (!name)
        name = json_string_value(json_object_get(args, "user_name"));
    const char *type = json_string_value(json_object_get(args, "type"));
    if (!type)
        type = json_string_value(json_object_get(args, "account_type"));
    uint8_t t = ACCT_INDIVIDUAL;
    if (type && !strcmp(type, "institutional"))
        t = ACCT_INSTITUTIONAL;
    else if (type && strcmp(type, "individual") != 0)
        return ctlErrorf(err, 1008, "args.type: individual or institutional");
    if (acctCount(s->book) >= ACD_MAX_ACCOUNTS)
        return ctlErrorf(err, 5001, "the workers' account tables hold %u accounts: all taken",
                         ACD_MAX_ACCOUNTS);
    int rc = acctOpen(s->book, id, name ? name : "", t, cash, acdNowNs());
    if (rc == ACCT_ERR_EXISTS)
        return ctlErrorf(err, rc, "account %u exists", id);
    if (rc)
        return acmdFail(err, rc);
    lgSync(s->lg, id);
    lgNotifyAccount(s->lg, id);
    *data = lgAccountJson(s->book, acctGet(s->book, id));
    return 0;
}

static int cmdDeposit(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    int64_t amount;
    if (argAccount(args, &id, err))
        return -1;
    if (argDecimal(args, "amount", &amount, 1, err))
        return ctlErrorf(err, ACCT_ERR_DEPOSIT, "deposit failed: %s", err->message);
    int rc = acctDeposit(s->book, id, amount);
    if (rc)
        return acmdFail(err, rc);
    lgSync(s->lg, id);
    lgNotifyAccount(s->lg, id);
    *data = lgAccountJson(s->book, acctGet(s->book, id));
    return 0;
}

/* The workers may be freezing the money right now: take it back from the
 * lines first, then withdraw what is still available. */
static int cmdWithdraw(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    int64_t amount;
    if (argAccount(args, &id, err))
        return -1;
    if (argDecimal(args, "amount", &amount, 1, err))
        return ctlErrorf(err, ACCT_ERR_WITHDRAW, "withdraw failed: %s", err->message);
    const acctAccount *a = acctGet(s->book, id);
    if (!a)
        return acmdFail(err, ACCT_ERR_NO_ACCOUNT);
    if (a->frozen)
        return acmdFail(err, ACCT_ERR_FROZEN);
    acctFigures f;
    acctCompute(s->book, a, &f);
    if (amount <= 0 || amount > f.available)
        return acmdFail(err, ACCT_ERR_WITHDRAW);
    lgSetHold(s->lg, id, amount);
    acdWaitReclaims(s, id, ACMD_TIMEOUT_MS);
    int rc = acctWithdraw(s->book, id, amount);
    lgSetHold(s->lg, id, 0);
    if (rc)
        return acmdFail(err, rc);
    lgNotifyAccount(s->lg, id);
    *data = lgAccountJson(s->book, acctGet(s->book, id));
    return 0;
}

static int cmdGet(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    if (argAccount(args, &id, err))
        return -1;
    const acctAccount *a = acctGet(s->book, id);
    if (!a)
        return acmdFail(err, ACCT_ERR_NO_ACCOUNT);
    *data = accountFull(s, a);
    return 0;
}

static json_t *accountRow(acdState *s, const acctAccount *a)
{
    acctFigures f;
    acctCompute(s->book, a, &f);
    json_t *o = json_object();
    json_object_set_new(o, "user_id", json_integer(a->id));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "status", json_string(a->frozen ? "frozen" : "active"));
    json_object_set_new(o, "balance", lgMoney(f.balance));
    json_object_set_new(o, "available", lgMoney(f.available));
    json_object_set_new(o, "margin", lgMoney(a->margin));
    char r[32];
    cfgFormatDecimal(f.riskRatio, 6, 4, r, sizeof r);
    json_object_set_new(o, "risk_ratio", json_string(r));
    return o;
}

static int cmdList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    (void)args;
    (void)err;
    json_t *list = json_array();
    for (uint32_t i = 0; i < acctCount(s->book); i++)
        json_array_append_new(list, accountRow(s, acctAt(s->book, i)));
    *data = json_pack("{s:o}", "accounts", list);
    return 0;
}

static int setFrozen(acdState *s, json_t *args, json_t **data, ctlError *err, int frozen)
{
    uint32_t id;
    if (argAccount(args, &id, err))
        return -1;
    int rc = acctSetFrozen(s->book, id, frozen);
    if (rc)
        return acmdFail(err, rc);
    lgSync(s->lg, id);
    lgNotifyAccount(s->lg, id);
    *data =
        json_pack("{s:I, s:s}", "user_id", (json_int_t)id, "status", frozen ? "frozen" : "active");
    return 0;
}

static int cmdFreeze(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    return setFrozen(ctx, args, data, err, 1);
}

static int cmdUnfreeze(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    return setFrozen(ctx, args, data, err, 0);
}

/* ---- instruments ----------------------------------------------------------------------- */

static const char *const statusNames[] = {"Trading", "Suspended", "Delisted"};

static json_t *rateJson(uint32_t ppm)
{
    char b[32];
    cfgFormatDecimal(ppm, 6, 1, b, sizeof b);
    return json_string(b);
}

static json_t *instrumentJson(acdState *s, uint16_t i)
{
    const acctInstrument *in = instAt(s->book, i);
    char tick[32], pre[32], last[32], settle[32];
    cfgFormatDecimal(in->spec.tickSize, 4, 1, tick, sizeof tick);
    cfgFormatDecimal(in->spec.preSettlement, 4, in->spec.priceDecimals, pre, sizeof pre);
    cfgFormatDecimal(in->lastPrice, 4, in->spec.priceDecimals, last, sizeof last);
    cfgFormatDecimal(in->settlePrice, 4, in->spec.priceDecimals, settle, sizeof settle);
    json_t *o = json_object();
    json_object_set_new(o, "instrument_id", json_string(in->spec.id));
    json_object_set_new(o, "instrument_name", json_string(in->spec.name));
    json_object_set_new(o, "status", json_string(statusNames[in->status % 3]));
    json_object_set_new(o, "segment", json_integer(s->cfg->segments[in->spec.segIndex].id));
    json_object_set_new(o, "price_tick", json_string(tick));
    json_object_set_new(o, "contract_multiplier", json_integer(in->spec.multiplier));
    json_object_set_new(o, "margin_rate", rateJson(in->spec.marginRate));
    json_object_set_new(o, "commission_rate", rateJson(in->spec.commissionRate));
    json_object_set_new(o, "commission_per_lot", lgMoney(in->spec.commissionPerLot));
    json_object_set_new(o, "limit_up_rate", rateJson(in->spec.limitUp));
    json_object_set_new(o, "limit_down_rate", rateJson(in->spec.limitDown));
    char up[32], down[32];
    cfgFormatDecimal(in->spec.upperTicks * in->spec.tickSize, 4, in->spec.priceDecimals, up,
                     sizeof up);
    cfgFormatDecimal(in->spec.lowerTicks * in->spec.tickSize, 4, in->spec.priceDecimals, down,
                     sizeof down);
    json_object_set_new(o, "upper_limit", json_string(up));
    json_object_set_new(o, "lower_limit", json_string(down));
    json_object_set_new(o, "min_lots", json_integer(in->spec.minLots));
    json_object_set_new(o, "max_lots", json_integer(in->spec.maxLots));
    json_object_set_new(o, "close_rule", json_string(cfgCloseRuleName(in->spec.closeRule)));
    json_object_set_new(o, "pre_settlement", json_string(pre));
    json_object_set_new(o, "last_price", json_string(last));
    json_object_set_new(o, "settlement_price", json_string(in->settlePrice ? settle : ""));
    return o;
}

static int cmdInstGet(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    if (json_object_get(args, "instrument")) {
        uint16_t i;
        if (argInstrument(s, args, &i, err))
            return -1;
        *data = instrumentJson(s, i);
        return 0;
    }
    json_t *list = json_array();
    for (uint32_t i = 0; i < instCount(s->book); i++)
        json_array_append_new(list, instrumentJson(s, (uint16_t)i));
    *data = json_pack("{s:o}", "instruments", list);
    return 0;
}

static int setBookState(acdState *s, uint16_t i, mtState st, ctlError *err);

/* An optional integer argument in [lo, hi]; *out keeps its default when absent. */
static int argCount(json_t *args, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
                    ctlError *err)
{
    json_t *j = json_object_get(args, key);
    if (!j)
        return 0;
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi)
        return ctlErrorf(err, 1008, "args.%s: an integer from %u to %u", key, lo, hi);
    *out = (uint32_t)json_integer_value(j);
    return 0;
}

/* A required rate (argRate: 1 when absent). */
static int argRateReq(json_t *args, const char *key, uint32_t *out, ctlError *err)
{
    const int rc = argRate(args, key, out, err);
    if (rc > 0)
        return ctlErrorf(err, 1008, "args.%s is required (a rate like \"12%%\" or \"0.12\")", key);
    return rc;
}

static int argText(json_t *args, const char *key, char *out, size_t cap, ctlError *err)
{
    json_t *j = json_object_get(args, key);
    if (!j)
        return 0;
    const char *v = json_string_value(j);
    if (!v || strlen(v) >= cap)
        return ctlErrorf(err, 1008, "args.%s: a string of at most %zu bytes", key, cap - 1);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* The instrument.add arguments, named like the config file's keys
 * (docs/config.md) with `instrument` for the id and `tick` for tick_size. */
static int argInstrumentSpec(json_t *args, cfgInstrument *in, ctlError *err)
{
    memset(in, 0, sizeof *in);
    in->minLots = 1;
    in->maxLots = 10000;
    const char *id = json_string_value(json_object_get(args, "instrument"));
    if (!id)
        id = json_string_value(json_object_get(args, "id"));
    if (!id || strlen(id) > CFG_ID_MAX || !id[0])
        return ctlErrorf(err, 1008, "args.instrument: an id of 1 to %d letters and digits",
                         CFG_ID_MAX);
    memcpy(in->id, id, strlen(id) + 1);
    json_t *seg = json_object_get(args, "segment");
    if (!json_is_integer(seg) || json_integer_value(seg) < 0 || json_integer_value(seg) > 255)
        return ctlErrorf(err, 1008, "args.segment: a segment id (0..255) is required");
    in->segment = (uint8_t)json_integer_value(seg);
    uint32_t mult = 0;
    int64_t tick = 0, rc;
    if (argText(args, "name", in->name, sizeof in->name, err) ||
        (rc = argDecimal(args, "tick", &tick, 0, err)) < 0 ||
        (rc == 1 && argDecimal(args, "tick_size", &tick, 1, err)) ||
        argCount(args, "multiplier", 1, 1000000, &mult, err) ||
        argRateReq(args, "margin_rate", &in->marginRate, err) ||
        argRate(args, "commission_rate", &in->commissionRate, err) < 0 ||
        argDecimal(args, "commission_per_lot", &in->commissionPerLot, 0, err) < 0 ||
        argRateReq(args, "limit_up", &in->limitUp, err) ||
        argRateReq(args, "limit_down", &in->limitDown, err) ||
        argDecimal(args, "pre_settlement", &in->preSettlement, 1, err) ||
        argDecimal(args, "pre_close", &in->preClose, 0, err) < 0 ||
        argCount(args, "min_lots", 1, 1000000, &in->minLots, err) ||
        argCount(args, "max_lots", 1, 1000000, &in->maxLots, err))
        return -1;
    if (mult == 0)
        return ctlErrorf(err, 1008, "args.multiplier: an integer from 1 to 1000000 is required");
    in->multiplier = mult;
    in->tickSize = tick;
    const char *rule = json_string_value(json_object_get(args, "close_rule"));
    if (json_object_get(args, "close_rule")) {
        int r = -1;
        for (int k = 0; rule && k <= CFG_CLOSE_SPLIT; k++)
            if (!strcmp(rule, cfgCloseRuleName((cfgCloseRule)k)))
                r = k;
        if (r < 0)
            return ctlErrorf(err, 1008, "args.close_rule: yesterday_first, today_first or split");
        in->closeRule = (cfgCloseRule)r;
    }
    return 0;
}

/* The trading state a new book is put in (`state`, default closed). */
static int argNewState(json_t *args, int *st, ctlError *err)
{
    static const char *const names[] = {"closed", "pre_open", "continuous", "halted"};
    const char *v = json_string_value(json_object_get(args, "state"));
    *st = MT_STATE_CLOSED;
    if (!json_object_get(args, "state"))
        return 0;
    for (int k = 0; v && k < 4; k++)
        if (!strcmp(v, names[k])) {
            *st = k;
            return 0;
        }
    return ctlErrorf(err, 1008, "args.state: closed, pre_open, continuous or halted");
}

/* instrument.add (docs/accounts.md "Adding an instrument"): checked like
 * the config file's instruments, defined by the owning worker (journaled
 * there as WAL_INSTRUMENT_ADD), then appended to the config and the book.
 * While replaying the control stream only the control core's part runs:
 * the worker's own stream has the book. */
static int cmdInstAdd(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    cfgInstrument in;
    int st;
    if (argInstrumentSpec(args, &in, err) || argNewState(args, &st, err))
        return -1;
    char why[200];
    const int chk = cfgInstrumentCheck(s->cfg, &in, why, sizeof why);
    if (chk == CFG_ADD_CAPACITY)
        return ctlErrorf(err, 5001, "%s", why);
    if (chk == CFG_ADD_DUPLICATE)
        return ctlErrorf(err, 1008, "Instrument %s already exists (%s)", in.id, why);
    if (chk != CFG_ADD_OK)
        return ctlErrorf(err, 1008, "args.%s", why);
    const uint16_t at = (uint16_t)s->cfg->instrumentCount;
    if (!s->cj.replaying) {
        if (!s->hooks.addInstrument)
            return ctlErrorf(err, 5000, "no segment to add the instrument to");
        const int rc = s->hooks.addInstrument(s->hooks.ctx, &in, at);
        if (rc)
            return ctlErrorf(err, rc == 5002 ? 5002 : 5000, "segment %u refused the book: %s",
                             in.segment,
                             rc == 5002 ? "its journal cannot take it (storage)"
                                        : "no answer or no memory for the price levels");
    }
    if (cfgInstrumentAppend(s->cfg, &in) != at || instAdd(s->book, &in) != at)
        return ctlErrorf(err, 5000, "the control core's instrument tables disagree");
    lgInstrumentAdded(s->lg, at);
    if (st != MT_STATE_CLOSED && setBookState(s, at, (mtState)st, err))
        return -1;
    *data = instrumentJson(s, at);
    json_object_set_new(*data, "book", json_integer(in.book));
    return 0;
}

/* limit_up / limit_down (rates of the pre-settlement price): both default
 * to the current ones. */
static int argLimits(acdState *s, json_t *args, uint16_t i, instUpdate *u, ctlError *err)
{
    const cfgInstrument *cur = &instAt(s->book, i)->spec;
    u->limitUp = cur->limitUp;
    u->limitDown = cur->limitDown;
    int up = argRate(args, "limit_up", &u->limitUp, err);
    if (up < 0)
        return -1;
    int down = argRate(args, "limit_down", &u->limitDown, err);
    if (down < 0)
        return -1;
    u->hasLimits = up == 0 || down == 0;
    return 0;
}

/* The running book's price levels were allocated for the band the config
 * gave at start: a new band must lie inside it (narrower, or back up to
 * it). Checked before anything changes. */
static int bandOutside(acdState *s, uint16_t i, const instUpdate *u, ctlError *err)
{
    const cfgInstrument *in = &instAt(s->book, i)->spec;
    const cfgInstrument *at = i < s->cfg->instrumentCount ? &s->cfg->instruments[i] : in;
    int64_t nlo, nhi;
    if (cfgLimitBand(in->preSettlement, in->tickSize, u->limitUp, u->limitDown, &nlo, &nhi) != 0 ||
        nlo > nhi)
        return ctlErrorf(err, 1008, "args.limit_up/limit_down: no price is left in the band");
    if (nlo >= at->lowerTicks && nhi <= at->upperTicks)
        return 0;
    char lo[32], hi[32], alo[32], ahi[32];
    cfgFormatDecimal(nlo * in->tickSize, 4, in->priceDecimals, lo, sizeof lo);
    cfgFormatDecimal(nhi * in->tickSize, 4, in->priceDecimals, hi, sizeof hi);
    cfgFormatDecimal(at->lowerTicks * at->tickSize, 4, in->priceDecimals, alo, sizeof alo);
    cfgFormatDecimal(at->upperTicks * at->tickSize, 4, in->priceDecimals, ahi, sizeof ahi);
    return ctlErrorf(err, 1008,
                     "the new band %s..%s leaves the band %s..%s the running book was made for "
                     "(a wider band takes a restart with the config changed)",
                     lo, hi, alo, ahi);
}

static int cmdInstUpdate(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint16_t i;
    if (argInstrument(s, args, &i, err))
        return -1;
    instUpdate u = {0};
    int rc;
    if ((rc = argRate(args, "margin_rate", &u.marginRate, err)) < 0)
        return -1;
    u.hasMarginRate = rc == 0;
    if ((rc = argRate(args, "commission_rate", &u.commissionRate, err)) < 0)
        return -1;
    u.hasCommissionRate = rc == 0;
    if ((rc = argDecimal(args, "commission_per_lot", &u.commissionPerLot, 0, err)) < 0)
        return -1;
    u.hasCommissionPerLot = rc == 0;
    json_t *mn = json_object_get(args, "min_lots"), *mx = json_object_get(args, "max_lots");
    if (mn || mx) {
        const cfgInstrument *cur = &instAt(s->book, i)->spec;
        u.hasLots = 1;
        u.minLots = mn ? (uint32_t)json_integer_value(mn) : cur->minLots;
        u.maxLots = mx ? (uint32_t)json_integer_value(mx) : cur->maxLots;
        if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)) ||
            u.maxLots > cur->maxLots)
            return ctlErrorf(err, 1008,
                             "args.min_lots/max_lots: integers, max_lots at most %u (the "
                             "matcher's limit from the config)",
                             cur->maxLots);
    }
    if (argLimits(s, args, i, &u, err) || (u.hasLimits && bandOutside(s, i, &u, err)))
        return -1;
    rc = instSetParams(s->book, i, &u);
    if (rc)
        return ctlErrorf(err, rc, "%s", rc == 1008 ? "a value is out of range" : acmdMessage(rc));
    lgInstrumentChanged(s->lg, i);
    *data = instrumentJson(s, i);
    return 0;
}

/* Moves a book's trading state through its worker (not while replaying:
 * the worker's own stream has the change). */
static int setBookState(acdState *s, uint16_t i, mtState st, ctlError *err)
{
    const cfgInstrument *in = &instAt(s->book, i)->spec;
    if (s->cj.replaying)
        return 0;
    if (!s->hooks.setBookState ||
        s->hooks.setBookState(s->hooks.ctx, in->segIndex, in->book, (uint8_t)st) != 0)
        return ctlErrorf(err, 5000, "segment did not answer");
    return 0;
}

static int setStatus(acdState *s, json_t *args, json_t **data, ctlError *err, instStatus st)
{
    uint16_t i;
    if (argInstrument(s, args, &i, err))
        return -1;
    int rc = instSetStatus(s->book, i, st);
    if (rc)
        return acmdFail(err, rc);
    if (setBookState(s, i, st == INST_SUSPENDED ? MT_STATE_HALTED : MT_STATE_CONTINUOUS, err))
        return -1;
    *data = instrumentJson(s, i);
    return 0;
}

static int cmdSuspend(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    return setStatus(ctx, args, data, err, INST_SUSPENDED);
}

static int cmdResume(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    return setStatus(ctx, args, data, err, INST_TRADING);
}

static int cmdDelist(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint16_t i;
    if (argInstrument(s, args, &i, err))
        return -1;
    uint32_t holders[16], n = 0;
    int rc = instDelist(s->book, i, holders, 16, &n);
    if (rc == ACCT_ERR_PARAMS) {
        char list[200] = "";
        size_t len = 0;
        for (uint32_t k = 0; k < n && k < 16 && len < sizeof list - 16; k++)
            len +=
                (size_t)snprintf(list + len, sizeof list - len, "%s%u", k ? ", " : "", holders[k]);
        return ctlErrorf(err, rc,
                         "Cannot delist %s: %u account(s) have open positions or orders. "
                         "Accounts: %s%s",
                         instAt(s->book, i)->spec.id, n, list, n > 16 ? ", ..." : "");
    }
    if (rc)
        return acmdFail(err, rc);
    if (setBookState(s, i, MT_STATE_CLOSED, err))
        return -1;
    *data = instrumentJson(s, i);
    return 0;
}

/* ---- settlement ------------------------------------------------------------------------ */

static int setOnePrice(acdState *s, const char *id, json_t *v, ctlError *err)
{
    int i = instFind(s->book, id);
    if (i < 0)
        return ctlErrorf(err, 1007, "unknown instrument '%s'", id);
    json_t *tmp = json_pack("{s:O}", "price", v);
    int64_t price;
    int rc = argDecimal(tmp, "price", &price, 1, err);
    json_decref(tmp);
    if (rc)
        return -1;
    rc = settleSetPrice(s->book, (uint16_t)i, price);
    if (rc)
        return ctlErrorf(err, rc, "%s: %s", id,
                         rc == 1008 ? "the price must be positive and on the tick"
                                    : acmdMessage(rc));
    return 0;
}

static int cmdSetPrice(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint16_t i;
    if (argInstrument(s, args, &i, err))
        return -1;
    json_t *v = json_object_get(args, "price");
    if (!v)
        v = json_object_get(args, "settlement_price");
    if (!v)
        return ctlErrorf(err, 1008, "args.price is required");
    if (setOnePrice(s, instAt(s->book, i)->spec.id, v, err))
        return -1;
    *data = instrumentJson(s, i);
    return 0;
}

static int cmdSetPrices(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    json_t *prices = json_object_get(args, "prices");
    if (!json_is_object(prices) || json_object_size(prices) == 0)
        return ctlErrorf(err, 1008, "args.prices: an object {\"ID\": price, ...}");
    const char *id;
    json_t *v;
    json_object_foreach(prices, id, v)
    {
        if (setOnePrice(s, id, v, err))
            return -1; /* the ones before stay set */
    }
    *data = json_pack("{s:i}", "set", (int)json_object_size(prices));
    return 0;
}

static json_t *resultJson(acdState *s, const settleResult *r, int details)
{
    json_t *fc = json_array();
    json_t *acc = details ? json_array() : NULL;
    for (uint32_t k = 0; k < r->totalAccounts; k++) {
        const settleAccount *d = settleDetailAt(s->book, r->firstDetail + k);
        if (d->forceClose)
            json_array_append_new(fc, json_integer(d->account));
        if (!acc)
            continue;
        char rr[32];
        cfgFormatDecimal(d->riskRatio, 6, 4, rr, sizeof rr);
        json_array_append_new(
            acc, json_pack("{s:I, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:b}",
                           "user_id", (json_int_t)d->account, "date", (int)d->date, "pre_balance",
                           lgMoney(d->preBalance), "deposit", lgMoney(d->deposit), "withdraw",
                           lgMoney(d->withdraw), "close_profit", lgMoney(d->closeProfit),
                           "position_profit", lgMoney(d->positionProfit), "commission",
                           lgMoney(d->commission), "balance", lgMoney(d->balance), "margin",
                           lgMoney(d->margin), "risk_ratio", rr, "force_close", d->forceClose));
    }
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:o, s:o, s:o}", "settlement_date", (int)r->date,
                          "total_accounts", (int)r->totalAccounts, "settled_accounts",
                          (int)r->settledAccounts, "failed_accounts", (int)r->failedAccounts,
                          "force_closed_accounts", fc, "total_commission",
                          lgMoney(r->totalCommission), "total_profit", lgMoney(r->totalProfit));
    if (acc)
        json_object_set_new(o, "accounts", acc);
    return o;
}

/* Closes every book (GFD orders expire), lets the workers' last events in,
 * settles, rolls the workers' positions and rechecks risk. The books stay
 * closed: the operator opens the next session (instrument.state). */
static int cmdSettle(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    json_t *jd = json_object_get(args, "date");
    uint32_t date = s->tradingDay;
    if (jd && (!json_is_integer(jd) || json_integer_value(jd) < 19700101 ||
               json_integer_value(jd) > 99991231))
        return ctlErrorf(err, 1008, "args.date: YYYYMMDD");
    if (jd)
        date = (uint32_t)json_integer_value(jd);
    int missing = -1;
    int rc = settleCheck(s->book, date, &missing);
    if (rc == ACCT_ERR_SETTLED)
        return ctlErrorf(err, rc, "settlement already run for %u (or a later date)", date);
    if (rc == ACCT_ERR_PRICE_MISSING)
        return ctlErrorf(err, rc, "settlement price not set for %s",
                         instAt(s->book, (uint16_t)missing)->spec.id);
    for (uint32_t i = 0; i < instCount(s->book); i++)
        if (instAt(s->book, (uint16_t)i)->status != INST_DELISTED &&
            setBookState(s, (uint16_t)i, MT_STATE_CLOSED, err))
            return -1;
    acdQuiesce(s, 20, ACMD_TIMEOUT_MS);
    rc = settleRun(s->book, date, acdNowNs(), &missing);
    if (rc == ACCT_ERR_PRICE_MISSING)
        return ctlErrorf(err, rc, "settlement price not set for %s",
                         instAt(s->book, (uint16_t)missing)->spec.id);
    if (rc)
        return acmdFail(err, rc);
    for (uint32_t i = 0; i < instCount(s->book); i++)
        lgRoll(s->lg, (uint16_t)i, instAt(s->book, (uint16_t)i)->lastPrice);
    s->lastScanNs = 0; /* recheck risk and lines at once */
    *data = resultJson(s, settleAt(s->book, settleCount(s->book) - 1), 0);
    return 0;
}

static int cmdHistory(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    (void)err;
    json_t *js = json_object_get(args, "start_date"), *je = json_object_get(args, "end_date");
    json_t *list = json_array();
    for (uint32_t i = 0; i < settleCount(s->book); i++) {
        const settleResult *r = settleAt(s->book, i);
        if ((js && (json_int_t)r->date < json_integer_value(js)) ||
            (je && (json_int_t)r->date > json_integer_value(je)))
            continue;
        json_array_append_new(list, resultJson(s, r, 0));
    }
    *data = json_pack("{s:o}", "settlements", list);
    return 0;
}

static int cmdDetail(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    json_t *jd = json_object_get(args, "date");
    if (!json_is_integer(jd))
        return ctlErrorf(err, 1008, "args.date: YYYYMMDD");
    const settleResult *r = settleFind(s->book, (uint32_t)json_integer_value(jd));
    if (!r)
        return ctlErrorf(err, 6002, "no settlement for %lld", (long long)json_integer_value(jd));
    *data = resultJson(s, r, 1);
    return 0;
}

/* ---- orders, trades, positions -------------------------------------------------------- */

static int cmdOrderGet(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    json_t *j = json_object_get(args, "order_id");
    if (!json_is_integer(j))
        return ctlErrorf(err, 1008, "args.order_id: an exchange order id is required");
    const acctOrder *o = acctOrderGet(s->book, (uint64_t)json_integer_value(j));
    if (!o)
        return ctlErrorf(err, 3001, "order %lld not found", (long long)json_integer_value(j));
    *data = lgOrderJson(s->book, o);
    return 0;
}

static int optAccount(json_t *args, uint32_t *id, ctlError *err)
{
    if (!json_object_get(args, "account") && !json_object_get(args, "user_id")) {
        *id = 0;
        return 0;
    }
    return argAccount(args, id, err);
}

static int cmdOrderList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    if (optAccount(args, &id, err))
        return -1;
    const char *st = json_string_value(json_object_get(args, "status"));
    int want = -1;
    for (int k = 0; st && k < 4; k++)
        if (!strcasecmp(st, lgOrderStatusName((uint8_t)k)))
            want = k;
    if (st && !strcasecmp(st, "live"))
        want = 4;
    if (st && want < 0)
        return ctlErrorf(err, 1008,
                         "args.status: ALIVE, PARTIALLY_FILLED, FILLED, CANCELLED or live");
    json_t *list = json_array();
    for (uint32_t i = 0; i < acctOrderCount(s->book); i++) {
        const acctOrder *o = acctOrderAt(s->book, i);
        if ((id && o->account != id) || (want >= 0 && want < 4 && o->status != want) ||
            (want == 4 && o->status >= ACCT_ORDER_FILLED))
            continue;
        json_array_append_new(list, lgOrderJson(s->book, o));
    }
    *data = json_pack("{s:o}", "orders", list);
    return 0;
}

static int cmdTradeList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    if (optAccount(args, &id, err))
        return -1;
    int ins = -1;
    if (json_object_get(args, "instrument")) {
        uint16_t i;
        if (argInstrument(s, args, &i, err))
            return -1;
        ins = i;
    }
    json_t *list = json_array();
    for (uint32_t i = 0; i < acctTradeCount(s->book); i++) {
        const acctTrade *t = acctTradeAt(s->book, i);
        if ((id && t->account != id) || (ins >= 0 && t->instrument != ins))
            continue;
        json_array_append_new(list, lgTradeJson(s->book, t));
    }
    *data = json_pack("{s:o}", "trades", list);
    return 0;
}

static int cmdPositionList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    if (optAccount(args, &id, err))
        return -1;
    if (id && !acctGet(s->book, id))
        return acmdFail(err, ACCT_ERR_NO_ACCOUNT);
    json_t *list = json_array();
    for (uint32_t k = 0; k < acctCount(s->book); k++) {
        const acctAccount *a = acctAt(s->book, k);
        if (id && a->id != id)
            continue;
        uint32_t it = 0;
        uint16_t ins;
        const posPosition *p;
        while ((p = acctNextPosition(s->book, a, &it, &ins)) != NULL)
            if (!posEmpty(p))
                json_array_append_new(list, lgPositionJson(s->book, a->id, ins, p));
    }
    *data = json_pack("{s:o}", "positions", list);
    return 0;
}

/* ---- risk -------------------------------------------------------------------------------- */

/* The reference's levels: Normal < 50%, Warning 50-80%, High 80-100%, Critical >= 100%. */
static const char *riskLevel(int64_t ppm)
{
    return ppm >= 1000000  ? "critical"
           : ppm >= 800000 ? "high"
           : ppm >= 500000 ? "warning"
                           : "normal";
}

typedef struct {
    uint32_t index;
    int64_t risk;
} riskRow;

static int riskCmp(const void *x, const void *y)
{
    const riskRow *a = x, *b = y;
    return a->risk < b->risk   ? 1
           : a->risk > b->risk ? -1
                               : (a->index > b->index) - (a->index < b->index);
}

/* The accounts at or over threshold (ppm), highest risk ratio first, at most
 * limit of them (0: all): the rows of risk.accounts. NULL when out of
 * memory. */
static json_t *riskList(acdState *s, uint32_t threshold, uint32_t limit)
{
    riskRow *rows = malloc(sizeof *rows * (acctCount(s->book) + 1));
    if (!rows)
        return NULL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < acctCount(s->book); k++) {
        acctFigures f;
        acctCompute(s->book, acctAt(s->book, k), &f);
        if (f.riskRatio >= (int64_t)threshold)
            rows[n++] = (riskRow){k, f.riskRatio};
    }
    qsort(rows, n, sizeof *rows, riskCmp);
    if (limit && n > limit)
        n = limit;
    json_t *list = json_array();
    for (uint32_t k = 0; k < n; k++) {
        json_t *o = accountRow(s, acctAt(s->book, rows[k].index));
        json_object_set_new(o, "risk_level", json_string(riskLevel(rows[k].risk)));
        json_array_append_new(list, o);
    }
    free(rows);
    return list;
}

static int cmdRiskAccounts(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t threshold = 0;
    if (argRate(args, "threshold", &threshold, err) < 0)
        return -1;
    json_t *list = riskList(s, threshold, 0);
    if (!list)
        return ctlErrorf(err, 5000, "out of memory");
    *data = json_pack("{s:o}", "accounts", list);
    return 0;
}

json_t *acdTopAccounts(void *state, uint32_t limit)
{
    json_t *list = limit ? riskList(state, 0, limit) : json_array();
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        /* the live view names the column after what it is */
        json_object_set(r, "account", json_object_get(r, "user_id"));
        json_object_del(r, "user_id");
    }
    return list;
}

static int cmdRiskLimits(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    acctLimits l = *acctGetLimits(s->book);
    int changed = 0, rc;
    if ((rc = argRate(args, "reject_ratio", &l.rejectRatio, err)) < 0)
        return -1;
    changed |= rc == 0;
    if ((rc = argRate(args, "liquidation_ratio", &l.liquidationRatio, err)) < 0)
        return -1;
    changed |= rc == 0;
    if ((rc = argRate(args, "concentration", &l.concentration, err)) < 0)
        return -1;
    changed |= rc == 0;
    if ((rc = argDecimal(args, "max_order_notional", &l.maxOrderNotional, 0, err)) < 0)
        return -1;
    changed |= rc == 0;
    if (changed) {
        if (acctSetLimits(s->book, &l) != 0)
            return ctlErrorf(err, 1008,
                             "limits refused: ratios above 0, reject_ratio at most "
                             "liquidation_ratio, concentration at most 100%%");
        s->lastScanNs = 0; /* lines, caps and blocks follow at the next poll */
    }
    *data = json_pack("{s:o, s:o, s:o, s:o}", "reject_ratio", rateJson(l.rejectRatio),
                      "liquidation_ratio", rateJson(l.liquidationRatio), "concentration",
                      rateJson(l.concentration), "max_order_notional", lgMoney(l.maxOrderNotional));
    return 0;
}

static int cmdLiquidations(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    uint32_t id;
    if (optAccount(args, &id, err))
        return -1;
    json_t *list = json_array();
    for (uint32_t i = 0; i < acctLiquidationCount(s->book); i++) {
        const acctLiquidation *q = acctLiquidationAt(s->book, i);
        if (id && q->account != id)
            continue;
        char rr[32];
        cfgFormatDecimal(q->riskRatio, 6, 4, rr, sizeof rr);
        json_array_append_new(list,
                              json_pack("{s:I, s:I, s:s, s:o, s:o, s:i}", "user_id",
                                        (json_int_t)q->account, "time", (json_int_t)q->ns,
                                        "risk_ratio", rr, "balance", lgMoney(q->balance), "margin",
                                        lgMoney(q->margin), "closing_orders", (int)q->orders));
    }
    *data = json_pack("{s:o}", "liquidations", list);
    return 0;
}

static int cmdLedgerStats(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    acdState *s = ctx;
    (void)args;
    (void)err;
    lgStats st;
    lgGetStats(s->lg, &st);
    json_t *segs = s->hooks.segStats ? s->hooks.segStats(s->hooks.ctx) : NULL;
    if (!segs)
        segs = json_array();
    json_t *lag =
        json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)st.lagNs.total, "p50_ns",
                  (json_int_t)histQuantile(&st.lagNs, 1, 2), "p99_ns",
                  (json_int_t)histQuantile(&st.lagNs, 99, 100), "max_ns", (json_int_t)st.lagNs.max);
    *data = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "events",
                      (json_int_t)st.events, "fills", (json_int_t)st.fills, "orders",
                      (json_int_t)st.orders, "cancels", (json_int_t)st.cancels, "topups",
                      (json_int_t)st.topups, "grants", (json_int_t)st.grants, "reclaims",
                      (json_int_t)st.reclaims, "mismatches", (json_int_t)st.mismatches,
                      "send_failed", (json_int_t)st.sendFailed, "liquidations",
                      (json_int_t)st.liquidations, "fill_lag", lag, "segments", segs);
    json_object_set_new(*data, "topup_reclaims", json_integer((json_int_t)st.topupReclaims));
    json_object_set_new(*data, "topup_wait_full", json_integer((json_int_t)st.topupWaitFull));
    return 0;
}

/* The commands. `journal`: the command can change the control core's
 * state, so it is journaled (CJ_CMD) before it runs and replayed at start
 * (docs/storage/recovery.md). A new state-changing command sets it; that
 * is all it needs to be durable. */
typedef struct {
    const char *name;
    ctlHandler *fn;
    const char *help;
    int journal;
} acmdEntry;

static const acmdEntry acmdTable[] = {
    {"account.open", cmdOpen,
     "account=N [name=S] [type=individual|institutional] [init_cash=MONEY]", 1},
    {"account.deposit", cmdDeposit, "account=N amount=MONEY", 1},
    {"account.withdraw", cmdWithdraw, "account=N amount=MONEY (at most available)", 1},
    {"account.get", cmdGet, "account=N: QIFI figures and positions", 0},
    {"account.list", cmdList, "every account's balance, available, margin, risk", 0},
    {"account.freeze", cmdFreeze, "account=N: no trading, no withdrawal", 1},
    {"account.unfreeze", cmdUnfreeze, "account=N", 1},
    {"instrument.get", cmdInstGet, "[instrument=ID]: rates, limits and status", 0},
    {"instrument.add", cmdInstAdd,
     "instrument=ID segment=N tick=PRICE multiplier=N margin_rate=R limit_up=R limit_down=R "
     "pre_settlement=PRICE [name=S] [commission_rate=R] [commission_per_lot=MONEY] "
     "[pre_close=PRICE] [min_lots=N] [max_lots=N] [close_rule=yesterday_first|today_first|split] "
     "[state=closed|pre_open|continuous|halted]",
     1},
    {"instrument.update", cmdInstUpdate,
     "instrument=ID [margin_rate=R] [commission_rate=R] [commission_per_lot=MONEY] "
     "[min_lots=N] [max_lots=N] [limit_up=R] [limit_down=R] (limits: inside the start band)",
     1},
    {"instrument.suspend", cmdSuspend, "instrument=ID: halt trading", 1},
    {"instrument.resume", cmdResume, "instrument=ID: continuous trading again", 1},
    {"instrument.delist", cmdDelist, "instrument=ID: refused while positions/orders remain", 1},
    {"settlement.set_price", cmdSetPrice, "instrument=ID price=PRICE", 1},
    {"settlement.set_prices", cmdSetPrices, "prices:='{\"ID\":\"PRICE\",...}'", 1},
    {"settlement.run", cmdSettle, "[date=YYYYMMDD]: close, settle, roll", 1},
    {"settlement.history", cmdHistory, "[start_date=D] [end_date=D]", 0},
    {"settlement.detail", cmdDetail, "date=YYYYMMDD: per-account results", 0},
    {"order.get", cmdOrderGet, "order_id=N", 0},
    {"order.list", cmdOrderList, "[account=N] [status=ALIVE|PARTIALLY_FILLED|FILLED|...|live]", 0},
    {"trade.list", cmdTradeList, "[account=N] [instrument=ID]", 0},
    {"position.list", cmdPositionList, "[account=N]", 0},
    {"risk.accounts", cmdRiskAccounts, "[threshold=R]: accounts by risk ratio, highest first", 0},
    {"risk.limits", cmdRiskLimits,
     "[reject_ratio=R] [liquidation_ratio=R] [concentration=R] [max_order_notional=MONEY]", 1},
    {"risk.liquidations", cmdLiquidations, "[account=N]: force liquidation records", 0},
    {"ledger.stats", cmdLedgerStats, "credit-line traffic and fill-to-account lag", 0},
};

#define ACMD_COUNT (sizeof acmdTable / sizeof acmdTable[0])

static const acmdEntry *acmdFind(const char *cmd)
{
    for (size_t i = 0; i < ACMD_COUNT; i++)
        if (!strcmp(acmdTable[i].name, cmd))
            return &acmdTable[i];
    return NULL;
}

int acdCommandJournaled(const char *cmd)
{
    const acmdEntry *e = acmdFind(cmd);
    return e ? e->journal : -1;
}

/* Journals a state-changing command as received (its arguments made
 * explicit where the handler would read the clock or the day), then runs
 * it at the recorded time. A command the journal cannot take is refused
 * with 5002 and not run. */
static int acmdRun(acdState *s, const acmdEntry *e, json_t *args, json_t **data, ctlError *err)
{
    if (!e->journal)
        return e->fn(s, args, data, err);
    const uint64_t now = acdNowNs();
    json_t *a = json_deep_copy(args);
    if (a && !strcmp(e->name, "settlement.run") && !json_object_get(a, "date"))
        json_object_set_new(a, "date", json_integer(s->tradingDay));
    json_t *rec = a ? json_pack("{s:s, s:o}", "cmd", e->name, "args", a) : NULL;
    char *txt = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const int rc = txt ? cjAppend(s, CJ_CMD, &now, sizeof now, txt, (uint32_t)strlen(txt)) : -1;
    free(txt);
    if (rc != 0) {
        json_decref(rec);
        s->cj.refused++;
        return ctlErrorf(err, 5002,
                         "the control journal cannot take the command (%s); nothing was done, "
                         "retry",
                         s->cj.jn && jnStatus(s->cj.jn) ? jnStatusMessage(s->cj.jn) : "full");
    }
    s->cj.dirty = 1;
    cjClockSet(now);
    const int r = e->fn(s, json_object_get(rec, "args"), data, err);
    cjClockSet(0);
    json_decref(rec);
    /* durability = sync: the answer leaves once the command's record (and
     * the events it consumed) are durable, without stopping the loop */
    ctlServerHold(s->ctl, s->cj.lastSeq);
    return r;
}

typedef struct {
    acdState *s;
    const acmdEntry *e;
} acmdBinding;

static acmdBinding acmdBound[ACMD_COUNT];

static int acmdHandler(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    const acmdBinding *b = ctx;
    return acmdRun(b->s, b->e, args, data, err);
}

int acdCommand(acdState *s, const char *cmd, json_t *args, json_t **data, ctlError *err)
{
    const acmdEntry *e = acmdFind(cmd);
    if (!e)
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "unknown command %s", cmd);
    json_t *empty = args ? NULL : json_object();
    const int rc = acmdRun(s, e, args ? args : empty, data, err);
    json_decref(empty);
    return rc;
}

int acdReplayCommand(acdState *s, const char *cmd, json_t *args, uint64_t nowNs)
{
    const acmdEntry *e = acmdFind(cmd);
    if (!e)
        return -1;
    json_t *data = NULL;
    ctlError err;
    cjClockSet(nowNs);
    s->cj.dirty = 1;
    e->fn(s, args, &data, &err);
    cjClockSet(0);
    json_decref(data);
    return 0;
}

int acdRegister(ctlServer *ctl, acdState *s)
{
    for (size_t i = 0; i < ACMD_COUNT; i++) {
        acmdBound[i] = (acmdBinding){s, &acmdTable[i]};
        if (ctlServerRegister(ctl, acmdTable[i].name, acmdHandler, &acmdBound[i],
                              acmdTable[i].help))
            return -1;
    }
    return 0;
}
