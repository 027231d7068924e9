/* fuzz_xoe.c -- libFuzzer target for the XOE codec (include/xchg/xoe.h).
 *
 * Part 1 feeds the input to xoeFrameParse as a datagram, in each direction.
 * A refused frame must come with a decoder error code and a position inside
 * the datagram. An accepted frame is re-encoded message by message with the
 * encoder (typed appends for known types, raw appends for unknown ones) and
 * must give back the input exactly, except that a message longer than its
 * known type shrinks to the known size; the re-encoded frame must parse to
 * the same messages.
 *
 * Part 2 drives the encoder: the input is read as (type, 64 body bytes)
 * records appended with xoeAppend; whatever the encoder accepts must parse,
 * with the reserved bytes zero and the fields as given.
 *
 * Build and run (see docs/protocol/xoe.md, "Testing"):
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iinclude -I. tests/fuzz/fuzz_xoe.c -o build/fuzz/fuzz_xoe
 *   build/fuzz/fuzz_xoe -max_total_time=120 -max_len=1600 tests/fuzz/corpus_xoe */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xchg/xoe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void checkRefusal(int rc, const xoeErrorInfo *ei, size_t size)
{
    CHECK(rc >= XOE_ERR_SHORT_HEADER && rc <= XOE_ERR_TRAILING);
    if (ei->msgIndex == XOE_NO_MSG)
        CHECK(ei->offset < XOE_HEADER_SIZE);
    else
        CHECK(ei->offset <= size && ei->offset >= XOE_HEADER_SIZE);
}

/* Re-encodes an accepted frame and checks it against the input. */
static void reencode(const uint8_t *data, size_t size, const xoeFrame *f)
{
    uint8_t out[XOE_FRAME_MAX];
    uint8_t want[XOE_FRAME_MAX];
    xoeWriter w;
    CHECK(xoeWriterInit(&w, out, sizeof out, f->session, f->seq, f->flags) == XOE_OK);
    memcpy(want, data, XOE_HEADER_SIZE);
    size_t wlen = XOE_HEADER_SIZE;

    xoeIter it;
    xoeMsg m;
    unsigned n = 0, unknown = 0, app = 0;
    xoeIterInit(&it, f);
    while (xoeIterNext(&it, &m)) {
        CHECK(m.index == n && m.offset + m.length <= size);
        const uint16_t known = xoeMsgSize(m.type);
        CHECK(m.known == (known != 0));
        if (m.known) {
            CHECK(m.length >= known);
            CHECK(xoeAppend(&w, m.type, &m.u) == XOE_OK);
            memcpy(want + wlen, data + m.offset, known);
            memcpy(want + wlen, &known, sizeof known); /* the length shrinks */
            wlen += known;
        } else {
            CHECK(xoeAppendRaw(&w, data + m.offset, m.length) == XOE_OK);
            memcpy(want + wlen, data + m.offset, m.length);
            wlen += m.length;
            unknown++;
        }
        if (xoeIsSequenced(m.type))
            CHECK(m.seq == f->seq + app++);
        else
            CHECK(m.seq == 0);
        n++;
    }
    CHECK(n == f->count && unknown == f->unknown && app == f->sequenced);
    CHECK(w.count == f->count && w.sequenced == f->sequenced);
    const size_t len = xoeWriterFinish(&w);
    CHECK(len == wlen && len <= size);
    const uint16_t count = f->count, len16 = (uint16_t)len;
    memcpy(want + offsetof(xoeFrameHeader, count), &count, 2);
    memcpy(want + offsetof(xoeFrameHeader, length), &len16, 2);
    CHECK(memcmp(out, want, len) == 0);
    if (len == size)
        CHECK(memcmp(out, data, size) == 0);

    /* the re-encoded frame decodes to the same messages */
    xoeFrame g;
    CHECK(xoeFrameParse(out, len, f->dir, &g, NULL) == XOE_OK);
    CHECK(g.count == f->count && g.unknown == f->unknown && g.sequenced == f->sequenced);
    CHECK(g.session == f->session && g.seq == f->seq && g.flags == f->flags && g.dir == f->dir);
    xoeIter ia, ib;
    xoeMsg a, b;
    xoeIterInit(&ia, f);
    xoeIterInit(&ib, &g);
    while (xoeIterNext(&ia, &a)) {
        CHECK(xoeIterNext(&ib, &b));
        CHECK(a.type == b.type && a.known == b.known && a.seq == b.seq);
        if (a.known) {
            const uint16_t sz = xoeMsgSize(a.type);
            CHECK(b.length == sz);
            CHECK(memcmp(a.u.raw + 2, b.u.raw + 2, sz - 2u) == 0);
        } else {
            CHECK(a.length == b.length && memcmp(a.u.raw, b.u.raw, sizeof a.u.raw) == 0);
        }
    }
    CHECK(!xoeIterNext(&ib, &b));
}

/* Appends fuzzer-chosen records through the typed encoder. */
static void encodeRecords(const uint8_t *data, size_t size)
{
    uint8_t out[XOE_FRAME_MAX];
    uint8_t body[XOE_MSG_MAX];
    xoeWriter w;
    if (size < 1)
        return;
    CHECK(xoeWriterInit(&w, out, sizeof out, 1, 1, data[0] & XOE_FLAGS_KNOWN) == XOE_OK);
    size_t off = 1;
    uint16_t want[XOE_MAX_MESSAGES];
    while (off + 1 + XOE_MSG_MAX <= size) {
        const uint8_t type = data[off];
        memcpy(body, data + off + 1, XOE_MSG_MAX);
        off += 1 + XOE_MSG_MAX;
        const uint16_t before = w.len;
        const int rc = xoeAppend(&w, type, body);
        if (rc != XOE_OK) {
            CHECK(w.len == before);
            CHECK(rc == XOE_ERR_UNKNOWN_TYPE || rc == XOE_ERR_DIRECTION || rc == XOE_ERR_ENUM ||
                  rc == XOE_ERR_NO_SPACE);
            continue;
        }
        want[w.count - 1] = before;
    }
    const size_t len = xoeWriterFinish(&w);
    if (len == 0)
        return;
    xoeFrame f;
    CHECK(xoeFrameParse(out, len, XOE_DIR_ANY, &f, NULL) == XOE_OK);
    CHECK(f.count == w.count && f.unknown == 0);
    xoeIter it;
    xoeMsg m;
    xoeIterInit(&it, &f);
    while (xoeIterNext(&it, &m))
        CHECK(m.known && m.offset == want[m.index] && m.length == xoeMsgSize(m.type));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy to an exact-size heap block so ASan flags any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    for (int dir = XOE_DIR_TO_XCHG; dir <= XOE_DIR_ANY; dir++) {
        xoeFrame f;
        xoeErrorInfo ei = {0, 0};
        const int rc = xoeFrameParse(buf, size, dir, &f, &ei);
        if (rc != XOE_OK) {
            checkRefusal(rc, &ei, size);
            continue;
        }
        CHECK(f.len == size && size <= XOE_FRAME_MAX && f.count >= 1);
        CHECK(dir == XOE_DIR_ANY || f.dir == dir);
        reencode(buf, size, &f);
    }
    free(buf);
    encodeRecords(data, size);
    return 0;
}
