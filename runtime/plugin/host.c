/* plugin/host.c — implementation of the host services table on the runtime's libuv loop. */
#include "plugin/host.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/provider.h"
#include "agentai/storage.h"
#include "core/errors.h"
#include "core/log.h"
#include "plugin/loader.h"

static host_ctx *ctx_of(const agentai_host *host) {
  return (host_ctx *)host->host_ctx;
}

static void h_log(const agentai_host *host, int level, const char *msg, const char *fields_json) {
  log_write(level, ctx_of(host)->plugin_name, msg, fields_json);
}

static void *h_alloc(const agentai_host *host, size_t size) {
  (void)host;
  return malloc(size ? size : 1);
}

static void *h_realloc(const agentai_host *host, void *ptr, size_t size) {
  (void)host;
  return realloc(ptr, size ? size : 1);
}

static void h_free(const agentai_host *host, void *ptr) {
  (void)host;
  free(ptr);
}

static uint64_t h_now_ms(const agentai_host *host) {
  (void)host;
  return uv_hrtime() / 1000000u;
}

/* ---- timers ---- */

struct agentai_timer {
  uv_timer_t handle;
  agentai_timer_cb cb;
  void *ud;
};

static void timer_closed(uv_handle_t *h) {
  free(h->data);
}

static void timer_fired(uv_timer_t *t) {
  agentai_timer *timer = t->data;
  agentai_timer_cb cb = timer->cb;
  void *ud = timer->ud;
  uv_close((uv_handle_t *)&timer->handle, timer_closed);
  cb(ud);
}

static int h_timer_start(const agentai_host *host, uint64_t delay_ms, agentai_timer_cb cb, void *ud,
                         agentai_timer **out) {
  if (!cb)
    return AGENTAI_EINVAL;
  agentai_timer *timer = calloc(1, sizeof *timer);
  if (!timer)
    return AGENTAI_ENOMEM;
  timer->cb = cb;
  timer->ud = ud;
  uv_loop_t *loop = plugin_registry_loop(ctx_of(host)->reg);
  /* The loop's clock is cached from its last iteration: refresh it so the delay
   * counts from now, not from whenever the loop last woke up. */
  uv_update_time(loop);
  uv_timer_init(loop, &timer->handle);
  timer->handle.data = timer;
  uv_timer_start(&timer->handle, timer_fired, delay_ms, 0);
  if (out)
    *out = timer;
  return 0;
}

static void h_timer_cancel(const agentai_host *host, agentai_timer *timer) {
  (void)host;
  if (!timer || uv_is_closing((uv_handle_t *)&timer->handle))
    return;
  uv_timer_stop(&timer->handle);
  uv_close((uv_handle_t *)&timer->handle, timer_closed);
}

/* ---- thread pool ---- */

typedef struct work_req {
  uv_work_t req;
  agentai_work_fn work;
  agentai_after_work_fn after;
  void *ud;
} work_req;

static void work_run(uv_work_t *req) {
  work_req *w = req->data;
  w->work(w->ud);
}

static void work_after(uv_work_t *req, int status) {
  work_req *w = req->data;
  if (w->after)
    w->after(w->ud, status == UV_ECANCELED ? AGENTAI_ECANCELED : 0);
  free(w);
}

static int h_queue_work(const agentai_host *host, agentai_work_fn work, agentai_after_work_fn after,
                        void *ud) {
  if (!work)
    return AGENTAI_EINVAL;
  work_req *w = calloc(1, sizeof *w);
  if (!w)
    return AGENTAI_ENOMEM;
  w->work = work;
  w->after = after;
  w->ud = ud;
  w->req.data = w;
  if (uv_queue_work(plugin_registry_loop(ctx_of(host)->reg), &w->req, work_run, work_after) != 0) {
    free(w);
    return AGENTAI_EBUSY;
  }
  return 0;
}

/* ---- cross-thread posts ---- */

typedef struct post_item {
  struct post_item *next;
  agentai_post_fn fn;
  void *ud;
} post_item;

struct host_post_queue {
  uv_async_t async;
  pthread_mutex_t lock;
  post_item *head, *tail;
  int closing;
};

static void post_async_cb(uv_async_t *a) {
  host_post_queue_drain(a->data);
}

int host_post_queue_new(uv_loop_t *loop, host_post_queue **out) {
  host_post_queue *q = calloc(1, sizeof *q);
  if (!q)
    return AGENTAI_ENOMEM;
  pthread_mutex_init(&q->lock, NULL);
  uv_async_init(loop, &q->async, post_async_cb);
  q->async.data = q;
  *out = q;
  return 0;
}

int host_post_queue_push(host_post_queue *q, agentai_post_fn fn, void *ud) {
  post_item *item = malloc(sizeof *item);
  if (!item)
    return AGENTAI_ENOMEM;
  item->next = NULL;
  item->fn = fn;
  item->ud = ud;
  pthread_mutex_lock(&q->lock);
  if (q->closing) {
    pthread_mutex_unlock(&q->lock);
    free(item);
    return AGENTAI_EBUSY;
  }
  if (q->tail)
    q->tail->next = item;
  else
    q->head = item;
  q->tail = item;
  pthread_mutex_unlock(&q->lock);
  uv_async_send(&q->async);
  return 0;
}

void host_post_queue_drain(host_post_queue *q) {
  for (;;) {
    pthread_mutex_lock(&q->lock);
    post_item *list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    if (!list)
      return;
    while (list) {
      post_item *next = list->next;
      list->fn(list->ud);
      free(list);
      list = next;
    }
  }
}

static void post_queue_closed(uv_handle_t *h) {
  host_post_queue *q = h->data;
  pthread_mutex_destroy(&q->lock);
  free(q);
}

void host_post_queue_close(host_post_queue *q) {
  host_post_queue_drain(q);
  pthread_mutex_lock(&q->lock);
  q->closing = 1;
  pthread_mutex_unlock(&q->lock);
  host_post_queue_drain(q);
  uv_close((uv_handle_t *)&q->async, post_queue_closed);
}

static int h_post(const agentai_host *host, agentai_post_fn fn, void *ud) {
  if (!fn)
    return AGENTAI_EINVAL;
  return host_post_queue_push(plugin_registry_posts(ctx_of(host)->reg), fn, ud);
}

/* ---- registration ---- */

static int h_register_provider(const agentai_host *host, const agentai_provider_def *def) {
  host_ctx *ctx = ctx_of(host);
  int rc = plugin_registry_add_provider(ctx->reg, ctx, def);
  if (rc < 0)
    ctx->failed_registration = rc;
  return rc;
}

static int h_register_storage(const agentai_host *host, const agentai_storage_def *def) {
  host_ctx *ctx = ctx_of(host);
  int rc = plugin_registry_add_storage(ctx->reg, ctx, def);
  if (rc < 0)
    ctx->failed_registration = rc;
  return rc;
}

static const char *h_data_dir(const agentai_host *host) {
  return plugin_registry_data_dir(ctx_of(host)->reg);
}

/* ---- HTTP (ABI 1.1) ---- */

static int h_http_request(const agentai_host *host, const agentai_http_request *req,
                          const agentai_http_sink *sink, agentai_http_call **out) {
  if (!req || !sink || !out)
    return AGENTAI_EINVAL;
  net_client *net = plugin_registry_net(ctx_of(host)->reg);
  if (!net)
    return AGENTAI_EBUSY; /* shutting down (or the client could not be made) */
  return net_request_start(net, req, sink, out);
}

static void h_http_cancel(const agentai_host *host, agentai_http_call *call) {
  (void)host;
  net_request_cancel(NULL, call); /* the handle knows its client */
}

void host_table_init(agentai_host *host, host_ctx *ctx) {
  memset(host, 0, sizeof *host);
  host->size = sizeof *host;
  host->abi_major = AGENTAI_ABI_MAJOR;
  host->abi_minor = AGENTAI_ABI_MINOR;
  host->host_ctx = ctx;
  host->log = h_log;
  host->alloc = h_alloc;
  host->realloc = h_realloc;
  host->free = h_free;
  host->strerror = agentai_strerror;
  host->now_ms = h_now_ms;
  host->timer_start = h_timer_start;
  host->timer_cancel = h_timer_cancel;
  host->queue_work = h_queue_work;
  host->post = h_post;
  host->register_provider = h_register_provider;
  host->register_storage = h_register_storage;
  host->data_dir = h_data_dir;
  host->http_request = h_http_request;
  host->http_cancel = h_http_cancel;
}
