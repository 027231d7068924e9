/* xchgctl.c -- command-line client of xchgd's control socket: one request, a readable answer.
 *
 *   xchgctl [--socket PATH | -c CONFIG] [--json] [--timeout SEC] CMD [key=value ...]
 *   xchgctl [options] subscribe TOPIC...      (streams events until Ctrl-C)
 *   xchgctl [options] top [books=N] [count=N] [interval=SEC]   (live view; q quits)
 *
 * Sends {"id":1,"cmd":CMD,"args":{...}} and prints the answer: with --json the
 * data object as one JSON line, otherwise tables for the known commands and a
 * generic rendering for the others. Values: integers become JSON numbers,
 * decimals stay strings (so 3800.2 is never rounded), true/false/null are
 * literals, `key:=JSON` passes raw JSON. Exit status: 0 ok, 1 error answer
 * ("error CODE: message" on stderr), 2 usage or connection error.
 * docs/operations/control-socket.md has the details. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "config/config.h"
#include "control/topview.h"
#include "storage/hist_query.h"

#define EXIT_ERROR_ANSWER 1
#define EXIT_USAGE        2
#define DEFAULT_CONFIG    "config/xchg.conf"
#define DEFAULT_SOCKET    "/run/xchg/xchgd.sock"
#define MAX_ANSWER        (256u << 20) /* longest answer line accepted */

typedef struct {
    char socketPath[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *socketFrom; /* where the path came from, for messages */
    bool json;
    int timeoutMs; /* -1: wait forever */
    const char *cmd;
    char **args;
    int argCount;
    const char *queryConfig; /* query: the config naming the history directory */
} ctlOptions;

typedef struct {
    char *buf;
    size_t len, cap;
    size_t used; /* bytes of the line last returned, newline included */
} lineReader;

static volatile sig_atomic_t interrupted;

/* ---- usage and option parsing ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: xchgctl [--socket PATH | -c CONFIG] [--json] [--timeout SEC] CMD "
               "[key=value ...]\n"
               "       xchgctl [options] subscribe TOPIC...\n"
               "       xchgctl [options] top [books=N] [count=N] [interval=SEC]\n"
               "       xchgctl [-c CONFIG] [--json] query [--dir DIR] [--format table|csv|json] "
               "\"SQL\"\n"
               "\n"
               "  -s, --socket PATH   control socket (default: control.socket of -c CONFIG, else\n"
               "                      of " DEFAULT_CONFIG " if present, else " DEFAULT_SOCKET ")\n"
               "  -c, --config FILE   read the socket path from this xchgd config\n"
               "  -j, --json          print the answer's data as one JSON line\n"
               "  -t, --timeout SEC   wait at most SEC seconds for the answer (default 30, 0 = "
               "forever)\n"
               "\n"
               "  key=value   integer -> number; true/false/null -> literal; anything else,\n"
               "              decimals included (price=3800.2), -> string\n"
               "  key:=JSON   raw JSON value, e.g. ids:=[1,2] or filter:='{\"account\":7}'\n"
               "\n"
               "  xchgctl help lists the daemon's commands. Exit status: 0 ok, 1 error answer,\n"
               "  2 usage or connection error.\n");
}

static int usageError(const char *fmt, const char *arg)
{
    fputs("xchgctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(xchgctl --help for usage)\n", stderr);
    return EXIT_USAGE;
}

static int setSocketPath(ctlOptions *o, const char *path, const char *from)
{
    if (strlen(path) == 0 || strlen(path) >= sizeof o->socketPath)
        return usageError("socket path '%s' is empty or longer than 107 bytes", path);
    snprintf(o->socketPath, sizeof o->socketPath, "%s", path);
    o->socketFrom = from;
    return 0;
}

/* Socket path from a config file. `required`: a broken file is an error;
 * otherwise a warning and the built-in default. */
static int socketFromConfig(ctlOptions *o, const char *file, bool required)
{
    cfgConfig cfg;
    char err[512];
    if (cfgLoad(file, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "xchgctl: %s\n", err);
        if (required)
            return EXIT_USAGE;
        fprintf(stderr, "xchgctl: ignoring %s; using %s\n", file, DEFAULT_SOCKET);
        return setSocketPath(o, DEFAULT_SOCKET, "the built-in default");
    }
    int rc = setSocketPath(o, cfg.control.socketPath, required ? "-c" : DEFAULT_CONFIG);
    cfgFree(&cfg);
    return rc;
}

static int parseTimeout(ctlOptions *o, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT_MAX / 1000)
        return usageError("bad --timeout '%s' (whole seconds, 0 = forever)", s);
    o->timeoutMs = v == 0 ? -1 : (int)v * 1000;
    return 0;
}

/* Parses the command line into *o. Returns 0, -1 after --help, or an exit
 * status. */
static int parseOptions(int argc, char **argv, ctlOptions *o)
{
    static const struct option longOpts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},         {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *sock = NULL, *conf = NULL;
    int ch, rc = 0;
    o->timeoutMs = 30000;
    while (rc == 0 && (ch = getopt_long(argc, argv, "+s:c:jt:h", longOpts, NULL)) != -1) {
        if (ch == 's')
            sock = optarg;
        else if (ch == 'c')
            conf = optarg;
        else if (ch == 'j')
            o->json = true;
        else if (ch == 't')
            rc = parseTimeout(o, optarg);
        else if (ch == 'h') {
            usage(stdout);
            return -1;
        } else
            return usageError("%s", "bad option");
    }
    if (rc)
        return rc;
    if (sock && conf)
        return usageError("%s", "--socket and -c exclude each other");
    if (optind >= argc)
        return usageError("%s", "no command given");
    o->cmd = argv[optind];
    o->args = argv + optind + 1;
    o->argCount = argc - optind - 1;
    if (strcmp(o->cmd, "query") == 0) { /* answered here from the history files */
        o->queryConfig = conf ? conf : access(DEFAULT_CONFIG, R_OK) == 0 ? DEFAULT_CONFIG : NULL;
        return 0;
    }
    if (sock)
        return setSocketPath(o, sock, "--socket");
    if (conf)
        return socketFromConfig(o, conf, true);
    if (access(DEFAULT_CONFIG, R_OK) == 0)
        return socketFromConfig(o, DEFAULT_CONFIG, false);
    return setSocketPath(o, DEFAULT_SOCKET, "the built-in default");
}

/* ---- request -------------------------------------------------------------------- */

/* -?(0|[1-9][0-9]*) that fits int64; leading zeros stay strings ("007"). */
static bool parseInteger(const char *s, json_int_t *out)
{
    const char *d = s + (*s == '-');
    if (*d == '\0' || (d[0] == '0' && d[1] != '\0') || strspn(d, "0123456789") != strlen(d))
        return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno)
        return false;
    *out = (json_int_t)v;
    return true;
}

static json_t *argValue(const char *v)
{
    json_int_t i;
    if (strcmp(v, "true") == 0)
        return json_true();
    if (strcmp(v, "false") == 0)
        return json_false();
    if (strcmp(v, "null") == 0)
        return json_null();
    if (parseInteger(v, &i))
        return json_integer(i);
    return json_string(v); /* NULL for invalid UTF-8 */
}

/* Adds one key=value or key:=JSON argument. Returns 0 or an exit status. */
static int addArg(json_t *args, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg || (eq == arg + 1 && arg[0] == ':'))
        return usageError("argument '%s' is not key=value or key:=JSON", arg);
    bool raw = eq[-1] == ':';
    char *key = strndup(arg, (size_t)(eq - arg) - raw);
    json_error_t jerr;
    json_t *v = raw ? json_loads(eq + 1, JSON_DECODE_ANY, &jerr) : argValue(eq + 1);
    int rc = 0;
    if (v == NULL)
        rc = usageError(raw ? "argument '%s': value is not valid JSON"
                            : "argument '%s': value is not valid UTF-8",
                        arg);
    else if (json_object_get(args, key) != NULL)
        rc = usageError("argument '%s' given twice", key);
    else
        json_object_set(args, key, v);
    json_decref(v);
    free(key);
    return rc;
}

/* `subscribe a b` means {"topics":["a","b"]}; key=value arguments also work. */
static int addSubscribeArg(json_t *args, const char *arg)
{
    if (strchr(arg, '=') != NULL)
        return addArg(args, arg);
    json_t *topics = json_object_get(args, "topics");
    if (topics == NULL)
        json_object_set_new(args, "topics", topics = json_array());
    json_t *t = json_string(arg);
    if (t == NULL || !json_is_array(topics))
        return usageError("bad topic '%s'", arg);
    json_array_append_new(topics, t);
    return 0;
}

static int buildRequest(const ctlOptions *o, json_t **out)
{
    json_t *args = json_object();
    bool subscribe = strcmp(o->cmd, "subscribe") == 0;
    for (int i = 0; i < o->argCount; i++) {
        int rc = subscribe ? addSubscribeArg(args, o->args[i]) : addArg(args, o->args[i]);
        if (rc) {
            json_decref(args);
            return rc;
        }
    }
    *out = json_pack("{s:i,s:s,s:o}", "id", 1, "cmd", o->cmd, "args", args);
    return *out ? 0 : usageError("command '%s' is not valid UTF-8", o->cmd);
}

/* ---- connection ---------------------------------------------------------------- */

static int connectTo(const ctlOptions *o, int *fdOut)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, o->socketPath, strlen(o->socketPath) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr,
                "xchgctl: cannot connect to %s: %s\n"
                "(path from %s; is xchgd running? use --socket PATH or -c CONFIG)\n",
                o->socketPath, strerror(errno), o->socketFrom);
        if (fd >= 0)
            close(fd);
        return EXIT_USAGE;
    }
    *fdOut = fd;
    return 0;
}

/* Writes the whole request line. A server that refuses the connection may
 * already have closed it; its error line is still readable, so a write error
 * is reported only by the caller's read. */
static void sendRequest(int fd, const json_t *req)
{
    char *s = json_dumps(req, JSON_COMPACT);
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !interrupted)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (off == len)
        send(fd, "\n", 1, MSG_NOSIGNAL);
    free(s);
}

/* Reads the next line into r (NUL-terminated, without the newline; consumed
 * by the next call). Returns 1, 0 at end of stream, -1 on error/timeout with
 * errno set (ETIMEDOUT, EINTR after a signal, EMSGSIZE). */
static int readLine(int fd, lineReader *r, int timeoutMs, char **line)
{
    for (;;) {
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        if (nl != NULL) {
            *nl = '\0';
            *line = r->buf;
            r->used = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        if (r->len + 65536 + 1 > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 65536 * 2;
            char *p = cap > MAX_ANSWER ? NULL : realloc(r->buf, cap);
            if (p == NULL)
                return errno = EMSGSIZE, -1;
            r->buf = p;
            r->cap = cap;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, timeoutMs);
        if (rc == 0)
            return errno = ETIMEDOUT, -1;
        if (rc < 0 || interrupted)
            return errno = interrupted ? EINTR : errno, -1;
        ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len - 1, 0);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
        r->len += n > 0 ? (size_t)n : 0;
    }
}

/* Drops the line returned by the last readLine. */
static void consumeLine(lineReader *r)
{
    memmove(r->buf, r->buf + r->used, r->len - r->used);
    r->len -= r->used;
    r->used = 0;
}

static void onSignal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void installSignals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = onSignal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- cells, tables and key/value lines -------------------------------------------- */

/* Columns a display needs for s (UTF-8; wide characters count 2). */
static size_t displayWidth(const char *s)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t w = 0, len = strlen(s);
    while (len > 0) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, len, &st);
        if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
            memset(&st, 0, sizeof st);
            n = 1;
            wc = L'?';
        }
        int cw = wcwidth(wc);
        w += cw > 0 ? (size_t)cw : 0;
        s += n;
        len -= n;
    }
    return w;
}

/* A printable rendering of a JSON value (new string): control characters
 * of strings become '?', null is "-", containers are compact JSON. */
static char *cellText(const json_t *v)
{
    char *s;
    if (v == NULL || json_is_null(v))
        return strdup("-");
    if (json_is_string(v)) {
        s = strdup(json_string_value(v));
        for (char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        return s;
    }
    if (json_is_integer(v) && asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) >= 0)
        return s;
    if (json_is_real(v) && asprintf(&s, "%.17g", json_real_value(v)) >= 0)
        return s;
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : strdup("?");
}

static bool looksNumeric(const char *s)
{
    const char *d = s + (*s == '-');
    size_t n = strspn(d, "0123456789");
    if (n == 0)
        return strcmp(s, "-") == 0; /* null */
    return d[n] == '\0' || (d[n] == '.' && d[n + 1] != '\0' &&
                            strspn(d + n + 1, "0123456789") == strlen(d + n + 1));
}

static bool isScalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static bool isScalarArray(const json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, e)
    {
        if (!isScalar(e))
            return false;
    }
    return true;
}

static bool isObjectArray(const json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    json_array_foreach(v, i, e)
    {
        if (!json_is_object(e))
            return false;
    }
    return true;
}

/* Scalars and arrays of scalars as text ("a, b, c"). */
static char *valueText(const json_t *v)
{
    if (!isScalarArray(v) || json_array_size(v) == 0)
        return cellText(v);
    size_t i, len = 0;
    json_t *e;
    char *out = NULL;
    FILE *f = open_memstream(&out, &len);
    json_array_foreach(v, i, e)
    {
        char *c = cellText(e);
        fprintf(f, "%s%s", i ? ", " : "", c);
        free(c);
    }
    fclose(f);
    return out;
}

typedef struct {
    const char **keys;
    size_t count, cap;
} keyList;

static void keyAdd(keyList *k, const char *key)
{
    for (size_t i = 0; i < k->count; i++)
        if (strcmp(k->keys[i], key) == 0)
            return;
    if (k->count == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->keys = realloc(k->keys, k->cap * sizeof *k->keys);
    }
    k->keys[k->count++] = key;
}

/* Columns of an array of objects: the preferred ones that occur, then the
 * others in first-seen order. */
static keyList tableColumns(const json_t *rows, const char *const *preferred)
{
    keyList k = {NULL, 0, 0};
    size_t i;
    json_t *row, *v;
    const char *key;
    for (; preferred && *preferred; preferred++) {
        json_array_foreach(rows, i, row)
        {
            if (json_object_get(row, *preferred)) {
                keyAdd(&k, *preferred);
                break;
            }
        }
    }
    json_array_foreach(rows, i, row)
    {
        json_object_foreach(row, key, v)
        {
            keyAdd(&k, key);
        }
    }
    return k;
}

static char *upperCase(const char *s)
{
    char *u = strdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

/* Prints a grid of cells (row 0 is the header), numeric columns right-aligned. */
static void printGrid(char **cells, size_t rows, size_t cols)
{
    size_t *width = calloc(cols, sizeof *width);
    bool *right = calloc(cols, sizeof *right);
    for (size_t c = 0; c < cols; c++) {
        right[c] = rows > 1;
        for (size_t r = 0; r < rows; r++) {
            size_t w = displayWidth(cells[r * cols + c]);
            width[c] = w > width[c] ? w : width[c];
            if (r > 0 && !looksNumeric(cells[r * cols + c]) && cells[r * cols + c][0])
                right[c] = false;
        }
    }
    for (size_t r = 0; r < rows; r++) {
        size_t pending = 0; /* padding not printed yet: none at the end of a row */
        for (size_t c = 0; c < cols; c++) {
            const char *cell = cells[r * cols + c];
            size_t pad = width[c] - displayWidth(cell);
            pending += (c ? 2 : 0) + (right[c] ? pad : 0);
            if (cell[0]) {
                printf("%*s%s", (int)pending, "", cell);
                pending = 0;
            }
            pending += right[c] ? 0 : pad;
        }
        putchar('\n');
    }
    free(width);
    free(right);
}

static void freeCells(char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

static void printTable(const json_t *rows, const char *const *preferred)
{
    keyList k = tableColumns(rows, preferred);
    size_t nrows = json_array_size(rows) + 1, cols = k.count;
    char **cells = calloc(nrows * cols, sizeof *cells);
    for (size_t c = 0; c < cols; c++) {
        cells[c] = upperCase(k.keys[c]);
        for (size_t r = 1; r < nrows; r++) {
            const json_t *v = json_object_get(json_array_get(rows, r - 1), k.keys[c]);
            cells[r * cols + c] = v ? cellText(v) : strdup("");
        }
    }
    printGrid(cells, nrows, cols);
    freeCells(cells, nrows * cols);
    free(k.keys);
}

/* key  value lines for the scalar members (and arrays of scalars) of obj. */
static void printScalars(const json_t *obj, const char *indent)
{
    const char *key;
    json_t *v;
    size_t width = 0;
    json_object_foreach((json_t *)obj, key, v)
    {
        if ((isScalar(v) || isScalarArray(v)) && strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!isScalar(v) && !isScalarArray(v))
            continue;
        char *t = valueText(v);
        printf("%s%-*s  %s\n", indent, (int)width, key, t);
        free(t);
    }
}

/* ---- renderers ------------------------------------------------------------------- */

/* Preferred table columns for the arrays of the known commands. */
static const char *const *preferredColumns(const char *arrayKey)
{
    static const char *const segments[] = {
        "id", "lcore", "order_port", "sessions", "orders_resting", "state_hash", "state", NULL};
    static const char *const instruments[] = {
        "id",    "name",        "segment",     "book",           "tick_size", "multiplier",
        "state", "lower_limit", "upper_limit", "pre_settlement", NULL};
    static const char *const sessions[] = {
        "session_id",  "account",      "segment",     "state",        "bound",
        "next_in_seq", "next_out_seq", "messages_in", "messages_out", NULL};
    static const char *const commands[] = {"cmd", "help", NULL};
    if (strcmp(arrayKey, "segments") == 0)
        return segments;
    if (strcmp(arrayKey, "instruments") == 0)
        return instruments;
    if (strcmp(arrayKey, "sessions") == 0)
        return sessions;
    if (strcmp(arrayKey, "commands") == 0)
        return commands;
    return NULL;
}

/* Generic rendering: scalars as key/value lines, arrays of objects as tables
 * (or, with `sections`, one key/value section per element), nested objects
 * as [path] sections. */
static void renderObject(const json_t *obj, const char *path, bool sections)
{
    const char *key;
    json_t *v;
    bool printed = false;
    printScalars(obj, "");
    json_object_foreach((json_t *)obj, key, v)
    {
        printed = printed || isScalar(v) || isScalarArray(v);
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        char *sub = NULL;
        if (isScalar(v) || isScalarArray(v))
            continue;
        if (asprintf(&sub, "%s%s%s", path, path[0] ? "." : "", key) < 0)
            return;
        if (isObjectArray(v) && !sections) {
            printf("%s%s:\n", printed ? "\n" : "", sub);
            printTable(v, preferredColumns(key));
        } else if (json_is_object(v)) {
            printf("%s[%s]\n", printed ? "\n" : "", sub);
            renderObject(v, sub, sections);
        } else {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                char *item = NULL;
                if (asprintf(&item, "%s.%zu", sub, i) < 0)
                    break;
                printf("%s[%s]\n", printed || i ? "\n" : "", item);
                if (json_is_object(e)) {
                    renderObject(e, item, sections);
                } else {
                    char *t = cellText(e);
                    puts(t);
                    free(t);
                }
                free(item);
            }
        }
        printed = true;
        free(sub);
    }
    if (!printed && json_object_size(obj) == 0 && path[0] == '\0')
        puts("ok");
}

/* status: uptime_s becomes "uptime  1d 02:03:04" in the same place. */
static json_t *withUptime(json_t *data)
{
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach(data, key, v)
    {
        if (strcmp(key, "uptime_s") == 0 && json_is_integer(v)) {
            json_int_t s = json_integer_value(v);
            char buf[64];
            snprintf(buf, sizeof buf, "%lldd %02lld:%02lld:%02lld", (long long)(s / 86400),
                     (long long)(s / 3600 % 24), (long long)(s / 60 % 60), (long long)(s % 60));
            json_object_set_new(out, "uptime", json_string(buf));
        } else {
            json_object_set(out, key, v);
        }
    }
    return out;
}

/* book.get: bids and asks side by side, best prices on the first row. */
static void renderBook(json_t *data)
{
    const json_t *bids = json_object_get(data, "bids"), *asks = json_object_get(data, "asks");
    size_t nb = json_array_size(bids), na = json_array_size(asks);
    size_t rows = (nb > na ? nb : na) + 1, cols = 5;
    json_t *rest = json_deep_copy(data);
    json_object_del(rest, "bids");
    json_object_del(rest, "asks");
    if (json_object_size(rest) > 0) {
        renderObject(rest, "", false);
        putchar('\n');
    }
    json_decref(rest);
    char **cells = calloc(rows * cols, sizeof *cells);
    const char *head[] = {"BID_QTY", "BID", "|", "ASK", "ASK_QTY"};
    for (size_t c = 0; c < cols; c++)
        cells[c] = strdup(head[c]);
    for (size_t r = 1; r < rows; r++) {
        const json_t *b = json_array_get(bids, r - 1), *a = json_array_get(asks, r - 1);
        cells[r * cols + 0] = b ? cellText(json_object_get(b, "qty")) : strdup("");
        cells[r * cols + 1] = b ? cellText(json_object_get(b, "price")) : strdup("");
        cells[r * cols + 2] = strdup("|");
        cells[r * cols + 3] = a ? cellText(json_object_get(a, "price")) : strdup("");
        cells[r * cols + 4] = a ? cellText(json_object_get(a, "qty")) : strdup("");
    }
    printGrid(cells, rows, cols);
    if (rows == 1)
        puts("(empty book)");
    freeCells(cells, rows * cols);
}

/* stats: the tables of control/topview.c, then every counter they do not
 * show (the gateway's details, the feed, the XDP filter, ...) as sections,
 * so nothing the daemon reports is hidden. */
static void renderStats(const json_t *data)
{
    static const char *const shownTop[] = {"instruments", "port", "host"};
    static const char *const shownSeg[] = {
        "lcore",          "busy_permille",   "rx_packets",        "tx_packets",
        "orders_resting", "request_ring",    "sessions_by_state", "drops",
        "in_box_latency", "tx_call_latency", "matcher_latency"};
    tvRenderStats(data, stdout);
    json_t *rest = json_deep_copy(data);
    for (size_t k = 0; k < sizeof shownTop / sizeof shownTop[0]; k++)
        json_object_del(rest, shownTop[k]);
    size_t i;
    json_t *seg;
    json_array_foreach(json_object_get(rest, "segments"), i, seg)
    {
        for (size_t k = 0; k < sizeof shownSeg / sizeof shownSeg[0]; k++)
            json_object_del(seg, shownSeg[k]);
    }
    if (json_object_size(rest) > 0) {
        putchar('\n');
        renderObject(rest, "", true);
    }
    json_decref(rest);
}

static void renderAnswer(const ctlOptions *o, const json_t *req, json_t *data)
{
    const json_t *args = json_object_get(req, "args");
    if (strcmp(o->cmd, "book.get") == 0 && json_is_object(data)) {
        renderBook(data);
    } else if (strcmp(o->cmd, "stats") == 0 && json_is_object(data)) {
        renderStats(data);
    } else if (strcmp(o->cmd, "session.kick") == 0 && json_object_size(data) == 0) {
        char *id = cellText(json_object_get(args, "session_id"));
        printf("session %s kicked\n", id);
        free(id);
    } else if (strcmp(o->cmd, "shutdown") == 0 && json_object_size(data) == 0) {
        puts("xchgd is shutting down");
    } else if (strcmp(o->cmd, "status") == 0 && json_is_object(data)) {
        json_t *d = withUptime(data);
        renderObject(d, "", false);
        json_decref(d);
    } else if (json_is_object(data)) {
        renderObject(data, "", false);
    } else if (isObjectArray(data)) {
        printTable(data, NULL);
    } else {
        char *t = valueText(data);
        puts(t);
        free(t);
    }
}

/* ---- answers ------------------------------------------------------------------------ */

/* Prints an ok:false answer's error. Returns EXIT_ERROR_ANSWER. */
static int reportError(const ctlOptions *o, const json_t *answer)
{
    const json_t *e = json_object_get(answer, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    fprintf(stderr, "error %" JSON_INTEGER_FORMAT ": %s\n",
            json_integer_value(json_object_get(e, "code")), msg ? msg : "(no message)");
    if (o->json && e) {
        char *s = json_dumps(e, JSON_COMPACT);
        puts(s);
        free(s);
    }
    return EXIT_ERROR_ANSWER;
}

static int connectionError(const ctlOptions *o, const char *what)
{
    fprintf(stderr, "xchgctl: %s: %s\n", o->socketPath, what);
    return EXIT_USAGE;
}

/* Waits for the answer to request 1 (an error with a null id, sent by a
 * server that refuses the connection, also counts). Returns 0 with *answer
 * set, or an exit status. */
static int readAnswer(const ctlOptions *o, int fd, lineReader *r, json_t **answer)
{
    char *line;
    for (;;) {
        int rc = readLine(fd, r, o->timeoutMs, &line);
        if (rc == 0)
            return connectionError(o, "connection closed before an answer");
        if (rc < 0 && errno == ETIMEDOUT)
            return connectionError(o, "no answer in time (see --timeout)");
        if (rc < 0)
            return connectionError(o, errno == EINTR ? "interrupted" : strerror(errno));
        json_error_t jerr;
        json_t *a = json_loads(line, 0, &jerr);
        consumeLine(r);
        if (a == NULL)
            return connectionError(o, "answer is not JSON");
        const json_t *id = json_object_get(a, "id");
        if (json_object_get(a, "ok") != NULL &&
            (json_integer_value(id) == 1 || json_is_null(id) || id == NULL)) {
            *answer = a;
            return 0;
        }
        json_decref(a); /* an event, or an answer to someone else */
    }
}

/* Prints events until interrupted or the server closes the connection. */
static int streamEvents(const ctlOptions *o, int fd, lineReader *r)
{
    char *line;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        int rc = readLine(fd, r, -1, &line);
        if (rc < 0 && interrupted)
            return 0;
        if (rc <= 0)
            return connectionError(o,
                                   rc == 0 ? "connection closed by the server" : strerror(errno));
        json_t *e = o->json ? NULL : json_loads(line, 0, NULL);
        if (o->json) {
            puts(line);
        } else if (e && json_object_get(e, "event")) {
            char *d = cellText(json_object_get(e, "data"));
            printf("%s  %s\n", json_string_value(json_object_get(e, "event")), d);
            free(d);
        }
        json_decref(e);
        consumeLine(r);
    }
}

/* ---- top: the live view ------------------------------------------------------------- */

static volatile sig_atomic_t resized;

static void onResize(int sig)
{
    (void)sig;
    resized = 1;
}

typedef struct {
    long books, count, intervalS;
} topArgs;

static int topParse(const ctlOptions *o, topArgs *t)
{
    *t = (topArgs){5, -1, 1};
    for (int i = 0; i < o->argCount; i++) {
        const char *a = o->args[i];
        long *dst = !strncmp(a, "books=", 6)      ? &t->books
                    : !strncmp(a, "count=", 6)    ? &t->count
                    : !strncmp(a, "interval=", 9) ? &t->intervalS
                                                  : NULL;
        char *end;
        const char *v = dst ? strchr(a, '=') + 1 : a;
        long n = strtol(v, &end, 10);
        if (!dst || end == v || *end || n < (dst == &t->books ? 0 : 1) || n > 3600)
            return usageError("top: bad argument '%s' (books=N count=N interval=SEC)", a);
        *dst = n;
    }
    return 0;
}

/* One frame: the answer rendered to the terminal's size. On a terminal the
 * frame overwrites the previous one (cursor home, erase to end of line and
 * of screen); elsewhere frames follow each other, separated by a blank line. */
static void topFrame(const ctlOptions *o, const json_t *data, bool tty)
{
    struct winsize ws = {0};
    int cols = 120, rows = 60;
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
    char title[256], clock[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    snprintf(title, sizeof title, "xchg top  %s  %s  interval %lld ms%s", clock, o->socketPath,
             (long long)json_integer_value(json_object_get(data, "interval_ms")),
             tty ? "  (q quits)" : "");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return;
    tvRenderTop(data, title, cols, rows - (tty ? 1 : 0), mem);
    fclose(mem);
    if (tty) {
        fputs("\x1b[H", stdout);
        for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            printf("%.*s\x1b[K\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
        fputs("\x1b[J", stdout);
    } else {
        fputs(buf, stdout);
        putchar('\n');
    }
    fflush(stdout);
    free(buf);
}

/* Waits intervalMs for a key; returns true when the user asked to quit. */
static bool topWait(long intervalMs, bool keys)
{
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    if (poll(&p, keys ? 1 : 0, (int)intervalMs) == 1) {
        char c[16];
        ssize_t n = read(STDIN_FILENO, c, sizeof c);
        for (ssize_t i = 0; i < n; i++)
            if (c[i] == 'q' || c[i] == 'Q' || c[i] == 3)
                return true;
    }
    return false;
}

static int runTop(const ctlOptions *o)
{
    topArgs ta;
    int fd = -1, rc = topParse(o, &ta);
    if (rc == 0)
        rc = connectTo(o, &fd);
    if (rc)
        return rc;
    const bool tty = isatty(STDOUT_FILENO);
    struct termios saved, raw;
    const bool keys = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (keys) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = onResize;
    sigaction(SIGWINCH, &sa, NULL);
    if (tty)
        fputs("\x1b[?1049h\x1b[?25l\x1b[2J", stdout); /* alternate screen, no cursor */
    lineReader r = {NULL, 0, 0, 0};
    for (long n = 0; !interrupted && (ta.count < 0 || n < ta.count); n++) {
        json_t *req = json_pack("{s:i, s:s, s:{s:i}}", "id", 1, "cmd", "top", "args", "books",
                                (int)ta.books),
               *answer = NULL;
        sendRequest(fd, req);
        json_decref(req);
        rc = readAnswer(o, fd, &r, &answer);
        if (rc == 0 && !json_is_true(json_object_get(answer, "ok")))
            rc = reportError(o, answer);
        else if (rc == 0 && o->json) {
            char *s = json_dumps(json_object_get(answer, "data"), JSON_COMPACT);
            puts(s ? s : "{}");
            fflush(stdout);
            free(s);
        } else if (rc == 0)
            topFrame(o, json_object_get(answer, "data"), tty);
        json_decref(answer);
        if (rc || (ta.count >= 0 && n + 1 >= ta.count))
            break;
        if (topWait(ta.intervalS * 1000, keys))
            break;
        resized = 0;
    }
    if (tty)
        fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    if (keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    close(fd);
    free(r.buf);
    return interrupted ? 0 : rc;
}

static int run(const ctlOptions *o)
{
    if (strcmp(o->cmd, "top") == 0)
        return runTop(o);
    json_t *req = NULL, *answer = NULL;
    lineReader r = {NULL, 0, 0, 0};
    int fd = -1;
    int rc = buildRequest(o, &req);
    if (rc == 0)
        rc = connectTo(o, &fd);
    if (rc == 0) {
        sendRequest(fd, req);
        rc = readAnswer(o, fd, &r, &answer);
    }
    if (rc == 0 && !json_is_true(json_object_get(answer, "ok"))) {
        rc = reportError(o, answer);
    } else if (rc == 0 && strcmp(o->cmd, "subscribe") == 0) {
        if (!o->json)
            fprintf(stderr, "subscribed; Ctrl-C to stop\n");
        rc = streamEvents(o, fd, &r);
    } else if (rc == 0 && o->json) {
        char *s = json_dumps(json_object_get(answer, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        puts(s ? s : "{}");
        free(s);
    } else if (rc == 0) {
        renderAnswer(o, req, json_object_get(answer, "data"));
    }
    if (fd >= 0)
        close(fd);
    free(r.buf);
    json_decref(req);
    json_decref(answer);
    return rc;
}

int main(int argc, char **argv)
{
    ctlOptions o;
    memset(&o, 0, sizeof o);
    if (setlocale(LC_CTYPE, "") == NULL || MB_CUR_MAX == 1)
        setlocale(LC_CTYPE, "C.UTF-8");
    int rc = parseOptions(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(o.cmd, "query") == 0) /* SQL over the history SSTables, no daemon needed */
        return hqMain(o.argCount, o.args, o.queryConfig, o.json);
    installSignals();
    rc = run(&o);
    if (fflush(stdout) != 0)
        return EXIT_USAGE;
    return rc;
}
