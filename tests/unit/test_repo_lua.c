/* tests/unit/test_repo_lua.c — ai.repo from real workflows: scan, read, search and patch on the
 * thread pool, argument errors, patch_rejected errors, a workflow ending while work runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "check.h"

static app a;
static char tmpdir[] = "/tmp/agentai-repolua-XXXXXX";
static char repo[300];

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

static void put(const char *rel, const char *text) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", repo, rel);
  for (char *s = path + strlen(repo) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(path, 0755);
    *s = '/';
  }
  write_file(path, text);
}

/* Runs source (a workflow getting the repository root as its input) to its end. */
static void run(const char *name, const char *source, result *r) {
  char path[400], err[512], input[400];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  write_file(path, source);
  snprintf(input, sizeof input, "\"%s\"", repo);
  lh_workflow *wf = NULL;
  memset(r, 0, sizeof *r);
  int rc = lh_workflow_start(&a.lua, path, input, on_done, r, &wf, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "start %s: %s\n", name, err);
  CHECK_EQ_INT(rc, 0);
  uint64_t deadline = uv_now(&a.loop) + 10000;
  while (!r->done && uv_now(&a.loop) < deadline)
    uv_run(&a.loop, UV_RUN_ONCE);
  CHECK(r->done);
  if (r->status)
    fprintf(stderr, "%s: %s: %s\n", name, r->kind, r->text);
}

static void test_scan_read_search(void) {
  put(".gitignore", "*.log\n");
  put("src/main.c", "int main(void) {\n  return 0;\n}\n");
  put("src/util.lua", "local M = {}\nreturn M\n");
  put("debug.log", "noise\n");
  result r;
  run("scan.lua",
      "local ai = require('agentai')\n"
      "return function(root)\n"
      "  local s = ai.repo.scan(root)\n"
      "  local out = {}\n"
      "  for _, f in ipairs(s.files) do\n"
      "    out[#out + 1] = f.path .. ':' .. f.language .. ':' .. f.lines .. ':' .. f.size\n"
      "  end\n"
      "  local only = ai.repo.scan(root, {include = '*.lua'})\n"
      "  local text = ai.repo.read(root, 'src/main.c', {from = 2, to = 2})\n"
      "  local hits = ai.repo.search(root, 'return')\n"
      "  local pat = ai.repo.search(root, '^%s+return %d', {plain = false, glob = {'*.c'}})\n"
      "  return {files = table.concat(out, ','), only = #only.files, text = text,\n"
      "          hits = #hits, first = hits[1].path .. ':' .. hits[1].line,\n"
      "          pat = #pat, truncated = s.truncated}\n"
      "end\n",
      &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK_STR_CONTAINS(r.text, "\"files\":\".gitignore:other:1:6,src/main.c:c:3:31,"
                             "src/util.lua:lua:2:22\"");
  CHECK_STR_CONTAINS(r.text, "\"only\":1");
  CHECK_STR_CONTAINS(r.text, "\"text\":\"  return 0;\\n\"");
  CHECK_STR_CONTAINS(r.text, "\"hits\":2");
  CHECK_STR_CONTAINS(r.text, "\"first\":\"src/main.c:2\"");
  CHECK_STR_CONTAINS(r.text, "\"pat\":1");
  CHECK_STR_CONTAINS(r.text, "\"truncated\":false");
}

static void test_errors(void) {
  result r;
  run("escape.lua",
      "local ai = require('agentai')\n"
      "return function(root)\n"
      "  local ok, e = pcall(ai.repo.read, root, '../etc/passwd')\n"
      "  local ok2, e2 = pcall(ai.repo.scan, root, {bogus = 1})\n"
      "  local ok3, e3 = pcall(ai.repo.search, root, '(x)', {plain = false})\n"
      "  return {ok = ok, kind = e.kind, msg = e.message, ok2 = ok2, msg2 = e2.message,\n"
      "          msg3 = e3.message}\n"
      "end\n",
      &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK_STR_CONTAINS(r.text, "\"ok\":false");
  CHECK_STR_CONTAINS(r.text, "\"kind\":\"invalid\"");
  CHECK_STR_CONTAINS(r.text, "ai.repo.read: path '../etc/passwd' refused");
  CHECK_STR_CONTAINS(r.text, "unknown option 'bogus'");
  CHECK_STR_CONTAINS(r.text, "captures are not supported");
  run("missing.lua",
      "local ai = require('agentai')\n"
      "return function(root) return ai.repo.read(root, 'nope.txt') end\n",
      &r);
  CHECK_EQ_INT(r.status, AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(r.text, "nope.txt");
  CHECK_STR_CONTAINS(r.text, "missing.lua:2:");
}

static void test_patch(void) {
  put("p.txt", "a\nb\nc\n");
  result r;
  run("patch.lua",
      "local ai = require('agentai')\n"
      "return function(root)\n"
      "  local diff = '--- a/p.txt\\n+++ b/p.txt\\n@@ -1,3 +1,3 @@\\n a\\n-b\\n+B\\n c\\n'\n"
      "  local dry = ai.repo.patch(root, diff, {dry_run = true})\n"
      "  local before = ai.repo.read(root, 'p.txt')\n"
      "  local res = ai.repo.patch(root, diff)\n"
      "  local after = ai.repo.read(root, 'p.txt')\n"
      "  local ok, e = pcall(ai.repo.patch, root, diff)\n"
      "  return {dry = dry.dry_run, before = before, after = after, f = res.files[1].path,\n"
      "          added = res.files[1].added, removed = res.files[1].removed,\n"
      "          status = res.files[1].status, ok = ok, kind = e.kind, msg = e.message}\n"
      "end\n",
      &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK_STR_CONTAINS(r.text, "\"dry\":true");
  CHECK_STR_CONTAINS(r.text, "\"before\":\"a\\nb\\nc\\n\"");
  CHECK_STR_CONTAINS(r.text, "\"after\":\"a\\nB\\nc\\n\"");
  CHECK_STR_CONTAINS(r.text, "\"added\":1");
  CHECK_STR_CONTAINS(r.text, "\"removed\":1");
  CHECK_STR_CONTAINS(r.text, "\"status\":\"modified\"");
  CHECK_STR_CONTAINS(r.text, "\"ok\":false");
  CHECK_STR_CONTAINS(r.text, "\"kind\":\"patch_rejected\"");
  CHECK_STR_CONTAINS(r.text, "file 'p.txt', hunk 1 (@@ -1,3 +1,3 @@): context mismatch");
  /* unhandled, it ends the workflow with that kind */
  run("reject.lua",
      "local ai = require('agentai')\n"
      "return function(root)\n"
      "  return ai.repo.patch(root, 'not a diff')\n"
      "end\n",
      &r);
  CHECK(r.status != 0);
  CHECK(strcmp(r.kind, "patch_rejected") == 0);
  CHECK_STR_CONTAINS(r.text, "no file changes");
}

/* Many calls from spawned fibers at once, and a workflow that returns while a scan runs. */
static void test_concurrent_and_detached(void) {
  for (int i = 0; i < 200; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "many/f%03d.txt", i);
    put(rel, "x\ny\n");
  }
  result r;
  run("many.lua",
      "local ai = require('agentai')\n"
      "return function(root)\n"
      "  local hs = {}\n"
      "  for i = 1, 20 do hs[i] = ai.spawn(function() return #ai.repo.scan(root).files end) end\n"
      "  local total = 0\n"
      "  for i = 1, 20 do total = total + ai.wait(hs[i]) end\n"
      "  ai.spawn(function() ai.repo.scan(root) end)\n"
      "  return total\n"
      "end\n",
      &r);
  CHECK_EQ_INT(r.status, 0);
  CHECK(atoi(r.text) >= 20 * 200);
  /* the detached scan finishes on the pool and frees itself */
  for (int i = 0; i < 50; i++)
    uv_run(&a.loop, UV_RUN_NOWAIT), usleep(2000);
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  snprintf(repo, sizeof repo, "%s/repo", tmpdir);
  CHECK_EQ_INT(mkdir(repo, 0755), 0);
  char data[300], err[1024];
  snprintf(data, sizeof data, "%s/data", tmpdir);
  app_options opts = {.data_dir = data};
  CHECK_EQ_INT(app_config(&a, &opts, err, sizeof err), 0);
  snprintf(a.cfg.plugin_dir, sizeof a.cfg.plugin_dir, "%s", TEST_PLUGIN_DIR);
  int rc = app_start(&a, 0, err, sizeof err);
  if (rc)
    fprintf(stderr, "app_start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  RUN(test_scan_read_search);
  RUN(test_errors);
  RUN(test_patch);
  RUN(test_concurrent_and_detached);
  app_stop(&a);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_DONE();
}
