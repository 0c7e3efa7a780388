/* tests/unit/test_metrics.c — metrics: exact text, escaping, buckets, refusals, promtool. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "check.h"
#include "obs/metrics.h"

#define CHECK_STR_EQ(got, want)                                                     \
  do {                                                                              \
    const char *g_ = (got), *w_ = (want);                                           \
    check_count_++;                                                                 \
    if (!g_ || strcmp(g_, w_) != 0) {                                               \
      fprintf(stderr, "%s:%d: got\n  [%s]\nexpected\n  [%s]\n", __FILE__, __LINE__, \
              g_ ? g_ : "(null)", w_);                                              \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

static char g_dir[256]; /* mkdtemp folder for promtool's output */

static metrics *new_reg(void) {
  metrics *m = NULL;
  CHECK_EQ_INT(metrics_new(&m), 0);
  CHECK(m != NULL);
  return m;
}

/* Renders m; the caller frees. Checks the length and the terminating NUL. */
static char *render(metrics *m) {
  char *text = NULL;
  size_t len = 12345;
  CHECK_EQ_INT(metrics_render(m, &text, &len), 0);
  CHECK(text != NULL);
  CHECK_EQ_INT(len, strlen(text));
  return text;
}

static void check_render(metrics *m, const char *want) {
  char *text = render(m);
  CHECK_STR_EQ(text, want);
  free(text);
}

static metric_family *counter(metrics *m, const char *name, const char *help,
                              const char *const *labels) {
  metric_family *f = NULL;
  CHECK_EQ_INT(metrics_counter(m, name, help, labels, &f), 0);
  CHECK(f != NULL);
  return f;
}

static metric_family *gauge(metrics *m, const char *name, const char *help,
                            const char *const *labels) {
  metric_family *f = NULL;
  CHECK_EQ_INT(metrics_gauge(m, name, help, labels, &f), 0);
  CHECK(f != NULL);
  return f;
}

static metric_family *histogram(metrics *m, const char *name, const char *const *labels,
                                const double *b, size_t nb) {
  metric_family *f = NULL;
  CHECK_EQ_INT(metrics_histogram(m, name, "Latency.", labels, b, nb, &f), 0);
  CHECK(f != NULL);
  return f;
}

static metric_series *series(metric_family *f, const char *const *values) {
  metric_series *s = NULL;
  CHECK_EQ_INT(metrics_series(f, values, &s), 0);
  CHECK(s != NULL);
  return s;
}

/* Value of the sample line that starts with `prefix ` in text; NAN if none. */
static double sample(const char *text, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (!strncmp(p, prefix, n) && p[n] == ' ')
      return strtod(p + n + 1, NULL);
  }
  return NAN;
}

static void test_counter_and_gauge_text(void) {
  metrics *m = new_reg();
  const char *labels[] = {"method", "code", NULL};
  metric_family *req = counter(m, "http_requests", "Requests served.", labels);
  metric_family *up = gauge(m, "up_gauge", "Whether it runs.", NULL);
  metric_family *done = counter(m, "jobs_done_total", "Jobs done.", NULL);

  metric_series *get200 = series(req, (const char *[]){"GET", "200", NULL});
  metric_series *post500 = series(req, (const char *[]){"POST", "500", NULL});
  /* the same values find the same series */
  CHECK(series(req, (const char *[]){"GET", "200", NULL}) == get200);
  CHECK(get200 != post500);
  metrics_inc(get200, 1);
  metrics_inc(get200, 2);
  metrics_inc(post500, 0.5);
  metrics_set(series(up, NULL), 1);
  metrics_inc(series(done, NULL), 7);

  check_render(m, "# HELP http_requests_total Requests served.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
                  "http_requests_total{method=\"POST\",code=\"500\"} 0.5\n"
                  "# HELP up_gauge Whether it runs.\n"
                  "# TYPE up_gauge gauge\n"
                  "up_gauge 1\n"
                  "# HELP jobs_done_total Jobs done.\n"
                  "# TYPE jobs_done_total counter\n"
                  "jobs_done_total 7\n");
  metrics_free(m);
}

static void test_empty_and_unlabelled(void) {
  metrics *m = new_reg();
  check_render(m, "");
  /* a labelled family without series renders nothing; an unlabelled one is at 0 */
  const char *labels[] = {"route", NULL};
  counter(m, "hits", "Hits.", labels);
  gauge(m, "queue_depth", "Depth.", NULL);
  check_render(m, "# HELP queue_depth Depth.\n"
                  "# TYPE queue_depth gauge\n"
                  "queue_depth 0\n");
  metrics_free(m);
  metrics_free(NULL);
}

static void test_escaping(void) {
  metrics *m = new_reg();
  const char *labels[] = {"path", "who", NULL};
  metric_family *f = gauge(m, "esc", "Back\\slash, \"quotes\"\nand a newline.", labels);
  metrics_set(series(f, (const char *[]){"a\\b\"c\nd", "h\xc3\xa9llo", NULL}), 2);
  metrics_set(series(f, (const char *[]){"", "x", NULL}), 3);
  check_render(m, "# HELP esc Back\\\\slash, \"quotes\"\\nand a newline.\n"
                  "# TYPE esc gauge\n"
                  "esc{path=\"a\\\\b\\\"c\\nd\",who=\"h\xc3\xa9llo\"} 2\n"
                  "esc{path=\"\",who=\"x\"} 3\n");
  /* escaping is part of the key: a value that looks escaped is another series */
  metric_series *a = series(f, (const char *[]){"a\\b\"c\nd", "h\xc3\xa9llo", NULL});
  metric_series *b = series(f, (const char *[]){"a\\\\b\\\"c\\nd", "h\xc3\xa9llo", NULL});
  CHECK(a != b);
  CHECK(metrics_value(a) == 2);
  CHECK(metrics_value(b) == 0);
  metrics_free(m);
}

static void test_histogram_cumulative(void) {
  metrics *m = new_reg();
  const double b[] = {0.25, 0.5, 1};
  metric_family *h = histogram(m, "op_seconds", NULL, b, 3);
  metric_series *s = series(h, NULL);
  metrics_observe(s, 0.25); /* le is inclusive */
  metrics_observe(s, 0.125);
  metrics_observe(s, 0.5);
  metrics_observe(s, 2);
  metrics_observe(s, 7);
  metrics_observe(s, NAN); /* ignored */
  metrics_observe(s, -1);  /* lowest bucket */
  check_render(m, "# HELP op_seconds Latency.\n"
                  "# TYPE op_seconds histogram\n"
                  "op_seconds_bucket{le=\"0.25\"} 3\n"
                  "op_seconds_bucket{le=\"0.5\"} 4\n"
                  "op_seconds_bucket{le=\"1\"} 4\n"
                  "op_seconds_bucket{le=\"+Inf\"} 6\n"
                  "op_seconds_sum 8.875\n"
                  "op_seconds_count 6\n");
  metrics_observe(s, INFINITY);
  char *text = render(m);
  CHECK(sample(text, "op_seconds_bucket{le=\"1\"}") == 4);
  CHECK(sample(text, "op_seconds_bucket{le=\"+Inf\"}") == 7);
  CHECK_STR_CONTAINS(text, "op_seconds_sum +Inf\n");
  free(text);
  metrics_free(m);

  /* labelled, with a trailing +Inf bound given explicitly (dropped, not doubled) */
  m = new_reg();
  const double b2[] = {1, INFINITY};
  const char *labels[] = {"route", NULL};
  h = histogram(m, "req_seconds", labels, b2, 2);
  metrics_observe(series(h, (const char *[]){"/a", NULL}), 0.5);
  metrics_observe(series(h, (const char *[]){"/b", NULL}), 3);
  metrics_observe(series(h, (const char *[]){"/a", NULL}), 1.5);
  check_render(m, "# HELP req_seconds Latency.\n"
                  "# TYPE req_seconds histogram\n"
                  "req_seconds_bucket{route=\"/a\",le=\"1\"} 1\n"
                  "req_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
                  "req_seconds_sum{route=\"/a\"} 2\n"
                  "req_seconds_count{route=\"/a\"} 2\n"
                  "req_seconds_bucket{route=\"/b\",le=\"1\"} 0\n"
                  "req_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
                  "req_seconds_sum{route=\"/b\"} 3\n"
                  "req_seconds_count{route=\"/b\"} 1\n");
  metrics_free(m);
}

static void test_default_buckets(void) {
  metrics *m = new_reg();
  metric_family *h = histogram(m, "lat_seconds", NULL, NULL, 0);
  metric_series *s = series(h, NULL);
  metrics_observe(s, 0.0005);
  metrics_observe(s, 0.003);
  metrics_observe(s, 11);
  char *text = render(m);
  static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                    "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                    "1",      "2.5",   "5",      "10",    "+Inf"};
  static const int want[] = {1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
  const char *p = text;
  for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lat_seconds_bucket{le=\"%s\"}", les[i]);
    const char *at = strstr(p, prefix);
    CHECK_STR_CONTAINS(p, prefix); /* present, and after the previous bound */
    CHECK(sample(text, prefix) == want[i]);
    p = at;
  }
  CHECK_EQ_INT(METRICS_LATENCY_BUCKETS_N, 14);
  CHECK(metrics_latency_buckets[0] == 0.0005 && metrics_latency_buckets[13] == 10);
  free(text);
  metrics_free(m);
}

static void test_number_format(void) {
  metrics *m = new_reg();
  const char *labels[] = {"v", NULL};
  metric_family *g = gauge(m, "num", "Numbers.", labels);
  static const struct {
    const char *label;
    double v;
  } cases[] = {{"tenth", 0.1},      {"third", 1.0 / 3}, {"neg", -2.5},
               {"big", 1e21},       {"int", 123456789}, {"two53", 9007199254740992.0},
               {"tiny", 5e-05},     {"nan", NAN},       {"inf", INFINITY},
               {"ninf", -INFINITY}, {"zero", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    metrics_set(series(g, (const char *[]){cases[i].label, NULL}), cases[i].v);
  check_render(m, "# HELP num Numbers.\n"
                  "# TYPE num gauge\n"
                  "num{v=\"tenth\"} 0.1\n"
                  "num{v=\"third\"} 0.3333333333333333\n"
                  "num{v=\"neg\"} -2.5\n"
                  "num{v=\"big\"} 1e+21\n"
                  "num{v=\"int\"} 123456789\n"
                  "num{v=\"two53\"} 9007199254740992\n"
                  "num{v=\"tiny\"} 5e-05\n"
                  "num{v=\"nan\"} NaN\n"
                  "num{v=\"inf\"} +Inf\n"
                  "num{v=\"ninf\"} -Inf\n"
                  "num{v=\"zero\"} 0\n");
  /* every finite value reads back exactly */
  double hard[] = {0.1 + 0.2, 1e-300, 123.456, -7.0e-9, 2.5e15 + 0.5};
  metric_series *hs = series(g, (const char *[]){"hard", NULL});
  for (size_t i = 0; i < sizeof hard / sizeof *hard; i++) {
    metrics_set(hs, hard[i]);
    char *text = render(m);
    CHECK(sample(text, "num{v=\"hard\"}") == hard[i]);
    free(text);
  }
  metrics_free(m);
}

static void test_update_semantics(void) {
  metrics *m = new_reg();
  metric_series *c = series(counter(m, "c", "C.", NULL), NULL);
  metric_series *g = series(gauge(m, "g", "G.", NULL), NULL);
  metric_series *h = series(histogram(m, "h", NULL, NULL, 0), NULL);
  metrics_inc(c, 2);
  metrics_inc(c, -1);  /* counters never go down */
  metrics_inc(c, NAN); /* nor become NaN */
  metrics_set(c, 100); /* not a gauge */
  metrics_observe(c, 5);
  CHECK(metrics_value(c) == 2);
  metrics_inc(g, 5);
  metrics_inc(g, -7);
  CHECK(metrics_value(g) == -2);
  metrics_set(g, 4.5);
  metrics_observe(g, 1);
  CHECK(metrics_value(g) == 4.5);
  metrics_inc(h, 3);
  metrics_set(h, 3);
  CHECK(isnan(metrics_value(h)));
  /* NULL (a failed lookup) is harmless */
  metrics_inc(NULL, 1);
  metrics_set(NULL, 1);
  metrics_observe(NULL, 1);
  CHECK(isnan(metrics_value(NULL)));
  char *text = render(m);
  CHECK(sample(text, "c_total") == 2);
  CHECK(sample(text, "g") == 4.5);
  CHECK(sample(text, "h_count") == 0);
  CHECK(sample(text, "h_sum") == 0);
  free(text);
  metrics_free(m);
}

/* Takes f by address: the call that fills it is another argument, and C leaves the order of
 * argument evaluation open. */
static void refused(int rc, int want, metric_family *const *f) {
  CHECK_EQ_INT(rc, want);
  CHECK(*f == NULL);
}

static void test_bad_names(void) {
  metrics *m = new_reg();
  metric_family *f = (metric_family *)1;
  static const char *const bad[] = {"", "1abc", "a-b", "a b", "caf\xc3\xa9", "a.b", "a{b}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    f = (metric_family *)1;
    refused(metrics_counter(m, bad[i], "h", NULL, &f), AGENTAI_EINVAL, &f);
    f = (metric_family *)1;
    refused(metrics_gauge(m, bad[i], "h", NULL, &f), AGENTAI_EINVAL, &f);
    f = (metric_family *)1;
    refused(metrics_histogram(m, bad[i], "h", NULL, NULL, 0, &f), AGENTAI_EINVAL, &f);
  }
  f = (metric_family *)1;
  refused(metrics_gauge(m, NULL, "h", NULL, &f), AGENTAI_EINVAL, &f);
  /* names may hold colons and digits after the first character */
  gauge(m, "ns:sub_2", "ok", NULL);
  gauge(m, ":x", "ok", NULL);
  gauge(m, "_y", "ok", NULL);

  /* help: required, valid UTF-8 */
  f = (metric_family *)1;
  refused(metrics_gauge(m, "nohelp", NULL, NULL, &f), AGENTAI_EINVAL, &f);
  f = (metric_family *)1;
  refused(metrics_gauge(m, "badhelp", "\xc3(", NULL, &f), AGENTAI_EINVAL, &f);
  f = (metric_family *)1;
  refused(metrics_gauge(m, "overlong", "\xc0\xaf", NULL, &f), AGENTAI_EINVAL, &f);
  f = (metric_family *)1;
  refused(metrics_gauge(m, "surrogate", "\xed\xa0\x80", NULL, &f), AGENTAI_EINVAL, &f);

  /* label names */
  static const char *const bad_labels[][3] = {{"__reserved", NULL, NULL}, {"a-b", NULL, NULL},
                                              {"1a", NULL, NULL},         {"a:b", NULL, NULL},
                                              {"", NULL, NULL},           {"x", "x", NULL}};
  for (size_t i = 0; i < sizeof bad_labels / sizeof *bad_labels; i++) {
    f = (metric_family *)1;
    refused(metrics_counter(m, "lbl", "h", bad_labels[i], &f), AGENTAI_EINVAL, &f);
  }
  f = (metric_family *)1;
  refused(metrics_histogram(m, "hle", "h", (const char *[]){"le", NULL}, NULL, 0, &f),
          AGENTAI_EINVAL, &f);
  gauge(m, "gle", "le is fine outside histograms", (const char *[]){"le", "_x", NULL});

  /* buckets */
  const double unsorted[] = {1, 0.5}, dup[] = {1, 1}, nan[] = {0.1, NAN}, ninf[] = {-INFINITY, 1};
  const double *bad_b[] = {unsorted, dup, nan, ninf};
  for (size_t i = 0; i < 4; i++) {
    f = (metric_family *)1;
    refused(metrics_histogram(m, "hb", "h", NULL, bad_b[i], 2, &f), AGENTAI_EINVAL, &f);
  }
  f = (metric_family *)1;
  refused(metrics_histogram(m, "hb", "h", NULL, NULL, 3, &f), AGENTAI_EINVAL, &f);
  double many[METRICS_MAX_BUCKETS + 1];
  for (size_t i = 0; i < METRICS_MAX_BUCKETS + 1; i++)
    many[i] = (double)i;
  f = (metric_family *)1;
  refused(metrics_histogram(m, "hb", "h", NULL, many, METRICS_MAX_BUCKETS + 1, &f), AGENTAI_EINVAL,
          &f);
  histogram(m, "hb_max", NULL, many, METRICS_MAX_BUCKETS);
  histogram(m, "hb_inf_only", NULL, (const double[]){INFINITY}, 1);

  CHECK_EQ_INT(metrics_gauge(NULL, "x", "h", NULL, &f), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_gauge(m, "x", "h", NULL, NULL), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_new(NULL), AGENTAI_EINVAL);

  /* nothing refused was registered */
  char *text = render(m);
  CHECK(strstr(text, "lbl") == NULL);
  CHECK(strstr(text, "hb ") == NULL && strstr(text, "hb_bucket") == NULL);
  CHECK(strstr(text, "nohelp") == NULL && strstr(text, "badhelp") == NULL);
  CHECK_STR_CONTAINS(text, "# TYPE ns:sub_2 gauge\n");
  CHECK_STR_CONTAINS(text, "hb_max_bucket{le=\"63\"} 0\n");
  CHECK_STR_CONTAINS(text, "hb_inf_only_bucket{le=\"+Inf\"} 0\nhb_inf_only_sum");
  free(text);
  metrics_free(m);
}

static void test_name_collisions(void) {
  metrics *m = new_reg();
  metric_family *f;
  counter(m, "reqs", "h", NULL);
  f = (metric_family *)1;
  refused(metrics_counter(m, "reqs_total", "h", NULL, &f), AGENTAI_EEXIST, &f);
  f = (metric_family *)1;
  refused(metrics_counter(m, "reqs", "h", (const char *[]){"x", NULL}, &f), AGENTAI_EEXIST, &f);
  f = (metric_family *)1;
  refused(metrics_gauge(m, "reqs_total", "h", NULL, &f), AGENTAI_EEXIST, &f);
  gauge(m, "reqs", "a gauge without the suffix is another name", NULL);

  histogram(m, "lat", NULL, NULL, 0);
  static const char *const taken[] = {"lat", "lat_bucket", "lat_sum", "lat_count"};
  for (size_t i = 0; i < 4; i++) {
    f = (metric_family *)1;
    refused(metrics_gauge(m, taken[i], "h", NULL, &f), AGENTAI_EEXIST, &f);
  }
  gauge(m, "lat_buckets", "h", NULL);
  gauge(m, "la", "h", NULL);

  gauge(m, "size_count", "h", NULL);
  f = (metric_family *)1;
  refused(metrics_histogram(m, "size", "h", NULL, NULL, 0, &f), AGENTAI_EEXIST, &f);
  f = (metric_family *)1;
  refused(metrics_histogram(m, "lat_sum", "h", NULL, NULL, 0, &f), AGENTAI_EEXIST, &f);
  f = (metric_family *)1;
  refused(metrics_histogram(m, "la", "h", NULL, NULL, 0, &f), AGENTAI_EEXIST, &f);
  metrics_free(m);
}

static void test_series_lookup(void) {
  metrics *m = new_reg();
  const char *labels[] = {"a", "b", NULL};
  metric_family *f = counter(m, "s", "h", labels);
  metric_series *s = (metric_series *)1;
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"x", NULL}, &s), AGENTAI_EINVAL);
  CHECK(s == NULL);
  s = (metric_series *)1;
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"x", "y", "z", NULL}, &s), AGENTAI_EINVAL);
  CHECK(s == NULL);
  CHECK_EQ_INT(metrics_series(f, NULL, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"x", "\xff", NULL}, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"\xe2\x82", "y", NULL}, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series(NULL, NULL, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"x", "y", NULL}, NULL), AGENTAI_EINVAL);
  metric_family *plain = gauge(m, "plain", "h", NULL);
  CHECK_EQ_INT(metrics_series(plain, (const char *[]){"x", NULL}, &s), AGENTAI_EINVAL);
  CHECK(series(plain, NULL) == series(plain, (const char *[]){NULL}));

  /* many series: stable pointers across table growth, creation order on output */
  enum { N = 1000 };
  metric_series *all[N];
  for (int i = 0; i < N; i++) {
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", i);
    snprintf(b, sizeof b, "%d", N - i);
    all[i] = series(f, (const char *[]){a, b, NULL});
    metrics_inc(all[i], i);
  }
  for (int i = 0; i < N; i++) {
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", i);
    snprintf(b, sizeof b, "%d", N - i);
    CHECK(series(f, (const char *[]){a, b, NULL}) == all[i]);
  }
  /* label boundaries matter: ("1","23") is not ("12","3") */
  CHECK(series(f, (const char *[]){"1", "23", NULL}) !=
        series(f, (const char *[]){"12", "3", NULL}));
  char *text = render(m);
  const char *p = text;
  for (int i = 0; i < N; i++) {
    char line[64];
    snprintf(line, sizeof line, "s_total{a=\"%d\",b=\"%d\"} %d\n", i, N - i, i);
    const char *at = strstr(p, line);
    if (!at)
      fprintf(stderr, "missing or out of order: %s", line);
    CHECK(at != NULL);
    p = at + strlen(line);
  }
  free(text);

  /* labels longer than the lookup's stack key */
  char big[2000];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  metric_series *l1 = series(f, (const char *[]){big, "\"", NULL});
  CHECK(series(f, (const char *[]){big, "\"", NULL}) == l1);
  metrics_inc(l1, 9);
  text = render(m);
  CHECK_STR_CONTAINS(text, "qqq\",b=\"\\\"\"} 9\n");
  free(text);
  metrics_free(m);
}

static void test_series_limit(void) {
  metrics *m = new_reg();
  metric_family *f = gauge(m, "lim", "h", (const char *[]){"i", NULL});
  metric_series *s;
  char v[16];
  for (int i = 0; i < METRICS_MAX_SERIES; i++) {
    snprintf(v, sizeof v, "%d", i);
    CHECK_EQ_INT(metrics_series(f, (const char *[]){v, NULL}, &s), 0);
  }
  s = (metric_series *)1;
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"one-more", NULL}, &s), AGENTAI_E2BIG);
  CHECK(s == NULL);
  /* existing series are still found */
  CHECK_EQ_INT(metrics_series(f, (const char *[]){"42", NULL}, &s), 0);
  CHECK(s != NULL);
  metrics_free(m);
}

static double counter_fn(void *ud) {
  return (double)++*(int *)ud;
}

static double half_fn(void *ud) {
  return *(double *)ud / 2;
}

static void test_value_fn(void) {
  metrics *m = new_reg();
  int calls = 0;
  double base = 9;
  metric_family *c = counter(m, "scrapes", "Scrapes.", NULL);
  metric_family *g = gauge(m, "half", "Half.", (const char *[]){"k", NULL});
  metric_family *h = histogram(m, "hh", NULL, NULL, 0);
  CHECK_EQ_INT(metrics_series_fn(c, NULL, counter_fn, &calls), 0);
  CHECK_EQ_INT(metrics_series_fn(g, (const char *[]){"a", NULL}, half_fn, &base), 0);
  CHECK_EQ_INT(metrics_series_fn(h, NULL, counter_fn, &calls), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series_fn(g, NULL, half_fn, &base), AGENTAI_EINVAL);
  CHECK_EQ_INT(metrics_series_fn(NULL, NULL, half_fn, &base), AGENTAI_EINVAL);
  metric_series *gs = series(g, (const char *[]){"a", NULL});
  metrics_set(gs, 100); /* the fn wins */
  check_render(m, "# HELP scrapes_total Scrapes.\n"
                  "# TYPE scrapes_total counter\n"
                  "scrapes_total 1\n"
                  "# HELP half Half.\n"
                  "# TYPE half gauge\n"
                  "half{k=\"a\"} 4.5\n"
                  "# HELP hh Latency.\n"
                  "# TYPE hh histogram\n"
                  "hh_bucket{le=\"0.0005\"} 0\n"
                  "hh_bucket{le=\"0.001\"} 0\n"
                  "hh_bucket{le=\"0.0025\"} 0\n"
                  "hh_bucket{le=\"0.005\"} 0\n"
                  "hh_bucket{le=\"0.01\"} 0\n"
                  "hh_bucket{le=\"0.025\"} 0\n"
                  "hh_bucket{le=\"0.05\"} 0\n"
                  "hh_bucket{le=\"0.1\"} 0\n"
                  "hh_bucket{le=\"0.25\"} 0\n"
                  "hh_bucket{le=\"0.5\"} 0\n"
                  "hh_bucket{le=\"1\"} 0\n"
                  "hh_bucket{le=\"2.5\"} 0\n"
                  "hh_bucket{le=\"5\"} 0\n"
                  "hh_bucket{le=\"10\"} 0\n"
                  "hh_bucket{le=\"+Inf\"} 0\n"
                  "hh_sum 0\n"
                  "hh_count 0\n");
  base = 3;
  char *text = render(m);
  CHECK(sample(text, "scrapes_total") == 2);
  CHECK(sample(text, "half{k=\"a\"}") == 1.5);
  free(text);
  /* fn NULL: back to the stored value */
  CHECK_EQ_INT(metrics_series_fn(g, (const char *[]){"a", NULL}, NULL, NULL), 0);
  text = render(m);
  CHECK(sample(text, "half{k=\"a\"}") == 100);
  free(text);
  CHECK_EQ_INT(calls, 3);
  metrics_free(m);
}

/* Open descriptors counted without /proc: the ones fcntl knows. */
static long long count_fds(void) {
  long long n = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) != -1)
      n++;
  return n;
}

static void test_process(void) {
  metrics *m = new_reg();
  time_t before = time(NULL);
  CHECK_EQ_INT(metrics_process(m), 0);
  char *text = render(m);
  CHECK_STR_CONTAINS(text, "# TYPE process_resident_memory_bytes gauge\n");
  CHECK_STR_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\n");
  CHECK_STR_CONTAINS(text, "# TYPE process_open_fds gauge\n");
  CHECK_STR_CONTAINS(text, "# TYPE process_start_time_seconds gauge\n");
  double rss = sample(text, "process_resident_memory_bytes");
  double cpu = sample(text, "process_cpu_seconds_total");
  double fds = sample(text, "process_open_fds");
  double start = sample(text, "process_start_time_seconds");
  free(text);
  CHECK(rss > 1024 * 1024 && rss < 64.0 * 1024 * 1024 * 1024);
  CHECK(cpu >= 0 && cpu < 600);
  CHECK_EQ_INT((long long)fds, count_fds());
  /* started at most a minute ago (boot time has one-second resolution) */
  CHECK(start <= (double)before + 2 && start > (double)before - 60);

  /* the descriptor count follows the process */
  int fd = open("/dev/null", O_RDONLY);
  CHECK(fd >= 0);
  text = render(m);
  CHECK(sample(text, "process_open_fds") == fds + 1);
  free(text);
  close(fd);

  /* CPU time grows with work */
  volatile double x = 0;
  clock_t c0 = clock();
  while (clock() - c0 < CLOCKS_PER_SEC / 4)
    x += 1;
  CHECK(x > 0);
  text = render(m);
  CHECK(sample(text, "process_cpu_seconds_total") >= cpu + 0.1);
  free(text);

  /* twice: refused, and the first set stays whole */
  CHECK_EQ_INT(metrics_process(m), AGENTAI_EEXIST);
  text = render(m);
  const char *first = strstr(text, "# TYPE process_open_fds");
  CHECK(first != NULL && strstr(first + 1, "# TYPE process_open_fds") == NULL);
  free(text);
  metrics_free(m);

  /* all or none: a clash on the third name leaves none of them */
  m = new_reg();
  gauge(m, "before", "h", NULL);
  gauge(m, "process_open_fds", "Mine.", NULL);
  CHECK_EQ_INT(metrics_process(m), AGENTAI_EEXIST);
  gauge(m, "after", "h", NULL);
  check_render(m, "# HELP before h\n# TYPE before gauge\nbefore 0\n"
                  "# HELP process_open_fds Mine.\n# TYPE process_open_fds gauge\n"
                  "process_open_fds 0\n"
                  "# HELP after h\n# TYPE after gauge\nafter 0\n");
  metrics_free(m);
  CHECK_EQ_INT(metrics_process(NULL), AGENTAI_EINVAL);
}

/* Finds promtool on PATH; fails the test (not a skip) when it is absent. */
static void find_promtool(char *out, size_t cap) {
  const char *path = getenv("PATH");
  if (path) {
    const char *p = path;
    while (*p) {
      size_t n = strcspn(p, ":");
      snprintf(out, cap, "%.*s/promtool", (int)n, p);
      if (n && access(out, X_OK) == 0)
        return;
      p += n;
      if (*p == ':')
        p++;
    }
  }
  fprintf(stderr, "promtool not found on PATH: run packaging/install-deps.sh "
                  "(it installs the Debian package prometheus, which provides promtool)\n");
  CHECK(!"promtool is installed");
}

/* Pipes text to `promtool check metrics`; returns its exit status and its
 * output (stdout and stderr) in out. */
static int promtool_check(const char *text, char *out, size_t cap) {
  char tool[1024], outpath[512], cmd[2048];
  find_promtool(tool, sizeof tool);
  snprintf(outpath, sizeof outpath, "%s/promtool.out", g_dir);
  snprintf(cmd, sizeof cmd, "'%s' check metrics >'%s' 2>&1", tool, outpath);
  FILE *p = popen(cmd, "w");
  CHECK(p != NULL);
  fwrite(text, 1, strlen(text), p);
  int status = pclose(p);
  CHECK(status != -1 && WIFEXITED(status));
  FILE *f = fopen(outpath, "r");
  CHECK(f != NULL);
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  fclose(f);
  unlink(outpath);
  return WEXITSTATUS(status);
}

static void test_promtool(void) {
  metrics *m = new_reg();
  metric_family *req = counter(m, "agentai_http_requests", "HTTP requests by route and status.",
                               (const char *[]){"route", "status", NULL});
  metrics_inc(series(req, (const char *[]){"/v1/tasks", "200", NULL}), 12);
  metrics_inc(series(req, (const char *[]){"/v1/tasks/{id}", "404", NULL}), 1);
  metrics_inc(series(req, (const char *[]){"we\"ird\\pa\nth \xe2\x9c\x93", "500", NULL}), 1);
  metric_family *q = gauge(m, "agentai_queue_depth", "Tasks waiting, with \\ and\nnewline.", NULL);
  metrics_set(series(q, NULL), 3);
  metric_family *lat =
      histogram(m, "agentai_http_request_duration_seconds", (const char *[]){"route", NULL},
                metrics_latency_buckets, METRICS_LATENCY_BUCKETS_N);
  metric_series *ls = series(lat, (const char *[]){"/v1/tasks", NULL});
  for (int i = 0; i < 100; i++)
    metrics_observe(ls, 0.0001 * i * i);
  metrics_observe(series(lat, (const char *[]){"/health", NULL}), 0.0002);
  histogram(m, "agentai_empty_seconds", NULL, (const double[]){0.1, 1}, 2);
  metric_family *nan =
      gauge(m, "agentai_special_ratio", "Special values.", (const char *[]){"kind", NULL});
  metrics_set(series(nan, (const char *[]){"nan", NULL}), NAN);
  metrics_set(series(nan, (const char *[]){"inf", NULL}), -INFINITY);
  CHECK_EQ_INT(metrics_process(m), 0);
  char *text = render(m);

  char out[8192];
  int rc = promtool_check(text, out, sizeof out);
  if (rc != 0 || out[0])
    fprintf(stderr, "promtool said (exit %d):\n%s\non:\n%s", rc, out, text);
  CHECK_EQ_INT(rc, 0);
  CHECK_STR_EQ(out, "");
  free(text);
  metrics_free(m);

  /* the check can fail: promtool rejects broken text and lints bad style */
  rc = promtool_check("# TYPE x counter\nx{a=\"1} 1\n", out, sizeof out);
  CHECK(rc != 0);
  rc = promtool_check("# HELP x_seconds X.\n# TYPE x_seconds counter\nx_seconds 1\n", out,
                      sizeof out);
  CHECK(rc != 0);
  CHECK_STR_CONTAINS(out, "_total");
}

/* Removes the scratch folder, also when a failed CHECK exits early. */
static void remove_dir(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/promtool.out", g_dir);
  unlink(path);
  rmdir(g_dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* promtool may exit before reading all of its input */
  snprintf(g_dir, sizeof g_dir, "/tmp/agentai-metrics-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  atexit(remove_dir);
  RUN(test_counter_and_gauge_text);
  RUN(test_empty_and_unlabelled);
  RUN(test_escaping);
  RUN(test_histogram_cumulative);
  RUN(test_default_buckets);
  RUN(test_number_format);
  RUN(test_update_semantics);
  RUN(test_bad_names);
  RUN(test_name_collisions);
  RUN(test_series_lookup);
  RUN(test_series_limit);
  RUN(test_value_fn);
  RUN(test_process);
  RUN(test_promtool);
  remove_dir();
  CHECK(access(g_dir, F_OK) != 0);
  CHECK_DONE();
}
