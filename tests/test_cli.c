/*
 * test_cli.c: the kvsim command as a user meets it. Every bad option or
 * name gives exactly one line on stderr naming what was wrong, and a
 * non-zero exit; --help describes every option; a good run writes the
 * three output files.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/test_proc.h"

static char out[65536];

/* Runs "kvsim ARGS" (through sh), capturing stdout and stderr; returns the exit status. */
static int kvsim(const char *args)
{
    return test_kvsim(args, out, sizeof(out));
}

#define RUN "run --trace traces/samples/tiny.csv --gpu a100-80gb --model llama-2-7b --quiet "

static void expect_error(const char *args, const char *needle)
{
    int rc = kvsim(args);
    if (rc == 0 || strstr(out, needle) == NULL || test_count_lines(out) != 1 ||
        strncmp(out, "kvsim: ", 7) != 0)
        fail_msg("kvsim %s\n  exit %d, wanted non-zero and one line with '%s'; got:\n%s", args, rc,
                 needle, out);
}

static void test_bad_options(void **state)
{
    (void)state;
    expect_error(RUN "--mem-util 1.5", "--mem-util: '1.5' is not a number in (0, 1]");
    /* Decimal numbers only: strtod would read '0x10' as 16, ' 5' as 5. */
    expect_error(RUN "--kv-pool-gib 0x10", "--kv-pool-gib: '0x10' is not a number in");
    expect_error(RUN "--mem-util ' 0.5'", "--mem-util: ' 0.5' is not a number in (0, 1]");
    expect_error(RUN "--goodput ttft:0x10", "ttft: '0x10' is not a non-negative number");
    expect_error("run --workload 'sharegpt:n=10,rate=0x4' --gpu h100-sxm --model llama-3.1-8b",
                 "sharegpt: rate: '0x4' is not a number in");
    expect_error(RUN "--mem-util abc", "--mem-util: 'abc'");
    expect_error(RUN "--mem-util ''", "--mem-util: ''");
    /* The error names the option as typed, not its alias. */
    expect_error(RUN "--gpu-memory-utilization 1.5", "--gpu-memory-utilization: '1.5'");
    expect_error(RUN "--max-num-seqs 0", "--max-num-seqs: '0'");
    expect_error(RUN "--max-num-seqs -3", "--max-num-seqs: '-3'");
    expect_error(RUN "--max-num-seqs 99999999999999999999999", "--max-num-seqs");
    expect_error(RUN "--block-size 16x", "--block-size: '16x'");
    expect_error(RUN "--kv-pool-gib -1", "--kv-pool-gib: '-1'");
    expect_error(RUN "--kv-pool-gib nan", "--kv-pool-gib: 'nan'");
    /* A pool too small for one paged block, or more blocks than the block
     * table holds, named as such (the message named no option): 0.0001 GiB
     * is 107,374 bytes, a block 16 tokens x 524,288 bytes of llama-2-7b's
     * fp16 KV per token; the table holds 2^32 / 4 - 1 = 1,073,741,823. */
    expect_error(RUN "--kv-pool-gib 0.0001",
                 "--allocator paged: a KV pool of 107374 bytes holds 0 blocks of 8388608 bytes "
                 "(16 tokens); need 1..1073741823 blocks");
    expect_error(RUN "--num-blocks 2000000000",
                 "--num-blocks 2000000000: the paged allocator holds at most 1073741823 blocks");
    expect_error(RUN "--seed", "--seed needs a value");
    /* Filters that keep nothing: an error, as an empty trace is. */
    expect_error(RUN "--time-window 1e6:2e6",
                 "traces/samples/tiny.csv: the time window [1e+06, 2e+06) s kept none of the 40 "
                 "requests read");
    expect_error(RUN "--sample 0.0001", "sampling at 0.0001 kept none of the 40 requests read");
    /* Reading stops at the first arrival past the window: one read. */
    expect_error(RUN "--time-window 0:0.001", "kept none of the 1 request read");
    expect_error(RUN "--bogus 1", "unknown option '--bogus'");
    expect_error(RUN "--dtype fp4", "--dtype: unknown format 'fp4'");
    expect_error(RUN "--dtype awq", "give it as --quantization awq");
    expect_error(RUN "--dtype Q4_K_M", "give it as --quantization Q4_K_M");
    /* Formats and speculation (issue 9). */
    expect_error(RUN "--quantization q4_K", "--quantization: unknown format 'q4_K'");
    expect_error(RUN "--quantization fp8_e5m2", "--quantization: not a weight format");
    expect_error(RUN "--quantization awq:group=100", "group 100 must be a power of two");
    expect_error(RUN "--kv-cache-dtype int4:group=32,residual=48",
                 "residual 48 must be a multiple");
    expect_error(RUN "--kv-cache-dtype Q4_K_M", "--kv-cache-dtype: not a KV-cache format");
    expect_error(RUN "--dtype fp32 --quantization awq", "kvsim keeps the unquantized tensors");
    expect_error("run --trace traces/samples/tiny.csv --gpu m1-max --model llama-2-7b "
                 "--quantization int8",
                 "no int8_tops in catalog/gpus.csv");
    expect_error(RUN "--speculative-config '{\"method\": \"ngram\"}'",
                 "--speculative-config: \"num_speculative_tokens\"");
    expect_error(RUN "--speculative-config '{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                     "\"acceptance_rate\": 0.5}' --scheduler vllm-v0",
                 "modelled on vLLM V1's scheduler");
    expect_error(RUN "--speculative-config '{\"method\": \"draft_model\", \"model\": "
                     "\"llama-3.2-1b\", \"num_speculative_tokens\": 3, \"acceptance_rate\": 0.5}'",
                 "vocabulary of 128256");
    expect_error("fit --model llama-3.1-8b --context 0", "--context: '0'");
    expect_error("fit --model llama-3.1-8b --quantization awq:group=4096",
                 "not a multiple of the 4096-value group");
    expect_error("fit --gpu h100-sxm", "--model NAME is required");
    expect_error("fit --model llama-3.1-8b --contxt 100",
                 "fit: unknown option '--contxt': did you mean --context?");
    /* Two names of one option: both named (it said "--users given twice"
     * of one --users after --batch). */
    expect_error("fit --model llama-3.1-8b --batch 2 --users 3",
                 "--users given twice (--batch and --users are one option)");
    expect_error("fit --model llama-3.1-8b --context 2 --context 3", "--context given twice");
    expect_error(RUN "--engine sglang", "--engine: unknown engine preset 'sglang'");
    expect_error(RUN "--tp-step-ms -1", "--tp-step-ms: '-1'");
    /* A roofline term beside a measured profile changed nothing, silently:
     * refused (README, Measured step profiles); with speculation a
     * drafter's per-pass terms price its passes, and stay. The others were
     * accepted with any --speculative-config and changed nothing: ngram's
     * (no drafter), draft_time_ratio's (the profile prices the drafts),
     * and the per-step and all-reduce terms (the drafter has none; found
     * by tests/fuzz/combos.py: kvsim compare ran --step-overhead-ms that
     * its baseline alone refused). */
#define PROFILE "--step-profile catalog/profiles/h100-sxm_llama-3.1-8b_roofline.csv "
#define SPEC(m) "--speculative-config '{\"method\": \"" m "\", \"num_speculative_tokens\": 2, "
    expect_error(RUN PROFILE "--bw-eff 0.5", "--bw-eff with --step-profile: the measured step");
    expect_error(RUN PROFILE "--seq-overhead-us 0", "--seq-overhead-us with --step-profile");
    expect_error(RUN PROFILE "--enforce-eager", "--enforce-eager with --step-profile");
    assert_int_equal(kvsim(RUN PROFILE "--bw-eff 0.5 --layer-overhead-us 5 --enforce-eager " SPEC(
                         "eagle") "\"acceptance_rate\": 0.5}'"),
                     0);
    expect_error(RUN PROFILE "--bw-eff 0.5 " SPEC("ngram") "\"acceptance_rate\": 0.5}'",
                 "--bw-eff with --step-profile and --speculative-config: the measured step times "
                 "replace the roofline it sets, and ngram drafts on the host");
    expect_error(RUN PROFILE "--flops-eff 0.5 " SPEC(
                     "eagle") "\"acceptance_rate\": 0.5, \"draft_time_ratio\": 0.1}'",
                 "and draft_time_ratio prices the drafts through the profile");
    expect_error(RUN PROFILE "--step-overhead-ms 20 " SPEC("eagle") "\"acceptance_rate\": 0.5}'",
                 "--step-overhead-ms with --step-profile and --speculative-config: the measured "
                 "step times replace the roofline it sets, and the drafter's passes take only its "
                 "per-pass terms");
    expect_error("compare --workload sharegpt:n=5 --gpu a100-80gb --model llama-2-7b " PROFILE
                 "--allreduce-busbw 10 " SPEC("eagle") "\"acceptance_rate\": 0.5}'",
                 "--allreduce-busbw with --step-profile and --speculative-config");
#undef SPEC
#undef PROFILE
    /* fp32 weights: no catalog rate (the 16-bit tensor figure would be
     * several times too fast); --peak-tflops gives one. */
    expect_error(RUN "--dtype fp32", "fp32 weights multiply on a100-80gb's CUDA cores");
    expect_error(RUN "--format csv", "--format: unknown format 'csv'");
    expect_error(RUN "--allocator buddy", "unknown strategy 'buddy'");
    expect_error(RUN "--allocator paged:block=0", "block='0'");
    expect_error(RUN "--block-size 8 --allocator paged", "--block-size and --allocator");
    /* An empty spec, or a parameter twice (the last one won, silently). */
    expect_error(RUN "--allocator ''", "--allocator: empty spec");
    expect_error(RUN "--allocator paged:block=16,block=32", "block given twice");
    expect_error(RUN "--allocator contiguous:reserve=max,fit=first,reserve=pow2",
                 "reserve given twice");
    expect_error(RUN "--seed 1 --seed 2", "--seed given twice");
    /* A value with a newline still gives one line (control characters as '?'). */
    expect_error(RUN "--mem-util \"$(printf '0.5\\nX')\"", "--mem-util: '0.5?X'");
    expect_error(RUN "--n 0", "--n: '0'");
    expect_error(RUN "--n 300", "--n 300 cannot exceed --max-num-seqs (256)");
}

static void test_bad_names_and_files(void **state)
{
    (void)state;
    expect_error("run --trace traces/samples/tiny.csv --gpu a100 --model llama-2-7b",
                 "GPU 'a100' is ambiguous: a100-40gb, a100-80gb");
    expect_error("run --trace traces/samples/tiny.csv --gpu a10x --model llama-2-7b",
                 "unknown GPU 'a10x'; closest: a10g");
    expect_error("run --trace traces/samples/tiny.csv --gpu h100-sxm --model llama3-8b",
                 "unknown model 'llama3-8b'");
    expect_error("run --trace /nonexistent.csv.gz --gpu h100-sxm --model llama-3.1-8b",
                 "/nonexistent.csv.gz");
    expect_error("run --gpu h100-sxm --model llama-3.1-8b", "--trace FILE is required");
    /* vLLM's spellings: a HuggingFace id (kvsim reads no hub: the
     * catalog's closest names), vllm bench serve's --num-prompts. */
    expect_error("run --gpu h100-sxm --model meta-llama/Llama-3.1-8B-Instruct --workload sharegpt",
                 "kvsim does not read the HuggingFace Hub: give a catalog name (closest: "
                 "llama-3.1-8b,");
    expect_error("run --num-prompts 10 --gpu h100-sxm --model llama-3.1-8b --workload sharegpt",
                 "unknown option '--num-prompts': vLLM's; kvsim's: --limit N");
    expect_error(RUN "--num-gpu-blocks-override 100",
                 "unknown option '--num-gpu-blocks-override': vLLM's; kvsim's: --num-blocks N");
    expect_error(RUN "--data-parallel-size 2", "vLLM's; kvsim's: --replicas N");
    /* A directory where a file goes opens, then fails to read: the reason
     * is named (it said "read error"). */
    expect_error(RUN "--step-profile tests/data", "--step-profile tests/data: cannot read: Is a "
                                                  "directory");
    expect_error("validate --data tests/data", "tests/data: cannot read: Is a directory");
    expect_error("calibrate --data tests/data --out /tmp/kvsim_cal_dir_never",
                 "tests/data: cannot read: Is a directory");
    expect_error("run --trace traces/samples/tiny.csv --gpu rtx-4090 --model llama-2-70b",
                 "does not fit on rtx-4090");
    /* Hardware (issue 8): a TP size the heads refuse, a device without a
     * figure, a link the catalog lacks, an offload that does not fit, a
     * config kvsim does not understand. */
    expect_error("run --trace traces/samples/tiny.csv --gpu h100-sxm --model llama-3.1-70b -tp 3",
                 "64 attention heads are not a multiple");
    expect_error("run --trace traces/samples/tiny.csv --gpu m1-max --model llama-3.1-8b "
                 "--peak-tflops 0",
                 "--peak-tflops: '0'");
    expect_error(RUN "--host-link-gbps 0", "--host-link-gbps: '0' is not a number in (0, 100000]");
    expect_error(RUN "--host-link-gbps fast", "--host-link-gbps: 'fast'");
    expect_error("run --trace traces/samples/tiny.csv --gpu m1-max --model llama-3.1-8b "
                 "--host-link-gbps 16",
                 "m1-max has unified memory");
    expect_error("run --trace traces/samples/tiny.csv --gpu dgx-spark --model llama-3.1-8b -tp 2",
                 "no GPU-to-GPU link");
    /* What the engine does not run (sim/support.c): vLLM on an Apple GPU,
     * bf16 before Ampere, llama.cpp's cache types under vLLM, a Metal
     * preset on NVIDIA, MTP without MTP layers, a length past the model's
     * positions. */
    expect_error("run --trace traces/samples/tiny.csv --gpu m1-max --model llama-3.1-8b",
                 "vLLM has no Metal backend");
    expect_error("run --trace traces/samples/tiny.csv --gpu t4 --model llama-3.2-1b --dtype bf16",
                 "bf16 needs compute capability 8.0 or higher in vLLM; t4 (turing) has 7.5");
    expect_error("run --trace traces/samples/tiny.csv --gpu t4 --model llama-3.2-1b "
                 "--quantization fp8",
                 "need compute capability 8.0; t4 (turing) has 7.5");
    expect_error("run --trace traces/samples/tiny.csv --gpu p40 --model llama-3.2-1b",
                 "vLLM needs compute capability 7.0 or higher; p40 (pascal) has 6.1");
    expect_error(RUN "--kv-cache-dtype q4_0", "q4_0 is llama.cpp's cache type");
    expect_error(RUN "--engine llamacpp-metal", "fitted on Apple GPUs");
    expect_error(RUN "--engine llamacpp --quantization awq", "llama.cpp reads GGUF files");
    expect_error(RUN "--speculative-config "
                     "'{\"method\": \"mtp\", \"num_speculative_tokens\": 1, "
                     "\"acceptance_rate\": 0.8}'",
                 "\"mtp\" drafts with the model's own multi-token-prediction layers");
    expect_error(RUN "--max-model-len 200000",
                 "above the 4096 positions llama-2-7b was trained for");
    /* A yarn rope_scaling raises the limit as vLLM derives it (32768 x 4),
     * and a model with an MTP layer drafts with "mtp". */
#define YARN                                                                                       \
    "run --workload sharegpt:n=5 --gpu h100-sxm --model "                                          \
    "tests/data/models/qwen2.5-7b-yarn-mtp.json "
    assert_int_equal(kvsim(YARN "--max-model-len 131072 --quiet"), 0);
    expect_error(YARN "--max-model-len 131073", "above the 131072 positions");
    assert_int_equal(kvsim(YARN "--quiet --speculative-config '{\"method\": \"mtp\", "
                                "\"num_speculative_tokens\": 1, \"acceptance_rate\": 0.8}'"),
                     0);
#undef YARN
    /* --engine auto: the device's own engine (llama.cpp's Metal preset on
     * an Apple GPU), and no preset for a CPU. */
    assert_int_equal(
        kvsim("run --trace traces/samples/tiny.csv --gpu m2-ultra --model llama-3.1-8b "
              "--engine auto"),
        0);
    assert_non_null(strstr(out, "engine llamacpp-metal"));
    expect_error("run --trace traces/samples/tiny.csv --gpu cpu-epyc-9654 --model llama-3.1-8b "
                 "--engine auto",
                 "cpu-epyc-9654 is a CPU");
    expect_error("run --trace traces/samples/tiny.csv --gpu mi300x --model llama-3.1-8b -tp 2",
                 "no measured all-reduce figure");
    expect_error("run --trace traces/samples/tiny.csv --gpu rtx-4060 --model llama-3.1-8b "
                 "--max-model-len 4096 --gpu-layers 30 --host cpu-ryzen-5950x",
                 "the largest that fits is --gpu-layers 10");
    expect_error("run --trace traces/samples/tiny.csv --gpu rtx-4060 --model llama-3.1-8b "
                 "--max-model-len 4096 --gpu-layers 8",
                 "--host NAME");
    /* --gpu-layers 0 needs the link too (a prompt's host layers run on the
     * GPU over it): it ran into 'a step of inf s' on a device without one
     * (found by tests/fuzz/combos.py). */
    expect_error("run --trace traces/samples/tiny.csv --gpu dgx-spark --model llama-3.1-8b "
                 "--engine llamacpp --gpu-layers 0 --host cpu-epyc-9654",
                 "--gpu-layers: dgx-spark has no host link bandwidth in the catalog");
    /* A pool too small for one max_model_len sequence names the longest
     * that fits, also where the allocator reserves max_model_len whatever
     * the sequence (it said 'at most 0 tokens ... 0 or less'), and that
     * length starts. */
    expect_error(RUN "--num-blocks 100 --max-model-len 4096 --allocator paged",
                 "(it holds at most 1600 tokens): raise --gpu-memory-utilization, --kv-pool-gib or "
                 "--num-blocks, or set --max-model-len 1600 or less");
    expect_error(RUN "--num-blocks 100 --max-model-len 4096 --allocator "
                     "contiguous:reserve=max,fit=first",
                 "set --max-model-len 1600 or less");
    expect_error(RUN "--num-blocks 100 --max-model-len 4096 --allocator contiguous:reserve=max",
                 "set --max-model-len 1024 or less");
    /* jemalloc places 1,600 tokens (800 MiB of Llama-2-7B KV) in its
     * 896 MiB size class, past the 800 MiB pool: 1,536 (768 MiB, a
     * class of its own, and a page for the large extent's offset). */
    expect_error(RUN "--num-blocks 100 --max-model-len 4096 --allocator jemalloc:reserve=max",
                 "set --max-model-len 1536 or less");
    assert_int_equal(kvsim(RUN "--num-blocks 100 --max-model-len 1536 --allocator "
                               "jemalloc:reserve=max"),
                     0);
    /* A pool too small for jemalloc's own arena metadata is named as such
     * (it said 'mallctl arenas.create failed'); a request rejected before
     * any buffer was made leaves jemalloc's free-space scan nothing to sort
     * (qsort of a null array, UBSan under make asan). Both found by
     * tests/fuzz/combos.py. */
    expect_error("run --workload 'batch:n=3;in=fixed:10;out=fixed:5' --gpu h100-sxm --model "
                 "llama-3.2-3b --allocator jemalloc --num-blocks 1 --max-model-len 16",
                 "jemalloc cannot make its arena in a 1.75 MiB pool");
    assert_int_equal(kvsim("run --workload 'batch:n=1;in=fixed:200;out=fixed:5' --gpu h100-sxm "
                           "--model llama-3.2-1b --scheduler orca --num-blocks 32 "
                           "--max-model-len 448 --n 2 --allocator jemalloc --quiet"),
                     0);
    assert_int_equal(kvsim(RUN "--num-blocks 100 --max-model-len 1600 --allocator "
                               "contiguous:reserve=max,fit=first"),
                     0);
    assert_int_equal(kvsim(RUN "--num-blocks 100 --max-model-len 1024 --allocator "
                               "contiguous:reserve=max"),
                     0);
    expect_error("model \"$(mktemp -d)/none.json\"", "cannot open");
    /* Review of the merged work: combinations kvsim does not model are
     * refused; a quantized checkpoint's config is read or refused. */
    expect_error("run --trace traces/samples/tiny.csv --gpu h100-sxm --model llama-3.1-8b "
                 "--max-model-len 4096 -pp 2 --speculative-config "
                 "'{\"method\":\"ngram\",\"num_speculative_tokens\":2,\"acceptance_rate\":0.5}'",
                 "not with --pipeline-parallel-size");
    expect_error("run --trace traces/samples/tiny.csv --gpu rtx-4090 --model llama-3.1-8b "
                 "--max-model-len 4096 --gpu-layers 8 --host h100-sxm",
                 "the offloaded layers run on a CPU");
    {
        char cfg[256], cmd[512];
        snprintf(cfg, sizeof(cfg), "/tmp/kvsim_q_%d.json", (int)getpid());
        FILE *f = fopen(cfg, "w");
        assert_non_null(f);
        fputs("{\"model_type\": \"llama\", \"hidden_size\": 4096, \"num_hidden_layers\": 32,"
              " \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
              " \"intermediate_size\": 14336, \"vocab_size\": 128256,"
              " \"max_position_embeddings\": 8192, \"tie_word_embeddings\": false,"
              " \"quantization_config\": {\"quant_method\": \"bitsandbytes\"}}",
              f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "run --trace traces/samples/tiny.csv --gpu rtx-4090 --model %s",
                 cfg);
        expect_error(cmd, "quant_method 'bitsandbytes'");
        unlink(cfg);
    }
    expect_error("frobnicate", "unknown command 'frobnicate'");
    expect_error("list disks", "list:");
}

static void test_compare(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_cmp_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512];
    snprintf(args, sizeof(args),
             "compare --allocators paged:block=32,contiguous:reserve=oracle,fit=first,vattn "
             "--trace traces/samples/tiny.csv --gpu a100-40gb --model opt-13b --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    /* One row per strategy in each table; the spec with a continued
     * parameter stays whole. */
    assert_non_null(strstr(out, "paged:block=32 "));
    assert_non_null(strstr(out, "contiguous:reserve=oracle,fit=first "));
    assert_non_null(strstr(out, "vattn "));
    /* The abbreviated columns are explained; extidx, printed beside the
     * at-peak shares, is a time average and not a share. */
    assert_non_null(strstr(out, "blkd: free space while that head needs more than all of it; "
                                "extidx: external fragmentation index, 1 - largest free extent / "
                                "free space, averaged over time, not a %;"));
    /* --quiet prints nothing (but errors), and still writes the files. */
    strncat(args, " --quiet", sizeof(args) - strlen(args) - 1);
    assert_int_equal(kvsim(args), 0);
    assert_string_equal(out, "");
    char cmd[1400];
    /* Its latencies are the run's own, in ms (vattn's median TTFT in
     * compare.csv, column 20, against its summary.json's vllm_bench key,
     * to the CSV's six decimals); they were the log histogram's, in
     * seconds. */
    snprintf(cmd, sizeof(cmd),
             "test $(wc -l < %s/compare.csv) -eq 4 && test -s %s/compare.json "
             "&& head -1 %s/compare.csv | cut -d, -f20-23 | grep -qx "
             "'median_ttft_ms,p99_ttft_ms,median_tpot_ms,p99_tpot_ms' "
             "&& c=$(grep '^\"vattn\"' %s/compare.csv | cut -d, -f20) "
             "&& s=$(grep -o '\"median_ttft_ms\": [^,]*' %s/vattn/summary.json | cut -d' ' -f2) "
             "&& test \"$c\" = \"$(printf %%.6f \"$s\")\" && rm -r %s",
             dir, dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);

    /* --trace -: every arm reads standard input from its start, so the
     * tables are those of the file read by name less its name (the second
     * arm had read an empty file: "<stdin>:1: empty file"). */
    assert_int_equal(kvsim("compare --allocators paged,contiguous --trace "
                           "traces/samples/tiny.csv --gpu a100-40gb --model opt-13b 2>/dev/null"),
                     0);
    char *by_name = strdup(out);
    assert_non_null(by_name);
    assert_int_equal(kvsim("compare --allocators paged,contiguous --trace - --gpu a100-40gb "
                           "--model opt-13b 2>/dev/null < traces/samples/tiny.csv"),
                     0);
    char *named = strstr(by_name, "traces/samples/tiny.csv"), *piped = strstr(out, "<stdin>");
    assert_non_null(named);
    assert_non_null(piped);
    assert_memory_equal(by_name, out, (size_t)(named - by_name));
    assert_string_equal(named + strlen("traces/samples/tiny.csv"), piped + strlen("<stdin>"));
    free(by_name);

    /* Formats and speculation side by side (issue 9). */
    assert_int_equal(kvsim("compare --kv-cache-dtypes fp16,int4:group=16,residual=32,q8_0 "
                           "--engine llamacpp "
                           "--trace traces/samples/tiny.csv --gpu a100-40gb --model llama-3.1-8b "
                           "2>/dev/null"),
                     0);
    assert_non_null(strstr(out, "\nfp16 "));
    assert_non_null(strstr(out, "\nint4:group=16,residual=32 "));
    assert_non_null(strstr(out, "\nq8_0 "));
    assert_non_null(strstr(out, " 69632 ")); /* q8_0 bytes per token of Llama-3.1-8B */
    assert_int_equal(
        kvsim("compare --speculative-config '{\"method\": \"ngram\", "
              "\"num_speculative_tokens\": 3, \"acceptance_rate\": 0.5}' --trace "
              "traces/samples/tiny.csv --gpu a100-40gb --model llama-3.1-8b 2>/dev/null"),
        0);
    assert_non_null(strstr(out, "\nno speculation "));
    assert_non_null(strstr(out, "\nspeculative "));
    /* With --out they write compare.csv and .json as the allocators' do,
     * their first column naming what differs, and kvsim report reads
     * them (it had refused the folder: no compare.csv). */
    char fdir[] = "/tmp/kvsim_cmpf_XXXXXX";
    assert_non_null(mkdtemp(fdir));
    snprintf(
        args, sizeof(args),
        "compare --kv-cache-dtypes fp16,q8_0 --engine llamacpp --trace traces/samples/tiny.csv "
        "--gpu a100-40gb "
        "--model llama-3.1-8b --quiet --out %s",
        fdir);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof(cmd),
             "test $(wc -l < %s/compare.csv) -eq 3 && head -1 %s/compare.csv | grep -q "
             "'^kv_cache_dtype,pool_bytes,' && grep -q '^\"q8_0\",' %s/compare.csv && "
             "grep -q '\"kv_cache_dtype\": \"q8_0\"' %s/compare.json && test -s "
             "%s/compare.svg && test -s %s/q8_0/summary.json",
             fdir, fdir, fdir, fdir, fdir, fdir);
    assert_int_equal(system(cmd), 0);
    /* --no-plot: the files without the bars. */
    snprintf(
        args, sizeof(args),
        "compare --kv-cache-dtypes fp16,q8_0 --engine llamacpp --trace traces/samples/tiny.csv "
        "--gpu a100-40gb "
        "--model llama-3.1-8b --quiet --no-plot --out %s/np",
        fdir);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof(cmd), "test -s %s/np/compare.csv && test ! -e %s/np/compare.png", fdir,
             fdir);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof(args), "report %s", fdir);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof(cmd), "grep -q 'Runs by KV-cache format' %s/report.html && rm -r %s", fdir,
             fdir);
    assert_int_equal(system(cmd), 0);
    char sdir[] = "/tmp/kvsim_cmps_XXXXXX";
    assert_non_null(mkdtemp(sdir));
    snprintf(args, sizeof(args),
             "compare --speculative-config '{\"method\": \"ngram\", "
             "\"num_speculative_tokens\": 3, \"acceptance_rate\": 0.5}' --trace "
             "traces/samples/tiny.csv --gpu a100-40gb --model llama-3.1-8b --quiet --out %s",
             sdir);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof(cmd),
             "test $(wc -l < %s/compare.csv) -eq 3 && head -1 %s/compare.csv | grep -q "
             "'^speculative,' && grep -q '^\"baseline\",' %s/compare.csv && test -s "
             "%s/speculative/summary.json && rm -r %s",
             sdir, sdir, sdir, sdir, sdir);
    assert_int_equal(system(cmd), 0);
    expect_error(
        "compare --quantizations fp16,awq --quantization fp8 --trace traces/samples/tiny.csv "
        "--gpu a100-40gb --model llama-3.1-8b",
        "give the formats in the list");
    expect_error("compare --quantizations fp16,q9 --trace traces/samples/tiny.csv --gpu a100-40gb "
                 "--model llama-3.1-8b",
                 "--quantization: unknown format 'q9'");
    expect_error(RUN "--kv-cache-dtypes fp16,fp8", "unknown option '--kv-cache-dtypes'");
    /* An empty or repeated format list, or formats with --allocators (the
     * formats were dropped without a word): refused. */
#define CMPT " --trace traces/samples/tiny.csv --gpu a100-40gb --model llama-3.1-8b"
    expect_error("compare --kv-cache-dtypes ''" CMPT, "--kv-cache-dtypes: empty list");
    expect_error("compare --kv-cache-dtypes fp16,fp16" CMPT, "'fp16' is listed twice");
    expect_error("compare --allocators paged,vattn --kv-cache-dtypes fp16,fp8" CMPT,
                 "--allocators and --kv-cache-dtypes: one comparison at a time");
#undef CMPT
    expect_error("compare --trace traces/samples/tiny.csv --gpu a100-40gb --model opt-13b",
                 "say what to compare: --allocators SPEC,..., --kv-cache-dtypes");
    expect_error("compare --allocators paged,buddy --trace traces/samples/tiny.csv --gpu a100-40gb "
                 "--model opt-13b",
                 "unknown strategy 'buddy'");
    expect_error("compare --allocators fit=first,paged --trace traces/samples/tiny.csv --gpu "
                 "a100-40gb --model opt-13b",
                 "has no strategy before it");
    expect_error("compare --allocators paged, --trace traces/samples/tiny.csv --gpu a100-40gb "
                 "--model opt-13b",
                 "trailing comma");
    expect_error("compare --allocators contiguous:fit=worst --trace traces/samples/tiny.csv --gpu "
                 "a100-40gb --model opt-13b",
                 "fit='worst'");
    expect_error(RUN "--allocators paged", "unknown option '--allocators'");
    expect_error("compare --allocators '' --trace traces/samples/tiny.csv --gpu a100-40gb "
                 "--model opt-13b",
                 "--allocators: empty list");
}

/*
 * --num-blocks sizes one pool for every strategy of a compare: N blocks of
 * the first paged spec's size (README, KV allocators). OPT-13B's KV is
 * 819,200 bytes a token (2 x 40 layers x 40 heads x 128 x 2 bytes), so
 * 100 blocks of 32 tokens are 3,200 tokens, 2,621,440,000 bytes, for
 * paged:block=16 too (it had 100 blocks of its own 16 tokens: half the
 * pool, and a compare that blamed the strategy for it). And --num-blocks
 * overrides --kv-pool-gib for every strategy (--help), not for paged alone:
 * 200 blocks of 16 tokens are 3,200 tokens whatever --kv-pool-gib says.
 */
static void test_num_blocks_one_pool(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_nb_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512], cmd[700];
    snprintf(args, sizeof(args),
             "compare --allocators paged:block=32,paged,contiguous,vattn:page=64k --num-blocks 100 "
             "--trace traces/samples/tiny.csv --gpu a100-40gb --model opt-13b --quiet --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    snprintf(cmd, sizeof(cmd),
             "test \"$(sed 1d %s/compare.csv | cut -d, -f2 | sort -u)\" = 2621440000 && rm -r %s",
             dir, dir);
    if (system(cmd) != 0)
        fail_msg("compare --num-blocks 100: pools differ or are not 2621440000 bytes");
    /* 2,000 blocks of 16 tokens are 24.41 GiB of OPT-13B's KV, more than
     * an A100-40GB leaves beside its 23.94 GiB of weights (0.9 x 39.50 GiB
     * usable): said in the header, as kvsim run says it (compare said
     * nothing). */
    assert_int_equal(kvsim("compare --allocators paged,contiguous --num-blocks 2000 --trace "
                           "traces/samples/tiny.csv --gpu a100-40gb --model opt-13b 2>/dev/null"),
                     0);
    assert_non_null(strstr(out, "KV pool 24.41 GiB before strategy rounding, 819200 bytes per "
                                "token\nthe KV pool set by option is larger than the memory the "
                                "weights leave"));
    /* Two pipeline stages of vLLM v0 are two virtual engines, each with
     * half the blocks: the table's figures are engine 0's, said (peak GiB
     * half the pool line's, with no word why). V1's two batches in flight
     * share the pool: nothing to say. */
    assert_int_equal(kvsim("compare --allocators paged,contiguous --num-blocks 400 -pp 2 --trace "
                           "traces/samples/tiny.csv --gpu a100-40gb --model opt-13b 2>/dev/null"),
                     0);
    assert_null(strstr(out, "virtual engines"));
    assert_int_equal(kvsim("compare --allocators paged,contiguous --num-blocks 400 -pp 2 --trace "
                           "traces/samples/tiny.csv --gpu a100-40gb --model opt-13b --scheduler "
                           "vllm-v0 2>/dev/null"),
                     0);
    assert_non_null(strstr(out, "\nwith 2 virtual engines, the figures below are virtual engine "
                                "0's: its 1/2 of the pool\n"));
    const char *allocs[] = {"paged", "contiguous", "vattn:page=64k"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof(args),
                 "run --trace traces/samples/tiny.csv --gpu a100-40gb --model opt-13b --quiet "
                 "--allocator %s --kv-pool-gib 10 --num-blocks 200 --no-plot --out %s",
                 allocs[i], dir);
        assert_int_equal(kvsim(args), 0);
        snprintf(cmd, sizeof(cmd),
                 "grep -q '\"kv_pool_bytes\": 2621440000,' %s/summary.json && rm -r %s", dir, dir);
        if (system(cmd) != 0)
            fail_msg("--allocator %s --kv-pool-gib 10 --num-blocks 200: pool not 3200 tokens",
                     allocs[i]);
    }
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    assert_int_equal(kvsim("run --help"), 0);
    const char *opts[] = {"--trace",
                          "--format",
                          "--gpu",
                          "--model",
                          "--out",
                          "--ts-interval",
                          "--quiet",
                          "--max-num-seqs",
                          "--max-num-batched-tokens",
                          "--scheduler",
                          "--enable-chunked-prefill",
                          "--no-enable-chunked-prefill",
                          "--long-prefill-token-threshold",
                          "--enable-prefix-caching",
                          "--no-enable-prefix-caching",
                          "--preemption-mode",
                          "--swap-space",
                          "--max-concurrency",
                          "--replicas",
                          "--router",
                          "--gpu-memory-utilization",
                          "--kv-cache-dtype",
                          "--quantization",
                          "--speculative-config",
                          "--max-model-len",
                          "--watermark",
                          "--allocator",
                          "--block-size",
                          "--mem-util",
                          "--kv-pool-gib",
                          "--num-blocks",
                          "--dtype",
                          "--kv-dtype",
                          "--engine",
                          "--bw-eff",
                          "--flops-eff",
                          "--step-overhead-ms",
                          "--seq-overhead-us",
                          "--tp-step-ms",
                          "--runtime-overhead-gib",
                          "--seed",
                          "--check"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (strstr(out, opts[i]) == NULL)
            fail_msg("kvsim run --help does not describe %s", opts[i]);
    assert_int_equal(kvsim("--help"), 0);
    assert_non_null(strstr(out, "kvsim run"));
    assert_non_null(strstr(out, "kvsim list gpus"));
}

static void test_list(void **state)
{
    (void)state;
    assert_int_equal(kvsim("list gpus"), 0);
    assert_non_null(strstr(out, "h100-sxm"));
    assert_non_null(strstr(out, "m3-max"));
    assert_int_equal(kvsim("list models"), 0);
    assert_non_null(strstr(out, "819200")); /* opt-13b */
    assert_non_null(strstr(out, "131072")); /* llama-3.1-8b */
    assert_int_equal(kvsim("list --help"), 0);
    assert_non_null(strstr(out, "usage: kvsim list gpus | models | formats"));
}

/* --requests-gzip writes the same rows gzip-compressed; --no-requests
 * none; either removes the other form an earlier run left. */
static void test_requests_forms(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_req_XXXXXX", cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), RUN "--out %s", dir);
    assert_int_equal(kvsim(cmd), 0);
    snprintf(cmd, sizeof(cmd), "cp %s/requests.csv %s/plain.csv", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), RUN "--out %s --requests-gzip", dir);
    assert_int_equal(kvsim(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "test ! -e %s/requests.csv && gzip -dc %s/requests.csv.gz | cmp -s - %s/plain.csv",
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), RUN "--out %s --no-requests", dir);
    assert_int_equal(kvsim(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "test ! -e %s/requests.csv && test ! -e %s/requests.csv.gz && test -e %s/summary.json",
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    expect_error(RUN "--no-requests --requests-gzip --out /tmp/x", "one or the other");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_run_writes_outputs(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512];
    snprintf(args, sizeof(args),
             "run --trace traces/samples/tiny.csv --gpu a100-40gb --model opt-13b --out %s", dir);
    assert_int_equal(kvsim(args), 0);
    assert_non_null(strstr(out, "40 total: 39 completed, 1 rejected"));
    const char *files[] = {"summary.json", "requests.csv", "timeseries.csv"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            fail_msg("%s was not written", path);
        int c, nl = 0;
        while ((c = fgetc(fp)) != EOF)
            nl += c == '\n';
        fclose(fp);
        if (i == 1)
            assert_int_equal(nl, 41); /* header + one row per request, rejected included */
        else
            assert_true(nl > 5);
        unlink(path);
    }
    rmdir(dir);
}

/* kvsim gen's summary line: arrivals at one instant have no rate (it
 * printed "(0 req/s)" for a batch, a number it had not computed). */
static void test_gen_rate_line(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"'sharegpt:n=3;arrival=batch'", "arrivals 0.000..0.000 s (all at once)\n"},
        {"'sharegpt:n=1'", "arrivals 0.000..0.000 s (one request)\n"},
        {"'sharegpt:n=3'", "arrivals 0.000..3.387 s (0.8858 req/s)\n"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char args[256];
        snprintf(args, sizeof(args), "gen --workload %s -o - >/dev/null", cases[k][0]);
        int rc = kvsim(args);
        if (rc != 0 || strstr(out, cases[k][1]) == NULL || strstr(out, " 0 req/s") != NULL)
            fail_msg("kvsim %s: exit %d, wanted '%s'; got:\n%s", args, rc, cases[k][1], out);
    }
}

/* vLLM V1 with --pipeline-parallel-size: one scheduler, one KV pool and
 * one waiting queue for its batches in flight (v1/engine/core.py's batch
 * queue), where v0 gives each virtual engine 1/P of the blocks, its own
 * prefix cache and its own max_num_seqs.
 *  - 100 blocks of 16 tokens, --max-model-len 1200: v0's two halves hold
 *    800 tokens each, so it refuses to start (as vLLM v0 does); V1's pool
 *    holds 1,600 and serves four 1,100-token requests one at a time (two
 *    need 2 x 69 blocks).
 *  - 64 requests at once with --max-num-seqs 8: at most 8 run over both
 *    batches in flight (V1's max_num_running_reqs is the scheduler's).
 *  - Two 2,048-token prompts with the same block hashes, the second
 *    arriving while the first decodes (so in the other batch in flight):
 *    V1's one prefix cache serves it 127 blocks, 2,032 tokens (the last
 *    token is always computed, so its block is not taken: 2,047 tokens
 *    hold 127 whole blocks); v0's virtual engines have a cache each. */
static void test_v1_pipeline_one_pool(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[768];
#define PP2 "--gpu h100-sxm --model llama-3.1-8b -pp 2 --no-plot --quiet "
    snprintf(args, sizeof(args),
             "run --workload 'batch:n=4;in=fixed:1000;out=fixed:100' " PP2
             "--num-blocks 100 --max-model-len 1200 --scheduler vllm-v0");
    expect_error(args, "cannot hold one sequence of --max-model-len 1200 (it holds at most 800 "
                       "tokens)");
    snprintf(args, sizeof(args),
             "run --workload 'batch:n=4;in=fixed:1000;out=fixed:100' " PP2
             "--num-blocks 100 --max-model-len 1200 --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    char *js = test_slurp_in(dir, "summary.json", NULL);
    assert_non_null(strstr(js, "\"completed\": 4,"));
    assert_non_null(strstr(js, "\"max_running\": 1,"));
    assert_non_null(strstr(js, "\"virtual_engines\": 1, \"batches_in_flight\": 2,"));
    free(js);
    snprintf(args, sizeof(args),
             "run --workload 'batch:n=64;in=fixed:100;out=fixed:50' " PP2
             "--max-num-seqs 8 --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    js = test_slurp_in(dir, "summary.json", NULL);
    assert_non_null(strstr(js, "\"max_running\": 8,"));
    free(js);
    char trace[600];
    snprintf(trace, sizeof(trace), "%s/prefix.csv", dir);
    FILE *fp = fopen(trace, "w");
    assert_non_null(fp);
    fputs("arrival_s,input_tokens,output_tokens,hash_ids\n0,2048,200,1;2;3;4\n"
          "1.0,2048,20,1;2;3;4\n",
          fp);
    fclose(fp);
    for (int v0 = 0; v0 < 2; v0++) {
        snprintf(args, sizeof(args), "run --trace %s " PP2 "--enable-prefix-caching --out %s%s",
                 trace, dir, v0 ? " --scheduler vllm-v0" : "");
        assert_int_equal(kvsim(args), 0);
        js = test_slurp_in(dir, "summary.json", NULL);
        assert_non_null(
            strstr(js, v0 ? "\"prefill_tokens_saved\": 0," : "\"prefill_tokens_saved\": 2032,"));
        free(js);
    }
    /* A pool of 40 blocks that 50 prompts fill a token a step: the lanes
     * must not preempt each other's oldest requests in turn (they did,
     * forever, when each preempted its own newest whatever the other
     * held): V1's one scheduler preempts the pool's last admitted, in
     * whichever batch it is. */
    snprintf(args, sizeof(args),
             "run --workload 'batch:n=50;in=uniform:min=163,max=215;out=lognormal:mean=1360,"
             "sigma=0.55,max=32768' --gpu a10g --model mistral-7b --no-enable-prefix-caching "
             "--num-blocks 40 --max-model-len 512 --max-num-batched-tokens 256 "
             "--long-prefill-token-threshold 1 -pp 2 --seed 3 --no-plot --quiet --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    js = test_slurp_in(dir, "summary.json", NULL);
    assert_non_null(strstr(js, "\"completed\": 50,"));
    free(js);
    /* The other lanes allocate while a step of the first runs: its record
     * takes the pool at the step's end, so the KV written then is within
     * what is allocated (peak used 20 MiB over a peak allocated 10 MiB
     * before; found by tests/fuzz/combos.py). */
    snprintf(args, sizeof(args),
             "run --trace tests/data/traces/azure_2024.csv --gpu rtx-4090 --model llama-3.2-3b "
             "--engine trtllm --num-blocks 128 --max-model-len 2048 "
             "--long-prefill-token-threshold 256 -pp 3 --quantization awq:group=64 "
             "--ts-interval 0.01 --no-plot --quiet --out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    js = test_slurp_in(dir, "summary.json", NULL);
    const char *u = strstr(js, "\"peak_kv_used_bytes\": "),
               *al = strstr(js, "\"peak_kv_allocated_bytes\": ");
    assert_non_null(u);
    assert_non_null(al);
    assert_true(strtoull(u + strlen("\"peak_kv_used_bytes\": "), NULL, 10) <=
                strtoull(al + strlen("\"peak_kv_allocated_bytes\": "), NULL, 10));
    free(js);
#undef PP2
    snprintf(args, sizeof(args), "rm -rf '%s'", dir);
    test_sh(args, out, sizeof(out), false);
}

/* kvsim run OPTS (with --no-plot --quiet) into a folder of its own:
 * summary.json's text (the caller frees it), the folder removed. */
static char *run_summary(const char *opts)
{
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[1024];
    snprintf(args, sizeof(args), "run %s --no-plot --quiet --out %s", opts, dir);
    assert_int_equal(kvsim(args), 0);
    char *js = test_slurp_in(dir, "summary.json", NULL);
    snprintf(args, sizeof(args), "rm -rf '%s'", dir);
    test_sh(args, out, sizeof(out), false);
    return js;
}

/* The mean TTFT of a run of one 16,000-token prompt in 2,048-token chunks
 * (llama-3.1-8b on an H100) with -pp P under SCHED, in ms. */
static double long_prompt_ttft_ms(int pp, const char *sched)
{
    char opts[512];
    snprintf(opts, sizeof(opts),
             "--workload 'batch:n=1;in=fixed:16000;out=fixed:2' --gpu h100-sxm --model "
             "llama-3.1-8b --max-num-batched-tokens 2048 --max-model-len 16384 -pp %d "
             "--scheduler %s --enable-chunked-prefill",
             pp, sched);
    char *js = run_summary(opts);
    const char *at = strstr(js, "\"mean_ttft_ms\": ");
    assert_non_null(at);
    double v = strtod(at + strlen("\"mean_ttft_ms\": "), NULL);
    free(js);
    return v;
}

/* vLLM V1 pipelines a prompt's chunks: schedule() advances a request's
 * computed tokens when it schedules them, so the next batch in flight
 * takes the next chunk while the previous one is in the later stages.
 * Eight chunks through P stages then take about (8 + P - 1) / P chunk
 * times of one stage each, (8 + P - 1) / (8 P) of the one-GPU time: 9/16
 * at PP 2, 11/32 at PP 4 (within 2 % and 5 %: the stages' hand-offs and
 * fixed times add to each chunk's split). v0's virtual engine holds the
 * request and computes a chunk per trip through the stages: no faster. */
static void test_v1_pipeline_chunks(void **state)
{
    (void)state;
    double one = long_prompt_ttft_ms(1, "vllm");
    double two = long_prompt_ttft_ms(2, "vllm"), four = long_prompt_ttft_ms(4, "vllm");
    double v0 = long_prompt_ttft_ms(4, "vllm-v0");
    print_message("TTFT one GPU %.1f ms, PP 2 %.1f (%.1f), PP 4 %.1f (%.1f), v0 PP 4 %.1f\n", one,
                  two, one * 9 / 16, four, one * 11 / 32, v0);
    assert_true(fabs(two / (one * 9 / 16) - 1) < 0.02);
    assert_true(fabs(four / (one * 11 / 32) - 1) < 0.05);
    assert_true(v0 > 0.9 * one);
}

/* vLLM V1 preempts the last request admitted, in another batch in flight
 * too. Two 160-token prompts of 400 outputs (the second arriving while the
 * first's batch runs, so in the other batch) in 40 blocks of 16 at PP 2:
 * each holds 10 blocks after its prompt and they grow in turn to 20 each;
 * the older then needs the 41st block and the newer is preempted from its
 * batch in flight, its 320th token's KV in it: 319 tokens computed to
 * recompute (a lane that waited for the newer's own pass, as kvsim did
 * before, counted 320 there), the older never preempted. */
static void test_v1_pipeline_preempts_in_flight(void **state)
{
    (void)state;
    char trace[] = "/tmp/kvsim_cli_XXXXXX";
    int fd = mkstemp(trace);
    assert_true(fd >= 0);
    const char *rows = "arrival_s,input_tokens,output_tokens\n0,160,400\n0.001,160,400\n";
    assert_int_equal(write(fd, rows, strlen(rows)), (ssize_t)strlen(rows));
    close(fd);
    char opts[512];
    snprintf(opts, sizeof(opts),
             "--trace %s --gpu h100-sxm --model llama-3.1-8b -pp 2 --num-blocks 40 "
             "--max-model-len 640 --no-enable-prefix-caching",
             trace);
    char *js = run_summary(opts);
    unlink(trace);
    assert_non_null(strstr(js, "\"completed\": 2,"));
    assert_non_null(strstr(js, "\"preemption\": {\"total\": 1, \"swap\": 0, \"recompute\": 1, "
                               "\"swapped_out_bytes\": 0, \"swapped_in_bytes\": 0, "
                               "\"recomputed_tokens\": 319}"));
    free(js);
}

/* V1 caches a prompt's blocks when it schedules them (allocate_slots),
 * so a request admitted by one batch may hit blocks whose KV another batch
 * in flight still computes: neither holder had counted those tokens when
 * --check looked right after the admission's growth ('shared-block counts
 * 1536 tokens ... exceed the sums', found by tests/fuzz/combos.py). The
 * check now follows the admission's computed tokens; a conversation trace
 * at PP 3 runs through --check. */
static void test_v1_pipeline_hits_in_flight(void **state)
{
    (void)state;
    char *js = run_summary("--workload chat:n=100,rate=2,turns=6,think=1,sys=64,max_ctx=8192 "
                           "--gpu l4 --model llama-3.2-1b --num-blocks 300 --check "
                           "--max-model-len 4608 -pp 3 --seed 5");
    assert_non_null(strstr(js, "\"hit_tokens\": 19840"));
    free(js);
}

/* Static batching's admission of a preempted request is a recomputation
 * for the prefix-cache counters, as vLLM v0's: its own blocks found again
 * (past its prompt, its outputs') were counted as first-admission hits,
 * 1,920 hit tokens for 1,664 looked up (found by tests/fuzz/combos.py).
 * Ten preemptions; every hit here is such a recomputation's. */
static void test_static_recompute_hits(void **state)
{
    (void)state;
    char *js = run_summary(
        "--workload chat:n=20,rate=10,turns=1,think=1,sys=0,max_ctx=16384 --gpu a100-40gb "
        "--model llama-3.2-1b --scheduler static --allocator paged:block=32,prefix=on "
        "--num-blocks 64 --max-model-len 512 -pp 4 --kv-cache-dtype bf16 --seed 2");
    assert_non_null(strstr(js, "\"hit_tokens\": 0, \"recompute_hit_tokens\": 1920,"));
    assert_non_null(strstr(js, "\"preemption\": {\"total\": 10,"));
    free(js);
}

/* batch.max_waiting: 500 requests arrive at once, max-num-seqs 64 and a
 * budget of 8,192 tokens (V1 on an H100) take 64 prompts of 100 tokens in
 * the first pass, leaving 436 waiting, the most there ever are (the queue
 * only shrinks after). With --no-merge-steps the same (merged steps repeat
 * their first step's queue). */
static void test_max_waiting(void **state)
{
    (void)state;
    for (int merge = 0; merge < 2; merge++) {
        char *js = run_summary(merge ? "--workload 'batch:n=500;in=fixed:100;out=fixed:10' --gpu "
                                       "h100-sxm --model llama-3.1-8b --max-num-seqs 64"
                                     : "--workload 'batch:n=500;in=fixed:100;out=fixed:10' --gpu "
                                       "h100-sxm --model llama-3.1-8b --max-num-seqs 64 "
                                       "--no-merge-steps");
        assert_non_null(strstr(js, "\"max_running\": 64, \"max_waiting\": 436,"));
        free(js);
    }
}

/* timeseries.csv's preemptions column sums to summary.json's count, also
 * where a lone request preempts itself and is then rejected as outgrowing
 * the pool (two samples of 512 + 16 tokens each in 64 blocks of 16): the
 * pass that ends empty is recorded as an idle step, which dropped its
 * preemption. */
static void test_timeseries_counts_every_preemption(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512];
    snprintf(args, sizeof(args),
             "run --workload 'batch:n=1;in=fixed:16;out=fixed:1000' --gpu h100-sxm "
             "--model llama-3.2-1b --num-blocks 64 --max-model-len 1024 --n 2 --no-plot --quiet "
             "--out %s",
             dir);
    assert_int_equal(kvsim(args), 0);
    char *js = test_slurp_in(dir, "summary.json", NULL);
    assert_non_null(strstr(js, "\"sequence_outgrew_kv_pool\": 1"));
    assert_non_null(strstr(js, "\"preemption\": {\"total\": 1,"));
    free(js);
    char *ts = test_slurp_in(dir, "timeseries.csv", NULL);
    /* The preemptions column, the 13th, summed over the rows. */
    unsigned long long sum = 0;
    for (char *line = strchr(ts, '\n'); line != NULL && line[1] != '\0';
         line = strchr(line + 1, '\n')) {
        char *f = line + 1;
        for (int k = 0; k < 12 && f != NULL; k++) {
            f = strchr(f, ',');
            f = f != NULL ? f + 1 : NULL;
        }
        assert_non_null(f);
        sum += strtoull(f, NULL, 10);
    }
    free(ts);
    assert_int_equal(sum, 1);
    snprintf(args, sizeof(args), "rm -rf '%s'", dir);
    test_sh(args, out, sizeof(out), false);
}

/* --tp-step-ms: the host's per-step time of tensor parallelism, times
 * log2 of the TP size: in summary.json (config.tp_step_s, and in
 * config.step_fixed_s, the step's fixed time the sweep plot's knee
 * uses) and on the terminal's parallel line; at TP 1 nowhere but its
 * config key. */
static void test_tp_step_option(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512], path[600];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    for (int tp = 1; tp <= 4; tp *= 4) {
        snprintf(
            args, sizeof(args),
            "run --trace traces/samples/tiny.csv --gpu h100-sxm --model llama-2-7b "
            "--tensor-parallel-size %d --engine trtllm --step-overhead-ms 1 --layer-overhead-us 0 "
            "--tp-step-ms 2 --no-plot --no-requests --out %s",
            tp, dir);
        assert_int_equal(kvsim(args), 0);
        bool said = strstr(out, "the host's broadcast 4.00 ms a step (tp_step_ms 2 x log2 4)");
        assert_true(tp == 4 ? said : !said);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        static char json[1 << 16];
        size_t n = fread(json, 1, sizeof(json) - 1, fp);
        json[n] = 0;
        fclose(fp);
        assert_non_null(strstr(json, "\"tp_step_s\": 0.002,"));
        assert_non_null(
            strstr(json, tp == 4 ? "\"step_fixed_s\": 0.005," : "\"step_fixed_s\": 0.001,"));
    }
    unlink(path);
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    unlink(path);
    rmdir(dir);
}

/* --enable-prefix-caching and a paged spec's prefix=on|off are one
 * setting, and summary.json's config.enable_prefix_caching says what ran
 * (prefix_cache.enabled, the allocator's own). They disagreed three ways:
 * V1's default switch (on) over paged:prefix=off reported true for a run
 * without caching; --no-enable-prefix-caching with paged:prefix=on cached
 * and reported false; and kvsim compare, which leaves the switch off for
 * every arm, reported false for its paged:prefix=on arm, which cached.
 * Now the spec decides when the switch is not given, an explicit switch
 * that contradicts it is refused, and a compare arm's flag is its own. */
static void test_prefix_switch_follows_spec(void **state)
{
    (void)state;
#define HASHES "--trace tests/data/traces/kvsim_hash_ids.csv --gpu a100-80gb --model llama-2-7b "
    expect_error("run " HASHES "--no-enable-prefix-caching --allocator paged:prefix=on",
                 "--no-enable-prefix-caching: --allocator paged:prefix=on turns prefix caching on");
    expect_error("run " HASHES "--enable-prefix-caching --allocator paged:block=8,prefix=off",
                 "--enable-prefix-caching: --allocator paged:block=8,prefix=off turns prefix "
                 "caching off");
    char dir[] = "/tmp/kvsim_cli_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[512];
    snprintf(args, sizeof(args),
             "run " HASHES "--allocator paged:prefix=off --no-plot --quiet --out %s/run", dir);
    assert_int_equal(kvsim(args), 0);
    char *js = test_slurp_in(dir, "run/summary.json", NULL);
    assert_non_null(strstr(js, "\"enable_prefix_caching\": false,"));
    assert_non_null(strstr(js, "\"prefix_cache\": {\"enabled\": false,"));
    free(js);
    snprintf(args, sizeof(args),
             "compare " HASHES "--allocators contiguous:reserve=max,paged:prefix=on --no-plot "
             "--quiet --out %s/cmp",
             dir);
    assert_int_equal(kvsim(args), 0);
    js = test_slurp_in(dir, "cmp/paged_prefix_on/summary.json", NULL);
    assert_non_null(strstr(js, "\"enable_prefix_caching\": true,"));
    assert_non_null(strstr(js, "\"prefix_cache\": {\"enabled\": true,"));
    free(js);
    js = test_slurp_in(dir, "cmp/contiguous_reserve_max/summary.json", NULL);
    assert_non_null(strstr(js, "\"enable_prefix_caching\": false,"));
    free(js);
#undef HASHES
    snprintf(args, sizeof(args), "rm -rf '%s'", dir);
    test_sh(args, out, sizeof(out), false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_max_waiting),
        cmocka_unit_test(test_v1_pipeline_one_pool),
        cmocka_unit_test(test_v1_pipeline_chunks),
        cmocka_unit_test(test_v1_pipeline_preempts_in_flight),
        cmocka_unit_test(test_v1_pipeline_hits_in_flight),
        cmocka_unit_test(test_static_recompute_hits),
        cmocka_unit_test(test_bad_names_and_files),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_num_blocks_one_pool),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_run_writes_outputs),
        cmocka_unit_test(test_tp_step_option),
        cmocka_unit_test(test_requests_forms),
        cmocka_unit_test(test_timeseries_counts_every_preemption),
        cmocka_unit_test(test_prefix_switch_follows_spec),
        cmocka_unit_test(test_gen_rate_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
