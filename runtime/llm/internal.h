/* llm/internal.h — what the router's files share: deployments and their health, the cache. */
#pragma once

#include <cjson/cJSON.h>

#include "core/strmap.h"
#include "llm/llm.h"

/** A provider + model the router can send a call to, with its health. */
typedef struct llm_deployment {
  char *provider; /**< registry name */
  char *model;    /**< model name sent to the provider */
  int weight;     /**< relative share among the group's healthy deployments */
  cJSON *params;  /**< request members merged in (replacing), or NULL; owned */
  /* circuit breaker */
  uint64_t window_start_ms; /**< start of the current failure window */
  int failures;             /**< failures in the window */
  uint64_t cooled_until_ms; /**< skipped until then; 0 = closed */
  int probing;              /**< a half-open probe is in flight */
} llm_deployment;

/** A configured model group. */
typedef struct llm_group {
  char *name;
  llm_deployment **deps;
  size_t ndeps;
  char **fallbacks;
  size_t nfallbacks;
} llm_group;

/** Health verdicts for llm_health_*. */
int llm_health_usable(const llm_router *r, llm_deployment *d, uint64_t now_ms);
void llm_health_success(llm_router *r, llm_deployment *d);
void llm_health_failure(llm_router *r, llm_deployment *d, uint64_t now_ms);

/* ---- the response cache (cache.c) ---- */

typedef struct llm_cache llm_cache;

/** A cache over st (NULL: memory only) with cfg's [cache] settings. NULL when disabled or ENOMEM.
 */
llm_cache *llm_cache_new(store *st, const config *cfg);
void llm_cache_free(llm_cache *c);

/**
 * The cache key of a request: hex SHA-256 of its canonical form (kind, the
 * explicit provider when the call names one, and every
 * member but stream, stream_options, user and metadata, objects with sorted
 * members). Returns 0, or AGENTAI_ENOTSUP when the request must not be cached
 * (temperature above 0 unless cache.nonzero_temperature, n above 1).
 */
int llm_cache_key(const llm_cache *c, int kind, const char *provider, const cJSON *req,
                  char key[65]);

/** Looked-up response (NULL on a miss or an expired entry), borrowed for the call. */
typedef void (*llm_cache_cb)(void *ud, const char *response, size_t len);
/** Calls cb once, possibly before returning: from memory, else from storage. */
void llm_cache_get(llm_cache *c, const char *key, llm_cache_cb cb, void *ud);
/** Stores a complete successful response (memory now, storage in the background). */
void llm_cache_put(llm_cache *c, const char *key, const char *response, size_t len);

/* ---- chunks (chunks.c) ---- */

/**
 * Replays a whole chat.completion as the chunks a stream would have carried:
 * one with the role, content and tool calls, one with finish_reason and usage.
 * Calls emit(ud, chunk, len) for each. Returns 0 or AGENTAI_EINVAL/ENOMEM.
 */
int llm_chunks_from_response(const char *response, size_t len,
                             void (*emit)(void *ud, const char *chunk, size_t len), void *ud);
