/* tests/unit/test_ljson.c — JSON <-> Lua: round trips, exactness, every error path. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lua/ljson.h"

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

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  CHECK(L != NULL);
  luaL_openlibs(L);
  luaL_requiref(L, "json", ljson_open, 1);
  lua_pop(L, 1);
  return L;
}

/* Pushes the value returned by a Lua chunk. */
static void push_chunk(lua_State *L, const char *code) {
  check_count_++;
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "Lua chunk failed: %s\n", lua_tostring(L, -1));
    exit(1);
  }
}

/* Runs a Lua chunk whose assert()s are part of the test. */
static void run_lua(lua_State *L, const char *code) {
  check_count_++;
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "Lua chunk failed: %s\n---\n%s\n---\n", lua_tostring(L, -1), code);
    exit(1);
  }
  lua_settop(L, 0);
}

/* Evaluates `chunk` (which returns one value) and encodes the result. */
static char *encode_chunk(lua_State *L, const char *chunk, unsigned flags, int *rc, char *err,
                          size_t err_len) {
  char *out = NULL;
  size_t len = 0;
  if (luaL_dostring(L, chunk) != LUA_OK) {
    fprintf(stderr, "Lua chunk failed: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  int top = lua_gettop(L);
  *rc = ljson_encode_ex(L, -1, flags, &out, &len, err, err_len);
  CHECK_EQ_INT(lua_gettop(L), top); /* stack unchanged either way */
  if (*rc == 0) {
    CHECK(out != NULL);
    CHECK_EQ_INT(strlen(out), len);
  } else {
    CHECK(out == NULL);
  }
  lua_settop(L, 0);
  return out;
}

static void check_encode(lua_State *L, const char *chunk, const char *want) {
  char err[256];
  int rc;
  char *out = encode_chunk(L, chunk, 0, &rc, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "encode failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_STR_EQ(out, want);
  free(out);
}

static void check_encode_err(lua_State *L, const char *chunk, int code, const char *msg) {
  char err[1024];
  int rc;
  char *out = encode_chunk(L, chunk, 0, &rc, err, sizeof err);
  CHECK_EQ_INT(rc, code);
  CHECK(out == NULL);
  CHECK_STR_EQ(err, msg);
}

/* Decodes from a heap copy of exactly len bytes, so that ASan catches any read past the end. */
static int decode_exact(lua_State *L, const char *text, size_t len, char *err, size_t err_len) {
  char *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  int top = lua_gettop(L);
  int rc = ljson_decode(L, len ? copy : NULL, len, err, err_len);
  CHECK_EQ_INT(lua_gettop(L), top + (rc == 0 ? 1 : 0));
  free(copy);
  return rc;
}

static void check_decode_err_n(lua_State *L, const char *text, size_t len, const char *msg) {
  char err[512];
  int rc = decode_exact(L, text, len, err, sizeof err);
  if (rc == 0)
    fprintf(stderr, "unexpectedly decoded: %.*s\n", (int)len, text);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_EQ(err, msg);
}

static void check_decode_err(lua_State *L, const char *text, const char *msg) {
  check_decode_err_n(L, text, strlen(text), msg);
}

/* Decodes text and checks that it re-encodes to want. */
static void check_reencode(lua_State *L, const char *text, const char *want) {
  char err[256], *out = NULL;
  int rc = decode_exact(L, text, strlen(text), err, sizeof err);
  if (rc)
    fprintf(stderr, "decode of [%s] failed: %s\n", text, err);
  CHECK_EQ_INT(rc, 0);
  rc = ljson_encode(L, -1, &out, NULL, err, sizeof err);
  if (rc)
    fprintf(stderr, "encode failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_STR_EQ(out, want);
  free(out);
  lua_settop(L, 0);
}

static void test_roundtrip_types(void) {
  lua_State *L = new_state();
  check_reencode(L, "null", "null");
  check_reencode(L, "true", "true");
  check_reencode(L, "false", "false");
  check_reencode(L, "0", "0");
  check_reencode(L, "-17", "-17");
  check_reencode(L, "2.5", "2.5");
  check_reencode(L, "\"hi\"", "\"hi\"");
  check_reencode(L, " \t\r\n [ 1 , \"a\" , { \"k\" : [ ] } , { } ] \n", "[1,\"a\",{\"k\":[]},{}]");
  check_reencode(L, "{\"b\":{\"y\":[true,false,null],\"x\":-0.5},\"a\":\"\"}",
                 "{\"a\":\"\",\"b\":{\"x\":-0.5,\"y\":[true,false,null]}}");
  check_reencode(L, "{\"a\":1,\"a\":2}", "{\"a\":2}"); /* duplicate keys: last wins */
  check_encode(L, "return nil", "null");
  check_encode(L, "return json.null", "null");
  check_encode(L, "return {1, 'two', {three = 3}, false}", "[1,\"two\",{\"three\":3},false]");
  check_encode(L, "local x = {1} return {x, x}", "[[1],[1]]"); /* shared, not a cycle */
  run_lua(L, "local v = json.decode('[1,\"a\",{\"k\":true},null]')\n"
             "assert(#v == 4 and v[1] == 1 and v[2] == 'a' and v[3].k == true)\n"
             "assert(v[4] == json.null and json.is_array(v))\n"
             "assert(json.decode('null') == json.null)\n"
             "assert(json.decode('true') == true and json.decode('false') == false)\n"
             "assert(json.decode(' \\n 7 \\t') == 7)");
  lua_close(L);
}

static void test_integers(void) {
  lua_State *L = new_state();
  run_lua(L, "local v = json.decode('9007199254740993')\n"
             "assert(math.type(v) == 'integer' and v == 9007199254740993)\n"
             "v = json.decode('-9223372036854775808')\n"
             "assert(math.type(v) == 'integer' and v == math.mininteger)\n"
             "v = json.decode('9223372036854775807')\n"
             "assert(math.type(v) == 'integer' and v == math.maxinteger)\n"
             "v = json.decode('9223372036854775808')\n"
             "assert(math.type(v) == 'float' and v == 2^63)\n"
             "v = json.decode('-9223372036854775809')\n"
             "assert(math.type(v) == 'float' and v == -2^63)\n"
             "assert(math.type(json.decode('-0')) == 'integer')\n"
             "assert(math.type(json.decode('1E2')) == 'float')\n"
             "assert(math.type(json.decode('100')) == 'integer')");
  check_reencode(L, "9007199254740993", "9007199254740993");
  check_reencode(L, "-9223372036854775808", "-9223372036854775808");
  check_reencode(L, "9223372036854775807", "9223372036854775807");
  check_reencode(L, "[9223372036854775808]", "[9.223372036854776e+18]");
  check_reencode(L, "123456789012345678901234567890", "1.2345678901234568e+29");
  check_reencode(L, "-0", "0");
  check_encode(L, "return math.maxinteger", "9223372036854775807");
  check_encode(L, "return math.mininteger", "-9223372036854775808");
  check_encode(L, "return {9007199254740993, -1, 0}", "[9007199254740993,-1,0]");
  lua_close(L);
}

static void test_floats(void) {
  lua_State *L = new_state();
  check_encode(L, "return 0.1", "0.1");
  check_encode(L, "return 1e300", "1e+300");
  check_encode(L, "return -0.0", "-0.0");
  check_encode(L, "return 3.0", "3.0");
  check_encode(L, "return 100.0", "100.0");
  check_encode(L, "return 1e15", "1e+15");
  check_encode(L, "return 2^53", "9007199254740992.0");
  check_encode(L, "return 1/3", "0.3333333333333333");
  check_encode(L, "return 0.1 + 0.2", "0.30000000000000004");
  check_encode(L, "return 123.456", "123.456");
  check_encode(L, "return -1.5e-7", "-1.5e-07");
  check_encode(L, "return 5e-324", "4.94065645841247e-324");
  check_encode(L, "return 1.7976931348623157e308", "1.7976931348623157e+308");
  check_reencode(L, "[0.1,1e300,-0.0,3.0,1E-2,5e-324]",
                 "[0.1,1e+300,-0.0,3.0,0.01,4.94065645841247e-324]");
  check_reencode(L, "1e-400", "0.0"); /* underflow rounds to zero, as strtod does */
  /* Long number literals: exact digits well past 64 bytes go through the scratch buffer. */
  char num[1200];
  memset(num, '0', sizeof num);
  num[0] = '1';
  num[301] = '\0'; /* 1 followed by 300 zeros */
  check_reencode(L, num, "1e+300");
  num[0] = '0';
  num[1] = '.';
  num[1000] = '5';
  num[1001] = '\0'; /* 0.000...5 with 998 zeros: below the smallest double */
  check_reencode(L, num, "0.0");
  memset(num, '9', 400);
  num[400] = '\0';
  check_decode_err(L, num, "number out of range at byte 0 (line 1, column 1)");
  run_lua(L, "for _, x in ipairs{0.1, 1e300, -0.0, 3.0, 1/3, 2^-1074, 2^1023, 123456.789e-3} do\n"
             "  local y = json.decode(json.encode(x))\n"
             "  assert(math.type(y) == 'float' and y == x, tostring(x))\n"
             "  assert(1/y == 1/x) -- keeps the sign of zero\n"
             "end\n"
             "assert(1/json.decode('-0.0') == -math.huge)");
  lua_close(L);
}

static void test_strings(void) {
  lua_State *L = new_state();
  check_reencode(L, "\"\\u00e9\\u20AC\"", "\"\xc3\xa9\xe2\x82\xac\"");
  check_reencode(L, "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
  check_reencode(L, "\"\\uDBFF\\uDFFF\"", "\"\xf4\x8f\xbf\xbf\"");
  check_reencode(L, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
  check_reencode(L, "\"a\\u0000b\\u001F\\u007f\"", "\"a\\u0000b\\u001f\x7f\"");
  check_reencode(L, "\"\xf0\x9f\x98\x80 raw \xc3\xa9\"", "\"\xf0\x9f\x98\x80 raw \xc3\xa9\"");
  check_reencode(L, "{\"\\u00e9\":1,\"e\":2}", "{\"e\":2,\"\xc3\xa9\":1}");
  check_encode(L, "return '\\1\\n\\t\"\\\\/\\127\\31'", "\"\\u0001\\n\\t\\\"\\\\/\x7f\\u001f\"");
  check_encode(L, "return 'a\\0b'", "\"a\\u0000b\"");
  run_lua(L, "local s = json.decode('\"\\\\u0000\"')\n"
             "assert(#s == 1 and s:byte() == 0)\n"
             "assert(json.decode('\"\\\\ud83d\\\\ude00\"') == '\\u{1F600}')\n"
             "assert(json.decode('\"\\\\b\\\\f\\\\n\\\\r\\\\t\\\\/\"') == '\\b\\f\\n\\r\\t/')");
  lua_close(L);
}

static void test_empty_and_null(void) {
  lua_State *L = new_state();
  check_reencode(L, "[]", "[]");
  check_reencode(L, "{}", "{}");
  check_reencode(L, "[[],{},[[]]]", "[[],{},[[]]]");
  check_reencode(L, "[1,null,3]", "[1,null,3]");
  check_reencode(L, "[null,null]", "[null,null]");
  check_reencode(L, "{\"a\":null}", "{\"a\":null}");
  check_encode(L, "return {}", "{}");
  check_encode(L, "return json.array()", "[]");
  check_encode(L, "return json.object()", "{}");
  check_encode(L, "return json.object{a = 1}", "{\"a\":1}");
  check_encode(L, "return json.array{1, nil, 3}", "[1,null,3]");
  check_encode(L, "local a = json.array() a[3] = 'x' return a", "[null,null,\"x\"]");
  check_encode(L, "return json.array{json.null}", "[null]");
  check_encode(L, "return {a = json.null, b = json.array(), c = {}}",
               "{\"a\":null,\"b\":[],\"c\":{}}");
  run_lua(L, "local a = json.decode('[]')\n"
             "assert(type(a) == 'table' and next(a) == nil and json.is_array(a))\n"
             "local o = json.decode('{}')\n"
             "assert(type(o) == 'table' and next(o) == nil and not json.is_array(o))\n"
             "local t = json.decode('[1,null,3]')\n"
             "assert(#t == 3 and t[2] == json.null)\n"
             "assert(json.decode('{\"a\":null}').a == json.null)\n"
             "assert(json.null ~= nil and type(json.null) == 'userdata')");
  lua_close(L);
}

static void test_sorted_keys(void) {
  lua_State *L = new_state();
  check_encode(L, "return {b = 1, a = 2, B = 3, ['\\u{e9}'] = 4, aa = 5, [''] = 6, ['a\\0'] = 7}",
               "{\"\":6,\"B\":3,\"a\":2,\"a\\u0000\":7,\"aa\":5,\"b\":1,\"\xc3\xa9\":4}");
  check_encode(L, "return {z = {y = 1, x = {d = 1, c = 2}}, a = {}}",
               "{\"a\":{},\"z\":{\"x\":{\"c\":2,\"d\":1},\"y\":1}}");
  /* Same content, different insertion histories and table sizes: identical text. */
  run_lua(L, "local a, b = {}, {}\n"
             "for i = 1, 300 do a['k' .. i] = {i, {v = i}} end\n"
             "for i = 300, 1, -1 do b['k' .. i] = {i, {v = i}} end\n"
             "for i = 1, 200 do b['junk' .. i] = true end\n"
             "for i = 1, 200 do b['junk' .. i] = nil end\n"
             "local ea, eb = json.encode(a), json.encode(b)\n"
             "assert(ea == eb)\n"
             "assert(ea:sub(1, 28) == '{\"k1\":[1,{\"v\":1}],\"k10\":[10,')\n"
             "assert(json.encode(json.decode(ea)) == ea)");
  /* Objects past the stack-anchoring size (2048 keys) take the anchor-table path. */
  run_lua(L, "local a, b = {}, {}\n"
             "for i = 1, 5000 do a[('%05d'):format(i)] = {i} end\n"
             "for i = 5000, 1, -1 do b[('%05d'):format(i)] = {i} end\n"
             "local ea = json.encode(a)\n"
             "assert(ea == json.encode(b))\n"
             "assert(ea:sub(1, 24) == '{\"00001\":[1],\"00002\":[2]')\n"
             "assert(ea:sub(-16) == ',\"05000\":[5000]}', ea:sub(-16))\n"
             "local d = json.decode(ea)\n"
             "for i = 1, 5000 do assert(d[('%05d'):format(i)][1] == i) end\n"
             "a['02500'] = {fn = print}\n"
             "local ok, e = pcall(json.encode, {big = a})\n"
             "assert(e == 'json.encode: cannot encode a function at $.big[\"02500\"].fn', e)");
  lua_close(L);
}

static void test_indent(void) {
  lua_State *L = new_state();
  char err[256];
  int rc;
  char *out = encode_chunk(L, "return {b = {1, {}, json.array()}, a = {x = 'y'}, c = {}}",
                           LJSON_INDENT, &rc, err, sizeof err);
  CHECK_EQ_INT(rc, 0);
  CHECK_STR_EQ(out, "{\n  \"a\": {\n    \"x\": \"y\"\n  },\n  \"b\": [\n    1,\n    {},\n    []\n"
                    "  ],\n  \"c\": {}\n}");
  free(out);
  run_lua(L, "local s = json.encode({1, 2}, {indent = true})\n"
             "assert(s == '[\\n  1,\\n  2\\n]', s)\n"
             "assert(json.encode({1, 2}, {indent = false}) == '[1,2]')\n"
             "assert(json.encode(5, {indent = true}) == '5')");
  lua_close(L);
}

static void test_decode_errors(void) {
  lua_State *L = new_state();
  check_decode_err(L, "", "unexpected end of input, expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "  \n ",
                   "unexpected end of input, expected a value at byte 4 (line 2, column 2)");
  check_decode_err(L, "[1,2",
                   "unexpected end of input, expected ',' or ']' in array at byte 4 (line 1, "
                   "column 5)");
  check_decode_err(
      L, "{\"a\":", "unexpected end of input, expected a value at byte 5 (line 1, column 6)");
  check_decode_err(L, "{\"a\"",
                   "unexpected end of input, expected ':' after object key at byte 4 (line 1, "
                   "column 5)");
  check_decode_err(L, "{\"a\":1",
                   "unexpected end of input, expected ',' or '}' in object at byte 6 (line 1, "
                   "column 7)");
  check_decode_err(L, "\"abc", "unterminated string at byte 0 (line 1, column 1)");
  check_decode_err(L, "[\"abc\\", "unterminated string at byte 1 (line 1, column 2)");
  check_decode_err(L, "[1] x",
                   "trailing characters after the top-level value at byte 4 (line 1, column 5)");
  check_decode_err(L, "1 2",
                   "trailing characters after the top-level value at byte 2 (line 1, column 3)");
  check_decode_err(L, "{}}",
                   "trailing characters after the top-level value at byte 2 (line 1, column 3)");
  check_decode_err(L, "\"\\x\"", "invalid escape '\\x' in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\'\"", "invalid escape '\\'' in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\\x01\"",
                   "invalid escape byte 0x01 after '\\' in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\u12G4\"",
                   "invalid \\u escape, expected 4 hex digits at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\u12\"",
                   "invalid \\u escape, expected 4 hex digits at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\u12",
                   "invalid \\u escape, expected 4 hex digits at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\ud800\"",
                   "unpaired high surrogate \\uD800 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"ab\\udbff\\u0041\"",
                   "unpaired high surrogate \\uDBFF in string at byte 3 (line 1, column 4)");
  check_decode_err(L, "\"\\ud800\\ud800\"",
                   "unpaired high surrogate \\uD800 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\ud800",
                   "unpaired high surrogate \\uD800 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\\uDC00\"",
                   "unpaired low surrogate \\uDC00 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"a\x01\"",
                   "unescaped control character 0x01 in string at byte 2 (line 1, column 3)");
  check_decode_err(L, "\"a\nb\"",
                   "unescaped control character 0x0A in string at byte 2 (line 1, column 3)");
  check_decode_err(L, "\"\xff\"", "invalid UTF-8 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\xc0\xaf\"", "invalid UTF-8 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\xed\xa0\x80\"", "invalid UTF-8 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\xf4\x90\x80\x80\"",
                   "invalid UTF-8 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\"\xe2\x82\"", "invalid UTF-8 in string at byte 1 (line 1, column 2)");
  check_decode_err(L, "\xef\xbb\xbf{}",
                   "unexpected byte 0xEF, expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "01",
                   "leading zeros are not allowed in numbers at byte 0 (line 1, column 1)");
  check_decode_err(L, "[-012]",
                   "leading zeros are not allowed in numbers at byte 1 (line 1, column 2)");
  check_decode_err(L, "NaN",
                   "unexpected character 'N', expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "nan", "invalid literal, expected 'null' at byte 0 (line 1, column 1)");
  check_decode_err(L, "[Infinity]",
                   "unexpected character 'I', expected a value at byte 1 (line 1, column 2)");
  check_decode_err(L, "-Infinity",
                   "unexpected character 'I', expected a digit after '-' at byte 1 (line 1, "
                   "column 2)");
  check_decode_err(L, "-",
                   "unexpected end of input, expected a digit after '-' at byte 1 (line 1, "
                   "column 2)");
  check_decode_err(L, "1.",
                   "unexpected end of input, expected a digit after '.' at byte 2 (line 1, "
                   "column 3)");
  check_decode_err(L, "1.e5",
                   "unexpected character 'e', expected a digit after '.' at byte 2 "
                   "(line 1, column 3)");
  check_decode_err(L, "1e+",
                   "unexpected end of input, expected a digit in the exponent at byte 3 "
                   "(line 1, column 4)");
  check_decode_err(L, ".5",
                   "unexpected character '.', expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "+1",
                   "unexpected character '+', expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "0x10",
                   "trailing characters after the top-level value at byte 1 (line 1, column 2)");
  check_decode_err(L, "[1e400]", "number out of range at byte 1 (line 1, column 2)");
  check_decode_err(L, "-1e400", "number out of range at byte 0 (line 1, column 1)");
  check_decode_err(L, "tru", "invalid literal, expected 'true' at byte 0 (line 1, column 1)");
  check_decode_err(L, "[fals]", "invalid literal, expected 'false' at byte 1 (line 1, column 2)");
  check_decode_err(L, "[truex]",
                   "unexpected character 'x', expected ',' or ']' in array at byte 5 "
                   "(line 1, column 6)");
  check_decode_err(L, "[1 2]",
                   "unexpected character '2', expected ',' or ']' in array at byte 3 "
                   "(line 1, column 4)");
  check_decode_err(L, "[1,]",
                   "unexpected character ']', expected a value at byte 3 (line 1, column 4)");
  check_decode_err(L, "{\"a\":1,}",
                   "unexpected character '}', expected a string key at byte 7 (line 1, column 8)");
  check_decode_err(L, "{a:1}",
                   "unexpected character 'a', expected a string key or '}' at byte 1 "
                   "(line 1, column 2)");
  check_decode_err(L, "{\"a\" 1}",
                   "unexpected character '1', expected ':' after object key at "
                   "byte 5 (line 1, column 6)");
  check_decode_err(L, "{\"a\":1 \"b\":2}",
                   "unexpected character '\"', expected ',' or '}' in "
                   "object at byte 7 (line 1, column 8)");
  check_decode_err(L, "'a'",
                   "unexpected character ''', expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "/* c */ 1",
                   "unexpected character '/', expected a value at byte 0 (line 1, column 1)");
  check_decode_err(L, "{\n  \"a\": 1,\n  \"b\" 2\n}",
                   "unexpected character '2', expected ':' after object key at byte 18 (line 3, "
                   "column 7)");
  check_decode_err_n(L, "[1,\0]", 5,
                     "unexpected byte 0x00, expected a value at byte 3 (line 1, column 4)");
  check_decode_err_n(L, "1\0", 2,
                     "trailing characters after the top-level value at byte 1 (line 1, column 2)");
  /* Deep nesting is an error at the first level past the limit, not a crash. */
  char deep[10001];
  memset(deep, '[', 10000);
  deep[10000] = '\0';
  check_decode_err(L, deep, "nesting deeper than 200 levels at byte 200 (line 1, column 201)");
  for (int i = 0; i < 10000; i++)
    deep[i] = i % 2 ? '[' : '{';
  char err[256];
  CHECK_EQ_INT(decode_exact(L, deep, 10000, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "expected a string key or '}' at byte 1 ");
  lua_close(L);
}

static void test_depth_boundary(void) {
  lua_State *L = new_state();
  char doc[2 * LJSON_MAX_DEPTH + 3], err[256];
  memset(doc, '[', LJSON_MAX_DEPTH);
  memset(doc + LJSON_MAX_DEPTH, ']', LJSON_MAX_DEPTH);
  CHECK_EQ_INT(decode_exact(L, doc, 2 * LJSON_MAX_DEPTH, err, sizeof err), 0);
  char *out = NULL;
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), 0);
  CHECK_EQ_INT(strlen(out), 2 * LJSON_MAX_DEPTH);
  CHECK(memcmp(out, doc, 2 * LJSON_MAX_DEPTH) == 0);
  free(out);
  lua_settop(L, 0);
  memset(doc, '[', LJSON_MAX_DEPTH + 1);
  memset(doc + LJSON_MAX_DEPTH + 1, ']', LJSON_MAX_DEPTH + 1);
  CHECK_EQ_INT(decode_exact(L, doc, 2 * LJSON_MAX_DEPTH + 2, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_EQ(err, "nesting deeper than 200 levels at byte 200 (line 1, column 201)");
  check_encode(L,
               "local r = {} local t = r for i = 2, 200 do t[1] = {} t = t[1] end "
               "return #json.encode(r)",
               "400");
  int rc;
  char *bad = encode_chunk(L,
                           "local r = {} local t = r for i = 2, 201 do t.k = {} t = t.k end "
                           "return r",
                           0, &rc, err, sizeof err);
  CHECK(bad == NULL);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "nesting deeper than 200 levels at $.k.k.k.k");
  /* A 10000-deep Lua structure fails the same way. */
  bad = encode_chunk(L,
                     "local r = {} local t = r for i = 1, 10000 do t[1] = {} t = t[1] end "
                     "return r",
                     0, &rc, err, sizeof err);
  CHECK_EQ_INT(rc, AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "nesting deeper than 200 levels at $[0][0][0]");
  lua_close(L);
}

static void test_encode_errors(void) {
  lua_State *L = new_state();
  check_encode_err(L, "local t = {} t.a = t return t", AGENTAI_EINVAL, "reference cycle at $.a");
  check_encode_err(L, "local t = {b = {}} t.b.c = {1, t} return t", AGENTAI_EINVAL,
                   "reference cycle at $.b.c[1]");
  check_encode_err(L, "local t = json.array() t[1] = t return t", AGENTAI_EINVAL,
                   "reference cycle at $[0]");
  check_encode_err(L, "return {tools = {{name = 'a'}, {name = 'b', fn = print}}}", AGENTAI_EINVAL,
                   "cannot encode a function at $.tools[1].fn");
  check_encode_err(L, "return print", AGENTAI_EINVAL, "cannot encode a function at $");
  check_encode_err(L, "return {co = coroutine.create(print)}", AGENTAI_EINVAL,
                   "cannot encode a thread at $.co");
  check_encode_err(L, "return {f = io.stdout}", AGENTAI_EINVAL, "cannot encode a userdata at $.f");
  check_encode_err(L, "return {1, nil, 3}", AGENTAI_EINVAL, "mixed or sparse table keys at $");
  check_encode_err(L, "return {x = {[2] = 1}}", AGENTAI_EINVAL,
                   "mixed or sparse table keys at $.x");
  check_encode_err(L, "return {1, 2, a = 3}", AGENTAI_EINVAL, "mixed or sparse table keys at $");
  check_encode_err(L, "return {[0] = 'z', 'a'}", AGENTAI_EINVAL, "mixed or sparse table keys at $");
  check_encode_err(L, "return {[-1] = 1}", AGENTAI_EINVAL, "mixed or sparse table keys at $");
  check_encode_err(L, "return {[true] = 1}", AGENTAI_EINVAL, "invalid key true at $");
  check_encode_err(L, "return {a = {[1.5] = 1}}", AGENTAI_EINVAL, "invalid key 1.5 at $.a");
  check_encode_err(L, "return {[{}] = 1}", AGENTAI_EINVAL, "invalid key of type table at $");
  check_encode_err(L, "local a = json.array{1, 2} a.n = 2 return a", AGENTAI_EINVAL,
                   "invalid key \"n\" in array at $");
  check_encode_err(L, "local a = json.array() a[0] = 1 return {list = a}", AGENTAI_EINVAL,
                   "invalid key 0 in array at $.list");
  check_encode_err(L, "return json.object{'x'}", AGENTAI_EINVAL, "invalid key 1 in object at $");
  check_encode_err(L, "return {v = 0/0}", AGENTAI_EINVAL, "cannot encode NaN at $.v");
  check_encode_err(L, "return {1, math.huge}", AGENTAI_EINVAL, "cannot encode inf at $[1]");
  check_encode_err(L, "return -math.huge", AGENTAI_EINVAL, "cannot encode -inf at $");
  check_encode_err(L, "return {s = 'ok\\xff'}", AGENTAI_EINVAL, "invalid UTF-8 in string at $.s");
  check_encode_err(L, "return {'\\xc0\\x80'}", AGENTAI_EINVAL, "invalid UTF-8 in string at $[0]");
  check_encode_err(L, "return '\\xed\\xa0\\x80'", AGENTAI_EINVAL, "invalid UTF-8 in string at $");
  check_encode_err(L, "return '\\xe2\\x82'", AGENTAI_EINVAL, "invalid UTF-8 in string at $");
  check_encode_err(L, "return {a = {['k\\xff'] = 1}}", AGENTAI_EINVAL,
                   "invalid UTF-8 in object key at $.a");
  check_encode_err(L, "return {['a b'] = {['x\"y'] = {f = print}}}", AGENTAI_EINVAL,
                   "cannot encode a function at $[\"a b\"][\"x\\\"y\"].f");
  check_encode_err(L, "return {['1x'] = {[''] = print}}", AGENTAI_EINVAL,
                   "cannot encode a function at $[\"1x\"][\"\"]");
  check_encode_err(L, "local a = json.array() a[1 << 40] = 1 return a", AGENTAI_E2BIG,
                   "encoded output exceeds 268435456 bytes at $");
  /* A light userdata other than the null sentinel. */
  static int anchor;
  char err[256], *out = NULL;
  lua_pushlightuserdata(L, &anchor);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_EQ(err, "cannot encode a light userdata at $");
  CHECK(out == NULL);
  lua_settop(L, 0);
  /* A short error buffer still gets a NUL-terminated prefix. */
  push_chunk(L, "return {f = print}");
  char small[10];
  memset(small, 'x', sizeof small);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, small, sizeof small), AGENTAI_EINVAL);
  CHECK_STR_EQ(small, "cannot en");
  lua_settop(L, 0);
  /* A message clipped inside a multi-byte character drops the partial character. */
  push_chunk(L, "return {['\\u{e9}\\u{e9}\\u{e9}\\u{e9}\\u{e9}'] = print}");
  char clip[35]; /* room for 34 bytes: the second character would be cut in half */
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, clip, sizeof clip), AGENTAI_EINVAL);
  CHECK_STR_EQ(clip, "cannot encode a function at $[\"\xc3\xa9");
  lua_close(L);
}

static void test_gc_state(void) {
  lua_State *L = new_state();
  char err[256], *out = NULL;
  push_chunk(L, "return {a = {1, 2}}");
  CHECK_EQ_INT(lua_gc(L, LUA_GCISRUNNING), 1);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), 0);
  free(out);
  CHECK_EQ_INT(lua_gc(L, LUA_GCISRUNNING), 1);
  lua_settop(L, 0);
  push_chunk(L, "return {a = print}");
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(lua_gc(L, LUA_GCISRUNNING), 1);
  lua_gc(L, LUA_GCSTOP);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(lua_gc(L, LUA_GCISRUNNING), 0); /* the collector's state is left alone */
  lua_gc(L, LUA_GCRESTART);
  /* Finalizers that empty the tables being encoded, kept pending all the time (each re-arms
   * itself until the encode starts) under a collector that steps on every allocation. The
   * children are big enough to get an anchor table, an allocation in the middle of the walk, so
   * the finalizers run there: the keys already collected must stay valid (ASan checks), and the
   * result is still well-formed JSON with the members as found. */
  run_lua(L, "local parent, encoding, fired = {}, false, 0\n"
             "for i = 1, 4 do\n"
             "  local child = {}\n"
             "  for j = 1, 2100 do child[('c'):rep(50) .. j] = ('v'):rep(50) end\n"
             "  parent[('key%04d'):rep(8) .. i] = child\n"
             "end\n"
             "local function arm()\n"
             "  setmetatable({}, {__gc = function()\n"
             "    if encoding then\n"
             "      fired = fired + 1\n"
             "      for k, c in pairs(parent) do parent[k] = nil\n"
             "        for ck in pairs(c) do c[ck] = nil end end\n"
             "      for i = 1, 100 do local junk = ('x'):rep(60) .. i end\n"
             "    else arm() end end})\n"
             "end\n"
             "for i = 1, 50 do arm() end\n"
             "for r = 1, 20 do\n"
             "  collectgarbage('incremental', 1, 1000, 0)\n"
             "  encoding = true\n"
             "  local ok, s = pcall(json.encode, parent)\n"
             "  encoding = false\n"
             "  collectgarbage('incremental', 200, 100, 13)\n"
             "  assert(ok, s)\n"
             "  local d = json.decode(s)\n"
             "  for k, c in pairs(d) do\n"
             "    assert(c == json.null or type(c) == 'table')\n"
             "    if c ~= json.null then for _, v in pairs(c) do\n"
             "      assert(v == json.null or v == ('v'):rep(50)) end end\n"
             "  end\n"
             "  if fired > 0 then break end\n"
             "end\n"
             "assert(fired > 0, 'no finalizer ran during an encode')");
  lua_close(L);
}

static void test_library(void) {
  lua_State *L = new_state();
  run_lua(L, "local t = {1, 2}\n"
             "assert(json.array(t) == t and json.is_array(t))\n"
             "assert(json.object(t) == t and not json.is_array(t))\n"
             "assert(json.is_array({1, 2, 3}) and not json.is_array({}))\n"
             "assert(not json.is_array({a = 1}) and not json.is_array({1, a = 1}))\n"
             "assert(not json.is_array({[2] = 1}) and not json.is_array('x'))\n"
             "assert(json.is_array(json.array()) and not json.is_array(json.object()))\n"
             "assert(not json.is_array() and not json.is_array({[1.5] = 1}))\n"
             "local a = json.decode('[1]')\n"
             "assert(getmetatable(a) == 'json.array')\n"
             "assert(getmetatable(json.object()) == 'json.object')\n"
             "local ok, e = pcall(setmetatable, a, {})\n"
             "assert(not ok and e:find('protected metatable'))\n"
             "local ok2, e2 = pcall(json.encode, json.object(a))\n"
             "assert(not ok2 and e2 == 'json.encode: invalid key 1 in object at $', e2)\n"
             "assert(json.encode(json.array({})) == '[]')");
  /* Raised errors carry the prefix and the exact message. */
  run_lua(L, "local function err(f, ...) local ok, e = pcall(f, ...) assert(not ok) return e end\n"
             "local e = err(json.encode, {fn = print})\n"
             "assert(e == 'json.encode: cannot encode a function at $.fn', e)\n"
             "e = err(json.decode, '[')\n"
             "assert(e == 'json.decode: unexpected end of input, expected a value at byte 1 "
             "(line 1, column 2)', e)\n"
             "e = err(json.decode, 5)\n"
             "assert(e == 'json.decode: expected a string, got number', e)\n"
             "e = err(json.decode)\n"
             "assert(e == 'json.decode: expected a string, got no value', e)\n"
             "e = err(json.encode)\n"
             "assert(e == 'json.encode: expected a value', e)\n"
             "e = err(json.encode, 1, 'pretty')\n"
             "assert(e == 'json.encode: options must be a table, got string', e)\n"
             "e = err(json.array, 'x')\n"
             "assert(e == 'json.array: expected a table, got string', e)\n"
             "e = err(json.object, 1)\n"
             "assert(e == 'json.object: expected a table, got number', e)\n"
             "assert(json.encode(nil) == 'null')");
  /* Object keys that look like numbers stay strings. */
  run_lua(L, "local o = json.decode('{\"1\":\"a\",\"2\":\"b\"}')\n"
             "assert(o['1'] == 'a' and o[1] == nil)\n"
             "assert(json.encode(o) == '{\"1\":\"a\",\"2\":\"b\"}')");
  /* Metamethods are not consulted: encoding is of the raw table. */
  run_lua(L, "local t = setmetatable({a = 1}, {__index = function() return 2 end,\n"
             "  __pairs = function() error('no') end})\n"
             "assert(json.encode(t) == '{\"a\":1}')");
  lua_close(L);
}

static void test_c_api(void) {
  lua_State *L = new_state();
  char err[256];
  /* Not NUL-terminated: nothing past len is read (decode_exact copies to an exact-size block). */
  CHECK_EQ_INT(decode_exact(L, "[1,2]garbage", 5, err, sizeof err), 0);
  CHECK_EQ_INT(lua_rawlen(L, -1), 2);
  lua_settop(L, 0);
  CHECK_EQ_INT(decode_exact(L, "12345", 2, err, sizeof err), 0);
  CHECK_EQ_INT(lua_tointeger(L, -1), 12);
  lua_settop(L, 0);
  CHECK_EQ_INT(decode_exact(L, "\"ab\"", 3, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_EQ(err, "unterminated string at byte 0 (line 1, column 1)");
  CHECK_EQ_INT(ljson_decode(L, NULL, 0, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(lua_gettop(L), 0);
  CHECK_EQ_INT(ljson_decode(L, "[", 1, NULL, 0), AGENTAI_EINVAL); /* no error buffer is fine */
  /* The null sentinel. */
  ljson_push_null(L);
  lua_pushnil(L);
  lua_pushboolean(L, 0);
  CHECK(ljson_is_null(L, 1));
  CHECK(!ljson_is_null(L, 2));
  CHECK(!ljson_is_null(L, 3));
  CHECK(!ljson_is_null(L, 4)); /* none */
  lua_settop(L, 0);
  /* Relative and absolute indexes, values below the top. */
  char *out = NULL;
  size_t len = 0;
  lua_pushinteger(L, 42);
  lua_pushstring(L, "top");
  CHECK_EQ_INT(ljson_encode(L, 1, &out, &len, err, sizeof err), 0);
  CHECK_STR_EQ(out, "42");
  CHECK_EQ_INT(len, 2);
  free(out);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, &len, err, sizeof err), 0);
  CHECK_STR_EQ(out, "\"top\"");
  free(out);
  CHECK_EQ_INT(lua_gettop(L), 2);
  lua_close(L);
}

static void test_cjson_bridge(void) {
  lua_State *L = new_state();
  char err[256];
  push_chunk(L, "return {a = 1, b = {1.5, 'x', json.null, true}, big = 9007199254740993,\n"
                "  neg = math.mininteger, f = 3.0, e = {}, ea = json.array()}");
  cJSON *j = ljson_to_cjson(L, -1, err, sizeof err);
  CHECK(j != NULL);
  CHECK_EQ_INT(lua_gettop(L), 1);
  char *txt = cJSON_PrintUnformatted(j);
  CHECK_STR_EQ(txt, "{\"a\":1,\"b\":[1.5,\"x\",null,true],\"big\":9007199254740993,\"e\":{},"
                    "\"ea\":[],\"f\":3,\"neg\":-9223372036854775808}");
  cJSON_free(txt);
  CHECK(cJSON_IsRaw(cJSON_GetObjectItem(j, "big")));
  CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "a")));
  lua_settop(L, 0);
  /* And back: the raw big integers come back exact; integral cJSON numbers become integers. */
  CHECK_EQ_INT(ljson_push_cjson(L, j), 0);
  CHECK_EQ_INT(lua_gettop(L), 1);
  char *out = NULL;
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), 0);
  CHECK_STR_EQ(out, "{\"a\":1,\"b\":[1.5,\"x\",null,true],\"big\":9007199254740993,\"e\":{},"
                    "\"ea\":[],\"f\":3,\"neg\":-9223372036854775808}");
  free(out);
  cJSON_Delete(j);
  lua_settop(L, 0);

  j = cJSON_Parse("[1, 2.5, \"s\", {\"k\": []}, 1e300, -0.0, 9007199254740992]");
  CHECK(j != NULL);
  CHECK_EQ_INT(ljson_push_cjson(L, j), 0);
  CHECK_EQ_INT(ljson_encode(L, -1, &out, NULL, err, sizeof err), 0);
  CHECK_STR_EQ(out, "[1,2.5,\"s\",{\"k\":[]},1e+300,0,9007199254740992]");
  free(out);
  cJSON_Delete(j);
  lua_settop(L, 0);

  /* Bad trees: too deep, bad raw text, NULL. Nothing is pushed. */
  cJSON *root = cJSON_CreateArray(), *cur = root;
  for (int i = 0; i < LJSON_MAX_DEPTH; i++) {
    cJSON *next = cJSON_CreateArray();
    cJSON_AddItemToArray(cur, next);
    cur = next;
  }
  CHECK_EQ_INT(ljson_push_cjson(L, root), AGENTAI_EINVAL);
  CHECK_EQ_INT(lua_gettop(L), 0);
  cJSON_Delete(root);
  j = cJSON_CreateObject();
  cJSON_AddItemToObject(j, "r", cJSON_CreateRaw("[1,"));
  CHECK_EQ_INT(ljson_push_cjson(L, j), AGENTAI_EINVAL);
  CHECK_EQ_INT(lua_gettop(L), 0);
  cJSON_Delete(j);
  CHECK_EQ_INT(ljson_push_cjson(L, NULL), AGENTAI_EINVAL);

  /* to_cjson errors: same messages as the encoder, plus NUL bytes; nothing leaks (ASan). */
  push_chunk(L, "return {ok = {1, 2, 3}, z = {fn = print}}");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "cannot encode a function at $.z.fn");
  lua_settop(L, 0);
  push_chunk(L, "return {s = 'a\\0b'}");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "string with a NUL byte cannot go into cJSON at $.s");
  lua_settop(L, 0);
  push_chunk(L, "return {x = {['a\\0b'] = 1}}");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "object key with a NUL byte cannot go into cJSON at $.x");
  lua_settop(L, 0);
  push_chunk(L, "return {x = {['\\xff'] = 1}}");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "invalid UTF-8 in object key at $.x");
  lua_settop(L, 0);
  push_chunk(L, "local t = {1} t[2] = t return t");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "reference cycle at $[1]");
  lua_settop(L, 0);
  push_chunk(L, "return {0/0}");
  CHECK(ljson_to_cjson(L, -1, err, sizeof err) == NULL);
  CHECK_STR_EQ(err, "cannot encode NaN at $[0]");
  lua_close(L);
}

/* An allocator that fails every allocation after a budget, to drive the out-of-memory paths. */
typedef struct failing_alloc {
  long budget; /* allocations (growths) still allowed; < 0: unlimited */
} failing_alloc;

static void *alloc_fn(void *ud, void *ptr, size_t osize, size_t nsize) {
  failing_alloc *fa = ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (fa->budget >= 0 && (ptr == NULL || nsize > osize)) {
    if (fa->budget == 0)
      return NULL;
    fa->budget--;
  }
  return realloc(ptr, nsize);
}

static void test_out_of_memory(void) {
  static const char doc[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello \\u00e9\"},"
                            "{\"role\":\"assistant\",\"content\":\"a long enough reply to be a "
                            "long string in Lua, longer than forty bytes\"}],\"n\":[1,2.5,null,"
                            "true,{\"deep\":{\"er\":[[[]]]}}],\"big\":12345678901234567890}";
  int saw_enomem_dec = 0, saw_enomem_enc = 0, ok_dec = 0, ok_enc = 0;
  for (long budget = 0; budget < 400 && (ok_dec < 3 || ok_enc < 3); budget++) {
    failing_alloc fa = {-1};
    lua_State *L = lua_newstate(alloc_fn, &fa);
    CHECK(L != NULL);
    luaL_requiref(L, "json", ljson_open, 1);
    char err[256];
    /* Everything but the operation under test is set up before the budget starts: the value
     * to encode (1), json.encode (2), and stack space. */
    CHECK_EQ_INT(ljson_decode(L, doc, sizeof doc - 1, err, sizeof err), 0);
    lua_getfield(L, 1, "encode");
    lua_remove(L, 1);
    CHECK(lua_checkstack(L, 30));
    lua_gc(L, LUA_GCCOLLECT);
    fa.budget = budget;
    int rc = ljson_decode(L, doc, sizeof doc - 1, err, sizeof err);
    CHECK(rc == 0 || rc == AGENTAI_ENOMEM);
    CHECK_EQ_INT(lua_gettop(L), rc == 0 ? 3 : 2);
    if (rc == AGENTAI_ENOMEM) {
      CHECK_STR_EQ(err, "out of memory");
      saw_enomem_dec = 1;
    } else {
      ok_dec++;
    }
    lua_settop(L, 2);
    fa.budget = budget;
    lua_pushvalue(L, 2); /* json.encode through the library: the string result path */
    lua_pushvalue(L, 1);
    int st = lua_pcall(L, 1, 1, 0);
    if (st == LUA_OK) {
      CHECK_STR_CONTAINS(lua_tostring(L, -1), "\"big\":1.2345678901234567e+19");
      ok_enc++;
    } else {
      saw_enomem_enc = 1;
      CHECK(st == LUA_ERRMEM || strstr(lua_tostring(L, -1), "out of memory") != NULL);
    }
    fa.budget = -1;
    lua_close(L);
  }
  CHECK(saw_enomem_dec);
  CHECK(saw_enomem_enc);
  CHECK(ok_dec >= 3);
  CHECK(ok_enc >= 3);
}

int main(void) {
  RUN(test_roundtrip_types);
  RUN(test_integers);
  RUN(test_floats);
  RUN(test_strings);
  RUN(test_empty_and_null);
  RUN(test_sorted_keys);
  RUN(test_indent);
  RUN(test_decode_errors);
  RUN(test_depth_boundary);
  RUN(test_encode_errors);
  RUN(test_gc_state);
  RUN(test_library);
  RUN(test_c_api);
  RUN(test_cjson_bridge);
  RUN(test_out_of_memory);
  CHECK_DONE();
}
