/* api/auth.c — Bearer API keys on /v1: who is calling, and whether their role allows the route. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"

#define CHALLENGE "Bearer realm=\"agentai\""
#define CHALLENGE_INVALID "Bearer realm=\"agentai\", error=\"invalid_token\""

static int is_gateway(const char *rest) {
  return !strcmp(rest, "/chat/completions") || !strcmp(rest, "/embeddings") ||
         !strcmp(rest, "/models") || !strncmp(rest, "/models/", 8);
}

static int is_keys(const char *rest) {
  return !strncmp(rest, "/keys", 5) && (rest[5] == '\0' || rest[5] == '/');
}

static const char *verdict_message(auth_verdict v) {
  switch (v) {
    case AUTH_MALFORMED:
      return "the API key is malformed (expected ak_<id>_<secret> as printed when it was created)";
    case AUTH_REVOKED:
      return "the API key has been revoked";
    case AUTH_EXPIRED:
      return "the API key has expired";
    default:
      return "the API key is not valid";
  }
}

/* The token after "Bearer " (scheme case-insensitive, spaces trimmed); NULL
 * with *why set when the header is not of that shape. */
static const char *bearer_token(const char *header, size_t *len, const char **why) {
  const char *p = header;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t' && p[6] != '\0')) {
    *why = "the Authorization header must use the Bearer scheme: Authorization: Bearer <key>";
    return NULL;
  }
  p += 6;
  while (*p == ' ' || *p == '\t')
    p++;
  size_t n = strlen(p);
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  if (n == 0) {
    *why = "the Authorization header has no key after Bearer";
    return NULL;
  }
  if (memchr(p, ' ', n) || memchr(p, '\t', n) || memchr(p, ',', n)) {
    *why = "the Authorization header must hold exactly one key: Authorization: Bearer <key>";
    return NULL;
  }
  *len = n;
  return p;
}

/* Fills a->auth from a presented token. Returns 0, or the HTTP status to
 * refuse with (type/message set). Shared by HTTP and the WebSocket upgrade. */
static int authenticate(api *a, const char *header, const char *query_token, const char **type,
                        const char **message) {
  memset(&a->auth, 0, sizeof a->auth);
  a->auth.role = AUTH_ROLE_ADMIN;
  if (!a->d.keys)
    return 0;
  int any = auth_keys_any(a->d.keys);
  if (any < 0) {
    *type = "service_unavailable";
    *message = "API keys could not be read from storage; try again";
    return 503;
  }
  if (any == 0)
    return 0;
  a->auth.required = 1;
  a->auth.role = AUTH_ROLE_NONE;
  const char *token = NULL;
  size_t len = 0;
  if (header) {
    token = bearer_token(header, &len, message);
    if (!token) {
      *type = "invalid_api_key";
      return 401;
    }
  } else if (query_token && query_token[0]) {
    token = query_token;
    len = strlen(query_token);
  } else {
    *type = "authentication_required";
    *message = "this server requires an API key: send Authorization: Bearer <key>";
    return 401;
  }
  auth_key_info info;
  auth_verdict v = auth_keys_verify(a->d.keys, token, len, auth_now_ms(), &info);
  if (v == AUTH_UNAVAILABLE) {
    *type = "service_unavailable";
    *message = "the API key could not be checked against storage; try again";
    return 503;
  }
  if (v != AUTH_OK) {
    *type = "invalid_api_key";
    *message = verdict_message(v);
    return 401;
  }
  a->auth.role = info.role;
  memcpy(a->auth.key_id, info.id, sizeof a->auth.key_id);
  memcpy(a->auth.tenant, info.tenant, sizeof a->auth.tenant);
  return 0;
}

int api_auth_check(api *a, http_request *req, const char *rest) {
  const char *type = NULL, *message = NULL;
  int status = authenticate(a, http_request_header(req, "authorization"), NULL, &type, &message);
  if (status) {
    if (status == 401)
      http_response_add_header(req, "WWW-Authenticate",
                               strcmp(type, "authentication_required") ? CHALLENGE_INVALID
                                                                       : CHALLENGE);
    else
      http_response_add_header(req, "Retry-After", "1");
    api_error(req, status, type, status == 401 ? "Authorization" : NULL, "%s", message);
    return 1;
  }
  if (!a->auth.required || a->auth.role == AUTH_ROLE_ADMIN || is_gateway(rest))
    return 0;
  const char *role = auth_role_name(a->auth.role);
  if (is_keys(rest)) {
    api_error(req, 403, "forbidden", NULL,
              "managing API keys needs the admin role; this key has the %s role", role);
    return 1;
  }
  const char *method = http_request_method(req);
  if (a->auth.role == AUTH_ROLE_READER && strcmp(method, "GET") != 0 &&
      strcmp(method, "HEAD") != 0) {
    api_error(req, 403, "forbidden", NULL,
              "the %s role is read-only: it cannot %s /v1%s (operator or admin can)", role, method,
              rest);
    return 1;
  }
  return 0;
}

int api_auth_ws(api *a, http_ws *ws) {
  const char *type = NULL, *message = NULL;
  int status = authenticate(a, http_ws_header(ws, "authorization"),
                            http_ws_query_param(ws, "access_token"), &type, &message);
  if (status)
    http_ws_refuse_with(ws, type, message);
  return status;
}
