/* bench/lib/serve_proc.c — an `agentai serve` child for the C benchmarks: start on an ephemeral
 * port read back from its log, stop with a signal; a blocking HTTP request for setup. */
#include "serve_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sp_server *g_watched;

static void on_alarm(int sig) {
  (void)sig;
  static const char MSG[] = "benchmark watchdog: out of time, the server is killed\n";
  if (g_watched && g_watched->pid > 0)
    kill(g_watched->pid, SIGKILL);
  (void)!write(2, MSG, sizeof MSG - 1);
  _exit(1);
}

void sp_watchdog(sp_server *s, unsigned seconds) {
  g_watched = s;
  signal(SIGALRM, on_alarm);
  alarm(seconds);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The port of the "listening" line in the log, 0 while there is none. */
static int read_port(const char *log_path) {
  FILE *f = fopen(log_path, "r");
  if (!f)
    return 0;
  char line[4096];
  int port = 0;
  while (!port && fgets(line, sizeof line, f)) {
    const char *p;
    if (strstr(line, "\"msg\":\"listening\"") && (p = strstr(line, "\"port\":")))
      port = atoi(p + 7);
  }
  fclose(f);
  return port;
}

int sp_start(sp_server *s, const char *agentai, const char *data_dir, const char *log_path,
             char *const *env) {
  memset(s, 0, sizeof *s);
  snprintf(s->log_path, sizeof s->log_path, "%s", log_path);
  /* Truncated here, before the child exists: the wait below must not read the
   * "listening" line of an earlier run. */
  int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "cannot write %s: %s\n", log_path, strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "fork: %s\n", strerror(errno));
    close(fd);
    return -1;
  }
  if (pid == 0) {
    for (size_t i = 0; env && env[i]; i++)
      putenv(env[i]);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(agentai, agentai, "serve", "--listen", "127.0.0.1:0", "--data", data_dir, (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", agentai, strerror(errno));
    _exit(127);
  }
  close(fd);
  s->pid = pid;
  for (int i = 0; i < 400; i++) {
    if ((s->port = read_port(log_path)) > 0)
      return 0;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "agentai serve exited before listening; its log (%s):\n", log_path);
      s->pid = 0;
      goto show_log;
    }
    sleep_ms(50);
  }
  fprintf(stderr, "agentai serve did not log \"listening\" within 20 s; its log (%s):\n", log_path);
  sp_stop(s, SIGKILL);
show_log:;
  FILE *f = fopen(log_path, "r");
  char line[1024];
  while (f && fgets(line, sizeof line, f))
    fputs(line, stderr);
  if (f)
    fclose(f);
  return -1;
}

int sp_stop(sp_server *s, int sig) {
  if (s->pid <= 0)
    return -1;
  kill(s->pid, sig);
  int st = -1;
  while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
    ;
  s->pid = 0;
  return st;
}

int sp_find_agentai(char *out, size_t out_len, const char *override) {
  if (override)
    snprintf(out, out_len, "%s", override);
  else
    snprintf(out, out_len, "%s/../agentai", BENCH_PLUGIN_DIR);
  if (access(out, X_OK) != 0) {
    fprintf(stderr, "no agentai binary at %s (build it, or pass --agentai PATH)\n", out);
    return -1;
  }
  return 0;
}

int sp_http(int port, const char *method, const char *path, const char *body, char *out,
            size_t out_len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  char head[1024];
  int n = snprintf(head, sizeof head,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   method, path, body ? strlen(body) : 0);
  if (n < 0 || (size_t)n >= sizeof head || write(fd, head, (size_t)n) != n ||
      (body && write(fd, body, strlen(body)) != (ssize_t)strlen(body))) {
    close(fd);
    return -1;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  ssize_t r;
  while (buf && (r = read(fd, buf + len, cap - len)) > 0) {
    len += (size_t)r;
    if (len == cap) {
      char *p = realloc(buf, cap * 2 + 1);
      if (!p)
        break;
      buf = p;
      cap *= 2;
    }
  }
  close(fd);
  if (!buf)
    return -1;
  buf[len] = '\0';
  int status = -1;
  const char *sep = strstr(buf, "\r\n\r\n");
  if (len > 12 && !strncmp(buf, "HTTP/1.", 7) && sep) {
    status = atoi(buf + 9);
    if (out && out_len)
      snprintf(out, out_len, "%s", sep + 4);
  }
  free(buf);
  return status;
}

int sp_json_str(const char *json, const char *key, char *out, size_t out_len) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  if (!p)
    return -1;
  p += strlen(pat);
  const char *e = strchr(p, '"');
  if (!e || (size_t)(e - p) >= out_len)
    return -1;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
  return 0;
}
