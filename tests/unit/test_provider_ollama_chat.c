/* tests/unit/test_provider_ollama_chat.c — provider-ollama against the node test upstream's Ollama
 * API: configuration, plain and streamed chat, tool calls, embeddings, models, info, API keys. */
#include <time.h>

#include "provider_ollama_fixture.h"

static void test_config(void) {
  fixture f;
  char err[1024];
  /* no configuration: one provider "ollama" at the default address, no key */
  CHECK_EQ_INT(fx_try_open(&f, NULL, "ollama", err, sizeof err), 0);
  CHECK(f.def != NULL);
  char *info = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  cJSON *o = cJSON_Parse(info);
  free(info);
  CHECK_JSTR(o, "base_url", "http://127.0.0.1:11434");
  CHECK(cJSON_IsArray(jget(o, "models")));
  CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "models")), 0);
  CHECK_EQ_INT(jnum(o, "calls"), 0);
  cJSON_Delete(o);
  CHECK_EQ_INT(plugin_count(f.reg), 1);
  CHECK(strcmp(plugin_get_info(f.reg, 0)->name, "provider-ollama") == 0);
  fx_close(&f);

  /* several providers from one section */
  CHECK_EQ_INT(fx_try_open(&f,
                           "{\"providers\":{\"a\":{\"base_url\":\"http://127.0.0.1:1/\"},\"b\":{"
                           "\"models\":[\"x\"],\"timeout_ms\":5}}}",
                           "a", err, sizeof err),
               0);
  CHECK(f.def != NULL);
  CHECK(plugin_find_provider(f.reg, "b") != NULL);
  CHECK(plugin_find_provider(f.reg, "ollama") == NULL);
  CHECK_EQ_INT(plugin_find_provider(f.reg, "b")->info(plugin_find_provider(f.reg, "b")->ud, &info),
               0);
  o = cJSON_Parse(info);
  free(info);
  CHECK_JSTR(o, "base_url", "http://127.0.0.1:11434");
  CHECK_JSTR(o, "models.0", "x");
  cJSON_Delete(o);
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  CHECK_STR_CONTAINS(info, "\"base_url\":\"http://127.0.0.1:1\""); /* trailing '/' dropped */
  free(info);
  fx_close(&f);

  /* refused: unknown keys (named with their path), wrong types */
  static const struct {
    const char *cfg, *msg;
  } bad[] = {
      {"{\"providers\":{\"x\":{\"base_ur\":\"http://h\"}}}",
       "providers.x.base_ur: unknown key (known: base_url"},
      {"{\"provider\":{}}", "provider: unknown key"},
      {"{\"providers\":{\"x\":{\"base_url\":\"ftp://h\"}}}", "providers.x.base_url"},
      {"{\"providers\":{\"x\":{\"timeout_ms\":-1}}}", "providers.x.timeout_ms"},
      {"{\"providers\":{}}", "providers"},
      {"[1]", "configuration"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(fx_try_open(&f, bad[i].cfg, "x", err, sizeof err), AGENTAI_EINVAL);
    CHECK(f.def == NULL);
    CHECK_STR_CONTAINS(err, bad[i].msg);
    fx_close(&f);
  }
  /* a provider name taken twice: the second registration fails, the first is rolled back */
  CHECK_EQ_INT(fx_try_open(&f, "{\"providers\":{\"a\":{},\"a\":{}}}", "a", err, sizeof err),
               AGENTAI_EEXIST);
  CHECK_STR_CONTAINS(err, "cannot register provider \"a\"");
  CHECK(f.def == NULL);
  fx_close(&f);
}

static void test_plain_chat(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  result r;
  int64_t before = (int64_t)time(NULL);
  chat_sync(&f, &r,
            "{\"model\":\"llama3\",\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"},"
            "{\"role\":\"user\",\"content\":\"hello there\"}],\"temperature\":0.2,\"max_tokens\":"
            "50,\"stop\":[\"zz\"],\"response_format\":{\"type\":\"json_object\"}}",
            5000);
  CHECK(!r.done_in_chat);
  CHECK_EQ_INT(r.http_status, 200);
  CHECK_EQ_INT(r.n_deltas, 0);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "chat.completion");
  CHECK(strncmp(jstr(o, "id"), "chatcmpl-", 9) == 0);
  CHECK_JSTR(o, "model", "llama3");
  CHECK(jnum(o, "created") >= before - 2 && jnum(o, "created") <= before + 10);
  CHECK_JSTR(o, "choices.0.message.role", "assistant");
  CHECK_JSTR(o, "choices.0.message.content", "echo: hello there");
  CHECK_JSTR(o, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(o, "usage.prompt_tokens"), 5); /* 18 chars / 4, rounded up */
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 3);
  CHECK_EQ_INT(jnum(o, "usage.total_tokens"), 8);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 1);
  CHECK_JSTR(calls, "0.path", "/api/chat");
  CHECK_JSTR(calls, "0.model", "llama3");
  CHECK(cJSON_IsFalse(jget(calls, "0.stream")));
  CHECK(cJSON_IsFalse(jget(calls, "0.auth"))); /* no key configured: no Authorization */
  cJSON_Delete(calls);
  fx_close(&f);
}

static void test_streamed_chat(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  result r;
  chat_sync(&f, &r,
            "{\"model\":\"llama3\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
            "\"one two three\"}]}",
            5000);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "chat.completion");
  CHECK_JSTR(o, "choices.0.message.content", "echo: one two three");
  CHECK_JSTR(o, "choices.0.finish_reason", "stop");
  CHECK_EQ_INT(jnum(o, "usage.completion_tokens"), 4);
  /* one delta per word, then the final one */
  CHECK_EQ_INT(r.n_deltas, 5);
  char joined[256] = "";
  for (size_t i = 0; i < r.n_deltas; i++) {
    cJSON *k = cJSON_Parse(r.deltas[i]);
    CHECK(k != NULL);
    CHECK_JSTR(k, "object", "chat.completion.chunk");
    CHECK(strcmp(jstr(k, "id"), jstr(o, "id")) == 0);
    CHECK_EQ_INT(jnum(k, "created"), jnum(o, "created"));
    CHECK_JSTR(k, "model", "llama3");
    CHECK((jstr(k, "choices.0.delta.role") != NULL) == (i == 0));
    const char *piece = jstr(k, "choices.0.delta.content");
    if (piece)
      strncat(joined, piece, sizeof joined - strlen(joined) - 1);
    int last = i + 1 == r.n_deltas;
    CHECK(last ? jstr(k, "choices.0.finish_reason") != NULL
               : cJSON_IsNull(jget(k, "choices.0.finish_reason")));
    CHECK((jget(k, "usage") != NULL) == last);
    if (last)
      CHECK_EQ_INT(jnum(k, "usage.total_tokens"), jnum(o, "usage.total_tokens"));
    cJSON_Delete(k);
  }
  CHECK(strcmp(joined, "echo: one two three") == 0);
  cJSON_Delete(o);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK(cJSON_IsTrue(jget(calls, "0.stream")));
  cJSON_Delete(calls);

  /* a streamed request whose sink takes no deltas still gets the whole answer */
  result_init(&r, &f);
  r.sink.delta = NULL;
  CHECK_EQ_INT(start_chat(&r, req_for("slow-drip", 1)), 0);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.done, 1);
  o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.content",
             "drip1 drip2 drip3 drip4 drip5 drip6 drip7 drip8 "
             "drip9 drip10");
  cJSON_Delete(o);
  result_free(&r);
  fx_close(&f);
}

#define TOOLS                                                                                \
  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":{}}}," \
  "{\"type\":\"function\",\"function\":{\"name\":\"fetch\"}}]"

static void test_tool_calls(void) {
  fixture f;
  fx_open(&f, NULL);
  for (int stream = 0; stream < 2; stream++) {
    char req[1024];
    snprintf(
        req, sizeof req,
        "{\"model\":\"tools\",%s\"messages\":[{\"role\":\"user\",\"content\":\"find x\"}]," TOOLS
        "}",
        stream ? "\"stream\":true," : "");
    result r;
    chat_sync(&f, &r, req, 5000);
    cJSON *o = parse_response(&r);
    CHECK_JSTR(o, "choices.0.finish_reason", "tool_calls");
    CHECK(cJSON_IsNull(jget(o, "choices.0.message.content")));
    CHECK_EQ_INT(cJSON_GetArraySize(jget(o, "choices.0.message.tool_calls")), 2);
    CHECK_JSTR(o, "choices.0.message.tool_calls.0.id", "call_1");
    CHECK_JSTR(o, "choices.0.message.tool_calls.0.type", "function");
    CHECK_JSTR(o, "choices.0.message.tool_calls.0.function.name", "search");
    CHECK_JSTR(o, "choices.0.message.tool_calls.0.function.arguments", "{\"q\":\"find x\"}");
    CHECK_JSTR(o, "choices.0.message.tool_calls.1.id", "call_2");
    CHECK_JSTR(o, "choices.0.message.tool_calls.1.function.name", "fetch");
    if (stream) {
      /* the tool-call line, then the final one */
      CHECK_EQ_INT(r.n_deltas, 2);
      cJSON *k = cJSON_Parse(r.deltas[0]);
      CHECK_JSTR(k, "choices.0.delta.role", "assistant");
      CHECK_EQ_INT(jnum(k, "choices.0.delta.tool_calls.1.index"), 1);
      CHECK_JSTR(k, "choices.0.delta.tool_calls.1.id", "call_2");
      CHECK_JSTR(k, "choices.0.delta.tool_calls.1.function.arguments", "{\"q\":\"find x\"}");
      cJSON_Delete(k);
      k = cJSON_Parse(r.deltas[1]);
      CHECK_JSTR(k, "choices.0.finish_reason", "tool_calls");
      cJSON_Delete(k);
    }
    cJSON_Delete(o);
    result_free(&r);
  }
  /* the results go back as tool messages; the assistant turn's arguments as a JSON string */
  result r;
  chat_sync(
      &f, &r,
      "{\"model\":\"tools\",\"messages\":[{\"role\":\"user\",\"content\":\"find x\"},"
      "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
      "\"function\",\"function\":{\"name\":\"search\",\"arguments\":\"{\\\"q\\\":\\\"x\\\"}\"}},"
      "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"fetch\",\"arguments\":"
      "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"r1\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"r2\"}]," TOOLS "}",
      5000);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "choices.0.message.content", "done: r1; r2");
  CHECK_JSTR(o, "choices.0.finish_reason", "stop");
  cJSON_Delete(o);
  result_free(&r);
  fx_close(&f);
}

static void test_bad_requests(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  static const struct {
    const char *req, *msg;
  } bad[] = {
      {"not json", "o: the request is not a JSON object"},
      {"{\"messages\":[]}", "o: model: expected a model name"},
      {"{\"model\":\"llama3\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
       "{\"name\":\"f\",\"arguments\":\"{oops\"}}]}]}",
       "o: messages[0].tool_calls[0].function.arguments"},
      {"{\"model\":\"llama3\",\"messages\":[],\"temperature\":\"warm\"}", "o: temperature"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    result r;
    result_init(&r, &f);
    r.call = (void *)&r; /* must be reset */
    CHECK_EQ_INT(start_chat(&r, bad[i].req), 0);
    CHECK_EQ_INT(r.done, 1); /* completed at once, with the reason */
    CHECK(r.done_in_chat);
    CHECK(r.call == NULL);
    CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
    CHECK_EQ_INT(r.http_status, 0);
    CHECK_STR_CONTAINS(r.message, bad[i].msg);
    result_free(&r);
  }
  /* a bad embeddings request too */
  result r;
  result_init(&r, &f);
  const char *req = "{\"model\":\"nomic-embed-text\",\"input\":[1,2]}";
  CHECK_EQ_INT(f.def->embed(f.def->ud, req, strlen(req), &r.sink, &r.call), 0);
  CHECK_EQ_INT(r.err, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(r.message, "o: input[0]");
  result_free(&r);
  /* no sink: refused, nothing called */
  CHECK_EQ_INT(f.def->chat(f.def->ud, "{}", 2, NULL, NULL), AGENTAI_EINVAL);
  agentai_chat_sink no_done = {.ud = NULL};
  CHECK_EQ_INT(f.def->chat(f.def->ud, "{}", 2, &no_done, NULL), AGENTAI_EINVAL);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 0); /* none reached the upstream */
  cJSON_Delete(calls);
  fx_close(&f);
}

static void test_embeddings(void) {
  fixture f;
  fx_open(&f, NULL);
  ctl_reset(&f);
  const char *reqs[] = {
      "{\"model\":\"nomic-embed-text\",\"input\":[\"a\",\"bb\"],\"dimensions\":4}",
      "{\"model\":\"nomic-embed-text\",\"input\":[\"a\",\"bb\"],\"dimensions\":4,"
      "\"encoding_format\":\"base64\"}"};
  cJSON *got[2];
  for (int i = 0; i < 2; i++) {
    result r;
    result_init(&r, &f);
    CHECK_EQ_INT(f.def->embed(f.def->ud, reqs[i], strlen(reqs[i]), &r.sink, &r.call), 0);
    CHECK(r.call != NULL);
    run_until(&r.done, 5000);
    CHECK_EQ_INT(r.done, 1);
    got[i] = parse_response(&r);
    CHECK_JSTR(got[i], "object", "list");
    CHECK_JSTR(got[i], "model", "nomic-embed-text");
    CHECK_EQ_INT(cJSON_GetArraySize(jget(got[i], "data")), 2);
    CHECK_EQ_INT(jnum(got[i], "data.1.index"), 1);
    CHECK_JSTR(got[i], "data.0.object", "embedding");
    CHECK_EQ_INT(jnum(got[i], "usage.prompt_tokens"), 2);
    result_free(&r);
  }
  /* the same vectors both ways: floats, and base64 of little-endian float32 */
  for (int d = 0; d < 2; d++) {
    char path[32];
    snprintf(path, sizeof path, "data.%d.embedding", d);
    const cJSON *floats = jget(got[0], path);
    CHECK_EQ_INT(cJSON_GetArraySize(floats), 4);
    const char *b64 = jstr(got[1], path);
    CHECK(b64 && strlen(b64) == 24); /* 16 bytes */
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[18];
    size_t n = 0;
    for (size_t i = 0; i < 24; i += 4) {
      uint32_t w = 0;
      for (int k = 0; k < 4; k++)
        w = w << 6 | (b64[i + k] == '=' ? 0 : (uint32_t)(strchr(A, b64[i + k]) - A));
      raw[n++] = (unsigned char)(w >> 16), raw[n++] = (unsigned char)(w >> 8),
      raw[n++] = (unsigned char)w;
    }
    for (int k = 0; k < 4; k++) {
      uint32_t u =
          raw[4 * k] | raw[4 * k + 1] << 8 | raw[4 * k + 2] << 16 | (uint32_t)raw[4 * k + 3] << 24;
      float v;
      memcpy(&v, &u, 4);
      CHECK(v == (float)cJSON_GetArrayItem(floats, k)->valuedouble);
    }
  }
  cJSON_Delete(got[0]);
  cJSON_Delete(got[1]);
  cJSON *calls = ctl_calls(&f);
  CHECK_JSTR(calls, "0.path", "/api/embed");
  cJSON_Delete(calls);
  /* unknown model: 404 mapped */
  result r;
  result_init(&r, &f);
  const char *req = "{\"model\":\"nope\",\"input\":\"a\"}";
  CHECK_EQ_INT(f.def->embed(f.def->ud, req, strlen(req), &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ENOENT);
  CHECK_EQ_INT(r.http_status, 404);
  CHECK_STR_CONTAINS(r.message, "o: HTTP 404: model \"nope\" not found, try pulling it first");
  result_free(&r);
  fx_close(&f);
}

static void test_models_and_info(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  result_init(&r, &f);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &r.sink, &r.call), 0);
  CHECK(r.call != NULL);
  run_until(&r.done, 5000);
  cJSON *o = parse_response(&r);
  CHECK_JSTR(o, "object", "list");
  int found = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, jget(o, "data")) {
    CHECK_JSTR(m, "object", "model");
    CHECK_JSTR(m, "owned_by", "ollama");
    CHECK_EQ_INT(jnum(m, "created"), 1704067200);
    found += strcmp(jstr(m, "id"), "llama3:latest") == 0;
  }
  CHECK_EQ_INT(found, 1);
  cJSON_Delete(o);
  result_free(&r);
  for (int i = 0; i < 2; i++) {
    chat_sync(&f, &r, req_for("llama3", i), 5000);
    result_free(&r);
  }
  char *info = NULL;
  CHECK_EQ_INT(f.def->info(f.def->ud, &info), 0);
  o = cJSON_Parse(info);
  free(info);
  CHECK_JSTR(o, "models.0", "llama3");
  CHECK_JSTR(o, "models.1", "tools");
  CHECK_EQ_INT(jnum(o, "calls"), 2);
  CHECK_EQ_INT(jnum(o, "model_list_calls"), 1);
  CHECK_JSTR(o, "base_url", up.base_url);
  cJSON_Delete(o);
  fx_close(&f);
}

static void test_api_key(void) {
  fixture f;
  unsetenv(OLL_KEY_ENV);
  fx_open(&f, ",\"api_key_env\":\"" OLL_KEY_ENV "\"");
  ctl_reset(&f);
  /* unset: the call fails at once, naming the variable */
  result r;
  result_init(&r, &f);
  CHECK_EQ_INT(start_chat(&r, req_for("llama3", 1)), 0);
  CHECK_EQ_INT(r.done, 1);
  CHECK(r.call == NULL);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_STR_CONTAINS(r.message, OLL_KEY_ENV);
  result_free(&r);
  setenv(OLL_KEY_ENV, "", 1);
  result_init(&r, &f);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &r.sink, &r.call), 0);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  result_free(&r);
  cJSON *calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 0);
  cJSON_Delete(calls);
  /* set: sent as a bearer token, read at call time */
  setenv(OLL_KEY_ENV, OLL_KEY, 1);
  chat_sync(&f, &r, req_for("llama3", 0), 5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  calls = ctl_calls(&f);
  CHECK_EQ_INT(cJSON_GetArraySize(calls), 1);
  CHECK(cJSON_IsTrue(jget(calls, "0.auth")));
  cJSON_Delete(calls);
  unsetenv(OLL_KEY_ENV);
  fx_close(&f);
}

int main(void) {
  suite_begin(NULL);
  RUN(test_config);
  RUN(test_plain_chat);
  RUN(test_streamed_chat);
  RUN(test_tool_calls);
  RUN(test_bad_requests);
  RUN(test_embeddings);
  RUN(test_models_and_info);
  RUN(test_api_key);
  suite_end();
  CHECK_DONE();
}
