/* xchgd.c -- the xchg daemon: EAL and port set-up, worker launch, control lcore loop.
 *
 * Lcore roles come from the config (DESIGN.md §1): the control lcore is the
 * EAL main lcore and runs the control socket; each market segment's worker
 * runs on its own lcore, pinned by the EAL. Set-up failures exit with a
 * message naming what failed. */
#include <dirent.h>
#include <getopt.h>
#include <grp.h>
#include <numa.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "control/ctl.h"
#include "control/daemon.h"
#include "control/hostcheck.h"
#include "control/log.h"
#include "dataplane/accounts.h"
#include "control/metrics.h"
#include "control/prom.h"
#include "dataplane/commands.h"
#include "dataplane/durable.h"
#include "dataplane/feedarchd.h"
#include "dataplane/dpmetrics.h"
#include "dataplane/mdservice.h"
#include "dataplane/reload.h"
#include "dataplane/worker.h"
#include "dataplane/xdp/xdpctl.h"

#define RX_DESC           1024
#define TX_DESC           1024
#define MAX_EAL_ARGS      64
#define NO_HUGE_MEMORY_MB "1024"
#define HUGE_MIN_BYTES    (512ULL << 20)
#define MAX_SESSIONS      64
#define HISTORY_DEPTH     4096

static volatile int quit, reload;

typedef struct {
    const char *configPath;
    int noHuge, preOpen, recoverToCorruption;
    int daemon, checkHost, json;
    const char *pidfile, *hostRoot;
    char *extraEal[16];
    int extraCount;
} xdArgs;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xchgd [-c CONFIG] [--no-huge] [--pre-open] [--daemon] [--pidfile PATH]\n"
            "             [--recover-to-corruption] [-- EAL-ARGS...]\n"
            "       xchgd --check-host [-c CONFIG] [--json] [--host-root DIR]\n"
            "  -c CONFIG        configuration file (default config/xchg.conf)\n"
            "  --no-huge        do not use hugepages even when the host has them\n"
            "  --pre-open       start instruments in PRE_OPEN instead of CONTINUOUS\n"
            "  --daemon         detach once ready (the caller's exit status says if it started)\n"
            "  --pidfile PATH   pid file (default STORAGE_DATA_DIR/xchgd.pid)\n"
            "  --recover-to-corruption  replay a damaged journal up to the damage and set\n"
            "                   the rest aside (docs/storage/recovery.md), instead of refusing\n"
            "  --check-host     report the host's tuning for xchg (docs/tuning.md) and exit\n"
            "  --json           --check-host prints JSON\n"
            "  --host-root DIR  --check-host reads DIR/proc and DIR/sys (tests)\n");
}

static void parseArgs(int argc, char **argv, xdArgs *a)
{
    static const struct option opts[] = {{"no-huge", no_argument, NULL, 'H'},
                                         {"pre-open", no_argument, NULL, 'P'},
                                         {"recover-to-corruption", no_argument, NULL, 'X'},
                                         {"daemon", no_argument, NULL, 'D'},
                                         {"pidfile", required_argument, NULL, 'p'},
                                         {"check-host", no_argument, NULL, 'C'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"host-root", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->configPath = "config/xchg.conf";
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->configPath = optarg;
            break;
        case 'H':
            a->noHuge = 1;
            break;
        case 'P':
            a->preOpen = 1;
            break;
        case 'X':
            a->recoverToCorruption = 1;
            break;
        case 'D':
            a->daemon = 1;
            break;
        case 'p':
            a->pidfile = optarg;
            break;
        case 'C':
            a->checkHost = 1;
            break;
        case 'J':
            a->json = 1;
            break;
        case 'R':
            a->hostRoot = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(DMN_EXIT_USAGE);
        }
    }
    for (; optind < argc && a->extraCount < 16; optind++)
        a->extraEal[a->extraCount++] = argv[optind];
}

/* Free hugepage memory of the default size, from /proc/meminfo; *total gets
 * the reserved amount. */
static uint64_t freeHugeBytes(uint64_t *total)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    uint64_t pages = 0, kb = 0, all = 0;
    *total = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "HugePages_Free: %llu", &v) == 1)
            pages = v;
        if (sscanf(line, "HugePages_Total: %llu", &v) == 1)
            all = v;
        if (sscanf(line, "Hugepagesize: %llu kB", &v) == 1)
            kb = v;
    }
    fclose(f);
    *total = all * kb * 1024;
    return pages * kb * 1024;
}

/* Builds the EAL command line from the config: lcores, main lcore, vdevs,
 * hugepages or not. The strings live in `store`. */
static int buildEalArgs(const cfgConfig *cfg, const xdArgs *a, char **argv, char store[][256])
{
    static char devargs[CFG_MAX_PORTS][CFG_DEVARGS_MAX + 600]; /* + the XDP filter's xdp_prog= */
    int n = 0;
    argv[n++] = "xchgd";
    int len = snprintf(store[0], 256, "%u", cfg->lcores.control), mapped = 0;
    for (uint32_t i = 0; i < cfg->segmentCount && len < 240; i++) {
        const cfgSegment *s = &cfg->segments[i];
        mapped |= s->cpu != s->lcore; /* segments.cpu: lcore@cpu (docs/config.md) */
        len += s->cpu != s->lcore
                   ? snprintf(store[0] + len, (size_t)(256 - len), ",%u@%u", s->lcore, s->cpu)
                   : snprintf(store[0] + len, (size_t)(256 - len), ",%u", s->lcore);
    }
    argv[n++] = mapped ? "--lcores" : "-l";
    argv[n++] = store[0];
    snprintf(store[1], 256, "%u", cfg->lcores.control);
    argv[n++] = "--main-lcore";
    argv[n++] = store[1];
    snprintf(store[2], 256, "xchgd%d", (int)getpid());
    argv[n++] = "--file-prefix";
    argv[n++] = store[2];
    /* --no-huge puts DPDK 22.11 in legacy memory mode, which it refuses
     * with --in-memory ("Option --legacy-mem is not compatible with
     * --in-memory"). Without hugepages there are no hugepage files to keep
     * out of the filesystem anyway; --no-shconf keeps the runtime config
     * out of /var/run/dpdk as --in-memory does. */
    uint64_t hugeTotal, hugeFree = freeHugeBytes(&hugeTotal);
    const int noHuge = a->noHuge || hugeFree < HUGE_MIN_BYTES;
    argv[n++] = noHuge ? "--no-shconf" : "--in-memory";
    argv[n++] = "--log-level=lib.eal:warning";
    int allVirtual = 1;
    for (uint32_t i = 0; i < cfg->portCount && n < MAX_EAL_ARGS - 24; i++) {
        if (strncmp(cfg->ports[i].devargs, "net_", 4) != 0) {
            argv[n++] = "-a";
            argv[n++] = (char *)cfg->ports[i].devargs;
            allVirtual = 0;
        } else {
            xdpCtlDevargs(cfg, &cfg->ports[i], devargs[i], sizeof devargs[i]);
            argv[n++] = "--vdev";
            argv[n++] = devargs[i];
        }
    }
    if (allVirtual)
        argv[n++] = "--no-pci";
    if (noHuge) {
        if (!a->noHuge) {
            /* start-up: straight to stderr (the operator is watching), and to the log */
            fprintf(stderr,
                    "xchgd: warning: hugepages missing: %llu MiB free of %llu MiB reserved, "
                    "xchgd needs %llu MiB; running with --no-huge (4 KiB pages: more TLB "
                    "misses, slower). Reserve them: see docs/tuning.md (xchgd --check-host).\n",
                    (unsigned long long)(hugeFree >> 20), (unsigned long long)(hugeTotal >> 20),
                    HUGE_MIN_BYTES >> 20);
            logText(LOGL_WARNING, "hugepages missing (%llu MiB free, %llu MiB needed): --no-huge",
                    (unsigned long long)(hugeFree >> 20), HUGE_MIN_BYTES >> 20);
        }
        argv[n++] = "--no-huge";
        argv[n++] = "-m";
        argv[n++] = NO_HUGE_MEMORY_MB;
    }
    for (int i = 0; i < a->extraCount; i++)
        argv[n++] = a->extraEal[i];
    argv[n] = NULL;
    return n;
}

/* Port id of a config port: the device name is its devargs up to the first
 * comma (a vdev name or a PCI address). */
static uint16_t findPort(const cfgPort *p)
{
    char name[sizeof p->devargs];
    memcpy(name, p->devargs, sizeof name);
    name[strcspn(name, ",")] = 0;
    uint16_t id;
    if (rte_eth_dev_get_port_by_name(name, &id) != 0)
        rte_exit(EXIT_FAILURE, "port %s: device '%s' not found (devargs '%s')\n", p->name, name,
                 p->devargs);
    return id;
}

/* net_af_packet opens its sockets for every protocol and binds them to the
 * interface only after their rings exist, so a ring can start with frames of
 * any interface in the namespace (seen when tests run side by side). Nobody
 * can have a session before we are ready, so whatever is queued now is
 * dropped, and said, before the workers start. */
static void discardEarlyFrames(uint16_t port, uint16_t queues)
{
    struct rte_mbuf *pkts[64];
    uint64_t dropped = 0;
    for (uint16_t q = 0; q < queues; q++) {
        uint16_t n;
        while ((n = rte_eth_rx_burst(port, q, pkts, RTE_DIM(pkts))) > 0) {
            rte_pktmbuf_free_bulk(pkts, n);
            dropped += n;
        }
    }
    if (dropped)
        printf("xchgd: discarded %" PRIu64 " frame(s) queued on port %u before start\n", dropped,
               port);
}

static void setupPort(uint16_t port, uint16_t queues, wkWorker **workers, unsigned socket)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    int rc = rte_eth_dev_configure(port, queues, queues, &conf);
    if (rc < 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_configure(port %u): %s\n", port, rte_strerror(-rc));
    uint16_t rxd = RX_DESC, txd = TX_DESC;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
    for (uint16_t q = 0; q < queues; q++) {
        rc = rte_eth_rx_queue_setup(port, q, rxd, socket, NULL, wkPool(workers[q]));
        if (rc < 0)
            rte_exit(EXIT_FAILURE, "rte_eth_rx_queue_setup(port %u, queue %u): %s\n", port, q,
                     rte_strerror(-rc));
        rc = rte_eth_tx_queue_setup(port, q, txd, socket, NULL);
        if (rc < 0)
            rte_exit(EXIT_FAILURE, "rte_eth_tx_queue_setup(port %u, queue %u): %s\n", port, q,
                     rte_strerror(-rc));
    }
    rc = rte_eth_dev_start(port);
    if (rc < 0)
        rte_exit(EXIT_FAILURE, "rte_eth_dev_start(port %u): %s\n", port, rte_strerror(-rc));
    discardEarlyFrames(port, queues);
}

/* A refused start: the message on stderr and the log file, then exit(code). */
static void startFail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void startFail(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "xchgd: %s\n", msg);
    logText(LOGL_ERROR, "start refused: %s", msg);
    logStop();
    exit(code);
}

/* The EAL leaves /var/run/dpdk/<file-prefix>/ behind; the prefix is
 * per-process, so nobody else uses it. */
static void removeRuntimeDir(const char *prefix)
{
    char dir[300], path[600];
    snprintf(dir, sizeof dir, "/var/run/dpdk/%s", prefix);
    DIR *d = opendir(dir);
    if (!d)
        return;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static uint32_t tradingDayToday(void)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    return (uint32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

/* NUMA node of an lcore, via libnuma when the host has NUMA, else the EAL's. */
static unsigned lcoreNode(unsigned lcore)
{
    if (numa_available() >= 0) {
        int node = numa_node_of_cpu((int)rte_lcore_to_cpu_id((int)lcore));
        if (node >= 0)
            return (unsigned)node;
    }
    unsigned s = rte_lcore_to_socket_id(lcore);
    return s == (unsigned)SOCKET_ID_ANY ? 0 : s;
}

/* Opens the control socket before anything else starts, so a second xchgd
 * on the same socket stops here, before it touches the port. Exits on
 * failure. */
static ctlServer *startControl(const cfgConfig *cfg)
{
    ctlServerOptions o = {.path = cfg->control.socketPath,
                          .mode = cfg->control.socketMode,
                          .owner = (uid_t)-1,
                          .group = (gid_t)-1};
    if (cfg->control.socketOwner[0]) {
        const struct passwd *pw = getpwnam(cfg->control.socketOwner);
        if (!pw)
            startFail(DMN_EXIT_CONFIG, "control.socket_owner: no user '%s'",
                      cfg->control.socketOwner);
        o.owner = pw->pw_uid;
    }
    if (cfg->control.socketGroup[0]) {
        const struct group *gr = getgrnam(cfg->control.socketGroup);
        if (!gr)
            startFail(DMN_EXIT_CONFIG, "control.socket_group: no group '%s'",
                      cfg->control.socketGroup);
        o.group = gr->gr_gid;
    }
    char err[256];
    ctlServer *s = ctlServerCreate(&o, err, sizeof err);
    if (!s)
        startFail(strstr(err, "another server") ? DMN_EXIT_LOCKED : DMN_EXIT_CANTDIR, "%s", err);
    return s;
}

/* A session recovered from the journal gets its filter entry back, as
 * session.add gave it. */
static void allowRecovered(void *ctx, uint32_t segIndex, const gwSessionInfo *s)
{
    const cfgConfig *cfg = ctx;
    xdpCtlSessionAdded(s->sessionId, s->allowedIp, cfg->segments[segIndex].orderPort);
}

/* Every check that can refuse a start before anything is touched: the
 * directories xchgd writes, the ports, the log destination. Exits with the
 * refusal's code (control/daemon.h). */
static void checkStart(const cfgConfig *cfg, const xdArgs *a, char *pidfile, size_t pidlen)
{
    char err[512];
    if (dmnCheckDir("storage.data_dir", cfg->storage.dataDir, err, sizeof err) != 0 ||
        dmnCheckDir("storage.wal_dir", cfg->storage.walDir, err, sizeof err) != 0 ||
        dmnCheckDir("storage.sst_dir", cfg->storage.sstDir, err, sizeof err) != 0)
        startFail(DMN_EXIT_CANTDIR, "%s", err);
    snprintf(pidfile, pidlen, "%s", a->pidfile ? a->pidfile : "");
    if (!a->pidfile)
        snprintf(pidfile, pidlen, "%s/xchgd.pid", cfg->storage.dataDir);
    if (dmnCheckParentDir("--pidfile", pidfile, err, sizeof err) != 0)
        startFail(DMN_EXIT_CANTDIR, "%s", err);
    const char *dest = cfg->log.destination;
    if (strcmp(dest, "stderr") != 0 && strcmp(dest, "syslog") != 0 &&
        dmnCheckParentDir("log.destination", dest, err, sizeof err) != 0)
        startFail(DMN_EXIT_CANTDIR, "%s", err);
    if (a->daemon && strcmp(dest, "stderr") == 0) {
        fprintf(stderr, "xchgd: log.destination is stderr, which a daemon closes: logging to "
                        "syslog instead\n");
        dest = "syslog";
    }
    if (logConfigure(cfg->log.level, dest, err, sizeof err) != 0)
        startFail(DMN_EXIT_CANTDIR, "log.destination: %s", err);
    if (dmnCheckPorts(cfg, err, sizeof err) != 0)
        startFail(DMN_EXIT_NOPORT, "%s", err);
}

/* Detaches (--daemon), then takes the storage lock and writes the pidfile. */
static void becomeServer(const cfgConfig *cfg, const xdArgs *a, const char *pidfile)
{
    char err[512];
    int held;
    if (a->daemon && dmnDaemonize(err, sizeof err) != 0)
        startFail(DMN_EXIT_SETUP, "%s", err);
    if (dmnLock(cfg->storage.dataDir, &held, err, sizeof err) != 0)
        startFail(held ? DMN_EXIT_LOCKED : DMN_EXIT_CANTDIR, "%s", err);
    if (dmnPidfileWrite(pidfile, err, sizeof err) != 0)
        startFail(DMN_EXIT_CANTDIR, "%s", err);
}

/* The Prometheus endpoint on 127.0.0.1 (control.metrics_port; 0 = none).
 * Its render callback is the metrics registry; sources join it later. The
 * endpoint is not on the trading path: when the port cannot be bound (taken
 * by another process) xchgd says so and runs without it, rather than
 * refusing to open the market over its monitoring (docs/operations/metrics.md). */
static promServer *startMetrics(const cfgConfig *cfg)
{
    if (cfg->control.metricsPort == 0)
        return NULL;
    promServerOptions o = {.port = cfg->control.metricsPort, .render = metricsRender};
    char err[256];
    promServer *s = promServerCreate(&o, err, sizeof err);
    if (!s)
        fprintf(stderr,
                "xchgd: warning: no metrics endpoint: control.metrics_port %u: %s; running "
                "without /metrics\n",
                cfg->control.metricsPort, err);
    return s;
}

static uint64_t monoNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The control lcore's loop: control socket, metrics endpoint, market data
 * service, the monitor's tick (host sample, interval window) once a second,
 * and a SIGHUP reload when one is pending. */
static void controlLoop(ctlServer *ctl, promServer *prom, dmMonitor *mon, mdsvService *md,
                        acdState *acd, cmdDaemon *d, cfgConfig *cfg, duStore *durable)
{
    uint64_t next = monoNs() + 1000000000ULL;
    while (!quit) {
        if (unlikely(reload)) { /* SIGHUP: dataplane/reload.c */
            reload = 0;
            rldReload(d, cfg);
        }
        /* while the workers report fills nobody waits in poll (acdPoll naps
         * 50 us instead), so an account follows its fills within microseconds;
         * quiet, each poll waits up to 1 ms (docs/accounts.md) */
        const int wait = acdPoll(acd) ? 0 : acdIdleMs(acd);
        ctlServerPoll(ctl, wait);
        if (prom)
            promServerPoll(prom, wait);
        mdsvPoll(md);
        duControlTick(durable); /* the control core's checkpoint capture, when asked */
        uint64_t now = monoNs();
        if (now >= next) {
            dmTick(mon);
            next = now - next > 1000000000ULL ? now + 1000000000ULL : next + 1000000000ULL;
        }
    }
}

int main(int argc, char **argv)
{
    logInit();
    xdArgs a;
    parseArgs(argc, argv, &a);
    static cfgConfig cfg;
    char err[512];
    if (a.checkHost)
        return hcMain(a.configPath, a.hostRoot, a.json, stdout);
    if (cfgLoad(a.configPath, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "xchgd: %s\n", err);
        return DMN_EXIT_CONFIG;
    }
    if (cfg.portCount != 1) {
        fprintf(stderr, "xchgd: %s: exactly one port is supported in this version (got %u)\n",
                a.configPath, cfg.portCount);
        return DMN_EXIT_CONFIG;
    }
    logAttach("control");
    /* first: it only warns (a taken port), whatever refuses the start below */
    promServer *prom = startMetrics(&cfg);
    static char pidfile[CFG_PATH_MAX + 32];
    checkStart(&cfg, &a, pidfile, sizeof pidfile);
    becomeServer(&cfg, &a, pidfile);
    /* from here a signal stops the start-up gracefully instead of killing it */
    dmnSignals(&quit, &reload);
    ctlServer *ctl = startControl(&cfg);
    char *eal[MAX_EAL_ARGS];
    static char store[3][256];
    int ealc = buildEalArgs(&cfg, &a, eal, store);
    if (rte_eal_init(ealc, eal) < 0)
        rte_exit(EXIT_FAILURE, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    /* after the EAL: the logger thread inherits the control lcore's affinity */
    if (logStart(err, sizeof err) != 0)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    uint16_t port = findPort(&cfg.ports[0]);
    wkWorker **workers = calloc(cfg.segmentCount, sizeof *workers);
    if (!workers)
        rte_exit(EXIT_FAILURE, "calloc(workers) failed\n");
    for (uint32_t i = 0; i < cfg.segmentCount; i++) {
        wkOptions wo = {.cfg = &cfg,
                        .segment = (uint16_t)i,
                        .portId = port,
                        .queue = (uint16_t)i,
                        .ip = cfg.ports[0].address,
                        .maxSessions = MAX_SESSIONS,
                        .historyDepth = HISTORY_DEPTH,
                        .tradingDay = tradingDayToday(),
                        .socketId = lcoreNode(cfg.segments[i].lcore)};
        workers[i] = wkCreate(&wo, err, sizeof err);
        if (!workers[i])
            rte_exit(EXIT_FAILURE, "%s\n", err);
    }
    /* the control core's stream first: the workers' replay then skips the
     * events it consumed already (docs/storage/recovery.md) */
    acdState *acd = acdCreate(&cfg, workers, cfg.segmentCount, ctl, tradingDayToday());
    duOptions dopt = {.recoverToCorruption = a.recoverToCorruption,
                      .maxSessions = MAX_SESSIONS,
                      .historyDepth = HISTORY_DEPTH,
                      .tradingDay = tradingDayToday(),
                      .acd = acd};
    if (!acd ||
        acdRecover(acd, cfg.storage.walDir, a.recoverToCorruption, &dopt.control, err, sizeof err))
        rte_exit(EXIT_FAILURE, "%s\n", acd ? err : "accounts: out of memory");
    duStore *durable = duOpen(&cfg, workers, cfg.segmentCount, &dopt, err, sizeof err);
    if (!durable)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    if (acdInstrumentsRecover(acd, err, sizeof err) != 0 || acdStart(acd, err, sizeof err) != 0)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    /* after recovery: the replayed feed is not archived twice */
    faService *feedArchive =
        faStart(&cfg, workers, cfg.segmentCount, tradingDayToday(), err, sizeof err);
    if (!feedArchive)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    if (xdpCtlStart(&cfg, 0, err, sizeof err) != 0)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    setupPort(port, (uint16_t)cfg.segmentCount, workers, lcoreNode(cfg.segments[0].lcore));
    if (xdpCtlStart(&cfg, 1, err, sizeof err) != 0)
        rte_exit(EXIT_FAILURE, "%s\n", err);
    duForEachSession(durable, workers, allowRecovered, &cfg);
    for (uint32_t i = 0; i < cfg.segmentCount; i++)
        if (rte_eal_remote_launch(wkMain, workers[i], cfg.segments[i].lcore) != 0)
            rte_exit(EXIT_FAILURE, "rte_eal_remote_launch(lcore %u) failed\n",
                     cfg.segments[i].lcore);

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    cmdDaemon d = {.cfg = &cfg,
                   .workers = workers,
                   .workerCount = cfg.segmentCount,
                   .startNs = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec,
                   .tradingDay = tradingDayToday(),
                   .quit = &quit,
                   .nextSessionId = duNextSessionId(durable)};
    dmOptions dmo = {
        .cfg = &cfg, .workers = workers, .workerCount = cfg.segmentCount, .portId = port};
    dmMonitor *mon = dmCreate(&dmo, err, sizeof err);
    if (!mon || dmRegisterSources(mon, prom) != 0 || dmRegisterCommands(mon, ctl) != 0 ||
        metricsAddSource("xdp", xdpCtlMetricsRender, NULL) != 0)
        rte_exit(EXIT_FAILURE, "monitor: %s\n", mon ? "metrics sources or commands clash" : err);
    d.monitor = mon;
    d.accountKnown = acdAccountKnown;
    d.accountCtx = acd;
    d.controlStatus = acdControlStatus;
    static jmJournals journals; /* xchg_journal_* and `stats` (docs/operations/metrics.md) */
    for (uint32_t i = 0; i <= cfg.segmentCount && duJournal(durable, i); i++) {
        char name[JM_NAME_MAX];
        if (i < cfg.segmentCount)
            snprintf(name, sizeof name, "segment%u", cfg.segments[i].id);
        else
            snprintf(name, sizeof name, "control");
        jmAdd(&journals, name, duJournal(durable, i));
    }
    d.journals = &journals;
    if (metricsAddSource("journal", jmRender, &journals) != 0)
        rte_exit(EXIT_FAILURE, "journal metrics could not be registered\n");
    if (acd)
        dmSetAccounts(mon, acdTopAccounts, acd);
    /* recovered trading states stand (an operator's halt survives a restart) */
    if (!acd || acdRegister(ctl, acd) != 0 || acdRegisterMetrics(acd) != 0 ||
        cmdRegisterAll(ctl, &d) != 0 || xdpCtlRegister(ctl) != 0 || duRegister(ctl, durable) != 0 ||
        (!duRecovered(durable) &&
         cmdSetAllStates(&d, a.preOpen ? MT_STATE_PRE_OPEN : MT_STATE_CONTINUOUS) != 0))
        rte_exit(EXIT_FAILURE, "control commands or instrument states could not be set up\n");
    mdsvOptions mo = {.cfg = &cfg,
                      .workers = workers,
                      .workerCount = cfg.segmentCount,
                      .portId = port,
                      .ip = cfg.ports[0].address,
                      .socketId = lcoreNode(cfg.lcores.control)};
    mdsvService *md = mdsvCreate(&mo, err, sizeof err);
    if (!md || mdsvRegister(md, ctl) != 0 || mdsvRegisterMetrics(md) != 0)
        rte_exit(EXIT_FAILURE, "%s\n", md ? "market data commands could not be registered" : err);
    if (prom)
        printf("xchgd: metrics on http://127.0.0.1:%u/metrics\n", promServerPort(prom));
    struct rte_ether_addr mac;
    rte_eth_macaddr_get(port, &mac);
    /* the ready line stays on stdout: scripts wait for it (a daemon's parent
     * exits 0 instead, systemd gets READY=1) */
    printf("xchgd: ready: %u segment(s), port %s (" RTE_ETHER_ADDR_PRT_FMT
           "), order entry on UDP %u, control socket %s\n",
           cfg.segmentCount, cfg.ports[0].devargs, RTE_ETHER_ADDR_BYTES(&mac),
           cfg.segments[0].orderPort, cfg.control.socketPath);
    fflush(stdout);
    logText(LOGL_INFO,
            "ready: pid %d, %u segment(s), port %s, order entry on UDP %u, control socket %s, "
            "storage lock %s/xchgd.lock, pidfile %s",
            (int)getpid(), cfg.segmentCount, cfg.ports[0].devargs, cfg.segments[0].orderPort,
            cfg.control.socketPath, cfg.storage.dataDir, pidfile);
    dmnReady();

    controlLoop(ctl, prom, mon, md, acd, &d, &cfg, durable);

    /* graceful stop: no new control requests are read from here on */
    dmnNotify("STOPPING=1");
    printf("xchgd: stopping\n");
    logText(LOGL_INFO, "stopping");
    dmnHooksRun(DMN_BEFORE_STOP);
    for (uint32_t i = 0; i < cfg.segmentCount; i++)
        wkStop(workers[i]);
    rte_eal_mp_wait_lcore();
    cjAttach(acd, NULL); /* duClose closes the control stream */
    duClose(durable);
    dmnHooksRun(DMN_AFTER_STOP);
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    xdpCtlStop();
    ctlServerDestroy(ctl);
    promServerDestroy(prom);
    metricsReset();
    dmDestroy(mon);
    acdDestroy(acd);
    for (uint32_t i = 0; i < cfg.segmentCount; i++)
        wkDestroy(workers[i]); /* frees summary frames still queued: before their pool */
    mdsvDestroy(md);
    faStop(feedArchive);
    free(workers);
    rte_eal_cleanup();
    removeRuntimeDir(store[2]);
    logText(LOGL_INFO, "stopped");
    logStop();
    dmnPidfileRemove();
    dmnUnlock();
    cfgFree(&cfg);
    printf("xchgd: stopped\n");
    return 0;
}
