/* crc32c.h -- CRC32C (Castagnoli), with the SSE4.2 instruction when the build has it.
 *
 * The polynomial of iSCSI, ext4 and RocksDB (reflected 0x82F63B78). Results
 * are the standard check value: crc32c("123456789", 9) == 0xE3069283. The
 * hardware path is chosen at compile time (-march=native sets __SSE4_2__);
 * the table path is always built so tests can compare the two. */
#ifndef XCHG_STORAGE_CRC32C_H
#define XCHG_STORAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of n bytes at p. p may be NULL when n is 0. */
uint32_t crc32c(const void *p, size_t n);

/* Continues a CRC: crc32cExtend(crc32c(a, na), b, nb) == crc32c(a ++ b).
 * Start a fresh computation with crc 0. */
uint32_t crc32cExtend(uint32_t crc, const void *p, size_t n);

/* The same as crc32cExtend, always through the byte table (reference and
 * fallback). Thread-safe; the table is built on first use. */
uint32_t crc32cExtendSoft(uint32_t crc, const void *p, size_t n);

/* 1 if crc32c() uses the SSE4.2 instruction in this build, else 0. */
int crc32cHardware(void);

#endif
