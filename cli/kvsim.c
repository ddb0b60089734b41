/*
 * kvsim.c: the command line. Only this file prints errors and exits; the
 * libraries return codes and one-line messages (STYLE.md).
 *
 *   kvsim run --trace FILE --gpu NAME --model NAME|config.json [options]
 *   kvsim list gpus|models
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis/metrics.h"
#include "analysis/report.h"
#include "sim/catalog.h"
#include "sim/cost.h"
#include "sim/engine.h"
#include "workloads/source.h"

#define KVSIM_VERSION "0.1.0"

static const char usage_main[] =
    "kvsim " KVSIM_VERSION ": a discrete-event simulator of LLM-serving KV-cache memory\n"
    "\n"
    "usage:\n"
    "  kvsim run --trace FILE --gpu NAME --model NAME|config.json [options]\n"
    "      replay a request trace (gzip or plain) through one replica and report\n"
    "      throughput, latency and where every byte of the KV pool went\n"
    "  kvsim list gpus       the GPU catalog (memory, bandwidth, TFLOPS)\n"
    "  kvsim list models     the model catalog (parameters, layers, KV heads, KV bytes/token)\n"
    "  kvsim --help | --version\n"
    "\n"
    "kvsim run --help lists every option of a run.\n";

static const char usage_run[] =
    "usage: kvsim run --trace FILE --gpu NAME --model NAME|config.json [options]\n"
    "\n"
    "input\n"
    "  --trace FILE            request trace, gzip or plain; '-' reads standard input\n"
    "  --format FMT            auto (default), kvsim, azure, mooncake\n"
    "  --gpu NAME              GPU from the catalog (kvsim list gpus)\n"
    "  --model NAME|PATH       model from the catalog (kvsim list models) or a HuggingFace\n"
    "                          config.json\n"
    "\n"
    "output\n"
    "  --out DIR               write summary.json, requests.csv and timeseries.csv to DIR\n"
    "  --ts-interval S         time-series sampling period in simulated seconds (default 1)\n"
    "  --quiet                 do not print the summary\n"
    "\n"
    "scheduler (vLLM v0: iteration-level, FCFS, prefill first, preemption by recompute)\n"
    "  --max-num-seqs N        most sequences running at once (default 256)\n"
    "  --max-batched-tokens N  most prompt tokens per step (default max(max-model-len, 2048))\n"
    "  --max-model-len N       longest sequence (default: the model's max_position_embeddings)\n"
    "  --watermark X           share of blocks kept free at admission (default 0.01)\n"
    "\n"
    "KV cache\n"
    "  --allocator SPEC        strategy[:key=value,...]; default paged:block=16\n"
    "  --block-size N          tokens per block of the paged allocator (default 16)\n"
    "  --mem-util X            share of GPU memory the engine may use, (0, 1] (default 0.90)\n"
    "  --kv-pool-gib X         KV pool size in GiB, instead of what memory leaves\n"
    "  --num-blocks N          KV pool as N blocks, overriding both\n"
    "  --dtype T               weight format: fp16 (default), bf16, fp32, fp8\n"
    "  --kv-dtype T            KV format: fp16 (default), bf16, fp32, fp8\n"
    "\n"
    "cost model (roofline: max(bytes / bandwidth, FLOPs / peak) + per-step overhead)\n"
    "  --engine NAME           efficiency preset: vllm (default), trtllm, llamacpp\n"
    "  --bw-eff X              achieved share of memory bandwidth, (0, 1]\n"
    "  --flops-eff X           achieved share of peak FLOPs, (0, 1]\n"
    "  --step-overhead-ms X    fixed time per step\n"
    "  --runtime-overhead-gib X  GPU memory outside weights, activations and KV\n"
    "\n"
    "other\n"
    "  --seed N                seed of the run's random streams (default 0)\n"
    "  --check                 check allocator invariants after every operation (slow)\n"
    "  --help                  this text\n";

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "kvsim: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    exit(2);
}

static double parse_double(const char *opt, const char *s, double lo, double hi, int lo_open)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v > hi ||
        (lo_open ? v <= lo : v < lo)) {
        char range[96];
        snprintf(range, sizeof(range), "a number in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
        fprintf(stderr, "kvsim: %s: '%s' is not %s\n", opt, s, range);
        exit(2);
    }
    return v;
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        fprintf(stderr, "kvsim: %s: '%s' is not an integer in [%llu, %llu]\n", opt, s,
                (unsigned long long)lo, (unsigned long long)hi);
        exit(2);
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "kvsim: %s: '%s' is not an integer in [%llu, %llu]\n", opt, s,
                (unsigned long long)lo, (unsigned long long)hi);
        exit(2);
    }
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Creates DIR and its missing parents, as mkdir -p. Returns 0, or -1 with errno set. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        fprintf(stderr, "kvsim: %s: cannot write: %s\n", path, strerror(errno));
        exit(1);
    }
    return fp;
}

static void close_out(FILE *fp, const char *dir, const char *name)
{
    if (fp != NULL && (ferror(fp) | fclose(fp)) != 0) {
        fprintf(stderr, "kvsim: %s/%s: write error\n", dir, name);
        exit(1);
    }
}

/* Options of `kvsim run`, as given. */
typedef struct run_opts {
    const char *trace, *format, *gpu, *model, *out, *allocator, *block_size, *dtype, *kv_dtype,
        *engine, *bw_eff, *flops_eff, *step_overhead_ms, *runtime_overhead_gib, *mem_util,
        *kv_pool_gib, *num_blocks, *watermark, *max_num_seqs, *max_batched_tokens, *max_model_len,
        *seed, *ts_interval;
    int quiet, check;
} run_opts;

static void parse_run_args(int argc, char **argv, run_opts *o)
{
    memset(o, 0, sizeof(*o));
    struct {
        const char *name;
        const char **dst;
    } valued[] = {
        {"--trace", &o->trace},
        {"--format", &o->format},
        {"--gpu", &o->gpu},
        {"--model", &o->model},
        {"--out", &o->out},
        {"--allocator", &o->allocator},
        {"--block-size", &o->block_size},
        {"--dtype", &o->dtype},
        {"--kv-dtype", &o->kv_dtype},
        {"--engine", &o->engine},
        {"--bw-eff", &o->bw_eff},
        {"--flops-eff", &o->flops_eff},
        {"--step-overhead-ms", &o->step_overhead_ms},
        {"--runtime-overhead-gib", &o->runtime_overhead_gib},
        {"--mem-util", &o->mem_util},
        {"--kv-pool-gib", &o->kv_pool_gib},
        {"--num-blocks", &o->num_blocks},
        {"--watermark", &o->watermark},
        {"--max-num-seqs", &o->max_num_seqs},
        {"--max-batched-tokens", &o->max_batched_tokens},
        {"--max-model-len", &o->max_model_len},
        {"--seed", &o->seed},
        {"--ts-interval", &o->ts_interval},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_run, stdout);
            exit(0);
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--check") == 0) {
            o->check = 1;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int matched = 0;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
            if (strlen(valued[k].name) != nlen || strncmp(a, valued[k].name, nlen) != 0)
                continue;
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                die("%s needs a value (kvsim run --help)%s", valued[k].name, "");
            if (*valued[k].dst != NULL)
                die("%s given twice%s", valued[k].name, "");
            *valued[k].dst = v;
            matched = 1;
            break;
        }
        if (!matched)
            die("run: unknown option '%s' (kvsim run --help lists them)%s", a, "");
    }
}

static int cmd_run(int argc, char **argv)
{
    run_opts o;
    parse_run_args(argc, argv, &o);
    if (o.trace == NULL)
        die("run: --trace FILE is required (kvsim run --help)%s%s", "", "");
    if (o.gpu == NULL)
        die("run: --gpu NAME is required (kvsim list gpus)%s%s", "", "");
    if (o.model == NULL)
        die("run: --model NAME is required (kvsim list models)%s%s", "", "");

    char err[1024];
    sim_gpu gpu;
    sim_model model;
    if (sim_gpu_lookup(o.gpu, &gpu, err, sizeof(err)) != 0)
        die("--gpu: %s%s", err, "");
    if (sim_model_lookup(o.model, &model, err, sizeof(err)) != 0)
        die("--model: %s%s", err, "");

    sim_config cfg;
    sim_config_defaults(&cfg, &gpu, &model);
    char names[256];
    if (o.dtype != NULL && (cfg.weight_dtype = sim_dtype_find(o.dtype)) == NULL) {
        sim_dtype_names(names, sizeof(names));
        die("--dtype: unknown format '%s' (known: %s)", o.dtype, names);
    }
    if (o.kv_dtype != NULL && (cfg.kv_dtype = sim_dtype_find(o.kv_dtype)) == NULL) {
        sim_dtype_names(names, sizeof(names));
        die("--kv-dtype: unknown format '%s' (known: %s)", o.kv_dtype, names);
    }
    if (o.engine != NULL) {
        const sim_engine_preset *pr = sim_engine_preset_find(o.engine);
        if (pr == NULL) {
            sim_engine_preset_names(names, sizeof(names));
            die("--engine: unknown preset '%s' (known: %s)", o.engine, names);
        }
        snprintf(cfg.engine, sizeof(cfg.engine), "%s", pr->name);
        cfg.cost = pr->params;
    }
    if (o.bw_eff)
        cfg.cost.bw_eff = parse_double("--bw-eff", o.bw_eff, 0, 1, 1);
    if (o.flops_eff)
        cfg.cost.flops_eff = parse_double("--flops-eff", o.flops_eff, 0, 1, 1);
    if (o.step_overhead_ms)
        cfg.cost.step_overhead_s =
            parse_double("--step-overhead-ms", o.step_overhead_ms, 0, 60000, 0) / 1000.0;
    if (o.runtime_overhead_gib)
        cfg.cost.overhead_bytes =
            parse_double("--runtime-overhead-gib", o.runtime_overhead_gib, 0, 1e6, 0) *
            1073741824.0;
    if (o.mem_util)
        cfg.mem_util = parse_double("--mem-util", o.mem_util, 0, 1, 1);
    if (o.kv_pool_gib)
        cfg.kv_pool_gib = parse_double("--kv-pool-gib", o.kv_pool_gib, 0, 1e6, 1);
    if (o.num_blocks)
        cfg.num_blocks = (uint32_t)parse_u64("--num-blocks", o.num_blocks, 1, UINT32_MAX - 1);
    if (o.watermark)
        cfg.watermark = parse_double("--watermark", o.watermark, 0, 0.5, 0);
    if (o.max_num_seqs)
        cfg.max_num_seqs = (uint32_t)parse_u64("--max-num-seqs", o.max_num_seqs, 1, 1u << 20);
    if (o.max_batched_tokens)
        cfg.max_batched_tokens =
            (uint32_t)parse_u64("--max-batched-tokens", o.max_batched_tokens, 1, 1u << 30);
    if (o.max_model_len)
        cfg.max_model_len = (uint32_t)parse_u64("--max-model-len", o.max_model_len, 1, 1u << 30);
    if (o.seed)
        cfg.seed = parse_u64("--seed", o.seed, 0, UINT64_MAX);
    double ts_interval =
        o.ts_interval ? parse_double("--ts-interval", o.ts_interval, 0, 1e9, 1) : 1.0;
    cfg.check = o.check != 0;

    if (o.allocator != NULL && o.block_size != NULL)
        die("--block-size and --allocator both given: use --allocator paged:block=%s%s",
            o.block_size, "");
    if (o.allocator != NULL) {
        snprintf(cfg.allocator, sizeof(cfg.allocator), "%s", o.allocator);
    } else if (o.block_size != NULL) {
        uint64_t b = parse_u64("--block-size", o.block_size, 1, 65536);
        snprintf(cfg.allocator, sizeof(cfg.allocator), "paged:block=%llu", (unsigned long long)b);
    }

    trace_format fmt = TRACE_FORMAT_AUTO;
    if (o.format != NULL && trace_format_parse(o.format, &fmt) != 0)
        die("--format: unknown format '%s' (known: auto, kvsim, azure, mooncake)%s", o.format, "");

    if (o.out != NULL && make_dirs(o.out) != 0) {
        fprintf(stderr, "kvsim: --out: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }

    wl_source *src;
    if (wl_open_trace(&src, o.trace, fmt, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvsim: %s\n", err);
        return 1;
    }

    FILE *req_csv = o.out ? open_out(o.out, "requests.csv") : NULL;
    FILE *ts_csv = o.out ? open_out(o.out, "timeseries.csv") : NULL;
    an_metrics metrics;
    an_metrics_init(&metrics, req_csv, ts_csv, ts_interval);
    sim_observer obs = an_metrics_observer(&metrics);

    double t0 = now_s();
    sim_result res;
    int rc = sim_run(&cfg, src, &obs, &res, err, sizeof(err));
    double wall = now_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "kvsim: %s\n", err);
        wl_close(src);
        an_metrics_free(&metrics);
        close_out(req_csv, o.out, "requests.csv");
        close_out(ts_csv, o.out, "timeseries.csv");
        return 1;
    }
    an_metrics_finish(&metrics, res.makespan_s);

    an_run_info info = {&cfg, &res, &metrics, wl_describe(src), wall};
    if (!o.quiet)
        an_print_summary(stdout, &info);
    int status = 0;
    if (metrics.io_error) {
        fprintf(stderr, "kvsim: out of memory or write error while recording metrics\n");
        status = 1;
    }
    close_out(req_csv, o.out, "requests.csv");
    close_out(ts_csv, o.out, "timeseries.csv");
    if (o.out != NULL) {
        FILE *js = open_out(o.out, "summary.json");
        if (an_write_summary_json(js, &info) != 0)
            status = 1;
        close_out(js, o.out, "summary.json");
        if (!o.quiet)
            printf("wrote %s/summary.json, %s/requests.csv, %s/timeseries.csv\n", o.out, o.out,
                   o.out);
    }
    wl_close(src);
    an_metrics_free(&metrics);
    return status;
}

static int cmd_list(int argc, char **argv)
{
    if (argc != 1 || (strcmp(argv[0], "gpus") != 0 && strcmp(argv[0], "models") != 0))
        die("list: say what to list: kvsim list gpus | kvsim list models%s%s", "", "");
    if (strcmp(argv[0], "gpus") == 0) {
        printf("%-16s %9s %10s %10s %-10s %s\n", "name", "mem_GiB", "bw_GB/s", "fp16_TFLOPS",
               "link", "device");
        sim_gpu g;
        for (size_t i = 0; sim_gpu_at(i, &g) == 0; i++) {
            char tf[32] = "-";
            if (g.fp16_flops > 0)
                snprintf(tf, sizeof(tf), "%.1f", g.fp16_flops / 1e12);
            printf("%-16s %9.1f %10.0f %10s  %-10s %s%s\n", g.name,
                   (double)g.memory_bytes / 1073741824.0, g.mem_bw_Bps / 1e9, tf, g.interconnect,
                   g.display, strcmp(g.verified, "yes") == 0 ? "" : " (partly unverified)");
        }
        return 0;
    }
    printf("%-16s %9s %6s %6s %8s %8s %14s %8s\n", "name", "params_B", "layers", "heads",
           "kv_heads", "head_dim", "kv_bytes/token", "max_len");
    sim_model m;
    for (size_t i = 0; i < sim_model_count(); i++) {
        if (sim_model_at(i, &m) != 0)
            return 1;
        printf("%-16s %9.2f %6u %6u %8u %8u %14llu %8u%s\n", m.name, (double)m.params_total / 1e9,
               m.layers, m.heads, m.kv_heads, m.head_dim,
               (unsigned long long)sim_model_kv_bytes_per_token(&m, 2.0), m.max_len,
               m.experts ? " (MoE)" : "");
    }
    printf("(KV bytes per token at fp16 = 2 x layers x kv_heads x head_dim x 2)\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kvsim %s\n", KVSIM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    fprintf(stderr, "kvsim: unknown command '%s' (kvsim --help)\n", cmd);
    return 2;
}
