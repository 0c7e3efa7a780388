/* tests/unit/test_http_stream.c — streamed HTTP responses: chunks in order, keep-alive after the
 * end, HTTP/1.0 and HEAD, clients that leave or stop reading, server stop with open streams, and
 * the cap on concurrent connections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_fixture.h"

/* ======================================================================== */
/* Server side (loop thread)                                                */
/* ======================================================================== */

/* on_close reasons seen, and what the slow-consumer writer observed. */
static int g_sc_ok, g_sc_canceled, g_sc_nospc, g_sc_other, g_late_canceled;
static int g_nospc_returns;
static size_t g_max_seen;

typedef struct {
  uv_timer_t t;
  http_stream *s;
  int n, i;    /* events to write, written */
  int hang;    /* never end */
  size_t size; /* > 0: write blocks of this size every tick until a write fails */
  size_t max;  /* the stream's max_buffered */
} sse_job;

static void job_free(uv_handle_t *h) {
  free(h->data);
}

static void on_sse_close(void *ud, http_stream *s, int reason) {
  sse_job *j = ud;
  CHECK(j->s == s);
  /* Inside on_close the stream is over. */
  CHECK_EQ_INT(http_stream_write(s, "x", 1), AGENTAI_ECANCELED);
  http_stream_end(s);
  if (reason == 0)
    g_sc_ok++;
  else if (reason == AGENTAI_ECANCELED)
    g_sc_canceled++;
  else if (reason == AGENTAI_ENOSPC)
    g_sc_nospc++;
  else
    g_sc_other++;
  j->s = NULL;
  uv_close((uv_handle_t *)&j->t, job_free);
}

static void write_event(sse_job *j) {
  char ev[64];
  snprintf(ev, sizeof ev, "data: %d\n\n", j->i);
  CHECK_EQ_INT(http_stream_write(j->s, ev, strlen(ev)), 0);
  if (++j->i == j->n && !j->hang) {
    http_stream_end(j->s);
    http_stream_end(j->s); /* a second end does nothing */
    CHECK_EQ_INT(http_stream_write(j->s, "late", 4), AGENTAI_EINVAL);
  }
}

static void sse_tick(uv_timer_t *t) {
  sse_job *j = t->data;
  if (j->size) {
    static char block[16384];
    memset(block, 'x', j->size);
    int rc = http_stream_write(j->s, block, j->size);
    size_t b = http_stream_buffered(j->s);
    if (b > g_max_seen)
      g_max_seen = b;
    if (rc == AGENTAI_ENOSPC) {
      g_nospc_returns++;
      CHECK_EQ_INT(http_stream_write(j->s, block, 1), AGENTAI_ECANCELED);
      uv_timer_stop(t);
    } else {
      CHECK_EQ_INT(rc, 0);
    }
    return;
  }
  write_event(j);
  if (j->i >= j->n)
    uv_timer_stop(t);
}

static int qint(http_request *req, const char *name, int def) {
  const char *v = http_request_query_param(req, name);
  return v ? atoi(v) : def;
}

/* Starts a stream on req per its query: n events, interval ms apart (0: all
 * inline), hang (no end), size/max (slow consumer writer). */
static void start_sse(http_request *req, int inline_call) {
  sse_job *j = calloc(1, sizeof *j);
  CHECK(j != NULL);
  j->n = qint(req, "n", 3);
  j->hang = qint(req, "hang", 0);
  j->size = (size_t)qint(req, "size", 0);
  j->max = (size_t)qint(req, "max", 0);
  int interval = qint(req, "interval", 0);
  CHECK_EQ_INT(uv_timer_init(&g_loop, &j->t), 0);
  j->t.data = j;
  if (inline_call)
    CHECK_EQ_INT(http_response_add_header(req, "X-Stream", "yes"), 0);
  http_stream *s = NULL;
  int rc = http_respond_stream(req, 200, "text/event-stream", j->max, on_sse_close, j, &s);
  if (rc == AGENTAI_ECANCELED) {
    CHECK(s == NULL);
    g_late_canceled++;
    uv_close((uv_handle_t *)&j->t, job_free);
    return;
  }
  CHECK_EQ_INT(rc, 0);
  CHECK(s != NULL);
  CHECK(http_stream_request_id(s) != NULL);
  j->s = s;
  if (j->size || interval > 0) {
    uv_timer_start(&j->t, sse_tick, (uint64_t)(interval > 0 ? interval : 1),
                   (uint64_t)(interval > 0 ? interval : 1));
  } else {
    while (j->i < j->n)
      write_event(j);
  }
}

typedef struct {
  uv_timer_t t;
  http_request *req;
} late_t;

static void late_fire(uv_timer_t *t) {
  late_t *l = t->data;
  start_sse(l->req, 0);
  uv_close((uv_handle_t *)t, job_free);
}

static void on_late_abort(void *ud, http_request *req) {
  (void)ud;
  (void)req;
  g_aborts++;
}

static void stream_handler(void *ud, http_request *req) {
  const char *path = http_request_path(req);
  char buf[512];
  if (!strcmp(path, "/sse")) {
    start_sse(req, 1);
  } else if (!strcmp(path, "/late-sse")) {
    late_t *l = calloc(1, sizeof *l);
    CHECK(l != NULL);
    l->req = req;
    http_request_on_abort(req, on_late_abort, NULL);
    uv_timer_init(&g_loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, late_fire, (uint64_t)qint(req, "ms", 20), 0);
  } else if (!strcmp(path, "/post-sse")) {
    size_t len;
    const char *body = http_request_body(req, &len);
    char copy[256];
    CHECK(len < sizeof copy);
    memcpy(copy, body, len + 1);
    sse_job *j = calloc(1, sizeof *j);
    CHECK(j != NULL);
    uv_timer_init(&g_loop, &j->t);
    j->t.data = j;
    CHECK_EQ_INT(http_respond_stream(req, 201, "text/plain", 0, on_sse_close, j, &j->s), 0);
    CHECK_EQ_INT(http_stream_write(j->s, copy, len / 2), 0);
    CHECK_EQ_INT(http_stream_write(j->s, copy + len / 2, len - len / 2), 0);
    CHECK_EQ_INT(http_stream_write(j->s, NULL, 0), 0);
    CHECK_EQ_INT(http_stream_write(j->s, NULL, 3), AGENTAI_EINVAL);
    http_stream_end(j->s);
  } else if (!strcmp(path, "/bad-sse")) {
    http_stream *s = (http_stream *)&s;
    CHECK_EQ_INT(http_respond_stream(req, 204, "text/plain", 0, on_sse_close, NULL, &s),
                 AGENTAI_EINVAL);
    CHECK(s == NULL);
  } else if (!strcmp(path, "/bad-sse-args")) {
    CHECK_EQ_INT(http_respond_stream(req, 200, "text/plain", 0, NULL, NULL, NULL), AGENTAI_EINVAL);
  } else if (!strcmp(path, "/twice-sse")) {
    sse_job *j = calloc(1, sizeof *j);
    CHECK(j != NULL);
    uv_timer_init(&g_loop, &j->t);
    j->t.data = j;
    CHECK_EQ_INT(http_respond_stream(req, 200, "text/plain", 0, on_sse_close, j, &j->s), 0);
    /* Further respond calls during the same handler call are refused. */
    http_stream *s2 = NULL;
    CHECK_EQ_INT(http_respond_stream(req, 200, "text/plain", 0, on_sse_close, j, &s2),
                 AGENTAI_EINVAL);
    CHECK(s2 == NULL);
    CHECK_EQ_INT(http_respond_json(req, 500, "{}"), AGENTAI_EINVAL);
    CHECK_EQ_INT(http_response_add_header(req, "X-Late", "1"), AGENTAI_EINVAL);
    CHECK_EQ_INT(http_stream_write(j->s, "once", 4), 0);
    http_stream_end(j->s);
  } else if (!strcmp(path, "/toobig")) {
    sse_job *j = calloc(1, sizeof *j);
    CHECK(j != NULL);
    uv_timer_init(&g_loop, &j->t);
    j->t.data = j;
    CHECK_EQ_INT(http_respond_stream(req, 200, "text/plain", 100, on_sse_close, j, &j->s), 0);
    char big[200];
    memset(big, 'b', sizeof big);
    CHECK_EQ_INT(http_stream_write(j->s, big, sizeof big), AGENTAI_ENOSPC);
    CHECK_EQ_INT(http_stream_write(j->s, big, 1), AGENTAI_ECANCELED);
    http_stream_end(j->s); /* ignored: the stream is over */
    g_nospc_returns++;
  } else if (!strcmp(path, "/sstats")) {
    snprintf(buf, sizeof buf,
             "{\"ok\":%d,\"canceled\":%d,\"nospc\":%d,\"other\":%d,\"late_canceled\":%d,"
             "\"nospc_returns\":%d,\"max_seen\":%zu,\"aborts\":%d}",
             g_sc_ok, g_sc_canceled, g_sc_nospc, g_sc_other, g_late_canceled, g_nospc_returns,
             g_max_seen, g_aborts);
    http_respond_json(req, 200, buf);
  } else {
    handler(ud, req);
  }
}

static void reset_counters(void) {
  g_sc_ok = g_sc_canceled = g_sc_nospc = g_sc_other = g_late_canceled = 0;
  g_nospc_returns = 0;
  g_max_seen = 0;
}

/* ======================================================================== */
/* Client side                                                              */
/* ======================================================================== */

static int sstat(const char *name) {
  resp r;
  get_once("/sstats", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(r.body, key);
  CHECK(p != NULL);
  int v = atoi(p + strlen(key));
  resp_free(&r);
  return v;
}

static void wait_sstat(const char *name, int want) {
  for (int i = 0; i < 500; i++) {
    if (sstat(name) >= want)
      break;
    usleep(10 * 1000);
  }
  CHECK_EQ_INT(sstat(name), want);
}

/* One chunk of a chunked body into out: its size, 0 for the last chunk (the
 * empty trailer consumed too), -1 on EOF or bad framing. */
static long read_chunk(conn *c, char *out, size_t cap) {
  char *eol;
  while (!(eol = c->len ? memmem(c->buf, c->len, "\r\n", 2) : NULL))
    if (conn_fill(c) <= 0)
      return -1;
  char *end;
  long n = strtol(c->buf, &end, 16);
  if (end == c->buf || end != eol || n < 0)
    return -1;
  size_t hl = (size_t)(eol - c->buf) + 2;
  while (c->len < hl + (size_t)n + 2)
    if (conn_fill(c) <= 0)
      return -1;
  if (memcmp(c->buf + hl + n, "\r\n", 2) != 0)
    return -1;
  CHECK((size_t)n < cap);
  memcpy(out, c->buf + hl, (size_t)n);
  out[n] = '\0';
  size_t used = hl + (size_t)n + 2;
  memmove(c->buf, c->buf + used, c->len - used);
  c->len -= used;
  return n;
}

/* The whole chunked body, concatenated. */
static void read_chunked(conn *c, char *out, size_t cap) {
  size_t len = 0;
  char chunk[4096];
  long n;
  while ((n = read_chunk(c, chunk, sizeof chunk)) > 0) {
    CHECK(len + (size_t)n < cap);
    memcpy(out + len, chunk, (size_t)n);
    len += (size_t)n;
  }
  CHECK_EQ_INT(n, 0);
  out[len] = '\0';
}

/* Reads until the server closes (EOF or reset); returns the bytes seen. */
static size_t read_to_close(conn *c) {
  size_t total = c->len;
  c->len = 0;
  for (;;) {
    ssize_t r = conn_fill(c);
    if (r <= 0)
      return total;
    total += (size_t)r;
    c->len = 0;
  }
}

static void client_stream_basic(void) {
  conn c;
  resp r;
  char v[256], chunk[256];
  conn_open(&c);
  get(&c, "/sse?n=4&interval=20", "X-Request-Id: sse-1\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(find_header(r.head, "Transfer-Encoding", v, sizeof v) && !strcasecmp(v, "chunked"));
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "text/event-stream"));
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strcmp(v, "sse-1"));
  CHECK(find_header(r.head, "Server", v, sizeof v) && !strcmp(v, "agentai"));
  CHECK(find_header(r.head, "X-Stream", v, sizeof v) && !strcmp(v, "yes"));
  CHECK(!find_header(r.head, "Content-Length", v, sizeof v));
  CHECK(!find_header(r.head, "Connection", v, sizeof v));
  resp_free(&r);
  /* 20 ms apart, every event is a chunk of its own, in order. */
  for (int i = 0; i < 4; i++) {
    char want[32];
    snprintf(want, sizeof want, "data: %d\n\n", i);
    CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), (long)strlen(want));
    CHECK(strcmp(chunk, want) == 0);
  }
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 0);
  CHECK_EQ_INT(c.len, 0);
  /* The connection is reused after the end. */
  get(&c, "/id", "X-Request-Id: after-stream\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "after-stream") == 0);
  resp_free(&r);
  /* A stream written entirely inside the handler, then another on the same connection. */
  char body[1024];
  for (int k = 0; k < 2; k++) {
    get(&c, "/sse?n=3", NULL);
    CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    read_chunked(&c, body, sizeof body);
    CHECK(strcmp(body, "data: 0\n\ndata: 1\n\ndata: 2\n\n") == 0);
  }
  conn_close(&c);
  wait_sstat("ok", 3);

  /* Answered later, from a timer; then the connection is reused. */
  conn_open(&c);
  get(&c, "/late-sse?ms=30&n=2", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strncmp(v, "req_", 4));
  CHECK(!find_header(r.head, "X-Stream", v, sizeof v));
  resp_free(&r);
  read_chunked(&c, body, sizeof body);
  CHECK(strcmp(body, "data: 0\n\ndata: 1\n\n") == 0);
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);

  /* A POST's body streamed back in two writes, status 201. */
  conn_sends(&c, "POST /post-sse HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 201);
  resp_free(&r);
  read_chunked(&c, body, sizeof body);
  CHECK(strcmp(body, "hello world") == 0);

  /* Refused streams: a bodiless status or missing arguments give a 500. */
  get(&c, "/bad-sse", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 500);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"internal_error\"");
  resp_free(&r);
  get(&c, "/bad-sse-args", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 500);
  resp_free(&r);
  get(&c, "/twice-sse", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  read_chunked(&c, body, sizeof body);
  CHECK(strcmp(body, "once") == 0);
  conn_close(&c);
  wait_sstat("ok", 6);
  CHECK_EQ_INT(sstat("other"), 0);
  CHECK_EQ_INT(sstat("canceled"), 0);
}

static void test_stream_basic(void) {
  reset_counters();
  with_server_handler(NULL, stream_handler, client_stream_basic);
}

static void client_stream_http10_head(void) {
  conn c;
  resp r;
  char v[128];
  /* HTTP/1.0: no chunks; the end of the body is the end of the connection,
   * even when the client asked for keep-alive. */
  for (int k = 0; k < 2; k++) {
    conn_open(&c);
    conn_sends(&c, k ? "GET /sse?n=3&interval=5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                     : "GET /sse?n=3&interval=5 HTTP/1.0\r\n\r\n");
    CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
    CHECK(strncmp(r.head, "HTTP/1.0 200", 12) == 0);
    CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "close"));
    CHECK(!find_header(r.head, "Transfer-Encoding", v, sizeof v));
    CHECK(!find_header(r.head, "Content-Length", v, sizeof v));
    resp_free(&r);
    size_t have = c.len;
    while (conn_fill(&c) > 0)
      have = c.len;
    CHECK_EQ_INT(have, strlen("data: 0\n\ndata: 1\n\ndata: 2\n\n"));
    CHECK(memcmp(c.buf, "data: 0\n\ndata: 1\n\ndata: 2\n\n", have) == 0);
    conn_close(&c);
  }

  /* HEAD: the headers a GET would get, no body; the connection goes on. */
  conn_open(&c);
  conn_sends(&c, "HEAD /sse?n=3&interval=5 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "Transfer-Encoding", v, sizeof v) && !strcasecmp(v, "chunked"));
  resp_free(&r);
  get(&c, "/id", "X-Request-Id: after-head\r\n");
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK(strcmp(r.body, "after-head") == 0);
  resp_free(&r);
  conn_close(&c);
  wait_sstat("ok", 3);
  CHECK_EQ_INT(sstat("canceled"), 0);
}

static void test_stream_http10_head(void) {
  reset_counters();
  with_server_handler(NULL, stream_handler, client_stream_http10_head);
}

static void client_stream_disconnect(void) {
  conn c;
  resp r;
  char chunk[256];
  /* The client leaves mid-stream. */
  conn_open(&c);
  get(&c, "/sse?n=1&hang=1", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  resp_free(&r);
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 9);
  conn_close(&c);
  wait_sstat("canceled", 1);

  /* Same with a reset. */
  conn_open(&c);
  get(&c, "/sse?n=1&hang=1", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  resp_free(&r);
  struct linger lg = {1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  conn_close(&c);
  wait_sstat("canceled", 2);

  /* A request sent while the stream is open ends it: the server closes. */
  conn_open(&c);
  get(&c, "/sse?n=1&hang=1", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  resp_free(&r);
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 9);
  get(&c, "/hello", NULL);
  CHECK(conn_sees_close(&c));
  conn_close(&c);
  wait_sstat("canceled", 3);

  /* Gone before a late stream started: the start is refused, no on_close. */
  conn_open(&c);
  get(&c, "/late-sse?ms=200", NULL);
  usleep(50 * 1000);
  conn_close(&c);
  wait_sstat("aborts", 1);
  wait_sstat("late_canceled", 1);
  CHECK_EQ_INT(sstat("canceled"), 3);
  CHECK_EQ_INT(sstat("ok"), 0);
}

static void test_stream_disconnect(void) {
  reset_counters();
  with_server_handler(NULL, stream_handler, client_stream_disconnect);
}

#define SLOW_MAX 65536

static void client_stream_slow(void) {
  conn c;
  /* A client that does not read: the writer fills the 64 KiB cap, gets
   * ENOSPC once and the connection is closed. */
  conn_open_rcvbuf(&c, 4096);
  char req[128];
  snprintf(req, sizeof req, "/sse?size=8000&max=%d", SLOW_MAX);
  get(&c, req, NULL);
  wait_sstat("nospc", 1);
  CHECK_EQ_INT(sstat("nospc_returns"), 1);
  int seen = sstat("max_seen");
  CHECK(seen > SLOW_MAX / 2);
  CHECK(seen <= SLOW_MAX);
  /* Whatever was on the wire arrives, then the close; nowhere near what the
   * writer would have produced unchecked. */
  size_t got = read_to_close(&c);
  CHECK(got > 0);
  CHECK(got < 16u << 20);
  conn_close(&c);

  /* One write larger than the cap fails at once, inside the handler: the
   * queued head goes with it and the connection just closes. */
  conn_open(&c);
  get(&c, "/toobig", NULL);
  CHECK_EQ_INT(read_to_close(&c), 0);
  conn_close(&c);
  wait_sstat("nospc", 2);
  CHECK_EQ_INT(sstat("nospc_returns"), 2);
  CHECK_EQ_INT(sstat("other"), 0);
}

static void test_stream_slow(void) {
  reset_counters();
  with_server_handler(NULL, stream_handler, client_stream_slow);
}

static void client_stream_stop(void) {
  conn a, b, s;
  resp r;
  char chunk[256];
  conn_open(&a);
  conn_open(&b);
  get(&a, "/sse?n=2&hang=1", NULL);
  get(&b, "/sse?n=1&hang=1&interval=10", NULL);
  CHECK_EQ_INT(read_resp(&a, &r, 1), 0);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&b, &r, 1), 0);
  resp_free(&r);
  CHECK_EQ_INT(read_chunk(&b, chunk, sizeof chunk), 9);
  conn_open(&s);
  get(&s, "/stop", NULL);
  CHECK_EQ_INT(read_resp(&s, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&s);
  /* Both streams end with their connections. */
  read_to_close(&a);
  read_to_close(&b);
  conn_close(&a);
  conn_close(&b);
}

static void test_stream_stop(void) {
  reset_counters();
  with_server_handler(NULL, stream_handler, client_stream_stop);
  CHECK_EQ_INT(g_sc_canceled, 2);
  CHECK_EQ_INT(g_sc_ok + g_sc_nospc + g_sc_other, 0);
}

static void client_stream_outlives_timeouts(void) {
  conn c;
  resp r;
  char chunk[64];
  /* An event every 1.2 s, with 1 s request and keep-alive timeouts. */
  conn_open(&c);
  get(&c, "/sse?n=2&interval=1200", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 1), 0);
  resp_free(&r);
  double t0 = now_ms();
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 9);
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 9);
  CHECK(strcmp(chunk, "data: 1\n\n") == 0);
  CHECK(now_ms() - t0 > 2000);
  CHECK_EQ_INT(read_chunk(&c, chunk, sizeof chunk), 0);
  /* Back to an idle keep-alive connection: its timeout applies again. */
  t0 = now_ms();
  CHECK(conn_sees_close(&c));
  CHECK(now_ms() - t0 < 3000);
  conn_close(&c);
  CHECK_EQ_INT(sstat("ok"), 1);
}

static void test_stream_outlives_timeouts(void) {
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.request_timeout_s = 1;
  o.keepalive_timeout_s = 1;
  reset_counters();
  with_server_handler(&o, stream_handler, client_stream_outlives_timeouts);
}

static void client_max_connections(void) {
  conn c[3], extra;
  resp r;
  for (int i = 0; i < 3; i++) {
    conn_open(&c[i]);
    get(&c[i], "/hello", NULL);
    CHECK_EQ_INT(read_resp(&c[i], &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
  }
  /* A fourth connection is closed at once, and so is the next. */
  for (int k = 0; k < 2; k++) {
    conn_open(&extra);
    CHECK(conn_sees_close(&extra));
    conn_close(&extra);
  }
  /* The three still work. */
  for (int i = 0; i < 3; i++) {
    get(&c[i], "/hello", NULL);
    CHECK_EQ_INT(read_resp(&c[i], &r, 0), 0);
    resp_free(&r);
  }
  /* Once one closes there is room again. */
  conn_close(&c[0]);
  int ok = 0;
  for (int tries = 0; tries < 100 && !ok; tries++) {
    conn_open(&extra);
    get(&extra, "/hello", NULL);
    if (read_resp(&extra, &r, 0) == 0) {
      CHECK_EQ_INT(r.status, 200);
      resp_free(&r);
      ok = 1;
    } else {
      usleep(20 * 1000);
    }
    conn_close(&extra);
  }
  CHECK(ok);
  conn_close(&c[1]);
  conn_close(&c[2]);
}

static void test_max_connections(void) {
  http_server_options o;
  memset(&o, 0, sizeof o);
  o.max_connections = 3;
  reset_counters();
  with_server_handler(&o, stream_handler, client_max_connections);
}

int main(void) {
  RUN(test_stream_basic);
  RUN(test_stream_http10_head);
  RUN(test_stream_disconnect);
  RUN(test_stream_slow);
  RUN(test_stream_stop);
  RUN(test_stream_outlives_timeouts);
  RUN(test_max_connections);
  CHECK_DONE();
}
