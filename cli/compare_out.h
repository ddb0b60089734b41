/*
 * compare_out.h: the files of a `kvsim compare --out DIR`, whatever it
 * compares (allocators, KV-cache or weight formats, speculation):
 * compare.csv and compare.json, one row per run with its KV pool breakdown,
 * batch, latency, throughput, memory plan and speculation figures, and the
 * breakdown's bars (compare.png, .svg). The first column names the runs:
 * `allocator`, `kv_cache_dtype`, `quantization` or `speculative`.
 */
#ifndef KVSIM_CLI_COMPARE_OUT_H
#define KVSIM_CLI_COMPARE_OUT_H

#include "cli/run_config.h"

/* The latencies compare prints and writes, in milliseconds, as `kvsim
 * run` reports them (an_metrics_latency: numpy's definitions on the exact
 * values where the run kept them), under vLLM's names. */
typedef struct cli_compare_lat {
    double median_ttft_ms, p99_ttft_ms, median_tpot_ms, p99_tpot_ms, mean_e2el_ms;
} cli_compare_lat;

void cli_compare_lat_of(const an_metrics *m, cli_compare_lat *l);

/* Writes OUT/compare.csv and compare.json for the N runs RUNS, named
 * LABELS[i] under the column LABEL_COL, of MODEL on GPU; commits the
 * command's files and draws compare.png and .svg from compare.csv.
 * Exits with a one-line error on failure; prints what it wrote unless
 * QUIET, WHAT naming the per-run folders ("allocator", "format", ...). */
void cli_compare_write(const char *out, const char *label_col, const char *const *labels,
                       const cli_result *runs, int n, const char *model, const char *gpu,
                       bool quiet, bool plot, const char *what);

#endif
