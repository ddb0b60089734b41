/*
 * plot.c: PLplot figures from a run's or a sweep's files; see plot.h.
 *
 * PLplot keeps global state per stream: each figure is one stream, set up
 * (device, file, page size, colours), drawn and ended with plend1 before
 * the next. The files are read whole into a small table of strings; a
 * time series longer than MAX_POINTS rows is thinned to every k-th row
 * (the last one kept) so an hour-long run draws in milliseconds.
 */
#define _POSIX_C_SOURCE 200809L

#include "analysis/plot.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POINTS 4000
#define MAX_SERIES 16

/* ---- a CSV file as a table of strings ------------------------------- */

typedef struct table {
    char *text;  /* the file, cut into cells in place */
    char **cell; /* rows x cols */
    size_t rows; /* data rows (header excluded) */
    size_t cols;
    char **header; /* cols names */
} table;

static void table_free(table *t)
{
    free(t->text);
    free(t->cell);
    free(t->header);
    memset(t, 0, sizeof(*t));
}

/* Splits LINE (NUL-terminated, modified) into at most MAX cells, quotes
 * ("a,b", "" for a quote) undone; returns the number of cells. */
static size_t split_csv(char *line, char **out, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return n;
        char *w = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    break;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        char end = *p;
        *w = '\0';
        out[n++] = start;
        if (end != ',')
            return n;
        p++;
    }
}

static int table_read(const char *path, table *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    t->text = malloc(cap + 1);
    for (;;) {
        if (t->text == NULL)
            break;
        size_t got = fread(t->text + len, 1, cap - len, fp);
        len += got;
        if (len < cap)
            break;
        cap *= 2;
        char *nt = realloc(t->text, cap + 1);
        if (nt == NULL) {
            free(t->text);
            t->text = NULL;
            break;
        }
        t->text = nt;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (t->text == NULL || bad) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        table_free(t);
        return -1;
    }
    t->text[len] = '\0';
    /* Lines. */
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++)
        nlines += t->text[i] == '\n';
    nlines++;
    char **lines = malloc(nlines * sizeof(char *));
    if (lines == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        table_free(t);
        return -1;
    }
    size_t nl = 0;
    for (char *p = t->text; *p;) {
        char *e = strchr(p, '\n');
        if (e != NULL)
            *e = '\0';
        if (*p)
            lines[nl++] = p;
        if (e == NULL)
            break;
        p = e + 1;
    }
    if (nl < 1) {
        snprintf(err, errlen, "%s: empty file", path);
        free(lines);
        table_free(t);
        return -1;
    }
    char *hdr[4096];
    t->cols = split_csv(lines[0], hdr, 4096);
    t->header = malloc(t->cols * sizeof(char *));
    t->rows = nl - 1;
    t->cell = malloc((t->rows ? t->rows : 1) * t->cols * sizeof(char *));
    if (t->header == NULL || t->cell == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(lines);
        table_free(t);
        return -1;
    }
    memcpy(t->header, hdr, t->cols * sizeof(char *));
    for (size_t r = 0; r < t->rows; r++) {
        size_t got = split_csv(lines[r + 1], t->cell + r * t->cols, t->cols);
        if (got != t->cols) {
            snprintf(err, errlen, "%s: line %zu: %zu fields, the header has %zu", path, r + 2, got,
                     t->cols);
            free(lines);
            table_free(t);
            return -1;
        }
    }
    free(lines);
    return 0;
}

static long table_col(const table *t, const char *name)
{
    for (size_t c = 0; c < t->cols; c++)
        if (strcmp(t->header[c], name) == 0)
            return (long)c;
    return -1;
}

/* Cell (R, C) as a number; NAN when empty or not a number. */
static double table_num(const table *t, size_t r, long c)
{
    if (c < 0)
        return NAN;
    const char *s = t->cell[r * t->cols + (size_t)c];
    char *end;
    double v = strtod(s, &end);
    return (*s == '\0' || *end != '\0') ? NAN : v;
}

/* ---- figures ---------------------------------------------------------- */

typedef struct series {
    char label[128];
    double *x, *y;
    size_t n;
} series;

/* Colours (RGB) for series, distinguishable and printable. */
static const int palette[][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                 {188, 189, 34},  {23, 190, 207}};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

/* Starts a figure on DEVICE into PATH (white background, black axes). */
static void fig_begin(const char *device, const char *path)
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
        }
    if (!isfinite(*x0)) {
        *x0 = 0;
        *x1 = 1;
    }
    if (*x1 <= *x0) {
        *x0 -= 0.5;
        *x1 += 0.5;
    }
    if (!isfinite(*y1) || *y1 <= 0)
        *y1 = 1;
    *y1 *= 1.08;
}

/* One panel: lines with markers, optional horizontal objective lines, a
 * legend when there is more than one line. */
static void panel(const char *title, const char *xlabel, const char *ylabel, const series *s,
                  size_t ns, int logx, int logy, const double *hlines, const char *const *hlabels,
                  size_t nh)
{
    double x0, x1, y0, y1, top = 0;
    for (size_t k = 0; k < nh; k++)
        top = fmax(top, hlines[k]);
    range(s, ns, top, logx, &x0, &x1, &y0, &y1);
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
    pladv(0);
    plvpor(0.24, 0.94, 0.13, 0.9); /* fixed margins: the same box in every subpage */
    plwind(x0, x1, y0, y1);
    plcol0(1);
    plschr(0, 0.8);
    plbox(logx ? "bcnstl" : "bcnst", 0, 0, logy ? "bcnstlv" : "bcnstv", 0, 0);
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
        plptex(x0 + 0.02 * (x1 - x0), hv + 0.01 * (y1 - y0), 1, 0, 0, hlabels[k]);
    }
    plwidth(1);
    if (ns > 1) {
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
        PLFLT w, h;
        plcol0(1);
        pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
                 PL_POSITION_TOP | PL_POSITION_LEFT | PL_POSITION_INSIDE, 0.02, 0.02, 0.1, 0, 1, 1,
                 0, 0, (PLINT)n, opt, 1.0, 0.8, 2.0, 1.0, colors, texts, NULL, NULL, NULL, NULL,
                 colors, styles, widths, mcolors, scales, nsym, syms);
    }
}

/* Draws with DRAW into DIR/NAME.png and DIR/NAME.svg, each through a
 * temporary renamed over it. */
typedef void (*draw_fn)(void *ctx);
static int render(const char *dir, const char *name, draw_fn draw, void *ctx, an_plot_info *info,
                  char *err, size_t errlen)
{
    static const char *const dev[2] = {"pngcairo", "svgcairo"};
    static const char *const ext[2] = {"png", "svg"};
    for (int k = 0; k < 2; k++) {
        char tmp[4200], path[4200];
        snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext[k]);
        snprintf(tmp, sizeof(tmp), "%s/.%s.%s.kvsim-%ld", dir, name, ext[k], (long)getpid());
        fig_begin(dev[k], tmp);
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

/* ---- memory over time ------------------------------------------------ */

static const char *const mem_cols[6] = {"token_states_bytes",  "reservation_bytes",
                                        "internal_frag_bytes", "external_frag_bytes",
                                        "blocked_free_bytes",  "free_bytes"};
static const char *const mem_names[6] = {"token states",  "reservation",  "internal frag",
                                         "external frag", "blocked free", "free"};
static const int mem_rgb[6][3] = {{31, 119, 180}, {148, 103, 189}, {255, 127, 14},
                                  {214, 39, 40},  {140, 86, 75},   {220, 220, 220}};

typedef struct mem_ctx {
    PLFLT *t;
    PLFLT *cum[7]; /* cumulative GiB: cum[0] = 0, cum[k+1] = cum[k] + category k */
    PLINT n;
} mem_ctx;

static void draw_memory(void *ctx)
{
    mem_ctx *m = ctx;
    for (int k = 0; k < 6; k++)
        plscol0(2 + k, mem_rgb[k][0], mem_rgb[k][1], mem_rgb[k][2]);
    double top = 0;
    for (PLINT i = 0; i < m->n; i++)
        top = fmax(top, m->cum[6][i]);
    double tmax = m->n ? m->t[m->n - 1] : 1;
    pladv(0);
    plvpor(0.08, 0.74, 0.12, 0.9);
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
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("simulated time (s)", "KV pool (GiB)", "KV pool over time, by category (replica 0)");
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
        texts[k] = mem_names[j];
        black[k] = 1;
    }
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0, 0.1, 0, 1, 1, 0, 0, 6, opt, 1.0,
             0.8, 2.0, 1.0, black, texts, colors, pat, scales, spacings, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL);
    (void)styles;
    (void)widths;
}

int an_plot_memory(const char *dir, an_plot_info *info, char *err, size_t errlen)
{
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    char path[4200];
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    table t;
    if (table_read(path, &t, err, errlen) != 0)
        return -1;
    long tc = table_col(&t, "time_s"), cc[6];
    for (int k = 0; k < 6; k++) {
        cc[k] = table_col(&t, mem_cols[k]);
        if (cc[k] < 0)
            tc = -1;
    }
    if (tc < 0 || t.rows == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no rows" : "not a kvsim time series (columns missing)");
        table_free(&t);
        return -1;
    }
    size_t step = t.rows > MAX_POINTS ? (t.rows + MAX_POINTS - 1) / MAX_POINTS : 1;
    size_t n = (t.rows + step - 1) / step + 1;
    mem_ctx m;
    memset(&m, 0, sizeof(m));
    m.t = malloc(n * sizeof(PLFLT));
    int oom = m.t == NULL;
    for (int k = 0; k < 7; k++)
        oom |= (m.cum[k] = malloc(n * sizeof(PLFLT))) == NULL;
    if (!oom) {
        for (size_t r = 0; r < t.rows; r += step) {
            size_t row = r + step >= t.rows ? t.rows - 1 : r; /* the last row is kept */
            m.t[m.n] = table_num(&t, row, tc);
            m.cum[0][m.n] = 0;
            for (int k = 0; k < 6; k++) {
                double v = table_num(&t, row, cc[k]);
                m.cum[k + 1][m.n] = m.cum[k][m.n] + (isfinite(v) ? v : 0) / 1073741824.0;
            }
            m.n++;
            if (row == t.rows - 1)
                break;
        }
    }
    int rc = -1;
    if (oom)
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = render(dir, "memory", draw_memory, &m, info, err, errlen);
    if (rc == 0 && info != NULL)
        info->series = 6;
    free(m.t);
    for (int k = 0; k < 7; k++)
        free(m.cum[k]);
    table_free(&t);
    return rc;
}

/* ---- sweep curves ---------------------------------------------------- */

typedef struct curves_ctx {
    const char *xname;
    int logx;
    series *s;
    size_t ns;
    int latency;   /* draw the latency figure (else throughput and TPOT) */
    double slo[8]; /* objectives of find.json, per panel (NAN: none) */
    char slo_label[8][96];
    const table *t;
    const size_t *series_of_row;
} curves_ctx;

/* Fills CTX->s with column COL against the x column, one series per
 * group. Returns the number of series. */
static size_t fill_series(curves_ctx *c, long xcol, long col, char (*labels)[128], size_t ngroups)
{
    for (size_t g = 0; g < ngroups; g++) {
        c->s[g].n = 0;
        snprintf(c->s[g].label, sizeof(c->s[g].label), "%s", labels[g]);
    }
    for (size_t r = 0; r < c->t->rows; r++) {
        series *s = &c->s[c->series_of_row[r]];
        s->x[s->n] = table_num(c->t, r, xcol);
        s->y[s->n] = table_num(c->t, r, col);
        s->n++;
    }
    return ngroups;
}

typedef struct curves_draw {
    curves_ctx *c;
    long xcol;
    char (*labels)[128];
    size_t ngroups;
    an_plot_info *info;
} curves_draw;

/* A dashed vertical line at X (world units of the current panel), labelled. */
static void vline(double x, int logx, const char *label, int color)
{
    PLFLT xmin, xmax, ymin, ymax;
    plgvpw(&xmin, &xmax, &ymin, &ymax);
    double xv = logx ? log10(x) : x;
    PLFLT vx[2] = {xv, xv}, vy[2] = {ymin, ymax};
    plcol0(color);
    pllsty(2);
    plline(2, vx, vy);
    pllsty(1);
    plschr(0, 0.6);
    plptex(xv, ymin + 0.04 * (ymax - ymin), 0, 1, 0, label);
    plschr(0, 0.8);
}

/* On a max-num-seqs sweep (the first group), marks where the curve bends
 * and where the KV pool, not the limit, caps the batch: the knee is the
 * first point whose throughput gain over the previous one is under half
 * of proportional (decode has turned compute-bound: a bigger batch makes
 * each step longer); the ceiling is the first point whose largest batch
 * (batch.max_running) stayed below its max-num-seqs, or that preempted. */
static void mark_batch_limits(const curves_ctx *c, long xcol)
{
    long thr = table_col(c->t, "vllm_bench.output_throughput");
    long run = table_col(c->t, "batch.max_running"), pre = table_col(c->t, "preemptions");
    double knee = NAN, ceiling = NAN, px = NAN, pt = NAN;
    for (size_t r = 0; r < c->t->rows; r++) {
        if (c->series_of_row[r] != 0)
            continue;
        double x = table_num(c->t, r, xcol), t = table_num(c->t, r, thr);
        if (isnan(knee) && px > 0 && pt > 0 && x > px && t / pt < 1 + 0.5 * (x / px - 1))
            knee = x;
        if (isnan(ceiling) && (table_num(c->t, r, run) < x || table_num(c->t, r, pre) > 0))
            ceiling = x;
        px = x;
        pt = t;
    }
    if (!isnan(knee))
        vline(knee, c->logx, "knee", 15);
    if (!isnan(ceiling))
        vline(ceiling, c->logx, "KV capacity", 8);
}

static void draw_curves(void *ctx)
{
    curves_draw *d = ctx;
    curves_ctx *c = d->c;
    char xl[160];
    snprintf(xl, sizeof(xl), "%s", c->xname);
    if (!c->latency) {
        plssub(2, 1);
        size_t ns = fill_series(c, d->xcol, table_col(c->t, "vllm_bench.output_throughput"),
                                d->labels, d->ngroups);
        panel("Output throughput", xl, "output tokens/s", c->s, ns, c->logx, 0, NULL, NULL, 0);
        if (strcmp(c->xname, "max-num-seqs") == 0)
            mark_batch_limits(c, d->xcol);
        ns = fill_series(c, d->xcol, table_col(c->t, "vllm_bench.mean_tpot_ms"), d->labels,
                         d->ngroups);
        panel("Time per output token", xl, "mean TPOT (ms)", c->s, ns, c->logx, 0, NULL, NULL, 0);
        if (d->info != NULL)
            d->info->series = (int)ns;
        return;
    }
    plssub(3, 1);
    static const char *const metric[3] = {"ttft", "tpot", "e2el"};
    static const char *const title[3] = {"TTFT", "TPOT", "E2EL"};
    int drawn = 0;
    for (int m = 0; m < 3; m++) {
        /* p50, p90, p99 of the metric, the first group only. */
        static const char *const pct[3] = {"median", "p90", "p99"};
        series s3[3];
        double *buf = malloc(6 * c->t->rows * sizeof(double) + 1);
        if (buf == NULL)
            return;
        for (int p = 0; p < 3; p++) {
            char col[96];
            snprintf(col, sizeof(col), "vllm_bench.%s_%s_ms", pct[p], metric[m]);
            long cc = table_col(c->t, col);
            s3[p].x = buf + (size_t)(2 * p) * c->t->rows;
            s3[p].y = s3[p].x + c->t->rows;
            s3[p].n = 0;
            snprintf(s3[p].label, sizeof(s3[p].label), "%s", pct[p]);
            for (size_t r = 0; r < c->t->rows; r++) {
                s3[p].x[s3[p].n] = table_num(c->t, r, d->xcol);
                s3[p].y[s3[p].n] = table_num(c->t, r, cc);
                s3[p].n++;
            }
        }
        double h[1] = {0};
        const char *hl[1] = {""};
        size_t nh = 0;
        if (!isnan(c->slo[m])) {
            h[0] = c->slo[m];
            hl[0] = c->slo_label[m];
            nh = 1;
        }
        char yl[64];
        snprintf(yl, sizeof(yl), "%s (ms)", title[m]);
        panel(title[m], xl, yl, s3, 3, c->logx, 1, h, hl, nh);
        drawn = 3;
        free(buf);
    }
    if (d->info != NULL)
        d->info->series = drawn;
}

/* The objectives of DIR/find.json that name a TTFT, TPOT or E2EL figure,
 * into C's per-panel lines. */
static void read_objectives(const char *dir, curves_ctx *c)
{
    for (int m = 0; m < 8; m++)
        c->slo[m] = NAN;
    char path[4200];
    snprintf(path, sizeof(path), "%s/find.json", dir);
    if (access(path, R_OK) != 0)
        return;
    json_t *root = json_load_file(path, 0, NULL);
    json_t *slo = root ? json_object_get(root, "slo") : NULL;
    const char *key;
    json_t *v;
    static const char *const metric[3] = {"_ttft_ms", "_tpot_ms", "_e2el_ms"};
    if (slo != NULL)
        json_object_foreach(slo, key, v)
        {
            for (int m = 0; m < 3; m++) {
                const char *hit = strstr(key, metric[m]);
                if (hit != NULL && hit[strlen(metric[m])] == '\0' && json_is_number(v)) {
                    c->slo[m] = json_number_value(v);
                    snprintf(c->slo_label[m], sizeof(c->slo_label[m]), "SLO %g ms", c->slo[m]);
                }
            }
        }
    json_decref(root);
}

int an_plot_curves(const char *dir, an_plot_info *info, char *err, size_t errlen)
{
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    char path[4200];
    snprintf(path, sizeof(path), "%s/curves.csv", dir);
    table t;
    if (table_read(path, &t, err, errlen) != 0)
        return -1;
    long seeds = table_col(&t, "seeds");
    if (t.cols < 3 || seeds < 2 || strcmp(t.header[0], "point") != 0 || t.rows == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no points" : "not a kvsim curves file (no point, seeds columns)");
        table_free(&t);
        return -1;
    }
    long xcol = 1;
    size_t nother = (size_t)seeds - 2; /* other varied options, between x and seeds */
    /* Groups: one per combination of the other varied values, in order. */
    char(*labels)[128] = calloc(MAX_SERIES, 128);
    size_t *grp = calloc(t.rows, sizeof(size_t));
    series s[MAX_SERIES];
    double *buf = malloc(2 * MAX_SERIES * t.rows * sizeof(double) + 1);
    if (labels == NULL || grp == NULL || buf == NULL) {
        free(labels);
        free(grp);
        free(buf);
        table_free(&t);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t ngroups = 0;
    for (size_t r = 0; r < t.rows; r++) {
        char lab[128] = "";
        for (size_t k = 0; k < nother; k++) {
            size_t len = strlen(lab);
            snprintf(lab + len, sizeof(lab) - len, "%s%s=%s", k ? " " : "", t.header[2 + k],
                     t.cell[r * t.cols + 2 + k]);
        }
        size_t g = 0;
        while (g < ngroups && strcmp(labels[g], lab) != 0)
            g++;
        if (g == ngroups) {
            if (ngroups == MAX_SERIES) {
                g = MAX_SERIES - 1; /* more groups than colours: the rest join the last */
            } else {
                snprintf(labels[g], 128, "%s", lab);
                ngroups++;
            }
        }
        grp[r] = g;
    }
    for (size_t g = 0; g < MAX_SERIES; g++) {
        s[g].x = buf + 2 * g * t.rows;
        s[g].y = s[g].x + t.rows;
        s[g].n = 0;
    }
    /* A logarithmic x when the values are positive and span 16x or more. */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t r = 0; r < t.rows; r++) {
        double x = table_num(&t, r, xcol);
        lo = fmin(lo, x);
        hi = fmax(hi, x);
    }
    curves_ctx c;
    memset(&c, 0, sizeof(c));
    c.xname = t.header[xcol];
    c.logx = lo > 0 && hi / lo >= 16;
    c.s = s;
    c.ns = ngroups;
    c.t = &t;
    c.series_of_row = grp;
    read_objectives(dir, &c);
    int rc = 0;
    if (isnan(lo)) { /* names (allocators, schedulers): against the point number */
        xcol = 0;
        c.xname = "point (curves.csv names its options)";
        c.logx = 0;
    }
    curves_draw d = {&c, xcol, labels, ngroups, info};
    if (rc == 0)
        rc = render(dir, "curves", draw_curves, &d, info, err, errlen);
    int load = strcmp(c.xname, "request-rate") == 0 || strcmp(c.xname, "rate-scale") == 0 ||
               strcmp(c.xname, "rate") == 0 || strcmp(c.xname, "max-concurrency") == 0;
    if (rc == 0 && load) {
        c.latency = 1;
        rc = render(dir, "latency", draw_curves, &d, info, err, errlen);
    }
    free(labels);
    free(grp);
    free(buf);
    table_free(&t);
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
} cmp_ctx;

static void draw_compare(void *ctx)
{
    cmp_ctx *c = ctx;
    for (int k = 0; k < 6; k++)
        plscol0(2 + k, mem_rgb[k][0], mem_rgb[k][1], mem_rgb[k][2]);
    size_t n = c->t->rows;
    pladv(0);
    plvpor(0.08, 0.70, 0.2, 0.9);
    plwind(-0.5, (double)n - 0.5, 0, 100);
    for (size_t r = 0; r < n; r++) {
        double base = 0;
        for (int k = 0; k < 6; k++) {
            double v = table_num(c->t, r, c->cols[k]);
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
        plmtex("b", 1.5, ((double)r + 0.5) / (double)n, 0.5,
               c->t->cell[r * c->t->cols + (size_t)c->name]);
    }
    plcol0(1);
    plschr(0, 0.8);
    plbox("bc", 0, 0, "bcnstv", 0, 0);
    pllab("", "% of the KV pool (time average)", "KV pool breakdown by allocator");
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
        texts[k] = mem_names[j];
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
    if (table_read(path, &t, err, errlen) != 0)
        return -1;
    cmp_ctx c = {&t, {0}, table_col(&t, "allocator")};
    int ok = c.name >= 0 && t.rows > 0;
    for (int k = 0; k < 6; k++)
        ok &= (c.cols[k] = table_col(&t, cmp_cols[k])) >= 0;
    int rc = -1;
    if (!ok)
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no rows" : "not a kvsim compare file (columns missing)");
    else
        rc = render(dir, "compare", draw_compare, &c, info, err, errlen);
    if (rc == 0 && info != NULL)
        info->series = (int)t.rows;
    table_free(&t);
    return rc;
}
