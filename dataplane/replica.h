/* replica.h -- the replica thread: shadow copies of every component fed from the journal files, and
 * checkpoints.
 *
 * A checkpoint must capture a component's state at a known journal
 * sequence without stopping the worker that owns the live state. The
 * replica keeps a shadow of each component (a segment's gateway made with
 * the segment's options, its sends going nowhere) and applies to it, on a
 * thread of its own on the storage/control CPU at low priority, the
 * records the journal writer has made durable, read back from the files
 * (jnTail). It never touches the workers or the producer rings and never
 * blocks the writer; when it lags it catches up from the files. A
 * checkpoint (storage/checkpoint.h) is each shadow's snapshot at the
 * sequence it has applied. docs/storage/checkpoint.md describes the whole.
 *
 * Components: every segment is one (stream = segment id, apply = walApply,
 * snapshot = gwSnapshot). Another journal stream (the control core's) adds
 * its own with rpAddComponent before rpStart: a shadow state, the function
 * that applies one of its records and the one that snapshots it. */
#ifndef XCHG_DATAPLANE_REPLICA_H
#define XCHG_DATAPLANE_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "storage/checkpoint.h"
#include "storage/ckpt.h"
#include "storage/journal.h"

#define RP_MAX_COMPONENTS CK_MAX_STREAMS

/* One journaled component as the replica sees it. */
typedef struct {
    char name[32];            /* for logs: "segment 0", "control" */
    uint32_t stream;          /* journal stream id; also names its SSTable */
    char dir[512];            /* the stream's journal directory */
    const jnJournal *journal; /* its durable sequence (jnDurableSeq) */
    void *state;              /* the shadow, owned by the caller, used only by the replica */
    /* applies one record to the shadow: 0, or -1 (unknown record) */
    int (*apply)(void *state, uint16_t type, const void *payload, uint32_t len);
    /* writes the shadow's state: 0, or -1 with a reason from why() */
    int (*snapshot)(void *state, const ckptSink *sink);
    const char *(*why)(void); /* message of the last failed snapshot, may be NULL */
    uint64_t seq;             /* sequence the shadow holds at rpStart (restored), 0: empty */
    /* A captured component (apply NULL): no shadow follows its stream; its
     * owner captures its state at points it chooses and seqNow, called on
     * the replica thread at each checkpoint before snapshot, returns the
     * sequence the capture covers (0: none yet, the checkpoint goes without
     * this stream). The checkpoint waits up to a second for that sequence
     * to be durable in `journal`, else goes without it too. Its journal
     * files are not retired. */
    uint64_t (*seqNow)(void *state);
} rpComponent;

typedef struct {
    const char *root;         /* <data_dir>/checkpoints */
    int cpu;                  /* CPU to pin the thread to, -1: none */
    uint32_t intervalS;       /* periodic checkpoint every N s, 0: off */
    uint64_t everyRecords;    /* ... or after N records applied, 0: off */
    uint32_t kept;            /* complete checkpoints kept, >= 1 */
    int32_t segmentsRetained; /* covered journal files kept per stream, -1: keep every file */
    uint64_t firstId;         /* id of the next checkpoint */
} rpOptions;

/* What a checkpoint covered. */
typedef struct {
    ckManifest m;
    uint64_t bytes;
    double ms;
    uint32_t filesRetired; /* journal segment files deleted after it */
} rpResult;

typedef struct rpReplica rpReplica;

/* A replica with no component yet. NULL when memory cannot be had. */
rpReplica *rpCreate(const rpOptions *opt);

/* Adds a component (copied). Before rpStart. Returns 0, -1 when full. */
int rpAddComponent(rpReplica *r, const rpComponent *c);

/* Starts the thread: it opens a tail on each component's stream after the
 * sequence its shadow holds and follows it. Returns 0, or -1 with err
 * (the journal files the shadow needs are gone). */
int rpStart(rpReplica *r, char *err, size_t errlen);

/* Takes a checkpoint now (on the replica thread, after it applied
 * everything durable when asked) and waits for it; why ("requested",
 * "final", a static string) goes into the log line. Any thread but the
 * replica's; blocks up to a minute. Returns 0 with *res, or -1 with err. */
int rpCheckpoint(rpReplica *r, const char *why, rpResult *res, char *err, size_t errlen);

/* Counters for status: checkpoints written, failed, last id, records the
 * shadows applied. Any thread. */
typedef struct {
    uint64_t taken, failed, lastId, applied, lastMs;
    int stopped; /* the replica stopped on a journal or apply error */
} rpStats;
void rpGetStats(rpReplica *r, rpStats *st);

/* Stops the thread (a checkpoint in progress finishes first) and frees r,
 * not the components' states. NULL is a no-op. */
void rpDestroy(rpReplica *r);

#endif
