/* tests/unit/net_rec.h — for test_net_client.c: a sink that records what a request delivered,
 * and loop helpers. Include after the test's loop, srv and net globals. */
#pragma once

/* ---- a sink that records what happened ---- */

typedef struct rec rec;
struct rec {
  agentai_http_call *call;
  int started; /* net_request_start has returned */
  int early;   /* a callback ran before that */
  int heads, bodies, dones;
  int body_before_head, after_done;
  int status, err;
  char headers[2048];
  char *body;
  size_t body_len;
  char message[700];
  uint64_t t0, done_at;
  /* behaviours */
  int head_ret, body_ret;
  int cancel_in_head, cancel_in_body, close_in_body;
  rec *cancel_in_done; /* another request to cancel from done() */
  rec *start_in_body;  /* a request to start from body() */
  const char *start_url;
};

static inline void rec_note(rec *r) {
  if (!r->started)
    r->early = 1;
  if (r->dones)
    r->after_done = 1;
}

static inline void start(rec *r, const char *url, const agentai_http_request *tmpl);

static inline int on_head(void *ud, int status, const agentai_http_header *h, size_t n) {
  rec *r = ud;
  rec_note(r);
  r->heads++;
  r->status = status;
  size_t off = 0;
  for (size_t i = 0; i < n; i++)
    off += (size_t)snprintf(r->headers + off, sizeof r->headers - off, "%s: %s\n", h[i].name,
                            h[i].value);
  if (r->cancel_in_head)
    net_request_cancel(net, r->call);
  return r->head_ret;
}

static inline int on_body(void *ud, const char *data, size_t len) {
  rec *r = ud;
  rec_note(r);
  if (!r->heads)
    r->body_before_head = 1;
  r->bodies++;
  r->body = realloc(r->body, r->body_len + len + 1);
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
  if (r->cancel_in_body)
    net_request_cancel(net, r->call);
  if (r->close_in_body) {
    net_client_close(net);
    net = NULL;
  }
  if (r->start_in_body) {
    start(r->start_in_body, r->start_url, NULL);
    r->start_in_body = NULL;
  }
  return r->body_ret;
}

static inline void on_done(void *ud, const agentai_http_result *res) {
  rec *r = ud;
  rec_note(r);
  r->dones++;
  r->err = res->err;
  r->status = res->status;
  r->done_at = uv_now(&loop);
  snprintf(r->message, sizeof r->message, "%s", res->message ? res->message : "");
  if (res->body) {
    r->body = realloc(r->body, res->body_len + 1);
    memcpy(r->body, res->body, res->body_len);
    r->body_len = res->body_len;
    r->body[r->body_len] = '\0';
  }
  CHECK(res->err == 0 || res->message != NULL);
  if (r->cancel_in_done)
    net_request_cancel(net, r->cancel_in_done->call);
}

static inline void rec_free(rec *r) {
  free(r->body);
  r->body = NULL;
}

static inline agentai_http_sink sink_of(rec *r, int streaming) {
  agentai_http_sink s = {
      .ud = r, .head = on_head, .body = streaming ? on_body : NULL, .done = on_done};
  return s;
}

static inline int start_req(rec *r, const agentai_http_request *req, int streaming) {
  agentai_http_sink sink = sink_of(r, streaming);
  r->t0 = uv_now(&loop);
  r->started = 0;
  int rc = net_request_start(net, req, &sink, &r->call);
  r->started = 1;
  return rc;
}

static inline void start(rec *r, const char *url, const agentai_http_request *tmpl) {
  agentai_http_request req = {.size = sizeof req};
  if (tmpl)
    req = *tmpl;
  req.url = url;
  CHECK_EQ_INT(start_req(r, &req, 1), 0);
}

static inline char *url(const char *path) {
  static char bufs[8][512];
  static int i;
  char *b = bufs[i++ % 8];
  snprintf(b, 512, "http://127.0.0.1:%d%s", srv.port, path);
  return b;
}

static inline void tick(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop until *flag is non-zero or ms pass; a ticking timer keeps
 * UV_RUN_ONCE from sleeping past the deadline. */
static inline void run_until(const int *flag, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, tick, 10, 10);
  uint64_t deadline = uv_now(&loop) + ms;
  while (!(flag && *flag) && uv_now(&loop) < deadline)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static inline void run_for(uint64_t ms) {
  run_until(NULL, ms);
}
