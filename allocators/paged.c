/*
 * paged.c: vLLM's PagedAttention block manager (Kwon et al., SOSP 2023),
 * with optional automatic prefix caching.
 *
 * The pool is cut into num_blocks blocks of `block` tokens for all layers
 * (block_bytes = block x bytes_per_token); the pool's tail beyond the last
 * whole block is not managed. Each sequence owns a block table; empty
 * blocks sit on a LIFO stack. Admission keeps a watermark of free blocks
 * (int(watermark x num_blocks), as vLLM v0's BlockSpaceManager); growth
 * during decode ignores it and needs a block only when the last one is full
 * (block manager v2's exact check; v1 asked for a free block per running
 * sequence). Any free block serves any request: the largest free extent is
 * all free space.
 *
 * Prefix caching (prefix=on), as vLLM's automatic prefix caching: a full
 * block is identified by a hash chain over the sequence's content up to
 * and including it. Content is known through the trace's hash_ids (blocks
 * of hash_block tokens, 512 in Mooncake traces; equal ids = equal
 * content); tokens no id describes (beyond the prompt, or without ids) are
 * unique to their request (the keys and the lookup are in paged_prefix.c,
 * the table from keys to blocks and the LRU list of cached blocks in
 * paged_int.h; this file decides when blocks are shared, keyed, cached and
 * reused). At admission the longest prefix of full blocks whose KV is
 * already computed (allocated before this step) is shared, by reference
 * count, and its prefill is skipped; at least the last block is
 * computed again, as vLLM does when the whole prompt hits. When a block's
 * last holder releases it, a block with a key stays cached (counted as
 * free, reused on demand in LRU order) and keeps serving hits. Blocks the
 * trace's hash ids describe get their key at admission; a preempted
 * sequence's other full blocks get keys at release, so its recomputation
 * finds them (nothing else could hit them).
 *
 * Invariants (paged_check): every block is empty (on the stack), cached
 * (in the LRU list, no holder), or held (reference count >= 1); every key
 * in the table names a block carrying it; shared blocks are counted in
 * totals.dup_* once per extra holder.
 *
 * Parameters: block=N (default 16), prefix=on|off (off), hash_block=N
 * (tokens per trace hash id, default 512).
 */
#include "allocators/paged_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t blocks_for(const paged *p, uint64_t tokens)
{
    return (tokens + p->block_tokens - 1) / p->block_tokens;
}

/* Blocks S holds with TOKENS tokens per sample and SB shared blocks. */
static uint64_t total_blocks(const paged *p, const kv_seq *s, uint64_t tokens, uint64_t sb)
{
    return sb + kv__paged_samples(s) * (blocks_for(p, tokens) - sb);
}

/* An empty block, evicting the least recently used cached one if needed.
 * The caller checked that one is available. */
static uint32_t take_block(kv_alloc *a, paged *p)
{
    if (p->num_free > 0)
        return p->free_stack[--p->num_free];
    uint32_t b = p->lru_head;
    kv__paged_lru_remove(p, b);
    kv__paged_ht_del(p, p->key[b]);
    p->key[b] = 0;
    a->prefix.evictions++;
    return b;
}

/* ---------------------------------------------------------------- ops */

static void paged_fini(kv_alloc *a)
{
    paged *p = a->priv;
    free(p->free_stack);
    free(p->ref);
    free(p->key);
    free(p->born);
    free(p->lru_prev);
    free(p->lru_next);
    free(p->ht_key);
    free(p->ht_val);

    free(p);
}

static int parse_u64(const char *val, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    if (val[0] < '0' || val[0] > '9')
        return -1;
    unsigned long long v = strtoull(val, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int paged_init(kv_alloc *a, const char *params, char *err, size_t errlen)
{
    uint64_t block = 16, hash_block = 512;
    bool prefix = false;
    char key[32], val[64];
    const char *cur = params;
    int rc;
    while ((rc = kv_param_next(&cur, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "block") == 0) {
            if (parse_u64(val, 1, 65536, &block) != 0) {
                snprintf(err, errlen, "--allocator paged: block='%s' must be 1..65536 tokens", val);
                return KV_EARG;
            }
        } else if (strcmp(key, "hash_block") == 0) {
            if (parse_u64(val, 1, 1u << 20, &hash_block) != 0) {
                snprintf(err, errlen,
                         "--allocator paged: hash_block='%s' must be 1..1048576 tokens", val);
                return KV_EARG;
            }
        } else if (strcmp(key, "prefix") == 0) {
            static const char *const onoff[] = {"off", "on", NULL};
            int k = kv_param_choice("paged", key, val, onoff, err, errlen);
            if (k < 0)
                return KV_EARG;
            prefix = k == 1;
        } else {
            snprintf(err, errlen,
                     "--allocator paged: unknown parameter '%s' (known: block, prefix, "
                     "hash_block)",
                     key);
            return KV_EARG;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "--allocator paged: malformed parameters '%s' (want key=value,...)",
                 params);
        return KV_EARG;
    }
    if (a->cfg.bytes_per_token > UINT64_MAX / block) {
        snprintf(err, errlen, "--allocator paged: a block of %llu tokens overflows",
                 (unsigned long long)block);
        return KV_EARG;
    }
    uint64_t block_bytes = block * a->cfg.bytes_per_token;
    uint64_t n = a->cfg.num_blocks ? a->cfg.num_blocks : a->cfg.pool_bytes / block_bytes;
    if (a->cfg.num_blocks && (n > UINT32_MAX / 4 || n > UINT64_MAX / block_bytes)) {
        snprintf(err, errlen, "--num-blocks %llu: the paged allocator holds at most %u blocks",
                 (unsigned long long)n, UINT32_MAX / 4);
        return KV_EARG;
    }
    if (n == 0 || n > UINT32_MAX / 4) {
        snprintf(err, errlen,
                 "--allocator paged: a KV pool of %llu bytes holds %llu blocks of %llu bytes "
                 "(%llu tokens); need 1..%u blocks",
                 (unsigned long long)a->cfg.pool_bytes, (unsigned long long)n,
                 (unsigned long long)block_bytes, (unsigned long long)block, UINT32_MAX / 4);
        return KV_EARG;
    }
    paged *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return KV_ENOMEM;
    a->priv = p;
    p->block_tokens = (uint32_t)block;
    p->block_bytes = block_bytes;
    p->num_blocks = (uint32_t)n;
    p->watermark_blocks = (uint32_t)(a->cfg.watermark * (double)n); /* vLLM: int(), rounds down */
    p->free_stack = malloc(n * sizeof(uint32_t));
    if (p->free_stack == NULL)
        goto oom;
    /* Block 0 on top, so allocation order is 0, 1, 2, ... from a fresh pool. */
    for (uint32_t i = 0; i < p->num_blocks; i++)
        p->free_stack[i] = p->num_blocks - 1 - i;
    p->num_free = p->num_blocks;
    if (prefix) {
        p->prefix = true;
        a->grow_prompt_chunks = true;
        p->hash_block_tokens = (uint32_t)hash_block;
        uint64_t cap = 16;
        while (cap < 2 * n)
            cap *= 2;
        p->ht_mask = cap - 1;
        p->ref = calloc(n, sizeof(uint32_t));
        p->key = calloc(n, sizeof(uint64_t));
        p->born = calloc(n, sizeof(uint64_t));
        p->lru_prev = malloc(n * sizeof(uint32_t));
        p->lru_next = malloc(n * sizeof(uint32_t));
        p->ht_key = calloc(cap, sizeof(uint64_t));
        p->ht_val = malloc(cap * sizeof(uint32_t));
        if (!p->ref || !p->key || !p->born || !p->lru_prev || !p->lru_next || !p->ht_key ||
            !p->ht_val)
            goto oom;
        p->lru_head = p->lru_tail = PAGED_NIL;
        a->prefix.enabled = true;
    }
    a->pool_bytes = (uint64_t)p->num_blocks * p->block_bytes;
    return 0;
oom:
    snprintf(err, errlen, "out of memory for %llu blocks", (unsigned long long)n);
    paged_fini(a);
    return KV_ENOMEM;
}

/* Leading blocks S shares among its samples to have TOKENS tokens: what
 * it holds shared, or (not live) what admission would share. */
static uint64_t held_shared_blocks(const paged *p, const kv_seq *s, uint32_t tokens)
{
    return s->live ? s->shared_tokens / p->block_tokens : kv__paged_shared_blocks(p, s, tokens);
}

/* Blocks S needs in all (*NEED) and beyond what it holds or finds in the
 * cache (returned) to have TOKENS tokens. */
static uint64_t extra_blocks(const kv_alloc *a, const kv_seq *s, uint32_t tokens, uint64_t *need)
{
    paged *p = a->priv;
    uint64_t sb = held_shared_blocks(p, s, tokens);
    *need = total_blocks(p, s, tokens, sb);
    uint64_t have = s->live ? s->num_blocks : 0;
    uint64_t extra = *need > have ? *need - have : 0;
    if (p->prefix && !s->live && extra > 0) {
        /* Hits on held blocks need no new block; hits on cached ones leave
         * the cached pool as new blocks would. */
        /* Without room for the key memo, count no hits (grow will say
         * KV_ENOMEM): refusing here could stall an empty pool forever. */
        if (kv__paged_may_hit(s) &&
            kv__paged_compute_keys(p, s, tokens / p->block_tokens) == KV_OK) {
            uint64_t idle, hits = kv__paged_prefix_hits(a, p, s, tokens, &idle);
            extra -= hits - idle;
        }
    }
    return extra;
}

/* As vLLM v0: never if even an empty pool would dip below the watermark
 * (the blocks extra_blocks counts in all: no lookups). */
static bool paged_never_fits(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const paged *p = a->priv;
    uint64_t sb = held_shared_blocks(p, s, tokens);
    return total_blocks(p, s, tokens, sb) + p->watermark_blocks > p->num_blocks;
}

static int paged_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const paged *p = a->priv;
    if (paged_never_fits(a, s, tokens))
        return KV_NEVER;
    uint64_t need, extra = extra_blocks(a, s, tokens, &need);
    uint64_t avail = (uint64_t)p->num_free + p->num_cached;
    return avail >= extra + p->watermark_blocks ? KV_OK : KV_NOSPACE;
}

static uint32_t paged_cached(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    paged *p = a->priv;
    if (!p->prefix || !kv__paged_may_hit(s) ||
        kv__paged_compute_keys(p, s, tokens / p->block_tokens) != KV_OK)
        return 0;
    uint64_t idle;
    return (uint32_t)(kv__paged_prefix_hits(a, p, s, tokens, &idle) * p->block_tokens);
}

/* Any free blocks serve: the extra blocks and the watermark, in bytes. */
static uint64_t paged_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const paged *p = a->priv;
    uint64_t need, extra = extra_blocks(a, s, tokens, &need);
    return (extra + p->watermark_blocks) * p->block_bytes;
}

static int table_room(kv_seq *s, uint64_t need)
{
    if (need <= s->blocks_cap)
        return KV_OK;
    /* Host memory for the table: grows geometrically and is kept across
     * reuses of S, so steady state does no allocation. */
    uint64_t cap = s->blocks_cap ? s->blocks_cap : 8;
    while (cap < need)
        cap *= 2;
    uint32_t *nb = realloc(s->blocks, cap * sizeof(uint32_t));
    if (nb == NULL)
        return KV_ENOMEM;
    s->blocks = nb;
    s->blocks_cap = (uint32_t)cap;
    return KV_OK;
}

/* Growth of a live S to TOKENS with prefix caching (the next prompt chunk
 * under chunked prefill): blocks of the prompt its ids describe that this
 * chunk fills get their key now, marked computed only after this step.
 * Nothing to do for a sequence without hash ids (callers skip the call:
 * it was 3 % of a decode-heavy run's instructions). */
static int keyed_chunk(kv_alloc *a, paged *p, kv_seq *s, uint64_t sb, uint32_t tokens)
{
    /* From the block holding the last computed token: a chunk that ended
     * on a block boundary filled it without a growth. */
    uint64_t from = s->used_tokens ? (s->used_tokens - 1) / p->block_tokens : 0;
    uint64_t to = tokens / p->block_tokens;
    if (to > kv__paged_covered_blocks(p, s))
        to = kv__paged_covered_blocks(p, s);
    if (kv__paged_samples(s) > 1 && to > sb)
        to = sb; /* positions past the shared blocks are per sample */
    if (from >= to)
        return KV_OK;
    if (kv__paged_compute_keys(p, s, to) != KV_OK)
        return KV_ENOMEM;
    for (uint64_t b = from; b < to; b++) {
        uint32_t blk = s->blocks[b];
        if (p->key[blk] == 0 && p->ref[blk] == 1 && kv__paged_ht_find(p, s->keys[b]) == PAGED_NIL) {
            p->key[blk] = s->keys[b];
            kv__paged_ht_put(p, p->key[blk], blk, a->epoch);
            p->born[blk] = a->epoch;
        }
    }
    return KV_OK;
}

/* A block for a live sequence's growth (one is free or cached: the
 * caller checked): with prefix caching held once and born this epoch. */
static inline uint32_t growth_block(kv_alloc *a, paged *p)
{
    if (!p->prefix)
        return p->free_stack[--p->num_free];
    uint32_t blk = take_block(a, p);
    p->ref[blk] = 1;
    p->born[blk] = a->epoch;
    return blk;
}

/* True when growing S to TOKENS takes exactly its next block and nothing
 * else: a live single sequence without hash ids (nothing to key) whose
 * table has room, TOKENS past its capacity by at most a block. Most
 * growths of a decode-heavy run (a decode crossing a block boundary);
 * what paged_grow's general path does for them, without the divisions. */
static inline bool one_more_block(const paged *p, const kv_seq *s, uint32_t tokens)
{
    return s->live && s->samples <= 1 && s->hash_ids == NULL && tokens > s->cap_tokens &&
           tokens - s->cap_tokens <= p->block_tokens && s->num_blocks < s->blocks_cap &&
           (uint64_t)s->num_blocks * p->block_tokens == s->cap_tokens;
}

static int paged_grow(kv_alloc *a, kv_seq *s, uint32_t tokens)
{
    paged *p = a->priv;
    if (one_more_block(p, s, tokens)) {
        if ((uint64_t)p->num_free + p->num_cached == 0)
            return KV_NOSPACE;
        s->blocks[s->num_blocks++] = growth_block(a, p);
        s->cap_tokens += p->block_tokens;
        s->alloc_bytes += p->block_bytes;
        return KV_OK;
    }
    uint64_t sb = held_shared_blocks(p, s, tokens);
    uint64_t need = total_blocks(p, s, tokens, sb);
    uint32_t have = s->live ? s->num_blocks : 0;
    if (!s->live)
        s->cached_tokens = 0;
    if (need <= have) {
        /* cap_tokens already covers TOKENS; a prompt chunk may still fill
         * blocks it holds, which get their keys now, as with growth. */
        if (p->prefix && s->live && s->hash_ids != NULL &&
            keyed_chunk(a, p, s, sb, tokens) != KV_OK)
            return KV_ENOMEM;
        return KV_OK;
    }
    /* At admission, table room for the sequence's whole life (its final
     * length, known: kv_set_final), as the table's doubling would reach
     * it: the uniform growths of merged runs (paged_grow_unit) ask for
     * room for every growth to come. Host memory only. */
    uint64_t room = need;
    if (!s->live && kv__paged_samples(s) <= 1) {
        uint64_t life = (uint64_t)s->final_tokens / p->block_tokens + 2;
        room = life > need ? life : need;
    }
    if (table_room(s, room) != KV_OK)
        return KV_ENOMEM;
    uint64_t hits = 0, idle = 0;
    if (p->prefix && !s->live) {
        uint64_t full = tokens / p->block_tokens;
        if (kv__paged_may_hit(s)) {
            if (kv__paged_compute_keys(p, s, full) != KV_OK)
                return KV_ENOMEM;
            hits = kv__paged_prefix_hits(a, p, s, tokens, &idle);
        }
        uint64_t shareable =
            kv__paged_covered_blocks(p, s) < full ? kv__paged_covered_blocks(p, s) : full;
        if (need - hits > (uint64_t)p->num_free + p->num_cached - idle)
            return KV_NOSPACE;
        /* Share the hits first, so evictions below cannot take them. */
        for (uint64_t b = 0; b < hits; b++) {
            uint32_t blk = kv__paged_ht_find(p, s->keys[b]);
            if (p->ref[blk] == 0) {
                kv__paged_lru_remove(p, blk);
            } else {
                a->totals.dup_tokens += p->block_tokens;
                a->totals.dup_bytes += p->block_bytes;
            }
            p->ref[blk]++;
            s->blocks[b] = blk;
        }
        /* Fresh blocks; full ones get their key now unless a computed copy
         * or a same-step twin already carries it. */
        for (uint64_t b = hits; b < need; b++) {
            uint32_t blk = take_block(a, p);
            p->ref[blk] = 1;
            p->born[blk] = a->epoch;
            /* With samples, table positions past the shared blocks are not
             * sequence positions: only shared blocks get keys. */
            if (b < shareable && (kv__paged_samples(s) == 1 || b < sb) &&
                kv__paged_ht_find(p, s->keys[b]) == PAGED_NIL) {
                p->key[blk] = s->keys[b];
                kv__paged_ht_put(p, p->key[blk], blk, a->epoch);
            }
            s->blocks[b] = blk;
        }
        s->cached_tokens = (uint32_t)(hits * p->block_tokens);
        if (!s->recompute) {
            /* A first admission looks up the whole prompt's full blocks,
             * even when it computes only a chunk of it now. */
            a->prefix.lookup_tokens +=
                (uint64_t)s->prompt_tokens / p->block_tokens * p->block_tokens;
            a->prefix.hit_tokens += hits * p->block_tokens;
        } else {
            a->prefix.recompute_hit_tokens += hits * p->block_tokens;
        }
    } else {
        uint64_t extra = need - have;
        if (extra > (uint64_t)p->num_free + p->num_cached)
            return KV_NOSPACE;
        for (uint64_t i = 0; i < extra; i++) {
            s->blocks[have + i] = growth_block(a, p);
        }
        if (p->prefix && s->hash_ids != NULL && keyed_chunk(a, p, s, sb, tokens) != KV_OK)
            return KV_ENOMEM; /* the blocks stay S's: its table is consistent */
    }
    s->num_blocks = (uint32_t)need;
    s->shared_tokens = (uint32_t)(sb * p->block_tokens);
    s->cap_tokens = (uint32_t)(blocks_for(p, tokens) * p->block_tokens);
    s->alloc_bytes = need * p->block_bytes;
    return KV_OK;
}

/* paged_grow's growth of a live S: a block, empty or cached, for each it lacks. */
static uint64_t paged_grow_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    const paged *p = a->priv;
    if (one_more_block(p, s, tokens))
        return p->block_bytes;
    uint64_t need;
    return extra_blocks(a, s, tokens, &need) * p->block_bytes;
}

/* paged_grow's one_more_block case, known to hold for every growth of a
 * sequence while its table has room. */
static bool paged_grow_unit(const kv_alloc *a, kv_seq *const *seqs, const uint32_t *span,
                            uint32_t n, kv_grow_unit *unit)
{
    const paged *p = a->priv;
    const uint32_t bt = p->block_tokens;
    for (uint32_t k = 0; k < n; k++) {
        const kv_seq *s = seqs[k];
        if (!(s->live && s->samples <= 1 && s->hash_ids == NULL &&
              (uint64_t)s->num_blocks * bt == s->cap_tokens &&
              span[k] < (uint64_t)(s->blocks_cap - s->num_blocks) * bt)) /* span / bt < room */
            return false;
    }
    unit->tokens = bt;
    unit->bytes = p->block_bytes;
    return true;
}

/* kv_grow's useful slots of one more block of BT tokens on a sequence of
 * CAP tokens' capacity and FIN final ones: min(cap + bt, fin) less
 * min(cap, fin) (the whole block below the final length, most growths). */
static inline uint32_t block_useful(uint32_t cap, uint32_t fin, uint32_t bt)
{
    return cap + bt <= fin ? bt : fin - (cap < fin ? cap : fin);
}

static void paged_stack(paged *p, kv_grow_stack *st)
{
    st->stack = p->free_stack;
    st->num_free = &p->num_free;
    st->ref = p->ref;
    st->born = p->born;
    st->unit_tokens = p->block_tokens;
    st->unit_bytes = p->block_bytes;
    st->prefix = p->prefix;
}

/* kv_alloc_ops.grow_stack: the free stack (kv_grow_from_stack is
 * paged_grow_units' case where it holds a block for each growth). */
static bool paged_grow_stack(kv_alloc *a, kv_grow_stack *st)
{
    paged_stack(a->priv, st);
    return true;
}

/* paged_grow_units' loop where the free stack holds a block for each
 * sequence: the stack's top n blocks in pop order, no test of the stack's
 * depth, and the prefix table's fields written or not by the caller's
 * constant. */
static inline __attribute__((always_inline)) uint64_t
grow_from_stack(paged *p, kv_seq *const *seqs, uint32_t n, bool prefix, uint64_t epoch)
{
#ifndef NDEBUG
    for (uint32_t k = 0; k < n; k++)
        assert(one_more_block(p, seqs[k], seqs[k]->cap_tokens + 1));
#endif
    kv_grow_stack st;
    paged_stack(p, &st);
    return kv_grow_from_stack(&st, seqs, n, prefix, epoch);
}

static uint64_t grow_units_evicting(kv_alloc *a, kv_seq *const *seqs, uint32_t n);

static uint64_t paged_grow_units(kv_alloc *a, kv_seq *const *seqs, uint32_t n)
{
    paged *p = a->priv;
    if (p->num_free >= n) /* most calls: the same blocks, popped in the same order */
        return p->prefix ? grow_from_stack(p, seqs, n, true, a->epoch)
                         : grow_from_stack(p, seqs, n, false, a->epoch);
    return grow_units_evicting(a, seqs, n);
}

/* paged_grow_units where the free stack runs out (the growths evict
 * cached blocks): apart, so the common case's frame is light. */
static __attribute__((noinline)) uint64_t grow_units_evicting(kv_alloc *a, kv_seq *const *seqs,
                                                              uint32_t n)
{
    paged *p = a->priv;
    /* growth_block for each, its free-stack case with the pool's fields
     * in registers (stores to the tables could alias them otherwise). */
    const uint32_t bt = p->block_tokens;
    const uint64_t bb = p->block_bytes, epoch = a->epoch;
    const uint32_t *const stack = p->free_stack;
    uint32_t *const ref = p->ref;
    uint64_t *const born = p->born;
    const bool prefix = p->prefix;
    uint32_t nfree = p->num_free;
    uint64_t useful = 0;
    for (uint32_t k = 0; k < n; k++) {
        kv_seq *s = seqs[k];
        assert(one_more_block(p, s, s->cap_tokens + 1));
        uint32_t blk;
        if (nfree > 0) {
            blk = stack[--nfree];
            if (prefix) {
                ref[blk] = 1;
                born[blk] = epoch;
            }
        } else {
            p->num_free = nfree;
            blk = growth_block(a, p); /* evicts a cached block */
            nfree = p->num_free;
        }
        s->blocks[s->num_blocks++] = blk;
        /* kv_grow's useful slots: min(cap, final) (a single sequence);
         * the whole block below the final length (most growths). */
        uint32_t cap = s->cap_tokens;
        useful += block_useful(cap, s->final_tokens, bt);
        s->cap_tokens = cap + bt;
        s->alloc_bytes += bb;
    }
    p->num_free = nfree;
    return useful;
}

static void paged_release(kv_alloc *a, kv_seq *s)
{
    paged *p = a->priv;
    if (p->prefix) {
        /* Full blocks the sequence computed get their key (if no block
         * carries it yet), so they can serve hits once cached. */
        uint64_t full = s->used_tokens / p->block_tokens;
        if (full > s->num_blocks)
            full = s->num_blocks;
        /* Blocks the trace's hash ids do not describe are unique to the
         * request: only its own recomputation could hit them, so they get
         * keys only when it will be recomputed (shareable ones got theirs
         * at admission). */
        if (!s->recompute)
            full = 0;
        else
            s->unique_keyed = true;
        if (kv__paged_samples(s) > 1 && full > s->shared_tokens / p->block_tokens)
            full = s->shared_tokens / p->block_tokens; /* positions past it are per sample */
        bool keyed = kv__paged_compute_keys(p, s, full) == KV_OK;
        if (!keyed || full == 0) {
            /* The loop below when it keys nothing (a sequence without
             * hash ids that will not be recomputed: most), the pool's
             * fields in registers (stores to the tables could alias
             * them otherwise): the same blocks to the same places. */
            const uint32_t *const blocks = s->blocks;
            uint32_t *const ref = p->ref, *const stack = p->free_stack;
            const uint64_t *const key = p->key;
            uint32_t nfree = p->num_free;
            uint64_t dup = 0;
            if (p->num_keyed == 0 && a->totals.dup_tokens == 0) {
                /* No block carries a key and none has a second holder
                 * (dup_tokens counts the holders past each block's
                 * first): every block goes from one holder to none, onto
                 * the stack, as the loop below would take it. */
                const uint32_t *b = blocks + s->num_blocks;
                uint32_t *to = stack + nfree;
                for (; b - blocks >= 4; b -= 4, to += 4) { /* four at a time, last first */
                    uint32_t b3 = b[-1], b2 = b[-2], b1 = b[-3], b0 = b[-4];
                    ref[b3] = 0;
                    to[0] = b3;
                    ref[b2] = 0;
                    to[1] = b2;
                    ref[b1] = 0;
                    to[2] = b1;
                    ref[b0] = 0;
                    to[3] = b0;
                }
                while (b != blocks) {
                    uint32_t blk = *--b;
                    ref[blk] = 0;
                    *to++ = blk;
                }
                p->num_free = nfree + s->num_blocks;
                goto released;
            }
            /* Four blocks an iteration (the Azure replays' releases). */
#pragma GCC unroll 4
            for (uint32_t i = s->num_blocks; i-- > 0;) {
                uint32_t blk = blocks[i];
                if (--ref[blk] > 0)
                    dup++;
                else if (key[blk] != 0)
                    kv__paged_lru_push(p, blk);
                else
                    stack[nfree++] = blk;
            }
            p->num_free = nfree;
            a->totals.dup_tokens -= dup * p->block_tokens;
            a->totals.dup_bytes -= dup * p->block_bytes;
            full = 0;
        }
        for (uint32_t i = full > 0 ? s->num_blocks : 0; i-- > 0;) {
            uint32_t blk = s->blocks[i];
            if (keyed && i < full && p->key[blk] == 0 &&
                kv__paged_ht_find(p, s->keys[i]) == PAGED_NIL) {
                p->key[blk] = s->keys[i];
                kv__paged_ht_put(p, p->key[blk], blk, a->epoch);
            }
            if (--p->ref[blk] > 0) {
                a->totals.dup_tokens -= p->block_tokens;
                a->totals.dup_bytes -= p->block_bytes;
            } else if (p->key[blk] != 0) {
                kv__paged_lru_push(p, blk);
            } else {
                p->free_stack[p->num_free++] = blk;
            }
        }

    } else {
        /* Push in reverse so the sequence's first block is reused first. */
        for (uint32_t i = s->num_blocks; i-- > 0;)
            p->free_stack[p->num_free++] = s->blocks[i];
    }
released:
    s->num_blocks = 0;
    s->cap_tokens = 0;
    s->alloc_bytes = 0;
}

static void paged_space(const kv_alloc *a, kv_space *out)
{
    const paged *p = a->priv;
    out->free_bytes = ((uint64_t)p->num_free + p->num_cached) * p->block_bytes;
    out->largest_free_bytes = out->free_bytes;
    out->cached_bytes = (uint64_t)p->num_cached * p->block_bytes;
}

static int paged_check(const kv_alloc *a, char *err, size_t errlen)
{
    const paged *p = a->priv;
    uint64_t held = kv_allocated_bytes(a) / p->block_bytes;
    if (held * p->block_bytes != kv_allocated_bytes(a) ||
        held + p->num_free + p->num_cached != p->num_blocks) {
        snprintf(err, errlen, "paged: %u empty + %u cached + %llu held != %u blocks", p->num_free,
                 p->num_cached, (unsigned long long)held, p->num_blocks);
        return -1;
    }
    /* Every empty id is in range and appears once. O(num_blocks): tests only. */
    uint8_t *seen = calloc(p->num_blocks, 1);
    if (seen == NULL) {
        snprintf(err, errlen, "paged: out of memory in check");
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < p->num_free && rc == 0; i++) {
        uint32_t b = p->free_stack[i];
        if (b >= p->num_blocks || seen[b] || (p->prefix && (p->ref[b] || p->key[b]))) {
            snprintf(err, errlen, "paged: empty block %u out of range, listed twice, or in use", b);
            rc = -1;
        } else {
            seen[b] = 1;
        }
    }
    if (p->prefix && rc == 0) {
        uint64_t cached = 0, held_blocks = 0, dup = 0, keyed = 0;
        for (uint32_t b = p->lru_head; b != PAGED_NIL && rc == 0; b = p->lru_next[b], cached++)
            if (seen[b] || p->ref[b] || !p->key[b] || cached > p->num_blocks) {
                snprintf(err, errlen, "paged: cached block %u is empty, held or unkeyed", b);
                rc = -1;
            } else {
                seen[b] = 2;
            }
        for (uint32_t b = 0; b < p->num_blocks && rc == 0; b++) {
            if (p->ref[b]) {
                held_blocks++;
                dup += p->ref[b] - 1;
            }
            keyed += p->key[b] != 0;
            if (p->key[b] && kv__paged_ht_find(p, p->key[b]) != b) {
                snprintf(err, errlen, "paged: block %u's key is not in the table", b);
                rc = -1;
            }
        }
        if (rc == 0 && keyed != p->num_keyed) {
            snprintf(err, errlen, "paged: %llu blocks keyed, %u counted", (unsigned long long)keyed,
                     p->num_keyed);
            rc = -1;
        }
        if (rc == 0 && (cached != p->num_cached || held_blocks != held ||
                        dup * p->block_tokens != a->totals.dup_tokens)) {
            snprintf(err, errlen,
                     "paged: LRU holds %llu (counted %u), %llu held (accounted %llu), %llu "
                     "extra holders (accounted %llu tokens)",
                     (unsigned long long)cached, p->num_cached, (unsigned long long)held_blocks,
                     (unsigned long long)held, (unsigned long long)dup,
                     (unsigned long long)a->totals.dup_tokens);
            rc = -1;
        }
    }
    free(seen);
    return rc;
}

const kv_alloc_ops kv_paged_ops = {
    .name = "paged",
    .help = "vLLM PagedAttention blocks: block=16, prefix=off|on, hash_block=512",
    .init = paged_init,
    .fini = paged_fini,
    .can_admit = paged_can_admit,
    .need_bytes = paged_need_bytes,
    .grow = paged_grow,
    .never_fits = paged_never_fits,
    .grow_bytes = paged_grow_bytes,
    .grow_unit = paged_grow_unit,
    .grow_units = paged_grow_units,
    .grow_stack = paged_grow_stack,
    .release = paged_release,
    .space = paged_space,
    .cached = paged_cached,
    .check = paged_check,
};
