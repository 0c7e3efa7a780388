/* store/store.h — the runtime's handle on the configured storage backend, and its key namespaces.
 */
#pragma once

#include "agentai/storage.h"
#include "core/config.h"
#include "plugin/loader.h"

/**
 * Key namespaces. Every record kind lives under its own prefix so that a
 * prefix scan of one kind never reads another. Workflow key-value data
 * (ai.kv) lives under STORE_NS_KV.
 */
#define STORE_NS_KV "kv/"

/** An open database of a registered backend. */
typedef struct store {
  const agentai_storage_def *def;
  agentai_storage *db;
} store;

/**
 * Opens cfg->storage_backend's database in cfg->data_dir. Errors name the
 * backend (and which backends are registered) or the backend's reason.
 */
int store_open(store *st, plugin_registry *reg, const config *cfg, char *err, size_t err_len);

/** Closes the database (waits for writes in flight; their callbacks run). */
void store_close(store *st);

/** Fills [end, end_len) with the smallest key greater than every key that
 *  starts with prefix (prefix with its last non-0xff byte incremented).
 *  Returns 0 when there is no such key (prefix is all 0xff: scan to the end). */
size_t store_prefix_end(const char *prefix, size_t len, char *end);
