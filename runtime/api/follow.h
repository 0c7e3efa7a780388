/* api/follow.h — following events: the stored history after a cursor, then live, with no gap and
 * no duplicate; shared by Server-Sent Events and WebSocket subscriptions. */
#pragma once

#include <stdint.h>

#include "api/api.h"
#include "engine/events.h"

typedef struct follower follower;

/** Receives one event (borrowed for the call). Return 0 to go on, or a
 *  negative value to stop receiving (the owner then calls follower_stop,
 *  which fn itself must not call). */
typedef int (*follow_fn)(void *ud, const event_msg *ev);

/**
 * Starts following scope (EVENT_SCOPE_TASK: id is a task, since a per-task
 * seq; EVENT_SCOPE_AGENT: id is an agent, since a gseq; EVENT_SCOPE_ALL: id
 * ignored, since a gseq). Events after since are delivered in order: first
 * those in storage, then live ones. fn may be called before this returns.
 * NULL on ENOMEM.
 */
follower *follower_start(api *a, int scope, const char *id, uint64_t since, follow_fn fn, void *ud);

/** Stops delivery at once and releases the follower (later, if a storage
 *  read is in flight). Not from inside fn. */
void follower_stop(follower *f);
