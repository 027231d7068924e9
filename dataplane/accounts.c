/* accounts.c -- the control lcore's accounts loop: credit events in, risk scan, liquidation, events
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataplane/accounts.h"
#include "dataplane/crlink.h"

#define ACD_BURST   256
#define ACD_SCAN_NS (10 * 1000000ull) /* risk scan period */
#define ACD_MAX_LIQ 64
#define ACD_BUSY_NS (50 * 1000000ull) /* events within this: nap, do not sleep in poll */
#define ACD_NAP_NS  50000             /* the nap between empty polls while busy */

uint64_t acdNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int acdSend(void *ctx, uint16_t seg, const crCmd *c)
{
    acdState *s = ctx;
    return seg < s->nWorkers ? crlSend(wkCredit(s->workers[seg]), c) : -1;
}

/* Events go to the topic of their kind and to "<kind>.<account>". */
static void acdNotify(void *ctx, const char *kind, uint32_t account, json_t *ev)
{
    acdState *s = ctx;
    char topic[CTL_TOPIC_MAX];
    ctlServerBroadcast(s->ctl, kind, ev);
    snprintf(topic, sizeof topic, "%s.%u", kind, account);
    ctlServerBroadcast(s->ctl, topic, ev);
}

acdState *acdCreate(const cfgConfig *cfg, wkWorker **workers, uint32_t nWorkers, ctlServer *ctl,
                    uint32_t tradingDay)
{
    acdState *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->workers = workers;
    s->nWorkers = nWorkers;
    s->ctl = ctl;
    s->tradingDay = tradingDay;
    const acctLimits lim = acctLimitsFromConfig(&cfg->risk);
    s->book = acctCreate(&lim);
    if (!s->book || instLoadConfig(s->book, cfg) != 0 ||
        !(s->lg = lgCreate(cfg, s->book, acdSend, s))) {
        acdDestroy(s);
        return NULL;
    }
    lgSetNotify(s->lg, acdNotify, s, 0);
    return s;
}

void acdDestroy(acdState *s)
{
    if (!s)
        return;
    lgDestroy(s->lg);
    acctDestroy(s->book);
    free(s);
}

int acdAccountKnown(void *state, uint32_t account)
{
    const acdState *s = state;
    return acctGet(s->book, account) != NULL;
}

/* Force liquidation (DESIGN.md §7): cancel the account's live orders, then
 * close every lot at market, IOC, in chunks the notional limit accepts,
 * through the segment that trades each instrument. Commands on one ring are
 * applied in order, so the cancels free the lots before the closes. */
static void acdLiquidate(acdState *s, uint32_t account)
{
    for (uint32_t i = 0; i < acctOrderCount(s->book); i++) {
        const acctOrder *o = acctOrderAt(s->book, i);
        if (o->account != account || o->status >= ACCT_ORDER_FILLED)
            continue;
        const cfgInstrument *in = &instAt(s->book, o->instrument)->spec;
        crCmd c = {.type = CR_CMD_CANCEL, .account = account, .amount = (int64_t)o->orderId};
        acdSend(s, in->segIndex, &c);
    }
    const acctAccount *a = acctGet(s->book, account);
    uint32_t it = 0;
    uint16_t ins;
    const posPosition *p;
    while (a && (p = acctNextPosition(s->book, a, &it, &ins)) != NULL) {
        const cfgInstrument *in = &instAt(s->book, ins)->spec;
        const int64_t lotValue = in->upperTicks * in->tickSize * (int64_t)in->multiplier;
        int64_t chunk = lotValue > 0 ? acctGetLimits(s->book)->maxOrderNotional / lotValue : 1;
        if (chunk > in->maxLots)
            chunk = in->maxLots;
        if (chunk < 1)
            chunk = 1;
        for (int k = 0; k < 2; k++) {
            const uint32_t lots[2] = {p->side[k].today, p->side[k].yd};
            for (int day = 0; day < 2; day++) {
                for (uint32_t left = lots[day]; left > 0;) {
                    const uint32_t q = left < chunk ? left : (uint32_t)chunk;
                    crCmd c = {.type = CR_CMD_CLOSE,
                               .account = account,
                               .book = in->book,
                               .side = k == POS_LONG ? 1 : 0,
                               .offset = day == 0 ? POS_CLOSE_TODAY : POS_CLOSE_YESTERDAY,
                               .parked = q,
                               .seq = ++s->closeSeq};
                    acdSend(s, in->segIndex, &c);
                    left -= q;
                }
            }
        }
    }
}

static uint32_t acdDrain(acdState *s)
{
    crEvent ev[ACD_BURST];
    uint32_t total = 0;
    for (uint32_t w = 0; w < s->nWorkers; w++) {
        const uint32_t n = crlEvents(wkCredit(s->workers[w]), ev, ACD_BURST);
        if (!n)
            continue;
        const uint64_t now = acdNowNs();
        for (uint32_t i = 0; i < n; i++)
            lgOnEvent(s->lg, &ev[i], now);
        total += n;
    }
    return total;
}

int acdIdleMs(const acdState *s)
{
    /* while events flow acdPoll naps 50 us when the rings are empty (the
     * fill-to-account lag stays in microseconds without spinning a core the
     * kernel and the storage threads share); after 50 ms of quiet the loop
     * sleeps up to 1 ms in poll */
    return acdNowNs() - s->lastEventNs < ACD_BUSY_NS ? 0 : 1;
}

uint32_t acdPoll(acdState *s)
{
    ctlServerStats cs;
    ctlServerGetStats(s->ctl, &cs);
    lgSetNotify(s->lg, acdNotify, s, cs.subscribers > 0);
    const uint32_t n = acdDrain(s);
    const uint64_t now = acdNowNs();
    if (n) {
        s->lastEventNs = now;
    } else if (now - s->lastEventNs < ACD_BUSY_NS) {
        const struct timespec nap = {0, ACD_NAP_NS};
        nanosleep(&nap, NULL);
    }
    if (now - s->lastScanNs >= ACD_SCAN_NS) {
        s->lastScanNs = now;
        uint32_t liq[ACD_MAX_LIQ];
        const uint32_t k = lgScan(s->lg, now, liq, ACD_MAX_LIQ);
        for (uint32_t i = 0; i < k; i++)
            acdLiquidate(s, liq[i]);
    }
    return n;
}

void acdWaitReclaims(acdState *s, uint32_t account, uint32_t timeoutMs)
{
    const uint64_t end = acdNowNs() + (uint64_t)timeoutMs * 1000000ull;
    while (lgPending(s->lg, account) > 0 && acdNowNs() < end)
        acdDrain(s);
}

void acdQuiesce(acdState *s, uint32_t quietMs, uint32_t timeoutMs)
{
    const uint64_t start = acdNowNs(), end = start + (uint64_t)timeoutMs * 1000000ull;
    uint64_t last = start;
    for (uint64_t now = start; now < end; now = acdNowNs()) {
        if (acdDrain(s))
            last = now;
        else if (now - last >= (uint64_t)quietMs * 1000000ull)
            return;
    }
}
