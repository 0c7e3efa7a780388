/* http/ws.c — the WebSocket endpoint (RFC 6455): the upgrade, client frames parsed and messages
 * reassembled, sends with a cap on what may wait unsent, and the close handshake. */
#include "http/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "agentai/plugin.h"
#include "core/log.h"
#include "core/utf8.h"

/*
 * Why not the WebSocket role of libwebsockets: lws 4.1 accepts unmasked
 * client frames (RFC 6455 5.1 says a server MUST close on them) and gives no
 * way to tell. So the upgrade request is served as plain HTTP, the 101 is
 * ours, and the connection then stays in lws's HTTP role mid-transaction:
 * lws writes what we queue; we read the socket through a watcher, as for
 * streams, and parse frames here.
 */

#define DEFAULT_MAX_MESSAGE ((size_t)64 << 10)
#define DEFAULT_MAX_BUFFERED ((size_t)1 << 20)
#define MAX_LIMIT ((size_t)1 << 30)
/* How long a close handshake we started may take before the socket is closed. */
#define CLOSE_WAIT_MS 2000
/* A message buffer larger than this is freed after its message. */
#define KEEP_MSG_BUF 4096
#define READ_ROUNDS 4

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };
enum { FEED_OK = 0, FEED_KILL = 1 };

struct http_ws {
  http_conn c;       /* first: a ws is a conn */
  http_request *req; /* the upgrade request: header cache, query, id */
  void *user;
  void *ud;
  void (*on_message)(void *ud, http_ws *ws, const char *data, size_t len, int is_binary);
  void (*on_close)(void *ud, http_ws *ws, int reason);
  size_t max_message;
  const char *refuse_type, *refuse_msg; /* in req's arena */

  unsigned in_open : 1;
  unsigned close_queued : 1; /* our close frame is queued; nothing may follow it */
  unsigned close_sent : 1;   /* ... and written */
  unsigned peer_closed : 1;  /* the client's close frame arrived */
  unsigned failed : 1;       /* the client broke the protocol: its bytes are ignored */
  unsigned in_payload : 1;

  /* The frame being parsed. */
  unsigned char hdr[14];
  unsigned hdr_len, hdr_need; /* hdr_need 0: the first two bytes are not in yet */
  unsigned char mask[4];
  int op, fin;
  uint64_t left, done; /* payload bytes to come / read */

  /* The message being reassembled, and the control frame's payload. */
  int msg_op; /* OP_TEXT or OP_BINARY while a message is open, else 0 */
  unsigned char *msg;
  size_t msg_len, msg_cap;
  unsigned char ctl[125];
  size_t ctl_len;
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Codes an endpoint may put in a close frame (RFC 6455 7.4 and the IANA registry). */
static int close_code_ok(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

/* 1 when the comma-separated header value holds token (case-insensitive). */
static int has_token(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (v && *v) {
    while (*v == ' ' || *v == '\t' || *v == ',')
      v++;
    const char *e = v;
    while (*e && *e != ',')
      e++;
    const char *t = e;
    while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
      t--;
    if ((size_t)(t - v) == tl && strncasecmp(v, token, tl) == 0)
      return 1;
    v = e;
  }
  return 0;
}

/* Sec-WebSocket-Key must be 16 bytes in base64: 22 characters and "==". */
static int key_ok(const char *k) {
  static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!k || strlen(k) != 24 || strcmp(k + 22, "==") != 0)
    return 0;
  for (int i = 0; i < 22; i++)
    if (!strchr(B64, k[i]))
      return 0;
  return 1;
}

static int accept_value(const char *key, char out[64]) {
  static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char in[64];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  int n = snprintf(in, sizeof in, "%s%s", key, GUID);
  if (n <= 0 || (size_t)n >= sizeof in || !EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL))
    return -1;
  return EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen) > 0 ? 0 : -1;
}

/* A close frame's payload: the code, then reason cut to 123 bytes at a
 * character boundary (dropped when it is not UTF-8). */
static size_t close_payload(unsigned char out[125], int code, const char *reason) {
  out[0] = (unsigned char)(code >> 8);
  out[1] = (unsigned char)(code & 0xFF);
  size_t n = reason ? strlen(reason) : 0;
  if (n > 123) {
    n = 123;
    while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
      n--;
  }
  if (n && !utf8_valid(reason, n))
    n = 0;
  if (n)
    memcpy(out + 2, reason, n);
  return n + 2;
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

static size_t frame_head_len(size_t len) {
  return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
}

static int queue_frame(http_ws *ws, int op, const void *data, size_t len) {
  size_t hl = frame_head_len(len);
  unsigned char *p = http__outq_reserve(&ws->c.q, hl + len, 1);
  if (!p)
    return AGENTAI_ENOMEM;
  p[0] = (unsigned char)(0x80 | op); /* FIN: the server never fragments */
  if (hl == 2) {
    p[1] = (unsigned char)len;
  } else if (hl == 4) {
    p[1] = 126;
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)(len & 0xFF);
  } else {
    p[1] = 127;
    for (int i = 0; i < 8; i++)
      p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
  }
  if (len)
    memcpy(p + hl, data, len);
  if (ws->c.wsi)
    lws_callback_on_writable(ws->c.wsi);
  return 0;
}

/* Queues our close frame, after what is queued or (drop) instead of it, and
 * gives the handshake CLOSE_WAIT_MS to finish. why becomes the on_close reason. */
static void start_close(http_ws *ws, int code, const char *reason, int why, int drop) {
  http__conn_reason(&ws->c, why);
  if (ws->close_queued)
    return;
  if (drop)
    http__outq_clear(&ws->c.q);
  unsigned char pl[125];
  size_t n = close_payload(pl, code, reason);
  ws->close_queued = 1;
  if (queue_frame(ws, OP_CLOSE, pl, n) < 0)
    http__conn_kill_later(&ws->c);
  http__conn_set_deadline(&ws->c, CLOSE_WAIT_MS);
}

/* The client broke the protocol: say why and stop listening to it. */
static void fail(http_ws *ws, int code, const char *why, int reason) {
  log_printf(AGENTAI_LOG_INFO, "http", "closing WebSocket %s with %d: %s", ws->c.id, code, why);
  start_close(ws, code, why, reason, 1);
  ws->failed = 1;
}

static int queue_checked(http_ws *ws, int op, const void *data, size_t len) {
  size_t max = ws->c.max_buffered, pending = ws->c.q.bytes + ws->c.inflight;
  size_t frame = len <= max ? frame_head_len(len) + len : 0;
  if (!frame || frame > max || pending > max - frame) {
    log_printf(AGENTAI_LOG_INFO, "http",
               "closing WebSocket %s: %zu bytes unsent, over its limit of %zu", ws->c.id,
               pending + len, max);
    start_close(ws, 1008, "send buffer full", AGENTAI_ENOSPC, 1);
    return AGENTAI_ENOSPC;
  }
  return queue_frame(ws, op, data, len);
}

static int ws_send(http_ws *ws, int op, const void *data, size_t len) {
  if (!ws || (len && !data))
    return AGENTAI_EINVAL;
  if (ws->c.finished || ws->close_queued || ws->c.kill_pending)
    return AGENTAI_ECANCELED;
  if (op == OP_TEXT && !utf8_valid(data, len))
    return AGENTAI_EINVAL;
  return queue_checked(ws, op, data, len);
}

int http_ws_send(http_ws *ws, const char *text, size_t len) {
  return ws_send(ws, OP_TEXT, text, len);
}

int http_ws_send_binary(http_ws *ws, const void *data, size_t len) {
  return ws_send(ws, OP_BINARY, data, len);
}

void http_ws_close(http_ws *ws, int code, const char *reason) {
  if (!ws || ws->c.finished || ws->close_queued)
    return;
  start_close(ws, close_code_ok(code) ? code : 1000, reason, 0, 0);
}

void http__ws_send_close_now(http_ws *ws, int code, const char *reason) {
  struct lws *wsi = ws->c.wsi;
  /* Only between frames: our close frame already went, or lws holds part of one. */
  if (!wsi || (ws->close_queued && !ws->c.q.head) || lws_partial_buffered(wsi))
    return;
  unsigned char buf[LWS_PRE + 2 + 125], *p = buf + LWS_PRE;
  size_t n = close_payload(p + 2, code, reason);
  p[0] = 0x80 | OP_CLOSE;
  p[1] = (unsigned char)n;
  (void)lws_write(wsi, p, n + 2, LWS_WRITE_HTTP);
  ws->close_queued = ws->close_sent = 1;
  int fd = http__conn_fd(&ws->c);
  if (fd >= 0)
    shutdown(fd, SHUT_WR);
}

int http__ws_drained(http_ws *ws) {
  if (!ws->close_queued)
    return 0;
  /* Nothing is queued behind a close frame: it is out. */
  if (!ws->close_sent) {
    ws->close_sent = 1;
    /* A FIN after it tells a client that never answers close frames we are done. */
    int fd = http__conn_fd(&ws->c);
    if (fd >= 0)
      shutdown(fd, SHUT_WR);
  }
  if (ws->peer_closed)
    return -1; /* the handshake is complete: the server closes the TCP connection */
  return 0;    /* wait for the client's close frame or its FIN, until the deadline */
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

/* The first two header bytes are in: check them, learn the header's length. */
static void header_start(http_ws *ws) {
  unsigned char b0 = ws->hdr[0], b1 = ws->hdr[1];
  ws->fin = b0 >> 7;
  ws->op = b0 & 0x0F;
  unsigned len7 = b1 & 0x7F;
  if (b0 & 0x70) {
    fail(ws, 1002, "reserved bits set without an extension", AGENTAI_EINVAL);
    return;
  }
  if (!(ws->op <= OP_BINARY || (ws->op >= OP_CLOSE && ws->op <= OP_PONG))) {
    fail(ws, 1002, "unknown opcode", AGENTAI_EINVAL);
    return;
  }
  if (!(b1 & 0x80)) {
    fail(ws, 1002, "client frames must be masked", AGENTAI_EINVAL);
    return;
  }
  if (ws->op >= OP_CLOSE && (!ws->fin || len7 > 125)) {
    fail(ws, 1002, "control frames must be unfragmented and at most 125 bytes", AGENTAI_EINVAL);
    return;
  }
  ws->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
}

/* The whole header is in: payload length, mask, message bookkeeping. */
static void header_done(http_ws *ws) {
  unsigned len7 = ws->hdr[1] & 0x7F, m = 2;
  uint64_t len = len7;
  if (len7 == 126) {
    len = ((uint64_t)ws->hdr[2] << 8) | ws->hdr[3];
    m = 4;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | ws->hdr[2 + i];
    m = 10;
    if (len >> 63) {
      fail(ws, 1002, "payload length with the top bit set", AGENTAI_EINVAL);
      return;
    }
  }
  memcpy(ws->mask, ws->hdr + m, 4);
  ws->left = len;
  ws->done = 0;
  ws->in_payload = 1;
  if (ws->op >= OP_CLOSE) {
    ws->ctl_len = 0;
    return;
  }
  if (ws->op == OP_CONT && !ws->msg_op) {
    fail(ws, 1002, "continuation frame outside a message", AGENTAI_EINVAL);
    return;
  }
  if (ws->op != OP_CONT) {
    if (ws->msg_op) {
      fail(ws, 1002, "new message before the previous one ended", AGENTAI_EINVAL);
      return;
    }
    ws->msg_op = ws->op;
    ws->msg_len = 0;
  }
  if (len > ws->max_message - ws->msg_len) {
    fail(ws, 1009, "message too big", AGENTAI_E2BIG);
    return;
  }
  size_t need = ws->msg_len + (size_t)len + 1;
  if (need > ws->msg_cap) {
    size_t cap = ws->msg_cap ? ws->msg_cap : 256;
    while (cap < need)
      cap = cap > ws->max_message ? need : cap * 2;
    unsigned char *p = realloc(ws->msg, cap);
    if (!p) {
      fail(ws, 1011, "out of memory", AGENTAI_ENOMEM);
      return;
    }
    ws->msg = p;
    ws->msg_cap = cap;
  }
}

static int on_close_frame(http_ws *ws) {
  int code = 0;
  if (ws->ctl_len == 1) {
    fail(ws, 1002, "close frame with a one-byte payload", AGENTAI_EINVAL);
    return FEED_OK;
  }
  if (ws->ctl_len >= 2) {
    code = (ws->ctl[0] << 8) | ws->ctl[1];
    if (!close_code_ok(code)) {
      fail(ws, 1002, "invalid close code", AGENTAI_EINVAL);
      return FEED_OK;
    }
    if (!utf8_valid((const char *)ws->ctl + 2, ws->ctl_len - 2)) {
      fail(ws, 1007, "close reason is not UTF-8", AGENTAI_EINVAL);
      return FEED_OK;
    }
  }
  ws->peer_closed = 1;
  if (ws->close_queued) /* the answer to ours: done once ours is out */
    return ws->close_sent ? FEED_KILL : FEED_OK;
  /* The client started it: answer at once with its code, dropping what is unsent. */
  http__conn_reason(&ws->c, 0);
  http__outq_clear(&ws->c.q);
  ws->close_queued = 1;
  if (queue_frame(ws, OP_CLOSE, ws->ctl, code ? 2 : 0) < 0)
    return FEED_KILL;
  http__conn_set_deadline(&ws->c, CLOSE_WAIT_MS);
  return FEED_OK;
}

static int frame_done(http_ws *ws) {
  ws->in_payload = 0;
  ws->hdr_len = ws->hdr_need = 0;
  switch (ws->op) {
    case OP_CLOSE:
      return on_close_frame(ws);
    case OP_PING:
      if (!ws->close_queued)
        (void)queue_checked(ws, OP_PONG, ws->ctl, ws->ctl_len);
      return FEED_OK;
    case OP_PONG:
      return FEED_OK;
    default:
      break;
  }
  if (!ws->fin)
    return FEED_OK;
  int op = ws->msg_op;
  size_t len = ws->msg_len;
  ws->msg_op = 0;
  ws->msg_len = 0;
  if (op == OP_TEXT && !utf8_valid((const char *)ws->msg, len)) {
    fail(ws, 1007, "text message is not UTF-8", AGENTAI_EINVAL);
    return FEED_OK;
  }
  if (!ws->close_queued && ws->on_message) {
    ws->msg[len] = '\0';
    ws->on_message(ws->ud, ws, (const char *)ws->msg, len, op == OP_BINARY);
  }
  if (ws->msg_cap > KEEP_MSG_BUF) {
    free(ws->msg);
    ws->msg = NULL;
    ws->msg_cap = 0;
  }
  return FEED_OK;
}

static int ws_feed(http_ws *ws, const unsigned char *p, size_t n) {
  while (n > 0) {
    if (ws->failed)
      return FEED_OK; /* what follows a protocol error means nothing */
    if (!ws->in_payload) {
      unsigned need = ws->hdr_need ? ws->hdr_need : 2;
      size_t take = need - ws->hdr_len < n ? need - ws->hdr_len : n;
      memcpy(ws->hdr + ws->hdr_len, p, take);
      ws->hdr_len += (unsigned)take;
      p += take;
      n -= take;
      if (!ws->hdr_need && ws->hdr_len == 2)
        header_start(ws);
      if (ws->failed || !ws->hdr_need || ws->hdr_len < ws->hdr_need)
        continue;
      header_done(ws);
      if (!ws->failed && ws->left == 0 && frame_done(ws) == FEED_KILL)
        return FEED_KILL;
      continue;
    }
    size_t take = ws->left < n ? (size_t)ws->left : n;
    unsigned char *dst = ws->op >= OP_CLOSE ? ws->ctl + ws->ctl_len : ws->msg + ws->msg_len;
    for (size_t i = 0; i < take; i++)
      dst[i] = p[i] ^ ws->mask[(ws->done + i) & 3];
    if (ws->op >= OP_CLOSE)
      ws->ctl_len += take;
    else
      ws->msg_len += take;
    ws->done += take;
    ws->left -= take;
    p += take;
    n -= take;
    if (ws->left == 0 && frame_done(ws) == FEED_KILL)
      return FEED_KILL;
  }
  return FEED_OK;
}

static void on_ws_socket(void *owner, int status) {
  http_ws *ws = owner;
  http_conn *c = &ws->c;
  unsigned char buf[16384];
  int gone = status < 0;
  for (int i = 0; !gone && i < READ_ROUNDS; i++) {
    ssize_t n = recv(http__conn_fd(c), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0) {
      gone = 1; /* FIN or reset */
      break;
    }
    if (ws_feed(ws, buf, (size_t)n) == FEED_KILL) {
      http__conn_kill_now(c);
      return;
    }
  }
  /* Otherwise more may be left to read: the poll is level-triggered. */
  if (gone) {
    http__conn_reason(c, AGENTAI_ECANCELED);
    http__conn_kill_now(c);
  }
}

/* ------------------------------------------------------------------------ */
/* Upgrade                                                                  */
/* ------------------------------------------------------------------------ */

static const char *refuse_type_for(int status) {
  switch (status) {
    case 400:
      return "invalid_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal_error" : "refused";
  }
}

static int write_101(http_ws *ws, const char *key) {
  char acc[64];
  if (accept_value(key, acc) < 0)
    return -1;
  const char *sn = ws->c.srv->server_name;
  size_t cap = 256 + (sn ? strlen(sn) : 0) + strlen(ws->c.id);
  unsigned char *buf = malloc(LWS_PRE + cap);
  if (!buf)
    return -1;
  int n = snprintf((char *)buf + LWS_PRE, cap,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s"
                   "X-Request-Id: %s\r\n\r\n",
                   acc, sn ? "Server: " : "", sn ? sn : "", sn ? "\r\n" : "", ws->c.id);
  int w = n > 0 && (size_t)n < cap
              ? lws_write(ws->c.wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS)
              : -1;
  free(buf);
  return w < n ? -1 : 0;
}

int http__ws_upgrade(http_request *req) {
  http_server *srv = req->srv;
  const char *key = http_request_header(req, "sec-websocket-key");
  const char *ver = http_request_header(req, "sec-websocket-version");
  const char *err = NULL;
  int status = 400;
  if (strcmp(req->method, "GET") != 0)
    err = "a WebSocket upgrade must be a GET";
  else if (req->http10)
    err = "a WebSocket upgrade needs HTTP/1.1";
  else if (!has_token(http_request_header(req, "connection"), "upgrade"))
    err = "the Connection header of a WebSocket upgrade must list \"Upgrade\"";
  else if (!ver || strcmp(ver, "13") != 0) {
    status = 426;
    err = "unsupported Sec-WebSocket-Version (this server speaks 13)";
  } else if (!key_ok(key))
    err = "Sec-WebSocket-Key must be 16 bytes in base64";
  if (err)
    return http__reject(req, status, status == 426 ? "upgrade_required" : "invalid_request", err,
                        status == 426 ? "Sec-WebSocket-Version" : NULL, "13");

  http_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return -1; /* the close path frees req */
  ws->c.kind = HTTP_CONN_WS;
  ws->req = req;
  ws->ud = srv->ud;
  ws->on_message = srv->ws.on_message;
  ws->on_close = srv->ws.on_close;
  ws->max_message = srv->ws.max_message_bytes ? srv->ws.max_message_bytes : DEFAULT_MAX_MESSAGE;
  ws->c.max_buffered = srv->ws.max_buffered ? srv->ws.max_buffered : DEFAULT_MAX_BUFFERED;
  if (ws->max_message > MAX_LIMIT)
    ws->max_message = MAX_LIMIT;
  if (ws->c.max_buffered > MAX_LIMIT)
    ws->c.max_buffered = MAX_LIMIT;

  ws->in_open = 1;
  int rc = srv->ws.on_open ? srv->ws.on_open(srv->ud, ws) : 0;
  ws->in_open = 0;
  if (rc != 0) {
    int st = rc >= 400 && rc <= 599 ? rc : 500;
    const char *type = ws->refuse_type ? ws->refuse_type : refuse_type_for(st);
    const char *msg = ws->refuse_msg           ? ws->refuse_msg
                      : st == 500 && rc != 500 ? "the WebSocket endpoint failed to open"
                                               : "WebSocket upgrade refused";
    http__outq_clear(&ws->c.q);
    free(ws->msg);
    free(ws);
    return http__reject(req, st, type, msg, NULL, NULL); /* the strings live in req */
  }

  /* Accepted: from here on_close is owed, and the connection going away
   * (returning -1 included) delivers it. */
  if (http__conn_take(&ws->c, req, on_ws_socket) < 0 || write_101(ws, key) < 0) {
    http__conn_reason(&ws->c, AGENTAI_ECANCELED);
    return -1;
  }
  /* lws keeps polling the socket but does not read it in this state; our
   * watch does. (Its rx flow control would also stop its writable
   * callbacks.) Bytes a client sent before our 101, which RFC 6455 4.1
   * forbids, stay in lws's buffer and are never seen. */
  if (ws->close_queued)
    http__conn_set_deadline(&ws->c, CLOSE_WAIT_MS);
  if (ws->c.q.head)
    lws_callback_on_writable(ws->c.wsi);
  return 0;
}

void http__ws_closed(http_ws *ws, int reason) {
  if (ws->on_close)
    ws->on_close(ws->ud, ws, reason);
  free(ws->msg);
  ws->msg = NULL;
  http__req_free(ws->req);
  ws->req = NULL;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

const char *http_ws_header(http_ws *ws, const char *name) {
  return ws && ws->req ? http_request_header(ws->req, name) : NULL;
}

const char *http_ws_query_param(const http_ws *ws, const char *name) {
  return ws && ws->req ? http_request_query_param(ws->req, name) : NULL;
}

const char *http_ws_request_id(const http_ws *ws) {
  return ws && ws->req ? http_request_id(ws->req) : NULL;
}

int http_ws_refuse_with(http_ws *ws, const char *type, const char *message) {
  if (!ws || !ws->in_open)
    return AGENTAI_EINVAL;
  if (type) {
    ws->refuse_type = http__req_strndup(ws->req, type, strlen(type));
    if (!ws->refuse_type)
      return AGENTAI_ENOMEM;
  }
  if (message) {
    ws->refuse_msg = http__req_strndup(ws->req, message, strlen(message));
    if (!ws->refuse_msg)
      return AGENTAI_ENOMEM;
  }
  return 0;
}

void http_ws_set_user(http_ws *ws, void *p) {
  if (ws)
    ws->user = p;
}

void *http_ws_user(const http_ws *ws) {
  return ws ? ws->user : NULL;
}

size_t http_ws_buffered(const http_ws *ws) {
  return ws ? ws->c.q.bytes + ws->c.inflight : 0;
}
