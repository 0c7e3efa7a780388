/* core/config_internal.h — the schema checker's shared helpers, for the files that validate one
 * section each (config.c, config_llm.c). */
#pragma once

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/toml.h"

/* Validation runs twice over the same tree: first to find every error
 * without touching cfg, then (apply = 1) to fill it, so that a refused file
 * leaves cfg as it was. */
typedef struct vctx {
  config *cfg;
  const toml_index *ix;
  const char *file;
  char *err;
  size_t err_len;
  int apply;
} vctx;

/** Line that defined sec.key (or sec when key is NULL); 1 when unknown. */
int cfgv_line_of(const vctx *V, const char *sec, const char *key);
/** TOML type of item, a direct member of section sec. */
toml_type cfgv_type_of(const vctx *V, const char *sec, const cJSON *item);
/** Writes "FILE:LINE: key 'sec.key': <message>"; returns AGENTAI_EINVAL. */
int cfgv_key_err(const vctx *V, const char *sec, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Writes "FILE:LINE: unknown key 'sec.key' (known: ...)"; returns AGENTAI_EINVAL. */
int cfgv_unknown_key(const vctx *V, const char *sec, const char *key, const char *known);
/** Writes "FILE: out of memory"; returns AGENTAI_ENOMEM. */
int cfgv_nomem(const vctx *V);
/** Type name of a value without an index entry (array elements). */
const char *cfgv_json_type_name(const cJSON *v);
/** A string member of sec, non-empty unless allow_empty, shorter than cap. */
int cfgv_get_string(const vctx *V, const char *sec, const cJSON *item, const char *desc, size_t cap,
                    int allow_empty, const char **out);
/** An integer member of sec in [min, max]. */
int cfgv_get_int(const vctx *V, const char *sec, const cJSON *item, const char *desc, long long min,
                 long long max, long long *out);

/** The [llm] and [cache] sections (config_llm.c). */
int cfgv_llm(const vctx *V, const cJSON *sec);
int cfgv_cache(const vctx *V, const cJSON *sec);
/** Defaults of the fields those sections fill; release with config_llm_free. */
void config_llm_defaults(config *cfg);
void config_llm_free(config *cfg);
/** Adds "llm" and "cache" to the effective configuration's JSON. Returns 0 or -1 (ENOMEM). */
int config_llm_to_json(const config *cfg, cJSON *root);
