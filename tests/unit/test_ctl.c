/* test_ctl.c -- unit tests of the control socket server (control/ctl.c) and of xchgctl.
 *
 * Each test starts a server on a socket in a private temporary directory,
 * with fake handlers shaped like xchgd's commands, and talks to it over real
 * AF_UNIX connections from the same process: every wait for an answer also
 * calls ctlServerPoll, so one thread plays both sides. The access-control
 * tests fork a child that drops to uid 65534 (they need root and are skipped
 * otherwise). The xchgctl tests fork/exec the built tool (build/bin/xchgctl,
 * or the one next to this test's build tree) against the test server. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/ctl.h"

#define NOBODY     65534
#define TEST_GROUP 4242

static char tmpDir[64];
static char toolPath[PATH_MAX];

/* ---- fake handlers ---------------------------------------------------------------- */

static int hEcho(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)err;
    *data = json_deep_copy(args);
    return 0;
}

static int hFail(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)data;
    return ctlErrorf(err, 3001, "order %d not found", 42);
}

static int hFailSilently(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *data = json_object(); /* must be released by the server */
    return -1;
}

/* {"blob":"xxx..."} of args.n bytes. */
static int hBig(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)err;
    size_t n = (size_t)json_integer_value(json_object_get(args, "n"));
    char *b = malloc(n + 1);
    memset(b, 'x', n);
    b[n] = '\0';
    *data = json_pack("{s:s}", "blob", b);
    free(b);
    return 0;
}

/* Broadcasts args.data on args.topic from inside a handler. */
static int hBroadcast(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)err;
    int n = ctlServerBroadcast(ctx, json_string_value(json_object_get(args, "topic")),
                               json_object_get(args, "data"));
    *data = json_pack("{s:i}", "queued", n);
    return 0;
}

static int hStatus(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *data = json_pack("{s:s,s:s,s:i,s:i,s:[{s:i,s:i,s:i,s:i,s:i,s:s}]}", "version", "0.1.0",
                      "state", "running", "trading_day", 20250102, "uptime_s", 93784, "segments",
                      "id", 0, "lcore", 1, "order_port", 9000, "sessions", 2, "orders_resting", 17,
                      "state_hash", "9f3a0c21");
    return 0;
}

static int hInstruments(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *data =
        json_pack("{s:[{s:s,s:s,s:i,s:i,s:s,s:i,s:s,s:s,s:s,s:s},"
                  "{s:s,s:s,s:i,s:i,s:s,s:i,s:s,s:s,s:s,s:s}]}",
                  "instruments", "id", "IF2501", "name", "CSI 300 index future 2025-01", "segment",
                  0, "book", 0, "tick_size", "0.2", "multiplier", 300, "state", "continuous",
                  "lower_limit", "3420.0", "upper_limit", "4180.0", "pre_settlement", "3800.0",
                  "id", "cu2501", "name", "Copper future 2025-01", "segment", 0, "book", 3,
                  "tick_size", "10", "multiplier", 5, "state", "halted", "lower_limit", "69220",
                  "upper_limit", "81240", "pre_settlement", "75230");
    return 0;
}

static int hBook(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    const char *ins = json_string_value(json_object_get(args, "instrument"));
    if (ins == NULL || strcmp(ins, "IF2501") != 0)
        return ctlErrorf(err, 1007, "instrument '%s' does not exist", ins ? ins : "");
    *data = json_pack("{s:s,s:[{s:s,s:i},{s:s,s:i}],s:[{s:s,s:i}]}", "instrument", ins, "bids",
                      "price", "3800.0", "qty", 5, "price", "3799.8", "qty", 12, "asks", "price",
                      "3800.2", "qty", 3);
    return 0;
}

static int hSessionAdd(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)err;
    *data = json_pack("{s:i,s:s,s:O,s:O,s:O}", "session_id", 7, "token",
                      "00112233445566778899aabbccddeeff", "account",
                      json_object_get(args, "account"), "segment", json_object_get(args, "segment"),
                      "source", json_object_get(args, "source"));
    return *data ? 0 : ctlErrorf(err, 1008, "account, segment and source are required");
}

static int hSessionList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *data =
        json_pack("{s:[{s:i,s:i,s:i,s:s,s:s,s:i,s:i,s:i,s:i}]}", "sessions", "session_id", 7,
                  "account", 1001, "segment", 0, "state", "logged_on", "bound", "198.18.0.2:40000",
                  "next_in_seq", 12, "next_out_seq", 30, "messages_in", 11, "messages_out", 29);
    return 0;
}

static int hSessionKick(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)data;
    json_int_t id = json_integer_value(json_object_get(args, "session_id"));
    if (id != 7)
        return ctlErrorf(err, 2006, "session %lld does not exist", (long long)id);
    return 0;
}

static int hStats(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *data = json_pack("{s:[{s:i,s:i,s:i,s:i,s:{s:i,s:i,s:i}}]}", "segments", "segment", 0, "lcore",
                      1, "rx_packets", 100, "tx_packets", 90, "in_box_latency", "count", 3,
                      "p50_ns", 800, "p99_ns", 2100);
    return 0;
}

static int hShutdown(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    (void)data;
    (void)err;
    return 0;
}

static void registerFakes(ctlServer *s)
{
    assert_int_equal(ctlServerRegister(s, "echo", hEcho, NULL, "returns its args"), 0);
    assert_int_equal(ctlServerRegister(s, "fail", hFail, NULL, "always fails with 3001"), 0);
    assert_int_equal(ctlServerRegister(s, "fail0", hFailSilently, NULL, "fails, no code"), 0);
    assert_int_equal(ctlServerRegister(s, "big", hBig, NULL, "a blob of n bytes"), 0);
    assert_int_equal(ctlServerRegister(s, "bcast", hBroadcast, s, "broadcasts"), 0);
    assert_int_equal(ctlServerRegister(s, "status", hStatus, NULL, "daemon status"), 0);
    assert_int_equal(ctlServerRegister(s, "instrument.list", hInstruments, NULL, "instruments"), 0);
    assert_int_equal(ctlServerRegister(s, "book.get", hBook, NULL, "order book"), 0);
    assert_int_equal(ctlServerRegister(s, "session.add", hSessionAdd, NULL, "new session"), 0);
    assert_int_equal(ctlServerRegister(s, "session.list", hSessionList, NULL, "sessions"), 0);
    assert_int_equal(ctlServerRegister(s, "session.kick", hSessionKick, NULL, "kick"), 0);
    assert_int_equal(ctlServerRegister(s, "stats", hStats, NULL, "counters"), 0);
    assert_int_equal(ctlServerRegister(s, "shutdown", hShutdown, NULL, "stop"), 0);
}

/* ---- server and client helpers ---------------------------------------------------------- */

typedef struct {
    ctlServer *s;
    char path[108];
} fixture;

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} client;

static uint64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void socketPath(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmpDir, name);
}

/* A server with the fakes on tmpDir/name; options from *o (path filled). */
static fixture *startWith(const char *name, ctlServerOptions o)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256] = "";
    socketPath(f->path, sizeof f->path, name);
    o.path = f->path;
    if (o.mode == 0)
        o.mode = 0660;
    f->s = ctlServerCreate(&o, err, sizeof err);
    if (f->s == NULL)
        fail_msg("ctlServerCreate: %s", err);
    registerFakes(f->s);
    return f;
}

static fixture *start(const char *name)
{
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1};
    return startWith(name, o);
}

static void stop(fixture *f)
{
    ctlServerDestroy(f->s);
    free(f);
}

static int connectTo(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static client *clientOpen(fixture *f)
{
    client *c = calloc(1, sizeof *c);
    c->fd = connectTo(f->path);
    assert_true(c->fd >= 0);
    return c;
}

static void clientClose(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

/* Writes everything, polling the server whenever the socket is full. */
static void sendAll(fixture *f, client *c, const char *data, size_t len)
{
    size_t off = 0;
    uint64_t deadline = nowMs() + 10000;
    while (off < len) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            fail_msg("send: %s", strerror(errno));
        else
            ctlServerPoll(f->s, 1);
        assert_true(nowMs() < deadline);
    }
}

static void sendStr(fixture *f, client *c, const char *s)
{
    sendAll(f, c, s, strlen(s));
}

/* Reads whatever is ready without waiting. Returns bytes read, 0 at EOF or
 * reset, -1 if nothing is ready. */
static ssize_t clientFill(client *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 1 << 17;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
    if (n > 0)
        c->len += (size_t)n;
    if (n < 0 && errno != EAGAIN)
        return 0; /* ECONNRESET: treated like EOF */
    return n;
}

/* Takes the next complete line out of c's buffer (new string) or NULL. */
static char *takeLine(client *c)
{
    char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
    if (nl == NULL)
        return NULL;
    size_t n = (size_t)(nl - c->buf);
    char *line = strndup(c->buf, n);
    memmove(c->buf, nl + 1, c->len - n - 1);
    c->len -= n + 1;
    return line;
}

/* Polls the server and reads until a line arrives (NULL at EOF or after
 * timeoutMs). */
static char *readLine(fixture *f, client *c, int timeoutMs)
{
    uint64_t deadline = nowMs() + (uint64_t)timeoutMs;
    for (;;) {
        char *line = takeLine(c);
        if (line)
            return line;
        if (nowMs() > deadline)
            return NULL;
        ctlServerPoll(f->s, 1);
        if (clientFill(c) == 0)
            return takeLine(c);
    }
}

static json_t *readJson(fixture *f, client *c)
{
    char *line = readLine(f, c, 5000);
    if (line == NULL)
        fail_msg("no answer");
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (j == NULL)
        fail_msg("answer is not JSON: %s", line);
    free(line);
    return j;
}

static json_t *call(fixture *f, client *c, const char *line)
{
    sendStr(f, c, line);
    return readJson(f, c);
}

/* True when the peer closes within timeoutMs and nothing else arrives. */
static int seesEof(fixture *f, client *c, int timeoutMs)
{
    uint64_t deadline = nowMs() + (uint64_t)timeoutMs;
    while (nowMs() < deadline) {
        if (f)
            ctlServerPoll(f->s, 1);
        ssize_t n = clientFill(c);
        if (n == 0)
            return c->len == 0;
        if (n < 0 && !f)
            usleep(1000);
    }
    return 0;
}

static void assertOk(const json_t *a)
{
    if (!json_is_true(json_object_get(a, "ok"))) {
        char *s = json_dumps(a, 0);
        fail_msg("expected ok, got %s", s);
    }
}

static void assertError(const json_t *a, int code, const char *fragment)
{
    const json_t *e = json_object_get(a, "error");
    assert_true(json_is_false(json_object_get(a, "ok")));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    if (fragment && strstr(msg, fragment) == NULL)
        fail_msg("message '%s' lacks '%s'", msg, fragment);
}

static ctlServerStats stats(const fixture *f)
{
    ctlServerStats st;
    ctlServerGetStats(f->s, &st);
    return st;
}

/* Polls until the server has `n` clients (or fails after 5 s). */
static void waitClients(fixture *f, uint32_t n)
{
    uint64_t deadline = nowMs() + 5000;
    while (stats(f).clients != n) {
        ctlServerPoll(f->s, 1);
        if (nowMs() > deadline)
            fail_msg("server has %u clients, expected %u", stats(f).clients, n);
    }
}

/* ---- requests and answers ---------------------------------------------------------------- */

/* the gate of test_hold: the "durable" position and the hold a handler asks */
static uint64_t gDurable;
static ctlServer *gHoldServer;

static uint64_t gateNow(void *ctx)
{
    (void)ctx;
    return gDurable;
}

static int hHold(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)err;
    ctlServerHold(gHoldServer, (uint64_t)json_integer_value(json_object_get(args, "seq")));
    *data = json_deep_copy(args);
    return 0;
}

/* An answer held for the gate leaves only once the gate passes its
 * sequence; later answers to the same client wait behind it (order kept),
 * another client's do not; the loop never blocks meanwhile. */
static void test_hold(void **state)
{
    (void)state;
    fixture *f = start("hold.sock");
    gHoldServer = f->s;
    gDurable = 0;
    assert_int_equal(ctlServerRegister(f->s, "hold", hHold, NULL, "held until seq"), 0);
    ctlServerSetGate(f->s, gateNow, NULL);
    client *c = clientOpen(f), *d = clientOpen(f);
    sendStr(f, c, "{\"id\":1,\"cmd\":\"hold\",\"args\":{\"seq\":5}}\n");
    sendStr(f, c, "{\"id\":2,\"cmd\":\"echo\",\"args\":{}}\n");
    char *line = readLine(f, c, 200);
    assert_null(line);
    assert_int_equal(stats(f).held, 2);
    /* another client is answered meanwhile */
    json_t *a = call(f, d, "{\"id\":3,\"cmd\":\"echo\",\"args\":{}}\n");
    assertOk(a);
    json_decref(a);
    gDurable = 4;
    assert_null(readLine(f, c, 100));
    gDurable = 5;
    a = readJson(f, c);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 1);
    json_decref(a);
    a = readJson(f, c);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 2);
    json_decref(a);
    /* a passed sequence is not held */
    a = call(f, c, "{\"id\":4,\"cmd\":\"hold\",\"args\":{\"seq\":3}}\n");
    assertOk(a);
    json_decref(a);
    assert_int_equal(stats(f).held, 2);
    clientClose(c);
    clientClose(d);
    stop(f);
}

static void test_ok_answer(void **state)
{
    (void)state;
    fixture *f = start("ok.sock");
    client *c = clientOpen(f);
    json_t *a = call(f, c, "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"a\":1,\"p\":\"3800.2\"}}\n");
    assertOk(a);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 1);
    json_t *want = json_pack("{s:i,s:s}", "a", 1, "p", "3800.2");
    assert_true(json_equal(json_object_get(a, "data"), want));
    json_decref(want);
    json_decref(a);
    /* no args: the handler sees {} ; a handler with no data answers {} */
    a = call(f, c, "{\"id\":2,\"cmd\":\"echo\"}\n");
    assert_int_equal(json_object_size(json_object_get(a, "data")), 0);
    json_decref(a);
    a = call(f, c, "{\"id\":3,\"cmd\":\"shutdown\",\"args\":null}\n");
    assertOk(a);
    assert_true(json_is_object(json_object_get(a, "data")));
    json_decref(a);
    assert_int_equal(stats(f).requests, 3);
    clientClose(c);
    stop(f);
}

static void test_id_echo(void **state)
{
    (void)state;
    fixture *f = start("id.sock");
    client *c = clientOpen(f);
    const char *ids[] = {"7", "\"abc\"", "{\"x\":[1,2]}", "null", "-1.5", "12345678901234"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "{\"id\":%s,\"cmd\":\"echo\"}\n", ids[i]);
        json_t *a = call(f, c, line);
        json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
        assert_true(json_equal(json_object_get(a, "id"), want));
        json_decref(want);
        json_decref(a);
    }
    json_t *a = call(f, c, "{\"cmd\":\"echo\"}\n");
    assert_true(json_is_null(json_object_get(a, "id")));
    json_decref(a);
    /* the id is echoed on errors too */
    a = call(f, c, "{\"id\":\"q9\",\"cmd\":\"fail\"}\n");
    assert_string_equal(json_string_value(json_object_get(a, "id")), "q9");
    json_decref(a);
    clientClose(c);
    stop(f);
}

static void test_bad_json(void **state)
{
    (void)state;
    fixture *f = start("badjson.sock");
    client *c = clientOpen(f);
    const char *bad[] = {"{nope\n", "{\"cmd\":\"echo\"\n", "\xff\xfe\n", "{\"cmd\":\"echo\"} x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = call(f, c, bad[i]);
        assertError(a, CTL_ERR_BAD_REQUEST, "bad JSON");
        assert_true(json_is_null(json_object_get(a, "id")));
        json_decref(a);
    }
    /* the connection stays usable */
    json_t *a = call(f, c, "{\"id\":9,\"cmd\":\"echo\"}\n");
    assertOk(a);
    json_decref(a);
    assert_int_equal(stats(f).errors, 4);
    clientClose(c);
    stop(f);
}

static void test_bad_envelope(void **state)
{
    (void)state;
    fixture *f = start("envelope.sock");
    client *c = clientOpen(f);
    struct {
        const char *line, *fragment;
    } cases[] = {
        {"{\"id\":3}\n", "missing \"cmd\""},
        {"{\"id\":3,\"cmd\":5}\n", "\"cmd\" must be a string"},
        {"{\"id\":3,\"cmd\":null}\n", "\"cmd\" must be a string"},
        {"{\"id\":3,\"cmd\":\"echo\",\"args\":[1]}\n", "\"args\" must be an object"},
        {"{\"id\":3,\"cmd\":\"echo\",\"args\":\"x\"}\n", "\"args\" must be an object"},
        {"[1,2]\n", "must be a JSON object"},
        {"\"echo\"\n", "must be a JSON object"},
        {"42\n", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = call(f, c, cases[i].line);
        assertError(a, CTL_ERR_BAD_REQUEST, cases[i].fragment);
        json_decref(a);
    }
    json_t *a = call(f, c, "{\"id\":3,\"cmd\":\"echo\"}\n");
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 3);
    assertOk(a);
    json_decref(a);
    clientClose(c);
    stop(f);
}

static void test_unknown_command(void **state)
{
    (void)state;
    fixture *f = start("unknown.sock");
    client *c = clientOpen(f);
    json_t *a = call(f, c, "{\"id\":4,\"cmd\":\"account.nuke\"}\n");
    assertError(a, CTL_ERR_BAD_REQUEST, "unknown command 'account.nuke'");
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 4);
    json_decref(a);
    clientClose(c);
    stop(f);
}

static void test_handler_error(void **state)
{
    (void)state;
    fixture *f = start("herr.sock");
    client *c = clientOpen(f);
    json_t *a = call(f, c, "{\"id\":5,\"cmd\":\"fail\"}\n");
    assertError(a, 3001, "order 42 not found");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "error"), "message")),
                        "order 42 not found");
    json_decref(a);
    a = call(f, c, "{\"id\":6,\"cmd\":\"fail0\"}\n");
    assertError(a, CTL_ERR_INTERNAL, "command failed");
    json_decref(a);
    a = call(f, c, "{\"id\":7,\"cmd\":\"book.get\",\"args\":{\"instrument\":\"XX\"}}\n");
    assertError(a, 1007, "'XX'");
    json_decref(a);
    clientClose(c);
    stop(f);
}

static void test_errorf_truncates(void **state)
{
    (void)state;
    ctlError e;
    char big[400];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ctlErrorf(&e, 1234, "x%s", big), -1);
    assert_int_equal(e.code, 1234);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
    assert_int_equal(e.message[0], 'x');
}

static void test_two_requests_one_write(void **state)
{
    (void)state;
    fixture *f = start("two.sock");
    client *c = clientOpen(f);
    sendStr(f, c,
            "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"n\":1}}\n{\"id\":2,\"cmd\":\"fail\"}\n"
            "\r\n   \n{\"id\":3,\"cmd\":\"echo\"}\r\n");
    for (int i = 1; i <= 3; i++) {
        json_t *a = readJson(f, c);
        assert_int_equal(json_integer_value(json_object_get(a, "id")), i);
        assert_int_equal(json_is_true(json_object_get(a, "ok")), i != 2);
        json_decref(a);
    }
    /* blank lines are not requests: nothing else arrives */
    char *extra = readLine(f, c, 100);
    assert_null(extra);
    assert_int_equal(stats(f).requests, 3);
    clientClose(c);
    stop(f);
}

static void test_split_request(void **state)
{
    (void)state;
    fixture *f = start("split.sock");
    client *c = clientOpen(f);
    const char *req = "{\"id\":77,\"cmd\":\"echo\",\"args\":{\"price\":\"3800.2\"}}\n";
    size_t len = strlen(req);
    for (size_t i = 0; i + 1 < len; i += 3) {
        size_t n = len - 1 - i < 3 ? len - 1 - i : 3;
        sendAll(f, c, req + i, n);
        for (int k = 0; k < 3; k++)
            ctlServerPoll(f->s, 0);
        assert_int_equal(clientFill(c), -1); /* no answer before the newline */
    }
    sendAll(f, c, "\n", 1);
    json_t *a = readJson(f, c);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 77);
    assertOk(a);
    json_decref(a);
    clientClose(c);
    stop(f);
}

/* A line of maxLine bytes is served; one byte more closes the connection. */
static void test_long_line_small_cap(void **state)
{
    (void)state;
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1, .maxLine = 1000};
    fixture *f = startWith("long.sock", o);
    client *c = clientOpen(f);
    char line[1100];
    const char *head = "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"s\":\"";
    size_t h = strlen(head);
    memcpy(line, head, h);
    memset(line + h, 'a', 1000 - h - 3);
    memcpy(line + 1000 - 3, "\"}}\n", 5);
    assert_int_equal(strlen(line), 1001);
    json_t *a = call(f, c, line);
    assertOk(a);
    json_decref(a);
    memset(line, ' ', 1001); /* 1001 bytes of blanks and no newline yet */
    sendAll(f, c, line, 1001);
    a = readJson(f, c);
    assertError(a, CTL_ERR_BAD_REQUEST, "longer than 1000 bytes");
    json_decref(a);
    assert_true(seesEof(f, c, 3000));
    assert_int_equal(stats(f).tooLong, 1);
    clientClose(c);
    stop(f);
}

static void test_long_line_default_cap(void **state)
{
    (void)state;
    fixture *f = start("long2.sock");
    client *c = clientOpen(f);
    client *other = clientOpen(f);
    size_t n = CTL_DEFAULT_MAX_LINE + 4096;
    char *junk = malloc(n);
    memset(junk, '[', n);
    sendAll(f, c, junk, n);
    free(junk);
    json_t *a = readJson(f, c);
    assertError(a, CTL_ERR_BAD_REQUEST, "longer than 1048576 bytes");
    json_decref(a);
    assert_true(seesEof(f, c, 3000));
    a = call(f, other, "{\"id\":1,\"cmd\":\"echo\"}\n");
    assertOk(a);
    json_decref(a);
    clientClose(c);
    clientClose(other);
    stop(f);
}

static void test_max_clients(void **state)
{
    (void)state;
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1, .maxClients = 4};
    fixture *f = startWith("max.sock", o);
    client *c[5];
    for (int i = 0; i < 4; i++) {
        c[i] = clientOpen(f);
        json_t *a = call(f, c[i], "{\"id\":1,\"cmd\":\"echo\"}\n");
        assertOk(a);
        json_decref(a);
    }
    c[4] = clientOpen(f);
    sendStr(f, c[4], "{\"id\":1,\"cmd\":\"echo\"}\n");
    json_t *a = readJson(f, c[4]);
    assertError(a, CTL_ERR_UNAVAILABLE, "too many control clients (at most 4)");
    json_decref(a);
    assert_true(seesEof(f, c[4], 3000));
    clientClose(c[4]);
    assert_int_equal(stats(f).refusedFull, 1);
    clientClose(c[0]); /* a slot frees up */
    waitClients(f, 3);
    c[0] = clientOpen(f);
    a = call(f, c[0], "{\"id\":2,\"cmd\":\"echo\"}\n");
    assertOk(a);
    json_decref(a);
    for (int i = 0; i < 4; i++)
        clientClose(c[i]);
    stop(f);
}

static void test_many_clients(void **state)
{
    (void)state;
    enum { N = CTL_DEFAULT_MAX_CLIENTS };
    fixture *f = start("many.sock");
    client *c[N];
    for (int i = 0; i < N; i++)
        c[i] = clientOpen(f);
    for (int i = 0; i < N; i++) { /* every request is in flight at once */
        char line[64];
        snprintf(line, sizeof line, "{\"id\":%d,\"cmd\":\"echo\"}\n", i);
        sendStr(f, c[i], line);
    }
    for (int i = N - 1; i >= 0; i--) {
        json_t *a = readJson(f, c[i]);
        assert_int_equal(json_integer_value(json_object_get(a, "id")), i);
        json_decref(a);
    }
    assert_int_equal(stats(f).clients, N);
    for (int i = 0; i < N; i++)
        clientClose(c[i]);
    waitClients(f, 0);
    stop(f);
}

static void test_disconnect_mid_line(void **state)
{
    (void)state;
    fixture *f = start("mid.sock");
    client *c = clientOpen(f);
    client *other = clientOpen(f);
    sendStr(f, c, "{\"id\":1,\"cmd\":\"echo\"}\n{\"id\":2,\"cm");
    json_t *a = readJson(f, c);
    json_decref(a);
    clientClose(c);
    waitClients(f, 1);
    assert_int_equal(stats(f).requests, 1);
    a = call(f, other, "{\"id\":3,\"cmd\":\"echo\"}\n");
    assertOk(a);
    json_decref(a);
    clientClose(other);
    stop(f);
}

/* A client that half-closes after its request (echo ... | socat) still gets
 * its answer. */
static void test_half_close(void **state)
{
    (void)state;
    fixture *f = start("half.sock");
    client *c = clientOpen(f);
    sendStr(f, c, "{\"id\":1,\"cmd\":\"echo\"}\n{\"id\":2,\"cmd\":\"echo\"}\n");
    shutdown(c->fd, SHUT_WR);
    for (int i = 1; i <= 2; i++) {
        json_t *a = readJson(f, c);
        assert_int_equal(json_integer_value(json_object_get(a, "id")), i);
        json_decref(a);
    }
    assert_true(seesEof(f, c, 3000));
    waitClients(f, 0);
    clientClose(c);
    stop(f);
}

/* A client that pipelines hundreds of requests and never reads is throttled,
 * not dropped, and never delays another client; later it gets every answer. */
static void test_slow_reader(void **state)
{
    (void)state;
    enum { N = 600 };
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1, .maxOutput = 64 << 10};
    fixture *f = startWith("slow.sock", o);
    client *slow = clientOpen(f);
    client *fast = clientOpen(f);
    size_t cap = N * 64, len = 0;
    char *reqs = malloc(cap);
    for (int i = 1; i <= N; i++)
        len += (size_t)snprintf(reqs + len, cap - len,
                                "{\"id\":%d,\"cmd\":\"big\",\"args\":{\"n\":2000}}\n", i);
    assert_int_equal(send(slow->fd, reqs, len, MSG_DONTWAIT), (ssize_t)len);
    free(reqs);
    for (int i = 0; i < 200; i++)
        ctlServerPoll(f->s, 0); /* the server fills slow's socket and queue */
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = nowMs();
        json_t *a = call(f, fast, "{\"id\":1,\"cmd\":\"echo\"}\n");
        assertOk(a);
        json_decref(a);
        assert_true(nowMs() - t0 < 1000);
    }
    ctlServerStats st = stats(f);
    assert_int_equal(st.clients, 2);
    assert_int_equal(st.dropped, 0);
    assert_true(st.requests < N + 20); /* slow's requests are waiting */
    for (int i = 1; i <= N; i++) {
        json_t *a = readJson(f, slow);
        assert_int_equal(json_integer_value(json_object_get(a, "id")), i);
        json_decref(a);
    }
    assert_int_equal(stats(f).requests, N + 20);
    clientClose(slow);
    clientClose(fast);
    stop(f);
}

/* ---- subscriptions ------------------------------------------------------------------------ */

static void test_subscribe_broadcast(void **state)
{
    (void)state;
    fixture *f = start("sub.sock");
    client *fills = clientOpen(f), *risk = clientOpen(f), *none = clientOpen(f);
    client *all = clientOpen(f);
    json_t *a =
        call(f, fills, "{\"id\":1,\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"fills\"]}}\n");
    assertOk(a);
    json_t *want = json_pack("{s:[s]}", "topics", "fills");
    assert_true(json_equal(json_object_get(a, "data"), want));
    json_decref(want);
    json_decref(a);
    json_decref(
        call(f, risk, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"risk\",\"risk\"]}}\n"));
    json_decref(call(f, all, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"*\"]}}\n"));
    assert_int_equal(stats(f).subscribers, 3);

    json_t *ev = json_pack("{s:i,s:s}", "trade_id", 99, "price", "3800.2");
    assert_int_equal(ctlServerBroadcast(f->s, "fills", ev), 2);
    json_t *got = readJson(f, fills);
    assert_string_equal(json_string_value(json_object_get(got, "event")), "fills");
    assert_true(json_equal(json_object_get(got, "data"), ev));
    assert_null(json_object_get(got, "id"));
    json_decref(got);
    got = readJson(f, all);
    assert_string_equal(json_string_value(json_object_get(got, "event")), "fills");
    json_decref(got);
    json_decref(ev);
    /* the others' next line is the answer to their next request, not the event */
    a = call(f, risk, "{\"id\":5,\"cmd\":\"echo\"}\n");
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 5);
    json_decref(a);
    a = call(f, none, "{\"id\":6,\"cmd\":\"echo\"}\n");
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 6);
    json_decref(a);

    /* NULL data is {}; a handler may broadcast (the event precedes its answer) */
    assert_int_equal(ctlServerBroadcast(f->s, "risk", NULL), 2);
    got = readJson(f, risk);
    assert_int_equal(json_object_size(json_object_get(got, "data")), 0);
    json_decref(got);
    json_decref(readJson(f, all));
    sendStr(f, none,
            "{\"id\":8,\"cmd\":\"bcast\",\"args\":{\"topic\":\"fills\",\"data\":{\"k\":1}}}\n");
    a = readJson(f, none);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "data"), "queued")), 2);
    json_decref(a);
    json_decref(readJson(f, fills));
    json_decref(readJson(f, all));

    /* unsubscribe one topic, then all */
    a = call(f, fills, "{\"cmd\":\"unsubscribe\",\"args\":{\"topics\":[\"fills\"]}}\n");
    assert_int_equal(json_array_size(json_object_get(json_object_get(a, "data"), "topics")), 0);
    json_decref(a);
    json_decref(call(f, all, "{\"cmd\":\"unsubscribe\"}\n"));
    assert_int_equal(ctlServerBroadcast(f->s, "fills", NULL), 0);
    assert_int_equal(stats(f).subscribers, 1);
    assert_int_equal(ctlServerBroadcast(f->s, "", NULL), -1);
    clientClose(fills);
    clientClose(risk);
    clientClose(none);
    clientClose(all);
    stop(f);
}

static void test_subscribe_bad_args(void **state)
{
    (void)state;
    fixture *f = start("subbad.sock");
    client *c = clientOpen(f);
    const char *bad[] = {
        "{\"cmd\":\"subscribe\"}\n",
        "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[]}}\n",
        "{\"cmd\":\"subscribe\",\"args\":{\"topics\":\"fills\"}}\n",
        "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[1]}}\n",
        "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"\"]}}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = call(f, c, bad[i]);
        assertError(a, CTL_ERR_BAD_REQUEST, "topic");
        json_decref(a);
    }
    /* at most CTL_MAX_TOPICS per connection */
    for (int i = 0; i <= CTL_MAX_TOPICS; i++) {
        char line[96];
        snprintf(line, sizeof line, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"t%d\"]}}\n", i);
        json_t *a = call(f, c, line);
        if (i < CTL_MAX_TOPICS)
            assertOk(a);
        else
            assertError(a, CTL_ERR_BAD_REQUEST, "at most");
        json_decref(a);
    }
    /* all or nothing: a list that would pass the cap adds none of its topics */
    json_t *a = call(f, c, "{\"cmd\":\"unsubscribe\",\"args\":{\"topics\":[\"t0\",\"t1\"]}}\n");
    json_decref(a);
    a = call(f, c, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"t5\",\"n1\",\"n2\",\"n3\"]}}\n");
    assertError(a, CTL_ERR_BAD_REQUEST, "at most");
    json_decref(a);
    a = call(f, c, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"t5\",\"n1\",\"n1\",\"n2\"]}}\n");
    assertOk(a);
    assert_int_equal(json_array_size(json_object_get(json_object_get(a, "data"), "topics")),
                     CTL_MAX_TOPICS);
    json_decref(a);
    assert_int_equal(stats(f).subscribers, 1);
    clientClose(c);
    stop(f);
}

/* A subscriber that stops reading is dropped once its queue passes
 * maxOutput; the others keep their events. */
static void test_subscriber_dropped(void **state)
{
    (void)state;
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1, .maxOutput = 8192};
    fixture *f = startWith("drop.sock", o);
    client *stuck = clientOpen(f), *live = clientOpen(f);
    json_decref(call(f, stuck, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"t\"]}}\n"));
    json_decref(call(f, live, "{\"cmd\":\"subscribe\",\"args\":{\"topics\":[\"t\"]}}\n"));
    json_t *ev = json_pack("{s:s}", "pad", "0123456789012345678901234567890123456789");
    int received = 0;
    for (int i = 0; i < 20000 && stats(f).dropped == 0; i++) {
        assert_true(ctlServerBroadcast(f->s, "t", ev) >= 1);
        ctlServerPoll(f->s, 0);
        while (clientFill(live) > 0)
            ;
        for (char *l; (l = takeLine(live)) != NULL; received++)
            free(l);
    }
    json_decref(ev);
    assert_int_equal(stats(f).dropped, 1);
    waitClients(f, 1);
    assert_int_equal(stats(f).subscribers, 1);
    assert_int_equal(ctlServerBroadcast(f->s, "t", NULL), 1);
    assert_true(received > 0);
    clientClose(stuck);
    clientClose(live);
    stop(f);
}

/* ---- built-ins and registration ------------------------------------------------------------- */

static void test_help(void **state)
{
    (void)state;
    fixture *f = start("help.sock");
    assert_int_equal(ctlServerRegister(f->s, "echo", hEcho, NULL, "again"), -1);
    assert_int_equal(ctlServerRegister(f->s, "help", hEcho, NULL, "again"), -1);
    assert_int_equal(ctlServerRegister(f->s, "", hEcho, NULL, "x"), -1);
    assert_int_equal(ctlServerRegister(f->s, "aaa", hEcho, NULL, NULL), 0);
    client *c = clientOpen(f);
    json_t *a = call(f, c, "{\"id\":1,\"cmd\":\"help\"}\n");
    assertOk(a);
    json_t *cmds = json_object_get(json_object_get(a, "data"), "commands");
    assert_int_equal(json_array_size(cmds), 17); /* 13 fakes + aaa + 3 built-ins */
    const char *prev = "";
    bool sawEcho = false, sawSubscribe = false;
    size_t i;
    json_t *e;
    json_array_foreach(cmds, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "cmd"));
        const char *help = json_string_value(json_object_get(e, "help"));
        assert_non_null(help);
        assert_true(strcmp(prev, name) < 0); /* sorted */
        prev = name;
        if (strcmp(name, "echo") == 0) {
            assert_string_equal(help, "returns its args");
            sawEcho = true;
        }
        sawSubscribe = sawSubscribe || strcmp(name, "subscribe") == 0;
    }
    assert_true(sawEcho && sawSubscribe);
    json_decref(a);
    clientClose(c);
    stop(f);
}

/* ---- the socket file ---------------------------------------------------------------------- */

static void test_socket_file(void **state)
{
    (void)state;
    ctlServerOptions o = {.mode = 0640, .owner = 4243, .group = TEST_GROUP};
    if (geteuid() != 0) {
        o.owner = (uid_t)-1;
        o.group = (gid_t)-1;
    }
    fixture *f = startWith("deep/er/ctl.sock", o);
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 4243);
        assert_int_equal(st.st_gid, TEST_GROUP);
    }
    char dir[128];
    socketPath(dir, sizeof dir, "deep/er");
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char path[108];
    snprintf(path, sizeof path, "%s", f->path);
    stop(f);
    assert_int_equal(lstat(path, &st), -1); /* removed on destroy */
    assert_int_equal(errno, ENOENT);
}

static void test_stale_socket(void **state)
{
    (void)state;
    char path[108], err[256];
    socketPath(path, sizeof path, "stale.sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd); /* a dead server's file is left behind */
    fixture *f = start("stale.sock");
    client *c = clientOpen(f);
    json_t *a = call(f, c, "{\"id\":1,\"cmd\":\"echo\"}\n");
    assertOk(a);
    json_decref(a);
    clientClose(c);

    /* a live server is not replaced */
    ctlServerOptions o = {.path = path, .mode = 0660, .owner = (uid_t)-1, .group = (gid_t)-1};
    assert_null(ctlServerCreate(&o, err, sizeof err));
    assert_non_null(strstr(err, "another server is listening"));
    assert_non_null(strstr(err, path));
    stop(f);

    /* a file that is not a socket is not touched */
    int file = open(path, O_CREAT | O_WRONLY, 0600);
    close(file);
    assert_null(ctlServerCreate(&o, err, sizeof err));
    assert_non_null(strstr(err, "not a socket"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);

    /* a path sun_path cannot hold */
    char longPath[200];
    memset(longPath, 'p', sizeof longPath - 1);
    longPath[0] = '/';
    longPath[sizeof longPath - 1] = '\0';
    o.path = longPath;
    assert_null(ctlServerCreate(&o, err, sizeof err));
    assert_non_null(strstr(err, "path must be"));
    ctlServerDestroy(NULL);
}

/* ---- SO_PEERCRED ------------------------------------------------------------------------- */

/* Makes tmpDir reachable by other users (mkdtemp makes it 0700). */
static void openTmpDir(void)
{
    assert_int_equal(chmod(tmpDir, 0755), 0);
}

/* In a child: drop to uid/gid 65534 with the given supplementary groups,
 * connect, send a request, and return (as exit status) 0 when the answer is
 * ok (wantOk) or an error with wantCode followed by the end of the stream. */
static int childRequest(const char *path, const gid_t *groups, size_t ngroups, bool wantOk,
                        int wantCode)
{
    if (setgroups(ngroups, groups) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        return 10;
    int fd = connectTo(path);
    if (fd < 0)
        return errno == EACCES ? 11 : 12;
    const char *req = "{\"id\":1,\"cmd\":\"echo\"}\n";
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    char buf[512];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0) {
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    json_t *a = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    if (a == NULL)
        return 13;
    if (wantOk)
        return json_is_true(json_object_get(a, "ok")) ? 0 : 14;
    if (json_integer_value(json_object_get(json_object_get(a, "error"), "code")) != wantCode)
        return 15;
    n = recv(fd, buf, sizeof buf, 0);
    return n <= 0 ? 0 : 16; /* closed: EOF or reset */
}

/* Runs childRequest in a forked child while this process serves. Returns its
 * exit status. */
static int forkRequest(fixture *f, const gid_t *groups, size_t ngroups, bool wantOk, int wantCode)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(childRequest(f->path, groups, ngroups, wantOk, wantCode));
    int status = 0;
    uint64_t deadline = nowMs() + 10000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        ctlServerPoll(f->s, 5);
        if (nowMs() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("child hung");
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_peercred_refused(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root to run a client as uid %d\n", NOBODY);
        skip();
    }
    openTmpDir();
    /* mode 0666 lets anyone connect at the file level: SO_PEERCRED refuses */
    ctlServerOptions o = {.mode = 0666, .owner = (uid_t)-1, .group = (gid_t)-1};
    fixture *f = startWith("cred.sock", o);
    assert_int_equal(forkRequest(f, NULL, 0, false, CTL_ERR_AUTH), 0);
    assert_int_equal(stats(f).refusedPeer, 1);
    assert_int_equal(stats(f).accepted, 0);
    stop(f);
    /* the check uses the mode set at start: a group member is refused when
     * that mode gives the group no write permission, even if someone later
     * loosens the file's mode */
    o.mode = 0600;
    o.group = TEST_GROUP;
    f = startWith("cred.sock", o);
    assert_int_equal(chmod(f->path, 0666), 0);
    gid_t g = TEST_GROUP;
    assert_int_equal(forkRequest(f, &g, 1, false, CTL_ERR_AUTH), 0);
    assert_int_equal(stats(f).refusedPeer, 1);
    stop(f);
}

static void test_peercred_allowed(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root to run a client as uid %d\n", NOBODY);
        skip();
    }
    openTmpDir();
    /* a supplementary member of the socket's group */
    ctlServerOptions o = {.mode = 0660, .owner = (uid_t)-1, .group = TEST_GROUP};
    fixture *f = startWith("grp.sock", o);
    gid_t g = TEST_GROUP;
    assert_int_equal(forkRequest(f, &g, 1, true, 0), 0);
    /* not a member: the file mode already refuses the connect */
    assert_int_equal(forkRequest(f, NULL, 0, true, 0), 11);
    stop(f);
    /* the socket's owner */
    o.owner = NOBODY;
    o.group = (gid_t)-1;
    o.mode = 0600;
    f = startWith("own.sock", o);
    assert_int_equal(forkRequest(f, NULL, 0, true, 0), 0);
    assert_int_equal(stats(f).accepted, 1);
    stop(f);
}

/* ---- xchgctl ----------------------------------------------------------------------------- */

typedef struct {
    int status; /* exit status, or -1 */
    char *out, *err;
} toolResult;

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *s = calloc(1, 1 << 20);
    if (fp) {
        size_t n = fread(s, 1, (1 << 20) - 1, fp);
        s[n] = '\0';
        fclose(fp);
    }
    return s;
}

static void toolFree(toolResult *r)
{
    free(r->out);
    free(r->err);
}

static pid_t toolSpawn(char *const argv[], const char *outPath, const char *errPath)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(outPath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        int e = open(errPath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execv(toolPath, argv);
        _exit(127);
    }
    return pid;
}

/* Runs xchgctl with the given arguments (up to a NULL, at most 30) while
 * serving f. */
static toolResult runTool(fixture *f, const char *const *args)
{
    char *argv[32] = {"xchgctl"};
    int argc = 1;
    for (; args[argc - 1] && argc < 31; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    char outPath[128], errPath[128];
    socketPath(outPath, sizeof outPath, "tool.out");
    socketPath(errPath, sizeof errPath, "tool.err");
    pid_t pid = toolSpawn(argv, outPath, errPath);
    int status = 0;
    uint64_t deadline = nowMs() + 10000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (f)
            ctlServerPoll(f->s, 5);
        else
            usleep(2000);
        if (nowMs() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("xchgctl hung");
        }
    }
    toolResult r = {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(outPath), slurp(errPath)};
    return r;
}

static void skipWithoutTool(void)
{
    if (toolPath[0] == '\0') {
        print_message("skipped: xchgctl not built (make build/bin/xchgctl)\n");
        skip();
    }
}

static void assertContains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("output lacks '%s':\n%s", needle, hay);
}

static void test_xchgctl_json_args(void **state)
{
    (void)state;
    skipWithoutTool();
    fixture *f = start("tool.sock");
    toolResult r =
        runTool(f, (const char *[]){"--socket", f->path, "--json", "echo", "price=3800.2", "qty=5",
                                    "neg=-3", "flag=true", "off=false", "none=null", "acct=007",
                                    "big=123456789012345678901234567890", "name=IF2501",
                                    "empty=", "raw:={\"a\":[1,2]}", "eq=a=b", NULL});
    assert_int_equal(r.status, 0);
    json_t *got = json_loads(r.out, 0, NULL);
    json_t *want = json_pack("{s:s,s:i,s:i,s:b,s:b,s:n,s:s,s:s,s:s,s:s,s:{s:[i,i]},s:s}", "price",
                             "3800.2", "qty", 5, "neg", -3, "flag", 1, "off", 0, "none", "acct",
                             "007", "big", "123456789012345678901234567890", "name", "IF2501",
                             "empty", "", "raw", "a", 1, 2, "eq", "a=b");
    if (!json_equal(got, want))
        fail_msg("got %s", r.out);
    json_decref(got);
    json_decref(want);
    toolFree(&r);
    stop(f);
}

static void test_xchgctl_errors(void **state)
{
    (void)state;
    skipWithoutTool();
    fixture *f = start("tool.sock");
    toolResult r = runTool(f, (const char *[]){"--socket", f->path, "fail", NULL});
    assert_int_equal(r.status, 1);
    assertContains(r.err, "error 3001: order 42 not found");
    toolFree(&r);
    r = runTool(f, (const char *[]){"-s", f->path, "--json", "no.such", NULL});
    assert_int_equal(r.status, 1);
    assertContains(r.err, "error 9003: unknown command 'no.such'");
    assertContains(r.out, "\"code\":9003");
    toolFree(&r);
    r = runTool(f, (const char *[]){"-s", f->path, "session.kick", "session_id=8", NULL});
    assert_int_equal(r.status, 1);
    assertContains(r.err, "error 2006");
    toolFree(&r);
    stop(f);
}

/* A server that refuses the connection (9005 here) still gets its error
 * line through to xchgctl: exit 1 with the code, not a connection error. */
static void test_xchgctl_refused(void **state)
{
    (void)state;
    skipWithoutTool();
    ctlServerOptions o = {.owner = (uid_t)-1, .group = (gid_t)-1, .maxClients = 1};
    fixture *f = startWith("full.sock", o);
    client *c = clientOpen(f);
    waitClients(f, 1);
    for (int i = 0; i < 5; i++) {
        toolResult r = runTool(f, (const char *[]){"--socket", f->path, "status", NULL});
        assert_int_equal(r.status, 1);
        assertContains(r.err, "error 9005: too many control clients (at most 1)");
        toolFree(&r);
    }
    clientClose(c);
    stop(f);
}

static void test_xchgctl_usage_and_connection(void **state)
{
    (void)state;
    skipWithoutTool();
    char missing[108];
    socketPath(missing, sizeof missing, "nobody-here.sock");
    toolResult r = runTool(NULL, (const char *[]){"--socket", missing, "status", NULL});
    assert_int_equal(r.status, 2);
    assertContains(r.err, missing);
    toolFree(&r);
    const char *bad[][4] = {
        {"--socket", missing, NULL, NULL},          /* no command */
        {"--socket", missing, "echo", "novalue"},   /* not key=value */
        {"--socket", missing, "echo", "=5"},        /* empty key */
        {"--socket", missing, "echo", "a:={bad"},   /* bad raw JSON */
        {"--socket", missing, "--bogus", "status"}, /* unknown option */
        {"-c", "/nonexistent/xchg.conf", "status", NULL},
        {"--timeout", "x", "status", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = runTool(NULL, (const char *[]){bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL});
        if (r.status != 2)
            fail_msg("case %zu: status %d, stderr %s", i, r.status, r.err);
        toolFree(&r);
    }
    fixture *f = start("tool.sock");
    r = runTool(f, (const char *[]){"-s", f->path, "echo", "a=1", "a=2", NULL});
    assert_int_equal(r.status, 2);
    assertContains(r.err, "given twice");
    toolFree(&r);
    r = runTool(NULL, (const char *[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assertContains(r.out, "usage: xchgctl");
    toolFree(&r);
    stop(f);
}

static void test_xchgctl_tables(void **state)
{
    (void)state;
    skipWithoutTool();
    fixture *f = start("tool.sock");
    struct {
        const char *args[4];
        const char *expect[4];
    } cases[] = {
        {{"status"}, {"uptime       1d 02:03:04", "ORDERS_RESTING", "9f3a0c21"}},
        {{"instrument.list"}, {"TICK_SIZE", "CSI 300 index future 2025-01", "75230", "halted"}},
        {{"book.get", "instrument=IF2501", "depth=5"}, {"BID_QTY", "3799.8", "3800.2", "|"}},
        {{"session.add", "account=1001", "segment=0", "source=any"},
         {"session_id", "00112233445566778899aabbccddeeff", "any", "account"}},
        {{"session.list"}, {"SESSION_ID", "NEXT_OUT_SEQ", "198.18.0.2:40000", "logged_on"}},
        {{"session.kick", "session_id=7"}, {"session 7 kicked"}},
        {{"stats"},
         {"SEGMENT  LCORE  BUSY  RX_PACKETS  TX_PACKETS",
          "\n0            1     -         100          90", "LATENCY (since start)",
          "\n0        in_box      3  800ns    -  2.10us      -    -\n"}},
        {{"shutdown"}, {"shutting down"}},
        {{"help"}, {"CMD", "returns its args", "subscribe"}},
        {{"echo"}, {"ok"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        toolResult r =
            runTool(f, (const char *[]){"--socket", f->path, cases[i].args[0], cases[i].args[1],
                                        cases[i].args[2], cases[i].args[3], NULL});
        if (r.status != 0)
            fail_msg("%s: status %d: %s", cases[i].args[0], r.status, r.err);
        for (int k = 0; k < 4 && cases[i].expect[k]; k++)
            assertContains(r.out, cases[i].expect[k]);
        toolFree(&r);
    }
    /* the book puts the best bid and the best ask on the first row */
    toolResult r =
        runTool(f, (const char *[]){"--socket", f->path, "book.get", "instrument=IF2501", NULL});
    char *row = strstr(r.out, "\n") + 1;
    row = strstr(row, "\n") + 1;
    row = strstr(row, "\n") + 1; /* instrument line, blank line, header */
    assert_true(strstr(row, "3800.0") < strstr(row, "3800.2"));
    assert_true(strstr(row, "3800.2") < strstr(row, "3799.8"));
    toolFree(&r);
    stop(f);
}

/* -c CONFIG takes the socket path from control.socket of an xchgd config. */
static void test_xchgctl_config(void **state)
{
    (void)state;
    skipWithoutTool();
    fixture *f = start("conf.sock");
    char conf[128];
    socketPath(conf, sizeof conf, "xchg.conf");
    FILE *fp = fopen(conf, "w");
    fprintf(
        fp,
        "lcores = { control = 0; storage = 0; };\n"
        "segments = ( { id = 0; lcore = 1; order_port = 9000; feed_group = \"239.1.1.1\";\n"
        "  feed_port = 9100; } );\n"
        "ports = ( { name = \"p0\"; devargs = \"net_af_packet0,iface=xchg0\";\n"
        "  address = \"198.18.0.1/24\"; } );\n"
        "instruments = ( { id = \"IF2501\"; segment = 0; tick_size = \"0.2\"; multiplier = 300;\n"
        "  margin_rate = \"12%%\"; limit_up = \"10%%\"; limit_down = \"10%%\";\n"
        "  pre_settlement = \"3800.0\"; } );\n"
        "control = { socket = \"%s\"; };\n",
        f->path);
    fclose(fp);
    toolResult r = runTool(f, (const char *[]){"-c", conf, "--json", "status", NULL});
    if (r.status != 0)
        fail_msg("status %d: %s", r.status, r.err);
    assertContains(r.out, "\"trading_day\":20250102");
    toolFree(&r);
    r = runTool(f, (const char *[]){"-c", conf, "--socket", f->path, "status", NULL});
    assert_int_equal(r.status, 2);
    toolFree(&r);
    stop(f);
}

static void test_xchgctl_subscribe(void **state)
{
    (void)state;
    skipWithoutTool();
    fixture *f = start("toolsub.sock");
    char outPath[128], errPath[128];
    socketPath(outPath, sizeof outPath, "sub.out");
    socketPath(errPath, sizeof errPath, "sub.err");
    char *argv[] = {"xchgctl", "--socket", f->path, "--json", "subscribe", "fills", NULL};
    pid_t pid = toolSpawn(argv, outPath, errPath);
    uint64_t deadline = nowMs() + 10000;
    while (stats(f).subscribers == 0 && nowMs() < deadline)
        ctlServerPoll(f->s, 5);
    assert_int_equal(stats(f).subscribers, 1);
    json_t *ev = json_pack("{s:i}", "trade_id", 5);
    assert_int_equal(ctlServerBroadcast(f->s, "fills", ev), 1);
    assert_int_equal(ctlServerBroadcast(f->s, "risk", ev), 0);
    json_decref(ev);
    char *out = NULL;
    while (nowMs() < deadline) {
        ctlServerPoll(f->s, 5);
        free(out);
        out = slurp(outPath);
        if (strchr(out, '\n'))
            break;
    }
    assert_string_equal(out, "{\"event\":\"fills\",\"data\":{\"trade_id\":5}}\n");
    free(out);
    kill(pid, SIGINT);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0 && nowMs() < deadline)
        ctlServerPoll(f->s, 5);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    stop(f);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* The xchgctl of this build tree (…/tests/test_ctl -> …/bin/xchgctl), else
 * build/bin/xchgctl from the repository root; "" when neither exists. */
static void findTool(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(toolPath, sizeof toolPath, "%.4000s/../bin/xchgctl", self);
            if (access(toolPath, X_OK) == 0)
                return;
        }
    }
    snprintf(toolPath, sizeof toolPath, "build/bin/xchgctl");
    if (access(toolPath, X_OK) != 0)
        toolPath[0] = '\0';
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpDir, sizeof tmpDir, "/tmp/xchg-ctl-XXXXXX");
    if (mkdtemp(tmpDir) == NULL)
        return -1;
    findTool();
    signal(SIGPIPE, SIG_IGN);
    return 0;
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
        cmocka_unit_test(test_ok_answer),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_id_echo),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_envelope),
        cmocka_unit_test(test_unknown_command),
        cmocka_unit_test(test_handler_error),
        cmocka_unit_test(test_errorf_truncates),
        cmocka_unit_test(test_two_requests_one_write),
        cmocka_unit_test(test_split_request),
        cmocka_unit_test(test_long_line_small_cap),
        cmocka_unit_test(test_long_line_default_cap),
        cmocka_unit_test(test_max_clients),
        cmocka_unit_test(test_many_clients),
        cmocka_unit_test(test_disconnect_mid_line),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_subscribe_broadcast),
        cmocka_unit_test(test_subscribe_bad_args),
        cmocka_unit_test(test_subscriber_dropped),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_socket_file),
        cmocka_unit_test(test_stale_socket),
        cmocka_unit_test(test_peercred_refused),
        cmocka_unit_test(test_peercred_allowed),
        cmocka_unit_test(test_xchgctl_json_args),
        cmocka_unit_test(test_xchgctl_errors),
        cmocka_unit_test(test_xchgctl_refused),
        cmocka_unit_test(test_xchgctl_usage_and_connection),
        cmocka_unit_test(test_xchgctl_tables),
        cmocka_unit_test(test_xchgctl_config),
        cmocka_unit_test(test_xchgctl_subscribe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
