/* plugin/host.h — the host services table given to plugins (log, memory, timers, work, post,
 * registration, HTTP). */
#pragma once

#include <uv.h>

#include "agentai/plugin.h"

typedef struct plugin_registry plugin_registry;

/** Per-plugin context behind agentai_host.host_ctx. */
typedef struct host_ctx {
  plugin_registry *reg;
  char plugin_name[128];
  int registering; /**< registrations allowed only while init() runs */
  int failed_registration;
} host_ctx;

/** Fills a host table for one plugin. The table and ctx must outlive the plugin. */
void host_table_init(agentai_host *host, host_ctx *ctx);

/** The loop post queue shared by every plugin of a registry. */
typedef struct host_post_queue host_post_queue;

/** Creates the queue on loop (one uv_async_t, ref'd: it keeps the loop alive
 *  until host_post_queue_close). */
int host_post_queue_new(uv_loop_t *loop, host_post_queue **out);
/** Thread-safe: queues fn(ud) to run on the loop thread. */
int host_post_queue_push(host_post_queue *q, agentai_post_fn fn, void *ud);
/** Runs every queued post now (loop thread). */
void host_post_queue_drain(host_post_queue *q);
/** Drains, then closes the async handle; memory is released once the loop
 *  has run the close callback. */
void host_post_queue_close(host_post_queue *q);

/* Implemented by loader.c for the registration entries of the table. */
uv_loop_t *plugin_registry_loop(plugin_registry *reg);
host_post_queue *plugin_registry_posts(plugin_registry *reg);
const char *plugin_registry_data_dir(plugin_registry *reg);
int plugin_registry_add_provider(plugin_registry *reg, host_ctx *ctx,
                                 const struct agentai_provider_def *def);
int plugin_registry_add_storage(plugin_registry *reg, host_ctx *ctx,
                                const struct agentai_storage_def *def);
