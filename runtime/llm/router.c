/* llm/router.c — resolves a model to deployments and drives one call through them: attempts
 * with time limits, retries with backoff and jitter, fallbacks, cooldowns, the cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/provider.h"
#include "core/errors.h"
#include "core/log.h"
#include "llm/internal.h"
#include "llm/router_internal.h"

static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
}

static int retryable(int err) {
  return err == AGENTAI_ERATELIMIT || err == AGENTAI_EUPSTREAM || err == AGENTAI_ETIMEDOUT ||
         err == AGENTAI_EMALFORMED;
}

/* Errors that say nothing about the deployment: the next one would refuse too. */
static int fatal(int err) {
  return err == AGENTAI_EINVAL || err == AGENTAI_ECANCELED || err == AGENTAI_ENOMEM;
}

/* ---- the call's lifetime ---- */

static void call_closed(uv_handle_t *h) {
  llm_call *c = h->data;
  cJSON_Delete(c->req);
  free(c->req_text);
  free(c->cands);
  free(c->response);
  free(c->ratelimit);
  free(c);
}

/* Takes c off the router's list of calls in flight (idempotent). */
static void call_unlink(llm_call *c) {
  llm_router *r = c->r;
  if (c->prev)
    c->prev->next = c->next;
  else if (r->live == c)
    r->live = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void call_release(llm_call *c) {
  call_unlink(c);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, call_closed);
}

static void finish(llm_call *c) {
  llm_router *r = c->r;
  const llm_deployment *d = c->cand_i < c->ncands ? c->cands[c->cand_i] : NULL;
  llm_result res = {
      .err = c->err,
      .message = c->err ? c->msg : NULL,
      .http_status = c->http_status,
      .retry_after_ms = c->err == AGENTAI_ERATELIMIT ? c->retry_after_ms : -1,
      .ratelimit_json = c->ratelimit,
      .response_json = c->err ? NULL : c->response,
      .response_len = c->err ? 0 : c->response_len,
      .provider = c->cache_hit ? "cache"
                  : d          ? d->provider
                               : "",
      .model = d && !c->cache_hit ? d->model : c->public_model,
      .cache_hit = c->cache_hit,
      .attempts = c->attempts,
      .upstream_ns = c->upstream_ns,
  };
  if (c->err)
    r->stats.failures++;
  llm_metrics_call(r, c, &res);
  c->finished = 1;
  llm_sink sink = c->sink;
  call_release(c);
  sink.done(sink.ud, &res);
}

static void fail(llm_call *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(llm_call *c, int err, const char *fmt, ...) {
  c->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  finish(c);
}

/* ---- attempts ---- */

static void attempt_start(llm_call *c);
static void attempt_outcome(llm_call *c);

static void on_delta(void *ud, const char *chunk, size_t len) {
  llm_call *c = ud;
  c->streamed = 1;
  if (c->sink.delta)
    c->sink.delta(c->sink.ud, chunk, len);
}

static void on_done(void *ud, const agentai_chat_outcome *o) {
  llm_call *c = ud;
  c->pcall = NULL;
  c->upstream_ns += uv_hrtime() - c->attempt_started_ns;
  c->err = o->err;
  c->http_status = o->http_status;
  c->retry_after_ms = o->err == AGENTAI_ERATELIMIT ? o->retry_after_ms : -1;
  free(c->ratelimit);
  c->ratelimit = NULL;
  if (o->size > offsetof(agentai_chat_outcome, ratelimit_json) && o->ratelimit_json)
    c->ratelimit = strdup(o->ratelimit_json);
  free(c->response);
  c->response = NULL;
  c->response_len = 0;
  if (o->err == 0) {
    if (!o->response_json || !o->response_len) {
      c->err = AGENTAI_EMALFORMED;
      snprintf(c->msg, sizeof c->msg, "provider '%s' returned no response", c->prov_name);
    } else if (!(c->response = malloc(o->response_len + 1))) {
      c->err = AGENTAI_ENOMEM;
      snprintf(c->msg, sizeof c->msg, "out of memory");
    } else {
      memcpy(c->response, o->response_json, o->response_len);
      c->response[o->response_len] = '\0';
      c->response_len = o->response_len;
    }
  } else {
    snprintf(c->msg, sizeof c->msg, "%s", o->message ? o->message : agentai_strerror(o->err));
  }
  if (c->in_chat) {
    c->outcome_pending = 1; /* handled once provider->chat() returns */
    return;
  }
  attempt_outcome(c);
}

static void on_timer(uv_timer_t *t) {
  llm_call *c = t->data;
  if (c->timer_mode == TIMER_BACKOFF) {
    c->timer_mode = TIMER_NONE;
    attempt_start(c);
    return;
  }
  /* The attempt's time limit. */
  c->timer_mode = TIMER_NONE;
  if (c->pcall && c->prov->cancel)
    c->prov->cancel(c->prov->ud, c->pcall);
  c->pcall = NULL;
  c->upstream_ns += uv_hrtime() - c->attempt_started_ns;
  c->err = AGENTAI_ETIMEDOUT;
  c->http_status = 0;
  c->retry_after_ms = -1;
  snprintf(c->msg, sizeof c->msg, "provider '%s' did not answer model '%s' within %u ms",
           c->prov_name, c->cands[c->cand_i]->model, c->timeout_ms);
  attempt_outcome(c);
}

/* The request text for deployment d: the caller's, or a copy with the model
 * and d's params laid over it. */
static char *request_for(llm_call *c, const llm_deployment *d, size_t *len) {
  if (!d->params && strcmp(d->model, c->public_model) == 0) {
    *len = c->req_len;
    return c->req_text;
  }
  cJSON *copy = cJSON_Duplicate(c->req, 1);
  if (!copy)
    return NULL;
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "model");
  cJSON_AddStringToObject(copy, "model", d->model);
  for (const cJSON *p = d->params ? d->params->child : NULL; p; p = p->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(copy, p->string);
    cJSON_AddItemToObject(copy, p->string, cJSON_Duplicate(p, 1));
  }
  char *text = cJSON_PrintUnformatted(copy);
  cJSON_Delete(copy);
  *len = text ? strlen(text) : 0;
  return text;
}

static void attempt_start(llm_call *c) {
  llm_router *r = c->r;
  /* Another call may have cooled this deployment while this one waited (backoff,
   * fallback timer): move on to the next usable one. */
  if (c->tracked) {
    uint64_t t = now_ms();
    size_t i = c->cand_i;
    while (i < c->ncands && !llm_health_usable(r, c->cands[i], t))
      i++;
    if (i >= c->ncands) {
      if (!c->err) {
        c->err = AGENTAI_ERATELIMIT;
        c->retry_after_ms = (int64_t)llm_soonest_recovery(r, c->public_model, t);
        snprintf(c->msg, sizeof c->msg,
                 "every deployment of model '%s' is cooling down after failures", c->public_model);
      }
      finish(c);
      return;
    }
    if (i != c->cand_i) {
      c->cand_i = i;
      c->retries_used = 0;
    }
  }
  llm_deployment *d = c->cands[c->cand_i];
  const agentai_provider_def *p = plugin_find_provider(r->reg, d->provider);
  snprintf(c->prov_name, sizeof c->prov_name, "%s", d->provider);
  if (!p ||
      (c->kind == LLM_EMBED && (p->size <= offsetof(agentai_provider_def, embed) || !p->embed))) {
    c->err = p ? AGENTAI_ENOTSUP : AGENTAI_ENOENT;
    c->http_status = 0;
    snprintf(c->msg, sizeof c->msg,
             p ? "provider '%s' does not serve embeddings" : "no provider named '%s' is loaded",
             d->provider);
    attempt_outcome(c);
    return;
  }
  size_t len = 0;
  char *text = request_for(c, d, &len);
  if (!text) {
    fail(c, AGENTAI_ENOMEM, "out of memory");
    return;
  }
  c->prov = p;
  c->attempts++;
  r->stats.attempts++;
  c->attempt_started_ns = uv_hrtime();
  if (d->cooled_until_ms && now_ms() >= d->cooled_until_ms)
    d->probing = 1; /* half-open: this call is the probe */
  agentai_chat_sink sink = {.ud = c, .delta = c->stream ? on_delta : NULL, .done = on_done};
  c->in_chat = 1;
  c->outcome_pending = 0;
  void *handle = NULL;
  int rc = c->kind == LLM_EMBED ? p->embed(p->ud, text, len, &sink, &handle)
                                : p->chat(p->ud, text, len, &sink, &handle);
  c->in_chat = 0;
  if (text != c->req_text)
    free(text);
  if (rc < 0) {
    c->upstream_ns += uv_hrtime() - c->attempt_started_ns;
    c->err = rc;
    c->http_status = 0;
    snprintf(c->msg, sizeof c->msg, "provider '%s' refused the request: %s", d->provider,
             agentai_strerror(rc));
    attempt_outcome(c);
    return;
  }
  if (c->outcome_pending) {
    c->outcome_pending = 0;
    attempt_outcome(c);
    return;
  }
  c->pcall = handle;
  c->timer_mode = TIMER_ATTEMPT;
  uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
}

/* Backoff before retry n (1-based): base * 2^(n-1), capped, with full jitter in
 * its upper half so that callers failing together do not retry together. */
static uint64_t backoff_ms(const llm_router *r, int n) {
  uint64_t base = r->cfg->llm_retry_base_ms, cap = r->cfg->llm_retry_max_ms;
  uint64_t d = base << (n - 1 < 20 ? n - 1 : 20);
  if (d > cap)
    d = cap;
  return d / 2 + (uint64_t)rand() % (d / 2 + 1);
}

static void attempt_outcome(llm_call *c) {
  llm_router *r = c->r;
  llm_deployment *d = c->cands[c->cand_i];
  uv_timer_stop(&c->timer);
  c->timer_mode = TIMER_NONE;
  if (c->err == 0) {
    if (c->tracked)
      llm_health_success(r, d);
    if (c->cacheable && c->cache_mode != LLM_CACHE_BYPASS && r->cache) {
      llm_cache_put(r->cache, c->key, c->response, c->response_len);
      r->stats.cache_stores++;
    }
    finish(c);
    return;
  }
  if (c->tracked && !fatal(c->err))
    llm_health_failure(r, d, now_ms());
  d->probing = 0;
  /* What went out of a stream cannot be taken back: no retry, no fallback. */
  if (fatal(c->err) || c->streamed) {
    finish(c);
    return;
  }
  if (retryable(c->err) && c->retries_used < r->cfg->llm_retries) {
    uint64_t wait = backoff_ms(r, c->retries_used + 1);
    int too_long = c->retry_after_ms > (int64_t)r->cfg->llm_retry_max_ms;
    if (c->retry_after_ms > 0 && !too_long && (uint64_t)c->retry_after_ms > wait)
      wait = (uint64_t)c->retry_after_ms;
    if (!too_long && (!c->tracked || llm_health_usable(r, d, now_ms()))) {
      c->retries_used++;
      r->stats.retries++;
      llm_metrics_retry(r, d);
      log_printf(AGENTAI_LOG_INFO, "llm", "retrying %s/%s in %llu ms (retry %d of %d): %s",
                 d->provider, d->model, (unsigned long long)wait, c->retries_used,
                 r->cfg->llm_retries, c->msg);
      c->timer_mode = TIMER_BACKOFF;
      c->upstream_ns += wait * 1000000u; /* waiting on the upstream, not runtime overhead */
      uv_timer_start(&c->timer, on_timer, wait, 0);
      return;
    }
  }
  /* Next usable candidate. */
  uint64_t t = now_ms();
  size_t next = c->cand_i + 1;
  while (next < c->ncands && c->tracked && !llm_health_usable(r, c->cands[next], t))
    next++;
  if (next >= c->ncands) {
    finish(c);
    return;
  }
  r->stats.fallbacks++;
  llm_metrics_fallback(r, c->public_model);
  log_printf(AGENTAI_LOG_WARN, "llm", "model '%s': %s/%s failed (%s); falling back to %s/%s",
             c->public_model, d->provider, d->model, c->msg, c->cands[next]->provider,
             c->cands[next]->model);
  c->cand_i = next;
  c->retries_used = 0;
  c->timer_mode = TIMER_BACKOFF;
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* ---- starting a call ---- */

static void replay_chunk(void *ud, const char *chunk, size_t len) {
  llm_call *c = ud;
  if (c->sink.delta)
    c->sink.delta(c->sink.ud, chunk, len);
}

static void cache_answer(void *ud, const char *response, size_t len) {
  llm_call *c = ud;
  llm_router *r = c->r;
  c->cache_wait = 0;
  if (c->finished) { /* cancelled while storage looked */
    call_release(c);
    return;
  }
  if (!response) {
    r->stats.cache_misses++;
    llm_metrics_cache(r, "miss");
    attempt_start(c);
    return;
  }
  r->stats.cache_hits++;
  llm_metrics_cache(r, "hit");
  c->cache_hit = 1;
  if (!(c->response = malloc(len + 1))) {
    fail(c, AGENTAI_ENOMEM, "out of memory");
    return;
  }
  memcpy(c->response, response, len);
  c->response[len] = '\0';
  c->response_len = len;
  if (c->stream)
    llm_chunks_from_response(c->response, len, replay_chunk, c);
  finish(c);
}

int llm_start(llm_router *r, const llm_request *req, const llm_sink *sink, llm_call **out,
              char *err, size_t err_len) {
  if (out)
    *out = NULL;
  if (!r || !req || !req->json || !sink || !sink->done) {
    if (req)
      cJSON_Delete(req->tree);
    snprintf(err, err_len, "invalid call");
    return AGENTAI_EINVAL;
  }
  cJSON *parsed = req->tree ? req->tree : cJSON_ParseWithLength(req->json, req->len);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(parsed, "model");
  /* Without a model the provider's default answers (resolution as for ""). */
  if (!cJSON_IsObject(parsed) || (model && !cJSON_IsString(model))) {
    cJSON_Delete(parsed);
    snprintf(err, err_len,
             cJSON_IsObject(parsed) ? "'model' must be a string"
                                    : "the request is not a JSON object");
    return AGENTAI_EINVAL;
  }
  llm_call *c = calloc(1, sizeof *c);
  if (!c || !(c->req_text = malloc(req->len + 1))) {
    free(c);
    cJSON_Delete(parsed);
    snprintf(err, err_len, "out of memory");
    return AGENTAI_ENOMEM;
  }
  memcpy(c->req_text, req->json, req->len);
  c->req_text[req->len] = '\0';
  c->req_len = req->len;
  c->req = parsed;
  c->public_model = model ? model->valuestring : "";
  c->r = r;
  c->sink = *sink;
  c->kind = req->kind;
  c->cache_mode = req->cache_mode;
  c->timeout_ms = req->timeout_ms ? req->timeout_ms : r->cfg->llm_timeout_ms;
  c->stream =
      req->kind == LLM_CHAT && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(parsed, "stream"));
  c->retry_after_ms = -1;
  int rc = llm_resolve(r, c, req->provider, err, err_len);
  if (rc < 0) {
    cJSON_Delete(parsed);
    free(c->req_text);
    free(c->cands);
    free(c);
    return rc;
  }
  uv_timer_init(r->loop, &c->timer);
  c->timer.data = c;
  c->next = r->live;
  if (r->live)
    r->live->prev = c;
  r->live = c;
  r->stats.calls++;
  if (out)
    *out = c;
  if (c->ncands == 0) {
    /* Every deployment is cooling down: say when one comes back. */
    c->retry_after_ms = (int64_t)llm_soonest_recovery(r, c->public_model, now_ms());
    fail(c, AGENTAI_ERATELIMIT, "every deployment of model '%s' is cooling down after failures",
         c->public_model);
    if (out)
      *out = NULL;
    return 0;
  }
  c->cacheable = r->cache && llm_cache_key(r->cache, c->kind, req->provider, parsed, c->key) == 0;
  if (c->cacheable && c->cache_mode == LLM_CACHE_USE) {
    c->in_chat = 1; /* an inline answer must not see *out */
    c->cache_wait = 1;
    llm_cache_get(r->cache, c->key, cache_answer, c);
    c->in_chat = 0;
  } else {
    attempt_start(c);
  }
  if (out && c->finished)
    *out = NULL;
  return 0;
}

void llm_cancel(llm_call *c) {
  if (!c || c->finished)
    return;
  if (c->pcall && c->prov && c->prov->cancel)
    c->prov->cancel(c->prov->ud, c->pcall);
  c->pcall = NULL;
  if (c->cand_i < c->ncands)
    c->cands[c->cand_i]->probing = 0;
  c->finished = 1;
  if (c->cache_wait)
    call_unlink(c); /* the storage lookup's answer releases it */
  else
    call_release(c);
}
