/*
 * run_config.c: run options, configuration building and one run; see
 * run_config.h. Only cli/ prints errors and exits.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli/run_config.h"

#include "cli/cli_gzip.h"

#include "sim/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/catalog.h"
#include "cli/cli_int.h"
#include "cli/cli_opts.h"
#include "cli/cli_out.h"
#include "sim/cost.h"
#include "sim/preset.h"
#include "sim/support.h"
#include "sim/formats.h"
#include "sim/spec.h"
#include "sim/sched.h"

/* What the messages are about, while set (cli_error_context). */
static const char *err_context;

void cli_error_context(const char *ctx)
{
    err_context = ctx;
}

/* Prints "kvsim: " and the message on one line: control characters that
 * came from the user's input (an option value with a newline) print as '?'.
 * Within a context, "kvsim: CONTEXT: " (a message's own "sweep: " left
 * out: the context says it). */
static void verror(const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if (err_context != NULL)
        fprintf(stderr, "kvsim: %s: %s\n", err_context,
                strncmp(buf, "sweep: ", 7) == 0 ? buf + 7 : buf);
    else
        fprintf(stderr, "kvsim: %s\n", buf);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
}

void cli_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    exit(2);
}

double cli_parse_double(const char *opt, const char *s, double lo, double hi, int lo_open)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* Decimal only: strtod also reads hexadecimal ('0x10' is 16) and skips
     * leading blanks, which the trace readers refuse too. */
    bool odd = strpbrk(s, "xX") != NULL || isspace((unsigned char)*s);
    if (*s == '\0' || *end != '\0' || odd || errno != 0 || !isfinite(v) || v > hi ||
        (lo_open ? v <= lo : v < lo)) {
        char range[96];
        snprintf(range, sizeof(range), "a number in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
        cli_error("%s: '%s' is not %s", opt, s, range);
        exit(2);
    }
    return v;
}

uint64_t cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        cli_error("%s: '%s' is not an integer in [%llu, %llu]", opt, s, (unsigned long long)lo,
                  (unsigned long long)hi);
        exit(2);
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < lo || v > hi) {
        cli_error("%s: '%s' is not an integer in [%llu, %llu]", opt, s, (unsigned long long)lo,
                  (unsigned long long)hi);
        exit(2);
    }
    return v;
}

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FILE *cli_open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return cli_out_fopen(path);
}

void cli_close_out(FILE *fp, const char *dir, const char *name)
{
    if (fp != NULL && (ferror(fp) | fclose(fp)) != 0) {
        cli_error("%s/%s: write error", dir, name);
        exit(1);
    }
}

void cli_make_dirs(const char *dir)
{
    cli_out_make_dirs(dir);
}

const char *cli_bench_option_hint(const char *name)
{
    /* `vllm bench serve`'s workload options, which kvsim spells as a
     * workload spec or a source option, and engine arguments it spells
     * otherwise. */
    static const struct {
        const char *vllm, *kvsim;
    } bench[] = {
        {"--num-prompts", "--limit N with a trace, or n=N in --workload (e.g. sharegpt:n=1000)"},
        {"--dataset-name", "--workload NAME:... (sharegpt, azure-conv, ...; kvsim gen --help) "
                           "or --trace FILE"},
        {"--dataset-path", "--trace FILE"},
        {"--random-input-len", "--workload 'poisson:rate=R,n=N;in=fixed:LEN;out=fixed:LEN'"},
        {"--random-output-len", "--workload 'poisson:rate=R,n=N;in=fixed:LEN;out=fixed:LEN'"},
        {"--sharegpt-output-len", "--workload 'sharegpt:n=N;out=fixed:LEN'"},
        {"--random-range-ratio",
         "a length distribution in --workload (in=uniform:min=A,max=B; kvsim gen --help)"},
        /* vLLM engine arguments kvsim spells otherwise. */
        {"--num-gpu-blocks-override", "--num-blocks N"},
        {"--kv-cache-memory-bytes", "--kv-pool-gib GIB"},
        {"--data-parallel-size", "--replicas N (each replica its own GPUs, requests routed "
                                 "between them)"},
        {"--speculative-model", "--speculative-config JSON ({\"method\": \"draft_model\", "
                                "\"model\": NAME, \"num_speculative_tokens\": K, ...})"},
        {"--num-speculative-tokens", "\"num_speculative_tokens\" in --speculative-config JSON"},
        {"--cpu-offload-gb", "--gpu-layers N with --host (the layers kept on the GPU)"},
    };
    size_t len = strcspn(name, "=");
    for (size_t k = 0; k < sizeof(bench) / sizeof(bench[0]); k++)
        if (strlen(bench[k].vllm) == len && strncmp(name, bench[k].vllm, len) == 0)
            return bench[k].kvsim;
    return NULL;
}

void cli_die_unknown_option(const char *arg, size_t name_len, const char *const *names, size_t n)
{
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(name_len < 255 ? name_len : 255), arg);
    const char *kv = cli_bench_option_hint(name);
    if (kv != NULL)
        cli_die("unknown option '%s': vLLM's; kvsim's: %s", name, kv);
    const char *hint = name[0] == '-' ? cli_did_you_mean(name, names, n) : NULL;
    if (hint != NULL)
        cli_die("unknown option '%s': did you mean %s? (--help lists them)", arg, hint);
    cli_die("unknown option '%s' (--help lists them)", arg);
}

int cli_take_goodput(int argc, char **argv, int i, an_slo *slo)
{
    /* vLLM's --goodput takes one or more KEY:MS arguments (argparse
     * nargs="+"): everything up to the next option. */
    char spec[512] = "";
    if (strncmp(argv[i], "--goodput=", 10) == 0) {
        snprintf(spec, sizeof(spec), "%s", argv[i] + 10);
    } else {
        while (i + 1 < argc && argv[i + 1][0] != '-') {
            size_t len = strlen(spec);
            snprintf(spec + len, sizeof(spec) - len, "%s%s", len ? " " : "", argv[++i]);
        }
    }
    char err[256];
    if (cli_parse_goodput(spec, slo, err, sizeof(err)) != 0)
        cli_die("--goodput: %s", err);
    return i;
}

static const char *const *extra_names;
static size_t nextra_names;

void cli_run_extra_option_names(const char *const *names, size_t n)
{
    extra_names = names;
    nextra_names = n;
}

void cli_parse_run_args(int argc, char **argv, run_opts *o, const char *usage, int allow_allocators)
{
    memset(o, 0, sizeof(*o));
    o->chunked_prefill = o->prefix_caching = -1;
    o->slo.ttft_s = o->slo.tpot_s = o->slo.e2el_s = -1;
    int goodput_given = 0;
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
        {"--layer-overhead-us", &o->layer_overhead_us},
        {"--seq-overhead-us", &o->seq_overhead_us},
        {"--tp-step-ms", &o->tp_step_ms},
        {"--runtime-overhead-gib", &o->runtime_overhead_gib},
        {"--mem-util", &o->mem_util},
        {"--kv-pool-gib", &o->kv_pool_gib},
        {"--num-blocks", &o->num_blocks},
        {"--watermark", &o->watermark},
        {"--max-num-seqs", &o->max_num_seqs},
        {"--max-num-batched-tokens", &o->max_batched_tokens},
        {"--max-batched-tokens", &o->max_batched_tokens}, /* kvsim's earlier name */
        {"--gpu-memory-utilization", &o->mem_util},
        {"--kv-cache-dtype", &o->kv_dtype},
        {"--quantization", &o->quantization},
        {"-q", &o->quantization},
        {"--speculative-config", &o->speculative_config},
        {"--step-profile", &o->step_profile},
        {"--scheduler", &o->scheduler},
        {"--long-prefill-token-threshold", &o->long_prefill},
        {"--preemption-mode", &o->preemption_mode},
        {"--swap-space", &o->swap_space},
        {"--max-concurrency", &o->max_concurrency},
        {"--replicas", &o->replicas},
        {"--router", &o->router},
        {"--tensor-parallel-size", &o->tensor_parallel},
        {"-tp", &o->tensor_parallel},
        {"--pipeline-parallel-size", &o->pipeline_parallel},
        {"-pp", &o->pipeline_parallel},
        {"--allreduce-busbw", &o->allreduce_busbw},
        {"--allreduce-latency-us", &o->allreduce_latency},
        {"--peak-tflops", &o->peak_tflops},
        {"--gpu-layers", &o->gpu_layers},
        {"-ngl", &o->gpu_layers},
        {"--host", &o->host},
        {"--host-bw-gbps", &o->host_bw_gbps},
        {"--host-tflops", &o->host_tflops},
        {"--host-memory-gib", &o->host_memory_gib},
        {"--mem-bw-gbps", &o->mem_bw_gbps},
        {"--host-link-gbps", &o->host_link_gbps},
        {"--max-model-len", &o->max_model_len},
        {"--seed", &o->seed},
        {"--n", &o->n_samples},
        {"--ts-interval", &o->ts_interval},
        {"--allocators", &o->allocators},
        {"--kv-cache-dtypes", &o->kv_dtypes},
        {"--quantizations", &o->quantizations},
        {"--workload", &o->workload},
        {"--model-filter", &o->model_filter},
        {"--rate", &o->rate},
        {"--request-rate", &o->rate},
        {"--burstiness", &o->burstiness},
        {"--rate-scale", &o->rate_scale},
        {"--limit", &o->limit},
        {"--time-window", &o->time_window},
        {"--sample", &o->sample},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
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
        if (strcmp(a, "--no-merge-steps") == 0) {
            o->no_merge_steps = 1;
            continue;
        }
        if (strcmp(a, "--serial-replicas") == 0) {
            o->serial_replicas = 1;
            continue;
        }
        if (strcmp(a, "--no-requests") == 0) {
            o->no_requests = 1;
            continue;
        }
        if (strcmp(a, "--requests-gzip") == 0) {
            o->requests_gzip = 1;
            continue;
        }
        if (strcmp(a, "--no-plot") == 0) {
            o->no_plot = 1;
            continue;
        }
        if (strcmp(a, "--client-max-tokens") == 0) {
            o->client_max_tokens = 1;
            continue;
        }
        if (strcmp(a, "--enforce-eager") == 0) {
            o->enforce_eager = 1;
            continue;
        }
        if (strcmp(a, "--goodput") == 0 || strncmp(a, "--goodput=", 10) == 0) {
            if (goodput_given++)
                cli_die("--goodput given twice");
            i = cli_take_goodput(argc, argv, i, &o->slo);
            continue;
        }
        static const struct {
            const char *name;
            size_t field; /* 0: chunked prefill, 1: prefix caching */
            int value;
        } flags[] = {
            {"--enable-chunked-prefill", 0, 1},
            {"--no-enable-chunked-prefill", 0, 0},
            {"--enable-prefix-caching", 1, 1},
            {"--no-enable-prefix-caching", 1, 0},
        };
        int flag = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(a, flags[k].name) == 0)
                flag = k;
        if (flag >= 0) {
            int *dst = flags[flag].field == 0 ? &o->chunked_prefill : &o->prefix_caching;
            if (*dst != -1)
                cli_die("%s: chunked prefill or prefix caching given twice", a);
            *dst = flags[flag].value;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int matched = 0;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
            if (strlen(valued[k].name) != nlen || strncmp(a, valued[k].name, nlen) != 0)
                continue;
            if ((valued[k].dst == &o->allocators || valued[k].dst == &o->kv_dtypes ||
                 valued[k].dst == &o->quantizations) &&
                !allow_allocators)
                break;
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                cli_die("%s needs a value (kvsim run --help)", valued[k].name);
            if (*valued[k].dst != NULL)
                cli_die("%s given twice", valued[k].name);
            *valued[k].dst = v;
            if (valued[k].dst == &o->mem_util)
                o->mem_util_opt = valued[k].name;
            matched = 1;
            break;
        }
        if (!matched) {
            const char *names[sizeof(valued) / sizeof(valued[0]) + 17 + 32];
            size_t n = 0;
            for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
                if ((valued[k].dst != &o->allocators && valued[k].dst != &o->kv_dtypes &&
                     valued[k].dst != &o->quantizations) ||
                    allow_allocators)
                    names[n++] = valued[k].name;
            for (int k = 0; k < 4; k++)
                names[n++] = flags[k].name;
            names[n++] = "--quiet";
            names[n++] = "--check";
            names[n++] = "--no-merge-steps";
            names[n++] = "--serial-replicas";
            names[n++] = "--client-max-tokens";
            names[n++] = "--enforce-eager";
            names[n++] = "--no-requests";
            names[n++] = "--requests-gzip";
            names[n++] = "--no-plot";
            names[n++] = "--goodput";
            names[n++] = "--help";
            for (size_t k = 0; k < nextra_names && k < 32; k++)
                names[n++] = extra_names[k];
            cli_die_unknown_option(a, nlen, names, n);
        }
    }
}

void cli_build_formats(const run_opts *o, sim_config *cfg)
{
    char err[1024];
    /* --dtype is the unquantized dtype (vLLM's: auto, half, float16,
     * bfloat16, float32; kvsim's fp16, bf16, fp32), and for a while took
     * fp8 as well; --quantization (vLLM's name) is the weight format. */
    const sim_dtype *base = sim_dtype_find("fp16");
    if (o->dtype != NULL && strcmp(o->dtype, "auto") != 0) {
        base = sim_weight_format_parse(o->dtype, err, sizeof(err));
        if (base == NULL)
            cli_die("--dtype: unknown format '%s' (known: auto, fp16, bf16, fp32, half, float16, "
                    "bfloat16, float32; a quantized format is --quantization's)",
                    o->dtype);
        /* A quantized format (fp8 aside, still taken) is --quantization's:
         * --dtype awq ran AWQ weights under the wrong name. */
        if (base->kind != SIM_FMT_FLOAT && strcmp(o->dtype, "fp8") != 0)
            cli_die("--dtype %s: a quantized weight format; give it as --quantization %s (--dtype "
                    "is the unquantized dtype: fp16, bf16, fp32)",
                    o->dtype, o->dtype);
    }
    cfg->weight_dtype = base;
    /* A quantized checkpoint's config names its format (vLLM reads
     * quantization_config); --quantization replaces it. */
    const char *quant = o->quantization;
    if (quant == NULL && cfg->model.quantization[0] == '?')
        cli_die("--model %s: its quantization_config (quant_method '%s') is not a format kvsim "
                "reads from a config (awq or gptq 4-bit with a group_size, fp8); give the "
                "weights' format with --quantization",
                cfg->model.name, cfg->model.quantization + 1);
    if (quant == NULL && cfg->model.quantization[0] != '\0')
        quant = cfg->model.quantization;
    if (quant != NULL) {
        const sim_dtype *q = sim_weight_format_parse(quant, err, sizeof(err));
        if (q == NULL)
            cli_die("%s", err);
        if (o->dtype != NULL && base->kind == SIM_FMT_FLOAT && base->bytes != 2.0)
            cli_die("--dtype %s with --quantization %s: kvsim keeps the unquantized tensors of a "
                    "quantized checkpoint in 16 bits; use --dtype fp16 or bf16",
                    o->dtype, quant);
        cfg->weight_dtype = q;
    }
    /* KV "auto" is the model's dtype: the unquantized one (vLLM). */
    const sim_dtype *kv_auto = base->kind == SIM_FMT_FLOAT ? base : sim_dtype_find("fp16");
    if (o->dtype == NULL || strcmp(o->dtype, "fp8") == 0)
        kv_auto = sim_dtype_find("fp16"); /* --dtype fp8 kept fp16 KV */
    cfg->kv_dtype = kv_auto;
    if (o->kv_dtype != NULL &&
        (cfg->kv_dtype = sim_kv_format_parse(o->kv_dtype, kv_auto, err, sizeof(err))) == NULL)
        cli_die("%s", err);
}

/* The run's --step-profile, loaded once per process (kvsim compare
 * builds one configuration per format from the same options) and freed
 * at exit. */
static sim_step_profile *g_profile;
static char g_profile_path[4096];

static void free_profile(void)
{
    sim_step_profile_destroy(g_profile);
    g_profile = NULL;
}

/* Loads O's --step-profile into CFG and checks it fits the run; exits
 * with a one-line error (status 1 for the file, 2 for the options). */
static void attach_profile(const run_opts *o, sim_config *cfg)
{
    char err[1024];
    if (g_profile == NULL || strcmp(g_profile_path, o->step_profile) != 0) {
        free_profile();
        if (sim_step_profile_load(o->step_profile, &g_profile, err, sizeof(err)) != 0) {
            cli_error("--step-profile %s", err);
            exit(1);
        }
        snprintf(g_profile_path, sizeof(g_profile_path), "%s", o->step_profile);
        static int registered;
        if (!registered++)
            atexit(free_profile);
    }
    if (o->quantizations != NULL || o->kv_dtypes != NULL)
        cli_die("--step-profile with --quantizations or --kv-cache-dtypes: a profile is measured "
                "in one weight and KV format, so every format would get its step times");
    /* The roofline's terms the profile replaces: given with it, they
     * changed nothing without a word. A drafter's own passes keep the
     * roofline's per-pass terms (draft_model, eagle, eagle3, mtp without
     * draft_time_ratio: sim_spec_resolve), never its per-step ones (charged
     * once per engine step, here in step_ms) nor the all-reduces (the
     * drafter runs whole on each GPU); ngram drafts on the host, and under
     * draft_time_ratio the profiled pass prices the drafts (sim_spec_step_s):
     * every term unused again (they were accepted with any
     * --speculative-config). */
    bool drafter = cfg->spec.method != SIM_SPEC_NONE && cfg->spec.method != SIM_SPEC_NGRAM &&
                   !(cfg->spec.draft_time_ratio > 0);
    const struct {
        const char *name, *value;
        bool drafter_reads;
    } unused[] = {
        {"--bw-eff", o->bw_eff, true},
        {"--flops-eff", o->flops_eff, true},
        {"--step-overhead-ms", o->step_overhead_ms, false},
        {"--layer-overhead-us", o->layer_overhead_us, true},
        {"--seq-overhead-us", o->seq_overhead_us, true},
        {"--tp-step-ms", o->tp_step_ms, false},
        {"--allreduce-busbw", o->allreduce_busbw, false},
        {"--allreduce-latency-us", o->allreduce_latency, false},
        {"--enforce-eager", o->enforce_eager ? "" : NULL, true},
    };
    for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++) {
        if (unused[i].value == NULL || (drafter && unused[i].drafter_reads))
            continue;
        if (cfg->spec.method != SIM_SPEC_NONE)
            cli_die("%s with --step-profile and --speculative-config: the measured step times "
                    "replace the roofline it sets, and %s (README: Measured step profiles); "
                    "give one or the other",
                    unused[i].name,
                    drafter ? "the drafter's passes take only its per-pass terms"
                    : cfg->spec.method == SIM_SPEC_NGRAM
                        ? "ngram drafts on the host"
                        : "draft_time_ratio prices the drafts through the profile");
        cli_die("%s with --step-profile: the measured step times replace the roofline "
                "it sets (README: Measured step profiles); give one or the other",
                unused[i].name);
    }
    bool offload = cfg->gpu_layers >= 0 && (uint32_t)cfg->gpu_layers < cfg->model.layers;
    if (sim_step_profile_check(g_profile, cfg->tensor_parallel, cfg->pipeline_parallel, offload,
                               err, sizeof(err)) != 0)
        cli_die("--step-profile %s", err);
    cfg->step_profile = g_profile;
}

/* --allocator SPEC as given: not empty, and no parameter twice (the
 * strategies read the last one, so "block=16,block=32" ran at 32 without
 * a word). The strategy checks the rest. */
static void check_allocator_spec(const char *spec)
{
    if (spec[0] == '\0')
        cli_die(
            "--allocator: empty spec (e.g. paged:block=16; strategies paged, contiguous, vattn, "
            "jemalloc)");
    const char *p = strchr(spec, ':');
    if (p == NULL)
        return;
    for (p++; *p != '\0';) {
        size_t n = strcspn(p, ",");
        size_t klen = strcspn(p, "=,");
        for (const char *q = p + n; *q == ','; q += 1 + strcspn(q + 1, ",")) {
            const char *k = q + 1;
            if (strcspn(k, "=,") == klen && klen > 0 && strncmp(k, p, klen) == 0)
                cli_die("--allocator '%s': %.*s given twice", spec, (int)klen, p);
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

void cli_build_config(const run_opts *o, const char *cmd, sim_config *cfg, double *ts_interval,
                      trace_format *fmt)
{
    if (o->gpu == NULL)
        cli_die("%s: --gpu NAME is required (kvsim list gpus)", cmd);
    if (o->model == NULL)
        cli_die("%s: --model NAME is required (kvsim list models)", cmd);
    char err[1024];
    sim_gpu gpu;
    sim_model model;
    if (sim_gpu_lookup(o->gpu, &gpu, err, sizeof(err)) != 0)
        cli_die("--gpu: %s", err);
    if (sim_model_lookup(o->model, &model, err, sizeof(err)) != 0)
        cli_die("--model: %s", err);

    if (o->peak_tflops) {
        /* The rate every format then runs at: the catalog's fp8 and int8
         * rates would otherwise win for those formats. */
        gpu.fp16_flops = cli_parse_double("--peak-tflops", o->peak_tflops, 0, 1e6, 1) * 1e12;
        gpu.fp8_flops = 0;
        gpu.int8_ops = 0;
        gpu.rate_given = true;
    }
    if (o->mem_bw_gbps) {
        gpu.mem_bw_Bps = cli_parse_double("--mem-bw-gbps", o->mem_bw_gbps, 0, 1e6, 1) * 1e9;
        gpu.bw_given = true;
    }
    /* The GPU's link to the host, per direction: what a slot the catalog
     * does not assume gives (an x8 slot, a PCIe 3.0 host for a PCIe 4.0
     * card, a riser). Swaps, offloaded layers and llama.cpp's copies
     * between GPUs cross it. */
    if (o->host_link_gbps) {
        double g = cli_parse_double("--host-link-gbps", o->host_link_gbps, 0, 1e5, 1);
        /* A unified-memory device has no link to a host memory of its
         * own: nothing to swap or offload over (refused without it). */
        if (gpu.unified_memory)
            cli_die("--host-link-gbps: %s has unified memory: no link to a separate host memory",
                    gpu.name);
        gpu.host_link_Bps = g * 1e9;
    }
    sim_config_defaults(cfg, &gpu, &model);
    cli_build_formats(o, cfg);
    if (o->speculative_config != NULL &&
        sim_spec_parse(o->speculative_config, &cfg->spec, err, sizeof(err)) != 0)
        cli_die("%s", err);
    if (o->engine != NULL) {
        sim_engine_preset pr;
        const char *name = o->engine;
        if (strcmp(name, "auto") == 0) { /* the device's engine (sim/support.h) */
            name = sim_support_auto_engine(&cfg->gpu, cfg->weight_dtype, cfg->kv_dtype);
            if (name == NULL)
                cli_die("--engine auto: %s is a CPU: no engine preset describes one (CPU rows "
                        "serve as --host)",
                        cfg->gpu.name);
        }
        if (sim_preset_lookup(name, &pr, err, sizeof(err)) != 0)
            cli_die("--engine: %s", err);
        snprintf(cfg->engine, sizeof(cfg->engine), "%s", pr.name);
        snprintf(cfg->backend, sizeof(cfg->backend), "%s", pr.backend);
        cfg->cost = pr.params;
    }
    if (o->bw_eff)
        cfg->cost.bw_eff = cli_parse_double("--bw-eff", o->bw_eff, 0, 1, 1);
    if (o->flops_eff)
        cfg->cost.flops_eff = cli_parse_double("--flops-eff", o->flops_eff, 0, 1, 1);
    if (o->enforce_eager)
        cfg->cost.graph_max_tokens = 0; /* vLLM's --enforce-eager: no CUDA graphs */
    if (o->layer_overhead_us)
        cfg->cost.layer_overhead_s =
            cli_parse_double("--layer-overhead-us", o->layer_overhead_us, 0, 1e6, 0) / 1e6;
    if (o->seq_overhead_us)
        cfg->cost.seq_overhead_s =
            cli_parse_double("--seq-overhead-us", o->seq_overhead_us, 0, 1e6, 0) / 1e6;
    if (o->tp_step_ms)
        cfg->cost.tp_step_s = cli_parse_double("--tp-step-ms", o->tp_step_ms, 0, 60000, 0) / 1000.0;
    if (o->step_overhead_ms)
        cfg->cost.step_overhead_s =
            cli_parse_double("--step-overhead-ms", o->step_overhead_ms, 0, 60000, 0) / 1000.0;
    if (o->runtime_overhead_gib)
        cfg->cost.overhead_bytes =
            cli_parse_double("--runtime-overhead-gib", o->runtime_overhead_gib, 0, 1e6, 0) *
            1073741824.0;
    if (o->mem_util)
        cfg->mem_util = cli_parse_double(
            o->mem_util_opt ? o->mem_util_opt : "--gpu-memory-utilization", o->mem_util, 0, 1, 1);
    if (o->kv_pool_gib)
        cfg->kv_pool_gib = cli_parse_double("--kv-pool-gib", o->kv_pool_gib, 0, 1e6, 1);
    if (o->num_blocks)
        cfg->num_blocks = (uint32_t)cli_parse_u64("--num-blocks", o->num_blocks, 1, UINT32_MAX - 1);
    if (o->watermark)
        cfg->watermark = cli_parse_double("--watermark", o->watermark, 0, 0.5, 0);
    if (o->max_num_seqs)
        cfg->max_num_seqs = (uint32_t)cli_parse_u64("--max-num-seqs", o->max_num_seqs, 1, 1u << 20);
    if (o->max_batched_tokens)
        cfg->max_batched_tokens =
            (uint32_t)cli_parse_u64("--max-num-batched-tokens", o->max_batched_tokens, 1, 1u << 30);
    if (o->scheduler) {
        if (sim_sched_find(o->scheduler) == NULL) {
            char known[256] = "";
            for (size_t k = 0; sim_schedulers[k] != NULL; k++) {
                strncat(known, k ? ", " : "", sizeof(known) - strlen(known) - 1);
                strncat(known, sim_schedulers[k]->name, sizeof(known) - strlen(known) - 1);
            }
            cli_die("--scheduler: unknown scheduler '%s' (known: %s)", o->scheduler, known);
        }
        snprintf(cfg->scheduler, sizeof(cfg->scheduler), "%s", o->scheduler);
    }
    cfg->chunked_prefill = o->chunked_prefill;
    cfg->prefix_caching = o->prefix_caching;
    if (o->long_prefill)
        cfg->long_prefill_threshold =
            (uint32_t)cli_parse_u64("--long-prefill-token-threshold", o->long_prefill, 0, 1u << 30);
    if (o->preemption_mode) {
        if (strcmp(o->preemption_mode, "recompute") == 0)
            cfg->preemption_mode = SIM_PREEMPT_RECOMPUTE;
        else if (strcmp(o->preemption_mode, "swap") == 0)
            cfg->preemption_mode = SIM_PREEMPT_SWAP;
        else
            cli_die("--preemption-mode: '%s' is not recompute or swap", o->preemption_mode);
    }
    if (o->swap_space)
        cfg->swap_space_gib = cli_parse_double("--swap-space", o->swap_space, 0, 1e6, 0);
    if (o->max_concurrency)
        cfg->max_concurrency =
            (uint32_t)cli_parse_u64("--max-concurrency", o->max_concurrency, 1, 1u << 30);
    if (o->replicas)
        cfg->replicas = (uint32_t)cli_parse_u64("--replicas", o->replicas, 1, SIM_MAX_REPLICAS);
    if (o->router) {
        if (strcmp(o->router, "round-robin") == 0)
            cfg->router = SIM_ROUTER_ROUND_ROBIN;
        else if (strcmp(o->router, "least-loaded") == 0)
            cfg->router = SIM_ROUTER_LEAST_LOADED;
        else if (strcmp(o->router, "prefix-affinity") == 0)
            cfg->router = SIM_ROUTER_PREFIX_AFFINITY;
        else
            cli_die("--router: '%s' is not round-robin, least-loaded or prefix-affinity",
                    o->router);
    }
    if (o->tensor_parallel)
        cfg->tensor_parallel =
            (uint32_t)cli_parse_u64("--tensor-parallel-size", o->tensor_parallel, 1, SIM_MAX_TP);
    if (o->gpu_layers)
        cfg->gpu_layers = (int)cli_parse_u64("--gpu-layers", o->gpu_layers, 0, 1u << 14);
    if (o->host) {
        if (sim_gpu_lookup(o->host, &cfg->host, err, sizeof(err)) != 0) {
            /* The hosts are the catalog's cpu-* rows: name those, not the
             * GPUs closest in spelling. */
            char hosts[256] = "";
            sim_gpu g;
            for (size_t i = 0; sim_gpu_at(i, &g) == 0; i++)
                if (strncmp(g.name, "cpu-", 4) == 0 &&
                    strlen(hosts) + strlen(g.name) + 3 < sizeof(hosts))
                    snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s",
                             hosts[0] ? ", " : "", g.name);
            cli_die("--host: unknown host '%s' (the catalog's: %s; or describe it with "
                    "--host-bw-gbps, --host-tflops and --host-memory-gib)",
                    o->host, hosts);
        }
        cfg->has_host = true;
    }
    if (o->host_bw_gbps || o->host_tflops || o->host_memory_gib) {
        if (!cfg->has_host)
            snprintf(cfg->host.name, sizeof(cfg->host.name), "host");
        cfg->has_host = true;
        if (o->host_bw_gbps)
            cfg->host.mem_bw_Bps =
                cli_parse_double("--host-bw-gbps", o->host_bw_gbps, 0, 1e6, 1) * 1e9;
        if (o->host_tflops)
            cfg->host.fp16_flops =
                cli_parse_double("--host-tflops", o->host_tflops, 0, 1e6, 1) * 1e12;
        if (o->host_memory_gib)
            cfg->host.memory_bytes =
                (uint64_t)(cli_parse_double("--host-memory-gib", o->host_memory_gib, 0, 1e7, 1) *
                           1073741824.0);
    }
    if (o->pipeline_parallel)
        cfg->pipeline_parallel = (uint32_t)cli_parse_u64("--pipeline-parallel-size",
                                                         o->pipeline_parallel, 1, SIM_MAX_PP);
    if (o->allreduce_busbw)
        cfg->allreduce_busbw_gbps =
            cli_parse_double("--allreduce-busbw", o->allreduce_busbw, 0, 1e5, 1);
    if (o->allreduce_latency)
        cfg->allreduce_latency_us =
            cli_parse_double("--allreduce-latency-us", o->allreduce_latency, 0, 1e6, 1);
    if (o->max_model_len)
        cfg->max_model_len =
            (uint32_t)cli_parse_u64("--max-model-len", o->max_model_len, 1, 1u << 30);
    if (o->seed)
        cfg->seed = cli_parse_u64("--seed", o->seed, 0, UINT64_MAX);
    if (o->n_samples)
        cfg->n_samples = (uint32_t)cli_parse_u64("--n", o->n_samples, 1, 1u << 20);
    *ts_interval =
        o->ts_interval ? cli_parse_double("--ts-interval", o->ts_interval, 0, 1e9, 1) : 1.0;
    cfg->check = o->check != 0;
    cfg->no_merge_steps = o->no_merge_steps != 0;
    cfg->client_max_tokens = o->client_max_tokens != 0;

    if (o->allocator != NULL && o->block_size != NULL)
        cli_die("--block-size and --allocator both given: use --allocator paged:block=%s%s",
                o->block_size, "");
    if (o->allocator != NULL) {
        check_allocator_spec(o->allocator);
        snprintf(cfg->allocator, sizeof(cfg->allocator), "%s", o->allocator);
    } else if (o->block_size != NULL) {
        uint64_t b = cli_parse_u64("--block-size", o->block_size, 1, 65536);
        snprintf(cfg->allocator, sizeof(cfg->allocator), "paged:block=%llu", (unsigned long long)b);
    }

    if (o->step_profile != NULL)
        attach_profile(o, cfg);

    *fmt = TRACE_FORMAT_AUTO;
    if (o->format != NULL && trace_format_parse(o->format, fmt) != 0)
        cli_die("--format: unknown format '%s' (known: %s)", o->format, TRACE_FORMAT_NAMES);
}

int cli_open_source(const run_opts *o, trace_format fmt, wl_source **src)
{
    (void)fmt; /* cli_source_open parses --format itself */
    cli_source_opts so = {o->trace,      o->format, o->workload,    o->model_filter, o->rate,
                          o->rate_scale, o->limit,  o->time_window, o->sample,       o->burstiness};
    uint64_t seed = o->seed ? cli_parse_u64("--seed", o->seed, 0, UINT64_MAX) : 0;
    return cli_source_open(&so, "run", seed, 0, src);
}

const char *cli_layout(const sim_config *cfg)
{
    static char buf[192];
    uint32_t tp = cfg->tensor_parallel > 1 ? cfg->tensor_parallel : 1;
    uint32_t pp = cfg->pipeline_parallel > 1 ? cfg->pipeline_parallel : 1;
    uint32_t reps = cfg->replicas > 1 ? cfg->replicas : 1;
    char each[48] = "";
    if (reps > 1) /* each replica its own GPUs */
        snprintf(each, sizeof(each), " a replica, %u replicas", reps);
    if (tp * pp == 1)
        return reps > 1 ? (snprintf(buf, sizeof(buf), " x %u replicas", reps), buf) : "";
    if (cfg->cost.llamacpp_split)
        snprintf(buf, sizeof(buf), " x %u GPUs%s (llama.cpp layer split; memory figures per GPU)",
                 pp, each);
    else
        snprintf(buf, sizeof(buf), " x %u GPUs%s (TP %u x PP %u; memory figures per GPU)", tp * pp,
                 each, tp, pp);
    return buf;
}

const char *cli_requests_name(const run_opts *o)
{
    return o->no_requests ? NULL : o->requests_gzip ? "requests.csv.gz" : "requests.csv";
}

/* Set once standard input can be read again (cli_stdin_replayable), from
 * STDIN_START. */
static bool stdin_replayable;
static off_t stdin_start;

bool cli_is_stdin_path(const char *p)
{
    return strcmp(p, "-") == 0 || strcmp(p, "/dev/stdin") == 0 || strcmp(p, "/dev/fd/0") == 0;
}

void cli_stdin_replayable(const run_opts *o)
{
    if (o->trace == NULL || !cli_is_stdin_path(o->trace) || stdin_replayable)
        return;
    /* A file already: each run reads it again from where it stood. */
    struct stat st;
    off_t at;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
        (at = lseek(STDIN_FILENO, 0, SEEK_CUR)) >= 0) {
        stdin_start = at;
        stdin_replayable = true;
        return;
    }
    /* A pipe or a terminal: copied to an unlinked file in $TMPDIR. */
    const char *dir = getenv("TMPDIR") != NULL && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/kvsim-stdin-XXXXXX", dir);
    int fd = mkstemp(tmpl);
    if (fd < 0)
        cli_die("<stdin>: cannot keep a copy for the runs in %s: %s", dir, strerror(errno));
    unlink(tmpl);
    char buf[1 << 16];
    ssize_t n;
    for (;;) {
        n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(fd, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                cli_die("<stdin>: cannot keep a copy for the runs in %s: %s", dir,
                        strerror(k < 0 ? errno : ENOSPC));
            w += k;
        }
    }
    if (n < 0)
        cli_die("<stdin>: read error: %s", strerror(errno));
    if (dup2(fd, STDIN_FILENO) < 0)
        cli_die("<stdin>: cannot keep a copy for the runs: %s", strerror(errno));
    close(fd); /* standard input holds the file now */
    clearerr(stdin);
    stdin_start = 0;
    stdin_replayable = true;
}

int cli_run_once(const run_opts *o, const sim_config *cfg, trace_format fmt, double ts_interval,
                 const char *out_dir, cli_result *out)
{
    memset(out, 0, sizeof(*out));
    /* Each run reads the trace from its start (the reader dup()s standard
     * input, sharing its offset). */
    if (stdin_replayable && o->trace != NULL && strcmp(o->trace, "-") == 0 &&
        lseek(STDIN_FILENO, stdin_start, SEEK_SET) != stdin_start)
        cli_die("<stdin>: cannot read the copy again: %s", strerror(errno));
    wl_source *src;
    if (cli_open_source(o, fmt, &src) != 0)
        return 1;
    if (o->no_requests && o->requests_gzip)
        cli_die("--no-requests and --requests-gzip: one or the other");
    /* requests.csv is one row per request: --no-requests skips it,
     * --requests-gzip compresses it (about 4x on the Azure trace). */
    const char *req_name = cli_requests_name(o);
    FILE *req_csv = out_dir && req_name != NULL ? cli_open_out(out_dir, req_name) : NULL;
    if (req_csv != NULL && o->requests_gzip && (req_csv = cli_gzip_stream(req_csv)) == NULL)
        cli_die("%s/%s: out of memory", out_dir, req_name);
    FILE *ts_csv = out_dir ? cli_open_out(out_dir, "timeseries.csv") : NULL;
    an_metrics_init(&out->metrics, req_csv, ts_csv, ts_interval);
    an_metrics_set_slo(&out->metrics, &o->slo);
    sim_observer obs = an_metrics_observer(&out->metrics);
    char err[1024] = "";
    double t0 = cli_now_s();
    sim_run_opts ro = {o->serial_replicas != 0}; /* replicas in threads (engine.h) */
    int rc = sim_run_ex(cfg, src, &ro, &obs, &out->res, err, sizeof(err));
    out->wall_s = cli_now_s() - t0;
    /* Described after the run: skipped rows and transforms are counted by then. */
    snprintf(out->source, sizeof(out->source), "%s", wl_describe(src));
    if (rc == 0)
        cli_source_warn(src);
    wl_close(src);
    if (rc == 0)
        an_metrics_finish(&out->metrics, out->res.makespan_s); /* writes the last rows */
    cli_close_out(req_csv, out_dir, req_name);
    cli_close_out(ts_csv, out_dir, "timeseries.csv");
    if (rc != 0) {
        cli_error("%s", err);
        an_metrics_free(&out->metrics);
        return 1;
    }
    if (out->metrics.io_error) {
        cli_error("out of memory or write error while recording metrics");
        an_metrics_free(&out->metrics);
        return 1;
    }
    /* A per-request file of an earlier run in another form would be
     * taken for this run's. */
    static const char *const forms[] = {"requests.csv", "requests.csv.gz"};
    for (int k = 0; out_dir != NULL && k < 2; k++) {
        if (req_name != NULL && strcmp(req_name, forms[k]) == 0)
            continue;
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", out_dir, forms[k]);
        if (unlink(path) != 0 && errno != ENOENT) {
            cli_error("%s: cannot remove an earlier run's file: %s", path, strerror(errno));
            an_metrics_free(&out->metrics);
            return 1;
        }
    }
    return 0;
}
