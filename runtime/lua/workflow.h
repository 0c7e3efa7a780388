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
  const char *default_provider; /**< ai.llm.chat without provider=; NULL = "mock" */
} lh_services;

typedef struct lh_workflow lh_workflow;

/** How a workflow ended. */
typedef struct lh_outcome {
  int status;              /**< 0 succeeded, or a negative AGENTAI_E* code */
  const char *result_json; /**< on success: the function's first return value as JSON */
  const char *error;       /**< on failure: message with file:line and a traceback */
  const char *error_kind;  /**< on failure: "lua_error", "memory_limit", "cpu_limit",
                                "cancelled", or an error kind raised by a binding */
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

/** Stops a running workflow at its next yield point or hook; done is called
 *  with AGENTAI_ECANCELED. No-op once done has been called. */
void lh_workflow_cancel(lh_workflow *wf, const char *reason);

/** Releases a finished workflow's VM (must not be running: call after done). */
void lh_workflow_free(lh_workflow *wf);
