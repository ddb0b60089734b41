/*
 * plot.c: PLplot figures from a run's or a sweep's files; see plot.h.
 *
 * PLplot keeps global state per stream: each figure is one stream, set up
 * (device, file, page size, colours), drawn and ended with plend1 before
 * the next. This file has the shared drawing (figure set-up, panels,
 * rendering to PNG and SVG), the KV pool over time and the allocator
 * bars; plot_curves.c the sweep's figures; plot_table.c reads the CSV
 * files; plot_thin.c picks the rows of a long time series to draw (each
 * column of pixels' highest, or lowest and highest, rows).
 */
#define _POSIX_C_SOURCE 200809L

#include "analysis/plot_int.h"

#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- figures ---------------------------------------------------------- */

/* Colours (RGB) for series, distinguishable and printable. */
static const int palette[][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                 {188, 189, 34},  {23, 190, 207}};
_Static_assert(sizeof(palette) / sizeof(palette[0]) == NPALETTE, "NPALETTE is the palette's size");

/* Starts a figure on DEVICE into PATH (white background, black axes). */
void plot_fig_begin(const char *device, const char *path)
{
    plsdev(device);
    plsfnam(path);
    plspage(0, 0, AN_PLOT_WIDTH, AN_PLOT_HEIGHT, 0, 0);
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);
    for (size_t k = 0; k < NPALETTE; k++)
        plscol0((PLINT)(2 + k), palette[k][0], palette[k][1], palette[k][2]);
    plscol0(15, 200, 0, 0); /* objectives */
    plinit();
    plschr(0, 0.8); /* before any viewport: margins are in character heights */
}

static void range(const series *s, size_t ns, double extra, int logx, double *x0, double *x1,
                  double *y0, double *y1)
{
    *x0 = INFINITY;
    *x1 = -INFINITY;
    *y0 = 0;
    *y1 = extra > 0 ? extra : -INFINITY;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = logx ? log10(s[k].x[i]) : s[k].x[i];
            if (isfinite(x)) {
                *x0 = fmin(*x0, x);
                *x1 = fmax(*x1, x);
            }
            if (isfinite(s[k].y[i]))
                *y1 = fmax(*y1, s[k].y[i]);
            /* An interval's top inside the panel (its bar was cut). */
            if (s[k].err != NULL && isfinite(s[k].y[i]) && isfinite(s[k].err[i]) && s[k].err[i] > 0)
                *y1 = fmax(*y1, s[k].y[i] + s[k].err[i]);
        }
    if (!isfinite(*x0)) {
        *x0 = 0;
        *x1 = 1;
    }
    if (*x1 <= *x0) {
        *x0 -= 0.5;
        *x1 += 0.5;
    } else { /* 3 % each side: the end points' markers and lines inside the box */
        double pad = 0.03 * (*x1 - *x0);
        *x0 -= pad;
        *x1 += pad;
    }
    if (!isfinite(*y1) || *y1 <= 0)
        *y1 = 1;
    *y1 *= 1.08;
}

/* One panel in the page's viewport [VX0, VX1] x [VY0, VY1]: lines with
 * markers, optional horizontal objective lines; the legend is the
 * figure's (plot_legend_band). */
/* The categories of plot_x_categories (none: N 0). */
static const char *const *x_cats;
static size_t x_ncat;

void plot_x_categories(const char *const *names, size_t n)
{
    x_cats = names;
    x_ncat = n;
}

void plot_panel(double vx0, double vx1, double vy0, double vy1, const char *title,
                const char *xlabel, const char *ylabel, const series *s, size_t ns, int logx,
                int logy, const double *hlines, const char *const *hlabels, size_t nh)
{
    double x0, x1, y0, y1, top = 0;
    for (size_t k = 0; k < nh; k++)
        top = fmax(top, hlines[k]);
    range(s, ns, top, logx, &x0, &x1, &y0, &y1);
    if (x_ncat > 0) { /* each name at its place, half a place either side */
        logx = 0;
        x0 = -0.5;
        x1 = (double)x_ncat - 0.5;
    }
    if (logy) { /* decades from the smallest positive value to the largest */
        double lo = INFINITY;
        for (size_t k = 0; k < ns; k++)
            for (size_t i = 0; i < s[k].n; i++)
                if (s[k].y[i] > 0)
                    lo = fmin(lo, s[k].y[i]);
        for (size_t k = 0; k < nh; k++)
            if (hlines[k] > 0)
                lo = fmin(lo, hlines[k]);
        y0 = isfinite(lo) ? floor(log10(lo)) : 0;
        y1 = ceil(log10(y1 / 1.08));
        if (y1 <= y0)
            y1 = y0 + 1;
    }
    plvpor(vx0, vx1, vy0, vy1);
    plwind(x0, x1, y0, y1);
    plcol0(1);
    plschr(0, 0.8);
    /* A logarithmic x over many decades labels every few (each decade's
     * label ran into the next past about 7): PLplot labels every decade
     * of a log axis, so those labels are written here. */
    double xt = x_ncat == 0 && logx && x1 - x0 > 7 ? ceil((x1 - x0) / 6) : 0;
    plbox(x_ncat > 0 ? "bc"
          : xt > 0   ? "bcstl"
          : logx     ? "bcnstl"
                     : "bcnst",
          0, 0, logy ? "bcnstlv" : "bcnstv", 0, 0);
    for (double d = xt > 0 ? ceil(x0 / xt) * xt : 0; xt > 0 && d <= x1; d += xt) {
        char lab[32];
        snprintf(lab, sizeof(lab), "10#u%.0f#d", d + 0.0); /* no -0 */
        plmtex("b", 1.6, (d - x0) / (x1 - x0), 0.5, lab);
    }
    if (x_ncat > 0) {
        /* The names under their places, smaller where many share the axis
         * (a tick mark at each). */
        double w = vx1 - vx0, per = w / (double)x_ncat;
        size_t longest = 1;
        for (size_t k = 0; k < x_ncat; k++)
            longest = strlen(x_cats[k]) > longest ? strlen(x_cats[k]) : longest;
        double scale = fmin(0.8, per / ((double)longest * 0.014 + 1e-9));
        plschr(0, scale < 0.35 ? 0.35 : scale);
        for (size_t k = 0; k < x_ncat; k++) {
            double pos = ((double)k - x0) / (x1 - x0);
            plmtex("b", 1.6, pos, 0.5, x_cats[k]);
            PLFLT tx[2] = {(double)k, (double)k}, ty[2] = {y0, y0 + 0.015 * (y1 - y0)};
            if (logy)
                ty[1] = y0 + 0.015 * (y1 - y0);
            plline(2, tx, ty);
        }
        plschr(0, 0.8);
    }
    pllab(xlabel, ylabel, title);
    for (size_t k = 0; k < ns; k++) {
        PLFLT *xs = malloc(s[k].n * sizeof(PLFLT)), *ys = malloc(s[k].n * sizeof(PLFLT));
        if (xs == NULL || ys == NULL) {
            free(xs);
            free(ys);
            continue;
        }
        PLINT n = 0;
        for (size_t i = 0; i < s[k].n; i++) {
            double x = logx ? log10(s[k].x[i]) : s[k].x[i];
            double y = logy ? log10(s[k].y[i]) : s[k].y[i];
            if (isfinite(x) && isfinite(y)) {
                xs[n] = x;
                ys[n] = y;
                n++;
            }
        }
        plcol0((PLINT)(2 + k % NPALETTE));
        plwidth(2);
        if (n > 1)
            plline(n, xs, ys);
        plpoin(n, xs, ys, 17);
        if (s[k].err != NULL) {
            /* The seeds' 95 % intervals, mean +- half-width (on a log
             * axis a lower end at or below 0 is drawn to the axis). */
            plwidth(1);
            for (size_t i = 0; i < s[k].n; i++) {
                double x = logx ? log10(s[k].x[i]) : s[k].x[i], y = s[k].y[i], e = s[k].err[i];
                if (!isfinite(x) || !isfinite(y) || !isfinite(e) || e <= 0 || (logy && y <= 0))
                    continue;
                PLFLT bx[1] = {x}, lo[1] = {y - e}, hi[1] = {y + e};
                if (logy) {
                    lo[0] = lo[0] > 0 ? log10(lo[0]) : y0;
                    hi[0] = log10(hi[0]);
                }
                plerry(1, bx, lo, hi);
            }
        }
        free(xs);
        free(ys);
    }
    for (size_t k = 0; k < nh; k++) {
        double hv = logy ? log10(hlines[k]) : hlines[k];
        PLFLT hx[2] = {x0, x1}, hy[2] = {hv, hv};
        plcol0(15);
        plwidth(1.5);
        pllsty(2);
        plline(2, hx, hy);
        pllsty(1);
        /* Above its line, or below it near the top (it ran into the frame). */
        double above = hv + 0.01 * (y1 - y0), below = hv - 0.045 * (y1 - y0);
        plptex(x0 + 0.02 * (x1 - x0), hv > y0 + 0.9 * (y1 - y0) ? below : above, 1, 0, 0,
               hlabels[k]);
    }
    plwidth(1);
}

size_t plot_legend_rows(const series *s, size_t ns, size_t *ncol)
{
    if (ns < 2) {
        *ncol = 0;
        return 0;
    }
    /* As many columns as labels of the longest's width fit in the page
     * (about 110 characters of the legend's size across it), at most 4. */
    size_t longest = 1;
    for (size_t k = 0; k < ns && k < MAX_SERIES; k++)
        longest = strlen(s[k].label) > longest ? strlen(s[k].label) : longest;
    size_t n = ns < MAX_SERIES ? ns : MAX_SERIES, fit = 110 / (longest + 12);
    *ncol = fit < 1 ? 1 : fit > 4 ? 4 : fit;
    if (*ncol > n)
        *ncol = n;
    return (n + *ncol - 1) / *ncol;
}

void plot_legend_band(const series *s, size_t ns, double band)
{
    size_t ncol, rows = plot_legend_rows(s, ns, &ncol);
    if (rows == 0)
        return;
    PLINT opt[MAX_SERIES], colors[MAX_SERIES], styles[MAX_SERIES], mcolors[MAX_SERIES];
    PLFLT widths[MAX_SERIES], scales[MAX_SERIES];
    PLINT nsym[MAX_SERIES];
    const char *texts[MAX_SERIES], *syms[MAX_SERIES];
    size_t n = ns < MAX_SERIES ? ns : MAX_SERIES;
    for (size_t k = 0; k < n; k++) {
        opt[k] = PL_LEGEND_LINE;
        colors[k] = mcolors[k] = (PLINT)(2 + k % NPALETTE);
        styles[k] = 1;
        widths[k] = 2;
        scales[k] = 1;
        nsym[k] = 1;
        texts[k] = s[k].label;
        syms[k] = "";
    }
    plvpor(0.04, 0.96, 0.005, band);
    plwind(0, 1, 0, 1);
    plcol0(1);
    plschr(0, 0.8);
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_INSIDE, 0, 0.02, 0.05, 0, 1, 1, (PLINT)rows, (PLINT)ncol,
             (PLINT)n, opt, 1.0, 0.8, 2.0, 0.0, colors, texts, NULL, NULL, NULL, NULL, colors,
             styles, widths, mcolors, scales, nsym, syms);
}

/* Draws with DRAW into DIR/NAME.png and DIR/NAME.svg, each through a
 * temporary renamed over it. */
/* Whether PLplot has device NAME. Without it plinit would ask on standard
 * input which device to use (and a sweep's run would wait forever). */
static int have_device(const char *name)
{
    const char *menu_buf[64], *devs_buf[64];
    const char **menu = menu_buf, **devs = devs_buf;
    int n = 64; /* in: room; out: devices found */
    plgDevs(&menu, &devs, &n);
    for (int i = 0; i < n; i++)
        if (strcmp(devs[i], name) == 0)
            return 1;
    return 0;
}

int plot_render(const char *dir, const char *name, draw_fn draw, void *ctx, an_plot_info *info,
                char *err, size_t errlen)
{
    static const char *const dev[2] = {"pngcairo", "svgcairo"};
    static const char *const ext[2] = {"png", "svg"};
    char why[512];
    if (plot_dl_load(why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s/%s.png: %s", dir, name, why);
        return -1;
    }
    for (int k = 0; k < 2; k++)
        if (!have_device(dev[k])) {
            snprintf(err, errlen, "%s/%s.%s: PLplot has no %s device (install plplot-driver-cairo)",
                     dir, name, ext[k], dev[k]);
            return -1;
        }
    for (int k = 0; k < 2; k++) {
        char tmp[4200], path[4200];
        snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext[k]);
        snprintf(tmp, sizeof(tmp), "%s/.%s.%s.kvsim-%ld", dir, name, ext[k], (long)getpid());
        plot_fig_begin(dev[k], tmp);
        draw(ctx);
        plend1();
        FILE *chk = fopen(tmp, "rb");
        int ok = chk != NULL && fgetc(chk) != EOF;
        if (chk != NULL)
            fclose(chk);
        if (!ok || rename(tmp, path) != 0) {
            unlink(tmp);
            snprintf(err, errlen, "%s: cannot write the plot (PLplot %s device)", path, dev[k]);
            return -1;
        }
        if (info != NULL)
            info->files++;
    }
    return 0;
}

const char *const plot_mem_names[6] = {"token states",  "reservation",  "internal frag",
                                       "external frag", "blocked free", "free"};
const int plot_mem_rgb[6][3] = {{31, 119, 180}, {148, 103, 189}, {255, 127, 14},
                                {214, 39, 40},  {140, 86, 75},   {220, 220, 220}};

/* ---- memory over time ------------------------------------------------ */

static const char *const mem_cols[6] = {"token_states_bytes",  "reservation_bytes",
                                        "internal_frag_bytes", "external_frag_bytes",
                                        "blocked_free_bytes",  "free_bytes"};
typedef struct mem_ctx {
    PLFLT *t;      /* the area's times (N) */
    PLFLT *cum[7]; /* cumulative GiB: cum[0] = 0, cum[k+1] = cum[k] + category k */
    PLINT n;
    PLFLT *st;      /* the counts' times (SN) */
    PLFLT *seqs[2]; /* sequences running and requests waiting; NULL: not in the file */
    PLINT sn;
} mem_ctx;

/* The rows PICK (NP of them, ascending) of a time series as stairs: a
 * row holds until the next (the file leaves out rows that would repeat
 * the one before: an idle gap is one row, which a straight line to the
 * next drew as a ramp), so row j of PICK is point 2j, held to the next
 * row's time at 2j + 1. Fills *XS (times RT) and NY series YS: the
 * memory categories' cumulative GiB from table T's columns CC (CC not
 * NULL: 7 series, the first 0), or the rows of VALS. Returns nonzero
 * where out of memory. */
static int mem_stairs(PLFLT **xs, PLFLT **ys, int ny, PLINT *n, const double *rt,
                      const size_t *pick, size_t np, const table *t, const long *cc,
                      double *const *vals)
{
    size_t len = np > 1 ? 2 * np - 1 : np;
    *xs = malloc((len + 1) * sizeof(PLFLT));
    int oom = *xs == NULL;
    for (int k = 0; k < ny; k++)
        oom |= (ys[k] = malloc((len + 1) * sizeof(PLFLT))) == NULL;
    if (oom)
        return 1;
    for (size_t j = 0; j < np; j++) {
        size_t r = pick[j];
        double y[7];
        if (cc != NULL) {
            y[0] = 0;
            for (int k = 0; k < 6; k++) {
                double v = plot_table_num(t, r, cc[k]);
                y[k + 1] = y[k] + (isfinite(v) ? v : 0) / 1073741824.0;
            }
        } else {
            for (int k = 0; k < ny; k++)
                y[k] = isfinite(vals[k][r]) ? vals[k][r] : 0;
        }
        (*xs)[2 * j] = rt[r];
        for (int k = 0; k < ny; k++)
            ys[k][2 * j] = y[k];
        if (j + 1 < np) {
            (*xs)[2 * j + 1] = rt[pick[j + 1]];
            for (int k = 0; k < ny; k++)
                ys[k][2 * j + 1] = y[k];
        }
    }
    *n = (PLINT)len;
    return 0;
}

/* The lower panel of the memory figure: sequences running and requests
 * waiting over time, which says at a glance whether the replica keeps up
 * (a queue that only grows does not). */
static void draw_requests(const mem_ctx *m, double tmax)
{
    static const char *const names[2] = {"running", "waiting"};
    static const int rgb[2][3] = {{31, 119, 180}, {214, 39, 40}};
    double top = 0;
    for (int k = 0; k < 2; k++)
        for (PLINT i = 0; i < m->sn; i++)
            top = fmax(top, m->seqs[k][i]);
    plvpor(0.08, 0.74, 0.10, 0.32);
    plwind(0, tmax > 0 ? tmax : 1, 0, top > 0 ? top * 1.05 : 1);
    for (int k = 0; k < 2; k++) {
        plscol0(8 + k, rgb[k][0], rgb[k][1], rgb[k][2]);
        plcol0(8 + k);
        plwidth(1.5);
        if (m->sn >= 2)
            plline(m->sn, m->st, m->seqs[k]);
    }
    plwidth(1);
    plcol0(1);
    plschr(0, 0.8);
    plbox("bcnst", 0, 0, "bcnstv", 0, 3);
    pllab("simulated time (s)", "requests", "");
    PLINT opt[2] = {PL_LEGEND_LINE, PL_LEGEND_LINE}, colors[2] = {8, 9}, styles[2] = {1, 1};
    PLFLT widths[2] = {1.5, 1.5};
    const char *texts[2] = {names[0], names[1]};
    PLINT black[2] = {1, 1};
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0, 0.1, 0, 1, 1, 0, 0, 2, opt, 1.0,
             0.8, 2.0, 1.0, black, texts, NULL, NULL, NULL, NULL, colors, styles, widths, NULL,
             NULL, NULL, NULL);
}

static void draw_memory(void *ctx)
{
    mem_ctx *m = ctx;
    for (int k = 0; k < 6; k++)
        plscol0(2 + k, plot_mem_rgb[k][0], plot_mem_rgb[k][1], plot_mem_rgb[k][2]);
    double top = 0;
    for (PLINT i = 0; i < m->n; i++)
        top = fmax(top, m->cum[6][i]);
    double tmax = m->n ? m->t[m->n - 1] : 1;
    pladv(0);
    const bool two = m->seqs[0] != NULL;
    plvpor(0.08, 0.74, two ? 0.42 : 0.12, 0.9);
    plwind(0, tmax > 0 ? tmax : 1, 0, top > 0 ? top * 1.02 : 1);
    PLFLT *px = malloc(2 * (size_t)m->n * sizeof(PLFLT)),
          *py = malloc(2 * (size_t)m->n * sizeof(PLFLT));
    if (px != NULL && py != NULL && m->n >= 2) { /* one row (a run of one instant): no area */
        for (int k = 0; k < 6; k++) {
            for (PLINT i = 0; i < m->n; i++) {
                px[i] = m->t[i];
                py[i] = m->cum[k + 1][i];
                px[2 * m->n - 1 - i] = m->t[i];
                py[2 * m->n - 1 - i] = m->cum[k][i];
            }
            plcol0(2 + k);
            plfill(2 * m->n, px, py);
        }
    }
    free(px);
    free(py);
    plcol0(1);
    plschr(0, 0.8);
    plbox(two ? "bcst" : "bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(two ? "" : "simulated time (s)", "KV pool (GiB)",
          "KV pool over time, by category (replica 0)");
    PLINT opt[6], colors[6], pat[6], styles[6], black[6];
    PLFLT scales[6], spacings[6], widths[6];
    const char *texts[6];
    for (int k = 0; k < 6; k++) {
        int j = 5 - k; /* top of the stack first */
        opt[k] = PL_LEGEND_COLOR_BOX;
        colors[k] = 2 + j;
        pat[k] = 0;
        scales[k] = 0.8;
        spacings[k] = 0;
        widths[k] = 1;
        styles[k] = 1;
        texts[k] = plot_mem_names[j];
        black[k] = 1;
    }
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0, 0.1, 0, 1, 1, 0, 0, 6, opt, 1.0,
             0.8, 2.0, 1.0, black, texts, colors, pat, scales, spacings, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL);
    (void)styles;
    (void)widths;
    if (two)
        draw_requests(m, tmax);
}

int an_plot_memory(const char *dir, an_plot_info *info, char *err, size_t errlen)
{
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    char path[4200];
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    table t;
    if (plot_table_read(path, &t, err, errlen) != 0)
        return -1;
    long tc = plot_table_col(&t, "time_s"), cc[6];
    for (int k = 0; k < 6; k++) {
        cc[k] = plot_table_col(&t, mem_cols[k]);
        if (cc[k] < 0)
            tc = -1;
    }
    if (tc < 0 || t.rows == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no rows" : "not a kvsim time series (columns missing)");
        plot_table_free(&t);
        return -1;
    }
    /* Every row is checked, not only those drawn: a time that is not a
     * time, runs backwards, or a count that is not one (a hand edit, a
     * file cut and pasted together) is refused, never drawn as 0. */
    long sc[2] = {plot_table_col(&t, "running"), plot_table_col(&t, "waiting")};
    double prev = 0;
    for (size_t r = 0; r < t.rows; r++) {
        long cols[9] = {tc, cc[0], cc[1], cc[2], cc[3], cc[4], cc[5], sc[0], sc[1]};
        for (int k = 0; k < 9; k++) {
            if (cols[k] < 0)
                continue;
            double v = plot_table_num(&t, r, cols[k]);
            const char *why = !isfinite(v) ? "is not a finite number"
                              : v < 0      ? "is negative"
                              : k == 0 && v < prev
                                  ? "is earlier than the row before it (a time series runs forward)"
                                  : NULL;
            if (why != NULL) {
                snprintf(err, errlen, "%s: line %zu: column '%s': '%s' %s", path, t.line[r + 1],
                         t.header[cols[k]], t.cell[r * t.cols + (size_t)cols[k]], why);
                plot_table_free(&t);
                return -1;
            }
            if (k == 0)
                prev = v;
        }
    }
    /* Every row's time, the pool's non-free total (the stacked area's
     * top edge below free) and the two counts, for plot_thin_rows. */
    const size_t nr = t.rows;
    double *rt = malloc(nr * sizeof(double)), *used = malloc(nr * sizeof(double));
    double *cnt[2] = {NULL, NULL};
    size_t *pick = malloc(nr * sizeof(size_t));
    mem_ctx m;
    memset(&m, 0, sizeof(m));
    int oom = rt == NULL || used == NULL || pick == NULL;
    const bool two = sc[0] >= 0 && sc[1] >= 0;
    for (int k = 0; k < 2 && two; k++)
        oom |= (cnt[k] = malloc(nr * sizeof(double))) == NULL;
    if (!oom) {
        for (size_t r = 0; r < nr; r++) {
            rt[r] = plot_table_num(&t, r, tc);
            used[r] = 0;
            for (int k = 0; k < 5; k++) /* all but free */
                used[r] += plot_table_num(&t, r, cc[k]);
            for (int k = 0; k < 2 && two; k++)
                cnt[k][r] = plot_table_num(&t, r, sc[k]);
        }
        /* The area: each column's highest row, drawn as stairs. */
        const double *akey[1] = {used};
        size_t na = plot_thin_rows(rt, akey, 1, nr, THIN_COLS, 0, pick);
        oom |= mem_stairs(&m.t, m.cum, 7, &m.n, rt, pick, na, &t, cc, NULL);
        if (two && !oom) { /* the counts: each column's lowest and highest */
            const double *ckey[2] = {cnt[0], cnt[1]};
            size_t nc = plot_thin_rows(rt, ckey, 2, nr, THIN_COLS, 1, pick);
            oom |= mem_stairs(&m.st, m.seqs, 2, &m.sn, rt, pick, nc, &t, NULL, cnt);
        }
    }
    free(rt);
    free(used);
    free(pick);
    free(cnt[0]);
    free(cnt[1]);
    int rc = -1;
    if (oom)
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = plot_render(dir, "memory", draw_memory, &m, info, err, errlen);
    if (rc == 0 && info != NULL)
        info->series = m.seqs[0] != NULL ? 8 : 6;
    free(m.t);
    free(m.st);
    for (int k = 0; k < 7; k++)
        free(m.cum[k]);
    for (int k = 0; k < 2; k++)
        free(m.seqs[k]);
    plot_table_free(&t);
    return rc;
}

/* ---- allocator comparison -------------------------------------------- */

static const char *const cmp_cols[6] = {"avg_token_states_pct",  "avg_reservation_pct",
                                        "avg_internal_frag_pct", "avg_external_frag_pct",
                                        "avg_blocked_free_pct",  "avg_free_pct"};

typedef struct cmp_ctx {
    const table *t;
    long cols[6];
    long name;
    const char *what; /* what the runs differ in, for the title */
} cmp_ctx;

/* What a compare.csv's first column names (compare_out.h), for titles. */
const char *an_compare_subject(const char *label_col)
{
    if (strcmp(label_col, "kv_cache_dtype") == 0)
        return "KV-cache format";
    if (strcmp(label_col, "quantization") == 0)
        return "weight format";
    if (strcmp(label_col, "speculative") == 0)
        return "speculation";
    return "allocator";
}

static void draw_compare(void *ctx)
{
    cmp_ctx *c = ctx;
    for (int k = 0; k < 6; k++)
        plscol0(2 + k, plot_mem_rgb[k][0], plot_mem_rgb[k][1], plot_mem_rgb[k][2]);
    size_t n = c->t->rows;
    pladv(0);
    plvpor(0.08, 0.70, 0.2, 0.9);
    plwind(-0.5, (double)n - 0.5, 0, 100);
    for (size_t r = 0; r < n; r++) {
        double base = 0;
        for (int k = 0; k < 6; k++) {
            double v = plot_table_num(c->t, r, c->cols[k]);
            if (!isfinite(v) || v <= 0)
                continue;
            PLFLT x[4] = {(double)r - 0.35, (double)r + 0.35, (double)r + 0.35, (double)r - 0.35};
            PLFLT y[4] = {base, base, base + v, base + v};
            plcol0(2 + k);
            plfill(4, x, y);
            base += v;
        }
        plcol0(1);
        plschr(0, 0.7);
        /* Names longer than a bar's width would overlap their
         * neighbours': beyond three bars, every other name a line lower. */
        double disp = n > 3 && r % 2 == 1 ? 2.9 : 1.5;
        plmtex("b", disp, ((double)r + 0.5) / (double)n, 0.5,
               c->t->cell[r * c->t->cols + (size_t)c->name]);
    }
    plcol0(1);
    plschr(0, 0.8);
    plbox("bc", 0, 0, "bcnstv", 0, 0);
    char title[96];
    snprintf(title, sizeof(title), "KV pool breakdown by %s", c->what);
    pllab("", "% of the KV pool (time average)", title);
    PLINT opt[6], colors[6], pat[6], black[6];
    PLFLT scales[6], spacings[6];
    const char *texts[6];
    for (int k = 0; k < 6; k++) {
        int j = 5 - k;
        opt[k] = PL_LEGEND_COLOR_BOX;
        colors[k] = 2 + j;
        pat[k] = 0;
        scales[k] = 0.8;
        spacings[k] = 0;
        black[k] = 1;
        texts[k] = plot_mem_names[j];
    }
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0, 0.1, 0, 1, 1, 0, 0, 6, opt, 1.0,
             0.8, 2.0, 1.0, black, texts, colors, pat, scales, spacings, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL);
}

int an_plot_compare(const char *dir, an_plot_info *info, char *err, size_t errlen)
{
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    char path[4200];
    snprintf(path, sizeof(path), "%s/compare.csv", dir);
    table t;
    if (plot_table_read(path, &t, err, errlen) != 0)
        return -1;
    /* The runs' names: the first column (allocator, kv_cache_dtype,
     * quantization or speculative; compare_out.h). */
    cmp_ctx c = {&t, {0}, 0, an_compare_subject(t.cols > 0 ? t.header[0] : "")};
    int ok = t.cols > 0 && t.rows > 0;
    for (int k = 0; k < 6; k++)
        ok &= (c.cols[k] = plot_table_col(&t, cmp_cols[k])) >= 0;
    int rc = -1;
    if (!ok)
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no rows" : "not a kvsim compare file (columns missing)");
    else
        rc = plot_render(dir, "compare", draw_compare, &c, info, err, errlen);
    if (rc == 0 && info != NULL)
        info->series = (int)t.rows;
    plot_table_free(&t);
    return rc;
}
