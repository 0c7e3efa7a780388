/* tests/fuzz/fuzz_unified_diff.c — libFuzzer target for the unified diff parser of repo_patch,
 * and a dry-run apply of what parses against a small fixed tree. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/diff.h"
#include "repo/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void remove_tree(void) {
  char p[128];
  snprintf(p, sizeof p, "%s/a.txt", root);
  unlink(p);
  snprintf(p, sizeof p, "%s/src/b.c", root);
  unlink(p);
  snprintf(p, sizeof p, "%s/src", root);
  rmdir(p);
  rmdir(root);
}

/* A tree the dry runs read (never write): made once per process, removed at exit. */
static void make_tree(void) {
  snprintf(root, sizeof root, "/tmp/agentai-fuzzdiff-XXXXXX");
  if (!mkdtemp(root)) {
    root[0] = '\0';
    return;
  }
  atexit(remove_tree);
  char p[128];
  snprintf(p, sizeof p, "%s/a.txt", root);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs("one\ntwo\nthree\nfour\nfive\n", f);
    fclose(f);
  }
  snprintf(p, sizeof p, "%s/src", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/src/b.c", root);
  f = fopen(p, "w");
  if (f) {
    fputs("int x;\nint y;", f);
    fclose(f);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!root[0])
    make_tree();
  char err[1024];
  repo_diff d;
  /* the parser gets exactly size bytes: no NUL after them */
  char *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  if (repo_diff_parse(copy, size, &d, err, sizeof err) == 0) {
    for (size_t i = 0; i < d.nfiles; i++)
      for (size_t k = 0; k < d.files[i].nhunks; k++) {
        const repo_diff_hunk *h = &d.files[i].hunks[k];
        if (h->first + h->n > d.nlines)
          abort();
      }
    repo_diff_free(&d);
    if (root[0]) {
      repo_patch_result r;
      if (repo_patch(root, copy, size, 1, -1, &r, err, sizeof err) == 0)
        repo_patch_result_free(&r);
    }
  } else if (!err[0]) {
    abort(); /* every refusal explains itself */
  }
  free(copy);
  return 0;
}
