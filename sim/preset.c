/*
 * preset.c: engine presets as data; see preset.h.
 */
#include "sim/preset.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog_data.h"

enum { K_TEXT, K_NUM, K_BOOL, K_SKIP, K_ARCH };

typedef struct key {
    const char *name;
    int kind;
    size_t off;  /* into sim_engine_preset */
    size_t size; /* K_TEXT: buffer size */
    double lo, hi, scale;
    int lo_open; /* the value must exceed lo */
    /* A key where 0 means the term is off: the least value other than 0
     * (below it the term misbehaves), and what 0 means, for the error;
     * 0 and NULL: any value in range. */
    double nz_lo;
    const char *zero;
} key;

#define P(f) offsetof(sim_engine_preset, f)
#define C(f) offsetof(sim_engine_preset, params) + offsetof(sim_cost_params, f)
static const key keys[] = {
    {"name", K_TEXT, P(name), sizeof(((sim_engine_preset *)0)->name), 0, 0, 0, 0, 0, NULL},
    {"backend", K_TEXT, P(backend), sizeof(((sim_engine_preset *)0)->backend), 0, 0, 0, 0, 0, NULL},
    {"basis", K_TEXT, P(basis), sizeof(((sim_engine_preset *)0)->basis), 0, 0, 0, 0, 0, NULL},
    {"fit_data", K_TEXT, P(fit_data), sizeof(((sim_engine_preset *)0)->fit_data), 0, 0, 0, 0, 0,
     NULL},
    {"bw_eff", K_NUM, C(bw_eff), 0, 0, 1, 1, 1, 0, NULL},
    {"flops_eff", K_NUM, C(flops_eff), 0, 0, 1, 1, 1, 0, NULL},
    {"step_overhead_ms", K_NUM, C(step_overhead_s), 0, 0, 60000, 1e-3, 0, 0, NULL},
    {"layer_overhead_us", K_NUM, C(layer_overhead_s), 0, 0, 1e6, 1e-6, 0, 0, NULL},
    {"seq_overhead_us", K_NUM, C(seq_overhead_s), 0, 0, 1e6, 1e-6, 0, 0, NULL},
    {"tp_step_ms", K_NUM, C(tp_step_s), 0, 0, 60000, 1e-3, 0, 0, NULL},
    {"prefill_layer_us", K_NUM, C(prefill_layer_s), 0, 0, 1e6, 1e-6, 0, 0, NULL},
    {"fa_wave_fill", K_NUM, C(fa_wave_fill), 0, 0, 1, 1, 0, 0, NULL},
    {"paged_attn_v1_gbps", K_NUM, C(paged_v1_Bps), 0, 0, 1e5, 1e9, 0, 0, NULL},
    /* Below 1 the blend would exceed the sum of the two times. */
    {"gemm_blend_k", K_NUM, C(gemm_blend_k), 0, 0, 64, 1, 0, 1, "the larger time"},
    {"gemm_pj", K_NUM, C(gemm_pJ), 0, 0, 1e4, 1, 0, 0, NULL},
    {"split_base_us", K_NUM, C(split_base_s), 0, 0, 1e7, 1e-6, 0, 0, NULL},
    {"split_sync_us", K_NUM, C(split_sync_s), 0, 0, 1e7, 1e-6, 0, 0, NULL},
    {"split_link_share", K_NUM, C(split_link_share), 0, 0, 1, 1, 0, 0, NULL},
    {"split_stage_us", K_NUM, C(split_stage_s), 0, 0, 1e7, 1e-6, 0, 0, NULL},
    /* A tiny cap collapses every one-token step: 0 (no cap), or at least
     * 0.1 GB/s an SM (10 GB/s a GPU). */
    {"mv_sm_gbps", K_NUM, C(mv_sm_Bps), 0, 0, 1e4, 1e9, 0, 0.1, "no cap"},
    {"runtime_overhead_gib", K_NUM, C(overhead_bytes), 0, 0, 1e4, 1073741824.0, 0, 0, NULL},
    {"flash_attn", K_BOOL, C(flash_attn), 0, 0, 0, 0, 0, 0, NULL},
    {"fp16_accumulate", K_BOOL, C(fp16_accumulate), 0, 0, 0, 0, 0, 0, NULL},
    {"dequant_gemm", K_BOOL, C(dequant_gemm), 0, 0, 0, 0, 0, 0, NULL},
    {"int8_mmq", K_BOOL, C(int8_mmq), 0, 0, 0, 0, 0, 0, NULL},
    {"llamacpp_split", K_BOOL, C(llamacpp_split), 0, 0, 0, 0, 0, 0, NULL},
    {"ubatch_pipeline", K_BOOL, C(ubatch_pipeline), 0, 0, 0, 0, 0, 0, NULL},
    {"coopmat", K_BOOL, C(coopmat), 0, 0, 0, 0, 0, 0, NULL},
    {"cuda_graph_max_tokens", K_NUM, C(graph_max_tokens), 0, 0, 1e6, 0, 0, 0, NULL},
    {"min_build_ym", K_NUM, C(min_build_ym), 0, 0, 999912, 0, 0, 0, NULL},
    {"fit_rows", K_NUM, P(fit_rows), 0, 0, 1e9, 0, 0, 0, NULL},
    {"fit_median_err", K_NUM, P(fit_median_err), 0, 0, 1e3, 1, 0, 0, NULL},
    {"fit_p90_err", K_NUM, P(fit_p90_err), 0, 0, 1e3, 1, 0, 0, NULL},
    {"arch_flops", K_ARCH, 0, 0, 0, 2, 1, 1, 0, NULL},
    {"arch_bw", K_ARCH, 1, 0, 0, 2, 1, 1, 0, NULL},
    {"arch_bw_fit", K_BOOL, C(arch_bw_fit), 0, 0, 0, 0, 0, 0, NULL},
    {"matmul_measured", K_BOOL, C(matmul_measured), 0, 0, 0, 0, 0, 0, NULL},
    {"arch_flops_free", K_BOOL, C(arch_flops_free), 0, 0, 0, 0, 0, 0, NULL},
    {"gqa_kv_per_head", K_BOOL, C(gqa_kv_per_head), 0, 0, 0, 0, 0, 0, NULL},
    {"xqa_jit", K_BOOL, C(xqa_jit), 0, 0, 0, 0, 0, 0, NULL},
    {"mmha_grid", K_BOOL, C(mmha_grid), 0, 0, 0, 0, 0, 0, NULL},
    {"ggml_graph_2023", K_BOOL, C(ggml_graph_2023), 0, 0, 0, 0, 0, 0, NULL},
    {"row", K_SKIP, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef P
#undef C

/* FNV-1a of a row's "SOURCE:ID" (LEN bytes). */
static uint64_t fit_key(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int sim_preset_row_key(char *buf, size_t cap, const char *source_id, const char *row_id)
{
    int n = snprintf(buf, cap, "%s:%s", source_id, row_id);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    for (int i = 0; i < n; i++)
        if (isspace((unsigned char)buf[i]) || buf[i] == '#')
            buf[i] = '_';
    return n;
}

bool sim_preset_fitted(const sim_engine_preset *p, const char *source_id, const char *row_id)
{
    char buf[80];
    int n = sim_preset_row_key(buf, sizeof(buf), source_id, row_id);
    if (n < 0)
        return false;
    uint64_t k = fit_key(buf, (size_t)n);
    for (uint32_t i = 0; i < p->nfit; i++)
        if (p->fit_keys[i] == k)
            return true;
    return false;
}

/* "arch_flops ARCH VALUE" or "arch_bw ARCH VALUE" (NAME): a known
 * architecture, once, and a multiplier in (0, 2]. */
static int parse_arch(const char *name, char *v, const char *origin, uint32_t line, double *terms,
                      char *err, size_t errlen)
{
    char *x = v;
    while (*x && !isspace((unsigned char)*x))
        x++;
    if (*x)
        *x++ = '\0';
    while (isspace((unsigned char)*x))
        x++;
    int a = sim_arch_index(v);
    if (a < 0) {
        char known[512] = "";
        for (size_t i = 0; i < sim_arch_count(); i++) {
            strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
            strncat(known, sim_arch_name(i), sizeof(known) - strlen(known) - 1);
        }
        snprintf(err, errlen, "%s:%u: '%s': unknown architecture '%.40s' (known: %s)", origin, line,
                 name, v, known);
        return -1;
    }
    if (terms[a] > 0) {
        snprintf(err, errlen, "%s:%u: '%s %s' given twice", origin, line, name, v);
        return -1;
    }
    char *e;
    errno = 0;
    double m = strtod(x, &e);
    if (*x == '\0' || e == x || *e != '\0' || errno != 0 || !isfinite(m) || m <= 0 || m > 2 ||
        strpbrk(x, "xX") != NULL) {
        snprintf(err, errlen, "%s:%u: '%s %s' must be a number in (0, 2], not '%.40s'", origin,
                 line, name, v, x);
        return -1;
    }
    terms[a] = m;
    return 0;
}

int sim_preset_parse(const char *text, size_t len, const char *origin, sim_engine_preset *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool seen[sizeof(keys) / sizeof(keys[0])] = {0};
    uint32_t line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        char buf[512];
        size_t n = (size_t)(eol - p);
        if (n >= sizeof(buf)) {
            snprintf(err, errlen, "%s:%u: line longer than %zu bytes", origin, line,
                     sizeof(buf) - 1);
            return -1;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        p = eol < end ? eol + 1 : end;
        if (memchr(buf, '\0', n) != NULL) {
            snprintf(err, errlen, "%s:%u: a NUL byte in the line", origin, line);
            return -1;
        }
        char *hash = strchr(buf, '#');
        if (hash != NULL)
            *hash = '\0';
        char *s = buf;
        while (isspace((unsigned char)*s))
            s++;
        size_t l = strlen(s);
        while (l > 0 && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        if (*s == '\0')
            continue;
        char *v = s;
        while (*v && !isspace((unsigned char)*v))
            v++;
        if (*v)
            *v++ = '\0';
        while (isspace((unsigned char)*v))
            v++;
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k].name, s) != 0)
            k++;
        if (k == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen, "%s:%u: unknown key '%.40s'", origin, line, s);
            return -1;
        }
        const key *ky = &keys[k];
        if (*v == '\0') {
            snprintf(err, errlen, "%s:%u: '%s' has no value", origin, line, ky->name);
            return -1;
        }
        if (ky->kind == K_ARCH) {
            double *terms = ky->off ? out->params.arch_bw : out->params.arch_flops;
            if (parse_arch(ky->name, v, origin, line, terms, err, errlen) != 0)
                return -1;
            continue;
        }
        if (ky->kind == K_SKIP) { /* row SOURCE:ID DEVICE MODEL ...: the first word kept */
            size_t w = 0;
            while (v[w] != '\0' && !isspace((unsigned char)v[w]))
                w++;
            if (memchr(v, ':', w) == NULL) {
                snprintf(err, errlen, "%s:%u: 'row' needs SOURCE:ID first, not '%.40s'", origin,
                         line, v);
                return -1;
            }
            if (out->nfit >= SIM_PRESET_MAX_FIT) {
                snprintf(err, errlen, "%s:%u: more than %d 'row' lines", origin, line,
                         SIM_PRESET_MAX_FIT);
                return -1;
            }
            out->fit_keys[out->nfit++] = fit_key(v, w);
            continue;
        }
        if (seen[k]) {
            snprintf(err, errlen, "%s:%u: '%s' given twice", origin, line, ky->name);
            return -1;
        }
        seen[k] = true;
        char *dst = (char *)out + ky->off;
        if (ky->kind == K_TEXT) {
            if (strlen(v) >= ky->size) {
                snprintf(err, errlen, "%s:%u: '%s' longer than %zu characters", origin, line,
                         ky->name, ky->size - 1);
                return -1;
            }
            memcpy(dst, v, strlen(v) + 1);
        } else if (ky->kind == K_BOOL) {
            if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
                snprintf(err, errlen, "%s:%u: '%s' must be 0 or 1, not '%.40s'", origin, line,
                         ky->name, v);
                return -1;
            }
            *(bool *)dst = v[0] == '1';
        } else if (ky->kind == K_NUM) {
            /* Counts (a scale of 0) are whole numbers; decimal only (strtod
             * would read hexadecimal floats too). */
            bool count = ky->scale == 0;
            char *e;
            errno = 0;
            double x = strtod(v, &e);
            if (e == v || *e != '\0' || errno != 0 || !isfinite(x) || x < ky->lo || x > ky->hi ||
                (ky->lo_open && x <= ky->lo) || strpbrk(v, "xX") != NULL ||
                (count && x != floor(x))) {
                snprintf(err, errlen, "%s:%u: '%s' must be %s in %s%g, %g], not '%.40s'", origin,
                         line, ky->name, count ? "a whole number" : "a number",
                         ky->lo_open ? "(" : "[", ky->lo, ky->hi, v);
                return -1;
            }
            if (ky->zero != NULL && x > 0 && x < ky->nz_lo) {
                snprintf(err, errlen, "%s:%u: '%s' must be 0 (%s) or in [%g, %g], not '%.40s'",
                         origin, line, ky->name, ky->zero, ky->nz_lo, ky->hi, v);
                return -1;
            }
            if (ky->off == offsetof(sim_engine_preset, fit_rows))
                out->fit_rows = (uint32_t)x;
            else if (ky->off == offsetof(sim_engine_preset, params) +
                                    offsetof(sim_cost_params, graph_max_tokens))
                out->params.graph_max_tokens = (uint32_t)x;
            else if (ky->off ==
                     offsetof(sim_engine_preset, params) + offsetof(sim_cost_params, min_build_ym))
                out->params.min_build_ym = (uint32_t)x;
            else
                *(double *)dst = x * ky->scale;
        }
    }
    static const char *const required[] = {"name", "bw_eff", "flops_eff", "step_overhead_ms",
                                           "runtime_overhead_gib"};
    for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (strcmp(keys[k].name, required[r]) == 0 && !seen[k]) {
                snprintf(err, errlen, "%s: missing '%s'", origin, required[r]);
                return -1;
            }
    return 0;
}

size_t sim_preset_count(void)
{
    return sim_catalog_num_presets;
}

int sim_preset_at(size_t i, sim_engine_preset *out)
{
    char err[256];
    if (i >= sim_catalog_num_presets)
        return -1;
    const sim_catalog_file *f = &sim_catalog_presets[i];
    if (sim_preset_parse(f->text, strlen(f->text), f->name, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvsim: built-in preset: %s\n", err);
        return -1;
    }
    return 0;
}

void sim_engine_preset_names(char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < sim_catalog_num_presets; i++) {
        strncat(buf, i ? ", " : "", len - strlen(buf) - 1);
        strncat(buf, sim_catalog_presets[i].name, len - strlen(buf) - 1);
    }
}

int sim_preset_lookup(const char *name, sim_engine_preset *out, char *err, size_t errlen)
{
    size_t nl = strlen(name);
    if (strchr(name, '/') != NULL || (nl > 7 && strcmp(name + nl - 7, ".preset") == 0)) {
        FILE *fp = fopen(name, "rb");
        if (fp == NULL) {
            snprintf(err, errlen, "%s: cannot open: %s", name, strerror(errno));
            return -1;
        }
        char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        int bad = ferror(fp) || !feof(fp);
        fclose(fp);
        if (bad) {
            snprintf(err, errlen, "%s: cannot read, or larger than %zu bytes", name,
                     sizeof(buf) - 1);
            return -1;
        }
        return sim_preset_parse(buf, n, name, out, err, errlen);
    }
    for (size_t i = 0; i < sim_catalog_num_presets; i++)
        if (strcmp(sim_catalog_presets[i].name, name) == 0)
            return sim_preset_at(i, out);
    char names[512];
    sim_engine_preset_names(names, sizeof(names));
    snprintf(err, errlen, "unknown engine preset '%.40s' (known: %s, or a .preset file)", name,
             names);
    return -1;
}
