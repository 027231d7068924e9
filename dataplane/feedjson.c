/* feedjson.c -- a segment's feed counters as JSON (see feedjson.h). */
#include "dataplane/feedjson.h"

#include <stdio.h>

static json_t *feedRequestsJson(const fsStats *s)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
        (json_int_t)s->requests, "malformed", (json_int_t)s->malformed, "wrong_session",
        (json_int_t)s->wrongSession, "rate_limited", (json_int_t)s->rateLimited, "not_yet_sent",
        (json_int_t)s->notYetSent, "gone", (json_int_t)s->gone, "answered", (json_int_t)s->answered,
        "snapshots", (json_int_t)s->snapshots, "snapshot_failed", (json_int_t)s->snapshotFailed,
        "retrans_packets", (json_int_t)s->retransPackets, "retrans_messages",
        (json_int_t)s->retransMessages, "snapshot_packets", (json_int_t)s->snapshotPackets,
        "snapshot_messages", (json_int_t)s->snapshotMessages);
    if (!o)
        return NULL;
    json_object_set_new(o, "snapshot_busy", json_integer((json_int_t)s->snapshotBusy));
    json_object_set_new(o, "archive_forwarded", json_integer((json_int_t)s->archiveForwarded));
    json_object_set_new(o, "archive_busy", json_integer((json_int_t)s->archiveBusy));
    json_object_set_new(o, "archive_lost", json_integer((json_int_t)s->archiveLost));
    const fsArchiveStats *a = &s->archive;
    json_object_set_new(o, "archive",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "answered",
                                  (json_int_t)a->answered, "gone", (json_int_t)a->gone,
                                  "not_durable", (json_int_t)a->notDurable, "errors",
                                  (json_int_t)a->errors, "dropped", (json_int_t)a->dropped,
                                  "packets", (json_int_t)a->packets, "messages",
                                  (json_int_t)a->messages, "first_sequence", (json_int_t)a->first,
                                  "next_sequence", (json_int_t)a->next));
    return o;
}

static json_t *feedLatencyJson(const histLog *h)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)h->total, "p50_ns",
                     (json_int_t)histQuantile(h, 1, 2), "p99_ns",
                     (json_int_t)histQuantile(h, 99, 100), "max_ns", (json_int_t)h->max);
}

json_t *feedStatsJson(const char *session, const fdStats *f, const fsStats *s,
                      const histLog *requestNs, const histLog *snapshotNs)
{
    json_t *types = json_object();
    if (!types)
        return NULL;
    for (int i = 0; i < 26; i++)
        if (f->byType[i]) {
            char k[2] = {(char)('A' + i), 0};
            json_object_set_new(types, k, json_integer((json_int_t)f->byType[i]));
        }
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "session",
                  session, "next_sequence", (json_int_t)f->nextSequence, "messages",
                  (json_int_t)f->messages, "by_type", types, "packets", (json_int_t)f->packets,
                  "heartbeats", (json_int_t)f->heartbeats, "end_of_session",
                  (json_int_t)f->endOfSession, "bytes", (json_int_t)f->bytes, "unknown_order",
                  (json_int_t)f->unknownOrder, "unexpected", (json_int_t)f->unexpected,
                  "price_clipped", (json_int_t)f->priceClipped, "orders_open", (int)f->ordersOpen);
    if (!o)
        return NULL;
    json_object_set_new(o, "requests", feedRequestsJson(s));
    json_object_set_new(o, "request_latency", feedLatencyJson(requestNs));
    json_object_set_new(o, "snapshot_latency", feedLatencyJson(snapshotNs));
    return o;
}
