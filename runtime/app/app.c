/* app/app.c — assembles and tears down the runtime for the CLI commands. */
#include "app/app.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

static int make_absolute(char *path, size_t len) {
  if (path[0] == '/')
    return 0;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    return AGENTAI_EIO;
  char joined[PATH_MAX * 2];
  const char *rel = strncmp(path, "./", 2) == 0 ? path + 2 : path;
  snprintf(joined, sizeof joined, "%s/%s", cwd, rel[0] ? rel : ".");
  if (strlen(joined) >= len)
    return AGENTAI_E2BIG;
  snprintf(path, len, "%s", joined);
  return 0;
}

int app_config(app *a, const app_options *opts, char *err, size_t err_len) {
  memset(a, 0, sizeof *a);
  config_defaults(&a->cfg);
  int rc = 0;
  if (opts->config_path)
    rc = config_load_file(&a->cfg, opts->config_path, err, err_len);
  if (rc == 0)
    rc = config_apply_env(&a->cfg, err, err_len);
  if (rc == 0 && opts->listen) {
    char host[sizeof a->cfg.listen_host];
    int port = 0;
    if (config_parse_listen(opts->listen, host, sizeof host, &port) < 0) {
      snprintf(err, err_len, "--listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8080",
               opts->listen);
      rc = AGENTAI_EINVAL;
    } else {
      snprintf(a->cfg.listen_host, sizeof a->cfg.listen_host, "%s", host);
      a->cfg.listen_port = port;
    }
  }
  if (rc == 0 && opts->data_dir) {
    if (!opts->data_dir[0] || strlen(opts->data_dir) >= sizeof a->cfg.data_dir) {
      snprintf(err, err_len, "--data: expected a folder path");
      rc = AGENTAI_EINVAL;
    } else {
      snprintf(a->cfg.data_dir, sizeof a->cfg.data_dir, "%s", opts->data_dir);
    }
  }
  if (rc == 0 && make_absolute(a->cfg.data_dir, sizeof a->cfg.data_dir) < 0) {
    snprintf(err, err_len, "data folder path '%s' is too long", a->cfg.data_dir);
    rc = AGENTAI_E2BIG;
  }
  if (rc == 0)
    log_set_level(a->cfg.log_level);
  return rc;
}

int app_start(app *a, int open_store, char *err, size_t err_len) {
  if (uv_loop_init(&a->loop) != 0) {
    snprintf(err, err_len, "cannot create the event loop");
    return AGENTAI_EIO;
  }
  a->loop_ready = 1;
  int rc = plugin_registry_new(&a->loop, a->cfg.data_dir, &a->plugins);
  if (rc == 0)
    rc = plugin_load_configured(a->plugins, &a->cfg, err, err_len);
  if (rc == 0 && open_store)
    rc = store_open(&a->store, a->plugins, &a->cfg, err, err_len);
  a->lua.loop = &a->loop;
  a->lua.plugins = a->plugins;
  a->lua.store = a->store.db ? &a->store : NULL;
  a->lua.cfg = &a->cfg;
  if (rc == 0) {
    rc = llm_router_new(&a->loop, a->plugins, a->store.db ? &a->store : NULL, &a->cfg, &a->llm);
    if (rc < 0)
      snprintf(err, err_len, "cannot start the model router: %s", agentai_strerror(rc));
    a->lua.llm = a->llm;
  }
  if (rc < 0)
    app_stop(a);
  return rc;
}

void app_stop(app *a) {
  llm_router_free(a->llm); /* before storage: its cache writes there */
  a->llm = NULL;
  a->lua.llm = NULL;
  store_close(&a->store);
  if (a->plugins) {
    plugin_registry_free(a->plugins);
    a->plugins = NULL;
  }
  if (a->loop_ready) {
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0)
      log_write(AGENTAI_LOG_WARN, "agentai", "event loop closed with handles still open", NULL);
    a->loop_ready = 0;
  }
  config_free(&a->cfg);
}
