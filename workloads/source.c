/*
 * source.c: the wl_source dispatch, trace-backed sources and the legacy
 * synthetic source (wl_open_synth); see source.h. Spec generators are in
 * gen.c, transforms in transform.c.
 *
 * A length table has no arrival times: its source draws Poisson arrivals
 * at the requested rate (exponential gaps from stream
 * WL_STREAM_TABLE_ARRIVALS, the first request at 0, times rounded to whole
 * nanoseconds so that written traces stay short and exact).
 *
 * Legacy synthetic lengths are lognormal with the requested mean: for
 * sigma s the underlying normal has mu = ln(mean) - s^2 / 2, so E[X] =
 * mean before the cap at max_tokens and the floor at 1.
 */
#define _POSIX_C_SOURCE 200809L

#include "workloads/source.h"
#include "workloads/rng.h"
#include "workloads/wl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ dispatch */

wl_source *wl__source_new(const wl_ops *ops, void *impl, int fields)
{
    wl_source *s = calloc(1, sizeof *s);
    char *desc = malloc(WL_DESC_BYTES);
    if (s == NULL || desc == NULL) {
        free(s);
        free(desc);
        ops->close(&(wl_source){.ops = ops, .impl = impl});
        return NULL;
    }
    desc[0] = '\0';
    s->ops = ops;
    s->impl = impl;
    s->desc = desc;
    s->fields = fields;
    return s;
}

/*
 * Every source, at every layer, holds arrivals to TRACE_MAX_SPAN_S after
 * its first: trace readers check their file's times, this catches the ones
 * a source makes (a length table's Poisson arrivals, a generator's, a
 * rate scale), so no command ever sees a later one. The message names the
 * file and line of the request, or the generated request's number.
 */
int wl_next(wl_source *s, trace_request *req)
{
    if (s->err[0] != '\0')
        return TRACE_EFORMAT;
    int rc = s->ops->next(s, req);
    if (rc != 1)
        return rc;
    if (!s->have_first) {
        s->first_arrival_s = req->arrival_s;
        s->have_first = 1;
    }
    if (!(req->arrival_s - s->first_arrival_s <= TRACE_MAX_SPAN_S)) {
        snprintf(s->err, WL_ERR_BYTES,
                 "%s%s%llu: arrival %.17g s is more than " TRACE_MAX_SPAN_TEXT
                 " s after the first request's (%.17g s)",
                 s->path != NULL ? s->path : "workload", s->path != NULL ? ":" : ": request ",
                 (unsigned long long)req->line, req->arrival_s, s->first_arrival_s);
        return TRACE_EFORMAT;
    }
    return 1;
}

const char *wl_errmsg(const wl_source *s)
{
    for (; s != NULL; s = s->inner) {
        if (s->err[0] != '\0')
            return s->err;
        if (s->ops->errmsg != NULL)
            return s->ops->errmsg(s);
    }
    return "";
}

const char *wl_describe(const wl_source *s)
{
    s->ops->describe(s);
    return s->desc;
}

const char *wl_get_path(const wl_source *s)
{
    return s->path;
}

int wl_has_arrivals(const wl_source *s)
{
    return !s->no_arrivals;
}

int wl_get_fields(const wl_source *s)
{
    return s->fields;
}

void wl_get_counts(const wl_source *s, trace_counts *out)
{
    s->ops->counts(s, out);
}

void wl_close(wl_source *s)
{
    if (s == NULL)
        return;
    wl_close(s->inner);
    s->ops->close(s);
    free(s->desc);
    free(s);
}

/* -------------------------------------------------------- trace source */

/* State of a trace-backed source. */
typedef struct wl_trace_src {
    trace_reader *reader;
    char *path;
    double rate_per_s; /* > 0: Poisson arrivals added to a length table */
    double burstiness; /* != 1: Gamma gaps of this shape, as vllm bench serve */
    wl_rng arrivals;
    double clock_s;
    int started;
} wl_trace_src;

static int wl__trace_next(wl_source *s, trace_request *req)
{
    wl_trace_src *t = s->impl;
    int rc = trace_next(t->reader, req);
    if (rc == 1 && isinf(t->rate_per_s)) { /* vllm bench serve's inf: all at once, at 0 */
        req->arrival_s = 0;
    } else if (rc == 1 && t->rate_per_s > 0) {
        if (t->started)
            t->clock_s +=
                t->burstiness > 0 && t->burstiness != 1
                    /* vLLM: gamma(shape=B, scale=1/(rate x B)), mean 1/rate */
                    ? wl_gamma(&t->arrivals, t->burstiness) / (t->burstiness * t->rate_per_s)
                    : wl_rng_exp(&t->arrivals, 1.0 / t->rate_per_s);
        t->started = 1;
        req->arrival_s = t->clock_s < 9.0e6 ? (double)llround(t->clock_s * 1e9) / 1e9 : t->clock_s;
    }
    return rc;
}

static void wl__trace_describe(const wl_source *s)
{
    const wl_trace_src *t = s->impl;
    trace_counts c;
    trace_get_counts(t->reader, &c);
    int n = snprintf(s->desc, WL_DESC_BYTES, "%s (%s", t->path,
                     trace_format_name(trace_get_format(t->reader)));
    if (n > 0 && n < WL_DESC_BYTES && isinf(t->rate_per_s))
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n, ", every request at 0: rate inf");
    else if (n > 0 && n < WL_DESC_BYTES && t->rate_per_s > 0 && t->burstiness > 0 &&
             t->burstiness != 1)
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n,
                      ", Gamma arrivals at %.6g req/s, burstiness %.6g", t->rate_per_s,
                      t->burstiness);
    else if (n > 0 && n < WL_DESC_BYTES && t->rate_per_s > 0)
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n, ", Poisson arrivals at %.6g req/s",
                      t->rate_per_s);
    if (n > 0 && n < WL_DESC_BYTES && c.failed_skipped > 0)
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n,
                      ", %llu failed requests (0 response tokens) skipped",
                      (unsigned long long)c.failed_skipped);
    if (n > 0 && n < WL_DESC_BYTES && c.filtered_out > 0)
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n, ", %llu rows of other models skipped",
                      (unsigned long long)c.filtered_out);
    if (n > 0 && n < WL_DESC_BYTES && c.trailing_garbage > 0)
        n += snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n,
                      ", %llu bytes of trailing garbage after the gzip data ignored",
                      (unsigned long long)c.trailing_garbage);
    if (n > 0 && n < WL_DESC_BYTES)
        snprintf(s->desc + n, WL_DESC_BYTES - (size_t)n, ")");
}

static void wl__trace_counts(const wl_source *s, trace_counts *out)
{
    const wl_trace_src *t = s->impl;
    trace_get_counts(t->reader, out);
}

static const char *wl__trace_errmsg(const wl_source *s)
{
    const wl_trace_src *t = s->impl;
    return trace_errmsg(t->reader);
}

static void wl__trace_close(wl_source *s)
{
    wl_trace_src *t = s->impl;
    if (t == NULL)
        return;
    trace_close(t->reader);
    free(t->path);
    free(t);
}

static const wl_ops wl__trace_ops = {wl__trace_next, wl__trace_describe, wl__trace_counts,
                                     wl__trace_errmsg, wl__trace_close};

int wl_open_trace(wl_source **out, const char *path, trace_format fmt, char *err, size_t errlen)
{
    wl_trace_opts o = {fmt, NULL, 0.0, 0, 0, 0.0};
    return wl_open_trace_ex(out, path, &o, err, errlen);
}

int wl_open_trace_ex(wl_source **out, const char *path, const wl_trace_opts *o, char *err,
                     size_t errlen)
{
    *out = NULL;
    /* +inf: every request at once (vllm bench serve's --request-rate inf). */
    if (!(o->rate_per_s >= 0) || (isinf(o->rate_per_s) && o->burstiness > 0)) {
        snprintf(err, errlen,
                 "%s: the arrival rate must be a number > 0, or inf (without "
                 "burstiness)",
                 path);
        return TRACE_EARG;
    }
    wl_trace_src *t = calloc(1, sizeof *t);
    if (t != NULL)
        t->path = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path); /* as trace.c names it */
    if (t == NULL || t->path == NULL) {
        free(t);
        snprintf(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    trace_open_opts to = {o->format, o->model_filter};
    int rc = trace_open_ex(&t->reader, path, &to, err, errlen);
    if (rc < 0) {
        free(t->path);
        free(t);
        return rc;
    }
    if (!trace_has_arrivals(t->reader) && !(o->rate_per_s > 0) && !o->allow_no_arrivals) {
        snprintf(err, errlen,
                 "%s: a length table has no arrival times: give a rate for Poisson arrivals "
                 "(--rate R), or draw from it in a workload (in=empirical:file=...)",
                 path);
        rc = TRACE_EARG;
    } else if (trace_has_arrivals(t->reader) && o->rate_per_s > 0) {
        snprintf(err, errlen,
                 "%s: this %s trace has arrival times; a rate applies to length tables only "
                 "(--rate-scale scales a trace's rate)",
                 path, trace_format_name(trace_get_format(t->reader)));
        rc = TRACE_EARG;
    }
    if (rc < 0) {
        trace_close(t->reader);
        free(t->path);
        free(t);
        return rc;
    }
    t->rate_per_s = o->rate_per_s;
    t->burstiness = o->burstiness;
    wl_rng_seed(&t->arrivals, o->seed, WL_STREAM_TABLE_ARRIVALS);
    wl_source *s = wl__source_new(&wl__trace_ops, t, trace_get_fields(t->reader));
    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    s->path = t->path;
    s->no_arrivals = !trace_has_arrivals(t->reader) && !(o->rate_per_s > 0);
    *out = s;
    return 0;
}

/* ---------------------------------------------------- legacy synthetic */

typedef struct wl_synth {
    wl_synth_params p;
    wl_rng arrivals;
    wl_rng lengths;
    uint64_t produced;
    double clock_s;
} wl_synth;

static uint32_t lognormal_tokens(wl_rng *r, double mean, double sigma, uint32_t cap)
{
    double mu = log(mean) - sigma * sigma / 2.0;
    double x = exp(mu + sigma * wl_rng_normal(r));
    if (!(x >= 1.0))
        return 1;
    if (x >= (double)cap)
        return cap;
    return (uint32_t)llround(x);
}

static int wl__synth_next(wl_source *s, trace_request *req)
{
    wl_synth *y = s->impl;
    if (y->produced >= y->p.requests)
        return 0;
    y->clock_s += wl_rng_exp(&y->arrivals, 1.0 / y->p.rate_per_s);
    memset(req, 0, sizeof(*req));
    req->index = y->produced;
    req->line = y->produced + 1;
    req->arrival_s = y->clock_s;
    req->input_tokens =
        lognormal_tokens(&y->lengths, y->p.input_mean, y->p.input_sigma, y->p.max_tokens);
    req->output_tokens =
        lognormal_tokens(&y->lengths, y->p.output_mean, y->p.output_sigma, y->p.max_tokens);
    y->produced++;
    return 1;
}

static void wl__synth_describe(const wl_source *s)
{
    const wl_synth *y = s->impl;
    const wl_synth_params *p = &y->p;
    snprintf(s->desc, WL_DESC_BYTES,
             "synthetic: %llu requests, Poisson %.3g req/s, lognormal in %.0f (sigma %.2g) out "
             "%.0f (sigma %.2g), seed %llu",
             (unsigned long long)p->requests, p->rate_per_s, p->input_mean, p->input_sigma,
             p->output_mean, p->output_sigma, (unsigned long long)p->seed);
}

static void wl__synth_counts(const wl_source *s, trace_counts *out)
{
    const wl_synth *y = s->impl;
    memset(out, 0, sizeof(*out));
    out->requests = y->produced;
}

static void wl__synth_close(wl_source *s)
{
    free(s->impl);
}

static const wl_ops wl__synth_ops = {wl__synth_next, wl__synth_describe, wl__synth_counts, NULL,
                                     wl__synth_close};

int wl_open_synth(wl_source **out, const wl_synth_params *p, char *err, size_t errlen)
{
    *out = NULL;
    if (!(p->rate_per_s > 0) || !(p->input_mean >= 1) || !(p->output_mean >= 1) ||
        !(p->input_sigma >= 0) || !(p->output_sigma >= 0) || p->max_tokens == 0) {
        snprintf(err, errlen, "synthetic workload: rate, means >= 1 and max_tokens required");
        return TRACE_EARG;
    }
    wl_synth *y = calloc(1, sizeof(*y));
    if (y == NULL) {
        snprintf(err, errlen, "out of memory");
        return TRACE_ENOMEM;
    }
    y->p = *p;
    wl_rng_seed(&y->arrivals, p->seed, 1);
    wl_rng_seed(&y->lengths, p->seed, 2);
    wl_source *s = wl__source_new(&wl__synth_ops, y, 0);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return TRACE_ENOMEM;
    }
    *out = s;
    return 0;
}
