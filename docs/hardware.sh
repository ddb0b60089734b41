#!/bin/bash
# The figures of README "Hardware": one line per run, from its summary.json.
# Run from the repository root after building (make build); writes under /tmp/hw.
set -eu
K=build/cli/kvsim; AZ=traces/samples/azure_conv_2023.csv.gz; mkdir -p /tmp/hw
sj() { python3 -c "
import json,sys;d=json.load(open('$1/summary.json'));v=d['vllm_bench'];p=d['parallel']
busy=d['busy_s']
print('$2', 'makespan %.1f'%d['makespan_s'], 'meanbatch %.1f'%d['batch']['mean_batch_seqs'], 'preempt %d'%d['preemptions'], 'ttft_p50_ms %.1f'%v['median_ttft_ms'], 'tpot_p50_ms %.1f'%v['median_tpot_ms'], 'out_tok_s %.1f'%v['output_throughput'], 'ar_share %.1f'%(100*p['allreduce_s']/busy if busy else 0), 'stage_busy', p['stage_busy_pct'], 'pool_gib %.2f'%(d['memory']['kv_pool_bytes']/2**30))
"; }
L70="--gpu a100-80gb --model llama-2-70b --max-num-seqs 128 --max-num-batched-tokens 4096 --max-model-len 4096"
$K run --trace $AZ $L70 -tp 2 --num-blocks 3328 --out /tmp/hw/a --quiet; sj /tmp/hw/a "A100 TP2 nb3328"
for tp in 2 4 8; do $K run --trace $AZ $L70 -tp $tp --out /tmp/hw/a$tp --quiet; sj /tmp/hw/a$tp "A100 TP$tp"; done
W="poisson:rate=20,n=2000;in=uniform:min=200,max=1000;out=uniform:min=100,max=300"
R="--workload $W --gpu rtx-4090 --model llama-3.1-8b --max-model-len 8192 --seed 1"
$K run $R -tp 2 --out /tmp/hw/p1 --quiet; sj /tmp/hw/p1 "4090 TP2 pcie"
$K run $R -tp 2 --allreduce-busbw 200 --allreduce-latency-us 10 --out /tmp/hw/p2 --quiet; sj /tmp/hw/p2 "4090 TP2 nvlink-figures"
$K run $R -tp 4 --out /tmp/hw/p3 --quiet; sj /tmp/hw/p3 "4090 TP4 pcie"
$K run $R -pp 2 --out /tmp/hw/p4 --quiet; sj /tmp/hw/p4 "4090 PP2"
H="--workload sharegpt:n=2000,rate=20 --gpu h100-sxm --model llama-3.1-70b --max-model-len 8192 --seed 1"
$K run $H -tp 8 --out /tmp/hw/h1 --quiet; sj /tmp/hw/h1 "H100 TP8"
$K run $H -tp 4 -pp 2 --out /tmp/hw/h2 --quiet; sj /tmp/hw/h2 "H100 TP4xPP2"
$K run $H -tp 2 -pp 4 --out /tmp/hw/h3 --quiet; sj /tmp/hw/h3 "H100 TP2xPP4"
CL="poisson:rate=0.001,n=3;in=uniform:min=512,max=512;out=uniform:min=256,max=256"
for n in 0 8 16 24 32; do $K run --workload "$CL" --gpu rtx-4090 --model llama-3.1-8b --engine llamacpp --max-model-len 8192 --gpu-layers $n --host cpu-ryzen-5950x --max-concurrency 1 --out /tmp/hw/o$n --quiet; sj /tmp/hw/o$n "ngl $n"; done
$K run --workload "poisson:rate=0.001,n=3;in=uniform:min=494,max=494;out=uniform:min=1024,max=1024" --gpu m2-ultra --model llama-2-70b --engine llamacpp-metal --max-model-len 4096 --max-concurrency 1 --out /tmp/hw/m --quiet; sj /tmp/hw/m "M2 Ultra 70B"
for d in cpu-epyc-9654 cpu-xeon-8480 cpu-ryzen-5950x; do $K run --workload "$CL" --gpu $d --model llama-3.1-8b --engine llamacpp --max-model-len 8192 --max-concurrency 1 --out /tmp/hw/$d --quiet; sj /tmp/hw/$d "$d"; done
