/* lua/ljson_lib.c — the `json` Lua library (ai.json): encode, decode, null, array, object,
 * is_array. */
#include "lua/ljson.h"
#include "lua/ljson_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* ---------------------------------------------------------------------------------------------- */
/* The json library. */

static int l_decode(lua_State *L) {
  char err[512];
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING)
    return luaL_error(L, "json.decode: expected a string, got %s", luaL_typename(L, 1));
  const char *s = lua_tolstring(L, 1, &len);
  if (ljson_decode(L, s, len, err, sizeof err))
    return luaL_error(L, "json.decode: %s", err);
  return 1;
}

static int set_kind(lua_State *L, const char *mt, const char *fname) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else if (!lua_istable(L, 1)) {
    return luaL_error(L, "json.%s: expected a table, got %s", fname, luaL_typename(L, 1));
  }
  lua_settop(L, 1);
  ljson__push_mt(L, mt);
  lua_setmetatable(L, 1);
  return 1;
}

static int l_array(lua_State *L) {
  return set_kind(L, MT_ARRAY, "array");
}

static int l_object(lua_State *L) {
  return set_kind(L, MT_OBJECT, "object");
}

int ljson_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"encode", ljson__l_encode},
                                 {"decode", l_decode},
                                 {"array", l_array},
                                 {"object", l_object},
                                 {"is_array", ljson__l_is_array},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  ljson_push_null(L);
  lua_setfield(L, -2, "null");
  ljson__push_mt(L, MT_ARRAY);
  ljson__push_mt(L, MT_OBJECT);
  lua_pop(L, 2);
  return 1;
}
