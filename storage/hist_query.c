/* hist_query.c -- SQL over the history SSTables: SQLite virtual tables, output, `xchgctl query`. */
#define _GNU_SOURCE
#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "storage/hist_query.h"
#include "storage/history.h"
#include "storage/sst_int.h"

/* ---- table descriptions ---------------------------------------------------------------- */

typedef enum { HQ_U8, HQ_U16, HQ_U32, HQ_U64, HQ_I64, HQ_ENUM, HQ_CANCEL_REASON } hqType;

typedef struct {
    const char *name;
    hqType type;
    uint16_t off;
    const char *const *names; /* HQ_ENUM: text per value */
    uint8_t nnames;
} hqCol;

typedef struct {
    const char *name;
    uint8_t prefix; /* HIST_T_* */
    size_t rowSize;
    const hqCol *cols;
    int ncols;
    int keyCol; /* column whose value is the key's first id (big-endian u64 after the
                 * prefix), or -1: the key does not start with one, scans only */
} hqTable;

static const char *const sideNames[] = {"BUY", "SELL"};
static const char *const offsetNames[] = {"OPEN", "CLOSE", "CLOSETODAY", "CLOSEYESTERDAY"};
static const char *const priceTypeNames[] = {"LIMIT", "MARKET"};
static const char *const tifNames[] = {"GFD", "IOC", "GTC"};
static const char *const volNames[] = {"ANY", "MIN", "ALL"};
static const char *const statusNames[] = {"NEW", "PARTIAL", "FILLED", "CANCELLED"};
static const char *const cancelNames[] = {"USER",       "IOC",     "FOK",  "MIN_QTY",
                                          "SELF_TRADE", "EXPIRED", "ADMIN"};
static const char *const liqNames[] = {"MAKER", "TAKER", "AUCTION"};
/* mdsPeriod codes (HQChart's); gaps print as numbers */
static const char *const periodNames[] = {"day", NULL, NULL, "3s", "1m", "5m", "15m", "30m", "60m"};

#define E(a) a, (uint8_t)(sizeof(a) / sizeof(a[0]))
#define O(f) (uint16_t) offsetof(histOrderRow, f)
static const hqCol orderCols[] = {
    {"order_id", HQ_U64, O(orderId), NULL, 0},
    {"client_order_id", HQ_U64, O(clOrdId), NULL, 0},
    {"segment", HQ_U8, O(segment), NULL, 0},
    {"session", HQ_U32, O(session), NULL, 0},
    {"account", HQ_U32, O(account), NULL, 0},
    {"instrument", HQ_U16, O(instrument), NULL, 0},
    {"side", HQ_ENUM, O(side), E(sideNames)},
    {"offset", HQ_ENUM, O(offset), E(offsetNames)},
    {"price_type", HQ_ENUM, O(priceType), E(priceTypeNames)},
    {"time_condition", HQ_ENUM, O(timeCondition), E(tifNames)},
    {"volume_condition", HQ_ENUM, O(volumeCondition), E(volNames)},
    {"status", HQ_ENUM, O(status), E(statusNames)},
    {"cancel_reason", HQ_CANCEL_REASON, O(cancelReason), E(cancelNames)},
    {"price", HQ_I64, O(price), NULL, 0},
    {"qty", HQ_U32, O(qty), NULL, 0},
    {"min_qty", HQ_U32, O(minQty), NULL, 0},
    {"filled", HQ_U32, O(filled), NULL, 0},
    {"leaves", HQ_U32, O(leaves), NULL, 0},
    {"notional", HQ_I64, O(notional), NULL, 0},
    {"commission", HQ_I64, O(commission), NULL, 0},
    {"replaces", HQ_U8, O(replaces), NULL, 0},
    {"accepted_ns", HQ_U64, O(acceptedNs), NULL, 0},
    {"updated_ns", HQ_U64, O(updatedNs), NULL, 0},
};
#undef O
#define O(f) (uint16_t) offsetof(histTradeRow, f)
static const hqCol tradeCols[] = {
    {"trade_id", HQ_U64, O(tradeId), NULL, 0},
    {"order_id", HQ_U64, O(orderId), NULL, 0},
    {"client_order_id", HQ_U64, O(clOrdId), NULL, 0},
    {"segment", HQ_U8, O(segment), NULL, 0},
    {"session", HQ_U32, O(session), NULL, 0},
    {"account", HQ_U32, O(account), NULL, 0},
    {"instrument", HQ_U16, O(instrument), NULL, 0},
    {"side", HQ_ENUM, O(side), E(sideNames)},
    {"liquidity", HQ_ENUM, O(liquidity), E(liqNames)},
    {"price", HQ_I64, O(price), NULL, 0},
    {"qty", HQ_U32, O(qty), NULL, 0},
    {"leaves", HQ_U32, O(leaves), NULL, 0},
    {"commission", HQ_I64, O(commission), NULL, 0},
    {"ts", HQ_U64, O(timestamp), NULL, 0},
};
#undef O
#define O(f) (uint16_t) offsetof(histRejectRow, f)
static const hqCol rejectCols[] = {
    {"ts", HQ_U64, O(timestamp), NULL, 0},
    {"session", HQ_U32, O(session), NULL, 0},
    {"client_order_id", HQ_U64, O(clOrdId), NULL, 0},
    {"segment", HQ_U8, O(segment), NULL, 0},
    {"account", HQ_U32, O(account), NULL, 0},
    {"instrument", HQ_U16, O(instrument), NULL, 0},
    {"code", HQ_U16, O(code), NULL, 0},
};
#undef O
#define O(f) (uint16_t) offsetof(histKlineRow, f)
static const hqCol klineCols[] = {
    {"instrument", HQ_U16, O(instrument), NULL, 0},
    {"period", HQ_ENUM, O(period), E(periodNames)},
    {"start_ns", HQ_U64, O(startNs), NULL, 0},
    {"end_ns", HQ_U64, O(endNs), NULL, 0},
    {"trading_day", HQ_U32, O(tradingDay), NULL, 0},
    {"open", HQ_I64, O(open), NULL, 0},
    {"high", HQ_I64, O(high), NULL, 0},
    {"low", HQ_I64, O(low), NULL, 0},
    {"close", HQ_I64, O(close), NULL, 0},
    {"volume", HQ_U64, O(volume), NULL, 0},
    {"amount", HQ_I64, O(amount), NULL, 0},
    {"open_oi", HQ_I64, O(openOi), NULL, 0},
    {"close_oi", HQ_I64, O(closeOi), NULL, 0},
    {"trades", HQ_U32, O(trades), NULL, 0},
};
#undef O
#define O(f) (uint16_t) offsetof(histTickRow, f)
static const hqCol tickCols[] = {
    {"instrument", HQ_U16, O(instrument), NULL, 0},
    {"ts", HQ_U64, O(timestamp), NULL, 0},
    {"trade_id", HQ_U64, O(tradeId), NULL, 0},
    {"segment", HQ_U8, O(segment), NULL, 0},
    {"side", HQ_ENUM, O(side), E(sideNames)},
    {"liquidity", HQ_ENUM, O(liquidity), E(liqNames)},
    {"price", HQ_I64, O(price), NULL, 0},
    {"qty", HQ_U32, O(qty), NULL, 0},
};
#undef O
#define O(f) (uint16_t) offsetof(histSettleRow, f)
static const hqCol settleCols[] = {
    {"date", HQ_U32, O(date), NULL, 0},
    {"account", HQ_U32, O(account), NULL, 0},
    {"pre_balance", HQ_I64, O(preBalance), NULL, 0},
    {"deposit", HQ_I64, O(deposit), NULL, 0},
    {"withdraw", HQ_I64, O(withdraw), NULL, 0},
    {"close_profit", HQ_I64, O(closeProfit), NULL, 0},
    {"position_profit", HQ_I64, O(positionProfit), NULL, 0},
    {"commission", HQ_I64, O(commission), NULL, 0},
    {"balance", HQ_I64, O(balance), NULL, 0},
    {"margin", HQ_I64, O(margin), NULL, 0},
    {"risk_ratio", HQ_I64, O(riskRatio), NULL, 0},
    {"force_close", HQ_U8, O(forceClose), NULL, 0},
};
#undef O
#undef E

/* Adding a table: a row struct and key builder in history.h, a column list
 * here, an entry below (docs/storage/history.md, "Adding a table"). */
static const hqTable hqTables[] = {
    {"orders", HIST_T_ORDER, sizeof(histOrderRow), orderCols,
     (int)(sizeof orderCols / sizeof orderCols[0]), 0},
    {"trades", HIST_T_TRADE, sizeof(histTradeRow), tradeCols,
     (int)(sizeof tradeCols / sizeof tradeCols[0]), 0},
    {"rejects", HIST_T_REJECT, sizeof(histRejectRow), rejectCols,
     (int)(sizeof rejectCols / sizeof rejectCols[0]), 0},
    {"klines", HIST_T_KLINE, sizeof(histKlineRow), klineCols,
     (int)(sizeof klineCols / sizeof klineCols[0]), -1},
    {"ticks", HIST_T_TICK, sizeof(histTickRow), tickCols,
     (int)(sizeof tickCols / sizeof tickCols[0]), -1},
    {"settlements", HIST_T_SETTLEMENT, sizeof(histSettleRow), settleCols,
     (int)(sizeof settleCols / sizeof settleCols[0]), -1},
};

/* ---- the virtual table ------------------------------------------------------------------- */

/* What a module instance needs: its table and the open tree. */
typedef struct {
    const hqTable *t;
    lsmDb *db;
} hqAux;

typedef struct {
    sqlite3_vtab base;
    const hqTable *t;
    lsmDb *db;
} hqVtab;

typedef struct {
    sqlite3_vtab_cursor base;
    lsmIter *it;
    int eof;
    uint8_t row[256];
    uint8_t hiKey[9]; /* stop after keys whose first 9 bytes exceed this */
    int hasHi;
    sqlite3_int64 rowid;
} hqCursor;

/* Index plan bits in idxNum: which bounds on the key column are in argv. */
#define HQ_LO    1
#define HQ_HI    2
#define HQ_LO_GT 4  /* lower bound exclusive */
#define HQ_HI_LT 8  /* upper bound exclusive */
#define HQ_EQ    16 /* one argument, both bounds */

static int hqConnect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **errMsg)
{
    (void)argc;
    (void)argv;
    (void)errMsg;
    const hqAux *x = aux;
    const hqTable *t = x->t;
    char sql[1024];
    size_t n = (size_t)snprintf(sql, sizeof sql, "CREATE TABLE x(");
    for (int i = 0; i < t->ncols; i++) {
        int text = t->cols[i].type == HQ_ENUM || t->cols[i].type == HQ_CANCEL_REASON;
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s%s %s", i ? ", " : "", t->cols[i].name,
                              text ? "TEXT" : "INTEGER");
    }
    snprintf(sql + n, sizeof sql - n, ")");
    int rc = sqlite3_declare_vtab(db, sql);
    if (rc != SQLITE_OK)
        return rc;
    hqVtab *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->t = t;
    v->db = x->db;
    *out = &v->base;
    return SQLITE_OK;
}

static int hqDisconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int hqBestIndex(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    const hqVtab *v = (const hqVtab *)vt;
    int lo = -1, hi = -1, plan = 0;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->iColumn != v->t->keyCol)
            continue;
        if (c->op == SQLITE_INDEX_CONSTRAINT_EQ && lo < 0 && hi < 0) {
            lo = hi = i;
            plan = HQ_LO | HQ_HI | HQ_EQ;
        } else if ((c->op == SQLITE_INDEX_CONSTRAINT_GT || c->op == SQLITE_INDEX_CONSTRAINT_GE) &&
                   lo < 0) {
            lo = i;
            plan |= HQ_LO | (c->op == SQLITE_INDEX_CONSTRAINT_GT ? HQ_LO_GT : 0);
        } else if ((c->op == SQLITE_INDEX_CONSTRAINT_LT || c->op == SQLITE_INDEX_CONSTRAINT_LE) &&
                   hi < 0) {
            hi = i;
            plan |= HQ_HI | (c->op == SQLITE_INDEX_CONSTRAINT_LT ? HQ_HI_LT : 0);
        }
    }
    /* SQLite still checks every constraint (omit stays 0): the bounds only
     * narrow the scan, so a bound we cannot use exactly costs nothing */
    int arg = 1;
    if (lo >= 0)
        info->aConstraintUsage[lo].argvIndex = arg++;
    if (hi >= 0 && hi != lo)
        info->aConstraintUsage[hi].argvIndex = arg++;
    info->idxNum = plan;
    info->estimatedCost = (plan & HQ_LO) && (plan & HQ_HI) ? (lo == hi ? 10.0 : 1000.0)
                          : plan                           ? 100000.0
                                                           : 1000000.0;
    if (lo >= 0 && lo == hi)
        info->estimatedRows = 1;
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == v->t->keyCol && !info->aOrderBy[0].desc)
        info->orderByConsumed = 1; /* keys are in key-column order */
    return SQLITE_OK;
}

static int hqOpen(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    hqVtab *v = (hqVtab *)vt;
    hqCursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    sstError err;
    c->it = lsmIterOpen(v->db, &err);
    if (!c->it) {
        sqlite3_free(c);
        vt->zErrMsg = sqlite3_mprintf("%s", err.msg);
        return SQLITE_ERROR;
    }
    *out = &c->base;
    return SQLITE_OK;
}

static int hqClose(sqlite3_vtab_cursor *cur)
{
    hqCursor *c = (hqCursor *)cur;
    lsmIterClose(c->it);
    sqlite3_free(c);
    return SQLITE_OK;
}

static void keyFor(uint8_t *k, uint8_t prefix, uint64_t id)
{
    k[0] = prefix;
    for (int i = 8; i >= 1; i--, id >>= 8)
        k[i] = (uint8_t)id;
}

/* Reads the next entry of this table into c->row, or sets eof. */
static int hqStep(hqCursor *c, const hqVtab *v)
{
    sstEntry e;
    sstError err;
    int rc = lsmIterNext(c->it, &e, &err);
    if (rc < 0) {
        sqlite3_free(c->base.pVtab->zErrMsg);
        c->base.pVtab->zErrMsg = sqlite3_mprintf("%s", err.msg);
        return SQLITE_ERROR;
    }
    if (rc == 0 || e.klen < 9 || e.key[0] != v->t->prefix ||
        (c->hasHi && memcmp(e.key, c->hiKey, 9) > 0)) {
        c->eof = 1;
        return SQLITE_OK;
    }
    memset(c->row, 0, sizeof c->row);
    memcpy(c->row, e.val, e.vlen < sizeof c->row ? e.vlen : sizeof c->row);
    c->rowid++;
    return SQLITE_OK;
}

static int hqFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv)
{
    (void)idxStr;
    hqCursor *c = (hqCursor *)cur;
    const hqVtab *v = (const hqVtab *)cur->pVtab;
    uint8_t lo[9];
    keyFor(lo, v->t->prefix, 0);
    c->eof = 0;
    c->hasHi = 0;
    c->rowid = 0;
    int a = 0;
    if ((idxNum & HQ_LO) && a < argc) {
        sqlite3_value *x = argv[a++];
        if (sqlite3_value_type(x) == SQLITE_INTEGER && sqlite3_value_int64(x) >= 0) {
            uint64_t id = (uint64_t)sqlite3_value_int64(x);
            if ((idxNum & HQ_LO_GT) && id < UINT64_MAX)
                id++;
            keyFor(lo, v->t->prefix, id);
        }
    }
    if ((idxNum & HQ_HI)) {
        sqlite3_value *x = (idxNum & HQ_EQ) ? argv[0] : (a < argc ? argv[a++] : NULL);
        if (x && sqlite3_value_type(x) == SQLITE_INTEGER && sqlite3_value_int64(x) >= 0) {
            uint64_t id = (uint64_t)sqlite3_value_int64(x);
            if (idxNum & HQ_HI_LT) {
                if (id == 0) {
                    c->eof = 1;
                    return SQLITE_OK;
                }
                id--;
            }
            keyFor(c->hiKey, v->t->prefix, id);
            c->hasHi = 1;
        }
    }
    sstError err;
    if (lsmIterSeek(c->it, lo, sizeof lo, &err) < 0) {
        cur->pVtab->zErrMsg = sqlite3_mprintf("%s", err.msg);
        return SQLITE_ERROR;
    }
    return hqStep(c, v);
}

static int hqNext(sqlite3_vtab_cursor *cur)
{
    return hqStep((hqCursor *)cur, (const hqVtab *)cur->pVtab);
}

static int hqEof(sqlite3_vtab_cursor *cur)
{
    return ((hqCursor *)cur)->eof;
}

static int hqColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i)
{
    const hqCursor *c = (const hqCursor *)cur;
    const hqCol *col = &((const hqVtab *)cur->pVtab)->t->cols[i];
    const uint8_t *p = c->row + col->off;
    uint8_t u8 = p[0];
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (col->type) {
    case HQ_U8:
        sqlite3_result_int(ctx, u8);
        break;
    case HQ_U16:
        memcpy(&u16, p, 2);
        sqlite3_result_int(ctx, u16);
        break;
    case HQ_U32:
        memcpy(&u32, p, 4);
        sqlite3_result_int64(ctx, u32);
        break;
    case HQ_U64:
    case HQ_I64:
        memcpy(&u64, p, 8);
        sqlite3_result_int64(ctx, (sqlite3_int64)u64);
        break;
    case HQ_CANCEL_REASON:
        if (c->row[offsetof(histOrderRow, status)] != HIST_ORDER_CANCELLED) {
            sqlite3_result_null(ctx);
            break;
        }
        /* fall through */
    case HQ_ENUM:
        if (u8 < col->nnames && col->names[u8])
            sqlite3_result_text(ctx, col->names[u8], -1, SQLITE_STATIC);
        else
            sqlite3_result_int(ctx, u8);
        break;
    }
    return SQLITE_OK;
}

static int hqRowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((const hqCursor *)cur)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module hqModule = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: SELECT ... FROM orders, nothing to create */
    .xConnect = hqConnect,
    .xBestIndex = hqBestIndex,
    .xDisconnect = hqDisconnect,
    .xDestroy = hqDisconnect,
    .xOpen = hqOpen,
    .xClose = hqClose,
    .xFilter = hqFilter,
    .xNext = hqNext,
    .xEof = hqEof,
    .xColumn = hqColumn,
    .xRowid = hqRowid,
};

/* ---- output ----------------------------------------------------------------------------- */

static void csvField(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static json_t *jsonValue(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_NULL:
        return json_null();
    default:
        return json_string((const char *)sqlite3_column_text(st, i));
    }
}

typedef struct {
    char **cells; /* rows x cols, row 0 = header */
    size_t rows, cap;
    int *numeric; /* per column: right-aligned */
} hqGrid;

static int gridAdd(hqGrid *g, int cols, char **row)
{
    if (g->rows == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        char **c = realloc(g->cells, cap * (size_t)cols * sizeof *c);
        if (!c)
            return -1;
        g->cells = c;
        g->cap = cap;
    }
    memcpy(g->cells + g->rows * (size_t)cols, row, (size_t)cols * sizeof *row);
    g->rows++;
    return 0;
}

static void gridPrint(FILE *out, const hqGrid *g, int cols)
{
    size_t *w = calloc((size_t)cols, sizeof *w);
    for (size_t r = 0; w && r < g->rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t n = strlen(g->cells[r * (size_t)cols + (size_t)c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; w && r < g->rows; r++) {
        for (int c = 0; c < cols; c++) {
            const char *s = g->cells[r * (size_t)cols + (size_t)c];
            int right = r > 0 && g->numeric[c];
            fprintf(out, "%s%*s%s", c ? "  " : "", right ? (int)w[c] : 0, right ? s : "",
                    right ? "" : s);
            if (!right && c + 1 < cols)
                fprintf(out, "%*s", (int)(w[c] - strlen(s)), "");
        }
        fputc('\n', out);
        if (r == 0) {
            for (int c = 0; c < cols; c++) {
                fprintf(out, "%s", c ? "  " : "");
                for (size_t k = 0; k < w[c]; k++)
                    fputc('-', out);
            }
            fputc('\n', out);
        }
    }
    fprintf(out, "(%zu row%s)\n", g->rows - 1, g->rows == 2 ? "" : "s");
    free(w);
}

/* Runs one prepared statement and prints it. */
static int runStatement(sqlite3_stmt *st, hqFormat fmt, FILE *out)
{
    int cols = sqlite3_column_count(st), rc;
    hqGrid g = {0};
    json_t *arr = fmt == HQ_JSON ? json_array() : NULL;
    if (fmt == HQ_TABLE) {
        g.numeric = calloc((size_t)cols + 1, sizeof *g.numeric);
        char **hdr = calloc((size_t)cols + 1, sizeof *hdr);
        for (int i = 0; hdr && i < cols; i++)
            hdr[i] = strdup(sqlite3_column_name(st, i));
        if (!g.numeric || !hdr || (cols && gridAdd(&g, cols, hdr) < 0))
            return SQLITE_NOMEM;
        free(hdr);
        for (int i = 0; i < cols; i++)
            g.numeric[i] = 1;
    } else if (fmt == HQ_CSV && cols) {
        for (int i = 0; i < cols; i++) {
            if (i)
                fputc(',', out);
            csvField(out, sqlite3_column_name(st, i));
        }
        fputc('\n', out);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fmt == HQ_JSON) {
            json_t *o = json_object();
            for (int i = 0; i < cols; i++)
                json_object_set_new(o, sqlite3_column_name(st, i), jsonValue(st, i));
            json_array_append_new(arr, o);
            continue;
        }
        if (fmt == HQ_CSV) {
            for (int i = 0; i < cols; i++) {
                if (i)
                    fputc(',', out);
                const unsigned char *t = sqlite3_column_text(st, i);
                csvField(out, t ? (const char *)t : "");
            }
            fputc('\n', out);
            continue;
        }
        char **row = calloc((size_t)cols + 1, sizeof *row);
        for (int i = 0; row && i < cols; i++) {
            int type = sqlite3_column_type(st, i);
            const unsigned char *t = sqlite3_column_text(st, i);
            row[i] = strdup(t ? (const char *)t : "NULL");
            if (type == SQLITE_TEXT || type == SQLITE_BLOB)
                g.numeric[i] = 0;
        }
        if (!row || gridAdd(&g, cols, row) < 0) {
            free(row);
            rc = SQLITE_NOMEM;
            break;
        }
        free(row);
    }
    if (fmt == HQ_JSON) {
        if (rc == SQLITE_DONE && cols) {
            char *s = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fprintf(out, "%s\n", s ? s : "[]");
            free(s);
        }
        json_decref(arr);
    } else if (fmt == HQ_TABLE) {
        if (rc == SQLITE_DONE && cols)
            gridPrint(out, &g, cols);
        for (size_t i = 0; i < g.rows * (size_t)cols; i++)
            free(g.cells[i]);
        free(g.cells);
        free(g.numeric);
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Refuses what could write a file: ATTACH (and its DETACH). */
static int hqAuthorize(void *ctx, int action, const char *a, const char *b, const char *c,
                       const char *d)
{
    (void)ctx;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

int hqRun(const char *dir, const char *sql, hqFormat fmt, FILE *out, char *err, size_t errLen)
{
    sstError se;
    lsmDb *db = lsmOpenReadOnly(dir, &se);
    if (!db) {
        snprintf(err, errLen, "history %s: %s", dir, se.msg);
        return -1;
    }
    sqlite3 *s = NULL;
    int rc = sqlite3_open_v2(":memory:", &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    enum { NT = sizeof hqTables / sizeof hqTables[0] };
    hqAux aux[NT];
    for (size_t i = 0; rc == SQLITE_OK && i < NT; i++) {
        aux[i] = (hqAux){&hqTables[i], db};
        rc = sqlite3_create_module_v2(s, hqTables[i].name, &hqModule, &aux[i], NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errLen, "sqlite: %s", s ? sqlite3_errmsg(s) : "cannot open");
        sqlite3_close(s);
        lsmClose(db);
        return -1;
    }
    sqlite3_set_authorizer(s, hqAuthorize, NULL);
    const char *tail = sql;
    int result = 0;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s, tail, -1, &st, &tail);
        if (rc == SQLITE_OK && st)
            rc = runStatement(st, fmt, out);
        if (rc != SQLITE_OK) {
            snprintf(err, errLen, "query: %s", sqlite3_errmsg(s));
            result = -1;
        }
        sqlite3_finalize(st);
        if (result < 0)
            break;
    }
    sqlite3_close(s);
    lsmClose(db);
    return result;
}

/* ---- xchgctl query ------------------------------------------------------------------------ */

static int hqUsage(const char *msg)
{
    fprintf(stderr,
            "xchgctl: %s\n"
            "usage: xchgctl [-c CONFIG] [--json] query [--dir DIR] [--format table|csv|json] "
            "\"SQL\"\n"
            "  tables: orders, trades, rejects, klines (docs/storage/history.md)\n",
            msg);
    return 2;
}

int hqMain(int argc, char **argv, const char *configPath, int json)
{
    const char *dir = NULL, *sql = NULL;
    hqFormat fmt = json ? HQ_JSON : HQ_TABLE;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "--dir") || !strcmp(argv[i], "-d")) && i + 1 < argc)
            dir = argv[++i];
        else if ((!strcmp(argv[i], "--format") || !strcmp(argv[i], "-f")) && i + 1 < argc) {
            const char *f = argv[++i];
            if (!strcmp(f, "table"))
                fmt = HQ_TABLE;
            else if (!strcmp(f, "csv"))
                fmt = HQ_CSV;
            else if (!strcmp(f, "json"))
                fmt = HQ_JSON;
            else
                return hqUsage("--format is table, csv or json");
        } else if (argv[i][0] == '-' && argv[i][1] == '-')
            return hqUsage("unknown query option");
        else if (sql)
            return hqUsage("one SQL argument (quote it)");
        else
            sql = argv[i];
    }
    if (!sql)
        return hqUsage("no SQL given");
    char path[2 * CFG_PATH_MAX + 16];
    if (!dir) {
        cfgConfig cfg;
        char cerr[512];
        snprintf(path, sizeof path, "./data/sst/history");
        if (configPath && cfgLoad(configPath, &cfg, cerr, sizeof cerr) == 0) {
            snprintf(path, sizeof path, "%s/history", cfg.storage.sstDir);
            cfgFree(&cfg);
        } else if (configPath)
            fprintf(stderr, "xchgctl: %s; using %s\n", cerr, path);
        dir = path;
    }
    char err[1024];
    if (hqRun(dir, sql, fmt, stdout, err, sizeof err) < 0) {
        fprintf(stderr, "xchgctl: %s\n", err);
        return 1;
    }
    return 0;
}
