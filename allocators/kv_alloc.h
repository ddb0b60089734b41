/*
 * kv_alloc.h: the KV-cache allocator interface, its registry, and the
 * memory accounting every strategy shares.
 *
 * A strategy is a table of functions (kv_alloc_ops, as SQLite's
 * sqlite3_mem_methods); the strategy file's only external symbol is its
 * table. The wrapper functions below (kv_grow, kv_release, ...) check
 * preconditions and keep the shared accounting, so the strategies need not.
 *
 * Accounting (the vLLM paper's Fig. 2 categories), in bytes of the pool:
 *   token_states  KV of tokens already computed (kv_seq.used_tokens);
 *   reservation   allocated space the request will fill later:
 *                 min(cap_tokens, final_tokens) - used_tokens;
 *   internal_frag allocated space the request will never use: the rest of
 *                 alloc_bytes (beyond the true final length, the unused tail
 *                 of a last block, size-class rounding);
 *   external_frag free space the blocked head of the waiting queue could
 *                 use if it were contiguous: all free bytes while they cover
 *                 the head's need and no free extent does (0 for paged and
 *                 vattn, whose largest extent is all free space);
 *   blocked_free  free space while the head's need exceeds all of it
 *                 (capacity shortfall: the tail a max-length reservation
 *                 can never use). The admission watermark counts in the
 *                 head's need, as vLLM admits only while it stays free, so
 *                 a head refused for the watermark alone puts the free
 *                 space here; with no blocked head the watermark is free;
 *   free          the rest (all free space when no head is blocked, or when
 *                 the head's need fits in the largest extent by the time of
 *                 the breakdown: a preemption freed space after it was
 *                 refused, or a layout the extent figure does not see,
 *                 jemalloc's metadata in a gap, refused it).
 * The vLLM paper's "external fragmentation & others" is external_frag +
 * blocked_free.
 * Invariant (checked by kv_check): the six sum to pool_bytes, and
 * token_states + reservation + internal_frag == pool_bytes - free_bytes.
 */
#ifndef KVSIM_ALLOCATORS_KV_ALLOC_H
#define KVSIM_ALLOCATORS_KV_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes, negative (host failures: bad parameters, out of host memory). */
#define KV_EARG (-1)
#define KV_ENOMEM (-2)

/* Results of kv_grow and kv_can_admit: simulated outcomes, not errors. */
#define KV_OK 0
#define KV_NOSPACE 1 /* not now: too little free space */
#define KV_NEVER 2   /* not even in an empty pool */

/*
 * Per-sequence state, owned by the caller (the engine embeds one in each
 * request record and reuses it, so block tables are not reallocated per
 * request). Zero-initialise before first use; kv_seq_free() releases the
 * host memory it holds.
 */
typedef struct kv_seq {
    /* Read at every step of the sequence (first, together). */
    uint32_t used_tokens; /* tokens whose KV is written; set with kv_set_used */
    uint32_t cap_tokens;  /* tokens that fit in what is allocated */
    /* Parallel sampling (--n): SAMPLES sequences (0 or 1: one) that share
     * the prompt and grow in lockstep; token counts in this struct are per
     * sample. The strategy sets shared_tokens at admission: leading tokens
     * held once for all samples (the prompt's full blocks under paged; 0
     * where each sample holds its own copy). */
    uint32_t samples;
    uint32_t shared_tokens;
    uint32_t prompt_tokens; /* tokens the hash ids describe (the prompt) */
    uint32_t num_blocks;
    bool live; /* holds memory (between first grow and release) */
    /* Set by the caller before kv_release when S will be computed again
     * (preemption by recompute): prefix caching then keeps every full block
     * it computed, not just its prompt's, for the recomputation to hit. */
    bool recompute;
    /* Set by prefix caching when a release gave keys to S's own blocks
     * (beyond what its hash ids describe): only then can S hit blocks its
     * hash ids do not name. Zeroed with the struct for another request. */
    bool unique_keyed;
    uint32_t *blocks;      /* paged: block table; others: unused */
    uint64_t alloc_bytes;  /* pool bytes held by the sequence */
    uint32_t final_tokens; /* true final KV length: accounting only (and reserve=oracle) */
    uint32_t blocks_cap;
    uint64_t offset; /* contiguous strategies: start of the region */
    /* Prefix caching (paged:prefix=on). Set by the caller before kv_grow: */
    uint64_t seq_id;          /* unique per request */
    const uint64_t *hash_ids; /* prompt block ids (equal ids = equal prefix), or NULL */
    uint32_t num_hash_ids;
    /* Prefix caching's memo of the content keys of the first num_keys
     * blocks (they depend only on the request's content). Zero num_keys
     * when the struct is reused for another request; kv_seq_free frees it. */
    uint32_t num_keys;
    uint64_t *keys;
    uint32_t keys_cap;
    /* Set by kv_grow at admission: leading tokens found in the cache, whose
     * KV need not be computed (always < the tokens asked for). */
    uint32_t cached_tokens;
} kv_seq;

/* Pool geometry, fixed for a run. */
typedef struct kv_pool_config {
    uint64_t pool_bytes;      /* bytes the strategy may manage */
    uint64_t bytes_per_token; /* KV bytes per token, all layers, K and V */
    uint32_t max_model_len;   /* tokens; for reserve=max strategies */
    double watermark;         /* share of the pool kept free at admission (vLLM: 0.01) */
    uint32_t num_blocks;      /* paged: force this block count (0: from pool_bytes) */
    /* Model geometry, for strategies that allocate per layer (vattn). */
    uint32_t layers;
    uint32_t kv_heads; /* per GPU */
    uint32_t head_dim;
    double kv_elem_bytes; /* bytes per K or V element */
} kv_pool_config;

/* Sums the shared accounting keeps in O(1) per operation. */
typedef struct kv_totals {
    uint64_t used_tokens;   /* sum of used_tokens */
    uint64_t useful_tokens; /* sum of min(cap_tokens, final_tokens) */
    uint64_t alloc_bytes;   /* sum of alloc_bytes */
    uint64_t live_seqs;
    /* Counted more than once in the sums above because several sequences
     * hold the same block (prefix sharing): kept by the strategy, taken
     * off by the breakdown. A shared block is full and computed by every
     * holder, so it adds a whole block of used and useful tokens per extra
     * holder. */
    uint64_t dup_tokens;
    uint64_t dup_bytes;
} kv_totals;

/* Prefix-cache counters (all zero without prefix caching). */
typedef struct kv_prefix_stats {
    bool enabled;
    uint64_t lookup_tokens;        /* tokens of full blocks looked up at first admissions */
    uint64_t hit_tokens;           /* of which found in the cache (computed by other requests) */
    uint64_t recompute_hit_tokens; /* found at re-admissions after a preemption */
    uint64_t evictions;            /* cached blocks reused for other content */
} kv_prefix_stats;

/* The six categories at one instant, in bytes; they sum to pool_bytes. */
typedef struct kv_breakdown {
    uint64_t token_states;
    uint64_t reservation;
    uint64_t internal_frag;
    uint64_t external_frag;
    uint64_t blocked_free;
    uint64_t free;
    double ext_frag_index; /* 1 - largest free extent / total free; 0 when nothing is free */
} kv_breakdown;

/* What a strategy reports about its free space. */
typedef struct kv_space {
    uint64_t free_bytes;
    uint64_t largest_free_bytes;
    /* Of free_bytes, space holding prefix-cache content: handed out only
     * when the rest is gone, evicting what it holds. */
    uint64_t cached_bytes;
} kv_space;

typedef struct kv_alloc kv_alloc;

/* One unit of a strategy's uniform growth (kv_alloc_ops.grow_unit). */
typedef struct kv_grow_unit {
    uint32_t tokens;
    uint64_t bytes;
} kv_grow_unit;

/* Where a strategy's uniform growths come from a stack of free units
 * (paged: blocks), its fields, for a caller that makes the growths inline
 * (kv_alloc_ops.grow_stack, kv_grow_from_stack). */
typedef struct kv_grow_stack {
    uint32_t *stack; /* free units; the top at stack[*num_free - 1] */
    uint32_t *num_free;
    uint32_t *ref;  /* with prefix caching: holders per unit */
    uint64_t *born; /* and the epoch of its allocation */
    uint32_t unit_tokens;
    uint64_t unit_bytes;
    bool prefix; /* REF and BORN kept */
} kv_grow_stack;

typedef struct kv_alloc_ops {
    const char *name;
    const char *help; /* one line: parameters and defaults */
    /* Parses PARAMS ("key=value,..." or ""), sets a->pool_bytes to what it
     * manages and a->priv. Returns 0 or KV_EARG/KV_ENOMEM with ERR set. */
    int (*init)(kv_alloc *a, const char *params, char *err, size_t errlen);
    void (*fini)(kv_alloc *a);
    /* May a sequence be admitted with TOKENS tokens now (KV_OK), later
     * (KV_NOSPACE), or never (KV_NEVER)? Applies the admission watermark.
     * KV_OK is a promise for strategies that own their layout; one whose
     * layout an external allocator decides (jemalloc) may still refuse in
     * grow, with nothing changed. */
    int (*can_admit)(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
    /* Optional: can_admit(S, TOKENS) == KV_NEVER, without what only its
     * other answers need (a prefix cache's lookups). NULL: can_admit. */
    bool (*never_fits)(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
    /* Bytes of free space S must find to have TOKENS tokens, counted as
     * can_admit counts them: the strategy's rounding, prefix hits taken
     * off, the admission watermark's reserve included; the size of one
     * extent for strategies that place a region, as many blocks or pages
     * as it takes for the others. 0 when nothing more is needed. */
    uint64_t (*need_bytes)(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
    /* Makes cap_tokens >= TOKENS, updating cap_tokens, alloc_bytes and the
     * strategy's own state. Returns KV_OK, or KV_NOSPACE with nothing
     * changed, or KV_ENOMEM. */
    int (*grow)(kv_alloc *a, kv_seq *s, uint32_t tokens);
    /* Frees everything S holds (cap_tokens and alloc_bytes become 0). */
    void (*release)(kv_alloc *a, kv_seq *s);
    void (*space)(const kv_alloc *a, kv_space *out);
    /* Optional: how many leading tokens of S's first TOKENS are in the
     * prefix cache (computed KV S would share if admitted now), at most
     * TOKENS - 1. NULL: none. S is not live. */
    uint32_t (*cached)(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
    /* Optional: for live S holding cap_tokens < TOKENS, the bytes of free
     * space grow(S, TOKENS) takes, with the promise that it succeeds
     * whenever space() reports at least that many free (any free byte
     * serves any sequence: blocks, pages). Merged decode steps grow
     * sequences only through strategies that make this promise
     * (sim/merge.h); NULL: they stop before any growth. */
    uint64_t (*grow_bytes)(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
    /* Optional, with grow_bytes: uniform growth. True when every growth of
     * each live sequence SEQS[k] past its capacity takes exactly one unit,
     * UNIT->tokens more capacity for UNIT->bytes of free space (what
     * grow_bytes reports for it, with its promise), the same unit for all,
     * for as many growths as cover SPAN[k] more tokens after its first
     * (SPAN[k] / UNIT->tokens + 1) without host memory for its own
     * structures (its block table's room). Under paged: a block, for
     * single sequences without hash ids whose capacity is their blocks'. */
    bool (*grow_unit)(const kv_alloc *a, kv_seq *const *seqs, const uint32_t *span, uint32_t n,
                      kv_grow_unit *unit);
    /* With grow_unit: grows each of the N sequences SEQS, in order, by one
     * unit (what grow would do with cap_tokens + 1 tokens), updating
     * cap_tokens, alloc_bytes and the strategy's state. Each has room for
     * it (grow_unit), and the caller checked that space() covers N units.
     * Returns the useful token slots the growths add (the sum of
     * min(cap_tokens, final_tokens) after less before: kv_grow's count). */
    uint64_t (*grow_units)(kv_alloc *a, kv_seq *const *seqs, uint32_t n);
    /* Optional, with grow_units: the stack grow_units pops, into *ST
     * (its pointers valid for the strategy's life): where *ST->num_free
     * >= N, grow_units(a, seqs, n) is kv_grow_from_stack(ST, seqs, n,
     * ST->prefix, a->epoch). False: no such stack. */
    bool (*grow_stack)(kv_alloc *a, kv_grow_stack *st);
    /* Optional deep check of the strategy's own structures; 0 when sound,
     * else a negative value with ERR describing the first violation. */
    int (*check)(const kv_alloc *a, char *err, size_t errlen);
} kv_alloc_ops;

struct kv_alloc {
    const kv_alloc_ops *ops;
    kv_pool_config cfg;
    uint64_t pool_bytes; /* bytes managed (may round cfg.pool_bytes down) */
    kv_totals totals;
    kv_prefix_stats prefix;
    uint64_t epoch; /* steps so far (kv_tick): KV allocated in this one is not computed yet */
    /* Set by a strategy whose grow must see every prompt chunk, even one
     * inside the capacity held (paged prefix caching keys the blocks a
     * chunk fills). */
    bool grow_prompt_chunks;
    void *priv;
    char spec[128]; /* "name:params" as resolved, for reports */
};

/* Registry: every strategy, in a fixed order, NULL-terminated. */
extern const kv_alloc_ops *const kv_strategies[];

/* Finds a strategy by name; NULL if unknown. */
const kv_alloc_ops *kv_find(const char *name);

/*
 * Creates an allocator from SPEC "name[:key=value,...]" over the pool in
 * CFG. Returns 0 and *out, or a negative code with a one-line ERR (an
 * unknown name lists the known ones).
 */
int kv_create(kv_alloc **out, const char *spec, const kv_pool_config *cfg, char *err,
              size_t errlen);

/* Destroys A; kv_destroy(NULL) is a no-op. Live sequences must be released first. */
void kv_destroy(kv_alloc *a);

/* See kv_alloc_ops. These wrappers keep the totals. */
int kv_can_admit(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
/* kv_can_admit(A, S, TOKENS) == KV_NEVER (see kv_alloc_ops.never_fits). */
bool kv_never_fits(const kv_alloc *a, const kv_seq *s, uint32_t tokens);
int kv_grow(kv_alloc *a, kv_seq *s, uint32_t tokens);

/* True when kv_grow(A, S, TOKENS) would return KV_OK at once, changing
 * nothing: S is live, TOKENS fit what it holds, and no prompt chunk of it
 * gets its keys (the step loop asks this of every running sequence). */
static inline bool kv_grow_is_noop(const kv_alloc *a, const kv_seq *s, uint32_t tokens)
{
    return tokens <= s->cap_tokens && s->live &&
           !(a->grow_prompt_chunks && s->used_tokens < s->prompt_tokens);
}
void kv_release(kv_alloc *a, kv_seq *s);

/* See kv_alloc_ops.grow_bytes; UINT64_MAX for strategies without it. */
uint64_t kv_grow_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens);

/* See kv_alloc_ops.grow_unit; false for strategies without it. */
bool kv_grow_uniform(const kv_alloc *a, kv_seq *const *seqs, const uint32_t *span, uint32_t n,
                     kv_grow_unit *unit);
/* kv_alloc_ops.grow_units of UNIT (what grow_unit returned for each),
 * keeping the totals as kv_grow does. */
void kv_grow_units(kv_alloc *a, kv_seq *const *seqs, uint32_t n, const kv_grow_unit *unit);

/* See kv_alloc_ops.cached; 0 for strategies without a prefix cache. */
uint32_t kv_cached_tokens(const kv_alloc *a, const kv_seq *s, uint32_t tokens);

/* Token slots S holds for PER_SAMPLE tokens per sample: the shared part
 * once, the rest once per sample. */
static inline uint64_t kv_seq_slots(const kv_seq *s, uint64_t per_sample)
{
    uint64_t n = s->samples > 1 ? s->samples : 1;
    return per_sample <= s->shared_tokens ? per_sample
                                          : s->shared_tokens + n * (per_sample - s->shared_tokens);
}

/* Sets the number of tokens (per sample) of S whose KV is written
 * (<= cap_tokens). */
static inline void kv_set_used(kv_alloc *a, kv_seq *s, uint32_t used)
{
    if (s->samples <= 1) /* the common case, once per sequence per step */
        a->totals.used_tokens = a->totals.used_tokens - s->used_tokens + used;
    else
        a->totals.used_tokens =
            a->totals.used_tokens - kv_seq_slots(s, s->used_tokens) + kv_seq_slots(s, used);
    s->used_tokens = used;
}

/* Marks the start of a step: blocks allocated before it hold computed KV. */
static inline void kv_tick(kv_alloc *a)
{
    a->epoch++;
}

/* Sets the true final length of S (accounting only); call before kv_grow. */
void kv_set_final(kv_alloc *a, kv_seq *s, uint32_t final_tokens);

/* See kv_alloc_ops.need_bytes; at least 1 when S does not fit now
 * (kv_can_admit says KV_NOSPACE, or kv_grow refused it). */
uint64_t kv_need_bytes(const kv_alloc *a, const kv_seq *s, uint32_t tokens);

/* The breakdown now. HEAD_NEED_BYTES: what the head of the waiting queue,
 * blocked for memory, needs (kv_need_bytes when it was refused); 0 when
 * no head is blocked. */
void kv_get_breakdown(const kv_alloc *a, uint64_t head_need_bytes, kv_breakdown *out);

/* BASE, a breakdown of A taken with no grow, release or admission since,
 * as it reads once the sum of used tokens is USED_TOKENS (live sequences
 * wrote tokens into space they hold): token states and reservation move,
 * nothing else does. O(1). For a caller that advances many sequences in
 * lockstep before setting each one's used_tokens (sim/merge.c). */
static inline void kv_breakdown_at_used(const kv_alloc *a, const kv_breakdown *base,
                                        uint64_t used_tokens, kv_breakdown *out)
{
    /* kv_get_breakdown's two categories that follow the used tokens. */
    const kv_totals *t = &a->totals;
    uint64_t bpt = a->cfg.bytes_per_token;
    uint64_t used = used_tokens - t->dup_tokens, useful = t->useful_tokens - t->dup_tokens;
    *out = *base;
    out->token_states = used * bpt;
    out->reservation = (useful - used) * bpt;
}

/* Allocated bytes now (token states + reservation + internal fragmentation),
 * each shared block counted once. */
static inline uint64_t kv_allocated_bytes(const kv_alloc *a)
{
    return a->totals.alloc_bytes - a->totals.dup_bytes;
}

/* kv_alloc_ops.grow_units' growths from ST's stack, which holds a unit
 * for each of the N sequences (*ST->num_free >= N): the top N units in
 * pop order, each sequence's table, capacity and bytes moved, REF and
 * BORN (at EPOCH) written with PREFIX (ST->prefix, a constant for the
 * compiler where the caller has one). Returns the useful token slots
 * added: UNIT_TOKENS a unit but for the units that reach past their
 * sequence's final length (min(cap + unit, final) less min(cap, final)). */
static inline __attribute__((always_inline)) uint64_t kv_grow_from_stack(const kv_grow_stack *st,
                                                                         kv_seq *const *seqs,
                                                                         uint32_t n, bool prefix,
                                                                         uint64_t epoch)
{
    const uint32_t bt = st->unit_tokens;
    const uint64_t bb = st->unit_bytes;
    /* The stack's top N units, popped from the top; LOST: the slots of the
     * units that reach past their sequence's final length (few registers:
     * the caller's loop keeps its own state in the rest). */
    const uint32_t *tp = st->stack + *st->num_free;
    uint32_t *const ref = st->ref;
    uint64_t *const born = st->born;
    uint64_t lost = 0;
    kv_seq *const *const end = seqs + n;
    for (kv_seq *const *sp = seqs; sp != end; sp++) {
        kv_seq *s = *sp;
        uint32_t blk = *--tp;
        if (prefix) {
            ref[blk] = 1;
            born[blk] = epoch;
        }
        s->blocks[s->num_blocks++] = blk;
        uint32_t cap = s->cap_tokens, fin = s->final_tokens;
        if (cap + bt > fin) /* the unit's slots past the final length */
            lost += cap + bt - (cap < fin ? fin : cap);
        s->cap_tokens = cap + bt;
        s->alloc_bytes += bb;
    }
    *st->num_free -= n;
    return (uint64_t)n * bt - lost;
}

/* Checks the shared invariants and the strategy's own; 0 or negative with ERR. */
int kv_check(const kv_alloc *a, char *err, size_t errlen);

/* Releases the host memory held by S (not pool memory: release S first). */
void kv_seq_free(kv_seq *s);

/* Finds VAL among NAMES (NULL-terminated) for parameter KEY of STRATEGY:
 * returns its index, or -1 with ERR "--allocator STRATEGY: KEY='VAL'
 * (known: ...)". */
int kv_param_choice(const char *strategy, const char *key, const char *val,
                    const char *const *names, char *err, size_t errlen);

/* A 64-bit finaliser (splitmix64's): spreads hash keys and ids. */
static inline uint64_t kv_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* The smallest power of two >= X (1 for 0). */
static inline uint64_t kv_next_pow2(uint64_t x)
{
    uint64_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

/* Parses "key=value,..." one pair at a time: helper for strategies' init. */
int kv_param_next(const char **cursor, char *key, size_t keylen, char *val, size_t vallen);

#endif
