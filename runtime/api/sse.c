/* api/sse.c — GET /v1/tasks/{id}/events as Server-Sent Events: the stored history from
 * Last-Event-ID on, then live events, with no gap and no duplicate between the two. */
#include "api/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/ids.h"

#define SSE_BATCH 256
#define SSE_MAX_BUFFERED ((size_t)1 << 20)
#define SSE_KEEPALIVE_MS 15000

typedef struct sse {
  api *a;
  http_stream *s;
  event_sub *sub;
  char task_id[IDS_MAX];
  uint64_t last_sent;
  int catching_up; /* reading history: live events wait for the next read */
  int dirty;       /* a live event came during a read: read again */
  int closed;
  size_t batch_count;
  uv_timer_t keepalive;
} sse;

static void keepalive_closed(uv_handle_t *h) {
  free(h->data);
}

static void sse_closed(void *ud, http_stream *s, int reason) {
  (void)s;
  (void)reason;
  sse *x = ud;
  x->closed = 1;
  x->s = NULL;
  if (x->sub)
    event_hub_unsubscribe(x->a->d.hub, x->sub);
  x->sub = NULL;
  if (!x->catching_up) {
    uv_timer_stop(&x->keepalive);
    uv_close((uv_handle_t *)&x->keepalive, keepalive_closed);
  }
  /* else: the read in progress frees it when it ends */
}

static void send_event(sse *x, uint64_t seq, const char *json, size_t len) {
  if (x->closed || seq <= x->last_sent)
    return;
  /* the type is inside the JSON; SSE's "event:" lets EventSource dispatch on it */
  cJSON *ev = cJSON_ParseWithLength(json, len);
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  char head[160];
  int n = snprintf(head, sizeof head, "id: %" PRIu64 "\nevent: %s\ndata: ", seq,
                   cJSON_IsString(type) ? type->valuestring : "message");
  cJSON_Delete(ev);
  x->last_sent = seq;
  /* The JSON is printed on one line, so one data: field carries it. */
  if (http_stream_write(x->s, head, (size_t)n) < 0 || http_stream_write(x->s, json, len) < 0 ||
      http_stream_write(x->s, "\n\n", 2) < 0)
    x->closed = 1;
}

static void on_live(void *ud, const event_msg *ev) {
  sse *x = ud;
  if (x->catching_up) {
    x->dirty = 1;
    return;
  }
  if (ev->seq == x->last_sent + 1)
    send_event(x, ev->seq, ev->json, ev->len);
  else if (ev->seq > x->last_sent + 1)
    x->dirty = 1; /* cannot happen with ordered publishing; read the gap from storage */
}

static void read_history(sse *x);

static int history_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  (void)key;
  (void)klen;
  sse *x = ud;
  cJSON *ev = cJSON_ParseWithLength(value, vlen);
  double seq = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ev, "seq"));
  cJSON_Delete(ev);
  if (seq == seq && seq > 0)
    send_event(x, (uint64_t)seq, value, vlen);
  x->batch_count++;
  return x->closed;
}

static void history_done(void *ud, int err) {
  sse *x = ud;
  x->catching_up = 0;
  if (x->closed && !x->s) { /* the stream closed during the read */
    uv_close((uv_handle_t *)&x->keepalive, keepalive_closed);
    return;
  }
  if (err < 0) {
    http_stream_end(x->s);
    return;
  }
  if (x->dirty || x->batch_count == SSE_BATCH)
    read_history(x);
}

static void read_history(sse *x) {
  char start[96], end[96];
  int n =
      snprintf(start, sizeof start, ENGINE_NS_EVENT "%s/%010" PRIu64, x->task_id, x->last_sent + 1);
  int p = snprintf(end, sizeof end, ENGINE_NS_EVENT "%s/", x->task_id);
  size_t elen = store_prefix_end(end, (size_t)p, end);
  agentai_scan_range r = {start, (size_t)n, end, elen, 0, SSE_BATCH};
  x->catching_up = 1;
  x->dirty = 0;
  x->batch_count = 0;
  store *st = x->a->d.store;
  if (st->def->scan(st->db, NULL, &r, history_item, history_done, x) < 0)
    history_done(x, AGENTAI_EIO);
}

static void keepalive_fired(uv_timer_t *h) {
  sse *x = h->data;
  if (!x->closed && http_stream_write(x->s, ": keepalive\n\n", 13) < 0)
    x->closed = 1;
}

void api_sse(api *a, http_request *req, const char *task_id) {
  sse *x = calloc(1, sizeof *x);
  if (!x) {
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  x->a = a;
  snprintf(x->task_id, sizeof x->task_id, "%s", task_id);
  const char *last = http_request_header(req, "last-event-id");
  if (!last)
    last = http_request_query_param(req, "since");
  if (last) {
    char *end = NULL;
    unsigned long long v = strtoull(last, &end, 10);
    if (!*last || *end || v > (1ULL << 53)) {
      free(x);
      api_error(req, 400, "invalid_request", "Last-Event-ID",
                "Last-Event-ID must be the sequence number of an event (got '%.32s')", last);
      return;
    }
    x->last_sent = v;
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
  /* Subscribe first, then read: an event committed in between is either in
   * the read or announced after it, never lost. */
  x->sub = event_hub_subscribe(a->d.hub, EVENT_SCOPE_TASK, task_id, on_live, x);
  read_history(x);
}
