/*
 * plot_thin.c: which rows of a long time series to draw; see plot_int.h.
 *
 * A figure's panel is about 660 pixels wide; a run's timeseries.csv can
 * hold hundreds of thousands of rows. Drawing them all costs PLplot and
 * cairo most of a second for a few thousand (and a 2 MB SVG), and every
 * k-th row, the thinning this replaces, drops whatever happens between
 * the kept rows: a peak of the KV pool one row wide was not drawn. Here
 * the time axis is cut into columns of equal width and each column keeps
 * the rows a full drawing would show in it: for a stacked area its
 * highest row (the area's top edge in that column, the categories as they
 * were at that instant), for a line its lowest and highest (the vertical
 * stroke a column of many points draws), in time order. The first and
 * last rows are always kept, so the drawing spans the run.
 */
#include "analysis/plot_int.h"

#include <math.h>
#include <stddef.h>

/* Column of time T among COLS over [T0, T1]. */
static size_t column(double t, double t0, double t1, size_t cols)
{
    if (!(t1 > t0))
        return 0;
    double c = (t - t0) / (t1 - t0) * (double)cols;
    if (!(c > 0))
        return 0;
    return c >= (double)cols ? cols - 1 : (size_t)c;
}

size_t plot_thin_rows(const double *t, const double *const *keys, size_t nkeys, size_t n,
                      size_t cols, int extremes, size_t *out)
{
    if (n == 0)
        return 0;
    if (cols == 0 || n <= 2 * cols) {
        for (size_t i = 0; i < n; i++)
            out[i] = i;
        return n;
    }
    const double t0 = t[0], t1 = t[n - 1];
    size_t m = 0, i = 0;
    out[m++] = 0; /* the drawing starts where the run does */
    /* Adds row R unless it is the last one added (rows come in order). */
#define KEEP(R)                                                                                    \
    do {                                                                                           \
        if (m == 0 || out[m - 1] != (R))                                                           \
            out[m++] = (R);                                                                        \
    } while (0)
    while (i < n) {
        size_t c = column(t[i], t0, t1, cols), end = i + 1;
        while (end < n && column(t[end], t0, t1, cols) == c)
            end++;
        /* Rows [i, end) share column c. */
        if (extremes) {
            /* Each key's lowest and highest row, in time order. */
            size_t pick[2 * 8];
            size_t np = 0;
            for (size_t k = 0; k < nkeys && k < 8; k++) {
                size_t lo = i, hi = i;
                for (size_t r = i + 1; r < end; r++) {
                    if (keys[k][r] < keys[k][lo])
                        lo = r;
                    if (keys[k][r] > keys[k][hi])
                        hi = r;
                }
                pick[np++] = lo;
                pick[np++] = hi;
            }
            /* A few rows: insertion sort, then kept once each. */
            for (size_t a = 1; a < np; a++)
                for (size_t b = a; b > 0 && pick[b - 1] > pick[b]; b--) {
                    size_t x = pick[b];
                    pick[b] = pick[b - 1];
                    pick[b - 1] = x;
                }
            for (size_t a = 0; a < np; a++)
                KEEP(pick[a]);
        } else {
            size_t hi = i; /* the highest of the first key (the first such row) */
            for (size_t r = i + 1; r < end; r++)
                if (keys[0][r] > keys[0][hi])
                    hi = r;
            KEEP(hi);
        }
        i = end;
    }
    KEEP(n - 1);
#undef KEEP
    return m;
}
