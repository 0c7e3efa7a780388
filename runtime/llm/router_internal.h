/* llm/router_internal.h — the router and call structures, shared by router.c, resolve.c and
 * health.c. */
#pragma once

#include <cjson/cJSON.h>

#include "agentai/provider.h"
#include "llm/internal.h"

enum { TIMER_NONE = 0, TIMER_ATTEMPT, TIMER_BACKOFF };

struct llm_router {
  uv_loop_t *loop;
  plugin_registry *reg;
  const config *cfg;
  llm_cache *cache;
  llm_group *groups;
  size_t ngroups;
  strmap implicit; /**< "provider\x1fmodel" -> llm_deployment*, for calls outside groups */
  strmap declared; /**< model -> provider name, from the providers' info() "models" */
  int declared_loaded;
  llm_call *live; /**< calls in flight */
  llm_stats stats;
  metric_family *m_calls, *m_retries, *m_fallbacks, *m_cooldowns, *m_cache;
};

struct llm_call {
  llm_router *r;
  llm_call *prev, *next;
  llm_sink sink;
  int kind, cache_mode, stream;
  uint32_t timeout_ms;
  cJSON *req;     /**< the parsed request */
  char *req_text; /**< and its text */
  size_t req_len;
  const char *public_model; /**< borrowed from req */
  llm_deployment **cands;   /**< deployments in the order they are tried */
  size_t ncands, cand_i;
  int tracked; /**< cands belong to groups: their health counts */
  int retries_used, attempts;
  const agentai_provider_def *prov;
  char prov_name[64];
  void *pcall;
  uv_timer_t timer;
  int timer_mode;
  int in_chat, outcome_pending, streamed, finished, cache_wait, cache_hit;
  int cacheable;
  char key[65];
  uint64_t attempt_started_ns, upstream_ns;
  /* the last outcome */
  int err, http_status;
  int64_t retry_after_ms;
  char msg[512];
  char *ratelimit;
  char *response;
  size_t response_len;
};

/** Fills c->cands for its model (or the explicit provider). 0 or a negative code with err. */
int llm_resolve(llm_router *r, llm_call *c, const char *provider, char *err, size_t err_len);
/** Milliseconds until the first deployment of model's group leaves its cooldown. */
uint64_t llm_soonest_recovery(llm_router *r, const char *model, uint64_t now_ms);

/** Metrics (no-ops without a registry). */
void llm_metrics_call(llm_router *r, const llm_call *c, const llm_result *res);
void llm_metrics_retry(llm_router *r, const llm_deployment *d);
void llm_metrics_fallback(llm_router *r, const char *model);
void llm_metrics_cooldown(llm_router *r, const llm_deployment *d);
void llm_metrics_cache(llm_router *r, const char *result);
