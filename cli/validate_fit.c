/*
 * validate_fit.c: the rows `kvsim validate` and `kvsim calibrate` read,
 * the presets they name, each preset's terms fitted to rows (the terms
 * the rows can tell apart), and the fits in threads; see
 * cli/validate_int.h. The arithmetic is sim/validate.c; reading and
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

#include "analysis/samples.h"
#include "cli/run_config.h"
#include "cli/validate_int.h"

/* --presets DIR must be a directory: a mistyped one would otherwise mean
 * the built-in presets without a word. */
void vt_check_presets_dir(const char *dir)
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
int vt_load_preset(const char *dir, const char *name, sim_engine_preset *p, char *err,
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
void vt_spread(const double *v, size_t n, double *med, double *p90, double *worst)
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

void vt_read_rows(const char *data, vctx *v)
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
size_t vt_preset_rows(const vctx *v, const char *name, size_t *idx)
{
    size_t m = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->rows[i].reason[0] == '\0' && strcmp(v->out[i].preset, name) == 0)
            idx[m++] = i;
    return m;
}

/* Distinct preset names of the expressible rows, in first-seen order. */
size_t vt_preset_names(const vctx *v, const char *names[64])
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

void vt_print_unpredicted(const vctx *v, const char *title)
{
    size_t left = 0;
    for (size_t i = 0; i < v->n; i++)
        left += !v->out[i].ok;
    if (left == 0)
        return;
    printf("\n%s: %zu rows\n", title, left);
    bool *counted = calloc(v->n + 1, 1);
    if (counted == NULL)
        cli_die("out of memory");
    for (size_t i = 0; i < v->n; i++) {
        if (v->out[i].ok || counted[i])
            continue;
        size_t c = 0;
        const char *ex = NULL;
        for (size_t j = i; j < v->n; j++)
            if (!v->out[j].ok && !counted[j] && strcmp(v->out[j].why, v->out[i].why) == 0) {
                counted[j] = true;
                c++;
                if (ex == NULL)
                    ex = v->rows[j].detail[0] ? v->rows[j].detail : NULL;
            }
        printf("  %5zu  %s%s%s%s\n", c, v->out[i].why, ex ? " (e.g. " : "", ex ? ex : "",
               ex ? ")" : "");
    }
    free(counted);
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
     * of any metric (vt_fit() keeps it to presets that opt in). */
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
void vt_fit(const vctx *v, const size_t *idx, size_t m, sim_cost_params *p)
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

void vt_predict(vctx *v, size_t i, const sim_cost_params *p)
{
    row_out *o = &v->out[i];
    if (sim_validate_predict(&v->rows[i], p, &o->pred, o->why, sizeof(o->why)) == 0) {
        o->ok = true;
        o->err = o->pred / v->rows[i].value - 1;
    }
}

typedef struct job_pool {
    vctx *v;
    fit_job *jobs;
    const size_t *order; /* the jobs' indices, largest fit first */
    size_t n;
    atomic_size_t next;
} job_pool;

static void run_job(vctx *v, fit_job *j)
{
    if (j->nt > 0)
        vt_fit(v, j->train, j->nt, &j->p);
    for (size_t i = 0; i < j->ntest; i++)
        vt_predict(v, j->test[i], &j->p);
}

static void *job_worker(void *arg)
{
    job_pool *pool = arg;
    for (;;) {
        size_t k = atomic_fetch_add(&pool->next, 1);
        if (k >= pool->n)
            return NULL;
        run_job(pool->v, &pool->jobs[pool->order[k]]);
    }
}

/* A job's place in the run: larger fits (more rows) first, the rows'
 * count standing for a fit's time, so the threads end together. */
typedef struct job_rank {
    size_t nt, k;
} job_rank;

static int cmp_job_rank(const void *a, const void *b)
{
    size_t x = ((const job_rank *)a)->nt, y = ((const job_rank *)b)->nt;
    return (x < y) - (x > y);
}

/* Runs the N JOBS on up to THREADS threads (the calling one among them),
 * the largest fits first; each job's result is the same whichever thread
 * runs it and in whatever order. */
void vt_run_jobs(vctx *v, fit_job *jobs, size_t n, unsigned threads)
{
    job_rank *rank = malloc((n + 1) * sizeof(*rank));
    size_t *order = malloc((n + 1) * sizeof(size_t));
    if (rank == NULL || order == NULL)
        cli_die("out of memory");
    for (size_t k = 0; k < n; k++)
        rank[k] = (job_rank){jobs[k].nt, k};
    if (n > 1)
        qsort(rank, n, sizeof(*rank), cmp_job_rank);
    for (size_t k = 0; k < n; k++)
        order[k] = rank[k].k;
    free(rank);
    job_pool pool = {.v = v, .jobs = jobs, .order = order, .n = n};
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
    free(order);
}

/* -j's default: the online CPUs. */
unsigned vt_default_jobs(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 256 ? 256 : (unsigned)c;
}

/* -j N, -jN or --jobs N at ARGV[*I]: true (the count in *JOBS, *I past
 * its value) when it is one of them. */
bool vt_jobs_opt(int argc, char **argv, int *i, unsigned *jobs)
{
    const char *a = argv[*i];
    const char *v = NULL, *name = a;
    if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
        if (*i + 1 >= argc)
            cli_die("%s needs a value", a);
        v = argv[++*i];
    } else if (strncmp(a, "--jobs=", 7) == 0) {
        v = a + 7, name = "--jobs";
    } else if (strncmp(a, "-j", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
        v = a + 2, name = "-j";
    } else {
        return false;
    }
    if (*jobs != 0)
        cli_die("%s: the number of jobs given twice", name);
    *jobs = (unsigned)cli_parse_u64(name, v, 1, 256);
    return true;
}
