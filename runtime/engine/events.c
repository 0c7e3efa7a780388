/* engine/events.c — subscriber lists keyed by task and agent id; removal is deferred while a
 * publish walks the lists, so callbacks may unsubscribe anything. */
#include "engine/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/strmap.h"

struct event_sub {
  event_sub *next;
  event_sub *dead_next;
  int scope;
  int dead;
  char id[IDS_MAX];
  event_fn fn;
  void *ud;
};

struct event_hub {
  strmap by_task;  /* id -> event_sub* list head */
  strmap by_agent; /* id -> event_sub* list head */
  event_sub *all;
  event_sub *dead; /* unsubscribed during a publish, freed after it */
  int publishing;
  size_t count;
};

event_hub *event_hub_new(void) {
  event_hub *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  strmap_init(&h->by_task);
  strmap_init(&h->by_agent);
  return h;
}

static void free_list(event_sub *s) {
  while (s) {
    event_sub *next = s->next;
    free(s);
    s = next;
  }
}

void event_hub_free(event_hub *h) {
  if (!h)
    return;
  strmap_iter it = 0;
  const char *key;
  void *value;
  while (strmap_next(&h->by_task, &it, &key, &value))
    free_list(value);
  it = 0;
  while (strmap_next(&h->by_agent, &it, &key, &value))
    free_list(value);
  free_list(h->all);
  strmap_free(&h->by_task);
  strmap_free(&h->by_agent);
  free(h);
}

static strmap *map_of(event_hub *h, int scope) {
  return scope == EVENT_SCOPE_TASK ? &h->by_task : scope == EVENT_SCOPE_AGENT ? &h->by_agent : NULL;
}

event_sub *event_hub_subscribe(event_hub *h, int scope, const char *id, event_fn fn, void *ud) {
  event_sub *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->scope = scope;
  s->fn = fn;
  s->ud = ud;
  strmap *m = map_of(h, scope);
  if (m) {
    snprintf(s->id, sizeof s->id, "%s", id ? id : "");
    s->next = strmap_get(m, s->id);
    if (strmap_put(m, s->id, s) < 0) {
      free(s);
      return NULL;
    }
  } else {
    s->next = h->all;
    h->all = s;
  }
  h->count++;
  return s;
}

/* Unlinks s from its list (the list head may change or go away). */
static void unlink_sub(event_hub *h, event_sub *s) {
  strmap *m = map_of(h, s->scope);
  event_sub *head = m ? strmap_get(m, s->id) : h->all;
  event_sub **pp = &head;
  while (*pp && *pp != s)
    pp = &(*pp)->next;
  if (*pp)
    *pp = s->next;
  if (!m)
    h->all = head;
  else if (head)
    strmap_put(m, s->id, head); /* replacing an existing key does not allocate */
  else
    strmap_remove(m, s->id);
}

void event_hub_unsubscribe(event_hub *h, event_sub *s) {
  if (!s || s->dead)
    return;
  s->dead = 1;
  h->count--;
  if (h->publishing) {
    s->dead_next = h->dead;
    h->dead = s;
    return;
  }
  unlink_sub(h, s);
  free(s);
}

static void deliver(event_sub *s, const event_msg *ev) {
  for (; s; s = s->next)
    if (!s->dead)
      s->fn(s->ud, ev);
}

void event_hub_publish(event_hub *h, const event_msg *ev) {
  h->publishing++;
  if (ev->task_id)
    deliver(strmap_get(&h->by_task, ev->task_id), ev);
  if (ev->agent_id)
    deliver(strmap_get(&h->by_agent, ev->agent_id), ev);
  deliver(h->all, ev);
  if (--h->publishing == 0) {
    while (h->dead) {
      event_sub *s = h->dead;
      h->dead = s->dead_next;
      unlink_sub(h, s);
      free(s);
    }
  }
}

size_t event_hub_count(const event_hub *h) {
  return h->count;
}
