#!/bin/sh
# bench/orchestration.sh BUILD — the agent layer's cost per model call: a 20-step plan_execute run
# with the mock provider answering at once, beside the same number of bare ai.llm.chat calls.
# Prints the per-call times, the ratio, and whether the target (under 200 us per call) is met.
set -eu
BUILD_DIR=${1:?usage: $0 BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The cache off: every round must really call the provider.
printf '[cache]\nenabled = false\n[log]\nlevel = "warn"\n' >"$WORK/agentai.toml"
out=$("$BUILD_DIR/agentai" run "$HERE/orchestration.lua" --config "$WORK/agentai.toml" \
  --data "$WORK/data" --input "{\"steps\":${STEPS:-20},\"rounds\":${ROUNDS:-20}}")
echo "$out"
echo "$out" | awk -F'[:,}]' '{
  for (i = 1; i < NF; i++) {
    if ($i ~ /plan_execute_us_per_call/) pe = $(i + 1)
    if ($i ~ /bare_us_per_call/) bare = $(i + 1)
  }
  printf "result: plan_execute %.1f us per model call (target < 200: %s); bare ai.llm.chat %.1f us; ratio %.2fx\n",
    pe, (pe < 200 ? "met" : "NOT met"), bare, pe / bare
  printf "{\"bench\":\"orchestration\",\"plan_execute_us_per_call\":%.1f,\"bare_us_per_call\":%.1f,\"ratio\":%.3f}\n", pe, bare, pe / bare
}'
