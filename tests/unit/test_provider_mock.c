/* tests/unit/test_provider_mock.c — the mock provider through the real plugin loader: modes,
 * overrides, scripts with tool calls, errors, streaming, cancel, config and request errors,
 * info() and the calls file. */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static int fx_try_open(fixture *f, const char *config_json, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  CHECK_EQ_INT(plugin_registry_new(&loop, tmpdir, &f->reg), 0);
  err[0] = '\0';
  int rc = plugin_load(f->reg, MOCK_SO, config_json, err, err_len);
  f->def = plugin_find_provider(f->reg, "mock");
  return rc;
}

static void fx_open(fixture *f, const char *config_json) {
  char err[1024];
  int rc = fx_try_open(f, config_json, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
  CHECK(f->def->chat && f->def->cancel && f->def->info && f->def->close);
}

static void fx_close(fixture *f) {
  plugin_registry_free(f->reg);
  uv_run(&loop, UV_RUN_DEFAULT); /* lets closed timers and the writer finish */
}

/* ---- loop helpers ---- */

/* Microseconds: libuv timers count whole milliseconds from a cached loop
 * time, so a delay of d ms is observed as at least (d - 1) ms of real time. */
static uint64_t now_us(void) {
  return uv_hrtime() / 1000u;
}

/* Whether at least ms milliseconds passed between two now_us() stamps. */
static int waited(uint64_t from_us, uint64_t to_us, uint64_t ms) {
  return to_us - from_us + 1000 >= ms * 1000;
}

static void deadline_cb(uv_timer_t *t) {
  (void)t;
  deadline_hit = 1;
}

/* Runs the loop until *flag is set or max_ms passed (flag NULL: for max_ms). */
static void run_until(const int *flag, uint64_t max_ms) {
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

static void on_delta(void *ud, const char *chunk, size_t len) {
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

static void on_done(void *ud, const agentai_chat_outcome *o) {
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

static void result_init(result *r, const fixture *f) {
  memset(r, 0, sizeof *r);
  r->def = f->def;
  r->sink.ud = r;
  r->sink.delta = on_delta;
  r->sink.done = on_done;
}

static void result_free(result *r) {
  free(r->response);
  for (size_t i = 0; i < r->n_deltas; i++)
    free(r->deltas[i]);
  r->response = NULL;
  r->n_deltas = 0;
}

/* Starts a chat; returns chat()'s code. */
static int start(result *r, const char *req) {
  r->start_us = now_us();
  uv_update_time(&loop); /* timers start from the loop's cached time: make it now */
  r->in_chat = 1;
  int rc = r->def->chat(r->def->ud, req, strlen(req), &r->sink, &r->call);
  r->in_chat = 0;
  return rc;
}

/* Runs a chat to completion, checking it was accepted and done once. */
static void chat_sync(const fixture *f, result *r, const char *req) {
  result_init(r, f);
  CHECK_EQ_INT(start(r, req), 0);
  run_until(&r->done, 5000);
  CHECK_EQ_INT(r->done, 1);
}

/* Value at a dotted path ("choices.0.message.content"); numbers index arrays. */
static const cJSON *jget(const cJSON *root, const char *path) {
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

static const char *jstr(const cJSON *root, const char *path) {
  const cJSON *v = jget(root, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long jnum(const cJSON *root, const char *path) {
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

static cJSON *parse_response(const result *r) {
  CHECK_EQ_INT(r->err, 0);
  cJSON *root = cJSON_Parse(r->response);
  CHECK(root != NULL);
  return root;
}

/* ---- modes ---- */

static const char ECHO_REQ[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"hello there\"},"
    "{\"role\":\"assistant\",\"content\":\"x\"},"
    "{\"role\":\"user\",\"content\":\"second question\"}]}";

static void test_echo_default(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  chat_sync(&f, &r, ECHO_REQ);
  /* no delay: completed inline, before chat() returned, with no handle */
  CHECK_EQ_INT(r.done_in_chat, 1);
  CHECK(r.call == NULL);
  CHECK_EQ_INT(r.n_deltas, 0);
  cJSON *j = parse_response(&r);
  CHECK_JSTR(j, "object", "chat.completion");
  CHECK_JSTR(j, "model", "mock-1");
  CHECK_JSTR(j, "choices.0.message.role", "assistant");
  CHECK_JSTR(j, "choices.0.message.content", "second question");
  CHECK(jget(j, "choices.0.message.tool_calls") == NULL);
  CHECK_JSTR(j, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(j, "choices.0.index"), 0);
  CHECK(jnum(j, "created") > 1600000000);
  /* 14 + 11 + 1 + 15 = 41 prompt characters -> 11 tokens; 15 completion -> 4 */
  CHECK_EQ_INT(jnum(j, "usage.prompt_tokens"), 11);
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 4);
  CHECK_EQ_INT(jnum(j, "usage.total_tokens"), 15);
  const char *id = jstr(j, "id");
  CHECK(id && strncmp(id, "chatcmpl-mock-", 14) == 0);
  CHECK_EQ_INT(strlen(id), 14 + 16 + 2);
  CHECK(strcmp(id + strlen(id) - 2, "-1") == 0); /* one assistant message: reply index 1 */
  char first_id[64];
  snprintf(first_id, sizeof first_id, "%s", id);
  cJSON_Delete(j);
  result_free(&r);

  /* a replay gets the same id; another conversation a different one */
  chat_sync(&f, &r, ECHO_REQ);
  j = parse_response(&r);
  CHECK_JSTR(j, "id", first_id);
  cJSON_Delete(j);
  result_free(&r);
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"user\",\"content\":\"héllo\"}]}");
  j = parse_response(&r);
  CHECK(strcmp(jstr(j, "id"), first_id) != 0);
  CHECK(strcmp(jstr(j, "id") + strlen(first_id) - 2, "-0") == 0);
  CHECK_JSTR(j, "choices.0.message.content", "héllo");
  /* characters are code points: "héllo" is 5 characters, 2 tokens each way */
  CHECK_EQ_INT(jnum(j, "usage.prompt_tokens"), 2);
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 2);
  cJSON_Delete(j);
  result_free(&r);

  /* content parts are joined; the requested model is echoed back */
  chat_sync(&f, &r,
            "{\"model\":\"mock-echo\",\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"text\",\"text\":\"ab\"},{\"type\":\"image_url\",\"image_url\":{}},"
            "{\"type\":\"text\",\"text\":\"cd\"}]}]}");
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "abcd");
  CHECK_JSTR(j, "model", "mock-echo");
  cJSON_Delete(j);
  result_free(&r);

  /* no user message at all: an empty reply */
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"system\",\"content\":\"only system\"}]}");
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "");
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 0);
  cJSON_Delete(j);
  result_free(&r);
  fx_close(&f);
}

static void test_fixed_and_max_tokens(void) {
  fixture f;
  fx_open(&f, "{\"mode\":\"fixed\",\"text\":\"aaaa bbbb cccc dddd\",\"models\":[\"m-a\",\"m-b\"]}");
  result r;
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"user\",\"content\":\"anything\"}]}");
  cJSON *j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "aaaa bbbb cccc dddd");
  CHECK_JSTR(j, "model", "m-a"); /* no model: the first of `models` */
  CHECK_JSTR(j, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 5);
  cJSON_Delete(j);
  result_free(&r);

  /* max_tokens 2 keeps 8 characters and ends with "length" */
  chat_sync(
      &f, &r,
      "{\"model\":\"m-b\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "aaaa bbb");
  CHECK_JSTR(j, "choices.0.finish_reason", "length");
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 2);
  CHECK_JSTR(j, "model", "m-b");
  cJSON_Delete(j);
  result_free(&r);

  /* the default model names are not served when `models` replaces them */
  chat_sync(&f, &r, "{\"model\":\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  CHECK_EQ_INT(r.err, AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(r.message, "unknown model \"mock-1\" (mock serves: m-a, m-b)");
  CHECK_EQ_INT(r.http_status, 404);
  CHECK(r.response == NULL);
  result_free(&r);
  fx_close(&f);
}

static void test_unknown_model(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  chat_sync(&f, &r, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  CHECK_EQ_INT(r.err, AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(r.message, "unknown model \"gpt-4o\"");
  CHECK_STR_CONTAINS(r.message, "mock-1, mock-echo");
  CHECK_EQ_INT(r.retry_after_ms, -1);
  result_free(&r);
  fx_close(&f);
}

static void test_per_request_override(void) {
  fixture f;
  fx_open(&f, "{\"latency_ms\":0}");
  result r;
  chat_sync(&f, &r,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
            "\"mock\":{\"mode\":\"fixed\",\"text\":\"overridden\",\"models\":[\"special\"]},"
            "\"model\":\"special\"}");
  cJSON *j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "overridden");
  CHECK_JSTR(j, "model", "special");
  cJSON_Delete(j);
  result_free(&r);

  /* the override does not stick to later calls */
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "hi");
  cJSON_Delete(j);
  result_free(&r);

  /* a per-request latency makes the reply asynchronous */
  chat_sync(
      &f, &r,
      "{\"messages\":[{\"role\":\"user\",\"content\":\"slow\"}],\"mock\":{\"latency_ms\":40}}");
  CHECK_EQ_INT(r.done_in_chat, 0);
  CHECK(waited(r.start_us, r.done_us, 40));
  result_free(&r);

  /* bad overrides: accepted, then done with EINVAL naming the key */
  static const struct {
    const char *mock, *needle;
  } BAD[] = {
      {"{\"bogus\":1}", "mock.bogus: unknown key"},
      {"{\"latency_ms\":\"fast\"}", "mock.latency_ms: expected an integer"},
      {"{\"latency_ms\":-5}", "mock.latency_ms"},
      {"{\"mode\":\"fixed\"}", "mock.text: required when mode is \"fixed\""},
      {"{\"mode\":\"script\"}", "mock.script: required"},
      {"{\"mode\":\"error\"}", "mock.error: required"},
      {"{\"mode\":\"shout\"}", "mock.mode: expected one of"},
      {"{\"script\":[{\"content\":1}]}", "mock.script[0].content: expected a string or null"},
      {"{\"error\":{\"kind\":\"auth\",\"colour\":1}}", "mock.error.colour: unknown key"},
      {"{\"calls_file\":\"/tmp/x\"}", "mock.calls_file: only allowed in the plugin configuration"},
      {"[1,2]", "mock: expected an object"},
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    char req[512];
    snprintf(req, sizeof req, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"mock\":%s}",
             BAD[i].mock);
    chat_sync(&f, &r, req);
    CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
    CHECK_STR_CONTAINS(r.message, BAD[i].needle);
    result_free(&r);
  }
  fx_close(&f);
}

/* ---- scripts ---- */

static const char SCRIPT_CONFIG[] =
    "{\"mode\":\"script\",\"script\":["
    "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
    "{\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\": 1}\",\"id\":\"call_custom\"}]},"
    "{\"content\":\"It is sunny.\"},"
    "{\"content\":\"cut\",\"finish_reason\":\"length\"},"
    "{\"error\":{\"kind\":\"server_error\",\"message\":\"boom\"}}]}";

static const char TURN1[] = "{\"role\":\"user\",\"content\":\"weather in Paris?\"}";
static const char TURN1_REPLY[] =
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_mock_0_0\","
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
    "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_mock_0_0\",\"content\":\"sunny\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_custom\",\"content\":\"1\"}";

static void test_script_tool_calls(void) {
  fixture f;
  fx_open(&f, SCRIPT_CONFIG);
  result r;
  char req[2048];

  snprintf(req, sizeof req, "{\"messages\":[%s]}", TURN1);
  chat_sync(&f, &r, req);
  cJSON *j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.finish_reason", "tool_calls");
  CHECK(cJSON_IsNull(jget(j, "choices.0.message.content")));
  CHECK_EQ_INT(cJSON_GetArraySize(jget(j, "choices.0.message.tool_calls")), 2);
  CHECK_JSTR(j, "choices.0.message.tool_calls.0.id", "call_mock_0_0");
  CHECK_JSTR(j, "choices.0.message.tool_calls.0.type", "function");
  CHECK_JSTR(j, "choices.0.message.tool_calls.0.function.name", "get_weather");
  CHECK_JSTR(j, "choices.0.message.tool_calls.0.function.arguments", "{\"city\":\"Paris\"}");
  CHECK_JSTR(j, "choices.0.message.tool_calls.1.id", "call_custom");
  CHECK_JSTR(j, "choices.0.message.tool_calls.1.function.name", "lookup");
  /* a string is passed through verbatim, spacing included */
  CHECK_JSTR(j, "choices.0.message.tool_calls.1.function.arguments", "{\"q\": 1}");
  /* completion: "get_weather" 11 + 16 + "lookup" 6 + 8 = 41 characters -> 11 tokens */
  CHECK_EQ_INT(jnum(j, "usage.completion_tokens"), 11);
  char id1[64];
  snprintf(id1, sizeof id1, "%s", jstr(j, "id"));
  cJSON_Delete(j);
  result_free(&r);

  /* replaying the same conversation gets the same reply: the index is stateless */
  chat_sync(&f, &r, req);
  j = parse_response(&r);
  CHECK_JSTR(j, "id", id1);
  CHECK_JSTR(j, "choices.0.message.tool_calls.0.function.name", "get_weather");
  cJSON_Delete(j);
  result_free(&r);

  /* one assistant turn in the conversation: reply 2 */
  snprintf(req, sizeof req, "{\"messages\":[%s,%s]}", TURN1, TURN1_REPLY);
  chat_sync(&f, &r, req);
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "It is sunny.");
  CHECK(jget(j, "choices.0.message.tool_calls") == NULL);
  CHECK_JSTR(j, "choices.0.finish_reason", "stop");
  CHECK(strcmp(jstr(j, "id") + strlen(jstr(j, "id")) - 2, "-1") == 0);
  cJSON_Delete(j);
  result_free(&r);

  /* two assistant turns: reply 3 with its explicit finish_reason */
  snprintf(req, sizeof req,
           "{\"messages\":[%s,%s,{\"role\":\"assistant\",\"content\":\"It is sunny.\"},"
           "{\"role\":\"user\",\"content\":\"more\"}]}",
           TURN1, TURN1_REPLY);
  chat_sync(&f, &r, req);
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "cut");
  CHECK_JSTR(j, "choices.0.finish_reason", "length");
  cJSON_Delete(j);
  result_free(&r);

  /* reply 4 is an error entry */
  const char *a = "{\"role\":\"assistant\",\"content\":\"a\"}";
  const char *u = "{\"role\":\"user\",\"content\":\"u\"}";
  snprintf(req, sizeof req, "{\"messages\":[%s,%s,%s,%s,%s,%s,%s]}", u, a, u, a, u, a, u);
  chat_sync(&f, &r, req);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.http_status, 500);
  CHECK_STR_CONTAINS(r.message, "boom");
  result_free(&r);

  /* past the end */
  snprintf(req, sizeof req, "{\"messages\":[%s,%s,%s,%s,%s,%s,%s,%s,%s]}", u, a, u, a, u, a, u, a,
           u);
  chat_sync(&f, &r, req);
  CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(r.message, "mock script has 4 replies; the conversation asks for reply 5");
  result_free(&r);

  /* a one-reply script per request, with the singular */
  chat_sync(&f, &r,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\","
            "\"content\":\"a\"}],\"mock\":{\"script\":[{}]}}");
  CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(r.message, "mock script has 1 reply; the conversation asks for reply 2");
  result_free(&r);
  /* an empty reply object is an empty content */
  chat_sync(&f, &r,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"u\"}],\"mock\":{\"script\":[{}]}}");
  j = parse_response(&r);
  CHECK_JSTR(j, "choices.0.message.content", "");
  CHECK_JSTR(j, "choices.0.finish_reason", "stop");
  cJSON_Delete(j);
  result_free(&r);
  fx_close(&f);
}

/* ---- errors ---- */

static void test_error_kinds(void) {
  fixture f;
  fx_open(&f, "{\"mode\":\"error\",\"error\":{\"kind\":\"auth\"}}");
  result r;
  chat_sync(&f, &r, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_EQ_INT(r.http_status, 401);
  CHECK_EQ_INT(r.retry_after_ms, -1);
  CHECK_STR_CONTAINS(r.message, "authentication failed");
  CHECK(r.response == NULL);
  result_free(&r);

  static const struct {
    const char *error;
    int code, http;
    int64_t retry;
    const char *needle;
  } KINDS[] = {
      {"{\"kind\":\"rate_limited\",\"retry_after_ms\":1500,\"message\":\"slow down\"}",
       AGENTAI_ERATELIMIT, 429, 1500, "slow down"},
      {"{\"kind\":\"rate_limited\"}", AGENTAI_ERATELIMIT, 429, -1, "rate limited"},
      {"{\"kind\":\"timeout\"}", AGENTAI_ETIMEDOUT, 0, -1, "timed out"},
      {"{\"kind\":\"server_error\",\"message\":\"upstream 500\"}", AGENTAI_EUPSTREAM, 500, -1,
       "upstream 500"},
      {"{\"kind\":\"malformed\"}", AGENTAI_EMALFORMED, 200, -1, "does not parse"},
      {"{\"kind\":\"auth\",\"message\":\"bad key\"}", AGENTAI_EAUTH, 401, -1, "bad key"},
  };
  for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
    char req[512];
    snprintf(req, sizeof req,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"mock\":{\"error\":%s}}",
             KINDS[i].error);
    chat_sync(&f, &r, req);
    CHECK_EQ_INT(r.err, KINDS[i].code);
    CHECK_EQ_INT(r.http_status, KINDS[i].http);
    CHECK_EQ_INT(r.retry_after_ms, KINDS[i].retry);
    CHECK_STR_CONTAINS(r.message, KINDS[i].needle);
    CHECK_EQ_INT(r.done_in_chat, 1);
    result_free(&r);
  }

  /* after_ms delays the failure, also for streamed requests (no deltas) */
  chat_sync(&f, &r,
            "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"mock\":{\"error\":{\"kind\":\"timeout\",\"after_ms\":50}}}");
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(r.done_in_chat, 0);
  CHECK(waited(r.start_us, r.done_us, 50));
  CHECK_EQ_INT(r.n_deltas, 0);
  result_free(&r);
  fx_close(&f);
}

/* ---- streaming ---- */

/* Checks the common chunk fields and returns the parsed chunk. */
static cJSON *chunk_at(const result *r, size_t i, const char *id) {
  cJSON *c = cJSON_Parse(r->deltas[i]);
  CHECK(c != NULL);
  CHECK_JSTR(c, "object", "chat.completion.chunk");
  CHECK_JSTR(c, "id", id);
  CHECK_JSTR(c, "model", "mock-1");
  return c;
}

static void test_stream_content(void) {
  fixture f;
  fx_open(&f, "{\"stream_delay_ms\":20}");
  result r;
  chat_sync(&f, &r,
            "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"one two  three\"}]}");
  CHECK_EQ_INT(r.done_in_chat, 0);
  CHECK(r.call != NULL);
  CHECK_EQ_INT(r.callbacks_after_done, 0);
  /* role, "one ", "two  ", "three", finish, usage */
  CHECK_EQ_INT(r.n_deltas, 6);
  CHECK_EQ_INT(r.deltas_at_done, 6);
  cJSON *full = parse_response(&r);
  const char *id = jstr(full, "id");
  CHECK_JSTR(full, "object", "chat.completion");
  CHECK_JSTR(full, "choices.0.message.content", "one two  three");

  static const char *const WORDS[] = {"one ", "two  ", "three"};
  cJSON *c = chunk_at(&r, 0, id);
  CHECK_JSTR(c, "choices.0.delta.role", "assistant");
  CHECK_JSTR(c, "choices.0.delta.content", "");
  CHECK(cJSON_IsNull(jget(c, "choices.0.finish_reason")));
  cJSON_Delete(c);
  for (size_t i = 0; i < 3; i++) {
    c = chunk_at(&r, 1 + i, id);
    CHECK_JSTR(c, "choices.0.delta.content", WORDS[i]);
    CHECK(jget(c, "choices.0.delta.role") == NULL);
    CHECK(cJSON_IsNull(jget(c, "choices.0.finish_reason")));
    cJSON_Delete(c);
  }
  c = chunk_at(&r, 4, id);
  CHECK_JSTR(c, "choices.0.finish_reason", "stop");
  CHECK(cJSON_GetArraySize(jget(c, "choices.0.delta")) == 0);
  cJSON_Delete(c);
  c = chunk_at(&r, 5, id);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(c, "choices")), 0);
  CHECK_EQ_INT(jnum(c, "usage.prompt_tokens"), jnum(full, "usage.prompt_tokens"));
  CHECK_EQ_INT(jnum(c, "usage.completion_tokens"), jnum(full, "usage.completion_tokens"));
  CHECK_EQ_INT(jnum(c, "usage.total_tokens"), 4 + 4);
  cJSON_Delete(c);
  cJSON_Delete(full);

  /* 20 ms between chunks; a timer started from a callback counts from the
   * loop iteration's start, so allow a little more than 1 ms per gap */
  for (size_t i = 1; i < r.n_deltas; i++)
    CHECK(r.delta_us[i] - r.delta_us[i - 1] + 1500 >= 20 * 1000);
  CHECK(r.done_us - r.start_us + 5 * 1500 >= 5 * 20 * 1000);
  CHECK(r.done_us >= r.delta_us[5]);
  result_free(&r);

  /* latency_ms delays the first chunk */
  chat_sync(&f, &r,
            "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
            "\"mock\":{\"latency_ms\":60,\"stream_delay_ms\":0}}");
  CHECK_EQ_INT(r.n_deltas, 4);
  CHECK(waited(r.start_us, r.delta_us[0], 60));
  result_free(&r);
  fx_close(&f);
}

static void test_stream_tool_calls(void) {
  fixture f;
  fx_open(&f, "{\"mode\":\"script\",\"stream_delay_ms\":5,\"script\":[{\"content\":\"Let me "
              "check.\",\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":"
              "\"Paris\",\"unit\":\"celsius\"}},{\"name\":\"now\",\"id\":\"c2\"}]}]}");
  result r;
  chat_sync(&f, &r, "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]}");
  cJSON *full = parse_response(&r);
  const char *id = jstr(full, "id");
  const char *args = "{\"city\":\"Paris\",\"unit\":\"celsius\"}";
  CHECK_JSTR(full, "choices.0.message.content", "Let me check.");
  CHECK_JSTR(full, "choices.0.message.tool_calls.0.function.arguments", args);
  CHECK_JSTR(full, "choices.0.message.tool_calls.1.function.arguments", "{}");
  CHECK_JSTR(full, "choices.0.finish_reason", "tool_calls");
  /* role, "Let ", "me ", "check.", call 0 head, its 33 argument bytes in fragments of 16, 16
   * and 1, call 1 head, its "{}", finish, usage */
  CHECK_EQ_INT(r.n_deltas, 12);
  CHECK_EQ_INT(r.deltas_at_done, 12);

  cJSON *c = chunk_at(&r, 0, id);
  CHECK_JSTR(c, "choices.0.delta.role", "assistant");
  cJSON_Delete(c);
  c = chunk_at(&r, 4, id);
  CHECK_EQ_INT(jnum(c, "choices.0.delta.tool_calls.0.index"), 0);
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.id", "call_mock_0_0");
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.type", "function");
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.name", "get_weather");
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.arguments", "");
  cJSON_Delete(c);
  static const char *const FRAGS[] = {"{\"city\":\"Paris\",", "\"unit\":\"celsius\"", "}"};
  char assembled[128] = "";
  for (size_t i = 0; i < 3; i++) {
    c = chunk_at(&r, 5 + i, id);
    CHECK_EQ_INT(jnum(c, "choices.0.delta.tool_calls.0.index"), 0);
    CHECK(jget(c, "choices.0.delta.tool_calls.0.id") == NULL);
    CHECK(jget(c, "choices.0.delta.tool_calls.0.function.name") == NULL);
    CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.arguments", FRAGS[i]);
    strcat(assembled, jstr(c, "choices.0.delta.tool_calls.0.function.arguments"));
    cJSON_Delete(c);
  }
  CHECK(strcmp(assembled, args) == 0);
  c = chunk_at(&r, 8, id);
  CHECK_EQ_INT(jnum(c, "choices.0.delta.tool_calls.0.index"), 1);
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.id", "c2");
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.name", "now");
  cJSON_Delete(c);
  c = chunk_at(&r, 9, id);
  CHECK_EQ_INT(jnum(c, "choices.0.delta.tool_calls.0.index"), 1);
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.arguments", "{}");
  cJSON_Delete(c);
  c = chunk_at(&r, 10, id);
  CHECK_JSTR(c, "choices.0.finish_reason", "tool_calls");
  cJSON_Delete(c);
  c = chunk_at(&r, 11, id);
  CHECK_EQ_INT(jnum(c, "usage.total_tokens"), jnum(full, "usage.total_tokens"));
  cJSON_Delete(c);
  cJSON_Delete(full);
  result_free(&r);
  fx_close(&f);
}

/* ---- cancel ---- */

static void cancel_timer_cb(uv_timer_t *t) {
  result *r = t->data;
  r->cancel_at_delta = r->n_deltas; /* records how many had arrived */
  r->def->cancel(r->def->ud, r->call);
}

static void test_cancel(void) {
  fixture f;
  fx_open(&f, "{\"stream_delay_ms\":15}");
  const char *req =
      "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"a b c d e f g h\"}]}";
  result r;

  /* from inside the second delta */
  result_init(&r, &f);
  r.cancel_at_delta = 2;
  CHECK_EQ_INT(start(&r, req), 0);
  CHECK(r.call != NULL);
  run_until(NULL, 250);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);

  /* from outside, between chunks */
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  result_init(&r, &f);
  t.data = &r;
  CHECK_EQ_INT(start(&r, req), 0);
  uv_timer_start(&t, cancel_timer_cb, 40, 0);
  run_until(NULL, 300);
  CHECK(r.n_deltas >= 1 && r.n_deltas < 11);
  CHECK_EQ_INT(r.n_deltas, r.cancel_at_delta); /* nothing after cancel */
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
  uv_close((uv_handle_t *)&t, NULL);

  /* a delayed, non-streamed call */
  result_init(&r, &f);
  CHECK_EQ_INT(
      start(&r,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"mock\":{\"latency_ms\":30}}"),
      0);
  CHECK(r.call != NULL);
  r.def->cancel(r.def->ud, r.call);
  run_until(NULL, 80);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);

  /* closing the provider with a call in flight: silent, and nothing leaks */
  result_init(&r, &f);
  CHECK_EQ_INT(start(&r, req), 0);
  run_until(NULL, 20);
  size_t seen = r.n_deltas;
  fx_close(&f);
  CHECK_EQ_INT(r.n_deltas, seen);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
}

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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Runs at exit, also when a CHECK fails. */
static void remove_tmpdir(void) {
  nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/agentai-mock-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  atexit(remove_tmpdir);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  uv_unref((uv_handle_t *)&deadline);

  RUN(test_echo_default);
  RUN(test_fixed_and_max_tokens);
  RUN(test_unknown_model);
  RUN(test_per_request_override);
  RUN(test_script_tool_calls);
  RUN(test_error_kinds);
  RUN(test_stream_content);
  RUN(test_stream_tool_calls);
  RUN(test_cancel);
  RUN(test_bad_config);
  RUN(test_bad_request);
  RUN(test_info);
  RUN(test_calls_file);

  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  CHECK_DONE();
}
