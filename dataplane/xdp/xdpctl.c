/* xdpctl.c -- the XDP filter in xchgd: start/stop, allowlist bookkeeping,
 * filter.* commands and counters (control lcore only).
 *
 * The kernel map holds what is allowed; this file holds why: each
 * (source, port) rule counts the sessions that need it and whether the
 * operator allowed it by hand. The map entry exists while the rule is
 * wanted (sessions > 0 or manual) and not denied. filter.deny takes the
 * entry out even when sessions remain (the operator's word wins) until
 * filter.allow or a new session.add for it. */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/xdp/xdpctl.h"

#define XDPCTL_MAX_SESSIONS 4096
#define XDPCTL_DEFAULT_OBJ  "/../bpf/xchg_filter.bpf.o" /* after the dir of xchgd */

typedef struct {
    uint32_t ip; /* host order; 0 = any source */
    uint16_t port;
    uint32_t sessions; /* sessions that need it */
    int manual;        /* filter.allow */
    int denied;        /* filter.deny while sessions remain */
} xdpRule;

typedef struct {
    uint32_t sessionId, ip;
    uint16_t port;
} xdpSessionRef;

static struct {
    xdpFilter *f;
    const cfgConfig *cfg;
    char ifname[CFG_IFNAME_MAX + 1];
    xdpRule rules[XDPF_MAX_ALLOW];
    int nrules;
    xdpSessionRef sessions[XDPCTL_MAX_SESSIONS];
    int nsessions;
} X;

static int isAfXdp(const cfgPort *p)
{
    return strncmp(p->devargs, "net_af_xdp", 10) == 0;
}

/* The BPF object: filter.program, else bpf/ beside xchgd's bin/. */
static void objectPath(const cfgConfig *cfg, char *buf, size_t len)
{
    char exe[512];
    ssize_t n;
    if (cfg->filter.program[0]) {
        snprintf(buf, len, "%s", cfg->filter.program);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(buf, len, "build/bpf/xchg_filter.bpf.o");
        return;
    }
    exe[n] = 0;
    snprintf(buf, len, "%s" XDPCTL_DEFAULT_OBJ, dirname(exe));
}

/* filter.interface, else the iface= of the devargs; "" when neither. */
static void interfaceName(const cfgConfig *cfg, char *out)
{
    const char *p = strstr(cfg->ports[0].devargs, "iface=");
    out[0] = 0;
    if (cfg->filter.interface[0]) {
        snprintf(out, CFG_IFNAME_MAX + 1, "%s", cfg->filter.interface);
        return;
    }
    if (p && (p == cfg->ports[0].devargs || p[-1] == ',')) {
        p += 6;
        size_t n = strcspn(p, ",");
        if (n > CFG_IFNAME_MAX)
            n = CFG_IFNAME_MAX;
        memcpy(out, p, n);
        out[n] = 0;
    }
}

void xdpCtlDevargs(const cfgConfig *cfg, const cfgPort *p, char *buf, size_t len)
{
    char obj[512];
    snprintf(buf, len, "%s", p->devargs);
    if (!cfg->filter.enabled || !isAfXdp(p) || strstr(p->devargs, "xdp_prog="))
        return;
    objectPath(cfg, obj, sizeof obj);
    if (strlen(p->devargs) + strlen(obj) + 11 < len)
        snprintf(buf, len, "%s,xdp_prog=%s", p->devargs, obj);
}

static int setupMaps(const cfgConfig *cfg, char *err, size_t errlen)
{
    int rc = xdpSetSelf(X.f, cfg->ports[0].address);
    for (uint32_t i = 0; i < cfg->segmentCount && rc == 0; i++)
        rc = xdpAddPort(X.f, cfg->segments[i].orderPort, i);
    if (rc)
        snprintf(err, errlen, "xdp: filling the port map: %s", strerror(-rc));
    return rc ? -1 : 0;
}

int xdpCtlStart(const cfgConfig *cfg, int portStarted, char *err, size_t errlen)
{
    if (!cfg->filter.enabled || X.f)
        return 0;
    interfaceName(cfg, X.ifname);
    if (!portStarted && isAfXdp(&cfg->ports[0])) {
        /* the PMD attaches its own copy when the port starts: a copy a killed
         * xchgd left would make that fail */
        if (X.ifname[0] && xdpClearLeftover(X.ifname) < 0)
            fprintf(stderr, "xdp: could not remove a stale filter from %s\n", X.ifname);
        return 0;
    }
    if (portStarted != isAfXdp(&cfg->ports[0]))
        return 0;
    if (!X.ifname[0]) {
        snprintf(err, errlen,
                 "xdp: port %s: its devargs name no iface=; set filter.interface (or "
                 "filter.enabled = false)",
                 cfg->ports[0].name);
        return -1;
    }
    if (portStarted) {
        X.f = xdpAdopt(X.ifname, err, errlen);
    } else {
        char obj[512];
        objectPath(cfg, obj, sizeof obj);
        X.f = xdpLoad(obj, X.ifname, (xdpAttachMode)cfg->filter.mode, err, errlen);
    }
    if (!X.f)
        return -1;
    X.cfg = cfg;
    if (setupMaps(cfg, err, errlen) != 0) {
        xdpCtlStop();
        return -1;
    }
    printf("xchgd: xdp filter on %s (%s, program id %u)\n", X.ifname, xdpHow(X.f), xdpProgId(X.f));
    return 0;
}

void xdpCtlStop(void)
{
    xdpClose(X.f);
    X.f = NULL;
    X.nrules = 0;
    X.nsessions = 0;
}

/* ---- allowlist bookkeeping -------------------------------------------------- */

static xdpRule *findRule(uint32_t ip, uint16_t port)
{
    for (int i = 0; i < X.nrules; i++)
        if (X.rules[i].ip == ip && X.rules[i].port == port)
            return &X.rules[i];
    return NULL;
}

static xdpRule *getRule(uint32_t ip, uint16_t port)
{
    xdpRule *r = findRule(ip, port);
    if (r || X.nrules == XDPF_MAX_ALLOW)
        return r;
    r = &X.rules[X.nrules++];
    memset(r, 0, sizeof *r);
    r->ip = ip;
    r->port = port;
    return r;
}

/* Makes the kernel map agree with rule r; drops r when nothing needs it.
 * 0 or -errno. */
static int syncRule(xdpRule *r)
{
    int want = !r->denied && (r->sessions > 0 || r->manual);
    int rc = want ? xdpAllowAdd(X.f, r->ip, r->port) : xdpAllowDel(X.f, r->ip, r->port);
    if (rc == -ENOENT)
        rc = 0;
    if (r->sessions == 0 && !r->manual)
        *r = X.rules[--X.nrules];
    return rc;
}

const char *xdpCtlSessionAdded(uint32_t sessionId, uint32_t ip, uint16_t port)
{
    if (!X.f)
        return "off";
    xdpRule *r = getRule(ip, port);
    if (!r || X.nsessions == XDPCTL_MAX_SESSIONS) {
        fprintf(stderr, "xdp: allowlist bookkeeping full; session %u not allowed\n", sessionId);
        return "error";
    }
    X.sessions[X.nsessions++] = (xdpSessionRef){sessionId, ip, port};
    r->sessions++;
    r->denied = 0;
    int rc = syncRule(r);
    if (rc) {
        fprintf(stderr, "xdp: allowing session %u: %s\n", sessionId, strerror(-rc));
        return "error";
    }
    return "allowed";
}

void xdpCtlSessionRemoved(uint32_t sessionId)
{
    for (int i = 0; X.f && i < X.nsessions; i++) {
        if (X.sessions[i].sessionId != sessionId)
            continue;
        xdpRule *r = findRule(X.sessions[i].ip, X.sessions[i].port);
        X.sessions[i] = X.sessions[--X.nsessions];
        if (r && r->sessions > 0) {
            r->sessions--;
            int rc = syncRule(r);
            if (rc)
                fprintf(stderr, "xdp: removing session %u: %s\n", sessionId, strerror(-rc));
        }
        return;
    }
}

/* ---- commands ------------------------------------------------------------------ */

static json_t *addrJson(uint32_t ip)
{
    struct in_addr a = {htonl(ip)};
    char s[INET_ADDRSTRLEN];
    if (!ip)
        return json_string("any");
    inet_ntop(AF_INET, &a, s, sizeof s);
    return json_string(s);
}

static json_t *countersJson(void)
{
    uint64_t c[XDPF_REASON_COUNT];
    json_t *o = json_object();
    xdpCtlCounters(c);
    for (int i = 0; i < XDPF_REASON_COUNT; i++)
        json_object_set_new(o, xdpReasonName(i), json_integer((json_int_t)c[i]));
    return o;
}

static int notRunning(ctlError *err)
{
    return ctlErrorf(err, 5001, "the XDP filter is not running (filter.enabled = false)");
}

static int cmdFilterList(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    (void)args;
    if (!X.f)
        return notRunning(err);
    static xdpEntry kernel[XDPF_MAX_ALLOW];
    int n = xdpAllowList(X.f, kernel, XDPF_MAX_ALLOW);
    if (n < 0)
        return ctlErrorf(err, 5000, "reading the allowlist: %s", strerror(-n));
    json_t *list = json_array();
    for (int i = 0; i < X.nrules; i++) {
        const xdpRule *r = &X.rules[i];
        json_int_t packets = 0;
        int inKernel = 0;
        for (int k = 0; k < n; k++)
            if (kernel[k].ip == r->ip && kernel[k].port == r->port) {
                packets = (json_int_t)kernel[k].packets;
                inKernel = 1;
            }
        json_t *e = json_pack("{s:o, s:i, s:b, s:I, s:b, s:I}", "source", addrJson(r->ip), "port",
                              r->port, "allowed", inKernel, "sessions", (json_int_t)r->sessions,
                              "manual", r->manual, "packets", packets);
        json_array_append_new(list, e);
    }
    *data = json_pack("{s:s, s:s, s:I, s:o, s:o}", "interface", X.ifname, "attach", xdpHow(X.f),
                      "prog_id", (json_int_t)xdpProgId(X.f), "entries", list, "counters",
                      countersJson());
    return 0;
}

/* source=IP|any (required) and port=N or segment=ID (default: every order
 * port). Fills ips/ports; returns the count or -1. */
static int ruleArgs(json_t *args, uint32_t *ip, uint16_t *ports, ctlError *err)
{
    const char *src = json_string_value(json_object_get(args, "source"));
    json_t *jp = json_object_get(args, "port"), *js = json_object_get(args, "segment");
    struct in_addr a;
    if (!src)
        return ctlErrorf(err, 1008, "args.source: an IPv4 address or \"any\" is required");
    if (!strcmp(src, "any"))
        *ip = 0;
    else if (inet_pton(AF_INET, src, &a) == 1)
        *ip = ntohl(a.s_addr);
    else
        return ctlErrorf(err, 1008, "args.source: '%s' is not an IPv4 address or \"any\"", src);
    int n = 0;
    for (uint32_t i = 0; i < X.cfg->segmentCount; i++) {
        const cfgSegment *s = &X.cfg->segments[i];
        if ((jp && json_integer_value(jp) != s->orderPort) ||
            (js && json_integer_value(js) != s->id))
            continue;
        ports[n++] = s->orderPort;
    }
    if (n == 0)
        return ctlErrorf(err, 1008, "args.port/segment: no order-entry port matches");
    return n;
}

static int cmdFilterAllow(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    uint32_t ip;
    uint16_t ports[CFG_MAX_SEGMENTS];
    if (!X.f)
        return notRunning(err);
    int n = ruleArgs(args, &ip, ports, err);
    if (n < 0)
        return -1;
    json_t *done = json_array();
    for (int i = 0; i < n; i++) {
        xdpRule *r = getRule(ip, ports[i]);
        if (!r) {
            json_decref(done);
            return ctlErrorf(err, 5002, "the allowlist is full (%d entries)", XDPF_MAX_ALLOW);
        }
        r->manual = 1;
        r->denied = 0;
        int rc = syncRule(r);
        if (rc) {
            json_decref(done);
            return ctlErrorf(err, rc == -E2BIG ? 5002 : 5000, "allowing: %s", strerror(-rc));
        }
        json_array_append_new(done, json_integer(ports[i]));
    }
    *data = json_pack("{s:o, s:o}", "source", addrJson(ip), "ports", done);
    return 0;
}

static int cmdFilterDeny(void *ctx, json_t *args, json_t **data, ctlError *err)
{
    (void)ctx;
    uint32_t ip;
    uint16_t ports[CFG_MAX_SEGMENTS];
    if (!X.f)
        return notRunning(err);
    int n = ruleArgs(args, &ip, ports, err);
    if (n < 0)
        return -1;
    json_t *done = json_array();
    for (int i = 0; i < n; i++) {
        xdpRule *r = findRule(ip, ports[i]);
        if (!r)
            continue;
        r->manual = 0;
        r->denied = r->sessions > 0;
        int rc = syncRule(r);
        if (rc) {
            json_decref(done);
            return ctlErrorf(err, 5000, "denying: %s", strerror(-rc));
        }
        json_array_append_new(done, json_integer(ports[i]));
    }
    if (json_array_size(done) == 0) {
        json_decref(done);
        return ctlErrorf(err, 1008, "args.source: not on the allowlist for that port");
    }
    *data = json_pack("{s:o, s:o}", "source", addrJson(ip), "ports", done);
    return 0;
}

int xdpCtlRegister(ctlServer *s)
{
    if (ctlServerRegister(s, "filter.list", cmdFilterList, NULL,
                          "XDP allowlist entries and counters") ||
        ctlServerRegister(s, "filter.allow", cmdFilterAllow, NULL,
                          "source=IP|any [port=N|segment=ID]: allow order entry") ||
        ctlServerRegister(s, "filter.deny", cmdFilterDeny, NULL,
                          "source=IP|any [port=N|segment=ID]: remove from the allowlist"))
        return -1;
    return 0;
}

/* ---- counters ----------------------------------------------------------------- */

int xdpCtlCounters(uint64_t out[XDPF_REASON_COUNT])
{
    if (!X.f) {
        memset(out, 0, sizeof(uint64_t) * XDPF_REASON_COUNT);
        return 0;
    }
    return xdpReadCounters(X.f, out) == 0 ? 1 : -1;
}

json_t *xdpCtlStatsJson(void)
{
    if (!X.f)
        return json_pack("{s:b}", "enabled", 0);
    return json_pack("{s:b, s:s, s:s, s:I, s:i, s:o}", "enabled", 1, "interface", X.ifname,
                     "attach", xdpHow(X.f), "prog_id", (json_int_t)xdpProgId(X.f), "rules",
                     X.nrules, "counters", countersJson());
}

int xdpCtlMetricsRender(void *ctx, promWriter *w)
{
    (void)ctx;
    uint64_t c[XDPF_REASON_COUNT];
    int running = xdpCtlCounters(c);
    int kernel = 0;
    if (X.f) {
        static xdpEntry tmp[XDPF_MAX_ALLOW];
        kernel = xdpAllowList(X.f, tmp, XDPF_MAX_ALLOW);
    }
    promFamily(w, "xchg_xdp_enabled", PROM_GAUGE, "1 when the XDP allowlist filter is attached");
    promSampleU64(w, NULL, 0, X.f ? 1 : 0);
    promFamily(w, "xchg_xdp_packets_total", PROM_COUNTER,
               "frames the XDP filter saw, by verdict reason");
    for (int i = 0; i < XDPF_REASON_COUNT; i++) {
        promLabel l = {"reason", xdpReasonName(i)};
        promSampleU64(w, &l, 1, c[i]);
    }
    promFamily(w, "xchg_xdp_allowlist_entries", PROM_GAUGE,
               "(source, port) entries in the kernel allowlist");
    promSampleU64(w, NULL, 0, kernel > 0 ? (uint64_t)kernel : 0);
    return running < 0 || kernel < 0 || w->overflow || w->invalid ? -1 : 0;
}
