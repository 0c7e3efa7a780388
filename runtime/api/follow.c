/* api/follow.c — subscribe first, then read the history in batches; a live event that arrives
 * during a read marks the follower dirty and the next read picks it up from storage. */
#include "api/follow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/errors.h"
#include "core/ids.h"

#define BATCH 128

typedef struct pending_event {
  uint64_t gseq;
  char key[96]; /* ev/<task>/<seq> */
  char *json;
  size_t len;
} pending_event;

struct follower {
  api *a;
  int scope;
  char id[IDS_MAX];
  uint64_t last; /* seq (task scope) or gseq (agent, all) last delivered */
  follow_fn fn;
  void *ud;
  event_sub *sub;
  int reading, dirty, stopped;
  /* the batch being read */
  pending_event batch[BATCH];
  size_t nbatch, pending_gets;
  int failed;
};

static void read_more(follower *f);

static void deliver(follower *f, const char *json, size_t len) {
  cJSON *ev = cJSON_ParseWithLength(json, len);
  if (!ev)
    return;
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(ev, "task_id");
  const cJSON *agent = cJSON_GetObjectItemCaseSensitive(ev, "agent_id");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  double seq = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ev, "seq"));
  double gseq = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ev, "gseq"));
  event_msg m = {.task_id = cJSON_IsString(task) ? task->valuestring : "",
                 .agent_id = cJSON_IsString(agent) ? agent->valuestring : "",
                 .seq = seq == seq ? (uint64_t)seq : 0,
                 .gseq = gseq == gseq ? (uint64_t)gseq : 0,
                 .type = cJSON_IsString(type) ? type->valuestring : "",
                 .json = json,
                 .len = len};
  uint64_t cursor = f->scope == EVENT_SCOPE_TASK ? m.seq : m.gseq;
  int wanted = f->scope != EVENT_SCOPE_AGENT || strcmp(m.agent_id, f->id) == 0;
  if (!f->stopped && cursor > f->last) {
    f->last = cursor;
    if (wanted && f->fn(f->ud, &m) < 0)
      f->stopped = 1;
  }
  cJSON_Delete(ev);
}

static void on_live(void *ud, const event_msg *ev) {
  follower *f = ud;
  if (f->stopped)
    return;
  if (f->reading) {
    f->dirty = 1;
    return;
  }
  if (ev->seq == 0 && ev->gseq == 0) { /* live-only (task.delta): no place in the sequence */
    if (f->fn(f->ud, ev) < 0)
      f->stopped = 1;
    return;
  }
  uint64_t cursor = f->scope == EVENT_SCOPE_TASK ? ev->seq : ev->gseq;
  if (cursor <= f->last)
    return;
  if (f->scope == EVENT_SCOPE_TASK && cursor != f->last + 1) {
    read_more(f); /* a gap cannot come from ordered publishing, but storage has it */
    return;
  }
  f->last = cursor;
  if (f->fn(f->ud, ev) < 0)
    f->stopped = 1;
}

static void batch_done(follower *f) {
  for (size_t i = 0; i < f->nbatch; i++) {
    if (f->batch[i].json)
      deliver(f, f->batch[i].json, f->batch[i].len);
    free(f->batch[i].json);
    f->batch[i].json = NULL;
  }
  int full = f->nbatch == BATCH;
  f->nbatch = 0;
  f->reading = 0;
  if (f->stopped && !f->sub) { /* stopped during the read */
    free(f);
    return;
  }
  if (!f->stopped && !f->failed && (full || f->dirty))
    read_more(f);
}

typedef struct get_ctx {
  follower *f;
  size_t i;
} get_ctx;

static void got_event(void *ud, int err, const void *value, size_t len) {
  get_ctx *g = ud;
  follower *f = g->f;
  pending_event *p = &f->batch[g->i];
  free(g);
  if (err == 0) {
    p->json = malloc(len + 1);
    if (p->json) {
      memcpy(p->json, value, len);
      p->json[len] = '\0';
      p->len = len;
    }
  } else if (err != AGENTAI_ENOENT) {
    f->failed = 1;
  }
  if (--f->pending_gets == 0)
    batch_done(f);
}

/* Task scope: the values are the events. Global scope: the values name them. */
static int scanned(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  follower *f = ud;
  pending_event *p = &f->batch[f->nbatch++];
  if (f->scope == EVENT_SCOPE_TASK) {
    p->json = malloc(vlen + 1);
    if (p->json) {
      memcpy(p->json, value, vlen);
      p->json[vlen] = '\0';
      p->len = vlen;
    }
  } else {
    char hex[20] = {0};
    size_t ns = strlen(ENGINE_NS_GLOBAL_EVENT);
    if (klen - ns < sizeof hex)
      memcpy(hex, (const char *)key + ns, klen - ns);
    p->gseq = strtoull(hex, NULL, 16);
    const char *v = value;
    const char *slash = memchr(v, '/', vlen);
    p->key[0] = '\0';
    if (slash && vlen < 64) {
      int tl = (int)(slash - v);
      snprintf(p->key, sizeof p->key, ENGINE_NS_EVENT "%.*s/%010llu", tl, v,
               strtoull(slash + 1, NULL, 10));
    }
  }
  return f->nbatch >= BATCH;
}

static void scan_done(void *ud, int err) {
  follower *f = ud;
  if (err < 0)
    f->failed = 1;
  if (f->scope == EVENT_SCOPE_TASK || f->nbatch == 0) {
    batch_done(f);
    return;
  }
  store *st = f->a->d.store;
  f->pending_gets = f->nbatch + 1;
  for (size_t i = 0; i < f->nbatch; i++) {
    get_ctx *g = f->batch[i].key[0] ? malloc(sizeof *g) : NULL;
    if (g) {
      g->f = f;
      g->i = i;
    }
    if (!g ||
        st->def->get(st->db, NULL, f->batch[i].key, strlen(f->batch[i].key), got_event, g) < 0) {
      free(g);
      f->pending_gets--;
    }
  }
  if (--f->pending_gets == 0)
    batch_done(f);
}

static void read_more(follower *f) {
  char start[96], end[96];
  int n, p;
  if (f->scope == EVENT_SCOPE_TASK) {
    n = snprintf(start, sizeof start, ENGINE_NS_EVENT "%s/%010" PRIu64, f->id, f->last + 1);
    p = snprintf(end, sizeof end, ENGINE_NS_EVENT "%s/", f->id);
  } else {
    n = snprintf(start, sizeof start, ENGINE_NS_GLOBAL_EVENT "%016" PRIx64, f->last + 1);
    p = snprintf(end, sizeof end, ENGINE_NS_GLOBAL_EVENT);
  }
  size_t elen = store_prefix_end(end, (size_t)p, end);
  agentai_scan_range r = {start, (size_t)n, end, elen, 0, BATCH};
  f->reading = 1;
  f->dirty = 0;
  f->failed = 0;
  f->nbatch = 0;
  store *st = f->a->d.store;
  if (st->def->scan(st->db, NULL, &r, scanned, scan_done, f) < 0) {
    f->failed = 1;
    batch_done(f);
  }
}

follower *follower_start(api *a, int scope, const char *id, uint64_t since, follow_fn fn,
                         void *ud) {
  follower *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  f->a = a;
  f->scope = scope;
  snprintf(f->id, sizeof f->id, "%s", id ? id : "");
  f->last = since;
  f->fn = fn;
  f->ud = ud;
  /* Subscribe first, then read: an event committed in between is either in
   * the read or announced after it, never lost. */
  f->sub = event_hub_subscribe(a->d.hub, scope, f->id, on_live, f);
  if (!f->sub) {
    free(f);
    return NULL;
  }
  read_more(f);
  return f;
}

void follower_stop(follower *f) {
  if (!f)
    return;
  f->stopped = 1;
  if (f->sub)
    event_hub_unsubscribe(f->a->d.hub, f->sub);
  f->sub = NULL;
  if (!f->reading)
    free(f);
  /* else: the read in progress frees it (batch_done) */
}
