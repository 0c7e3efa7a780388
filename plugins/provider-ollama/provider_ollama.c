/* provider-ollama/provider_ollama.c — the "ollama" LLM provider: plugin entry, configuration and
 * the life of a call (chat streamed or whole, embeddings, models) over the host's HTTP client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentai/provider.h"
#include "ollama.h"

/* Longest NDJSON line accepted from a stream: one line is one small delta, but a single line
 * may carry a large tool call. The whole body is bounded by max_response_mb anyway. */
#define OLL_MAX_LINE ((size_t)8 << 20)
/* The part of an error body kept for its message. */
#define OLL_MAX_ERROR_BODY ((size_t)64 << 10)

typedef struct oll_link {
  struct oll_link *prev, *next;
} oll_link;

static void link_init(oll_link *l) {
  l->prev = l->next = l;
}

static void link_push(oll_link *head, oll_link *node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

static void link_remove(oll_link *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  link_init(node);
}

typedef struct oll_provider {
  oll_link live; /* accepted calls whose done() has not run; first: a call's link is its address */
  const agentai_host *host;
  const uh_provider_cfg *cfg; /* borrowed from the plugin state */
  uint64_t chat_calls, embed_calls, model_calls, seq;
} oll_provider;

typedef struct oll_plugin {
  uh_provider_cfg *cfgs;
  size_t n;
  oll_provider *providers; /* n of them */
} oll_plugin;

enum oll_kind { OLL_CHAT, OLL_EMBED, OLL_MODELS };

typedef struct oll_call {
  oll_link live; /* first member: see oll_provider.live */
  oll_provider *p;
  enum oll_kind kind;
  agentai_chat_sink sink;
  agentai_http_sink http_sink; /* the ABI wants it valid until the host's done() */
  agentai_http_call *http;     /* NULL once the host's done() ran */
  int stream;
  int encoding;    /* embeddings: OLL_ENC_* */
  char *model;     /* the requested model */
  int status;      /* HTTP status from head() */
  char *ratelimit; /* rate-limit headers as JSON, or NULL */
  int64_t retry_after_ms;
  uh_buf error_body; /* a streamed call's non-2xx body (the host buffers the others) */
  uh_lines lines;
  oll_parse parse;
  int stop_err;  /* why body() asked the host to stop (a parse or line error) */
  int in_delta;  /* the sink's delta() runs: cancel() must not free the call */
  int cancelled; /* cancel() ran inside delta(): free at the host's done() */
} oll_call;

/* ---- small helpers ---- */

static int64_t wall_seconds(void) {
  return (int64_t)time(NULL);
}

static void call_free(oll_call *c) {
  link_remove(&c->live);
  free(c->model);
  free(c->ratelimit);
  uh_buf_free(&c->error_body);
  uh_lines_free(&c->lines);
  oll_parse_free(&c->parse);
  free(c);
}

/* Delivers an error to a sink before any request was made. */
static void sink_fail(const agentai_chat_sink *sink, int err, const char *message) {
  agentai_chat_outcome out = {
      .size = sizeof out, .err = err, .message = message, .retry_after_ms = -1};
  sink->done(sink->ud, &out);
}

/* ---- the host's HTTP callbacks ---- */

static int on_emit(void *ud, const char *chunk, size_t len) {
  oll_call *c = ud;
  if (!c->sink.delta)
    return 0;
  c->in_delta = 1;
  c->sink.delta(c->sink.ud, chunk, len);
  c->in_delta = 0;
  return c->cancelled; /* non-zero stops the parse and the request */
}

static int on_line(void *ud, const char *line, size_t len) {
  oll_call *c = ud;
  return oll_parse_line(&c->parse, line, len);
}

static int on_head(void *ud, int status, const agentai_http_header *headers, size_t n) {
  oll_call *c = ud;
  c->status = status;
  free(c->ratelimit);
  c->ratelimit = uh_ratelimit_json(headers, n);
  c->retry_after_ms = uh_retry_after_ms(headers, n, uh_wall_ms());
  return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
  oll_call *c = ud;
  if (c->status < 200 || c->status > 299) {
    size_t room = OLL_MAX_ERROR_BODY - c->error_body.len;
    c->stop_err = uh_buf_append(&c->error_body, data, len < room ? len : room);
    return c->stop_err != 0;
  }
  int rc = uh_lines_feed(&c->lines, data, len, on_line, c);
  if (rc < 0)
    c->stop_err = rc;
  return rc != 0;
}

/* Turns a finished exchange into the call's outcome and delivers it. */
static void finish(oll_call *c, const agentai_http_result *res) {
  char message[512] = "";
  char *response = NULL;
  size_t response_len = 0;
  int err = 0;
  const char *name = c->p->cfg->name;
  int ok_status = c->status >= 200 && c->status <= 299;
  if (c->stop_err) {
    err = c->stop_err;
    if (c->parse.err)
      snprintf(message, sizeof message, "%s: %s", name, c->parse.message);
    else if (err == AGENTAI_E2BIG)
      snprintf(message, sizeof message, "%s: a stream line is longer than %zu MiB", name,
               OLL_MAX_LINE >> 20);
    else
      snprintf(message, sizeof message, "%s: %s", name, c->p->host->strerror(err));
  } else if (res->err && !(c->stream && ok_status && c->parse.done)) {
    /* (after the done:true line the answer is whole: a connection lost later changes nothing) */
    err = uh_transport_to_err(res->err);
    const char *what = res->message ? res->message : c->p->host->strerror(res->err);
    if (c->stream && ok_status && err == AGENTAI_EUPSTREAM)
      snprintf(message, sizeof message, "%s: stream ended before done (%s)", name, what);
    else
      snprintf(message, sizeof message, "%s: %s", name, what);
  } else if (!ok_status) {
    err = uh_status_to_err(c->status);
    const char *body = c->stream ? c->error_body.data : res->body;
    size_t body_len = c->stream ? c->error_body.len : res->body_len;
    char detail[310];
    if (uh_error_detail(body, body_len, detail, sizeof detail))
      snprintf(message, sizeof message, "%s: HTTP %d: %s", name, c->status, detail);
    else
      snprintf(message, sizeof message, "%s: HTTP %d", name, c->status);
  } else {
    char why[400] = "";
    const char *body = res->body ? res->body : "";
    if (c->kind == OLL_EMBED) {
      err = oll_embed_response(body, res->body_len, c->model, c->encoding, &response, &response_len,
                               why, sizeof why);
    } else if (c->kind == OLL_MODELS) {
      err = oll_tags_response(body, res->body_len, "ollama", &response, &response_len, why,
                              sizeof why);
    } else if (c->stream) {
      err = uh_lines_finish(&c->lines, on_line, c);
      if (err > 0 && c->cancelled) {
        call_free(c); /* cancelled from the last delta */
        return;
      }
      if (err == 0)
        err = oll_parse_end(&c->parse, 0, &response, &response_len);
      else if (err == AGENTAI_E2BIG && !c->parse.err)
        snprintf(why, sizeof why, "a stream line is longer than %zu MiB", OLL_MAX_LINE >> 20);
    } else {
      err = oll_parse_line(&c->parse, body, res->body_len);
      if (err == 0)
        err = oll_parse_end(&c->parse, 1, &response, &response_len);
    }
    if (err && c->parse.err)
      snprintf(why, sizeof why, "%s", c->parse.message);
    if (err)
      snprintf(message, sizeof message, "%s: %s", name, why[0] ? why : c->p->host->strerror(err));
  }
  agentai_chat_outcome out = {
      .size = sizeof out,
      .err = err,
      .response_json = err ? NULL : response,
      .response_len = err ? 0 : response_len,
      .message = err ? message : NULL,
      .retry_after_ms = err == AGENTAI_ERATELIMIT ? c->retry_after_ms : -1,
      .http_status = c->status,
      .ratelimit_json = c->ratelimit,
  };
  link_remove(&c->live); /* done() may close the provider: the call is no longer its to cancel */
  c->sink.done(c->sink.ud, &out);
  free(response);
  call_free(c);
}

static void on_done(void *ud, const agentai_http_result *res) {
  oll_call *c = ud;
  c->http = NULL;
  if (c->cancelled) {
    call_free(c);
    return;
  }
  finish(c, res);
}

/* ---- starting calls ---- */

/* Validates the common arguments of chat/embed/list_models. */
static int check_args(const agentai_chat_sink *sink, void **call) {
  if (call)
    *call = NULL;
  return sink && sink->done ? 0 : AGENTAI_EINVAL;
}

/*
 * Sends METHOD path with body and registers the call. On success the call is live and *call
 * set; a key that is missing completes the call at once through the sink (EAUTH naming the
 * variable). Returns 0, or a negative code with nothing delivered and c freed.
 */
static int start(oll_provider *p, oll_call *c, const char *method, const char *path,
                 const char *accept, const char *body, size_t body_len, void **call) {
  char msg[300];
  uh_req r;
  int rc = uh_req_prepare(&r, p->cfg, method, path, accept, body, body_len, msg, sizeof msg);
  if (rc == AGENTAI_EAUTH) {
    agentai_chat_sink sink = c->sink;
    call_free(c);
    sink_fail(&sink, rc, msg);
    return 0;
  }
  if (rc < 0) {
    call_free(c);
    return rc;
  }
  c->http_sink = (agentai_http_sink){
      .ud = c,
      .head = on_head,
      .body = c->stream ? on_body : NULL, /* whole bodies: the host buffers them */
      .done = on_done,
  };
  rc = p->host->http_request(p->host, &r.req, &c->http_sink, &c->http);
  uh_req_free(&r);
  if (rc < 0) {
    call_free(c);
    return rc;
  }
  link_push(&p->live, &c->live);
  if (call)
    *call = c;
  return 0;
}

static oll_call *call_new(oll_provider *p, enum oll_kind kind, const agentai_chat_sink *sink) {
  oll_call *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  link_init(&c->live);
  c->p = p;
  c->kind = kind;
  c->sink = *sink;
  c->retry_after_ms = -1;
  uh_lines_init(&c->lines, OLL_MAX_LINE, 0);
  return c;
}

/* Parses a request; a bad one completes through the sink with EINVAL and why. */
static cJSON *parse_request(const oll_provider *p, const char *json, size_t len,
                            const agentai_chat_sink *sink) {
  cJSON *req = json ? cJSON_ParseWithLength(json, len) : NULL;
  if (!cJSON_IsObject(req)) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: the request is not a JSON object", p->cfg->name);
    cJSON_Delete(req);
    sink_fail(sink, AGENTAI_EINVAL, msg);
    return NULL;
  }
  return req;
}

static void bad_request(const oll_provider *p, const agentai_chat_sink *sink, int rc,
                        const char *why) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", p->cfg->name,
           rc == AGENTAI_EINVAL ? why : p->host->strerror(rc));
  sink_fail(sink, rc, msg);
}

static int oll_chat(void *ud, const char *request_json, size_t request_len,
                    const agentai_chat_sink *sink, void **call) {
  oll_provider *p = ud;
  if (check_args(sink, call) < 0)
    return AGENTAI_EINVAL;
  p->chat_calls++;
  cJSON *req = parse_request(p, request_json, request_len, sink);
  if (!req)
    return 0;
  char *body = NULL, why[400] = "";
  size_t body_len = 0;
  int stream = 0;
  int rc = oll_chat_request(req, &body, &body_len, &stream, why, sizeof why);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
  oll_call *c = NULL;
  if (rc == 0 && !(c = call_new(p, OLL_CHAT, sink)))
    rc = AGENTAI_ENOMEM;
  if (rc == 0) {
    char id[64];
    snprintf(id, sizeof id, "chatcmpl-oll%llx%04llx", (unsigned long long)uh_wall_ms(),
             (unsigned long long)(++p->seq & 0xffff));
    c->stream = stream;
    rc = oll_parse_init(&c->parse, id, model->valuestring, wall_seconds(), stream ? on_emit : NULL,
                        c);
    if (rc < 0)
      call_free(c);
  }
  cJSON_Delete(req);
  if (rc < 0) {
    free(body);
    bad_request(p, sink, rc, why);
    return 0;
  }
  rc = start(p, c, "POST", "/api/chat", stream ? "application/x-ndjson" : "application/json", body,
             body_len, call);
  free(body);
  return rc;
}

static int oll_embed(void *ud, const char *request_json, size_t request_len,
                     const agentai_chat_sink *sink, void **call) {
  oll_provider *p = ud;
  if (check_args(sink, call) < 0)
    return AGENTAI_EINVAL;
  p->embed_calls++;
  cJSON *req = parse_request(p, request_json, request_len, sink);
  if (!req)
    return 0;
  char *body = NULL, why[400] = "";
  size_t body_len = 0;
  int encoding = 0;
  int rc = oll_embed_request(req, &body, &body_len, &encoding, why, sizeof why);
  oll_call *c = NULL;
  if (rc == 0 && !(c = call_new(p, OLL_EMBED, sink)))
    rc = AGENTAI_ENOMEM;
  if (rc == 0 &&
      !(c->model = strdup(cJSON_GetObjectItemCaseSensitive(req, "model")->valuestring))) {
    call_free(c);
    rc = AGENTAI_ENOMEM;
  }
  cJSON_Delete(req);
  if (rc < 0) {
    free(body);
    bad_request(p, sink, rc, why);
    return 0;
  }
  c->encoding = encoding;
  rc = start(p, c, "POST", "/api/embed", "application/json", body, body_len, call);
  free(body);
  return rc;
}

static int oll_list_models(void *ud, const agentai_chat_sink *sink, void **call) {
  oll_provider *p = ud;
  if (check_args(sink, call) < 0)
    return AGENTAI_EINVAL;
  p->model_calls++;
  oll_call *c = call_new(p, OLL_MODELS, sink);
  if (!c)
    return AGENTAI_ENOMEM;
  return start(p, c, "GET", "/api/tags", "application/json", NULL, 0, call);
}

static void oll_cancel(void *ud, void *call) {
  oll_provider *p = ud;
  oll_call *c = call;
  if (!c || c->cancelled)
    return;
  if (c->in_delta) {
    /* From the call's own delta: body() returns non-zero, the host stops the request and
     * its done() frees the call without telling the sink. */
    c->cancelled = 1; /* stays live: close() still has to stop its request */
    return;
  }
  if (c->http)
    p->host->http_cancel(p->host, c->http);
  call_free(c);
}

static int oll_info(void *ud, char **json_out) {
  oll_provider *p = ud;
  const uh_provider_cfg *cfg = p->cfg;
  cJSON *root = cJSON_CreateObject();
  cJSON *models = root ? cJSON_AddArrayToObject(root, "models") : NULL;
  int ok = models != NULL;
  for (size_t i = 0; ok && i < cfg->n_models; i++)
    ok = cJSON_AddItemToArray(models, cJSON_CreateString(cfg->models[i]));
  ok = ok && cJSON_AddNumberToObject(root, "calls", (double)p->chat_calls) &&
       cJSON_AddNumberToObject(root, "embed_calls", (double)p->embed_calls) &&
       cJSON_AddNumberToObject(root, "model_list_calls", (double)p->model_calls) &&
       cJSON_AddStringToObject(root, "base_url", cfg->base_url) &&
       cJSON_AddStringToObject(root, "api", "ollama");
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return AGENTAI_ENOMEM;
  size_t len = strlen(text) + 1;
  *json_out = p->host->alloc(p->host, len);
  if (*json_out)
    memcpy(*json_out, text, len);
  free(text);
  return *json_out ? 0 : AGENTAI_ENOMEM;
}

/* The host cancels calls before closing; whatever is left goes silently. */
static void oll_close(void *ud) {
  oll_provider *p = ud;
  while (p->live.next != &p->live) {
    oll_call *c = (oll_call *)(void *)p->live.next;
    if (c->http)
      p->host->http_cancel(p->host, c->http);
    call_free(c);
  }
}

/* ---- plugin entry ---- */

static void plugin_free(oll_plugin *st) {
  if (!st)
    return;
  uh_config_free(st->cfgs, st->n);
  free(st->providers);
  free(st);
}

static void oll_shutdown(void *state) {
  plugin_free(state);
}

static int oll_init(const agentai_host *host, const char *config_json, void **state, char *errbuf,
                    size_t errbuf_len) {
  *state = NULL;
  if (errbuf_len)
    errbuf[0] = '\0';
  if (!AGENTAI_HOST_HAS(host, http_request) || !AGENTAI_HOST_HAS(host, http_cancel)) {
    snprintf(errbuf, errbuf_len,
             "this host has no HTTP client (ABI %u.%u): provider-ollama needs ABI 1.1 or newer",
             host->abi_major, host->abi_minor);
    return AGENTAI_ENOTSUP;
  }
  oll_plugin *st = calloc(1, sizeof *st);
  if (!st)
    return AGENTAI_ENOMEM;
  static const uh_defaults DEFAULTS = {
      .name = "ollama", .base_url = "http://127.0.0.1:11434", .api_key_env = NULL};
  int rc = uh_config_parse(config_json, &DEFAULTS, &st->cfgs, &st->n, errbuf, errbuf_len);
  if (rc == 0 && !(st->providers = calloc(st->n, sizeof *st->providers)))
    rc = AGENTAI_ENOMEM;
  for (size_t i = 0; rc == 0 && i < st->n; i++) {
    oll_provider *p = &st->providers[i];
    link_init(&p->live);
    p->host = host;
    p->cfg = &st->cfgs[i];
    agentai_provider_def def = {
        .size = sizeof def,
        .name = p->cfg->name,
        .ud = p,
        .chat = oll_chat,
        .cancel = oll_cancel,
        .info = oll_info,
        .close = oll_close,
        .embed = oll_embed,
        .list_models = oll_list_models,
    };
    rc = host->register_provider(host, &def);
    if (rc < 0)
      snprintf(errbuf, errbuf_len, "cannot register provider \"%s\": %s", p->cfg->name,
               host->strerror(rc));
  }
  if (rc == AGENTAI_ENOMEM && !errbuf[0])
    snprintf(errbuf, errbuf_len, "out of memory");
  if (rc < 0) {
    plugin_free(st); /* the host drops what was registered without closing it */
    return rc;
  }
  *state = st;
  return 0;
}

static const agentai_plugin DESCRIPTOR = {
    AGENTAI_PLUGIN_HEADER,
    .name = "provider-ollama",
    .version = AGENTAI_VERSION_STRING,
    .summary = "LLM provider for the Ollama API (/api/chat NDJSON streaming, tools, /api/embed, "
               "/api/tags)",
    .init = oll_init,
    .shutdown = oll_shutdown,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESCRIPTOR;
}
