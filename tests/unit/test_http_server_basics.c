/* tests/unit/test_http_server_basics.c — the HTTP server's start errors, restarts, routing,
 * request ids, headers and query, malformed requests, bodies and body limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_fixture.h"

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
  CHECK_DONE();
}
