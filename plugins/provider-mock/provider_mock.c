/* provider-mock/provider_mock.c — the deterministic "mock" LLM provider: plugin entry, call
 * lifecycle (inline, timed, streamed, cancelled), counters, and the fsync'd calls file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentai/provider.h"
#include "mock.h"

/* Intrusive circular list with a sentinel: a node can unlink itself without
 * knowing which list it is on (a caller may cancel a call while the writer
 * walks a list of calls on its stack). */
typedef struct mock_link {
  struct mock_link *prev, *next;
} mock_link;

static void link_init(mock_link *l) {
  l->prev = l->next = l;
}

static int link_empty(const mock_link *l) {
  return l->next == l;
}

static void link_push(mock_link *head, mock_link *node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

static void link_remove(mock_link *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  link_init(node);
}

/* Moves every node of from to the (empty) list to. */
static void link_move(mock_link *from, mock_link *to) {
  link_init(to);
  if (link_empty(from))
    return;
  to->next = from->next;
  to->prev = from->prev;
  to->next->prev = to;
  to->prev->next = to;
  link_init(from);
}

#define CONTAINER_OF(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

typedef struct mock_provider mock_provider;

typedef struct mock_call {
  mock_provider *p;
  agentai_chat_sink sink; /* copied: the host's sink stays valid until done/cancel anyway */
  mock_reply reply;
  int stream;
  uint64_t stream_delay_ms;
  size_t next_chunk;
  agentai_timer *timer;
  int in_callback; /* a sink callback is running: cancel() must not free us */
  int cancelled;
  int waiting; /* on the calls-file writer */
  mock_link live;
  mock_link wait;
} mock_call;

typedef struct model_count {
  char *name;
  uint64_t calls;
} model_count;

typedef struct byte_buf {
  char *data;
  size_t len, cap;
} byte_buf;

struct mock_provider {
  const agentai_host *host;
  cJSON *config;         /* the parsed configuration; base borrows from it */
  cJSON *default_models; /* ["mock-1", "mock-echo"] when the configuration has none */
  mock_opts base;
  uint64_t calls;
  model_count *by_model;
  size_t n_models;
  mock_link live; /* accepted calls not yet done or cancelled */

  /* The calls file is written and fsync'd on the thread pool (never on the
   * loop); lines accepted while a write is in flight wait in `pending` and
   * share the next fsync. */
  int fd;
  char *calls_path;
  uint64_t file_lines;
  byte_buf pending, inflight;
  mock_link pending_waiters, inflight_waiters;
  int busy;
  int werr; /* errno of the last write, set by the worker */
  int closing;
};

static void deliver_done(mock_call *c);

/* ---- small helpers ---- */

static void log_reason(mock_provider *p, int level, const char *msg, const char *reason) {
  cJSON *fields = cJSON_CreateObject();
  cJSON_AddStringToObject(fields, "reason", reason);
  char *text = cJSON_PrintUnformatted(fields);
  cJSON_Delete(fields);
  p->host->log(p->host, level, msg, text);
  free(text);
}

static int buf_append(byte_buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return AGENTAI_ENOMEM;
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  return 0;
}

static int count_model(mock_provider *p, const char *model) {
  for (size_t i = 0; i < p->n_models; i++) {
    if (strcmp(p->by_model[i].name, model) == 0) {
      p->by_model[i].calls++;
      return 0;
    }
  }
  model_count *grown = realloc(p->by_model, (p->n_models + 1) * sizeof *grown);
  if (!grown)
    return AGENTAI_ENOMEM;
  p->by_model = grown;
  if (!(grown[p->n_models].name = strdup(model)))
    return AGENTAI_ENOMEM;
  grown[p->n_models++].calls = 1;
  return 0;
}

/* Takes back a count_model() of a call that was refused after all. */
static void uncount_model(mock_provider *p, const char *model) {
  for (size_t i = 0; i < p->n_models; i++) {
    if (strcmp(p->by_model[i].name, model) == 0 && --p->by_model[i].calls == 0) {
      free(p->by_model[i].name);
      p->by_model[i] = p->by_model[--p->n_models];
      return;
    }
  }
}

static void call_free(mock_call *c) {
  link_remove(&c->live);
  if (c->waiting)
    link_remove(&c->wait);
  mock_reply_free(&c->reply);
  free(c);
}

/* ---- delivery ---- */

static void on_timer(void *ud);

/* Replaces a call's reply by an error (its chunks too) and delivers it. */
static void fail_call(mock_call *c, int err, const char *fmt, const char *detail) {
  mock_reply_free(&c->reply);
  c->reply.retry_after_ms = -1;
  mock_reply_error(&c->reply, err, 0, fmt, detail);
  deliver_done(c);
}

static void deliver_done(mock_call *c) {
  mock_reply *r = &c->reply;
  agentai_chat_outcome out = {
      .size = sizeof out,
      .err = r->err,
      .response_json = r->err ? NULL : r->response,
      .response_len = r->err ? 0 : r->response_len,
      .message = r->err ? r->message : NULL,
      .retry_after_ms = r->err == AGENTAI_ERATELIMIT ? r->retry_after_ms : -1,
      .http_status = r->http_status,
  };
  link_remove(&c->live);
  c->in_callback = 1;
  c->sink.done(c->sink.ud, &out);
  call_free(c);
}

/* Starts delivery: returns 1 when the call completed inline (and is freed),
 * 0 when a timer will deliver it, or a negative code (nothing delivered). */
static int call_start(mock_call *c) {
  if (!c->stream && c->reply.delay_ms == 0) {
    deliver_done(c);
    return 1;
  }
  const agentai_host *h = c->p->host;
  return h->timer_start(h, c->reply.delay_ms, on_timer, c, &c->timer);
}

static void on_timer(void *ud) {
  mock_call *c = ud;
  c->timer = NULL;
  if (c->next_chunk < c->reply.n_chunks) {
    size_t i = c->next_chunk++;
    if (c->sink.delta) {
      c->in_callback = 1;
      c->sink.delta(c->sink.ud, c->reply.chunks[i], c->reply.chunk_lens[i]);
      c->in_callback = 0;
      if (c->cancelled) {
        call_free(c);
        return;
      }
    }
    if (c->next_chunk < c->reply.n_chunks) {
      const agentai_host *h = c->p->host;
      int rc = h->timer_start(h, c->stream_delay_ms, on_timer, c, &c->timer);
      if (rc < 0)
        fail_call(c, rc, "mock provider: cannot schedule the next chunk: %s", h->strerror(rc));
      return;
    }
  }
  deliver_done(c);
}

/* ---- the calls file writer ---- */

static void writer_work(void *ud) {
  mock_provider *p = ud;
  size_t off = 0;
  p->werr = 0;
  while (off < p->inflight.len) {
    ssize_t n = write(p->fd, p->inflight.data + off, p->inflight.len - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      p->werr = errno;
      return;
    }
    off += (size_t)n;
  }
  if (fsync(p->fd) != 0)
    p->werr = errno;
}

static void writer_after(void *ud, int status);

/* Hands the pending lines to the thread pool when no write is in flight. On
 * failure nothing moved. */
static int writer_kick(mock_provider *p) {
  if (p->busy || p->pending.len == 0)
    return 0;
  byte_buf tmp = p->inflight;
  p->inflight = p->pending;
  p->pending = tmp;
  p->pending.len = 0;
  link_move(&p->pending_waiters, &p->inflight_waiters);
  p->busy = 1;
  int rc = p->host->queue_work(p->host, writer_work, writer_after, p);
  if (rc < 0) {
    p->busy = 0;
    tmp = p->pending;
    p->pending = p->inflight;
    p->inflight = tmp;
    p->inflight.len = 0;
    link_move(&p->inflight_waiters, &p->pending_waiters);
  }
  return rc;
}

static void provider_free(mock_provider *p);

/* Fails every call of a waiter list (their line is not known to be durable). */
static void fail_waiters(mock_provider *p, mock_link *list, int err, const char *why) {
  while (!link_empty(list)) {
    mock_call *c = CONTAINER_OF(list->next, mock_call, wait);
    link_remove(&c->wait);
    c->waiting = 0;
    char detail[512];
    snprintf(detail, sizeof detail, "%s: %s", p->calls_path, why);
    fail_call(c, err, "mock provider: cannot record the call in calls_file %s", detail);
  }
}

static void writer_after(void *ud, int status) {
  mock_provider *p = ud;
  p->busy = 0;
  if (p->closing) {
    /* close() ran while the write was in flight; the host table may be gone. */
    provider_free(p);
    return;
  }
  mock_link ready;
  link_move(&p->inflight_waiters, &ready);
  p->inflight.len = 0;
  if (status < 0 || p->werr) {
    fail_waiters(p, &ready, status < 0 ? status : AGENTAI_EIO,
                 status < 0 ? p->host->strerror(status) : strerror(p->werr));
  }
  /* A sink callback below may start or cancel calls: take one at a time. */
  while (!link_empty(&ready)) {
    mock_call *c = CONTAINER_OF(ready.next, mock_call, wait);
    link_remove(&c->wait);
    c->waiting = 0;
    int rc = call_start(c);
    if (rc < 0)
      fail_call(c, rc, "mock provider: cannot schedule the reply: %s", p->host->strerror(rc));
  }
  int rc = writer_kick(p);
  if (rc < 0)
    fail_waiters(p, &p->pending_waiters, rc, p->host->strerror(rc));
}

/* ---- the provider ---- */

static void refuse(mock_provider *p, const char *why) {
  log_reason(p, AGENTAI_LOG_WARN, "mock provider refused a chat request", why);
}

static int model_allowed(const cJSON *models, const char *model) {
  const cJSON *m;
  cJSON_ArrayForEach(m, models) if (strcmp(m->valuestring, model) == 0) return 1;
  return 0;
}

static void models_list(const cJSON *models, char *out, size_t len) {
  size_t used = 0;
  const cJSON *m;
  out[0] = '\0';
  cJSON_ArrayForEach(m, models) {
    int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", m->valuestring);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* Computes the reply of an accepted request into c->reply; *model receives
 * the model name the call is counted under. */
static int compute_reply(mock_provider *p, const cJSON *req, mock_call *c, const char **model) {
  mock_opts o = p->base;
  char err[400];
  const cJSON *over = cJSON_GetObjectItemCaseSensitive(req, "mock");
  const cJSON *requested = cJSON_GetObjectItemCaseSensitive(req, "model");
  int bad = 0;
  if (over && !cJSON_IsObject(over)) {
    snprintf(err, sizeof err, "mock: expected an object of mock options");
    bad = 1;
  } else if (over && (mock_opts_apply(&o, over, "mock.", 0, err, sizeof err) < 0 ||
                      mock_opts_check(&o, "mock.", err, sizeof err) < 0)) {
    bad = 1;
  }
  if (bad)
    o = p->base;
  *model = requested ? requested->valuestring : cJSON_GetArrayItem(o.models, 0)->valuestring;
  c->stream_delay_ms = o.stream_delay_ms;
  memset(&c->reply, 0, sizeof c->reply);
  c->reply.retry_after_ms = -1;
  if (bad) {
    mock_reply_error(&c->reply, AGENTAI_EINVAL, 0, "%s", err);
    return 0;
  }
  if (!model_allowed(o.models, *model)) {
    char list[256];
    models_list(o.models, list, sizeof list);
    mock_reply_error(&c->reply, AGENTAI_ENOENT, 404, "unknown model \"%.100s\" (mock serves: %s)",
                     *model, list);
    c->reply.delay_ms = o.latency_ms;
    return 0;
  }
  return mock_reply_build(&o, req, *model, c->stream, (int64_t)time(NULL), &c->reply);
}

/* The calls file line of an accepted call, with its newline; malloc'd. */
static char *calls_line(mock_provider *p, const cJSON *req, const char *model, size_t *len) {
  char *last = mock_last_user_text(cJSON_GetObjectItemCaseSensitive(req, "messages"));
  cJSON *line = cJSON_CreateObject();
  cJSON_AddNumberToObject(line, "n", (double)(p->file_lines + 1));
  cJSON_AddStringToObject(line, "model", model);
  if (last)
    cJSON_AddStringToObject(line, "last_user", last);
  else
    cJSON_AddNullToObject(line, "last_user");
  free(last);
  char *text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  if (!text)
    return NULL;
  *len = strlen(text);
  char *withnl = realloc(text, *len + 2);
  if (!withnl) {
    free(text);
    return NULL;
  }
  withnl[(*len)++] = '\n';
  withnl[*len] = '\0';
  return withnl;
}

/* Queues the call's line for the calls file; the reply starts once it is
 * durable. On failure nothing is queued. */
static int enqueue_line(mock_provider *p, const cJSON *req, const char *model, mock_call *c) {
  size_t len = 0, old_len = p->pending.len;
  char *line = calls_line(p, req, model, &len);
  int rc = line ? buf_append(&p->pending, line, len) : AGENTAI_ENOMEM;
  free(line);
  if (rc < 0)
    return rc;
  link_push(&p->pending_waiters, &c->wait);
  c->waiting = 1;
  rc = writer_kick(p);
  if (rc < 0) {
    p->pending.len = old_len;
    link_remove(&c->wait);
    c->waiting = 0;
    return rc;
  }
  p->file_lines++;
  return 0;
}

static int mock_chat(void *ud, const char *request_json, size_t request_len,
                     const agentai_chat_sink *sink, void **call) {
  mock_provider *p = ud;
  if (call)
    *call = NULL;
  if (!request_json || !sink || !sink->done) {
    refuse(p, "chat() needs a request and a sink with done");
    return AGENTAI_EINVAL;
  }
  cJSON *req = cJSON_ParseWithLength(request_json, request_len);
  char why[256];
  if (!req) {
    refuse(p, "request is not valid JSON");
    return AGENTAI_EINVAL;
  }
  if (mock_request_check(req, why, sizeof why) < 0) {
    refuse(p, why);
    cJSON_Delete(req);
    return AGENTAI_EINVAL;
  }
  mock_call *c = calloc(1, sizeof *c);
  if (!c) {
    cJSON_Delete(req);
    return AGENTAI_ENOMEM;
  }
  c->p = p;
  c->sink = *sink;
  c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
  link_init(&c->live);
  link_init(&c->wait);
  const char *model = NULL; /* borrows from req */
  int rc = compute_reply(p, req, c, &model);
  if (rc == 0)
    rc = count_model(p, model);
  int complete_now = 0;
  if (rc == 0) {
    if (p->fd >= 0)
      rc = enqueue_line(p, req, model, c); /* the reply waits until the line is durable */
    else if (c->stream || c->reply.delay_ms > 0)
      rc = call_start(c); /* starts a timer: nothing runs before we return */
    else
      complete_now = 1;
    if (rc < 0)
      uncount_model(p, model);
  }
  cJSON_Delete(req);
  if (rc < 0) {
    call_free(c);
    return rc;
  }
  p->calls++;
  link_push(&p->live, &c->live);
  if (complete_now) {
    /* Counted first, so a done callback reading info() sees this call. */
    deliver_done(c);
    return 0;
  }
  if (call)
    *call = c;
  return 0;
}

static void mock_cancel(void *ud, void *call) {
  mock_provider *p = ud;
  mock_call *c = call;
  if (!c)
    return;
  if (c->in_callback) {
    /* Called from this call's own delta: the emitter frees it on return. */
    c->cancelled = 1;
    return;
  }
  if (c->timer)
    p->host->timer_cancel(p->host, c->timer);
  call_free(c);
}

static int mock_info(void *ud, char **json_out) {
  mock_provider *p = ud;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "models", cJSON_Duplicate(p->base.models, 1));
  cJSON_AddNumberToObject(root, "calls", (double)p->calls);
  cJSON *by = cJSON_AddObjectToObject(root, "calls_by_model");
  for (size_t i = 0; i < p->n_models; i++)
    cJSON_AddNumberToObject(by, p->by_model[i].name, (double)p->by_model[i].calls);
  cJSON_AddStringToObject(root, "mode", mock_mode_name(p->base.mode));
  cJSON_AddNumberToObject(root, "latency_ms", (double)p->base.latency_ms);
  cJSON_AddNumberToObject(root, "stream_delay_ms", (double)p->base.stream_delay_ms);
  if (p->base.script)
    cJSON_AddNumberToObject(root, "script_replies", cJSON_GetArraySize(p->base.script));
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text)
    return AGENTAI_ENOMEM;
  size_t len = strlen(text) + 1;
  *json_out = p->host->alloc(p->host, len);
  if (!*json_out) {
    free(text);
    return AGENTAI_ENOMEM;
  }
  memcpy(*json_out, text, len);
  free(text);
  return 0;
}

/* Frees the provider's memory; touches nothing of the host. */
static void provider_free(mock_provider *p) {
  if (p->fd >= 0)
    close(p->fd);
  for (size_t i = 0; i < p->n_models; i++)
    free(p->by_model[i].name);
  free(p->by_model);
  free(p->pending.data);
  free(p->inflight.data);
  free(p->calls_path);
  cJSON_Delete(p->default_models);
  cJSON_Delete(p->config);
  free(p);
}

static void mock_close(void *ud) {
  mock_provider *p = ud;
  /* The host cancels calls before closing; anything left goes silently. */
  while (!link_empty(&p->live)) {
    mock_call *c = CONTAINER_OF(p->live.next, mock_call, live);
    if (c->timer)
      p->host->timer_cancel(p->host, c->timer);
    call_free(c);
  }
  if (p->busy)
    p->closing = 1; /* writer_after frees us once the worker is done with the buffers */
  else
    provider_free(p);
}

/* ---- plugin entry ---- */

static int open_calls_file(mock_provider *p, char *errbuf, size_t errbuf_len) {
  const char *path = p->base.calls_file;
  const char *dir = p->host->data_dir(p->host);
  size_t n = strlen(path) + (dir ? strlen(dir) : 0) + 2;
  if (!(p->calls_path = malloc(n)))
    return AGENTAI_ENOMEM;
  /* Relative paths are relative to the data folder, not to the cwd. */
  if (path[0] != '/' && dir && dir[0])
    snprintf(p->calls_path, n, "%s/%s", dir, path);
  else
    snprintf(p->calls_path, n, "%s", path);
  p->fd = open(p->calls_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (p->fd < 0) {
    snprintf(errbuf, errbuf_len, "calls_file: cannot open %s: %s", p->calls_path, strerror(errno));
    return AGENTAI_EIO;
  }
  /* n continues across restarts: it is the line number in the file. */
  char chunk[4096];
  ssize_t got;
  off_t off = 0;
  while ((got = pread(p->fd, chunk, sizeof chunk, off)) > 0) {
    for (ssize_t i = 0; i < got; i++)
      p->file_lines += chunk[i] == '\n';
    off += got;
  }
  if (got < 0) {
    snprintf(errbuf, errbuf_len, "calls_file: cannot read %s: %s", p->calls_path, strerror(errno));
    return AGENTAI_EIO;
  }
  return 0;
}

static int mock_init(const agentai_host *host, const char *config_json, void **state, char *errbuf,
                     size_t errbuf_len) {
  *state = NULL; /* the provider owns everything; close() releases it */
  mock_provider *p = calloc(1, sizeof *p);
  if (!p)
    return AGENTAI_ENOMEM;
  p->host = host;
  p->fd = -1;
  p->base.mode = MOCK_ECHO;
  link_init(&p->live);
  link_init(&p->pending_waiters);
  link_init(&p->inflight_waiters);
  char err[400];
  int rc = 0;
  p->config = cJSON_Parse(config_json ? config_json : "{}");
  if (!cJSON_IsObject(p->config)) {
    snprintf(errbuf, errbuf_len, "configuration is not a JSON object");
    rc = AGENTAI_EINVAL;
  } else if (mock_opts_apply(&p->base, p->config, "", 1, err, sizeof err) < 0 ||
             mock_opts_check(&p->base, "", err, sizeof err) < 0) {
    snprintf(errbuf, errbuf_len, "bad configuration: %s", err);
    rc = AGENTAI_EINVAL;
  }
  if (rc == 0 && !p->base.models) {
    static const char *const DEFAULT_MODELS[] = {"mock-1", "mock-echo"};
    p->default_models = cJSON_CreateStringArray(DEFAULT_MODELS, 2);
    p->base.models = p->default_models;
    rc = p->default_models ? 0 : AGENTAI_ENOMEM;
  }
  if (rc == 0 && p->base.calls_file)
    rc = open_calls_file(p, errbuf, errbuf_len);
  if (rc == 0) {
    agentai_provider_def def = {
        .size = sizeof def,
        .name = "mock",
        .ud = p,
        .chat = mock_chat,
        .cancel = mock_cancel,
        .info = mock_info,
        .close = mock_close,
    };
    rc = host->register_provider(host, &def);
    if (rc < 0)
      snprintf(errbuf, errbuf_len, "cannot register provider \"mock\": %s", host->strerror(rc));
  }
  if (rc < 0)
    provider_free(p);
  return rc;
}

static const agentai_plugin DESCRIPTOR = {
    AGENTAI_PLUGIN_HEADER,
    .name = "provider-mock",
    .version = AGENTAI_VERSION_STRING,
    .summary = "deterministic LLM provider \"mock\" for tests and examples (echo, fixed, script, "
               "error; streaming)",
    .init = mock_init,
    .shutdown = NULL,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESCRIPTOR;
}
