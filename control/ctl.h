/* ctl.h -- the control socket: JSON lines over AF_UNIX, dispatched to command handlers.
 *
 * Request:  {"id":1,"cmd":"session.add","args":{...}}
 * Answer:   {"id":1,"ok":true,"data":{...}}
 *        or {"id":1,"ok":false,"error":{"code":9003,"message":"..."}}
 * Event:    {"event":"fills","data":{...}}   (to connections that subscribed)
 * (DESIGN.md §6; docs/operations/control-socket.md). The server runs on the
 * control lcore's thread and never blocks it: ctlServerPoll services every
 * ready client and returns. Access is the socket file's mode and owner plus
 * an SO_PEERCRED check of every connecting peer. A bad line (not JSON, no
 * cmd, unknown cmd, bad args) gets an error object; the connection stays
 * open. Single-threaded: every function is called from the same thread. */
#ifndef XCHG_CONTROL_CTL_H
#define XCHG_CONTROL_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Error codes the server itself answers with (reference notes-3 §3). */
#define CTL_ERR_INTERNAL    5000 /* a handler failed without saying why */
#define CTL_ERR_SERIALIZE   5003 /* the answer could not be encoded */
#define CTL_ERR_AUTH        9001 /* peer refused by the SO_PEERCRED check */
#define CTL_ERR_BAD_REQUEST 9003 /* bad JSON, bad envelope, unknown command, line too long */
#define CTL_ERR_UNAVAILABLE 9005 /* too many clients */

#define CTL_DEFAULT_MAX_CLIENTS 32
#define CTL_DEFAULT_MAX_LINE    (1u << 20)  /* 1 MiB request line */
#define CTL_DEFAULT_MAX_OUTPUT  (16u << 20) /* 16 MiB queued for one client */
#define CTL_MAX_TOPICS          32          /* subscriptions per connection */
#define CTL_TOPIC_MAX           64          /* bytes in a topic name */

typedef struct ctlServer ctlServer;

typedef struct {
    int code;          /* reference system code (notes-3), e.g. 9003 bad JSON */
    char message[200]; /* human readable */
} ctlError;

/* A command handler. `args` is the request's "args" object (an empty object
 * when absent; borrowed). On success returns 0 and sets *data to a new
 * reference (NULL means {}); on failure returns -1 with *err filled (code 0
 * becomes CTL_ERR_INTERNAL). A handler may call ctlServerBroadcast and
 * ctlServerRegister, never ctlServerDestroy or ctlServerPoll. */
typedef int ctlHandler(void *ctx, json_t *args, json_t **data, ctlError *err);

typedef struct {
    const char *path;    /* socket file; an existing stale file is replaced */
    uint32_t mode;       /* permission bits of the socket file, e.g. 0660 */
    uid_t owner;         /* (uid_t)-1: unchanged */
    gid_t group;         /* (gid_t)-1: unchanged */
    uint32_t maxClients; /* 0: CTL_DEFAULT_MAX_CLIENTS */
    size_t maxLine;      /* longest request line in bytes, without the
                            newline; 0: CTL_DEFAULT_MAX_LINE */
    size_t maxOutput;    /* bytes queued for one client before it is dropped
                            (events) or no longer read (requests); 0:
                            CTL_DEFAULT_MAX_OUTPUT */
} ctlServerOptions;

/* Counters since ctlServerCreate, plus the current connection counts. */
typedef struct {
    uint64_t accepted;    /* connections admitted */
    uint64_t refusedPeer; /* refused by the SO_PEERCRED check (9001) */
    uint64_t refusedFull; /* refused because maxClients were connected (9005) */
    uint64_t requests;    /* request lines answered */
    uint64_t errors;      /* of which answered with ok:false */
    uint64_t tooLong;     /* connections closed for an over-long line */
    uint64_t dropped;     /* subscribers dropped for a full output buffer */
    uint64_t events;      /* event lines queued (one per receiving connection) */
    uint64_t held;        /* answers held for the gate (ctlServerHold) */
    uint32_t clients;     /* connected now */
    uint32_t subscribers; /* connected now with at least one topic */
} ctlServerStats;

/* Creates the parent directory if missing, replaces a stale socket file,
 * binds, sets owner, group and mode, and listens. Refuses (NULL) when another
 * server answers on the path or the path exists and is not a socket. Returns
 * NULL with a message in err (naming the path and the failing call) on
 * failure. The built-in commands help, subscribe and unsubscribe are
 * registered. */
ctlServer *ctlServerCreate(const ctlServerOptions *opt, char *err, size_t errlen);

/* Registers a handler for cmd (copied). `help` is a one-line description
 * listed by the built-in "help" command. Returns 0, or -1 if cmd exists. */
int ctlServerRegister(ctlServer *s, const char *cmd, ctlHandler *fn, void *ctx, const char *help);

/* Accepts, reads and answers whatever is ready, waiting at most timeoutMs
 * (0 = do not wait). Returns the number of requests answered, -1 on a fatal
 * listener error. */
int ctlServerPoll(ctlServer *s, int timeoutMs);

/* Queues {"event":topic,"data":event} to every connection subscribed to
 * `topic` (or to "*"). `event` is borrowed; NULL means {}. Does not block: a
 * subscriber whose queued output would exceed maxOutput is disconnected
 * instead. Returns the number of connections the event was queued to, -1 if
 * topic is empty or the event cannot be encoded. */
int ctlServerBroadcast(ctlServer *s, const char *topic, json_t *event);

/* The position up to which held answers may leave (e.g. a journal's
 * durable sequence). */
typedef uint64_t ctlGateFn(void *ctx);

/* Installs the gate (NULL: none, answers leave at once). */
void ctlServerSetGate(ctlServer *s, ctlGateFn *fn, void *ctx);

/* Called by a handler: the answer to the request being handled leaves only
 * once the gate reaches seq (the command's journal record is durable);
 * later answers to the same connection wait behind it, others do not, and
 * the loop is never blocked (ctlServerPoll releases them). No-op outside a
 * handler, with s NULL or without a gate. Events are not held. */
void ctlServerHold(ctlServer *s, uint64_t seq);

/* Copies the counters. */
void ctlServerGetStats(const ctlServer *s, ctlServerStats *out);

/* Closes every connection, removes the socket file (only if it is still the
 * one this server created), frees. NULL is a no-op. */
void ctlServerDestroy(ctlServer *s);

/* Fills *err with code and a printf-formatted message (truncated to fit) and
 * returns -1, so a handler can `return ctlErrorf(err, 1007, "...", ...)`. */
int ctlErrorf(ctlError *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
