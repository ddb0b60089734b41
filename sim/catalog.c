/*
 * catalog.c: the GPU table (RFC 4180 CSV, embedded at build time), the
 * element formats, and closest-name hints; see catalog.h. Model configs
 * are read in model.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/catalog.h"
#include "sim/catalog_data.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------- closest-name hints */

size_t sim_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 255)
        la = 255;
    if (lb > 255)
        lb = 255;
    size_t row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            size_t best = diag + (same ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* WANT's and NAME's letters and digits, ASCII case folded, separators
 * ('-', '_', ' ') dropped, compared: 0 when equal; with PREFIX, 0 also
 * when WANT's are a prefix of NAME's. */
int sim_name_cmp(const char *want, const char *name, int prefix)
{
    for (;;) {
        while (*want == '-' || *want == '_' || *want == ' ')
            want++;
        while (*name == '-' || *name == '_' || *name == ' ')
            name++;
        if (*want == '\0')
            return prefix || *name == '\0' ? 0 : 1;
        if (tolower((unsigned char)*want) != tolower((unsigned char)*name))
            return 1;
        want++;
        name++;
    }
}

long sim_match_name(const char *want, const char *const *names, size_t n, char *ambig, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (sim_name_cmp(want, names[i], 0) == 0)
            return (long)i;
    long found = -1;
    size_t count = 0;
    ambig[0] = '\0';
    if (strlen(want) < 3) /* "h2" is more likely a slip than h200 */
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sim_name_cmp(want, names[i], 1) == 0) {
            found = (long)i;
            strncat(ambig, count++ ? ", " : "", len - strlen(ambig) - 1);
            strncat(ambig, names[i], len - strlen(ambig) - 1);
        }
    return count > 1 ? -2 : found;
}

void sim_closest_names(const char *want, const char *const *names, size_t n, char *buf, size_t len)
{
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    size_t idx[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        /* Names that start with or contain WANT first, then by edit distance. */
        size_t d = strncmp(names[i], want, strlen(want)) == 0 ? 0
                   : strstr(names[i], want) != NULL           ? 1
                                                    : 2 + sim_edit_distance(want, names[i]);
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

/* --------------------------------------------------------- architectures */

static const char *const arch_names[] = {
    "pascal",        "volta",    "turing",   "ampere",   "ada",   "hopper",  "blackwell",
    "blackwell-rtx", "cdna2",    "cdna3",    "rdna2",    "rdna3", "rdna3.5", "xe2",
    "apple-m1",      "apple-m2", "apple-m3", "apple-m4", "zen3",  "zen4",    "sapphire-rapids",
};
_Static_assert(sizeof(arch_names) / sizeof(arch_names[0]) <= SIM_ARCH_MAX, "raise SIM_ARCH_MAX");

size_t sim_arch_count(void)
{
    return sizeof(arch_names) / sizeof(arch_names[0]);
}

const char *sim_arch_name(size_t i)
{
    return i < sim_arch_count() ? arch_names[i] : NULL;
}

int sim_arch_index(const char *name)
{
    for (size_t i = 0; i < sim_arch_count(); i++)
        if (strcmp(arch_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ GPUs */

enum {
    GPU_MAX = 256, /* rows of catalog/gpus.csv; more is a load error, never a silent cut */
    GPU_FIELDS = 21,
    GPU_RECORD = 8192, /* bytes of one CSV record (the longest row is under 2 KiB) */
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

/* Advances *LINE (1-based) over the text from *FROM to AT: the line AT
 * starts on, counting line breaks inside quoted fields too. */
static size_t line_at(const char **from, size_t *line, const char *at)
{
    for (; *from < at; (*from)++)
        *line += **from == '\n';
    return *line;
}

/* S for an error message: at most 40 characters, control characters as
 * '?', so the message stays one line. */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s != '\0' && o + 1 < len && o < 40; s++)
        buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[o] = '\0';
    return buf;
}

/* A count column (sm_count): empty is 0; else decimal digits only, at most
 * 100000. Returns 0, or -1 with a one-line ERR naming ORIGIN, LINE and COL. */
static int count_column(const char *s, const char *origin, size_t line, const char *col,
                        uint32_t *out, char *err, size_t errlen)
{
    char tmp[48];
    *out = 0;
    if (*s == '\0')
        return 0;
    size_t digits = 0;
    unsigned long v = 0;
    for (const char *c = s; *c != '\0'; c++, digits++) {
        if (*c < '0' || *c > '9') {
            snprintf(err, errlen, "%s:%zu: column '%s': '%s' is not a whole number", origin, line,
                     col, shown(s, tmp, sizeof(tmp)));
            return -1;
        }
        if (digits < 7)
            v = v * 10 + (unsigned long)(*c - '0');
    }
    if (v == 0 || v > 100000 || digits > 6) {
        snprintf(err, errlen, "%s:%zu: column '%s': '%s' is not a count in [1, 100000]", origin,
                 line, col, shown(s, tmp, sizeof(tmp)));
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* A clock column in MHz (boost_mhz): empty is 0; else a number in (0, 100000]. */
static int mhz_column(const char *s, const char *origin, size_t line, const char *col, double *hz,
                      char *err, size_t errlen)
{
    char tmp[48];
    *hz = 0;
    if (*s == '\0')
        return 0;
    double v = num_or_zero(s);
    if (v <= 0 || v > 100000) {
        snprintf(err, errlen, "%s:%zu: column '%s': '%s' is not a clock in MHz", origin, line, col,
                 shown(s, tmp, sizeof(tmp)));
        return -1;
    }
    *hz = v * 1e6;
    return 0;
}

int sim_gpu_catalog_parse(const char *text, const char *origin, sim_gpu *table, size_t cap,
                          size_t *count, char *err, size_t errlen)
{
    static const char *const cols[GPU_FIELDS] = {
        "name",           "display_name",   "vendor",    "memory_mib",    "mem_bw_gbps",
        "fp16_tflops",    "fp8_tflops",     "int8_tops", "interconnect",  "interconnect_gbps",
        "host_link_gbps", "unified_memory", "verified",  "source",        "notes",
        "cuda_total_mib", "arch",           "tdp_w",     "matmul_tflops", "sm_count",
        "boost_mhz"};
    int map[GPU_FIELDS];
    char buf[GPU_RECORD];
    char *f[32];
    const char *p = text, *counted = text;
    size_t n = 0, lines = 1;
    *count = 0;
    int nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
    for (int c = 0; c < GPU_FIELDS; c++) {
        map[c] = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(f[i], cols[c]) == 0)
                map[c] = i;
        if (map[c] < 0 && c < 6) {
            snprintf(err, errlen, "%s: missing column '%s'", origin, cols[c]);
            return -1;
        }
    }
    while (*p != '\0') {
        const char *start = p;
        nf = sim_csv_record(&p, buf, sizeof(buf), f, 32);
        if (nf < 6)
            continue;
        if (n == cap) {
            snprintf(err, errlen, "%s: more than %zu rows (raise GPU_MAX)", origin, cap);
            return -1;
        }
        size_t line = line_at(&counted, &lines, start);
        const char *v[GPU_FIELDS];
        for (int c = 0; c < GPU_FIELDS; c++)
            v[c] = map[c] >= 0 && map[c] < nf ? f[map[c]] : "";
        sim_gpu *g = &table[n];
        memset(g, 0, sizeof(*g));
        copy_str(g->name, sizeof(g->name), v[0]);
        copy_str(g->display, sizeof(g->display), v[1]);
        copy_str(g->vendor, sizeof(g->vendor), v[2]);
        if (v[16][0] != '\0' && sim_arch_index(v[16]) < 0) {
            snprintf(err, errlen, "%s: %s: unknown arch '%s'", origin, g->name, v[16]);
            return -1;
        }
        copy_str(g->arch, sizeof(g->arch), v[16]);
        double mib = num_or_zero(v[3]);
        double bw = num_or_zero(v[4]);
        if (mib <= 0 || bw <= 0) {
            snprintf(err, errlen, "%s: %s: memory_mib and mem_bw_gbps required", origin, g->name);
            return -1;
        }
        g->memory_bytes = (uint64_t)(mib * 1048576.0);
        g->mem_bw_Bps = bw * 1e9;
        g->fp16_flops = fmax(num_or_zero(v[5]), 0) * 1e12;
        g->fp8_flops = fmax(num_or_zero(v[6]), 0) * 1e12;
        g->int8_ops = fmax(num_or_zero(v[7]), 0) * 1e12;
        copy_str(g->interconnect, sizeof(g->interconnect), v[8]);
        g->interconnect_Bps = fmax(num_or_zero(v[9]), 0) * 1e9;
        g->host_link_Bps = fmax(num_or_zero(v[10]), 0) * 1e9;
        g->tdp_W = fmax(num_or_zero(v[17]), 0);
        g->matmul_flops = fmax(num_or_zero(v[18]), 0) * 1e12;
        if (count_column(v[19], origin, line, cols[19], &g->sm_count, err, errlen) != 0 ||
            mhz_column(v[20], origin, line, cols[20], &g->boost_hz, err, errlen) != 0)
            return -1;
        g->unified_memory = strcmp(v[11], "1") == 0;
        copy_str(g->verified, sizeof(g->verified), v[12]);
        copy_str(g->source, sizeof(g->source), v[13]);
        copy_str(g->notes, sizeof(g->notes), v[14]);
        /* CUDA's total: the row's figure; the whole memory on a unified
         * device (the catalog's memory is what the system gives it); else
         * derived (catalog.h, SIM_CUDA_HIDDEN_SHARE) and marked. */
        double cuda_mib = num_or_zero(v[15]);
        if (cuda_mib < 0 || cuda_mib > mib) {
            snprintf(err, errlen, "%s: %s: cuda_total_mib '%s' is not a size up to memory_mib %g",
                     origin, g->name, v[15], mib);
            return -1;
        }
        if (cuda_mib > 0)
            g->cuda_total_bytes = (uint64_t)(cuda_mib * 1048576.0);
        else if (g->unified_memory)
            g->cuda_total_bytes = g->memory_bytes;
        else {
            g->cuda_total_bytes = (uint64_t)(mib * (1.0 - SIM_CUDA_HIDDEN_SHARE)) * 1048576ull;
            g->cuda_total_estimated = true;
        }
        n++;
        *count = n;
    }
    return 0;
}

static int load_gpus(void)
{
    if (gpu_loaded != 0)
        return gpu_loaded;
    char err[512];
    if (sim_gpu_catalog_parse(sim_catalog_gpus_csv, "catalog/gpus.csv", gpu_table, GPU_MAX,
                              &gpu_count, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvsim: %s\n", err);
        return gpu_loaded = -1;
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

bool sim_gpu_geforce(const sim_gpu *g)
{
    return strstr(g->display, "GeForce") != NULL;
}

int sim_gpu_lookup(const char *name, sim_gpu *out, char *err, size_t errlen)
{
    if (load_gpus() < 0) {
        snprintf(err, errlen, "the built-in GPU catalog is broken (see above)");
        return -1;
    }
    const char *names[GPU_MAX];
    for (size_t i = 0; i < gpu_count; i++)
        names[i] = gpu_table[i].name;
    char hint[256];
    long k = sim_match_name(name, names, gpu_count, hint, sizeof(hint));
    if (k >= 0) {
        *out = gpu_table[k];
        return 0;
    }
    if (k == -2) {
        snprintf(err, errlen, "GPU '%s' is ambiguous: %s", name, hint);
        return -1;
    }
    sim_closest_names(name, names, gpu_count, hint, sizeof(hint));
    snprintf(err, errlen, "unknown GPU '%s'; closest: %s (kvsim list gpus shows all)", name, hint);
    return -1;
}
