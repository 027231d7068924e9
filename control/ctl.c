/* ctl.c -- control socket server: JSON lines over AF_UNIX, non-blocking, driven by poll(2).
 *
 * One listener and up to maxClients connections, each with an input buffer
 * (bytes read, split into lines) and an output buffer (answers and events not
 * yet accepted by the kernel). Nothing here blocks: sockets are non-blocking,
 * writes that would block stay queued and are retried when poll reports
 * POLLOUT. A client that does not read its answers is no longer read from
 * (its requests wait in the kernel) once its queue passes half of maxOutput;
 * a subscriber that does not read its events is disconnected when its queue
 * would pass maxOutput. Connections are closed only at the end of a poll
 * round (ctlReap), so a handler that broadcasts never frees a client that is
 * still being served. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define CTL_READ_CHUNK       65536u
#define CTL_READ_BUDGET      (4u * CTL_READ_CHUNK) /* bytes read per client per round */
#define CTL_LINES_PER_ROUND  64                    /* requests per client per round */
#define CTL_ACCEPT_PER_ROUND 64
#define CTL_CLOSE_GRACE_NS   1000000000ull /* closing client: time to read its error */
#define CTL_PAUSE_MAX        (256u << 10)  /* stop reading a client with this much queued */
#define CTL_KEEP_BUFFER      (256u << 10)  /* larger empty buffers are released */

typedef struct {
    char *buf;
    size_t off; /* output: bytes already sent; input: always 0 */
    size_t len;
    size_t cap;
} ctlBuf;

typedef struct {
    int fd;
    uid_t uid;
    pid_t pid;
    ctlBuf in;
    ctlBuf out;
    char *topics[CTL_MAX_TOPICS];
    uint32_t topicCount;
    bool eof;         /* peer finished sending: close once answered */
    bool closing;     /* an error line is queued: close once it is sent */
    bool dead;        /* close at the end of the round */
    bool backlog;     /* complete lines wait in `in` */
    uint64_t closeBy; /* CLOCK_MONOTONIC ns deadline while closing */
    ctlBuf held;      /* answers waiting for the gate (ctlServerHold), in order */
    uint64_t heldSeq; /* ... until the gate reaches this */
} ctlClient;

typedef struct {
    char *name;
    char *help;
    ctlHandler *fn;
    void *ctx;
} ctlCommand;

struct ctlServer {
    int lfd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev; /* identity of the socket file we bound */
    ino_t ino;
    uid_t sockUid;
    gid_t sockGid;
    mode_t sockMode;
    size_t maxLine, maxOutput, pauseOutput;
    uint32_t maxClients, clientCount;
    ctlClient **clients;
    struct pollfd *pfds;
    ctlCommand *cmds; /* sorted by name */
    size_t cmdCount, cmdCap;
    ctlClient *current; /* the client whose request is being handled */
    uint64_t holdSeq;   /* set by ctlServerHold for the current request */
    ctlGateFn *gate;    /* durable position, NULL: nothing is held */
    void *gateCtx;
    bool inPoll;
    ctlServerStats stats;
};

static void ctlReap(ctlServer *s);
static void ctlFlush(ctlClient *c);

/* ---- small helpers ------------------------------------------------------------ */

int ctlErrorf(ctlError *err, int code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static void ctlSetErr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ctlSetErr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t ctlNowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Makes room for n more bytes after len. Returns 0, or -1 out of memory. */
static int ctlBufReserve(ctlBuf *b, size_t n)
{
    if (b->off > 0 && b->cap - b->len < n) {
        memmove(b->buf, b->buf + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    char *p = realloc(b->buf, cap);
    if (p == NULL)
        return -1;
    b->buf = p;
    b->cap = cap;
    return 0;
}

static int ctlBufAppend(ctlBuf *b, const char *data, size_t n)
{
    if (ctlBufReserve(b, n) < 0)
        return -1;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return 0;
}

/* Empties b, releasing its memory if it grew large. */
static void ctlBufClear(ctlBuf *b)
{
    b->off = b->len = 0;
    if (b->cap > CTL_KEEP_BUFFER) {
        free(b->buf);
        b->buf = NULL;
        b->cap = 0;
    }
}

static size_t ctlPending(const ctlClient *c)
{
    return c->out.len - c->out.off;
}

/* ---- answers and events ---------------------------------------------------------- */

static int ctlDumpCallback(const char *data, size_t size, void *ctx)
{
    return ctlBufAppend(ctx, data, size);
}

/* Encodes v as one compact line at the end of b. Returns 0, or -1 with b
 * unchanged. */
static int ctlAppendLine(ctlBuf *b, const json_t *v)
{
    size_t off = b->off, len = b->len;
    if (json_dump_callback(v, ctlDumpCallback, b, JSON_COMPACT | JSON_ENCODE_ANY) == 0 &&
        ctlBufAppend(b, "\n", 1) == 0)
        return 0;
    /* a compaction may have moved the unsent bytes to the front */
    b->len = (b->off == off) ? len : len - off;
    return -1;
}

/* A new string for an error message; jansson refuses invalid UTF-8. */
static json_t *ctlMessage(const char *msg)
{
    json_t *m = json_string(msg);
    return m ? m : json_string("(error message is not valid UTF-8)");
}

static json_t *ctlErrorAnswer(json_t *id, int code, const char *msg)
{
    json_t *a = json_object();
    json_object_set(a, "id", id ? id : json_null());
    json_object_set_new(a, "ok", json_false());
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", ctlMessage(msg));
    json_object_set_new(a, "error", e);
    return a;
}

/* Queues the answer to one request. `data` is stolen (NULL means {}). */
static void ctlQueueAnswer(ctlServer *s, ctlClient *c, json_t *id, int rc, json_t *data,
                           const ctlError *err)
{
    json_t *a;
    if (rc == 0) {
        a = json_object();
        json_object_set(a, "id", id ? id : json_null());
        json_object_set_new(a, "ok", json_true());
        json_object_set_new(a, "data", data ? data : json_object());
    } else {
        json_decref(data);
        a = ctlErrorAnswer(id, err->code ? err->code : CTL_ERR_INTERNAL,
                           err->message[0] ? err->message : "command failed");
        s->stats.errors++;
    }
    s->stats.requests++;
    /* an answer waits while its command's record is not durable, and so
     * does every later answer to the same client (they stay in order) */
    const bool hold =
        s->gate && (c->held.len > 0 || (s->holdSeq && s->gate(s->gateCtx) < s->holdSeq));
    ctlBuf *b = hold ? &c->held : &c->out;
    if (hold) {
        c->heldSeq = s->holdSeq > c->heldSeq ? s->holdSeq : c->heldSeq;
        s->stats.held++;
    }
    if (ctlAppendLine(b, a) < 0) {
        json_decref(a);
        a = ctlErrorAnswer(id, CTL_ERR_SERIALIZE, "answer could not be encoded");
        if (rc == 0)
            s->stats.errors++;
        if (ctlAppendLine(b, a) < 0)
            c->dead = true; /* out of memory */
    }
    json_decref(a);
}

/* Moves a client's held answers to its output once the gate passed them. */
static void ctlRelease(ctlServer *s, ctlClient *c)
{
    if (c->held.len == 0 || s->gate(s->gateCtx) < c->heldSeq)
        return;
    if (ctlBufAppend(&c->out, c->held.buf, c->held.len) < 0) {
        c->dead = true;
        return;
    }
    ctlBufClear(&c->held);
    c->heldSeq = 0;
    ctlFlush(c);
}

/* Sends what is queued. Marks the client dead on a write error. */
static void ctlFlush(ctlClient *c)
{
    while (!c->dead && ctlPending(c) > 0) {
        ssize_t n =
            send(c->fd, c->out.buf + c->out.off, ctlPending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out.off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            break;
        }
    }
    if (ctlPending(c) == 0)
        ctlBufClear(&c->out);
}

/* Queues an error line and closes the connection once it is sent. */
static void ctlCloseWithError(ctlClient *c, int code, const char *msg)
{
    json_t *a = ctlErrorAnswer(NULL, code, msg);
    if (ctlAppendLine(&c->out, a) < 0)
        c->dead = true;
    json_decref(a);
    c->closing = true;
    c->backlog = false;
    c->in.len = 0;
    c->closeBy = ctlNowNs() + CTL_CLOSE_GRACE_NS;
}

/* ---- commands -------------------------------------------------------------------- */

static ctlCommand *ctlFind(ctlServer *s, const char *name)
{
    size_t lo = 0, hi = s->cmdCount;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, s->cmds[mid].name);
        if (c == 0)
            return &s->cmds[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int ctlServerRegister(ctlServer *s, const char *cmd, ctlHandler *fn, void *ctx, const char *help)
{
    if (cmd == NULL || cmd[0] == '\0' || fn == NULL || ctlFind(s, cmd) != NULL)
        return -1;
    if (s->cmdCount == s->cmdCap) {
        size_t cap = s->cmdCap ? s->cmdCap * 2 : 16;
        ctlCommand *p = realloc(s->cmds, cap * sizeof *p);
        if (p == NULL)
            return -1;
        s->cmds = p;
        s->cmdCap = cap;
    }
    ctlCommand c = {strdup(cmd), strdup(help ? help : ""), fn, ctx};
    if (c.name == NULL || c.help == NULL) {
        free(c.name);
        free(c.help);
        return -1;
    }
    size_t i = s->cmdCount;
    while (i > 0 && strcmp(s->cmds[i - 1].name, cmd) > 0) {
        s->cmds[i] = s->cmds[i - 1];
        i--;
    }
    s->cmds[i] = c;
    s->cmdCount++;
    return 0;
}

/* Splits a request into id, cmd and args. Returns 0, or -1 with *err set. */
static int ctlParseRequest(json_t *req, json_t **id, const char **cmd, json_t **args, ctlError *err)
{
    if (!json_is_object(req))
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "request must be a JSON object");
    *id = json_object_get(req, "id");
    json_t *c = json_object_get(req, "cmd");
    if (c == NULL)
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "missing \"cmd\"");
    if (!json_is_string(c))
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "\"cmd\" must be a string");
    *cmd = json_string_value(c);
    *args = json_object_get(req, "args");
    if (*args != NULL && !json_is_object(*args) && !json_is_null(*args))
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "\"args\" must be an object");
    return 0;
}

/* Runs the handler of cmd. Returns its result; *data is a new reference. */
static int ctlDispatch(ctlServer *s, const char *cmd, json_t *args, json_t **data, ctlError *err)
{
    const ctlCommand *c = ctlFind(s, cmd);
    if (c == NULL)
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "unknown command '%.120s' (try help)", cmd);
    ctlHandler *fn = c->fn; /* the handler may register commands (realloc) */
    void *ctx = c->ctx;
    json_t *empty = NULL;
    if (args == NULL || json_is_null(args))
        args = empty = json_object();
    int rc = fn(ctx, args, data, err);
    json_decref(empty);
    return rc == 0 ? 0 : -1;
}

/* Parses and answers one request line (without its newline). */
static void ctlHandleLine(ctlServer *s, ctlClient *c, const char *line, size_t len)
{
    json_error_t jerr;
    ctlError err = {0, ""};
    json_t *id = NULL, *args = NULL, *data = NULL;
    const char *cmd = NULL;
    int rc;
    json_t *req = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
    if (req == NULL)
        rc = ctlErrorf(&err, CTL_ERR_BAD_REQUEST, "bad JSON at column %d: %s", jerr.column,
                       jerr.text);
    else
        rc = ctlParseRequest(req, &id, &cmd, &args, &err);
    s->holdSeq = 0;
    if (rc == 0) {
        s->current = c;
        rc = ctlDispatch(s, cmd, args, &data, &err);
        s->current = NULL;
    }
    if (!c->dead)
        ctlQueueAnswer(s, c, id, rc, data, &err);
    else
        json_decref(data);
    json_decref(req);
}

static bool ctlBlank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Answers the complete lines in c->in, at most CTL_LINES_PER_ROUND and only
 * while c's queue is below the pause mark. Returns the number answered. */
static int ctlProcessLines(ctlServer *s, ctlClient *c)
{
    size_t pos = 0;
    int answered = 0;
    const char *nl;
    while (!c->dead && !c->closing && pos < c->in.len && answered < CTL_LINES_PER_ROUND &&
           ctlPending(c) < s->pauseOutput &&
           (nl = memchr(c->in.buf + pos, '\n', c->in.len - pos)) != NULL) {
        size_t n = (size_t)(nl - (c->in.buf + pos));
        if (n > s->maxLine)
            break; /* reported below as too long */
        if (n > 0 && c->in.buf[pos + n - 1] == '\r')
            n--;
        if (!ctlBlank(c->in.buf + pos, n)) {
            ctlHandleLine(s, c, c->in.buf + pos, n);
            answered++;
        }
        pos = (size_t)(nl - c->in.buf) + 1;
    }
    if (c->closing || c->dead)
        return answered;
    if (pos > 0) {
        memmove(c->in.buf, c->in.buf + pos, c->in.len - pos);
        c->in.len -= pos;
    }
    if (c->in.len == 0)
        ctlBufClear(&c->in);
    nl = c->in.len > 0 ? memchr(c->in.buf, '\n', c->in.len) : NULL;
    c->backlog = nl != NULL;
    if ((nl ? (size_t)(nl - c->in.buf) : c->in.len) > s->maxLine) {
        char msg[96];
        snprintf(msg, sizeof msg, "request line longer than %zu bytes; closing", s->maxLine);
        s->stats.tooLong++;
        ctlCloseWithError(c, CTL_ERR_BAD_REQUEST, msg);
    }
    return answered;
}

/* ---- built-in commands ------------------------------------------------------------ */

static int ctlCmdHelp(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    const ctlServer *s = ctx;
    (void)args;
    (void)err;
    json_t *list = json_array();
    for (size_t i = 0; i < s->cmdCount; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "cmd", json_string(s->cmds[i].name));
        json_object_set_new(e, "help", ctlMessage(s->cmds[i].help));
        json_array_append_new(list, e);
    }
    *data = json_object();
    json_object_set_new(*data, "commands", list);
    return 0;
}

static int ctlFindTopic(const ctlClient *c, const char *topic)
{
    for (uint32_t i = 0; i < c->topicCount; i++)
        if (strcmp(c->topics[i], topic) == 0)
            return (int)i;
    return -1;
}

static json_t *ctlTopicList(const ctlClient *c)
{
    json_t *list = json_array();
    for (uint32_t i = 0; i < c->topicCount; i++)
        json_array_append_new(list, json_string(c->topics[i]));
    json_t *d = json_object();
    json_object_set_new(d, "topics", list);
    return d;
}

/* Checks args.topics: an array of 1..CTL_MAX_TOPICS non-empty short strings.
 * Absent is allowed when `optional`. */
static int ctlCheckTopics(json_t *args, bool optional, json_t **topics, ctlError *err)
{
    *topics = json_object_get(args, "topics");
    if (*topics == NULL && optional)
        return 0;
    if (!json_is_array(*topics) || json_array_size(*topics) == 0 ||
        json_array_size(*topics) > CTL_MAX_TOPICS)
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "\"topics\" must be an array of 1 to %d strings",
                         CTL_MAX_TOPICS);
    size_t i;
    json_t *t;
    json_array_foreach(*topics, i, t)
    {
        size_t n = json_is_string(t) ? json_string_length(t) : 0;
        if (n == 0 || n > CTL_TOPIC_MAX)
            return ctlErrorf(err, CTL_ERR_BAD_REQUEST,
                             "topic %zu must be a string of 1 to %d bytes", i, CTL_TOPIC_MAX);
    }
    return 0;
}

static void ctlCountSubscribers(ctlServer *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->clientCount; i++)
        n += (!s->clients[i]->dead && s->clients[i]->topicCount > 0);
    s->stats.subscribers = n;
}

/* Topics of the list that c has not subscribed yet, duplicates counted once. */
static uint32_t ctlNewTopics(const ctlClient *c, const json_t *topics)
{
    uint32_t n = 0;
    for (size_t i = 0; i < json_array_size(topics); i++) {
        const char *name = json_string_value(json_array_get(topics, i));
        bool seen = ctlFindTopic(c, name) >= 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(name, json_string_value(json_array_get(topics, k))) == 0;
        n += !seen;
    }
    return n;
}

static int ctlCmdSubscribe(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    ctlServer *s = ctx;
    ctlClient *c = s->current;
    json_t *topics, *t;
    size_t i;
    if (ctlCheckTopics(args, false, &topics, err) < 0)
        return -1;
    if (c->topicCount + ctlNewTopics(c, topics) > CTL_MAX_TOPICS)
        return ctlErrorf(err, CTL_ERR_BAD_REQUEST, "at most %d topics per connection",
                         CTL_MAX_TOPICS);
    json_array_foreach(topics, i, t)
    {
        const char *name = json_string_value(t);
        if (ctlFindTopic(c, name) >= 0)
            continue;
        char *copy = strdup(name);
        if (copy == NULL)
            return ctlErrorf(err, CTL_ERR_INTERNAL, "out of memory");
        c->topics[c->topicCount++] = copy;
    }
    ctlCountSubscribers(s);
    *data = ctlTopicList(c);
    return 0;
}

static void ctlDropTopic(ctlClient *c, uint32_t i)
{
    free(c->topics[i]);
    c->topics[i] = c->topics[--c->topicCount];
}

static int ctlCmdUnsubscribe(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    ctlServer *s = ctx;
    ctlClient *c = s->current;
    json_t *topics;
    if (ctlCheckTopics(args, true, &topics, err) < 0)
        return -1;
    if (topics == NULL) {
        while (c->topicCount > 0)
            ctlDropTopic(c, c->topicCount - 1);
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(topics, i, t)
        {
            int k = ctlFindTopic(c, json_string_value(t));
            if (k >= 0)
                ctlDropTopic(c, (uint32_t)k);
        }
    }
    ctlCountSubscribers(s);
    *data = ctlTopicList(c);
    return 0;
}

static bool ctlSubscribed(const ctlClient *c, const char *topic)
{
    return ctlFindTopic(c, topic) >= 0 || ctlFindTopic(c, "*") >= 0;
}

int ctlServerBroadcast(ctlServer *s, const char *topic, json_t *event)
{
    if (topic == NULL || topic[0] == '\0')
        return -1;
    json_t *e = json_object();
    json_t *name = json_string(topic);
    if (name == NULL) {
        json_decref(e);
        return -1;
    }
    json_object_set_new(e, "event", name);
    json_object_set_new(e, "data", event ? json_incref(event) : json_object());
    ctlBuf line = {NULL, 0, 0, 0};
    int rc = ctlAppendLine(&line, e);
    json_decref(e);
    if (rc < 0) {
        free(line.buf);
        return -1;
    }
    int queued = 0;
    for (uint32_t i = 0; i < s->clientCount; i++) {
        ctlClient *c = s->clients[i];
        if (c->dead || c->closing || !ctlSubscribed(c, topic))
            continue;
        if (ctlPending(c) + line.len > s->maxOutput || ctlBufAppend(&c->out, line.buf, line.len)) {
            c->dead = true; /* too far behind: it can reconnect and resubscribe */
            s->stats.dropped++;
            continue;
        }
        queued++;
        s->stats.events++;
        if (ctlPending(c) == line.len)
            ctlFlush(c);
    }
    free(line.buf);
    if (!s->inPoll)
        ctlReap(s);
    return queued;
}

/* ---- connections -------------------------------------------------------------------- */

static void ctlClientFree(ctlClient *c)
{
    close(c->fd);
    free(c->in.buf);
    free(c->out.buf);
    free(c->held.buf);
    for (uint32_t i = 0; i < c->topicCount; i++)
        free(c->topics[i]);
    free(c);
}

/* Reads what is ready (bounded per round). Sets eof on end of stream. */
static void ctlRead(ctlServer *s, ctlClient *c)
{
    size_t budget = CTL_READ_BUDGET;
    while (budget > 0 && !c->eof && !c->dead && c->in.len <= s->maxLine) {
        if (ctlBufReserve(&c->in, CTL_READ_CHUNK) < 0) {
            c->dead = true;
            return;
        }
        ssize_t n = recv(c->fd, c->in.buf + c->in.len, CTL_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            c->in.len += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
        } else if (n == 0) {
            c->eof = true;
        } else if (errno == EINTR) {
            continue;
        } else {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            return;
        }
    }
}

/* Discards input of a connection that is being closed. */
static void ctlDrain(ctlClient *c)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            c->eof = true;
        if (n <= 0)
            return;
    }
}

/* Services one connection's poll result. Returns requests answered. */
static int ctlService(ctlServer *s, ctlClient *c, short revents)
{
    int answered = 0;
    if (revents & (POLLERR | POLLNVAL)) {
        c->dead = true;
        return 0;
    }
    if (revents & POLLOUT)
        ctlFlush(c);
    if ((revents & (POLLIN | POLLHUP)) && c->closing) {
        ctlDrain(c);
    } else if (revents & (POLLIN | POLLHUP)) {
        ctlRead(s, c);
        answered = ctlProcessLines(s, c);
    } else if (c->backlog) {
        answered = ctlProcessLines(s, c);
    }
    ctlFlush(c);
    if ((revents & POLLHUP) && ctlPending(c) > 0)
        c->dead = true; /* the peer is gone: nothing can be delivered */
    return answered;
}

/* Writes one error line to a connection that is not admitted, and closes it. */
static void ctlRefuse(int fd, int code, const char *msg)
{
    ctlBuf b = {NULL, 0, 0, 0};
    json_t *a = ctlErrorAnswer(NULL, code, msg);
    if (ctlAppendLine(&b, a) == 0 &&
        send(fd, b.buf, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)b.len) {
        char junk[4096]; /* unread input would turn the peer's EOF into ECONNRESET */
        for (int i = 0; i < 16 && recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0; i++)
            ;
        shutdown(fd, SHUT_RDWR);
    }
    json_decref(a);
    free(b.buf);
    close(fd);
}

/* True when `gid` is among the peer's supplementary groups at connect time. */
static bool ctlPeerInGroup(int fd, gid_t gid)
{
    gid_t small[64], *groups = small;
    socklen_t len = sizeof small;
    bool found = false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
        if (errno != ERANGE || (groups = malloc(len)) == NULL)
            return false;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
            len = 0;
    }
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        found = found || groups[i] == gid;
    if (groups != small)
        free(groups);
    return found;
}

/* Root, the socket file's owner, and members of its group when the mode lets
 * the group write (connect needs write permission). */
static bool ctlPeerAllowed(const ctlServer *s, int fd, const struct ucred *cr)
{
    if (cr->uid == 0 || cr->uid == s->sockUid)
        return true;
    if (!(s->sockMode & S_IWGRP))
        return false;
    return cr->gid == s->sockGid || ctlPeerInGroup(fd, s->sockGid);
}

static void ctlAdmit(ctlServer *s, int fd)
{
    struct ucred cr = {0, (uid_t)-1, (gid_t)-1};
    socklen_t len = sizeof cr;
    char msg[160];
    bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && len == sizeof cr;
    if (!known || !ctlPeerAllowed(s, fd, &cr)) {
        snprintf(msg, sizeof msg, "access denied: uid %ld may not use %.100s",
                 known ? (long)cr.uid : -1L, s->path);
        s->stats.refusedPeer++;
        ctlRefuse(fd, CTL_ERR_AUTH, msg);
        return;
    }
    ctlClient *c = s->clientCount < s->maxClients ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        snprintf(msg, sizeof msg, "too many control clients (at most %u)", s->maxClients);
        s->stats.refusedFull++;
        ctlRefuse(fd, CTL_ERR_UNAVAILABLE, msg);
        return;
    }
    c->fd = fd;
    c->uid = cr.uid;
    c->pid = cr.pid;
    s->clients[s->clientCount++] = c;
    s->stats.accepted++;
    s->stats.clients = s->clientCount;
}

/* Accepts pending connections. Returns -1 on a fatal listener error. */
static int ctlAcceptAll(ctlServer *s)
{
    for (int i = 0; i < CTL_ACCEPT_PER_ROUND; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            ctlAdmit(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK)
            return -1;
        return 0; /* EAGAIN, or out of descriptors/memory: retry next round */
    }
    return 0;
}

/* Closes the connections that are finished, keeps the order of the others. */
static void ctlReap(ctlServer *s)
{
    uint64_t now = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->clientCount; i++) {
        ctlClient *c = s->clients[i];
        bool done = c->dead;
        if (!done && c->closing)
            done = ctlPending(c) == 0 || (now ? now : (now = ctlNowNs())) >= c->closeBy;
        if (!done && c->eof)
            done = ctlPending(c) == 0 && !c->backlog && c->held.len == 0;
        if (done)
            ctlClientFree(c);
        else
            s->clients[k++] = c;
    }
    s->clientCount = k;
    s->stats.clients = k;
    ctlCountSubscribers(s);
}

/* Answers lines left over from earlier rounds. */
static int ctlServeBacklog(ctlServer *s)
{
    int answered = 0;
    for (uint32_t i = 0; i < s->clientCount; i++) {
        ctlClient *c = s->clients[i];
        if (c->backlog && !c->dead && ctlPending(c) < s->pauseOutput) {
            answered += ctlProcessLines(s, c);
            ctlFlush(c);
        }
    }
    return answered;
}

/* Fills the poll set: the listener, then one entry per client. Sets *busy
 * when some client has work that needs no waiting. */
static nfds_t ctlPollSet(ctlServer *s, bool *busy)
{
    s->pfds[0] = (struct pollfd){s->lfd, POLLIN, 0};
    *busy = false;
    for (uint32_t i = 0; i < s->clientCount; i++) {
        const ctlClient *c = s->clients[i];
        short ev = 0;
        bool paused = ctlPending(c) >= s->pauseOutput;
        if (!c->eof && !paused)
            ev |= POLLIN;
        if (ctlPending(c) > 0)
            ev |= POLLOUT;
        *busy = *busy || (c->backlog && !paused) || c->dead;
        s->pfds[1 + i] = (struct pollfd){c->fd, ev, 0};
    }
    return 1 + s->clientCount;
}

int ctlServerPoll(ctlServer *s, int timeoutMs)
{
    bool busy, held = false;
    int fatal = 0;
    s->inPoll = true;
    for (uint32_t i = 0; s->gate && i < s->clientCount; i++) {
        ctlRelease(s, s->clients[i]);
        held |= s->clients[i]->held.len > 0;
    }
    if (held && timeoutMs > 1)
        timeoutMs = 1; /* a commit takes about that: look again soon */
    int answered = ctlServeBacklog(s);
    ctlReap(s);
    nfds_t n = ctlPollSet(s, &busy);
    int rc = poll(s->pfds, n, busy || answered > 0 ? 0 : timeoutMs);
    if (rc < 0 && errno != EINTR)
        fatal = -1;
    for (nfds_t i = 1; rc > 0 && i < n; i++)
        if (s->pfds[i].revents)
            answered += ctlService(s, s->clients[i - 1], s->pfds[i].revents);
    ctlReap(s); /* frees the slots of finished clients before accepting */
    if (rc > 0 && (s->pfds[0].revents & (POLLERR | POLLNVAL)))
        fatal = -1;
    else if (rc > 0 && (s->pfds[0].revents & POLLIN))
        fatal = ctlAcceptAll(s);
    s->inPoll = false;
    return fatal < 0 ? -1 : answered;
}

void ctlServerSetGate(ctlServer *s, ctlGateFn *fn, void *ctx)
{
    s->gate = fn;
    s->gateCtx = ctx;
}

void ctlServerHold(ctlServer *s, uint64_t seq)
{
    if (s && s->current && seq > s->holdSeq)
        s->holdSeq = seq;
}

void ctlServerGetStats(const ctlServer *s, ctlServerStats *out)
{
    *out = s->stats;
}

/* ---- creation and teardown ------------------------------------------------------------ */

/* mkdir -p of the directory part of path (new directories get 0755). */
static int ctlMakeParents(const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            ctlSetErr(err, errlen, "control socket %s: mkdir %s: %s", path, dir, strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

static void ctlFillAddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* Removes a socket file nobody listens on. Refuses a live server, and a path
 * that is not a socket. */
static int ctlClearStale(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        ctlSetErr(err, errlen, "control socket %s: lstat: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        ctlSetErr(err, errlen, "control socket %s: exists and is not a socket; not replacing it",
                  path);
        return -1;
    }
    struct sockaddr_un sa;
    ctlFillAddr(&sa, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ctlSetErr(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
        return -1;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN) {
        ctlSetErr(err, errlen, "control socket %s: another server is listening on it", path);
        return -1;
    }
    if (e != ECONNREFUSED && e != ENOENT) {
        ctlSetErr(err, errlen, "control socket %s: cannot check the existing socket: %s", path,
                  strerror(e));
        return -1;
    }
    if (e == ECONNREFUSED && unlink(path) < 0 && errno != ENOENT) {
        ctlSetErr(err, errlen, "control socket %s: unlink stale socket: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Binds, sets owner/group/mode before listen (so nobody connects through
 * looser permissions), records the file's identity, listens. */
static int ctlBindListen(ctlServer *s, const ctlServerOptions *opt, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    struct stat st;
    const char *call = "socket";
    ctlFillAddr(&sa, s->path);
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        goto fail;
    call = "bind";
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
        goto fail;
    call = "chown";
    if ((opt->owner != (uid_t)-1 || opt->group != (gid_t)-1) &&
        fchownat(AT_FDCWD, s->path, opt->owner, opt->group, AT_SYMLINK_NOFOLLOW) < 0)
        goto fail_unlink;
    call = "chmod";
    if (chmod(s->path, (mode_t)(opt->mode & 0777)) < 0)
        goto fail_unlink;
    call = "stat";
    if (lstat(s->path, &st) < 0)
        goto fail_unlink;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->sockUid = st.st_uid;
    s->sockGid = st.st_gid;
    s->sockMode = st.st_mode & 0777;
    call = "listen";
    if (listen(s->lfd, SOMAXCONN) < 0)
        goto fail_unlink;
    return 0;
fail_unlink:
    ctlSetErr(err, errlen, "control socket %s: %s: %s", s->path, call, strerror(errno));
    unlink(s->path);
    return -1;
fail:
    ctlSetErr(err, errlen, "control socket %s: %s: %s", s->path, call, strerror(errno));
    return -1;
}

static int ctlRegisterBuiltins(ctlServer *s)
{
    int rc = ctlServerRegister(s, "help", ctlCmdHelp, s, "list the commands and what they do");
    rc |= ctlServerRegister(s, "subscribe", ctlCmdSubscribe, s,
                            "stream events of {\"topics\":[...]} (\"*\" = all) on this connection");
    rc |= ctlServerRegister(s, "unsubscribe", ctlCmdUnsubscribe, s,
                            "stop the events of {\"topics\":[...]}, or of every topic");
    return rc;
}

ctlServer *ctlServerCreate(const ctlServerOptions *opt, char *err, size_t errlen)
{
    ctlServer *s;
    size_t plen = opt->path ? strlen(opt->path) : 0;
    if (plen == 0 || plen >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ctlSetErr(err, errlen, "control socket '%s': path must be 1 to %zu bytes",
                  opt->path ? opt->path : "", sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return NULL;
    }
    if ((s = calloc(1, sizeof *s)) == NULL) {
        ctlSetErr(err, errlen, "control socket %s: out of memory", opt->path);
        return NULL;
    }
    memcpy(s->path, opt->path, plen + 1);
    s->lfd = -1;
    s->maxClients = opt->maxClients ? opt->maxClients : CTL_DEFAULT_MAX_CLIENTS;
    s->maxLine = opt->maxLine ? opt->maxLine : CTL_DEFAULT_MAX_LINE;
    s->maxOutput = opt->maxOutput ? opt->maxOutput : CTL_DEFAULT_MAX_OUTPUT;
    s->pauseOutput = s->maxOutput > 2 * CTL_PAUSE_MAX ? CTL_PAUSE_MAX : s->maxOutput / 2 + 1;
    s->clients = calloc(s->maxClients, sizeof *s->clients);
    s->pfds = calloc((size_t)s->maxClients + 1, sizeof *s->pfds);
    if (s->clients == NULL || s->pfds == NULL || ctlRegisterBuiltins(s) != 0) {
        ctlSetErr(err, errlen, "control socket %s: out of memory", opt->path);
        goto fail;
    }
    if (ctlMakeParents(s->path, err, errlen) < 0 || ctlClearStale(s->path, err, errlen) < 0 ||
        ctlBindListen(s, opt, err, errlen) < 0)
        goto fail;
    return s;
fail:
    s->path[0] = '\0'; /* nothing of ours to unlink */
    ctlServerDestroy(s);
    return NULL;
}

void ctlServerDestroy(ctlServer *s)
{
    struct stat st;
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->clientCount; i++)
        ctlClientFree(s->clients[i]);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->path[0] && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    for (size_t i = 0; i < s->cmdCount; i++) {
        free(s->cmds[i].name);
        free(s->cmds[i].help);
    }
    free(s->cmds);
    free(s->clients);
    free(s->pfds);
    free(s);
}
