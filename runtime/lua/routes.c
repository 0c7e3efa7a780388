/* lua/routes.c — HTTP endpoints written in Lua: loads the route files into one shared VM, matches
 * requests to patterns and runs each handler in a fiber group of its own. */
#include "lua/routes.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/errors.h"
#include "core/log.h"
#include "lua/internal.h"
#include "lua/ljson.h"

#define MAX_SEGS 32      /* path segments a pattern may have */
#define MAX_PATTERN 1000 /* bytes */
#define HEADERS_MT "agentai.route.headers"
#define REQ_MT "agentai.route.request"

/* Methods as bits, in the order an Allow header lists them. */
enum { M_GET = 1, M_HEAD = 2, M_POST = 4, M_PUT = 8, M_PATCH = 16, M_DELETE = 32, M_OPTIONS = 64 };
static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

typedef struct seg {
  const char *s;
  size_t len;
} seg;

typedef struct route_seg {
  const char *text; /* literal text, or the parameter's name; NUL-terminated, in route.buf */
  size_t len;
  int param;
} route_seg;

typedef struct route {
  unsigned method; /* one M_* bit */
  const char *pattern;
  route_seg segs[MAX_SEGS];
  int nsegs;
  int nparams;
  uint64_t literals; /* bit 63-i set when segment i is literal: the larger, the more specific */
  int fn_ref;        /* the handler, in the registry */
  char where[320];   /* "file:line" of the registration */
  char *buf;         /* the pattern, then its segments NUL-separated */
} route;

/* One request in flight. Never freed before the routes are (a header proxy
 * that Lua kept may still point here): reused through the pool, with gen
 * telling a proxy of an earlier request from the current one. */
typedef struct route_req {
  lh_group group; /* first: on_end receives &group */
  lh_routes *routes;
  http_request *req;     /* NULL once answered */
  const void *req_table; /* the handler's `req`, to tell it from another request's */
  const route *route;
  seg path[MAX_SEGS]; /* the path's segments, pointing into req's path */
  uint64_t gen;
  struct route_req *prev, *next; /* routes->live, or routes->pool */
} route_req;

struct lh_routes {
  lh_vm vm; /* first: the Lua functions find the routes from their VM */
  route *routes;
  size_t nroutes, cap;
  const char *loading; /* the file being loaded; NULL once the routes serve */
  uint64_t cpu_limit;  /* per request */
  route_req *live;
  route_req *pool;
  int req_mt, headers_mt; /* registry refs of the two metatables */
};

/* The header proxy a request's `req.headers` is. */
typedef struct hdr_proxy {
  route_req *q;
  uint64_t gen;
} hdr_proxy;

static unsigned method_bit(const char *m) {
  for (size_t i = 0; i < NMETHODS; i++)
    if (strcmp(m, METHODS[i]) == 0)
      return 1u << i;
  return 0;
}

static const char *method_name(unsigned bit) {
  for (size_t i = 0; i < NMETHODS; i++)
    if (bit == 1u << i)
      return METHODS[i];
  return "?";
}

/* Splits "/a/b" into its segments; -1 when there are more than MAX_SEGS
 * or path does not start with '/'.
 * "/" has none; an empty segment ("/a//b", "/a/") is kept as "". */
static int split_path(const char *path, seg *out) {
  int n = 0;
  if (path[0] != '/')
    return -1;
  if (path[1] == '\0')
    return 0;
  const char *p = path + 1;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (n == MAX_SEGS)
      return -1;
    out[n].s = p;
    out[n].len = len;
    n++;
    if (!slash)
      return n;
    p = slash + 1;
  }
}

/* The built-in API's paths: never a route's. */
static int reserved_path(const char *p) {
  if (p[0] != '/')
    return 0;
  if (p[1] == 'v' && p[2] == '1' && (p[3] == '\0' || p[3] == '/'))
    return 1;
  return !strcmp(p, "/healthz") || !strcmp(p, "/readyz") || !strcmp(p, "/version") ||
         !strcmp(p, "/metrics");
}

/* ---------------------------------------------------------------------- */
/* Registration: ai.route.*                                                */
/* ---------------------------------------------------------------------- */

static int is_ident(const char *s, size_t n) {
  if (n == 0 || isdigit((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] == '_' || isalnum((unsigned char)s[i])))
      return 0;
  return 1;
}

/* Checks pattern and fills rt's segments (pointing into pattern for now).
 * Returns NULL or what is wrong. */
static const char *parse_pattern(const char *pattern, size_t len, route *rt) {
  if (len == 0 || pattern[0] != '/')
    return "a pattern starts with '/'";
  if (len > MAX_PATTERN)
    return "pattern longer than 1000 bytes";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)pattern[i];
    if (c < 0x20 || c == 0x7f || c == '?' || c == '#')
      return "a pattern is a path: no control characters, '?' or '#'";
  }
  seg segs[MAX_SEGS];
  int n = split_path(pattern, segs);
  if (n < 0)
    return "more than 32 segments";
  rt->nsegs = n;
  rt->nparams = 0;
  rt->literals = 0;
  for (int i = 0; i < n; i++) {
    const char *s = segs[i].s;
    size_t sl = segs[i].len;
    if (sl == 0)
      return "empty segment ('//' or a trailing '/')";
    int braces = memchr(s, '{', sl) || memchr(s, '}', sl);
    if (braces) {
      if (sl < 3 || s[0] != '{' || s[sl - 1] != '}' || !is_ident(s + 1, sl - 2))
        return "a parameter is a whole segment: {name}, name a Lua identifier";
      for (int j = 0; j < i; j++)
        if (rt->segs[j].param && rt->segs[j].len == sl - 2 &&
            !memcmp(rt->segs[j].text, s + 1, sl - 2))
          return "the same parameter name twice";
      rt->segs[i] = (route_seg){.text = s + 1, .len = sl - 2, .param = 1};
      rt->nparams++;
    } else {
      rt->segs[i] = (route_seg){.text = s, .len = sl, .param = 0};
      rt->literals |= (uint64_t)1 << (63 - i);
    }
  }
  return NULL;
}

/* Same method and same shape (parameter names aside): one would hide the other. */
static int same_route(const route *a, const route *b) {
  if (a->method != b->method || a->nsegs != b->nsegs || a->literals != b->literals)
    return 0;
  for (int i = 0; i < a->nsegs; i++)
    if (!a->segs[i].param && (a->segs[i].len != b->segs[i].len ||
                              memcmp(a->segs[i].text, b->segs[i].text, a->segs[i].len)))
      return 0;
  return 1;
}

static lh_routes *routes_of(lua_State *L) {
  return (lh_routes *)lh_vm_of(L); /* the VM is the first member */
}

/* ai.route.<method>(pattern, fn): arguments at idx and idx + 1. */
static int add_route(lua_State *L, unsigned method, int idx) {
  lh_routes *r = routes_of(L);
  size_t plen = 0;
  const char *pattern = luaL_checklstring(L, idx, &plen);
  luaL_checktype(L, idx + 1, LUA_TFUNCTION);
  if (!r->loading)
    return luaL_error(L, "ai.route: routes are added while the route files load, not later");
  if (strlen(pattern) != plen)
    return luaL_error(L, "ai.route: the pattern contains a NUL byte");
  route rt;
  memset(&rt, 0, sizeof rt);
  rt.method = method;
  const char *why = parse_pattern(pattern, plen, &rt);
  if (why)
    return luaL_error(L, "ai.route: bad pattern '%s': %s", pattern, why);
  if (reserved_path(pattern))
    return luaL_error(L,
                      "ai.route: '%s' belongs to the built-in API (/v1/..., /healthz, /readyz, "
                      "/version, /metrics): routes cannot shadow it",
                      pattern);
  for (size_t i = 0; i < r->nroutes; i++)
    if (same_route(&r->routes[i], &rt))
      return luaL_error(L, "ai.route: duplicate route %s %s: already defined as %s at %s",
                        method_name(method), pattern, r->routes[i].pattern, r->routes[i].where);
  luaL_where(L, 1);
  size_t wlen = 0;
  const char *where = lua_tolstring(L, -1, &wlen);
  while (wlen && (where[wlen - 1] == ' ' || where[wlen - 1] == ':'))
    wlen--;
  snprintf(rt.where, sizeof rt.where, "%.*s", (int)wlen, where);
  lua_pop(L, 1);

  /* What can raise comes first, then the C allocations that cannot. */
  lua_pushvalue(L, idx + 1);
  rt.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (r->nroutes == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    route *grown = realloc(r->routes, cap * sizeof *grown);
    if (!grown) {
      luaL_unref(L, LUA_REGISTRYINDEX, rt.fn_ref);
      return luaL_error(L, "ai.route: out of memory");
    }
    r->routes = grown;
    r->cap = cap;
  }
  rt.buf = malloc(2 * plen + 2);
  if (!rt.buf) {
    luaL_unref(L, LUA_REGISTRYINDEX, rt.fn_ref);
    return luaL_error(L, "ai.route: out of memory");
  }
  memcpy(rt.buf, pattern, plen + 1);
  rt.pattern = rt.buf;
  char *names = rt.buf + plen + 1;
  for (int i = 0; i < rt.nsegs; i++) { /* own, NUL-terminated copies: param names are table keys */
    memcpy(names, rt.segs[i].text, rt.segs[i].len);
    names[rt.segs[i].len] = '\0';
    rt.segs[i].text = names;
    names += rt.segs[i].len + 1;
  }
  r->routes[r->nroutes++] = rt;
  return 0;
}

static int l_route_add(lua_State *L) {
  const char *m = luaL_checkstring(L, 1);
  char up[16];
  size_t n = strlen(m);
  unsigned bit = 0;
  if (n < sizeof up) {
    for (size_t i = 0; i <= n; i++)
      up[i] = (char)(m[i] >= 'a' && m[i] <= 'z' ? m[i] - 32 : m[i]);
    bit = method_bit(up);
  }
  if (!bit)
    return luaL_argerror(L, 1, "method must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS");
  return add_route(L, bit, 2);
}

static int l_route_get(lua_State *L) {
  return add_route(L, M_GET, 1);
}
static int l_route_post(lua_State *L) {
  return add_route(L, M_POST, 1);
}
static int l_route_put(lua_State *L) {
  return add_route(L, M_PUT, 1);
}
static int l_route_patch(lua_State *L) {
  return add_route(L, M_PATCH, 1);
}
static int l_route_delete(lua_State *L) {
  return add_route(L, M_DELETE, 1);
}

static int headers_index(lua_State *L);
static int headers_call(lua_State *L);
static int req_index(lua_State *L);
static int headers_newindex(lua_State *L);

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "ai.route is read-only");
}

/* Registers require("agentai") with `route` added: protected (allocates). */
static int open_module(lua_State *L) {
  static const luaL_Reg FNS[] = {
      {"add", l_route_add}, {"get", l_route_get},     {"post", l_route_post},
      {"put", l_route_put}, {"patch", l_route_patch}, {"delete", l_route_delete},
      {NULL, NULL}};
  lua_getfield(L, LUA_REGISTRYINDEX, "agentai.loaded");
  lh_open_agentai(L); /* a read-only proxy with no fields of its own */
  lua_pushliteral(L, "route");
  lua_newtable(L); /* proxy of the functions */
  lua_newtable(L);
  luaL_setfuncs(L, FNS, 0);
  lua_newtable(L); /* its metatable */
  lua_insert(L, -2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  /* rawset on the module's proxy: reads find `route` there before its
   * __index, writes still go through its read-only __newindex. */
  lua_rawset(L, -3);
  lua_setfield(L, -2, "agentai");

  lh_routes *r = routes_of(L);
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
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                 */
/* ---------------------------------------------------------------------- */

/* The text of an error value without running user code (no __tostring):
 * strings as they are, structured errors from their fields. Protected:
 * pushes one string. */
static int error_text(lua_State *L) {
  int t = lua_type(L, 1);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushstring(L, lua_tostring(L, 1));
    return 1;
  }
  if (t != LUA_TTABLE) {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
  }
  static const char *const F[] = {"where", "kind", "message", "traceback"};
  for (int i = 0; i < 4; i++) {
    lua_pushstring(L, F[i]);
    lua_rawget(L, 1);
  }
  lua_pushfstring(L, "%s%s: %s%s%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "",
                  lua_isstring(L, 3) ? lua_tostring(L, 3) : "error",
                  lua_isstring(L, 4) ? lua_tostring(L, 4) : "(error object is a table)",
                  lua_isstring(L, 5) ? "\n" : "", lua_isstring(L, 5) ? lua_tostring(L, 5) : "");
  return 1;
}

/* Copies the text of the value at the top of L into out (popping it). */
static void take_error_text(lua_State *L, char *out, size_t len) {
  lua_pushcfunction(L, error_text);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK)
    snprintf(out, len, "%s", lua_tostring(L, -1));
  else
    snprintf(out, len, "(error while reading the error: out of memory)");
  lua_pop(L, 1);
}

static int load_file(lh_routes *r, const char *path, char *err, size_t err_len) {
  lua_State *L = r->vm.L;
  r->loading = path;
  int rc = 0;
  if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    take_error_text(L, err, err_len); /* "cannot open F" or "F:LINE: ..." */
    rc = AGENTAI_EINVAL;
  } else if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    take_error_text(L, err, err_len);                       /* "F:LINE: ..." from the raise */
    rc = r->vm.killed ? r->vm.kill_status : AGENTAI_EINVAL; /* over a budget, or an error */
  }
  r->loading = NULL;
  lua_settop(L, 0);
  return rc;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(lh_routes *r, const char *dir, char *err, size_t err_len) {
  DIR *d = opendir(dir);
  if (!d) {
    int e = errno;
    if (e == ENOENT)
      return 0;
    snprintf(err, err_len, "cannot read the route folder '%s': %s", dir, strerror(e));
    return e == ENOTDIR ? AGENTAI_EINVAL : AGENTAI_EIO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) && rc == 0) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".lua"))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **grown = realloc(names, cap * sizeof *grown);
      if (!grown) {
        rc = AGENTAI_ENOMEM;
        break;
      }
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name)))
      rc = AGENTAI_ENOMEM;
    else
      n++;
  }
  closedir(d);
  if (rc == 0 && n > 1)
    qsort(names, n, sizeof *names, cmp_names);
  else if (rc < 0)
    snprintf(err, err_len, "out of memory listing '%s'", dir);
  lh_vm *vm = &r->vm;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char path[2048];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    snprintf(vm->dir, sizeof vm->dir, "%s", dir); /* require() looks next to the file first */
    rc = load_file(r, path, err, err_len);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return rc;
}

static void idle_closed(uv_handle_t *h) {
  free(h->data);
}

/* Frees everything; the routes struct itself goes once the idle handle closed. */
static void routes_free(lh_routes *r) {
  lh_vm *vm = &r->vm;
  lh_sched_cancel_all(vm);
  lh_op_pool_drain(vm);
  if (vm->idle_active)
    uv_idle_stop(&vm->idle);
  vm->idle_active = 0;
  lh_sched_free_fibers(vm);
  if (vm->L)
    lua_close(vm->L); /* runs the __gc of fiber handles still around */
  vm->L = NULL;
  for (size_t i = 0; i < r->nroutes; i++)
    free(r->routes[i].buf);
  free(r->routes);
  while (r->pool) {
    route_req *q = r->pool;
    r->pool = q->next;
    free(q);
  }
  vm->idle.data = r;
  uv_close((uv_handle_t *)&vm->idle, idle_closed);
}

int lh_routes_open(const lh_services *svc, const char *const *dirs, size_t ndirs, lh_routes **out,
                   char *err, size_t err_len) {
  *out = NULL;
  lh_routes *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, err_len, "out of memory");
    return AGENTAI_ENOMEM;
  }
  lh_vm *vm = &r->vm;
  vm->svc = svc;
  const config *cfg = svc->cfg;
  vm->mem_limit = cfg && cfg->lua_memory_limit ? cfg->lua_memory_limit : (64u << 20);
  r->cpu_limit = cfg ? cfg->lua_cpu_limit : 0;
  vm->cpu_limit = r->cpu_limit; /* while loading: a file's top level is one run */
  vm->slice = cfg && cfg->lua_slice_instructions ? cfg->lua_slice_instructions : 100000;
  vm->hook_count = vm->slice < 10000 ? vm->slice : 10000;
  snprintf(vm->path, sizeof vm->path, "routes"); /* what ai.log reports as "workflow" */
  snprintf(vm->dir, sizeof vm->dir, ".");
  lua_State *L = lh_vm_open(vm, err, err_len);
  if (!L) {
    free(r);
    return AGENTAI_ENOMEM;
  }
  lh_sched_start(vm);
  int rc = 0;
  lua_pushcfunction(L, open_module);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    take_error_text(L, err, err_len);
    rc = AGENTAI_ENOMEM;
  }
  for (size_t i = 0; i < ndirs && rc == 0; i++)
    rc = load_dir(r, dirs[i], err, err_len);
  if (rc == 0 && vm->killed) { /* a kill that a file's pcall swallowed */
    snprintf(err, err_len, "route files: %s", vm->kill_msg);
    rc = vm->kill_status;
  }
  if (rc < 0) {
    routes_free(r);
    return rc;
  }
  lua_settop(L, 0);
  /* From here on the VM serves: budgets per request, failures per request. */
  vm->cpu_limit = 0;
  vm->shared = 1;
  *out = r;
  return 0;
}

size_t lh_routes_count(const lh_routes *r) {
  return r ? r->nroutes : 0;
}

size_t lh_routes_memory(const lh_routes *r) {
  return r ? r->vm.mem_used : 0;
}

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
    take_error_text(L, text, sizeof text);
  }
  cJSON *f = cJSON_CreateObject();
  char name[MAX_PATTERN + 16];
  snprintf(name, sizeof name, "%s %s", method_name(q->route->method), q->route->pattern);
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
               method_name(q->route->method), q->route->pattern, http_request_id(q->req));
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
               method_name(rt->method), rt->pattern, luaL_typename(L, idx));
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
      luaL_error(L,
                 "route %s %s: unknown field '%s' in the returned table (expected status, json, "
                 "body, headers, content_type)",
                 method_name(rt->method), rt->pattern, k[0] ? k : lua_typename(L, lua_type(L, -2)));
    lua_insert(L, -2); /* the value stays, the key goes on top for lua_next */
    *slot = lua_gettop(L) - 1;
  }
  int status = 200;
  if (status_i) {
    int isnum = 0;
    lua_Integer s = lua_tointegerx(L, status_i, &isnum);
    if (!isnum || s < 200 || s > 599)
      luaL_error(L, "route %s %s: status must be an integer from 200 to 599",
                 method_name(rt->method), rt->pattern);
    status = (int)s;
  }
  int body_t = body ? lua_type(L, body) : LUA_TNIL;
  if (json && body_t != LUA_TNIL)
    luaL_error(L, "route %s %s: return json= or body=, not both", method_name(rt->method),
               rt->pattern);
  if (body_t != LUA_TNIL && body_t != LUA_TSTRING)
    luaL_error(L, "route %s %s: body must be a string, got %s", method_name(rt->method),
               rt->pattern, luaL_typename(L, body));
  const char *ct = json                    ? "application/json"
                   : body_t == LUA_TSTRING ? "text/plain; charset=utf-8"
                                           : NULL;
  int ct_t = ct_i ? lua_type(L, ct_i) : LUA_TNIL;
  if (ct_t == LUA_TSTRING)
    ct = lua_tostring(L, ct_i);
  else if (ct_t != LUA_TNIL)
    luaL_error(L, "route %s %s: content_type must be a string", method_name(rt->method),
               rt->pattern);
  if (headers && !lua_istable(L, headers))
    luaL_error(L, "route %s %s: headers must be a table {name = value}", method_name(rt->method),
               rt->pattern);
  if (headers) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, "route %s %s: headers must map names to strings", method_name(rt->method),
                   rt->pattern);
      const char *name = lua_tostring(L, -2);
      const char *value =
          lua_tostring(L, -1); /* converts a number in place: a value, not the key */
      if (!strcasecmp(name, "content-type")) {
        /* a string held by the table: still valid when the response is built */
        if (ct_t == LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
          luaL_error(L,
                     "route %s %s: set content_type= or a Content-Type header (a string), not both",
                     method_name(rt->method), rt->pattern);
      } else {
        const char *why = header_problem(name, value);
        if (why)
          luaL_error(L, "route %s %s: header '%s': %s", method_name(rt->method), rt->pattern, name,
                     why);
      }
      lua_pop(L, 1);
    }
  }
  char *text = NULL;
  size_t len = 0;
  if (json) {
    char why[256];
    if (ljson_encode(L, json, &text, &len, why, sizeof why) < 0)
      luaL_error(L, "route %s %s: json cannot be encoded: %s", method_name(rt->method), rt->pattern,
                 why);
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
        luaL_error(L, "route %s %s: out of memory", method_name(rt->method), rt->pattern);
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
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", METHODS[i]);
  char msg[160];
  snprintf(msg, sizeof msg, "%s is not allowed here; allowed: %s", http_request_method(req), list);
  http_response_add_header(req, "Allow", list);
  http_respond_error(req, 405, "method_not_allowed", msg, NULL);
}

int lh_routes_dispatch(lh_routes *r, http_request *req) {
  if (!r || !r->nroutes)
    return 0;
  const char *path = http_request_path(req);
  if (reserved_path(path))
    return 0;
  seg segs[MAX_SEGS];
  int n = split_path(path, segs);
  if (n < 0)
    return 0;
  unsigned want = method_bit(http_request_method(req));
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

void lh_routes_close(lh_routes *r) {
  if (!r)
    return;
  /* Each cancel answers 503 and takes its request off the list. */
  for (route_req *q = r->live, *next; q; q = next) {
    next = q->next;
    lh_group_cancel(&r->vm, &q->group, "the server is shutting down");
  }
  routes_free(r);
}
