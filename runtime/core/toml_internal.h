/* core/toml_internal.h — structures and helpers shared by the TOML parser's index, lexer and
 * grammar. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/toml.h"

/* How a key came to exist decides what may later extend or redefine it. */
enum entry_kind {
  EK_VALUE,    /* scalar or array: final */
  EK_INLINE,   /* inline table: final, nothing may add keys to it from outside */
  EK_IMPLICIT, /* table created as the parent of a [header]; may get its own header once */
  EK_EXPLICIT, /* table defined by its own [header] (the root counts as one) */
  EK_DOTTED,   /* table created by a dotted key (a.b = 1); headers may add sub-tables */
  EK_ELEMENT   /* array element: named by position, never looked up */
};

typedef struct entry {
  char *key; /* NULL for elements and the root */
  size_t key_len;
  cJSON *node; /* the object that receives children (tables only) */
  int parent;
  int line;
  int depth;
  int index; /* position, for EK_ELEMENT */
  unsigned char kind;
  unsigned char type; /* toml_type */
} entry;

struct toml_index {
  entry *e;
  size_t n, cap;
  int *slot; /* open addressing over keyed entries, -1 = empty */
  size_t nslot, nkeyed;
};

typedef struct parser {
  const char *p, *end;
  int line;
  const char *file;
  char *err;
  size_t err_len;
  toml_index *ix;
} parser;

/* One key as written: up to TOML_MAX_DEPTH dotted parts. */
typedef struct key_parts {
  char *s[TOML_MAX_DEPTH];
  size_t len[TOML_MAX_DEPTH];
  int n;
} key_parts;

/* A growable byte buffer for string bodies. */
typedef struct dbuf {
  char *p;
  size_t len, cap;
} dbuf;

/* Bounded appender: never overflows, always NUL-terminated. */
typedef struct sbuf {
  char *b;
  size_t cap, len;
} sbuf;

/* Id of the entry named (parent, k), or -1. */
int toml__ix_find(const toml_index *ix, int parent, const char *k, size_t len);
/* Appends an entry; key (copied) may be NULL. Returns its id or AGENTAI_ENOMEM. */
int toml__ix_add(toml_index *ix, int parent, const char *key, size_t key_len, int kind, int type,
                 int line, cJSON *node);
/* Appends one character (dropped when full). */
void toml__sb_putc(sbuf *s, char c);
/* Whether c may appear in a bare key. */
int toml__is_bare(unsigned char c);
/* Writes one key part, quoted TOML-style when it is not a bare key. */
void toml__sb_key(sbuf *s, const char *k, size_t len);
/* Writes "FILE:LINE: key 'path': message" (no key part when id <= 0); returns AGENTAI_EINVAL. */
int toml__fail(parser *P, int line, int id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports running out of memory; returns AGENTAI_ENOMEM. */
int toml__fail_nomem(parser *P);
/* Describes the byte at p for "got ..." messages. */
void toml__describe_here(const parser *P, char *buf, size_t n);
/* Skips spaces and tabs. */
void toml__skip_ws(parser *P);
/* Whether p is at a line break or the end of the input. */
int toml__at_eol(const parser *P);
/* Skips a comment up to (not including) the end of its line. */
int toml__skip_comment(parser *P);
/* Consumes one line break (\n or \r\n) at p. */
void toml__eat_newline(parser *P);
/* Skips blanks, comments and line breaks (inside arrays). */
int toml__skip_space_lines(parser *P);
/* After a statement: blanks, a comment, then a line break or the end. */
int toml__end_of_statement(parser *P, int id, const char *what);
/* Reads a "basic" or 'literal' string at p (single line). On success *out
 * is a malloc'd NUL-terminated copy. id names the key in errors. */
int toml__parse_string(parser *P, int id, char **out, size_t *out_len);
/* Frees the parts of a key read by toml__parse_key. */
void toml__key_parts_free(key_parts *k);
/* Reads a (possibly dotted) key: bare or quoted parts separated by dots. */
int toml__parse_key(parser *P, key_parts *k);
