/* mdswire.c -- the summary channel's messages (snapshot, K-line, daily statistics) and MoldUDP64
 * packing.
 *
 * Layouts are docs/protocol/summary.md's: big-endian, fixed offsets, signed
 * values as two's complement. Encoding walks a cursor and the decoder checks
 * the exact length of the type before reading, so neither touches bytes
 * outside the message. */
#include <stdio.h>
#include <string.h>

#include "control/mdsummary.h"
#include "xchg/itch.h"

#define MDS_HEAD_LEN 19 /* type, locate, stock, timestamp */

static uint8_t *mdsPutHead(uint8_t *p, uint8_t type, uint16_t locate, const char *stock,
                           uint64_t ns)
{
    p[0] = type;
    itchPut16(p + 1, locate);
    itchPutAlpha(p + 3, stock, CFG_ID_MAX);
    itchPut64(p + 11, ns);
    return p + MDS_HEAD_LEN;
}

static uint8_t *mdsPut64(uint8_t *p, int64_t v)
{
    itchPut64(p, (uint64_t)v);
    return p + 8;
}

static uint8_t *mdsPut32(uint8_t *p, uint32_t v)
{
    itchPut32(p, v);
    return p + 4;
}

static int64_t mdsGet64(const uint8_t **p)
{
    int64_t v = (int64_t)itchGet64(*p);
    *p += 8;
    return v;
}

static uint32_t mdsGet32(const uint8_t **p)
{
    uint32_t v = itchGet32(*p);
    *p += 4;
    return v;
}

size_t mdsEncodeSnapshot(uint8_t *buf, const char *stock, const mdsSnapshot *s)
{
    uint8_t *p = mdsPutHead(buf, MDS_MSG_SNAPSHOT, s->instrument, stock, s->timestampNs);
    p = mdsPut32(p, s->tradingDay);
    p = mdsPut64(p, s->lastPrice);
    p = mdsPut64(p, s->changeAmount);
    p = mdsPut64(p, s->changePercent);
    p = mdsPut64(p, s->preClose);
    for (int i = 0; i < MDS_LEVELS; i++) {
        p = mdsPut64(p, s->bid[i].price);
        p = mdsPut64(p, (int64_t)s->bid[i].qty);
    }
    for (int i = 0; i < MDS_LEVELS; i++) {
        p = mdsPut64(p, s->ask[i].price);
        p = mdsPut64(p, (int64_t)s->ask[i].qty);
    }
    p = mdsPut64(p, s->open);
    p = mdsPut64(p, s->high);
    p = mdsPut64(p, s->low);
    p = mdsPut64(p, (int64_t)s->volume);
    p = mdsPut64(p, s->turnover);
    p = mdsPut64(p, s->openInterest);
    p = mdsPut64(p, s->upperLimit);
    p = mdsPut64(p, s->lowerLimit);
    return (size_t)(p - buf);
}

size_t mdsEncodeKline(uint8_t *buf, uint16_t locate, const char *stock, uint64_t nowNs,
                      const mdsBar *b)
{
    uint8_t *p = mdsPutHead(buf, MDS_MSG_KLINE, locate, stock, nowNs);
    *p++ = b->period;
    p = mdsPut32(p, b->tradingDay);
    p = mdsPut64(p, (int64_t)b->startNs);
    p = mdsPut64(p, (int64_t)b->endNs);
    p = mdsPut64(p, b->open);
    p = mdsPut64(p, b->high);
    p = mdsPut64(p, b->low);
    p = mdsPut64(p, b->close);
    p = mdsPut64(p, (int64_t)b->volume);
    p = mdsPut64(p, b->amount);
    p = mdsPut64(p, b->openOi);
    p = mdsPut64(p, b->closeOi);
    p = mdsPut32(p, b->trades);
    return (size_t)(p - buf);
}

size_t mdsEncodeDaily(uint8_t *buf, uint16_t locate, const char *stock, uint64_t nowNs,
                      const mdsDaily *d)
{
    uint8_t *p = mdsPutHead(buf, MDS_MSG_DAILY, locate, stock, nowNs);
    p = mdsPut32(p, d->tradingDay);
    p = mdsPut64(p, d->preClose);
    p = mdsPut64(p, d->open);
    p = mdsPut64(p, d->high);
    p = mdsPut64(p, d->low);
    p = mdsPut64(p, d->close);
    p = mdsPut64(p, (int64_t)d->volume);
    p = mdsPut64(p, d->turnover);
    p = mdsPut64(p, d->vwap);
    p = mdsPut64(p, d->openInterest);
    p = mdsPut64(p, d->preOpenInterest);
    p = mdsPut64(p, (int64_t)d->trades);
    p = mdsPut64(p, d->upperLimit);
    p = mdsPut64(p, d->lowerLimit);
    return (size_t)(p - buf);
}

static void mdsDecodeSnapshot(const uint8_t *p, mdsSnapshot *s)
{
    s->tradingDay = mdsGet32(&p);
    s->lastPrice = mdsGet64(&p);
    s->changeAmount = mdsGet64(&p);
    s->changePercent = mdsGet64(&p);
    s->preClose = mdsGet64(&p);
    for (int i = 0; i < MDS_LEVELS; i++) {
        s->bid[i].price = mdsGet64(&p);
        s->bid[i].qty = (uint64_t)mdsGet64(&p);
    }
    for (int i = 0; i < MDS_LEVELS; i++) {
        s->ask[i].price = mdsGet64(&p);
        s->ask[i].qty = (uint64_t)mdsGet64(&p);
    }
    s->open = mdsGet64(&p);
    s->high = mdsGet64(&p);
    s->low = mdsGet64(&p);
    s->volume = (uint64_t)mdsGet64(&p);
    s->turnover = mdsGet64(&p);
    s->openInterest = mdsGet64(&p);
    s->upperLimit = mdsGet64(&p);
    s->lowerLimit = mdsGet64(&p);
}

static void mdsDecodeKline(const uint8_t *p, mdsBar *b)
{
    b->period = *p++;
    b->tradingDay = mdsGet32(&p);
    b->startNs = (uint64_t)mdsGet64(&p);
    b->endNs = (uint64_t)mdsGet64(&p);
    b->open = mdsGet64(&p);
    b->high = mdsGet64(&p);
    b->low = mdsGet64(&p);
    b->close = mdsGet64(&p);
    b->volume = (uint64_t)mdsGet64(&p);
    b->amount = mdsGet64(&p);
    b->openOi = mdsGet64(&p);
    b->closeOi = mdsGet64(&p);
    b->trades = mdsGet32(&p);
    b->finished = 1;
}

static void mdsDecodeDaily(const uint8_t *p, mdsDaily *d)
{
    d->tradingDay = mdsGet32(&p);
    d->preClose = mdsGet64(&p);
    d->open = mdsGet64(&p);
    d->high = mdsGet64(&p);
    d->low = mdsGet64(&p);
    d->close = mdsGet64(&p);
    d->volume = (uint64_t)mdsGet64(&p);
    d->turnover = mdsGet64(&p);
    d->vwap = mdsGet64(&p);
    d->openInterest = mdsGet64(&p);
    d->preOpenInterest = mdsGet64(&p);
    d->trades = (uint64_t)mdsGet64(&p);
    d->upperLimit = mdsGet64(&p);
    d->lowerLimit = mdsGet64(&p);
}

int mdsDecode(const uint8_t *buf, size_t len, mdsWireMsg *out)
{
    memset(out, 0, sizeof *out);
    if (len < MDS_HEAD_LEN)
        return -1;
    const size_t want = buf[0] == MDS_MSG_SNAPSHOT ? MDS_SNAPSHOT_LEN
                        : buf[0] == MDS_MSG_KLINE  ? MDS_KLINE_LEN
                        : buf[0] == MDS_MSG_DAILY  ? MDS_DAILY_LEN
                                                   : 0;
    if (want == 0 || len != want)
        return -1;
    out->type = buf[0];
    out->locate = itchGet16(buf + 1);
    memcpy(out->stock, buf + 3, CFG_ID_MAX);
    for (int i = CFG_ID_MAX - 1; i >= 0 && out->stock[i] == ' '; i--)
        out->stock[i] = 0;
    out->timestampNs = itchGet64(buf + 11);
    const uint8_t *body = buf + MDS_HEAD_LEN;
    if (out->type == MDS_MSG_SNAPSHOT) {
        mdsDecodeSnapshot(body, &out->u.snapshot);
        out->u.snapshot.instrument = out->locate;
        out->u.snapshot.timestampNs = out->timestampNs;
    } else if (out->type == MDS_MSG_KLINE) {
        mdsDecodeKline(body, &out->u.bar);
    } else {
        mdsDecodeDaily(body, &out->u.daily);
    }
    return 0;
}

/* ---- MoldUDP64 packing ------------------------------------------------------------------ */

void mdsPackerInit(mdsPacker *p, uint32_t tradingDay, uint16_t mtu, mdsSendFn *send, void *ctx)
{
    memset(p, 0, sizeof *p);
    if (mtu == 0 || mtu > 1500)
        mtu = 1500;
    p->max = (uint16_t)(mtu - MOLD_IP_UDP_OVERHEAD);
    p->seq = 1;
    char name[16];
    snprintf(name, sizeof name, "%08uSM", tradingDay % 100000000u);
    memcpy(p->session, name, MOLD_SESSION_LEN);
    p->send = send;
    p->ctx = ctx;
}

void mdsPackerFlush(mdsPacker *p)
{
    if (p->count == 0)
        return;
    memcpy(p->pkt + MOLD_OFF_SESSION, p->session, MOLD_SESSION_LEN);
    itchPut64(p->pkt + MOLD_OFF_SEQUENCE, p->seq);
    itchPut16(p->pkt + MOLD_OFF_COUNT, p->count);
    p->send(p->ctx, p->pkt, p->len);
    p->seq += p->count;
    p->count = 0;
    p->len = 0;
}

void mdsPackerAdd(mdsPacker *p, const uint8_t *msg, uint16_t len)
{
    if (p->count && p->len + MOLD_BLOCK_HEADER + len > p->max)
        mdsPackerFlush(p);
    if (p->count == 0)
        p->len = MOLD_HEADER_SIZE;
    itchPut16(p->pkt + p->len, len);
    memcpy(p->pkt + p->len + MOLD_BLOCK_HEADER, msg, len);
    p->len = (uint16_t)(p->len + MOLD_BLOCK_HEADER + len);
    p->count++;
}
