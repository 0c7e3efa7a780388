/* core/config_llm.c — the [llm] (model router, model groups) and [cache] (response cache)
 * sections of the configuration: defaults, schema check, effective JSON. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/config_internal.h"

void config_llm_defaults(config *cfg) {
  snprintf(cfg->llm_default_provider, sizeof cfg->llm_default_provider, "mock");
  cfg->llm_timeout_ms = 120000;
  cfg->llm_retries = 2;
  cfg->llm_retry_base_ms = 250;
  cfg->llm_retry_max_ms = 8000;
  cfg->llm_cooldown_failures = 3;
  cfg->llm_cooldown_window_ms = 60000;
  cfg->llm_cooldown_ms = 30000;
  cfg->llm_models = cJSON_CreateObject();
  cfg->cache_enabled = 1;
  cfg->cache_ttl_s = 3600;
  cfg->cache_memory_mb = 16;
  cfg->cache_nonzero_temperature = 0;
}

void config_llm_free(config *cfg) {
  cJSON_Delete(cfg->llm_models);
  cfg->llm_models = NULL;
}

/* "FILE:LINE: key 'llm.models.NAME[.member]': <message>", with the line of the
 * deepest part of the path the document defines. */
static int model_err(const vctx *V, const char *name, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int model_err(const vctx *V, const char *name, const char *member, const char *fmt, ...) {
  if (!V->err || !V->err_len)
    return AGENTAI_EINVAL;
  const char *path[4] = {"llm", "models", name, member};
  int line = toml_index_lookup(V->ix, path, member ? 4 : 3, NULL);
  if (line <= 0)
    line = toml_index_lookup(V->ix, path, 3, NULL);
  if (line <= 0)
    line = cfgv_line_of(V, "llm", "models");
  int n = snprintf(V->err, V->err_len, "%s:%d: key 'llm.models.%.100s%s%s': ", V->file, line, name,
                   member ? "." : "", member ? member : "");
  if (n > 0 && (size_t)n < V->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(V->err + n, V->err_len - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EINVAL;
}

static int whole_number(const cJSON *v, double min, double max) {
  return cJSON_IsNumber(v) && v->valuedouble >= min && v->valuedouble <= max &&
         v->valuedouble == (double)(long long)v->valuedouble;
}

static int check_deployment(const vctx *V, const char *name, size_t i, const cJSON *d) {
  if (!cJSON_IsObject(d))
    return model_err(V, name, "deployments",
                     "element %zu: expected a table {provider = \"...\", model = \"...\"}, got %s",
                     i, cfgv_json_type_name(d));
  int has_provider = 0;
  for (const cJSON *m = d->child; m; m = m->next) {
    if (strcmp(m->string, "provider") == 0 || strcmp(m->string, "model") == 0) {
      if (!cJSON_IsString(m) || !m->valuestring[0] || strlen(m->valuestring) > 200)
        return model_err(V, name, "deployments",
                         "element %zu: '%s' must be a non-empty string of at most 200 bytes", i,
                         m->string);
      has_provider |= m->string[0] == 'p';
    } else if (strcmp(m->string, "weight") == 0) {
      if (!whole_number(m, 1, 1000))
        return model_err(V, name, "deployments",
                         "element %zu: 'weight' must be an integer from 1 to 1000", i);
    } else if (strcmp(m->string, "params") == 0) {
      if (!cJSON_IsObject(m))
        return model_err(V, name, "deployments",
                         "element %zu: 'params' must be a table of request members", i);
      for (const cJSON *p = m->child; p; p = p->next)
        if (strcmp(p->string, "model") == 0 || strcmp(p->string, "messages") == 0 ||
            strcmp(p->string, "stream") == 0)
          return model_err(V, name, "deployments",
                           "element %zu: 'params' may not set '%s' (the router owns it)", i,
                           p->string);
    } else {
      return model_err(V, name, "deployments",
                       "element %zu: unknown key '%.64s' (known: provider, model, weight, params)",
                       i, m->string);
    }
  }
  if (!has_provider)
    return model_err(V, name, "deployments", "element %zu: missing 'provider'", i);
  return 0;
}

static int check_group(const vctx *V, const cJSON *g) {
  const char *name = g->string;
  if (!name[0] || strlen(name) > 200)
    return model_err(V, name, NULL, "a model name must be 1 to 200 bytes");
  if (!cJSON_IsObject(g))
    return model_err(V, name, NULL,
                     "expected a table with 'deployments' (and optionally 'fallbacks'), got %s",
                     cfgv_json_type_name(g));
  const cJSON *deps = NULL;
  for (const cJSON *m = g->child; m; m = m->next) {
    if (strcmp(m->string, "deployments") == 0) {
      deps = m;
      if (!cJSON_IsArray(m) || !m->child)
        return model_err(V, name, "deployments",
                         "expected a non-empty array of {provider, model, weight} tables");
      size_t i = 0;
      for (const cJSON *d = m->child; d; d = d->next, i++) {
        int rc = check_deployment(V, name, i, d);
        if (rc < 0)
          return rc;
      }
    } else if (strcmp(m->string, "fallbacks") == 0) {
      if (!cJSON_IsArray(m))
        return model_err(V, name, "fallbacks", "expected an array of model names");
      size_t i = 0;
      for (const cJSON *f = m->child; f; f = f->next, i++) {
        if (!cJSON_IsString(f) || !f->valuestring[0])
          return model_err(V, name, "fallbacks", "element %zu: expected a non-empty string", i);
        if (strcmp(f->valuestring, name) == 0)
          return model_err(V, name, "fallbacks", "element %zu: a group cannot fall back to itself",
                           i);
      }
    } else {
      return model_err(V, name, m->string, "unknown key (known: deployments, fallbacks)");
    }
  }
  if (!deps)
    return model_err(V, name, NULL, "missing 'deployments'");
  return 0;
}

static int get_ms(const vctx *V, const char *sec, const cJSON *it, long long min, long long max,
                  uint32_t *out) {
  long long v = 0;
  char desc[96];
  snprintf(desc, sizeof desc, "an integer from %lld to %lld", min, max);
  int rc = cfgv_get_int(V, sec, it, desc, min, max, &v);
  if (rc == 0 && V->apply)
    *out = (uint32_t)v;
  return rc;
}

int cfgv_llm(const vctx *V, const cJSON *sec) {
  static const char *const known =
      "default_provider, timeout_ms, retries, retry_base_ms, retry_max_ms, cooldown_failures, "
      "cooldown_window_ms, cooldown_ms, models";
  config *cfg = V->cfg;
  for (const cJSON *it = sec->child; it; it = it->next) {
    const char *k = it->string;
    int rc;
    uint32_t v32 = 0;
    if (strcmp(k, "default_provider") == 0) {
      const char *s = NULL;
      rc =
          cfgv_get_string(V, "llm", it, "a provider name", sizeof cfg->llm_default_provider, 0, &s);
      if (rc == 0 && V->apply)
        snprintf(cfg->llm_default_provider, sizeof cfg->llm_default_provider, "%s", s);
    } else if (strcmp(k, "timeout_ms") == 0) {
      rc = get_ms(V, "llm", it, 1, 86400000, &cfg->llm_timeout_ms);
    } else if (strcmp(k, "retries") == 0) {
      rc = get_ms(V, "llm", it, 0, 10, &v32);
      if (rc == 0 && V->apply)
        cfg->llm_retries = (int)v32;
    } else if (strcmp(k, "retry_base_ms") == 0) {
      rc = get_ms(V, "llm", it, 1, 600000, &cfg->llm_retry_base_ms);
    } else if (strcmp(k, "retry_max_ms") == 0) {
      rc = get_ms(V, "llm", it, 1, 3600000, &cfg->llm_retry_max_ms);
    } else if (strcmp(k, "cooldown_failures") == 0) {
      rc = get_ms(V, "llm", it, 0, 1000, &v32);
      if (rc == 0 && V->apply)
        cfg->llm_cooldown_failures = (int)v32;
    } else if (strcmp(k, "cooldown_window_ms") == 0) {
      rc = get_ms(V, "llm", it, 1, 86400000, &cfg->llm_cooldown_window_ms);
    } else if (strcmp(k, "cooldown_ms") == 0) {
      rc = get_ms(V, "llm", it, 1, 86400000, &cfg->llm_cooldown_ms);
    } else if (strcmp(k, "models") == 0) {
      if (cfgv_type_of(V, "llm", it) != TOML_TABLE || !cJSON_IsObject(it))
        return cfgv_key_err(V, "llm", k, "expected a table of model groups ([llm.models.NAME])");
      rc = 0;
      for (const cJSON *g = it->child; g && rc == 0; g = g->next)
        rc = check_group(V, g);
      if (rc == 0 && V->apply) {
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (!copy)
          return cfgv_nomem(V);
        cJSON_Delete(cfg->llm_models);
        cfg->llm_models = copy;
      }
    } else {
      return cfgv_unknown_key(V, "llm", k, known);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int get_bool(const vctx *V, const char *sec, const cJSON *it, int *out) {
  if (cfgv_type_of(V, sec, it) != TOML_BOOLEAN || !cJSON_IsBool(it))
    return cfgv_key_err(V, sec, it->string, "expected true or false, got %s",
                        toml_type_name(cfgv_type_of(V, sec, it)));
  if (V->apply)
    *out = cJSON_IsTrue(it);
  return 0;
}

int cfgv_cache(const vctx *V, const cJSON *sec) {
  config *cfg = V->cfg;
  for (const cJSON *it = sec->child; it; it = it->next) {
    const char *k = it->string;
    int rc;
    if (strcmp(k, "enabled") == 0)
      rc = get_bool(V, "cache", it, &cfg->cache_enabled);
    else if (strcmp(k, "nonzero_temperature") == 0)
      rc = get_bool(V, "cache", it, &cfg->cache_nonzero_temperature);
    else if (strcmp(k, "ttl_s") == 0)
      rc = get_ms(V, "cache", it, 1, 31536000, &cfg->cache_ttl_s);
    else if (strcmp(k, "memory_mb") == 0)
      rc = get_ms(V, "cache", it, 0, 65536, &cfg->cache_memory_mb);
    else
      return cfgv_unknown_key(V, "cache", k, "enabled, ttl_s, memory_mb, nonzero_temperature");
    if (rc < 0)
      return rc;
  }
  return 0;
}

int config_llm_to_json(const config *cfg, cJSON *root) {
  cJSON *llm = cJSON_AddObjectToObject(root, "llm");
  cJSON *cache = cJSON_AddObjectToObject(root, "cache");
  if (!llm || !cache)
    return -1;
  cJSON_AddStringToObject(llm, "default_provider", cfg->llm_default_provider);
  cJSON_AddNumberToObject(llm, "timeout_ms", cfg->llm_timeout_ms);
  cJSON_AddNumberToObject(llm, "retries", cfg->llm_retries);
  cJSON_AddNumberToObject(llm, "retry_base_ms", cfg->llm_retry_base_ms);
  cJSON_AddNumberToObject(llm, "retry_max_ms", cfg->llm_retry_max_ms);
  cJSON_AddNumberToObject(llm, "cooldown_failures", cfg->llm_cooldown_failures);
  cJSON_AddNumberToObject(llm, "cooldown_window_ms", cfg->llm_cooldown_window_ms);
  cJSON_AddNumberToObject(llm, "cooldown_ms", cfg->llm_cooldown_ms);
  cJSON *models = cfg->llm_models ? cJSON_Duplicate(cfg->llm_models, 1) : cJSON_CreateObject();
  if (!models)
    return -1;
  cJSON_AddItemToObject(llm, "models", models);
  cJSON_AddBoolToObject(cache, "enabled", cfg->cache_enabled);
  cJSON_AddNumberToObject(cache, "ttl_s", cfg->cache_ttl_s);
  cJSON_AddNumberToObject(cache, "memory_mb", cfg->cache_memory_mb);
  cJSON_AddBoolToObject(cache, "nonzero_temperature", cfg->cache_nonzero_temperature);
  return 0;
}
