/* cpulist.h -- parses the kernel's CPU list syntax ("0-3,8,10-11") used in /proc and /sys. */
#ifndef XCHG_CONTROL_CPULIST_H
#define XCHG_CONTROL_CPULIST_H

#include <stdint.h>

#define CPULIST_MAX 1024 /* CPUs a mask holds: CPULIST_MAX / 64 words */

/* Parses s into mask (CPULIST_MAX bits, cleared first): comma-separated CPU
 * numbers and ranges "a-b"; "all" sets every CPU; words such as isolcpus'
 * "domain" and "managed_irq" flags are skipped; a range's ":used/group"
 * stride suffix is accepted and the whole range taken (an over-estimate the
 * callers can live with). Parsing stops at the first blank or newline. CPUs
 * at or above CPULIST_MAX are ignored. Returns the number of distinct CPUs
 * set, or -1 for a malformed list (mask then undefined). Never reads past
 * the string's NUL. */
int cpuListParse(const char *s, uint64_t mask[CPULIST_MAX / 64]);

#endif
