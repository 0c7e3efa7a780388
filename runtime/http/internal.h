/* http/internal.h — types and functions shared inside runtime/http; not for other modules. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>
#include <uv.h>

#include "http/server.h"

/* Where a request is in its life; decides who owns it (see server.h). */
enum http_req_state {
  HTTP_REQ_READING = 0, /* headers in, body arriving; the server owns it */
  HTTP_REQ_HANDLER,     /* passed to the handler, no response yet; the handler owns it */
  HTTP_REQ_READY,       /* response built, waiting to be written; the server owns it */
  HTTP_REQ_STREAM       /* became req->stream during the handler call; freed on return */
};

struct http_conn;

/* Per-connection lws user space. libwebsockets frees and re-zeroes it at
 * every transaction boundary (it re-binds the protocol), so it only ever
 * holds the current request, or the stream or WebSocket it turned into. */
typedef struct http_pss {
  http_request *req;
  struct http_conn *conn;
} http_pss;

typedef struct http_chunk {
  struct http_chunk *next;
  size_t cap;
} http_chunk;

typedef struct http_hdr_cache {
  struct http_hdr_cache *next;
  const char *name;  /* lower case */
  const char *value; /* NULL: looked up and absent */
} http_hdr_cache;

typedef struct http_out_hdr {
  struct http_out_hdr *next;
  const char *name; /* lower case with the trailing ':' libwebsockets wants */
  const char *value;
} http_out_hdr;

typedef struct http_param {
  const char *name;
  const char *value;
} http_param;

struct http_request {
  http_server *srv;          /* NULL once aborted */
  struct lws *wsi;           /* NULL once aborted */
  http_pss *pss;             /* NULL once aborted */
  http_request *prev, *next; /* the server's list of live requests */

  enum http_req_state state;
  unsigned aborted : 1;
  unsigned in_dispatch : 1;  /* inside the handler call: a response is written on return */
  unsigned close_after : 1;  /* close the connection after this response */
  unsigned is_head : 1;      /* drop the response body */
  unsigned keepalive_10 : 1; /* HTTP/1.0 client asked for keep-alive: say so */
  unsigned http10 : 1;       /* not an HTTP/1.1 request */

  const char *method;
  const char *path;
  const char *route;   /* metrics label, borrowed */
  uint64_t started_ns; /* uv_hrtime() when the headers were in */
  const char *query;
  http_param *params;
  int nparams;
  char id[132];

  char *body; /* malloc'd, body_cap + 1 bytes; NULL when no body */
  size_t body_len, body_cap;

  http_hdr_cache *hdr_cache;
  http_out_hdr *out_hdrs, *out_hdrs_tail;
  size_t out_hdrs_bytes;

  http_abort_fn abort_cb;
  void *abort_ud;
  struct http_watch *watch; /* notices the client leaving while we wait for the handler */
  http_stream *stream;      /* HTTP_REQ_STREAM: what the request turned into */

  unsigned char *resp; /* LWS_PRE + response bytes, malloc'd */
  size_t resp_len;

  /* Bump allocator for the request's small strings: an inline block, then chunks. */
  char *a_ptr;
  size_t a_left;
  http_chunk *chunks;
  _Alignas(16) char a_inline[1024];
};

struct http_server {
  uv_loop_t *loop;
  http_handler_fn handler;
  void *ud;

  struct lws_context *ctx;
  struct lws_vhost *vh;

  uv_poll_t listen_poll; /* our own listener; accepted sockets are adopted by lws */
  uv_timer_t timer;      /* accept back-off while running; shutdown steps while stopping */
  int listen_fd;
  int listen_open; /* listen_poll initialised and not yet closing */
  int port;
  int handles_open;

  size_t max_body;
  char *server_name;
  int keepalive_timeout_s;
  int request_timeout_s;
  unsigned max_header_bytes;

  http_request *reqs; /* live requests, for abort at stop */
  void (*on_response)(void *ud, http_request *req, int status, double seconds);
  struct http_conn *conns; /* live streams and WebSockets */
  uv_timer_t conn_timer;   /* deferred kills and close deadlines of conns */
  uint64_t conn_timer_due; /* uv_now() time it fires at; 0 when idle */
  struct lws *upgrade_wsi; /* set by CONFIRM_UPGRADE for a websocket upgrade, read by on_headers */

  char *ws_path; /* NULL: no WebSocket endpoint */
  http_ws_handlers ws;
  unsigned max_connections;
  unsigned nconns;         /* adopted sockets not yet destroyed */
  uint64_t refused_log_ms; /* when the last "refusing connections" warning went out */
  unsigned long refused;   /* connections refused since then */

  int stopping;
  int stop_phase;
  uint64_t stop_started_ms;
  void (*on_closed)(void *ud);
  void *on_closed_ud;

  unsigned char rnd[240]; /* OpenSSL random bytes for request ids, used 12 at a time */
  size_t rnd_pos;
};

/* ------------------------------------------------------------------------ */
/* Connections taken over by a stream or a WebSocket (conn.c)               */
/* ------------------------------------------------------------------------ */

/* A block of queued output. Blocks are whole write units: one lws_write()
 * each, one HTTP chunk each for a chunked stream, whole frames for a ws. */
typedef struct http_blk {
  struct http_blk *next;
  size_t len, cap;
  unsigned raw : 1; /* written as it is (response head, last chunk, ws frames) */
  _Alignas(16) unsigned char mem[];
} http_blk;

/* Room kept before a block's data (LWS_PRE and a chunk-size line) and after it (CRLF). */
#define HTTP_BLK_HEAD (LWS_PRE + 32)
#define HTTP_BLK_TAIL 8

typedef struct http_outq {
  http_blk *head, *tail;
  size_t bytes; /* data bytes in the blocks */
} http_outq;

typedef struct http_watch http_watch;
typedef void (*http_watch_fn)(void *owner, int status);

enum http_conn_kind { HTTP_CONN_STREAM = 1, HTTP_CONN_WS };

/* The part streams and WebSockets share: the first member of both. */
typedef struct http_conn {
  enum http_conn_kind kind;
  http_server *srv; /* NULL once finished */
  struct lws *wsi;  /* NULL once finished */
  http_pss *pss;
  struct http_conn *prev, *next;
  http_watch *watch;
  http_outq q;
  size_t inflight; /* bytes of the last write, until lws says the socket took them */
  size_t max_buffered;
  uint64_t deadline_ms; /* uv_now() time to give up and close; 0: none */
  int reason;           /* the on_close reason once has_reason is set */
  int holds;            /* > 0: a function up the stack still uses the conn */
  unsigned has_reason : 1;
  unsigned kill_pending : 1;
  unsigned finished : 1; /* on_close done; freed when holds drops to 0 */
  char id[132];
} http_conn;

/* The first thing that ends a conn decides the reason on_close gets. */
static inline void http__conn_reason(http_conn *c, int reason) {
  if (!c->has_reason) {
    c->has_reason = 1;
    c->reason = reason;
  }
}

/** Takes over req's connection for c: links c into the server, moves the
 *  pss from req to c, copies the id, frees the lws header table and starts
 *  watching the socket with cb(c, status). req is detached but not freed. */
int http__conn_take(http_conn *c, http_request *req, http_watch_fn cb);
/** Handles LWS_CALLBACK_HTTP_WRITEABLE for c; returns what the callback returns. */
int http__conn_writable(http_conn *c);
/** lws is closing c's connection: finishes c with its reason (or AGENTAI_ECANCELED). */
void http__conn_gone(http_conn *c);
/** Detaches c from its connection and server, runs on_close(reason) and frees
 *  c unless held. The connection itself is left to the caller. */
void http__conn_finish(http_conn *c, int reason);
/** Closes c's connection from a loop callback soon (never synchronously). */
void http__conn_kill_later(http_conn *c);
/** Closes c's connection now; only outside lws service. c may be freed on return. */
void http__conn_kill_now(http_conn *c);
/** Closes c's connection if it is still open ms from now. */
void http__conn_set_deadline(http_conn *c, uint64_t ms);
/** Ends every conn for http_server_stop(): ws get 1001, on_close runs. */
void http__conns_stop(http_server *srv);
/** Socket descriptor the conn's watch reads (a dup of the connection's). */
int http__conn_fd(const http_conn *c);
/** Reserves n contiguous bytes at the end of q (a new block when raw differs
 *  or the tail is full); NULL on OOM. */
unsigned char *http__outq_reserve(http_outq *q, size_t n, int raw);
/** Frees every block of q. */
void http__outq_clear(http_outq *q);

/* Socket watchers: a dup of a connection's descriptor, polled readable. */
int http__watch_open(uv_loop_t *loop, struct lws *wsi, http_watch_fn cb, void *owner,
                     http_watch **out);
int http__watch_fd(const http_watch *w);
/** Stops w and frees it once libuv has closed it; cb never runs again. */
void http__watch_close(http_watch *w);

/* stream.c */

/** Starts the stream req became during its handler call; frees req. Runs in
 *  the lws callback that dispatched req; returns what that callback returns. */
int http__stream_begin_inline(http_request *req);
/** 1 once http_stream_end() was called (or for HEAD). */
int http__stream_ended(const http_stream *s);
/** The queue of s has been written out: ends it if it was ended. */
int http__stream_drained(http_stream *s);
/** Runs on_close(reason); s itself is freed by the caller. */
void http__stream_closed(http_stream *s, int reason);

/* ws.c */

/** req is an upgrade to the ws path: answers 101 (or an error) and, on
 *  success, turns the connection into a WebSocket. Runs in LWS_CALLBACK_HTTP;
 *  consumes req; returns what the callback returns. */
int http__ws_upgrade(http_request *req);
/** The queue of ws has been written out. */
int http__ws_drained(http_ws *ws);
/** Sends a close frame with code now if the connection is between frames
 *  (for http_server_stop); best effort. */
void http__ws_send_close_now(http_ws *ws, int code, const char *reason);
/** Runs on_close(reason) and frees what ws owns; ws itself is freed by the caller. */
void http__ws_closed(http_ws *ws, int reason);

/* response.c */

/** Writes req's status line and the headers every response shares (Server,
 *  Content-Type if ctype, X-Request-Id, the handler's headers, Connection when
 *  closing or for HTTP/1.0 keep-alive) at *p; nonzero when out of room. */
int http__head(http_request *req, int status, const char *ctype, unsigned char **p,
               unsigned char *end);
/** Bytes http__head needs at most, besides ctype. */
size_t http__head_room(const http_request *req);

/* request.c */

/** Builds the request for the headers lws has just parsed on wsi; NULL on OOM. */
http_request *http__req_new(http_server *srv, struct lws *wsi, http_pss *pss, const char *uri,
                            size_t uri_len);
/** Reports req's response to the server's on_response hook, if any. */
void http__req_report(http_request *req, int status);
/** Frees req and everything it owns. */
void http__req_free(http_request *req);
/** Bump-allocates n bytes inside req; NULL on OOM. */
void *http__req_alloc(http_request *req, size_t n);
/** Copies s (len bytes) into req, NUL-terminated; NULL on OOM. */
char *http__req_strndup(http_request *req, const char *s, size_t len);
/** Builds the name -> lws token table once per process. */
void http__headers_init(void);

/* response.c */

/**
 * Writes req's built response on its connection and ends the transaction.
 * Must run inside an lws callback for req->wsi. Frees req. Returns what the
 * callback must return: 0, or -1 to close the connection.
 */
int http__write_response(http_request *req);

/* server.c */

/** Stops and releases req's disconnect watcher, if it has one. */
void http__watch_stop(http_request *req);
/** Answers a request the handler never sees with the error envelope (plus
 *  one extra header when hname is not NULL); returns what the callback returns. */
int http__reject(http_request *req, int status, const char *type, const char *msg,
                 const char *hname, const char *hvalue);

/** Unlinks req from its connection's user space and the server's list. */
void http__req_detach(http_request *req);
/** Detaches req from its connection and server; frees it unless the handler
 *  owns it, in which case it is marked aborted and its abort callback runs. */
void http__req_abort(http_request *req);
