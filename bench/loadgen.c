/* bench/loadgen.c — load tools for the shell benchmarks: a paced open-loop HTTP client (latency at
 * a fixed rate, free of coordinated omission), bulk task submission, WebSocket subscribers. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_load.h"
#include "serve_proc.h"

static const char USAGE[] =
    "usage: loadgen paced --port P --path PATH [--method M] [--body-file F] --rate R\n"
    "                     --seconds S [--conns C]\n"
    "       loadgen submit --port P --agent AGT_ID --count N [--conns C] [--body JSON]\n"
    "       loadgen ws --port P --count N [--since GSEQ]\n"
    "paced:  sends R requests/s on a fixed schedule for S s (after 1 s of warm-up) over C\n"
    "        keep-alive connections; latency runs from each request's scheduled time, so a\n"
    "        stalled server is charged for the requests it delayed. Prints p50/p99/max.\n"
    "submit: POSTs N tasks to /v1/agents/AGT_ID/tasks over C connections; prints the count\n"
    "        accepted (202) and the last task id.\n"
    "ws:     opens N /v1/ws connections, each subscribed to all events after GSEQ; prints\n"
    "        \"ready N\" once all are subscribed, then reads until stdin closes or SIGTERM.\n";

typedef struct args {
  int port;
  const char *path, *method, *body_file, *agent, *body;
  double rate, seconds;
  unsigned conns;
  long count;
  unsigned long long since;
} args;

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s)
    s[n] = '\0';
  fclose(f);
  return s;
}

/* ---- paced ---- */

typedef struct paced {
  args *a;
  hl_client *cl;
  uv_timer_t timer;
  char *req;
  size_t req_len;
  uint64_t start, warm_end, end; /* hrtime ns */
  uint64_t issued;               /* requests whose scheduled time has come */
  uint64_t sent;                 /* of those, sent (the rest wait for a free connection) */
  uint64_t done, ok, bad;
  uint64_t *lat;
  size_t nlat, cap;
  hl_conn **idle;
  size_t nidle;
  int finishing;
} paced;

static uint64_t sched_ns(paced *p, uint64_t i) {
  return p->start + (uint64_t)((double)i * 1e9 / p->a->rate);
}

static void paced_pump(paced *p) {
  while (p->sent < p->issued && p->nidle > 0) {
    hl_conn *c = p->idle[--p->nidle];
    if (hl_send(c, p->req, p->req_len, sched_ns(p, p->sent)) == 0)
      p->sent++;
  }
}

static void paced_idle(void *ud, hl_conn *c) {
  paced *p = ud;
  p->idle[p->nidle++] = c;
  paced_pump(p);
}

static void paced_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                       uint64_t latency_ns) {
  paced *p = ud;
  (void)c, (void)body, (void)len;
  p->done++;
  if (status >= 200 && status < 300)
    p->ok++;
  else
    p->bad++;
  /* Only requests scheduled after the warm-up count. */
  if (uv_hrtime() - latency_ns >= p->warm_end && p->nlat < p->cap)
    p->lat[p->nlat++] = latency_ns;
}

static void paced_tick(uv_timer_t *t) {
  paced *p = t->data;
  uint64_t now = uv_hrtime();
  if (now < p->end) {
    uint64_t due = (uint64_t)((double)(now - p->start) * p->a->rate / 1e9) + 1;
    if (due > p->issued)
      p->issued = due;
    paced_pump(p);
    return;
  }
  /* Past the end: let what was scheduled finish, for at most 5 s. */
  if (!p->finishing) {
    p->finishing = 1;
    uint64_t total = (uint64_t)((double)(p->end - p->start) * p->a->rate / 1e9);
    if (p->issued > total)
      p->issued = total;
  }
  paced_pump(p);
  if (p->done >= p->issued || now > p->end + 5000000000ULL) {
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    hl_stop(p->cl);
  }
}

static int run_paced(args *a) {
  if (!a->path || a->rate <= 0 || a->seconds <= 0) {
    fputs(USAGE, stderr);
    return 2;
  }
  char *body = NULL;
  if (a->body_file && !(body = read_file(a->body_file))) {
    fprintf(stderr, "loadgen: cannot read %s\n", a->body_file);
    return 1;
  }
  paced p = {.a = a};
  size_t cap = 4096 + (body ? strlen(body) : 0);
  p.req = malloc(cap);
  int n = p.req ? hl_format(p.req, cap, a->method ? a->method : "GET", a->path, body) : -1;
  free(body);
  if (n < 0)
    return 1;
  p.req_len = (size_t)n;
  p.cap = (size_t)(a->rate * (a->seconds + 2)) + 16;
  p.lat = malloc(p.cap * sizeof *p.lat);
  p.idle = malloc(a->conns * sizeof *p.idle);
  uv_loop_t *loop = uv_default_loop();
  p.start = uv_hrtime();
  p.warm_end = p.start + 1000000000ULL;
  p.end = p.warm_end + (uint64_t)(a->seconds * 1e9);
  p.cl = hl_start(loop, "127.0.0.1", a->port, a->conns, paced_idle, paced_done, &p);
  if (!p.cl || !p.lat || !p.idle)
    return 1;
  uv_timer_init(loop, &p.timer);
  p.timer.data = &p;
  uv_timer_start(&p.timer, paced_tick, 1, 1);
  uv_run(loop, UV_RUN_DEFAULT);
  double secs = a->seconds + 1;
  printf("paced: rate=%.0f conns=%u sent=%llu ok=%llu bad=%llu errors=%lu achieved_rps=%.0f "
         "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
         a->rate, a->conns, (unsigned long long)p.sent, (unsigned long long)p.ok,
         (unsigned long long)p.bad, hl_errors(p.cl), (double)p.done / secs,
         hl_quantile_ms(p.lat, p.nlat, 0.50), hl_quantile_ms(p.lat, p.nlat, 0.99),
         hl_quantile_ms(p.lat, p.nlat, 1.0));
  hl_free(p.cl);
  free(p.lat);
  free(p.idle);
  free(p.req);
  return p.ok > 0 && p.bad == 0 ? 0 : 1;
}

/* ---- submit ---- */

typedef struct submit {
  args *a;
  hl_client *cl;
  char req[4096];
  size_t req_len;
  long sent, done, accepted, bad;
  char last_id[64];
  char first_error[256];
} submit;

static void submit_idle(void *ud, hl_conn *c) {
  submit *s = ud;
  if (s->sent < s->a->count && hl_send(c, s->req, s->req_len, 0) == 0)
    s->sent++;
  else if (s->done >= s->a->count || s->sent >= s->a->count) {
    if (s->done >= s->sent)
      hl_stop(s->cl);
  }
}

static void submit_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                        uint64_t latency_ns) {
  submit *s = ud;
  (void)c, (void)len, (void)latency_ns;
  s->done++;
  if (status == 202) {
    s->accepted++;
    sp_json_str(body, "id", s->last_id, sizeof s->last_id);
  } else {
    if (!s->bad)
      snprintf(s->first_error, sizeof s->first_error, "%d %.200s", status, body ? body : "");
    s->bad++;
    if (status < 0)
      s->sent--; /* the connection broke: retried on the reconnected one */
  }
}

static int run_submit(args *a) {
  if (!a->agent || a->count <= 0) {
    fputs(USAGE, stderr);
    return 2;
  }
  submit s = {.a = a};
  char path[256];
  snprintf(path, sizeof path, "/v1/agents/%s/tasks", a->agent);
  int n = hl_format(s.req, sizeof s.req, "POST", path, a->body ? a->body : "{\"input\":{}}");
  if (n < 0)
    return 1;
  s.req_len = (size_t)n;
  uv_loop_t *loop = uv_default_loop();
  uint64_t t0 = uv_hrtime();
  s.cl = hl_start(loop, "127.0.0.1", a->port, a->conns, submit_idle, submit_done, &s);
  if (!s.cl)
    return 1;
  uv_run(loop, UV_RUN_DEFAULT);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  printf("submit: accepted=%ld refused=%ld errors=%lu seconds=%.2f rate=%.0f last_id=%s\n",
         s.accepted, s.bad, hl_errors(s.cl), secs, (double)s.accepted / secs,
         s.last_id[0] ? s.last_id : "-");
  if (s.bad)
    fprintf(stderr, "loadgen submit: first refusal: %s\n", s.first_error);
  hl_free(s.cl);
  return s.accepted == a->count ? 0 : 1;
}

/* ---- ws ---- */

static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
  (void)sig;
  g_stop = 1;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads one server frame (unmasked) into buf; returns its payload length or -1. */
static long ws_read_frame(int fd, char *buf, size_t cap) {
  unsigned char h[2];
  if (read_all(fd, h, 2) < 0)
    return -1;
  unsigned long long len = h[1] & 0x7f;
  if (len == 126) {
    unsigned char e[2];
    if (read_all(fd, e, 2) < 0)
      return -1;
    len = ((unsigned)e[0] << 8) | e[1];
  } else if (len == 127) {
    unsigned char e[8];
    if (read_all(fd, e, 8) < 0)
      return -1;
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | e[i];
  }
  if (len >= cap)
    return -1;
  if (read_all(fd, buf, (size_t)len) < 0)
    return -1;
  buf[len] = '\0';
  return (long)len;
}

/* Connects, upgrades and subscribes one client; returns its socket or -1. */
static int ws_open(int port, unsigned long long since) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    goto fail;
  static const char HS[] = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n";
  if (write_all(fd, HS, sizeof HS - 1) < 0)
    goto fail;
  char resp[2048];
  size_t n = 0;
  while (n < sizeof resp - 1) { /* byte by byte: nothing past the headers may be eaten */
    if (read_all(fd, resp + n, 1) < 0)
      goto fail;
    n++;
    if (n >= 4 && !memcmp(resp + n - 4, "\r\n\r\n", 4))
      break;
  }
  resp[n] = '\0';
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
    goto fail;
  char cmd[128];
  int clen = snprintf(cmd, sizeof cmd, "{\"op\":\"subscribe\",\"all\":true,\"since\":%llu}", since);
  unsigned char frame[256];
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame[0] = 0x81;
  frame[1] = (unsigned char)(0x80 | clen);
  memcpy(frame + 2, mask, 4);
  for (int i = 0; i < clen; i++)
    frame[6 + i] = (unsigned char)cmd[i] ^ mask[i % 4];
  if (write_all(fd, frame, (size_t)clen + 6) < 0)
    goto fail;
  char buf[65536];
  for (int tries = 0; tries < 16; tries++) { /* events may come before the reply */
    long len = ws_read_frame(fd, buf, sizeof buf);
    if (len < 0)
      goto fail;
    if (strstr(buf, "\"type\":\"subscribed\""))
      return fd;
    if (strstr(buf, "\"type\":\"error\"")) {
      fprintf(stderr, "loadgen ws: %s\n", buf);
      goto fail;
    }
  }
fail:
  if (fd >= 0)
    close(fd);
  return -1;
}

static int run_ws(args *a) {
  if (a->count <= 0) {
    fputs(USAGE, stderr);
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)a->count + 64) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)a->count + 64 ? rl.rlim_max : (rlim_t)a->count + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);
  struct pollfd *fds = calloc((size_t)a->count + 1, sizeof *fds);
  if (!fds)
    return 1;
  long open_n = 0;
  for (long i = 0; i < a->count; i++) {
    int fd = ws_open(a->port, a->since);
    if (fd < 0) {
      fprintf(stderr, "loadgen ws: connection %ld failed (%s)\n", i + 1, strerror(errno));
      break;
    }
    fds[open_n].fd = fd;
    fds[open_n].events = POLLIN;
    open_n++;
  }
  printf("ready %ld\n", open_n);
  fflush(stdout);
  fds[open_n].fd = 0; /* stdin: its end is the signal to stop */
  fds[open_n].events = POLLIN;
  unsigned long long bytes = 0;
  char buf[65536];
  while (!g_stop) {
    int r = poll(fds, (nfds_t)open_n + 1, 1000);
    if (r < 0 && errno != EINTR)
      break;
    for (long i = 0; r > 0 && i <= open_n; i++) {
      if (!fds[i].revents)
        continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (i == open_n) {
        if (got <= 0)
          g_stop = 1;
      } else if (got > 0) {
        bytes += (unsigned long long)got;
      } else {
        fds[i].fd = -fds[i].fd - 1; /* closed by the server: stop polling it */
      }
    }
  }
  long still = 0;
  for (long i = 0; i < open_n; i++) {
    if (fds[i].fd >= 0) {
      still++;
      close(fds[i].fd);
    }
  }
  printf("closed: %ld still open at the end, %llu bytes received\n", still, bytes);
  free(fds);
  return open_n == a->count && still == open_n ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return 2;
  }
  args a = {.conns = 16, .rate = 0};
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fputs(USAGE, stderr);
      return 2;
    }
    i++;
    if (!strcmp(k, "--port"))
      a.port = atoi(v);
    else if (!strcmp(k, "--path"))
      a.path = v;
    else if (!strcmp(k, "--method"))
      a.method = v;
    else if (!strcmp(k, "--body-file"))
      a.body_file = v;
    else if (!strcmp(k, "--body"))
      a.body = v;
    else if (!strcmp(k, "--agent"))
      a.agent = v;
    else if (!strcmp(k, "--rate"))
      a.rate = atof(v);
    else if (!strcmp(k, "--seconds"))
      a.seconds = atof(v);
    else if (!strcmp(k, "--conns"))
      a.conns = (unsigned)atoi(v);
    else if (!strcmp(k, "--count"))
      a.count = atol(v);
    else if (!strcmp(k, "--since"))
      a.since = strtoull(v, NULL, 10);
    else {
      fprintf(stderr, "loadgen: unknown option %s\n%s", k, USAGE);
      return 2;
    }
  }
  if (a.port <= 0 || a.conns == 0) {
    fputs(USAGE, stderr);
    return 2;
  }
  if (!strcmp(argv[1], "paced"))
    return run_paced(&a);
  if (!strcmp(argv[1], "submit"))
    return run_submit(&a);
  if (!strcmp(argv[1], "ws"))
    return run_ws(&a);
  fputs(USAGE, stderr);
  return 2;
}
