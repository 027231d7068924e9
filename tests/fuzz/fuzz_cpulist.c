/* fuzz_cpulist.c -- libFuzzer target for the kernel CPU list parser (control/cpulist.c).
 *
 * The input, NUL-terminated, is parsed; when accepted, the count returned
 * must equal the bits set, and the mask printed back as a list ("a-b,c")
 * must parse to the same mask (a round trip). make fuzz compiles only this
 * file, so it includes control/cpulist.c. Seeds: tests/fuzz/corpus_cpulist. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cpulist.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    uint64_t m[CPULIST_MAX / 64], back[CPULIST_MAX / 64];
    int n = cpuListParse(s, m);
    free(s);
    if (n < 0)
        return 0;
    int bits = 0;
    for (int i = 0; i < CPULIST_MAX / 64; i++)
        bits += __builtin_popcountll(m[i]);
    if (bits != n)
        abort();
    static char list[CPULIST_MAX * 10];
    size_t at = 0;
    list[0] = 0;
    for (unsigned c = 0; c < CPULIST_MAX; c++) {
        if (!(m[c / 64] >> (c % 64) & 1))
            continue;
        unsigned e = c;
        while (e + 1 < CPULIST_MAX && (m[(e + 1) / 64] >> ((e + 1) % 64) & 1))
            e++;
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%u-%u", at ? "," : "", c, e);
        c = e;
    }
    if (cpuListParse(list, back) != n || memcmp(m, back, sizeof m) != 0)
        abort();
    return 0;
}
