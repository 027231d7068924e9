/* crsnap.h -- the credit state (crRisk) as snapshot records and back; used by dataplane/gwsnap.c.
 *
 * Not an API of its own: gwSnapshot/gwRestore (dataplane/gwsnap.h) call it
 * for gwRisk(gw). Layouts in docs/storage/checkpoint.md. */
#ifndef XCHG_DATAPLANE_CRSNAP_H
#define XCHG_DATAPLANE_CRSNAP_H

#include "dataplane/credit.h"
#include "dataplane/snapcodec.h"

/* What a restore has seen so far, for the count checks at the end. */
typedef struct {
    int header; /* the SNAP_CREDIT record was read */
    uint32_t declAcc, declPos, declOrd, declPark;
    uint32_t acc, pos, ord, park, ins;
} crRestoreState;

/* Writes r's records (kinds SNAP_CREDIT..SNAP_CR_PARK) to o. 0 or -1 with
 * o->err set. */
int crSnapshotTo(const crRisk *r, snapOut *o);

/* Restores one record of kind SNAP_CREDIT..SNAP_CR_PARK into r, fresh from
 * crCreate. 0, or -1 with why (at most 256 bytes) set. */
int crRestoreRecord(crRisk *r, crRestoreState *st, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen, char *why);

/* After the last record: 0 when the counts declared match what came. */
int crRestoreFinish(const crRisk *r, const crRestoreState *st, char *why);

#endif
