/* tests/unit/test_llm_router_stream.c — the model router's streamed calls (fallback before the
 * first chunk, none after) and llm_cancel during backoff, attempts and streams. */
#include "test_llm_router_fixture.h"

/* A stream whose first deployment fails before any chunk falls back; the chunks the caller
 * gets are all from the deployment that answered. */
static void test_stream_fallback_before_chunks(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 0\ncooldown_failures = 0\n"
          "[llm.models.S]\ndeployments = [ { provider = \"up\", model = \"server-error\" } ]\n"
          "fallbacks = [\"up/echo\"]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  rec_sync(&t, &c, chat_json("S", 1, "streamed words"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.provider, "up") == 0);
  CHECK(strcmp(c.model, "echo") == 0);
  CHECK_EQ_INT(c.attempts, 2);
  CHECK(c.n_deltas >= 3); /* one chunk per word, and the finish chunk */
  CHECK_EQ_INT(c.deltas_at_done, c.n_deltas);
  cJSON *resp = cJSON_Parse(c.response);
  CHECK(resp != NULL);
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(
          cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(resp, "choices"), 0), "message"),
      "content");
  CHECK(cJSON_IsString(content));
  CHECK(strcmp(content->valuestring, "echo: hi streamed words") == 0);
  cJSON_Delete(resp);
  CHECK_EQ_INT(upstream_count("server-error", NULL, 0), 1);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 1);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.fallbacks, 1);
  CHECK_EQ_INT(s.failures, 0);
  rec_free(&c);
  rt_close(&t);
}

/* A stream that breaks after chunks went out ends with an error: no retry, no fallback. */
static void test_stream_break_after_chunks(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 2\nretry_base_ms = 10\ncooldown_failures = 0\n"
          "[llm.models.D]\ndeployments = [ { provider = \"up\", model = \"disconnect\" } ]\n"
          "fallbacks = [\"up/echo\"]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  rec_sync(&t, &c, chat_json("D", 1, "cut"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK(c.err != 0);
  CHECK(c.n_deltas > 0);
  CHECK_EQ_INT(c.attempts, 1);
  CHECK(strcmp(c.model, "disconnect") == 0);
  CHECK_EQ_INT(upstream_count("disconnect", NULL, 0), 1);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 0);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.fallbacks, 0);
  CHECK_EQ_INT(s.retries, 0);
  CHECK_EQ_INT(s.failures, 1);
  rec_free(&c);

  /* The same model not streamed fails before anything reached the caller: it falls back. */
  rec_sync(&t, &c, chat_json("D", 0, "cut"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.model, "echo") == 0);
  CHECK_EQ_INT(c.n_deltas, 0);
  rec_free(&c);
  rt_close(&t);
}

/* llm_cancel while the call waits to retry: no more attempts, the sink never hears of it. */
static void test_cancel_during_backoff(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 1\nretry_base_ms = 400\nretry_max_ms = 400\ncooldown_failures = 0\n"
          "[llm.models.B]\ndeployments = [ { provider = \"up\", model = \"server-error\" } ]\n"
          "fallbacks = [\"mock/mock-1\"]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("B", 0, "bo"), LLM_CACHE_BYPASS, 0), 0);
  CHECK(c.call != NULL);
  uint64_t until = now_ms() + 2000;
  while (rt_stats(&t).retries == 0 && now_ms() < until)
    run_until(NULL, 10);
  CHECK_EQ_INT(rt_stats(&t).retries, 1); /* now in its backoff of 200..400 ms */
  CHECK_EQ_INT(c.done, 0);
  llm_cancel(c.call);
  run_until(NULL, 600);
  CHECK_EQ_INT(c.done, 0);
  CHECK_EQ_INT(c.n_deltas, 0);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.attempts, 1);
  CHECK_EQ_INT(s.fallbacks, 0);
  CHECK_EQ_INT(upstream_count("server-error", NULL, 0), 1);
  rt_close(&t);
}

/* llm_cancel while an attempt is in flight, plain and streamed, and from inside a delta. */
static void test_cancel_during_attempt(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 2\ncooldown_failures = 0\n", NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("up/slow-300", 0, "a"), LLM_CACHE_BYPASS, 0), 0);
  CHECK(c.call != NULL);
  run_until(NULL, 100);
  CHECK_EQ_INT(c.done, 0);
  llm_cancel(c.call);
  run_until(NULL, 500);
  CHECK_EQ_INT(c.done, 0);
  CHECK_EQ_INT(rt_stats(&t).attempts, 1);

  /* A stream cancelled between chunks. */
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("up/slow-drip", 1, "b"), LLM_CACHE_BYPASS, 0), 0);
  uint64_t until = now_ms() + 2000;
  while (c.n_deltas < 2 && now_ms() < until)
    run_until(NULL, 10);
  CHECK(c.n_deltas >= 2);
  size_t seen = c.n_deltas;
  llm_cancel(c.call);
  run_until(NULL, 400);
  CHECK_EQ_INT(c.n_deltas, seen);
  CHECK_EQ_INT(c.done, 0);

  /* Cancelled from inside its second chunk. */
  rec_init(&c);
  c.cancel_at_delta = 2;
  llm_request req = {.kind = LLM_CHAT, .json = chat_json("up/slow-drip", 1, "c")};
  req.len = strlen(req.json);
  char err[128];
  CHECK_EQ_INT(llm_start(t.r, &req, &c.sink, &c.call, err, sizeof err), 0);
  run_until(NULL, 600);
  CHECK_EQ_INT(c.n_deltas, 2);
  CHECK_EQ_INT(c.done, 0);

  /* A call the router still holds when it is freed: its sink is never called. */
  rec_init(&c);
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("up/hang", 0, "d"), LLM_CACHE_BYPASS, 0), 0);
  run_until(NULL, 50);
  llm_cancel(NULL); /* harmless */
  rt_close(&t);
  CHECK_EQ_INT(c.done, 0);
}

int main(void) {
  suite_begin();
  RUN(test_stream_fallback_before_chunks);
  RUN(test_stream_break_after_chunks);
  RUN(test_cancel_during_backoff);
  RUN(test_cancel_during_attempt);
  suite_end();
  CHECK_DONE();
}
