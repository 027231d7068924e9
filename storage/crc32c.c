/* crc32c.c -- CRC32C: SSE4.2 crc32 instruction, byte-table fallback. */
#include <pthread.h>
#include <string.h>

#include "storage/crc32c.h"

#if defined(__SSE4_2__) && defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HW 1
#else
#define CRC32C_HW 0
#endif

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crcTable[256];
static pthread_once_t crcTableOnce = PTHREAD_ONCE_INIT;

static void crcBuildTable(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
        crcTable[i] = c;
    }
}

uint32_t crc32cExtendSoft(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crcTableOnce, crcBuildTable);
    const unsigned char *b = p;
    uint32_t c = ~crc;
    while (n--)
        c = crcTable[(c ^ *b++) & 0xFF] ^ (c >> 8);
    return ~c;
}

#if CRC32C_HW
/* Eight bytes per instruction; memcpy keeps unaligned loads defined. */
static uint32_t crcExtendHw(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *b++);
    return ~c32;
}
#endif

uint32_t crc32cExtend(uint32_t crc, const void *p, size_t n)
{
#if CRC32C_HW
    return crcExtendHw(crc, p, n);
#else
    return crc32cExtendSoft(crc, p, n);
#endif
}

uint32_t crc32c(const void *p, size_t n)
{
    return crc32cExtend(0, p, n);
}

int crc32cHardware(void)
{
    return CRC32C_HW;
}
