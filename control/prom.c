/* prom.c -- Prometheus text writer and the GET /metrics server (see prom.h).
 *
 * The writer appends each line piece by piece and, if a piece does not fit,
 * rolls the buffer back to the start of the line, so the text is always
 * whole lines. The server keeps a fixed table of connections, each with an
 * 8 KiB request buffer allocated at create, and one body buffer shared by
 * all renders: a response is rendered, sent at once with sendmsg, and only
 * the part the kernel did not take is copied into a per-connection buffer
 * (freed when sent). Connection states: reading the request, writing the
 * response, draining (write side shut, reading until EOF so closing does not
 * reset a client that still had bytes in flight). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "control/prom.h"

/* ---- writer ---------------------------------------------------------------------- */

const uint64_t promHistBoundsNs[PROM_HIST_BOUNDS] = {
    100ull,       200ull,        500ull,        1000ull,       2000ull,
    5000ull,      10000ull,      20000ull,      50000ull,      100000ull,
    200000ull,    500000ull,     1000000ull,    2000000ull,    5000000ull,
    10000000ull,  20000000ull,   50000000ull,   100000000ull,  200000000ull,
    500000000ull, 1000000000ull, 2000000000ull, 5000000000ull, 10000000000ull,
};

void promWriterInit(promWriter *w, char *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    if (cap > 0)
        buf[0] = '\0';
}

/* Line building: pieces go after w->len at *pos; promLineEnd commits. */
typedef struct {
    promWriter *w;
    size_t pos;
    bool full;
} promLine;

static void promPut(promLine *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (l->w->cap == 0 || l->w->cap - 1 - l->pos < n) { /* keep a byte for the NUL */
        l->full = true;
        return;
    }
    memcpy(l->w->buf + l->pos, s, n);
    l->pos += n;
}

static void promPuts(promLine *l, const char *s)
{
    promPut(l, s, strlen(s));
}

static int promLineEnd(promLine *l)
{
    promPut(l, "\n", 1);
    promWriter *w = l->w;
    if (l->full) {
        w->overflow = true;
        if (w->len < w->cap)
            w->buf[w->len] = '\0';
        return -1;
    }
    w->len = l->pos;
    if (w->len < w->cap)
        w->buf[w->len] = '\0';
    return 0;
}

static bool promNameOk(const char *s, bool metric)
{
    if (s == NULL || s[0] == '\0')
        return false;
    if (s[0] == '_' && s[1] == '_')
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool promEndsWith(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Escapes backslash and newline, plus the double quote when quote is set. */
static void promPutEscaped(promLine *l, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (quote && *s == '"')
            esc = "\\\"";
        if (esc) {
            promPut(l, run, (size_t)(s - run));
            promPuts(l, esc);
            run = s + 1;
        }
    }
    promPut(l, run, (size_t)(s - run));
}

/* Refuses a line: nothing of it stays, the text stays terminated. */
static int promInvalid(promWriter *w)
{
    w->invalid = true;
    if (w->len < w->cap)
        w->buf[w->len] = '\0';
    return -1;
}

/* A sample while no family is open: the family was refused for lack of room
 * (counts as overflow) or never opened (invalid). */
static int promNoFamily(promWriter *w)
{
    if (w->starved) {
        w->overflow = true;
        return -1;
    }
    return promInvalid(w);
}

int promFamily(promWriter *w, const char *name, promType type, const char *help)
{
    static const char *const typeName[] = {"counter", "gauge", "histogram", "untyped"};
    w->open = false;
    w->starved = false;
    if (!promNameOk(name, true) || strlen(name) >= PROM_NAME_MAX || (unsigned)type > PROM_UNTYPED)
        return promInvalid(w);
    if (type == PROM_COUNTER && !promEndsWith(name, "_total"))
        return promInvalid(w);
    size_t mark = w->len;
    if (help != NULL) {
        promLine l = {w, w->len, false};
        promPuts(&l, "# HELP ");
        promPuts(&l, name);
        promPuts(&l, " ");
        promPutEscaped(&l, help, false);
        if (promLineEnd(&l) < 0) {
            w->starved = true;
            return -1;
        }
    }
    promLine l = {w, w->len, false};
    promPuts(&l, "# TYPE ");
    promPuts(&l, name);
    promPuts(&l, " ");
    promPuts(&l, typeName[type]);
    if (promLineEnd(&l) < 0) {
        w->starved = true;
        w->len = mark; /* no HELP without its TYPE */
        if (w->len < w->cap)
            w->buf[w->len] = '\0';
        return -1;
    }
    memcpy(w->family, name, strlen(name) + 1);
    w->type = type;
    w->open = true;
    return 0;
}

/* name{labels[,extra="value"]} into l; false if a label name is bad. */
static bool promPutSeries(promLine *l, const char *suffix, const promLabel *labels, size_t nlabels,
                          const char *extraName, const char *extraValue)
{
    promPuts(l, l->w->family);
    promPuts(l, suffix);
    if (nlabels == 0 && extraName == NULL)
        return true;
    promPuts(l, "{");
    for (size_t i = 0; i < nlabels; i++) {
        if (!promNameOk(labels[i].name, false) || labels[i].value == NULL)
            return false;
        if (extraName != NULL && strcmp(labels[i].name, extraName) == 0)
            return false;
        if (i > 0)
            promPuts(l, ",");
        promPuts(l, labels[i].name);
        promPuts(l, "=\"");
        promPutEscaped(l, labels[i].value, true);
        promPuts(l, "\"");
    }
    if (extraName != NULL) {
        if (nlabels > 0)
            promPuts(l, ",");
        promPuts(l, extraName);
        promPuts(l, "=\"");
        promPutEscaped(l, extraValue, true);
        promPuts(l, "\"");
    }
    promPuts(l, "}");
    return true;
}

static int promSampleText(promWriter *w, const promLabel *labels, size_t nlabels, const char *value)
{
    if (!w->open)
        return promNoFamily(w);
    if (w->type == PROM_HISTOGRAM || (nlabels > 0 && labels == NULL))
        return promInvalid(w);
    promLine l = {w, w->len, false};
    if (!promPutSeries(&l, "", labels, nlabels, NULL, NULL))
        return promInvalid(w);
    promPuts(&l, " ");
    promPuts(&l, value);
    return promLineEnd(&l);
}

/* Decimal digits of an unsigned 128-bit value. */
static size_t promU128(char *dst, unsigned __int128 v)
{
    char tmp[40];
    size_t n = 0;
    while (v > UINT64_MAX) {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    uint64_t w = (uint64_t)v; /* the usual case: 64-bit division only */
    do {
        tmp[n++] = (char)('0' + (int)(w % 10));
        w /= 10;
    } while (w);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

static size_t promFrac128(char *dst, size_t cap, bool neg, unsigned __int128 num, uint64_t den)
{
    char tmp[64];
    size_t n = 0;
    if (den == 0) {
        memcpy(tmp, "NaN", 3);
        n = 3;
    } else {
        unsigned __int128 ip, rem;
        if (num <= UINT64_MAX) { /* the usual case: 64-bit division only */
            ip = (uint64_t)num / den;
            rem = (uint64_t)num % den;
        } else {
            ip = num / den;
            rem = num % den;
        }
        if (neg && (ip || rem))
            tmp[n++] = '-';
        n += promU128(tmp + n, ip);
        if (rem) {
            tmp[n++] = '.';
            size_t last = n;
            for (int d = 0; d < 9 && rem; d++) {
                rem *= 10; /* < 10 * den: fits 128 bits */
                if (rem <= UINT64_MAX) {
                    tmp[n++] = (char)('0' + (int)((uint64_t)rem / den));
                    rem = (uint64_t)rem % den;
                } else {
                    tmp[n++] = (char)('0' + (int)(rem / den));
                    rem %= den;
                }
                if (tmp[n - 1] != '0')
                    last = n;
            }
            n = last;
            if (tmp[n - 1] == '.')
                n--;
        }
    }
    if (n + 1 > cap)
        return 0;
    memcpy(dst, tmp, n);
    dst[n] = '\0';
    return n;
}

size_t promFormatFrac(char *dst, size_t cap, int64_t num, uint64_t den)
{
    bool neg = num < 0;
    unsigned __int128 mag = neg ? (unsigned __int128)(-(num + 1)) + 1 : (unsigned __int128)num;
    return promFrac128(dst, cap, neg, mag, den);
}

int promSampleU64(promWriter *w, const promLabel *labels, size_t nlabels, uint64_t v)
{
    char num[24];
    num[promU128(num, v)] = '\0';
    return promSampleText(w, labels, nlabels, num);
}

int promSampleI64(promWriter *w, const promLabel *labels, size_t nlabels, int64_t v)
{
    char num[24];
    promFormatFrac(num, sizeof num, v, 1);
    return promSampleText(w, labels, nlabels, num);
}

int promSampleFrac(promWriter *w, const promLabel *labels, size_t nlabels, int64_t num,
                   uint64_t den)
{
    char text[64];
    promFormatFrac(text, sizeof text, num, den);
    return promSampleText(w, labels, nlabels, text);
}

int promSampleDouble(promWriter *w, const promLabel *labels, size_t nlabels, double v)
{
    char text[40];
    if (isnan(v))
        strcpy(text, "NaN");
    else if (isinf(v))
        strcpy(text, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(text, sizeof text, "%.15g", v);
        if (strtod(text, NULL) != v)
            snprintf(text, sizeof text, "%.17g", v);
    }
    return promSampleText(w, labels, nlabels, text);
}

int promHistLog(promWriter *w, const promLabel *labels, size_t nlabels, const histLog *h,
                uint64_t unitsPerSecond)
{
    if (!w->open)
        return promNoFamily(w);
    if (w->type != PROM_HISTOGRAM || unitsPerSecond == 0 || (nlabels > 0 && labels == NULL))
        return promInvalid(w);
    /* One transaction for the whole histogram: a partial one would be wrong. */
    promLine l = {w, w->len, false};
    uint32_t b = 0;
    uint64_t cum = 0;
    char le[48], value[64];
    for (int i = 0; i <= PROM_HIST_BOUNDS; i++) {
        if (i < PROM_HIST_BOUNDS) {
            /* the bound in histogram units, rounded down */
            unsigned __int128 bound =
                (unsigned __int128)promHistBoundsNs[i] * unitsPerSecond / 1000000000u;
            for (; b < HIST_BUCKETS; b++) {
                /* upper edge (largest value) of bucket b */
                unsigned __int128 high =
                    b + 1 < HIST_BUCKETS ? histBucketLow(b + 1) - 1 : (unsigned __int128)~0ull;
                if (high > bound)
                    break;
                cum += h->count[b];
            }
            promFormatFrac(le, sizeof le, (int64_t)promHistBoundsNs[i], 1000000000u);
        } else {
            for (; b < HIST_BUCKETS; b++)
                cum += h->count[b];
            strcpy(le, "+Inf");
        }
        if (!promPutSeries(&l, "_bucket", labels, nlabels, "le", le))
            return promInvalid(w);
        snprintf(value, sizeof value, " %llu\n", (unsigned long long)cum);
        promPuts(&l, value);
    }
    unsigned __int128 sum = 0;
    for (b = 0; b < HIST_BUCKETS; b++) {
        if (!h->count[b])
            continue;
        uint64_t low = histBucketLow(b);
        uint64_t high = b + 1 < HIST_BUCKETS ? histBucketLow(b + 1) - 1 : h->max;
        if (high > h->max && h->max >= low)
            high = h->max;
        uint64_t mid = low + (high - low) / 2;
        sum += (unsigned __int128)mid * h->count[b];
    }
    promPutSeries(&l, "_sum", labels, nlabels, NULL, NULL);
    value[0] = ' ';
    promFrac128(value + 1, sizeof value - 1, false, sum, unitsPerSecond);
    promPuts(&l, value);
    promPuts(&l, "\n");
    promPutSeries(&l, "_count", labels, nlabels, NULL, NULL);
    snprintf(value, sizeof value, " %llu", (unsigned long long)cum);
    promPuts(&l, value);
    return promLineEnd(&l);
}

/* ---- HTTP server ----------------------------------------------------------------- */

#define PROM_ACCEPT_PER_ROUND 32
#define PROM_DRAIN_NS         1000000000ull /* drain at most 1 s before close */

enum { PC_FREE, PC_READING, PC_WRITING, PC_DRAINING };

typedef struct {
    int fd;
    int state;
    uint64_t deadline; /* CLOCK_MONOTONIC ns */
    char *in;          /* PROM_REQUEST_MAX bytes, allocated at create */
    size_t inLen;
    char *out; /* unsent remainder of the response */
    size_t outLen, outOff;
} promConn;

struct promServer {
    int lfd;
    uint16_t port;
    uint32_t maxClients;
    uint32_t idleMs;
    size_t maxBody;
    promRender *render;
    void *ctx;
    promConn *conns;
    char *inBufs;
    char *body;
    struct pollfd *pfds;
    uint32_t *pconn; /* pfds[i] belongs to conns[pconn[i]] (i >= 1) */
    promServerStats stats;
};

static void promSetErr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void promSetErr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t promNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

promServer *promServerCreate(const promServerOptions *opt, char *err, size_t errlen)
{
    if (opt == NULL || opt->render == NULL) {
        promSetErr(err, errlen, "prom: a render callback is required");
        return NULL;
    }
    promServer *s = calloc(1, sizeof *s);
    if (s == NULL) {
        promSetErr(err, errlen, "prom: out of memory");
        return NULL;
    }
    s->lfd = -1;
    s->maxClients = opt->maxClients ? opt->maxClients : PROM_DEFAULT_MAX_CLIENTS;
    s->maxBody = opt->maxBody ? opt->maxBody : PROM_DEFAULT_MAX_BODY;
    s->idleMs = opt->idleTimeoutMs ? opt->idleTimeoutMs : PROM_DEFAULT_IDLE_TIMEOUT;
    s->render = opt->render;
    s->ctx = opt->ctx;
    s->conns = calloc(s->maxClients, sizeof *s->conns);
    s->inBufs = malloc((size_t)s->maxClients * PROM_REQUEST_MAX);
    s->body = malloc(s->maxBody);
    s->pfds = calloc((size_t)s->maxClients + 1, sizeof *s->pfds);
    s->pconn = calloc((size_t)s->maxClients + 1, sizeof *s->pconn);
    if (!s->conns || !s->inBufs || !s->body || !s->pfds || !s->pconn) {
        promSetErr(err, errlen, "prom: out of memory");
        promServerDestroy(s);
        return NULL;
    }
    for (uint32_t i = 0; i < s->maxClients; i++) {
        s->conns[i].fd = -1;
        s->conns[i].in = s->inBufs + (size_t)i * PROM_REQUEST_MAX;
    }

    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0) {
        promSetErr(err, errlen, "prom: socket: %s", strerror(errno));
        promServerDestroy(s);
        return NULL;
    }
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opt->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        promSetErr(err, errlen, "prom: bind 127.0.0.1:%u: %s", (unsigned)opt->port,
                   strerror(errno));
        promServerDestroy(s);
        return NULL;
    }
    if (listen(s->lfd, 64) < 0) {
        promSetErr(err, errlen, "prom: listen 127.0.0.1:%u: %s", (unsigned)opt->port,
                   strerror(errno));
        promServerDestroy(s);
        return NULL;
    }
    socklen_t len = sizeof sa;
    if (getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0) {
        promSetErr(err, errlen, "prom: getsockname: %s", strerror(errno));
        promServerDestroy(s);
        return NULL;
    }
    s->port = ntohs(sa.sin_port);
    return s;
}

uint16_t promServerPort(const promServer *s)
{
    return s->port;
}

void promServerGetStats(const promServer *s, promServerStats *out)
{
    *out = s->stats;
}

static void promConnClose(promServer *s, promConn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->outLen = c->outOff = c->inLen = 0;
    c->state = PC_FREE;
    s->stats.clients--;
}

static void promConnDrain(promConn *c, uint64_t now)
{
    free(c->out);
    c->out = NULL;
    c->outLen = c->outOff = 0;
    shutdown(c->fd, SHUT_WR);
    c->state = PC_DRAINING;
    c->deadline = now + PROM_DRAIN_NS;
}

/* Sends what is queued. Returns -1 when the connection is to be closed. */
static int promConnFlush(promServer *s, promConn *c, uint64_t now)
{
    while (c->outOff < c->outLen) {
        ssize_t n = send(c->fd, c->out + c->outOff, c->outLen - c->outOff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->outOff += (size_t)n;
        s->stats.bytesSent += (uint64_t)n;
    }
    promConnDrain(c, now);
    return 0;
}

/* Sends header and body, queueing what the kernel does not take. */
static int promRespond(promServer *s, promConn *c, int status, const char *reason,
                       const char *extraHeaders, const char *body, size_t bodyLen, bool head,
                       uint64_t now)
{
    char hdr[512];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: text/plain; %scharset=utf-8\r\n"
                      "Content-Length: %zu\r\n"
                      "%s"
                      "Connection: close\r\n\r\n",
                      status, reason, status == 200 ? "version=0.0.4; " : "", bodyLen,
                      extraHeaders ? extraHeaders : "");
    size_t hlen = (size_t)hn;
    if (head)
        bodyLen = 0;
    s->stats.responses++;
    struct iovec iov[2] = {{hdr, hlen}, {(void *)body, bodyLen}};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = bodyLen ? 2 : 1;
    ssize_t n;
    do {
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        n = 0;
    }
    s->stats.bytesSent += (uint64_t)n;
    size_t sent = (size_t)n, total = hlen + bodyLen;
    if (sent == total) {
        promConnDrain(c, now);
        return 0;
    }
    c->outLen = total - sent;
    c->outOff = 0;
    c->out = malloc(c->outLen);
    if (c->out == NULL)
        return -1;
    if (sent < hlen) {
        memcpy(c->out, hdr + sent, hlen - sent);
        memcpy(c->out + (hlen - sent), body, bodyLen);
    } else {
        memcpy(c->out, body + (sent - hlen), total - sent);
    }
    c->state = PC_WRITING;
    c->deadline = now + (uint64_t)s->idleMs * 1000000ull;
    return 0;
}

static int promError(promServer *s, promConn *c, int status, const char *reason, const char *extra,
                     bool head, uint64_t now)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    return promRespond(s, c, status, reason, extra, body, (size_t)n, head, now);
}

/* Parses the request line of a complete head in in[0..end) (in[end] is
 * writable: the line is cut with NULs in place). Returns the status to
 * answer: 200 for GET or HEAD of /metrics (any query), 400 for a malformed
 * line, 505 for a version other than HTTP/1.x, 405 for another method, 404
 * for another path. *head says whether the method was HEAD (bodiless
 * answers). Cannot fail otherwise; pure, so tests/fuzz/fuzz_prom.c drives
 * it with arbitrary bytes. */
static int promParseRequest(char *in, size_t end, bool *head)
{
    char *line = in;
    char *eol = memchr(line, '\n', end);
    size_t n = eol ? (size_t)(eol - line) : end;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    *head = false;
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' '))
        return 400;
    *sp1 = *sp2 = '\0';
    const char *method = line, *target = sp1 + 1, *version = sp2 + 1;
    if (strncmp(version, "HTTP/", 5) != 0)
        return 400;
    if (strncmp(version, "HTTP/1.", 7) != 0)
        return 505;
    *head = strcmp(method, "HEAD") == 0;
    if (!*head && strcmp(method, "GET") != 0) {
        *head = false;
        return 405;
    }
    size_t plen = strcspn(target, "?");
    if (plen != 8 || memcmp(target, "/metrics", 8) != 0)
        return 404;
    return 200;
}

/* A complete request head is in c->in[0..end). */
static int promHandle(promServer *s, promConn *c, size_t end, uint64_t now)
{
    bool head;
    switch (promParseRequest(c->in, end, &head)) {
    case 400:
        s->stats.badRequest++;
        return promError(s, c, 400, "Bad Request", NULL, false, now);
    case 505:
        s->stats.badRequest++;
        return promError(s, c, 505, "HTTP Version Not Supported", NULL, false, now);
    case 405:
        s->stats.badRequest++;
        return promError(s, c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", false, now);
    case 404:
        s->stats.notFound++;
        return promError(s, c, 404, "Not Found", NULL, head, now);
    default:
        break;
    }
    promWriter w;
    promWriterInit(&w, s->body, s->maxBody);
    int rc = s->render(s->ctx, &w);
    if (w.invalid)
        s->stats.invalid++;
    if (rc < 0 || w.overflow) {
        s->stats.renderFails++;
        return promError(s, c, 500, "Internal Server Error", NULL, head, now);
    }
    s->stats.ok++;
    s->stats.lastBody = w.len;
    return promRespond(s, c, 200, "OK", NULL, s->body, w.len, head, now);
}

/* Where the request head ends (just past the blank line), 0 if not yet. */
static size_t promHeadEnd(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Where the head ends in in[0..newLen) once bytes [oldLen, newLen) arrived
 * after a scan of in[0..oldLen) found nothing: only the tail can hold the
 * end (the blank line may straddle the reads). 0 if not yet. */
static size_t promScanHead(const char *in, size_t oldLen, size_t newLen)
{
    size_t from = oldLen > 2 ? oldLen - 2 : 0;
    size_t end = promHeadEnd(in + from, newLen - from);
    return end ? from + end : 0;
}

/* Reads what is ready. Returns 1 if a response was started, 0 if more is
 * awaited, -1 to close. */
static int promConnRead(promServer *s, promConn *c, uint64_t now)
{
    if (c->state == PC_DRAINING) {
        char sink[4096];
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
            return -1; /* EOF or error: done */
        }
    }
    if (c->state != PC_READING)
        return 0;
    for (;;) {
        size_t room = PROM_REQUEST_MAX - 1 - c->inLen;
        if (room == 0) {
            s->stats.badRequest++;
            return promError(s, c, 431, "Request Header Fields Too Large", NULL, false, now) < 0
                       ? -1
                       : 1;
        }
        ssize_t n = recv(c->fd, c->in + c->inLen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1; /* closed before a complete request */
        size_t end = promScanHead(c->in, c->inLen, c->inLen + (size_t)n);
        c->inLen += (size_t)n;
        if (end) {
            c->in[c->inLen] = '\0';
            return promHandle(s, c, end, now) < 0 ? -1 : 1;
        }
    }
}

static void promAccept(promServer *s, uint64_t now, int *responses)
{
    for (int k = 0; k < PROM_ACCEPT_PER_ROUND && s->stats.clients < s->maxClients; k++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the listener stays */
        promConn *c = NULL;
        for (uint32_t i = 0; i < s->maxClients; i++) {
            if (s->conns[i].state == PC_FREE) {
                c = &s->conns[i];
                break;
            }
        }
        if (c == NULL) { /* cannot happen: clients < maxClients */
            close(fd);
            return;
        }
        c->fd = fd;
        c->state = PC_READING;
        c->inLen = 0;
        c->deadline = now + (uint64_t)s->idleMs * 1000000ull;
        s->stats.accepted++;
        s->stats.clients++;
        /* the request is often there already */
        int rc = promConnRead(s, c, now);
        if (rc < 0)
            promConnClose(s, c);
        else
            *responses += rc;
    }
}

int promServerPoll(promServer *s, int timeoutMs)
{
    if (timeoutMs < 0)
        timeoutMs = 0;
    nfds_t n = 0;
    if (s->stats.clients < s->maxClients) {
        s->pfds[n].fd = s->lfd;
        s->pfds[n].events = POLLIN;
        s->pfds[n].revents = 0;
        s->pconn[n] = UINT32_MAX;
        n++;
    }
    for (uint32_t i = 0; i < s->maxClients; i++) {
        promConn *c = &s->conns[i];
        if (c->state == PC_FREE)
            continue;
        s->pfds[n].fd = c->fd;
        s->pfds[n].events = c->state == PC_WRITING ? POLLOUT : POLLIN;
        s->pfds[n].revents = 0;
        s->pconn[n] = i;
        n++;
    }
    int ready = poll(s->pfds, n, timeoutMs);
    if (ready < 0 && errno != EINTR)
        return -1;
    uint64_t now = promNowNs();
    int responses = 0;
    for (nfds_t i = 0; ready > 0 && i < n; i++) {
        short re = s->pfds[i].revents;
        if (!re)
            continue;
        if (s->pconn[i] == UINT32_MAX) {
            if (re & (POLLERR | POLLNVAL))
                return -1;
            continue; /* accepted below, after the connections */
        }
        promConn *c = &s->conns[s->pconn[i]];
        int rc = 0;
        if (c->state == PC_WRITING) {
            if (re & POLLOUT)
                rc = promConnFlush(s, c, now);
            else if (re & (POLLERR | POLLHUP | POLLNVAL))
                rc = -1;
        } else {
            rc = promConnRead(s, c, now);
            if (rc > 0)
                responses += rc;
        }
        if (rc < 0)
            promConnClose(s, c);
    }
    if (n > 0 && s->pconn[0] == UINT32_MAX && (s->pfds[0].revents & POLLIN))
        promAccept(s, now, &responses);
    for (uint32_t i = 0; i < s->maxClients; i++) {
        promConn *c = &s->conns[i];
        if (c->state != PC_FREE && now >= c->deadline) {
            if (c->state != PC_DRAINING)
                s->stats.timeouts++;
            promConnClose(s, c);
        }
    }
    return responses;
}

void promServerDestroy(promServer *s)
{
    if (s == NULL)
        return;
    if (s->conns) {
        for (uint32_t i = 0; i < s->maxClients; i++)
            if (s->conns[i].state != PC_FREE)
                promConnClose(s, &s->conns[i]);
    }
    if (s->lfd >= 0)
        close(s->lfd);
    free(s->conns);
    free(s->inBufs);
    free(s->body);
    free(s->pfds);
    free(s->pconn);
    free(s);
}
