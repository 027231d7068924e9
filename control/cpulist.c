/* cpulist.c -- the kernel's CPU list syntax, for --check-host (no other dependency: fuzzed alone).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "control/cpulist.h"

static void cpuListSet(uint64_t *m, unsigned long cpu)
{
    if (cpu < CPULIST_MAX)
        m[cpu / 64] |= 1ull << (cpu % 64);
}

int cpuListParse(const char *s, uint64_t mask[CPULIST_MAX / 64])
{
    memset(mask, 0, CPULIST_MAX / 8);
    while (s && *s && !isspace((unsigned char)*s)) {
        size_t tl = strcspn(s, ", \t\n\r\v\f");
        if (tl == 3 && strncmp(s, "all", 3) == 0) {
            memset(mask, 0xff, CPULIST_MAX / 8);
        } else if (tl > 0 && isdigit((unsigned char)*s)) {
            char *end;
            unsigned long a = strtoul(s, &end, 10), b = a;
            if (*end == '-') {
                if (!isdigit((unsigned char)end[1]))
                    return -1;
                b = strtoul(end + 1, &end, 10);
            }
            if ((size_t)(end - s) != tl && *end != ':')
                return -1;
            for (unsigned long c = a; c <= b && c < CPULIST_MAX; c++)
                cpuListSet(mask, c);
        } else if (tl > 0) {
            for (size_t i = 0; i < tl; i++) /* a flag word: letters and '_' only */
                if (!isalpha((unsigned char)s[i]) && s[i] != '_')
                    return -1;
        }
        s += tl;
        if (*s == ',')
            s++;
    }
    int n = 0;
    for (int i = 0; i < CPULIST_MAX / 64; i++)
        n += __builtin_popcountll(mask[i]);
    return n;
}
