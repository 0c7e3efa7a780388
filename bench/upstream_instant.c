/* bench/upstream_instant.c — the LLM upstream of bench/gateway.sh: an OpenAI-compatible HTTP/1.1
 * server (one thread, epoll, keep-alive) that answers every chat completion at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, memmem */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

/* A fixed, valid chat.completion: the gateways under test parse it and pass it on. */
static const char CHAT_BODY[] =
    "{\"id\":\"chatcmpl-bench0001\",\"object\":\"chat.completion\",\"created\":1764000000,"
    "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"The quick brown fox jumps over the lazy dog.\"},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":11,"
    "\"total_tokens\":53}}";
static const char MODELS_BODY[] =
    "{\"object\":\"list\",\"data\":[{\"id\":\"bench-model\",\"object\":"
    "\"model\",\"created\":1764000000,\"owned_by\":\"bench\"}]}";
static const char NOT_FOUND_BODY[] =
    "{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\"}}";

/* Responses are built once: answering is one memcpy into the connection's output. */
static char chat_resp[1024], models_resp[1024], notfound_resp[512];
static size_t chat_len, models_len, notfound_len;

#define IN_CAP 65536
#define OUT_CAP 262144

struct conn {
  int fd;
  size_t in_len;
  size_t out_len, out_off;
  int want_out; /* EPOLLOUT registered */
  char in[IN_CAP];
  char out[OUT_CAP];
};

static size_t build(char *dst, size_t cap, const char *status, const char *body, size_t blen) {
  int n = snprintf(dst, cap,
                   "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: keep-alive\r\n\r\n%s",
                   status, blen, body);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The value of header NAME inside [hdr, end), or NULL. Header names are case-insensitive. */
static const char *header_value(const char *hdr, const char *end, const char *name) {
  size_t nl = strlen(name);
  const char *p = memchr(hdr, '\n', (size_t)(end - hdr));
  while (p && p + 1 < end) {
    p++;
    if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      p += nl + 1;
      while (p < end && (*p == ' ' || *p == '\t'))
        p++;
      return p;
    }
    p = memchr(p, '\n', (size_t)(end - p));
  }
  return NULL;
}

static void conn_close(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Sends what is queued; 0 when all is out or the socket is full, -1 on a dead peer. */
static int flush_out(int ep, struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
      if (!c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 1;
      }
      return 0;
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  if (c->want_out) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = 0;
  }
  return 0;
}

/* Answers every complete request in the input (pipelining included); -1 on a malformed one. */
static int serve_requests(struct conn *c) {
  size_t off = 0;
  for (;;) {
    char *start = c->in + off;
    size_t avail = c->in_len - off;
    char *eoh = memmem(start, avail, "\r\n\r\n", 4);
    if (!eoh)
      break;
    size_t hlen = (size_t)(eoh - start) + 4;
    size_t blen = 0;
    const char *cl = header_value(start, eoh + 2, "content-length");
    if (cl) {
      char *e;
      unsigned long v = strtoul(cl, &e, 10);
      if (e == cl || v > IN_CAP)
        return -1;
      blen = v;
    }
    if (avail < hlen + blen) {
      if (hlen + blen > IN_CAP)
        return -1;
      break;
    }
    const char *resp = notfound_resp;
    size_t rlen = notfound_len;
    if (avail > 5 && strncmp(start, "POST ", 5) == 0) {
      if (strncmp(start + 5, "/v1/chat/completions", 20) == 0 &&
          (start[25] == ' ' || start[25] == '?')) {
        resp = chat_resp;
        rlen = chat_len;
      }
    } else if (avail > 4 && strncmp(start, "GET ", 4) == 0) {
      if (strncmp(start + 4, "/v1/models", 10) == 0 && (start[14] == ' ' || start[14] == '?')) {
        resp = models_resp;
        rlen = models_len;
      }
    }
    if (c->out_len + rlen > OUT_CAP)
      return -1; /* a client that never reads: drop it */
    memcpy(c->out + c->out_len, resp, rlen);
    c->out_len += rlen;
    off += hlen + blen;
  }
  if (off > 0) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
  return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  int port = 0;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: %s [--port N]\n"
              "Answers POST /v1/chat/completions with a fixed chat.completion and GET /v1/models\n"
              "on 127.0.0.1:N (0: a free port, printed on stdout).\n",
              argv[0]);
      return 2;
    }
  }
  chat_len = build(chat_resp, sizeof chat_resp, "200 OK", CHAT_BODY, sizeof CHAT_BODY - 1);
  models_len =
      build(models_resp, sizeof models_resp, "200 OK", MODELS_BODY, sizeof MODELS_BODY - 1);
  notfound_len = build(notfound_resp, sizeof notfound_resp, "404 Not Found", NOT_FOUND_BODY,
                       sizeof NOT_FOUND_BODY - 1);
  if (!chat_len || !models_len || !notfound_len)
    return 1;

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1024) != 0) {
    perror("upstream_instant: listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  printf("upstream_instant listening on port %u\n", (unsigned)ntohs(sa.sin_port));
  fflush(stdout);

  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGINT, &act, NULL);
  sigaction(SIGTERM, &act, NULL);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
    perror("upstream_instant: epoll");
    return 1;
  }
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("upstream_instant: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          struct conn *nc = malloc(sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          nc->in_len = nc->out_len = nc->out_off = 0;
          nc->want_out = 0;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(nc);
          }
        }
        continue;
      }
      int dead = 0, eof = 0;
      if (evs[i].events & EPOLLOUT)
        dead = flush_out(ep, c) != 0;
      if (!dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        for (;;) {
          size_t space = IN_CAP - c->in_len;
          if (space == 0) {
            dead = 1; /* a request larger than the buffer */
            break;
          }
          ssize_t r = recv(c->fd, c->in + c->in_len, space, 0);
          if (r > 0) {
            c->in_len += (size_t)r;
            if ((size_t)r < space)
              break; /* short read: the socket is drained (level-triggered: more wakes us) */
            continue;
          }
          if (r < 0 && errno == EINTR)
            continue;
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
          if (r == 0)
            eof = 1; /* answer what came before the client's FIN, then close */
          else
            dead = 1;
          break;
        }
        if (!dead && serve_requests(c) != 0)
          dead = 1;
        if (!dead && c->out_len > 0 && !c->want_out)
          dead = flush_out(ep, c) != 0;
        if (eof)
          dead = 1;
      }
      if (dead)
        conn_close(ep, c);
    }
  }
  close(ep);
  close(lfd);
  return 0;
}
