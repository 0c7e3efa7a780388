/* tests/unit/test_llm_router_cache.c — the model router's response cache against the test
 * upstream (whose answers carry a fresh id per request): keys, modes, LMDB persistence, TTL. */
#include <sys/stat.h>

#include "test_llm_router_fixture.h"

#define Q_PLAIN                                                                            \
  "{\"model\":\"up/echo\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":" \
  "\"cache me\"}]}"
/* The same request with members (also nested ones) in another order, and stream/user set. */
#define Q_REORDERED                                                                         \
  "{\"user\":\"u1\",\"messages\":[{\"content\":\"cache me\",\"role\":\"user\"}],\"model\":" \
  "\"up/echo\",\"temperature\":0}"
#define Q_STREAMED                                                                          \
  "{\"stream\":true,\"messages\":[{\"content\":\"cache me\",\"role\":\"user\"}],\"model\":" \
  "\"up/echo\",\"temperature\":0}"
#define Q_OTHER      \
  "{\"model\":\"up/" \
  "echo\",\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"other\"}]}"
#define Q_WARM       \
  "{\"model\":\"up/" \
  "echo\",\"temperature\":0.7,\"messages\":[{\"role\":\"user\",\"content\":\"warm\"}]}"

/* The response's "id" (the upstream numbers them), into out. */
static void response_id(const rec *c, char *out, size_t len) {
  CHECK_EQ_INT(c->err, 0);
  cJSON *root = cJSON_Parse(c->response);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
  CHECK(cJSON_IsString(id));
  snprintf(out, len, "%s", id->valuestring);
  cJSON_Delete(root);
}

/* One call to its end; its response id goes to id (when not NULL). */
static void cache_call(rt *t, const char *json, int mode, int expect_hit, char *id, size_t len) {
  rec c;
  rec_sync(t, &c, json, mode, 0, 5000);
  if (c.err)
    fprintf(stderr, "call failed: %s\n", c.message);
  CHECK_EQ_INT(c.err, 0);
  CHECK_EQ_INT(c.cache_hit, expect_hit);
  CHECK_EQ_INT(c.attempts, expect_hit ? 0 : 1);
  CHECK(strcmp(c.provider, expect_hit ? "cache" : "up") == 0);
  if (id)
    response_id(&c, id, len);
  rec_free(&c);
}

/* Identical requests hit (member order, stream and user do not matter); others miss. */
static void test_key(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n", NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  char first[128], again[128];
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, first, sizeof first);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_misses, 1);
  CHECK_EQ_INT(s.cache_stores, 1);
  cache_call(&t, Q_REORDERED, LLM_CACHE_USE, 1, again, sizeof again);
  CHECK(strcmp(first, again) == 0);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 1);

  /* A streaming caller gets the cached answer replayed as chunks. */
  rec c;
  rec_sync(&t, &c, Q_STREAMED, LLM_CACHE_USE, 0, 5000);
  CHECK_EQ_INT(c.cache_hit, 1);
  CHECK(c.n_deltas >= 2);
  response_id(&c, again, sizeof again);
  CHECK(strcmp(first, again) == 0);
  rec_free(&c);

  cache_call(&t, Q_OTHER, LLM_CACHE_USE, 0, again, sizeof again);
  CHECK(strcmp(first, again) != 0);
  s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_hits, 2);
  CHECK_EQ_INT(s.cache_misses, 2);
  CHECK_EQ_INT(s.cache_stores, 2);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 2);

  /* temperature above 0 asks for variety: never read nor stored. */
  char w1[128], w2[128];
  cache_call(&t, Q_WARM, LLM_CACHE_USE, 0, w1, sizeof w1);
  cache_call(&t, Q_WARM, LLM_CACHE_USE, 0, w2, sizeof w2);
  CHECK(strcmp(w1, w2) != 0);
  s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_stores, 2);
  CHECK_EQ_INT(s.cache_hits, 2);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 4);
  rt_close(&t);

  /* ...unless the configuration says otherwise. */
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nnonzero_temperature = true\n", NULL);
  cache_call(&t, Q_WARM, LLM_CACHE_USE, 0, w1, sizeof w1);
  cache_call(&t, Q_WARM, LLM_CACHE_USE, 1, w2, sizeof w2);
  CHECK(strcmp(w1, w2) == 0);
  rt_close(&t);

  /* A disabled cache neither reads nor stores. */
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nenabled = false\n", NULL);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, NULL, 0);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, NULL, 0);
  s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_stores + s.cache_hits + s.cache_misses, 0);
  rt_close(&t);
}

/* A failed call is not stored. */
static void test_errors_not_stored(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n", NULL);
  const char *q = "{\"model\":\"up/server-error\",\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"e\"}]}";
  rec c;
  rec_sync(&t, &c, q, LLM_CACHE_USE, 0, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_EUPSTREAM);
  rec_free(&c);
  rec_sync(&t, &c, q, LLM_CACHE_USE, 0, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(c.cache_hit, 0);
  CHECK_EQ_INT(c.attempts, 1);
  rec_free(&c);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_stores, 0);
  CHECK_EQ_INT(s.cache_misses, 2);
  rt_close(&t);
}

/* BYPASS neither reads nor stores; REFRESH does not read but stores the fresh answer. */
static void test_modes(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n", NULL);
  char stored[128], id[128], fresh[128];
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, stored, sizeof stored);
  cache_call(&t, Q_PLAIN, LLM_CACHE_BYPASS, 0, id, sizeof id);
  CHECK(strcmp(id, stored) != 0);
  CHECK_EQ_INT(rt_stats(&t).cache_stores, 1);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 1, id, sizeof id);
  CHECK(strcmp(id, stored) == 0); /* the bypass did not replace the entry */

  cache_call(&t, Q_OTHER, LLM_CACHE_BYPASS, 0, NULL, 0);
  cache_call(&t, Q_OTHER, LLM_CACHE_USE, 0, NULL, 0); /* the bypass stored nothing */

  cache_call(&t, Q_PLAIN, LLM_CACHE_REFRESH, 0, fresh, sizeof fresh);
  CHECK(strcmp(fresh, stored) != 0);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 1, id, sizeof id);
  CHECK(strcmp(id, fresh) == 0);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_stores, 3); /* plain, other, the refresh */
  CHECK_EQ_INT(s.cache_hits, 2);
  rt_close(&t);
}

/* With LMDB, a second router over the same folder finds the first one's entries. */
static void test_persistence(void) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/db-persist", tmpdir);
  CHECK_EQ_INT(mkdir(dir, 0700), 0);
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n", dir);
  char stored[128], id[128];
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, stored, sizeof stored);
  run_until(NULL, 50); /* the background write */
  rt_close(&t);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  rt_open(&t, "[llm]\nretries = 0\n", dir);
  cache_call(&t, Q_REORDERED, LLM_CACHE_USE, 1, id, sizeof id);
  CHECK(strcmp(id, stored) == 0);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 0);
  cache_call(&t, Q_OTHER, LLM_CACHE_USE, 0, NULL, 0);
  llm_stats s = rt_stats(&t);
  CHECK_EQ_INT(s.cache_hits, 1);
  CHECK_EQ_INT(s.cache_misses, 1);
  rt_close(&t);

  /* memory_mb = 0: no memory front, every hit comes from storage. */
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nmemory_mb = 0\n", dir);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 1, id, sizeof id);
  CHECK(strcmp(id, stored) == 0);
  rt_close(&t);
}

/* Entries expire after ttl_s, in memory and in storage. */
static void test_ttl(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nttl_s = 1\n", NULL);
  CHECK_EQ_INT(upstream_reset(&up), 0);
  char stored[128], id[128];
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, stored, sizeof stored);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 1, id, sizeof id);
  run_until(NULL, 1100);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, id, sizeof id);
  CHECK(strcmp(id, stored) != 0);
  CHECK_EQ_INT(upstream_count("echo", NULL, 0), 2);
  rt_close(&t);

  char dir[128];
  snprintf(dir, sizeof dir, "%s/db-ttl", tmpdir);
  CHECK_EQ_INT(mkdir(dir, 0700), 0);
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nttl_s = 1\n", dir);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, stored, sizeof stored);
  run_until(NULL, 50);
  rt_close(&t);
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nttl_s = 1\n", dir);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 1, id, sizeof id); /* from storage, still fresh */
  CHECK(strcmp(id, stored) == 0);
  rt_close(&t);
  run_until(NULL, 1100);
  rt_open(&t, "[llm]\nretries = 0\n[cache]\nttl_s = 1\n", dir);
  cache_call(&t, Q_PLAIN, LLM_CACHE_USE, 0, id, sizeof id);
  CHECK(strcmp(id, stored) != 0);
  CHECK_EQ_INT(rt_stats(&t).cache_misses, 1);
  rt_close(&t);
}

/* Cancelling a call that the cache answers inline is impossible (done ran); one that misses
 * and is cancelled in its attempt stores nothing. */
static void test_cancel_stores_nothing(void) {
  rt t;
  rt_open(&t, "[llm]\nretries = 0\n", NULL);
  const char *q = "{\"model\":\"up/slow-200\",\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"c\"}]}";
  rec c;
  CHECK_EQ_INT(rec_start(&t, &c, q, LLM_CACHE_USE, 0), 0);
  CHECK(c.call != NULL);
  run_until(NULL, 50);
  llm_cancel(c.call);
  run_until(NULL, 300);
  CHECK_EQ_INT(c.done, 0);
  CHECK_EQ_INT(rt_stats(&t).cache_stores, 0);
  rec_sync(&t, &c, q, LLM_CACHE_USE, 0, 5000);
  CHECK_EQ_INT(c.cache_hit, 0);
  rec_free(&c);
  rec_sync(&t, &c, q, LLM_CACHE_USE, 0, 5000);
  CHECK_EQ_INT(c.cache_hit, 1);
  CHECK(c.call == NULL); /* answered before llm_start returned */
  rec_free(&c);
  rt_close(&t);
}

int main(void) {
  suite_begin();
  RUN(test_key);
  RUN(test_errors_not_stored);
  RUN(test_modes);
  RUN(test_persistence);
  RUN(test_ttl);
  RUN(test_cancel_stores_nothing);
  suite_end();
  CHECK_DONE();
}
