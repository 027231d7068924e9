/* topview.h -- text rendering of xchgd's `top` and `stats` answers, for xchgctl.
 *
 * Pure functions from the JSON the daemon answers (dataplane/dpmetrics.c
 * builds it; docs/operations/metrics.md describes it) to text: `top` as a
 * screen of at most `height` lines of at most `width` columns (the caller
 * adds the terminal's escape sequences), `stats` as a set of aligned tables.
 * Missing or null fields print as "-", so an older or newer daemon still
 * renders. Nothing here talks to a socket or a terminal, so tests feed it
 * fixed answers. */
#ifndef XCHG_CONTROL_TOPVIEW_H
#define XCHG_CONTROL_TOPVIEW_H

#include <jansson.h>
#include <stdio.h>

/* A screen of the live view. title is the first line (xchgctl puts the
 * time and the socket there). Writes at most height lines, each cut to
 * width bytes and ended by "\n"; returns the number of lines written.
 * width < 20 or height < 1 write nothing. */
int tvRenderTop(const json_t *top, const char *title, int width, int height, FILE *out);

/* The `stats` answer as tables: SEGMENTS, LATENCY, DROPS, SESSIONS,
 * INSTRUMENTS, PORT, HOST (sections whose data is absent are left out). */
void tvRenderStats(const json_t *stats, FILE *out);

/* Formats a duration in nanoseconds with 3 significant digits and a unit
 * ("850ns", "12.3us", "1.20ms", "2.50s") into buf; "-" for a negative
 * value. Returns buf. */
char *tvFormatNs(long long ns, char *buf, size_t len);

#endif
