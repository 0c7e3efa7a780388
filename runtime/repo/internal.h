/* repo/internal.h — helpers shared by the repository tools: messages, confined opens, ignore rules.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

/** Formats a message into err (if non-NULL) and returns code. */
int repo_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Opens root as a directory: a file descriptor or a negative code with a message. */
int repo_open_root(const char *root, char *err, size_t errlen);

/**
 * Opens the folder holding path (checked with repo_path_check) below rootfd, one component
 * at a time with O_NOFOLLOW: a symbolic link on the way is refused. With mkdirs, missing
 * folders are created (their count goes to *created when non-NULL). Returns the folder's
 * descriptor and sets *base to the last component (inside path), or a negative code.
 */
int repo_open_parent(int rootfd, const char *path, int mkdirs, int *created, const char **base,
                     char *err, size_t errlen);

/**
 * Reads the whole regular file path below rootfd (no symlinks) into a malloc'd buffer with a
 * NUL after it. Files above max bytes are AGENTAI_E2BIG. *mode gets the file's permission bits
 * when non-NULL. AGENTAI_ENOENT when it does not exist.
 */
int repo_read_file(int rootfd, const char *path, uint64_t max, char **out, size_t *len,
                   unsigned *mode, char *err, size_t errlen);

/** repo_read_file for the file named base in the folder open at dfd (path is for messages). */
int repo_read_at(int dfd, const char *base, const char *path, uint64_t max, char **out, size_t *len,
                 unsigned *mode, char *err, size_t errlen);

/** Whether the first 8 KiB of data hold a NUL byte. */
int repo_is_binary(const char *data, size_t len);

/** The language of a file by its name ("other" when unknown). */
const char *repo_language(const char *name);

/** Bump allocator for strings that live as long as a scan result. */
char *repo_arena_dup(repo_arena_block **arena, const char *s, size_t len);
/** Frees every block of an arena. */
void repo_arena_free(repo_arena_block **arena);

/** One .gitignore rule. */
typedef struct repo_ignore_rule {
  char *pattern;   /* without '!', leading '/' and trailing '/' */
  int negate;      /* '!' */
  int dir_only;    /* trailing '/' */
  int anchored;    /* had a '/' before its end: matched against the path below base */
  size_t base_len; /* length of the folder (relative to root, with '/') holding the file */
} repo_ignore_rule;

/** The rules in effect while walking: a stack, one frame per folder level. */
typedef struct repo_ignore {
  repo_ignore_rule *rules;
  size_t count, cap;
} repo_ignore;

/** Parses a .gitignore's text and pushes its rules (base is the folder's "a/b/" path). */
int repo_ignore_push(repo_ignore *ig, const char *text, size_t len, size_t base_len);
/** Pops rules back to count n. */
void repo_ignore_pop(repo_ignore *ig, size_t n);
/** Frees the stack. */
void repo_ignore_free(repo_ignore *ig);
/** Whether rel (path from the root) is ignored; is_dir for folders. */
int repo_ignored(const repo_ignore *ig, const char *rel, size_t rel_len, int is_dir);

/**
 * Compiles-free check of a Lua pattern subset (classes, sets, . * + - ?, ^ $): 0 or
 * AGENTAI_EINVAL with a message for captures, %b, %f or a malformed pattern.
 */
int repo_lpat_check(const char *pat, char *err, size_t errlen);
/** Whether the Lua pattern (checked) matches somewhere in s[0..len). */
int repo_lpat_find(const char *pat, const char *s, size_t len);
