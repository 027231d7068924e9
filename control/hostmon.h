/* hostmon.h -- host monitoring from /proc: CPU times, load, soft and hard interrupts,
 * memory and network devices, sampled off the workers (DESIGN.md §10).
 *
 * Six sources, each a file under a root directory ("/proc" in production, a
 * fixture directory in tests): stat, loadavg, softirqs, interrupts, meminfo,
 * net/dev. A parser takes the file's text and fills an hmSample, whose arrays
 * are all allocated by hmSampleCreate from hmLimits: parsing never allocates.
 * Parsers are robust to what kernels vary in: unknown lines and keys are
 * skipped, columns are mapped from each file's header (CPU columns of
 * softirqs and interrupts, the field names of net/dev), CPU ids may be sparse
 * (offline CPUs have no cpuN line in stat and no column in interrupts), and
 * older kernels' shorter cpu lines read as zero in the missing fields. A line
 * that should carry numbers and does not is skipped and counted in
 * malformed[source]; rows beyond the limits (a CPU id >= maxCpus, more
 * interfaces than maxIfaces, ...) are skipped and counted in dropped[source].
 *
 * The sampler (hmSampler) reads all six sources into one of two samples and
 * derives per-CPU utilisation from the latest two, as integer permille of the
 * ticks that passed (floats appear only when formatting output). It does
 * system calls (open/read/close of six /proc files, a few hundred
 * microseconds on a small machine) and belongs on the control lcore or a
 * helper thread, never on a worker. hmWriteProm renders the latest sample as
 * Prometheus text with xchg_host_ names (docs/operations/metrics.md). */
#ifndef XCHG_CONTROL_HOSTMON_H
#define XCHG_CONTROL_HOSTMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/prom.h"

typedef enum {
    HM_SRC_STAT,
    HM_SRC_LOADAVG,
    HM_SRC_SOFTIRQS,
    HM_SRC_INTERRUPTS,
    HM_SRC_MEMINFO,
    HM_SRC_NETDEV,
    HM_SRC_COUNT
} hmSource;

/* Fields of a cpu line of /proc/stat, in the kernel's order, in USER_HZ
 * ticks. The first HM_CPU_MODES add up to the CPU's time; guest and
 * guest_nice are already included in user and nice. */
enum {
    HM_CPU_USER,
    HM_CPU_NICE,
    HM_CPU_SYSTEM,
    HM_CPU_IDLE,
    HM_CPU_IOWAIT,
    HM_CPU_IRQ,
    HM_CPU_SOFTIRQ,
    HM_CPU_STEAL,
    HM_CPU_GUEST,
    HM_CPU_GUEST_NICE,
    HM_CPU_FIELDS
};
#define HM_CPU_MODES 8

/* Fields of /proc/net/dev, receive then transmit. */
enum {
    HM_NET_RX_BYTES,
    HM_NET_RX_PACKETS,
    HM_NET_RX_ERRS,
    HM_NET_RX_DROP,
    HM_NET_RX_FIFO,
    HM_NET_RX_FRAME,
    HM_NET_RX_COMPRESSED,
    HM_NET_RX_MULTICAST,
    HM_NET_TX_BYTES,
    HM_NET_TX_PACKETS,
    HM_NET_TX_ERRS,
    HM_NET_TX_DROP,
    HM_NET_TX_FIFO,
    HM_NET_TX_COLLS,
    HM_NET_TX_CARRIER,
    HM_NET_TX_COMPRESSED,
    HM_NET_FIELDS
};

#define HM_NAME_MAX       32 /* softirq, irq, meminfo field and interface names, with NUL */
#define HM_INFO_MAX       64 /* description of an interrupt line, with NUL */
#define HM_NO_CPU         UINT32_MAX
#define HM_STAT_CTXT      (1u << 0) /* bits of hmSample.statHave */
#define HM_STAT_BTIME     (1u << 1)
#define HM_STAT_PROCESSES (1u << 2)
#define HM_STAT_RUNNING   (1u << 3)
#define HM_STAT_BLOCKED   (1u << 4)
#define HM_STAT_INTR      (1u << 5)
#define HM_STAT_SOFTIRQ   (1u << 6)
#define HM_STAT_ALL       (1u << 7) /* the aggregate "cpu" line */

typedef struct {
    uint32_t maxCpus;      /* CPU ids 0..maxCpus-1; 0: the configured CPUs, at least 16 */
    uint32_t maxSoftirqs;  /* softirq kinds; 0: 32 */
    uint32_t maxIrqs;      /* rows of /proc/interrupts; 0: 1024 */
    uint32_t maxMemFields; /* lines of /proc/meminfo; 0: 128 */
    uint32_t maxIfaces;    /* network devices; 0: 256 */
    size_t readBuf;        /* bytes read from one file; 0: 1 MiB (a longer
                              file is cut at its last whole line, counted in
                              dropped) */
    uint32_t clockTicks;   /* USER_HZ of /proc/stat; 0: sysconf(_SC_CLK_TCK) */
} hmLimits;

typedef struct {
    uint64_t t[HM_CPU_FIELDS];
} hmCpuTimes;

typedef struct {
    char name[HM_NAME_MAX]; /* the label before ':' ("24", "NMI", "LOC") */
    char info[HM_INFO_MAX]; /* the text after the counts, spaces collapsed */
    bool perCpu;            /* false: one machine-wide count (x86 ERR, MIS) */
    uint64_t total;         /* sum over the columns, or the machine-wide count */
} hmIrq;

typedef struct {
    char name[HM_NAME_MAX]; /* as in the file: "MemTotal", "Active(anon)" */
    uint64_t value;         /* bytes when isBytes, else the number as read */
    bool isBytes;           /* the line had a kB unit */
} hmMemField;

typedef struct {
    char name[HM_NAME_MAX];
    uint64_t v[HM_NET_FIELDS];
    uint32_t have; /* bit f set: column f was in the file */
} hmNetDev;

typedef struct {
    hmLimits lim; /* resolved */

    /* /proc/stat */
    uint32_t cpuCount;  /* cpuN lines kept */
    bool *cpuOnline;    /* [maxCpus]: a cpuN line was seen */
    hmCpuTimes *cpu;    /* [maxCpus], by CPU id */
    hmCpuTimes cpuAll;  /* the "cpu" line */
    uint32_t statHave;  /* HM_STAT_* seen */
    uint64_t ctxt;      /* context switches */
    uint64_t btime;     /* boot time, seconds since the epoch */
    uint64_t processes; /* forks since boot */
    uint64_t procsRunning, procsBlocked;
    uint64_t intrTotal;    /* first number of the intr line */
    uint64_t softirqTotal; /* first number of the softirq line */

    /* /proc/loadavg */
    uint32_t load[3]; /* 1, 5, 15 minutes, in hundredths */
    uint32_t tasksRunnable, tasksTotal, lastPid;

    /* /proc/softirqs: counts[kind * maxCpus + column]; the column's CPU is
     * softColCpu[column] (HM_NO_CPU when the id is >= maxCpus) */
    uint32_t softCols, softKinds;
    uint32_t *softColCpu;          /* [maxCpus] */
    char (*softName)[HM_NAME_MAX]; /* [maxSoftirqs] */
    uint64_t *softCount;           /* [maxSoftirqs * maxCpus] */

    /* /proc/interrupts: likewise by row and column */
    uint32_t irqCols, irqRows;
    uint32_t *irqColCpu; /* [maxCpus] */
    hmIrq *irq;          /* [maxIrqs] */
    uint64_t *irqCount;  /* [maxIrqs * maxCpus] */

    /* /proc/meminfo */
    uint32_t memCount;
    hmMemField *mem; /* [maxMemFields] in file order */

    /* /proc/net/dev */
    uint32_t ifCount;
    hmNetDev *net; /* [maxIfaces] in file order */

    uint32_t ok;                      /* bit (1 << source): read and parsed */
    uint64_t malformed[HM_SRC_COUNT]; /* lines skipped as malformed */
    uint64_t dropped[HM_SRC_COUNT];   /* rows or columns beyond the limits */
    uint64_t monoNs;                  /* CLOCK_MONOTONIC when reading began */
    uint64_t durationNs;              /* time to read and parse all sources */
} hmSample;

/* Per-CPU utilisation over an interval, permille of the ticks that passed. */
typedef struct {
    bool valid;                  /* false: offline at either end, no ticks
                                    passed, or a counter went backwards */
    uint16_t busy;               /* everything but idle and iowait */
    uint16_t mode[HM_CPU_MODES]; /* per HM_CPU_* mode */
    uint64_t ticks;              /* ticks in the interval (sum of the modes) */
} hmCpuUtil;

/* File name of a source under the root ("stat", "net/dev", ...) and the
 * short name used in metrics labels ("stat", "netdev", ...). */
const char *hmSourceFile(hmSource src);
const char *hmSourceName(hmSource src);

/* Fills in the defaults of a zeroed limit. */
void hmLimitsResolve(hmLimits *out, const hmLimits *in);

/* Allocates a sample and all its arrays (lim NULL: defaults). NULL when out
 * of memory. */
hmSample *hmSampleCreate(const hmLimits *lim);
void hmSampleFree(hmSample *smp);

/* Parsers: each clears its part of the sample (and its counters) and parses
 * text[0..len). Return 0, or -1 when the text is not that file at all (no
 * usable header or no usable line); the ok bit is set on success. */
int hmParseStat(hmSample *smp, const char *text, size_t len);
int hmParseLoadavg(hmSample *smp, const char *text, size_t len);
int hmParseSoftirqs(hmSample *smp, const char *text, size_t len);
int hmParseInterrupts(hmSample *smp, const char *text, size_t len);
int hmParseMeminfo(hmSample *smp, const char *text, size_t len);
int hmParseNetDev(hmSample *smp, const char *text, size_t len);

/* Reads root/<file> of src into buf (cap bytes) and parses it. A file longer
 * than cap - 1 is cut at its last whole line (dropped[src] + 1). Returns 0, or
 * -1 when the file cannot be read or parsed. */
int hmReadSource(hmSample *smp, hmSource src, const char *root, char *buf, size_t cap);

/* All six sources; sets monoNs and durationNs. Returns the number of sources
 * read, -1 if none. */
int hmReadAll(hmSample *smp, const char *root, char *buf, size_t cap);

/* Utilisation of one CPU between two readings of its times. */
void hmCpuUtilCompute(const hmCpuTimes *prev, const hmCpuTimes *cur, hmCpuUtil *out);

/* Looks up a meminfo field by name; NULL if absent. */
const hmMemField *hmMemFind(const hmSample *smp, const char *name);
/* Looks up a network device by name; NULL if absent. */
const hmNetDev *hmNetFind(const hmSample *smp, const char *name);

/* ---- sampler --------------------------------------------------------------------- */

typedef struct hmSampler hmSampler;

typedef struct {
    uint64_t samples;                  /* hmSamplerSample calls that read something */
    uint64_t readErrors[HM_SRC_COUNT]; /* a source could not be read or parsed */
    uint64_t malformed[HM_SRC_COUNT];  /* lines skipped, summed over samples */
    uint64_t dropped[HM_SRC_COUNT];    /* rows beyond the limits, summed */
    uint64_t lastDurationNs;
} hmSamplerStats;

/* Allocates both samples, the utilisation table and the read buffer. root is
 * copied ("/proc" in production). NULL with a message in err on failure. */
hmSampler *hmSamplerCreate(const char *root, const hmLimits *lim, char *err, size_t errlen);

/* Reads every source into the older sample, which becomes the latest, and
 * recomputes utilisation against the previous one. Returns the number of
 * sources read, -1 if none. */
int hmSamplerSample(hmSampler *s);

/* Points the sampler at another root (tests: a second fixture directory).
 * Returns 0, or -1 if the path is too long. */
int hmSamplerSetRoot(hmSampler *s, const char *root);

/* The latest sample and the one before; NULL until there is one. */
const hmSample *hmSamplerLatest(const hmSampler *s);
const hmSample *hmSamplerPrevious(const hmSampler *s);

/* Utilisation between the latest two samples of a CPU id; NULL when there
 * is none (fewer than two samples, an id out of range, or not valid). */
const hmCpuUtil *hmSamplerCpuUtil(const hmSampler *s, uint32_t cpu);
/* Of the aggregate "cpu" line; NULL likewise. */
const hmCpuUtil *hmSamplerCpuUtilAll(const hmSampler *s);

/* USER_HZ the sampler converts ticks with. */
uint32_t hmSamplerClockTicks(const hmSampler *s);

void hmSamplerGetStats(const hmSampler *s, hmSamplerStats *out);

void hmSamplerDestroy(hmSampler *s);

/* The latest sample (and utilisation, when there are two) as Prometheus
 * text. Returns 0, or -1 when the writer overflowed or refused a line. */
int hmWriteProm(promWriter *w, const hmSampler *s);

#endif
