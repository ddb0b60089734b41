/*
 * rng.c: xoshiro256** and splitmix64 (public-domain algorithms by
 * Blackman and Vigna, https://prng.di.unimi.it/); see rng.h.
 */
#include "workloads/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void wl_rng_seed(wl_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t wl_rng_u64(wl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double wl_rng_uniform(wl_rng *r)
{
    return (double)(wl_rng_u64(r) >> 11) * 0x1.0p-53;
}

double wl_rng_exp(wl_rng *r, double mean)
{
    return -mean * log1p(-wl_rng_uniform(r));
}

double wl_rng_normal(wl_rng *r)
{
    double u1 = wl_rng_uniform(r), u2 = wl_rng_uniform(r);
    return sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586476925 * u2);
}
