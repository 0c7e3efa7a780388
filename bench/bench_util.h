/* bench/bench_util.h — helpers every C benchmark needs: a clock, and a scratch folder made and
 * removed. */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

/** Monotonic seconds. */
static inline double bench_now_s(void) {
  return (double)uv_hrtime() / 1e9;
}

/** Creates a fresh folder <dir>/<name>-XXXXXX into out; prints why and
 *  returns -1 when it cannot. */
static inline int bench_make_dir(char *out, size_t out_len, const char *dir, const char *name) {
  snprintf(out, out_len, "%s/%s-XXXXXX", dir, name);
  if (!mkdtemp(out)) {
    fprintf(stderr, "cannot create a folder under %s: %s\n", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static inline int bench_rm_entry(const char *path, const struct stat *st, int flag,
                                 struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/** Removes a scratch folder and everything in it. */
static inline void bench_rm_tree(const char *path) {
  nftw(path, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
