/* plugin/loader.h — loads plugin .so files, checks their ABI, runs init, keeps the registry. */
#pragma once

#include <stddef.h>

#include <uv.h>

#include "agentai/provider.h"
#include "agentai/storage.h"
#include "core/config.h"
#include "net/net.h"

/** One loaded plugin, as `agentai plugins list` shows it. */
typedef struct plugin_info {
  char path[1024];
  char name[128];
  char version[64];
  char summary[256];
  unsigned abi_major, abi_minor;
  char provides[512]; /**< "provider:mock, storage:lmdb" */
} plugin_info;

typedef struct plugin_registry plugin_registry;

/** Creates an empty registry whose host services run on loop. data_dir is
 *  what host->data_dir returns (copied). The registry holds one ref'd
 *  uv_async_t (for host->post), so uv_run(loop, UV_RUN_DEFAULT) does not
 *  return while the registry lives: drive the loop with UV_RUN_ONCE until
 *  your condition holds, or stop it with uv_stop. */
int plugin_registry_new(uv_loop_t *loop, const char *data_dir, plugin_registry **out);

/**
 * Loads one plugin file: dlopen(RTLD_NOW|RTLD_LOCAL), finds
 * agentai_plugin_entry, checks magic, size, ABI major, ABI minor, then calls
 * init with config_json (NULL = "{}"). On failure returns a negative code and
 * writes the exact reason, naming the file, both ABI versions and the fix
 * where relevant, to err. Never unloads.
 */
int plugin_load(plugin_registry *reg, const char *path, const char *config_json, char *err,
                size_t err_len);

/** Like plugin_load, with the plugin's [plugins.<name>] section of cfg. */
int plugin_load_with_config(plugin_registry *reg, const char *path, const config *cfg, char *err,
                            size_t err_len);

/**
 * Loads what cfg names (plugin_load entries, or every *.so in the plugin
 * folder), each with its [plugins.<name>] section. Stops at the first
 * failure with its message in err.
 */
int plugin_load_configured(plugin_registry *reg, const config *cfg, char *err, size_t err_len);

/** The build's default plugin folder: <dir of the executable>/plugins, or
 *  <dir>/../lib/agentai/plugins for an installed binary. */
int plugin_default_dir(char *out, size_t out_len);

size_t plugin_count(const plugin_registry *reg);
const plugin_info *plugin_get_info(const plugin_registry *reg, size_t i);

/** Registered provider by name, or NULL. The pointer is valid until
 *  plugin_registry_free. */
const agentai_provider_def *plugin_find_provider(const plugin_registry *reg, const char *name);
/** Name of the i-th registered provider (for listings), NULL past the end. */
const char *plugin_provider_name(const plugin_registry *reg, size_t i);
const agentai_storage_def *plugin_find_storage(const plugin_registry *reg, const char *name);

/** The host table handed to plugins (also usable by runtime code that needs
 *  host-style services, e.g. tests). */
const agentai_host *plugin_runtime_host(plugin_registry *reg);

/** The registry's HTTP client, shared by plugins (host->http_request) and
 *  the runtime (ai.http.request); created on first use. NULL when it cannot
 *  be created or the registry is shutting down. Valid until
 *  plugin_registry_free. */
net_client *plugin_registry_net(plugin_registry *reg);

/**
 * Shutdown: closes providers, runs every plugin's shutdown(), closes the HTTP
 * client (requests still in flight are cancelled), drains posts still queued. Libraries stay mapped
 * (never dlclose). Does not close storage databases: the owner of an open agentai_storage closes it
 * first. Its handles close asynchronously: run uv_run(loop, UV_RUN_DEFAULT) once afterwards, before
 * uv_loop_close.
 */
void plugin_registry_free(plugin_registry *reg);
