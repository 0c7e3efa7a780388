/* tests/unit/net_fixture.h — a small HTTP/1.1 test server on libuv TCP (same loop as the client
 * under test) whose behaviour is chosen by the request path, for the HTTP client tests. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "check.h"

/*
 * Paths:
 *   /ok              200, Content-Length, X-Test header ("hello"; HEAD: no body)
 *   /chunked         200, chunked ("hello world")
 *   /slow-drip       200, chunked, one 5-byte piece every 50 ms, 8 pieces ("drip0".."drip7")
 *   /stall           200 with Content-Length 100, then nothing
 *   /hang            nothing at all
 *   /close-mid-body  Content-Length 100, 10 bytes, then the connection closes
 *   /huge            200, chunked, 200000 bytes
 *   /huge-cl         200, Content-Length 200000
 *   /status/429      429 with Retry-After: 7
 *   /echo            200 with the whole request (head and body) as the body
 *   /interim         100 Continue (with a header), then 200 "ok"
 *   /redirect        302 to /ok
 *   /folded          200 with an obs-folded header
 *   /nocontent       204
 *   /binary          200 with 6 bytes that are not UTF-8 text ("\0\xff\xfeabc")
 *   absolute-form    (a proxy request) 200 "proxied <target>"
 */

typedef struct ts_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  int accepted; /* TCP connections accepted */
  int requests; /* requests parsed */
  int open;     /* connections open now */
  char last[8192];
  size_t last_len;
  char last_target[1024];
  struct ts_conn *conns; /* open connections */
} ts_server;

typedef struct ts_conn {
  uv_tcp_t tcp;
  ts_server *srv;
  char *buf;
  size_t len, cap;
  uv_timer_t drip;
  int drip_left;
  int drip_active;
  int closing;
  struct ts_conn *next, *prev;
} ts_conn;

typedef struct ts_write {
  uv_write_t req;
  ts_conn *conn;
  int close_after;
  char data[];
} ts_write;

static inline void ts_conn_closed(uv_handle_t *h) {
  ts_conn *c = h->data;
  if (--c->srv->open < 0)
    c->srv->open = 0;
  free(c->buf);
  free(c);
}

static inline void ts_drip_closed(uv_handle_t *h) {
  ts_conn *c = h->data;
  uv_close((uv_handle_t *)&c->tcp, ts_conn_closed);
}

static inline void ts_conn_close(ts_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  uv_timer_stop(&c->drip);
  uv_close((uv_handle_t *)&c->drip, ts_drip_closed);
}

static inline void ts_written(uv_write_t *req, int status) {
  ts_write *w = (ts_write *)req;
  (void)status;
  if (w->close_after)
    ts_conn_close(w->conn);
  free(w);
}

static inline void ts_send_ex(ts_conn *c, const char *data, size_t len, int close_after) {
  if (c->closing)
    return;
  ts_write *w = malloc(sizeof *w + len);
  CHECK(w != NULL);
  memcpy(w->data, data, len);
  w->conn = c;
  w->close_after = close_after;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, ts_written) != 0) {
    free(w);
    ts_conn_close(c);
  }
}

static inline void ts_send(ts_conn *c, const char *s) {
  ts_send_ex(c, s, strlen(s), 0);
}

/* A complete response with a Content-Length body. */
static inline void ts_respond(ts_conn *c, const char *status_line, const char *headers,
                              const char *body, size_t body_len) {
  size_t cap = strlen(status_line) + strlen(headers) + body_len + 128;
  char *out = malloc(cap);
  CHECK(out != NULL);
  int n = snprintf(out, cap, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status_line, headers,
                   body_len);
  memcpy(out + n, body, body_len);
  ts_send_ex(c, out, (size_t)n + body_len, 0);
  free(out);
}

static inline void ts_drip(uv_timer_t *t) {
  ts_conn *c = t->data;
  if (c->drip_left <= 0) {
    uv_timer_stop(t);
    c->drip_active = 0;
    ts_send(c, "0\r\n\r\n");
    return;
  }
  char piece[32];
  snprintf(piece, sizeof piece, "5\r\ndrip%d\r\n", 8 - c->drip_left);
  c->drip_left--;
  ts_send(c, piece);
}

static inline void ts_handle(ts_conn *c, const char *method, const char *target, const char *req,
                             size_t req_len) {
  ts_server *s = c->srv;
  char path[1024];
  snprintf(path, sizeof path, "%s", target);
  char *q = strchr(path, '?');
  if (q)
    *q = '\0';
  if (strncmp(target, "http://", 7) == 0) {
    char body[1200];
    int n = snprintf(body, sizeof body, "proxied %s", target);
    ts_respond(c, "200 OK", "", body, (size_t)n);
  } else if (strcmp(path, "/ok") == 0) {
    if (strcmp(method, "HEAD") == 0)
      ts_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\n");
    else
      ts_respond(c, "200 OK", "X-Test: yes\r\nContent-Type: text/plain\r\n", "hello", 5);
  } else if (strcmp(path, "/chunked") == 0) {
    ts_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  } else if (strcmp(path, "/slow-drip") == 0) {
    ts_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    c->drip_left = 8;
    c->drip_active = 1;
    uv_timer_start(&c->drip, ts_drip, 50, 50);
  } else if (strcmp(path, "/stall") == 0) {
    ts_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  } else if (strcmp(path, "/hang") == 0) {
    /* nothing */
  } else if (strcmp(path, "/close-mid-body") == 0) {
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
    ts_send_ex(c, r, strlen(r), 1);
  } else if (strcmp(path, "/huge") == 0) {
    ts_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    char *piece = malloc(10000 + 16);
    CHECK(piece != NULL);
    int n = snprintf(piece, 16, "2710\r\n");
    memset(piece + n, 'x', 10000);
    memcpy(piece + n + 10000, "\r\n", 2);
    for (int i = 0; i < 20; i++)
      ts_send_ex(c, piece, (size_t)n + 10002, 0);
    free(piece);
    ts_send(c, "0\r\n\r\n");
  } else if (strcmp(path, "/huge-cl") == 0) {
    char *body = malloc(200000);
    CHECK(body != NULL);
    memset(body, 'y', 200000);
    ts_respond(c, "200 OK", "", body, 200000);
    free(body);
  } else if (strcmp(path, "/status/429") == 0) {
    ts_respond(c, "429 Too Many Requests", "Retry-After: 7\r\n", "slow down", 9);
  } else if (strcmp(path, "/echo") == 0) {
    ts_respond(c, "200 OK", "Content-Type: text/plain\r\n", req, req_len);
  } else if (strcmp(path, "/interim") == 0) {
    ts_send(c, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n");
    ts_respond(c, "200 OK", "X-Final: 1\r\n", "ok", 2);
  } else if (strcmp(path, "/redirect") == 0) {
    ts_respond(c, "302 Found", "Location: /ok\r\n", "", 0);
  } else if (strcmp(path, "/folded") == 0) {
    ts_respond(c, "200 OK", "X-Fold: first\r\n  second\r\n", "", 0);
  } else if (strcmp(path, "/binary") == 0) {
    ts_respond(c, "200 OK", "",
               "\0\xff\xfe"
               "abc",
               6);
  } else if (strcmp(path, "/nocontent") == 0) {
    ts_send(c, "HTTP/1.1 204 No Content\r\n\r\n");
  } else {
    ts_respond(c, "404 Not Found", "", "no such path", 12);
  }
  (void)s;
}

/* Parses every complete request in the buffer. */
static inline void ts_parse(ts_conn *c) {
  for (;;) {
    char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (!end)
      return;
    size_t head_len = (size_t)(end - c->buf) + 4;
    size_t body_len = 0;
    for (char *p = c->buf; p < end; p++) {
      if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
        body_len = strtoul(p + 15, NULL, 10);
        break;
      }
    }
    if (c->len < head_len + body_len)
      return;
    ts_server *s = c->srv;
    s->requests++;
    size_t total = head_len + body_len;
    s->last_len = total < sizeof s->last - 1 ? total : sizeof s->last - 1;
    memcpy(s->last, c->buf, s->last_len);
    s->last[s->last_len] = '\0';
    char *req = malloc(total + 1);
    CHECK(req != NULL);
    memcpy(req, c->buf, total);
    req[total] = '\0';
    char method[32] = "", target[1024] = "";
    sscanf(req, "%31s %1023s", method, target);
    snprintf(s->last_target, sizeof s->last_target, "%s", target);
    memmove(c->buf, c->buf + total, c->len - total);
    c->len -= total;
    ts_handle(c, method, target, req, total);
    free(req);
    if (c->closing)
      return;
  }
}

static inline void ts_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ts_conn *c = h->data;
  if (c->cap - c->len < suggested) {
    c->cap = c->len + suggested;
    c->buf = realloc(c->buf, c->cap);
    CHECK(c->buf != NULL);
  }
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static inline void ts_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  ts_conn *c = st->data;
  (void)buf;
  if (n < 0) {
    ts_conn_close(c);
    return;
  }
  c->len += (size_t)n;
  ts_parse(c);
}

static inline void ts_accept(uv_stream_t *l, int status) {
  ts_server *s = l->data;
  if (status < 0)
    return;
  ts_conn *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->drip);
  c->tcp.data = c;
  c->drip.data = c;
  CHECK_EQ_INT(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
  s->accepted++;
  s->open++;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  uv_read_start((uv_stream_t *)&c->tcp, ts_alloc, ts_read);
}

static inline void ts_start(ts_server *s, uv_loop_t *loop) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  CHECK_EQ_INT(uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0), 0);
  CHECK_EQ_INT(uv_listen((uv_stream_t *)&s->listener, 64, ts_accept), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
  s->port = ntohs(got.sin_port);
}

/* Closes the listener and every connection; run the loop afterwards. */
static inline void ts_stop(ts_server *s) {
  while (s->conns)
    ts_conn_close(s->conns);
  uv_close((uv_handle_t *)&s->listener, NULL);
}

/* A port nothing listens on (bound, then closed). */
static inline int ts_free_port(uv_loop_t *loop) {
  uv_tcp_t t;
  uv_tcp_init(loop, &t);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  CHECK_EQ_INT(uv_tcp_bind(&t, (const struct sockaddr *)&addr, 0), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ntohs(got.sin_port);
}
