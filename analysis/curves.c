/*
 * curves.c: flattened summaries and their aggregation; see curves.h.
 */
#include "analysis/curves.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/metrics.h"
#include "analysis/report.h"

static int figures_push(an_figures *f, const char *name, double v)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        char **nn = realloc(f->name, cap * sizeof(char *));
        if (nn == NULL)
            return -1;
        f->name = nn;
        double *nv = realloc(f->value, cap * sizeof(double));
        if (nv == NULL)
            return -1;
        f->value = nv;
        f->cap = cap;
    }
    char *copy = malloc(strlen(name) + 1);
    if (copy == NULL)
        return -1;
    strcpy(copy, name);
    f->name[f->n] = copy;
    f->value[f->n] = v;
    f->n++;
    return 0;
}

/* Adds the numeric leaves of J under PREFIX (a dotted name, "" at the top). */
static int flatten(an_figures *f, const char *prefix, json_t *j)
{
    char name[512];
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key);
            if (strcmp(name, "sim.wall_s") == 0) /* host time: differs between identical runs */
                continue;
            if (flatten(f, name, v) != 0)
                return -1;
        }
        return 0;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            snprintf(name, sizeof(name), "%s.%zu", prefix, i);
            if (flatten(f, name, v) != 0)
                return -1;
        }
        return 0;
    }
    if (json_is_number(j))
        return figures_push(f, prefix, json_number_value(j));
    if (json_is_boolean(j))
        return figures_push(f, prefix, json_is_true(j) ? 1 : 0);
    if (json_is_null(j))
        return figures_push(f, prefix, NAN);
    return 0; /* strings: configuration text, not figures */
}

int an_figures_read(const char *path, an_figures *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    /* JSON_PRESERVE_ORDER: the file's key order is the columns' order. */
    json_t *root = json_load_file(path, JSON_PRESERVE_ORDER, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
        return -1;
    }
    int rc = flatten(out, "", root);
    json_decref(root);
    if (rc != 0) {
        an_figures_free(out);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

int an_figures_parse(const char *text, size_t len, const char *name, an_figures *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_PRESERVE_ORDER, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d: %s", name, je.line, je.text);
        return -1;
    }
    int rc = flatten(out, "", root);
    json_decref(root);
    if (rc != 0) {
        an_figures_free(out);
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

double an_figures_get(const an_figures *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    return NAN;
}

void an_figures_share_names(an_figures *f, const an_figures *ref)
{
    if (f == ref || f->borrowed_names || f->n != ref->n)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], ref->name[i]) != 0)
            return;
    for (size_t i = 0; i < f->n; i++)
        free(f->name[i]);
    free(f->name);
    f->name = ref->name;
    f->borrowed_names = 1;
}

void an_figures_free(an_figures *f)
{
    if (!f->borrowed_names) {
        for (size_t i = 0; i < f->n; i++)
            free(f->name[i]);
        free(f->name);
    }
    free(f->value);
    memset(f, 0, sizeof(*f));
}

double an_t975(unsigned df)
{
    /* Student t 0.975 quantiles, df 1..30 (any statistics table). */
    static const double t[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df >= 1 && df <= 30)
        return t[df - 1];
    /* Cornish-Fisher expansion around the normal quantile z (Abramowitz
     * and Stegun 26.7.5). */
    double z = 1.959963984540054, v = df < 1 ? 1 : (double)df;
    double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

void an_mean_ci95(const double *v, size_t n, double *mean, double *ci95)
{
    *mean = *ci95 = NAN;
    if (n == 0)
        return;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    if (n < 2 || isnan(*mean))
        return;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    double sd = sqrt(ss / (double)(n - 1));
    *ci95 = an_t975((unsigned)(n - 1)) * sd / sqrt((double)n);
}

/* an_fmt_double(BUF, V), with its result built by hand for the values
 * most figures are: integers below 10^15 in magnitude, which %.15g
 * prints as their digits and which read back exactly, and the non-finite
 * values it prints as null. A sweep's curves format each figure of each
 * point twice, tens of thousands of numbers. */
static const char *fmt_num(char buf[AN_NUM_LEN], double v)
{
    if (!isfinite(v))
        return an_fmt_double(buf, v);
    if (fabs(v) < 1e15 && v == (double)(long long)v && !(v == 0 && signbit(v))) {
        long long i = (long long)v;
        unsigned long long u = i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i;
        char tmp[24];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        int k = 0;
        if (i < 0)
            buf[k++] = '-';
        while (n > 0)
            buf[k++] = tmp[--n];
        buf[k] = '\0';
        return buf;
    }
    return an_fmt_double(buf, v);
}

/* The value of NAME in F, looking first at index HINT (runs of one sweep
 * list the same figures in the same order, so this is O(1) but for the
 * odd run out). */
static double get_hinted(const an_figures *f, const char *name, size_t hint)
{
    if (hint < f->n && strcmp(f->name[hint], name) == 0)
        return f->value[hint];
    return an_figures_get(f, name);
}

/* Mean and half-width of figure NAME (column COL) over PT's runs. */
static void point_stat(const an_curve_point *pt, const char *name, size_t col, double *mean,
                       double *ci)
{
    double vals[1024];
    size_t n = pt->nruns < 1024 ? pt->nruns : 1024;
    for (size_t i = 0; i < n; i++)
        vals[i] = get_hinted(&pt->runs[i], name, col);
    an_mean_ci95(vals, n, mean, ci);
}

/* The columns: every figure name of every run, in first-seen order (runs
 * of a sweep over --replicas have more replicas.K.* figures than
 * others). Fills *OUT (names borrowed from the runs); -1 when out of
 * memory. */
static int collect_columns(const an_curve_point *pts, size_t npts, an_figures *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t p = 0; p < npts; p++)
        for (size_t r = 0; r < pts[p].nruns; r++) {
            const an_figures *f = &pts[p].runs[r];
            for (size_t i = 0; i < f->n; i++) {
                if (i < out->n && strcmp(out->name[i], f->name[i]) == 0)
                    continue; /* the usual case: same figure at the same place */
                size_t k = 0;
                while (k < out->n && strcmp(out->name[k], f->name[i]) != 0)
                    k++;
                if (k < out->n)
                    continue;
                if (out->n == out->cap) {
                    size_t cap = out->cap ? 2 * out->cap : 256;
                    char **nn = realloc(out->name, cap * sizeof(char *));
                    if (nn == NULL)
                        return -1;
                    out->name = nn;
                    out->cap = cap;
                }
                out->name[out->n++] = f->name[i];
            }
        }
    return 0;
}

static int multi_seed(const an_curve_point *pts, size_t npts)
{
    for (size_t p = 0; p < npts; p++)
        if (pts[p].nruns > 1)
            return 1;
    return 0;
}

int an_write_curves_csv(FILE *fp, const char *const *vary_names, size_t nvary,
                        const an_curve_point *pts, size_t npts)
{
    if (npts == 0 || pts[0].nruns == 0)
        return ferror(fp) ? -1 : 0;
    an_figures colset;
    if (collect_columns(pts, npts, &colset) != 0) {
        free(colset.name);
        return -1;
    }
    const an_figures *cols = &colset;
    int ci = multi_seed(pts, npts);
    fputs("point", fp);
    for (size_t k = 0; k < nvary; k++) {
        fputc(',', fp);
        an_csv_cell(fp, vary_names[k]);
    }
    fputs(",seeds", fp);
    for (size_t i = 0; i < cols->n; i++)
        fprintf(fp, ",%s", cols->name[i]);
    if (ci)
        for (size_t i = 0; i < cols->n; i++)
            fprintf(fp, ",%s_ci95", cols->name[i]);
    fputc('\n', fp);
    char b[AN_NUM_LEN];
    for (size_t p = 0; p < npts; p++) {
        fprintf(fp, "%zu", p);
        for (size_t k = 0; k < nvary; k++) {
            fputc(',', fp);
            an_csv_cell(fp, pts[p].vary_values[k]);
        }
        fprintf(fp, ",%zu", pts[p].nruns);
        double *cis = ci ? malloc(cols->n * sizeof(double)) : NULL;
        if (ci && cis == NULL) {
            free(colset.name);
            return -1;
        }
        for (size_t i = 0; i < cols->n; i++) {
            double mean, half;
            point_stat(&pts[p], cols->name[i], i, &mean, &half);
            if (ci)
                cis[i] = half;
            fputc(',', fp);
            if (!isnan(mean))
                fputs(fmt_num(b, mean), fp);
        }
        if (ci)
            for (size_t i = 0; i < cols->n; i++) {
                fputc(',', fp);
                if (!isnan(cis[i]))
                    fputs(fmt_num(b, cis[i]), fp);
            }
        free(cis);
        fputc('\n', fp);
    }
    free(colset.name);
    return ferror(fp) ? -1 : 0;
}

int an_write_curves_json(FILE *fp, const char *const *vary_names, size_t nvary,
                         const an_curve_point *pts, size_t npts)
{
    fputs("{\n  \"vary\": [", fp);
    for (size_t k = 0; k < nvary; k++) {
        fputs(k ? ", " : "", fp);
        an_json_str(fp, vary_names[k]);
    }
    fputs("],\n  \"points\": [", fp);
    char b[AN_NUM_LEN];
    an_figures colset;
    if (collect_columns(pts, npts, &colset) != 0) {
        free(colset.name);
        return -1;
    }
    double *halves = NULL; /* a point's half-widths, column by column */
    size_t nhalves = 0;
    for (size_t p = 0; p < npts; p++) {
        const an_curve_point *pt = &pts[p];
        fprintf(fp, "%s\n    {\"point\": %zu, \"options\": {", p ? "," : "", p);
        for (size_t k = 0; k < nvary; k++) {
            fputs(k ? ", " : "", fp);
            an_json_str(fp, vary_names[k]);
            fputs(": ", fp);
            an_json_str(fp, pt->vary_values[k]);
        }
        fputs("}, \"seeds\": [", fp);
        for (size_t s = 0; s < pt->nruns; s++)
            fprintf(fp, "%s%llu", s ? ", " : "", pt->seeds[s]);
        fputs("],\n     \"mean\": {", fp);
        const an_figures *cols = pt->nruns ? &colset : NULL;
        size_t ncols = cols != NULL ? cols->n : 0;
        if (ncols > nhalves) {
            double *h = realloc(halves, ncols * sizeof(double));
            if (h == NULL) {
                free(halves);
                free(colset.name);
                return -1;
            }
            halves = h;
            nhalves = ncols;
        }
        for (size_t i = 0; i < ncols; i++) {
            double mean;
            point_stat(pt, cols->name[i], i, &mean, &halves[i]);
            fputs(i ? ", " : "", fp);
            an_json_str(fp, cols->name[i]);
            fputs(": ", fp);
            fputs(fmt_num(b, mean), fp);
        }
        fputs("},\n     \"ci95\": {", fp);
        for (size_t i = 0; i < ncols; i++) {
            fputs(i ? ", " : "", fp);
            an_json_str(fp, cols->name[i]);
            fputs(": ", fp);
            fputs(fmt_num(b, halves[i]), fp);
        }
        fputs("}}", fp);
    }
    fputs("\n  ]\n}\n", fp);
    free(halves);
    free(colset.name);
    return ferror(fp) ? -1 : 0;
}
