/* core/jsonschema.h — JSON Schema (the draft 2020-12 subset LLM tool definitions use) over cJSON.
 */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Supported keywords: type (a name or an array of names; "integer" is any
 * number with no fractional part, 1.0 included), properties, required,
 * additionalProperties (boolean or schema), items (a schema), minItems,
 * maxItems, enum, const, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength (in code points), pattern (POSIX
 * extended regular expressions, searched unanchored like ECMA's; \d \D \w \W
 * \s \S are translated, other ECMA-only syntax is not), allOf, anyOf, oneOf,
 * not, $ref (JSON pointers into the same document: "#", "#/$defs/name",
 * "#/definitions/name", ...), $defs and definitions. Boolean schemas are
 * allowed anywhere a schema is. Every other keyword (title, description,
 * default, format, $schema, ...) is ignored, as the specification says of
 * unknown keywords.
 *
 * A schema is checked when it is compiled: it must be an object or a boolean,
 * known keywords must have the right type, patterns must compile and every
 * $ref must point to a schema of the document. Errors name the schema
 * location, e.g. "/properties/name/type: unknown type \"strin\"".
 */

/** Errors collected by default (jsonschema_validate with max_errors 0). */
#define JSONSCHEMA_MAX_ERRORS 20
/** Nested evaluations (instance nesting plus $ref hops) before validation
 *  stops with an error; this is what ends a $ref cycle. Schemas are also
 *  refused beyond this nesting. */
#define JSONSCHEMA_MAX_DEPTH 512
/** Schema evaluations per validation before it stops with an error: bounds
 *  the work of schemas that branch exponentially (allOf of $refs to itself). */
#define JSONSCHEMA_MAX_STEPS 1000000

/** Flag: an empty object is also an empty array (Lua's {} could be either).
 *  For jsonschema_validate it makes {} match "type": "array", array keywords
 *  and enum/const members []; for jsonschema_compile it accepts {} where a
 *  schema needs an array ("required", "enum"). */
#define JSONSCHEMA_EMPTY_AMBIGUOUS 1u

/** A compiled schema: a private copy of the document with its patterns
 *  compiled and its $refs resolved. Immutable once compiled, so one may be
 *  shared by any number of validations on one thread at a time. */
typedef struct jsonschema jsonschema;

/** One validation error: path is the JSON Pointer of the offending instance
 *  value ("" for the root, "/items/2/name"), message a sentence such as
 *  "expected string, got number". Both owned by the result. */
typedef struct jsonschema_error {
  char *path;
  char *message;
} jsonschema_error;

/** What jsonschema_validate found, in a deterministic order (the schema's
 *  keywords in a fixed order, object members and array items in instance
 *  order). count == 0 means valid. Free with jsonschema_result_free. */
typedef struct jsonschema_result {
  jsonschema_error *errors;
  size_t count;
  int truncated; /* more errors existed than max_errors */
} jsonschema_result;

/** Checks and compiles schema (borrowed; it is copied). flags: 0 or
 *  JSONSCHEMA_EMPTY_AMBIGUOUS. Returns 0 with *out set (free it with
 *  jsonschema_free), AGENTAI_EINVAL with a message naming the schema
 *  location in err, or AGENTAI_ENOMEM. */
int jsonschema_compile(const cJSON *schema, unsigned flags, jsonschema **out, char *err,
                       size_t err_len);

/** Checks schema without keeping it: jsonschema_compile's errors. */
int jsonschema_check(const cJSON *schema, unsigned flags, char *err, size_t err_len);

/** Frees a compiled schema (NULL is fine). */
void jsonschema_free(jsonschema *s);

/** Validates instance (borrowed) against s, collecting up to max_errors
 *  errors (0: JSONSCHEMA_MAX_ERRORS) into *res, which is overwritten. flags:
 *  0 or JSONSCHEMA_EMPTY_AMBIGUOUS. Returns 0 when the validation ran (the
 *  instance is valid iff res->count == 0; hitting JSONSCHEMA_MAX_DEPTH or
 *  JSONSCHEMA_MAX_STEPS is reported as an error in res) or AGENTAI_ENOMEM
 *  (res is then empty). */
int jsonschema_validate(const jsonschema *s, const cJSON *instance, unsigned flags,
                        size_t max_errors, jsonschema_result *res);

/** Frees what a result holds and empties it. */
void jsonschema_result_free(jsonschema_result *res);
