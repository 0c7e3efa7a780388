/* tests/unit/test_llm_router_fixture.h — shared setup for the model router tests: the node test
 * upstream behind provider-openai ("up"), the mock provider ("mock"), optionally LMDB, a router
 * built from TOML text, and a recording llm_sink. */
#pragma once

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "check.h"
#include "core/config.h"
#include "core/errors.h"
#include "llm/llm.h"
#include "plugin/loader.h"
#include "store/store.h"
#include "../upstream/upstream_fixture.h"

#define MOCK_SO TEST_PLUGIN_DIR "/provider-mock.so"
#define OAI_SO TEST_PLUGIN_DIR "/provider-openai.so"
#define LMDB_SO TEST_PLUGIN_DIR "/storage-lmdb.so"

static uv_loop_t loop;
static uv_timer_t deadline;
static int deadline_hit;
static char tmpdir[64];
static upstream up;
static int up_started;

/* ---- loop helpers ---- */

static inline uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
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
  uv_ref((uv_handle_t *)&deadline); /* keeps an otherwise idle loop waiting for it */
  while (!(flag && *flag) && !deadline_hit)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&deadline);
  uv_unref((uv_handle_t *)&deadline);
}

/* ---- a router over the test providers ---- */

typedef struct rt {
  config cfg;
  plugin_registry *reg;
  store st;
  int has_store;
  llm_router *r;
} rt;

/* Builds cfg from toml, loads the mock, provider-openai ("up" at the upstream) and, when
 * data_dir is not NULL, LMDB over that folder for the cache; then the router. */
static inline void rt_open(rt *t, const char *toml, const char *data_dir) {
  memset(t, 0, sizeof *t);
  char err[1024] = "";
  config_defaults(&t->cfg);
  int rc = config_load_buffer(&t->cfg, toml, strlen(toml), "test.toml", err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "config: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(plugin_registry_new(&loop, tmpdir, &t->reg), 0);
  rc = plugin_load(t->reg, MOCK_SO, "{}", err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "mock: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  char oai[512];
  snprintf(oai, sizeof oai,
           "{\"providers\":{\"up\":{\"base_url\":\"%s/v1\",\"models\":[\"echo\"]}}}", up.base_url);
  rc = plugin_load(t->reg, OAI_SO, oai, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "openai: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  if (data_dir) {
    CHECK_EQ_INT(plugin_load(t->reg, LMDB_SO, "{}", err, sizeof err), 0);
    snprintf(t->cfg.data_dir, sizeof t->cfg.data_dir, "%s", data_dir);
    rc = store_open(&t->st, t->reg, &t->cfg, err, sizeof err);
    if (rc != 0)
      fprintf(stderr, "store: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    t->has_store = 1;
  }
  CHECK_EQ_INT(llm_router_new(&loop, t->reg, t->has_store ? &t->st : NULL, &t->cfg, &t->r), 0);
}

static inline void rt_close(rt *t) {
  llm_router_free(t->r);
  uv_run(&loop, UV_RUN_NOWAIT); /* closes the calls' timers */
  if (t->has_store)
    store_close(&t->st);
  plugin_registry_free(t->reg);
  uv_run(&loop, UV_RUN_DEFAULT); /* lets closed handles finish */
  config_free(&t->cfg);
}

static inline llm_stats rt_stats(const rt *t) {
  llm_stats s;
  llm_router_stats(t->r, &s);
  return s;
}

/* ---- a recording sink ---- */

typedef struct rec {
  llm_sink sink;
  llm_call *call;
  int done, err, http_status, attempts, cache_hit;
  int64_t retry_after_ms;
  char provider[64], model[128], message[512];
  char *response;
  size_t n_deltas, deltas_at_done;
  int callbacks_after_done;
  uint64_t start_ms, done_ms;
  size_t cancel_at_delta; /* llm_cancel from inside the n-th delta (1-based), 0 = never */
} rec;

static inline void rec_delta(void *ud, const char *chunk, size_t len) {
  rec *c = ud;
  if (c->done)
    c->callbacks_after_done++;
  CHECK_EQ_INT(strlen(chunk), len);
  c->n_deltas++;
  if (c->cancel_at_delta && c->n_deltas == c->cancel_at_delta)
    llm_cancel(c->call);
}

static inline void rec_done(void *ud, const llm_result *res) {
  rec *c = ud;
  if (c->done)
    c->callbacks_after_done++;
  c->done++;
  c->done_ms = now_ms();
  c->deltas_at_done = c->n_deltas;
  c->err = res->err;
  c->http_status = res->http_status;
  c->attempts = res->attempts;
  c->cache_hit = res->cache_hit;
  c->retry_after_ms = res->retry_after_ms;
  snprintf(c->provider, sizeof c->provider, "%s", res->provider ? res->provider : "(null)");
  snprintf(c->model, sizeof c->model, "%s", res->model ? res->model : "(null)");
  snprintf(c->message, sizeof c->message, "%s", res->message ? res->message : "");
  if (res->err == 0) {
    CHECK(res->response_json != NULL);
    CHECK_EQ_INT(strlen(res->response_json), res->response_len);
    c->response = strndup(res->response_json, res->response_len);
  } else {
    CHECK(res->message != NULL);
    CHECK(res->response_json == NULL);
  }
}

static inline void rec_init(rec *c) {
  memset(c, 0, sizeof *c);
  c->sink.ud = c;
  c->sink.delta = rec_delta;
  c->sink.done = rec_done;
}

static inline void rec_free(rec *c) {
  free(c->response);
  c->response = NULL;
}

/* Starts a call of json with cache mode and per-attempt limit; returns llm_start's code. */
static inline int rec_start(rt *t, rec *c, const char *json, int cache_mode, uint32_t timeout_ms) {
  rec_init(c);
  llm_request req = {.kind = LLM_CHAT,
                     .json = json,
                     .len = strlen(json),
                     .cache_mode = cache_mode,
                     .timeout_ms = timeout_ms};
  char err[256] = "";
  uv_update_time(&loop);
  c->start_ms = now_ms();
  int rc = llm_start(t->r, &req, &c->sink, &c->call, err, sizeof err);
  if (rc != 0)
    snprintf(c->message, sizeof c->message, "%s", err);
  return rc;
}

/* Runs one call to its end (max_ms), checking it was accepted and done once. */
static inline void rec_sync(rt *t, rec *c, const char *json, int cache_mode, uint32_t timeout_ms,
                            uint64_t max_ms) {
  CHECK_EQ_INT(rec_start(t, c, json, cache_mode, timeout_ms), 0);
  run_until(&c->done, max_ms);
  if (c->done != 1)
    fprintf(stderr, "call of %s did not end in %llu ms\n", json, (unsigned long long)max_ms);
  CHECK_EQ_INT(c->done, 1);
  CHECK_EQ_INT(c->callbacks_after_done, 0);
}

/* A chat request text for model (stream 0/1) asking "hi <word>". */
static inline const char *chat_json(const char *model, int stream, const char *word) {
  static char buf[512];
  snprintf(buf, sizeof buf,
           "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"hi "
           "%s\"}]}",
           model, stream ? "true" : "false", word);
  return buf;
}

/* ---- the upstream's call log ---- */

/* Requests the upstream saw for model since the last reset; their arrival times (epoch ms)
 * go to t (up to n_t of them) when t is not NULL. */
static inline int upstream_count(const char *model, long long *t, int n_t) {
  static char out[256 * 1024];
  CHECK_EQ_INT(upstream_request(&up, "GET", "/_control/calls", NULL, out, sizeof out), 200);
  cJSON *root = cJSON_Parse(out);
  CHECK(root != NULL);
  int n = 0;
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(root, "calls"), *c;
  cJSON_ArrayForEach(c, calls) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "model");
    if (cJSON_IsString(m) && strcmp(m->valuestring, model) == 0) {
      if (t && n < n_t)
        t[n] = (long long)cJSON_GetObjectItemCaseSensitive(c, "t")->valuedouble;
      n++;
    }
  }
  cJSON_Delete(root);
  return n;
}

/* ---- suite setup ---- */

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Runs at exit, also when a CHECK fails. */
static inline void suite_cleanup(void) {
  if (up_started)
    upstream_stop(&up);
  nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Makes the temporary folder and the loop, starts the upstream; call first in main(). */
static inline void suite_begin(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/agentai-router-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  atexit(suite_cleanup);
  CHECK_EQ_INT(upstream_start(&up, NULL), 0);
  up_started = 1;
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  uv_unref((uv_handle_t *)&deadline);
}

/* Closes the loop, checking that no test left a handle behind; call last in main(). */
static inline void suite_end(void) {
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
