/* storage-lmdb/lmdb_config.c — parses the plugin's flat JSON configuration object (no JSON library:
 * plugins link against nothing but LMDB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

#define PREFIX "storage-lmdb config: "

typedef enum { V_STRING, V_NUMBER, V_BOOL, V_NULL, V_OBJECT, V_ARRAY } vtype;

static const char *vtype_name(vtype t) {
  static const char *names[] = {"a string", "a number",  "a boolean",
                                "null",     "an object", "an array"};
  return names[t];
}

typedef struct parser {
  const char *p, *start, *end;
  char *err;
  size_t err_len;
} parser;

static int fail_at(parser *ps, const char *what) {
  snprintf(ps->err, ps->err_len, PREFIX "invalid JSON at offset %zu: %s",
           (size_t)(ps->p - ps->start), what);
  return AGENTAI_EINVAL;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

/* Appends one byte; sets *overflow instead of writing past cap (the value
 * is then too long for any key of ours, reported by the caller). */
static void put_byte(char *buf, size_t cap, size_t *len, int *overflow, char c) {
  if (*len + 1 < cap)
    buf[(*len)++] = c;
  else
    *overflow = 1;
}

static void put_utf8(char *buf, size_t cap, size_t *len, int *overflow, unsigned cp) {
  if (cp < 0x80) {
    put_byte(buf, cap, len, overflow, (char)cp);
  } else if (cp < 0x800) {
    put_byte(buf, cap, len, overflow, (char)(0xC0 | (cp >> 6)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    put_byte(buf, cap, len, overflow, (char)(0xE0 | (cp >> 12)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | ((cp >> 6) & 0x3F)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | (cp & 0x3F)));
  } else {
    put_byte(buf, cap, len, overflow, (char)(0xF0 | (cp >> 18)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | ((cp >> 12) & 0x3F)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | ((cp >> 6) & 0x3F)));
    put_byte(buf, cap, len, overflow, (char)(0x80 | (cp & 0x3F)));
  }
}

/* Parses a JSON string at ps->p (on the opening quote) into buf (NUL-terminated,
 * truncated at cap with *overflow set). */
static int parse_string(parser *ps, char *buf, size_t cap, int *overflow) {
  size_t len = 0;
  *overflow = 0;
  ps->p++; /* opening quote */
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20)
      return fail_at(ps, "control character in string");
    if (c != '\\') {
      put_byte(buf, cap, &len, overflow, (char)c);
      ps->p++;
      continue;
    }
    if (ps->end - ps->p < 2)
      return fail_at(ps, "unterminated string");
    char e = ps->p[1];
    ps->p += 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        put_byte(buf, cap, &len, overflow, e);
        break;
      case 'b':
        put_byte(buf, cap, &len, overflow, '\b');
        break;
      case 'f':
        put_byte(buf, cap, &len, overflow, '\f');
        break;
      case 'n':
        put_byte(buf, cap, &len, overflow, '\n');
        break;
      case 'r':
        put_byte(buf, cap, &len, overflow, '\r');
        break;
      case 't':
        put_byte(buf, cap, &len, overflow, '\t');
        break;
      case 'u': {
        unsigned cp, lo;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0)
          return fail_at(ps, "bad \\u escape");
        ps->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
              hex4(ps->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(ps, "unpaired surrogate in \\u escape");
          ps->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
          return fail_at(ps, "bad \\u escape");
        }
        put_utf8(buf, cap, &len, overflow, cp);
        break;
      }
      default:
        ps->p -= 2;
        return fail_at(ps, "bad escape in string");
    }
  }
  if (ps->p >= ps->end)
    return fail_at(ps, "unterminated string");
  ps->p++; /* closing quote */
  if (cap)
    buf[len] = '\0';
  return 0;
}

/* Checks the JSON number grammar and converts it. */
static int parse_number(parser *ps, double *out) {
  const char *s = ps->p;
  if (s < ps->end && *s == '-')
    s++;
  if (s >= ps->end || *s < '0' || *s > '9')
    return fail_at(ps, "bad number");
  if (*s == '0')
    s++;
  else
    while (s < ps->end && *s >= '0' && *s <= '9')
      s++;
  if (s < ps->end && *s == '.') {
    s++;
    if (s >= ps->end || *s < '0' || *s > '9')
      return fail_at(ps, "bad number");
    while (s < ps->end && *s >= '0' && *s <= '9')
      s++;
  }
  if (s < ps->end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < ps->end && (*s == '+' || *s == '-'))
      s++;
    if (s >= ps->end || *s < '0' || *s > '9')
      return fail_at(ps, "bad number");
    while (s < ps->end && *s >= '0' && *s <= '9')
      s++;
  }
  char tmp[64];
  size_t n = (size_t)(s - ps->p);
  if (n >= sizeof tmp)
    return fail_at(ps, "number too long");
  memcpy(tmp, ps->p, n);
  tmp[n] = '\0';
  *out = strtod(tmp, NULL);
  ps->p = s;
  return 0;
}

static int parse_value(parser *ps, vtype *type, char *sbuf, size_t scap, int *soverflow,
                       double *num, int depth);

/* Skips an object or array (values are not used, only validated). */
static int skip_container(parser *ps, int depth) {
  char close = *ps->p == '{' ? '}' : ']';
  int is_obj = close == '}';
  if (depth > 32)
    return fail_at(ps, "nesting too deep");
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return 0;
  }
  for (;;) {
    char scratch[8];
    int of;
    vtype t;
    double d;
    skip_ws(ps);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"')
        return fail_at(ps, "expected a member name");
      if (parse_string(ps, scratch, sizeof scratch, &of) != 0)
        return AGENTAI_EINVAL;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':')
        return fail_at(ps, "expected ':'");
      ps->p++;
    }
    if (parse_value(ps, &t, scratch, sizeof scratch, &of, &d, depth + 1) != 0)
      return AGENTAI_EINVAL;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ps->p++;
      return 0;
    }
    return fail_at(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return fail_at(ps, "unexpected character");
  ps->p += n;
  return 0;
}

static int parse_value(parser *ps, vtype *type, char *sbuf, size_t scap, int *soverflow,
                       double *num, int depth) {
  skip_ws(ps);
  if (ps->p >= ps->end)
    return fail_at(ps, "expected a value");
  char c = *ps->p;
  if (c == '"') {
    *type = V_STRING;
    return parse_string(ps, sbuf, scap, soverflow);
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    *type = V_NUMBER;
    return parse_number(ps, num);
  }
  if (c == '{' || c == '[') {
    *type = c == '{' ? V_OBJECT : V_ARRAY;
    return skip_container(ps, depth);
  }
  if (c == 't' || c == 'f') {
    *type = V_BOOL;
    return literal(ps, c == 't' ? "true" : "false");
  }
  if (c == 'n') {
    *type = V_NULL;
    return literal(ps, "null");
  }
  return fail_at(ps, "unexpected character");
}

/* Validates an integer key's value and range. */
static int int_value(const char *key, vtype t, double d, double lo, double hi, long *out, char *err,
                     size_t err_len) {
  if (t != V_NUMBER) {
    snprintf(err, err_len, PREFIX "key '%s' must be an integer (got %s)", key, vtype_name(t));
    return AGENTAI_EINVAL;
  }
  if (d < lo || d > hi) {
    snprintf(err, err_len, PREFIX "key '%s' must be between %.0f and %.0f (got %g)", key, lo, hi,
             d);
    return AGENTAI_EINVAL;
  }
  if (d != (double)(long)d) {
    snprintf(err, err_len, PREFIX "key '%s' must be an integer (got %g)", key, d);
    return AGENTAI_EINVAL;
  }
  *out = (long)d;
  return 0;
}

/* The subdir must stay under the data folder: relative, no "..". */
static int check_subdir(const char *s, char *err, size_t err_len) {
  if (!s[0] || s[0] == '/') {
    snprintf(err, err_len, PREFIX "key 'subdir' must be a non-empty relative path (got \"%s\")", s);
    return AGENTAI_EINVAL;
  }
  for (const char *p = s; *p;) {
    size_t seg = strcspn(p, "/");
    if (seg == 2 && p[0] == '.' && p[1] == '.') {
      snprintf(err, err_len, PREFIX "key 'subdir' must not contain '..' (got \"%s\")", s);
      return AGENTAI_EINVAL;
    }
    p += seg;
    while (*p == '/')
      p++;
  }
  return 0;
}

static int apply_member(const char *key, vtype t, const char *sval, int soverflow, double d,
                        slmdb_config *cfg, char *err, size_t err_len) {
  long v;
  if (strcmp(key, "map_size_mb") == 0) {
    /* Up to 16 TiB: beyond any disk here, and well inside size_t on 64-bit. */
    if (int_value(key, t, d, 1, 16.0 * 1024 * 1024, &v, err, err_len) != 0)
      return AGENTAI_EINVAL;
    cfg->map_size_mb = v;
    return 0;
  }
  if (strcmp(key, "max_readers") == 0) {
    if (int_value(key, t, d, 1, 65536, &v, err, err_len) != 0)
      return AGENTAI_EINVAL;
    cfg->max_readers = (unsigned)v;
    return 0;
  }
  if (strcmp(key, "subdir") == 0) {
    if (t != V_STRING) {
      snprintf(err, err_len, PREFIX "key 'subdir' must be a string (got %s)", vtype_name(t));
      return AGENTAI_EINVAL;
    }
    if (soverflow || strlen(sval) >= sizeof cfg->subdir) {
      snprintf(err, err_len, PREFIX "key 'subdir' is longer than %zu bytes",
               sizeof cfg->subdir - 1);
      return AGENTAI_EINVAL;
    }
    if (check_subdir(sval, err, err_len) != 0)
      return AGENTAI_EINVAL;
    snprintf(cfg->subdir, sizeof cfg->subdir, "%s", sval);
    return 0;
  }
  snprintf(err, err_len, PREFIX "unknown key '%s' (known keys: map_size_mb, subdir, max_readers)",
           key);
  return AGENTAI_EINVAL;
}

int slmdb_config_parse(const char *json, slmdb_config *cfg, char *err, size_t err_len) {
  cfg->map_size_mb = 1024;
  snprintf(cfg->subdir, sizeof cfg->subdir, "lmdb");
  cfg->max_readers = 126;
  if (!json)
    return 0;
  parser ps = {json, json, json + strlen(json), err, err_len};
  skip_ws(&ps);
  if (ps.p >= ps.end || *ps.p != '{')
    return fail_at(&ps, "the configuration must be a JSON object");
  ps.p++;
  skip_ws(&ps);
  if (ps.p < ps.end && *ps.p == '}') {
    ps.p++;
  } else {
    for (;;) {
      char key[128], sval[512];
      int kof, sof = 0;
      vtype t;
      double d = 0;
      skip_ws(&ps);
      if (ps.p >= ps.end || *ps.p != '"')
        return fail_at(&ps, "expected a key");
      if (parse_string(&ps, key, sizeof key, &kof) != 0)
        return AGENTAI_EINVAL;
      skip_ws(&ps);
      if (ps.p >= ps.end || *ps.p != ':')
        return fail_at(&ps, "expected ':'");
      ps.p++;
      sval[0] = '\0';
      if (parse_value(&ps, &t, sval, sizeof sval, &sof, &d, 1) != 0)
        return AGENTAI_EINVAL;
      if (apply_member(key, t, sval, sof, d, cfg, err, err_len) != 0)
        return AGENTAI_EINVAL;
      skip_ws(&ps);
      if (ps.p < ps.end && *ps.p == ',') {
        ps.p++;
        continue;
      }
      if (ps.p < ps.end && *ps.p == '}') {
        ps.p++;
        break;
      }
      return fail_at(&ps, "expected ',' or '}'");
    }
  }
  skip_ws(&ps);
  if (ps.p != ps.end)
    return fail_at(&ps, "trailing characters after the object");
  return 0;
}
