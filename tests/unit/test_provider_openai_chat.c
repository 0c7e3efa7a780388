/* tests/unit/test_provider_openai_chat.c — provider-openai against the node test upstream: plain
 * and streamed chat, tool calls, embeddings, models, info, authentication and configuration. */
#include "provider_openai_fixture.h"

static const char *TOOLS_JSON =
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":"
    "{\"type\":\"object\"}}},{\"type\":\"function\",\"function\":{\"name\":\"lookup\"}}]";

static void test_plain_chat(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  result r;
  chat_sync(&f, &r,
            "{\"model\":\"echo\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
            "{\"role\":\"user\",\"content\":\"hello there\"}],\"temperature\":0.2,"
            "\"x_custom\":{\"kept\":true}}",
            5000);
  CHECK_EQ_INT(r.done_in_chat, 0);
  CHECK_EQ_INT(r.n_deltas, 0);
  CHECK_EQ_INT(r.http_status, 200);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "chat.completion");
  CHECK_JSTR(o, "model", "echo");
  CHECK_JSTR(o, "choices.0.message.role", "assistant");
  CHECK_JSTR(o, "choices.0.message.content", "echo: hello there");
  CHECK_JSTR(o, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 3);
  cJSON_Delete(o);
  result_free(&r);

  /* what the upstream saw: the path, the model as given, the key */
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 1);
  CHECK_JSTR(calls, "0.path", "/v1/chat/completions");
  CHECK_JSTR(calls, "0.model", "echo");
  CHECK(cJSON_IsTrue(jget(calls, "0.auth")));
  CHECK(cJSON_IsFalse(jget(calls, "0.stream")));
  cJSON_Delete(calls);

  /* a request that is not a JSON object is refused, the sink never called */
  result_init(&r, &f);
  CHECK_EQ_INT(start_chat(&r, "[1,2]"), AGENTAI_EINVAL);
  CHECK_EQ_INT(start_chat(&r, "{\"model\":"), AGENTAI_EINVAL);
  run_until(NULL, 50);
  CHECK_EQ_INT(r.done, 0);
  fx_close(&f);
}

static void test_streamed_chat(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  result r;
  chat_sync(&f, &r,
            "{\"model\":\"echo\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
            "\"one two three\"}]}",
            5000);
  /* echo: one two three -> 4 word chunks and the finish chunk; the usage-only chunk we asked
   * for is not forwarded to a caller who did not ask */
  CHECK_EQ_INT(r.n_deltas, 5);
  for (size_t i = 0; i < r.n_deltas; i++) {
    cJSON *c = cJSON_Parse(r.deltas[i]);
    CHECK(c != NULL);
    CHECK_JSTR(c, "object", "chat.completion.chunk");
    CHECK_EQ_INT(cJSON_GetArraySize(jget(c, "choices")), 1);
    cJSON_Delete(c);
  }
  CHECK_STR_CONTAINS(r.deltas[0], "\"role\":\"assistant\"");
  CHECK_STR_CONTAINS(r.deltas[4], "\"finish_reason\":\"stop\"");
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "chat.completion");
  CHECK_JSTR(o, "model", "echo");
  CHECK(strncmp(jstr(o, "id"), "chatcmpl-", 9) == 0);
  CHECK(jnum(o, "created") > 1600000000);
  CHECK_JSTR(o, "choices.0.message.content", "echo: one two three");
  CHECK_JSTR(o, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 4);
  CHECK(jnum(o, "usage.prompt_tokens") >= 1);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK(cJSON_IsTrue(jget(calls, "0.stream")));
  cJSON_Delete(calls);

  /* the caller asked for usage itself: it gets the usage chunk too */
  chat_sync(&f, &r,
            "{\"model\":\"echo\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
            5000);
  CHECK_EQ_INT(r.n_deltas, 4);
  CHECK_STR_CONTAINS(r.deltas[3], "\"choices\":[]");
  CHECK_STR_CONTAINS(r.deltas[3], "\"completion_tokens\":2");
  o = parse_response(&r);
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 2);
  cJSON_Delete(o);
  result_free(&r);

  /* stream_options present but saying no: usage is still asked for, and still not forwarded */
  chat_sync(&f, &r,
            "{\"model\":\"echo\",\"stream\":true,\"stream_options\":{\"include_usage\":false},"
            "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
            5000);
  CHECK_EQ_INT(r.n_deltas, 3);
  o = parse_response(&r);
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 2);
  cJSON_Delete(o);
  result_free(&r);

  /* deltas arrive as they are sent, not at the end */
  result_init(&r, &f);
  CHECK_EQ_INT(start_chat(&r, "{\"model\":\"slow-drip\",\"stream\":true,\"messages\":[{\"role\":"
                              "\"user\",\"content\":\"x\"}]}"),
               0);
  uint64_t t0 = now_ms();
  while (r.n_deltas < 2 && now_ms() - t0 < 5000)
    run_until(NULL, 5);
  CHECK(r.n_deltas >= 2);
  CHECK_EQ_INT(r.done, 0);
  CHECK(now_ms() - t0 < 800); /* the whole answer takes about 900 ms */
  run_until(&r.done, 5000);
  o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.content",
             "drip1 drip2 drip3 drip4 drip5 drip6 drip7 drip8 "
             "drip9 drip10");
  cJSON_Delete(o);
  result_free(&r);
  fx_close(&f);
}

static void check_tool_answer(const cJSON *o) {
  CHECK_JSTR(o, "choices.0.finish_reason", "tool_calls");
  CHECK(cJSON_IsNull(jget(o, "choices.0.message.content")));
  CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "choices.0.message.tool_calls")), 2);
  CHECK_JSTR(o, "choices.0.message.tool_calls.0.id", "call_1");
  CHECK_JSTR(o, "choices.0.message.tool_calls.0.type", "function");
  CHECK_JSTR(o, "choices.0.message.tool_calls.0.function.name", "search");
  CHECK_JSTR(o, "choices.0.message.tool_calls.0.function.arguments", "{\"q\":\"find cats\"}");
  CHECK_JSTR(o, "choices.0.message.tool_calls.1.id", "call_2");
  CHECK_JSTR(o, "choices.0.message.tool_calls.1.function.name", "lookup");
  CHECK_JSTR(o, "choices.0.message.tool_calls.1.function.arguments", "{\"q\":\"find cats\"}");
}

static void test_tool_calls(void) {
  fixture f;
  fx_open(&f, NULL);
  char req[1024];
  result r;
  snprintf(req, sizeof req,
           "{\"model\":\"tools\",\"messages\":[{\"role\":\"user\",\"content\":\"find cats\"}],%s}",
           TOOLS_JSON);
  chat_sync(&f, &r, req, 5000);
  cJSON *o = parse_response(&r);
  check_tool_answer(o);
  cJSON_Delete(o);
  result_free(&r);

  snprintf(req, sizeof req,
           "{\"model\":\"tools\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"find cats\"}],%s}",
           TOOLS_JSON);
  chat_sync(&f, &r, req, 5000);
  CHECK_EQ_INT(r.n_deltas, 9); /* per call: an opening chunk and 3 fragments; the finish chunk */
  CHECK_STR_CONTAINS(r.deltas[1], "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
  o = parse_response(&r);
  check_tool_answer(o);
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 6);
  cJSON_Delete(o);
  result_free(&r);

  /* the round trip: tool results in, the final answer out */
  snprintf(req, sizeof req,
           "{\"model\":\"tools\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"find cats\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
           "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":"
           "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"3 cats\"}],%s}",
           TOOLS_JSON);
  chat_sync(&f, &r, req, 5000);
  o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.content", "done: 3 cats");
  CHECK(jget(o, "choices.0.message.tool_calls") == NULL);
  cJSON_Delete(o);
  result_free(&r);
  fx_close(&f);
}

static void test_embeddings_and_models(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  result_init(&r, &f);
  const char *req = "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"bb\"],"
                    "\"dimensions\":8}";
  CHECK_EQ_INT(f.def->embed(f.def->ud, req, strlen(req), &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.done, 1);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "list");
  CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "data")), 2);
  CHECK_EQ_INT(jnum(o, "data.1.index"), 1);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "data.0.embedding")), 8);
  cJSON_Delete(o);
  result_free(&r);
  /* a bad request is the upstream's 400, mapped with its message */
  result_init(&r, &f);
  req = "{\"model\":\"text-embedding-3-small\",\"input\":[]}";
  CHECK_EQ_INT(f.def->embed(f.def->ud, req, strlen(req), &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
  CHECK_EQ_INT(r.http_status, 400);
  CHECK_STR_CONTAINS(r.message, "'input' must be a string or a non-empty array");
  result_free(&r);
  CHECK_EQ_INT(f.def->embed(f.def->ud, "nope", 4, &r.sink, &r.call), AGENTAI_EINVAL);

  result_init(&r, &f);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  o = parse_response(&r);
  CHECK_JSTR(o, "object", "list");
  int found = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, jget(o, "data")) {
    if (strcmp(jstr(m, "id"), "gpt-4o-mini") == 0)
      found = 1;
    CHECK_JSTR(m, "object", "model");
  }
  CHECK(found);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  int saw_models = 0;
  cJSON_ArrayForEach(m, calls) saw_models += strcmp(jstr(m, "path"), "/v1/models") == 0;
  CHECK_EQ_INT(saw_models, 1);
  cJSON_Delete(calls);
  fx_close(&f);
}

static void test_info(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  chat_sync(&f, &r, "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            5000);
  result_free(&r);
  chat_sync(&f, &r, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            5000);
  CHECK_EQ_INT(r.err, AGENTAI_ENOENT);
  result_free(&r);
  char *json = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &json), 0);
  CHECK(json != NULL);
  CHECK(strstr(json, TEST_KEY) == NULL);
  CHECK(strstr(json, TEST_KEY_ENV) == NULL);
  cJSON *o = cJSON_Parse(json);
  const agentai_host *host = plugin_runtime_host(f.reg);
  host->free(host, json);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "models")), 2);
  CHECK_JSTR(o, "models.0", "echo");
  CHECK_EQ_INT(jnum(o, "calls"), 2);
  CHECK_EQ_INT(jnum(o, "errors"), 1);
  char want[300];
  snprintf(want, sizeof want, "%s/v1", up.base_url);
  CHECK_JSTR(o, "base_url", want);
  cJSON_Delete(o);
  fx_close(&f);
}

static void test_auth(void) {
  fixture f;
  result r;
  const char *req = "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  /* the variable is unset: EAUTH inline, naming the variable */
  unsetenv(TEST_KEY_ENV);
  fx_open(&f, NULL);
  ctl_reset(&f);
  chat_sync(&f, &r, req, 1000);
  CHECK_EQ_INT(r.done_in_chat, 1);
  CHECK(r.call == NULL);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_STR_CONTAINS(r.message, TEST_KEY_ENV);
  result_free(&r);
  setenv(TEST_KEY_ENV, "", 1);
  chat_sync(&f, &r, req, 1000);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 0); /* nothing was sent */
  cJSON_Delete(calls);

  /* a wrong key: the upstream's 401 is EAUTH with its message, the key itself never shown */
  setenv(TEST_KEY_ENV, "sk-wrong-key", 1);
  chat_sync(&f, &r, req, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_EQ_INT(r.http_status, 401);
  CHECK_STR_CONTAINS(r.message, "t: HTTP 401");
  CHECK(strstr(r.message, "sk-wrong-key") == NULL);
  result_free(&r);
  /* the key is read at call time: fixing the variable fixes the next call */
  setenv(TEST_KEY_ENV, TEST_KEY, 1);
  chat_sync(&f, &r, req, 5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  fx_close(&f);
}

static void test_config(void) {
  fixture f;
  char err[1024];
  /* no "providers": one provider "openai" with the defaults */
  CHECK_EQ_INT(fx_try_open(&f, "{}", "openai", err, sizeof err), 0);
  CHECK(f.def != NULL);
  char *json = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &json), 0);
  CHECK_STR_CONTAINS(json, "\"base_url\":\"https://api.openai.com/v1\"");
  CHECK_STR_CONTAINS(json, "\"models\":[]");
  plugin_runtime_host(f.reg)->free(plugin_runtime_host(f.reg), json);
  fx_close(&f);

  /* several providers from one plugin, each with its own settings */
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "{\"providers\":{\"a\":{\"base_url\":\"%s/v1\",\"api_key_env\":\"" TEST_KEY_ENV
           "\"},\"b\":{\"base_url\":\"%s/v1/\",\"api_key_env\":\"AGENTAI_TEST_UNSET_VAR\"}}}",
           up.base_url, up.base_url);
  unsetenv("AGENTAI_TEST_UNSET_VAR");
  CHECK_EQ_INT(fx_try_open(&f, cfg, "a", err, sizeof err), 0);
  CHECK(plugin_find_provider(f.reg, "openai") == NULL);
  result r;
  chat_sync(&f, &r, "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  f.def = plugin_find_provider(f.reg, "b");
  CHECK(f.def != NULL);
  chat_sync(&f, &r, "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            5000);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_STR_CONTAINS(r.message, "b: the API key variable AGENTAI_TEST_UNSET_VAR is not set");
  result_free(&r);
  fx_close(&f);

  /* refusals name the key path */
  CHECK_EQ_INT(fx_try_open(&f, "{\"providers\":{\"openai\":{\"base_ur\":\"x\"}}}", "openai", err,
                           sizeof err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "providers.openai.base_ur: unknown key (known: base_url, api_key_env");
  CHECK(f.def == NULL);
  fx_close(&f);
  CHECK_EQ_INT(fx_try_open(&f, "{\"providers\":{\"x\":{\"base_url\":\"file:///etc/passwd\"}}}", "x",
                           err, sizeof err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "providers.x.base_url: must be an http:// or https:// URL");
  fx_close(&f);
  CHECK_EQ_INT(fx_try_open(&f, "{\"model\":\"x\"}", "openai", err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "model: unknown key (known: providers)");
  fx_close(&f);
}

int main(void) {
  suite_begin("--api-key " TEST_KEY);
  RUN(test_plain_chat);
  RUN(test_streamed_chat);
  RUN(test_tool_calls);
  RUN(test_embeddings_and_models);
  RUN(test_info);
  RUN(test_auth);
  RUN(test_config);
  suite_end();
  CHECK_DONE();
}
