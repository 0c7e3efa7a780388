#!/bin/sh
# examples/clients/tasks.sh — an API client with curl: define an agent, submit a task durably
# (with an idempotency key), wait for it, then read its result and its event history.
# Usage: examples/clients/tasks.sh [BASE_URL]   (the daemon must find examples/workflows,
#        e.g. AGENTAI_WORKFLOW_PATH=examples/workflows ./build/agentai serve)
set -eu
BASE=${1:-http://127.0.0.1:8080}
JSON='Content-Type: application/json'

# 1. An agent names its workflow (examples/workflows/hello.lua) and its retry policy.
agent=$(curl -sf -X POST "$BASE/v1/agents" -H "$JSON" \
  -d '{"name":"greeter","workflow":"hello","retry":{"max_attempts":3}}')
agent_id=$(printf '%s' "$agent" | sed 's/.*"id":"\(agt_[0-9a-z]*\)".*/\1/')
echo "agent:  $agent_id"

# 2. 202 Accepted means the task is on disk; repeating the request with the same
#    Idempotency-Key returns the same task instead of a second one.
task=$(curl -sf -X POST "$BASE/v1/agents/$agent_id/tasks" -H "$JSON" \
  -H "Idempotency-Key: greet-ada-1" -d '{"input":{"name":"Ada"}}')
task_id=$(printf '%s' "$task" | sed 's/.*"id":"\(tsk_[0-9a-z]*\)".*/\1/')
again=$(curl -sf -X POST "$BASE/v1/agents/$agent_id/tasks" -H "$JSON" \
  -H "Idempotency-Key: greet-ada-1" -d '{"input":{"name":"Ada"}}')
case "$again" in *"\"id\":\"$task_id\""*) echo "task:   $task_id (a retried submission returned it again)" ;;
  *) echo "idempotency failed: $again" >&2; exit 1 ;; esac

# 3. Wait for the end state (a real client would follow the events instead).
i=0
while :; do
  state=$(curl -sf "$BASE/v1/tasks/$task_id")
  case "$state" in
    *'"status":"succeeded"'*) break ;;
    *'"status":"failed"'* | *'"status":"cancelled"'*) echo "task ended: $state" >&2; exit 1 ;;
  esac
  i=$((i + 1)); [ $i -lt 200 ] || { echo "task did not finish: $state" >&2; exit 1; }
  sleep 0.05
done
echo "result: $(printf '%s' "$state" | sed 's/.*"result":\({[^}]*}\).*/\1/')"

# 4. The ordered event history, filtered to state changes.
curl -sf "$BASE/v1/tasks/$task_id/events?type=like.task.*&order=seq.asc" |
  grep -o '"seq":[0-9]*,"gseq":[0-9]*,"type":"[a-z.]*"' | sed 's/"gseq":[0-9]*,//; s/^/event:  /'
