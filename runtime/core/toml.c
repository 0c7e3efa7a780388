/* core/toml.c — the configuration file parser: a TOML subset to a cJSON tree, with a key -> line
 * index. */
#include "core/toml.h"
#include "core/toml_internal.h"

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
  return toml__is_bare((unsigned char)c) || c == '.' || c == '+';
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
    toml__describe_here(P, got, sizeof got);
    return toml__fail(P, P->line, self, "expected a value, got %s", got);
  }
  if ((n == 4 && memcmp(tok, "true", 4) == 0) || (n == 5 && memcmp(tok, "false", 5) == 0)) {
    self_e->type = TOML_BOOLEAN;
    *out = cJSON_CreateBool(n == 4);
    return *out ? 0 : toml__fail_nomem(P);
  }
  if (!(tok[0] >= '0' && tok[0] <= '9') && tok[0] != '+' && tok[0] != '-' && tok[0] != '.')
    return toml__fail(P, P->line, self, "invalid value '%.*s%s' (strings need quotes)", shown, tok,
                      more);
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
    return toml__fail(P, P->line, self, "bad number '%.*s%s'", shown, tok, more);
  if (!is_float) {
    uint64_t v = 0;
    for (size_t j = int_start; j < n; j++) {
      if (tok[j] == '_')
        continue;
      v = v * 10 + (uint64_t)(tok[j] - '0');
      if (v > TOML_INT_LIMIT)
        return toml__fail(P, P->line, self, "integer '%.*s%s' is out of range (at most 15 digits)",
                          shown, tok, more);
    }
    self_e->type = TOML_INTEGER;
    *out = cJSON_CreateNumber(neg && v ? -(double)v : (double)v); /* -0 is 0 */
    return *out ? 0 : toml__fail_nomem(P);
  }
  if (n >= TOML_NUMBER_MAX)
    return toml__fail(P, P->line, self, "bad number '%.*s%s' (too long)", shown, tok, more);
  char buf[TOML_NUMBER_MAX];
  size_t k = 0;
  for (size_t j = 0; j < n; j++)
    if (tok[j] != '_')
      buf[k++] = tok[j];
  buf[k] = '\0';
  errno = 0;
  double d = strtod(buf, NULL);
  if (!isfinite(d))
    return toml__fail(P, P->line, self, "float '%.*s%s' is out of range", shown, tok, more);
  self_e->type = TOML_FLOAT;
  *out = cJSON_CreateNumber(d);
  return *out ? 0 : toml__fail_nomem(P);
}

static int check_depth(parser *P, int self) {
  if (P->ix->e[self].depth >= TOML_MAX_DEPTH)
    return toml__fail(P, P->line, self, "nesting deeper than %d levels", TOML_MAX_DEPTH);
  return 0;
}

static int parse_array(parser *P, int self, cJSON **out) {
  int open_line = P->line, rc;
  if ((rc = check_depth(P, self)) < 0)
    return rc;
  P->p++;
  cJSON *arr = cJSON_CreateArray();
  if (!arr)
    return toml__fail_nomem(P);
  P->ix->e[self].type = TOML_ARRAY;
  for (int idx = 0;; idx++) {
    if ((rc = toml__skip_space_lines(P)) < 0)
      break;
    if (P->p >= P->end) {
      rc = toml__fail(P, open_line, self, "unclosed array: end of file before ']'");
      break;
    }
    if (*P->p == ']') {
      P->p++;
      *out = arr;
      return 0;
    }
    int el = toml__ix_add(P->ix, self, NULL, 0, EK_ELEMENT, TOML_NONE, P->line, NULL);
    if (el < 0) {
      rc = toml__fail_nomem(P);
      break;
    }
    P->ix->e[el].index = idx;
    cJSON *v = NULL;
    if ((rc = parse_value(P, el, &v)) < 0)
      break;
    cJSON_AddItemToArray(arr, v);
    if ((rc = toml__skip_space_lines(P)) < 0)
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
      rc = toml__fail(P, open_line, self, "unclosed array: end of file before ']'");
      break;
    }
    char got[32];
    toml__describe_here(P, got, sizeof got);
    rc = toml__fail(P, P->line, self, "expected ',' or ']' in array, got %s", got);
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
    int id = toml__ix_find(P->ix, cur, k->s[i], k->len[i]);
    if (id >= 0) {
      const entry *e = &P->ix->e[id];
      if (last)
        return toml__fail(P, line, id, "duplicate key (first defined on line %d)", e->line);
      if (e->kind == EK_DOTTED) {
        cur = id;
        continue;
      }
      if (e->kind == EK_VALUE)
        return toml__fail(P, line, id, "already has a value (%s, line %d); cannot hold keys",
                          toml_type_name(e->type), e->line);
      if (e->kind == EK_INLINE)
        return toml__fail(P, line, id, "inline table (line %d) cannot be extended", e->line);
      return toml__fail(P, line, id,
                        "table created by a [header] on line %d cannot be extended by dotted keys",
                        e->line);
    }
    if (P->ix->e[cur].depth + 1 > TOML_MAX_DEPTH)
      return toml__fail(P, line, cur, "nesting deeper than %d levels", TOML_MAX_DEPTH);
    cJSON *node = NULL;
    if (!last) {
      node = cJSON_CreateObject();
      if (!node)
        return toml__fail_nomem(P);
      cJSON_AddItemToObject(P->ix->e[cur].node, k->s[i], node);
    }
    id = toml__ix_add(P->ix, cur, k->s[i], k->len[i], last ? EK_VALUE : EK_DOTTED,
                      last ? TOML_NONE : TOML_TABLE, line, node);
    if (id < 0)
      return toml__fail_nomem(P);
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
    return toml__fail_nomem(P);
  entry *e = &P->ix->e[self];
  e->type = TOML_TABLE;
  e->node = obj;
  if (e->kind == EK_VALUE)
    e->kind = EK_INLINE;
  toml__skip_ws(P);
  if (P->p < P->end && *P->p == '}') {
    P->p++;
    *out = obj;
    return 0;
  }
  for (;;) {
    toml__skip_ws(P);
    if (toml__at_eol(P)) {
      rc = toml__fail(P, P->line, self,
                      "unclosed inline table: inline tables must end on their line");
      break;
    }
    key_parts k;
    int line = P->line;
    if ((rc = toml__parse_key(P, &k)) < 0)
      break;
    if (P->p >= P->end || *P->p != '=') {
      toml__key_parts_free(&k);
      char got[32];
      toml__describe_here(P, got, sizeof got);
      rc = toml__fail(P, line, self, "expected '=' after a key in inline table, got %s", got);
      break;
    }
    P->p++;
    toml__skip_ws(P);
    int id = define_key(P, self, &k, line);
    toml__key_parts_free(&k);
    if (id < 0) {
      rc = id;
      break;
    }
    cJSON *v = NULL;
    if ((rc = parse_value(P, id, &v)) < 0)
      break;
    const entry *child = &P->ix->e[id];
    cJSON_AddItemToObject(P->ix->e[child->parent].node, child->key, v);
    toml__skip_ws(P);
    if (P->p < P->end && *P->p == ',') {
      P->p++;
      toml__skip_ws(P);
      if (P->p < P->end && *P->p == '}') {
        rc = toml__fail(P, P->line, self, "trailing comma in inline table");
        break;
      }
      continue;
    }
    if (P->p < P->end && *P->p == '}') {
      P->p++;
      *out = obj;
      return 0;
    }
    if (toml__at_eol(P)) {
      rc = toml__fail(P, P->line, self,
                      "unclosed inline table: inline tables must end on their line");
      break;
    }
    char got[32];
    toml__describe_here(P, got, sizeof got);
    rc = toml__fail(P, P->line, self, "expected ',' or '}' in inline table, got %s", got);
    break;
  }
  P->ix->e[self].node = NULL;
  cJSON_Delete(obj);
  return rc;
}

/* Parses the value at p for entry self (keyed or array element). */
static int parse_value(parser *P, int self, cJSON **out) {
  *out = NULL;
  if (toml__at_eol(P))
    return toml__fail(P, P->line, self, "missing value");
  char c = *P->p;
  if (c == '"' || c == '\'') {
    char *s = NULL;
    size_t len = 0;
    int rc = toml__parse_string(P, self, &s, &len);
    if (rc < 0)
      return rc;
    P->ix->e[self].type = TOML_STRING;
    *out = cJSON_CreateString(s);
    free(s);
    return *out ? 0 : toml__fail_nomem(P);
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
    return toml__fail(P, line, -1, "arrays of tables ([[...]]) are not supported");
  toml__skip_ws(P);
  key_parts k;
  int rc = toml__parse_key(P, &k);
  if (rc < 0)
    return rc;
  if (P->p >= P->end || *P->p != ']') {
    toml__key_parts_free(&k);
    char got[32];
    toml__describe_here(P, got, sizeof got);
    return toml__fail(P, line, -1, "expected ']' after the table name, got %s", got);
  }
  P->p++;
  int cur = 0;
  for (int i = 0; i < k.n && rc >= 0; i++) {
    int last = i == k.n - 1;
    int id = toml__ix_find(P->ix, cur, k.s[i], k.len[i]);
    if (id >= 0) {
      entry *e = &P->ix->e[id];
      if (e->kind == EK_VALUE || e->kind == EK_INLINE)
        rc = toml__fail(P, line, id, "already has a value (%s, line %d); cannot be a table",
                        e->kind == EK_INLINE ? "inline table" : toml_type_name(e->type), e->line);
      else if (last && e->kind == EK_EXPLICIT)
        rc = toml__fail(P, line, id, "table redefined (first defined on line %d)", e->line);
      else if (last && e->kind == EK_DOTTED)
        rc = toml__fail(P, line, id, "table redefined (already defined by dotted keys on line %d)",
                        e->line);
      else if (last) {
        e->kind = EK_EXPLICIT;
        e->line = line;
      }
      cur = id;
      continue;
    }
    if (P->ix->e[cur].depth + 1 > TOML_MAX_DEPTH) {
      rc = toml__fail(P, line, cur, "nesting deeper than %d levels", TOML_MAX_DEPTH);
      break;
    }
    cJSON *node = cJSON_CreateObject();
    if (!node) {
      rc = toml__fail_nomem(P);
      break;
    }
    cJSON_AddItemToObject(P->ix->e[cur].node, k.s[i], node);
    id = toml__ix_add(P->ix, cur, k.s[i], k.len[i], last ? EK_EXPLICIT : EK_IMPLICIT, TOML_TABLE,
                      line, node);
    if (id < 0) {
      rc = toml__fail_nomem(P);
      break;
    }
    cur = id;
  }
  toml__key_parts_free(&k);
  if (rc < 0)
    return rc;
  rc = toml__end_of_statement(P, cur, "table header");
  return rc < 0 ? rc : cur;
}

static int parse_keyval(parser *P, int table) {
  int line = P->line;
  key_parts k;
  int rc = toml__parse_key(P, &k);
  if (rc < 0)
    return rc;
  if (P->p >= P->end || *P->p != '=') {
    char got[32], name[160];
    toml__describe_here(P, got, sizeof got);
    sbuf s = {name, sizeof name, 0};
    name[0] = '\0';
    for (int i = 0; i < k.n; i++) {
      if (i)
        toml__sb_putc(&s, '.');
      toml__sb_key(&s, k.s[i], k.len[i]);
    }
    rc = toml__fail(P, line, -1, "expected '=' after key '%s', got %s", name, got);
    toml__key_parts_free(&k);
    return rc;
  }
  P->p++;
  toml__skip_ws(P);
  int id = define_key(P, table, &k, line);
  toml__key_parts_free(&k);
  if (id < 0)
    return id;
  cJSON *v = NULL;
  if ((rc = parse_value(P, id, &v)) < 0)
    return rc;
  const entry *e = &P->ix->e[id];
  cJSON_AddItemToObject(P->ix->e[e->parent].node, e->key, v);
  return toml__end_of_statement(P, id, "value");
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
      return toml__fail(P, line, -1, "invalid UTF-8 (byte 0x%02X)", c);
    }
    if ((size_t)(end - s) < n)
      return toml__fail(P, line, -1, "invalid UTF-8 (truncated sequence)");
    for (size_t i = 1; i < n; i++) {
      if ((s[i] & 0xC0) != 0x80)
        return toml__fail(P, line, -1, "invalid UTF-8 (byte 0x%02X)", s[i]);
      cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return toml__fail(P, line, -1, "invalid UTF-8 (overlong or out-of-range sequence)");
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
    return toml__fail(&P, 1, -1, "no input");
  P.ix = calloc(1, sizeof *P.ix);
  cJSON *root = cJSON_CreateObject();
  int rc = 0;
  if (!P.ix || !root || toml__ix_add(P.ix, -1, NULL, 0, EK_EXPLICIT, TOML_TABLE, 1, root) < 0) {
    rc = toml__fail_nomem(&P);
    goto done;
  }
  if ((rc = check_utf8(&P)) < 0)
    goto done;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    P.p += 3; /* byte order mark */
  int table = 0;
  for (;;) {
    toml__skip_ws(&P);
    if ((rc = toml__skip_comment(&P)) < 0)
      goto done;
    if (P.p >= P.end)
      break;
    if (toml__at_eol(&P)) {
      toml__eat_newline(&P);
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
