/* lua/ljson.c — exact, deterministic JSON <-> Lua values: decoder, encoder, cJSON bridges. */
#include "lua/ljson.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define MT_ARRAY "agentai.json.array"
#define MT_OBJECT "agentai.json.object"
#define SAFE_INT ((lua_Integer)1 << 53) /* beyond it a double cannot hold every integer */

/* ---------------------------------------------------------------------------------------------- */
/* Shared helpers */

/* Pushes one of our metatables, creating it on first use. Protected, because the metatables are
 * shared by every task of a VM: a script must not reach them through getmetatable() and add
 * metamethods behind other tasks' backs. */
static void push_mt(lua_State *L, const char *name) {
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

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_len,
                                                          const char *fmt, ...) {
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
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
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
static const unsigned char str_class[256] = {
    R16(1), R16(1),                                 /* 0x00..0x1F: control characters */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20..0x2F: '"' */
    R16(0), R16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50..0x5F: '\\' */
    R16(0), R16(0),
    R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2), R16(2)}; /* 0x80..0xFF */
// clang-format on
#undef R16

static int is_ident(const char *s, size_t n) {
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
static void msg_put(char *out, size_t cap, size_t *len, const char *s, size_t n) {
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
static void msg_put_quoted(char *out, size_t cap, size_t *len, const char *s, size_t n,
                           size_t max) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  char tmp[8];
  msg_put(out, cap, len, "\"", 1);
  while (p < end && max > 0) {
    unsigned c = *p;
    size_t k = utf8_seq(p, end);
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      msg_put(out, cap, len, tmp, 2);
      k = 1;
    } else if (c < 0x20 || c == 0x7F) {
      msg_put(out, cap, len, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c));
    } else if (k == 0) {
      msg_put(out, cap, len, tmp, (size_t)snprintf(tmp, sizeof tmp, "\\x%02X", c));
      k = 1;
    } else {
      if (k > max)
        break;
      msg_put(out, cap, len, (const char *)p, k);
    }
    p += k;
    max -= k < max ? k : max;
  }
  if (p < end)
    msg_put(out, cap, len, "...", 3);
  msg_put(out, cap, len, "\"", 1);
}

/* Maps the status of a lua_pcall of one of our protected bodies to an AGENTAI_E* code. code is what
 * the body recorded before raising (0 when Lua itself raised: out of memory, stack overflow); the
 * error value is popped. */
static int pcall_result(lua_State *L, int status, int code, char *err, size_t err_len) {
  if (status == LUA_OK)
    return 0;
  if (code == 0) {
    if (status == LUA_ERRMEM) {
      set_err(err, err_len, "out of memory");
      code = AGENTAI_ENOMEM;
    } else {
      const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "Lua error";
      set_err(err, err_len, "%s", m);
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
    set_err(d->err, d->err_len, "%s", msg);
    dec_raise(d, AGENTAI_EINVAL);
  }
  size_t line = 1;
  const unsigned char *ls = d->start;
  for (const unsigned char *q = d->start; q < at; q++)
    if (*q == '\n') {
      line++;
      ls = q + 1;
    }
  set_err(d->err, d->err_len, "%s at byte %zu (line %zu, column %zu)", msg, (size_t)(at - d->start),
          line, (size_t)(at - ls) + 1);
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
  set_err(d->err, d->err_len, "out of memory");
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
    set_err(d->err, d->err_len, "out of memory (Lua stack)");
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
    unsigned cls = str_class[c];
    if (cls == 0) {
      q++;
      continue;
    }
    if (cls == 2) {
      size_t k = utf8_seq(q, end);
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

static int dec_body(lua_State *L) {
  dec *d = lua_touserdata(L, 1);
  push_mt(L, MT_ARRAY);
  d->amt = lua_gettop(L);
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
  if (!lua_checkstack(L, 3)) {
    set_err(err, err_len, "out of memory (Lua stack)");
    return AGENTAI_ENOMEM;
  }
  lua_pushcfunction(L, dec_body);
  lua_pushlightuserdata(L, &d);
  int status = lua_pcall(L, 1, 1, 0);
  free(d.buf);
  return pcall_result(L, status, d.code, err, err_len);
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
  push_mt(L, MT_ARRAY);
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
  return pcall_result(L, status, d.code, NULL, 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Encoder: one walk over the Lua value, shared by the text and the cJSON outputs. */

enum { OUT_TEXT, OUT_LUA, OUT_CJSON };
enum { KIND_ARRAY, KIND_OBJECT };

typedef struct enc_seg { /* one step of the path to the value being encoded */
  const char *key;       /* object key, or NULL for an array element */
  size_t klen;
  lua_Integer index; /* 1-based Lua index of an array element */
} enc_seg;

/* An object key while its object is being written. The string is anchored (on the Lua stack, or
 * in an anchor table for big objects), so the pointer stays valid even if a finalizer that runs
 * during an allocation removes the key from the table. */
typedef struct enc_key {
  const char *s;
  size_t len;
  lua_Integer slot; /* stack index of the anchored copy, or index in the anchor table */
} enc_key;

/* One open table of the walk. */
typedef struct enc_frame {
  int kind;       /* KIND_ARRAY or KIND_OBJECT */
  lua_Integer n;  /* array length */
  size_t kbase;   /* object: its keys are e->keys[kbase .. e->nkeys) */
  int anchor_tab; /* object: stack index of the anchor table, or 0 for stack anchors */
  int top;        /* stack top to restore when the table is closed */
} enc_frame;

/* Objects with more keys than this anchor them in a table rather than on the Lua stack, which
 * stays well under LUAI_MAXSTACK even with LJSON_MAX_DEPTH nested objects. */
#define ENC_STACK_KEYS 2048

typedef struct enc {
  lua_State *L;
  int mode;
  unsigned flags;
  const void *amt, *omt; /* identities of the array / object metatables */
  char *buf;             /* text output */
  size_t len, cap;
  enc_key *keys; /* keys of the open objects, one segment each */
  size_t nkeys, capkeys;
  cJSON *root;
  int depth, nseg;
  const void *open[LJSON_MAX_DEPTH + 1]; /* tables on the current path, for cycle detection */
  enc_seg path[LJSON_MAX_DEPTH + 1];
  char *err;
  size_t err_len;
  int code;
} enc;

static void enc_path(const enc *e, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  msg_put(out, cap, &len, "$", 1);
  for (int i = 0; i < e->nseg; i++) {
    const enc_seg *s = &e->path[i];
    if (!s->key) {
      char t[32];
      msg_put(out, cap, &len, t,
              (size_t)snprintf(t, sizeof t, "[%lld]", (long long)(s->index - 1)));
    } else if (is_ident(s->key, s->klen)) {
      msg_put(out, cap, &len, ".", 1);
      msg_put(out, cap, &len, s->key, s->klen);
    } else {
      msg_put(out, cap, &len, "[", 1);
      msg_put_quoted(out, cap, &len, s->key, s->klen, 64);
      msg_put(out, cap, &len, "]", 1);
    }
  }
}

static _Noreturn void enc_raise(enc *e, int code) {
  e->code = code;
  lua_pushlightuserdata(e->L, e);
  lua_error(e->L);
  __builtin_unreachable();
}

/* Fails with "<message> at <path of the value being encoded>". */
__attribute__((format(printf, 3, 4))) static _Noreturn void enc_fail(enc *e, int code,
                                                                     const char *fmt, ...) {
  char msg[256], path[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  enc_path(e, path, sizeof path);
  set_err(e->err, e->err_len, "%s at %s", msg, path);
  enc_raise(e, code);
}

static _Noreturn void enc_oom(enc *e) {
  set_err(e->err, e->err_len, "out of memory");
  enc_raise(e, AGENTAI_ENOMEM);
}

static void buf_grow(enc *e, size_t more) {
  if (more > LJSON_MAX_OUTPUT || e->len > LJSON_MAX_OUTPUT - more)
    enc_fail(e, AGENTAI_E2BIG, "encoded output exceeds %zu bytes", LJSON_MAX_OUTPUT);
  size_t ncap = e->cap ? e->cap : 512;
  while (ncap - e->len < more)
    ncap *= 2;
  char *nb = realloc(e->buf, ncap);
  if (!nb)
    enc_oom(e);
  e->buf = nb;
  e->cap = ncap;
}

static inline void buf_put(enc *e, const char *s, size_t n) {
  if (e->cap - e->len < n)
    buf_grow(e, n);
  memcpy(e->buf + e->len, s, n);
  e->len += n;
}

static inline void buf_putc(enc *e, char c) {
  if (e->cap == e->len)
    buf_grow(e, 1);
  e->buf[e->len++] = c;
}

static void buf_newline(enc *e, int depth) {
  size_t n = 1 + 2 * (size_t)depth;
  if (e->cap - e->len < n)
    buf_grow(e, n);
  e->buf[e->len] = '\n';
  memset(e->buf + e->len + 1, ' ', n - 1);
  e->len += n;
}

static size_t fmt_int(lua_Integer v, char *out) {
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    tmp[--i] = '-';
  memcpy(out, tmp + i, sizeof tmp - i);
  return sizeof tmp - i;
}

static void enc_check_float(enc *e, double v) {
  if (isnan(v))
    enc_fail(e, AGENTAI_EINVAL, "cannot encode NaN");
  if (isinf(v))
    enc_fail(e, AGENTAI_EINVAL, "cannot encode %s", v > 0 ? "inf" : "-inf");
}

/* Shortest of %.15g / %.16g / %.17g that reads back to v, with "." as the decimal point whatever
 * the locale, and ".0" added to integral values so that they decode as floats again. */
static size_t fmt_float(double v, char out[40]) {
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, 40, "%.*g", prec, v);
    if (prec == 17 || strtod(out, NULL) == v)
      break;
  }
  int has_point = 0;
  for (int i = 0; i < n; i++) {
    char c = out[i];
    if (c == 'e' || c == 'E') {
      has_point = 1;
    } else if (!((c >= '0' && c <= '9') || c == '-' || c == '+')) {
      out[i] = '.';
      has_point = 1;
    }
  }
  if (!has_point) {
    out[n++] = '.';
    out[n++] = '0';
    out[n] = '\0';
  }
  return (size_t)n;
}

static void enc_check_utf8(enc *e, const char *s, size_t len, int is_key) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t k = utf8_seq(p, end);
    if (!k)
      enc_fail(e, AGENTAI_EINVAL, "invalid UTF-8 in %s", is_key ? "object key" : "string");
    p += k;
  }
}

/* Writes s as a JSON string, validating UTF-8 in the same pass. */
static void enc_string(enc *e, const char *s, size_t len, int is_key) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
  if (e->cap - e->len < len + 2)
    buf_grow(e, len + 2);
  e->buf[e->len++] = '"';
  while (p < end) {
    unsigned c = *p;
    unsigned cls = str_class[c];
    if (cls == 0) {
      p++;
      continue;
    }
    if (cls == 2) {
      size_t k = utf8_seq(p, end);
      if (!k)
        enc_fail(e, AGENTAI_EINVAL, "invalid UTF-8 in %s", is_key ? "object key" : "string");
      p += k;
      continue;
    }
    buf_put(e, (const char *)run, (size_t)(p - run));
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (c) {
      case '"':
      case '\\':
        esc[1] = (char)c;
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        n = 6;
    }
    buf_put(e, esc, n);
    run = ++p;
  }
  buf_put(e, (const char *)run, (size_t)(p - run));
  buf_putc(e, '"');
}

static void key_push(enc *e, const char *s, size_t len, lua_Integer slot) {
  if (e->nkeys == e->capkeys) {
    size_t ncap = e->capkeys ? e->capkeys * 2 : 32;
    enc_key *nk = realloc(e->keys, ncap * sizeof *nk);
    if (!nk)
      enc_oom(e);
    e->keys = nk;
    e->capkeys = ncap;
  }
  e->keys[e->nkeys].s = s;
  e->keys[e->nkeys].len = len;
  e->keys[e->nkeys].slot = slot;
  e->nkeys++;
}

static int key_cmp(const void *a, const void *b) {
  const enc_key *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  if (c)
    return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Sorts keys bytewise: insertion sort for the small objects that dominate (no calls, no
 * allocation), qsort beyond. */
static void keys_sort(enc_key *k, size_t n) {
  if (n > 16) {
    qsort(k, n, sizeof *k, key_cmp);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    enc_key x = k[i];
    size_t j = i;
    while (j > 0 && key_cmp(&k[j - 1], &x) > 0) {
      k[j] = k[j - 1];
      j--;
    }
    k[j] = x;
  }
}

/* What a table's keys are: the shared input of every array-or-object decision. */
typedef struct key_scan {
  lua_Integer nint, maxi; /* integer keys: how many, the largest */
  size_t nstr;            /* string keys */
  size_t nother;          /* keys of any other type (floats, booleans, tables...) */
  int nonpos;             /* some integer key is < 1 */
} key_scan;

/* Counts the keys of the table at idx by kind. Allocates nothing, so no finalizer can run. */
static void scan_keys(lua_State *L, int idx, key_scan *ks) {
  memset(ks, 0, sizeof *ks);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int t = lua_type(L, -2);
    if (t == LUA_TSTRING) {
      ks->nstr++;
    } else if (t == LUA_TNUMBER && lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      ks->nint++;
      if (k < 1)
        ks->nonpos = 1;
      else if (k > ks->maxi)
        ks->maxi = k;
    } else {
      ks->nother++;
    }
    lua_pop(L, 1);
  }
}

/* The rule for a table without one of our metatables: exactly the keys 1..n, n >= 1. */
static int scan_is_array(const key_scan *ks) {
  return ks->nstr == 0 && ks->nother == 0 && !ks->nonpos && ks->nint > 0 && ks->maxi == ks->nint;
}

enum { ALLOW_STRING = 1, ALLOW_INT = 2, ALLOW_POSITIVE_INT = 4 };

/* Fails naming the first key of the table at idx that the allow mask rejects. Only on the error
 * path, so the second scan costs nothing in the common case. */
static _Noreturn void enc_bad_key(enc *e, int idx, int allow, const char *where) {
  lua_State *L = e->L;
  char desc[128];
  size_t len = 0;
  desc[0] = '\0';
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int t = lua_type(L, -2);
    lua_pop(L, 1);
    if (t == LUA_TSTRING) {
      if (allow & ALLOW_STRING)
        continue;
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      msg_put_quoted(desc, sizeof desc, &len, s, n, 40);
    } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      if ((allow & ALLOW_INT) || ((allow & ALLOW_POSITIVE_INT) && k >= 1))
        continue;
      snprintf(desc, sizeof desc, "%lld", (long long)k);
    } else if (t == LUA_TNUMBER) {
      snprintf(desc, sizeof desc, "%.17g", (double)lua_tonumber(L, -1));
    } else if (t == LUA_TBOOLEAN) {
      snprintf(desc, sizeof desc, "%s", lua_toboolean(L, -1) ? "true" : "false");
    } else {
      snprintf(desc, sizeof desc, "of type %s", lua_typename(L, t));
    }
    break;
  }
  enc_fail(e, AGENTAI_EINVAL, "invalid key %s%s", desc, where);
}

/* Anchors the string keys of the object at idx (count of them, as scanned) and appends them to
 * e->keys, sorted. Keys that appeared or vanished since the scan (a finalizer may run on the
 * allocations here) are taken as found: the walk stays memory-safe, not atomic. */
static void enc_collect_keys(enc *e, int idx, size_t count, enc_frame *f) {
  lua_State *L = e->L;
  lua_Integer n = 0;
  f->anchor_tab = 0;
  if (count > ENC_STACK_KEYS) {
    lua_createtable(L, (int)(count < INT32_MAX ? count : INT32_MAX), 0);
    f->anchor_tab = lua_gettop(L);
  } else if (!lua_checkstack(L, (int)count + 4)) {
    enc_oom(e);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      continue;
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    lua_Integer slot;
    if (f->anchor_tab) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, f->anchor_tab, ++n);
      slot = n;
    } else {
      if ((size_t)n++ >= count && !lua_checkstack(L, 4)) /* more keys than scanned */
        enc_oom(e);
      lua_pushvalue(L, -1); /* the copy stays below the key lua_next continues from */
      lua_insert(L, -2);
      slot = lua_gettop(L) - 1;
    }
    key_push(e, s, len, slot);
  }
  if (e->nkeys - f->kbase > 1) /* e->keys may still be NULL */
    keys_sort(e->keys + f->kbase, e->nkeys - f->kbase);
}

/* Pushes the value of object member k of the table at idx. */
static void enc_push_member(enc *e, int idx, const enc_frame *f, const enc_key *k) {
  if (f->anchor_tab)
    lua_rawgeti(e->L, f->anchor_tab, k->slot);
  else
    lua_pushvalue(e->L, (int)k->slot);
  lua_rawget(e->L, idx);
}

/* Opens the table at idx: depth, cycle and stack checks, then decides its kind (an array of
 * f->n elements, or an object whose keys are anchored and sorted). */
static void enc_open(enc *e, int idx, enc_frame *f) {
  lua_State *L = e->L;
  const void *self = lua_topointer(L, idx), *mt = NULL;
  for (int i = 0; i < e->depth; i++)
    if (e->open[i] == self)
      enc_fail(e, AGENTAI_EINVAL, "reference cycle");
  if (e->depth >= LJSON_MAX_DEPTH)
    enc_fail(e, AGENTAI_EINVAL, "nesting deeper than %d levels", LJSON_MAX_DEPTH);
  if (!lua_checkstack(L, 6))
    enc_oom(e);
  e->open[e->depth++] = self;
  f->top = lua_gettop(L);
  f->kbase = e->nkeys;
  if (lua_getmetatable(L, idx)) {
    mt = lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  key_scan ks;
  scan_keys(L, idx, &ks);
  f->kind = KIND_ARRAY;
  f->n = ks.maxi;
  if (mt == e->amt) {
    if (ks.nstr || ks.nother || ks.nonpos)
      enc_bad_key(e, idx, ALLOW_POSITIVE_INT, " in array");
    /* Holes print as null; refuse up front what could only end in E2BIG after a long loop. */
    if ((uint64_t)(ks.maxi - ks.nint) > LJSON_MAX_OUTPUT / 5)
      enc_fail(e, AGENTAI_E2BIG, "encoded output exceeds %zu bytes", LJSON_MAX_OUTPUT);
    return;
  }
  if (mt != e->omt && ks.nother)
    enc_bad_key(e, idx, ALLOW_STRING | ALLOW_INT, "");
  if (mt != e->omt && scan_is_array(&ks))
    return;
  if (ks.nint || ks.nother) {
    if (mt == e->omt)
      enc_bad_key(e, idx, ALLOW_STRING, " in object");
    enc_fail(e, AGENTAI_EINVAL, "mixed or sparse table keys");
  }
  f->kind = KIND_OBJECT;
  enc_collect_keys(e, idx, ks.nstr, f);
}

static void enc_close(enc *e, const enc_frame *f) {
  e->depth--;
  e->nkeys = f->kbase;
  lua_settop(e->L, f->top);
}

static void enc_value(enc *e, int idx);

static void enc_table(enc *e, int idx) {
  lua_State *L = e->L;
  enc_frame f;
  int indent = (e->flags & LJSON_INDENT) != 0;
  enc_open(e, idx, &f);
  if (f.kind == KIND_ARRAY) {
    lua_Integer n = f.n;
    buf_putc(e, '[');
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1)
        buf_putc(e, ',');
      if (indent)
        buf_newline(e, e->depth);
      e->path[e->nseg].key = NULL;
      e->path[e->nseg++].index = i;
      lua_rawgeti(L, idx, i);
      enc_value(e, lua_gettop(L));
      lua_pop(L, 1);
      e->nseg--;
    }
    if (indent && n > 0)
      buf_newline(e, e->depth - 1);
    buf_putc(e, ']');
  } else {
    size_t count = e->nkeys - f.kbase;
    buf_putc(e, '{');
    for (size_t i = 0; i < count; i++) {
      enc_key k = e->keys[f.kbase + i]; /* copied: nested objects may move e->keys */
      if (i > 0)
        buf_putc(e, ',');
      if (indent)
        buf_newline(e, e->depth);
      enc_string(e, k.s, k.len, 1);
      buf_put(e, ": ", indent ? 2 : 1);
      e->path[e->nseg].key = k.s;
      e->path[e->nseg++].klen = k.len;
      enc_push_member(e, idx, &f, &k);
      enc_value(e, lua_gettop(L));
      lua_pop(L, 1);
      e->nseg--;
    }
    if (indent && count > 0)
      buf_newline(e, e->depth - 1);
    buf_putc(e, '}');
  }
  enc_close(e, &f);
}

/* Fails for the types JSON has no form for. */
static _Noreturn void enc_unsupported(enc *e, int t) {
  enc_fail(e, AGENTAI_EINVAL, "cannot encode a %s",
           t == LUA_TLIGHTUSERDATA ? "light userdata" : lua_typename(e->L, t));
}

static void enc_value(enc *e, int idx) {
  lua_State *L = e->L;
  int t = lua_type(L, idx);
  switch (t) {
    case LUA_TNIL:
      buf_put(e, "null", 4);
      return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx))
        buf_put(e, "true", 4);
      else
        buf_put(e, "false", 5);
      return;
    case LUA_TNUMBER: {
      char tmp[40];
      if (lua_isinteger(L, idx)) {
        buf_put(e, tmp, fmt_int(lua_tointeger(L, idx), tmp));
      } else {
        double v = (double)lua_tonumber(L, idx);
        enc_check_float(e, v);
        buf_put(e, tmp, fmt_float(v, tmp));
      }
      return;
    }
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      enc_string(e, s, len, 0);
      return;
    }
    case LUA_TTABLE:
      enc_table(e, idx);
      return;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        buf_put(e, "null", 4);
        return;
      }
      enc_unsupported(e, t);
    default:
      enc_unsupported(e, t);
  }
}

/* Adds item under parent (as member key when key is not NULL), or makes it the root; on failure
 * deletes it, so that every node is always reachable from e->root for the final cleanup. */
static cJSON *cj_attach(enc *e, cJSON *parent, const char *key, cJSON *item) {
  if (!item)
    enc_oom(e);
  if (!parent) {
    e->root = item;
  } else if (key) {
    if (!cJSON_AddItemToObject(parent, key, item)) {
      cJSON_Delete(item);
      enc_oom(e);
    }
  } else if (!cJSON_AddItemToArray(parent, item)) {
    cJSON_Delete(item);
    enc_oom(e);
  }
  return item;
}

static void cj_value(enc *e, int idx, cJSON *parent, const char *key) {
  lua_State *L = e->L;
  int t = lua_type(L, idx);
  switch (t) {
    case LUA_TNIL:
      cj_attach(e, parent, key, cJSON_CreateNull());
      return;
    case LUA_TBOOLEAN:
      cj_attach(e, parent, key, cJSON_CreateBool(lua_toboolean(L, idx)));
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v >= -SAFE_INT && v <= SAFE_INT) {
          cj_attach(e, parent, key, cJSON_CreateNumber((double)v));
        } else {
          char tmp[40];
          tmp[fmt_int(v, tmp)] = '\0';
          cj_attach(e, parent, key, cJSON_CreateRaw(tmp));
        }
      } else {
        double v = (double)lua_tonumber(L, idx);
        enc_check_float(e, v);
        cj_attach(e, parent, key, cJSON_CreateNumber(v));
      }
      return;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      enc_check_utf8(e, s, len, 0);
      if (strlen(s) != len)
        enc_fail(e, AGENTAI_EINVAL, "string with a NUL byte cannot go into cJSON");
      cj_attach(e, parent, key, cJSON_CreateString(s));
      return;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        cj_attach(e, parent, key, cJSON_CreateNull());
        return;
      }
      enc_unsupported(e, t);
    case LUA_TTABLE:
      break;
    default:
      enc_unsupported(e, t);
  }
  enc_frame f;
  enc_open(e, idx, &f);
  if (f.kind == KIND_ARRAY) {
    cJSON *arr = cj_attach(e, parent, key, cJSON_CreateArray());
    for (lua_Integer i = 1; i <= f.n; i++) {
      e->path[e->nseg].key = NULL;
      e->path[e->nseg++].index = i;
      lua_rawgeti(L, idx, i);
      cj_value(e, lua_gettop(L), arr, NULL);
      lua_pop(L, 1);
      e->nseg--;
    }
  } else {
    cJSON *obj = cj_attach(e, parent, key, cJSON_CreateObject());
    size_t count = e->nkeys - f.kbase;
    for (size_t i = 0; i < count; i++) {
      enc_key k = e->keys[f.kbase + i];
      enc_check_utf8(e, k.s, k.len, 1);
      if (strlen(k.s) != k.len)
        enc_fail(e, AGENTAI_EINVAL, "object key with a NUL byte cannot go into cJSON");
      e->path[e->nseg].key = k.s;
      e->path[e->nseg++].klen = k.len;
      enc_push_member(e, idx, &f, &k);
      cj_value(e, lua_gettop(L), obj, k.s);
      lua_pop(L, 1);
      e->nseg--;
    }
  }
  enc_close(e, &f);
}

/* Runs under lua_pcall with (value, enc) as arguments. */
static int enc_body(lua_State *L) {
  enc *e = lua_touserdata(L, 2);
  push_mt(L, MT_ARRAY);
  e->amt = lua_topointer(L, -1);
  push_mt(L, MT_OBJECT);
  e->omt = lua_topointer(L, -1);
  lua_pop(L, 2);
  if (e->mode == OUT_CJSON) {
    cj_value(e, 1, NULL, NULL);
    return 0;
  }
  enc_value(e, 1);
  buf_putc(e, '\0');
  e->len--;
  if (e->mode == OUT_LUA) {
    lua_pushlstring(L, e->buf, e->len);
    return 1;
  }
  return 0;
}

static void enc_init(enc *e, lua_State *L, int mode, unsigned flags, char *err, size_t err_len) {
  e->L = L;
  e->mode = mode;
  e->flags = flags;
  e->amt = e->omt = NULL;
  e->buf = NULL;
  e->len = e->cap = 0;
  e->keys = NULL;
  e->nkeys = e->capkeys = 0;
  e->root = NULL;
  e->depth = e->nseg = 0;
  e->err = err;
  e->err_len = err_len;
  e->code = 0;
}

/* Runs the walk protected; the caller frees e->buf / e->root on failure. */
static int enc_run(enc *e, int idx) {
  lua_State *L = e->L;
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 4)) {
    set_err(e->err, e->err_len, "out of memory (Lua stack)");
    return AGENTAI_ENOMEM;
  }
  lua_pushcfunction(L, enc_body);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, e);
  int status = lua_pcall(L, 2, e->mode == OUT_LUA ? 1 : 0, 0);
  free(e->keys);
  e->keys = NULL;
  return pcall_result(L, status, e->code, e->err, e->err_len);
}

int ljson_encode_ex(lua_State *L, int idx, unsigned flags, char **out, size_t *out_len, char *err,
                    size_t err_len) {
  enc e;
  enc_init(&e, L, OUT_TEXT, flags, err, err_len);
  *out = NULL;
  if (out_len)
    *out_len = 0;
  int rc = enc_run(&e, idx);
  if (rc) {
    free(e.buf);
    return rc;
  }
  *out = e.buf;
  if (out_len)
    *out_len = e.len;
  return 0;
}

int ljson_encode(lua_State *L, int idx, char **out, size_t *out_len, char *err, size_t err_len) {
  return ljson_encode_ex(L, idx, 0, out, out_len, err, err_len);
}

cJSON *ljson_to_cjson(lua_State *L, int idx, char *err, size_t err_len) {
  enc e;
  enc_init(&e, L, OUT_CJSON, 0, err, err_len);
  if (enc_run(&e, idx)) {
    cJSON_Delete(e.root);
    return NULL;
  }
  return e.root;
}

/* ---------------------------------------------------------------------------------------------- */
/* The json library. */

static int l_encode(lua_State *L) {
  char err[512];
  unsigned flags = 0;
  if (lua_isnone(L, 1))
    return luaL_error(L, "json.encode: expected a value");
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_istable(L, 2))
      return luaL_error(L, "json.encode: options must be a table, got %s", luaL_typename(L, 2));
    lua_getfield(L, 2, "indent");
    if (lua_toboolean(L, -1))
      flags |= LJSON_INDENT;
    lua_pop(L, 1);
  }
  enc e;
  enc_init(&e, L, OUT_LUA, flags, err, sizeof err);
  int rc = enc_run(&e, 1);
  free(e.buf);
  if (rc)
    return luaL_error(L, "json.encode: %s", err);
  return 1;
}

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
  push_mt(L, mt);
  lua_setmetatable(L, 1);
  return 1;
}

static int l_array(lua_State *L) {
  return set_kind(L, MT_ARRAY, "array");
}

static int l_object(lua_State *L) {
  return set_kind(L, MT_OBJECT, "object");
}

static int l_is_array(lua_State *L) {
  int r = 0;
  if (lua_istable(L, 1)) {
    if (lua_getmetatable(L, 1)) {
      push_mt(L, MT_ARRAY);
      push_mt(L, MT_OBJECT);
      if (lua_rawequal(L, -3, -2))
        r = 1;
      else if (lua_rawequal(L, -3, -1))
        r = 0;
      else
        r = -1;
      lua_pop(L, 3);
    } else {
      r = -1;
    }
    if (r < 0) {
      key_scan ks;
      scan_keys(L, 1, &ks);
      r = scan_is_array(&ks);
    }
  }
  lua_pushboolean(L, r);
  return 1;
}

int ljson_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"encode", l_encode}, {"decode", l_decode},     {"array", l_array},
                                 {"object", l_object}, {"is_array", l_is_array}, {NULL, NULL}};
  luaL_newlib(L, fns);
  ljson_push_null(L);
  lua_setfield(L, -2, "null");
  push_mt(L, MT_ARRAY);
  push_mt(L, MT_OBJECT);
  lua_pop(L, 2);
  return 1;
}
