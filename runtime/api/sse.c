/* api/sse.c — GET /v1/tasks/{id}/events as Server-Sent Events: the stored history from
 * Last-Event-ID on, then live events (see follow.h), with keep-alive comments. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/follow.h"
#include "api/internal.h"
#include "core/errors.h"

#define SSE_MAX_BUFFERED ((size_t)1 << 20)
#define SSE_KEEPALIVE_MS 15000

typedef struct sse {
  http_stream *s;
  follower *follow;
  uv_timer_t keepalive;
} sse;

static void keepalive_closed(uv_handle_t *h) {
  free(h->data);
}

static void sse_closed(void *ud, http_stream *s, int reason) {
  (void)s;
  (void)reason;
  sse *x = ud;
  follower_stop(x->follow);
  uv_timer_stop(&x->keepalive);
  uv_close((uv_handle_t *)&x->keepalive, keepalive_closed);
}

/* One event per SSE message; "event:" lets EventSource dispatch on the type,
 * "id:" is what a reconnecting client sends back as Last-Event-ID. */
static int send_event(void *ud, const event_msg *ev) {
  sse *x = ud;
  char head[160];
  /* A live-only event (seq 0) carries no id: Last-Event-ID must not move. */
  int n = ev->seq
              ? snprintf(head, sizeof head, "id: %" PRIu64 "\nevent: %s\ndata: ", ev->seq, ev->type)
              : snprintf(head, sizeof head, "event: %s\ndata: ", ev->type);
  /* The JSON is on one line, so one data: field carries it. */
  if (http_stream_write(x->s, head, (size_t)n) < 0 ||
      http_stream_write(x->s, ev->json, ev->len) < 0 || http_stream_write(x->s, "\n\n", 2) < 0)
    return -1; /* the stream is closing: on_close follows */
  return 0;
}

static void keepalive_fired(uv_timer_t *h) {
  sse *x = h->data;
  http_stream_write(x->s, ": keepalive\n\n", 13);
}

void api_sse(api *a, http_request *req, const char *task_id) {
  const char *last = http_request_header(req, "last-event-id");
  if (!last)
    last = http_request_query_param(req, "since");
  uint64_t since = 0;
  if (last) {
    char *end = NULL;
    unsigned long long v = strtoull(last, &end, 10);
    if (!*last || *end || v > (1ULL << 53)) {
      api_error(req, 400, "invalid_request", "Last-Event-ID",
                "Last-Event-ID must be the sequence number of an event (got '%.32s')", last);
      return;
    }
    since = v;
  }
  sse *x = calloc(1, sizeof *x);
  if (!x) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  http_response_add_header(req, "Cache-Control", "no-cache");
  if (http_respond_stream(req, 200, "text/event-stream", SSE_MAX_BUFFERED, sse_closed, x, &x->s) <
      0) {
    free(x);
    return;
  }
  uv_timer_init(a->d.loop, &x->keepalive);
  x->keepalive.data = x;
  uv_timer_start(&x->keepalive, keepalive_fired, SSE_KEEPALIVE_MS, SSE_KEEPALIVE_MS);
  x->follow = follower_start(a, EVENT_SCOPE_TASK, task_id, since, send_event, x);
  if (!x->follow)
    http_stream_end(x->s);
}
