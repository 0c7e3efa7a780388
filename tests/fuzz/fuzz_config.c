/* tests/fuzz/fuzz_config.c — libFuzzer target: bytes to the TOML-subset parser, then through the
 * configuration schema. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every refusal must be a located message; anything else is a bug. */
static void check_error(int rc, const char *err) {
  if (rc == AGENTAI_ENOMEM)
    return;
  if (rc != AGENTAI_EINVAL || strncmp(err, "fuzz.toml:", 10) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* libFuzzer's buffer is exactly size bytes: ASan flags any read past it. */
  const char *text = (const char *)data;
  char err[512] = "";
  cJSON *tree = NULL;
  int rc = config_parse_toml(text, size, "fuzz.toml", &tree, err, sizeof err);
  if (rc < 0) {
    if (tree)
      abort();
    check_error(rc, err);
    return 0;
  }
  if (!cJSON_IsObject(tree))
    abort();

  /* The tree is plain JSON: printing, parsing and printing again is stable.
   * (Texts, not cJSON_Compare, which is exponential in the nesting depth.) */
  char *json = cJSON_PrintUnformatted(tree);
  if (json) {
    cJSON *back = cJSON_Parse(json);
    char *again = back ? cJSON_PrintUnformatted(back) : NULL;
    if (again && strcmp(json, again) != 0)
      abort();
    free(again);
    cJSON_Delete(back);
    free(json);
  }
  cJSON_Delete(tree);

  /* Schema validation over the defaults; on success exercise the outputs. */
  config cfg;
  config_defaults(&cfg);
  rc = config_load_buffer(&cfg, text, size, "fuzz.toml", err, sizeof err);
  if (rc < 0) {
    check_error(rc, err);
  } else {
    char *section = config_plugin_json(&cfg, "provider-mock");
    char *all = config_to_json(&cfg);
    if (section && section[0] != '{')
      abort();
    free(section);
    free(all);
  }
  config_free(&cfg);
  return 0;
}
