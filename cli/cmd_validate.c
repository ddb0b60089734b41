/*
 * cmd_validate.c: `kvsim validate` (published measurements replayed
 * through the cost model, errors by source, framework, metric and device
 * class) and `kvsim calibrate` (the engine presets fitted to them and
 * written as preset files). The arithmetic is sim/validate.c; reading and
 * mapping the rows is sim/measure.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/report.h"
#include "analysis/samples.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
#include "sim/preset.h"
#include "sim/validate.h"

int cmd_validate(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);

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

static const char usage_calibrate[] =
    "usage: kvsim calibrate --data FILE.csv --out DIR [--presets DIR] [-j N]\n"
    "\n"
    "Fits each engine preset's terms to the rows of FILE that name it: bw_eff, flops_eff,\n"
    "step_overhead_ms; layer_overhead_us where the rows span models of different depths (else\n"
    "0); seq_overhead_us where the rows batch different numbers of sequences (else 0);\n"
    "split_base_us, split_sync_us, split_link_share and split_stage_us where rows split\n"
    "matrices by rows over GPUs (else 0); arch_flops for each device architecture\n"
    "(catalog/gpus.csv arch) whose\n"
    "prompt or batch rows come from 2 devices or more (their geometric mean over devices 1);\n"
    "gemm_pj where the starting preset has one and multi-token rows come from 2 devices with\n"
    "a tdp_w or more (else 0); arch_bw (a multiplier on bw_eff) for each architecture whose\n"
    "rows come from 2 devices or more, where the starting preset has arch_bw_fit 1;\n"
    "mv_sm_gbps where the starting preset has one and decode rows come from 2 devices with\n"
    "an sm_count or more (else 0); tp_step_ms where the starting preset has one and rows\n"
    "run at two tensor-parallel sizes or more (else 0); prefill_layer_us where the starting\n"
    "preset has one and layer_overhead_us is fitted (else 0); fa_wave_fill where the\n"
    "starting preset has one and the rows batch different numbers of sequences (else 0);\n"
    "paged_attn_v1_gbps where the starting preset has one (with fa_wave_fill) and the rows\n"
    "batch a model with a sliding window on every layer (else 0).\n"
    "Least squares on log(predicted / measured) from fixed starting points (the\n"
    "same data gives the same presets); writes DIR/NAME.preset with the rows it was fitted to.\n"
    "Flags (flash attention, fp16 accumulation, dequantising GEMMs, MMQ, CUDA graphs,\n"
    "mmha_grid) and the\n"
    "runtime memory overhead are kept from the starting presets (built-in, or --presets DIR).\n"
    "The vllm preset, when the data hold no vLLM rows, takes the TensorRT-LLM fit and says so.\n"
    "-j N, --jobs N: presets fitted at once, in threads (default: the online CPUs); the\n"
    "presets written are the same for any N.\n";

typedef struct row_out {
    char preset[32];
    bool ok;          /* predicted */
    double pred, err; /* err = pred / measured - 1 */
    bool fitted;      /* its preset was fitted to it (in sample; never with --cross) */
    char why[200];    /* when not expressible or not predicted */
} row_out;

typedef struct vctx {
    sim_measurement *rows;
    size_t n;
    row_out *out;
    const char *preset_dir;
} vctx;

/* --presets DIR must be a directory: a mistyped one would otherwise mean
 * the built-in presets without a word. */
static void check_presets_dir(const char *dir)
{
    struct stat st;
    if (dir == NULL)
        return;
    if (stat(dir, &st) != 0)
        cli_die("--presets %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        cli_die("--presets %s: not a directory", dir);
}

/* DIR/NAME.preset when DIR has one, else the built-in NAME. */
static int load_preset(const char *dir, const char *name, sim_engine_preset *p, char *err,
                       size_t errlen)
{
    if (dir != NULL) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s.preset", dir, name);
        FILE *fp = fopen(path, "rb");
        if (fp != NULL || errno != ENOENT) {
            if (fp != NULL)
                fclose(fp);
            return sim_preset_lookup(path, p, err, errlen);
        }
    }
    return sim_preset_lookup(name, p, err, errlen);
}

/* The median, 90th percentile (numpy's, analysis/samples.h) and largest
 * of V[0..N); NAN when N is 0. */
static void spread(const double *v, size_t n, double *med, double *p90, double *worst)
{
    an_samples s;
    an_samples_init(&s);
    for (size_t i = 0; i < n; i++)
        if (an_samples_add(&s, v[i]) != 0)
            cli_die("out of memory");
    an_samples_sort(&s);
    *med = an_samples_percentile(&s, 50);
    *p90 = an_samples_percentile(&s, 90);
    *worst = an_samples_max(&s);
    an_samples_free(&s);
}

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
        spread(errs, m, &med, &p90, &worst);
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

static void read_rows(const char *data, vctx *v)
{
    char err[512];
    if (sim_measurements_read(data, &v->rows, &v->n, err, sizeof(err)) != 0)
        cli_die("%s", err);
    if (v->n == 0)
        cli_die("%s:1: no measurement rows after the header", data);
    v->out = calloc(v->n + 1, sizeof(row_out));
    if (v->out == NULL)
        cli_die("out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const sim_measurement *r = &v->rows[i];
        if (r->reason[0] != '\0') {
            snprintf(v->out[i].why, sizeof(v->out[i].why), "%s", r->reason);
            continue;
        }
        sim_validate_preset_name(r, v->out[i].preset, sizeof(v->out[i].preset));
    }
}

/* Rows of preset NAME that can be predicted, into IDX. */
static size_t preset_rows(const vctx *v, const char *name, size_t *idx)
{
    size_t m = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->rows[i].reason[0] == '\0' && strcmp(v->out[i].preset, name) == 0)
            idx[m++] = i;
    return m;
}

/* Distinct preset names of the expressible rows, in first-seen order. */
static size_t preset_names(const vctx *v, const char *names[64])
{
    size_t np = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->rows[i].reason[0] != '\0')
            continue;
        bool dup = false;
        for (size_t k = 0; k < np && !dup; k++)
            dup = strcmp(names[k], v->out[i].preset) == 0;
        if (!dup && np < 64)
            names[np++] = v->out[i].preset;
    }
    return np;
}

/* Sequences a row's batch runs at once. */
static uint32_t batch_seqs(const sim_measurement *r)
{
    bool batched = r->metric == SIM_MEAS_OUTPUT_TOK_S ||
                   r->metric == SIM_MEAS_OUTPUT_TOK_S_PER_GPU || r->metric == SIM_MEAS_LATENCY_S;
    return batched ? r->batch : 1;
}

static void free_terms(const vctx *v, const size_t *idx, size_t m, bool free_[SIM_FIT_NPARAMS])
{
    for (int k = 0; k < SIM_FIT_NPARAMS; k++)
        free_[k] = k < 4;
    /* Per-step and per-layer overheads are told apart only by models of
     * different depths: with one depth the per-layer term stays 0. */
    bool depths = false;
    for (size_t i = 1; i < m && !depths; i++)
        depths = v->rows[idx[i]].model.layers != v->rows[idx[0]].model.layers;
    free_[3] = depths;
    for (size_t i = 0; i < m; i++)
        if (strcmp(v->rows[idx[i]].split_mode, "row") == 0 && v->rows[idx[i]].tp > 1)
            free_[4] = free_[5] = free_[6] = free_[9] = true;
    /* The host's time per sequence is told apart from the per-step one only
     * by batches of different numbers of sequences (static batches; a
     * llama-bench row's batch_size is its prompt's chunk, one sequence). */
    for (size_t i = 1; i < m && !free_[7]; i++)
        free_[7] = batch_seqs(&v->rows[idx[i]]) != batch_seqs(&v->rows[idx[0]]);
    /* An architecture's GEMM term where rows of multi-token steps come
     * from 2 devices of it or more (a device-class term, never one
     * device's); sim_fit_preset keeps their device-weighted geometric
     * mean at 1 (sim/validate.h). */
    size_t devices[SIM_ARCH_MAX];
    sim_fit_arch_devices(v->rows, idx, m, devices);
    for (int a = 0; a < (int)sim_arch_count(); a++)
        free_[SIM_FIT_NBASE + a] = devices[a] >= 2;
    /* An architecture's bandwidth term likewise, over devices with rows
     * of any metric (fit() keeps it to presets that opt in). */
    sim_fit_arch_bw_devices(v->rows, idx, m, devices);
    for (int a = 0; a < (int)sim_arch_count(); a++)
        free_[SIM_FIT_BW + a] = devices[a] >= 2;
    /* The GEMMs' energy at the power limit: where multi-token rows come
     * from 2 devices with a tdp_w or more. */
    size_t powered = 0;
    for (size_t i = 0; i < m && powered < 2; i++) {
        const sim_measurement *r = &v->rows[idx[i]];
        if (r->metric == SIM_MEAS_DECODE_TOK_S || !(r->gpu.tdp_W > 0))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const sim_measurement *q = &v->rows[idx[j]];
            seen = q->metric != SIM_MEAS_DECODE_TOK_S && q->gpu.tdp_W > 0 &&
                   strcmp(q->gpu.name, r->gpu.name) == 0;
        }
        powered += !seen;
    }
    free_[8] = powered >= 2;
    /* The matrix-vector kernels' bytes per SM: where decode rows come
     * from 2 devices with an SM count or more. */
    size_t counted = 0;
    for (size_t i = 0; i < m && counted < 2; i++) {
        const sim_measurement *r = &v->rows[idx[i]];
        if (r->metric != SIM_MEAS_DECODE_TOK_S || r->gpu.sm_count == 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const sim_measurement *q = &v->rows[idx[j]];
            seen = q->metric == SIM_MEAS_DECODE_TOK_S && q->gpu.sm_count > 0 &&
                   strcmp(q->gpu.name, r->gpu.name) == 0;
        }
        counted += !seen;
    }
    free_[10] = counted >= 2;
    /* The per-step time of tensor parallelism: where rows at one TP size
     * and at another exist (the llama.cpp row split is not TP here). */
    for (size_t i = 1; i < m && !free_[11]; i++) {
        const sim_measurement *a = &v->rows[idx[i]], *b = &v->rows[idx[0]];
        bool split_a = strcmp(a->split_mode, "row") == 0,
             split_b = strcmp(b->split_mode, "row") == 0;
        uint32_t ta = split_a || a->tp < 1 ? 1 : a->tp, tb = split_b || b->tp < 1 ? 1 : b->tp;
        free_[11] = ta != tb;
    }
    /* vLLM's PagedAttention V1 rate: where rows batch a model with a
     * sliding window on every layer (V0's XFORMERS backend) and more than
     * one sequence (V1 runs from 512 sequences x query heads). */
    for (size_t i = 0; i < m && !free_[14]; i++) {
        const sim_measurement *r = &v->rows[idx[i]];
        free_[14] = r->model.sliding_window > 0 && r->model.sliding_layers == r->model.layers &&
                    batch_seqs(r) > 1;
    }
}

/* Fits P's free terms to the rows IDX[0..m); terms the rows cannot
 * determine are 0. */
static void fit(const vctx *v, const size_t *idx, size_t m, sim_cost_params *p)
{
    bool fr[SIM_FIT_NPARAMS];
    free_terms(v, idx, m, fr);
    /* The power cap is the starting preset's choice, as its flags are: a
     * preset with gemm_pj 0 (backends whose GEMMs are not tensor-unit
     * bound) keeps it off. */
    fr[8] = fr[8] && p->gemm_pJ > 0;
    fr[10] = fr[10] && p->mv_sm_Bps > 0; /* likewise the preset's choice */
    fr[11] = fr[11] && p->tp_step_s > 0; /* likewise (vLLM V0's broadcast) */
    /* The split-KV decode kernel's occupancy: the starting preset's
     * choice, where batches of different sizes are there to tell it. */
    fr[13] = fr[7] && p->fa_wave_fill > 0;
    /* vLLM's PagedAttention V1 rate: the starting preset's choice, where
     * the rows decode a model on it (free_terms). */
    /* The context phase's time per layer: where the per-layer term is
     * free and the starting preset has one (TensorRT-LLM's). */
    fr[12] = fr[3] && p->prefill_layer_s > 0;
    if (!fr[3])
        p->layer_overhead_s = 0;
    if (!fr[4])
        p->split_base_s = p->split_sync_s = p->split_link_share = p->split_stage_s = 0;
    if (!fr[7])
        p->seq_overhead_s = 0;
    if (!fr[8])
        p->gemm_pJ = 0;
    if (!fr[10])
        p->mv_sm_Bps = 0;
    if (!fr[11])
        p->tp_step_s = 0;
    if (!fr[12]) /* as its usage says: 0 where the per-layer term is not fitted */
        p->prefill_layer_s = 0;
    if (!fr[13])
        p->fa_wave_fill = 0;
    fr[14] = fr[14] && p->paged_v1_Bps > 0 && p->fa_wave_fill > 0;
    if (!fr[14])
        p->paged_v1_Bps = 0;
    for (int a = 0; a < SIM_ARCH_MAX; a++) {
        /* Per-architecture bandwidth: the starting preset's choice
         * (arch_bw_fit), as the power cap is. */
        fr[SIM_FIT_BW + a] = fr[SIM_FIT_BW + a] && p->arch_bw_fit;
        if (!fr[SIM_FIT_NBASE + a])
            p->arch_flops[a] = 0;
        if (!fr[SIM_FIT_BW + a])
            p->arch_bw[a] = 0;
    }
    sim_fit_preset(v->rows, idx, m, p, fr);
}

static void predict(vctx *v, size_t i, const sim_cost_params *p)
{
    row_out *o = &v->out[i];
    if (sim_validate_predict(&v->rows[i], p, &o->pred, o->why, sizeof(o->why)) == 0) {
        o->ok = true;
        o->err = o->pred / v->rows[i].value - 1;
    }
}

/* One fit: P (the starting preset's terms, then the fitted ones) fitted
 * to the rows TRAIN[0..NT) where NT > 0, then the rows TEST[0..NTEST)
 * predicted with it. Jobs share V's rows (read only: everything
 * sim_validate_predict reads was set up when they were read, the
 * catalog's tables included) and write only their own rows' outputs. */
typedef struct fit_job {
    size_t *train, nt;
    size_t *test, ntest;
    sim_cost_params p;
} fit_job;

typedef struct job_pool {
    vctx *v;
    fit_job *jobs;
    size_t n;
    atomic_size_t next;
} job_pool;

static void run_job(vctx *v, fit_job *j)
{
    if (j->nt > 0)
        fit(v, j->train, j->nt, &j->p);
    for (size_t i = 0; i < j->ntest; i++)
        predict(v, j->test[i], &j->p);
}

static void *job_worker(void *arg)
{
    job_pool *pool = arg;
    for (;;) {
        size_t k = atomic_fetch_add(&pool->next, 1);
        if (k >= pool->n)
            return NULL;
        run_job(pool->v, &pool->jobs[k]);
    }
}

/* Runs the N JOBS on up to THREADS threads (the calling one among them);
 * each job's result is the same whichever thread runs it. */
static void run_jobs(vctx *v, fit_job *jobs, size_t n, unsigned threads)
{
    job_pool pool = {.v = v, .jobs = jobs, .n = n};
    atomic_init(&pool.next, 0);
    if (threads > n)
        threads = (unsigned)n;
    pthread_t tid[256];
    unsigned started = 0;
    for (unsigned t = 1; t < threads && t < 256; t++) {
        if (pthread_create(&tid[started], NULL, job_worker, &pool) != 0)
            break; /* fewer threads: the jobs still all run */
        started++;
    }
    job_worker(&pool);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

/* Larger fits (more rows) first. */
static int cmp_job_size(const void *a, const void *b)
{
    size_t x = ((const fit_job *)a)->nt, y = ((const fit_job *)b)->nt;
    return (x < y) - (x > y);
}

/* -j's default: the online CPUs. */
static unsigned default_jobs(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 256 ? 256 : (unsigned)c;
}

/* -j N, -jN or --jobs N at ARGV[*I]: true (the count in *JOBS, *I past
 * its value) when it is one of them. */
static bool jobs_opt(int argc, char **argv, int *i, unsigned *jobs)
{
    const char *a = argv[*i];
    if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
        if (*i + 1 >= argc)
            cli_die("%s needs a value", a);
        *jobs = (unsigned)cli_parse_u64(a, argv[++*i], 1, 256);
        return true;
    }
    if (strncmp(a, "-j", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
        *jobs = (unsigned)cli_parse_u64("-j", a + 2, 1, 256);
        return true;
    }
    return false;
}

int cmd_validate(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *dir = NULL, *worst_s = NULL;
    bool cross = false, rows = false;
    unsigned jobs = default_jobs();
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
        if (jobs_opt(argc, argv, &i, &jobs))
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
    size_t worst = worst_s ? (size_t)cli_parse_u64("--worst", worst_s, 0, 100000) : 10;
    check_presets_dir(dir);
    vctx v = {.preset_dir = dir};
    read_rows(data, &v);
    /* --out is opened before the replay: a path that cannot be written
     * stops here with one line, not after the report. */
    FILE *out_fp = out != NULL ? cli_out_fopen(out) : NULL;
    char err[512];
    size_t *idx = malloc((v.n + 1) * sizeof(size_t));
    if (idx == NULL)
        cli_die("out of memory");
    const char *names[64];
    size_t np = preset_names(&v, names);
    fit_job *fj = NULL; /* --cross: the held-out groups' fits */
    size_t nj = 0, capj = 0;
    int crossed[64] = {0}; /* --cross: 1 sources held out, 2 devices */
    for (size_t k = 0; k < np; k++) {
        sim_engine_preset pr;
        size_t m = preset_rows(&v, names[k], idx);
        if (load_preset(dir, names[k], &pr, err, sizeof(err)) != 0) {
            for (size_t i = 0; i < m; i++)
                snprintf(v.out[idx[i]].why, sizeof(v.out[idx[i]].why), "no preset: %.180s", err);
            continue;
        }
        if (!cross) {
            for (size_t i = 0; i < m; i++) {
                predict(&v, idx[i], &pr.params);
                const sim_measurement *ri = &v.rows[idx[i]];
                v.out[idx[i]].fitted = sim_preset_fitted(&pr, ri->source_id, ri->row_id);
            }
            continue;
        }
        /* Held-out groups: sources, or devices when there is one source;
         * each group's fit a job (run_jobs, below). */
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
    /* The largest fits first (their rows' count stands for their time):
     * the threads end together. The results do not depend on the order. */
    qsort(fj, nj, sizeof(*fj), cmp_job_size);
    run_jobs(&v, fj, nj, jobs);
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
    if (predicted < v.n) {
        printf("\nnot expressible: %zu rows\n", v.n - predicted);
        bool *counted = calloc(v.n + 1, 1);
        if (counted == NULL)
            cli_die("out of memory");
        for (size_t i = 0; i < v.n; i++) {
            if (v.out[i].ok || counted[i])
                continue;
            size_t c = 0;
            const char *ex = NULL;
            for (size_t j = i; j < v.n; j++)
                if (!v.out[j].ok && !counted[j] && strcmp(v.out[j].why, v.out[i].why) == 0) {
                    counted[j] = true;
                    c++;
                    if (ex == NULL)
                        ex = v.rows[j].detail[0] ? v.rows[j].detail : NULL;
                }
            printf("  %5zu  %s%s%s%s\n", c, v.out[i].why, ex ? " (e.g. " : "", ex ? ex : "",
                   ex ? ")" : "");
        }
        free(counted);
    }
    if (out_fp != NULL)
        write_csv(&v, out_fp, out);
    free(idx);
    free(v.out);
    sim_measurements_free(v.rows);
    return 0;
}

static void write_preset(const char *dir, const sim_engine_preset *pr, const vctx *v,
                         const size_t *idx, size_t m, const char *data, const char *basis)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.preset", dir, pr->name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        cli_die("--out: cannot write %s: %s", path, strerror(errno));
    const sim_cost_params *p = &pr->params;
    /* One line: the names are written as given, control bytes as '?'. */
    fputs("# kvsim engine preset, written by kvsim calibrate --data ", fp);
    for (const char *q = data; *q; q++)
        fputc((unsigned char)*q < 0x20 ? '?' : *q, fp);
    fputs(" --out ", fp);
    for (const char *q = dir; *q; q++)
        fputc((unsigned char)*q < 0x20 ? '?' : *q, fp);
    fputc('\n', fp);
    fprintf(fp, "name %s\n", pr->name);
    if (pr->backend[0])
        fprintf(fp, "backend %s\n", pr->backend);
    fprintf(fp, "basis %s\n", basis);
    fprintf(fp,
            "bw_eff %.4f\nflops_eff %.4f\nstep_overhead_ms %.4f\nlayer_overhead_us %.3f\n"
            "seq_overhead_us %.3f\n",
            p->bw_eff, p->flops_eff, p->step_overhead_s * 1e3, p->layer_overhead_s * 1e6,
            p->seq_overhead_s * 1e6);
    if (p->prefill_layer_s > 0)
        fprintf(fp,
                "# prefill_layer_us: per layer, more in a step that computes prompt tokens (the "
                "attention's context phase)\nprefill_layer_us %.3f\n",
                p->prefill_layer_s * 1e6);
    if (p->tp_step_s > 0)
        fprintf(fp,
                "# tp_step_ms: per step, times log2 of the TP size: the driver's broadcast of the "
                "step to its workers\ntp_step_ms %.4f\n",
                p->tp_step_s * 1e3);
    if (p->fa_wave_fill > 0 && p->mmha_grid)
        fprintf(fp,
                "# fa_wave_fill: the masked multi-head (and XQA) decode kernel, a block per "
                "sequence and head over its whole context: fill and drain, a share of one wave "
                "of its thread blocks (4 an SM)\nfa_wave_fill %.4f\n",
                p->fa_wave_fill);
    else if (p->fa_wave_fill > 0)
        fprintf(fp,
                "# fa_wave_fill: FlashAttention-2's split-KV decode: fill and drain, a share of "
                "one wave of its thread blocks (2 an SM)\nfa_wave_fill %.4f\n",
                p->fa_wave_fill);
    if (p->paged_v1_Bps > 0)
        fprintf(fp,
                "# paged_attn_v1_gbps: models with a sliding window on every layer decode "
                "with vLLM's PagedAttention (V0's XFORMERS backend); its V1 kernel reads KV at "
                "most this many GB/s\npaged_attn_v1_gbps %.2f\n",
                p->paged_v1_Bps / 1e9);
    fprintf(fp, "gemm_pj %.4f\n", p->gemm_pJ);
    fprintf(fp, "split_base_us %.3f\nsplit_sync_us %.3f\nsplit_link_share %.4f\n",
            p->split_base_s * 1e6, p->split_sync_s * 1e6, p->split_link_share);
    if (p->split_stage_s > 0)
        fprintf(fp, "split_stage_us %.3f\n", p->split_stage_s * 1e6);
    if (p->mv_sm_Bps > 0)
        fprintf(fp,
                "# mv_sm_gbps: a one-token step's matrix-vector kernels pull at most this many "
                "GB/s of weights per SM\nmv_sm_gbps %.4f\n",
                p->mv_sm_Bps / 1e9);
    fprintf(fp, "runtime_overhead_gib %.4f\n", p->overhead_bytes / 1073741824.0);
    fprintf(fp, "flash_attn %d\nfp16_accumulate %d\ndequant_gemm %d\nint8_mmq %d\n", p->flash_attn,
            p->fp16_accumulate, p->dequant_gemm, p->int8_mmq);
    if (p->coopmat)
        fprintf(fp, "coopmat 1\n");
    if (p->llamacpp_split)
        fprintf(fp, "# llamacpp_split: kvsim run's --pipeline-parallel-size is llama.cpp's layer "
                    "split (one batch in flight); no tensor parallelism\nllamacpp_split 1\n");
    if (p->ubatch_pipeline)
        fprintf(fp, "# ubatch_pipeline: with the layer split, a step's 512-token ubatches run "
                    "pipelined over the GPUs (#6017)\nubatch_pipeline 1\n");
    fprintf(fp, "cuda_graph_max_tokens %u\n", p->graph_max_tokens);
    if (p->min_build_ym > 0)
        fprintf(fp,
                "# min_build_ym: rows of builds stated before this month are not this preset's\n"
                "min_build_ym %u\n",
                p->min_build_ym);
    bool any = false;
    if (p->arch_flops_free)
        fprintf(fp, "# arch_flops_free: flops_eff is the efficiency of the devices of "
                    "architectures without a term, the terms relative to it\narch_flops_free 1\n");
    for (size_t a = 0; a < sim_arch_count(); a++)
        if (p->arch_flops[a] > 0) {
            if (!any)
                fprintf(fp,
                        "# arch_flops: flops_eff's multiplier for multi-token matrix products "
                        "per architecture with 2 devices or more%s\n",
                        p->arch_flops_free ? "" : " (their geometric mean over devices 1)");
            any = true;
            fprintf(fp, "arch_flops %s %.4f\n", sim_arch_name(a), p->arch_flops[a]);
        }
    if (p->xqa_jit)
        fprintf(fp,
                "# xqa_jit: decode attention reads the KV once (XQA) where 4 x the GPU's KV heads "
                "x the batch reaches its SM count, else once per query head (v0.11)\nxqa_jit 1\n");
    if (p->mmha_grid)
        fprintf(fp, "# mmha_grid: fa_wave_fill counts TensorRT-LLM's decode attention grid: a "
                    "block per sequence and query head (XQA: KV head), no split\nmmha_grid 1\n");
    if (p->gqa_kv_per_head)
        fprintf(fp, "# gqa_kv_per_head: decode attention reads each KV head once per query head "
                    "sharing it (masked MHA before XQA)\ngqa_kv_per_head 1\n");
    if (p->ggml_graph_2023)
        fprintf(fp, "# ggml_graph_2023: llama.cpp build 1691's graph: the LM head over every "
                    "token, its logits copied to the host, attention over the padded KV "
                    "rectangle, fp32 activations through memory\nggml_graph_2023 1\n");
    if (p->matmul_measured)
        fprintf(fp, "# matmul_measured: flops_eff is a share of the device's measured achievable "
                    "matmul rate (catalog/gpus.csv matmul_tflops)\nmatmul_measured 1\n");
    if (p->arch_bw_fit) {
        fprintf(fp, "# arch_bw: bw_eff's multiplier per architecture with 2 devices or more "
                    "(their geometric mean over devices 1)\n");
        fprintf(fp, "arch_bw_fit 1\n");
        for (size_t a = 0; a < sim_arch_count(); a++)
            if (p->arch_bw[a] > 0)
                fprintf(fp, "arch_bw %s %.4f\n", sim_arch_name(a), p->arch_bw[a]);
    }
    const char *base = strrchr(data, '/');
    /* fit_data holds 127 characters (sim_engine_preset). */
    fprintf(fp, "fit_data %.127s\nfit_rows %zu\n", base ? base + 1 : data, m);
    if (m > 0) {
        double *e = malloc(m * sizeof(double));
        if (e == NULL)
            cli_die("out of memory");
        size_t k = 0;
        for (size_t i = 0; i < m; i++) {
            double pred;
            char why[200];
            if (sim_validate_predict(&v->rows[idx[i]], p, &pred, why, sizeof(why)) == 0)
                e[k++] = fabs(pred / v->rows[idx[i]].value - 1);
        }
        double med, p90, worst;
        spread(e, k, &med, &p90, &worst);
        fprintf(fp, "fit_median_err %.4f\nfit_p90_err %.4f\n", med, p90);
        free(e);
        for (size_t i = 0; i < m; i++) {
            const sim_measurement *r = &v->rows[idx[i]];
            char key[80]; /* source_id and row_id hold 31 and 15 characters */
            if (sim_preset_row_key(key, sizeof(key), r->source_id, r->row_id) < 0)
                cli_die("calibrate: row %s:%s: id too long", r->source_id, r->row_id);
            fprintf(fp, "row %s %s %s %s %s %g\n", key, r->gpu.name, r->model.name,
                    r->weights->name, r->metric_name, r->value);
        }
    }
    if (fclose(fp) != 0)
        cli_die("--out: cannot write %s", path);
    /* What calibrate writes must be a preset kvsim reads. */
    sim_engine_preset back;
    char err[512];
    if (sim_preset_lookup(path, &back, err, sizeof(err)) != 0)
        cli_die("calibrate: wrote a preset kvsim cannot read: %s", err);
    printf("  %s\n", path);
}

int cmd_calibrate(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *dir = NULL;
    unsigned jobs = default_jobs();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_calibrate, stdout);
            return 0;
        }
        if (jobs_opt(argc, argv, &i, &jobs))
            continue;
        const char **dst = strcmp(a, "--data") == 0      ? &data
                           : strcmp(a, "--out") == 0     ? &out
                           : strcmp(a, "--presets") == 0 ? &dir
                                                         : NULL;
        if (dst == NULL)
            cli_die("calibrate: unknown option '%s' (kvsim calibrate --help)", a);
        if (i + 1 >= argc)
            cli_die("%s needs a value", a);
        if (*dst != NULL)
            cli_die("%s given twice", a);
        *dst = argv[++i];
    }
    if (data == NULL || out == NULL)
        cli_die("calibrate: --data FILE.csv and --out DIR are required (kvsim calibrate --help)");
    check_presets_dir(dir);
    cli_make_dirs(out);
    vctx v = {.preset_dir = dir};
    read_rows(data, &v);
    size_t *idx = malloc((v.n + 1) * sizeof(size_t));
    if (idx == NULL)
        cli_die("out of memory");
    const char *names[64];
    size_t np = preset_names(&v, names);
    char err[512];
    sim_engine_preset trt;
    bool have_trt = false;
    size_t written = 0;
    printf("kvsim calibrate: %s\n", data);
    /* Each preset's fit a job (run_jobs), its rows those the model can
     * replay: a row refused for its layout or memory is refused whatever
     * the terms. */
    sim_engine_preset *prs = calloc(np + 1, sizeof(*prs));
    fit_job *fj = calloc(np + 1, sizeof(*fj));
    size_t *total = calloc(np + 1, sizeof(size_t));
    if (prs == NULL || fj == NULL || total == NULL)
        cli_die("out of memory");
    for (size_t k = 0; k < np; k++) {
        if (load_preset(dir, names[k], &prs[k], err, sizeof(err)) != 0)
            cli_die("calibrate: rows name preset '%s' but %s", names[k], err);
        size_t m = preset_rows(&v, names[k], idx);
        total[k] = m;
        fj[k].p = prs[k].params;
        fj[k].train = malloc((m + 1) * sizeof(size_t));
        if (fj[k].train == NULL)
            cli_die("out of memory");
        for (size_t i = 0; i < m; i++) {
            double pred;
            char why[200];
            if (sim_validate_predict(&v.rows[idx[i]], &prs[k].params, &pred, why, sizeof(why)) == 0)
                fj[k].train[fj[k].nt++] = idx[i];
        }
    }
    run_jobs(&v, fj, np, jobs);
    for (size_t k = 0; k < np; k++) {
        sim_engine_preset *pr = &prs[k];
        size_t m = fj[k].nt;
        if (m == 0) {
            printf("  %s: none of its %zu rows can be replayed; not written\n", names[k], total[k]);
            continue;
        }
        pr->params = fj[k].p;
        const size_t *fit_idx = fj[k].train;
        char basis[320];
        size_t nsrc = 0;
        char srcs[200] = "";
        for (size_t i = 0; i < m; i++) {
            const char *s = v.rows[fit_idx[i]].source_id;
            if (strstr(srcs, s) == NULL && strlen(srcs) + strlen(s) + 3 < sizeof(srcs)) {
                strcat(srcs, nsrc ? ", " : "");
                strcat(srcs, s);
                nsrc++;
            }
        }
        snprintf(basis, sizeof(basis), "fitted to %zu rows of %s (sources %s)", m, data, srcs);
        write_preset(out, pr, &v, fit_idx, m, data, basis);
        written++;
        if (strcmp(names[k], "trtllm") == 0) {
            trt = *pr;
            have_trt = true;
        }
    }
    for (size_t k = 0; k < np; k++)
        free(fj[k].train);
    free(fj);
    free(prs);
    free(total);
    /* vLLM: no vLLM rows in the data: the TensorRT-LLM fit, said so. */
    size_t mv = preset_rows(&v, "vllm", idx);
    if (mv == 0 && have_trt) {
        sim_engine_preset vl;
        if (load_preset(dir, "vllm", &vl, err, sizeof(err)) != 0)
            cli_die("calibrate: %s", err);
        sim_cost_params flags = vl.params;
        vl.params = trt.params;
        vl.params.flash_attn = flags.flash_attn;
        vl.params.overhead_bytes = flags.overhead_bytes;
        vl.params.graph_max_tokens = flags.graph_max_tokens;
        write_preset(out, &vl, &v, idx, 0, data,
                     "no vLLM rows in the data: the TensorRT-LLM fit, its per-layer launch "
                     "overhead not paid by steps vLLM replays as CUDA graphs (override with "
                     "--bw-eff, --flops-eff, --layer-overhead-us, or a step profile)");
        written++;
    }
    free(idx);
    free(v.out);
    sim_measurements_free(v.rows);
    if (written == 0) {
        /* Nothing fitted is a failure, not a quiet success. */
        fflush(stdout);
        cli_error("calibrate: %s: no preset written: no row can be replayed (kvsim validate "
                  "--data counts them by reason)",
                  data);
        return 1;
    }
    return 0;
}
