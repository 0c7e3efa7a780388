/* tests/unit/test_listing.c — the listing query language: every operator on every type,
 * negation, in-lists, like patterns, order/limit/cursor, percent decoding and every error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentai/plugin.h"
#include "api/listing.h"
#include "check.h"

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

/* A record most filters below are written against. */
static const char *REC = "{\"id\":\"tsk_0002\",\"status\":\"running\",\"name\":\"Build, (fast)\","
                         "\"attempts\":3,\"created_at\":\"2026-11-25T01:02:03.500Z\","
                         "\"done\":false}";

/* Checks s is valid UTF-8 (messages go into JSON bodies). */
static int valid_utf8(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    size_t k = *u < 0x80 ? 1 : (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3 : 4;
    if (*u >= 0x80 && *u < 0xC2)
      return 0;
    for (size_t i = 1; i < k; i++)
      if ((u[i] & 0xC0) != 0x80)
        return 0;
    u += k;
  }
  return 1;
}

/* Parses qs from an exact-size heap copy (ASan sees any read past its NUL). */
static int parse_copy(const char *qs, const char *def, listing_query **q, listing_error *err) {
  char *copy = strdup(qs);
  CHECK(copy != NULL);
  int rc = listing_parse(copy, FIELDS, NFIELDS, def, q, err);
  free(copy);
  return rc;
}

static listing_query *parse_ok(const char *qs) {
  listing_query *q = (listing_query *)1;
  listing_error err;
  int rc = parse_copy(qs, "created_at.desc", &q, &err);
  if (rc != 0)
    fprintf(stderr, "query that should parse: %s\n  error: %s\n", qs, err.message);
  CHECK_EQ_INT(rc, 0);
  CHECK(q != NULL);
  CHECK_EQ_INT(err.message[0], 0);
  CHECK_EQ_INT(err.param[0], 0);
  return q;
}

/* Expects qs to be refused with param `param` and a message containing `needle` and naming the
 * parameter. Returns nothing; the message is left in g_err for exact checks. */
static listing_error g_err;
static void parse_fails(const char *qs, const char *param, const char *needle) {
  listing_query *q = (listing_query *)1;
  int rc = parse_copy(qs, "created_at.desc", &q, &g_err);
  if (rc != AGENTAI_EINVAL)
    fprintf(stderr, "query that should fail: %s\n", qs);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK(q == NULL);
  if (strcmp(g_err.param, param) != 0)
    fprintf(stderr, "query %s: param '%s', expected '%s'\n", qs, g_err.param, param);
  CHECK(strcmp(g_err.param, param) == 0);
  CHECK_STR_CONTAINS(g_err.message, needle);
  if (param[0])
    CHECK_STR_CONTAINS(g_err.message, param);
  CHECK(valid_utf8(g_err.message));
  CHECK(valid_utf8(g_err.param));
}

/* 1/0: does the record (JSON text) pass the query? */
static int matches(const char *qs, const char *json) {
  listing_query *q = parse_ok(qs);
  cJSON *rec = cJSON_Parse(json);
  CHECK(rec != NULL);
  int r = listing_match(q, rec);
  CHECK(r == 0 || r == 1);
  cJSON_Delete(rec);
  listing_free(q);
  return r;
}

/* ---------------------------------------------------------------------- */

static void test_defaults(void) {
  const char *empties[] = {"", "&", "&&&"};
  for (size_t i = 0; i < 3; i++) {
    listing_query *q = parse_ok(empties[i]);
    CHECK_EQ_INT(listing_limit(q), LISTING_DEFAULT_LIMIT);
    CHECK(listing_cursor(q) == NULL);
    CHECK(listing_order_field(q) == &FIELDS[4]);
    CHECK_EQ_INT(listing_order_desc(q), 1);
    CHECK_EQ_INT(listing_filter_count(q), 0);
    CHECK_EQ_INT(listing_match(q, NULL), 1);
    listing_free(q);
  }
  listing_query *q = NULL;
  listing_error err;
  CHECK_EQ_INT(listing_parse(NULL, FIELDS, NFIELDS, NULL, &q, &err), 0);
  CHECK(listing_order_field(q) == NULL);
  CHECK_EQ_INT(listing_order_desc(q), 0);
  cJSON *arr = cJSON_Parse("[1,2]");
  CHECK_EQ_INT(listing_match(q, arr), 1);
  cJSON_Delete(arr);
  listing_free(q);
  listing_free(NULL);
  CHECK_EQ_INT(listing_match(NULL, NULL), 0);

  /* err may be NULL; a NULL out pointer or a schema without names is refused. */
  CHECK_EQ_INT(listing_parse("limit=0", FIELDS, NFIELDS, NULL, &q, NULL), AGENTAI_EINVAL);
  CHECK(q == NULL);
  CHECK_EQ_INT(listing_parse("", FIELDS, NFIELDS, NULL, NULL, &err), AGENTAI_EINVAL);
  static const listing_field nameless[] = {{NULL, LISTING_INT, NULL, 0}};
  CHECK_EQ_INT(listing_parse("", nameless, 1, NULL, &q, &err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err.message, "no name");
  CHECK_EQ_INT(listing_parse("", NULL, 3, NULL, &q, &err), AGENTAI_EINVAL);
  /* An empty schema has only the reserved names. */
  CHECK_EQ_INT(listing_parse("limit=5", NULL, 0, NULL, &q, &err), 0);
  CHECK_EQ_INT(listing_limit(q), 5);
  listing_free(q);
  CHECK_EQ_INT(listing_parse("id=eq.x", NULL, 0, NULL, &q, &err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err.message, "unknown field 'id' (known: none;");
}

static void test_string_ops(void) {
  CHECK_EQ_INT(matches("name=eq.Build,+(fast)", REC), 1);
  CHECK_EQ_INT(matches("name=eq.build,+(fast)", REC), 0); /* case-sensitive */
  CHECK_EQ_INT(matches("name=neq.Build,+(fast)", REC), 0);
  CHECK_EQ_INT(matches("name=neq.x", REC), 1);
  CHECK_EQ_INT(matches("id=gt.tsk_0001", REC), 1);
  CHECK_EQ_INT(matches("id=gt.tsk_0002", REC), 0);
  CHECK_EQ_INT(matches("id=gte.tsk_0002", REC), 1);
  CHECK_EQ_INT(matches("id=gte.tsk_0003", REC), 0);
  CHECK_EQ_INT(matches("id=lt.tsk_0003", REC), 1);
  CHECK_EQ_INT(matches("id=lt.tsk_0002", REC), 0);
  CHECK_EQ_INT(matches("id=lte.tsk_0002", REC), 1);
  CHECK_EQ_INT(matches("id=lte.tsk_0001", REC), 0);
  CHECK_EQ_INT(matches("id=in.(tsk_0001,tsk_0002)", REC), 1);
  CHECK_EQ_INT(matches("id=in.(tsk_0001,tsk_0003)", REC), 0);
  CHECK_EQ_INT(matches("name=like.Build*", REC), 1);
  CHECK_EQ_INT(matches("name=like.build*", REC), 0);
  /* bytewise order: a UTF-8 letter sorts after ASCII */
  CHECK_EQ_INT(matches("name=gt.%C3%A9", "{\"name\":\"z\"}"), 0);
  CHECK_EQ_INT(matches("name=lt.%C3%A9", "{\"name\":\"z\"}"), 1);
  /* the empty string is a value */
  CHECK_EQ_INT(matches("name=eq.", "{\"name\":\"\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.", REC), 0);

  /* missing or mistyped: neq true, everything else false */
  const char *missing[] = {"{}", "{\"name\":5}", "{\"name\":null}", "{\"name\":[\"x\"]}"};
  for (size_t i = 0; i < 4; i++) {
    CHECK_EQ_INT(matches("name=eq.x", missing[i]), 0);
    CHECK_EQ_INT(matches("name=neq.x", missing[i]), 1);
    CHECK_EQ_INT(matches("name=gt.", missing[i]), 0);
    CHECK_EQ_INT(matches("name=gte.", missing[i]), 0);
    CHECK_EQ_INT(matches("name=lt.zzz", missing[i]), 0);
    CHECK_EQ_INT(matches("name=lte.zzz", missing[i]), 0);
    CHECK_EQ_INT(matches("name=in.(x,5)", missing[i]), 0);
    CHECK_EQ_INT(matches("name=like.*", missing[i]), 0);
  }
}

static void test_enum(void) {
  CHECK_EQ_INT(matches("status=eq.running", REC), 1);
  CHECK_EQ_INT(matches("status=eq.queued", REC), 0);
  CHECK_EQ_INT(matches("status=neq.queued", REC), 1);
  CHECK_EQ_INT(matches("status=in.(queued,running)", REC), 1);
  CHECK_EQ_INT(matches("status=in.(queued,failed)", REC), 0);
  CHECK_EQ_INT(matches("status=like.run*", REC), 1); /* a pattern is not an enum value */
  CHECK_EQ_INT(matches("status=like.q*", REC), 0);

  parse_fails("status=eq.done", "status",
              "'done' in status=eq.done is not one of queued, running, succeeded, failed, "
              "cancelled");
  parse_fails("status=neq.Running", "status", "'Running' in status=neq.Running is not one of");
  parse_fails("status=in.(queued,nope)", "status", "'nope' in status=in.(queued,nope)");
  parse_fails("status=gt.queued", "status",
              "operator 'gt' does not apply to status, one of fixed values (use eq, neq, in or "
              "like)");
  parse_fails("status=gte.queued", "status", "operator 'gte' does not apply");
  parse_fails("status=lt.queued", "status", "operator 'lt' does not apply");
  parse_fails("status=lte.queued", "status", "operator 'lte' does not apply");
}

static void test_int_ops(void) {
  CHECK_EQ_INT(matches("attempts=eq.3", REC), 1);
  CHECK_EQ_INT(matches("attempts=eq.4", REC), 0);
  CHECK_EQ_INT(matches("attempts=neq.3", REC), 0);
  CHECK_EQ_INT(matches("attempts=neq.4", REC), 1);
  CHECK_EQ_INT(matches("attempts=gt.2", REC), 1);
  CHECK_EQ_INT(matches("attempts=gt.3", REC), 0);
  CHECK_EQ_INT(matches("attempts=gte.3", REC), 1);
  CHECK_EQ_INT(matches("attempts=gte.4", REC), 0);
  CHECK_EQ_INT(matches("attempts=lt.4", REC), 1);
  CHECK_EQ_INT(matches("attempts=lt.3", REC), 0);
  CHECK_EQ_INT(matches("attempts=lte.3", REC), 1);
  CHECK_EQ_INT(matches("attempts=lte.2", REC), 0);
  CHECK_EQ_INT(matches("attempts=in.(1,+3,+5)", REC), 1);
  CHECK_EQ_INT(matches("attempts=in.(1,5)", REC), 0);
  CHECK_EQ_INT(matches("attempts=gt.-1", "{\"attempts\":0}"), 1);
  CHECK_EQ_INT(matches("attempts=lt.-1", "{\"attempts\":-2}"), 1);
  /* integers are compared as integers, not as text */
  CHECK_EQ_INT(matches("attempts=gt.9", "{\"attempts\":10}"), 1);
  CHECK_EQ_INT(matches("attempts=eq.-9223372036854775808", "{\"attempts\":-9223372036854775808}"),
               1);
  CHECK_EQ_INT(matches("attempts=eq.9223372036854775807", "{\"attempts\":3}"), 0);
  /* a record number that is not an integer, a string or out of range is missing */
  CHECK_EQ_INT(matches("attempts=gt.1", "{\"attempts\":3.5}"), 0);
  CHECK_EQ_INT(matches("attempts=neq.1", "{\"attempts\":3.5}"), 1);
  CHECK_EQ_INT(matches("attempts=eq.3", "{\"attempts\":\"3\"}"), 0);
  CHECK_EQ_INT(matches("attempts=gt.1", "{\"attempts\":1e300}"), 0);
  CHECK_EQ_INT(matches("attempts=lt.1", "{}"), 0);
  CHECK_EQ_INT(matches("attempts=neq.1", "{}"), 1);

  parse_fails("attempts=eq.abc", "attempts", "'abc' in attempts=eq.abc is not an integer");
  parse_fails("attempts=eq.", "attempts", "'' in attempts=eq. is not an integer");
  parse_fails("attempts=gt.1.5", "attempts", "'1.5' in attempts=gt.1.5 is not an integer");
  parse_fails("attempts=gt.%2B1", "attempts", "'+1' in");
  parse_fails("attempts=lt.9223372036854775808", "attempts", "is not an integer");
  parse_fails("attempts=lt.-9223372036854775809", "attempts", "is not an integer");
  parse_fails("attempts=in.(1,x)", "attempts", "'x' in attempts=in.(1,x) is not an integer");
  parse_fails("attempts=like.1*", "attempts",
              "operator 'like' does not apply to attempts, an integer (use eq, neq, gt, gte, lt, "
              "lte or in)");
}

static void test_time_ops(void) {
  /* REC's created_at is 2026-11-25T01:02:03.500Z */
  CHECK_EQ_INT(matches("created_at=eq.2026-11-25T01:02:03.5Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=eq.2026-11-25T02:02:03.500%2B01:00", REC), 1);
  CHECK_EQ_INT(matches("created_at=eq.2026-11-24T23:32:03.500-01:30", REC), 1);
  CHECK_EQ_INT(matches("created_at=eq.2026-11-25T01:02:03Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=neq.2026-11-25T01:02:03Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=neq.2026-11-25T01:02:03.500Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=gt.2026-11-25T01:02:03Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=gt.2026-11-25T01:02:03.500Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=gte.2026-11-25T01:02:03.500Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=gte.2026-11-25T01:02:03.501Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=lt.2026-11-25T01:02:04Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=lt.2026-11-25T01:02:03.500Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=lte.2026-11-25T01:02:03.500Z", REC), 1);
  CHECK_EQ_INT(matches("created_at=lte.2026-11-25T01:02:03.499Z", REC), 0);
  CHECK_EQ_INT(matches("created_at=in.(1,2026-11-25T01:02:03.500Z)", REC), 1);
  CHECK_EQ_INT(matches("created_at=in.(1,2)", REC), 0);
  /* unix seconds in the query: 1795568523 is 2026-11-25T01:02:03Z */
  CHECK_EQ_INT(matches("created_at=gt.1795568523", REC), 1);
  CHECK_EQ_INT(matches("created_at=gt.1795568524", REC), 0);
  /* ... and in the record, fractional seconds allowed */
  CHECK_EQ_INT(matches("created_at=eq.2026-11-25T01:02:03Z", "{\"created_at\":1795568523}"), 1);
  CHECK_EQ_INT(matches("created_at=eq.2026-11-25T01:02:03.25Z", "{\"created_at\":1795568523.25}"),
               1);
  /* an unparseable record time, or a boolean, is missing */
  CHECK_EQ_INT(matches("created_at=lt.2100-01-01T00:00:00Z", "{\"created_at\":\"soon\"}"), 0);
  CHECK_EQ_INT(matches("created_at=neq.2100-01-01T00:00:00Z", "{\"created_at\":\"soon\"}"), 1);
  CHECK_EQ_INT(matches("created_at=lt.2100-01-01T00:00:00Z", "{\"created_at\":true}"), 0);
  CHECK_EQ_INT(matches("created_at=lt.2100-01-01T00:00:00Z", "{\"created_at\":1e30}"), 0);

  parse_fails("created_at=gt.yesterday", "created_at",
              "'yesterday' in created_at=gt.yesterday is not a time (RFC 3339 as "
              "2026-11-25T01:02:03Z, or unix seconds)");
  /* an unencoded '+' of an offset arrives as a space: the message says so */
  parse_fails("created_at=gt.2026-11-25T01:02:03+01:00", "created_at", "write it as %2B");
  parse_fails("created_at=gt.2026-02-30T00:00:00Z", "created_at", "is not a time");
  parse_fails("created_at=in.(2026-11-25T01:02:03Z,x)", "created_at", "'x' in");
  parse_fails("created_at=like.2026*", "created_at",
              "operator 'like' does not apply to created_at, a time");
}

static void test_bool_ops(void) {
  CHECK_EQ_INT(matches("done=eq.false", REC), 1);
  CHECK_EQ_INT(matches("done=eq.true", REC), 0);
  CHECK_EQ_INT(matches("done=neq.true", REC), 1);
  CHECK_EQ_INT(matches("done=neq.false", REC), 0);
  CHECK_EQ_INT(matches("done=in.(true,false)", REC), 1);
  CHECK_EQ_INT(matches("done=in.(true)", REC), 0);
  CHECK_EQ_INT(matches("done=eq.true", "{\"done\":true}"), 1);
  CHECK_EQ_INT(matches("done=eq.false", "{\"done\":0}"), 0); /* not a JSON boolean */
  CHECK_EQ_INT(matches("done=neq.false", "{\"done\":\"false\"}"), 1);
  parse_fails("done=eq.yes", "done", "'yes' in done=eq.yes is not a boolean (true or false)");
  parse_fails("done=eq.True", "done", "is not a boolean");
  parse_fails("done=in.(true,1)", "done", "'1' in");
  const char *ops[] = {"gt", "gte", "lt", "lte", "like"};
  for (size_t i = 0; i < 5; i++) {
    char qs[64], want[96];
    snprintf(qs, sizeof qs, "done=%s.true", ops[i]);
    snprintf(want, sizeof want,
             "operator '%s' does not apply to done, a boolean (use eq, neq or in)", ops[i]);
    parse_fails(qs, "done", want);
  }
}

static void test_negation(void) {
  CHECK_EQ_INT(matches("status=not.eq.running", REC), 0);
  CHECK_EQ_INT(matches("status=not.eq.queued", REC), 1);
  CHECK_EQ_INT(matches("status=not.neq.running", REC), 1);
  CHECK_EQ_INT(matches("status=not.in.(failed,cancelled)", REC), 1);
  CHECK_EQ_INT(matches("status=not.in.(running,failed)", REC), 0);
  CHECK_EQ_INT(matches("attempts=not.gt.2", REC), 0);
  CHECK_EQ_INT(matches("attempts=not.gte.4", REC), 1);
  CHECK_EQ_INT(matches("attempts=not.lt.4", REC), 0);
  CHECK_EQ_INT(matches("attempts=not.lte.2", REC), 1);
  CHECK_EQ_INT(matches("name=not.like.Build*", REC), 0);
  CHECK_EQ_INT(matches("name=not.like.x*", REC), 1);
  CHECK_EQ_INT(matches("done=not.eq.true", REC), 1);
  CHECK_EQ_INT(matches("created_at=not.lt.2026-11-25T00:00:00Z", REC), 1);
  /* on a missing field negation flips the missing result: not.eq is like neq */
  CHECK_EQ_INT(matches("status=not.eq.running", "{}"), 1);
  CHECK_EQ_INT(matches("status=not.neq.running", "{}"), 0);
  CHECK_EQ_INT(matches("attempts=not.gt.2", "{}"), 1);
  CHECK_EQ_INT(matches("name=not.like.*", "{}"), 1);
  CHECK_EQ_INT(matches("status=not.in.(queued)", "{}"), 1);

  parse_fails("status=not.not.eq.running", "status", "unknown operator 'not' in");
  parse_fails("status=not.running", "status", "missing operator in status=not.running");
  parse_fails("status=not.", "status", "missing operator in status=not.");
  parse_fails("done=not.gt.true", "done", "operator 'gt' does not apply to done");
}

static void test_in_lists(void) {
  const char *rec = "{\"name\":\"a,b\"}";
  CHECK_EQ_INT(matches("name=in.(x,%22a,b%22)", rec), 1);
  CHECK_EQ_INT(matches("name=in.(x,a,b)", rec), 0);
  CHECK_EQ_INT(matches("name=in.(%22(p)%22)", "{\"name\":\"(p)\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(%22say+%5C%22hi%5C%22%22)", "{\"name\":\"say \\\"hi\\\"\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(%22back%5C%5Cslash%22)", "{\"name\":\"back\\\\slash\"}"), 1);
  /* spaces around elements go, inside quotes they stay; an unquoted backslash is literal */
  CHECK_EQ_INT(matches("name=in.(+x+,+y+)", "{\"name\":\"y\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(+x+,+%22+y+%22+)", "{\"name\":\" y \"}"), 1);
  CHECK_EQ_INT(matches("name=in.(+x+,+%22+y+%22+)", "{\"name\":\"y\"}"), 0);
  CHECK_EQ_INT(matches("name=in.(a+b)", "{\"name\":\"a b\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(a%5Cb)", "{\"name\":\"a\\\\b\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(%22%22)", "{\"name\":\"\"}"), 1);
  CHECK_EQ_INT(matches("name=in.(%22%22,x)", "{\"name\":\"x\"}"), 1);
  CHECK_EQ_INT(matches("status=in.(running)", REC), 1);

  parse_fails("status=in.()", "status", "empty in-list in status=in.() (give at least one value)");
  parse_fails("status=in.(+)", "status", "empty in-list");
  parse_fails("status=in.(queued,,running)", "status",
              "empty element in the in-list of status=in.(queued,,running)");
  parse_fails("status=in.(queued,)", "status", "empty element");
  parse_fails("status=in.(,queued)", "status", "empty element");
  parse_fails("status=in.queued,running", "status",
              "in needs a parenthesised list in status=in.queued,running (as "
              "status=in.(a,b))");
  parse_fails("status=in.(queued", "status", "in needs a parenthesised list");
  parse_fails("status=in.", "status", "in needs a parenthesised list");
  parse_fails("name=in.(%22abc)", "name", "unterminated quoted value in name=in.(\"abc)");
  parse_fails("name=in.(%22abc%5C%22)", "name", "unterminated quoted value");
  parse_fails("name=in.(%22a%5Cnb%22)", "name", "bad escape in a quoted value of name=");
  parse_fails("name=in.(%22a%5C)", "name", "bad escape");
  parse_fails("name=in.(%22a%22b)", "name", "unexpected 'b' after a quoted value in name=");
  parse_fails("name=in.(a(b)", "name", "'(' must be inside a quoted value in name=in.(a(b)");
  parse_fails("name=in.(a)b)", "name", "')' must be inside a quoted value");
  parse_fails("name=in.(a%22b)", "name", "'\"' must be inside a quoted value");
}

static void test_like(void) {
  const char *r = "{\"name\":\"report-2026_v1.txt\"}";
  CHECK_EQ_INT(matches("name=like.report*", r), 1);
  CHECK_EQ_INT(matches("name=like.report%25", r), 1); /* % is any run too */
  CHECK_EQ_INT(matches("name=like.*.txt", r), 1);
  CHECK_EQ_INT(matches("name=like.*.pdf", r), 0);
  CHECK_EQ_INT(matches("name=like.report", r), 0); /* anchored at both ends */
  CHECK_EQ_INT(matches("name=like.eport*", r), 0);
  CHECK_EQ_INT(matches("name=like.*2026*", r), 1);
  CHECK_EQ_INT(matches("name=like.report-____%5C_v1.txt", r), 1);
  CHECK_EQ_INT(matches("name=like.report-___%5C_v1.txt", r), 0);
  CHECK_EQ_INT(matches("name=like.*%5C_v_.txt", r), 1);
  CHECK_EQ_INT(matches("name=like.**%25*", r), 1);
  CHECK_EQ_INT(matches("name=like.*", "{\"name\":\"\"}"), 1);
  CHECK_EQ_INT(matches("name=like.", "{\"name\":\"\"}"), 1);
  CHECK_EQ_INT(matches("name=like.", r), 0);
  CHECK_EQ_INT(matches("name=like._", "{\"name\":\"\"}"), 0);
  /* escapes: \* \% \_ \\ are literal */
  CHECK_EQ_INT(matches("name=like.a%5C*", "{\"name\":\"a*\"}"), 1);
  CHECK_EQ_INT(matches("name=like.a%5C*", "{\"name\":\"ab\"}"), 0);
  CHECK_EQ_INT(matches("name=like.100%5C%25", "{\"name\":\"100%\"}"), 1);
  CHECK_EQ_INT(matches("name=like.100%5C%25", "{\"name\":\"1000\"}"), 0);
  CHECK_EQ_INT(matches("name=like.a%5C%5Cb", "{\"name\":\"a\\\\b\"}"), 1);
  CHECK_EQ_INT(matches("name=like.a%5Cb", "{\"name\":\"ab\"}"), 1); /* \b is plain b */
  /* _ is one character, not one byte */
  CHECK_EQ_INT(matches("name=like.caf_", "{\"name\":\"caf\\u00e9\"}"), 1);
  CHECK_EQ_INT(matches("name=like.caf__", "{\"name\":\"caf\\u00e9\"}"), 0);
  CHECK_EQ_INT(matches("name=like._%F0%9F%99%82_", "{\"name\":\"a\\ud83d\\ude42b\"}"), 1);
  CHECK_EQ_INT(matches("name=like.___", "{\"name\":\"a\\ud83d\\ude42b\"}"), 1);
  /* backtracking past a partial match */
  CHECK_EQ_INT(matches("name=like.*aab", "{\"name\":\"aaab\"}"), 1);
  CHECK_EQ_INT(matches("name=like.*a*b*c", "{\"name\":\"xxaxxbxxbxxc\"}"), 1);
  CHECK_EQ_INT(matches("name=like.*a*b*c", "{\"name\":\"xxaxxcxxbxx\"}"), 0);
  CHECK_EQ_INT(matches("name=like.a*a*a*a*a*a*b", "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"),
               0);
  CHECK_EQ_INT(matches("name=like.A*", "{\"name\":\"abc\"}"), 0); /* case-sensitive */

  parse_fails("name=like.abc%5C", "name",
              "the like pattern in name=like.abc\\ ends with a backslash (write \\\\ for a "
              "backslash)");
}

static void test_and(void) {
  const char *q = "created_at=gte.2026-11-25T00:00:00Z&created_at=lt.2026-11-26T00:00:00Z";
  CHECK_EQ_INT(matches(q, REC), 1);
  CHECK_EQ_INT(matches(q, "{\"created_at\":\"2026-11-26T00:00:00.000Z\"}"), 0);
  CHECK_EQ_INT(matches(q, "{\"created_at\":\"2026-11-24T23:59:59.999Z\"}"), 0);
  CHECK_EQ_INT(matches("status=eq.running&attempts=gt.5", REC), 0);
  CHECK_EQ_INT(matches("status=eq.running&attempts=gt.2&done=eq.false&limit=5", REC), 1);
  CHECK_EQ_INT(matches("name=neq.a&name=neq.b", "{\"name\":\"a\"}"), 0);
  listing_query *lq = parse_ok("name=neq.a&name=neq.b&attempts=eq.1");
  CHECK_EQ_INT(listing_filter_count(lq), 3);
  listing_free(lq);
}

static void test_order(void) {
  listing_query *q = parse_ok("order=attempts.asc");
  CHECK(listing_order_field(q) == &FIELDS[3]);
  CHECK_EQ_INT(listing_order_desc(q), 0);
  listing_free(q);
  q = parse_ok("order=id.desc");
  CHECK(listing_order_field(q) == &FIELDS[0]);
  CHECK_EQ_INT(listing_order_desc(q), 1);
  listing_free(q);
  q = parse_ok("order=id");
  CHECK(listing_order_field(q) == &FIELDS[0]);
  CHECK_EQ_INT(listing_order_desc(q), 0);
  listing_free(q);

  parse_fails("order=status.asc", "order",
              "cannot order by status, in order=status.asc (orderable: id, attempts, "
              "created_at)");
  parse_fails("order=status", "order", "cannot order by status");
  parse_fails("order=nope.desc", "order",
              "unknown order field 'nope' in order=nope.desc (orderable: id, attempts, "
              "created_at)");
  parse_fails("order=created_at.up", "order",
              "bad order direction 'up' in order=created_at.up (expected asc or desc)");
  parse_fails("order=created_at.DESC", "order", "bad order direction 'DESC'");
  parse_fails("order=created_at.", "order", "bad order direction ''");
  parse_fails("order=id.asc,attempts.desc", "order",
              "order takes one field, in order=id.asc,attempts.desc");
  parse_fails("order=", "order", "order needs a field, as order=created_at.desc");
  parse_fails("order", "order", "order needs a field");
  parse_fails("order=id&order=id", "order", "duplicate order parameter (give it at most once)");

  /* the default: none, valid, broken */
  listing_query *dq = NULL;
  listing_error err;
  CHECK_EQ_INT(listing_parse("order=id.desc", FIELDS, NFIELDS, "attempts.asc", &dq, &err), 0);
  CHECK(listing_order_field(dq) == &FIELDS[0]);
  CHECK_EQ_INT(listing_order_desc(dq), 1);
  listing_free(dq);
  CHECK_EQ_INT(listing_parse("", FIELDS, NFIELDS, "attempts.asc", &dq, &err), 0);
  CHECK(listing_order_field(dq) == &FIELDS[3]);
  CHECK_EQ_INT(listing_order_desc(dq), 0);
  listing_free(dq);
  dq = (listing_query *)1;
  CHECK_EQ_INT(listing_parse("", FIELDS, NFIELDS, "status.asc", &dq, &err), AGENTAI_EINVAL);
  CHECK(dq == NULL);
  CHECK_STR_CONTAINS(err.message, "cannot order by status");
  CHECK_EQ_INT(listing_parse("", FIELDS, NFIELDS, "bogus.desc", &dq, &err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err.message, "unknown default order field 'bogus'");
  CHECK_EQ_INT(strcmp(err.param, "order"), 0);
}

static void test_limit(void) {
  const char *good[] = {"limit=1", "limit=100", "limit=020", "limit=57"};
  const int want[] = {1, 100, 20, 57};
  for (size_t i = 0; i < 4; i++) {
    listing_query *q = parse_ok(good[i]);
    CHECK_EQ_INT(listing_limit(q), want[i]);
    listing_free(q);
  }
  parse_fails("limit=0", "limit", "limit must be an integer from 1 to 100 (got '0')");
  parse_fails("limit=101", "limit", "(got '101')");
  parse_fails("limit=-1", "limit", "(got '-1')");
  parse_fails("limit=abc", "limit", "(got 'abc')");
  parse_fails("limit=", "limit", "(got '')");
  parse_fails("limit", "limit", "(got '')");
  parse_fails("limit=1.5", "limit", "(got '1.5')");
  parse_fails("limit=+5", "limit", "(got ' 5')");
  parse_fails("limit=%2B5", "limit", "(got '+5')");
  parse_fails("limit=99999999999999999999", "limit", "limit must be an integer from 1 to 100");
  parse_fails("limit=10&limit=10", "limit", "duplicate limit parameter");
}

static void test_cursor(void) {
  listing_query *q = parse_ok("starting_after=tsk_01HX-abc");
  CHECK(listing_cursor(q) != NULL);
  CHECK_EQ_INT(strcmp(listing_cursor(q), "tsk_01HX-abc"), 0);
  listing_free(q);

  char qs[256];
  memcpy(qs, "starting_after=", 15);
  memset(qs + 15, 'a', 128);
  qs[15 + 128] = '\0';
  q = parse_ok(qs);
  CHECK_EQ_INT(strlen(listing_cursor(q)), 128);
  listing_free(q);
  qs[15 + 128] = 'a';
  qs[15 + 129] = '\0';
  parse_fails(qs, "starting_after",
              "starting_after must be an id of 1 to 128 characters from A-Z a-z 0-9 _ - (got "
              "'aaaa");
  parse_fails("starting_after=", "starting_after", "(got '')");
  parse_fails("starting_after=tsk.1", "starting_after", "(got 'tsk.1')");
  parse_fails("starting_after=tsk%2F1", "starting_after", "(got 'tsk/1')");
  parse_fails("starting_after=a&starting_after=b", "starting_after",
              "duplicate starting_after parameter");
}

static void test_percent_decoding(void) {
  /* names and values are decoded; '+' is a space and %2B a plus */
  CHECK_EQ_INT(matches("na%6De=eq.x", "{\"name\":\"x\"}"), 1);
  CHECK_EQ_INT(matches("name=eq%2Ex", "{\"name\":\"x\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.a+b", "{\"name\":\"a b\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.a%2Bb", "{\"name\":\"a+b\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.a%2bb", "{\"name\":\"a+b\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.a%26b%3Dc", "{\"name\":\"a&b=c\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.a=b", "{\"name\":\"a=b\"}"), 1); /* only the first = splits */
  CHECK_EQ_INT(matches("name=eq.caf%C3%A9", "{\"name\":\"caf\\u00e9\"}"), 1);
  CHECK_EQ_INT(matches("name=eq.caf\xC3\xA9", "{\"name\":\"caf\\u00e9\"}"), 1); /* raw UTF-8 */
  CHECK_EQ_INT(matches("name=eq.%F0%9F%99%82", "{\"name\":\"\\ud83d\\ude42\"}"), 1);

  parse_fails("name=eq.a%2", "name",
              "malformed percent-encoding in the value of name (a '%' must be followed by two "
              "hex digits)");
  parse_fails("name=eq.a%", "name", "malformed percent-encoding in the value of name");
  parse_fails("name=eq.%G1", "name", "malformed percent-encoding");
  parse_fails("name=eq.a%00b", "name", "the value of name holds a NUL byte (%00)");
  parse_fails("name=eq.%C3%28", "name", "the value of name is not valid UTF-8");
  parse_fails("name=eq.%ED%A0%80", "name", "not valid UTF-8");    /* a surrogate */
  parse_fails("name=eq.%C0%AF", "name", "not valid UTF-8");       /* overlong */
  parse_fails("name=eq.%F4%90%80%80", "name", "not valid UTF-8"); /* above U+10FFFF */
  parse_fails("name=eq.%FF", "name", "not valid UTF-8");
  parse_fails("name=eq.\xC3", "name", "not valid UTF-8"); /* raw, cut */
  parse_fails("na%6", "na%6",
              "malformed percent-encoding in parameter name 'na%6' (a '%' must be followed by "
              "two hex digits)");
  parse_fails("na%00me=eq.x", "", "parameter name 'na%00me' holds a NUL byte (%00)");
  parse_fails("%FFname=eq.x", "", "a parameter name is not valid UTF-8 ('%FFname')");
  parse_fails("=eq.x", "", "a parameter has an empty name ('=eq.x')");

  /* value length: 1024 bytes decoded is fine, 1025 is not; counted after decoding */
  char *qs = malloc(8 + 9 * 400 + 1);
  CHECK(qs != NULL);
  strcpy(qs, "name=eq.");
  memset(qs + 8, 'x', 1021);
  qs[8 + 1021] = '\0';
  listing_query *q = parse_ok(qs);
  listing_free(q);
  qs[8 + 1021] = 'x';
  qs[8 + 1022] = '\0';
  parse_fails(qs, "name", "the value of name is longer than 1024 bytes");
  strcpy(qs, "name=eq.");
  for (int i = 0; i < 1021 / 3 + 1; i++)
    strcat(qs, "%41%41%41");
  parse_fails(qs, "name", "longer than 1024 bytes");
  free(qs);
}

static void test_unknown(void) {
  parse_fails("nope=eq.1", "nope",
              "unknown field 'nope' (known: id, status, name, attempts, created_at, done; also "
              "order, limit, starting_after)");
  parse_fails("Status=eq.running", "Status", "unknown field 'Status'"); /* case-sensitive */
  parse_fails("offset=10", "offset", "unknown field 'offset'");
  parse_fails("caf%C3%A9=1", "caf\xC3\xA9", "unknown field 'caf\xC3\xA9'");
  /* an unknown name is reported before anything about its value */
  parse_fails("nope=%ZZ", "nope", "unknown field 'nope'");

  /* a long name is cut, on a character boundary, in the message and the param */
  char qs[400] = "";
  for (int i = 0; i < 40; i++)
    strcat(qs, "%C3%A9");
  strcat(qs, "=eq.1");
  listing_query *q = (listing_query *)1;
  CHECK_EQ_INT(parse_copy(qs, NULL, &q, &g_err), AGENTAI_EINVAL);
  CHECK(q == NULL);
  CHECK_STR_CONTAINS(g_err.message, "unknown field '\xC3\xA9\xC3\xA9");
  CHECK_STR_CONTAINS(g_err.message, "\xC3\xA9...' (known: id,");
  CHECK(valid_utf8(g_err.message));
  CHECK(valid_utf8(g_err.param));
  CHECK_EQ_INT(strlen(g_err.param), 62); /* 63 bytes would split the 32nd character */
  CHECK_EQ_INT(strncmp(g_err.param, "\xC3\xA9\xC3\xA9", 4), 0);
}

static void test_operators(void) {
  parse_fails("status=eqq.running", "status",
              "unknown operator 'eqq' in status=eqq.running (expected eq, neq, gt, gte, lt, "
              "lte, in, like, optionally after not.)");
  CHECK_EQ_INT(strcmp(g_err.message,
                      "unknown operator 'eqq' in status=eqq.running (expected eq, neq, gt, gte, "
                      "lt, lte, in, like, optionally after not.)"),
               0);
  parse_fails("status=EQ.running", "status", "unknown operator 'EQ'");
  parse_fails("status=.running", "status", "unknown operator ''");
  parse_fails("status=running", "status",
              "missing operator in status=running (expected status=op.value with op one of eq, "
              "neq, gt, gte, lt, lte, in, like, optionally after not.)");
  parse_fails("status", "status", "missing operator in status=");
  parse_fails("status=", "status", "missing operator");
  /* a long operator and value are cut in the message, which stays under 256 bytes */
  char qs[1100] = "name=";
  memset(qs + 5, 'o', 600);
  strcpy(qs + 605, ".x");
  parse_fails(qs, "name", "unknown operator 'oooo");
  CHECK_STR_CONTAINS(g_err.message, "...");
  CHECK(strlen(g_err.message) < 256);
}

static void test_filter_cap(void) {
  char qs[2048] = "";
  for (int i = 0; i < LISTING_MAX_FILTERS; i++)
    strcat(qs, i ? "&attempts=neq.7" : "attempts=neq.7");
  listing_query *q = parse_ok(qs);
  CHECK_EQ_INT(listing_filter_count(q), LISTING_MAX_FILTERS);
  listing_free(q);
  strcat(qs, "&limit=5&order=id&starting_after=x"); /* reserved names are not filters */
  q = parse_ok(qs);
  listing_free(q);
  strcat(qs, "&done=eq.true");
  parse_fails(qs, "done", "too many filters: done=eq.true would be number 33 (at most 32)");
}

static void test_eq_values(void) {
  listing_query *q = parse_ok("status=in.(queued,running,failed)&status=in.(running,failed)&"
                              "status=eq.queued&status=not.eq.failed&attempts=eq.07&"
                              "created_at=in.(1795568523,2026-11-25T02:02:03.5%2B01:00)&"
                              "done=in.(true)&name=neq.x");
  const char *const *v = NULL;
  size_t n = 99;
  CHECK_EQ_INT(listing_eq_values(q, "status", &v, &n), 1);
  CHECK_EQ_INT(n, 1); /* the single eq beats the in-lists */
  CHECK_EQ_INT(strcmp(v[0], "queued"), 0);
  CHECK_EQ_INT(listing_eq_values(q, "attempts", &v, &n), 1);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(strcmp(v[0], "7"), 0);
  CHECK_EQ_INT(listing_eq_values(q, "created_at", &v, &n), 1);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(strcmp(v[0], "2026-11-25T01:02:03.000Z"), 0);
  CHECK_EQ_INT(strcmp(v[1], "2026-11-25T01:02:03.500Z"), 0);
  CHECK_EQ_INT(listing_eq_values(q, "done", &v, &n), 1);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(strcmp(v[0], "true"), 0);
  CHECK_EQ_INT(listing_eq_values(q, "name", &v, &n), 0); /* neq pins nothing */
  CHECK(v == NULL);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(listing_eq_values(q, "id", &v, &n), 0);
  CHECK_EQ_INT(listing_eq_values(q, "nope", &v, &n), AGENTAI_ENOENT);
  listing_free(q);

  q = parse_ok("status=not.in.(queued)&id=like.tsk*&id=gt.a");
  CHECK_EQ_INT(listing_eq_values(q, "status", &v, &n), 0);
  CHECK_EQ_INT(listing_eq_values(q, "id", &v, &n), 0);
  listing_free(q);
  q = parse_ok("status=in.(queued,running)");
  CHECK_EQ_INT(listing_eq_values(q, "status", &v, &n), 1);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(strcmp(v[1], "running"), 0);
  listing_free(q);
}

static void test_time_bounds(void) {
  int64_t lo = 0, hi = 0;
  listing_query *q = parse_ok("created_at=gte.2026-11-25T00:00:00Z&created_at=lt.1795651200&"
                              "created_at=gt.1795500000&created_at=not.lt.2030-01-01T00:00:00Z&"
                              "created_at=neq.1795600000");
  CHECK_EQ_INT(listing_time_bounds(q, "created_at", &lo, &hi), 1);
  CHECK_EQ_INT(lo, 1795564800000LL); /* 2026-11-25T00:00:00Z: gte beats the looser gt */
  CHECK_EQ_INT(hi, 1795651199999LL); /* lt is exclusive */
  CHECK_EQ_INT(listing_time_bounds(q, "attempts", &lo, &hi), 0);
  CHECK_EQ_INT(lo, INT64_MIN);
  CHECK_EQ_INT(hi, INT64_MAX);
  CHECK_EQ_INT(listing_time_bounds(q, "status", &lo, &hi), AGENTAI_EINVAL);
  CHECK_EQ_INT(listing_time_bounds(q, "done", &lo, &hi), AGENTAI_EINVAL);
  CHECK_EQ_INT(listing_time_bounds(q, "nope", &lo, &hi), AGENTAI_ENOENT);
  listing_free(q);

  q = parse_ok("attempts=gt.2&attempts=lte.9&attempts=in.(1,5,12)");
  CHECK_EQ_INT(listing_time_bounds(q, "attempts", &lo, &hi), 1);
  CHECK_EQ_INT(lo, 3);
  CHECK_EQ_INT(hi, 9);
  listing_free(q);
  q = parse_ok("created_at=eq.2026-11-25T01:02:03.5Z");
  CHECK_EQ_INT(listing_time_bounds(q, "created_at", &lo, &hi), 1);
  CHECK_EQ_INT(lo, 1795568523500LL);
  CHECK_EQ_INT(hi, 1795568523500LL);
  listing_free(q);
  q = parse_ok("created_at=lte.1795568523");
  CHECK_EQ_INT(listing_time_bounds(q, "created_at", &lo, &hi), 1);
  CHECK_EQ_INT(lo, INT64_MIN);
  CHECK_EQ_INT(hi, 1795568523000LL);
  listing_free(q);
  /* contradictions and the edges of int64 */
  q = parse_ok("attempts=gt.5&attempts=lt.3");
  CHECK_EQ_INT(listing_time_bounds(q, "attempts", &lo, &hi), 1);
  CHECK(lo > hi);
  listing_free(q);
  q = parse_ok("attempts=gt.9223372036854775807");
  CHECK_EQ_INT(listing_time_bounds(q, "attempts", &lo, &hi), 1);
  CHECK(lo > hi);
  listing_free(q);
  q = parse_ok("attempts=lt.-9223372036854775808");
  CHECK_EQ_INT(listing_time_bounds(q, "attempts", &lo, &hi), 1);
  CHECK(lo > hi);
  listing_free(q);
}

static void test_long_messages(void) {
  /* multi-byte values are cut whole: the message stays valid UTF-8 */
  char qs[2048] = "status=eq.";
  for (int i = 0; i < 200; i++)
    strcat(qs, "%E2%82%AC"); /* the euro sign, 3 bytes */
  parse_fails(qs, "status", "is not one of queued");
  CHECK_STR_CONTAINS(g_err.message, "\xE2\x82\xAC...' in status=eq.\xE2\x82\xAC");
  /* an enum list that does not fit ends in "..." */
  static const char *const many[] = {"alpha_value_one",     "bravo_value_two",
                                     "charlie_value_three", "delta_value_four",
                                     "echo_value_five",     "foxtrot_value_six",
                                     "golf_value_seven",    "hotel_value_eight",
                                     "india_value_nine",    "juliet_value_ten",
                                     "kilo_value_eleven",   "lima_value_twelve",
                                     "mike_value_thirty",   NULL};
  static const listing_field f[] = {{"kind", LISTING_STRING, many, 0}};
  listing_query *q = NULL;
  listing_error err;
  CHECK_EQ_INT(listing_parse("kind=eq.zulu", f, 1, NULL, &q, &err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err.message, "'zulu' in kind=eq.zulu is not one of alpha_value_one, ");
  CHECK_STR_CONTAINS(err.message, ", ...");
  CHECK(valid_utf8(err.message));
  /* control characters in values do not reach the message raw */
  parse_fails("name=in.(%22a%0A)", "name", "unterminated quoted value in name=in.(\"a?");
}

int main(void) {
  RUN(test_defaults);
  RUN(test_string_ops);
  RUN(test_enum);
  RUN(test_int_ops);
  RUN(test_time_ops);
  RUN(test_bool_ops);
  RUN(test_negation);
  RUN(test_in_lists);
  RUN(test_like);
  RUN(test_and);
  RUN(test_order);
  RUN(test_limit);
  RUN(test_cursor);
  RUN(test_percent_decoding);
  RUN(test_unknown);
  RUN(test_operators);
  RUN(test_filter_cap);
  RUN(test_eq_values);
  RUN(test_time_bounds);
  RUN(test_long_messages);
  CHECK_DONE();
}
