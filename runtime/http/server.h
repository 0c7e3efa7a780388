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
 *   finish it exactly once with http_respond(), http_respond_json(),
 *   http_respond_error() or http_respond_stream() (which hands over to a
 *   stream with a lifetime of its own), either during the handler call ("inline", written at
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
typedef struct http_stream http_stream;
typedef struct http_ws http_ws;

/** Called on the loop thread once a request's headers and whole body are in.
 *  The handler owns req from here (see the lifetime rule above). */
typedef void (*http_handler_fn)(void *ud, http_request *req);

/** Called once when a pending request is aborted (client gone, server
 *  stopping). req is still owned by the handler and must still be finished
 *  with a respond call, which may be made from inside this callback. */
typedef void (*http_abort_fn)(void *ud, http_request *req);

/**
 * WebSocket endpoint callbacks (see http_server_options.ws_path). Every
 * callback gets the ud given to http_server_start(). Any of them may be NULL:
 * no on_open accepts every upgrade, no on_message drops messages.
 */
typedef struct http_ws_handlers {
  /** An upgrade request for ws_path arrived and is well-formed. Return 0 to
   *  accept, or an HTTP status 400-599 (401, 403, 404, 429, ...) to refuse it
   *  with the JSON error envelope (see http_ws_refuse_with()); any other value
   *  refuses with 500. The request is readable through http_ws_header(),
   *  http_ws_query_param() and http_ws_request_id() (check Origin here when
   *  browsers may connect). http_ws_send() may be called here: the frames
   *  follow the 101 response. A refused ws is freed when on_open returns and
   *  gets no on_close. */
  int (*on_open)(void *ud, http_ws *ws);
  /** One whole message (fragments reassembled, text checked to be UTF-8),
   *  data[len] is a NUL for convenience; data is valid during the call only. */
  void (*on_message)(void *ud, http_ws *ws, const char *data, size_t len, int is_binary);
  /** Called once for every accepted ws, from a loop callback (never from inside
   *  an http_ws_* call); ws is invalid after it returns. reason: 0 for a close
   *  either side started (also when the client never answered ours),
   *  AGENTAI_ECANCELED when the client vanished without one or the server is
   *  stopping (the server sent 1001), AGENTAI_ENOSPC when the send buffer cap
   *  was exceeded (1008), AGENTAI_E2BIG for a message over max_message_bytes
   *  (1009), AGENTAI_EINVAL when the client broke the protocol (1002, or 1007
   *  for text that is not UTF-8), AGENTAI_ENOMEM (1011). */
  void (*on_close)(void *ud, http_ws *ws, int reason);
  size_t max_message_bytes; /**< largest message accepted; default 64 KiB */
  size_t max_buffered;      /**< unsent bytes allowed per connection; default 1 MiB */
} http_ws_handlers;

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
  /** Path of the WebSocket endpoint ("/v1/ws"; must start with '/'), NULL for
   *  none. A GET for exactly this path (query aside) with "Upgrade: websocket"
   *  becomes a WebSocket served by ws; requests for it without Upgrade, and
   *  Upgrade requests for other paths, reach the handler as plain HTTP. */
  const char *ws_path;
  http_ws_handlers ws; /**< callbacks for ws_path; copied */
  /** Open connections allowed (HTTP, streams and WebSockets alike); sockets
   *  accepted above it are closed at once, with a warning logged at most once
   *  a second. Default 10000. */
  unsigned max_connections;
  /** Called when a response is handed to the connection (for metrics and
   *  access logs): the request (readable for this call), the status and the
   *  seconds since its headers arrived. Streams report when they start.
   *  Aborted requests are not reported. ud is the server's. May be NULL. */
  void (*on_response)(void *ud, http_request *req, int status, double seconds);
} http_server_options;

/**
 * Starts listening on host:port (port 0: an ephemeral port) and serving HTTP/1.1 on loop.
 * host is a numeric address or a name ("127.0.0.1", "::1", "0.0.0.0", "localhost").
 * handler(ud, req) is called for every complete request; ud is borrowed for the
 * server's lifetime. opts may be NULL; it is copied (server_name and ws_path too).
 * On success *out receives the server and 0 is returned. On failure returns a
 * negative AGENTAI_E* code (AGENTAI_EIO for bind/listen errors, AGENTAI_EINVAL
 * for a bad address, port or ws_path) and writes a sentence into err (may be NULL), e.g.
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
 * callbacks run), ends open streams (on_close with AGENTAI_ECANCELED), sends
 * every WebSocket a 1001 close frame (on_close with AGENTAI_ECANCELED), closes
 * every connection and destroys the libwebsockets context, letting the loop
 * close all of its handles. When the last handle is
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

/** Labels req with the route that serves it (e.g. "/v1/tasks/{id}"), for
 *  metrics; route is borrowed and must outlive req (a string literal). */
void http_request_set_route(http_request *req, const char *route);

/** The label set with http_request_set_route(), or NULL. */
const char *http_request_route(const http_request *req);

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

/* ------------------------------------------------------------------------ */
/* Streamed responses (Server-Sent Events, long downloads)                  */
/* ------------------------------------------------------------------------ */

/*
 * Lifetime of a stream: http_respond_stream() turns the request into a stream
 * the handler writes to until it calls http_stream_end(), the client leaves,
 * the server stops or the buffer cap is exceeded. Whichever comes first, the
 * on_close callback runs exactly once, always from a loop callback of its own
 * (never from inside an http_stream_* call), and the stream pointer is
 * invalid once it returns. Between the end of the stream and on_close, calls
 * are harmless (writes return AGENTAI_ECANCELED).
 *
 * While a stream is open the server does not read the connection: a client
 * that sends anything (a pipelined request) or closes its side ends the
 * stream with AGENTAI_ECANCELED.
 */

/** Called once when the stream ends. reason: 0 after http_stream_end() has
 *  handed every byte to the socket, AGENTAI_ECANCELED when the client went
 *  away, a write failed or the server is stopping, AGENTAI_ENOSPC when a write
 *  would have exceeded max_buffered. */
typedef void (*http_stream_close_fn)(void *ud, http_stream *s, int reason);

/**
 * Finishes req like a respond call (it consumes req in every case) by
 * starting a response of unknown length: status 200-999 except 204 and 304,
 * Content-Type content_type (NULL: none), the headers added with
 * http_response_add_header(), X-Request-Id and Server as on every response.
 * HTTP/1.1: chunked transfer encoding and the connection may be reused after
 * the end; HTTP/1.0: "Connection: close", the end of the body is the end of
 * the connection. HEAD: the headers only; the stream then ends at once
 * (on_close with 0) and writes before that are dropped.
 * max_buffered: bytes allowed to wait unsent (0: 1 MiB). on_close is
 * required; ud is borrowed until on_close.
 * Returns 0 with *out set; AGENTAI_ECANCELED when req was aborted (nothing
 * sent, *out NULL, no on_close); AGENTAI_EINVAL for a bad status, a NULL out
 * or on_close (a 500 error is sent instead) or a second respond call during
 * one handler call (nothing changes, as for http_respond()); AGENTAI_ENOMEM
 * (the connection is closed). Called inline from the handler, the headers
 * leave as the handler returns; later, on the next writable callback.
 */
int http_respond_stream(http_request *req, int status, const char *content_type,
                        size_t max_buffered, http_stream_close_fn on_close, void *ud,
                        http_stream **out);

/**
 * Queues len bytes (copied; 0 is a no-op) to be written as the socket allows,
 * each write one chunk. Returns 0; AGENTAI_ENOSPC when the unsent bytes
 * (http_stream_buffered()) would exceed max_buffered: the queued bytes are
 * dropped, the connection is closed and on_close follows with AGENTAI_ENOSPC;
 * AGENTAI_ECANCELED once the stream has ended for another reason;
 * AGENTAI_EINVAL after http_stream_end() or for NULL data with len > 0;
 * AGENTAI_ENOMEM (the stream then ends with AGENTAI_ECANCELED).
 */
int http_stream_write(http_stream *s, const char *data, size_t len);

/** Ends the response once everything queued is written (HTTP/1.1 keep-alive
 *  then continues on the connection); on_close(0) follows. A second call, or
 *  one on an ended stream, does nothing. */
void http_stream_end(http_stream *s);

/** Bytes queued but not yet handed to the socket (including the last write
 *  the socket has not confirmed). */
size_t http_stream_buffered(const http_stream *s);

/** The id of the request the stream answers (X-Request-Id); valid until on_close. */
const char *http_stream_request_id(const http_stream *s);

/* ------------------------------------------------------------------------ */
/* WebSockets (RFC 6455; see http_server_options.ws_path)                    */
/* ------------------------------------------------------------------------ */

/*
 * Lifetime of a ws: it exists from on_open until on_close returns (or until
 * on_open returns, when it refused). Pings are answered, pongs ignored, the
 * close handshake is done by the server; client frames must be masked. The
 * server never reads ahead of on_message: a message is delivered before the
 * next one is parsed. Sends are queued and written as the socket allows.
 * No subprotocol (Sec-WebSocket-Protocol) or extension is ever selected.
 */

/** The value of the upgrade request's header name (case-insensitive, repeated
 *  headers joined with ','), NULL when absent. Any header can be looked up
 *  during on_open; afterwards only the names looked up then still answer.
 *  Owned by ws. */
const char *http_ws_header(http_ws *ws, const char *name);

/** The decoded value of the upgrade request's query parameter name, NULL when
 *  absent (see http_request_query_param()); valid for the ws's lifetime. */
const char *http_ws_query_param(const http_ws *ws, const char *name);

/** The upgrade request's id (X-Request-Id, sent back on the 101 too). */
const char *http_ws_request_id(const http_ws *ws);

/** During on_open: the error type and message of the JSON envelope sent when
 *  on_open refuses (default: derived from the status, e.g. "unauthorized").
 *  Copied. Returns 0, or AGENTAI_EINVAL outside on_open. */
int http_ws_refuse_with(http_ws *ws, const char *type, const char *message);

/**
 * Queues a text frame with the len bytes of text (copied; they must be
 * UTF-8). Returns 0; AGENTAI_EINVAL for text that is not UTF-8 (nothing
 * sent); AGENTAI_ECANCELED once the ws is closing; AGENTAI_ENOSPC when the
 * unsent bytes would exceed max_buffered: the queue is dropped, a 1008 close
 * frame is sent and on_close follows with AGENTAI_ENOSPC; AGENTAI_ENOMEM.
 */
int http_ws_send(http_ws *ws, const char *text, size_t len);

/** http_ws_send() for a binary frame; the bytes may be anything. */
int http_ws_send_binary(http_ws *ws, const void *data, size_t len);

/**
 * Starts the close handshake: what is queued is still sent, then a close
 * frame with code (1000-1003, 1007-1014 or 3000-4999; anything else is sent
 * as 1000) and reason (NULL for none; cut to 123 bytes). Messages arriving
 * afterwards are dropped; on_close(0) follows when the client answers, or
 * after a few seconds if it does not. A second call does nothing.
 */
void http_ws_close(http_ws *ws, int code, const char *reason);

/** Attaches (or reads back) a pointer of the caller's; NULL at first. */
void http_ws_set_user(http_ws *ws, void *p);
void *http_ws_user(const http_ws *ws);

/** Bytes queued on ws but not yet handed to the socket. */
size_t http_ws_buffered(const http_ws *ws);

/** The libwebsockets version, without the trailing "-<git hash>" separator lws
 *  prints when it was built without one (e.g. "4.1.6"). Static storage. */
const char *http_library_version(void);
