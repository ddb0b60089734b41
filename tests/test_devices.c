/*
 * test_devices.c: the catalog rows added for issue 8 items 5 and 6 (more
 * GPUs, Apple M4, CPU-only servers), the MI300X check, and the rows added
 * for the reference measurements (issue 11). Each expected
 * value is recomputed here from the formula the row's notes state, with
 * the factors' sources in a comment, so a typo in catalog/gpus.csv (or a
 * figure that no longer follows from its stated derivation) fails here.
 * Rounded catalog figures are compared to half their last digit.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/catalog.h"

#define MIB 1048576.0

static sim_gpu gpu(const char *name)
{
    sim_gpu g;
    char err[512];
    if (sim_gpu_lookup(name, &g, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return g;
}

/* got (catalog, in base units) equals want (formula) to within tol. */
static void near(const char *name, const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %s is %.6g, formula gives %.6g (tolerance %.3g)", name, what, got, want, tol);
}

/* One row: memory in MiB (exact), bandwidth in GB/s and FP16 TFLOPS from
 * their formulas; tflops_tol is half the last digit the CSV keeps. */
static sim_gpu check(const char *name, double mib, double bw_gbps, double tflops, double tflops_tol)
{
    sim_gpu g = gpu(name);
    near(name, "memory_mib", (double)g.memory_bytes / MIB, mib, 0);
    near(name, "mem_bw_gbps", g.mem_bw_Bps / 1e9, bw_gbps, 1e-9 * bw_gbps + 0.05);
    near(name, "fp16_tflops", g.fp16_flops / 1e12, tflops, tflops_tol + 1e-9);
    assert_true(g.source[0] != '\0');
    return g;
}

static void test_new_gpus(void **state)
{
    (void)state;
    sim_gpu g;

    /* A40: 46068 MiB = nvidia-smi with ECC on (search-index ids 59040654377,
     * 56334803887); 696 GB/s and BF16 tensor with FP32 accumulate 149.7, INT8
     * 299.3 from the NVIDIA datasheet (copy at ecer.com); PCIe Gen4 64 GB/s
     * bidirectional = 32 per direction. */
    g = check("a40", 46068, 696, 149.7, 0);
    near("a40", "int8_tops", g.int8_ops / 1e12, 299.3, 1e-9);
    near("a40", "interconnect_gbps", g.interconnect_Bps / 1e9, 64.0 / 2, 1e-9);
    assert_int_equal(g.fp8_flops, 0); /* Ampere has no FP8 */

    /* RTX 4000 Ada: 20475 MiB nvidia-smi (ids 60362716993, 68945777316);
     * 360 GB/s (code table, id 69025864885); Ada dense FP16 tensor = 4 x FP32
     * = 4 x 6144 cores x 2 x 2.175 GHz (26.73 TFLOPS: huggingface.co/hardware,
     * ohdoking/gpu_spec); FP8 = 2 x FP16. */
    g = check("rtx-4000-ada", 20475, 360, 4 * 6144 * 2 * 2.175e-3, 0.05);
    near("rtx-4000-ada", "fp8_tflops", g.fp8_flops / 1e12, 8 * 6144 * 2 * 2.175e-3, 0.05);

    /* RTX 5000 Ada: 32760 MiB nvidia-smi (ids 61372845036, 68519422180);
     * datasheet (atineoSE/coding-model-seeks-gpu rtx5000ada_specs.md): 576
     * GB/s, 1044.4 TFLOPS FP8 with sparsity -> FP16 dense = 1044.4 / 2 / 2. */
    g = check("rtx-5000-ada", 32760, 576, 1044.4 / 4, 0.05);
    near("rtx-5000-ada", "fp8_tflops", g.fp8_flops / 1e12, 1044.4 / 2, 0.05);
    /* The Ada ratio used for the RTX 4000 holds in the datasheets:
     * 65.3 FP32 x 4 = 261.2 vs 1044.4 / 4 = 261.1. */
    near("rtx-5000-ada", "4 x FP32", 4 * 65.3, 1044.4 / 4, 0.15);

    /* GeForce: FP32-accumulate tensor rate = half the FP16-accumulate rate,
     * which is 4 x the FP32 rate (cores x 2 x boost clock; cores and clocks
     * from the RTX 30/40 spec tables, ids 15143732567 and 15702033343, except
     * the 3070's 1.725 GHz = ohdoking/gpu_spec's 20.31 TFLOPS; memory =
     * nvidia-smi totals cited in each row). */
    g = check("rtx-4080", 16376, 716.8, 0.5 * 4 * 9728 * 2 * 2.505e-3, 0.05);
    near("rtx-4080", "int8_tops", g.int8_ops / 1e12, 8 * 9728 * 2 * 2.505e-3, 0.05);
    near("rtx-4080", "fp8_tflops", g.fp8_flops / 1e12, 4 * 9728 * 2 * 2.505e-3, 0.05);
    g = check("rtx-4070-ti", 12282, 504, 0.5 * 4 * 7680 * 2 * 2.61e-3, 0.05);
    near("rtx-4070-ti", "int8_tops", g.int8_ops / 1e12, 8 * 7680 * 2 * 2.61e-3, 0.05);
    /* VladislavDuma/gpu_specs lists the 4070 Ti at 160 FP16-accumulate dense. */
    near("rtx-4070-ti", "FP16-accumulate", 2 * g.fp16_flops / 1e12, 160, 0.5);
    g = check("rtx-3070", 8192, 448, 0.5 * 4 * 5888 * 2 * 1.725e-3, 0.05);
    near("rtx-3070", "int8_tops", g.int8_ops / 1e12, 8 * 5888 * 2 * 1.725e-3, 0.05);
    g = check("rtx-3080", 10240, 760, 0.5 * 4 * 8704 * 2 * 1.71e-3, 0.05);
    near("rtx-3080", "int8_tops", g.int8_ops / 1e12, 8 * 8704 * 2 * 1.71e-3, 0.05);
    g = check("rtx-3080-ti", 12288, 912, 0.5 * 4 * 10240 * 2 * 1.665e-3, 0.05);
    near("rtx-3080-ti", "int8_tops", g.int8_ops / 1e12, 8 * 10240 * 2 * 1.665e-3, 0.05);
    /* The existing RTX 3090 row follows the same rule: 10496 x 2 x 1.695 x 2 = 71.2. */
    check("rtx-3090", 24576, 936, 0.5 * 4 * 10496 * 2 * 1.695e-3, 0.25);

    /* DGX Spark (GB10): CUDA total 121.69 GiB (MiaAI-Lab/...#47), 273 GB/s;
     * NVIDIA's 1 PFLOP FP4 with sparsity / 2 (dense) / 2 (FP8) / 2 (FP16). */
    g = check("dgx-spark", round(121.69 * 1024), 273, 1000.0 / 8, 0);
    near("dgx-spark", "fp8_tflops", g.fp8_flops / 1e12, 1000.0 / 4, 0);
    assert_true(g.unified_memory);
    assert_string_equal(g.interconnect, "none");

    /* RX 7900 XTX: rocm-smi 25753026560 B (ids 70285684689, 68978239252);
     * 960 GB/s; 96 CUs x 512 FP16 FLOP/clk (WMMA, id 69352164251) x 2.498 GHz. */
    g = check("rx-7900-xtx", 25753026560.0 / MIB, 960, 96 * 512 * 2.498e-3, 0.05);
    assert_string_equal(g.vendor, "AMD");
    assert_int_equal(g.fp8_flops, 0); /* RDNA3 has no FP8 */

    /* MI300X check: rocm-smi 206141652992 B (ROCm/legacy-rocm-build#4750);
     * 5.3 TB/s, BF16 1307.4 and FP8 2614.9 dense (alpharomercoma/MI300X-vs-H200
     * METHODOLOGY.md): FP8 is twice FP16 to AMD's rounding. */
    g = check("mi300x", 206141652992.0 / MIB, 5300, 1307.4, 0);
    near("mi300x", "fp8_tflops", g.fp8_flops / 1e12, 2 * 1307.4, 0.15);
    near("mi300x", "infinity fabric", g.interconnect_Bps / 1e9, 7 * 64, 1e-9);
}

static void test_apple(void **state)
{
    (void)state;
    sim_gpu g;
    /* Memory = the largest SKU in GiB x 1024; bandwidth = Apple's figure
     * (M4 Pro 273, M4 Max 546: 9to5mac / macrumors launch reports); FP32 GPU
     * TFLOPS in fp16_tflops (M4 Pro 9.2, M4 Max 18.4: code tables ids
     * 36745010304 and 53129171444; M3 Max 14.2 and M3 Ultra 28.4 = 2 x 14.2:
     * id 53129171444). */
    g = check("m4-pro", 64 * 1024, 273, 9.2, 0);
    assert_true(g.unified_memory);
    g = check("m4-max", 128 * 1024, 546, 18.4, 0);
    assert_true(g.unified_memory);
    near("m4-max", "M4 Max = 2 x M4 Pro", g.fp16_flops, 2 * gpu("m4-pro").fp16_flops, 1);
    check("m3-max", 128 * 1024, 400, 14.2, 0);
    check("m3-ultra", 512 * 1024, 819, 2 * 14.2, 0);
}

static void test_cpus(void **state)
{
    (void)state;
    sim_gpu g;

    /* EPYC 9654: 12 DDR5 channels x 4800 MT/s x 8 B (tomshardware 460.8 GB/s
     * per socket; Dell infohub: 12 DIMMs at 4800 MT/s); 12 x 64 GiB RDIMMs;
     * 96 cores x 64 BF16 FLOP/cycle (AVX-512 BF16 VDPBF16PS on 512 bits =
     * 32 products + 32 adds, one per cycle) x 2.4 GHz base (quattor
     * epyc_9654.pan). */
    g = check("cpu-epyc-9654", 12 * 64 * 1024, 12 * 4800e6 * 8 / 1e9, 96 * 64 * 2.4e-3, 0);
    assert_string_equal(g.vendor, "AMD");

    /* Xeon Platinum 8480+: 8 channels x 4800 MT/s x 8 B (servethehome: 4
     * tiles x 2 DDR5 channels; Intel system summary: DDR5 4800); 8 x 64 GiB;
     * 56 cores x 1024 BF16 FLOP/cycle (AMX TMUL) x 2.0 GHz base; INT8 2048
     * ops/cycle. */
    g = check("cpu-xeon-8480", 8 * 64 * 1024, 8 * 4800e6 * 8 / 1e9, 56 * 1024 * 2.0e-3, 0);
    near("cpu-xeon-8480", "int8_tops", g.int8_ops / 1e12, 56 * 2048 * 2.0e-3, 1e-9);
    assert_string_equal(g.vendor, "Intel");

    /* Ryzen 9 5950X: 2 DDR4 channels x 3200 MT/s x 8 B; 2 x 32 GiB; 16
     * cores x 32 FP32 FLOP/cycle (AVX2: 2 FMA x 8 lanes x 2) x 3.4 GHz base. */
    g = check("cpu-ryzen-5950x", 2 * 32 * 1024, 2 * 3200e6 * 8 / 1e9, 16 * 2 * 8 * 2 * 3.4e-3, 0);

    /* CPU rows: the model lives in the CPU's own memory, no device link. */
    const char *cpus[] = {"cpu-epyc-9654", "cpu-xeon-8480", "cpu-ryzen-5950x"};
    for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
        g = gpu(cpus[i]);
        assert_true(g.unified_memory);
        assert_string_equal(g.interconnect, "none");
        assert_true(g.interconnect_Bps == 0 && g.host_link_Bps == 0);
        assert_string_equal(g.verified, "partial");
    }
}

/* Rows added for the reference measurements (issue 11). Apple core-count
 * variants: FP32 TFLOPS = cores x the per-core rate of the same
 * generation's catalog row (m1-max 10.4 / 32, m2-ultra 27.2 / 76, m3-max
 * 14.2 / 40, m4-max 18.4 / 40), rounded to 0.01; bandwidth per tier from
 * the llama.cpp #4167 table; memory the chip's largest option. */
static void test_apple_variants(void **state)
{
    (void)state;
    static const struct {
        const char *name, *parent;
        double cores, parent_cores, gib, bw;
    } v[] = {
        {"m1", "m1-max", 8, 32, 16, 68.25},
        {"m1-7c", "m1-max", 7, 32, 16, 68.25},
        {"m1-pro", "m1-max", 16, 32, 32, 200},
        {"m1-pro-14c", "m1-max", 14, 32, 32, 200},
        {"m1-max-24c", "m1-max", 24, 32, 64, 400},
        {"m1-ultra-48c", "m1-max", 48, 32, 128, 800},
        {"m2", "m2-ultra", 10, 76, 24, 100},
        {"m2-8c", "m2-ultra", 8, 76, 24, 100},
        {"m2-pro", "m2-ultra", 19, 76, 32, 200},
        {"m2-pro-16c", "m2-ultra", 16, 76, 32, 200},
        {"m2-max-30c", "m2-ultra", 30, 76, 64, 400},
        {"m2-ultra-60c", "m2-ultra", 60, 76, 192, 800},
        {"m3", "m3-max", 10, 40, 24, 100},
        {"m3-pro", "m3-max", 18, 40, 36, 150},
        {"m3-pro-14c", "m3-max", 14, 40, 36, 150},
        {"m3-max-30c", "m3-max", 30, 40, 96, 300},
        {"m3-ultra-60c", "m3-max", 60, 40, 256, 819},
        {"m4", "m4-max", 10, 40, 32, 120},
        {"m4-pro-16c", "m4-max", 16, 40, 64, 273},
        {"m4-max-32c", "m4-max", 32, 40, 36, 410},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        double per_core = gpu(v[i].parent).fp16_flops / 1e12 / v[i].parent_cores;
        sim_gpu g = check(v[i].name, v[i].gib * 1024, v[i].bw, v[i].cores * per_core, 0.005);
        assert_true(g.unified_memory);
        assert_string_equal(g.vendor, "Apple");
        assert_string_equal(g.verified, "partial");
    }
    /* Apple's own figures agree with the per-core rule: M1 8-core 2.6, M1
     * Pro 16-core 5.2, M2 10-core 3.6 TFLOPS (launch figures). */
    near("m1", "Apple 2.6", gpu("m1").fp16_flops / 1e12, 2.6, 0.005);
    near("m1-pro", "Apple 5.2", gpu("m1-pro").fp16_flops / 1e12, 5.2, 0.005);
    near("m2", "Apple 3.6", gpu("m2").fp16_flops / 1e12, 3.6, 0.05);
}

/* Discrete GPUs added for the reference measurements: each rate from
 * cores x 2 x boost clock (the FP32 rate) and the rule the row's notes
 * state; cores, clocks and bandwidths as cited in the rows. */
static void test_measurement_gpus(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double mib, bw, cores, ghz, fp16_per_fp32;
    } v[] = {
        /* GeForce Ampere/Ada/Blackwell: FP16-accumulate tensor 4 x FP32, halved. */
        {"rtx-5080", 16384, 960, 10752, 2.617, 2},
        {"rtx-5070-ti", 16384, 896, 8960, 2.452, 2},
        {"rtx-5070", 12288, 672, 6144, 2.512, 2},
        {"rtx-4090-d", 24576, 1008, 14592, 2.52, 2},
        {"rtx-4070-ti-super", 16376, 672, 8448, 2.61, 2},
        {"rtx-4070-super", 12288, 504, 7168, 2.475, 2},
        {"rtx-4070", 12288, 504, 5888, 2.475, 2},
        {"rtx-4060-ti", 16380, 288, 4352, 2.535, 2},
        {"rtx-3090-ti", 24576, 1008, 10752, 1.86, 2},
        {"rtx-3060", 12288, 360, 3584, 1.777, 2},
        /* GeForce Turing: 8 x FP32 with FP16 accumulate, halved. */
        {"rtx-2080-ti", 11264, 616, 4352, 1.545, 4},
        {"rtx-2070-super", 8192, 448, 2560, 1.77, 4},
        {"rtx-2060-super", 8192, 448, 2176, 1.65, 4},
        /* Workstation parts at full rate: Ampere/Blackwell 4 x, Turing 8 x FP32. */
        {"rtx-pro-6000", 98304, 1792, 24064, 2.617, 4},
        {"rtx-a5000", 24576, 768, 8192, 1.695, 4},
        {"rtx-a4500", 20480, 640, 7168, 1.65, 4},
        {"rtx-a4000", 16384, 448, 6144, 1.56, 4},
        {"quadro-rtx-6000", 24576, 672, 4608, 1.77, 8},
        {"quadro-rtx-8000", 49152, 672, 4608, 1.77, 8},
        {"quadro-rtx-4000", 8192, 416, 2304, 1.545, 8},
        /* No tensor cores (Pascal, TU116): the FP32 rate. */
        {"gtx-1080-ti", 11264, 484, 3584, 1.582, 1},
        {"titan-xp", 12288, 547.7, 3840, 1.582, 1},
        {"p40", 24576, 347, 3840, 1.531, 1},
        {"gtx-1070-ti", 8192, 256, 2432, 1.683, 1},
        {"gtx-1070", 8192, 256, 1920, 1.683, 1},
        {"gtx-1660", 6144, 192, 1408, 1.785, 1},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        double fp32 = v[i].cores * 2 * v[i].ghz / 1000;
        sim_gpu g = check(v[i].name, v[i].mib, v[i].bw, v[i].fp16_per_fp32 * fp32, 0.05);
        assert_string_equal(g.verified, "partial");
    }
    /* Pascal and TU116 have no tensor cores; their int8 rate is dp4a at 4 x
     * FP32 (NVIDIA quotes 47 INT8 TOPS for the P40 = 4 x 11.76). */
    const char *dp4a[] = {"gtx-1080-ti", "titan-xp", "p40", "gtx-1070-ti", "gtx-1070", "gtx-1660"};
    for (size_t i = 0; i < sizeof(dp4a) / sizeof(dp4a[0]); i++) {
        sim_gpu g = gpu(dp4a[i]);
        near(dp4a[i], "int8 = 4 x FP32", g.int8_ops / 1e12, 4 * g.fp16_flops / 1e12, 0.1);
    }
    /* The published tensor figures the derivations should meet: NVIDIA's
     * 130.5 (Quadro RTX 6000/8000) and 57.0 (Quadro RTX 4000); the A-series
     * dense figures of search-index id 68793349157 (111, 94, 76);
     * VladislavDuma/gpu_specs' FP16-accumulate 176 (4070 Ti SUPER) and 88
     * (4060 Ti). */
    near("quadro-rtx-6000", "NVIDIA 130.5", gpu("quadro-rtx-6000").fp16_flops / 1e12, 130.5, 0.1);
    near("quadro-rtx-4000", "NVIDIA 57.0", gpu("quadro-rtx-4000").fp16_flops / 1e12, 57.0, 0.1);
    near("rtx-a5000", "111", gpu("rtx-a5000").fp16_flops / 1e12, 111, 0.5);
    near("rtx-a4500", "94", gpu("rtx-a4500").fp16_flops / 1e12, 94, 1);
    near("rtx-a4000", "76", gpu("rtx-a4000").fp16_flops / 1e12, 76, 1);
    near("rtx-4070-ti-super", "176 / 2", gpu("rtx-4070-ti-super").fp16_flops / 1e12, 176.0 / 2,
         0.5);
    near("rtx-4060-ti", "88 / 2", gpu("rtx-4060-ti").fp16_flops / 1e12, 88.0 / 2, 0.5);
    /* Data-centre rows from published dense figures. */
    check("l40", 46068, 864, 181.0, 0);
    check("a30", 24576, 933, 165, 0);
    check("t4", 15360, 320, 65, 0);
    check("titan-v", 12288, 652.8, 110, 0);
    /* RDNA3 WMMA: CUs x 512 FP16 FLOP/clock x boost, as the rx-7900-xtx row;
     * RDNA2 (no matrix units): CUs x 128 FP32 FLOP/clock. */
    check("rx-7900-xt", 20480, 800, 84 * 512 * 2.4e-3, 0.05);
    check("rx-7900-gre", 16384, 576, 80 * 512 * 2.245e-3, 0.05);
    check("rx-7800-xt", 16384, 624, 60 * 512 * 2.43e-3, 0.05);
    check("rx-6900-xt", 16384, 512, 80 * 128 * 2.25e-3, 0.005);
    check("rx-6800-xt", 16384, 512, 72 * 128 * 2.25e-3, 0.005);
    check("rx-6700-xt", 12288, 384, 40 * 128 * 2.581e-3, 0.005);
    sim_gpu g =
        check("ryzen-ai-max-395", 128 * 1024, 256 * 8000e6 / 8 / 1e9, 40 * 512 * 2.9e-3, 0.05);
    assert_true(g.unified_memory);
    /* Intel XMX: dense FP16 = the INT8 TOPS Intel quotes / 2. */
    check("arc-b580", 12288, 456, 233 / 2.0, 0.05);
    check("arc-b570", 10240, 380, 203 / 2.0, 0.05);
    check("arc-pro-b60", 24576, 456, 197 / 2.0, 0.05);
    check("arc-pro-b50", 16384, 224, 170 / 2.0, 0.05);
}

/* Every row names its source, says how far it is verified, and keeps its
 * source and notes short enough that the loader does not cut them. */
static void test_every_row_sourced(void **state)
{
    (void)state;
    size_t n = sim_gpu_count();
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        sim_gpu g;
        assert_int_equal(sim_gpu_at(i, &g), 0);
        if (g.source[0] == '\0')
            fail_msg("%s has no source", g.name);
        if (strcmp(g.verified, "yes") != 0 && strcmp(g.verified, "partial") != 0 &&
            strcmp(g.verified, "no") != 0)
            fail_msg("%s: verified '%s'", g.name, g.verified);
        if (strlen(g.source) >= sizeof(g.source) - 1 || strlen(g.notes) >= sizeof(g.notes) - 1)
            fail_msg("%s: source or notes cut at %zu characters", g.name, sizeof(g.source) - 1);
        assert_true(g.memory_bytes > 0 && g.mem_bw_Bps > 0);
    }
}

/* Every row names its architecture, one kvsim knows (sim/catalog.h),
 * and a part of each generation maps to its chip's: NVIDIA by compute
 * capability (TU102 Turing 7.5, GP102 Pascal 6.1, GV100 Volta 7.0, GA100
 * and GA102 Ampere 8.x, AD102 Ada 8.9, GH100 Hopper 9.0, GB202 Blackwell
 * 12.0), AMD by gfx target, Apple and Intel by chip generation. */
static void test_arch(void **state)
{
    (void)state;
    for (size_t i = 0; i < sim_gpu_count(); i++) {
        sim_gpu g;
        assert_int_equal(sim_gpu_at(i, &g), 0);
        if (sim_arch_index(g.arch) < 0)
            fail_msg("%s: arch '%s' is not one kvsim knows", g.name, g.arch);
    }
    static const char *const want[][2] = {
        {"rtx-2080-ti", "turing"},
        {"t4", "turing"},
        {"gtx-1660", "turing"},
        {"gtx-1080-ti", "pascal"},
        {"p40", "pascal"},
        {"titan-v", "volta"},
        {"a100-80gb", "ampere"},
        {"rtx-3090", "ampere"},
        {"rtx-4090", "ada"},
        {"l40s", "ada"},
        {"h100-sxm", "hopper"},
        {"b200", "blackwell"},
        {"rtx-5090", "blackwell-rtx"},
        {"mi300x", "cdna3"},
        {"rx-7900-xtx", "rdna3"},
        {"rx-6900-xt", "rdna2"},
        {"m2-ultra", "apple-m2"},
        {"arc-b580", "xe2"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        sim_gpu g;
        char err[256];
        assert_int_equal(sim_gpu_lookup(want[i][0], &g, err, sizeof(err)), 0);
        if (strcmp(g.arch, want[i][1]) != 0)
            fail_msg("%s: arch '%s', want '%s'", want[i][0], g.arch, want[i][1]);
    }
    assert_int_equal(sim_arch_index(""), -1);
    assert_int_equal(sim_arch_index("kepler"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_gpus),
        cmocka_unit_test(test_apple),
        cmocka_unit_test(test_cpus),
        cmocka_unit_test(test_apple_variants),
        cmocka_unit_test(test_measurement_gpus),
        cmocka_unit_test(test_every_row_sourced),
        cmocka_unit_test(test_arch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
