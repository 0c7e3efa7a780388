/* core/jsonschema.c — checks and compiles JSON Schemas (see jsonschema.h); the evaluator is in
 * jsonschema_validate.c. */
#include "core/jsonschema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/jsonschema_internal.h"

static const struct {
  const char *name;
  int bits;
} TYPES[] = {{"null", T_NULL},  {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM},
             {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ}};

int js_type_bits(const char *name) {
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
    if (strcmp(TYPES[i].name, name) == 0)
      return TYPES[i].bits;
  return 0;
}

/* The number an item holds: cJSON numbers, and the raw decimal text
 * ljson_to_cjson uses for integers beyond 2^53. */
int js_num_of(const cJSON *it, double *d, int *integral) {
  if (cJSON_IsNumber(it)) {
    *d = it->valuedouble;
    *integral = isfinite(*d) && floor(*d) == *d;
    return 1;
  }
  if (cJSON_IsRaw(it) && it->valuestring && it->valuestring[0]) {
    char *end;
    *d = strtod(it->valuestring, &end);
    if (*end)
      return 0;
    *integral = !strpbrk(it->valuestring, ".eE") || (isfinite(*d) && floor(*d) == *d);
    return 1;
  }
  return 0;
}

int js_is_empty_object(const cJSON *it) {
  return cJSON_IsObject(it) && !it->child;
}

/* Shortest %g text that reads back to d. */
void js_fmt_num(char *buf, size_t len, double d) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      return;
  }
}

/* ---- compiling ---- */

typedef struct cctx {
  jsonschema *s;
  unsigned flags;
  char *err;
  size_t err_len;
  int rc;
  char path[512]; /* schema location of the node being walked */
  size_t plen;
  const cJSON **walked; /* every schema node, sorted afterwards for lookups */
  size_t nwalked, capwalked;
  struct cref {
    cJSON *item;
    char *where; /* its schema location, for messages */
  } * refs;      /* $ref string items, resolved after the walk */
  size_t nrefs, caprefs;
  size_t capregexes;
} cctx;

static int cfail(cctx *c, const char *fmt, ...) {
  if (c->rc)
    return c->rc;
  c->rc = AGENTAI_EINVAL;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->err_len)
    snprintf(c->err, c->err_len, "%s: %s", c->plen ? c->path : "/", msg);
  return c->rc;
}

static int coom(cctx *c) {
  if (!c->rc) {
    c->rc = AGENTAI_ENOMEM;
    if (c->err_len)
      snprintf(c->err, c->err_len, "out of memory");
  }
  return c->rc;
}

/* Appends "/" + the escaped segment to a JSON pointer in buf; returns the
 * old length to restore. Too long a location is cut (it only names things). */
size_t js_path_push(char *buf, size_t cap, size_t *len, const char *seg) {
  size_t old = *len, n = *len;
  if (n + 1 < cap)
    buf[n++] = '/';
  for (const char *p = seg; *p && n + 2 < cap; p++) {
    if (*p == '~' || *p == '/') {
      buf[n++] = '~';
      buf[n++] = *p == '~' ? '0' : '1';
    } else {
      buf[n++] = *p;
    }
  }
  buf[n] = '\0';
  *len = n;
  return old;
}

void js_path_pop(char *buf, size_t *len, size_t old) {
  *len = old;
  buf[old] = '\0';
}

int js_grow(void *pptr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 16;
  while (ncap < need)
    ncap *= 2;
  void *p = realloc(*(void **)pptr, ncap * elem);
  if (!p)
    return -1;
  *(void **)pptr = p;
  *cap = ncap;
  return 0;
}

const char *js_kind_name(const cJSON *it) {
  if (cJSON_IsNull(it))
    return "null";
  if (cJSON_IsBool(it))
    return "boolean";
  if (cJSON_IsNumber(it) || cJSON_IsRaw(it))
    return "number";
  if (cJSON_IsString(it))
    return "string";
  if (cJSON_IsArray(it))
    return "array";
  return "object";
}

static int walk(cctx *c, cJSON *node, int depth);

/* Walks the schema that member kw of the current node holds. */
static int walk_sub(cctx *c, cJSON *sub, const char *seg, int depth) {
  size_t old = js_path_push(c->path, sizeof c->path, &c->plen, seg);
  int rc = walk(c, sub, depth + 1);
  js_path_pop(c->path, &c->plen, old);
  return rc;
}

static int is_array_like(const cctx *c, const cJSON *v) {
  return cJSON_IsArray(v) || ((c->flags & JSONSCHEMA_EMPTY_AMBIGUOUS) && js_is_empty_object(v));
}

/* Translates the ECMA class escapes POSIX EREs lack; NULL on ENOMEM. */
static char *ecma_to_ere(const char *src) {
  size_t n = strlen(src);
  char *out = malloc(n * 14 + 1), *o = out; /* "\W" -> "[^[:alnum:]_]" is the longest */
  if (!out)
    return NULL;
  int in_bracket = 0;
  for (const char *p = src; *p; p++) {
    if (*p == '\\' && p[1]) {
      const char *cls = NULL;
      int neg = 0;
      switch (p[1]) {
        case 'D':
          neg = 1; /* fall through */
        case 'd':
          cls = "0-9";
          break;
        case 'S':
          neg = 1; /* fall through */
        case 's':
          cls = "[:space:]";
          break;
        case 'W':
          neg = 1; /* fall through */
        case 'w':
          cls = "[:alnum:]_";
          break;
        default:
          break;
      }
      if (cls && (!in_bracket || !neg)) {
        o += sprintf(o, in_bracket ? "%s" : neg ? "[^%s]" : "[%s]", cls);
        p++;
        continue;
      }
      *o++ = *p++;
      *o++ = *p;
      continue;
    }
    if (!in_bracket && *p == '[') {
      in_bracket = 1;
      *o++ = *p;
      if (p[1] == '^')
        *o++ = *++p;
      if (p[1] == ']')
        *o++ = *++p;
      continue;
    }
    if (in_bracket && *p == ']')
      in_bracket = 0;
    *o++ = *p;
  }
  *o = '\0';
  return out;
}

/* glibc's regcomp expands repetitions into copies of the tree, so stacked quantifiers
 * ("a+++++") and nested counts ("((a{200}){200}){200}") take memory exponential in the
 * pattern's length. ECMA refuses stacked quantifiers anyway; counts are bounded by their
 * product, as if they were all nested. NULL when the pattern is acceptable. */
static const char *pattern_too_costly(const char *p) {
  if (strlen(p) > 1000)
    return "longer than 1000 bytes";
  double product = 1;
  int prev_quant = 0, in_bracket = 0;
  for (; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      prev_quant = 0;
      continue;
    }
    if (in_bracket) {
      in_bracket = *p != ']';
      continue;
    }
    if (*p == '[') {
      in_bracket = 1;
      if (p[1] == '^')
        p++;
      if (p[1] == ']')
        p++;
      prev_quant = 0;
      continue;
    }
    int quant = *p == '*' || *p == '+' || *p == '?' || *p == '{';
    if (quant && prev_quant && !(*p == '?' && prev_quant == 1))
      return "a quantifier follows a quantifier";
    if (*p == '{') {
      char *end;
      unsigned long lo = strtoul(p + 1, &end, 10), hi = lo;
      if (*end == ',')
        hi = end[1] == '}' ? lo + 1 : strtoul(end + 1, &end, 10);
      product *= (double)(hi > lo ? hi : lo) + 1;
      if (product > 10000)
        return "repetition counts multiply beyond 10000";
      const char *close = strchr(p, '}');
      if (close)
        p = close;
    }
    prev_quant = quant ? prev_quant + 1 : 0;
  }
  return NULL;
}

static int compile_pattern(cctx *c, cJSON *it) {
  const char *costly = pattern_too_costly(it->valuestring);
  if (costly)
    return cfail(c, "unsupported regular expression \"%.100s\": %s", it->valuestring, costly);
  if (js_grow(&c->s->regexes, &c->capregexes, c->s->nregexes + 1, sizeof(regex_t)))
    return coom(c);
  char *ere = ecma_to_ere(it->valuestring);
  if (!ere)
    return coom(c);
  regex_t *re = &c->s->regexes[c->s->nregexes];
  int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
  free(ere);
  if (rc != 0) {
    char why[160];
    regerror(rc, re, why, sizeof why);
    return cfail(c, "invalid regular expression \"%.100s\": %s", it->valuestring, why);
  }
  it->valueint = (int)++c->s->nregexes;
  return 0;
}

static int check_count(cctx *c, const cJSON *v, const char *kw) {
  double d;
  int integral;
  if (!js_num_of(v, &d, &integral) || !integral || d < 0)
    return cfail(c, "\"%s\" must be a non-negative integer, got %s", kw, js_kind_name(v));
  return 0;
}

static int walk_members(cctx *c, cJSON *obj, const char *kw, int depth) {
  if (!cJSON_IsObject(obj))
    return cfail(c, "\"%s\" must be an object of schemas, got %s", kw, js_kind_name(obj));
  for (cJSON *m = obj->child; m && !c->rc; m = m->next)
    walk_sub(c, m, m->string ? m->string : "", depth);
  return c->rc;
}

static int walk_list(cctx *c, cJSON *arr, const char *kw, int depth) {
  if (!cJSON_IsArray(arr) || !arr->child)
    return cfail(c, "\"%s\" must be a non-empty array of schemas, got %s", kw,
                 cJSON_IsArray(arr) ? "an empty array" : js_kind_name(arr));
  char idx[24];
  int i = 0;
  for (cJSON *m = arr->child; m && !c->rc; m = m->next, i++) {
    snprintf(idx, sizeof idx, "%d", i);
    walk_sub(c, m, idx, depth);
  }
  return c->rc;
}

/* Checks one keyword of a schema object and walks the schemas it holds. */
static int walk_keyword(cctx *c, cJSON *v, const char *kw, int depth) {
  size_t old = js_path_push(c->path, sizeof c->path, &c->plen, kw);
  int rc = 0;
  if (strcmp(kw, "type") == 0) {
    if (cJSON_IsString(v)) {
      if (!js_type_bits(v->valuestring))
        rc = cfail(c, "unknown type \"%.60s\"", v->valuestring);
    } else if (cJSON_IsArray(v) && v->child) {
      for (cJSON *t = v->child; t && !rc; t = t->next)
        if (!cJSON_IsString(t))
          rc = cfail(c, "\"type\" entries must be strings, got %s", js_kind_name(t));
        else if (!js_type_bits(t->valuestring))
          rc = cfail(c, "unknown type \"%.60s\"", t->valuestring);
    } else {
      rc = cfail(c, "\"type\" must be a type name or a non-empty array of them, got %s",
                 js_kind_name(v));
    }
  } else if (strcmp(kw, "properties") == 0 || strcmp(kw, "$defs") == 0 ||
             strcmp(kw, "definitions") == 0) {
    rc = walk_members(c, v, kw, depth);
  } else if (strcmp(kw, "required") == 0) {
    if (!is_array_like(c, v))
      rc = cfail(c, "\"required\" must be an array of strings, got %s", js_kind_name(v));
    for (cJSON *t = cJSON_IsArray(v) ? v->child : NULL; t && !rc; t = t->next)
      if (!cJSON_IsString(t))
        rc = cfail(c, "\"required\" entries must be strings, got %s", js_kind_name(t));
  } else if (strcmp(kw, "additionalProperties") == 0 || strcmp(kw, "items") == 0 ||
             strcmp(kw, "not") == 0) {
    rc = walk(c, v, depth + 1);
  } else if (strcmp(kw, "anyOf") == 0 || strcmp(kw, "oneOf") == 0 || strcmp(kw, "allOf") == 0) {
    rc = walk_list(c, v, kw, depth);
  } else if (strcmp(kw, "enum") == 0) {
    if (!is_array_like(c, v))
      rc = cfail(c, "\"enum\" must be an array, got %s", js_kind_name(v));
  } else if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0 ||
             strcmp(kw, "exclusiveMinimum") == 0 || strcmp(kw, "exclusiveMaximum") == 0) {
    double d;
    int integral;
    if (!js_num_of(v, &d, &integral) || !isfinite(d))
      rc = cfail(c, "\"%s\" must be a number, got %s", kw, js_kind_name(v));
  } else if (strcmp(kw, "minItems") == 0 || strcmp(kw, "maxItems") == 0 ||
             strcmp(kw, "minLength") == 0 || strcmp(kw, "maxLength") == 0) {
    rc = check_count(c, v, kw);
  } else if (strcmp(kw, "pattern") == 0) {
    if (!cJSON_IsString(v))
      rc = cfail(c, "\"pattern\" must be a string, got %s", js_kind_name(v));
    else
      rc = compile_pattern(c, v);
  } else if (strcmp(kw, "$ref") == 0) {
    if (!cJSON_IsString(v))
      rc = cfail(c, "\"$ref\" must be a string, got %s", js_kind_name(v));
    else if (js_grow(&c->refs, &c->caprefs, c->nrefs + 1, sizeof *c->refs) ||
             !(c->refs[c->nrefs].where = strdup(c->path)))
      rc = coom(c);
    else
      c->refs[c->nrefs++].item = v;
  }
  js_path_pop(c->path, &c->plen, old);
  return rc;
}

static int walk(cctx *c, cJSON *node, int depth) {
  if (c->rc)
    return c->rc;
  if (depth > JSONSCHEMA_MAX_DEPTH)
    return cfail(c, "schema nesting deeper than %d levels", JSONSCHEMA_MAX_DEPTH);
  if (cJSON_IsBool(node))
    return 0;
  if (!cJSON_IsObject(node))
    return cfail(c, "a schema must be an object or a boolean, got %s", js_kind_name(node));
  if (js_grow(&c->walked, &c->capwalked, c->nwalked + 1, sizeof *c->walked))
    return coom(c);
  c->walked[c->nwalked++] = node;
  for (cJSON *m = node->child; m && !c->rc; m = m->next)
    if (m->string)
      walk_keyword(c, m, m->string, depth);
  return c->rc;
}

static int ptr_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (const cJSON *const *)a, y = (uintptr_t) * (const cJSON *const *)b;
  return x < y ? -1 : x > y;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Follows a "#..." JSON pointer (URI-fragment form: %XX escapes, ~0 ~1)
 * from root; NULL when it leads nowhere. */
static const cJSON *resolve(const cJSON *root, const char *ref) {
  if (ref[0] != '#')
    return NULL;
  const char *p = ref + 1;
  const cJSON *cur = root;
  char seg[256];
  while (*p) {
    if (*p != '/')
      return NULL;
    p++;
    size_t n = 0;
    while (*p && *p != '/') {
      char ch = *p++;
      if (ch == '%' && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
        ch = (char)(hexval(p[0]) * 16 + hexval(p[1]));
        p += 2;
      } else if (ch == '~' && (*p == '0' || *p == '1')) {
        ch = *p++ == '0' ? '~' : '/';
      }
      if (n + 1 >= sizeof seg)
        return NULL;
      seg[n++] = ch;
    }
    seg[n] = '\0';
    if (cJSON_IsObject(cur)) {
      cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
    } else if (cJSON_IsArray(cur)) {
      char *end;
      if (!n || (seg[0] == '0' && n > 1) || seg[0] < '0' || seg[0] > '9')
        return NULL;
      long i = strtol(seg, &end, 10);
      cur = *end ? NULL : cJSON_GetArrayItem(cur, (int)i);
    } else {
      return NULL;
    }
    if (!cur)
      return NULL;
  }
  return cur;
}

static int resolve_refs(cctx *c) {
  if (c->nwalked)
    qsort(c->walked, c->nwalked, sizeof *c->walked, ptr_cmp);
  c->s->targets = malloc((c->nrefs ? c->nrefs : 1) * sizeof *c->s->targets);
  if (!c->s->targets)
    return coom(c);
  for (size_t i = 0; i < c->nrefs; i++) {
    cJSON *ref = c->refs[i].item;
    const char *txt = ref->valuestring;
    c->plen = (size_t)snprintf(c->path, sizeof c->path, "%s", c->refs[i].where);
    if (c->plen >= sizeof c->path)
      c->plen = sizeof c->path - 1;
    if (txt[0] != '#')
      return cfail(c, "unsupported $ref \"%.100s\": only \"#\" pointers into this schema resolve",
                   txt);
    const cJSON *t = resolve(c->s->root, txt);
    if (!t)
      return cfail(c, "$ref \"%.100s\" points to nothing", txt);
    if (!cJSON_IsBool(t) &&
        (!c->nwalked || !bsearch(&t, c->walked, c->nwalked, sizeof *c->walked, ptr_cmp)))
      return cfail(c, "$ref \"%.100s\" does not point to a schema", txt);
    c->s->targets[c->s->ntargets] = t;
    ref->valueint = (int)++c->s->ntargets;
  }
  return 0;
}

void jsonschema_free(jsonschema *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nregexes; i++)
    regfree(&s->regexes[i]);
  free(s->regexes);
  free(s->targets);
  cJSON_Delete(s->root);
  free(s);
}

int jsonschema_compile(const cJSON *schema, unsigned flags, jsonschema **out, char *err,
                       size_t err_len) {
  *out = NULL;
  if (err_len)
    err[0] = '\0';
  cctx c = {.flags = flags, .err = err, .err_len = err_len};
  c.s = calloc(1, sizeof *c.s);
  if (!c.s || !schema || !(c.s->root = cJSON_Duplicate(schema, 1))) {
    if (!schema) {
      free(c.s);
      if (err_len)
        snprintf(err, err_len, "/: a schema must be an object or a boolean");
      return AGENTAI_EINVAL;
    }
    jsonschema_free(c.s);
    return coom(&c);
  }
  /* Refs resolve after the walk: a target may be walked after its $ref. */
  if (!walk(&c, c.s->root, 0))
    resolve_refs(&c);
  free(c.walked);
  for (size_t i = 0; i < c.nrefs; i++)
    free(c.refs[i].where);
  free(c.refs);
  if (c.rc) {
    jsonschema_free(c.s);
    return c.rc;
  }
  *out = c.s;
  return 0;
}

int jsonschema_check(const cJSON *schema, unsigned flags, char *err, size_t err_len) {
  jsonschema *s;
  int rc = jsonschema_compile(schema, flags, &s, err, err_len);
  jsonschema_free(s);
  return rc;
}
