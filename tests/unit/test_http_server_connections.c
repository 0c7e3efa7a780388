/* tests/unit/test_http_server_connections.c — HTTP connections: keep-alive, pipelining,
 * timeouts, many concurrent clients. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_fixture.h"

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

int main(void) {
  RUN(test_keepalive);
  RUN(test_pipelining);
  RUN(test_timeouts);
  RUN(test_concurrent);
  CHECK_DONE();
}
