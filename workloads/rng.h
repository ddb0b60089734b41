/*
 * rng.h: seeded pseudo-random streams (xoshiro256**, seeded through
 * splitmix64, after Blackman and Vigna). One stream per component, so a
 * component's draws do not depend on what others drew.
 */
#ifndef KVSIM_WORKLOADS_RNG_H
#define KVSIM_WORKLOADS_RNG_H

#include <stdint.h>

typedef struct wl_rng {
    uint64_t s[4];
} wl_rng;

/* Seeds stream STREAM of SEED: distinct (seed, stream) pairs give
 * independent-looking sequences. */
void wl_rng_seed(wl_rng *r, uint64_t seed, uint64_t stream);

/* Uniform 64-bit integer. */
uint64_t wl_rng_u64(wl_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double wl_rng_uniform(wl_rng *r);

/* Exponential with the given mean. */
double wl_rng_exp(wl_rng *r, double mean);

/* Standard normal (Box-Muller, one value per call). */
double wl_rng_normal(wl_rng *r);

#endif
