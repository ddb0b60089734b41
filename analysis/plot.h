/*
 * plot.h: PNG and SVG plots drawn in-process with PLplot (its cairo
 * devices pngcairo and svgcairo), from the files a run or a sweep wrote,
 * so `kvsim plot DIR` draws the same pictures again:
 *
 * - memory.png/.svg from timeseries.csv: the KV pool over time, stacked
 *   by category (token states, reservation, internal and external
 *   fragmentation, blocked free, free), in GiB;
 * - curves.png/.svg from curves.csv: output throughput and mean TPOT
 *   against the first varied option, one line per combination of the
 *   other varied options;
 * - latency.png/.svg from curves.csv when the varied option is a load
 *   (request-rate, rate-scale, max-concurrency) or a search ran: TTFT, TPOT and E2EL
 *   percentiles against it, with find.json's objectives as horizontal
 *   lines.
 *
 * Each file is drawn to a temporary in the same folder and renamed over
 * its name, so it appears whole.
 */
#ifndef KVSIM_ANALYSIS_PLOT_H
#define KVSIM_ANALYSIS_PLOT_H

#include <stddef.h>

/* Plot size in pixels (PNG; the SVG has the same size in points). */
#define AN_PLOT_WIDTH 1000
#define AN_PLOT_HEIGHT 600

/* What a plot call drew (for tests and messages). */
typedef struct an_plot_info {
    int files;      /* files written */
    int series;     /* lines or areas of the last figure drawn */
    int points;     /* a sweep's figure: points with a number for x and y in its last panel */
    int categories; /* a sweep's figure over names: the names on its x axis (0: numbers) */
} an_plot_info;

/*
 * Draws DIR/memory.png and DIR/memory.svg from DIR/timeseries.csv.
 * Returns 0 (with *INFO, may be NULL), or -1 with a one-line ERR naming
 * the file and the reason (missing, malformed, empty, a write error).
 */
int an_plot_memory(const char *dir, an_plot_info *info, char *err, size_t errlen);

/*
 * Draws DIR/curves.* and, for a load sweep or a search, DIR/latency.*
 * from DIR/curves.csv (and DIR/find.json's objectives when present).
 * Returns 0, or -1 with a one-line ERR.
 */
int an_plot_curves(const char *dir, an_plot_info *info, char *err, size_t errlen);

/*
 * Draws DIR/compare.png and DIR/compare.svg from DIR/compare.csv (kvsim
 * compare --out): one bar per run (allocator, format or speculation: the
 * file's first column names them), the KV pool's time-averaged breakdown
 * stacked (percent of the pool). Returns 0, or -1 with ERR.
 */
int an_plot_compare(const char *dir, an_plot_info *info, char *err, size_t errlen);

/* What a compare.csv whose first column is LABEL_COL compares, in words
 * ("allocator", "KV-cache format", "weight format", "speculation"). */
const char *an_compare_subject(const char *label_col);

#endif
