#!/usr/bin/env bash
# Footprint: idle `agentai serve` memory against idle nginx, and `agentai run hello.lua` wall time against lua5.4.
# usage: bench/footprint.sh BUILD_DIR
# Prints a "result:" line and a JSON line for each of the two measures. Installs nothing: a peer
# that is missing is reported and skipped.
# shellcheck disable=SC2034,SC2317 # time_all reaches cmd_NAME and hf_NAME by name
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$SRC_DIR/bench/lib/common.sh"
RUNS=30
RSS_TARGET_KB=10240
RUN_TARGET_MS=30

AGENTAI=""
for candidate in "$BUILD_DIR/agentai" "$BUILD_DIR/runtime/agentai"; do
  if [ -x "$candidate" ]; then
    AGENTAI=$candidate
    break
  fi
done
if [ -z "$AGENTAI" ]; then
  echo "footprint: no agentai binary in $BUILD_DIR (or $BUILD_DIR/runtime)" >&2
  exit 1
fi
HELLO="$SRC_DIR/examples/workflows/hello.lua"
if [ ! -f "$HELLO" ]; then
  echo "footprint: $HELLO is missing" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-footprint-XXXXXX")
SERVER_PID=""
NGINX_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
  [ -n "$NGINX_PID" ] && kill -KILL "$NGINX_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILED=0

# now_us VAR: sets VAR to the wall clock in microseconds; bash's EPOCHREALTIME needs no fork.
now_us() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"
  else
    printf -v "$1" '%s' "$(($(date +%s%N) / 1000))"
  fi
}

# median_ms FILE: the median of the microsecond values in FILE (one a line), in ms.
median_ms() {
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'
}

# quote COMMAND...: the command as one shell-quoted string (for hyperfine).
quote() {
  local out="" arg
  for arg in "$@"; do
    out="$out $(printf '%q' "$arg")"
  done
  echo "${out# }"
}

# time_all NAME...: times the functions cmd_NAME (one warm-up run each, then RUNS runs) and
# writes each median wall time in ms to $WORK/NAME.ms. The shell loop interleaves the commands,
# so a burst of load elsewhere on the machine hits all of them alike; hyperfine, when installed,
# runs them one after the other from the strings in hf_NAME.
time_all() {
  local name i t0 t1
  if command -v hyperfine >/dev/null 2>&1; then
    local cmds=()
    for name in "$@"; do
      local var="hf_$name"
      cmds+=("${!var}")
    done
    hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$WORK/hf.json" \
      --shell none "${cmds[@]}" >/dev/null 2>&1 || return 1
    i=0
    while read -r m; do
      i=$((i + 1))
      awk -v m="$m" 'BEGIN { printf "%.2f", m * 1000 }' >"$WORK/${!i}.ms"
    done < <(grep -o '"median": *[0-9.eE+-]*' "$WORK/hf.json" | awk '{ print $2 }')
    [ "$i" -eq $# ]
    return
  fi
  for name in "$@"; do
    "cmd_$name" >/dev/null 2>&1 || return 1
    : >"$WORK/$name.us"
  done
  for ((i = 0; i < RUNS; i++)); do
    for name in "$@"; do
      now_us t0
      "cmd_$name" >/dev/null 2>&1 || return 1
      now_us t1
      echo $((t1 - t0)) >>"$WORK/$name.us"
    done
  done
  for name in "$@"; do
    median_ms "$WORK/$name.us" >"$WORK/$name.ms"
  done
}

# ---- (a) idle serve memory ----

echo "== idle memory: agentai serve (127.0.0.1:0, fresh data folder)"
mkdir -p "$WORK/serve-data"
"$AGENTAI" serve --listen 127.0.0.1:0 --data "$WORK/serve-data" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
RSS_KB=""
HWM_KB=""
if wait_for "$WORK/serve.err" '"msg":"listening"' "$SERVER_PID" 10; then
  sleep 1
  RSS_KB=$(status_kb "$SERVER_PID" VmRSS)
  HWM_KB=$(status_kb "$SERVER_PID" VmHWM)
  kill -TERM "$SERVER_PID"
  for ((i = 0; i < 200; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "agentai serve still runs 10 s after SIGTERM: killed" >&2
    kill -KILL "$SERVER_PID"
  fi
  wait "$SERVER_PID"
  SERVE_EXIT=$?
  SERVER_PID=""
  if [ "$SERVE_EXIT" -ne 0 ]; then
    echo "agentai serve exited $SERVE_EXIT after SIGTERM (expected 0):" >&2
    cat "$WORK/serve.err" >&2
    FAILED=1
  fi
else
  echo "agentai serve did not log \"msg\":\"listening\" within 10 s:" >&2
  cat "$WORK/serve.err" >&2
  FAILED=1
fi

NGINX_KB=""
NGINX_NOTE="peer: nginx not installed"
NGINX_BIN=$(nginx_find)
if [ -n "$NGINX_BIN" ]; then
  N="$WORK/nginx"
  nginx_start "$NGINX_BIN" "$N"
  if nginx_idle_rss "$N"; then
    NGINX_NOTE="peer: nginx $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: nginx\///') idle, master + 1 worker ($NGINX_PROCS processes, RSS summed)"
  else
    NGINX_NOTE="peer: nginx did not start ($(tail -n 1 "$N/error.log" 2>/dev/null))"
  fi
  kill -QUIT "$NGINX_PID" 2>/dev/null
  wait "$NGINX_PID" 2>/dev/null
  NGINX_PID=""
fi

if [ -n "$RSS_KB" ]; then
  RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
  HWM_MB=$(awk -v k="$HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')
  if [ -n "$NGINX_KB" ]; then
    NGINX_MB=$(awk -v k="$NGINX_KB" 'BEGIN { printf "%.1f", k / 1024 }')
    RATIO=$(awk -v a="$RSS_KB" -v b="$NGINX_KB" 'BEGIN { printf "%.2f", a / b }')
    echo "result: idle RSS: agentai serve ${RSS_MB} MB (peak ${HWM_MB} MB) | nginx ${NGINX_MB} MB | ratio ${RATIO}x (target: agentai under 10 MB) | $NGINX_NOTE"
    PEER_JSON="\"peer\":\"nginx idle, master + 1 worker\",\"peer_rss_kb\":$NGINX_KB,\"ratio\":$RATIO"
  else
    echo "result: idle RSS: agentai serve ${RSS_MB} MB (peak ${HWM_MB} MB) (target: under 10 MB) | $NGINX_NOTE"
    PEER_JSON="\"peer\":null,\"peer_note\":\"$NGINX_NOTE\""
  fi
  echo "{\"bench\":\"footprint_idle_rss\",\"agentai_rss_kb\":$RSS_KB,\"agentai_hwm_kb\":$HWM_KB,$PEER_JSON,\"target_kb\":$RSS_TARGET_KB,\"met\":$([ "$RSS_KB" -lt "$RSS_TARGET_KB" ] && echo true || echo false)}"
fi

# ---- (b) one-shot run wall time ----

echo "== wall time: agentai run hello.lua vs lua5.4 -e (median of $RUNS, after one warm-up run)"
if command -v hyperfine >/dev/null 2>&1; then
  TIMER="hyperfine"
else
  TIMER="shell loop"
fi
mkdir -p "$WORK/run-data"
# The same work as hello.lua minus the runtime: build the greeting, print it as JSON.
LUA_HELLO='local name = "world"; io.write("{\"greeting\":\"Hello, " .. name .. "!\"}\n")'
cmd_run() { "$AGENTAI" run "$HELLO" --data "$WORK/run-data"; }
cmd_lua() { lua5.4 -e "$LUA_HELLO"; }
cmd_true() { /bin/true; } # context: what starting any process costs here
hf_run=$(quote "$AGENTAI" run "$HELLO" --data "$WORK/run-data")
hf_lua=$(quote lua5.4 -e "$LUA_HELLO")
hf_true=/bin/true
NAMES=(run true)
HAVE_LUA=0
if command -v lua5.4 >/dev/null 2>&1; then
  NAMES=(run lua true)
  HAVE_LUA=1
fi
if ! cmd_run >"$WORK/run.out" 2>&1; then
  echo "agentai run $HELLO failed:" >&2
  cat "$WORK/run.out" >&2
  exit 1
fi
if ! time_all "${NAMES[@]}"; then
  echo "footprint: timing the runs failed" >&2
  exit 1
fi
RUN_MS=$(cat "$WORK/run.ms")
TRUE_MS=$(cat "$WORK/true.ms")
MET=$(awk -v a="$RUN_MS" -v t="$RUN_TARGET_MS" 'BEGIN { print (a < t) ? "true" : "false" }')
if [ "$HAVE_LUA" = 1 ]; then
  LUA_MS=$(cat "$WORK/lua.ms")
  RATIO=$(awk -v a="$RUN_MS" -v b="$LUA_MS" 'BEGIN { printf "%.1f", a / b }')
  echo "result: hello workflow wall time (median of $RUNS, $TIMER): agentai run ${RUN_MS} ms | lua5.4 -e ${LUA_MS} ms | ratio ${RATIO}x (target: agentai under ${RUN_TARGET_MS} ms) | context: /bin/true ${TRUE_MS} ms"
  PEER_JSON="\"peer\":\"lua5.4 -e plain hello\",\"peer_ms\":$LUA_MS,\"ratio\":$RATIO"
else
  echo "result: hello workflow wall time (median of $RUNS, $TIMER): agentai run ${RUN_MS} ms (target: under ${RUN_TARGET_MS} ms) | peer: lua5.4 not installed | context: /bin/true ${TRUE_MS} ms"
  PEER_JSON="\"peer\":null"
fi
echo "{\"bench\":\"footprint_run_hello\",\"runs\":$RUNS,\"timer\":\"$TIMER\",\"agentai_ms\":$RUN_MS,$PEER_JSON,\"process_floor_ms\":$TRUE_MS,\"target_ms\":$RUN_TARGET_MS,\"met\":$MET}"
exit $FAILED
