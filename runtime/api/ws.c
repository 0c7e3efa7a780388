/* api/ws.c — GET /v1/ws: JSON commands (subscribe to a task, an agent or everything; unsubscribe;
 * ping) and events pushed with their sequence numbers, resumable without gaps. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/follow.h"
#include "api/internal.h"
#include "core/errors.h"
#include "core/ids.h"

#define MAX_SUBS 64

typedef struct ws_sub {
  char name[16]; /* "s1", "s2"... as the client sees it; "" = free slot */
  follower *follow;
  struct ws_client *client;
} ws_sub;

typedef struct ws_client {
  api *a;
  http_ws *ws;
  ws_sub subs[MAX_SUBS];
  uint32_t next_sub;
  int failed;  /* a send failed: the connection is closing */
  int closed;  /* the connection ended while a lookup was in flight */
  int lookups; /* task lookups in flight; the client is freed after the last */
} ws_client;

/* Sends a JSON object built by the caller (consumed), with ref echoed. */
static void send_obj(ws_client *c, cJSON *obj, const cJSON *ref) {
  if (ref)
    cJSON_AddItemToObject(obj, "ref", cJSON_Duplicate(ref, 1));
  char *text = cJSON_PrintUnformatted(obj);
  cJSON_Delete(obj);
  if (!text || c->failed || http_ws_send(c->ws, text, strlen(text)) < 0)
    c->failed = 1;
  free(text);
}

static void send_error(ws_client *c, const char *type, const char *message, const cJSON *ref) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "error");
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "message", message);
  send_obj(c, o, ref);
}

/* Events go out as {"type":"event","subscription":"s1","event":{...}}; the
 * event's own JSON is spliced in, not re-encoded. */
static int send_event(void *ud, const event_msg *ev) {
  ws_sub *s = ud;
  ws_client *c = s->client;
  if (c->failed)
    return -1;
  char head[96];
  int n = snprintf(head, sizeof head,
                   "{\"type\":\"event\",\"subscription\":\"%s\",\"event\":", s->name);
  size_t len = (size_t)n + ev->len + 1;
  char *msg = malloc(len);
  if (!msg) {
    c->failed = 1;
    return -1;
  }
  memcpy(msg, head, (size_t)n);
  memcpy(msg + n, ev->json, ev->len);
  msg[len - 1] = '}';
  int rc = http_ws_send(c->ws, msg, len);
  free(msg);
  if (rc < 0) { /* over the buffer cap: the server closes with 1008 and says why */
    c->failed = 1;
    return -1;
  }
  return 0;
}

static ws_sub *find_sub(ws_client *c, const char *name) {
  for (size_t i = 0; i < MAX_SUBS; i++)
    if (c->subs[i].name[0] && strcmp(c->subs[i].name, name) == 0)
      return &c->subs[i];
  return NULL;
}

static void drop_sub(ws_sub *s) {
  follower_stop(s->follow);
  s->follow = NULL;
  s->name[0] = '\0';
}

static int read_since(const cJSON *cmd, uint64_t *since) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cmd, "since");
  *since = 0;
  if (!v)
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
      v->valuedouble != (double)(uint64_t)v->valuedouble)
    return -1;
  *since = (uint64_t)v->valuedouble;
  return 0;
}

/* Opens the subscription and starts following. */
static void start_sub(ws_client *c, int scope, const char *id, uint64_t since, const cJSON *ref) {
  ws_sub *s = NULL;
  for (size_t i = 0; i < MAX_SUBS && !s; i++)
    if (!c->subs[i].name[0])
      s = &c->subs[i];
  if (!s) {
    send_error(c, "too_many_subscriptions", "at most 64 subscriptions per connection", ref);
    return;
  }
  snprintf(s->name, sizeof s->name, "s%" PRIu32, ++c->next_sub);
  s->client = c;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "subscribed");
  cJSON_AddStringToObject(o, "subscription", s->name);
  cJSON_AddStringToObject(o, "scope",
                          scope == EVENT_SCOPE_TASK    ? "task"
                          : scope == EVENT_SCOPE_AGENT ? "agent"
                                                       : "all");
  if (id)
    cJSON_AddStringToObject(o, "id", id);
  cJSON_AddNumberToObject(o, "since", (double)since);
  send_obj(c, o, ref);
  s->follow = follower_start(c->a, scope, id, since, send_event, s);
  if (!s->follow) {
    s->name[0] = '\0';
    send_error(c, "internal_error", "out of memory", ref);
  }
}

/* A task subscription waits for the task's record: unknown ids are refused
 * like GET /v1/tasks/{id}/events refuses them. */
typedef struct task_lookup {
  ws_client *c;
  char id[IDS_MAX];
  uint64_t since;
  cJSON *ref;
} task_lookup;

static void task_looked_up(void *ud, int err, const void *value, size_t len) {
  (void)value;
  (void)len;
  task_lookup *l = ud;
  ws_client *c = l->c;
  c->lookups--;
  if (c->closed) {
    if (c->lookups == 0)
      free(c);
  } else if (err == AGENTAI_ENOENT) {
    send_error(c, "not_found", "no task with this id", l->ref);
  } else if (err < 0) {
    send_error(c, "internal_error", "the task could not be read", l->ref);
  } else {
    start_sub(c, EVENT_SCOPE_TASK, l->id, l->since, l->ref);
  }
  cJSON_Delete(l->ref);
  free(l);
}

static void subscribe(ws_client *c, const cJSON *cmd, const cJSON *ref) {
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(cmd, "task");
  const cJSON *agent = cJSON_GetObjectItemCaseSensitive(cmd, "agent");
  const cJSON *all = cJSON_GetObjectItemCaseSensitive(cmd, "all");
  int scope = 0;
  const char *id = NULL;
  if (cJSON_IsString(task) && !agent && !all) {
    scope = EVENT_SCOPE_TASK;
    id = task->valuestring;
    if (!ids_valid(id, "tsk")) {
      send_error(c, "not_found", "no task with this id", ref);
      return;
    }
  } else if (cJSON_IsString(agent) && !task && !all) {
    scope = EVENT_SCOPE_AGENT;
    id = agent->valuestring;
    if (!engine_agent(c->a->d.engine, id)) {
      send_error(c, "not_found", "no agent with this id", ref);
      return;
    }
  } else if (cJSON_IsTrue(all) && !task && !agent) {
    scope = EVENT_SCOPE_ALL;
  } else {
    send_error(c, "invalid_command",
               "subscribe needs exactly one of \"task\": \"tsk_...\", \"agent\": \"agt_...\" or "
               "\"all\": true",
               ref);
    return;
  }
  uint64_t since;
  if (read_since(cmd, &since) < 0) {
    send_error(c, "invalid_command",
               "\"since\" must be a non-negative integer: the last seq (task) or gseq (agent, "
               "all) received",
               ref);
    return;
  }
  if (scope != EVENT_SCOPE_TASK) {
    start_sub(c, scope, id, since, ref);
    return;
  }
  task_lookup *l = calloc(1, sizeof *l);
  if (!l) {
    send_error(c, "internal_error", "out of memory", ref);
    return;
  }
  l->c = c;
  snprintf(l->id, sizeof l->id, "%s", id);
  l->since = since;
  l->ref = ref ? cJSON_Duplicate(ref, 1) : NULL;
  char key[80];
  int kl = snprintf(key, sizeof key, ENGINE_NS_TASK "%s", l->id);
  store *st = c->a->d.store;
  c->lookups++;
  if (st->def->get(st->db, NULL, key, (size_t)kl, task_looked_up, l) < 0)
    task_looked_up(l, AGENTAI_EIO, NULL, 0);
}

static void handle(ws_client *c, const char *data, size_t len) {
  cJSON *cmd = NULL;
  char type[32], message[256];
  if (api_parse_object(data, len, "command", &cmd, type, message) < 0) {
    send_error(c, type, message, NULL);
    return;
  }
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(cmd, "ref");
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(cmd, "op");
  const char *name = cJSON_IsString(op) ? op->valuestring : "";
  if (!strcmp(name, "subscribe")) {
    subscribe(c, cmd, ref);
  } else if (!strcmp(name, "unsubscribe")) {
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(cmd, "subscription");
    ws_sub *s = cJSON_IsString(sub) ? find_sub(c, sub->valuestring) : NULL;
    if (!s) {
      send_error(c, "not_found", "no subscription with this name on this connection", ref);
    } else {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "unsubscribed");
      cJSON_AddStringToObject(o, "subscription", s->name);
      drop_sub(s);
      send_obj(c, o, ref);
    }
  } else if (!strcmp(name, "ping")) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "pong");
    send_obj(c, o, ref);
  } else {
    send_error(c, "invalid_command", "unknown \"op\" (known: subscribe, unsubscribe, ping)", ref);
  }
  cJSON_Delete(cmd);
}

int api_ws_open(api *a, http_ws *ws) {
  int refused = api_auth_ws(a, ws);
  if (refused)
    return refused;
  ws_client *c = calloc(1, sizeof *c);
  if (!c)
    return 503;
  c->a = a;
  c->ws = ws;
  http_ws_set_user(ws, c);
  a->ws_count++;
  return 0;
}

void api_ws_message(api *a, http_ws *ws, const char *data, size_t len, int is_binary) {
  (void)a;
  ws_client *c = http_ws_user(ws);
  if (!c)
    return;
  if (is_binary)
    send_error(c, "invalid_command", "commands are JSON text frames, not binary", NULL);
  else
    handle(c, data, len);
}

void api_ws_close(api *a, http_ws *ws, int reason) {
  (void)reason;
  ws_client *c = http_ws_user(ws);
  if (!c)
    return;
  for (size_t i = 0; i < MAX_SUBS; i++)
    if (c->subs[i].name[0])
      drop_sub(&c->subs[i]);
  a->ws_count--;
  c->closed = 1;
  if (c->lookups == 0)
    free(c);
}

size_t api_ws_count(const api *a) {
  return a->ws_count;
}
