/*
 * cmd_validate.c: `kvsim validate`: published measurements replayed
 * through the cost model, errors by source, framework, metric and device
 * class, out of sample with --cross (the rows and fits,
 * cli/validate_fit.c).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/report.h"
#include "analysis/samples.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
#include "cli/validate_int.h"

int cmd_validate(int argc, char **argv);

static const char usage_validate[] =
    "usage: kvsim validate --data FILE.csv [--cross] [--out FILE.csv] [--presets DIR]\n"
    "                      [--rows] [--worst N] [-j N]\n"
    "\n"
    "Replays every row of a measurements file (the columns of catalog/measurements.csv:\n"
    "device, device_count, framework, model, precision_quant, batch_size, input_tokens,\n"
    "output_tokens, metric, value, ...) through the cost model with the preset its framework\n"
    "names, and prints the median and 90th-percentile absolute error overall and by source,\n"
    "framework, metric, device class and preset, the worst rows, and every row it cannot\n"
    "express counted by reason.\n"
    "  --cross      out of sample: each preset refitted without the rows of one source at a\n"
    "               time (without one device at a time when the preset's rows come from one\n"
    "               source) and scored on the rows left out\n"
    "  --out FILE   the per-row predictions as CSV\n"
    "  --presets DIR  preset files (DIR/NAME.preset) instead of the built-in ones; a name\n"
    "               DIR has no file for is the built-in preset\n"
    "  --rows       print every row's prediction\n"
    "  --worst N    the N worst rows (default 10)\n"
    "  -j N, --jobs N  --cross's fits at once, in threads (default: the online CPUs); the\n"
    "               output is the same for any N\n";

typedef const char *(*key_fn)(const vctx *, size_t);

static const char *k_all(const vctx *v, size_t i)
{
    (void)v;
    (void)i;
    return "all";
}
static const char *k_source(const vctx *v, size_t i)
{
    return v->rows[i].source_id;
}
static const char *k_framework(const vctx *v, size_t i)
{
    return v->rows[i].framework;
}
static const char *k_metric(const vctx *v, size_t i)
{
    return v->rows[i].metric_name;
}
static const char *k_class(const vctx *v, size_t i)
{
    return sim_validate_device_class(&v->rows[i]);
}
static const char *k_preset(const vctx *v, size_t i)
{
    return v->out[i].preset;
}

/* Median and p90 of |error| per distinct key, in first-seen order. */
static void table(const vctx *v, const char *title, key_fn key)
{
    printf("\n%-52s %6s %9s %9s %9s\n", title, "rows", "median", "p90", "worst");
    size_t ns = 0;
    const char **seen = malloc((v->n + 1) * sizeof(*seen)); /* at most a key per row */
    double *errs = malloc((v->n + 1) * sizeof(double));
    if (seen == NULL || errs == NULL)
        cli_die("out of memory");
    for (size_t i = 0; i < v->n; i++) {
        if (!v->out[i].ok)
            continue;
        const char *k = key(v, i);
        bool dup = false;
        for (size_t s = 0; s < ns && !dup; s++)
            dup = strcmp(seen[s], k) == 0;
        if (dup)
            continue;
        seen[ns++] = k;
        size_t m = 0;
        for (size_t j = 0; j < v->n; j++)
            if (v->out[j].ok && strcmp(key(v, j), k) == 0)
                errs[m++] = fabs(v->out[j].err);
        double med, p90, worst;
        vt_spread(errs, m, &med, &p90, &worst);
        printf("%-52.52s %6zu %8.1f%% %8.1f%% %8.1f%%\n", k, m, 100 * med, 100 * p90, 100 * worst);
    }
    free(errs);
    free(seen);
}

/* FP: the --out file, opened before the replay (cli_out_fopen). */
static void write_csv(const vctx *v, FILE *fp, const char *path)
{
    fputs("line,row_id,source_id,device,gpu,model,precision_quant,framework,preset,metric,"
          "measured,predicted,error_pct,status,reason,sample\n",
          fp);
    for (size_t i = 0; i < v->n; i++) {
        const sim_measurement *r = &v->rows[i];
        const row_out *o = &v->out[i];
        fprintf(fp, "%u,", r->line);
        const char *f[] = {r->row_id,
                           r->source_id,
                           r->device,
                           r->reason[0] ? "" : r->gpu.name,
                           r->reason[0] ? "" : r->model.name,
                           r->quant,
                           r->framework,
                           o->preset,
                           r->metric_name};
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
            an_csv_cell(fp, f[k]);
            fputc(',', fp);
        }
        fprintf(fp, "%.6g,", r->value);
        if (o->ok)
            fprintf(fp, "%.6g,%.2f,predicted,", o->pred, 100 * o->err);
        else
            fprintf(fp, ",,not expressible,");
        an_csv_cell(fp, o->ok ? "" : o->why);
        fprintf(fp, ",%s\n", !o->ok ? "" : o->fitted ? "in" : "out");
    }
    if (fclose(fp) != 0)
        cli_die("--out: cannot write %s: %s", path, strerror(errno));
}

int cmd_validate(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *dir = NULL, *worst_s = NULL;
    bool cross = false, rows = false;
    unsigned jobs = 0; /* vt_default_jobs() unless given */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_validate, stdout);
            return 0;
        }
        if (strcmp(a, "--cross") == 0) {
            cross = true;
            continue;
        }
        if (strcmp(a, "--rows") == 0) {
            rows = true;
            continue;
        }
        if (vt_jobs_opt(argc, argv, &i, &jobs))
            continue;
        const char **dst = strcmp(a, "--data") == 0      ? &data
                           : strcmp(a, "--out") == 0     ? &out
                           : strcmp(a, "--presets") == 0 ? &dir
                           : strcmp(a, "--worst") == 0   ? &worst_s
                                                         : NULL;
        if (dst == NULL)
            cli_die("validate: unknown option '%s' (kvsim validate --help)", a);
        if (i + 1 >= argc)
            cli_die("%s needs a value", a);
        if (*dst != NULL)
            cli_die("%s given twice", a);
        *dst = argv[++i];
    }
    if (data == NULL)
        cli_die("validate: --data FILE.csv is required (kvsim validate --help)");
    if (jobs == 0)
        jobs = vt_default_jobs();
    size_t worst = worst_s ? (size_t)cli_parse_u64("--worst", worst_s, 0, 100000) : 10;
    vt_check_presets_dir(dir);
    vctx v = {.preset_dir = dir};
    vt_read_rows(data, &v);
    /* --out is opened before the replay: a path that cannot be written
     * stops here with one line, not after the report. */
    FILE *out_fp = out != NULL ? cli_out_fopen(out) : NULL;
    char err[512];
    size_t *idx = malloc((v.n + 1) * sizeof(size_t));
    if (idx == NULL)
        cli_die("out of memory");
    const char *names[64];
    size_t np = vt_preset_names(&v, names);
    fit_job *fj = NULL; /* --cross: the held-out groups' fits */
    size_t nj = 0, capj = 0;
    int crossed[64] = {0}; /* --cross: 1 sources held out, 2 devices */
    for (size_t k = 0; k < np; k++) {
        sim_engine_preset pr;
        size_t m = vt_preset_rows(&v, names[k], idx);
        if (vt_load_preset(dir, names[k], &pr, err, sizeof(err)) != 0) {
            /* A preset file of --presets that does not load is the user's
             * to mend (calibrate stops on it too); a name no preset has is
             * the data's, counted. */
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s.preset", dir != NULL ? dir : "", names[k]);
            if (dir != NULL && access(path, F_OK) == 0)
                cli_die("validate: %s", err);
            for (size_t i = 0; i < m; i++)
                snprintf(v.out[idx[i]].why, sizeof(v.out[idx[i]].why), "no preset: %.180s", err);
            continue;
        }
        if (!cross) {
            for (size_t i = 0; i < m; i++) {
                vt_predict(&v, idx[i], &pr.params);
                const sim_measurement *ri = &v.rows[idx[i]];
                v.out[idx[i]].fitted = sim_preset_fitted(&pr, ri->source_id, ri->row_id);
            }
            continue;
        }
        /* Held-out groups: sources, or devices when there is one source;
         * each group's fit a job (vt_run_jobs, below). */
        bool one_source = true;
        for (size_t i = 1; i < m; i++)
            one_source &= strcmp(v.rows[idx[i]].source_id, v.rows[idx[0]].source_id) == 0;
        bool *done = calloc(m + 1, 1);
        if (done == NULL)
            cli_die("out of memory");
        for (size_t g = 0; g < m; g++) {
            if (done[g])
                continue;
            const sim_measurement *rg = &v.rows[idx[g]];
            const char *gk = one_source ? rg->gpu.name : rg->source_id;
            fit_job j = {.p = pr.params};
            j.train = malloc((m + 1) * sizeof(size_t));
            j.test = malloc((m + 1) * sizeof(size_t));
            if (j.train == NULL || j.test == NULL)
                cli_die("out of memory");
            for (size_t i = 0; i < m; i++) {
                const sim_measurement *ri = &v.rows[idx[i]];
                const char *ik = one_source ? ri->gpu.name : ri->source_id;
                if (strcmp(ik, gk) != 0) {
                    j.train[j.nt++] = idx[i];
                } else {
                    done[i] = true;
                    j.test[j.ntest++] = idx[i];
                }
            }
            if (j.nt == 0) {
                /* Nothing left to fit to: the preset's own terms would
                 * be an in-sample prediction (the built-in presets are
                 * fitted to these rows), not an out-of-sample one. */
                for (size_t i = 0; i < j.ntest; i++)
                    snprintf(v.out[j.test[i]].why, sizeof(v.out[j.test[i]].why),
                             "--cross: no other %s for preset %s to fit to",
                             one_source ? "device" : "source", names[k]);
                free(j.train);
                free(j.test);
                continue;
            }
            if (nj == capj) {
                capj = capj ? 2 * capj : 64;
                fit_job *t = realloc(fj, capj * sizeof(*t));
                if (t == NULL)
                    cli_die("out of memory");
                fj = t;
            }
            fj[nj++] = j;
        }
        free(done);
        crossed[k] = one_source ? 2 : 1;
    }
    vt_run_jobs(&v, fj, nj, jobs);
    for (size_t k = 0; k < nj; k++) {
        free(fj[k].train);
        free(fj[k].test);
    }
    free(fj);
    for (size_t k = 0; k < np; k++)
        if (crossed[k] != 0)
            printf("%s: %s out of sample, held out one %s at a time\n", names[k],
                   crossed[k] == 2 ? "devices" : "sources", crossed[k] == 2 ? "device" : "source");
    if (rows) {
        printf("\n%-6s %-10s %-30s %-14s %-10s %-16s %10s %10s %8s\n", "line", "source", "device",
               "model", "quant", "metric", "measured", "predicted", "error");
        for (size_t i = 0; i < v.n; i++) {
            const sim_measurement *r = &v.rows[i];
            if (v.out[i].ok)
                printf("%-6u %-10.10s %-30.30s %-14.14s %-10.10s %-16.16s %10.4g %10.4g %+7.1f%%\n",
                       r->line, r->source_id, r->device, r->model.name, r->quant, r->metric_name,
                       r->value, v.out[i].pred, 100 * v.out[i].err);
        }
    }
    size_t predicted = 0, fitted = 0;
    for (size_t i = 0; i < v.n; i++) {
        predicted += v.out[i].ok;
        fitted += v.out[i].ok && v.out[i].fitted;
    }
    /* In sample are the rows a preset lists as fitted to (its `row`
     * lines); a file of other measurements is scored out of sample
     * without --cross. */
    char sample[160];
    if (cross || fitted == 0)
        snprintf(sample, sizeof(sample), ", out of sample%s",
                 cross ? "" : " (no row is one its preset was fitted to)");
    else if (fitted == predicted)
        snprintf(sample, sizeof(sample), ", in sample (every row one its preset was fitted to)");
    else
        snprintf(sample, sizeof(sample),
                 ": %zu in sample (rows their preset was fitted to), %zu out of sample", fitted,
                 predicted - fitted);
    printf("\nkvsim validate: %s: %zu rows, %zu predicted (%.1f %%)%s\n", data, v.n, predicted,
           v.n ? 100.0 * predicted / v.n : 0.0, sample);
    table(&v, "overall", k_all);
    table(&v, "by preset", k_preset);
    table(&v, "by framework", k_framework);
    table(&v, "by source", k_source);
    table(&v, "by metric", k_metric);
    table(&v, "by device class", k_class);
    /* The worst rows. */
    if (worst > 0 && predicted > 0) {
        printf("\nworst rows\n");
        bool *shown = calloc(v.n + 1, 1);
        if (shown == NULL)
            cli_die("out of memory");
        for (size_t w = 0; w < worst && w < predicted; w++) {
            size_t b = v.n;
            for (size_t i = 0; i < v.n; i++)
                if (v.out[i].ok && !shown[i] &&
                    (b == v.n || fabs(v.out[i].err) > fabs(v.out[b].err)))
                    b = i;
            shown[b] = true;
            const sim_measurement *r = &v.rows[b];
            printf("  line %-5u %+7.1f%%  %s %s x%u, %s %s, %s %g (predicted %.4g)\n", r->line,
                   100 * v.out[b].err, r->framework, r->device, r->device_count, r->model_name,
                   r->quant, r->metric_name, r->value, v.out[b].pred);
        }
        free(shown);
    }
    /* Every row not predicted, counted by reason. */
    vt_print_unpredicted(&v, "not expressible");
    if (out_fp != NULL)
        write_csv(&v, out_fp, out);
    free(idx);
    free(v.out);
    sim_measurements_free(v.rows);
    return 0;
}
