/* api/api.c — /v1 dispatch and the helpers every handler uses: JSON bodies, errors, listings. */
#include "api/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/utf8.h"

api *api_new(const api_deps *deps) {
  api *a = calloc(1, sizeof *a);
  if (a)
    a->d = *deps;
  return a;
}

void api_free(api *a) {
  free(a);
}

void api_respond_text(http_request *req, int status, const char *json) {
  if (!json)
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
  else
    http_respond_json(req, status, json);
}

void api_respond(http_request *req, int status, cJSON *body) {
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  cJSON_Delete(body);
  api_respond_text(req, status, text);
  free(text);
}

void api_error(http_request *req, int status, const char *type, const char *param, const char *fmt,
               ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  http_respond_error(req, status, type, msg, param);
}

void api_error_code(http_request *req, int err, const char *message, const char *what_id) {
  switch (err) {
    case AGENTAI_ENOENT:
      api_error(req, 404, "not_found", NULL, "%s", message ? message : "not found");
      return;
    case AGENTAI_EBUSY:
      api_error(req, 409, "conflict", NULL, "%s", message ? message : "conflict");
      return;
    case AGENTAI_EEXIST:
      api_error(req, 409, "idempotency_conflict", "Idempotency-Key", "%s",
                message ? message : "conflict");
      return;
    case AGENTAI_ENOSPC:
      api_error(req, 507, "storage_full", NULL, "%s", message ? message : "storage is full");
      return;
    default:
      api_error(req, 500, "internal_error", NULL, "%s%s%s: %s", message ? message : "failed",
                what_id ? " " : "", what_id ? what_id : "", agentai_strerror(err));
  }
}

void api_method_not_allowed(http_request *req, const char *allow) {
  http_response_add_header(req, "Allow", allow);
  api_error(req, 405, "method_not_allowed", NULL, "%s is not allowed here; allowed: %s",
            http_request_method(req), allow);
}

static int json_depth(const cJSON *item) {
  int deepest = 0;
  for (const cJSON *c = item->child; c; c = c->next) {
    int d = json_depth(c);
    if (d > deepest)
      deepest = d;
    if (deepest > API_MAX_DEPTH)
      break;
  }
  return deepest + 1;
}

/* Counts nesting of the raw text first, so a hostile body cannot make the
 * parser recurse deeply (cJSON's own limit is 1000). */
static size_t too_deep_at(const char *s, size_t len) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
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

cJSON *api_body_object(http_request *req) {
  const char *ct = http_request_header(req, "content-type");
  size_t len = 0;
  const char *body = http_request_body(req, &len);
  if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
      (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
    api_error(req, 415, "unsupported_media_type", NULL,
              "the body must be JSON sent with Content-Type: application/json (got %s)",
              ct ? ct : "no Content-Type");
    return NULL;
  }
  if (len == 0) {
    api_error(req, 400, "invalid_json", NULL, "the body is empty; expected a JSON object");
    return NULL;
  }
  size_t bad = utf8_invalid_at(body, len);
  if (bad < len) {
    api_error(req, 400, "invalid_json", NULL, "the body is not valid UTF-8 at byte offset %zu",
              bad);
    return NULL;
  }
  size_t deep = too_deep_at(body, len);
  if (deep < len) {
    api_error(req, 400, "invalid_json", NULL,
              "the body nests deeper than %d levels at byte offset %zu", API_MAX_DEPTH, deep);
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!root) {
    size_t off = end && end >= body ? (size_t)(end - body) : 0;
    api_error(req, 400, "invalid_json", NULL, "malformed JSON at byte offset %zu", off);
    return NULL;
  }
  /* trailing bytes after the value (besides whitespace) */
  size_t used = (size_t)(end - body);
  while (used < len && strchr(" \t\r\n", body[used]))
    used++;
  if (used < len) {
    cJSON_Delete(root);
    api_error(req, 400, "invalid_json", NULL,
              "unexpected data after the JSON value at byte offset %zu", used);
    return NULL;
  }
  if (!cJSON_IsObject(root) || json_depth(root) > API_MAX_DEPTH) {
    cJSON_Delete(root);
    api_error(req, 400, "invalid_request", NULL, "the body must be a JSON object");
    return NULL;
  }
  return root;
}

uint64_t api_body_hash(http_request *req) {
  size_t len = 0;
  const unsigned char *p = (const unsigned char *)http_request_body(req, &len);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

listing_query *api_listing(http_request *req, const listing_field *fields, size_t n,
                           const char *default_order) {
  listing_query *q = NULL;
  listing_error err;
  int rc = listing_parse(http_request_query(req), fields, n, default_order, &q, &err);
  if (rc == AGENTAI_ENOMEM) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return NULL;
  }
  if (rc < 0) {
    http_respond_error(req, 400, "invalid_request", err.message, err.param[0] ? err.param : NULL);
    return NULL;
  }
  return q;
}

int api_handle(api *a, http_request *req) {
  const char *path = http_request_path(req);
  if (strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/v1") != 0)
    return 0;
  const char *rest = path + 3;
  if (strncmp(rest, "/agents", 7) == 0 && (rest[7] == '\0' || rest[7] == '/'))
    api_agents(a, req, rest + 7);
  else if (strncmp(rest, "/tasks", 6) == 0 && (rest[6] == '\0' || rest[6] == '/'))
    api_tasks(a, req, rest + 6);
  else
    api_error(req, 404, "not_found", NULL, "no route for %s %s", http_request_method(req), path);
  return 1;
}
