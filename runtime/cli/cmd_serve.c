/* cli/cmd_serve.c — `agentai serve`: the HTTP API on the loop, clean shutdown on SIGTERM/SIGINT. */
#include <cjson/cJSON.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/api.h"
#include "app/app.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "core/errors.h"
#include "core/log.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "http/server.h"
#include "lua/routes.h"
#include "obs/runtime_metrics.h"

static const char HELP[] =
    "usage: agentai serve [--config FILE] [--listen HOST:PORT] [--data DIR]\n"
    "\n"
    "Starts the runtime: loads plugins, opens storage, recovers tasks, runs the\n"
    "task engine and serves HTTP on HOST:PORT (default 127.0.0.1:8080): the /v1\n"
    "API (agents, tasks, events, the /v1/ws WebSocket), the Lua routes of the\n"
    "route folders, GET /metrics, GET /healthz, GET /readyz, GET /version.\n"
    "While no API key exists /v1 is open (loopback only: on another address serve\n"
    "refuses to start until `agentai keys create --role admin ...` made one).\n"
    "SIGTERM or SIGINT stops accepting, stops running tasks at their next yield\n"
    "point (they resume on the next start), closes storage, and exits 0.\n";

typedef struct server_state {
  app *a;
  http_server *http;
  event_hub *hub;
  engine *engine;
  api *api;
  lh_routes *routes;
  runtime_metrics *metrics;
  auth_keys *keys;
  uv_signal_t sigterm, sigint;
  int stopping;
  int pending_stops; /* http server and engine */
  uint64_t started_ms;
} server_state;

static void respond_cjson(http_request *req, int status, cJSON *body) {
  char *text = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  if (!text) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  http_respond_json(req, status, text);
  free(text);
}

/* Readiness: the storage answers a read and every plugin is loaded. */
static void handle_readyz(server_state *s, http_request *req) {
  app *a = s->a;
  cJSON *body = cJSON_CreateObject();
  cJSON *checks = cJSON_AddObjectToObject(body, "checks");
  int ready = !s->stopping;

  cJSON *storage = cJSON_AddObjectToObject(checks, "storage");
  cJSON_AddStringToObject(storage, "backend", a->cfg.storage_backend);
  int storage_ok = a->store.db != NULL;
  if (storage_ok && a->store.def->stats) {
    char *stats = NULL;
    storage_ok = a->store.def->stats(a->store.db, &stats) == 0;
    cJSON *parsed = stats ? cJSON_Parse(stats) : NULL;
    if (parsed)
      cJSON_AddItemToObject(storage, "stats", parsed);
    free(stats);
  }
  cJSON_AddBoolToObject(storage, "ok", storage_ok);
  ready &= storage_ok;

  cJSON *plugins = cJSON_AddObjectToObject(checks, "plugins");
  cJSON *loaded = cJSON_AddArrayToObject(plugins, "loaded");
  for (size_t i = 0; i < plugin_count(a->plugins); i++)
    cJSON_AddItemToArray(loaded, cJSON_CreateString(plugin_get_info(a->plugins, i)->name));
  cJSON *providers = cJSON_AddArrayToObject(plugins, "providers");
  const char *name;
  for (size_t i = 0; (name = plugin_provider_name(a->plugins, i)); i++)
    cJSON_AddItemToArray(providers, cJSON_CreateString(name));
  int plugins_ok = plugin_count(a->plugins) > 0;
  cJSON_AddBoolToObject(plugins, "ok", plugins_ok);
  ready &= plugins_ok;

  cJSON_AddStringToObject(body, "status", ready ? "ready" : "not_ready");
  respond_cjson(req, ready ? 200 : 503, body);
}

static void handle_version(http_request *req) {
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "version", AGENTAI_VERSION_STRING);
  char abi[16];
  snprintf(abi, sizeof abi, "%d.%d", AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR);
  cJSON_AddStringToObject(body, "abi", abi);
  cJSON_AddStringToObject(body, "lua", LUA_RELEASE);
  cJSON_AddStringToObject(body, "libuv", uv_version_string());
  cJSON_AddStringToObject(body, "libwebsockets", http_library_version());
  respond_cjson(req, 200, body);
}

static void handle_request(void *ud, http_request *req) {
  server_state *s = ud;
  if (s->api && api_handle(s->api, req))
    return;
  const char *method = http_request_method(req);
  const char *path = http_request_path(req);
  int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  if (!strcmp(path, "/metrics")) {
    http_request_set_route(req, "/metrics");
    if (!get) {
      http_response_add_header(req, "Allow", "GET, HEAD");
      http_respond_error(req, 405, "method_not_allowed", "this endpoint only answers GET", NULL);
      return;
    }
    runtime_metrics_respond(s->metrics, req);
    return;
  }
  http_request_set_route(req, "lua_route");
  if (s->routes && lh_routes_dispatch(s->routes, req))
    return;
  http_request_set_route(req, NULL);
  if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/version")) {
    http_request_set_route(req, !strcmp(path, "/healthz")  ? "/healthz"
                                : !strcmp(path, "/readyz") ? "/readyz"
                                                           : "/version");
    if (!get) {
      http_response_add_header(req, "Allow", "GET, HEAD");
      http_respond_error(req, 405, "method_not_allowed", "this endpoint only answers GET", NULL);
      return;
    }
    if (!strcmp(path, "/healthz")) {
      cJSON *body = cJSON_CreateObject();
      cJSON_AddStringToObject(body, "status", "ok");
      cJSON_AddNumberToObject(body, "uptime_s",
                              (double)(uv_now(&s->a->loop) - s->started_ms) / 1000.0);
      respond_cjson(req, 200, body);
    } else if (!strcmp(path, "/readyz")) {
      handle_readyz(s, req);
    } else {
      handle_version(req);
    }
    return;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "no route for %s %s", method, path);
  http_respond_error(req, 404, "not_found", msg, NULL);
}

static void on_response(void *ud, http_request *req, int status, double seconds) {
  server_state *s = ud;
  if (s->metrics)
    runtime_metrics_http(s->metrics, http_request_route(req), http_request_method(req), status,
                         seconds);
}

static int ws_open(void *ud, http_ws *ws) {
  return api_ws_open(((server_state *)ud)->api, ws);
}

static void ws_message(void *ud, http_ws *ws, const char *data, size_t len, int is_binary) {
  api_ws_message(((server_state *)ud)->api, ws, data, len, is_binary);
}

static void ws_close(void *ud, http_ws *ws, int reason) {
  api_ws_close(((server_state *)ud)->api, ws, reason);
}

static size_t ws_connections(void *ud) {
  return api_ws_count(ud);
}

static size_t route_memory(void *ud) {
  return lh_routes_memory(ud);
}

/* Raises the open-file limit to what the system allows: every connection
 * holds a descriptor (streams and WebSockets two), and a soft limit of 1024
 * would refuse connections long before memory or CPU run out. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
      log_printf(AGENTAI_LOG_DEBUG, "serve", "open-file limit raised from %llu to %llu",
                 (unsigned long long)before, (unsigned long long)rl.rlim_cur);
  }
}

/* Loopback addresses: the only ones served without API keys. */
static int is_loopback(const char *host) {
  return !strcmp(host, "localhost") || !strcmp(host, "::1") || !strncmp(host, "127.", 4) ||
         !strcmp(host, "[::1]");
}

/* Opens the API keys; refuses a non-loopback address while none exists.
 * Returns 0, or CLI_FAILED after printing why. */
static int open_keys(app *a, auth_keys **out) {
  if (auth_keys_new(&a->store, out) < 0) {
    cli_error("out of memory");
    return CLI_FAILED;
  }
  int any = auth_keys_any(*out);
  if (any < 0) {
    cli_error("cannot read API keys from storage: %s", agentai_strerror(any));
  } else if (any == 0 && !is_loopback(a->cfg.listen_host)) {
    cli_error("refusing to serve %s:%d without API keys: anyone who can reach it could use the "
              "API.\nCreate the first admin key, then start again:\n  agentai keys create "
              "--role admin --tenant default --data %s",
              a->cfg.listen_host, a->cfg.listen_port, a->cfg.data_dir);
  } else {
    return 0;
  }
  auth_keys_free(*out);
  *out = NULL;
  return CLI_FAILED;
}

static void stop_done(void *ud) {
  server_state *s = ud;
  if (--s->pending_stops > 0)
    return;
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_stop(&s->a->loop);
}

static void on_signal(uv_signal_t *h, int signum) {
  server_state *s = h->data;
  if (s->stopping)
    return;
  s->stopping = 1;
  log_printf(AGENTAI_LOG_INFO, "serve", "received %s: shutting down",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
  /* Stop accepting first, then let running tasks reach a yield point. */
  s->pending_stops = 2;
  http_server_stop(s->http, stop_done, s);
  engine_shutdown(s->engine, stop_done, s);
}

int cli_serve(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(HELP, stdout);
    return CLI_OK;
  }
  cli_args args;
  if (cli_parse(argc, argv, &args, 1, 0))
    return CLI_USAGE;
  if (args.npositional) {
    cli_error("serve takes no arguments (see --help)");
    return CLI_USAGE;
  }
  app a;
  char err[2048];
  if (cli_start(&a, &args, 1))
    return CLI_FAILED;
  raise_fd_limit();
  server_state s = {.a = &a, .started_ms = uv_now(&a.loop)};
  if (open_keys(&a, &s.keys)) {
    app_stop(&a);
    return CLI_FAILED;
  }
  s.hub = event_hub_new();
  engine_deps edeps = {
      .loop = &a.loop, .store = &a.store, .lua = &a.lua, .cfg = &a.cfg, .hub = s.hub};
  if (!s.hub || engine_open(&edeps, &s.engine, err, sizeof err) < 0) {
    event_hub_free(s.hub);
    auth_keys_free(s.keys);
    app_stop(&a);
    cli_error("%s", s.hub ? err : "out of memory");
    return CLI_FAILED;
  }
  api_deps adeps = {.loop = &a.loop,
                    .store = &a.store,
                    .engine = s.engine,
                    .hub = s.hub,
                    .cfg = &a.cfg,
                    .plugins = a.plugins,
                    .llm = a.llm,
                    .keys = s.keys};
  s.api = api_new(&adeps);
  if (lh_routes_open(&a.lua, (const char *const *)a.cfg.route_dirs, a.cfg.route_dir_count,
                     &s.routes, err, sizeof err) < 0) {
    engine_shutdown(s.engine, NULL, NULL);
    engine_free(s.engine);
    api_free(s.api);
    auth_keys_free(s.keys);
    event_hub_free(s.hub);
    app_stop(&a);
    cli_error("Lua routes: %s", err);
    return CLI_FAILED;
  }
  runtime_metrics_sources msrc = {.engine = s.engine,
                                  .hub = s.hub,
                                  .route_memory = route_memory,
                                  .route_ud = s.routes,
                                  .ws_connections = ws_connections,
                                  .ws_ud = s.api};
  runtime_metrics_new(&msrc, &s.metrics);
  if (s.metrics)
    llm_router_set_metrics(a.llm, runtime_metrics_registry(s.metrics));
  /* The engine was opened before the registry existed: hook commits now. */
  engine_set_commit_observer(s.engine, runtime_metrics_commit, s.metrics);
  http_server_options hopts = {
      .ws_path = "/v1/ws",
      .ws = {.on_open = ws_open, .on_message = ws_message, .on_close = ws_close},
      .on_response = on_response};
  if (http_server_start(&a.loop, a.cfg.listen_host, a.cfg.listen_port, handle_request, &s, &hopts,
                        &s.http, err, sizeof err) < 0) {
    engine_shutdown(s.engine, NULL, NULL);
    engine_free(s.engine);
    lh_routes_close(s.routes);
    llm_router_set_metrics(a.llm, NULL);
    runtime_metrics_free(s.metrics);
    api_free(s.api);
    auth_keys_free(s.keys);
    event_hub_free(s.hub);
    app_stop(&a);
    cli_error("%s", err);
    return CLI_FAILED;
  }
  uv_signal_init(&a.loop, &s.sigterm);
  uv_signal_init(&a.loop, &s.sigint);
  s.sigterm.data = s.sigint.data = &s;
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_signal_start(&s.sigint, on_signal, SIGINT);

  cJSON *fields = cJSON_CreateObject();
  char url[300];
  snprintf(url, sizeof url, "http://%s:%d", a.cfg.listen_host, http_server_port(s.http));
  cJSON_AddStringToObject(fields, "url", url);
  cJSON_AddNumberToObject(fields, "port", http_server_port(s.http));
  cJSON_AddStringToObject(fields, "data", a.cfg.data_dir);
  cJSON_AddNumberToObject(fields, "plugins", (double)plugin_count(a.plugins));
  cJSON_AddNumberToObject(fields, "routes", (double)lh_routes_count(s.routes));
  char *text = cJSON_PrintUnformatted(fields);
  cJSON_Delete(fields);
  log_write(AGENTAI_LOG_INFO, "serve", "listening", text);
  free(text);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  lh_routes_close(s.routes); /* before app_stop: its timers use the plugin host */
  api_free(s.api);
  engine_free(s.engine);
  llm_router_set_metrics(a.llm, NULL);
  runtime_metrics_free(s.metrics);
  app_stop(&a); /* waits for key writes in flight: their callbacks use the keys */
  auth_keys_free(s.keys);
  event_hub_free(s.hub);
  log_write(AGENTAI_LOG_INFO, "serve", "stopped", NULL);
  return CLI_OK;
}
