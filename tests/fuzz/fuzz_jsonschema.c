/* tests/fuzz/fuzz_jsonschema.c — libFuzzer target: compile a schema and validate an instance. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_jsonschema: %s: %s\n", what, detail ? detail : "");
  abort();
}

/* Input: schema JSON, a NUL byte, instance JSON (either may be malformed). The first byte's
 * low bit picks the ambiguous-empty flag. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192)
    return 0;
  unsigned flags = (data[0] & 1) ? JSONSCHEMA_EMPTY_AMBIGUOUS : 0;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  const char *nul = memchr(text, '\0', len);
  size_t slen = nul ? (size_t)(nul - text) : len;
  cJSON *sd = cJSON_ParseWithLength(text, slen);
  if (!sd)
    return 0;
  cJSON *inst = nul ? cJSON_ParseWithLength(nul + 1, len - slen - 1) : cJSON_CreateNull();
  char err[512];
  jsonschema *s = NULL;
  int rc = jsonschema_compile(sd, flags, &s, err, sizeof err);
  if (rc != 0) {
    if (s || (rc != AGENTAI_EINVAL && rc != AGENTAI_ENOMEM) ||
        (rc == AGENTAI_EINVAL && err[0] != '/'))
      die("compile failed without a located message", err);
  } else if (inst) {
    jsonschema_result a, b;
    if (jsonschema_validate(s, inst, flags, 5, &a) != 0)
      die("validate failed", NULL);
    if (jsonschema_validate(s, inst, flags, 5, &b) != 0)
      die("validate failed", NULL);
    /* Deterministic, bounded, and every error has a pointer path. */
    if (a.count != b.count || a.count > 6)
      die("error lists differ or exceed the limit", NULL);
    for (size_t i = 0; i < a.count; i++) {
      if (strcmp(a.errors[i].path, b.errors[i].path) ||
          strcmp(a.errors[i].message, b.errors[i].message))
        die("error lists differ", a.errors[i].message);
      if (a.errors[i].path[0] && a.errors[i].path[0] != '/')
        die("path is not a JSON pointer", a.errors[i].path);
    }
    jsonschema_result_free(&a);
    jsonschema_result_free(&b);
  }
  jsonschema_free(s);
  cJSON_Delete(sd);
  cJSON_Delete(inst);
  return 0;
}
