/* xchg-bench-report.c -- turns the JSON lines of `make bench` into a markdown report with gnuplot
 * plots.
 *
 *   xchg-bench-report [-o DIR] [--no-plots] FILE...     ("-" or none: stdin)
 *
 * Reads every line of every file; a line that is not a JSON object, or an
 * object of a kind it does not know, is counted and skipped, so extra lines,
 * missing benchmarks and truncated runs still give a report of what is
 * there. Writes DIR/report.md, one .dat file per series, DIR/report.gp and,
 * by running gnuplot on it, one SVG per plot:
 *
 *   latency.svg     round-trip percentile curves per server and offered rate
 *                   (xchgd next to dpdk_echo and the kernel echo), from
 *                   bench_dataplane.sh's "latency" lines; the median over
 *                   repeats of each percentile;
 *   inbox.svg       in-box latency percentiles: xchgd's worker with the port,
 *                   the worker without the port (bench_gateway), dpdk_echo;
 *   throughput.svg  achieved against offered rate, per server, lossy steps
 *                   marked (bench_dataplane.sh "throughput" lines);
 *   journal.svg     journal group-commit latency p50/p99 against batch size,
 *                   next to raw io_uring writes' p50, per sync mode and
 *                   segment preparation (bench_journal);
 *   matcher.svg     matcher per-operation latency percentiles per workload
 *                   (bench_matcher).
 * bench_log's lines become a table (no plot).
 *
 * Exit 0 when the report was written (whatever data it had), 1 when a file
 * cannot be read or written or gnuplot fails, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BR_MAX_SERIES  64
#define BR_MAX_POINTS  64
#define BR_MAX_REPEATS 16
#define BR_PCTS        5 /* p50 p90 p99 p99.9 max */

static const char *const brPctName[BR_PCTS] = {"p50", "p90", "p99", "p99.9", "max"};
static const double brPctX[BR_PCTS - 1] = {0.30103, 1, 2, 3}; /* -log10(1 - p) */

/* A percentile curve: up to BR_MAX_REPEATS samples of each percentile. */
typedef struct {
    char name[64];
    double v[BR_PCTS][BR_MAX_REPEATS]; /* nanoseconds */
    int n[BR_PCTS];
} brCurve;

/* A series of (x, y) points, with a flag per point. */
typedef struct {
    char name[64];
    double x[BR_MAX_POINTS], y[BR_MAX_POINTS];
    int flag[BR_MAX_POINTS];
    int n;
} brSeries;

typedef struct {
    brCurve lat[BR_MAX_SERIES];
    int nLat;
    brCurve inbox[BR_MAX_SERIES];
    int nInbox;
    brSeries tp[BR_MAX_SERIES];
    int nTp;
    brSeries jn[BR_MAX_SERIES];
    int nJn;
    brCurve match[BR_MAX_SERIES];
    int nMatch;
    char matchOps[BR_MAX_SERIES][32];
    json_t *summary;      /* bench_dataplane.sh's summary line, if any */
    json_t *jnThroughput; /* array of bench_journal throughput lines */
    json_t *logCalls;     /* array of bench_log lines */
    long lines, used, notJson, unknown;
} brData;

/* ---- collecting ------------------------------------------------------------------- */

static brCurve *brCurveGet(brCurve *c, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(c[i].name, name) == 0)
            return &c[i];
    if (*n >= BR_MAX_SERIES)
        return NULL;
    brCurve *x = &c[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

static brSeries *brSeriesGet(brSeries *s, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    if (*n >= BR_MAX_SERIES)
        return NULL;
    brSeries *x = &s[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

static void brPoint(brSeries *s, double x, double y, int flag)
{
    if (s && s->n < BR_MAX_POINTS) {
        s->x[s->n] = x;
        s->y[s->n] = y;
        s->flag[s->n] = flag;
        s->n++;
    }
}

/* A number member (integer or real), or NAN. */
static double brNum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Adds one sample of each percentile found in o, under names such as "p50",
 * "p50_ns" (scale 1) or "p50_us" (scale 1000). */
static void brCurveAdd(brCurve *c, const json_t *o)
{
    static const char *const keys[BR_PCTS][3] = {{"p50", "p50_ns", "p50_us"},
                                                 {"p90", "p90_ns", "p90_us"},
                                                 {"p99", "p99_ns", "p99_us"},
                                                 {"p999", "p999_ns", "p999_us"},
                                                 {"max", "max_ns", "max_us"}};
    if (!c || !json_is_object(o))
        return;
    for (int p = 0; p < BR_PCTS; p++) {
        double v = NAN;
        for (int k = 0; k < 3 && isnan(v); k++) {
            v = brNum(o, keys[p][k]);
            if (!isnan(v) && k == 2)
                v *= 1000;
        }
        if (!isnan(v) && c->n[p] < BR_MAX_REPEATS)
            c->v[p][c->n[p]++] = v;
    }
}

static int brCmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the samples of percentile p, NAN when none. */
static double brMedian(const brCurve *c, int p)
{
    double t[BR_MAX_REPEATS];
    int n = c->n[p];
    if (n == 0)
        return NAN;
    memcpy(t, c->v[p], sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof t[0], brCmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void brDataplane(brData *d, json_t *o)
{
    const char *kase = json_string_value(json_object_get(o, "case"));
    const char *server = json_string_value(json_object_get(o, "server"));
    char name[64];
    if (!kase)
        return;
    if (strcmp(kase, "summary") == 0) {
        json_decref(d->summary);
        d->summary = json_incref(o);
    } else if (strcmp(kase, "worker_without_port") == 0) {
        double batch = brNum(o, "orders_per_datagram");
        char what[32] = "";
        if (batch > 1)
            snprintf(what, sizeof what, ", %.0f orders/datagram", batch);
        snprintf(name, sizeof name, "worker without port%s%s",
                 brNum(o, "cold_kb") > 0 ? " (cold cache)" : "", what);
        brCurveAdd(brCurveGet(d->inbox, &d->nInbox, name), json_object_get(o, "in_box_ns"));
    } else if (strcmp(kase, "latency") == 0 && server) {
        double rate = brNum(o, "target_rate");
        snprintf(name, sizeof name, "%s %.0f/s", server, rate);
        brCurveAdd(brCurveGet(d->lat, &d->nLat, name), json_object_get(o, "rtt_ns"));
        const json_t *ib = json_object_get(o, "in_box_latency");
        if (json_is_object(ib)) {
            snprintf(name, sizeof name, "%s in box %.0f/s", server, rate);
            brCurveAdd(brCurveGet(d->inbox, &d->nInbox, name), ib);
        }
    } else if (strcmp(kase, "throughput") == 0 && server) {
        double offered = brNum(o, "target_rate"), achieved = brNum(o, "achieved_rate");
        double lost = brNum(o, "lost");
        if (!isnan(offered) && !isnan(achieved))
            brPoint(brSeriesGet(d->tp, &d->nTp, server), offered, achieved, lost > 0);
    }
}

static void brJournal(brData *d, json_t *o)
{
    const char *test = json_string_value(json_object_get(o, "test"));
    const char *sync = json_string_value(json_object_get(o, "sync"));
    if (!test)
        return;
    if (strcmp(test, "commit_latency") == 0 && sync) {
        static const char *const key[3] = {"p50_us", "p99_us", "raw_p50_us"};
        static const char *const label[3] = {"journal p50", "journal p99", "raw io_uring p50"};
        const char *prefill = json_string_value(json_object_get(o, "prefill"));
        double batch = brNum(o, "batch");
        for (int k = 0; k < 3; k++) {
            double v = brNum(o, key[k]);
            char name[64];
            if (isnan(v) || isnan(batch))
                continue;
            snprintf(name, sizeof name, "%s (%s%s%s)", label[k], sync, prefill ? ", " : "",
                     prefill ? prefill : "");
            brPoint(brSeriesGet(d->jn, &d->nJn, name), batch, v, 0);
        }
    } else if (strcmp(test, "throughput") == 0) {
        if (!d->jnThroughput)
            d->jnThroughput = json_array();
        json_array_append(d->jnThroughput, o);
    }
}

static void brMatcher(brData *d, json_t *o)
{
    const char *w = json_string_value(json_object_get(o, "workload"));
    brCurve *c = brCurveGet(d->match, &d->nMatch, w);
    if (!c)
        return;
    brCurveAdd(c, o);
    snprintf(d->matchOps[c - d->match], sizeof d->matchOps[0], "%.0f", brNum(o, "ops_per_sec"));
}

static void brLine(brData *d, const char *line)
{
    d->lines++;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\n' || *line == 0) {
        d->lines--; /* blank lines are not lines of output */
        return;
    }
    json_error_t e;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(o)) {
        d->notJson++;
        json_decref(o);
        return;
    }
    const char *bench = json_string_value(json_object_get(o, "bench"));
    long before = d->unknown;
    if (bench && strcmp(bench, "dataplane") == 0 && !json_object_get(o, "skipped"))
        brDataplane(d, o);
    else if (bench && strcmp(bench, "journal") == 0)
        brJournal(d, o);
    else if (bench && strcmp(bench, "log") == 0) {
        if (!d->logCalls)
            d->logCalls = json_array();
        json_array_append(d->logCalls, o);
    } else if (!bench && json_is_string(json_object_get(o, "workload")) &&
               json_object_get(o, "p50_ns")) /* idwrap has no latency curve */
        brMatcher(d, o);
    else
        d->unknown++;
    if (d->unknown == before)
        d->used++;
    json_decref(o);
}

static int brReadFile(brData *d, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "xchg-bench-report: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0)
        brLine(d, line);
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

/* A file name made of the series name: letters and digits, others '_'. */
static void brSlug(const char *prefix, const char *name, char *out, size_t len)
{
    int n = snprintf(out, len, "%s_", prefix);
    for (const char *p = name; *p && (size_t)n + 1 < len; p++)
        out[n++] =
            (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
                       ? *p
                       : '_');
    out[n] = 0;
}

static FILE *brOpen(const char *dir, const char *file, const char *mode)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, mode);
    if (!f)
        fprintf(stderr, "xchg-bench-report: %s: %s\n", path, strerror(errno));
    return f;
}

/* Writes a percentile curve's data (x = nines, y = microseconds). Returns 0
 * when it has at least one point. */
static int brCurveDat(const char *dir, const char *prefix, const brCurve *c, char *file, size_t len)
{
    char slug[128];
    brSlug(prefix, c->name, slug, sizeof slug);
    snprintf(file, len, "%s.dat", slug);
    FILE *f = brOpen(dir, file, "w");
    int pts = 0;
    if (!f)
        return -1;
    fprintf(f, "# %s: nines (-log10(1-p)) and latency in microseconds (median of repeats)\n",
            c->name);
    for (int p = 0; p < BR_PCTS - 1; p++) {
        double v = brMedian(c, p);
        if (!isnan(v)) {
            fprintf(f, "%.5f %.3f %s\n", brPctX[p], v / 1000.0, brPctName[p]);
            pts++;
        }
    }
    fclose(f);
    return pts ? 0 : -1;
}

static void brGpHeader(FILE *gp, const char *dir, const char *svg, const char *title)
{
    fprintf(gp, "\nset terminal svg size 900,540 dynamic noenhanced font 'sans,12'\n");
    fprintf(gp, "set output '%s/%s'\nset title \"%s\"\nset grid\nset key outside right\n", dir, svg,
            title);
    fprintf(gp, "unset logscale\nunset label\nset autoscale\n");
}

/* An empty plot that says so (gnuplot refuses to plot nothing). */
static void brGpNoData(FILE *gp)
{
    fprintf(gp, "unset logscale\nset xrange [0:1]\nset yrange [0:1]\n"
                "set label 'no data' at graph 0.5,0.5 center\nplot -1 notitle\n"
                "set autoscale\n");
}

static void brGpCurves(FILE *gp, const char *dir, const char *prefix, const brCurve *c, int n,
                       const char *svg, const char *title)
{
    char file[256];
    int k = 0;
    brGpHeader(gp, dir, svg, title);
    fprintf(gp, "set logscale y\nset xlabel 'percentile'\nset ylabel 'microseconds'\n");
    fprintf(gp, "set xtics ('p50' 0.30103, 'p90' 1, 'p99' 2, 'p99.9' 3)\nset xrange [0:3.2]\n");
    for (int i = 0; i < n; i++) {
        if (brCurveDat(dir, prefix, &c[i], file, sizeof file) != 0)
            continue;
        fprintf(gp, "%s '%s/%s' using 1:2 with linespoints lw 2 title '%s'",
                k ? ", \\\n    " : "plot ", dir, file, c[i].name);
        k++;
    }
    if (k)
        fprintf(gp, "\n");
    else
        brGpNoData(gp);
    fprintf(gp, "set xtics autofreq\nset autoscale\n");
}

/* Sorts a series' points by x (runs may visit rates in any order). */
static void brSortSeries(brSeries *s)
{
    for (int i = 1; i < s->n; i++)
        for (int j = i; j > 0 && s->x[j - 1] > s->x[j]; j--) {
            double tx = s->x[j], ty = s->y[j];
            int tf = s->flag[j];
            s->x[j] = s->x[j - 1], s->y[j] = s->y[j - 1], s->flag[j] = s->flag[j - 1];
            s->x[j - 1] = tx, s->y[j - 1] = ty, s->flag[j - 1] = tf;
        }
}

/* groupOf > 0: series come in groups of that many (one colour per group, one
 * dash type per member), e.g. p50, p99, raw p50 of one sync mode. */
static void brGpSeries(FILE *gp, const char *dir, const char *prefix, brSeries *s, int n,
                       int markFlagged, int groupOf)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        brSortSeries(&s[i]);
        char slug[128], file[160];
        brSlug(prefix, s[i].name, slug, sizeof slug);
        snprintf(file, sizeof file, "%s.dat", slug);
        FILE *f = brOpen(dir, file, "w");
        if (!f)
            continue;
        fprintf(f, "# %s: x y flag\n", s[i].name);
        for (int j = 0; j < s[i].n; j++)
            fprintf(f, "%.3f %.3f %d\n", s[i].x[j], s[i].y[j], s[i].flag[j]);
        fclose(f);
        char style[64] = "";
        if (groupOf > 0)
            snprintf(style, sizeof style, " lc %d dt %d pt %d", i / groupOf + 1, i % groupOf + 1,
                     i % groupOf + 5);
        fprintf(gp, "%s '%s/%s' using 1:2 with linespoints lw 2%s title '%s'",
                k ? ", \\\n    " : "plot ", dir, file, style, s[i].name);
        if (markFlagged)
            fprintf(gp,
                    ", \\\n    '%s/%s' using 1:($3 > 0 ? $2 : NaN) with points pt 6 ps 2 lc "
                    "rgb 'red' title '%s: frames lost'",
                    dir, file, s[i].name);
        k++;
    }
    if (k)
        fprintf(gp, "\n");
    else
        brGpNoData(gp);
}

static void brMdCurves(FILE *md, const brCurve *c, int n, const char *extraCol, char (*extra)[32])
{
    fprintf(md, "| series | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | runs |%s\n",
            extraCol ? extraCol : "");
    fprintf(md, "|--------|-------:|-------:|-------:|---------:|-------:|-----:|%s\n",
            extraCol ? "---:|" : "");
    for (int i = 0; i < n; i++) {
        fprintf(md, "| %s |", c[i].name);
        for (int p = 0; p < BR_PCTS; p++) {
            double v = brMedian(&c[i], p);
            if (isnan(v))
                fprintf(md, " – |");
            else
                fprintf(md, " %.2f |", v / 1000.0);
        }
        fprintf(md, " %d |", c[i].n[0]);
        if (extraCol)
            fprintf(md, " %s |", extra[i]);
        fprintf(md, "\n");
    }
}

static void brMdNoData(FILE *md, const char *what)
{
    fprintf(md, "_No %s in the input._\n", what);
}

static void brMdSummary(FILE *md, const json_t *s)
{
    if (!s)
        return;
    const json_t *tp = json_object_get(s, "throughput");
    const json_t *tg = json_object_get(s, "targets");
    fprintf(md, "\nbench_dataplane.sh summary: memory `%s`, target rate %.0f/s",
            json_string_value(json_object_get(s, "memory")) ?: "?", brNum(s, "target_rate"));
    if (json_is_object(tp))
        fprintf(md, ", xchgd max sustained %.0f orders/s (first failing rate %.0f, as `%s`)",
                brNum(tp, "max_sustained_orders_per_s"), brNum(tp, "first_failing_rate"),
                json_string_value(json_object_get(tp, "failed_as")) ?: "?");
    fprintf(md, ".\n");
    if (json_is_object(tg)) {
        const char *k;
        const json_t *v;
        fprintf(md, "\n| target | met |\n|--------|-----|\n");
        json_object_foreach((json_t *)tg, k, v)
        {
            fprintf(md, "| %s | %s |\n", k,
                    json_is_true(v)    ? "yes"
                    : json_is_false(v) ? "no"
                                       : "not measured");
        }
    }
}

static void brMdJournal(FILE *md, const brData *d)
{
    if (!d->nJn)
        brMdNoData(md, "bench_journal commit_latency lines");
    for (int i = 0; i < d->nJn; i++) {
        fprintf(md, "%s%s:", i ? "; " : "\n", d->jn[i].name);
        for (int j = 0; j < d->jn[i].n; j++)
            fprintf(md, " batch %.0f %.1f µs%s", d->jn[i].x[j], d->jn[i].y[j],
                    j + 1 < d->jn[i].n ? "," : "");
    }
    fprintf(md, "\n");
    size_t n = json_array_size(d->jnThroughput);
    if (n) {
        fprintf(md, "\n| sync | payload | MB/s | raw io_uring MB/s | ratio | records/commit |\n"
                    "|------|--------:|-----:|------------------:|------:|---------------:|\n");
        for (size_t i = 0; i < n; i++) {
            const json_t *o = json_array_get(d->jnThroughput, i);
            fprintf(md, "| %s | %.0f | %.1f | %.1f | %.3f | %.1f |\n",
                    json_string_value(json_object_get(o, "sync")) ?: "?", brNum(o, "payload"),
                    brNum(o, "mb_per_s"), brNum(o, "raw_mb_per_s"), brNum(o, "ratio"),
                    brNum(o, "records_per_commit"));
        }
    }
}

static int brWrite(brData *d, const char *dir, int plots)
{
    FILE *gp = brOpen(dir, "report.gp", "w");
    FILE *md = brOpen(dir, "report.md", "w");
    if (!gp || !md) {
        if (gp)
            fclose(gp);
        if (md)
            fclose(md);
        return -1;
    }
    fprintf(gp,
            "# report.gp -- written by xchg-bench-report; gnuplot report.gp\nset encoding utf8\n");
    brGpCurves(gp, dir, "lat", d->lat, d->nLat, "latency.svg",
               "Order round trip: xchgd and its baselines (client-timed, median of repeats)");
    brGpCurves(gp, dir, "inbox", d->inbox, d->nInbox, "inbox.svg",
               "In-box latency: rx burst to tx hand-over");
    brGpHeader(gp, dir, "throughput.svg", "Throughput: achieved against offered rate");
    fprintf(gp, "set xlabel 'offered (per second)'\nset ylabel 'achieved (per second)'\n"
                "set format x '%%.0s%%c'\nset format y '%%.0s%%c'\n");
    brGpSeries(gp, dir, "tp", d->tp, d->nTp, 1, 0);
    fprintf(gp, "set format x\nset format y\n");
    brGpHeader(gp, dir, "journal.svg", "Journal group commit latency against raw io_uring writes");
    fprintf(gp, "set logscale xy\nset xlabel 'records per commit (batch)'\n"
                "set ylabel 'microseconds'\n");
    fprintf(gp,
            "set terminal svg size 1100,640 dynamic noenhanced font 'sans,12'\n"
            "set output '%s/journal.svg'\n",
            dir);
    brGpSeries(gp, dir, "jn", d->jn, d->nJn, 0, 3);
    brGpCurves(gp, dir, "match", d->match, d->nMatch, "matcher.svg",
               "Matcher: latency per operation by workload");
    fclose(gp);

    fprintf(md, "# xchg benchmark report\n\n");
    fprintf(md,
            "Input: %ld line(s), %ld used, %ld not JSON, %ld of a kind this report does "
            "not know. Each plot is an SVG next to this file; the numbers behind it are "
            "in the .dat files and below. Conditions: see docs/perf/.\n",
            d->lines, d->used, d->notJson, d->unknown);
    fprintf(md, "\n## Round-trip latency: xchgd and its baselines\n\n![latency](latency.svg)\n\n");
    if (d->nLat)
        brMdCurves(md, d->lat, d->nLat, NULL, NULL);
    else
        brMdNoData(md, "bench_dataplane.sh latency lines");
    brMdSummary(md, d->summary);
    fprintf(md, "\n## In-box latency\n\n![in-box latency](inbox.svg)\n\n");
    if (d->nInbox)
        brMdCurves(md, d->inbox, d->nInbox, NULL, NULL);
    else
        brMdNoData(md, "in-box latency");
    fprintf(md, "\n## Throughput against offered load\n\n![throughput](throughput.svg)\n\n");
    if (!d->nTp)
        brMdNoData(md, "bench_dataplane.sh throughput lines");
    for (int i = 0; i < d->nTp; i++) {
        fprintf(md, "%s:", d->tp[i].name);
        for (int j = 0; j < d->tp[i].n; j++)
            fprintf(md, " %.0f → %.0f%s%s", d->tp[i].x[j], d->tp[i].y[j],
                    d->tp[i].flag[j] ? " (lost)" : "", j + 1 < d->tp[i].n ? "," : "");
        fprintf(md, "\n\n");
    }
    fprintf(md, "\n## Journal commit latency\n\n![journal](journal.svg)\n");
    brMdJournal(md, d);
    fprintf(md, "\n## Matcher\n\n![matcher](matcher.svg)\n\n");
    if (d->nMatch)
        brMdCurves(md, d->match, d->nMatch, " ops/s |", (char(*)[32])d->matchOps);
    else
        brMdNoData(md, "bench_matcher lines");
    fprintf(md, "\n## Logging: cost of a call to the thread that makes it\n\n");
    size_t nl = json_array_size(d->logCalls);
    if (!nl)
        brMdNoData(md, "bench_log lines");
    else
        fprintf(md, "| call | p50 ns | p99 ns | p99.9 ns | dropped |\n"
                    "|------|-------:|-------:|---------:|--------:|\n");
    for (size_t i = 0; i < nl; i++) {
        const json_t *o = json_array_get(d->logCalls, i);
        fprintf(md, "| %s | %.1f | %.1f | %.1f | %.0f |\n",
                json_string_value(json_object_get(o, "call")) ?: "?", brNum(o, "p50_ns"),
                brNum(o, "p99_ns"), brNum(o, "p999_ns"), brNum(o, "dropped"));
    }
    fclose(md);
    if (!plots)
        return 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gnuplot '%s/report.gp'", dir);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr,
                "xchg-bench-report: gnuplot failed (status %d); is gnuplot-nox installed?\n", rc);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"no-plots", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = "build/bench/report";
    int plots = 1, c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'n':
            plots = 0;
            break;
        case 'h':
            printf("usage: xchg-bench-report [-o DIR] [--no-plots] FILE...\n");
            return 0;
        default:
            fprintf(stderr, "usage: xchg-bench-report [-o DIR] [--no-plots] FILE...\n");
            return 2;
        }
    }
    if (strchr(dir, '\'')) {
        fprintf(stderr, "xchg-bench-report: the output directory may not contain a quote\n");
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "xchg-bench-report: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    static brData d;
    int rc = 0;
    if (optind == argc)
        rc |= brReadFile(&d, "-");
    for (int i = optind; i < argc; i++)
        rc |= brReadFile(&d, argv[i]);
    if (brWrite(&d, dir, plots) != 0)
        rc = -1;
    printf("xchg-bench-report: %s/report.md: %ld lines, %ld used, %ld not JSON, %ld unknown; "
           "%d latency, %d in-box, %d throughput, %d journal, %d matcher series\n",
           dir, d.lines, d.used, d.notJson, d.unknown, d.nLat, d.nInbox, d.nTp, d.nJn, d.nMatch);
    json_decref(d.summary);
    json_decref(d.jnThroughput);
    json_decref(d.logCalls);
    return rc ? 1 : 0;
}
