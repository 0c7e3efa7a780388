#!/bin/sh
# Installs the Debian 12 packages needed to build, run and test agentai.
# Idempotent: only missing packages are installed; a no-op when all are present.
# With --bench, also the peers and load tools of the benchmarks (nginx with the Lua module and
# lua-cjson, wrk, hyperfine) and, from npm, Portkey's gateway (bench/package.json, into
# bench/node_modules).
set -eu

PACKAGES="
build-essential cmake pkg-config
liblua5.4-dev lua5.4
libuv1-dev
libcurl4-openssl-dev
libcjson-dev
liblmdb-dev lmdb-utils
libwebsockets-dev libwebsockets-evlib-uv
libssl-dev openssl
lua-busted
clang libclang-rt-14-dev
clang-format
curl valgrind
prometheus
"

# node and npm run the test LLM upstream and the openai client check (tests/upstream, tests/node).
# A machine may have them from elsewhere (NodeSource's nodejs bundles npm): Debian's packages are
# installed only when the commands are missing, never over another node.
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

if [ "${1:-}" = "--bench" ]; then
  PACKAGES="$PACKAGES nginx nginx-light libnginx-mod-http-lua lua-cjson wrk hyperfine"
fi

# bench_npm: the npm peers of the benchmarks (bench/gateway.sh), from bench/package-lock.json.
# --ignore-scripts: Portkey's only install script patches its own source tree, not shipped.
bench_npm() {
  [ "${1:-}" = "--bench" ] || return 0
  bench_dir=$(cd "$(dirname "$0")/../bench" && pwd)
  [ -f "$bench_dir/node_modules/@portkey-ai/gateway/build/start-server.js" ] && return 0
  echo "install-deps: npm ci in bench/ (@portkey-ai/gateway)" >&2
  (cd "$bench_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  bench_npm "${1:-}"
  exit 0
fi

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing packages:$missing; run as root or install them with apt-get" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
bench_npm "${1:-}"
