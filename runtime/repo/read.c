/* repo/read.c — repo_read and repo_search: line ranges of one file, and matching lines of many. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "repo/internal.h"

#define READ_MAX ((uint64_t)64 * 1024 * 1024)
#define HIT_TEXT_MAX 400

int repo_read(const char *root, const char *path, uint64_t from_line, uint64_t to_line, char **out,
              size_t *out_len, char *err, size_t errlen) {
  *out = NULL;
  *out_len = 0;
  int rc = repo_path_check(path, err, errlen);
  if (rc < 0)
    return rc;
  int rootfd = repo_open_root(root, err, errlen);
  if (rootfd < 0)
    return rootfd;
  char *data = NULL;
  size_t len = 0;
  rc = repo_read_file(rootfd, path, READ_MAX, &data, &len, NULL, err, errlen);
  close(rootfd);
  if (rc < 0)
    return rc;
  if (repo_is_binary(data, len)) {
    free(data);
    return repo_errf(err, errlen, AGENTAI_EINVAL, "file '%s' is binary", path);
  }
  if (from_line < 1)
    from_line = 1;
  /* find the start of from_line and the end of to_line */
  const char *p = data, *end = data + len;
  uint64_t line = 1;
  while (line < from_line && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
    line++;
  }
  const char *start = p;
  if (to_line == 0 || to_line < from_line) {
    p = to_line == 0 ? end : start;
  } else {
    while (line <= to_line && p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      p = nl ? nl + 1 : end;
      line++;
    }
  }
  size_t n = (size_t)(p - start);
  memmove(data, start, n);
  data[n] = '\0';
  *out = data;
  *out_len = n;
  return 0;
}

void repo_hits_free(repo_hits *h) {
  for (size_t i = 0; i < h->count; i++) {
    free(h->hits[i].path);
    free(h->hits[i].text);
  }
  free(h->hits);
  memset(h, 0, sizeof *h);
}

static int add_hit(repo_hits *h, size_t *cap, const char *path, uint64_t line, const char *text,
                   size_t len) {
  if (h->count == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    repo_hit *g = realloc(h->hits, nc * sizeof *g);
    if (!g)
      return AGENTAI_ENOMEM;
    h->hits = g;
    *cap = nc;
  }
  if (len > HIT_TEXT_MAX)
    len = HIT_TEXT_MAX;
  repo_hit *hit = &h->hits[h->count];
  hit->path = strdup(path);
  hit->text = malloc(len + 1);
  if (!hit->path || !hit->text) {
    free(hit->path);
    free(hit->text);
    return AGENTAI_ENOMEM;
  }
  memcpy(hit->text, text, len);
  hit->text[len] = '\0';
  hit->line = line;
  h->count++;
  return 0;
}

int repo_search(const char *root, const char *pattern, const repo_search_opts *opts, repo_hits *out,
                char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  repo_search_opts defaults = {0};
  if (!opts)
    opts = &defaults;
  if (!pattern || !pattern[0])
    return repo_errf(err, errlen, AGENTAI_EINVAL, "search pattern is empty");
  int rc;
  if (opts->mode == REPO_MATCH_LUA && (rc = repo_lpat_check(pattern, err, errlen)) < 0)
    return rc;
  size_t limit = opts->max_results ? opts->max_results : 1000;
  repo_scan_opts so;
  repo_scan_opts_init(&so);
  if (opts->max_file_bytes)
    so.max_file_bytes = opts->max_file_bytes;
  so.include = opts->globs;
  so.ninclude = opts->nglobs;
  repo_list files;
  if ((rc = repo_scan(root, &so, &files, err, errlen)) < 0)
    return rc;
  int rootfd = repo_open_root(root, err, errlen);
  if (rootfd < 0) {
    repo_list_free(&files);
    return rootfd;
  }
  size_t plen = strlen(pattern), cap = 0;
  for (size_t i = 0; rc == 0 && i < files.nfiles && !out->truncated; i++) {
    char *data = NULL;
    size_t len = 0;
    if (repo_read_file(rootfd, files.files[i].path, so.max_file_bytes, &data, &len, NULL, NULL, 0) <
        0)
      continue; /* changed since the scan */
    const char *p = data, *end = data + len;
    uint64_t line = 1;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *le = nl ? nl : end;
      const char *next = le + 1;
      if (le > p && le[-1] == '\r') /* CRLF files: '$' and the text end before the '\r' */
        le--;
      int m = opts->mode == REPO_MATCH_LUA ? repo_lpat_find(pattern, p, (size_t)(le - p))
                                           : memmem(p, (size_t)(le - p), pattern, plen) != NULL;
      if (m) {
        if (out->count >= limit) {
          out->truncated = 1;
          break;
        }
        if ((rc = add_hit(out, &cap, files.files[i].path, line, p, (size_t)(le - p))) < 0)
          break;
      }
      p = next;
      line++;
    }
    free(data);
  }
  close(rootfd);
  repo_list_free(&files);
  if (rc < 0) {
    repo_hits_free(out);
    return repo_errf(err, errlen, rc, "repo search: out of memory");
  }
  return 0;
}
