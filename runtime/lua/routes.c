/* lua/routes.c — HTTP endpoints written in Lua, loading side: reads the route files into one
 * shared VM, checks and registers each ai.route pattern, and owns the routes' lifetime. */
#include "lua/routes_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errors.h"

static const char *const METHODS[NMETHODS] = {"GET",   "HEAD",   "POST",   "PUT",
                                              "PATCH", "DELETE", "OPTIONS"};
_Static_assert(M_OPTIONS == 1 << (NMETHODS - 1), "one name per method bit");

unsigned lh_routes__method_bit(const char *m) {
  for (size_t i = 0; i < NMETHODS; i++)
    if (strcmp(m, METHODS[i]) == 0)
      return 1u << i;
  return 0;
}

const char *lh_routes__method_name(unsigned bit) {
  for (size_t i = 0; i < NMETHODS; i++)
    if (bit == 1u << i)
      return METHODS[i];
  return "?";
}

int lh_routes__split_path(const char *path, seg *out) {
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

int lh_routes__reserved_path(const char *p) {
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
  int n = lh_routes__split_path(pattern, segs);
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
  if (lh_routes__reserved_path(pattern))
    return luaL_error(L,
                      "ai.route: '%s' belongs to the built-in API (/v1/..., /healthz, /readyz, "
                      "/version, /metrics): routes cannot shadow it",
                      pattern);
  for (size_t i = 0; i < r->nroutes; i++)
    if (same_route(&r->routes[i], &rt))
      return luaL_error(L, "ai.route: duplicate route %s %s: already defined as %s at %s",
                        lh_routes__method_name(method), pattern, r->routes[i].pattern,
                        r->routes[i].where);
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
    bit = lh_routes__method_bit(up);
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
  lh_routes__open_request_types(L, routes_of(L));
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

void lh_routes__error_text(lua_State *L, char *out, size_t len) {
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
    lh_routes__error_text(L, err, err_len); /* "cannot open F" or "F:LINE: ..." */
    rc = AGENTAI_EINVAL;
  } else if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lh_routes__error_text(L, err, err_len);                 /* "F:LINE: ..." from the raise */
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
    lh_routes__error_text(L, err, err_len);
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
