/* tests/unit/test_repo_patch.c — repo_patch on real files in temporary folders: multi-file
 * diffs, new/deleted/renamed files, fuzz, atomic rejection, dry runs, malformed diffs. */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentai/plugin.h"
#include "check.h"
#include "repo/repo.h"

static char root[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void rm_tree(const char *dir) {
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(path, 0755);
    *s = '/';
  }
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* The file's content (static buffer), or NULL when it does not exist. */
static const char *get(const char *rel) {
  static char buf[65536];
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static int same(const char *rel, const char *want) {
  const char *got = get(rel);
  if (!got || strcmp(got, want) != 0) {
    fprintf(stderr, "%s is \"%s\", expected \"%s\"\n", rel, got ? got : "(missing)", want);
    return 0;
  }
  return 1;
}

/* Number of entries in a folder (temporary files left behind would show up). */
static int entries(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static void fresh_root(void) {
  if (root[0])
    rm_tree(root);
  snprintf(root, sizeof root, "/tmp/agentai-patch-XXXXXX");
  CHECK(mkdtemp(root) != NULL);
}

static int patch(const char *diff, int dry, repo_patch_result *r, char *err) {
  return repo_patch(root, diff, strlen(diff), dry, -1, r, err, 1024);
}

static const char TEN[] = "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n";

static void test_multi_file(void) {
  fresh_root();
  put("a.txt", TEN);
  put("src/b.c", "int x;\nint y;\nint z;\n");
  const char *diff = "diff --git a/a.txt b/a.txt\n"
                     "index 111..222 100644\n"
                     "--- a/a.txt\n"
                     "+++ b/a.txt\n"
                     "@@ -1,3 +1,3 @@\n"
                     " l1\n"
                     "-l2\n"
                     "+L2\n"
                     " l3\n"
                     "@@ -8,3 +8,4 @@ some function\n"
                     " l8\n"
                     " l9\n"
                     "+l9.5\n"
                     " l10\n"
                     "diff --git a/src/b.c b/src/b.c\n"
                     "--- a/src/b.c\n"
                     "+++ b/src/b.c\n"
                     "@@ -1,3 +1,2 @@\n"
                     " int x;\n"
                     "-int y;\n"
                     " int z;\n";
  repo_patch_result r;
  char err[1024] = "";
  int rc = patch(diff, 0, &r, err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(same("a.txt", "l1\nL2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl9.5\nl10\n"));
  CHECK(same("src/b.c", "int x;\nint z;\n"));
  CHECK_EQ_INT(r.nfiles, 2);
  CHECK(strcmp(r.files[0].path, "a.txt") == 0 && strcmp(r.files[0].status, "modified") == 0);
  CHECK_EQ_INT(r.files[0].added, 2);
  CHECK_EQ_INT(r.files[0].removed, 1);
  CHECK_EQ_INT(r.files[1].added, 0);
  CHECK_EQ_INT(r.files[1].removed, 1);
  repo_patch_result_free(&r);
  CHECK_EQ_INT(entries(""), 2);
  CHECK_EQ_INT(entries("src"), 1);
  /* the same diff again no longer fits */
  CHECK_EQ_INT(patch(diff, 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "a.txt");
  CHECK_STR_CONTAINS(err, "hunk 1");
}

static void test_new_deleted_renamed(void) {
  fresh_root();
  put("old.txt", "bye\nnow\n");
  put("keep.txt", "a\nb\n");
  put("mv/from.txt", "x\ny\n");
  char p[256];
  snprintf(p, sizeof p, "%s/mv/from.txt", root);
  chmod(p, 0750);
  const char *diff = "diff --git a/new/dir/n.txt b/new/dir/n.txt\n"
                     "new file mode 100644\n"
                     "--- /dev/null\n"
                     "+++ b/new/dir/n.txt\n"
                     "@@ -0,0 +1,2 @@\n"
                     "+hello\n"
                     "+world\n"
                     "diff --git a/old.txt b/old.txt\n"
                     "deleted file mode 100644\n"
                     "--- a/old.txt\n"
                     "+++ /dev/null\n"
                     "@@ -1,2 +0,0 @@\n"
                     "-bye\n"
                     "-now\n"
                     "diff --git a/mv/from.txt b/mv/to.txt\n"
                     "similarity index 60%\n"
                     "rename from mv/from.txt\n"
                     "rename to mv/to.txt\n"
                     "--- a/mv/from.txt\n"
                     "+++ b/mv/to.txt\n"
                     "@@ -1,2 +1,2 @@\n"
                     " x\n"
                     "-y\n"
                     "+z\n";
  repo_patch_result r;
  char err[1024] = "";
  int rc = patch(diff, 0, &r, err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(same("new/dir/n.txt", "hello\nworld\n"));
  CHECK(get("old.txt") == NULL);
  CHECK(get("mv/from.txt") == NULL);
  CHECK(same("mv/to.txt", "x\nz\n"));
  struct stat st;
  snprintf(p, sizeof p, "%s/mv/to.txt", root);
  CHECK_EQ_INT(stat(p, &st), 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0750); /* the mode follows the content */
  CHECK_EQ_INT(r.nfiles, 3);
  CHECK(strcmp(r.files[0].status, "added") == 0 && r.files[0].added == 2);
  CHECK(strcmp(r.files[1].status, "deleted") == 0 && r.files[1].removed == 2);
  CHECK(strcmp(r.files[1].path, "old.txt") == 0);
  CHECK(strcmp(r.files[2].status, "renamed") == 0 && strcmp(r.files[2].path, "mv/to.txt") == 0);
  repo_patch_result_free(&r);

  /* a pure rename (no hunks) and a mode-only change (nothing to do) */
  const char *mv = "diff --git a/keep.txt b/kept.txt\n"
                   "similarity index 100%\n"
                   "rename from keep.txt\n"
                   "rename to kept.txt\n"
                   "diff --git a/mv/to.txt b/mv/to.txt\n"
                   "old mode 100644\n"
                   "new mode 100755\n";
  rc = patch(mv, 0, &r, err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(r.nfiles, 1);
  CHECK(strcmp(r.files[0].status, "renamed") == 0 && strcmp(r.files[0].path, "kept.txt") == 0);
  CHECK(get("keep.txt") == NULL);
  CHECK(same("kept.txt", "a\nb\n"));
  repo_patch_result_free(&r);
  CHECK_EQ_INT(patch("diff --git a/kept.txt b/keep.txt\nrename from kept.txt\nrename to keep.txt\n",
                     0, &r, err),
               0);
  repo_patch_result_free(&r);
  /* a new file that exists, a changed file that does not */
  CHECK_EQ_INT(patch("--- /dev/null\n+++ b/keep.txt\n@@ -0,0 +1 @@\n+x\n", 0, &r, err),
               AGENTAI_EEXIST);
  CHECK_STR_CONTAINS(err, "keep.txt");
  CHECK_STR_CONTAINS(err, "file exists");
  CHECK_EQ_INT(patch("--- a/gone.txt\n+++ b/gone.txt\n@@ -1 +1 @@\n-a\n+b\n", 0, &r, err),
               AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(err, "gone.txt");
  CHECK_STR_CONTAINS(err, "file missing");
  /* deleting needs every line */
  CHECK_EQ_INT(patch("--- a/keep.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "keep.txt");
  CHECK(same("keep.txt", "a\nb\n"));
}

static void test_fuzz_offset(void) {
  fresh_root();
  put("f.txt", "new1\nnew2\nl1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n");
  const char *diff = "--- f.txt\n+++ f.txt\n"
                     "@@ -4,3 +4,3 @@\n l3\n-l4\n+L4\n l5\n"
                     "@@ -8,2 +8,2 @@\n l7\n-l8\n+L8\n";
  repo_patch_result r;
  char err[1024] = "";
  int rc = patch(diff, 0, &r, err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(same("f.txt", "new1\nnew2\nl1\nl2\nl3\nL4\nl5\nl6\nl7\nL8\nl9\nl10\n"));
  repo_patch_result_free(&r);
  /* five lines away is beyond the default fuzz of 3 */
  put("g.txt", "n1\nn2\nn3\nn4\nn5\nl1\nl2\nl3\nl4\nl5\n");
  CHECK_EQ_INT(patch("--- g.txt\n+++ g.txt\n@@ -1,2 +1,2 @@\n l1\n-l2\n+X\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "g.txt");
  CHECK_STR_CONTAINS(err, "hunk 1 (@@ -1,2 +1,2 @@)");
  CHECK_STR_CONTAINS(err, "context mismatch at line 1: expected \"l1\", found \"n1\"");
  /* with a larger fuzz it applies */
  const char *d2 = "--- g.txt\n+++ g.txt\n@@ -1,2 +1,2 @@\n l1\n-l2\n+X\n";
  CHECK_EQ_INT(repo_patch(root, d2, strlen(d2), 0, 5, &r, err, sizeof err), 0);
  CHECK(same("g.txt", "n1\nn2\nn3\nn4\nn5\nl1\nX\nl3\nl4\nl5\n"));
  repo_patch_result_free(&r);
}

/* The third hunk fails: no file changes, no temporary file stays, no folder is created. */
static void test_atomic_rejection(void) {
  fresh_root();
  put("one.txt", TEN);
  put("two.txt", "a\nb\nc\n");
  const char *diff = "--- a/one.txt\n+++ b/one.txt\n"
                     "@@ -1,2 +1,2 @@\n-l1\n+X1\n l2\n"
                     "@@ -5,2 +5,2 @@\n l5\n-l6\n+X6\n"
                     "--- /dev/null\n+++ b/made/up/new.txt\n@@ -0,0 +1 @@\n+new\n"
                     "--- a/two.txt\n+++ b/two.txt\n"
                     "@@ -1,3 +1,3 @@\n a\n-B\n+b2\n c\n";
  repo_patch_result r;
  char err[1024] = "";
  CHECK_EQ_INT(patch(diff, 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "two.txt");
  CHECK_STR_CONTAINS(err, "hunk 1 (@@ -1,3 +1,3 @@)");
  CHECK_STR_CONTAINS(err, "expected \"B\", found \"b\"");
  CHECK(same("one.txt", TEN));
  CHECK(same("two.txt", "a\nb\nc\n"));
  CHECK(get("made/up/new.txt") == NULL);
  CHECK_EQ_INT(entries(""), 2);
  CHECK_EQ_INT(r.nfiles, 0);

  /* the third hunk of one file */
  const char *d3 = "--- a/one.txt\n+++ b/one.txt\n"
                   "@@ -1,2 +1,2 @@\n-l1\n+X1\n l2\n"
                   "@@ -4,2 +4,2 @@\n l4\n-l5\n+X5\n"
                   "@@ -8,3 +8,3 @@\n l8\n-l9 changed\n+X9\n l10\n"
                   "--- a/two.txt\n+++ b/two.txt\n@@ -1 +1 @@\n-a\n+A\n";
  CHECK_EQ_INT(patch(d3, 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "file 'one.txt', hunk 3 (@@ -8,3 +8,3 @@)");
  CHECK_STR_CONTAINS(err, "context mismatch at line 9: expected \"l9 changed\", found \"l9\"");
  CHECK(same("one.txt", TEN));
  CHECK(same("two.txt", "a\nb\nc\n"));
  CHECK_EQ_INT(entries(""), 2);
}

static void test_dry_run(void) {
  fresh_root();
  put("a.txt", "1\n2\n3\n");
  const char *diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,4 @@\n 1\n+1.5\n 2\n-3\n+three\n"
                     "--- /dev/null\n+++ b/d/new.txt\n@@ -0,0 +1 @@\n+n\n";
  repo_patch_result r;
  char err[1024] = "";
  CHECK_EQ_INT(patch(diff, 1, &r, err), 0);
  CHECK_EQ_INT(r.nfiles, 2);
  CHECK_EQ_INT(r.files[0].added, 2);
  CHECK_EQ_INT(r.files[0].removed, 1);
  CHECK(strcmp(r.files[1].status, "added") == 0);
  repo_patch_result_free(&r);
  CHECK(same("a.txt", "1\n2\n3\n"));
  CHECK(get("d/new.txt") == NULL);
  CHECK_EQ_INT(entries(""), 1);
  CHECK_EQ_INT(patch(diff, 0, &r, err), 0);
  CHECK(same("a.txt", "1\n1.5\n2\nthree\n"));
  CHECK(same("d/new.txt", "n\n"));
  repo_patch_result_free(&r);
}

static void test_no_newline(void) {
  fresh_root();
  put("a.txt", "x\ny");
  const char *add_nl = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n x\n-y\n"
                       "\\ No newline at end of file\n+y\n";
  repo_patch_result r;
  char err[1024] = "";
  CHECK_EQ_INT(patch(add_nl, 0, &r, err), 0);
  CHECK(same("a.txt", "x\ny\n"));
  repo_patch_result_free(&r);
  const char *drop_nl = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"
                        "\\ No newline at end of file\n";
  CHECK_EQ_INT(patch(drop_nl, 0, &r, err), 0);
  CHECK(same("a.txt", "x\nz"));
  repo_patch_result_free(&r);
  /* a file without a final newline keeps that when the change is elsewhere */
  put("b.txt", "1\n2\n3\n4\n5");
  CHECK_EQ_INT(patch("--- b.txt\n+++ b.txt\n@@ -1,2 +1,2 @@\n-1\n+one\n 2\n", 0, &r, err), 0);
  CHECK(same("b.txt", "one\n2\n3\n4\n5"));
  repo_patch_result_free(&r);
  /* CRLF files keep their line ends for context, and match an LF diff */
  put("c.txt", "a\r\nb\r\nc\r\n");
  CHECK_EQ_INT(patch("--- c.txt\n+++ c.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\r\n c\n", 0, &r, err), 0);
  CHECK(same("c.txt", "a\r\nB\r\nc\r\n"));
  repo_patch_result_free(&r);
}

static void test_malformed(void) {
  fresh_root();
  put("a.txt", "1\n2\n");
  repo_patch_result r;
  char err[1024] = "";
  CHECK_EQ_INT(patch("", 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "no file changes");
  CHECK_EQ_INT(patch("just some text\nno diff here\n", 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "no file changes");
  CHECK_EQ_INT(patch("--- a/a.txt\n+++ b/a.txt\n@@ -1,x +1 @@\n-1\n+2\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "line 3");
  CHECK_STR_CONTAINS(err, "bad hunk header");
  CHECK_EQ_INT(patch("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n 1\n-2\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "ends inside the hunk");
  CHECK_STR_CONTAINS(err, "a.txt");
  CHECK_EQ_INT(patch("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n 1\n*2\n+3\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "line 5 '*2' does not fit the hunk");
  CHECK_EQ_INT(patch("@@ -1 +1 @@\n-1\n+2\n", 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "hunk header before any");
  CHECK_EQ_INT(patch("--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+x\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "/dev/null");
  CHECK_EQ_INT(
      patch("diff --git a/x.png b/x.png\nBinary files a/x.png and b/x.png differ\n", 0, &r, err),
      AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "binary");
  CHECK_EQ_INT(patch("--- a/a.txt\n+++ b/a.txt\n", 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "no hunks");
  /* a hunk whose place is past the end of the file */
  CHECK_EQ_INT(patch("--- /dev/null\n+++ b/n.txt\n@@ -4,0 +1 @@\n+x\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "file 'n.txt', hunk 1 (@@ -4,0 +1 @@): it starts at line 5, outside");
  CHECK(get("n.txt") == NULL);
  /* paths leaving the root */
  CHECK_EQ_INT(patch("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-1\n+2\n", 0, &r, err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "'../x'");
  CHECK_EQ_INT(patch("--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-1\n+2\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "absolute");
  CHECK_EQ_INT(patch("--- /dev/null\n+++ b/sub/../../evil\n@@ -0,0 +1 @@\n+x\n", 0, &r, err),
               AGENTAI_EINVAL);
  char outside[96], p[256];
  snprintf(outside, sizeof outside, "%s-out", root);
  mkdir(outside, 0755);
  snprintf(p, sizeof p, "%s/link", root);
  CHECK_EQ_INT(symlink(outside, p), 0);
  CHECK_EQ_INT(patch("--- /dev/null\n+++ b/link/evil.txt\n@@ -0,0 +1 @@\n+x\n", 0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "link/evil.txt");
  CHECK_STR_CONTAINS(err, "symbolic link");
  CHECK_EQ_INT(entries("link"), 0);
  CHECK_EQ_INT(patch("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-1\n+2\n"
                     "--- a/a.txt\n+++ b/a.txt\n@@ -2 +2 @@\n-2\n+3\n",
                     0, &r, err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "twice");
  CHECK(same("a.txt", "1\n2\n"));
  CHECK_EQ_INT(r.nfiles, 0);
  rm_tree(outside);
}

/* Many hunks in one file, each shifted: the offset carries from hunk to hunk. */
static void test_many_hunks(void) {
  fresh_root();
  char *orig = malloc(200000), *diff = malloc(400000);
  size_t o = 0, d = 0;
  for (int i = 1; i <= 3000; i++)
    o += (size_t)sprintf(orig + o, "line %d\n", i);
  put("big.txt", orig);
  d += (size_t)sprintf(diff + d, "--- a/big.txt\n+++ b/big.txt\n");
  for (int k = 0; k < 100; k++) {
    int at = 10 + k * 29; /* lines at, at+1, at+2 */
    d += (size_t)sprintf(diff + d,
                         "@@ -%d,3 +%d,4 @@\n line %d\n-line %d\n+LINE %d\n+extra %d\n line %d\n",
                         at, at + k, at, at + 1, at + 1, k, at + 2);
  }
  repo_patch_result r;
  char err[1024] = "";
  int rc = patch(diff, 0, &r, err);
  if (rc)
    fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(r.files[0].added, 200);
  CHECK_EQ_INT(r.files[0].removed, 100);
  repo_patch_result_free(&r);
  const char *got = get("big.txt");
  CHECK_STR_CONTAINS(got, "line 10\nLINE 11\nextra 0\nline 12\n");
  CHECK_STR_CONTAINS(got, "LINE 2882\nextra 99\nline 2883\n");
  free(orig);
  free(diff);
}

int main(void) {
  RUN(test_multi_file);
  RUN(test_new_deleted_renamed);
  RUN(test_fuzz_offset);
  RUN(test_atomic_rejection);
  RUN(test_dry_run);
  RUN(test_no_newline);
  RUN(test_malformed);
  RUN(test_many_hunks);
  rm_tree(root);
  CHECK_DONE();
}
