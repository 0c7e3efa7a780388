/* api/tasks.c — /v1/tasks and /v1/agents/{id}/tasks: submit (durable 202), read, cancel,
 * retry, resume, list through the status and agent indexes, and each task's events. */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/ids.h"
#include "core/utf8.h"

static const char *const STATUSES[] = {ENGINE_TASK_STATUSES, NULL};

static const listing_field TASK_LISTING[] = {
    {"id", LISTING_STRING, NULL, 0},
    {"agent_id", LISTING_STRING, NULL, 0},
    {"status", LISTING_STRING, STATUSES, 0},
    {"attempt", LISTING_INT, NULL, 0},
    {"idempotency_key", LISTING_STRING, NULL, 0},
    {"created_at", LISTING_TIME, NULL, LISTING_ORDERABLE},
    {"started_at", LISTING_TIME, NULL, 0},
    {"ended_at", LISTING_TIME, NULL, 0},
    {"updated_at", LISTING_TIME, NULL, 0},
};

static const listing_field EVENT_LISTING[] = {
    {"seq", LISTING_INT, NULL, LISTING_ORDERABLE},
    {"type", LISTING_STRING, NULL, 0},
    {"created_at", LISTING_TIME, NULL, 0},
};

static void submitted(void *ud, int err, const char *json, const char *message) {
  http_request *req = ud;
  if (err == AGENTAI_ENOENT)
    api_error(req, 404, "not_found", NULL, "no agent with this id");
  else if (err < 0)
    api_error_code(req, err, message, NULL);
  else
    api_respond_text(req, 202, json);
}

static void submit(api *a, http_request *req, const char *agent_id) {
  const char *key = http_request_header(req, "idempotency-key");
  if (key && (strlen(key) == 0 || strlen(key) > 255 || !utf8_valid(key, strlen(key)))) {
    api_error(req, 400, "invalid_request", "Idempotency-Key",
              "the Idempotency-Key header must be 1 to 255 bytes of UTF-8");
    return;
  }
  if (!engine_agent(a->d.engine, agent_id)) {
    api_error(req, 404, "not_found", NULL, "no agent with id '%.64s'", agent_id);
    return;
  }
  cJSON *body = api_body_object(req);
  if (!body)
    return;
  for (const cJSON *it = body->child; it; it = it->next) {
    if (strcmp(it->string, "input") != 0) {
      api_error(req, 400, "invalid_request", it->string, "unknown field '%.64s' (known: input)",
                it->string);
      cJSON_Delete(body);
      return;
    }
  }
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(body, "input");
  int rc = engine_submit(a->d.engine, agent_id, input, key, api_body_hash(req), submitted, req);
  cJSON_Delete(body);
  if (rc < 0)
    api_error_code(req, rc, "the task could not be stored", NULL);
}

static void list_tasks(api *a, http_request *req, const char *agent_id) {
  listing_query *q =
      api_listing(req, TASK_LISTING, sizeof TASK_LISTING / sizeof *TASK_LISTING, "created_at.desc");
  if (!q)
    return;
  api_list_source src = {.record_prefix = ENGINE_NS_TASK};
  char prefixes[8][160];
  const char *const *values = NULL;
  size_t n = 0;
  const char *agent = agent_id;
  if (!agent && listing_eq_values(q, "agent_id", &values, &n) == 1 && n == 1)
    agent = values[0];
  /* The narrowest index: one status (or a few, merged), else the agent's. */
  if (listing_eq_values(q, "status", &values, &n) == 1 && n <= 5 && (!agent || n == 1)) {
    for (size_t i = 0; i < n; i++) {
      snprintf(prefixes[i], sizeof prefixes[i], ENGINE_NS_BY_STATUS "%s/", values[i]);
      src.prefixes[i] = prefixes[i];
    }
    src.nprefixes = n;
  } else if (agent) {
    snprintf(prefixes[0], sizeof prefixes[0], ENGINE_NS_BY_AGENT "%.60s/", agent);
    src.prefixes[0] = prefixes[0];
    src.nprefixes = 1;
  } else {
    src.prefixes[0] = ENGINE_NS_TASK;
    src.nprefixes = 1;
    src.record_prefix = NULL; /* the records themselves */
  }
  if (agent_id) { /* the path's agent holds whatever index is read */
    src.require_field = "agent_id";
    src.require_value = agent_id;
  }
  char lo[IDS_MAX], hi[IDS_MAX];
  api_id_bounds(q, "tsk", lo, hi, &src);
  api_list(a, req, q, &src);
}

void api_agent_tasks(api *a, http_request *req, const char *agent_id) {
  const char *m = http_request_method(req);
  if (!strcmp(m, "POST"))
    submit(a, req, agent_id);
  else if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
    if (!engine_agent(a->d.engine, agent_id)) {
      api_error(req, 404, "not_found", NULL, "no agent with id '%.64s'", agent_id);
      return;
    }
    list_tasks(a, req, agent_id);
  } else
    api_method_not_allowed(req, "GET, HEAD, POST");
}

static void task_read(void *ud, int err, const void *value, size_t len) {
  http_request *req = ud;
  if (err == AGENTAI_ENOENT)
    api_error(req, 404, "not_found", NULL, "no task with this id");
  else if (err < 0)
    api_error_code(req, err, "the task could not be read", NULL);
  else
    http_respond(req, 200, "application/json", value, len);
}

static void get_task(api *a, http_request *req, const char *id) {
  char *active = engine_active_task(a->d.engine, id);
  if (active) {
    api_respond_text(req, 200, active);
    free(active);
    return;
  }
  char key[80];
  int kl = snprintf(key, sizeof key, ENGINE_NS_TASK "%s", id);
  store *st = a->d.store;
  int rc = st->def->get(st->db, NULL, key, (size_t)kl, task_read, req);
  if (rc < 0)
    api_error_code(req, rc, "the task could not be read", NULL);
}

static void changed(void *ud, int err, const char *json, const char *message) {
  http_request *req = ud;
  if (err == AGENTAI_ENOENT)
    api_error(req, 404, "not_found", NULL, "no task with this id");
  else if (err < 0)
    api_error_code(req, err, message, NULL);
  else /* a running task's cancel is accepted now and completes at a yield point */
    api_respond_text(req, message && !strcmp(message, "cancel_requested") ? 202 : 200, json);
}

/* POST /v1/tasks/{id}/resume {"value": any JSON, "interrupt": "int_<n>"?} */
static void resume(api *a, http_request *req, const char *id) {
  cJSON *body = api_body_object(req);
  if (!body)
    return;
  for (const cJSON *it = body->child; it; it = it->next) {
    if (strcmp(it->string, "value") != 0 && strcmp(it->string, "interrupt") != 0) {
      api_error(req, 400, "invalid_request", it->string,
                "unknown field '%.64s' (known: value, interrupt)", it->string);
      cJSON_Delete(body);
      return;
    }
  }
  const cJSON *value = cJSON_GetObjectItemCaseSensitive(body, "value");
  const cJSON *intr = cJSON_GetObjectItemCaseSensitive(body, "interrupt");
  if (!value) {
    api_error(req, 400, "invalid_request", "value",
              "value is required: the answer ai.task.interrupt returns (any JSON, null too)");
  } else if (intr && !cJSON_IsString(intr)) {
    api_error(req, 400, "invalid_request", "interrupt",
              "interrupt must be the id of the pending interrupt (\"int_1\")");
  } else {
    int rc = engine_resume(a->d.engine, id, value, intr ? intr->valuestring : NULL, changed, req);
    if (rc < 0)
      api_error_code(req, rc, "the task could not be resumed", NULL);
  }
  cJSON_Delete(body);
}

static void list_events(api *a, http_request *req, const char *task_id) {
  listing_query *q =
      api_listing(req, EVENT_LISTING, sizeof EVENT_LISTING / sizeof *EVENT_LISTING, "seq.asc");
  if (!q)
    return;
  char prefix[80];
  snprintf(prefix, sizeof prefix, ENGINE_NS_EVENT "%s/", task_id);
  api_list_source src = {.prefixes = {prefix}, .nprefixes = 1};
  api_list(a, req, q, &src);
}

typedef struct events_req {
  api *a;
  http_request *req;
  char id[IDS_MAX];
} events_req;

static void events_task_read(void *ud, int err, const void *value, size_t len) {
  (void)value;
  (void)len;
  events_req *er = ud;
  http_request *req = er->req;
  if (err == AGENTAI_ENOENT) {
    api_error(req, 404, "not_found", NULL, "no task with id '%s'", er->id);
  } else if (err < 0) {
    api_error_code(req, err, "the task could not be read", NULL);
  } else {
    const char *accept = http_request_header(req, "accept");
    if (accept && strstr(accept, "text/event-stream"))
      api_sse(er->a, req, er->id);
    else
      list_events(er->a, req, er->id);
  }
  free(er);
}

/* The events of a task that exists (a 404 otherwise). */
static void task_events(api *a, http_request *req, const char *id) {
  events_req *er = calloc(1, sizeof *er);
  if (!er) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  er->a = a;
  er->req = req;
  snprintf(er->id, sizeof er->id, "%.39s", id);
  char key[80];
  int kl = snprintf(key, sizeof key, ENGINE_NS_TASK "%s", id);
  store *st = a->d.store;
  if (st->def->get(st->db, NULL, key, (size_t)kl, events_task_read, er) < 0)
    events_task_read(er, AGENTAI_EIO, NULL, 0);
}

void api_tasks(api *a, http_request *req, const char *rest) {
  const char *m = http_request_method(req);
  int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
  if (rest[0] == '\0' || !strcmp(rest, "/")) {
    http_request_set_route(req, "/v1/tasks");
    if (get)
      list_tasks(a, req, NULL);
    else
      api_method_not_allowed(req, "GET, HEAD");
    return;
  }
  char id[IDS_MAX + 8];
  const char *p = rest + 1;
  size_t n = strcspn(p, "/");
  if (n >= sizeof id || !ids_valid((memcpy(id, p, n), id[n] = '\0', id), "tsk")) {
    api_error(req, 404, "not_found", NULL, "no task with id '%.64s'", n < sizeof id ? id : "");
    return;
  }
  const char *sub = p + n;
  if (sub[0] == '\0') {
    http_request_set_route(req, "/v1/tasks/{id}");
    if (get)
      get_task(a, req, id);
    else
      api_method_not_allowed(req, "GET, HEAD");
  } else if (!strcmp(sub, "/cancel") || !strcmp(sub, "/retry")) {
    http_request_set_route(req, sub[1] == 'c' ? "/v1/tasks/{id}/cancel" : "/v1/tasks/{id}/retry");
    if (strcmp(m, "POST") != 0) {
      api_method_not_allowed(req, "POST");
      return;
    }
    int rc = sub[1] == 'c' ? engine_cancel(a->d.engine, id, changed, req)
                           : engine_retry(a->d.engine, id, changed, req);
    if (rc < 0)
      api_error_code(req, rc, "the task could not be changed", NULL);
  } else if (!strcmp(sub, "/resume")) {
    http_request_set_route(req, "/v1/tasks/{id}/resume");
    if (strcmp(m, "POST") != 0)
      api_method_not_allowed(req, "POST");
    else
      resume(a, req, id);
  } else if (!strcmp(sub, "/events")) {
    http_request_set_route(req, "/v1/tasks/{id}/events");
    if (!get) {
      api_method_not_allowed(req, "GET, HEAD");
      return;
    }
    task_events(a, req, id);
  } else {
    api_error(req, 404, "not_found", NULL, "no route for %s %s", m, http_request_path(req));
  }
}
