/* lua/ljson.h — the one JSON <-> Lua 5.4 value conversion, and the `json` Lua library. */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>
#include <lua.h>

#include "agentai/plugin.h" /* AGENTAI_E* codes */

/*
 * Mapping (both directions; every binding that moves data between Lua and the
 * rest of the runtime goes through this module):
 *
 *   JSON            Lua
 *   null            ljson null sentinel: a light userdata NULL (ai.json.null),
 *                   also inside arrays and objects, so positions and keys stay
 *   true / false    boolean
 *   integer         integer, exactly, when the literal has no '.', 'e' or 'E'
 *                   and fits int64 (also above 2^53); otherwise a float
 *   other number    float
 *   string          string (bytes as decoded; always valid UTF-8)
 *   array           table with keys 1..n and the shared "array" metatable,
 *                   so that an empty array re-encodes as []
 *   object          plain table with string keys (duplicate keys: last wins)
 *
 * Encoding rules, for a value v:
 *   - nil and the null sentinel encode as null; booleans as true / false.
 *   - Integers print exactly. Floats print with the shortest of %.15g, %.16g,
 *     %.17g that reads back to the same double; an integral float keeps a
 *     ".0" (3.0 -> 3.0, -0.0 -> -0.0) so the integer / float distinction
 *     survives a round trip; the decimal point is '.' whatever LC_NUMERIC
 *     says. NaN and +-inf are errors.
 *   - Strings must be valid UTF-8 (no overlongs, no surrogates); they are
 *     escaped per RFC 8259: '"', '\\', \b \f \n \r \t, other bytes below 0x20
 *     as \u00xx; everything else is copied as is ('/' and non-ASCII included).
 *   - A table with the array metatable is an array of length max(integer key)
 *     (keys must be positive integers; holes encode as null). A table with the
 *     object metatable is an object (keys must be strings). A plain table is
 *     an array when its keys are exactly 1..n with n >= 1, an object when all
 *     keys are strings (the empty table is {}), and an error otherwise.
 *   - Object keys are emitted sorted bytewise (memcmp order, a prefix first),
 *     so equal values always produce identical text (cache keys, journals).
 *   - Tables are read raw: metamethods (__index, __pairs, __tojson...) are
 *     not consulted. The keys of the objects being written are anchored, so a
 *     finalizer that runs during an encode and edits the tables cannot make
 *     it unsafe (only the result then reflects the edit).
 *   - Functions, full userdata, threads and non-NULL light userdata are errors.
 *   - Nesting deeper than LJSON_MAX_DEPTH containers, reference cycles, and
 *     output beyond LJSON_MAX_OUTPUT bytes are errors.
 *
 * Encode errors name the JSON path of the offending value with 0-based array
 * indexes ("cannot encode a function at $.tools[0].fn" is the Lua value
 * tools[1].fn); keys that are not identifiers print as $["a b"]. Messages:
 *   cannot encode a function|userdata|thread|light userdata at P
 *   cannot encode NaN|inf|-inf at P
 *   invalid UTF-8 in string at P / invalid UTF-8 in object key at P
 *   mixed or sparse table keys at P     (plain table, neither 1..n nor strings)
 *   invalid key K in array at P / invalid key K in object at P / invalid key K at P
 *   reference cycle at P                (P is where the table appears again)
 *   nesting deeper than 200 levels at P
 *   encoded output exceeds N bytes at P (AGENTAI_E2BIG)
 *   out of memory                       (AGENTAI_ENOMEM)
 *
 * Decoding is a strict RFC 8259 parser of our own (recursive descent straight
 * into Lua values) rather than cJSON: cJSON keeps numbers only as doubles, so
 * integers above 2^53 would be lost, it accepts invalid UTF-8, and building a
 * cJSON tree first would double the work. Decode errors read
 * "<what> at byte B (line L, column C)" with B the 0-based byte offset and C
 * the 1-based byte column, e.g.
 *   unexpected character 'x', expected ',' or ']' in array at byte 3 (line 1, column 4)
 * Rejected: trailing characters, comments, trailing commas, leading zeros,
 * NaN / Infinity, single quotes, unescaped control characters, invalid UTF-8
 * (a UTF-8 BOM too), unpaired surrogate escapes, numbers beyond the double
 * range, nesting deeper than LJSON_MAX_DEPTH.
 */

/** Maximum nesting of arrays and objects, for decoding and encoding alike. */
#define LJSON_MAX_DEPTH 200

/** Largest text ljson_encode produces (256 MiB); beyond it: AGENTAI_E2BIG. The text is
 *  built with malloc, outside the lua_State's allocator (and so outside a VM's memory budget). */
#define LJSON_MAX_OUTPUT ((size_t)256 << 20)

/** ljson_encode_ex flag: pretty-print with two-space indentation, "key": value. */
#define LJSON_INDENT 1u

/**
 * Decodes len bytes of JSON text (need not be NUL-terminated; nothing past
 * len is read) and pushes exactly one value on L. On failure pushes nothing,
 * writes a message into err (always NUL-terminated when err_len > 0) and
 * returns AGENTAI_EINVAL (malformed input) or AGENTAI_ENOMEM. Never raises a
 * Lua error, so it may be called outside a protected call.
 */
int ljson_decode(lua_State *L, const char *text, size_t len, char *err, size_t err_len);

/**
 * Encodes the value at idx (compact, no whitespace) into a malloc'd
 * NUL-terminated string: *out (the caller frees it) and *out_len (may be
 * NULL) on success, *out = NULL on failure. Returns 0, AGENTAI_EINVAL,
 * AGENTAI_E2BIG or AGENTAI_ENOMEM, with a message in err. The stack is left
 * unchanged and no Lua error is raised. idx must be a valid stack index.
 */
int ljson_encode(lua_State *L, int idx, char **out, size_t *out_len, char *err, size_t err_len);

/** ljson_encode with flags (LJSON_INDENT). */
int ljson_encode_ex(lua_State *L, int idx, unsigned flags, char **out, size_t *out_len, char *err,
                    size_t err_len);

/** Pushes the null sentinel (a light userdata NULL; ai.json.null). */
void ljson_push_null(lua_State *L);

/** Whether the value at idx is the null sentinel. */
int ljson_is_null(lua_State *L, int idx);

/**
 * Pushes a cJSON tree as a Lua value, by the mapping above. cJSON keeps
 * numbers as doubles only, so an integral number with magnitude <= 2^53
 * becomes a Lua integer and any other number a float; a cJSON_Raw item is
 * decoded with ljson_decode's parser (ljson_to_cjson emits large integers as
 * raw text, so they round-trip exactly). Strings are pushed as they are (cJSON
 * does not check UTF-8). Returns 0 after pushing one value, or AGENTAI_EINVAL
 * (invalid item, bad raw text, nesting deeper than LJSON_MAX_DEPTH) /
 * AGENTAI_ENOMEM after pushing nothing. item is borrowed.
 */
int ljson_push_cjson(lua_State *L, const cJSON *item);

/**
 * Converts the value at idx to a new cJSON tree by the encoding rules above
 * (same errors and messages; object members are added in sorted key order).
 * Integers with magnitude <= 2^53 and all floats become cJSON numbers;
 * larger integers become cJSON_Raw items holding their exact decimal text,
 * which cJSON_Print copies verbatim (cJSON_IsNumber is false for them).
 * Strings containing a NUL byte are an error (cJSON strings are C strings).
 * Returns the tree (the caller owns it: cJSON_Delete) or NULL with a message
 * in err. The stack is left unchanged and no Lua error is raised.
 */
cJSON *ljson_to_cjson(lua_State *L, int idx, char *err, size_t err_len);

/**
 * lua_CFunction that pushes the `json` library table (returns 1):
 *   json.encode(v [, {indent = true}]) -> string
 *   json.decode(s)                     -> value
 *   json.null                          the null sentinel
 *   json.array([t]) -> t               sets the array metatable on t (or a new table)
 *   json.object([t]) -> t              sets the object metatable on t (or a new table)
 *   json.is_array(v) -> boolean        whether v would encode as a JSON array
 * encode and decode raise string errors prefixed "json.encode: " /
 * "json.decode: " followed by the messages above. The two metatables are
 * shared by the whole lua_State and protected (__metatable), so getmetatable
 * returns "json.array" / "json.object" and setmetatable on such a table
 * fails: use json.array / json.object to switch a table's kind.
 */
int ljson_open(lua_State *L);
