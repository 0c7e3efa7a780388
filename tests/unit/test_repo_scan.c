/* tests/unit/test_repo_scan.c — repo_scan, repo_read and repo_search on real trees in temporary
 * folders: .gitignore rules, binaries, size limits, path confinement, search limits. */
#include <errno.h>
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

/* Writes rel under root, making folders. */
static void put(const char *rel, const char *data, size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(path, 0755);
    *s = '/';
  }
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  CHECK_EQ_INT(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void puts_(const char *rel, const char *text) {
  put(rel, text, strlen(text));
}

static void fresh_root(void) {
  if (root[0])
    rm_tree(root);
  snprintf(root, sizeof root, "/tmp/agentai-repo-XXXXXX");
  CHECK(mkdtemp(root) != NULL);
}

static const repo_file *find_file(const repo_list *l, const char *path) {
  for (size_t i = 0; i < l->nfiles; i++)
    if (strcmp(l->files[i].path, path) == 0)
      return &l->files[i];
  return NULL;
}

static const char *skip_reason(const repo_list *l, const char *path) {
  for (size_t i = 0; i < l->nskipped; i++)
    if (strcmp(l->skipped[i].path, path) == 0)
      return l->skipped[i].reason;
  return NULL;
}

static void test_scan_basic(void) {
  fresh_root();
  puts_("main.c", "int main(void) {\n  return 0;\n}\n");
  puts_("src/util.h", "#pragma once\nint f(void);"); /* last line without '\n' */
  puts_("src/deep/x.lua", "return 1\n");
  puts_("README.md", "");
  puts_("notes", "a\nb\n");
  puts_(".git/config", "[core]\n");
  puts_(".git/objects/ab", "xx");
  repo_list l;
  char err[1024];
  CHECK_EQ_INT(repo_scan(root, NULL, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 5);
  const repo_file *f = find_file(&l, "main.c");
  CHECK(f != NULL);
  CHECK_EQ_INT(f->lines, 3);
  CHECK_EQ_INT(f->size, 31);
  CHECK(strcmp(f->language, "c") == 0);
  f = find_file(&l, "src/util.h");
  CHECK(f && f->lines == 2 && strcmp(f->language, "h") == 0);
  f = find_file(&l, "src/deep/x.lua");
  CHECK(f && f->lines == 1 && strcmp(f->language, "lua") == 0);
  f = find_file(&l, "README.md");
  CHECK(f && f->lines == 0 && f->size == 0 && strcmp(f->language, "md") == 0);
  f = find_file(&l, "notes");
  CHECK(f && strcmp(f->language, "other") == 0);
  CHECK(find_file(&l, ".git/config") == NULL);
  /* sorted within each folder */
  CHECK(strcmp(l.files[0].path, "README.md") == 0);
  repo_list_free(&l);

  repo_scan_opts o;
  repo_scan_opts_init(&o);
  o.max_files = 2;
  CHECK_EQ_INT(repo_scan(root, &o, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 2);
  CHECK_EQ_INT(l.truncated, 1);
  repo_list_free(&l);

  const char *inc[] = {"*.c", "src/**/*.lua"};
  const char *exc[] = {"deep"};
  repo_scan_opts_init(&o);
  o.include = inc;
  o.ninclude = 2;
  CHECK_EQ_INT(repo_scan(root, &o, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 2);
  CHECK(find_file(&l, "main.c") && find_file(&l, "src/deep/x.lua"));
  repo_list_free(&l);
  o.exclude = exc;
  o.nexclude = 1;
  CHECK_EQ_INT(repo_scan(root, &o, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 1);
  CHECK(find_file(&l, "main.c") != NULL);
  repo_list_free(&l);

  CHECK_EQ_INT(repo_scan("/nonexistent/agentai-nowhere", NULL, &l, err, sizeof err),
               AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(err, "nowhere");
  CHECK_EQ_INT(l.nfiles, 0);
}

static void test_gitignore(void) {
  fresh_root();
  puts_(".gitignore", "# comment\n*.o\nbuild/\n/top.txt\n!keep.o\ndocs/**/*.tmp\nlogs\\ \n"
                      "nested/*.gen\n");
  puts_("a.o", "x\n");
  puts_("keep.o", "x\n");
  puts_("src/b.o", "x\n");
  puts_("src/b.c", "x\n");
  puts_("build/out.c", "x\n");
  puts_("src/build/out.c", "x\n"); /* build/ matches at any depth */
  puts_("build.c", "x\n");         /* not a folder: kept */
  puts_("top.txt", "x\n");
  puts_("src/top.txt", "x\n"); /* anchored: only the top one goes */
  puts_("docs/a/b/c.tmp", "x\n");
  puts_("docs/c.tmp", "x\n"); /* ** matches zero folders */
  puts_("docs/c.md", "x\n");
  puts_("nested/x.gen", "x\n");
  puts_("nested/sub/x.gen", "x\n"); /* pattern with '/' is anchored to its folder */
  puts_("sub/.gitignore", "*.log\n!important.log\n/local.txt\n");
  puts_("sub/a.log", "x\n");
  puts_("sub/important.log", "x\n");
  puts_("sub/local.txt", "x\n");
  puts_("sub/deeper/local.txt", "x\n");
  puts_("other/a.log", "x\n"); /* sub's rules do not reach here */
  repo_list l;
  char err[1024];
  CHECK_EQ_INT(repo_scan(root, NULL, &l, err, sizeof err), 0);
  const char *present[] = {".gitignore",        "keep.o",
                           "src/b.c",           "build.c",
                           "src/top.txt",       "docs/c.md",
                           "nested/sub/x.gen",  "sub/.gitignore",
                           "sub/important.log", "sub/deeper/local.txt",
                           "other/a.log"};
  const char *absent[] = {"a.o",       "src/b.o",        "build/out.c", "src/build/out.c",
                          "top.txt",   "docs/a/b/c.tmp", "docs/c.tmp",  "nested/x.gen",
                          "sub/a.log", "sub/local.txt"};
  for (size_t i = 0; i < sizeof present / sizeof *present; i++) {
    if (!find_file(&l, present[i]))
      fprintf(stderr, "missing %s\n", present[i]);
    CHECK(find_file(&l, present[i]) != NULL);
  }
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
    if (find_file(&l, absent[i]))
      fprintf(stderr, "unexpected %s\n", absent[i]);
    CHECK(find_file(&l, absent[i]) == NULL);
  }
  CHECK_EQ_INT(l.nfiles, sizeof present / sizeof *present);
  repo_list_free(&l);

  repo_scan_opts o;
  repo_scan_opts_init(&o);
  o.honour_gitignore = 0;
  CHECK_EQ_INT(repo_scan(root, &o, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 21);
  repo_list_free(&l);
}

static void test_binary_and_size(void) {
  fresh_root();
  char bin[100] = "text then a NUL";
  bin[50] = '\0';
  put("blob.bin", bin, sizeof bin);
  /* a NUL after the first 8 KiB does not make a file binary */
  char *late = malloc(9000);
  memset(late, 'a', 9000);
  late[8999] = '\0';
  late[100] = '\n';
  put("late.txt", late, 9000);
  char *big = malloc(2 * 1024 * 1024);
  memset(big, '\n', 2 * 1024 * 1024);
  put("big.txt", big, 2 * 1024 * 1024);
  puts_("ok.txt", "fine\n");
  repo_list l;
  char err[1024];
  CHECK_EQ_INT(repo_scan(root, NULL, &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.nfiles, 2);
  CHECK(find_file(&l, "ok.txt") && find_file(&l, "late.txt"));
  CHECK_EQ_INT(find_file(&l, "late.txt")->lines, 2);
  CHECK(skip_reason(&l, "blob.bin") && strcmp(skip_reason(&l, "blob.bin"), "binary") == 0);
  CHECK(skip_reason(&l, "big.txt") && strcmp(skip_reason(&l, "big.txt"), "too large") == 0);
  repo_list_free(&l);
  repo_scan_opts o;
  repo_scan_opts_init(&o);
  o.max_file_bytes = 4 * 1024 * 1024;
  CHECK_EQ_INT(repo_scan(root, &o, &l, err, sizeof err), 0);
  CHECK(find_file(&l, "big.txt") && find_file(&l, "big.txt")->lines == 2 * 1024 * 1024);
  repo_list_free(&l);

  char *text = NULL;
  size_t n = 0;
  CHECK_EQ_INT(repo_read(root, "blob.bin", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "blob.bin");
  CHECK_STR_CONTAINS(err, "binary");
  CHECK(text == NULL);
  free(late);
  free(big);
}

static void test_confinement(void) {
  fresh_root();
  puts_("in.txt", "inside\n");
  puts_("dir/f.txt", "f\n");
  char outside[96];
  snprintf(outside, sizeof outside, "%s-outside", root);
  mkdir(outside, 0755);
  char path[256];
  snprintf(path, sizeof path, "%s/secret.txt", outside);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("secret\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/escape", root);
  CHECK_EQ_INT(symlink(outside, path), 0);
  snprintf(path, sizeof path, "%s/link.txt", root);
  char target[256];
  snprintf(target, sizeof target, "%s/secret.txt", outside);
  CHECK_EQ_INT(symlink(target, path), 0);
  snprintf(path, sizeof path, "%s/inner-link.txt", root);
  CHECK_EQ_INT(symlink("in.txt", path), 0);

  char *text = NULL, err[1024];
  size_t n = 0;
  CHECK_EQ_INT(repo_read(root, "escape/secret.txt", 1, 0, &text, &n, err, sizeof err),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "escape/secret.txt");
  CHECK_STR_CONTAINS(err, "symbolic link");
  CHECK_EQ_INT(repo_read(root, "link.txt", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "link.txt");
  CHECK_STR_CONTAINS(err, "symbolic link");
  CHECK_EQ_INT(repo_read(root, "inner-link.txt", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_read(root, "../x", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "'../x'");
  CHECK_STR_CONTAINS(err, "..");
  CHECK_EQ_INT(repo_read(root, "dir/../../x", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "dir/../../x");
  CHECK_EQ_INT(repo_read(root, "dir/..", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_read(root, "/etc/passwd", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "/etc/passwd");
  CHECK_STR_CONTAINS(err, "absolute");
  CHECK_EQ_INT(repo_read(root, "", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_read(root, "dir//f.txt", 1, 0, &text, &n, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_read(root, "missing.txt", 1, 0, &text, &n, err, sizeof err), AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(err, "missing.txt");
  CHECK(text == NULL);
  /* a name that only starts with two dots is fine */
  puts_("..hidden", "ok\n");
  CHECK_EQ_INT(repo_read(root, "..hidden", 1, 0, &text, &n, err, sizeof err), 0);
  CHECK(strcmp(text, "ok\n") == 0);
  free(text);
  CHECK_EQ_INT(repo_read(root, "./dir/f.txt", 1, 0, &text, &n, err, sizeof err), 0);
  CHECK(strcmp(text, "f\n") == 0);
  free(text);

  /* scans list links as skipped and never walk into them */
  repo_list l;
  CHECK_EQ_INT(repo_scan(root, NULL, &l, err, sizeof err), 0);
  CHECK(find_file(&l, "in.txt") != NULL);
  CHECK(find_file(&l, "escape/secret.txt") == NULL);
  CHECK(find_file(&l, "link.txt") == NULL);
  CHECK(skip_reason(&l, "escape") && strcmp(skip_reason(&l, "escape"), "symlink") == 0);
  CHECK(skip_reason(&l, "link.txt") != NULL);
  repo_list_free(&l);

  /* searching never reads through a link either */
  repo_hits h;
  CHECK_EQ_INT(repo_search(root, "secret", NULL, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 0);
  repo_hits_free(&h);
  rm_tree(outside);
}

static void test_read_ranges(void) {
  fresh_root();
  puts_("f.txt", "one\ntwo\nthree\nfour");
  char *t = NULL, err[1024];
  size_t n = 0;
  CHECK_EQ_INT(repo_read(root, "f.txt", 2, 3, &t, &n, err, sizeof err), 0);
  CHECK(strcmp(t, "two\nthree\n") == 0);
  CHECK_EQ_INT(n, 10);
  free(t);
  CHECK_EQ_INT(repo_read(root, "f.txt", 0, 0, &t, &n, err, sizeof err), 0);
  CHECK(strcmp(t, "one\ntwo\nthree\nfour") == 0);
  free(t);
  CHECK_EQ_INT(repo_read(root, "f.txt", 3, 100, &t, &n, err, sizeof err), 0);
  CHECK(strcmp(t, "three\nfour") == 0);
  free(t);
  CHECK_EQ_INT(repo_read(root, "f.txt", 10, 20, &t, &n, err, sizeof err), 0);
  CHECK_EQ_INT(n, 0);
  free(t);
  CHECK_EQ_INT(repo_read(root, "f.txt", 3, 2, &t, &n, err, sizeof err), 0);
  CHECK_EQ_INT(n, 0);
  free(t);
  CHECK_EQ_INT(repo_read(root, "f.txt", 4, 4, &t, &n, err, sizeof err), 0);
  CHECK(strcmp(t, "four") == 0);
  free(t);
}

static void test_search(void) {
  fresh_root();
  puts_(".gitignore", "ignored/\n");
  puts_("a.c", "int alpha = 1;\nint beta = 2;\n// alpha again\n");
  puts_("b.lua", "local alpha = 'x'\nreturn alpha\n");
  puts_("ignored/c.c", "alpha\n");
  puts_("d.txt", "nothing here\r\nALPHA 42\r\n");
  repo_hits h;
  char err[1024];
  CHECK_EQ_INT(repo_search(root, "alpha", NULL, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 4);
  CHECK_EQ_INT(h.truncated, 0);
  CHECK(strcmp(h.hits[0].path, "a.c") == 0 && h.hits[0].line == 1);
  CHECK(strcmp(h.hits[0].text, "int alpha = 1;") == 0);
  CHECK(strcmp(h.hits[1].path, "a.c") == 0 && h.hits[1].line == 3);
  CHECK(strcmp(h.hits[3].path, "b.lua") == 0 && h.hits[3].line == 2);
  repo_hits_free(&h);

  repo_search_opts o = {0};
  o.max_results = 3;
  CHECK_EQ_INT(repo_search(root, "alpha", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 3);
  CHECK_EQ_INT(h.truncated, 1);
  repo_hits_free(&h);

  const char *globs[] = {"*.lua"};
  o = (repo_search_opts){.globs = globs, .nglobs = 1};
  CHECK_EQ_INT(repo_search(root, "alpha", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 2);
  CHECK(strcmp(h.hits[0].path, "b.lua") == 0);
  repo_hits_free(&h);

  o = (repo_search_opts){.mode = REPO_MATCH_LUA};
  CHECK_EQ_INT(repo_search(root, "^%u+ %d+$", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 1);
  CHECK(strcmp(h.hits[0].path, "d.txt") == 0 && h.hits[0].line == 2);
  CHECK(strcmp(h.hits[0].text, "ALPHA 42") == 0); /* the '\r' is not part of the text */
  repo_hits_free(&h);
  CHECK_EQ_INT(repo_search(root, "int [a-z]+ = %d;", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 2);
  repo_hits_free(&h);
  CHECK_EQ_INT(repo_search(root, "be.-a", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 1);
  CHECK(h.hits[0].line == 2 && strcmp(h.hits[0].path, "a.c") == 0);
  repo_hits_free(&h);
  CHECK_EQ_INT(repo_search(root, "^r%a*n [^b]l?pha?$", &o, &h, err, sizeof err), 0);
  CHECK_EQ_INT(h.count, 1);
  CHECK(strcmp(h.hits[0].text, "return alpha") == 0);
  repo_hits_free(&h);
  CHECK_EQ_INT(repo_search(root, "(alpha)", &o, &h, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "captures");
  CHECK_EQ_INT(repo_search(root, "[abc", &o, &h, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "missing ']'");
  CHECK_EQ_INT(repo_search(root, "%bxy", &o, &h, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_search(root, "abc%", &o, &h, err, sizeof err), AGENTAI_EINVAL);
  CHECK_EQ_INT(repo_search(root, "", NULL, &h, err, sizeof err), AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(err, "empty");
  CHECK_EQ_INT(h.count, 0);
}

static void test_globs(void) {
  CHECK(repo_glob_match("*.c", "a/b/x.c"));
  CHECK(!repo_glob_match("*.c", "a/b/x.h"));
  CHECK(repo_glob_match("src/*.c", "src/x.c"));
  CHECK(!repo_glob_match("src/*.c", "src/a/x.c"));
  CHECK(repo_glob_match("src/**/*.c", "src/x.c"));
  CHECK(repo_glob_match("src/**/*.c", "src/a/b/x.c"));
  CHECK(repo_glob_match("src/**", "src/a/b/x.c"));
  CHECK(!repo_glob_match("src/**", "srcx/a"));
  CHECK(repo_glob_match("**/test_*.c", "tests/unit/test_a.c"));
  CHECK(repo_glob_match("x?[0-9].[!h]", "xa7.c"));
  CHECK(!repo_glob_match("x?[0-9].[!h]", "xa7.h"));
  CHECK(!repo_glob_match("x?[0-9].[!h]", "xab.c"));
  CHECK(repo_glob_match("/top.c", "top.c"));
  CHECK(!repo_glob_match("/top.c", "a/top.c"));
  CHECK(repo_glob_match("[", "["));
}

int main(void) {
  RUN(test_globs);
  RUN(test_scan_basic);
  RUN(test_gitignore);
  RUN(test_binary_and_size);
  RUN(test_confinement);
  RUN(test_read_ranges);
  RUN(test_search);
  rm_tree(root);
  CHECK_DONE();
}
