/* http/server.c — listener, lws context on the foreign uv loop, request dispatch, shutdown. */
#include "http/internal.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "core/log.h"

#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_KEEPALIVE_S 60
#define DEFAULT_REQUEST_TIMEOUT_S 20
#define DEFAULT_MAX_HEADER_BYTES 8192u
#define DEFAULT_BACKLOG 511
/* A too-large body up to this size is read and dropped after the 413 so the
 * connection survives and the client is not reset mid-send; larger ones close. */
#define DISCARD_MAX ((long long)16 << 20)
#define ACCEPT_BATCH 128
#define ACCEPT_PAUSE_MS 100
#define DEFAULT_MAX_CONNECTIONS 10000u
#define REFUSED_LOG_MS 1000
#define STOP_GIVE_UP_MS 10000

/* ------------------------------------------------------------------------ */
/* libwebsockets logging goes to our structured log                         */
/* ------------------------------------------------------------------------ */

static void lws_log_emit(int level, const char *line) {
  char buf[512];
  size_t n = strlen(line);
  if (n >= sizeof buf)
    n = sizeof buf - 1;
  memcpy(buf, line, n);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  buf[n] = '\0';
  /* Most of what lws reports is about one bad client ("Ran out of header data
   * space"), not about the server: keep it below error. */
  log_write((level & LLL_ERR) ? AGENTAI_LOG_WARN : AGENTAI_LOG_DEBUG, "lws", buf, NULL);
}

static pthread_once_t g_lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_setup(void) {
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
}

/* ------------------------------------------------------------------------ */
/* Request bookkeeping                                                      */
/* ------------------------------------------------------------------------ */

static void req_link(http_server *srv, http_request *req) {
  req->prev = NULL;
  req->next = srv->reqs;
  if (srv->reqs)
    srv->reqs->prev = req;
  srv->reqs = req;
}

void http__req_detach(http_request *req) {
  if (req->pss)
    req->pss->req = NULL;
  req->pss = NULL;
  http_server *srv = req->srv;
  if (srv) {
    if (req->prev)
      req->prev->next = req->next;
    else
      srv->reqs = req->next;
    if (req->next)
      req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->srv = NULL;
  }
}

/* ------------------------------------------------------------------------ */
/* Noticing a client that leaves while its answer is pending               */
/* ------------------------------------------------------------------------ */

/*
 * While a request waits for a late answer the connection is mid-transaction,
 * a state in which lws 4.1 does not read the socket; polled level-triggered,
 * a readable socket there (the client's FIN, or a request sent before our
 * answer) would spin the loop and the FIN would go unnoticed. So a second
 * poll (libuv allows one per descriptor, hence a dup) watches the socket
 * while the answer is pending: end of stream or an error means the client is
 * gone; bytes mean it pipelined a request behind a late answer, which we do
 * not support. Either way the connection is closed, which aborts the request.
 * (Requests pipelined in the same packet sit in lws's own buffer, not in the
 * socket, and are served after the answer.)
 */
static void on_req_socket_event(void *owner, int status) {
  http_request *req = owner;
  if (status == 0) {
    char c;
    ssize_t n = recv(http__watch_fd(req->watch), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return; /* lws read it first, or a spurious wakeup */
    if (n > 0)
      log_printf(AGENTAI_LOG_INFO, "http",
                 "closing a connection that sent a request while its previous answer was "
                 "pending (request %s)",
                 req->id);
  }
  struct lws *wsi = req->wsi;
  http__watch_stop(req);
  /* Outside lws service, so a synchronous close is allowed; its protocol
   * drop callback aborts the request. */
  if (wsi)
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void http__watch_stop(http_request *req) {
  http_watch *w = req->watch;
  req->watch = NULL;
  http__watch_close(w);
}

/* Without a watch the client leaving is noticed when we write. */
static void watch_start(http_request *req) {
  (void)http__watch_open(req->srv->loop, req->wsi, on_req_socket_event, req, &req->watch);
}

void http__req_abort(http_request *req) {
  http__req_detach(req);
  http__watch_stop(req);
  req->wsi = NULL;
  if (req->state != HTTP_REQ_HANDLER) {
    /* Not yet handed out, or already responded: the server owns it. */
    http__req_free(req);
    return;
  }
  req->aborted = 1;
  http_abort_fn cb = req->abort_cb;
  req->abort_cb = NULL;
  if (cb)
    cb(req->abort_ud, req); /* may finish (free) req */
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

/* Runs the handler; writes the response at once if it answered inline. */
static int dispatch(http_request *req) {
  http_server *srv = req->srv;
  struct lws *wsi = req->wsi;
  req->state = HTTP_REQ_HANDLER;
  req->in_dispatch = 1;
  /* Nothing can abort req during this call: aborts come from lws callbacks
   * for this connection or from the stop timer, never from inside it. */
  srv->handler(srv->ud, req);
  req->in_dispatch = 0;
  if (req->state == HTTP_REQ_READY)
    return http__write_response(req);
  if (req->state == HTTP_REQ_STREAM)
    return http__stream_begin_inline(req);
  /* Answered later: the handler, not the lws header/body timeout, decides
   * how long that takes. */
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  watch_start(req);
  return 0;
}

int http__reject(http_request *req, int status, const char *type, const char *msg,
                 const char *hname, const char *hvalue) {
  req->state = HTTP_REQ_HANDLER;
  req->in_dispatch = 1;
  if (hname)
    (void)http_response_add_header(req, hname, hvalue);
  http_respond_error(req, status, type, msg, NULL);
  req->in_dispatch = 0;
  return http__write_response(req);
}

/* Answers a request the handler will never see (bad framing, too large). */
static int reject(http_request *req, int status, const char *type, const char *msg) {
  return http__reject(req, status, type, msg, NULL, NULL);
}

static int parse_content_length(const char *s, long long *out) {
  long long v = 0;
  if (!*s)
    return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (LLONG_MAX - 9) / 10)
      return 0;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 1;
}

static void send_100_continue(struct lws *wsi) {
  static const char MSG[] = "HTTP/1.1 100 Continue\r\n\r\n";
  unsigned char buf[LWS_PRE + sizeof MSG];
  memcpy(buf + LWS_PRE, MSG, sizeof MSG - 1);
  (void)lws_write(wsi, buf + LWS_PRE, sizeof MSG - 1, LWS_WRITE_HTTP_HEADERS);
}

static int on_headers(struct lws *wsi, http_pss *pss, const char *uri, size_t uri_len) {
  http_server *srv = lws_context_user(lws_get_context(wsi));
  if (!srv || srv->stopping || !pss)
    return -1;
  /* CONFIRM_UPGRADE just saw "Upgrade: websocket" on this request. */
  int want_ws = srv->upgrade_wsi == wsi && lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) > 0;
  srv->upgrade_wsi = NULL;
  http_request *req = http__req_new(srv, wsi, pss, uri, uri_len);
  if (!req)
    return -1;
  req_link(srv, req);
  pss->req = req;

  char ver[16];
  int http11 =
      lws_hdr_copy(wsi, ver, sizeof ver, WSI_TOKEN_HTTP) > 0 && strcmp(ver, "HTTP/1.1") == 0;
  req->http10 = !http11;
  if (!http11) {
    const char *conn = http_request_header(req, "connection");
    req->keepalive_10 = conn && strcasecmp(conn, "keep-alive") == 0;
  }

  const char *m = req->method;
  int body_method = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
  const char *te = http_request_header(req, "transfer-encoding");
  const char *cls = http_request_header(req, "content-length");
  long long cl = -1;

  /* lws 4.1 cannot de-chunk request bodies; the connection cannot be reused
   * after any of these because we do not know where the next request starts. */
  if (te) {
    req->close_after = 1;
    if (cls)
      return reject(req, 400, "invalid_request",
                    "Content-Length and Transfer-Encoding must not both be sent");
    return reject(req, 411, "length_required",
                  "chunked request bodies are not supported; send Content-Length");
  }
  if (cls && !parse_content_length(cls, &cl)) {
    req->close_after = 1;
    return reject(req, 400, "invalid_request", "Content-Length is not a valid number");
  }
  if (want_ws && strcmp(req->path, srv->ws_path) == 0) {
    if (cl > 0) {
      req->close_after = 1;
      return reject(req, 400, "invalid_request", "a WebSocket upgrade must not have a body");
    }
    return http__ws_upgrade(req);
  }
  const char *expect = http_request_header(req, "expect");
  int expect_100 = http11 && expect && strcasecmp(expect, "100-continue") == 0;

  if (cl > 0 && (unsigned long long)cl > (unsigned long long)srv->max_body) {
    char msg[160];
    snprintf(msg, sizeof msg, "request body of %lld bytes is over the limit of %zu bytes", cl,
             srv->max_body);
    /* A client waiting for 100-continue will not send the body: close. */
    req->close_after = expect_100 || cl > DISCARD_MAX;
    return reject(req, 413, "request_too_large", msg);
  }
  if (cl > 0) {
    req->body = malloc((size_t)cl + 1);
    if (!req->body)
      return -1; /* the close path frees req */
    req->body[0] = '\0';
    req->body_cap = (size_t)cl;
    if (expect_100)
      send_100_continue(wsi);
    return 0; /* LWS_CALLBACK_HTTP_BODY... follow */
  }
  if (cl == 0 && !strcmp(m, "POST"))
    return 0; /* lws reports an explicit empty POST body as BODY + BODY_COMPLETION */
  if (cl < 0 && body_method) {
    /* No length means no body (RFC 9112), but lws 4.1 then expects the rest
     * of the connection to be the body: answer and close. */
    req->close_after = 1;
  }
  return dispatch(req);
}

/*
 * lws 4.1 bug: when a request with a body was pipelined behind another one,
 * lws parses its headers from the connection's backlog and then feeds that
 * same backlog, from the start of the request line, to the body callbacks,
 * after which the connection is out of step. The first body bytes are then
 * the request's own request line ("POST /x HTTP/1.1..."), which is what we
 * look for; a real body that starts with "POST /" (or is a prefix of "POST ")
 * is the only false alarm, and costs a closed connection, not wrong data.
 */
static int replays_request_line(const http_request *req, const char *in, size_t len) {
  size_t mlen = strlen(req->method);
  size_t n = len < mlen ? len : mlen;
  if (memcmp(in, req->method, n) != 0)
    return 0;
  if (len <= mlen)
    return 1;
  if (in[mlen] != ' ')
    return 0;
  return len == mlen + 1 || in[mlen + 1] == '/' || in[mlen + 1] == 'h';
}

static int on_body(http_pss *pss, const char *in, size_t len) {
  if (pss && pss->conn)
    return -1; /* bytes while a stream is open: see on_headers */
  http_request *req = pss ? pss->req : NULL;
  if (req && req->state == HTTP_REQ_HANDLER)
    return -1; /* bytes after a length-less POST we still owe an answer: see on_headers */
  if (!req || req->state != HTTP_REQ_READING || !req->body)
    return 0; /* a body we already answered (413) or do not want: dropped */
  if (req->body_len == 0 && len > 0 && replays_request_line(req, in, len)) {
    log_printf(AGENTAI_LOG_INFO, "http",
               "closing a connection that pipelined a %s with a body (unsupported by "
               "libwebsockets 4.1)",
               req->method);
    return -1; /* the close path frees req */
  }
  size_t room = req->body_cap - req->body_len;
  if (len > room)
    len = room;
  memcpy(req->body + req->body_len, in, len);
  req->body_len += len;
  req->body[req->body_len] = '\0';
  return 0;
}

static void note_upgrade(struct lws *wsi, const char *value) {
  http_server *srv = lws_context_user(lws_get_context(wsi));
  if (srv)
    srv->upgrade_wsi = srv->ws_path && strcasecmp(value, "websocket") == 0 ? wsi : NULL;
}

/* Every socket we adopted is marked with the server, counted in nconns. */
static void conn_destroyed(struct lws *wsi) {
  http_server *srv = lws_context_user(lws_get_context(wsi));
  if (srv && lws_get_opaque_user_data(wsi) == srv) {
    lws_set_opaque_user_data(wsi, NULL);
    if (srv->nconns)
      srv->nconns--;
  }
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  http_pss *pss = user;
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      return on_headers(wsi, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY:
      return on_body(pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (pss && pss->req && pss->req->state == HTTP_REQ_READING)
        return dispatch(pss->req);
      /* lws repeats this for every read while a late answer to a POST is
       * pending: the client sent more before our answer (see the watch). */
      if (pss && ((pss->req && pss->req->state == HTTP_REQ_HANDLER) || pss->conn))
        return -1;
      return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (pss && pss->conn)
        return http__conn_writable(pss->conn);
      if (pss && pss->req && pss->req->state == HTTP_REQ_READY)
        return http__write_response(pss->req);
      return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
      /* Transactions we finished were detached first, so a request, stream
       * or WebSocket still here means the connection is going away under it. */
      if (pss && pss->req)
        http__req_abort(pss->req);
      if (pss && pss->conn)
        http__conn_gone(pss->conn);
      if (reason == LWS_CALLBACK_WSI_DESTROY)
        conn_destroyed(wsi);
      return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      /* Every upgrade takes lws's plain HTTP/1.1 path, which RFC 9110
       * allows; our WebSocket endpoint takes over from there (ws.c). In 4.1
       * `in` is the Upgrade value inside the header table, and lws compares
       * that same string with "websocket" and "h2c" after we return 0;
       * emptying it makes lws carry on with the normal HTTP path.
       * lws 4.1.6 also calls this after it answered an unknown Upgrade with
       * its own 403 and ended the transaction; on a keep-alive connection
       * with nothing buffered that frees the header table `in` points into
       * (found by fuzz_http_request). Then hang up without touching it. */
      if (!in || lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) <= 0)
        return -1;
      note_upgrade(wsi, in); /* did it ask for our WebSocket endpoint? */
      *(char *)in = '\0';
      return 0;
    case LWS_CALLBACK_RAW_ADOPT: /* CONNECT turns the connection raw: refuse */
    case LWS_CALLBACK_RAW_RX:
      return -1;
    default:
      return 0;
  }
}

static const struct lws_protocols PROTOCOLS[] = {
    /* tx_packet_size: lws sends at most this per send() and copies the rest
     * to a backlog; large means one send() for any realistic response. */
    {"http", http_callback, sizeof(http_pss), 0, 0, NULL, (size_t)16 << 20},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ------------------------------------------------------------------------ */
/* Listener                                                                 */
/* ------------------------------------------------------------------------ */

static void fmt_hostport(char *out, size_t n, const char *host, int port) {
  if (!host || !*host)
    host = "*";
  if (strchr(host, ':'))
    snprintf(out, n, "[%s]:%d", host, port);
  else
    snprintf(out, n, "%s:%d", host, port);
}

static int open_listener(const char *host, int port, int backlog, int reuse_port, int *bound,
                         char *err, size_t err_len) {
  char where[300], portstr[8], ebuf[128];
  fmt_hostport(where, sizeof where, host, port);
  snprintf(portstr, sizeof portstr, "%d", port);

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int g = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
  if (g != 0 || !res) {
    if (err)
      snprintf(err, err_len, "cannot listen on %s: %s", where,
               g == EAI_SYSTEM ? strerror_r(errno, ebuf, sizeof ebuf) : gai_strerror(g));
    if (res)
      freeaddrinfo(res);
    return AGENTAI_EINVAL;
  }

  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, e = 0;
  if (fd < 0)
    e = errno;
  else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
           (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
           bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0)
    e = errno;
  freeaddrinfo(res);

  if (!e) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
      e = errno;
    else
      *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
  }
  if (e) {
    if (fd >= 0)
      close(fd);
    if (err)
      snprintf(err, err_len, "cannot listen on %s: %s", where, strerror_r(e, ebuf, sizeof ebuf));
    return e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? AGENTAI_EINVAL : AGENTAI_EIO;
  }
  return fd;
}

static void on_listen_readable(uv_poll_t *h, int status, int events);

/* Over max_connections: the socket was closed; say so at most once a second. */
static void refused_one(http_server *srv) {
  uint64_t now = uv_now(srv->loop);
  srv->refused++;
  if (srv->refused_log_ms && now - srv->refused_log_ms < REFUSED_LOG_MS)
    return;
  log_printf(AGENTAI_LOG_WARN, "http",
             "refused %lu connection(s): %u open, the limit (max_connections) is %u", srv->refused,
             srv->nconns, srv->max_connections);
  srv->refused = 0;
  srv->refused_log_ms = now ? now : 1;
}

static void on_accept_resume(uv_timer_t *t) {
  http_server *srv = t->data;
  if (!srv->stopping)
    uv_poll_start(&srv->listen_poll, UV_READABLE, on_listen_readable);
}

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  http_server *srv = h->data;
  (void)events;
  if (status < 0 || srv->stopping)
    return;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      /* Out of descriptors or memory: readiness stays on, so back off
       * instead of spinning the loop. */
      char ebuf[128];
      log_printf(AGENTAI_LOG_WARN, "http", "accept failed: %s; pausing accepts for %d ms",
                 strerror_r(errno, ebuf, sizeof ebuf), ACCEPT_PAUSE_MS);
      uv_poll_stop(&srv->listen_poll);
      uv_timer_start(&srv->timer, on_accept_resume, ACCEPT_PAUSE_MS, 0);
      return;
    }
    if (srv->nconns >= srv->max_connections) {
      close(fd);
      refused_one(srv);
      continue;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* On failure lws has already closed fd. */
    struct lws *wsi = lws_adopt_socket_vhost(srv->vh, fd);
    if (wsi) {
      lws_set_opaque_user_data(wsi, srv); /* see conn_destroyed() */
      srv->nconns++;
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Shutdown                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Destroying an lws context that lives on a foreign uv loop takes the loop's
 * help. The first lws_context_destroy() closes every connection; their uv
 * poll handles close asynchronously, and when the last one has, lws closes
 * its own per-loop handles (an idle and a timer). Only after those close
 * callbacks ran may the context memory go, which a second
 * lws_context_destroy() does. lws 4.1 offers no notification for that point
 * on a foreign loop, but its per-loop handles carry the context as their
 * data pointer, so we watch the loop for handles pointing at the context.
 */
typedef struct {
  void *ctx;
  int found;
} walk_arg;

static void walk_cb(uv_handle_t *h, void *arg) {
  walk_arg *w = arg;
  if (h->data == w->ctx)
    w->found++;
}

static int lws_handles_live(uv_loop_t *loop, struct lws_context *ctx) {
  walk_arg w = {ctx, 0};
  uv_walk(loop, walk_cb, &w);
  return w.found;
}

static void maybe_finish(http_server *srv) {
  if (srv->handles_open > 0 || srv->stop_phase < 2)
    return;
  void (*cb)(void *) = srv->on_closed;
  void *ud = srv->on_closed_ud;
  free(srv->server_name);
  free(srv->ws_path);
  free(srv);
  if (cb)
    cb(ud);
}

static void on_handle_closed(uv_handle_t *h) {
  http_server *srv = h->data;
  if (h == (uv_handle_t *)&srv->listen_poll)
    close(srv->listen_fd);
  srv->handles_open--;
  maybe_finish(srv);
}

static void on_stop_tick(uv_timer_t *t) {
  http_server *srv = t->data;
  if (srv->stop_phase == 0) {
    while (srv->reqs)
      http__req_abort(srv->reqs);
    http__conns_stop(srv);
    srv->stop_phase = 1;
    if (srv->ctx)
      lws_context_destroy(srv->ctx);
    return;
  }
  if (srv->ctx && lws_handles_live(srv->loop, srv->ctx)) {
    if (uv_now(srv->loop) - srv->stop_started_ms < STOP_GIVE_UP_MS)
      return;
    /* Freeing the context now would be a use-after-free in libuv. */
    log_printf(AGENTAI_LOG_ERROR, "http",
               "libwebsockets still has handles on the loop after %d ms; leaking its context",
               STOP_GIVE_UP_MS);
  } else if (srv->ctx) {
    lws_context_destroy(srv->ctx); /* second call: frees the context */
  }
  srv->ctx = NULL;
  srv->stop_phase = 2;
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, on_handle_closed);
}

/* phase 0: abort requests and start the lws teardown; 1: lws is already tearing down. */
static void begin_shutdown(http_server *srv, int phase) {
  srv->stopping = 1;
  srv->stop_phase = phase;
  srv->stop_started_ms = uv_now(srv->loop);
  if (srv->listen_open) {
    srv->listen_open = 0;
    uv_poll_stop(&srv->listen_poll);
    uv_close((uv_handle_t *)&srv->listen_poll, on_handle_closed);
  }
  uv_timer_stop(&srv->timer);
  if (!uv_is_closing((uv_handle_t *)&srv->conn_timer)) {
    uv_timer_stop(&srv->conn_timer);
    uv_close((uv_handle_t *)&srv->conn_timer, on_handle_closed);
  }
  /* From a loop callback: lws_context_destroy must not run inside lws service. */
  uv_timer_start(&srv->timer, on_stop_tick, 0, 1);
}

void http_server_stop(http_server *srv, void (*on_closed)(void *ud), void *ud) {
  if (!srv || srv->stopping)
    return;
  srv->on_closed = on_closed;
  srv->on_closed_ud = ud;
  begin_shutdown(srv, 0);
}

/* ------------------------------------------------------------------------ */
/* Start                                                                    */
/* ------------------------------------------------------------------------ */

int http_server_port(const http_server *srv) {
  return srv ? srv->port : -1;
}

int http_server_start(uv_loop_t *loop, const char *host, int port, http_handler_fn handler,
                      void *ud, const http_server_options *opts, http_server **out, char *err,
                      size_t err_len) {
  if (err && err_len)
    err[0] = '\0';
  if (out)
    *out = NULL;
  if (!loop || !handler || !out) {
    if (err)
      snprintf(err, err_len, "http_server_start: loop, handler and out are required");
    return AGENTAI_EINVAL;
  }
  if (port < 0 || port > 65535) {
    if (err)
      snprintf(err, err_len, "invalid port %d (use 0-65535)", port);
    return AGENTAI_EINVAL;
  }
  http_server_options o;
  memset(&o, 0, sizeof o);
  if (opts)
    o = *opts;
  if (o.max_header_bytes > 65535) {
    if (err)
      snprintf(err, err_len, "max_header_bytes %u is over 65535", o.max_header_bytes);
    return AGENTAI_EINVAL;
  }
  if (o.ws_path && o.ws_path[0] != '/') {
    if (err)
      snprintf(err, err_len, "ws_path \"%.64s\" must start with '/'", o.ws_path);
    return AGENTAI_EINVAL;
  }

  pthread_once(&g_lws_log_once, lws_log_setup);
  http__headers_init();

  http_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return AGENTAI_ENOMEM;
  srv->loop = loop;
  srv->handler = handler;
  srv->ud = ud;
  srv->max_body = o.max_body_bytes ? o.max_body_bytes : DEFAULT_MAX_BODY;
  srv->keepalive_timeout_s =
      o.keepalive_timeout_s > 0 ? o.keepalive_timeout_s : DEFAULT_KEEPALIVE_S;
  srv->request_timeout_s =
      o.request_timeout_s > 0 ? o.request_timeout_s : DEFAULT_REQUEST_TIMEOUT_S;
  srv->max_header_bytes = o.max_header_bytes ? o.max_header_bytes : DEFAULT_MAX_HEADER_BYTES;
  srv->rnd_pos = sizeof srv->rnd; /* empty: filled on first use */
  srv->ws = o.ws;
  srv->max_connections = o.max_connections ? o.max_connections : DEFAULT_MAX_CONNECTIONS;
  srv->on_response = o.on_response;
  const char *name = o.server_name ? o.server_name : "agentai";
  if ((*name && !(srv->server_name = strdup(name))) ||
      (o.ws_path && !(srv->ws_path = strdup(o.ws_path)))) {
    free(srv->server_name);
    free(srv);
    return AGENTAI_ENOMEM;
  }

  int fd = open_listener(host, port, o.backlog > 0 ? o.backlog : DEFAULT_BACKLOG, o.reuse_port,
                         &srv->port, err, err_len);
  if (fd < 0) {
    free(srv->server_name);
    free(srv->ws_path);
    free(srv);
    return fd;
  }
  srv->listen_fd = fd;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  void *foreign_loops[1] = {loop};
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.foreign_loops = foreign_loops;
  info.user = srv;
  info.server_string = srv->server_name;
  info.timeout_secs = (unsigned)srv->request_timeout_s;
  info.max_http_header_data = (unsigned short)srv->max_header_bytes;
  info.pt_serv_buf_size = 32768; /* read size: fewer recv() calls for large bodies */
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  srv->ctx = lws_create_context(&info);
  if (!srv->ctx) {
    close(fd);
    free(srv->server_name);
    free(srv->ws_path);
    free(srv);
    if (err)
      snprintf(err, err_len,
               "cannot start libwebsockets on the uv loop (is libwebsockets-evlib-uv installed?)");
    return AGENTAI_EIO;
  }

  uv_timer_init(loop, &srv->timer);
  srv->timer.data = srv;
  uv_timer_init(loop, &srv->conn_timer);
  srv->conn_timer.data = srv;
  srv->handles_open = 2;

  /*
   * With a foreign libuv loop, lws 4.1 returns a context even when creating
   * it failed half-way (it has begun destroying itself and needs the loop to
   * finish). Servicing a descriptor lws does not own is a harmless probe:
   * it returns -1 only for such a context.
   */
  struct lws_pollfd probe = {.fd = fd, .events = 0, .revents = 0};
  if (lws_service_fd(srv->ctx, &probe) < 0) {
    close(fd);
    begin_shutdown(srv, 1);
    if (err)
      snprintf(err, err_len, "cannot start libwebsockets on the uv loop");
    return AGENTAI_EIO;
  }

  info.vhost_name = "agentai";
  info.protocols = PROTOCOLS;
  info.keepalive_timeout = srv->keepalive_timeout_s;
  info.timeout_secs_ah_idle = (unsigned)srv->request_timeout_s; /* headers must arrive in time */
  info.options = 0;
  srv->vh = lws_create_vhost(srv->ctx, &info);
  int rc = srv->vh ? uv_poll_init_socket(loop, &srv->listen_poll, fd) : -1;
  if (rc == 0) {
    srv->listen_poll.data = srv;
    srv->listen_open = 1;
    srv->handles_open++;
    rc = uv_poll_start(&srv->listen_poll, UV_READABLE, on_listen_readable);
  } else {
    close(fd);
  }
  if (rc != 0) {
    begin_shutdown(srv, 0);
    if (err)
      snprintf(err, err_len, "cannot start serving HTTP: %s",
               srv->vh ? uv_strerror(rc) : "libwebsockets vhost creation failed");
    return AGENTAI_EIO;
  }
  *out = srv;
  return 0;
}

const char *http_library_version(void) {
  static char version[64];
  if (!version[0]) {
    snprintf(version, sizeof version, "%s", lws_get_library_version());
    size_t n = strlen(version);
    while (n > 0 && (version[n - 1] == '-' || version[n - 1] == ' '))
      version[--n] = '\0';
  }
  return version;
}
