/*
 * merge_grow.c: the growths of a merged run (sim/merge_int.h): which
 * sequences step K grows, whether the free space covers them, and making
 * them as the step loop's pass makes them, in its order.
 */
#include "sim/merge_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* True when taking NEED bytes leaves a free block per sample: vllm-v0's
 * check before each decode (sim_sched_v0_room), met by every merged step
 * whatever the scheduler; with NO_EVICT, when the free space outside the
 * prefix cache covers NEED as well. */
bool merge_decode_room(const sim_replica *r, uint64_t need, bool no_evict)
{
    kv_space sp;
    r->kv->ops->space(r->kv, &sp);
    uint64_t reserve = (uint64_t)r->cfg->n_samples * r->block_bytes;
    return need <= sp.free_bytes && sp.free_bytes - need >= reserve &&
           (!no_evict || need <= sp.free_bytes - sp.cached_bytes);
}

/* The growth calendar: batch entries by the step that next grows them,
 * in CAL_W buckets by step modulo CAL_W (a bucket also holds entries due
 * CAL_W or more steps later: each entry carries its step in
 * r->merge_next), each bucket's list in batch order (r->merge_link), so
 * that a step's growths are found in O(its bucket), not O(batch). */
#define CAL_W MERGE_CAL_W
#define CAL_NONE UINT32_MAX

/* Puts batch entry POS (due at r->merge_next[POS]) in its bucket, in
 * batch order. */
static void cal_put(sim_replica *r, uint32_t head[CAL_W], uint32_t pos)
{
    uint32_t *at = &head[r->merge_next[pos] & (CAL_W - 1)];
    while (*at != CAL_NONE && *at < pos)
        at = &r->merge_link[*at];
    r->merge_link[pos] = *at;
    *at = pos;
}

/* Takes the batch entries step STEP grows out of the calendar into
 * r->merge_grow (*NGROW of them, in the batch's order, the scheduler's)
 * and says whether the free space covers the growths (true without
 * any) and leaves a block per sample (vllm-v0's decode check, made before every decode of the
 * next steps), and with NO_EVICT whether they evict nothing. */
static bool take_growths(sim_replica *r, uint32_t head[CAL_W], uint32_t step, bool no_evict,
                         uint32_t *ngrow)
{
    uint64_t need = 0;
    *ngrow = 0;
    uint32_t *at = &head[step & (CAL_W - 1)];
    while (*at != CAL_NONE) {
        uint32_t pos = *at;
        if (r->merge_next[pos] != step) {
            at = &r->merge_link[pos];
            continue;
        }
        *at = r->merge_link[pos];
        const sim_req *q = sim_rep_req(r, r->batch.req[pos]);
        uint64_t b = kv_grow_bytes(r->kv, &q->seq, q->computed + step);
        need = b > UINT64_MAX - need ? UINT64_MAX : need + b;
        r->merge_grow[(*ngrow)++] = pos;
    }
    /* Without growths the free space is what the last check found. */
    return *ngrow == 0 || merge_decode_room(r, need, no_evict);
}

/* Uniform growths (kv_alloc_ops.grow_unit): when every growing entry of
 * the batch grows by the same unit of U tokens, at most U + 1 steps in
 * (its first growth) and then every U steps, with table room for all of
 * its growths in the run, step S grows exactly the entries whose first
 * growth is S modulo U: classes fixed for the run, each in batch order,
 * found in O(1) a step and grown in one call (no calendar, no per-growth
 * check of the unit's bytes). An entry's growths count up to BOUND, or
 * with LIFE up to its own last step (the run goes on past completions,
 * see through_ok in merge.c). Returns U and sets *UNIT, r->merge_seqs (the classes'
 * sequences, class by class) and OFF (class C is r->merge_seqs[OFF[C],
 * OFF[C + 1])); 0 when no entry grows; -1 where the growths are not
 * uniform (the calendar serves them). r->merge_link is scratch. */
static int uniform_classes(sim_replica *r, uint32_t bound, bool life, kv_grow_unit *out,
                           uint32_t off[CAL_W + 1])
{
    /* The growing entries, in batch order: their sequences, first growth
     * steps and the tokens their growths cover after the first. */
    kv_seq **seqs = r->merge_tmp;
    uint32_t *first_at = r->merge_link, *span = r->merge_grow, m = 0;
    /* The pass's decodes from the last run, when that run's life classes
     * held them (r->pass_known_unit): kv_grow_uniform accepted them for
     * their lives then, and a growth a unit every unit steps since keeps
     * what it tests (the capacity their blocks', the table's room for
     * the rest of their lives). Only the others are asked (MK on). */
    const uint32_t known =
        life && r->pass_known_unit && r->pass_known <= r->batch.n ? r->pass_known : 0;
    uint32_t mk = 0;
    for (uint32_t k = 0; k < r->batch.n; k++) {
        sim_req *q = sim_rep_req(r, r->batch.req[k]);
        /* merge_bound's first growth step, and the entry's last step. */
        uint32_t first = r->merge_next[k];
        uint32_t last = life ? q->output - q->generated : bound;
        if (first > last)
            continue;
        seqs[m] = &q->seq;
        first_at[m] = first;
        span[m++] = last - first;
        mk += k < known;
    }
    if (m == 0)
        return 0;
    kv_grow_unit unit = r->pre_gu;
    if ((m > mk && !kv_grow_uniform(r->kv, seqs + mk, span + mk, m - mk, &unit)) ||
        (mk > 0 && (unit.tokens != r->pre_gu.tokens || unit.bytes != r->pre_gu.bytes)) ||
        unit.tokens == 0 || unit.tokens > CAL_W)
        return -1;
#ifndef NDEBUG
    kv_grow_unit all;
    assert(kv_grow_uniform(r->kv, seqs, span, m, &all) && all.tokens == unit.tokens &&
           all.bytes == unit.bytes);
#endif
    /* Each entry's class, its first growth modulo U, in FIRST_AT (first
     * <= U + 1 <= 2U: a subtraction or two, no division). */
    uint32_t fill[CAL_W] = {0};
    for (uint32_t j = 0; j < m; j++) {
        uint32_t c = first_at[j];
        if (c > unit.tokens + 1)
            return -1; /* holds more than its next block */
        while (c >= unit.tokens)
            c -= unit.tokens;
        first_at[j] = c;
        fill[c]++;
    }
    off[0] = 0;
    for (uint32_t c = 0; c < unit.tokens; c++) {
        off[c + 1] = off[c] + fill[c];
        fill[c] = off[c];
    }
    for (uint32_t j = 0; j < m; j++)
        r->merge_seqs[fill[first_at[j]]++] = seqs[j];
    *out = unit;
    return (int)unit.tokens;
}

/* Takes S out of its growth class (it ended). */
static void class_remove(sim_replica *r, uint32_t unit, uint32_t off[CAL_W + 1], const kv_seq *s)
{
    for (uint32_t c = 0; c < unit; c++)
        for (uint32_t j = off[c]; j < off[c + 1]; j++) {
            if (r->merge_seqs[j] != s)
                continue;
            memmove(r->merge_seqs + j, r->merge_seqs + j + 1,
                    (off[unit] - j - 1) * sizeof(r->merge_seqs[0]));
            for (uint32_t d = c + 1; d <= unit; d++)
                off[d]--;
            return;
        }
}

/* Puts S at the end of class C (the last of the class in batch order). */
static void class_append(sim_replica *r, uint32_t unit, uint32_t off[CAL_W + 1], uint32_t c,
                         kv_seq *s)
{
    uint32_t at = off[c + 1];
    memmove(r->merge_seqs + at + 1, r->merge_seqs + at,
            (off[unit] - at) * sizeof(r->merge_seqs[0]));
    r->merge_seqs[at] = s;
    for (uint32_t d = c + 1; d <= unit; d++)
        off[d]++;
}

void merge_classes_keep(sim_replica *r, const merge_growths *g, uint32_t steps, uint32_t nfin)
{
    r->mc_valid = true;
    r->mc_unit = g->unit;
    r->mc_shift = (uint32_t)((g->rot + (uint64_t)steps) % g->unit);
    r->mc_nfin = nfin;
    r->mc_pool = r->pool->v;
    memcpy(r->mc_off, g->off, sizeof(r->mc_off));
}

/* uniform_classes(R, ., true, ...) from the last run's life classes, in
 * O(changes): where this run's batch starts with the pass's decodes from
 * that run (r->pass_known, that run's last batch but those its last step
 * finished, in order, r->pass_known_unit: they were in its life classes)
 * and the pool's array has not moved. Those classes less the finished
 * requests and the decodes that grow no more (merge_bound's r->mc_stop),
 * rotated by that run's steps (its class C is class C - steps modulo U
 * here: each decode moved that many tokens; kept in place, *ROT the
 * rotation: class C here is the stored class (C + *ROT) % U), then the
 * batch's other entries (admitted since, after them in batch order) each
 * at the end of its class, kv_grow_uniform asked of them only
 * (uniform_classes' known entries). Returns U, 0 where the classes cannot
 * be carried (the caller makes them), or -1 where uniform_classes would
 * return -1. */
static int carry_classes(sim_replica *r, kv_grow_unit *out, uint32_t off[CAL_W + 1],
                         uint32_t *rot_out)
{
    const uint32_t known = r->pass_known, unit = r->mc_unit;
    if (!r->pass_known_unit || known == 0 || known > r->batch.n || r->pool->v != r->mc_pool ||
        r->mc_nstop > 8 || unit != r->pre_gu.tokens)
        return 0;
    memcpy(off, r->mc_off, (unit + 1) * sizeof(off[0]));
    for (uint32_t j = 0; j < r->mc_nfin; j++)
        class_remove(r, unit, off, r->mc_fin[j]);
    for (uint32_t j = 0; j < r->mc_nstop; j++)
        class_remove(r, unit, off, &sim_rep_req(r, r->batch.req[r->mc_stop[j]])->seq);
    const uint32_t rot = r->mc_shift; /* class C' here is stored class (C' + ROT) mod U */
    *rot_out = rot;
    /* The entries admitted since: uniform_classes' statements for them. */
    kv_seq **seqs = r->merge_tmp;
    uint32_t *cls = r->merge_link, *span = r->merge_grow, m = 0;
    for (uint32_t k = known; k < r->batch.n; k++) {
        sim_req *q = sim_rep_req(r, r->batch.req[k]);
        uint32_t first = r->merge_next[k], last = q->output - q->generated;
        if (first > last)
            continue;
        seqs[m] = &q->seq;
        cls[m] = first;
        span[m++] = last - first;
    }
    kv_grow_unit u = r->pre_gu;
    if (m > 0 && (!kv_grow_uniform(r->kv, seqs, span, m, &u) || u.tokens != unit ||
                  u.bytes != r->pre_gu.bytes))
        return -1;
    for (uint32_t j = 0; j < m; j++) {
        uint32_t c = cls[j];
        if (c > unit + 1)
            return -1; /* holds more than its next block */
        c += rot;      /* its stored class: (C + ROT) mod U, C <= U + 1, ROT < U */
        while (c >= unit)
            c -= unit;
        class_append(r, unit, off, c, seqs[j]);
    }
    if (off[unit] == 0)
        return 0; /* none grows: uniform_classes returns 0 */
    *out = r->pre_gu;
    return (int)unit;
}

int merge_growth_rule(const sim_replica *r)
{
    if (r->kv->ops->grow_bytes == NULL)
        return MERGE_GROW_NONE;
    if (sim_rep_waiting(r) == 0 || !sim_rep_seq_room(r))
        return MERGE_GROW_ANY;
    if (!r->head_blocked)
        return MERGE_GROW_NONE;
    const sim_req *h = sim_rep_req(r, r->head_req);
    if (h->swapped || kv_cached_tokens(r->kv, &h->seq, sim_req_tokens(h)) == 0)
        return MERGE_GROW_ANY;
    return MERGE_GROW_NO_EVICT;
}

bool merge_growths_init(sim_replica *r, merge_growths *g, int rule, uint32_t bound, uint32_t next,
                        bool *through, uint32_t nprompt)
{
    g->rule = rule;
    g->next = next;
    g->rot = 0; /* uniform_classes' */
    int uc = -1;
    bool carry = r->mc_valid;
    r->mc_valid = false; /* carried by this run or never */
    if (*through && carry && (uc = carry_classes(r, &g->gu, g->off, &g->rot)) != 0) {
#ifndef NDEBUG
        merge_fill_known_next(r);
        /* What uniform_classes makes: its class C the stored class
         * (C + ROT) mod U (it leaves the carried ones in place). */
        uint32_t n = uc > 0 ? g->off[uc] : 0, off[CAL_W + 1];
        kv_seq **seqs = malloc(n * sizeof(*seqs) + 1);
        assert(seqs != NULL);
        memcpy(seqs, r->merge_seqs, n * sizeof(*seqs));
        memcpy(off, g->off, sizeof(off));
        kv_grow_unit gu = g->gu;
        int fresh = uniform_classes(r, bound, true, &g->gu, g->off);
        assert(fresh == uc);
        if (uc > 0) {
            assert(gu.tokens == g->gu.tokens && gu.bytes == g->gu.bytes);
            for (uint32_t c = 0; c < (uint32_t)uc; c++) {
                uint32_t sc = (c + g->rot) % (uint32_t)uc;
                assert(off[sc + 1] - off[sc] == g->off[c + 1] - g->off[c]);
                assert(memcmp(seqs + off[sc], r->merge_seqs + g->off[c],
                              (g->off[c + 1] - g->off[c]) * sizeof(*seqs)) == 0);
            }
        }
        /* The carried classes back in place. */
        memcpy(r->merge_seqs, seqs, n * sizeof(*seqs));
        memcpy(g->off, off, sizeof(off));
        free(seqs);
#endif
        if (uc < 0)
            *through = false;
    } else if (*through) {
        merge_fill_known_next(r);
        g->rot = 0;
        if ((uc = uniform_classes(r, bound, true, &g->gu, g->off)) < 0)
            *through = false;
    }
    if (!*through && next != UINT32_MAX && !r->cfg->check) {
        merge_fill_known_next(r);
        g->rot = 0;
        uc = uniform_classes(r, bound, false, &g->gu, g->off);
    }
    g->unit = uc > 0 ? (uint32_t)uc : 0;
    /* The loop looks at step 2 first: the class before it, step 1's. */
    g->cls = g->unit != 0 ? (1 + g->rot) % g->unit : 1;
    if (g->unit == 0 && next != UINT32_MAX)
        merge_fill_known_next(r); /* the calendar's */
    for (int w = 0; w < CAL_W; w++)
        g->head[w] = CAL_NONE;
    if (nprompt > 0 && g->unit == 0 && next != UINT32_MAX)
        return false; /* the calendar's growths go by computed tokens: decodes only */
    for (uint32_t pos = 0; g->unit == 0 && next != UINT32_MAX && pos < r->batch.n; pos++)
        if (r->merge_next[pos] <= bound) /* merge_bound's, past the bound: none */
            cal_put(r, g->head, pos);
    return true;
}

bool merge_growths_due(sim_replica *r, merge_growths *g, uint32_t k, bool ends, bool go,
                       uint32_t *ngrow)
{
    *ngrow = 0;
    if (g->unit != 0) {
        g->cls = g->cls + 1 >= g->unit ? 0 : g->cls + 1; /* (k + 1) % unit; unit 1: 0 */
        uint32_t c = g->cls;
        *ngrow = g->off[c + 1] - g->off[c];
        for (uint32_t j = g->off[c]; ends && j < g->off[c + 1]; j++)
            *ngrow -= merge_last_step(merge_seq_req(r->merge_seqs[j])) == k; /* ended, not grown */
        if (go && *ngrow > 0)
            go = merge_decode_room(r, *ngrow * g->gu.bytes, g->rule == MERGE_GROW_NO_EVICT);
    } else if (go && g->next != UINT32_MAX) {
        go = take_growths(r, g->head, k + 1, g->rule == MERGE_GROW_NO_EVICT, ngrow);
    }
    return go;
}

int merge_growths_apply(sim_replica *r, merge_growths *g, uint32_t k, uint32_t ngrow,
                        uint32_t bound)
{
    if (g->unit != 0) {
        if (ngrow > 0) /* used tokens are set at the run's end */
            kv_grow_units(r->kv, r->merge_seqs + g->off[g->cls], ngrow, &g->gu);
        return 0;
    }
    for (uint32_t n = 0; n < ngrow; n++) {
        uint32_t pos = r->merge_grow[n], i = r->batch.req[pos];
        sim_req *q = sim_rep_req(r, i);
        kv_set_used(r->kv, &q->seq, q->computed + k);
        int rc = sim_rep_grow(r, i, q->computed + k + 1);
        if (rc < 0)
            return -1;
        assert(rc == KV_OK); /* kv_grow_bytes' promise */
        uint32_t again = q->seq.cap_tokens - q->computed + 1;
        r->merge_next[pos] = again <= bound ? again : UINT32_MAX;
        if (again <= bound)
            cal_put(r, g->head, pos);
    }
    return 0;
}

void merge_growths_end(sim_replica *r, merge_growths *g, const kv_seq *s, uint64_t hint)
{
    if (g->unit == 0)
        return;
    /* The hinted class first: the same entry taken out (a sequence is in
     * one class at most), without the walk of the classes before it. */
    const uint32_t c = (uint32_t)((hint % g->unit + g->rot) % g->unit);
    for (uint32_t j = g->off[c]; j < g->off[c + 1]; j++)
        if (r->merge_seqs[j] == s) {
            memmove(r->merge_seqs + j, r->merge_seqs + j + 1,
                    (g->off[g->unit] - j - 1) * sizeof(r->merge_seqs[0]));
            for (uint32_t d = c + 1; d <= g->unit; d++)
                g->off[d]--;
            return;
        }
    class_remove(r, g->unit, g->off, s);
}
