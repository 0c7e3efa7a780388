/* bench/repo_tool.c — the C driver of bench/bench_repo.sh: generates a large source tree and a
 * many-hunk diff, and times repo_scan and repo_patch on them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "repo/repo.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int write_text(const char *path, size_t bytes, unsigned seed) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  size_t done = 0;
  unsigned n = seed;
  while (done < bytes) {
    int w =
        fprintf(f, "static int value_%u = %u; /* generated line for the benchmark */\n", n, n * 7);
    if (w < 0)
      break;
    done += (size_t)w;
    n++;
  }
  fclose(f);
  return 0;
}

static void mkdir_p(const char *dir) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *s = buf + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(buf, 0755);
      *s = '/';
    }
  mkdir(buf, 0755);
}

/* gen DIR N: N tracked files in folders of 100 (mixed sizes), plus ignored folders and files. */
static int cmd_gen(const char *dir, int n) {
  static const char *const ext[] = {"c", "h", "lua", "py", "md", "json", "go", "rs"};
  char path[1024];
  mkdir_p(dir);
  snprintf(path, sizeof path, "%s/.gitignore", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return 1;
  fputs("node_modules/\nbuild/\n*.o\n", f);
  fclose(f);
  int tracked = 1; /* the .gitignore */
  for (int i = 0; tracked < n; i++) {
    snprintf(path, sizeof path, "%s/pkg%03d/mod%02d", dir, i / 20, i % 20);
    mkdir_p(path);
    for (int k = 0; k < 100 && tracked < n; k++, tracked++) {
      uint64_t r = next_rand() % 100;
      size_t bytes = r < 70   ? 200 + next_rand() % 3000
                     : r < 97 ? 4000 + next_rand() % 20000
                              : 40000 + next_rand() % 100000;
      snprintf(path, sizeof path, "%s/pkg%03d/mod%02d/file%03d.%s", dir, i / 20, i % 20, k,
               ext[next_rand() % 8]);
      if (write_text(path, bytes, (unsigned)tracked) < 0)
        return 1;
    }
    if (i % 50 == 0) { /* ignored noise the scan must not read */
      snprintf(path, sizeof path, "%s/pkg%03d/mod%02d/obj%03d.o", dir, i / 20, i % 20, i);
      write_text(path, 5000, 1);
    }
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(path, sizeof path, "%s/node_modules/dep%02d", dir, i / 100);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/node_modules/dep%02d/index%03d.js", dir, i / 100, i % 100);
    write_text(path, 2000, 1);
  }
  snprintf(path, sizeof path, "%s/build", dir);
  mkdir_p(path);
  for (int i = 0; i < 500; i++) {
    snprintf(path, sizeof path, "%s/build/out%03d.c", dir, i);
    write_text(path, 1000, 1);
  }
  printf("generated %d tracked files in %s\n", tracked, dir);
  return 0;
}

/* scan DIR RUNS: best time of RUNS scans. */
static int cmd_scan(const char *dir, int runs) {
  double best = 1e18;
  size_t files = 0;
  uint64_t lines = 0;
  for (int r = 0; r < runs; r++) {
    repo_list l;
    char err[1024];
    double t0 = now_ms();
    if (repo_scan(dir, NULL, &l, err, sizeof err) != 0) {
      fprintf(stderr, "scan: %s\n", err);
      return 1;
    }
    double t = now_ms() - t0;
    if (t < best)
      best = t;
    files = l.nfiles;
    lines = 0;
    for (size_t i = 0; i < l.nfiles; i++)
      lines += l.files[i].lines;
    repo_list_free(&l);
  }
  printf("scan_ms=%.1f files=%zu lines=%llu\n", best, files, (unsigned long long)lines);
  return 0;
}

/* mkpatch DIR DIFF HUNKS: writes 50 files under DIR/p/ and a diff of HUNKS hunks over them. */
static int cmd_mkpatch(const char *dir, const char *diff_path, int hunks) {
  char path[1024];
  snprintf(path, sizeof path, "%s/p", dir);
  mkdir_p(path);
  int nfiles = 50, per = (hunks + nfiles - 1) / nfiles;
  FILE *d = fopen(diff_path, "w");
  if (!d)
    return 1;
  int made = 0;
  for (int fi = 0; fi < nfiles && made < hunks; fi++) {
    snprintf(path, sizeof path, "%s/p/f%02d.c", dir, fi);
    FILE *f = fopen(path, "w");
    if (!f)
      return 1;
    int nlines = per * 40 + 20;
    for (int i = 1; i <= nlines; i++)
      fprintf(f, "int line_%d_%d = %d;\n", fi, i, i);
    fclose(f);
    fprintf(d, "diff --git a/p/f%02d.c b/p/f%02d.c\n--- a/p/f%02d.c\n+++ b/p/f%02d.c\n", fi, fi, fi,
            fi);
    for (int k = 0; k < per && made < hunks; k++, made++) {
      int at = 10 + k * 40;
      fprintf(d, "@@ -%d,7 +%d,8 @@\n", at, at + k);
      for (int i = at; i < at + 3; i++)
        fprintf(d, " int line_%d_%d = %d;\n", fi, i, i);
      fprintf(d, "-int line_%d_%d = %d;\n", fi, at + 3, at + 3);
      fprintf(d, "+int line_%d_%d = %d; /* changed */\n", fi, at + 3, -(at + 3));
      fprintf(d, "+int added_%d_%d = 0;\n", fi, k);
      for (int i = at + 4; i < at + 7; i++)
        fprintf(d, " int line_%d_%d = %d;\n", fi, i, i);
    }
  }
  fclose(d);
  printf("wrote %d hunks over %d files\n", made, nfiles);
  return 0;
}

/* patch DIR DIFF: applies it once, prints the time. */
static int cmd_patch(const char *dir, const char *diff_path) {
  FILE *f = fopen(diff_path, "rb");
  if (!f)
    return 1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    return 1;
  }
  fclose(f);
  repo_patch_result r;
  char err[1024];
  double t0 = now_ms();
  int rc = repo_patch(dir, buf, (size_t)n, 0, -1, &r, err, sizeof err);
  double t = now_ms() - t0;
  free(buf);
  if (rc != 0) {
    fprintf(stderr, "patch: %s\n", err);
    return 1;
  }
  uint64_t added = 0;
  for (size_t i = 0; i < r.nfiles; i++)
    added += r.files[i].added;
  printf("patch_ms=%.2f files=%zu added=%llu\n", t, r.nfiles, (unsigned long long)added);
  repo_patch_result_free(&r);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "gen") == 0)
    return cmd_gen(argv[2], atoi(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "scan") == 0)
    return cmd_scan(argv[2], atoi(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "mkpatch") == 0)
    return cmd_mkpatch(argv[2], argv[3], atoi(argv[4]));
  if (argc >= 4 && strcmp(argv[1], "patch") == 0)
    return cmd_patch(argv[2], argv[3]);
  fprintf(stderr, "usage: repo_tool gen DIR N | scan DIR RUNS | mkpatch DIR DIFF HUNKS | "
                  "patch DIR DIFF\n");
  return 2;
}
