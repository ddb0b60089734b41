/*
 * cmd_model.c: `kvsim model NAME|PATH`: what kvsim reads from a model's
 * config.json, without a run: parameters, weight bytes, KV bytes per
 * token, attention and expert structure, and what kvsim does not model.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/run_config.h"
#include "sim/catalog.h"
#include "sim/parallel.h"

static double gib(double b)
{
    return b / 1073741824.0;
}

int cmd_model(int argc, char **argv)
{
    if (argc > 1 && argv[0][0] != '-')
        cli_die("model: one model at a time ('%s' and '%s')", argv[0], argv[1]);
    if (argc != 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs("usage: kvsim model NAME|config.json|FOLDER\n"
              "  parameters, weight bytes, KV bytes per token and the structure kvsim reads\n"
              "  from a catalog model or a HuggingFace config.json\n",
              argc == 1 ? stdout : stderr);
        return argc == 1 ? 0 : 2;
    }
    sim_model m;
    char err[1024];
    if (sim_model_lookup(argv[0], &m, err, sizeof(err)) != 0)
        cli_die("model: %s", err);
    printf("%s (%s, model_type %s, from %s)\n", m.display, m.name, m.arch, m.origin);
    printf("parameters   %llu total (%.2f B)", (unsigned long long)m.params_total,
           (double)m.params_total / 1e9);
    if (m.params_active != m.params_total)
        printf(", %llu active per token (%.2f B)", (unsigned long long)m.params_active,
               (double)m.params_active / 1e9);
    printf("\n");
    /* At 8 bits as a run quantizes (--quantization fp8: the embeddings
     * and LM head stay 16-bit, as vLLM's fp8 leaves them), beside every
     * tensor at 8 bits. */
    sim_weight_bytes w8;
    char e8[256];
    if (sim_weight_bytes_of(&m, sim_dtype_find("fp8"), &w8, e8, sizeof(e8)) == 0)
        printf("weights      %.2f GiB at 16 bits; fp8 (--quantization fp8, embeddings and LM "
               "head in 16 bits) %.2f GiB, every tensor at 8 bits %.2f GiB\n",
               gib((double)m.params_total * 2), gib(w8.total), gib((double)m.params_total));
    else
        printf("weights      %.2f GiB at 16 bits, %.2f GiB at 8 bits\n",
               gib((double)m.params_total * 2), gib((double)m.params_total));
    printf("layers       %u, hidden %u, vocab %u%s, max_position_embeddings %u\n", m.layers,
           m.hidden, m.vocab, m.tie_embeddings ? " (tied embeddings)" : "", m.max_len);
    if (m.kv_lora_rank > 0)
        printf("attention    multi-head latent: %u heads, q/k head %u (%u + rope %u), v head %u, "
               "latent %u%s\n",
               m.heads, m.head_dim, m.qk_nope_dim, m.qk_rope_dim, m.v_head_dim, m.kv_lora_rank,
               m.q_lora_rank ? ", with a query bottleneck" : "");
    else
        printf("attention    %s: %u query heads, %u KV heads, head_dim %u%s%s\n",
               m.kv_heads == m.heads ? "multi-head"
               : m.kv_heads == 1     ? "multi-query"
                                     : "grouped",
               m.heads, m.kv_heads, m.head_dim, m.qkv_bias ? ", QKV bias" : "",
               m.qk_norm ? ", q/k norms" : "");
    uint64_t kv = sim_model_kv_bytes_per_token(&m, 2.0);
    if (m.kv_lora_rank > 0)
        printf("KV cache     %llu bytes/token at 16 bits = %u layers x (%u latent + %u rope) x 2; "
               "the same on every tensor-parallel GPU\n",
               (unsigned long long)kv, m.layers, m.kv_lora_rank, m.qk_rope_dim);
    else
        printf("KV cache     %llu bytes/token at 16 bits = 2 x %u layers x %u KV heads x %u x 2\n",
               (unsigned long long)kv, m.layers, m.kv_heads, m.head_dim);
    if (m.experts)
        printf("experts      %u MoE layers of %u: %u routed experts of intermediate %u, %u per "
               "token%s; %u dense layers of intermediate %u\n",
               m.moe_layers, m.layers, m.experts, m.moe_intermediate, m.experts_per_tok,
               m.shared_intermediate ? ", and shared experts every token uses" : "",
               m.layers - m.moe_layers, m.intermediate);
    else
        printf("MLP          dense, intermediate %u\n", m.intermediate);
    if (m.sliding_window)
        printf("window       %u of %u layers attend to the last %u tokens; kvsim keeps their KV "
               "for the whole sequence (vLLM V1's hybrid KV cache manager frees what falls out "
               "of the window: kvsim's pool fills sooner)\n",
               m.sliding_layers, m.layers, m.sliding_window);
    if (m.quantization[0] == '?')
        printf("weights      quantization_config says quant_method '%s', which kvsim does not "
               "read: runs need --quantization\n",
               m.quantization + 1);
    else if (m.quantization[0] != '\0')
        printf("weights      the checkpoint is %s (quantization_config); runs use it unless "
               "--quantization says otherwise\n",
               m.quantization);
    char ok[256] = "";
    for (uint32_t t = 1; t <= SIM_MAX_TP; t *= 2) {
        char e[256];
        if (sim_tp_check(&m, t, e, sizeof(e)) == 0) {
            size_t used = strlen(ok);
            snprintf(ok + used, sizeof(ok) - used, "%s%u", used ? ", " : "", t);
        }
    }
    printf("tensor parallel sizes that split it: %s (kvsim run: up to %d, one node; more with "
           "--allreduce-busbw and --allreduce-latency-us)\n",
           ok, SIM_NODE_GPUS);
    if (m.params_reference && m.params_reference != m.params_total)
        printf("note: the catalog's reference count is %llu\n",
               (unsigned long long)m.params_reference);
    return 0;
}
