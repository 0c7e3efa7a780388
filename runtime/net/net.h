/* net/net.h — the runtime's non-blocking HTTP client: libcurl's multi interface driven by the
 * libuv loop. Plugins reach it through the host table, workflows through ai.http.request. */
#pragma once

#include <uv.h>

#include "agentai/http.h"

/** One client: a curl multi handle (and so one connection cache, shared by
 *  every request made through it) on one loop. Loop thread only. */
typedef struct net_client net_client;

/** Smallest agentai_http_request.size accepted (the ABI 1.1 layout). */
#define NET_REQUEST_MIN_SIZE sizeof(agentai_http_request)

/**
 * Creates a client on loop. Connections are kept and reused across requests
 * (at most 32 per host), HTTP/2 is negotiated over TLS where the server
 * offers it, and the proxy environment variables (http_proxy, https_proxy,
 * no_proxy) are honoured. Returns 0 or AGENTAI_ENOMEM.
 */
int net_client_new(uv_loop_t *loop, net_client **out);

/**
 * Cancels every request in flight (their sinks are not called again) and
 * closes the client. Safe from inside any sink callback. The client's libuv
 * handles close asynchronously: run the loop once afterwards, before
 * uv_loop_close. NULL is a no-op.
 */
void net_client_close(net_client *c);

/**
 * Starts req (agentai/http.h: borrowed for the call; URL, headers and body
 * are copied). The sink is copied too; sink->ud must stay valid until done()
 * returns or the request is cancelled.
 *
 * Returns 0 when accepted: *out gets the handle for net_request_cancel and
 * sink->done will run exactly once, from the loop, never before this
 * returns, unless the request is cancelled first. Otherwise returns
 * AGENTAI_EINVAL (bad size, URL that does not parse, a scheme other than
 * http or https, a method or header that is not a valid token or has CR/LF,
 * no done callback), AGENTAI_EBUSY (client closing) or AGENTAI_ENOMEM, and
 * the sink is never called.
 *
 * Timeouts: connect_timeout_ms covers DNS, TCP and TLS; timeout_ms the
 * whole exchange; idle_timeout_ms the longest silence, measured from the
 * start and restarted by every byte received (headers or body). Redirects
 * are not followed (the caller sees the 3xx). TLS is always verified;
 * req->ca_file replaces the system trust store.
 *
 * Callbacks may call net_request_start, net_request_cancel (of any request)
 * and net_client_close.
 */
int net_request_start(net_client *c, const agentai_http_request *req, const agentai_http_sink *sink,
                      agentai_http_call **out);

/**
 * Stops a request whose done() has not run: no sink callback runs for it
 * afterwards, and its memory is released. c may be NULL (the handle knows its
 * client). A no-op from inside the request's own done(); after done()
 * returned the handle is gone, and calling this is a bug. NULL is a no-op.
 */
void net_request_cancel(net_client *c, agentai_http_call *call);

/** Requests in flight (started, done() not run, not cancelled). */
size_t net_client_active(const net_client *c);
