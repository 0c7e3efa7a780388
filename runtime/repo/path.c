/* repo/path.c — confinement of repository paths to a root, safe opens and small shared helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "repo/internal.h"

#define REPO_NAME_MAX 4096

int repo_errf(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

int repo_path_check(const char *path, char *err, size_t errlen) {
  if (!path || !path[0])
    return repo_errf(err, errlen, AGENTAI_EINVAL, "path is empty");
  size_t n = strlen(path);
  if (n >= REPO_NAME_MAX)
    return repo_errf(err, errlen, AGENTAI_EINVAL, "path '%.200s...' is too long", path);
  if (path[0] == '/')
    return repo_errf(err, errlen, AGENTAI_EINVAL,
                     "path '%s' refused: absolute paths are not allowed (give it relative to "
                     "the root)",
                     path);
  const char *p = path;
  while (*p) {
    size_t c = strcspn(p, "/");
    if (c == 0 && p[c] == '/')
      return repo_errf(err, errlen, AGENTAI_EINVAL, "path '%s' refused: empty component", path);
    if (c == 2 && p[0] == '.' && p[1] == '.')
      return repo_errf(err, errlen, AGENTAI_EINVAL,
                       "path '%s' refused: '..' components are not allowed", path);
    p += c;
    if (*p == '/')
      p++;
  }
  return 0;
}

int repo_open_root(const char *root, char *err, size_t errlen) {
  if (!root || !root[0])
    return repo_errf(err, errlen, AGENTAI_EINVAL, "root is empty");
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return repo_errf(err, errlen, errno == ENOENT ? AGENTAI_ENOENT : AGENTAI_EINVAL,
                     "root '%s': %s", root, strerror(errno));
  return fd;
}

int repo_open_parent(int rootfd, const char *path, int mkdirs, int *created, const char **base,
                     char *err, size_t errlen) {
  int rc = repo_path_check(path, err, errlen);
  if (rc < 0)
    return rc;
  int fd = rootfd; /* not ours until the first component is opened */
  const char *p = path;
  char comp[256];
  for (;;) {
    size_t c = strcspn(p, "/");
    if (p[c] == '\0' || (p[c] == '/' && p[c + 1] == '\0')) {
      *base = p;
      if (fd == rootfd && (fd = dup(rootfd)) < 0)
        return repo_errf(err, errlen, AGENTAI_EIO, "path '%s': %s", path, strerror(errno));
      return fd;
    }
    if (c >= sizeof comp) {
      if (fd != rootfd)
        close(fd);
      return repo_errf(err, errlen, AGENTAI_EINVAL, "path '%s': a component is too long", path);
    }
    memcpy(comp, p, c);
    comp[c] = '\0';
    if (!(c == 1 && comp[0] == '.')) {
      int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && mkdirs) {
        if (mkdirat(fd, comp, 0777) == 0 && created)
          (*created)++;
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (next < 0) {
        int e = errno;
        if (fd != rootfd)
          close(fd);
        if (e == ELOOP || e == ENOTDIR) {
          /* O_NOFOLLOW reports a symlink as ELOOP (or ENOTDIR with O_DIRECTORY) */
          return repo_errf(err, errlen, AGENTAI_EINVAL,
                           "path '%s' refused: '%.*s' is a symbolic link or not a folder "
                           "(links are not followed below the root)",
                           path, (int)(p - path + (ptrdiff_t)c), path);
        }
        return repo_errf(err, errlen, e == ENOENT ? AGENTAI_ENOENT : AGENTAI_EIO,
                         "path '%s': folder '%.*s': %s", path, (int)(p - path + (ptrdiff_t)c), path,
                         strerror(e));
      }
      if (fd != rootfd)
        close(fd);
      fd = next;
    }
    p += c + 1;
  }
}

int repo_read_file(int rootfd, const char *path, uint64_t max, char **out, size_t *len,
                   unsigned *mode, char *err, size_t errlen) {
  *out = NULL;
  *len = 0;
  const char *base = NULL;
  int dfd = repo_open_parent(rootfd, path, 0, NULL, &base, err, errlen);
  if (dfd < 0)
    return dfd;
  int rc = repo_read_at(dfd, base, path, max, out, len, mode, err, errlen);
  close(dfd);
  return rc;
}

int repo_read_at(int dfd, const char *base, const char *path, uint64_t max, char **out, size_t *len,
                 unsigned *mode, char *err, size_t errlen) {
  *out = NULL;
  *len = 0;
  int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  int e = errno;
  if (fd < 0) {
    if (e == ELOOP)
      return repo_errf(err, errlen, AGENTAI_EINVAL,
                       "path '%s' refused: it is a symbolic link (links are not followed below "
                       "the root)",
                       path);
    return repo_errf(err, errlen, e == ENOENT ? AGENTAI_ENOENT : AGENTAI_EIO, "file '%s': %s", path,
                     strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return repo_errf(err, errlen, AGENTAI_EINVAL, "path '%s' is not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return repo_errf(err, errlen, AGENTAI_E2BIG, "file '%s' is %llu bytes, above the %llu limit",
                     path, (unsigned long long)st.st_size, (unsigned long long)max);
  }
  size_t cap = (size_t)st.st_size + 1;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return repo_errf(err, errlen, AGENTAI_ENOMEM, "file '%s': out of memory", path);
  }
  size_t got = 0;
  for (;;) {
    if (got + 1 >= cap) { /* the file grew since fstat: keep reading up to max */
      if (cap > max + 1) {
        free(buf);
        close(fd);
        return repo_errf(err, errlen, AGENTAI_E2BIG, "file '%s' grew above the limit", path);
      }
      char *g = realloc(buf, cap * 2);
      if (!g) {
        free(buf);
        close(fd);
        return repo_errf(err, errlen, AGENTAI_ENOMEM, "file '%s': out of memory", path);
      }
      buf = g;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      e = errno;
      free(buf);
      close(fd);
      return repo_errf(err, errlen, AGENTAI_EIO, "file '%s': %s", path, strerror(e));
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *out = buf;
  *len = got;
  if (mode)
    *mode = (unsigned)(st.st_mode & 07777);
  return 0;
}

int repo_is_binary(const char *data, size_t len) {
  return memchr(data, '\0', len < 8192 ? len : 8192) != NULL;
}

const char *repo_language(const char *name) {
  static const char *const map[][2] = {
      {"c", "c"},      {"h", "h"},         {"cc", "cpp"},     {"cpp", "cpp"},
      {"cxx", "cpp"},  {"hpp", "cpp"},     {"hh", "cpp"},     {"lua", "lua"},
      {"py", "py"},    {"pyi", "py"},      {"js", "js"},      {"mjs", "js"},
      {"cjs", "js"},   {"jsx", "js"},      {"ts", "ts"},      {"tsx", "ts"},
      {"go", "go"},    {"rs", "rs"},       {"java", "java"},  {"kt", "kotlin"},
      {"rb", "ruby"},  {"php", "php"},     {"cs", "csharp"},  {"swift", "swift"},
      {"md", "md"},    {"markdown", "md"}, {"json", "json"},  {"yaml", "yaml"},
      {"yml", "yaml"}, {"toml", "toml"},   {"sh", "sh"},      {"bash", "sh"},
      {"zsh", "sh"},   {"html", "html"},   {"htm", "html"},   {"css", "css"},
      {"scss", "css"}, {"sql", "sql"},     {"xml", "xml"},    {"txt", "text"},
      {"rst", "rst"},  {"cmake", "cmake"}, {"mk", "make"},    {"proto", "proto"},
      {"ini", "ini"},  {"cfg", "ini"},     {"dict", "other"}, {NULL, NULL}};
  const char *slash = strrchr(name, '/');
  const char *b = slash ? slash + 1 : name;
  if (strcmp(b, "Makefile") == 0 || strcmp(b, "GNUmakefile") == 0)
    return "make";
  if (strcmp(b, "CMakeLists.txt") == 0)
    return "cmake";
  if (strcmp(b, "Dockerfile") == 0)
    return "dockerfile";
  const char *dot = strrchr(b, '.');
  if (!dot || dot == b)
    return "other";
  dot++;
  for (size_t i = 0; map[i][0]; i++)
    if (strcmp(map[i][0], dot) == 0)
      return map[i][1];
  return "other";
}

/* ---- arena ---- */

struct repo_arena_block {
  repo_arena_block *next;
  size_t used, cap;
  char data[];
};

char *repo_arena_dup(repo_arena_block **arena, const char *s, size_t len) {
  repo_arena_block *b = *arena;
  if (!b || b->cap - b->used < len + 1) {
    size_t cap = len + 1 > 256 * 1024 ? len + 1 : 256 * 1024;
    repo_arena_block *nb = malloc(sizeof *nb + cap);
    if (!nb)
      return NULL;
    nb->next = b;
    nb->used = 0;
    nb->cap = cap;
    *arena = b = nb;
  }
  char *p = b->data + b->used;
  memcpy(p, s, len);
  p[len] = '\0';
  b->used += len + 1;
  return p;
}

void repo_arena_free(repo_arena_block **arena) {
  repo_arena_block *b = *arena;
  while (b) {
    repo_arena_block *n = b->next;
    free(b);
    b = n;
  }
  *arena = NULL;
}
