/* core/jsonschema_validate.c — applies a compiled JSON Schema (jsonschema.c) to a cJSON
 * instance, collecting errors with JSON Pointer paths. */
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/jsonschema_internal.h"

/* ---- validating ---- */

typedef struct vctx {
  const jsonschema *s;
  unsigned flags;
  jsonschema_result *res;
  size_t max;
  char *path; /* JSON pointer of the instance value being evaluated */
  size_t plen, pcap;
  int depth;
  unsigned long steps;
  int aborted; /* a limit or ENOMEM: unwind */
  int oom;
  /* Probing (anyOf/oneOf/not): errors are not collected, the first one is
   * remembered for the caller's message and evaluation stops there. */
  int quiet;
  int qfail;
  char *first;
  size_t first_len;
} vctx;

static int vpath_push(vctx *c, const char *seg, size_t *old) {
  size_t need = c->plen + 2 * strlen(seg) + 2;
  if (js_grow(&c->path, &c->pcap, need, 1)) {
    c->oom = c->aborted = 1;
    return -1;
  }
  *old = c->plen;
  js_path_push(c->path, c->pcap, &c->plen, seg);
  return 0;
}

static int add_result(vctx *c, const char *msg) {
  jsonschema_result *r = c->res;
  if ((r->count & (r->count - 1)) == 0 || r->count == 0) {
    size_t cap = r->count ? r->count * 2 : 4;
    jsonschema_error *e = realloc(r->errors, cap * sizeof *e);
    if (!e)
      return -1;
    r->errors = e;
  }
  char *p = strdup(c->path), *m = strdup(msg);
  if (!p || !m) {
    free(p);
    free(m);
    return -1;
  }
  r->errors[r->count].path = p;
  r->errors[r->count].message = m;
  r->count++;
  return 0;
}

/* Whether evaluation should stop where it is. */
static int stop(const vctx *c) {
  /* Past the limit it goes on until one more error proves the list truncated. */
  return c->aborted || (c->quiet ? c->qfail : c->res->truncated);
}

static void verr(vctx *c, const char *fmt, ...) {
  if (stop(c))
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->quiet) {
    c->qfail = 1;
    if (c->first && !c->first[0])
      snprintf(c->first, c->first_len, "%s%s%s", msg, c->plen ? " at " : "", c->path);
    return;
  }
  if (c->res->count >= c->max) {
    c->res->truncated = 1;
    return;
  }
  if (add_result(c, msg))
    c->oom = c->aborted = 1;
}

/* A limit was hit: reported whether probing or not, and everything unwinds. */
static void vfatal(vctx *c, const char *msg) {
  if (c->aborted)
    return;
  if (add_result(c, msg))
    c->oom = 1;
  c->aborted = 1;
}

static int inst_types(const vctx *c, const cJSON *v) {
  double d;
  int integral;
  if (cJSON_IsNull(v))
    return T_NULL;
  if (cJSON_IsBool(v))
    return T_BOOL;
  if (js_num_of(v, &d, &integral))
    return integral ? T_INT | T_NUM : T_NUM;
  if (cJSON_IsString(v))
    return T_STR;
  if (cJSON_IsArray(v))
    return T_ARR;
  if (cJSON_IsObject(v))
    return (c->flags & JSONSCHEMA_EMPTY_AMBIGUOUS) && !v->child ? T_OBJ | T_ARR : T_OBJ;
  return 0;
}

static const char *inst_name(const cJSON *v) {
  if (cJSON_IsRaw(v)) {
    double d;
    int integral;
    return js_num_of(v, &d, &integral) ? "number" : "raw JSON";
  }
  return js_kind_name(v);
}

static int json_equal(const vctx *c, const cJSON *a, const cJSON *b) {
  double x, y;
  int ix, iy;
  if (js_num_of(a, &x, &ix) && js_num_of(b, &y, &iy))
    return x == y;
  if ((c->flags & JSONSCHEMA_EMPTY_AMBIGUOUS) &&
      ((js_is_empty_object(a) && cJSON_IsArray(b) && !b->child) ||
       (js_is_empty_object(b) && cJSON_IsArray(a) && !a->child)))
    return 1;
  if ((a->type & 0xff) != (b->type & 0xff))
    return 0;
  if (cJSON_IsString(a) || cJSON_IsRaw(a))
    return strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsArray(a)) {
    const cJSON *p = a->child, *q = b->child;
    for (; p && q; p = p->next, q = q->next)
      if (!json_equal(c, p, q))
        return 0;
    return !p && !q;
  }
  if (cJSON_IsObject(a)) {
    int na = 0, nb = 0;
    for (const cJSON *p = a->child; p; p = p->next, na++) {
      const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, p->string);
      if (!q || !json_equal(c, p, q))
        return 0;
    }
    for (const cJSON *q = b->child; q; q = q->next)
      nb++;
    return na == nb;
  }
  return 1; /* null, true, false: the type said it all */
}

/* Compact JSON of v for a message, cut to fit. */
static void show(char *buf, size_t len, const cJSON *v) {
  char *txt = cJSON_PrintUnformatted(v);
  if (!txt) {
    snprintf(buf, len, "(value)");
    return;
  }
  if (strlen(txt) >= len && len > 4)
    snprintf(buf, len, "%.*s...", (int)(len - 4), txt);
  else
    snprintf(buf, len, "%s", txt);
  cJSON_free(txt);
}

/* The keywords of one schema object, gathered in one pass. */
typedef struct kw {
  const cJSON *ref, *type, *enum_, *const_, *minimum, *maximum, *xmin, *xmax, *minlen, *maxlen,
      *pattern, *minitems, *maxitems, *items, *props, *addl, *required, *allof, *anyof, *oneof,
      *not_;
} kw;

static void gather(const cJSON *schema, kw *k) {
  memset(k, 0, sizeof *k);
  for (const cJSON *m = schema->child; m; m = m->next) {
    const char *n = m->string;
    if (!n)
      continue;
#define KW(name, field)       \
  if (strcmp(n, name) == 0) { \
    k->field = m;             \
    continue;                 \
  }
    switch (n[0]) {
      case '$':
        KW("$ref", ref) break;
      case 't':
        KW("type", type) break;
      case 'e':
        KW("enum", enum_) KW("exclusiveMinimum", xmin) KW("exclusiveMaximum", xmax) break;
      case 'c':
        KW("const", const_) break;
      case 'm':
        KW("minimum", minimum)
        KW("maximum", maximum)
        KW("minLength", minlen)
        KW("maxLength", maxlen)
        KW("minItems", minitems)
        KW("maxItems", maxitems)
        break;
      case 'p':
        KW("pattern", pattern) KW("properties", props) break;
      case 'i':
        KW("items", items) break;
      case 'a':
        KW("additionalProperties", addl) KW("allOf", allof) KW("anyOf", anyof) break;
      case 'r':
        KW("required", required) break;
      case 'o':
        KW("oneOf", oneof) break;
      case 'n':
        KW("not", not_) break;
      default:
        break;
    }
#undef KW
  }
}

static void eval(vctx *c, const cJSON *schema, const cJSON *inst);

/* Evaluates inst against schema without collecting errors: 1 when it
 * matches. first (may be NULL) receives the first failure. */
static int probe(vctx *c, const cJSON *schema, const cJSON *inst, char *first, size_t first_len) {
  int quiet = c->quiet, qfail = c->qfail;
  char *f = c->first;
  size_t fl = c->first_len;
  c->quiet = 1;
  c->qfail = 0;
  c->first = first;
  c->first_len = first_len;
  if (first)
    first[0] = '\0';
  eval(c, schema, inst);
  int ok = !c->qfail && !c->aborted;
  c->quiet = quiet;
  c->qfail = qfail;
  c->first = f;
  c->first_len = fl;
  return ok;
}

static void eval_child(vctx *c, const cJSON *schema, const cJSON *inst, const char *seg) {
  size_t old;
  if (vpath_push(c, seg, &old))
    return;
  eval(c, schema, inst);
  js_path_pop(c->path, &c->plen, old);
}

static void eval_type(vctx *c, const cJSON *type, int have, const cJSON *inst) {
  int want = 0;
  if (cJSON_IsString(type))
    want = js_type_bits(type->valuestring);
  else
    for (const cJSON *t = type->child; t; t = t->next)
      want |= js_type_bits(t->valuestring);
  if (have & want)
    return;
  char names[128] = "";
  size_t n = 0;
  for (const cJSON *t = cJSON_IsString(type) ? type : type->child; t;
       t = cJSON_IsString(type) ? NULL : t->next) {
    if (n >= sizeof names - 1)
      break;
    n += (size_t)snprintf(names + n, n < sizeof names ? sizeof names - n : 0, "%s%s",
                          n ? " or " : "", t->valuestring);
  }
  verr(c, "expected %s, got %s", names, inst_name(inst));
}

static void eval_number(vctx *c, const kw *k, const cJSON *inst) {
  double d, lim;
  int integral;
  char a[40], b[40];
  js_num_of(inst, &d, &integral);
  js_fmt_num(a, sizeof a, d);
  if (k->minimum && js_num_of(k->minimum, &lim, &integral) && d < lim)
    js_fmt_num(b, sizeof b, lim), verr(c, "must be >= %s, got %s", b, a);
  if (k->xmin && js_num_of(k->xmin, &lim, &integral) && d <= lim)
    js_fmt_num(b, sizeof b, lim), verr(c, "must be > %s, got %s", b, a);
  if (k->maximum && js_num_of(k->maximum, &lim, &integral) && d > lim)
    js_fmt_num(b, sizeof b, lim), verr(c, "must be <= %s, got %s", b, a);
  if (k->xmax && js_num_of(k->xmax, &lim, &integral) && d >= lim)
    js_fmt_num(b, sizeof b, lim), verr(c, "must be < %s, got %s", b, a);
}

static void eval_string(vctx *c, const kw *k, const cJSON *inst) {
  const char *s = inst->valuestring;
  if (k->minlen || k->maxlen) {
    size_t cps = 0; /* code points: every byte that does not continue a sequence */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      cps += (*p & 0xC0) != 0x80;
    if (k->minlen && (double)cps < k->minlen->valuedouble)
      verr(c, "expected at least %.0f characters, got %zu", k->minlen->valuedouble, cps);
    if (k->maxlen && (double)cps > k->maxlen->valuedouble)
      verr(c, "expected at most %.0f characters, got %zu", k->maxlen->valuedouble, cps);
  }
  if (k->pattern && k->pattern->valueint > 0 &&
      regexec(&c->s->regexes[k->pattern->valueint - 1], s, 0, NULL, 0) != 0)
    verr(c, "does not match pattern \"%.200s\"", k->pattern->valuestring);
}

static void eval_array(vctx *c, const kw *k, const cJSON *inst) {
  size_t n = 0;
  char idx[24];
  for (const cJSON *it = cJSON_IsArray(inst) ? inst->child : NULL; it; it = it->next, n++) {
    if (k->items && !stop(c)) {
      snprintf(idx, sizeof idx, "%zu", n);
      eval_child(c, k->items, it, idx);
    }
  }
  if (k->minitems && (double)n < k->minitems->valuedouble)
    verr(c, "expected at least %.0f items, got %zu", k->minitems->valuedouble, n);
  if (k->maxitems && (double)n > k->maxitems->valuedouble)
    verr(c, "expected at most %.0f items, got %zu", k->maxitems->valuedouble, n);
}

static void eval_object(vctx *c, const kw *k, const cJSON *inst) {
  for (const cJSON *r = k->required && cJSON_IsArray(k->required) ? k->required->child : NULL;
       r && !stop(c); r = r->next)
    if (!cJSON_GetObjectItemCaseSensitive(inst, r->valuestring))
      verr(c, "missing required property \"%.200s\"", r->valuestring);
  if (!k->props && !k->addl)
    return;
  for (const cJSON *m = inst->child; m && !stop(c); m = m->next) {
    const char *name = m->string ? m->string : "";
    const cJSON *sub = k->props ? cJSON_GetObjectItemCaseSensitive(k->props, name) : NULL;
    if (!sub)
      sub = k->addl;
    if (!sub)
      continue;
    if (cJSON_IsFalse(sub) && sub == k->addl) {
      size_t old;
      if (vpath_push(c, name, &old))
        return;
      verr(c, "property \"%.200s\" is not allowed", name);
      js_path_pop(c->path, &c->plen, old);
      continue;
    }
    eval_child(c, sub, m, name);
  }
}

static void eval_combinators(vctx *c, const kw *k, const cJSON *inst) {
  char first[256];
  if (k->allof)
    for (const cJSON *s = k->allof->child; s && !stop(c); s = s->next)
      eval(c, s, inst);
  if (k->anyof && !stop(c)) {
    int n = 0, ok = 0;
    char keep[256] = "";
    for (const cJSON *s = k->anyof->child; s && !ok && !c->aborted; s = s->next, n++) {
      ok = probe(c, s, inst, first, sizeof first);
      if (!n)
        snprintf(keep, sizeof keep, "%s", first);
    }
    if (!ok && !c->aborted) {
      n = cJSON_GetArraySize(k->anyof);
      verr(c, "does not match any of the %d anyOf schemas (the first: %s)", n, keep);
    }
  }
  if (k->oneof && !stop(c)) {
    int n = 0, matched = 0, a = -1, b = -1;
    char keep[256] = "";
    for (const cJSON *s = k->oneof->child; s && matched < 2 && !c->aborted; s = s->next, n++) {
      if (probe(c, s, inst, first, sizeof first)) {
        if (matched++)
          b = n;
        else
          a = n;
      } else if (!n) {
        snprintf(keep, sizeof keep, "%s", first);
      }
    }
    if (c->aborted)
      return;
    if (matched == 0)
      verr(c, "does not match any of the %d oneOf schemas (the first: %s)",
           cJSON_GetArraySize(k->oneof), keep);
    else if (matched > 1)
      verr(c, "matches more than one oneOf schema (%d and %d)", a, b);
  }
  if (k->not_ && !stop(c) && probe(c, k->not_, inst, NULL, 0) && !c->aborted)
    verr(c, "must not match the \"not\" schema");
}

static void eval(vctx *c, const cJSON *schema, const cJSON *inst) {
  if (stop(c))
    return;
  if (++c->steps > JSONSCHEMA_MAX_STEPS) {
    char msg[96];
    snprintf(msg, sizeof msg, "validation stopped after %d schema evaluations",
             JSONSCHEMA_MAX_STEPS);
    vfatal(c, msg);
    return;
  }
  if (c->depth >= JSONSCHEMA_MAX_DEPTH) {
    char msg[96];
    snprintf(msg, sizeof msg, "nesting deeper than %d levels (a $ref cycle?)",
             JSONSCHEMA_MAX_DEPTH);
    vfatal(c, msg);
    return;
  }
  if (cJSON_IsBool(schema)) {
    if (cJSON_IsFalse(schema))
      verr(c, "no value is allowed here");
    return;
  }
  c->depth++;
  kw k;
  gather(schema, &k);
  int have = inst_types(c, inst);
  if (k.ref)
    eval(c, c->s->targets[k.ref->valueint - 1], inst);
  if (k.type && !stop(c))
    eval_type(c, k.type, have, inst);
  if (k.enum_ && !stop(c)) {
    int found = 0;
    for (const cJSON *e = k.enum_->child; e && !found; e = e->next)
      found = json_equal(c, e, inst);
    if (!found) {
      char list[160];
      show(list, sizeof list, k.enum_);
      verr(c, "must be one of %s", list);
    }
  }
  if (k.const_ && !stop(c) && !json_equal(c, k.const_, inst)) {
    char val[160];
    show(val, sizeof val, k.const_);
    verr(c, "must equal %s", val);
  }
  if ((have & T_NUM) && !stop(c))
    eval_number(c, &k, inst);
  if ((have & T_STR) && !stop(c))
    eval_string(c, &k, inst);
  if ((have & T_ARR) && !stop(c))
    eval_array(c, &k, inst);
  if ((have & T_OBJ) && !stop(c))
    eval_object(c, &k, inst);
  if (!stop(c))
    eval_combinators(c, &k, inst);
  c->depth--;
}

void jsonschema_result_free(jsonschema_result *res) {
  for (size_t i = 0; i < res->count; i++) {
    free(res->errors[i].path);
    free(res->errors[i].message);
  }
  free(res->errors);
  memset(res, 0, sizeof *res);
}

int jsonschema_validate(const jsonschema *s, const cJSON *instance, unsigned flags,
                        size_t max_errors, jsonschema_result *res) {
  memset(res, 0, sizeof *res);
  vctx c = {.s = s, .flags = flags, .res = res};
  c.max = max_errors ? max_errors : JSONSCHEMA_MAX_ERRORS;
  if (js_grow(&c.path, &c.pcap, 64, 1))
    return AGENTAI_ENOMEM;
  c.path[0] = '\0';
  eval(&c, s->root, instance);
  free(c.path);
  if (c.oom) {
    jsonschema_result_free(res);
    return AGENTAI_ENOMEM;
  }
  return 0;
}
