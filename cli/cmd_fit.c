/*
 * cmd_fit.c: `kvsim fit`: what a model needs in given weight and KV
 * formats, and where it runs (the arithmetic is sim/fit.c).
 *
 * It ends with the common VRAM rule of thumb (the hardware-selection
 * seed's calculator: weights x 1.2 plus KV from the attention heads) for the same
 * model, to show where that rule of thumb is right and where it is wrong:
 * it sizes the KV cache with the attention heads, not the KV heads (a
 * factor heads / kv_heads too large on every grouped-query model: 4 for
 * Mistral-7B and Llama-3.1-8B, 8 for Llama-3.1-70B; its prose, 16 GB of
 * KV for Llama-3.1-8B at 128K, is right), takes 4-bit GGUF as 0.5 bytes
 * a weight (Q4_K_M is 4.89 bits on Llama-3-8B) and adds 20 % to the
 * weights for everything else.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_opts.h"
#include "cli/run_config.h"
#include "sim/fit.h"
#include "sim/preset.h"
#include "sim/formats.h"

int cmd_fit(int argc, char **argv);
int cmd_list_formats(void);

static const char usage_fit[] =
    "usage: kvsim fit --model NAME|config.json [--quantization Q] [--dtype D]\n"
    "                 [--kv-cache-dtype K] [--context N] [--batch N | --users N] [--gpu NAME]\n"
    "                 [--engine vllm|trtllm|llamacpp] [--gpu-memory-utilization X]\n"
    "                 [--max-num-batched-tokens N]\n"
    "\n"
    "What the model needs (weights, KV for N sequences of the context, activations, non-torch\n"
    "memory) and, for every catalog GPU (or the one named; usable = its CUDA-visible total x\n"
    "the utilization, * where that total is estimated): whether it fits alone, how many GPUs it\n"
    "needs otherwise (simple division of weights and KV; tensor parallelism's communication\n"
    "is not counted), the speeds the cost model predicts there (decode: each sequence's, the\n"
    "batch decoding at the context; prefill: one prompt of the context alone), and the most\n"
    "sequences of the context its KV pool holds. Defaults: fp16 weights, KV in\n"
    "the model's dtype, context 4096, batch 1, all GPUs, engine vllm, utilization 0.90, a\n"
    "2048-token step budget. Formats: kvsim list formats.\n";

static double gib(double b)
{
    return b / 1073741824.0;
}

int cmd_fit(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof(o));
    const char *context = NULL, *batch = NULL, *gpu = NULL, *batch_opt = "--batch";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_fit, stdout);
            return 0;
        }
        static const char *const names[] = {"--model",
                                            "--quantization",
                                            "-q",
                                            "--dtype",
                                            "--kv-cache-dtype",
                                            "--kv-dtype",
                                            "--context",
                                            "--batch",
                                            "--users",
                                            "--gpu",
                                            "--engine",
                                            "--gpu-memory-utilization",
                                            "--mem-util",
                                            "--max-num-batched-tokens"};
        const char **dst[] = {&o.model,        &o.quantization,
                              &o.quantization, &o.dtype,
                              &o.kv_dtype,     &o.kv_dtype,
                              &context,        &batch,
                              &batch,          &gpu,
                              &o.engine,       &o.mem_util,
                              &o.mem_util,     &o.max_batched_tokens};
        /* --name=value as well as --name value, as the other commands take them. */
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        size_t k = 0;
        while (k < sizeof(names) / sizeof(names[0]) &&
               (strlen(names[k]) != nlen || strncmp(a, names[k], nlen) != 0))
            k++;
        if (k == sizeof(names) / sizeof(names[0])) {
            char typed[64]; /* the name without its =value */
            snprintf(typed, sizeof(typed), "%.*s", (int)nlen, a);
            const char *hint = cli_did_you_mean(typed, names, sizeof(names) / sizeof(names[0]));
            if (hint != NULL)
                cli_die("fit: unknown option '%s': did you mean %s? (kvsim fit --help)", a, hint);
            cli_die("fit: unknown option '%s' (kvsim fit --help)", a);
        }
        if (eq == NULL && i + 1 >= argc)
            cli_die("%s needs a value", a);
        if (*dst[k] != NULL) {
            size_t j = 0; /* the option's first name, then its other name if any */
            while (dst[j] != dst[k])
                j++;
            if (j + 1 < sizeof(names) / sizeof(names[0]) && dst[j + 1] == dst[k])
                cli_die("%s given twice (%s and %s are one option)", names[k], names[j],
                        names[j + 1]);
            cli_die("%s given twice", names[k]);
        }
        *dst[k] = eq != NULL ? eq + 1 : argv[++i];
        if (dst[k] == &batch)
            batch_opt = names[k]; /* --batch or --users, for its messages */
    }
    if (o.model == NULL)
        cli_die("fit: --model NAME is required (kvsim list models)");
    char err[1024];
    sim_fit_query q;
    memset(&q, 0, sizeof(q));
    if (sim_model_lookup(o.model, &q.model, err, sizeof(err)) != 0)
        cli_die("--model: %s", err);
    sim_config fmt;
    memset(&fmt, 0, sizeof(fmt));
    cli_build_formats(&o, &fmt);
    q.weights = fmt.weight_dtype;
    q.kv = fmt.kv_dtype;
    q.context = context ? (uint32_t)cli_parse_u64("--context", context, 1, 1u << 30) : 4096;
    q.batch = batch ? (uint32_t)cli_parse_u64(batch_opt, batch, 1, 1u << 20) : 1;
    q.batched_tokens =
        o.max_batched_tokens
            ? (uint32_t)cli_parse_u64("--max-num-batched-tokens", o.max_batched_tokens, 1, 1u << 30)
            : 2048;
    if (q.batched_tokens < q.batch)
        q.batched_tokens = q.batch; /* vLLM: the budget holds one token per sequence */
    q.mem_util =
        o.mem_util ? cli_parse_double("--gpu-memory-utilization", o.mem_util, 0, 1, 1) : 0.90;
    /* Without --engine, each device's own (auto: vLLM where it runs,
     * else llama.cpp's preset of its backend); the memory terms above
     * the table take vllm's non-torch figure. */
    const bool automatic = o.engine == NULL || strcmp(o.engine, "auto") == 0;
    sim_engine_preset pr;
    if (sim_preset_lookup(automatic ? "vllm" : o.engine, &pr, err, sizeof(err)) != 0)
        cli_die("--engine: %s", err);
    q.cost = pr.params;
    snprintf(q.engine, sizeof(q.engine), "%s", automatic ? "auto" : pr.name);
    snprintf(q.backend, sizeof(q.backend), "%s", pr.backend);
    sim_gpu one;
    if (gpu != NULL && sim_gpu_lookup(gpu, &one, err, sizeof(err)) != 0)
        cli_die("--gpu: %s", err);
    sim_fit_memory mem;
    if (sim_fit_memory_of(&q, &mem, err, sizeof(err)) != 0)
        cli_die("%s", err);

    const sim_model *m = &q.model;
    printf("kvsim fit: %s (%.2f B parameters), weights %s (%.3f bits/weight), KV %s, context "
           "%u, batch %u, engine %s\n\n",
           m->name, (double)m->params_total / 1e9, q.weights->name, mem.bpw, q.kv->name, q.context,
           q.batch,
           automatic ? "auto (each device's: vllm where vLLM runs, else llama.cpp's preset of its "
                       "backend, named after the row)"
                     : pr.name);
    if (m->max_len > 0 && q.context > m->max_len)
        printf("note: context %u is longer than %s's max_position_embeddings, %u: kvsim run "
               "rejects longer prompts unless --max-model-len raises the limit\n\n",
               q.context, m->name, m->max_len);
    printf("memory              GiB\n");
    printf("  weights      %10.2f   (tensor by tensor in %s)\n", gib(mem.weights), q.weights->name);
    printf("  KV cache     %10.2f   (%.0f bytes/token x %u tokens x %u sequence%s%s)\n",
           gib(mem.kv), mem.kv_per_token, q.context, q.batch, q.batch == 1 ? "" : "s",
           q.kv->residual ? ", KIVI fp16 windows included" : "");
    printf("  activations  %10.2f   (a forward pass over %u tokens, as vLLM profiles)\n",
           gib(mem.activations), q.batched_tokens);
    printf("  non-torch    %10.2f   (the %s preset: workspaces, kernels, buffers outside torch)\n",
           gib(mem.runtime), pr.name);
    printf("  total        %10.2f\n\n", gib(mem.total));

    /* At a batch above 1 the decode speed is each sequence's: said so. */
    printf("%-16s %8s %7s %5s %5s %12s %13s %9s\n", "device", "CUDA GiB", "usable", "fits", "GPUs",
           q.batch > 1 ? "tok/s/seq" : "decode tok/s", "prefill tok/s", "max seqs");
    size_t n = gpu ? 1 : sim_gpu_count();
    for (size_t i = 0; i < n; i++) {
        sim_gpu g;
        if (gpu)
            g = one;
        else if (sim_gpu_at(i, &g) != 0)
            return 1;
        sim_fit_device d;
        sim_fit_device_of(&q, &mem, &g, &d);
        if (d.refused) {
            printf("%-16s %7.1f%s %7.1f  refused: %s\n", g.name, gib((double)g.cuda_total_bytes),
                   g.cuda_total_estimated ? "*" : " ", gib(d.usable), d.why);
            continue;
        }
        char gpus[16], dec[24] = "-", pre[24] = "-", seqs[24] = "-";
        snprintf(gpus, sizeof(gpus), "%s", d.fits ? "1" : "never");
        if (!d.fits && d.gpus > 0)
            snprintf(gpus, sizeof(gpus), "%u", d.gpus);
        if (d.decode_tok_s > 0 && d.tp > 1)
            snprintf(dec, sizeof(dec), "tp%u %.1f", d.tp, d.decode_tok_s);
        else if (d.decode_tok_s > 0)
            snprintf(dec, sizeof(dec), "%.1f", d.decode_tok_s);
        if (d.prefill_tok_s > 0)
            snprintf(pre, sizeof(pre), "%.0f", d.prefill_tok_s);
        if (d.fits || d.max_seqs > 0)
            snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)d.max_seqs);
        /* Under auto, a device whose engine is not vLLM names it. */
        char eng[48] = "";
        if (d.engine[0] != '\0' && strcmp(d.engine, "vllm") != 0)
            snprintf(eng, sizeof(eng), "  %s", d.engine);
        printf("%-16s %7.1f%s %7.1f %5s %5s %12s %13s %9s%s\n", g.name,
               gib((double)g.cuda_total_bytes), g.cuda_total_estimated ? "*" : " ", gib(d.usable),
               d.fits ? "yes" : "no", gpus, dec, pre, seqs, eng);
    }
    printf("\n*: no published CUDA total: the nvidia-smi total less %.2f %% (the largest share\n"
           "measured, catalog/gpus.csv cuda_total_mib)\n",
           SIM_CUDA_HIDDEN_SHARE * 100);
    printf("GPUs: by simple division, (weights + KV) / n + activations + non-torch <= usable;\n"
           "not a tensor-parallel size (heads must split, KV heads replicate, latent KV does\n"
           "not split at all: kvsim run --tensor-parallel-size N checks one). tpN: the speeds\n"
           "and max seqs at tensor-parallel size N, the smallest (2 to %d, one node; it can be\n"
           "below GPUs, whose activations are one GPU's) whose run resolves and holds the batch,\n"
           "all-reduces over the device's link included\n"
           "(prefill '-': no fp16_tflops in the catalog).\n",
           SIM_FIT_MAX_TP);

    /* The seed's calculator: weights = params x bytes (Q4_K_M 0.5, Q3_K
     * 0.375, int8 1, fp16 2), x 1.2 for everything else, plus KV = 2 x
     * layers x attention heads x head_dim x context x 2 bytes. */
    double seed_kv = 2.0 * m->layers * m->heads * m->head_dim * (double)q.context * 2.0;
    double true_kv = (double)sim_kv_format_bytes_per_token(m, sim_dtype_find("fp16")) * q.context;
    printf("\nthe common VRAM rule of thumb (weights x 1.2 + KV from the attention heads) on %s "
           "at %u tokens:\n",
           m->name, q.context);
    char seqs[48] = ""; /* the batch's sequences, as the total below counts them */
    if (q.batch > 1)
        snprintf(seqs, sizeof(seqs), ", %u sequences", q.batch);
    printf("  its KV (attention heads, fp16%s) %.2f GiB; with KV heads (%u of %u) %.2f GiB: %.1fx "
           "too large%s\n",
           seqs, gib(seed_kv * q.batch), m->kv_heads, m->heads, gib(true_kv * q.batch),
           seed_kv / true_kv,
           m->kv_heads == m->heads ? " (no grouped-query attention: right here)" : "");
    static const struct {
        const char *fmt;
        double bytes;
    } seed_prec[] = {{"fp32", 4},     {"fp16", 2},       {"bf16", 2},      {"int8", 1},
                     {"Q4_K_M", 0.5}, {"Q3_K_M", 0.375}, {"Q3_K_S", 0.375}};
    for (size_t i = 0; i < sizeof(seed_prec) / sizeof(seed_prec[0]); i++) {
        if (strcmp(q.weights->name, seed_prec[i].fmt) != 0)
            continue;
        double w = (double)m->params_total * seed_prec[i].bytes;
        bool right = fabs(w - mem.weights) < 0.01 * mem.weights;
        printf("  its weights at %.3f bytes/param %.2f GiB against %.2f GiB: %s\n",
               seed_prec[i].bytes, gib(w), gib(mem.weights),
               right ? "right" : "too small (scales, and tensors a mix keeps in more bits)");
        printf("  its total (weights x 1.2 + fp16 KV) %.2f GiB against kvsim's %.2f GiB\n",
               gib(w * 1.2 + seed_kv * q.batch), gib(mem.total));
    }
    return 0;
}

int cmd_list_formats(void)
{
    printf("%-28s %8s %7s %4s  %s\n", "format", "bits", "weights", "KV", "layout and source");
    static const char *const names[] = {
        "fp32", "fp16",   "bf16",   "fp8",    "fp8_e4m3", "fp8_e5m2", "int8",   "q8_0",
        "q5_1", "q5_0",   "q4_1",   "q4_0",   "iq4_nl",   "nvfp4",    "mxfp4",  "Q8_0",
        "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S",   "Q4_0",     "Q3_K_M", "Q2_K"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const sim_dtype *f = sim_dtype_find(names[i]);
        printf("%-28s %8.4f %7s %4s  %s\n", f->name, f->bytes * 8, f->weight_ok ? "yes" : "-",
               f->kv_ok ? "yes" : "-", f->what);
    }
    char err[256];
    const char *param[] = {"awq:group=128", "gptq:group=32"};
    for (size_t i = 0; i < 2; i++) {
        const sim_dtype *f = sim_weight_format_parse(param[i], err, sizeof(err));
        printf("%-28s %8.4f %7s %4s  %s\n", f->name, f->bytes * 8, "yes", "-", f->what);
    }
    const char *kvp[] = {"int4:group=32,residual=0", "int4:group=128,residual=128",
                         "int2:group=32,residual=0", "int2:group=128,residual=128"};
    for (size_t i = 0; i < 4; i++) {
        const sim_dtype *f = sim_kv_format_parse(kvp[i], NULL, err, sizeof(err));
        printf("%-28s %8.4f %7s %4s  %s\n", f->name, f->bytes * 8, "-", "yes", f->what);
    }
    printf("(bits per element, scales included; a llama.cpp file type's bits are its default "
           "block's: the mix keeps some tensors in more, see kvsim fit)\n");
    return 0;
}
