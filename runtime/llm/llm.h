/* llm/llm.h — the model router: the one way runtime code calls a model. Model groups, retries
 * with backoff, fallbacks, per-deployment cooldowns, per-attempt time limits, the response cache.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "obs/metrics.h"
#include "plugin/loader.h"
#include "store/store.h"

typedef struct llm_router llm_router;
typedef struct llm_call llm_call;

/** What a call asks for. */
enum llm_kind {
  LLM_CHAT = 0,  /**< OpenAI Chat Completions request (streamed when "stream": true) */
  LLM_EMBED = 1, /**< OpenAI embeddings request */
};

/** How a call uses the response cache. */
enum llm_cache_mode {
  LLM_CACHE_USE = 0,     /**< read, and store a complete success (when the request is cacheable) */
  LLM_CACHE_BYPASS = 1,  /**< neither read nor store */
  LLM_CACHE_REFRESH = 2, /**< do not read; store the fresh answer */
};

/** One call. Every pointer is borrowed for llm_start() only. */
typedef struct llm_request {
  int kind;         /**< enum llm_kind */
  const char *json; /**< the request, a JSON object text with a string "model" */
  size_t len;
  const char *provider; /**< a registered provider to call directly (no model groups), or NULL */
  int cache_mode;       /**< enum llm_cache_mode */
  uint32_t timeout_ms;  /**< limit of each provider attempt; 0 = llm.timeout_ms */
  /** json already parsed by the caller (a cJSON tree), or NULL. Ownership passes to
   *  the router in every case, so a caller that validated the body does not pay for
   *  a second parse. */
  void *tree;
} llm_request;

/** How a call ended. Every pointer is borrowed for the done() callback only. */
typedef struct llm_result {
  int err;                    /**< 0 or the last attempt's AGENTAI_E* code */
  const char *message;        /**< on error: one line (no secrets) */
  int http_status;            /**< upstream status of the last attempt, 0 when none */
  int64_t retry_after_ms;     /**< on AGENTAI_ERATELIMIT: the wait asked for, else -1 */
  const char *ratelimit_json; /**< upstream rate-limit headers as a JSON object, or NULL */
  const char *response_json;  /**< on success: the response (for a stream: assembled) */
  size_t response_len;
  const char *provider; /**< deployment that answered (or was tried last); "cache" for a hit */
  const char *model;    /**< its model name */
  int cache_hit;        /**< 1 when answered from the cache */
  int attempts;         /**< provider attempts made */
  uint64_t upstream_ns; /**< time spent waiting on providers (and backoff), for overhead figures */
} llm_result;

/** Where a call's results go. Owned by the caller; valid until done() or llm_cancel(). */
typedef struct llm_sink {
  void *ud;
  /** A streamed chunk (OpenAI chat.completion.chunk JSON), borrowed for the call. NULL = ignore. */
  void (*delta)(void *ud, const char *chunk, size_t len);
  /** Exactly once per accepted call unless it is cancelled; may run before llm_start() returns. */
  void (*done)(void *ud, const llm_result *result);
} llm_sink;

/**
 * A router over the providers of reg, configured by cfg ([llm], [cache]).
 * st, when not NULL, persists the response cache (keys under "cache/").
 * All borrowed for the router's lifetime. Returns 0 or AGENTAI_ENOMEM.
 */
int llm_router_new(uv_loop_t *loop, plugin_registry *reg, store *st, const config *cfg,
                   llm_router **out);

/** Registers the router's counters in m (borrowed until llm_router_set_metrics(r, NULL),
 *  which forgets them). */
int llm_router_set_metrics(llm_router *r, metrics *m);

/**
 * Starts a call. Resolution of the request's model (when req->provider is NULL):
 * a configured model group; else "PROVIDER/MODEL" for a registered provider;
 * else the first provider whose info() lists the model; else llm.default_provider.
 * Returns 0 when accepted (done() runs exactly once; *out is the handle for
 * llm_cancel(), NULL when done() already ran), or a negative code with a
 * message in err (the sink is never called): AGENTAI_EINVAL for a request that
 * is not a JSON object with a string model, AGENTAI_ENOENT when no provider
 * serves the model.
 */
int llm_start(llm_router *r, const llm_request *req, const llm_sink *sink, llm_call **out,
              char *err, size_t err_len);

/** Cancels an accepted call whose done() has not run; the sink is never called again. */
void llm_cancel(llm_call *call);

/**
 * The public model list as an OpenAI list object text (malloc'd; caller frees):
 * the configured groups, then every model the providers declare, "owned_by"
 * naming the provider. NULL on ENOMEM.
 */
char *llm_models_json(llm_router *r);

/** Counters for tests and /metrics. */
typedef struct llm_stats {
  uint64_t calls, attempts, retries, fallbacks, cooldowns, failures;
  uint64_t cache_hits, cache_misses, cache_stores;
} llm_stats;
void llm_router_stats(const llm_router *r, llm_stats *out);

/** Cancels calls in flight (their sinks are not called) and frees the router. */
void llm_router_free(llm_router *r);
