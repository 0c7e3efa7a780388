/* api/listing.c — parser of the REST listing query language: parameters, values, in-lists and
 * like patterns into a listing_query, with messages for what it refuses (see api/listing.h). */
#include "api/listing_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/timefmt.h"

static const char *const OP_NAMES[OP_COUNT] = {"eq", "neq", "gt", "gte", "lt", "lte", "in", "like"};

#define OPS_EXPECTED "eq, neq, gt, gte, lt, lte, in, like, optionally after not."
#define TIME_EXPECTED "RFC 3339 as 2026-11-25T01:02:03Z, or unix seconds"

/* ---------------------------------------------------------------------- */
/* Message helpers                                                        */
/* ---------------------------------------------------------------------- */

/* Drops an incomplete UTF-8 sequence that a truncating snprintf left at the end of s. */
static void utf8_trim_tail(char *s) {
  size_t n = strlen(s), start = n;
  while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80 && n - start < 3)
    start--;
  if (start == 0 || (unsigned char)s[start - 1] < 0xC0)
    return; /* ends in ASCII or a lone continuation run: nothing cut mid-sequence */
  start--;
  if (!utf8_char_len(s + start, n - start))
    s[start] = '\0';
}

/* Copies valid UTF-8 s into out[cap] for a message: at most max bytes, cut on a character
 * boundary with "..." when longer, control characters shown as '?'. Returns out. */
static const char *echo(char *out, size_t cap, const char *s, size_t max) {
  size_t n = strlen(s), o = 0, i = 0;
  if (max + 4 > cap)
    max = cap - 4;
  while (i < n) {
    size_t k = listing__char_width(s + i, n - i);
    if (o + k > max)
      break;
    for (size_t j = 0; j < k; j++) {
      unsigned char c = (unsigned char)s[i + j];
      out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    i += k;
  }
  if (i < n) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}

/* Like echo for bytes that may not be UTF-8 (a raw parameter name): non-ASCII shown as '?'. */
static const char *echo_ascii(char *out, size_t cap, const char *s, size_t n, size_t max) {
  size_t o = 0;
  if (max + 4 > cap)
    max = cap - 4;
  for (size_t i = 0; i < n && o < max; i++) {
    unsigned char c = (unsigned char)s[i];
    out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
  }
  if (n > max) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}

static int fail(listing_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(listing_error *err, const char *param, const char *fmt, ...) {
  if (!err)
    return AGENTAI_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  utf8_trim_tail(err->message);
  snprintf(err->param, sizeof err->param, "%s", param ? param : "");
  utf8_trim_tail(err->param);
  return AGENTAI_EINVAL;
}

static int fail_nomem(listing_error *err) {
  if (err) {
    snprintf(err->message, sizeof err->message, "out of memory");
    err->param[0] = '\0';
  }
  return AGENTAI_ENOMEM;
}

/* A bounded ", "-joined list for messages; "..." once it no longer fits. */
typedef struct joiner {
  char buf[160];
  size_t len;
  int full;
} joiner;

static void join_add(joiner *j, const char *item) {
  size_t n = strlen(item), sep = j->len ? 2 : 0;
  if (j->full)
    return;
  if (j->len + sep + n + 4 >= sizeof j->buf) {
    memcpy(j->buf + j->len, j->len ? ", ..." : "...", j->len ? 5 : 3);
    j->len += j->len ? 5 : 3;
    j->buf[j->len] = '\0';
    j->full = 1;
    return;
  }
  if (sep)
    memcpy(j->buf + j->len, ", ", 2);
  memcpy(j->buf + j->len + sep, item, n);
  j->len += sep + n;
  j->buf[j->len] = '\0';
}

static const char *field_list(joiner *j, const listing_field *fields, size_t n, int orderable) {
  j->len = 0;
  j->full = 0;
  j->buf[0] = '\0';
  for (size_t i = 0; i < n; i++)
    if (!orderable || (fields[i].flags & LISTING_ORDERABLE))
      join_add(j, fields[i].name);
  if (!j->len)
    join_add(j, "none");
  return j->buf;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */
/* ---------------------------------------------------------------------- */

/* Strict decimal int64: optional '-', at least one digit, nothing else, no overflow. */
static int parse_int64(const char *s, int64_t *out) {
  int neg = *s == '-';
  const char *p = s + neg;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (!*p)
    return 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    unsigned dgt = (unsigned)(*p - '0');
    if (v > (lim - dgt) / 10)
      return 0;
    v = v * 10 + dgt;
  }
  *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return 1;
}

static void filter_clear(filter *f) {
  for (size_t i = 0; i < f->n; i++)
    free(f->text[i]);
  free(f->text);
  free(f->num);
  free(f->pat);
  memset(f, 0, sizeof *f);
}

/* Context of the parameter being parsed, for messages. */
typedef struct pctx {
  const char *name;  /* decoded parameter name */
  const char *value; /* decoded value */
  listing_error *err;
} pctx;

/* "name=value" of the parameter, bounded, for messages. */
static const char *param_echo(const pctx *c, char *out, size_t cap) {
  char n[48], v[72];
  snprintf(out, cap, "%s=%s", echo(n, sizeof n, c->name, 40), echo(v, sizeof v, c->value, 64));
  return out;
}

static int is_enum_value(const listing_field *f, const char *s) {
  for (const char *const *e = f->enum_values; *e; e++)
    if (strcmp(*e, s) == 0)
      return 1;
  return 0;
}

/* Checks and converts one value s (already unquoted) of filter f; appends it to f. */
static int add_value(const pctx *c, filter *f, const char *s) {
  char pe[128], ve[48], canon[32];
  const listing_field *fd = f->field;
  int64_t num = 0;
  const char *text = s;
  if (fd->type == LISTING_STRING && fd->enum_values && f->op != OP_LIKE && !is_enum_value(fd, s)) {
    joiner j = {.len = 0};
    for (const char *const *e = fd->enum_values; *e; e++)
      join_add(&j, *e);
    return fail(c->err, c->name, "'%s' in %s is not one of %s", echo(ve, sizeof ve, s, 40),
                param_echo(c, pe, sizeof pe), j.buf);
  }
  if (fd->type == LISTING_INT) {
    if (!parse_int64(s, &num))
      return fail(c->err, c->name, "'%s' in %s is not an integer", echo(ve, sizeof ve, s, 40),
                  param_echo(c, pe, sizeof pe));
    snprintf(canon, sizeof canon, "%lld", (long long)num);
    text = canon;
  } else if (fd->type == LISTING_TIME) {
    if (timefmt_parse(s, &num) < 0)
      return fail(c->err, c->name, "'%s' in %s is not a time (%s)%s", echo(ve, sizeof ve, s, 40),
                  param_echo(c, pe, sizeof pe), TIME_EXPECTED,
                  strchr(s, ' ') ? "; a '+' in a query reads as a space: write it as %2B" : "");
    timefmt_format(num, canon);
    text = canon;
  } else if (fd->type == LISTING_BOOL) {
    if (strcmp(s, "true") == 0)
      num = 1;
    else if (strcmp(s, "false") != 0)
      return fail(c->err, c->name, "'%s' in %s is not a boolean (true or false)",
                  echo(ve, sizeof ve, s, 40), param_echo(c, pe, sizeof pe));
  }
  char **t = realloc(f->text, (f->n + 1) * sizeof *t);
  if (!t)
    return fail_nomem(c->err);
  f->text = t;
  int64_t *nv = realloc(f->num, (f->n + 1) * sizeof *nv);
  if (!nv)
    return fail_nomem(c->err);
  f->num = nv;
  if (!(f->text[f->n] = strdup(text)))
    return fail_nomem(c->err);
  f->num[f->n++] = num;
  return 0;
}

/* Parses the in-list "(a, "b,c", d)" in s into the values of f. */
static int parse_in_list(const pctx *c, filter *f, const char *s) {
  char pe[128];
  size_t n = strlen(s);
  if (n < 2 || s[0] != '(' || s[n - 1] != ')')
    return fail(c->err, c->name, "in needs a parenthesised list in %s (as %s=in.(a,b))",
                param_echo(c, pe, sizeof pe), c->name);
  char *buf = malloc(n); /* holds one element at a time; never longer than s */
  if (!buf)
    return fail_nomem(c->err);
  const char *p = s + 1, *end = s + n - 1;
  int rc = 0;
  while (*p == ' ' && p < end)
    p++;
  if (p == end) {
    rc = fail(c->err, c->name, "empty in-list in %s (give at least one value)",
              param_echo(c, pe, sizeof pe));
    goto out;
  }
  for (;;) {
    size_t len = 0;
    while (p < end && *p == ' ')
      p++;
    if (p < end && *p == '"') {
      for (p++;; p++) {
        if (p >= end) {
          rc = fail(c->err, c->name, "unterminated quoted value in %s",
                    param_echo(c, pe, sizeof pe));
          goto out;
        }
        if (*p == '"')
          break;
        if (*p == '\\') {
          if (p + 1 >= end || (p[1] != '"' && p[1] != '\\')) {
            rc = fail(c->err, c->name,
                      "bad escape in a quoted value of %s (only \\\" and \\\\ are escapes)",
                      param_echo(c, pe, sizeof pe));
            goto out;
          }
          p++;
        }
        buf[len++] = *p;
      }
      p++; /* closing quote */
      while (p < end && *p == ' ')
        p++;
      if (p < end && *p != ',') {
        rc = fail(c->err, c->name, "unexpected '%c' after a quoted value in %s",
                  (unsigned char)*p < 0x80 && (unsigned char)*p >= 0x20 ? *p : '?',
                  param_echo(c, pe, sizeof pe));
        goto out;
      }
    } else {
      for (; p < end && *p != ','; p++) {
        if (*p == '(' || *p == ')' || *p == '"') {
          rc = fail(c->err, c->name, "'%c' must be inside a quoted value in %s", *p,
                    param_echo(c, pe, sizeof pe));
          goto out;
        }
        buf[len++] = *p;
      }
      while (len > 0 && buf[len - 1] == ' ')
        len--;
      if (len == 0) {
        rc = fail(c->err, c->name,
                  "empty element in the in-list of %s (write \"\" for an empty string)",
                  param_echo(c, pe, sizeof pe));
        goto out;
      }
    }
    buf[len] = '\0';
    if ((rc = add_value(c, f, buf)) < 0)
      goto out;
    if (p >= end)
      break;
    p++; /* ',' : another element must follow */
    const char *q = p;
    while (q < end && *q == ' ')
      q++;
    if (q == end) {
      rc = fail(c->err, c->name,
                "empty element in the in-list of %s (write \"\" for an empty string)",
                param_echo(c, pe, sizeof pe));
      goto out;
    }
  }
out:
  free(buf);
  return rc;
}

/* Compiles a like pattern: * and % any run, _ one character, \ escapes the next byte. */
static int compile_like(const pctx *c, filter *f, const char *s) {
  char pe[128];
  size_t n = strlen(s), np = 0;
  int *pat = malloc((n ? n : 1) * sizeof *pat);
  if (!pat)
    return fail_nomem(c->err);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\\') {
      if (++i == n) {
        free(pat);
        return fail(c->err, c->name,
                    "the like pattern in %s ends with a backslash (write \\\\ for a backslash)",
                    param_echo(c, pe, sizeof pe));
      }
      pat[np++] = (unsigned char)s[i];
    } else if (ch == '*' || ch == '%') {
      if (!np || pat[np - 1] != PAT_ANY) /* runs of stars are one star */
        pat[np++] = PAT_ANY;
    } else if (ch == '_') {
      pat[np++] = PAT_ONE;
    } else {
      pat[np++] = ch;
    }
  }
  f->pat = pat;
  f->npat = np;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Parameters                                                             */
/* ---------------------------------------------------------------------- */

/* Which operators a field takes, and how a message names its kind. */
static int op_applies(const listing_field *f, op_kind o, const char **kind, const char **ops) {
  switch (f->type) {
    case LISTING_STRING:
      if (!f->enum_values)
        return 1;
      *kind = "one of fixed values";
      *ops = "eq, neq, in or like";
      return o == OP_EQ || o == OP_NEQ || o == OP_IN || o == OP_LIKE;
    case LISTING_INT:
      *kind = "an integer";
      *ops = "eq, neq, gt, gte, lt, lte or in";
      return o != OP_LIKE;
    case LISTING_TIME:
      *kind = "a time";
      *ops = "eq, neq, gt, gte, lt, lte or in";
      return o != OP_LIKE;
    case LISTING_BOOL:
      *kind = "a boolean";
      *ops = "eq, neq or in";
      return o == OP_EQ || o == OP_NEQ || o == OP_IN;
  }
  *kind = "of an unknown type";
  *ops = "nothing";
  return 0;
}

static int parse_filter(listing_query *q, const pctx *c, const listing_field *fd) {
  char pe[128], oe[32];
  if (q->nfilters == LISTING_MAX_FILTERS)
    return fail(c->err, c->name, "too many filters: %s would be number %d (at most %d)",
                param_echo(c, pe, sizeof pe), LISTING_MAX_FILTERS + 1, LISTING_MAX_FILTERS);
  filter *f = &q->filters[q->nfilters];
  memset(f, 0, sizeof *f);
  f->field = fd;
  const char *v = c->value, *dot = strchr(v, '.');
  if (dot && (size_t)(dot - v) == 3 && strncmp(v, "not", 3) == 0) {
    f->negate = 1;
    v = dot + 1;
    dot = strchr(v, '.');
  }
  if (!dot)
    return fail(c->err, c->name,
                "missing operator in %s (expected %s=op.value with op one of " OPS_EXPECTED ")",
                param_echo(c, pe, sizeof pe), c->name);
  int o = -1;
  for (int i = 0; i < OP_COUNT; i++)
    if ((size_t)(dot - v) == strlen(OP_NAMES[i]) && strncmp(v, OP_NAMES[i], dot - v) == 0)
      o = i;
  if (o < 0) {
    char opname[32];
    size_t on = (size_t)(dot - v) < sizeof opname - 1 ? (size_t)(dot - v) : sizeof opname - 1;
    memcpy(opname, v, on);
    opname[on] = '\0';
    utf8_trim_tail(opname);
    return fail(c->err, c->name, "unknown operator '%s' in %s (expected " OPS_EXPECTED ")",
                echo(oe, sizeof oe, opname, 24), param_echo(c, pe, sizeof pe));
  }
  f->op = (op_kind)o;
  const char *kind = "", *ops = "";
  if (!op_applies(fd, f->op, &kind, &ops))
    return fail(c->err, c->name, "operator '%s' does not apply to %s, %s (use %s)", OP_NAMES[o],
                c->name, kind, ops);
  const char *arg = dot + 1;
  int rc;
  if (f->op == OP_IN)
    rc = parse_in_list(c, f, arg);
  else
    rc = add_value(c, f, arg);
  if (rc == 0 && f->op == OP_LIKE)
    rc = compile_like(c, f, arg);
  if (rc < 0) {
    filter_clear(f);
    return rc;
  }
  q->nfilters++;
  return 0;
}

const listing_field *listing__find_field(const listing_field *fields, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(fields[i].name, name) == 0)
      return &fields[i];
  return NULL;
}

/* order=field[.asc|.desc]; label names the source in messages ("order", "default order"). */
static int parse_order(listing_query *q, const pctx *c, const char *label) {
  char pe[128], fe[72], de[40];
  joiner j;
  const char *v = c->value;
  if (!*v)
    return fail(c->err, "order", "%s needs a field, as order=created_at.desc", label);
  if (strchr(v, ','))
    return fail(c->err, "order", "%s takes one field, in %s (ordering by several is not supported)",
                label, param_echo(c, pe, sizeof pe));
  const listing_field *f = listing__find_field(q->fields, q->nfields, v);
  int desc = 0;
  if (!f) {
    const char *dot = strrchr(v, '.');
    size_t flen = dot ? (size_t)(dot - v) : strlen(v);
    char *name = strndup(v, flen);
    if (!name)
      return fail_nomem(c->err);
    f = listing__find_field(q->fields, q->nfields, name);
    if (!f) {
      int rc = fail(c->err, "order", "unknown %s field '%s' in %s (orderable: %s)", label,
                    echo(fe, sizeof fe, name, 40), param_echo(c, pe, sizeof pe),
                    field_list(&j, q->fields, q->nfields, 1));
      free(name);
      return rc;
    }
    free(name);
    if (strcmp(dot + 1, "desc") == 0)
      desc = 1;
    else if (strcmp(dot + 1, "asc") != 0)
      return fail(c->err, "order", "bad %s direction '%s' in %s (expected asc or desc)", label,
                  echo(de, sizeof de, dot + 1, 24), param_echo(c, pe, sizeof pe));
  }
  if (!(f->flags & LISTING_ORDERABLE))
    return fail(c->err, "order", "cannot order by %s, in %s (orderable: %s)", f->name,
                param_echo(c, pe, sizeof pe), field_list(&j, q->fields, q->nfields, 1));
  q->order = f;
  q->desc = desc;
  return 0;
}

static int parse_limit(listing_query *q, const pctx *c) {
  char ve[48];
  const char *s = c->value;
  long v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9' && i < 9; i++)
    v = v * 10 + (s[i] - '0');
  if (i == 0 || s[i] || v < 1 || v > LISTING_MAX_LIMIT)
    return fail(c->err, "limit", "limit must be an integer from 1 to %d (got '%s')",
                LISTING_MAX_LIMIT, echo(ve, sizeof ve, s, 32));
  q->limit = (int)v;
  return 0;
}

static int parse_cursor(listing_query *q, const pctx *c) {
  char ve[48];
  const char *s = c->value;
  size_t n = 0;
  for (; s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-'))
      break;
  }
  if (n == 0 || s[n] || n > LISTING_MAX_CURSOR)
    return fail(c->err, "starting_after",
                "starting_after must be an id of 1 to %d characters from A-Z a-z 0-9 _ - "
                "(got '%s')",
                LISTING_MAX_CURSOR, echo(ve, sizeof ve, s, 32));
  if (!(q->cursor = strdup(s)))
    return fail_nomem(c->err);
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..n) ('+' is a space) into out (room for n + 1). Returns the length, -1 for a
 * '%' without two hex digits, -2 for a NUL byte. */
static long pct_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '+') {
      ch = ' ';
    } else if (ch == '%') {
      if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
        return -1;
      ch = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    }
    if (ch == '\0')
      return -2;
    out[o++] = ch;
  }
  out[o] = '\0';
  return (long)o;
}

/* One "name=value" segment of the query. */
static int parse_param(listing_query *q, const char *seg, size_t n, char *buf, listing_error *err) {
  char ne[48];
  const char *eq = memchr(seg, '=', n);
  size_t rn = eq ? (size_t)(eq - seg) : n;
  char *name = buf, *value = buf + rn + 1;
  long dn = pct_decode(seg, rn, name);
  if (dn == -1)
    return fail(err, echo_ascii(ne, sizeof ne, seg, rn, 40),
                "malformed percent-encoding in parameter name '%s' (a '%%' must be followed by "
                "two hex digits)",
                echo_ascii(ne, sizeof ne, seg, rn, 40));
  if (dn == -2)
    return fail(err, "", "parameter name '%s' holds a NUL byte (%%00)",
                echo_ascii(ne, sizeof ne, seg, rn, 40));
  if (!utf8_valid(name, (size_t)dn))
    return fail(err, "", "a parameter name is not valid UTF-8 ('%s')",
                echo_ascii(ne, sizeof ne, seg, rn, 40));
  if (dn == 0)
    return fail(err, "", "a parameter has an empty name ('%s')",
                echo_ascii(ne, sizeof ne, seg, n, 40));

  enum { R_NONE, R_ORDER, R_LIMIT, R_CURSOR } r = R_NONE;
  const listing_field *fd = NULL;
  if (strcmp(name, "order") == 0)
    r = R_ORDER;
  else if (strcmp(name, "limit") == 0)
    r = R_LIMIT;
  else if (strcmp(name, "starting_after") == 0)
    r = R_CURSOR;
  else if (!(fd = listing__find_field(q->fields, q->nfields, name))) {
    joiner j;
    return fail(err, name, "unknown field '%s' (known: %s; also order, limit, starting_after)",
                echo(ne, sizeof ne, name, 40), field_list(&j, q->fields, q->nfields, 0));
  }

  long dv = eq ? pct_decode(eq + 1, n - rn - 1, value) : 0;
  if (!eq)
    value[0] = '\0';
  echo(ne, sizeof ne, name, 40);
  if (dv == -1)
    return fail(err, name,
                "malformed percent-encoding in the value of %s (a '%%' must be followed by two "
                "hex digits)",
                ne);
  if (dv == -2)
    return fail(err, name, "the value of %s holds a NUL byte (%%00)", ne);
  if (dv > LISTING_MAX_VALUE)
    return fail(err, name, "the value of %s is longer than %d bytes", ne, LISTING_MAX_VALUE);
  if (!utf8_valid(value, (size_t)dv))
    return fail(err, name, "the value of %s is not valid UTF-8", ne);

  pctx c = {name, value, err};
  int *seen = r == R_ORDER ? &q->seen_order : r == R_LIMIT ? &q->seen_limit : &q->seen_cursor;
  if (r != R_NONE && *seen)
    return fail(err, name, "duplicate %s parameter (give it at most once)", name);
  switch (r) {
    case R_ORDER:
      *seen = 1;
      return parse_order(q, &c, "order");
    case R_LIMIT:
      *seen = 1;
      return parse_limit(q, &c);
    case R_CURSOR:
      *seen = 1;
      return parse_cursor(q, &c);
    case R_NONE:
      break;
  }
  return parse_filter(q, &c, fd);
}

void listing_free(listing_query *q) {
  if (!q)
    return;
  for (size_t i = 0; i < q->nfilters; i++)
    filter_clear(&q->filters[i]);
  free(q->cursor);
  free(q);
}

int listing_parse(const char *query, const listing_field *fields, size_t nfields,
                  const char *default_order, listing_query **out, listing_error *err) {
  if (err) {
    err->message[0] = '\0';
    err->param[0] = '\0';
  }
  if (!out)
    return fail(err, "", "listing_parse: no output pointer");
  *out = NULL;
  if (nfields && !fields)
    return fail(err, "", "listing_parse: no field schema");
  for (size_t i = 0; i < nfields; i++)
    if (!fields[i].name)
      return fail(err, "", "listing_parse: field %zu of the schema has no name", i);

  listing_query *q = calloc(1, sizeof *q);
  if (!q)
    return fail_nomem(err);
  q->fields = fields;
  q->nfields = nfields;
  q->limit = LISTING_DEFAULT_LIMIT;

  int rc = 0;
  const char *p = query ? query : "";
  char *buf = malloc(strlen(p) + 2); /* a decoded name and value never outgrow their segment */
  if (!buf) {
    listing_free(q);
    return fail_nomem(err);
  }
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > 0 && (rc = parse_param(q, p, n, buf, err)) < 0)
      break;
    p += n;
    if (*p)
      p++;
  }
  free(buf);
  if (rc == 0 && !q->seen_order && default_order) {
    pctx c = {"order", default_order, err};
    rc = parse_order(q, &c, "default order");
  }
  if (rc < 0) {
    listing_free(q);
    return rc;
  }
  *out = q;
  return 0;
}
