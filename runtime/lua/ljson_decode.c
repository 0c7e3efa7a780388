/* lua/ljson_decode.c — JSON text (and cJSON trees) to Lua values: strict, exact integers, no reads
 * past the end. */
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
/* Decoder: strict recursive descent over the bytes, pushing Lua values as it goes. Errors raise
 * (the body runs under lua_pcall), which unwinds every level at once; half-built tables are
 * garbage. */

typedef struct dec {
  lua_State *L;
  const unsigned char *start, *p, *end; /* start: NULL while converting a cJSON tree */
  char *buf;                            /* scratch: unescaped strings, number text */
  size_t cap;
  int amt; /* stack index of the array metatable */
  char *err;
  size_t err_len;
  int code;
} dec;

static _Noreturn void dec_raise(dec *d, int code) {
  d->code = code;
  lua_pushlightuserdata(d->L, d);
  lua_error(d->L);
  __builtin_unreachable();
}

__attribute__((format(printf, 3, 4))) static _Noreturn void
dec_fail(dec *d, const unsigned char *at, const char *fmt, ...) {
  char msg[192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!d->start) {
    ljson__set_err(d->err, d->err_len, "%s", msg);
    dec_raise(d, AGENTAI_EINVAL);
  }
  size_t line = 1;
  const unsigned char *ls = d->start;
  for (const unsigned char *q = d->start; q < at; q++)
    if (*q == '\n') {
      line++;
      ls = q + 1;
    }
  ljson__set_err(d->err, d->err_len, "%s at byte %zu (line %zu, column %zu)", msg,
                 (size_t)(at - d->start), line, (size_t)(at - ls) + 1);
  dec_raise(d, AGENTAI_EINVAL);
}

static _Noreturn void dec_unexpected(dec *d, const char *expected) {
  if (d->p >= d->end)
    dec_fail(d, d->p, "unexpected end of input, expected %s", expected);
  unsigned c = *d->p;
  if (c >= 0x20 && c < 0x7F)
    dec_fail(d, d->p, "unexpected character '%c', expected %s", (int)c, expected);
  dec_fail(d, d->p, "unexpected byte 0x%02X, expected %s", c, expected);
}

static char *dec_reserve(dec *d, size_t used, size_t more) {
  if (d->cap - used < more) {
    size_t ncap = d->cap ? d->cap : 256;
    while (ncap - used < more) {
      if (ncap > SIZE_MAX / 2)
        goto oom;
      ncap *= 2;
    }
    char *nb = realloc(d->buf, ncap);
    if (!nb)
      goto oom;
    d->buf = nb;
    d->cap = ncap;
  }
  return d->buf + used;
oom:
  ljson__set_err(d->err, d->err_len, "out of memory");
  dec_raise(d, AGENTAI_ENOMEM);
}

/* A container's first DEC_BATCH items wait on the stack, so that most tables are created once at
 * their final size instead of being rehashed at 1, 2, 4... entries; longer ones continue in a
 * table sized for 4 * DEC_BATCH. */
#define DEC_BATCH 16

/* Enters a container at nesting depth depth (1 for a top-level one). */
static void dec_enter(dec *d, int depth) {
  if (depth > LJSON_MAX_DEPTH)
    dec_fail(d, d->p, "nesting deeper than %d levels", LJSON_MAX_DEPTH);
  if (!lua_checkstack(d->L, 2 * DEC_BATCH + 4)) {
    ljson__set_err(d->err, d->err_len, "out of memory (Lua stack)");
    dec_raise(d, AGENTAI_ENOMEM);
  }
}

static void dec_ws(dec *d) {
  const unsigned char *p = d->p, *end = d->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  d->p = p;
}

static int hex4(const unsigned char *p, const unsigned char *end) {
  int v = 0;
  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i];
    if (c >= '0' && c <= '9')
      v = v * 16 + (int)(c - '0');
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      v = v * 16 + (int)((c | 0x20) - 'a' + 10);
    else
      return -1;
  }
  return v;
}

static size_t utf8_put(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Pushes the string starting at the opening quote d->p. Strings without escapes (the usual case)
 * are pushed straight from the input; the others are unescaped into the scratch buffer. */
static void dec_string(dec *d) {
  const unsigned char *open = d->p, *q = d->p + 1, *end = d->end, *run = q;
  size_t used = 0;
  int escaped = 0;
  for (;;) {
    if (q >= end)
      dec_fail(d, open, "unterminated string");
    unsigned c = *q;
    unsigned cls = ljson__str_class[c];
    if (cls == 0) {
      q++;
      continue;
    }
    if (cls == 2) {
      size_t k = ljson__utf8_seq(q, end);
      if (!k)
        dec_fail(d, q, "invalid UTF-8 in string");
      q += k;
      continue;
    }
    if (c == '"')
      break;
    if (c != '\\')
      dec_fail(d, q, "unescaped control character 0x%02X in string", c);
    size_t rl = (size_t)(q - run);
    char *o = dec_reserve(d, used, rl + 4); /* an escape yields at most 4 bytes */
    memcpy(o, run, rl);
    used += rl;
    o += rl;
    escaped = 1;
    if (q + 1 >= end)
      dec_fail(d, open, "unterminated string");
    switch (q[1]) {
      case '"':
      case '\\':
      case '/':
        *o = (char)q[1];
        break;
      case 'b':
        *o = '\b';
        break;
      case 'f':
        *o = '\f';
        break;
      case 'n':
        *o = '\n';
        break;
      case 'r':
        *o = '\r';
        break;
      case 't':
        *o = '\t';
        break;
      case 'u': {
        int cp = hex4(q + 2, end);
        if (cp < 0)
          dec_fail(d, q, "invalid \\u escape, expected 4 hex digits");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          int lo = end - q >= 8 && q[6] == '\\' && q[7] == 'u' ? hex4(q + 8, end) : -1;
          if (lo < 0xDC00 || lo > 0xDFFF)
            dec_fail(d, q, "unpaired high surrogate \\u%04X in string", (unsigned)cp);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          q += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          dec_fail(d, q, "unpaired low surrogate \\u%04X in string", (unsigned)cp);
        }
        used += utf8_put(o, (unsigned)cp);
        q += 6;
        run = q;
        continue;
      }
      default:
        if (q[1] >= 0x20 && q[1] < 0x7F)
          dec_fail(d, q, "invalid escape '\\%c' in string", (int)q[1]);
        dec_fail(d, q, "invalid escape byte 0x%02X after '\\' in string", (unsigned)q[1]);
    }
    used++;
    q += 2;
    run = q;
  }
  if (!escaped) {
    lua_pushlstring(d->L, (const char *)run, (size_t)(q - run));
  } else {
    size_t rl = (size_t)(q - run);
    memcpy(dec_reserve(d, used, rl), run, rl);
    lua_pushlstring(d->L, d->buf, used + rl);
  }
  d->p = q + 1;
}

static int is_digit(const unsigned char *p, const unsigned char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

static void dec_number(dec *d) {
  const unsigned char *s = d->p, *q = d->p, *end = d->end;
  int neg = 0, integral = 1;
  if (*q == '-') {
    neg = 1;
    q++;
  }
  if (!is_digit(q, end)) {
    d->p = q;
    dec_unexpected(d, "a digit after '-'");
  }
  if (*q == '0') {
    q++;
    if (is_digit(q, end))
      dec_fail(d, s, "leading zeros are not allowed in numbers");
  } else {
    while (is_digit(q, end))
      q++;
  }
  if (q < end && *q == '.') {
    integral = 0;
    q++;
    if (!is_digit(q, end)) {
      d->p = q;
      dec_unexpected(d, "a digit after '.'");
    }
    while (is_digit(q, end))
      q++;
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    if (q < end && (*q == '+' || *q == '-'))
      q++;
    if (!is_digit(q, end)) {
      d->p = q;
      dec_unexpected(d, "a digit in the exponent");
    }
    while (is_digit(q, end))
      q++;
  }
  d->p = q;
  if (integral) {
    /* Exact int64, accumulated as a magnitude against the sign's own limit; beyond it the
     * number becomes a float like any other. */
    uint64_t acc = 0, limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    const unsigned char *r = s + neg;
    for (; r < q; r++) {
      unsigned dg = (unsigned)(*r - '0');
      if (acc > (limit - dg) / 10)
        break;
      acc = acc * 10 + dg;
    }
    if (r == q) {
      lua_pushinteger(d->L, neg ? (lua_Integer)(0 - acc) : (lua_Integer)acc);
      return;
    }
  }
  /* lua_stringtonumber copes with a non-"." LC_NUMERIC decimal point, like Lua's own tonumber. */
  size_t n = (size_t)(q - s);
  char small[64], *txt = n < sizeof small ? small : dec_reserve(d, 0, n + 1);
  memcpy(txt, s, n);
  txt[n] = '\0';
  if (lua_stringtonumber(d->L, txt) != n + 1)
    dec_fail(d, s, "invalid number");
  if (isinf(lua_tonumber(d->L, -1)))
    dec_fail(d, s, "number out of range");
}

static void dec_literal(dec *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
    dec_fail(d, d->p, "invalid literal, expected '%s'", word);
  d->p += n;
}

static void dec_value(dec *d, int depth);

/* Moves the batch above base into a new table sized for it, left at base + 1: k values
 * (arrays) or k key / value pairs in input order (objects, so that the last duplicate wins). */
static void dec_flush(lua_State *L, int base, int k, int pairs, int size) {
  if (pairs)
    lua_createtable(L, 0, size);
  else
    lua_createtable(L, size, 0);
  if (k == 0)
    return;
  for (int i = 0; i < k; i++) {
    if (pairs) {
      lua_pushvalue(L, base + 1 + 2 * i);
      lua_pushvalue(L, base + 2 + 2 * i);
      lua_rawset(L, -3);
    } else {
      lua_pushvalue(L, base + 1 + i);
      lua_rawseti(L, -2, i + 1);
    }
  }
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
}

static void dec_array(dec *d, int depth) {
  lua_State *L = d->L;
  int base = lua_gettop(L), built = 0;
  lua_Integer n = 0;
  dec_enter(d, depth);
  d->p++;
  dec_ws(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
  } else {
    for (;;) {
      dec_value(d, depth);
      n++;
      if (built) {
        lua_rawseti(L, base + 1, n);
      } else if (n == DEC_BATCH) {
        dec_flush(L, base, DEC_BATCH, 0, 4 * DEC_BATCH);
        built = 1;
      }
      dec_ws(d);
      if (d->p < d->end && *d->p == ',') {
        d->p++;
        continue;
      }
      if (d->p < d->end && *d->p == ']') {
        d->p++;
        break;
      }
      dec_unexpected(d, "',' or ']' in array");
    }
  }
  if (!built)
    dec_flush(L, base, (int)n, 0, (int)n);
  lua_pushvalue(L, d->amt);
  lua_setmetatable(L, -2);
}

static void dec_object(dec *d, int depth) {
  lua_State *L = d->L;
  int base = lua_gettop(L), built = 0, n = 0;
  dec_enter(d, depth);
  d->p++;
  dec_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    lua_createtable(L, 0, 0);
    return;
  }
  for (;;) {
    dec_ws(d);
    if (d->p >= d->end || *d->p != '"')
      dec_unexpected(d, n == 0 ? "a string key or '}'" : "a string key");
    dec_string(d);
    dec_ws(d);
    if (d->p >= d->end || *d->p != ':')
      dec_unexpected(d, "':' after object key");
    d->p++;
    dec_value(d, depth);
    if (built) {
      lua_rawset(L, base + 1);
    } else if (++n == DEC_BATCH) {
      dec_flush(L, base, DEC_BATCH, 1, 4 * DEC_BATCH);
      built = 1;
    }
    dec_ws(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      continue;
    }
    if (d->p < d->end && *d->p == '}') {
      d->p++;
      break;
    }
    dec_unexpected(d, "',' or '}' in object");
  }
  if (!built)
    dec_flush(L, base, n, 1, n);
}

/* Pushes the value at d->p; depth counts the containers around it. */
static void dec_value(dec *d, int depth) {
  lua_State *L = d->L;
  dec_ws(d);
  if (d->p >= d->end)
    dec_unexpected(d, "a value");
  switch (*d->p) {
    case '{':
      dec_object(d, depth + 1);
      return;
    case '[':
      dec_array(d, depth + 1);
      return;
    case '"':
      dec_string(d);
      return;
    case 't':
      dec_literal(d, "true", 4);
      lua_pushboolean(L, 1);
      return;
    case 'f':
      dec_literal(d, "false", 5);
      lua_pushboolean(L, 0);
      return;
    case 'n':
      dec_literal(d, "null", 4);
      ljson_push_null(L);
      return;
    default:
      if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) {
        dec_number(d);
        return;
      }
      dec_unexpected(d, "a value");
  }
}

/* Decodes the whole text [d->start, d->end) at the given depth: one value, then only whitespace. */
static void dec_document(dec *d, int depth) {
  dec_value(d, depth);
  dec_ws(d);
  if (d->p < d->end)
    dec_fail(d, d->p, "trailing characters after the top-level value");
}

/* Registry key of dec_body closed over the array metatable: made on a VM's
 * first decode, it spares later decodes a metatable lookup by name. */
static const char DECODER_KEY = 0;

/* The decoder proper, with the array metatable as upvalue 1. */
static int dec_body(lua_State *L) {
  dec *d = lua_touserdata(L, 1);
  d->amt = lua_upvalueindex(1);
  dec_document(d, 0);
  return 1;
}

/* A VM's first decode: registers the closure, then decodes like dec_body. */
static int dec_first(lua_State *L) {
  dec *d = lua_touserdata(L, 1);
  ljson__push_mt(L, MT_ARRAY);
  d->amt = lua_gettop(L);
  lua_pushvalue(L, d->amt);
  lua_pushcclosure(L, dec_body, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &DECODER_KEY);
  dec_document(d, 0);
  return 1;
}

int ljson_decode(lua_State *L, const char *text, size_t len, char *err, size_t err_len) {
  dec d;
  memset(&d, 0, sizeof d);
  if (!text) {
    text = "";
    len = 0;
  }
  d.L = L;
  d.start = d.p = (const unsigned char *)text;
  d.end = d.start + len;
  d.err = err;
  d.err_len = err_len;
  if (!lua_checkstack(L, 4)) {
    ljson__set_err(err, err_len, "out of memory (Lua stack)");
    return AGENTAI_ENOMEM;
  }
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &DECODER_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushcfunction(L, dec_first);
  }
  lua_pushlightuserdata(L, &d);
  int status = lua_pcall(L, 1, 1, 0);
  free(d.buf);
  return ljson__pcall_result(L, status, d.code, err, err_len);
}

/* ---------------------------------------------------------------------------------------------- */
/* cJSON -> Lua, sharing the decoder's state, limits and failure path. */

static void pcj_value(dec *d, const cJSON *it, int depth) {
  lua_State *L = d->L;
  switch (it->type & 0xFF) {
    case cJSON_NULL:
      ljson_push_null(L);
      return;
    case cJSON_False:
      lua_pushboolean(L, 0);
      return;
    case cJSON_True:
      lua_pushboolean(L, 1);
      return;
    case cJSON_Number: {
      double v = it->valuedouble;
      if (fabs(v) <= (double)SAFE_INT && v == floor(v))
        lua_pushinteger(L, (lua_Integer)v);
      else
        lua_pushnumber(L, v);
      return;
    }
    case cJSON_String:
      if (!it->valuestring)
        dec_fail(d, NULL, "cJSON string item without a value");
      lua_pushstring(L, it->valuestring);
      return;
    case cJSON_Raw:
      if (!it->valuestring)
        dec_fail(d, NULL, "cJSON raw item without a value");
      d->start = d->p = (const unsigned char *)it->valuestring;
      d->end = d->start + strlen(it->valuestring);
      dec_document(d, depth);
      d->start = NULL;
      return;
    case cJSON_Array: {
      lua_Integer n = 0;
      dec_enter(d, depth + 1);
      lua_createtable(L, 0, 0);
      for (const cJSON *c = it->child; c; c = c->next) {
        pcj_value(d, c, depth + 1);
        lua_rawseti(L, -2, ++n);
      }
      lua_pushvalue(L, d->amt);
      lua_setmetatable(L, -2);
      return;
    }
    case cJSON_Object:
      dec_enter(d, depth + 1);
      lua_createtable(L, 0, 0);
      for (const cJSON *c = it->child; c; c = c->next) {
        if (!c->string)
          dec_fail(d, NULL, "cJSON object member without a key");
        lua_pushstring(L, c->string);
        pcj_value(d, c, depth + 1);
        lua_rawset(L, -3);
      }
      return;
    default:
      dec_fail(d, NULL, "invalid cJSON item type %d", it->type & 0xFF);
  }
}

static int pcj_body(lua_State *L) {
  dec *d = lua_touserdata(L, 1);
  const cJSON *item = lua_touserdata(L, 2);
  ljson__push_mt(L, MT_ARRAY);
  d->amt = lua_gettop(L);
  pcj_value(d, item, 0);
  return 1;
}

int ljson_push_cjson(lua_State *L, const cJSON *item) {
  dec d;
  memset(&d, 0, sizeof d);
  d.L = L;
  if (!item)
    return AGENTAI_EINVAL;
  if (!lua_checkstack(L, 4))
    return AGENTAI_ENOMEM;
  lua_pushcfunction(L, pcj_body);
  lua_pushlightuserdata(L, &d);
  lua_pushlightuserdata(L, (void *)(uintptr_t)item);
  int status = lua_pcall(L, 2, 1, 0);
  free(d.buf);
  return ljson__pcall_result(L, status, d.code, NULL, 0);
}
