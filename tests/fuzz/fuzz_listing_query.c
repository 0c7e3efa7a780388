/* tests/fuzz/fuzz_listing_query.c — libFuzzer target: a query string to listing_parse over a
 * fixed schema; accepted queries are matched against fixed records and checked against the
 * index hints they give (listing_eq_values, listing_time_bounds). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentai/plugin.h"
#include "api/listing.h"
#include "core/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const STATUSES[] = {"queued", "running",   "succeeded",
                                       "failed", "cancelled", NULL};
static const listing_field FIELDS[] = {
    {"id", LISTING_STRING, NULL, LISTING_ORDERABLE},
    {"status", LISTING_STRING, STATUSES, 0},
    {"name", LISTING_STRING, NULL, 0},
    {"attempts", LISTING_INT, NULL, LISTING_ORDERABLE},
    {"created_at", LISTING_TIME, NULL, LISTING_ORDERABLE},
    {"done", LISTING_BOOL, NULL, 0},
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const char *const RECORDS[] = {
    "{\"id\":\"tsk_01\",\"status\":\"running\",\"name\":\"Build, (fast)\",\"attempts\":3,"
    "\"created_at\":\"2026-11-25T01:02:03.500Z\",\"done\":false}",
    "{\"id\":\"tsk_02\",\"status\":\"queued\",\"name\":\"caf\\u00e9 \\ud83d\\ude42 a*b_c\","
    "\"attempts\":0,\"created_at\":1795568523,\"done\":true}",
    "{\"id\":\"\",\"status\":\"failed\",\"name\":\"\",\"attempts\":-9223372036854775808,"
    "\"created_at\":\"0000-01-01T00:00:00+00:00\",\"done\":true}",
    "{\"name\":5,\"attempts\":3.5,\"created_at\":\"soon\",\"status\":null,\"done\":0}",
    "{\"attempts\":1e300,\"created_at\":-1.25,\"name\":\"say \\\"hi\\\" \\\\ 100%\"}",
    "{}",
    "[1,2,3]",
};
#define NRECORDS (sizeof RECORDS / sizeof RECORDS[0])

static cJSON *g_records[NRECORDS];

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_listing_query: %s: %s\n", what, detail ? detail : "");
  abort();
}

/* Written independently of the module: is s well-formed UTF-8? */
static int valid_utf8(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    unsigned c = *u;
    size_t k = c < 0x80                 ? 1
               : c >= 0xC2 && c <= 0xDF ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (!k)
      return 0;
    for (size_t i = 1; i < k; i++)
      if ((u[i] & 0xC0) != 0x80)
        return 0;
    u += k;
  }
  return 1;
}

/* The canonical text of field f in record r, as listing_eq_values would write it, and its
 * number for INT and TIME; 0 when the field is missing under the module's rules. */
static int record_value(const cJSON *r, const listing_field *f, char text[64], int64_t *num) {
  const cJSON *v = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, f->name) : NULL;
  switch (f->type) {
    case LISTING_STRING:
      if (!cJSON_IsString(v) || strlen(v->valuestring) >= 64)
        return 0;
      strcpy(text, v->valuestring);
      return 1;
    case LISTING_INT: {
      if (!cJSON_IsNumber(v))
        return 0;
      double d = v->valuedouble;
      if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return 0;
      *num = (int64_t)d;
      snprintf(text, 64, "%lld", (long long)*num);
      return 1;
    }
    case LISTING_TIME:
      if (cJSON_IsString(v)) {
        if (timefmt_parse(v->valuestring, num) != 0)
          return 0;
      } else if (cJSON_IsNumber(v)) {
        double ms = floor(v->valuedouble * 1000.0);
        if (!(ms >= -62167219200000.0 && ms <= 253402300799999.0))
          return 0;
        *num = (int64_t)ms;
      } else {
        return 0;
      }
      if (timefmt_format(*num, text) != 0)
        die("a record time does not format", NULL);
      return 1;
    case LISTING_BOOL:
      if (!cJSON_IsBool(v))
        return 0;
      strcpy(text, cJSON_IsTrue(v) ? "true" : "false");
      return 1;
  }
  return 0;
}

static void check_refusal(int rc, const listing_query *q, const listing_error *err) {
  if (q)
    die("a refused query still produced a query", err->message);
  if (rc != AGENTAI_EINVAL && rc != AGENTAI_ENOMEM)
    die("unexpected error code", err->message);
  size_t n = strnlen(err->message, sizeof err->message);
  if (n == 0 || n == sizeof err->message || !valid_utf8(err->message))
    die("refusal without a bounded UTF-8 message", err->message);
  size_t pn = strnlen(err->param, sizeof err->param);
  if (pn == sizeof err->param || !valid_utf8(err->param))
    die("param not a bounded UTF-8 string", err->message);
  /* a short printable param is named in the message */
  int printable = pn > 0 && pn <= 40;
  for (size_t i = 0; i < pn && printable; i++)
    printable = (unsigned char)err->param[i] >= 0x20 && err->param[i] != 0x7f;
  if (printable && !strstr(err->message, err->param))
    die("message does not name its param", err->message);
}

static void check_query(const listing_query *q) {
  int limit = listing_limit(q);
  if (limit < 1 || limit > LISTING_MAX_LIMIT)
    die("limit out of range", NULL);
  const char *cur = listing_cursor(q);
  if (cur) {
    size_t n = strlen(cur);
    if (n < 1 || n > LISTING_MAX_CURSOR ||
        strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                    "vwxyz0123456789_-") != n)
      die("bad cursor accepted", cur);
  }
  const listing_field *of = listing_order_field(q);
  if (!of || of < FIELDS || of >= FIELDS + NFIELDS || !(of->flags & LISTING_ORDERABLE))
    die("order field not an orderable schema field", NULL);
  if (listing_filter_count(q) > LISTING_MAX_FILTERS)
    die("too many filters accepted", NULL);

  int matched[NRECORDS];
  for (size_t r = 0; r < NRECORDS; r++) {
    matched[r] = listing_match(q, g_records[r]);
    if (matched[r] != 0 && matched[r] != 1)
      die("listing_match returned other than 0 or 1", RECORDS[r]);
  }

  for (size_t f = 0; f < NFIELDS; f++) {
    const char *const *vals = NULL;
    size_t nv = 0;
    int has_eq = listing_eq_values(q, FIELDS[f].name, &vals, &nv);
    if (has_eq < 0 || (has_eq == 1 && (!vals || nv == 0)) || (has_eq == 0 && (vals || nv)))
      die("listing_eq_values broke its contract", FIELDS[f].name);
    int64_t lo = 0, hi = 0;
    int has_bounds = listing_time_bounds(q, FIELDS[f].name, &lo, &hi);
    int ranged = FIELDS[f].type == LISTING_INT || FIELDS[f].type == LISTING_TIME;
    if (ranged ? has_bounds < 0 : has_bounds != AGENTAI_EINVAL)
      die("listing_time_bounds broke its contract", FIELDS[f].name);
    if (has_bounds == 0 && (lo != INT64_MIN || hi != INT64_MAX))
      die("unbounded field with bounds", FIELDS[f].name);
    if (has_eq == 1 && FIELDS[f].enum_values)
      for (size_t i = 0; i < nv; i++) {
        int found = 0;
        for (const char *const *e = FIELDS[f].enum_values; *e; e++)
          found |= strcmp(*e, vals[i]) == 0;
        if (!found)
          die("an eq value outside the enum", vals[i]);
      }

    /* every record that matches lies inside the hints */
    for (size_t r = 0; r < NRECORDS; r++) {
      if (!matched[r])
        continue;
      char text[64];
      int64_t num = 0;
      int present = record_value(g_records[r], &FIELDS[f], text, &num);
      if (has_eq == 1) {
        int found = 0;
        for (size_t i = 0; present && i < nv; i++)
          found |= strcmp(vals[i], text) == 0;
        if (!found)
          die("a matching record is outside listing_eq_values", RECORDS[r]);
      }
      if (has_bounds == 1 && (!present || num < lo || num > hi))
        die("a matching record is outside listing_time_bounds", RECORDS[r]);
    }
  }
}

/* Times the parser accepts format and parse back to the same instant. */
static void check_time_text(const char *text) {
  int64_t ms = 0, back = 0;
  char out[32];
  if (timefmt_parse(text, &ms) != 0)
    return;
  if (timefmt_format(ms, out) != 0 || strlen(out) != TIMEFMT_LEN)
    die("a parsed time does not format", text);
  if (timefmt_parse(out, &back) != 0 || back != ms)
    die("a formatted time does not parse back", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_records[0])
    for (size_t i = 0; i < NRECORDS; i++)
      if (!(g_records[i] = cJSON_Parse(RECORDS[i])))
        die("a fixed record does not parse", RECORDS[i]);

  /* exact-size copy: ASan flags any read past the NUL */
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  listing_query *q = (listing_query *)1;
  listing_error err;
  int rc = listing_parse(text, FIELDS, NFIELDS, "created_at.desc", &q, &err);
  if (rc != 0)
    check_refusal(rc, q, &err);
  else if (!q || err.message[0] || err.param[0])
    die("an accepted query without a query or with an error", err.message);
  else
    check_query(q);
  listing_free(rc == 0 ? q : NULL);

  check_time_text(text);
  free(text);
  return 0;
}
