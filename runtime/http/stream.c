/* http/stream.c — responses of unknown length: chunked (HTTP/1.1) or close-delimited (HTTP/1.0)
 * bodies written as the handler produces them, with a cap on what may wait unsent. */
#include "http/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agentai/plugin.h"
#include "core/log.h"

#define DEFAULT_MAX_BUFFERED ((size_t)1 << 20)
/* Keeps every write unit well inside lws_write()'s int length. */
#define MAX_MAX_BUFFERED ((size_t)1 << 30)

struct http_stream {
  http_conn c; /* first: a stream is a conn */
  http_stream_close_fn on_close;
  void *ud;
  unsigned chunked : 1;
  unsigned ended : 1;     /* http_stream_end() called, or a HEAD */
  unsigned head_only : 1; /* HEAD: no body at all */
  unsigned close_after : 1;
};

/* The client spoke (a pipelined request) or left while the stream is open:
 * neither can be served, so the stream ends. */
static void on_stream_socket(void *owner, int status) {
  http_stream *s = owner;
  if (status == 0) {
    char ch;
    ssize_t n = recv(http__conn_fd(&s->c), &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n > 0)
      log_printf(AGENTAI_LOG_INFO, "http",
                 "closing a connection that sent data while its streamed response was open "
                 "(request %s)",
                 s->c.id);
  }
  http__conn_reason(&s->c, AGENTAI_ECANCELED);
  http__conn_kill_now(&s->c);
}

/* The status line and headers, as the first (raw) block of the queue. */
static int queue_head(http_stream *s, http_request *req, int status, const char *ctype) {
  size_t cap = http__head_room(req) + (ctype ? strlen(ctype) : 0) + 64;
  unsigned char *buf = malloc(cap), *p = buf;
  if (!buf)
    return AGENTAI_ENOMEM;
  int bad = http__head(req, status, ctype, &p, buf + cap);
  if (!bad && s->chunked) {
    static const char CHUNKED[] = "chunked";
    bad = lws_add_http_header_by_token(req->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
                                       (const unsigned char *)CHUNKED, sizeof CHUNKED - 1, &p,
                                       buf + cap);
  }
  if (!bad)
    bad = lws_finalize_http_header(req->wsi, &p, buf + cap);
  unsigned char *dst = bad ? NULL : http__outq_reserve(&s->c.q, (size_t)(p - buf), 1);
  if (dst)
    memcpy(dst, buf, (size_t)(p - buf));
  free(buf);
  return dst ? 0 : AGENTAI_ENOMEM;
}

/* Moves req's connection to s and frees req. */
static void begin(http_stream *s, http_request *req) {
  if (http__conn_take(&s->c, req, on_stream_socket) < 0)
    log_printf(AGENTAI_LOG_WARN, "http",
               "cannot watch the connection of stream %s; a client leaving is noticed on write",
               s->c.id);
  http__req_free(req);
}

int http__stream_begin_inline(http_request *req) {
  http_stream *s = req->stream;
  begin(s, req);
  return http__conn_writable(&s->c); /* the head leaves as the handler's callback returns */
}

int http_respond_stream(http_request *req, int status, const char *content_type,
                        size_t max_buffered, http_stream_close_fn on_close, void *ud,
                        http_stream **out) {
  if (out)
    *out = NULL;
  if (!req)
    return AGENTAI_EINVAL;
  if (req->state == HTTP_REQ_READY || req->state == HTTP_REQ_STREAM)
    return AGENTAI_EINVAL; /* second respond inside one handler call: keep the first */
  if (req->aborted) {
    http__req_free(req);
    return AGENTAI_ECANCELED;
  }
  if (!out || !on_close || status < 200 || status > 999 || status == 204 || status == 304) {
    http_respond_error(req, 500, "internal_error", "invalid streamed response", NULL);
    return AGENTAI_EINVAL;
  }

  http_stream *s = calloc(1, sizeof *s);
  if (!s) {
    req->close_after = 1;
    http_respond(req, 500, NULL, NULL, 0);
    return AGENTAI_ENOMEM;
  }
  http__req_report(req, status);
  s->c.kind = HTTP_CONN_STREAM;
  memcpy(s->c.id, req->id, strlen(req->id) + 1);
  s->on_close = on_close;
  s->ud = ud;
  s->c.max_buffered = max_buffered ? max_buffered : DEFAULT_MAX_BUFFERED;
  if (s->c.max_buffered > MAX_MAX_BUFFERED)
    s->c.max_buffered = MAX_MAX_BUFFERED;
  /* HTTP/1.0 has no chunks: the body ends with the connection. */
  if (req->http10)
    req->close_after = 1;
  s->chunked = !req->http10;
  s->close_after = req->close_after;
  s->head_only = s->ended = req->is_head;

  int rc = queue_head(s, req, status, content_type);
  if (rc < 0) {
    http__outq_clear(&s->c.q);
    free(s);
    /* As http_respond() does without memory: the connection closes. */
    req->close_after = 1;
    http_respond(req, 500, NULL, NULL, 0);
    return rc;
  }

  if (req->in_dispatch) {
    /* The dispatcher still uses req when the handler returns; it starts s then. */
    req->state = HTTP_REQ_STREAM;
    req->stream = s;
  } else {
    struct lws *wsi = req->wsi;
    begin(s, req);
    lws_callback_on_writable(wsi);
  }
  *out = s;
  return 0;
}

int http_stream_write(http_stream *s, const char *data, size_t len) {
  if (!s || (len && !data))
    return AGENTAI_EINVAL;
  if (s->c.finished || s->c.has_reason || s->c.kill_pending)
    return AGENTAI_ECANCELED;
  if (s->head_only)
    return 0;
  if (s->ended)
    return AGENTAI_EINVAL;
  if (!len)
    return 0;
  size_t pending = s->c.q.bytes + s->c.inflight;
  if (len > s->c.max_buffered || pending > s->c.max_buffered - len) {
    /* A consumer this slow is cut off rather than buffered for. */
    log_printf(AGENTAI_LOG_INFO, "http",
               "closing streamed response %s: %zu bytes unsent, over its limit of %zu", s->c.id,
               pending + len, s->c.max_buffered);
    http__conn_reason(&s->c, AGENTAI_ENOSPC);
    http__outq_clear(&s->c.q);
    http__conn_kill_later(&s->c);
    return AGENTAI_ENOSPC;
  }
  unsigned char *p = http__outq_reserve(&s->c.q, len, !s->chunked);
  if (!p) {
    http__conn_reason(&s->c, AGENTAI_ECANCELED);
    http__conn_kill_later(&s->c);
    return AGENTAI_ENOMEM;
  }
  memcpy(p, data, len);
  if (s->c.wsi)
    lws_callback_on_writable(s->c.wsi);
  return 0;
}

void http_stream_end(http_stream *s) {
  if (!s || s->ended || s->c.finished || s->c.has_reason)
    return;
  s->ended = 1;
  if (s->chunked) {
    unsigned char *p = http__outq_reserve(&s->c.q, 5, 1);
    if (!p) {
      http__conn_reason(&s->c, AGENTAI_ECANCELED);
      http__conn_kill_later(&s->c);
      return;
    }
    memcpy(p, "0\r\n\r\n", 5);
  }
  if (s->c.wsi)
    lws_callback_on_writable(s->c.wsi);
}

size_t http_stream_buffered(const http_stream *s) {
  return s ? s->c.q.bytes + s->c.inflight : 0;
}

const char *http_stream_request_id(const http_stream *s) {
  return s ? s->c.id : NULL;
}

int http__stream_ended(const http_stream *s) {
  return s->ended;
}

int http__stream_drained(http_stream *s) {
  if (!s->ended)
    return 0;
  /* Everything, the last chunk included, has left: the response is complete. */
  struct lws *wsi = s->c.wsi;
  int close = s->close_after;
  http__conn_finish(&s->c, 0); /* frees s */
  if (close)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void http__stream_closed(http_stream *s, int reason) {
  s->on_close(s->ud, s, reason);
}
