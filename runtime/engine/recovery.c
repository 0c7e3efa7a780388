/* engine/recovery.c — opening the engine: agents into memory, the queue rebuilt from the status
 * index (interrupted attempts first), the global event sequence; and the graceful shutdown. */
#include "engine/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"

/* Startup reads go through the storage's callback interface and then spin
 * the loop until they are answered, which is only safe before serving. */
typedef struct sync_op {
  int done, err;
  void (*item)(void *ud, const char *key, size_t klen, const char *value, size_t vlen);
  void *ud;
} sync_op;

static int sync_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  sync_op *s = ud;
  s->item(s->ud, key, klen, value, vlen);
  return 0;
}

static void sync_done(void *ud, int err) {
  sync_op *s = ud;
  s->err = err;
  s->done = 1;
}

static void sync_get_done(void *ud, int err, const void *value, size_t len) {
  sync_op *s = ud;
  if (err == 0)
    s->item(s->ud, NULL, 0, value, len);
  s->err = err;
  s->done = 1;
}

static int sync_scan(engine *e, const char *prefix, int reverse, size_t limit,
                     void (*item)(void *, const char *, size_t, const char *, size_t), void *ud) {
  char end[128];
  size_t plen = strlen(prefix);
  size_t elen = store_prefix_end(prefix, plen, end);
  agentai_scan_range r = {prefix, plen, end, elen, reverse ? AGENTAI_SCAN_REVERSE : 0, limit};
  sync_op s = {.item = item, .ud = ud};
  store *st = e->d.store;
  int rc = st->def->scan(st->db, NULL, &r, sync_item, sync_done, &s);
  if (rc < 0)
    return rc;
  while (!s.done)
    uv_run(e->d.loop, UV_RUN_ONCE);
  return s.err;
}

static int sync_get(engine *e, const char *key,
                    void (*item)(void *, const char *, size_t, const char *, size_t), void *ud) {
  sync_op s = {.item = item, .ud = ud};
  store *st = e->d.store;
  int rc = st->def->get(st->db, NULL, key, strlen(key), sync_get_done, &s);
  if (rc < 0)
    return rc;
  while (!s.done)
    uv_run(e->d.loop, UV_RUN_ONCE);
  return s.err;
}

static void agent_item(void *ud, const char *key, size_t klen, const char *value, size_t vlen) {
  engine *e = ud;
  char id[IDS_MAX + 8];
  size_t ns = strlen(ENGINE_NS_AGENT);
  if (klen - ns >= sizeof id)
    return;
  memcpy(id, key + ns, klen - ns);
  id[klen - ns] = '\0';
  char *json = strndup(value, vlen);
  if (json && strmap_put(&e->agents, id, json) < 0)
    free(json);
}

static void gseq_item(void *ud, const char *key, size_t klen, const char *value, size_t vlen) {
  (void)value;
  (void)vlen;
  engine *e = ud;
  char hex[20] = {0};
  size_t ns = strlen(ENGINE_NS_GLOBAL_EVENT);
  if (klen - ns < sizeof hex)
    memcpy(hex, key + ns, klen - ns);
  e->gseq = strtoull(hex, NULL, 16);
}

typedef struct id_list {
  char (*ids)[IDS_MAX];
  size_t n, cap;
  size_t skip; /* prefix length */
} id_list;

static void id_item(void *ud, const char *key, size_t klen, const char *value, size_t vlen) {
  (void)value;
  (void)vlen;
  id_list *l = ud;
  if (klen - l->skip >= IDS_MAX)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    void *grown = realloc(l->ids, cap * sizeof *l->ids);
    if (!grown)
      return;
    l->ids = grown;
    l->cap = cap;
  }
  memcpy(l->ids[l->n], key + l->skip, klen - l->skip);
  l->ids[l->n][klen - l->skip] = '\0';
  l->n++;
}

static void record_item(void *ud, const char *key, size_t klen, const char *value, size_t vlen) {
  (void)key;
  (void)klen;
  cJSON **out = ud;
  *out = cJSON_ParseWithLength(value, vlen);
}

static void seq_item(void *ud, const char *key, size_t klen, const char *value, size_t vlen) {
  (void)value;
  (void)vlen;
  uint64_t *seq = ud;
  const char *slash = memrchr(key, '/', klen);
  if (slash) {
    char digits[24] = {0};
    size_t n = klen - (size_t)(slash + 1 - key);
    if (n < sizeof digits)
      memcpy(digits, slash + 1, n);
    *seq = strtoull(digits, NULL, 10);
  }
}

/* A queued task whose last attempt is paused ("waiting") was resumed from
 * ai.task.interrupt and continues that attempt from its journal. */
static int paused_attempt(const cJSON *rec) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(rec, "attempts");
  int n = cJSON_GetArraySize(list);
  const cJSON *status =
      n > 0 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, n - 1), "status") : NULL;
  return cJSON_IsString(status) && strcmp(status->valuestring, "waiting") == 0;
}

/* Loads the tasks of one status into the queue. */
static int recover_status(engine *e, const char *status, int resume) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, ENGINE_NS_BY_STATUS "%s/", status);
  id_list l = {.skip = strlen(prefix)};
  int rc = sync_scan(e, prefix, 0, 0, id_item, &l);
  int64_t now = engine_now_ms();
  for (size_t i = 0; rc == 0 && i < l.n; i++) {
    char key[80];
    snprintf(key, sizeof key, ENGINE_NS_TASK "%s", l.ids[i]);
    cJSON *rec = NULL;
    if (sync_get(e, key, record_item, &rec) < 0 || !rec) {
      log_printf(AGENTAI_LOG_ERROR, "engine", "index names %s but its record is unreadable",
                 l.ids[i]);
      cJSON_Delete(rec);
      continue;
    }
    etask *t = calloc(1, sizeof *t);
    if (!t) {
      cJSON_Delete(rec);
      rc = AGENTAI_ENOMEM;
      break;
    }
    t->eng = e;
    t->rec = rec;
    t->resume = resume || paused_attempt(rec);
    snprintf(t->id, sizeof t->id, "%s", l.ids[i]);
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(rec, "agent_id");
    snprintf(t->agent_id, sizeof t->agent_id, "%s",
             cJSON_IsString(agent) ? agent->valuestring : "");
    char evprefix[80];
    snprintf(evprefix, sizeof evprefix, ENGINE_NS_EVENT "%s/", t->id);
    sync_scan(e, evprefix, 1, 1, seq_item, &t->last_seq);
    if (strmap_put(&e->active, t->id, t) < 0) {
      engine_task_free(t);
      rc = AGENTAI_ENOMEM;
      break;
    }
    agent_queue *q = engine_agent_queue(e, t->agent_id);
    if (q)
      q->active++;
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(rec, "next_attempt_at");
    int64_t due = cJSON_IsString(next) ? engine_parse_iso(next->valuestring) : -1;
    if (!resume && due > now)
      engine_backoff(t, due - now);
    else
      engine_enqueue(e, t, 0);
  }
  free(l.ids);
  return rc;
}

int engine_open(const engine_deps *deps, engine **out, char *err, size_t err_len) {
  engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(err, err_len, "out of memory");
    return AGENTAI_ENOMEM;
  }
  e->d = *deps;
  e->max_running =
      deps->cfg && deps->cfg->engine_max_running > 0 ? deps->cfg->engine_max_running : 16;
  strmap_init(&e->agents);
  strmap_init(&e->active);
  strmap_init(&e->queues);
  strmap_init(&e->pending_idem);
  int rc = sync_scan(e, ENGINE_NS_AGENT, 0, 0, agent_item, e);
  if (rc == 0)
    rc = sync_scan(e, ENGINE_NS_GLOBAL_EVENT, 1, 1, gseq_item, e);
  /* Interrupted attempts first: they hold work already half done. */
  if (rc == 0)
    rc = recover_status(e, "running", 1);
  if (rc == 0)
    rc = recover_status(e, "queued", 0);
  if (rc < 0) {
    snprintf(err, err_len, "cannot recover tasks from storage: %s", agentai_strerror(rc));
    e->shutting_down = 1;
    engine_free(e);
    return rc;
  }
  if (e->nrunning || e->nqueued || e->nbackoff)
    log_printf(AGENTAI_LOG_INFO, "engine", "recovered %zu running and %zu queued tasks",
               e->nrunning, e->nqueued + e->nbackoff);
  *out = e;
  return 0;
}

void engine_shutdown(engine *e, void (*done)(void *ud), void *ud) {
  e->shutting_down = 1;
  e->shutdown_done = done;
  e->shutdown_ud = ud;
  strmap_iter it = 0;
  const char *key;
  void *value;
  while (strmap_next(&e->active, &it, &key, &value)) {
    etask *t = value;
    if (t->state == ET_RUNNING && t->wf) {
      t->stopping = 1;
      lh_workflow_cancel(t->wf, "the runtime is shutting down");
    } else if (t->state == ET_BACKOFF) {
      engine_stop_timer(t); /* it is stored as queued with its due time */
    }
  }
  /* Completion is reported by the last workflow or write to finish. */
  e->inflight++;
  engine_inflight_done(e);
}

void engine_free(engine *e) {
  if (!e)
    return;
  strmap_iter it = 0;
  const char *key;
  void *value;
  while (strmap_next(&e->active, &it, &key, &value))
    engine_task_free(value);
  it = 0;
  while (strmap_next(&e->agents, &it, &key, &value))
    free(value);
  it = 0;
  while (strmap_next(&e->queues, &it, &key, &value))
    free(value);
  strmap_free(&e->active);
  strmap_free(&e->agents);
  strmap_free(&e->queues);
  strmap_free(&e->pending_idem);
  free(e);
}
