/* llm/resolve.c — the router's configuration and state: model groups from [llm.models], model
 * resolution to deployments, deployment health (the circuit breaker), model listing, metrics. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "llm/router_internal.h"

/* ---- deployments and groups ---- */

static llm_deployment *deployment_new(const char *provider, const char *model, int weight,
                                      const cJSON *params) {
  llm_deployment *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->provider = strdup(provider);
  d->model = strdup(model);
  d->weight = weight > 0 ? weight : 1;
  d->params = params ? cJSON_Duplicate(params, 1) : NULL;
  if (!d->provider || !d->model || (params && !d->params)) {
    free(d->provider);
    free(d->model);
    cJSON_Delete(d->params);
    free(d);
    return NULL;
  }
  return d;
}

static void deployment_free(llm_deployment *d) {
  if (!d)
    return;
  free(d->provider);
  free(d->model);
  cJSON_Delete(d->params);
  free(d);
}

static int load_groups(llm_router *r) {
  const cJSON *models = r->cfg->llm_models;
  size_t n = (size_t)cJSON_GetArraySize(models);
  if (!n)
    return 0;
  if (!(r->groups = calloc(n, sizeof *r->groups)))
    return AGENTAI_ENOMEM;
  for (const cJSON *g = models->child; g; g = g->next) {
    llm_group *grp = &r->groups[r->ngroups++];
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(g, "deployments");
    const cJSON *fb = cJSON_GetObjectItemCaseSensitive(g, "fallbacks");
    size_t nd = (size_t)cJSON_GetArraySize(deps), nf = (size_t)cJSON_GetArraySize(fb);
    grp->name = strdup(g->string);
    grp->deps = calloc(nd ? nd : 1, sizeof *grp->deps);
    grp->fallbacks = calloc(nf ? nf : 1, sizeof *grp->fallbacks);
    if (!grp->name || !grp->deps || !grp->fallbacks)
      return AGENTAI_ENOMEM;
    for (const cJSON *d = deps ? deps->child : NULL; d; d = d->next) {
      const cJSON *prov = cJSON_GetObjectItemCaseSensitive(d, "provider");
      const cJSON *model = cJSON_GetObjectItemCaseSensitive(d, "model");
      const cJSON *weight = cJSON_GetObjectItemCaseSensitive(d, "weight");
      llm_deployment *dep =
          deployment_new(prov->valuestring, cJSON_IsString(model) ? model->valuestring : g->string,
                         cJSON_IsNumber(weight) ? weight->valueint : 1,
                         cJSON_GetObjectItemCaseSensitive(d, "params"));
      if (!dep)
        return AGENTAI_ENOMEM;
      grp->deps[grp->ndeps++] = dep;
    }
    for (const cJSON *f = fb ? fb->child : NULL; f; f = f->next)
      if (!(grp->fallbacks[grp->nfallbacks++] = strdup(f->valuestring)))
        return AGENTAI_ENOMEM;
  }
  return 0;
}

static llm_group *find_group(llm_router *r, const char *name) {
  for (size_t i = 0; i < r->ngroups; i++)
    if (strcmp(r->groups[i].name, name) == 0)
      return &r->groups[i];
  return NULL;
}

int llm_router_new(uv_loop_t *loop, plugin_registry *reg, store *st, const config *cfg,
                   llm_router **out) {
  llm_router *r = calloc(1, sizeof *r);
  if (!r)
    return AGENTAI_ENOMEM;
  r->loop = loop;
  r->reg = reg;
  r->cfg = cfg;
  strmap_init(&r->implicit);
  strmap_init(&r->declared);
  if (load_groups(r) < 0) {
    llm_router_free(r);
    return AGENTAI_ENOMEM;
  }
  if (cfg->cache_enabled)
    r->cache = llm_cache_new(st, cfg);
  *out = r;
  return 0;
}

void llm_router_free(llm_router *r) {
  if (!r)
    return;
  while (r->live)
    llm_cancel(r->live);
  for (size_t i = 0; i < r->ngroups; i++) {
    llm_group *g = &r->groups[i];
    for (size_t j = 0; j < g->ndeps; j++)
      deployment_free(g->deps[j]);
    for (size_t j = 0; j < g->nfallbacks; j++)
      free(g->fallbacks[j]);
    free(g->deps);
    free(g->fallbacks);
    free(g->name);
  }
  free(r->groups);
  strmap_iter it = 0;
  const char *key;
  void *value;
  while (strmap_next(&r->implicit, &it, &key, &value))
    deployment_free(value);
  strmap_free(&r->implicit);
  strmap_free(&r->declared);
  llm_cache_free(r->cache);
  free(r);
}

void llm_router_stats(const llm_router *r, llm_stats *out) {
  *out = r->stats;
}

/* ---- health: a circuit breaker per group deployment ---- */

int llm_health_usable(const llm_router *r, llm_deployment *d, uint64_t now) {
  (void)r;
  if (!d->cooled_until_ms)
    return 1;
  if (now < d->cooled_until_ms)
    return 0;
  return !d->probing; /* half-open: one probe at a time */
}

void llm_health_success(llm_router *r, llm_deployment *d) {
  if (d->cooled_until_ms)
    log_printf(AGENTAI_LOG_INFO, "llm", "%s/%s recovered: cooldown lifted", d->provider, d->model);
  (void)r;
  d->failures = 0;
  d->cooled_until_ms = 0;
  d->probing = 0;
}

void llm_health_failure(llm_router *r, llm_deployment *d, uint64_t now) {
  int threshold = r->cfg->llm_cooldown_failures;
  if (threshold <= 0)
    return;
  if (d->cooled_until_ms && now >= d->cooled_until_ms) {
    /* The half-open probe failed: cool down again at once. */
    d->cooled_until_ms = now + r->cfg->llm_cooldown_ms;
    d->probing = 0;
    r->stats.cooldowns++;
    llm_metrics_cooldown(r, d);
    log_printf(AGENTAI_LOG_WARN, "llm", "%s/%s: probe failed; cooling down for %u ms", d->provider,
               d->model, r->cfg->llm_cooldown_ms);
    return;
  }
  if (now - d->window_start_ms > r->cfg->llm_cooldown_window_ms) {
    d->window_start_ms = now;
    d->failures = 0;
  }
  if (++d->failures >= threshold && !d->cooled_until_ms) {
    d->cooled_until_ms = now + r->cfg->llm_cooldown_ms;
    r->stats.cooldowns++;
    llm_metrics_cooldown(r, d);
    log_printf(AGENTAI_LOG_WARN, "llm", "%s/%s: %d failures within %u ms; cooling down for %u ms",
               d->provider, d->model, d->failures, r->cfg->llm_cooldown_window_ms,
               r->cfg->llm_cooldown_ms);
  }
}

/* When the soonest deployment of the group or of its fallback groups can take
 * calls again (a deployment with a probe in flight is not back yet). */
uint64_t llm_soonest_recovery(llm_router *r, const char *model, uint64_t now) {
  llm_group *g = find_group(r, model);
  uint64_t best = UINT64_MAX;
  for (size_t k = 0; g && k <= g->nfallbacks; k++) {
    llm_group *h = k == 0 ? g : find_group(r, g->fallbacks[k - 1]);
    for (size_t i = 0; h && i < h->ndeps; i++) {
      const llm_deployment *d = h->deps[i];
      uint64_t wait = d->cooled_until_ms > now ? d->cooled_until_ms - now
                      : d->probing             ? r->cfg->llm_timeout_ms
                                               : 0;
      if (wait < best)
        best = wait;
    }
  }
  return best && best != UINT64_MAX ? best : 1;
}

/* ---- resolution ---- */

typedef struct cand_list {
  llm_deployment **v;
  size_t n, cap;
} cand_list;

static int cand_add(cand_list *l, llm_deployment *d) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i] == d)
      return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    llm_deployment **grown = realloc(l->v, cap * sizeof *grown);
    if (!grown)
      return AGENTAI_ENOMEM;
    l->v = grown;
    l->cap = cap;
  }
  l->v[l->n++] = d;
  return 0;
}

/* The group's usable deployments, in weighted random order. */
static int add_group(llm_router *r, cand_list *l, const llm_group *g, uint64_t now) {
  llm_deployment *pool[64];
  size_t n = 0;
  for (size_t i = 0; i < g->ndeps && n < 64; i++)
    if (llm_health_usable(r, g->deps[i], now))
      pool[n++] = g->deps[i];
  while (n) {
    long total = 0;
    for (size_t i = 0; i < n; i++)
      total += pool[i]->weight;
    long pick = rand() % total;
    size_t i = 0;
    while (pick >= pool[i]->weight)
      pick -= pool[i++]->weight;
    if (cand_add(l, pool[i]) < 0)
      return AGENTAI_ENOMEM;
    pool[i] = pool[--n];
  }
  return 0;
}

/* A deployment outside the groups; kept so that repeated calls share one. */
static llm_deployment *implicit_deployment(llm_router *r, const char *provider, const char *model) {
  char key[512];
  snprintf(key, sizeof key, "%s\x1f%s", provider, model);
  llm_deployment *d = strmap_get(&r->implicit, key);
  if (d)
    return d;
  if (!(d = deployment_new(provider, model, 1, NULL)))
    return NULL;
  if (r->implicit.count >= 4096 || strmap_put(&r->implicit, key, d) < 0) {
    /* Past the cap the deployment is not remembered: it lives in this call only. */
    deployment_free(d);
    return NULL;
  }
  return d;
}

/* The providers' declared models (info() "models"), read once: model lists
 * come from the providers' configuration, which does not change while the
 * process runs, and asking every provider on every call would cost a JSON
 * round trip per provider per call. First provider wins a name. */
static void load_declared(llm_router *r) {
  r->declared_loaded = 1;
  const char *pname;
  for (size_t i = 0; (pname = plugin_provider_name(r->reg, i)); i++) {
    const agentai_provider_def *p = plugin_find_provider(r->reg, pname);
    char *json = NULL;
    if (!p || !p->info || p->info(p->ud, &json) < 0 || !json)
      continue;
    cJSON *info = cJSON_Parse(json);
    free(json);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(info, "models");
    for (const cJSON *m = models ? models->child : NULL; m; m = m->next)
      if (cJSON_IsString(m) && !strmap_get(&r->declared, m->valuestring))
        strmap_put(&r->declared, m->valuestring, (void *)pname); /* registry-owned name */
    cJSON_Delete(info);
  }
}

/* Provider and model for a name outside the groups; 0 or ENOENT. */
static int resolve_implicit(llm_router *r, const char *name, char *prov, size_t prov_len,
                            const char **model) {
  const char *slash = strchr(name, '/');
  if (slash && (size_t)(slash - name) < prov_len) {
    snprintf(prov, prov_len, "%.*s", (int)(slash - name), name);
    if (plugin_find_provider(r->reg, prov) && slash[1]) {
      *model = slash + 1;
      return 0;
    }
  }
  if (!r->declared_loaded)
    load_declared(r);
  const char *pname = strmap_get(&r->declared, name);
  if (pname) {
    snprintf(prov, prov_len, "%s", pname);
    *model = name;
    return 0;
  }
  if (r->cfg->llm_default_provider[0] &&
      plugin_find_provider(r->reg, r->cfg->llm_default_provider)) {
    snprintf(prov, prov_len, "%s", r->cfg->llm_default_provider);
    *model = name;
    return 0;
  }
  return AGENTAI_ENOENT;
}

int llm_resolve(llm_router *r, llm_call *c, const char *provider, char *err, size_t err_len) {
  cand_list l = {0};
  uint64_t now = uv_hrtime() / 1000000u;
  const char *model = c->public_model;
  int rc = 0;
  llm_group *g = provider ? NULL : find_group(r, model);
  if (provider) {
    if (!plugin_find_provider(r->reg, provider)) {
      snprintf(err, err_len, "no provider named '%s' is loaded", provider);
      return AGENTAI_ENOENT;
    }
    llm_deployment *d = implicit_deployment(r, provider, model);
    rc = d ? cand_add(&l, d) : AGENTAI_ENOMEM;
  } else if (g) {
    c->tracked = 1;
    rc = add_group(r, &l, g, now);
    for (size_t i = 0; rc == 0 && i < g->nfallbacks; i++) {
      llm_group *fg = find_group(r, g->fallbacks[i]);
      if (fg) {
        rc = add_group(r, &l, fg, now);
        continue;
      }
      char prov[64];
      const char *m = NULL;
      if (resolve_implicit(r, g->fallbacks[i], prov, sizeof prov, &m) == 0) {
        llm_deployment *d = implicit_deployment(r, prov, m);
        rc = d ? cand_add(&l, d) : AGENTAI_ENOMEM;
      }
    }
  } else {
    char prov[64];
    const char *m = NULL;
    if (resolve_implicit(r, model, prov, sizeof prov, &m) < 0) {
      snprintf(err, err_len, "no model group or provider serves model '%.200s'", model);
      return AGENTAI_ENOENT;
    }
    llm_deployment *d = implicit_deployment(r, prov, m);
    rc = d ? cand_add(&l, d) : AGENTAI_ENOMEM;
  }
  if (rc < 0) {
    free(l.v);
    snprintf(err, err_len, "out of memory");
    return rc;
  }
  c->cands = l.v;
  c->ncands = l.n;
  return 0;
}

/* ---- listing ---- */

char *llm_models_json(llm_router *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON *data = cJSON_AddArrayToObject(root, "data");
  cJSON_AddStringToObject(root, "object", "list");
  for (size_t i = 0; i < r->ngroups; i++) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", r->groups[i].name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "agentai");
    cJSON_AddItemToArray(data, m);
  }
  const char *pname;
  for (size_t i = 0; (pname = plugin_provider_name(r->reg, i)); i++) {
    const agentai_provider_def *p = plugin_find_provider(r->reg, pname);
    char *json = NULL;
    if (!p->info || p->info(p->ud, &json) < 0 || !json)
      continue;
    cJSON *info = cJSON_Parse(json);
    free(json);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(info, "models");
    for (const cJSON *mm = models ? models->child : NULL; mm; mm = mm->next) {
      if (!cJSON_IsString(mm) || find_group(r, mm->valuestring))
        continue;
      cJSON *m = cJSON_CreateObject();
      cJSON_AddStringToObject(m, "id", mm->valuestring);
      cJSON_AddStringToObject(m, "object", "model");
      cJSON_AddNumberToObject(m, "created", 0);
      cJSON_AddStringToObject(m, "owned_by", pname);
      cJSON_AddItemToArray(data, m);
    }
    cJSON_Delete(info);
  }
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return out;
}

/* ---- metrics ---- */

int llm_router_set_metrics(llm_router *r, metrics *m) {
  static const char *const call_labels[] = {"provider", "outcome", NULL};
  static const char *const dep_labels[] = {"provider", "model", NULL};
  static const char *const model_labels[] = {"model", NULL};
  static const char *const cache_labels[] = {"result", NULL};
  if (!m) { /* the registry is going away */
    r->m_calls = r->m_retries = r->m_fallbacks = r->m_cooldowns = r->m_cache = NULL;
    return 0;
  }
  int rc = metrics_counter(m, "agentai_llm_calls_total",
                           "Model calls by the provider that answered last and outcome",
                           call_labels, &r->m_calls);
  if (rc == 0)
    rc = metrics_counter(m, "agentai_llm_retries_total", "Retries of a deployment", dep_labels,
                         &r->m_retries);
  if (rc == 0)
    rc =
        metrics_counter(m, "agentai_llm_fallbacks_total",
                        "Calls that moved on to another deployment", model_labels, &r->m_fallbacks);
  if (rc == 0)
    rc = metrics_counter(m, "agentai_llm_cooldowns_total",
                         "Deployments put in cooldown after failures", dep_labels, &r->m_cooldowns);
  if (rc == 0)
    rc = metrics_counter(m, "agentai_llm_cache_total", "Response cache lookups and stores",
                         cache_labels, &r->m_cache);
  return rc;
}

static void inc(metric_family *f, const char *const *labels) {
  metric_series *s = NULL;
  if (f && metrics_series(f, labels, &s) == 0)
    metrics_inc(s, 1);
}

void llm_metrics_call(llm_router *r, const llm_call *c, const llm_result *res) {
  (void)c;
  const char *labels[] = {res->provider, res->err ? agentai_errname(res->err) : "ok", NULL};
  inc(r->m_calls, labels);
}

void llm_metrics_retry(llm_router *r, const llm_deployment *d) {
  const char *labels[] = {d->provider, d->model, NULL};
  inc(r->m_retries, labels);
}

void llm_metrics_fallback(llm_router *r, const char *model) {
  const char *labels[] = {model, NULL};
  inc(r->m_fallbacks, labels);
}

void llm_metrics_cooldown(llm_router *r, const llm_deployment *d) {
  const char *labels[] = {d->provider, d->model, NULL};
  inc(r->m_cooldowns, labels);
}

void llm_metrics_cache(llm_router *r, const char *result) {
  const char *labels[] = {result, NULL};
  inc(r->m_cache, labels);
}
