/* log.c -- per-thread SPSC log rings, the logger thread and the log.level control command.
 *
 * A ring is written by its thread only (head, dropped) and read by whoever
 * holds logLock (the logger thread, or logFlush's caller): single producer,
 * single consumer at any time. Records carry the TSC; the consumer converts
 * it with an anchor (TSC, CLOCK_REALTIME) it takes before each drain and a
 * TSC rate it measures against CLOCK_MONOTONIC since logInit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "control/ctl.h"
#include "control/log.h"

#define LOG_DRAIN_NS  10000000ull /* logger period */
#define LOG_LINE_MAX  512
#define LOG_BATCH_MAX 65536 /* bytes buffered before a write(2) */

enum { LOG_TO_STDERR, LOG_TO_FILE, LOG_TO_SYSLOG };

typedef struct {
    uint64_t tsc;
    const char *fmt; /* NULL: a logText record, the message is in text */
    uint8_t level, nargs;
    union {
        uint64_t args[LOG_ARGS_MAX];
        char text[LOG_TEXT_MAX];
    } u;
} logRecord;

typedef struct {
    _Alignas(64) _Atomic uint32_t head; /* producer */
    _Atomic uint64_t dropped;           /* producer */
    _Alignas(64) _Atomic uint32_t tail; /* consumer */
    uint64_t droppedSeen;               /* consumer: drops already reported */
    char name[LOG_NAME_MAX];
    logRecord slot[LOG_RING_SLOTS];
} logRing;

static struct {
    _Atomic int level;
    _Atomic uint32_t ringCount;
    logRing *_Atomic rings[LOG_MAX_RINGS];
    _Atomic uint64_t unattachedDrops; /* records of threads that could not attach */
    uint64_t unattachedSeen;
    pthread_mutex_t lock; /* consumer side: destination, drain, counters below */
    int dest, fd;
    char destination[256];
    uint64_t written;
    _Atomic uint64_t filtered;
    uint64_t tsc0, mono0; /* TSC rate reference */
    pthread_t thread;
    _Atomic int running, stop;
} logS = {.level = LOGL_INFO, .lock = PTHREAD_MUTEX_INITIALIZER, .fd = 2};

static __thread logRing *logSelf;
static uint64_t logDrainAll(void);
static __thread int logAttachFailed;

static inline uint64_t logTsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static uint64_t logClockNs(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- levels ----------------------------------------------------------------------- */

static const char *const logLevelNames[] = {"error", "warning", "info", "debug"};

const char *logLevelName(int level)
{
    return level >= LOGL_ERROR && level <= LOGL_DEBUG ? logLevelNames[level] : "?";
}

int logLevelParse(const char *name)
{
    for (int i = LOGL_ERROR; name && i <= LOGL_DEBUG; i++)
        if (strcmp(name, logLevelNames[i]) == 0)
            return i;
    return -1;
}

int logSetLevel(int level)
{
    if (level < LOGL_ERROR || level > LOGL_DEBUG)
        return -1;
    atomic_store_explicit(&logS.level, level, memory_order_relaxed);
    return 0;
}

int logGetLevel(void)
{
    return atomic_load_explicit(&logS.level, memory_order_relaxed);
}

/* ---- set-up ----------------------------------------------------------------------- */

void logInit(void)
{
    logStop();
    uint32_t n = atomic_load(&logS.ringCount);
    for (uint32_t i = 0; i < n && i < LOG_MAX_RINGS; i++) {
        free(atomic_load(&logS.rings[i]));
        atomic_store(&logS.rings[i], NULL);
    }
    atomic_store(&logS.ringCount, 0);
    atomic_store(&logS.unattachedDrops, 0);
    atomic_store(&logS.filtered, 0);
    logS.unattachedSeen = 0;
    logS.written = 0;
    atomic_store(&logS.level, LOGL_INFO);
    if (logS.dest == LOG_TO_FILE && logS.fd > 2)
        close(logS.fd);
    logS.dest = LOG_TO_STDERR;
    logS.fd = 2;
    snprintf(logS.destination, sizeof logS.destination, "stderr");
    logS.tsc0 = logTsc();
    logS.mono0 = logClockNs(CLOCK_MONOTONIC);
    logSelf = NULL;
    logAttachFailed = 0;
}

int logConfigure(int level, const char *destination, char *err, size_t errlen)
{
    if (level < LOGL_ERROR || level > LOGL_DEBUG) {
        snprintf(err, errlen, "log level %d out of range", level);
        return -1;
    }
    int dest = LOG_TO_FILE, fd = -1;
    if (strcmp(destination, "stderr") == 0) {
        dest = LOG_TO_STDERR;
        fd = 2;
    } else if (strcmp(destination, "syslog") == 0) {
        dest = LOG_TO_SYSLOG;
    } else {
        fd = open(destination, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "log file %s: %s", destination, strerror(errno));
            return -1;
        }
    }
    pthread_mutex_lock(&logS.lock);
    logDrainAll(); /* what was queued before the change goes where it was meant to */
    if (logS.dest == LOG_TO_FILE && logS.fd > 2)
        close(logS.fd);
    if (logS.dest == LOG_TO_SYSLOG && dest != LOG_TO_SYSLOG)
        closelog();
    if (dest == LOG_TO_SYSLOG && logS.dest != LOG_TO_SYSLOG)
        openlog("xchgd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    logS.dest = dest;
    logS.fd = fd;
    snprintf(logS.destination, sizeof logS.destination, "%s", destination);
    pthread_mutex_unlock(&logS.lock);
    logSetLevel(level);
    return 0;
}

int logAttach(const char *name)
{
    if (logSelf)
        return 0;
    uint32_t i = atomic_fetch_add(&logS.ringCount, 1);
    if (i >= LOG_MAX_RINGS) {
        atomic_fetch_sub(&logS.ringCount, 1);
        logAttachFailed = 1;
        return -1;
    }
    logRing *r = aligned_alloc(64, sizeof *r);
    if (!r) {
        /* the slot stays empty; the consumer skips NULL rings */
        logAttachFailed = 1;
        return -1;
    }
    memset(r, 0, offsetof(logRing, slot));
    snprintf(r->name, sizeof r->name, "%s", name);
    atomic_store_explicit(&logS.rings[i], r, memory_order_release);
    logSelf = r;
    return 0;
}

/* ---- producers -------------------------------------------------------------------- */

/* The calling thread's ring, attaching it on first use. NULL when it cannot
 * have one (the record is then counted as dropped). */
static inline logRing *logRingOfThread(void)
{
    if (__builtin_expect(logSelf != NULL, 1))
        return logSelf;
    if (!logAttachFailed) {
        char name[LOG_NAME_MAX];
        snprintf(name, sizeof name, "thread%u", atomic_load(&logS.ringCount));
        if (logAttach(name) == 0)
            return logSelf;
    }
    atomic_fetch_add_explicit(&logS.unattachedDrops, 1, memory_order_relaxed);
    return NULL;
}

/* A free slot of the thread's ring, or NULL (full: counted). */
static inline logRecord *logReserve(logRing *r, uint32_t *head)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (__builtin_expect(h - t >= LOG_RING_SLOTS, 0)) {
        atomic_store_explicit(&r->dropped,
                              atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return NULL;
    }
    *head = h;
    return &r->slot[h & (LOG_RING_SLOTS - 1)];
}

void logPut(int level, const char *fmt, const uint64_t *args, unsigned n)
{
    if (level > atomic_load_explicit(&logS.level, memory_order_relaxed))
        return;
    logRing *r = logRingOfThread();
    uint32_t h;
    logRecord *rec = r ? logReserve(r, &h) : NULL;
    if (!rec)
        return;
    if (n > LOG_ARGS_MAX)
        n = LOG_ARGS_MAX;
    rec->tsc = logTsc();
    rec->fmt = fmt;
    rec->level = (uint8_t)level;
    rec->nargs = (uint8_t)n;
    for (unsigned i = 0; i < n; i++)
        rec->u.args[i] = args[i];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

void logText(int level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&logS.level, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&logS.filtered, 1, memory_order_relaxed);
        return;
    }
    logRing *r = logRingOfThread();
    uint32_t h;
    logRecord *rec = r ? logReserve(r, &h) : NULL;
    if (!rec)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->u.text, sizeof rec->u.text, fmt, ap);
    va_end(ap);
    rec->tsc = logTsc();
    rec->fmt = NULL;
    rec->level = (uint8_t)level;
    rec->nargs = 0;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* ---- formatting (consumer) -------------------------------------------------------- */

static size_t logAppend(char *buf, size_t len, size_t at, const char *s, size_t n)
{
    if (at + 1 >= len)
        return at;
    if (n > len - 1 - at)
        n = len - 1 - at;
    memcpy(buf + at, s, n);
    buf[at + n] = 0;
    return at + n;
}

/* One conversion: spec is "%[flags][width][.prec]" (no length), conv the
 * conversion character, lenMod the length modifier seen. */
static int logConvert(char *out, size_t len, const char *spec, const char *lenMod, char conv,
                      uint64_t v)
{
    char f[48];
    int wide = lenMod[0] == 'l' || lenMod[0] == 'z' || lenMod[0] == 'j' || lenMod[0] == 't';
    switch (conv) {
    case 'd':
    case 'i': {
        long long s = wide                        ? (long long)v
                      : strcmp(lenMod, "hh") == 0 ? (long long)(signed char)v
                      : lenMod[0] == 'h'          ? (long long)(short)v
                                                  : (long long)(int)v;
        snprintf(f, sizeof f, "%slld", spec);
        return snprintf(out, len, f, s);
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        unsigned long long u = wide                        ? (unsigned long long)v
                               : strcmp(lenMod, "hh") == 0 ? (unsigned long long)(unsigned char)v
                               : lenMod[0] == 'h'          ? (unsigned long long)(unsigned short)v
                                                           : (unsigned long long)(unsigned)v;
        snprintf(f, sizeof f, "%sll%c", spec, conv);
        return snprintf(out, len, f, u);
    }
    case 'c':
        snprintf(f, sizeof f, "%sc", spec);
        return snprintf(out, len, f, (int)(unsigned char)v);
    case 's': {
        const char *s = (const char *)(uintptr_t)v;
        snprintf(f, sizeof f, "%ss", spec);
        return snprintf(out, len, f, s ? s : "(null)");
    }
    case 'p':
        return snprintf(out, len, "0x%" PRIx64, v);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        return snprintf(out, len, "<float>");
    default:
        return snprintf(out, len, "%%%c", conv);
    }
}

size_t logFormat(char *buf, size_t len, const char *fmt, const uint64_t *args, unsigned n)
{
    size_t at = 0;
    unsigned next = 0;
    if (len == 0)
        return 0;
    buf[0] = 0;
    while (*fmt) {
        const char *pct = strchr(fmt, '%');
        if (!pct) {
            at = logAppend(buf, len, at, fmt, strlen(fmt));
            break;
        }
        at = logAppend(buf, len, at, fmt, (size_t)(pct - fmt));
        const char *p = pct + 1;
        if (*p == '%') {
            at = logAppend(buf, len, at, "%", 1);
            fmt = p + 1;
            continue;
        }
        char spec[24] = "%";
        size_t sl = 1;
        while (*p && strchr("-+ #0123456789.", *p) && sl < sizeof spec - 1)
            spec[sl++] = *p++;
        spec[sl] = 0;
        char lenMod[3] = "";
        size_t ml = 0;
        while (*p && strchr("hlzjtqL", *p) && ml < 2)
            lenMod[ml++] = *p++;
        lenMod[ml] = 0;
        if (!*p)
            break;
        char conv = *p++;
        char piece[128];
        if (conv == 'n')
            snprintf(piece, sizeof piece, "%%n");
        else if (next >= n)
            snprintf(piece, sizeof piece, "<?>");
        else
            logConvert(piece, sizeof piece, spec, lenMod, conv, args[next++]);
        at = logAppend(buf, len, at, piece, strlen(piece));
        fmt = p;
    }
    return at;
}

/* ---- the consumer ----------------------------------------------------------------- */

typedef struct {
    uint64_t tscA, wallA; /* anchor taken before the drain */
    uint64_t tscPerSec;   /* measured since logInit */
    char out[LOG_BATCH_MAX];
    size_t used;
} logDrain;

static void logWriteAll(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a log destination that fails loses the lines; never block the daemon */
        p += w;
        n -= (size_t)w;
    }
}

static void logOut(logDrain *d)
{
    if (d->used && logS.dest != LOG_TO_SYSLOG)
        logWriteAll(logS.fd, d->out, d->used);
    d->used = 0;
}

static uint64_t logWallNs(const logDrain *d, uint64_t tsc)
{
    if (!d->tscPerSec)
        return d->wallA;
    if (tsc <= d->tscA)
        return d->wallA -
               (uint64_t)((unsigned __int128)(d->tscA - tsc) * 1000000000ull / d->tscPerSec);
    return d->wallA + (uint64_t)((unsigned __int128)(tsc - d->tscA) * 1000000000ull / d->tscPerSec);
}

static void logLine(logDrain *d, const char *ring, int level, uint64_t tsc, const char *msg)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    logS.written++;
    if (logS.dest == LOG_TO_SYSLOG) {
        syslog(prio[level & 3], "%s [%s] %s", logLevelName(level), ring, msg);
        return;
    }
    uint64_t ns = logWallNs(d, tsc);
    time_t sec = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char line[LOG_LINE_MAX];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ %-7s [%s] %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(ns % 1000000000ull / 1000), logLevelName(level), ring, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (d->used + (size_t)n > sizeof d->out)
        logOut(d);
    memcpy(d->out + d->used, line, (size_t)n);
    d->used += (size_t)n;
}

static void logReportDrops(logDrain *d, const char *name, uint64_t now, uint64_t *seen)
{
    if (now == *seen)
        return;
    char msg[96];
    snprintf(msg, sizeof msg, "log: %" PRIu64 " record(s) dropped (ring full)", now - *seen);
    *seen = now;
    logLine(d, name, LOGL_WARNING, d->tscA, msg);
}

/* Drains every ring once; logS.lock held. Returns lines written. */
static uint64_t logDrainAll(void)
{
    static logDrain d;
    uint64_t before = logS.written;
    d.tscA = logTsc();
    d.wallA = logClockNs(CLOCK_REALTIME);
    uint64_t mono = logClockNs(CLOCK_MONOTONIC);
    if (mono > logS.mono0 + 1000000ull && d.tscA > logS.tsc0)
        d.tscPerSec = (uint64_t)((unsigned __int128)(d.tscA - logS.tsc0) * 1000000000ull /
                                 (mono - logS.mono0));
    else
        d.tscPerSec = 0;
    uint32_t n = atomic_load(&logS.ringCount);
    for (uint32_t i = 0; i < n && i < LOG_MAX_RINGS; i++) {
        logRing *r = atomic_load_explicit(&logS.rings[i], memory_order_acquire);
        if (!r)
            continue;
        uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        for (; t != h; t++) {
            const logRecord *rec = &r->slot[t & (LOG_RING_SLOTS - 1)];
            char msg[LOG_LINE_MAX - 64];
            if (rec->fmt)
                logFormat(msg, sizeof msg, rec->fmt, rec->u.args, rec->nargs);
            else
                snprintf(msg, sizeof msg, "%s", rec->u.text);
            logLine(&d, r->name, rec->level, rec->tsc, msg);
        }
        atomic_store_explicit(&r->tail, t, memory_order_release);
        logReportDrops(&d, r->name, atomic_load_explicit(&r->dropped, memory_order_relaxed),
                       &r->droppedSeen);
    }
    logReportDrops(&d, "log", atomic_load(&logS.unattachedDrops), &logS.unattachedSeen);
    logOut(&d);
    return logS.written - before;
}

uint64_t logFlush(void)
{
    pthread_mutex_lock(&logS.lock);
    uint64_t n = logDrainAll();
    pthread_mutex_unlock(&logS.lock);
    return n;
}

static void *logThread(void *arg)
{
    (void)arg;
    while (!atomic_load(&logS.stop)) {
        logFlush();
        struct timespec ts = {0, (long)LOG_DRAIN_NS};
        nanosleep(&ts, NULL);
    }
    logFlush();
    return NULL;
}

int logStart(char *err, size_t errlen)
{
    if (atomic_load(&logS.running))
        return 0;
    atomic_store(&logS.stop, 0);
    int rc = pthread_create(&logS.thread, NULL, logThread, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "logger thread: %s", strerror(rc));
        return -1;
    }
    pthread_setname_np(logS.thread, "xchg-logger");
    atomic_store(&logS.running, 1);
    return 0;
}

void logStop(void)
{
    if (atomic_load(&logS.running)) {
        atomic_store(&logS.stop, 1);
        pthread_join(logS.thread, NULL);
        atomic_store(&logS.running, 0);
    }
    logFlush();
}

void logGetStats(logStats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&logS.lock);
    out->written = logS.written;
    snprintf(out->destination, sizeof out->destination, "%s", logS.destination);
    pthread_mutex_unlock(&logS.lock);
    uint32_t n = atomic_load(&logS.ringCount);
    for (uint32_t i = 0; i < n && i < LOG_MAX_RINGS; i++) {
        const logRing *r = atomic_load(&logS.rings[i]);
        if (r) {
            out->dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
            out->rings++;
        }
    }
    out->dropped += atomic_load(&logS.unattachedDrops);
    out->filtered = atomic_load(&logS.filtered);
    out->level = logGetLevel();
}

/* ---- control command -------------------------------------------------------------- */

/* log.level [level=error|warning|info|debug]: sets the level when given, and
 * answers the level, the destination and the counters. */
static int logCmdLevel(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    json_t *v = json_object_get(args, "level");
    if (v) {
        int level = logLevelParse(json_string_value(v));
        if (level < 0)
            return ctlErrorf(err, CTL_ERR_BAD_REQUEST,
                             "args.level: one of error, warning, info, debug");
        int old = logGetLevel();
        logSetLevel(level);
        logText(LOGL_WARNING, "log level %s -> %s (control socket)", logLevelName(old),
                logLevelName(level));
    }
    logStats st;
    logGetStats(&st);
    *data = json_pack("{s:s, s:s, s:I, s:I, s:i}", "level", logLevelName(st.level), "destination",
                      st.destination, "written", (json_int_t)st.written, "dropped",
                      (json_int_t)st.dropped, "rings", (int)st.rings);
    return *data ? 0 : ctlErrorf(err, CTL_ERR_SERIALIZE, "log.level: cannot encode the answer");
}

int logRegisterCommands(ctlServer *s)
{
    return ctlServerRegister(s, "log.level", logCmdLevel, NULL,
                             "[level=error|warning|info|debug]: get or set the log level");
}
