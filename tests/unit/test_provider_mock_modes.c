/* tests/unit/test_provider_mock_modes.c — the mock provider's replies: echo and fixed modes,
 * models, per-request overrides, scripts with tool calls, error kinds. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mock_fixture.h"

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

int main(void) {
  mock_suite_begin();

  RUN(test_echo_default);
  RUN(test_fixed_and_max_tokens);
  RUN(test_unknown_model);
  RUN(test_per_request_override);
  RUN(test_script_tool_calls);
  RUN(test_error_kinds);

  mock_suite_end();
  CHECK_DONE();
}
