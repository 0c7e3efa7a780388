/* repo/repo.h — repository tools for coding agents: scan, read, search and atomic patching of a
 * source tree confined to a root directory. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Every function here is blocking and touches no global state: it may run on
 * a worker thread. Paths given to them are relative to `root`: absolute
 * paths, ".." components and symbolic links anywhere below the root are
 * refused with AGENTAI_EINVAL and a message naming the path and the reason.
 * The root itself is trusted (a deployment confines workflows to it with its
 * sandbox). Errors are 0 or a negative AGENTAI_E* code; when err is non-NULL
 * it receives a sentence (errlen of 1024 is enough for every message).
 */

/** Options of repo_scan; start from repo_scan_opts_init(). */
typedef struct repo_scan_opts {
  uint64_t max_file_bytes;    /**< larger files are skipped ("too large"); default 1 MiB */
  size_t max_files;           /**< stop after this many files (0 = no limit) */
  int honour_gitignore;       /**< read .gitignore at every level; default 1 */
  const char *const *include; /**< globs a file must match one of (NULL/0 = all files) */
  size_t ninclude;            /**< entries in include */
  const char *const *exclude; /**< globs excluding files and whole directories */
  size_t nexclude;            /**< entries in exclude */
} repo_scan_opts;

/** One text file found by repo_scan. Strings live in the list's arena. */
typedef struct repo_file {
  const char *path;     /**< relative to the root, '/'-separated */
  uint64_t size;        /**< bytes */
  const char *language; /**< "c", "lua", "py", ... or "other" (static string) */
  uint64_t lines;       /**< '\n' count, plus one for a last line without one */
} repo_file;

/** A file repo_scan left out, and why ("binary", "too large", "symlink", "unreadable"). */
typedef struct repo_skip {
  const char *path;
  const char *reason; /**< static string */
} repo_skip;

typedef struct repo_arena_block repo_arena_block;

/** What repo_scan found; release with repo_list_free. */
typedef struct repo_list {
  repo_file *files;
  size_t nfiles;
  repo_skip *skipped;
  size_t nskipped;
  int truncated; /**< max_files was reached */
  size_t cap_files, cap_skipped;
  repo_arena_block *arena; /* path strings, a few large blocks */
} repo_list;

/** Fills o with the defaults (1 MiB, no file limit, .gitignore honoured, no globs). */
void repo_scan_opts_init(repo_scan_opts *o);

/**
 * Lists every regular file under root (sorted by path within each folder), honouring
 * .gitignore files (patterns, '!', trailing '/', leading '/', '**'), always skipping .git/.
 * Binary files (a NUL byte in the first 8 KiB) and files above max_file_bytes are listed
 * in skipped. opts may be NULL (defaults). Returns 0 or a negative code; *out is always
 * initialised and must be freed with repo_list_free.
 */
int repo_scan(const char *root, const repo_scan_opts *opts, repo_list *out, char *err,
              size_t errlen);

/** Frees what repo_scan stored in l (l itself is the caller's). */
void repo_list_free(repo_list *l);

/**
 * Reads lines from_line..to_line (1-based, inclusive; clamped to the file; to_line 0 = to the
 * end) of root/path into *out (malloc'd, NUL-terminated, *out_len bytes). Refuses binary files
 * and files above 64 MiB. Returns 0 or a negative code.
 */
int repo_read(const char *root, const char *path, uint64_t from_line, uint64_t to_line, char **out,
              size_t *out_len, char *err, size_t errlen);

/** How repo_search matches each line. */
enum repo_match_mode {
  REPO_MATCH_LITERAL = 0, /**< plain substring */
  REPO_MATCH_LUA = 1      /**< a Lua pattern without captures, %b or %f (matched in C) */
};

/** Options of repo_search. */
typedef struct repo_search_opts {
  int mode;                 /**< enum repo_match_mode */
  const char *const *globs; /**< paths must match one (NULL/0 = all); see repo_glob_match */
  size_t nglobs;            /**< entries in globs */
  size_t max_results;       /**< 0 = 1000 */
  uint64_t max_file_bytes;  /**< 0 = 1 MiB; larger files are not searched */
} repo_search_opts;

/** One matching line. */
typedef struct repo_hit {
  char *path;
  uint64_t line; /**< 1-based */
  char *text;    /**< the line without its '\n', cut at 400 bytes */
} repo_hit;

/** What repo_search found; release with repo_hits_free. */
typedef struct repo_hits {
  repo_hit *hits;
  size_t count;
  int truncated; /**< max_results was reached */
} repo_hits;

/**
 * Searches every file repo_scan would list (with .gitignore) for pattern, in path order.
 * opts may be NULL (literal, 1000 results). An empty pattern or a malformed Lua pattern is
 * AGENTAI_EINVAL. *out is always initialised; free it with repo_hits_free.
 */
int repo_search(const char *root, const char *pattern, const repo_search_opts *opts, repo_hits *out,
                char *err, size_t errlen);

/** Frees the hits of repo_search. */
void repo_hits_free(repo_hits *h);

/** What a patch did (or, on a dry run, would do) to one file. */
typedef struct repo_patch_file {
  char *path;         /**< the file's path after the patch (the old one when deleted) */
  const char *status; /**< "modified", "added", "deleted" or "renamed" (static) */
  uint64_t added;     /**< '+' lines */
  uint64_t removed;   /**< '-' lines */
} repo_patch_file;

/** The result of repo_patch; release with repo_patch_result_free. */
typedef struct repo_patch_result {
  repo_patch_file *files;
  size_t nfiles;
} repo_patch_result;

/**
 * Applies a unified diff (git or plain style; a/ b/ prefixes; /dev/null for created and
 * deleted files; "\ No newline at end of file") under root. Each hunk may apply up to
 * `fuzz` lines away from where it says (negative = the default, 3). All or nothing: every
 * changed file is first written to a temporary file in its own folder, and only when every
 * hunk of every file applied are they renamed into place. On failure nothing changes and
 * err names the file, the hunk (1-based), its header and the reason; AGENTAI_EINVAL for a
 * malformed diff or a rejected hunk, AGENTAI_ENOENT for a missing file, AGENTAI_EEXIST for
 * a new file that exists. dry_run checks everything and writes nothing.
 */
int repo_patch(const char *root, const char *diff, size_t diff_len, int dry_run, int fuzz,
               repo_patch_result *out, char *err, size_t errlen);

/** Frees the result of repo_patch. */
void repo_patch_result_free(repo_patch_result *r);

/**
 * Glob match of a '/'-separated path: '*' and '?' stop at '/', '[a-z]' / '[!x]' classes,
 * '**' crosses folders ("a/" + "**" is everything below a, "**" + "/b" is b at any depth). A glob
 * without '/' is matched against the last component only. 1 on a match, else 0.
 */
int repo_glob_match(const char *glob, const char *path);

/**
 * Checks that path is a relative path that stays inside the root: not empty, not
 * absolute, no ".." component, no empty component other than a trailing '/'. 0 or
 * AGENTAI_EINVAL with a message naming the path.
 */
int repo_path_check(const char *path, char *err, size_t errlen);
