/* prom.h -- Prometheus text exposition (format 0.0.4): a writer into a caller buffer and a
 * tiny HTTP/1.1 server for GET /metrics on 127.0.0.1.
 *
 * Writer. A metric family is opened with promFamily (its # HELP and # TYPE
 * lines); the samples that follow belong to it and take its name, so every
 * family's samples are contiguous as the format requires. Names are checked
 * (metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*, no "__"
 * prefix), a counter's name must end in _total, label values and HELP text
 * are escaped. A line that does not fit is left out whole and sets overflow;
 * a line with a bad name is left out and sets invalid, so the buffer always
 * holds well-formed text. Values are written exactly: integers as integers,
 * fixed-point values (num/den) as decimals computed with integers (exact when
 * den is a power of ten up to 1e9), doubles only through promSampleDouble.
 *
 * Histograms come from a histLog (dataplane/histogram.h, values in some unit
 * with unitsPerSecond of them in a second, e.g. 1e9 for nanoseconds) and are
 * written with the fixed bounds promHistBoundsNs (1-2-5 steps from 100 ns to
 * 10 s) as cumulative `le` buckets in seconds. A log-linear bucket is counted
 * under the first bound at or above its upper edge, so le="x" never counts a
 * value above x and may miss values below x that share a bucket with values
 * above it (at most one bucket, 12.5% of the value). _count is the sum of the
 * buckets (the +Inf bucket); _sum is estimated from the bucket midpoints
 * (exact below 8 units, else within 6.25% per observation) because a histLog
 * keeps no sum.
 *
 * Server. promServerCreate binds 127.0.0.1:port (0 = an ephemeral port, see
 * promServerPort). promServerPoll(s, timeoutMs) is called from the control
 * lcore's loop like ctlServerPoll: it waits at most timeoutMs in poll(2), then
 * accepts, reads and answers whatever is ready without blocking (sockets are
 * non-blocking; a response that does not fit the socket buffer is queued and
 * finished on later calls). GET or HEAD of /metrics (any query string) calls
 * the render callback into a buffer of maxBody bytes allocated at create and
 * answers 200 with Content-Type: text/plain; version=0.0.4; other paths get
 * 404, other methods 405, garbage 400, a header over 8 KiB 431, a render
 * failure or overflow 500. Every response carries Connection: close; after it
 * is sent the write side is shut down and the socket is drained briefly
 * before close so the client never sees a reset. A connection that does not
 * deliver its request (or read its response) within idleTimeoutMs is closed.
 * At most maxClients connections are open; further ones wait in the listen
 * backlog. Single-threaded: every function is called from the same thread. */
#ifndef XCHG_CONTROL_PROM_H
#define XCHG_CONTROL_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/histogram.h"

/* ---- writer ---------------------------------------------------------------------- */

#define PROM_NAME_MAX    128 /* longest metric family name, with the NUL */
#define PROM_HIST_BOUNDS 25  /* finite `le` bounds of every histogram */

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM, PROM_UNTYPED } promType;

typedef struct {
    const char *name;
    const char *value; /* any bytes; escaped on output */
} promLabel;

typedef struct {
    char *buf;
    size_t cap;
    size_t len;    /* bytes written, always whole lines */
    bool overflow; /* a line did not fit and was left out */
    bool invalid;  /* a bad name, type or call order: that line was left out */
    /* internal: the family being written */
    promType type;
    bool open;
    bool starved; /* the last family was refused for lack of room */
    char family[PROM_NAME_MAX];
} promWriter;

/* The `le` bounds in nanoseconds: 100, 200, 500, 1000, ... 5e9, 1e10. */
extern const uint64_t promHistBoundsNs[PROM_HIST_BOUNDS];

/* Starts writing at buf[0]. At most cap - 1 bytes of text are written and
 * buf stays NUL-terminated (when cap > 0). */
void promWriterInit(promWriter *w, char *buf, size_t cap);

/* Opens a family: "# HELP name help" and "# TYPE name type". help may be NULL
 * (no HELP line). Returns 0, or -1 (overflow or invalid set; the samples that
 * follow are then refused too, setting the same flag). */
int promFamily(promWriter *w, const char *name, promType type, const char *help);

/* One sample of the open counter, gauge or untyped family. labels may be
 * NULL when nlabels is 0. Return 0, or -1 with overflow or invalid set. */
int promSampleU64(promWriter *w, const promLabel *labels, size_t nlabels, uint64_t v);
int promSampleI64(promWriter *w, const promLabel *labels, size_t nlabels, int64_t v);
/* num/den as a decimal, e.g. (287983, 100) is 2879.83; den 0 is NaN. */
int promSampleFrac(promWriter *w, const promLabel *labels, size_t nlabels, int64_t num,
                   uint64_t den);
/* Shortest of %.15g/%.17g that reads back exactly; NaN, +Inf, -Inf. */
int promSampleDouble(promWriter *w, const promLabel *labels, size_t nlabels, double v);

/* The open histogram family's _bucket, _sum and _count lines from h. labels
 * must not contain "le". unitsPerSecond > 0. */
int promHistLog(promWriter *w, const promLabel *labels, size_t nlabels, const histLog *h,
                uint64_t unitsPerSecond);

/* Formats num/den (den > 0) as a decimal with at most 9 fractional digits,
 * trailing zeros removed, into dst. Returns the length, or 0 if cap is too
 * small (40 bytes always suffice). */
size_t promFormatFrac(char *dst, size_t cap, int64_t num, uint64_t den);

/* ---- HTTP server ----------------------------------------------------------------- */

#define PROM_DEFAULT_MAX_CLIENTS  8
#define PROM_DEFAULT_MAX_BODY     (4u << 20) /* 4 MiB */
#define PROM_DEFAULT_IDLE_TIMEOUT 5000       /* ms */
#define PROM_REQUEST_MAX          8192       /* request line and headers */

typedef struct promServer promServer;

/* Renders the metrics into w (promWriterInit already done). Returns 0, or -1
 * to answer 500. An overflowed writer is answered 500 as well. */
typedef int promRender(void *ctx, promWriter *w);

typedef struct {
    uint16_t port;          /* on 127.0.0.1; 0 = an ephemeral port */
    uint32_t maxClients;    /* 0: PROM_DEFAULT_MAX_CLIENTS */
    size_t maxBody;         /* 0: PROM_DEFAULT_MAX_BODY */
    uint32_t idleTimeoutMs; /* 0: PROM_DEFAULT_IDLE_TIMEOUT */
    promRender *render;     /* required */
    void *ctx;
} promServerOptions;

typedef struct {
    uint64_t accepted;    /* connections accepted */
    uint64_t responses;   /* responses started, any status */
    uint64_t ok;          /* 200 */
    uint64_t notFound;    /* 404 */
    uint64_t badRequest;  /* 400, 405, 431, 505 */
    uint64_t renderFails; /* 500: render returned -1 or overflowed */
    uint64_t invalid;     /* renders that left out a line with a bad name */
    uint64_t timeouts;    /* connections closed at idleTimeoutMs */
    uint64_t bytesSent;   /* response bytes accepted by the kernel */
    uint64_t lastBody;    /* length of the last 200 body */
    uint32_t clients;     /* connected now */
} promServerStats;

/* Binds and listens. Returns NULL with a message in err on failure. */
promServer *promServerCreate(const promServerOptions *opt, char *err, size_t errlen);

/* The bound port (the ephemeral one when opt->port was 0). */
uint16_t promServerPort(const promServer *s);

/* Waits at most timeoutMs (0 = do not wait, negative is treated as 0) for
 * activity, then serves what is ready. Returns the number of responses
 * started, -1 on a fatal listener error. */
int promServerPoll(promServer *s, int timeoutMs);

void promServerGetStats(const promServer *s, promServerStats *out);

/* Closes every connection and the listener, frees. NULL is a no-op. */
void promServerDestroy(promServer *s);

#endif
