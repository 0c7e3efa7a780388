/* lua/lib_schema.c — ai.schema: JSON Schema checks of Lua values (tool arguments, plans). */
#include <lauxlib.h>
#include <lua.h>

#include "core/jsonschema.h"
#include "lua/internal.h"
#include "lua/ljson.h"

#define SCHEMA_MT "agentai.schema"
#define MAX_ERRORS_CAP 1000

/* Lua tables cannot say whether {} is an object or an array: both readings are accepted. */
#define FLAGS JSONSCHEMA_EMPTY_AMBIGUOUS

typedef struct schema_ud {
  jsonschema *s;
} schema_ud;

/* Compiles the schema at idx or raises naming the problem; fn prefixes messages. */
static jsonschema *compile_at(lua_State *L, int idx, const char *fn) {
  int t = lua_type(L, idx);
  if (t != LUA_TTABLE && t != LUA_TBOOLEAN)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L, "%s: a schema must be a table or a boolean, got %s", fn,
                             luaL_typename(L, idx)),
             -1);
  char err[512];
  cJSON *doc = ljson_to_cjson(L, idx, err, sizeof err);
  if (!doc)
    lh_raise(L, AGENTAI_EINVAL, lua_pushfstring(L, "%s: schema is not JSON: %s", fn, err), -1);
  jsonschema *s = NULL;
  int rc = jsonschema_compile(doc, FLAGS, &s, err, sizeof err);
  cJSON_Delete(doc);
  if (rc != 0)
    lh_raise(L, rc, lua_pushfstring(L, "%s: invalid schema: %s", fn, err), -1);
  return s;
}

/* opts.max_errors at oidx (default JSONSCHEMA_MAX_ERRORS); raises when out of range. Read
 * before a schema is compiled, so that no raise can leak one. */
static size_t max_errors_at(lua_State *L, int oidx, const char *fn) {
  lua_Integer max = JSONSCHEMA_MAX_ERRORS;
  if (!lua_istable(L, oidx))
    return (size_t)max;
  lua_getfield(L, oidx, "max_errors");
  if (!lua_isnil(L, -1)) {
    int isnum;
    max = lua_tointegerx(L, -1, &isnum);
    if (!isnum || max < 1 || max > MAX_ERRORS_CAP)
      lh_raise(
          L, AGENTAI_EINVAL,
          lua_pushfstring(L, "%s: max_errors must be an integer from 1 to %d", fn, MAX_ERRORS_CAP),
          -1);
  }
  lua_pop(L, 1);
  return (size_t)max;
}

/* Builds the errors array from the result (light userdata at 1); run protected so that a
 * memory error under the VM budget cannot leak the result. */
static int push_errors(lua_State *L) {
  const jsonschema_result *res = lua_touserdata(L, 1);
  lua_createtable(L, (int)res->count, 0);
  for (size_t i = 0; i < res->count; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, res->errors[i].path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, res->errors[i].message);
    lua_setfield(L, -2, "message");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Validates the value at vidx; pushes true, or false and the errors. An owned schema is
 * freed before anything can raise. */
static int validate_push(lua_State *L, jsonschema *s, int owned, int vidx, size_t max,
                         const char *fn) {
  char err[512];
  cJSON *inst = ljson_to_cjson(L, vidx, err, sizeof err);
  if (!inst) {
    if (owned)
      jsonschema_free(s);
    return lh_raise(L, AGENTAI_EINVAL,
                    lua_pushfstring(L, "%s: value is not JSON-encodable: %s", fn, err), -1);
  }
  jsonschema_result res;
  int rc = jsonschema_validate(s, inst, FLAGS, max, &res);
  cJSON_Delete(inst);
  if (owned)
    jsonschema_free(s);
  if (rc != 0)
    return lh_raise(L, rc, lua_pushfstring(L, "%s: out of memory", fn), -1);
  if (res.count == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushcfunction(L, push_errors);
  lua_pushlightuserdata(L, &res);
  rc = lua_pcall(L, 1, 1, 0);
  jsonschema_result_free(&res);
  if (rc != LUA_OK)
    return lua_error(L);
  return 2;
}

/* ai.schema.validate(schema, value [, {max_errors = 20}]) -> true | false, errors */
static int schema_validate(lua_State *L) {
  lua_settop(L, 3); /* a missing value is nil, which is JSON null */
  size_t max = max_errors_at(L, 3, "ai.schema.validate");
  jsonschema *s = compile_at(L, 1, "ai.schema.validate");
  return validate_push(L, s, 1, 2, max, "ai.schema.validate");
}

/* ai.schema.check(schema) -> true, or raises naming the problem */
static int schema_check(lua_State *L) {
  jsonschema_free(compile_at(L, 1, "ai.schema.check"));
  lua_pushboolean(L, 1);
  return 1;
}

/* ai.schema.compile(schema) -> a compiled schema with :validate(value [, opts]) */
static int schema_compile(lua_State *L) {
  schema_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = NULL;
  luaL_setmetatable(L, SCHEMA_MT);
  u->s = compile_at(L, 1, "ai.schema.compile");
  return 1;
}

static int compiled_validate(lua_State *L) {
  schema_ud *u = luaL_checkudata(L, 1, SCHEMA_MT);
  if (!u->s)
    return lh_raise(L, AGENTAI_EINVAL, "schema:validate: the schema was not compiled", -1);
  lua_settop(L, 3);
  size_t max = max_errors_at(L, 3, "schema:validate");
  return validate_push(L, u->s, 0, 2, max, "schema:validate");
}

static int compiled_gc(lua_State *L) {
  schema_ud *u = luaL_checkudata(L, 1, SCHEMA_MT);
  jsonschema_free(u->s);
  u->s = NULL;
  return 0;
}

static int compiled_tostring(lua_State *L) {
  lua_pushfstring(L, "agentai.schema: %p", lua_topointer(L, 1));
  return 1;
}

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "the agentai module is read-only (tried to set '%s')",
                    luaL_tolstring(L, 2, NULL));
}

void lh_schema_register(lua_State *L) {
  static const luaL_Reg FNS[] = {{"validate", schema_validate},
                                 {"check", schema_check},
                                 {"compile", schema_compile},
                                 {NULL, NULL}};
  static const luaL_Reg METHODS[] = {{"validate", compiled_validate}, {NULL, NULL}};
  if (luaL_newmetatable(L, SCHEMA_MT)) {
    luaL_newlib(L, METHODS);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, compiled_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, compiled_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_newtable(L); /* proxy */
  lua_newtable(L); /* its metatable */
  luaL_newlib(L, FNS);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "schema");
}
