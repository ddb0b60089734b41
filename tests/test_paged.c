/*
 * test_paged.c: the allocator contract, run for every registered strategy
 * (today: paged), with kv_check after every operation: the six categories
 * sum to the pool, blocks are never shared or lost, release returns
 * everything, and a full run leaves the pool empty. Plus paged specifics
 * checked against hand-computed block counts and vLLM v0's watermark rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "allocators/kv_alloc.h"
#include "workloads/rng.h"

static void must_check(const kv_alloc *a)
{
    char err[256];
    int rc = kv_check(a, err, sizeof(err));
    if (rc != 0)
        fail_msg("kv_check: %s", err);
}

static kv_alloc *make(const char *spec, uint64_t pool_bytes, uint64_t bpt, double wm)
{
    /* Geometry consistent with 4,096 bytes per token: 2 (K, V) x 2 layers x
     * 1 KV head x 512 x 2 bytes (other byte counts only matter to vattn). */
    kv_pool_config c = {pool_bytes, bpt, 2048, wm, 0, 2, 1, 512, 2.0};
    kv_alloc *a = NULL;
    char err[256];
    int rc = kv_create(&a, spec, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("kv_create(%s): %s", spec, err);
    return a;
}

/* Regions of contiguous strategies never overlap and stay in the pool. */
static void check_regions(const kv_alloc *a, const kv_seq *seqs, int n)
{
    if (strncmp(a->spec, "contiguous", 10) != 0)
        return;
    uint64_t bpt = a->cfg.bytes_per_token;
    for (int i = 0; i < n; i++) {
        if (!seqs[i].live)
            continue;
        uint64_t s0 = seqs[i].offset * bpt, e0 = s0 + seqs[i].alloc_bytes;
        assert_true(e0 <= a->pool_bytes);
        for (int j = i + 1; j < n; j++) {
            if (!seqs[j].live)
                continue;
            uint64_t s1 = seqs[j].offset * bpt, e1 = s1 + seqs[j].alloc_bytes;
            if (s0 < e1 && s1 < e0)
                fail_msg("%s: regions [%llu,%llu) and [%llu,%llu) overlap", a->spec,
                         (unsigned long long)s0, (unsigned long long)e0, (unsigned long long)s1,
                         (unsigned long long)e1);
        }
    }
}

/* Random admissions, growth and releases with a check after each. */
static void contract_random(const char *spec)
{
    enum { SEQS = 64, OPS = 20000 };
    kv_alloc *a = make(spec, 64ull << 20, 4096, 0.01);
    kv_seq seqs[SEQS];
    memset(seqs, 0,
           sizeof(seqs)); /* Pairs of sequences carry the same hash ids (the same prompt content,
                           * as a trace describes it): prefix caching shares their blocks. */
    static uint64_t ids[SEQS / 2][64];
    for (int i = 0; i < SEQS; i++) {
        for (int k = 0; k < 64; k++)
            ids[i / 2][k] = (uint64_t)(i / 2) * 1000 + (uint64_t)k;
        seqs[i].seq_id = (uint64_t)i;
        seqs[i].hash_ids = ids[i / 2];
        seqs[i].num_hash_ids = 64;
        seqs[i].samples = i % 5 == 0 ? 3 : 1; /* some sequences sample 3 outputs (--n) */
    }
    wl_rng r;
    wl_rng_seed(&r, 1, 0);
    uint64_t grows = 0, nospace = 0, max_dup = 0;
    for (int op = 0; op < OPS; op++) {
        /* A step per operation, so blocks count as computed by the next:
         * sharing, eviction and the duplicate counts all run under kv_check. */
        kv_tick(a);
        kv_seq *s = &seqs[wl_rng_u64(&r) % SEQS];
        uint64_t dice = wl_rng_u64(&r) % 10;
        if (!s->live && dice < 6) {
            uint32_t tokens = 1 + (uint32_t)(wl_rng_u64(&r) % 700);
            kv_set_final(a, s, tokens + (uint32_t)(wl_rng_u64(&r) % 300));
            s->prompt_tokens = tokens;
            s->num_keys = 0; /* new content for the key memo */
            int adm = kv_can_admit(a, s, tokens);
            if (adm == KV_OK) {
                uint64_t before = kv_allocated_bytes(a);
                int rc = kv_grow(a, s, tokens);
                if (rc == KV_OK) {
                    kv_set_used(a, s, tokens - 1);
                    grows++;
                } else {
                    /* Allowed only as "no room after all", with nothing changed. */
                    assert_int_equal(rc, KV_NOSPACE);
                    assert_false(s->live);
                    assert_int_equal(kv_allocated_bytes(a), before);
                    nospace++;
                }
            } else {
                assert_int_equal(adm, KV_NOSPACE);
                nospace++; /* contiguous strategies fill up at admission */
            }
        } else if (s->live && dice < 8) {
            uint32_t want = s->used_tokens + 1 + (uint32_t)(wl_rng_u64(&r) % 40);
            if (want > s->final_tokens)
                want = s->final_tokens;
            uint64_t before = kv_allocated_bytes(a);
            int rc = kv_grow(a, s, want);
            if (rc == KV_OK) {
                assert_true(s->cap_tokens >= want);
                kv_set_used(a, s, want);
                grows++;
            } else {
                assert_int_equal(rc, KV_NOSPACE);
                assert_int_equal(kv_allocated_bytes(a), before); /* nothing changed */
                nospace++;
            }
        } else if (s->live) {
            kv_release(a, s);
            assert_false(s->live);
            assert_int_equal(s->cap_tokens, 0);
        }
        must_check(a);
        check_regions(a, seqs, SEQS);
        if (a->totals.dup_tokens > max_dup)
            max_dup = a->totals.dup_tokens;
        /* No blocked head, or one needing any size up to the pool. */
        kv_breakdown b;
        kv_get_breakdown(a, op % 3 ? wl_rng_u64(&r) % (a->pool_bytes + 1) : 0, &b);
        assert_int_equal(b.token_states + b.reservation + b.internal_frag + b.external_frag +
                             b.blocked_free + b.free,
                         a->pool_bytes);
    }
    assert_true(grows > 1000);
    assert_true(nospace > 0); /* the pool did fill up (admission refused or growth failed) */
    if (strstr(spec, "prefix=on") != NULL && max_dup == 0)
        fail_msg("%s: no block was ever shared", spec);
    if (strstr(spec, "prefix=on") == NULL)
        assert_int_equal(max_dup, 0);
    for (int i = 0; i < SEQS; i++) {
        kv_release(a, &seqs[i]);
        kv_seq_free(&seqs[i]);
    }
    must_check(a);
    assert_int_equal(kv_allocated_bytes(a), 0);
    kv_breakdown b;
    kv_get_breakdown(a, 0, &b);
    assert_int_equal(b.free, a->pool_bytes);
    kv_destroy(a);
}

/* Every registered strategy, and the variants of its parameters. */
static const char *const contract_specs[] = {
    "paged",
    "paged:block=1",
    "paged:block=256",
    "paged:prefix=on",
    "paged:prefix=on,block=32,hash_block=64",
    "contiguous",
    "contiguous:reserve=pow2,fit=buddy",
    "contiguous:reserve=oracle,fit=buddy",
    "contiguous:reserve=max,fit=first",
    "contiguous:reserve=oracle,fit=first",
    "contiguous:reserve=pow2,fit=best",
    "contiguous:reserve=oracle,fit=best",
    "vattn:page=64k",
    "vattn:page=2m",
    "jemalloc",
    "jemalloc:reserve=max",
    "jemalloc:reserve=pow2",
    "jemalloc:reserve=oracle",
    NULL,
};

static void test_contract_all_strategies(void **state)
{
    (void)state;
    for (size_t i = 0; kv_strategies[i] != NULL; i++) {
        bool listed = false;
        for (size_t j = 0; contract_specs[j] != NULL; j++)
            listed |= strncmp(contract_specs[j], kv_strategies[i]->name,
                              strlen(kv_strategies[i]->name)) == 0;
        if (!listed)
            fail_msg("strategy %s has no contract run", kv_strategies[i]->name);
    }
    for (size_t j = 0; contract_specs[j] != NULL; j++)
        contract_random(contract_specs[j]);
}

static void test_paged_block_math(void **state)
{
    (void)state;
    /* 100 blocks of 16 tokens x 1000 bytes, plus a 999-byte tail not managed. */
    kv_alloc *a = make("paged:block=16", 100 * 16000 + 999, 1000, 0.0);
    assert_int_equal(a->pool_bytes, 1600000);
    kv_seq s = {0};
    kv_set_final(a, &s, 40);
    assert_int_equal(kv_grow(a, &s, 17), KV_OK); /* ceil(17/16) = 2 blocks */
    assert_int_equal(s.num_blocks, 2);
    assert_int_equal(s.cap_tokens, 32);
    kv_set_used(a, &s, 17);
    kv_breakdown b;
    kv_get_breakdown(a, 0, &b);
    assert_int_equal(b.token_states, 17000);
    assert_int_equal(b.reservation, 15000); /* slots 18..32 will be filled (final 40) */
    assert_int_equal(b.internal_frag, 0);
    assert_int_equal(kv_grow(a, &s, 33), KV_OK); /* third block: 48 slots, final 40 */
    kv_set_used(a, &s, 33);
    kv_get_breakdown(a, 0, &b);
    assert_int_equal(b.reservation, 7000);   /* 34..40 */
    assert_int_equal(b.internal_frag, 8000); /* 41..48 never used */
    assert_int_equal(b.free, (100 - 3) * 16000);
    kv_release(a, &s);
    kv_seq_free(&s);
    must_check(a);
    kv_destroy(a);
}

static void test_paged_watermark(void **state)
{
    (void)state;
    /* vLLM v0: watermark_blocks = 0.01 x 1000 = 10; admission needs
     * free - required >= 10; never if total - required < 10. */
    kv_alloc *a = make("paged", 1000 * 16 * 100, 100, 0.01);
    kv_seq s = {0}, t = {0};
    assert_int_equal(kv_can_admit(a, &s, 990 * 16), KV_OK);
    assert_int_equal(kv_can_admit(a, &s, 990 * 16 + 1), KV_NEVER);
    kv_set_final(a, &s, 500 * 16);
    assert_int_equal(kv_grow(a, &s, 500 * 16), KV_OK);
    assert_int_equal(kv_can_admit(a, &t, 490 * 16), KV_OK);
    assert_int_equal(kv_can_admit(a, &t, 490 * 16 + 1), KV_NOSPACE);
    /* Growth of a running sequence ignores the watermark. */
    assert_int_equal(kv_grow(a, &s, 1000 * 16), KV_OK);
    assert_int_equal(kv_grow(a, &s, 1000 * 16 + 1), KV_NOSPACE);
    kv_breakdown b;
    kv_get_breakdown(a, kv_need_bytes(a, &t, 1), &b);
    assert_int_equal(b.free + b.external_frag + b.blocked_free, 0);
    /* Back to 500 blocks held: T's 491 blocks fit in the 500 free, but not
     * with the 10 of watermark. The watermark counts in the head's need,
     * so all free space is blocked (capacity shortfall), none external:
     * any free block serves a paged request. */
    kv_release(a, &s);
    assert_int_equal(kv_grow(a, &s, 500 * 16), KV_OK);
    assert_int_equal(kv_can_admit(a, &t, 490 * 16 + 1), KV_NOSPACE);
    assert_int_equal(kv_need_bytes(a, &t, 490 * 16 + 1), (491 + 10) * 1600);
    kv_get_breakdown(a, kv_need_bytes(a, &t, 490 * 16 + 1), &b);
    assert_int_equal(b.external_frag, 0);
    assert_int_equal(b.blocked_free, 500 * 1600);
    assert_int_equal(b.free, 0);
    kv_release(a, &s);
    kv_get_breakdown(a, 0, &b); /* no blocked head: the watermark is free */
    assert_int_equal(b.free, a->pool_bytes);
    kv_seq_free(&s);
    kv_destroy(a);
}

/* The blocked head's need splits free space into external fragmentation
 * (total free covers it, no extent does) and blocked free space (it
 * exceeds all free space). Sizes by hand. */
static void test_breakdown_blocked_head(void **state)
{
    (void)state;
    /* Paged, 10 blocks of 16 tokens x 100 bytes, no watermark: a 100-token
     * prompt holds ceil(100 / 16) = 7 blocks, the next one needs 7 more and
     * finds 3. Before the split all 3 counted as external fragmentation. */
    kv_alloc *a = make("paged", 10 * 1600, 100, 0.0);
    kv_seq s = {0}, t = {0};
    kv_set_final(a, &s, 100);
    assert_int_equal(kv_grow(a, &s, 100), KV_OK);
    assert_int_equal(kv_can_admit(a, &t, 100), KV_NOSPACE);
    assert_int_equal(kv_need_bytes(a, &t, 100), 7 * 1600);
    kv_breakdown b;
    kv_get_breakdown(a, kv_need_bytes(a, &t, 100), &b);
    assert_int_equal(b.external_frag, 0);
    assert_int_equal(b.blocked_free, 3 * 1600);
    assert_int_equal(b.free, 0);
    must_check(a);
    kv_release(a, &s);
    kv_seq_free(&s);
    kv_seq_free(&t);
    kv_destroy(a);

    /* First fit over 100 slots: regions of 30 at 0, 30 and 60; freeing
     * the middle one leaves 30 + 10 = 40 slots free, the largest extent 30. */
    a = make("contiguous:reserve=oracle,fit=first", 100 * 100, 100, 0.0);
    kv_seq r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        kv_set_final(a, &r[i], 30);
        assert_int_equal(kv_grow(a, &r[i], 1), KV_OK);
        assert_int_equal(r[i].offset, 30 * i);
    }
    kv_release(a, &r[1]);
    must_check(a);
    kv_set_final(a, &t, 35); /* 35 <= 40 free, > 30 largest: fragmentation */
    assert_int_equal(kv_can_admit(a, &t, 1), KV_NOSPACE);
    assert_int_equal(kv_need_bytes(a, &t, 1), 3500);
    kv_get_breakdown(a, kv_need_bytes(a, &t, 1), &b);
    assert_int_equal(b.external_frag, 4000);
    assert_int_equal(b.blocked_free, 0);
    assert_int_equal(b.free, 0);
    kv_set_final(a, &t, 45); /* 45 > 40 free: no layout would help */
    kv_get_breakdown(a, kv_need_bytes(a, &t, 1), &b);
    assert_int_equal(b.external_frag, 0);
    assert_int_equal(b.blocked_free, 4000);
    kv_release(a, &r[0]);
    kv_release(a, &r[2]);
    kv_destroy(a);

    /* Buddy over 64 slots: a request of 20 slots takes a 32-slot block;
     * with two 16-slot blocks held at 0 and 32, 32 slots are free in two
     * 16-slot blocks: external. */
    a = make("contiguous:reserve=oracle,fit=buddy", 64 * 100, 100, 0.0);
    kv_seq q[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        kv_set_final(a, &q[i], 16);
        assert_int_equal(kv_grow(a, &q[i], 1), KV_OK);
    }
    kv_release(a, &q[1]);
    kv_release(a, &q[3]);
    must_check(a);
    kv_set_final(a, &t, 20);
    assert_int_equal(kv_can_admit(a, &t, 1), KV_NOSPACE);
    assert_int_equal(kv_need_bytes(a, &t, 1), 3200);
    kv_get_breakdown(a, kv_need_bytes(a, &t, 1), &b);
    assert_int_equal(b.external_frag, 3200);
    assert_int_equal(b.blocked_free, 0);
    kv_release(a, &q[0]);
    kv_release(a, &q[2]);
    kv_destroy(a);
}

static void test_vattn_page_math(void **state)
{
    (void)state;
    /* OPT-13B: one layer's K for one token is 40 heads x 128 x 2 bytes =
     * 10,240 bytes, so a 64 KiB page holds 6 tokens (4 KiB of it unused);
     * growth maps 2 x 40 = 80 pages (5 MiB) for 6 tokens. */
    kv_pool_config c = {1ull << 30, 819200, 2048, 0.0, 0, 40, 40, 128, 2.0};
    kv_alloc *a = NULL;
    char err[256];
    if (kv_create(&a, "vattn:page=64k", &c, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(a->pool_bytes, (1ull << 30) / (5ull << 20) * (5ull << 20));
    kv_seq s = {0};
    kv_set_final(a, &s, 10);
    assert_int_equal(kv_grow(a, &s, 7), KV_OK);
    assert_int_equal(s.cap_tokens, 12);
    assert_int_equal(s.alloc_bytes, 10ull << 20);
    kv_set_used(a, &s, 7);
    kv_breakdown b;
    kv_get_breakdown(a, 0, &b);
    assert_int_equal(b.token_states, 7 * 819200);
    assert_int_equal(b.reservation, 3 * 819200);
    assert_int_equal(b.internal_frag, (10ull << 20) - 10 * 819200); /* 2 tokens + page slack */
    kv_release(a, &s);
    must_check(a);
    kv_destroy(a);
    /* A page smaller than one token of one layer is refused. */
    c.kv_heads = 64;
    c.head_dim = 1024;
    assert_int_equal(kv_create(&a, "vattn:page=64k", &c, err, sizeof(err)), KV_EARG);
    assert_non_null(strstr(err, "holds no token"));
}

static void test_bad_specs(void **state)
{
    (void)state;
    kv_pool_config c = {1 << 20, 100, 2048, 0.01, 0, 32, 8, 128, 2.0};
    kv_alloc *a = NULL;
    char err[256];
    assert_int_equal(kv_create(&a, "nosuch", &c, err, sizeof(err)), KV_EARG);
    assert_non_null(strstr(err, "unknown strategy 'nosuch'"));
    assert_non_null(strstr(err, "paged"));
    assert_int_equal(kv_create(&a, "paged:block=0", &c, err, sizeof(err)), KV_EARG);
    assert_non_null(strstr(err, "block='0'"));
    assert_int_equal(kv_create(&a, "paged:blocks=16", &c, err, sizeof(err)), KV_EARG);
    assert_non_null(strstr(err, "unknown parameter 'blocks'"));
    assert_int_equal(kv_create(&a, "paged:block", &c, err, sizeof(err)), KV_EARG);
    assert_int_equal(kv_create(&a, "paged:block=x", &c, err, sizeof(err)), KV_EARG);
    c.pool_bytes = 10; /* smaller than one block */
    assert_int_equal(kv_create(&a, "paged", &c, err, sizeof(err)), KV_EARG);
    assert_null(a);
}

/* Prefix caching with chunked prefill: a chunk that fills a block the
 * sequence already holds (no growth) keys it as a chunk that needs a new
 * block does, so a same-content prompt hits it from the next step on.
 * Blocks of 16, hash_block 16: A's prompt (2 blocks) is computed as 10
 * tokens, then 6 (filling block 0 inside its capacity). B with the same
 * ids then finds block 0 cached: 16 tokens. Before the fix block 0 was
 * keyed only at A's next growth: 0. */
static void test_prefix_chunk_fills_held_block(void **state)
{
    (void)state;
    kv_alloc *a = make("paged:prefix=on,hash_block=16", 1ull << 20, 4096, 0);
    static uint64_t ids[2] = {7, 8};
    kv_seq A = {0}, B = {0};
    A.seq_id = 1;
    B.seq_id = 2;
    A.hash_ids = B.hash_ids = ids;
    A.num_hash_ids = B.num_hash_ids = 2;
    A.prompt_tokens = B.prompt_tokens = 32;
    kv_set_final(a, &A, 40);
    kv_set_final(a, &B, 40);
    kv_tick(a);
    assert_int_equal(kv_grow(a, &A, 10), KV_OK);
    kv_set_used(a, &A, 10);
    kv_tick(a);
    assert_int_equal(kv_grow(a, &A, 16), KV_OK); /* block 0 filled, no new block */
    kv_set_used(a, &A, 16);
    kv_tick(a);
    must_check(a);
    assert_int_equal(kv_cached_tokens(a, &B, 32), 16);
    kv_release(a, &A);
    must_check(a);
    kv_seq_free(&A);
    kv_seq_free(&B);
    kv_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_all_strategies),
        cmocka_unit_test(test_paged_block_math),
        cmocka_unit_test(test_paged_watermark),
        cmocka_unit_test(test_breakdown_blocked_head),
        cmocka_unit_test(test_vattn_page_math),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_prefix_chunk_fills_held_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
