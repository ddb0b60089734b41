/*
 * merge_carry.c: the pass's notes of the decodes a merged run leaves it,
 * carried from that run's growth classes (sim/merge.h, sim_merge_carry_*):
 * the growths the pass makes, the sums merge_bound takes, and
 * r->merge_next written only where merge_growths_init needs it.
 */
#include "sim/merge.h"

#include "sim/merge_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

_Static_assert((int)MERGE_CARRY_W == (int)MERGE_CAL_W, "a class per calendar bucket at most");

bool sim_merge_carry_ok(const sim_replica *r)
{
    return r->mc_valid && r->pool->v == r->mc_pool && r->mc_unit >= 2 &&
           r->mc_unit == r->pre_gu.tokens && r->mc_nfin <= 8 && r->cfg->n_samples == 1;
}

void sim_merge_carry_start(sim_replica *r, sim_merge_carry *c)
{
    c->unit = r->mc_unit;
    c->rot = r->mc_shift;
    c->nstop = c->xn2 = 0;
    c->xneed2 = 0;
    memset(c->stop_in, 0, c->unit * sizeof(c->stop_in[0]));
}

/* The old class (that run's) holding S, or UINT32_MAX: looked for in
 * class HINT first (where the state says it is), then in all. */
static uint32_t carry_class_of(const sim_replica *r, const kv_seq *s, uint32_t hint)
{
    const uint32_t unit = r->mc_unit, *off = r->mc_off;
    for (uint32_t j = off[hint]; hint < unit && j < off[hint + 1]; j++)
        if (r->merge_seqs[j] == s)
            return hint;
    for (uint32_t c = 0; c < unit; c++)
        for (uint32_t j = off[c]; j < off[c + 1]; j++)
            if (r->merge_seqs[j] == s)
                return c;
    return UINT32_MAX;
}

void sim_merge_carry_near_end(sim_replica *r, sim_merge_carry *c, uint32_t k, const sim_req *q,
                              uint32_t left)
{
    const kv_seq *s = &q->seq;
    /* Its first growth step once the pass has grown it (1: the pass's
     * growth, the next a unit on). */
    uint32_t first = s->cap_tokens - q->computed + 1;
    if (first == 1)
        first += c->unit;
    if (first <= left)
        return;
    if (c->nstop < 8)
        r->mc_stop[c->nstop] = k;
    c->nstop++;
    /* In the classes (its class first, by this run's numbering rotated
     * to that run's): it counts among them no more; otherwise, a growth
     * at step 2 counted here (the classes count their own). */
    uint32_t oc = carry_class_of(r, s, (first % c->unit + c->rot) % c->unit);
    if (oc != UINT32_MAX) {
        c->stop_in[oc]++;
    } else if (first == 2) {
        uint64_t nb = kv_grow_bytes(r->kv, s, q->computed + 2);
        c->xn2++;
        c->xneed2 = nb > UINT64_MAX - c->xneed2 ? UINT64_MAX : c->xneed2 + nb;
    }
}

/* Whether S is among the sequences the run's last step finished. */
static bool carry_finished(const sim_replica *r, const kv_seq *s)
{
    for (uint32_t j = 0; j < r->mc_nfin; j++)
        if (r->mc_fin[j] == s)
            return true;
    return false;
}

void sim_merge_carry_growths(sim_replica *r, kv_seq ***seqs, uint32_t *n)
{
    const uint32_t unit = r->mc_unit, c1 = (1 + r->mc_shift) % unit;
    kv_seq **from = r->merge_seqs + r->mc_off[c1];
    uint32_t m = r->mc_off[c1 + 1] - r->mc_off[c1];
    if (r->mc_nfin == 0) {
        *seqs = from;
        *n = m;
        return;
    }
    uint32_t kept = 0;
    for (uint32_t j = 0; j < m; j++)
        if (!carry_finished(r, from[j]))
            r->merge_tmp[kept++] = from[j];
    *seqs = r->merge_tmp;
    *n = kept;
}

void sim_merge_carry_end(sim_replica *r, const sim_merge_carry *c, uint32_t bound, uint32_t n)
{
    const uint32_t unit = c->unit, *off = r->mc_off;
    /* The old classes (that run's) of the requests its last step
     * finished, which count among their members no more. */
    uint32_t fin_cls[8];
    const uint32_t nfin = r->mc_nfin;
    for (uint32_t j = 0; j < nfin; j++)
        fin_cls[j] = carry_class_of(r, r->mc_fin[j], unit);
    /* Growths at step 2: class 2 (this run's numbering; 0 for a unit of
     * 2), its members kept, each a unit's bytes (kv_grow_uniform's). */
    uint32_t o2 = 2 % unit + c->rot;
    o2 = o2 >= unit ? o2 - unit : o2;
    uint32_t live2 = off[o2 + 1] - off[o2];
    for (uint32_t j = 0; j < nfin; j++)
        live2 -= fin_cls[j] == o2;
    const uint64_t n2 = (uint64_t)live2 + c->xn2;
    uint64_t need2 = (uint64_t)live2 * r->pre_gu.bytes;
    need2 = c->xneed2 > UINT64_MAX - need2 ? UINT64_MAX : need2 + c->xneed2;
    /* The least first growth of those growing: class C's is C, or U for
     * class 0, U + 1 for class 1 (each first is 2 to U + 1), so the
     * classes in the order 2 to U - 1, 0, 1, the first that holds one. */
    uint32_t first_min = UINT32_MAX;
    for (uint32_t i = 0; i < unit; i++) {
        uint32_t cn = i + 2 < unit ? i + 2 : i + 2 - unit, oc = cn + c->rot;
        oc = oc >= unit ? oc - unit : oc;
        uint32_t live = off[oc + 1] - off[oc];
        for (uint32_t j = 0; j < nfin; j++)
            live -= fin_cls[j] == oc;
        if (live > c->stop_in[oc]) {
            first_min = cn >= 2 ? cn : cn + unit;
            break;
        }
    }
    r->known_bound = bound;
    r->known_first_min = first_min;
    r->known_n2 = (uint32_t)n2;
    r->known_need2 = need2;
    r->known_growth = n;
    r->mc_nstop = c->nstop;
    r->pass_next_lazy = true;
}

void merge_fill_known_next(sim_replica *r)
{
    if (!r->pass_next_lazy)
        return;
    r->pass_next_lazy = false;
    for (uint32_t k = 0; k < r->pass_known; k++) {
        const sim_req *q = sim_rep_req(r, r->batch.req[k]);
        r->merge_next[k] = q->seq.cap_tokens - merge_base(q) + 1;
    }
}
