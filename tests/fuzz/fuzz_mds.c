/* fuzz_mds.c -- libFuzzer target for the summary channel's decoder (control/mdswire.c).
 *
 * The input is one MoldUDP64 packet of the summary channel as a subscriber
 * receives it. Every message block the framing allows is decoded from an
 * exact-size heap copy (ASan flags any read past the block); a message that
 * decodes is encoded again and must give back the same bytes, apart from the
 * padding of the instrument id, which the decoder strips. Encoding or
 * decoding must never read or write outside the buffers.
 *
 * make fuzz compiles only this file, so it includes control/mdswire.c.
 *   build/fuzz/fuzz_mds -max_total_time=60 -max_len=1600 tests/fuzz/corpus_mds
 * Seeds: a few packets from tests/unit/test_mdsummary's encoders are in
 * tests/fuzz/corpus_mds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/mdswire.c"

static void fzMessage(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, data, len);
    mdsWireMsg m;
    if (mdsDecode(copy, len, &m) == 0) {
        uint8_t again[MDS_SNAPSHOT_LEN];
        size_t n = m.type == MDS_MSG_SNAPSHOT ? mdsEncodeSnapshot(again, m.stock, &m.u.snapshot)
                   : m.type == MDS_MSG_KLINE
                       ? mdsEncodeKline(again, m.locate, m.stock, m.timestampNs, &m.u.bar)
                       : mdsEncodeDaily(again, m.locate, m.stock, m.timestampNs, &m.u.daily);
        /* the id: the decoder keeps the bytes before the trailing spaces */
        uint8_t idIn[CFG_ID_MAX], idOut[CFG_ID_MAX];
        memcpy(idIn, copy + 3, CFG_ID_MAX);
        memcpy(idOut, again + 3, CFG_ID_MAX);
        memset(copy + 3, 0, CFG_ID_MAX);
        memset(again + 3, 0, CFG_ID_MAX);
        int ended = 0; /* an embedded NUL ends the id: the rest is written as spaces */
        for (int i = 0; i < CFG_ID_MAX; i++) {
            ended |= idIn[i] == 0;
            if (idOut[i] != (ended ? ' ' : idIn[i]))
                abort();
        }
        if (n != len || memcmp(copy, again, n) != 0)
            abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < MOLD_HEADER_SIZE) {
        fzMessage(data, len);
        return 0;
    }
    const uint16_t count = itchGet16(data + MOLD_OFF_COUNT);
    size_t off = MOLD_HEADER_SIZE;
    for (uint16_t i = 0; i < count && off + MOLD_BLOCK_HEADER <= len; i++) {
        const uint16_t ml = itchGet16(data + off);
        off += MOLD_BLOCK_HEADER;
        if (off + ml > len)
            break;
        fzMessage(data + off, ml);
        off += ml;
    }
    return 0;
}
