/* tests/fuzz/fuzz_api_body.c — libFuzzer target: bytes as a REST request body through the
 * runtime's JSON object parser (UTF-8, nesting, NUL checks, then cJSON). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "api/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *obj = NULL;
  char type[32] = "", message[256] = "";
  int rc = api_parse_object((const char *)data, size, "body", &obj, type, message);
  if (rc < 0) {
    /* a refusal is one of the two documented kinds, with a sentence */
    if (obj || rc != AGENTAI_EINVAL || !message[0] ||
        (strcmp(type, "invalid_json") != 0 && strcmp(type, "invalid_request") != 0))
      abort();
    /* an offset it names lies inside the body */
    const char *at = strstr(message, "byte offset ");
    if (at && strtoull(at + 12, NULL, 10) > size)
      abort();
    return 0;
  }
  if (!cJSON_IsObject(obj))
    abort();
  /* what was accepted prints and parses back to an object */
  char *text = cJSON_PrintUnformatted(obj);
  cJSON *again = text ? cJSON_Parse(text) : NULL;
  if (text && !cJSON_IsObject(again))
    abort();
  cJSON_Delete(again);
  free(text);
  cJSON_Delete(obj);
  return 0;
}
