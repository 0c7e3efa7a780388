/* api/agents.c — /v1/agents: create, read, change, delete and list agents, with every field
 * checked and named when wrong. */
#include "api/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/ids.h"
#include "core/utf8.h"

static const char *const AGENT_FIELDS =
    "name, description, workflow, provider, model, system_prompt, params, tools, retry, "
    "timeout_ms, metadata";

/* Checks one field of an agent body; answers 400 naming it and returns -1 when wrong. */
static int check_string(http_request *req, const cJSON *v, const char *name, size_t max,
                        int allow_empty) {
  if (!cJSON_IsString(v)) {
    api_error(req, 400, "invalid_request", name, "'%s' must be a string", name);
    return -1;
  }
  size_t len = strlen(v->valuestring);
  if ((!allow_empty && len == 0) || len > max) {
    api_error(req, 400, "invalid_request", name, "'%s' must be %s%zu bytes", name,
              allow_empty ? "at most " : "1 to ", max);
    return -1;
  }
  if (!utf8_valid(v->valuestring, len)) {
    api_error(req, 400, "invalid_request", name, "'%s' is not valid UTF-8", name);
    return -1;
  }
  return 0;
}

static int is_int_in(const cJSON *v, double lo, double hi) {
  return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
         v->valuedouble <= hi;
}

static int name_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

static int check_retry(http_request *req, const cJSON *v) {
  if (!cJSON_IsObject(v)) {
    api_error(req, 400, "invalid_request", "retry",
              "'retry' must be an object {max_attempts, initial_backoff_ms, max_backoff_ms, "
              "multiplier}");
    return -1;
  }
  for (const cJSON *it = v->child; it; it = it->next) {
    const char *n = it->string;
    int ok;
    if (!strcmp(n, "max_attempts"))
      ok = is_int_in(it, 1, 100);
    else if (!strcmp(n, "initial_backoff_ms"))
      ok = is_int_in(it, 0, 3600000);
    else if (!strcmp(n, "max_backoff_ms"))
      ok = is_int_in(it, 0, 86400000);
    else if (!strcmp(n, "multiplier"))
      ok = cJSON_IsNumber(it) && it->valuedouble >= 1 && it->valuedouble <= 10;
    else {
      api_error(req, 400, "invalid_request", "retry",
                "unknown field 'retry.%.64s' (known: max_attempts, initial_backoff_ms, "
                "max_backoff_ms, multiplier)",
                n);
      return -1;
    }
    if (!ok) {
      static const char *const RANGES[][2] = {
          {"max_attempts", "an integer from 1 to 100"},
          {"initial_backoff_ms", "an integer from 0 to 3600000"},
          {"max_backoff_ms", "an integer from 0 to 86400000"},
          {"multiplier", "a number from 1 to 10"}};
      const char *want = "";
      for (size_t i = 0; i < 4; i++)
        if (!strcmp(RANGES[i][0], n))
          want = RANGES[i][1];
      char param[48];
      snprintf(param, sizeof param, "retry.%s", n);
      api_error(req, 400, "invalid_request", param, "'%s' must be %s", param, want);
      return -1;
    }
  }
  return 0;
}

/* Validates every member of body (an agent or a change to one). */
static int check_agent_fields(api *a, http_request *req, const cJSON *body) {
  for (const cJSON *it = body->child; it; it = it->next) {
    const char *n = it->string;
    if (!strcmp(n, "name")) {
      if (check_string(req, it, n, 128, 1))
        return -1;
    } else if (!strcmp(n, "description")) {
      if (check_string(req, it, n, 4096, 1))
        return -1;
    } else if (!strcmp(n, "system_prompt")) {
      if (check_string(req, it, n, 65536, 1))
        return -1;
    } else if (!strcmp(n, "model")) {
      if (check_string(req, it, n, 256, 1))
        return -1;
    } else if (!strcmp(n, "workflow")) {
      if (check_string(req, it, n, 64, 0))
        return -1;
      char path[1100];
      int rc = engine_find_workflow(a->d.cfg, it->valuestring, path, sizeof path);
      if (rc == AGENTAI_EINVAL) {
        api_error(req, 400, "invalid_request", n,
                  "'workflow' must be a workflow name of letters, digits, '_' and '-' (no "
                  "paths): got '%.64s'",
                  it->valuestring);
        return -1;
      }
      if (rc < 0) {
        api_error(req, 400, "invalid_request", n,
                  "unknown workflow '%s': no %s.lua in the workflow folders (lua.workflow_path)",
                  it->valuestring, it->valuestring);
        return -1;
      }
    } else if (!strcmp(n, "provider")) {
      if (check_string(req, it, n, 64, 0))
        return -1;
      if (!plugin_find_provider(a->d.plugins, it->valuestring)) {
        char known[512] = "";
        const char *p;
        for (size_t i = 0; (p = plugin_provider_name(a->d.plugins, i)); i++)
          snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", p);
        api_error(req, 400, "invalid_request", n, "unknown provider '%.64s' (loaded: %s)",
                  it->valuestring, known[0] ? known : "none");
        return -1;
      }
    } else if (!strcmp(n, "params")) {
      if (!cJSON_IsObject(it)) {
        api_error(req, 400, "invalid_request", n, "'params' must be an object");
        return -1;
      }
    } else if (!strcmp(n, "metadata")) {
      if (!cJSON_IsObject(it) || cJSON_GetArraySize(it) > 64) {
        api_error(req, 400, "invalid_request", n,
                  "'metadata' must be an object of at most 64 string values");
        return -1;
      }
      for (const cJSON *m = it->child; m; m = m->next)
        if (!cJSON_IsString(m) || strlen(m->valuestring) > 1024 || strlen(m->string) > 64) {
          api_error(req, 400, "invalid_request", n,
                    "'metadata.%.64s' must be a string of at most 1024 bytes", m->string);
          return -1;
        }
    } else if (!strcmp(n, "tools")) {
      if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > 128) {
        api_error(req, 400, "invalid_request", n,
                  "'tools' must be an array of at most 128 tool names");
        return -1;
      }
      for (const cJSON *t = it->child; t; t = t->next)
        if (!cJSON_IsString(t) || !name_ok(t->valuestring, 64)) {
          api_error(req, 400, "invalid_request", n,
                    "'tools' entries must be names of 1 to 64 letters, digits, '_', '-' or '.'");
          return -1;
        }
    } else if (!strcmp(n, "retry")) {
      if (check_retry(req, it))
        return -1;
    } else if (!strcmp(n, "timeout_ms")) {
      if (!is_int_in(it, 1, 86400000)) {
        api_error(req, 400, "invalid_request", n,
                  "'timeout_ms' must be an integer from 1 to 86400000");
        return -1;
      }
    } else {
      api_error(req, 400, "invalid_request", n, "unknown field '%.64s' (known: %s)", n,
                AGENT_FIELDS);
      return -1;
    }
  }
  return 0;
}

/* Fills defaults so every stored agent has every field. */
static void agent_defaults(cJSON *rec) {
  if (!cJSON_HasObjectItem(rec, "name"))
    cJSON_AddStringToObject(rec, "name", "");
  if (!cJSON_HasObjectItem(rec, "description"))
    cJSON_AddStringToObject(rec, "description", "");
  if (!cJSON_HasObjectItem(rec, "provider"))
    cJSON_AddStringToObject(rec, "provider", "mock");
  if (!cJSON_HasObjectItem(rec, "model"))
    cJSON_AddStringToObject(rec, "model", "");
  if (!cJSON_HasObjectItem(rec, "system_prompt"))
    cJSON_AddStringToObject(rec, "system_prompt", "");
  if (!cJSON_HasObjectItem(rec, "params"))
    cJSON_AddObjectToObject(rec, "params");
  if (!cJSON_HasObjectItem(rec, "tools"))
    cJSON_AddArrayToObject(rec, "tools");
  if (!cJSON_HasObjectItem(rec, "metadata"))
    cJSON_AddObjectToObject(rec, "metadata");
  if (!cJSON_HasObjectItem(rec, "timeout_ms"))
    cJSON_AddNumberToObject(rec, "timeout_ms", 600000);
  cJSON *r = cJSON_GetObjectItemCaseSensitive(rec, "retry");
  if (!r)
    r = cJSON_AddObjectToObject(rec, "retry");
  static const struct {
    const char *name;
    double v;
  } RETRY[] = {{"max_attempts", 3},
               {"initial_backoff_ms", 1000},
               {"max_backoff_ms", 60000},
               {"multiplier", 2}};
  for (size_t i = 0; i < 4; i++)
    if (!cJSON_HasObjectItem(r, RETRY[i].name))
      cJSON_AddNumberToObject(r, RETRY[i].name, RETRY[i].v);
}

static void answered(void *ud, int err, const char *json, const char *message) {
  http_request *req = ud;
  if (err < 0)
    api_error_code(req, err, message, NULL);
  else
    api_respond_text(req, 200, json);
}

static void created(void *ud, int err, const char *json, const char *message) {
  http_request *req = ud;
  if (err < 0)
    api_error_code(req, err, message, NULL);
  else
    api_respond_text(req, 201, json);
}

static void deleted(void *ud, int err, const char *json, const char *message) {
  (void)json;
  http_request *req = ud;
  if (err == AGENTAI_ENOENT)
    api_error(req, 404, "not_found", NULL, "no agent with this id");
  else if (err < 0)
    api_error_code(req, err, message, NULL);
  else
    http_respond_json(req, 200, "{\"deleted\":true,\"object\":\"agent\"}");
}

static void create_agent(api *a, http_request *req) {
  cJSON *body = api_body_object(req);
  if (!body)
    return;
  if (check_agent_fields(a, req, body) < 0) {
    cJSON_Delete(body);
    return;
  }
  if (!cJSON_HasObjectItem(body, "workflow")) {
    cJSON_Delete(body);
    api_error(req, 400, "invalid_request", "workflow", "'workflow' is required");
    return;
  }
  char id[IDS_MAX], now[32];
  ids_new("agt", id);
  engine_now_iso(now);
  cJSON *rec = cJSON_CreateObject();
  cJSON_AddStringToObject(rec, "id", id);
  cJSON_AddStringToObject(rec, "object", "agent");
  for (cJSON *it = body->child; it; it = it->next)
    cJSON_AddItemToObject(rec, it->string, cJSON_Duplicate(it, 1));
  agent_defaults(rec);
  cJSON_AddStringToObject(rec, "created_at", now);
  cJSON_AddStringToObject(rec, "updated_at", now);
  cJSON_Delete(body);
  int rc = engine_agent_put(a->d.engine, id, rec, created, req);
  cJSON_Delete(rec);
  if (rc < 0)
    api_error_code(req, rc, "the agent could not be stored", NULL);
}

static void update_agent(api *a, http_request *req, const char *id) {
  const char *current = engine_agent(a->d.engine, id);
  if (!current) {
    api_error(req, 404, "not_found", NULL, "no agent with id '%.64s'", id);
    return;
  }
  cJSON *body = api_body_object(req);
  if (!body)
    return;
  if (check_agent_fields(a, req, body) < 0) {
    cJSON_Delete(body);
    return;
  }
  cJSON *rec = cJSON_Parse(current);
  for (cJSON *it = body->child; it; it = it->next) {
    cJSON *copy = cJSON_Duplicate(it, 1);
    if (!strcmp(it->string, "retry")) { /* merge: unchanged members keep their values */
      cJSON *r = cJSON_GetObjectItemCaseSensitive(rec, "retry");
      for (cJSON *m = it->child; m && r; m = m->next)
        cJSON_ReplaceItemInObjectCaseSensitive(r, m->string, cJSON_Duplicate(m, 1));
      cJSON_Delete(copy);
      continue;
    }
    if (cJSON_HasObjectItem(rec, it->string))
      cJSON_ReplaceItemInObjectCaseSensitive(rec, it->string, copy);
    else
      cJSON_AddItemToObject(rec, it->string, copy);
  }
  cJSON_Delete(body);
  char now[32];
  engine_now_iso(now);
  cJSON_ReplaceItemInObjectCaseSensitive(rec, "updated_at", cJSON_CreateString(now));
  int rc = engine_agent_put(a->d.engine, id, rec, answered, req);
  cJSON_Delete(rec);
  if (rc < 0)
    api_error_code(req, rc, "the agent could not be stored", NULL);
}

static const listing_field AGENT_LISTING[] = {
    {"id", LISTING_STRING, NULL, 0},       {"name", LISTING_STRING, NULL, 0},
    {"workflow", LISTING_STRING, NULL, 0}, {"provider", LISTING_STRING, NULL, 0},
    {"model", LISTING_STRING, NULL, 0},    {"created_at", LISTING_TIME, NULL, LISTING_ORDERABLE},
    {"updated_at", LISTING_TIME, NULL, 0},
};

/* Turns a created_at range into an id range: ids start with their creation time. */
void api_id_bounds(const listing_query *q, const char *id_prefix, char *lo, char *hi,
                   api_list_source *src) {
  int64_t tlo, thi;
  if (listing_time_bounds(q, "created_at", &tlo, &thi) == 1) {
    if (tlo != INT64_MIN) {
      ids_floor(id_prefix, tlo, lo);
      src->lo = lo;
    }
    if (thi != INT64_MAX) {
      ids_floor(id_prefix, thi + 1, hi);
      src->hi = hi;
    }
  }
}

static void list_agents(api *a, http_request *req) {
  listing_query *q = api_listing(req, AGENT_LISTING, sizeof AGENT_LISTING / sizeof *AGENT_LISTING,
                                 "created_at.desc");
  if (!q)
    return;
  api_list_source src = {.prefixes = {ENGINE_NS_AGENT}, .nprefixes = 1};
  char lo[IDS_MAX], hi[IDS_MAX];
  api_id_bounds(q, "agt", lo, hi, &src);
  api_list(a, req, q, &src);
}

void api_agents(api *a, http_request *req, const char *rest) {
  const char *m = http_request_method(req);
  int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
  if (rest[0] == '\0' || !strcmp(rest, "/")) {
    http_request_set_route(req, "/v1/agents");
    if (get)
      list_agents(a, req);
    else if (!strcmp(m, "POST"))
      create_agent(a, req);
    else
      api_method_not_allowed(req, "GET, HEAD, POST");
    return;
  }
  char id[IDS_MAX + 8];
  const char *p = rest + 1;
  size_t n = strcspn(p, "/");
  if (n >= sizeof id) {
    api_error(req, 404, "not_found", NULL, "no agent with this id");
    return;
  }
  memcpy(id, p, n);
  id[n] = '\0';
  const char *sub = p + n;
  if (sub[0] == '\0') {
    http_request_set_route(req, "/v1/agents/{id}");
    if (get) {
      const char *json = engine_agent(a->d.engine, id);
      if (json)
        api_respond_text(req, 200, json);
      else
        api_error(req, 404, "not_found", NULL, "no agent with id '%s'", id);
    } else if (!strcmp(m, "PATCH")) {
      update_agent(a, req, id);
    } else if (!strcmp(m, "DELETE")) {
      int rc = engine_agent_delete(a->d.engine, id, deleted, req);
      if (rc < 0)
        api_error_code(req, rc, "the agent could not be deleted", NULL);
    } else {
      api_method_not_allowed(req, "GET, HEAD, PATCH, DELETE");
    }
    return;
  }
  if (!strcmp(sub, "/tasks")) {
    http_request_set_route(req, "/v1/agents/{id}/tasks");
    api_agent_tasks(a, req, id);
    return;
  }
  if (!strncmp(sub, "/conversations/", 15) && sub[15] && !strchr(sub + 15, '/')) {
    http_request_set_route(req, "/v1/agents/{id}/conversations/{cid}");
    api_conversation(a, req, id, sub + 15);
    return;
  }
  api_error(req, 404, "not_found", NULL, "no route for %s %s", m, http_request_path(req));
}
