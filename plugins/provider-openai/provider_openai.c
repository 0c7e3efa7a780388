/* provider-openai/provider_openai.c — the OpenAI-compatible provider plugin: chat (plain and
 * streamed), embeddings and model listing over the host's HTTP client, error mapping, counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "../common/upstream_http.h"
#include "agentai/provider.h"
#include "oai_stream.h"

#define PLUGIN_NAME "provider-openai"

enum call_kind { K_CHAT, K_EMBED, K_MODELS };

typedef struct oai_call oai_call;

typedef struct oai_provider {
  const agentai_host *host;
  const uh_provider_cfg *cfg; /* owned by the plugin state */
  uint64_t calls, errors;
  oai_call *live; /* accepted calls whose done() has not run */
} oai_provider;

typedef struct oai_plugin {
  const agentai_host *host;
  uh_provider_cfg *cfgs;
  size_t n;
  oai_provider *provs;
} oai_plugin;

struct oai_call {
  oai_provider *p;
  oai_call *prev, *next;
  enum call_kind kind;
  int stream;
  agentai_chat_sink sink;
  agentai_http_sink hsink;
  agentai_http_call *http;
  int status;
  oai_stream *st; /* an SSE body being read, else the body is buffered */
  uh_buf body;
  char *ratelimit;
  int64_t retry_after_ms;
  int err; /* decided while reading the body; the transfer was stopped for it */
  char msg[512];
  int depth; /* inside sink->delta: cancel() must leave the freeing to us */
  int cancelled;
};

/* ---- call list and delivery ---- */

static void call_link(oai_call *c) {
  c->next = c->p->live;
  if (c->next)
    c->next->prev = c;
  c->p->live = c;
}

static void call_unlink(oai_call *c) {
  if (c->prev)
    c->prev->next = c->next;
  else if (c->p->live == c)
    c->p->live = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void call_free(oai_call *c) {
  oai_stream_free(c->st);
  uh_buf_free(&c->body);
  free(c->ratelimit);
  free(c);
}

/* Delivers the outcome (err 0: response) and frees the call. */
static void finish(oai_call *c, int err, const char *response, size_t len) {
  agentai_chat_outcome out = {
      .size = sizeof out,
      .err = err,
      .response_json = err ? NULL : response,
      .response_len = err ? 0 : len,
      .message = err ? c->msg : NULL,
      .retry_after_ms = err == AGENTAI_ERATELIMIT ? c->retry_after_ms : -1,
      .http_status = c->status,
      .ratelimit_json = c->ratelimit,
  };
  call_unlink(c);
  if (err && c->kind == K_CHAT)
    c->p->errors++;
  c->sink.done(c->sink.ud, &out);
  call_free(c);
}

static void fail(oai_call *c, int err, const char *fmt, const char *detail) {
  char what[400];
  snprintf(what, sizeof what, fmt, detail ? detail : "");
  snprintf(c->msg, sizeof c->msg, "%s: %s", c->p->cfg->name, what);
  finish(c, err, NULL, 0);
}

/* ---- reading the response ---- */

static int on_chunk(void *ud, const char *json, size_t len) {
  oai_call *c = ud;
  if (c->sink.delta) {
    c->depth++;
    c->sink.delta(c->sink.ud, json, len);
    c->depth--;
  }
  return c->cancelled; /* cancel() from inside delta: stop reading */
}

static int on_head(void *ud, int status, const agentai_http_header *h, size_t n) {
  oai_call *c = ud;
  c->status = status;
  c->ratelimit = uh_ratelimit_json(h, n);
  c->retry_after_ms = status == 429 ? uh_retry_after_ms(h, n, uh_wall_ms()) : -1;
  if (!c->stream || status < 200 || status >= 300)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (h[i].name && h[i].value && strcasecmp(h[i].name, "content-type") == 0 &&
        strstr(h[i].value, "text/event-stream") && !c->st) {
      /* A caller who did not ask for usage does not get the usage-only chunk we asked for. */
      int rc = oai_stream_new(on_chunk, c, c->stream == 2, 0, &c->st);
      if (rc != 0) {
        c->err = rc;
        snprintf(c->msg, sizeof c->msg, "%s: out of memory", c->p->cfg->name);
        return 1;
      }
    }
  }
  return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
  oai_call *c = ud;
  if (!c->st) {
    if (uh_buf_append(&c->body, data, len) == 0)
      return 0;
    c->err = AGENTAI_ENOMEM;
    snprintf(c->msg, sizeof c->msg, "%s: out of memory", c->p->cfg->name);
    return 1;
  }
  int rc = oai_stream_feed(c->st, data, len);
  if (c->cancelled) {
    call_free(c); /* cancel() already stopped the transfer and unlinked the call */
    return 1;
  }
  if (rc == 0)
    return 0;
  c->err = rc;
  snprintf(c->msg, sizeof c->msg, "%s: %s", c->p->cfg->name, oai_stream_message(c->st));
  return 1;
}

/* Checks a 2xx JSON body; returns NULL when fine, else what is missing. */
static const char *check_body(const cJSON *root, enum call_kind kind) {
  if (!cJSON_IsObject(root))
    return "the response is not a JSON object";
  if (kind != K_CHAT) {
    return cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "data"))
               ? NULL
               : "the response has no \"data\" array";
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  if (!cJSON_IsArray(choices))
    return "the response has no \"choices\" array";
  const cJSON *first = cJSON_GetArrayItem(choices, 0);
  if (!cJSON_IsObject(first))
    return "the response has no choices[0]";
  if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(first, "message")))
    return "the response has no choices[0].message";
  return NULL;
}

/* A server that ignored "stream": true answered with one chat.completion: hand it on as one
 * chunk, so that a streaming caller still sees the answer in its deltas. */
static void emit_as_chunk(oai_call *c, const cJSON *root) {
  if (!c->sink.delta)
    return;
  cJSON *chunk = cJSON_Duplicate(root, 1);
  if (!chunk)
    return;
  cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
  cJSON_DeleteItemFromObjectCaseSensitive(chunk, "object");
  cJSON_AddStringToObject(chunk, "object", "chat.completion.chunk");
  for (cJSON *ch = choices ? choices->child : NULL; ch; ch = ch->next) {
    cJSON *msg = cJSON_DetachItemFromObjectCaseSensitive(ch, "message");
    if (msg)
      cJSON_AddItemToObject(ch, "delta", msg);
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    int i = 0;
    for (cJSON *tc = calls ? calls->child : NULL; tc; tc = tc->next, i++)
      if (!cJSON_GetObjectItemCaseSensitive(tc, "index"))
        cJSON_AddNumberToObject(tc, "index", i);
  }
  char *text = cJSON_PrintUnformatted(chunk);
  cJSON_Delete(chunk);
  if (text)
    on_chunk(c, text, strlen(text));
  free(text);
}

static void on_http_done(void *ud, const agentai_http_result *res) {
  oai_call *c = ud;
  c->http = NULL;
  if (c->err) {
    finish(c, c->err, NULL, 0);
    return;
  }
  int terr = uh_transport_to_err(res->err);
  if (c->st && (terr == 0 || oai_stream_done(c->st))) {
    /* after [DONE] the answer is whole, whatever happened to the connection */
    int rc = oai_stream_finish(c->st); /* may forward a last chunk, whose delta may cancel */
    if (c->cancelled) {
      call_free(c);
      return;
    }
    if (rc != 0) {
      fail(c, rc, "%s", oai_stream_message(c->st));
      return;
    }
    size_t len = 0;
    char *text = oai_stream_result(c->st, &len);
    if (!text)
      fail(c, AGENTAI_ENOMEM, "out of memory", NULL);
    else
      finish(c, 0, text, len);
    free(text);
    return;
  }
  if (terr != 0) {
    const char *why = res->message ? res->message : c->p->host->strerror(terr);
    if (c->st && terr == AGENTAI_EUPSTREAM)
      fail(c, terr, "stream ended before [DONE]: %s", why);
    else
      fail(c, terr, "%s", why);
    return;
  }
  if (c->status < 200 || c->status >= 300) {
    char detail[320];
    uh_error_detail(c->body.data, c->body.len, detail, sizeof detail);
    char what[400];
    snprintf(what, sizeof what, "HTTP %d%s%s", c->status, *detail ? ": " : "", detail);
    fail(c, uh_status_to_err(c->status), "%s", what);
    return;
  }
  cJSON *root = cJSON_ParseWithLength(c->body.data ? c->body.data : "", c->body.len);
  const char *missing = check_body(root, c->kind);
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (cJSON_IsObject(root) && err && !cJSON_IsNull(err)) {
    char detail[320];
    uh_error_detail(c->body.data, c->body.len, detail, sizeof detail);
    fail(c, oai_error_code(err), "upstream error: %s", *detail ? detail : "(no message)");
  } else if (missing) {
    fail(c, AGENTAI_EMALFORMED, "%s", root ? missing : "the response is not JSON");
  } else {
    if (c->stream)
      emit_as_chunk(c, root);
    if (c->cancelled)
      call_free(c);
    else
      finish(c, 0, c->body.data, c->body.len);
  }
  cJSON_Delete(root);
}

/* ---- starting calls ---- */

/* Starts METHOD path with body; delivers an EAUTH outcome inline when the key is missing. */
static int start(oai_provider *p, enum call_kind kind, int stream, const char *method,
                 const char *path, const char *body, size_t body_len, const agentai_chat_sink *sink,
                 void **call_out) {
  *call_out = NULL;
  oai_call *c = calloc(1, sizeof *c);
  if (!c)
    return AGENTAI_ENOMEM;
  c->p = p;
  c->kind = kind;
  c->stream = stream;
  c->sink = *sink;
  c->retry_after_ms = -1;
  c->hsink = (agentai_http_sink){.ud = c, .head = on_head, .body = on_body, .done = on_http_done};
  if (kind == K_CHAT)
    p->calls++;
  uh_req r;
  int rc =
      uh_req_prepare(&r, p->cfg, method, path, stream ? "text/event-stream" : "application/json",
                     body, body_len, c->msg, sizeof c->msg);
  if (rc == AGENTAI_EAUTH) {
    call_link(c);
    finish(c, rc, NULL, 0); /* completed inline: *call_out stays NULL */
    return 0;
  }
  if (rc != 0) {
    free(c);
    return rc;
  }
  rc = p->host->http_request(p->host, &r.req, &c->hsink, &c->http);
  uh_req_free(&r);
  if (rc != 0) {
    free(c);
    return rc;
  }
  call_link(c);
  *call_out = c;
  return 0;
}

static int oai_chat(void *ud, const char *request_json, size_t request_len,
                    const agentai_chat_sink *sink, void **call) {
  oai_provider *p = ud;
  cJSON *req = cJSON_ParseWithLength(request_json, request_len);
  if (!cJSON_IsObject(req)) {
    cJSON_Delete(req);
    return AGENTAI_EINVAL;
  }
  int stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
  char *rewritten = NULL;
  if (stream) {
    /* Usage comes only in a last chunk the caller must ask for: always ask. */
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (!cJSON_IsObject(opts)) {
      cJSON_DeleteItemFromObjectCaseSensitive(req, "stream_options");
      opts = cJSON_AddObjectToObject(req, "stream_options");
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage"))) {
      stream = 2; /* the caller asked for it: forward the usage chunk too */
    } else {
      cJSON_DeleteItemFromObjectCaseSensitive(opts, "include_usage");
      if (!opts || !cJSON_AddTrueToObject(opts, "include_usage") ||
          !(rewritten = cJSON_PrintUnformatted(req))) {
        cJSON_Delete(req);
        return AGENTAI_ENOMEM;
      }
    }
  }
  cJSON_Delete(req);
  int rc =
      start(p, K_CHAT, stream, "POST", "/chat/completions", rewritten ? rewritten : request_json,
            rewritten ? strlen(rewritten) : request_len, sink, call);
  free(rewritten);
  return rc;
}

static int oai_embed(void *ud, const char *request_json, size_t request_len,
                     const agentai_chat_sink *sink, void **call) {
  cJSON *req = cJSON_ParseWithLength(request_json, request_len);
  int ok = cJSON_IsObject(req);
  cJSON_Delete(req);
  if (!ok)
    return AGENTAI_EINVAL;
  return start(ud, K_EMBED, 0, "POST", "/embeddings", request_json, request_len, sink, call);
}

static int oai_list_models(void *ud, const agentai_chat_sink *sink, void **call) {
  return start(ud, K_MODELS, 0, "GET", "/models", NULL, 0, sink, call);
}

static void oai_cancel(void *ud, void *call) {
  (void)ud;
  oai_call *c = call;
  if (!c || c->cancelled)
    return;
  c->cancelled = 1;
  if (c->http)
    c->p->host->http_cancel(c->p->host, c->http);
  c->http = NULL;
  call_unlink(c);
  if (c->depth == 0)
    call_free(c);
}

static int oai_info(void *ud, char **json_out) {
  oai_provider *p = ud;
  cJSON *o = cJSON_CreateObject();
  cJSON *models = cJSON_AddArrayToObject(o, "models");
  for (size_t i = 0; models && i < p->cfg->n_models; i++)
    cJSON_AddItemToArray(models, cJSON_CreateString(p->cfg->models[i]));
  cJSON_AddNumberToObject(o, "calls", (double)p->calls);
  cJSON_AddStringToObject(o, "base_url", p->cfg->base_url);
  cJSON_AddNumberToObject(o, "errors", (double)p->errors);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text)
    return AGENTAI_ENOMEM;
  size_t n = strlen(text) + 1;
  *json_out = p->host->alloc(p->host, n);
  if (*json_out)
    memcpy(*json_out, text, n);
  free(text);
  return *json_out ? 0 : AGENTAI_ENOMEM;
}

static void oai_close(void *ud) {
  oai_provider *p = ud;
  while (p->live)
    oai_cancel(p, p->live);
}

/* ---- plugin entry ---- */

static void plugin_free(oai_plugin *pl) {
  for (size_t i = 0; pl->provs && i < pl->n; i++)
    oai_close(&pl->provs[i]);
  free(pl->provs);
  uh_config_free(pl->cfgs, pl->n);
  free(pl);
}

/* One line per provider at startup: which name goes where (never the key, only its variable). */
static void log_registered(const agentai_host *host, const uh_provider_cfg *cfg) {
  cJSON *f = cJSON_CreateObject();
  cJSON_AddStringToObject(f, "provider", cfg->name);
  cJSON_AddStringToObject(f, "base_url", cfg->base_url);
  if (cfg->api_key_env)
    cJSON_AddStringToObject(f, "api_key_env", cfg->api_key_env);
  char *text = f ? cJSON_PrintUnformatted(f) : NULL;
  cJSON_Delete(f);
  host->log(host, AGENTAI_LOG_INFO, "provider registered", text);
  free(text);
}

static int oai_init(const agentai_host *host, const char *config_json, void **state, char *errbuf,
                    size_t errbuf_len) {
  if (!AGENTAI_HOST_HAS(host, http_request) || !AGENTAI_HOST_HAS(host, http_cancel)) {
    snprintf(errbuf, errbuf_len, "the host has no HTTP client (needs ABI 1.1)");
    return AGENTAI_EABI;
  }
  oai_plugin *pl = calloc(1, sizeof *pl);
  if (!pl)
    return AGENTAI_ENOMEM;
  pl->host = host;
  static const uh_defaults defaults = {"openai", "https://api.openai.com/v1", "OPENAI_API_KEY"};
  int rc = uh_config_parse(config_json, &defaults, &pl->cfgs, &pl->n, errbuf, errbuf_len);
  if (rc != 0) {
    free(pl);
    return rc;
  }
  if (!(pl->provs = calloc(pl->n, sizeof *pl->provs))) {
    plugin_free(pl);
    return AGENTAI_ENOMEM;
  }
  for (size_t i = 0; i < pl->n; i++) {
    oai_provider *p = &pl->provs[i];
    p->host = host;
    p->cfg = &pl->cfgs[i];
    agentai_provider_def def = {
        .size = sizeof def,
        .name = p->cfg->name,
        .ud = p,
        .chat = oai_chat,
        .cancel = oai_cancel,
        .info = oai_info,
        .close = oai_close,
        .embed = oai_embed,
        .list_models = oai_list_models,
    };
    if ((rc = host->register_provider(host, &def)) != 0) {
      snprintf(errbuf, errbuf_len, "providers.%s: cannot register the provider: %s", p->cfg->name,
               host->strerror(rc));
      plugin_free(pl);
      return rc;
    }
    log_registered(host, p->cfg);
  }
  *state = pl;
  return 0;
}

static void oai_shutdown(void *state) {
  if (state)
    plugin_free(state);
}

static const agentai_plugin descriptor = {
    AGENTAI_PLUGIN_HEADER,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .summary = "OpenAI-compatible chat, streaming, embeddings and models over HTTP",
    .init = oai_init,
    .shutdown = oai_shutdown,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void) {
  return &descriptor;
}
