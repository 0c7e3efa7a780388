/* api/api.c — /v1 dispatch and the helpers every handler uses: JSON bodies, errors, listings. */
#include "api/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"

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
  cJSON *root = NULL;
  char type[32], message[256];
  if (api_parse_object(body, len, "body", &root, type, message) < 0) {
    http_respond_error(req, 400, type, message, NULL);
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
  if (api_auth_check(a, req, rest))
    return 1;
  if (strncmp(rest, "/agents", 7) == 0 && (rest[7] == '\0' || rest[7] == '/'))
    api_agents(a, req, rest + 7);
  else if (strncmp(rest, "/tasks", 6) == 0 && (rest[6] == '\0' || rest[6] == '/'))
    api_tasks(a, req, rest + 6);
  else if (strncmp(rest, "/keys", 5) == 0 && (rest[5] == '\0' || rest[5] == '/'))
    api_keys(a, req, rest + 5);
  else if (api_gateway(a, req, rest))
    ;
  else
    api_error(req, 404, "not_found", NULL, "no route for %s %s", http_request_method(req), path);
  return 1;
}
