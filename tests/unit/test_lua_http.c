/* tests/unit/test_lua_http.c — ai.http.request from workflows, in-process against a real HTTP
 * server on 127.0.0.1: results, errors, on_data, cancellation, and journal replay without a new
 * request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "check.h"
#include "net_fixture.h"

static app a;
static ts_server srv;
static char tmpdir[] = "/tmp/agentai-luahttp-XXXXXX";

typedef struct result {
  int done;
  int status;
  char kind[32];
  char text[4096];
} result;

static void on_done(void *ud, lh_workflow *wf, const lh_outcome *out) {
  result *r = ud;
  r->done = 1;
  r->status = out->status;
  snprintf(r->kind, sizeof r->kind, "%s", out->error_kind ? out->error_kind : "");
  snprintf(r->text, sizeof r->text, "%s", out->status ? out->error : out->result_json);
  lh_workflow_free(wf);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void tick(uv_timer_t *t) {
  (void)t;
}

static void run_until(const int *flag, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&a.loop, &t);
  uv_timer_start(&t, tick, 10, 10);
  uint64_t deadline = uv_now(&a.loop) + ms;
  while (!(flag && *flag) && uv_now(&a.loop) < deadline)
    uv_run(&a.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&a.loop, UV_RUN_NOWAIT);
}

/* Runs source as <tmp>/name with {"port": <server port>} as input, and the
 * run options given (journal), to its end. */
static void run(const char *name, const char *source, const lh_run_options *base, result *r) {
  char path[256], err[512], input[64];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  write_file(path, source);
  snprintf(input, sizeof input, "{\"port\":%d}", srv.port);
  lh_run_options opts = {0};
  if (base)
    opts = *base;
  opts.input_json = input;
  lh_workflow *wf = NULL;
  memset(r, 0, sizeof *r);
  int rc = lh_workflow_run(&a.lua, path, &opts, on_done, r, &wf, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "start %s: %s\n", name, err);
  CHECK_EQ_INT(rc, 0);
  run_until(&r->done, 10000);
  CHECK(r->done);
  if (r->status != 0)
    fprintf(stderr, "%s failed: %s\n", name, r->text);
}

#define PRELUDE                     \
  "local ai = require('agentai')\n" \
  "return function(input)\n"        \
  "  local base = 'http://127.0.0.1:' .. input.port\n"

static void test_requests(void) {
  result r;
  run("basics.lua",
      PRELUDE
      "  local r = ai.http.request{url = base .. '/ok'}\n"
      "  assert(r.status == 200, 'status ' .. tostring(r.status))\n"
      "  assert(r.body == 'hello', r.body)\n"
      "  assert(r.headers['x-test'] == 'yes' and r.headers['X-Test'] == nil)\n"
      "  local e = ai.http.request{method = 'put', url = base .. '/echo?a=1',\n"
      "    headers = {['X-Custom'] = 'v', ['X-Num'] = 5}, body = 'payload', timeout = 5,\n"
      "    connect_timeout = 2, idle_timeout = 3, max_bytes = 100000}\n"
      "  assert(e.body:find('PUT /echo?a=1 HTTP/1.1\\r\\n', 1, true), e.body)\n"
      "  assert(e.body:find('X-Custom: v\\r\\n', 1, true), e.body)\n"
      "  assert(e.body:find('X-Num: 5\\r\\n', 1, true), e.body)\n"
      "  assert(e.body:sub(-7) == 'payload')\n"
      "  local t = ai.http.request{url = base .. '/status/429'}\n"
      "  assert(t.status == 429 and t.headers['retry-after'] == '7' and t.body == 'slow down')\n"
      "  local b = ai.http.request{url = base .. '/binary'}\n"
      "  assert(b.body == '\\0\\xff\\xfeabc')\n"
      "  local x = ai.spawn(function() return ai.http.request{url = base .. '/chunked'}.body end)\n"
      "  local y = ai.spawn(function() return ai.http.request{url = base .. '/slow-drip'}.body "
      "end)\n"
      "  local rx, ry = ai.wait(x, y)\n"
      "  return {rx, ry}\n"
      "end\n",
      NULL, &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK(strcmp(r.text, "[\"hello world\",\"drip0drip1drip2drip3drip4drip5drip6drip7\"]") == 0);
}

static void test_errors(void) {
  int port = ts_free_port(&a.loop);
  char src[4096];
  snprintf(src, sizeof src,
           PRELUDE
           "  local function fails(req)\n"
           "    local ok, e = pcall(ai.http.request, req)\n"
           "    assert(not ok, 'no error')\n"
           "    return e\n"
           "  end\n"
           "  local out = {}\n"
           "  local e = fails{url = 'http://127.0.0.1:%d/v1/x?key=QUERYSECRET',\n"
           "                  headers = {Authorization = 'Bearer HEADERSECRET'}}\n"
           "  out.refused = {e.kind, e.message, e.retryable, tostring(e)}\n"
           "  e = fails{url = base .. '/hang', timeout = 0.2}\n"
           "  out.timeout = {e.kind, e.message, e.retryable}\n"
           "  e = fails{url = base .. '/huge', max_bytes = 1000}\n"
           "  out.big = {e.kind, e.message}\n"
           "  e = fails{url = 'file:///etc/passwd'}\n"
           "  out.file = {e.kind, e.message}\n"
           "  e = fails{url = 'ftp://127.0.0.1/x'}\n"
           "  out.ftp = {e.kind}\n"
           "  e = fails{url = base .. '/ok', ca_file = '/etc/ssl/certs/ca-certificates.crt'}\n"
           "  out.ca = {e.kind, e.message}\n"
           "  e = fails{url = base .. '/ok', timeout = -1}\n"
           "  out.neg = {e.kind, e.message}\n"
           "  e = fails{url = base .. '/ok', headers = {['Bad Name'] = 'x'}}\n"
           "  out.hdr = {e.kind, e.message}\n"
           "  e = fails{url = base .. '/ok', headers = {['X-A'] = 'a\\r\\nX-B: b'}}\n"
           "  out.crlf = {e.kind}\n"
           "  e = fails{url = 'http://user:pw-SECRET@127.0.0.1:%d/p?q=1', method = 'GE T'}\n"
           "  out.method = {e.kind, e.message}\n"
           "  e = fails{}\n"
           "  out.nourl = {e.kind, e.message}\n"
           "  return out\n"
           "end\n",
           port, port);
  result r;
  run("errors.lua", src, NULL, &r);
  CHECK_EQ_INT(r.status, 0);
  char expect[256];
  snprintf(expect, sizeof expect,
           "\"refused\":[\"server_error\",\"ai.http.request: GET http://127.0.0.1:%d/v1/x: "
           "connection refused",
           port);
  CHECK_STR_CONTAINS(r.text, expect);
  CHECK_STR_CONTAINS(r.text, "connection refused\",true,\"");                     /* retryable */
  CHECK_STR_CONTAINS(r.text, "errors.lua:5: server_error: ai.http.request: GET"); /* tostring */
  CHECK_STR_CONTAINS(r.text, ": server_error: ai.http.request: GET http://127.0.0.1:");
  CHECK(strstr(r.text, "QUERYSECRET") == NULL);
  CHECK(strstr(r.text, "HEADERSECRET") == NULL);
  CHECK(strstr(r.text, "pw-SECRET") == NULL);
  CHECK_STR_CONTAINS(r.text, "\"timeout\":[\"timeout\",\"ai.http.request: GET http://127.0.0.1:");
  CHECK_STR_CONTAINS(r.text, "/hang: timed out after 200 ms");
  CHECK_STR_CONTAINS(r.text, "\"big\":[\"too_large\",\"ai.http.request: GET ");
  CHECK_STR_CONTAINS(r.text, "/huge: response body larger than 1000 bytes");
  CHECK_STR_CONTAINS(r.text, "\"file\":[\"invalid\",\"ai.http.request: GET file:///etc/passwd: "
                             "only absolute http:// and https:// URLs are allowed\"]");
  CHECK_STR_CONTAINS(r.text, "\"ftp\":[\"invalid\"]");
  CHECK_STR_CONTAINS(r.text, "\"ca\":[\"invalid\",\"ai.http.request: unknown field 'ca_file'");
  CHECK_STR_CONTAINS(r.text, "\"neg\":[\"invalid\",\"ai.http.request: timeout must be");
  CHECK_STR_CONTAINS(r.text, "\"hdr\":[\"invalid\",\"ai.http.request: GET http://127.0.0.1:");
  CHECK_STR_CONTAINS(r.text, "\"crlf\":[\"invalid\"]");
  snprintf(expect, sizeof expect,
           "\"method\":[\"invalid\",\"ai.http.request: GE T http://127.0.0.1:%d/p: invalid", port);
  CHECK_STR_CONTAINS(r.text, expect);
  CHECK_STR_CONTAINS(r.text, "\"nourl\":[\"invalid\",\"ai.http.request: url must be a string\"]");
}

static void test_on_data(void) {
  result r;
  run("stream.lua",
      PRELUDE "  local chunks = {}\n"
              "  local r = ai.http.request{url = base .. '/slow-drip',\n"
              "    on_data = function(c) chunks[#chunks + 1] = c end}\n"
              "  assert(r.status == 200 and r.body == nil)\n"
              "  assert(#chunks >= 8, #chunks)\n"
              "  local ok, e = pcall(ai.http.request, {url = base .. '/slow-drip',\n"
              "    on_data = function(c) error('enough: ' .. c) end})\n"
              "  assert(not ok)\n"
              "  local ok2, e2 = pcall(ai.http.request, {url = base .. '/slow-drip',\n"
              "    on_data = function(c) ai.sleep(0.01) end})\n"
              "  assert(not ok2)\n"
              "  return {table.concat(chunks), tostring(e), tostring(e2)}\n"
              "end\n",
      NULL, &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK_STR_CONTAINS(r.text, "[\"drip0drip1drip2drip3drip4drip5drip6drip7\",\"");
  CHECK_STR_CONTAINS(r.text, "stream.lua:10: enough: drip0\"");
  CHECK_STR_CONTAINS(r.text, "ai.sleep must be called from a workflow");

  /* an uncaught on_data error fails the workflow with that error */
  run("stream_fail.lua",
      PRELUDE
      "  ai.http.request{url = base .. '/chunked', on_data = function() error('boom') end}\n"
      "end\n",
      NULL, &r);
  CHECK(r.status != 0);
  CHECK_STR_CONTAINS(r.text, "stream_fail.lua:4: boom");
}

static void cancel_cb(uv_timer_t *t) {
  lh_workflow_cancel(t->data, "stopped by the test");
}

static void test_cancel_while_waiting(void) {
  char path[256], err[512], input[64];
  snprintf(path, sizeof path, "%s/hang.lua", tmpdir);
  write_file(path, PRELUDE "  return ai.http.request{url = base .. '/hang'}\nend\n");
  snprintf(input, sizeof input, "{\"port\":%d}", srv.port);
  result r = {0};
  lh_workflow *wf = NULL;
  int open_before = srv.open;
  CHECK_EQ_INT(lh_workflow_start(&a.lua, path, input, on_done, &r, &wf, err, sizeof err), 0);
  uv_timer_t t;
  uv_timer_init(&a.loop, &t);
  t.data = wf;
  uv_timer_start(&t, cancel_cb, 100, 0);
  uint64_t t0 = uv_now(&a.loop);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.status, AGENTAI_ECANCELED);
  CHECK(uv_now(&a.loop) - t0 < 2000);
  uv_close((uv_handle_t *)&t, NULL);
  run_until(NULL, 100);
  CHECK(srv.open <= open_before); /* the client dropped its connection */
}

/* ---- journal replay ---- */

typedef struct journal {
  lh_journal_entry e[16];
  size_t n;
  int done;
} journal;

static int journal_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  journal *j = ud;
  CHECK(j->n < 16);
  char *k = malloc(klen + 1), *v = malloc(vlen + 1);
  memcpy(k, key, klen);
  memcpy(v, value, vlen);
  k[klen] = v[vlen] = '\0';
  j->e[j->n++] = (lh_journal_entry){k, klen, v, vlen};
  return 0;
}

static void journal_done(void *ud, int err) {
  journal *j = ud;
  CHECK_EQ_INT(err, 0);
  j->done = 1;
}

static void journal_read(const char *prefix, journal *j) {
  memset(j, 0, sizeof *j);
  char end[64];
  size_t end_len = store_prefix_end(prefix, strlen(prefix), end);
  agentai_scan_range range = {
      .start = prefix, .start_len = strlen(prefix), .end = end, .end_len = end_len, .limit = 100};
  CHECK_EQ_INT(a.store.def->scan(a.store.db, NULL, &range, journal_item, journal_done, j), 0);
  run_until(&j->done, 5000);
  CHECK(j->done);
}

static void journal_free(journal *j) {
  for (size_t i = 0; i < j->n; i++) {
    free((char *)j->e[i].key);
    free((char *)j->e[i].value);
  }
}

static void test_journal_replay(void) {
  int port = ts_free_port(&a.loop);
  char src[2048], changed[2048];
  const char *fmt =
      PRELUDE "  local r = ai.http.request{method = 'POST', url = base .. '/%s', body = 'x',\n"
              "                            headers = {Authorization = 'Bearer one'}}\n"
              "  local b = ai.http.request{url = base .. '/binary'}\n"
              "  local seen = {}\n"
              "  local s = ai.http.request{url = base .. '/chunked',\n"
              "    on_data = function(c) seen[#seen + 1] = c end}\n"
              "  local ok, e = pcall(ai.http.request, {url = 'http://127.0.0.1:%d/'})\n"
              "  return {echo = r.body:sub(1, 16), len = #b.body, bin = b.body == "
              "'\\0\\xff\\xfeabc',\n"
              "          streamed = table.concat(seen), n = #seen, body = s.body == nil,\n"
              "          err = e.kind}\n"
              "end\n";
  snprintf(src, sizeof src, fmt, "echo", port);
  snprintf(changed, sizeof changed, fmt, "ok", port);
  lh_run_options opts = {.journal_prefix = "jtest/1/"};
  int before = srv.requests;
  result first;
  run("journaled.lua", src, &opts, &first);
  CHECK_EQ_INT(first.status, 0);
  CHECK_EQ_INT(srv.requests - before, 3);
  /* live, on_data saw the two chunks as they came; replayed, the whole body once */
  const char *live = "{\"bin\":true,\"body\":true,\"echo\":\"POST /echo HTTP/\",\"err\":"
                     "\"server_error\",\"len\":6,\"n\":2,\"streamed\":\"hello world\"}";
  const char *want = "{\"bin\":true,\"body\":true,\"echo\":\"POST /echo HTTP/\",\"err\":"
                     "\"server_error\",\"len\":6,\"n\":1,\"streamed\":\"hello world\"}";
  CHECK(strcmp(first.text, live) == 0);
  journal j;
  journal_read("jtest/1/", &j);
  CHECK_EQ_INT(j.n, 4);
  CHECK_STR_CONTAINS(j.e[0].value, "{\"k\":\"http.request\",\"h\":\"");
  CHECK_STR_CONTAINS(j.e[1].value, "\"body_b64\":\"AP/+YWJj\"");
  CHECK_STR_CONTAINS(j.e[2].value, "\"body\":\"hello world\"");
  CHECK_STR_CONTAINS(j.e[3].value, "\"err\":{\"code\":-14,");

  /* The replay (same attempt, same journal prefix) makes no request and
   * returns the same; the credential may have changed meanwhile (header
   * values are not part of the call's identity). on_data gets the recorded
   * body once. */
  char *src2 = strdup(src);
  memcpy(strstr(src2, "Bearer one"), "Bearer two", 10);
  opts.journal = j.e;
  opts.journal_len = j.n;
  before = srv.requests;
  result again;
  run("journaled.lua", src2, &opts, &again);
  CHECK_EQ_INT(again.status, 0);
  CHECK_EQ_INT(srv.requests, before);
  CHECK(strcmp(again.text, want) == 0); /* on_data: once, the whole body */
  free(src2);

  /* a different call at the same place is refused, not replayed */
  run("journaled.lua", changed, &opts, &again);
  CHECK(again.status != 0);
  CHECK_STR_CONTAINS(again.text, "nondeterminism");
  CHECK_EQ_INT(srv.requests, before);
  journal_free(&j);
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  char data[300], plugins[300], err[1024], cmd[1200];
  snprintf(data, sizeof data, "%s/data", tmpdir);
  snprintf(plugins, sizeof plugins, "%s/plugins", tmpdir);
  /* only the plugins this test needs */
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s' && ln -s '%s/storage-lmdb.so' '%s/provider-mock.so' '%s/'", plugins,
           TEST_PLUGIN_DIR, TEST_PLUGIN_DIR, plugins);
  CHECK_EQ_INT(system(cmd), 0);
  app_options opts = {.data_dir = data};
  CHECK_EQ_INT(app_config(&a, &opts, err, sizeof err), 0);
  snprintf(a.cfg.plugin_dir, sizeof a.cfg.plugin_dir, "%s", plugins);
  int rc = app_start(&a, 1, err, sizeof err);
  if (rc)
    fprintf(stderr, "app_start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  ts_start(&srv, &a.loop);
  RUN(test_requests);
  RUN(test_errors);
  RUN(test_on_data);
  RUN(test_cancel_while_waiting);
  RUN(test_journal_replay);
  ts_stop(&srv);
  app_stop(&a);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_DONE();
}
