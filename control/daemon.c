/* daemon.c -- start-up checks, --daemon, storage lock, pidfile, signals, sd_notify, shutdown hooks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control/daemon.h"
#include "control/log.h"

typedef struct {
    const char *name;
    dmnHook *fn;
    void *ctx;
} dmnHookSlot;

static struct {
    int lockFd;
    int readyFd; /* write end of the --daemon parent's pipe, -1 when none */
    int daemon;
    char pidfile[PATH_MAX];
    volatile int *quit, *reload;
    dmnHookSlot hooks[DMN_PHASES][DMN_MAX_HOOKS];
    int hookCount[DMN_PHASES];
} dmn = {.lockFd = -1, .readyFd = -1};

/* ---- directories and ports ------------------------------------------------------- */

static int dmnMkdirs(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0750) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

int dmnCheckDir(const char *what, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (dmnMkdirs(dir) != 0) {
        snprintf(err, errlen, "%s %s: cannot create it: %s", what, dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a directory", what, dir);
        return -1;
    }
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/.xchgd-probe.%d", dir, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: not writable: %s", what, dir, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

int dmnCheckParentDir(const char *what, const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    return dmnCheckDir(what, dir, err, errlen);
}

/* The value of key `key` in a comma-separated devargs string, or "". */
static void dmnDevarg(const char *devargs, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    out[0] = 0;
    for (const char *p = strchr(devargs, ','); p; p = strchr(p + 1, ',')) {
        if (strncmp(p + 1, key, kl) == 0 && p[1 + kl] == '=') {
            snprintf(out, len, "%.*s", (int)strcspn(p + 2 + kl, ","), p + 2 + kl);
            return;
        }
    }
}

int dmnCheckPorts(const cfgConfig *cfg, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < cfg->portCount; i++) {
        const cfgPort *p = &cfg->ports[i];
        char path[PATH_MAX], iface[64];
        if (strncmp(p->devargs, "net_af_packet", 13) == 0 ||
            strncmp(p->devargs, "net_af_xdp", 10) == 0) {
            dmnDevarg(p->devargs, "iface", iface, sizeof iface);
            if (!iface[0]) {
                snprintf(err, errlen, "port %s: devargs '%s' name no iface=", p->name, p->devargs);
                return -1;
            }
            snprintf(path, sizeof path, "/sys/class/net/%s", iface);
            if (access(path, F_OK) != 0) {
                snprintf(err, errlen,
                         "port %s: network interface '%s' does not exist (devargs '%s'; see "
                         "'ip link')",
                         p->name, iface, p->devargs);
                return -1;
            }
        } else if (strncmp(p->devargs, "net_", 4) != 0) {
            snprintf(iface, sizeof iface, "%.*s", (int)strcspn(p->devargs, ","), p->devargs);
            snprintf(path, sizeof path, "/sys/bus/pci/devices/%s", iface);
            if (access(path, F_OK) != 0) {
                snprintf(err, errlen,
                         "port %s: PCI device '%s' does not exist (devargs '%s'; see "
                         "'dpdk-devbind.py --status')",
                         p->name, iface, p->devargs);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- detaching -------------------------------------------------------------------- */

/* The --daemon parent: waits for one byte from the daemon ("ready"). */
static void dmnParentWait(int fd, pid_t child)
{
    char b;
    ssize_t n;
    do
        n = read(fd, &b, 1);
    while (n < 0 && errno == EINTR);
    waitpid(child, NULL, 0); /* the intermediate child exits at once */
    if (n == 1)
        _exit(0);
    fprintf(stderr, "xchgd: the daemon stopped before it was ready (see the messages above "
                    "and the log)\n");
    _exit(DMN_EXIT_SETUP);
}

int dmnDaemonize(char *err, size_t errlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "--daemon: pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "--daemon: fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid > 0) {
        close(pfd[1]);
        dmnParentWait(pfd[0], pid);
    }
    close(pfd[0]);
    if (setsid() < 0)
        _exit(DMN_EXIT_SETUP);
    pid = fork(); /* not a session leader: never gets a controlling terminal */
    if (pid < 0)
        _exit(DMN_EXIT_SETUP);
    if (pid > 0)
        _exit(0);
    umask(027);
    dmn.readyFd = pfd[1];
    dmn.daemon = 1;
    return 0;
}

int dmnIsDaemon(void)
{
    return dmn.daemon;
}

void dmnNotify(const char *state)
{
    sd_notify(0, state);
}

void dmnReady(void)
{
    char msg[64];
    snprintf(msg, sizeof msg, "READY=1\nMAINPID=%d", (int)getpid());
    sd_notify(0, msg);
    if (dmn.readyFd < 0)
        return;
    fflush(NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
    const char b = 'R';
    if (write(dmn.readyFd, &b, 1) != 1) {
        /* the parent is gone; nothing to tell */
    }
    close(dmn.readyFd);
    dmn.readyFd = -1;
}

/* ---- lock and pidfile ------------------------------------------------------------- */

int dmnLock(const char *dir, int *held, char *err, size_t errlen)
{
    char path[PATH_MAX];
    *held = 0;
    snprintf(path, sizeof path, "%s/xchgd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "storage lock %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0)
            pid[strcspn(pid, "\n")] = 0, pid[n < 31 ? n : 31] = 0;
        close(fd);
        if (e == EWOULDBLOCK) {
            *held = 1;
            snprintf(err, errlen,
                     "storage %s is in use by another xchgd (pid %s holds %s): refusing to "
                     "share it",
                     dir, pid, path);
        } else {
            snprintf(err, errlen, "storage lock %s: flock: %s", path, strerror(e));
        }
        return -1;
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        snprintf(err, errlen, "storage lock %s: cannot write the pid: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    dmn.lockFd = fd;
    return 0;
}

void dmnUnlock(void)
{
    if (dmn.lockFd >= 0) {
        /* the file stays: removing it would race a new instance's open */
        if (ftruncate(dmn.lockFd, 0) != 0) {
            /* a stale pid in a lock nobody holds is harmless */
        }
        close(dmn.lockFd);
        dmn.lockFd = -1;
    }
}

int dmnPidfileWrite(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 16], buf[32];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "pidfile %s: %s", tmp, strerror(errno));
        return -1;
    }
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    int ok = write(fd, buf, (size_t)len) == len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    snprintf(dmn.pidfile, sizeof dmn.pidfile, "%s", path);
    return 0;
}

void dmnPidfileRemove(void)
{
    if (!dmn.pidfile[0])
        return;
    char buf[32] = "";
    FILE *f = fopen(dmn.pidfile, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    if (atoi(buf) == (int)getpid())
        unlink(dmn.pidfile);
    dmn.pidfile[0] = 0;
}

/* ---- signals ---------------------------------------------------------------------- */

static void dmnOnSignal(int sig)
{
    if (sig == SIGHUP) {
        if (dmn.reload)
            *dmn.reload = 1;
    } else if (dmn.quit) {
        *dmn.quit = 1;
    }
}

void dmnSignals(volatile int *quit, volatile int *reload)
{
    dmn.quit = quit;
    dmn.reload = reload;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dmnOnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* ---- shutdown hooks --------------------------------------------------------------- */

int dmnHookAdd(dmnPhase phase, const char *name, dmnHook *fn, void *ctx)
{
    if ((unsigned)phase >= DMN_PHASES || !fn || dmn.hookCount[phase] >= DMN_MAX_HOOKS)
        return -1;
    dmnHookSlot *h = &dmn.hooks[phase][dmn.hookCount[phase]++];
    h->name = name;
    h->fn = fn;
    h->ctx = ctx;
    return 0;
}

int dmnHooksRun(dmnPhase phase)
{
    static const char *const phaseName[] = {"before workers stop", "after workers stopped"};
    int failed = 0;
    if ((unsigned)phase >= DMN_PHASES)
        return 0;
    for (int i = 0; i < dmn.hookCount[phase]; i++) {
        const dmnHookSlot *h = &dmn.hooks[phase][i];
        char err[256] = "";
        if (h->fn(h->ctx, err, sizeof err) != 0) {
            failed++;
            logText(LOGL_ERROR, "shutdown hook %s (%s) failed: %s", h->name, phaseName[phase],
                    err[0] ? err : "no reason given");
        } else {
            logText(LOGL_INFO, "shutdown hook %s (%s) done", h->name, phaseName[phase]);
        }
    }
    return failed;
}

void dmnHooksClear(void)
{
    memset(dmn.hooks, 0, sizeof dmn.hooks);
    memset(dmn.hookCount, 0, sizeof dmn.hookCount);
}
