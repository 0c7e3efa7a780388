/* obs/metrics.c — the metrics registry: validation, series lookup, O(1) updates, text rendering. */
#include "obs/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentai/plugin.h"

const double metrics_latency_buckets[METRICS_LATENCY_BUCKETS_N] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

/* Bigger label sets make a lookup allocate its key; hot paths keep pointers. */
#define KEY_STACK 512

struct metric_series {
  double value;   /* counter or gauge value; histogram: the _sum */
  uint64_t count; /* histogram: the _count */
  int kind;
  const double *bounds; /* histogram: the family's upper bounds */
  size_t nbuckets;      /* histogram: how many (counts has one more: +Inf) */
  metrics_value_fn fn;
  void *ud;
  uint64_t hash;
  size_t labels_len;
  char *labels;      /* `a="x",b="y"`: escaped, the lookup key and the output */
  uint64_t counts[]; /* histogram: per-bucket (not cumulative) counts */
};

struct metric_family {
  metric_family *next;
  int kind;
  char *name; /* as rendered: counters carry _total */
  char *help; /* escaped */
  size_t nlabels;
  char **label_names;
  size_t nbuckets;
  double *bounds;
  char **le;              /* rendered upper bounds, one per bound */
  metric_series **series; /* creation order */
  size_t nseries, series_cap;
  metric_series **table; /* open addressing, power-of-two size */
  size_t table_cap;
};

struct metrics {
  metric_family *head, *tail;
  size_t last_len;   /* previous render's size: the next one allocates once */
  locale_t c_locale; /* numbers use '.' whatever LC_NUMERIC the process has */
};

/* ------------------------------------------------------------------------ */
/* Validation and escaping                                                  */
/* ------------------------------------------------------------------------ */

static int name_valid(const char *s, int colon) {
  if (!s || !*s)
    return 0;
  for (size_t i = 0; s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
             (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return 0;
  }
  return 1;
}

/* Rejects overlong forms, surrogates and code points past U+10FFFF, which
 * Prometheus' parser refuses. */
static int utf8_valid(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    unsigned c = *s;
    if (c < 0x80) {
      s++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    for (size_t k = 1; k < len; k++) {
      if ((s[k] & 0xC0) != 0x80) /* also stops at the NUL */
        return 0;
      cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    s += len;
  }
  return 1;
}

/* Escaped length of s: backslash and newline always, '"' in label values. */
static size_t esc_len(const char *s, int quote) {
  size_t n = 0;
  for (; *s; s++)
    n += (*s == '\\' || *s == '\n' || (quote && *s == '"')) ? 2 : 1;
  return n;
}

static char *esc_copy(char *dst, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\' || (quote && *s == '"')) {
      *dst++ = '\\';
      *dst++ = *s;
    } else if (*s == '\n') {
      *dst++ = '\\';
      *dst++ = 'n';
    } else {
      *dst++ = *s;
    }
  }
  return dst;
}

/* Shortest text that reads back as the same double; integers without a
 * fraction or exponent. buf holds 32 bytes. */
static size_t fmt_double(char *buf, double v) {
  if (isnan(v))
    return (size_t)snprintf(buf, 32, "NaN");
  if (isinf(v))
    return (size_t)snprintf(buf, 32, v > 0 ? "+Inf" : "-Inf");
  if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: exact as an integer */
    return (size_t)snprintf(buf, 32, "%lld", (long long)v);
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(buf, 32, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return (size_t)n;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* ------------------------------------------------------------------------ */
/* Families                                                                 */
/* ------------------------------------------------------------------------ */

static void family_free(metric_family *f) {
  if (!f)
    return;
  for (size_t i = 0; i < f->nseries; i++)
    free(f->series[i]);
  free(f->series);
  free(f->table);
  for (size_t i = 0; i < f->nlabels; i++)
    free(f->label_names[i]);
  free(f->label_names);
  for (size_t i = 0; f->le && i < f->nbuckets; i++)
    free(f->le[i]);
  free(f->le);
  free(f->bounds);
  free(f->name);
  free(f->help);
  free(f);
}

int metrics_new(metrics **out) {
  if (!out)
    return AGENTAI_EINVAL;
  *out = NULL;
  metrics *m = calloc(1, sizeof *m);
  if (!m)
    return AGENTAI_ENOMEM;
  m->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (m->c_locale == (locale_t)0) {
    free(m);
    return AGENTAI_ENOMEM;
  }
  *out = m;
  return 0;
}

void metrics_free(metrics *m) {
  if (!m)
    return;
  metric_family *f = m->head;
  while (f) {
    metric_family *next = f->next;
    family_free(f);
    f = next;
  }
  freelocale(m->c_locale);
  free(m);
}

/* Whether family f renders a sample or TYPE line called n. */
static int family_owns(const metric_family *f, const char *n) {
  size_t len = strlen(f->name);
  if (strncmp(n, f->name, len) != 0)
    return 0;
  const char *rest = n + len;
  if (*rest == '\0')
    return 1;
  return f->kind == KIND_HISTOGRAM &&
         (!strcmp(rest, "_bucket") || !strcmp(rest, "_sum") || !strcmp(rest, "_count"));
}

static int name_taken(const metrics *m, const char *n) {
  for (const metric_family *f = m->head; f; f = f->next)
    if (family_owns(f, n))
      return 1;
  return 0;
}

/* Whether any line the new family would render collides with another's. */
static int family_collides(const metrics *m, const metric_family *nf) {
  if (name_taken(m, nf->name))
    return 1;
  if (nf->kind != KIND_HISTOGRAM)
    return 0;
  static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
  size_t len = strlen(nf->name);
  char *buf = malloc(len + sizeof "_bucket");
  if (!buf)
    return AGENTAI_ENOMEM;
  int taken = 0;
  for (size_t i = 0; i < 3 && !taken; i++) {
    memcpy(buf, nf->name, len);
    strcpy(buf + len, suffixes[i]);
    taken = name_taken(m, buf);
  }
  free(buf);
  return taken;
}

static int series_create(metric_family *f, const char *key, size_t key_len, uint64_t hash,
                         metric_series **out);

static int family_register(metrics *m, int kind, const char *name, const char *help,
                           const char *const *label_names, const double *buckets, size_t nbuckets,
                           metric_family **out) {
  if (out)
    *out = NULL;
  if (!m || !out || !name_valid(name, 1) || !help || !utf8_valid(help))
    return AGENTAI_EINVAL;
  size_t nlabels = 0;
  if (label_names) {
    for (; label_names[nlabels]; nlabels++) {
      const char *ln = label_names[nlabels];
      if (!name_valid(ln, 0) || !strncmp(ln, "__", 2))
        return AGENTAI_EINVAL;
      if (kind == KIND_HISTOGRAM && !strcmp(ln, "le"))
        return AGENTAI_EINVAL;
      for (size_t j = 0; j < nlabels; j++)
        if (!strcmp(label_names[j], ln))
          return AGENTAI_EINVAL;
    }
  }
  if (kind == KIND_HISTOGRAM) {
    if (!buckets) {
      if (nbuckets != 0)
        return AGENTAI_EINVAL;
      buckets = metrics_latency_buckets;
      nbuckets = METRICS_LATENCY_BUCKETS_N;
    }
    if (nbuckets > 0 && isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
      nbuckets--;
    if (nbuckets > METRICS_MAX_BUCKETS)
      return AGENTAI_EINVAL;
    for (size_t i = 0; i < nbuckets; i++) {
      if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
        return AGENTAI_EINVAL;
    }
  }

  metric_family *f = calloc(1, sizeof *f);
  if (!f)
    return AGENTAI_ENOMEM;
  f->kind = kind;
  size_t nlen = strlen(name);
  int add_total = kind == KIND_COUNTER && (nlen < 6 || strcmp(name + nlen - 6, "_total") != 0);
  f->name = malloc(nlen + (add_total ? 7 : 1));
  f->help = malloc(esc_len(help, 0) + 1);
  f->label_names = calloc(nlabels ? nlabels : 1, sizeof *f->label_names);
  if (!f->name || !f->help || !f->label_names)
    goto nomem;
  memcpy(f->name, name, nlen + 1);
  if (add_total)
    memcpy(f->name + nlen, "_total", 7);
  *esc_copy(f->help, help, 0) = '\0';
  for (; f->nlabels < nlabels; f->nlabels++) {
    if (!(f->label_names[f->nlabels] = dup_str(label_names[f->nlabels])))
      goto nomem;
  }
  if (kind == KIND_HISTOGRAM) {
    f->bounds = malloc((nbuckets ? nbuckets : 1) * sizeof *f->bounds);
    f->le = calloc(nbuckets ? nbuckets : 1, sizeof *f->le);
    if (!f->bounds || !f->le)
      goto nomem;
    f->nbuckets = nbuckets;
    locale_t old = uselocale(m->c_locale);
    for (size_t i = 0; i < nbuckets; i++) {
      char num[32];
      f->bounds[i] = buckets[i];
      fmt_double(num, buckets[i]);
      f->le[i] = dup_str(num);
    }
    uselocale(old);
    for (size_t i = 0; i < nbuckets; i++)
      if (!f->le[i])
        goto nomem;
  }

  int rc = family_collides(m, f);
  if (rc != 0) {
    family_free(f);
    return rc < 0 ? rc : AGENTAI_EEXIST;
  }
  /* Without labels there is exactly one series: expose it (at 0) from the start. */
  if (nlabels == 0) {
    metric_series *s;
    rc = series_create(f, "", 0, 0, &s);
    if (rc < 0) {
      family_free(f);
      return rc;
    }
  }
  if (m->tail)
    m->tail->next = f;
  else
    m->head = f;
  m->tail = f;
  *out = f;
  return 0;

nomem:
  family_free(f);
  return AGENTAI_ENOMEM;
}

int metrics_counter(metrics *m, const char *name, const char *help, const char *const *label_names,
                    metric_family **out) {
  return family_register(m, KIND_COUNTER, name, help, label_names, NULL, 0, out);
}

int metrics_gauge(metrics *m, const char *name, const char *help, const char *const *label_names,
                  metric_family **out) {
  return family_register(m, KIND_GAUGE, name, help, label_names, NULL, 0, out);
}

int metrics_histogram(metrics *m, const char *name, const char *help,
                      const char *const *label_names, const double *buckets, size_t nbuckets,
                      metric_family **out) {
  return family_register(m, KIND_HISTOGRAM, name, help, label_names, buckets, nbuckets, out);
}

/* ------------------------------------------------------------------------ */
/* Series                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t hash_key(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static metric_series *table_find(const metric_family *f, const char *key, size_t key_len,
                                 uint64_t hash) {
  if (!f->table_cap)
    return NULL;
  size_t mask = f->table_cap - 1;
  for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
    metric_series *s = f->table[i];
    if (!s)
      return NULL;
    if (s->hash == hash && s->labels_len == key_len && !memcmp(s->labels, key, key_len))
      return s;
  }
}

static void table_put(metric_series **table, size_t cap, metric_series *s) {
  size_t mask = cap - 1;
  size_t i = (size_t)s->hash & mask;
  while (table[i])
    i = (i + 1) & mask;
  table[i] = s;
}

/* Makes room for one more series in both the order array and the table
 * (kept at most 3/4 full so probes stay short). */
static int family_reserve(metric_family *f) {
  if (f->nseries == f->series_cap) {
    size_t cap = f->series_cap ? f->series_cap * 2 : 4;
    metric_series **a = realloc(f->series, cap * sizeof *a);
    if (!a)
      return AGENTAI_ENOMEM;
    f->series = a;
    f->series_cap = cap;
  }
  if ((f->nseries + 1) * 4 > f->table_cap * 3) {
    size_t cap = f->table_cap ? f->table_cap * 2 : 8;
    metric_series **t = calloc(cap, sizeof *t);
    if (!t)
      return AGENTAI_ENOMEM;
    for (size_t i = 0; i < f->nseries; i++)
      table_put(t, cap, f->series[i]);
    free(f->table);
    f->table = t;
    f->table_cap = cap;
  }
  return 0;
}

static int series_create(metric_family *f, const char *key, size_t key_len, uint64_t hash,
                         metric_series **out) {
  if (f->nseries >= METRICS_MAX_SERIES)
    return AGENTAI_E2BIG;
  int rc = family_reserve(f);
  if (rc < 0)
    return rc;
  size_t ncounts = f->kind == KIND_HISTOGRAM ? f->nbuckets + 1 : 0;
  metric_series *s = calloc(1, sizeof *s + ncounts * sizeof(uint64_t) + key_len + 1);
  if (!s)
    return AGENTAI_ENOMEM;
  s->kind = f->kind;
  s->bounds = f->bounds;
  s->nbuckets = f->nbuckets;
  s->hash = hash;
  s->labels_len = key_len;
  s->labels = (char *)(s->counts + ncounts);
  memcpy(s->labels, key, key_len);
  s->labels[key_len] = '\0';
  f->series[f->nseries++] = s;
  table_put(f->table, f->table_cap, s);
  *out = s;
  return 0;
}

int metrics_series(metric_family *f, const char *const *label_values, metric_series **out) {
  if (out)
    *out = NULL;
  if (!f || !out)
    return AGENTAI_EINVAL;
  size_t n = 0;
  if (label_values)
    while (n <= f->nlabels && label_values[n])
      n++;
  if (n != f->nlabels)
    return AGENTAI_EINVAL;

  size_t key_len = n ? n - 1 : 0; /* commas */
  for (size_t i = 0; i < n; i++)
    key_len += strlen(f->label_names[i]) + 3 + esc_len(label_values[i], 1);
  char stack[KEY_STACK];
  char *key = key_len < sizeof stack ? stack : malloc(key_len + 1);
  if (!key)
    return AGENTAI_ENOMEM;
  char *p = key;
  for (size_t i = 0; i < n; i++) {
    if (i)
      *p++ = ',';
    size_t ln = strlen(f->label_names[i]);
    memcpy(p, f->label_names[i], ln);
    p += ln;
    *p++ = '=';
    *p++ = '"';
    p = esc_copy(p, label_values[i], 1);
    *p++ = '"';
  }
  uint64_t hash = n ? hash_key(key, key_len) : 0;
  int rc = 0;
  metric_series *s = table_find(f, key, key_len, hash);
  if (!s) {
    /* Checked only for new series: an existing one's values were valid. */
    for (size_t i = 0; i < n && rc == 0; i++)
      if (!utf8_valid(label_values[i]))
        rc = AGENTAI_EINVAL;
    if (rc == 0)
      rc = series_create(f, key, key_len, hash, &s);
  }
  if (key != stack)
    free(key);
  if (rc == 0)
    *out = s;
  return rc;
}

int metrics_series_fn(metric_family *f, const char *const *label_values, metrics_value_fn fn,
                      void *ud) {
  if (!f || f->kind == KIND_HISTOGRAM)
    return AGENTAI_EINVAL;
  metric_series *s;
  int rc = metrics_series(f, label_values, &s);
  if (rc < 0)
    return rc;
  s->fn = fn;
  s->ud = fn ? ud : NULL;
  return 0;
}

void metrics_inc(metric_series *s, double v) {
  if (!s || s->kind == KIND_HISTOGRAM)
    return;
  if (s->kind == KIND_COUNTER && !(v >= 0))
    return;
  s->value += v;
}

void metrics_set(metric_series *s, double v) {
  if (s && s->kind == KIND_GAUGE)
    s->value = v;
}

void metrics_observe(metric_series *s, double v) {
  if (!s || s->kind != KIND_HISTOGRAM || isnan(v))
    return;
  /* First bound >= v; past the last one is the +Inf bucket. */
  size_t lo = 0, hi = s->nbuckets;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v <= s->bounds[mid])
      hi = mid;
    else
      lo = mid + 1;
  }
  s->counts[lo]++;
  s->count++;
  s->value += v;
}

double metrics_value(const metric_series *s) {
  if (!s || s->kind == KIND_HISTOGRAM)
    return NAN;
  return s->fn ? s->fn(s->ud) : s->value;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} mbuf;

static void mb_put(mbuf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void mb_str(mbuf *b, const char *s) {
  mb_put(b, s, strlen(s));
}

static void mb_double(mbuf *b, double v) {
  char num[32];
  mb_put(b, num, fmt_double(num, v));
}

static void mb_u64(mbuf *b, uint64_t v) {
  char num[32];
  int n = snprintf(num, sizeof num, "%" PRIu64, v);
  mb_put(b, num, (size_t)n);
}

static void render_histogram(mbuf *b, const metric_family *f, const metric_series *s) {
  uint64_t cum = 0;
  for (size_t i = 0; i <= f->nbuckets; i++) {
    cum += s->counts[i];
    mb_str(b, f->name);
    mb_str(b, "_bucket{");
    mb_put(b, s->labels, s->labels_len);
    if (s->labels_len)
      mb_put(b, ",", 1);
    mb_str(b, "le=\"");
    mb_str(b, i < f->nbuckets ? f->le[i] : "+Inf");
    mb_str(b, "\"} ");
    mb_u64(b, cum);
    mb_put(b, "\n", 1);
  }
  static const char *const tails[] = {"_sum", "_count"};
  for (size_t t = 0; t < 2; t++) {
    mb_str(b, f->name);
    mb_str(b, tails[t]);
    if (s->labels_len) {
      mb_put(b, "{", 1);
      mb_put(b, s->labels, s->labels_len);
      mb_put(b, "}", 1);
    }
    mb_put(b, " ", 1);
    if (t == 0)
      mb_double(b, s->value);
    else
      mb_u64(b, s->count);
    mb_put(b, "\n", 1);
  }
}

int metrics_render(metrics *m, char **out, size_t *len) {
  if (out)
    *out = NULL;
  if (len)
    *len = 0;
  if (!m || !out || !len)
    return AGENTAI_EINVAL;
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  mbuf b = {0};
  b.cap = m->last_len ? m->last_len + m->last_len / 4 + 1 : 4096;
  b.p = malloc(b.cap);
  if (!b.p)
    return AGENTAI_ENOMEM;
  locale_t old = uselocale(m->c_locale);
  for (const metric_family *f = m->head; f; f = f->next) {
    if (!f->nseries)
      continue;
    mb_str(&b, "# HELP ");
    mb_str(&b, f->name);
    mb_put(&b, " ", 1);
    mb_str(&b, f->help);
    mb_str(&b, "\n# TYPE ");
    mb_str(&b, f->name);
    mb_put(&b, " ", 1);
    mb_str(&b, type_names[f->kind]);
    mb_put(&b, "\n", 1);
    for (size_t i = 0; i < f->nseries; i++) {
      const metric_series *s = f->series[i];
      if (f->kind == KIND_HISTOGRAM) {
        render_histogram(&b, f, s);
        continue;
      }
      mb_str(&b, f->name);
      if (s->labels_len) {
        mb_put(&b, "{", 1);
        mb_put(&b, s->labels, s->labels_len);
        mb_put(&b, "}", 1);
      }
      mb_put(&b, " ", 1);
      mb_double(&b, s->fn ? s->fn(s->ud) : s->value);
      mb_put(&b, "\n", 1);
    }
  }
  uselocale(old);
  if (b.oom) {
    free(b.p);
    return AGENTAI_ENOMEM;
  }
  b.p[b.len] = '\0';
  m->last_len = b.len;
  *out = b.p;
  *len = b.len;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Process metrics                                                          */
/* ------------------------------------------------------------------------ */

/* Reads a small /proc file whole into buf (NUL-terminated); -1 on error. */
static ssize_t read_proc(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r < 0)
        n = 0, buf[0] = '\0';
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return n ? (ssize_t)n : -1;
}

/* Fields of /proc/self/stat from field 3 (state) on: the command name
 * before it is in parentheses and may itself hold spaces and ')'. Fills
 * out[k] with field (3 + k) for k < n. */
static int proc_stat_fields(unsigned long long *out, size_t n) {
  char buf[4096];
  if (read_proc("/proc/self/stat", buf, sizeof buf) < 0)
    return -1;
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  p++;
  for (size_t k = 0; k < n; k++) {
    while (*p == ' ')
      p++;
    if (!*p)
      return -1;
    if (k == 0) { /* the state letter */
      out[k] = (unsigned char)*p++;
      continue;
    }
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno)
      return -1;
    out[k] = (unsigned long long)v;
    p = end;
  }
  return 0;
}

static double proc_rss(void *ud) {
  (void)ud;
  char buf[256];
  unsigned long long size, resident;
  if (read_proc("/proc/self/statm", buf, sizeof buf) < 0 ||
      sscanf(buf, "%llu %llu", &size, &resident) != 2)
    return NAN;
  return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double proc_cpu(void *ud) {
  (void)ud;
  unsigned long long f[13]; /* fields 3..15: utime is 14, stime 15 */
  long tck = sysconf(_SC_CLK_TCK);
  if (proc_stat_fields(f, 13) < 0 || tck <= 0)
    return NAN;
  return (double)(f[11] + f[12]) / (double)tck;
}

static double proc_fds(void *ud) {
  (void)ud;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return NAN;
  double n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

/* Start time in Unix seconds: boot time (btime of /proc/stat) plus the
 * process' start in clock ticks since boot (field 22 of /proc/self/stat). */
static int proc_start_time(double *out) {
  unsigned long long f[20]; /* fields 3..22 */
  long tck = sysconf(_SC_CLK_TCK);
  if (proc_stat_fields(f, 20) < 0 || tck <= 0)
    return AGENTAI_EIO;
  /* Line by line: the "intr" line before btime can be tens of kilobytes. */
  FILE *fp = fopen("/proc/stat", "re");
  if (!fp)
    return AGENTAI_EIO;
  char *line = NULL;
  size_t cap = 0;
  unsigned long long btime = 0;
  int found = 0;
  while (!found && getline(&line, &cap, fp) >= 0)
    found = sscanf(line, "btime %llu", &btime) == 1;
  free(line);
  fclose(fp);
  if (!found)
    return AGENTAI_EIO;
  *out = (double)btime + (double)f[19] / (double)tck;
  return 0;
}

int metrics_process(metrics *m) {
  if (!m)
    return AGENTAI_EINVAL;
  double start;
  int rc = proc_start_time(&start);
  if (rc < 0)
    return rc;
  metric_family *old_tail = m->tail;
  metric_family *rss = NULL, *cpu = NULL, *fds = NULL, *st = NULL;
  if ((rc = metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.",
                          NULL, &rss)) < 0 ||
      (rc = metrics_counter(m, "process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", NULL, &cpu)) < 0 ||
      (rc = metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL, &fds)) <
          0 ||
      (rc = metrics_gauge(m, "process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.", NULL, &st)) <
          0) {
    /* All or none: drop what this call registered. */
    metric_family *f = old_tail ? old_tail->next : m->head;
    while (f) {
      metric_family *next = f->next;
      family_free(f);
      f = next;
    }
    if (old_tail)
      old_tail->next = NULL;
    else
      m->head = NULL;
    m->tail = old_tail;
    return rc;
  }
  metrics_series_fn(rss, NULL, proc_rss, NULL);
  metrics_series_fn(cpu, NULL, proc_cpu, NULL);
  metrics_series_fn(fds, NULL, proc_fds, NULL);
  metrics_set(st->series[0], start);
  return 0;
}
