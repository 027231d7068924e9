/* feedbook.h -- order books rebuilt from xchg's ITCH 5.0 feed (part of libxchg-client).
 *
 * A subscriber's side of docs/protocol/feed.md §7: fbApply takes the ITCH
 * messages of one segment's channel in sequence order (the caller handles
 * MoldUDP64 framing, gaps and retransmission; tools/xchg-feed.c shows how)
 * and keeps every resting order by reference, with its side, price, open
 * quantity and queue position. fbOrders and fbDepth then give each
 * instrument's book order by order or by price level, as xchg's matcher
 * holds it. A late joiner applies a snapshot (feed.md §2.5: R, H and Add
 * Orders in priority order) to an empty book, then the incremental
 * messages from the snapshot's sequence number on.
 *
 * Prices are ITCH Price(4) values (1e-4 units), quantities lots, locate
 * the instrument's index in its segment. Single-threaded; no global state.
 * Build: pkg-config xchg-client. */
#ifndef XCHG_FEEDBOOK_H
#define XCHG_FEEDBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "xchg/itch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t ref;    /* ITCH order reference now */
    uint64_t origin; /* the reference of its Add Order: xchg's exchange order id */
    uint64_t prio;   /* queue position: lower is earlier (order of Add/Replace) */
    uint32_t price;  /* Price(4) */
    uint32_t shares; /* open quantity */
    uint16_t locate;
    uint8_t side; /* ITCH_BUY or ITCH_SELL */
} fbOrder;

typedef struct {
    uint32_t price;
    uint64_t shares;
    uint32_t orders;
} fbLevel;

typedef struct {
    uint64_t messages;     /* applied */
    uint64_t byType[26];   /* by type letter: byType[type - 'A'] */
    uint64_t printed;      /* shares of E and printable C executions, and P trades */
    uint64_t crossShares;  /* shares of Q cross trades */
    uint64_t nonPrintable; /* shares of C executions with printable 'N' */
    uint64_t errors;       /* messages fbApply refused */
    size_t orders;         /* resting now */
} fbStats;

/* fbApply's errors. */
typedef enum {
    FB_OK = 0,
    FB_EDECODE = -1,  /* not a valid ITCH 5.0 message (itchDecode) */
    FB_EUNKNOWN = -2, /* execution, cancel, delete or replace of a reference not on the book */
    FB_EDUP = -3,     /* add (or replace to) a reference already on the book, or 0 */
    FB_EFULL = -4,    /* more resting orders than fbCreate's maxOrders */
    FB_EBAD = -5      /* inconsistent: more shares than the order has, 0 shares, wrong locate */
} fbError;

/* Called by fbApply for each message it applied, after applying it. */
typedef void fbListenFn(void *ctx, uint64_t seq, const itchMsg *m);

typedef struct fbBook fbBook;

/* An empty book for up to maxOrders resting orders (>= 1) on any locate.
 * Returns NULL when memory cannot be had. Free with fbDestroy. */
fbBook *fbCreate(size_t maxOrders);

/* Frees it. NULL is a no-op. */
void fbDestroy(fbBook *b);

/* Forgets every order, the directory and the statistics (before applying a
 * snapshot). */
void fbReset(fbBook *b);

/* Applies one ITCH message (without its MoldUDP64 length); `seq` is its
 * sequence number, used in error texts and given to the listener. Returns
 * FB_OK, or a negative fbError with the book unchanged by the message, the
 * error counted and described by fbLastError. Types that do not change
 * books (S, I, P, Q...) are decoded and counted. */
int fbApply(fbBook *b, uint64_t seq, const uint8_t *msg, size_t len);

/* The last error's description ("seq 42 E: unknown order reference ..."),
 * "" when none. Owned by the book. */
const char *fbLastError(const fbBook *b);

/* Sets (or with NULL clears) the listener. */
void fbSetListener(fbBook *b, fbListenFn *fn, void *ctx);

/* Orders of one locate and side in priority order (best price first, then
 * queue position). Writes at most cap of them to out and returns how many
 * there are. */
size_t fbOrders(fbBook *b, uint16_t locate, uint8_t side, fbOrder *out, size_t cap);

/* The same aggregated by price: at most cap levels best first; returns the
 * number of levels there are. */
size_t fbDepth(fbBook *b, uint16_t locate, uint8_t side, fbLevel *out, size_t cap);

/* Copies the resting order with reference `ref` to *out. Returns 0, or -1
 * when no order on the book has that reference. */
int fbOrderGet(const fbBook *b, uint64_t ref, fbOrder *out);

/* The instrument id of a locate from its Stock Directory message, trailing
 * spaces removed, NUL-terminated. Returns 0, or -1 when no R was applied. */
int fbStock(const fbBook *b, uint16_t locate, char out[ITCH_STOCK_LEN + 1]);

/* The locate whose directory names `stock` (as written in the config), or
 * -1. */
int fbFindStock(const fbBook *b, const char *stock);

/* The trading state of the last H message for the locate ('T', 'H', 'Q',
 * 'P'), 0 when none. */
uint8_t fbTradingState(const fbBook *b, uint16_t locate);

void fbGetStats(const fbBook *b, fbStats *out);

/* One line describing every field of a message, the format of the summary
 * field of tests/unit/itch50.lua (the Wireshark dissector), e.g.
 * "A locate=0 tracking=0 ts=34200000000000 ref=1 side=B shares=5
 * stock=IF2501 price=38002000". No newline. Returns as snprintf. */
int fbFormat(const itchMsg *m, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
