#!/bin/sh
# Benchmarks the repository tools: repo_scan of a 50,000-file tree against `git ls-files | xargs
# wc -l`, and repo_patch of a 500-hunk diff against GNU patch. Prints figures and ratios.
# usage: bench/bench_repo.sh BUILD_DIR   (a build configured with -DAGENTAI_BENCH=ON)
# Data goes to BUILD_DIR/bench-data/repo (removed at the end). FILES=N changes the tree size.
set -eu

if [ $# -ne 1 ] || [ ! -x "$1/bench/repo_tool" ]; then
  echo "usage: $0 BUILD_DIR (a build with -DAGENTAI_BENCH=ON and the repo_tool target)" >&2
  exit 2
fi
TOOL=$(cd "$1" && pwd)/bench/repo_tool
WORK=$(cd "$1" && pwd)/bench-data/repo
FILES=${FILES:-50000}
HUNKS=${HUNKS:-500}
RUNS=${RUNS:-7}
for cmd in git xargs wc patch; do
  command -v "$cmd" >/dev/null || { echo "bench_repo: needs $cmd" >&2; exit 2; }
done
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

now_ns() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== generating a $FILES-file tree"
TREE="$WORK/tree"
"$TOOL" gen "$TREE" "$FILES"
(cd "$TREE" && git init -q && git add -A && git -c user.name=b -c user.email=b@b -c gc.auto=0 -c maintenance.auto=false commit -qm tree)

# Warm the page cache for both contenders.
(cd "$TREE" && git ls-files -z | xargs -0 cat >/dev/null)

echo "== scan ($RUNS runs each, best)"
SCAN_OUT=$("$TOOL" scan "$TREE" "$RUNS")
echo "repo_scan: $SCAN_OUT"
SCAN_MS=$(echo "$SCAN_OUT" | sed 's/.*scan_ms=\([0-9.]*\).*/\1/')
BEST_WC=""
i=0
while [ $i -lt "$RUNS" ]; do
  t0=$(now_ns)
  (cd "$TREE" && git ls-files -z | xargs -0 wc -l >"$WORK/wc.out")
  t1=$(now_ns)
  t=$(ms "$t0" "$t1")
  if [ -z "$BEST_WC" ] || awk -v a="$t" -v b="$BEST_WC" 'BEGIN { exit !(a < b) }'; then
    BEST_WC=$t
  fi
  i=$((i + 1))
done
WC_LINES=$(grep ' total$' "$WORK/wc.out" | awk '{ s += $1 } END { print s }')
echo "git ls-files | xargs wc -l: ${BEST_WC} ms, lines=$WC_LINES"
echo "result: scan repo_scan=${SCAN_MS}ms git+wc=${BEST_WC}ms ratio(repo/git+wc)=$(ratio "$SCAN_MS" "$BEST_WC") (target <= 2)"

echo "== patch: $HUNKS hunks"
PT="$WORK/ptree"
"$TOOL" mkpatch "$PT" "$WORK/big.diff" "$HUNKS"
cp -r "$PT" "$WORK/pristine"
BEST_REPO=""
BEST_GNU=""
i=0
while [ $i -lt "$RUNS" ]; do
  rm -rf "$PT" && cp -r "$WORK/pristine" "$PT"
  t0=$(now_ns)
  "$TOOL" patch "$PT" "$WORK/big.diff" >"$WORK/repo_patch.out"
  t1=$(now_ns)
  t=$(ms "$t0" "$t1")
  cp -r "$PT" "$WORK/by_repo"
  if [ -z "$BEST_REPO" ] || awk -v a="$t" -v b="$BEST_REPO" 'BEGIN { exit !(a < b) }'; then
    BEST_REPO=$t
  fi
  rm -rf "$PT" && cp -r "$WORK/pristine" "$PT"
  t0=$(now_ns)
  patch -s -p1 -d "$PT" <"$WORK/big.diff"
  t1=$(now_ns)
  t=$(ms "$t0" "$t1")
  if [ -z "$BEST_GNU" ] || awk -v a="$t" -v b="$BEST_GNU" 'BEGIN { exit !(a < b) }'; then
    BEST_GNU=$t
  fi
  if ! diff -r "$PT" "$WORK/by_repo" >/dev/null; then
    echo "bench_repo: repo_patch and GNU patch produced different trees" >&2
    exit 1
  fi
  rm -rf "$WORK/by_repo"
  i=$((i + 1))
done
echo "repo_patch (whole process): ${BEST_REPO} ms; in-process: $(cat "$WORK/repo_patch.out")"
echo "GNU patch: ${BEST_GNU} ms"
echo "result: patch repo_patch=${BEST_REPO}ms gnu_patch=${BEST_GNU}ms ratio(repo/gnu)=$(ratio "$BEST_REPO" "$BEST_GNU") (target <= 1)"
printf '{"bench":"repo","files":%s,"scan_ms":%s,"git_wc_ms":%s,"hunks":%s,"patch_ms":%s,"gnu_patch_ms":%s}\n' \
  "$FILES" "$SCAN_MS" "$BEST_WC" "$HUNKS" "$BEST_REPO" "$BEST_GNU"
