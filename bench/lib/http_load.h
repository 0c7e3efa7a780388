/* bench/lib/http_load.h — a small HTTP/1.1 load client on libuv for the benchmarks: many
 * keep-alive connections in one thread, responses with Content-Length, latency per request. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct hl_client hl_client;
typedef struct hl_conn hl_conn;

/** A finished request: status is the HTTP status, or -1 when the connection failed
 *  while the request was in flight (body NULL then). body is borrowed for the call.
 *  latency_ns runs from the request's intended start (see hl_send) to the response's
 *  last byte. */
typedef void (*hl_done_fn)(void *ud, hl_conn *c, int status, const char *body, size_t len,
                           uint64_t latency_ns);

/** A connection is idle (connected, or its last response is in): the callback may
 *  call hl_send now, or keep c and call it later. Not calling it leaves c idle. */
typedef void (*hl_idle_fn)(void *ud, hl_conn *c);

/** Starts nconns connections to host:port (IPv4 literal) on loop. Each reconnects
 *  by itself when the server closes it between requests. Returns NULL when the
 *  address is not an IPv4 literal or memory runs out. */
hl_client *hl_start(uv_loop_t *loop, const char *host, int port, unsigned nconns, hl_idle_fn idle,
                    hl_done_fn done, void *ud);

/** Sends len bytes (a whole request, copied) on an idle connection. intended_ns
 *  (uv_hrtime clock) is when the request should have started, for open-loop
 *  latency; 0 = now. Returns 0, or -1 when c is busy or closed. */
int hl_send(hl_conn *c, const char *req, size_t len, uint64_t intended_ns);

/** Closes every connection; the loop then has no more handles of the client,
 *  and hl_free may be called once uv_run returns. */
void hl_stop(hl_client *cl);

/** Frees the client after hl_stop and the loop's last run. */
void hl_free(hl_client *cl);

/** Connections that failed to connect or broke in flight, so far. */
unsigned long hl_errors(const hl_client *cl);

/** Sorts n latencies (ns) in place and returns the q-quantile (0..1) in ms. */
double hl_quantile_ms(uint64_t *v, size_t n, double q);

/** Formats a request into out (at most out_len bytes, NUL-terminated): METHOD path,
 *  Host, keep-alive, and a JSON body when body is not NULL. Returns the length,
 *  or -1 when it does not fit. */
int hl_format(char *out, size_t out_len, const char *method, const char *path, const char *body);

/** Makes the next request into buf (at most cap bytes): returns its length, or 0 when there
 *  are no more (for now: hl_run ends once nothing is in flight). */
typedef int (*hl_gen_fn)(void *ud, char *buf, size_t cap);

/** Closed-loop run on a private loop: nconns keep-alive connections to 127.0.0.1:port each
 *  send gen's next request as soon as their previous answer is in, until gen returns 0 and
 *  every answer is in. done sees every answer. Returns 0, or -1 when the client could not
 *  start; *errors (when not NULL) receives the connection failures. */
int hl_run(int port, unsigned nconns, hl_gen_fn gen, hl_done_fn done, void *ud,
           unsigned long *errors);
