/* daemon.h -- xchgd's life as a server: start-up checks, detaching, lock, pidfile, signals,
 * systemd notification and the shutdown hook list.
 *
 * docs/operations/daemon.md describes the behaviour an operator sees: the
 * refusals at start and their exit codes, --daemon, the storage lock, what
 * SIGHUP reloads and the order of a graceful stop. None of this runs on a
 * worker lcore. */
#ifndef XCHG_CONTROL_DAEMON_H
#define XCHG_CONTROL_DAEMON_H

#include <stddef.h>

#include "config/config.h"

/* Exit codes of a refused start (sysexits.h values, so systemd's
 * RestartPreventExitStatus= can name them). */
#define DMN_EXIT_USAGE   64 /* EX_USAGE: bad command line */
#define DMN_EXIT_NOPORT  69 /* EX_UNAVAILABLE: a configured port does not exist */
#define DMN_EXIT_SETUP   70 /* EX_SOFTWARE: EAL, port or worker set-up failed */
#define DMN_EXIT_CANTDIR 73 /* EX_CANTCREAT: a directory or file cannot be written */
#define DMN_EXIT_LOCKED  75 /* EX_TEMPFAIL: another xchgd holds the storage lock */
#define DMN_EXIT_CONFIG  78 /* EX_CONFIG: the configuration is refused */

/* Creates dir (and missing parents, mode 0750) and proves it writable by
 * creating and removing a file in it (root ignores permission bits, so
 * access(2) would not tell; a read-only mount or a full disk would). `what`
 * names it in the message ("storage.data_dir"). Returns 0, or -1 with
 * "what DIR: reason" in err. */
int dmnCheckDir(const char *what, const char *dir, char *err, size_t errlen);

/* Checks that the directory holding `path` (a file) is writable, as
 * dmnCheckDir. Returns 0 or -1 with a message. */
int dmnCheckParentDir(const char *what, const char *path, char *err, size_t errlen);

/* Checks that every configured port exists before the EAL is started: for
 * net_af_packet / net_af_xdp devargs the kernel interface of `iface=`, for a
 * PCI address its /sys/bus/pci/devices entry. Other virtual devices (net_tap,
 * net_null, net_ring) make their own and pass. Returns 0, or -1 with
 * "port NAME: ..." in err. */
int dmnCheckPorts(const cfgConfig *cfg, char *err, size_t errlen);

/* Detaches: fork, setsid, fork. The parent waits until the daemon calls
 * dmnReady (exits 0) or exits/fails first (exits DMN_EXIT_SETUP after the
 * daemon's own messages, which still go to the caller's stderr until
 * ready). Returns 0 in the daemon, -1 with a message in err when fork or
 * pipe fail (in the caller, nothing forked). */
int dmnDaemonize(char *err, size_t errlen);

/* Takes the storage lock: flock(LOCK_EX|LOCK_NB) on DIR/xchgd.lock, and
 * writes our pid into it. The lock lives as long as the process (or until
 * dmnUnlock). Returns 0, -1 with a message naming the holder's pid when
 * another process holds it (*held = 1), or -1 with the failing call (*held =
 * 0). */
int dmnLock(const char *dir, int *held, char *err, size_t errlen);
void dmnUnlock(void);

/* Writes our pid to path (atomically: temporary file and rename). Returns 0
 * or -1 with a message. dmnPidfileRemove removes it if it still holds our
 * pid. */
int dmnPidfileWrite(const char *path, char *err, size_t errlen);
void dmnPidfileRemove(void);

/* Installs SIGTERM and SIGINT (set *quit = 1), SIGHUP (set *reload = 1) and
 * ignores SIGPIPE. */
void dmnSignals(volatile int *quit, volatile int *reload);

/* Start-up is complete: the --daemon parent is released (exits 0), stdin,
 * stdout and stderr of a daemon go to /dev/null, and systemd (when
 * NOTIFY_SOCKET is set) gets READY=1 with MAINPID. */
void dmnReady(void);

/* Whether the process detached with dmnDaemonize. */
int dmnIsDaemon(void);

/* Tells systemd a state line ("RELOADING=1", "STOPPING=1", "STATUS=..."),
 * when it runs us with NOTIFY_SOCKET; a no-op otherwise. */
void dmnNotify(const char *state);

/* ---- shutdown hooks ------------------------------------------------------------------ */

/* Phases of a graceful stop, in order (docs/operations/daemon.md):
 *   DMN_BEFORE_STOP  the control socket stopped accepting new work, workers
 *                    still run (e.g. the feed's end-of-session message, a
 *                    trading halt);
 *   DMN_AFTER_STOP   workers have returned, sessions are logged out, the port
 *                    is still open (final checkpoint, journal close). */
typedef enum { DMN_BEFORE_STOP = 0, DMN_AFTER_STOP = 1, DMN_PHASES } dmnPhase;

/* A hook returns 0, or -1 after writing a reason into err (logged). */
typedef int dmnHook(void *ctx, char *err, size_t errlen);

#define DMN_MAX_HOOKS 32

/* Adds a hook to a phase; hooks of a phase run in the order they were added.
 * `name` must live for the run. Returns 0, -1 when the phase is full or bad. */
int dmnHookAdd(dmnPhase phase, const char *name, dmnHook *fn, void *ctx);

/* Runs every hook of a phase, logging each (info when it succeeds, error
 * with its reason when it fails); one failure does not stop the others.
 * Returns the number that failed. */
int dmnHooksRun(dmnPhase phase);

/* Forgets every hook (tests). */
void dmnHooksClear(void);

#endif
