/* gwsnap.h -- a market segment's state (gateway, matcher, credit) as checkpoint records and back.
 *
 * gwSnapshot writes everything that determines a segment's future
 * behaviour and outputs -- the gateway's sessions (tokens, sequences,
 * history, duplicate answers, throttle, timers), its order refs, the
 * matcher's books with their resting orders in priority order and its id
 * counters, and the credit state of gwRisk(gw) -- as key-value records
 * into a ckptSink (storage/ckpt.h). gwRestore reads them back, in
 * ascending key order, into a gateway freshly made by gwCreate with the
 * same gwOptions (and, when it has one, a fresh crRisk made with the same
 * crOptions) to which nothing has been applied yet. The restored segment
 * then behaves exactly as the snapshotted one: same walStateHash, same
 * output frames for the same following inputs. The record layouts are in
 * docs/storage/checkpoint.md, "Component records".
 *
 * Neither runs on a worker lcore: gwSnapshot reads a gateway no other
 * thread is changing (the replica's shadow gateway) and allocates;
 * gwRestore runs at start before the lcores launch. */
#ifndef XCHG_DATAPLANE_GWSNAP_H
#define XCHG_DATAPLANE_GWSNAP_H

#include "dataplane/gateway.h"
#include "storage/ckpt.h"

/* Writes the segment's state into sink. Deterministic: the same state gives
 * the same records. Must be called between inputs (after gwFlush: no
 * frame pending). Returns 0, or -1 when the sink refused a record, memory
 * could not be had or a frame is pending (gwSnapError says which). */
int gwSnapshot(const gwGateway *gw, const ckptSink *sink);

/* Rebuilds the state gwSnapshot wrote into gw, fresh from gwCreate with the
 * same options. Returns 0, or -1 with gwSnapError naming the record and
 * why (truncated or malformed value, unknown record kind, keys out of
 * order or repeated, counts that do not match, a snapshot of a segment
 * with other options, a damaged source). Never crashes on bad records.
 * After -1 gw is in an unspecified state: destroy it. */
int gwRestore(gwGateway *gw, const ckptSource *src);

/* The message of the last failed gwSnapshot or gwRestore of the calling
 * thread ("" when none failed). Valid until that thread's next call. */
const char *gwSnapError(void);

#endif
