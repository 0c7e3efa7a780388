/* lua/routes_request.c — HTTP endpoints written in Lua, request side: matches a request to a
 * route, runs its handler in a fiber group of its own with the lazy `req` object, and turns
 * what the handler returns into the response. */
#include "lua/routes_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/log.h"
#include "lua/ljson.h"

#define HEADERS_MT "agentai.route.headers"
#define REQ_MT "agentai.route.request"

/* The header proxy a request's `req.headers` is. */
typedef struct hdr_proxy {
  route_req *q;
  uint64_t gen;
} hdr_proxy;

/* ---------------------------------------------------------------------- */
/* Requests                                                                */
/* ---------------------------------------------------------------------- */

static void req_release(lh_routes *r, route_req *q) {
  if (q->prev)
    q->prev->next = q->next;
  else
    r->live = q->next;
  if (q->next)
    q->next->prev = q->prev;
  q->gen++;
  q->req = NULL;
  q->prev = NULL;
  q->next = r->pool;
  r->pool = q;
}

/* Answers q's request (consumed: q->req is NULL after). */
static void answer(route_req *q, int status, const char *ct, const char *body, size_t len) {
  http_request *req = q->req;
  q->req = NULL;
  http_respond(req, status, ct, body, len);
}

static void answer_error(route_req *q, int status, const char *type, const char *msg,
                         const char *param) {
  http_request *req = q->req;
  q->req = NULL;
  http_respond_error(req, status, type, msg, param);
}

static void log_failure(route_req *q, lh_fiber *ended) {
  lh_routes *r = q->routes;
  lh_group *g = &q->group;
  lua_State *L = r->vm.L;
  char text[4096] = "";
  if (ended && ended->state == LH_FIBER_FAILED && ended->result_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ended->result_ref);
    lh_routes__error_text(L, text, sizeof text);
  }
  cJSON *f = cJSON_CreateObject();
  char name[MAX_PATTERN + 16];
  snprintf(name, sizeof name, "%s %s", lh_routes__method_name(q->route->method), q->route->pattern);
  cJSON_AddStringToObject(f, "route", name);
  cJSON_AddStringToObject(f, "defined_at", q->route->where);
  cJSON_AddStringToObject(f, "request_id", http_request_id(q->req));
  cJSON_AddStringToObject(f, "path", http_request_path(q->req));
  cJSON_AddStringToObject(f, "kind", g->killed ? g->kill_kind : "lua_error");
  if (g->killed && !strstr(text, g->kill_msg)) { /* killed while it waited: no raise to show */
    char both[4300];
    snprintf(both, sizeof both, "%s%s%s", g->kill_msg, text[0] ? "\n" : "", text);
    cJSON_AddStringToObject(f, "error", both);
  } else {
    cJSON_AddStringToObject(f, "error", text);
  }
  log_write_fields(AGENTAI_LOG_ERROR, "routes", "route failed", f);
  cJSON_Delete(f);
}

/* on_end of a request's group: whatever is not answered yet failed. */
static void request_ended(lh_group *g, lh_fiber *ended) {
  route_req *q = (route_req *)g;
  lh_routes *r = q->routes;
  if (q->req) {
    if (g->killed && g->kill_status == AGENTAI_ECANCELED) {
      if (http_request_aborted(q->req))
        answer(q, 500, NULL, NULL, 0); /* sends nothing: frees it */
      else
        answer_error(q, 503, "unavailable", "the server is shutting down", NULL);
    } else {
      log_failure(q, ended);
      char msg[MAX_PATTERN + 256];
      snprintf(msg, sizeof msg, "route %s %s failed (request %s); the server log has the details",
               lh_routes__method_name(q->route->method), q->route->pattern,
               http_request_id(q->req));
      answer_error(q, 500, "route_error", msg, NULL);
    }
  }
  req_release(r, q);
}

static void request_aborted(void *ud, http_request *req) {
  (void)req;
  route_req *q = ud;
  lh_group_cancel(&q->routes->vm, &q->group, "the client disconnected");
}

/* ---------------------------------------------------------------------- */
/* The handler's `req`                                                    */
/* ---------------------------------------------------------------------- */

/* req.headers[name] / req.headers(name): one header, any case; nil if absent. */
static int headers_get(lua_State *L, int name_idx) {
  hdr_proxy *h = luaL_checkudata(L, 1, HEADERS_MT);
  const char *name = luaL_checkstring(L, name_idx);
  if (h->q->gen != h->gen || !h->q->req)
    return luaL_error(L, "req.headers: the request has been answered; read headers before");
  const char *v = http_request_header(h->q->req, name);
  if (v)
    lua_pushstring(L, v);
  else
    lua_pushnil(L);
  return 1;
}

static int headers_index(lua_State *L) {
  return headers_get(L, 2);
}

static int headers_call(lua_State *L) {
  return headers_get(L, 2);
}

static int headers_newindex(lua_State *L) {
  return luaL_error(L, "req.headers is read-only");
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 32;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Pushes s[0..n) percent-decoded (the server re-encodes the query it parsed). */
static void push_decoded(lua_State *L, luaL_Buffer *b, const char *s, size_t n) {
  luaL_buffinit(L, b);
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
        (lo = hexval((unsigned char)s[i + 2])) >= 0) {
      luaL_addchar(b, (char)(hi << 4 | lo));
      i += 2;
    } else {
      luaL_addchar(b, s[i]);
    }
  }
  luaL_pushresult(b);
}

/* req.query: the first value of each parameter, decoded. */
static void push_query(lua_State *L, const char *q) {
  lua_newtable(L);
  luaL_Buffer b;
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    size_t nlen = eq ? (size_t)(eq - q) : len;
    if (nlen) {
      push_decoded(L, &b, q, nlen);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TNIL) {
        lua_pop(L, 1);
        if (eq)
          push_decoded(L, &b, eq + 1, len - nlen - 1);
        else
          lua_pushliteral(L, "");
        lua_rawset(L, -3);
      } else {
        lua_pop(L, 2);
      }
    }
    q += len + (amp ? 1 : 0);
  }
}

/* The fields of req other than method, path and json are made on first
 * use (a tiny handler reads few of them), then kept in req. The request is
 * the one running (its fiber's group), if the table is that request's. */
static int req_index(lua_State *L) {
  static const char *const LAZY[] = {"params", "query", "headers", "body", "id", NULL};
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  int which = 0;
  while (LAZY[which] && strcmp(k, LAZY[which]))
    which++;
  if (!LAZY[which])
    return 0;
  lh_vm *vm = lh_vm_of(L);
  route_req *q = vm->current && vm->current->group ? (route_req *)vm->current->group : NULL;
  if (!q || !q->req || q->req_table != lua_topointer(L, 1))
    return luaL_error(L, "req.%s is only readable while its own request runs", k);
  if (which == 0) {
    const route *rt = q->route;
    lua_createtable(L, 0, rt->nparams);
    for (int i = 0; i < rt->nsegs; i++) {
      if (rt->segs[i].param) {
        lua_pushlstring(L, q->path[i].s, q->path[i].len);
        lua_setfield(L, -2, rt->segs[i].text);
      }
    }
  } else if (which == 1) {
    push_query(L, http_request_query(q->req));
  } else if (which == 3) {
    size_t blen = 0;
    const char *body = http_request_body(q->req, &blen);
    lua_pushlstring(L, body, blen);
  } else if (which == 4) {
    lua_pushstring(L, http_request_id(q->req));
  } else {
    hdr_proxy *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->q = q;
    h->gen = q->gen;
    lua_rawgeti(L, LUA_REGISTRYINDEX, q->routes->headers_mt);
    lua_setmetatable(L, -2);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

void lh_routes__open_request_types(lua_State *L, lh_routes *r) {
  luaL_newmetatable(L, HEADERS_MT);
  lua_pushcfunction(L, headers_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, headers_call);
  lua_setfield(L, -2, "__call");
  lua_pushcfunction(L, headers_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  r->headers_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  luaL_newmetatable(L, REQ_MT);
  lua_pushcfunction(L, req_index);
  lua_setfield(L, -2, "__index");
  r->req_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* application/json, or any type/subtype+json, parameters allowed. */
static int is_json_type(const char *ct) {
  size_t n = strcspn(ct, "; \t");
  if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
    return 1;
  return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Builds `req` for the handler; json_idx: the decoded body, or 0. Only
 * method, path and json are set now: the rest is made on first use. */
static void push_req(lua_State *L, route_req *q, int json_idx) {
  lua_createtable(L, 0, 4);
  q->req_table = lua_topointer(L, -1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, q->routes->req_mt);
  lua_setmetatable(L, -2);
  lua_pushstring(L, http_request_method(q->req));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, http_request_path(q->req));
  lua_setfield(L, -2, "path");
  if (json_idx) {
    lua_pushvalue(L, json_idx);
    lua_setfield(L, -2, "json");
  }
}

/* ---------------------------------------------------------------------- */
/* The handler's answer                                                   */
/* ---------------------------------------------------------------------- */

/* Header names and values a handler may set: checked before any is added,
 * so that a refused one leaves the 500 that follows clean. */
static const char *header_problem(const char *name, const char *value) {
  static const char *const RESERVED[] = {"content-length",    "connection", "keep-alive",
                                         "transfer-encoding", "upgrade",    "server",
                                         "x-request-id",      NULL};
  if (!name[0])
    return "empty header name";
  for (const char *p = name; *p; p++)
    if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
      return "header name is not an HTTP token";
  for (size_t i = 0; RESERVED[i]; i++)
    if (!strcasecmp(name, RESERVED[i]))
      return "header is set by the server";
  for (const unsigned char *p = (const unsigned char *)value; *p; p++)
    if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
      return "header value with a control character (CR, LF...)";
  return NULL;
}

/* Raises "route METHOD PATTERN: " and the rest, formatted as luaL_error formats. */
static int route_error(lua_State *L, const route *rt, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  lua_pushfstring(L, "route %s %s: ", lh_routes__method_name(rt->method), rt->pattern);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 3);
  return lua_error(L);
}

/* Turns the handler's return value at idx into the response. Raises (a
 * route error, answered 500 by request_ended) when it is not one. */
static void respond_value(lua_State *L, route_req *q, int idx) {
  const route *rt = q->route;
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING) {
    size_t n = 0;
    const char *s = lua_tolstring(L, idx, &n);
    answer(q, 200, "text/plain; charset=utf-8", s, n);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L,
               "route %s %s returned %s: return a table {status=, json= or body=, headers=} or "
               "a string",
               lh_routes__method_name(rt->method), rt->pattern, luaL_typename(L, idx));
  /* One pass over the table (cheaper than a lookup per field, and it
   * catches a misspelt one): each value is left on the stack, its index in
   * a slot. */
  int status_i = 0, json = 0, body = 0, ct_i = 0, headers = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    int *slot = !strcmp(k, "json")           ? &json
                : !strcmp(k, "status")       ? &status_i
                : !strcmp(k, "body")         ? &body
                : !strcmp(k, "headers")      ? &headers
                : !strcmp(k, "content_type") ? &ct_i
                                             : NULL;
    if (!slot)
      route_error(L, rt,
                  "unknown field '%s' in the returned table (expected status, json, "
                  "body, headers, content_type)",
                  k[0] ? k : lua_typename(L, lua_type(L, -2)));
    lua_insert(L, -2); /* the value stays, the key goes on top for lua_next */
    *slot = lua_gettop(L) - 1;
  }
  int status = 200;
  if (status_i) {
    int isnum = 0;
    lua_Integer s = lua_tointegerx(L, status_i, &isnum);
    if (!isnum || s < 200 || s > 599)
      route_error(L, rt, "status must be an integer from 200 to 599");
    status = (int)s;
  }
  int body_t = body ? lua_type(L, body) : LUA_TNIL;
  if (json && body_t != LUA_TNIL)
    route_error(L, rt, "return json= or body=, not both");
  if (body_t != LUA_TNIL && body_t != LUA_TSTRING)
    route_error(L, rt, "body must be a string, got %s", luaL_typename(L, body));
  const char *ct = json                    ? "application/json"
                   : body_t == LUA_TSTRING ? "text/plain; charset=utf-8"
                                           : NULL;
  int ct_t = ct_i ? lua_type(L, ct_i) : LUA_TNIL;
  if (ct_t == LUA_TSTRING)
    ct = lua_tostring(L, ct_i);
  else if (ct_t != LUA_TNIL)
    route_error(L, rt, "content_type must be a string");
  if (headers && !lua_istable(L, headers))
    route_error(L, rt, "headers must be a table {name = value}");
  if (headers) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        route_error(L, rt, "headers must map names to strings");
      const char *name = lua_tostring(L, -2);
      const char *value =
          lua_tostring(L, -1); /* converts a number in place: a value, not the key */
      if (!strcasecmp(name, "content-type")) {
        /* a string held by the table: still valid when the response is built */
        if (ct_t == LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
          route_error(L, rt, "set content_type= or a Content-Type header (a string), not both");
      } else {
        const char *why = header_problem(name, value);
        if (why)
          route_error(L, rt, "header '%s': %s", name, why);
      }
      lua_pop(L, 1);
    }
  }
  char *text = NULL;
  size_t len = 0;
  if (json) {
    char why[256];
    if (ljson_encode(L, json, &text, &len, why, sizeof why) < 0)
      route_error(L, rt, "json cannot be encoded: %s", why);
  }
  if (headers) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      const char *name = lua_tostring(L, -2);
      const char *value = lua_tostring(L, -1);
      if (!strcasecmp(name, "content-type"))
        ct = value; /* stays valid: the headers table is on the stack */
      else if (http_response_add_header(q->req, name, value) == AGENTAI_ENOMEM) {
        free(text);
        route_error(L, rt, "out of memory");
      }
      lua_pop(L, 1);
    }
  }
  if (json) {
    answer(q, status, ct, text, len);
    free(text);
  } else if (body_t == LUA_TSTRING) {
    size_t n = 0;
    const char *s = lua_tolstring(L, body, &n);
    answer(q, status, ct, s, n);
  } else {
    answer(q, status, ct, NULL, 0);
  }
}

static int route_returned(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  respond_value(L, (route_req *)ctx, lua_gettop(L));
  return 0;
}

/* The body of a request's main fiber: req, the handler, the answer. */
static int route_run(lua_State *L) {
  route_req *q = lua_touserdata(L, 1);
  lua_settop(L, 0);
  size_t blen = 0;
  const char *body = http_request_body(q->req, &blen);
  int json_idx = 0;
  if (blen) {
    const char *ct = http_request_header(q->req, "content-type");
    if (ct && is_json_type(ct)) {
      char why[256];
      int rc = ljson_decode(L, body, blen, why, sizeof why);
      if (rc == AGENTAI_ENOMEM)
        return luaL_error(L, "out of memory decoding the request body");
      if (rc < 0) { /* before the handler runs: it never sees a body it cannot read */
        char msg[320];
        snprintf(msg, sizeof msg, "the request body is not valid JSON: %s", why);
        answer_error(q, 400, "invalid_json", msg, "body");
        return 0;
      }
      json_idx = lua_gettop(L);
    }
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, q->route->fn_ref);
  push_req(L, q, json_idx);
  lua_callk(L, 1, 1, (lua_KContext)q, route_returned);
  return route_returned(L, LUA_OK, (lua_KContext)q);
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                               */
/* ---------------------------------------------------------------------- */

/* Makes a fiber (allocates in the VM: called protected). */
static int make_fiber(lua_State *L) {
  lh_fiber **out = lua_touserdata(L, 1);
  *out = lh_fiber_take(lh_vm_of(L), L);
  return 0;
}

static void answer_405(http_request *req, unsigned allow) {
  if (allow & M_GET)
    allow |= M_HEAD;
  char list[80] = "";
  size_t n = 0;
  for (size_t i = 0; i < NMETHODS; i++)
    if (allow & (1u << i))
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "",
                            lh_routes__method_name(1u << i));
  char msg[160];
  snprintf(msg, sizeof msg, "%s is not allowed here; allowed: %s", http_request_method(req), list);
  http_response_add_header(req, "Allow", list);
  http_respond_error(req, 405, "method_not_allowed", msg, NULL);
}

int lh_routes_dispatch(lh_routes *r, http_request *req) {
  if (!r || !r->nroutes)
    return 0;
  const char *path = http_request_path(req);
  if (lh_routes__reserved_path(path))
    return 0;
  seg segs[MAX_SEGS];
  int n = lh_routes__split_path(path, segs);
  if (n < 0)
    return 0;
  unsigned want = lh_routes__method_bit(http_request_method(req));
  unsigned accept = want == M_HEAD ? (M_HEAD | M_GET) : want;
  const route *best = NULL;
  unsigned allow = 0;
  for (size_t i = 0; i < r->nroutes; i++) {
    const route *rt = &r->routes[i];
    if (rt->nsegs != n)
      continue;
    int ok = 1;
    for (int j = 0; j < n && ok; j++)
      ok = rt->segs[j].param ? segs[j].len > 0
                             : rt->segs[j].len == segs[j].len &&
                                   memcmp(rt->segs[j].text, segs[j].s, segs[j].len) == 0;
    if (!ok)
      continue;
    allow |= rt->method;
    if (!(rt->method & accept))
      continue;
    /* the most literal pattern wins; for HEAD, a HEAD route over a GET one */
    if (!best || rt->literals > best->literals ||
        (rt->literals == best->literals && rt->method == want))
      best = rt;
  }
  if (!allow)
    return 0;
  if (!best) {
    answer_405(req, allow);
    return 1;
  }

  route_req *q = r->pool;
  if (q) {
    r->pool = q->next;
  } else if (!(q = calloc(1, sizeof *q))) {
    http_respond_error(req, 503, "unavailable", "out of memory", NULL);
    return 1;
  }
  memset(&q->group, 0, sizeof q->group);
  q->group.cpu_limit = r->cpu_limit;
  q->group.on_end = request_ended;
  q->routes = r;
  q->req = req;
  q->route = best;
  memcpy(q->path, segs, (size_t)n * sizeof *segs);
  q->prev = NULL;
  q->next = r->live;
  if (r->live)
    r->live->prev = q;
  r->live = q;

  lh_vm *vm = &r->vm;
  lh_fiber *f = NULL;
  if (vm->fiber_pool) {
    f = lh_fiber_take(vm, vm->L); /* allocates nothing */
  } else {
    lua_pushcfunction(vm->L, make_fiber);
    lua_pushlightuserdata(vm->L, &f);
    if (lua_pcall(vm->L, 1, 0, 0) != LUA_OK) {
      lua_pop(vm->L, 1);
      f = NULL;
    }
  }
  if (!f) {
    answer_error(q, 503, "unavailable", "the route VM is out of memory", NULL);
    req_release(r, q);
    return 1;
  }
  http_request_on_abort(req, request_aborted, q);
  lua_pushcfunction(f->co, route_run);
  lua_pushlightuserdata(f->co, q);
  lh_sched_run_group(f, &q->group, 1); /* usually answers before it returns */
  return 1;
}
