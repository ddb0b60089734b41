/*
 * support.c: what each engine runs on, and with which formats; see
 * support.h.
 *
 * The rules, each with where the engine states it:
 *   - vLLM (v0.11, docs/getting_started/installation/gpu): NVIDIA GPUs of
 *     compute capability 7.0 or higher; on AMD, ROCm's MI200/MI300/MI350
 *     (CDNA) and Radeon RX 7900 and 9000 (gfx1100/1101, gfx1200/1201),
 *     not RDNA2 or the Ryzen AI Max's gfx1151; Intel's XPU GPUs; on
 *     macOS only the CPU (no Metal backend).
 *   - bf16 (vllm/platforms/cuda.py, check_if_supports_dtype): "Bfloat16
 *     is only supported on GPUs with compute capability of at least 8.0";
 *     TensorRT-LLM's bf16 kernels need Ampere likewise.
 *   - Quantization methods' minimum capability (get_min_capability, v0.11
 *     model_executor/layers/quantization): fp8 80 (Marlin weight-only
 *     below 89), awq 75, gptq 60, mxfp4 80, W8A8 int8 (compressed-tensors)
 *     75. vLLM's --kv-cache-dtype takes auto, bfloat16 and the fp8 forms,
 *     not llama.cpp's cache types (q8_0, q4_0, ...); kvsim's int8 and
 *     KIVI forms are its own what-ifs and stay open to every engine.
 *   - llama.cpp reads GGUF: its tensor types (F32, F16, BF16, the Q and
 *     IQ blocks, MXFP4 since the gpt-oss release) and its cache types
 *     (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1: common/arg.cpp
 *     kv_cache_types); no AWQ, GPTQ, FP8, NVFP4 or W8A8 int8 weights, no
 *     fp8 cache (kvsim's int8 and KIVI what-ifs stay open, as above).
 *   - TensorRT-LLM runs NVIDIA GPUs only and builds from Hugging Face
 *     checkpoints, not GGUF files; its FP8 GEMMs need SM89 (Ada, Hopper),
 *     NVFP4 SM100 (Blackwell), its support matrix says. Not modelled: the
 *     NVFP4 floor in vLLM (its emulated and Marlin paths moved it between
 *     releases).
 *   - A preset fitted to one GPU backend (catalog/presets: backend cuda,
 *     metal, rocm, vulkan) describes that backend's kernels: llama.cpp's
 *     CUDA presets on NVIDIA GPUs, Metal on Apple's, ROCm on AMD's,
 *     Vulkan on any GPU. No preset describes a CPU (cpu-* rows serve as
 *     --host, the memory offloaded layers run from).
 *   - Multi-token prediction ("mtp") drafts with the model's own MTP
 *     layers (config.json num_nextn_predict_layers: DeepSeek-V3, GLM-4.5,
 *     MiMo, Qwen3-Next). (N-gram drafts come from the prompt: a "model"
 *     given with them is dropped, as vLLM's SpeculativeConfig sets model
 *     to "ngram", in sim/spec.c.)
 *   - --max-model-len above the model's max_position_embeddings (scaled by
 *     its rope_scaling factor as vLLM derives it, sim/model.c): vLLM
 *     refuses it (unless VLLM_ALLOW_LONG_MAX_MODEL_LEN, "may lead to
 *     incorrect model outputs or CUDA errors"); llama.cpp only warns.
 */
#include "sim/support.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sim/formats.h"
#include "sim/spec.h"

int sim_gpu_compute_capability(const sim_gpu *gpu)
{
    static const struct {
        const char *arch;
        int cc;
    } caps[] = {{"pascal", 61}, {"volta", 70},  {"turing", 75},     {"ampere", 80},
                {"ada", 89},    {"hopper", 90}, {"blackwell", 100}, {"blackwell-rtx", 120}};
    if (strcmp(gpu->vendor, "NVIDIA") != 0)
        return 0;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (strcmp(gpu->arch, caps[i].arch) == 0)
            return caps[i].cc;
    return 0;
}

enum { ENG_OTHER, ENG_VLLM, ENG_TRTLLM, ENG_LLAMACPP };

static int engine_family(const sim_config *c)
{
    if (strcmp(c->engine, "vllm") == 0)
        return ENG_VLLM;
    if (strcmp(c->engine, "trtllm") == 0)
        return ENG_TRTLLM;
    if (strncmp(c->engine, "llamacpp", 8) == 0 || c->cost.llamacpp_split)
        return ENG_LLAMACPP;
    return ENG_OTHER;
}

static bool is_cpu(const sim_gpu *g)
{
    return strncmp(g->name, "cpu-", 4) == 0;
}

/* Where vLLM does not run GPU G: true, with why in ERR. */
static bool vllm_refuses(const sim_gpu *g, char *err, size_t errlen)
{
    int cc = sim_gpu_compute_capability(g);
    if (strcmp(g->vendor, "Apple") == 0)
        snprintf(err, errlen,
                 "vLLM has no Metal backend (on macOS it runs on the CPU only): for %s use "
                 "--engine llamacpp-metal",
                 g->name);
    else if (strcmp(g->vendor, "NVIDIA") == 0 && cc > 0 && cc < 70)
        snprintf(err, errlen,
                 "vLLM needs compute capability 7.0 or higher; %s (%s) has %d.%d: llama.cpp "
                 "runs it (--engine llamacpp)",
                 g->name, g->arch, cc / 10, cc % 10);
    else if (strcmp(g->vendor, "AMD") == 0 &&
             (strcmp(g->arch, "rdna2") == 0 || strcmp(g->arch, "rdna3.5") == 0))
        snprintf(err, errlen,
                 "vLLM's ROCm build supports MI200/MI300/MI350 and Radeon RX 7900/9000 GPUs, not "
                 "%s (%s): llama.cpp runs it (--engine llamacpp-rocm or llamacpp-vulkan)",
                 g->name, g->arch);
    else
        return false;
    return true;
}

/* The preset's backend against the device's vendor. */
static int check_device(const sim_config *c, int fam, char *err, size_t errlen)
{
    const sim_gpu *g = &c->gpu;
    const char *be = c->backend;
    if (is_cpu(g) && (be[0] != '\0' || fam != ENG_OTHER)) {
        snprintf(err, errlen,
                 "%s is a CPU: no engine preset describes one (the %s preset was fitted on "
                 "GPUs); CPU rows serve as --host, where offloaded layers live",
                 g->name, c->engine);
        return -1;
    }
    bool apple = strcmp(g->vendor, "Apple") == 0, nvidia = strcmp(g->vendor, "NVIDIA") == 0,
         amd = strcmp(g->vendor, "AMD") == 0;
    if (fam == ENG_VLLM && vllm_refuses(g, err, errlen))
        return -1;
    if (fam == ENG_TRTLLM && !nvidia) {
        snprintf(err, errlen, "TensorRT-LLM runs NVIDIA GPUs only, not %s (%s)", g->name,
                 g->vendor);
        return -1;
    }
    /* A llama.cpp preset of one backend on another vendor's device. */
    const char *want = NULL;
    if (strcmp(be, "metal") == 0 && !apple)
        want = "Apple GPUs";
    else if (strcmp(be, "rocm") == 0 && !amd)
        want = "AMD GPUs";
    else if (strcmp(be, "cuda") == 0 && fam == ENG_LLAMACPP && !nvidia)
        want = "NVIDIA GPUs";
    if (want != NULL) {
        snprintf(err, errlen,
                 "the %s preset is llama.cpp's %s backend, fitted on %s; for %s (%s) use %s",
                 c->engine, be, want, g->name, g->vendor,
                 apple    ? "--engine llamacpp-metal"
                 : amd    ? "--engine llamacpp-rocm or llamacpp-vulkan"
                 : nvidia ? "--engine llamacpp (CUDA) or llamacpp-vulkan"
                          : "--engine llamacpp-vulkan");
        return -1;
    }
    return 0;
}

/* Formats the device cannot run: bf16 and the quantization methods'
 * capabilities. */
static int check_formats(const sim_config *c, int fam, char *err, size_t errlen)
{
    const sim_dtype *w = c->weight_dtype, *kv = c->kv_dtype;
    const sim_gpu *g = &c->gpu;
    int cc = sim_gpu_compute_capability(g);
    const char *eng = fam == ENG_VLLM ? "vLLM" : fam == ENG_TRTLLM ? "TensorRT-LLM" : "llama.cpp";
    if ((fam == ENG_VLLM || fam == ENG_TRTLLM) && cc > 0) {
        bool bf16 = (w != NULL && strcmp(w->name, "bf16") == 0) ||
                    (kv != NULL && strcmp(kv->name, "bf16") == 0);
        if (bf16 && cc < 80) {
            snprintf(err, errlen,
                     "bf16 needs compute capability 8.0 or higher in %s; %s (%s) has %d.%d: use "
                     "fp16 (--dtype float16)",
                     eng, g->name, g->arch, cc / 10, cc % 10);
            return -1;
        }
        int need = 0;
        if (w != NULL && fam == ENG_VLLM) {
            if (strcmp(w->name, "fp8") == 0 || w->kind == SIM_FMT_FP4)
                need = strcmp(w->name, "nvfp4") == 0 ? 0 : 80;
            else if (w->kind == SIM_FMT_AWQ)
                need = strncmp(w->name, "gptq", 4) == 0 ? 60 : 75;
            else if (w->kind == SIM_FMT_INT)
                need = 75;
        }
        /* TensorRT-LLM's FP8 GEMMs need Ada or Hopper (SM89), NVFP4
         * Blackwell (SM100): its support matrix's precision table. */
        if (w != NULL && fam == ENG_TRTLLM)
            need = strcmp(w->name, "fp8") == 0 ? 89 : strcmp(w->name, "nvfp4") == 0 ? 100 : 0;
        if (need > 0 && cc < need) {
            snprintf(err, errlen,
                     "--quantization %s: %s's kernels for it need compute capability %d.%d; "
                     "%s (%s) has %d.%d",
                     w->name, eng, need / 10, need % 10, g->name, g->arch, cc / 10, cc % 10);
            return -1;
        }
    }
    return 0;
}

/* Formats of another engine (no device involved). */
static int check_family(const sim_config *c, int fam, char *err, size_t errlen)
{
    const sim_dtype *w = c->weight_dtype, *kv = c->kv_dtype;
    const char *eng = fam == ENG_VLLM ? "vLLM" : "TensorRT-LLM";
    if (fam == ENG_VLLM || fam == ENG_TRTLLM) {
        if (kv != NULL && kv->kind == SIM_FMT_GGML) {
            snprintf(err, errlen,
                     "--kv-cache-dtype %s is llama.cpp's cache type; %s's are fp16/bf16, fp8%s "
                     "(and kvsim's int4/int2 what-ifs): use --engine llamacpp, or fp8",
                     kv->name, eng, fam == ENG_TRTLLM ? " and int8" : " (kvsim's int8 too)");
            return -1;
        }
        if (fam == ENG_TRTLLM && w != NULL &&
            (w->kind == SIM_FMT_GGML || w->kind == SIM_FMT_GGUF_MIX)) {
            snprintf(err, errlen,
                     "--quantization %s is a GGUF type: TensorRT-LLM builds from Hugging Face "
                     "checkpoints (fp8, int8, awq, gptq, nvfp4)",
                     w->name);
            return -1;
        }
    }
    if (fam == ENG_LLAMACPP) {
        bool w_ok = w == NULL || w->kind == SIM_FMT_GGML || w->kind == SIM_FMT_GGUF_MIX ||
                    strcmp(w->name, "mxfp4") == 0 ||
                    (w->kind == SIM_FMT_FLOAT && strncmp(w->name, "fp8", 3) != 0);
        if (!w_ok) {
            snprintf(err, errlen,
                     "--quantization %s: llama.cpp reads GGUF files, whose types are F32, F16, "
                     "BF16, the Q/IQ blocks (Q4_K_M, Q8_0, ...) and MXFP4",
                     w->name);
            return -1;
        }
        if (kv != NULL && kv->kind == SIM_FMT_FLOAT && strncmp(kv->name, "fp8", 3) == 0) {
            snprintf(err, errlen,
                     "--kv-cache-dtype %s: llama.cpp's cache types are f32, f16, bf16, q8_0, "
                     "q4_0, q4_1, iq4_nl, q5_0, q5_1 (and kvsim's int8 and int4/int2 what-ifs)",
                     kv->name);
            return -1;
        }
    }
    return 0;
}

const char *sim_support_auto_engine(const sim_gpu *g, const sim_dtype *w, const sim_dtype *kv)
{
    (void)w; /* GGUF weights run under vLLM too (its GGUF loader) */
    if (is_cpu(g))
        return NULL;
    bool apple = strcmp(g->vendor, "Apple") == 0, amd = strcmp(g->vendor, "AMD") == 0,
         nvidia = strcmp(g->vendor, "NVIDIA") == 0;
    const char *llama = apple    ? "llamacpp-metal"
                        : amd    ? "llamacpp-rocm"
                        : nvidia ? "llamacpp"
                                 : "llamacpp-vulkan";
    char why[256];
    return (kv != NULL && kv->kind == SIM_FMT_GGML) || vllm_refuses(g, why, sizeof(why)) ? llama
                                                                                         : "vllm";
}

int sim_support_formats(const sim_config *c, char *err, size_t errlen)
{
    return check_family(c, engine_family(c), err, errlen);
}

int sim_support_check(const sim_config *c, char *err, size_t errlen)
{
    int fam = engine_family(c);
    if (check_family(c, fam, err, errlen) != 0 || check_device(c, fam, err, errlen) != 0 ||
        check_formats(c, fam, err, errlen) != 0)
        return -1;
    if (c->spec.method == SIM_SPEC_MTP && c->model.mtp_layers == 0) {
        snprintf(err, errlen,
                 "--speculative-config: \"mtp\" drafts with the model's own multi-token-prediction "
                 "layers, which %s has none of (config.json num_nextn_predict_layers: DeepSeek-V3, "
                 "GLM-4.5, MiMo, Qwen3-Next); use eagle or eagle3 with a trained head, "
                 "draft_model or ngram",
                 c->model.name);
        return -1;
    }
    /* vLLM's check; llama.cpp only warns past n_ctx_train. */
    uint32_t most = c->model.derived_max_len > 0 ? c->model.derived_max_len : c->model.max_len;
    if (fam == ENG_VLLM && most > 0 && c->max_model_len > most) {
        snprintf(err, errlen,
                 "--max-model-len %u is above the %u positions %s was trained for "
                 "(max_position_embeddings%s): vLLM refuses it, outputs past them are not to be "
                 "trusted",
                 c->max_model_len, most, c->model.name,
                 most != c->model.max_len ? " with its rope_scaling factor" : "");
        return -1;
    }
    return 0;
}
