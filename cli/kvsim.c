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
#include "cli/sweep_jobs.h"
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
    struct stat st;
    if (stat(dir, &st) != 0)
        cli_die("report: %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        cli_die("report: %s: not a folder (kvsim report DIR: a run's, sweep's or compare's --out)",
                dir);
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
    if (strcmp(cmd, SWEEP_WORKER_COMMAND) == 0)
        return sweep_worker_main(argc - 2, argv + 2);
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
