/* bench/lib/http_load.c — the benchmarks' HTTP/1.1 load client: keep-alive connections on one
 * libuv loop, Content-Length responses, reconnect after a server-side close. */
#include "http_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK 65536

struct hl_conn {
  hl_client *cl;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  char *out;
  size_t out_cap;
  char *in;
  size_t in_len, in_cap;
  uint64_t t0;
  int open;      /* the handle is initialised and not yet closed */
  int connected; /* has connected at least once: reconnect after a close */
  int busy;      /* a request is in flight */
};

struct hl_client {
  uv_loop_t *loop;
  struct sockaddr_in addr;
  hl_idle_fn idle;
  hl_done_fn done;
  void *ud;
  unsigned n;
  int stopping;
  unsigned long errors;
  hl_conn *conns;
};

static void conn_connect(hl_conn *c);

static void on_closed(uv_handle_t *h) {
  hl_conn *c = h->data;
  c->open = 0;
  c->in_len = 0;
  if (!c->cl->stopping && c->connected)
    conn_connect(c);
}

static void conn_close(hl_conn *c) {
  if (c->open && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void conn_fail(hl_conn *c) {
  hl_client *cl = c->cl;
  if (c->busy) {
    c->busy = 0;
    cl->errors++;
    cl->done(cl->ud, c, -1, NULL, 0, uv_hrtime() - c->t0);
  }
  conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  hl_conn *c = h->data;
  (void)suggested;
  if (c->in_cap - c->in_len < READ_CHUNK) {
    size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
    while (cap - c->in_len < READ_CHUNK)
      cap *= 2;
    char *p = realloc(c->in, cap);
    if (!p) {
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    c->in = p;
    c->in_cap = cap;
  }
  buf->base = c->in + c->in_len;
  buf->len = c->in_cap - c->in_len;
}

/* The value of header name in the block [h, end), or NULL. */
static const char *find_header(const char *h, const char *end, const char *name, size_t *vlen) {
  size_t nlen = strlen(name);
  const char *line = memchr(h, '\n', (size_t)(end - h)); /* skip the status line */
  while (line && line + 1 < end) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol)
      eol = end;
    if ((size_t)(eol - line) > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
      const char *v = line + nlen + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    line = eol < end ? eol : NULL;
  }
  return NULL;
}

/* Consumes one complete response from c->in if there is one; 1 when it did. */
static int parse_one(hl_conn *c) {
  hl_client *cl = c->cl;
  const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end)
    return 0;
  size_t hlen = (size_t)(end - c->in) + 4;
  if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0) {
    conn_fail(c);
    return 0;
  }
  int status = atoi(c->in + 9);
  size_t vlen = 0;
  const char *v = find_header(c->in, end, "content-length", &vlen);
  if (!v) { /* chunked or close-delimited: the benchmarks never ask for those */
    conn_fail(c);
    return 0;
  }
  size_t clen = (size_t)strtoull(v, NULL, 10);
  if (c->in_len < hlen + clen)
    return 0;
  int close_after = 0;
  if ((v = find_header(c->in, end, "connection", &vlen)) && vlen == 5 &&
      !strncasecmp(v, "close", 5))
    close_after = 1;
  c->busy = 0;
  uint64_t lat = uv_hrtime() - c->t0;
  /* The body is NUL-terminated for the callers' string searches. */
  size_t stop = hlen + clen;
  if (stop >= c->in_cap) {
    char *p = realloc(c->in, stop + 1);
    if (!p) {
      conn_fail(c);
      return 0;
    }
    c->in = p;
    c->in_cap = stop + 1;
  }
  char saved = c->in[stop];
  c->in[stop] = '\0';
  cl->done(cl->ud, c, status, c->in + hlen, clen, lat);
  c->in[stop] = saved;
  memmove(c->in, c->in + hlen + clen, c->in_len - hlen - clen);
  c->in_len -= hlen + clen;
  if (close_after) {
    conn_close(c);
    return 0;
  }
  return 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  hl_conn *c = s->data;
  (void)buf;
  if (nread < 0) {
    conn_fail(c);
    return;
  }
  c->in_len += (size_t)nread;
  while (c->busy && parse_one(c)) {
    if (!c->cl->stopping)
      c->cl->idle(c->cl->ud, c);
  }
}

static void on_written(uv_write_t *w, int status) {
  hl_conn *c = w->data;
  if (status < 0)
    conn_fail(c);
}

static void on_connected(uv_connect_t *r, int status) {
  hl_conn *c = r->data;
  if (status < 0) {
    c->cl->errors++;
    c->connected = 0; /* refused: do not retry */
    conn_close(c);
    return;
  }
  c->connected = 1;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (!c->cl->stopping)
    c->cl->idle(c->cl->ud, c);
}

static void conn_connect(hl_conn *c) {
  uv_tcp_init(c->cl->loop, &c->tcp);
  c->tcp.data = c;
  c->open = 1;
  c->busy = 0;
  uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->cl->addr, on_connected) < 0) {
    c->cl->errors++;
    c->connected = 0;
    conn_close(c);
  }
}

hl_client *hl_start(uv_loop_t *loop, const char *host, int port, unsigned nconns, hl_idle_fn idle,
                    hl_done_fn done, void *ud) {
  hl_client *cl = calloc(1, sizeof *cl);
  if (!cl)
    return NULL;
  if (uv_ip4_addr(host, port, &cl->addr) < 0 || !(cl->conns = calloc(nconns, sizeof *cl->conns))) {
    free(cl);
    return NULL;
  }
  cl->loop = loop;
  cl->idle = idle;
  cl->done = done;
  cl->ud = ud;
  cl->n = nconns;
  for (unsigned i = 0; i < nconns; i++) {
    cl->conns[i].cl = cl;
    conn_connect(&cl->conns[i]);
  }
  return cl;
}

int hl_send(hl_conn *c, const char *req, size_t len, uint64_t intended_ns) {
  if (c->busy || !c->open || uv_is_closing((uv_handle_t *)&c->tcp))
    return -1;
  if (c->out_cap < len) {
    char *p = realloc(c->out, len);
    if (!p)
      return -1;
    c->out = p;
    c->out_cap = len;
  }
  memcpy(c->out, req, len);
  c->busy = 1;
  c->t0 = intended_ns ? intended_ns : uv_hrtime();
  uv_buf_t b = uv_buf_init(c->out, (unsigned)len);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
    conn_fail(c);
    return -1;
  }
  return 0;
}

void hl_stop(hl_client *cl) {
  cl->stopping = 1;
  for (unsigned i = 0; i < cl->n; i++)
    conn_close(&cl->conns[i]);
}

void hl_free(hl_client *cl) {
  if (!cl)
    return;
  for (unsigned i = 0; i < cl->n; i++) {
    free(cl->conns[i].in);
    free(cl->conns[i].out);
  }
  free(cl->conns);
  free(cl);
}

unsigned long hl_errors(const hl_client *cl) {
  return cl->errors;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

double hl_quantile_ms(uint64_t *v, size_t n, double q) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_u64);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (double)v[i < n ? i : n - 1] / 1e6;
}

int hl_format(char *out, size_t out_len, const char *method, const char *path, const char *body) {
  int n;
  if (body)
    n = snprintf(out, out_len,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 method, path, strlen(body), body);
  else
    n = snprintf(out, out_len, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);
  return n < 0 || (size_t)n >= out_len ? -1 : n;
}

typedef struct run_state {
  hl_gen_fn gen;
  hl_done_fn done;
  void *ud;
  hl_client *cl;
  size_t inflight;
  int exhausted;
  char buf[16384];
} run_state;

static void run_idle(void *ud, hl_conn *c) {
  run_state *r = ud;
  if (!r->exhausted) {
    int n = r->gen(r->ud, r->buf, sizeof r->buf);
    if (n > 0 && hl_send(c, r->buf, (size_t)n, 0) == 0) {
      r->inflight++;
      return;
    }
    if (n <= 0)
      r->exhausted = 1;
  }
  if (r->exhausted && r->inflight == 0)
    hl_stop(r->cl);
}

static void run_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                     uint64_t latency_ns) {
  run_state *r = ud;
  r->inflight--;
  r->done(r->ud, c, status, body, len, latency_ns);
}

int hl_run(int port, unsigned nconns, hl_gen_fn gen, hl_done_fn done, void *ud,
           unsigned long *errors) {
  uv_loop_t loop;
  run_state *r = calloc(1, sizeof *r);
  if (!r || uv_loop_init(&loop) < 0) {
    free(r);
    return -1;
  }
  r->gen = gen;
  r->done = done;
  r->ud = ud;
  r->cl = hl_start(&loop, "127.0.0.1", port, nconns, run_idle, run_done, r);
  if (!r->cl) {
    uv_loop_close(&loop);
    free(r);
    return -1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (errors)
    *errors = hl_errors(r->cl);
  hl_free(r->cl);
  uv_loop_close(&loop);
  free(r);
  return 0;
}
