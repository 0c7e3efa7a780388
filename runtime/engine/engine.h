/* engine/engine.h — the durable task engine: agents, the persistent queue, attempts, retries,
 * events, the journal, crash recovery and graceful shutdown. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "core/config.h"
#include "engine/events.h"
#include "lua/workflow.h"
#include "store/store.h"

/*
 * Storage layout (every key under one prefix per record kind; ids are
 * time-sortable, so id order is creation order):
 *
 *   agt/<agent_id>                          agent record (JSON)
 *   tsk/<task_id>                           task record (JSON)
 *   ix/ts/<status>/<task_id>                tasks by status (empty value)
 *   ix/ta/<agent_id>/<task_id>              tasks by agent (empty value)
 *   idem/<agent_id>/<idempotency key>       {"task_id":..,"hash":..} of a submission
 *   ev/<task_id>/<seq: 10 digits>           event (JSON)
 *   evg/<gseq: 16 hex digits>               "<task_id>/<seq>": events in global order
 *   jr/<task_id>/<attempt: 4 digits>/<fiber path>/<call: 8 digits>   journal entry
 *
 * Index keys and events are written in the same atomic batch as the record
 * they describe, so an index never points at a record that does not say so.
 */
#define ENGINE_NS_AGENT "agt/"
#define ENGINE_NS_TASK "tsk/"
#define ENGINE_NS_BY_STATUS "ix/ts/"
#define ENGINE_NS_BY_AGENT "ix/ta/"
#define ENGINE_NS_IDEM "idem/"
#define ENGINE_NS_EVENT "ev/"
#define ENGINE_NS_GLOBAL_EVENT "evg/"
#define ENGINE_NS_JOURNAL "jr/"

/** Task states as stored in records. "waiting": paused at ai.task.interrupt
 *  until POST /v1/tasks/{id}/resume (not in memory, not counted as running). */
#define ENGINE_TASK_STATUSES "queued", "running", "waiting", "succeeded", "failed", "cancelled"

typedef struct engine engine;

/** What the engine runs on. Borrowed for the engine's lifetime. */
typedef struct engine_deps {
  uv_loop_t *loop;
  store *store;
  const lh_services *lua; /**< workflows run with these services */
  const config *cfg;
  event_hub *hub; /**< committed events are published here */
  /** Called with the seconds each write batch took to become durable (for
   *  metrics); may be NULL. */
  void (*on_commit)(void *ud, double seconds);
  void *on_commit_ud;
} engine_deps;

/**
 * Opens the engine: loads agents, rebuilds the queue from the status index
 * (tasks that were running when the process stopped resume first, replaying
 * their journal), and starts running up to cfg->engine_max_running tasks.
 * Runs the loop until storage answers (startup only). Errors say why.
 */
int engine_open(const engine_deps *deps, engine **out, char *err, size_t err_len);

/**
 * Graceful stop: no new attempts start; running workflows are stopped at
 * their next yield point without being marked finished (they stay "running"
 * in storage and resume from their journal on the next start). done(ud)
 * runs on the loop once nothing is in flight.
 */
void engine_shutdown(engine *e, void (*done)(void *ud), void *ud);

/** Frees the engine (after engine_shutdown's done). */
void engine_free(engine *e);

/** Sets (or with fn NULL clears) the commit observer of engine_deps. */
void engine_set_commit_observer(engine *e, void (*fn)(void *ud, double seconds), void *ud);

/** Result of an asynchronous engine call: err 0 with the record (JSON text,
 *  borrowed for the call), or a negative code with a message for the client
 *  (err AGENTAI_ENOENT: not found; AGENTAI_EBUSY: wrong state/conflict). */
typedef void (*engine_result_fn)(void *ud, int err, const char *json, const char *message);

/* ---- agents ---- */

/** The agent's record (borrowed until the next change of that agent), or NULL. */
const char *engine_agent(engine *e, const char *agent_id);
/** Stores a new or changed agent record (owned by the caller; copied).
 *  cb runs after it is durable. */
int engine_agent_put(engine *e, const char *agent_id, const cJSON *record, engine_result_fn cb,
                     void *ud);
/** Deletes an agent; AGENTAI_EBUSY (via cb) while it has queued or running tasks. */
int engine_agent_delete(engine *e, const char *agent_id, engine_result_fn cb, void *ud);
/** Finds workflow name (validated: [A-Za-z0-9_-], 1..64) in the configured
 *  workflow folders; writes its path. 0, AGENTAI_EINVAL (bad name) or
 *  AGENTAI_ENOENT. */
int engine_find_workflow(const config *cfg, const char *name, char *path, size_t path_len);

/* ---- tasks ---- */

/**
 * Submits a task for agent_id with input (any JSON value; borrowed). With an
 * idempotency key, a submission repeated with the same key and the same
 * request_hash answers the first task (cb's err 0, and *replayed semantics
 * are in the record's "idempotency_key"); a different hash is AGENTAI_EEXIST.
 * cb runs once the task is durably committed.
 */
int engine_submit(engine *e, const char *agent_id, const cJSON *input, const char *idem_key,
                  uint64_t request_hash, engine_result_fn cb, void *ud);

/** Cancels a queued, running or waiting task (running: at its next yield
 *  point). AGENTAI_EBUSY when it already finished. */
int engine_cancel(engine *e, const char *task_id, engine_result_fn cb, void *ud);

/** Queues a failed or cancelled task again as its next attempt.
 *  AGENTAI_EBUSY when it is not failed or cancelled. */
int engine_retry(engine *e, const char *task_id, engine_result_fn cb, void *ud);

/**
 * Resumes a task waiting at ai.task.interrupt: value (any JSON; borrowed)
 * becomes what that call returns. It is written as the call's journal entry
 * in one batch with the record (status "queued", interrupt null) and a
 * task.resumed event; then the attempt runs again from its journal. With
 * interrupt_id (may be NULL), it must name the pending interrupt. cb gets the
 * record once durable, AGENTAI_ENOENT for an unknown task, or AGENTAI_EBUSY
 * with a message (not waiting: names its status; a stale interrupt id; the
 * agent was deleted; another resume or cancel in flight).
 */
int engine_resume(engine *e, const char *task_id, const cJSON *value, const char *interrupt_id,
                  engine_result_fn cb, void *ud);

/** The record of a queued or running task as the engine holds it (newer than
 *  storage while a write is in flight), printed into a malloc'd string; NULL
 *  when the task is not active. */
char *engine_active_task(engine *e, const char *task_id);

/** Counters for metrics and readiness. */
typedef struct engine_stats {
  size_t queued, running, waiting_retry;
  uint64_t started, succeeded, failed, cancelled, retried;
  size_t lua_memory; /**< bytes in use by the running workflows' VMs */
} engine_stats;
void engine_get_stats(const engine *e, engine_stats *out);

/** The current time as ISO 8601 UTC with milliseconds, the records' time format. */
void engine_now_iso(char out[32]);

/** Builds the event key of task_id's event seq into out (>= 64 bytes). */
size_t engine_event_key(const char *task_id, uint64_t seq, char *out);
