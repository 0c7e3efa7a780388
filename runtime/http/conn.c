/* http/conn.c — connections a stream or a WebSocket took over: socket watchers, the output queue
 * and its writer, deferred closes and close deadlines, and ending them all at stop. */
#include "http/internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentai/plugin.h"

/* First block of an empty queue: small, since most writes (one event, one
 * message) are; blocks behind it are larger so a backlog costs few writes. */
#define BLK_FIRST 1024
#define BLK_MORE 16384

/* ------------------------------------------------------------------------ */
/* Socket watchers                                                          */
/* ------------------------------------------------------------------------ */

/*
 * While a connection is mid-transaction lws 4.1 does not read it (see the
 * late answers in server.c), so a second poll on a dup of the descriptor
 * (libuv allows one poll per descriptor) notices the client: its FIN for a
 * late answer or a stream, its frames for a WebSocket.
 */
struct http_watch {
  uv_poll_t poll; /* first: the handle pointer is the watch pointer */
  int fd;
  http_watch_fn cb;
  void *owner;
};

static void watch_closed(uv_handle_t *h) {
  http_watch *w = (http_watch *)h;
  close(w->fd);
  free(w);
}

static void watch_event(uv_poll_t *p, int status, int events) {
  http_watch *w = (http_watch *)p;
  (void)events;
  if (w->cb)
    w->cb(w->owner, status);
}

int http__watch_open(uv_loop_t *loop, struct lws *wsi, http_watch_fn cb, void *owner,
                     http_watch **out) {
  *out = NULL;
  int sock = lws_get_socket_fd(wsi);
  if (sock < 0)
    return AGENTAI_EIO;
  http_watch *w = malloc(sizeof *w);
  if (!w)
    return AGENTAI_ENOMEM;
  w->fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (w->fd < 0) {
    free(w);
    return AGENTAI_EIO;
  }
  if (uv_poll_init_socket(loop, &w->poll, w->fd) != 0) {
    close(w->fd);
    free(w);
    return AGENTAI_EIO;
  }
  w->cb = cb;
  w->owner = owner;
  if (uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, watch_event) != 0) {
    http__watch_close(w);
    return AGENTAI_EIO;
  }
  *out = w;
  return 0;
}

int http__watch_fd(const http_watch *w) {
  return w ? w->fd : -1;
}

void http__watch_close(http_watch *w) {
  if (!w)
    return;
  w->cb = NULL;
  uv_close((uv_handle_t *)&w->poll, watch_closed);
}

/* ------------------------------------------------------------------------ */
/* Output queue                                                             */
/* ------------------------------------------------------------------------ */

unsigned char *http__outq_reserve(http_outq *q, size_t n, int raw) {
  http_blk *t = q->tail;
  if (t && t->raw == (unsigned)!!raw && t->cap - t->len >= n) {
    unsigned char *p = t->mem + HTTP_BLK_HEAD + t->len;
    t->len += n;
    q->bytes += n;
    return p;
  }
  size_t want = q->head ? BLK_MORE : BLK_FIRST;
  size_t cap = n > want ? n : want;
  if (cap > SIZE_MAX / 2)
    return NULL;
  http_blk *b = malloc(sizeof *b + HTTP_BLK_HEAD + cap + HTTP_BLK_TAIL);
  if (!b)
    return NULL;
  b->next = NULL;
  b->len = n;
  b->cap = cap;
  b->raw = !!raw;
  if (t)
    t->next = b;
  else
    q->head = b;
  q->tail = b;
  q->bytes += n;
  return b->mem + HTTP_BLK_HEAD;
}

void http__outq_clear(http_outq *q) {
  http_blk *b = q->head;
  while (b) {
    http_blk *n = b->next;
    free(b);
    b = n;
  }
  q->head = q->tail = NULL;
  q->bytes = 0;
}

/* ------------------------------------------------------------------------ */
/* Life of a conn                                                           */
/* ------------------------------------------------------------------------ */

static void conn_link(http_server *srv, http_conn *c) {
  c->srv = srv;
  c->prev = NULL;
  c->next = srv->conns;
  if (srv->conns)
    srv->conns->prev = c;
  srv->conns = c;
}

static void conn_unlink(http_conn *c) {
  http_server *srv = c->srv;
  if (!srv)
    return;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  c->srv = NULL;
}

static void conn_release(http_conn *c) {
  if (--c->holds == 0 && c->finished)
    free(c);
}

static void conn_timer_arm(http_server *srv, uint64_t due);

int http__conn_take(http_conn *c, http_request *req, http_watch_fn cb) {
  http_server *srv = req->srv;
  c->wsi = req->wsi;
  c->pss = req->pss;
  memcpy(c->id, req->id, strlen(req->id) + 1);
  http__watch_stop(req);
  http__req_detach(req);
  req->wsi = NULL; /* header lookups on req now answer from its cache only */
  c->pss->conn = c;
  conn_link(srv, c);
  /* A long-lived connection must not keep a header table: lws kills holders
   * after ~6 minutes ("excessive ah") and the pool would run dry. */
  lws_http_headers_detach(c->wsi);
  lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
  if (c->kill_pending)
    conn_timer_arm(srv, uv_now(srv->loop));
  return http__watch_open(srv->loop, c->wsi, cb, c, &c->watch);
}

void http__conn_finish(http_conn *c, int reason) {
  if (c->finished)
    return;
  c->finished = 1;
  conn_unlink(c);
  if (c->pss && c->pss->conn == c)
    c->pss->conn = NULL;
  c->pss = NULL;
  c->wsi = NULL;
  http__watch_close(c->watch);
  c->watch = NULL;
  http__outq_clear(&c->q);
  c->holds++;
  if (c->kind == HTTP_CONN_STREAM)
    http__stream_closed((http_stream *)c, reason);
  else
    http__ws_closed((http_ws *)c, reason);
  conn_release(c);
}

void http__conn_gone(http_conn *c) {
  http__conn_finish(c, c->has_reason ? c->reason : AGENTAI_ECANCELED);
}

void http__conn_kill_now(http_conn *c) {
  if (c->finished)
    return;
  struct lws *wsi = c->wsi;
  c->holds++;
  c->kill_pending = 0;
  /* Outside lws service, so a synchronous close is allowed; its protocol
   * drop callback finishes c. */
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  if (!c->finished) {
    /* lws did not call back: the user space may be gone with the wsi. */
    c->pss = NULL;
    http__conn_gone(c);
  }
  conn_release(c);
}

int http__conn_fd(const http_conn *c) {
  return http__watch_fd(c->watch);
}

/* ------------------------------------------------------------------------ */
/* Deferred closes and deadlines                                            */
/* ------------------------------------------------------------------------ */

/*
 * Closing a connection from inside lws service (a handler, another
 * connection's callback) must not be synchronous, and lws's own asynchronous
 * kill only runs when lws next services its timers, which on a foreign loop
 * may be much later. So closes are queued here and done from our timer.
 */
static void on_conn_timer(uv_timer_t *t) {
  http_server *srv = t->data;
  srv->conn_timer_due = 0;
  uint64_t now = uv_now(srv->loop), next = 0;
  http_conn *c = srv->conns;
  while (c) {
    /* Killing c finishes only c, and on_close never finishes another conn
     * synchronously, so the next pointer stays good. */
    http_conn *nx = c->next;
    if (c->kill_pending || (c->deadline_ms && c->deadline_ms <= now))
      http__conn_kill_now(c);
    else if (c->deadline_ms && (!next || c->deadline_ms < next))
      next = c->deadline_ms;
    c = nx;
  }
  if (next)
    conn_timer_arm(srv, next);
}

static void conn_timer_arm(http_server *srv, uint64_t due) {
  if (srv->stopping)
    return; /* the stop ends every conn anyway */
  if (srv->conn_timer_due && srv->conn_timer_due <= due)
    return;
  uint64_t now = uv_now(srv->loop);
  srv->conn_timer_due = due ? due : now;
  uv_timer_start(&srv->conn_timer, on_conn_timer, due > now ? due - now : 0, 0);
}

void http__conn_kill_later(http_conn *c) {
  if (c->finished || c->kill_pending)
    return;
  c->kill_pending = 1;
  if (c->srv) /* else http__conn_take() arms the timer */
    conn_timer_arm(c->srv, uv_now(c->srv->loop));
}

void http__conn_set_deadline(http_conn *c, uint64_t ms) {
  if (c->finished || !c->srv)
    return;
  uint64_t due = uv_now(c->srv->loop) + ms;
  if (c->deadline_ms && c->deadline_ms <= due)
    return;
  c->deadline_ms = due;
  conn_timer_arm(c->srv, due);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

int http__conn_writable(http_conn *c) {
  c->inflight = 0; /* lws calls us only once it has sent all it buffered */
  if (c->finished || c->kill_pending)
    return -1; /* the drop callback finishes c */
  http_blk *b = c->q.head;
  if (!b)
    return c->kind == HTTP_CONN_STREAM ? http__stream_drained((http_stream *)c)
                                       : http__ws_drained((http_ws *)c);
  c->q.head = b->next;
  if (!c->q.head)
    c->q.tail = NULL;
  c->q.bytes -= b->len;

  unsigned char *p = b->mem + HTTP_BLK_HEAD;
  size_t len = b->len;
  if (!b->raw) {
    /* One chunk of a chunked body: the size line goes in the room before. */
    char line[24];
    int n = snprintf(line, sizeof line, "%zx\r\n", len);
    p -= n;
    memcpy(p, line, (size_t)n);
    memcpy(p + n + len, "\r\n", 2);
    len += (size_t)n + 2;
  }
  int w = lws_write(c->wsi, p, len, LWS_WRITE_HTTP);
  free(b);
  if (w < (int)len) {
    http__conn_reason(c, AGENTAI_ECANCELED);
    return -1;
  }
  c->inflight = len;
  if (!c->q.head && c->kind == HTTP_CONN_STREAM && http__stream_ended((http_stream *)c)) {
    /* The end of the response is out of our hands: the client may now send
     * its next request, which is not a reason to close. */
    http__watch_close(c->watch);
    c->watch = NULL;
    if (!lws_partial_buffered(c->wsi)) {
      c->inflight = 0;
      return http__stream_drained((http_stream *)c);
    }
  }
  /* Called back once lws has sent it all: write more, or see the queue drained. */
  lws_callback_on_writable(c->wsi);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Stop                                                                     */
/* ------------------------------------------------------------------------ */

void http__conns_stop(http_server *srv) {
  srv->conn_timer_due = 0; /* the timer itself was closed when the stop began */
  while (srv->conns) {
    http_conn *c = srv->conns;
    if (c->kind == HTTP_CONN_WS)
      http__ws_send_close_now((http_ws *)c, 1001, "server shutting down");
    http__conn_finish(c, c->has_reason ? c->reason : AGENTAI_ECANCELED);
  }
}
