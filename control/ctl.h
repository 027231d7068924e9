/* ctl.h -- the control socket: JSON lines over AF_UNIX, dispatched to command handlers.
 *
 * Request:  {"id":1,"cmd":"session.add","args":{...}}
 * Answer:   {"id":1,"ok":true,"data":{...}}
 *        or {"id":1,"ok":false,"error":{"code":9003,"message":"..."}}
 * (DESIGN.md §6). The server runs on the control lcore's thread and never
 * blocks it: ctlServerPoll services every ready client and returns. Access
 * is the socket file's mode and owner plus an SO_PEERCRED check of every
 * connecting peer. A bad line (not JSON, no cmd, unknown cmd, bad args) gets
 * an error object; the connection stays open. */
#ifndef XCHG_CONTROL_CTL_H
#define XCHG_CONTROL_CTL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ctlServer ctlServer;

typedef struct {
    int code;          /* reference system code (notes-3), e.g. 9003 bad JSON */
    char message[200]; /* human readable */
} ctlError;

/* A command handler. `args` is the request's "args" object (an empty object
 * when absent; borrowed). On success returns 0 and sets *data to a new
 * reference (NULL means {}); on failure returns -1 with *err filled. */
typedef int ctlHandler(void *ctx, json_t *args, json_t **data, ctlError *err);

typedef struct {
    const char *path;  /* socket file; an existing stale file is replaced */
    uint32_t mode;     /* permission bits of the socket file, e.g. 0660 */
    uid_t owner;       /* (uid_t)-1: unchanged */
    gid_t group;       /* (gid_t)-1: unchanged */
    uint32_t maxClients;
} ctlServerOptions;

/* Creates, binds and listens. Returns NULL with a message in err (naming the
 * path and the failing call) on failure. */
ctlServer *ctlServerCreate(const ctlServerOptions *opt, char *err, size_t errlen);

/* Registers a handler for cmd (copied). `help` is a one-line description
 * listed by the built-in "help" command. Returns 0, or -1 if cmd exists. */
int ctlServerRegister(ctlServer *s, const char *cmd, ctlHandler *fn, void *ctx, const char *help);

/* Accepts, reads and answers whatever is ready, waiting at most timeoutMs
 * (0 = do not wait). Returns the number of requests answered, -1 on a fatal
 * listener error. */
int ctlServerPoll(ctlServer *s, int timeoutMs);

/* Closes every connection, removes the socket file, frees. NULL is a no-op. */
void ctlServerDestroy(ctlServer *s);

#endif
