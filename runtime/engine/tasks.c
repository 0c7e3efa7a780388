/* engine/tasks.c — what the API asks of the engine: agents stored and cached, task submission
 * with idempotency keys, cancel and manual retry, and the engine's counters. */
#include "engine/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

/* A pending engine call: who to answer. */
typedef struct call {
  engine *e;
  engine_result_fn cb;
  void *ud;
  char *json;       /* agents: the record written */
  char key[160];    /* idempotency: the pending key */
  char id[IDS_MAX]; /* agents */
  char *previous;   /* agents: the cached record before this write */
  etask *t;         /* tasks: the task being submitted / retried */
  int deleting;
} call;

static call *call_new(engine *e, engine_result_fn cb, void *ud) {
  call *c = calloc(1, sizeof *c);
  if (c) {
    c->e = e;
    c->cb = cb;
    c->ud = ud;
  }
  return c;
}

/* ---- agents ---- */

const char *engine_agent(engine *e, const char *agent_id) {
  return strmap_get(&e->agents, agent_id);
}

int engine_find_workflow(const config *cfg, const char *name, char *path, size_t path_len) {
  size_t n = strlen(name);
  if (n == 0 || n > 64)
    return AGENTAI_EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return AGENTAI_EINVAL; /* no '/', no '.': nothing can leave the folders */
  }
  for (size_t i = 0; cfg && i < cfg->workflow_dir_count; i++) {
    snprintf(path, path_len, "%s/%s.lua", cfg->workflow_dirs[i], name);
    if (access(path, R_OK) == 0)
      return 0;
  }
  /* Then the built-in workflows (chat, plan_execute): a configured folder can shadow them. */
  const char *builtin = lh_builtin_scripts_dir();
  if (builtin) {
    snprintf(path, path_len, "%s/workflows/%s.lua", builtin, name);
    if (access(path, R_OK) == 0)
      return 0;
  }
  return AGENTAI_ENOENT;
}

static void agent_written(void *ud, int err) {
  call *c = ud;
  engine *e = c->e;
  if (err < 0) {
    /* Put the cache back unless a later write already replaced it. */
    char *now = strmap_get(&e->agents, c->id);
    if (c->deleting ? !now : now == c->json) {
      if (c->previous)
        strmap_put(&e->agents, c->id, c->previous), c->previous = NULL;
      else
        strmap_remove(&e->agents, c->id);
      if (!c->deleting)
        free(c->json);
    }
    c->cb(c->ud, err, NULL,
          err == AGENTAI_ENOSPC ? "storage is full" : "the agent could not be stored");
  } else {
    c->cb(c->ud, 0, c->deleting ? c->previous : c->json, NULL);
  }
  free(c->previous);
  free(c);
  engine_inflight_done(e);
}

int engine_agent_put(engine *e, const char *agent_id, const cJSON *record, engine_result_fn cb,
                     void *ud) {
  call *c = call_new(e, cb, ud);
  char *json = cJSON_PrintUnformatted(record);
  if (!c || !json) {
    free(c);
    free(json);
    return AGENTAI_ENOMEM;
  }
  snprintf(c->id, sizeof c->id, "%s", agent_id);
  c->json = json;
  char key[64];
  int klen = snprintf(key, sizeof key, ENGINE_NS_AGENT "%s", agent_id);
  agentai_kv_op op = {AGENTAI_KV_PUT, key, (size_t)klen, json, strlen(json)};
  /* The cache changes now, so a second change made before this one commits
   * starts from it; storage applies writes in the same order. */
  char *prev = strmap_get(&e->agents, agent_id);
  if (strmap_put(&e->agents, agent_id, json) < 0) {
    free(json);
    free(c);
    return AGENTAI_ENOMEM;
  }
  c->previous = prev;
  e->inflight++;
  int rc = e->d.store->def->write(e->d.store->db, &op, 1, agent_written, c);
  if (rc < 0) {
    e->inflight--;
    if (prev)
      strmap_put(&e->agents, agent_id, prev);
    else
      strmap_remove(&e->agents, agent_id);
    free(json);
    free(c);
  }
  return rc;
}

int engine_agent_delete(engine *e, const char *agent_id, engine_result_fn cb, void *ud) {
  char *prev = strmap_get(&e->agents, agent_id);
  if (!prev) {
    cb(ud, AGENTAI_ENOENT, NULL, NULL);
    return 0;
  }
  agent_queue *q = strmap_get(&e->queues, agent_id);
  if (q && q->active) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "agent %s has %zu queued or running tasks; cancel them or wait for them to end",
             agent_id, q->active);
    cb(ud, AGENTAI_EBUSY, NULL, msg);
    return 0;
  }
  call *c = call_new(e, cb, ud);
  if (!c)
    return AGENTAI_ENOMEM;
  snprintf(c->id, sizeof c->id, "%s", agent_id);
  c->deleting = 1;
  char key[64];
  int klen = snprintf(key, sizeof key, ENGINE_NS_AGENT "%s", agent_id);
  agentai_kv_op op = {.type = AGENTAI_KV_DELETE, .key = key, .key_len = (size_t)klen};
  strmap_remove(&e->agents, agent_id);
  c->previous = prev;
  e->inflight++;
  int rc = e->d.store->def->write(e->d.store->db, &op, 1, agent_written, c);
  if (rc < 0) {
    e->inflight--;
    strmap_put(&e->agents, agent_id, prev);
    free(c);
  }
  return rc;
}

/* ---- submission ---- */

static void answer_record(call *c, int err, const cJSON *rec, const char *message) {
  char *json = rec ? cJSON_PrintUnformatted(rec) : NULL;
  c->cb(c->ud, err, json, message);
  free(json);
}

static void submitted(etask *t, int err, void *ud) {
  call *c = ud;
  engine *e = c->e;
  if (c->key[0])
    strmap_remove(&e->pending_idem, c->key);
  if (err < 0) {
    c->cb(c->ud, err, NULL,
          err == AGENTAI_ENOSPC ? "storage is full: the task was not accepted"
                                : "the task could not be stored");
    engine_task_free(t);
    free(c);
    return;
  }
  /* Durable now: answer, then queue it. */
  answer_record(c, 0, t->rec, NULL);
  free(c);
  if (strmap_put(&e->active, t->id, t) < 0) {
    log_printf(AGENTAI_LOG_ERROR, "engine", "out of memory: %s runs after a restart", t->id);
    engine_task_free(t);
    return;
  }
  agent_queue *q = engine_agent_queue(e, t->agent_id);
  if (q)
    q->active++;
  engine_enqueue(e, t, 0);
}

static int create_task(call *c, const char *agent_id, const cJSON *input, const char *idem_key,
                       uint64_t hash) {
  engine *e = c->e;
  cJSON *agent = cJSON_Parse(engine_agent(e, agent_id));
  const cJSON *retry = cJSON_GetObjectItemCaseSensitive(agent, "retry");
  const cJSON *max = cJSON_GetObjectItemCaseSensitive(retry, "max_attempts");
  const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(agent, "timeout_ms");
  etask *t = calloc(1, sizeof *t);
  cJSON *rec = cJSON_CreateObject();
  if (!t || !rec) {
    free(t);
    cJSON_Delete(rec);
    cJSON_Delete(agent);
    return AGENTAI_ENOMEM;
  }
  t->eng = e;
  t->rec = rec;
  ids_new("tsk", t->id);
  snprintf(t->agent_id, sizeof t->agent_id, "%s", agent_id);
  char now[32];
  engine_now_iso(now);
  cJSON_AddStringToObject(rec, "id", t->id);
  cJSON_AddStringToObject(rec, "object", "task");
  cJSON_AddStringToObject(rec, "agent_id", agent_id);
  cJSON_AddStringToObject(rec, "status", "queued");
  cJSON_AddItemToObject(rec, "input", input ? cJSON_Duplicate(input, 1) : cJSON_CreateNull());
  cJSON_AddNullToObject(rec, "result");
  cJSON_AddNullToObject(rec, "error");
  cJSON_AddNumberToObject(rec, "attempt", 0);
  cJSON_AddNumberToObject(rec, "max_attempts", cJSON_IsNumber(max) ? max->valuedouble : 3);
  cJSON_AddNumberToObject(rec, "timeout_ms",
                          cJSON_IsNumber(timeout) ? timeout->valuedouble : 600000);
  cJSON_AddItemToObject(rec, "attempts", cJSON_CreateArray());
  cJSON *usage = cJSON_AddObjectToObject(rec, "usage");
  cJSON_AddNumberToObject(usage, "prompt_tokens", 0);
  cJSON_AddNumberToObject(usage, "completion_tokens", 0);
  cJSON_AddNumberToObject(usage, "total_tokens", 0);
  cJSON_AddNumberToObject(usage, "llm_calls", 0);
  if (idem_key)
    cJSON_AddStringToObject(rec, "idempotency_key", idem_key);
  else
    cJSON_AddNullToObject(rec, "idempotency_key");
  cJSON_AddStringToObject(rec, "created_at", now);
  cJSON_AddNullToObject(rec, "started_at");
  cJSON_AddNullToObject(rec, "ended_at");
  cJSON_AddNullToObject(rec, "next_attempt_at");
  cJSON_AddStringToObject(rec, "updated_at", now);
  cJSON_AddNumberToObject(rec, "last_seq", 1);
  cJSON_Delete(agent);

  char *json = cJSON_PrintUnformatted(rec);
  char idem_value[128];
  int ivlen = snprintf(idem_value, sizeof idem_value,
                       "{\"task_id\":\"%s\",\"hash\":\"%016" PRIx64 "\"}", t->id, hash);
  char tkey[64], akey[128], skey[128], ikey[600];
  int tl = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", t->id);
  int al = snprintf(akey, sizeof akey, ENGINE_NS_BY_AGENT "%s/%s", agent_id, t->id);
  int sl = snprintf(skey, sizeof skey, ENGINE_NS_BY_STATUS "queued/%s", t->id);
  agentai_kv_op ops[4] = {{AGENTAI_KV_PUT, tkey, (size_t)tl, json, json ? strlen(json) : 0},
                          {AGENTAI_KV_PUT, akey, (size_t)al, "", 0},
                          {AGENTAI_KV_PUT, skey, (size_t)sl, "", 0}};
  size_t n = 3;
  if (idem_key) {
    int il = snprintf(ikey, sizeof ikey, ENGINE_NS_IDEM "%s/%s", agent_id, idem_key);
    ops[n++] = (agentai_kv_op){AGENTAI_KV_PUT, ikey, (size_t)il, idem_value, (size_t)ivlen};
  }
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "status", "queued");
  int rc =
      json ? engine_write_event(e, t, t->id, agent_id, "task.created", data, ops, n, submitted, c)
           : AGENTAI_ENOMEM;
  free(json);
  if (rc < 0)
    engine_task_free(t);
  return rc;
}

static void existing_task_read(void *ud, int err, const void *value, size_t len) {
  call *c = ud;
  if (err < 0) {
    c->cb(c->ud, err == AGENTAI_ENOENT ? AGENTAI_ECORRUPT : err, NULL,
          "the task this Idempotency-Key names cannot be read");
  } else {
    char *json = strndup(value, len);
    c->cb(c->ud, 0, json, NULL);
    free(json);
  }
  free(c);
}

/* A submission with an idempotency key, waiting for the key's record. */
typedef struct idem_lookup {
  call *c;
  char agent_id[IDS_MAX];
  cJSON *input;
  char *idem_key;
  uint64_t hash;
} idem_lookup;

static void idem_lookup_free(idem_lookup *l) {
  cJSON_Delete(l->input);
  free(l->idem_key);
  free(l);
}

/* The key's record is in (or known absent): answer the first task, refuse a
 * reuse with another body, or create the task. */
static void idem_read(void *ud, int err, const void *value, size_t len) {
  idem_lookup *l = ud;
  call *c = l->c;
  engine *e = c->e;
  if (err == AGENTAI_ENOENT) {
    int rc = create_task(c, l->agent_id, l->input, l->idem_key, l->hash);
    if (rc < 0) {
      strmap_remove(&e->pending_idem, c->key);
      c->cb(c->ud, rc, NULL, "the task could not be stored");
      free(c);
    }
    idem_lookup_free(l);
    return;
  }
  strmap_remove(&e->pending_idem, c->key);
  char task_id[IDS_MAX] = "", hash_hex[20] = "";
  if (err == 0) {
    cJSON *v = cJSON_ParseWithLength(value, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "task_id");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "hash");
    if (cJSON_IsString(id))
      snprintf(task_id, sizeof task_id, "%s", id->valuestring);
    if (cJSON_IsString(h))
      snprintf(hash_hex, sizeof hash_hex, "%s", h->valuestring);
    cJSON_Delete(v);
  }
  char hex[20];
  snprintf(hex, sizeof hex, "%016" PRIx64, l->hash);
  idem_lookup_free(l);
  if (err < 0 || !task_id[0]) {
    c->cb(c->ud, err < 0 ? err : AGENTAI_ECORRUPT, NULL, "the Idempotency-Key cannot be read");
    free(c);
    return;
  }
  if (strcmp(hex, hash_hex) != 0) {
    c->cb(c->ud, AGENTAI_EEXIST, NULL,
          "this Idempotency-Key was already used with a different request body");
    free(c);
    return;
  }
  char *active = engine_active_task(e, task_id);
  if (active) {
    c->cb(c->ud, 0, active, NULL);
    free(active);
    free(c);
    return;
  }
  char tkey[64];
  int tl = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", task_id);
  if (e->d.store->def->get(e->d.store->db, NULL, tkey, (size_t)tl, existing_task_read, c) < 0)
    existing_task_read(c, AGENTAI_EIO, NULL, 0);
}

int engine_submit(engine *e, const char *agent_id, const cJSON *input, const char *idem_key,
                  uint64_t request_hash, engine_result_fn cb, void *ud) {
  if (e->shutting_down) {
    cb(ud, AGENTAI_EBUSY, NULL, "the runtime is shutting down");
    return 0;
  }
  if (!engine_agent(e, agent_id)) {
    cb(ud, AGENTAI_ENOENT, NULL, NULL);
    return 0;
  }
  call *c = call_new(e, cb, ud);
  if (!c)
    return AGENTAI_ENOMEM;
  if (!idem_key) {
    int rc = create_task(c, agent_id, input, NULL, request_hash);
    if (rc < 0)
      free(c);
    return rc;
  }
  snprintf(c->key, sizeof c->key, "%s/%.120s", agent_id, idem_key);
  if (strmap_get(&e->pending_idem, c->key)) {
    free(c);
    cb(ud, AGENTAI_EBUSY, NULL,
       "a request with this Idempotency-Key is still being processed; retry it later");
    return 0;
  }
  idem_lookup *l = calloc(1, sizeof *l);
  if (!l || strmap_put(&e->pending_idem, c->key, (void *)1) < 0) {
    free(l);
    free(c);
    return AGENTAI_ENOMEM;
  }
  l->c = c;
  snprintf(l->agent_id, sizeof l->agent_id, "%s", agent_id);
  l->input = input ? cJSON_Duplicate(input, 1) : NULL;
  l->idem_key = strdup(idem_key);
  l->hash = request_hash;
  char ikey[600];
  int il = snprintf(ikey, sizeof ikey, ENGINE_NS_IDEM "%s/%s", agent_id, idem_key);
  int rc = e->d.store->def->get(e->d.store->db, NULL, ikey, (size_t)il, idem_read, l);
  if (rc < 0) {
    strmap_remove(&e->pending_idem, c->key);
    idem_lookup_free(l);
    free(c);
  }
  return rc;
}

/* ---- cancel, retry, reads ---- */

char *engine_active_task(engine *e, const char *task_id) {
  etask *t = strmap_get(&e->active, task_id);
  return t ? cJSON_PrintUnformatted(t->rec) : NULL;
}

static const char *status_of(const cJSON *rec) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "status");
  return cJSON_IsString(s) ? s->valuestring : "unknown";
}

/* Reads a task that is not active, for cancel and retry. */
typedef struct stored_op {
  call *c;
  int retry;
} stored_op;

static void cancelled_written(etask *t, int err, void *ud) {
  call *c = ud;
  engine *e = c->e;
  if (err < 0)
    c->cb(c->ud, err, NULL, "the cancellation could not be stored");
  else
    answer_record(c, 0, t->rec, NULL);
  free(c);
  e->n_cancelled++;
  agent_queue *q = strmap_get(&e->queues, t->agent_id);
  if (q && q->active)
    q->active--;
  strmap_remove(&e->active, t->id);
  engine_task_free(t);
}

static void retry_written(etask *t, int err, void *ud) {
  call *c = ud;
  engine *e = c->e;
  if (err < 0) {
    c->cb(c->ud, err, NULL, "the retry could not be stored");
    free(c);
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
    return;
  }
  answer_record(c, 0, t->rec, NULL);
  free(c);
  e->n_retried++;
  agent_queue *q = engine_agent_queue(e, t->agent_id);
  if (q)
    q->active++;
  engine_enqueue(e, t, 0);
}

static void cJSON_set(cJSON *obj, const char *name, cJSON *v) {
  if (cJSON_HasObjectItem(obj, name))
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
  else
    cJSON_AddItemToObject(obj, name, v);
}

static void stored_read(void *ud, int err, const void *value, size_t len) {
  stored_op *s = ud;
  call *c = s->c;
  engine *e = c->e;
  int retry = s->retry;
  free(s);
  if (err < 0) {
    c->cb(c->ud, err, NULL, NULL);
    free(c);
    return;
  }
  cJSON *rec = cJSON_ParseWithLength(value, len);
  char status[16]; /* copied: the record's own string is replaced below */
  snprintf(status, sizeof status, "%s", status_of(rec));
  char msg[200];
  if (!retry) {
    snprintf(msg, sizeof msg, "task already %s; only queued or running tasks can be cancelled",
             status);
    c->cb(c->ud, AGENTAI_EBUSY, NULL, msg);
    cJSON_Delete(rec);
    free(c);
    return;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
  const cJSON *agent = cJSON_GetObjectItemCaseSensitive(rec, "agent_id");
  if (strcmp(status, "failed") != 0 && strcmp(status, "cancelled") != 0) {
    snprintf(msg, sizeof msg, "task is %s; only failed or cancelled tasks can be retried", status);
    c->cb(c->ud, AGENTAI_EBUSY, NULL, msg);
    cJSON_Delete(rec);
    free(c);
    return;
  }
  if (!cJSON_IsString(id) || !cJSON_IsString(agent) || strmap_get(&e->active, id->valuestring)) {
    c->cb(c->ud, AGENTAI_EBUSY, NULL, "task is already being retried");
    cJSON_Delete(rec);
    free(c);
    return;
  }
  if (!engine_agent(e, agent->valuestring)) {
    snprintf(msg, sizeof msg, "the task's agent %s was deleted", agent->valuestring);
    c->cb(c->ud, AGENTAI_EBUSY, NULL, msg);
    cJSON_Delete(rec);
    free(c);
    return;
  }
  etask *t = calloc(1, sizeof *t);
  if (!t) {
    c->cb(c->ud, AGENTAI_ENOMEM, NULL, NULL);
    cJSON_Delete(rec);
    free(c);
    return;
  }
  t->eng = e;
  t->rec = rec;
  t->state = ET_FINISHING; /* busy until the retry is committed */
  /* Its events continue the sequence: the final transition recorded it. */
  t->last_seq = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "last_seq"));
  snprintf(t->id, sizeof t->id, "%s", id->valuestring);
  snprintf(t->agent_id, sizeof t->agent_id, "%s", agent->valuestring);
  /* A manual retry grants the agent's attempt budget again. */
  cJSON *agent_rec = cJSON_Parse(engine_agent(e, t->agent_id));
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(agent_rec, "retry");
  double budget = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "max_attempts"));
  if (budget != budget || budget < 1) /* NaN: no retry policy */
    budget = 3;
  cJSON_Delete(agent_rec);
  double attempt = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "attempt"));
  cJSON_set(rec, "max_attempts", cJSON_CreateNumber(attempt + budget));
  cJSON_set(rec, "status", cJSON_CreateString("queued"));
  cJSON_set(rec, "error", cJSON_CreateNull());
  cJSON_set(rec, "result", cJSON_CreateNull());
  cJSON_set(rec, "ended_at", cJSON_CreateNull());
  char now[32];
  engine_now_iso(now);
  cJSON_set(rec, "updated_at", cJSON_CreateString(now));
  cJSON_set(rec, "last_seq", cJSON_CreateNumber((double)(t->last_seq + 1)));
  if (strmap_put(&e->active, t->id, t) < 0) {
    c->cb(c->ud, AGENTAI_ENOMEM, NULL, NULL);
    engine_task_free(t);
    free(c);
    return;
  }
  char *json = cJSON_PrintUnformatted(rec);
  char tkey[64], keybuf[256];
  int tl = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", t->id);
  agentai_kv_op ops[3] = {{AGENTAI_KV_PUT, tkey, (size_t)tl, json, json ? strlen(json) : 0}};
  size_t n = 1 + engine_status_ops(t->id, status, "queued", ops + 1, keybuf);
  cJSON *data = cJSON_CreateObject();
  cJSON_AddBoolToObject(data, "manual", 1);
  cJSON_AddNumberToObject(data, "next_attempt", attempt + 1);
  int rc = json ? engine_write_event(e, t, t->id, t->agent_id, "task.retrying", data, ops, n,
                                     retry_written, c)
                : AGENTAI_ENOMEM;
  free(json);
  if (rc < 0)
    retry_written(t, rc, c);
}

static int read_stored(engine *e, const char *task_id, int retry, engine_result_fn cb, void *ud) {
  call *c = call_new(e, cb, ud);
  stored_op *s = calloc(1, sizeof *s);
  if (!c || !s) {
    free(c);
    free(s);
    return AGENTAI_ENOMEM;
  }
  s->c = c;
  s->retry = retry;
  char key[80];
  int kl = snprintf(key, sizeof key, ENGINE_NS_TASK "%.40s", task_id);
  int rc = e->d.store->def->get(e->d.store->db, NULL, key, (size_t)kl, stored_read, s);
  if (rc < 0) {
    free(c);
    free(s);
  }
  return rc;
}

int engine_cancel(engine *e, const char *task_id, engine_result_fn cb, void *ud) {
  etask *t = strmap_get(&e->active, task_id);
  if (!t)
    return read_stored(e, task_id, 0, cb, ud);
  const char *reason = "cancelled by request";
  switch (t->state) {
    case ET_QUEUED:
    case ET_BACKOFF: {
      call *c = call_new(e, cb, ud);
      if (!c)
        return AGENTAI_ENOMEM;
      const char *old = status_of(t->rec);
      char oldbuf[16];
      snprintf(oldbuf, sizeof oldbuf, "%s", old);
      if (t->state == ET_QUEUED)
        engine_dequeue(e, t);
      else {
        engine_stop_timer(t);
        e->nbackoff--;
      }
      t->state = ET_FINISHING;
      char now[32];
      engine_now_iso(now);
      cJSON_set(t->rec, "status", cJSON_CreateString("cancelled"));
      cJSON_set(t->rec, "ended_at", cJSON_CreateString(now));
      cJSON_set(t->rec, "updated_at", cJSON_CreateString(now));
      cJSON_set(t->rec, "next_attempt_at", cJSON_CreateNull());
      cJSON *err = cJSON_CreateObject();
      cJSON_AddStringToObject(err, "kind", "cancelled");
      cJSON_AddStringToObject(err, "message", reason);
      cJSON_AddBoolToObject(err, "retryable", 0);
      cJSON_set(t->rec, "error", err);
      cJSON_set(t->rec, "last_seq", cJSON_CreateNumber((double)(t->last_seq + 1)));
      char *json = cJSON_PrintUnformatted(t->rec);
      char tkey[64], keybuf[256];
      int tl = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", t->id);
      agentai_kv_op ops[3] = {{AGENTAI_KV_PUT, tkey, (size_t)tl, json, json ? strlen(json) : 0}};
      size_t n = 1 + engine_status_ops(t->id, oldbuf, "cancelled", ops + 1, keybuf);
      cJSON *data = cJSON_CreateObject();
      cJSON_AddItemToObject(data, "error", cJSON_Duplicate(err, 1));
      int rc = json ? engine_write_event(e, t, t->id, t->agent_id, "task.cancelled", data, ops, n,
                                         cancelled_written, c)
                    : AGENTAI_ENOMEM;
      free(json);
      if (rc < 0)
        cancelled_written(t, rc, c);
      engine_pump(e);
      return 0;
    }
    case ET_STARTING:
    case ET_RUNNING: {
      if (!t->cancel_requested) {
        t->cancel_requested = 1;
        snprintf(t->cancel_reason, sizeof t->cancel_reason, "%s", reason);
        cJSON_set(t->rec, "cancel_requested", cJSON_CreateTrue());
        if (t->wf)
          lh_workflow_cancel(t->wf, reason);
      }
      /* Answered now: the workflow stops at its next yield point, and
       * task.cancelled follows on the event stream. */
      char *json = cJSON_PrintUnformatted(t->rec);
      cb(ud, 0, json, "cancel_requested");
      free(json);
      return 0;
    }
    default:
      cb(ud, AGENTAI_EBUSY, NULL, "the task is finishing; its final state follows shortly");
      return 0;
  }
}

int engine_retry(engine *e, const char *task_id, engine_result_fn cb, void *ud) {
  etask *t = strmap_get(&e->active, task_id);
  if (t) {
    char msg[160];
    snprintf(msg, sizeof msg, "task is %s; only failed or cancelled tasks can be retried",
             status_of(t->rec));
    cb(ud, AGENTAI_EBUSY, NULL, msg);
    return 0;
  }
  return read_stored(e, task_id, 1, cb, ud);
}

void engine_get_stats(const engine *e, engine_stats *out) {
  *out = (engine_stats){.queued = e->nqueued,
                        .running = e->nrunning,
                        .waiting_retry = e->nbackoff,
                        .started = e->n_started,
                        .succeeded = e->n_succeeded,
                        .failed = e->n_failed,
                        .cancelled = e->n_cancelled,
                        .retried = e->n_retried};
  strmap_iter it = 0;
  const char *key;
  void *value;
  while (strmap_next(&e->active, &it, &key, &value))
    out->lua_memory += lh_workflow_memory(((etask *)value)->wf);
}

void engine_set_commit_observer(engine *e, void (*fn)(void *ud, double seconds), void *ud) {
  e->d.on_commit = fn;
  e->d.on_commit_ud = ud;
}
