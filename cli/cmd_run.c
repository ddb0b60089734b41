/*
 * cmd_run.c: `kvsim run`, one simulation: its options (the help text),
 * the configuration, the run, its summary and files. kvsim.c's main calls
 * it once; a sweep's worker processes (sweep_jobs.c) once per point.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>

#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/report.h"
#include "cli/cli_int.h"
#include "cli/cli_out.h"
#include "cli/run_config.h"

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
    "                          them, two all-reduces per layer per step (README: Hardware);\n"
    "                          at most 8 (one node) unless both --allreduce-* figures are given\n"
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
    "                          llamacpp-2023, -metal, -rocm, -vulkan, or a .preset file;\n"
    "                          auto: vllm where vLLM runs the device, else llama.cpp's preset\n"
    "                          of its backend. What an engine does not run is refused\n"
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

int cmd_run(int argc, char **argv)
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
    if (o.out != NULL) {
        cli_out_check_kind(o.out, 0, "run");
        cli_out_keep(o.trace);
        cli_make_dirs(o.out);
    }
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
        /* Another command's files, or a plot of an earlier run (with
         * --no-plot), would be read as this run's. */
        const char *mine[] = {"summary.json",    "timeseries.csv", "requests.csv",
                              "requests.csv.gz", "memory.png",     "memory.svg"};
        if (status == 0)
            status = cli_out_remove_others(o.out, mine, o.no_plot ? 4 : 6);
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
