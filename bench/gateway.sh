#!/usr/bin/env bash
# LLM gateway overhead: agentai's /v1/chat/completions against Portkey's open-source gateway, both in front of the same instant upstream.
# usage: bench/gateway.sh BUILD_DIR      (BENCH_QUICK=1: 2 s per case instead of 10 s)
# Prints one "result:" line and one JSON line per comparison. Portkey (@portkey-ai/gateway, pinned
# in bench/package.json) is installed into bench/node_modules with `npm ci` when it is missing;
# without node/npm its comparisons are skipped.
# shellcheck disable=SC2317,SC2154 # cleanup runs from the trap; RPS_*/P50_*/... are set by printf -v
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  SECS=2
  PACED_SECS=2
  WARM_SECS=1
else
  SECS=10
  PACED_SECS=10
  WARM_SECS=5 # node's JIT: Portkey's first seconds run at a fraction of its later rate
fi
ROUNDS=2 # every case runs once per round, interleaved; its best round counts
CONNS=64
PACED_RATE=1000
PACED_CONNS=16
OVERHEAD_SAMPLES=500 # sequential cache hits whose x-agentai-overhead-ms is read

AGENTAI="$BUILD_DIR/agentai"
UPSTREAM="$BUILD_DIR/bench/upstream_instant"
LOADGEN="$BUILD_DIR/bench/loadgen"
for bin in "$AGENTAI" "$UPSTREAM" "$LOADGEN"; do
  if [ ! -x "$bin" ]; then
    echo "gateway: $bin is missing (configure the build with -DAGENTAI_BENCH=ON)" >&2
    exit 1
  fi
done
if [ ! -f "$BUILD_DIR/plugins/provider-openai.so" ]; then
  echo "gateway: $BUILD_DIR/plugins/provider-openai.so is missing (the gateway's provider)" >&2
  exit 1
fi
for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "gateway: $tool is not installed (packaging/install-deps.sh --bench)" >&2
    exit 1
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-gateway-XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$BENCH_DIR/lib/common.sh" # wait_for, status_kb

# free_port: a TCP port nobody listens on (Portkey cannot report an ephemeral one).
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Htln 2>/dev/null | awk '{ print $4 }' | grep -q ":$p\$"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# The chat request every case sends (~300 bytes). temperature 0: agentai's cache may keep the answer.
printf '%s' '{"model":"bench-model","messages":[{"role":"system","content":"You are a concise assistant. Answer in one short paragraph."},{"role":"user","content":"Summarise the plot of Hamlet in two sentences, naming the main characters and saying how the story ends for each."}],"temperature":0,"max_tokens":128}' >"$WORK/body.json"
BODY_BYTES=$(wc -c <"$WORK/body.json")
cat >"$WORK/post.lua" <<EOF
-- wrk: POST the chat request on every request
local f = assert(io.open("$WORK/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

# ---- (a) the upstream: answers every chat completion at once ----
"$UPSTREAM" --port 0 >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
PIDS+=($!)
disown $! # no "Killed" notice from bash at the end
if ! wait_for "$WORK/upstream.out" "listening on port" "${PIDS[-1]}" 10; then
  echo "gateway: upstream_instant did not start:" >&2
  cat "$WORK/upstream.err" >&2
  exit 1
fi
UP_PORT=$(awk '/listening on port/ { print $5 }' "$WORK/upstream.out")

# ---- (b) agentai serve, routed to the upstream by model name; cache off, and a second one with it on ----
# start_agentai NAME CACHE(true|false): sets PID_NAME and PORT_NAME.
start_agentai() {
  local name=$1 d="$WORK/agentai-$1"
  mkdir -p "$d/data"
  cat >"$d/agentai.toml" <<EOF
[server]
listen = "127.0.0.1:0"

[storage]
data_dir = "$d/data"

[plugins]
dir = "$BUILD_DIR/plugins"

[plugins.provider-openai.providers.upstream]
base_url = "http://127.0.0.1:$UP_PORT/v1"
models = ["bench-model"]

[cache]
enabled = $2

[log]
level = "info"
EOF
  "$AGENTAI" serve --config "$d/agentai.toml" >"$d/out" 2>"$d/err" &
  PIDS+=($!)
  disown $!
  if ! wait_for "$d/err" '"msg":"listening"' "${PIDS[-1]}" 10; then
    echo "gateway: agentai serve ($name) did not start:" >&2
    cat "$d/err" >&2
    exit 1
  fi
  printf -v "PID_$name" '%s' "${PIDS[-1]}"
  printf -v "PORT_$name" '%s' "$(grep -o '"port":[0-9]*' "$d/err" | head -n 1 | cut -d: -f2)"
}
start_agentai agentai false
start_agentai cached true

# ---- (c) Portkey's gateway on node, told per request to forward to the upstream ----
PK_PORT=""
PK_NOTE=""
PK_ENTRY="$BENCH_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PK_NOTE="node/npm not installed"
else
  if [ ! -f "$PK_ENTRY" ]; then
    echo "gateway: installing @portkey-ai/gateway into bench/node_modules (npm ci)" >&2
    # --ignore-scripts: its only install script is patch-package for its own source tree,
    # which the published package does not ship.
    (cd "$BENCH_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 || true
  fi
  if [ ! -f "$PK_ENTRY" ]; then
    PK_NOTE="@portkey-ai/gateway could not be installed (npm ci in bench/)"
  else
    PK_VERSION=$(node -p "require('$BENCH_DIR/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null)
    PK_PORT=$(free_port)
    # --port=N sets the port (default 8787); --headless leaves out the log-streaming console UI.
    node "$PK_ENTRY" --port="$PK_PORT" --headless >"$WORK/portkey.out" 2>"$WORK/portkey.err" &
    PIDS+=($!)
    disown $!
    PID_portkey=${PIDS[-1]}
    if wait_for "$WORK/portkey.out" "Ready for connections" "$PID_portkey" 30; then
      PK_NOTE="Portkey gateway $PK_VERSION on node $(node --version)"
    else
      PK_NOTE="Portkey did not start ($(head -c 300 "$WORK/portkey.err"))"
      PK_PORT=""
    fi
  fi
fi
# The headers that make Portkey forward to an OpenAI-compatible host of our choosing.
PK_HEADERS=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: http://127.0.0.1:$UP_PORT/v1"
  -H "Authorization: Bearer dummy")
# loadgen has no header option but writes --path verbatim into the request line: a path that ends
# the request line itself and carries the headers (the last one absorbs the " HTTP/1.1" that
# follows) sends them on every request.
PK_PACED_PATH=$'/v1/chat/completions HTTP/1.1\r\nx-portkey-provider: openai\r\nx-portkey-custom-host: http://127.0.0.1:'"$UP_PORT"$'/v1\r\nAuthorization: Bearer dummy\r\nx-bench: paced'

# Every path answers 200 with the upstream's completion before anything is measured.
EXPECT='"id":"chatcmpl-bench0001"'
check_chat() { # NAME PORT [HEADER ARGS...]
  local name=$1 port=$2 got code
  shift 2
  got=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' "$@" \
    --data-binary @"$WORK/body.json" "http://127.0.0.1:$port/v1/chat/completions")
  code=${got##*$'\n'}
  if [ "$code" != 200 ] || ! echo "$got" | grep -qF "$EXPECT"; then
    echo "gateway: $name answered $code '${got%$'\n'*}', expected 200 and the upstream's completion" >&2
    exit 1
  fi
}
check_chat upstream "$UP_PORT"
check_chat agentai "$PORT_agentai"
check_chat agentai_cached "$PORT_cached"
[ -n "$PK_PORT" ] && check_chat portkey "$PK_PORT" "${PK_HEADERS[@]}"
if ! curl -sf "http://127.0.0.1:$UP_PORT/v1/models" | grep -qF '"bench-model"'; then
  echo "gateway: the upstream's GET /v1/models does not list bench-model" >&2
  exit 1
fi
# The cached instance answers the repeated request from its cache from now on.
if ! curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" \
  "http://127.0.0.1:$PORT_cached/v1/chat/completions" | grep -qi '^x-agentai-cache: hit'; then
  echo "gateway: the repeated request was not a cache hit on the instance with [cache] enabled" >&2
  exit 1
fi

echo "== wrk -t1 -c$CONNS -d${SECS}s per case, $ROUNDS rounds, best round kept (one wrk thread: each"
echo "   single-threaded server gets a core, wrk the other); body $BODY_BYTES B; upstream port $UP_PORT,"
echo "   agentai $PORT_agentai (cache off), agentai $PORT_cached (cache on), portkey ${PK_PORT:-none}"

# to_ms VALUE: wrk's "1.23ms" / "456.00us" / "1.02s" in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# sample_rss PID FILE: until killed, keeps the largest VmRSS of PID seen (every 0.2 s) in FILE.
sample_rss() {
  local max=0 kb
  while kill -0 "$1" 2>/dev/null; do
    kb=$(status_kb "$1" VmRSS)
    if [ -n "$kb" ] && [ "$kb" -gt "$max" ]; then
      max=$kb
      echo "$max" >"$2"
    fi
    sleep 0.2
  done
}

# run_wrk NAME PORT [wrk args...]: one round of one case; keeps the best round in RPS_NAME and
# P99_NAME. With a PID_NAME, the process's largest RSS during the round goes to RSSLOAD_NAME.
run_wrk() {
  local name=$1 port=$2 out rps p99 bad pidv="PID_$1" sampler="" rss
  shift 2
  if [ -n "${!pidv:-}" ]; then
    : >"$WORK/rss.$name"
    sample_rss "${!pidv}" "$WORK/rss.$name" &
    sampler=$!
  fi
  out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" "$@" \
    "http://127.0.0.1:$port/v1/chat/completions" 2>&1)
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    rss=$(cat "$WORK/rss.$name")
    local cur="RSSLOAD_$name"
    if [ -n "$rss" ] && { [ -z "${!cur:-}" ] || [ "$rss" -gt "${!cur}" ]; }; then
      printf -v "RSSLOAD_$name" '%s' "$rss"
    fi
  fi
  rps=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
  if [ -z "$rps" ] || [ -z "$p99" ]; then
    echo "wrk on $name failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  if [ -n "$bad" ]; then
    echo "wrk on $name: $bad answers were not 2xx" >&2
    exit 1
  fi
  p99=$(to_ms "$p99")
  printf '  %-16s %8s req/s   p99 %8s ms   %s\n' "$name" "$rps" "$p99" "$(echo "$out" | grep -m1 'Socket errors' || true)"
  local best="RPS_$name"
  if [ -z "${!best:-}" ] || [ "$rps" -gt "${!best}" ]; then
    printf -v "RPS_$name" '%s' "$rps"
    printf -v "P99_$name" '%s' "$p99"
  fi
}

# A short unmeasured run on each gateway first: node's JIT and both servers' pools warm up.
echo "  -- warm-up (${WARM_SECS} s each, not counted)"
wrk -t1 -c"$CONNS" -d"${WARM_SECS}s" -s "$WORK/post.lua" "http://127.0.0.1:$PORT_agentai/v1/chat/completions" >/dev/null 2>&1
wrk -t1 -c"$CONNS" -d"${WARM_SECS}s" -s "$WORK/post.lua" "http://127.0.0.1:$PORT_cached/v1/chat/completions" >/dev/null 2>&1
[ -n "$PK_PORT" ] && wrk -t1 -c"$CONNS" -d"${WARM_SECS}s" -s "$WORK/post.lua" "${PK_HEADERS[@]}" \
  "http://127.0.0.1:$PK_PORT/v1/chat/completions" >/dev/null 2>&1

# Interleaved, round after round, so a burst of load elsewhere on the machine falls on all alike.
for round in $(seq "$ROUNDS"); do
  echo "  -- round $round"
  run_wrk upstream "$UP_PORT"
  run_wrk agentai "$PORT_agentai"
  [ -n "$PK_PORT" ] && run_wrk portkey "$PK_PORT" "${PK_HEADERS[@]}"
  run_wrk cached "$PORT_cached"
done

echo "== latency at a fixed $PACED_RATE req/s (bench/loadgen paced: open loop over $PACED_CONNS connections, ${PACED_SECS} s after 1 s of warm-up; latency from each request's scheduled time)"
# run_paced NAME PORT PATH: sets PACED50_NAME and PACED99_NAME (ms).
run_paced() {
  local name=$1 out p50 p99
  if ! out=$("$LOADGEN" paced --port "$2" --path "$3" --method POST --body-file "$WORK/body.json" \
    --rate "$PACED_RATE" --seconds "$PACED_SECS" --conns "$PACED_CONNS" 2>&1); then
    echo "loadgen paced on $name failed: $out" >&2
    exit 1
  fi
  p50=$(echo "$out" | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
  p99=$(echo "$out" | grep -o 'p99_ms=[0-9.]*' | cut -d= -f2)
  printf '  %-16s p50 %7s ms   p99 %7s ms   (%s)\n' "$name" "$p50" "$p99" "$(echo "$out" | grep -o 'achieved_rps=[0-9]*')"
  printf -v "PACED50_$name" '%s' "$p50"
  printf -v "PACED99_$name" '%s' "$p99"
}
run_paced upstream "$UP_PORT" /v1/chat/completions
run_paced agentai "$PORT_agentai" /v1/chat/completions
[ -n "$PK_PORT" ] && run_paced portkey "$PK_PORT" "$PK_PACED_PATH"
run_paced cached "$PORT_cached" /v1/chat/completions

# median_overhead PORT N: the median x-agentai-overhead-ms (ms) of N sequential requests on one
# keep-alive connection (one curl, the URL repeated), and how many of them were cache hits.
median_overhead() {
  local urls=() i
  for ((i = 0; i < $2; i++)); do urls+=("http://127.0.0.1:$1/v1/chat/completions"); done
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" \
    "${urls[@]}" | tr -d '\r' | awk -F': ' '
      tolower($1) == "x-agentai-overhead-ms" { print "v", $2 + 0 }
      tolower($1) == "x-agentai-cache" && $2 == "hit" { print "h" }' >"$WORK/overhead.txt"
  local hits
  hits=$(grep -c '^h' "$WORK/overhead.txt")
  awk '$1 == "v" { print $2 }' "$WORK/overhead.txt" | sort -n | awk -v hits="$hits" '
    { v[++n] = $1 }
    END {
      if (n == 0) { print "none", hits; exit }
      printf "%.3f %d\n", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, hits }'
}
read -r OVH_cached HITS_cached < <(median_overhead "$PORT_cached" "$OVERHEAD_SAMPLES")
read -r OVH_agentai _ < <(median_overhead "$PORT_agentai" "$OVERHEAD_SAMPLES")
echo "== x-agentai-overhead-ms, median of $OVERHEAD_SAMPLES sequential requests: cache hit $OVH_cached ms ($HITS_cached hits), cache off $OVH_agentai ms"
if [ "$HITS_cached" != "$OVERHEAD_SAMPLES" ]; then
  echo "gateway: only $HITS_cached of $OVERHEAD_SAMPLES repeated requests were cache hits" >&2
  exit 1
fi

# Memory after the load: the peak (VmHWM) and what is still resident.
for n in agentai cached portkey; do
  pidv="PID_$n"
  [ -n "${!pidv:-}" ] || continue
  printf -v "HWM_$n" '%s' "$(status_kb "${!pidv}" VmHWM)"
  printf -v "RSSAFTER_$n" '%s' "$(status_kb "${!pidv}" VmRSS)"
done
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a - b) * 1000 }'; } # (a - b) ms in µs
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? "true" : "false" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "true" : "false" }'; }

ADD50_agentai=$(us "$PACED50_agentai" "$PACED50_upstream")
ADD99_agentai=$(us "$PACED99_agentai" "$PACED99_upstream")
OVH_cached_us=$(awk -v m="$OVH_cached" 'BEGIN { printf "%.0f", m * 1000 }')

echo
echo "| case | req/s (wrk -c$CONNS) | wrk p99 | p50 at $PACED_RATE/s | p99 at $PACED_RATE/s | added p50 | added p99 | RSS under load | peak (VmHWM) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
row() { # NAME LABEL
  local n=$1 r="RPS_$1" p="P99_$1" a="PACED50_$1" b="PACED99_$1" rl="RSSLOAD_$1" h="HWM_$1" add50="-" add99="-" rss="-" hwm="-"
  if [ "$n" != upstream ]; then
    add50="$(us "${!a}" "$PACED50_upstream") µs"
    add99="$(us "${!b}" "$PACED99_upstream") µs"
  fi
  [ -n "${!rl:-}" ] && rss="$(mb "${!rl}") MB"
  [ -n "${!h:-}" ] && hwm="$(mb "${!h}") MB"
  echo "| $2 | ${!r} | ${!p} ms | ${!a} ms | ${!b} ms | $add50 | $add99 | $rss | $hwm |"
}
row upstream "(a) upstream_instant, direct"
row agentai "(b) agentai, cache off"
[ -n "$PK_PORT" ] && row portkey "(c) Portkey $PK_VERSION"
row cached "(b') agentai, cache hit"
echo

if [ -n "$PK_PORT" ]; then
  ADD50_portkey=$(us "$PACED50_portkey" "$PACED50_upstream")
  ADD99_portkey=$(us "$PACED99_portkey" "$PACED99_upstream")
  R=$(ratio "$RPS_agentai" "$RPS_portkey")
  echo "result: gateway_throughput: agentai $RPS_agentai req/s (p99 $P99_agentai ms) | Portkey $RPS_portkey req/s (p99 $P99_portkey ms) | upstream direct $RPS_upstream req/s | ratio ${R}x (target: >= 10x)"
  echo "{\"bench\":\"gateway_throughput\",\"seconds\":$SECS,\"rounds\":$ROUNDS,\"connections\":$CONNS,\"body_bytes\":$BODY_BYTES,\"agentai_rps\":$RPS_agentai,\"agentai_p99_ms\":$P99_agentai,\"peer\":\"$PK_NOTE\",\"peer_rps\":$RPS_portkey,\"peer_p99_ms\":$P99_portkey,\"upstream_rps\":$RPS_upstream,\"ratio\":$R,\"target_ratio\":10,\"met\":$(ge "$R" 10)}"
else
  echo "result: gateway_throughput: agentai $RPS_agentai req/s (p99 $P99_agentai ms) | upstream direct $RPS_upstream req/s | peer: $PK_NOTE"
fi
PEER_ADDED=""
[ -n "$PK_PORT" ] && PEER_ADDED=" | Portkey added p50 ${ADD50_portkey} µs, p99 ${ADD99_portkey} µs"
echo "result: gateway_added_latency: at $PACED_RATE req/s agentai adds p50 ${ADD50_agentai} µs (target: < 100 µs), p99 ${ADD99_agentai} µs (target: < 1000 µs) over the upstream's p50 $PACED50_upstream ms, p99 $PACED99_upstream ms${PEER_ADDED}"
echo "{\"bench\":\"gateway_added_latency\",\"rate\":$PACED_RATE,\"seconds\":$PACED_SECS,\"connections\":$PACED_CONNS,\"upstream_p50_ms\":$PACED50_upstream,\"upstream_p99_ms\":$PACED99_upstream,\"agentai_p50_ms\":$PACED50_agentai,\"agentai_p99_ms\":$PACED99_agentai,\"agentai_added_p50_us\":$ADD50_agentai,\"agentai_added_p99_us\":$ADD99_agentai,\"peer_p50_ms\":${PACED50_portkey:-null},\"peer_p99_ms\":${PACED99_portkey:-null},\"peer_added_p50_us\":${ADD50_portkey:-null},\"peer_added_p99_us\":${ADD99_portkey:-null},\"target_added_p50_us\":100,\"target_added_p99_us\":1000,\"met\":$([ "$(lt "$ADD50_agentai" 100)" = true ] && [ "$(lt "$ADD99_agentai" 1000)" = true ] && echo true || echo false)}"
PEER_RSS=""
[ -n "$PK_PORT" ] && PEER_RSS=" | Portkey (node) $(mb "$RSSLOAD_portkey") MB under load, peak $(mb "$HWM_portkey") MB | ratio $(ratio "$RSSLOAD_portkey" "$RSSLOAD_agentai")x"
echo "result: gateway_memory: agentai $(mb "$RSSLOAD_agentai") MB under load, peak $(mb "$HWM_agentai") MB (target: < 30 MB)${PEER_RSS}"
echo "{\"bench\":\"gateway_memory\",\"agentai_rss_kb\":$RSSLOAD_agentai,\"agentai_hwm_kb\":$HWM_agentai,\"peer_rss_kb\":${RSSLOAD_portkey:-null},\"peer_hwm_kb\":${HWM_portkey:-null},\"target_kb\":30720,\"met\":$(lt "$HWM_agentai" 30720)}"
echo "result: gateway_cache_hit: median x-agentai-overhead-ms $OVH_cached ms = $OVH_cached_us µs (target: < 100 µs); at $PACED_RATE req/s p50 $PACED50_cached ms, p99 $PACED99_cached ms (the upstream direct: p50 $PACED50_upstream ms, p99 $PACED99_upstream ms); $RPS_cached req/s; cache off: overhead $OVH_agentai ms"
echo "{\"bench\":\"gateway_cache_hit\",\"overhead_median_ms\":$OVH_cached,\"samples\":$OVERHEAD_SAMPLES,\"paced_p50_ms\":$PACED50_cached,\"paced_p99_ms\":$PACED99_cached,\"rps\":$RPS_cached,\"miss_overhead_median_ms\":$OVH_agentai,\"target_us\":100,\"met\":$(lt "$OVH_cached_us" 100)}"
echo "context: $PK_NOTE; every process single-threaded on a 2-core machine, wrk/loadgen on the other core"
exit 0
