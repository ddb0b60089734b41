/*
 * metrics.c: the observer that aggregates a run; see metrics.h.
 *
 * Memory is piecewise constant between reports: during a step it is the
 * step's `mem` (after the step's allocations); from a step's end to the
 * next step's start it is the step's `mem_after`; before the first step the
 * pool is free. The integral of each category over [0, makespan], divided
 * by makespan x pool, gives the time-weighted shares.
 */
#include "analysis/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *an_fmt_double(char buf[AN_NUM_LEN], double v)
{
    if (!isfinite(v)) {
        snprintf(buf, AN_NUM_LEN, "null");
        return buf;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, AN_NUM_LEN, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* Writes V in decimal at W; returns the end. Its digits counted first
 * (the integer log10 from the bit length, as in the bit-twiddling hacks'
 * IntegerLogBase10), then written in place from the right, two at a time
 * out of a table of the pairs 00 to 99. */
static char *put_u64(char *w, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    static const uint64_t pow10[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};
    const uint64_t v1 = v | 1;           /* the same digits (10^t is even from t = 1), 0's one */
    int bits = 64 - __builtin_clzll(v1); /* 1 to 64 */
    int t = (bits * 1233) >> 12;         /* log10(2^bits), rounded down: 0 to 19 */
    char *end = w + t - (v1 < pow10[t]) + 1, *q = end;
    while (v >= 100) {
        uint32_t r = (uint32_t)(v % 100);
        v /= 100;
        q -= 2;
        q[0] = pairs[2 * r];
        q[1] = pairs[2 * r + 1];
    }
    if (v >= 10) {
        q[-2] = pairs[2 * v];
        q[-1] = pairs[2 * v + 1];
    } else {
        q[-1] = (char)('0' + v);
    }
    return end;
}

char *an_put_fixed(char *w, double v, int digits)
{
    static const uint64_t pow10[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int biased = (int)((bits >> 52) & 0x7ff);
    /* |v| < 2^33 (8.6e9) and finite: v = m / 2^s with m < 2^53 and
     * s >= 20, so N = m 10^DIGITS < 2^83 and N / 2^s < 2^63. Else printf. */
    if (biased >= 1023 + 33 || digits < 1 || digits > 9) {
        int n = snprintf(w, AN_NUM_LEN, "%.*f", digits, v);
        return w + (n < AN_NUM_LEN ? n : AN_NUM_LEN - 1);
    }
    const uint64_t scale = pow10[digits];
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (biased > 0)
        m |= 1ULL << 52;
    int s = 1075 - (biased > 0 ? biased : 1);
    if (bits >> 63)
        *w++ = '-'; /* printf keeps the sign of -0 and of what rounds to 0 */
    /* N = hi 2^64 + lo, in two 64-bit words (C11 has no wider integer). */
    uint64_t lo0 = (m & 0xffffffffULL) * scale; /* < 2^62 */
    uint64_t hi0 = (m >> 32) * scale;           /* < 2^51 */
    uint64_t lo = lo0 + (hi0 << 32);
    uint64_t hi = (hi0 >> 32) + (lo < lo0);
    /* q = N / 2^s rounded half to even: the remainder against 2^(s-1). */
    uint64_t q = 0;
    if (s < 64) {
        q = (hi << (64 - s)) | (lo >> s);
        uint64_t rem = lo & ((1ULL << s) - 1), half = 1ULL << (s - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
    } else if (s == 64) {
        q = hi;
        if (lo > (1ULL << 63) || (lo == (1ULL << 63) && (q & 1)))
            q++;
    } else if (s < 84) { /* N < 2^83: from 2^84 on the quotient is 0, below half */
        int t = s - 64;  /* 1..19 */
        q = hi >> t;
        uint64_t rem_hi = hi & ((1ULL << t) - 1), half_hi = 1ULL << (t - 1);
        if (rem_hi > half_hi || (rem_hi == half_hi && (lo > 0 || (q & 1))))
            q++;
    }
    w = put_u64(w, q / scale);
    *w++ = '.';
    uint64_t frac = q % scale;
    for (int k = digits - 1; k >= 0; k--) {
        w[k] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return w + digits;
}

char *an_put_fixed9(char *w, double v)
{
    return an_put_fixed(w, v, 9);
}

/* Bytes of a pool as a double: through int64 (a pool is far below 2^63
 * bytes), one conversion instruction where uint64's takes a branch and a
 * few more, at every step; the same value. */
static inline double bytes_d(uint64_t v)
{
    return (double)(int64_t)v;
}

static void add_area(an_metrics *m, const kv_breakdown *b, double dt)
{
    if (dt <= 0)
        return;
    m->area[0] += bytes_d(b->token_states) * dt;
    m->area[1] += bytes_d(b->reservation) * dt;
    m->area[2] += bytes_d(b->internal_frag) * dt;
    m->area[3] += bytes_d(b->external_frag) * dt;
    m->area[4] += bytes_d(b->blocked_free) * dt;
    m->area[5] += bytes_d(b->free) * dt;
    m->ext_index_area += b->ext_frag_index * dt;
}

static uint64_t allocated(const kv_breakdown *b)
{
    return b->token_states + b->reservation + b->internal_frag;
}

static void ts_row(an_metrics *m, double t, const kv_breakdown *b, uint32_t running,
                   uint32_t waiting)
{
    if (m->ts_rows >= m->ts_max_rows) {
        m->ts_truncated = true;
        return;
    }
    m->ts_rows++;
    m->ts_last_s = t;
    double pool = (double)m->pool_bytes;
    /* The row in a buffer, integers by hand: printf's conversions were
     * most of a short run's cost of writing its time series. */
    char row[512], *w = row;
    if (t == floor(t) && fabs(t) < 1e15) { /* a whole second: %.15g prints its digits */
        if (t < 0)
            *w++ = '-';
        w = put_u64(w, (uint64_t)fabs(t));
    } else {
        char ts[AN_NUM_LEN];
        const char *f = an_fmt_double(ts, t);
        size_t len = strlen(f);
        memcpy(w, f, len);
        w += len;
    }
    const uint64_t cols[8] = {running,          waiting,          b->token_states, b->reservation,
                              b->internal_frag, b->external_frag, b->blocked_free, b->free};
    for (int k = 0; k < 8; k++) {
        *w++ = ',';
        w = put_u64(w, cols[k]);
    }
    *w++ = ',';
    w = an_put_fixed(w, pool > 0 ? 100.0 * (double)allocated(b) / pool : 0.0, 4); /* "%.4f" */
    const uint64_t tail[5] = {m->ts_steps, m->ts_tokens, m->ts_preempted, m->ts_prompt_tokens,
                              m->ts_output_tokens};
    for (int k = 0; k < 5; k++) {
        *w++ = ',';
        w = put_u64(w, tail[k]);
    }
    *w++ = '\n';
    int n = fwrite(row, 1, (size_t)(w - row), m->timeseries_csv) == (size_t)(w - row) ? 0 : -1;
    if (n < 0)
        m->io_error = 1;
    m->ts_steps = 0;
    m->ts_tokens = 0;
    m->ts_preempted = 0;
    m->ts_prompt_tokens = 0;
    m->ts_output_tokens = 0;
}

/* Time-series rows for [.., END), where the pool stays as B: one at the
 * first grid point in it, if any. The later grid points of the stretch
 * would repeat that row (same state, no step ended), so they are skipped:
 * the grid jumps to the first point at or after END (END itself if
 * rounding puts that point before it), in O(1) whatever the interval. */
static void ts_stretch(an_metrics *m, double end, const kv_breakdown *b, uint32_t running,
                       uint32_t waiting)
{
    if (m->timeseries_csv == NULL || !(m->next_ts_s < end))
        return;
    ts_row(m, m->next_ts_s, b, running, waiting);
    double next = ceil(end / m->ts_interval_s) * m->ts_interval_s;
    m->next_ts_s = next >= end ? next : end;
}

static void on_step(void *ctx, const sim_step_record *s)
{
    an_metrics *m = ctx;
    /* Time-series rows in the gap before the step, then during the step. */
    ts_stretch(m, s->start_s, &m->last_after, m->last_running_after, m->last_waiting_after);
    ts_stretch(m, s->end_s, &s->mem, s->running, s->waiting);
    m->ts_steps += !s->idle;
    m->ts_tokens += s->prefill_tokens + s->decode_seqs + s->spec_tokens;
    m->ts_preempted += s->preempted;
    m->ts_prompt_tokens += s->prefill_tokens;
    m->ts_output_tokens += s->output_tokens;
    if (!s->idle) {
        m->steps++;
        m->batch_seqs += (uint64_t)s->prefill_seqs + s->decode_seqs;
        m->batch_tokens += s->prefill_tokens + s->decode_seqs + s->spec_tokens;
        m->resident_seqs += s->running;
    }

    add_area(m, &m->last_after, s->start_s - m->last_end_s);
    double dur = s->end_s - s->start_s;
    add_area(m, &s->mem, dur);
    m->running_area += (double)s->running * dur;
    m->busy_s += dur;
    uint64_t alloc = allocated(&s->mem);
    if (alloc > m->peak_alloc_bytes) {
        m->peak_alloc_bytes = alloc;
        m->at_peak = s->mem;
        m->peak_time_s = s->start_s;
    }
    if (s->used_at_end_bytes > m->peak_used_bytes)
        m->peak_used_bytes = s->used_at_end_bytes;
    m->last_after = s->mem_after;
    m->last_end_s = s->end_s;
    m->last_running_after = s->running_after;
    m->last_waiting_after = s->waiting_after;
}

static void on_request(void *ctx, const sim_request_record *r)
{
    an_metrics *m = ctx;
    bool done = r->status == SIM_REQ_COMPLETED;
    double ttft = r->first_token_s >= 0 ? r->first_token_s - r->arrival_s : -1;
    double e2e = r->finish_s - r->arrival_s;
    double tpot = done && r->output_tokens > 1
                      ? (r->finish_s - r->first_token_s) / (double)(r->output_tokens - 1)
                      : -1;
    double queue = r->first_scheduled_s >= 0 ? r->first_scheduled_s - r->arrival_s : -1;
    double prefill = r->first_scheduled_s >= 0 && r->first_token_s >= 0
                         ? r->first_token_s - r->first_scheduled_s
                         : -1;
    if (done) {
        if (an_hist_add(&m->ttft, ttft) || an_hist_add(&m->e2e, e2e) ||
            (tpot >= 0 && an_hist_add(&m->tpot, tpot)) || an_samples_add(&m->ttft_s, ttft) ||
            an_samples_add(&m->e2el_s, e2e) || (tpot >= 0 && an_samples_add(&m->tpot_s, tpot)) ||
            (queue >= 0 && an_hist_add(&m->queue, queue)) ||
            (prefill >= 0 && an_hist_add(&m->prefill, prefill)))
            m->io_error = 1;
        /* vLLM's test: every given objective >= the request's value, TPOT 0
         * for a one-token output. */
        double tp = tpot >= 0 ? tpot : 0;
        if (m->goodput_set && (m->slo.ttft_s < 0 || ttft <= m->slo.ttft_s) &&
            (m->slo.tpot_s < 0 || tp <= m->slo.tpot_s) &&
            (m->slo.e2el_s < 0 || e2e <= m->slo.e2el_s))
            m->good++;
    }
    if (m->requests_csv == NULL)
        return;
    /* The row by hand (printf's "%.9f" was most of writing it; the same
     * characters, an_put_fixed9): id, line, arrival_s, first_token_s,
     * finish_s, input, output, output requested, ttft_s, tpot_s, e2e_s,
     * preemptions, status, reason, queue_s, prefill_s; empty cells for
     * what the request never had. */
    char row[512], *w = row;
    w = put_u64(w, r->id);
    *w++ = ',';
    w = put_u64(w, r->line);
    *w++ = ',';
    w = an_put_fixed9(w, r->arrival_s);
    *w++ = ',';
    if (r->first_token_s >= 0)
        w = an_put_fixed9(w, r->first_token_s);
    *w++ = ',';
    w = an_put_fixed9(w, r->finish_s);
    const uint64_t counts[3] = {r->input_tokens, r->output_tokens, r->output_requested};
    for (int k = 0; k < 3; k++) {
        *w++ = ',';
        w = put_u64(w, counts[k]);
    }
    *w++ = ',';
    if (ttft >= 0)
        w = an_put_fixed9(w, ttft);
    *w++ = ',';
    if (tpot >= 0)
        w = an_put_fixed9(w, tpot);
    *w++ = ',';
    w = an_put_fixed9(w, e2e);
    *w++ = ',';
    w = put_u64(w, r->preemptions);
    const char *status = done ? "completed" : "rejected";
    const char *reason = done ? "" : sim_reject_name(r->reason);
    w += snprintf(w, 96, ",%s,%s,", status, reason);
    if (queue >= 0)
        w = an_put_fixed9(w, queue);
    *w++ = ',';
    if (prefill >= 0)
        w = an_put_fixed9(w, prefill);
    *w++ = '\n';
    int n = fwrite(row, 1, (size_t)(w - row), m->requests_csv) == (size_t)(w - row) ? 0 : -1;
    if (n < 0)
        m->io_error = 1;
}

void an_metrics_init(an_metrics *m, FILE *requests, FILE *timeseries, double ts_interval_s)
{
    memset(m, 0, sizeof(*m));
    an_hist_init(&m->ttft);
    an_hist_init(&m->tpot);
    an_hist_init(&m->e2e);
    an_samples_init_capped(&m->ttft_s, AN_EXACT_MAX_SAMPLES);
    an_samples_init_capped(&m->tpot_s, AN_EXACT_MAX_SAMPLES);
    an_samples_init_capped(&m->e2el_s, AN_EXACT_MAX_SAMPLES);
    an_wsamples_init(&m->itl_exact, AN_ITL_MAX_PAIRS);
    an_hist_init(&m->queue);
    an_hist_init(&m->prefill);
    m->slo.ttft_s = m->slo.tpot_s = m->slo.e2el_s = -1;
    m->tok_bucket = -1;
    m->requests_csv = requests;
    m->timeseries_csv = timeseries;
    m->ts_interval_s = ts_interval_s > 0 ? ts_interval_s : 1.0;
    m->ts_max_rows = AN_TS_MAX_ROWS;
    m->ts_last_s = -1;
    if (requests != NULL)
        fprintf(requests, "id,line,arrival_s,first_token_s,finish_s,input_tokens,output_tokens,"
                          "output_requested,ttft_s,tpot_s,e2e_s,preemptions,status,reason,queue_s,"
                          "prefill_s\n");
    if (timeseries != NULL)
        fprintf(timeseries,
                "time_s,running,waiting,token_states_bytes,reservation_bytes,internal_frag_bytes,"
                "external_frag_bytes,blocked_free_bytes,free_bytes,allocated_pct,steps,tokens,"
                "preemptions,prompt_tokens,output_tokens\n");
}

static void on_start(void *ctx, const sim_memory_plan *plan)
{
    an_metrics *m = ctx;
    m->pool_bytes = plan->kv_pool_bytes;
    memset(&m->last_after, 0, sizeof(m->last_after));
    m->last_after.free = plan->kv_pool_bytes;
}

static void on_token_gaps(void *ctx, double now_s, double gap_s, uint64_t count)
{
    an_metrics *m = ctx;
    /* The second it falls in: truncation for the run's clock, never
     * negative (floor is a libm call on the baseline x86-64). */
    int64_t b = now_s >= 0 ? (int64_t)now_s : (int64_t)floor(now_s);
    if (b != m->tok_bucket) {
        m->tok_bucket = b;
        m->tok_in_bucket = 0;
    }
    m->tok_in_bucket += count;
    if (m->tok_in_bucket > m->max_tok_bucket)
        m->max_tok_bucket = m->tok_in_bucket;
    if (gap_s >= 0 && an_wsamples_add(&m->itl_exact, gap_s, count) != 0)
        m->io_error = 1;
}

/* sim_observer.on_steps: on_token_gaps and on_step for each merged step.
 * A step that follows the one before it in the call (its start that one's
 * end) and ends before the time series' next grid point takes the fast
 * way: on_step's statements with the sums in registers (its gap before
 * the step is 0, so no area; no row falls in it), the same operations on
 * the same values in the same order; any other step goes through
 * on_token_gaps and on_step with the sums written back first. */
static void on_steps(void *ctx, const sim_step_record *tmpl, const sim_step_var *v, size_t n,
                     uint64_t gap_count)
{
    an_metrics *m = ctx;
    sim_step_record rec = *tmpl;
    const uint64_t tokens = tmpl->prefill_tokens + tmpl->decode_seqs + tmpl->spec_tokens;
    const uint64_t seqs = (uint64_t)tmpl->prefill_seqs + tmpl->decode_seqs;
    const bool busy = !tmpl->idle;
    const double running = (double)tmpl->running;
    const bool ts = m->timeseries_csv != NULL;
    size_t i = 0;
    /* The first step may take the fast way too where it starts as the
     * last step observed ended (its gap before it is 0 as well). */
    bool slow = !(n > 0 && (double)v[0].start_ns / 1e9 == m->last_end_s);
    while (i < n) {
        /* The slow way: step I as the calls one by one would take it. */
        if (slow) {
            double start_s = (double)v[i].start_ns / 1e9, end_s = (double)v[i].end_ns / 1e9;
            if (gap_count > 0)
                on_token_gaps(m, end_s, (double)(v[i].end_ns - v[i].start_ns) / 1e9, gap_count);
            rec.start_s = start_s;
            rec.end_s = end_s;
            rec.mem = v[i].mem;
            rec.mem_after = v[i].mem;
            rec.mem_after.token_states = v[i].after_token_states;
            rec.mem_after.reservation = v[i].after_reservation;
            rec.used_at_end_bytes = v[i].used_at_end_bytes;
            on_step(m, &rec);
            i++;
        }
        slow = true;
        /* The fast way, while it applies. */
        double a0 = m->area[0], a1 = m->area[1], a2 = m->area[2], a3 = m->area[3], a4 = m->area[4],
               a5 = m->area[5], ext = m->ext_index_area;
        double run_area = m->running_area, busy_s = m->busy_s, next_ts = m->next_ts_s;
        uint64_t ts_steps = m->ts_steps, ts_tokens = m->ts_tokens, ts_pre = m->ts_preempted,
                 ts_prompt = m->ts_prompt_tokens, ts_out = m->ts_output_tokens;
        uint64_t steps = m->steps, bseqs = m->batch_seqs, btokens = m->batch_tokens,
                 resident = m->resident_seqs, peak_used = m->peak_used_bytes;
        int64_t bucket = m->tok_bucket;
        uint64_t in_bucket = m->tok_in_bucket, max_bucket = m->max_tok_bucket;
        int io = 0;
        size_t j = i;
        /* The step before J's end, in nanoseconds and seconds (a step
         * that starts there has that start, the same double). */
        int64_t prev_end_ns = j > 0 ? v[j - 1].end_ns : 0;
        double prev_end = j > 0 ? (double)prev_end_ns / 1e9 : 0;
        for (; j < n; j++) {
            const sim_step_var *s = &v[j];
            double end = (double)s->end_ns / 1e9;
            if ((j > 0 && s->start_ns != prev_end_ns) || (ts && next_ts < end))
                break;
            double start = j > 0 ? prev_end : (double)s->start_ns / 1e9;
            prev_end_ns = s->end_ns;
            prev_end = end;
            if (gap_count > 0) { /* on_token_gaps */
                int64_t b = end >= 0 ? (int64_t)end : (int64_t)floor(end);
                if (b != bucket) {
                    bucket = b;
                    in_bucket = 0;
                }
                in_bucket += gap_count;
                if (in_bucket > max_bucket)
                    max_bucket = in_bucket;
                int64_t gap_ns = s->end_ns - s->start_ns; /* (double)gap_ns / 1e9 >= 0 */
                if (gap_ns >= 0 && an_wsamples_add_ns_inline(&m->itl_exact, gap_ns, gap_count) != 0)
                    io = 1;
            }
            /* on_step: no row (NEXT_TS >= END >= START), the gap before
             * the step 0 (no area); its counts after the loop. */
            double dur = end - start;
            const kv_breakdown *b = &s->mem;
            if (dur > 0) { /* add_area */
                a0 += bytes_d(b->token_states) * dur;
                a1 += bytes_d(b->reservation) * dur;
                a2 += bytes_d(b->internal_frag) * dur;
                a3 += bytes_d(b->external_frag) * dur;
                a4 += bytes_d(b->blocked_free) * dur;
                a5 += bytes_d(b->free) * dur;
                ext += b->ext_frag_index * dur;
            }
            run_area += running * dur;
            busy_s += dur;
            uint64_t alloc = allocated(b);
            if (alloc > m->peak_alloc_bytes) {
                m->peak_alloc_bytes = alloc;
                m->at_peak = *b;
                m->peak_time_s = start;
            }
            if (s->used_at_end_bytes > peak_used)
                peak_used = s->used_at_end_bytes;
        }
        m->area[0] = a0;
        m->area[1] = a1;
        m->area[2] = a2;
        m->area[3] = a3;
        m->area[4] = a4;
        m->area[5] = a5;
        m->ext_index_area = ext;
        m->running_area = run_area;
        m->busy_s = busy_s;
        /* on_step's counts of the J - I fast steps, each the same. */
        uint64_t nf = j - i;
        ts_steps += busy * nf;
        ts_tokens += tokens * nf;
        ts_pre += tmpl->preempted * nf;
        ts_prompt += tmpl->prefill_tokens * nf;
        ts_out += tmpl->output_tokens * nf;
        if (busy) {
            steps += nf;
            bseqs += seqs * nf;
            btokens += tokens * nf;
            resident += tmpl->running * nf;
        }
        m->ts_steps = ts_steps;
        m->ts_tokens = ts_tokens;
        m->ts_preempted = ts_pre;
        m->ts_prompt_tokens = ts_prompt;
        m->ts_output_tokens = ts_out;
        m->steps = steps;
        m->batch_seqs = bseqs;
        m->batch_tokens = btokens;
        m->resident_seqs = resident;
        m->peak_used_bytes = peak_used;
        m->tok_bucket = bucket;
        m->tok_in_bucket = in_bucket;
        m->max_tok_bucket = max_bucket;
        if (io)
            m->io_error = 1;
        if (j > i) { /* the last fast step's end state (on_step's tail) */
            const sim_step_var *s = &v[j - 1];
            m->last_after = s->mem;
            m->last_after.token_states = s->after_token_states;
            m->last_after.reservation = s->after_reservation;
            m->last_end_s = (double)s->end_ns / 1e9;
            m->last_running_after = tmpl->running_after;
            m->last_waiting_after = tmpl->waiting_after;
        }
        i = j;
    }
}

sim_observer an_metrics_observer(an_metrics *m)
{
    sim_observer o = {m, on_start, on_step, on_request, on_token_gaps, on_steps};
    return o;
}

void an_metrics_set_slo(an_metrics *m, const an_slo *slo)
{
    m->slo = *slo;
    m->goodput_set = slo->ttft_s >= 0 || slo->tpot_s >= 0 || slo->e2el_s >= 0;
}

double an_metrics_goodput(const an_metrics *m, double makespan_s)
{
    if (!m->goodput_set)
        return NAN;
    return makespan_s > 0 ? (double)m->good / makespan_s : 0;
}

const char *an_latency_method_name(int method)
{
    switch (method) {
    case AN_METHOD_EXACT:
        return "exact";
    case AN_METHOD_HIST:
        return "histogram";
    default:
        return "log_histogram";
    }
}

static void from_samples(const an_samples *s, an_latency_stats *o)
{
    o->count = s->n;
    o->exact = an_samples_exact(s);
    o->method = o->exact ? AN_METHOD_EXACT : AN_METHOD_HIST;
    o->mean = an_samples_mean(s);
    o->std = an_samples_std(s);
    o->median = an_samples_median(s);
    o->p90 = an_samples_percentile(s, 90);
    o->p95 = an_samples_percentile(s, 95);
    o->p99 = an_samples_percentile(s, 99);
    o->p999 = an_samples_percentile(s, 99.9);
    o->max = an_samples_max(s);
}

static void from_wsamples(const an_wsamples *w, an_latency_stats *o)
{
    o->count = w->total;
    o->exact = !w->overflow;
    o->method = o->exact ? AN_METHOD_EXACT : AN_METHOD_HIST;
    o->mean = an_wsamples_mean(w);
    o->std = an_wsamples_std(w);
    o->median = an_wsamples_median(w);
    o->p90 = an_wsamples_percentile(w, 90);
    o->p95 = an_wsamples_percentile(w, 95);
    o->p99 = an_wsamples_percentile(w, 99);
    o->p999 = an_wsamples_percentile(w, 99.9);
    o->max = an_wsamples_max(w);
}

static void from_hist(const an_hist *h, an_latency_stats *o)
{
    o->count = h->n;
    o->exact = false;
    o->method = AN_METHOD_LOG_HIST;
    bool any = h->n > 0;
    o->mean = any ? an_hist_mean(h) : NAN;
    o->std = any ? an_hist_std(h) : NAN;
    o->median = any ? an_hist_percentile(h, 50) : NAN;
    o->p90 = any ? an_hist_percentile(h, 90) : NAN;
    o->p95 = any ? an_hist_percentile(h, 95) : NAN;
    o->p99 = any ? an_hist_percentile(h, 99) : NAN;
    o->p999 = any ? an_hist_percentile(h, 99.9) : NAN;
    o->max = any ? h->max : NAN;
}

void an_metrics_latency(const an_metrics *m, int kind, an_latency_stats *out)
{
    switch (kind) {
    case AN_LAT_TTFT:
        from_samples(&m->ttft_s, out);
        break;
    case AN_LAT_TPOT:
        from_samples(&m->tpot_s, out);
        break;
    case AN_LAT_E2EL:
        from_samples(&m->e2el_s, out);
        break;
    case AN_LAT_ITL:
        from_wsamples(&m->itl_exact, out);
        break;
    case AN_LAT_QUEUE:
        from_hist(&m->queue, out);
        break;
    default:
        from_hist(&m->prefill, out);
        break;
    }
}

void an_metrics_finish(an_metrics *m, double makespan_s)
{
    /* A row up to the end (inclusive), and one at the end itself, so the
     * series reaches the makespan (with the steps since the last row)
     * whether the run ends with a step, a rejection or an idle gap. */
    ts_stretch(m, nextafter(makespan_s, INFINITY), &m->last_after, m->last_running_after,
               m->last_waiting_after);
    if (m->timeseries_csv != NULL && (m->ts_steps > 0 || m->ts_last_s < makespan_s))
        ts_row(m, makespan_s, &m->last_after, m->last_running_after, m->last_waiting_after);
    add_area(m, &m->last_after, makespan_s - m->last_end_s);
    m->last_end_s = makespan_s;
    an_samples_sort(&m->ttft_s);
    an_samples_sort(&m->tpot_s);
    an_samples_sort(&m->e2el_s);
    if (an_wsamples_sort(&m->itl_exact) != 0)
        m->io_error = 1;
}

static void to_pct(const double v[6], double total, an_breakdown_pct *out)
{
    double k = total > 0 ? 100.0 / total : 0;
    out->token_states = v[0] * k;
    out->reservation = v[1] * k;
    out->internal_frag = v[2] * k;
    out->external_frag = v[3] * k;
    out->blocked_free = v[4] * k;
    out->free = v[5] * k;
}

void an_metrics_time_avg(const an_metrics *m, double makespan_s, an_breakdown_pct *out)
{
    double total = m->area[0] + m->area[1] + m->area[2] + m->area[3] + m->area[4] + m->area[5];
    (void)makespan_s;
    if (total <= 0) {
        double v[6] = {0, 0, 0, 0, 0, 1};
        to_pct(v, 1, out);
        return;
    }
    to_pct(m->area, total, out);
}

void an_metrics_at_peak(const an_metrics *m, an_breakdown_pct *out)
{
    const kv_breakdown *b = &m->at_peak;
    double v[6] = {(double)b->token_states,  (double)b->reservation,  (double)b->internal_frag,
                   (double)b->external_frag, (double)b->blocked_free, (double)b->free};
    double total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5];
    if (total <= 0) {
        double w[6] = {0, 0, 0, 0, 0, 1};
        to_pct(w, 1, out);
        return;
    }
    to_pct(v, total, out);
}

double an_metrics_ext_index(const an_metrics *m, double makespan_s)
{
    return makespan_s > 0 ? m->ext_index_area / makespan_s : 0;
}

double an_metrics_mean_running(const an_metrics *m)
{
    return m->busy_s > 0 ? m->running_area / m->busy_s : 0;
}

double an_metrics_mean_batch(const an_metrics *m)
{
    return m->steps > 0 ? (double)m->batch_seqs / (double)m->steps : 0;
}

double an_metrics_mean_resident_per_step(const an_metrics *m)
{
    return m->steps > 0 ? (double)m->resident_seqs / (double)m->steps : 0;
}

double an_metrics_mean_batch_tokens(const an_metrics *m)
{
    return m->steps > 0 ? (double)m->batch_tokens / (double)m->steps : 0;
}

void an_metrics_free(an_metrics *m)
{
    an_hist_free(&m->ttft);
    an_hist_free(&m->tpot);
    an_hist_free(&m->e2e);
    an_samples_free(&m->ttft_s);
    an_samples_free(&m->tpot_s);
    an_samples_free(&m->e2el_s);
    an_wsamples_free(&m->itl_exact);
    an_hist_free(&m->queue);
    an_hist_free(&m->prefill);
}
