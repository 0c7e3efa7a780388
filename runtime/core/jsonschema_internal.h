/* core/jsonschema_internal.h — what the schema compiler (jsonschema.c) and the evaluator
 * (jsonschema_validate.c) share: the compiled form and small helpers. */
#pragma once

#include <regex.h>
#include <stddef.h>

#include "core/jsonschema.h"

/*
 * The compiled schema is a private cJSON copy. Patterns and $refs are worked
 * out once: the keyword's string item carries, in its otherwise unused
 * valueint, 1 + its index in the regexes or ref targets table. Every schema
 * node the evaluator can reach was walked (and so checked) by the compiler:
 * it descends only through the keywords the compiler walks, and a $ref must
 * land on a node the compiler walked.
 */

struct jsonschema {
  cJSON *root;
  regex_t *regexes;
  size_t nregexes;
  const cJSON **targets; /* of the $refs */
  size_t ntargets;
};

/* Instance type bits: an integral number is both INT and NUM. */
enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };

/** The T_* bit of a JSON Schema type name, 0 when unknown. */
int js_type_bits(const char *name);
/** The number an item holds (cJSON numbers, and raw decimal text for integers beyond
 *  2^53): 1 with *d and *integral set, or 0. */
int js_num_of(const cJSON *it, double *d, int *integral);
/** True for an object without members. */
int js_is_empty_object(const cJSON *it);
/** Shortest %g text that reads back to d. */
void js_fmt_num(char *buf, size_t len, double d);
/** Appends "/" and seg (JSON Pointer escaped) to buf[0..*len), within cap; returns the old
 *  length for js_path_pop. */
size_t js_path_push(char *buf, size_t cap, size_t *len, const char *seg);
/** Cuts buf back to length old. */
void js_path_pop(char *buf, size_t *len, size_t old);
/** Grows *pptr (an array of elem-byte items, *cap of them) to hold need; 0 or -1 (ENOMEM). */
int js_grow(void *pptr, size_t *cap, size_t need, size_t elem);
/** A JSON value's kind in messages ("string", "an object", ...). */
const char *js_kind_name(const cJSON *it);
