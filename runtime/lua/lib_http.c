/* lua/lib_http.c — ai.http.request: the runtime's HTTP client for workflows, journaled like
 * ai.llm.chat so a replayed task gets the recorded response instead of making the request again. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/utf8.h"
#include "lua/internal.h"
#include "lua/ljson.h"
#include "net/net.h"
#include "plugin/loader.h"

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_SECONDS 86400.0

/* ---- the operation: C state filled by the client's callbacks ---- */

typedef struct http_header {
  char *name; /* lowercased */
  char *value;
} http_header;

typedef struct http_op {
  lh_op *op;
  lh_jcall *jc; /* when the workflow has a journal */
  agentai_http_call *call;
  lua_State *on_data; /* thread running on_data (function at its index 1), or NULL */
  int on_data_failed; /* on_data raised: its error value is on top of that thread */
  int keep_body;      /* collect the body: no on_data, or a journal entry to write */
  int oom;
  int err;
  int status;
  http_header *headers;
  size_t nheaders;
  char *body;
  size_t body_len, body_cap;
  char message[720];
} http_op;

/* Copies s with every byte that is not well-formed UTF-8 replaced by '?':
 * header values go to Lua and to a JSON journal, which both want text. */
static char *dup_text(const char *s, size_t n) {
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  memcpy(out, s, n);
  out[n] = '\0';
  size_t at = 0;
  while ((at += utf8_invalid_at(out + at, n - at)) < n)
    out[at++] = '?';
  return out;
}

/* Headers keyed by lowercased name; repeated ones are joined with ", ". */
static int add_header(http_op *h, const char *name, const char *value) {
  char *lname = dup_text(name, strlen(name));
  if (!lname)
    return AGENTAI_ENOMEM;
  for (char *p = lname; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  for (size_t i = 0; i < h->nheaders; i++) {
    if (strcmp(h->headers[i].name, lname) != 0)
      continue;
    free(lname);
    size_t a = strlen(h->headers[i].value), b = strlen(value);
    char *joined = realloc(h->headers[i].value, a + b + 3);
    if (!joined)
      return AGENTAI_ENOMEM;
    memcpy(joined + a, ", ", 2);
    memcpy(joined + a + 2, value, b + 1);
    h->headers[i].value = joined;
    size_t at = a + 2;
    while ((at += utf8_invalid_at(joined + at, a + 2 + b - at)) < a + 2 + b)
      joined[at++] = '?';
    return 0;
  }
  http_header *grown = realloc(h->headers, (h->nheaders + 1) * sizeof *grown);
  char *v = grown ? dup_text(value, strlen(value)) : NULL;
  if (!v) {
    if (grown)
      h->headers = grown;
    free(lname);
    return AGENTAI_ENOMEM;
  }
  h->headers = grown;
  h->headers[h->nheaders].name = lname;
  h->headers[h->nheaders++].value = v;
  return 0;
}

static int http_head(void *ud, int status, const agentai_http_header *hdrs, size_t n) {
  http_op *h = ud;
  h->status = status;
  for (size_t i = 0; i < n; i++) {
    if (add_header(h, hdrs[i].name, hdrs[i].value) < 0) {
      h->oom = 1;
      return 1;
    }
  }
  return 0;
}

static int http_body(void *ud, const char *data, size_t len) {
  http_op *h = ud;
  int rc = h->on_data ? lh_callback_call(h->on_data, h->op->fiber, data, len, 0) : 0;
  if (rc) {
    h->on_data_failed = rc > 0; /* its error stays on the thread for http_push */
    return 1;
  }
  if (!h->keep_body)
    return 0;
  if (h->body_len + len + 1 > h->body_cap) {
    size_t cap = h->body_cap ? h->body_cap * 2 : 16384;
    while (cap < h->body_len + len + 1)
      cap *= 2;
    char *grown = realloc(h->body, cap);
    if (!grown) {
      h->oom = 1;
      return 1;
    }
    h->body = grown;
    h->body_cap = cap;
  }
  memcpy(h->body + h->body_len, data, len);
  h->body_len += len;
  h->body[h->body_len] = '\0';
  return 0;
}

/* The journaled result: {"status":..,"headers":{..},"body":".."}, with
 * "body_b64" instead of "body" when the body is not text JSON can carry. */
static char *result_json(const http_op *h, size_t *len) {
  if (h->body_len > ((size_t)1 << 30))
    return NULL; /* past what base64 in one JSON text is worth */
  cJSON *r = cJSON_CreateObject();
  cJSON *hdrs = r ? cJSON_AddObjectToObject(r, "headers") : NULL;
  int ok = hdrs && cJSON_AddNumberToObject(r, "status", h->status);
  for (size_t i = 0; ok && i < h->nheaders; i++)
    ok = cJSON_AddStringToObject(hdrs, h->headers[i].name, h->headers[i].value) != NULL;
  const char *body = h->body ? h->body : "";
  int text = utf8_valid(body, h->body_len) && !memchr(body, '\0', h->body_len);
  if (ok && text) {
    ok = cJSON_AddStringToObject(r, "body", body) != NULL;
  } else if (ok) {
    char *b64 = malloc(4 * ((h->body_len + 2) / 3) + 1);
    if (b64)
      EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)body, (int)h->body_len);
    ok = b64 && cJSON_AddStringToObject(r, "body_b64", b64) != NULL;
    free(b64);
  }
  char *out = ok ? cJSON_PrintUnformatted(r) : NULL;
  cJSON_Delete(r);
  *len = out ? strlen(out) : 0;
  return out;
}

static void http_recorded(void *ud, int err) {
  http_op *h = ud;
  if (err < 0 && h->err == 0) {
    /* The request happened but is not durable: fail the attempt rather than
     * risk making it again after a crash without knowing. */
    h->err = err;
    snprintf(h->message, sizeof h->message,
             "ai.http.request: cannot record the call in the task's journal: %s",
             agentai_strerror(err));
  }
  lh_op_complete(h->op);
}

static void http_done(void *ud, const agentai_http_result *res) {
  http_op *h = ud;
  h->call = NULL;
  h->err = h->oom ? AGENTAI_ENOMEM : res->err;
  h->status = res->status;
  if (res->err)
    snprintf(h->message, sizeof h->message, "ai.http.request: %s",
             h->oom         ? "out of memory"
             : res->message ? res->message
                            : "request failed");
  /* What the workflow caused (on_data raised) or ran out of is not a
   * recorded outcome: a replay makes the request again. */
  lh_vm *vm = h->op->vm;
  if (!h->jc || !vm || h->on_data_failed || h->err == AGENTAI_ENOMEM) {
    lh_op_complete(h->op);
    return;
  }
  size_t rlen = 0, len = 0;
  char *rjson = h->err == 0 ? result_json(h, &rlen) : NULL;
  if (h->err == 0 && !rjson) {
    http_recorded(h, AGENTAI_ENOMEM);
    return;
  }
  if (rjson)
    lh_journal_notify(vm, "http.request", rjson, rlen, 0);
  char *entry = lh_journal_encode(h->jc, rjson, rlen, h->err, h->message, -1, &len);
  free(rjson);
  /* From here the op waits for the journal, not the client: if the workflow
   * ends meanwhile, the op is detached and the write's callback frees it. */
  h->op->cancel = NULL;
  if (entry && lh_journal_write(vm, h->jc, entry, len, http_recorded, h) == 0)
    return;
  http_recorded(h, AGENTAI_ENOMEM);
}

static void http_cancel(lh_op *op) {
  http_op *h = op->data;
  if (h->call)
    net_request_cancel(NULL, h->call);
  h->call = NULL;
}

static void http_release(lh_op *op) {
  http_op *h = op->data;
  for (size_t i = 0; i < h->nheaders; i++) {
    free(h->headers[i].name);
    free(h->headers[i].value);
  }
  free(h->headers);
  free(h->body);
  free(h->jc);
}

static int http_push(lua_State *L, lh_op *op) {
  http_op *h = op->data;
  if (h->on_data_failed) {
    lua_xmove(h->on_data, L, 1); /* on_data's own error, raised as it was */
    return 0;
  }
  if (h->err) {
    lh_push_error(L, h->err, h->message, -1);
    return 0;
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, h->status);
  lua_setfield(L, -2, "status");
  lua_createtable(L, 0, (int)h->nheaders);
  for (size_t i = 0; i < h->nheaders; i++) {
    lua_pushstring(L, h->headers[i].value);
    lua_setfield(L, -2, h->headers[i].name);
  }
  lua_setfield(L, -2, "headers");
  if (!h->on_data) {
    lua_pushlstring(L, h->body ? h->body : "", h->body_len);
    lua_setfield(L, -2, "body");
  }
  return 1;
}

/* ---- the binding ---- */

typedef struct http_args {
  const char *method, *url, *body;
  size_t body_len;
  agentai_http_header *headers; /* a userdata on the stack: collected if anything raises */
  size_t nheaders;
  uint32_t timeout_ms, connect_timeout_ms, idle_timeout_ms;
  uint64_t max_bytes;
  int on_data; /* stack index of the function, or 0 */
} http_args;

/* "METHOD URL" without query, fragment or credentials, for messages. */
static const char *push_label(lua_State *L, const char *method, const char *url) {
  size_t n = strcspn(url, "?#");
  const char *scheme_end = strstr(url, "://");
  const char *at = NULL;
  if (scheme_end && (size_t)(scheme_end - url) < n) {
    const char *host = scheme_end + 3;
    size_t auth = strcspn(host, "/?#");
    const char *a = memchr(host, '@', auth);
    while (a) { /* the last '@' of the authority ends the userinfo */
      at = a;
      a = memchr(a + 1, '@', auth - (size_t)(a + 1 - host));
    }
  }
  if (at)
    return lua_pushfstring(L, "%s %s%s", method,
                           lua_pushlstring(L, url, (size_t)(scheme_end + 3 - url)),
                           lua_pushlstring(L, at + 1, n - (size_t)(at + 1 - url)));
  return lua_pushfstring(L, "%s %s", method, lua_pushlstring(L, url, n));
}

static uint32_t seconds_field(lua_State *L, const char *name) {
  int t = lua_getfield(L, 1, name);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  lua_Number s = lua_tonumber(L, -1);
  if (t != LUA_TNUMBER || !(s > 0) || s > HTTP_MAX_SECONDS)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L,
                             "ai.http.request: %s must be a number of seconds above 0 and at "
                             "most 86400",
                             name),
             -1);
  lua_pop(L, 1);
  uint32_t ms = (uint32_t)ceil(s * 1000.0);
  return ms ? ms : 1;
}

static int cmp_header_name(const void *a, const void *b) {
  return strcasecmp(((const agentai_http_header *)a)->name, ((const agentai_http_header *)b)->name);
}

static void parse_args(lua_State *L, http_args *a) {
  static const char *const known[] = {
      "method",          "url",          "headers",   "body",    "timeout",
      "connect_timeout", "idle_timeout", "max_bytes", "on_data", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(a, 0, sizeof *a);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int ok = lua_type(L, -1) == LUA_TSTRING;
    for (int i = 0; ok && known[i]; i++)
      if (strcmp(lua_tostring(L, -1), known[i]) == 0)
        ok = 2;
    if (ok != 2)
      lh_raise(L, AGENTAI_EINVAL,
               lua_pushfstring(L,
                               "ai.http.request: unknown field '%s' (fields: method, url, "
                               "headers, body, timeout, connect_timeout, idle_timeout, "
                               "max_bytes, on_data)",
                               luaL_tolstring(L, -1, NULL)),
               -1);
  }
  /* Stack from here: 1 args, 2 url, 3 method, 4 body, 5 headers, 6 header copy, 7 on_data */
  if (lua_getfield(L, 1, "url") != LUA_TSTRING)
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: url must be a string", -1);
  a->url = lua_tostring(L, 2);
  if (lua_getfield(L, 1, "method") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushnil(L);
  } else if (lua_type(L, 3) == LUA_TSTRING) {
    luaL_Buffer b;
    size_t n = 0;
    const char *m = lua_tolstring(L, 3, &n);
    char *up = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++)
      up[i] = (char)toupper((unsigned char)m[i]);
    luaL_pushresultsize(&b, n);
    lua_replace(L, 3);
    a->method = lua_tostring(L, 3);
  } else {
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: method must be a string", -1);
  }
  int bt = lua_getfield(L, 1, "body");
  if (bt == LUA_TSTRING)
    a->body = lua_tolstring(L, 4, &a->body_len);
  else if (bt != LUA_TNIL)
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: body must be a string", -1);
  int ht = lua_getfield(L, 1, "headers");
  if (ht != LUA_TNIL && ht != LUA_TTABLE)
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: headers must be a table of name = value", -1);
  size_t count = 0;
  if (ht == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 5)) {
      lua_pop(L, 1);
      count++;
    }
  }
  if (count > HTTP_MAX_HEADERS)
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: more than 100 headers", -1);
  a->headers = lua_newuserdatauv(L, (count ? count : 1) * sizeof *a->headers, 1);
  lua_newtable(L); /* keeps converted values alive as long as the copy */
  lua_setiuservalue(L, 6, 1);
  if (ht == LUA_TTABLE) {
    lua_getiuservalue(L, 6, 1);
    lua_pushnil(L);
    while (lua_next(L, 5)) {
      int vt = lua_type(L, -1);
      if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
        lh_raise(L, AGENTAI_EINVAL,
                 "ai.http.request: headers must map string names to string values", -1);
      const char *v = luaL_tolstring(L, -1, NULL); /* numbers too */
      lua_rawseti(L, -4, (lua_Integer)a->nheaders * 2 + 2);
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, (lua_Integer)a->nheaders * 2 + 1);
      a->headers[a->nheaders].name = lua_tostring(L, -1);
      a->headers[a->nheaders++].value = v;
    }
    lua_pop(L, 1);
    qsort(a->headers, a->nheaders, sizeof *a->headers, cmp_header_name);
  }
  if (!a->method)
    a->method = a->body ? "POST" : "GET";
  a->timeout_ms = seconds_field(L, "timeout");
  a->connect_timeout_ms = seconds_field(L, "connect_timeout");
  a->idle_timeout_ms = seconds_field(L, "idle_timeout");
  if (lua_getfield(L, 1, "max_bytes") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
      lh_raise(L, AGENTAI_EINVAL, "ai.http.request: max_bytes must be a positive integer", -1);
    a->max_bytes = (uint64_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  int ft = lua_getfield(L, 1, "on_data"); /* index 7 */
  if (ft == LUA_TFUNCTION)
    a->on_data = 7;
  else if (ft != LUA_TNIL)
    lh_raise(L, AGENTAI_EINVAL, "ai.http.request: on_data must be a function", -1);
}

/* Decodes a replayed result's body_b64 into body. */
static void replay_body(lua_State *L, int res) {
  if (lua_getfield(L, res, "body_b64") != LUA_TSTRING) {
    lua_pop(L, 1);
    return;
  }
  size_t n = 0;
  const char *b64 = lua_tolstring(L, -1, &n);
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
  int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
  if (len < 0)
    lh_raise(L, AGENTAI_ECORRUPT, "ai.http.request: journaled body is not base64", -1);
  /* EVP_DecodeBlock counts the '=' padding as zero bytes */
  if (n >= 1 && b64[n - 1] == '=')
    len--;
  if (n >= 2 && b64[n - 2] == '=')
    len--;
  luaL_pushresultsize(&b, (size_t)len);
  lua_setfield(L, res, "body");
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, res, "body_b64");
}

static int http_request(lua_State *L) {
  http_args a;
  parse_args(L, &a);
  size_t ulen = strlen(a.url);
  if (!(ulen > 7 && strncasecmp(a.url, "http://", 7) == 0) &&
      !(ulen > 8 && strncasecmp(a.url, "https://", 8) == 0))
    return lh_raise(L, AGENTAI_EINVAL,
                    lua_pushfstring(L,
                                    "ai.http.request: %s: only absolute http:// and https:// "
                                    "URLs are allowed",
                                    push_label(L, a.method, a.url)),
                    -1);
  /* The call's identity for the journal: header values are left out, so a
   * rotated credential does not make a replay look like a different call. */
  uint64_t hash = lh_journal_hash(0, a.method, strlen(a.method) + 1);
  hash = lh_journal_hash(hash, a.url, ulen + 1);
  for (size_t i = 0; i < a.nheaders; i++)
    hash = lh_journal_hash(hash, a.headers[i].name, strlen(a.headers[i].name) + 1);
  hash = lh_journal_hash(hash, a.body ? a.body : "", a.body_len);
  lh_jcall jc;
  if (lh_journal_begin(L, "http.request", hash, &jc)) {
    lh_journal_replay(L, &jc);
    int res = lua_gettop(L);
    if (!lua_istable(L, res))
      return lh_raise(L, AGENTAI_ECORRUPT, "ai.http.request: journaled result is not a table", -1);
    replay_body(L, res);
    if (a.on_data) {
      size_t blen = 0;
      lua_getfield(L, res, "body");
      lua_tolstring(L, -1, &blen);
      if (blen) { /* the whole recorded body, at once; may not yield either */
        lua_pushvalue(L, a.on_data);
        lua_insert(L, -2);
        lua_call(L, 1, 0);
      } else {
        lua_pop(L, 1);
      }
      lua_pushnil(L);
      lua_setfield(L, res, "body");
    }
    return 1;
  }
  lh_vm *vm = lh_vm_of(L);
  net_client *net = vm->svc->plugins ? plugin_registry_net(vm->svc->plugins) : NULL;
  if (!net)
    return lh_raise(L, AGENTAI_EBUSY, "ai.http.request: the HTTP client is not available", -1);
  lua_State *T = NULL;
  if (a.on_data) {                     /* made before the op: raising here leaves nothing behind */
    T = lh_callback_new(L, a.on_data); /* anchored on this frame's stack until the call returns */
  }
  lh_op *op = lh_op_begin(L, "ai.http.request", sizeof(http_op), http_push);
  http_op *h = op->data;
  h->op = op;
  h->on_data = T;
  h->keep_body = !T || jc.active;
  op->release = http_release;
  if (jc.active) {
    if (!(h->jc = malloc(sizeof jc))) {
      lh_op_abort(op);
      return lh_raise(L, AGENTAI_ENOMEM, "ai.http.request: out of memory", -1);
    }
    *h->jc = jc;
  }
  agentai_http_request req = {.size = sizeof req,
                              .method = a.method,
                              .url = a.url,
                              .headers = a.headers,
                              .header_count = a.nheaders,
                              .body = a.body,
                              .body_len = a.body_len,
                              .connect_timeout_ms = a.connect_timeout_ms,
                              .timeout_ms = a.timeout_ms,
                              .idle_timeout_ms = a.idle_timeout_ms,
                              .max_response_bytes = a.max_bytes};
  agentai_http_sink sink = {.ud = h, .head = http_head, .body = http_body, .done = http_done};
  int rc = net_request_start(net, &req, &sink, &h->call);
  if (rc < 0) {
    lh_op_abort(op);
    return lh_raise(L, rc,
                    lua_pushfstring(L, "ai.http.request: %s: %s", push_label(L, a.method, a.url),
                                    rc == AGENTAI_EINVAL
                                        ? "invalid request (malformed URL, method or header)"
                                        : agentai_strerror(rc)),
                    -1);
  }
  op->cancel = http_cancel;
  return lh_op_await(L, op);
}

/* ---- the module ---- */

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "the agentai module is read-only (tried to set '%s')",
                    luaL_tolstring(L, 2, NULL));
}

void lh_http_register(lua_State *L) {
  static const luaL_Reg HTTP[] = {{"request", http_request}, {NULL, NULL}};
  lua_newtable(L); /* proxy */
  lua_newtable(L); /* its metatable */
  luaL_newlib(L, HTTP);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "http");
}
