/* durable.h -- xchgd's storage at start and stop: recovery by replay, journals, the storage thread.
 *
 * duOpen runs before the worker lcores start: for each market segment it
 * replays the segment's journal stream (<wal_dir>/seg-<id>/) into the
 * worker's gateway, logging progress and rate, cuts a torn tail, refuses
 * corruption unless told to recover up to it, opens the stream for
 * appending, attaches the worker's walLog (input journaling and output
 * gating, dataplane/wal.h) and starts the storage thread that writes every
 * stream. docs/storage/recovery.md describes the whole. */
#ifndef XCHG_DATAPLANE_DURABLE_H
#define XCHG_DATAPLANE_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "control/ctl.h"
#include "dataplane/worker.h"
#include "storage/journal.h"

typedef struct duStore duStore;

typedef struct {
    int recoverToCorruption; /* cut the journal at a corruption instead of refusing */
    int ringMiB;             /* producer ring per stream, MiB (0: 8) */
    jnJournal *control;      /* the control core's stream (acdRecover), written by the same
                                storage thread; NULL: none. Closed by duClose. */
    /* the workers' gateway options: the replica's shadows are made alike */
    uint32_t maxSessions, historyDepth; /* 0: 64, 4096 */
    uint32_t tradingDay;
    /* the control core (dataplane/accounts.h): its state joins every
     * checkpoint as stream CJ_STREAM (dataplane/ctlckpt.h); NULL: none */
    struct acdState *acd;
} duOptions;

/* Recovers every segment into workers[0..n) and starts journaling. Prints
 * what recovery did on stdout. Returns NULL with a message in err (an
 * unwritable directory, corruption with file and offset, an I/O error) on
 * failure: xchgd must not start then. */
/* Journal i of the store: 0..n-1 the segments, n the control stream (if
 * any); NULL past the end. For the metrics (control/jnmetrics.h). */
jnJournal *duJournal(const duStore *d, uint32_t i);

duStore *duOpen(const cfgConfig *cfg, wkWorker **workers, uint32_t n, const duOptions *opt,
                char *err, size_t errlen);

/* Control lcore, once per control loop, between the control core's
 * inputs: captures its state when the replica asked for a fresh capture
 * (dataplane/ctlckpt.h). Cheap otherwise; NULL is a no-op. */
void duControlTick(duStore *d);

/* 1 when some segment's journal held records: the state was recovered, so
 * start-up must not reset trading states. */
int duRecovered(const duStore *d);

/* The next session id the control plane hands out: one above every id in
 * the journals (1 when there is none). */
uint32_t duNextSessionId(const duStore *d);

/* Calls fn for every session the journals brought back that is not
 * disabled (kicked), with its segment index: for state kept outside the
 * segments that follows sessions (the XDP allowlist). Before the workers
 * run. */
typedef void duSessionFn(void *ctx, uint32_t segIndex, const gwSessionInfo *s);
void duForEachSession(const duStore *d, wkWorker **workers, duSessionFn *fn, void *ctx);

/* After the workers stopped: makes everything durable, stops the storage
 * thread, takes the final checkpoint (when duOpen had succeeded: a
 * graceful stop), stops the replica, closes the journals and frees d.
 * NULL is a no-op. */
void duClose(duStore *d);

/* Registers the control command storage.checkpoint (docs/control.md).
 * Returns 0, -1 when the name is taken. */
int duRegister(ctlServer *s, duStore *d);

#endif
