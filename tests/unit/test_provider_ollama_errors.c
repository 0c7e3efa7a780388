/* tests/unit/test_provider_ollama_errors.c — provider-ollama against a misbehaving upstream: every
 * error kind, rate limits, broken streams, timeouts, size limits, cancel and close in flight. */
#include "provider_ollama_fixture.h"

static void test_rate_limit(void) {
  fixture f;
  fx_open(&f, NULL);
  for (int stream = 0; stream < 2; stream++) {
    result r;
    chat_sync(&f, &r, req_for("rate-limit", stream), 5000);
    CHECK_EQ_INT(r.err, AGENTAI_ERATELIMIT);
    CHECK_EQ_INT(r.http_status, 429);
    CHECK_EQ_INT(r.retry_after_ms, 1000);
    CHECK_EQ_INT(r.n_deltas, 0);
    CHECK_STR_CONTAINS(r.message, "o: HTTP 429: rate limited");
    CHECK(r.ratelimit != NULL);
    cJSON *rl = cJSON_Parse(r.ratelimit);
    CHECK(cJSON_IsObject(rl));
    CHECK_JSTR(rl, "retry-after", "1");
    CHECK_EQ_INT(cJSON_GetArraySize(rl), 1); /* only the rate-limit headers */
    cJSON_Delete(rl);
    result_free(&r);
  }
  /* an answer without rate-limit headers has no ratelimit_json and no retry_after */
  result r;
  chat_sync(&f, &r, req_for("server-error", 0), 5000);
  CHECK(r.ratelimit == NULL);
  CHECK_EQ_INT(r.retry_after_ms, -1);
  result_free(&r);
  fx_close(&f);
}

static void test_http_errors(void) {
  static const struct {
    const char *model;
    int stream, err, status;
    const char *msg;
  } cases[] = {
      {"server-error", 0, AGENTAI_EUPSTREAM, 500, "o: HTTP 500: internal server error"},
      {"server-error", 1, AGENTAI_EUPSTREAM, 500, "o: HTTP 500: internal server error"},
      {"bad-gateway", 0, AGENTAI_EUPSTREAM, 502, "o: HTTP 502"},
      {"bad-gateway", 1, AGENTAI_EUPSTREAM, 502, "o: HTTP 502"},
      {"no-such-model", 0, AGENTAI_ENOENT, 404,
       "o: HTTP 404: model \"no-such-model\" not found, try pulling it first"},
      {"no-such-model", 1, AGENTAI_ENOENT, 404, "o: HTTP 404: model \"no-such-model\" not found"},
      {"flaky-1-errors", 0, AGENTAI_EUPSTREAM, 500, "o: HTTP 500: flaky: call 1 of the first 1"},
      {"invalid-json", 0, AGENTAI_EMALFORMED, 200, "o: the response is not a JSON object"},
      /* the same body where NDJSON was asked for: an unterminated line that does not parse */
      {"invalid-json", 1, AGENTAI_EMALFORMED, 200, "o: stream line 1 is not a JSON object"},
      /* a non-streamed call's error: the whole answer is a 500 */
      {"midstream-error", 0, AGENTAI_EUPSTREAM, 500, "o: HTTP 500: something went wrong"},
  };
  fixture f;
  fx_open(&f, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    result r;
    chat_sync(&f, &r, req_for(cases[i].model, cases[i].stream), 5000);
    if (r.err != cases[i].err)
      fprintf(stderr, "case %zu: %d %s\n", i, r.err, r.message);
    CHECK_EQ_INT(r.err, cases[i].err);
    CHECK_EQ_INT(r.http_status, cases[i].status);
    CHECK_STR_CONTAINS(r.message, cases[i].msg);
    CHECK(strstr(r.message, "<html") == NULL && strstr(r.message, "<center") == NULL);
    CHECK(strlen(r.message) <= 300 + 64);
    CHECK_EQ_INT(r.retry_after_ms, -1);
    CHECK_EQ_INT(r.n_deltas, 0);
    CHECK(r.response == NULL);
    result_free(&r);
  }
  /* flaky: the second call for the same model answers */
  result r;
  chat_sync(&f, &r, req_for("flaky-1-errors", 0), 5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  fx_close(&f);
  /* nothing listens there */
  fx_open_at(&f, "http://127.0.0.1:1", NULL);
  chat_sync(&f, &r, req_for("llama3", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.http_status, 0);
  CHECK_STR_CONTAINS(r.message, "o: ");
  CHECK_STR_CONTAINS(r.message, "127.0.0.1");
  CHECK(strstr(r.message, "stream ended") == NULL); /* nothing was streamed */
  result_free(&r);
  fx_close(&f);
}

/* 401/403 from a server that wants a key (an authenticating proxy in front of Ollama): the test
 * upstream's OpenAI side, which checks bearer tokens, stands in for it. */
static void test_auth_refused(void) {
  upstream guarded;
  CHECK_EQ_INT(upstream_start(&guarded, "--api-key " OLL_KEY), 0);
  char base[128];
  snprintf(base, sizeof base, "%s/v1", guarded.base_url);
  fixture f;
  fx_open_at(&f, base, ",\"api_key_env\":\"" OLL_KEY_ENV "\"");
  setenv(OLL_KEY_ENV, "wrong-key", 1);
  result r;
  chat_sync(&f, &r, req_for("llama3", 0), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EAUTH);
  CHECK_EQ_INT(r.http_status, 401);
  CHECK_STR_CONTAINS(r.message, "o: HTTP 401: Incorrect API key provided");
  CHECK(strstr(r.message, "wrong-key") == NULL);
  result_free(&r);
  /* the right key gets through (to a path that server does not have) */
  setenv(OLL_KEY_ENV, OLL_KEY, 1);
  chat_sync(&f, &r, req_for("llama3", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ENOENT);
  CHECK_EQ_INT(r.http_status, 404);
  CHECK_STR_CONTAINS(r.message, "Unknown request URL: POST /v1/api/chat");
  result_free(&r);
  unsetenv(OLL_KEY_ENV);
  fx_close(&f);
  CHECK_EQ_INT(upstream_stop(&guarded), 0);
}

static void test_broken_streams(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  /* an {"error":...} line after two deltas */
  chat_sync(&f, &r, req_for("midstream-error", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.http_status, 200);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK(strcmp(r.message, "o: upstream error: something went wrong") == 0);
  CHECK(r.response == NULL);
  result_free(&r);
  /* the connection cut after two lines, no done:true */
  chat_sync(&f, &r, req_for("disconnect", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_STR_CONTAINS(r.message, "o: stream ended before done");
  CHECK(r.response == NULL);
  result_free(&r);
  /* a whole answer cut in half */
  chat_sync(&f, &r, req_for("disconnect", 0), 5000);
  CHECK(r.err == AGENTAI_EUPSTREAM || r.err == AGENTAI_EMALFORMED);
  CHECK_STR_CONTAINS(r.message, "o: ");
  result_free(&r);
  fx_close(&f);
}

static void test_timeouts(void) {
  fixture f;
  fx_open(&f, ",\"timeout_ms\":400,\"idle_timeout_ms\":250");
  result r;
  /* no answer at all: the idle limit (250 ms) comes first */
  uint64_t t0 = now_ms();
  chat_sync(&f, &r, req_for("hang", 0), 5000);
  uint64_t took = now_ms() - t0;
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK(took >= 200 && took < 2000);
  CHECK_STR_CONTAINS(r.message, "o: ");
  result_free(&r);
  chat_sync(&f, &r, req_for("hang", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(r.n_deltas, 0);
  result_free(&r);
  /* lines keep coming: the total limit (400 ms) ends it, after many deltas */
  t0 = now_ms();
  chat_sync(&f, &r, req_for("endless", 1), 5000);
  took = now_ms() - t0;
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK(r.n_deltas >= 5);
  CHECK(took >= 350 && took < 2000);
  result_free(&r);
  fx_close(&f);
  /* a gap longer than the idle limit between two lines */
  fx_open(&f, ",\"idle_timeout_ms\":60");
  chat_sync(&f, &r, req_for("slow-drip", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK(r.n_deltas >= 1 && r.n_deltas < 10);
  result_free(&r);
  fx_close(&f);
}

static void test_size_limits(void) {
  fixture f;
  fx_open(&f, ",\"max_response_mb\":1");
  result r;
  chat_sync(&f, &r, req_for("huge", 0), 10000);
  CHECK_EQ_INT(r.err, AGENTAI_E2BIG);
  CHECK_STR_CONTAINS(r.message, "o: ");
  result_free(&r);
  chat_sync(&f, &r, req_for("huge", 1), 10000);
  CHECK_EQ_INT(r.err, AGENTAI_E2BIG);
  CHECK(r.n_deltas >= 1 && r.n_deltas < 100); /* 16 KiB lines, 1 MiB allowed */
  result_free(&r);
  fx_close(&f);
  /* under the default limit the same 20 MB answer arrives whole, both ways */
  fx_open(&f, NULL);
  for (int stream = 0; stream < 2; stream++) {
    chat_sync(&f, &r, req_for("huge", stream), 30000);
    cJSON *o = parse_response(&r);
    CHECK_EQ_INT(strlen(jstr(o, "choices.0.message.content")), 20 * 1024 * 1024);
    CHECK_EQ_INT(r.n_deltas, stream ? 20 * 64 + 1 : 0);
    cJSON_Delete(o);
    result_free(&r);
  }
  fx_close(&f);
}

static void test_cancel(void) {
  fixture f;
  fx_open(&f, NULL);
  /* from inside a delta, mid-stream */
  result r;
  result_init(&r, &f);
  r.cancel_at_delta = 3;
  CHECK_EQ_INT(start_chat(&r, req_for("endless", 1)), 0);
  CHECK(r.call != NULL);
  uint64_t t0 = now_ms();
  while (r.n_deltas < 3 && now_ms() - t0 < 5000)
    run_until(NULL, 5);
  CHECK_EQ_INT(r.n_deltas, 3);
  run_until(NULL, 150); /* the upstream sends a line every 5 ms: none may arrive */
  CHECK_EQ_INT(r.n_deltas, 3);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
  /* from inside the second and the last (finishing) delta of "echo: hi": no done() either */
  for (size_t at = 2; at <= 3; at++) {
    result_init(&r, &f);
    r.cancel_at_delta = at;
    CHECK_EQ_INT(start_chat(&r, req_for("llama3", 1)), 0);
    run_until(NULL, 300);
    CHECK_EQ_INT(r.n_deltas, at);
    CHECK_EQ_INT(r.done, 0);
    result_free(&r);
  }
  /* from outside, while the stream runs and while nothing has come yet */
  const char *models[] = {"endless", "hang", "slow-drip"};
  for (int i = 0; i < 3; i++) {
    result_init(&r, &f);
    CHECK_EQ_INT(start_chat(&r, req_for(models[i], i != 1)), 0);
    run_until(NULL, 60);
    CHECK_EQ_INT(r.done, 0);
    size_t seen = r.n_deltas;
    f.def->cancel(f.def->ud, r.call);
    run_until(NULL, 150);
    CHECK_EQ_INT(r.done, 0);
    CHECK_EQ_INT(r.n_deltas, seen);
    result_free(&r);
  }
  /* embeddings and listings cancel the same way */
  result_init(&r, &f);
  const char *req = "{\"model\":\"nomic-embed-text\",\"input\":\"a\"}";
  CHECK_EQ_INT(f.def->embed(f.def->ud, req, strlen(req), &r.sink, &r.call), 0);
  f.def->cancel(f.def->ud, r.call);
  run_until(NULL, 100);
  CHECK_EQ_INT(r.done, 0);
  /* a cancelled call leaves the provider usable */
  chat_sync(&f, &r, req_for("llama3", 1), 5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  fx_close(&f);
}

static void test_close_in_flight(void) {
  fixture f;
  fx_open(&f, NULL);
  result a, b, c, d;
  result_init(&a, &f);
  result_init(&b, &f);
  result_init(&c, &f);
  result_init(&d, &f);
  d.cancel_at_delta = 1;
  CHECK_EQ_INT(start_chat(&a, req_for("endless", 1)), 0);
  CHECK_EQ_INT(start_chat(&b, req_for("hang", 0)), 0);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &c.sink, &c.call), 0);
  CHECK_EQ_INT(start_chat(&d, req_for("endless", 1)), 0); /* cancelled in its first delta */
  run_until(NULL, 50);
  CHECK(a.n_deltas > 0);
  CHECK_EQ_INT(d.n_deltas, 1);
  fx_close(&f); /* closes the provider with calls in flight: none is called back */
  run_until(NULL, 100);
  CHECK_EQ_INT(a.done + b.done + d.done, 0);
  CHECK(c.done <= 1); /* the listing may have finished before the close */
  result_free(&a);
  result_free(&b);
  result_free(&c);
  result_free(&d);
}

int main(void) {
  suite_begin(NULL);
  RUN(test_rate_limit);
  RUN(test_http_errors);
  RUN(test_auth_refused);
  RUN(test_broken_streams);
  RUN(test_timeouts);
  RUN(test_size_limits);
  RUN(test_cancel);
  RUN(test_close_in_flight);
  suite_end();
  CHECK_DONE();
}
