/* tests/upstream/upstream_fixture.h — C unit-test helper: runs tests/upstream/llm_upstream.js
 * (node) on an ephemeral port, talks plain HTTP to its control endpoints, stops it, and makes a
 * self-signed certificate for its TLS mode. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentai/plugin.h"

#ifndef TEST_SOURCE_DIR
#error "upstream_fixture.h needs TEST_SOURCE_DIR (tests/CMakeLists.txt defines it)"
#endif

/** The upstream script that upstream_start() runs with node. */
#define UPSTREAM_JS TEST_SOURCE_DIR "/tests/upstream/llm_upstream.js"
/** Size the cert_path and key_path buffers of upstream_make_cert() must have. */
#define UPSTREAM_PATH_MAX 4096
/** At most this many whitespace-separated words in upstream_start()'s extra_args. */
#define UPSTREAM_MAX_ARGS 32
/** How long upstream_start() waits for the port line, and upstream_request() for an answer. */
#define UPSTREAM_DEADLINE_MS 10000

extern char **environ;

/** A running upstream. Zero it (or let upstream_start() fill it) before use. */
typedef struct upstream {
  pid_t pid;         /**< the node process; 0 when not running */
  int in_fd;         /**< write end of its stdin: closing it makes the upstream exit */
  int out_fd;        /**< read end of its stdout (it prints nothing after the port line) */
  int port;          /**< the port it listens on, on 127.0.0.1 */
  int tls;           /**< 1 when started with --tls-cert/--tls-key */
  char base_url[64]; /**< "http://127.0.0.1:PORT", or "https://..." with TLS; no trailing slash */
} upstream;

static inline long long upstream_now_ms_(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves fd above the standard descriptors and marks it close-on-exec, so that a test run
 * with stdin closed cannot get a pipe end on 0..2 and other children do not inherit it. */
static inline int upstream_cloexec_fd_(int fd) {
  if (fd > 2) {
    return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? fd : -1;
  }
  int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return hi;
}

static inline int upstream_pipe_(int p[2]) {
  if (pipe(p) != 0) {
    return -1;
  }
  p[0] = upstream_cloexec_fd_(p[0]);
  p[1] = upstream_cloexec_fd_(p[1]);
  if (p[0] < 0 || p[1] < 0) {
    if (p[0] >= 0) {
      close(p[0]);
    }
    if (p[1] >= 0) {
      close(p[1]);
    }
    return -1;
  }
  return 0;
}

/* Waits for pid up to ms; SIGKILLs it after that. Returns the wait status, or -1. */
static inline int upstream_reap_(pid_t pid, int ms) {
  long long deadline = upstream_now_ms_() + ms;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return status;
    }
    if (r < 0 && errno != EINTR) {
      return -1;
    }
    if (upstream_now_ms_() >= deadline) {
      kill(pid, SIGKILL);
      while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
      }
      return r == pid ? status : -1;
    }
    struct timespec nap = {0, 5 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
}

/**
 * Starts `node tests/upstream/llm_upstream.js --port 0 EXTRA_ARGS` with pipes on its stdin and
 * stdout, and waits (UPSTREAM_DEADLINE_MS at most) for its {"port":N,"tls":B} line.
 * extra_args: NULL or whitespace-separated words, no quoting (e.g. "--api-key sk-test").
 * Returns 0 and fills *u; AGENTAI_ENOENT when node cannot be run, AGENTAI_EINVAL for too many
 * words, AGENTAI_ETIMEDOUT without a port line in time, AGENTAI_EIO when node exits first (its
 * stderr, e.g. a usage message, goes to the test's stderr). On error nothing is left running.
 */
static inline int upstream_start(upstream *u, const char *extra_args) {
  memset(u, 0, sizeof *u);
  u->in_fd = u->out_fd = -1;

  char *words = strdup(extra_args ? extra_args : "");
  if (!words) {
    return AGENTAI_ENOMEM;
  }
  char *argv[UPSTREAM_MAX_ARGS + 5];
  int argc = 0;
  argv[argc++] = "node";
  argv[argc++] = UPSTREAM_JS;
  argv[argc++] = "--port";
  argv[argc++] = "0";
  char *save = NULL;
  for (char *w = strtok_r(words, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
    if (argc >= UPSTREAM_MAX_ARGS + 4) {
      fprintf(stderr, "upstream_start: more than %d extra arguments\n", UPSTREAM_MAX_ARGS);
      free(words);
      return AGENTAI_EINVAL;
    }
    argv[argc++] = w;
  }
  argv[argc] = NULL;

  int in[2], out[2];
  if (upstream_pipe_(in) != 0) {
    free(words);
    return AGENTAI_EIO;
  }
  if (upstream_pipe_(out) != 0) {
    close(in[0]);
    close(in[1]);
    free(words);
    return AGENTAI_EIO;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "node", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(words);
  close(in[0]);
  close(out[1]);
  if (err != 0) {
    fprintf(stderr, "upstream_start: cannot run node: %s (packaging/install-deps.sh installs it)\n",
            strerror(err));
    close(in[1]);
    close(out[0]);
    return AGENTAI_ENOENT;
  }

  /* The port line, within the deadline. */
  char line[256];
  size_t len = 0;
  long long deadline = upstream_now_ms_() + UPSTREAM_DEADLINE_MS;
  int rc = 0;
  while (!memchr(line, '\n', len)) {
    long long left = deadline - upstream_now_ms_();
    if (left <= 0) {
      fprintf(stderr, "upstream_start: no port line from node within %d ms\n",
              UPSTREAM_DEADLINE_MS);
      rc = AGENTAI_ETIMEDOUT;
      break;
    }
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      continue; /* the deadline check above ends it */
    }
    ssize_t got = read(out[0], line + len, sizeof line - 1 - len);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      fprintf(stderr, "upstream_start: node exited before printing its port\n");
      rc = AGENTAI_EIO;
      break;
    }
    len += (size_t)got;
    if (len >= sizeof line - 1 && !memchr(line, '\n', len)) {
      rc = AGENTAI_EMALFORMED;
      break;
    }
  }
  line[len] = '\0';
  const char *p = rc == 0 ? strstr(line, "\"port\":") : NULL;
  long port = p ? strtol(p + 7, NULL, 10) : 0;
  if (rc == 0 && (port <= 0 || port > 65535)) {
    fprintf(stderr, "upstream_start: unexpected first line from node: %s\n", line);
    rc = AGENTAI_EMALFORMED;
  }
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    kill(pid, SIGTERM);
    upstream_reap_(pid, 2000);
    return rc;
  }
  u->pid = pid;
  u->in_fd = in[1];
  u->out_fd = out[0];
  u->port = (int)port;
  u->tls = strstr(line, "\"tls\":true") != NULL;
  snprintf(u->base_url, sizeof u->base_url, "%s://127.0.0.1:%d", u->tls ? "https" : "http",
           u->port);
  return 0;
}

/**
 * Stops an upstream: closes its stdin, SIGTERMs it and waits (SIGKILL after 5 s). A no-op on a
 * zeroed or already stopped *u. Returns 0 when it exited cleanly, AGENTAI_EIO when it had
 * crashed or had to be killed.
 */
static inline int upstream_stop(upstream *u) {
  if (u->pid <= 0) {
    return 0;
  }
  close(u->in_fd);
  kill(u->pid, SIGTERM);
  int status = upstream_reap_(u->pid, 5000);
  close(u->out_fd);
  u->pid = 0;
  u->in_fd = u->out_fd = -1;
  int clean = status >= 0 && ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                              (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
  return clean ? 0 : AGENTAI_EIO;
}

/**
 * One blocking plain-HTTP request to a running (non-TLS) upstream, for the control endpoints
 * and small JSON calls: sends METHOD PATH as HTTP/1.0 with body (NULL: none) as JSON, reads the
 * whole answer (UPSTREAM_DEADLINE_MS at most) and copies its body, truncated and NUL-terminated,
 * into out (out_len > 0). Returns the HTTP status; AGENTAI_ENOTSUP with TLS, AGENTAI_EIO or
 * AGENTAI_ETIMEDOUT when the exchange fails.
 */
static inline int upstream_request(const upstream *u, const char *method, const char *path,
                                   const char *body, char *out, size_t out_len) {
  out[0] = '\0';
  if (u->tls) {
    return AGENTAI_ENOTSUP;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return AGENTAI_EIO;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)u->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return AGENTAI_EIO;
  }
  size_t blen = body ? strlen(body) : 0;
  char head[512];
  int hl = snprintf(head, sizeof head,
                    "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    method, path, blen);
  if (hl < 0 || (size_t)hl >= sizeof head) {
    close(fd);
    return AGENTAI_EINVAL;
  }
  const char *parts[2] = {head, body ? body : ""};
  size_t lens[2] = {(size_t)hl, blen};
  for (int i = 0; i < 2; i++) {
    size_t off = 0;
    while (off < lens[i]) {
      ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        close(fd);
        return AGENTAI_EIO;
      }
      off += (size_t)w;
    }
  }

  /* HTTP/1.0: the answer is close-delimited and never chunked. Keep the status line and as much
   * of the body as fits; drain the rest. */
  size_t cap = out_len + 1024;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return AGENTAI_ENOMEM;
  }
  size_t len = 0;
  int rc = 0;
  long long deadline = upstream_now_ms_() + UPSTREAM_DEADLINE_MS;
  for (;;) {
    long long left = deadline - upstream_now_ms_();
    if (left <= 0) {
      rc = AGENTAI_ETIMEDOUT;
      break;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno != EINTR) {
      rc = AGENTAI_EIO;
      break;
    }
    if (n <= 0) {
      continue;
    }
    char scratch[4096];
    char *dst = len < cap - 1 ? buf + len : scratch;
    size_t room = len < cap - 1 ? cap - 1 - len : sizeof scratch;
    ssize_t got = recv(fd, dst, room, 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      rc = AGENTAI_EIO;
      break;
    }
    if (got == 0) {
      break;
    }
    if (dst != scratch) {
      len += (size_t)got;
    }
  }
  close(fd);
  buf[len] = '\0';
  int status = 0;
  const char *sep = strstr(buf, "\r\n\r\n");
  if (rc == 0 && (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || !sep)) {
    rc = AGENTAI_EIO;
  }
  if (rc == 0) {
    snprintf(out, out_len, "%s", sep + 4);
    rc = status;
  }
  free(buf);
  return rc;
}

/** Clears the upstream's call log and flaky counters (POST /_control/reset). 0 or a code. */
static inline int upstream_reset(const upstream *u) {
  char out[64];
  int st = upstream_request(u, "POST", "/_control/reset", NULL, out, sizeof out);
  return st == 200 ? 0 : st < 0 ? st : AGENTAI_EIO;
}

/**
 * Writes a self-signed certificate (CN=localhost, subjectAltName DNS:localhost,IP:127.0.0.1,
 * P-256 key, 2 days) to DIR/upstream-cert.pem and its key to DIR/upstream-key.pem with
 * `openssl req -x509`, for --tls-cert/--tls-key; the paths go to cert_path and key_path, each
 * a buffer of UPSTREAM_PATH_MAX bytes. Returns 0; AGENTAI_EINVAL when the paths do not fit,
 * AGENTAI_ENOENT without openssl, AGENTAI_EIO when openssl fails (e.g. dir does not exist).
 */
static inline int upstream_make_cert(const char *dir, char *cert_path, char *key_path) {
  int a = snprintf(cert_path, UPSTREAM_PATH_MAX, "%s/upstream-cert.pem", dir);
  int b = snprintf(key_path, UPSTREAM_PATH_MAX, "%s/upstream-key.pem", dir);
  if (a < 0 || a >= UPSTREAM_PATH_MAX || b < 0 || b >= UPSTREAM_PATH_MAX) {
    return AGENTAI_EINVAL;
  }
  char *argv[] = {"openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:prime256v1",
                  "-nodes",
                  "-keyout",
                  key_path,
                  "-out",
                  cert_path,
                  "-days",
                  "2",
                  "-subj",
                  "/CN=localhost",
                  "-addext",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1",
                  NULL};
  /* openssl draws a progress line on stderr even when it succeeds: keep the test log clean. */
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "openssl", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) {
    fprintf(stderr, "upstream_make_cert: cannot run openssl: %s\n", strerror(err));
    return AGENTAI_ENOENT;
  }
  int status = upstream_reap_(pid, 30000);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "upstream_make_cert: openssl req failed for %s\n", cert_path);
    return AGENTAI_EIO;
  }
  return 0;
}
