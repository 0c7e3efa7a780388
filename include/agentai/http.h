/* agentai/http.h — the host's non-blocking HTTP client, as plugins reach it through the host table.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One header line. Both strings are borrowed for the call that receives them. */
typedef struct agentai_http_header {
  const char *name;
  const char *value;
} agentai_http_header;

/**
 * An outgoing request. Borrowed by http_request() for the call only: the host
 * copies what it keeps (URL, headers, body), so the caller may free it as soon
 * as http_request() returns.
 */
typedef struct agentai_http_request {
  uint32_t size;                      /**< sizeof(agentai_http_request) as the caller built it */
  const char *method;                 /**< "GET", "POST", ...; NULL = GET, or POST with a body */
  const char *url;                    /**< absolute http:// or https:// URL */
  const agentai_http_header *headers; /**< extra request headers, or NULL */
  size_t header_count;
  const char *body; /**< request body, or NULL */
  size_t body_len;
  uint32_t connect_timeout_ms; /**< 0 = 10 s */
  uint32_t timeout_ms;         /**< whole exchange; 0 = 5 min */
  uint32_t idle_timeout_ms;    /**< longest gap between received bytes; 0 = 60 s */
  uint64_t max_response_bytes; /**< body bytes accepted before AGENTAI_E2BIG; 0 = 64 MiB */
  const char *ca_file;         /**< PEM bundle trusted instead of the system's, or NULL.
                                    Verification is always on. */
} agentai_http_request;

/** How a request ended; every pointer is borrowed for the done() call only. */
typedef struct agentai_http_result {
  uint32_t size;       /**< sizeof(agentai_http_result) as the host built it */
  int err;             /**< 0 when a whole response arrived (whatever its status), else
                            AGENTAI_ETIMEDOUT (connect, total or idle limit), AGENTAI_EUPSTREAM
                            (resolve, connect, TLS or connection failure), AGENTAI_E2BIG (body over
                            max_response_bytes), AGENTAI_ECANCELED (head() or body() asked to stop) */
  int status;          /**< HTTP status, 0 when none arrived */
  const char *message; /**< on error: one line saying what failed, naming the host but never
                            the query string, credentials or header values */
  const char *body;    /**< the buffered body when the sink has no body() callback, else NULL */
  size_t body_len;
} agentai_http_result;

/**
 * Where the host delivers a response. Owned by the caller; must stay valid
 * until done() returns or http_cancel() returns. Callbacks run on the loop
 * thread, never before http_request() returns.
 */
typedef struct agentai_http_sink {
  void *ud;
  /** Status and response headers, once, before any body byte. May be NULL.
   *  Return 0 to go on, non-zero to stop (done() then gets AGENTAI_ECANCELED). */
  int (*head)(void *ud, int status, const agentai_http_header *headers, size_t header_count);
  /** One piece of the body as it arrives, borrowed for the call. May be NULL: the host then
   *  buffers the body and hands it to done(). Return 0 to go on, non-zero to stop. */
  int (*body)(void *ud, const char *data, size_t len);
  /** Exactly once per accepted request, unless it was cancelled with http_cancel(). */
  void (*done)(void *ud, const agentai_http_result *result);
} agentai_http_sink;

/** Handle of one request in flight, for http_cancel(). */
typedef struct agentai_http_call agentai_http_call;

#ifdef __cplusplus
}
#endif
