/* tests/unit/test_lua_host.c — the Lua host's embedding API: concurrent workflows, cancellation,
 * budgets, teardown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "check.h"

static app a;
static char tmpdir[] = "/tmp/agentai-luahost-XXXXXX";

typedef struct result {
  int done;
  int status;
  char kind[32];
  char text[2048];
  uint64_t at_ms;
} result;

static void on_done(void *ud, lh_workflow *wf, const lh_outcome *out) {
  result *r = ud;
  r->done = 1;
  r->status = out->status;
  r->at_ms = uv_now(&a.loop);
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

/* Writes source to <tmp>/name and starts it. */
static lh_workflow *start(const char *name, const char *source, result *r) {
  char path[256], err[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  write_file(path, source);
  lh_workflow *wf = NULL;
  int rc = lh_workflow_start(&a.lua, path, NULL, on_done, r, &wf, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "start %s: %s\n", name, err);
  CHECK_EQ_INT(rc, 0);
  return wf;
}

/* Runs the loop until every result is done (or 10 s pass). */
static void run_until(result **rs, int n) {
  uint64_t deadline = uv_now(&a.loop) + 10000;
  for (;;) {
    int all = 1;
    for (int i = 0; i < n; i++)
      all &= rs[i]->done;
    if (all || uv_now(&a.loop) > deadline)
      break;
    uv_run(&a.loop, UV_RUN_ONCE);
  }
  for (int i = 0; i < n; i++)
    CHECK(rs[i]->done);
}

/* Closes a stack timer and lets the loop finish closing it before the frame goes. */
static void close_timer(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
  uv_run(&a.loop, UV_RUN_NOWAIT);
}

static void cancel_cb(uv_timer_t *t) {
  lh_workflow_cancel(t->data, "stopped by the test");
}

static void test_cancel_while_sleeping(void) {
  result r = {0};
  uint64_t t0 = uv_now(&a.loop);
  lh_workflow *wf = start("sleepy.lua",
                          "local ai = require('agentai')\n"
                          "return function() ai.sleep(30) return 'woke' end\n",
                          &r);
  uv_timer_t timer;
  uv_timer_init(&a.loop, &timer);
  timer.data = wf;
  uv_timer_start(&timer, cancel_cb, 50, 0);
  result *rs[] = {&r};
  run_until(rs, 1);
  close_timer(&timer);
  CHECK_EQ_INT(r.status, AGENTAI_ECANCELED);
  CHECK(strcmp(r.kind, "cancelled") == 0);
  CHECK_STR_CONTAINS(r.text, "stopped by the test");
  CHECK(r.at_ms - t0 < 2000); /* not the 30 s sleep */
}

static void test_cancel_during_llm_call(void) {
  result r = {0};
  lh_workflow *wf = start("slow_llm.lua",
                          "local ai = require('agentai')\n"
                          "return function()\n"
                          "  return ai.llm.chat{messages = {{role = 'user', content = 'x'}},\n"
                          "                     mock = {latency_ms = 5000}}\n"
                          "end\n",
                          &r);
  uv_timer_t timer;
  uv_timer_init(&a.loop, &timer);
  timer.data = wf;
  uv_timer_start(&timer, cancel_cb, 30, 0);
  result *rs[] = {&r};
  run_until(rs, 1);
  close_timer(&timer);
  CHECK_EQ_INT(r.status, AGENTAI_ECANCELED);
}

/* The workflow returns while spawned fibers still sleep or write: their
 * timers are cancelled, their writes complete durably in the background. */
static void test_return_with_fibers_pending(void) {
  result r = {0}, check = {0};
  start("leave.lua",
        "local ai = require('agentai')\n"
        "return function()\n"
        "  ai.spawn(function() ai.sleep(20) end)\n"
        "  for i = 1, 20 do ai.spawn(function() ai.kv.put('left/' .. i, i) end) end\n"
        "  ai.sleep(0)\n"
        "  return 'left early'\n"
        "end\n",
        &r);
  uint64_t t0 = uv_now(&a.loop);
  result *rs[] = {&r};
  run_until(rs, 1);
  CHECK_EQ_INT(r.status, 0);
  CHECK(strcmp(r.text, "\"left early\"") == 0);
  CHECK(r.at_ms - t0 < 2000);
  /* Writes that were in flight were detached, not lost. */
  for (int i = 0; i < 50; i++)
    uv_run(&a.loop, UV_RUN_NOWAIT);
  start("count.lua",
        "local ai = require('agentai')\n"
        "return function() ai.sleep(0.05) return #ai.kv.scan('left/', {limit = 100}) end\n",
        &check);
  result *rc[] = {&check};
  run_until(rc, 1);
  CHECK_EQ_INT(check.status, 0);
  CHECK_EQ_INT(atoi(check.text), 20);
}

/* A busy workflow is time-sliced: a sleeping one beside it wakes on time. */
static void test_two_workflows_share_the_loop(void) {
  result busy = {0}, sleeper = {0};
  start("busy.lua",
        "local ai = require('agentai')\n"
        "return function()\n"
        "  local deadline, n = ai.now() + 0.4, 0\n"
        "  while ai.now() < deadline do n = n + 1 end\n"
        "  return n\n"
        "end\n",
        &busy);
  start("sleeper.lua",
        "local ai = require('agentai')\n"
        "return function() local t = ai.now() ai.sleep(0.05) return ai.now() - t end\n",
        &sleeper);
  result *rs[] = {&busy, &sleeper};
  run_until(rs, 2);
  CHECK_EQ_INT(busy.status, 0);
  CHECK_EQ_INT(sleeper.status, 0);
  CHECK(sleeper.at_ms < busy.at_ms); /* it did not wait for the busy one */
  CHECK(atof(sleeper.text) < 0.3);
}

/* One workflow over its memory budget fails; the other is untouched. */
static void test_memory_kill_is_contained(void) {
  result hog = {0}, fine = {0};
  size_t saved = a.cfg.lua_memory_limit;
  a.cfg.lua_memory_limit = 8u << 20;
  start("hog.lua",
        "return function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end "
        "end\n",
        &hog);
  a.cfg.lua_memory_limit = saved;
  start("fine.lua",
        "local ai = require('agentai')\n"
        "return function() ai.sleep(0.01) local t = {} for i = 1, 1000 do t[i] = i end return #t "
        "end\n",
        &fine);
  result *rs[] = {&hog, &fine};
  run_until(rs, 2);
  CHECK_EQ_INT(hog.status, AGENTAI_ENOMEM);
  CHECK(strcmp(hog.kind, "memory_limit") == 0);
  CHECK_STR_CONTAINS(hog.text, "memory budget exceeded (8 MiB)");
  CHECK_EQ_INT(fine.status, 0);
  CHECK(strcmp(fine.text, "1000") == 0);
}

static void test_start_errors(void) {
  char err[512];
  lh_workflow *wf = NULL;
  result r = {0};
  char path[256];
  snprintf(path, sizeof path, "%s/missing.lua", tmpdir);
  CHECK_EQ_INT(lh_workflow_start(&a.lua, path, NULL, on_done, &r, &wf, err, sizeof err),
               AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(err, "cannot open");
  snprintf(path, sizeof path, "%s/syntax.lua", tmpdir);
  write_file(path, "return function(\n");
  CHECK_EQ_INT(lh_workflow_start(&a.lua, path, NULL, on_done, &r, &wf, err, sizeof err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "syntax.lua:2:");
  snprintf(path, sizeof path, "%s/ok.lua", tmpdir);
  write_file(path, "return function(x) return x end\n");
  CHECK_EQ_INT(lh_workflow_start(&a.lua, path, "{bad", on_done, &r, &wf, err, sizeof err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "input is not valid JSON");
  CHECK_EQ_INT(r.done, 0); /* done is never called for a refused start */
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  char data[300], err[1024];
  snprintf(data, sizeof data, "%s/data", tmpdir);
  app_options opts = {.data_dir = data};
  CHECK_EQ_INT(app_config(&a, &opts, err, sizeof err), 0);
  snprintf(a.cfg.plugin_dir, sizeof a.cfg.plugin_dir, "%s", TEST_PLUGIN_DIR);
  int rc = app_start(&a, 1, err, sizeof err);
  if (rc)
    fprintf(stderr, "app_start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  RUN(test_start_errors);
  RUN(test_cancel_while_sleeping);
  RUN(test_cancel_during_llm_call);
  RUN(test_return_with_fibers_pending);
  RUN(test_two_workflows_share_the_loop);
  RUN(test_memory_kill_is_contained);
  app_stop(&a);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_DONE();
}
