/* repo/diff.c — the unified diff parser of repo_patch (git and plain styles), kept apart from
 * the file system so it can be fuzzed on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "repo/diff.h"

#define DIFF_MAX_COUNT 100000000ULL

void repo_diff_free(repo_diff *d) {
  for (size_t i = 0; i < d->nfiles; i++) {
    free(d->files[i].old_path);
    free(d->files[i].new_path);
    free(d->files[i].hunks);
  }
  free(d->files);
  free(d->lines);
  memset(d, 0, sizeof *d);
}

static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  void *g = realloc(*p, nc * size);
  if (!g)
    return AGENTAI_ENOMEM;
  *p = g;
  *cap = nc;
  return 0;
}

/* A header path: "a/x" or "b/x" loses its prefix, a tab and what follows (a timestamp) go,
 * "/dev/null" is NULL with *is_null set. */
static int parse_path(const char *s, size_t n, char strip, char **out, int *is_null, char *err,
                      size_t errlen, size_t lineno) {
  *out = NULL;
  *is_null = 0;
  const char *tab = memchr(s, '\t', n);
  if (tab)
    n = (size_t)(tab - s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
    n--;
  if (n == 9 && memcmp(s, "/dev/null", 9) == 0) {
    *is_null = 1;
    return 0;
  }
  if (n && s[0] == '"')
    return repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: line %zu: quoted file names are not supported", lineno);
  if (n > 2 && s[0] == strip && s[1] == '/') {
    s += 2;
    n -= 2;
  }
  if (n == 0 || memchr(s, '\0', n))
    return repo_errf(err, errlen, AGENTAI_EINVAL, "malformed diff: line %zu: missing file name",
                     lineno);
  if (!(*out = malloc(n + 1)))
    return AGENTAI_ENOMEM;
  memcpy(*out, s, n);
  (*out)[n] = '\0';
  return 0;
}

/* "-12,3" -> start 12, count 3; "-12" -> count 1. Returns the end or NULL. */
static const char *parse_range(const char *p, const char *end, char sign, uint64_t *start,
                               uint64_t *count) {
  if (p >= end || *p != sign)
    return NULL;
  p++;
  if (p >= end || *p < '0' || *p > '9')
    return NULL;
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > DIFF_MAX_COUNT)
      return NULL;
    p++;
  }
  *start = v;
  *count = 1;
  if (p < end && *p == ',') {
    p++;
    if (p >= end || *p < '0' || *p > '9')
      return NULL;
    v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      v = v * 10 + (uint64_t)(*p - '0');
      if (v > DIFF_MAX_COUNT)
        return NULL;
      p++;
    }
    *count = v;
  }
  return p;
}

static int starts(const char *s, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n >= l && memcmp(s, lit, l) == 0;
}

static repo_diff_file *new_file(repo_diff *d) {
  if (grow((void **)&d->files, &d->cap_files, d->nfiles, sizeof *d->files) < 0)
    return NULL;
  repo_diff_file *f = &d->files[d->nfiles++];
  memset(f, 0, sizeof *f);
  return f;
}

int repo_diff_parse(const char *text, size_t len, repo_diff *d, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  const char *p = text, *end = text + len;
  size_t lineno = 0;
  repo_diff_file *f = NULL;
  int git_header = 0; /* f came from "diff --git" and has no ---/+++ yet */
  int rc = 0;
#define NEXT_LINE()                                       \
  do {                                                    \
    const char *nl_ = memchr(p, '\n', (size_t)(end - p)); \
    line = p;                                             \
    ll = nl_ ? (size_t)(nl_ - p) : (size_t)(end - p);     \
    p = nl_ ? nl_ + 1 : end;                              \
    lineno++;                                             \
  } while (0)
  while (p < end && rc == 0) {
    const char *line;
    size_t ll;
    NEXT_LINE();
    if (starts(line, ll, "diff --git ")) {
      if (!(f = new_file(d))) {
        rc = AGENTAI_ENOMEM;
        break;
      }
      f->header_line = lineno;
      git_header = 1;
      /* paths from "a/X b/X" when the names hold no " b/": used by mode-only changes */
      const char *s = line + 11, *e = line + ll;
      while (e > s && e[-1] == '\r')
        e--;
      const char *mid = NULL;
      for (const char *q = s; q + 3 <= e; q++)
        if (q[0] == ' ' && q[1] == 'b' && q[2] == '/') {
          if (mid) {
            mid = NULL;
            break;
          }
          mid = q;
        }
      if (mid) {
        int nul;
        if ((rc = parse_path(s, (size_t)(mid - s), 'a', &f->old_path, &nul, err, errlen, lineno)) <
                0 ||
            (rc = parse_path(mid + 1, (size_t)(e - mid - 1), 'b', &f->new_path, &nul, err, errlen,
                             lineno)) < 0)
          break;
      }
      continue;
    }
    if (f && git_header && !f->nhunks) {
      if (starts(line, ll, "new file mode")) {
        f->is_new = 1;
        continue;
      }
      if (starts(line, ll, "deleted file mode")) {
        f->is_delete = 1;
        continue;
      }
      if (starts(line, ll, "rename from ") || starts(line, ll, "rename to ")) {
        int to = line[7] == 't';
        char **slot = to ? &f->new_path : &f->old_path;
        size_t skip = to ? 10 : 12;
        free(*slot);
        int nul;
        if ((rc = parse_path(line + skip, ll - skip, 0, slot, &nul, err, errlen, lineno)) < 0)
          break;
        continue;
      }
      if (starts(line, ll, "GIT binary patch") || starts(line, ll, "Binary files ")) {
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       "malformed diff: line %zu: binary patches are not supported", lineno);
        break;
      }
    }
    if (starts(line, ll, "Binary files ")) {
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: line %zu: binary patches are not supported", lineno);
      break;
    }
    if (starts(line, ll, "--- ") && p < end && starts(p, (size_t)(end - p), "+++ ")) {
      if (!(f && git_header && !f->nhunks && !f->has_headers)) {
        if (!(f = new_file(d))) {
          rc = AGENTAI_ENOMEM;
          break;
        }
        f->header_line = lineno;
      }
      git_header = 0;
      f->has_headers = 1;
      int old_null = 0, new_null = 0;
      char *op = NULL, *np = NULL;
      rc = parse_path(line + 4, ll - 4, 'a', &op, &old_null, err, errlen, lineno);
      NEXT_LINE();
      if (rc == 0)
        rc = parse_path(line + 4, ll - 4, 'b', &np, &new_null, err, errlen, lineno);
      if (rc < 0) {
        free(op);
        free(np);
        break;
      }
      if (old_null && new_null) {
        free(op);
        free(np);
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       "malformed diff: line %zu: both sides are /dev/null", lineno);
        break;
      }
      free(f->old_path);
      free(f->new_path);
      f->old_path = op;
      f->new_path = np;
      f->is_new = old_null;
      f->is_delete = new_null;
      continue;
    }
    if (starts(line, ll, "@@ ")) {
      if (!f || !f->has_headers) {
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       "malformed diff: line %zu: hunk header before any '---'/'+++' file "
                       "header",
                       lineno);
        break;
      }
      repo_diff_hunk h = {0};
      const char *q = line + 3, *e = line + ll;
      q = parse_range(q, e, '-', &h.old_start, &h.old_count);
      if (q && q < e && *q == ' ')
        q = parse_range(q + 1, e, '+', &h.new_start, &h.new_count);
      else
        q = NULL;
      if (!q || q + 3 > e || memcmp(q, " @@", 3) != 0) {
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       "malformed diff: line %zu: bad hunk header '%.*s' (expected '@@ -l,n "
                       "+l,n @@')",
                       lineno, (int)(ll > 80 ? 80 : ll), line);
        break;
      }
      h.header = line;
      h.header_len = (size_t)(q + 3 - line);
      h.first = d->nlines;
      h.number = f->nhunks + 1;
      uint64_t old_left = h.old_count, new_left = h.new_count;
      while (old_left || new_left) {
        if (p >= end) {
          rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                         "malformed diff: file '%s', hunk %zu (%.*s): the diff ends inside the "
                         "hunk (%llu old and %llu new lines missing)",
                         f->new_path   ? f->new_path
                         : f->old_path ? f->old_path
                                       : "?",
                         h.number, (int)h.header_len, h.header, (unsigned long long)old_left,
                         (unsigned long long)new_left);
          break;
        }
        NEXT_LINE();
        char t = ll ? line[0] : ' '; /* an empty line is context whose space got trimmed */
        if (t == '\\') {
          if (d->nlines > h.first)
            d->lines[d->nlines - 1].no_newline = 1;
          continue;
        }
        int bad = (t != ' ' && t != '-' && t != '+') || (t == ' ' && (!old_left || !new_left)) ||
                  (t == '-' && !old_left) || (t == '+' && !new_left);
        if (bad) {
          rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                         "malformed diff: file '%s', hunk %zu (%.*s): line %zu '%.*s' does not "
                         "fit the hunk (%llu old and %llu new lines were still expected)",
                         f->new_path   ? f->new_path
                         : f->old_path ? f->old_path
                                       : "?",
                         h.number, (int)h.header_len, h.header, lineno, (int)(ll > 60 ? 60 : ll),
                         line, (unsigned long long)old_left, (unsigned long long)new_left);
          break;
        }
        if (grow((void **)&d->lines, &d->cap_lines, d->nlines, sizeof *d->lines) < 0) {
          rc = AGENTAI_ENOMEM;
          break;
        }
        repo_diff_line *dl = &d->lines[d->nlines++];
        dl->type = t;
        dl->text = ll ? line + 1 : line;
        dl->len = ll ? ll - 1 : 0;
        dl->no_newline = 0;
        if (t != '+')
          old_left--;
        if (t != '-')
          new_left--;
      }
      if (rc < 0)
        break;
      /* a "\ No newline" right after the last line of the hunk */
      if (p < end && *p == '\\') {
        const char *sv = p;
        NEXT_LINE();
        (void)sv;
        if (d->nlines > h.first)
          d->lines[d->nlines - 1].no_newline = 1;
      }
      h.n = d->nlines - h.first;
      if (grow((void **)&f->hunks, &f->cap_hunks, f->nhunks, sizeof *f->hunks) < 0) {
        rc = AGENTAI_ENOMEM;
        break;
      }
      f->hunks[f->nhunks++] = h;
      continue;
    }
    /* anything else (commit message, "index ...", mode lines) is not ours */
  }
#undef NEXT_LINE
  if (rc == 0 && d->nfiles == 0)
    rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                   "malformed diff: no file changes found (expected '---'/'+++' headers and "
                   "'@@' hunks)");
  for (size_t i = 0; rc == 0 && i < d->nfiles; i++) {
    repo_diff_file *df = &d->files[i];
    if (!df->old_path && !df->new_path)
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: the file starting at line %zu has no file names",
                     df->header_line);
    else if (!df->has_headers && !df->is_new && !df->is_delete &&
             !(df->old_path && df->new_path && strcmp(df->old_path, df->new_path) != 0))
      df->mode_only = 1; /* "old mode/new mode" or an empty change: nothing to do */
    else if (df->is_new && df->is_delete)
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: the file at line %zu is both new and deleted",
                     df->header_line);
    else if (df->is_new && !df->new_path)
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: new file at line %zu has no name", df->header_line);
    else if (df->is_delete && !df->old_path)
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: deleted file at line %zu has no name", df->header_line);
    else if (df->has_headers && !df->nhunks && !df->is_new && !df->is_delete)
      rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                     "malformed diff: file '%s' (line %zu) has headers but no hunks",
                     df->new_path ? df->new_path : df->old_path, df->header_line);
  }
  if (rc < 0) {
    if (rc == AGENTAI_ENOMEM)
      repo_errf(err, errlen, rc, "diff: out of memory");
    repo_diff_free(d);
  }
  return rc;
}
