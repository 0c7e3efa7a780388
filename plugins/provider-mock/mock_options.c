/* provider-mock/mock_options.c — the mock's option keys (config and per-request "mock" object)
 * and the checks of a chat request's shape. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "mock.h"

/* Delays above a day are certainly a typo, and keep millisecond sums far from overflow. */
#define MOCK_MAX_MS 86400000.0

static const char KNOWN_KEYS[] =
    "mode, text, script, error, latency_ms, stream_delay_ms, models, calls_file";

static int failf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int failf(char *err, size_t len, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EINVAL;
}

const char *mock_mode_name(int mode) {
  switch (mode) {
    case MOCK_FIXED:
      return "fixed";
    case MOCK_SCRIPT:
      return "script";
    case MOCK_ERROR:
      return "error";
    default:
      return "echo";
  }
}

int mock_parse_ms(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v))
    return -1;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > MOCK_MAX_MS || floor(d) != d)
    return -1;
  *out = (uint64_t)d;
  return 0;
}

static int is_nonempty_string(const cJSON *v) {
  return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

/* ---- validation of the option values ---- */

int mock_error_kind(const char *kind, int *http_status) {
  static const struct {
    const char *kind;
    int code, http;
  } KINDS[] = {
      {"rate_limited", AGENTAI_ERATELIMIT, 429},
      {"timeout", AGENTAI_ETIMEDOUT, 0},
      {"server_error", AGENTAI_EUPSTREAM, 500},
      {"malformed", AGENTAI_EMALFORMED, 200},
      {"auth", AGENTAI_EAUTH, 401},
  };
  for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
    if (strcmp(kind, KINDS[i].kind) == 0) {
      if (http_status)
        *http_status = KINDS[i].http;
      return KINDS[i].code;
    }
  }
  return 0;
}

static int check_error(const cJSON *e, const char *path, char *err, size_t len) {
  if (!cJSON_IsObject(e))
    return failf(err, len, "%s: expected an object {\"kind\": ..., \"message\": ...}", path);
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
  if (!cJSON_IsString(kind) || !mock_error_kind(kind->valuestring, NULL))
    return failf(err, len,
                 "%s.kind: expected one of \"rate_limited\", \"timeout\", \"server_error\", "
                 "\"malformed\", \"auth\"",
                 path);
  const cJSON *m;
  uint64_t ms;
  cJSON_ArrayForEach(m, e) {
    if (strcmp(m->string, "kind") == 0)
      continue;
    if (strcmp(m->string, "message") == 0) {
      if (!cJSON_IsString(m))
        return failf(err, len, "%s.message: expected a string", path);
    } else if (strcmp(m->string, "retry_after_ms") == 0) {
      if (mock_parse_ms(m, &ms) < 0)
        return failf(err, len, "%s.retry_after_ms: expected a non-negative integer (ms)", path);
      if (strcmp(kind->valuestring, "rate_limited") != 0)
        return failf(err, len, "%s.retry_after_ms: only valid with kind \"rate_limited\"", path);
    } else if (strcmp(m->string, "after_ms") == 0) {
      if (mock_parse_ms(m, &ms) < 0)
        return failf(err, len, "%s.after_ms: expected a non-negative integer (ms)", path);
    } else {
      return failf(err, len,
                   "%s.%s: unknown key (known keys: kind, message, retry_after_ms, after_ms)", path,
                   m->string);
    }
  }
  return 0;
}

static int check_tool_call(const cJSON *tc, const char *path, char *err, size_t len) {
  if (!cJSON_IsObject(tc))
    return failf(err, len, "%s: expected an object {\"name\": ..., \"arguments\": ...}", path);
  if (!is_nonempty_string(cJSON_GetObjectItemCaseSensitive(tc, "name")))
    return failf(err, len, "%s.name: expected a non-empty string", path);
  const cJSON *m;
  cJSON_ArrayForEach(m, tc) {
    if (strcmp(m->string, "name") == 0)
      continue;
    if (strcmp(m->string, "arguments") == 0) {
      if (!cJSON_IsObject(m) && !cJSON_IsString(m))
        return failf(err, len, "%s.arguments: expected an object or a JSON string", path);
    } else if (strcmp(m->string, "id") == 0) {
      if (!is_nonempty_string(m))
        return failf(err, len, "%s.id: expected a non-empty string", path);
    } else {
      return failf(err, len, "%s.%s: unknown key (known keys: name, arguments, id)", path,
                   m->string);
    }
  }
  return 0;
}

static int check_reply(const cJSON *r, const char *path, char *err, size_t len) {
  if (!cJSON_IsObject(r))
    return failf(err, len, "%s: expected an object (content, tool_calls, finish_reason or error)",
                 path);
  char sub[192];
  const cJSON *m;
  int has_error = 0, has_other = 0;
  cJSON_ArrayForEach(m, r) {
    if (strcmp(m->string, "content") == 0) {
      has_other = 1;
      if (!cJSON_IsString(m) && !cJSON_IsNull(m))
        return failf(err, len, "%s.content: expected a string or null", path);
    } else if (strcmp(m->string, "tool_calls") == 0) {
      has_other = 1;
      if (!cJSON_IsArray(m))
        return failf(err, len, "%s.tool_calls: expected an array", path);
      int i = 0;
      const cJSON *tc;
      cJSON_ArrayForEach(tc, m) {
        snprintf(sub, sizeof sub, "%s.tool_calls[%d]", path, i++);
        if (check_tool_call(tc, sub, err, len) < 0)
          return AGENTAI_EINVAL;
      }
    } else if (strcmp(m->string, "finish_reason") == 0) {
      has_other = 1;
      if (!cJSON_IsString(m) ||
          (strcmp(m->valuestring, "stop") != 0 && strcmp(m->valuestring, "tool_calls") != 0 &&
           strcmp(m->valuestring, "length") != 0 && strcmp(m->valuestring, "content_filter") != 0))
        return failf(err, len,
                     "%s.finish_reason: expected \"stop\", \"tool_calls\", \"length\" or "
                     "\"content_filter\"",
                     path);
    } else if (strcmp(m->string, "error") == 0) {
      has_error = 1;
      snprintf(sub, sizeof sub, "%s.error", path);
      if (check_error(m, sub, err, len) < 0)
        return AGENTAI_EINVAL;
    } else {
      return failf(err, len,
                   "%s.%s: unknown key (known keys: content, tool_calls, finish_reason, error)",
                   path, m->string);
    }
  }
  if (has_error && has_other)
    return failf(err, len, "%s.error: cannot be combined with content, tool_calls or finish_reason",
                 path);
  return 0;
}

int mock_opts_apply(mock_opts *o, const cJSON *obj, const char *prefix, int is_config, char *err,
                    size_t err_len) {
  char path[160];
  const cJSON *m;
  cJSON_ArrayForEach(m, obj) {
    const char *k = m->string;
    if (strcmp(k, "mode") == 0) {
      static const char *const MODES[] = {"echo", "fixed", "script", "error"};
      int found = -1;
      for (int i = 0; i < 4 && cJSON_IsString(m); i++)
        if (strcmp(m->valuestring, MODES[i]) == 0)
          found = i;
      if (found < 0)
        return failf(err, err_len,
                     "%smode: expected one of \"echo\", \"fixed\", \"script\", \"error\"", prefix);
      o->mode = found;
    } else if (strcmp(k, "text") == 0) {
      if (!cJSON_IsString(m))
        return failf(err, err_len, "%stext: expected a string", prefix);
      o->text = m;
    } else if (strcmp(k, "script") == 0) {
      if (!cJSON_IsArray(m))
        return failf(err, err_len, "%sscript: expected an array of replies", prefix);
      int i = 0;
      const cJSON *r;
      cJSON_ArrayForEach(r, m) {
        snprintf(path, sizeof path, "%sscript[%d]", prefix, i++);
        if (check_reply(r, path, err, err_len) < 0)
          return AGENTAI_EINVAL;
      }
      o->script = m;
    } else if (strcmp(k, "error") == 0) {
      snprintf(path, sizeof path, "%serror", prefix);
      if (check_error(m, path, err, err_len) < 0)
        return AGENTAI_EINVAL;
      o->error = m;
    } else if (strcmp(k, "latency_ms") == 0) {
      if (mock_parse_ms(m, &o->latency_ms) < 0)
        return failf(err, err_len, "%slatency_ms: expected an integer from 0 to 86400000 (ms)",
                     prefix);
    } else if (strcmp(k, "stream_delay_ms") == 0) {
      if (mock_parse_ms(m, &o->stream_delay_ms) < 0)
        return failf(err, err_len, "%sstream_delay_ms: expected an integer from 0 to 86400000 (ms)",
                     prefix);
    } else if (strcmp(k, "models") == 0) {
      if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
        return failf(err, err_len, "%smodels: expected a non-empty array of model names", prefix);
      int i = 0;
      const cJSON *name;
      cJSON_ArrayForEach(name, m) {
        if (!is_nonempty_string(name))
          return failf(err, err_len, "%smodels[%d]: expected a non-empty string", prefix, i);
        i++;
      }
      o->models = m;
    } else if (strcmp(k, "calls_file") == 0) {
      /* A request must not choose a file the daemon writes to. */
      if (!is_config)
        return failf(err, err_len, "%scalls_file: only allowed in the plugin configuration",
                     prefix);
      if (!is_nonempty_string(m))
        return failf(err, err_len, "%scalls_file: expected a non-empty path string", prefix);
      o->calls_file = m->valuestring;
    } else {
      return failf(err, err_len, "%s%s: unknown key (known keys: %s)", prefix, k, KNOWN_KEYS);
    }
  }
  return 0;
}

int mock_opts_check(const mock_opts *o, const char *prefix, char *err, size_t err_len) {
  if (o->mode == MOCK_FIXED && !o->text)
    return failf(err, err_len, "%stext: required when mode is \"fixed\"", prefix);
  if (o->mode == MOCK_SCRIPT && !o->script)
    return failf(err, err_len, "%sscript: required when mode is \"script\"", prefix);
  if (o->mode == MOCK_ERROR && !o->error)
    return failf(err, err_len, "%serror: required when mode is \"error\"", prefix);
  return 0;
}

/* ---- requests ---- */

static int check_max_tokens(const cJSON *req, const char *key, char *why, size_t len) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 1 ||
      floor(v->valuedouble) != v->valuedouble)
    return failf(why, len, "%s must be a positive integer", key);
  return 0;
}

int mock_request_check(const cJSON *req, char *why, size_t why_len) {
  if (!cJSON_IsObject(req))
    return failf(why, why_len, "request is not a JSON object");
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
  if (!cJSON_IsArray(msgs))
    return failf(why, why_len, "messages must be an array");
  if (cJSON_GetArraySize(msgs) == 0)
    return failf(why, why_len, "messages must not be empty");
  int i = 0;
  const cJSON *msg;
  cJSON_ArrayForEach(msg, msgs) {
    if (!cJSON_IsObject(msg))
      return failf(why, why_len, "messages[%d] must be an object", i);
    if (!is_nonempty_string(cJSON_GetObjectItemCaseSensitive(msg, "role")))
      return failf(why, why_len, "messages[%d].role must be a non-empty string", i);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (content && !cJSON_IsString(content) && !cJSON_IsNull(content) && !cJSON_IsArray(content))
      return failf(why, why_len, "messages[%d].content must be a string, an array of parts or null",
                   i);
    i++;
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "model");
  if (v && !is_nonempty_string(v))
    return failf(why, why_len, "model must be a non-empty string");
  v = cJSON_GetObjectItemCaseSensitive(req, "stream");
  if (v && !cJSON_IsBool(v))
    return failf(why, why_len, "stream must be true or false");
  v = cJSON_GetObjectItemCaseSensitive(req, "tools");
  if (v && !cJSON_IsArray(v))
    return failf(why, why_len, "tools must be an array");
  if (check_max_tokens(req, "max_tokens", why, why_len) < 0 ||
      check_max_tokens(req, "max_completion_tokens", why, why_len) < 0)
    return AGENTAI_EINVAL;
  return 0;
}

/* Appends the text of a message content (a string, or the "text" members of
 * an array of parts) to buf; with buf NULL only counts bytes. */
static size_t content_text(const cJSON *content, char *buf) {
  size_t n = 0;
  if (cJSON_IsString(content)) {
    n = strlen(content->valuestring);
    if (buf)
      memcpy(buf, content->valuestring, n);
    return n;
  }
  if (!cJSON_IsArray(content))
    return 0;
  const cJSON *part;
  cJSON_ArrayForEach(part, content) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (cJSON_IsString(text)) {
      size_t l = strlen(text->valuestring);
      if (buf)
        memcpy(buf + n, text->valuestring, l);
      n += l;
    }
  }
  return n;
}

char *mock_last_user_text(const cJSON *messages) {
  const cJSON *last = NULL, *msg;
  cJSON_ArrayForEach(msg, messages) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
    if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
      last = msg;
  }
  if (!last)
    return NULL;
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
  size_t n = content_text(content, NULL);
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  content_text(content, out);
  out[n] = '\0';
  return out;
}
