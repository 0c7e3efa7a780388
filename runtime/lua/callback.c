/* lua/callback.c — calling a workflow's Lua function from a loop callback while its fiber waits
 * (ai.http.request's on_data, ai.llm.chat's on_delta): protected, not yieldable, and counted as
 * the waiting fiber's work. */
#include "lua/internal.h"
#include "lua/ljson.h"

lua_State *lh_callback_new(lua_State *L, int fn_index) {
  fn_index = lua_absindex(L, fn_index);
  lua_State *T = lua_newthread(L); /* inherits L's count hook: the CPU budget holds */
  lua_pushvalue(L, fn_index);
  lua_xmove(L, T, 1);
  return T;
}

typedef struct cb_arg {
  const char *data;
  size_t len;
  int as_json;
} cb_arg;

/* Runs protected on T: fn(arg), fn at index 1. */
static int run_callback(lua_State *T) {
  const cb_arg *a = lua_touserdata(T, 2);
  lua_settop(T, 1);
  lua_pushvalue(T, 1);
  if (a->as_json) {
    char err[128];
    if (ljson_decode(T, a->data, a->len, err, sizeof err) < 0)
      lua_pushlstring(T, a->data, a->len); /* not JSON: the text as it came */
  } else {
    lua_pushlstring(T, a->data, a->len);
  }
  lua_call(T, 1, 0);
  return 0;
}

int lh_callback_call(lua_State *T, lh_fiber *f, const char *data, size_t len, int as_json) {
  lh_vm *vm = lh_vm_of(T);
  if (vm->killed || (f && f->group && f->group->killed) || !lua_checkstack(T, 6))
    return -1; /* the fiber raises the kill when it resumes */
  cb_arg a = {data, len, as_json};
  lua_settop(T, 1);
  lua_pushcfunction(T, run_callback);
  lua_pushvalue(T, 1);
  lua_pushlightuserdata(T, &a);
  lh_fiber *saved = vm->current;
  vm->current = f;
  int rc = lua_pcall(T, 2, 0, 0);
  vm->current = saved;
  return rc == LUA_OK ? 0 : 1; /* on error the error value is on top of T */
}
