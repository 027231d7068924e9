/* journal_host.c -- facts about the host that decide where the journal's writer should run. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "storage/journal.h"

int jnDiskIrqCpu(const char *dir)
{
    struct stat st;
    char link[128], path[PATH_MAX], tok[32] = "", line[1024];
    if (stat(dir, &st))
        return -1;
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    if (!realpath(link, path))
        return -1;
    for (char *c = strtok(path, "/"); c; c = strtok(NULL, "/")) {
        if ((!strncmp(c, "virtio", 6) && c[6] >= '0' && c[6] <= '9') ||
            (!strncmp(c, "nvme", 4) && c[4] >= '0' && c[4] <= '9'))
            snprintf(tok, sizeof tok, "%s", c);
    }
    FILE *f = fopen("/proc/interrupts", "r");
    if (!tok[0] || !f) {
        if (f)
            fclose(f);
        return -1;
    }
    unsigned long long count[64] = {0};
    int ncpu = 0, best = -1;
    if (fgets(line, sizeof line, f))
        for (char *c = strtok(line, " \t\n"); c && ncpu < 64; c = strtok(NULL, " \t\n"))
            ncpu++;
    while (fgets(line, sizeof line, f)) {
        char *name = strstr(line, tok);
        if (!name || (name[strlen(tok)] != '-' && name[strlen(tok)] != 'q'))
            continue;
        char *p = strchr(line, ':');
        for (int c = 0; p && c < ncpu; c++)
            count[c] += strtoull(p + 1, &p, 10);
    }
    fclose(f);
    for (int c = 0; c < ncpu; c++) {
        if (count[c] && (best < 0 || count[c] > count[best]))
            best = c;
    }
    return best;
}
