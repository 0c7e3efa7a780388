/* api/body.c — request bodies from outside: UTF-8, nesting and NUL checks before cJSON parses,
 * then a JSON object or an error that names the byte offset. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentai/plugin.h"
#include "api/internal.h"
#include "core/utf8.h"

/* Scans the raw text before parsing: nesting, so a hostile body cannot make
 * the parser recurse deeply (cJSON's own limit is 1000), and \u0000 escapes,
 * which cJSON would decode into C strings cut short. Returns the offset of
 * the first problem (*nul set for a NUL escape), or len. */
static size_t scan_body(const char *s, size_t len, int *nul) {
  int depth = 0, in_str = 0;
  *nul = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') {
        if (i + 5 < len && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) {
          *nul = 1;
          return i;
        }
        i++;
      } else if (c == '"') {
        in_str = 0;
      }
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > API_MAX_DEPTH)
        return i;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return len;
}

__attribute__((format(printf, 4, 5))) static int fail(char type[32], char message[256],
                                                      const char *t, const char *fmt, ...) {
  snprintf(type, 32, "%s", t);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, 256, fmt, ap);
  va_end(ap);
  return AGENTAI_EINVAL;
}

int api_parse_object(const char *body, size_t len, const char *what, cJSON **out, char type[32],
                     char message[256]) {
  *out = NULL;
  if (len == 0)
    return fail(type, message, "invalid_json", "the %s is empty; expected a JSON object", what);
  size_t bad = utf8_invalid_at(body, len);
  if (bad < len)
    return fail(type, message, "invalid_json", "the %s is not valid UTF-8 at byte offset %zu", what,
                bad);
  int nul = 0;
  bad = scan_body(body, len, &nul);
  if (bad < len)
    return nul ? fail(type, message, "invalid_json",
                      "strings may not contain NUL (\\u0000): byte offset %zu", bad)
               : fail(type, message, "invalid_json",
                      "the %s nests deeper than %d levels at byte offset %zu", what, API_MAX_DEPTH,
                      bad);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!root)
    return fail(type, message, "invalid_json", "malformed JSON at byte offset %zu",
                end && end >= body && end <= body + len ? (size_t)(end - body) : 0);
  size_t used = (size_t)(end - body);
  while (used < len &&
         (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n'))
    used++;
  if (used < len) {
    cJSON_Delete(root);
    return fail(type, message, "invalid_json",
                "unexpected data after the JSON value at byte offset %zu", used);
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return fail(type, message, "invalid_request", "the %s must be a JSON object", what);
  }
  *out = root;
  return 0;
}
