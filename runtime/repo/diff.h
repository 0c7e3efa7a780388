/* repo/diff.h — the parsed form of a unified diff (internal to repo_patch and its fuzz target). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "repo/internal.h"

/** One line of a hunk: ' ', '-' or '+', its text without the '\n' (borrowed from the diff). */
typedef struct repo_diff_line {
  char type;
  int no_newline; /* followed by "\ No newline at end of file" */
  const char *text;
  size_t len;
} repo_diff_line;

/** One "@@ -a,b +c,d @@" hunk: its lines are d->lines[first .. first+n). */
typedef struct repo_diff_hunk {
  uint64_t old_start, old_count, new_start, new_count;
  const char *header; /* "@@ ... @@" (borrowed) */
  size_t header_len;
  size_t number; /* 1-based within its file */
  size_t first, n;
} repo_diff_hunk;

/** One file of the diff. A NULL path is /dev/null (or unknown). */
typedef struct repo_diff_file {
  char *old_path, *new_path;
  int is_new, is_delete;
  int has_headers; /* saw ---/+++ */
  int mode_only;   /* a git header without content changes: skipped */
  size_t header_line;
  repo_diff_hunk *hunks;
  size_t nhunks, cap_hunks;
} repo_diff_file;

/** A parsed diff; text it borrows must outlive it. */
typedef struct repo_diff {
  repo_diff_file *files;
  size_t nfiles, cap_files;
  repo_diff_line *lines;
  size_t nlines, cap_lines;
} repo_diff;

/** Parses text (len bytes, no NUL needed). 0, or AGENTAI_EINVAL with a message naming the line. */
int repo_diff_parse(const char *text, size_t len, repo_diff *d, char *err, size_t errlen);
/** Frees what repo_diff_parse allocated. */
void repo_diff_free(repo_diff *d);
