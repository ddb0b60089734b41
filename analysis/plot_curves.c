/*
 * plot_curves.c: a sweep's figures from curves.csv (and find.json's
 * objectives): throughput and TPOT against the first varied option, with
 * the knee and the KV ceiling marked on max-num-seqs sweeps; latency
 * percentiles against a load. See plot.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/plot_int.h"

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
    const double *xrow; /* each row's x when the x column holds names (its place); else NULL */
} curves_ctx;

/* Row R's x: its place among the names, or the x column's number. */
static double row_x(const curves_ctx *c, size_t r, long xcol)
{
    return c->xrow != NULL ? c->xrow[r] : plot_table_num(c->t, r, xcol);
}

/* The column of COL's 95 % interval over seeds (curves.csv's NAME_ci95,
 * written where the sweep ran several seeds), or -1. */
static long ci_col(const table *t, long col)
{
    if (col < 0)
        return -1;
    char name[1100];
    if (strlen(t->header[col]) + 6 > sizeof(name))
        return -1;
    snprintf(name, sizeof(name), "%s_ci95", t->header[col]);
    return plot_table_col(t, name);
}

/* Fills CTX->s with column COL against the x column, one series per
 * group, each point's interval from COL's _ci95 column where there is
 * one. Returns the number of series. */
static size_t fill_series(curves_ctx *c, long xcol, long col, char (*labels)[128], size_t ngroups)
{
    long cc = ci_col(c->t, col);
    for (size_t g = 0; g < ngroups; g++) {
        c->s[g].n = 0;
        c->s[g].err = cc >= 0 ? c->s[g].y + c->t->rows : NULL;
        snprintf(c->s[g].label, sizeof(c->s[g].label), "%s", labels[g]);
    }
    for (size_t r = 0; r < c->t->rows; r++) {
        series *s = &c->s[c->series_of_row[r]];
        s->x[s->n] = row_x(c, r, xcol);
        s->y[s->n] = plot_table_num(c->t, r, col);
        if (s->err != NULL)
            s->err[s->n] = plot_table_num(c->t, r, cc);
        s->n++;
    }
    return ngroups;
}

/* The points of series S[0 .. NS) with a number for x and y. */
static int finite_points(const series *s, size_t ns)
{
    int n = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++)
            n += isfinite(s[k].x[i]) && isfinite(s[k].y[i]);
    return n;
}

typedef struct curves_draw {
    curves_ctx *c;
    long xcol;
    char (*labels)[128];
    size_t ngroups;
    an_plot_info *info;
} curves_draw;

/* A vertical line at X (world units of the current panel) in line style
 * STYLE (2 dashed, 3 dotted...), labelled from LIFT of the panel's height
 * up. */
static void vline(double x, int logx, const char *label, int color, int style, double lift)
{
    PLFLT xmin, xmax, ymin, ymax;
    plgvpw(&xmin, &xmax, &ymin, &ymax);
    double xv = logx ? log10(x) : x;
    PLFLT vx[2] = {xv, xv}, vy[2] = {ymin, ymax};
    plcol0(color);
    pllsty(style);
    plline(2, vx, vy);
    pllsty(1);
    plschr(0, 0.6);
    plptex(xv, ymin + lift * (ymax - ymin), 0, 1, 0, label);
    plschr(0, 0.8);
}

/*
 * On a max-num-seqs sweep (the first group of NS), marks where the curve bends
 * and where the KV pool, not the limit, caps the batch.
 *
 * The knee is where the two asymptotes of the step time (mean TPOT) meet,
 * the sweep's own version of the roofline closed form that
 * tests/test_sweep.c checks: memory-bound, TPOT = overhead + W/BW + B x
 * (KV read per sequence), the line through the two smallest batches;
 * compute-bound, TPOT = overhead + B x (compute per sequence), through
 * the fixed time of a step (config.step_fixed_s: the step and per-layer
 * overheads; config.step_overhead_s in older sweeps) and the largest batch below the
 * ceiling. When that cannot be fitted (too few points, no compute-bound
 * point), the knee is the first point whose throughput gain over the
 * previous one is under half of proportional, after one that gained at
 * least that (a line that never grew, the load setting its throughput,
 * has no bend: it was marked at its second point). The ceiling is the first
 * point that preempted, or whose largest batch (batch.max_running) stayed
 * below its max-num-seqs while the KV pool held requests back: a request
 * waited for memory (blocked free space or external fragmentation, which
 * are counted only then) or the pool was full at its peak. A batch under
 * its limit with the pool half free is held back by the load (too few
 * requests arrive), not by KV: no ceiling (it was marked at the first
 * such point). Sweeps written before those columns: the batch under its
 * limit alone.
 */
void plot_batch_limits(const table *t, long xcol, const size_t *series_of_row, size_t group,
                       double *knee_out, double *ceiling_out)
{
    long thr = plot_table_col(t, "vllm_bench.output_throughput");
    long tpot = plot_table_col(t, "vllm_bench.mean_tpot_ms");
    long ovh_col = plot_table_col(t, "config.step_fixed_s");
    if (ovh_col < 0)
        ovh_col = plot_table_col(t, "config.step_overhead_s");
    long run = plot_table_col(t, "batch.max_running"), pre = plot_table_col(t, "preemptions");
    long blocked = plot_table_col(t, "memory.time_avg_pct.blocked_free");
    long ext = plot_table_col(t, "memory.time_avg_pct.external_frag");
    long peak_free = plot_table_col(t, "memory.at_peak_pct.free");
    bool memory_cols = blocked >= 0 && ext >= 0 && peak_free >= 0;
    double knee = NAN, ceiling = NAN, px = NAN, pt = NAN;
    double x0 = NAN, t0 = NAN, x1 = NAN, t1 = NAN, xk = NAN, tk = NAN, ovh = NAN;
    size_t seen = 0;
    bool grew = false;
    for (size_t r = 0; r < t->rows; r++) {
        if (series_of_row[r] != group)
            continue;
        double x = plot_table_num(t, r, xcol), tp = plot_table_num(t, r, thr);
        double step = plot_table_num(t, r, tpot) / 1e3;
        if (isnan(knee) && px > 0 && pt > 0 && x > px) {
            if (tp / pt >= 1 + 0.5 * (x / px - 1))
                grew = true;
            else if (grew)
                knee = x;
        }
        bool kv_held = !memory_cols || plot_table_num(t, r, blocked) > 0 ||
                       plot_table_num(t, r, ext) > 0 || plot_table_num(t, r, peak_free) <= 0;
        if (isnan(ceiling) &&
            ((plot_table_num(t, r, run) < x && kv_held) || plot_table_num(t, r, pre) > 0))
            ceiling = x;
        if (seen == 0) {
            x0 = x;
            t0 = step;
            ovh = plot_table_num(t, r, ovh_col);
        } else if (seen == 1) {
            x1 = x;
            t1 = step;
        }
        if (isnan(ceiling)) {
            xk = x;
            tk = step;
        }
        seen++;
        px = x;
        pt = tp;
    }
    if (seen >= 3 && x1 > x0 && xk > x1 && !isnan(ovh)) {
        double slope = (t1 - t0) / (x1 - x0), base = t0 - x0 * slope - ovh;
        double per_seq = (tk - ovh) / xk;
        double fit = per_seq > slope && base > 0 ? base / (per_seq - slope) : NAN;
        if (fit >= x0 && fit <= xk)
            knee = fit;
    }
    *knee_out = knee;
    *ceiling_out = ceiling;
}

/* Draws each line's marks of plot_batch_limits on the panel just drawn (NS
 * lines, the first four): one line's in red (the knee, dashed) and pink
 * (the ceiling, dotted); several lines' in their colours, the labels of
 * each higher up than the line before's. */
static void mark_batch_limits(const curves_ctx *c, long xcol, size_t ns)
{
    size_t n = ns < 4 ? ns : 4;
    for (size_t g = 0; g < n; g++) {
        double knee, ceiling;
        plot_batch_limits(c->t, xcol, c->series_of_row, g, &knee, &ceiling);
        int kc = ns > 1 ? (int)(2 + g % NPALETTE) : 15, cc = ns > 1 ? kc : 8;
        double lift = 0.04 + 0.24 * (double)g;
        char label[64];
        if (!isnan(knee)) {
            snprintf(label, sizeof(label), "knee %.0f", knee);
            vline(knee, c->logx, label, kc, 2, lift);
        }
        if (!isnan(ceiling))
            vline(ceiling, c->logx, ns > 1 ? "KV cap" : "KV capacity", cc, 3, lift);
    }
}

/* Panel K of N across the page, above a legend band of height BAND: the
 * margins the panels had as subpages (0.24 and 0.06 of a panel's width
 * beside it, 0.13 of the height below it and 0.10 above). */
static void panel_box(int k, int n, double band, double b[4])
{
    double w = 1.0 / n;
    b[0] = (k + 0.24) * w;
    b[1] = (k + 0.94) * w;
    b[2] = 0.13 + band;
    b[3] = 0.90;
}

/* The height of the legend band of NS series S (0 for one): its rows. */
static double band_of(const series *s, size_t ns)
{
    size_t ncol, rows = plot_legend_rows(s, ns, &ncol);
    return rows > 0 ? 0.03 + 0.045 * (double)rows : 0;
}

static void draw_curves(void *ctx)
{
    curves_draw *d = ctx;
    curves_ctx *c = d->c;
    char xl[160];
    snprintf(xl, sizeof(xl), "%s", c->xname);
    plssub(1, 1);
    pladv(0);
    double b[4];
    if (!c->latency) {
        size_t ns = fill_series(c, d->xcol, plot_table_col(c->t, "vllm_bench.output_throughput"),
                                d->labels, d->ngroups);
        double band = band_of(c->s, ns);
        panel_box(0, 2, band, b);
        plot_panel(b[0], b[1], b[2], b[3], "Output throughput", xl, "output tokens/s", c->s, ns,
                   c->logx, 0, NULL, NULL, 0);
        if (strcmp(c->xname, "max-num-seqs") == 0)
            mark_batch_limits(c, d->xcol, ns);
        plot_legend_band(c->s, ns, band);
        ns = fill_series(c, d->xcol, plot_table_col(c->t, "vllm_bench.mean_tpot_ms"), d->labels,
                         d->ngroups);
        panel_box(1, 2, band, b);
        plot_panel(b[0], b[1], b[2], b[3], "Time per output token", xl, "mean TPOT (ms)", c->s, ns,
                   c->logx, 0, NULL, NULL, 0);
        if (d->info != NULL) {
            d->info->series = (int)ns;
            d->info->points = finite_points(c->s, ns);
        }
        return;
    }
    static const char *const metric[3] = {"ttft", "tpot", "e2el"};
    static const char *const title[3] = {"TTFT", "TPOT", "E2EL"};
    int drawn = 0;
    /* One group: median, p90 and p99 of each metric; several (other
     * options varied too): p99 of each group, a line per group (one line
     * through every group's points zigzagged between them). */
    const size_t ng = d->ngroups > 0 ? d->ngroups : 1;
    const size_t nl = ng > 1 ? (ng < MAX_SERIES ? ng : MAX_SERIES) : 3;
    for (int m = 0; m < 3; m++) {
        static const char *const pct[3] = {"median", "p90", "p99"};
        series s3[MAX_SERIES];
        double *buf = malloc(3 * nl * c->t->rows * sizeof(double) + 1);
        if (buf == NULL)
            return;
        for (size_t l = 0; l < nl; l++) {
            char col[96];
            snprintf(col, sizeof(col), "vllm_bench.%s_%s_ms", ng > 1 ? "p99" : pct[l], metric[m]);
            long cc = plot_table_col(c->t, col), ce = ci_col(c->t, cc);
            s3[l].x = buf + 3 * l * c->t->rows;
            s3[l].y = s3[l].x + c->t->rows;
            s3[l].err = ce >= 0 ? s3[l].y + c->t->rows : NULL;
            s3[l].n = 0;
            snprintf(s3[l].label, sizeof(s3[l].label), "%s", ng > 1 ? d->labels[l] : pct[l]);
            for (size_t r = 0; r < c->t->rows; r++) {
                if (ng > 1 && c->series_of_row[r] != l)
                    continue;
                s3[l].x[s3[l].n] = row_x(c, r, d->xcol);
                s3[l].y[s3[l].n] = plot_table_num(c->t, r, cc);
                if (s3[l].err != NULL)
                    s3[l].err[s3[l].n] = plot_table_num(c->t, r, ce);
                s3[l].n++;
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
        char yl[64], tl[64];
        snprintf(yl, sizeof(yl), "%s%s (ms)", title[m], ng > 1 ? " p99" : "");
        snprintf(tl, sizeof(tl), "%s%s", title[m], ng > 1 ? " p99" : "");
        double band = band_of(s3, nl);
        panel_box(m, 3, band, b);
        plot_panel(b[0], b[1], b[2], b[3], tl, xl, yl, s3, nl, c->logx, 1, h, hl, nh);
        if (m == 2)
            plot_legend_band(s3, nl, band);
        drawn = (int)nl;
        if (d->info != NULL)
            d->info->points = finite_points(s3, nl);
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
    if (plot_table_read(path, &t, err, errlen) != 0)
        return -1;
    long seeds = plot_table_col(&t, "seeds");
    if (t.cols < 3 || seeds < 2 || strcmp(t.header[0], "point") != 0 || t.rows == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 t.rows == 0 ? "no points" : "not a kvsim curves file (no point, seeds columns)");
        plot_table_free(&t);
        return -1;
    }
    long xcol = 1;
    size_t nother = (size_t)seeds - 2; /* other varied options, between x and seeds */
    /* Groups: one per combination of the other varied values, in order. */
    char(*labels)[128] = calloc(MAX_SERIES, 128);
    size_t *grp = calloc(t.rows, sizeof(size_t));
    series s[MAX_SERIES];
    double *buf = malloc(3 * MAX_SERIES * t.rows * sizeof(double) + 1);
    if (labels == NULL || grp == NULL || buf == NULL) {
        free(labels);
        free(grp);
        free(buf);
        plot_table_free(&t);
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
        s[g].x = buf + 3 * g * t.rows; /* x, y and the intervals, t.rows each */
        s[g].y = s[g].x + t.rows;
        s[g].err = NULL;
        s[g].n = 0;
    }
    /* A logarithmic x when the values are positive and span 16x or more;
     * names (a value that is not a number) put the points in order. */
    double lo = INFINITY, hi = -INFINITY;
    int named = 0;
    for (size_t r = 0; r < t.rows; r++) {
        double x = plot_table_num(&t, r, xcol);
        named |= isnan(x);
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
    /* Names (GPUs, formats, allocators): each at its place on the axis,
     * in the order they were varied, shared by every line (a line per
     * value of the other options). */
    const char **cats = NULL;
    double *xrow = NULL;
    size_t ncat = 0;
    if (named) {
        cats = calloc(t.rows, sizeof(*cats));
        xrow = calloc(t.rows, sizeof(*xrow));
        if (cats == NULL || xrow == NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
        }
        for (size_t r = 0; rc == 0 && r < t.rows; r++) {
            const char *v = t.cell[r * t.cols + xcol];
            size_t k = 0;
            while (k < ncat && strcmp(cats[k], v) != 0)
                k++;
            if (k == ncat)
                cats[ncat++] = v;
            xrow[r] = (double)k;
        }
        c.xrow = xrow;
        c.logx = 0;
        plot_x_categories(cats, ncat);
        if (info != NULL)
            info->categories = (int)ncat;
    }
    curves_draw d = {&c, xcol, labels, ngroups, info};
    if (rc == 0)
        rc = plot_render(dir, "curves", draw_curves, &d, info, err, errlen);
    int load = strcmp(c.xname, "request-rate") == 0 || strcmp(c.xname, "rate-scale") == 0 ||
               strcmp(c.xname, "rate") == 0 || strcmp(c.xname, "max-concurrency") == 0;
    if (rc == 0 && load) {
        c.latency = 1;
        rc = plot_render(dir, "latency", draw_curves, &d, info, err, errlen);
    }
    plot_x_categories(NULL, 0);
    free(cats);
    free(xrow);
    free(labels);
    free(grp);
    free(buf);
    plot_table_free(&t);
    return rc;
}
