/* api/api.h — the REST API under /v1: agents, tasks, events; one JSON error envelope. */
#pragma once

#include <uv.h>

#include "auth/auth.h"
#include "core/config.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "http/server.h"
#include "llm/llm.h"
#include "plugin/loader.h"
#include "store/store.h"

typedef struct api api;

/** What the API serves from. Borrowed for the API's lifetime. */
typedef struct api_deps {
  uv_loop_t *loop;
  store *store;
  engine *engine;
  event_hub *hub;
  const config *cfg;
  plugin_registry *plugins;
  llm_router *llm; /**< the gateway's model router; NULL = gateway answers 503 */
  auth_keys *keys; /**< API keys; NULL = no authentication at all (tests) */
} api_deps;

/** Who is calling: set by the /v1 dispatch before a handler runs and valid
 *  during that call (handlers that answer later copy what they need). */
typedef struct api_auth {
  int required;   /**< 0: no key exists, the API is open (the zero-config default) */
  auth_role role; /**< the key's role; AUTH_ROLE_ADMIN when the API is open */
  char key_id[IDS_MAX];
  char tenant[AUTH_TENANT_MAX + 1]; /**< the key's tenant; "" when the API is open */
} api_auth;

/** A new API; NULL on ENOMEM. */
api *api_new(const api_deps *deps);

/** Serves req when its path is under /v1/ (returns 1: req is consumed), or
 *  returns 0 and leaves req alone. Unknown /v1 paths get a 404 JSON error,
 *  known paths with another method a 405 with Allow. */
int api_handle(api *a, http_request *req);

/** WebSocket endpoint /v1/ws (wire these into http_server_options.ws):
 *  accept a connection, handle one command message, release it. */
int api_ws_open(api *a, http_ws *ws);
void api_ws_message(api *a, http_ws *ws, const char *data, size_t len, int is_binary);
void api_ws_close(api *a, http_ws *ws, int reason);
/** Open WebSocket connections. */
size_t api_ws_count(const api *a);

/** Ends live event streams (server stopping) and frees the API. */
void api_free(api *a);
