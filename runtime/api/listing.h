/* api/listing.h — the query language of REST listings: PostgREST-style filters, order, limit and
 * cursor parsed from a raw query string, and matched against cJSON records. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * Syntax (the query string without '?', percent-encoded, '+' read as a space):
 *
 *   field=op.value        op: eq neq gt gte lt lte in like; "not." before op negates it
 *   field=in.(a,b,"c,d")  a list; a double-quoted element may hold , ( ) and "" and escapes
 *                         \" and \\ inside; spaces around elements are dropped
 *   field=like.ab*_c      * and % match any run, _ one character, \ escapes; case-sensitive
 *   order=field.asc       or .desc; a bare field means asc; the field must be LISTING_ORDERABLE
 *   limit=N               1..LISTING_MAX_LIMIT, default LISTING_DEFAULT_LIMIT
 *   starting_after=ID     the cursor: 1..LISTING_MAX_CURSOR characters of [A-Za-z0-9_-]
 *
 * Several filters are ANDed, the same field may appear more than once. order, limit and
 * starting_after may appear once each; every other name must be a field of the schema.
 * Which operators apply: STRING all; a STRING with enum_values eq, neq, in, like (its values
 * are checked against the enum); INT and TIME all but like; BOOL eq, neq, in.
 *
 * Values: INT a decimal int64; TIME an RFC 3339 date-time ("2026-11-25T01:02:03Z", optional
 * fraction, Z or +hh:mm offset) or integer unix seconds, kept as int64 milliseconds; BOOL true
 * or false. Every decoded name and value must be valid UTF-8 without NUL; a parameter value
 * (operator included) is at most LISTING_MAX_VALUE bytes once decoded; a query has at most
 * LISTING_MAX_FILTERS filters. A parameter without '=' has the empty value; empty parameters
 * ("a=1&&b=2") are skipped.
 *
 * Matching a record (a cJSON object): a field is read as a string for STRING, a number for
 * INT, an RFC 3339 string or a number of unix seconds for TIME, true/false for BOOL. A field
 * that is absent or of another JSON type is "missing": every operator is false on it except
 * neq, which is true; "not." flips the result, so not.eq behaves like neq everywhere.
 *
 * Thread-safety: a parsed query is immutable; several threads may match with it at once.
 */

#define LISTING_DEFAULT_LIMIT 20 /**< limit when the query has none */
#define LISTING_MAX_LIMIT 100    /**< largest limit accepted */
#define LISTING_MAX_FILTERS 32   /**< filters per query */
#define LISTING_MAX_VALUE 1024   /**< bytes of one decoded parameter value */
#define LISTING_MAX_CURSOR 128   /**< characters of starting_after */

/** How a field's values are read from the query and from records. */
typedef enum listing_type { LISTING_STRING, LISTING_INT, LISTING_TIME, LISTING_BOOL } listing_type;

/** Field flag: the listing may be ordered by this field. */
#define LISTING_ORDERABLE 1u

/** One filterable field of a listing; the caller's schema is an array of these. */
typedef struct listing_field {
  const char *name;               /**< the query parameter and the record member */
  listing_type type;              /**< how values are read */
  const char *const *enum_values; /**< NULL-terminated allowed values of a STRING, or NULL */
  unsigned flags;                 /**< LISTING_ORDERABLE */
} listing_field;

/** Why a query was refused: a sentence for the client, and the parameter it is about. */
typedef struct listing_error {
  char message[256]; /**< names the parameter and what was wrong with it; valid UTF-8 */
  char param[64];    /**< parameter name ("status", "limit"), "" when it cannot be named */
} listing_error;

/** A parsed query; owns its strings, borrows the schema it was parsed with. */
typedef struct listing_query listing_query;

/**
 * Parses query (NULL or "" for none) against fields[0..nfields), which must stay valid and
 * unchanged until listing_free(). default_order ("created_at.desc", or NULL for none) is
 * used when the query has no order=; it is parsed like an order= value.
 * Returns 0 and sets *out to a new query (listing_free), or AGENTAI_EINVAL for a bad query
 * (also a bad schema or default_order) or AGENTAI_ENOMEM, leaving *out NULL and, when err is
 * not NULL, filling it in (err is cleared on success).
 */
int listing_parse(const char *query, const listing_field *fields, size_t nfields,
                  const char *default_order, listing_query **out, listing_error *err);

/** 1 when record satisfies every filter of q (a query without filters matches anything), 0
 *  when not. A record that is NULL or not an object has every field missing. */
int listing_match(const listing_query *q, const cJSON *record);

/** The page size: limit= or LISTING_DEFAULT_LIMIT. */
int listing_limit(const listing_query *q);

/** The starting_after cursor, or NULL when the query has none. Owned by q. */
const char *listing_cursor(const listing_query *q);

/** The field to order by (an element of the schema), or NULL without order= and default. */
const listing_field *listing_order_field(const listing_query *q);

/** 1 when the order is descending, 0 when ascending. */
int listing_order_desc(const listing_query *q);

/** Number of filters in q (order, limit and starting_after are not filters). */
size_t listing_filter_count(const listing_query *q);

/**
 * For index selection: finds a filter that pins field to a set of values (eq, or in, not
 * negated). With several, the one with fewest values (the records are in every set).
 * Returns 1 and sets *values to *n canonical texts (owned by q: a STRING as given, an INT in
 * decimal, a BOOL "true"/"false", a TIME as timefmt_format in core/timefmt.h writes it); 0 when
 * there is none (*values NULL, *n 0); AGENTAI_ENOENT when field is not in the schema.
 */
int listing_eq_values(const listing_query *q, const char *field, const char *const **values,
                      size_t *n);

/**
 * For index selection: the inclusive range [*lo, *hi] of milliseconds (TIME) or integers (INT)
 * that field must lie in, from every filter eq, in, gt, gte, lt, lte on it that is not negated
 * (INT64_MIN / INT64_MAX for an open side; *lo > *hi when nothing can match).
 * Returns 1 when some filter bounds it, 0 when none does, AGENTAI_ENOENT when field is not in
 * the schema, AGENTAI_EINVAL when it is not an INT or TIME field.
 */
int listing_time_bounds(const listing_query *q, const char *field, int64_t *lo, int64_t *hi);

/** Releases q (NULL is fine). */
void listing_free(listing_query *q);
