/* feedarch.h -- a segment's feed archive: every sent feed packet in a journal, answers beyond
 * memory.
 *
 * The worker keeps the last `feed_history` messages in memory and answers
 * retransmission requests for them itself (dataplane/feedsrv.h). Every
 * packet with messages it sends is also appended, as one record, to the
 * segment's feed archive: a journal stream of its own (storage/journal.h,
 * the same CRC'd records and segment files as the input journal) in
 * <wal_dir>/feed-<segment id>/<session>/. The worker only copies the
 * packet into the journal's producer ring (jnAppend: no system call); the
 * archive's thread (dataplane/feedarchd.c) drives the journal's writer,
 * reads back what became durable to index it (feed sequence number ->
 * file and offset) and answers the requests the worker forwards for
 * sequence numbers older than its memory (docs/protocol/feed.md §2.4).
 *
 * This part has no DPDK dependency: faOpen/faPoll/faAnswer/faClose are
 * called by one thread (the archive's), faJournal's producer side by the
 * worker. It allocates and does file I/O: never on a worker lcore. */
#ifndef XCHG_DATAPLANE_FEEDARCH_H
#define XCHG_DATAPLANE_FEEDARCH_H

#include <stddef.h>
#include <stdint.h>

#include "storage/journal.h"

/* Record type of an archived packet: the MoldUDP64 packet as sent. */
#define FA_REC_PACKET 1
/* Packets answering one request at most (as from memory: FS_MAX_PACKETS). */
#define FA_MAX_PACKETS 8

typedef struct faArchive faArchive;

/* Opens (creating it if missing) the archive stream in dir, stream id
 * `stream`, for packets of at most maxPayload bytes (the feed's MTU - 28).
 * Cuts a torn tail left by a crash (the packets of an unfinished commit
 * are lost; asking for them gets no answer) and indexes every packet
 * already there. jcfg: journal settings (NULL: jnConfigDefaults; dir and
 * stream are set here). Returns NULL with a message in err (unwritable
 * directory, corruption with file and offset, memory). */
faArchive *faOpen(const char *dir, uint32_t stream, uint16_t maxPayload, const jnConfig *jcfg,
                  char *err, size_t errlen);

/* The journal the worker appends packets to (producer side only: jnAppend
 * and jnPublish; the writer side belongs to faPoll). */
jnJournal *faJournal(const faArchive *a);

/* One step of the archive's thread: drives the journal's writer and
 * indexes the packets that became durable. Returns 1 if it made progress,
 * 0 if there was nothing to do, -1 once the journal or an index read
 * failed (faError says why; requests are then answered from what was
 * indexed). */
int faPoll(faArchive *a);

/* What faAnswer did. */
typedef enum {
    FA_ANSWERED = 0, /* packets emitted */
    FA_GONE = 1,     /* seq is older than the archive's first packet, or in a hole of it */
    FA_NOT_YET = 2,  /* seq is past the last packet indexed (not durable yet, or not sent) */
    FA_ERROR = 3     /* a read failed or a record's CRC did not match (faError) */
} faResult;

/* Called with each answer packet (MoldUDP64 header + blocks); valid only
 * during the call. */
typedef void faEmitFn(void *ctx, const uint8_t *pkt, uint16_t len);

/* Answers a retransmission request for `count` (1..65534) messages from
 * `seq` on: up to FA_MAX_PACKETS packets of the same session, contiguous
 * from seq, each as full as maxPayload allows, with the archived messages
 * byte for byte. Stops early at a hole. *messages gets the number of
 * messages emitted. */
faResult faAnswer(faArchive *a, uint64_t seq, uint16_t count, faEmitFn *emit, void *ctx,
                  uint32_t *messages);

/* The feed sequence numbers indexed: [*first, *next), first == next when
 * none (holes inside are possible after a crash). */
void faRange(const faArchive *a, uint64_t *first, uint64_t *next);

/* Packets indexed so far. */
uint64_t faPackets(const faArchive *a);

/* Why faPoll returned -1 or faAnswer FA_ERROR ("" if it did not). */
const char *faError(const faArchive *a);

/* Makes every published packet durable (the worker has stopped), closes
 * the journal and frees a. NULL is a no-op. */
void faClose(faArchive *a);

#endif
