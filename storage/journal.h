/* journal.h -- write-ahead journal: one stream of sequenced records per component.
 *
 * A stream lives in its own directory as preallocated segment files
 * (seg-<index>.jnl, default 64 MiB each). docs/storage/journal.md gives the
 * byte layouts, the durability choice and the recovery rules.
 *
 * Two sides, two threads:
 *  - the producer (a worker lcore or the control core) reserves records in a
 *    preallocated single-producer/single-consumer byte ring and publishes
 *    them in bursts. It makes no system call, allocates nothing, takes no
 *    lock and never waits: a full ring or a failed writer makes jnReserve
 *    return NULL. It learns what is on disk from jnDurableSeq (an acquire
 *    load) and jnStatus.
 *  - the writer (a storage thread) drains the ring into batches, writes each
 *    batch with io_uring and makes it durable (group commit), rotates
 *    segments, and publishes the highest durable sequence.
 * Sequences are assigned by the journal: consecutive, starting where the
 * stream left off. The reader API walks a stream directory at recovery,
 * checks every CRC and the sequence continuity, cuts a torn tail and
 * reports corruption with file and offset. */
#ifndef XCHG_STORAGE_JOURNAL_H
#define XCHG_STORAGE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/histogram.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error classes in jnError.code. */
enum {
    JN_OK = 0,
    JN_EIO = 1,      /* a system call failed: jnError.sysErrno */
    JN_ECONFIG = 2,  /* invalid jnConfig */
    JN_EHEADER = 3,  /* segment header bad (magic, version, CRC, index) */
    JN_ESTREAM = 4,  /* segment belongs to another stream */
    JN_ECORRUPT = 5, /* a damaged record with durable records after it */
    JN_ESEQ = 6,     /* sequence gap or missing segment file */
    JN_ETORN = 7     /* jnOpen: the stream ends in an unrepaired torn tail */
};

#define JN_PATH_MAX 512

/* What went wrong and where. msg is complete on its own, e.g.
 * "journal /d/seg-0000000002.jnl: offset 8192: record CRC mismatch". */
typedef struct {
    int code;               /* JN_* */
    int sysErrno;           /* errno for JN_EIO, else 0 */
    char file[JN_PATH_MAX]; /* file concerned, "" if none */
    uint64_t offset;        /* byte offset in file, UINT64_MAX if none */
    char msg[JN_PATH_MAX + 256];
} jnError;

/* How a batch is made durable (docs/storage/journal.md, "Durability"). */
typedef enum {
    JN_SYNC_DIRECT = 0,   /* O_DIRECT write linked to an fdatasync (default) */
    JN_SYNC_DSYNC = 1,    /* O_DIRECT|O_DSYNC write, one operation per commit */
    JN_SYNC_FDATASYNC = 2 /* buffered write linked to an fdatasync */
} jnSyncMode;

typedef struct {
    const char *dir;        /* stream directory, created (with parents) if missing */
    uint32_t stream;        /* stream id written in every segment header */
    uint64_t firstSeq;      /* 0: continue after the records in dir (1 if none) */
    uint64_t segmentBytes;  /* segment file size, multiple of 4096 (64 MiB) */
    uint32_t ringBytes;     /* producer ring, power of two (8 MiB) */
    uint32_t maxBatchBytes; /* record bytes per commit at most (1 MiB) */
    uint32_t maxPayload;    /* largest record payload accepted (65536) */
    jnSyncMode sync;        /* JN_SYNC_DIRECT */
    int prefill;            /* 1: zero-fill segments before use (1) */
    uint32_t readySegments; /* segments prepared by jnOpen, >= 2 (2) */
    uint32_t idleSleepUs;   /* jnWriterMain back-off ceiling when idle; 0 = spin (50) */
    int spinOnIo;           /* jnWriterMain spins, not sleeps, while a commit is in
                             * flight: only with cores to spare for the kernel (0) */
    uint32_t commitGapUs;   /* least time between the starts of two commits, unless a
                             * batch is half full: with nobody waiting for durability
                             * (async) a trickle of records then costs one fdatasync
                             * a gap, not one each; 0 = commit at once (0) */
} jnConfig;

/* Fills c with the defaults given in the comments of jnConfig (dir NULL,
 * stream 0). */
void jnConfigDefaults(jnConfig *c);

typedef struct jnJournal jnJournal;

/* Opens the stream in cfg->dir for appending. Creates the directory if
 * missing; refuses an unwritable one ("journal D: directory not writable:
 * <strerror>").
 * Unused preallocated segments left by a previous run are removed. The last
 * written segment must end cleanly: a torn tail must be cut first with the
 * reader (JN_RD_REPAIR), else JN_ETORN. With cfg->firstSeq non-zero and
 * records present, firstSeq must be the last sequence + 1 (JN_ESEQ).
 * Prepares cfg->readySegments segment files (zero-filled when prefill), so
 * it may take tens of milliseconds. Returns NULL with *err filled on
 * failure. Not for the hot path. */
jnJournal *jnOpen(const jnConfig *cfg, jnError *err);

/* Closes the journal and frees it. Records not yet durable are dropped: stop
 * the writer (jnWriterStop + join, or jnFlush) first. Removes segment files
 * that were prepared but never written. NULL is a no-op. */
void jnClose(jnJournal *j);

/* ---- producer side: one thread, no syscalls, no allocation, no waiting ---- */

/* Reserves a record of len payload bytes and type; returns where to write
 * the payload (8-byte aligned, len bytes, valid until jnPublish) and stores
 * its sequence in *seq. The record is invisible to the writer until
 * jnPublish. Returns NULL, reserving nothing, when the ring has no room,
 * len > maxPayload, or the writer has failed (jnStatus != 0). Records are
 * never split across the ring's end. */
void *jnReserve(jnJournal *j, uint16_t type, uint32_t len, uint64_t *seq);

/* 1 if records of `bytes` bytes in all (each record takes 24 header bytes
 * plus its payload rounded up to 8) can be reserved now, whatever the ring's wrap point, else 0.
 * Producer thread; no syscall. For a producer that checks for room once
 * per burst and leaves input unread rather than drop it. */
int jnRoom(jnJournal *j, uint32_t bytes);

/* Reserve + copy: appends one record. Returns its sequence, or 0 on the
 * conditions under which jnReserve returns NULL. */
uint64_t jnAppend(jnJournal *j, uint16_t type, const void *payload, uint32_t len);

/* Makes every record reserved so far visible to the writer (one release
 * store). Call once per burst. */
void jnPublish(jnJournal *j);

/* Highest sequence on stable storage (acquire load; any thread). Every
 * record with a sequence <= this survives a crash. */
uint64_t jnDurableSeq(const jnJournal *j);

/* Last sequence reserved by the producer (producer thread only); 0 if none
 * since open and the stream was empty. */
uint64_t jnLastSeq(const jnJournal *j);

/* 0 while the journal accepts records, else the errno that stopped the
 * writer (ENOSPC: disk full; EIO or another errno: write or sync failed).
 * Once non-zero it stays so; records durable by then stay durable. Any
 * thread (acquire load). */
int jnStatus(const jnJournal *j);

/* 0, or the errno (ENOSPC: disk full) with which the writer failed to
 * create the next segment file. The journal still takes records until the
 * current segment is full, then fails with that errno: a producer that
 * sees it has the rest of the segment to wind down in (xchgd rejects new
 * orders with 5002 from then on). Any thread (acquire load). */
int jnSpareError(const jnJournal *j);

/* Human-readable reason for a non-zero jnStatus ("" while 0). */
const char *jnStatusMessage(const jnJournal *j);

/* Largest payload jnReserve accepts. */
uint32_t jnMaxPayload(const jnJournal *j);

/* ---- writer side: one thread (a storage thread) ---- */

/* One non-blocking step of the writer: reaps finished I/O, publishes the
 * durable sequence, drains the ring into the next batch, submits it, rotates
 * segments and prepares the next one. Returns 1 if it made progress, 0 if
 * there was nothing to do, -1 if the journal has failed (jnStatus). */
int jnWriterPoll(jnJournal *j);

/* Blocks until an I/O in flight completes or timeoutUs passes (at once if
 * no I/O is in flight). For writer loops that must not spin. */
void jnWriterWait(jnJournal *j, uint32_t timeoutUs);

/* Drives the writer until every published record is durable. Returns 0, or
 * -1 if the journal failed (jnStatus), once the writes that were in flight
 * have finished, so jnDurableSeq is final. For tests, tools and shutdown. */
int jnFlush(jnJournal *j);

/* pthread entry point (arg: the jnJournal). Polls until jnWriterStop, then
 * makes everything published durable and returns NULL. While a commit is in
 * flight it sleeps in io_uring_wait_cqe (waking every idleSleepUs to stage
 * new records) unless cfg.spinOnIo; with nothing to do it spins a while,
 * then backs off up to cfg.idleSleepUs (0: spins always). Sleeping matters
 * when cores are few: the kernel completes the I/O on them. */
void *jnWriterMain(void *arg);

/* Asks jnWriterMain to drain and return. Any thread. */
void jnWriterStop(jnJournal *j);

/* ---- one storage thread for several journals ---- */

typedef struct jnGroup jnGroup;

/* Starts a thread that drives the writers of js[0..n) (each journal's
 * writer must run nowhere else), pinned to CPU `cpu` (-1: not pinned). It
 * polls them in turn, sleeps in io_uring while commits are in flight and
 * backs off up to idleSleepUs when idle, as jnWriterMain does. The array is
 * copied. Returns NULL with errno set if the thread cannot start. */
jnGroup *jnGroupStart(jnJournal *const *js, unsigned n, int cpu, uint32_t idleSleepUs);

/* Stops the thread after it has made everything published durable (or the
 * journals failed), joins it and frees the group; the journals stay open.
 * NULL is a no-op. */
void jnGroupStop(jnGroup *g);

/* The CPU that has taken most interrupts of the disk holding dir (virtio
 * or NVMe queue names in /proc/interrupts), or -1 if it cannot tell. Part
 * of each commit's completion runs there: the writer belongs on it, and a
 * thread spinning on it (a worker lcore) delays every commit to the next
 * scheduler tick (docs/storage/journal.md, "Where the writer runs"). */
int jnDiskIrqCpu(const char *dir);

/* Counters kept by the writer; readable from any thread (relaxed). */
typedef struct {
    uint64_t commits;      /* batches made durable */
    uint64_t records;      /* records made durable */
    uint64_t recordBytes;  /* bytes of those records (headers + padding) */
    uint64_t ioBytes;      /* bytes written for commits (block-aligned) */
    uint64_t rotations;    /* segments started after the first */
    uint64_t prefillBytes; /* zeros written ahead into prepared segments */
    uint64_t maxBatchRecords;
    uint64_t lastCommitNs; /* submit-to-durable time of the last commit */
    uint64_t segmentIndex; /* segment being written */
    jnSyncMode sync;       /* mode in effect (FDATASYNC if O_DIRECT was refused) */
    uint64_t errors;       /* write, sync or segment-preparation failures */
    uint64_t publishedSeq; /* last sequence the producer published (0: none since open) */
    uint64_t inflightNs;   /* age of the commit in flight, 0 when none */
} jnStats;

/* Copies the writer's counters into *st. Any thread. */
void jnGetStats(const jnJournal *j, jnStats *st);

/* Copies the histogram of every commit's submit-to-durable time (ns;
 * dataplane/histogram.h log-linear buckets; total = commits so far) into
 * *out. Any thread (relaxed loads: a scrape during a
 * commit may see it in count and not yet in commits, never the reverse
 * for long). */
void jnGetCommitHist(const jnJournal *j, histLog *out);

/* ---- reader: recovery and inspection ---- */

/* Reader flags. JN_RD_REPAIR cuts a torn tail off the last segment
 * (ftruncate). JN_RD_STOP_AT_BAD makes a corrupt record, a sequence gap or a
 * bad header end the stream (reported in jnReadReport) instead of being an
 * error. */
#define JN_RD_REPAIR      1u
#define JN_RD_STOP_AT_BAD 2u

/* One record; payload is valid until the next jnReaderNext or jnReaderClose. */
typedef struct {
    uint64_t seq;
    uint16_t type;
    uint32_t len;
    const void *payload;
    const char *file; /* segment file path */
    uint64_t offset;  /* byte offset of the record header in file */
} jnRecord;

/* What a read found besides the records. Complete once jnReaderNext has
 * returned 0. */
typedef struct {
    uint64_t records;   /* delivered */
    uint64_t firstSeq;  /* of the first delivered record, 0 if none */
    uint64_t lastSeq;   /* of the last delivered record, 0 if none */
    uint32_t segments;  /* written segment files walked */
    uint32_t spares;    /* trailing prepared-but-unwritten segment files ignored */
    uint32_t lastBatch; /* batch number of the last delivered record */
    int torn;           /* the last segment ended in a torn (partial) write */
    int cut;            /* ... and it was cut (JN_RD_REPAIR) */
    char tornFile[JN_PATH_MAX];
    uint64_t tornOffset;  /* where the good data ends */
    uint64_t tornBytes;   /* bytes of damaged or unacknowledged data after it */
    uint64_t tornRecords; /* intact records of the torn batch that were dropped */
    int stoppedAtBad;     /* JN_RD_STOP_AT_BAD ended the stream early */
    jnError bad;          /* ... at this corruption */
} jnReadReport;

typedef struct jnReader jnReader;

/* Opens stream `stream` in dir for reading. flags: JN_RD_*. A missing
 * directory is an error. Returns NULL with *err filled on failure. */
jnReader *jnReaderOpen(const char *dir, uint32_t stream, unsigned flags, jnError *err);

/* Next record in sequence order into *rec. Returns 1 with a record, 0 at
 * the end of the stream (see jnReaderReport), -1 on an error (*err: header,
 * stream, corruption with file and offset, sequence gap, I/O). */
int jnReaderNext(jnReader *r, jnRecord *rec, jnError *err);

/* The reader's findings so far. */
const jnReadReport *jnReaderReport(const jnReader *r);

/* Closes the reader. NULL is a no-op. */
void jnReaderClose(jnReader *r);

/* Recovery up to a corruption the operator accepted to lose: in stream
 * directory dir, cuts segment file `file` at `offset` (after copying it
 * whole to <file>.damaged; the file is renamed to <file>.damaged instead
 * when offset is inside its header block or UINT64_MAX) and renames every
 * later segment file to <name>.damaged, so the stream ends cleanly before the damage and jnOpen
 * can append to it. The .damaged files stay for inspection. Returns the
 * number of files set aside or cut, or -1 with *err. */
int jnCutAt(const char *dir, const char *file, uint64_t offset, jnError *err);

/* ---- tail: following a live stream from its files ---- */

typedef struct jnTail jnTail;

/* A cursor on stream `stream` in dir that delivers records from sequence
 * fromSeq (0 or 1: the start) on, reading the segment files while their
 * writer appends (another thread or process). Returns NULL with *err when
 * the files holding fromSeq are gone, or on I/O or header damage. */
jnTail *jnTailOpen(const char *dir, uint32_t stream, uint64_t fromSeq, jnError *err);

/* The next record into *rec if its sequence is <= limit (pass the
 * journal's durable sequence: records above it may be half written).
 * Returns 1 with a record (payload valid until the next call), 0 when the
 * next sequence is above limit, -1 with *err on a CRC mismatch, a sequence
 * gap or a missing file. */
int jnTailNext(jnTail *t, uint64_t limit, jnRecord *rec, jnError *err);

/* The sequence the next record will carry. */
uint64_t jnTailNextSeq(const jnTail *t);

/* Index of the segment file the cursor reads (0 before the first). Files
 * with smaller indexes are no longer needed by it. */
uint32_t jnTailSegment(const jnTail *t);

/* Frees the cursor. NULL is a no-op. */
void jnTailClose(jnTail *t);

/* The first and last sequence stream `stream` of dir holds (0, 0 when it
 * holds none; a torn tail does not count). Reads the first file's header
 * and the last written file. Returns 0, or -1 with *err. */
int jnStreamRange(const char *dir, uint32_t stream, uint64_t *first, uint64_t *last, jnError *err);

/* Retention: deletes the oldest segment files of the stream whose records
 * all have sequences <= coveredSeq (a checkpoint holds them), whose index
 * is below belowIndex (a reader is past them), keeping the newest `keep`
 * of those. Never the last written file. Returns the number deleted, or -1
 * with *err when the directory cannot be listed. */
int jnRetire(const char *dir, uint32_t stream, uint64_t coveredSeq, uint32_t belowIndex,
             uint32_t keep, jnError *err);

#ifdef __cplusplus
}
#endif

#endif
