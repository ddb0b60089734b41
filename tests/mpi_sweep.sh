#!/bin/sh
# Distributed sweeps (.ci/run): kvsim built with -DKVSIM_MPI=ON in BUILD
# (default build-mpi), `mpirun -n 2 kvsim sweep` against `kvsim sweep -j 2`
# on the same grid and the same SLO search: curves.csv, curves.json and
# find.json must be byte-identical; a
# run failing on rank 1 must fail the whole sweep with one error line and
# no curves. As root, mpirun needs --allow-run-as-root; --oversubscribe lets
# two ranks share fewer cores.
set -eu
BUILD=${1:-build-mpi}
KVSIM="$BUILD/cli/kvsim"
MPIRUN="mpirun --oversubscribe -n 2"
[ "$(id -u)" = 0 ] && MPIRUN="mpirun --allow-run-as-root --oversubscribe -n 2"
TMP=$(mktemp -d /tmp/kvsim-mpi-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
ARGS="--vary max-num-seqs=1..64x2 --vary block-size=16,32 --seeds 2 \
  --workload sharegpt:n=200,rate=20 --gpu a100-80gb --model llama-2-7b --quiet"
$MPIRUN "$KVSIM" sweep $ARGS --out "$TMP/mpi"
"$KVSIM" sweep $ARGS -j 2 --out "$TMP/local"
cmp "$TMP/mpi/curves.csv" "$TMP/local/curves.csv"
cmp "$TMP/mpi/curves.json" "$TMP/local/curves.json"
# The SLO search: each load's seeds shared among the ranks, rank 0's
# verdict broadcast: the same loads, the same answer, the same files.
FIND="--find max-rate --slo p99_ttft_ms=2000 --seeds 3 --find-tol 0.01 \
  --workload sharegpt:n=200,rate=4 --gpu l40s --model llama-3.1-8b --quiet"
$MPIRUN "$KVSIM" sweep $FIND --out "$TMP/find-mpi"
"$KVSIM" sweep $FIND -j 2 --out "$TMP/find-local"
cmp "$TMP/find-mpi/find.json" "$TMP/find-local/find.json"
cmp "$TMP/find-mpi/curves.csv" "$TMP/find-local/curves.csv"
# Point 1 (owned by rank 1) fails: every rank stops, exit non-zero.
if $MPIRUN "$KVSIM" sweep --vary time-window=0:10,bogus --workload sharegpt:n=50,rate=20 \
    --gpu a100-80gb --model llama-2-7b --quiet --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then
    echo "mpi_sweep: a failing run did not fail the sweep"; exit 1
fi
grep -q "^kvsim: sweep: point 1 (time-window=bogus) seed 0: --time-window" "$TMP/bad.log"
[ ! -e "$TMP/bad/curves.csv" ]
echo "mpi_sweep: mpirun -n 2 and -j 2 curves and searches byte-identical; a failing rank fails the sweep"
