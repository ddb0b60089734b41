#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS (default 20), seeded with the trace corpus in
# tests/data/traces (good and bad files, plus gzip copies made here) and
# tests/fuzz/spec_seeds. Exits non-zero on the first crash, leak or broken
# guarantee; libFuzzer leaves the input as crash-* in the work directory.
#   tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SECONDS_EACH=${1:-20}
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DKVSIM_SANITIZE=ON \
  -DKVSIM_FUZZ=ON -DKVSIM_WERROR=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzz
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvsim_fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/gz"
for f in tests/data/traces/*.csv tests/data/traces/*.jsonl; do
  gzip -c "$f" >"$WORK/gz/$(basename "$f").gz"
done
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
for target in "$BUILD"/tests/fuzz/fuzz_*; do
  name=$(basename "$target")
  mkdir -p "$WORK/$name"
  if [ "$name" = fuzz_spec ]; then
    seeds=("$ROOT/tests/fuzz/spec_seeds")
  elif [ "$name" = fuzz_formats ]; then
    seeds=("$ROOT/tests/fuzz/format_seeds")
  elif [ "$name" = fuzz_model ]; then
    seeds=("$ROOT/catalog/models")
  elif [ "$name" = fuzz_profile ]; then
    seeds=("$ROOT/tests/data/profiles" "$ROOT/catalog/profiles")
  elif [ "$name" = fuzz_measure ]; then
    seeds=("$ROOT/tests/data/measurements")
  elif [ "$name" = fuzz_preset ]; then
    seeds=("$ROOT/catalog/presets")
  else
    seeds=("$ROOT/tests/data/traces" "$WORK/gz") # read recursively: bad/ included
  fi
  echo "== $name: ${SECONDS_EACH} s"
  (cd "$WORK" && "$ROOT/$target" -max_total_time="$SECONDS_EACH" -seed=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "$WORK/$name" "${seeds[@]}" \
    2>"$WORK/$name.log") || {
    tail -50 "$WORK/$name.log"
    echo "fuzz: $name failed"
    exit 1
  }
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb" "$WORK/$name.log"
done
echo "== fuzz passed"
