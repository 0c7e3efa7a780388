/* api/keys.c — /v1/keys: create (the secret is shown once), list, read and revoke API keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/errors.h"

typedef struct key_reply {
  http_request *req;
  int status;
  char secret[AUTH_SECRET_MAX]; /* "" when answering a revoke */
} key_reply;

static void on_key_written(void *ud, int err, const auth_key_info *info) {
  key_reply *r = ud;
  if (err < 0) {
    api_error_code(r->req, err, "the key could not be stored", info->id);
  } else {
    cJSON *o = cJSON_CreateObject();
    if (o) {
      auth_key_to_json(info, o);
      if (r->secret[0])
        cJSON_AddStringToObject(o, "secret", r->secret);
    }
    api_respond(r->req, r->status, o);
  }
  memset(r->secret, 0, sizeof r->secret);
  free(r);
}

static const char *opt_string(http_request *req, cJSON *body, const char *field, int *bad) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, field);
  if (!v || cJSON_IsNull(v))
    return NULL;
  if (!cJSON_IsString(v)) {
    api_error(req, 400, "invalid_request", field, "%s must be a string", field);
    *bad = 1;
    return NULL;
  }
  return v->valuestring;
}

static void create_key(api *a, http_request *req) {
  cJSON *body = api_body_object(req);
  if (!body)
    return;
  int bad = 0;
  const char *role = opt_string(req, body, "role", &bad);
  const char *tenant = bad ? NULL : opt_string(req, body, "tenant", &bad);
  const char *name = bad ? NULL : opt_string(req, body, "name", &bad);
  const char *expires_at = bad ? NULL : opt_string(req, body, "expires_at", &bad);
  const char *expires_in = bad ? NULL : opt_string(req, body, "expires_in", &bad);
  if (bad) {
    cJSON_Delete(body);
    return;
  }
  int64_t now = auth_now_ms(), expires = 0;
  const char *field = NULL, *msg = NULL;
  if (!role || auth_role_parse(role) == AUTH_ROLE_NONE)
    field = "role", msg = "role is required: admin, operator or reader";
  else if (!tenant)
    field = "tenant", msg = "tenant is required";
  else if (expires_at && expires_in)
    field = "expires_at", msg = "give expires_at or expires_in, not both";
  else if (expires_at && auth_parse_expiry(expires_at, now, &expires) < 0)
    field = "expires_at", msg = "expires_at must be an RFC 3339 date-time in the future";
  else if (expires_in && (strspn(expires_in, "0123456789") == strlen(expires_in) ||
                          auth_parse_expiry(expires_in, now, &expires) < 0))
    field = "expires_in", msg = "expires_in must be a duration such as 90s, 15m, 12h, 30d or 2w";
  if (field) {
    api_error(req, 400, "invalid_request", field, "%s", msg);
    cJSON_Delete(body);
    return;
  }
  key_reply *r = calloc(1, sizeof *r);
  if (!r) {
    cJSON_Delete(body);
    api_error(req, 500, "internal_error", NULL, "out of memory");
    return;
  }
  r->req = req;
  r->status = 201;
  char why[256] = "";
  int rc = auth_keys_create(a->d.keys, auth_role_parse(role), tenant, name, expires, r->secret,
                            on_key_written, r, why, sizeof why);
  cJSON_Delete(body);
  if (rc < 0) {
    free(r);
    if (rc == AGENTAI_EINVAL) {
      char param[16];
      snprintf(param, sizeof param, "%.*s", (int)strcspn(why, ":"), why);
      api_error(req, 400, "invalid_request", param, "%s", why);
    } else {
      api_error_code(req, rc, "the key could not be stored", NULL);
    }
  }
}

static int add_item(void *ud, const auth_key_info *info) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return 1;
  auth_key_to_json(info, o);
  cJSON_AddItemToArray(ud, o);
  return 0;
}

static void list_keys(api *a, http_request *req) {
  const char *tenant = http_request_query_param(req, "tenant");
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "object", "list");
  cJSON *data = cJSON_AddArrayToObject(body, "data");
  int rc = data ? auth_keys_list(a->d.keys, tenant && tenant[0] ? tenant : NULL, add_item, data)
                : AGENTAI_ENOMEM;
  if (rc < 0) {
    cJSON_Delete(body);
    api_error_code(req, rc, "the keys could not be listed", NULL);
    return;
  }
  cJSON_AddBoolToObject(body, "has_more", 0);
  api_respond(req, 200, body);
}

static void one_key(api *a, http_request *req, const char *id) {
  auth_key_info info;
  int rc = auth_keys_get(a->d.keys, id, &info);
  if (rc < 0) {
    api_error_code(req, rc, rc == AGENTAI_ENOENT ? "no such key" : "the key could not be read", id);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  if (o)
    auth_key_to_json(&info, o);
  api_respond(req, 200, o);
}

static void revoke_key(api *a, http_request *req, const char *id) {
  key_reply *r = calloc(1, sizeof *r);
  if (!r) {
    api_error(req, 500, "internal_error", NULL, "out of memory");
    return;
  }
  r->req = req;
  r->status = 200;
  int rc = auth_keys_revoke(a->d.keys, id, on_key_written, r);
  if (rc == 0)
    return;
  free(r);
  if (rc == AGENTAI_EEXIST) /* already revoked: revoking is idempotent */
    one_key(a, req, id);
  else
    api_error_code(req, rc, rc == AGENTAI_ENOENT ? "no such key" : "the key could not be revoked",
                   id);
}

void api_keys(api *a, http_request *req, const char *rest) {
  const char *method = http_request_method(req);
  int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  if (!a->d.keys) {
    api_error(req, 404, "not_found", NULL, "API keys are not enabled on this server");
    return;
  }
  if (rest[0] == '\0' || !strcmp(rest, "/")) {
    http_request_set_route(req, "/v1/keys");
    if (get)
      list_keys(a, req);
    else if (!strcmp(method, "POST"))
      create_key(a, req);
    else
      api_method_not_allowed(req, "GET, HEAD, POST");
    return;
  }
  const char *id = rest + 1;
  http_request_set_route(req, "/v1/keys/{id}");
  if (strchr(id, '/')) {
    api_error(req, 404, "not_found", NULL, "no route for %s /v1/keys%s", method, rest);
    return;
  }
  if (get)
    one_key(a, req, id);
  else if (!strcmp(method, "DELETE"))
    revoke_key(a, req, id);
  else
    api_method_not_allowed(req, "GET, HEAD, DELETE");
}
