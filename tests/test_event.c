/*
 * test_event.c: the event queue pops in (time, insertion) order; equal
 * times are FIFO, which makes runs reproducible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sim/event.h"
#include "workloads/rng.h"

static void test_empty(void **state)
{
    (void)state;
    sim_evq q;
    sim_evq_init(&q);
    sim_event ev;
    assert_false(sim_evq_pop(&q, &ev));
    assert_null(sim_evq_peek(&q));
    sim_evq_free(&q);
}

static void test_ties_are_fifo(void **state)
{
    (void)state;
    sim_evq q;
    sim_evq_init(&q);
    /* Interleave three timestamps; within each, data records insertion order. */
    for (uint64_t i = 0; i < 300; i++)
        assert_int_equal(sim_evq_push(&q, (int64_t)(i % 3) * 10, 0, 0, i), 0);
    sim_event ev;
    int64_t last_t = -1;
    uint64_t last_data = 0;
    for (int n = 0; n < 300; n++) {
        assert_true(sim_evq_pop(&q, &ev));
        if (ev.time_ns == last_t)
            assert_true(ev.data > last_data); /* FIFO among equals */
        else
            assert_true(ev.time_ns > last_t);
        last_t = ev.time_ns;
        last_data = ev.data;
    }
    assert_int_equal(sim_evq_len(&q), 0);
    sim_evq_free(&q);
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Random pushes and pops against a sorted reference. */
static void test_random_against_sort(void **state)
{
    (void)state;
    enum { N = 20000 };
    int64_t(*ref)[2] = malloc(sizeof(int64_t[2]) * N);
    assert_non_null(ref);
    sim_evq q;
    sim_evq_init(&q);
    wl_rng r;
    wl_rng_seed(&r, 42, 0);
    for (int i = 0; i < N; i++) {
        int64_t t = (int64_t)(wl_rng_u64(&r) % 1000); /* many ties */
        ref[i][0] = t;
        ref[i][1] = i;
        assert_int_equal(sim_evq_push(&q, t, 1, 2, (uint64_t)i), 0);
    }
    qsort(ref, N, sizeof(ref[0]), cmp_pair);
    sim_event ev;
    for (int i = 0; i < N; i++) {
        const sim_event *peek = sim_evq_peek(&q);
        assert_non_null(peek);
        uint64_t peek_seq = peek->seq; /* the pop overwrites the slot peek points to */
        assert_true(sim_evq_pop(&q, &ev));
        assert_int_equal(peek_seq, ev.seq);
        assert_int_equal(ev.time_ns, ref[i][0]);
        assert_int_equal(ev.data, (uint64_t)ref[i][1]);
        assert_int_equal(ev.type, 1);
        assert_int_equal(ev.target, 2);
    }
    sim_evq_free(&q);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_ties_are_fifo),
        cmocka_unit_test(test_random_against_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
