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
#include <unistd.h>

#include "analysis/html_report.h"
#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/report.h"
#include "cli/cli_int.h"
#include "cli/cli_opts.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"
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
    "  kvsim compare --allocators SPEC,SPEC,... --trace FILE --gpu NAME --model NAME\n"
    "      the same workload through each KV allocator, breakdowns side by side\n"
    "      (strategies: paged, contiguous, vattn, jemalloc); or without and with\n"
    "      --speculative-config, or per --kv-cache-dtypes / --quantizations format\n"
    "      (kvsim compare --help)\n"
    "  kvsim list gpus       the GPU catalog (memory, bandwidth, TFLOPS)\n"
    "  kvsim list models     the model catalog (parameters, layers, KV heads, KV bytes/token)\n"
    "  kvsim model NAME|config.json  one model's parameters, weights, KV bytes per token and\n"
    "      structure (MoE, latent attention, sliding window), without a run\n"
    "  kvsim list formats    weight and KV formats with their bits per element\n"
    "  kvsim fit --model NAME [--quantization Q] [--kv-cache-dtype K] [--context N]\n"
    "      what the model needs and which GPUs hold it (kvsim fit --help)\n"
    "  kvsim gen --workload SPEC -o FILE.csv.gz\n"
    "      write a generated workload (presets sharegpt, alpaca, azure-conv, azure-code,\n"
    "      chat, or your own arrivals and lengths) or a transformed trace as kvsim CSV\n"
    "  kvsim validate --data FILE.csv [--cross]  published measurements replayed through\n"
    "      the cost model: errors by source, framework, metric, device class; rows it\n"
    "      cannot express, counted by reason (kvsim validate --help)\n"
    "  kvsim calibrate --data FILE.csv --out DIR  the engine presets fitted to measurements\n"
    "  kvsim trace stats FILE  rows, rate, length percentiles and prefix reuse of a trace\n"
    "  kvsim sweep --vary KEY=VALUES ... --out DIR [run options]\n"
    "      runs over a grid of option values and seeds: curves.csv, curves.json, plots;\n"
    "      --find max-rate --slo p99_ttft_ms=1000 finds the highest load meeting SLOs\n"
    "  kvsim plot DIR          draw a run's or a sweep's plots again from its files\n"
    "  kvsim report DIR [-o FILE]  one self-contained HTML page for a run, compare or sweep\n"
    "  kvsim --help | --version\n"
    "\n"
    "kvsim run --help lists every option of a run.\n";

static const char usage_run[] =
    "usage: kvsim run --trace FILE --gpu NAME --model NAME|config.json [options]\n"
    "       kvsim run --workload SPEC --gpu NAME --model NAME|config.json [options]\n"
    "\n"
    "input\n"
    "  --trace FILE            request trace, gzip or plain; '-' reads standard input\n"
    "  --format FMT            " TRACE_FORMAT_NAMES " (default auto)\n"
    "  --model-filter NAME     burstgpt traces: keep only this model's rows (e.g. GPT-4)\n"
    "  --rate R                length tables (no arrival times): Poisson arrivals at R req/s\n"
    "                          (also --request-rate); --burstiness B: Gamma gaps of shape B\n"
    "                          (vLLM's; B < 1 burstier, 1 Poisson)\n"
    "  --workload SPEC         a generated workload instead of --trace, seeded by --seed\n"
    "                          (e.g. sharegpt:n=1000,rate=2; kvsim gen --help has the syntax)\n"
    "  --time-window A:B       keep arrivals in [A, B) seconds, re-based to start at 0\n"
    "  --sample P              keep each request with probability P, seeded (0 < P <= 1)\n"
    "  --rate-scale X          multiply the request rate by X: every arrival time / X\n"
    "  --limit N               stop after N requests\n"
    "                          (transforms apply in the order window, sample, rate-scale, limit)\n"
    "  --gpu NAME              GPU from the catalog (kvsim list gpus)\n"
    "  --model NAME|PATH       model from the catalog (kvsim list models) or a HuggingFace\n"
    "                          config.json\n"
    "\n"
    "output\n"
    "  --out DIR               write summary.json, requests.csv, timeseries.csv, memory.png\n"
    "  --no-requests           leave requests.csv out (one row per request: large runs)\n"
    "  --requests-gzip         write requests.csv.gz instead of requests.csv\n"
    "  --no-plot               leave memory.png and memory.svg out (kvsim plot DIR draws them)\n"
    "  --ts-interval S         time-series sampling period in simulated seconds (default 1)\n"
    "  --goodput KEY:MS ...    vllm bench serve's goodput: requests meeting every objective\n"
    "                          (ttft, tpot, e2el in ms, e.g. --goodput ttft:500 tpot:50) per s\n"
    "  --quiet                 do not print the summary\n"
    "\n"
    "scheduler (vLLM's option names)\n"
    "  --scheduler NAME        vllm (default: vLLM V1, chunked prefill, prefix caching),\n"
    "                          vllm-v0, sarathi, orca, static (README: Schedulers)\n"
    "  --max-num-seqs N        most sequences running at once (default: V1 1024 on a GPU\n"
    "                          with >= 70 GiB that is not an A100, else 256)\n"
    "  --max-num-batched-tokens N  token budget of a step (default: V1 8192 on such a GPU,\n"
    "                          else 2048; vllm-v0 max(max-model-len, 2048), or 512 chunked;\n"
    "                          sarathi 512)\n"
    "  --max-model-len N       longest sequence (default: the model's max_position_embeddings)\n"
    "  --client-max-tokens     the client sends max_tokens = the trace's output (as vllm bench\n"
    "                          serve): prompt + output > max-model-len is refused (HTTP 400,\n"
    "                          context_length_exceeded); default: the engine cuts the output\n"
    "  --enable-chunked-prefill, --no-enable-chunked-prefill\n"
    "                          split prompts across steps (default: vllm, sarathi on; vllm-v0\n"
    "                          on above 32k context)\n"
    "  --long-prefill-token-threshold N  most prompt tokens of one request per step (0: none)\n"
    "  --enable-prefix-caching, --no-enable-prefix-caching\n"
    "                          share cached prompt blocks (default on for vllm with paged)\n"
    "  --watermark X           share of blocks kept free at admission (vllm-v0: 0.01, else 0)\n"
    "  --preemption-mode M     recompute (default) or swap (KV to host memory over the GPU's\n"
    "                          host link, then back)\n"
    "  --swap-space GIB        host memory for swapped KV per GPU (default 4)\n"
    "\n"
    "clients and replicas\n"
    "  --max-concurrency C     closed loop: at most C requests outstanding, the next sent when\n"
    "                          one finishes (as vllm bench serve)\n"
    "  --replicas N            N identical replicas behind a router (default 1)\n"
    "  --router R              round-robin (default), least-loaded, prefix-affinity\n"
    "\n";

static const char usage_run_more[] =
    "parallelism\n"
    "  --tensor-parallel-size N, -tp N  GPUs per replica, weights and KV heads split over\n"
    "                          them, two all-reduces per layer per step (README: Hardware)\n"
    "  --pipeline-parallel-size P, -pp P  layers split into P stages, P batches in flight:\n"
    "                          vLLM V1's one scheduler and pool (--scheduler vllm), or v0's\n"
    "                          P virtual engines, 1/P of the KV blocks each (the others)\n"
    "                          (a llama.cpp engine: its layer split, one batch in flight)\n"
    "  --allreduce-busbw GBPS  all-reduce bus bandwidth (default: measured, per interconnect)\n"
    "  --allreduce-latency-us US  per all-reduce floor (default: measured, per interconnect)\n"
    "  --gpu-layers N, -ngl N  partial offload (llama.cpp): N layers on the GPU, the rest\n"
    "                          with their KV on the host (--host NAME, a catalog CPU, or\n"
    "                          --host-bw-gbps, --host-tflops, --host-memory-gib)\n"
    "  --peak-tflops T         the device's dense rate in TFLOPS, for a catalog device\n"
    "                          without one (or to try another); every format runs at it\n"
    "  --mem-bw-gbps B         the device's memory bandwidth, likewise\n"
    "  --host-link-gbps G      the device's link to the host per direction (default: the\n"
    "                          catalog's slot, e.g. 32 for PCIe 4.0 x16; 16 for 3.0 x16 or\n"
    "                          4.0 x8): swaps, offload and llama.cpp's copies cross it\n"
    "\n"
    "KV cache\n"
    "  --allocator SPEC        strategy[:key=value,...]; default paged:block=16 (orca, static:\n"
    "                          contiguous:reserve=max,fit=first)\n"
    "  --block-size N          tokens per block of the paged allocator (default 16)\n"
    "  --gpu-memory-utilization X  share of the GPU's CUDA-visible total (what\n"
    "                          torch.cuda.mem_get_info reports, below nvidia-smi's) the engine\n"
    "                          may use, (0, 1] (default 0.90; also --mem-util)\n"
    "  --kv-pool-gib X         KV pool size in GiB, instead of what memory leaves\n"
    "  --num-blocks N          KV pool as N blocks, overriding both\n"
    "\n"
    "formats (README: Formats; kvsim list formats)\n"
    "  --dtype T               unquantized dtype: fp16 (default), bf16, fp32 (also auto, half,\n"
    "                          bfloat16, float32; fp8 still means --quantization fp8)\n"
    "  --quantization Q        weight format (also -q): fp8, int8 (W8A8), awq[:group=G],\n"
    "                          gptq[:group=G] (G 128), nvfp4, mxfp4, or a llama.cpp file type\n"
    "                          (Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_0, Q5_1, Q4_K_M, Q4_K_S, Q4_0,\n"
    "                          Q4_1, Q3_K_L, Q3_K_M, Q3_K_S, Q2_K, IQ4_NL, IQ4_XS)\n"
    "  --kv-cache-dtype T      KV format (also --kv-dtype): auto (the dtype), fp16, bf16, fp32,\n"
    "                          fp8, fp8_e4m3, fp8_e5m2, int8, int4|int2[:group=G,residual=R]\n"
    "                          (KIVI; G 32, R fp16 tokens, 0), q8_0, q5_1, q5_0, q4_1, q4_0,\n"
    "                          iq4_nl (llama.cpp cache types)\n"
    "\n"
    "speculative decoding (README: Speculative decoding)\n"
    "  --speculative-config JSON  vLLM's keys: method (draft_model, eagle, eagle3, mtp, ngram),\n"
    "                          model, num_speculative_tokens; and acceptance: acceptance_rate A\n"
    "                          (i.i.d.), acceptance_rates [..] (per position, vLLM synthetic),\n"
    "                          or acceptance_length L; acceptance_concentration C (Beta per\n"
    "                          request); draft_time_ratio c (a draft pass = c x a target step)\n"
    "\n";

static const char usage_run_cost[] =
    "cost model (matrix products and attention, each max(bytes / bandwidth, FLOPs / peak),\n"
    "plus per-layer and per-step overheads; README: Cost model)\n"
    "  --engine NAME|FILE      efficiency preset: vllm (default), trtllm, llamacpp,\n"
    "                          llamacpp-2023, -metal, -rocm, -vulkan, or a .preset file\n"
    "  --bw-eff X              achieved share of memory bandwidth, (0, 1]\n"
    "  --flops-eff X           achieved share of peak FLOPs, (0, 1]\n"
    "  --step-overhead-ms X    fixed time per step\n"
    "  --layer-overhead-us X   fixed time per layer per step (kernel launches)\n"
    "  --seq-overhead-us X     host time per scheduled sequence per step (scheduling,\n"
    "                          sampling, output processing)\n"
    "  --tp-step-ms X          host time per step x log2(tensor-parallel size): the driver's\n"
    "                          broadcast of each step to its workers (vLLM V0)\n"
    "  --enforce-eager         no CUDA graphs: every step pays the per-layer launches (vLLM's\n"
    "                          option; by default vllm replays steps of <= 512 tokens)\n"
    "  --runtime-overhead-gib X  non-torch GPU memory (workspaces, kernels, NCCL buffers)\n"
    "                          outside weights, activations and KV\n"
    "  --step-profile FILE.csv  measured step times replace the roofline: columns\n"
    "                          prefill_tokens,decode_seqs,decode_context_tokens,step_ms\n"
    "                          [,prefill_context_tokens][,tp]; interpolated in tokens,\n"
    "                          linear in context (README: Measured step profiles)\n"
    "\n"
    "other\n"
    "  --seed N                seed of the run's random streams (default 0)\n"
    "  --n N                   parallel sampling: N outputs per request sharing the prompt's\n"
    "                          KV (vLLM's n; each as long as the trace's output), default 1\n"
    "  --check                 check allocator invariants after every operation (slow)\n"
    "  --no-merge-steps        run each decode step as its own event (same results, slower;\n"
    "                          the reference of the step-merging identity test)\n"
    "  --serial-replicas       simulate every replica in one event loop (by default, behind\n"
    "                          the round-robin router with an open-loop client, each replica\n"
    "                          runs in a thread of its own; sums over replicas may differ in\n"
    "                          their last bits)\n"
    "  --help                  this text\n";

int cmd_compare(int argc, char **argv);

/* `kvsim plot DIR`: draws a run's or a sweep's plots again from its files. */
static int cmd_plot(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
            puts("usage: kvsim plot DIR\n"
                 "  draws DIR/memory.png and .svg from timeseries.csv (a run's --out), and\n"
                 "  DIR/curves.* and latency.* from curves.csv (a sweep's --out)");
            return 0;
        }
        if (argc > 1)
            cli_die("plot: one folder at a time ('%s' and '%s')", argv[0], argv[1]);
        if (argc == 1)
            cli_die("plot: unknown option '%s' (kvsim plot --help)", argv[0]);
        cli_die("plot: say which folder: kvsim plot DIR (a run's or a sweep's --out)");
    }
    const char *dir = argv[0];
    char path[4200], err[4400];
    int any = 0;
    an_plot_info info;
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    if (access(path, R_OK) == 0) {
        if (an_plot_memory(dir, &info, err, sizeof(err)) != 0)
            cli_die("plot: %s", err);
        printf("wrote %s/memory.png, %s/memory.svg\n", dir, dir);
        any = 1;
    }
    snprintf(path, sizeof(path), "%s/compare.csv", dir);
    if (access(path, R_OK) == 0) {
        if (an_plot_compare(dir, &info, err, sizeof(err)) != 0)
            cli_die("plot: %s", err);
        printf("wrote %s/compare.png, %s/compare.svg\n", dir, dir);
        any = 1;
    }
    snprintf(path, sizeof(path), "%s/curves.csv", dir);
    if (access(path, R_OK) == 0) {
        if (an_plot_curves(dir, &info, err, sizeof(err)) != 0)
            cli_die("plot: %s", err);
        printf("wrote %d plot files in %s\n", info.files, dir);
        any = 1;
    }
    if (!any) {
        struct stat st;
        if (stat(dir, &st) != 0)
            cli_die("plot: %s: %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            cli_die("plot: %s is not a folder (kvsim plot DIR, a run's or a sweep's --out)", dir);
        snprintf(path, sizeof(path), "%s/find.csv", dir);
        if (access(path, R_OK) == 0) /* --find with --vary: a search, and its plots, per point */
            cli_die("plot: %s holds a search per point (find.csv), each with its own plots: "
                    "kvsim plot %s/points/NNNN",
                    dir, dir);
        cli_die("plot: %s has no timeseries.csv (kvsim run --out), compare.csv (kvsim compare "
                "--out) or curves.csv (kvsim sweep --out)",
                dir);
    }
    return 0;
}

/* `kvsim report DIR [-o FILE]`: one self-contained HTML page for a run's,
 * a compare's or a sweep's folder. */
static int cmd_report(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            puts("usage: kvsim report DIR [-o FILE]\n"
                 "  one self-contained HTML page (tables, configuration, plots as inline SVG)\n"
                 "  for the --out folder of kvsim run, compare or sweep; default FILE:\n"
                 "  DIR/report.html");
            return 0;
        }
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) {
            if (i + 1 >= argc)
                cli_die("report: %s needs a file name", argv[i]);
            if (out != NULL)
                cli_die("report: -o given twice");
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            cli_die("report: unknown option '%s' (kvsim report --help)", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            cli_die("report: one folder at a time ('%s' and '%s')", dir, argv[i]);
        }
    }
    if (dir == NULL)
        cli_die("report: say which folder: kvsim report DIR [-o FILE]");
    if (an_report_kind(dir) == NULL)
        cli_die("report: %s: not a kvsim output folder (no summary.json, compare.csv, curves.csv "
                "or find.csv)",
                dir);
    char path[4200];
    if (out == NULL) {
        snprintf(path, sizeof(path), "%s/report.html", dir);
        out = path;
    }
    FILE *fp = strcmp(out, "-") == 0 ? stdout : cli_out_fopen(out);
    char err[4400];
    if (an_write_html_report(dir, fp, err, sizeof(err)) != 0)
        cli_die("report: %s", err);
    if (fp != stdout && (ferror(fp) | fclose(fp)) != 0)
        cli_die("report: %s: write error", out);
    if (fp != stdout)
        printf("wrote %s\n", out);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_opts o;
    char usage[sizeof(usage_run) + sizeof(usage_run_more) + sizeof(usage_run_cost)];
    snprintf(usage, sizeof(usage), "%s%s%s", usage_run, usage_run_more, usage_run_cost);
    cli_parse_run_args(argc, argv, &o, usage, 0);
    if (o.trace == NULL && o.workload == NULL)
        cli_die("run: --trace FILE is required, or --workload SPEC (kvsim run --help)");
    sim_config cfg;
    double ts_interval;
    trace_format fmt;
    cli_build_config(&o, "run", &cfg, &ts_interval, &fmt);
    if (o.out != NULL)
        cli_make_dirs(o.out);
    cli_result r;
    if (cli_run_once(&o, &cfg, fmt, ts_interval, o.out, &r) != 0)
        return 1;
    an_run_info info = {&cfg, &r.res, &r.metrics, r.source, r.wall_s};
    if (!o.quiet)
        an_print_summary(stdout, &info);
    int status = 0;
    if (o.out != NULL) {
        FILE *js = cli_open_out(o.out, "summary.json");
        if (an_write_summary_json(js, &info) != 0)
            status = 1;
        cli_close_out(js, o.out, "summary.json");
        /* The plot reads timeseries.csv back: the files are committed first. */
        char err[4400];
        if (status == 0 && (status = cli_out_commit()) == 0 && !o.no_plot &&
            an_plot_memory(o.out, NULL, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            status = 1;
        }
        const char *req = cli_requests_name(&o);
        if (!o.quiet && status == 0 && o.no_plot)
            printf("wrote %s/summary.json, %s%s%s%s%s/timeseries.csv\n", o.out, req ? o.out : "",
                   req ? "/" : "", req ? req : "", req ? ", " : "", o.out);
        else if (!o.quiet && status == 0)
            printf("wrote %s/summary.json, %s%s%s%s%s/timeseries.csv, %s/memory.png, "
                   "%s/memory.svg\n",
                   o.out, req ? o.out : "", req ? "/" : "", req ? req : "", req ? ", " : "", o.out,
                   o.out, o.out);
    }
    an_metrics_free(&r.metrics);
    return status;
}

int cmd_fit(int argc, char **argv);       /* cli/cmd_fit.c */
int cmd_list_formats(void);               /* cli/cmd_fit.c */
int cmd_validate(int argc, char **argv);  /* cli/cmd_validate.c */
int cmd_calibrate(int argc, char **argv); /* cli/cmd_validate.c */

static int cmd_list(int argc, char **argv)
{
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        puts("usage: kvsim list gpus | models | formats\n"
             "  gpus: the GPU catalog (memory, CUDA-visible total, bandwidth, TFLOPS, link)\n"
             "  models: the model catalog (parameters, layers, heads, KV bytes per token)\n"
             "  formats: weight and KV formats with their bits per element");
        return 0;
    }
    if (argc == 0)
        cli_die("list: say what to list: kvsim list gpus | models | formats");
    if (strcmp(argv[0], "gpus") != 0 && strcmp(argv[0], "models") != 0 &&
        strcmp(argv[0], "formats") != 0)
        cli_die("list: '%s' is not a list: kvsim list gpus | models | formats", argv[0]);
    if (argc > 1)
        cli_die("list %s: unexpected argument '%s' (it takes none)", argv[0], argv[1]);
    if (strcmp(argv[0], "formats") == 0)
        return cmd_list_formats();
    if (strcmp(argv[0], "gpus") == 0) {
        printf("%-16s %9s %9s %10s %10s %-10s %s\n", "name", "mem_GiB", "cuda_GiB", "bw_GB/s",
               "fp16_TFLOPS", "link", "device");
        sim_gpu g;
        for (size_t i = 0; sim_gpu_at(i, &g) == 0; i++) {
            char tf[32] = "-";
            if (g.fp16_flops > 0)
                snprintf(tf, sizeof(tf), "%.1f", g.fp16_flops / 1e12);
            /* cuda_GiB: what the utilization multiplies; * estimated. */
            printf("%-16s %9.1f %8.2f%s %10.0f %10s  %-10s %s%s\n", g.name,
                   (double)g.memory_bytes / 1073741824.0, (double)g.cuda_total_bytes / 1073741824.0,
                   g.cuda_total_estimated ? "*" : " ", g.mem_bw_Bps / 1e9, tf, g.interconnect,
                   g.display, strcmp(g.verified, "yes") == 0 ? "" : " (partly unverified)");
        }
        printf(
            "(cuda_GiB: the memory CUDA reports as total, which --gpu-memory-utilization\n"
            " multiplies; *: no published figure, the nvidia-smi total less %.2f %%, the largest\n"
            " share measured; catalog/gpus.csv cuda_total_mib)\n",
            SIM_CUDA_HIDDEN_SHARE * 100);
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
    printf("(KV bytes per token at fp16 = 2 x layers x kv_heads x head_dim x 2; with latent\n"
           " attention layers x (kv_lora_rank + qk_rope_head_dim) x 2: kvsim model NAME)\n");
    return 0;
}

/* The status main returns, for the exit handler; 0 until then. */
static int exit_status;

/*
 * Run at exit, whatever the path (main's return, or exit in cli_die): the
 * output files of a command that did not commit are removed, and a write
 * error on standard output (a full disk, a closed pipe) is an error, since
 * the summary or the table the user asked for was lost.
 */
static void at_exit(void)
{
    cli_out_abort();
    int flush_failed = fflush(stdout) != 0, e = errno;
    if (flush_failed || ferror(stdout)) {
        cli_error("standard output: write error%s%s", flush_failed ? ": " : "",
                  flush_failed ? strerror(e) : "");
        _exit(exit_status != 0 ? exit_status : 1);
    }
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    atexit(at_exit);
    exit_status = dispatch(argc, argv);
    if (exit_status == 0)
        exit_status = cli_out_commit();
    return exit_status;
}

static int dispatch(int argc, char **argv)
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
    if (strcmp(cmd, "sweep") == 0)
        return cmd_sweep(argc - 2, argv + 2);
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc - 2, argv + 2);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "model") == 0)
        return cmd_model(argc - 2, argv + 2);
    if (strcmp(cmd, "gen") == 0)
        return cmd_gen(argc - 2, argv + 2);
    if (strcmp(cmd, "fit") == 0)
        return cmd_fit(argc - 2, argv + 2);
    if (strcmp(cmd, "trace") == 0)
        return cmd_trace(argc - 2, argv + 2);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "calibrate") == 0)
        return cmd_calibrate(argc - 2, argv + 2);
    static const char *const commands[] = {"run",      "compare",   "list",  "gen",
                                           "trace",    "sweep",     "plot",  "report",
                                           "validate", "calibrate", "model", "fit"};
    const char *hint = cli_did_you_mean(cmd, commands, sizeof(commands) / sizeof(commands[0]));
    if (hint != NULL)
        cli_error("unknown command '%s': did you mean %s? (kvsim --help)", cmd, hint);
    else
        cli_error("unknown command '%s' (kvsim --help)", cmd);
    return 2;
}
