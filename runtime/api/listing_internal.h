/* api/listing_internal.h — the parsed query shared by the listing parser and its matcher. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "api/listing.h"
#include "core/utf8.h"

typedef enum op_kind {
  OP_EQ,
  OP_NEQ,
  OP_GT,
  OP_GTE,
  OP_LT,
  OP_LTE,
  OP_IN,
  OP_LIKE,
  OP_COUNT
} op_kind;

/* Tokens of a compiled like pattern: a literal byte is 0..255. */
#define PAT_ONE (-1) /* _ : one character */
#define PAT_ANY (-2) /* * or % : any run */

/* One filter of a query: field=[not.]op.value. */
typedef struct filter {
  const listing_field *field;
  op_kind op;
  int negate;
  size_t n;     /* values: 1, or the in-list length */
  char **text;  /* canonical text of each value */
  int64_t *num; /* INT value, TIME ms, BOOL 0/1 */
  int *pat;     /* like: compiled pattern */
  size_t npat;
} filter;

struct listing_query {
  const listing_field *fields; /* borrowed schema */
  size_t nfields;
  filter filters[LISTING_MAX_FILTERS];
  size_t nfilters;
  int limit;
  char *cursor;
  const listing_field *order;
  int desc;
  int seen_order, seen_limit, seen_cursor; /* each reserved name once */
};

/** The field of fields[0..n) called name, or NULL. */
const listing_field *listing__find_field(const listing_field *fields, size_t n, const char *name);

/** Width of the character at s[0..n) (1 for a byte that starts no well-formed sequence), so
 *  that a like '_' steps over one code point of a record string that may not be valid UTF-8,
 *  and a message is cut between characters. */
static inline size_t listing__char_width(const char *s, size_t n) {
  size_t k = utf8_char_len(s, n);
  return k ? k : 1;
}
