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
  HTTP_REQ_READY        /* response built, waiting to be written; the server owns it */
};

/* Per-connection lws user space. libwebsockets frees and re-zeroes it at
 * every transaction boundary (it re-binds the protocol), so it only ever
 * holds the current request. */
typedef struct http_pss {
  http_request *req;
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

  const char *method;
  const char *path;
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

  int stopping;
  int stop_phase;
  uint64_t stop_started_ms;
  void (*on_closed)(void *ud);
  void *on_closed_ud;

  unsigned char rnd[240]; /* OpenSSL random bytes for request ids, used 12 at a time */
  size_t rnd_pos;
};

/* request.c */

/** Builds the request for the headers lws has just parsed on wsi; NULL on OOM. */
http_request *http__req_new(http_server *srv, struct lws *wsi, http_pss *pss, const char *uri,
                            size_t uri_len);
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

/** Unlinks req from its connection's user space and the server's list. */
void http__req_detach(http_request *req);
/** Detaches req from its connection and server; frees it unless the handler
 *  owns it, in which case it is marked aborted and its abort callback runs. */
void http__req_abort(http_request *req);
