/* repo/scan.c — repo_scan: walks a tree below a root with .gitignore rules, counting lines. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "repo/internal.h"

#define SCAN_BUF (256 * 1024)
#define SCAN_PATH_MAX 4096
#define SCAN_MAX_DEPTH 256
#define GITIGNORE_MAX (1024 * 1024)

typedef struct scan_ctx {
  const repo_scan_opts *o;
  repo_list *out;
  repo_ignore ig;
  char *buf; /* one read buffer for every file */
  char rel[SCAN_PATH_MAX];
  int stop;
} scan_ctx;

void repo_scan_opts_init(repo_scan_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_file_bytes = 1024 * 1024;
  o->honour_gitignore = 1;
}

void repo_list_free(repo_list *l) {
  free(l->files);
  free(l->skipped);
  repo_arena_free(&l->arena);
  memset(l, 0, sizeof *l);
}

static int add_skip(scan_ctx *c, size_t rel_len, const char *reason) {
  repo_list *l = c->out;
  if (l->nskipped == l->cap_skipped) {
    size_t cap = l->cap_skipped ? l->cap_skipped * 2 : 64;
    repo_skip *g = realloc(l->skipped, cap * sizeof *g);
    if (!g)
      return AGENTAI_ENOMEM;
    l->skipped = g;
    l->cap_skipped = cap;
  }
  const char *p = repo_arena_dup(&l->arena, c->rel, rel_len);
  if (!p)
    return AGENTAI_ENOMEM;
  l->skipped[l->nskipped++] = (repo_skip){.path = p, .reason = reason};
  return 0;
}

static int add_file(scan_ctx *c, size_t rel_len, uint64_t size, uint64_t lines) {
  repo_list *l = c->out;
  if (l->nfiles == l->cap_files) {
    size_t cap = l->cap_files ? l->cap_files * 2 : 1024;
    repo_file *g = realloc(l->files, cap * sizeof *g);
    if (!g)
      return AGENTAI_ENOMEM;
    l->files = g;
    l->cap_files = cap;
  }
  const char *p = repo_arena_dup(&l->arena, c->rel, rel_len);
  if (!p)
    return AGENTAI_ENOMEM;
  l->files[l->nfiles++] =
      (repo_file){.path = p, .size = size, .language = repo_language(p), .lines = lines};
  return 0;
}

/* Reads one file through c->buf: binary check on the first block, '\n' counted with memchr. */
static int scan_file(scan_ctx *c, int dfd, const char *name, size_t rel_len) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return add_skip(c, rel_len, errno == ELOOP ? "symlink" : "unreadable");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return 0;
  }
  if ((uint64_t)st.st_size > c->o->max_file_bytes) {
    close(fd);
    return add_skip(c, rel_len, "too large");
  }
  uint64_t lines = 0, total = 0;
  char last = '\n';
  int first = 1;
  for (;;) {
    ssize_t r = read(fd, c->buf, SCAN_BUF);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      close(fd);
      return add_skip(c, rel_len, "unreadable");
    }
    if (r == 0)
      break;
    if (first && repo_is_binary(c->buf, (size_t)r)) {
      close(fd);
      return add_skip(c, rel_len, "binary");
    }
    first = 0;
    total += (uint64_t)r;
    if (total > c->o->max_file_bytes) { /* grew while we read it */
      close(fd);
      return add_skip(c, rel_len, "too large");
    }
    const char *p = c->buf, *end = c->buf + r;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
      lines++;
      p++;
    }
    last = c->buf[r - 1];
    if (total == (uint64_t)st.st_size && (size_t)r < SCAN_BUF)
      break; /* all of it: spares the read that would return 0 */
  }
  close(fd);
  if (last != '\n')
    lines++;
  return add_file(c, rel_len, total, lines);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int glob_any(const char *const *globs, size_t n, const char *path) {
  for (size_t i = 0; i < n; i++)
    if (globs[i] && repo_glob_match(globs[i], path))
      return 1;
  return 0;
}

static int load_gitignore(scan_ctx *c, int dfd, size_t base_len) {
  int fd = openat(dfd, ".gitignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > GITIGNORE_MAX) {
    close(fd);
    return 0;
  }
  size_t got = 0;
  char *text = malloc((size_t)st.st_size + 1);
  if (!text) {
    close(fd);
    return AGENTAI_ENOMEM;
  }
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  int rc = repo_ignore_push(&c->ig, text, got, base_len);
  free(text);
  return rc;
}

/* Walks the folder open at dfd whose path is c->rel[0..rel_len) ("" or "a/b/"). Takes dfd. */
static int scan_dir(scan_ctx *c, int dfd, size_t rel_len, int depth) {
  size_t ig_mark = c->ig.count;
  int rc = 0;
  if (c->o->honour_gitignore && (rc = load_gitignore(c, dfd, rel_len)) < 0) {
    close(dfd);
    return rc;
  }
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    repo_ignore_pop(&c->ig, ig_mark);
    return 0;
  }
  /* names first, sorted, so the listing does not depend on the file system's order */
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *nm = e->d_name;
    if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
      continue;
    if (strcmp(nm, ".git") == 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **gn = realloc(names, cap * sizeof *gn);
      if (!gn) {
        rc = AGENTAI_ENOMEM;
        break;
      }
      names = gn;
    }
    size_t nl = strlen(nm);
    if (!(names[n] = malloc(nl + 2))) {
      rc = AGENTAI_ENOMEM;
      break;
    }
    /* the type travels in front of the name so sorting keeps them together */
    names[n][0] = (char)e->d_type;
    memcpy(names[n] + 1, nm, nl + 1);
    n++;
  }
  if (rc == 0) {
    for (size_t i = 0; i < n; i++)
      names[i]++; /* sort by name */
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++)
      names[i]--;
  }
  for (size_t i = 0; rc == 0 && i < n && !c->stop; i++) {
    const char *nm = names[i] + 1;
    unsigned char type = (unsigned char)names[i][0];
    size_t nl = strlen(nm);
    if (rel_len + nl + 2 >= SCAN_PATH_MAX)
      continue;
    memcpy(c->rel + rel_len, nm, nl + 1);
    size_t len = rel_len + nl;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;
      type = S_ISDIR(st.st_mode)   ? DT_DIR
             : S_ISLNK(st.st_mode) ? DT_LNK
             : S_ISREG(st.st_mode) ? DT_REG
                                   : DT_UNKNOWN;
    }
    if (type != DT_DIR && type != DT_REG && type != DT_LNK)
      continue;
    int is_dir = type == DT_DIR;
    if (c->o->honour_gitignore && repo_ignored(&c->ig, c->rel, len, is_dir))
      continue;
    if (glob_any(c->o->exclude, c->o->nexclude, c->rel))
      continue;
    if (type == DT_LNK) {
      if (!c->o->ninclude || glob_any(c->o->include, c->o->ninclude, c->rel))
        rc = add_skip(c, len, "symlink");
      continue;
    }
    if (is_dir) {
      if (depth >= SCAN_MAX_DEPTH)
        continue;
      int sub = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0)
        continue;
      c->rel[len] = '/';
      c->rel[len + 1] = '\0';
      rc = scan_dir(c, sub, len + 1, depth + 1);
      continue;
    }
    if (c->o->ninclude && !glob_any(c->o->include, c->o->ninclude, c->rel))
      continue;
    if (c->o->max_files && c->out->nfiles >= c->o->max_files) {
      c->out->truncated = 1;
      c->stop = 1;
      break;
    }
    rc = scan_file(c, dirfd(d), nm, len);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  closedir(d);
  repo_ignore_pop(&c->ig, ig_mark);
  return rc;
}

int repo_scan(const char *root, const repo_scan_opts *opts, repo_list *out, char *err,
              size_t errlen) {
  memset(out, 0, sizeof *out);
  repo_scan_opts defaults;
  if (!opts) {
    repo_scan_opts_init(&defaults);
    opts = &defaults;
  }
  int fd = repo_open_root(root, err, errlen);
  if (fd < 0)
    return fd;
  scan_ctx *c = calloc(1, sizeof *c);
  char *buf = c ? malloc(SCAN_BUF) : NULL;
  if (!buf) {
    free(c);
    close(fd);
    return repo_errf(err, errlen, AGENTAI_ENOMEM, "repo scan: out of memory");
  }
  c->o = opts;
  c->out = out;
  c->buf = buf;
  int rc = scan_dir(c, fd, 0, 0);
  repo_ignore_free(&c->ig);
  free(buf);
  free(c);
  if (rc < 0) {
    repo_list_free(out);
    return repo_errf(err, errlen, rc, "repo scan of '%s': out of memory", root);
  }
  return 0;
}
