/* tests/unit/test_jsonschema.c — JSON Schema checks and validation (core/jsonschema) over cJSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentai/plugin.h"
#include "check.h"
#include "core/jsonschema.h"

static char out[8192];

/* Validates instance text against schema text; returns the error count and writes the errors
 * as "path|message\n" lines into out. -100 when the schema does not compile (message in out). */
static int run_flags(const char *schema, const char *inst, unsigned flags, size_t max) {
  cJSON *sd = cJSON_Parse(schema), *id = cJSON_Parse(inst);
  if (!sd || !id) {
    fprintf(stderr, "test JSON does not parse: %s / %s\n", schema, inst);
    exit(1);
  }
  jsonschema *s;
  int rc = jsonschema_compile(sd, flags, &s, out, sizeof out);
  cJSON_Delete(sd);
  if (rc != 0) {
    cJSON_Delete(id);
    return -100;
  }
  jsonschema_result res;
  CHECK_EQ_INT(jsonschema_validate(s, id, flags, max, &res), 0);
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < res.count; i++)
    n += (size_t)snprintf(out + n, sizeof out - n, "%s|%s\n", res.errors[i].path,
                          res.errors[i].message);
  int count = (int)res.count;
  if (res.truncated)
    snprintf(out + n, sizeof out - n, "(truncated)");
  jsonschema_result_free(&res);
  CHECK(res.count == 0 && res.errors == NULL);
  jsonschema_free(s);
  cJSON_Delete(id);
  return count;
}

static int run(const char *schema, const char *inst) {
  return run_flags(schema, inst, 0, 0);
}

/* The compile error for schema text. */
static const char *bad(const char *schema) {
  CHECK_EQ_INT(run(schema, "null"), -100);
  return out;
}

static void test_type(void) {
  CHECK_EQ_INT(run("{\"type\":\"string\"}", "\"x\""), 0);
  CHECK_EQ_INT(run("{\"type\":\"string\"}", "3"), 1);
  CHECK_STR_CONTAINS(out, "|expected string, got number");
  CHECK_EQ_INT(run("{\"type\":\"integer\"}", "3"), 0);
  CHECK_EQ_INT(run("{\"type\":\"integer\"}", "3.0"), 0); /* 2020-12: no fractional part */
  CHECK_EQ_INT(run("{\"type\":\"integer\"}", "3.5"), 1);
  CHECK_STR_CONTAINS(out, "expected integer, got number");
  CHECK_EQ_INT(run("{\"type\":\"number\"}", "3"), 0);
  CHECK_EQ_INT(run("{\"type\":\"number\"}", "\"3\""), 1);
  CHECK_EQ_INT(run("{\"type\":[\"string\",\"null\"]}", "null"), 0);
  CHECK_EQ_INT(run("{\"type\":[\"string\",\"null\"]}", "true"), 1);
  CHECK_STR_CONTAINS(out, "expected string or null, got boolean");
  CHECK_EQ_INT(run("{\"type\":\"object\"}", "[]"), 1);
  CHECK_STR_CONTAINS(out, "got array");
  CHECK_EQ_INT(run("{\"type\":\"array\"}", "{}"), 1);
  CHECK_EQ_INT(run("{\"type\":\"boolean\"}", "false"), 0);
  CHECK_EQ_INT(run("{\"type\":\"null\"}", "0"), 1);
  /* An empty object also counts as an array only when asked (Lua's {}). */
  CHECK_EQ_INT(
      run_flags("{\"type\":\"array\",\"maxItems\":0}", "{}", JSONSCHEMA_EMPTY_AMBIGUOUS, 0), 0);
  CHECK_EQ_INT(
      run_flags("{\"type\":\"array\",\"minItems\":1}", "{}", JSONSCHEMA_EMPTY_AMBIGUOUS, 0), 1);
  CHECK_STR_CONTAINS(out, "expected at least 1 items, got 0");
  CHECK_EQ_INT(run_flags("{\"type\":\"array\"}", "{\"a\":1}", JSONSCHEMA_EMPTY_AMBIGUOUS, 0), 1);
  CHECK_EQ_INT(run_flags("{\"enum\":[[]]}", "{}", JSONSCHEMA_EMPTY_AMBIGUOUS, 0), 0);
  CHECK_EQ_INT(run("{\"enum\":[[]]}", "{}"), 1);
}

static void test_boolean_and_unknown(void) {
  CHECK_EQ_INT(run("true", "{\"a\":[1,2]}"), 0);
  CHECK_EQ_INT(run("false", "1"), 1);
  CHECK_STR_CONTAINS(out, "no value is allowed here");
  CHECK_EQ_INT(run("{}", "\"anything\""), 0);
  /* Unknown keywords and annotations are ignored, whatever their type. */
  CHECK_EQ_INT(run("{\"title\":5,\"description\":[],\"default\":{},\"format\":\"email\","
                   "\"x-vendor\":{\"type\":7},\"type\":\"string\"}",
                   "\"not an email\""),
               0);
}

static void test_numbers(void) {
  const char *s = "{\"minimum\":1,\"maximum\":10}";
  CHECK_EQ_INT(run(s, "1"), 0);
  CHECK_EQ_INT(run(s, "10"), 0);
  CHECK_EQ_INT(run(s, "0.5"), 1);
  CHECK_STR_CONTAINS(out, "must be >= 1, got 0.5");
  CHECK_EQ_INT(run(s, "11"), 1);
  CHECK_STR_CONTAINS(out, "must be <= 10, got 11");
  const char *x = "{\"exclusiveMinimum\":0,\"exclusiveMaximum\":0.3}";
  CHECK_EQ_INT(run(x, "0.1"), 0);
  CHECK_EQ_INT(run(x, "0"), 1);
  CHECK_STR_CONTAINS(out, "must be > 0, got 0");
  CHECK_EQ_INT(run(x, "0.3"), 1);
  CHECK_STR_CONTAINS(out, "must be < 0.3, got 0.3");
  /* Numeric keywords apply to numbers only. */
  CHECK_EQ_INT(run(s, "\"100\""), 0);
}

static void test_strings(void) {
  const char *s = "{\"minLength\":2,\"maxLength\":3}";
  CHECK_EQ_INT(run(s, "\"ab\""), 0);
  CHECK_EQ_INT(run(s, "\"\xc3\xa9\xc3\xa9\xc3\xa9\""), 0); /* 3 code points, 6 bytes */
  CHECK_EQ_INT(run(s, "\"\xf0\x9f\x98\x80\""), 1);         /* 1 code point */
  CHECK_STR_CONTAINS(out, "expected at least 2 characters, got 1");
  CHECK_EQ_INT(run(s, "\"abcd\""), 1);
  CHECK_STR_CONTAINS(out, "expected at most 3 characters, got 4");
  CHECK_EQ_INT(run(s, "5"), 0);

  CHECK_EQ_INT(run("{\"pattern\":\"^[a-z]+_[0-9]{2}$\"}", "\"abc_12\""), 0);
  CHECK_EQ_INT(run("{\"pattern\":\"^[a-z]+_[0-9]{2}$\"}", "\"abc_123\""), 1);
  CHECK_STR_CONTAINS(out, "does not match pattern \"^[a-z]+_[0-9]{2}$\"");
  /* Unanchored search, like ECMA's. */
  CHECK_EQ_INT(run("{\"pattern\":\"b+\"}", "\"abbc\""), 0);
  /* ECMA class escapes are translated. */
  CHECK_EQ_INT(run("{\"pattern\":\"^\\\\d{3}-\\\\w+$\"}", "\"123-ab_c\""), 0);
  CHECK_EQ_INT(run("{\"pattern\":\"^\\\\d{3}$\"}", "\"12a\""), 1);
  CHECK_EQ_INT(run("{\"pattern\":\"^\\\\S+$\"}", "\"a b\""), 1);
  CHECK_EQ_INT(run("{\"pattern\":\"^[\\\\d.]+$\"}", "\"1.5\""), 0);
  CHECK_EQ_INT(run("{\"pattern\":\"^[\\\\d.]+$\"}", "\"1,5\""), 1);
}

static void test_enum_const(void) {
  const char *s = "{\"enum\":[\"a\",1,null,{\"k\":[1,2]}]}";
  CHECK_EQ_INT(run(s, "\"a\""), 0);
  CHECK_EQ_INT(run(s, "1.0"), 0); /* numbers compare by value */
  CHECK_EQ_INT(run(s, "null"), 0);
  CHECK_EQ_INT(run(s, "{\"k\":[1,2]}"), 0);
  CHECK_EQ_INT(run(s, "{\"k\":[2,1]}"), 1);
  CHECK_STR_CONTAINS(out, "|must be one of [\"a\",1,null,{\"k\":[1,2]}]");
  CHECK_EQ_INT(run(s, "\"b\""), 1);
  CHECK_EQ_INT(run("{\"const\":{\"a\":1,\"b\":2}}", "{\"b\":2,\"a\":1}"), 0);
  CHECK_EQ_INT(run("{\"const\":{\"a\":1,\"b\":2}}", "{\"b\":2,\"a\":1,\"c\":3}"), 1);
  CHECK_STR_CONTAINS(out, "must equal {\"a\":1,\"b\":2}");
  CHECK_EQ_INT(run("{\"const\":false}", "0"), 1);
}

static void test_objects(void) {
  const char *s = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                  "\"age\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"name\",\"age\"],"
                  "\"additionalProperties\":false}";
  CHECK_EQ_INT(run(s, "{\"name\":\"Ada\",\"age\":36}"), 0);
  CHECK_EQ_INT(run(s, "{\"age\":-1,\"extra\":true}"), 3);
  CHECK_STR_CONTAINS(out, "|missing required property \"name\"\n"
                          "/age|must be >= 0, got -1\n"
                          "/extra|property \"extra\" is not allowed\n");
  /* additionalProperties as a schema; keys escaped in paths (RFC 6901). */
  const char *a = "{\"additionalProperties\":{\"type\":\"number\"}}";
  CHECK_EQ_INT(run(a, "{\"a/b\":1,\"c~d\":\"x\"}"), 1);
  CHECK_STR_CONTAINS(out, "/c~0d|expected number, got string");
  CHECK_EQ_INT(run(a, "{\"a/b\":\"x\"}"), 1);
  CHECK_STR_CONTAINS(out, "/a~1b|");
  /* Object keywords ignore other types. */
  CHECK_EQ_INT(run(s, "5"), 1);
  CHECK_STR_CONTAINS(out, "expected object, got number");
}

static void test_arrays_and_nested_paths(void) {
  const char *s =
      "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"minItems\":1,"
      "\"maxItems\":3,\"items\":{\"type\":\"object\",\"required\":[\"name\"],"
      "\"properties\":{\"name\":{\"type\":\"string\"}}}}}}";
  CHECK_EQ_INT(run(s, "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":3}]}"), 1);
  CHECK_STR_CONTAINS(out, "/items/2/name|expected string, got number");
  CHECK_EQ_INT(run(s, "{\"items\":[]}"), 1);
  CHECK_STR_CONTAINS(out, "/items|expected at least 1 items, got 0");
  CHECK_EQ_INT(run(s, "{\"items\":[{},{},{},{\"name\":1}]}"), 5);
  /* Deterministic order: items first to last, then the count. */
  CHECK_STR_CONTAINS(out, "/items/0|missing required property \"name\"\n"
                          "/items/1|missing required property \"name\"\n"
                          "/items/2|missing required property \"name\"\n"
                          "/items/3/name|expected string, got number\n"
                          "/items|expected at most 3 items, got 4\n");
}

static void test_error_limit(void) {
  char inst[4096];
  size_t n = (size_t)snprintf(inst, sizeof inst, "[");
  for (int i = 0; i < 50; i++)
    n += (size_t)snprintf(inst + n, sizeof inst - n, "%s\"x\"", i ? "," : "");
  snprintf(inst + n, sizeof inst - n, "]");
  CHECK_EQ_INT(run("{\"items\":{\"type\":\"integer\"}}", inst), JSONSCHEMA_MAX_ERRORS);
  CHECK_STR_CONTAINS(out, "/19|");
  CHECK_STR_CONTAINS(out, "(truncated)");
  CHECK(!strstr(out, "/20|"));
  CHECK_EQ_INT(run_flags("{\"items\":{\"type\":\"integer\"}}", inst, 0, 3), 3);
  CHECK_EQ_INT(run_flags("{\"items\":{\"type\":\"integer\"}}", inst, 0, 100), 50);
  CHECK(!strstr(out, "(truncated)"));
}

static void test_combinators(void) {
  const char *any = "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}";
  CHECK_EQ_INT(run(any, "\"s\""), 0);
  CHECK_EQ_INT(run(any, "7"), 0);
  CHECK_EQ_INT(run(any, "3"), 1);
  CHECK_STR_CONTAINS(out, "does not match any of the 2 anyOf schemas (the first: expected string, "
                          "got number)");
  const char *one = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":10}]}";
  CHECK_EQ_INT(run(one, "3"), 0);
  CHECK_EQ_INT(run(one, "10.5"), 0);
  CHECK_EQ_INT(run(one, "12"), 1);
  CHECK_STR_CONTAINS(out, "matches more than one oneOf schema (0 and 1)");
  CHECK_EQ_INT(run(one, "1.5"), 1);
  CHECK_STR_CONTAINS(out, "does not match any of the 2 oneOf schemas");
  const char *all = "{\"allOf\":[{\"type\":\"string\"},{\"minLength\":3}]}";
  CHECK_EQ_INT(run(all, "\"abc\""), 0);
  CHECK_EQ_INT(run(all, "\"ab\""), 1);
  CHECK_STR_CONTAINS(out, "expected at least 3 characters");
  CHECK_EQ_INT(run("{\"not\":{\"type\":\"null\"}}", "1"), 0);
  CHECK_EQ_INT(run("{\"not\":{\"type\":\"null\"}}", "null"), 1);
  CHECK_STR_CONTAINS(out, "must not match the \"not\" schema");
  /* The first failure inside a branch names its own path. */
  CHECK_EQ_INT(
      run("{\"anyOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}}},false]}", "{\"a\":1}"), 1);
  CHECK_STR_CONTAINS(out, "|does not match any of the 2 anyOf schemas (the first: expected string, "
                          "got number at /a)");
}

static void test_refs(void) {
  const char *s =
      "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"definitions\":{\"name\":{"
      "\"type\":\"string\"}},\"properties\":{\"n\":{\"$ref\":\"#/$defs/pos\"},\"s\":{\"$ref\":"
      "\"#/definitions/name\"}}}";
  CHECK_EQ_INT(run(s, "{\"n\":2,\"s\":\"x\"}"), 0);
  CHECK_EQ_INT(run(s, "{\"n\":0,\"s\":1}"), 2);
  CHECK_STR_CONTAINS(out, "/n|must be >= 1, got 0\n/s|expected string, got number\n");
  /* A recursive tree schema. */
  const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"required\":[\"v\"],"
                     "\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
                     "\"items\":{\"$ref\":\"#/$defs/node\"}}}}},\"$ref\":\"#/$defs/node\"}";
  CHECK_EQ_INT(run(tree, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[{\"v\":\"x\"}]}]}"), 1);
  CHECK_STR_CONTAINS(out, "/kids/1/kids/0/v|expected integer, got string");
  /* Escaped pointer segments and a ref to the root. */
  CHECK_EQ_INT(run("{\"$defs\":{\"a/b c\":{\"type\":\"string\"}},\"items\":{\"$ref\":\"#/$defs/"
                   "a~1b%20c\"}}",
                   "[\"x\",1]"),
               1);
  CHECK_STR_CONTAINS(out, "/1|expected string");
  CHECK_EQ_INT(
      run("{\"type\":[\"array\",\"integer\"],\"items\":{\"$ref\":\"#\"}}", "[1,[2,[\"x\"]]]"), 1);
  CHECK_STR_CONTAINS(out, "/1/1/0|expected array or integer, got string");
}

static void test_ref_cycles_and_limits(void) {
  /* A pure cycle consumes nothing: the depth limit ends it with a clear error. */
  CHECK_EQ_INT(run("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
                   "\"$ref\":\"#/$defs/a\"}",
                   "1"),
               1);
  CHECK_STR_CONTAINS(out, "nesting deeper than 512 levels");
  CHECK_EQ_INT(run("{\"anyOf\":[{\"$ref\":\"#\"}]}", "1"), 1);
  CHECK_STR_CONTAINS(out, "nesting deeper than");
  /* Exponential branching: the step budget ends it. */
  CHECK_EQ_INT(run("{\"allOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}", "1"), 1);
  CHECK_STR_CONTAINS(out, "nesting deeper than");
  /* Exponential branching within the depth limit (2^30 paths): the step budget ends it. */
  static char expo[8192];
  size_t e = (size_t)snprintf(expo, sizeof expo, "{\"$ref\":\"#/$defs/d0\",\"$defs\":{");
  for (int i = 0; i < 30; i++)
    e += (size_t)snprintf(
        expo + e, sizeof expo - e,
        "\"d%d\":{\"allOf\":[{\"$ref\":\"#/$defs/d%d\"},{\"$ref\":\"#/$defs/d%d\"}]},", i, i + 1,
        i + 1);
  snprintf(expo + e, sizeof expo - e, "\"d30\":true}}");
  CHECK_EQ_INT(run(expo, "1"), 1);
  CHECK_STR_CONTAINS(out, "|validation stopped after 1000000 schema evaluations");
  /* Deep instances against a recursive schema: deeper than the limit is an error, not a crash. */
  static char deep[8192];
  for (int depth = 100; depth <= 900; depth += 800) {
    size_t n = 0;
    for (int i = 0; i < depth; i++)
      deep[n++] = '[';
    for (int i = 0; i < depth; i++)
      deep[n++] = ']';
    deep[n] = '\0';
    int rc = run("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", deep);
    if (depth == 100) {
      CHECK_EQ_INT(rc, 0);
    } else {
      CHECK_EQ_INT(rc, 1);
      CHECK_STR_CONTAINS(out, "nesting deeper than 512 levels");
    }
  }
}

static void test_invalid_schemas(void) {
  CHECK_STR_CONTAINS(bad("5"), "/: a schema must be an object or a boolean, got number");
  CHECK_STR_CONTAINS(bad("{\"type\":\"strin\"}"), "/type: unknown type \"strin\"");
  CHECK_STR_CONTAINS(bad("{\"type\":[]}"), "/type: \"type\" must be a type name");
  CHECK_STR_CONTAINS(bad("{\"type\":[\"string\",3]}"), "/type: \"type\" entries must be strings");
  CHECK_STR_CONTAINS(bad("{\"properties\":{\"a\":{\"type\":5}}}"), "/properties/a/type:");
  CHECK_STR_CONTAINS(bad("{\"properties\":[]}"), "/properties: \"properties\" must be an object");
  CHECK_STR_CONTAINS(bad("{\"properties\":{\"a\":3}}"),
                     "/properties/a: a schema must be an object or a boolean");
  CHECK_STR_CONTAINS(bad("{\"required\":\"a\"}"), "/required: \"required\" must be an array");
  CHECK_STR_CONTAINS(bad("{\"required\":[1]}"), "entries must be strings");
  CHECK_STR_CONTAINS(bad("{\"items\":[{}]}"), "/items: a schema must be an object or a boolean");
  CHECK_STR_CONTAINS(bad("{\"additionalProperties\":\"no\"}"), "/additionalProperties:");
  CHECK_STR_CONTAINS(bad("{\"minLength\":-1}"), "/minLength: \"minLength\" must be a non-negative");
  CHECK_STR_CONTAINS(bad("{\"maxItems\":1.5}"), "/maxItems:");
  CHECK_STR_CONTAINS(bad("{\"minimum\":\"1\"}"), "/minimum: \"minimum\" must be a number");
  CHECK_STR_CONTAINS(bad("{\"exclusiveMinimum\":true}"), "/exclusiveMinimum:");
  CHECK_STR_CONTAINS(bad("{\"enum\":\"a\"}"), "/enum: \"enum\" must be an array");
  CHECK_STR_CONTAINS(bad("{\"anyOf\":[]}"), "/anyOf: \"anyOf\" must be a non-empty array");
  CHECK_STR_CONTAINS(bad("{\"oneOf\":[{},7]}"), "/oneOf/1: a schema must be");
  CHECK_STR_CONTAINS(bad("{\"not\":null}"), "/not: a schema must be");
  CHECK_STR_CONTAINS(bad("{\"pattern\":\"a(\"}"), "/pattern: invalid regular expression \"a(\"");
  CHECK_STR_CONTAINS(bad("{\"pattern\":1}"), "/pattern: \"pattern\" must be a string");
  /* Patterns whose compilation would take memory exponential in their length. */
  CHECK_STR_CONTAINS(bad("{\"pattern\":\"a+++++\"}"), "a quantifier follows a quantifier");
  CHECK_STR_CONTAINS(bad("{\"pattern\":\"((a{200}){200}){200}\"}"), "multiply beyond 10000");
  CHECK_EQ_INT(run("{\"pattern\":\"^a+?b{2,3}c*$\"}", "\"abbbc\""), 0);
  CHECK_STR_CONTAINS(bad("{\"$ref\":5}"), "/$ref: \"$ref\" must be a string");
  CHECK_STR_CONTAINS(bad("{\"items\":{\"$ref\":\"#/$defs/missing\"}}"),
                     "/items/$ref: $ref \"#/$defs/missing\" points to nothing");
  CHECK_STR_CONTAINS(bad("{\"$ref\":\"http://example.com/s.json\"}"), "unsupported $ref");
  CHECK_STR_CONTAINS(bad("{\"enum\":[{\"x\":1}],\"$ref\":\"#/enum/0\"}"),
                     "does not point to a schema");
  CHECK_STR_CONTAINS(bad("{\"$defs\":{\"a\":{\"minItems\":\"2\"}}}"), "/$defs/a/minItems:");
  /* {} where an array belongs: only with the ambiguity flag. */
  CHECK_STR_CONTAINS(bad("{\"required\":{}}"), "/required:");
  CHECK_EQ_INT(run_flags("{\"required\":{},\"enum\":{}}", "1", JSONSCHEMA_EMPTY_AMBIGUOUS, 0), 1);
  CHECK_STR_CONTAINS(out, "must be one of");
  /* Schemas nested deeper than the limit. */
  static char deep[8192];
  size_t n = 0;
  for (int i = 0; i < 600; i++)
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"not\":");
  n += (size_t)snprintf(deep + n, sizeof deep - n, "true");
  for (int i = 0; i < 600; i++)
    deep[n++] = '}';
  deep[n] = '\0';
  CHECK_STR_CONTAINS(bad(deep), "schema nesting deeper than 512 levels");
  /* jsonschema_check and a NULL schema. */
  char err[256];
  CHECK_EQ_INT(jsonschema_check(NULL, 0, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "must be an object or a boolean");
  cJSON *ok = cJSON_Parse("{\"type\":\"string\"}");
  CHECK_EQ_INT(jsonschema_check(ok, 0, err, sizeof err), 0);
  cJSON_Delete(ok);
}

/* The compiled schema owns a copy: the source may go away; raw large integers work. */
static void test_ownership_and_raw(void) {
  cJSON *sd = cJSON_Parse("{\"type\":\"integer\",\"maximum\":9007199254740993}");
  jsonschema *s;
  char err[256];
  CHECK_EQ_INT(jsonschema_compile(sd, 0, &s, err, sizeof err), 0);
  cJSON_Delete(sd);
  cJSON *big = cJSON_CreateRaw("9223372036854775807");
  jsonschema_result res;
  CHECK_EQ_INT(jsonschema_validate(s, big, 0, 0, &res), 0);
  CHECK_EQ_INT(res.count, 1);
  CHECK_STR_CONTAINS(res.errors[0].message, "must be <=");
  jsonschema_result_free(&res);
  cJSON_Delete(big);
  jsonschema_free(s);
  jsonschema_free(NULL);
}

/* A 1 KB tool-argument object against a 10-property schema (printed, not asserted). */
static void test_speed(void) {
  char schema[4096], inst[2048];
  size_t n = (size_t)snprintf(schema, sizeof schema, "{\"type\":\"object\",\"properties\":{");
  size_t m = (size_t)snprintf(inst, sizeof inst, "{");
  for (int i = 0; i < 10; i++) {
    n += (size_t)snprintf(
        schema + n, sizeof schema - n,
        "%s\"p%d\":{\"type\":\"string\",\"maxLength\":200,\"pattern\":\"^[a-z ]+$\"}", i ? "," : "",
        i);
    m += (size_t)snprintf(
        inst + m, sizeof inst - m,
        "%s\"p%d\":\"the quick brown fox jumps over the lazy dog the quick brown fox jumps "
        "over the lazy dog the quick brown fox jumps over the lazy dog\"",
        i ? "," : "", i);
  }
  snprintf(schema + n, sizeof schema - n,
           "},\"required\":[\"p0\",\"p9\"],\"additionalProperties\":false}");
  snprintf(inst + m, sizeof inst - m, "}");
  CHECK(strlen(inst) > 1000);
  cJSON *sd = cJSON_Parse(schema), *id = cJSON_Parse(inst);
  jsonschema *s;
  char err[256];
  CHECK_EQ_INT(jsonschema_compile(sd, 0, &s, err, sizeof err), 0);
  struct timespec a, b;
  int iters = 20000;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < iters; i++) {
    jsonschema_result res;
    CHECK_EQ_INT(jsonschema_validate(s, id, 0, 0, &res), 0);
    CHECK_EQ_INT(res.count, 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / iters;
  fprintf(stderr, "   %.2f us per validation of %zu bytes\n", us, strlen(inst));
  jsonschema_free(s);
  cJSON_Delete(sd);
  cJSON_Delete(id);
}

int main(void) {
  RUN(test_type);
  RUN(test_boolean_and_unknown);
  RUN(test_numbers);
  RUN(test_strings);
  RUN(test_enum_const);
  RUN(test_objects);
  RUN(test_arrays_and_nested_paths);
  RUN(test_error_limit);
  RUN(test_combinators);
  RUN(test_refs);
  RUN(test_ref_cycles_and_limits);
  RUN(test_invalid_schemas);
  RUN(test_ownership_and_raw);
  RUN(test_speed);
  CHECK_DONE();
}
