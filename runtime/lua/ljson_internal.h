/* lua/ljson_internal.h — helpers shared by the JSON decoder, encoder and json library. */
#pragma once

#include <stddef.h>

#include <lua.h>

#define MT_ARRAY "agentai.json.array"
#define MT_OBJECT "agentai.json.object"
#define SAFE_INT ((lua_Integer)1 << 53) /* beyond it a double cannot hold every integer */

/** Pushes one of the json metatables (MT_ARRAY, MT_OBJECT), creating it protected on first use. */
void ljson__push_mt(lua_State *L, const char *name);
/** printf into a caller's error buffer (NULL-safe), clipped on a UTF-8 boundary. */
void ljson__set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Length of the valid UTF-8 sequence at p (0 when invalid or truncated). */
size_t ljson__utf8_seq(const unsigned char *p, const unsigned char *end);
/** Byte classes for strings: 0 = plain, else needs escaping or is a quote/backslash/control. */
extern const unsigned char ljson__str_class[256];
/** Whether s[0..n) is a Lua-identifier-like key (printed as .key in paths). */
int ljson__is_ident(const char *s, size_t n);
/** Appends n bytes of s to out (cap bytes, *len used), clipping safely. */
void ljson__msg_put(char *out, size_t cap, size_t *len, const char *s, size_t n);
/** Appends s quoted and clipped to at most max bytes. */
void ljson__msg_put_quoted(char *out, size_t cap, size_t *len, const char *s, size_t n, size_t max);
/** Maps the status of a lua_pcall of a protected body to an AGENTAI_E* code (message in err). */
int ljson__pcall_result(lua_State *L, int status, int code, char *err, size_t err_len);
/** json.encode(v [, {indent = true}]) for the Lua library. */
int ljson__l_encode(lua_State *L);
/** json.is_array(v) for the Lua library. */
int ljson__l_is_array(lua_State *L);
