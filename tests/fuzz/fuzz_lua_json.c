/* tests/fuzz/fuzz_lua_json.c — libFuzzer target: ljson_decode, then stable re-encoding. */
#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/ljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_lua_json: %s: %s\n", what, detail ? detail : "");
  abort();
}

/* Encodes the value at idx (flags: 0 or LJSON_INDENT); every value the decoder produced must be
 * encodable. */
static char *must_encode(int idx, unsigned flags, size_t *len) {
  char err[512], *out = NULL;
  if (ljson_encode_ex(L, idx, flags, &out, len, err, sizeof err) != 0)
    die("a decoded value does not encode", err);
  if (strlen(out) != *len)
    die("encoded length mismatch", out);
  return out;
}

/* Decodes text, which the encoder produced and so must decode, then returns its compact encoding.
 */
static char *reencode(const char *text, size_t len, size_t *out_len) {
  char err[512];
  if (ljson_decode(L, text, len, err, sizeof err) != 0)
    die("encoder output does not decode", err);
  char *out = must_encode(-1, 0, out_len);
  lua_pop(L, 1);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  if (!L && !(L = luaL_newstate()))
    abort();
  lua_settop(L, 0);

  /* libFuzzer's buffer is exactly size bytes and not NUL-terminated: ASan flags any over-read. */
  int rc = ljson_decode(L, (const char *)data, size, err, sizeof err);
  if (rc != 0) {
    if (lua_gettop(L) != 0)
      die("failed decode left values on the stack", err);
    if (rc != AGENTAI_EINVAL || !strstr(err, " at byte ") || !strstr(err, "(line "))
      die("decode error without a located message", err);
    return 0;
  }
  if (lua_gettop(L) != 1)
    die("decode pushed other than one value", NULL);

  /* Canonical form is a fixed point: encode(decode(encode(v))) == encode(v). */
  size_t n1, n2, np, nc;
  char *e1 = must_encode(1, 0, &n1);
  char *e2 = reencode(e1, n1, &n2);
  if (n1 != n2 || memcmp(e1, e2, n1) != 0)
    die("re-encoding differs", e1);

  /* The pretty form holds the same value. */
  char *pretty = must_encode(1, LJSON_INDENT, &np);
  char *e3 = reencode(pretty, np, &nc);
  if (nc != n1 || memcmp(e1, e3, n1) != 0)
    die("indented form decodes to another value", pretty);

  /* The cJSON bridge: anything but a NUL byte in a string converts; cJSON reads our text; the
   * tree comes back into Lua as something encodable, and cJSON's printout is valid JSON to us. */
  cJSON *tree = ljson_to_cjson(L, 1, err, sizeof err);
  if (!tree && !strstr(err, "NUL byte"))
    die("ljson_to_cjson failed", err);
  if (tree) {
    if (ljson_push_cjson(L, tree) != 0)
      die("ljson_push_cjson failed", NULL);
    size_t nb;
    free(must_encode(-1, 0, &nb));
    lua_pop(L, 1);
    char *printed = cJSON_PrintUnformatted(tree);
    if (printed) {
      if (ljson_decode(L, printed, strlen(printed), err, sizeof err) != 0)
        die("cJSON's printout does not decode", err);
      lua_pop(L, 1);
      cJSON_free(printed);
    }
    cJSON_Delete(tree);
  }
  cJSON *parsed = cJSON_ParseWithLength(e1, n1);
  if (!parsed)
    die("cJSON rejects the encoder's output", e1);
  cJSON_Delete(parsed);

  free(e1);
  free(e2);
  free(pretty);
  free(e3);
  lua_settop(L, 0);
  return 0;
}
