/* engine/task_control.c — what the API asks of existing tasks: cancel, manual retry, and resume
 * of a task waiting at ai.task.interrupt, on the live task or on its stored record. */
#include "engine/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"

/* ---- cancel, retry, reads ---- */

char *engine_active_task(engine *e, const char *task_id) {
  etask *t = strmap_get(&e->active, task_id);
  return t ? cJSON_PrintUnformatted(t->rec) : NULL;
}

static const char *status_of(const cJSON *rec) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "status");
  return cJSON_IsString(s) ? s->valuestring : "unknown";
}

/* Reads a task that is not active, for cancel, retry and resume. */
enum stored_kind { STORED_CANCEL, STORED_RETRY, STORED_RESUME };
typedef struct stored_op {
  engine_call *c;
  int kind;
  cJSON *value;          /* resume: the answer */
  char interrupt_id[64]; /* resume: the interrupt it answers, or "" for any */
} stored_op;

static void stored_op_free(stored_op *s) {
  cJSON_Delete(s->value);
  free(s);
}

static void cancelled_written(etask *t, int err, void *ud) {
  engine_call *c = ud;
  engine *e = c->e;
  if (err < 0)
    c->cb(c->ud, err, NULL, "the cancellation could not be stored");
  else
    engine_answer_record(c, 0, t->rec, NULL);
  free(c);
  e->n_cancelled++;
  agent_queue *q = strmap_get(&e->queues, t->agent_id);
  if (q && q->active)
    q->active--;
  strmap_remove(&e->active, t->id);
  engine_task_free(t);
}

static void retry_written(etask *t, int err, void *ud) {
  engine_call *c = ud;
  engine *e = c->e;
  if (err < 0) {
    c->cb(c->ud, err, NULL, "the retry could not be stored");
    free(c);
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
    return;
  }
  engine_answer_record(c, 0, t->rec, NULL);
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

static const char *str_field(const cJSON *obj, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The attempt paused at an interrupt ends with the task (cancelled). */
static void close_paused_attempt(cJSON *rec, const char *now, const cJSON *error) {
  cJSON *list = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
  int n = cJSON_GetArraySize(list);
  cJSON *a = n > 0 ? cJSON_GetArrayItem(list, n - 1) : NULL;
  const char *st = str_field(a, "status");
  if (!st || strcmp(st, "waiting") != 0)
    return;
  cJSON_set(a, "status", cJSON_CreateString("cancelled"));
  cJSON_set(a, "ended_at", cJSON_CreateString(now));
  cJSON_set(a, "error", cJSON_Duplicate(error, 1));
}

static void waiting_cancelled(etask *t, int err, void *ud) {
  engine_call *c = ud;
  engine *e = c->e;
  if (err < 0) {
    c->cb(c->ud, err, NULL, "the cancellation could not be stored");
  } else {
    engine_answer_record(c, 0, t->rec, NULL);
    e->n_cancelled++;
  }
  free(c);
  strmap_remove(&e->active, t->id);
  engine_task_free(t);
}

static void resume_written(etask *t, int err, void *ud) {
  engine_call *c = ud;
  engine *e = c->e;
  if (err < 0) {
    c->cb(c->ud, err, NULL,
          err == AGENTAI_ENOSPC ? "storage is full: the task was not resumed"
                                : "the resume could not be stored");
    free(c);
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
    return;
  }
  engine_answer_record(c, 0, t->rec, NULL);
  free(c);
  agent_queue *q = engine_agent_queue(e, t->agent_id);
  if (q)
    q->active++;
  t->resume = 1; /* the paused attempt continues from its journal */
  engine_enqueue(e, t, 0);
}

/* A journal call name as the Lua host makes them ("0.1/00000003", "h<hex>/..."):
 * checked, as it becomes part of a storage key. */
static int valid_call(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 100)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f') ||
          name[i] == 'h' || name[i] == '.' || name[i] == '/'))
      return 0;
  return 1;
}

/* Why a cancel or resume of the stored task rec cannot go on (into msg), or NULL. */
static const char *waiting_refusal(engine *e, const stored_op *s, const cJSON *rec,
                                   const char *status, char *msg, size_t msg_len) {
  const char *id = str_field(rec, "id"), *agent = str_field(rec, "agent_id");
  const cJSON *intr = cJSON_GetObjectItemCaseSensitive(rec, "interrupt");
  const char *pending = str_field(intr, "id"), *jcall = str_field(intr, "call");
  if (strcmp(status, "waiting") != 0)
    snprintf(msg, msg_len, "task is %s; only waiting tasks can be resumed", status);
  else if (!id || !agent || strmap_get(&e->active, id))
    snprintf(msg, msg_len, "task is being resumed or cancelled by another request");
  else if (s->kind != STORED_RESUME)
    return NULL;
  else if (s->interrupt_id[0] && (!pending || strcmp(pending, s->interrupt_id) != 0))
    snprintf(msg, msg_len, "interrupt %s is not pending: the task waits at %s", s->interrupt_id,
             pending ? pending : "no interrupt");
  else if (!engine_agent(e, agent))
    snprintf(msg, msg_len, "the task's agent %s was deleted; the task can only be cancelled",
             agent);
  else if (!valid_call(jcall))
    snprintf(msg, msg_len, "the task's interrupt record names no journal call; cancel the task");
  else
    return NULL;
  return msg;
}

/* A cancel or resume of a task that is not active: a waiting task changes
 * in one batch with its event (and, resumed, the answer's journal entry);
 * anything else is refused with its status. Takes rec, s and s->c. */
static void stored_waiting(stored_op *s, cJSON *rec, const char *status) {
  engine_call *c = s->c;
  engine *e = c->e;
  int resume = s->kind == STORED_RESUME;
  char msg[240];
  if (waiting_refusal(e, s, rec, status, msg, sizeof msg)) {
    c->cb(c->ud, AGENTAI_EBUSY, NULL, msg);
    cJSON_Delete(rec);
    stored_op_free(s);
    free(c);
    return;
  }
  etask *t = calloc(1, sizeof *t);
  if (!t || strmap_put(&e->active, str_field(rec, "id"), t) < 0) {
    c->cb(c->ud, AGENTAI_ENOMEM, NULL, NULL);
    free(t);
    cJSON_Delete(rec);
    stored_op_free(s);
    free(c);
    return;
  }
  t->eng = e;
  t->rec = rec;
  t->state = ET_FINISHING; /* busy until the change is committed */
  t->last_seq = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "last_seq"));
  snprintf(t->id, sizeof t->id, "%s", str_field(rec, "id"));
  snprintf(t->agent_id, sizeof t->agent_id, "%s", str_field(rec, "agent_id"));
  const cJSON *intr = cJSON_GetObjectItemCaseSensitive(rec, "interrupt");
  char int_id[64], jkey[224];
  snprintf(int_id, sizeof int_id, "%s", str_field(intr, "id") ? str_field(intr, "id") : "");
  int attempt = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "attempt"));
  int jl = resume ? snprintf(jkey, sizeof jkey, ENGINE_NS_JOURNAL "%s/%04d/%s", t->id, attempt,
                             str_field(intr, "call"))
                  : 0;
  char now[32];
  engine_now_iso(now);
  cJSON *data = cJSON_CreateObject();
  cJSON_AddNumberToObject(data, "attempt", attempt);
  cJSON_set(rec, "updated_at", cJSON_CreateString(now));
  cJSON_set(rec, "last_seq", cJSON_CreateNumber((double)(t->last_seq + 1)));
  cJSON_set(rec, "interrupt", cJSON_CreateNull());
  char *value = NULL, *entry = NULL;
  size_t elen = 0;
  if (resume) {
    cJSON_set(rec, "status", cJSON_CreateString("queued"));
    cJSON_AddStringToObject(data, "interrupt", int_id);
    cJSON_AddItemToObject(data, "value", cJSON_Duplicate(s->value, 1));
    value = cJSON_PrintUnformatted(s->value);
    size_t hl = sizeof LH_INTERRUPT_ENTRY_HEAD - 1, vl = value ? strlen(value) : 0;
    if (value && (entry = malloc(hl + vl + 2))) {
      memcpy(entry, LH_INTERRUPT_ENTRY_HEAD, hl);
      memcpy(entry + hl, value, vl);
      entry[hl + vl] = '}';
      entry[hl + vl + 1] = '\0';
      elen = hl + vl + 1;
    }
  } else {
    cJSON *err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "kind", "cancelled");
    cJSON_AddStringToObject(err, "message", "cancelled by request");
    cJSON_AddBoolToObject(err, "retryable", 0);
    close_paused_attempt(rec, now, err);
    cJSON_set(rec, "status", cJSON_CreateString("cancelled"));
    cJSON_set(rec, "ended_at", cJSON_CreateString(now));
    cJSON_set(rec, "next_attempt_at", cJSON_CreateNull());
    cJSON_AddItemToObject(data, "error", cJSON_Duplicate(err, 1));
    cJSON_set(rec, "error", err);
  }
  char *json = cJSON_PrintUnformatted(rec);
  char tkey[64], keybuf[256];
  int tl = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", t->id);
  agentai_kv_op ops[4] = {{AGENTAI_KV_PUT, tkey, (size_t)tl, json, json ? strlen(json) : 0}};
  size_t n =
      1 + engine_status_ops(t->id, "waiting", resume ? "queued" : "cancelled", ops + 1, keybuf);
  if (resume)
    ops[n++] = (agentai_kv_op){AGENTAI_KV_PUT, jkey, (size_t)jl, entry, elen};
  void (*then)(etask *, int, void *) = resume ? resume_written : waiting_cancelled;
  int rc =
      json && (!resume || entry)
          ? engine_write_event(e, t, t->id, t->agent_id, resume ? "task.resumed" : "task.cancelled",
                               data, ops, n, then, c)
          : (cJSON_Delete(data), AGENTAI_ENOMEM);
  free(json);
  free(value);
  free(entry);
  stored_op_free(s);
  if (rc < 0)
    then(t, rc, c);
}

static void stored_read(void *ud, int err, const void *value, size_t len) {
  stored_op *s = ud;
  engine_call *c = s->c;
  engine *e = c->e;
  int retry = s->kind == STORED_RETRY;
  if (err < 0) {
    c->cb(c->ud, err, NULL, NULL);
    stored_op_free(s);
    free(c);
    return;
  }
  cJSON *rec = cJSON_ParseWithLength(value, len);
  char status[16]; /* copied: the record's own string is replaced below */
  snprintf(status, sizeof status, "%s", status_of(rec));
  if (s->kind == STORED_RESUME || (s->kind == STORED_CANCEL && !strcmp(status, "waiting"))) {
    stored_waiting(s, rec, status); /* takes rec, s and c */
    return;
  }
  stored_op_free(s);
  char msg[200];
  if (!retry) {
    snprintf(msg, sizeof msg,
             "task already %s; only queued, running or waiting tasks can be cancelled", status);
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

static int read_stored(engine *e, const char *task_id, stored_op *s, engine_result_fn cb,
                       void *ud) {
  engine_call *c = engine_call_new(e, cb, ud);
  if (!c || !s) {
    free(c);
    if (s)
      stored_op_free(s);
    return AGENTAI_ENOMEM;
  }
  s->c = c;
  char key[80];
  int kl = snprintf(key, sizeof key, ENGINE_NS_TASK "%.40s", task_id);
  int rc = e->d.store->def->get(e->d.store->db, NULL, key, (size_t)kl, stored_read, s);
  if (rc < 0) {
    free(c);
    stored_op_free(s);
  }
  return rc;
}

/* A stored_op of kind, for read_stored (NULL on ENOMEM: read_stored says so). */
static stored_op *stored_op_new(int kind) {
  stored_op *s = calloc(1, sizeof *s);
  if (s)
    s->kind = kind;
  return s;
}

int engine_cancel(engine *e, const char *task_id, engine_result_fn cb, void *ud) {
  etask *t = strmap_get(&e->active, task_id);
  if (!t)
    return read_stored(e, task_id, stored_op_new(STORED_CANCEL), cb, ud);
  const char *reason = "cancelled by request";
  switch (t->state) {
    case ET_QUEUED:
    case ET_BACKOFF: {
      engine_call *c = engine_call_new(e, cb, ud);
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
      close_paused_attempt(t->rec, now, err); /* resumed, not started yet */
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

int engine_resume(engine *e, const char *task_id, const cJSON *value, const char *interrupt_id,
                  engine_result_fn cb, void *ud) {
  etask *t = strmap_get(&e->active, task_id);
  if (t) {
    char msg[160];
    snprintf(msg, sizeof msg, "task is %s; only waiting tasks can be resumed", status_of(t->rec));
    cb(ud, AGENTAI_EBUSY, NULL, msg);
    return 0;
  }
  if (interrupt_id && strlen(interrupt_id) >= sizeof((stored_op *)0)->interrupt_id) {
    cb(ud, AGENTAI_EBUSY, NULL, "no such interrupt is pending");
    return 0;
  }
  stored_op *s = stored_op_new(STORED_RESUME);
  if (s) {
    snprintf(s->interrupt_id, sizeof s->interrupt_id, "%s", interrupt_id ? interrupt_id : "");
    s->value = value ? cJSON_Duplicate(value, 1) : cJSON_CreateNull();
    if (!s->value) {
      free(s);
      s = NULL;
    }
  }
  return read_stored(e, task_id, s, cb, ud);
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
  return read_stored(e, task_id, stored_op_new(STORED_RETRY), cb, ud);
}
