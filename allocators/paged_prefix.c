/*
 * paged_prefix.c: the prefix cache's content keys and its lookup, for the
 * paged strategy (paged.c; the key table and the LRU list of cached
 * blocks are inline in paged_int.h).
 *
 * A full block's key is a hash chain over the sequence's content up to and
 * including it, as vLLM's automatic prefix caching: the content is the
 * trace's hash_ids that cover the block (blocks of hash_block tokens, 512
 * in Mooncake traces; equal ids = equal content) with the block's offset
 * in them, or, for tokens no id describes, the request itself. A lookup
 * walks a request's keys through the table up to the first block not
 * computed yet, and remembers its answer while nothing it read changed.
 */
#include "allocators/paged_int.h"

#include <stdlib.h>

/* --------------------------------------------------------------- keys */

static uint64_t combine(uint64_t h, uint64_t v)
{
    return kv_mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

/* Key of block B of S given the previous block's key: its content is the
 * hash ids covering it (and its offset inside them) when the trace's ids
 * describe all its tokens, else the request itself. Never 0. */
static uint64_t block_key(const paged *p, const kv_seq *s, uint64_t prev, uint64_t b)
{
    uint64_t first = b * p->block_tokens, end = first + p->block_tokens;
    uint64_t covered = (uint64_t)s->num_hash_ids * p->hash_block_tokens;
    if (covered > s->prompt_tokens)
        covered = s->prompt_tokens;
    uint64_t h = combine(prev, b);
    if (s->hash_ids != NULL && end <= covered) {
        for (uint64_t i = first / p->hash_block_tokens; i <= (end - 1) / p->hash_block_tokens; i++)
            h = combine(h, s->hash_ids[i]);
        h = combine(h, first % p->hash_block_tokens);
    } else {
        h = combine(h ^ 0x5eedULL, s->seq_id);
    }
    return h ? h : 1;
}

int kv__paged_compute_keys(const paged *p, const kv_seq *cs, uint64_t n)
{
    kv_seq *s = (kv_seq *)cs; /* the key memo only, see paged_int.h */
    if (n <= s->num_keys)
        return KV_OK;
    if (n > s->keys_cap) {
        uint64_t cap = s->keys_cap ? s->keys_cap : 64;
        while (cap < n)
            cap *= 2;
        uint64_t *nk = realloc(s->keys, cap * sizeof(uint64_t));
        if (nk == NULL)
            return KV_ENOMEM;
        s->keys = nk;
        s->keys_cap = (uint32_t)cap;
    }
    uint64_t prev = s->num_keys ? s->keys[s->num_keys - 1] : 0;
    for (uint64_t b = s->num_keys; b < n; b++)
        prev = s->keys[b] = block_key(p, s, prev, b);
    s->num_keys = (uint32_t)n;
    ((paged *)p)->gen++; /* new keys: the lookup's memo is stale */
    return KV_OK;
}

/* ------------------------------------------------------------- lookup */

uint64_t kv__paged_prefix_hits(const kv_alloc *a, const paged *p, const kv_seq *s, uint64_t tokens,
                               uint64_t *idle)
{
    /* The memo (see struct paged): the same request and length, no key
     * put, removed or computed (kv__paged_compute_keys) and no block cached or taken
     * from the cache since,
     * and either the same epoch or no key put in the memo's epoch (keys
     * born in it were not computed then and are now). */
    paged *m = (paged *)p; /* the memo only; P is the strategy's own heap state */
    if (m->memo.valid && m->memo.seq == s && m->memo.seq_id == s->seq_id &&
        m->memo.tokens == tokens && m->memo.gen == p->gen &&
        (m->memo.epoch == a->epoch || p->put_epoch < m->memo.epoch)) {
        *idle = m->memo.idle;
        return m->memo.hits;
    }
    uint64_t limit = tokens ? (tokens - 1) / p->block_tokens : 0, hits = 0;
    if (kv__paged_samples(s) > 1 && limit > kv__paged_shared_blocks(p, s, tokens))
        limit = kv__paged_shared_blocks(p, s, tokens); /* samples' own blocks are never shared */
    *idle = 0;
    for (; hits < limit; hits++) {
        uint32_t blk = kv__paged_ht_find(p, s->keys[hits]);
        if (blk == PAGED_NIL || p->born[blk] >= a->epoch)
            break;
        if (p->ref[blk] == 0)
            (*idle)++;
    }
    m->memo.valid = true;
    m->memo.seq = s;
    m->memo.seq_id = s->seq_id;
    m->memo.tokens = tokens;
    m->memo.gen = p->gen;
    m->memo.epoch = a->epoch;
    m->memo.hits = hits;
    m->memo.idle = *idle;
    return hits;
}
