#!/usr/bin/env bash
# HTTP throughput: agentai serve (built-in /healthz, Lua routes) against nginx + lua-nginx-module and a minimal libwebsockets+libuv server, with wrk.
# usage: bench/http_throughput.sh BUILD_DIR      (BENCH_QUICK=1: 2 x 1 s per case instead of 2 x 5 s)
# Prints one "result:" line and one JSON line per comparison. A missing peer (nginx without
# the Lua module, wrk) is reported and its comparisons skipped; install them with
# packaging/install-deps.sh --bench.
# shellcheck disable=SC2317,SC2154 # cleanup runs from the trap; RPS_*/P99_*/PACED_* are set by printf -v
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  SECS=1 # per round
  PACED_SECS=2
else
  SECS=5
  PACED_SECS=5
fi
ROUNDS=2 # every case runs once per round; its best round counts
CONNS=64
PACED_RATE=1000
PACED_CONNS=16

AGENTAI="$BUILD_DIR/agentai"
LWS_MINIMAL="$BUILD_DIR/bench/lws_minimal"
LOADGEN="$BUILD_DIR/bench/loadgen"
for bin in "$AGENTAI" "$LWS_MINIMAL" "$LOADGEN"; do
  if [ ! -x "$bin" ]; then
    echo "http_throughput: $bin is missing (configure the build with -DAGENTAI_BENCH=ON)" >&2
    exit 1
  fi
done
if ! command -v wrk >/dev/null 2>&1; then
  echo "http_throughput: wrk is not installed (packaging/install-deps.sh --bench)" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-http-XXXXXX")
PIDS=()
NGINX_PID=""
cleanup() {
  local p
  # nginx: TERM to the master, which stops its worker (a KILLed master would orphan it)
  if [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
  fi
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # wait_for

# free_port: a TCP port nobody listens on (for nginx, which cannot report an ephemeral one).
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

# The 1 KB JSON body of the decode route: an order with 12 line items.
{
  printf '{"id":"order-12345","customer":{"name":"Ada Lovelace","email":"ada@example.com","tier":"gold"},"items":['
  for i in $(seq 1 12); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"sku":"SKU-%04d","qty":%d,"price":%d.99,"tags":["a","b"]}' "$i" "$i" "$((i * 3))"
  done
  printf '],"note":"%s"}' "$(printf 'x%.0s' $(seq 1 200))"
} >"$WORK/body.json"
BODY_BYTES=$(wc -c <"$WORK/body.json")
cat >"$WORK/post.lua" <<EOF
-- wrk: POST the 1 KB JSON body on every request
local f = assert(io.open("$WORK/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

# ---- (a) agentai serve with the bench routes ----
mkdir -p "$WORK/routes" "$WORK/agentai-data"
cat >"$WORK/routes/bench.lua" <<'EOF'
-- Routes of bench/http_throughput.sh: a tiny JSON answer, and a 1 KB JSON body decoded.
local ai = require("agentai")
ai.route.get("/bench/small", function()
  return {status = 200, json = {ok = true, n = 42}}
end)
ai.route.post("/bench/decode", function(req)
  return {status = 200, json = {id = req.json.id}}
end)
EOF
AGENTAI_ROUTE_PATH="$WORK/routes" AGENTAI_LOG_LEVEL=info \
  "$AGENTAI" serve --listen 127.0.0.1:0 --data "$WORK/agentai-data" >"$WORK/agentai.out" 2>"$WORK/agentai.err" &
PIDS+=($!)
disown $! # no "Killed" notice from bash at the end
if ! wait_for "$WORK/agentai.err" '"msg":"listening"' "${PIDS[-1]}" 10; then
  echo "http_throughput: agentai serve did not start:" >&2
  cat "$WORK/agentai.err" >&2
  exit 1
fi
AGENTAI_PORT=$(grep -o '"port":[0-9]*' "$WORK/agentai.err" | head -n 1 | cut -d: -f2)

# ---- (c) the minimal libwebsockets + libuv server ----
"$LWS_MINIMAL" --port 0 >"$WORK/lws.out" 2>"$WORK/lws.err" &
PIDS+=($!)
disown $!
if ! wait_for "$WORK/lws.out" "listening on port" "${PIDS[-1]}" 10; then
  echo "http_throughput: lws_minimal did not start:" >&2
  cat "$WORK/lws.err" >&2
  exit 1
fi
LWS_PORT=$(awk '/listening on port/ { print $4 }' "$WORK/lws.out")

# ---- (b) nginx with lua-nginx-module, one worker ----
NGINX_PORT=""
NGINX_NOTE=""
NGINX_BIN=$(command -v nginx 2>/dev/null || true)
[ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
MODDIR=/usr/lib/nginx/modules
if [ -z "$NGINX_BIN" ]; then
  NGINX_NOTE="nginx not installed"
elif [ ! -f "$MODDIR/ngx_http_lua_module.so" ]; then
  NGINX_NOTE="libnginx-mod-http-lua not installed"
else
  N="$WORK/nginx"
  mkdir -p "$N/tmp"
  NGINX_PORT=$(free_port)
  NDK=""
  [ -f "$MODDIR/ndk_http_module.so" ] && NDK="load_module $MODDIR/ndk_http_module.so;"
  cat >"$N/nginx.conf" <<EOF
$NDK
load_module $MODDIR/ngx_http_lua_module.so;
daemon off;
master_process on;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log notice;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $N/tmp/body;
  proxy_temp_path $N/tmp/proxy;
  fastcgi_temp_path $N/tmp/fastcgi;
  uwsgi_temp_path $N/tmp/uwsgi;
  scgi_temp_path $N/tmp/scgi;
  init_by_lua_block { cjson = require("cjson") }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /healthz {
      default_type application/json;
      return 200 '{"status":"ok"}';
    }
    location = /bench/small {
      default_type application/json;
      content_by_lua_block {
        local s = cjson.encode({ok = true, n = 42})
        ngx.header["Content-Length"] = #s
        ngx.print(s)
      }
    }
    location = /bench/decode {
      default_type application/json;
      content_by_lua_block {
        ngx.req.read_body()
        local t = cjson.decode(ngx.req.get_body_data())
        local s = cjson.encode({id = t.id})
        ngx.header["Content-Length"] = #s
        ngx.print(s)
      }
    }
  }
}
EOF
  "$NGINX_BIN" -p "$N" -c "$N/nginx.conf" -e "$N/error.log" >/dev/null 2>&1 &
  NGINX_PID=$!
  disown $!
  if wait_for "$N/error.log" "start worker process" "$NGINX_PID" 10 &&
    curl -sf "http://127.0.0.1:$NGINX_PORT/bench/small" >/dev/null 2>&1; then
    NGINX_NOTE="nginx $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: nginx\///') + lua-nginx-module, 1 worker"
  else
    NGINX_NOTE="nginx with the Lua module did not start ($(grep -m1 -E 'emerg|error' "$N/error.log" 2>/dev/null))"
    NGINX_PORT=""
  fi
fi

# Every server answers what the comparisons assume.
check_body() { # URL EXPECTED [POST]
  local got
  if [ "${3:-}" = POST ]; then
    got=$(curl -sf -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" "$1")
  else
    got=$(curl -sf "$1")
  fi
  if ! echo "$got" | grep -qF "$2"; then
    echo "http_throughput: $1 answered '$got', expected it to contain '$2'" >&2
    exit 1
  fi
}
check_body "http://127.0.0.1:$AGENTAI_PORT/bench/small" '"n":42'
check_body "http://127.0.0.1:$AGENTAI_PORT/bench/decode" '"id":"order-12345"' POST
check_body "http://127.0.0.1:$AGENTAI_PORT/healthz" '"status":"ok"'
check_body "http://127.0.0.1:$LWS_PORT/anything" '"n":42'
if [ -n "$NGINX_PORT" ]; then
  check_body "http://127.0.0.1:$NGINX_PORT/bench/small" '"n":42'
  check_body "http://127.0.0.1:$NGINX_PORT/bench/decode" '"id":"order-12345"' POST
fi

echo "== wrk -t1 -c$CONNS -d${SECS}s per case, $ROUNDS rounds, best round kept (one wrk thread: each"
echo "   single-threaded server gets a core, wrk the other); agentai port $AGENTAI_PORT, lws_minimal $LWS_PORT,"
echo "   nginx ${NGINX_PORT:-none}; decode body $BODY_BYTES B"

# to_ms VALUE: wrk's "1.23ms" / "456.00us" / "1.02s" in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# run_wrk NAME URL [POST]: one round of one case; keeps the best round in RPS_NAME and P99_NAME.
run_wrk() {
  local name=$1 url=$2 out rps p99 bad
  local args=(-t1 -c"$CONNS" -d"${SECS}s" --latency)
  [ "${3:-}" = POST ] && args+=(-s "$WORK/post.lua")
  out=$(wrk "${args[@]}" "$url" 2>&1)
  rps=$(echo "$out" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
  if [ -z "$rps" ] || [ -z "$p99" ]; then
    echo "wrk on $url failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  if [ -n "$bad" ]; then
    echo "wrk on $url: $bad answers were not 2xx" >&2
    exit 1
  fi
  p99=$(to_ms "$p99")
  printf '  %-22s %8s req/s   p99 %7s ms   %s\n' "$name" "$rps" "$p99" "$(echo "$out" | grep -m1 'Socket errors' || true)"
  local best="RPS_$name"
  if [ -z "${!best:-}" ] || [ "$rps" -gt "${!best}" ]; then
    printf -v "RPS_$name" '%s' "$rps"
    printf -v "P99_$name" '%s' "$p99"
  fi
}

# Interleaved: each server's cases alternate with the others', round after round, so a burst
# of load elsewhere on the machine falls on all of them alike.
for round in $(seq "$ROUNDS"); do
  echo "  -- round $round"
  run_wrk lws_minimal "http://127.0.0.1:$LWS_PORT/bench/small"
  run_wrk agentai_healthz "http://127.0.0.1:$AGENTAI_PORT/healthz"
  run_wrk agentai_small "http://127.0.0.1:$AGENTAI_PORT/bench/small"
  if [ -n "$NGINX_PORT" ]; then
    run_wrk nginx_healthz "http://127.0.0.1:$NGINX_PORT/healthz"
    run_wrk nginx_small "http://127.0.0.1:$NGINX_PORT/bench/small"
    run_wrk nginx_decode "http://127.0.0.1:$NGINX_PORT/bench/decode" POST
  fi
  run_wrk agentai_decode "http://127.0.0.1:$AGENTAI_PORT/bench/decode" POST
done

echo "== latency at a fixed $PACED_RATE req/s (bench/loadgen paced: open loop over $PACED_CONNS connections, ${PACED_SECS} s after 1 s of warm-up; latency from each request's scheduled time)"
# run_paced NAME PORT PATH [POST]: sets PACED_NAME (p99 ms).
run_paced() {
  local name=$1 out p50 p99
  local args=(paced --port "$2" --path "$3" --rate "$PACED_RATE" --seconds "$PACED_SECS" --conns "$PACED_CONNS")
  [ "${4:-}" = POST ] && args+=(--method POST --body-file "$WORK/body.json")
  if ! out=$("$LOADGEN" "${args[@]}" 2>&1); then
    echo "loadgen paced on port $2 $3 failed: $out" >&2
    exit 1
  fi
  p50=$(echo "$out" | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
  p99=$(echo "$out" | grep -o 'p99_ms=[0-9.]*' | cut -d= -f2)
  printf '  %-22s p50 %7s ms   p99 %7s ms   (%s)\n' "$name" "$p50" "$p99" "$(echo "$out" | grep -o 'achieved_rps=[0-9]*')"
  printf -v "PACED_$name" '%s' "$p99"
}
run_paced lws_minimal "$LWS_PORT" /bench/small
run_paced agentai_healthz "$AGENTAI_PORT" /healthz
run_paced agentai_small "$AGENTAI_PORT" /bench/small
run_paced agentai_decode "$AGENTAI_PORT" /bench/decode POST
if [ -n "$NGINX_PORT" ]; then
  run_paced nginx_small "$NGINX_PORT" /bench/small
  run_paced nginx_decode "$NGINX_PORT" /bench/decode POST
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
met() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "true" : "false" }'; }

# result NAME AGENTAI_CASE PEER_CASE PEER_LABEL TARGET
result() {
  local name=$1 a=$2 p=$3 label=$4 target=$5
  local ra="RPS_$a" rp="RPS_$p" la="P99_$a" lp="P99_$p" pa="PACED_$a" pp="PACED_$p"
  local r
  r=$(ratio "${!ra}" "${!rp}")
  echo "result: $name: agentai ${!ra} req/s (p99 ${!la} ms; ${!pa} ms at $PACED_RATE req/s) | $label ${!rp} req/s (p99 ${!lp} ms; ${!pp} ms at $PACED_RATE req/s) | ratio ${r}x (target: >= ${target}x)"
  echo "{\"bench\":\"http_$name\",\"seconds\":$SECS,\"rounds\":$ROUNDS,\"connections\":$CONNS,\"agentai_rps\":${!ra},\"agentai_p99_ms\":${!la},\"agentai_paced_p99_ms\":${!pa},\"peer\":\"$label\",\"peer_rps\":${!rp},\"peer_p99_ms\":${!lp},\"peer_paced_p99_ms\":${!pp},\"paced_rate\":$PACED_RATE,\"ratio\":$r,\"target_ratio\":$target,\"met\":$(met "$r" "$target")}"
}

result healthz agentai_healthz lws_minimal "lws_minimal (static body)" 0.9
result small_route agentai_small lws_minimal "lws_minimal (static body)" 0.9
if [ -n "$NGINX_PORT" ]; then
  result decode_route agentai_decode nginx_decode "nginx+lua (cjson)" 1.0
  echo "context: tiny Lua route vs nginx+lua: agentai $RPS_agentai_small req/s | nginx $RPS_nginx_small req/s | ratio $(ratio "$RPS_agentai_small" "$RPS_nginx_small")x; nginx static /healthz $RPS_nginx_healthz req/s; $NGINX_NOTE"
else
  echo "result: decode_route: agentai $RPS_agentai_decode req/s (p99 $P99_agentai_decode ms) | peer: $NGINX_NOTE"
fi
exit 0
