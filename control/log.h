/* log.h -- xchgd's logging: one lock-free SPSC ring per thread, one logger thread.
 *
 * Every thread that logs (each worker lcore, the control lcore, any other
 * thread) owns a ring of fixed-size records. A producer never blocks, never
 * allocates, takes no lock and makes no system call: logMsg stores the TSC,
 * a pointer to a format string in static storage and up to LOG_ARGS_MAX
 * integer arguments; formatting happens later, on the logger thread. A full
 * ring drops the record and counts it. Threads off the hot path may use
 * logText, which formats at once into the record (vsnprintf, no syscall).
 *
 * One logger thread drains every ring, formats each record with a wall-clock
 * timestamp (TSC converted by anchors it takes itself), its level and the
 * ring's name, and writes it to stderr, a file (O_APPEND; reopened by
 * logConfigure, e.g. on SIGHUP) or syslog. Lines of one thread keep their
 * order; lines of different threads may interleave out of timestamp order by
 * up to one drain period (10 ms). docs/operations/logging.md has the format
 * and the decisions. */
#ifndef XCHG_CONTROL_LOG_H
#define XCHG_CONTROL_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Levels, most severe first; a record is kept when its level <= the current
 * level. The numbers are the config's (cfgConfig.log.level). */
enum { LOGL_ERROR = 0, LOGL_WARNING = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

#define LOG_ARGS_MAX   6     /* integer arguments of a logMsg record */
#define LOG_TEXT_MAX   224   /* bytes of a logText message, NUL included */
#define LOG_RING_SLOTS 1024u /* records per thread's ring (power of two) */
#define LOG_MAX_RINGS  128   /* threads that can attach */
#define LOG_NAME_MAX   16

typedef struct {
    uint64_t written;  /* lines written to the destination */
    uint64_t dropped;  /* records dropped on full rings, all rings */
    uint64_t filtered; /* records not queued because of the level (logText only) */
    uint32_t rings;    /* attached threads */
    int level;         /* current level */
    char destination[256];
} logStats;

/* Resets the module: level info, destination stderr, no rings, no thread.
 * Call once before any other function (xchgd does it first thing). */
void logInit(void);

/* Sets the level and the destination: "stderr", "syslog" or a file path
 * (anything else; opened O_WRONLY|O_APPEND|O_CREAT, mode 0640). Safe while
 * the logger runs (called from the control thread on SIGHUP); a file is
 * reopened even when the path is unchanged, for log rotation. Returns 0, or
 * -1 with a message in err when the level is out of range or the file cannot
 * be opened (the previous destination then stays). */
int logConfigure(int level, const char *destination, char *err, size_t errlen);

/* Changes only the level. Returns 0, -1 when out of range. Any thread. */
int logSetLevel(int level);
int logGetLevel(void);

/* "error", "warning", "info", "debug"; "?" out of range. */
const char *logLevelName(int level);

/* The level named `name` (as above), or -1. */
int logLevelParse(const char *name);

/* Gives the calling thread its ring, named `name` (truncated to 15 bytes).
 * Allocates: call it before a hot loop. A thread that logs without
 * attaching is attached on its first record as "thread<N>". Returns 0 (also
 * when already attached), -1 when LOG_MAX_RINGS are in use or memory is
 * short (that thread's records are then dropped and counted). */
int logAttach(const char *name);

/* Queues a record of up to LOG_ARGS_MAX integer arguments for `fmt`, which
 * must live for the whole run (a string literal). Conversions the logger
 * understands: d i u x X o c with h hh l ll z j t modifiers, flags, width
 * and precision; %s with an argument cast to uintptr_t that points to a
 * string in static storage; %%. Floats print as "<float>", %n is not
 * interpreted. Never blocks, no syscall, no malloc once attached: safe on a
 * worker lcore. Use through the logMsg macro. */
void logPut(int level, const char *fmt, const uint64_t *args, unsigned n);

/* logMsg(LOGL_WARNING, "port %u: %u frames dropped", port, n): every argument
 * is converted to uint64_t (pointers for %s: cast to uintptr_t first). */
#define logMsg(level, fmt, ...)                                                                    \
    do {                                                                                           \
        const uint64_t logArgs_[] = {0, ##__VA_ARGS__};                                            \
        _Static_assert(sizeof logArgs_ / sizeof logArgs_[0] - 1 <= LOG_ARGS_MAX,                   \
                       "logMsg: too many arguments");                                              \
        logPut((level), (fmt), logArgs_ + 1,                                                       \
               (unsigned)(sizeof logArgs_ / sizeof logArgs_[0] - 1));                              \
    } while (0)

/* Formats now (vsnprintf; truncated to LOG_TEXT_MAX - 1 bytes) and queues the
 * text. No syscall and no malloc, but costs the formatting: for threads off
 * the hot path (control lcore, storage, start-up). */
void logText(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts the logger thread (drains every 10 ms). Call after the EAL so the
 * thread inherits the control lcore's CPU affinity, never a worker's.
 * Returns 0, or -1 with a message in err. */
int logStart(char *err, size_t errlen);

/* Drains every ring now from the calling thread (also when the logger
 * thread is not running). Returns the number of lines written. */
uint64_t logFlush(void);

/* Stops the logger thread after a final drain, closes a file destination
 * (syslog is closed too). Rings stay allocated until logInit; records queued
 * afterwards are written by logFlush. Safe when not started. */
void logStop(void);

/* Copies the counters and the current settings. */
void logGetStats(logStats *out);

/* Formats one logMsg record into buf the way the logger does (for tests and
 * the logger itself). Returns the length written (truncated to fit). */
size_t logFormat(char *buf, size_t len, const char *fmt, const uint64_t *args, unsigned n);

/* Registers the control command log.level ([level=NAME]: sets it; answers
 * level, destination, written, dropped, rings). Returns 0, -1 on a clash. */
typedef struct ctlServer ctlServer;
int logRegisterCommands(ctlServer *s);

#endif
