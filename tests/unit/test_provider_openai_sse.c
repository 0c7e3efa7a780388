/* tests/unit/test_provider_openai_sse.c — the provider-openai SSE reader and chunk assembler
 * (plugins/provider-openai/oai_stream.c) on its own: framing, splits, assembly, errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Plugin code has hidden visibility and no exported symbols: compile it in. */
#include "../../plugins/common/upstream_http.c"
#include "../../plugins/provider-openai/oai_stream.c"

typedef struct rec {
  char *chunks[64];
  size_t n;
  int stop_at; /* return non-zero from this chunk (1-based) */
} rec;

static int on_chunk(void *ud, const char *json, size_t len) {
  rec *r = ud;
  CHECK(r->n < 64);
  CHECK_EQ_INT(strlen(json), len);
  r->chunks[r->n++] = strndup(json, len);
  return r->stop_at && (int)r->n == r->stop_at ? 7 : 0;
}

static void rec_free(rec *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->chunks[i]);
  r->n = 0;
}

/* Feeds text in pieces of `piece` bytes (0 = all at once); returns feed's first non-zero or
 * finish's result. */
static int run(oai_stream *s, const char *text, size_t piece) {
  size_t len = strlen(text);
  for (size_t at = 0; at < len;) {
    size_t n = piece && len - at > piece ? piece : len - at;
    int rc = oai_stream_feed(s, text + at, n);
    if (rc != 0)
      return rc;
    at += n;
  }
  return oai_stream_finish(s);
}

static cJSON *result_of(oai_stream *s) {
  size_t len = 0;
  char *text = oai_stream_result(s, &len);
  CHECK(text != NULL);
  CHECK_EQ_INT(strlen(text), len);
  cJSON *o = cJSON_Parse(text);
  CHECK(o != NULL);
  free(text);
  return o;
}

static const char *str_at(const cJSON *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = o;
  for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
    if (*tok >= '0' && *tok <= '9')
      cur = cJSON_GetArrayItem(cur, atoi(tok));
    else
      cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
  }
  if (cJSON_IsString(cur))
    return cur->valuestring;
  if (cJSON_IsNull(cur))
    return "<null>";
  if (cJSON_IsNumber(cur)) {
    static char num[64];
    snprintf(num, sizeof num, "%g", cur->valuedouble);
    return num;
  }
  return cur ? "<other>" : "<absent>";
}

#define CHECK_AT(o, path, want) CHECK(strcmp(str_at(o, path), want) == 0)

static const char PLAIN[] =
    ": keep-alive comment\n"
    "event: message\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"gpt-x\",\"system_fingerprint\":\"fp1\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\xC3\xA9llo\"},"
    "\"finish_reason\":null}]}\r\n\r\n"
    "data:{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},"
    "\"finish_reason\":null}]}\r\r"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
    "\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
    "data: [DONE]\n\n"
    "data: {\"ignored\":\"after done\"}\n\n";

static void check_plain_result(oai_stream *s) {
  cJSON *o = result_of(s);
  CHECK_AT(o, "id", "chatcmpl-1");
  CHECK_AT(o, "object", "chat.completion");
  CHECK_AT(o, "created", "1.7e+09");
  CHECK_AT(o, "model", "gpt-x");
  CHECK_AT(o, "system_fingerprint", "fp1");
  CHECK_AT(o, "choices.0.index", "0");
  CHECK_AT(o, "choices.0.message.role", "assistant");
  CHECK_AT(o, "choices.0.message.content", "h\xC3\xA9llo world");
  CHECK_AT(o, "choices.0.message.tool_calls", "<absent>");
  CHECK_AT(o, "choices.0.finish_reason", "stop");
  CHECK_AT(o, "usage.prompt_tokens", "5");
  CHECK_AT(o, "usage.total_tokens", "7");
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "choices")), 1);
  cJSON_Delete(o);
}

static void test_plain_every_piece_size(void) {
  for (size_t piece = 0; piece <= 40; piece++) {
    rec r = {0};
    oai_stream *s;
    CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 0, 0, &s), 0);
    CHECK_EQ_INT(run(s, PLAIN, piece), 0);
    CHECK(oai_stream_done(s));
    CHECK_EQ_INT(oai_stream_chunks(s), 5);
    CHECK_EQ_INT(r.n, 4); /* the usage-only chunk is folded in, not forwarded */
    CHECK_STR_CONTAINS(r.chunks[1], "\"content\":\"h\xC3\xA9llo\"");
    CHECK_STR_CONTAINS(r.chunks[3], "\"finish_reason\":\"stop\"");
    check_plain_result(s);
    rec_free(&r);
    oai_stream_free(s);
  }
  /* a caller who asked for usage gets the usage chunk as well */
  rec r = {0};
  oai_stream *s;
  CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 1, 0, &s), 0);
  CHECK_EQ_INT(run(s, PLAIN, 0), 0);
  CHECK_EQ_INT(r.n, 5);
  CHECK_STR_CONTAINS(r.chunks[4], "\"total_tokens\":7");
  rec_free(&r);
  oai_stream_free(s);
}

static void test_multiline_data_and_fields(void) {
  const char *text = "id: 1\nretry: 100\n"
                     "data: {\"id\":\"c\",\n"
                     "data:  \"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n"
                     "\n"
                     "data\n\n" /* a field without a colon: empty data, not dispatched */
                     "data: [DONE]";
  rec r = {0};
  oai_stream *s;
  CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 0, 0, &s), 0);
  CHECK_EQ_INT(run(s, text, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK(strcmp(r.chunks[0], "{\"id\":\"c\",\n \"choices\":[{\"delta\":{\"content\":\"a\"}}]}") ==
        0);
  rec_free(&r);
  oai_stream_free(s);

  /* [DONE] at the very end without its blank line still ends the stream */
  CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 0, 0, &s), 0);
  CHECK_EQ_INT(run(s, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]", 3),
               0);
  cJSON *o = result_of(s);
  CHECK_AT(o, "choices.0.message.content", "x");
  CHECK_AT(o, "choices.0.finish_reason", "<null>");
  CHECK_AT(o, "usage", "<absent>");
  cJSON_Delete(o);
  rec_free(&r);
  oai_stream_free(s);
}

static const char TOOLS[] =
    "data: {\"id\":\"t\",\"model\":\"m\",\"created\":5,\"choices\":[{\"index\":0,\"delta\":"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
    "\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\","
    "\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"q\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"other\","
    "\"function\":{\"name\":\"ignored\",\"arguments\":\"\\\"a b\\\"}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
    "{\"arguments\":\"\\\":1}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: [DONE]\n\n";

static void test_tool_calls(void) {
  for (size_t piece = 0; piece <= 64; piece += 7) {
    rec r = {0};
    oai_stream *s;
    CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 0, 0, &s), 0);
    CHECK_EQ_INT(run(s, TOOLS, piece), 0);
    CHECK_EQ_INT(r.n, 6);
    cJSON *o = result_of(s);
    CHECK_AT(o, "id", "t");
    CHECK_AT(o, "created", "5");
    CHECK_AT(o, "choices.0.message.content", "<null>");
    CHECK_AT(o, "choices.0.message.tool_calls.0.id", "call_1");
    CHECK_AT(o, "choices.0.message.tool_calls.0.type", "function");
    CHECK_AT(o, "choices.0.message.tool_calls.0.function.name", "search");
    CHECK_AT(o, "choices.0.message.tool_calls.0.function.arguments", "{\"q\":\"a b\"}");
    CHECK_AT(o, "choices.0.message.tool_calls.1.id", "call_2");
    CHECK_AT(o, "choices.0.message.tool_calls.1.function.name", "lookup");
    CHECK_AT(o, "choices.0.message.tool_calls.1.function.arguments", "{\"q\":1}");
    CHECK_AT(o, "choices.0.message.tool_calls.2", "<absent>");
    CHECK_AT(o, "choices.0.finish_reason", "tool_calls");
    cJSON_Delete(o);
    rec_free(&r);
    oai_stream_free(s);
  }
}

static void test_several_choices_and_extras(void) {
  const char *text =
      "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}},{\"index\":0,\"delta\":"
      "{\"content\":\"A\",\"reasoning_content\":\"think\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":1,\"delta\":{\"refusal\":\"no\"},\"finish_reason\":"
      "\"stop\"},{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\n"
      "data: [DONE]\n\n";
  rec r = {0};
  oai_stream *s;
  CHECK_EQ_INT(oai_stream_new(NULL, NULL, 0, 0, &s), 0);
  CHECK_EQ_INT(run(s, text, 0), 0);
  cJSON *o = result_of(s);
  CHECK_AT(o, "choices.0.index", "0");
  CHECK_AT(o, "choices.0.message.content", "Aa");
  CHECK_AT(o, "choices.0.message.reasoning_content", "think");
  CHECK_AT(o, "choices.0.finish_reason", "length");
  CHECK_AT(o, "choices.1.index", "1");
  CHECK_AT(o, "choices.1.message.content", "B");
  CHECK_AT(o, "choices.1.message.refusal", "no");
  CHECK_AT(o, "choices.1.finish_reason", "stop");
  CHECK_AT(o, "id", "");
  cJSON_Delete(o);
  oai_stream_free(s);
  (void)r;

  /* nothing but [DONE]: one empty answer */
  CHECK_EQ_INT(oai_stream_new(NULL, NULL, 0, 0, &s), 0);
  CHECK_EQ_INT(run(s, "data: [DONE]\n\n", 0), 0);
  o = result_of(s);
  CHECK_AT(o, "choices.0.message.content", "");
  CHECK_AT(o, "choices.0.message.role", "assistant");
  cJSON_Delete(o);
  oai_stream_free(s);
}

static void test_errors(void) {
  static const struct {
    const char *text;
    int err;
    const char *msg;
  } cases[] = {
      {"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", AGENTAI_EUPSTREAM,
       "stream ended before [DONE]"},
      {"", AGENTAI_EUPSTREAM, "stream ended before [DONE]"},
      {"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi", AGENTAI_EMALFORMED,
       "not a JSON object"},
      {"data: [1,2]\n\n", AGENTAI_EMALFORMED, "not a JSON object"},
      {"data: {\"choices\":{}}\n\n", AGENTAI_EMALFORMED, "choices is not an array"},
      {"data: {\"choices\":[1]}\n\n", AGENTAI_EMALFORMED, "a choice is not an object"},
      {"data: {\"choices\":[{\"index\":-1}]}\n\n", AGENTAI_EMALFORMED, "bad choice index"},
      {"data: {\"choices\":[{\"index\":1e9}]}\n\n", AGENTAI_EMALFORMED, "bad choice index"},
      {"data: {\"choices\":[{\"delta\":7}]}\n\n", AGENTAI_EMALFORMED, "delta is not an object"},
      {"data: {\"choices\":[{\"delta\":{\"tool_calls\":{}}}]}\n\n", AGENTAI_EMALFORMED,
       "tool_calls is not an array"},
      {"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1.5}]}}]}\n\n",
       AGENTAI_EMALFORMED, "bad tool call index"},
      {"data: {\"choices\":[{\"delta\":{\"tool_calls\":[3]}}]}\n\n", AGENTAI_EMALFORMED,
       "a tool call delta is not an object"},
      {"data: {\"error\":{\"message\":\"The server had an error\\nprocessing\",\"type\":"
       "\"server_error\"}}\n\n",
       AGENTAI_EUPSTREAM, "upstream error in stream: The server had an error processing"},
      {"data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\",\"code\":"
       "\"rate_limit_exceeded\"}}\n\n",
       AGENTAI_ERATELIMIT, "slow down"},
      {"data: {\"error\":{\"message\":\"too long\",\"code\":\"context_length_exceeded\"}}\n\n",
       AGENTAI_E2BIG, "too long"},
      {"data: {\"error\":{\"message\":\"bad\",\"type\":\"BadRequestError\",\"code\":400}}\n\n",
       AGENTAI_EINVAL, "bad"},
      {"data: {\"error\":{\"message\":\"who\",\"code\":\"invalid_api_key\"}}\n\n", AGENTAI_EAUTH,
       "who"},
      {"data: {\"error\":{\"message\":\"gone\",\"code\":\"model_not_found\"}}\n\n", AGENTAI_ENOENT,
       "gone"},
      {"data: {\"error\":\"plain\"}\n\n", AGENTAI_EUPSTREAM, "upstream error in stream: plain"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (size_t piece = 0; piece <= 5; piece += 5) {
      oai_stream *s;
      CHECK_EQ_INT(oai_stream_new(NULL, NULL, 0, 0, &s), 0);
      int rc = run(s, cases[i].text, piece);
      if (rc != cases[i].err)
        fprintf(stderr, "case %zu: %d %s\n", i, rc, oai_stream_message(s));
      CHECK_EQ_INT(rc, cases[i].err);
      CHECK_STR_CONTAINS(oai_stream_message(s), cases[i].msg);
      /* a failed reader refuses more input instead of misreading it */
      CHECK(oai_stream_feed(s, "data: [DONE]\n\n", 14) != 0);
      CHECK(oai_stream_finish(s) != 0);
      oai_stream_free(s);
    }
  }
  CHECK_EQ_INT(oai_error_code(NULL), AGENTAI_EUPSTREAM);
  cJSON *e = cJSON_Parse("{\"status\":429}");
  CHECK_EQ_INT(oai_error_code(e), AGENTAI_ERATELIMIT);
  cJSON_Delete(e);
  e = cJSON_Parse("{\"type\":\"insufficient_quota\"}");
  CHECK_EQ_INT(oai_error_code(e), AGENTAI_ERATELIMIT);
  cJSON_Delete(e);
  e = cJSON_Parse("{\"type\":\"invalid_request_error\",\"code\":null}");
  CHECK_EQ_INT(oai_error_code(e), AGENTAI_EINVAL);
  cJSON_Delete(e);
}

static void test_limits_and_stop(void) {
  /* one line longer than the limit */
  oai_stream *s;
  CHECK_EQ_INT(oai_stream_new(NULL, NULL, 0, 64, &s), 0);
  char big[200];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "data: ", 6);
  CHECK_EQ_INT(oai_stream_feed(s, big, strlen(big)), AGENTAI_E2BIG);
  CHECK_STR_CONTAINS(oai_stream_message(s), "longer than the limit");
  oai_stream_free(s);
  /* many short data lines adding up beyond the limit */
  CHECK_EQ_INT(oai_stream_new(NULL, NULL, 0, 64, &s), 0);
  int rc = 0;
  for (int i = 0; i < 20 && rc == 0; i++)
    rc = oai_stream_feed(s, "data: 0123456789\n", 17);
  CHECK_EQ_INT(rc, AGENTAI_E2BIG);
  CHECK_STR_CONTAINS(oai_stream_message(s), "larger than the limit");
  oai_stream_free(s);

  /* the chunk callback stops the stream */
  rec r = {.stop_at = 2};
  CHECK_EQ_INT(oai_stream_new(on_chunk, &r, 0, 0, &s), 0);
  CHECK_EQ_INT(oai_stream_feed(s, PLAIN, strlen(PLAIN)), 7);
  CHECK_EQ_INT(r.n, 2);
  CHECK(oai_stream_feed(s, "data: [DONE]\n\n", 14) != 0);
  rec_free(&r);
  oai_stream_free(s);
}

int main(void) {
  RUN(test_plain_every_piece_size);
  RUN(test_multiline_data_and_fields);
  RUN(test_tool_calls);
  RUN(test_several_choices_and_extras);
  RUN(test_errors);
  RUN(test_limits_and_stop);
  CHECK_DONE();
}
