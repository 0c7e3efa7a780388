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

if [ ! -d "$here/node_modules/openai" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: npm is missing: run packaging/install-deps.sh" >&2
    exit 1
  fi
  # Two test runs (the normal and the ASan build) may both find the packages missing: install once.
  lock="$here/.npm-ci.lock"
  install() {
    if [ ! -d "$here/node_modules/openai" ]; then
      echo "run.sh: npm ci --prefix $here" >&2
      if ! npm ci --prefix "$here" --no-audit --no-fund >&2; then
        echo "run.sh: npm ci failed: cannot install the openai client from tests/node/package-lock.json" >&2
        exit 1
      fi
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
  if [ ! -f "$here/node_modules/openai/package.json" ]; then
    echo "run.sh: npm ci finished but node_modules/openai is missing" >&2
    exit 1
  fi
fi

exec node "$here/$script" "$@"
