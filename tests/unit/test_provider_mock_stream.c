/* tests/unit/test_provider_mock_stream.c — the mock provider streaming: content and tool-call
 * chunks, their timing, and cancel from inside and outside the stream. */
#include <stdio.h>
#include <string.h>

#include "mock_fixture.h"

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

int main(void) {
  mock_suite_begin();

  RUN(test_stream_content);
  RUN(test_stream_tool_calls);
  RUN(test_cancel);

  mock_suite_end();
  CHECK_DONE();
}
