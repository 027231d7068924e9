/* acct_int.h -- the acctBook's inside, shared by account.c, instrument.c, settle.c and acctckpt.c
 * only. */
#ifndef XCHG_CONTROL_ACCT_INT_H
#define XCHG_CONTROL_ACCT_INT_H

#include "control/account.h"
#include "control/settle.h"

#define ACCT_NONE UINT32_MAX

/* Open addressing u64 -> u32, linear probing, no deletion (the book only
 * grows during a day; settlement rebuilds the order map). */
typedef struct {
    uint64_t *keys;
    uint32_t *vals; /* ACCT_NONE = empty slot */
    uint32_t cap, n;
} acctMap;

typedef struct {
    uint32_t account; /* account index */
    uint16_t instrument;
    uint32_t next;        /* next position of the same account */
    int64_t frozenMargin; /* pending opens on this instrument, for 1002 */
    posPosition p;
} acctPosSlot;

struct acctBook {
    acctLimits lim;
    acctInstrument *ins;
    uint32_t nIns, capIns;
    acctAccount *acc;
    uint32_t nAcc, capAcc;
    acctMap accMap; /* account id -> index */
    acctPosSlot *pos;
    uint32_t nPos, capPos;
    acctMap posMap; /* account index << 16 | instrument -> slot */
    acctOrder *ord;
    uint32_t nOrd, capOrd;
    acctMap ordMap; /* order id -> index */
    acctTrade *trd;
    uint32_t nTrd, capTrd;
    acctLiquidation *liq;
    uint32_t nLiq, capLiq;
    acctTotals tot;
    /* settlement history (settle.c) */
    settleResult *hist;
    uint32_t nHist, capHist;
    settleAccount *detail; /* every result's accounts, in result order */
    uint32_t nDetail, capDetail;
};

int acctMapPut(acctMap *m, uint64_t key, uint32_t val);
uint32_t acctMapGet(const acctMap *m, uint64_t key);
void acctMapFree(acctMap *m);
int acctGrow(void **p, uint32_t *cap, uint32_t need, size_t size);
acctAccount *acctFind(acctBook *b, uint32_t id);
acctPosSlot *acctPosSlotOf(acctBook *b, uint32_t accIndex, uint16_t instrument, int create);

#endif
