#!/bin/sh
# tests/node/run.sh — runs an openai-client check script (default: openai_upstream_check.mjs); installs the locked npm packages first when they are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# Usage: run.sh [SCRIPT.mjs [ARGS...]]: SCRIPT is a file in this folder, ARGS go to it.
script=openai_upstream_check.mjs
if [ $# -gt 0 ]; then
  script=$1
  shift
fi

# The stamp is written only after npm ci succeeded: a run that starts while another one is
# still installing (ctest runs tests in parallel) waits on the lock instead of seeing a
# half-written node_modules.
stamp="$here/node_modules/.agentai-installed"
if [ ! -f "$stamp" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: npm is missing: run packaging/install-deps.sh" >&2
    exit 1
  fi
  lock="$here/.npm-ci.lock"
  install() {
    if [ ! -f "$stamp" ]; then
      echo "run.sh: npm ci --prefix $here" >&2
      if ! npm ci --prefix "$here" --no-audit --no-fund >&2; then
        echo "run.sh: npm ci failed: cannot install the openai client from tests/node/package-lock.json" >&2
        exit 1
      fi
      if [ ! -f "$here/node_modules/openai/package.json" ]; then
        echo "run.sh: npm ci finished but node_modules/openai is missing" >&2
        exit 1
      fi
      : >"$stamp"
    fi
  }
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
    install
    flock -u 9
  else
    install
  fi
fi

exec node "$here/$script" "$@"
