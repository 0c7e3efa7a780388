/* core/config.h — the runtime configuration: defaults, TOML-subset files, environment overrides. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/** Longest path the configuration accepts. */
#define CONFIG_PATH_MAX 1024

/**
 * The whole runtime configuration. config_defaults() gives the embedded
 * default (loopback, ./data, LMDB, the mock provider, every plugin of the
 * build's plugin folder); a file and then the environment override it.
 */
typedef struct config {
  char source[CONFIG_PATH_MAX]; /**< file it came from, or "<embedded default>" */

  /* [server] */
  char listen_host[256]; /**< default "127.0.0.1" */
  int listen_port;       /**< default 8080; 0 = ephemeral */

  /* [storage] */
  char data_dir[CONFIG_PATH_MAX]; /**< default "./data"; made absolute at startup */
  char storage_backend[64];       /**< registry name of the storage backend, default "lmdb" */

  /* [plugins] */
  char plugin_dir[CONFIG_PATH_MAX]; /**< "" = the build's plugin folder next to the binary */
  char **plugin_load;               /**< names (looked up in plugin_dir) or paths of .so files;
                                         NULL = every *.so in plugin_dir */
  size_t plugin_load_count;
  cJSON *plugin_settings; /**< object: plugin name -> its section, as JSON (owned) */

  /* [lua] */
  size_t lua_memory_limit;         /**< bytes per workflow VM, default 64 MiB */
  uint64_t lua_cpu_limit;          /**< VM instructions per workflow run, 0 = none; default 2e9 */
  uint32_t lua_slice_instructions; /**< instructions before a busy script yields to the loop */
  char **workflow_dirs;            /**< folders searched for workflows and required modules */
  size_t workflow_dir_count;
  char **route_dirs; /**< folders whose *.lua files register HTTP routes; default ["routes"] */
  size_t route_dir_count;

  /* [engine] */
  int engine_max_running; /**< task attempts running at once, default 16 */

  /* [llm] (core/config_llm.c) */
  char llm_default_provider[64];   /**< provider for models no group or provider claims; "mock" */
  uint32_t llm_timeout_ms;         /**< time limit of one provider attempt, default 120000 */
  int llm_retries;                 /**< retries of one deployment on retryable errors, default 2 */
  uint32_t llm_retry_base_ms;      /**< first backoff, doubled per retry (with jitter); 250 */
  uint32_t llm_retry_max_ms;       /**< backoff cap; a longer Retry-After moves on; 8000 */
  int llm_cooldown_failures;       /**< failures within the window that cool a deployment; 3 */
  uint32_t llm_cooldown_window_ms; /**< 60000 */
  uint32_t llm_cooldown_ms;        /**< how long a cooled deployment is skipped; 30000 */
  /** Model groups: object, public name -> {"deployments":[{"provider","model","weight",
   *  "params"}], "fallbacks":[names]}, validated; owned. Empty object when none. */
  cJSON *llm_models;

  /* [cache] */
  int cache_enabled;             /**< default 1 */
  uint32_t cache_ttl_s;          /**< default 3600 */
  uint32_t cache_memory_mb;      /**< in-memory front bound; default 16 */
  int cache_nonzero_temperature; /**< cache requests with temperature > 0; default 0 */

  /* [log] */
  int log_level; /**< AGENTAI_LOG_* */
} config;

/** Fills cfg with the embedded default (allocates; release with config_free). */
void config_defaults(config *cfg);

/**
 * Reads a configuration file over cfg (which holds defaults). On error
 * returns a negative code and writes "FILE:LINE: key 'a.b': expected ..." to
 * err; cfg is then unspecified but safe to config_free. (This implementation
 * validates the whole file first, so a refused file leaves cfg unchanged
 * unless memory runs out half-way.) Relative paths in the file stay
 * relative to the working directory, not to the file's folder.
 */
int config_load_file(config *cfg, const char *path, char *err, size_t err_len);

/**
 * Like config_load_file, over text[0..len) already in memory (never read
 * past len); filename labels errors and becomes cfg->source. Parses with
 * config_parse_toml, then validates the tree against the schema (unknown
 * sections and keys, types, ranges) before filling cfg.
 */
int config_load_buffer(config *cfg, const char *text, size_t len, const char *filename, char *err,
                       size_t err_len);

/**
 * Applies environment overrides: AGENTAI_LISTEN (host:port), AGENTAI_DATA,
 * AGENTAI_STORAGE, AGENTAI_PLUGIN_DIR, AGENTAI_PLUGINS (comma list),
 * AGENTAI_LOG_LEVEL, AGENTAI_LUA_MEMORY_MB, AGENTAI_LUA_CPU_LIMIT,
 * AGENTAI_WORKFLOW_PATH (colon list), AGENTAI_ROUTE_PATH (colon list),
 * AGENTAI_MAX_RUNNING. A malformed value is an error naming
 * the variable. A variable set to "" counts as unset. Every variable is
 * checked before any is applied, so an error leaves cfg unchanged.
 */
int config_apply_env(config *cfg, char *err, size_t err_len);

/** Parses "host:port" (port 0..65535; "[::1]:80" form for IPv6). */
int config_parse_listen(const char *text, char *host, size_t host_len, int *port);

/** The plugin's section as JSON object text (host-allocated with malloc;
 *  "{}" when absent). Caller frees. */
char *config_plugin_json(const config *cfg, const char *plugin_name);

/** The effective configuration as JSON object text, in the file's section
 *  layout (for `agentai config`). malloc'd; caller frees; NULL on ENOMEM. */
char *config_to_json(const config *cfg);

/** Releases what config_defaults / config_load_file allocated. */
void config_free(config *cfg);

/**
 * The file format parser (a TOML subset, see docs/configuration.md): text ->
 * JSON tree of tables. filename only labels errors ("FILE:LINE: ..."). On
 * success *out is a cJSON object the caller deletes. Never reads past len.
 * Also used by the fuzz target.
 */
int config_parse_toml(const char *text, size_t len, const char *filename, cJSON **out, char *err,
                      size_t err_len);
