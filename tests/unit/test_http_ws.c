/* tests/unit/test_http_ws.c — the WebSocket endpoint over real sockets with a minimal client:
 * handshake, echo, fragments, pings, limits, refused upgrades, protocol errors, clients that
 * vanish or stop reading, and server stop with open WebSockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_fixture.h"

#define WS_PATH "/v1/ws"
#define MAX_MESSAGE 100000
#define MAX_BUFFERED 262144

/* ======================================================================== */
/* Server side (loop thread)                                                */
/* ======================================================================== */

static int g_opens, g_messages, g_burst_sent;
static int g_wc_ok, g_wc_canceled, g_wc_nospc, g_wc_big, g_wc_proto, g_wc_other;
static size_t g_ws_max_seen;

typedef struct {
  const char *xtest; /* X-Test as looked up in on_open */
  uv_timer_t *flood;
} ws_user;

static void free_handle(uv_handle_t *h) {
  free(h);
}

static void flood_tick(uv_timer_t *t) {
  http_ws *ws = t->data;
  static char block[4096];
  memset(block, 'f', sizeof block);
  int rc = http_ws_send(ws, block, sizeof block);
  if (http_ws_buffered(ws) > g_ws_max_seen)
    g_ws_max_seen = http_ws_buffered(ws);
  if (rc != 0) {
    CHECK_EQ_INT(rc, AGENTAI_ENOSPC);
    CHECK_EQ_INT(http_ws_send(ws, "x", 1), AGENTAI_ECANCELED);
    uv_timer_stop(t);
  }
}

static int ws_on_open(void *ud, http_ws *ws) {
  (void)ud;
  g_opens++;
  CHECK(http_ws_request_id(ws) != NULL);
  const char *refuse = http_ws_query_param(ws, "refuse");
  if (refuse) {
    int st = atoi(refuse);
    if (st == 401)
      CHECK_EQ_INT(http_ws_refuse_with(ws, "unauthorized", "invalid API key"), 0);
    return st;
  }
  ws_user *u = calloc(1, sizeof *u);
  CHECK(u != NULL);
  u->xtest = http_ws_header(ws, "X-Test");
  http_ws_set_user(ws, u);
  CHECK(http_ws_user(ws) == u);
  if (http_ws_query_param(ws, "hello"))
    CHECK_EQ_INT(http_ws_send(ws, "welcome", 7), 0);
  if (http_ws_query_param(ws, "closeopen"))
    http_ws_close(ws, 4001, "go away");
  return 0;
}

static void ws_on_message(void *ud, http_ws *ws, const char *data, size_t len, int is_binary) {
  (void)ud;
  g_messages++;
  CHECK(data[len] == '\0');
  ws_user *u = http_ws_user(ws);
  CHECK(u != NULL);
  /* After on_open, the headers looked up then still answer; others do not. */
  CHECK(http_ws_header(ws, "X-Test") == u->xtest);
  CHECK(http_ws_header(ws, "Host") == NULL);
  CHECK(http_ws_refuse_with(ws, "x", "y") == AGENTAI_EINVAL);
  if (!is_binary && !strcmp(data, "close")) {
    http_ws_close(ws, 4000, "bye");
    http_ws_close(ws, 1000, NULL); /* ignored */
    CHECK_EQ_INT(http_ws_send(ws, "x", 1), AGENTAI_ECANCELED);
    return;
  }
  if (!is_binary && !strcmp(data, "burst")) {
    /* Nothing can be written while we loop: the cap is hit in here. */
    static char block[4096];
    memset(block, 'b', sizeof block);
    int rc;
    while ((rc = http_ws_send(ws, block, sizeof block)) == 0) {
      g_burst_sent++;
      CHECK(http_ws_buffered(ws) <= MAX_BUFFERED);
    }
    CHECK_EQ_INT(rc, AGENTAI_ENOSPC);
    CHECK_EQ_INT(http_ws_send(ws, "x", 1), AGENTAI_ECANCELED);
    return;
  }
  if (!is_binary && !strcmp(data, "flood")) {
    u->flood = malloc(sizeof *u->flood);
    CHECK(u->flood != NULL);
    uv_timer_init(&g_loop, u->flood);
    u->flood->data = ws;
    uv_timer_start(u->flood, flood_tick, 1, 1);
    return;
  }
  if (!is_binary && !strcmp(data, "badutf8")) {
    CHECK_EQ_INT(http_ws_send(ws, "\xc3\x28", 2), AGENTAI_EINVAL);
    CHECK_EQ_INT(http_ws_send(ws, "\xed\xa0\x80", 3), AGENTAI_EINVAL); /* a surrogate */
    CHECK_EQ_INT(http_ws_send(ws, NULL, 1), AGENTAI_EINVAL);
    CHECK_EQ_INT(http_ws_send(ws, "refused", 7), 0);
    return;
  }
  int rc = is_binary ? http_ws_send_binary(ws, data, len) : http_ws_send(ws, data, len);
  CHECK_EQ_INT(rc, 0);
}

static void ws_on_close(void *ud, http_ws *ws, int reason) {
  (void)ud;
  CHECK_EQ_INT(http_ws_send(ws, "x", 1), AGENTAI_ECANCELED);
  ws_user *u = http_ws_user(ws);
  if (u && u->flood) {
    uv_timer_stop(u->flood);
    uv_close((uv_handle_t *)u->flood, free_handle);
  }
  free(u);
  if (reason == 0)
    g_wc_ok++;
  else if (reason == AGENTAI_ECANCELED)
    g_wc_canceled++;
  else if (reason == AGENTAI_ENOSPC)
    g_wc_nospc++;
  else if (reason == AGENTAI_E2BIG)
    g_wc_big++;
  else if (reason == AGENTAI_EINVAL)
    g_wc_proto++;
  else
    g_wc_other++;
}

static void ws_http_handler(void *ud, http_request *req) {
  if (!strcmp(http_request_path(req), "/wstats")) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"opens\":%d,\"messages\":%d,\"ok\":%d,\"canceled\":%d,\"nospc\":%d,\"big\":%d,"
             "\"proto\":%d,\"other\":%d,\"burst\":%d,\"max_seen\":%zu}",
             g_opens, g_messages, g_wc_ok, g_wc_canceled, g_wc_nospc, g_wc_big, g_wc_proto,
             g_wc_other, g_burst_sent, g_ws_max_seen);
    http_respond_json(req, 200, buf);
    return;
  }
  handler(ud, req);
}

static void ws_options(http_server_options *o) {
  memset(o, 0, sizeof *o);
  o->ws_path = WS_PATH;
  o->ws.on_open = ws_on_open;
  o->ws.on_message = ws_on_message;
  o->ws.on_close = ws_on_close;
  o->ws.max_message_bytes = MAX_MESSAGE;
  o->ws.max_buffered = MAX_BUFFERED;
}

static void run_ws(void (*client)(void)) {
  g_opens = g_messages = g_burst_sent = 0;
  g_wc_ok = g_wc_canceled = g_wc_nospc = g_wc_big = g_wc_proto = g_wc_other = 0;
  g_ws_max_seen = 0;
  http_server_options o;
  ws_options(&o);
  with_server_handler(&o, ws_http_handler, client);
}

/* ======================================================================== */
/* Client side: a minimal WebSocket client                                  */
/* ======================================================================== */

/* The example key of RFC 6455 and the accept value it must produce. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int wstat(const char *name) {
  resp r;
  get_once("/wstats", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(r.body, key);
  CHECK(p != NULL);
  int v = atoi(p + strlen(key));
  resp_free(&r);
  return v;
}

static void wait_wstat(const char *name, int want) {
  for (int i = 0; i < 500; i++) {
    if (wstat(name) >= want)
      break;
    usleep(10 * 1000);
  }
  CHECK_EQ_INT(wstat(name), want);
}

/* Sends an upgrade for target with the standard headers plus extra; reads the answer. */
static int ws_handshake(conn *c, const char *target, const char *extra, resp *r) {
  char req[2048];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
           "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
           target, extra ? extra : "");
  conn_sends(c, req);
  CHECK_EQ_INT(read_resp(c, r, 0), 0);
  return r->status;
}

/* A connection upgraded to a WebSocket on target, its 101 checked. */
static void ws_open(conn *c, const char *target, const char *extra) {
  resp r;
  char v[128];
  conn_open(c);
  CHECK_EQ_INT(ws_handshake(c, target, extra, &r), 101);
  CHECK(strncmp(r.head, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
  CHECK(find_header(r.head, "Upgrade", v, sizeof v) && !strcasecmp(v, "websocket"));
  CHECK(find_header(r.head, "Connection", v, sizeof v) && !strcasecmp(v, "upgrade"));
  CHECK(find_header(r.head, "Sec-WebSocket-Accept", v, sizeof v) && !strcmp(v, ACCEPT));
  CHECK(find_header(r.head, "Server", v, sizeof v) && !strcmp(v, "agentai"));
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v));
  CHECK(!find_header(r.head, "Content-Length", v, sizeof v));
  resp_free(&r);
}

/* Sends one frame; masked as a client must, unless masked is 0. */
static void ws_frame(conn *c, int fin, int op, const void *data, size_t len, int masked) {
  static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d};
  unsigned char *f = malloc(14 + len);
  CHECK(f != NULL);
  size_t hl = 2;
  f[0] = (unsigned char)((fin ? 0x80 : 0) | op);
  if (len < 126) {
    f[1] = (unsigned char)len;
  } else if (len <= 0xFFFF) {
    f[1] = 126;
    f[2] = (unsigned char)(len >> 8);
    f[3] = (unsigned char)len;
    hl = 4;
  } else {
    f[1] = 127;
    for (int i = 0; i < 8; i++)
      f[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    hl = 10;
  }
  if (masked) {
    f[1] |= 0x80;
    memcpy(f + hl, MASK, 4);
    hl += 4;
  }
  for (size_t i = 0; i < len; i++)
    f[hl + i] = ((const unsigned char *)data)[i] ^ (masked ? MASK[i & 3] : 0);
  conn_send(c, f, hl + len);
  free(f);
}

static void ws_text(conn *c, const char *s) {
  ws_frame(c, 1, 1, s, strlen(s), 1);
}

static void ws_close_frame(conn *c, int code, const char *reason) {
  unsigned char p[125];
  size_t n = 0;
  if (code) {
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    n = 2 + strlen(reason);
    memcpy(p + 2, reason, strlen(reason));
  }
  ws_frame(c, 1, 8, p, n, 1);
}

typedef struct {
  int fin, op;
  unsigned char *data; /* NUL-terminated */
  size_t len;
} frame;

/* Reads one server frame (which must be unmasked); -1 when the connection ends first. */
static int ws_read(conn *c, frame *f) {
  while (c->len < 2)
    if (conn_fill(c) <= 0)
      return -1;
  unsigned char *b = (unsigned char *)c->buf;
  CHECK(!(b[1] & 0x80));
  size_t hl = 2, len = b[1] & 0x7F;
  if (len == 126)
    hl = 4;
  else if (len == 127)
    hl = 10;
  while (c->len < hl)
    if (conn_fill(c) <= 0)
      return -1;
  b = (unsigned char *)c->buf;
  if (hl == 4)
    len = ((size_t)b[2] << 8) | b[3];
  else if (hl == 10) {
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | b[2 + i];
  }
  while (c->len < hl + len)
    if (conn_fill(c) <= 0)
      return -1;
  b = (unsigned char *)c->buf;
  f->fin = b[0] >> 7;
  f->op = b[0] & 0x0F;
  CHECK((b[0] & 0x70) == 0);
  f->data = malloc(len + 1);
  CHECK(f->data != NULL);
  memcpy(f->data, b + hl, len);
  f->data[len] = '\0';
  f->len = len;
  memmove(c->buf, c->buf + hl + len, c->len - hl - len);
  c->len -= hl + len;
  return 0;
}

static void expect_msg(conn *c, int op, const void *data, size_t len) {
  frame f;
  CHECK_EQ_INT(ws_read(c, &f), 0);
  CHECK_EQ_INT(f.fin, 1);
  CHECK_EQ_INT(f.op, op);
  CHECK_EQ_INT(f.len, len);
  CHECK(memcmp(f.data, data, len) == 0);
  free(f.data);
}

static void expect_text(conn *c, const char *s) {
  expect_msg(c, 1, s, strlen(s));
}

/* Reads the server's close frame: code, reason containing want_reason. */
static void expect_close(conn *c, int code, const char *want_reason) {
  frame f;
  CHECK_EQ_INT(ws_read(c, &f), 0);
  CHECK_EQ_INT(f.op, 8);
  CHECK(f.len >= 2);
  CHECK_EQ_INT((f.data[0] << 8) | f.data[1], code);
  if (want_reason)
    CHECK_STR_CONTAINS((const char *)f.data + 2, want_reason);
  free(f.data);
}

/* Nothing more after the close: the server ends the TCP connection. */
static void expect_eof(conn *c) {
  CHECK_EQ_INT(c->len, 0);
  CHECK(conn_sees_close(c));
}

/* Reads until the server closes; returns the bytes seen. */
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

/* ======================================================================== */
/* Tests                                                                    */
/* ======================================================================== */

static void client_ws_echo(void) {
  conn c;
  resp r;
  char v[128];
  conn_open(&c);
  CHECK_EQ_INT(ws_handshake(&c, WS_PATH "?hello=1", "X-Test: t1\r\nX-Request-Id: ws-1\r\n", &r),
               101);
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strcmp(v, "ws-1"));
  CHECK(find_header(r.head, "Sec-WebSocket-Accept", v, sizeof v) && !strcmp(v, ACCEPT));
  resp_free(&r);
  expect_text(&c, "welcome"); /* sent from on_open */

  ws_text(&c, "hello");
  expect_text(&c, "hello");
  ws_text(&c, "");
  expect_text(&c, "");
  ws_text(&c, "h\xc3\xa9llo \xf0\x9f\x98\x80"); /* UTF-8 both ways */
  expect_text(&c, "h\xc3\xa9llo \xf0\x9f\x98\x80");
  const unsigned char bin[] = {0, 1, 2, 0xff, 0xc3};
  ws_frame(&c, 1, 2, bin, sizeof bin, 1);
  expect_msg(&c, 2, bin, sizeof bin);
  /* 16-bit and 64-bit lengths, and exactly max_message_bytes. */
  size_t sizes[] = {300, 70000, MAX_MESSAGE};
  for (int i = 0; i < 3; i++) {
    char *big = malloc(sizes[i]);
    CHECK(big != NULL);
    for (size_t k = 0; k < sizes[i]; k++)
      big[k] = (char)('a' + k % 26);
    ws_frame(&c, 1, 1, big, sizes[i], 1);
    expect_msg(&c, 1, big, sizes[i]);
    free(big);
  }
  ws_text(&c, "badutf8");
  expect_text(&c, "refused");
  /* Ping: a pong with the same payload. */
  ws_frame(&c, 1, 9, "pp", 2, 1);
  expect_msg(&c, 10, "pp", 2);
  /* An unsolicited pong is ignored. */
  ws_frame(&c, 1, 10, "zz", 2, 1);
  ws_text(&c, "after pong");
  expect_text(&c, "after pong");
  /* The client closes: the server answers with the same code and hangs up. */
  ws_close_frame(&c, 1000, "done");
  expect_close(&c, 1000, NULL);
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 1);

  /* The server closes and the client answers. */
  ws_open(&c, WS_PATH, "X-Test: t2\r\n");
  ws_text(&c, "close");
  expect_close(&c, 4000, "bye");
  ws_close_frame(&c, 4000, "");
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 2);

  /* The server closes and the client never answers: its FIN tells the client. */
  ws_open(&c, WS_PATH, NULL);
  ws_text(&c, "close");
  expect_close(&c, 4000, "bye");
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 3);

  /* Closed from on_open: the 101, then the close frame. */
  ws_open(&c, WS_PATH "?closeopen=1", NULL);
  expect_close(&c, 4001, "go away");
  ws_close_frame(&c, 1000, "");
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 4);
  CHECK_EQ_INT(wstat("other") + wstat("canceled") + wstat("proto"), 0);
}

static void test_ws_echo(void) {
  run_ws(client_ws_echo);
}

static void client_ws_fragments(void) {
  conn c;
  ws_open(&c, WS_PATH, "X-Test: frag\r\n");
  /* A ping in the middle of a fragmented message is answered at once. */
  ws_frame(&c, 0, 1, "Hel", 3, 1);
  ws_frame(&c, 1, 9, "x", 1, 1);
  ws_frame(&c, 0, 0, "lo ", 3, 1);
  ws_frame(&c, 1, 0, "world", 5, 1);
  expect_msg(&c, 10, "x", 1);
  expect_text(&c, "Hello world");
  /* Binary, and a UTF-8 character split across two fragments. */
  ws_frame(&c, 0, 2, "\x01\x02", 2, 1);
  ws_frame(&c, 1, 0, "\x03", 1, 1);
  expect_msg(&c, 2, "\x01\x02\x03", 3);
  ws_frame(&c, 0, 1, "caf\xc3", 4, 1);
  ws_frame(&c, 0, 0, "", 0, 1);
  ws_frame(&c, 1, 0, "\xa9", 1, 1);
  expect_text(&c, "caf\xc3\xa9");
  /* Byte by byte across reads. */
  unsigned char f[] = {0x81, 0x82, 1, 2, 3, 4, 'o' ^ 1, 'k' ^ 2};
  for (size_t i = 0; i < sizeof f; i++) {
    conn_send(&c, f + i, 1);
    usleep(2000);
  }
  expect_text(&c, "ok");
  conn_close(&c);
  wait_wstat("canceled", 1);
  CHECK_EQ_INT(wstat("messages"), 4);
}

static void test_ws_fragments(void) {
  run_ws(client_ws_fragments);
}

static void client_ws_oversize(void) {
  conn c;
  char *big = malloc(MAX_MESSAGE + 1);
  CHECK(big != NULL);
  memset(big, 'a', MAX_MESSAGE + 1);
  /* One frame over the limit: 1009, refused from its header. */
  ws_open(&c, WS_PATH, NULL);
  ws_frame(&c, 1, 1, big, MAX_MESSAGE + 1, 1);
  expect_close(&c, 1009, "too big");
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("big", 1);
  /* Fragments that add up to more than the limit. */
  ws_open(&c, WS_PATH, NULL);
  ws_frame(&c, 0, 2, big, 60000, 1);
  ws_frame(&c, 1, 0, big, MAX_MESSAGE + 1 - 60000, 1);
  expect_close(&c, 1009, NULL);
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("big", 2);
  free(big);
  /* The server carries on. */
  ws_open(&c, WS_PATH, NULL);
  ws_text(&c, "still here");
  expect_text(&c, "still here");
  ws_close_frame(&c, 1001, "");
  expect_close(&c, 1001, NULL);
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 1);
}

static void test_ws_oversize(void) {
  run_ws(client_ws_oversize);
}

static void client_ws_refused(void) {
  conn c;
  resp r;
  char v[256];
  /* Refused by on_open with its own type and message; keep-alive goes on. */
  conn_open(&c);
  CHECK_EQ_INT(ws_handshake(&c, WS_PATH "?refuse=401", "X-Request-Id: refused-1\r\n", &r), 401);
  CHECK(find_header(r.head, "Content-Type", v, sizeof v) && !strcmp(v, "application/json"));
  CHECK(find_header(r.head, "X-Request-Id", v, sizeof v) && !strcmp(v, "refused-1"));
  CHECK(!find_header(r.head, "Upgrade", v, sizeof v));
  CHECK_STR_CONTAINS(r.body, "\"type\":\"unauthorized\"");
  CHECK_STR_CONTAINS(r.body, "\"message\":\"invalid API key\"");
  CHECK_STR_CONTAINS(r.body, "\"request_id\":\"refused-1\"");
  resp_free(&r);
  get(&c, "/hello", NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  /* Default type for the status; any other value is a 500. */
  CHECK_EQ_INT(ws_handshake(&c, WS_PATH "?refuse=404", NULL, &r), 404);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"not_found\"");
  resp_free(&r);
  CHECK_EQ_INT(ws_handshake(&c, WS_PATH "?refuse=7", NULL, &r), 500);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"internal_error\"");
  resp_free(&r);
  conn_close(&c);

  /* Malformed upgrades never reach on_open. */
  struct {
    const char *req;
    int status;
    const char *needle;
  } bad[] = {
      {"GET " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Sec-WebSocket-Key"},
      {"GET " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "Sec-WebSocket-Key"},
      {"GET " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n",
       426, "Sec-WebSocket-Version"},
      {"GET " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
       "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "Connection"},
      {"POST " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
       400, "GET"},
      {"GET " WS_PATH " HTTP/1.0\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "HTTP/1.1"},
      {"GET " WS_PATH " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 3\r\n\r\nabc",
       400, "body"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    conn_open(&c);
    conn_sends(&c, bad[i].req);
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, bad[i].status);
    CHECK_STR_CONTAINS(r.body, bad[i].needle);
    CHECK(find_header(r.head, "X-Request-Id", v, sizeof v));
    if (bad[i].status == 426)
      CHECK(find_header(r.head, "Sec-WebSocket-Version", v, sizeof v) && !strcmp(v, "13"));
    resp_free(&r);
    conn_close(&c);
  }

  /* An upgrade for another path is plain HTTP; the ws path without Upgrade reaches the handler. */
  conn_open(&c);
  CHECK_EQ_INT(ws_handshake(&c, "/hello", NULL, &r), 200);
  CHECK(strcmp(r.body, "{\"hello\":\"world\"}") == 0);
  resp_free(&r);
  get(&c, WS_PATH, NULL);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK_STR_CONTAINS(r.body, "no route");
  resp_free(&r);
  conn_close(&c);
  CHECK_EQ_INT(wstat("opens"), 3);
  CHECK_EQ_INT(wstat("ok") + wstat("canceled") + wstat("other"), 0); /* refused: no on_close */
}

static void test_ws_refused(void) {
  run_ws(client_ws_refused);
}

static void client_ws_bad_frames(void) {
  static const unsigned char RAW_UNMASKED[] = {0x81, 0x02, 'h', 'i'};
  struct {
    int fin, op, masked;
    const char *data;
    size_t len;
    int code;
  } bad[] = {
      {1, 0x1 | 0x40, 1, "hi", 2, 1002}, /* RSV1 without an extension */
      {1, 0x3, 1, "hi", 2, 1002},        /* unknown opcode */
      {0, 0x9, 1, "hi", 2, 1002},        /* fragmented ping */
      {1, 0x0, 1, "hi", 2, 1002},        /* continuation outside a message */
      {1, 0x1, 1, "\xc3\x28", 2, 1007},  /* not UTF-8 */
      {1, 0x8, 1, "\x03\xed", 2, 1002},  /* close code 1005 may not be sent */
      {1, 0x8, 1, "\x03", 1, 1002},      /* one-byte close payload */
      {1, 0x8, 1, "\x03\xe8\xff", 3, 1007},
  };
  conn c;
  /* An unmasked client frame. */
  ws_open(&c, WS_PATH, NULL);
  conn_send(&c, RAW_UNMASKED, sizeof RAW_UNMASKED);
  expect_close(&c, 1002, "masked");
  expect_eof(&c);
  conn_close(&c);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ws_open(&c, WS_PATH, NULL);
    ws_frame(&c, bad[i].fin, bad[i].op, bad[i].data, bad[i].len, bad[i].masked);
    expect_close(&c, bad[i].code, NULL);
    expect_eof(&c);
    conn_close(&c);
  }
  /* A control frame over 125 bytes, and a new message inside a fragmented one. */
  char pad[200];
  memset(pad, 'p', sizeof pad);
  ws_open(&c, WS_PATH, NULL);
  ws_frame(&c, 1, 9, pad, sizeof pad, 1);
  expect_close(&c, 1002, NULL);
  expect_eof(&c);
  conn_close(&c);
  ws_open(&c, WS_PATH, NULL);
  ws_frame(&c, 0, 1, "a", 1, 1);
  ws_frame(&c, 1, 1, "b", 1, 1);
  expect_close(&c, 1002, NULL);
  expect_eof(&c);
  conn_close(&c);
  int n = 1 + (int)(sizeof bad / sizeof bad[0]) + 2;
  wait_wstat("proto", n);
  CHECK_EQ_INT(wstat("messages"), 0);
  /* The server lives. */
  ws_open(&c, WS_PATH, NULL);
  ws_text(&c, "alive");
  expect_text(&c, "alive");
  conn_close(&c);
  wait_wstat("canceled", 1);
}

static void test_ws_bad_frames(void) {
  run_ws(client_ws_bad_frames);
}

static void client_ws_gone_and_slow(void) {
  conn c;
  /* The client vanishes, cleanly and with a reset. */
  ws_open(&c, WS_PATH, NULL);
  ws_text(&c, "x");
  expect_text(&c, "x");
  conn_close(&c);
  wait_wstat("canceled", 1);
  ws_open(&c, WS_PATH, NULL);
  struct linger lg = {1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  conn_close(&c);
  wait_wstat("canceled", 2);

  /* Over the cap inside one callback: what was queued is dropped and only a
   * 1008 close frame goes out. */
  ws_open(&c, WS_PATH, NULL);
  ws_text(&c, "burst");
  expect_close(&c, 1008, "send buffer full");
  ws_close_frame(&c, 1008, "");
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("nospc", 1);
  int burst = wstat("burst");
  CHECK(burst >= MAX_BUFFERED / 4200 - 1 && burst <= MAX_BUFFERED / 4096);

  /* A client that stops reading while the server keeps sending: cut off at
   * the cap, its connection closed after the close handshake times out. */
  resp r;
  conn_open_rcvbuf(&c, 4096);
  CHECK_EQ_INT(ws_handshake(&c, WS_PATH, NULL, &r), 101);
  resp_free(&r);
  ws_text(&c, "flood");
  wait_wstat("nospc", 2);
  int seen = wstat("max_seen");
  CHECK(seen > MAX_BUFFERED / 2 && seen <= MAX_BUFFERED);
  size_t got = read_to_close(&c);
  CHECK(got > 0 && got < (16u << 20));
  conn_close(&c);
  CHECK_EQ_INT(wstat("other"), 0);
}

static void test_ws_gone_and_slow(void) {
  run_ws(client_ws_gone_and_slow);
}

static void client_ws_stop(void) {
  conn a, b, s;
  resp r;
  ws_open(&a, WS_PATH, NULL);
  ws_open(&b, WS_PATH, NULL);
  ws_text(&a, "before stop");
  expect_text(&a, "before stop");
  conn_open(&s);
  get(&s, "/stop", NULL);
  CHECK_EQ_INT(read_resp(&s, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&s);
  expect_close(&a, 1001, "shutting down");
  expect_eof(&a);
  expect_close(&b, 1001, "shutting down");
  expect_eof(&b);
  conn_close(&a);
  conn_close(&b);
}

static void test_ws_stop(void) {
  run_ws(client_ws_stop);
  CHECK_EQ_INT(g_wc_canceled, 2);
  CHECK_EQ_INT(g_wc_ok + g_wc_nospc + g_wc_big + g_wc_proto + g_wc_other, 0);
}

static void client_ws_idle(void) {
  conn c;
  /* Idle for longer than the request and keep-alive timeouts (1 s). */
  ws_open(&c, WS_PATH, NULL);
  usleep(2200 * 1000);
  ws_text(&c, "still open");
  expect_text(&c, "still open");
  ws_close_frame(&c, 1000, "");
  expect_close(&c, 1000, NULL);
  expect_eof(&c);
  conn_close(&c);
  wait_wstat("ok", 1);
}

static void test_ws_idle(void) {
  g_opens = g_messages = g_burst_sent = 0;
  g_wc_ok = g_wc_canceled = g_wc_nospc = g_wc_big = g_wc_proto = g_wc_other = 0;
  http_server_options o;
  ws_options(&o);
  o.request_timeout_s = 1;
  o.keepalive_timeout_s = 1;
  with_server_handler(&o, ws_http_handler, client_ws_idle);
}

static void test_ws_bad_options(void) {
  uv_loop_t loop;
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  http_server_options o;
  ws_options(&o);
  o.ws_path = "v1/ws";
  http_server *srv = NULL;
  char err[256];
  CHECK_EQ_INT(http_server_start(&loop, "127.0.0.1", 0, handler, NULL, &o, &srv, err, sizeof err),
               AGENTAI_EINVAL);
  CHECK(srv == NULL);
  CHECK_STR_CONTAINS(err, "ws_path");
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN(test_ws_echo);
  RUN(test_ws_fragments);
  RUN(test_ws_oversize);
  RUN(test_ws_refused);
  RUN(test_ws_bad_frames);
  RUN(test_ws_gone_and_slow);
  RUN(test_ws_stop);
  RUN(test_ws_idle);
  RUN(test_ws_bad_options);
  CHECK_DONE();
}
