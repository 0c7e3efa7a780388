/* tests/unit/provider_ollama_fixture.h — shared setup for the provider-ollama tests: the node test
 * upstream, the plugin loaded through the real loader, a loop with a deadline, a recording sink,
 * JSON path helpers and the upstream's call log. */
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
#include "../upstream/upstream_fixture.h"

#define OLL_SO TEST_PLUGIN_DIR "/provider-ollama.so"
#define KEEP_DELTAS 64
#define OLL_KEY_ENV "AGENTAI_TEST_OLLAMA_KEY"
#define OLL_KEY "ollama-secret-7373"

static uv_loop_t loop;
static uv_timer_t deadline;
static int deadline_hit;
static char tmpdir[64];
static upstream up;
static int up_started;
static char ctl_base[128];      /* where control() goes: up.base_url unless a test says */
static const char *ctl_ca_file; /* CA for control() over TLS, or NULL */

/* ---- fixture: a registry with the plugin loaded ---- */

typedef struct fixture {
  plugin_registry *reg;
  const agentai_provider_def *def;
} fixture;

/* Loads the plugin with config_json and finds provider; returns plugin_load's code. */
static inline int fx_try_open(fixture *f, const char *config_json, const char *provider, char *err,
                              size_t err_len) {
  memset(f, 0, sizeof *f);
  CHECK_EQ_INT(plugin_registry_new(&loop, tmpdir, &f->reg), 0);
  err[0] = '\0';
  int rc = plugin_load(f->reg, OLL_SO, config_json, err, err_len);
  f->def = plugin_find_provider(f->reg, provider);
  return rc;
}

static inline void fx_close(fixture *f) {
  plugin_registry_free(f->reg);
  uv_run(&loop, UV_RUN_DEFAULT); /* lets closed handles finish */
}

/* Loads a provider "o" at base_url with extra entry members (e.g. ",\"timeout_ms\":500"). */
static inline void fx_open_at(fixture *f, const char *base_url, const char *extra) {
  char cfg[2048], err[1024];
  snprintf(cfg, sizeof cfg,
           "{\"providers\":{\"o\":{\"base_url\":\"%s\",\"models\":[\"llama3\",\"tools\"]%s}}}",
           base_url, extra ? extra : "");
  int rc = fx_try_open(f, cfg, "o", err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
  CHECK(f->def->size >= sizeof *f->def);
  CHECK(f->def->chat && f->def->cancel && f->def->info && f->def->close && f->def->embed &&
        f->def->list_models);
}

/* Loads provider "o" at the suite's upstream. */
static inline void fx_open(fixture *f, const char *extra) {
  fx_open_at(f, up.base_url, extra);
}

/* ---- loop helpers ---- */

static inline void deadline_cb(uv_timer_t *t) {
  (void)t;
  deadline_hit = 1;
}

/* Runs the loop until *flag is set or max_ms passed (flag NULL: for max_ms). The deadline
 * holds a reference meanwhile, so that the wait lasts also when nothing else is active. */
static inline void run_until(const int *flag, uint64_t max_ms) {
  deadline_hit = 0;
  uv_update_time(&loop);
  uv_timer_start(&deadline, deadline_cb, max_ms, 0);
  uv_ref((uv_handle_t *)&deadline);
  while (!(flag && *flag) && !deadline_hit)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&deadline);
  uv_unref((uv_handle_t *)&deadline);
}

static inline uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
}

/* ---- a recording sink ---- */

typedef struct result {
  agentai_chat_sink sink; /* lives here: valid until done, as the contract asks */
  const agentai_provider_def *def;
  void *call;
  int in_chat, done_in_chat;
  int done;
  int err;
  char *response;
  char message[1024];
  int64_t retry_after_ms;
  int http_status;
  char *ratelimit;
  char *deltas[KEEP_DELTAS]; /* the first ones */
  size_t n_deltas;
  size_t cancel_at_delta; /* cancel from inside the n-th delta (1-based), 0 = never */
  int callbacks_after_done;
} result;

static inline void on_delta(void *ud, const char *chunk, size_t len) {
  result *r = ud;
  if (r->done)
    r->callbacks_after_done++;
  CHECK_EQ_INT(strlen(chunk), len);
  if (r->n_deltas < KEEP_DELTAS)
    r->deltas[r->n_deltas] = strndup(chunk, len);
  r->n_deltas++;
  if (r->cancel_at_delta && r->n_deltas == r->cancel_at_delta)
    r->def->cancel(r->def->ud, r->call);
}

static inline void on_done(void *ud, const agentai_chat_outcome *o) {
  result *r = ud;
  if (r->done)
    r->callbacks_after_done++;
  r->done++;
  r->done_in_chat = r->in_chat;
  CHECK(o->size >= sizeof *o);
  r->err = o->err;
  r->retry_after_ms = o->retry_after_ms;
  r->http_status = o->http_status;
  r->ratelimit = o->ratelimit_json ? strdup(o->ratelimit_json) : NULL;
  if (o->err == 0) {
    CHECK(o->response_json != NULL);
    CHECK_EQ_INT(strlen(o->response_json), o->response_len);
    r->response = strndup(o->response_json, o->response_len);
  } else {
    CHECK(o->message != NULL);
    CHECK(strchr(o->message, '\n') == NULL); /* one line */
    CHECK(strstr(o->message, OLL_KEY) == NULL);
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
  free(r->ratelimit);
  for (size_t i = 0; i < r->n_deltas && i < KEEP_DELTAS; i++)
    free(r->deltas[i]);
  r->response = r->ratelimit = NULL;
  r->n_deltas = 0;
}

static inline int start_chat(result *r, const char *req) {
  r->in_chat = 1;
  int rc = r->def->chat(r->def->ud, req, strlen(req), &r->sink, &r->call);
  r->in_chat = 0;
  return rc;
}

/* Runs a chat to completion (max_ms), checking it was accepted and done once. */
static inline void chat_sync(const fixture *f, result *r, const char *req, uint64_t max_ms) {
  result_init(r, f);
  CHECK_EQ_INT(start_chat(r, req), 0);
  run_until(&r->done, max_ms);
  CHECK_EQ_INT(r->done, 1);
}

/* A one-user-message request for model, streamed when stream is set. */
static inline const char *req_for(const char *model, int stream) {
  static char buf[512];
  snprintf(buf, sizeof buf,
           "{\"model\":\"%s\",%s\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model,
           stream ? "\"stream\":true," : "");
  return buf;
}

/* ---- JSON helpers ---- */

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
  if (r->err)
    fprintf(stderr, "call failed: %d %s\n", r->err, r->message);
  CHECK_EQ_INT(r->err, 0);
  cJSON *root = cJSON_Parse(r->response);
  CHECK(root != NULL);
  return root;
}

/* ---- the upstream's control endpoints, through the host's own HTTP client ---- */

typedef struct ctl_get {
  int done, err, status;
  char *body;
} ctl_get;

static inline void ctl_done(void *ud, const agentai_http_result *res) {
  ctl_get *g = ud;
  g->done = 1;
  g->err = res->err;
  g->status = res->status;
  g->body = res->body ? strndup(res->body, res->body_len) : strdup("");
}

/* Sends METHOD path to the upstream and returns its body as JSON (caller deletes). */
static inline cJSON *control(const fixture *f, const char *method, const char *path) {
  const agentai_host *host = plugin_runtime_host(f->reg);
  char url[512];
  snprintf(url, sizeof url, "%s%s", ctl_base[0] ? ctl_base : up.base_url, path);
  agentai_http_request req = {
      .size = sizeof req, .method = method, .url = url, .ca_file = ctl_ca_file};
  ctl_get g = {0};
  agentai_http_sink sink = {.ud = &g, .done = ctl_done};
  agentai_http_call *call;
  CHECK_EQ_INT(host->http_request(host, &req, &sink, &call), 0);
  run_until(&g.done, 5000);
  CHECK(g.done && g.err == 0 && g.status == 200);
  cJSON *o = cJSON_Parse(g.body);
  free(g.body);
  CHECK(o != NULL);
  return o;
}

/* The upstream's call log since the last reset, as a JSON array (caller deletes). */
static inline cJSON *ctl_calls(const fixture *f) {
  cJSON *o = control(f, "GET", "/_control/calls");
  cJSON *calls = cJSON_DetachItemFromObjectCaseSensitive(o, "calls");
  cJSON_Delete(o);
  CHECK(cJSON_IsArray(calls));
  return calls;
}

static inline void ctl_reset(const fixture *f) {
  cJSON_Delete(control(f, "POST", "/_control/reset"));
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

/* Makes the suite's temporary folder (once); removed at exit. */
static inline void suite_tmpdir(void) {
  if (tmpdir[0])
    return;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/agentai-oll-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  atexit(suite_cleanup);
}

/* Makes the data folder and the loop, starts the upstream with extra_args; call first. */
static inline void suite_begin(const char *extra_args) {
  suite_tmpdir();
  CHECK_EQ_INT(upstream_start(&up, extra_args), 0);
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
