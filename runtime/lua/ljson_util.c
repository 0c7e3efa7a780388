/* lua/ljson_util.c — shared helpers of the JSON module: metatables, error text, UTF-8, protected
 * calls. */
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
/* Shared helpers */

/* Pushes one of our metatables, creating it on first use. Protected, because the metatables are
 * shared by every task of a VM: a script must not reach them through getmetatable() and add
 * metamethods behind other tasks' backs. */
void ljson__push_mt(lua_State *L, const char *name) {
  if (luaL_newmetatable(L, name)) {
    lua_pushstring(L, name + sizeof "agentai." - 1);
    lua_setfield(L, -2, "__metatable");
  }
}

/* Drops a trailing incomplete UTF-8 sequence left by truncating s, so that a clipped error message
 * is still valid UTF-8 (scripts may well json.encode their error messages). */
static void utf8_trim(char *s) {
  size_t n = strlen(s), i = n, cont = 0;
  while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
    i--;
    cont++;
  }
  if (i > 0 && (unsigned char)s[i - 1] >= 0xC0) {
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    if (cont < need)
      s[i - 1] = '\0';
  }
}

void ljson__set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || !err_len)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  if (n < 0)
    err[0] = '\0';
  else if ((size_t)n >= err_len)
    utf8_trim(err);
}

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 when it is not one: overlong
 * forms, surrogates (U+D800..DFFF) and code points above U+10FFFF are rejected. */
size_t ljson__utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n = (size_t)(end - p);
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c < 0xC2)
    return 0;
  if (c < 0xE0)
    return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
    return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c < 0xF5) {
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
    return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4
                                                                                                : 0;
  }
  return 0;
}

/* Byte classes inside a string: 0 copied as is, 1 quote / backslash / control character,
 * 2 first byte of a multi-byte (or invalid) UTF-8 sequence. */
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
// clang-format off
const unsigned char ljson__str_class[256] = {
    R16(1), R16(1),                                 /* 0x00..0x1F: control characters */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20..0x2F: '"' */
    R16(0), R16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50..0x5F: '\\' */
    R16(0), R16(0),
    R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2)}; /* 0x80..0xFF */
// clang-format on
#undef R16

int ljson__is_ident(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* Appends to a bounded message buffer, silently clipping. */
void ljson__msg_put(char *out, size_t cap, size_t *len, const char *s, size_t n) {
  if (*len + 1 >= cap)
    return;
  if (n > cap - 1 - *len)
    n = cap - 1 - *len;
  memcpy(out + *len, s, n);
  *len += n;
  out[*len] = '\0';
}

/* Appends s as a quoted string for a message: at most max bytes of it, JSON escapes for quotes
 * and control characters, \xNN for bytes that are not valid UTF-8. */
void ljson__msg_put_quoted(char *out, size_t cap, size_t *len, const char *s, size_t n,
                           size_t max) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  char tmp[8];
  ljson__msg_put(out, cap, len, "\"", 1);
  while (p < end && max > 0) {
    unsigned c = *p;
    size_t k = ljson__utf8_seq(p, end);
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      ljson__msg_put(out, cap, len, tmp, 2);
      k = 1;
    } else if (c < 0x20 || c == 0x7F) {
      ljson__msg_put(out, cap, len, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c));
    } else if (k == 0) {
      ljson__msg_put(out, cap, len, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c));
      k = 1;
    } else {
      if (k > max)
        break;
      ljson__msg_put(out, cap, len, (const char *)p, k);
    }
    p += k;
    max -= k < max ? k : max;
  }
  if (p < end)
    ljson__msg_put(out, cap, len, "...", 3);
  ljson__msg_put(out, cap, len, "\"", 1);
}

/* Maps the status of a lua_pcall of one of our protected bodies to an AGENTAI_E* code. code is what
 * the body recorded before raising (0 when Lua itself raised: out of memory, stack overflow); the
 * error value is popped. */
int ljson__pcall_result(lua_State *L, int status, int code, char *err, size_t err_len) {
  if (status == LUA_OK)
    return 0;
  if (code == 0) {
    if (status == LUA_ERRMEM) {
      ljson__set_err(err, err_len, "out of memory");
      code = AGENTAI_ENOMEM;
    } else {
      const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "Lua error";
      ljson__set_err(err, err_len, "%s", m);
      code = AGENTAI_EINVAL;
    }
  }
  lua_pop(L, 1);
  return code;
}

void ljson_push_null(lua_State *L) {
  lua_pushlightuserdata(L, NULL);
}

int ljson_is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}
