/* crlink.c -- the credit lines' SPSC rings (worker <-> control core) and the worker-side poll. */
#include <stdio.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/crlink.h"

#define CRL_RING  (1u << 16) /* events or commands in flight per direction */
#define CRL_SPILL (1u << 16) /* events held when the ring is full */

struct crLink {
    crRisk *risk;
    struct rte_ring *toControl; /* crEvent */
    struct rte_ring *toWorker;  /* crCmd */
    crEvent *spill;
    uint32_t spillHead, spillCount;
    crlStats stats;
    crlJournalFn *journal; /* the worker's journal hook, NULL: none */
    void *journalCtx;
    uint64_t skip; /* events still to drop (replay, crlSetSkip) */
};

static void crlEmit(void *ctx, const crEvent *ev)
{
    crLink *l = ctx;
    l->stats.events++;
    if (unlikely(l->skip)) {
        l->skip--;
        l->stats.skipped++;
        return;
    }
    if (likely(l->spillCount == 0) &&
        rte_ring_sp_enqueue_elem(l->toControl, (void *)(uintptr_t)ev, sizeof *ev) == 0)
        return;
    if (unlikely(l->spillCount == CRL_SPILL)) {
        l->stats.lost++; /* the control core falls out of step: counted, reported */
        return;
    }
    l->spill[(l->spillHead + l->spillCount++) % CRL_SPILL] = *ev;
    l->stats.spilled++;
}

crLink *crlCreate(const cfgConfig *cfg, uint16_t segment, uint32_t refCap, unsigned socket,
                  const mtAllocator *alloc, char *err, size_t errlen)
{
    crLink *l = rte_zmalloc_socket("xchg-crlink", sizeof *l, 64, (int)socket);
    if (!l) {
        snprintf(err, errlen, "credit link %u: rte_zmalloc_socket failed", segment);
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof name, "cr%u_ev", segment);
    l->toControl = rte_ring_create_elem(name, sizeof(crEvent), CRL_RING, (int)socket,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
    snprintf(name, sizeof name, "cr%u_cmd", segment);
    l->toWorker = rte_ring_create_elem(name, sizeof(crCmd), CRL_RING, (int)socket,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
    l->spill = rte_zmalloc_socket("xchg-crspill", sizeof(crEvent) * CRL_SPILL, 64, (int)socket);
    crOptions o;
    crlRiskOptions(&o, cfg, segment, refCap, alloc);
    o.emit = crlEmit;
    o.emitCtx = l;
    if (l->toControl && l->toWorker && l->spill)
        l->risk = crCreate(&o);
    if (!l->risk) {
        snprintf(err, errlen, "credit link %u: %s failed (%s)", segment,
                 !l->toControl || !l->toWorker ? "rte_ring_create_elem"
                 : !l->spill                   ? "rte_zmalloc_socket"
                                               : "crCreate",
                 rte_strerror(rte_errno));
        crlDestroy(l);
        return NULL;
    }
    return l;
}

void crlDestroy(crLink *l)
{
    if (!l)
        return;
    crDestroy(l->risk);
    rte_ring_free(l->toControl);
    rte_ring_free(l->toWorker);
    rte_free(l->spill);
    rte_free(l);
}

crRisk *crlRisk(crLink *l)
{
    return l->risk;
}

static void crlFlushSpill(crLink *l)
{
    while (l->spillCount) {
        if (rte_ring_sp_enqueue_elem(l->toControl, &l->spill[l->spillHead], sizeof(crEvent)) != 0)
            return;
        l->spillHead = (l->spillHead + 1) % CRL_SPILL;
        l->spillCount--;
    }
}

int crlRoom(const crLink *l)
{
    return l->spillCount <= CRL_SPILL / 2;
}

void crlSetJournal(crLink *l, crlJournalFn *fn, void *ctx)
{
    l->journal = fn;
    l->journalCtx = ctx;
}

uint32_t crlPoll(crLink *l, gwGateway *gw, uint64_t nowNs)
{
    if (unlikely(l->spillCount))
        crlFlushSpill(l);
    crCmd cmds[CRL_BURST];
    const uint32_t n =
        rte_ring_sc_dequeue_burst_elem(l->toWorker, cmds, sizeof(crCmd), CRL_BURST, NULL);
    for (uint32_t i = 0; i < n; i++) {
        if (unlikely(l->journal && l->journal(l->journalCtx, &cmds[i], nowNs))) {
            l->stats.unjournaled++;
            continue;
        }
        if (unlikely(crlApply(l->risk, gw, &cmds[i], nowNs) != 0))
            l->stats.liquidationsNoSession++;
    }
    l->stats.commands += n;
    return n;
}

uint32_t crlEvents(crLink *l, crEvent *out, uint32_t n)
{
    return rte_ring_sc_dequeue_burst_elem(l->toControl, out, sizeof(crEvent), n, NULL);
}

int crlSend(crLink *l, const crCmd *c)
{
    return rte_ring_sp_enqueue_elem(l->toWorker, (void *)(uintptr_t)c, sizeof *c) == 0 ? 0 : -1;
}

void crlGetStats(const crLink *l, crlStats *out)
{
    *out = l->stats;
}

void crlSetSkip(crLink *l, uint64_t n)
{
    l->skip = n;
}

uint64_t crlSkip(const crLink *l)
{
    return l->skip;
}

int crlSetEmitted(crLink *l, uint64_t n)
{
    l->stats.events = n;
    if (l->skip < n) {
        l->skip = 0;
        return -1;
    }
    l->skip -= n;
    return 0;
}
