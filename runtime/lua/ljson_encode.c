/* lua/ljson_encode.c — Lua values to JSON text or cJSON trees: sorted keys, exact numbers, paths in
 * errors. */
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
  ljson__msg_put(out, cap, &len, "$", 1);
  for (int i = 0; i < e->nseg; i++) {
    const enc_seg *s = &e->path[i];
    if (!s->key) {
      char t[32];
      ljson__msg_put(out, cap, &len, t,
                     (size_t)snprintf(t, sizeof t, "[%lld]", (long long)(s->index - 1)));
    } else if (ljson__is_ident(s->key, s->klen)) {
      ljson__msg_put(out, cap, &len, ".", 1);
      ljson__msg_put(out, cap, &len, s->key, s->klen);
    } else {
      ljson__msg_put(out, cap, &len, "[", 1);
      ljson__msg_put_quoted(out, cap, &len, s->key, s->klen, 64);
      ljson__msg_put(out, cap, &len, "]", 1);
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
  ljson__set_err(e->err, e->err_len, "%s at %s", msg, path);
  enc_raise(e, code);
}

static _Noreturn void enc_oom(enc *e) {
  ljson__set_err(e->err, e->err_len, "out of memory");
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
    size_t k = ljson__utf8_seq(p, end);
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
    unsigned cls = ljson__str_class[c];
    if (cls == 0) {
      p++;
      continue;
    }
    if (cls == 2) {
      size_t k = ljson__utf8_seq(p, end);
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
      ljson__msg_put_quoted(desc, sizeof desc, &len, s, n, 40);
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
  ljson__push_mt(L, MT_ARRAY);
  e->amt = lua_topointer(L, -1);
  ljson__push_mt(L, MT_OBJECT);
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
    ljson__set_err(e->err, e->err_len, "out of memory (Lua stack)");
    return AGENTAI_ENOMEM;
  }
  lua_pushcfunction(L, enc_body);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, e);
  int status = lua_pcall(L, 2, e->mode == OUT_LUA ? 1 : 0, 0);
  free(e->keys);
  e->keys = NULL;
  return ljson__pcall_result(L, status, e->code, e->err, e->err_len);
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

/* json.encode and json.is_array live here: they use the encoder's walk. */

int ljson__l_encode(lua_State *L) {
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

int ljson__l_is_array(lua_State *L) {
  int r = 0;
  if (lua_istable(L, 1)) {
    if (lua_getmetatable(L, 1)) {
      ljson__push_mt(L, MT_ARRAY);
      ljson__push_mt(L, MT_OBJECT);
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
