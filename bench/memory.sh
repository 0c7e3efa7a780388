#!/usr/bin/env bash
# Memory under load: agentai serve's RSS holding 10,000 queued tasks and 1,000 WebSocket subscribers (all events), against idle nginx.
# usage: bench/memory.sh BUILD_DIR      (BENCH_QUICK=1: 2,000 tasks and 200 subscribers)
# Prints a "result:" line and a JSON line. nginx is context only (no peer holds tasks and
# subscriptions); without it the absolute figure is reported alone.
# shellcheck disable=SC2317 # cleanup runs from the trap
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  TASKS=2000
  SUBSCRIBERS=200
else
  TASKS=10000
  SUBSCRIBERS=1000
fi
FANOUT_TASKS=100 # submitted after the subscribers: each event goes to every subscriber
RSS_TARGET_KB=$((200 * 1024))

AGENTAI="$BUILD_DIR/agentai"
LOADGEN="$BUILD_DIR/bench/loadgen"
for bin in "$AGENTAI" "$LOADGEN"; do
  if [ ! -x "$bin" ]; then
    echo "memory: $bin is missing (configure the build with -DAGENTAI_BENCH=ON)" >&2
    exit 1
  fi
done
# The server holds two descriptors per WebSocket (the connection and the duplicate its
# disconnect watch polls), the subscribers one: raise the soft limit if it is lower.
NEED_FDS=$((2 * SUBSCRIBERS + 1024))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$NEED_FDS" ]; then
  ulimit -Sn "$NEED_FDS" 2>/dev/null || {
    echo "memory: cannot raise the open-file limit to $NEED_FDS (hard limit $(ulimit -Hn))" >&2
    exit 1
  }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-memory-XXXXXX")
SERVER_PID=""
WS_PID=""
NGINX_PID=""
cleanup() {
  [ -n "$WS_PID" ] && kill -TERM "$WS_PID" 2>/dev/null
  [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
  if [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
  fi
  exec 3>&- 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

mkdir -p "$WORK/workflows" "$WORK/data"
cat >"$WORK/workflows/sleeper.lua" <<'EOF'
-- Sleeps for an hour: with AGENTAI_MAX_RUNNING=1 every other task stays queued.
local ai = require("agentai")
return function(input)
  ai.sleep(3600)
  return input
end
EOF

echo "== agentai serve, AGENTAI_MAX_RUNNING=1, a workflow that sleeps: $TASKS tasks, then $SUBSCRIBERS WebSocket subscribers"
AGENTAI_MAX_RUNNING=1 AGENTAI_WORKFLOW_PATH="$WORK/workflows" \
  "$AGENTAI" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
disown $!
if ! wait_for "$WORK/serve.err" '"msg":"listening"' "$SERVER_PID" 10; then
  echo "memory: agentai serve did not start:" >&2
  cat "$WORK/serve.err" >&2
  exit 1
fi
PORT=$(grep -o '"port":[0-9]*' "$WORK/serve.err" | head -n 1 | cut -d: -f2)
URL="http://127.0.0.1:$PORT"
AGENT=$(curl -sf -H 'Content-Type: application/json' -d '{"workflow":"sleeper"}' "$URL/v1/agents" |
  grep -o '"id":"agt_[^"]*"' | cut -d'"' -f4)
if [ -z "$AGENT" ]; then
  echo "memory: creating the agent failed" >&2
  exit 1
fi
sleep 1
RSS_IDLE=$(status_kb "$SERVER_PID" VmRSS)

INPUT='{"input":{"order":12345,"customer":"Ada Lovelace","items":["SKU-0001","SKU-0002"]}}'
if ! out=$(timeout 300 "$LOADGEN" submit --port "$PORT" --agent "$AGENT" --count "$TASKS" --conns 64 --body "$INPUT"); then
  echo "memory: submitting $TASKS tasks failed: $out" >&2
  exit 1
fi
echo "$out"
LAST=$(echo "$out" | grep -o 'last_id=tsk_[0-9a-z]*' | cut -d= -f2)
QUEUED=$(curl -sf "$URL/metrics" | awk '$1 == "agentai_tasks{state=\"queued\"}" { print $2; exit }')
sleep 1
RSS_TASKS=$(status_kb "$SERVER_PID" VmRSS)

# Subscribers follow everything after the newest event: live events, no replay of the history.
GSEQ=$(curl -sf "$URL/v1/tasks/$LAST/events" | grep -o '"gseq":[0-9]*' | cut -d: -f2 | sort -n | tail -n 1)
mkfifo "$WORK/ws.in"
"$LOADGEN" ws --port "$PORT" --count "$SUBSCRIBERS" --since "${GSEQ:-0}" <"$WORK/ws.in" >"$WORK/ws.out" 2>"$WORK/ws.err" &
WS_PID=$!
disown $!
exec 3>"$WORK/ws.in" # held open: its end tells the subscribers to stop
if ! wait_for "$WORK/ws.out" "ready" "$WS_PID" 60 || ! grep -q "^ready $SUBSCRIBERS\$" "$WORK/ws.out"; then
  echo "memory: the subscribers did not all connect: $(cat "$WORK/ws.out" "$WORK/ws.err")" >&2
  exit 1
fi
sleep 1
RSS_SUBS=$(status_kb "$SERVER_PID" VmRSS)

# Fan-out: every new task's events reach every subscriber.
timeout 60 "$LOADGEN" submit --port "$PORT" --agent "$AGENT" --count "$FANOUT_TASKS" --conns 16 --body "$INPUT" >/dev/null || {
  echo "memory: the fan-out submissions failed" >&2
  exit 1
}
sleep 2
RSS_FAN=$(status_kb "$SERVER_PID" VmRSS)
HWM=$(status_kb "$SERVER_PID" VmHWM)
exec 3>&-
for _ in $(seq 100); do
  kill -0 "$WS_PID" 2>/dev/null || break
  sleep 0.05
done
WS_END=$(grep '^closed' "$WORK/ws.out" || true)
WS_PID=""
kill -TERM "$SERVER_PID"
for _ in $(seq 200); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.05
done
kill -KILL "$SERVER_PID" 2>/dev/null && echo "memory: agentai serve still ran 10 s after SIGTERM" >&2
SERVER_PID=""

printf '  idle (one agent)                        %7s MB\n' "$(mb "$RSS_IDLE")"
printf '  + %-5s queued tasks                     %7s MB  (%s KB per task)\n' "$TASKS" "$(mb "$RSS_TASKS")" \
  "$(awk -v a="$RSS_TASKS" -v b="$RSS_IDLE" -v n="$TASKS" 'BEGIN { printf "%.1f", (a - b) / n }')"
printf '  + %-5s WebSocket subscribers (all)      %7s MB  (%s KB per subscriber)\n' "$SUBSCRIBERS" "$(mb "$RSS_SUBS")" \
  "$(awk -v a="$RSS_SUBS" -v b="$RSS_TASKS" -v n="$SUBSCRIBERS" 'BEGIN { printf "%.1f", (a - b) / n }')"
printf '  + %-5s more tasks fanned out to them    %7s MB  (peak %s MB; subscribers: %s)\n' "$FANOUT_TASKS" "$(mb "$RSS_FAN")" "$(mb "$HWM")" "$WS_END"
[ -n "$QUEUED" ] && echo "  (queued according to /metrics: $QUEUED)"

# ---- context: idle nginx, one worker (it holds neither tasks nor subscriptions) ----
NGINX_KB=""
NGINX_NOTE="nginx not installed: absolute figure only"
NGINX_BIN=$(nginx_find)
if [ -n "$NGINX_BIN" ]; then
  N="$WORK/nginx"
  nginx_start "$NGINX_BIN" "$N"
  disown "$NGINX_PID"
  if nginx_idle_rss "$N"; then
    NGINX_NOTE="context, not a like-for-like peer: nginx idle, master + 1 worker, RSS summed"
  else
    NGINX_NOTE="nginx did not start: absolute figure only"
  fi
fi

MET=$([ "$RSS_FAN" -lt "$RSS_TARGET_KB" ] && echo true || echo false)
if [ -n "$NGINX_KB" ]; then
  RATIO=$(awk -v a="$RSS_FAN" -v b="$NGINX_KB" 'BEGIN { printf "%.1f", a / b }')
  echo "result: RSS with $TASKS queued tasks + $SUBSCRIBERS WebSocket subscribers: agentai $(mb "$RSS_FAN") MB (idle $(mb "$RSS_IDLE") MB, peak $(mb "$HWM") MB) | nginx idle $(mb "$NGINX_KB") MB | ratio ${RATIO}x (target: agentai under 200 MB) | $NGINX_NOTE"
  PEER_JSON="\"peer\":\"nginx idle, master + 1 worker (context)\",\"peer_rss_kb\":$NGINX_KB,\"ratio\":$RATIO"
else
  echo "result: RSS with $TASKS queued tasks + $SUBSCRIBERS WebSocket subscribers: agentai $(mb "$RSS_FAN") MB (idle $(mb "$RSS_IDLE") MB, peak $(mb "$HWM") MB) (target: under 200 MB) | $NGINX_NOTE"
  PEER_JSON="\"peer\":null"
fi
echo "{\"bench\":\"memory_tasks_subscribers\",\"tasks\":$TASKS,\"subscribers\":$SUBSCRIBERS,\"agentai_idle_kb\":$RSS_IDLE,\"agentai_tasks_kb\":$RSS_TASKS,\"agentai_subscribers_kb\":$RSS_SUBS,\"agentai_rss_kb\":$RSS_FAN,\"agentai_hwm_kb\":$HWM,$PEER_JSON,\"target_kb\":$RSS_TARGET_KB,\"met\":$MET}"
exit 0
