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

/* PLplot is not linked: plot_dl_load (plot_dl.c) opens it with dlopen at
 * the first figure, so a process that draws nothing does not load it.
 * Each PLplot function used here is a pointer it fills, X(name, symbol),
 * and the names plplot.h defines (plcol0 for c_plcol0, ...) call through
 * them; a new function joins PLOT_DL_FUNCS and the list of names below. */
#define PLOT_DL_FUNCS(X)                                                                           \
    X(pladv, c_pladv)                                                                              \
    X(plbox, c_plbox)                                                                              \
    X(plcol0, c_plcol0)                                                                            \
    X(plend1, c_plend1)                                                                            \
    X(plerry, c_plerry)                                                                            \
    X(plfill, c_plfill)                                                                            \
    X(plgDevs, plgDevs)                                                                            \
    X(plgvpw, c_plgvpw)                                                                            \
    X(plinit, c_plinit)                                                                            \
    X(pllab, c_pllab)                                                                              \
    X(pllegend, c_pllegend)                                                                        \
    X(plline, c_plline)                                                                            \
    X(pllsty, c_pllsty)                                                                            \
    X(plmtex, c_plmtex)                                                                            \
    X(plpoin, c_plpoin)                                                                            \
    X(plptex, c_plptex)                                                                            \
    X(plschr, c_plschr)                                                                            \
    X(plscol0, c_plscol0)                                                                          \
    X(plscolbg, c_plscolbg)                                                                        \
    X(plsdev, c_plsdev)                                                                            \
    X(plsfnam, c_plsfnam)                                                                          \
    X(plspage, c_plspage)                                                                          \
    X(plssub, c_plssub)                                                                            \
    X(plvpor, c_plvpor)                                                                            \
    X(plwidth, c_plwidth)                                                                          \
    X(plwind, c_plwind)

#define PLOT_DL_DECLARE(name, symbol) extern __typeof__(symbol) *plot_dl_##name;
PLOT_DL_FUNCS(PLOT_DL_DECLARE)
#undef PLOT_DL_DECLARE

#undef pladv
#define pladv (*plot_dl_pladv)
#undef plbox
#define plbox (*plot_dl_plbox)
#undef plcol0
#define plcol0 (*plot_dl_plcol0)
#undef plend1
#define plend1 (*plot_dl_plend1)
#undef plerry
#define plerry (*plot_dl_plerry)
#undef plfill
#define plfill (*plot_dl_plfill)
#undef plgDevs
#define plgDevs (*plot_dl_plgDevs)
#undef plgvpw
#define plgvpw (*plot_dl_plgvpw)
#undef plinit
#define plinit (*plot_dl_plinit)
#undef pllab
#define pllab (*plot_dl_pllab)
#undef pllegend
#define pllegend (*plot_dl_pllegend)
#undef plline
#define plline (*plot_dl_plline)
#undef pllsty
#define pllsty (*plot_dl_pllsty)
#undef plmtex
#define plmtex (*plot_dl_plmtex)
#undef plpoin
#define plpoin (*plot_dl_plpoin)
#undef plptex
#define plptex (*plot_dl_plptex)
#undef plschr
#define plschr (*plot_dl_plschr)
#undef plscol0
#define plscol0 (*plot_dl_plscol0)
#undef plscolbg
#define plscolbg (*plot_dl_plscolbg)
#undef plsdev
#define plsdev (*plot_dl_plsdev)
#undef plsfnam
#define plsfnam (*plot_dl_plsfnam)
#undef plspage
#define plspage (*plot_dl_plspage)
#undef plssub
#define plssub (*plot_dl_plssub)
#undef plvpor
#define plvpor (*plot_dl_plvpor)
#undef plwidth
#define plwidth (*plot_dl_plwidth)
#undef plwind
#define plwind (*plot_dl_plwind)

/* Loads PLplot once per process. Returns 0, or -1 with a one-line ERR
 * (the library missing or without one of the functions). */
int plot_dl_load(char *err, size_t errlen);

/* Columns a long time series is thinned to (plot_thin_rows): about one
 * a pixel of the memory figure's panels (AN_PLOT_WIDTH x 0.66). */
#define THIN_COLS 700

/* The rows of a time series of N rows (times T, ascending) to draw in a
 * panel COLS columns wide: all of them where N <= 2 x COLS; otherwise the
 * first and last rows and, in each column of time, the row with the
 * highest KEYS[0] (EXTREMES 0: a stacked area's top edge) or each of the
 * NKEYS (at most 8) keys' lowest and highest rows (EXTREMES 1: lines), in
 * time order, each once. Writes the rows' indices to OUT (room for N) and
 * returns how many. */
size_t plot_thin_rows(const double *t, const double *const *keys, size_t nkeys, size_t n,
                      size_t cols, int extremes, size_t *out);
#define MAX_SERIES 16

/* A CSV file as a table of strings. */
typedef struct table {
    char *text;  /* the file, cut into cells in place */
    char **cell; /* rows x cols */
    size_t rows; /* data rows (header excluded) */
    size_t cols;
    char **header; /* cols names */
    size_t *line;  /* the file's line of the header (0) and of each row (1..rows) */
} table;

/* Reads the CSV file PATH (quoted cells undone, blank lines skipped, CRLF
 * taken) into *T. Returns 0, or -1 with a one-line ERR (missing, empty, a
 * row of the wrong width, a cell that is not a number in a column of
 * numbers). */
int plot_table_read(const char *path, table *t, char *err, size_t errlen);

void plot_table_free(table *t);

/* The column called NAME, or -1. */
long plot_table_col(const table *t, const char *name);

/* Cell (R, C) as a number; NAN when empty, not a number, or C < 0. */
double plot_table_num(const table *t, size_t r, long c);

/* On a max-num-seqs sweep's table T (x in column XCOL), the line GROUP's
 * knee and KV ceiling (the rows of SERIES_OF_ROW[r] == GROUP), in its x
 * units; NAN where there is none (plot_curves.c says how). */
void plot_batch_limits(const table *t, long xcol, const size_t *series_of_row, size_t group,
                       double *knee, double *ceiling);

/* One line of a panel. */
typedef struct series {
    char label[128];
    double *x, *y;
    double
        *err; /* each point's 95 % confidence half-width over seeds, drawn as a bar; NULL: none */
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

/* One panel in the page's viewport [VX0, VX1] x [VY0, VY1] (normalized
 * page coordinates, the page one subpage): lines with markers,
 * logarithmic axes on request, horizontal objective lines HLINES labelled
 * HLABELS. A figure with several lines gives them one legend, below its
 * panels (plot_legend_band). */
void plot_panel(double vx0, double vx1, double vy0, double vy1, const char *title,
                const char *xlabel, const char *ylabel, const series *s, size_t ns, int logx,
                int logy, const double *hlines, const char *const *hlabels, size_t nh);

/* Until called again with N 0, the panels' x axis is categorical: x = k
 * is NAMES[k] (K < N), written under its place instead of numbers (a
 * sweep over GPUs or formats). NAMES must outlive the panels. */
void plot_x_categories(const char *const *names, size_t n);

/* The rows of the legend of NS series S (0: none, for one series) and its
 * columns (*NCOL). */
size_t plot_legend_rows(const series *s, size_t ns, size_t *ncol);

/* The legend of the NS series S (none for one) across the bottom of the
 * page, in the band [0, BAND] of its height. */
void plot_legend_band(const series *s, size_t ns, double band);

/* Draws with DRAW(CTX) into DIR/NAME.png and DIR/NAME.svg, each through a
 * temporary renamed over it (counted in INFO->files). Returns 0, or -1
 * with ERR. */
typedef void (*draw_fn)(void *ctx);
int plot_render(const char *dir, const char *name, draw_fn draw, void *ctx, an_plot_info *info,
                char *err, size_t errlen);

#endif
