/* core/toml.c — the configuration file parser: a TOML subset to a cJSON tree, with a key -> line
 * index. */
#include "core/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"

/* Integers travel as cJSON doubles and are printed back to JSON for plugins
 * with 15 significant digits: refuse what would not survive that exactly. */
#define TOML_INT_LIMIT UINT64_C(999999999999999)
/* A float literal longer than this is refused rather than copied around. */
#define TOML_NUMBER_MAX 256

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

/* ---------------------------------------------------------------------- */
/* The index                                                              */
/* ---------------------------------------------------------------------- */

static uint64_t key_hash(int parent, const char *k, size_t len) {
  uint64_t h =
      UINT64_C(1469598103934665603) ^ ((uint64_t)(unsigned)parent * UINT64_C(0x9E3779B97F4A7C15));
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)k[i];
    h *= UINT64_C(1099511628211);
  }
  return h ^ (h >> 29);
}

static int ix_find(const toml_index *ix, int parent, const char *k, size_t len) {
  if (!ix->nslot)
    return -1;
  size_t mask = ix->nslot - 1;
  for (size_t i = key_hash(parent, k, len) & mask;; i = (i + 1) & mask) {
    int id = ix->slot[i];
    if (id < 0)
      return -1;
    const entry *e = &ix->e[id];
    if (e->parent == parent && e->key_len == len && memcmp(e->key, k, len) == 0)
      return id;
  }
}

static void ix_slot_put(toml_index *ix, int id) {
  const entry *e = &ix->e[id];
  size_t mask = ix->nslot - 1;
  size_t i = key_hash(e->parent, e->key, e->key_len) & mask;
  while (ix->slot[i] >= 0)
    i = (i + 1) & mask;
  ix->slot[i] = id;
}

static int ix_grow_slots(toml_index *ix) {
  size_t n = ix->nslot ? ix->nslot * 2 : 64;
  int *s = malloc(n * sizeof *s);
  if (!s)
    return AGENTAI_ENOMEM;
  for (size_t i = 0; i < n; i++)
    s[i] = -1;
  free(ix->slot);
  ix->slot = s;
  ix->nslot = n;
  for (size_t id = 0; id < ix->n; id++)
    if (ix->e[id].key)
      ix_slot_put(ix, (int)id);
  return 0;
}

/* Appends an entry; key (copied) may be NULL. Returns its id or AGENTAI_ENOMEM. */
static int ix_add(toml_index *ix, int parent, const char *key, size_t key_len, int kind, int type,
                  int line, cJSON *node) {
  if (ix->n == ix->cap) {
    size_t cap = ix->cap ? ix->cap * 2 : 32;
    entry *e = realloc(ix->e, cap * sizeof *e);
    if (!e)
      return AGENTAI_ENOMEM;
    ix->e = e;
    ix->cap = cap;
  }
  if (key && (ix->nkeyed + 1) * 2 > ix->nslot && ix_grow_slots(ix) < 0)
    return AGENTAI_ENOMEM;
  entry *e = &ix->e[ix->n];
  memset(e, 0, sizeof *e);
  if (key) {
    e->key = malloc(key_len + 1);
    if (!e->key)
      return AGENTAI_ENOMEM;
    memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    e->key_len = key_len;
  }
  e->parent = parent;
  e->kind = (unsigned char)kind;
  e->type = (unsigned char)type;
  e->line = line;
  e->node = node;
  e->depth = parent >= 0 ? ix->e[parent].depth + 1 : 0;
  int id = (int)ix->n++;
  if (key) {
    ix->nkeyed++;
    ix_slot_put(ix, id);
  }
  return id;
}

void toml_index_free(toml_index *ix) {
  if (!ix)
    return;
  for (size_t i = 0; i < ix->n; i++)
    free(ix->e[i].key);
  free(ix->e);
  free(ix->slot);
  free(ix);
}

int toml_index_lookup(const toml_index *ix, const char *const *path, size_t depth,
                      toml_type *type) {
  int id = 0;
  for (size_t i = 0; ix && id >= 0 && i < depth; i++)
    id = ix_find(ix, id, path[i], strlen(path[i]));
  if (!ix || id < 0) {
    if (type)
      *type = TOML_NONE;
    return 0;
  }
  if (type)
    *type = (toml_type)ix->e[id].type;
  return ix->e[id].line;
}

const char *toml_type_name(toml_type type) {
  switch (type) {
    case TOML_STRING:
      return "string";
    case TOML_INTEGER:
      return "integer";
    case TOML_FLOAT:
      return "float";
    case TOML_BOOLEAN:
      return "boolean";
    case TOML_ARRAY:
      return "array";
    case TOML_TABLE:
      return "table";
    default:
      return "nothing";
  }
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

/* Bounded appender: never overflows, always NUL-terminated. */
typedef struct sbuf {
  char *b;
  size_t cap, len;
} sbuf;

static void sb_putc(sbuf *s, char c) {
  if (s->len + 1 < s->cap) {
    s->b[s->len++] = c;
    s->b[s->len] = '\0';
  }
}

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
  if (s->len + 1 >= s->cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->b + s->len, s->cap - s->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    s->len += (size_t)n < s->cap - s->len ? (size_t)n : s->cap - s->len - 1;
}

static int is_bare(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/* Writes one key part, quoted TOML-style when it is not a bare key. */
static void sb_key(sbuf *s, const char *k, size_t len) {
  int bare = len > 0;
  for (size_t i = 0; i < len && bare; i++)
    bare = is_bare((unsigned char)k[i]);
  if (bare) {
    for (size_t i = 0; i < len; i++)
      sb_putc(s, k[i]);
    return;
  }
  sb_putc(s, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '"' || c == '\\') {
      sb_putc(s, '\\');
      sb_putc(s, (char)c);
    } else if (c < 0x20 || c == 0x7f) {
      sb_printf(s, "\\u%04X", c);
    } else {
      sb_putc(s, (char)c);
    }
  }
  sb_putc(s, '"');
}

/* Writes the dotted path of entry id ("a.b[2].c"). */
static void sb_path(sbuf *s, const toml_index *ix, int id) {
  int chain[TOML_MAX_DEPTH + 2];
  int n = 0;
  while (id > 0 && n < (int)(sizeof chain / sizeof chain[0])) {
    chain[n++] = id;
    id = ix->e[id].parent;
  }
  for (int i = n - 1; i >= 0; i--) {
    const entry *e = &ix->e[chain[i]];
    if (e->kind == EK_ELEMENT) {
      sb_printf(s, "[%d]", e->index);
    } else {
      if (i != n - 1)
        sb_putc(s, '.');
      sb_key(s, e->key, e->key_len);
    }
  }
}

/* Writes "FILE:LINE: key 'path': message" (no key part when id <= 0). */
static int fail(parser *P, int line, int id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(parser *P, int line, int id, const char *fmt, ...) {
  if (!P->err || !P->err_len)
    return AGENTAI_EINVAL;
  sbuf s = {P->err, P->err_len, 0};
  P->err[0] = '\0';
  sb_printf(&s, "%s:%d: ", P->file, line);
  if (id > 0) {
    sb_printf(&s, "key '");
    sb_path(&s, P->ix, id);
    sb_printf(&s, "': ");
  }
  if (s.len + 1 < s.cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s.b + s.len, s.cap - s.len, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EINVAL;
}

static int fail_nomem(parser *P) {
  if (P->err && P->err_len)
    snprintf(P->err, P->err_len, "%s: out of memory", P->file);
  return AGENTAI_ENOMEM;
}

/* Describes the byte at p for "got ..." messages. */
static void describe_here(const parser *P, char *buf, size_t n) {
  if (P->p >= P->end) {
    snprintf(buf, n, "end of file");
    return;
  }
  unsigned char c = (unsigned char)*P->p;
  if (c == '\n' || (c == '\r' && P->p + 1 < P->end && P->p[1] == '\n'))
    snprintf(buf, n, "end of line");
  else if (c > 0x20 && c < 0x7f && c != '\'')
    snprintf(buf, n, "'%c'", c);
  else
    snprintf(buf, n, "byte 0x%02X", c);
}

/* ---------------------------------------------------------------------- */
/* Lexing                                                                 */
/* ---------------------------------------------------------------------- */

static void skip_ws(parser *P) {
  while (P->p < P->end && (*P->p == ' ' || *P->p == '\t'))
    P->p++;
}

static int at_eol(const parser *P) {
  return P->p >= P->end || *P->p == '\n' || (*P->p == '\r' && P->p + 1 < P->end && P->p[1] == '\n');
}

/* Skips a comment up to (not including) the end of its line. */
static int skip_comment(parser *P) {
  if (P->p >= P->end || *P->p != '#')
    return 0;
  for (P->p++; P->p < P->end && *P->p != '\n'; P->p++) {
    unsigned char c = (unsigned char)*P->p;
    if (c == '\r' && P->p + 1 < P->end && P->p[1] == '\n')
      continue;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return fail(P, P->line, -1, "control character 0x%02X in comment", c);
  }
  return 0;
}

/* Consumes one line break (\n or \r\n) at p. */
static void eat_newline(parser *P) {
  if (P->p < P->end && *P->p == '\r')
    P->p++;
  if (P->p < P->end && *P->p == '\n') {
    P->p++;
    P->line++;
  }
}

/* Skips blanks, comments and line breaks (inside arrays). */
static int skip_space_lines(parser *P) {
  for (;;) {
    skip_ws(P);
    int rc = skip_comment(P);
    if (rc < 0)
      return rc;
    if (P->p < P->end && at_eol(P)) {
      eat_newline(P);
      continue;
    }
    if (P->p < P->end && *P->p == '\r')
      return fail(P, P->line, -1, "carriage return not followed by a line feed");
    return 0;
  }
}

/* After a statement: blanks, a comment, then a line break or the end. */
static int end_of_statement(parser *P, int id, const char *what) {
  skip_ws(P);
  int rc = skip_comment(P);
  if (rc < 0)
    return rc;
  if (!at_eol(P)) {
    char got[32];
    describe_here(P, got, sizeof got);
    return fail(P, P->line, id, "unexpected text after %s: %s", what, got);
  }
  eat_newline(P);
  return 0;
}

static int db_push(dbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return AGENTAI_ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Reads a "basic" or 'literal' string at p (single line). On success *out
 * is a malloc'd NUL-terminated copy. id names the key in errors. */
static int parse_string(parser *P, int id, char **out, size_t *out_len) {
  char quote = *P->p;
  int line = P->line;
  *out = NULL;
  if (P->end - P->p >= 3 && P->p[1] == quote && P->p[2] == quote)
    return fail(P, line, id, "multi-line strings (%c%c%c) are not supported", quote, quote, quote);
  P->p++;
  dbuf b = {0};
  int rc = 0;
  for (;;) {
    if (P->p >= P->end || *P->p == '\n' || *P->p == '\r') {
      rc = fail(P, line, id, "unterminated string");
      break;
    }
    const char *run = P->p;
    while (P->p < P->end && *P->p != quote && *P->p != '\\' && *P->p != '\n' && *P->p != '\r' &&
           ((unsigned char)*P->p >= 0x20 || *P->p == '\t') && *P->p != 0x7f)
      P->p++;
    if (P->p > run && (rc = db_push(&b, run, (size_t)(P->p - run))) < 0)
      break;
    if (P->p >= P->end || *P->p == '\n' || *P->p == '\r')
      continue; /* reported at the top */
    unsigned char c = (unsigned char)*P->p;
    if (c == (unsigned char)quote) {
      P->p++;
      break;
    }
    if (c == '\\' && quote == '"') {
      if (P->p + 1 >= P->end) {
        rc = fail(P, line, id, "unterminated string");
        break;
      }
      char e = P->p[1];
      const char *rep = NULL;
      switch (e) {
        case 'b':
          rep = "\b";
          break;
        case 't':
          rep = "\t";
          break;
        case 'n':
          rep = "\n";
          break;
        case 'f':
          rep = "\f";
          break;
        case 'r':
          rep = "\r";
          break;
        case '"':
          rep = "\"";
          break;
        case '\\':
          rep = "\\";
          break;
        default:
          break;
      }
      if (rep) {
        P->p += 2;
        if ((rc = db_push(&b, rep, 1)) < 0)
          break;
        continue;
      }
      if (e == 'u' || e == 'U') {
        int digits = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        int ok = P->end - P->p >= 2 + digits;
        for (int i = 0; ok && i < digits; i++) {
          int h = hexval(P->p[2 + i]);
          if (h < 0)
            ok = 0;
          else
            cp = (cp << 4) | (uint32_t)h;
        }
        if (!ok) {
          rc = fail(P, line, id, "bad escape '\\%c' in string: expected %d hex digits", e, digits);
          break;
        }
        if (cp == 0) {
          rc = fail(P, line, id, "bad escape '\\%c%0*X' in string: NUL is not allowed", e, digits,
                    0);
          break;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          rc = fail(P, line, id, "bad escape '\\%c%0*X' in string: not a Unicode scalar value", e,
                    digits, (unsigned)cp);
          break;
        }
        char enc[4];
        P->p += 2 + digits;
        if ((rc = db_push(&b, enc, utf8_encode(cp, enc))) < 0)
          break;
        continue;
      }
      if ((unsigned char)e > 0x20 && (unsigned char)e < 0x7f)
        rc = fail(P, line, id, "bad escape '\\%c' in string", e);
      else
        rc = fail(P, line, id, "bad escape in string: '\\' followed by byte 0x%02X",
                  (unsigned char)e);
      break;
    }
    if (c == '\\') { /* a backslash in a literal string is just a character */
      P->p++;
      if ((rc = db_push(&b, "\\", 1)) < 0)
        break;
      continue;
    }
    rc = fail(P, line, id, "control character 0x%02X in string (write it as an escape)", c);
    break;
  }
  if (rc == 0 && !b.p && db_push(&b, "", 0) < 0)
    rc = AGENTAI_ENOMEM;
  if (rc < 0) {
    free(b.p);
    return rc == AGENTAI_ENOMEM ? fail_nomem(P) : rc;
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}

static void key_parts_free(key_parts *k) {
  for (int i = 0; i < k->n; i++)
    free(k->s[i]);
  k->n = 0;
}

/* Reads a (possibly dotted) key: bare or quoted parts separated by dots. */
static int parse_key(parser *P, key_parts *k) {
  k->n = 0;
  for (;;) {
    if (k->n == TOML_MAX_DEPTH) {
      key_parts_free(k);
      return fail(P, P->line, -1, "key has more than %d dotted parts", TOML_MAX_DEPTH);
    }
    char *s = NULL;
    size_t len = 0;
    if (P->p < P->end && is_bare((unsigned char)*P->p)) {
      const char *start = P->p;
      while (P->p < P->end && is_bare((unsigned char)*P->p))
        P->p++;
      len = (size_t)(P->p - start);
      s = malloc(len + 1);
      if (!s) {
        key_parts_free(k);
        return fail_nomem(P);
      }
      memcpy(s, start, len);
      s[len] = '\0';
    } else if (P->p < P->end && (*P->p == '"' || *P->p == '\'')) {
      int rc = parse_string(P, -1, &s, &len);
      if (rc < 0) {
        key_parts_free(k);
        return rc;
      }
    } else {
      char got[32];
      describe_here(P, got, sizeof got);
      key_parts_free(k);
      return fail(P, P->line, -1, "expected a key, got %s", got);
    }
    k->s[k->n] = s;
    k->len[k->n] = len;
    k->n++;
    skip_ws(P);
    if (P->p < P->end && *P->p == '.') {
      P->p++;
      skip_ws(P);
      continue;
    }
    return 0;
  }
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */
/* ---------------------------------------------------------------------- */

static int parse_value(parser *P, int self, cJSON **out);

/* Scans digits with single underscores between digits; returns how many
 * digits, or -1 for a misplaced underscore. */
static int scan_digits(const char *s, size_t n, size_t *i) {
  size_t j = *i;
  int count = 0;
  while (j < n) {
    if (s[j] >= '0' && s[j] <= '9') {
      count++;
      j++;
    } else if (s[j] == '_') {
      if (j == *i || !(s[j - 1] >= '0' && s[j - 1] <= '9') || j + 1 >= n ||
          !(s[j + 1] >= '0' && s[j + 1] <= '9'))
        return -1;
      j++;
    } else {
      break;
    }
  }
  *i = j;
  return count;
}

static int is_token_char(char c) {
  return is_bare((unsigned char)c) || c == '.' || c == '+';
}

/* A number, true or false: the token is a run of [A-Za-z0-9_.+-]. */
static int parse_scalar(parser *P, int self, cJSON **out) {
  const char *tok = P->p;
  while (P->p < P->end && is_token_char(*P->p))
    P->p++;
  size_t n = (size_t)(P->p - tok);
  int shown = n > 40 ? 40 : (int)n;
  const char *more = n > 40 ? "..." : "";
  entry *self_e = &P->ix->e[self];
  if (n == 0) {
    char got[32];
    describe_here(P, got, sizeof got);
    return fail(P, P->line, self, "expected a value, got %s", got);
  }
  if ((n == 4 && memcmp(tok, "true", 4) == 0) || (n == 5 && memcmp(tok, "false", 5) == 0)) {
    self_e->type = TOML_BOOLEAN;
    *out = cJSON_CreateBool(n == 4);
    return *out ? 0 : fail_nomem(P);
  }
  if (!(tok[0] >= '0' && tok[0] <= '9') && tok[0] != '+' && tok[0] != '-' && tok[0] != '.')
    return fail(P, P->line, self, "invalid value '%.*s%s' (strings need quotes)", shown, tok, more);
  size_t i = 0;
  int neg = 0, is_float = 0;
  if (tok[i] == '+' || tok[i] == '-')
    neg = tok[i++] == '-';
  size_t int_start = i;
  int cnt = scan_digits(tok, n, &i);
  int ok = cnt > 0 && !(tok[int_start] == '0' && cnt > 1);
  if (ok && i < n && tok[i] == '.') {
    i++;
    is_float = 1;
    ok = scan_digits(tok, n, &i) > 0;
  }
  if (ok && i < n && (tok[i] == 'e' || tok[i] == 'E')) {
    i++;
    is_float = 1;
    if (i < n && (tok[i] == '+' || tok[i] == '-'))
      i++;
    ok = scan_digits(tok, n, &i) > 0;
  }
  if (!ok || i != n)
    return fail(P, P->line, self, "bad number '%.*s%s'", shown, tok, more);
  if (!is_float) {
    uint64_t v = 0;
    for (size_t j = int_start; j < n; j++) {
      if (tok[j] == '_')
        continue;
      v = v * 10 + (uint64_t)(tok[j] - '0');
      if (v > TOML_INT_LIMIT)
        return fail(P, P->line, self, "integer '%.*s%s' is out of range (at most 15 digits)", shown,
                    tok, more);
    }
    self_e->type = TOML_INTEGER;
    *out = cJSON_CreateNumber(neg && v ? -(double)v : (double)v); /* -0 is 0 */
    return *out ? 0 : fail_nomem(P);
  }
  if (n >= TOML_NUMBER_MAX)
    return fail(P, P->line, self, "bad number '%.*s%s' (too long)", shown, tok, more);
  char buf[TOML_NUMBER_MAX];
  size_t k = 0;
  for (size_t j = 0; j < n; j++)
    if (tok[j] != '_')
      buf[k++] = tok[j];
  buf[k] = '\0';
  errno = 0;
  double d = strtod(buf, NULL);
  if (!isfinite(d))
    return fail(P, P->line, self, "float '%.*s%s' is out of range", shown, tok, more);
  self_e->type = TOML_FLOAT;
  *out = cJSON_CreateNumber(d);
  return *out ? 0 : fail_nomem(P);
}

static int check_depth(parser *P, int self) {
  if (P->ix->e[self].depth >= TOML_MAX_DEPTH)
    return fail(P, P->line, self, "nesting deeper than %d levels", TOML_MAX_DEPTH);
  return 0;
}

static int parse_array(parser *P, int self, cJSON **out) {
  int open_line = P->line, rc;
  if ((rc = check_depth(P, self)) < 0)
    return rc;
  P->p++;
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return fail_nomem(P);
  P->ix->e[self].type = TOML_ARRAY;
  for (int idx = 0;; idx++) {
    if ((rc = skip_space_lines(P)) < 0)
      break;
    if (P->p >= P->end) {
      rc = fail(P, open_line, self, "unclosed array: end of file before ']'");
      break;
    }
    if (*P->p == ']') {
      P->p++;
      *out = arr;
      return 0;
    }
    int el = ix_add(P->ix, self, NULL, 0, EK_ELEMENT, TOML_NONE, P->line, NULL);
    if (el < 0) {
      rc = fail_nomem(P);
      break;
    }
    P->ix->e[el].index = idx;
    cJSON *v = NULL;
    if ((rc = parse_value(P, el, &v)) < 0)
      break;
    cJSON_AddItemToArray(arr, v);
    if ((rc = skip_space_lines(P)) < 0)
      break;
    if (P->p < P->end && *P->p == ',') {
      P->p++;
      continue;
    }
    if (P->p < P->end && *P->p == ']') {
      P->p++;
      *out = arr;
      return 0;
    }
    if (P->p >= P->end) {
      rc = fail(P, open_line, self, "unclosed array: end of file before ']'");
      break;
    }
    char got[32];
    describe_here(P, got, sizeof got);
    rc = fail(P, P->line, self, "expected ',' or ']' in array, got %s", got);
    break;
  }
  cJSON_Delete(arr);
  return rc;
}

/* Walks the dotted prefix k->s[0..n-1) from table `from`, creating dotted
 * tables; then creates the final key's entry. Returns its id. */
static int define_key(parser *P, int from, const key_parts *k, int line) {
  int cur = from;
  for (int i = 0; i < k->n; i++) {
    int last = i == k->n - 1;
    int id = ix_find(P->ix, cur, k->s[i], k->len[i]);
    if (id >= 0) {
      const entry *e = &P->ix->e[id];
      if (last)
        return fail(P, line, id, "duplicate key (first defined on line %d)", e->line);
      if (e->kind == EK_DOTTED) {
        cur = id;
        continue;
      }
      if (e->kind == EK_VALUE)
        return fail(P, line, id, "already has a value (%s, line %d); cannot hold keys",
                    toml_type_name(e->type), e->line);
      if (e->kind == EK_INLINE)
        return fail(P, line, id, "inline table (line %d) cannot be extended", e->line);
      return fail(P, line, id,
                  "table created by a [header] on line %d cannot be extended by dotted keys",
                  e->line);
    }
    if (P->ix->e[cur].depth + 1 > TOML_MAX_DEPTH)
      return fail(P, line, cur, "nesting deeper than %d levels", TOML_MAX_DEPTH);
    cJSON *node = NULL;
    if (!last) {
      node = cJSON_CreateObject();
      if (!node)
        return fail_nomem(P);
      cJSON_AddItemToObject(P->ix->e[cur].node, k->s[i], node);
    }
    id = ix_add(P->ix, cur, k->s[i], k->len[i], last ? EK_VALUE : EK_DOTTED,
                last ? TOML_NONE : TOML_TABLE, line, node);
    if (id < 0)
      return fail_nomem(P);
    cur = id;
  }
  return cur;
}

static int parse_inline_table(parser *P, int self, cJSON **out) {
  int rc;
  if ((rc = check_depth(P, self)) < 0)
    return rc;
  P->p++;
  cJSON *obj = cJSON_CreateObject();
  if (!obj)
    return fail_nomem(P);
  entry *e = &P->ix->e[self];
  e->type = TOML_TABLE;
  e->node = obj;
  if (e->kind == EK_VALUE)
    e->kind = EK_INLINE;
  skip_ws(P);
  if (P->p < P->end && *P->p == '}') {
    P->p++;
    *out = obj;
    return 0;
  }
  for (;;) {
    skip_ws(P);
    if (at_eol(P)) {
      rc = fail(P, P->line, self, "unclosed inline table: inline tables must end on their line");
      break;
    }
    key_parts k;
    int line = P->line;
    if ((rc = parse_key(P, &k)) < 0)
      break;
    if (P->p >= P->end || *P->p != '=') {
      key_parts_free(&k);
      char got[32];
      describe_here(P, got, sizeof got);
      rc = fail(P, line, self, "expected '=' after a key in inline table, got %s", got);
      break;
    }
    P->p++;
    skip_ws(P);
    int id = define_key(P, self, &k, line);
    key_parts_free(&k);
    if (id < 0) {
      rc = id;
      break;
    }
    cJSON *v = NULL;
    if ((rc = parse_value(P, id, &v)) < 0)
      break;
    const entry *child = &P->ix->e[id];
    cJSON_AddItemToObject(P->ix->e[child->parent].node, child->key, v);
    skip_ws(P);
    if (P->p < P->end && *P->p == ',') {
      P->p++;
      skip_ws(P);
      if (P->p < P->end && *P->p == '}') {
        rc = fail(P, P->line, self, "trailing comma in inline table");
        break;
      }
      continue;
    }
    if (P->p < P->end && *P->p == '}') {
      P->p++;
      *out = obj;
      return 0;
    }
    if (at_eol(P)) {
      rc = fail(P, P->line, self, "unclosed inline table: inline tables must end on their line");
      break;
    }
    char got[32];
    describe_here(P, got, sizeof got);
    rc = fail(P, P->line, self, "expected ',' or '}' in inline table, got %s", got);
    break;
  }
  P->ix->e[self].node = NULL;
  cJSON_Delete(obj);
  return rc;
}

/* Parses the value at p for entry self (keyed or array element). */
static int parse_value(parser *P, int self, cJSON **out) {
  *out = NULL;
  if (at_eol(P))
    return fail(P, P->line, self, "missing value");
  char c = *P->p;
  if (c == '"' || c == '\'') {
    char *s = NULL;
    size_t len = 0;
    int rc = parse_string(P, self, &s, &len);
    if (rc < 0)
      return rc;
    P->ix->e[self].type = TOML_STRING;
    *out = cJSON_CreateString(s);
    free(s);
    return *out ? 0 : fail_nomem(P);
  }
  if (c == '[')
    return parse_array(P, self, out);
  if (c == '{')
    return parse_inline_table(P, self, out);
  return parse_scalar(P, self, out);
}

/* ---------------------------------------------------------------------- */
/* Statements                                                             */
/* ---------------------------------------------------------------------- */

/* [a.b.c]: defines a table; returns its id (the new current table). */
static int parse_header(parser *P) {
  int line = P->line;
  P->p++;
  if (P->p < P->end && *P->p == '[')
    return fail(P, line, -1, "arrays of tables ([[...]]) are not supported");
  skip_ws(P);
  key_parts k;
  int rc = parse_key(P, &k);
  if (rc < 0)
    return rc;
  if (P->p >= P->end || *P->p != ']') {
    key_parts_free(&k);
    char got[32];
    describe_here(P, got, sizeof got);
    return fail(P, line, -1, "expected ']' after the table name, got %s", got);
  }
  P->p++;
  int cur = 0;
  for (int i = 0; i < k.n && rc >= 0; i++) {
    int last = i == k.n - 1;
    int id = ix_find(P->ix, cur, k.s[i], k.len[i]);
    if (id >= 0) {
      entry *e = &P->ix->e[id];
      if (e->kind == EK_VALUE || e->kind == EK_INLINE)
        rc = fail(P, line, id, "already has a value (%s, line %d); cannot be a table",
                  e->kind == EK_INLINE ? "inline table" : toml_type_name(e->type), e->line);
      else if (last && e->kind == EK_EXPLICIT)
        rc = fail(P, line, id, "table redefined (first defined on line %d)", e->line);
      else if (last && e->kind == EK_DOTTED)
        rc = fail(P, line, id, "table redefined (already defined by dotted keys on line %d)",
                  e->line);
      else if (last) {
        e->kind = EK_EXPLICIT;
        e->line = line;
      }
      cur = id;
      continue;
    }
    if (P->ix->e[cur].depth + 1 > TOML_MAX_DEPTH) {
      rc = fail(P, line, cur, "nesting deeper than %d levels", TOML_MAX_DEPTH);
      break;
    }
    cJSON *node = cJSON_CreateObject();
    if (!node) {
      rc = fail_nomem(P);
      break;
    }
    cJSON_AddItemToObject(P->ix->e[cur].node, k.s[i], node);
    id = ix_add(P->ix, cur, k.s[i], k.len[i], last ? EK_EXPLICIT : EK_IMPLICIT, TOML_TABLE, line,
                node);
    if (id < 0) {
      rc = fail_nomem(P);
      break;
    }
    cur = id;
  }
  key_parts_free(&k);
  if (rc < 0)
    return rc;
  rc = end_of_statement(P, cur, "table header");
  return rc < 0 ? rc : cur;
}

static int parse_keyval(parser *P, int table) {
  int line = P->line;
  key_parts k;
  int rc = parse_key(P, &k);
  if (rc < 0)
    return rc;
  if (P->p >= P->end || *P->p != '=') {
    char got[32], name[160];
    describe_here(P, got, sizeof got);
    sbuf s = {name, sizeof name, 0};
    name[0] = '\0';
    for (int i = 0; i < k.n; i++) {
      if (i)
        sb_putc(&s, '.');
      sb_key(&s, k.s[i], k.len[i]);
    }
    rc = fail(P, line, -1, "expected '=' after key '%s', got %s", name, got);
    key_parts_free(&k);
    return rc;
  }
  P->p++;
  skip_ws(P);
  int id = define_key(P, table, &k, line);
  key_parts_free(&k);
  if (id < 0)
    return id;
  cJSON *v = NULL;
  if ((rc = parse_value(P, id, &v)) < 0)
    return rc;
  const entry *e = &P->ix->e[id];
  cJSON_AddItemToObject(P->ix->e[e->parent].node, e->key, v);
  return end_of_statement(P, id, "value");
}

/* Checks UTF-8 up front so that every string copied into the tree is valid. */
static int check_utf8(parser *P) {
  const unsigned char *s = (const unsigned char *)P->p, *end = (const unsigned char *)P->end;
  int line = 1;
  while (s < end) {
    unsigned char c = *s;
    if (c < 0x80) {
      line += c == '\n';
      s++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return fail(P, line, -1, "invalid UTF-8 (byte 0x%02X)", c);
    }
    if ((size_t)(end - s) < n)
      return fail(P, line, -1, "invalid UTF-8 (truncated sequence)");
    for (size_t i = 1; i < n; i++) {
      if ((s[i] & 0xC0) != 0x80)
        return fail(P, line, -1, "invalid UTF-8 (byte 0x%02X)", s[i]);
      cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return fail(P, line, -1, "invalid UTF-8 (overlong or out-of-range sequence)");
    s += n;
  }
  return 0;
}

int toml_parse(const char *text, size_t len, const char *filename, cJSON **out,
               toml_index **index_out, char *err, size_t err_len) {
  *out = NULL;
  if (index_out)
    *index_out = NULL;
  if (err && err_len)
    err[0] = '\0';
  parser P = {text, text + len, 1, filename ? filename : "<input>", err, err_len, NULL};
  if (!text && len)
    return fail(&P, 1, -1, "no input");
  P.ix = calloc(1, sizeof *P.ix);
  cJSON *root = cJSON_CreateObject();
  int rc = 0;
  if (!P.ix || !root || ix_add(P.ix, -1, NULL, 0, EK_EXPLICIT, TOML_TABLE, 1, root) < 0) {
    rc = fail_nomem(&P);
    goto done;
  }
  if ((rc = check_utf8(&P)) < 0)
    goto done;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    P.p += 3; /* byte order mark */
  int table = 0;
  for (;;) {
    skip_ws(&P);
    if ((rc = skip_comment(&P)) < 0)
      goto done;
    if (P.p >= P.end)
      break;
    if (at_eol(&P)) {
      eat_newline(&P);
      continue;
    }
    if (*P.p == '[') {
      if ((rc = parse_header(&P)) < 0)
        goto done;
      table = rc;
      rc = 0;
      continue;
    }
    if ((rc = parse_keyval(&P, table)) < 0)
      goto done;
  }
done:
  if (rc < 0) {
    cJSON_Delete(root);
    toml_index_free(P.ix);
    return rc;
  }
  *out = root;
  if (index_out)
    *index_out = P.ix;
  else
    toml_index_free(P.ix);
  return 0;
}
