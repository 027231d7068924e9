/* xdpctl.h -- the XDP filter in xchgd: start and stop, the allowlist kept in
 * step with sessions and operator commands, filter.* control commands,
 * counters for stats and metrics.
 *
 * Everything here runs on the control lcore (EAL main thread); no worker
 * calls it. When the config disables the filter every function is a
 * harmless no-op and the counters read as zero. */
#ifndef XCHG_XDP_XDPCTL_H
#define XCHG_XDP_XDPCTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "control/ctl.h"
#include "control/prom.h"
#include "dataplane/xdp/filter.h"

/* Writes the EAL devargs for port p into buf: p->devargs, plus
 * ",xdp_prog=<our object>" when the filter is enabled, the driver is
 * net_af_xdp and the devargs name no xdp_prog yet. Never fails (a too long
 * result is left without the addition; xdpCtlStart then reports it). */
void xdpCtlDevargs(const cfgConfig *cfg, const cfgPort *p, char *buf, size_t len);

/* Starts the filter for the config's port. Called twice by xchgd: with
 * portStarted 0 before the port is configured (front-filter mode loads and
 * attaches the program then, so nothing reaches the port unfiltered), and
 * with 1 after it started (net_af_xdp mode finds the program the PMD
 * attached). Each call does only its own mode's work. Fills the port map and
 * the appliance address. 0, or -1 with a message in err (xchgd then refuses
 * to start). */
int xdpCtlStart(const cfgConfig *cfg, int portStarted, char *err, size_t errlen);

/* Detaches (front filter) or lets go of (af_xdp) the program, closes the
 * maps, forgets the allowlist bookkeeping. Safe to call when not started. */
void xdpCtlStop(void);

/* session.add made session sessionId for source ip (0 = any) on order
 * port `port`: allows (ip, port). Returns a short word for the answer:
 * "allowed", "off" (filter disabled) or "error" (reason on stderr). */
const char *xdpCtlSessionAdded(uint32_t sessionId, uint32_t ip, uint16_t port);

/* Session sessionId was removed (session.kick): the last session of its
 * (ip, port) without an operator filter.allow takes the entry out. Unknown
 * ids are ignored, so calling it twice is harmless. */
void xdpCtlSessionRemoved(uint32_t sessionId);

/* Registers filter.list, filter.allow and filter.deny. 0 or -1. */
int xdpCtlRegister(ctlServer *s);

/* The counters by reason (enum xdpf_reason, names from xdpReasonName);
 * zeros when the filter is off. Returns 1 when the filter is running, 0
 * when it is off, -1 when the kernel read failed (out zeroed). For the
 * metrics exporter and `xchgctl stats`. */
int xdpCtlCounters(uint64_t out[XDPF_REASON_COUNT]);

/* {"enabled":..., "attach":..., "prog_id":..., "allowlist":N, "counters":{...}}
 * for `xchgctl stats`; a new reference (NULL only when out of memory). */
json_t *xdpCtlStatsJson(void);

/* Prometheus families of the filter, for the metrics registry (its source
 * signature: metricsAddSource("xdp", xdpCtlMetricsRender, NULL)):
 * xchg_xdp_enabled (gauge 1/0), xchg_xdp_packets_total{reason} (counter,
 * zeros when off), xchg_xdp_allowlist_entries (gauge). ctx unused.
 * Returns 0, or -1 when the kernel read failed or the writer refused a line
 * (what was written stays). */
int xdpCtlMetricsRender(void *ctx, promWriter *w);

#endif
