/* wal.h -- a market segment's input journal: journaling in order, output gating, replay, state
 * hash.
 *
 * The worker lcore is the single writer of its segment's state, and that
 * state is a deterministic function of the inputs it applies (DESIGN.md
 * §9). This module journals each of those inputs, before it is applied,
 * as a record of the segment's journal stream (storage/journal.h): the
 * order-entry datagrams (with their source address and arrival time), the
 * timer calls that act (heartbeats, timeouts), and the control requests
 * that change state (sessions, trading states, shutdown). Replaying the
 * stream into a fresh gateway with walReplay rebuilds the same state and
 * the same reports; walStateHash proves it.
 *
 * Output gating: every frame the gateway sends passes walHold. In sync
 * mode it is held, tagged with the journal's last sequence, until the
 * storage thread reports that sequence durable (walPoll releases it); in
 * async mode it goes out at once. docs/storage/recovery.md is the
 * normative description, with what a crash can lose in each mode.
 *
 * Producer side (worker lcore): no system call, no allocation, no lock. */
#ifndef XCHG_DATAPLANE_WAL_H
#define XCHG_DATAPLANE_WAL_H

#include <stdint.h>

#include "dataplane/gateway.h"
#include "storage/journal.h"

/* Record types of a segment stream. Payloads below, little-endian, every
 * one starting with the input's time (the gateway's nowNs). 1..31 are the
 * segment's own inputs; 32..63 are kept for the control core's inputs that
 * a worker applies (the accounts issue's credit grants and admin orders:
 * docs/storage/recovery.md, "Adding a record type"). */
typedef enum {
    WAL_DATAGRAM = 1,       /* walDatagramRec + the UDP payload */
    WAL_TIMER = 2,          /* walTimeRec: gwOnTimer when a deadline is due */
    WAL_SESSION_ADD = 3,    /* walSessionAddRec */
    WAL_SESSION_KICK = 4,   /* walSessionRec */
    WAL_SET_STATE = 5,      /* walSetStateRec */
    WAL_SHUTDOWN = 6,       /* walTimeRec: gwShutdown */
    WAL_START = 7,          /* walTimeRec: a start after recovery, logons open */
    WAL_ADMIN_CANCEL = 8,   /* walAdminCancelRec */
    WAL_SESSION_ENABLE = 9, /* walSessionRec */
    WAL_STORAGE = 10,       /* walStorageRec: disk nearly full, orders get 5002 */
    /* the control core's inputs, applied where crlPoll / wkServe apply them */
    WAL_CREDIT = 32,         /* walCreditRec: account/grant, reclaim, top-up done (the parked
                                order resumes), instrument rates, daily roll (crApply) */
    WAL_LIQ_CANCEL = 33,     /* walCreditRec: force-liquidation cancel (gwAdminCancel) */
    WAL_LIQ_ORDER = 34,      /* walCreditRec: force-liquidation closing order (gwAdminOrder) */
    WAL_SET_THROTTLE = 35,   /* walThrottleRec: gwSetThrottle (SIGHUP reload) */
    WAL_INSTRUMENT_ADD = 36, /* walInstrumentAddRec: gwAddInstrument (instrument.add) */
    WAL_TYPE_MAX = 63
} walType;

typedef struct {
    uint64_t nowNs;
    uint32_t ip; /* source, host order */
    uint16_t port;
    uint16_t len; /* payload bytes that follow */
} walDatagramRec;

typedef struct {
    uint64_t nowNs;
} walTimeRec;

typedef struct {
    uint64_t nowNs;
    uint32_t sessionId, account, allowedIp, reserved;
    uint8_t token[XOE_TOKEN_SIZE];
} walSessionAddRec;

typedef struct {
    uint64_t nowNs;
    uint32_t sessionId, reserved;
} walSessionRec;

typedef struct {
    uint64_t nowNs;
    uint16_t instrument;
    uint8_t state;
    uint8_t reserved[5];
} walSetStateRec;

typedef struct {
    uint64_t nowNs;
    uint64_t orderId;
} walAdminCancelRec;

typedef struct {
    uint64_t nowNs;
    uint16_t code; /* what orders are answered (5002), 0: normal again */
    uint16_t reserved[3];
    int32_t sysErrno; /* why (ENOSPC) */
    uint32_t reserved2;
} walStorageRec;

/* A control-core command as the worker dequeued it (dataplane/credit.h). */
typedef struct {
    uint64_t nowNs;
    crCmd cmd;
} walCreditRec;

typedef struct {
    uint64_t nowNs;
    uint32_t msgsPerSec, reserved;
} walThrottleRec;

/* An instrument added at run time: the whole definition, so a replay (and
 * xchg-replay, which reads only the config file) re-creates the book
 * without the control core. */
typedef struct {
    uint64_t nowNs;
    cfgInstrument ins;
} walInstrumentAddRec;

/* The record type of a control-core command (WAL_CREDIT..WAL_LIQ_ORDER). */
walType walCreditType(const crCmd *c);

/* What becomes of an input offered to the journal. */
typedef enum {
    WAL_APPLY = 0, /* apply it: journaled, or not needing it, or storage failed */
    WAL_SKIP = 1   /* the journal has no room now: leave it unapplied */
} walVerdict;

/* Frames out of the gate: release sends one, drop frees one never sent. */
typedef void walOutFn(void *ctx, void *frame);

typedef struct {
    uint64_t records;          /* inputs journaled */
    uint64_t skipped;          /* inputs left unapplied for want of ring room */
    uint64_t held, released;   /* frames through the gate */
    uint64_t gateFull;         /* frames dropped because the gate was full */
    uint64_t droppedAtFailure; /* frames of inputs that never became durable, and
                                  resends refused after the storage failed */
    uint64_t heldMax;          /* most frames held at once */
} walCounters;

typedef struct walLog walLog;

/* Creates the log of a segment: journal j (opened by the caller, its writer
 * run by a storage thread), the gateway it feeds, sync (1) or async (0)
 * gating, a gate of gateSlots frames (power of two). Starts muted (see
 * walSetMuted). Returns NULL when memory cannot be had. */
walLog *walCreate(jnJournal *j, gwGateway *gw, int sync, uint32_t gateSlots,
                  const mtAllocator *alloc);

/* Frees the log (not the journal, not the frames still held: walPoll them
 * out first). NULL is a no-op. */
void walDestroy(walLog *w);

/* Where frames go out of the gate. */
void walSetOutput(walLog *w, walOutFn *release, walOutFn *drop, void *ctx);

/* Muted: frames are not produced at all (walMuted is checked by the send
 * callback before it builds a frame). On during replay. */
void walSetMuted(walLog *w, int muted);
int walMuted(const walLog *w);

/* ---- worker side ---- */

/* 1 when the worker may read another burst of `burstBytes` of input: the
 * journal ring has room for it and the gate is at most half full. */
int walRoom(walLog *w, uint32_t burstBytes);

/* An order-entry datagram about to be given to gwOnDatagram. Frames that
 * xoeFrameParse refuses change no state and are not journaled. */
walVerdict walDatagram(walLog *w, gwAddr from, const uint8_t *data, uint16_t len, uint64_t nowNs);

/* walDatagram for a datagram the caller has already parsed with
 * xoeFrameParse (XOE_OK) and is about to give to gwOnDatagramParsed: the
 * same record, without parsing it a second time. Same verdicts. */
walVerdict walDatagramParsed(walLog *w, gwAddr from, const uint8_t *data, uint16_t len,
                             uint64_t nowNs);

/* The worker's timer is about to call gwOnTimer: journaled when a deadline
 * is due (the call acts), else nothing to do. */
walVerdict walTimer(walLog *w, uint64_t nowNs);

/* A control input about to be applied (type and payload as above). After a
 * storage failure it is refused: WAL_SKIP, the caller answers 5002; the
 * caller decides for WAL_SHUTDOWN. */
walVerdict walControl(walLog *w, walType type, const void *payload, uint32_t len);

/* A frame the gateway sends: out now (async, storage failed, or its inputs
 * are durable) or held until they are. resend: the frame carries the
 * XOE RETRANSMIT flag (a replay from the session's history); after a
 * storage failure such frames are dropped, since the history may hold
 * reports whose inputs never became durable. */
void walHold(walLog *w, void *frame, int resend);

/* Publishes what was journaled; when the journal cannot make its next
 * segment (disk full) journals and applies WAL_STORAGE, so orders are
 * answered 5002 from then on, deterministically, while the current segment
 * still takes the inputs; notices a hard storage failure (then drops the
 * frames whose inputs will never be durable: the gate stays in order, no
 * report of a lost input leaves); releases the frames that became durable.
 * Call every loop turn and after each burst. Returns frames released. */
uint32_t walPoll(walLog *w);

/* Frames held now. */
uint32_t walHeld(const walLog *w);

/* The journal's last sequence and durable sequence. */
void walPosition(const walLog *w, uint64_t *lastSeq, uint64_t *durableSeq);

/* The journal writer's counters (jnGetStats). Any thread. */
void walJournalStats(const walLog *w, jnStats *st);

/* 0, or the errno with which the next segment could not be made (the
 * segment answers orders 5002). */
int walSpaceError(const walLog *w);

/* 0, or the errno that stopped the journal. */
int walStatus(const walLog *w);

void walGetCounters(const walLog *w, walCounters *out);

/* ---- replay and state ---- */

/* Applies one journaled input to gw. Returns 0, or -1 for a record this
 * version does not know or whose length is wrong. */
int walApply(gwGateway *gw, uint16_t type, const void *payload, uint32_t len);

typedef struct {
    uint64_t records, firstSeq, lastSeq;
    uint64_t ns;           /* time the replay took */
    uint32_t maxSessionId; /* highest session id added (the id counter) */
    jnReadReport read;     /* the reader's findings (torn tail, corruption) */
} walReplayReport;

/* Called every `every` records during replay, for progress logs. */
typedef void walProgressFn(void *ctx, const walReplayReport *sofar);

/* Replays stream `stream` of dir into gw from its start. flags: JN_RD_*
 * (JN_RD_REPAIR cuts a torn tail; JN_RD_STOP_AT_BAD stops at corruption
 * instead of failing). A missing directory is an empty stream. Returns 0,
 * or -1 with *err (corruption with file and offset, an unknown record). */
int walReplay(const char *dir, uint32_t stream, unsigned flags, gwGateway *gw,
              walProgressFn *progress, void *ctx, walReplayReport *rep, jnError *err);

/* As walReplay, for a gateway already holding the state up to afterSeq
 * (restored from a checkpoint): records <= afterSeq are read and checked
 * but not applied. Fails (JN_ESEQ) when the stream's files start after
 * afterSeq + 1. rep counts the applied records only. */
int walReplayFrom(const char *dir, uint32_t stream, unsigned flags, uint64_t afterSeq,
                  gwGateway *gw, walProgressFn *progress, void *ctx, walReplayReport *rep,
                  jnError *err);

/* 64-bit FNV-1a hash of the segment's state: every session (id, account,
 * source rule, state, bound address, inbound and outbound sequences), every
 * instrument's trading state and resting orders in priority order (id, ref,
 * account, price, quantities, side, time condition) and the matcher's id
 * counters (orders accepted, fills); the books are the first instrumentCount
 * and any instrument.add defined beyond them. Counters of traffic and heartbeat
 * timing are not state. Not for the hot path (walks every order). */
uint64_t walStateHash(const gwGateway *gw, uint16_t instrumentCount);

#endif
