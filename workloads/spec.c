/*
 * spec.c: parsing workload specs (grammar in source.h) and the presets.
 *
 * A spec is split at ';' into clauses and each clause at its first ':'
 * into a name and KEY=VALUE parameters split at ','. Every value is parsed
 * strictly (the whole text must be a finite number in range), every key
 * must be known to its clause and given once, and every error is one line
 * naming the clause and the key. Paths in empirical:file= therefore may
 * not contain ',' or ';'.
 *
 * Presets and their sources (means are facts from the sources; the
 * distribution shapes are kvsim's choices, stated here and in the README):
 *   sharegpt    vLLM paper (Kwon et al., "Efficient Memory Management for
 *               Large Language Model Serving with PagedAttention", SOSP
 *               2023, sec. 6.1): ShareGPT mean input 161.31, output 337.99
 *               tokens (OPT tokenizer), Poisson arrivals. Shapes:
 *               lognormal, sigma 1.2 (input) and 1.0 (output; the log-sd
 *               of the output lengths in sarathi-serve's ShareGPT table is
 *               1.00), capped at 2048 (OPT's context), default 1 req/s.
 *   alpaca      same paper: Alpaca mean input 19.31, output 58.45 tokens.
 *               Shapes: lognormal, sigma 0.6 (short, uniform instructions)
 *               and 1.0, capped at 2048, default 1 req/s.
 *   azure-conv  Azure LLM inference trace 2023, conversation (Patel et al.,
 *               "Splitwise", ISCA 2024; Azure/AzurePublicDataset): input
 *               mean 1155, output mean 211 capped at 1000; 5.53 req/s with
 *               inter-arrival CV 1.09 over its hour. Shapes: lognormal with
 *               the trace's log-sd (0.99 input, 0.86 output), input capped
 *               at 16384; Gamma arrivals at that rate and CV.
 *   azure-code  same dataset, code: input mean 2048 (capped at the trace's
 *               largest, 7437), output mean 28; 2.57 req/s. Shapes:
 *               lognormal, log-sd 1.36 and 0.85; Gamma arrivals with cv 3.0
 *               (the trace's inter-arrival CV within busy periods, gaps
 *               <= 10 s; over the whole hour it is 13.2, set by 45 pauses
 *               longer than 10 s).
 *   chat        multi-turn conversations whose turns share prefixes. Each
 *               turn's prompt is a shared system prompt, the whole history
 *               (earlier prompts and answers) and a new user message; the
 *               message and answer lengths default to the sharegpt shapes.
 *               Conversations arrive Poisson at rate (per second), have a
 *               geometric number of turns (mean `turns`, 4), the next turn
 *               an exponential `think` time (mean 60 s) after the previous
 *               one arrives, and end before a prompt would exceed max_ctx
 *               (16384). Requests carry hash_ids in Mooncake's convention
 *               (FAST 2025 traces): ids of the prompt's 512-token blocks,
 *               equal ids for equal prefixes: a turn repeats the ids of the
 *               previous turn's full blocks and the system prompt's full
 *               blocks have the same ids in every conversation.
 */
#include "workloads/wl_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Default bounds of a length distribution. */
#define WL_LEN_MAX_DEFAULT 1048576u
#define WL_LEN_MAX_LIMIT 2147483648.0 /* 2^31 */
/* Most parameters in one clause. */
#define WL_MAX_KEYS 16
/* Longest value (a path). */
#define WL_VALUE_BYTES 4096

/* ------------------------------------------------------------ presets */

typedef struct wl_preset {
    const char *name;
    wl_arrival arrival;
    wl_dist in, out;
    int is_chat;
} wl_preset;

#define WL_LOGNORMAL(m, s, hi)                                                                     \
    {                                                                                              \
        .kind = WL_DIST_LOGNORMAL, .min = 1, .max = (hi), .mean = (m), .sigma = (s)                \
    }

static const wl_preset wl__presets[] = {
    {"sharegpt",
     {WL_ARRIVAL_POISSON, 1.0, 1.0, 0.0},
     WL_LOGNORMAL(161.31, 1.2, 2048),
     WL_LOGNORMAL(337.99, 1.0, 2048),
     0},
    {"alpaca",
     {WL_ARRIVAL_POISSON, 1.0, 1.0, 0.0},
     WL_LOGNORMAL(19.31, 0.6, 2048),
     WL_LOGNORMAL(58.45, 1.0, 2048),
     0},
    {"azure-conv",
     {WL_ARRIVAL_GAMMA, 5.53, 1.09, 0.0},
     WL_LOGNORMAL(1155, 0.99, 16384),
     WL_LOGNORMAL(211, 0.86, 1000),
     0},
    {"azure-code",
     {WL_ARRIVAL_GAMMA, 2.57, 3.0, 0.0},
     WL_LOGNORMAL(2048, 1.36, 7437),
     WL_LOGNORMAL(28, 0.85, 2048),
     0},
    {"chat",
     {WL_ARRIVAL_POISSON, 0.5, 1.0, 0.0},
     WL_LOGNORMAL(161.31, 1.2, 2048),
     WL_LOGNORMAL(337.99, 1.0, 2048),
     1},
};
#define WL_NPRESETS (sizeof wl__presets / sizeof wl__presets[0])

static const wl_chat wl__chat_defaults = {4.0, 60.0, 512, 16384};

static const char *const wl__process_names[] = {"poisson", "gamma", "constant", "batch"};
static const char *const wl__dist_names[] = {"fixed",     "uniform", "normal",
                                             "lognormal", "zipf",    "empirical"};

/* ------------------------------------------------------------- params */

/* A KEY=VALUE parameter inside the spec text. */
typedef struct wl_kv {
    const char *key, *val;
    size_t klen, vlen;
    int used;
} wl_kv;

/* The parameters of one clause. */
typedef struct wl_params {
    wl_kv kv[WL_MAX_KEYS];
    size_t n;
    const char *what; /* "in=lognormal", for messages */
    char *err;
    size_t errlen;
} wl_params;

/* Copies P[0..N) into a NUL-terminated DST of DSTLEN bytes (cut if longer). */
static void wl__copy(char *dst, size_t dstlen, const char *p, size_t n)
{
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Splits P[0..N) at ',' into KEY=VALUE parameters. Returns 0 or -1 with a message. */
static int wl__split_params(wl_params *ps, const char *p, size_t n)
{
    ps->n = 0;
    size_t i = 0;
    while (i <= n) {
        const char *c = memchr(p + i, ',', n - i);
        size_t end = c != NULL ? (size_t)(c - p) : n;
        const char *item = p + i;
        size_t len = end - i;
        const char *eq = memchr(item, '=', len);
        char shown[64];
        wl__copy(shown, sizeof shown, item, len);
        if (len == 0) {
            snprintf(ps->err, ps->errlen, "%s: empty parameter (a stray ',')", ps->what);
            return -1;
        }
        if (eq == NULL || eq == item || eq == item + len - 1) {
            snprintf(ps->err, ps->errlen, "%s: '%s' is not KEY=VALUE", ps->what, shown);
            return -1;
        }
        if (ps->n == WL_MAX_KEYS) {
            snprintf(ps->err, ps->errlen, "%s: too many parameters", ps->what);
            return -1;
        }
        wl_kv *kv = &ps->kv[ps->n];
        kv->key = item;
        kv->klen = (size_t)(eq - item);
        kv->val = eq + 1;
        kv->vlen = len - kv->klen - 1;
        kv->used = 0;
        for (size_t j = 0; j < ps->n; j++) {
            if (ps->kv[j].klen == kv->klen && memcmp(ps->kv[j].key, kv->key, kv->klen) == 0) {
                wl__copy(shown, sizeof shown, kv->key, kv->klen);
                snprintf(ps->err, ps->errlen, "%s: %s given twice", ps->what, shown);
                return -1;
            }
        }
        ps->n++;
        if (c == NULL)
            break;
        i = end + 1;
    }
    return 0;
}

/* The parameter KEY, marked used, or NULL. */
static wl_kv *wl__find(wl_params *ps, const char *key)
{
    size_t k = strlen(key);
    for (size_t j = 0; j < ps->n; j++) {
        if (ps->kv[j].klen == k && memcmp(ps->kv[j].key, key, k) == 0) {
            ps->kv[j].used = 1;
            return &ps->kv[j];
        }
    }
    return NULL;
}

/*
 * Reads KEY as a number in LO..HI (LO excluded when LO_OPEN) into *OUT.
 * Returns 1 when present, 0 when absent (then REQUIRED makes it an error:
 * -1), -1 with a message when malformed.
 */
static int wl__num(wl_params *ps, const char *key, double lo, double hi, int lo_open, int required,
                   double *out)
{
    wl_kv *kv = wl__find(ps, key);
    if (kv == NULL) {
        if (!required)
            return 0;
        snprintf(ps->err, ps->errlen, "%s: missing %s=", ps->what, key);
        return -1;
    }
    char v[64];
    wl__copy(v, sizeof v, kv->val, kv->vlen);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (kv->vlen >= sizeof v || *end != '\0' || errno != 0 || !isfinite(x) || v[0] == ' ' ||
        strpbrk(v, "xX") != NULL || /* decimal only: strtod reads '0x4' as 4 */
        (lo_open ? x <= lo : x < lo) || x > hi) {
        snprintf(ps->err, ps->errlen, "%s: %s: '%s' is not a number in %s%g, %g]", ps->what, key, v,
                 lo_open ? "(" : "[", lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

/* As wl__num for an integer in LO..HI. */
static int wl__int(wl_params *ps, const char *key, double lo, double hi, int required,
                   uint64_t *out)
{
    wl_kv *kv = wl__find(ps, key);
    if (kv == NULL) {
        if (!required)
            return 0;
        snprintf(ps->err, ps->errlen, "%s: missing %s=", ps->what, key);
        return -1;
    }
    char v[64];
    wl__copy(v, sizeof v, kv->val, kv->vlen);
    int ok = kv->vlen < sizeof v && kv->vlen > 0;
    for (size_t i = 0; ok && v[i] != '\0'; i++)
        ok = v[i] >= '0' && v[i] <= '9';
    unsigned long long x = 0;
    if (ok) {
        errno = 0;
        x = strtoull(v, NULL, 10);
        ok = errno == 0 && (double)x >= lo && (double)x <= hi;
    }
    if (!ok) {
        snprintf(ps->err, ps->errlen, "%s: %s: '%s' is not an integer in [%.0f, %.0f]", ps->what,
                 key, v, lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

/* Fails on the first parameter no getter used, listing KNOWN. */
static int wl__no_extra(wl_params *ps, const char *known)
{
    for (size_t j = 0; j < ps->n; j++) {
        if (ps->kv[j].used)
            continue;
        char k[64];
        wl__copy(k, sizeof k, ps->kv[j].key, ps->kv[j].klen);
        snprintf(ps->err, ps->errlen, "%s: unknown key '%s' (known: %s)", ps->what, k, known);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ clauses */

/* Index of NAME[0..N) in NAMES[0..COUNT), or -1. */
static int wl__lookup(const char *const *names, size_t count, const char *p, size_t n)
{
    for (size_t i = 0; i < count; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
            return (int)i;
    }
    return -1;
}

/* Reads the keys of arrival process KIND from PS into *A. Returns 0 or -1. */
static int wl__process_keys(wl_params *ps, wl_arrival_kind kind, int rate_required, wl_arrival *a)
{
    double x;
    int rc;
    if (kind == WL_ARRIVAL_BATCH) {
        if ((rc = wl__num(ps, "at", 0, 1e12, 0, 0, &x)) < 0)
            return -1;
        if (rc > 0)
            a->at_s = x;
        return 0;
    }
    if ((rc = wl__num(ps, "rate", 0, 1e9, 1, rate_required, &x)) < 0)
        return -1;
    if (rc > 0)
        a->rate_per_s = x;
    if (kind == WL_ARRIVAL_GAMMA) {
        if ((rc = wl__num(ps, "cv", 0, 100, 1, rate_required, &x)) < 0)
            return -1;
        if (rc > 0)
            a->cv = x;
    }
    return 0;
}

/* Parses the process clause TEXT[0..N) ("gamma:rate=2,cv=3") into *A. */
static int wl__parse_process(const char *text, size_t n, wl_arrival *a, char *err, size_t errlen)
{
    const char *colon = memchr(text, ':', n);
    size_t nlen = colon != NULL ? (size_t)(colon - text) : n;
    int k = wl__lookup(wl__process_names, 4, text, nlen);
    char name[64];
    wl__copy(name, sizeof name, text, nlen);
    if (k < 0) {
        snprintf(err, errlen,
                 "arrival=%s: unknown arrival process (known: poisson, gamma, "
                 "constant, batch)",
                 name);
        return -1;
    }
    char what[96];
    snprintf(what, sizeof what, "arrival=%s", name);
    wl_params ps = {.what = what, .err = err, .errlen = errlen};
    if (colon != NULL && wl__split_params(&ps, colon + 1, n - nlen - 1) < 0)
        return -1;
    memset(a, 0, sizeof *a);
    a->kind = (wl_arrival_kind)k;
    a->cv = 1.0;
    if (wl__process_keys(&ps, a->kind, 1, a) < 0)
        return -1;
    static const char *const known[] = {"rate", "rate, cv", "rate", "at"};
    return wl__no_extra(&ps, known[k]);
}

/* Finds or loads the empirical table for PATH (shared with *OTHER when the same). */
static wl_table *wl__table_for(const char *path, trace_format fmt, uint64_t seed,
                               const wl_dist *other, char *err, size_t errlen)
{
    if (other != NULL && other->kind == WL_DIST_EMPIRICAL && other->table != NULL &&
        strcmp(other->table->path, path) == 0) {
        other->table->refs++;
        return other->table;
    }
    return wl_table_load(path, fmt, seed, err, errlen);
}

/*
 * Parses the distribution clause TEXT[0..N) of SIDE ("in" or "out") into
 * *D (column COLUMN for empirical draws; OTHER is the other side, whose
 * table is shared when it names the same file). Returns 0 or -1.
 */
static int wl__parse_dist(const char *side, const char *text, size_t n, int column,
                          const wl_dist *other, uint64_t seed, wl_dist *d, char *err, size_t errlen)
{
    const char *colon = memchr(text, ':', n);
    size_t nlen = colon != NULL ? (size_t)(colon - text) : n;
    char name[64];
    wl__copy(name, sizeof name, text, nlen);
    int k = wl__lookup(wl__dist_names, 6, text, nlen);
    if (k < 0) {
        snprintf(err, errlen,
                 "%s=%s: unknown length distribution (known: fixed, uniform, normal, lognormal, "
                 "zipf, empirical)",
                 side, name);
        return -1;
    }
    char what[96];
    snprintf(what, sizeof what, "%s=%s", side, name);
    memset(d, 0, sizeof *d);
    d->kind = (wl_dist_kind)k;
    d->min = 1;
    d->max = WL_LEN_MAX_DEFAULT;
    d->column = column;
    const char *ptext = colon != NULL ? colon + 1 : "";
    size_t plen = colon != NULL ? n - nlen - 1 : 0;
    wl_params ps = {.what = what, .err = err, .errlen = errlen};

    /* fixed:N, the one positional form. */
    if (d->kind == WL_DIST_FIXED && plen > 0 && memchr(ptext, '=', plen) == NULL) {
        char buf[80];
        snprintf(buf, sizeof buf, "value=%.*s", (int)(plen < 64 ? plen : 64), ptext);
        if (wl__split_params(&ps, buf, strlen(buf)) < 0)
            return -1;
        uint64_t v;
        if (wl__int(&ps, "value", 1, WL_LEN_MAX_LIMIT, 1, &v) < 0)
            return -1;
        d->min = d->max = (uint32_t)v;
        return 0;
    }
    if (plen == 0 && d->kind != WL_DIST_FIXED) {
        snprintf(err, errlen, "%s: parameters required (e.g. %s)", what,
                 d->kind == WL_DIST_UNIFORM     ? "uniform:min=1,max=512"
                 : d->kind == WL_DIST_NORMAL    ? "normal:mean=500,sd=100"
                 : d->kind == WL_DIST_LOGNORMAL ? "lognormal:mean=500,sigma=0.8"
                 : d->kind == WL_DIST_ZIPF      ? "zipf:s=1.2,max=4096"
                                                : "empirical:file=trace.csv.gz");
        return -1;
    }
    if (plen == 0) {
        snprintf(err, errlen, "%s: a length is required (e.g. fixed:128)", what);
        return -1;
    }
    if (wl__split_params(&ps, ptext, plen) < 0)
        return -1;

    uint64_t v;
    int rc;
    const char *known = "";
    switch (d->kind) {
    case WL_DIST_FIXED:
        if (wl__int(&ps, "value", 1, WL_LEN_MAX_LIMIT, 1, &v) < 0)
            return -1;
        d->min = d->max = (uint32_t)v;
        known = "value";
        break;
    case WL_DIST_UNIFORM:
    case WL_DIST_ZIPF:
    case WL_DIST_NORMAL:
    case WL_DIST_LOGNORMAL:
        if (d->kind == WL_DIST_UNIFORM) {
            known = "min, max";
            if (wl__int(&ps, "min", 1, WL_LEN_MAX_LIMIT, 1, &v) < 0)
                return -1;
            d->min = (uint32_t)v;
        } else {
            if ((rc = wl__int(&ps, "min", 1, WL_LEN_MAX_LIMIT, 0, &v)) < 0)
                return -1;
            if (rc > 0)
                d->min = (uint32_t)v;
        }
        if ((rc = wl__int(&ps, "max", 1, WL_LEN_MAX_LIMIT,
                          d->kind == WL_DIST_UNIFORM || d->kind == WL_DIST_ZIPF, &v)) < 0)
            return -1;
        if (rc > 0)
            d->max = (uint32_t)v;
        if (d->kind == WL_DIST_ZIPF) {
            known = "s, max, min";
            if (wl__num(&ps, "s", 0, 100, 1, 1, &d->s) < 0)
                return -1;
        } else if (d->kind == WL_DIST_NORMAL) {
            known = "mean, sd, min, max";
            if (wl__num(&ps, "mean", 0, WL_LEN_MAX_LIMIT, 1, 1, &d->mean) < 0 ||
                wl__num(&ps, "sd", 0, WL_LEN_MAX_LIMIT, 1, 1, &d->sd) < 0)
                return -1;
        } else if (d->kind == WL_DIST_LOGNORMAL) {
            known = "mean, sigma, min, max";
            if (wl__num(&ps, "mean", 0, WL_LEN_MAX_LIMIT, 1, 1, &d->mean) < 0 ||
                wl__num(&ps, "sigma", 0, 10, 1, 1, &d->sigma) < 0)
                return -1;
        }
        break;
    case WL_DIST_EMPIRICAL: {
        known = "file, format";
        wl_kv *f = wl__find(&ps, "file");
        if (f == NULL) {
            snprintf(err, errlen, "%s: missing file=", what);
            return -1;
        }
        char path[WL_VALUE_BYTES];
        if (f->vlen >= sizeof path) {
            snprintf(err, errlen, "%s: file: path too long", what);
            return -1;
        }
        wl__copy(path, sizeof path, f->val, f->vlen);
        trace_format fmt = TRACE_FORMAT_AUTO;
        wl_kv *fk = wl__find(&ps, "format");
        if (fk != NULL) {
            char fname[64];
            wl__copy(fname, sizeof fname, fk->val, fk->vlen);
            if (fk->vlen >= sizeof fname || trace_format_parse(fname, &fmt) != 0) {
                snprintf(err, errlen, "%s: format: unknown format '%s' (known: %s)", what, fname,
                         TRACE_FORMAT_NAMES);
                return -1;
            }
        }
        if (wl__no_extra(&ps, known) < 0)
            return -1;
        char terr[WL_ERR_BYTES];
        d->table = wl__table_for(path, fmt, seed, other, terr, sizeof terr);
        if (d->table == NULL) {
            snprintf(err, errlen, "%s", terr);
            return -2; /* a file error, not a spec error */
        }
        break;
    }
    }
    if (wl__no_extra(&ps, known) < 0)
        return -1;
    char reason[256];
    if (wl_dist_prepare(d, reason, sizeof reason) < 0) {
        snprintf(err, errlen, "%s: %s", what, reason);
        wl_table_release(d->table);
        d->table = NULL;
        return -1;
    }
    return 0;
}

/* Chat keys of the head into S->chat. */
static int wl__chat_keys(wl_params *ps, wl_chat *c)
{
    double x;
    uint64_t v;
    int rc;
    if ((rc = wl__num(ps, "turns", 1, 1000, 0, 0, &x)) < 0)
        return -1;
    if (rc > 0)
        c->turns_mean = x;
    if ((rc = wl__num(ps, "think", 0, 1e6, 0, 0, &x)) < 0)
        return -1;
    if (rc > 0)
        c->think_s = x;
    if ((rc = wl__int(ps, "sys", 0, 1 << 24, 0, &v)) < 0)
        return -1;
    if (rc > 0)
        c->sys_tokens = (uint32_t)v;
    if ((rc = wl__int(ps, "max_ctx", 1, 1 << 24, 0, &v)) < 0)
        return -1;
    if (rc > 0)
        c->max_ctx = (uint32_t)v;
    if (c->sys_tokens >= c->max_ctx) {
        snprintf(ps->err, ps->errlen, "%s: sys (%u) must be below max_ctx (%u)", ps->what,
                 c->sys_tokens, c->max_ctx);
        return -1;
    }
    return 0;
}

/* Parses the head clause TEXT[0..N) into *S. */
static int wl__parse_head(const char *text, size_t n, wl_spec *s, char *err, size_t errlen)
{
    const char *colon = memchr(text, ':', n);
    size_t nlen = colon != NULL ? (size_t)(colon - text) : n;
    wl__copy(s->name, sizeof s->name, text, nlen);
    char name[64];
    wl__copy(name, sizeof name, text, nlen);
    wl_params ps = {.what = name, .err = err, .errlen = errlen};
    if (colon != NULL && wl__split_params(&ps, colon + 1, n - nlen - 1) < 0)
        return -1;
    if (nlen == 0) {
        snprintf(err, errlen, "empty spec (e.g. sharegpt:n=1000,rate=2)");
        return -1;
    }
    const char *known;
    uint64_t v;
    int rc = wl__int(&ps, "n", 1, 1e12, 0, &v);
    if (rc < 0)
        return -1;
    s->requests = rc > 0 ? v : 1000;

    int k = wl__lookup(wl__process_names, 4, text, nlen);
    if (k >= 0) {
        s->arrival.kind = (wl_arrival_kind)k;
        s->arrival.cv = 1.0;
        if (wl__process_keys(&ps, s->arrival.kind, 1, &s->arrival) < 0)
            return -1;
        static const char *const keys[] = {"n, rate", "n, rate, cv", "n, rate", "n, at"};
        known = keys[k];
        s->is_process = 1; /* in= and out= are then required */
        return wl__no_extra(&ps, known);
    }
    const wl_preset *p = NULL;
    for (size_t i = 0; i < WL_NPRESETS; i++) {
        if (strlen(wl__presets[i].name) == nlen && memcmp(wl__presets[i].name, text, nlen) == 0)
            p = &wl__presets[i];
    }
    if (p == NULL) {
        snprintf(err, errlen,
                 "unknown workload '%s' (presets: sharegpt, alpaca, azure-conv, azure-code, chat; "
                 "arrival processes: poisson, gamma, constant, batch)",
                 name);
        return -1;
    }
    s->arrival = p->arrival;
    s->in = p->in;
    s->out = p->out;
    s->is_chat = p->is_chat;
    s->chat = wl__chat_defaults;
    double x;
    if ((rc = wl__num(&ps, "rate", 0, 1e9, 1, 0, &x)) < 0)
        return -1;
    if (rc > 0)
        s->arrival.rate_per_s = x;
    if ((rc = wl__num(&ps, "cv", 0, 100, 1, 0, &x)) < 0)
        return -1;
    if (rc > 0) {
        s->arrival.cv = x;
        s->arrival.kind = x == 1.0 ? WL_ARRIVAL_POISSON : WL_ARRIVAL_GAMMA;
    }
    known = "n, rate, cv";
    if (s->is_chat) {
        if (wl__chat_keys(&ps, &s->chat) < 0)
            return -1;
        known = "n, rate, cv, turns, think, sys, max_ctx";
    }
    if (wl__no_extra(&ps, known) < 0)
        return -1;
    char reason[256];
    if (wl_dist_prepare(&s->in, reason, sizeof reason) < 0 ||
        wl_dist_prepare(&s->out, reason, sizeof reason) < 0) {
        snprintf(err, errlen, "%s: %s", name, reason); /* presets are valid: a bug */
        return -1;
    }
    return 0;
}

int wl_spec_parse(const char *spec, uint64_t seed, wl_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (spec == NULL || spec[0] == '\0') {
        snprintf(err, errlen, "empty spec (e.g. sharegpt:n=1000,rate=2)");
        return -1;
    }
    size_t len = strlen(spec);
    const char *semi = memchr(spec, ';', len);
    size_t hlen = semi != NULL ? (size_t)(semi - spec) : len;
    if (wl__parse_head(spec, hlen, out, err, errlen) < 0)
        return -1;
    int have_in = 0, have_out = 0, have_arrival = 0;
    size_t i = semi != NULL ? hlen + 1 : len;
    int rc = 0;
    while (semi != NULL) {
        const char *c = spec + i;
        semi = memchr(c, ';', len - i);
        size_t n = semi != NULL ? (size_t)(semi - c) : len - i;
        char shown[64];
        wl__copy(shown, sizeof shown, c, n);
        if (n == 0) {
            snprintf(err, errlen, "empty clause (a stray ';')");
            rc = -1;
            break;
        }
        int *seen = NULL;
        if (n > 3 && memcmp(c, "in=", 3) == 0) {
            seen = &have_in;
        } else if (n > 4 && memcmp(c, "out=", 4) == 0) {
            seen = &have_out;
        } else if (n > 8 && memcmp(c, "arrival=", 8) == 0) {
            seen = &have_arrival;
        } else {
            snprintf(err, errlen,
                     "'%s': unknown clause (expected in=DIST, out=DIST or "
                     "arrival=PROCESS)",
                     shown);
            rc = -1;
            break;
        }
        if (*seen) {
            snprintf(err, errlen, "'%s': %s given twice", shown,
                     seen == &have_in    ? "in="
                     : seen == &have_out ? "out="
                                         : "arrival=");
            rc = -1;
            break;
        }
        *seen = 1;
        if (seen == &have_arrival && out->is_process) {
            snprintf(err, errlen,
                     "'%s': arrival= changes a preset's arrivals; the head '%s' already is an "
                     "arrival process",
                     shown, out->name);
            rc = -1;
            break;
        }
        if (seen == &have_in) {
            wl_table_release(out->in.table);
            out->in.table = NULL;
            rc = wl__parse_dist("in", c + 3, n - 3, 0, have_out ? &out->out : NULL, seed, &out->in,
                                err, errlen);
        } else if (seen == &have_out) {
            wl_table_release(out->out.table);
            out->out.table = NULL;
            rc = wl__parse_dist("out", c + 4, n - 4, 1, have_in ? &out->in : NULL, seed, &out->out,
                                err, errlen);
        } else {
            rc = wl__parse_process(c + 8, n - 8, &out->arrival, err, errlen);
        }
        if (rc < 0)
            break;
        i += n + 1;
    }
    if (rc == 0 && out->is_process && !have_in) {
        /* The example's parameters are ones this process takes: batch
         * has no rate, gamma needs a cv. */
        const char *ex = strcmp(out->name, "batch") == 0   ? "n=100"
                         : strcmp(out->name, "gamma") == 0 ? "rate=5,cv=2"
                                                           : "rate=5";
        snprintf(err, errlen,
                 "%s: an arrival process needs in=DIST and out=DIST (e.g. "
                 "%s:%s;in=lognormal:mean=500,sigma=0.8;out=fixed:200)",
                 out->name, out->name, ex);
        rc = -1;
    } else if (rc == 0 && out->is_process && !have_out) {
        snprintf(err, errlen, "%s: an arrival process needs out=DIST (e.g. out=fixed:200)",
                 out->name);
        rc = -1;
    }
    if (rc < 0) {
        wl_spec_release(out);
        return rc;
    }
    return 0;
}

void wl_spec_release(wl_spec *s)
{
    wl_table_release(s->in.table);
    wl_table_release(s->out.table);
    s->in.table = s->out.table = NULL;
}

void wl_spec_describe(const wl_spec *s, char *buf, size_t len)
{
    char arr[128], in[WL_VALUE_BYTES / 2], out[WL_VALUE_BYTES / 2], chat[160] = "";
    switch (s->arrival.kind) {
    case WL_ARRIVAL_GAMMA:
        snprintf(arr, sizeof arr, "gamma:rate=%.10g,cv=%.10g", s->arrival.rate_per_s,
                 s->arrival.cv);
        break;
    case WL_ARRIVAL_CONSTANT:
        snprintf(arr, sizeof arr, "constant:rate=%.10g", s->arrival.rate_per_s);
        break;
    case WL_ARRIVAL_BATCH:
        snprintf(arr, sizeof arr, "batch:at=%.10g", s->arrival.at_s);
        break;
    default:
        snprintf(arr, sizeof arr, "poisson:rate=%.10g", s->arrival.rate_per_s);
        break;
    }
    wl_dist_describe(&s->in, in, sizeof in);
    wl_dist_describe(&s->out, out, sizeof out);
    if (s->is_process) {
        /* "poisson:rate=5" + ",n=1000": the head takes the process's keys. */
        const char *colon = strchr(arr, ':');
        snprintf(buf, len, "%s:n=%llu,%s;in=%s;out=%s", s->name, (unsigned long long)s->requests,
                 colon != NULL ? colon + 1 : "", in, out);
        return;
    }
    if (s->is_chat)
        snprintf(chat, sizeof chat, ",turns=%.10g,think=%.10g,sys=%u,max_ctx=%u",
                 s->chat.turns_mean, s->chat.think_s, s->chat.sys_tokens, s->chat.max_ctx);
    snprintf(buf, len, "%s:n=%llu%s;arrival=%s;in=%s;out=%s", s->name,
             (unsigned long long)s->requests, chat, arr, in, out);
}
