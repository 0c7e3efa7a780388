/* lua/vm.c — a sandboxed Lua 5.4 VM: budgeted allocator, count hook for CPU and time slices, safe
 * globals. */
#include <limits.h>
#include <errno.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errors.h"
#include "lua/internal.h"

/* Memory a killed VM may still use to unwind and build its error message. */
#define KILL_GRACE_BYTES (1u << 20)

lh_vm *lh_vm_of(lua_State *L) {
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

/* The group a shared VM is running code for, or NULL. */
static lh_group *current_group(const lh_vm *vm) {
  return vm->current ? vm->current->group : NULL;
}

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  lh_vm *vm = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    vm->mem_used -= old;
    return NULL;
  }
  if (nsize > old) {
    /* In a shared VM the group that goes over the budget is killed, not the
     * VM. The host's own bookkeeping between fibers (making a fiber, storing
     * a result or a traceback) runs outside any group and outside a
     * protected call, so it may use the grace too rather than raise there. */
    lh_group *g = vm->shared ? current_group(vm) : NULL;
    int grace = vm->killed || (vm->shared && (!g || g->killed));
    size_t limit = vm->mem_limit + (grace ? KILL_GRACE_BYTES : 0);
    if (vm->mem_used + (nsize - old) > limit) {
      if (g && !g->killed) {
        /* Lua answers a refused allocation with an emergency full collection
         * and asks once more: only a second refusal of the same request kills
         * the group, so the garbage an earlier request left behind cannot get
         * this one killed. The second one is then granted from the grace, as
         * in a workflow VM: the hook raises the kill at the next instruction. */
        if (vm->refused_size != nsize || vm->refused_ptr != ptr) {
          vm->refused_ptr = ptr;
          vm->refused_size = nsize;
          return NULL;
        }
        char msg[96];
        snprintf(msg, sizeof msg, "memory budget exceeded (%zu MiB)", vm->mem_limit >> 20);
        lh_group_kill(vm, g, AGENTAI_ENOMEM, "memory_limit", msg);
        if (vm->mem_used + (nsize - old) > vm->mem_limit + KILL_GRACE_BYTES)
          return NULL;
      } else {
        if (!vm->killed && !vm->shared && vm->L) {
          char msg[96];
          snprintf(msg, sizeof msg, "memory budget exceeded (%zu MiB)", vm->mem_limit >> 20);
          lh_vm_kill(vm, AGENTAI_ENOMEM, "memory_limit", msg);
        }
        return NULL;
      }
    }
  }
  void *p = realloc(ptr, nsize);
  if (!p)
    return NULL;
  vm->mem_used = vm->mem_used - old + nsize;
  vm->refused_size = 0;
  if (vm->mem_used > vm->mem_peak)
    vm->mem_peak = vm->mem_used;
  return p;
}

/* Raises the kill message with the current file:line (a killed VM has a
 * little grace memory for exactly this). */
static void raise_killed(lua_State *L, const char *kill_msg) {
  luaL_where(L, 0); /* in a hook, level 0 is the Lua function being run */
  lua_pushstring(L, kill_msg);
  lua_concat(L, 2);
  lua_error(L);
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  lh_vm *vm = lh_vm_of(L);
  if (vm->killed)
    raise_killed(L, vm->kill_msg);
  lh_group *g = current_group(vm);
  if (g && g->killed)
    raise_killed(L, g->kill_msg);
  if (ar->event != LUA_HOOKCOUNT)
    return;
  vm->instructions += vm->hook_count;
  if (vm->cpu_limit && vm->instructions > vm->cpu_limit) {
    char msg[96];
    snprintf(msg, sizeof msg, "cpu budget exceeded (%llu instructions)",
             (unsigned long long)vm->cpu_limit);
    lh_vm_kill(vm, AGENTAI_ETIMEDOUT, "cpu_limit", msg);
    raise_killed(L, vm->kill_msg);
  }
  /* A shared VM's CPU budget is per group (per request), not per VM. */
  if (g && g->cpu_limit && (g->instructions += vm->hook_count) > g->cpu_limit) {
    char msg[96];
    snprintf(msg, sizeof msg, "cpu budget exceeded (%llu instructions)",
             (unsigned long long)g->cpu_limit);
    lh_group_kill(vm, g, AGENTAI_ETIMEDOUT, "cpu_limit", msg);
    raise_killed(L, g->kill_msg);
  }
  /* Time slice: a busy fiber gives the loop back. Only workflow fibers yield
   * here (a user coroutine's yield would go to its own resumer), and only
   * where Lua allows it (not inside table.sort comparators, gsub callbacks,
   * require). */
  lh_fiber *f = lh_fiber_of(L);
  if (f && vm->instructions - f->slice_start >= vm->slice && lua_isyieldable(L))
    lua_yield(L, 0);
}

void lh_vm_install_hook(lh_vm *vm, lua_State *co) {
  lh_fiber *f = lh_fiber_of(co);
  if (vm->killed || (f && f->group && f->group->killed))
    lua_sethook(co, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
  else
    lua_sethook(co, count_hook, LUA_MASKCOUNT, (int)vm->hook_count);
}

void lh_vm_kill(lh_vm *vm, int status, const char *kind, const char *msg) {
  if (vm->killed)
    return;
  vm->killed = 1;
  vm->kill_status = status;
  snprintf(vm->kill_kind, sizeof vm->kill_kind, "%s", kind);
  snprintf(vm->kill_msg, sizeof vm->kill_msg, "%s", msg);
  /* From now on the hook fires on every line and instruction of every
   * fiber, so a pcall cannot swallow the kill: the next instruction after
   * the pcall raises again. */
  lh_vm_install_hook(vm, vm->L);
  for (lh_fiber *f = vm->fibers; f; f = f->next)
    if (f->co)
      lh_vm_install_hook(vm, f->co);
}

void lh_group_kill(lh_vm *vm, lh_group *g, int status, const char *kind, const char *msg) {
  if (g->killed)
    return;
  g->killed = 1;
  g->kill_status = status;
  snprintf(g->kill_kind, sizeof g->kill_kind, "%s", kind);
  snprintf(g->kill_msg, sizeof g->kill_msg, "%s", msg);
  for (lh_fiber *f = vm->fibers; f; f = f->next)
    if (f->group == g && f->co)
      lh_vm_install_hook(vm, f->co);
}

/* ---- sandboxed globals ---- */

/* Globals that exist in stock Lua but not here: reading one explains why. */
static const char *const REMOVED_GLOBALS[] = {"io", "debug", "package", "dofile", "loadfile", NULL};
static const char *const REMOVED_OS[] = {"execute", "exit",   "remove",    "rename",
                                         "tmpname", "getenv", "setlocale", NULL};

static int removed_index(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__removed");
  lua_getfield(L, -1, key ? key : "");
  if (lua_toboolean(L, -1)) {
    lua_getfield(L, -3, "__prefix");
    return luaL_error(L, "%s%s is not available in the agentai sandbox", lua_tostring(L, -1), key);
  }
  return 0;
}

static void mark_removed(lua_State *L, int table, const char *prefix, const char *const *names) {
  table = lua_absindex(L, table);
  lua_newtable(L); /* metatable */
  lua_newtable(L);
  for (size_t i = 0; names[i]; i++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, names[i]);
  }
  lua_setfield(L, -2, "__removed");
  lua_pushstring(L, prefix);
  lua_setfield(L, -2, "__prefix");
  lua_pushcfunction(L, removed_index);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, table);
}

/* load() that only takes text: a binary chunk is refused loudly. */
static int sandbox_load(lua_State *L) {
  size_t len = 0;
  const char *s = lua_tolstring(L, 1, &len);
  if (lua_type(L, 1) == LUA_TSTRING && len >= 4 && memcmp(s, LUA_SIGNATURE, 4) == 0)
    return luaL_error(L, "load: binary chunks are not allowed in the agentai sandbox");
  int nargs = lua_gettop(L) > 4 ? 4 : lua_gettop(L);
  lua_settop(L, 4);                      /* absent arguments read as nil */
  lua_pushvalue(L, lua_upvalueindex(1)); /* the original load */
  lua_pushvalue(L, 1);                   /* chunk */
  lua_pushvalue(L, 2);                   /* chunkname */
  lua_pushliteral(L, "t");               /* mode: text only */
  /* env only when given: load(s, n, m, nil) and load(s, n, m) differ. */
  if (nargs == 4)
    lua_pushvalue(L, 4);
  lua_call(L, nargs == 4 ? 4 : 3, LUA_MULTRET);
  return lua_gettop(L) - 4;
}

static int sandbox_collectgarbage(lua_State *L) {
  const char *opt = luaL_optstring(L, 1, "collect");
  if (strcmp(opt, "collect") && strcmp(opt, "count") && strcmp(opt, "step"))
    return luaL_error(L, "collectgarbage('%s') is not available in the agentai sandbox", opt);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* require(): "agentai", or a text module from the workflow's folder and the
 * configured workflow folders. Cached per VM. Not yieldable (Lua's rule). */
static int sandbox_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lh_vm *vm = lh_vm_of(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "agentai.loaded");
  if (lua_getfield(L, -1, name) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  if (strcmp(name, "agentai") == 0) {
    lh_open_agentai(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
  }
  if (!name[0] || strstr(name, "..") || name[0] == '/' || strchr(name, '\\'))
    return luaL_error(L, "module '%s' not found: invalid module name", name);
  char rel[512];
  snprintf(rel, sizeof rel, "%s", name);
  for (char *p = rel; *p; p++)
    if (*p == '.')
      *p = '/';
  char path[2 * PATH_MAX] = "";
  char tried[1536] = "";
  size_t ndirs = vm->svc->cfg ? vm->svc->cfg->workflow_dir_count : 0;
  char builtin[PATH_MAX + 80] = "";
  if (lh_builtin_scripts_dir())
    snprintf(builtin, sizeof builtin, "%s/lib", lh_builtin_scripts_dir());
  for (size_t i = 0; i <= ndirs + 1 && !path[0]; i++) {
    const char *dir = i == 0 ? vm->dir : i <= ndirs ? vm->svc->cfg->workflow_dirs[i - 1] : builtin;
    if (!dir[0])
      continue;
    char candidate[2 * PATH_MAX];
    snprintf(candidate, sizeof candidate, "%s/%s.lua", dir, rel);
    if (file_exists(candidate))
      snprintf(path, sizeof path, "%s", candidate);
    else if (strlen(tried) + strlen(candidate) + 16 < sizeof tried) {
      strcat(tried, "\n\tno file '");
      strcat(tried, candidate);
      strcat(tried, "'");
    }
  }
  if (!path[0])
    return luaL_error(L, "module '%s' not found (the sandbox offers 'agentai' and Lua files):%s",
                      name, tried);
  if (luaL_loadfilex(L, path, "t") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  return 1;
}

lua_State *lh_vm_open(lh_vm *vm, char *err, size_t err_len) {
  lua_State *L = lua_newstate(budget_alloc, vm);
  if (!L) {
    snprintf(err, err_len, "cannot create a Lua VM: out of memory");
    return NULL;
  }
  vm->L = L;
  /* Threads copy the main thread's extra space: NULL marks "not a workflow
   * fiber" for every coroutine the script creates itself. */
  *(void **)lua_getextraspace(L) = NULL;
  static const luaL_Reg LIBS[] = {
      {LUA_GNAME, luaopen_base},       {LUA_COLIBNAME, luaopen_coroutine},
      {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
      {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
      {LUA_OSLIBNAME, luaopen_os},     {NULL, NULL}};
  for (const luaL_Reg *lib = LIBS; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  lua_pushglobaltable(L);
  int g = lua_gettop(L);

  /* os: time and clock only. */
  lua_getfield(L, g, "os");
  lua_newtable(L);
  static const char *const OS_KEEP[] = {"time", "clock", "date", "difftime", NULL};
  for (size_t i = 0; OS_KEEP[i]; i++) {
    lua_getfield(L, -2, OS_KEEP[i]);
    lua_setfield(L, -2, OS_KEEP[i]);
  }
  mark_removed(L, -1, "os.", REMOVED_OS);
  lua_setfield(L, g, "os");
  lua_pop(L, 1);

  lua_getfield(L, g, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);

  lua_getfield(L, g, "load");
  lua_pushcclosure(L, sandbox_load, 1);
  lua_setfield(L, g, "load");
  lua_getfield(L, g, "collectgarbage");
  lua_pushcclosure(L, sandbox_collectgarbage, 1);
  lua_setfield(L, g, "collectgarbage");
  lua_pushnil(L);
  lua_setfield(L, g, "dofile");
  lua_pushnil(L);
  lua_setfield(L, g, "loadfile");
  lua_pushcfunction(L, sandbox_require);
  lua_setfield(L, g, "require");
  mark_removed(L, g, "", REMOVED_GLOBALS);
  lua_pop(L, 1);

  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "agentai.loaded");
  lh_vm_install_hook(vm, L);
  return L;
}
