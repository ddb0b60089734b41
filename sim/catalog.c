/*
 * catalog.c: GPU table (RFC 4180 CSV) and model configs (HuggingFace
 * config.json through jansson), embedded at build time; see catalog.h.
 *
 * Parameter counts are computed from the architecture, per family:
 *   llama-like (llama, mistral, mixtral, qwen2, gemma, gemma2): embeddings
 *     V*h (+ lm_head V*h unless tied); per layer q and o h*(H*d), k and v
 *     h*(K*d) each, optional q/k/v biases, a gated MLP 3*h*I per expert plus
 *     a router h*E for MoE, and RMSNorm weights; a final norm h.
 *   opt: token and learned position embeddings (max_pos + 2 rows), biases
 *     everywhere, a 2-matrix ReLU MLP, LayerNorm weights and biases; tied.
 * The tests compare these with the reference counts in the catalog files.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/catalog.h"
#include "sim/catalog_data.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --------------------------------------------------- closest-name hints */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return la > lb ? la : lb;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            size_t best = sub;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Writes the three names closest to WANT (substring matches first). */
static void closest_names(const char *want, const char *const *names, size_t n, char *buf,
                          size_t len)
{
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    size_t idx[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        /* Names that start with or contain WANT first, then by edit distance. */
        size_t d = strncmp(names[i], want, strlen(want)) == 0 ? 0
                   : strstr(names[i], want) != NULL           ? 1
                                                              : 2 + edit_distance(want, names[i]);
        for (size_t k = 0; k < 3; k++) {
            if (d < best[k]) {
                for (size_t m = 2; m > k; m--) {
                    best[m] = best[m - 1];
                    idx[m] = idx[m - 1];
                }
                best[k] = d;
                idx[k] = i;
                break;
            }
        }
    }
    buf[0] = '\0';
    for (size_t k = 0; k < 3 && best[k] != SIZE_MAX; k++) {
        strncat(buf, k ? ", " : "", len - strlen(buf) - 1);
        strncat(buf, names[idx[k]], len - strlen(buf) - 1);
    }
}

/* ------------------------------------------------------------------ GPUs */

enum {
    GPU_MAX = 64,
    GPU_FIELDS = 15,
};

static sim_gpu gpu_table[GPU_MAX];
static size_t gpu_count = 0;
static int gpu_loaded = 0; /* 0 not yet, 1 ok, -1 broken */

int sim_csv_record(const char **p, char *buf, size_t buflen, char **fields, int maxf)
{
    const char *s = *p;
    size_t o = 0;
    int nf = 0;
    fields[nf++] = buf;
    for (;;) {
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0')
                    return -1;
                if (*s == '"' && s[1] == '"') {
                    if (o + 1 < buflen)
                        buf[o++] = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (o + 1 < buflen)
                        buf[o++] = *s;
                    s++;
                }
            }
        }
        while (*s != '\0' && *s != ',' && *s != '\n' && *s != '\r') {
            if (o + 1 < buflen)
                buf[o++] = *s;
            s++;
        }
        if (o < buflen)
            buf[o++] = '\0';
        if (*s == ',') {
            s++;
            if (nf < maxf)
                fields[nf++] = buf + o;
            continue;
        }
        break;
    }
    while (*s == '\r' || *s == '\n')
        s++;
    *p = s;
    return nf;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
}

static double num_or_zero(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0.0;
    char *end;
    double v = strtod(s, &end);
    return (*end == '\0' && isfinite(v) && v >= 0) ? v : -1.0;
}

static int load_gpus(void)
{
    if (gpu_loaded != 0)
        return gpu_loaded;
    static const char *const cols[GPU_FIELDS] = {
        "name",           "display_name",   "vendor",    "memory_mib",   "mem_bw_gbps",
        "fp16_tflops",    "fp8_tflops",     "int8_tops", "interconnect", "interconnect_gbps",
        "host_link_gbps", "unified_memory", "verified",  "source",       "notes"};
    int map[GPU_FIELDS];
    char buf[4096];
    char *f[32];
    const char *p = sim_catalog_gpus_csv;
    int nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
    for (int c = 0; c < GPU_FIELDS; c++) {
        map[c] = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(f[i], cols[c]) == 0)
                map[c] = i;
        if (map[c] < 0 && c < 6) {
            fprintf(stderr, "kvsim: catalog/gpus.csv: missing column '%s'\n", cols[c]);
            return gpu_loaded = -1;
        }
    }
    while (*p != '\0' && gpu_count < GPU_MAX) {
        nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
        if (nf < 6)
            continue;
        const char *v[GPU_FIELDS];
        for (int c = 0; c < GPU_FIELDS; c++)
            v[c] = map[c] >= 0 && map[c] < nf ? f[map[c]] : "";
        sim_gpu *g = &gpu_table[gpu_count];
        memset(g, 0, sizeof(*g));
        copy_str(g->name, sizeof(g->name), v[0]);
        copy_str(g->display, sizeof(g->display), v[1]);
        copy_str(g->vendor, sizeof(g->vendor), v[2]);
        double mib = num_or_zero(v[3]);
        double bw = num_or_zero(v[4]);
        if (mib <= 0 || bw <= 0) {
            fprintf(stderr, "kvsim: catalog/gpus.csv: %s: memory_mib and mem_bw_gbps required\n",
                    g->name);
            return gpu_loaded = -1;
        }
        g->memory_bytes = (uint64_t)(mib * 1048576.0);
        g->mem_bw_Bps = bw * 1e9;
        g->fp16_flops = fmax(num_or_zero(v[5]), 0) * 1e12;
        g->fp8_flops = fmax(num_or_zero(v[6]), 0) * 1e12;
        g->int8_ops = fmax(num_or_zero(v[7]), 0) * 1e12;
        copy_str(g->interconnect, sizeof(g->interconnect), v[8]);
        g->interconnect_Bps = fmax(num_or_zero(v[9]), 0) * 1e9;
        g->host_link_Bps = fmax(num_or_zero(v[10]), 0) * 1e9;
        g->unified_memory = strcmp(v[11], "1") == 0;
        copy_str(g->verified, sizeof(g->verified), v[12]);
        copy_str(g->source, sizeof(g->source), v[13]);
        copy_str(g->notes, sizeof(g->notes), v[14]);
        gpu_count++;
    }
    return gpu_loaded = 1;
}

size_t sim_gpu_count(void)
{
    return load_gpus() > 0 ? gpu_count : 0;
}

int sim_gpu_at(size_t i, sim_gpu *out)
{
    if (load_gpus() < 0 || i >= gpu_count)
        return -1;
    *out = gpu_table[i];
    return 0;
}

int sim_gpu_lookup(const char *name, sim_gpu *out, char *err, size_t errlen)
{
    if (load_gpus() < 0) {
        snprintf(err, errlen, "the built-in GPU catalog is broken (see above)");
        return -1;
    }
    const char *names[GPU_MAX];
    for (size_t i = 0; i < gpu_count; i++) {
        if (strcmp(gpu_table[i].name, name) == 0) {
            *out = gpu_table[i];
            return 0;
        }
        names[i] = gpu_table[i].name;
    }
    char hint[256];
    closest_names(name, names, gpu_count, hint, sizeof(hint));
    snprintf(err, errlen, "unknown GPU '%s'; closest: %s (kvsim list gpus shows all)", name, hint);
    return -1;
}

/* ---------------------------------------------------------------- models */

static uint64_t count_params(sim_model *m, uint64_t *active)
{
    uint64_t h = m->hidden, L = m->layers, V = m->vocab, I = m->intermediate;
    uint64_t q = (uint64_t)m->heads * m->head_dim, kv = (uint64_t)m->kv_heads * m->head_dim;
    if (strcmp(m->arch, "opt") == 0) {
        uint64_t emb = V * h + ((uint64_t)m->max_len + 2) * h;
        uint64_t attn = 4 * (h * h + h);
        uint64_t mlp = 2 * h * I + I + h;
        uint64_t norms = 2 * 2 * h;
        uint64_t total = emb + L * (attn + mlp + norms) + 2 * h + (m->tie_embeddings ? 0 : V * h);
        *active = total;
        return total;
    }
    uint64_t emb = V * h * (m->tie_embeddings ? 1 : 2);
    uint64_t attn = h * q * 2 + h * kv * 2 + (m->qkv_bias ? q + 2 * kv : 0);
    uint64_t norms = (strcmp(m->arch, "gemma2") == 0 ? 4 : 2) * h;
    uint64_t expert = 3 * h * I;
    uint64_t E = m->experts ? m->experts : 1;
    uint64_t k = m->experts ? m->experts_per_tok : 1;
    uint64_t router = m->experts ? h * E : 0;
    uint64_t total = emb + L * (attn + norms + router + E * expert) + h;
    *active = emb + L * (attn + norms + router + k * expert) + h;
    return total;
}

/* Reads an unsigned integer field; returns 1 if present and valid, 0 if
 * absent, -1 if present but not a positive integer (then ERR is set). */
static int get_u32(json_t *o, const char *key, uint32_t max, uint32_t *out, const char *origin,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
        json_integer_value(v) > (json_int_t)max) {
        snprintf(err, errlen, "%s: '%s' must be an integer in [1, %u]", origin, key, max);
        return -1;
    }
    *out = (uint32_t)json_integer_value(v);
    return 1;
}

int sim_model_parse(const char *text, size_t len, const char *origin, sim_model *out, char *err,
                    size_t errlen)
{
    json_error_t je;
    /* A UTF-8 byte order mark, as some editors write, is not JSON (the
     * trace readers skip it too). */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    /* A key given twice is refused, as the trace readers do: which value
     * a tool takes differs, so the file is ambiguous. */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: invalid JSON: %s", origin, je.line, je.text);
        return -1;
    }
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s:1: a config.json must be a JSON object", origin);
        goto done;
    }
    json_t *mt = json_object_get(root, "model_type");
    copy_str(out->arch, sizeof(out->arch), json_is_string(mt) ? json_string_value(mt) : "llama");
    /* Bounds far above any real model keep every product below overflow
     * (bytes per token < 2^63, sequence lengths < 2^30 as --max-model-len). */
    struct {
        const char *key;
        uint32_t *dst;
        uint32_t max;
        int required;
    } fields[] = {
        {"hidden_size", &out->hidden, 1u << 20, 1},
        {"num_hidden_layers", &out->layers, 1u << 14, 1},
        {"num_attention_heads", &out->heads, 1u << 14, 1},
        {"num_key_value_heads", &out->kv_heads, 1u << 14, 0},
        {"head_dim", &out->head_dim, 1u << 14, 0},
        {"intermediate_size", &out->intermediate, 1u << 22, 0},
        {"ffn_dim", &out->intermediate, 1u << 22, 0},
        {"vocab_size", &out->vocab, 1u << 24, 1},
        {"max_position_embeddings", &out->max_len, 1u << 30, 0},
        {"n_positions", &out->max_len, 1u << 30, 0}, /* GPT-2 style configs */
        {"num_local_experts", &out->experts, 1u << 12, 0},
        {"num_experts_per_tok", &out->experts_per_tok, 1u << 12, 0},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int got = get_u32(root, fields[i].key, fields[i].max, fields[i].dst, origin, err, errlen);
        if (got < 0)
            goto done;
        if (got == 0 && fields[i].required) {
            snprintf(err, errlen, "%s: missing '%s' (needed for KV size and weights)", origin,
                     fields[i].key);
            goto done;
        }
    }
    if (out->intermediate == 0) {
        snprintf(err, errlen, "%s: missing 'intermediate_size' (or 'ffn_dim')", origin);
        goto done;
    }
    if (out->kv_heads == 0)
        out->kv_heads = out->heads;
    if (out->head_dim == 0) {
        if (out->hidden % out->heads != 0) {
            snprintf(err, errlen, "%s: hidden_size %u is not a multiple of %u heads", origin,
                     out->hidden, out->heads);
            goto done;
        }
        out->head_dim = out->hidden / out->heads;
    }
    if (out->heads % out->kv_heads != 0) {
        snprintf(err, errlen, "%s: num_attention_heads %u is not a multiple of %u KV heads", origin,
                 out->heads, out->kv_heads);
        goto done;
    }
    if (out->experts && (out->experts_per_tok == 0 || out->experts_per_tok > out->experts)) {
        snprintf(err, errlen, "%s: num_experts_per_tok must be 1..num_local_experts (%u)", origin,
                 out->experts);
        goto done;
    }
    /* Never guessed: it sets the default --max-model-len, and OPT's learned
     * position embeddings count in the weights. */
    if (out->max_len == 0) {
        snprintf(err, errlen,
                 "%s: missing 'max_position_embeddings' (the model's longest sequence; "
                 "'n_positions' is read too)",
                 origin);
        goto done;
    }
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    /* HF's default is true; OPT and Gemma configs often omit it. */
    out->tie_embeddings = tie == NULL ? true : json_is_true(tie);
    json_t *bias = json_object_get(root, "attention_bias");
    out->qkv_bias = strcmp(out->arch, "qwen2") == 0 || json_is_true(bias);
    json_t *meta = json_object_get(root, "_kvsim");
    json_t *v;
    if (json_is_object(meta)) {
        if (json_is_string(v = json_object_get(meta, "display_name")))
            copy_str(out->display, sizeof(out->display), json_string_value(v));
        if (json_is_integer(v = json_object_get(meta, "params_computed_reference")))
            out->params_reference = (uint64_t)json_integer_value(v);
    }
    out->params_total = count_params(out, &out->params_active);
    copy_str(out->origin, sizeof(out->origin), origin);
    rc = 0;
done:
    json_decref(root);
    return rc;
}

size_t sim_model_count(void)
{
    return sim_catalog_num_models;
}

int sim_model_at(size_t i, sim_model *out)
{
    char err[256];
    if (i >= sim_catalog_num_models)
        return -1;
    const sim_catalog_file *f = &sim_catalog_models[i];
    if (sim_model_parse(f->text, strlen(f->text), f->name, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvsim: built-in catalog: %s\n", err);
        return -1;
    }
    copy_str(out->name, sizeof(out->name), f->name);
    copy_str(out->origin, sizeof(out->origin), "catalog");
    if (out->display[0] == '\0')
        copy_str(out->display, sizeof(out->display), f->name);
    return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap || cap >= (64u << 20))
            break;
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(fp), bad_errno = errno;
    fclose(fp);
    if (buf == NULL || bad || n == cap) {
        snprintf(err, errlen, "%s: %s%s", path,
                 buf == NULL ? "out of memory"
                 : bad       ? "cannot read: "
                             : "larger than 64 MiB",
                 bad && buf != NULL ? strerror(bad_errno) : "");
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

int sim_model_lookup(const char *name, sim_model *out, char *err, size_t errlen)
{
    size_t nlen = strlen(name);
    int path_like =
        strchr(name, '/') != NULL || (nlen > 5 && strcmp(name + nlen - 5, ".json") == 0);
    int in_catalog = 0;
    for (size_t i = 0; i < sim_catalog_num_models && !path_like && !in_catalog; i++)
        in_catalog = strcmp(sim_catalog_models[i].name, name) == 0;
    struct stat st;
    int in_dir = !in_catalog && stat(name, &st) == 0 && S_ISDIR(st.st_mode);
    if (path_like || in_dir) {
        /* A folder is a HuggingFace model folder: its config.json is read,
         * as the HuggingFace tools do. A catalog name is never a folder. */
        char path[4096];
        if (in_dir)
            snprintf(path, sizeof(path), "%s%sconfig.json", name,
                     nlen > 0 && name[nlen - 1] == '/' ? "" : "/");
        else
            snprintf(path, sizeof(path), "%s", name);
        char *text;
        size_t len;
        if (read_file(path, &text, &len, err, errlen) != 0)
            return -1;
        int rc = sim_model_parse(text, len, path, out, err, errlen);
        free(text);
        if (rc != 0)
            return -1;
        /* The model's name: the folder's, or the file's. */
        char base[256];
        copy_str(base, sizeof(base), name);
        size_t bl = strlen(base);
        while (in_dir && bl > 1 && base[bl - 1] == '/')
            base[--bl] = '\0';
        const char *slash = strrchr(base, '/');
        copy_str(out->name, sizeof(out->name),
                 slash != NULL && slash[1] != '\0' ? slash + 1 : base);
        if (out->display[0] == '\0')
            copy_str(out->display, sizeof(out->display), out->name);
        return 0;
    }
    const char *names[256];
    size_t n = 0;
    for (size_t i = 0; i < sim_catalog_num_models && n < 256; i++) {
        if (strcmp(sim_catalog_models[i].name, name) == 0)
            return sim_model_at(i, out) == 0 ? 0 : (snprintf(err, errlen, "broken catalog"), -1);
        names[n++] = sim_catalog_models[i].name;
    }
    char hint[256];
    closest_names(name, names, n, hint, sizeof(hint));
    snprintf(err, errlen,
             "unknown model '%s'; closest: %s (kvsim list models shows all, or pass a "
             "config.json path)",
             name, hint);
    return -1;
}

uint64_t sim_model_kv_bytes_per_token(const sim_model *m, double bytes_per_elem)
{
    double b = 2.0 * m->layers * (double)m->kv_heads * m->head_dim * bytes_per_elem;
    return (uint64_t)llround(b);
}
