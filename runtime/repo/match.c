/* repo/match.c — path globs, .gitignore rules and a capture-free Lua pattern matcher that can
 * run on a worker thread (the Lua VM's own matcher cannot). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "repo/internal.h"

/* ---- globs ---- */

/* Matches a bracket class at p (just after '['); sets *end past ']'. -1 when unterminated. */
static int class_match(const char *p, char c, const char **end) {
  int neg = 0, hit = 0;
  if (*p == '!' || *p == '^') {
    neg = 1;
    p++;
  }
  const char *start = p;
  while (*p && (*p != ']' || p == start)) {
    char lo = *p, hi = *p;
    if (lo == '\\' && p[1])
      lo = hi = *++p;
    if (p[1] == '-' && p[2] && p[2] != ']') {
      hi = p[2];
      p += 2;
    }
    if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
      hit = 1;
    p++;
  }
  if (*p != ']')
    return -1;
  *end = p + 1;
  return hit != neg;
}

static int gmatch(const char *p, const char *s, int depth) {
  if (depth > 64)
    return 0; /* bounds the backtracking of pathological globs */
  for (;;) {
    switch (*p) {
      case '\0':
        return *s == '\0';
      case '*':
        if (p[1] == '*') {
          const char *q = p + 2;
          while (*q == '*')
            q++;
          if (*q == '/') { /* "**" + "/": zero or more whole folders */
            q++;
            for (const char *t = s;;) {
              if (gmatch(q, t, depth + 1))
                return 1;
              t = strchr(t, '/');
              if (!t)
                return 0;
              t++;
            }
          }
          for (const char *t = s;; t++) {
            if (gmatch(q, t, depth + 1))
              return 1;
            if (!*t)
              return 0;
          }
        }
        p++;
        for (const char *t = s;; t++) {
          if (gmatch(p, t, depth + 1))
            return 1;
          if (!*t || *t == '/')
            return 0;
        }
      case '?':
        if (!*s || *s == '/')
          return 0;
        p++;
        s++;
        break;
      case '[': {
        const char *end = NULL;
        int m = *s && *s != '/' ? class_match(p + 1, *s, &end) : 0;
        if (m < 0) { /* no ']': a literal '[' */
          if (*s != '[')
            return 0;
          p++;
          s++;
          break;
        }
        if (!m)
          return 0;
        p = end;
        s++;
        break;
      }
      case '\\':
        if (p[1])
          p++;
        /* fall through */
      default:
        if (*p != *s)
          return 0;
        p++;
        s++;
    }
  }
}

int repo_glob_match(const char *glob, const char *path) {
  if (!glob || !path)
    return 0;
  if (glob[0] == '/')
    return gmatch(glob + 1, path, 0);
  if (!strchr(glob, '/')) {
    const char *slash = strrchr(path, '/');
    return gmatch(glob, slash ? slash + 1 : path, 0);
  }
  return gmatch(glob, path, 0);
}

/* ---- .gitignore ---- */

int repo_ignore_push(repo_ignore *ig, const char *text, size_t len, size_t base_len) {
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    if (le > p && le[-1] == '\r')
      le--;
    /* trailing spaces go unless escaped */
    while (le > p && le[-1] == ' ' && !(le - 1 > p && le[-2] == '\\'))
      le--;
    if (le == p || *p == '#') {
      p = next;
      continue;
    }
    repo_ignore_rule r = {0};
    if (*p == '!') {
      r.negate = 1;
      p++;
    } else if (*p == '\\' && p + 1 < le && (p[1] == '!' || p[1] == '#')) {
      p++;
    }
    if (le > p && le[-1] == '/') {
      r.dir_only = 1;
      le--;
    }
    if (le == p) {
      p = next;
      continue;
    }
    r.anchored = memchr(p, '/', (size_t)(le - p)) != NULL;
    if (*p == '/')
      p++;
    if (le == p) {
      p = next;
      continue;
    }
    if (ig->count == ig->cap) {
      size_t cap = ig->cap ? ig->cap * 2 : 32;
      repo_ignore_rule *g = realloc(ig->rules, cap * sizeof *g);
      if (!g)
        return AGENTAI_ENOMEM;
      ig->rules = g;
      ig->cap = cap;
    }
    r.pattern = malloc((size_t)(le - p) + 1);
    if (!r.pattern)
      return AGENTAI_ENOMEM;
    memcpy(r.pattern, p, (size_t)(le - p));
    r.pattern[le - p] = '\0';
    r.base_len = base_len;
    ig->rules[ig->count++] = r;
    p = next;
  }
  return 0;
}

void repo_ignore_pop(repo_ignore *ig, size_t n) {
  while (ig->count > n)
    free(ig->rules[--ig->count].pattern);
}

void repo_ignore_free(repo_ignore *ig) {
  repo_ignore_pop(ig, 0);
  free(ig->rules);
  ig->rules = NULL;
  ig->cap = 0;
}

int repo_ignored(const repo_ignore *ig, const char *rel, size_t rel_len, int is_dir) {
  const char *slash = memrchr(rel, '/', rel_len);
  const char *base = slash ? slash + 1 : rel;
  /* the last rule that matches decides */
  for (size_t i = ig->count; i-- > 0;) {
    const repo_ignore_rule *r = &ig->rules[i];
    if (r->dir_only && !is_dir)
      continue;
    if (r->base_len > rel_len)
      continue;
    int m = r->anchored ? gmatch(r->pattern, rel + r->base_len, 0) : gmatch(r->pattern, base, 0);
    if (m)
      return !r->negate;
  }
  return 0;
}

/* ---- Lua patterns without captures ---- */

#define LPAT_MAX_DEPTH 200

static int lclass(int c, int cl) {
  int res;
  switch (tolower(cl)) {
    case 'a':
      res = isalpha(c);
      break;
    case 'c':
      res = iscntrl(c);
      break;
    case 'd':
      res = isdigit(c);
      break;
    case 'g':
      res = isgraph(c);
      break;
    case 'l':
      res = islower(c);
      break;
    case 'p':
      res = ispunct(c);
      break;
    case 's':
      res = isspace(c);
      break;
    case 'u':
      res = isupper(c);
      break;
    case 'w':
      res = isalnum(c);
      break;
    case 'x':
      res = isxdigit(c);
      break;
    default:
      return cl == c;
  }
  if (isupper(cl))
    res = !res;
  return res != 0;
}

/* End of the single-character class at p (checked patterns only). */
static const char *lclass_end(const char *p) {
  if (*p == '%')
    return p + 2;
  if (*p == '[') {
    p++;
    if (*p == '^')
      p++;
    do {
      if (*p == '%')
        p++;
      p++;
    } while (*p != ']');
    return p + 1;
  }
  return p + 1;
}

static int lset(int c, const char *p, const char *ep) {
  /* p at '[', ep at the closing ']' */
  int neg = 0;
  p++;
  if (*p == '^') {
    neg = 1;
    p++;
  }
  while (p < ep) {
    if (*p == '%') {
      p++;
      if (lclass(c, (unsigned char)*p))
        return !neg;
      p++;
    } else if (p[1] == '-' && p + 2 < ep) {
      if ((unsigned char)*p <= c && c <= (unsigned char)p[2])
        return !neg;
      p += 3;
    } else {
      if ((unsigned char)*p == c)
        return !neg;
      p++;
    }
  }
  return neg;
}

static int lsingle(const char *s, const char *end, const char *p, const char *ep) {
  if (s >= end)
    return 0;
  int c = (unsigned char)*s;
  switch (*p) {
    case '.':
      return 1;
    case '%':
      return lclass(c, (unsigned char)p[1]);
    case '[':
      return lset(c, p, ep - 1);
    default:
      return (unsigned char)*p == c;
  }
}

/* Returns the end of the match of p at s, or NULL. */
static const char *lmatch(const char *s, const char *end, const char *p, int depth) {
  if (depth > LPAT_MAX_DEPTH)
    return NULL;
  for (;;) {
    if (*p == '\0')
      return s;
    if (*p == '$' && p[1] == '\0')
      return s == end ? s : NULL;
    const char *ep = lclass_end(p);
    switch (*ep) {
      case '?': {
        if (lsingle(s, end, p, ep)) {
          const char *r = lmatch(s + 1, end, ep + 1, depth + 1);
          if (r)
            return r;
        }
        p = ep + 1;
        continue;
      }
      case '+':
        if (!lsingle(s, end, p, ep))
          return NULL;
        s++;
        /* fall through */
      case '*': {
        size_t i = 0;
        while (lsingle(s + i, end, p, ep))
          i++;
        for (;;) { /* longest first */
          const char *r = lmatch(s + i, end, ep + 1, depth + 1);
          if (r)
            return r;
          if (i == 0)
            return NULL;
          i--;
        }
      }
      case '-':
        for (;;) { /* shortest first */
          const char *r = lmatch(s, end, ep + 1, depth + 1);
          if (r)
            return r;
          if (!lsingle(s, end, p, ep))
            return NULL;
          s++;
        }
      default:
        if (!lsingle(s, end, p, ep))
          return NULL;
        s++;
        p = ep;
    }
  }
}

int repo_lpat_check(const char *pat, char *err, size_t errlen) {
  const char *p = *pat == '^' ? pat + 1 : pat;
  if (!*pat)
    return repo_errf(err, errlen, AGENTAI_EINVAL, "pattern is empty");
  while (*p) {
    if (*p == '(' || *p == ')')
      return repo_errf(err, errlen, AGENTAI_EINVAL,
                       "pattern '%s': captures are not supported by ai.repo.search", pat);
    if (*p == '%') {
      if (!p[1])
        return repo_errf(err, errlen, AGENTAI_EINVAL, "pattern '%s' ends with '%%'", pat);
      if (p[1] == 'b' || p[1] == 'f' || isdigit((unsigned char)p[1]))
        return repo_errf(err, errlen, AGENTAI_EINVAL,
                         "pattern '%s': %%%c is not supported by ai.repo.search", pat, p[1]);
      p += 2;
    } else if (*p == '[') {
      const char *q = p + 1;
      if (*q == '^')
        q++;
      do {
        if (!*q)
          return repo_errf(err, errlen, AGENTAI_EINVAL, "pattern '%s': missing ']'", pat);
        if (*q == '%') {
          q++;
          if (!*q)
            return repo_errf(err, errlen, AGENTAI_EINVAL, "pattern '%s': missing ']'", pat);
        }
        q++;
      } while (*q != ']');
      p = q + 1;
    } else {
      p++;
    }
    /* a quantifier applies to the class just read */
    if (*p == '*' || *p == '+' || *p == '-' || *p == '?')
      p++;
  }
  return 0;
}

int repo_lpat_find(const char *pat, const char *s, size_t len) {
  const char *end = s + len;
  if (*pat == '^')
    return lmatch(s, end, pat + 1, 0) != NULL;
  for (const char *t = s; t <= end; t++)
    if (lmatch(t, end, pat, 0))
      return 1;
  return 0;
}
