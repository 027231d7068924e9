/* fuzz_prom.c -- libFuzzer target for the metrics server's HTTP request parsing (control/prom.c).
 *
 * The first input byte chooses how the rest arrives (reads of 1..256
 * bytes, as recv may split it); the rest is the request, cut to the
 * server's PROM_REQUEST_MAX - 1 bytes. Each read is scanned the way
 * promConnRead scans it (promScanHead, only the tail) and must find the
 * same end of head as a scan of everything received (promHeadEnd), never
 * an end past the data. A complete head is then parsed (promParseRequest):
 * the status must be one the server answers, 200 only for GET or HEAD of
 * /metrics, and HEAD only for a line starting "HEAD ". make fuzz compiles
 * only this file, so it includes control/prom.c. Seeds:
 * tests/fuzz/corpus_prom. */
#define _GNU_SOURCE /* before any libc header: prom.c needs accept4 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/prom.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    if (size > PROM_REQUEST_MAX - 1)
        size = PROM_REQUEST_MAX - 1;
    /* exactly the server's buffer, so ASan sees any write past it */
    char *in = malloc(PROM_REQUEST_MAX);
    if (!in)
        return 0;
    size_t inLen = 0, end = 0;
    while (inLen < size && !end) {
        size_t n = size - inLen < chunk ? size - inLen : chunk;
        memcpy(in + inLen, data + inLen, n);
        end = promScanHead(in, inLen, inLen + n);
        inLen += n;
        size_t whole = promHeadEnd(in, inLen);
        if (end != whole || end > inLen)
            abort();
    }
    if (!end) {
        free(in);
        return 0;
    }
    in[inLen] = '\0';
    char *copy = malloc(end);
    if (!copy) {
        free(in);
        return 0;
    }
    memcpy(copy, in, end);
    bool head = true;
    int st = promParseRequest(in, end, &head);
    if (st != 200 && st != 400 && st != 404 && st != 405 && st != 505)
        abort();
    if (head && memcmp(copy, "HEAD ", 5) != 0)
        abort();
    if (st == 200 && memcmp(copy, "GET /metrics", 12) != 0 &&
        memcmp(copy, "HEAD /metrics", 13) != 0)
        abort();
    free(copy);
    free(in);
    return 0;
}
