/*
 * measure.c: reads published measurements (measure.h) and maps each row
 * onto a catalog device, model, weight and KV format and engine.
 *
 * Last step of the data flow: the file's text is split into records by
 * measure_csv.c; each record's columns are found by the header here, its
 * names mapped through the published-names table and its free text read for
 * stated conditions by measure_names.c (measure_int.h), and the row checked
 * against what kvsim can run here. This file uses the other two; they never
 * use it.
 *
 * Reasons a row is not expressible, in the order they are checked (the
 * first that applies is the row's reason):
 *   malformed row          fewer or more fields than the header
 *   repeated header        the header line again (files joined with cat)
 *   missing field          an empty device, model, framework, precision or metric
 *   bad number             a count, token length, value or weights_GiB out of range
 *   unsupported metric     a metric name kvsim does not know
 *   unit mismatch          tok/s metrics in "tokens/s", ttft_ms in "ms", latency_s in "s"
 *   inconsistent tokens    e.g. a prefill rate with no input tokens
 *   unknown framework      a framework text published_names.csv lacks
 *   unknown device         a device text published_names.csv lacks, or one it maps
 *                          to a name the GPU catalog lacks
 *   ambiguous device       a listed device text that names no single part (a series,
 *                          an unstated form factor or core count)
 *   unknown model, ambiguous model
 *   unsupported precision  a precision text the file lacks, or one the engine does not run
 *   runs on the host CPU   llama.cpp's CPU backend on a chip whose CPU has no catalog row
 *   split mode not stated  llama.cpp on several GPUs without -sm or a build whose
 *                          default published_names.csv records
 *   parallelism not stated a multi-GPU TensorRT-LLM row without its TP size
 *   inconsistent parallelism  a TP size that is not the device count
 *   device has no bandwidth figure, device has no compute figure
 *   precision unsupported by device  e.g. fp8 on a part without an fp8 rate
 *   model does not split   heads not divisible by the TP size (tensor parallelism)
 *   unsupported kv format  a KV format the model's geometry does not tile
 */
#define _POSIX_C_SOURCE 200809L
#include "sim/measure.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/measure_int.h"
#include "sim/parallel.h"

/* ------------------------------------------------------------------- helpers */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* Trims ASCII white space at both ends, in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* An exact catalog GPU name: the catalog's lookup, refusing its prefix and
 * case-folded matches (a published name is never matched loosely). */
static int gpu_exact(const char *name, sim_gpu *out)
{
    char err[256];
    return sim_gpu_lookup(name, out, err, sizeof(err)) == 0 && strcmp(out->name, name) == 0 ? 0
                                                                                            : -1;
}

static int model_exact(const char *name, sim_model *out)
{
    char err[256];
    /* A name with '/' or ending in .json would be read from disk. */
    if (strchr(name, '/') || strstr(name, ".json"))
        return -1;
    return sim_model_lookup(name, out, err, sizeof(err)) == 0 && strcmp(out->name, name) == 0 ? 0
                                                                                              : -1;
}

/*
 * The last few names looked up in one read, found or not: a file names a
 * handful of devices and models many times, and a model lookup parses its
 * config.json. Names longer than the key are looked up every time.
 */
enum { LOOKUP_CACHE = 8 };

typedef struct lookup_cache {
    char gpu_key[LOOKUP_CACHE][96];
    int gpu_rc[LOOKUP_CACHE];
    sim_gpu gpu[LOOKUP_CACHE];
    size_t gpu_next;
    char model_key[LOOKUP_CACHE][96];
    int model_rc[LOOKUP_CACHE];
    sim_model model[LOOKUP_CACHE];
    size_t model_next;
} lookup_cache;

static int gpu_cached(lookup_cache *lc, const char *name, sim_gpu *out)
{
    if (strlen(name) >= sizeof(lc->gpu_key[0]))
        return gpu_exact(name, out);
    for (size_t i = 0; i < LOOKUP_CACHE; i++)
        if (strcmp(lc->gpu_key[i], name) == 0 && lc->gpu_key[i][0] != '\0') {
            if (lc->gpu_rc[i] == 0)
                *out = lc->gpu[i];
            return lc->gpu_rc[i];
        }
    size_t k = lc->gpu_next++ % LOOKUP_CACHE;
    lc->gpu_rc[k] = gpu_exact(name, &lc->gpu[k]);
    copy_str(lc->gpu_key[k], sizeof(lc->gpu_key[k]), name);
    if (lc->gpu_rc[k] == 0)
        *out = lc->gpu[k];
    return lc->gpu_rc[k];
}

static int model_cached(lookup_cache *lc, const char *name, sim_model *out)
{
    if (strlen(name) >= sizeof(lc->model_key[0]))
        return model_exact(name, out);
    for (size_t i = 0; i < LOOKUP_CACHE; i++)
        if (strcmp(lc->model_key[i], name) == 0 && lc->model_key[i][0] != '\0') {
            if (lc->model_rc[i] == 0)
                *out = lc->model[i];
            return lc->model_rc[i];
        }
    size_t k = lc->model_next++ % LOOKUP_CACHE;
    lc->model_rc[k] = model_exact(name, &lc->model[k]);
    copy_str(lc->model_key[k], sizeof(lc->model_key[k]), name);
    if (lc->model_rc[k] == 0)
        *out = lc->model[k];
    return lc->model_rc[k];
}

/* Parses an unsigned integer in [LO, HI]; trailing or leading junk fails. */
static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Parses a decimal number in [1e-9, 1e12] (strtod would read hexadecimal
 * too; below 1e-9 a ratio to it can overflow). */
static int parse_pos(const char *s, double *out)
{
    if (!(isdigit((unsigned char)*s) || *s == '.') || strpbrk(s, "xX") != NULL)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v) || !(v >= 1e-9) || v > 1e12)
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- the reader */

enum col {
    C_ROW_ID,
    C_SOURCE_ID,
    C_DEVICE,
    C_DEVICE_COUNT,
    C_FRAMEWORK,
    C_BUILD,
    C_MODEL,
    C_PRECISION,
    C_WEIGHTS,
    C_BATCH,
    C_INPUT,
    C_OUTPUT,
    C_METRIC,
    C_VALUE,
    C_UNIT,
    C_NOTES,
    C_COUNT
};

static const struct {
    const char *name;
    bool required;
} columns[C_COUNT] = {
    [C_ROW_ID] = {"row_id", false},
    [C_SOURCE_ID] = {"source_id", false},
    [C_DEVICE] = {"device", true},
    [C_DEVICE_COUNT] = {"device_count", true},
    [C_FRAMEWORK] = {"framework", true},
    [C_BUILD] = {"build", false},
    [C_MODEL] = {"model", true},
    [C_PRECISION] = {"precision_quant", true},
    [C_WEIGHTS] = {"weights_GiB", false},
    [C_BATCH] = {"batch_size", true},
    [C_INPUT] = {"input_tokens", true},
    [C_OUTPUT] = {"output_tokens", true},
    [C_METRIC] = {"metric", true},
    [C_VALUE] = {"value", true},
    [C_UNIT] = {"unit", true},
    [C_NOTES] = {"notes", false},
};

static const char *const metric_names[] = {"decode_tok_s",         "prefill_tok_s", "output_tok_s",
                                           "output_tok_s_per_gpu", "ttft_ms",       "latency_s"};

const char *sim_meas_metric_name(sim_meas_metric m)
{
    return (size_t)m < sizeof(metric_names) / sizeof(metric_names[0]) ? metric_names[m] : "?";
}

/* Context of one row while it is mapped. */
typedef struct row_ctx {
    const char *origin;
    sim_measurement *m;
    lookup_cache *lc;
} row_ctx;

/* Sets the row's reason and detail ("ORIGIN:LINE: ..."); only the first one sticks. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static bool
refuse(row_ctx *c, const char *reason, const char *fmt, ...)
{
    if (c->m->reason[0] != '\0')
        return false;
    copy_str(c->m->reason, sizeof(c->m->reason), reason);
    int k = snprintf(c->m->detail, sizeof(c->m->detail), "%s:%u: ", c->origin, c->m->line);
    if (k < 0 || (size_t)k >= sizeof(c->m->detail))
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->m->detail + k, sizeof(c->m->detail) - (size_t)k, fmt, ap);
    va_end(ap);
    /* Quoted fields may hold line breaks and other control bytes: the
     * detail is printed as one line. */
    for (char *p = c->m->detail; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return false;
}

/* Maps the framework text: "engine/backend/bench" in published_names.csv. */
static bool map_framework(row_ctx *c, const char *fw)
{
    const meas_pub_name *e = meas_name_find("framework", fw);
    if (!e || e->catalog[0] == '\0')
        return refuse(c, "unknown framework",
                      "column 'framework': '%s' not in "
                      "catalog/published_names.csv",
                      fw);
    const char *a = e->catalog, *s1 = strchr(a, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2)
        return refuse(c, "unknown framework",
                      "column 'framework': '%s' maps to '%s', not "
                      "engine/backend/bench",
                      fw, a);
    snprintf(c->m->engine, sizeof(c->m->engine), "%.*s", (int)(s1 - a), a);
    snprintf(c->m->backend, sizeof(c->m->backend), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    copy_str(c->m->bench, sizeof(c->m->bench), s2 + 1);
    return true;
}

static bool map_device(row_ctx *c, const char *dev)
{
    sim_measurement *m = c->m;
    const meas_pub_name *e = meas_name_find("device", dev);
    if (!e) {
        if (gpu_cached(c->lc, dev, &m->gpu) == 0)
            return true;
        return refuse(c, "unknown device", "column 'device': '%s' not in the catalog", dev);
    }
    if (e->catalog[0] == '\0')
        return refuse(c, "ambiguous device", "column 'device': '%s': %s", dev, e->notes);
    if (gpu_cached(c->lc, e->catalog, &m->gpu) != 0)
        return refuse(c, "unknown device",
                      "column 'device': '%s' maps to '%s', not in catalog/gpus.csv", dev,
                      e->catalog);
    return true;
}

static bool map_model(row_ctx *c, const char *name)
{
    sim_measurement *m = c->m;
    const meas_pub_name *e = meas_name_find("model", name);
    if (!e) {
        if (model_cached(c->lc, name, &m->model) == 0)
            return true;
        return refuse(c, "unknown model", "column 'model': '%s' not in the catalog", name);
    }
    if (e->catalog[0] == '\0')
        return refuse(c, "ambiguous model", "column 'model': '%s': %s", name, e->notes);
    if (model_cached(c->lc, e->catalog, &m->model) != 0)
        return refuse(c, "unknown model",
                      "column 'model': '%s' maps to '%s', not in catalog/models", name, e->catalog);
    return true;
}

/* Maps the precision text: "WEIGHTS" or "WEIGHTS;kv=KV" in published_names.csv. */
static bool map_precision(row_ctx *c, const char *q)
{
    sim_measurement *m = c->m;
    const meas_pub_name *e = meas_name_find("precision", q);
    char spec[96], err[256];
    if (!e) {
        /* A format name kvsim knows, written as kvsim writes it. */
        if (!sim_weight_format_parse(q, err, sizeof(err)))
            return refuse(c, "unsupported precision",
                          "column 'precision_quant': '%s' not in "
                          "catalog/published_names.csv",
                          q);
        copy_str(spec, sizeof(spec), q);
    } else {
        if (e->catalog[0] == '\0')
            return refuse(c, "unsupported precision", "column 'precision_quant': '%s': %s", q,
                          e->notes);
        copy_str(spec, sizeof(spec), e->catalog);
    }
    char *kv = strstr(spec, ";kv=");
    if (kv) {
        *kv = '\0';
        kv += 4;
    }
    m->weights = sim_weight_format_parse(spec, err, sizeof(err));
    if (!m->weights)
        return refuse(c, "unsupported precision", "column 'precision_quant': '%s': %s", q, err);
    m->kv = sim_kv_format_parse(kv ? kv : "fp16", NULL, err, sizeof(err));
    if (!m->kv)
        return refuse(c, "unsupported precision", "column 'precision_quant': '%s': KV %s", q, err);
    /* GGUF types only in llama.cpp; llama.cpp runs GGUF types and plain floats. */
    bool gguf = m->weights->kind == SIM_FMT_GGUF_MIX || m->weights->kind == SIM_FMT_GGML;
    bool llamacpp = strcmp(m->engine, "llamacpp") == 0;
    bool plain = m->weights->kind == SIM_FMT_FLOAT && m->weights->compute != SIM_COMPUTE_FP8;
    if (gguf ? !llamacpp : (llamacpp && !plain))
        return refuse(c, "unsupported precision",
                      "column 'precision_quant': '%s' (%s) is %s "
                      "llama.cpp format, the engine is %s",
                      q, m->weights->name, gguf ? "a" : "not a", m->engine);
    return true;
}

/* Checks the numbers of a row; returns false (with the reason set) at the first bad one. */
static bool read_numbers(row_ctx *c, char *const v[C_COUNT])
{
    sim_measurement *m = c->m;
    static const struct {
        int col;
        uint32_t lo, hi;
    } ints[] = {{C_DEVICE_COUNT, 1, 4096},
                {C_BATCH, 1, 100000000},
                {C_INPUT, 0, 100000000},
                {C_OUTPUT, 0, 100000000}};
    uint32_t *dst[] = {&m->device_count, &m->batch, &m->input_tokens, &m->output_tokens};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (parse_u32(v[ints[i].col], ints[i].lo, ints[i].hi, dst[i]) != 0)
            return refuse(c, "bad number", "column '%s': '%s' is not an integer in [%u, %u]",
                          columns[ints[i].col].name, v[ints[i].col], ints[i].lo, ints[i].hi);
    if (parse_pos(v[C_VALUE], &m->value) != 0)
        return refuse(c, "bad number", "column 'value': '%s' is not a number in [1e-9, 1e12]",
                      v[C_VALUE]);
    if (v[C_WEIGHTS][0] != '\0' && parse_pos(v[C_WEIGHTS], &m->weights_gib) != 0)
        return refuse(c, "bad number", "column 'weights_GiB': '%s' is not a number in [1e-9, 1e12]",
                      v[C_WEIGHTS]);
    return true;
}

static bool check_metric(row_ctx *c, const char *unit)
{
    sim_measurement *m = c->m;
    size_t k = 0, nm = sizeof(metric_names) / sizeof(metric_names[0]);
    while (k < nm && strcmp(m->metric_name, metric_names[k]) != 0)
        k++;
    if (k == nm)
        return refuse(c, "unsupported metric",
                      "column 'metric': '%s' (known: decode_tok_s, "
                      "prefill_tok_s, output_tok_s, output_tok_s_per_gpu, ttft_ms, latency_s)",
                      m->metric_name);
    m->metric = (sim_meas_metric)k;
    const char *want = m->metric == SIM_MEAS_TTFT_MS     ? "ms"
                       : m->metric == SIM_MEAS_LATENCY_S ? "s"
                                                         : "tokens/s";
    bool unit_ok =
        strcmp(unit, want) == 0 || (strcmp(want, "tokens/s") == 0 && strcmp(unit, "tok/s") == 0);
    if (!unit_ok)
        return refuse(c, "unit mismatch", "column 'unit': '%s' for %s (expected %s)", unit,
                      m->metric_name, want);
    bool need_in = m->metric != SIM_MEAS_DECODE_TOK_S;
    bool need_out = m->metric != SIM_MEAS_PREFILL_TOK_S;
    if ((need_in && m->input_tokens == 0) || (need_out && m->output_tokens == 0))
        return refuse(c, "inconsistent tokens", "%s with input_tokens %u, output_tokens %u",
                      m->metric_name, m->input_tokens, m->output_tokens);
    if (m->metric == SIM_MEAS_OUTPUT_TOK_S_PER_GPU && m->device_count == 0)
        return refuse(c, "inconsistent tokens", "per-GPU metric without devices");
    return true;
}

/* Parallelism and the device's figures, once the names are mapped. */
static bool check_run(row_ctx *c, const char *const texts[MEAS_ROW_TEXTS])
{
    sim_measurement *m = c->m;
    char err[256];
    if (strcmp(m->backend, "cpu") == 0)
        return refuse(c, "runs on the host CPU",
                      "'%s' ran on the CPU of '%s'; the catalog row '%s' describes its GPU",
                      m->framework, m->device, m->gpu.name);
    if (strcmp(m->engine, "llamacpp") == 0) {
        m->tp = 1;
        m->layer_split = 1;
        if (m->device_count > 1) {
            const char *sm = meas_split_mode_of(texts);
            if (!sm)
                return refuse(c, "split mode not stated",
                              "llama.cpp on %u GPUs: no -sm in the row and build '%s' is not in "
                              "catalog/published_names.csv (the default changed from row to "
                              "layer split in January 2024)",
                              m->device_count, texts[1]);
            copy_str(m->split_mode, sizeof(m->split_mode), sm);
            if (strcmp(sm, "row") == 0)
                m->tp = m->device_count;
            else
                m->layer_split = m->device_count;
        }
    } else {
        uint32_t tp = 0;
        for (int i = 0; i < MEAS_ROW_TEXTS && tp == 0; i++)
            tp = meas_tp_of(texts[i]);
        if (tp == 0 && m->device_count > 1)
            return refuse(c, "parallelism not stated", "%u GPUs, no TP size in the notes",
                          m->device_count);
        if (tp == 0)
            tp = 1;
        if (tp != m->device_count)
            return refuse(c, "inconsistent parallelism", "TP=%u on %u GPUs", tp, m->device_count);
        m->tp = tp;
        m->layer_split = 1;
        if (tp > 1)
            copy_str(m->split_mode, sizeof(m->split_mode), "tensor");
    }
    if (!(m->gpu.mem_bw_Bps > 0))
        return refuse(c, "device has no bandwidth figure",
                      "%s has no mem_bw_gbps in catalog/gpus.csv", m->gpu.name);
    if (!(m->gpu.fp16_flops > 0))
        return refuse(c, "device has no compute figure",
                      "%s has no fp16_tflops in catalog/gpus.csv", m->gpu.name);
    double flops;
    if (sim_weight_peak_flops(&m->gpu, m->weights, &flops, err, sizeof(err)) != 0)
        return refuse(c, "precision unsupported by device", "%s", err);
    if (m->kv->compute == SIM_COMPUTE_FP8 && !(m->gpu.fp8_flops > 0))
        return refuse(c, "precision unsupported by device", "%s KV on %s, which has no fp8 rate",
                      m->kv->name, m->gpu.name);
    /* llama.cpp's row split cuts rows in proportions of its own: no head constraint. */
    if (strcmp(m->split_mode, "tensor") == 0 &&
        sim_tp_check(&m->model, m->tp, err, sizeof(err)) != 0)
        return refuse(c, "model does not split", "%s", err);
    if (sim_kv_format_check(m->kv, &m->model, err, sizeof(err)) != 0)
        return refuse(c, "unsupported kv format", "%s", err);
    return true;
}

/* Fills M from the record's values V (indexed by enum col). */
static void map_row(row_ctx *c, char *const v[C_COUNT])
{
    sim_measurement *m = c->m;
    copy_str(m->row_id, sizeof(m->row_id), v[C_ROW_ID]);
    copy_str(m->source_id, sizeof(m->source_id), v[C_SOURCE_ID]);
    copy_str(m->framework, sizeof(m->framework), v[C_FRAMEWORK]);
    copy_str(m->device, sizeof(m->device), v[C_DEVICE]);
    copy_str(m->model_name, sizeof(m->model_name), v[C_MODEL]);
    copy_str(m->quant, sizeof(m->quant), v[C_PRECISION]);
    copy_str(m->metric_name, sizeof(m->metric_name), v[C_METRIC]);
    m->flash_attn = -1;
    m->layer_split = 1;
    m->tp = 1;
    m->stddev = meas_stddev_of(v[C_NOTES]);
    m->memory_gb = meas_memory_gb_of(v[C_DEVICE]);
    m->host_link_Bps = meas_host_link_of(v[C_NOTES]);
    m->build_ym = meas_build_ym_of(v[C_BUILD]);
    m->version = meas_version_of(v[C_BUILD]);
    if (strcmp(v[C_DEVICE], "device") == 0 && strcmp(v[C_METRIC], "metric") == 0 &&
        strcmp(v[C_VALUE], "value") == 0) {
        refuse(c, "repeated header", "the header line again (files joined?)");
        return;
    }
    static const int text_cols[] = {C_DEVICE, C_FRAMEWORK, C_MODEL, C_PRECISION, C_METRIC};
    for (size_t i = 0; i < sizeof(text_cols) / sizeof(text_cols[0]); i++)
        if (v[text_cols[i]][0] == '\0') {
            refuse(c, "missing field", "column '%s' is empty", columns[text_cols[i]].name);
            return;
        }
    if (!read_numbers(c, v) || !check_metric(c, v[C_UNIT]))
        return;
    /* Conditions stated in the framework, the build or the notes text. */
    const char *const texts[MEAS_ROW_TEXTS] = {v[C_FRAMEWORK], v[C_BUILD], v[C_NOTES]};
    m->flash_attn = meas_flash_attn_in(texts);
    if (map_framework(c, v[C_FRAMEWORK]) && map_device(c, v[C_DEVICE]) &&
        map_model(c, v[C_MODEL]) && map_precision(c, v[C_PRECISION]))
        check_run(c, texts);
}

int sim_measurements_parse(const char *text, size_t len, const char *origin, sim_measurement **out,
                           size_t *n, char *err, size_t errlen)
{
    if (meas_names_load() < 0) {
        snprintf(err, errlen, "%s: the built-in catalog/published_names.csv is broken", origin);
        return -1;
    }
    lookup_cache *lc = calloc(1, sizeof(*lc));
    if (!lc) {
        snprintf(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    meas_csv_rec r = {0};
    size_t pos = 0;
    uint32_t line = 1, start = 1;
    sim_measurement *rows = NULL;
    size_t count = 0, cap = 0;
    int map[C_COUNT];
    size_t header_nf = 0;
    int rc = meas_csv_next(&r, text, len, &pos, &line, &start);
    if (rc == MEAS_CSV_REC) {
        /* A UTF-8 byte-order mark before the first name is not part of it. */
        if (strncmp(r.buf, "\xEF\xBB\xBF", 3) == 0)
            memmove(r.buf, r.buf + 3, strlen(r.buf + 3) + 1);
        header_nf = r.nf;
        for (int k = 0; k < C_COUNT; k++) {
            map[k] = -1;
            for (size_t i = 0; i < r.nf; i++) {
                char *f = trim(r.buf + r.off[i]);
                if (strcmp(f, columns[k].name) == 0) {
                    map[k] = (int)i;
                    break;
                }
            }
            if (map[k] < 0 && columns[k].required) {
                snprintf(err, errlen, "%s:1: header has no '%s' column", origin, columns[k].name);
                rc = MEAS_CSV_BAD;
                break;
            }
        }
    } else if (rc == MEAS_CSV_END) {
        snprintf(err, errlen, "%s:1: empty file (no header)", origin);
        rc = MEAS_CSV_BAD;
    }
    while (rc == MEAS_CSV_REC) {
        rc = meas_csv_next(&r, text, len, &pos, &line, &start);
        if (rc != MEAS_CSV_REC)
            break;
        if (meas_rec_blank(&r))
            continue;
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 64;
            sim_measurement *t = realloc(rows, nc * sizeof(*t));
            if (!t) {
                rc = MEAS_CSV_NOMEM;
                break;
            }
            rows = t;
            cap = nc;
        }
        sim_measurement *m = &rows[count++];
        memset(m, 0, sizeof(*m));
        m->line = start;
        row_ctx c = {origin, m, lc};
        char *v[C_COUNT];
        for (int k = 0; k < C_COUNT; k++)
            v[k] = map[k] >= 0 && (size_t)map[k] < r.nf ? trim(r.buf + r.off[map[k]]) : "";
        if (r.nf != header_nf) {
            copy_str(m->row_id, sizeof(m->row_id), v[C_ROW_ID]);
            copy_str(m->device, sizeof(m->device), v[C_DEVICE]);
            m->flash_attn = -1;
            m->layer_split = m->tp = 1;
            refuse(&c, "malformed row", "%zu fields, the header has %zu", r.nf, header_nf);
            continue;
        }
        map_row(&c, v);
        if (m->reason[0] == '\0' && m->weights != NULL) {
            int wrc =
                sim_weight_bytes_of(&m->model, m->weights, &m->wb, m->wb_err, sizeof(m->wb_err));
            m->wb_state = wrc == 0 ? 1 : -1;
        }
    }
    free(r.buf);
    free(r.off);
    free(lc);
    if (rc != MEAS_CSV_END) {
        if (rc == MEAS_CSV_UNTERMINATED)
            snprintf(err, errlen, "%s:%u: unterminated quoted field", origin, line);
        else if (rc == MEAS_CSV_NUL)
            snprintf(err, errlen, "%s:%u: NUL byte (not a text CSV)", origin, line);
        else if (rc == MEAS_CSV_NOMEM)
            snprintf(err, errlen, "%s:%u: out of memory", origin, line);
        free(rows);
        return -1;
    }
    *out = rows;
    *n = count;
    return 0;
}

int sim_measurements_read(const char *path, sim_measurement **out, size_t *n, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            size_t nc = cap ? 2 * cap : 1 << 20;
            if (nc > ((size_t)1 << 31)) {
                snprintf(err, errlen, "%s: larger than 2 GiB", path);
                free(buf);
                fclose(f);
                return -1;
            }
            char *t = realloc(buf, nc);
            if (!t) {
                snprintf(err, errlen, "%s: out of memory", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = t;
            cap = nc;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f), read_errno = errno; /* EISDIR: a directory opens, then fails to read */
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read: %s", path,
                 read_errno ? strerror(read_errno) : "read error");
        free(buf);
        return -1;
    }
    int rc = sim_measurements_parse(buf, len, path, out, n, err, errlen);
    free(buf);
    return rc;
}

void sim_measurements_free(sim_measurement *rows)
{
    free(rows);
}
