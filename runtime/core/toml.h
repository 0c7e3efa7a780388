/* core/toml.h — the configuration file parser: a TOML subset to a cJSON tree plus a key -> line
 * index. */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/** Deepest nesting of tables and arrays the parser accepts (bounds every recursion). */
#define TOML_MAX_DEPTH 64

/** The TOML type a key had in the file (cJSON alone cannot tell 1 from 1.0). */
typedef enum toml_type {
  TOML_NONE = 0, /**< no such key */
  TOML_STRING,
  TOML_INTEGER,
  TOML_FLOAT,
  TOML_BOOLEAN,
  TOML_ARRAY,
  TOML_TABLE
} toml_type;

/** Where each key of a parsed document was defined, and as what type. */
typedef struct toml_index toml_index;

/**
 * Parses text[0..len) (need not be NUL-terminated; never read past len).
 * On success returns 0, sets *out to a new cJSON object (caller deletes) and,
 * when index_out is not NULL, *index_out to a new index (toml_index_free).
 * On failure returns AGENTAI_EINVAL (bad input) or AGENTAI_ENOMEM, leaves
 * *out and *index_out NULL, and writes "FILE:LINE: key 'a.b': what was
 * wrong" (the key part when there is one) to err. filename only labels
 * errors. The subset is described in docs/configuration.md.
 */
int toml_parse(const char *text, size_t len, const char *filename, cJSON **out,
               toml_index **index_out, char *err, size_t err_len);

/**
 * Looks up the key whose path from the root is path[0..depth): returns the
 * line that defined it (>= 1; for a table, its [header] line or the first
 * line that created it) and sets *type when not NULL; returns 0 and
 * TOML_NONE when the document has no such key. Array elements have no entry.
 */
int toml_index_lookup(const toml_index *ix, const char *const *path, size_t depth, toml_type *type);

/** Static lower-case name of a type ("string", "integer", ...). */
const char *toml_type_name(toml_type type);

/** Releases an index (NULL is fine). */
void toml_index_free(toml_index *ix);
