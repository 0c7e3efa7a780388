/* engine/tasks.c — what the API asks of the engine: agents stored and cached, task submission
 * with idempotency keys, and the engine's counters (cancel, retry, resume: task_control.c). */
#include "engine/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

engine_call *engine_call_new(engine *e, engine_result_fn cb, void *ud) {
  engine_call *c = calloc(1, sizeof *c);
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
  engine_call *c = ud;
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
  engine_call *c = engine_call_new(e, cb, ud);
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
  engine_call *c = engine_call_new(e, cb, ud);
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

void engine_answer_record(engine_call *c, int err, const cJSON *rec, const char *message) {
  char *json = rec ? cJSON_PrintUnformatted(rec) : NULL;
  c->cb(c->ud, err, json, message);
  free(json);
}

static void submitted(etask *t, int err, void *ud) {
  engine_call *c = ud;
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
  engine_answer_record(c, 0, t->rec, NULL);
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

static int create_task(engine_call *c, const char *agent_id, const cJSON *input,
                       const char *idem_key, uint64_t hash) {
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
  engine_call *c = ud;
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
  engine_call *c;
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
  engine_call *c = l->c;
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
  engine_call *c = engine_call_new(e, cb, ud);
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
