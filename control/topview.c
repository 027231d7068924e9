/* topview.c -- `top` screens and `stats` tables from xchgd's JSON answers. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "control/topview.h"

#define TV_CELL 48 /* longest cell kept */
#define TV_COLS 16

/* Lines out, cut to width, at most height of them. */
typedef struct {
    FILE *f;
    int width, height, lines;
} tvOut;

static void tvLine(tvOut *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tvLine(tvOut *o, const char *fmt, ...)
{
    if (o->lines >= o->height)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        n--;
    if ((int)n > o->width)
        n = (size_t)o->width;
    fprintf(o->f, "%.*s\n", (int)n, buf);
    o->lines++;
}

/* ---- tables -------------------------------------------------------------------------- */

typedef struct {
    int cols, rows, cap;
    const char *align; /* 'l' or 'r' per column */
    char (*cell)[TV_CELL];
} tvTable;

static void tvTableInit(tvTable *t, const char *align, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->align = align;
    t->cols = (int)strlen(align);
    if (t->cols > TV_COLS)
        t->cols = TV_COLS;
    if (head) {
        t->cap = 8;
        t->cell = calloc((size_t)t->cap * (size_t)t->cols, TV_CELL);
        if (!t->cell)
            return;
        for (int c = 0; c < t->cols; c++)
            snprintf(t->cell[c], TV_CELL, "%s", head[c]);
        t->rows = 1;
    }
}

/* Appends a row of cols cells (strings). */
static void tvTableRow(tvTable *t, ...)
{
    if (!t->cell)
        return;
    if (t->rows == t->cap) {
        void *n = realloc(t->cell, (size_t)t->cap * 2 * (size_t)t->cols * TV_CELL);
        if (!n)
            return;
        t->cell = n;
        t->cap *= 2;
    }
    va_list ap;
    va_start(ap, t);
    for (int c = 0; c < t->cols; c++) {
        const char *s = va_arg(ap, const char *);
        snprintf(t->cell[t->rows * t->cols + c], TV_CELL, "%s", s ? s : "-");
    }
    va_end(ap);
    t->rows++;
}

static void tvTableEmit(tvTable *t, tvOut *o)
{
    int w[TV_COLS] = {0};
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++) {
            int n = (int)strlen(t->cell[r * t->cols + c]);
            w[c] = n > w[c] ? n : w[c];
        }
    for (int r = 0; r < t->rows; r++) {
        char line[1024];
        size_t len = 0;
        for (int c = 0; c < t->cols && len < sizeof line; c++) {
            const char *s = t->cell[r * t->cols + c];
            int right = t->align[c] == 'r';
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%*s", c ? "  " : "",
                                    right ? w[c] : -w[c], s);
        }
        tvLine(o, "%s", line);
    }
    free(t->cell);
    t->cell = NULL;
}

/* ---- values -------------------------------------------------------------------------- */

char *tvFormatNs(long long ns, char *buf, size_t len)
{
    static const char *const unit[] = {"ns", "us", "ms", "s"};
    if (ns < 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (ns < 1000) {
        snprintf(buf, len, "%lldns", ns);
        return buf;
    }
    /* value in thousandths of the unit, integer arithmetic */
    int u = 1;
    long long div = 1000;
    while (u < 3 && ns >= div * 1000) {
        div *= 1000;
        u++;
    }
    long long whole = ns / div, frac = ns % div;
    if (whole >= 100)
        snprintf(buf, len, "%lld%s", whole, unit[u]);
    else if (whole >= 10)
        snprintf(buf, len, "%lld.%01lld%s", whole, frac * 10 / div, unit[u]);
    else
        snprintf(buf, len, "%lld.%02lld%s", whole, frac * 100 / div, unit[u]);
    return buf;
}

/* A field as text: integers, strings, reals; "-" when absent or null. */
static const char *tvText(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = key ? json_object_get(o, key) : o;
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.3g", json_real_value(v));
    else if (json_is_true(v) || json_is_false(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
    else
        snprintf(buf, len, "-");
    return buf;
}

static const char *tvNs(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? tvFormatNs((long long)json_integer_value(v), buf, len)
                              : strcpy(buf, "-");
}

/* permille as "12.3%" */
static const char *tvPct(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return strcpy(buf, "-");
    long long p = (long long)json_integer_value(v);
    snprintf(buf, len, "%lld.%lld%%", p / 10, p % 10);
    return buf;
}

/* bytes as "1.5GiB", "300KiB", "12B" */
static const char *tvBytes(long long b, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    long long scaled10 = b * 10;
    while (u < 4 && scaled10 >= 10240) {
        scaled10 /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld%s", b, unit[0]);
    else
        snprintf(buf, len, "%lld.%lld%s", scaled10 / 10, scaled10 % 10, unit[u]);
    return buf;
}

static const char *tvBytesField(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? tvBytes((long long)json_integer_value(v), buf, len)
                              : strcpy(buf, "-");
}

/* ---- shared sections ------------------------------------------------------------------ */

#define B(n) char n[TV_CELL]

static void tvLatencyTable(const json_t *rows, tvOut *o)
{
    static const char *const head[] = {"SEGMENT", "NAME", "COUNT", "P50",
                                       "P90",     "P99",  "P99.9", "MAX"};
    tvTable t;
    tvTableInit(&t, "llrrrrrr", head);
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        B(seg);
        B(name);
        B(cnt);
        B(p50);
        B(p90);
        B(p99);
        B(p999);
        B(max);
        tvTableRow(&t, tvText(r, "segment", seg, sizeof seg), tvText(r, "name", name, sizeof name),
                   tvText(r, "count", cnt, sizeof cnt), tvNs(r, "p50_ns", p50, sizeof p50),
                   tvNs(r, "p90_ns", p90, sizeof p90), tvNs(r, "p99_ns", p99, sizeof p99),
                   tvNs(r, "p999_ns", p999, sizeof p999), tvNs(r, "max_ns", max, sizeof max));
    }
    tvTableEmit(&t, o);
}

/* Instruments with their top of book; rates when the rows carry them. */
static void tvBooksTable(const json_t *rows, int withRates, tvOut *o)
{
    static const char *const headRates[] = {"INSTRUMENT", "SEG",    "STATE",   "ORD/S",
                                            "TRD/S",      "ORDERS", "TRADES",  "BID_QTY",
                                            "BID",        "ASK",    "ASK_QTY", NULL};
    static const char *const headStats[] = {"INSTRUMENT", "SEGMENT", "STATE",   "ORDERS",
                                            "TRADES",     "LOTS",    "BID_QTY", "BID",
                                            "ASK",        "ASK_QTY", "LEVELS"};
    static const char *const keysRates[] = {"id",           "segment", "state",  "orders_per_s",
                                            "trades_per_s", "orders",  "trades", "bid_qty",
                                            "bid",          "ask",     "ask_qty"};
    static const char *const keysStats[] = {"id",     "segment",     "state",   "orders",
                                            "trades", "traded_lots", "bid_qty", "bid",
                                            "ask",    "ask_qty",     NULL};
    const char *const *keys = withRates ? keysRates : keysStats;
    tvTable t;
    tvTableInit(&t, "llrrrrrrrrr", withRates ? headRates : headStats);
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        char c[11][TV_CELL];
        for (int k = 0; k < 11; k++)
            if (keys[k])
                tvText(r, keys[k], c[k], TV_CELL);
        if (!withRates) {
            char bl[TV_CELL], al[TV_CELL];
            snprintf(c[10], TV_CELL, "%s/%s", tvText(r, "bid_levels", bl, sizeof bl),
                     tvText(r, "ask_levels", al, sizeof al));
        }
        tvTableRow(&t, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]);
    }
    tvTableEmit(&t, o);
}

static void tvHost(const json_t *h, tvOut *o)
{
    B(busy);
    B(l1);
    B(l5);
    B(l15);
    tvLine(o, "HOST  cpu %s busy  load %s %s %s", tvPct(h, "busy_permille", busy, sizeof busy),
           tvText(h, "load1", l1, sizeof l1), tvText(h, "load5", l5, sizeof l5),
           tvText(h, "load15", l15, sizeof l15));
    static const char *const head[] = {"CPU", "BUSY", "USER", "SYSTEM", "STEAL"};
    tvTable t;
    tvTableInit(&t, "rrrrr", head);
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(h, "cpus"), i, r)
    {
        B(cpu);
        B(b);
        B(u);
        B(s);
        B(st);
        tvTableRow(&t, tvText(r, "cpu", cpu, sizeof cpu), tvPct(r, "busy_permille", b, sizeof b),
                   tvPct(r, "user_permille", u, sizeof u), tvPct(r, "system_permille", s, sizeof s),
                   tvPct(r, "steal_permille", st, sizeof st));
    }
    tvTableEmit(&t, o);
    const json_t *m = json_object_get(h, "memory");
    B(tot);
    B(av);
    B(ht);
    B(hf);
    tvLine(o, "mem %s total, %s avail; hugepages %s total, %s free",
           tvBytesField(m, "total_bytes", tot, sizeof tot),
           tvBytesField(m, "available_bytes", av, sizeof av),
           tvText(m, "hugepages_total", ht, sizeof ht), tvText(m, "hugepages_free", hf, sizeof hf));
    static const char *const nhead[] = {"DEVICE", "RX_BYTES/S", "TX_BYTES/S", "RX_PKTS/S",
                                        "TX_PKTS/S"};
    tvTableInit(&t, "lrrrr", nhead);
    json_array_foreach(json_object_get(h, "network"), i, r)
    {
        B(dev);
        B(rb);
        B(tb);
        B(rp);
        B(tp);
        tvTableRow(&t, tvText(r, "device", dev, sizeof dev),
                   tvText(r, "rx_bytes_per_s", rb, sizeof rb),
                   tvText(r, "tx_bytes_per_s", tb, sizeof tb),
                   tvText(r, "rx_packets_per_s", rp, sizeof rp),
                   tvText(r, "tx_packets_per_s", tp, sizeof tp));
    }
    tvTableEmit(&t, o);
}

/* ---- top ------------------------------------------------------------------------------ */

int tvRenderTop(const json_t *top, const char *title, int width, int height, FILE *out)
{
    if (width < 20 || height < 1)
        return 0;
    tvOut o = {out, width, height, 0};
    tvLine(&o, "%s", title);
    tvLine(&o, "%s", "");
    static const char *const chead[] = {"LCORE", "ROLE", "CPU", "SEGMENT", "BUSY"};
    tvTable t;
    tvTableInit(&t, "rlrrr", chead);
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(top, "cores"), i, r)
    {
        B(lc);
        B(role);
        B(cpu);
        B(seg);
        B(busy);
        tvTableRow(&t, tvText(r, "lcore", lc, sizeof lc), tvText(r, "role", role, sizeof role),
                   tvText(r, "cpu", cpu, sizeof cpu), tvText(r, "segment", seg, sizeof seg),
                   tvPct(r, "busy_permille", busy, sizeof busy));
    }
    tvTableEmit(&t, &o);
    const json_t *rt = json_object_get(top, "rates");
    B(a);
    B(b);
    B(c);
    B(d);
    B(e);
    B(f);
    B(g);
    tvLine(&o, "%s", "");
    tvLine(&o, "orders %s/s total %s   trades %s/s total %s   cancels %s/s   rx %s pps  tx %s pps",
           tvText(rt, "orders_per_s", a, sizeof a), tvText(rt, "orders", b, sizeof b),
           tvText(rt, "trades_per_s", c, sizeof c), tvText(rt, "trades", d, sizeof d),
           tvText(rt, "cancels_per_s", e, sizeof e), tvText(rt, "rx_packets_per_s", f, sizeof f),
           tvText(rt, "tx_packets_per_s", g, sizeof g));
    tvLine(&o, "%s", "");
    tvLine(&o, "LATENCY (over the last interval)");
    tvLatencyTable(json_object_get(top, "latency"), &o);
    tvLine(&o, "%s", "");
    tvLine(&o, "BOOKS (busiest first)");
    tvBooksTable(json_object_get(top, "books"), 1, &o);
    tvLine(&o, "%s", "");
    const json_t *acc = json_object_get(top, "accounts");
    tvLine(&o, "ACCOUNTS (nearest liquidation)");
    if (json_is_array(acc)) {
        static const char *const ahead[] = {"ACCOUNT", "RISK_RATIO", "BALANCE", "MARGIN",
                                            "AVAILABLE"};
        tvTableInit(&t, "rrrrr", ahead);
        json_array_foreach(acc, i, r)
        {
            B(id);
            B(rr);
            B(bal);
            B(mar);
            B(av);
            tvTableRow(&t, tvText(r, "account", id, sizeof id),
                       tvText(r, "risk_ratio", rr, sizeof rr),
                       tvText(r, "balance", bal, sizeof bal), tvText(r, "margin", mar, sizeof mar),
                       tvText(r, "available", av, sizeof av));
        }
        tvTableEmit(&t, &o);
    } else {
        B(msg);
        tvLine(&o, "  %s", tvText(acc, "message", msg, sizeof msg));
    }
    tvLine(&o, "%s", "");
    const json_t *host = json_object_get(top, "host");
    if (json_is_object(host))
        tvHost(host, &o);
    else
        tvLine(&o, "HOST  (no sample yet)");
    return o.lines;
}

/* ---- stats ---------------------------------------------------------------------------- */

static void tvSegments(const json_t *segs, tvOut *o)
{
    static const char *const head[] = {"SEGMENT",    "LCORE",     "BUSY",       "RX_PACKETS",
                                       "TX_PACKETS", "DGRAMS_IN", "NEW_ORDERS", "EXECUTIONS",
                                       "RESTING",    "LOGGED_ON", "REQ_RING"};
    tvTable t;
    tvTableInit(&t, "lrrrrrrrrrr", head);
    size_t i;
    const json_t *s;
    json_array_foreach(segs, i, s)
    {
        const json_t *gw = json_object_get(s, "gateway");
        B(id);
        B(lc);
        B(busy);
        B(rx);
        B(tx);
        B(din);
        B(no);
        B(ex);
        B(rest);
        B(lo);
        B(ring);
        tvTableRow(&t, tvText(s, "segment", id, sizeof id), tvText(s, "lcore", lc, sizeof lc),
                   tvPct(s, "busy_permille", busy, sizeof busy),
                   tvText(s, "rx_packets", rx, sizeof rx), tvText(s, "tx_packets", tx, sizeof tx),
                   tvText(gw, "datagrams_in", din, sizeof din),
                   tvText(gw, "new_orders", no, sizeof no), tvText(gw, "executions", ex, sizeof ex),
                   tvText(s, "orders_resting", rest, sizeof rest),
                   tvText(json_object_get(s, "sessions_by_state"), "logged_on", lo, sizeof lo),
                   tvText(s, "request_ring", ring, sizeof ring));
    }
    tvTableEmit(&t, o);
}

static void tvStatsLatency(const json_t *segs, tvOut *o)
{
    static const char *const names[][2] = {{"in_box_latency", "in_box"},
                                           {"tx_call_latency", "tx_call"},
                                           {"matcher_latency", "matcher"}};
    json_t *rows = json_array();
    size_t i;
    const json_t *s;
    json_array_foreach(segs, i, s)
    {
        for (size_t k = 0; k < 3; k++) {
            json_t *l = json_object_get(s, names[k][0]);
            if (!json_is_object(l))
                continue;
            json_t *r = json_deep_copy(l);
            json_object_set(r, "segment", json_object_get(s, "segment"));
            json_object_set_new(r, "name", json_string(names[k][1]));
            json_array_append_new(rows, r);
        }
    }
    tvLatencyTable(rows, o);
    json_decref(rows);
}

static void tvDrops(const json_t *segs, tvOut *o)
{
    static const char *const head[] = {"SEGMENT", "REASON", "COUNT"};
    tvTable t;
    tvTableInit(&t, "llr", head);
    size_t i;
    const json_t *s;
    int any = 0;
    json_array_foreach(segs, i, s)
    {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)json_object_get(s, "drops"), key, v)
        {
            B(seg);
            B(n);
            tvTableRow(&t, tvText(s, "segment", seg, sizeof seg), key,
                       tvText(v, NULL, n, sizeof n));
            any = 1;
        }
    }
    if (any)
        tvTableEmit(&t, o);
    else {
        free(t.cell);
        tvLine(o, "(no drops)");
    }
}

static void tvSessions(const json_t *segs, tvOut *o)
{
    static const char *const head[] = {"SEGMENT",       "LOGGED_ON", "IDLE", "DISABLED",  "LOGONS",
                                       "LOGON_REJECTS", "THROTTLED", "GAPS", "DUPLICATES"};
    tvTable t;
    tvTableInit(&t, "lrrrrrrrr", head);
    size_t i;
    const json_t *s;
    json_array_foreach(segs, i, s)
    {
        const json_t *st = json_object_get(s, "sessions_by_state"),
                     *gw = json_object_get(s, "gateway");
        B(seg);
        B(lo);
        B(id);
        B(di);
        B(lg);
        B(lr);
        B(th);
        B(gp);
        B(du);
        tvTableRow(&t, tvText(s, "segment", seg, sizeof seg),
                   tvText(st, "logged_on", lo, sizeof lo), tvText(st, "idle", id, sizeof id),
                   tvText(st, "disabled", di, sizeof di), tvText(gw, "logons", lg, sizeof lg),
                   tvText(gw, "logon_rejects", lr, sizeof lr),
                   tvText(gw, "throttled", th, sizeof th), tvText(gw, "gaps", gp, sizeof gp),
                   tvText(gw, "duplicates", du, sizeof du));
    }
    tvTableEmit(&t, o);
}

static void tvPort(const json_t *p, tvOut *o)
{
    static const char *const head[] = {"PORT",    "IPACKETS", "OPACKETS", "IBYTES",   "OBYTES",
                                       "IMISSED", "IERRORS",  "OERRORS",  "RX_NOMBUF"};
    static const char *const keys[] = {"port",    "ipackets", "opackets", "ibytes",   "obytes",
                                       "imissed", "ierrors",  "oerrors",  "rx_nombuf"};
    tvTable t;
    tvTableInit(&t, "lrrrrrrrr", head);
    char c[9][TV_CELL];
    for (int k = 0; k < 9; k++)
        tvText(p, keys[k], c[k], TV_CELL);
    tvTableRow(&t, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]);
    tvTableEmit(&t, o);
}

void tvRenderStats(const json_t *stats, FILE *out)
{
    tvOut o = {out, INT_MAX, INT_MAX, 0};
    const json_t *segs = json_object_get(stats, "segments");
    tvSegments(segs, &o);
    tvLine(&o, "%s", "");
    tvLine(&o, "LATENCY (since start)");
    tvStatsLatency(segs, &o);
    tvLine(&o, "%s", "");
    tvLine(&o, "DROPS");
    tvDrops(segs, &o);
    tvLine(&o, "%s", "");
    tvLine(&o, "SESSIONS");
    tvSessions(segs, &o);
    const json_t *ins = json_object_get(stats, "instruments");
    if (json_is_array(ins)) {
        tvLine(&o, "%s", "");
        tvLine(&o, "INSTRUMENTS");
        tvBooksTable(ins, 0, &o);
    }
    const json_t *port = json_object_get(stats, "port");
    if (json_is_object(port)) {
        tvLine(&o, "%s", "");
        tvPort(port, &o);
    }
    const json_t *host = json_object_get(stats, "host");
    if (json_is_object(host)) {
        tvLine(&o, "%s", "");
        tvHost(host, &o);
    }
}
