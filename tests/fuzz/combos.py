#!/usr/bin/env python3
"""combos.py: kvsim run (and compare) over random combinations of valid options.

usage: tests/fuzz/combos.py KVSIM START COUNT [--seed S] [--jobs 2] [--merge-frac 0.3]
                            [--gen-frac 0.15] [--mode run|compare] [--base DIR] [--log FILE.jsonl]

Best with a Debug build under the sanitizers (assert() on):
  cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DKVSIM_SANITIZE=ON
  cmake --build build-asan --target kvsim
  tests/fuzz/combos.py build-asan/cli/kvsim 0 500 --seed 1

Combination I of seed S is the same every time (random.Random(S * 1000003 + I)).
Each run (small workloads, 60 s limit) is flagged FAIL on a signal, a
sanitizer report, an assertion, a timeout, a non-zero exit without a last
'kvsim: ...' line, or outputs that do not add up: completed + rejected !=
total, rejected_by, vllm_bench, replicas, requests.csv rows and statuses,
preemptions (summary, requests.csv, timeseries.csv), the time series' six
categories summing to one pool size, time order; and cross-checks
(check_more): vllm_bench's token totals against requests.csv's rows (n
outputs each), its throughputs against its totals and duration, percentiles
in order, each row's ttft/e2e/queue/prefill/tpot against its times, busy
time within the makespan, batch and replica maxima within their limits,
speculation's counts and rates. Options combo() leaves out (cost-model and
device overrides, --kv-pool-gib, the host link, more formats, models and
traces; burstgpt's --model-filter, --format, open-ended time windows,
empirical lengths and batch:at=, .preset files, the options' short names)
come from extras(), on a stream of their own so that the combinations of
earlier seeds keep their other options (those drawn last, from seed 47 on,
change a few earlier combinations). A share (--merge-frac) is
run again with --no-merge-steps and must give the same three files (but
sim.wall_s); round-robin replicas again with --serial-replicas (requests.csv
and timeseries.csv); with --mode compare, half the comparisons run one arm
again alone with kvsim run, which must give the same three files; a share
of runs (--gen-frac) goes through kvsim gen: its file of the run's requests
(the workload, or the trace after its transforms), read back by kvsim run,
must give the same requests.csv but its line column, the same timeseries.csv
and summary figures; as many again with options that only observe (another
--ts-interval, --goodput, a --max-concurrency no client reaches): the same
requests.csv and summary figures; half as many runs of a trace read it again
from standard input (--trace -, the file itself or through a pipe): the same
requests.csv, timeseries.csv and summary.json but its source. A run with
--check that passes the limit is judged
again without --check (jemalloc's check merges its statistics at every
operation: 100 times slower). Environment: STRESS=1 tiny pools and --check
often, FOCUS=1 prefix caching on hash-id traces, SPEC=1 speculative decoding.
Failures print the command and keep their outputs under --base.
"""
import argparse, json, os, random, shlex, shutil, subprocess, sys, csv, tempfile, zlib
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SH = os.path.join(os.environ.get('KVSIM_SHARED_DIR', os.path.join(ROOT, '..', 'shared')), 'traces')
HAVE_SH = os.path.isdir(SH)
TR = ROOT + '/tests/data/traces'

GPUS = ['l4', 'a100-40gb', 'a100-80gb', 'h100-sxm', 'h200', 'l40s', 'rtx-4090', 'mi300x',
        'm2-max', 'cpu-xeon-8480', 'dgx-spark', 'rtx-3070', 'b200', 'a10g']
MODELS = ['llama-3.2-1b', 'llama-3.2-1b', 'llama-3.1-8b', 'llama-3.1-8b', 'qwen2.5-7b',
          'mistral-7b', 'opt-13b', 'llama-2-7b', 'deepseek-v2-lite', 'mixtral-8x7b',
          'qwen3-30b-a3b', 'gemma-2-9b', 'llama-3.2-3b', 'llama-2-70b', 'qwen3-8b']


def dist(r):
    k = r.choice(['fixed', 'uniform', 'normal', 'lognormal', 'zipf'])
    if k == 'fixed':
        return 'fixed:%d' % r.choice([1, 2, 16, 100, 511, 512, 513, 2000])
    if k == 'uniform':
        a = r.randint(1, 500)
        return 'uniform:min=%d,max=%d' % (a, a + r.randint(0, 3000))
    if k == 'normal':
        return 'normal:mean=%d,sd=%d,min=1,max=%d' % (r.randint(10, 2000), r.randint(1, 800), r.choice([4096, 8192]))
    if k == 'lognormal':
        return 'lognormal:mean=%d,sigma=%.2f,max=%d' % (r.randint(5, 2000), r.uniform(0.1, 1.6), r.choice([2048, 8192, 32768]))
    return 'zipf:s=%.2f,max=%d,min=%d' % (r.uniform(0.5, 2.0), r.choice([100, 1000, 4000]), r.randint(1, 50))


STRESS = os.environ.get('STRESS') == '1'
FOCUS = os.environ.get('FOCUS') == '1'
SPEC = os.environ.get('SPEC') == '1'


def source(r):
    """Returns (args, expected_total or None)."""
    n = r.choice([20, 50, 100, 200] if STRESS else [50, 100, 200, 300, 500, 800, 1500])
    k = r.choice(['preset'] * 4 + ['process'] * 3 + ['chat'] * 2 + ['trace'] * 4)
    if FOCUS:
        k = r.choice(['chat', 'trace'])
    if k == 'preset':
        p = r.choice(['sharegpt', 'alpaca', 'azure-conv', 'azure-code'])
        s = '%s:n=%d,rate=%g' % (p, n, r.choice([0.5, 2, 10, 50, 500]))
        if r.random() < 0.3:
            s += ',cv=%g' % r.choice([0.5, 1, 3])
        if r.random() < 0.2:
            s += ';arrival=batch'
        if r.random() < 0.2:
            s += ';out=' + dist(r)
        return ['--workload', s], n
    if k == 'process':
        pr = r.choice(['poisson:rate=%g,', 'gamma:rate=%g,cv=2,', 'constant:rate=%g,', 'batch:'])
        if pr != 'batch:':
            pr = pr % r.choice([1, 5, 20, 200])
        s = '%sn=%d;in=%s;out=%s' % (pr, n, dist(r), dist(r))
        return ['--workload', s], n
    if k == 'chat':
        s = 'chat:n=%d,rate=%g,turns=%d,think=%g,sys=%d,max_ctx=%d' % (
            max(20, n // 4), r.choice([0.5, 2, 10]), r.randint(1, 6), r.choice([1, 10, 60]),
            r.choice([0, 64, 512, 1500]), r.choice([2048, 8192, 16384]))
        return ['--workload', s], None
    t = r.choice(['azconv', 'azcode', 'moon', 'moon', 'sharegpt', 'small', 'same'])
    if FOCUS:
        t = r.choice(['moon', 'small'])
    if not HAVE_SH and t in ('azcode', 'moon', 'sharegpt'):
        t = 'small'
    lim = ['--limit', str(n)]
    if t == 'azconv':
        a = ['--trace', ROOT + '/traces/samples/azure_conv_2023.csv.gz']
        if r.random() < 0.4:
            s = r.randint(0, 3000)
            a += ['--time-window', '%d:%d' % (s, s + r.choice([30, 120, 300]))]
        if r.random() < 0.3:
            a += ['--sample', str(r.choice([0.3, 0.7]))]
        if r.random() < 0.4:
            a += ['--rate-scale', str(r.choice([0.5, 2, 5]))]
        return a + lim, None
    if t == 'azcode':
        return ['--trace', SH + '/AzureLLMInferenceTrace_code.csv.gz'] + lim, None
    if t == 'moon':
        a = ['--trace', SH + '/conversation_trace.jsonl.gz']
        if r.random() < 0.5:
            a += ['--rate-scale', str(r.choice([0.2, 1, 4]))]
        return a + lim, None
    if t == 'sharegpt':
        return ['--trace', SH + '/sharegpt_8k_filtered_stats_llama2_tokenizer.csv.gz', '--rate',
                str(r.choice([1, 5, 30]))] + lim, None
    if t == 'same':
        return ['--trace', TR + '/same_instant.csv'], 400
    f = r.choice(['azure_2023.csv', 'azure_2024.csv', 'burstgpt_basic.csv', 'kvsim_basic.csv',
                  'kvsim_hash_ids.csv', 'kvsim_quirks.csv', 'kvsim_session.csv', 'vidur_basic.csv',
                  'many_hash_ids.csv.gz', 'mooncake_basic.jsonl', '../../../traces/samples/tiny.csv'])
    return ['--trace', TR + '/' + f], None


def spec(r):
    # mtp needs a model with MTP layers (none in the catalog: refused, sim/support.c)
    m = r.choice(['eagle', 'eagle', 'ngram', 'draft_model', 'eagle3'] * 4 + ['mtp'])
    d = {'method': m, 'num_speculative_tokens': r.randint(1, 6)}
    if m == 'draft_model':
        d['model'] = 'llama-3.2-1b'
    a = r.choice(['rate', 'rate', 'rates', 'length'])
    if a == 'rate':
        d['acceptance_rate'] = r.choice([0.0, 0.3, 0.7, 0.95, 1.0])
        if r.random() < 0.3:
            d['acceptance_concentration'] = r.choice([1, 10, 100])
    elif a == 'rates':
        k = d['num_speculative_tokens']
        v, x = [], 1.0
        for _ in range(k):
            x *= r.uniform(0.3, 1.0)
            v.append(round(x, 3))
        d['acceptance_rates'] = v
    else:
        d['acceptance_length'] = round(r.uniform(1, d['num_speculative_tokens'] + 1), 2)
    if r.random() < 0.3:
        d['draft_time_ratio'] = r.choice([0.05, 0.3])
    return json.dumps(d)


def allocator(r, sched):
    k = r.choice(['paged'] * 4 + ['contiguous', 'vattn', 'jemalloc'])
    if k == 'paged':
        s = 'paged:block=%d' % r.choice([1, 8, 16, 16, 32, 128])
        if r.random() < 0.5:
            s += ',prefix=%s' % r.choice(['on', 'off'])
        if r.random() < 0.2:
            s += ',hash_block=%d' % r.choice([16, 64, 512])
        return s
    if k == 'contiguous':
        return 'contiguous:reserve=%s,fit=%s' % (r.choice(['max', 'pow2', 'oracle']), r.choice(['buddy', 'first', 'best']))
    if k == 'vattn':
        return 'vattn:page=%s' % r.choice(['2m', '256k', '128k', '64k'])
    return 'jemalloc:reserve=%s' % r.choice(['grow', 'max', 'pow2', 'oracle'])


SMALL_MODELS = ['llama-3.2-1b', 'llama-3.2-1b', 'llama-3.2-3b', 'llama-3.1-8b', 'llama-3.1-8b', 'qwen2.5-7b',
                'mistral-7b', 'llama-2-7b', 'qwen3-8b', 'gemma-2-9b', 'opt-13b', 'deepseek-v2-lite']
BIG_MODELS = ['mixtral-8x7b', 'qwen3-30b-a3b', 'llama-2-70b', 'qwen2.5-32b', 'codellama-34b']
BIG_GPUS = ['a100-80gb', 'h100-sxm', 'h200', 'b200', 'a100-40gb', 'l40s', 'mi300x', 'h100-pcie', 'a100-80gb-pcie']
# CPUs take no engine preset (sim/support.c): they serve as --host.
SMALL_GPUS = ['l4', 'rtx-4090', 'a10g', 'rtx-3090', 'm2-max', 'rtx-3060', 'dgx-spark', 'rtx-5090', 'm3-max']
APPLE = ('m2-max', 'm3-max')
LINKED = ['a100-80gb', 'h100-sxm', 'h200', 'b200', 'a100-40gb', 'l40s', 'h100-pcie', 'l4', 'rtx-4090', 'a10g']


def combo(r):
    a, exp = source(r)
    par = r.random() < 0.25
    if par:
        gpu = r.choice(LINKED)
        model = r.choice(SMALL_MODELS + BIG_MODELS)
    else:
        gpu = r.choice(BIG_GPUS + SMALL_GPUS)
        model = r.choice(SMALL_MODELS + (BIG_MODELS if gpu in BIG_GPUS[:4] or gpu == 'mi300x' else []))
    a += ['--gpu', gpu, '--model', model]
    sched = r.choice(['vllm'] * 4 + ['vllm-v0'] * 2 + ['sarathi', 'orca', 'static'])
    if FOCUS:
        sched = r.choice(['vllm', 'vllm-v0', 'sarathi', 'orca', 'static', 'static'])
    if SPEC:
        sched = r.choice(['vllm', 'vllm', 'vllm', 'vllm-v0', 'sarathi'])
    a += ['--scheduler', sched]
    eng = None
    # The engines each device runs (sim/support.c): vLLM has no Metal
    # backend, llama.cpp's presets are per GPU backend, TensorRT-LLM is
    # NVIDIA's; a share of mismatches stays, to exercise the refusals.
    if gpu in APPLE:
        eng = 'llamacpp-metal' if r.random() < 0.95 else r.choice(['vllm', 'llamacpp'])
    elif r.random() < 0.2:
        if gpu == 'mi300x':
            eng = r.choice(['llamacpp-rocm', 'llamacpp-vulkan'])
        elif r.random() < 0.05:
            eng = r.choice(['llamacpp-metal', 'llamacpp-rocm'])
        else:
            eng = r.choice(['trtllm', 'trtllm', 'llamacpp', 'llamacpp-2023', 'llamacpp-vulkan'])
    if eng is not None:
        a += ['--engine', eng]
    llama = eng is not None and eng.startswith('llamacpp')
    alloc = 'paged'
    block = 16
    spec_ok = sched == 'vllm'
    if FOCUS and r.random() < 0.7:
        s = 'paged:block=%d,prefix=on' % r.choice([8, 16, 32, 128])
        alloc = 'paged'
        block = int(s.split('block=')[1].split(',')[0])
        a += ['--allocator', s]
    elif r.random() < 0.45:
        s = allocator(r, sched)
        alloc = s.split(':')[0]
        if alloc == 'paged':
            block = int(s.split('block=')[1].split(',')[0])
        a += ['--allocator', s]
    elif r.random() < 0.2:
        block = r.choice([8, 16, 32])
        a += ['--block-size', str(block)]
    if sched in ('orca', 'static') and alloc == 'paged' and '--allocator' not in a:
        alloc = 'contiguous'
    chunk = sched in ('vllm', 'sarathi')
    x = r.random()
    if x < 0.15 and sched in ('vllm', 'sarathi', 'vllm-v0'):
        a += ['--no-enable-chunked-prefill']
        chunk = False
    elif x < 0.3 and sched in ('vllm', 'sarathi', 'vllm-v0'):
        a += ['--enable-chunked-prefill']
        chunk = True
    if alloc == 'paged' and r.random() < 0.2:
        sw = r.choice(['--enable-prefix-caching', '--no-enable-prefix-caching'])
        sp = a[a.index('--allocator') + 1] if '--allocator' in a else ''
        if ('prefix=on' in sp and sw.startswith('--no')) or ('prefix=off' in sp and not sw.startswith('--no')):
            sw = '--enable-prefix-caching' if 'prefix=on' in sp else '--no-enable-prefix-caching'  # as the spec, or refused
        a += [sw]
    mml = r.choice([None, 512, 1024, 2048, 4096, 8192, 16384])
    if STRESS or r.random() < 0.45:
        nb = r.choice([16, 24, 40, 64, 128, 300]) if STRESS else r.choice([64, 128, 300, 1000, 3000])
        a += ['--num-blocks', str(nb)]
        mml = min(mml or 10 ** 9, nb * block, 8192)
        if mml >= 512:
            mml = mml // 512 * 512
        mml = max(mml, 16)
        if r.random() < (0.5 if STRESS else 0.15):
            a += ['--check']
    if mml is not None:
        a += ['--max-model-len', str(mml)]
    mns = None
    if r.random() < 0.4:
        mns = r.choice([1, 2, 4, 16, 64, 256])
        a += ['--max-num-seqs', str(mns)]
    if r.random() < 0.4:
        b = r.choice([16, 64, 256, 512, 2048, 8192, 16384])
        if not chunk:
            b = max(b, mml or 131072)
        b = max(b, mns or (1024 if sched == 'vllm' else 256))
        a += ['--max-num-batched-tokens', str(b)]
    if chunk and r.random() < 0.15:
        a += ['--long-prefill-token-threshold', str(r.choice([1, 32, 256, 1000]))]
    if sched in ('vllm-v0', 'sarathi') and r.random() < 0.3:
        a += ['--preemption-mode', 'swap']
        if r.random() < 0.5:
            a += ['--swap-space', str(r.choice([0.001, 0.01, 0.1, 1]))]
    if r.random() < 0.15:
        a += ['--watermark', str(r.choice([0, 0.01, 0.1, 0.3]))]
    if r.random() < 0.15:
        a += ['--client-max-tokens']
    pp = False
    if par:
        if r.random() < 0.6 and not llama:
            a += ['--tensor-parallel-size', str(r.choice([2, 4, 8]))]
        else:
            a += ['--pipeline-parallel-size', str(r.choice([2, 3, 4]))]
            pp = True
    if r.random() < 0.25:
        a += ['--replicas', str(r.choice([2, 3, 4]))]
        if r.random() < 0.6:
            a += ['--router', r.choice(['round-robin', 'least-loaded', 'prefix-affinity'])]
        if r.random() < 0.2:
            a += ['--serial-replicas']
    if r.random() < 0.12:
        a += ['--max-concurrency', str(r.choice([1, 4, 32]))]
    n = 1
    if r.random() < 0.12:
        n = r.choice([2, 3, 4])
        if mns is None or mns >= n:
            a += ['--n', str(n)]
        else:
            n = 1
    if spec_ok and alloc == 'paged' and n == 1 and not pp and r.random() < (0.9 if SPEC else 0.35):
        sp = spec(r)
        if 'draft_model' in sp and not model.startswith('llama-3'):
            sp = sp.replace('draft_model', 'eagle').replace('"model": "llama-3.2-1b", ', '')
        a += ['--speculative-config', sp]
    # Formats of the engine (sim/support.c: llama.cpp reads GGUF, vLLM and
    # TensorRT-LLM have no llama.cpp cache types), a few of another's.
    mixed = r.random() < 0.05
    if r.random() < 0.2:
        q = (['Q4_K_M', 'Q8_0', 'mxfp4'] if llama and not mixed else
             ['fp8', 'int8', 'awq', 'gptq', 'nvfp4', 'mxfp4', 'awq:group=64']
             + ([] if eng == 'trtllm' and not mixed else ['Q4_K_M', 'Q8_0']))
        a += ['--quantization', r.choice(q)]
    if r.random() < 0.2 and model != 'deepseek-v2-lite':
        k = ['int8', 'int4', 'int2:group=32,residual=64', 'bf16', 'int4:residual=128']
        k += ['q8_0', 'q4_0'] if llama or mixed else ['fp8', 'fp8_e5m2']
        a += ['--kv-cache-dtype', r.choice(k)]
    if r.random() < 0.05:
        a += ['--dtype', 'bf16']
    if llama and r.random() < 0.3:
        a += ['--gpu-layers', str(r.choice([0, 4, 16])), '--host', 'cpu-epyc-9654']
    if r.random() < 0.1:
        a += ['--enforce-eager']
    if r.random() < 0.1:
        a += ['--gpu-memory-utilization', str(r.choice([0.5, 0.95, 1.0]))]
    if r.random() < 0.1:
        a += ['--ts-interval', str(r.choice([0.01, 0.5, 10]))]
    if r.random() < 0.1:
        a += ['--goodput', 'ttft:500', 'tpot:50']
    if r.random() < 0.1:
        a += ['--seq-overhead-us', '0', '--tp-step-ms', '0']
    a += ['--seed', str(r.randint(0, 5))]
    # Options drawn from a stream of their own, so that the draws above (and
    # so the combinations of seeds run before these were added) stay as they were.
    a = extras(random.Random(zlib.crc32(' '.join(a).encode())), a, gpu, model, sched, alloc, llama, par)
    return a, exp


def extras(r, a, gpu, model, sched, alloc, llama, par):
    """Options the draws in combo() leave out: the cost model's knobs, device
    overrides, the pool in GiB, the host link, more formats and models, the
    remaining traces and output forms."""
    def has(o):
        return o in a

    def setv(o, v):  # replaces o's value, or adds o
        if has(o):
            a[a.index(o) + 1] = v
        else:
            a.extend([o, v])
    if r.random() < 0.08:
        m = r.choice(['llama-2-13b', 'llama-1-7b', 'llama-1-13b', 'llama-3.1-70b', 'llama-3.3-70b',
                      'qwen2.5-72b', 'opt-66b', 'llama-1-30b'])
        if gpu in BIG_GPUS[:4] + ['mi300x'] or par or m in ('llama-2-13b', 'llama-1-7b', 'llama-1-13b'):
            setv('--model', m)
    elif r.random() < 0.05:  # a catalog model read as a HuggingFace config.json
        setv('--model', ROOT + '/catalog/models/%s.json' % a[a.index('--model') + 1])
    if r.random() < 0.08 and not has('--num-blocks'):
        a += ['--kv-pool-gib', str(r.choice([0.05, 0.25, 1, 4]))]
    if r.random() < 0.1:
        a += ['--bw-eff', str(r.choice([0.05, 0.5, 1]))]
    if r.random() < 0.1:
        a += ['--flops-eff', str(r.choice([0.05, 0.5, 1]))]
    if r.random() < 0.08:
        a += ['--step-overhead-ms', str(r.choice([0, 0.5, 20]))]
    if r.random() < 0.08:
        a += ['--layer-overhead-us', str(r.choice([0, 5, 200]))]
    if r.random() < 0.06:
        a += ['--runtime-overhead-gib', str(r.choice([0, 0.5, 2]))]
    if r.random() < 0.06:
        a += ['--peak-tflops', str(r.choice([1, 100, 2000]))]
    if r.random() < 0.06:
        a += ['--mem-bw-gbps', str(r.choice([50, 1000, 10000]))]
    if (has('--preemption-mode') or llama or r.random() < 0.05) and r.random() < 0.4:
        a += ['--host-link-gbps', str(r.choice([0.5, 8, 64]))]
    if par and r.random() < 0.4:
        a += ['--allreduce-busbw', str(r.choice([10, 200, 900]))]
        if r.random() < 0.5:
            a += ['--allreduce-latency-us', str(r.choice([0.5, 5, 100]))]
    if llama and has('--gpu-layers') and r.random() < 0.5:
        a.remove('--host'); a.remove('cpu-epyc-9654')
        a += ['--host-bw-gbps', str(r.choice([20, 200])), '--host-tflops', str(r.choice([1, 10])),
              '--host-memory-gib', str(r.choice([16, 256]))]
    if r.random() < 0.08:
        setv('--quantization', r.choice(['Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q5_0', 'Q5_1', 'Q4_K_S', 'Q4_0', 'Q4_1',
                                         'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K', 'IQ4_NL', 'IQ4_XS', 'gptq:group=32',
                                         'awq:group=256']))
    if r.random() < 0.08 and not model.startswith('deepseek'):
        setv('--kv-cache-dtype', r.choice(['fp32', 'fp8_e4m3', 'q5_1', 'q5_0', 'q4_1', 'iq4_nl', 'int2',
                                           'int4:group=64', 'int2:group=128,residual=256', 'auto', 'fp16']))
    if r.random() < 0.04 and not has('--quantization'):
        setv('--dtype', r.choice(['fp32', 'bfloat16', 'half', 'auto']))
    if r.random() < 0.05:
        a += ['--requests-gzip' if r.random() < 0.5 else '--no-requests']
    if sched in ('vllm', 'vllm-v0', 'sarathi') and r.random() < 0.04:
        a += ['--step-profile', ROOT + '/catalog/profiles/h100-sxm_llama-3.1-8b_roofline.csv']
    if has('--trace') and r.random() < 0.1:
        t = a[a.index('--trace') + 1]
        if not t.endswith('same_instant.csv'):
            k = r.choice(['lengths', 'calendar', 'reject', 'window'])
            if k == 'lengths':
                setv('--trace', TR + '/' + r.choice(['lengths_basic.csv', 'lengths_kvsim_names.csv']))
                for o in ('--time-window', '--rate-scale'):
                    if has(o):
                        j = a.index(o); del a[j:j + 2]
                setv('--rate', str(r.choice([0.5, 5, 100])))
                if r.random() < 0.5:
                    a += ['--burstiness', str(r.choice([0.2, 1, 4]))]
            elif k == 'calendar':
                setv('--trace', TR + '/azure_calendar.csv')
                for o in ('--time-window', '--rate', '--sample'):
                    if has(o):
                        j = a.index(o); del a[j:j + 2]
            elif k == 'reject':
                setv('--trace', TR + '/reject_arrival_and_pass.csv')
            else:
                s = r.choice([0, 0.5, 10, 100])
                if not has('--time-window'):
                    a += ['--time-window', '%g:%g' % (s, s + r.choice([1, 50, 1000]))]
    # Drawn after the ones above (on the same stream), so that those stay as
    # they were: input forms, preset files and the options' other names.
    if has('--trace') and r.random() < 0.05 and not a[a.index('--trace') + 1].endswith('same_instant.csv'):
        for o in ('--time-window', '--rate-scale', '--sample', '--rate', '--limit'):
            if has(o):
                j = a.index(o); del a[j:j + 2]
        setv('--trace', TR + '/burstgpt_basic.csv')
        if r.random() < 0.8:
            a += ['--model-filter', r.choice(['ChatGPT', 'GPT-4', 'gpt-4', 'chatgpt'])]
    if has('--trace') and r.random() < 0.1:
        t = a[a.index('--trace') + 1]
        f = [v for k, v in (('burstgpt', 'burstgpt'), ('vidur', 'vidur'), ('mooncake', 'mooncake'), ('conversation', 'mooncake'),
                            ('azure', 'azure'), ('Azure', 'azure'), ('lengths_', 'lengths'), ('kvsim_', 'kvsim'),
                            ('same_instant', 'kvsim'), ('many_hash', 'kvsim'), ('tiny', 'kvsim'), ('reject_', 'kvsim'))
             if k in os.path.basename(t)]
        if f:
            a += ['--format', f[0]]
    if has('--time-window') and r.random() < 0.2:
        j = a.index('--time-window') + 1
        s, e = a[j].split(':')
        a[j] = r.choice([s + ':', ':' + e])
    if has('--workload') and r.random() < 0.08:
        j = a.index('--workload') + 1
        w = a[j]
        if w.startswith('batch:'):
            w = 'batch:at=%g,' % r.choice([0, 2.5, 100]) + w[len('batch:'):]
        emp = 'empirical:file=%s/%s' % (TR, r.choice(['lengths_basic.csv', 'vidur_basic.csv', 'azure_2023.csv',
                                                      'many_hash_ids.csv.gz', 'mooncake_basic.jsonl']))
        for c in (';in=', ';out='):
            if c not in w and r.random() < 0.6:
                w += c + emp
        a[j] = w
    if has('--engine') and r.random() < 0.25:
        setv('--engine', ROOT + '/catalog/presets/%s.preset' % a[a.index('--engine') + 1])
    alias = [('--tensor-parallel-size', '-tp'), ('--pipeline-parallel-size', '-pp'), ('--quantization', '-q'),
             ('--kv-cache-dtype', '--kv-dtype'), ('--gpu-memory-utilization', '--mem-util'), ('--gpu-layers', '-ngl'),
             ('--rate', '--request-rate')]
    for o, b in alias:
        if has(o) and r.random() < 0.15:
            a[a.index(o)] = b
    return a


def run(kv, args, out, timeout=60, sub='run', stdin_path=None, pipe=False):
    cmd = [kv, sub] + args + ['--out', out, '--no-plot', '--quiet']
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = 'detect_leaks=1:abort_on_error=0'
    env['LSAN_OPTIONS'] = 'suppressions=%s/tests/lsan.supp' % ROOT
    env['UBSAN_OPTIONS'] = 'print_stacktrace=1:halt_on_error=1'
    try:
        if stdin_path is not None:  # the file itself, or through a pipe
            with open(stdin_path, 'rb') as f:
                cat = subprocess.Popen(['cat'], stdin=f, stdout=subprocess.PIPE) if pipe else None
                p = subprocess.run(cmd, stdin=cat.stdout if pipe else f, capture_output=True,
                                   timeout=timeout, env=env)
                if cat is not None:
                    cat.stdout.close()
                    cat.wait()
            return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return 'timeout', '', (e.stderr or b'').decode() if isinstance(e.stderr, bytes) else (e.stderr or '')


BADPAT = ['AddressSanitizer', 'runtime error', 'Assertion', 'LeakSanitizer', 'UndefinedBehavior', 'SUMMARY:']


def check_outputs(out, exp, args):
    """Returns list of problems."""
    probs = []
    try:
        def bad_const(c):
            raise ValueError('non-finite %s' % c)
        s = json.load(open(out + '/summary.json'), parse_constant=bad_const)
    except Exception as e:
        return ['summary.json: %s' % e]
    rq = s['requests']
    if rq['completed'] + rq['rejected'] != rq['total']:
        probs.append('completed+rejected != total: %s' % rq)
    if sum(rq['rejected_by'].values()) != rq['rejected']:
        probs.append('sum rejected_by != rejected: %s' % rq)
    if rq['truncated'] > rq['completed']:
        probs.append('truncated > completed')
    if exp is not None and rq['total'] != exp:
        probs.append('total %d != expected %d' % (rq['total'], exp))
    vb = s.get('vllm_bench', {})
    if vb.get('completed') != rq['completed'] or vb.get('failed') != rq['rejected']:
        probs.append('vllm_bench completed/failed %s/%s vs %s' % (vb.get('completed'), vb.get('failed'), rq))
    reps = s.get('replicas') or []
    if reps:
        for key in ('requests', 'completed', 'rejected'):
            if key in reps[0]:
                tot = sum(x[key] for x in reps)
                want = rq['total'] if key == 'requests' else rq[key]
                if tot != want:
                    probs.append('replicas sum %s %d != %d' % (key, tot, want))
    for which in ('time_avg_pct', 'at_peak_pct'):
        d = s['memory'].get(which)
        if d:
            t = sum(d.values())
            if abs(t - 100) > 0.01 and rq['total'] > 0:
                probs.append('memory.%s sums to %r' % (which, t))
            if any(v < -1e-9 for v in d.values()):
                probs.append('memory.%s negative %s' % (which, d))
    pr = s.get('preemption', {})
    if pr and pr['swap'] + pr['recompute'] != pr['total']:
        probs.append('preemption swap+recompute != total: %s' % pr)
    if pr and pr['swapped_in_bytes'] > pr['swapped_out_bytes']:
        probs.append('swapped in > out: %s' % pr)
    if pr and s.get('preemptions') is not None and s['preemptions'] not in (pr['total'], pr['recompute']):
        probs.append('preemptions %s vs preemption %s' % (s['preemptions'], pr))
    if reps and 'preemptions' in reps[0] and sum(x['preemptions'] for x in reps) != pr.get('total'):
        probs.append('replicas preemptions sum %d != %s' % (sum(x['preemptions'] for x in reps), pr))
    if os.path.exists(out + '/requests.csv') and pr:
        rp = sum(int(x['preemptions']) for x in csv.DictReader(open(out + '/requests.csv')))
        if rp != pr['total']:
            probs.append('requests.csv preemptions %d != total %d' % (rp, pr['total']))
    tsp = out + '/timeseries.csv'
    if os.path.exists(tsp) and rq['total'] > 0:
        rows = list(csv.DictReader(open(tsp)))
        cats = ['token_states_bytes', 'reservation_bytes', 'internal_frag_bytes', 'external_frag_bytes', 'blocked_free_bytes', 'free_bytes']
        sums = set()
        lt = -1.0
        for x in rows:
            v = [int(x[c]) for c in cats]
            if min(v) < 0:
                probs.append('timeseries negative at %s' % x['time_s']); break
            sums.add(sum(v))
            t = float(x['time_s'])
            if t <= lt:
                probs.append('timeseries time not increasing at %s' % x['time_s']); break
            lt = t
        if len(sums) > 1:
            probs.append('timeseries categories sum varies: %s' % sorted(sums)[:4])
        # One batch in flight: the time series has every step (with pipeline
        # stages it follows the first virtual engine or batch in flight).
        lanes = s['parallel'].get('batches_in_flight', s['parallel'].get('virtual_engines', 1))
        if (not s.get('replicas') or len(s['replicas']) <= 1) and lanes == 1:
            st = sum(int(x['steps']) for x in rows)
            pt = sum(int(x['prompt_tokens']) for x in rows)
            pe = sum(int(x['preemptions']) for x in rows)
            if st != s['batch']['steps']:
                probs.append('SOFT timeseries steps %d != batch.steps %d' % (st, s['batch']['steps']))
            if pt != s['prefill_tokens_computed']:
                probs.append('SOFT timeseries prompt_tokens %d != prefill_tokens_computed %d' % (pt, s['prefill_tokens_computed']))
            if pe != s['preemption']['total']:
                probs.append('SOFT timeseries preemptions %d != preemption.total %d' % (pe, s['preemption']['total']))
    if os.path.exists(out + '/requests.csv'):
        rows = list(csv.DictReader(open(out + '/requests.csv')))
        if len(rows) != rq['total']:
            probs.append('requests.csv rows %d != total %d' % (len(rows), rq['total']))
        c = sum(1 for x in rows if x['status'] == 'completed')
        rj = sum(1 for x in rows if x['status'] == 'rejected')
        if c != rq['completed'] or rj != rq['rejected']:
            probs.append('requests.csv completed/rejected %d/%d vs %s' % (c, rj, rq))
        ids = [x['id'] for x in rows]
        if len(set(ids)) != len(ids):
            probs.append('duplicate ids in requests.csv')
        ms = s.get('makespan_s')
        for x in rows:
            try:
                if x['status'] == 'completed':
                    ar, ft, fi = float(x['arrival_s']), float(x['first_token_s']), float(x['finish_s'])
                    if not (ar <= ft <= fi):
                        probs.append('row %s: arrival %s first %s finish %s out of order' % (x['id'], ar, ft, fi))
                        break
                    if int(x['output_tokens']) < 1:
                        probs.append('row %s: output_tokens %s' % (x['id'], x['output_tokens']))
                        break
                    if ms is not None and fi > ms + 1e-9:
                        probs.append('row %s: finish %s > makespan %s' % (x['id'], fi, ms))
                        break
            except ValueError as e:
                probs.append('row %s: %s' % (x['id'], e))
                break
    probs += check_more(out, s, rq, int(args[args.index('--n') + 1]) if '--n' in args else 1)
    return probs


def close(x, y, rel=1e-6, ab=2e-9):
    return abs(x - y) <= ab + rel * max(abs(x), abs(y))


def check_more(out, s, rq, n):
    """Cross-checks between summary.json's figures and requests.csv's rows."""
    probs = []
    vb = s.get('vllm_bench', {})
    for k in ('ttft', 'tpot', 'itl', 'e2el'):
        q = [vb.get(x % k) for x in ('median_%s_ms', 'p90_%s_ms', 'p95_%s_ms', 'p99_%s_ms', 'p99.9_%s_ms', 'max_%s_ms')]
        q = [x for x in q if x is not None]
        if any(b < a - 1e-9 * max(1, abs(a)) for a, b in zip(q, q[1:])):
            probs.append('vllm_bench %s percentiles not increasing: %s' % (k, q))
        if any(x < 0 for x in q):
            probs.append('vllm_bench %s negative: %s' % (k, q))
    if s.get('makespan_s') is not None and vb.get('duration') is not None and not close(vb['duration'], s['makespan_s']):
        probs.append('duration %s != makespan %s' % (vb['duration'], s['makespan_s']))
    if rq['completed'] and vb.get('duration'):
        if not close(vb['output_throughput'], vb['total_output_tokens'] / vb['duration'], 1e-9):
            probs.append('output_throughput %s != %s / %s' % (vb['output_throughput'], vb['total_output_tokens'], vb['duration']))
    pc = s.get('prefix_cache') or {}
    if pc and pc['hit_tokens'] > pc['lookup_tokens']:
        probs.append('prefix hit_tokens > lookup_tokens: %s' % pc)
    mem = s['memory']
    if mem['peak_kv_used_bytes'] > mem['peak_kv_allocated_bytes'] and len(s.get('replicas') or []) <= 1:
        probs.append('peak used %d > peak allocated %d' % (mem['peak_kv_used_bytes'], mem['peak_kv_allocated_bytes']))
    if mem['peak_kv_allocated_bytes'] > mem['kv_pool_bytes']:
        probs.append('peak allocated %d > pool %d' % (mem['peak_kv_allocated_bytes'], mem['kv_pool_bytes']))
    reps = s.get('replicas') or []
    # busy_s sums over the batches in flight (vLLM V1's lanes, v0's virtual engines).
    ve = s['parallel'].get('batches_in_flight', s['parallel'].get('virtual_engines', 1))
    if s['busy_s'] > s['makespan_s'] * max(1, len(reps)) * ve * (1 + 1e-9) + 1e-9:
        probs.append('busy_s %s > makespan %s x %d replicas x %d' % (s['busy_s'], s['makespan_s'], len(reps), ve))
    sb = s['parallel'].get('stage_busy_pct')
    if sb is not None and not (0 <= sb <= 100 + 1e-6):
        probs.append('stage_busy_pct %s' % sb)
    b = s['batch']
    if b['mean_running'] > b['max_running'] + 1e-9:
        probs.append('mean_running %s > max_running %s' % (b['mean_running'], b['max_running']))
    mns = s['config']['max_num_seqs']
    for x in reps:
        if x['max_running'] > mns:
            probs.append('replica %d max_running %d > max_num_seqs %d' % (x['replica'], x['max_running'], mns))
    g = s.get('goodput') or {}
    if g.get('good_requests', 0) > rq['completed']:
        probs.append('good_requests %s > completed %d' % (g['good_requests'], rq['completed']))
    if rq['completed'] and vb.get('duration'):
        d = vb['duration']
        if not close(vb['request_throughput'], rq['completed'] / d, 1e-9):
            probs.append('request_throughput %s != %d / %s' % (vb['request_throughput'], rq['completed'], d))
        if not close(vb['total_token_throughput'], (vb['total_input_tokens'] + vb['total_output_tokens']) / d, 1e-9):
            probs.append('total_token_throughput %s != (%s + %s) / %s' % (vb['total_token_throughput'], vb['total_input_tokens'], vb['total_output_tokens'], d))
        late = rq['rejected_by'].get('sequence_outgrew_kv_pool', 0) + rq['rejected_by'].get('recomputation_exceeds_max_batched_tokens', 0)
        # (known: the peak second also counts tokens of requests rejected
        # after their first token, which vllm bench leaves out)
        if vb.get('max_output_tokens_per_s', 0) > vb['total_output_tokens'] and not late:
            probs.append('max_output_tokens_per_s %s > total output %s' % (vb['max_output_tokens_per_s'], vb['total_output_tokens']))
    sp = s.get('speculative')
    if sp and sp.get('spec_decode_num_drafts'):
        nd, dt, ac = sp['spec_decode_num_drafts'], sp['spec_decode_draft_tokens'], sp['spec_decode_accepted_tokens']
        k = sp['num_speculative_tokens']
        if not (0 <= ac <= dt <= nd * k):
            probs.append('speculative drafts %d, draft tokens %d, accepted %d (k %d)' % (nd, dt, ac, k))
        if not close(sp['spec_decode_acceptance_rate'], 100.0 * ac / dt, 1e-5, 1e-5):
            probs.append('spec acceptance_rate %s != 100 x %d / %d' % (sp['spec_decode_acceptance_rate'], ac, dt))
        if not close(sp['spec_decode_acceptance_length'], 1 + ac / nd, 1e-5, 1e-5):
            probs.append('spec acceptance_length %s != 1 + %d / %d' % (sp['spec_decode_acceptance_length'], ac, nd))
        pp = sp.get('spec_decode_per_position_acceptance_rate') or []
        if any(y > x + 1e-6 for x, y in zip(pp, pp[1:])):
            probs.append('spec per-position acceptance increases: %s' % pp)
        if sp.get('draft_time_share', 0) + sp.get('verify_time_share', 0) > 1 + 1e-6:
            probs.append('spec draft + verify shares > 1: %s %s' % (sp['draft_time_share'], sp['verify_time_share']))
    tsp = out + '/timeseries.csv'
    if os.path.exists(tsp) and rq['total'] > 0 and ve == 1:
        rows = list(csv.DictReader(open(tsp)))
        cats = ['token_states_bytes', 'reservation_bytes', 'internal_frag_bytes', 'external_frag_bytes', 'blocked_free_bytes', 'free_bytes']
        if rows and sum(int(rows[0][c]) for c in cats) != mem['kv_pool_bytes']:
            probs.append('SOFT timeseries categories sum %d != kv_pool_bytes %d' % (sum(int(rows[0][c]) for c in cats), mem['kv_pool_bytes']))
    lat = s.get('latency_s', {})
    if 'ttft' in lat and lat['ttft']['count'] != rq['completed']:
        probs.append('ttft count %s != completed %d' % (lat['ttft']['count'], rq['completed']))
    p = out + '/requests.csv'
    if not os.path.exists(p):
        return probs
    rows = list(csv.DictReader(open(p)))
    ci = co = tr = 0
    for x in rows:
        if x['status'] != 'completed':
            continue
        ci += int(x['input_tokens']); co += int(x['output_tokens'])
        o, req = int(x['output_tokens']), int(x['output_requested'])
        tr += o < req
        if o > req:
            probs.append('row %s: output %d > requested %d' % (x['id'], o, req)); break
        ar, ft, fi = float(x['arrival_s']), float(x['first_token_s']), float(x['finish_s'])
        tt, e2, qu, pf = float(x['ttft_s']), float(x['e2e_s']), float(x['queue_s']), float(x['prefill_s'])
        if not close(tt, ft - ar, 1e-6, 2e-8) or not close(e2, fi - ar, 1e-6, 2e-8):
            probs.append('row %s: ttft/e2e %s/%s vs times %s %s %s' % (x['id'], tt, e2, ar, ft, fi)); break
        if qu < 0 or pf < 0 or not close(qu + pf, tt, 1e-6, 2e-8):
            probs.append('SOFT row %s: queue %s + prefill %s != ttft %s' % (x['id'], qu, pf, tt)); break
        if o > 1 and x['tpot_s'] not in ('', 'nan') and not close(float(x['tpot_s']) * (o - 1), fi - ft, 1e-5, 1e-7):
            probs.append('SOFT row %s: tpot %s x %d != finish - first %s' % (x['id'], x['tpot_s'], o - 1, fi - ft)); break
    if vb.get('total_input_tokens') is not None and (vb['total_input_tokens'] != ci or vb['total_output_tokens'] != co * n):
        # vllm bench counts each of a request's n outputs; requests.csv one
        probs.append('vllm_bench tokens in/out %s/%s != requests.csv %d/%d' % (vb['total_input_tokens'], vb['total_output_tokens'], ci, co))
    if tr != rq['truncated']:
        probs.append('SOFT truncated %d != rows with output < requested %d' % (rq['truncated'], tr))
    return probs


def strip_wall(path):
    s = json.load(open(path))
    s['sim'].pop('wall_s', None)
    return json.dumps(s, sort_keys=True)


def compare_dirs(a, b, files=('requests.csv', 'timeseries.csv')):
    diffs = []
    if strip_wall(a + '/summary.json') != strip_wall(b + '/summary.json'):
        diffs.append('summary.json')
    for f in files:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if os.path.exists(pa) != os.path.exists(pb):
            diffs.append(f + ' (presence)')
        elif os.path.exists(pa) and open(pa, 'rb').read() != open(pb, 'rb').read():
            diffs.append(f)
    return diffs


def compare_combo(r):
    args, exp = combo(r)
    if '--allocator' in args and '--enable-prefix-caching' in args and args[args.index('--scheduler') + 1] in ('orca', 'static'):
        args.remove('--enable-prefix-caching')  # their default allocator is contiguous
    drop = {'--allocator', '--block-size', '--speculative-config', '--kv-cache-dtype', '--quantization', '--kv-dtype', '-q'}
    out, i = [], 0
    while i < len(args):
        if args[i] in drop:
            i += 2
            continue
        out.append(args[i])
        i += 1
    k = r.choice(['alloc', 'alloc', 'spec', 'kv', 'q'])
    if k == 'alloc':
        specs = r.sample(['paged', 'paged:block=32', 'paged:block=8,prefix=on', 'contiguous:reserve=max',
                          'contiguous:reserve=pow2', 'contiguous:reserve=oracle,fit=first',
                          'vattn:page=2m', 'vattn:page=64k', 'jemalloc:reserve=grow', 'jemalloc:reserve=max'], r.randint(2, 4))
        if not all(x.startswith('paged') for x in specs):  # refused with the others
            out = [x for x in out if x != '--enable-prefix-caching']
        out += ['--allocators', ','.join(specs)]
    elif k == 'spec':
        if '--scheduler' in out:
            j = out.index('--scheduler'); out[j + 1] = 'vllm'
        out = [x for x in out if x not in ('--preemption-mode', 'swap')]
        for o in ('--swap-space', '--n'):  # no swap in V1, no speculation with --n
            if o in out:
                j = out.index(o); del out[j:j + 2]
        if '--max-num-batched-tokens' in out and '--max-num-seqs' not in out:
            j = out.index('--max-num-batched-tokens')  # V1's 1024 sequences need a budget of 1024
            out[j + 1] = str(max(int(out[j + 1]), 1024))
        out += ['--speculative-config', spec(r)]
    elif k == 'kv':
        out += ['--kv-cache-dtypes', r.choice(['fp16,fp8', 'fp16,int8,int4:group=32,residual=128', 'fp8,q8_0'])]
    else:
        out += ['--quantizations', r.choice(['fp8,awq', 'gptq,Q4_K_M', 'int8,nvfp4'])]
    return out, exp


def one(kv, i, seed0, merge_frac, base, mode='run', gen_frac=0.15):
    r = random.Random(seed0 * 1000003 + i)
    if mode == 'compare':
        return one_compare(kv, i, r, base)
    args, exp = combo(r)
    d = os.path.join(base, str(i))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    res = {'i': i, 'args': args, 'status': 'ok', 'probs': []}
    rc, so, se = run(kv, args, d + '/a')
    res['rc'] = rc
    if rc == 'timeout' and '--check' in args:
        # --check walks the allocator's whole state after every operation
        # (jemalloc's merges its statistics): a long run can pass the limit
        # and finish without it. Judge the run without --check then.
        args = [x for x in args if x != '--check']
        res['args'], res['check_dropped'] = args, True
        shutil.rmtree(d + '/a', ignore_errors=True)
        rc, so, se = run(kv, args, d + '/a')
        res['rc'] = rc
    if rc == 'timeout':
        res['status'] = 'FAIL'
        res['probs'].append('timeout')
    elif any(p in se for p in BADPAT):
        res['status'] = 'FAIL'
        res['probs'].append('sanitizer/assert: ' + se[-3000:])
    elif rc != 0:
        lines = [l for l in se.strip().split('\n') if l]
        if len(lines) >= 1 and lines[-1].startswith('kvsim: ') and rc > 0:
            res['status'] = 'refused'
            res['probs'].append(lines[-1][:300])
        else:
            res['status'] = 'FAIL'
            res['probs'].append('rc %s stderr: %s' % (rc, se[-2000:]))
    else:
        p = check_outputs(d + '/a', exp, args)
        if p:
            res['status'] = 'FAIL'
            res['probs'] += p
        if r.random() < merge_frac and not p:
            rc2, so2, se2 = run(kv, args + ['--no-merge-steps'], d + '/b', timeout=120)
            if rc2 != 0 or any(x in se2 for x in BADPAT):
                res['status'] = 'FAIL'
                res['probs'].append('no-merge run rc %s: %s' % (rc2, se2[-2000:]))
            else:
                df = compare_dirs(d + '/a', d + '/b')
                res['merge_checked'] = True
                if df:
                    res['status'] = 'FAIL'
                    res['probs'].append('merge vs no-merge differ: %s' % df)
        if '--replicas' in args and '--serial-replicas' not in args and r.random() < 0.5 and res['status'] == 'ok':
            rc3, _, se3 = run(kv, args + ['--serial-replicas'], d + '/c', timeout=120)
            if rc3 == 0:
                df = compare_dirs(d + '/a', d + '/c')
                df = [x for x in df if x != 'summary.json']
                res['serial_checked'] = True
                if df:
                    res['status'] = 'FAIL'
                    res['probs'].append('threaded vs serial differ: %s' % df)
            else:
                res['status'] = 'FAIL'
                res['probs'].append('serial run rc %s: %s' % (rc3, se3[-2000:]))
        if res['status'] == 'ok' and '--trace' in args and r.random() < gen_frac / 2:
            stdin_check(kv, args, d, res, r)
        if res['status'] == 'ok' and r.random() < gen_frac:
            gen_check(kv, args, d, res)
        if res['status'] == 'ok' and r.random() < gen_frac:
            observer_check(kv, args, d, res, r)
    if res['status'] != 'FAIL':
        shutil.rmtree(d, ignore_errors=True)
    return res


def stdin_check(kv, args, d, res, r):
    """The same run with its trace on standard input (--trace -, piped or
    redirected from the file): the same requests.csv and timeseries.csv."""
    t = args.index('--trace') + 1
    path = args[t]
    a2 = list(args)
    a2[t] = '-'
    rc, _, se = run(kv, a2, d + '/s', stdin_path=path, pipe=r.random() < 0.5)
    res['stdin_checked'] = True
    if rc != 0 or any(x in se for x in BADPAT):
        res['status'] = 'FAIL'
        res['probs'].append('--trace - run rc %s: %s' % (rc, se[-2000:]))
        return
    df = [x for x in compare_dirs(d + '/a', d + '/s') if x != 'summary.json']
    # summary.json: the same less its "source" (the path, '<stdin>')
    def body(p):
        s = json.loads(strip_wall(p))
        for v in s.values():
            if isinstance(v, dict) and isinstance(v.get('source'), str):
                v.pop('source')
        return json.dumps(s, sort_keys=True)
    if body(d + '/a/summary.json') != body(d + '/s/summary.json'):
        df.append('summary.json')
    if df:
        res['status'] = 'FAIL'
        res['probs'].append('--trace - differs from the file: %s' % df)


# kvsim gen's options: the source and its transforms (and --seed, which also
# seeds the run's other streams: it stays in the run's options too).
GEN_OPTS = {'--trace', '--workload', '--format', '--model-filter', '--rate', '--request-rate', '--burstiness',
            '--time-window', '--sample', '--rate-scale', '--limit'}


def gen_check(kv, args, d, res):
    """kvsim gen writes the run's requests (its workload, or its trace after
    the transforms) and kvsim run reads them back: the same requests, arrival
    times exact (kvsim gen --help), so the same requests.csv (but its line
    column) and timeseries.csv."""
    ga, ra, i = ['--seed', args[args.index('--seed') + 1]], [], 0
    while i < len(args):
        k = 2 if args[i] in GEN_OPTS else 1
        (ga if k == 2 else ra).extend(args[i:i + k])
        i += k
    f = d + '/gen.csv'
    cmd = [kv, 'gen'] + ga + ['-o', f, '--quiet']
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    res['gen_checked'] = True
    if p.returncode != 0 or any(x in p.stderr for x in BADPAT):
        res['status'] = 'FAIL'
        res['probs'].append('gen rc %s: %s' % (p.returncode, p.stderr[-2000:]))
        return
    ra = ['--trace', f] + ra
    rc, _, se = run(kv, ra, d + '/g', timeout=120)
    if rc != 0 or any(x in se for x in BADPAT):
        res['status'] = 'FAIL'
        res['probs'].append('run of gen output rc %s: %s' % (rc, se[-2000:]))
        return

    def rows(path):  # requests.csv without its line column
        if not os.path.exists(path):
            return None
        return [x[:1] + x[2:] for x in csv.reader(open(path))]
    df = []
    for fn in ('requests.csv', 'requests.csv.gz'):
        if os.path.exists(d + '/a/' + fn) and fn.endswith('.csv') and rows(d + '/a/' + fn) != rows(d + '/g/' + fn):
            df.append(fn)
    df += [x for x in compare_dirs(d + '/a', d + '/g', ('timeseries.csv',)) if x != 'summary.json']
    sa, sg = (json.load(open(x + '/summary.json')) for x in (d + '/a', d + '/g'))
    for k in ('requests', 'latency_s', 'memory', 'batch', 'preemption', 'vllm_bench', 'makespan_s', 'busy_s'):
        if sa.get(k) != sg.get(k):
            df.append('summary.json ' + k)
    if df:
        res['status'] = 'FAIL'
        res['probs'].append('kvsim gen %s, then kvsim run %s: differ %s' % (
            ' '.join(shlex.quote(x) for x in ga), ' '.join(shlex.quote(x) for x in ra), df))


def observer_check(kv, args, d, res, r):
    """Options that only observe the run: another --ts-interval, --goodput
    objectives and a --max-concurrency no client reaches
    (every request sent at its time, as the open loop's) must leave the
    requests and the summary's figures as they were."""
    o = list(args)
    if '--ts-interval' in o:
        j = o.index('--ts-interval'); del o[j:j + 2]
    o += ['--ts-interval', str(r.choice([0.001, 0.3, 7, 1000]))]
    if '--goodput' not in o:
        o += ['--goodput', 'ttft:%d' % r.choice([1, 100, 100000]), 'e2el:%d' % r.choice([10, 10000])]
    if '--max-concurrency' not in o and r.random() < 0.5:
        o += ['--max-concurrency', '1000000']
    rc, _, se = run(kv, o, d + '/o', timeout=120)
    res['observer_checked'] = True
    if rc != 0 or any(x in se for x in BADPAT):
        res['status'] = 'FAIL'
        res['probs'].append('observer run rc %s: %s' % (rc, se[-2000:]))
        return
    df = [x for x in compare_dirs(d + '/a', d + '/o', ('requests.csv', 'requests.csv.gz')) if x != 'summary.json']
    sa, so = (json.load(open(x + '/summary.json')) for x in (d + '/a', d + '/o'))
    for x in (sa, so):  # the goodput asked for
        x.get('vllm_bench', {}).pop('request_goodput', None)
    # A closed-loop client takes replicas off their threads (--serial-replicas:
    # sums over replicas may differ in their last bits)
    rel = 1e-12 if '--replicas' in args and '--max-concurrency' not in args and '--max-concurrency' in o else 0

    def same(x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, float) and isinstance(y, float) and rel:
            return close(x, y, rel, 0)
        return x == y
    for k in ('requests', 'latency_s', 'memory', 'batch', 'preemption', 'vllm_bench', 'makespan_s', 'busy_s',
              'prefix_cache', 'speculative', 'phases'):
        if not same(sa.get(k), so.get(k)):
            df.append('summary.json ' + k)
    if df:
        res['status'] = 'FAIL'
        res['probs'].append('with observing options, kvsim run %s: differ %s' % (' '.join(shlex.quote(x) for x in o), df))


DRAFT_ROOFLINE = {'--bw-eff', '--flops-eff', '--layer-overhead-us', '--seq-overhead-us', '--enforce-eager'}


def standalone_args(args, sd, summ):
    """kvsim run's options for the arm of kvsim compare ARGS written to SD."""
    a, i = [], 0
    plural = {'--allocators': '--allocator', '--kv-cache-dtypes': '--kv-cache-dtype', '--quantizations': '--quantization'}
    key = {'--allocator': 'allocator', '--kv-cache-dtype': 'kv_dtype', '--quantization': 'weight_dtype'}
    while i < len(args):
        if args[i] in plural:
            o = plural[args[i]]
            a += [o, summ['config'][key[o]]]
            i += 2
        elif args[i] == '--num-blocks' and '--allocators' in args:
            # compare's blocks are of its first paged spec's size: the arm's
            # pool in bytes (an exact binary fraction of a GiB); with vLLM
            # v0's pipeline kv_pool_bytes is virtual engine 0's 1/P of it
            ve = summ['parallel'].get('virtual_engines', 1)
            a += ['--kv-pool-gib', repr(summ['memory']['kv_pool_bytes'] * ve / 2 ** 30)]
            i += 2
        elif args[i] in ('--enable-prefix-caching', '--no-enable-prefix-caching'):
            i += 1
        elif args[i] == '--speculative-config' and sd == 'baseline':
            i += 2
        elif sd == 'baseline' and '--step-profile' in args and args[i] in DRAFT_ROOFLINE:
            # the drafter's roofline terms beside a profile: the baseline
            # has no drafter, and kvsim run refuses them there
            i += 1 if args[i] == '--enforce-eager' else 2
        else:
            a.append(args[i]); i += 1
    # compare leaves prefix caching to --enable-prefix-caching or the arm's spec
    a.append('--enable-prefix-caching' if summ['config']['enable_prefix_caching'] else '--no-enable-prefix-caching')
    return a


def one_compare(kv, i, r, base):
    args, exp = compare_combo(r)
    d = os.path.join(base, 'c%d' % i)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    res = {'i': i, 'args': ['compare'] + args, 'status': 'ok', 'probs': []}
    rc, so, se = run(kv, args, d + '/a', timeout=120, sub='compare')
    res['rc'] = rc
    if rc == 'timeout' and '--check' in args:  # as in one()
        args = [x for x in args if x != '--check']
        res['args'], res['check_dropped'] = ['compare'] + args, True
        shutil.rmtree(d + '/a', ignore_errors=True)
        rc, so, se = run(kv, args, d + '/a', timeout=120, sub='compare')
        res['rc'] = rc
    if rc == 'timeout':
        res['status'] = 'FAIL'; res['probs'].append('timeout')
    elif any(p in se for p in BADPAT if p != 'SUMMARY:') or ('SUMMARY:' in se and 'libfontconfig' not in se):
        res['status'] = 'FAIL'; res['probs'].append('sanitizer/assert: ' + se[-3000:])
    elif rc != 0:
        lines = [l for l in se.strip().split('\n') if l]
        if lines and lines[-1].startswith('kvsim: ') and rc > 0:
            res['status'] = 'refused'; res['probs'].append(lines[-1][:300])
        else:
            res['status'] = 'FAIL'; res['probs'].append('rc %s stderr: %s' % (rc, se[-2000:]))
    else:
        subs = [sd for sd in sorted(os.listdir(d + '/a')) if os.path.isdir(os.path.join(d, 'a', sd))]
        for sd in subs:
            p = check_outputs(os.path.join(d, 'a', sd), exp, args)
            if p:
                res['status'] = 'FAIL'; res['probs'] += ['%s: %s' % (sd, x) for x in p]
        if res['status'] == 'ok' and subs and r.random() < 0.5:
            # One arm run alone with kvsim run must give the same three files.
            sd = r.choice(subs)
            ra = standalone_args(args, sd, json.load(open(os.path.join(d, 'a', sd, 'summary.json'))))
            rc2, _, se2 = run(kv, ra, d + '/b', timeout=120)
            res['standalone_checked'] = True
            if rc2 != 0 or any(x in se2 for x in BADPAT):
                res['status'] = 'FAIL'; res['probs'].append('standalone %s rc %s: %s' % (sd, rc2, se2[-2000:]))
            else:
                df = compare_dirs(os.path.join(d, 'a', sd), d + '/b')
                if df:
                    res['status'] = 'FAIL'
                    res['probs'].append('compare arm %s vs kvsim run %s differ: %s' % (sd, ' '.join(shlex.quote(x) for x in ra), df))
    if res['status'] != 'FAIL':
        shutil.rmtree(d, ignore_errors=True)
    return res


def summary(results):
    from collections import Counter
    c = Counter()
    merged = serial = alone = gen = obs = piped = 0
    for d in results:
        piped += d.get('stdin_checked', 0)
        gen += d.get('gen_checked', 0)
        obs += d.get('observer_checked', 0)
        c[d['status']] += 1
        merged += d.get('merge_checked', 0)
        serial += d.get('serial_checked', 0)
        alone += d.get('standalone_checked', 0)
    return '%s; %d compared with --no-merge-steps, %d with --serial-replicas, %d compare arms with kvsim run, %d through kvsim gen, %d with observing options, %d with the trace on standard input' % (
        dict(c), merged, serial, alone, gen, obs, piped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('kvsim')
    ap.add_argument('start', type=int)
    ap.add_argument('count', type=int)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--merge-frac', type=float, default=0.3)
    ap.add_argument('--base', default=os.path.join(tempfile.gettempdir(), 'kvsim_combos'))
    ap.add_argument('--log', default=None, help='one JSON line per combination (default: BASE/log.jsonl)')
    ap.add_argument('--mode', default='run')
    ap.add_argument('--gen-frac', type=float, default=0.15)
    o = ap.parse_args()
    os.makedirs(o.base, exist_ok=True)
    if o.log is None:
        o.log = os.path.join(o.base, 'log.jsonl')
    with open(o.log, 'a') as log, ThreadPoolExecutor(o.jobs) as ex:
        futs = [ex.submit(one, o.kvsim, i, o.seed, o.merge_frac, o.base, o.mode, o.gen_frac) for i in range(o.start, o.start + o.count)]
        results = []
        for f in futs:
            res = f.result()
            results.append(res)
            log.write(json.dumps(res) + '\n')
            log.flush()
            if res['status'] == 'FAIL':
                print('FAIL %d: %s\n   %s' % (res['i'], ' '.join(shlex.quote(x) for x in res['args']), res['probs']), flush=True)
    print('%s (log %s)' % (summary(results), o.log))
    sys.exit(1 if any(d['status'] == 'FAIL' for d in results) else 0)


if __name__ == '__main__':
    main()
