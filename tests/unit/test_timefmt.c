/* tests/unit/test_timefmt.c — RFC 3339 time text: parsing every accepted form, refusing the rest,
 * formatting, the year 0000..9999 range and round trips. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agentai/plugin.h"
#include "check.h"
#include "core/timefmt.h"

static void check_time(const char *text, int64_t want_ms, const char *want_text) {
  int64_t ms = 42;
  char out[32];
  if (timefmt_parse(text, &ms) != 0)
    fprintf(stderr, "time that should parse: %s\n", text);
  CHECK_EQ_INT(timefmt_parse(text, &ms), 0);
  CHECK_EQ_INT(ms, want_ms);
  CHECK_EQ_INT(timefmt_format(ms, out), 0);
  CHECK_EQ_INT(strlen(out), TIMEFMT_LEN);
  CHECK_STR_CONTAINS(out, want_text);
  int64_t back = 0;
  CHECK_EQ_INT(timefmt_parse(out, &back), 0);
  CHECK_EQ_INT(back, ms);
}

/* text is refused and *ms is left alone. */
static void check_refused(const char *text) {
  int64_t ms = 42;
  if (timefmt_parse(text, &ms) != AGENTAI_EINVAL)
    fprintf(stderr, "time that should not parse: '%s'\n", text);
  CHECK_EQ_INT(timefmt_parse(text, &ms), AGENTAI_EINVAL);
  CHECK_EQ_INT(ms, 42);
}

static void test_time_text(void) {
  check_time("1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00.000Z");
  check_time("0", 0, "1970-01-01T00:00:00.000Z");
  check_time("2026-11-25T01:02:03Z", 1795568523000LL, "2026-11-25T01:02:03.000Z");
  check_time("2026-11-25t01:02:03.004z", 1795568523004LL, "2026-11-25T01:02:03.004Z");
  check_time("2026-11-25 01:02:03.1Z", 1795568523100LL, "2026-11-25T01:02:03.100Z");
  check_time("2026-11-25T01:02:03.123999999Z", 1795568523123LL, "2026-11-25T01:02:03.123Z");
  check_time("2026-11-25T03:02:03+02:00", 1795568523000LL, "2026-11-25T01:02:03.000Z");
  check_time("2026-11-24T23:02:03-02:00", 1795568523000LL, "2026-11-25T01:02:03.000Z");
  check_time("2026-11-25T01:02:03-00:00", 1795568523000LL, "2026-11-25T01:02:03.000Z");
  check_time("1795568523", 1795568523000LL, "2026-11-25T01:02:03.000Z");
  check_time("-1", -1000, "1969-12-31T23:59:59.000Z");
  check_time("1969-12-31T23:59:59.5Z", -500, "1969-12-31T23:59:59.500Z");
  check_time("2024-02-29T12:00:00Z", 1709208000000LL, "2024-02-29T12:00:00.000Z");
  check_time("2000-02-29T00:00:00Z", 951782400000LL, "2000-02-29T00:00:00.000Z");
  check_time("0000-01-01T00:00:00Z", -62167219200000LL, "0000-01-01T00:00:00.000Z");
  check_time("9999-12-31T23:59:59.999Z", 253402300799999LL, "9999-12-31T23:59:59.999Z");
  check_time("253402300799", 253402300799000LL, "9999-12-31T23:59:59.000Z");

  const char *bad[] = {"",
                       "x",
                       "-",
                       "1.5",
                       "2026-11-25",
                       "2026-11-25T01:02Z",
                       "2026-11-25T01:02:03",
                       "2026-11-25T01:02:03.Z",
                       "2026-11-25T01:02:03ZZ",
                       "2026-11-25T01:02:03+0100",
                       "2026-11-25T01:02:03+01",
                       "2026-11-25T01:02:03+24:00",
                       "2026-11-25T01:02:03+01:60",
                       "2026-11-25X01:02:03Z",
                       "2026-13-01T00:00:00Z",
                       "2026-00-01T00:00:00Z",
                       "2026-01-00T00:00:00Z",
                       "2026-04-31T00:00:00Z",
                       "2023-02-29T00:00:00Z",
                       "1900-02-29T00:00:00Z",
                       "2026-01-01T24:00:00Z",
                       "2026-01-01T00:60:00Z",
                       "2026-01-01T00:00:60Z",
                       "26-01-01T00:00:00Z",
                       "+2026-01-01T00:00:00Z",
                       " 2026-01-01T00:00:00Z",
                       "2026-01-01T00:00:00Z ",
                       "0000-01-01T00:00:00+00:01", /* before year 0 */
                       "9999-12-31T23:59:59-00:01", /* after year 9999 */
                       "253402300800",
                       "-62167219201",
                       "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_refused(bad[i]);
  int64_t ms = 0;
  CHECK_EQ_INT(timefmt_parse(NULL, &ms), AGENTAI_EINVAL);

  char out[32] = "x";
  CHECK_EQ_INT(timefmt_format(253402300800000LL, out), AGENTAI_EINVAL);
  CHECK_EQ_INT(out[0], 0);
  CHECK_EQ_INT(timefmt_format(-62167219200001LL, out), AGENTAI_EINVAL);
  CHECK_EQ_INT(timefmt_format(INT64_MIN, out), AGENTAI_EINVAL);
  CHECK_EQ_INT(timefmt_format(INT64_MAX, out), AGENTAI_EINVAL);
  /* every day for 1,200 years round-trips through text */
  for (int64_t d = -200 * 366; d < 1000 * 366; d += 1) {
    int64_t t = d * 86400000 + (d % 86400000 + 86400000) % 86400000, back = 0;
    CHECK_EQ_INT(timefmt_format(t, out), 0);
    CHECK_EQ_INT(timefmt_parse(out, &back), 0);
    CHECK_EQ_INT(back, t);
  }
}

/* Integer unix seconds: the sign and digit rules, leading zeros, and the int64 edges (the
 * seconds reader does its own range arithmetic, so its limits are checked one by one). */
static void test_unix_seconds(void) {
  check_time("-0", 0, "1970-01-01T00:00:00.000Z");
  check_time("007", 7000, "1970-01-01T00:00:07.000Z");
  check_time("0000000000000000000000000001", 1000, "1970-01-01T00:00:01.000Z");
  check_time("-62167219200", TIMEFMT_MIN_MS, "0000-01-01T00:00:00.000Z");
  check_time("253402300799", TIMEFMT_MAX_MS - 999, "9999-12-31T23:59:59.000Z");
  static const char *const bad[] = {"--1",
                                    "1-",
                                    "+1",
                                    "1 ",
                                    "0x10",
                                    "1e3",
                                    "9223372036854775807",
                                    "9223372036854775808",
                                    "-9223372036854775808",
                                    "-9223372036854775809",
                                    "000000000000253402300800",
                                    "184467440737095516161844674407370955161"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_refused(bad[i]);
  CHECK_EQ_INT(timefmt_parse("0", NULL), AGENTAI_EINVAL);
}

/* The exact text at the epoch and at both ends of the range. */
static void test_format_exact(void) {
  char out[32];
  CHECK_EQ_INT(timefmt_format(0, out), 0);
  CHECK(strcmp(out, "1970-01-01T00:00:00.000Z") == 0);
  CHECK_EQ_INT(timefmt_format(TIMEFMT_MIN_MS, out), 0);
  CHECK(strcmp(out, "0000-01-01T00:00:00.000Z") == 0);
  CHECK_EQ_INT(timefmt_format(TIMEFMT_MAX_MS, out), 0);
  CHECK(strcmp(out, "9999-12-31T23:59:59.999Z") == 0);
  CHECK_EQ_INT(timefmt_format(-1, out), 0);
  CHECK(strcmp(out, "1969-12-31T23:59:59.999Z") == 0);
  CHECK_EQ_INT(strlen(out), TIMEFMT_LEN);
}

int main(void) {
  RUN(test_time_text);
  RUN(test_unix_seconds);
  RUN(test_format_exact);
  CHECK_DONE();
}
