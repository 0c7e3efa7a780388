/* engine/events.h — the live side of task events: subscriptions by task, agent or everything. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** What a subscription follows. */
enum event_scope { EVENT_SCOPE_TASK = 1, EVENT_SCOPE_AGENT = 2, EVENT_SCOPE_ALL = 3 };

/** One committed event, as published (borrowed for the callback). */
typedef struct event_msg {
  const char *task_id;
  const char *agent_id;
  uint64_t seq;  /**< per task, from 1, no gaps */
  uint64_t gseq; /**< across all tasks of this process's data folder, increasing */
  const char *type;
  const char *json; /**< the whole event object */
  size_t len;
} event_msg;

typedef void (*event_fn)(void *ud, const event_msg *ev);

typedef struct event_hub event_hub;
typedef struct event_sub event_sub;

/** A hub with no subscribers; NULL on ENOMEM. */
event_hub *event_hub_new(void);
/** Frees the hub and any subscription still on it. */
void event_hub_free(event_hub *h);

/** Calls fn(ud, ev) for every event published from now on in scope (id is the
 *  task or agent id; ignored for EVENT_SCOPE_ALL). NULL on ENOMEM. */
event_sub *event_hub_subscribe(event_hub *h, int scope, const char *id, event_fn fn, void *ud);

/** Ends a subscription; fn is not called again. Safe from inside fn, for
 *  this or any other subscription. */
void event_hub_unsubscribe(event_hub *h, event_sub *s);

/** Delivers ev to the subscribers of its task, of its agent, and of all. */
void event_hub_publish(event_hub *h, const event_msg *ev);

/** Live subscriptions (for metrics). */
size_t event_hub_count(const event_hub *h);
