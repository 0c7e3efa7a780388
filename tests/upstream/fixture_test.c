/* tests/upstream/fixture_test.c — checks upstream_fixture.h itself: start/stop, extra arguments,
 * the control helpers, TLS certificates, failures, and that an orphaned upstream exits. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "upstream_fixture.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* True once pid is gone or a zombie nobody reaped yet (its parent is not us). */
static int process_gone(pid_t pid) {
  char path[64], stat[256] = {0};
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) {
    return 1;
  }
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *close_paren = strrchr(stat, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static void test_start_request_stop(void) {
  upstream u;
  CHECK_EQ_INT(upstream_start(&u, NULL), 0);
  CHECK(u.pid > 0);
  CHECK(u.port > 0 && u.port <= 65535);
  CHECK_EQ_INT(u.tls, 0);
  char want[64];
  snprintf(want, sizeof want, "http://127.0.0.1:%d", u.port);
  CHECK(strcmp(u.base_url, want) == 0);

  char out[4096];
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, out, sizeof out), 200);
  CHECK(strcmp(out, "{\"total\":0,\"calls\":[]}") == 0);
  CHECK_EQ_INT(upstream_request(&u, "POST", "/v1/chat/completions",
                                "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\","
                                "\"content\":\"hi from C\"}]}",
                                out, sizeof out),
               200);
  CHECK_STR_CONTAINS(out, "\"content\":\"echo: hi from C\"");
  CHECK_EQ_INT(upstream_request(&u, "POST", "/v1/chat/completions", "{\"model\":", out, sizeof out),
               400);
  CHECK_EQ_INT(upstream_request(&u, "POST", "/api/chat", "{\"model\":\"nope\",\"messages\":[]}",
                                out, sizeof out),
               404);
  CHECK(strcmp(out, "{\"error\":\"model \\\"nope\\\" not found, try pulling it first\"}") == 0);
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, out, sizeof out), 200);
  CHECK_STR_CONTAINS(out, "{\"total\":3,");
  CHECK_STR_CONTAINS(out, "\"http\":\"1.0\"");

  /* A small buffer gets a truncated, terminated body; the status is still right. */
  char tiny[8];
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, tiny, sizeof tiny), 200);
  CHECK(strcmp(tiny, "{\"total") == 0);
  /* A large body is drained completely. */
  CHECK_EQ_INT(upstream_request(&u, "POST", "/v1/chat/completions",
                                "{\"model\":\"huge\",\"messages\":[{\"role\":\"user\","
                                "\"content\":\"x\"}]}",
                                tiny, sizeof tiny),
               200);

  CHECK_EQ_INT(upstream_reset(&u), 0);
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, out, sizeof out), 200);
  CHECK(strcmp(out, "{\"total\":0,\"calls\":[]}") == 0);

  pid_t pid = u.pid;
  CHECK_EQ_INT(upstream_stop(&u), 0);
  CHECK_EQ_INT(u.pid, 0);
  CHECK(kill(pid, 0) != 0); /* reaped: no zombie left */
  CHECK_EQ_INT(upstream_stop(&u), 0);
  /* Stopped: the port no longer answers. */
  u.pid = 0;
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, out, sizeof out), AGENTAI_EIO);
}

static void test_extra_args_and_two_at_once(void) {
  upstream a, b;
  CHECK_EQ_INT(upstream_start(&a, "--api-key  sk-fixture\t"), 0);
  CHECK_EQ_INT(upstream_start(&b, ""), 0);
  CHECK(a.port != b.port);
  char out[1024];
  const char *chat = "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  CHECK_EQ_INT(upstream_request(&a, "POST", "/v1/chat/completions", chat, out, sizeof out), 401);
  CHECK_STR_CONTAINS(out, "\"code\":\"invalid_api_key\"");
  CHECK_EQ_INT(upstream_request(&b, "POST", "/v1/chat/completions", chat, out, sizeof out), 200);
  /* Stopping one leaves the other serving. */
  CHECK_EQ_INT(upstream_stop(&a), 0);
  CHECK_EQ_INT(upstream_request(&b, "GET", "/v1/models", NULL, out, sizeof out), 200);
  CHECK_STR_CONTAINS(out, "\"id\":\"echo\"");
  CHECK_EQ_INT(upstream_stop(&b), 0);
}

static void test_start_failures(void) {
  upstream u;
  long long t0 = upstream_now_ms_();
  CHECK_EQ_INT(upstream_start(&u, "--bogus"), AGENTAI_EIO); /* node prints usage and exits 2 */
  CHECK(upstream_now_ms_() - t0 < 5000);
  CHECK_EQ_INT(u.pid, 0);
  CHECK_EQ_INT(upstream_start(&u, "--tls-cert /nonexistent/c.pem --tls-key /nonexistent/k.pem"),
               AGENTAI_EIO);
  char many[1024] = "";
  for (int i = 0; i < UPSTREAM_MAX_ARGS + 1; i++) {
    strcat(many, "--host 127.0.0.1 ");
  }
  CHECK_EQ_INT(upstream_start(&u, many), AGENTAI_EINVAL);
  CHECK_EQ_INT(upstream_stop(&u), 0);
}

static void test_tls(void) {
  char cert[UPSTREAM_PATH_MAX], key[UPSTREAM_PATH_MAX];
  CHECK_EQ_INT(upstream_make_cert(tmpdir, cert, key), 0);
  CHECK_STR_CONTAINS(cert, "/upstream-cert.pem");
  CHECK_STR_CONTAINS(key, "/upstream-key.pem");
  CHECK(access(cert, R_OK) == 0 && access(key, R_OK) == 0);

  char cmd[UPSTREAM_PATH_MAX + 128], text[4096];
  snprintf(cmd, sizeof cmd, "openssl x509 -in '%s' -noout -subject -ext subjectAltName", cert);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  size_t n = fread(text, 1, sizeof text - 1, p);
  text[n] = '\0';
  CHECK_EQ_INT(pclose(p), 0);
  CHECK_STR_CONTAINS(text, "CN = localhost");
  CHECK_STR_CONTAINS(text, "DNS:localhost");
  CHECK_STR_CONTAINS(text, "IP Address:127.0.0.1");

  char args[2 * UPSTREAM_PATH_MAX + 64];
  snprintf(args, sizeof args, "--tls-cert %s --tls-key %s", cert, key);
  upstream u;
  CHECK_EQ_INT(upstream_start(&u, args), 0);
  CHECK_EQ_INT(u.tls, 1);
  char want[64];
  snprintf(want, sizeof want, "https://127.0.0.1:%d", u.port);
  CHECK(strcmp(u.base_url, want) == 0);
  char out[64];
  CHECK_EQ_INT(upstream_request(&u, "GET", "/_control/calls", NULL, out, sizeof out),
               AGENTAI_ENOTSUP);
  CHECK_EQ_INT(upstream_stop(&u), 0);

  char missing[UPSTREAM_PATH_MAX];
  snprintf(missing, sizeof missing, "%s/no/such/dir", tmpdir);
  CHECK_EQ_INT(upstream_make_cert(missing, cert, key), AGENTAI_EIO);
  char *longdir = malloc(UPSTREAM_PATH_MAX + 1);
  CHECK(longdir != NULL);
  memset(longdir, 'a', UPSTREAM_PATH_MAX);
  longdir[UPSTREAM_PATH_MAX] = '\0';
  CHECK_EQ_INT(upstream_make_cert(longdir, cert, key), AGENTAI_EINVAL);
  free(longdir);
}

/* A test process that dies without upstream_stop() must not leave node behind: the upstream
 * sees its stdin close and exits. */
static void test_orphan_exits(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    close(p[0]);
    upstream u;
    pid_t pid = upstream_start(&u, NULL) == 0 ? u.pid : -1;
    if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid) {
      _exit(2);
    }
    _exit(0); /* no upstream_stop: the test "died" */
  }
  close(p[1]);
  pid_t up_pid = 0;
  CHECK_EQ_INT(read(p[0], &up_pid, sizeof up_pid), sizeof up_pid);
  close(p[0]);
  int status = 0;
  CHECK_EQ_INT(waitpid(child, &status, 0), child);
  CHECK(up_pid > 0);
  long long deadline = upstream_now_ms_() + 5000;
  while (!process_gone(up_pid) && upstream_now_ms_() < deadline) {
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  CHECK(process_gone(up_pid));
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/agentai-upstream-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  RUN(test_start_request_stop);
  RUN(test_extra_args_and_two_at_once);
  RUN(test_start_failures);
  RUN(test_tls);
  RUN(test_orphan_exits);
  nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  CHECK(access(tmpdir, F_OK) != 0);
  CHECK_DONE();
}
