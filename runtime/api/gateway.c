/* api/gateway.c — the OpenAI-compatible gateway: POST /v1/chat/completions (JSON and SSE),
 * POST /v1/embeddings, GET /v1/models, routed through the model router and its cache. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "core/errors.h"

/* ---- the OpenAI error envelope ---- */

/* {"error":{"message","type","param","code"}}, the shape OpenAI clients parse. */
static void oai_error(http_request *req, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void oai_error(http_request *req, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cJSON *root = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(e, "message", msg);
  cJSON_AddStringToObject(e, "type", type);
  if (param)
    cJSON_AddStringToObject(e, "param", param);
  else
    cJSON_AddNullToObject(e, "param");
  if (code)
    cJSON_AddStringToObject(e, "code", code);
  else
    cJSON_AddNullToObject(e, "code");
  api_respond(req, status, root);
}

/* HTTP status, OpenAI error type and code for a router error. */
static int error_shape(int err, const char **type, const char **code) {
  *code = agentai_errname(err);
  switch (err) {
    case AGENTAI_EINVAL:
      *type = "invalid_request_error";
      return 400;
    case AGENTAI_EAUTH:
      *type = "authentication_error";
      return 401;
    case AGENTAI_ENOENT:
      *type = "invalid_request_error";
      *code = "model_not_found";
      return 404;
    case AGENTAI_E2BIG:
      *type = "invalid_request_error";
      return 413;
    case AGENTAI_ERATELIMIT:
      *type = "rate_limit_error";
      *code = "rate_limit_exceeded";
      return 429;
    case AGENTAI_ETIMEDOUT:
      *type = "timeout_error";
      return 504;
    case AGENTAI_ENOTSUP:
      *type = "invalid_request_error";
      return 400;
    default:
      *type = "api_error";
      return 502;
  }
}

/* ---- one gateway call ---- */

typedef struct gw_call {
  api *a;
  http_request *req; /* until answered */
  http_stream *stream;
  llm_call *call;
  uint64_t t0_ns;
  int kind;
  int cache_mode;
  int finished;      /* done() ran */
  int stream_failed; /* the stream could not start: later deltas are dropped */
} gw_call;

static void add_overhead(gw_call *g, http_request *req, uint64_t upstream_ns) {
  uint64_t spent = uv_hrtime() - g->t0_ns;
  uint64_t own = spent > upstream_ns ? spent - upstream_ns : 0;
  char v[32];
  snprintf(v, sizeof v, "%.3f", (double)own / 1e6);
  http_response_add_header(req, "x-agentai-overhead-ms", v);
}

static const char *cache_label(const gw_call *g, int hit) {
  return hit ? "hit" : g->cache_mode == LLM_CACHE_BYPASS ? "bypass" : "miss";
}

static void stream_closed(void *ud, http_stream *s, int reason) {
  (void)s;
  (void)reason;
  gw_call *g = ud;
  if (!g->finished && g->call)
    llm_cancel(g->call); /* the client left mid-stream */
  free(g);
}

static void gw_delta(void *ud, const char *chunk, size_t len) {
  gw_call *g = ud;
  if (g->stream_failed)
    return;
  if (!g->stream) {
    http_request *req = g->req;
    g->req = NULL;
    add_overhead(g, req, 0);
    http_response_add_header(req, "Cache-Control", "no-cache");
    http_request_on_abort(req, NULL, NULL);
    if (http_respond_stream(req, 200, "text/event-stream", 0, stream_closed, g, &g->stream) < 0) {
      g->stream = NULL;
      g->stream_failed = 1; /* gw_done frees g */
      return;
    }
  }
  http_stream_write(g->stream, "data: ", 6);
  http_stream_write(g->stream, chunk, len);
  http_stream_write(g->stream, "\n\n", 2);
}

static void gw_done(void *ud, const llm_result *res) {
  gw_call *g = ud;
  g->finished = 1;
  g->call = NULL;
  if (g->stream) {
    if (res->err) {
      /* Headers are gone: the error travels in the stream, as OpenAI does. */
      const char *type, *code;
      error_shape(res->err, &type, &code);
      cJSON *root = cJSON_CreateObject();
      cJSON *e = cJSON_AddObjectToObject(root, "error");
      cJSON_AddStringToObject(e, "message", res->message ? res->message : "");
      cJSON_AddStringToObject(e, "type", type);
      cJSON_AddStringToObject(e, "code", code);
      char *text = cJSON_PrintUnformatted(root);
      cJSON_Delete(root);
      if (text) {
        http_stream_write(g->stream, "data: ", 6);
        http_stream_write(g->stream, text, strlen(text));
        http_stream_write(g->stream, "\n\n", 2);
        free(text);
      }
    } else {
      http_stream_write(g->stream, "data: [DONE]\n\n", 14);
    }
    http_stream_end(g->stream); /* stream_closed frees g */
    return;
  }
  http_request *req = g->req;
  g->req = NULL;
  if (!req) { /* the stream could not start */
    free(g);
    return;
  }
  http_request_on_abort(req, NULL, NULL);
  add_overhead(g, req, res->upstream_ns);
  http_response_add_header(req, "x-agentai-cache", cache_label(g, res->cache_hit));
  if (res->provider && res->provider[0])
    http_response_add_header(req, "x-agentai-provider", res->provider);
  if (res->err) {
    const char *type, *code;
    int status = error_shape(res->err, &type, &code);
    if (res->err == AGENTAI_ERATELIMIT && res->retry_after_ms >= 0) {
      char v[32];
      snprintf(v, sizeof v, "%lld", (long long)((res->retry_after_ms + 999) / 1000));
      http_response_add_header(req, "Retry-After", v);
    }
    cJSON *rl = res->ratelimit_json ? cJSON_Parse(res->ratelimit_json) : NULL;
    for (const cJSON *h = rl ? rl->child : NULL; h; h = h->next)
      if (cJSON_IsString(h) && strncasecmp(h->string, "x-ratelimit-", 12) == 0)
        http_response_add_header(req, h->string, h->valuestring);
    cJSON_Delete(rl);
    oai_error(req, status, type, code, NULL, "%s", res->message ? res->message : "failed");
  } else {
    http_respond(req, 200, "application/json", res->response_json, res->response_len);
  }
  free(g);
}

static void gw_aborted(void *ud, http_request *req) {
  gw_call *g = ud;
  if (g->call)
    llm_cancel(g->call);
  g->req = NULL;
  http_respond(req, 499, NULL, NULL, 0); /* consumes the aborted request; nothing is sent */
  free(g);
}

/* x-agentai-cache: bypass | refresh, or Cache-Control: no-store | no-cache. */
static int cache_mode_of(http_request *req) {
  const char *v = http_request_header(req, "x-agentai-cache");
  if (v && strcasecmp(v, "bypass") == 0)
    return LLM_CACHE_BYPASS;
  if (v && strcasecmp(v, "refresh") == 0)
    return LLM_CACHE_REFRESH;
  const char *cc = http_request_header(req, "cache-control");
  if (cc && strstr(cc, "no-store"))
    return LLM_CACHE_BYPASS;
  if (cc && strstr(cc, "no-cache"))
    return LLM_CACHE_REFRESH;
  return LLM_CACHE_USE;
}

/* The body as a JSON object with the members every call needs; NULL after answering. */
static cJSON *gw_body(http_request *req, int kind) {
  size_t len = 0;
  const char *body = http_request_body(req, &len);
  cJSON *root = NULL;
  char type[32], message[256];
  if (api_parse_object(body, len, "body", &root, type, message) < 0) {
    oai_error(req, 400, "invalid_request_error", type, NULL, "%s", message);
    return NULL;
  }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  const char *bad = NULL, *param = NULL;
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    bad = "'model' must be a non-empty string";
    param = "model";
  } else if (kind == LLM_CHAT) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (!cJSON_IsArray(msgs) || !msgs->child) {
      bad = "'messages' must be a non-empty array";
      param = "messages";
    } else if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
      bad = "'stream' must be a boolean";
      param = "stream";
    } else {
      int i = 0;
      for (const cJSON *m = msgs->child; m && !bad; m = m->next, i++) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
          static char why[96];
          snprintf(why, sizeof why, "'messages[%d]' must be an object with a string 'role'", i);
          bad = why;
          param = "messages";
        }
      }
    }
  } else {
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsString(input) && !(cJSON_IsArray(input) && input->child)) {
      bad = "'input' must be a string or a non-empty array";
      param = "input";
    }
  }
  if (bad) {
    oai_error(req, 400, "invalid_request_error", NULL, param, "%s", bad);
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

static void gw_call_start(api *a, http_request *req, int kind) {
  uint64_t t0 = uv_hrtime();
  if (!a->d.llm) {
    oai_error(req, 503, "api_error", NULL, NULL, "no model router is running");
    return;
  }
  cJSON *root = gw_body(req, kind);
  if (!root)
    return;
  gw_call *g = calloc(1, sizeof *g);
  if (!g) {
    cJSON_Delete(root);
    oai_error(req, 500, "api_error", NULL, NULL, "out of memory");
    return;
  }
  g->a = a;
  g->req = req;
  g->t0_ns = t0;
  g->kind = kind;
  g->cache_mode = cache_mode_of(req);
  size_t len = 0;
  const char *body = http_request_body(req, &len);
  llm_request lr = {
      .kind = kind, .json = body, .len = len, .cache_mode = g->cache_mode, .tree = root};
  llm_sink sink = {.ud = g, .delta = kind == LLM_CHAT ? gw_delta : NULL, .done = gw_done};
  http_request_on_abort(req, gw_aborted, g);
  char err[256];
  llm_call *call = NULL;
  int rc = llm_start(a->d.llm, &lr, &sink, &call, err, sizeof err);
  if (rc < 0) {
    http_request_on_abort(req, NULL, NULL);
    const char *type, *code;
    int status = error_shape(rc, &type, &code);
    oai_error(req, status, type, code, rc == AGENTAI_ENOENT ? "model" : NULL, "%s", err);
    free(g);
    return;
  }
  if (call) /* else done() already ran (and freed g) */
    g->call = call;
}

static void models(api *a, http_request *req, const char *id) {
  char *json = a->d.llm ? llm_models_json(a->d.llm) : NULL;
  if (!json) {
    oai_error(req, 503, "api_error", NULL, NULL, "no model router is running");
    return;
  }
  if (!id) {
    api_respond_text(req, 200, json);
    free(json);
    return;
  }
  cJSON *list = cJSON_Parse(json);
  free(json);
  cJSON *data = cJSON_GetObjectItemCaseSensitive(list, "data");
  for (cJSON *m = data ? data->child : NULL; m; m = m->next) {
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m, "id");
    if (cJSON_IsString(mid) && strcmp(mid->valuestring, id) == 0) {
      api_respond(req, 200, cJSON_DetachItemViaPointer(data, m));
      cJSON_Delete(list);
      return;
    }
  }
  cJSON_Delete(list);
  oai_error(req, 404, "invalid_request_error", "model_not_found", "model",
            "The model '%.200s' does not exist", id);
}

int api_gateway(api *a, http_request *req, const char *rest) {
  const char *method = http_request_method(req);
  if (strcmp(rest, "/chat/completions") == 0) {
    http_request_set_route(req, "/v1/chat/completions");
    if (strcmp(method, "POST") != 0)
      api_method_not_allowed(req, "POST");
    else
      gw_call_start(a, req, LLM_CHAT);
    return 1;
  }
  if (strcmp(rest, "/embeddings") == 0) {
    http_request_set_route(req, "/v1/embeddings");
    if (strcmp(method, "POST") != 0)
      api_method_not_allowed(req, "POST");
    else
      gw_call_start(a, req, LLM_EMBED);
    return 1;
  }
  if (strcmp(rest, "/models") == 0 || strncmp(rest, "/models/", 8) == 0) {
    http_request_set_route(req, rest[7] ? "/v1/models/{id}" : "/v1/models");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
      api_method_not_allowed(req, "GET, HEAD");
    else
      models(a, req, rest[7] ? rest + 8 : NULL);
    return 1;
  }
  return 0;
}
