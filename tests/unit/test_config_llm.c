/* tests/unit/test_config_llm.c — the [llm] and [cache] sections: defaults, model groups, and
 * every refusal naming the file, the line and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "agentai/plugin.h"
#include "core/config.h"

static char g_dir[64], g_path[128];

/* Loads text over fresh defaults from a file; returns config_load_file's code. */
static int load_text(config *cfg, const char *text, char *err, size_t err_len) {
  FILE *f = fopen(g_path, "wb");
  CHECK(f != NULL);
  fputs(text, f);
  CHECK_EQ_INT(fclose(f), 0);
  config_defaults(cfg);
  return config_load_file(cfg, g_path, err, err_len);
}

static void refused(const char *text, int line, const char *msg) {
  config cfg;
  char err[1024] = "", want[1024];
  CHECK_EQ_INT(load_text(&cfg, text, err, sizeof err), AGENTAI_EINVAL);
  snprintf(want, sizeof want, "%s:%d: %s", g_path, line, msg);
  if (strcmp(err, want) != 0)
    fprintf(stderr, "got:  %s\nwant: %s\n", err, want);
  CHECK(strcmp(err, want) == 0);
  /* A refused file changes nothing. */
  CHECK_EQ_INT(cfg.llm_retries, 2);
  CHECK_EQ_INT(cJSON_GetArraySize(cfg.llm_models), 0);
  config_free(&cfg);
}

static void test_defaults(void) {
  config cfg;
  config_defaults(&cfg);
  CHECK(strcmp(cfg.llm_default_provider, "mock") == 0);
  CHECK_EQ_INT(cfg.llm_timeout_ms, 120000);
  CHECK_EQ_INT(cfg.llm_retries, 2);
  CHECK_EQ_INT(cfg.llm_cooldown_failures, 3);
  CHECK_EQ_INT(cfg.cache_enabled, 1);
  CHECK_EQ_INT(cfg.cache_ttl_s, 3600);
  CHECK_EQ_INT(cfg.cache_nonzero_temperature, 0);
  CHECK(cJSON_IsObject(cfg.llm_models));
  config_free(&cfg);
}

static void test_groups(void) {
  config cfg;
  char err[512] = "";
  const char *text =
      "[llm]\n"
      "retries = 1\n"
      "cooldown_ms = 500\n"
      "[llm.models.\"gpt-4o\"]\n"
      "deployments = [ { provider = \"openai\", weight = 3 },\n"
      "  { provider = \"azure\", model = \"gpt4o-eu\", params = { max_tokens = 5 } } ]\n"
      "fallbacks = [\"cheap\"]\n"
      "[cache]\n"
      "enabled = false\n"
      "ttl_s = 60\n"
      "nonzero_temperature = true\n";
  CHECK_EQ_INT(load_text(&cfg, text, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.llm_retries, 1);
  CHECK_EQ_INT(cfg.llm_cooldown_ms, 500);
  CHECK_EQ_INT(cfg.cache_enabled, 0);
  CHECK_EQ_INT(cfg.cache_ttl_s, 60);
  CHECK_EQ_INT(cfg.cache_nonzero_temperature, 1);
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(cfg.llm_models, "gpt-4o");
  CHECK(g != NULL);
  const cJSON *deps = cJSON_GetObjectItemCaseSensitive(g, "deployments");
  CHECK_EQ_INT(cJSON_GetArraySize(deps), 2);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(deps->child, "weight")->valueint, 3);
  char *json = config_to_json(&cfg);
  CHECK(json != NULL);
  CHECK_STR_CONTAINS(json, "\"gpt4o-eu\"");
  CHECK_STR_CONTAINS(json, "\"cache\":{\"enabled\":false");
  free(json);
  config_free(&cfg);
}

static void test_refusals(void) {
  refused("[llm]\nretries = 11\n", 2, "key 'llm.retries': 11 is out of range (0..10)");
  refused("[llm]\ntimeout = 5\n", 2,
          "unknown key 'llm.timeout' (known: default_provider, timeout_ms, retries, retry_base_ms, "
          "retry_max_ms, cooldown_failures, cooldown_window_ms, cooldown_ms, models)");
  refused("[llm.models.x]\nfallbacks = []\n", 1, "key 'llm.models.x': missing 'deployments'");
  refused("[llm.models.x]\ndeployments = []\n", 2,
          "key 'llm.models.x.deployments': expected a non-empty array of {provider, model, weight} "
          "tables");
  refused("[llm.models.x]\ndeployments = [ { model = \"a\" } ]\n", 2,
          "key 'llm.models.x.deployments': element 0: missing 'provider'");
  refused("[llm.models.x]\ndeployments = [ { provider = \"p\", weight = 0 } ]\n", 2,
          "key 'llm.models.x.deployments': element 0: 'weight' must be an integer from 1 to 1000");
  refused("[llm.models.x]\ndeployments = [ { provider = \"p\", params = { stream = true } } ]\n", 2,
          "key 'llm.models.x.deployments': element 0: 'params' may not set 'stream' (the router "
          "owns it)");
  refused("[llm.models.x]\ndeployments = [ { provider = \"p\", region = \"eu\" } ]\n", 2,
          "key 'llm.models.x.deployments': element 0: unknown key 'region' (known: provider, "
          "model, weight, params)");
  refused("[llm.models.x]\ndeployments = [ \"p\" ]\n", 2,
          "key 'llm.models.x.deployments': element 0: expected a table {provider = \"...\", model "
          "= \"...\"}, got string");
  refused("[llm.models.x]\ndeployments = [ { provider = \"p\" } ]\nfallbacks = [\"x\"]\n", 3,
          "key 'llm.models.x.fallbacks': element 0: a group cannot fall back to itself");
  refused("[llm.models.x]\ndeployments = [ { provider = \"p\" } ]\nretry = 1\n", 3,
          "key 'llm.models.x.retry': unknown key (known: deployments, fallbacks)");
  refused("[llm]\nmodels = 3\n", 2,
          "key 'llm.models': expected a table of model groups ([llm.models.NAME])");
  refused("[cache]\nenabled = 1\n", 2, "key 'cache.enabled': expected true or false, got integer");
  refused("[cache]\nttl_s = 0\n", 2, "key 'cache.ttl_s': 0 is out of range (1..31536000)");
  refused("[cache]\nsize = 1\n", 2,
          "unknown key 'cache.size' (known: enabled, ttl_s, memory_mb, nonzero_temperature)");
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/agentai-test-cfgllm-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  snprintf(g_path, sizeof g_path, "%s/c.toml", g_dir);
  RUN(test_defaults);
  RUN(test_groups);
  RUN(test_refusals);
  unlink(g_path);
  rmdir(g_dir);
  CHECK_DONE();
}
