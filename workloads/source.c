/*
 * source.c: trace-backed and synthetic request sources; see source.h.
 *
 * Synthetic lengths are lognormal with the requested mean: for sigma s the
 * underlying normal has mu = ln(mean) - s^2 / 2, so E[X] = mean before the
 * cap at max_tokens and the floor at 1.
 */
#include "workloads/source.h"
#include "workloads/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wl_source {
    trace_reader *reader; /* NULL for synthetic */
    wl_synth_params synth;
    wl_rng arrivals;
    wl_rng lengths;
    uint64_t produced;
    double clock_s;
    char desc[300];
};

int wl_open_trace(wl_source **out, const char *path, trace_format fmt, char *err, size_t errlen)
{
    *out = NULL;
    wl_source *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    int rc = trace_open(&s->reader, path, fmt, err, errlen);
    if (rc < 0) {
        free(s);
        return rc;
    }
    snprintf(s->desc, sizeof(s->desc), "%s (%s)", path,
             trace_format_name(trace_get_format(s->reader)));
    *out = s;
    return 0;
}

int wl_open_synth(wl_source **out, const wl_synth_params *p, char *err, size_t errlen)
{
    *out = NULL;
    if (!(p->rate_per_s > 0) || !(p->input_mean >= 1) || !(p->output_mean >= 1) ||
        !(p->input_sigma >= 0) || !(p->output_sigma >= 0) || p->max_tokens == 0) {
        snprintf(err, errlen, "synthetic workload: rate, means >= 1 and max_tokens required");
        return TRACE_EARG;
    }
    wl_source *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return TRACE_ENOMEM;
    }
    s->synth = *p;
    wl_rng_seed(&s->arrivals, p->seed, 1);
    wl_rng_seed(&s->lengths, p->seed, 2);
    snprintf(s->desc, sizeof(s->desc),
             "synthetic: %llu requests, Poisson %.3g req/s, lognormal in %.0f (sigma %.2g) out "
             "%.0f (sigma %.2g), seed %llu",
             (unsigned long long)p->requests, p->rate_per_s, p->input_mean, p->input_sigma,
             p->output_mean, p->output_sigma, (unsigned long long)p->seed);
    *out = s;
    return 0;
}

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

int wl_next(wl_source *s, trace_request *req)
{
    if (s->reader != NULL)
        return trace_next(s->reader, req);
    if (s->produced >= s->synth.requests)
        return 0;
    s->clock_s += wl_rng_exp(&s->arrivals, 1.0 / s->synth.rate_per_s);
    memset(req, 0, sizeof(*req));
    req->index = s->produced;
    req->line = s->produced + 1;
    req->arrival_s = s->clock_s;
    req->input_tokens = lognormal_tokens(&s->lengths, s->synth.input_mean, s->synth.input_sigma,
                                         s->synth.max_tokens);
    req->output_tokens = lognormal_tokens(&s->lengths, s->synth.output_mean, s->synth.output_sigma,
                                          s->synth.max_tokens);
    s->produced++;
    return 1;
}

const char *wl_errmsg(const wl_source *s)
{
    return s->reader != NULL ? trace_errmsg(s->reader) : "";
}

const char *wl_describe(const wl_source *s)
{
    return s->desc;
}

void wl_get_counts(const wl_source *s, trace_counts *out)
{
    if (s->reader != NULL) {
        trace_get_counts(s->reader, out);
    } else {
        memset(out, 0, sizeof(*out));
        out->requests = s->produced;
    }
}

void wl_close(wl_source *s)
{
    if (s == NULL)
        return;
    trace_close(s->reader);
    free(s);
}
