/* tests/unit/test_http_server_late.c — HTTP late answers: delayed replies, clients that leave
 * before them, stopping the server with answers and connections still open. */
#include <string.h>
#include <unistd.h>

#include "http_fixture.h"

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

int main(void) {
  RUN(test_delayed_and_disconnect);
  RUN(test_respond_then_stop);
  RUN(test_stop_with_open_connections);
  CHECK_DONE();
}
