/* tests/unit/test_provider_mock_config.c — the mock provider's bad configurations and refused
 * requests, info() counters, and the calls file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mock_fixture.h"

/* ---- bad configuration and requests ---- */

static void test_bad_config(void) {
  static const struct {
    const char *config, *needle;
  } BAD[] = {
      {"{\"bogus\":true}", "bogus: unknown key"},
      {"{\"mode\":\"loud\"}", "mode: expected one of"},
      {"{\"mode\":\"fixed\"}", "text: required when mode is \"fixed\""},
      {"{\"text\":5}", "text: expected a string"},
      {"{\"latency_ms\":1.5}", "latency_ms: expected an integer"},
      {"{\"stream_delay_ms\":\"10\"}", "stream_delay_ms: expected an integer"},
      {"{\"models\":[]}", "models: expected a non-empty array"},
      {"{\"models\":[\"a\",3]}", "models[1]: expected a non-empty string"},
      {"{\"script\":{}}", "script: expected an array"},
      {"{\"script\":[{\"tool_calls\":[{\"arguments\":{}}]}]}",
       "script[0].tool_calls[0].name: expected a non-empty string"},
      {"{\"script\":[{},{\"tool_calls\":[{\"name\":\"f\",\"arguments\":[1]}]}]}",
       "script[1].tool_calls[0].arguments: expected an object or a JSON string"},
      {"{\"script\":[{\"finish_reason\":\"done\"}]}", "script[0].finish_reason"},
      {"{\"script\":[{\"content\":\"a\",\"error\":{\"kind\":\"auth\"}}]}",
       "script[0].error: cannot be combined"},
      {"{\"script\":[{\"contents\":\"a\"}]}", "script[0].contents: unknown key"},
      {"{\"error\":{\"kind\":\"nope\"}}", "error.kind: expected one of"},
      {"{\"error\":{\"kind\":\"timeout\",\"retry_after_ms\":5}}",
       "error.retry_after_ms: only valid with kind \"rate_limited\""},
      {"{\"error\":{\"kind\":\"timeout\",\"after_ms\":-1}}", "error.after_ms"},
      {"{\"calls_file\":7}", "calls_file: expected a non-empty path string"},
      {"{\"calls_file\":\"no/such/dir/calls.jsonl\"}", "calls_file: cannot open"},
      {"[1]", "configuration is not a JSON object"},
      {"{not json", "configuration is not a JSON object"},
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    fixture f;
    char err[1024];
    int rc = fx_try_open(&f, BAD[i].config, err, sizeof err);
    CHECK(rc < 0);
    CHECK_STR_CONTAINS(err, "provider-mock");
    CHECK_STR_CONTAINS(err, BAD[i].needle);
    CHECK(f.def == NULL); /* nothing registered */
    fx_close(&f);
  }
}

/* Reads what fd 2 received while fn ran. */
static void capture_stderr(char *out, size_t len, void (*fn)(void *), void *arg) {
  char path[128];
  snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);
  fn(arg);
  dup2(saved, 2);
  close(saved);
  ssize_t n = pread(fd, out, len - 1, 0);
  out[n > 0 ? n : 0] = '\0';
  close(fd);
  unlink(path);
}

typedef struct refusal {
  const fixture *f;
  const char *req;
  size_t req_len;
  int rc;
  result r;
} refusal;

static void refuse_fn(void *arg) {
  refusal *x = arg;
  result_init(&x->r, x->f);
  x->rc = x->f->def->chat(x->f->def->ud, x->req, x->req_len, &x->r.sink, &x->r.call);
}

static void test_bad_request(void) {
  fixture f;
  fx_open(&f, NULL);
  static const struct {
    const char *req, *why;
  } BAD[] = {
      {"{\"messages\":[{\"role\":\"user\"", "request is not valid JSON"},
      {"[]", "request is not a JSON object"},
      {"{\"model\":\"mock-1\"}", "messages must be an array"},
      {"{\"messages\":{}}", "messages must be an array"},
      {"{\"messages\":[]}", "messages must not be empty"},
      {"{\"messages\":[\"hi\"]}", "messages[0] must be an object"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}",
       "messages[1].role must be a non-empty string"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
       "messages[0].content must be a string, an array of parts or null"},
      {"{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
       "model must be a non-empty string"},
      {"{\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
       "stream must be true or false"},
      {"{\"tools\":{},\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
       "tools must be an array"},
      {"{\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
       "max_tokens must be a positive integer"},
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    refusal x = {.f = &f, .req = BAD[i].req, .req_len = strlen(BAD[i].req)};
    char logged[4096];
    capture_stderr(logged, sizeof logged, refuse_fn, &x);
    CHECK_EQ_INT(x.rc, AGENTAI_EINVAL);
    CHECK(x.r.call == NULL);
    CHECK_STR_CONTAINS(logged, "refused a chat request");
    CHECK_STR_CONTAINS(logged, BAD[i].why);
    run_until(NULL, 5);
    CHECK_EQ_INT(x.r.done, 0);
    CHECK_EQ_INT(x.r.n_deltas, 0);
  }
  /* request_len is honoured: a valid prefix of a longer buffer parses */
  const char *longer = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}GARBAGE";
  result r;
  result_init(&r, &f);
  CHECK_EQ_INT(f.def->chat(f.def->ud, longer, strlen(longer) - 7, &r.sink, &r.call), 0);
  CHECK_EQ_INT(r.done, 1);
  result_free(&r);

  /* refused calls are not counted */
  char *info = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  CHECK_STR_CONTAINS(info, "\"calls\":1,");
  free(info);
  fx_close(&f);
}

/* ---- info ---- */

static void test_info(void) {
  fixture f;
  fx_open(&f, NULL);
  char *info = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  cJSON *j = cJSON_Parse(info);
  CHECK(j != NULL);
  CHECK_EQ_INT(jnum(j, "calls"), 0);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(j, "calls_by_model")), 0);
  CHECK_JSTR(j, "models.0", "mock-1");
  CHECK_JSTR(j, "models.1", "mock-echo");
  CHECK_JSTR(j, "mode", "echo");
  cJSON_Delete(j);
  free(info);

  static const char *const REQS[] = {
      "{\"messages\":[{\"role\":\"user\",\"content\":\"1\"}]}",
      "{\"model\":\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":\"2\"}]}",
      "{\"model\":\"mock-echo\",\"messages\":[{\"role\":\"user\",\"content\":\"3\"}]}",
      "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"4\"}]}",
      ("{\"messages\":[{\"role\":\"user\",\"content\":\"5\"}],"
       "\"mock\":{\"error\":{\"kind\":\"timeout\"},\"mode\":\"error\"}}"),
  };
  result r;
  for (size_t i = 0; i < sizeof REQS / sizeof REQS[0]; i++) {
    chat_sync(&f, &r, REQS[i]);
    result_free(&r);
  }
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  j = cJSON_Parse(info);
  CHECK(j != NULL);
  CHECK_EQ_INT(jnum(j, "calls"), 5);
  CHECK_EQ_INT(jnum(j, "calls_by_model.mock-1"), 3);
  CHECK_EQ_INT(jnum(j, "calls_by_model.mock-echo"), 1);
  CHECK_EQ_INT(jnum(j, "calls_by_model.nope"), 1);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(j, "calls_by_model")), 3);
  cJSON_Delete(j);
  free(info);
  fx_close(&f);

  fx_open(&f, "{\"mode\":\"script\",\"script\":[{},{}],\"models\":[\"x\"],\"latency_ms\":3}");
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  j = cJSON_Parse(info);
  CHECK_JSTR(j, "mode", "script");
  CHECK_JSTR(j, "models.0", "x");
  CHECK_EQ_INT(cJSON_GetArraySize(jget(j, "models")), 1);
  CHECK_EQ_INT(jnum(j, "script_replies"), 2);
  CHECK_EQ_INT(jnum(j, "latency_ms"), 3);
  cJSON_Delete(j);
  free(info);
  fx_close(&f);
}

/* ---- calls file ---- */

/* The calls file's lines, parsed; returns how many. */
static size_t read_calls(const char *path, cJSON **lines, size_t max) {
  FILE *fp = fopen(path, "r");
  CHECK(fp != NULL);
  char buf[1024];
  size_t n = 0;
  while (fgets(buf, sizeof buf, fp)) {
    CHECK(n < max);
    CHECK(buf[strlen(buf) - 1] == '\n');
    lines[n] = cJSON_Parse(buf);
    CHECK(lines[n] != NULL);
    n++;
  }
  fclose(fp);
  return n;
}

static void test_calls_file(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/calls.jsonl", tmpdir);
  fixture f;
  fx_open(&f, "{\"calls_file\":\"calls.jsonl\"}"); /* relative to the data folder */
  result r;

  /* even without latency the reply waits for the line to be durable */
  result_init(&r, &f);
  CHECK_EQ_INT(start(&r, "{\"messages\":[{\"role\":\"user\",\"content\":\"first\"}]}"), 0);
  CHECK_EQ_INT(r.done, 0);
  CHECK(r.call != NULL);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.done, 1);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);

  /* several in flight at once share writes; a cancelled one is still recorded */
  result a, b, c;
  result_init(&a, &f);
  result_init(&b, &f);
  result_init(&c, &f);
  CHECK_EQ_INT(start(&a, "{\"model\":\"mock-echo\",\"messages\":[{\"role\":\"user\",\"content\":"
                         "\"second\"}]}"),
               0);
  CHECK_EQ_INT(start(&b, "{\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                         "{\"role\":\"user\",\"content\":\"third\"}]}"),
               0);
  CHECK_EQ_INT(start(&c, "{\"messages\":[{\"role\":\"system\",\"content\":\"no user\"}]}"), 0);
  c.def->cancel(c.def->ud, c.call);
  run_until(&b.done, 5000);
  run_until(&a.done, 5000);
  CHECK_EQ_INT(a.done, 1);
  CHECK_EQ_INT(b.done, 1);
  CHECK_EQ_INT(b.err, 0);
  CHECK(b.n_deltas > 0);
  run_until(NULL, 20);
  CHECK_EQ_INT(c.done, 0);
  result_free(&a);
  result_free(&b);

  cJSON *lines[8];
  size_t n = read_calls(path, lines, 8);
  CHECK_EQ_INT(n, 4);
  static const char *const LAST_USER[] = {"first", "second", "third", NULL};
  static const char *const MODEL[] = {"mock-1", "mock-echo", "mock-1", "mock-1"};
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ_INT(jnum(lines[i], "n"), i + 1);
    CHECK_JSTR(lines[i], "model", MODEL[i]);
    if (LAST_USER[i])
      CHECK_JSTR(lines[i], "last_user", LAST_USER[i]);
    else
      CHECK(cJSON_IsNull(jget(lines[i], "last_user")));
    cJSON_Delete(lines[i]);
  }
  fx_close(&f);

  /* a restart continues the numbering from the file */
  fx_open(&f, "{\"calls_file\":\"calls.jsonl\",\"mode\":\"fixed\",\"text\":\"t\"}");
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"user\",\"content\":\"fifth\"}]}");
  result_free(&r);
  n = read_calls(path, lines, 8);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_INT(jnum(lines[4], "n"), 5);
  CHECK_JSTR(lines[4], "last_user", "fifth");
  for (size_t i = 0; i < n; i++)
    cJSON_Delete(lines[i]);

  /* closing while a write is in flight is safe */
  result_init(&r, &f);
  CHECK_EQ_INT(start(&r, "{\"messages\":[{\"role\":\"user\",\"content\":\"sixth\"}]}"), 0);
  fx_close(&f);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
  unlink(path);
}

int main(void) {
  mock_suite_begin();

  RUN(test_bad_config);
  RUN(test_bad_request);
  RUN(test_info);
  RUN(test_calls_file);

  mock_suite_end();
  CHECK_DONE();
}
