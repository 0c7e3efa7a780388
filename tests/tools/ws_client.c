/* tests/tools/ws_client.c — agentai-ws-client: a small RFC 6455 client the integration specs use to
 * drive /v1/ws (send commands, print every text frame as a line, report the close). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char USAGE[] =
    "usage: agentai-ws-client URL [--send JSON]... [--send-binary TEXT]... [--expect N]\n"
    "                         [--timeout S] [--no-read-ms MS] [--rcvbuf BYTES]\n"
    "\n"
    "Connects to URL (ws://HOST:PORT/PATH), sends each --send as a text frame and each\n"
    "--send-binary as a binary frame, in the order given; `--send -` (last) then sends\n"
    "each line of standard input as it arrives. Every text frame received is printed\n"
    "on stdout as one line; the close is printed on stderr as `close CODE REASON`.\n"
    "  --expect N       exit 0 once N text frames have arrived\n"
    "  --timeout S      give up after S seconds (default 10) with exit code 2\n"
    "  --no-read-ms MS  do not read the socket for MS ms after the sends\n"
    "  --rcvbuf BYTES   the socket's SO_RCVBUF, set before connecting\n"
    "Without --expect the run ends when the server closes (exit 0), or, with\n"
    "`--send -`, at the end of standard input (close 1000, exit 0).\n"
    "Exit codes: 0 done, 1 usage or connection error, 2 timeout, 3 closed by the\n"
    "server before N text frames arrived.\n";

enum { EXIT_DONE = 0, EXIT_ERROR = 1, EXIT_TIMEOUT = 2, EXIT_CLOSED = 3 };
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

/* Far above anything the server sends; a bigger frame means a broken stream. */
#define MAX_FRAME ((uint64_t)64 << 20)
/* How long to wait for the server's answer to our close frame. */
#define CLOSE_WAIT_MS 2000

typedef struct outgoing {
  const char *data;
  int binary;
} outgoing;

typedef struct buf {
  unsigned char *p;
  size_t len, cap;
} buf;

typedef struct client {
  int fd;
  buf in;      /* received bytes not yet parsed */
  buf msg;     /* the message being reassembled */
  int msg_op;  /* OP_TEXT or OP_BINARY while a message is open */
  long frames; /* text frames printed */
  int close_sent;
  int draining; /* our close is out: later messages are not printed */
} client;

_Noreturn static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("agentai-ws-client: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static void buf_append(buf *b, const void *data, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len + 1)
      cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
      die(EXIT_ERROR, "out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, len);
  b->len += len;
}

static void buf_consume(buf *b, size_t n) {
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

static long parse_long(const char *s, const char *what, long min) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < min)
    die(EXIT_ERROR, "%s must be an integer >= %ld (got '%s')", what, min, s);
  return v;
}

static void send_all(client *c, const void *data, size_t len) {
  const unsigned char *p = data;
  while (len > 0) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die(EXIT_ERROR, "send: %s", n < 0 ? strerror(errno) : "connection closed");
    p += n;
    len -= (size_t)n;
  }
}

/* Clients must mask every frame (RFC 6455 5.3) with a fresh key. */
static void send_frame(client *c, int op, const void *data, size_t len) {
  unsigned char head[14], mask[4];
  size_t hl = 2;
  head[0] = (unsigned char)(0x80 | op);
  if (len < 126) {
    head[1] = (unsigned char)(0x80 | len);
  } else if (len <= 0xFFFF) {
    head[1] = 0x80 | 126;
    head[2] = (unsigned char)(len >> 8);
    head[3] = (unsigned char)len;
    hl = 4;
  } else {
    head[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++)
      head[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    hl = 10;
  }
  if (RAND_bytes(mask, sizeof mask) != 1)
    die(EXIT_ERROR, "no random bytes for the frame mask");
  memcpy(head + hl, mask, 4);
  hl += 4;
  unsigned char *frame = malloc(hl + len + 1);
  if (!frame)
    die(EXIT_ERROR, "out of memory");
  memcpy(frame, head, hl);
  const unsigned char *src = data;
  for (size_t i = 0; i < len; i++)
    frame[hl + i] = src[i] ^ mask[i & 3];
  send_all(c, frame, hl + len);
  free(frame);
}

static void send_close(client *c, int code) {
  if (c->close_sent)
    return;
  unsigned char pl[2] = {(unsigned char)(code >> 8), (unsigned char)code};
  send_frame(c, OP_CLOSE, pl, code ? 2 : 0);
  c->close_sent = 1;
}

/* ---- connecting ---- */

typedef struct url {
  char host[256], port[8], authority[300], path[1024];
} url;

/* ws://HOST[:PORT][/PATH], HOST a name, an IPv4 address or [IPv6]. */
static void parse_url(const char *s, url *u) {
  const char *rest;
  if (!strncmp(s, "ws://", 5))
    rest = s + 5;
  else if (!strncmp(s, "http://", 7))
    rest = s + 7;
  else
    die(EXIT_ERROR, "URL must start with ws:// (got '%s')", s);
  size_t alen = strcspn(rest, "/");
  const char *host = rest, *after;
  size_t hl;
  if (*rest == '[') {
    const char *close = memchr(rest, ']', alen);
    if (!close)
      die(EXIT_ERROR, "unclosed '[' in URL '%s'", s);
    host = rest + 1;
    hl = (size_t)(close - host);
    after = close + 1;
  } else {
    const char *colon = memchr(rest, ':', alen);
    hl = colon ? (size_t)(colon - rest) : alen;
    after = rest + hl;
  }
  size_t left = alen - (size_t)(after - rest);
  const char *port = left && *after == ':' ? after + 1 : "80";
  size_t pl = left && *after == ':' ? left - 1 : 2;
  if ((left && *after != ':') || hl == 0 || hl >= sizeof u->host || pl == 0 ||
      pl >= sizeof u->port || alen >= sizeof u->authority || strspn(port, "0123456789") < pl)
    die(EXIT_ERROR, "bad host or port in URL '%s'", s);
  memcpy(u->host, host, hl);
  u->host[hl] = '\0';
  memcpy(u->port, port, pl);
  u->port[pl] = '\0';
  memcpy(u->authority, rest, alen);
  u->authority[alen] = '\0';
  if (snprintf(u->path, sizeof u->path, "%s", rest[alen] ? rest + alen : "/") >=
      (int)sizeof u->path)
    die(EXIT_ERROR, "URL path too long");
}

static int dial(const url *u, long rcvbuf) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(u->host, u->port, &hints, &res);
  if (rc != 0)
    die(EXIT_ERROR, "%s:%s: %s", u->host, u->port, gai_strerror(rc));
  int fd = -1, err = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    /* Before connect: the window scale is agreed in the handshake. */
    int v = (int)rcvbuf;
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0)
      die(EXIT_ERROR, "SO_RCVBUF: %s", strerror(errno));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    die(EXIT_ERROR, "connect to %s:%s: %s", u->host, u->port, strerror(err));
  return fd;
}

/* Waits until fd is readable or the deadline passes; 0 on timeout. */
static int wait_readable(int fd, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die(EXIT_ERROR, "poll: %s", strerror(errno));
    if (n > 0)
      return 1;
  }
}

static const char *find_header(const char *head, const char *name) {
  size_t nl = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
    const char *line = l + 2;
    if (!strncasecmp(line, name, nl) && line[nl] == ':') {
      line += nl + 1;
      while (*line == ' ' || *line == '\t')
        line++;
      return line;
    }
  }
  return NULL;
}

/* The opening handshake (RFC 6455 4.1): bytes after the response's headers
 * are already frames and stay in c->in. */
static void handshake(client *c, const url *u, int64_t deadline) {
  unsigned char raw[16];
  char key[32], expect[64], in[128];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (RAND_bytes(raw, sizeof raw) != 1)
    die(EXIT_ERROR, "no random bytes for Sec-WebSocket-Key");
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
  int n = snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  if (!EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL))
    die(EXIT_ERROR, "SHA-1 failed");
  EVP_EncodeBlock((unsigned char *)expect, md, (int)mdlen);

  char req[2048];
  n = snprintf(req, sizeof req,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
               u->path, u->authority, key);
  send_all(c, req, (size_t)n);

  char *end = NULL;
  while (!end) {
    if (c->in.len > 65536)
      die(EXIT_ERROR, "handshake response headers too long");
    if (!wait_readable(c->fd, deadline))
      die(EXIT_TIMEOUT, "timeout waiting for the handshake response");
    unsigned char tmp[4096];
    ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      die(EXIT_ERROR, "connection closed during the handshake%s%.*s", c->in.len ? ": " : "",
          (int)c->in.len, (const char *)c->in.p);
    buf_append(&c->in, tmp, (size_t)r);
    c->in.p[c->in.len] = '\0';
    end = strstr((char *)c->in.p, "\r\n\r\n");
  }
  size_t hlen = (size_t)(end - (char *)c->in.p) + 4;
  char *head = malloc(hlen + 1);
  if (!head)
    die(EXIT_ERROR, "out of memory");
  memcpy(head, c->in.p, hlen);
  head[hlen] = '\0';
  buf_consume(&c->in, hlen);
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
    /* Show the refusal (status line and whatever body came with it). */
    fprintf(stderr, "agentai-ws-client: upgrade refused: %.*s%.*s\n", (int)strcspn(head, "\r\n"),
            head, (int)c->in.len, (const char *)c->in.p);
    exit(EXIT_ERROR);
  }
  const char *acc = find_header(head, "Sec-WebSocket-Accept");
  const char *upg = find_header(head, "Upgrade");
  if (!acc || strncmp(acc, expect, strlen(expect)) != 0 || !upg || strncasecmp(upg, "websocket", 9))
    die(EXIT_ERROR, "bad 101 response (Upgrade or Sec-WebSocket-Accept wrong)");
  free(head);
}

/* ---- receiving ---- */

typedef enum { GO_ON, GOT_ENOUGH, PEER_CLOSED } rx_state;

static void print_close(const unsigned char *p, size_t len) {
  int code = len >= 2 ? (p[0] << 8) | p[1] : 1005;
  fprintf(stderr, "close %d %.*s\n", code, len > 2 ? (int)(len - 2) : 0,
          len > 2 ? (const char *)p + 2 : "");
  fflush(stderr);
}

/* One complete frame from the server (never masked). */
static rx_state on_frame(client *c, int fin, int op, unsigned char *p, size_t len, long expect) {
  switch (op) {
    case OP_PING:
      if (!c->close_sent)
        send_frame(c, OP_PONG, p, len);
      return GO_ON;
    case OP_PONG:
      return GO_ON;
    case OP_CLOSE:
      print_close(p, len);
      if (!c->close_sent) { /* echo its code, as RFC 6455 5.5.1 asks */
        send_frame(c, OP_CLOSE, p, len >= 2 ? 2 : 0);
        c->close_sent = 1;
      }
      return PEER_CLOSED;
    case OP_CONT:
      if (!c->msg_op)
        die(EXIT_ERROR, "protocol error: continuation frame outside a message");
      break;
    case OP_TEXT:
    case OP_BINARY:
      if (c->msg_op)
        die(EXIT_ERROR, "protocol error: new message inside a fragmented one");
      c->msg_op = op;
      c->msg.len = 0;
      break;
    default:
      die(EXIT_ERROR, "protocol error: unknown opcode %d", op);
  }
  buf_append(&c->msg, p, len);
  if (!fin)
    return GO_ON;
  int mop = c->msg_op;
  c->msg_op = 0;
  if (c->draining)
    return GO_ON;
  if (mop == OP_BINARY) {
    fprintf(stderr, "binary %zu\n", c->msg.len);
    fflush(stderr);
    return GO_ON;
  }
  fwrite(c->msg.p, 1, c->msg.len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  c->frames++;
  return expect > 0 && c->frames >= expect ? GOT_ENOUGH : GO_ON;
}

/* Parses the complete frames in c->in. */
static rx_state parse_frames(client *c, long expect) {
  for (;;) {
    unsigned char *b = c->in.p;
    if (c->in.len < 2)
      return GO_ON;
    if (b[1] & 0x80)
      die(EXIT_ERROR, "protocol error: the server masked a frame");
    if (b[0] & 0x70)
      die(EXIT_ERROR, "protocol error: reserved bits set");
    uint64_t len = b[1] & 0x7F;
    size_t hl = 2;
    if (len == 126) {
      hl = 4;
      if (c->in.len < hl)
        return GO_ON;
      len = ((uint64_t)b[2] << 8) | b[3];
    } else if (len == 127) {
      hl = 10;
      if (c->in.len < hl)
        return GO_ON;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = (len << 8) | b[2 + i];
    }
    if (len > MAX_FRAME)
      die(EXIT_ERROR, "protocol error: frame of %llu bytes", (unsigned long long)len);
    if (c->in.len - hl < len)
      return GO_ON;
    rx_state st = on_frame(c, b[0] >> 7, b[0] & 0x0F, b + hl, (size_t)len, expect);
    buf_consume(&c->in, hl + (size_t)len);
    if (st != GO_ON)
      return st;
  }
}

/* Reads what the socket has; PEER_CLOSED also on EOF or reset. */
static rx_state read_socket(client *c, long expect) {
  unsigned char tmp[65536];
  ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
  if (n < 0 && errno == EINTR)
    return GO_ON;
  if (n <= 0) {
    fprintf(stderr, "close 1006 connection %s without a close frame\n", n < 0 ? "reset" : "closed");
    fflush(stderr);
    return PEER_CLOSED;
  }
  buf_append(&c->in, tmp, (size_t)n);
  return parse_frames(c, expect);
}

/* After our close frame: wait (briefly) for the server's answer. */
static void finish_close(client *c, int64_t deadline) {
  c->draining = 1;
  int64_t until = now_ms() + CLOSE_WAIT_MS;
  if (until > deadline)
    until = deadline;
  while (wait_readable(c->fd, until))
    if (read_socket(c, 0) == PEER_CLOSED)
      return;
}

/* Sends each complete line that stdin has; returns 1 at its end. */
static int pump_stdin(client *c, buf *line) {
  char tmp[4096];
  ssize_t n = read(0, tmp, sizeof tmp);
  if (n < 0 && errno == EINTR)
    return 0;
  if (n < 0)
    die(EXIT_ERROR, "stdin: %s", strerror(errno));
  if (n == 0) {
    if (line->len) /* a last line without its newline */
      send_frame(c, OP_TEXT, line->p, line->len);
    line->len = 0;
    return 1;
  }
  buf_append(line, tmp, (size_t)n);
  unsigned char *nl;
  while (line->len && (nl = memchr(line->p, '\n', line->len))) {
    size_t l = (size_t)(nl - line->p);
    size_t t = l;
    if (t && line->p[t - 1] == '\r')
      t--;
    if (t)
      send_frame(c, OP_TEXT, line->p, t);
    buf_consume(line, l + 1);
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *target = NULL;
  outgoing *sends = calloc((size_t)argc, sizeof *sends);
  size_t nsends = 0;
  int use_stdin = 0;
  long expect = 0, no_read_ms = 0, rcvbuf = 0;
  double timeout_s = 10;
  if (!sends)
    die(EXIT_ERROR, "out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(USAGE, stdout);
      free(sends);
      return EXIT_DONE;
    } else if ((!strcmp(a, "--send") || !strcmp(a, "--send-binary")) && has_value) {
      if (use_stdin)
        die(EXIT_ERROR, "`--send -` must be the last --send");
      if (!strcmp(argv[i + 1], "-") && !strcmp(a, "--send"))
        use_stdin = 1;
      else
        sends[nsends++] = (outgoing){argv[i + 1], !strcmp(a, "--send-binary")};
      i++;
    } else if (!strcmp(a, "--expect") && has_value) {
      expect = parse_long(argv[++i], "--expect", 1);
    } else if (!strcmp(a, "--no-read-ms") && has_value) {
      no_read_ms = parse_long(argv[++i], "--no-read-ms", 0);
    } else if (!strcmp(a, "--rcvbuf") && has_value) {
      rcvbuf = parse_long(argv[++i], "--rcvbuf", 1);
      if (rcvbuf > 1 << 30)
        die(EXIT_ERROR, "--rcvbuf must be at most 1 GiB");
    } else if (!strcmp(a, "--timeout") && has_value) {
      char *end = NULL;
      timeout_s = strtod(argv[++i], &end);
      if (!*argv[i] || *end || !(timeout_s > 0 && timeout_s < 86400))
        die(EXIT_ERROR, "--timeout must be a number of seconds in (0, 86400) (got '%s')", argv[i]);
    } else if (a[0] == '-' && a[1] == '-') {
      die(EXIT_ERROR, "unknown option or missing value: %s (see --help)", a);
    } else if (!target) {
      target = a;
    } else {
      die(EXIT_ERROR, "one URL only (got '%s' and '%s')", target, a);
    }
  }
  if (!target) {
    fputs(USAGE, stderr);
    free(sends);
    return EXIT_ERROR;
  }
  signal(SIGPIPE, SIG_IGN);
  int64_t deadline = now_ms() + (int64_t)(timeout_s * 1000);

  url u;
  parse_url(target, &u);
  client c = {.fd = dial(&u, rcvbuf)};
  handshake(&c, &u, deadline);
  for (size_t i = 0; i < nsends; i++) {
    const char *d = sends[i].data;
    send_frame(&c, sends[i].binary ? OP_BINARY : OP_TEXT, d, strlen(d));
  }
  free(sends);
  if (no_read_ms)
    sleep_ms(no_read_ms);

  /* Frames that came with the 101 (or during the pause) come first. */
  rx_state st = parse_frames(&c, expect);
  buf line = {0};
  int stdin_open = use_stdin;
  int code = EXIT_TIMEOUT;
  while (st == GO_ON) {
    if (!stdin_open && use_stdin && !expect) { /* end of input ends the run */
      send_close(&c, 1000);
      finish_close(&c, deadline);
      code = EXIT_DONE;
      break;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0)
      break;
    struct pollfd p[2] = {{c.fd, POLLIN, 0}, {0, POLLIN, 0}};
    int n = poll(p, stdin_open ? 2 : 1, left > 1000000 ? 1000000 : (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die(EXIT_ERROR, "poll: %s", strerror(errno));
    if (p[0].revents)
      st = read_socket(&c, expect);
    if (st == GO_ON && stdin_open && p[1].revents)
      stdin_open = !pump_stdin(&c, &line);
  }
  if (st == GOT_ENOUGH) {
    send_close(&c, 1000);
    finish_close(&c, deadline);
    code = EXIT_DONE;
  } else if (st == PEER_CLOSED) {
    code = expect ? EXIT_CLOSED : EXIT_DONE;
  } else if (code == EXIT_TIMEOUT) {
    fprintf(stderr, "agentai-ws-client: timeout after %g s (%ld text frames)\n", timeout_s,
            c.frames);
  }
  free(line.p);
  free(c.in.p);
  free(c.msg.p);
  close(c.fd);
  return code;
}
