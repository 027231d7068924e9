/* hostcheck.h -- `xchgd --check-host`: which of docs/tuning.md's host settings this host has.
 *
 * Reads /proc and /sys only (under a root directory, "/" normally, a fixture
 * tree in tests) and never changes anything. Each item is ok, warn (the host
 * lacks it) or n/a (it cannot apply or cannot be read from /proc and /sys,
 * e.g. NIC ring sizes), with a detail and the command that checks it. */
#ifndef XCHG_CONTROL_HOSTCHECK_H
#define XCHG_CONTROL_HOSTCHECK_H

#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

#define HC_MAX_CPUS  1024 /* = CPULIST_MAX */
#define HC_MAX_ITEMS 16

typedef enum { HC_OK = 0, HC_WARN = 1, HC_NA = 2 } hcStatus;

typedef struct {
    char item[32];
    hcStatus status;
    char detail[256];
    char check[128]; /* the command an operator runs to see it */
} hcItem;

typedef struct {
    hcItem items[HC_MAX_ITEMS];
    int count, warnings;
    uint64_t workerMask[HC_MAX_CPUS / 64]; /* CPUs the checks are about */
    char workers[128];                     /* the same as a list, "1-3" */
} hcReport;

/* Parses a kernel CPU list into mask: cpuListParse (control/cpulist.h).
 * Returns the number of distinct CPUs set, -1 on a malformed list. */
int hcParseCpuList(const char *s, uint64_t mask[HC_MAX_CPUS / 64]);

/* Runs every check under root ("/" or a fixture directory). cfg gives the
 * worker lcores (= CPUs: xchgd's EAL maps lcore n to CPU n) and the ports;
 * NULL checks CPUs 1..N-1 of the host and no ports. Never fails: what cannot
 * be read is reported as such. */
void hcRun(const char *root, const cfgConfig *cfg, hcReport *out);

/* Prints the report as a table, or as one JSON object. */
void hcPrint(const hcReport *r, int json, FILE *f);

/* xchgd --check-host: loads configPath when it loads (a note otherwise),
 * runs, prints. Returns 0 (the exit status), whatever the host lacks. */
int hcMain(const char *configPath, const char *root, int json, FILE *f);

#endif
