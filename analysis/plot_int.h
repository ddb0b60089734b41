/*
 * plot_int.h: what the plot files share (analysis/plot.c: the KV pool
 * over time and allocator bars; plot_curves.c: sweep curves;
 * plot_table.c: the CSV files they read). Private to analysis/.
 */
#ifndef KVSIM_ANALYSIS_PLOT_INT_H
#define KVSIM_ANALYSIS_PLOT_INT_H

#include <plplot.h>
#include <stddef.h>

#include "analysis/plot.h"

#define MAX_POINTS 4000
#define MAX_SERIES 16

/* A CSV file as a table of strings. */
typedef struct table {
    char *text;  /* the file, cut into cells in place */
    char **cell; /* rows x cols */
    size_t rows; /* data rows (header excluded) */
    size_t cols;
    char **header; /* cols names */
} table;

/* Reads the CSV file PATH (quoted cells undone) into *T. Returns 0, or -1
 * with a one-line ERR (missing, empty, a row of the wrong width). */
int plot_table_read(const char *path, table *t, char *err, size_t errlen);

void plot_table_free(table *t);

/* The column called NAME, or -1. */
long plot_table_col(const table *t, const char *name);

/* Cell (R, C) as a number; NAN when empty, not a number, or C < 0. */
double plot_table_num(const table *t, size_t r, long c);

/* One line of a panel. */
typedef struct series {
    char label[128];
    double *x, *y;
    size_t n;
} series;

/* Colour map 0 entries 2.. for series, 15 for objectives. */
#define NPALETTE 10

/* The six KV categories' names and colours, bottom of the stack first. */
extern const char *const plot_mem_names[6];
extern const int plot_mem_rgb[6][3];

/* Starts a figure on DEVICE into PATH (white background, black axes,
 * the series palette). */
void plot_fig_begin(const char *device, const char *path);

/* One panel of the current subpage: lines with markers, logarithmic axes
 * on request, horizontal objective lines HLINES labelled HLABELS, a
 * legend when there is more than one line. */
void plot_panel(const char *title, const char *xlabel, const char *ylabel, const series *s,
                size_t ns, int logx, int logy, const double *hlines, const char *const *hlabels,
                size_t nh);

/* Draws with DRAW(CTX) into DIR/NAME.png and DIR/NAME.svg, each through a
 * temporary renamed over it (counted in INFO->files). Returns 0, or -1
 * with ERR. */
typedef void (*draw_fn)(void *ctx);
int plot_render(const char *dir, const char *name, draw_fn draw, void *ctx, an_plot_info *info,
                char *err, size_t errlen);

#endif
