/* config.c -- xchgd configuration loader: libconfig parsing plus validation.
 *
 * The file is read into memory once, scanned for integer literals that
 * libconfig 1.5 would silently wrap (it stores "5000000000" as a 32-bit int),
 * then parsed with config_read_string. Every section is then walked with a
 * list of the keys it knows, so a misspelt key is an error rather than a
 * silently applied default. The first error found is reported as
 * "file:line: key.path: reason" and nothing is kept. No floating point. */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

#define CFG_FILE_MAX  (1u << 20) /* a config larger than 1 MiB is a mistake */
#define CFG_REQ       INT64_MIN  /* "no default": the key is required */
#define CFG_KEYPATH   256
#define CFG_MSG       512
#define CFG_PRICE_MAX ((int64_t)UINT32_MAX) /* ITCH prices: 4-decimal uint32 */

#define CFG_FMT(a, b) __attribute__((format(printf, a, b)))

static const int64_t cfgPow10[19] = {1,
                                     10,
                                     100,
                                     1000,
                                     10000,
                                     100000,
                                     1000000,
                                     10000000,
                                     100000000,
                                     1000000000,
                                     10000000000,
                                     100000000000,
                                     1000000000000,
                                     10000000000000,
                                     100000000000000,
                                     1000000000000000,
                                     10000000000000000,
                                     100000000000000000,
                                     1000000000000000000};

/* ==== decimal numbers ======================================================= */

/* Checks "digits[.digits]" and counts the fraction digits. 0 when well formed. */
static int cfgDecSyntax(const char *s, unsigned *fracDigits)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == s)
        return -1;
    *fracDigits = 0;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return -1;
        *fracDigits = (unsigned)(p - f);
    }
    return *p == '\0' ? 0 : -1;
}

int cfgParseDecimal(const char *s, unsigned decimals, int64_t max, int64_t *out)
{
    unsigned frac;
    if (s == NULL || decimals > 18 || max < 0)
        return CFG_DEC_SYNTAX;
    if (*s == '-')
        return cfgDecSyntax(s + 1, &frac) == 0 ? CFG_DEC_NEGATIVE : CFG_DEC_SYNTAX;
    if (cfgDecSyntax(s, &frac) != 0)
        return CFG_DEC_SYNTAX;
    if (frac > decimals)
        return CFG_DEC_DECIMALS;
    /* Integer part first, bounded so that ip * 10^decimals <= max. */
    int64_t ipMax = max / cfgPow10[decimals], ip = 0, fp = 0;
    const char *p = s;
    for (; *p != '.' && *p != '\0'; p++) {
        int d = *p - '0';
        if (ip > (ipMax - d) / 10)
            return CFG_DEC_RANGE;
        ip = ip * 10 + d;
    }
    if (*p == '.')
        for (p++; *p != '\0'; p++)
            fp = fp * 10 + (*p - '0'); /* < 10^18, no overflow */
    fp *= cfgPow10[decimals - frac];
    int64_t whole = ip * cfgPow10[decimals];
    if (fp > max - whole)
        return CFG_DEC_RANGE;
    *out = whole + fp;
    return CFG_DEC_OK;
}

int cfgParseRate(const char *s, uint32_t max, uint32_t *ppm)
{
    char buf[32];
    int64_t v;
    if (s == NULL)
        return CFG_DEC_SYNTAX;
    size_t n = strlen(s);
    int pct = n > 0 && s[n - 1] == '%';
    if (pct) {
        /* "12.5%" is 12.5 in units of 1e-4 percent, which are ppm. */
        if (n >= sizeof buf)
            return CFG_DEC_SYNTAX;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        s = buf;
    }
    int rc = cfgParseDecimal(s, pct ? 4 : 6, max, &v);
    if (rc != CFG_DEC_OK)
        return rc;
    *ppm = (uint32_t)v;
    return CFG_DEC_OK;
}

const char *cfgDecimalError(int status)
{
    switch (status) {
    case CFG_DEC_OK:
        return "ok";
    case CFG_DEC_NEGATIVE:
        return "must not be negative";
    case CFG_DEC_DECIMALS:
        return "too many decimals";
    case CFG_DEC_RANGE:
        return "too large";
    default:
        return "not a decimal number (digits with an optional .fraction)";
    }
}

int cfgFormatDecimal(int64_t value, unsigned scale, unsigned decimals, char *buf, size_t len)
{
    char frac[20];
    if (scale > 18)
        scale = 18;
    if (decimals > scale)
        decimals = scale;
    /* Magnitude as unsigned so INT64_MIN is fine. */
    uint64_t mag = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    uint64_t unit = (uint64_t)cfgPow10[scale];
    snprintf(frac, sizeof frac, "%0*llu", (int)scale, (unsigned long long)(mag % unit));
    unsigned shown = scale;
    while (shown > decimals && frac[shown - 1] == '0')
        shown--;
    return snprintf(buf, len, "%s%llu%s%.*s", value < 0 ? "-" : "",
                    (unsigned long long)(mag / unit), shown ? "." : "", (int)shown, frac);
}

int cfgFormatPrice(const cfgInstrument *ins, int64_t ticks, char *buf, size_t len)
{
    int64_t t = ins->tickSize;
    if (t <= 0 || ticks > INT64_MAX / t || ticks < -(INT64_MAX / t))
        return snprintf(buf, len, "(overflow)");
    return cfgFormatDecimal(ticks * t, 4, ins->priceDecimals, buf, len);
}

/* ==== price helpers ========================================================= */

int cfgPriceToTicks(int64_t price, int64_t tickSize, int64_t *ticks)
{
    if (tickSize <= 0 || price % tickSize != 0)
        return -1;
    *ticks = price / tickSize;
    return 0;
}

int cfgLimitBand(int64_t preSettlement, int64_t tickSize, uint32_t limitUp, uint32_t limitDown,
                 int64_t *lowerTicks, int64_t *upperTicks)
{
    if (preSettlement <= 0 || tickSize <= 0 || limitDown > CFG_PPM)
        return -1;
    int64_t upMul = (int64_t)CFG_PPM + limitUp, downMul = (int64_t)CFG_PPM - limitDown;
    if (preSettlement > INT64_MAX / upMul || tickSize > INT64_MAX / CFG_PPM)
        return -1;
    int64_t den = tickSize * CFG_PPM;
    int64_t upper = preSettlement * upMul / den; /* positive: division floors */
    int64_t lowNum = preSettlement * downMul;
    int64_t lower = lowNum / den + (lowNum % den != 0); /* ceiling */
    if (lower < 1)
        lower = 1; /* the matcher's band starts at one tick */
    if (upper < lower)
        return -1; /* only possible with an off-tick price below a few ticks */
    *lowerTicks = lower;
    *upperTicks = upper;
    return 0;
}

/* ==== names ================================================================= */

static const char *const cfgStpNames[] = {"none", "cancel_resting", "cancel_incoming",
                                          "cancel_both", NULL};
static const char *const cfgCloseNames[] = {"yesterday_first", "today_first", "split", NULL};
static const char *const cfgDurabilityNames[] = {"sync", "async", NULL};

const char *cfgStpName(mtStpPolicy stp)
{
    return (unsigned)stp < 4 ? cfgStpNames[stp] : "?";
}

const char *cfgCloseRuleName(cfgCloseRule rule)
{
    return (unsigned)rule < 3 ? cfgCloseNames[rule] : "?";
}

const char *cfgDurabilityName(cfgDurability d)
{
    return (unsigned)d < 2 ? cfgDurabilityNames[d] : "?";
}

/* ==== error reporting ======================================================= */

typedef struct {
    const char *file; /* for messages */
    char *err;
    size_t errlen;
} cfgCtx;

/* Appends s's libconfig path ("instruments.[1].margin_rate") to buf. */
static void cfgKeyPath(const config_setting_t *s, char *buf, size_t len)
{
    const config_setting_t *parent = config_setting_parent(s);
    if (parent == NULL) {
        buf[0] = '\0';
        return;
    }
    cfgKeyPath(parent, buf, len);
    size_t n = strlen(buf);
    const char *dot = n ? "." : "";
    if (config_setting_name(s) != NULL)
        snprintf(buf + n, len - n, "%s%s", dot, config_setting_name(s));
    else
        snprintf(buf + n, len - n, "%s[%d]", dot, config_setting_index(s));
}

static void cfgVErr(cfgCtx *c, const config_setting_t *s, const char *child, const char *fmt,
                    va_list ap)
{
    char key[CFG_KEYPATH] = "", msg[CFG_MSG];
    if (s != NULL)
        cfgKeyPath(s, key, sizeof key);
    if (child != NULL) {
        size_t n = strlen(key);
        snprintf(key + n, sizeof key - n, "%s%s", n ? "." : "", child);
    }
    vsnprintf(msg, sizeof msg, fmt, ap);
    int line = s != NULL ? config_setting_source_line(s) : 0;
    if (c->errlen == 0)
        return;
    if (line > 0)
        snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->file, line, key, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s: %s", c->file, key, msg);
}

/* Reports an error about setting s, or about its missing member `child` when
 * child is not NULL. */
CFG_FMT(4, 5)
static void cfgReport(cfgCtx *c, const config_setting_t *s, const char *child, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfgVErr(c, s, child, fmt, ap);
    va_end(ap);
}

/* Member `key` of group g, or NULL; g itself may be NULL (absent section). */
static const config_setting_t *cfgGet(const config_setting_t *g, const char *key)
{
    return g != NULL ? config_setting_get_member(g, key) : NULL;
}

/* Reports an error about member `key` of g: at the member when it is there
 * (its line), else at g (a value that came from a default). Returns -1. */
CFG_FMT(4, 5)
static void cfgReportKey(cfgCtx *c, const config_setting_t *g, const char *key, const char *fmt,
                         ...)
{
    va_list ap;
    const config_setting_t *m = cfgGet(g, key);
    va_start(ap, fmt);
    cfgVErr(c, m != NULL ? m : g, m != NULL ? NULL : key, fmt, ap);
    va_end(ap);
}

/* The reporters as expressions worth -1, so `return cfgErr(...)` both reports
 * and fails, and the compiler can see that a failed getter set nothing. */
#define cfgErr(...)     (cfgReport(__VA_ARGS__), -1)
#define cfgErrKey(...)  (cfgReportKey(__VA_ARGS__), -1)
#define cfgErrFile(...) (cfgReportFile(__VA_ARGS__), -1)

/* An error that belongs to the file rather than to a setting. */
CFG_FMT(3, 4)
static void cfgReportFile(cfgCtx *c, int line, const char *fmt, ...)
{
    char msg[CFG_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->errlen == 0)
        return;
    if (line > 0)
        snprintf(c->err, c->errlen, "%s:%d: %s", c->file, line, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
}

static const char *cfgTypeName(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

/* ==== integer literal pre-scan ============================================== */

/* libconfig 1.5 converts integer literals with atoi/strtoul and keeps 32
 * bits without a word (64 bits with an L suffix), so "5000000000" would load
 * as 705032704. This scanner finds such literals before libconfig runs; it
 * also refuses @include so that one file is the whole configuration. */
typedef struct {
    const char *p, *end;
    int line;
    int badLine;  /* line of the first problem, 0 = none */
    int include;  /* the problem is an @include */
    char lit[32]; /* the offending literal */
} cfgScan;

static void cfgScanComment(cfgScan *s)
{
    if (s->p[0] == '#' || s->p[1] == '/') {
        while (s->p < s->end && *s->p != '\n')
            s->p++;
        return;
    }
    for (s->p += 2; s->p < s->end; s->p++) {
        if (*s->p == '\n')
            s->line++;
        if (*s->p == '*' && s->p + 1 < s->end && s->p[1] == '/') {
            s->p += 2;
            return;
        }
    }
}

static void cfgScanString(cfgScan *s)
{
    for (s->p++; s->p < s->end && *s->p != '"'; s->p++) {
        if (*s->p == '\\' && s->p + 1 < s->end)
            s->p++;
        if (*s->p == '\n')
            s->line++;
    }
    if (s->p < s->end)
        s->p++;
}

static int cfgIsWordChar(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '_' || ch == '.';
}

/* Value of an integer literal's digits; -1 if it is not one or overflows
 * uint64 (both cases are then reported as too large or left to libconfig). */
static int cfgLiteralValue(const char *d, size_t n, int hex, uint64_t *v)
{
    unsigned base = hex ? 16 : 10;
    *v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = d[i];
        unsigned dig;
        if (ch >= '0' && ch <= '9')
            dig = (unsigned)(ch - '0');
        else if (hex && ch >= 'a' && ch <= 'f')
            dig = (unsigned)(ch - 'a' + 10);
        else if (hex && ch >= 'A' && ch <= 'F')
            dig = (unsigned)(ch - 'A' + 10);
        else
            return -1;
        if (*v > (UINT64_MAX - dig) / base) {
            *v = UINT64_MAX; /* certainly out of range */
            return 0;
        }
        *v = *v * base + dig;
    }
    return 0;
}

/* Checks one number token [tok, tok+n): 0 if fine or not an integer. */
static int cfgCheckLiteral(const char *tok, size_t n)
{
    int neg = tok[0] == '-', hex;
    size_t i = (tok[0] == '-' || tok[0] == '+') ? 1 : 0, ln = 0;
    hex = n >= i + 2 && tok[i] == '0' && (tok[i + 1] == 'x' || tok[i + 1] == 'X');
    if (hex)
        i += 2;
    while (ln < 2 && n > i && (tok[n - 1] == 'L' || tok[n - 1] == 'l'))
        n--, ln++;
    uint64_t v;
    if (cfgLiteralValue(tok + i, n - i, hex, &v) != 0)
        return 0; /* a float, or garbage libconfig will reject */
    uint64_t lim = ln ? (uint64_t)INT64_MAX : (uint64_t)INT32_MAX;
    return v > lim + (uint64_t)(neg && !hex) ? -1 : 0;
}

/* Consumes a token that starts with a digit or a sign; records a bad one. */
static void cfgScanNumber(cfgScan *s)
{
    const char *tok = s->p++;
    while (s->p < s->end && (cfgIsWordChar(*s->p) || ((*s->p == '+' || *s->p == '-') &&
                                                      (s->p[-1] == 'e' || s->p[-1] == 'E'))))
        s->p++;
    size_t n = (size_t)(s->p - tok);
    if (cfgCheckLiteral(tok, n) != 0 && s->badLine == 0) {
        s->badLine = s->line;
        snprintf(s->lit, sizeof s->lit, "%.*s", (int)(n < 30 ? n : 30), tok);
    }
}

static int cfgIsNumberStart(const cfgScan *s)
{
    char ch = *s->p;
    if (ch >= '0' && ch <= '9')
        return 1;
    return (ch == '-' || ch == '+') && s->p + 1 < s->end && s->p[1] >= '0' && s->p[1] <= '9';
}

static void cfgScanText(cfgScan *s)
{
    while (s->p < s->end && s->badLine == 0) {
        char ch = *s->p;
        if (ch == '\n') {
            s->line++;
            s->p++;
        } else if (ch == '#' ||
                   (ch == '/' && s->p + 1 < s->end && (s->p[1] == '/' || s->p[1] == '*'))) {
            cfgScanComment(s);
        } else if (ch == '"') {
            cfgScanString(s);
        } else if (ch == '@') {
            s->badLine = s->line;
            s->include = 1;
        } else if (cfgIsNumberStart(s)) {
            cfgScanNumber(s);
        } else if (cfgIsWordChar(ch) || ch == '*' || ch == '-') {
            while (s->p < s->end && (cfgIsWordChar(*s->p) || *s->p == '*' || *s->p == '-'))
                s->p++; /* a setting name such as "limit_up" or "x2" */
        } else {
            s->p++;
        }
    }
}

/* First int/int64 setting defined on `line`, depth first, or NULL. */
static const config_setting_t *cfgIntOnLine(const config_setting_t *s, int line)
{
    int t = config_setting_type(s);
    if ((t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) &&
        (int)config_setting_source_line(s) == line)
        return s;
    if (!config_setting_is_aggregate(s))
        return NULL;
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *f = cfgIntOnLine(config_setting_get_elem(s, (unsigned)i), line);
        if (f != NULL)
            return f;
    }
    return NULL;
}

static int cfgReportScan(cfgCtx *c, const cfgScan *s, const config_t *lc)
{
    if (s->include)
        return cfgErrFile(c, s->badLine,
                          "@include is not supported: keep the whole "
                          "configuration in one file");
    const config_setting_t *at = cfgIntOnLine(config_root_setting(lc), s->badLine);
    const char *why = "integer literal %s is out of range: libconfig keeps 32 bits "
                      "(64 with an L suffix) and would silently wrap it";
    if (at == NULL)
        return cfgErrFile(c, s->badLine, why, s->lit);
    return cfgErr(c, at, NULL, why, s->lit);
}

/* ==== reading the file ====================================================== */

/* Reads the whole file into a NUL-terminated malloc'd buffer (caller frees). */
static char *cfgReadText(cfgCtx *c, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cfgReportFile(c, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    errno = 0;
    size_t n = buf ? fread(buf, 1, CFG_FILE_MAX + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    const char *why = bad ? strerror(errno ? errno : EIO) : NULL;
    fclose(f);
    if (bad || n > CFG_FILE_MAX || memchr(buf, '\0', n) != NULL) {
        cfgReportFile(c, 0, "%s%s",
                      bad                ? "cannot read: "
                      : n > CFG_FILE_MAX ? "larger than 1 MiB"
                                         : "contains a NUL byte",
                      bad ? why : "");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parses the file into lc. Returns 0, or -1 with the error reported. */
static int cfgParseFile(cfgCtx *c, const char *path, config_t *lc)
{
    size_t len;
    char *text = cfgReadText(c, path, &len);
    if (text == NULL)
        return -1;
    cfgScan scan = {.p = text, .end = text + len, .line = 1};
    cfgScanText(&scan);
    int rc = 0;
    if (scan.include) {
        rc = cfgReportScan(c, &scan, lc);
    } else if (config_read_string(lc, text) != CONFIG_TRUE) {
        rc = cfgErrFile(c, config_error_line(lc), "%s", config_error_text(lc));
    } else if (scan.badLine != 0) {
        rc = cfgReportScan(c, &scan, lc);
    }
    free(text);
    return rc;
}

/* ==== typed getters ========================================================= */

/* Every getter: looks up `key` in group g; applies `def` when the key is
 * absent (CFG_REQ: required); checks type and range; returns 0 or -1 with the
 * error reported. */

static int cfgCheckKeys(cfgCtx *c, const config_setting_t *g, const char *const *known)
{
    for (int i = 0; g != NULL && i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        size_t k = 0;
        while (known[k] != NULL && strcmp(known[k], name) != 0)
            k++;
        if (known[k] != NULL)
            continue;
        char list[CFG_MSG] = "";
        for (k = 0; known[k] != NULL; k++) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s", k ? ", " : "", known[k]);
        }
        return cfgErr(c, m, NULL, "unknown key (known keys: %s)", list);
    }
    return 0;
}

static int cfgInt(cfgCtx *c, const config_setting_t *g, const char *key, int64_t def, int64_t min,
                  int64_t max, int64_t *out)
{
    const config_setting_t *s = cfgGet(g, key);
    if (s == NULL) {
        if (def == CFG_REQ)
            return cfgErr(c, g, key, "required key missing");
        *out = def;
        return 0;
    }
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return cfgErr(c, s, NULL, "must be an integer (got %s)", cfgTypeName(t));
    int64_t v = config_setting_get_int64(s);
    if (v < min || v > max)
        return cfgErr(c, s, NULL, "must be between %lld and %lld (got %lld)", (long long)min,
                      (long long)max, (long long)v);
    *out = v;
    return 0;
}

/* Checks a string value: not empty, at most max bytes, no control bytes. */
static int cfgCheckText(cfgCtx *c, const config_setting_t *s, const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0)
        return cfgErr(c, s, NULL, "must not be empty");
    if (n > max)
        return cfgErr(c, s, NULL, "longer than %zu bytes (got %zu)", max, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return cfgErr(c, s, NULL, "contains a control character");
    return 0;
}

/* Finds a string member; *v stays NULL when it is absent and optional. */
static int cfgStr(cfgCtx *c, const config_setting_t *g, const char *key, int required,
                  const config_setting_t **at, const char **v)
{
    const config_setting_t *s = cfgGet(g, key);
    *at = s;
    *v = NULL;
    if (s == NULL)
        return required ? cfgErr(c, g, key, "required key missing") : 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return cfgErr(c, s, NULL, "must be a string (got %s)", cfgTypeName(config_setting_type(s)));
    *v = config_setting_get_string(s);
    return 0;
}

/* A string copied into out (max bytes + NUL); def NULL = required. */
static int cfgText(cfgCtx *c, const config_setting_t *g, const char *key, const char *def,
                   size_t max, char *out)
{
    const config_setting_t *s;
    const char *v;
    if (cfgStr(c, g, key, def == NULL, &s, &v) != 0)
        return -1;
    if (v == NULL)
        v = def;
    else if (cfgCheckText(c, s, v, max) != 0)
        return -1;
    snprintf(out, max + 1, "%s", v);
    return 0;
}

/* One of names[] (NULL-terminated); *out is its index. def < 0 = required. */
static int cfgEnum(cfgCtx *c, const config_setting_t *g, const char *key, const char *const *names,
                   int def, int *out)
{
    const config_setting_t *s;
    const char *v;
    if (cfgStr(c, g, key, def < 0, &s, &v) != 0)
        return -1;
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char list[CFG_MSG] = "";
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], v) == 0) {
            *out = i;
            return 0;
        }
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    }
    return cfgErr(c, s, NULL, "must be one of %s (got \"%s\")", list, v);
}

/* The value of a decimal setting: a string, or an integer of whole units. */
static int cfgDecimalValue(cfgCtx *c, const config_setting_t *s, unsigned decimals, int64_t max,
                           int64_t *v)
{
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long whole = config_setting_get_int64(s);
        if (whole < 0)
            return cfgErr(c, s, NULL, "must not be negative (got %lld)", whole);
        if (whole > max / cfgPow10[decimals])
            return cfgErr(c, s, NULL, "%lld is too large", whole);
        *v = whole * cfgPow10[decimals];
        return 0;
    }
    if (t != CONFIG_TYPE_STRING)
        return cfgErr(c, s, NULL,
                      "must be a decimal string such as \"0.2\" or an integer (got %s%s)",
                      cfgTypeName(t), t == CONFIG_TYPE_FLOAT ? "; floats are not exact" : "");
    const char *str = config_setting_get_string(s);
    int rc = cfgParseDecimal(str, decimals, max, v);
    if (rc == CFG_DEC_DECIMALS)
        return cfgErr(c, s, NULL, "too many decimals in \"%s\" (at most %u)", str, decimals);
    if (rc == CFG_DEC_RANGE) {
        char hi[32];
        cfgFormatDecimal(max, decimals, 0, hi, sizeof hi);
        return cfgErr(c, s, NULL, "\"%s\" is too large (at most %s)", str, hi);
    }
    if (rc != CFG_DEC_OK)
        return cfgErr(c, s, NULL, "\"%s\": %s", str, cfgDecimalError(rc));
    return 0;
}

/* A decimal with `decimals` places in min..max (units of 10^-decimals). */
static int cfgDecimal(cfgCtx *c, const config_setting_t *g, const char *key, int64_t def,
                      unsigned decimals, int64_t min, int64_t max, int64_t *out)
{
    const config_setting_t *s = cfgGet(g, key);
    int64_t v;
    if (s == NULL) {
        if (def == CFG_REQ)
            return cfgErr(c, g, key, "required key missing");
        *out = def;
        return 0;
    }
    if (cfgDecimalValue(c, s, decimals, max, &v) != 0)
        return -1;
    if (v < min) {
        char lo[32], hi[32], got[32];
        cfgFormatDecimal(min, decimals, 0, lo, sizeof lo);
        cfgFormatDecimal(max, decimals, 0, hi, sizeof hi);
        cfgFormatDecimal(v, decimals, 0, got, sizeof got);
        return cfgErr(c, s, NULL, "must be between %s and %s (got %s)", lo, hi, got);
    }
    *out = v;
    return 0;
}

/* A rate string ("12%" or "0.12") in ppm, min..max. */
static int cfgRate(cfgCtx *c, const config_setting_t *g, const char *key, int64_t def, uint32_t min,
                   uint32_t max, uint32_t *out)
{
    const config_setting_t *s = cfgGet(g, key);
    const char *v;
    uint32_t ppm;
    int t = s != NULL ? config_setting_type(s) : CONFIG_TYPE_STRING;
    if (t != CONFIG_TYPE_STRING) /* an integer 12 could mean 12 or 12%: refuse */
        return cfgErr(c, s, NULL, "must be a string such as \"12%%\" or \"0.12\" (got %s%s)",
                      cfgTypeName(t), t == CONFIG_TYPE_FLOAT ? "; floats are not exact" : "");
    if (cfgStr(c, g, key, def == CFG_REQ, &s, &v) != 0)
        return -1;
    if (v == NULL) {
        *out = (uint32_t)def;
        return 0;
    }
    int rc = cfgParseRate(v, UINT32_MAX, &ppm);
    if (rc == CFG_DEC_DECIMALS)
        return cfgErr(c, s, NULL,
                      "too many decimals in \"%s\" (rates are in parts per million: at "
                      "most 6 decimals, or 4 before a %%)",
                      v);
    if (rc != CFG_DEC_OK)
        return cfgErr(c, s, NULL, "\"%s\": %s (write a rate as \"12%%\" or \"0.12\")", v,
                      cfgDecimalError(rc));
    if (ppm < min || ppm > max)
        return cfgErr(c, s, NULL, "must be between %u and %u ppm (got %u)", min, max, ppm);
    *out = ppm;
    return 0;
}

/* Parses "a.b.c.d" strictly (no leading zeros, no spaces); 0 on success. */
static int cfgParseIPv4(const char *s, uint32_t *out)
{
    uint32_t addr = 0;
    for (int part = 0; part < 4; part++) {
        const char *start = s;
        unsigned v = 0;
        while (*s >= '0' && *s <= '9' && s - start < 3)
            v = v * 10 + (unsigned)(*s++ - '0');
        if (s == start || v > 255 || (start[0] == '0' && s - start > 1))
            return -1;
        if (*s != (part < 3 ? '.' : '\0'))
            return -1;
        if (part < 3)
            s++;
        addr = addr << 8 | v;
    }
    *out = addr;
    return 0;
}

static void cfgFormatIPv4(uint32_t a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ==== sections ============================================================== */

/* Finds a root section of the given type; *out NULL when absent and optional. */
static int cfgSection(cfgCtx *c, const config_setting_t *root, const char *key, int type,
                      int required, const config_setting_t **out)
{
    const config_setting_t *s = config_setting_get_member(root, key);
    *out = s;
    if (s == NULL)
        return required ? cfgErr(c, root, key, "required section missing") : 0;
    if (config_setting_type(s) != type)
        return cfgErr(c, s, NULL, "must be %s (got %s)",
                      type == CONFIG_TYPE_LIST ? "a list ( { ... }, ... )" : "a group { ... }",
                      cfgTypeName(config_setting_type(s)));
    return 0;
}

/* Checks a list section: 1..max elements, each a group; returns the count. */
static int cfgListGroups(cfgCtx *c, const config_setting_t *list, int max)
{
    int n = config_setting_length(list);
    if (n < 1)
        return cfgErr(c, list, NULL, "must have at least one entry");
    if (n > max)
        return cfgErr(c, list, NULL, "at most %d entries (got %d)", max, n);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return cfgErr(c, e, NULL, "must be a group { key = value; ... } (got %s)",
                          cfgTypeName(config_setting_type(e)));
    }
    return n;
}

/* ---- lcores ---- */

static const char *const cfgLcoreKeys[] = {"control", "storage", NULL};

static int cfgParseLcores(cfgCtx *c, const config_setting_t *root, cfgLcores *l)
{
    const config_setting_t *g;
    int64_t control = 0, storage;
    if (cfgSection(c, root, "lcores", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    /* storage defaults to the control lcore: the two-core layout of §11 */
    if (cfgCheckKeys(c, g, cfgLcoreKeys) != 0 ||
        cfgInt(c, g, "control", 0, 0, CFG_MAX_LCORE, &control) != 0 ||
        cfgInt(c, g, "storage", control, 0, CFG_MAX_LCORE, &storage) != 0)
        return -1;
    l->control = (uint16_t)control;
    l->storage = (uint16_t)storage;
    return 0;
}

/* ---- segments ---- */

static const char *const cfgSegmentKeys[] = {"id",
                                             "lcore",
                                             "cpu",
                                             "order_port",
                                             "feed_group",
                                             "feed_port",
                                             "feed_retransmit_port",
                                             "feed_history",
                                             "feed_heartbeat_ms",
                                             "order_capacity",
                                             "instrument_capacity",
                                             "stp",
                                             NULL};

static int cfgFeedGroup(cfgCtx *c, const config_setting_t *g, uint32_t *out)
{
    const config_setting_t *s;
    const char *v;
    if (cfgStr(c, g, "feed_group", 1, &s, &v) != 0)
        return -1;
    if (cfgParseIPv4(v, out) != 0)
        return cfgErr(c, s, NULL, "\"%s\" is not an IPv4 address", v);
    if ((*out >> 24) != 239)
        return cfgErr(c, s, NULL, "%s is not in 239.0.0.0/8 (administratively scoped multicast)",
                      v);
    return 0;
}

static int cfgParseSegment(cfgCtx *c, const config_setting_t *g, cfgSegment *seg)
{
    int64_t id, lcore, cpu, orderPort, feedPort, retrans, history, heartbeat, cap, insCap;
    int stp;
    if (cfgCheckKeys(c, g, cfgSegmentKeys) != 0 || cfgInt(c, g, "id", CFG_REQ, 0, 255, &id) != 0 ||
        cfgInt(c, g, "lcore", CFG_REQ, 0, CFG_MAX_LCORE, &lcore) != 0 ||
        cfgInt(c, g, "cpu", lcore, 0, CFG_MAX_LCORE, &cpu) != 0 ||
        cfgInt(c, g, "order_port", CFG_REQ, 1, 65535, &orderPort) != 0 ||
        cfgFeedGroup(c, g, &seg->feedGroup) != 0 ||
        cfgInt(c, g, "feed_port", CFG_REQ, 1, 65535, &feedPort) != 0 ||
        cfgInt(c, g, "feed_retransmit_port", feedPort, 1, 65535, &retrans) != 0 ||
        cfgInt(c, g, "feed_history", 65536, 0, 1 << 24, &history) != 0 ||
        cfgInt(c, g, "feed_heartbeat_ms", 1000, 10, 60000, &heartbeat) != 0 ||
        cfgInt(c, g, "order_capacity", 1 << 20, 1, 1 << 26, &cap) != 0 ||
        cfgInt(c, g, "instrument_capacity", 0, 1, CFG_MAX_INSTRUMENTS, &insCap) != 0 ||
        cfgEnum(c, g, "stp", cfgStpNames, MT_STP_CANCEL_INCOMING, &stp) != 0)
        return -1;
    seg->id = (uint8_t)id;
    seg->lcore = (uint16_t)lcore;
    seg->cpu = (uint16_t)cpu;
    seg->orderPort = (uint16_t)orderPort;
    seg->feedPort = (uint16_t)feedPort;
    if (history & (history - 1))
        return cfgErrKey(c, g, "feed_history", "must be 0 or a power of two (got %lld)",
                         (long long)history);
    seg->retransPort = (uint16_t)retrans;
    seg->feedHistory = (uint32_t)history;
    seg->feedHeartbeatMs = (uint32_t)heartbeat;
    seg->orderCapacity = (uint32_t)cap;
    seg->instrumentCapacity = (uint16_t)insCap; /* 0: the count, once known */
    seg->stp = (mtStpPolicy)stp;
    return 0;
}

/* Names the first earlier segment j < i for which same(j, i) holds, or -1. */
typedef int cfgSameFn(const cfgSegment *a, const cfgSegment *b);
static int cfgSameId(const cfgSegment *a, const cfgSegment *b)
{
    return a->id == b->id;
}
static int cfgSameLcore(const cfgSegment *a, const cfgSegment *b)
{
    return a->lcore == b->lcore;
}
static int cfgSamePort(const cfgSegment *a, const cfgSegment *b)
{
    return a->orderPort == b->orderPort;
}
static int cfgSameGroup(const cfgSegment *a, const cfgSegment *b)
{
    return a->feedGroup == b->feedGroup;
}
static int cfgSameRetrans(const cfgSegment *a, const cfgSegment *b)
{
    return a->retransPort == b->retransPort;
}
/* Either segment's retransmission port is the other's order-entry port. */
static int cfgRetransIsOrder(const cfgSegment *a, const cfgSegment *b)
{
    return a->retransPort == b->orderPort || b->retransPort == a->orderPort;
}

static int cfgFindEarlier(const cfgSegment *segs, int i, cfgSameFn *same)
{
    for (int j = 0; j < i; j++)
        if (same(&segs[j], &segs[i]))
            return j;
    return -1;
}

/* Segment i against the earlier ones and the control/storage lcores. */
static int cfgCheckSegment(cfgCtx *c, const config_setting_t *list, const cfgConfig *cfg, int i)
{
    const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
    const cfgSegment *s = &cfg->segments[i];
    static const struct {
        const char *key, *what;
        cfgSameFn *same;
    } rules[] = {
        {"id", "segment id", cfgSameId},
        {"lcore", "lcore", cfgSameLcore},
        {"order_port", "order-entry UDP port", cfgSamePort},
        {"feed_group", "feed multicast group", cfgSameGroup},
        {"feed_retransmit_port", "retransmission UDP port", cfgSameRetrans},
        {"feed_retransmit_port", "UDP port (order entry and retransmission)", cfgRetransIsOrder}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        int j = cfgFindEarlier(cfg->segments, i, rules[r].same);
        if (j >= 0)
            return cfgErrKey(c, g, rules[r].key, "%s already used by segments.[%d]", rules[r].what,
                             j);
    }
    if (s->retransPort == s->orderPort)
        return cfgErrKey(c, g, "feed_retransmit_port",
                         "%u is also the order-entry port (default: feed_port)", s->retransPort);
    if (s->lcore == cfg->lcores.control)
        return cfgErrKey(c, g, "lcore",
                         "lcore %u is the control lcore; workers need their own core", s->lcore);
    if (s->lcore == cfg->lcores.storage)
        return cfgErrKey(c, g, "lcore", "lcore %u is the storage lcore; workers never share a core",
                         s->lcore);
    return 0;
}

static int cfgParseSegments(cfgCtx *c, const config_setting_t *root, cfgConfig *cfg)
{
    const config_setting_t *list;
    if (cfgSection(c, root, "segments", CONFIG_TYPE_LIST, 1, &list) != 0)
        return -1;
    int n = cfgListGroups(c, list, CFG_MAX_SEGMENTS);
    if (n < 0)
        return -1;
    cfg->segments = calloc((size_t)n, sizeof *cfg->segments);
    if (cfg->segments == NULL)
        return cfgErrFile(c, 0, "out of memory");
    cfg->segmentCount = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        if (cfgParseSegment(c, g, &cfg->segments[i]) != 0 || cfgCheckSegment(c, list, cfg, i) != 0)
            return -1;
    }
    return 0;
}

/* ---- ports ---- */

static const char *const cfgPortKeys[] = {"name", "devargs", "address", NULL};

static int cfgPortName(cfgCtx *c, const config_setting_t *g, char *out)
{
    if (cfgText(c, g, "name", NULL, CFG_PORT_NAME_MAX, out) != 0)
        return -1;
    for (const char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return cfgErrKey(c, g, "name", "\"%s\": use lower-case letters, digits and _", out);
    return 0;
}

static int cfgPortDevargs(cfgCtx *c, const config_setting_t *g, char *out)
{
    if (cfgText(c, g, "devargs", NULL, CFG_DEVARGS_MAX, out) != 0)
        return -1;
    if (out[0] == ',' || strchr(out, ' ') != NULL)
        return cfgErrKey(c, g, "devargs",
                         "\"%s\" is not a DPDK device string (name[,key=value...], no spaces)",
                         out);
    return 0;
}

/* A usable host address: not 0/8, loopback, multicast, reserved, nor the
 * network or broadcast address of its prefix. */
static const char *cfgHostAddressProblem(uint32_t a, unsigned prefix)
{
    uint32_t host = prefix >= 32 ? 0 : (UINT32_MAX >> prefix);
    if ((a >> 24) == 0 || (a >> 24) == 127)
        return "not a host address (0.0.0.0/8 or loopback)";
    if ((a >> 28) >= 14)
        return "a multicast or reserved address";
    if (prefix <= 30 && ((a & host) == 0 || (a & host) == host))
        return "the network or broadcast address of its prefix";
    return NULL;
}

static int cfgPortAddress(cfgCtx *c, const config_setting_t *g, cfgPort *p)
{
    const config_setting_t *s;
    const char *v;
    char ip[16];
    if (cfgStr(c, g, "address", 1, &s, &v) != 0)
        return -1;
    const char *slash = strchr(v, '/');
    unsigned prefix = 0;
    int ok = slash != NULL && slash - v < (int)sizeof ip && slash[1] != '\0' && slash[1] != '0';
    for (const char *q = ok ? slash + 1 : ""; *q && ok; q++)
        ok = *q >= '0' && *q <= '9' && (prefix = prefix * 10 + (unsigned)(*q - '0')) <= 32;
    if (ok) {
        snprintf(ip, sizeof ip, "%.*s", (int)(slash - v), v);
        ok = cfgParseIPv4(ip, &p->address) == 0;
    }
    if (!ok)
        return cfgErr(c, s, NULL, "\"%s\" is not an IPv4 address with a prefix (a.b.c.d/1..32)", v);
    const char *why = cfgHostAddressProblem(p->address, prefix);
    if (why != NULL)
        return cfgErr(c, s, NULL, "%s is %s", v, why);
    p->prefixLen = (uint8_t)prefix;
    return 0;
}

/* Length of the device name: devargs up to the first comma. */
static size_t cfgDeviceLen(const char *devargs)
{
    return strcspn(devargs, ",");
}

static int cfgCheckPort(cfgCtx *c, const config_setting_t *g, const cfgPort *ports, int i)
{
    const cfgPort *p = &ports[i];
    size_t dl = cfgDeviceLen(p->devargs);
    char ip[16];
    cfgFormatIPv4(p->address, ip, sizeof ip);
    for (int j = 0; j < i; j++) {
        const cfgPort *q = &ports[j];
        if (strcmp(p->name, q->name) == 0)
            return cfgErrKey(c, g, "name", "port name \"%s\" already used by ports.[%d]", p->name,
                             j);
        if (dl == cfgDeviceLen(q->devargs) && memcmp(p->devargs, q->devargs, dl) == 0)
            return cfgErrKey(c, g, "devargs", "device \"%.*s\" already used by ports.[%d]", (int)dl,
                             p->devargs, j);
        if (p->address == q->address)
            return cfgErrKey(c, g, "address", "address %s already used by ports.[%d]", ip, j);
    }
    return 0;
}

static int cfgParsePorts(cfgCtx *c, const config_setting_t *root, cfgConfig *cfg)
{
    const config_setting_t *list;
    if (cfgSection(c, root, "ports", CONFIG_TYPE_LIST, 1, &list) != 0)
        return -1;
    int n = cfgListGroups(c, list, CFG_MAX_PORTS);
    if (n < 0)
        return -1;
    cfg->ports = calloc((size_t)n, sizeof *cfg->ports);
    if (cfg->ports == NULL)
        return cfgErrFile(c, 0, "out of memory");
    cfg->portCount = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        cfgPort *p = &cfg->ports[i];
        if (cfgCheckKeys(c, g, cfgPortKeys) != 0 || cfgPortName(c, g, p->name) != 0 ||
            cfgPortDevargs(c, g, p->devargs) != 0 || cfgPortAddress(c, g, p) != 0 ||
            cfgCheckPort(c, g, cfg->ports, i) != 0)
            return -1;
    }
    return 0;
}

/* ---- storage ---- */

static const char *const cfgStorageKeys[] = {"data_dir",
                                             "wal_dir",
                                             "sst_dir",
                                             "wal_segment_size",
                                             "durability",
                                             "async_commit_us",
                                             "checkpoint_interval_s",
                                             "checkpoint_records",
                                             "checkpoints_kept",
                                             "segments_retained",
                                             "recover_from_checkpoint",
                                             NULL};

static int cfgBool(cfgCtx *c, const config_setting_t *g, const char *key, int def, int *out);

/* The checkpoint keys (docs/storage/checkpoint.md). */
static int cfgParseCheckpoints(cfgCtx *c, const config_setting_t *g, cfgStorage *st)
{
    int64_t interval, records, kept, retained;
    int prefer;
    if (cfgBool(c, g, "recover_from_checkpoint", 0, &prefer) != 0 ||
        cfgInt(c, g, "checkpoint_interval_s", 300, 0, 86400, &interval) != 0 ||
        cfgInt(c, g, "checkpoint_records", 0, 0, 1LL << 40, &records) != 0 ||
        cfgInt(c, g, "checkpoints_kept", 2, 1, 100, &kept) != 0 ||
        cfgInt(c, g, "segments_retained", -1, -1, 1000000, &retained) != 0)
        return -1;
    st->checkpointIntervalS = (uint32_t)interval;
    st->checkpointRecords = (uint64_t)records;
    st->checkpointsKept = (uint32_t)kept;
    st->segmentsRetained = (int32_t)retained;
    st->recoverFromCheckpoint = prefer;
    return 0;
}

/* "64M", "1G", "4096" or an integer, in bytes (K/M/G are powers of 1024). */
static int cfgSize(cfgCtx *c, const config_setting_t *g, const char *key, int64_t def, int64_t min,
                   int64_t max, uint64_t *out)
{
    const config_setting_t *s = cfgGet(g, key);
    int64_t v = def;
    if (s != NULL && config_setting_type(s) == CONFIG_TYPE_STRING) {
        char num[32];
        const char *str = config_setting_get_string(s);
        size_t n = strlen(str);
        const char *units = "KMG";
        const char *u = n > 0 ? strchr(units, str[n - 1]) : NULL;
        int shift = u != NULL && *u ? 10 * (int)(u - units + 1) : 0;
        snprintf(num, sizeof num, "%.*s", (int)(shift ? n - 1 : n), str);
        if (n >= sizeof num || cfgParseDecimal(num, 0, max >> shift, &v) != CFG_DEC_OK)
            return cfgErr(c, s, NULL,
                          "\"%s\" is not a size such as \"64M\" (K, M, G; at most %lld)", str,
                          (long long)max);
        v <<= shift;
    } else if (cfgInt(c, g, key, def, 0, max, &v) != 0) {
        return -1;
    }
    if (v < min || v % 4096 != 0)
        return cfgErr(c, s, NULL, "must be a multiple of 4096 between %lld and %lld (got %lld)",
                      (long long)min, (long long)max, (long long)v);
    *out = (uint64_t)v;
    return 0;
}

/* A directory: as written if absolute or if base is NULL, else base/dir. */
static int cfgDir(cfgCtx *c, const config_setting_t *g, const char *key, const char *def,
                  const char *base, char *out)
{
    char dir[CFG_PATH_MAX + 1];
    if (cfgText(c, g, key, def, CFG_PATH_MAX, dir) != 0)
        return -1;
    if (base == NULL || dir[0] == '/') {
        memcpy(out, dir, sizeof dir);
        return 0;
    }
    int n = snprintf(out, CFG_PATH_MAX + 1, "%s/%s", base, dir);
    if (n > CFG_PATH_MAX)
        return cfgErr(c, cfgGet(g, key), NULL, "%s/%s is longer than %d bytes", base, dir,
                      CFG_PATH_MAX);
    return 0;
}

static int cfgParseStorage(cfgCtx *c, const config_setting_t *root, cfgStorage *st)
{
    const config_setting_t *g;
    int durability;
    int64_t commitUs;
    if (cfgSection(c, root, "storage", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    if (cfgCheckKeys(c, g, cfgStorageKeys) != 0 ||
        cfgDir(c, g, "data_dir", "./data", NULL, st->dataDir) != 0 ||
        cfgDir(c, g, "wal_dir", "wal", st->dataDir, st->walDir) != 0 ||
        cfgDir(c, g, "sst_dir", "sst", st->dataDir, st->sstDir) != 0 ||
        cfgSize(c, g, "wal_segment_size", 64 << 20, 1 << 20, 16LL << 30, &st->walSegmentSize) !=
            0 ||
        cfgEnum(c, g, "durability", cfgDurabilityNames, CFG_DURABILITY_SYNC, &durability) != 0 ||
        cfgInt(c, g, "async_commit_us", 1000, 0, 1000000, &commitUs) != 0 ||
        cfgParseCheckpoints(c, g, st) != 0)
        return -1;
    if (strcmp(st->walDir, st->sstDir) == 0)
        return cfgErrKey(c, g, "sst_dir", "%s is also the WAL directory", st->sstDir);
    st->durability = (cfgDurability)durability;
    st->asyncCommitUs = (uint32_t)commitUs;
    return 0;
}

/* ---- risk ---- */

static const char *const cfgRiskKeys[] = {"reject_risk_ratio",     "liquidation_ratio",
                                          "concentration_share",   "max_order_notional",
                                          "throttle_msgs_per_sec", NULL};

static int cfgParseRisk(cfgCtx *c, const config_setting_t *root, cfgRisk *r)
{
    const config_setting_t *g;
    int64_t throttle;
    if (cfgSection(c, root, "risk", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    /* Risk ratios above 100% are meaningful (margin exceeds equity), up to 10x. */
    if (cfgCheckKeys(c, g, cfgRiskKeys) != 0 ||
        cfgRate(c, g, "reject_risk_ratio", 950000, 1, 10 * CFG_PPM, &r->rejectRatio) != 0 ||
        cfgRate(c, g, "liquidation_ratio", CFG_PPM, 1, 10 * CFG_PPM, &r->liquidationRatio) != 0 ||
        cfgRate(c, g, "concentration_share", 500000, 1, CFG_PPM, &r->concentration) != 0 ||
        cfgDecimal(c, g, "max_order_notional", 10000000LL * CFG_PRICE_SCALE, 4, 1,
                   1000000000000LL * CFG_PRICE_SCALE, &r->maxOrderNotional) != 0 ||
        cfgInt(c, g, "throttle_msgs_per_sec", 10000, 1, 10000000, &throttle) != 0)
        return -1;
    if (r->rejectRatio > r->liquidationRatio)
        return cfgErrKey(c, g, "reject_risk_ratio",
                         "must not exceed liquidation_ratio (%u > %u ppm)", r->rejectRatio,
                         r->liquidationRatio);
    r->throttle = (uint32_t)throttle;
    return 0;
}

/* ---- control ---- */

static const char *const cfgControlKeys[] = {"socket",       "socket_mode",  "socket_owner",
                                             "socket_group", "metrics_port", NULL};

/* "0660": 3 or 4 octal digits, no special bits, owner read+write, and no
 * write for others (connecting to a socket needs write: anyone could trade
 * as the operator). */
static int cfgSocketMode(cfgCtx *c, const config_setting_t *g, uint32_t *out)
{
    const config_setting_t *s;
    const char *v;
    uint32_t mode = 0;
    if (cfgStr(c, g, "socket_mode", 0, &s, &v) != 0)
        return -1;
    if (v == NULL) {
        *out = 0660;
        return 0;
    }
    size_t n = strlen(v);
    int ok = n == 3 || n == 4;
    for (size_t i = 0; i < n && ok; i++) {
        ok = v[i] >= '0' && v[i] <= '7';
        mode = mode << 3 | (uint32_t)(v[i] - '0');
    }
    if (!ok || mode > 0777)
        return cfgErr(c, s, NULL, "\"%s\" is not an octal permission mode such as \"0660\"", v);
    if ((mode & 0600) != 0600)
        return cfgErr(c, s, NULL, "%s must give the owner read and write (0600)", v);
    if (mode & 0002)
        return cfgErr(c, s, NULL, "%s lets every local user connect (others may not write)", v);
    *out = mode;
    return 0;
}

/* An optional user or group name: [a-z_][a-z0-9_-]*, as useradd accepts. */
static int cfgAccountName(cfgCtx *c, const config_setting_t *g, const char *key, char *out)
{
    if (cfgText(c, g, key, "", CFG_USER_MAX, out) != 0)
        return -1;
    for (const char *p = out; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || *p == '_' ||
                 (p != out && ((*p >= '0' && *p <= '9') || *p == '-'));
        if (!ok)
            return cfgErr(c, cfgGet(g, key), NULL, "\"%s\" is not a user or group name", out);
    }
    return 0;
}

static int cfgParseControl(cfgCtx *c, const config_setting_t *root, cfgControl *ctl)
{
    const config_setting_t *g;
    int64_t metrics;
    if (cfgSection(c, root, "control", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    if (cfgCheckKeys(c, g, cfgControlKeys) != 0 ||
        cfgText(c, g, "socket", "/tmp/xchg/xchgd.sock", CFG_SOCK_PATH_MAX, ctl->socketPath) != 0 ||
        cfgSocketMode(c, g, &ctl->socketMode) != 0 ||
        cfgAccountName(c, g, "socket_owner", ctl->socketOwner) != 0 ||
        cfgAccountName(c, g, "socket_group", ctl->socketGroup) != 0 ||
        cfgInt(c, g, "metrics_port", 9180, 0, 65535, &metrics) != 0)
        return -1;
    ctl->metricsPort = (uint16_t)metrics;
    return 0;
}

/* ---- log ---- */

static const char *const cfgLogKeys[] = {"level", "destination", NULL};
/* the order of control/log.h's LOGL_* levels */
static const char *const cfgLogLevelNames[] = {"error", "warning", "info", "debug", NULL};

/* "stderr", "syslog", or a file path (anything else). */
static int cfgParseLog(cfgCtx *c, const config_setting_t *root, cfgLog *log)
{
    const config_setting_t *g;
    if (cfgSection(c, root, "log", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    if (cfgCheckKeys(c, g, cfgLogKeys) != 0 ||
        cfgEnum(c, g, "level", cfgLogLevelNames, 2, &log->level) != 0 ||
        cfgText(c, g, "destination", "stderr", CFG_PATH_MAX, log->destination) != 0)
        return -1;
    const char *d = log->destination;
    if (strcmp(d, "stderr") != 0 && strcmp(d, "syslog") != 0 && strchr(d, '/') == NULL)
        return cfgErrKey(c, g, "destination",
                         "\"%s\" is neither stderr, syslog nor a file path (write ./%s for a "
                         "file in the working directory)",
                         d, d);
    if (d[strlen(d) - 1] == '/')
        return cfgErrKey(c, g, "destination", "\"%s\" names a directory, not a file", d);
    return 0;
}

const char *cfgLogLevelName(int level)
{
    return level >= 0 && level <= 3 ? cfgLogLevelNames[level] : "?";
}

/* ---- market data ---- */

static const char *const cfgMarketDataKeys[] = {
    "trading_day_start", "utc_offset", "summary_group", "summary_port", "kline_history", NULL};

/* "HH:MM" (00:00..23:59) as seconds after midnight; -1 if malformed. */
static int32_t cfgParseClock(const char *v)
{
    if (strlen(v) != 5 || v[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (v[i] < '0' || v[i] > '9'))
            return -1;
    int h = (v[0] - '0') * 10 + (v[1] - '0'), m = (v[3] - '0') * 10 + (v[4] - '0');
    return h > 23 || m > 59 ? -1 : (int32_t)(h * 3600 + m * 60);
}

static int cfgClockKey(cfgCtx *c, const config_setting_t *g, const char *key, const char *def,
                       int signedOffset, int32_t *out)
{
    const config_setting_t *s;
    const char *v;
    if (cfgStr(c, g, key, 0, &s, &v) != 0)
        return -1;
    const char *text = v ? v : def;
    int sign = 1;
    if (signedOffset) {
        if (text[0] != '+' && text[0] != '-')
            return cfgErr(c, s, NULL, "\"%s\" is not an offset such as \"+08:00\"", text);
        sign = text[0] == '-' ? -1 : 1;
        text++;
    }
    int32_t secs = cfgParseClock(text);
    if (secs < 0 || (signedOffset && secs > 14 * 3600))
        return cfgErr(c, s, NULL, "\"%s\" is not %s", v,
                      signedOffset ? "an offset from -14:00 to +14:00 such as \"+08:00\""
                                   : "a time of day HH:MM such as \"21:00\"");
    *out = sign * secs;
    return 0;
}

static int cfgParseMarketData(cfgCtx *c, const config_setting_t *root, cfgConfig *cfg)
{
    const config_setting_t *g, *s;
    const char *v;
    int64_t port, history;
    cfgMarketData *md = &cfg->marketData;
    if (cfgSection(c, root, "market_data", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    if (cfgCheckKeys(c, g, cfgMarketDataKeys) != 0 ||
        cfgClockKey(c, g, "trading_day_start", "21:00", 0, &md->tradingDayStart) != 0 ||
        cfgClockKey(c, g, "utc_offset", "+08:00", 1, &md->utcOffset) != 0 ||
        cfgInt(c, g, "summary_port", 9200, 0, 65535, &port) != 0 ||
        cfgInt(c, g, "kline_history", 1000, 1, 1000, &history) != 0 ||
        cfgStr(c, g, "summary_group", 0, &s, &v) != 0)
        return -1;
    md->summaryPort = (uint16_t)port;
    md->klineHistory = (uint32_t)history;
    if (cfgParseIPv4(v ? v : "239.1.2.1", &md->summaryGroup) != 0)
        return cfgErr(c, s, NULL, "\"%s\" is not an IPv4 address", v);
    if ((md->summaryGroup >> 24) != 239)
        return cfgErr(c, s, NULL, "%s is not in 239.0.0.0/8 (administratively scoped multicast)",
                      v);
    for (uint32_t i = 0; i < cfg->segmentCount; i++)
        if (cfg->segments[i].feedGroup == md->summaryGroup)
            return cfgErr(c, s ? s : g, s ? NULL : "summary_group",
                          "summary group is the feed group of segment %u", cfg->segments[i].id);
    return 0;
}

/* ---- filter ---- */

static const char *const cfgFilterKeys[] = {"enabled", "mode", "program", "interface", NULL};
static const char *const cfgXdpModeNames[] = {"auto", "native", "generic", NULL};

static int cfgBool(cfgCtx *c, const config_setting_t *g, const char *key, int def, int *out)
{
    const config_setting_t *s = cfgGet(g, key);
    *out = def;
    if (s == NULL)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfgErr(c, s, NULL, "must be true or false (got %s)",
                      cfgTypeName(config_setting_type(s)));
    *out = config_setting_get_bool(s);
    return 0;
}

static int cfgParseFilter(cfgCtx *c, const config_setting_t *root, cfgFilter *f)
{
    const config_setting_t *g;
    int mode;
    if (cfgSection(c, root, "filter", CONFIG_TYPE_GROUP, 0, &g) != 0)
        return -1;
    if (cfgCheckKeys(c, g, cfgFilterKeys) != 0 || cfgBool(c, g, "enabled", 1, &f->enabled) != 0 ||
        cfgEnum(c, g, "mode", cfgXdpModeNames, CFG_XDP_AUTO, &mode) != 0 ||
        cfgText(c, g, "program", "", CFG_PATH_MAX, f->program) != 0 ||
        cfgText(c, g, "interface", "", CFG_IFNAME_MAX, f->interface) != 0)
        return -1;
    f->mode = (cfgXdpMode)mode;
    return 0;
}

/* ---- instruments ---- */

static const char *const cfgInstrumentKeys[] = {"id",
                                                "name",
                                                "segment",
                                                "tick_size",
                                                "multiplier",
                                                "margin_rate",
                                                "commission_per_lot",
                                                "commission_rate",
                                                "limit_up",
                                                "limit_down",
                                                "pre_settlement",
                                                "pre_close",
                                                "min_lots",
                                                "max_lots",
                                                "close_rule",
                                                NULL};

/* 1..8 letters and digits, starting with a letter: fits ITCH's stock field. */
static int cfgInstrumentId(cfgCtx *c, const config_setting_t *g, char *out)
{
    if (cfgText(c, g, "id", NULL, CFG_ID_MAX, out) != 0)
        return -1;
    for (const char *p = out; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (!alpha && (p == out || *p < '0' || *p > '9'))
            return cfgErrKey(c, g, "id", "\"%s\": use letters and digits, starting with a letter",
                             out);
    }
    return 0;
}

/* Resolves the segment id to an index. */
static int cfgInstrumentSegment(cfgCtx *c, const config_setting_t *g, const cfgConfig *cfg,
                                cfgInstrument *ins)
{
    int64_t seg;
    if (cfgInt(c, g, "segment", CFG_REQ, 0, 255, &seg) != 0)
        return -1;
    for (uint32_t i = 0; i < cfg->segmentCount; i++) {
        if (cfg->segments[i].id == seg) {
            ins->segment = (uint8_t)seg;
            ins->segIndex = (uint16_t)i;
            return 0;
        }
    }
    return cfgErrKey(c, g, "segment", "no segment has id %lld (%u segment%s defined)",
                     (long long)seg, cfg->segmentCount, cfg->segmentCount == 1 ? "" : "s");
}

static uint8_t cfgDecimalsOf(int64_t units)
{
    uint8_t d = 4;
    while (d > 0 && units % 10 == 0) {
        units /= 10;
        d--;
    }
    return d;
}

static int cfgInstrumentPrices(cfgCtx *c, const config_setting_t *g, cfgInstrument *ins)
{
    if (cfgDecimal(c, g, "tick_size", CFG_REQ, 4, 1, CFG_PRICE_MAX, &ins->tickSize) != 0 ||
        cfgDecimal(c, g, "pre_settlement", CFG_REQ, 4, 1, CFG_PRICE_MAX, &ins->preSettlement) !=
            0 ||
        cfgRate(c, g, "limit_up", CFG_REQ, 1, CFG_PPM, &ins->limitUp) != 0 ||
        cfgRate(c, g, "limit_down", CFG_REQ, 1, CFG_PPM, &ins->limitDown) != 0)
        return -1;
    ins->priceDecimals = cfgDecimalsOf(ins->tickSize);
    if (cfgDecimal(c, g, "pre_close", ins->preSettlement, 4, 1, CFG_PRICE_MAX, &ins->preClose) != 0)
        return -1;
    if (cfgPriceToTicks(ins->preSettlement, ins->tickSize, &ins->preSettlementTicks) != 0) {
        char pre[32], tick[32];
        cfgFormatDecimal(ins->preSettlement, 4, 0, pre, sizeof pre);
        cfgFormatDecimal(ins->tickSize, 4, 0, tick, sizeof tick);
        return cfgErrKey(c, g, "pre_settlement",
                         "%s is not on tick (not a multiple of tick_size %s)", pre, tick);
    }
    return 0;
}

static int cfgInstrumentMoney(cfgCtx *c, const config_setting_t *g, cfgInstrument *ins)
{
    int64_t mult;
    if (cfgInt(c, g, "multiplier", CFG_REQ, 1, 1000000, &mult) != 0 ||
        cfgRate(c, g, "margin_rate", CFG_REQ, 1, CFG_PPM, &ins->marginRate) != 0 ||
        cfgDecimal(c, g, "commission_per_lot", 0, 4, 0, 1000000LL * CFG_PRICE_SCALE,
                   &ins->commissionPerLot) != 0 ||
        cfgRate(c, g, "commission_rate", 0, 0, CFG_PPM / 10, &ins->commissionRate) != 0)
        return -1;
    ins->multiplier = (uint32_t)mult;
    return 0;
}

static int cfgInstrumentLots(cfgCtx *c, const config_setting_t *g, cfgInstrument *ins)
{
    int64_t minLots, maxLots;
    int rule;
    if (cfgInt(c, g, "min_lots", 1, 1, 1000000, &minLots) != 0 ||
        cfgInt(c, g, "max_lots", 10000, minLots, 1000000, &maxLots) != 0 ||
        cfgEnum(c, g, "close_rule", cfgCloseNames, CFG_CLOSE_YESTERDAY_FIRST, &rule) != 0)
        return -1;
    ins->minLots = (uint32_t)minLots;
    ins->maxLots = (uint32_t)maxLots;
    ins->closeRule = (cfgCloseRule)rule;
    return 0;
}

/* The band must be computable, fit ITCH's uint32 prices, stay small enough
 * for the matcher's per-tick level arrays, and keep the notional of the
 * largest order at the highest price inside int64. */
static int cfgInstrumentBand(cfgCtx *c, const config_setting_t *g, cfgInstrument *ins)
{
    char hi[32];
    if (cfgLimitBand(ins->preSettlement, ins->tickSize, ins->limitUp, ins->limitDown,
                     &ins->lowerTicks, &ins->upperTicks) != 0)
        return cfgErr(c, g, NULL, "daily limit band cannot be computed");
    int64_t upper = ins->upperTicks * ins->tickSize;
    cfgFormatDecimal(upper, 4, 0, hi, sizeof hi);
    if (upper > CFG_PRICE_MAX)
        return cfgErrKey(c, g, "limit_up",
                         "upper limit price %s exceeds the largest ITCH price 429496.7295", hi);
    int64_t width = ins->upperTicks - ins->lowerTicks + 1;
    if (width > CFG_MAX_BAND_TICKS)
        return cfgErr(c, g, NULL,
                      "daily limit band spans %lld ticks (at most %d): raise tick_size or "
                      "lower the limit rates",
                      (long long)width, CFG_MAX_BAND_TICKS);
    if (upper * ins->maxLots > INT64_MAX / ins->multiplier)
        return cfgErrKey(c, g, "max_lots", "notional of max_lots at %s overflows 64 bits", hi);
    return 0;
}

static int cfgParseInstrument(cfgCtx *c, const config_setting_t *g, const cfgConfig *cfg,
                              cfgInstrument *ins)
{
    if (cfgCheckKeys(c, g, cfgInstrumentKeys) != 0 || cfgInstrumentId(c, g, ins->id) != 0 ||
        cfgText(c, g, "name", ins->id, CFG_NAME_MAX, ins->name) != 0 ||
        cfgInstrumentSegment(c, g, cfg, ins) != 0 || cfgInstrumentPrices(c, g, ins) != 0 ||
        cfgInstrumentMoney(c, g, ins) != 0 || cfgInstrumentLots(c, g, ins) != 0 ||
        cfgInstrumentBand(c, g, ins) != 0)
        return -1;
    return 0;
}

/* Ids compare case-insensitively: "cu2501" and "CU2501" would confuse people. */
static int cfgCheckInstrumentId(cfgCtx *c, const config_setting_t *g, const cfgInstrument *all,
                                int i)
{
    for (int j = 0; j < i; j++)
        if (strcasecmp(all[j].id, all[i].id) == 0)
            return cfgErrKey(c, g, "id",
                             "instrument id \"%s\" already used by instruments.[%d] (\"%s\")",
                             all[i].id, j, all[j].id);
    return 0;
}

/* Each segment's instrument_capacity (default: its count) must hold its
 * instruments; cfg->instruments grows to the sum of the capacities, the
 * room instrument.add appends into without moving anything. */
static int cfgSizeInstruments(cfgCtx *c, const config_setting_t *root, cfgConfig *cfg)
{
    const config_setting_t *list = config_setting_get_member(root, "segments");
    uint32_t total = 0;
    for (uint32_t i = 0; i < cfg->segmentCount; i++) {
        cfgSegment *seg = &cfg->segments[i];
        if (seg->instrumentCapacity == 0)
            seg->instrumentCapacity = seg->instrumentCount;
        if (seg->instrumentCapacity < seg->instrumentCount)
            return cfgErrKey(c, config_setting_get_elem(list, i), "instrument_capacity",
                             "%u is below the %u instruments segment %u trades",
                             seg->instrumentCapacity, seg->instrumentCount, seg->id);
        total += seg->instrumentCapacity;
    }
    if (total > CFG_MAX_INSTRUMENTS)
        return cfgErrFile(c, 0, "the segments' instrument_capacity add up to %u (at most %d)",
                          total, CFG_MAX_INSTRUMENTS);
    if (total > cfg->instrumentCount) {
        cfgInstrument *p = realloc(cfg->instruments, (size_t)total * sizeof *p);
        if (p == NULL)
            return cfgErrFile(c, 0, "out of memory");
        memset(p + cfg->instrumentCount, 0, (size_t)(total - cfg->instrumentCount) * sizeof *p);
        cfg->instruments = p;
    }
    cfg->instrumentCapacity = total > cfg->instrumentCount ? total : cfg->instrumentCount;
    return 0;
}

static int cfgParseInstruments(cfgCtx *c, const config_setting_t *root, cfgConfig *cfg)
{
    const config_setting_t *list;
    if (cfgSection(c, root, "instruments", CONFIG_TYPE_LIST, 1, &list) != 0)
        return -1;
    int n = cfgListGroups(c, list, CFG_MAX_INSTRUMENTS);
    if (n < 0)
        return -1;
    cfg->instruments = calloc((size_t)n, sizeof *cfg->instruments);
    if (cfg->instruments == NULL)
        return cfgErrFile(c, 0, "out of memory");
    cfg->instrumentCount = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        cfgInstrument *ins = &cfg->instruments[i];
        if (cfgParseInstrument(c, g, cfg, ins) != 0 ||
            cfgCheckInstrumentId(c, g, cfg->instruments, i) != 0)
            return -1;
        ins->book = cfg->segments[ins->segIndex].instrumentCount++; /* in file order */
    }
    return cfgSizeInstruments(c, root, cfg);
}

/* A segment without instruments is almost certainly a wrong segment id. */
static int cfgCheckSegmentsUsed(cfgCtx *c, const config_setting_t *root, const cfgConfig *cfg)
{
    const config_setting_t *list = config_setting_get_member(root, "segments");
    for (uint32_t i = 0; i < cfg->segmentCount; i++)
        if (cfg->segments[i].instrumentCount == 0)
            return cfgErr(c, config_setting_get_elem(list, i), NULL,
                          "segment %u trades no instrument", cfg->segments[i].id);
    return 0;
}

/* ==== public API ============================================================ */

static const char *const cfgRootKeys[] = {"instruments", "segments", "ports",   "lcores",
                                          "storage",     "risk",     "control", "market_data",
                                          "filter",      "log",      NULL};

static int cfgBuild(cfgCtx *c, const config_t *lc, cfgConfig *out)
{
    const config_setting_t *root = config_root_setting(lc);
    if (cfgCheckKeys(c, root, cfgRootKeys) != 0 || cfgParseLcores(c, root, &out->lcores) != 0 ||
        cfgParseSegments(c, root, out) != 0 || cfgParsePorts(c, root, out) != 0 ||
        cfgParseStorage(c, root, &out->storage) != 0 || cfgParseRisk(c, root, &out->risk) != 0 ||
        cfgParseControl(c, root, &out->control) != 0 || cfgParseMarketData(c, root, out) != 0 ||
        cfgParseFilter(c, root, &out->filter) != 0 || cfgParseLog(c, root, &out->log) != 0 ||
        cfgParseInstruments(c, root, out) != 0 || cfgCheckSegmentsUsed(c, root, out) != 0)
        return -1;
    return 0;
}

int cfgLoad(const char *path, cfgConfig *out, char *err, size_t errlen)
{
    cfgCtx c = {.file = path ? path : "(null)", .err = err, .errlen = errlen};
    config_t lc;
    memset(out, 0, sizeof *out);
    if (errlen > 0)
        err[0] = '\0';
    if (path == NULL || strlen(path) > CFG_PATH_MAX)
        return cfgErrFile(&c, 0, "config path is missing or longer than %d bytes", CFG_PATH_MAX);
    config_init(&lc);
    int rc = cfgParseFile(&c, path, &lc);
    if (rc == 0)
        rc = cfgBuild(&c, &lc, out);
    config_destroy(&lc);
    if (rc != 0) {
        cfgFree(out);
        return -1;
    }
    snprintf(out->source, sizeof out->source, "%s", path);
    return 0;
}

void cfgFree(cfgConfig *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->instruments);
    free(cfg->segments);
    free(cfg->ports);
    memset(cfg, 0, sizeof *cfg);
}

const cfgInstrument *cfgFindInstrument(const cfgConfig *cfg, const char *id)
{
    for (uint32_t i = 0; id != NULL && i < cfg->instrumentCount; i++)
        if (strcmp(cfg->instruments[i].id, id) == 0)
            return &cfg->instruments[i];
    return NULL;
}

const cfgSegment *cfgFindSegment(const cfgConfig *cfg, uint8_t id)
{
    for (uint32_t i = 0; i < cfg->segmentCount; i++)
        if (cfg->segments[i].id == id)
            return &cfg->segments[i];
    return NULL;
}

const cfgInstrument *cfgFindBook(const cfgConfig *cfg, uint16_t segIndex, uint16_t book)
{
    for (uint32_t i = 0; i < cfg->instrumentCount; i++)
        if (cfg->instruments[i].segIndex == segIndex && cfg->instruments[i].book == book)
            return &cfg->instruments[i];
    return NULL;
}

/* ==== instruments added at run time ========================================= */

static int cfgAddErr(char *err, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cfgAddErr(char *err, size_t len, int code, const char *fmt, ...)
{
    if (err && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int cfgAddIdValid(const char *id)
{
    size_t n = strnlen(id, CFG_ID_MAX + 1);
    if (n == 0 || n > CFG_ID_MAX)
        return 0;
    for (const char *p = id; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (!alpha && (p == id || *p < '0' || *p > '9'))
            return 0;
    }
    return 1;
}

/* The field ranges of cfgInstrumentMoney, cfgInstrumentPrices, cfgInstrumentLots. */
static const char *cfgAddFieldProblem(const cfgInstrument *s)
{
    if (s->tickSize < 1 || s->tickSize > CFG_PRICE_MAX)
        return "tick_size: above 0 and at most 429496.7295";
    if (s->preSettlement < 1 || s->preSettlement > CFG_PRICE_MAX)
        return "pre_settlement: above 0 and at most 429496.7295";
    if (s->preClose < 0 || s->preClose > CFG_PRICE_MAX)
        return "pre_close: at most 429496.7295";
    if (s->preSettlement % s->tickSize != 0)
        return "pre_settlement: not on tick (not a multiple of tick_size)";
    if (s->multiplier < 1 || s->multiplier > 1000000)
        return "multiplier: 1..1000000";
    if (s->marginRate < 1 || s->marginRate > CFG_PPM)
        return "margin_rate: above 0 and at most 100%";
    if (s->commissionRate > CFG_PPM / 10)
        return "commission_rate: at most 10%";
    if (s->commissionPerLot < 0 || s->commissionPerLot > 1000000LL * CFG_PRICE_SCALE)
        return "commission_per_lot: 0..1000000";
    if (s->limitUp < 1 || s->limitUp > CFG_PPM || s->limitDown < 1 || s->limitDown > CFG_PPM)
        return "limit_up/limit_down: above 0 and at most 100%";
    if (s->minLots < 1 || s->minLots > 1000000 || s->maxLots < s->minLots || s->maxLots > 1000000)
        return "min_lots/max_lots: 1 <= min_lots <= max_lots <= 1000000";
    if ((unsigned)s->closeRule > CFG_CLOSE_SPLIT)
        return "close_rule: yesterday_first, today_first or split";
    return NULL;
}

/* As cfgInstrumentBand. */
static const char *cfgAddBandProblem(cfgInstrument *s)
{
    if (cfgLimitBand(s->preSettlement, s->tickSize, s->limitUp, s->limitDown, &s->lowerTicks,
                     &s->upperTicks) != 0 ||
        s->lowerTicks > s->upperTicks)
        return "the daily limit band cannot be computed";
    const int64_t upper = s->upperTicks * s->tickSize;
    if (upper > CFG_PRICE_MAX)
        return "limit_up: the upper limit price exceeds the largest ITCH price 429496.7295";
    if (s->upperTicks - s->lowerTicks + 1 > CFG_MAX_BAND_TICKS)
        return "the daily limit band spans more than 1000000 ticks: raise tick_size or lower "
               "the limit rates";
    if (upper * (int64_t)s->maxLots > INT64_MAX / s->multiplier)
        return "max_lots: the notional of max_lots at the upper limit overflows 64 bits";
    return NULL;
}

int cfgInstrumentCheck(const cfgConfig *cfg, cfgInstrument *s, char *err, size_t errlen)
{
    if (memchr(s->id, 0, sizeof s->id) == NULL || !cfgAddIdValid(s->id))
        return cfgAddErr(err, errlen, CFG_ADD_PARAMS,
                         "id: 1..%d letters and digits, starting with a letter", CFG_ID_MAX);
    if (memchr(s->name, 0, sizeof s->name) == NULL)
        return cfgAddErr(err, errlen, CFG_ADD_PARAMS, "name: at most %d bytes", CFG_NAME_MAX);
    if (!s->name[0])
        memcpy(s->name, s->id, sizeof s->id);
    const cfgSegment *seg = cfgFindSegment(cfg, s->segment);
    if (!seg)
        return cfgAddErr(err, errlen, CFG_ADD_SEGMENT, "segment: no segment has id %u", s->segment);
    if (!s->preClose)
        s->preClose = s->preSettlement;
    const char *why = cfgAddFieldProblem(s);
    if (!why)
        why = cfgAddBandProblem(s);
    if (why)
        return cfgAddErr(err, errlen, CFG_ADD_PARAMS, "%s", why);
    for (uint32_t i = 0; i < cfg->instrumentCount; i++)
        if (strcasecmp(cfg->instruments[i].id, s->id) == 0)
            return cfgAddErr(err, errlen, CFG_ADD_DUPLICATE, "instrument id %s is taken (by %s)",
                             s->id, cfg->instruments[i].id);
    if (seg->instrumentCount >= seg->instrumentCapacity ||
        cfg->instrumentCount >= cfg->instrumentCapacity)
        return cfgAddErr(err, errlen, CFG_ADD_CAPACITY,
                         "segment %u is full: its %u instrument slots (instrument_capacity) are "
                         "used; raise instrument_capacity in the config and restart",
                         seg->id, seg->instrumentCapacity);
    s->segIndex = (uint16_t)(seg - cfg->segments);
    s->book = seg->instrumentCount;
    s->priceDecimals = cfgDecimalsOf(s->tickSize);
    s->preSettlementTicks = s->preSettlement / s->tickSize;
    return CFG_ADD_OK;
}

int cfgInstrumentAppend(cfgConfig *cfg, const cfgInstrument *spec)
{
    cfgInstrument s = *spec;
    if (cfgInstrumentCheck(cfg, &s, NULL, 0) != CFG_ADD_OK || s.book != spec->book)
        return -1;
    cfgSegment *seg = &cfg->segments[s.segIndex];
    const uint32_t at = cfg->instrumentCount;
    cfg->instruments[at] = s;
    __atomic_store_n(&seg->instrumentCount, (uint16_t)(seg->instrumentCount + 1), __ATOMIC_RELEASE);
    __atomic_store_n(&cfg->instrumentCount, at + 1, __ATOMIC_RELEASE);
    return (int)at;
}
