/* lua/routes.h — HTTP endpoints written in Lua: one long-lived sandboxed VM holds every route
 * file's handlers, and each request runs its handler in a fiber of its own. */
#pragma once

#include <stddef.h>

#include "http/server.h"
#include "lua/workflow.h"

/*
 * A route file registers handlers when it loads:
 *
 *   local ai = require("agentai")
 *   ai.route.get("/hello/{name}", function(req)
 *     return {status = 200, json = {hello = req.params.name}}
 *   end)
 *
 * Everything here runs on the loop thread of svc->loop. The VM's memory
 * budget (cfg lua_memory_limit) covers all routes together; the CPU budget
 * (cfg lua_cpu_limit) applies to each request: a runaway handler is stopped
 * with a 500 while the VM and the other requests go on. The Lua side is
 * documented in docs/lua-api.md, "Lua routes".
 */

typedef struct lh_routes lh_routes;

/**
 * Loads every `*.lua` file of each folder in dirs (folders in the given
 * order, files sorted by name; a missing folder has none) into one new route
 * VM. svc is borrowed and must outlive the routes; dirs are read during the
 * call only. On success *out receives the routes (possibly none) and 0 is
 * returned. On failure returns AGENTAI_EINVAL (a syntax or runtime error in a
 * file, a bad, reserved or duplicate route: err names the file and line, both
 * files for a duplicate), AGENTAI_EIO (a folder cannot be read) or
 * AGENTAI_ENOMEM, and nothing is left open.
 */
int lh_routes_open(const lh_services *svc, const char *const *dirs, size_t ndirs, lh_routes **out,
                   char *err, size_t err_len);

/**
 * Offers req to the routes. Returns 0 when no route pattern matches its path
 * (req is untouched: the caller still owns it). Returns 1 when one does: req
 * is now owned by the routes and answered inline, before this returns, when
 * the handler finishes without waiting, else later from the loop. A path
 * that matches a pattern but not its method is answered 405 with an Allow
 * header (and 1 is returned). The built-in API's paths (/v1/..., /healthz,
 * /readyz, /version, /metrics) never match. r may be NULL (returns 0).
 * Must not be called from inside a Lua handler, nor after lh_routes_close.
 */
int lh_routes_dispatch(lh_routes *r, http_request *req);

/** Number of routes loaded (for logs and metrics); 0 when r is NULL. */
size_t lh_routes_count(const lh_routes *r);

/** Bytes the route VM uses now (for metrics); 0 when r is NULL. */
size_t lh_routes_memory(const lh_routes *r);

/**
 * Answers every request still waiting in a handler with 503 (their pending
 * calls are cancelled), then frees the VM; its last handle closes during the
 * next loop iterations. r may be NULL. r must not be used after this call;
 * do not call it from inside a handler.
 */
void lh_routes_close(lh_routes *r);
