/* obs/metrics.h — Prometheus metrics: counters, gauges, histograms; text exposition 0.0.4. */
#pragma once

#include <stddef.h>

/*
 * A registry holds families (a name, a help text, a type and label names);
 * a family holds series (one combination of label values). Look a series up
 * once and keep the pointer: updating it is O(1) and never allocates.
 *
 * Threading: none. Every call, including rendering, happens on the loop
 * thread; nothing here locks.
 *
 * Lifetime: families and series belong to their registry and stay valid
 * until metrics_free(). Strings passed in are copied; nothing passed in is
 * kept except the ud of a value callback.
 */

/** The Content-Type of what metrics_render() produces. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/** Most upper bounds a histogram may have (+Inf not counted). */
#define METRICS_MAX_BUCKETS 64

/** Most series one family may hold: a label fed from outside input cannot
 *  grow a registry without bound; past it metrics_series() fails with
 *  AGENTAI_E2BIG. */
#define METRICS_MAX_SERIES 10000

/** Number of entries in metrics_latency_buckets. */
#define METRICS_LATENCY_BUCKETS_N 14

/** Default latency buckets in seconds, 0.5 ms to 10 s. */
extern const double metrics_latency_buckets[METRICS_LATENCY_BUCKETS_N];

typedef struct metrics metrics;             /* a registry */
typedef struct metric_family metric_family; /* name, help, type, label names */
typedef struct metric_series metric_series; /* one label-value combination */

/** Computes a series' value at scrape time (on the loop thread). Return NaN
 *  when the value is unavailable; it renders as NaN. */
typedef double (*metrics_value_fn)(void *ud);

/** Creates an empty registry in *out. 0 or AGENTAI_ENOMEM. */
int metrics_new(metrics **out);

/** Frees the registry with its families and series. NULL is a no-op. */
void metrics_free(metrics *m);

/**
 * Registers a counter. name matches [a-zA-Z_:][a-zA-Z0-9_:]* and gets the
 * suffix "_total" unless it ends with it; help is UTF-8 (escaped on output);
 * label_names is a NULL-terminated array of distinct [a-zA-Z_][a-zA-Z0-9_]*
 * names not starting with "__", or NULL for none. A family without labels
 * has its one series from the start (value 0).
 * Returns 0 and the family in *out; AGENTAI_EINVAL for a bad name, label or
 * help; AGENTAI_EEXIST when one of its sample names is taken by a family of
 * this registry (e.g. gauge "x_count" vs histogram "x"); AGENTAI_ENOMEM.
 */
int metrics_counter(metrics *m, const char *name, const char *help, const char *const *label_names,
                    metric_family **out);

/** Registers a gauge; same rules as metrics_counter() without the suffix. */
int metrics_gauge(metrics *m, const char *name, const char *help, const char *const *label_names,
                  metric_family **out);

/**
 * Registers a histogram; same rules as metrics_gauge(), and "le" is not a
 * label name. buckets are nbuckets finite, strictly increasing upper bounds
 * (a trailing +Inf is accepted and dropped: +Inf is always rendered), at most
 * METRICS_MAX_BUCKETS; buckets NULL with nbuckets 0 means
 * metrics_latency_buckets. Bad buckets are AGENTAI_EINVAL.
 */
int metrics_histogram(metrics *m, const char *name, const char *help,
                      const char *const *label_names, const double *buckets, size_t nbuckets,
                      metric_family **out);

/**
 * Gets or creates the series of f for label_values: a NULL-terminated array
 * with exactly one UTF-8 value per label name, in the family's order (NULL
 * for a family without labels). Values are escaped on output. Returns 0 and
 * the series in *out; AGENTAI_EINVAL for a wrong count or invalid UTF-8;
 * AGENTAI_E2BIG past METRICS_MAX_SERIES; AGENTAI_ENOMEM. An existing series
 * is found without allocating (unless its labels exceed 512 bytes).
 */
int metrics_series(metric_family *f, const char *const *label_values, metric_series **out);

/**
 * Makes the series of f for label_values (created if needed, as
 * metrics_series()) take its value from fn(ud) at every render instead of
 * from metrics_inc/metrics_set; fn NULL goes back to the stored value. For
 * counters and gauges only (AGENTAI_EINVAL for a histogram). A counter's fn
 * must never go down. ud is borrowed until metrics_free().
 */
int metrics_series_fn(metric_family *f, const char *const *label_values, metrics_value_fn fn,
                      void *ud);

/** Adds v to a counter (v < 0 or NaN is ignored: counters never go down)
 *  or a gauge (any v). Ignored for a histogram or NULL. O(1). */
void metrics_inc(metric_series *s, double v);

/** Sets a gauge to v. Ignored for counters, histograms and NULL. O(1). */
void metrics_set(metric_series *s, double v);

/** Records v in a histogram: its bucket, _sum and _count. NaN, NULL and
 *  non-histograms are ignored. O(log METRICS_MAX_BUCKETS), no allocation. */
void metrics_observe(metric_series *s, double v);

/** Current value of a counter or gauge (its fn's if it has one); NaN for a
 *  histogram or NULL. */
double metrics_value(const metric_series *s);

/**
 * Registers the standard process families, read from /proc/self at each
 * render: process_resident_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, and process_start_time_seconds (read once now: it does
 * not change). All four or none: AGENTAI_EEXIST if one is taken,
 * AGENTAI_EIO if /proc cannot be read, AGENTAI_ENOMEM.
 */
int metrics_process(metrics *m);

/**
 * Renders every family with at least one series, in registration order,
 * series in creation order, as Prometheus text format 0.0.4 (see
 * METRICS_CONTENT_TYPE). *out receives a malloc'd NUL-terminated buffer the
 * caller frees, *len its length without the NUL. 0 or AGENTAI_ENOMEM (then
 * *out is NULL). Runs the value callbacks.
 */
int metrics_render(metrics *m, char **out, size_t *len);
