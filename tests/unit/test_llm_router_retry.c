/* tests/unit/test_llm_router_retry.c — the model router against real providers: fallback order,
 * retry backoff and Retry-After bounds, cooldowns with half-open probes, per-attempt limits. */
#include "test_llm_router_fixture.h"

/* A fails, B fails, C answers: C's deployment is reported, with one fallback per hop and
 * 1 + retries attempts on every failing deployment, in the configured order. */
static void test_fallback_order(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 1\nretry_base_ms = 10\nretry_max_ms = 20\ncooldown_failures = 0\n"
          "[llm.models.A]\ndeployments = [ { provider = \"up\", model = \"server-error\" } ]\n"
          "fallbacks = [\"B\", \"C\"]\n"
          "[llm.models.B]\ndeployments = [ { provider = \"up\", model = \"bad-gateway\" } ]\n"
          "[llm.models.C]\ndeployments = [ { provider = \"mock\", model = \"mock-1\" } ]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  rec_sync(&t, &c, chat_json("A", 0, "fb"), LLM_CACHE_BYPASS, 0, 5000);
  if (c.err)
    fprintf(stderr, "fallback call failed: %s\n", c.message);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.provider, "mock") == 0);
  CHECK(strcmp(c.model, "mock-1") == 0);
  CHECK_EQ_INT(c.attempts, 2 + 2 + 1);
  CHECK_STR_CONTAINS(c.response, "hi fb");
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.calls, 1);
  CHECK_EQ_INT(s.fallbacks, 2);
  CHECK_EQ_INT(s.retries, 2);
  CHECK_EQ_INT(s.attempts, 5);
  CHECK_EQ_INT(s.failures, 0);
  long long ta[2] = {0}, tb[2] = {0};
  CHECK_EQ_INT(upstream_count("server-error", ta, 2), 2);
  CHECK_EQ_INT(upstream_count("bad-gateway", tb, 2), 2);
  CHECK(ta[1] <= tb[0]); /* A's deployment was done before B's started */
  rec_free(&c);

  /* Every candidate failing: the last attempt's error is reported, with its deployment. */
  rt_close(&t);
  rt_open(&t,
          "[llm]\nretries = 0\ncooldown_failures = 0\n"
          "[llm.models.A]\ndeployments = [ { provider = \"up\", model = \"server-error\" } ]\n"
          "fallbacks = [\"up/bad-gateway\"]\n",
          NULL);
  rec_sync(&t, &c, chat_json("A", 0, "x"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(c.http_status, 502);
  CHECK(strcmp(c.provider, "up") == 0);
  CHECK(strcmp(c.model, "bad-gateway") == 0);
  CHECK_EQ_INT(c.attempts, 2);
  CHECK_EQ_INT(c.retry_after_ms, -1);
  s = rt_stats(&t);
  CHECK_EQ_INT(s.fallbacks, 1);
  CHECK_EQ_INT(s.failures, 1);
  rec_free(&c);
  rt_close(&t);
}

/* Backoff n is base * 2^(n-1) with jitter in its upper half: 2 retries of base 100 wait
 * 50..100 + 100..200 ms. */
static void test_retry_backoff_bounds(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 2\nretry_base_ms = 100\nretry_max_ms = 400\ncooldown_failures = 0\n"
          "[llm.models.F]\ndeployments = [ { provider = \"up\", model = \"flaky-2-backoff\" } ]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  rec_sync(&t, &c, chat_json("F", 0, "again"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK_EQ_INT(c.attempts, 3);
  CHECK(strcmp(c.provider, "up") == 0);
  CHECK(strcmp(c.model, "flaky-2-backoff") == 0);
  uint64_t elapsed = c.done_ms - c.start_ms;
  fprintf(stderr, "flaky-2 answered after %llu ms\n", (unsigned long long)elapsed);
  CHECK(elapsed + 1 >= 100 / 2 + 200 / 2);
  CHECK(elapsed <= 100 + 200 + 250);
  long long ts[3] = {0};
  CHECK_EQ_INT(upstream_count("flaky-2-backoff", ts, 3), 3);
  CHECK(ts[1] - ts[0] >= 50 - 2 && ts[1] - ts[0] <= 100 + 100);
  CHECK(ts[2] - ts[1] >= 100 - 2 && ts[2] - ts[1] <= 200 + 100);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.retries, 2);
  CHECK_EQ_INT(s.fallbacks, 0);
  rec_free(&c);
  rt_close(&t);
}

/* Retry-After: 1 is honoured when retry_max_ms allows it; past the cap the router moves on at
 * once without retrying the rate-limited deployment. */
static void test_retry_after(void) {
  static const char *const groups =
      "[llm.models.R]\ndeployments = [ { provider = \"up\", model = \"rate-limit\" } ]\n"
      "fallbacks = [\"mock/mock-1\"]\n";
  char toml[1024];
  rt t;
  rec c;
  snprintf(toml, sizeof toml,
           "[llm]\nretries = 1\nretry_base_ms = 10\nretry_max_ms = 1000\ncooldown_failures = "
           "0\n%s",
           groups);
  rt_open(&t, toml, NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec_sync(&t, &c, chat_json("R", 0, "ra"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.provider, "mock") == 0);
  CHECK_EQ_INT(c.attempts, 3);
  CHECK(c.done_ms - c.start_ms >= 1000);
  long long ts[2] = {0};
  CHECK_EQ_INT(upstream_count("rate-limit", ts, 2), 2);
  CHECK(ts[1] - ts[0] >= 990);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.retries, 1);
  CHECK_EQ_INT(s.fallbacks, 1);
  rec_free(&c);
  rt_close(&t);

  snprintf(toml, sizeof toml,
           "[llm]\nretries = 2\nretry_base_ms = 10\nretry_max_ms = 500\ncooldown_failures = "
           "0\n%s",
           groups);
  rt_open(&t, toml, NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec_sync(&t, &c, chat_json("R", 0, "rb"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.provider, "mock") == 0);
  CHECK_EQ_INT(c.attempts, 2);
  CHECK(c.done_ms - c.start_ms < 500);
  CHECK_EQ_INT(upstream_count("rate-limit", NULL, 0), 1);
  s = rt_stats(&t);
  CHECK_EQ_INT(s.retries, 0);
  CHECK_EQ_INT(s.fallbacks, 1);
  rec_free(&c);

  /* With nothing to fall back to, the rate limit and its wait reach the caller. */
  rt_close(&t);
  rt_open(&t,
          "[llm]\nretries = 2\nretry_max_ms = 500\ncooldown_failures = 0\n"
          "[llm.models.R]\ndeployments = [ { provider = \"up\", model = \"rate-limit\" } ]\n",
          NULL);
  rec_sync(&t, &c, chat_json("R", 0, "rc"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_ERATELIMIT);
  CHECK_EQ_INT(c.http_status, 429);
  CHECK_EQ_INT(c.retry_after_ms, 1000);
  CHECK_EQ_INT(c.attempts, 1);
  rec_free(&c);
  rt_close(&t);
}

/* One call of group G; checks who answered and how many upstream requests flaky saw so far. */
static void cooldown_call(rt *t, const char *provider, int attempts, int flaky_seen) {
  rec c;
  rec_sync(t, &c, chat_json("G", 0, "cd"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, 0);
  if (strcmp(c.provider, provider) != 0)
    fprintf(stderr, "answered by %s, expected %s\n", c.provider, provider);
  CHECK(strcmp(c.provider, provider) == 0);
  CHECK_EQ_INT(c.attempts, attempts);
  CHECK_EQ_INT(upstream_count("flaky-3-cool", NULL, 0), flaky_seen);
  rec_free(&c);
}

/* Two failures cool the deployment; calls skip it; after cooldown_ms one call probes it; a failed
 * probe cools it again; a successful one puts it back in use. */
static void test_cooldown_and_recovery(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 0\ncooldown_failures = 2\ncooldown_ms = 300\n"
          "[llm.models.G]\ndeployments = [ { provider = \"up\", model = \"flaky-3-cool\" } ]\n"
          "fallbacks = [\"mock/mock-1\"]\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  cooldown_call(&t, "mock", 2, 1);
  CHECK_EQ_INT(rt_stats(&t).cooldowns, 0);
  cooldown_call(&t, "mock", 2, 2);
  CHECK_EQ_INT(rt_stats(&t).cooldowns, 1);
  uint64_t attempts = rt_stats(&t).attempts;
  cooldown_call(&t, "mock", 1, 2); /* skipped: no attempt on flaky */
  CHECK_EQ_INT(rt_stats(&t).attempts, attempts + 1);
  run_until(NULL, 320);
  cooldown_call(&t, "mock", 2, 3); /* the probe fails (3rd flaky call) */
  CHECK_EQ_INT(rt_stats(&t).cooldowns, 2);
  cooldown_call(&t, "mock", 1, 3); /* cooled again at once */
  run_until(NULL, 320);
  cooldown_call(&t, "up", 1, 4); /* the probe succeeds */
  cooldown_call(&t, "up", 1, 5); /* and the deployment is back in use */
  cooldown_call(&t, "up", 1, 6);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.cooldowns, 2);
  CHECK_EQ_INT(s.failures, 0);
  rt_close(&t);
}

/* While a half-open probe is in flight, other calls keep skipping the deployment. */
static void test_single_probe(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 0\ncooldown_failures = 1\ncooldown_ms = 200\n"
          "[llm.models.P]\ndeployments = [ { provider = \"up\", model = \"slow-300\" } ]\n"
          "fallbacks = [\"mock/mock-1\"]\n",
          NULL);
  rec c;
  /* Cool it with a timeout (a per-attempt limit below the upstream's delay). */
  rec_sync(&t, &c, chat_json("P", 0, "p"), LLM_CACHE_BYPASS, 100, 5000);
  CHECK_EQ_INT(c.err, 0);
  CHECK(strcmp(c.provider, "mock") == 0);
  CHECK_EQ_INT(rt_stats(&t).cooldowns, 1);
  rec_free(&c);
  run_until(NULL, 220);
  rec probe, other;
  CHECK_EQ_INT(rec_start(&t, &probe, chat_json("P", 0, "probe"), LLM_CACHE_BYPASS, 2000), 0);
  CHECK_EQ_INT(rec_start(&t, &other, chat_json("P", 0, "other"), LLM_CACHE_BYPASS, 2000), 0);
  run_until(&other.done, 2000);
  CHECK_EQ_INT(other.done, 1);
  CHECK(strcmp(other.provider, "mock") == 0);
  CHECK_EQ_INT(probe.done, 0);
  run_until(&probe.done, 2000);
  CHECK_EQ_INT(probe.err, 0);
  CHECK(strcmp(probe.provider, "up") == 0);
  rec_free(&probe);
  rec_free(&other);
  rt_close(&t);
}

/* Every deployment cooling and nothing to fall back to: a rate limit saying when one returns. */
static void test_all_cooling(void) {
  rt t;
  rt_open(&t,
          "[llm]\nretries = 0\ncooldown_failures = 1\ncooldown_ms = 5000\n"
          "[llm.models.X]\ndeployments = [ { provider = \"up\", model = \"server-error\" },\n"
          "  { provider = \"mock\", model = \"no-such-model\" } ]\n",
          NULL);
  rec c;
  rec_sync(&t, &c, chat_json("X", 0, "a"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK(c.err == AGENTAI_EUPSTREAM || c.err == AGENTAI_ENOENT);
  CHECK_EQ_INT(c.attempts, 2);
  CHECK_EQ_INT(rt_stats(&t).cooldowns, 2);
  rec_free(&c);
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("X", 0, "b"), LLM_CACHE_BYPASS, 0), 0);
  CHECK_EQ_INT(c.done, 1); /* answered before llm_start returned */
  CHECK(c.call == NULL);
  CHECK_EQ_INT(c.err, AGENTAI_ERATELIMIT);
  CHECK(c.retry_after_ms > 0 && c.retry_after_ms <= 5000);
  CHECK_EQ_INT(c.attempts, 0);
  CHECK_STR_CONTAINS(c.message, "cooling down");
  rec_free(&c);
  rt_close(&t);
}

/* request timeout_ms limits each attempt: "hang" times out after ~200 ms, once per attempt. */
static void test_attempt_time_limit(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 1\nretry_base_ms = 10\nretry_max_ms = 10\ncooldown_failures = 0\n",
          NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rec c;
  rec_sync(&t, &c, chat_json("up/hang", 0, "h"), LLM_CACHE_BYPASS, 200, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(c.attempts, 2);
  CHECK_STR_CONTAINS(c.message, "200 ms");
  uint64_t elapsed = c.done_ms - c.start_ms;
  fprintf(stderr, "two hung attempts ended after %llu ms\n", (unsigned long long)elapsed);
  CHECK(elapsed + 2 >= 2 * 200 + 5);
  CHECK(elapsed <= 2 * 200 + 10 + 200);
  CHECK_EQ_INT(upstream_count("hang", NULL, 0), 2);
  rec_free(&c);

  /* The configured limit applies when the request gives none. */
  rt_close(&t);
  rt_open(&t, "[llm]\nretries = 0\ntimeout_ms = 150\n", NULL);
  rec_sync(&t, &c, chat_json("up/hang", 0, "h2"), LLM_CACHE_BYPASS, 0, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(c.attempts, 1);
  CHECK(c.done_ms - c.start_ms + 2 >= 150 && c.done_ms - c.start_ms < 400);
  rec_free(&c);
  rt_close(&t);
}

/* Bad input is refused before the sink is involved. */
static void test_refusals(void) {
  rt t;
  rt_open(&t, "[llm]\ndefault_provider = \"none\"\n", NULL);
  rec c;
  CHECK_EQ_INT(rec_start(&t, &c, "[1,2]", LLM_CACHE_USE, 0), AGENTAI_EINVAL);
  CHECK_EQ_INT(rec_start(&t, &c, "{\"model\":5}", LLM_CACHE_USE, 0), AGENTAI_EINVAL);
  CHECK_EQ_INT(rec_start(&t, &c, "{\"model\":", LLM_CACHE_USE, 0), AGENTAI_EINVAL);
  CHECK_EQ_INT(rec_start(&t, &c, chat_json("nobody-serves-this", 0, "x"), LLM_CACHE_USE, 0),
               AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(c.message, "nobody-serves-this");
  CHECK_EQ_INT(c.done, 0);
  CHECK(c.call == NULL);
  CHECK_EQ_INT(rt_stats(&t).calls, 0);
  rt_close(&t);
}

int main(void) {
  suite_begin();
  RUN(test_refusals);
  RUN(test_fallback_order);
  RUN(test_retry_backoff_bounds);
  RUN(test_retry_after);
  RUN(test_cooldown_and_recovery);
  RUN(test_single_probe);
  RUN(test_all_cooling);
  RUN(test_attempt_time_limit);
  suite_end();
  CHECK_DONE();
}
