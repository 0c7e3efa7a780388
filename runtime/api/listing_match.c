/* api/listing_match.c — a parsed listing query applied: records matched against its filters,
 * its accessors, and the index hints (pinned values, ranges) that let a listing read less. */
#include "api/listing_internal.h"

#include <math.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/timefmt.h"

/* ---------------------------------------------------------------------- */
/* Matching                                                               */
/* ---------------------------------------------------------------------- */

/* Wildcard match with one backtrack point (the last star), O(len(s) * len(pattern)). */
static int like_match(const int *p, size_t np, const char *s, size_t n) {
  size_t pi = 0, si = 0, star_p = 0, star_s = 0;
  int star = 0;
  while (si < n) {
    if (pi < np && p[pi] == PAT_ANY) {
      star = 1;
      star_p = ++pi;
      star_s = si;
    } else if (pi < np && p[pi] == PAT_ONE) {
      si += listing__char_width(s + si, n - si);
      pi++;
    } else if (pi < np && p[pi] == (unsigned char)s[si]) {
      si++;
      pi++;
    } else if (star) {
      pi = star_p;
      star_s += listing__char_width(s + star_s, n - star_s);
      si = star_s;
    } else {
      return 0;
    }
  }
  while (pi < np && p[pi] == PAT_ANY)
    pi++;
  return pi == np;
}

/* An INT in a record: an integral JSON number inside the int64 range. */
static int read_int(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v))
    return 0;
  double d = v->valuedouble;
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
    return 0;
  *out = (int64_t)d;
  return 1;
}

/* A TIME in a record: an RFC 3339 string or a number of unix seconds. */
static int read_time(const cJSON *v, int64_t *out) {
  if (cJSON_IsString(v) && v->valuestring)
    return timefmt_parse(v->valuestring, out) == 0;
  if (!cJSON_IsNumber(v))
    return 0;
  double ms = floor(v->valuedouble * 1000.0);
  if (!(ms >= (double)TIMEFMT_MIN_MS && ms <= (double)TIMEFMT_MAX_MS))
    return 0;
  *out = (int64_t)ms;
  return 1;
}

static int cmp_holds(op_kind o, int cmp) {
  switch (o) {
    case OP_EQ:
    case OP_IN:
      return cmp == 0;
    case OP_NEQ:
      return cmp != 0;
    case OP_GT:
      return cmp > 0;
    case OP_GTE:
      return cmp >= 0;
    case OP_LT:
      return cmp < 0;
    case OP_LTE:
      return cmp <= 0;
    default:
      return 0;
  }
}

static int filter_holds(const filter *f, const cJSON *rec) {
  const cJSON *v =
      cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, f->field->name) : NULL;
  const char *s = NULL;
  int64_t x = 0;
  int present, r = 0;
  switch (f->field->type) {
    case LISTING_STRING:
      present = cJSON_IsString(v) && v->valuestring;
      if (present)
        s = v->valuestring;
      break;
    case LISTING_INT:
      present = read_int(v, &x);
      break;
    case LISTING_TIME:
      present = read_time(v, &x);
      break;
    case LISTING_BOOL:
      present = cJSON_IsBool(v);
      x = cJSON_IsTrue(v);
      break;
    default:
      present = 0;
  }
  if (!present) {
    r = f->op == OP_NEQ;
  } else if (f->op == OP_LIKE) {
    r = like_match(f->pat, f->npat, s, strlen(s));
  } else {
    for (size_t i = 0; i < f->n && !r; i++) {
      int cmp = s ? strcmp(s, f->text[i]) : (x > f->num[i]) - (x < f->num[i]);
      r = cmp_holds(f->op, cmp);
    }
  }
  return f->negate ? !r : r;
}

int listing_match(const listing_query *q, const cJSON *record) {
  if (!q)
    return 0;
  for (size_t i = 0; i < q->nfilters; i++)
    if (!filter_holds(&q->filters[i], record))
      return 0;
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Accessors                                                              */
/* ---------------------------------------------------------------------- */

int listing_limit(const listing_query *q) {
  return q ? q->limit : LISTING_DEFAULT_LIMIT;
}

const char *listing_cursor(const listing_query *q) {
  return q ? q->cursor : NULL;
}

const listing_field *listing_order_field(const listing_query *q) {
  return q ? q->order : NULL;
}

int listing_order_desc(const listing_query *q) {
  return q ? q->desc : 0;
}

size_t listing_filter_count(const listing_query *q) {
  return q ? q->nfilters : 0;
}

int listing_eq_values(const listing_query *q, const char *field, const char *const **values,
                      size_t *n) {
  *values = NULL;
  *n = 0;
  if (!q || !field || !listing__find_field(q->fields, q->nfields, field))
    return AGENTAI_ENOENT;
  const filter *best = NULL;
  for (size_t i = 0; i < q->nfilters; i++) {
    const filter *f = &q->filters[i];
    if (f->negate || (f->op != OP_EQ && f->op != OP_IN) || strcmp(f->field->name, field) != 0)
      continue;
    if (!best || f->n < best->n)
      best = f;
  }
  if (!best)
    return 0;
  *values = (const char *const *)best->text;
  *n = best->n;
  return 1;
}

int listing_time_bounds(const listing_query *q, const char *field, int64_t *lo, int64_t *hi) {
  *lo = INT64_MIN;
  *hi = INT64_MAX;
  const listing_field *fd = q && field ? listing__find_field(q->fields, q->nfields, field) : NULL;
  if (!fd)
    return AGENTAI_ENOENT;
  if (fd->type != LISTING_INT && fd->type != LISTING_TIME)
    return AGENTAI_EINVAL;
  int found = 0, empty = 0;
  for (size_t i = 0; i < q->nfilters; i++) {
    const filter *f = &q->filters[i];
    if (f->negate || f->field != fd || f->op == OP_NEQ || f->op == OP_LIKE)
      continue;
    int64_t a = f->num[0], b = f->num[0];
    for (size_t k = 1; k < f->n; k++) { /* an in-list spans its least to its greatest */
      a = f->num[k] < a ? f->num[k] : a;
      b = f->num[k] > b ? f->num[k] : b;
    }
    found = 1;
    switch (f->op) {
      case OP_GT:
        if (a == INT64_MAX)
          empty = 1;
        else if (a + 1 > *lo)
          *lo = a + 1;
        break;
      case OP_GTE:
        if (a > *lo)
          *lo = a;
        break;
      case OP_LT:
        if (a == INT64_MIN)
          empty = 1;
        else if (a - 1 < *hi)
          *hi = a - 1;
        break;
      case OP_LTE:
        if (a < *hi)
          *hi = a;
        break;
      default: /* eq, in */
        if (a > *lo)
          *lo = a;
        if (b < *hi)
          *hi = b;
    }
  }
  if (empty) {
    *lo = INT64_MAX;
    *hi = INT64_MIN;
  }
  return found;
}
