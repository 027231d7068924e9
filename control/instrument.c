/* instrument.c -- instrument lifecycle on the control core: add, update, suspend/resume, delist.
 *
 * Register -> TRADING <-> SUSPENDED -> DELISTED, as the reference's
 * InstrumentRegistry (reference/qaexchange-notes-1.md "Admin components").
 * Delisting is refused while any account holds a position or a live order
 * in the instrument, naming them. Limits are recomputed with cfgLimitBand so
 * the control core and the config loader agree to the tick. */
#include <stdlib.h>
#include <string.h>

#include "control/acct_int.h"

/* The checks the config loader applies, plus the daily band. */
static int instSpecValid(cfgInstrument *s)
{
    if (!s->id[0] || memchr(s->id, 0, sizeof s->id) == NULL || s->tickSize <= 0 ||
        s->multiplier == 0 || s->marginRate == 0 || s->marginRate > ACCT_PPM ||
        s->commissionRate > ACCT_PPM / 10 || s->commissionPerLot < 0 ||
        s->commissionPerLot > 10000LL * 1000000 || s->minLots < 1 || s->maxLots < s->minLots ||
        s->maxLots > 1000000 || s->closeRule > CFG_CLOSE_SPLIT || s->preSettlement <= 0 ||
        s->preSettlement % s->tickSize != 0 || s->limitDown > ACCT_PPM)
        return 0;
    int64_t lo, hi, n;
    if (cfgLimitBand(s->preSettlement, s->tickSize, s->limitUp, s->limitDown, &lo, &hi) != 0 ||
        lo > hi)
        return 0;
    /* any acceptable order's notional fits int64 */
    if (__builtin_mul_overflow(hi * s->tickSize, (int64_t)s->maxLots, &n) ||
        __builtin_mul_overflow(n, (int64_t)s->multiplier, &n) || n > INT64_MAX / 16)
        return 0;
    s->lowerTicks = lo;
    s->upperTicks = hi;
    s->preSettlementTicks = s->preSettlement / s->tickSize;
    return 1;
}

int instAdd(acctBook *b, const cfgInstrument *spec)
{
    cfgInstrument s = *spec;
    if (!instSpecValid(&s) || instFind(b, s.id) >= 0 || b->nIns >= CFG_MAX_INSTRUMENTS)
        return -ACCT_ERR_PARAMS;
    if (acctGrow((void **)&b->ins, &b->capIns, b->nIns + 1, sizeof *b->ins))
        return -5000;
    acctInstrument *in = &b->ins[b->nIns];
    memset(in, 0, sizeof *in);
    in->spec = s;
    in->status = INST_TRADING;
    in->lastPrice = s.preSettlement;
    return (int)b->nIns++;
}

int instLoadConfig(acctBook *b, const cfgConfig *cfg)
{
    for (uint32_t i = 0; i < cfg->instrumentCount; i++)
        if (instAdd(b, &cfg->instruments[i]) != (int)i)
            return -1;
    return 0;
}

int instFind(const acctBook *b, const char *id)
{
    for (uint32_t i = 0; i < b->nIns; i++)
        if (!strcmp(b->ins[i].spec.id, id))
            return (int)i;
    return -1;
}

uint32_t instCount(const acctBook *b)
{
    return b->nIns;
}

const acctInstrument *instAt(const acctBook *b, uint16_t i)
{
    return i < b->nIns ? &b->ins[i] : NULL;
}

int instByBook(const acctBook *b, uint16_t segIndex, uint16_t book)
{
    for (uint32_t i = 0; i < b->nIns; i++)
        if (b->ins[i].spec.segIndex == segIndex && b->ins[i].spec.book == book)
            return (int)i;
    return -1;
}

int instSetParams(acctBook *b, uint16_t i, const instUpdate *u)
{
    if (i >= b->nIns || b->ins[i].status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    cfgInstrument s = b->ins[i].spec;
    if (u->hasMarginRate)
        s.marginRate = u->marginRate;
    if (u->hasCommissionRate)
        s.commissionRate = u->commissionRate;
    if (u->hasCommissionPerLot)
        s.commissionPerLot = u->commissionPerLot;
    if (u->hasLimits) {
        s.limitUp = u->limitUp;
        s.limitDown = u->limitDown;
    }
    if (u->hasLots) {
        s.minLots = u->minLots;
        s.maxLots = u->maxLots;
    }
    if (!instSpecValid(&s))
        return ACCT_ERR_PARAMS;
    b->ins[i].spec = s;
    return 0;
}

int instSetStatus(acctBook *b, uint16_t i, instStatus status)
{
    if (i >= b->nIns || b->ins[i].status == INST_DELISTED || status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    b->ins[i].status = (uint8_t)status;
    return 0;
}

static int instCmpU32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

int instDelist(acctBook *b, uint16_t i, uint32_t *holders, uint32_t max, uint32_t *nHolders)
{
    if (i >= b->nIns || b->ins[i].status == INST_DELISTED)
        return ACCT_ERR_NO_INSTRUMENT;
    uint8_t *mark = calloc(b->nAcc ? b->nAcc : 1, 1);
    if (!mark)
        return 5000;
    for (uint32_t k = 0; k < b->nPos; k++)
        if (b->pos[k].instrument == i && !posEmpty(&b->pos[k].p))
            mark[b->pos[k].account] = 1;
    for (uint32_t k = 0; k < b->nOrd; k++)
        if (b->ord[k].instrument == i && b->ord[k].status < ACCT_ORDER_FILLED)
            mark[acctMapGet(&b->accMap, b->ord[k].account)] = 1;
    uint32_t n = 0;
    for (uint32_t a = 0; a < b->nAcc; a++) {
        if (mark[a]) {
            if (n < max)
                holders[n] = b->acc[a].id;
            n++;
        }
    }
    free(mark);
    *nHolders = n;
    if (n) {
        qsort(holders, n < max ? n : max, sizeof *holders, instCmpU32);
        return ACCT_ERR_PARAMS;
    }
    b->ins[i].status = INST_DELISTED;
    return 0;
}
