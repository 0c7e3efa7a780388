/* lua/workflow.h — runs a Lua workflow in its own sandboxed VM on the loop: the Lua host's public
 * API. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "plugin/loader.h"
#include "store/store.h"

/** What workflows reach through `require("agentai")`. Borrowed; must outlive
 *  every workflow started with it. */
typedef struct lh_services {
  uv_loop_t *loop;
  plugin_registry *plugins;     /**< providers for ai.llm */
  store *store;                 /**< ai.kv; NULL = ai.kv calls fail with a clear error */
  const config *cfg;            /**< limits and workflow_dirs */
  const char *default_provider; /**< ai.llm.chat without provider=; NULL = the router's choice */
  struct llm_router *llm; /**< the model router; NULL = ai.llm calls fail with a clear error */
} lh_services;

typedef struct lh_workflow lh_workflow;

/** The folder of the Lua layer shipped with the runtime (modules in lib/, built-in
 *  workflows in workflows/), searched after the configured folders; NULL when absent. */
const char *lh_builtin_scripts_dir(void);

/** One recorded call of a task attempt's journal: the storage key and the
 *  entry's JSON bytes. */
typedef struct lh_journal_entry {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} lh_journal_entry;

/** What the runtime tells the task engine while a task's workflow runs.
 *  Called on the loop thread; may be NULL members. */
typedef struct lh_task_hooks {
  void *ud;
  /**
   * ai.task.emit(kind, data): writes the event. The journal entry
   * (jkey/jvalue, borrowed for the call) must be committed in the same atomic
   * batch, so a replay knows the event was already written. Returns 0 or a
   * negative code (raised in the workflow).
   */
  int (*emit)(void *ud, const char *kind, const char *data_json, const char *jkey, size_t jkey_len,
              const char *jvalue, size_t jvalue_len);
  /** A journaled call of kind completed, live or replayed (replayed=1);
   *  result_json is its result (borrowed), e.g. a chat response with usage. */
  void (*on_call)(void *ud, const char *kind, const char *result_json, size_t len, int replayed);
  /** A streamed model chunk (chat.completion.chunk JSON, borrowed) of a live
   *  ai.llm.chat call: published to live subscribers, never stored. */
  void (*delta)(void *ud, const char *chunk_json, size_t len);
  /**
   * ai.task.interrupt(payload): the workflow waits for input. jkey (borrowed)
   * is the storage key of the journal entry that will hold the answer: the
   * engine writes there LH_INTERRUPT_ENTRY_HEAD, the answer's JSON and "}".
   * payload_json (borrowed) is the payload. Returns 0 to pause: the attempt
   * then ends with AGENTAI_ECANCELED (kind "interrupted") and nothing of it is
   * lost; or a negative code, raised in the workflow.
   */
  int (*interrupt)(void *ud, const char *payload_json, size_t len, const char *jkey,
                   size_t jkey_len);
} lh_task_hooks;

/** The head of ai.task.interrupt's journal entry (kind "task.interrupt", hash
 *  0: the payload is not compared on replay); the answer's JSON and "}"
 *  follow. */
#define LH_INTERRUPT_ENTRY_HEAD "{\"k\":\"task.interrupt\",\"h\":\"0000000000000000\",\"ok\":"

/** How to run a workflow. Strings and arrays are borrowed until done is
 *  called. Zero everything for a plain run (`agentai run`). */
typedef struct lh_run_options {
  const char *input_json;       /**< the workflow's first argument; NULL = nil */
  const char *agent_json;       /**< second argument and ai.task.agent; NULL = nil */
  const char *default_provider; /**< ai.llm.chat without provider=; NULL = svc's */
  const char *default_model;    /**< ai.llm.chat without model=; NULL = none */
  const char *task_id;          /**< ai.task.id; NULL = not a task (no ai.task) */
  int attempt;                  /**< ai.task.attempt, from 1 */
  /** Storage key prefix of this attempt's journal; NULL = no journal. Every
   *  side-effecting call (ai.llm.chat, ai.kv writes, ai.task.emit, and the
   *  reads and clocks a replay must see the same) is recorded under it. */
  const char *journal_prefix;
  const lh_journal_entry *journal; /**< what an earlier run recorded, sorted by key */
  size_t journal_len;
  const lh_task_hooks *hooks; /**< NULL = none */
} lh_run_options;

/** How a workflow ended. */
typedef struct lh_outcome {
  int status;              /**< 0 succeeded, or a negative AGENTAI_E* code */
  const char *result_json; /**< on success: the function's first return value as JSON */
  const char *error;       /**< on failure: message with file:line and a traceback */
  const char *error_kind;  /**< on failure: "lua_error", "memory_limit", "cpu_limit",
                                "cancelled", or an error kind raised by a binding */
  int retryable;           /**< on failure: the error says a new attempt may succeed */
  int64_t retry_after_ms;  /**< on failure: the error's retry_after, or -1 */
  uint64_t instructions;   /**< VM instructions counted (approximate, hook granularity) */
  size_t memory_peak;      /**< highest VM memory use, bytes */
} lh_outcome;

/** Called once on the loop thread when the workflow ends. The outcome's
 *  strings are borrowed for the call. The workflow may be freed from here. */
typedef void (*lh_done_fn)(void *ud, lh_workflow *wf, const lh_outcome *outcome);

/**
 * Loads path (a text Lua file returning a function) into a fresh sandboxed
 * VM and starts it with input_json decoded as its argument (NULL = nil).
 * Returns 0 when started (done will be called later, never inline), or a
 * negative code with the reason in err (file missing, syntax error with
 * file:line, malformed input JSON).
 */
int lh_workflow_start(const lh_services *svc, const char *path, const char *input_json,
                      lh_done_fn done, void *ud, lh_workflow **out, char *err, size_t err_len);

/**
 * lh_workflow_start() with run options: the input, the agent's settings, the
 * task context (ai.task) and the journal to replay and extend. opts is
 * copied; what it points to is borrowed until done is called.
 */
int lh_workflow_run(const lh_services *svc, const char *path, const lh_run_options *opts,
                    lh_done_fn done, void *ud, lh_workflow **out, char *err, size_t err_len);

/** Stops a running workflow at its next yield point or hook; done is called
 *  with AGENTAI_ECANCELED. No-op once done has been called. */
void lh_workflow_cancel(lh_workflow *wf, const char *reason);

/** Bytes the workflow's VM holds now. */
size_t lh_workflow_memory(const lh_workflow *wf);

/** Releases a finished workflow's VM (must not be running: call after done). */
void lh_workflow_free(lh_workflow *wf);
