/* tests/unit/test_http_server.c — the HTTP server over real sockets: bodies, limits, keep-alive. */
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

static void on_server_closed(void *ud);

static void delay_closed(uv_handle_t *h) {
  free(h->data);
}

static void delay_fire(uv_timer_t *t) {
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

static void on_abort(void *ud, http_request *req) {
  (void)ud;
  CHECK(http_request_aborted(req));
  CHECK(http_request_header(req, "host") == NULL);
  CHECK(strncmp(http_request_path(req), "/delay", 6) == 0); /* still readable */
  CHECK_EQ_INT(http_response_add_header(req, "X-Late", "1"), AGENTAI_ECANCELED);
  g_aborts++;
}

static void on_server_closed(void *ud) {
  (void)ud;
  g_server_closed++;
}

static void handler(void *ud, http_request *req) {
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

static void on_done_async(uv_async_t *a) {
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

static void conn_open(conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(c->fd >= 0);
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

static void conn_close(conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
}

static void conn_send(conn *c, const void *data, size_t n) {
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

static void conn_sends(conn *c, const char *s) {
  conn_send(c, s, strlen(s));
}

/* Reads more bytes into the buffer: >0 read, 0 EOF, <0 error. */
static ssize_t conn_fill(conn *c) {
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

static const char *find_header(const char *head, const char *name, char *out, size_t n) {
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
static int read_resp(conn *c, resp *r, int head_only) {
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

static void resp_free(resp *r) {
  free(r->body);
  r->body = NULL;
}

/* 1 when the server closed the connection (EOF or reset) within 5 s. */
static int conn_sees_close(conn *c) {
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1)
    return 0;
  char b[256];
  ssize_t r = recv(c->fd, b, sizeof b, 0);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void get(conn *c, const char *path, const char *extra_headers) {
  char req[4096];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path,
           extra_headers ? extra_headers : "");
  conn_sends(c, req);
}

/* One GET on a fresh connection. */
static void get_once(const char *path, const char *extra, resp *r) {
  conn c;
  conn_open(&c);
  get(&c, path, extra);
  CHECK_EQ_INT(read_resp(&c, r, 0), 0);
  conn_close(&c);
}

static int stat_value(const char *name) {
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

static void wait_stat(const char *name, int want) {
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

static void *client_main(void *arg) {
  void (*fn)(void) = (void (*)(void))(uintptr_t)arg;
  fn();
  uv_async_send(&g_done_async);
  return NULL;
}

static void with_server(const http_server_options *opts, void (*client)(void)) {
  CHECK_EQ_INT(uv_loop_init(&g_loop), 0);
  g_server_closed = 0;
  g_stop_requested = 0;
  g_aborts = g_cancelled = g_delayed_ok = g_handled = 0;
  char err[256];
  int rc = http_server_start(&g_loop, "127.0.0.1", 0, handler, NULL, opts, &g_srv, err, sizeof err);
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

/* ======================================================================== */
/* Tests                                                                    */
/* ======================================================================== */

static void client_basic(void) {
  resp r;
  char v[256];
  get_once("/hello", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "application/json"));
  CHECK(find_header(r.head, "Content-Length", v, sizeof v) && atoi(v) == 17);
  CHECK(find_header(r.head, "Server", v, sizeof v) && !strcmp(v, "agentai"));
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v));
  CHECK_EQ_INT(strlen(v), 28);
  CHECK(strncmp(v, "req_", 4) == 0);
  CHECK(strspn(v + 4, "0123456789abcdef") == 24);
  char first[256];
  snprintf(first, sizeof first, "%s", v);
  resp_free(&r);

  /* Ids differ between requests. */
  get_once("/hello", NULL, &r);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && strcmp(v, first) != 0);
  resp_free(&r);

  get_once("/nope", NULL, &r);
  CHECK_EQ_INT(r.status, 404);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"not_found\"");
  resp_free(&r);

  get_once("/nocontent", NULL, &r);
  CHECK_EQ_INT(r.status, 204);
  CHECK(!find_header(r.head, "Content-Length", v, sizeof v));
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v));
  resp_free(&r);

  get_once("/badstatus", NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  CHECK_STR_CONTAINS(r.body, "internal_error");
  resp_free(&r);

  get_once("/twice", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "{\"first\":1}") == 0);
  resp_free(&r);

  get_once("/custom", NULL, &r);
  CHECK_EQ_INT(r.status, 201);
  CHECK(find_header(r.head, "X-Custom", v, sizeof v) && !strcmp(v, "yes"));
  CHECK(find_header(r.head, "Content-Length", v, sizeof v) && atoi(v) == (int)r.body_len);
  CHECK(!find_header(r.head, "X-Evil", v, sizeof v));
  snprintf(v, sizeof v, "0 %d %d %d", AGENTAI_EINVAL, AGENTAI_EINVAL, AGENTAI_EINVAL);
  CHECK(strcmp(r.body, v) == 0);
  resp_free(&r);
}

static void test_basic(void) {
  with_server(NULL, client_basic);
}

static void client_request_id(void) {
  resp r;
  char v[256];
  get_once("/id", "X-Request-Id: client-id_1.2:3\r\n", &r);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strcmp(v, "client-id_1.2:3"));
  CHECK(strcmp(r.body, "client-id_1.2:3") == 0);
  resp_free(&r);

  /* Insane ids are replaced, not echoed. */
  get_once("/id", "X-Request-Id: has spaces\"and quotes\r\n", &r);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && strncmp(v, "req_", 4) == 0);
  CHECK(strcmp(r.body, v) == 0);
  resp_free(&r);

  char longid[300] = "X-Request-Id: ";
  memset(longid + 14, 'a', 129);
  strcpy(longid + 14 + 129, "\r\n");
  get_once("/id", longid, &r);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && strncmp(v, "req_", 4) == 0);
  resp_free(&r);

  memset(longid + 14, 'b', 128);
  strcpy(longid + 14 + 128, "\r\n");
  get_once("/id", longid, &r);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && strlen(v) == 128 && v[0] == 'b');
  resp_free(&r);

  /* The error envelope carries the id too. */
  get_once("/error", "X-Request-Id: err-1\r\n", &r);
  CHECK_EQ_INT(r.status, 400);
  CHECK(strcmp(r.body,
               "{\"error\":{\"type\":\"invalid_request\",\"message\":\"bad \\\"thing\\\"\\n\","
               "\"param\":\"field\",\"request_id\":\"err-1\"}}") == 0);
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "application/json"));
  resp_free(&r);

  get_once("/header?name=nothing-here", NULL, &r);
  CHECK_EQ_INT(r.status, 404);
  CHECK_STR_CONTAINS(r.body, "\"param\":\"nothing-here\"");
  resp_free(&r);
}

static void test_request_id(void) {
  with_server(NULL, client_request_id);
}

static void client_headers(void) {
  static const struct {
    const char *query, *sent, *want;
  } CASES[] = {
      {"Authorization", "Authorization: Bearer sk-123\r\n", "Bearer sk-123"},
      {"content-TYPE", "Content-Type: application/json; charset=utf-8\r\n",
       "application/json; charset=utf-8"},
      {"accept", "Accept: text/event-stream\r\n", "text/event-stream"},
      {"Idempotency-Key", "Idempotency-Key: key-42  \r\n", "key-42"},
      {"last-event-id", "Last-Event-ID: 17\r\n", "17"},
      {"X-Request-Id", "x-request-id: abc\r\n", "abc"},
      {"X-Custom-Thing", "X-CUSTOM-THING:   spaced value\r\n", "spaced value"},
      {"User-Agent", "User-Agent: test/1.0\r\n", "test/1.0"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/header?name=%s", CASES[i].query);
    resp r;
    get_once(path, CASES[i].sent, &r);
    if (r.status != 200 || strcmp(r.body, CASES[i].want) != 0)
      fprintf(stderr, "header %s: %d '%s'\n", CASES[i].query, r.status, r.body);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strcmp(r.body, CASES[i].want) == 0);
    resp_free(&r);
  }
  /* Absent header. */
  resp r;
  get_once("/header?name=Authorization", NULL, &r);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);

  /* Query parsing: decoded params, re-encoded query. */
  get_once("/query?a=1&b=x%26y&c&d=hello+world", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "q=a=1&b=x%26y&c=&d=hello%20world|a=1|c=|missing=no") == 0);
  resp_free(&r);
  get_once("/query", NULL, &r);
  CHECK(strcmp(r.body, "q=|a=(null)|c=(null)|missing=no") == 0);
  resp_free(&r);

  /* Percent-decoded, normalised path. */
  get_once("/x/../hel%6Co", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
  resp_free(&r);

  /* An Upgrade we do not serve is ignored: plain HTTP/1.1 answer. */
  get_once("/hello",
           "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
           &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
  resp_free(&r);
}

/* Requests libwebsockets refuses before the handler: the connection ends
 * (with or without an error status) and the server carries on. */
static void client_malformed(void) {
  static const char *const BAD[] = {
      "FOO /hello HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /bad%zzescape HTTP/1.1\r\nHost: t\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-that-looks-like-tls\r\n\r\n",
      "GET hello HTTP/1.1\r\nHost: t\r\n\r\n",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    conn c;
    resp r;
    conn_open(&c);
    conn_sends(&c, BAD[i]);
    if (read_resp(&c, &r, 0) == 0) {
      CHECK(r.status >= 400 && r.status < 500);
      resp_free(&r);
    }
    CHECK(conn_sees_close(&c));
    conn_close(&c);
  }
  /* None of them reached the handler; the server still answers. */
  CHECK_EQ_INT(stat_value("handled"), 1);
}

static void test_malformed(void) {
  with_server(NULL, client_malformed);
}

static void test_headers_and_query(void) {
  with_server(NULL, client_headers);
}

static void post(conn *c, const char *path, const char *ctype, const char *body, size_t len) {
  char head[512];
  snprintf(head, sizeof head,
           "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", path,
           ctype, len);
  conn_sends(c, head);
  conn_send(c, body, len);
}

static void client_bodies(void) {
  conn c;
  resp r;
  char v[128];
  conn_open(&c);
  post(&c, "/echo", "text/plain", "hello body", 10);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "hello body") == 0);
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "text/plain"));
  resp_free(&r);

  /* ~512 KB of binary on the same connection, echoed byte for byte. */
  size_t big = 512 * 1024 + 7;
  char *data = malloc(big);
  CHECK(data != NULL);
  unsigned s = 12345;
  for (size_t i = 0; i < big; i++) {
    s = s * 1103515245u + 12345u;
    data[i] = (char)(s >> 16);
  }
  post(&c, "/echo", "application/octet-stream", data, big);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, big);
  CHECK(memcmp(r.body, data, big) == 0);
  resp_free(&r);

  /* Empty bodies, explicit length, all body methods. */
  const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
  for (int i = 0; i < 4; i++) {
    char req[256];
    snprintf(req, sizeof req, "%s /method HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
             methods[i]);
    conn_sends(&c, req);
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    snprintf(req, sizeof req, "%s 0", methods[i]);
    CHECK(strcmp(r.body, req) == 0);
    resp_free(&r);
  }
  conn_sends(&c, "PUT /method HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "PUT 3") == 0);
  resp_free(&r);

  /* Expect: 100-continue gets its interim response before the body is sent. */
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 100);
  resp_free(&r);
  conn_sends(&c, "12345");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "12345") == 0);
  resp_free(&r);
  conn_close(&c);

  /* POST without Content-Length: empty body, then the connection closes. */
  conn_open(&c);
  conn_sends(&c, "POST /method HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "POST 0") == 0);
  CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "close"));
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* Chunked bodies are refused with 411 and a close. */
  conn_open(&c);
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 411);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"length_required\"");
  CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "close"));
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* Both framings at once (a smuggling shape): 400 and close. */
  conn_open(&c);
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 400);
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* A Content-Length that is not a number. */
  conn_open(&c);
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_STR_CONTAINS(r.body, "Content-Length");
  resp_free(&r);
  conn_close(&c);
  free(data);
}

static void test_bodies(void) {
  with_server(NULL, client_bodies);
}

static void client_limits(void) {
  conn c;
  resp r;
  char v[128];
  /* Over the limit: 413 at once, before the body is sent; the server then
   * reads and drops the body, and the connection stays usable. */
  size_t over = 2 * 1024 * 1024;
  char *data = calloc(1, over);
  CHECK(data != NULL);
  conn_open(&c);
  char head[256];
  snprintf(head, sizeof head,
           "POST /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: big-1\r\nContent-Length: %zu\r\n\r\n",
           over);
  conn_sends(&c, head);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 413);
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "application/json"));
  CHECK(strcmp(r.body, "{\"error\":{\"type\":\"request_too_large\",\"message\":\"request body of "
                       "2097152 bytes is over the limit of 1048576 bytes\",\"param\":null,"
                       "\"request_id\":\"big-1\"}}") == 0);
  resp_free(&r);
  conn_send(&c, data, over);
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&c);

  /* With Expect: 100-continue the client will not send it: close instead. */
  conn_open(&c);
  snprintf(head, sizeof head,
           "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\nExpect: 100-continue\r\n\r\n",
           over);
  conn_sends(&c, head);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 413);
  CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "close"));
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* Absurd lengths are not drained either. */
  conn_open(&c);
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 413);
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* Exactly at the limit (1 MiB) is accepted. */
  conn_open(&c);
  post(&c, "/echo", "application/octet-stream", data, 1 << 20);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 1 << 20);
  resp_free(&r);
  conn_close(&c);
  free(data);
  CHECK_EQ_INT(stat_value("aborts"), 0);
}

static void test_body_limit(void) {
  with_server(NULL, client_limits);
}

static void client_small_limit(void) {
  conn c;
  resp r;
  char body[1001];
  memset(body, 'x', sizeof body);
  conn_open(&c);
  post(&c, "/echo", "text/plain", body, 1000);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  post(&c, "/echo", "text/plain", body, 1001);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 413);
  CHECK_STR_CONTAINS(r.body, "over the limit of 1000 bytes");
  resp_free(&r);
  /* The dropped body did not desync the connection. */
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&c);
  /* The handler never saw the 413 request: one echo, /hello and this /stats. */
  CHECK_EQ_INT(stat_value("handled"), 3);
}

static void test_small_limit(void) {
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.max_body_bytes = 1000;
  o.server_name = "";
  with_server(&o, client_small_limit);
}

static void client_keepalive(void) {
  conn c;
  resp r;
  char v[128];
  conn_open(&c);
  for (int i = 0; i < 20; i++) {
    get(&c, i % 2 ? "/hello" : "/delay?ms=1", NULL);
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    /* server_name "" in this test: no Server header. */
    CHECK(!find_header(r.head, "Server", v, sizeof v));
    resp_free(&r);
  }
  /* Pipelined: three requests in one write, answers in order. */
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                 "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /id HTTP/1.1\r\nHost: t\r\nX-Request-Id: pipe-3\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "xyz") == 0);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "pipe-3") == 0);
  resp_free(&r);

  /* HEAD: headers with the length the body would have, no body bytes (the
   * next response on the connection parses cleanly). */
  conn_sends(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "Content-Length", v, sizeof v) && atoi(v) == 17);
  resp_free(&r);
  get(&c, "/id", "X-Request-Id: after-head\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "after-head") == 0);
  resp_free(&r);

  /* Connection: close is honoured. */
  get(&c, "/hello", "Connection: close\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* HTTP/1.0: closes by default, keeps alive when asked (and says so). */
  conn_open(&c);
  conn_sends(&c, "GET /hello HTTP/1.0\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strncmp(r.head, "HTTP/1.0 200", 12) == 0);
  resp_free(&r);
  CHECK(conn_sees_close(&c));
  conn_close(&c);
  conn_open(&c);
  for (int i = 0; i < 2; i++) {
    conn_sends(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "keep-alive"));
    resp_free(&r);
  }
  conn_close(&c);

  /* A body request pipelined behind another: lws 4.1 cannot read its body
   * right, so the server answers what came before and closes instead of
   * handing the handler a wrong body. */
  const char *bodies[] = {"xyz", "{\"a\":\"a long enough json body to be sure\"}"};
  for (int i = 0; i < 2; i++) {
    char req[512];
    snprintf(req, sizeof req,
             "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(bodies[i]), bodies[i]);
    conn_open(&c);
    conn_sends(&c, req);
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
    resp_free(&r);
    if (read_resp(&c, &r, 0) == 0) {
      /* If a future lws reads it right, it must be right. */
      CHECK(strcmp(r.body, bodies[i]) == 0);
      resp_free(&r);
    }
    conn_close(&c);
  }
}

static void test_keepalive(void) {
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.server_name = "";
  with_server(&o, client_keepalive);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void client_delayed(void) {
  conn slow, fast;
  resp r;
  conn_open(&slow);
  conn_open(&fast);
  double t0 = now_ms();
  get(&slow, "/delay?ms=300", NULL);
  /* A pending response on one connection does not hold up another. */
  get(&fast, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&fast, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(now_ms() - t0 < 250);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&slow, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "{\"delayed\":300}") == 0);
  CHECK(now_ms() - t0 >= 290);
  resp_free(&r);
  /* The slow connection is still good for keep-alive after a late response. */
  get(&slow, "/delay?ms=5", NULL);
  CHECK_EQ_INT(read_resp(&slow, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&slow);
  conn_close(&fast);
  CHECK_EQ_INT(stat_value("delayed_ok"), 2);

  /* Client gone before the delayed reply: the request is aborted, the later
   * respond is a no-op that frees it. */
  conn c;
  conn_open(&c);
  get(&c, "/delay?ms=400", NULL);
  usleep(50 * 1000);
  conn_close(&c);
  wait_stat("aborts", 1);
  CHECK_EQ_INT(stat_value("cancelled"), 0);
  wait_stat("cancelled", 1);
  CHECK_EQ_INT(stat_value("aborts"), 1);
  CHECK_EQ_INT(stat_value("delayed_ok"), 2);

  /* Same with a reset instead of a clean close. */
  conn_open(&c);
  get(&c, "/delay?ms=200", NULL);
  usleep(50 * 1000);
  struct linger lg = {1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  conn_close(&c);
  wait_stat("aborts", 2);
  wait_stat("cancelled", 2);
}

static void test_delayed_and_disconnect(void) {
  with_server(NULL, client_delayed);
}

static void client_pipelining(void) {
  conn c;
  resp r;
  /* Pipelined in one packet behind a late answer: served in order after it. */
  conn_open(&c);
  conn_sends(&c, "GET /delay?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /id HTTP/1.1\r\nHost: t\r\nX-Request-Id: behind\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "{\"delayed\":100}") == 0);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "behind") == 0);
  resp_free(&r);
  /* Two late answers in a row, the second pipelined behind the first. */
  conn_sends(&c, "GET /delay?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /delay?ms=60 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "{\"delayed\":50}") == 0);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "{\"delayed\":60}") == 0);
  resp_free(&r);
  conn_close(&c);
  CHECK_EQ_INT(stat_value("aborts"), 0);

  /* A request sent while a late answer is pending: not supported, the
   * connection closes and the pending request is aborted. */
  conn_open(&c);
  get(&c, "/delay?ms=300", NULL);
  usleep(50 * 1000);
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), -1);
  conn_close(&c);
  wait_stat("aborts", 1);

  /* Same for a POST whose late answer is pending. */
  conn_open(&c);
  conn_sends(&c, "POST /delay?ms=300 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  usleep(50 * 1000);
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), -1);
  conn_close(&c);
  wait_stat("aborts", 2);

  /* A POST client that leaves before the late answer. */
  conn_open(&c);
  conn_sends(&c, "POST /delay?ms=300 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  usleep(50 * 1000);
  conn_close(&c);
  wait_stat("aborts", 3);
  wait_stat("cancelled", 3);
  CHECK_EQ_INT(stat_value("delayed_ok"), 3);
}

static void test_pipelining(void) {
  with_server(NULL, client_pipelining);
}

static void client_timeouts(void) {
  conn c;
  resp r;
  /* A late answer may take longer than the request timeout. */
  conn_open(&c);
  get(&c, "/delay?ms=1500", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  /* An idle keep-alive connection is closed after keepalive_timeout_s. */
  double t0 = now_ms();
  CHECK(conn_sees_close(&c));
  CHECK(now_ms() - t0 < 3000);
  conn_close(&c);

  /* Headers that never finish are cut off after request_timeout_s. */
  conn_open(&c);
  conn_sends(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ");
  t0 = now_ms();
  CHECK(conn_sees_close(&c));
  CHECK(now_ms() - t0 < 3000);
  conn_close(&c);

  /* So is a body that never finishes; the handler never sees it. */
  conn_open(&c);
  conn_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(conn_sees_close(&c));
  conn_close(&c);

  /* Headers over max_header_bytes: refused, the handler never sees them. */
  char big[4096];
  memset(big, 'a', 2000);
  big[2000] = '\0';
  char req[4200];
  snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
  conn_open(&c);
  conn_sends(&c, req);
  if (read_resp(&c, &r, 0) == 0) {
    CHECK(r.status >= 400);
    resp_free(&r);
  }
  conn_close(&c);
  CHECK_EQ_INT(stat_value("handled"), 2);
}

static void test_timeouts(void) {
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.request_timeout_s = 1;
  o.keepalive_timeout_s = 1;
  o.max_header_bytes = 1024;
  with_server(&o, client_timeouts);
}

static void client_respond_then_stop(void) {
  conn c;
  resp r;
  conn_open(&c);
  get(&c, "/respond-then-stop", NULL);
  /* The answer may or may not make it out before the connection closes. */
  if (read_resp(&c, &r, 0) == 0) {
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
  }
  conn_close(&c);
}

static void test_respond_then_stop(void) {
  with_server(NULL, client_respond_then_stop);
  CHECK_EQ_INT(g_aborts + g_cancelled, 0);
  CHECK_EQ_INT(g_delayed_ok, 1);
}

#define NCONC 200

static void client_concurrent(void) {
  static conn cs[NCONC];
  for (int i = 0; i < NCONC; i++)
    conn_open(&cs[i]);
  for (int i = 0; i < NCONC; i++) {
    char extra[64];
    snprintf(extra, sizeof extra, "X-Request-Id: c-%d\r\n", i);
    get(&cs[i], i % 2 ? "/id" : "/delay?ms=50", extra);
  }
  for (int i = 0; i < NCONC; i++) {
    resp r;
    char v[64], want[64];
    CHECK_EQ_INT(read_resp(&cs[i], &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    snprintf(want, sizeof want, "c-%d", i);
    CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strcmp(v, want));
    if (i % 2)
      CHECK(strcmp(r.body, want) == 0);
    else
      CHECK(strcmp(r.body, "{\"delayed\":50}") == 0);
    resp_free(&r);
  }
  /* A second round on the same connections. */
  for (int i = 0; i < NCONC; i++)
    get(&cs[i], "/hello", NULL);
  for (int i = 0; i < NCONC; i++) {
    resp r;
    CHECK_EQ_INT(read_resp(&cs[i], &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
  }
  for (int i = 0; i < NCONC; i++)
    conn_close(&cs[i]);
  CHECK_EQ_INT(stat_value("handled"), 2 * NCONC + 1);
}

static void test_concurrent(void) {
  with_server(NULL, client_concurrent);
}

static void client_stop(void) {
  conn idle[10], pending[3], stopper;
  resp r;
  /* Idle keep-alive connections, each after one request. */
  for (int i = 0; i < 10; i++) {
    conn_open(&idle[i]);
    get(&idle[i], "/hello", NULL);
    CHECK_EQ_INT(read_resp(&idle[i], &r, 0), 0);
    resp_free(&r);
  }
  /* Requests the handler holds for a long time. */
  for (int i = 0; i < 3; i++) {
    conn_open(&pending[i]);
    get(&pending[i], "/delay?ms=1500", NULL);
  }
  /* One connection with a half-sent request. */
  conn half;
  conn_open(&half);
  conn_sends(&half, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  wait_stat("handled", 10 + 3 + 1);

  /* Stop from inside a handler; its own response is still delivered. */
  conn_open(&stopper);
  get(&stopper, "/stop", NULL);
  CHECK_EQ_INT(read_resp(&stopper, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "{\"stopping\":true}") == 0);
  resp_free(&r);

  for (int i = 0; i < 10; i++) {
    CHECK(conn_sees_close(&idle[i]));
    conn_close(&idle[i]);
  }
  for (int i = 0; i < 3; i++) {
    CHECK(conn_sees_close(&pending[i]));
    conn_close(&pending[i]);
  }
  CHECK(conn_sees_close(&half));
  conn_close(&half);
  CHECK(conn_sees_close(&stopper));
  conn_close(&stopper);

  /* Nobody listens any more. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) != 0);
  close(fd);
}

static void test_stop_with_open_connections(void) {
  with_server(NULL, client_stop);
  /* The three held requests were aborted at stop; their timers then
   * responded into the void after the server was gone. */
  CHECK_EQ_INT(g_aborts, 3);
  CHECK_EQ_INT(g_cancelled, 3);
  CHECK_EQ_INT(g_delayed_ok, 0);
}

static void test_start_errors(void) {
  CHECK_EQ_INT(uv_loop_init(&g_loop), 0);
  char err[256];
  http_server *srv = NULL;

  /* Port in use. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(fd, 1) == 0);
  socklen_t sl = sizeof a;
  CHECK(getsockname(fd, (struct sockaddr *)&a, &sl) == 0);
  int busy = ntohs(a.sin_port);
  int rc =
      http_server_start(&g_loop, "127.0.0.1", busy, handler, NULL, NULL, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EIO);
  CHECK(srv == NULL);
  char want[128];
  snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: Address already in use", busy);
  CHECK(strcmp(err, want) == 0);
  close(fd);

  /* Bad addresses and ports. */
  rc = http_server_start(&g_loop, "999.1.1.1", 8080, handler, NULL, NULL, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "cannot listen on 999.1.1.1:8080: ");
  rc = http_server_start(&g_loop, "192.0.2.1", 0, handler, NULL, NULL, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "cannot listen on 192.0.2.1:0: Cannot assign requested address");
  rc = http_server_start(&g_loop, "127.0.0.1", 70000, handler, NULL, NULL, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "invalid port 70000");
  rc = http_server_start(&g_loop, "127.0.0.1", 0, NULL, NULL, NULL, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.max_header_bytes = 70000;
  rc = http_server_start(&g_loop, "127.0.0.1", 0, handler, NULL, &o, &srv, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK(srv == NULL);

  /* Nothing was left on the loop. */
  CHECK_EQ_INT(uv_run(&g_loop, UV_RUN_NOWAIT), 0);
  CHECK_EQ_INT(uv_loop_close(&g_loop), 0);

  /* IPv6 loopback and an immediate stop without any traffic. */
  CHECK_EQ_INT(uv_loop_init(&g_loop), 0);
  g_server_closed = 0;
  rc = http_server_start(&g_loop, "::1", 0, handler, NULL, NULL, &srv, err, sizeof err);
  if (rc == 0) {
    CHECK(http_server_port(srv) > 0);
    http_server_stop(srv, on_server_closed, NULL);
    CHECK_EQ_INT(uv_run(&g_loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(g_server_closed, 1);
  } else {
    fprintf(stderr, "  (no IPv6 loopback here: %s)\n", err);
  }
  CHECK_EQ_INT(uv_loop_close(&g_loop), 0);
}

/* Start and stop many times on one loop: nothing accumulates. */
static void test_restart(void) {
  CHECK_EQ_INT(uv_loop_init(&g_loop), 0);
  for (int i = 0; i < 20; i++) {
    char err[256];
    http_server *srv = NULL;
    g_server_closed = 0;
    CHECK_EQ_INT(
        http_server_start(&g_loop, "127.0.0.1", 0, handler, NULL, NULL, &srv, err, sizeof err), 0);
    http_server_stop(srv, on_server_closed, NULL);
    CHECK_EQ_INT(uv_run(&g_loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(g_server_closed, 1);
  }
  CHECK_EQ_INT(uv_loop_close(&g_loop), 0);
}

int main(void) {
  RUN(test_start_errors);
  RUN(test_restart);
  RUN(test_basic);
  RUN(test_request_id);
  RUN(test_headers_and_query);
  RUN(test_malformed);
  RUN(test_bodies);
  RUN(test_body_limit);
  RUN(test_small_limit);
  RUN(test_keepalive);
  RUN(test_delayed_and_disconnect);
  RUN(test_pipelining);
  RUN(test_timeouts);
  RUN(test_respond_then_stop);
  RUN(test_concurrent);
  RUN(test_stop_with_open_connections);
  CHECK_DONE();
}
