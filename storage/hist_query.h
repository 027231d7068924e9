/* hist_query.h -- SQL over the history SSTables: SQLite virtual tables and `xchgctl query`.
 *
 * The history tree (history.h) is opened read-only (lsmOpenReadOnly: the
 * tables of the current MANIFEST, mmap'd, so it works while xchgd writes
 * and compacts) and each history table is an eponymous SQLite virtual
 * table: `orders`, `trades`, `rejects`, `klines`. A constraint on a table's leading
 * key column (order_id, trade_id, ts) becomes a seek and a bounded scan;
 * everything else is a full scan filtered by SQLite. Nothing can be
 * written: the tables have no xUpdate and ATTACH is refused.
 * docs/storage/history.md lists the columns. */
#ifndef XCHG_STORAGE_HIST_QUERY_H
#define XCHG_STORAGE_HIST_QUERY_H

#include <stdio.h>

typedef enum { HQ_TABLE = 0, HQ_CSV = 1, HQ_JSON = 2 } hqFormat;

/* Runs sql (one or more statements) over the history in dir and prints the
 * rows of each to out in fmt. Returns 0, or -1 with a complete message in
 * err (no history there, damaged table with file and offset, SQL error). */
int hqRun(const char *dir, const char *sql, hqFormat fmt, FILE *out, char *err, size_t errLen);

/* `xchgctl query` after its global options: argv holds
 * [--dir DIR] [--format table|csv|json] SQL. The history directory is DIR,
 * else <sst_dir>/history of the config file configPath (NULL: none), else
 * ./data/sst/history. json: the global --json flag. Returns the exit status
 * (0 ok, 1 query error, 2 usage). */
int hqMain(int argc, char **argv, const char *configPath, int json);

#endif
