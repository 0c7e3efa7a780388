/* tests/unit/mock_fixture.h — shared setup for the mock provider tests: the plugin loaded
 * through the real loader, a loop with a deadline, a recording chat sink, JSON path
 * helpers, and the suite's temporary data folder. */
#pragma once

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "check.h"
#include "plugin/loader.h"

#define MOCK_SO TEST_PLUGIN_DIR "/provider-mock.so"
#define MAX_DELTAS 64

static uv_loop_t loop;
static uv_timer_t deadline;
static int deadline_hit;
static char tmpdir[64];

/* ---- fixture: a registry with the mock loaded ---- */

typedef struct fixture {
  plugin_registry *reg;
  const agentai_provider_def *def;
} fixture;

/* Loads the mock with config_json (NULL = "{}"); returns plugin_load's code. */
static inline int fx_try_open(fixture *f, const char *config_json, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  CHECK_EQ_INT(plugin_registry_new(&loop, tmpdir, &f->reg), 0);
  err[0] = '\0';
  int rc = plugin_load(f->reg, MOCK_SO, config_json, err, err_len);
  f->def = plugin_find_provider(f->reg, "mock");
  return rc;
}

static inline void fx_open(fixture *f, const char *config_json) {
  char err[1024];
  int rc = fx_try_open(f, config_json, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
  CHECK(f->def->chat && f->def->cancel && f->def->info && f->def->close);
}

static inline void fx_close(fixture *f) {
  plugin_registry_free(f->reg);
  uv_run(&loop, UV_RUN_DEFAULT); /* lets closed timers and the writer finish */
}

/* ---- loop helpers ---- */

/* Microseconds: libuv timers count whole milliseconds from a cached loop
 * time, so a delay of d ms is observed as at least (d - 1) ms of real time. */
static inline uint64_t now_us(void) {
  return uv_hrtime() / 1000u;
}

/* Whether at least ms milliseconds passed between two now_us() stamps. */
static inline int waited(uint64_t from_us, uint64_t to_us, uint64_t ms) {
  return to_us - from_us + 1000 >= ms * 1000;
}

static inline void deadline_cb(uv_timer_t *t) {
  (void)t;
  deadline_hit = 1;
}

/* Runs the loop until *flag is set or max_ms passed (flag NULL: for max_ms). */
static inline void run_until(const int *flag, uint64_t max_ms) {
  deadline_hit = 0;
  uv_update_time(&loop);
  uv_timer_start(&deadline, deadline_cb, max_ms, 0);
  while (!(flag && *flag) && !deadline_hit)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&deadline);
}

/* ---- a recording sink ---- */

typedef struct result {
  agentai_chat_sink sink; /* lives here: valid until done, as the contract asks */
  const agentai_provider_def *def;
  void *call;
  int in_chat, done_in_chat;
  int done; /* number of done() calls */
  int err;
  char *response;
  char message[512];
  int64_t retry_after_ms;
  int http_status;
  char *deltas[MAX_DELTAS];
  uint64_t delta_us[MAX_DELTAS];
  size_t n_deltas;
  size_t deltas_at_done;
  int callbacks_after_done;
  size_t cancel_at_delta; /* cancel from inside the n-th delta (1-based), 0 = never */
  uint64_t start_us, done_us;
} result;

static inline void on_delta(void *ud, const char *chunk, size_t len) {
  result *r = ud;
  if (r->done)
    r->callbacks_after_done++;
  CHECK(r->n_deltas < MAX_DELTAS);
  CHECK_EQ_INT(strlen(chunk), len);
  r->deltas[r->n_deltas] = strndup(chunk, len);
  r->delta_us[r->n_deltas++] = now_us();
  if (r->cancel_at_delta && r->n_deltas == r->cancel_at_delta)
    r->def->cancel(r->def->ud, r->call);
}

static inline void on_done(void *ud, const agentai_chat_outcome *o) {
  result *r = ud;
  if (r->done)
    r->callbacks_after_done++;
  r->done++;
  r->done_in_chat = r->in_chat;
  r->done_us = now_us();
  r->deltas_at_done = r->n_deltas;
  CHECK(o->size >= sizeof *o);
  r->err = o->err;
  r->retry_after_ms = o->retry_after_ms;
  r->http_status = o->http_status;
  if (o->err == 0) {
    CHECK(o->response_json != NULL);
    CHECK_EQ_INT(strlen(o->response_json), o->response_len);
    r->response = strndup(o->response_json, o->response_len);
  } else {
    CHECK(o->message != NULL);
    snprintf(r->message, sizeof r->message, "%s", o->message);
  }
}

static inline void result_init(result *r, const fixture *f) {
  memset(r, 0, sizeof *r);
  r->def = f->def;
  r->sink.ud = r;
  r->sink.delta = on_delta;
  r->sink.done = on_done;
}

static inline void result_free(result *r) {
  free(r->response);
  for (size_t i = 0; i < r->n_deltas; i++)
    free(r->deltas[i]);
  r->response = NULL;
  r->n_deltas = 0;
}

/* Starts a chat; returns chat()'s code. */
static inline int start(result *r, const char *req) {
  r->start_us = now_us();
  uv_update_time(&loop); /* timers start from the loop's cached time: make it now */
  r->in_chat = 1;
  int rc = r->def->chat(r->def->ud, req, strlen(req), &r->sink, &r->call);
  r->in_chat = 0;
  return rc;
}

/* Runs a chat to completion, checking it was accepted and done once. */
static inline void chat_sync(const fixture *f, result *r, const char *req) {
  result_init(r, f);
  CHECK_EQ_INT(start(r, req), 0);
  run_until(&r->done, 5000);
  CHECK_EQ_INT(r->done, 1);
}

/* Value at a dotted path ("choices.0.message.content"); numbers index arrays. */
static inline const cJSON *jget(const cJSON *root, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = root;
  for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
       tok = strtok_r(NULL, ".", &save)) {
    if (cJSON_IsArray(cur))
      cur = cJSON_GetArrayItem(cur, atoi(tok));
    else
      cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
  }
  return cur;
}

static inline const char *jstr(const cJSON *root, const char *path) {
  const cJSON *v = jget(root, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline long long jnum(const cJSON *root, const char *path) {
  const cJSON *v = jget(root, path);
  CHECK(cJSON_IsNumber(v));
  return (long long)v->valuedouble;
}

#define CHECK_JSTR(root, path, expect)                                                 \
  do {                                                                                 \
    const char *got_ = jstr(root, path);                                               \
    if (!got_ || strcmp(got_, expect) != 0)                                            \
      fprintf(stderr, "%s = %s, expected %s\n", path, got_ ? got_ : "(none)", expect); \
    CHECK(got_ &&strcmp(got_, expect) == 0);                                           \
  } while (0)

static inline cJSON *parse_response(const result *r) {
  CHECK_EQ_INT(r->err, 0);
  cJSON *root = cJSON_Parse(r->response);
  CHECK(root != NULL);
  return root;
}

/* ---- suite setup ---- */

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Runs at exit, also when a CHECK fails. */
static inline void remove_tmpdir(void) {
  nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Makes the data folder and the loop; call first in main(). */
static inline void mock_suite_begin(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/agentai-mock-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  atexit(remove_tmpdir);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  uv_unref((uv_handle_t *)&deadline);
}

/* Closes the loop, checking that no test left a handle behind; call last in main(). */
static inline void mock_suite_end(void) {
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
