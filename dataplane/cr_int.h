/* cr_int.h -- the credit state's private structures, shared by credit.c and crsnap.c (snapshots).
 *
 * Not an API: only the credit module's own files include it. */
#ifndef XCHG_DATAPLANE_CR_INT_H
#define XCHG_DATAPLANE_CR_INT_H

#include <stdint.h>

#include "dataplane/credit.h"

#define CR_NONE UINT32_MAX

typedef struct {
    uint32_t id; /* 0 = empty slot */
    uint8_t frozen, blocked;
    int64_t credit;
    int64_t concCap;
} crAccount;

typedef struct {
    uint32_t key; /* account slot << 12 | book, + 1; 0 = empty */
    uint32_t acct;
    uint16_t book;
    int64_t frozenMargin;
    posPosition p;
} crPos;

typedef struct {
    uint8_t live, side, offset, priceType;
    uint16_t book;
    uint32_t acct, pos;
    uint32_t leaves;
    uint32_t frozenToday, frozenYd;
    int64_t price; /* the freeze price: the limit, or the band's edge for MARKET */
    int64_t frozenMargin, frozenCommission;
    uint64_t orderId;
} crOrder;

typedef struct {
    uint8_t used;
    uint32_t account;
    crParkedOrder po;
} crPark;

struct crRisk {
    const mtAllocator *alloc;
    size_t bytes;
    uint16_t segment;
    uint16_t nBooks;
    cfgInstrument *ins; /* by book */
    int64_t maxNotional;
    crAccount *acc;
    uint32_t accMask, accCount, accMax;
    crPos *pos;
    uint32_t posMask, posCount, posMax;
    crOrder *ord;
    uint32_t refCap;
    crPark park[CR_MAX_PARK];
    crEmitFn *emit;
    void *emitCtx;
    crStats stats;
};

#endif
