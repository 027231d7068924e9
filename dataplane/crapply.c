/* crapply.c -- a segment's credit commands and risk options, shared by crlPoll and replay. */
#include "dataplane/crlink.h"

#define CRL_MAX_ACCOUNTS 65536 /* = ACD_MAX_ACCOUNTS (dataplane/accounts.h) */

void crlRiskOptions(crOptions *o, const cfgConfig *cfg, uint16_t segment, uint32_t refCap,
                    const mtAllocator *alloc)
{
    *o = (crOptions){.cfg = cfg,
                     .segment = segment,
                     .maxAccounts = CRL_MAX_ACCOUNTS,
                     .maxPositions = 4 * CRL_MAX_ACCOUNTS,
                     .refCap = refCap,
                     .allocator = alloc};
}

int crlApply(crRisk *risk, gwGateway *gw, const crCmd *c, uint64_t nowNs)
{
    crParkedOrder po;
    if (c->type == CR_CMD_CANCEL) {
        gwAdminCancel(gw, (uint64_t)c->amount, nowNs);
    } else if (c->type == CR_CMD_CLOSE) {
        const xoeNewOrder o = {.instrument = c->book,
                               .side = c->side,
                               .offset = c->offset,
                               .clOrdId = UINT64_MAX - c->seq, /* marks a liquidation */
                               .qty = c->parked,
                               .priceType = XOE_MARKET,
                               .timeCondition = XOE_IOC,
                               .volumeCondition = XOE_VOL_ANY};
        if (gwAdminOrder(gw, c->account, &o, nowNs) != 0)
            return -1;
    } else if (risk && crApply(risk, c, &po, nowNs)) {
        gwResume(gw, po.session, &po.order, nowNs);
    }
    return 0;
}
