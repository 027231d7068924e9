/* ctlckpt.h -- the control core's state in checkpoints: captured on the control lcore, written by
 * the replica thread, restored at start before the control stream's tail replays.
 *
 * The control core is not a worker: it may pause between two inputs to
 * write its state (ctlStateSnapshot, dataplane/ctlstate.h) into memory,
 * which is simpler and exact where a shadow fed record by record is not
 * (a command and its drain are applied together). The replica thread
 * writes the latest capture as stream CJ_STREAM of the next checkpoint,
 * with the control-journal sequence it covers. docs/storage/checkpoint.md,
 * "The control core's checkpoint". */
#ifndef XCHG_DATAPLANE_CTLCKPT_H
#define XCHG_DATAPLANE_CTLCKPT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/ckpt.h"

typedef struct acdState acdState;
typedef struct ccMailbox ccMailbox;

/* A mailbox for acd's captures; ctlDir: its stream's journal directory
 * (the record a capture ends at is fingerprinted from it). NULL when
 * memory cannot be had. Free with ccDestroy (after the replica stopped). */
ccMailbox *ccCreate(acdState *acd, const char *ctlDir);
void ccDestroy(ccMailbox *m);

/* Control lcore, between two inputs: captures the state now (replacing a
 * capture the replica has not taken yet). Returns 0, or -1 when memory
 * cannot be had (the next checkpoint then uses the previous capture, or
 * goes without the control stream). */
int ccCapture(ccMailbox *m);

/* Control lcore, once per loop: captures when the replica asked for a
 * fresh one (after each checkpoint). Cheap otherwise. */
void ccTick(ccMailbox *m);

/* Replica thread (rpComponent.seqNow): adopts the newest capture, asks the
 * control lcore for a fresh one, and returns the control-journal sequence
 * the adopted capture covers (0: none yet). */
uint64_t ccSeqNow(void *m);

/* Replica thread (rpComponent.snapshot): the adopted capture's records
 * into sink, and one more (key 0xF0): a fingerprint of the journal record
 * the capture ends at, so that recovery refuses a checkpoint of another
 * history whose sequences happen to fit (a control journal replaced).
 * 0, or -1 when the sink refused one or that record cannot be read. */
int ccSnapshot(void *m, const ckptSink *sink);

/* Captures so far and the last one's duration (the control core's pause). */
void ccStats(const ccMailbox *m, uint64_t *captures, double *lastMs, uint64_t *lastRecords);

/* At start, before cjPrepass: restores into s (fresh from acdCreateCore,
 * nothing replayed) the control state of the newest checkpoint under root
 * that holds one, is whole, fits the control journal in ctlDir (it starts
 * at or before the covered sequence + 1 and reaches it, and the record at
 * the covered sequence has the checkpoint's fingerprint) and restores into
 * a scratch state. Prints what it did. Returns 1 when restored, 0 when no
 * checkpoint qualifies (the whole stream replays, as before), -1 with err
 * when the restore into s failed after the scratch one succeeded (s is
 * then unusable: xchgd must not start). */
int ccRecover(acdState *s, const char *root, const char *ctlDir, char *err, size_t errlen);

#endif
