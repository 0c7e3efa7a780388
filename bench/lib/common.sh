# Shell functions bench/footprint.sh and bench/memory.sh share: /proc readings, waiting for a log line, an idle nginx to compare with.
# shellcheck shell=bash
# Sourced, not run: it defines functions and sets nothing else.

# status_kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in kB, or empty.
status_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# children PID: the PIDs whose parent is PID.
children() {
  local stat
  for stat in /proc/[0-9]*/stat; do
    # the command name (field 2) may hold spaces: read the fields after its closing parenthesis
    awk -v p="$1" '{ sub(/^.*\) /, ""); if ($2 == p) { split(FILENAME, a, "/"); print a[3] } }' \
      "$stat" 2>/dev/null
  done
}

# wait_for FILE TEXT PID SECONDS: waits until FILE contains TEXT; fails if PID exits or time runs out.
wait_for() {
  local tries=$(($4 * 20))
  while [ "$tries" -gt 0 ]; do
    grep -qF "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
    tries=$((tries - 1))
  done
  return 1
}

# nginx_find: prints the nginx binary (on PATH, else /usr/sbin/nginx), or nothing.
nginx_find() {
  local bin
  bin=$(command -v nginx 2>/dev/null || true)
  [ -z "$bin" ] && [ -x /usr/sbin/nginx ] && bin=/usr/sbin/nginx
  echo "$bin"
}

# nginx_start BIN DIR: starts BIN in the background as an idle server, one worker on a unix socket
# (no port to pick), every path in DIR; sets NGINX_PID. Its log is DIR/error.log.
nginx_start() {
  local n=$2
  mkdir -p "$n/tmp"
  cat >"$n/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  server {
    listen unix:$n/nginx.sock;
    location / { return 200 "ok\n"; }
  }
}
EOF
  "$1" -p "$n" -c "$n/nginx.conf" -e "$n/error.log" >/dev/null 2>&1 &
  NGINX_PID=$!
}

# nginx_idle_rss DIR: waits up to 10 s for the nginx nginx_start started in DIR to start its
# worker, gives it a second to settle, then sets NGINX_KB to the RSS of the master and its
# workers summed and NGINX_PROCS to how many they are. Fails if the worker did not start.
nginx_idle_rss() {
  local p kb
  wait_for "$1/error.log" "start worker process" "$NGINX_PID" 10 || return 1
  sleep 1
  NGINX_KB=0
  NGINX_PROCS=0
  for p in "$NGINX_PID" $(children "$NGINX_PID"); do
    kb=$(status_kb "$p" VmRSS)
    NGINX_KB=$((NGINX_KB + ${kb:-0}))
    NGINX_PROCS=$((NGINX_PROCS + 1))
  done
}
