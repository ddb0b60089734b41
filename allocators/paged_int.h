/*
 * paged_int.h: the state of the paged strategy, shared by paged.c (the
 * block allocator) and paged_prefix.c (the prefix cache's content keys
 * and its lookup), and what both use: a sequence's shape in blocks, the
 * table from keys to blocks and the LRU list of cached blocks. Private to
 * those two files.
 *
 * The table is open addressing with linear probing (capacity a power of
 * two at least twice the blocks, so probes stay short) and deletion by
 * shifting back (no tombstones). The LRU list is doubly linked through
 * per-block arrays, oldest at lru_head. Every change to the table or to
 * the list counts in p->gen, which the lookup's memo reads. They are
 * inline here: admission, growth, eviction and release call them for
 * every block they key, reuse or cache.
 */
#ifndef KVSIM_ALLOCATORS_PAGED_INT_H
#define KVSIM_ALLOCATORS_PAGED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "allocators/kv_alloc.h"

/* No block: an empty table slot's value, the LRU list's ends. */
#define PAGED_NIL UINT32_MAX

typedef struct paged {
    uint32_t block_tokens;
    uint64_t block_bytes;
    uint32_t num_blocks;
    uint32_t watermark_blocks;
    uint32_t *free_stack; /* empty blocks; top at free_stack[num_free - 1] */
    uint32_t num_free;
    /* Prefix caching; all NULL when off. */
    bool prefix;
    uint32_t hash_block_tokens;
    uint32_t *ref;      /* holders per block */
    uint64_t *key;      /* content key, 0 = none */
    uint64_t *born;     /* epoch of allocation: computed once the epoch has passed */
    uint32_t *lru_prev; /* cached blocks (key, no holder), oldest at lru_head */
    uint32_t *lru_next;
    uint32_t lru_head, lru_tail, num_cached;
    uint64_t *ht_key; /* open addressing, linear probing, 0 = empty */
    uint32_t *ht_val;
    uint64_t ht_mask;
    uint32_t num_keyed; /* the table's keys: blocks whose key is not 0 */
    /* What a lookup of the cache reads changes only with the table's keys,
     * the request's own keys and blocks entering or leaving the cached
     * list (gen counts all three), and with the epoch for the blocks keyed in it (put_epoch: the
     * last epoch a key was put). A request held at the queue's head is
     * looked up at every step: the last lookup's answer serves again
     * while none of these moved (the memo). */
    uint64_t gen, put_epoch;
    struct {
        const kv_seq *seq;
        uint64_t seq_id, tokens, gen, epoch, hits, idle;
        bool valid;
    } memo;
} paged;

/* ------------------------------------------------- sequences in blocks */

/* Samples of S (parallel sampling), at least 1. */
static inline uint64_t kv__paged_samples(const kv_seq *s)
{
    return s->samples > 1 ? s->samples : 1;
}

/* Blocks shared by all samples of S: the prompt's full blocks (parallel
 * sampling forks after the prompt; each sample copies the partial last
 * block, as vLLM's copy-on-write does at its first write). */
static inline uint64_t kv__paged_shared_blocks(const paged *p, const kv_seq *s, uint64_t tokens)
{
    if (kv__paged_samples(s) == 1)
        return 0;
    uint64_t prompt = s->prompt_tokens < tokens ? s->prompt_tokens : tokens;
    return prompt / p->block_tokens;
}

/* Full blocks of S the trace's hash ids describe: content other requests
 * may share. */
static inline uint64_t kv__paged_covered_blocks(const paged *p, const kv_seq *s)
{
    if (s->hash_ids == NULL)
        return 0;
    uint64_t covered = (uint64_t)s->num_hash_ids * p->hash_block_tokens;
    if (covered > s->prompt_tokens)
        covered = s->prompt_tokens;
    return covered / p->block_tokens;
}

/* Can S find any of its blocks in the cache? Only blocks its hash ids
 * name, or its own blocks keyed at a release (a recomputation): a
 * request without either has nothing to look up (and no keys to compute,
 * 9 % of a replay's time otherwise). */
static inline bool kv__paged_may_hit(const kv_seq *s)
{
    return s->hash_ids != NULL || s->unique_keyed;
}

/* -------------------------------------------------------- the key table */

/*
 * The block carrying key K, or PAGED_NIL. Inline: admission, growth and
 * release ask it of every block they key or look up.
 */
static inline uint32_t kv__paged_ht_find(const paged *p, uint64_t k)
{
    for (uint64_t i = kv_mix64(k) & p->ht_mask;; i = (i + 1) & p->ht_mask) {
        if (p->ht_key[i] == 0)
            return PAGED_NIL;
        if (p->ht_key[i] == k)
            return p->ht_val[i];
    }
}

/* Records that block BLK carries key K (not in the table), put in EPOCH. */
static inline void kv__paged_ht_put(paged *p, uint64_t k, uint32_t blk, uint64_t epoch)
{
    p->gen++;
    p->put_epoch = epoch;
    uint64_t i = kv_mix64(k) & p->ht_mask;
    while (p->ht_key[i] != 0)
        i = (i + 1) & p->ht_mask;
    p->ht_key[i] = k;
    p->ht_val[i] = blk;
    p->num_keyed++;
}

/* Removes K (present), shifting later entries of its run back (no tombstones). */
static inline void kv__paged_ht_del(paged *p, uint64_t k)
{
    p->gen++;
    uint64_t i = kv_mix64(k) & p->ht_mask;
    while (p->ht_key[i] != k)
        i = (i + 1) & p->ht_mask;
    p->num_keyed--;
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & p->ht_mask;
        if (p->ht_key[j] == 0)
            break;
        uint64_t home = kv_mix64(p->ht_key[j]) & p->ht_mask;
        /* Move j to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            p->ht_key[i] = p->ht_key[j];
            p->ht_val[i] = p->ht_val[j];
            i = j;
        }
    }
    p->ht_key[i] = 0;
}

/* ------------------------------------------------------- the LRU list */

/* Takes cached block B out of the LRU list. */
static inline void kv__paged_lru_remove(paged *p, uint32_t b)
{
    p->gen++;
    uint32_t pr = p->lru_prev[b], nx = p->lru_next[b];
    if (pr != PAGED_NIL)
        p->lru_next[pr] = nx;
    else
        p->lru_head = nx;
    if (nx != PAGED_NIL)
        p->lru_prev[nx] = pr;
    else
        p->lru_tail = pr;
    p->num_cached--;
}

/* Appends block B, just cached, to the LRU list (most recently used). */
static inline void kv__paged_lru_push(paged *p, uint32_t b)
{
    p->gen++;
    p->lru_prev[b] = p->lru_tail;
    p->lru_next[b] = PAGED_NIL;
    if (p->lru_tail != PAGED_NIL)
        p->lru_next[p->lru_tail] = b;
    else
        p->lru_head = b;
    p->lru_tail = b;
    p->num_cached++;
}

/* ------------------------------------------------------ paged_prefix.c */

/* Makes s->keys hold the keys of S's first N blocks, extending the memo
 * (a blocked queue head is asked about every step: its keys are computed
 * once). The memo is logically part of S's content, so S is const and
 * the memo is written through a cast. Returns KV_OK, or KV_ENOMEM with
 * the keys already there kept. */
int kv__paged_compute_keys(const paged *p, const kv_seq *cs, uint64_t n);

/* Leading full blocks of S's first TOKENS tokens whose computed KV is in
 * the cache, at most (tokens - 1) / block so the last token is computed;
 * and how many of them are cached without a holder (*IDLE). S's keys must
 * be in s->keys (kv__paged_compute_keys). The answer is memoized, see
 * struct paged. */
uint64_t kv__paged_prefix_hits(const kv_alloc *a, const paged *p, const kv_seq *s, uint64_t tokens,
                               uint64_t *idle);

#endif
