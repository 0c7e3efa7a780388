/* tests/unit/test_provider_openai_errors.c — provider-openai against a misbehaving upstream: every
 * error kind, rate limits, broken streams, timeouts, size limits, cancel and close in flight. */
#include "provider_openai_fixture.h"

/* A one-message request for model (streamed when stream is set). */
static const char *req_for(const char *model, int stream) {
  static char buf[512];
  snprintf(buf, sizeof buf,
           "{\"model\":\"%s\",%s\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model,
           stream ? "\"stream\":true," : "");
  return buf;
}

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
    CHECK_STR_CONTAINS(r.message, "t: HTTP 429: Rate limit reached for requests");
    CHECK(r.ratelimit != NULL);
    cJSON *rl = cJSON_Parse(r.ratelimit);
    CHECK(cJSON_IsObject(rl));
    CHECK_JSTR(rl, "retry-after", "1");
    CHECK_JSTR(rl, "x-ratelimit-limit-requests", "60");
    CHECK_JSTR(rl, "x-ratelimit-remaining-requests", "0");
    CHECK_JSTR(rl, "x-ratelimit-reset-requests", "1s");
    CHECK(jget(rl, "content-type") == NULL);
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
      {"server-error", 0, AGENTAI_EUPSTREAM, 500,
       "t: HTTP 500: The server had an error while processing your request"},
      {"server-error", 1, AGENTAI_EUPSTREAM, 500, "t: HTTP 500: The server had an error"},
      {"bad-gateway", 0, AGENTAI_EUPSTREAM, 502, "t: HTTP 502"},
      {"no-such-model", 0, AGENTAI_ENOENT, 404,
       "t: HTTP 404: The model `no-such-model` does not exist"},
      {"", 0, AGENTAI_EINVAL, 400, "t: HTTP 400: you must provide a model parameter"},
      {"invalid-json", 0, AGENTAI_EMALFORMED, 200, "t: the response is not JSON"},
      /* a JSON body where SSE was asked for is read as one answer, and checked like one */
      {"invalid-json", 1, AGENTAI_EMALFORMED, 200, "t: the response is not JSON"},
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
    result_free(&r);
  }
  fx_close(&f);
  /* nothing listens there */
  fixture g;
  char err[512];
  CHECK_EQ_INT(fx_try_open(&g,
                           "{\"providers\":{\"down\":{\"base_url\":\"http://127.0.0.1:1/v1\"}}}",
                           "down", err, sizeof err),
               0);
  result r;
  chat_sync(&g, &r, req_for("echo", 0), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.http_status, 0);
  CHECK_STR_CONTAINS(r.message, "down: ");
  CHECK_STR_CONTAINS(r.message, "127.0.0.1");
  result_free(&r);
  fx_close(&g);
}

static void test_broken_streams(void) {
  fixture f;
  fx_open(&f, NULL);
  result r;
  /* an error object in the stream after two chunks */
  chat_sync(&f, &r, req_for("midstream-error", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_STR_CONTAINS(r.message, "t: upstream error in stream: something went wrong");
  result_free(&r);
  /* the connection cut after two chunks, no [DONE] */
  chat_sync(&f, &r, req_for("disconnect", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_STR_CONTAINS(r.message, "t: stream ended before [DONE]");
  CHECK(r.response == NULL);
  result_free(&r);
  /* the same for a plain answer cut in half */
  chat_sync(&f, &r, req_for("disconnect", 0), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_STR_CONTAINS(r.message, "t: ");
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
  CHECK_STR_CONTAINS(r.message, "t: ");
  result_free(&r);
  chat_sync(&f, &r, req_for("hang", 1), 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(r.n_deltas, 0);
  result_free(&r);
  /* bytes keep coming: the total limit (400 ms) ends it, after many deltas */
  t0 = now_ms();
  chat_sync(&f, &r, req_for("endless", 1), 5000);
  took = now_ms() - t0;
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK(r.n_deltas >= 5);
  CHECK(took >= 350 && took < 2000);
  result_free(&r);
  fx_close(&f);
}

static void test_size_limits(void) {
  fixture f;
  fx_open(&f, ",\"max_response_mb\":1");
  result r;
  chat_sync(&f, &r, req_for("huge", 0), 10000);
  CHECK_EQ_INT(r.err, AGENTAI_E2BIG);
  CHECK_STR_CONTAINS(r.message, "t: ");
  result_free(&r);
  chat_sync(&f, &r, req_for("huge", 1), 10000);
  CHECK_EQ_INT(r.err, AGENTAI_E2BIG);
  CHECK(r.n_deltas >= 1 && r.n_deltas < 100); /* 16 KiB chunks, 1 MiB allowed */
  result_free(&r);
  fx_close(&f);
  /* under the default limit the same 20 MB answer arrives whole */
  fx_open(&f, NULL);
  chat_sync(&f, &r, req_for("huge", 1), 20000);
  cJSON *o = parse_response(&r);
  CHECK_EQ_INT(strlen(jstr(o, "choices.0.message.content")), 20 * 1024 * 1024);
  CHECK_EQ_INT(r.n_deltas, 20 * 64 + 1);
  cJSON_Delete(o);
  result_free(&r);
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
  run_until(NULL, 150); /* the upstream sends a chunk every 5 ms: none may arrive */
  CHECK_EQ_INT(r.n_deltas, 3);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
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
  /* a cancelled call leaves the provider usable */
  chat_sync(&f, &r, req_for("echo", 1), 5000);
  CHECK_EQ_INT(r.err, 0);
  result_free(&r);
  fx_close(&f);
}

static void test_close_in_flight(void) {
  fixture f;
  fx_open(&f, NULL);
  result a, b, c;
  result_init(&a, &f);
  result_init(&b, &f);
  result_init(&c, &f);
  CHECK_EQ_INT(start_chat(&a, req_for("endless", 1)), 0);
  CHECK_EQ_INT(start_chat(&b, req_for("hang", 0)), 0);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &c.sink, &c.call), 0);
  run_until(NULL, 50);
  CHECK(a.n_deltas > 0);
  /* closes the provider with three calls in flight and runs the loop dry: none is called back */
  fx_close(&f);
  CHECK_EQ_INT(a.done + b.done, 0);
  CHECK(c.done <= 1); /* the listing may have finished before the close */
  result_free(&a);
  result_free(&b);
  result_free(&c);
}

int main(void) {
  suite_begin("--api-key " TEST_KEY);
  RUN(test_rate_limit);
  RUN(test_http_errors);
  RUN(test_broken_streams);
  RUN(test_timeouts);
  RUN(test_size_limits);
  RUN(test_cancel);
  RUN(test_close_in_flight);
  suite_end();
  CHECK_DONE();
}
