/* lua/lerror.c — the structured errors every binding raises: {kind, message, retryable,
 * retry_after, code, where}, printed as "where: kind: message". */
#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "lua/internal.h"

/* The metatable of structured errors (its __tostring prints them). */
#define ERROR_MT "agentai.error"

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "where");
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "traceback");
  lua_pushfstring(L, "%s%s: %s%s%s", lua_isstring(L, 2) ? lua_tostring(L, 2) : "",
                  luaL_optstring(L, 3, "error"), luaL_optstring(L, 4, ""),
                  lua_isstring(L, 5) ? "\n" : "", lua_isstring(L, 5) ? lua_tostring(L, 5) : "");
  return 1;
}

void lh_push_error(lua_State *L, int err, const char *message, int64_t retry_after_ms) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, agentai_errname(err));
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, err);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, message && message[0] ? message : agentai_strerror(err));
  lua_setfield(L, -2, "message");
  lua_pushboolean(L, agentai_err_retryable(err));
  lua_setfield(L, -2, "retryable");
  if (retry_after_ms >= 0) {
    lua_pushnumber(L, (double)retry_after_ms / 1000.0);
    lua_setfield(L, -2, "retry_after");
  }
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "agentai.error");
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
}

void lh_push_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

int lh_raise(lua_State *L, int err, const char *message, int64_t retry_after_ms) {
  lh_push_error(L, err, message, retry_after_ms);
  lh_push_where(L);
  lua_setfield(L, -2, "where");
  return lua_error(L);
}
