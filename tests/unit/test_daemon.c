/* test_daemon.c -- unit tests of xchgd's start-up checks, storage lock, pidfile and shutdown hooks
 * (control/daemon.c).
 *
 * The lock is tried from a forked child, a process of its own as a second
 * xchgd would be. --daemon, signals and sd_notify are exercised with the
 * real xchgd by tests/integration/daemon.sh. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/daemon.h"
#include "control/log.h"

static char tmpDir[64];

static void testCheckDir(void **state)
{
    (void)state;
    char dir[160], err[256], file[160];
    snprintf(dir, sizeof dir, "%s/a/b/c", tmpDir);
    assert_int_equal(dmnCheckDir("storage.data_dir", dir, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(dmnCheckDir("again", dir, err, sizeof err), 0); /* existing is fine */
    snprintf(file, sizeof file, "%s/plain", tmpDir);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(dir, sizeof dir, "%s/plain/sub", tmpDir);
    assert_int_equal(dmnCheckDir("storage.wal_dir", dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "storage.wal_dir"));
    assert_non_null(strstr(err, "Not a directory"));
    assert_int_equal(dmnCheckDir("x", file, err, sizeof err), -1); /* a file, not a dir */
    /* the parent of a file path */
    snprintf(file, sizeof file, "%s/logs/xchgd.log", tmpDir);
    assert_int_equal(dmnCheckParentDir("log.destination", file, err, sizeof err), 0);
    snprintf(dir, sizeof dir, "%s/logs", tmpDir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(dmnCheckParentDir("p", "relative.pid", err, sizeof err), 0); /* "." */
}

/* Tries the lock in a child; returns its exit code: 0 locked, 1 held by
 * someone (message mentions `wantPid`), 2 other error. */
static int lockInChild(const char *dir, int wantPid)
{
    pid_t c = fork();
    if (c == 0) {
        char err[256];
        int held;
        int rc = dmnLock(dir, &held, err, sizeof err);
        if (rc == 0)
            _exit(0);
        char pid[32];
        snprintf(pid, sizeof pid, "pid %d ", wantPid);
        _exit(held && strstr(err, pid) && strstr(err, "in use by another xchgd") ? 1 : 2);
    }
    int status;
    waitpid(c, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static void testLock(void **state)
{
    (void)state;
    char dir[160], err[256], path[200], buf[32] = "";
    int held = -1;
    snprintf(dir, sizeof dir, "%s/store", tmpDir);
    assert_int_equal(dmnCheckDir("d", dir, err, sizeof err), 0);
    assert_int_equal(lockInChild(dir, 0), 0); /* free: a child takes and drops it */
    assert_int_equal(dmnLock(dir, &held, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/xchgd.lock", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_int_equal(atoi(buf), getpid());
    assert_int_equal(lockInChild(dir, getpid()), 1); /* held by us: refused, names us */
    dmnUnlock();
    assert_int_equal(lockInChild(dir, 0), 0); /* released */
    snprintf(path, sizeof path, "%s/nodir/x", tmpDir);
    assert_int_equal(dmnLock(path, &held, err, sizeof err), -1);
    assert_int_equal(held, 0);
    assert_non_null(strstr(err, "No such file"));
}

static void testPidfile(void **state)
{
    (void)state;
    char path[160], err[256], buf[32] = "";
    snprintf(path, sizeof path, "%s/xchgd.pid", tmpDir);
    assert_int_equal(dmnPidfileWrite(path, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_int_equal(atoi(buf), getpid());
    dmnPidfileRemove();
    assert_int_equal(access(path, F_OK), -1);
    /* a pidfile another process took over is not ours to remove */
    assert_int_equal(dmnPidfileWrite(path, err, sizeof err), 0);
    f = fopen(path, "w");
    fprintf(f, "1\n");
    fclose(f);
    dmnPidfileRemove();
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/nodir/xchgd.pid", tmpDir);
    assert_int_equal(dmnPidfileWrite(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "nodir"));
}

/* ---- hooks ------------------------------------------------------------------------ */

static char order[64];

static int hookA(void *ctx, char *err, size_t len)
{
    (void)err;
    (void)len;
    strcat(order, ctx);
    return 0;
}

static int hookFail(void *ctx, char *err, size_t len)
{
    strcat(order, ctx);
    snprintf(err, len, "disk full");
    return -1;
}

static void testHooks(void **state)
{
    (void)state;
    char path[160], err[128];
    logInit();
    snprintf(path, sizeof path, "%s/hooks.log", tmpDir);
    assert_int_equal(logConfigure(LOGL_INFO, path, err, sizeof err), 0);
    dmnHooksClear();
    order[0] = 0;
    assert_int_equal(dmnHookAdd(DMN_AFTER_STOP, "checkpoint", hookFail, "C"), 0);
    assert_int_equal(dmnHookAdd(DMN_BEFORE_STOP, "feed end", hookA, "F"), 0);
    assert_int_equal(dmnHookAdd(DMN_BEFORE_STOP, "halt", hookA, "H"), 0);
    assert_int_equal(dmnHookAdd(DMN_AFTER_STOP, "journal", hookA, "J"), 0);
    assert_int_equal(dmnHookAdd(DMN_PHASES, "bad", hookA, "X"), -1);
    assert_int_equal(dmnHookAdd(DMN_BEFORE_STOP, "null", NULL, "X"), -1);
    assert_int_equal(dmnHooksRun(DMN_BEFORE_STOP), 0);
    assert_string_equal(order, "FH");                 /* registration order, this phase only */
    assert_int_equal(dmnHooksRun(DMN_AFTER_STOP), 1); /* a failure does not stop the rest */
    assert_string_equal(order, "FHCJ");
    logFlush();
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_non_null(
        strstr(text, "shutdown hook checkpoint (after workers stopped) failed: disk full"));
    assert_non_null(strstr(text, "shutdown hook feed end (before workers stop) done"));
    for (int i = 0; i < DMN_MAX_HOOKS - 2; i++)
        assert_int_equal(dmnHookAdd(DMN_BEFORE_STOP, "more", hookA, ""), 0);
    assert_int_equal(dmnHookAdd(DMN_BEFORE_STOP, "one too many", hookA, ""), -1);
    dmnHooksClear();
    assert_int_equal(dmnHooksRun(DMN_BEFORE_STOP), 0);
    logInit();
}

/* ---- ports ------------------------------------------------------------------------ */

static int portCheck(const char *devargs, char *err, size_t len)
{
    cfgPort p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "p0");
    snprintf(p.devargs, sizeof p.devargs, "%s", devargs);
    cfgConfig c;
    memset(&c, 0, sizeof c);
    c.ports = &p;
    c.portCount = 1;
    return dmnCheckPorts(&c, err, len);
}

static void testPorts(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(portCheck("net_af_packet0,iface=lo", err, sizeof err), 0);
    assert_int_equal(portCheck("net_af_xdp0,start_queue=0,iface=lo,queue_count=1", err, sizeof err),
                     0);
    assert_int_equal(portCheck("net_af_packet0,iface=xchgnone9", err, sizeof err), -1);
    assert_non_null(strstr(err, "port p0: network interface 'xchgnone9' does not exist"));
    assert_int_equal(portCheck("net_af_packet0,qpairs=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "iface="));
    assert_int_equal(portCheck("0000:ff:1f.7,txq_inline=0", err, sizeof err), -1);
    assert_non_null(strstr(err, "PCI device '0000:ff:1f.7' does not exist"));
    assert_int_equal(portCheck("net_null0", err, sizeof err), 0); /* makes its own device */
    assert_int_equal(portCheck("net_tap0,iface=newtap", err, sizeof err), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/test_daemon.XXXXXX");
    return mkdtemp(tmpDir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpDir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCheckDir), cmocka_unit_test(testLock),  cmocka_unit_test(testPidfile),
        cmocka_unit_test(testHooks),    cmocka_unit_test(testPorts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
