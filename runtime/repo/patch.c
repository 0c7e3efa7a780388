/* repo/patch.c — repo_patch: checks every hunk of a unified diff against the tree, then writes
 * all changed files to temporary files and renames them into place, or changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "repo/diff.h"
#include "repo/internal.h"

#define PATCH_FILE_MAX ((uint64_t)64 * 1024 * 1024)
#define PATCH_FUZZ_DEFAULT 3

typedef struct src_line {
  const char *p;
  size_t len;
} src_line;

/* What one file becomes. */
typedef struct file_plan {
  const repo_diff_file *df;
  const char *path;     /* where the result goes (new path, or the old one when deleted) */
  const char *old_path; /* the file read, or NULL for a new file */
  char *out;            /* new content */
  size_t out_len, out_cap;
  unsigned mode;
  int has_mode;
  uint64_t added, removed;
  char tmp[64];     /* temporary name in the target's folder, once written */
  int created_dirs; /* folders made for it */
  int dfd;          /* the target's folder, kept open from planning to rename, or -1 */
  const char *base; /* the target's name in it */
} file_plan;

/* Folders kept open between the phases: past this many files they are opened again when
 * needed, so a huge diff cannot run out of descriptors. */
#define PATCH_KEEP_DIRS 256

static int out_put(file_plan *fp, const char *s, size_t n, int nl) {
  if (fp->out_len + n + 1 > fp->out_cap) {
    size_t cap = fp->out_cap ? fp->out_cap : 4096;
    while (cap < fp->out_len + n + 1)
      cap *= 2;
    char *g = realloc(fp->out, cap);
    if (!g)
      return AGENTAI_ENOMEM;
    fp->out = g;
    fp->out_cap = cap;
  }
  memcpy(fp->out + fp->out_len, s, n);
  fp->out_len += n;
  if (nl)
    fp->out[fp->out_len++] = '\n';
  return 0;
}

/* Splits data into lines; a last line without '\n' is kept; *last_nl says whether it had one. */
static src_line *split_lines(const char *data, size_t len, size_t *n, int *last_nl) {
  size_t count = 0;
  for (const char *q = data; (q = memchr(q, '\n', (size_t)(data + len - q))) != NULL; q++)
    count++;
  src_line *v = malloc((count + 2) * sizeof *v);
  if (!v)
    return NULL;
  size_t i = 0;
  const char *p = data, *end = data + len;
  *last_nl = 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    v[i].p = p;
    v[i].len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    i++;
    if (!nl)
      *last_nl = 0;
    p = nl ? nl + 1 : end;
  }
  *n = i;
  return v;
}

static int line_eq(const src_line *a, const repo_diff_line *b) {
  size_t al = a->len, bl = b->len;
  /* a CRLF file patched with an LF diff still matches */
  if (al && a->p[al - 1] == '\r' && !(bl && b->text[bl - 1] == '\r'))
    al--;
  return al == bl && memcmp(a->p, b->text, al) == 0;
}

/* Whether the old side of h matches src at pos; *bad gets the first differing hunk line. */
static int hunk_fits(const repo_diff *d, const repo_diff_hunk *h, const src_line *src, size_t n,
                     size_t pos, size_t *bad_line, size_t *bad_src) {
  size_t at = pos;
  for (size_t i = 0; i < h->n; i++) {
    const repo_diff_line *l = &d->lines[h->first + i];
    if (l->type == '+')
      continue;
    if (at >= n || !line_eq(&src[at], l)) {
      if (bad_line)
        *bad_line = h->first + i;
      if (bad_src)
        *bad_src = at;
      return 0;
    }
    at++;
  }
  return 1;
}

#define HUNK_FMT "patch rejected: file '%s', hunk %zu (%.*s): "
#define HUNK_ARGS(path, h) (path), (h)->number, (int)(h)->header_len, (h)->header

/* Applies every hunk of fp->df to data, building fp->out. */
static int apply_file(const repo_diff *d, file_plan *fp, const char *data, size_t len, int fuzz,
                      char *err, size_t errlen) {
  const repo_diff_file *df = fp->df;
  size_t n = 0;
  int last_nl = 1;
  src_line *src = split_lines(data, len, &n, &last_nl);
  if (!src)
    return repo_errf(err, errlen, AGENTAI_ENOMEM, "patch: out of memory");
  size_t cur = 0;      /* next source line not yet copied */
  long long shift = 0; /* where the previous hunk landed relative to where it said */
  int rc = 0;
  for (size_t k = 0; k < df->nhunks && rc == 0; k++) {
    const repo_diff_hunk *h = &df->hunks[k];
    size_t nold = (size_t)h->old_count;
    long long stated = h->old_count == 0 ? (long long)h->old_start : (long long)h->old_start - 1;
    if (stated < 0)
      stated = 0;
    long long want = stated + shift;
    long long found = -1;
    for (int dlt = 0; dlt <= 2 * fuzz && found < 0; dlt++) {
      long long pos = want + (dlt % 2 ? (dlt + 1) / 2 : -(dlt / 2));
      if (pos < (long long)cur || pos + (long long)nold > (long long)n)
        continue;
      if (hunk_fits(d, h, src, n, (size_t)pos, NULL, NULL))
        found = pos;
    }
    if (found < 0) {
      size_t bl = 0, bs = 0;
      long long at = want < (long long)cur ? (long long)cur : want;
      if (at > (long long)n)
        at = (long long)n;
      if (hunk_fits(d, h, src, n, (size_t)at, &bl, &bs)) {
        /* its lines would fit, but not where it may go (past the end, or before the
         * previous hunk) */
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       HUNK_FMT "it starts at line %lld, outside the part of the file it may "
                                "change (lines %zu to %zu)",
                       HUNK_ARGS(fp->path, h), want + 1, cur + 1, n);
        break;
      }
      const repo_diff_line *l = &d->lines[bl];
      if (bs >= n)
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       HUNK_FMT "context mismatch: expected \"%.*s\" at line %zu, past the end "
                                "of the file (%zu lines)",
                       HUNK_ARGS(fp->path, h), (int)(l->len > 120 ? 120 : l->len), l->text, bs + 1,
                       n);
      else
        rc = repo_errf(err, errlen, AGENTAI_EINVAL,
                       HUNK_FMT "context mismatch at line %zu: expected \"%.*s\", found \"%.*s\" "
                                "(also tried %d lines around it)",
                       HUNK_ARGS(fp->path, h), bs + 1, (int)(l->len > 120 ? 120 : l->len), l->text,
                       (int)(src[bs].len > 120 ? 120 : src[bs].len), src[bs].p, fuzz);
      break;
    }
    for (; cur < (size_t)found && rc == 0; cur++)
      rc = out_put(fp, src[cur].p, src[cur].len, 1);
    size_t si = (size_t)found; /* the source line the hunk's next old-side line matched */
    for (size_t i = 0; i < h->n && rc == 0; i++) {
      const repo_diff_line *l = &d->lines[h->first + i];
      if (l->type == '-') {
        fp->removed++;
        si++;
        continue;
      }
      if (l->type == '+')
        fp->added++;
      /* context keeps the file's own bytes (a CRLF line stays CRLF) */
      if (l->type == ' ') {
        int nl = !(si == n - 1 && !last_nl) && !l->no_newline;
        rc = out_put(fp, src[si].p, src[si].len, nl);
        si++;
      } else {
        rc = out_put(fp, l->text, l->len, !l->no_newline);
      }
    }
    cur = (size_t)found + nold;
    shift = found - stated;
  }
  for (; cur < n && rc == 0; cur++)
    rc = out_put(fp, src[cur].p, src[cur].len, cur < n - 1 || last_nl);
  free(src);
  if (rc == AGENTAI_ENOMEM)
    return repo_errf(err, errlen, rc, "patch: out of memory");
  return rc;
}

static void plan_free(file_plan *plans, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(plans[i].out);
    if (plans[i].dfd >= 0)
      close(plans[i].dfd);
  }
  free(plans);
}

void repo_patch_result_free(repo_patch_result *r) {
  for (size_t i = 0; i < r->nfiles; i++)
    free(r->files[i].path);
  free(r->files);
  memset(r, 0, sizeof *r);
}

/* Removes the folders repo_open_parent made for path (the deepest `count` of its parents). */
static void remove_created_dirs(int rootfd, const char *path, int count) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (int i = 0; i < count; i++) {
    char *slash = strrchr(buf, '/');
    if (!slash)
      return;
    *slash = '\0';
    unlinkat(rootfd, buf, AT_REMOVEDIR);
  }
}

/* Writes fp->out to a new temporary file next to its target. */
static int write_temp(int rootfd, file_plan *fp, long pid, unsigned serial, int keep, char *err,
                      size_t errlen) {
  int dfd = fp->dfd;
  if (dfd < 0) {
    dfd = repo_open_parent(rootfd, fp->path, 1, &fp->created_dirs, &fp->base, err, errlen);
    if (dfd < 0)
      return dfd;
  }
  if (keep)
    fp->dfd = dfd;
  snprintf(fp->tmp, sizeof fp->tmp, ".agentai-patch-%ld-%u.tmp", pid, serial);
  mode_t mode = fp->has_mode ? (mode_t)fp->mode : 0666;
  int fd = openat(dfd, fp->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    int e = errno;
    if (dfd != fp->dfd)
      close(dfd);
    fp->tmp[0] = '\0';
    return repo_errf(err, errlen, AGENTAI_EIO, "patch: cannot create a temporary file for '%s': %s",
                     fp->path, strerror(e));
  }
  if (fp->has_mode)
    (void)fchmod(fd, (mode_t)fp->mode); /* the umask must not change an existing file's mode */
  size_t done = 0;
  int rc = 0;
  while (done < fp->out_len) {
    ssize_t w = write(fd, fp->out + done, fp->out_len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      rc = repo_errf(err, errlen, errno == ENOSPC ? AGENTAI_ENOSPC : AGENTAI_EIO,
                     "patch: cannot write '%s': %s", fp->path, strerror(errno));
      break;
    }
    done += (size_t)w;
  }
  if (close(fd) != 0 && rc == 0)
    rc = repo_errf(err, errlen, AGENTAI_EIO, "patch: cannot write '%s': %s", fp->path,
                   strerror(errno));
  if (rc < 0) {
    unlinkat(dfd, fp->tmp, 0);
    fp->tmp[0] = '\0';
  }
  if (dfd != fp->dfd)
    close(dfd);
  return rc;
}

/* Runs op (rename of the temporary file, or unlink) in the folder of path. */
static int in_parent(int rootfd, const char *path, const char *tmp, int do_unlink) {
  const char *base = NULL;
  int dfd = repo_open_parent(rootfd, path, 0, NULL, &base, NULL, 0);
  if (dfd < 0)
    return dfd;
  int r = do_unlink ? unlinkat(dfd, base, 0) : renameat(dfd, tmp, dfd, base);
  close(dfd);
  return r == 0 ? 0 : AGENTAI_EIO;
}

static int plan_files(int rootfd, const repo_diff *d, file_plan *plans, size_t *nplans, int fuzz,
                      char *err, size_t errlen) {
  size_t np = 0;
  for (size_t i = 0; i < d->nfiles; i++) {
    const repo_diff_file *df = &d->files[i];
    if (df->mode_only)
      continue;
    file_plan *fp = &plans[np++];
    fp->df = df;
    fp->old_path = df->is_new ? NULL : df->old_path ? df->old_path : df->new_path;
    fp->path = df->is_delete ? fp->old_path : df->new_path ? df->new_path : df->old_path;
    if (fp->old_path && strcmp(fp->old_path, fp->path) == 0)
      fp->old_path = fp->path; /* the same file: compared by pointer below */
    int rc = repo_path_check(fp->path, err, errlen);
    if (rc == 0 && fp->old_path && fp->old_path != fp->path)
      rc = repo_path_check(fp->old_path, err, errlen);
    if (rc < 0)
      return rc;
    for (size_t j = 0; j + 1 < np; j++)
      if (strcmp(plans[j].path, fp->path) == 0 ||
          (plans[j].old_path && fp->old_path && strcmp(plans[j].old_path, fp->old_path) == 0))
        return repo_errf(err, errlen, AGENTAI_EINVAL,
                         "patch rejected: file '%s' appears twice in the diff", fp->path);
    char *data = NULL;
    size_t len = 0;
    if (fp->old_path && fp->old_path == fp->path && np <= PATCH_KEEP_DIRS) {
      /* changed in place: its folder serves the read, the write and the rename */
      fp->dfd = repo_open_parent(rootfd, fp->path, 0, NULL, &fp->base, err, errlen);
      if (fp->dfd < 0) {
        rc = fp->dfd;
        fp->dfd = -1;
        return rc == AGENTAI_ENOENT
                   ? repo_errf(err, errlen, rc, "patch rejected: file '%s': file missing", fp->path)
                   : rc;
      }
      rc = repo_read_at(fp->dfd, fp->base, fp->path, PATCH_FILE_MAX, &data, &len, &fp->mode, err,
                        errlen);
    } else if (fp->old_path) {
      rc =
          repo_read_file(rootfd, fp->old_path, PATCH_FILE_MAX, &data, &len, &fp->mode, err, errlen);
    }
    if (fp->old_path) {
      if (rc == AGENTAI_ENOENT)
        return repo_errf(err, errlen, rc, "patch rejected: file '%s': file missing", fp->old_path);
      if (rc < 0)
        return rc;
      fp->has_mode = 1;
      if (repo_is_binary(data, len)) {
        free(data);
        return repo_errf(err, errlen, AGENTAI_EINVAL, "patch rejected: file '%s' is binary",
                         fp->old_path);
      }
    }
    if (!fp->old_path || strcmp(fp->path, fp->old_path) != 0) {
      /* a new or renamed file must not overwrite one that exists */
      char *other = NULL;
      size_t olen = 0;
      int ex = repo_read_file(rootfd, fp->path, 0, &other, &olen, NULL, NULL, 0);
      free(other);
      if (ex != AGENTAI_ENOENT) {
        free(data);
        if (ex == AGENTAI_EINVAL)
          return repo_read_file(rootfd, fp->path, 0, &other, &olen, NULL, err, errlen);
        return repo_errf(err, errlen, AGENTAI_EEXIST, "patch rejected: file '%s': file exists",
                         fp->path);
      }
    }
    rc = apply_file(d, fp, data ? data : "", len, fuzz, err, errlen);
    free(data);
    if (rc < 0)
      return rc;
    if (df->is_delete && fp->out_len)
      return repo_errf(err, errlen, AGENTAI_EINVAL,
                       "patch rejected: file '%s': deleting it would leave %zu bytes (the diff "
                       "does not remove every line)",
                       fp->path, fp->out_len);
  }
  *nplans = np;
  return 0;
}

int repo_patch(const char *root, const char *diff, size_t diff_len, int dry_run, int fuzz,
               repo_patch_result *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (fuzz < 0)
    fuzz = PATCH_FUZZ_DEFAULT;
  if (fuzz > 1000)
    fuzz = 1000;
  if (!diff)
    return repo_errf(err, errlen, AGENTAI_EINVAL, "patch: no diff");
  repo_diff d;
  int rc = repo_diff_parse(diff, diff_len, &d, err, errlen);
  if (rc < 0)
    return rc;
  int rootfd = repo_open_root(root, err, errlen);
  if (rootfd < 0) {
    repo_diff_free(&d);
    return rootfd;
  }
  file_plan *plans = calloc(d.nfiles, sizeof *plans);
  size_t np = 0;
  if (!plans)
    rc = repo_errf(err, errlen, AGENTAI_ENOMEM, "patch: out of memory");
  for (size_t i = 0; plans && i < d.nfiles; i++)
    plans[i].dfd = -1;
  if (rc == 0)
    rc = plan_files(rootfd, &d, plans, &np, fuzz, err, errlen);
  if (rc < 0)
    np = d.nfiles; /* free whatever was planned */
  /* Everything applied in memory: write temporaries, then rename them all. */
  size_t written = 0;
  long pid = (long)getpid();
  for (size_t i = 0; rc == 0 && !dry_run && i < np; i++, written++) {
    if (plans[i].df->is_delete)
      continue;
    rc = write_temp(rootfd, &plans[i], pid, (unsigned)i, i < PATCH_KEEP_DIRS, err, errlen);
  }
  if (rc < 0 && !dry_run) {
    for (size_t i = 0; i <= written && i < np; i++) {
      file_plan *fp = &plans[i];
      if (!fp->df)
        continue;
      if (fp->tmp[0]) {
        const char *base = NULL;
        int dfd =
            fp->dfd >= 0 ? fp->dfd : repo_open_parent(rootfd, fp->path, 0, NULL, &base, NULL, 0);
        if (dfd >= 0) {
          unlinkat(dfd, fp->tmp, 0);
          if (dfd != fp->dfd)
            close(dfd);
        }
      }
      remove_created_dirs(rootfd, fp->path, fp->created_dirs);
    }
  }
  if (rc == 0 && !dry_run) {
    for (size_t i = 0; i < np; i++) {
      file_plan *fp = &plans[i];
      if (fp->df->is_delete)
        continue;
      int moved = fp->dfd >= 0 ? (renameat(fp->dfd, fp->tmp, fp->dfd, fp->base) == 0 ? 0 : -1)
                               : in_parent(rootfd, fp->path, fp->tmp, 0);
      if (moved < 0 && rc == 0)
        rc = repo_errf(err, errlen, AGENTAI_EIO,
                       "patch: renaming the new '%s' into place failed: %s (files before it in "
                       "the diff were already replaced)",
                       fp->path, strerror(errno));
    }
    for (size_t i = 0; rc == 0 && i < np; i++) {
      file_plan *fp = &plans[i];
      if (fp->df->is_delete || (fp->old_path && strcmp(fp->old_path, fp->path) != 0))
        in_parent(rootfd, fp->old_path, NULL, 1);
    }
  }
  if (rc == 0) {
    out->files = calloc(np ? np : 1, sizeof *out->files);
    if (!out->files)
      rc = repo_errf(err, errlen, AGENTAI_ENOMEM, "patch: out of memory");
    for (size_t i = 0; rc == 0 && i < np; i++) {
      file_plan *fp = &plans[i];
      repo_patch_file *rf = &out->files[out->nfiles];
      if (!(rf->path = strdup(fp->path))) {
        rc = repo_errf(err, errlen, AGENTAI_ENOMEM, "patch: out of memory");
        break;
      }
      out->nfiles++;
      rf->added = fp->added;
      rf->removed = fp->removed;
      rf->status = fp->df->is_new                        ? "added"
                   : fp->df->is_delete                   ? "deleted"
                   : strcmp(fp->old_path, fp->path) != 0 ? "renamed"
                                                         : "modified";
    }
    if (rc < 0)
      repo_patch_result_free(out);
  }
  plan_free(plans, d.nfiles);
  close(rootfd);
  repo_diff_free(&d);
  return rc;
}
