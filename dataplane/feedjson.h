/* feedjson.h -- a segment's feed counters as JSON, for the control socket's `stats`. */
#ifndef XCHG_DATAPLANE_FEEDJSON_H
#define XCHG_DATAPLANE_FEEDJSON_H

#include <jansson.h>

#include "dataplane/feedsrv.h"
#include "dataplane/histogram.h"

/* {"session", "next_sequence", "messages", "packets", ..., "requests": {...},
 * "request_latency": {...}, "snapshot_latency": {...}} (docs/operations/control-socket.md). Returns
 * a new reference, or NULL when memory runs out. */
json_t *feedStatsJson(const char *session, const fdStats *f, const fsStats *s,
                      const histLog *requestNs, const histLog *snapshotNs);

#endif
