/* core/toml_lex.c — the parser's lexical layer: whitespace, comments, strings, keys, and FILE:LINE
 * error messages. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/toml_internal.h"

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

void toml__sb_putc(sbuf *s, char c) {
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

int toml__is_bare(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/* Writes one key part, quoted TOML-style when it is not a bare key. */
void toml__sb_key(sbuf *s, const char *k, size_t len) {
  int bare = len > 0;
  for (size_t i = 0; i < len && bare; i++)
    bare = toml__is_bare((unsigned char)k[i]);
  if (bare) {
    for (size_t i = 0; i < len; i++)
      toml__sb_putc(s, k[i]);
    return;
  }
  toml__sb_putc(s, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '"' || c == '\\') {
      toml__sb_putc(s, '\\');
      toml__sb_putc(s, (char)c);
    } else if (c < 0x20 || c == 0x7f) {
      sb_printf(s, "\\u%04X", c);
    } else {
      toml__sb_putc(s, (char)c);
    }
  }
  toml__sb_putc(s, '"');
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
        toml__sb_putc(s, '.');
      toml__sb_key(s, e->key, e->key_len);
    }
  }
}

/* Writes "FILE:LINE: key 'path': message" (no key part when id <= 0). */
int toml__fail(parser *P, int line, int id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int toml__fail(parser *P, int line, int id, const char *fmt, ...) {
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

int toml__fail_nomem(parser *P) {
  if (P->err && P->err_len)
    snprintf(P->err, P->err_len, "%s: out of memory", P->file);
  return AGENTAI_ENOMEM;
}

/* Describes the byte at p for "got ..." messages. */
void toml__describe_here(const parser *P, char *buf, size_t n) {
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

void toml__skip_ws(parser *P) {
  while (P->p < P->end && (*P->p == ' ' || *P->p == '\t'))
    P->p++;
}

int toml__at_eol(const parser *P) {
  return P->p >= P->end || *P->p == '\n' || (*P->p == '\r' && P->p + 1 < P->end && P->p[1] == '\n');
}

/* Skips a comment up to (not including) the end of its line. */
int toml__skip_comment(parser *P) {
  if (P->p >= P->end || *P->p != '#')
    return 0;
  for (P->p++; P->p < P->end && *P->p != '\n'; P->p++) {
    unsigned char c = (unsigned char)*P->p;
    if (c == '\r' && P->p + 1 < P->end && P->p[1] == '\n')
      continue;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return toml__fail(P, P->line, -1, "control character 0x%02X in comment", c);
  }
  return 0;
}

/* Consumes one line break (\n or \r\n) at p. */
void toml__eat_newline(parser *P) {
  if (P->p < P->end && *P->p == '\r')
    P->p++;
  if (P->p < P->end && *P->p == '\n') {
    P->p++;
    P->line++;
  }
}

/* Skips blanks, comments and line breaks (inside arrays). */
int toml__skip_space_lines(parser *P) {
  for (;;) {
    toml__skip_ws(P);
    int rc = toml__skip_comment(P);
    if (rc < 0)
      return rc;
    if (P->p < P->end && toml__at_eol(P)) {
      toml__eat_newline(P);
      continue;
    }
    if (P->p < P->end && *P->p == '\r')
      return toml__fail(P, P->line, -1, "carriage return not followed by a line feed");
    return 0;
  }
}

/* After a statement: blanks, a comment, then a line break or the end. */
int toml__end_of_statement(parser *P, int id, const char *what) {
  toml__skip_ws(P);
  int rc = toml__skip_comment(P);
  if (rc < 0)
    return rc;
  if (!toml__at_eol(P)) {
    char got[32];
    toml__describe_here(P, got, sizeof got);
    return toml__fail(P, P->line, id, "unexpected text after %s: %s", what, got);
  }
  toml__eat_newline(P);
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
int toml__parse_string(parser *P, int id, char **out, size_t *out_len) {
  char quote = *P->p;
  int line = P->line;
  *out = NULL;
  if (P->end - P->p >= 3 && P->p[1] == quote && P->p[2] == quote)
    return toml__fail(P, line, id, "multi-line strings (%c%c%c) are not supported", quote, quote,
                      quote);
  P->p++;
  dbuf b = {0};
  int rc = 0;
  for (;;) {
    if (P->p >= P->end || *P->p == '\n' || *P->p == '\r') {
      rc = toml__fail(P, line, id, "unterminated string");
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
        rc = toml__fail(P, line, id, "unterminated string");
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
          rc = toml__fail(P, line, id, "bad escape '\\%c' in string: expected %d hex digits", e,
                          digits);
          break;
        }
        if (cp == 0) {
          rc = toml__fail(P, line, id, "bad escape '\\%c%0*X' in string: NUL is not allowed", e,
                          digits, 0);
          break;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          rc =
              toml__fail(P, line, id, "bad escape '\\%c%0*X' in string: not a Unicode scalar value",
                         e, digits, (unsigned)cp);
          break;
        }
        char enc[4];
        P->p += 2 + digits;
        if ((rc = db_push(&b, enc, utf8_encode(cp, enc))) < 0)
          break;
        continue;
      }
      if ((unsigned char)e > 0x20 && (unsigned char)e < 0x7f)
        rc = toml__fail(P, line, id, "bad escape '\\%c' in string", e);
      else
        rc = toml__fail(P, line, id, "bad escape in string: '\\' followed by byte 0x%02X",
                        (unsigned char)e);
      break;
    }
    if (c == '\\') { /* a backslash in a literal string is just a character */
      P->p++;
      if ((rc = db_push(&b, "\\", 1)) < 0)
        break;
      continue;
    }
    rc = toml__fail(P, line, id, "control character 0x%02X in string (write it as an escape)", c);
    break;
  }
  if (rc == 0 && !b.p && db_push(&b, "", 0) < 0)
    rc = AGENTAI_ENOMEM;
  if (rc < 0) {
    free(b.p);
    return rc == AGENTAI_ENOMEM ? toml__fail_nomem(P) : rc;
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}

void toml__key_parts_free(key_parts *k) {
  for (int i = 0; i < k->n; i++)
    free(k->s[i]);
  k->n = 0;
}

/* Reads a (possibly dotted) key: bare or quoted parts separated by dots. */
int toml__parse_key(parser *P, key_parts *k) {
  k->n = 0;
  for (;;) {
    if (k->n == TOML_MAX_DEPTH) {
      toml__key_parts_free(k);
      return toml__fail(P, P->line, -1, "key has more than %d dotted parts", TOML_MAX_DEPTH);
    }
    char *s = NULL;
    size_t len = 0;
    if (P->p < P->end && toml__is_bare((unsigned char)*P->p)) {
      const char *start = P->p;
      while (P->p < P->end && toml__is_bare((unsigned char)*P->p))
        P->p++;
      len = (size_t)(P->p - start);
      s = malloc(len + 1);
      if (!s) {
        toml__key_parts_free(k);
        return toml__fail_nomem(P);
      }
      memcpy(s, start, len);
      s[len] = '\0';
    } else if (P->p < P->end && (*P->p == '"' || *P->p == '\'')) {
      int rc = toml__parse_string(P, -1, &s, &len);
      if (rc < 0) {
        toml__key_parts_free(k);
        return rc;
      }
    } else {
      char got[32];
      toml__describe_here(P, got, sizeof got);
      toml__key_parts_free(k);
      return toml__fail(P, P->line, -1, "expected a key, got %s", got);
    }
    k->s[k->n] = s;
    k->len[k->n] = len;
    k->n++;
    toml__skip_ws(P);
    if (P->p < P->end && *P->p == '.') {
      P->p++;
      toml__skip_ws(P);
      continue;
    }
    return 0;
  }
}
