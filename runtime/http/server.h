/* http/server.h — HTTP/1.1 server: libwebsockets on the runtime's uv loop, requests, responses. */
#pragma once

#include <stddef.h>
#include <uv.h>

/*
 * Threading: every function here runs on the thread that runs the uv loop
 * given to http_server_start(), and every callback is made on it.
 *
 * Lifetime of a request (the one ownership rule):
 *
 *   The server creates an http_request when a request's headers and body are
 *   in and passes it to the handler. From then on the HANDLER owns it and must
 *   finish it exactly once with http_respond(), http_respond_json() or
 *   http_respond_error(), either during the handler call ("inline", written at
 *   once) or later from any loop callback (a timer, an I/O completion; written
 *   when the socket is writable). A respond call always consumes the request,
 *   whatever it returns: the pointer is invalid after it.
 *
 *   If the client disconnects (or the server stops) before the response, the
 *   request is marked aborted: http_request_aborted() returns 1, the abort
 *   callback set with http_request_on_abort() runs once, and new header
 *   lookups return NULL. The handler still owns it and still finishes it with a respond
 *   call, which then sends nothing and frees it. Everything else the request
 *   holds (method, path, query, body, id) stays readable until then, so aborted
 *   work can still log what it was for.
 */

typedef struct http_server http_server;
typedef struct http_request http_request;

/** Called on the loop thread once a request's headers and whole body are in.
 *  The handler owns req from here (see the lifetime rule above). */
typedef void (*http_handler_fn)(void *ud, http_request *req);

/** Called once when a pending request is aborted (client gone, server
 *  stopping). req is still owned by the handler and must still be finished
 *  with a respond call, which may be made from inside this callback. */
typedef void (*http_abort_fn)(void *ud, http_request *req);

/** Server settings. Zero (or a NULL pointer to the whole struct) means the
 *  default for every field. */
typedef struct http_server_options {
  size_t max_body_bytes;   /**< larger bodies get 413 without reaching the handler; default 1 MiB */
  const char *server_name; /**< value of the Server header; default "agentai", "" for none */
  int keepalive_timeout_s; /**< idle time before a keep-alive connection is closed; default 60 */
  int request_timeout_s;   /**< time allowed for the headers, and between body reads; default 20 */
  unsigned max_header_bytes; /**< room for all request headers; default 8192, at most 65535 */
  int backlog;               /**< listen() backlog; default 511 */
  int reuse_port;            /**< nonzero: set SO_REUSEPORT so several processes share the port */
} http_server_options;

/**
 * Starts listening on host:port (port 0: an ephemeral port) and serving HTTP/1.1 on loop.
 * host is a numeric address or a name ("127.0.0.1", "::1", "0.0.0.0", "localhost").
 * handler(ud, req) is called for every complete request; ud is borrowed for the
 * server's lifetime. opts may be NULL; it is copied (server_name too).
 * On success *out receives the server and 0 is returned. On failure returns a
 * negative AGENTAI_E* code (AGENTAI_EIO for bind/listen errors, AGENTAI_EINVAL
 * for a bad address or port) and writes a sentence into err (may be NULL), e.g.
 * "cannot listen on 127.0.0.1:8080: Address already in use". Argument and
 * bind errors leave nothing on the loop; if libwebsockets fails half-way, its
 * handles close during the next loop iterations.
 */
int http_server_start(uv_loop_t *loop, const char *host, int port, http_handler_fn handler,
                      void *ud, const http_server_options *opts, http_server **out, char *err,
                      size_t err_len);

/** The port the server is bound to (the kernel's choice when started with port 0). */
int http_server_port(const http_server *srv);

/**
 * Stops the server: stops accepting at once, then (from a loop callback, so it
 * is safe to call from inside a handler) aborts pending requests (their abort
 * callbacks run), closes every connection and destroys the libwebsockets
 * context, letting the loop close all of its handles. When the last handle is
 * closed, srv is freed and on_closed(ud) is called (on_closed may be NULL).
 * In-flight responses are not drained. Calling it again on a stopping server
 * does nothing. srv must not be used after this call.
 */
void http_server_stop(http_server *srv, void (*on_closed)(void *ud), void *ud);

/* ------------------------------------------------------------------------ */
/* Request accessors. Returned strings are owned by req and stay valid until */
/* req is finished by a respond call, unless a comment says otherwise.       */
/* ------------------------------------------------------------------------ */

/** "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD" or "CONNECT".
 *  HEAD requests reach the handler as "HEAD"; their response body is dropped
 *  by the server (Content-Length still says how long it would have been). */
const char *http_request_method(const http_request *req);

/** The path without the query, percent-decoded and normalised by
 *  libwebsockets ("//" and "/./" collapsed, "/../" resolved, '+' read as ' '). */
const char *http_request_path(const http_request *req);

/** The query string without '?', re-encoded from its decoded parameters
 *  ("a=1&b=x%26y"); "" when there is none. */
const char *http_request_query(const http_request *req);

/** The decoded value of the first query parameter called name ("" for "?flag"
 *  or "?flag="), or NULL when absent. */
const char *http_request_query_param(const http_request *req, const char *name);

/**
 * The value of request header name (case-insensitive), repeated headers
 * joined with ','; NULL when absent. Works for every header, known to
 * libwebsockets or not (X-Request-Id, Idempotency-Key, Last-Event-ID, ...).
 * The value is copied into req on the first lookup and stays valid until req
 * is finished; once req is aborted, only names looked up before still answer.
 */
const char *http_request_header(http_request *req, const char *name);

/** The request body, NUL-terminated for convenience (the NUL is not counted
 *  in *len); "" with *len 0 when there was none. len may be NULL. */
const char *http_request_body(const http_request *req, size_t *len);

/** The request id: the client's X-Request-Id when it is 1-128 characters of
 *  [A-Za-z0-9._:/+=-], otherwise a generated "req_" + 24 hex digits. Every
 *  response carries it back in X-Request-Id. */
const char *http_request_id(const http_request *req);

/** 1 when the client went away or the server is stopping; the response will
 *  not be sent. */
int http_request_aborted(const http_request *req);

/** Sets (or with cb NULL, clears) the callback run once if req is aborted
 *  before it is finished. ud is borrowed. If req is already aborted, cb is not
 *  called: check http_request_aborted(). */
void http_request_on_abort(http_request *req, http_abort_fn cb, void *ud);

/* ------------------------------------------------------------------------ */
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Adds a response header, sent in call order with the response (call before
 * the respond call). name and value are copied. Content-Type, Content-Length,
 * Connection, Keep-Alive, Transfer-Encoding, Upgrade, Server and X-Request-Id
 * belong to the server and are refused. Returns 0, AGENTAI_EINVAL (refused or
 * empty name, a name that is not an HTTP token, a value with control
 * characters such as CR or LF), AGENTAI_ECANCELED when req is aborted, or
 * AGENTAI_ENOMEM.
 */
int http_response_add_header(http_request *req, const char *name, const char *value);

/**
 * Finishes req with a response: status 200-999 (1xx are the server's),
 * Content-Type content_type (NULL: none) and body, len bytes copied (body may
 * be NULL when len is 0); 204 and 304 carry no body. Consumes req in every
 * case. Returns 0 when the response was handed to the connection,
 * AGENTAI_ECANCELED when req was aborted (nothing sent), AGENTAI_EINVAL for a
 * bad status or length (a 500 error is sent instead), or AGENTAI_ENOMEM (the
 * connection is closed). Called inline from the handler, the bytes go out as
 * the handler returns, usually in one send(); called later, they go out on the
 * connection's next writable callback. A second respond call on a request
 * during the same handler call is refused with AGENTAI_EINVAL and changes
 * nothing; after that, req is gone and must not be passed again.
 */
int http_respond(http_request *req, int status, const char *content_type, const char *body,
                 size_t len);

/** http_respond() with Content-Type "application/json" and the NUL-terminated json. */
int http_respond_json(http_request *req, int status, const char *json);

/**
 * Finishes req with the one error envelope of the API:
 *   {"error":{"type":type,"message":message,"param":param,"request_id":id}}
 * param may be NULL (JSON null); strings are JSON-escaped. type is a short
 * snake_case kind; the server itself uses "request_too_large" (413),
 * "length_required" (411), "invalid_request" (400) and "internal_error"
 * (500). Same return values and ownership as http_respond().
 */
int http_respond_error(http_request *req, int status, const char *type, const char *message,
                       const char *param);

/** The libwebsockets version, without the trailing "-<git hash>" separator lws
 *  prints when it was built without one (e.g. "4.1.6"). Static storage. */
const char *http_library_version(void);
