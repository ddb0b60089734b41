/*
 * measure_names.c: the published-names table (catalog/published_names.csv,
 * embedded in the binary and read once through measure_csv.c's record
 * reader) and the conditions read from a row's free text (flash attention,
 * TP size, spread, memory size, llama.cpp's split mode). Middle of the data
 * flow: measure.c calls it while it maps a row; it only reads text and the
 * table, and never calls into measure.c.
 */
#include "sim/measure_int.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/catalog_data.h"
#include "sim/measure.h"

/* ------------------------------------------------------- published names table */

static meas_pub_name *names;
static size_t names_n;
static int names_loaded; /* 0 not yet, 1 loaded, -1 broken */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void names_free(void)
{
    for (size_t i = 0; i < names_n; i++) {
        free((char *)names[i].kind);
        free((char *)names[i].published);
        free((char *)names[i].catalog);
        free((char *)names[i].notes);
    }
    free(names);
    names = NULL;
    names_n = 0;
}

/* Loads the embedded published_names.csv once; the table lives until exit. */
int meas_names_load(void)
{
    if (names_loaded != 0)
        return names_loaded;
    const char *text = sim_catalog_published_names_csv;
    size_t len = strlen(text), pos = 0, cap = 0;
    uint32_t line = 1, start = 1;
    meas_csv_rec r = {0};
    int rc = meas_csv_next(&r, text, len, &pos, &line, &start);
    static const char *const cols[4] = {"kind", "published", "catalog", "notes"};
    for (size_t c = 0; rc == MEAS_CSV_REC && c < 4; c++)
        if (strcmp(meas_rec_get(&r, c), cols[c]) != 0)
            rc = MEAS_CSV_BAD;
    while (rc == MEAS_CSV_REC) {
        rc = meas_csv_next(&r, text, len, &pos, &line, &start);
        if (rc != MEAS_CSV_REC)
            break;
        if (meas_rec_blank(&r))
            continue;
        if (r.nf != 4) {
            rc = MEAS_CSV_BAD;
            break;
        }
        if (names_n == cap) {
            cap = cap ? 2 * cap : 256;
            meas_pub_name *t = realloc(names, cap * sizeof(*t));
            if (!t) {
                rc = MEAS_CSV_NOMEM;
                break;
            }
            names = t;
        }
        meas_pub_name *e = &names[names_n];
        e->kind = dup_str(meas_rec_get(&r, 0));
        e->published = dup_str(meas_rec_get(&r, 1));
        e->catalog = dup_str(meas_rec_get(&r, 2));
        e->notes = dup_str(meas_rec_get(&r, 3));
        names_n++;
        if (!e->kind || !e->published || !e->catalog || !e->notes) {
            rc = MEAS_CSV_NOMEM;
            break;
        }
    }
    free(r.buf);
    free(r.off);
    if (rc != MEAS_CSV_END) {
        fprintf(stderr,
                "kvsim: catalog/published_names.csv:%u: malformed (kind,published,"
                "catalog,notes expected)\n",
                start);
        names_free();
        return names_loaded = -1;
    }
    return names_loaded = 1;
}

size_t sim_published_name_count(void)
{
    return meas_names_load() > 0 ? names_n : 0;
}

int sim_published_name_at(size_t i, const char **kind, const char **published, const char **catalog)
{
    if (meas_names_load() < 0 || i >= names_n)
        return -1;
    *kind = names[i].kind;
    *published = names[i].published;
    *catalog = names[i].catalog;
    return 0;
}

const meas_pub_name *meas_name_find(const char *kind, const char *published)
{
    if (meas_names_load() < 0)
        return NULL;
    for (size_t i = 0; i < names_n; i++)
        if (strcmp(names[i].kind, kind) == 0 && strcmp(names[i].published, published) == 0)
            return &names[i];
    return NULL;
}

/* ------------------------------------------------ conditions in the row texts */

/* Case-insensitive substring search. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return hay;
    }
    return NULL;
}

/* NEEDLE in HAY as a phrase: not inside a longer word at either end. */
static bool has_phrase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; (p = find_ci(p, needle)) != NULL; p++) {
        bool left = p == hay || !isalnum((unsigned char)p[-1]) || !isalnum((unsigned char)*needle);
        bool right = !isalnum((unsigned char)p[n]) || !isalnum((unsigned char)needle[n - 1]);
        if (left && right)
            return true;
    }
    return false;
}

/* A flash-attention statement in TEXT: 1 on, 0 off, -1 none. */
static int flash_attn_of(const char *text)
{
    static const char *const on[] = {"with FA", "FA on", "-fa 1", "flash attention on",
                                     "flash_attn=1"};
    static const char *const off[] = {"no FA", "without FA",          "FA off",
                                      "-fa 0", "flash attention off", "flash_attn=0"};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        if (has_phrase(text, off[i]))
            return 0;
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
        if (has_phrase(text, on[i]))
            return 1;
    return -1;
}

/* Flash attention over the row's texts: a statement of off wins, then on; else -1. */
int meas_flash_attn_in(const char *const texts[MEAS_ROW_TEXTS])
{
    int fa = -1;
    for (int i = 0; i < MEAS_ROW_TEXTS; i++) {
        int f = flash_attn_of(texts[i]);
        if (f == 0)
            return 0;
        if (f == 1)
            fa = 1;
    }
    return fa;
}

static bool phrase_in(const char *const texts[MEAS_ROW_TEXTS], const char *needle)
{
    for (int i = 0; i < MEAS_ROW_TEXTS; i++)
        if (has_phrase(texts[i], needle))
            return true;
    return false;
}

/* "TP=4", "TP 4", "tp=4" in TEXT: the size, or 0 when not stated. */
uint32_t meas_tp_of(const char *text)
{
    for (const char *p = text; (p = find_ci(p, "tp")) != NULL; p += 2) {
        if (p > text && isalnum((unsigned char)p[-1]))
            continue;
        const char *q = p + 2;
        while (*q == ' ' || *q == '=' || *q == ':')
            q++;
        if (q == p + 2 || !isdigit((unsigned char)*q))
            continue;
        unsigned long v = strtoul(q, NULL, 10);
        if (v >= 1 && v <= 4096)
            return (uint32_t)v;
    }
    return 0;
}

/* "stddev" then up to six other bytes ("+-", a UTF-8 plus-minus) then a
 * number in TEXT: the number, 0 when none. */
double meas_stddev_of(const char *text)
{
    const char *p = find_ci(text, "stddev");
    if (!p)
        return 0;
    p += 6;
    for (int skip = 0; skip < 6 && *p && !isdigit((unsigned char)*p); skip++)
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    double v = strtod(p, NULL);
    return isfinite(v) && v >= 0 ? v : 0;
}

/* "host PCIe 3.0" in TEXT: the host's x16 slot rate per direction in
 * bytes/s, as catalog/gpus.csv's host_link_gbps gives a GPU's (PCIe 3.0
 * 16 GB/s, 4.0 32, 5.0 64; PCI-SIG's 8, 16 and 32 GT/s per lane), 0 when
 * none. */
double meas_host_link_of(const char *text)
{
    const char *p = find_ci(text, "host PCIe ");
    if (!p)
        return 0;
    p += strlen("host PCIe ");
    if (!isdigit((unsigned char)*p))
        return 0;
    double gen = strtod(p, NULL);
    if (gen == 3.0)
        return 16e9;
    if (gen == 4.0)
        return 32e9;
    if (gen == 5.0)
        return 64e9;
    return 0;
}

uint32_t meas_version_of(const char *text)
{
    for (const char *p = text; *p; p++) {
        if ((*p != 'v' && *p != 'V') || (p > text && isalnum((unsigned char)p[-1])) ||
            !isdigit((unsigned char)p[1]))
            continue;
        char *end;
        unsigned long major = strtoul(p + 1, &end, 10);
        if (*end != '.' || !isdigit((unsigned char)end[1]) || major > 99)
            continue;
        unsigned long minor = strtoul(end + 1, &end, 10);
        if (minor > 99)
            continue;
        return (uint32_t)(major * 100 + minor);
    }
    return 0;
}

uint32_t meas_build_ym_of(const char *text)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (const char *p = text; *p; p++) {
        const char *d = p; /* YYYY-MM-DD */
        bool iso = true;
        for (int i = 0; i < 10 && iso; i++)
            iso = i == 4 || i == 7 ? d[i] == '-' : isdigit((unsigned char)d[i]) != 0;
        if (iso && (p == text || !isalnum((unsigned char)p[-1]))) {
            uint32_t y = (uint32_t)atoi(d), m = (uint32_t)atoi(d + 5);
            if (m >= 1 && m <= 12)
                return y * 100 + m;
        }
        for (int m = 0; m < 12; m++) /* Mon YYYY */
            if (strncmp(p, months[m], 3) == 0 && p[3] == ' ' &&
                (p == text || !isalpha((unsigned char)p[-1]))) {
                const char *y = p + 4;
                bool four = true;
                for (int i = 0; i < 4 && four; i++)
                    four = isdigit((unsigned char)y[i]) != 0;
                if (four && !isdigit((unsigned char)y[4]))
                    return (uint32_t)atoi(y) * 100 + (uint32_t)m + 1;
            }
    }
    return 0;
}

/* "48GB", "80 GB" in a device text: the number, 0 when none. */
double meas_memory_gb_of(const char *text)
{
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) ||
            (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        char *end;
        double v = strtod(p, &end);
        while (*end == ' ')
            end++;
        if ((end[0] == 'G' || end[0] == 'g') && (end[1] == 'B' || end[1] == 'b') &&
            !isalnum((unsigned char)end[2]) && isfinite(v) && v > 0 && v < 1e6)
            return v;
    }
    return 0;
}

/*
 * llama.cpp's split over several GPUs: "-sm row" / "-sm layer" (or
 * --split-mode) when the row states it; else the default of the build as
 * catalog/published_names.csv records it (kind build: "sm=row" for builds
 * before ggml-org/llama.cpp#4606, January 2024, whose only multi-GPU mode
 * split each matrix by rows; layer split is the default since). Returns
 * "row", "layer", or NULL when neither is known.
 */
const char *meas_split_mode_of(const char *const texts[MEAS_ROW_TEXTS])
{
    if (phrase_in(texts, "-sm row") || phrase_in(texts, "split-mode row"))
        return "row";
    if (phrase_in(texts, "-sm layer") || phrase_in(texts, "split-mode layer"))
        return "layer";
    const meas_pub_name *e = meas_name_find("build", texts[1]);
    if (e && strcmp(e->catalog, "sm=row") == 0)
        return "row";
    if (e && strcmp(e->catalog, "sm=layer") == 0)
        return "layer";
    return NULL;
}
