/*
 * measure.h: published inference-speed measurements, read from a CSV and
 * mapped onto what kvsim can run (issue 11: kvsim validate --data FILE).
 *
 * The file has the columns of the reference measurements.csv (row_id,
 * source_id, source_type, device, device_count, framework, build, model,
 * precision_quant, weights_GiB, batch_size, input_tokens, output_tokens,
 * metric, value, unit, notes, source), found by name in the header; extra
 * columns are ignored and row_id, source_id, source_type, build,
 * weights_GiB, notes and source may be absent.
 *
 * Published names (devices, models, precisions, frameworks, and builds
 * for llama.cpp's default multi-GPU split) are mapped
 * through catalog/published_names.csv (kind,published,catalog,notes),
 * embedded in the binary like the GPU catalog: an exact match of the
 * published text, or of a catalog name itself. Nothing is guessed: a name
 * the file does not list is an unknown device (model, ...), and a listed
 * name with an empty catalog entry is a name kvsim knows it cannot pin
 * down (a product series, a form factor not stated), counted with the
 * file's note as the detail.
 *
 * Every data record yields one sim_measurement; one kvsim cannot express
 * carries a short reason and a detail naming file:line and the column, so
 * a caller can count rows by reason and lose none.
 *
 * What a row means, by metric (as the reference README and the rows'
 * notes state):
 *   decode_tok_s   one sequence generating output_tokens after a prompt of
 *                  input_tokens: llama-bench tgN has input_tokens 0 (an
 *                  empty cache); llama.cpp main's eval rate is over
 *                  output_tokens - 1 tokens whose context grows from
 *                  input_tokens;
 *   prefill_tok_s  input_tokens prompt tokens in one batch (llama-bench
 *                  ppN: N tokens at batch 512; main: the prompt eval rate);
 *   output_tok_s   output tokens per second of a static batch of
 *                  batch_size requests of input_tokens + output_tokens,
 *                  over all device_count GPUs; _per_gpu divides by them;
 *   ttft_ms        time to the first token of one prompt of input_tokens;
 *   latency_s      end-to-end seconds of one static batch: batch_size
 *                  requests, each a prompt of input_tokens then
 *                  output_tokens generated (every request to its full
 *                  length, EOS ignored), all submitted at once and timed
 *                  until the last finishes, on device_count GPUs (vLLM's
 *                  benchmark_latency.py / `vllm bench latency` "Avg
 *                  latency").
 */
#ifndef KVSIM_SIM_MEASURE_H
#define KVSIM_SIM_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "sim/catalog.h"
#include "sim/formats.h"

typedef enum {
    SIM_MEAS_DECODE_TOK_S,
    SIM_MEAS_PREFILL_TOK_S,
    SIM_MEAS_OUTPUT_TOK_S,
    SIM_MEAS_OUTPUT_TOK_S_PER_GPU,
    SIM_MEAS_TTFT_MS,
    SIM_MEAS_LATENCY_S
} sim_meas_metric;

typedef struct sim_measurement {
    uint32_t line; /* line in the file where the record starts (header = 1) */
    /* As published (model_name: `model` is the catalog model below). */
    char row_id[16], source_id[32], framework[96], device[96], model_name[96], quant[64],
        metric_name[32];
    sim_meas_metric metric; /* meaningful when metric_name is a known metric */
    uint32_t device_count, batch, input_tokens, output_tokens;
    double value;         /* as published, in the metric's unit */
    double weights_gib;   /* weights_GiB as published, 0 when empty */
    double stddev;        /* the spread the notes state ("stddev +-1.1"), 0 when none */
    double memory_gb;     /* memory the device text states ("Apple M3 Max (40-core GPU, 48GB)":
                           * 48; the catalog row holds the largest option), 0 when none */
    double host_link_Bps; /* the host's PCIe slot rate the notes state ("host PCIe 3.0": a
                           * PCIe 4.0 card in a PCIe 3.0 server), per direction; 0 when none */
    uint32_t build_ym;    /* the year and month the build column states first ("Aug 2023",
                           * "2023-11-21"): 202308; 0 when none */
    uint32_t version;     /* a release the build column states ("v0.6.1": 6, "v0.10": 10,
                           * "v1.0": 100: major x 100 + minor); 0 when none */
    char reason[48];      /* "" when expressible; else a short category (see measure.c) */
    char detail[200];     /* specifics: "FILE:LINE: column 'device': 'Foo X' not in ..." */
    char engine[24];      /* cost preset family: "llamacpp", "trtllm" ("vllm", "sglang") */
    char backend[16];     /* llama.cpp: "cuda", "metal", "rocm", "vulkan", "cpu"; "" otherwise */
    char bench[24];       /* how it ran: "llama-bench", "main", "gptSessionBenchmark", "" */
    int flash_attn;       /* 1 on, 0 off, -1 not stated */
    /* Several GPUs. split_mode "layer": llama.cpp -sm layer, layers split over
     * layer_split GPUs (tp 1). "row": llama.cpp -sm row, and the only mode of
     * builds before ggml-org/llama.cpp#4606 (January 2024): every weight matrix
     * split by rows over tp GPUs, KV and attention on the main GPU (layer_split
     * 1). "tensor": TensorRT-LLM tensor parallelism over tp GPUs. "" on one GPU. */
    char split_mode[8];
    uint32_t layer_split; /* GPUs the layers are split over, else 1 */
    uint32_t tp;          /* GPUs each weight matrix is split over (TP, or llama.cpp row split) */
    sim_gpu gpu;          /* the catalog device (valid when the device mapped) */
    sim_model model;      /* the catalog model (valid when the model mapped) */
    const sim_dtype *weights; /* weight format, NULL when unmapped */
    const sim_dtype *kv;      /* KV format: fp16 for llama.cpp (its f16 cache), fp8 for
                               * TensorRT-LLM "FP8 KV cache" rows; NULL when unmapped */
    /* MODEL's weights in WEIGHTS, tensor by tensor (sim_weight_bytes_of),
     * computed once when the row is read: a fit predicts each row
     * hundreds of times, and the GGUF mixes' walk over every layer's
     * matrices was four fifths of `kvsim validate --cross`. wb_state 1:
     * WB holds them; -1: they cannot be had, WB_ERR says why; 0: not
     * computed (a row built by hand), sim_validate_predict computes them. */
    int wb_state;
    sim_weight_bytes wb;
    char wb_err[256];
} sim_measurement;

/*
 * Reads the measurements CSV at PATH. A malformed FILE (unreadable, empty,
 * a required header column missing, an unterminated quote, a NUL byte)
 * returns -1 with a one-line ERR "PATH:LINE: reason" and *OUT untouched. A
 * malformed ROW does not fail the read: it comes back with its reason
 * ("bad number", "missing field", "malformed row", ...) and a detail naming
 * PATH:LINE and the column. Blank lines are skipped; every other record
 * yields exactly one sim_measurement. On success returns 0 and *OUT holds
 * *N rows (NULL when none), freed by sim_measurements_free.
 */
int sim_measurements_read(const char *path, sim_measurement **out, size_t *n, char *err,
                          size_t errlen);

/* The same on TEXT (LEN bytes, any content); ORIGIN names it in messages. */
int sim_measurements_parse(const char *text, size_t len, const char *origin, sim_measurement **out,
                           size_t *n, char *err, size_t errlen);

/* Frees rows from sim_measurements_read; NULL is a no-op. */
void sim_measurements_free(sim_measurement *rows);

/* The metric's name in files ("decode_tok_s", ...). */
const char *sim_meas_metric_name(sim_meas_metric m);

/*
 * The embedded catalog/published_names.csv, for tests: the number of
 * entries, and the I-th entry's KIND, PUBLISHED and CATALOG text (borrowed,
 * valid for the life of the process). Returns -1 past the end or when the
 * embedded file is broken (a message on stderr once).
 */
size_t sim_published_name_count(void);
int sim_published_name_at(size_t i, const char **kind, const char **published,
                          const char **catalog);

#endif
