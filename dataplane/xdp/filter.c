/* filter.c -- loads, attaches and reads the XDP allowlist filter with libbpf.
 *
 * Two ways to get hold of the program: xdpLoad opens the BPF object and
 * attaches it to the interface itself (front filter for net_af_packet or a
 * NIC), xdpAdopt finds the one the net_af_xdp PMD attached from the same
 * object (xdp_prog= devarg) and opens its maps by id. Either way the maps
 * are then reached through plain map file descriptors. */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "dataplane/xdp/filter.h"

struct xdpFilter {
    struct bpf_object *obj; /* only when we loaded it */
    int ifindex;
    int progFd;
    uint32_t progId;
    uint32_t attachFlags; /* XDP_FLAGS_* we attached with; 0 = adopted */
    int allowFd, portsFd, configFd, statsFd;
    int ncpus;
};

static const char *const reasonNames[XDPF_REASON_COUNT] = {"allowed",  "not_allowed", "spoofed",
                                                           "fragment", "malformed",   "other"};

static int xdpErr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int xdpErr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* libbpf's warnings go to stderr with a prefix; its info and debug chatter
 * (every map it creates) does not. */
static int xdpPrint(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level != LIBBPF_WARN)
        return 0;
    fprintf(stderr, "xdp: ");
    return vfprintf(stderr, fmt, ap);
}

static int xdpRemoveLeftover(int ifindex, uint32_t id);

static xdpFilter *xdpNew(void)
{
    xdpFilter *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->progFd = f->allowFd = f->portsFd = f->configFd = f->statsFd = -1;
    f->ncpus = libbpf_num_possible_cpus();
    libbpf_set_print(xdpPrint);
    return f;
}

static int xdpInterface(const char *ifname, char *err, size_t errlen)
{
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0)
        return xdpErr(err, errlen, "xdp: interface '%s': %s", ifname, strerror(errno));
    return ifindex;
}

static int xdpProgIdOf(int fd, uint32_t *id)
{
    struct bpf_prog_info info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        return -errno;
    *id = info.id;
    return 0;
}

/* 1 when some process other than this one has a descriptor of program id
 * (its fdinfo shows "prog_id:"), 0 when none has. A live xchgd keeps one
 * (xdpLoad dups it; the af_xdp PMD keeps its own); a program whose owner was
 * killed is held by nobody: the kernel keeps it only for the attachment. */
static int xdpProgHeld(uint32_t id)
{
    char want[32], path[300], line[128];
    int wantLen = snprintf(want, sizeof want, "prog_id:\t%u\n", id);
    DIR *proc = opendir("/proc");
    if (!proc)
        return 1; /* cannot tell: treat as held, i.e. refuse as before */
    int held = 0, self = (int)getpid();
    struct dirent *p;
    while (!held && (p = readdir(proc)) != NULL) {
        int pid = atoi(p->d_name);
        if (pid <= 0 || pid == self)
            continue;
        snprintf(path, sizeof path, "/proc/%d/fdinfo", pid);
        DIR *fds = opendir(path);
        if (!fds)
            continue;
        struct dirent *d;
        while (!held && (d = readdir(fds)) != NULL) {
            if (d->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%d/fdinfo/%s", pid, d->d_name);
            FILE *fp = fopen(path, "r");
            if (!fp)
                continue;
            while (fgets(line, sizeof line, fp))
                if (!strncmp(line, want, (size_t)wantLen)) {
                    held = 1;
                    break;
                }
            fclose(fp);
        }
        closedir(fds);
    }
    closedir(proc);
    return held;
}

/* Detaches the program `id` from ifindex when it is an xchg filter that no
 * process holds any more (left by an xchgd killed with SIGKILL). Returns 1
 * when it was removed, 0 when it is someone's (left alone), -1 on an error
 * of the detach itself. */
static int xdpRemoveLeftover(int ifindex, uint32_t id)
{
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return 0;
    struct bpf_prog_info info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    int ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
               !strncmp(info.name, XDPF_PROG_NAME, sizeof info.name - 1);
    if (!ours || xdpProgHeld(id)) {
        close(fd);
        return 0;
    }
    struct bpf_xdp_query_opts q = {.sz = sizeof q};
    uint32_t mode = XDP_FLAGS_SKB_MODE;
    if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.attach_mode == XDP_ATTACHED_DRV)
        mode = XDP_FLAGS_DRV_MODE;
    struct bpf_xdp_attach_opts o = {.sz = sizeof o, .old_prog_fd = fd};
    int rc = bpf_xdp_detach(ifindex, mode | XDP_FLAGS_REPLACE, &o);
    close(fd);
    return rc == 0 ? 1 : -1;
}

int xdpClearLeftover(const char *ifname)
{
    uint32_t id = 0;
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0 || bpf_xdp_query_id(ifindex, 0, &id) != 0 || id == 0)
        return 0;
    int rc = xdpRemoveLeftover(ifindex, id);
    if (rc == 1)
        fprintf(stderr,
                "xdp: removed XDP program id %u from '%s': an xchg filter no process holds "
                "(left behind by an xchgd that was killed)\n",
                id, ifname);
    return rc == 1 ? (int)id : rc;
}

static int xdpTryAttach(xdpFilter *f, uint32_t mode)
{
    uint32_t flags = mode | XDP_FLAGS_UPDATE_IF_NOEXIST;
    int rc = bpf_xdp_attach(f->ifindex, f->progFd, flags, NULL);
    if (rc == 0)
        f->attachFlags = flags;
    return rc;
}

xdpFilter *xdpLoad(const char *objPath, const char *ifname, xdpAttachMode mode, char *err,
                   size_t errlen)
{
    xdpFilter *f = xdpNew();
    if (!f) {
        xdpErr(err, errlen, "xdp: out of memory");
        return NULL;
    }
    uint32_t current = 0;
    if (ifname && (f->ifindex = xdpInterface(ifname, err, errlen)) < 0)
        goto fail;
    if (ifname && xdpClearLeftover(ifname) > 0)
        current = 0;
    if (ifname && bpf_xdp_query_id(f->ifindex, 0, &current) == 0 && current != 0) {
        xdpErr(err, errlen,
               "xdp: interface '%s' already has XDP program id %u; not replacing "
               "a program that is not xchg's or that a running process holds "
               "(if it is stale: ip link set dev %s xdp off)",
               ifname, current, ifname);
        goto fail;
    }
    f->obj = bpf_object__open_file(objPath, NULL);
    if (!f->obj) {
        xdpErr(err, errlen, "xdp: cannot open BPF object '%s': %s", objPath, strerror(errno));
        goto fail;
    }
    int rc = bpf_object__load(f->obj);
    if (rc) {
        xdpErr(err, errlen, "xdp: loading '%s' into the kernel failed: %s", objPath, strerror(-rc));
        goto fail;
    }
    struct bpf_program *p = bpf_object__find_program_by_name(f->obj, XDPF_PROG_NAME);
    if (!p) {
        xdpErr(err, errlen, "xdp: '%s' has no program " XDPF_PROG_NAME, objPath);
        goto fail;
    }
    f->progFd = dup(bpf_program__fd(p));
    f->allowFd = dup(bpf_object__find_map_fd_by_name(f->obj, XDPF_MAP_ALLOW));
    f->portsFd = dup(bpf_object__find_map_fd_by_name(f->obj, XDPF_MAP_PORTS));
    f->configFd = dup(bpf_object__find_map_fd_by_name(f->obj, XDPF_MAP_CONFIG));
    f->statsFd = dup(bpf_object__find_map_fd_by_name(f->obj, XDPF_MAP_STATS));
    if (f->progFd < 0 || f->allowFd < 0 || f->portsFd < 0 || f->configFd < 0 || f->statsFd < 0) {
        xdpErr(err, errlen, "xdp: '%s' lacks one of the filter's maps", objPath);
        goto fail;
    }
    if (!ifname)
        rc = 0;
    else if (mode == XDP_ATTACH_GENERIC)
        rc = xdpTryAttach(f, XDP_FLAGS_SKB_MODE);
    else if ((rc = xdpTryAttach(f, XDP_FLAGS_DRV_MODE)) != 0 && mode == XDP_ATTACH_AUTO)
        rc = xdpTryAttach(f, XDP_FLAGS_SKB_MODE);
    if (rc) {
        xdpErr(err, errlen, "xdp: attaching to '%s' failed: %s", ifname, strerror(-rc));
        goto fail;
    }
    if (xdpProgIdOf(f->progFd, &f->progId) != 0) {
        xdpErr(err, errlen, "xdp: program info: %s", strerror(errno));
        goto fail;
    }
    return f;
fail:
    xdpClose(f);
    return NULL;
}

/* Opens the map of the given id if its name is one of the filter's. */
static void xdpAdoptMap(xdpFilter *f, uint32_t id)
{
    int fd = bpf_map_get_fd_by_id(id);
    struct bpf_map_info info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (fd < 0)
        return;
    int *slot = NULL;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
        if (!strcmp(info.name, XDPF_MAP_ALLOW))
            slot = &f->allowFd;
        else if (!strcmp(info.name, XDPF_MAP_PORTS))
            slot = &f->portsFd;
        else if (!strcmp(info.name, XDPF_MAP_CONFIG))
            slot = &f->configFd;
        else if (!strcmp(info.name, XDPF_MAP_STATS))
            slot = &f->statsFd;
    }
    if (slot && *slot < 0)
        *slot = fd;
    else
        close(fd);
}

xdpFilter *xdpAdopt(const char *ifname, char *err, size_t errlen)
{
    xdpFilter *f = xdpNew();
    uint32_t mapIds[16];
    struct bpf_prog_info info;
    uint32_t len = sizeof info;
    if (!f) {
        xdpErr(err, errlen, "xdp: out of memory");
        return NULL;
    }
    if ((f->ifindex = xdpInterface(ifname, err, errlen)) < 0)
        goto fail;
    if (bpf_xdp_query_id(f->ifindex, 0, &f->progId) != 0 || f->progId == 0) {
        xdpErr(err, errlen, "xdp: interface '%s' has no XDP program", ifname);
        goto fail;
    }
    if ((f->progFd = bpf_prog_get_fd_by_id(f->progId)) < 0) {
        xdpErr(err, errlen, "xdp: program id %u: %s", f->progId, strerror(errno));
        goto fail;
    }
    memset(&info, 0, sizeof info);
    info.nr_map_ids = 16;
    info.map_ids = (uint64_t)(uintptr_t)mapIds;
    if (bpf_obj_get_info_by_fd(f->progFd, &info, &len) != 0) {
        xdpErr(err, errlen, "xdp: program id %u info: %s", f->progId, strerror(errno));
        goto fail;
    }
    if (strcmp(info.name, XDPF_PROG_NAME) != 0) {
        xdpErr(err, errlen, "xdp: interface '%s' runs program '%s', not " XDPF_PROG_NAME, ifname,
               info.name);
        goto fail;
    }
    for (uint32_t i = 0; i < info.nr_map_ids && i < 16; i++)
        xdpAdoptMap(f, mapIds[i]);
    if (f->allowFd < 0 || f->portsFd < 0 || f->configFd < 0 || f->statsFd < 0) {
        xdpErr(err, errlen, "xdp: program id %u lacks one of the filter's maps", f->progId);
        goto fail;
    }
    return f;
fail:
    xdpClose(f);
    return NULL;
}

void xdpClose(xdpFilter *f)
{
    if (!f)
        return;
    uint32_t current = 0;
    if (f->attachFlags && bpf_xdp_query_id(f->ifindex, 0, &current) == 0 && current == f->progId) {
        struct bpf_xdp_attach_opts o;
        memset(&o, 0, sizeof o);
        o.sz = sizeof o;
        o.old_prog_fd = f->progFd; /* only if it is still ours */
        uint32_t mode = f->attachFlags & (XDP_FLAGS_DRV_MODE | XDP_FLAGS_SKB_MODE);
        if (bpf_xdp_detach(f->ifindex, mode | XDP_FLAGS_REPLACE, &o) != 0)
            fprintf(stderr, "xdp: detaching program %u: %s\n", f->progId, strerror(errno));
    }
    int fds[] = {f->progFd, f->allowFd, f->portsFd, f->configFd, f->statsFd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    bpf_object__close(f->obj);
    free(f);
}

static int xdpRc(int rc)
{
    return rc == 0 ? 0 : -errno;
}

int xdpSetSelf(xdpFilter *f, uint32_t ip)
{
    uint32_t key = 0;
    struct xdpf_config c = {.self_addr = htonl(ip), .pad = 0};
    return xdpRc(bpf_map_update_elem(f->configFd, &key, &c, BPF_ANY));
}

int xdpAddPort(xdpFilter *f, uint16_t port, uint32_t seg)
{
    uint16_t key = htons(port);
    return xdpRc(bpf_map_update_elem(f->portsFd, &key, &seg, BPF_ANY));
}

static struct xdpf_key xdpKey(uint32_t ip, uint16_t port)
{
    struct xdpf_key k;
    memset(&k, 0, sizeof k);
    k.addr = htonl(ip);
    k.port = htons(port);
    return k;
}

int xdpAllowAdd(xdpFilter *f, uint32_t ip, uint16_t port)
{
    struct xdpf_key k = xdpKey(ip, port);
    struct xdpf_value v = {0};
    if (bpf_map_update_elem(f->allowFd, &k, &v, BPF_NOEXIST) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int xdpAllowDel(xdpFilter *f, uint32_t ip, uint16_t port)
{
    struct xdpf_key k = xdpKey(ip, port);
    return xdpRc(bpf_map_delete_elem(f->allowFd, &k));
}

int xdpAllowList(xdpFilter *f, xdpEntry *out, int max)
{
    struct xdpf_key k, next;
    int n = 0;
    int rc = bpf_map_get_next_key(f->allowFd, NULL, &next);
    while (rc == 0 && n < max) {
        struct xdpf_value v;
        k = next;
        if (bpf_map_lookup_elem(f->allowFd, &k, &v) == 0) {
            out[n].ip = ntohl(k.addr);
            out[n].port = ntohs(k.port);
            out[n].packets = v.packets;
            n++;
        }
        rc = bpf_map_get_next_key(f->allowFd, &k, &next);
    }
    return rc == 0 || errno == ENOENT ? n : -errno;
}

int xdpReadCounters(xdpFilter *f, uint64_t out[XDPF_REASON_COUNT])
{
    memset(out, 0, sizeof(uint64_t) * XDPF_REASON_COUNT);
    if (f->ncpus <= 0)
        return -EINVAL;
    uint64_t *per = calloc((size_t)f->ncpus, sizeof *per);
    if (!per)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t r = 0; r < XDPF_REASON_COUNT && rc == 0; r++) {
        if (bpf_map_lookup_elem(f->statsFd, &r, per) != 0) {
            rc = -errno;
            break;
        }
        for (int c = 0; c < f->ncpus; c++)
            out[r] += per[c];
    }
    free(per);
    if (rc)
        memset(out, 0, sizeof(uint64_t) * XDPF_REASON_COUNT);
    return rc;
}

int xdpRun(xdpFilter *f, const void *frame, size_t len)
{
    struct bpf_test_run_opts o;
    memset(&o, 0, sizeof o);
    o.sz = sizeof o;
    o.data_in = frame;
    o.data_size_in = (uint32_t)len;
    o.repeat = 1;
    if (bpf_prog_test_run_opts(f->progFd, &o) != 0)
        return -errno;
    return (int)o.retval;
}

const char *xdpReasonName(int reason)
{
    return reason >= 0 && reason < XDPF_REASON_COUNT ? reasonNames[reason] : "unknown";
}

const char *xdpHow(const xdpFilter *f)
{
    if (!f->ifindex)
        return "loaded"; /* xdpLoad without an interface */
    if (!f->attachFlags)
        return "af_xdp";
    return (f->attachFlags & XDP_FLAGS_SKB_MODE) ? "generic" : "native";
}

uint32_t xdpProgId(const xdpFilter *f)
{
    return f->progId;
}
