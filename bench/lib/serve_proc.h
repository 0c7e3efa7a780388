/* bench/lib/serve_proc.h — starting, finding and killing an `agentai serve` child for the C
 * benchmarks, and one blocking HTTP request for their setup steps. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/** A running `agentai serve` child. */
typedef struct sp_server {
  pid_t pid;
  int port;
  char log_path[512];
} sp_server;

/** Starts `agentai serve --listen 127.0.0.1:0 --data data_dir` with the extra environment
 *  entries env ("NAME=value", NULL-terminated, may be NULL), stdout and stderr to log_path
 * (truncated), and waits up to 20 s for its "listening" log line. Returns 0 with s->pid and s->port
 * set, or -1 after printing why (the child, if any, is killed). */
int sp_start(sp_server *s, const char *agentai, const char *data_dir, const char *log_path,
             char *const *env);

/** Sends sig to the server and waits for it to exit. Returns its wait status, or -1. */
int sp_stop(sp_server *s, int sig);

/** The agentai binary next to the build's plugin folder (BENCH_PLUGIN_DIR/../agentai), or
 *  override when it is not NULL. Returns 0, or -1 when it is not executable. */
int sp_find_agentai(char *out, size_t out_len, const char *override);

/** One blocking request on a fresh connection to 127.0.0.1:port: method, path, and a JSON
 *  body or NULL. Returns the status with the body in out (NUL-terminated, truncated to
 *  out_len - 1), or -1 on a connection error. */
int sp_http(int port, const char *method, const char *path, const char *body, char *out,
            size_t out_len);

/** Copies the string value of "key":"..." (the first one in json) into out; returns 0, or
 *  -1 when absent or too long. */
int sp_json_str(const char *json, const char *key, char *out, size_t out_len);

/** Arms a watchdog: if the process is still running after seconds, s's server (when it
 *  runs) is killed and the process exits 1 with a message, so that a hung server cannot
 *  hang a benchmark run. 0 disarms it. */
void sp_watchdog(sp_server *s, unsigned seconds);
