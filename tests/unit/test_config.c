/* tests/unit/test_config.c — configuration: defaults, shipped files, the TOML subset, schema and
 * env errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "check.h"
#include "core/config.h"
#include "core/toml.h"

static char g_dir[256];  /* mkdtemp folder for this run */
static char g_path[512]; /* g_dir/c.toml, rewritten by each case */

static void write_text(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  CHECK_EQ_INT(fwrite(text, 1, len, f), len);
  CHECK_EQ_INT(fclose(f), 0);
}

/* Writes text to g_path and loads it over fresh defaults. */
static int load(config *cfg, const char *text, char *err, size_t err_len) {
  write_text(g_path, text, strlen(text));
  config_defaults(cfg);
  return config_load_file(cfg, g_path, err, err_len);
}

/* Asserts err is exactly "<file>:<line>: <msg>". */
static void check_msg(const char *err, const char *file, int line, const char *msg) {
  char want[2048];
  snprintf(want, sizeof want, "%s:%d: %s", file, line, msg);
  CHECK_STR_CONTAINS(err, want);
  if (strcmp(err, want) != 0)
    fprintf(stderr, "got:  %s\nwant: %s\n", err, want);
  CHECK(strcmp(err, want) == 0);
}

/* Parses text from an exact-size heap copy (no NUL after it: ASan catches any
 * read past len) and expects the error "bad.toml:LINE: MSG". */
static void parse_fails(const char *text, int line, const char *msg) {
  size_t len = strlen(text);
  char *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  cJSON *out = (cJSON *)1;
  char err[1024] = "";
  int rc = config_parse_toml(copy, len, "bad.toml", &out, err, sizeof err);
  free(copy);
  if (rc != AGENTAI_EINVAL)
    fprintf(stderr, "input that should fail: %s\n", text);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK(out == NULL);
  check_msg(err, "bad.toml", line, msg);
}

/* Parses text (exact-size heap copy) that must succeed; caller deletes. */
static cJSON *parse_ok(const char *text, size_t len) {
  char *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  cJSON *out = NULL;
  char err[1024] = "";
  int rc = config_parse_toml(copy, len, "ok.toml", &out, err, sizeof err);
  free(copy);
  if (rc != 0)
    fprintf(stderr, "unexpected error: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(cJSON_IsObject(out));
  return out;
}

/* Parses text and compares the unformatted JSON of the tree. */
static void parse_as(const char *text, const char *json) {
  cJSON *out = parse_ok(text, strlen(text));
  char *got = cJSON_PrintUnformatted(out);
  CHECK(got != NULL);
  if (strcmp(got, json) != 0)
    fprintf(stderr, "input: %s\ngot:  %s\nwant: %s\n", text, got, json);
  CHECK(strcmp(got, json) == 0);
  free(got);
  cJSON_Delete(out);
}

/* A load that must fail with "<g_path>:LINE: MSG", leaving cfg as it was. */
static void load_fails(const char *text, int line, const char *msg) {
  config cfg;
  char err[1024] = "";
  int rc = load(&cfg, text, err, sizeof err);
  if (rc != AGENTAI_EINVAL)
    fprintf(stderr, "file that should fail:\n%s\n", text);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  check_msg(err, g_path, line, msg);
  /* Validation runs before anything is applied: still the defaults. */
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 8080);
  CHECK(strcmp(cfg.data_dir, "./data") == 0);
  CHECK_EQ_INT(cfg.lua_memory_limit, 64 * 1024 * 1024);
  CHECK(strcmp(cfg.source, "<embedded default>") == 0);
  config_free(&cfg);
}

static void test_defaults(void) {
  config cfg;
  config_defaults(&cfg);
  CHECK(strcmp(cfg.source, "<embedded default>") == 0);
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 8080);
  CHECK(strcmp(cfg.data_dir, "./data") == 0);
  CHECK(strcmp(cfg.storage_backend, "lmdb") == 0);
  CHECK(strcmp(cfg.plugin_dir, "") == 0);
  CHECK(cfg.plugin_load == NULL);
  CHECK_EQ_INT(cfg.plugin_load_count, 0);
  CHECK(cJSON_IsObject(cfg.plugin_settings));
  CHECK(cfg.plugin_settings->child == NULL);
  CHECK_EQ_INT(cfg.lua_memory_limit, 64 * 1024 * 1024);
  CHECK_EQ_INT(cfg.lua_cpu_limit, 2000000000LL);
  CHECK_EQ_INT(cfg.lua_slice_instructions, 100000);
  CHECK_EQ_INT(cfg.workflow_dir_count, 1);
  CHECK(strcmp(cfg.workflow_dirs[0], "workflows") == 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_INFO);

  char *json = config_plugin_json(&cfg, "provider-mock");
  CHECK(json && strcmp(json, "{}") == 0);
  free(json);
  json = config_to_json(&cfg);
  CHECK(json != NULL);
  CHECK_STR_CONTAINS(json, "\"listen\":\"127.0.0.1:8080\"");
  CHECK_STR_CONTAINS(json, "\"data_dir\":\"./data\"");
  CHECK_STR_CONTAINS(json, "\"memory_limit_mb\":64");
  CHECK_STR_CONTAINS(json, "\"workflow_path\":[\"workflows\"]");
  CHECK_STR_CONTAINS(json, "\"level\":\"info\"");
  CHECK(strstr(json, "\"load\"") == NULL); /* absent = every plugin */
  free(json);

  config_free(&cfg);
  CHECK(cfg.plugin_settings == NULL && cfg.workflow_dirs == NULL);
  config_free(&cfg); /* twice is harmless */
}

static void load_shipped(config *cfg, const char *name) {
  char path[1024], err[1024] = "";
  snprintf(path, sizeof path, "%s/config/%s", TEST_SOURCE_DIR, name);
  config_defaults(cfg);
  int rc = config_load_file(cfg, path, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(strcmp(cfg->source, path) == 0);
}

static void test_shipped_files(void) {
  config cfg;
  load_shipped(&cfg, "development.toml");
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_DEBUG);
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 8080);
  CHECK(cfg.plugin_load == NULL);
  CHECK_EQ_INT(cfg.workflow_dir_count, 2);
  CHECK_EQ_INT(cfg.lua_slice_instructions, 100000);
  char *json = config_plugin_json(&cfg, "provider-mock");
  CHECK(json && strcmp(json, "{\"mode\":\"echo\"}") == 0);
  free(json);
  config_free(&cfg);

  load_shipped(&cfg, "production.toml");
  CHECK(strcmp(cfg.listen_host, "0.0.0.0") == 0);
  CHECK_EQ_INT(cfg.listen_port, 8080);
  CHECK(strcmp(cfg.data_dir, "/var/lib/agentai") == 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_INFO);
  CHECK_EQ_INT(cfg.lua_cpu_limit, 2000000000);
  json = config_plugin_json(&cfg, "storage-lmdb");
  CHECK(json && strcmp(json, "{\"map_size_mb\":16384}") == 0);
  free(json);
  config_free(&cfg);

  load_shipped(&cfg, "testing.toml");
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 0);
  CHECK(strcmp(cfg.data_dir, "./data-test") == 0);
  CHECK_EQ_INT(cfg.lua_memory_limit, 16 * 1024 * 1024);
  CHECK_EQ_INT(cfg.lua_slice_instructions, 10000);
  CHECK_EQ_INT(cfg.plugin_load_count, 2);
  CHECK(strcmp(cfg.plugin_load[0], "storage-lmdb") == 0);
  CHECK(strcmp(cfg.plugin_load[1], "provider-mock") == 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_WARN);
  config_free(&cfg);
}

static void test_value_types(void) {
  /* Strings: every escape, literal strings, quoted keys. */
  parse_as("s = \"q\\\" b\\\\ n\\n t\\t r\\r f\\f b\\b\"\n"
           "u = \"\\u00e9\\U0001F600\"\n"
           "raw = 'C:\\path\\ \"as is\"'\n"
           "\"quoted.key\" = 1\n"
           "'lit key' = 2\n"
           "\"\" = 3\n"
           "utf = \"h\xc3\xa9\"\n",
           "{\"s\":\"q\\\" b\\\\ n\\n t\\t r\\r f\\f b\\b\",\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\","
           "\"raw\":\"C:\\\\path\\\\ \\\"as is\\\"\",\"quoted.key\":1,\"lit key\":2,\"\":3,"
           "\"utf\":\"h\xc3\xa9\"}");
  /* Integers: sign, underscores, zero, the exact-double limit. */
  parse_as("a = 1\nb = +17\nc = -42\nd = 1_000_000\ne = 0\nf = -0\n"
           "g = 999999999999999\nh = -999999999999999\n",
           "{\"a\":1,\"b\":17,\"c\":-42,\"d\":1000000,\"e\":0,\"f\":0,"
           "\"g\":999999999999999,\"h\":-999999999999999}");
  /* Floats. */
  cJSON *t = parse_ok("a = 3.14\nb = -0.5\nc = 1e3\nd = 6.626e-34\ne = 1_000.25\nf = 2E+2\n"
                      "g = 0.0\n",
                      strlen("a = 3.14\nb = -0.5\nc = 1e3\nd = 6.626e-34\ne = 1_000.25\n"
                             "f = 2E+2\ng = 0.0\n"));
  CHECK(cJSON_GetObjectItem(t, "a")->valuedouble == 3.14);
  CHECK(cJSON_GetObjectItem(t, "b")->valuedouble == -0.5);
  CHECK(cJSON_GetObjectItem(t, "c")->valuedouble == 1000.0);
  CHECK(cJSON_GetObjectItem(t, "d")->valuedouble == 6.626e-34);
  CHECK(cJSON_GetObjectItem(t, "e")->valuedouble == 1000.25);
  CHECK(cJSON_GetObjectItem(t, "f")->valuedouble == 200.0);
  CHECK(cJSON_GetObjectItem(t, "g")->valuedouble == 0.0);
  cJSON_Delete(t);
  /* Booleans. */
  parse_as("yes = true\nno = false\n", "{\"yes\":true,\"no\":false}");
  /* Arrays: empty, nested, mixed, spanning lines with comments and a trailing comma. */
  parse_as("a = []\nb = [1, [2, [3]], \"x\", true]\n"
           "c = [\n  1,  # one\n  # a comment line\n\n  2,\n]\n"
           "d = [ [ ], [ [ ] ] ]\n",
           "{\"a\":[],\"b\":[1,[2,[3]],\"x\",true],\"c\":[1,2],\"d\":[[],[[]]]}");
  /* Inline tables: empty, nested, dotted keys inside, inside arrays. */
  parse_as("a = {}\nb = { x = 1, y = { z = \"deep\" } }\nc = { p.q = 1, p.r = 2 }\n"
           "d = [ { n = 1 }, { n = 2 } ]\n",
           "{\"a\":{},\"b\":{\"x\":1,\"y\":{\"z\":\"deep\"}},\"c\":{\"p\":{\"q\":1,\"r\":2}},"
           "\"d\":[{\"n\":1},{\"n\":2}]}");
  /* Tables: dotted headers, implicit parents defined later, dotted keys,
   * header sub-tables of dotted-key tables, blanks around dots. */
  parse_as("top = 0\n[a.b.c]\nx = 1\n[a]\ny = 2\n[ \"q\" . r ]\nk.l.m = 3\n[q.r.k.sub]\nz = 4\n",
           "{\"top\":0,\"a\":{\"b\":{\"c\":{\"x\":1}},\"y\":2},"
           "\"q\":{\"r\":{\"k\":{\"l\":{\"m\":3},\"sub\":{\"z\":4}}}}}");
  /* CRLF line ends, a byte order mark, comments and blank lines everywhere. */
  parse_as("\xEF\xBB\xBF# head\r\n\r\n[s] # c\r\nx = 1 # c\r\n\t y\t=\t'v' \r\n",
           "{\"s\":{\"x\":1,\"y\":\"v\"}}");
  /* Empty and comment-only documents. */
  parse_as("", "{}");
  parse_as("# nothing\n\n   \n", "{}");
  /* Only len bytes count: the second line is past len. */
  t = parse_ok("a = 1\nb = 2", 5);
  char *json = cJSON_PrintUnformatted(t);
  CHECK(json && strcmp(json, "{\"a\":1}") == 0);
  free(json);
  cJSON_Delete(t);
}

static void test_line_index(void) {
  const char *text = "a = 1\n[s]\nx = 'v'\ny = [\n 1,\n]\n\n[t.u]\nf = 1.5\ng = { h = true }\n";
  cJSON *out = NULL;
  toml_index *ix = NULL;
  char err[256];
  CHECK_EQ_INT(toml_parse(text, strlen(text), "ix.toml", &out, &ix, err, sizeof err), 0);
  CHECK(ix != NULL);
  toml_type ty;
  const char *p_a[] = {"a"}, *p_sx[] = {"s", "x"}, *p_sy[] = {"s", "y"}, *p_t[] = {"t"},
             *p_tu[] = {"t", "u"}, *p_tuf[] = {"t", "u", "f"}, *p_tugh[] = {"t", "u", "g", "h"},
             *p_no[] = {"s", "nope"};
  CHECK_EQ_INT(toml_index_lookup(ix, p_a, 1, &ty), 1);
  CHECK_EQ_INT(ty, TOML_INTEGER);
  CHECK_EQ_INT(toml_index_lookup(ix, p_sx, 2, &ty), 3);
  CHECK_EQ_INT(ty, TOML_STRING);
  CHECK_EQ_INT(toml_index_lookup(ix, p_sy, 2, &ty), 4);
  CHECK_EQ_INT(ty, TOML_ARRAY);
  CHECK_EQ_INT(toml_index_lookup(ix, p_t, 1, &ty), 8); /* implicit parent: its header line */
  CHECK_EQ_INT(ty, TOML_TABLE);
  CHECK_EQ_INT(toml_index_lookup(ix, p_tu, 2, &ty), 8);
  CHECK_EQ_INT(toml_index_lookup(ix, p_tuf, 3, &ty), 9);
  CHECK_EQ_INT(ty, TOML_FLOAT);
  CHECK_EQ_INT(toml_index_lookup(ix, p_tugh, 4, &ty), 10);
  CHECK_EQ_INT(ty, TOML_BOOLEAN);
  CHECK_EQ_INT(toml_index_lookup(ix, p_no, 2, &ty), 0);
  CHECK_EQ_INT(ty, TOML_NONE);
  CHECK(strcmp(toml_type_name(TOML_FLOAT), "float") == 0);
  toml_index_free(ix);
  cJSON_Delete(out);
}

static void test_parse_errors(void) {
  /* Strings. */
  parse_fails("a = \"abc\nb = 1\n", 1, "key 'a': unterminated string");
  parse_fails("[s]\nx = 'abc", 2, "key 's.x': unterminated string");
  parse_fails("a = \"abc\\", 1, "key 'a': unterminated string");
  parse_fails("a = \"x\\q\"\n", 1, "key 'a': bad escape '\\q' in string");
  parse_fails("a = \"\\u12G4\"", 1, "key 'a': bad escape '\\u' in string: expected 4 hex digits");
  parse_fails("a = \"\\U0001F6\"", 1, "key 'a': bad escape '\\U' in string: expected 8 hex digits");
  parse_fails("a = \"\\uD800\"", 1,
              "key 'a': bad escape '\\uD800' in string: not a Unicode scalar value");
  parse_fails("a = \"\\u0000\"", 1, "key 'a': bad escape '\\u0000' in string: NUL is not allowed");
  parse_fails("a = \"x\x01\"", 1,
              "key 'a': control character 0x01 in string (write it as an escape)");
  parse_fails("a = \"\"\"long\"\"\"", 1, "key 'a': multi-line strings (\"\"\") are not supported");
  parse_fails("a = 'ok'\nb = \"\xff\"", 2, "invalid UTF-8 (byte 0xFF)");
  parse_fails("\"k\\x\" = 1", 1, "bad escape '\\x' in string");
  /* Duplicate keys and redefined tables. */
  parse_fails("a = 1\nb = 2\na = 3\n", 3, "key 'a': duplicate key (first defined on line 1)");
  parse_fails("[s]\nx.y = 1\nx.y = 2\n", 3, "key 's.x.y': duplicate key (first defined on line 2)");
  parse_fails("a = { x = 1, x = 2 }", 1, "key 'a.x': duplicate key (first defined on line 1)");
  parse_fails("a = [ 0, { x = 1, x = 2 } ]", 1,
              "key 'a[1].x': duplicate key (first defined on line 1)");
  parse_fails("[s]\nx = 1\n[t]\n[s]\n", 4, "key 's': table redefined (first defined on line 1)");
  parse_fails("[a.b]\n[a]\n[a]\n", 3, "key 'a': table redefined (first defined on line 2)");
  parse_fails("a.b = 1\n[a]\n", 2,
              "key 'a': table redefined (already defined by dotted keys on line 1)");
  parse_fails("a = 1\n[a]\n", 2,
              "key 'a': already has a value (integer, line 1); cannot be a table");
  parse_fails("a = {}\n[a.b]\n", 2,
              "key 'a': already has a value (inline table, line 1); cannot be a table");
  parse_fails("a = 1\na.b = 2\n", 2,
              "key 'a': already has a value (integer, line 1); cannot hold keys");
  parse_fails("a = { x = 1 }\na.y = 2\n", 2, "key 'a': inline table (line 1) cannot be extended");
  parse_fails("[a.b]\n[a]\nb.c = 1\n", 3,
              "key 'a.b': table created by a [header] on line 1 cannot be extended by dotted keys");
  parse_fails("[s]\n\"a.b\" = 1\n\"a.b\" = 2\n", 3,
              "key 's.\"a.b\"': duplicate key (first defined on line 2)");
  /* Numbers and bare values. */
  parse_fails("a = 12__3", 1, "key 'a': bad number '12__3'");
  parse_fails("a = 1_", 1, "key 'a': bad number '1_'");
  parse_fails("a = 1.", 1, "key 'a': bad number '1.'");
  parse_fails("a = .5", 1, "key 'a': bad number '.5'");
  parse_fails("a = 01", 1, "key 'a': bad number '01'");
  parse_fails("a = 0x1F", 1, "key 'a': bad number '0x1F'");
  parse_fails("a = 1e", 1, "key 'a': bad number '1e'");
  parse_fails("a = +", 1, "key 'a': bad number '+'");
  parse_fails("a = 1979-05-27", 1, "key 'a': bad number '1979-05-27'");
  parse_fails("a = 1_000_000_000_000_000", 1,
              "key 'a': integer '1_000_000_000_000_000' is out of range (at most 15 digits)");
  parse_fails("a = -1000000000000000", 1,
              "key 'a': integer '-1000000000000000' is out of range (at most 15 digits)");
  parse_fails("a = 1e999", 1, "key 'a': float '1e999' is out of range");
  parse_fails("a = yes", 1, "key 'a': invalid value 'yes' (strings need quotes)");
  parse_fails("a = inf", 1, "key 'a': invalid value 'inf' (strings need quotes)");
  parse_fails("a = truely", 1, "key 'a': invalid value 'truely' (strings need quotes)");
  /* Arrays. */
  parse_fails("x = 1\na = [1, 2,\n3\n", 2, "key 'a': unclosed array: end of file before ']'");
  parse_fails("a = [", 1, "key 'a': unclosed array: end of file before ']'");
  parse_fails("a = [1 2]", 1, "key 'a': expected ',' or ']' in array, got '2'");
  parse_fails("a = [1,,2]", 1, "key 'a[1]': expected a value, got ','");
  parse_fails("a = [\"x\", 'y\n]", 1, "key 'a[1]': unterminated string");
  /* Inline tables. */
  parse_fails("a = { x = 1", 1,
              "key 'a': unclosed inline table: inline tables must end on their line");
  parse_fails("a = { x = 1,\n y = 2 }", 1,
              "key 'a': unclosed inline table: inline tables must end on their line");
  parse_fails("a = { x = 1, }", 1, "key 'a': trailing comma in inline table");
  parse_fails("a = { x = 1 y = 2 }", 1, "key 'a': expected ',' or '}' in inline table, got 'y'");
  parse_fails("a = { x 1 }", 1, "key 'a': expected '=' after a key in inline table, got '1'");
  /* Garbage after a value or a header, missing pieces. */
  parse_fails("a = 1 2", 1, "key 'a': unexpected text after value: '2'");
  parse_fails("[s]\nb = \"x\" y\n", 2, "key 's.b': unexpected text after value: 'y'");
  parse_fails("a = true false", 1, "key 'a': unexpected text after value: 'f'");
  parse_fails("[s] x = 1", 1, "key 's': unexpected text after table header: 'x'");
  parse_fails("a =", 1, "key 'a': missing value");
  parse_fails("a = # comment", 1, "key 'a': expected a value, got '#'");
  parse_fails("a 1", 1, "expected '=' after key 'a', got '1'");
  parse_fails("[s]\n\"sp ace\".b", 2, "expected '=' after key '\"sp ace\".b', got end of file");
  parse_fails("= 1", 1, "expected a key, got '='");
  parse_fails("[s", 1, "expected ']' after the table name, got end of file");
  parse_fails("[]", 1, "expected a key, got ']'");
  parse_fails("[[a]]", 1, "arrays of tables ([[...]]) are not supported");
  parse_fails("a = 1\r", 1, "key 'a': unexpected text after value: byte 0x0D");
  parse_fails("# bell \x07\n", 1, "control character 0x07 in comment");

  /* Nesting: 63 arrays deep is fine, 64 is refused; same for inline tables and headers. */
  char buf[4096], want[512];
  size_t n = 0;
  n += (size_t)snprintf(buf + n, sizeof buf - n, "a = ");
  for (int i = 0; i < 63; i++)
    buf[n++] = '[';
  for (int i = 0; i < 63; i++)
    buf[n++] = ']';
  cJSON_Delete(parse_ok(buf, n));
  n = 0;
  n += (size_t)snprintf(buf + n, sizeof buf - n, "a = ");
  for (int i = 0; i < 64; i++)
    buf[n++] = '[';
  for (int i = 0; i < 64; i++)
    buf[n++] = ']';
  buf[n] = '\0';
  size_t w = (size_t)snprintf(want, sizeof want, "key 'a");
  for (int i = 0; i < 63; i++)
    w += (size_t)snprintf(want + w, sizeof want - w, "[0]");
  snprintf(want + w, sizeof want - w, "': nesting deeper than 64 levels");
  parse_fails(buf, 1, want);

  n = (size_t)snprintf(buf, sizeof buf, "a = ");
  for (int i = 0; i < 64; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{k = ");
  n += (size_t)snprintf(buf + n, sizeof buf - n, "1");
  for (int i = 0; i < 64; i++)
    buf[n++] = '}';
  buf[n] = '\0';
  w = (size_t)snprintf(want, sizeof want, "key 'a");
  for (int i = 0; i < 63; i++)
    w += (size_t)snprintf(want + w, sizeof want - w, ".k");
  snprintf(want + w, sizeof want - w, "': nesting deeper than 64 levels");
  parse_fails(buf, 1, want);

  n = (size_t)snprintf(buf, sizeof buf, "[h");
  for (int i = 1; i < 63; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, ".h");
  n += (size_t)snprintf(buf + n, sizeof buf - n, "]\nv = 1\n");
  cJSON_Delete(parse_ok(buf, n)); /* 63 tables and a key: 64 levels, the limit */
  n = (size_t)snprintf(buf, sizeof buf, "[h");
  for (int i = 1; i < 65; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, ".h");
  snprintf(buf + n, sizeof buf - n, "]\n");
  parse_fails(buf, 1, "key has more than 64 dotted parts");
  n = (size_t)snprintf(buf, sizeof buf, "[h");
  for (int i = 1; i < 64; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, ".h");
  snprintf(buf + n, sizeof buf - n, "]\nx.y = 1\n");
  w = (size_t)snprintf(want, sizeof want, "key 'h");
  for (int i = 1; i < 64; i++)
    w += (size_t)snprintf(want + w, sizeof want - w, ".h");
  snprintf(want + w, sizeof want - w, "': nesting deeper than 64 levels");
  parse_fails(buf, 2, want);

  /* Errors reach config_load_file with the file's path. */
  config cfg;
  char err[1024];
  CHECK_EQ_INT(load(&cfg, "[server]\nlisten = \"127.0.0.1:80\n", err, sizeof err), AGENTAI_EINVAL);
  check_msg(err, g_path, 2, "key 'server.listen': unterminated string");
  config_free(&cfg);
}

/* Big inputs stay linear: many keys in one table, a long table path. */
static void test_no_blowup(void) {
  size_t keys = 200000, cap = keys * 24 + 1024, n = 0;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  n += (size_t)snprintf(buf + n, cap - n, "[t.u.v]\n");
  for (size_t i = 0; i < keys; i++)
    n += (size_t)snprintf(buf + n, cap - n, "k%zu = %zu\n", i, i);
  clock_t t0 = clock();
  cJSON *out = parse_ok(buf, n);
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  fprintf(stderr, "   %zu keys parsed in %.2fs\n", keys, secs);
  CHECK(secs < 20.0); /* linear: well under a second natively; quadratic would take minutes */
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(
                   cJSON_GetObjectItem(cJSON_GetObjectItem(out, "t"), "u"), "v")),
               keys);
  cJSON_Delete(out);
  /* The same key twice at the end is still found. */
  n += (size_t)snprintf(buf + n, cap - n, "k7 = 1\n");
  char err[256];
  cJSON *bad = NULL;
  CHECK_EQ_INT(config_parse_toml(buf, n, "big.toml", &bad, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "key 't.u.v.k7': duplicate key (first defined on line 9)");
  free(buf);
}

static void test_schema_errors(void) {
  load_fails(
      "[sever]\nlisten = \"x\"\n", 1,
      "unknown section 'sever' (known: server, storage, plugins, lua, engine, llm, cache, log)");
  load_fails(
      "listen = \"127.0.0.1:1\"\n", 1,
      "unknown section 'listen' (known: server, storage, plugins, lua, engine, llm, cache, log)");
  load_fails("[server]\nlisen = \"127.0.0.1:1\"\n", 2,
             "unknown key 'server.lisen' (known: listen)");
  load_fails("[storage]\ndata_dir = \"d\"\npath = \"p\"\n", 3,
             "unknown key 'storage.path' (known: data_dir, backend)");
  load_fails("[lua]\n\nmemory = 1\n", 3,
             "unknown key 'lua.memory' (known: memory_limit_mb, cpu_limit, slice_instructions, "
             "workflow_path, route_path)");
  load_fails("[log]\nlvl = \"info\"\n", 2, "unknown key 'log.lvl' (known: level)");
  load_fails("[plugins]\nfoo = 1\n", 2,
             "unknown key 'plugins.foo' (known: dir, load, and [plugins.<name>] tables)");
  /* Wrong types. */
  load_fails("server = 1\n", 1, "key 'server': expected a table ([server]), got integer");
  load_fails("[lua]\nmemory_limit_mb = \"64\"\n", 2,
             "key 'lua.memory_limit_mb': expected a positive integer, got string");
  load_fails("[lua]\nmemory_limit_mb = 64.0\n", 2,
             "key 'lua.memory_limit_mb': expected a positive integer, got float");
  load_fails("[lua]\ncpu_limit = true\n", 2,
             "key 'lua.cpu_limit': expected a non-negative integer, got boolean");
  load_fails("[lua]\nworkflow_path = \"workflows\"\n", 2,
             "key 'lua.workflow_path': expected an array of folder paths, got string");
  load_fails(
      "[lua]\nworkflow_path = [\"a\", \"\"]\n", 2,
      "key 'lua.workflow_path': element 1: expected a non-empty string, got an empty string");
  load_fails("[plugins]\nload = [\"a\", 1]\n", 2,
             "key 'plugins.load': element 1: expected a non-empty string, got number");
  load_fails("[plugins]\nload = [[\"a\"]]\n", 2,
             "key 'plugins.load': element 0: expected a non-empty string, got array");
  load_fails("[plugins]\ndir = 5\n", 2, "key 'plugins.dir': expected a path, got integer");
  load_fails("[storage]\ndata_dir = \"\"\n", 2,
             "key 'storage.data_dir': expected a non-empty path, got an empty string");
  load_fails("[storage]\nbackend = []\n", 2,
             "key 'storage.backend': expected a storage backend name, got array");
  load_fails("[storage]\nbackend = \"0123456789012345678901234567890123456789012345678901234567"
             "89abcdef\"\n",
             2, "key 'storage.backend': too long (66 bytes, at most 63)");
  load_fails("[server]\nlisten = 8080\n", 2,
             "key 'server.listen': expected a \"HOST:PORT\" string, got integer");
  load_fails(
      "[log]\nlevel = 1\n", 2,
      "key 'log.level': expected one of \"debug\", \"info\", \"warn\", \"error\", got integer");
  /* Out of range. */
  load_fails("[lua]\nmemory_limit_mb = 0\n", 2,
             "key 'lua.memory_limit_mb': 0 is out of range (1..65536)");
  load_fails("[lua]\nmemory_limit_mb = 65537\n", 2,
             "key 'lua.memory_limit_mb': 65537 is out of range (1..65536)");
  load_fails("[lua]\nslice_instructions = 999\n", 2,
             "key 'lua.slice_instructions': 999 is out of range (1000..100000000)");
  load_fails("[lua]\nslice_instructions = 100_000_001\n", 2,
             "key 'lua.slice_instructions': 100000001 is out of range (1000..100000000)");
  load_fails("[lua]\ncpu_limit = -1\n", 2,
             "key 'lua.cpu_limit': -1 is out of range (0..999999999999999)");
  /* Bad values. */
  const char *bad_listen[] = {"localhost",     "127.0.0.1:", ":8080",   "127.0.0.1:65536",
                              "127.0.0.1:-1",  "::1:80",     "[::1]80", "host name:80",
                              "127.0.0.1:80x", "[::1:80"};
  for (size_t i = 0; i < sizeof bad_listen / sizeof bad_listen[0]; i++) {
    char text[256], msg[512];
    snprintf(text, sizeof text, "[server]\nlisten = \"%s\"\n", bad_listen[i]);
    snprintf(msg, sizeof msg,
             "key 'server.listen': expected \"HOST:PORT\" with a port from 0 to 65535 "
             "(\"[::1]:PORT\" for IPv6), got '%s'",
             bad_listen[i]);
    load_fails(text, 2, msg);
  }
  load_fails("[log]\nlevel = \"verbose\"\n", 2,
             "key 'log.level': expected one of \"debug\", \"info\", \"warn\", \"error\", got "
             "'verbose'");
  load_fails("[plugins.\"\"]\nx = 1\n", 1, "key 'plugins.': a plugin section needs a plugin name");
  /* Sections written as inline tables are checked the same way, on their line. */
  load_fails("\n\nlua = { memory_limit_mb = \"big\" }\n", 3,
             "key 'lua.memory_limit_mb': expected a positive integer, got string");
  /* A valid key before the bad one is not applied either (checked by load_fails). */
  load_fails("[server]\nlisten = \"10.0.0.1:1\"\n[storage]\ndata_dir = \"/x\"\n[lua]\n"
             "memory_limit_mb = 1\nbogus = 1\n",
             7,
             "unknown key 'lua.bogus' (known: memory_limit_mb, cpu_limit, slice_instructions, "
             "workflow_path, route_path)");

  /* Missing and unreadable files. */
  config cfg;
  char err[1024], path[600];
  config_defaults(&cfg);
  snprintf(path, sizeof path, "%s/missing.toml", g_dir);
  CHECK_EQ_INT(config_load_file(&cfg, path, err, sizeof err), AGENTAI_ENOENT);
  char want[800];
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
  CHECK(strcmp(err, want) == 0);
  CHECK_EQ_INT(config_load_file(&cfg, g_dir, err, sizeof err), AGENTAI_EIO); /* a folder */
  CHECK_STR_CONTAINS(err, g_dir);
  CHECK_STR_CONTAINS(err, "cannot read");
  config_free(&cfg);
}

static void test_full_file(void) {
  config cfg;
  char err[1024] = "";
  int rc = load(&cfg,
                "# every key\n"
                "[server]\nlisten = \"[::1]:9000\"\n"
                "[storage]\ndata_dir = \"rel/data\"\nbackend = \"memory\"\n"
                "[plugins]\ndir = \"build/plugins\"\nload = [\"storage-lmdb\", \"./x/p.so\"]\n"
                "[lua]\nmemory_limit_mb = 65536\ncpu_limit = 999_999_999_999_999\n"
                "slice_instructions = 1000\nworkflow_path = [\"a\", \"b/c\", \"/abs\"]\n"
                "[log]\nlevel = \"error\"\n",
                err, sizeof err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(strcmp(cfg.source, g_path) == 0);
  CHECK(strcmp(cfg.listen_host, "::1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 9000);
  CHECK(strcmp(cfg.data_dir, "rel/data") == 0); /* relative stays relative to the cwd */
  CHECK(strcmp(cfg.storage_backend, "memory") == 0);
  CHECK(strcmp(cfg.plugin_dir, "build/plugins") == 0);
  CHECK_EQ_INT(cfg.plugin_load_count, 2);
  CHECK(strcmp(cfg.plugin_load[1], "./x/p.so") == 0);
  CHECK_EQ_INT(cfg.lua_memory_limit, (size_t)65536 * 1024 * 1024);
  CHECK(cfg.lua_cpu_limit == UINT64_C(999999999999999));
  CHECK_EQ_INT(cfg.lua_slice_instructions, 1000);
  CHECK_EQ_INT(cfg.workflow_dir_count, 3);
  CHECK(strcmp(cfg.workflow_dirs[2], "/abs") == 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_ERROR);
  char *json = config_to_json(&cfg);
  CHECK_STR_CONTAINS(json, "\"listen\":\"[::1]:9000\"");
  CHECK_STR_CONTAINS(json, "\"load\":[\"storage-lmdb\",\"./x/p.so\"]");
  CHECK_STR_CONTAINS(json, "\"level\":\"error\"");
  free(json);
  config_free(&cfg);

  /* Empty lists are kept as "none" (not "all"), and a second file overrides a first. */
  rc = load(&cfg, "[plugins]\nload = []\n[lua]\nworkflow_path = []\n", err, sizeof err);
  CHECK_EQ_INT(rc, 0);
  CHECK(cfg.plugin_load != NULL);
  CHECK_EQ_INT(cfg.plugin_load_count, 0);
  CHECK_EQ_INT(cfg.workflow_dir_count, 0);
  write_text(g_path, "[plugins]\nload = [\"one\"]\n", strlen("[plugins]\nload = [\"one\"]\n"));
  CHECK_EQ_INT(config_load_file(&cfg, g_path, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.plugin_load_count, 1);
  CHECK(strcmp(cfg.plugin_load[0], "one") == 0);
  config_free(&cfg);

  /* From memory: only len bytes are read, the name labels errors and the source. */
  const char *text = "[log]\nlevel = \"warn\"\n[bogus]\n";
  size_t len = strlen("[log]\nlevel = \"warn\"\n");
  char *exact = malloc(len);
  CHECK(exact != NULL);
  memcpy(exact, text, len);
  config_defaults(&cfg);
  CHECK_EQ_INT(config_load_buffer(&cfg, exact, len, "mem.toml", err, sizeof err), 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_WARN);
  CHECK(strcmp(cfg.source, "mem.toml") == 0);
  CHECK_EQ_INT(config_load_buffer(&cfg, text, strlen(text), "mem.toml", err, sizeof err),
               AGENTAI_EINVAL);
  check_msg(
      err, "mem.toml", 3,
      "unknown section 'bogus' (known: server, storage, plugins, lua, engine, llm, cache, log)");
  free(exact);
  config_free(&cfg);
}

static void test_plugin_sections(void) {
  config cfg;
  char err[1024] = "";
  int rc = load(&cfg,
                "[plugins]\nload = [\"provider-mock\"]\n"
                "[plugins.provider-mock]\nmode = \"echo\"\nlatency_ms = 5\n"
                "models = [\"mock-1\", \"mock-2\"]\nreply = { text = \"hi\", ratio = 0.5 }\n"
                "[plugins.provider-mock.extra]\nflag = true\n"
                "[plugins.storage-lmdb]\nmap_size_mb = 64\n"
                "[plugins.empty]\n",
                err, sizeof err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  char *json = config_plugin_json(&cfg, "provider-mock");
  CHECK(json != NULL);
  const char *want = "{\"mode\":\"echo\",\"latency_ms\":5,\"models\":[\"mock-1\",\"mock-2\"],"
                     "\"reply\":{\"text\":\"hi\",\"ratio\":0.5},\"extra\":{\"flag\":true}}";
  if (strcmp(json, want) != 0)
    fprintf(stderr, "got %s\n", json);
  CHECK(strcmp(json, want) == 0);
  free(json);
  json = config_plugin_json(&cfg, "storage-lmdb");
  CHECK(json && strcmp(json, "{\"map_size_mb\":64}") == 0);
  free(json);
  json = config_plugin_json(&cfg, "empty");
  CHECK(json && strcmp(json, "{}") == 0);
  free(json);
  json = config_plugin_json(&cfg, "absent");
  CHECK(json && strcmp(json, "{}") == 0);
  free(json);
  CHECK_EQ_INT(cJSON_GetArraySize(cfg.plugin_settings), 3);
  /* A later file replaces a plugin's section whole, keeping the others. */
  write_text(g_path, "[plugins.storage-lmdb]\nsubdir = \"db\"\n",
             strlen("[plugins.storage-lmdb]\nsubdir = \"db\"\n"));
  CHECK_EQ_INT(config_load_file(&cfg, g_path, err, sizeof err), 0);
  json = config_plugin_json(&cfg, "storage-lmdb");
  CHECK(json && strcmp(json, "{\"subdir\":\"db\"}") == 0);
  free(json);
  json = config_plugin_json(&cfg, "provider-mock");
  CHECK_STR_CONTAINS(json, "\"mode\":\"echo\"");
  free(json);
  json = config_to_json(&cfg);
  CHECK_STR_CONTAINS(json, "\"storage-lmdb\":{\"subdir\":\"db\"}");
  free(json);
  config_free(&cfg);
}

static void test_listen(void) {
  char host[64];
  int port = -1;
  CHECK_EQ_INT(config_parse_listen("127.0.0.1:8080", host, sizeof host, &port), 0);
  CHECK(strcmp(host, "127.0.0.1") == 0 && port == 8080);
  CHECK_EQ_INT(config_parse_listen("localhost:0", host, sizeof host, &port), 0);
  CHECK(strcmp(host, "localhost") == 0 && port == 0);
  CHECK_EQ_INT(config_parse_listen("[::1]:65535", host, sizeof host, &port), 0);
  CHECK(strcmp(host, "::1") == 0 && port == 65535);
  CHECK_EQ_INT(config_parse_listen("[fe80::1%eth0]:80", host, sizeof host, &port), 0);
  CHECK(strcmp(host, "fe80::1%eth0") == 0);
  const char *bad[] = {"",      ":1",    "h:",       "h",       "h:65536",
                       "h:1:2", "[::1]", "[]:80",    "[::1]:",  "h: 80",
                       " h:80", "h:+80", "h:123456", "[a]b:80", "a[b]:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    port = -7;
    if (config_parse_listen(bad[i], host, sizeof host, &port) != AGENTAI_EINVAL)
      fprintf(stderr, "accepted listen '%s'\n", bad[i]);
    CHECK_EQ_INT(config_parse_listen(bad[i], host, sizeof host, &port), AGENTAI_EINVAL);
    CHECK_EQ_INT(port, -7);
  }
  char small[4];
  CHECK_EQ_INT(config_parse_listen("abcd:1", small, sizeof small, &port), AGENTAI_EINVAL);
  CHECK_EQ_INT(config_parse_listen("abc:1", small, sizeof small, &port), 0);
  CHECK_EQ_INT(config_parse_listen(NULL, host, sizeof host, &port), AGENTAI_EINVAL);
}

static const char *const ENV_VARS[] = {
    "AGENTAI_LISTEN",        "AGENTAI_DATA",          "AGENTAI_STORAGE",
    "AGENTAI_PLUGIN_DIR",    "AGENTAI_PLUGINS",       "AGENTAI_LOG_LEVEL",
    "AGENTAI_LUA_MEMORY_MB", "AGENTAI_LUA_CPU_LIMIT", "AGENTAI_WORKFLOW_PATH"};

static void env_clear(void) {
  for (size_t i = 0; i < sizeof ENV_VARS / sizeof ENV_VARS[0]; i++)
    unsetenv(ENV_VARS[i]);
}

/* Sets one variable and expects config_apply_env to refuse it with msg,
 * leaving cfg untouched. */
static void env_fails(const char *var, const char *value, const char *msg) {
  env_clear();
  setenv("AGENTAI_LISTEN", "10.1.2.3:99", 1); /* valid, must not be applied */
  setenv(var, value, 1);
  config cfg;
  config_defaults(&cfg);
  char err[1024] = "";
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), AGENTAI_EINVAL);
  if (strcmp(err, msg) != 0)
    fprintf(stderr, "got:  %s\nwant: %s\n", err, msg);
  CHECK(strcmp(err, msg) == 0);
  CHECK(strcmp(cfg.listen_host, "127.0.0.1") == 0);
  CHECK_EQ_INT(cfg.listen_port, 8080);
  config_free(&cfg);
  env_clear();
}

static void test_env(void) {
  env_clear();
  config cfg;
  char err[1024] = "";
  config_defaults(&cfg);
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), 0); /* nothing set: nothing changes */
  CHECK_EQ_INT(cfg.listen_port, 8080);

  setenv("AGENTAI_LISTEN", "0.0.0.0:9090", 1);
  setenv("AGENTAI_DATA", "/tmp/agentai-data", 1);
  setenv("AGENTAI_STORAGE", "memory", 1);
  setenv("AGENTAI_PLUGIN_DIR", "build/plugins", 1);
  setenv("AGENTAI_PLUGINS", " storage-lmdb , provider-mock,./my.so ", 1);
  setenv("AGENTAI_LOG_LEVEL", "warn", 1);
  setenv("AGENTAI_LUA_MEMORY_MB", "256", 1);
  setenv("AGENTAI_LUA_CPU_LIMIT", "18446744073709551615", 1);
  setenv("AGENTAI_WORKFLOW_PATH", "wf:/opt/wf with space", 1);
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), 0);
  CHECK(strcmp(cfg.listen_host, "0.0.0.0") == 0);
  CHECK_EQ_INT(cfg.listen_port, 9090);
  CHECK(strcmp(cfg.data_dir, "/tmp/agentai-data") == 0);
  CHECK(strcmp(cfg.storage_backend, "memory") == 0);
  CHECK(strcmp(cfg.plugin_dir, "build/plugins") == 0);
  CHECK_EQ_INT(cfg.plugin_load_count, 3);
  CHECK(strcmp(cfg.plugin_load[0], "storage-lmdb") == 0);
  CHECK(strcmp(cfg.plugin_load[1], "provider-mock") == 0);
  CHECK(strcmp(cfg.plugin_load[2], "./my.so") == 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_WARN);
  CHECK_EQ_INT(cfg.lua_memory_limit, (size_t)256 * 1024 * 1024);
  CHECK(cfg.lua_cpu_limit == UINT64_MAX);
  CHECK_EQ_INT(cfg.workflow_dir_count, 2);
  CHECK(strcmp(cfg.workflow_dirs[1], "/opt/wf with space") == 0);
  /* Applying again replaces the lists instead of leaking or appending. */
  setenv("AGENTAI_PLUGINS", "one", 1);
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.plugin_load_count, 1);
  config_free(&cfg);

  /* The environment wins over a file. */
  env_clear();
  setenv("AGENTAI_LOG_LEVEL", "error", 1);
  CHECK_EQ_INT(load(&cfg, "[log]\nlevel = \"debug\"\n", err, sizeof err), 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_DEBUG);
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.log_level, AGENTAI_LOG_ERROR);
  config_free(&cfg);

  /* Set but empty counts as unset. */
  env_clear();
  setenv("AGENTAI_LUA_MEMORY_MB", "", 1);
  setenv("AGENTAI_DATA", "", 1);
  config_defaults(&cfg);
  CHECK_EQ_INT(config_apply_env(&cfg, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.lua_memory_limit, 64 * 1024 * 1024);
  CHECK(strcmp(cfg.data_dir, "./data") == 0);
  config_free(&cfg);

  const char *listen_msg = "AGENTAI_LISTEN: expected HOST:PORT with a port from 0 to 65535 "
                           "([::1]:PORT for IPv6), got '%s'";
  char msg[512];
  snprintf(msg, sizeof msg, listen_msg, "8080");
  env_fails("AGENTAI_LISTEN", "8080", msg);
  snprintf(msg, sizeof msg, listen_msg, "h:70000");
  env_fails("AGENTAI_LISTEN", "h:70000", msg);
  env_fails("AGENTAI_LOG_LEVEL", "loud",
            "AGENTAI_LOG_LEVEL: expected one of debug, info, warn, error, got 'loud'");
  env_fails("AGENTAI_LUA_MEMORY_MB", "64MB",
            "AGENTAI_LUA_MEMORY_MB: expected an integer from 1 to 65536, got '64MB'");
  env_fails("AGENTAI_LUA_MEMORY_MB", "0",
            "AGENTAI_LUA_MEMORY_MB: expected an integer from 1 to 65536, got '0'");
  env_fails("AGENTAI_LUA_MEMORY_MB", "65537",
            "AGENTAI_LUA_MEMORY_MB: expected an integer from 1 to 65536, got '65537'");
  env_fails("AGENTAI_LUA_MEMORY_MB", "-5",
            "AGENTAI_LUA_MEMORY_MB: expected an integer from 1 to 65536, got '-5'");
  env_fails("AGENTAI_LUA_CPU_LIMIT", "18446744073709551616",
            "AGENTAI_LUA_CPU_LIMIT: expected a non-negative integer (instructions, 0 = unlimited), "
            "got '18446744073709551616'");
  env_fails("AGENTAI_LUA_CPU_LIMIT", "1e6",
            "AGENTAI_LUA_CPU_LIMIT: expected a non-negative integer (instructions, 0 = unlimited), "
            "got '1e6'");
  env_fails("AGENTAI_PLUGINS", "a,,b",
            "AGENTAI_PLUGINS: expected a comma-separated list of plugin names or paths, without "
            "empty entries, got 'a,,b'");
  env_fails("AGENTAI_PLUGINS", " , ",
            "AGENTAI_PLUGINS: expected a comma-separated list of plugin names or paths, without "
            "empty entries, got ' , '");
  env_fails("AGENTAI_WORKFLOW_PATH", "a:",
            "AGENTAI_WORKFLOW_PATH: expected a colon-separated list of folders, without empty "
            "entries, got 'a:'");
  char longv[1100];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  env_fails("AGENTAI_DATA", longv, "AGENTAI_DATA: value too long (1099 bytes, at most 1023)");
  env_fails("AGENTAI_STORAGE", longv, "AGENTAI_STORAGE: value too long (1099 bytes, at most 63)");
  env_fails("AGENTAI_PLUGIN_DIR", longv,
            "AGENTAI_PLUGIN_DIR: value too long (1099 bytes, at most 1023)");
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/agentai-test-config-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  snprintf(g_path, sizeof g_path, "%s/c.toml", g_dir);

  RUN(test_defaults);
  RUN(test_shipped_files);
  RUN(test_value_types);
  RUN(test_line_index);
  RUN(test_parse_errors);
  RUN(test_no_blowup);
  RUN(test_schema_errors);
  RUN(test_full_file);
  RUN(test_plugin_sections);
  RUN(test_listen);
  RUN(test_env);

  unlink(g_path);
  CHECK_EQ_INT(rmdir(g_dir), 0);
  CHECK_DONE();
}
