/* app/app.h — the assembled runtime: configuration, loop, plugins and storage, started and stopped
 * as one. */
#pragma once

#include <uv.h>

#include "core/config.h"
#include "llm/llm.h"
#include "lua/workflow.h"
#include "plugin/loader.h"
#include "store/store.h"

/** Everything a command needs, owned together. */
typedef struct app {
  config cfg;
  uv_loop_t loop;
  plugin_registry *plugins;
  store store;
  lh_services lua;
  llm_router *llm; /**< every model call goes through it */
  int loop_ready;
} app;

/** What the command line said; NULL fields keep the configuration's value. */
typedef struct app_options {
  const char *config_path; /**< --config FILE */
  const char *listen;      /**< --listen HOST:PORT */
  const char *data_dir;    /**< --data DIR */
} app_options;

/**
 * Builds the configuration: embedded default, then the file, then the
 * environment, then the command line. The data folder is made absolute.
 * Errors name the file and line, the variable, or the flag.
 */
int app_config(app *a, const app_options *opts, char *err, size_t err_len);

/**
 * Starts the loop, loads the configured plugins and, when open_store is set,
 * opens the storage backend. On failure nothing stays half-started: what was
 * started is stopped again and err says why.
 */
int app_start(app *a, int open_store, char *err, size_t err_len);

/** Closes storage, shuts plugins down, runs the loop until every handle is
 *  closed, releases the configuration. Safe after a failed app_start. */
void app_stop(app *a);
