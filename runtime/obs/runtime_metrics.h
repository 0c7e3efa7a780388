/* obs/runtime_metrics.h — the daemon's metric set behind GET /metrics: HTTP traffic, tasks,
 * queue, workflows, WebSocket connections, storage commit latency, Lua memory. */
#pragma once

#include <stddef.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "http/server.h"
#include "obs/metrics.h"

typedef struct runtime_metrics runtime_metrics;

/** What the gauges read at scrape time. Borrowed; members may be NULL. */
typedef struct runtime_metrics_sources {
  engine *engine;
  event_hub *hub;
  size_t (*route_memory)(void *ud); /**< bytes of the Lua routes VM */
  void *route_ud;
  size_t (*ws_connections)(void *ud);
  void *ws_ud;
} runtime_metrics_sources;

/** Builds the registry. 0, or AGENTAI_ENOMEM. */
int runtime_metrics_new(const runtime_metrics_sources *src, runtime_metrics **out);
void runtime_metrics_free(runtime_metrics *rm);

/** Counts one HTTP response: route label (NULL: "other"), method, status, duration. */
void runtime_metrics_http(runtime_metrics *rm, const char *route, const char *method, int status,
                          double seconds);

/** Records one storage commit as seen by the engine (submit to durable). */
void runtime_metrics_commit(void *rm, double seconds);

/** The registry behind it, for subsystems that register their own families. */
metrics *runtime_metrics_registry(runtime_metrics *rm);

/** Answers req with the text exposition. */
void runtime_metrics_respond(runtime_metrics *rm, http_request *req);
