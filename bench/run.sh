#!/bin/sh
# Runs every benchmark of a build in sequence, then prints each one's result line and JSON line.
# usage: bench/run.sh BUILD_DIR   (data goes to BUILD_DIR/bench-data, on the build's disk)
# BENCH_QUICK=1 shortens the load benchmarks (task submission, listing, HTTP, memory, gateway) for a check.
set -eu

if [ $# -ne 1 ] || [ ! -d "$1/bench" ]; then
  echo "usage: $0 BUILD_DIR (a build configured with -DAGENTAI_BENCH=ON)" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
BENCH_BIN="$BUILD_DIR/bench"
DATA_DIR="$BUILD_DIR/bench-data"
RESULTS="$BUILD_DIR/bench-results.jsonl"
mkdir -p "$DATA_DIR"
: >"$RESULTS"
SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT
FAILED=0

# run_bench NAME ARGS...: runs $BENCH_BIN/NAME; keeps its "result:" and JSON lines.
run_bench() {
  name=$1
  shift
  echo "== $name"
  if ! out=$("$BENCH_BIN/$name" "$@"); then
    echo "$name: FAILED" >>"$SUMMARY"
    FAILED=1
    return 0
  fi
  echo "$out"
  echo "$out" | grep '^result:' | sed "s/^result:/$name:/" >>"$SUMMARY" || true
  echo "$out" | grep '^{' >>"$RESULTS" || true
}

run_bench bench_durable_writes --dir "$DATA_DIR" --seconds 3 --in-flight 256
run_bench bench_lua_kv_get --dir "$DATA_DIR" --seconds 1 --rounds 3
run_bench bench_lua_kv_get --dir "$DATA_DIR" --seconds 1 --rounds 3 --value number
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  run_bench bench_task_submit --dir "$DATA_DIR" --seconds 2
  run_bench bench_task_listing --dir "$DATA_DIR" --tasks 5000 --requests 300
else
  run_bench bench_task_submit --dir "$DATA_DIR" --seconds 10
  run_bench bench_task_listing --dir "$DATA_DIR" --tasks 100000 --requests 2000
fi

# footprint.sh lives in the source tree, not in the build: point run_bench there for it.
BENCH_BIN_BUILD=$BENCH_BIN
BENCH_BIN=$(cd "$(dirname "$0")" && pwd)
run_bench footprint.sh "$BUILD_DIR"
run_bench http_throughput.sh "$BUILD_DIR"
run_bench memory.sh "$BUILD_DIR"
run_bench gateway.sh "$BUILD_DIR"
run_bench orchestration.sh "$BUILD_DIR"
BENCH_BIN=$BENCH_BIN_BUILD

echo
echo "== summary"
cat "$SUMMARY"
echo "(JSON lines in $RESULTS)"
exit $FAILED
