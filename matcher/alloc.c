/* alloc.c -- the matcher's default memory provider: hugepages when the host has them.
 *
 * Large, long-lived regions (order pools, level arrays, benchmark command
 * arrays) come from libhugetlbfs when hugepages are configured and free, so
 * the hot path walks them with few TLB misses; otherwise from anonymous
 * mmap. Either way the memory is zeroed and touched once here, at start-up. */
#include <stddef.h> /* hugetlbfs.h uses size_t without including it */
#include <hugetlbfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "matcher/matcher.h"

#define MT_REGION_HUGE 1
#define MT_REGION_MMAP 2
#define MT_HEADER      64 /* keeps the caller's pointer 64-byte aligned */

/* Free hugepages of the default size according to /proc/meminfo; 0 if none
 * or unknown. */
static long allocFreeHugepages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[128];
    long n = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
            break;
    }
    fclose(f);
    return n;
}

/* Hugepages only pay for regions of at least half a page: a small region
 * would pin a whole 2 MiB page for a few bytes. */
static int allocHugeUsable(size_t bytes)
{
    long pagesz = gethugepagesize();
    if (pagesz <= 0 || bytes < (size_t)pagesz / 2 || !hugetlbfs_find_path())
        return 0;
    return (size_t)allocFreeHugepages() * (size_t)pagesz >= bytes;
}

static void *allocRegion(void *ctx, size_t bytes)
{
    (void)ctx;
    size_t total = bytes + MT_HEADER;
    unsigned char *base = NULL;
    int kind = MT_REGION_MMAP;
    if (allocHugeUsable(total)) {
        base = get_hugepage_region(total, GHR_STRICT);
        if (base)
            kind = MT_REGION_HUGE;
    }
    if (!base) {
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
            return NULL;
    }
    memset(base, 0, total); /* fault every page in now, not on the hot path */
    base[0] = (unsigned char)kind;
    return base + MT_HEADER;
}

static void freeRegion(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - MT_HEADER;
    if (base[0] == MT_REGION_HUGE)
        free_hugepage_region(base);
    else
        munmap(base, bytes + MT_HEADER);
}

static const mtAllocator mtDefault = {allocRegion, freeRegion, NULL};

const mtAllocator *mtDefaultAllocator(void)
{
    return &mtDefault;
}
