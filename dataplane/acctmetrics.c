/* acctmetrics.c -- the accounts' metrics source: accounts at risk and the ledger's counters.
 *
 * Rendered on the control lcore, which owns the book and the ledger, so it
 * reads them directly. Counting the accounts over the reject and
 * liquidation levels computes every account's figures once per scrape
 * (acctCompute, no allocation): O(accounts), the same work as one risk
 * scan, cheap next to a scrape's interval. */
#include <stddef.h>

#include "control/metrics.h"
#include "dataplane/accounts.h"

typedef struct {
    const char *name, *help;
    size_t off;
} amCounter;

static int amRender(void *ctx, promWriter *w)
{
    acdState *s = ctx;
    const acctLimits *lim = acctGetLimits(s->book);
    uint64_t reject = 0, liquidation = 0;
    for (uint32_t k = 0; k < acctCount(s->book); k++) {
        acctFigures f;
        acctCompute(s->book, acctAt(s->book, k), &f);
        /* the book's own tests: opening orders refused above the reject
         * level, liquidation at or over its level (control/account.c) */
        reject += f.riskRatio > (int64_t)lim->rejectRatio;
        liquidation += f.riskRatio >= (int64_t)lim->liquidationRatio;
    }
    promFamily(w, "xchg_accounts", PROM_GAUGE, "accounts open in the book");
    promSampleU64(w, NULL, 0, acctCount(s->book));
    promFamily(w, "xchg_accounts_at_risk", PROM_GAUGE,
               "accounts whose risk ratio is over the level: reject (opening orders refused), "
               "liquidation (force-closed)");
    promLabel l = {"level", "reject"};
    promSampleU64(w, &l, 1, reject);
    l.value = "liquidation";
    promSampleU64(w, &l, 1, liquidation);

    lgStats st;
    lgGetStats(s->lg, &st);
    static const amCounter c[] = {
        {"xchg_ledger_events_total", "credit events drained from the workers' rings",
         offsetof(lgStats, events)},
        {"xchg_ledger_fills_applied_total", "fills applied to accounts", offsetof(lgStats, fills)},
        {"xchg_ledger_orders_total", "order events applied to accounts", offsetof(lgStats, orders)},
        {"xchg_ledger_cancels_total", "cancel events applied to accounts",
         offsetof(lgStats, cancels)},
        {"xchg_ledger_topups_total", "credit-line top-ups sent to workers",
         offsetof(lgStats, topups)},
        {"xchg_ledger_grants_total", "credit lines granted to workers", offsetof(lgStats, grants)},
        {"xchg_ledger_reclaims_total", "credit-line reclaims sent to workers",
         offsetof(lgStats, reclaims)},
        {"xchg_ledger_liquidations_total", "force liquidations decided",
         offsetof(lgStats, liquidations)},
        {"xchg_ledger_mismatches_total",
         "worker events the book refused (worker and control disagree)",
         offsetof(lgStats, mismatches)},
        {"xchg_ledger_send_failures_total", "commands a full ring refused (retried)",
         offsetof(lgStats, sendFailed)},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        promFamily(w, c[i].name, PROM_COUNTER, c[i].help);
        promSampleU64(w, NULL, 0, *(const uint64_t *)((const char *)&st + c[i].off));
    }
    promFamily(w, "xchg_ledger_fill_lag_seconds", PROM_HISTOGRAM,
               "worker fill event to account update");
    promHistLog(w, NULL, 0, &st.lagNs, 1000000000ULL);
    return w->overflow || w->invalid ? -1 : 0;
}

int acdRegisterMetrics(acdState *s)
{
    return metricsAddSource("accounts", amRender, s);
}
