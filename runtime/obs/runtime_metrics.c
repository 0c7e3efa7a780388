/* obs/runtime_metrics.c — registers the daemon's families once; request-path updates are a series
 * lookup and an add. */
#include "obs/runtime_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentai/plugin.h"
#include "obs/metrics.h"

/* One callback per engine figure: ud points at one of these. */
typedef struct stat_ref {
  struct runtime_metrics *rm;
  size_t which;
} stat_ref;

struct runtime_metrics {
  metrics *m;
  stat_ref refs[9];
  runtime_metrics_sources src;
  metric_family *requests, *durations, *commits;
  metric_series *commit_series;
};

static double engine_stat(const runtime_metrics *rm, size_t which) {
  if (!rm->src.engine)
    return NAN;
  engine_stats st;
  engine_get_stats(rm->src.engine, &st);
  switch (which) {
    case 0:
      return (double)st.queued;
    case 1:
      return (double)st.running;
    case 2:
      return (double)st.waiting_retry;
    case 3:
      return (double)st.succeeded;
    case 4:
      return (double)st.failed;
    case 5:
      return (double)st.cancelled;
    case 6:
      return (double)st.retried;
    case 7:
      return (double)st.started;
    default:
      return (double)st.lua_memory;
  }
}

static double stat_fn(void *ud) {
  stat_ref *r = ud;
  return engine_stat(r->rm, r->which);
}

static double subscribers_fn(void *ud) {
  runtime_metrics *rm = ud;
  return rm->src.hub ? (double)event_hub_count(rm->src.hub) : NAN;
}

static double ws_fn(void *ud) {
  runtime_metrics *rm = ud;
  return rm->src.ws_connections ? (double)rm->src.ws_connections(rm->src.ws_ud) : NAN;
}

static double lua_fn(void *ud) {
  runtime_metrics *rm = ud;
  double routes = rm->src.route_memory ? (double)rm->src.route_memory(rm->src.route_ud) : 0;
  return routes + engine_stat(rm, 8);
}

int runtime_metrics_new(const runtime_metrics_sources *src, runtime_metrics **out) {
  *out = NULL;
  runtime_metrics *rm = calloc(1, sizeof *rm);
  if (!rm || metrics_new(&rm->m) < 0) {
    free(rm);
    return AGENTAI_ENOMEM;
  }
  rm->src = *src;
  static const char *const HTTP_LABELS[] = {"route", "method", "status", NULL};
  static const char *const ROUTE_LABEL[] = {"route", NULL};
  static const char *const STATE_LABEL[] = {"state", NULL};
  static const char *const OUTCOME_LABEL[] = {"outcome", NULL};
  metric_family *tasks, *outcomes, *queue, *running, *subs, *ws, *lua;
  int rc = 0;
  rc |= metrics_counter(rm->m, "agentai_http_requests_total", "HTTP responses by route and status",
                        HTTP_LABELS, &rm->requests);
  rc |= metrics_histogram(rm->m, "agentai_http_request_duration_seconds",
                          "Time from request headers to the response, by route", ROUTE_LABEL, NULL,
                          0, &rm->durations);
  rc |= metrics_gauge(rm->m, "agentai_tasks", "Active tasks by state", STATE_LABEL, &tasks);
  rc |= metrics_counter(rm->m, "agentai_task_outcomes_total",
                        "Task attempts started and tasks ended since start", OUTCOME_LABEL,
                        &outcomes);
  rc |= metrics_gauge(rm->m, "agentai_queue_depth", "Tasks waiting to run", NULL, &queue);
  rc |= metrics_gauge(rm->m, "agentai_workflows_running", "Workflow attempts running", NULL,
                      &running);
  rc |= metrics_gauge(rm->m, "agentai_event_subscriptions",
                      "Live event subscriptions (SSE streams and WebSocket subscriptions)", NULL,
                      &subs);
  rc |= metrics_gauge(rm->m, "agentai_websocket_connections", "Open WebSocket connections", NULL,
                      &ws);
  rc |= metrics_histogram(rm->m, "agentai_storage_commit_seconds",
                          "Time from a write batch to its durable commit", NULL, NULL, 0,
                          &rm->commits);
  rc |= metrics_gauge(rm->m, "agentai_lua_memory_bytes",
                      "Memory in use by Lua VMs (running workflows and routes)", NULL, &lua);
  if (rc < 0) {
    runtime_metrics_free(rm);
    return AGENTAI_ENOMEM;
  }
  static const char *const STATES[] = {"queued", "running", "waiting_retry"};
  static const char *const OUTCOMES[] = {"succeeded", "failed", "cancelled", "retried", "started"};
  for (size_t i = 0; i < 9; i++)
    rm->refs[i] = (stat_ref){rm, i};
  for (size_t i = 0; i < 3; i++) {
    const char *v[] = {STATES[i], NULL};
    rc |= metrics_series_fn(tasks, v, stat_fn, &rm->refs[i]);
  }
  for (size_t i = 0; i < 5; i++) {
    const char *v[] = {OUTCOMES[i], NULL};
    rc |= metrics_series_fn(outcomes, v, stat_fn, &rm->refs[3 + i]);
  }
  rc |= metrics_series_fn(queue, NULL, stat_fn, &rm->refs[0]);
  rc |= metrics_series_fn(running, NULL, stat_fn, &rm->refs[1]);
  rc |= metrics_series_fn(subs, NULL, subscribers_fn, rm);
  rc |= metrics_series_fn(ws, NULL, ws_fn, rm);
  rc |= metrics_series_fn(lua, NULL, lua_fn, rm);
  rc |= metrics_series(rm->commits, NULL, &rm->commit_series);
  rc |= metrics_process(rm->m);
  if (rc < 0) {
    runtime_metrics_free(rm);
    return AGENTAI_ENOMEM;
  }
  *out = rm;
  return 0;
}

void runtime_metrics_free(runtime_metrics *rm) {
  if (!rm)
    return;
  metrics_free(rm->m);
  free(rm);
}

void runtime_metrics_http(runtime_metrics *rm, const char *route, const char *method, int status,
                          double seconds) {
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  const char *labels[] = {route ? route : "other", method, code, NULL};
  metric_series *s = NULL;
  if (metrics_series(rm->requests, labels, &s) == 0)
    metrics_inc(s, 1);
  const char *rl[] = {labels[0], NULL};
  if (metrics_series(rm->durations, rl, &s) == 0)
    metrics_observe(s, seconds);
}

void runtime_metrics_commit(void *ud, double seconds) {
  runtime_metrics *rm = ud;
  if (rm)
    metrics_observe(rm->commit_series, seconds);
}

void runtime_metrics_respond(runtime_metrics *rm, http_request *req) {
  char *text = NULL;
  size_t len = 0;
  if (metrics_render(rm->m, &text, &len) < 0) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  http_respond(req, 200, METRICS_CONTENT_TYPE, text, len);
  free(text);
}

metrics *runtime_metrics_registry(runtime_metrics *rm) {
  return rm ? rm->m : NULL;
}
