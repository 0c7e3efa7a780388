/* tests/unit/http_fixture.h — shared setup for the HTTP server tests: a routing handler on
 * the loop thread, a blocking client on its own thread, and the one-server-per-test
 * harness. */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <uv.h>

#include "agentai/plugin.h"
#include "check.h"
#include "http/server.h"

/* ======================================================================== */
/* Server side: runs on the loop (main) thread                              */
/* ======================================================================== */

static uv_loop_t g_loop;
static http_server *g_srv;
static uv_async_t g_done_async;
static int g_server_closed;
static int g_stop_requested;

/* Counters, touched on the loop thread only and read by the client via /stats. */
static int g_aborts, g_cancelled, g_delayed_ok, g_handled;

typedef struct {
  uv_timer_t timer;
  http_request *req;
  int ms; /* -1: stop the server right after answering */
} delay_t;

static inline void on_server_closed(void *ud);

static inline void delay_closed(uv_handle_t *h) {
  free(h->data);
}

static inline void delay_fire(uv_timer_t *t) {
  delay_t *d = t->data;
  char body[64];
  snprintf(body, sizeof body, "{\"delayed\":%d}", d->ms);
  int rc = http_respond_json(d->req, 200, body);
  if (rc == AGENTAI_ECANCELED)
    g_cancelled++;
  else if (rc == 0)
    g_delayed_ok++;
  if (d->ms < 0 && !g_stop_requested) {
    g_stop_requested = 1;
    http_server_stop(g_srv, on_server_closed, NULL);
  }
  uv_close((uv_handle_t *)t, delay_closed);
}

static inline void on_abort(void *ud, http_request *req) {
  (void)ud;
  CHECK(http_request_aborted(req));
  CHECK(http_request_header(req, "host") == NULL);
  CHECK(strncmp(http_request_path(req), "/delay", 6) == 0); /* still readable */
  CHECK_EQ_INT(http_response_add_header(req, "X-Late", "1"), AGENTAI_ECANCELED);
  g_aborts++;
}

static inline void on_server_closed(void *ud) {
  (void)ud;
  g_server_closed++;
}

static inline void handler(void *ud, http_request *req) {
  (void)ud;
  g_handled++;
  const char *path = http_request_path(req);
  const char *method = http_request_method(req);
  char buf[512];

  if (!strcmp(path, "/hello")) {
    http_respond_json(req, 200, "{\"hello\":\"world\"}");
  } else if (!strcmp(path, "/delay")) {
    const char *ms = http_request_query_param(req, "ms");
    delay_t *d = calloc(1, sizeof *d);
    CHECK(d != NULL);
    d->req = req;
    d->ms = ms ? atoi(ms) : 100;
    http_request_on_abort(req, on_abort, NULL);
    uv_timer_init(&g_loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, delay_fire, (uint64_t)d->ms, 0);
  } else if (!strcmp(path, "/echo")) {
    size_t len;
    const char *body = http_request_body(req, &len);
    CHECK(body[len] == '\0');
    const char *ct = http_request_header(req, "content-type");
    http_respond(req, 200, ct ? ct : "application/octet-stream", body, len);
  } else if (!strcmp(path, "/header")) {
    const char *name = http_request_query_param(req, "name");
    const char *v = name ? http_request_header(req, name) : NULL;
    /* A second lookup returns the cached copy. */
    CHECK(!name || http_request_header(req, name) == v);
    if (v)
      http_respond(req, 200, "text/plain", v, strlen(v));
    else
      http_respond_error(req, 404, "not_found", "no such header", name);
  } else if (!strcmp(path, "/error")) {
    http_respond_error(req, 400, "invalid_request", "bad \"thing\"\n", "field");
  } else if (!strcmp(path, "/query")) {
    const char *a = http_request_query_param(req, "a");
    const char *c = http_request_query_param(req, "c");
    snprintf(buf, sizeof buf, "q=%s|a=%s|c=%s|missing=%s", http_request_query(req),
             a ? a : "(null)", c ? c : "(null)",
             http_request_query_param(req, "zzz") ? "yes" : "no");
    http_respond(req, 200, "text/plain", buf, strlen(buf));
  } else if (!strcmp(path, "/id")) {
    http_respond(req, 200, "text/plain", http_request_id(req), strlen(http_request_id(req)));
  } else if (!strcmp(path, "/method")) {
    size_t len;
    http_request_body(req, &len);
    snprintf(buf, sizeof buf, "%s %zu", method, len);
    http_respond(req, 200, "text/plain", buf, strlen(buf));
  } else if (!strcmp(path, "/custom")) {
    int ok = http_response_add_header(req, "X-Custom", "yes");
    int reserved = http_response_add_header(req, "Content-Length", "5");
    int crlf = http_response_add_header(req, "X-Evil", "a\r\nb: c");
    int badname = http_response_add_header(req, "Bad Name", "x");
    snprintf(buf, sizeof buf, "%d %d %d %d", ok, reserved, crlf, badname);
    http_respond(req, 201, "text/plain", buf, strlen(buf));
  } else if (!strcmp(path, "/nocontent")) {
    http_respond(req, 204, NULL, NULL, 0);
  } else if (!strcmp(path, "/badstatus")) {
    int rc = http_respond(req, 42, "text/plain", "x", 1);
    CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  } else if (!strcmp(path, "/twice")) {
    CHECK_EQ_INT(http_respond_json(req, 200, "{\"first\":1}"), 0);
    CHECK_EQ_INT(http_respond_json(req, 500, "{\"second\":1}"), AGENTAI_EINVAL);
  } else if (!strcmp(path, "/stats")) {
    snprintf(buf, sizeof buf, "{\"aborts\":%d,\"cancelled\":%d,\"delayed_ok\":%d,\"handled\":%d}",
             g_aborts, g_cancelled, g_delayed_ok, g_handled);
    http_respond_json(req, 200, buf);
  } else if (!strcmp(path, "/respond-then-stop")) {
    /* A late answer queued in the same callback that stops the server. */
    delay_t *d = calloc(1, sizeof *d);
    CHECK(d != NULL);
    d->req = req;
    d->ms = -1;
    uv_timer_init(&g_loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, delay_fire, 20, 0);
  } else if (!strcmp(path, "/stop")) {
    /* Stopping from inside a handler: the inline response still goes out. */
    g_stop_requested = 1;
    http_server_stop(g_srv, on_server_closed, NULL);
    http_server_stop(g_srv, on_server_closed, NULL); /* second call: ignored */
    http_respond_json(req, 200, "{\"stopping\":true}");
  } else {
    http_respond_error(req, 404, "not_found", "no route", NULL);
  }
}

static inline void on_done_async(uv_async_t *a) {
  if (!g_stop_requested) {
    g_stop_requested = 1;
    http_server_stop(g_srv, on_server_closed, NULL);
  }
  uv_close((uv_handle_t *)a, NULL);
}

/* ======================================================================== */
/* Client side: blocking sockets on a thread                                */
/* ======================================================================== */

static int g_port;

typedef struct {
  int fd;
  char *buf;
  size_t len, cap;
} conn;

typedef struct {
  int status;
  char head[16384];
  char *body;
  size_t body_len;
} resp;

/* conn_open() with a receive buffer of rcvbuf bytes (0: the system's), set
 * before connecting so the window stays small: a client that reads slowly. */
static inline void conn_open_rcvbuf(conn *c, int rcvbuf) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(c->fd >= 0);
  if (rcvbuf > 0)
    CHECK(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0);
  struct timeval tv = {10, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->cap = 65536;
  c->buf = malloc(c->cap);
  CHECK(c->buf != NULL);
}

static inline void conn_open(conn *c) {
  conn_open_rcvbuf(c, 0);
}

static inline void conn_close(conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
}

static inline void conn_send(conn *c, const void *data, size_t n) {
  const char *p = data;
  while (n) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    CHECK(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

static inline void conn_sends(conn *c, const char *s) {
  conn_send(c, s, strlen(s));
}

/* Reads more bytes into the buffer: >0 read, 0 EOF, <0 error. */
static inline ssize_t conn_fill(conn *c) {
  if (c->len == c->cap) {
    c->cap *= 2;
    c->buf = realloc(c->buf, c->cap);
    CHECK(c->buf != NULL);
  }
  for (;;) {
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r > 0)
      c->len += (size_t)r;
    return r;
  }
}

static inline const char *find_header(const char *head, const char *name, char *out, size_t n) {
  size_t nl = strlen(name);
  const char *p = strstr(head, "\r\n");
  while (p && p[2]) {
    p += 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      const char *e = strstr(v, "\r\n");
      size_t l = e ? (size_t)(e - v) : strlen(v);
      if (l >= n)
        l = n - 1;
      memcpy(out, v, l);
      out[l] = '\0';
      return out;
    }
    p = strstr(p, "\r\n");
  }
  return NULL;
}

/* Reads one response; returns 0, or -1 if the connection ended first. */
static inline int read_resp(conn *c, resp *r, int head_only) {
  memset(r, 0, sizeof *r);
  char *end;
  for (;;) {
    end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (end)
      break;
    if (conn_fill(c) <= 0)
      return -1;
  }
  size_t hlen = (size_t)(end - c->buf) + 4;
  CHECK(hlen < sizeof r->head);
  memcpy(r->head, c->buf, hlen);
  r->head[hlen] = '\0';
  CHECK(sscanf(r->head, "HTTP/1.%*d %d", &r->status) == 1);
  char v[64];
  size_t cl = 0;
  if (!head_only && find_header(r->head, "content-length", v, sizeof v))
    cl = (size_t)strtoull(v, NULL, 10);
  while (c->len < hlen + cl)
    if (conn_fill(c) <= 0)
      return -1;
  r->body = malloc(cl + 1);
  CHECK(r->body != NULL);
  memcpy(r->body, c->buf + hlen, cl);
  r->body[cl] = '\0';
  r->body_len = cl;
  memmove(c->buf, c->buf + hlen + cl, c->len - hlen - cl);
  c->len -= hlen + cl;
  return 0;
}

static inline void resp_free(resp *r) {
  free(r->body);
  r->body = NULL;
}

/* 1 when the server closed the connection (EOF or reset) within 5 s. */
static inline int conn_sees_close(conn *c) {
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1)
    return 0;
  char b[256];
  ssize_t r = recv(c->fd, b, sizeof b, 0);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

static inline void get(conn *c, const char *path, const char *extra_headers) {
  char req[4096];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path,
           extra_headers ? extra_headers : "");
  conn_sends(c, req);
}

/* One GET on a fresh connection. */
static inline void get_once(const char *path, const char *extra, resp *r) {
  conn c;
  conn_open(&c);
  get(&c, path, extra);
  CHECK_EQ_INT(read_resp(&c, r, 0), 0);
  conn_close(&c);
}

static inline int stat_value(const char *name) {
  resp r;
  get_once("/stats", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(r.body, key);
  CHECK(p != NULL);
  int v = atoi(p + strlen(key));
  resp_free(&r);
  return v;
}

static inline void wait_stat(const char *name, int want) {
  for (int i = 0; i < 300; i++) {
    if (stat_value(name) >= want)
      return;
    usleep(10 * 1000);
  }
  CHECK_EQ_INT(stat_value(name), want);
}

/* ======================================================================== */
/* Harness: one server + one client thread per test                         */
/* ======================================================================== */

static inline void *client_main(void *arg) {
  void (*fn)(void) = (void (*)(void))(uintptr_t)arg;
  fn();
  uv_async_send(&g_done_async);
  return NULL;
}

/* with_server() with another request handler (its ud is NULL); it may pass
 * what it does not serve on to the fixture's handler(). */
static inline void with_server_handler(const http_server_options *opts, http_handler_fn fn,
                                       void (*client)(void)) {
  CHECK_EQ_INT(uv_loop_init(&g_loop), 0);
  g_server_closed = 0;
  g_stop_requested = 0;
  g_aborts = g_cancelled = g_delayed_ok = g_handled = 0;
  char err[256];
  int rc = http_server_start(&g_loop, "127.0.0.1", 0, fn, NULL, opts, &g_srv, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  g_port = http_server_port(g_srv);
  CHECK(g_port > 0 && g_port < 65536);
  CHECK_EQ_INT(uv_async_init(&g_loop, &g_done_async, on_done_async), 0);

  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, client_main, (void *)(uintptr_t)client), 0);
  /* Returns only when every handle, the server's and lws's included, is closed. */
  CHECK_EQ_INT(uv_run(&g_loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(pthread_join(th, NULL), 0);
  CHECK_EQ_INT(g_server_closed, 1);
  CHECK_EQ_INT(uv_loop_close(&g_loop), 0);
}

static inline void with_server(const http_server_options *opts, void (*client)(void)) {
  with_server_handler(opts, handler, client);
}

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
