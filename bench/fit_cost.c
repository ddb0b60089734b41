/*
 * fit_cost.c: fits the cost model's efficiency terms (bw_eff, flops_eff,
 * step_overhead_s) per engine to the published measurements in
 * catalog/calibration.csv, through the simulator's own sim_cost_step_s, and
 * prints every row's prediction and error.
 *
 * Each row is replayed as its benchmark ran it:
 *   ttft_ms              one prefill step of input_tokens (batch 1);
 *   prefill_tok_s        input_tokens / one prefill step (llama.cpp main);
 *   decode_tok_s         batch-1 decode while the context grows from
 *                        input_tokens over output_tokens - 1 tokens
 *                        (llama.cpp main: prompt 494, -n 1024);
 *   output_tok_s(_per_gpu) TensorRT-LLM static batch: one prefill of
 *                        batch x input tokens, then output - 1 decode steps
 *                        of the whole batch; batch x output / total time.
 * The fit minimises the sum of squared log errors over a grid (bw_eff
 * 0.30..1.00, flops_eff 0.20..1.00 by 0.01, overhead 0..10 ms by 0.25 ms).
 *
 * usage: fit_cost [catalog/calibration.csv]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog.h"
#include "sim/cost.h"

typedef struct row {
    char id[16];
    char engine[16];
    char gpu[32];
    char model[32];
    char metric[32];
    double batch, input, output, value;
    sim_cost cost; /* efficiency terms filled per candidate */
} row;

enum { MAX_ROWS = 256, DECODE_SAMPLES = 33 };

/* Decode time summed over contexts [from, from + n), sampled (the step
 * time is piecewise linear in the context, so 33 samples are plenty). */
static double decode_sum(const sim_cost *c, double batch, double from, double n)
{
    if (n <= 0)
        return 0;
    double sum = 0;
    int samples = n < DECODE_SAMPLES ? (int)n : DECODE_SAMPLES;
    for (int i = 0; i < samples; i++) {
        double ctx = from + (n - 1) * (samples > 1 ? (double)i / (samples - 1) : 0);
        sim_batch_shape b = {.decode_seqs = (uint32_t)batch,
                             .decode_ctx_tokens = (uint64_t)llround(batch * ctx)};
        sum += sim_cost_step_s(c, &b);
    }
    return sum / samples * n;
}

static double prefill(const sim_cost *c, double batch, double input)
{
    sim_batch_shape b = {.prefill_seqs = (uint32_t)batch,
                         .prefill_tokens = (uint64_t)(batch * input),
                         .prefill_attn_pairs = batch * input * (input + 1) / 2};
    return sim_cost_step_s(c, &b);
}

static double predict(const row *r)
{
    const sim_cost *c = &r->cost;
    if (strcmp(r->metric, "ttft_ms") == 0)
        return 1000.0 * prefill(c, 1, r->input);
    if (strcmp(r->metric, "prefill_tok_s") == 0)
        return r->input / prefill(c, 1, r->input);
    if (strcmp(r->metric, "decode_tok_s") == 0)
        return (r->output - 1) / decode_sum(c, 1, r->input + 1, r->output - 1);
    /* output_tok_s, output_tok_s_per_gpu (TP = 1) */
    double t =
        prefill(c, r->batch, r->input) + decode_sum(c, r->batch, r->input + 1, r->output - 1);
    return r->batch * r->output / t;
}

static double score(row *rows, int n, const char *engine, sim_cost_params p)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].engine, engine) != 0)
            continue;
        rows[i].cost.p = p;
        double e = log(predict(&rows[i]) / rows[i].value);
        s += e * e;
    }
    return s;
}

static int load(const char *path, row *rows)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "fit_cost: cannot open %s\n", path);
        return -1;
    }
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[len] = '\0';
    const char *p = text;
    char buf[4096];
    char *f[32];
    int nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
    int col[10];
    const char *names[10] = {"row_id", "engine",       "gpu",           "model",  "dtype",
                             "batch",  "input_tokens", "output_tokens", "metric", "value"};
    for (int c = 0; c < 10; c++) {
        col[c] = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(f[i], names[c]) == 0)
                col[c] = i;
        if (col[c] < 0) {
            fprintf(stderr, "fit_cost: %s: missing column %s\n", path, names[c]);
            return -1;
        }
    }
    int n = 0, line = 1;
    while (*p != '\0' && n < MAX_ROWS) {
        line++;
        nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
        if (nf < 10)
            continue;
        row *r = &rows[n];
        memset(r, 0, sizeof(*r));
        snprintf(r->id, sizeof(r->id), "%s", f[col[0]]);
        snprintf(r->engine, sizeof(r->engine), "%s", f[col[1]]);
        snprintf(r->gpu, sizeof(r->gpu), "%s", f[col[2]]);
        snprintf(r->model, sizeof(r->model), "%s", f[col[3]]);
        snprintf(r->metric, sizeof(r->metric), "%s", f[col[8]]);
        r->batch = atof(f[col[5]]);
        r->input = atof(f[col[6]]);
        r->output = atof(f[col[7]]);
        r->value = atof(f[col[9]]);
        sim_gpu g;
        sim_model m;
        char err[512];
        const sim_dtype *dt = sim_dtype_find(f[col[4]]);
        if (sim_gpu_lookup(r->gpu, &g, err, sizeof(err)) != 0 ||
            sim_model_lookup(r->model, &m, err, sizeof(err)) != 0 || dt == NULL ||
            !(r->value > 0) || !(r->batch >= 1)) {
            fprintf(stderr, "fit_cost: %s:%d: skipped (%s)\n", path, line,
                    dt == NULL ? "unknown dtype" : err);
            continue;
        }
        sim_cost_params p0 = {0.8, 0.5, 0.0, 0.0};
        sim_cost_init(&r->cost, &g, &m, dt, dt, &p0, 1, NULL);
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "catalog/calibration.csv";
    static row rows[MAX_ROWS];
    int n = load(path, rows);
    if (n <= 0)
        return 1;
    const char *engines[3] = {"trtllm", "llamacpp", "llamacpp-metal"};
    for (int e = 0; e < 3; e++) {
        sim_cost_params best = {0, 0, 0, 0};
        double best_s = INFINITY;
        for (int b = 30; b <= 100; b++)
            for (int fl = 20; fl <= 100; fl++)
                for (int o = 0; o <= 40; o++) {
                    sim_cost_params p = {b / 100.0, fl / 100.0, o * 0.00025, 0};
                    double s = score(rows, n, engines[e], p);
                    if (s < best_s) {
                        best_s = s;
                        best = p;
                    }
                }
        score(rows, n, engines[e], best);
        int cnt = 0;
        double abs_sum = 0, worst = 0;
        printf("\n%s: bw_eff %.2f, flops_eff %.2f, step_overhead %.2f ms\n", engines[e],
               best.bw_eff, best.flops_eff, best.step_overhead_s * 1000);
        printf("  %-6s %-16s %-12s %-22s %6s %6s %6s %10s %10s %7s\n", "row", "gpu", "model",
               "metric", "batch", "in", "out", "measured", "predicted", "error");
        for (int i = 0; i < n; i++) {
            row *r = &rows[i];
            if (strcmp(r->engine, engines[e]) != 0)
                continue;
            double pr = predict(r);
            double err = 100.0 * (pr - r->value) / r->value;
            printf("  %-6s %-16s %-12s %-22s %6.0f %6.0f %6.0f %10.1f %10.1f %+6.1f%%\n", r->id,
                   r->gpu, r->model, r->metric, r->batch, r->input, r->output, r->value, pr, err);
            cnt++;
            abs_sum += fabs(err);
            if (fabs(err) > worst)
                worst = fabs(err);
        }
        printf("  %d rows: mean |error| %.1f%%, worst %.1f%%, rms log error %.3f\n", cnt,
               abs_sum / cnt, worst, sqrt(best_s / cnt));
    }
    return 0;
}
