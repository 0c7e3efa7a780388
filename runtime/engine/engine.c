/* engine/engine.c — the engine's core: events and status transitions in atomic batches, the fair
 * run queue, attempts (start, time limit, outcome, retry with backoff), recovery and shutdown. */
#include "engine/internal.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errors.h"
#include "core/log.h"
#include "core/timefmt.h"

/* ---- time ---- */

int64_t engine_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records use the core time format, the one listing filters read back. */
static void iso_of(int64_t ms, char out[32]) {
  timefmt_format(ms, out);
}

int64_t engine_parse_iso(const char *s) {
  int64_t ms = -1;
  if (!s || timefmt_parse(s, &ms) < 0)
    return -1;
  return ms;
}

void engine_now_iso(char out[32]) {
  iso_of(engine_now_ms(), out);
}

static void set_str(cJSON *obj, const char *name, const char *value) {
  cJSON *v = value ? cJSON_CreateString(value) : cJSON_CreateNull();
  if (cJSON_HasObjectItem(obj, name))
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
  else
    cJSON_AddItemToObject(obj, name, v);
}

static void set_item(cJSON *obj, const char *name, cJSON *v) {
  if (!v)
    v = cJSON_CreateNull();
  if (cJSON_HasObjectItem(obj, name))
    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
  else
    cJSON_AddItemToObject(obj, name, v);
}

static void set_num(cJSON *obj, const char *name, double v) {
  set_item(obj, name, cJSON_CreateNumber(v));
}

static const char *str_of(const cJSON *obj, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *obj, const char *name, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* ---- events ---- */

size_t engine_event_key(const char *task_id, uint64_t seq, char *out) {
  return (size_t)sprintf(out, ENGINE_NS_EVENT "%s/%010" PRIu64, task_id, seq);
}

typedef struct event_write {
  engine *e;
  uint64_t submitted_ns;
  etask *t;
  void (*then)(etask *t, int err, void *ud);
  void *ud;
  event_msg msg;
  char task_id[IDS_MAX], agent_id[IDS_MAX], type[72];
  char *json;
} event_write;

static void event_written(void *ud, int err) {
  event_write *w = ud;
  engine *e = w->e;
  if (e->d.on_commit)
    e->d.on_commit(e->d.on_commit_ud, (double)(uv_hrtime() - w->submitted_ns) / 1e9);
  if (err == 0) {
    event_hub_publish(e->d.hub, &w->msg);
  } else {
    log_printf(AGENTAI_LOG_ERROR, "engine", "cannot write %s of %s: %s", w->type, w->task_id,
               agentai_strerror(err));
    if (w->t && w->t->last_seq == w->msg.seq)
      w->t->last_seq--; /* nothing was written: no gap */
  }
  if (w->then)
    w->then(w->t, err, w->ud);
  free(w->json);
  free(w);
  engine_inflight_done(e);
}

int engine_write_event(engine *e, etask *t, const char *task_id, const char *agent_id,
                       const char *type, cJSON *data, const agentai_kv_op *ops, size_t nops,
                       void (*then)(etask *t, int err, void *ud), void *ud) {
  event_write *w = calloc(1, sizeof *w);
  agentai_kv_op *all = calloc(nops + 2, sizeof *all);
  if (!w || !all) {
    free(w);
    free(all);
    cJSON_Delete(data);
    return AGENTAI_ENOMEM;
  }
  w->e = e;
  w->t = t;
  w->then = then;
  w->ud = ud;
  snprintf(w->task_id, sizeof w->task_id, "%s", task_id);
  snprintf(w->agent_id, sizeof w->agent_id, "%s", agent_id);
  snprintf(w->type, sizeof w->type, "%s", type);
  uint64_t seq = t ? ++t->last_seq : 1;
  uint64_t gseq = ++e->gseq;
  char now[32];
  engine_now_iso(now);
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "object", "event");
  cJSON_AddNumberToObject(ev, "seq", (double)seq);
  cJSON_AddNumberToObject(ev, "gseq", (double)gseq);
  cJSON_AddStringToObject(ev, "type", type);
  cJSON_AddStringToObject(ev, "task_id", task_id);
  cJSON_AddStringToObject(ev, "agent_id", agent_id);
  cJSON_AddItemToObject(ev, "data", data ? data : cJSON_CreateObject());
  cJSON_AddStringToObject(ev, "created_at", now);
  w->json = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  if (!w->json) {
    free(w);
    free(all);
    return AGENTAI_ENOMEM;
  }
  w->msg = (event_msg){.task_id = w->task_id,
                       .agent_id = w->agent_id,
                       .seq = seq,
                       .gseq = gseq,
                       .type = w->type,
                       .json = w->json,
                       .len = strlen(w->json)};
  char evkey[128], gkey[40], gval[64];
  size_t evlen = engine_event_key(task_id, seq, evkey);
  int glen = snprintf(gkey, sizeof gkey, ENGINE_NS_GLOBAL_EVENT "%016" PRIx64, gseq);
  int gvlen = snprintf(gval, sizeof gval, "%s/%" PRIu64, task_id, seq);
  memcpy(all, ops, nops * sizeof *ops);
  all[nops] = (agentai_kv_op){AGENTAI_KV_PUT, evkey, evlen, w->json, w->msg.len};
  all[nops + 1] = (agentai_kv_op){AGENTAI_KV_PUT, gkey, (size_t)glen, gval, (size_t)gvlen};
  store *st = e->d.store;
  e->inflight++;
  w->submitted_ns = uv_hrtime();
  int rc = st->def->write(st->db, all, nops + 2, event_written, w);
  free(all);
  if (rc < 0) {
    e->inflight--;
    if (t && t->last_seq == seq)
      t->last_seq--;
    free(w->json);
    free(w);
  }
  return rc;
}

size_t engine_status_ops(const char *task_id, const char *old_status, const char *new_status,
                         agentai_kv_op *ops, char *keybuf) {
  size_t n = 0;
  if (old_status && new_status && strcmp(old_status, new_status) == 0)
    return 0;
  if (old_status) {
    int len = sprintf(keybuf, ENGINE_NS_BY_STATUS "%s/%s", old_status, task_id);
    ops[n++] = (agentai_kv_op){.type = AGENTAI_KV_DELETE, .key = keybuf, .key_len = (size_t)len};
    keybuf += 128;
  }
  if (new_status) {
    int len = sprintf(keybuf, ENGINE_NS_BY_STATUS "%s/%s", new_status, task_id);
    ops[n++] = (agentai_kv_op){AGENTAI_KV_PUT, keybuf, (size_t)len, "", 0};
  }
  return n;
}

/* Writes t's record plus its status index change and one event. */
static int write_transition(etask *t, const char *old_status, const char *type, cJSON *data,
                            void (*then)(etask *t, int err, void *ud), void *ud) {
  engine *e = t->eng;
  char now[32];
  engine_now_iso(now);
  set_str(t->rec, "updated_at", now);
  set_num(t->rec, "last_seq", (double)(t->last_seq + 1)); /* the event written with it */
  char *json = cJSON_PrintUnformatted(t->rec);
  if (!json) {
    cJSON_Delete(data);
    return AGENTAI_ENOMEM;
  }
  char tkey[64], keybuf[256];
  int tlen = snprintf(tkey, sizeof tkey, ENGINE_NS_TASK "%s", t->id);
  agentai_kv_op ops[3] = {{AGENTAI_KV_PUT, tkey, (size_t)tlen, json, strlen(json)}};
  size_t n = 1 + engine_status_ops(t->id, old_status, str_of(t->rec, "status"), ops + 1, keybuf);
  int rc = engine_write_event(e, t, t->id, t->agent_id, type, data, ops, n, then, ud);
  free(json);
  return rc;
}

/* ---- the run queue ---- */

agent_queue *engine_agent_queue(engine *e, const char *agent_id) {
  agent_queue *q = strmap_get(&e->queues, agent_id);
  if (q)
    return q;
  q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  snprintf(q->agent_id, sizeof q->agent_id, "%s", agent_id);
  if (strmap_put(&e->queues, agent_id, q) < 0) {
    free(q);
    return NULL;
  }
  return q;
}

static void ring_push(engine *e, agent_queue *q) {
  if (q->in_ring)
    return;
  q->in_ring = 1;
  q->ring_next = NULL;
  if (e->ring_tail)
    e->ring_tail->ring_next = q;
  else
    e->ring_head = q;
  e->ring_tail = q;
}

void engine_enqueue(engine *e, etask *t, int front) {
  agent_queue *q = engine_agent_queue(e, t->agent_id);
  t->state = ET_QUEUED;
  if (!q) { /* out of memory: it stays queued in storage and runs after a restart */
    log_printf(AGENTAI_LOG_ERROR, "engine", "out of memory queueing %s", t->id);
    return;
  }
  if (front) {
    t->qnext = q->head;
    q->head = t;
    if (!q->tail)
      q->tail = t;
  } else {
    t->qnext = NULL;
    if (q->tail)
      q->tail->qnext = t;
    else
      q->head = t;
    q->tail = t;
  }
  e->nqueued++;
  ring_push(e, q);
  engine_pump(e);
}

void engine_dequeue(engine *e, etask *t) {
  agent_queue *q = strmap_get(&e->queues, t->agent_id);
  if (!q || t->state != ET_QUEUED)
    return;
  etask **pp = &q->head, *prev = NULL;
  while (*pp && *pp != t) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (!*pp)
    return;
  *pp = t->qnext;
  if (q->tail == t)
    q->tail = prev;
  t->qnext = NULL;
  e->nqueued--;
  /* an empty queue leaves the ring lazily, in engine_pump */
}

static void start_attempt(etask *t);

void engine_pump(engine *e) {
  while (!e->shutting_down && e->nrunning < (size_t)e->max_running && e->ring_head) {
    agent_queue *q = e->ring_head;
    e->ring_head = q->ring_next;
    if (!e->ring_head)
      e->ring_tail = NULL;
    q->in_ring = 0;
    etask *t = q->head;
    if (!t)
      continue;
    q->head = t->qnext;
    if (!q->head)
      q->tail = NULL;
    t->qnext = NULL;
    e->nqueued--;
    if (q->head)
      ring_push(e, q); /* the next agent goes first next time: fair across agents */
    start_attempt(t);
  }
}

/* ---- timers ---- */

static void timer_closed(uv_handle_t *h) {
  free(h);
}

void engine_stop_timer(etask *t) {
  if (t->timer) {
    t->timer->data = NULL;
    uv_close((uv_handle_t *)t->timer, timer_closed);
    t->timer = NULL;
  }
}

static int start_timer(etask *t, int64_t ms, uv_timer_cb cb) {
  engine_stop_timer(t);
  t->timer = malloc(sizeof *t->timer);
  if (!t->timer)
    return AGENTAI_ENOMEM;
  uv_timer_init(t->eng->d.loop, t->timer);
  t->timer->data = t;
  uv_timer_start(t->timer, cb, ms > 0 ? (uint64_t)ms : 0, 0);
  return 0;
}

static void backoff_fired(uv_timer_t *h) {
  etask *t = h->data;
  if (!t)
    return;
  engine_stop_timer(t);
  t->eng->nbackoff--;
  engine_enqueue(t->eng, t, 0);
}

void engine_backoff(etask *t, int64_t delay_ms) {
  t->state = ET_BACKOFF;
  t->eng->nbackoff++;
  if (start_timer(t, delay_ms, backoff_fired) < 0) {
    t->eng->nbackoff--;
    engine_enqueue(t->eng, t, 0);
  }
}

/* ---- attempts ---- */

void engine_task_free(etask *t) {
  if (!t)
    return;
  engine_stop_timer(t);
  if (t->wf)
    lh_workflow_free(t->wf);
  cJSON_Delete(t->rec);
  cJSON_Delete(t->interrupt_payload);
  free(t->agent_json);
  free(t->input_json);
  for (size_t i = 0; i < t->journal_len; i++) {
    free((char *)t->journal[i].key);
    free((char *)t->journal[i].value);
  }
  free(t->journal);
  free(t);
}

void engine_inflight_done(engine *e) {
  e->inflight--;
  if (e->shutting_down && e->inflight == 0 && e->nrunning == 0 && e->shutdown_done) {
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    done(e->shutdown_ud);
  }
}

static void finished(etask *t, int err, void *ud) {
  (void)ud;
  engine *e = t->eng;
  const char *status = str_of(t->rec, "status");
  if (err < 0)
    log_printf(AGENTAI_LOG_ERROR, "engine",
               "task %s ended %s but the record could not be written: %s", t->id, status,
               agentai_strerror(err));
  if (status && !strcmp(status, "succeeded"))
    e->n_succeeded++;
  else if (status && !strcmp(status, "failed"))
    e->n_failed++;
  else
    e->n_cancelled++;
  agent_queue *q = strmap_get(&e->queues, t->agent_id);
  if (q && q->active)
    q->active--;
  strmap_remove(&e->active, t->id);
  engine_task_free(t);
  engine_pump(e);
}

static void add_usage(cJSON *obj, const etask *t) {
  cJSON *u = cJSON_GetObjectItemCaseSensitive(obj, "usage");
  if (!cJSON_IsObject(u)) {
    u = cJSON_CreateObject();
    set_item(obj, "usage", u);
  }
  double p = num_of(u, "prompt_tokens", 0) + (double)t->prompt_tokens;
  double c = num_of(u, "completion_tokens", 0) + (double)t->completion_tokens;
  set_num(u, "prompt_tokens", p);
  set_num(u, "completion_tokens", c);
  set_num(u, "total_tokens", p + c);
  set_num(u, "llm_calls", num_of(u, "llm_calls", 0) + (double)t->llm_calls);
}

/* The record's entry for the current attempt, or NULL. */
static cJSON *current_attempt(etask *t) {
  cJSON *list = cJSON_GetObjectItemCaseSensitive(t->rec, "attempts");
  int n = cJSON_GetArraySize(list);
  return n > 0 ? cJSON_GetArrayItem(list, n - 1) : NULL;
}

/* Closes the current attempt in the record: status, end, error, usage. */
static void close_attempt(etask *t, const char *status, const cJSON *error) {
  cJSON *a = current_attempt(t);
  if (!a || !str_of(a, "status") || strcmp(str_of(a, "status"), "running") != 0)
    return;
  char now[32];
  engine_now_iso(now);
  set_str(a, "status", status);
  set_str(a, "ended_at", now);
  set_item(a, "error", error ? cJSON_Duplicate(error, 1) : NULL);
  add_usage(a, t);
  add_usage(t->rec, t);
  t->prompt_tokens = t->completion_tokens = t->llm_calls = 0;
}

/* Ends t in a final status with its result or error (both owned). */
static void finish(etask *t, const char *status, cJSON *result, cJSON *error) {
  engine *e = t->eng;
  if (t->state == ET_STARTING || t->state == ET_RUNNING)
    e->nrunning--;
  if (t->state == ET_BACKOFF)
    e->nbackoff--;
  t->state = ET_FINISHING;
  engine_stop_timer(t);
  char *old = strdup(str_of(t->rec, "status") ? str_of(t->rec, "status") : "queued");
  close_attempt(t, status, error);
  char now[32];
  engine_now_iso(now);
  set_str(t->rec, "status", status);
  set_str(t->rec, "ended_at", now);
  set_item(t->rec, "next_attempt_at", NULL);
  cJSON_DeleteItemFromObjectCaseSensitive(t->rec, "cancel_requested");
  cJSON *data = cJSON_CreateObject();
  cJSON_AddNumberToObject(data, "attempt", num_of(t->rec, "attempt", 0));
  if (result)
    cJSON_AddItemToObject(data, "result", cJSON_Duplicate(result, 1));
  if (error)
    cJSON_AddItemToObject(data, "error", cJSON_Duplicate(error, 1));
  set_item(t->rec, "result", result);
  set_item(t->rec, "error", error);
  char type[32];
  snprintf(type, sizeof type, "task.%s", status);
  int rc = write_transition(t, old, type, data, finished, NULL);
  free(old);
  if (rc < 0)
    finished(t, rc, NULL);
}

static cJSON *make_error(const char *kind, const char *message, int retryable, int code) {
  cJSON *err = cJSON_CreateObject();
  cJSON_AddStringToObject(err, "kind", kind);
  cJSON_AddStringToObject(err, "message", message);
  cJSON_AddBoolToObject(err, "retryable", retryable);
  if (code)
    cJSON_AddNumberToObject(err, "code", code);
  return err;
}

/* Exponential backoff with full jitter in [delay/2, delay], at least the
 * provider's retry-after. */
static int64_t backoff_ms(const cJSON *agent, int attempt, int64_t retry_after_ms) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(agent, "retry");
  double initial = num_of(r, "initial_backoff_ms", 1000);
  double maxd = num_of(r, "max_backoff_ms", 60000);
  double mult = num_of(r, "multiplier", 2.0);
  double d = initial * pow(mult, attempt > 1 ? attempt - 1 : 0);
  if (d > maxd)
    d = maxd;
  unsigned short rnd = 0;
  RAND_bytes((unsigned char *)&rnd, sizeof rnd);
  int64_t ms = (int64_t)(d / 2 + (d / 2) * ((double)rnd / 65535.0));
  return ms < retry_after_ms ? retry_after_ms : ms;
}

static void retry_scheduled(etask *t, int err, void *ud) {
  int64_t delay = (int64_t)(intptr_t)ud;
  if (err < 0)
    log_printf(AGENTAI_LOG_ERROR, "engine", "cannot record the retry of %s: %s", t->id,
               agentai_strerror(err));
  t->eng->n_retried++;
  engine_backoff(t, delay);
}

/* Forgets the replayed attempt's journal: a new attempt has its own. */
static void drop_journal(etask *t) {
  for (size_t i = 0; i < t->journal_len; i++) {
    free((char *)t->journal[i].key);
    free((char *)t->journal[i].value);
  }
  t->journal_len = 0;
  t->resume = t->waking = 0;
}

/* A failed attempt: retried when the error allows and attempts remain. */
static void attempt_failed(etask *t, cJSON *error, int retryable, int64_t retry_after_ms) {
  engine *e = t->eng;
  const char *agent_json = engine_agent(e, t->agent_id);
  cJSON *agent = agent_json ? cJSON_Parse(agent_json) : NULL;
  int attempt = (int)num_of(t->rec, "attempt", 1);
  int max_attempts = (int)num_of(t->rec, "max_attempts", 1);
  if (!retryable || attempt >= max_attempts || e->shutting_down) {
    cJSON_Delete(agent);
    finish(t, "failed", NULL, error);
    return;
  }
  int64_t delay = backoff_ms(agent, attempt, retry_after_ms);
  cJSON_Delete(agent);
  drop_journal(t); /* the next attempt starts afresh, even after a replayed one */
  e->nrunning--;
  t->state = ET_FINISHING; /* until the retry is recorded */
  close_attempt(t, "failed", error);
  char at[32];
  int64_t when = engine_now_ms() + delay;
  iso_of(when, at);
  set_str(t->rec, "status", "queued");
  set_str(t->rec, "next_attempt_at", at);
  set_item(t->rec, "error", cJSON_Duplicate(error, 1));
  cJSON *data = cJSON_CreateObject();
  cJSON_AddNumberToObject(data, "attempt", attempt);
  cJSON_AddNumberToObject(data, "next_attempt", attempt + 1);
  cJSON_AddNumberToObject(data, "delay_ms", (double)delay);
  cJSON_AddItemToObject(data, "error", error);
  if (write_transition(t, "running", "task.retrying", data, retry_scheduled,
                       (void *)(intptr_t)delay) < 0)
    retry_scheduled(t, AGENTAI_ENOMEM, (void *)(intptr_t)delay);
  engine_pump(e);
}

static void now_waiting(etask *t, int err, void *ud) {
  (void)ud;
  engine *e = t->eng;
  if (err < 0) /* stored as running still: the next start replays it to the interrupt again */
    log_printf(AGENTAI_LOG_ERROR, "engine", "cannot record that %s waits for input: %s", t->id,
               agentai_strerror(err));
  agent_queue *q = strmap_get(&e->queues, t->agent_id);
  if (q && q->active)
    q->active--;
  strmap_remove(&e->active, t->id);
  engine_task_free(t);
  engine_pump(e);
}

/* The attempt stopped at ai.task.interrupt: the task waits, out of memory
 * and out of the run queue, until a resume answers it. The attempt stays
 * open ("waiting"); its usage is counted when it ends, as its replay
 * reports every recorded call again. */
static void wait_for_input(etask *t) {
  engine *e = t->eng;
  e->nrunning--;
  t->state = ET_FINISHING;
  engine_stop_timer(t);
  int n = (int)num_of(t->rec, "interrupts", 0) + 1;
  char id[32], now[32];
  snprintf(id, sizeof id, "int_%d", n);
  engine_now_iso(now);
  cJSON *intr = cJSON_CreateObject();
  cJSON_AddStringToObject(intr, "id", id);
  cJSON_AddItemToObject(intr, "payload", t->interrupt_payload);
  t->interrupt_payload = NULL;
  cJSON_AddStringToObject(intr, "at", now);
  cJSON_AddStringToObject(intr, "call", t->interrupt_call);
  cJSON *data = cJSON_CreateObject();
  cJSON_AddNumberToObject(data, "attempt", num_of(t->rec, "attempt", 1));
  cJSON *copy = cJSON_Duplicate(intr, 1);
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "call");
  cJSON_AddItemToObject(data, "interrupt", copy);
  set_num(t->rec, "interrupts", n);
  set_item(t->rec, "interrupt", intr);
  set_str(t->rec, "status", "waiting");
  cJSON *a = current_attempt(t);
  if (a)
    set_str(a, "status", "waiting");
  t->prompt_tokens = t->completion_tokens = t->llm_calls = 0;
  if (write_transition(t, "running", "task.waiting", data, now_waiting, NULL) < 0)
    now_waiting(t, AGENTAI_ENOMEM, NULL);
  engine_pump(e);
}

static void workflow_done(void *ud, lh_workflow *wf, const lh_outcome *o) {
  etask *t = ud;
  engine *e = t->eng;
  engine_stop_timer(t);
  t->wf = NULL;
  if (t->stopping) {
    /* Shutdown: the record stays "running"; the next start replays it. */
    lh_workflow_free(wf);
    e->nrunning--;
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
    e->inflight++;
    engine_inflight_done(e);
    return;
  }
  if (t->interrupt_payload && !t->cancel_requested && !t->timed_out) {
    lh_workflow_free(wf);
    wait_for_input(t);
    return;
  }
  if (o->status == 0) {
    cJSON *result = cJSON_Parse(o->result_json);
    lh_workflow_free(wf);
    finish(t, "succeeded", result ? result : cJSON_CreateNull(), NULL);
    return;
  }
  if (t->cancel_requested && o->status == AGENTAI_ECANCELED && !t->timed_out) {
    lh_workflow_free(wf);
    finish(t, "cancelled", NULL, make_error("cancelled", t->cancel_reason, 0, 0));
    return;
  }
  cJSON *error;
  int retryable = o->retryable;
  if (t->timed_out) {
    char msg[200];
    snprintf(msg, sizeof msg, "attempt %d exceeded the agent's time limit of %.0f ms",
             (int)num_of(t->rec, "attempt", 1), num_of(t->rec, "timeout_ms", 0));
    error = make_error("timeout", msg, 1, AGENTAI_ETIMEDOUT);
    retryable = 1;
  } else {
    error = make_error(o->error_kind ? o->error_kind : "lua_error",
                       o->error ? o->error : "workflow failed", retryable, o->status);
  }
  int64_t retry_after = o->retry_after_ms;
  lh_workflow_free(wf);
  attempt_failed(t, error, retryable, retry_after);
}

static void time_limit_fired(uv_timer_t *h) {
  etask *t = h->data;
  if (!t || !t->wf)
    return;
  t->timed_out = 1;
  lh_workflow_cancel(t->wf, "time limit exceeded");
}

/* Runs the attempt's workflow (journal loaded, record says running). */
static void launch(etask *t) {
  engine *e = t->eng;
  char err[1024];
  const char *agent_json = engine_agent(e, t->agent_id);
  cJSON *agent = agent_json ? cJSON_Parse(agent_json) : NULL;
  if (!agent) {
    snprintf(err, sizeof err, "agent %s no longer exists", t->agent_id);
    finish(t, "failed", NULL, make_error("agent_not_found", err, 0, AGENTAI_ENOENT));
    return;
  }
  const char *wfname = str_of(agent, "workflow");
  int rc = engine_find_workflow(e->d.cfg, wfname ? wfname : "", t->path, sizeof t->path);
  if (rc < 0) {
    snprintf(err, sizeof err, "workflow '%s' of agent %s is not in the workflow folders",
             wfname ? wfname : "", t->agent_id);
    cJSON_Delete(agent);
    finish(t, "failed", NULL, make_error("workflow_not_found", err, 0, rc));
    return;
  }
  const char *provider = str_of(agent, "provider"), *model = str_of(agent, "model");
  snprintf(t->provider, sizeof t->provider, "%s", provider ? provider : "");
  snprintf(t->model, sizeof t->model, "%s", model ? model : "");
  double timeout_ms = num_of(agent, "timeout_ms", 600000);
  cJSON_Delete(agent);
  free(t->agent_json);
  free(t->input_json);
  t->agent_json = strdup(agent_json);
  t->input_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t->rec, "input"));
  int attempt = (int)num_of(t->rec, "attempt", 1);
  snprintf(t->jprefix, sizeof t->jprefix, ENGINE_NS_JOURNAL "%s/%04d/", t->id, attempt);
  engine_task_hooks_init(t);
  lh_run_options opts = {.input_json = t->input_json,
                         .agent_json = t->agent_json,
                         .default_provider = t->provider[0] ? t->provider : NULL,
                         .default_model = t->model[0] ? t->model : NULL,
                         .task_id = t->id,
                         .attempt = attempt,
                         .journal_prefix = t->jprefix,
                         .journal = t->journal,
                         .journal_len = t->journal_len,
                         .hooks = &t->hooks};
  rc = lh_workflow_run(e->d.lua, t->path, &opts, workflow_done, t, &t->wf, err, sizeof err);
  if (rc < 0) {
    finish(t, "failed", NULL, make_error("workflow_error", err, 0, rc));
    return;
  }
  t->state = ET_RUNNING;
  start_timer(t, (int64_t)timeout_ms, time_limit_fired);
}

typedef struct journal_load {
  etask *t;
  int err;
} journal_load;

static int journal_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  journal_load *jl = ud;
  etask *t = jl->t;
  if (t->journal_len == t->journal_cap) {
    size_t cap = t->journal_cap ? t->journal_cap * 2 : 16;
    lh_journal_entry *grown = realloc(t->journal, cap * sizeof *grown);
    if (!grown) {
      jl->err = AGENTAI_ENOMEM;
      return 1;
    }
    t->journal = grown;
    t->journal_cap = cap;
  }
  char *k = malloc(klen + 1), *v = malloc(vlen + 1);
  if (!k || !v) {
    free(k);
    free(v);
    jl->err = AGENTAI_ENOMEM;
    return 1;
  }
  memcpy(k, key, klen);
  k[klen] = '\0';
  memcpy(v, value, vlen);
  v[vlen] = '\0';
  t->journal[t->journal_len++] = (lh_journal_entry){k, klen, v, vlen};
  return 0;
}

static void journal_loaded(void *ud, int err) {
  journal_load *jl = ud;
  etask *t = jl->t;
  engine *e = t->eng;
  if (!err)
    err = jl->err;
  free(jl);
  if (e->shutting_down) {
    e->nrunning--;
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
  } else if (err < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot read the task's journal: %s", agentai_strerror(err));
    finish(t, "failed", NULL, make_error("storage_error", msg, 0, err));
  } else {
    launch(t);
  }
  engine_inflight_done(e);
}

static void started(etask *t, int err, void *ud) {
  (void)ud;
  engine *e = t->eng;
  if (err < 0) {
    /* Not recorded as running: undo the attempt in memory too, and try
     * again later from the queue. */
    e->nrunning--;
    if (t->waking) { /* still queued in storage, its attempt paused */
      set_str(t->rec, "status", "queued");
      cJSON *a = current_attempt(t);
      if (a)
        set_str(a, "status", "waiting");
    }
    if (!t->resume) {
      set_str(t->rec, "status", "queued");
      set_num(t->rec, "attempt", num_of(t->rec, "attempt", 1) - 1);
      cJSON *list = cJSON_GetObjectItemCaseSensitive(t->rec, "attempts");
      int n = cJSON_GetArraySize(list);
      if (n > 0)
        cJSON_DeleteItemFromArray(list, n - 1);
    }
    engine_backoff(t, 1000);
    return;
  }
  if (e->shutting_down) {
    e->nrunning--;
    strmap_remove(&e->active, t->id);
    engine_task_free(t);
    return;
  }
  if (t->cancel_requested) {
    finish(t, "cancelled", NULL, make_error("cancelled", t->cancel_reason, 0, 0));
    return;
  }
  if (!t->resume) {
    launch(t);
    return;
  }
  journal_load *jl = calloc(1, sizeof *jl);
  if (!jl) {
    finish(t, "failed", NULL, make_error("out_of_memory", "cannot load the journal", 0, 0));
    return;
  }
  jl->t = t;
  char start[96], end[96];
  int attempt = (int)num_of(t->rec, "attempt", 1);
  int n = snprintf(start, sizeof start, ENGINE_NS_JOURNAL "%s/%04d/", t->id, attempt);
  size_t elen = store_prefix_end(start, (size_t)n, end);
  agentai_scan_range range = {start, (size_t)n, end, elen, 0, 0};
  store *st = e->d.store;
  e->inflight++;
  if (st->def->scan(st->db, NULL, &range, journal_item, journal_loaded, jl) < 0)
    journal_loaded(jl, AGENTAI_EIO);
}

static void start_attempt(etask *t) {
  engine *e = t->eng;
  t->state = ET_STARTING;
  e->nrunning++;
  e->n_started++;
  t->timed_out = 0;
  int rc;
  int attempt = (int)num_of(t->rec, "attempt", 0);
  if (t->resume) {
    /* After a crash the record says running; after a resume from waiting it
     * says queued, and its paused attempt runs again. */
    char old[16];
    snprintf(old, sizeof old, "%s", str_of(t->rec, "status") ? str_of(t->rec, "status") : "");
    t->waking = strcmp(old, "running") != 0;
    if (t->waking) {
      set_str(t->rec, "status", "running");
      cJSON *a = current_attempt(t);
      if (a)
        set_str(a, "status", "running");
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "attempt", attempt);
    cJSON_AddBoolToObject(data, "resumed", 1);
    rc = write_transition(t, old, "task.started", data, started, NULL);
  } else {
    char now[32];
    engine_now_iso(now);
    attempt++;
    set_num(t->rec, "attempt", attempt);
    set_str(t->rec, "status", "running");
    set_item(t->rec, "next_attempt_at", NULL);
    if (!str_of(t->rec, "started_at"))
      set_str(t->rec, "started_at", now);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(t->rec, "attempts");
    if (!cJSON_IsArray(list)) {
      list = cJSON_CreateArray();
      set_item(t->rec, "attempts", list);
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "attempt", attempt);
    cJSON_AddStringToObject(a, "status", "running");
    cJSON_AddStringToObject(a, "started_at", now);
    cJSON_AddItemToArray(list, a);
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "attempt", attempt);
    rc = write_transition(t, "queued", "task.started", data, started, NULL);
  }
  if (rc < 0)
    started(t, rc, NULL);
}
