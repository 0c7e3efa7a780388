/* lua/lib_repo.c — ai.repo: scan, read, search and patch a source tree from a workflow; the file
 * work runs on the libuv thread pool while the calling fiber waits. */
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "lua/internal.h"
#include "lua/ljson.h"
#include "repo/repo.h"

#define REPO_MAX_GLOBS 64

enum repo_job_kind { JOB_SCAN, JOB_READ, JOB_SEARCH, JOB_PATCH };

/* Everything a job needs, copied off the Lua stack: the worker thread never touches Lua. */
typedef struct repo_job {
  uv_work_t req;
  lh_op *op;
  lh_jcall *jc; /* when the task has a journal: where the outcome is recorded */
  int kind;
  char *root, *arg; /* arg: path, pattern or diff */
  size_t arg_len;
  char *globs[REPO_MAX_GLOBS], *excludes[REPO_MAX_GLOBS];
  size_t nglobs, nexcludes;
  repo_scan_opts scan;
  repo_search_opts search;
  uint64_t from, to;
  int dry_run, fuzz;
  int rc;
  char err[1024];
  repo_list list;
  char *text;
  size_t text_len;
  repo_hits hits;
  repo_patch_result patch;
} repo_job;

typedef struct repo_op {
  repo_job *job;
} repo_op;

static void job_free(repo_job *j) {
  if (!j)
    return;
  free(j->root);
  free(j->arg);
  for (size_t i = 0; i < j->nglobs; i++)
    free(j->globs[i]);
  for (size_t i = 0; i < j->nexcludes; i++)
    free(j->excludes[i]);
  repo_list_free(&j->list);
  free(j->text);
  repo_hits_free(&j->hits);
  repo_patch_result_free(&j->patch);
  free(j->jc);
  free(j);
}

static void job_work(uv_work_t *req) {
  repo_job *j = req->data;
  switch (j->kind) {
    case JOB_SCAN:
      j->scan.include = (const char *const *)j->globs;
      j->scan.ninclude = j->nglobs;
      j->scan.exclude = (const char *const *)j->excludes;
      j->scan.nexclude = j->nexcludes;
      j->rc = repo_scan(j->root, &j->scan, &j->list, j->err, sizeof j->err);
      break;
    case JOB_READ:
      j->rc =
          repo_read(j->root, j->arg, j->from, j->to, &j->text, &j->text_len, j->err, sizeof j->err);
      break;
    case JOB_SEARCH:
      j->search.globs = (const char *const *)j->globs;
      j->search.nglobs = j->nglobs;
      j->rc = repo_search(j->root, j->arg, &j->search, &j->hits, j->err, sizeof j->err);
      break;
    default:
      j->rc = repo_patch(j->root, j->arg, j->arg_len, j->dry_run, j->fuzz, &j->patch, j->err,
                         sizeof j->err);
  }
}

static void job_after(uv_work_t *req, int status) {
  repo_job *j = req->data;
  if (status == UV_ECANCELED && j->rc == 0) {
    j->rc = AGENTAI_ECANCELED;
    snprintf(j->err, sizeof j->err, "cancelled");
  }
  lh_op_complete(j->op); /* frees the op (and the job) when the workflow already ended */
}

static void repo_release(lh_op *op) {
  repo_op *r = op->data;
  job_free(r->job);
  r->job = NULL;
}

static const char *job_name(int kind) {
  static const char *const names[] = {"ai.repo.scan", "ai.repo.read", "ai.repo.search",
                                      "ai.repo.patch"};
  return names[kind];
}

static int push_outcome(lua_State *L, lh_op *op) {
  repo_job *j = ((repo_op *)op->data)->job;
  if (j->rc < 0) {
    lh_push_error(L, j->rc, lua_pushfstring(L, "%s: %s", job_name(j->kind), j->err), -1);
    lua_remove(L, -2);
    if (j->kind == JOB_PATCH &&
        (j->rc == AGENTAI_EINVAL || j->rc == AGENTAI_ENOENT || j->rc == AGENTAI_EEXIST)) {
      lua_pushliteral(L, "patch_rejected");
      lua_setfield(L, -2, "kind");
    }
    return 0;
  }
  switch (j->kind) {
    case JOB_SCAN: {
      lua_createtable(L, 0, 3);
      lua_createtable(L, (int)j->list.nfiles, 0);
      for (size_t i = 0; i < j->list.nfiles; i++) {
        const repo_file *f = &j->list.files[i];
        lua_createtable(L, 0, 4);
        lua_pushstring(L, f->path);
        lua_setfield(L, -2, "path");
        lua_pushinteger(L, (lua_Integer)f->size);
        lua_setfield(L, -2, "size");
        lua_pushstring(L, f->language);
        lua_setfield(L, -2, "language");
        lua_pushinteger(L, (lua_Integer)f->lines);
        lua_setfield(L, -2, "lines");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      lua_setfield(L, -2, "files");
      lua_createtable(L, (int)j->list.nskipped, 0);
      for (size_t i = 0; i < j->list.nskipped; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, j->list.skipped[i].path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, j->list.skipped[i].reason);
        lua_setfield(L, -2, "reason");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      lua_setfield(L, -2, "skipped");
      lua_pushboolean(L, j->list.truncated);
      lua_setfield(L, -2, "truncated");
      return 1;
    }
    case JOB_READ:
      lua_pushlstring(L, j->text, j->text_len);
      return 1;
    case JOB_SEARCH:
      lua_createtable(L, (int)j->hits.count, 0);
      for (size_t i = 0; i < j->hits.count; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, j->hits.hits[i].path);
        lua_setfield(L, -2, "path");
        lua_pushinteger(L, (lua_Integer)j->hits.hits[i].line);
        lua_setfield(L, -2, "line");
        lua_pushstring(L, j->hits.hits[i].text);
        lua_setfield(L, -2, "text");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      return 1;
    default:
      lua_createtable(L, 0, 2);
      lua_createtable(L, (int)j->patch.nfiles, 0);
      for (size_t i = 0; i < j->patch.nfiles; i++) {
        const repo_patch_file *f = &j->patch.files[i];
        lua_createtable(L, 0, 4);
        lua_pushstring(L, f->path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, f->status);
        lua_setfield(L, -2, "status");
        lua_pushinteger(L, (lua_Integer)f->added);
        lua_setfield(L, -2, "added");
        lua_pushinteger(L, (lua_Integer)f->removed);
        lua_setfield(L, -2, "removed");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      lua_setfield(L, -2, "files");
      lua_pushboolean(L, j->dry_run);
      lua_setfield(L, -2, "dry_run");
      return 1;
  }
}

/* Pushes the outcome and, in a task, records it in the journal: a resumed task gets the
 * same answers instead of touching the files again (a patch would no longer apply). The
 * entry is written in order before every later write of the task, not awaited: a crash
 * between a patch and its entry makes the replay apply it again, which is then rejected. */
static int repo_push(lua_State *L, lh_op *op) {
  repo_job *j = ((repo_op *)op->data)->job;
  int ok = push_outcome(L, op);
  if (!j->jc)
    return ok;
  char *json = NULL, why[128];
  size_t len = 0, elen = 0;
  char *entry = NULL;
  if (!ok) {
    const char *msg = j->err;
    entry = lh_journal_encode(j->jc, NULL, 0, j->rc, msg, -1, &elen);
  } else if (ljson_encode(L, -1, &json, &len, why, sizeof why) == 0) {
    entry = lh_journal_encode(j->jc, json, len, 0, NULL, -1, &elen);
    free(json);
  }
  if (entry)
    lh_journal_write(lh_vm_of(L), j->jc, entry, elen, NULL, NULL);
  return ok;
}

/* ---- argument parsing (on the loop thread; raises before anything is started) ---- */

/* Refuses option names the function does not know: a typo must not be silently ignored. */
static void check_fields(lua_State *L, int idx, const char *what, const char *const *known,
                         const char *list) {
  if (lua_isnoneornil(L, idx))
    return;
  if (!lua_istable(L, idx))
    lh_raise(L, AGENTAI_EINVAL, lua_pushfstring(L, "%s: options must be a table", what), -1);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int ok = 0;
    for (int i = 0; known[i] && lua_type(L, -1) == LUA_TSTRING; i++)
      if (strcmp(lua_tostring(L, -1), known[i]) == 0)
        ok = 1;
    if (!ok)
      lh_raise(L, AGENTAI_EINVAL,
               lua_pushfstring(L, "%s: unknown option '%s' (options: %s)", what,
                               luaL_tolstring(L, -1, NULL), list),
               -1);
  }
}

/* opts[name] as a non-negative integer, or def when absent. */
static lua_Integer opt_int(lua_State *L, int idx, const char *name, lua_Integer def,
                           const char *what) {
  if (lua_isnoneornil(L, idx))
    return def;
  lua_getfield(L, idx, name);
  lua_Integer v = def;
  if (!lua_isnil(L, -1)) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      lh_raise(L, AGENTAI_EINVAL,
               lua_pushfstring(L, "%s: %s must be a non-negative integer", what, name), -1);
    v = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int idx, const char *name, int def) {
  if (lua_isnoneornil(L, idx))
    return def;
  lua_getfield(L, idx, name);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* opts[name]: a glob string or a list of them, copied into out. */
static void opt_globs(lua_State *L, int idx, const char *name, char **out, size_t *n,
                      const char *what) {
  if (lua_isnoneornil(L, idx))
    return;
  int t = lua_getfield(L, idx, name);
  int top = lua_gettop(L);
  size_t count = t == LUA_TSTRING ? 1 : t == LUA_TTABLE ? lua_rawlen(L, top) : 0;
  if ((t != LUA_TNIL && t != LUA_TSTRING && t != LUA_TTABLE) || count > REPO_MAX_GLOBS)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L, "%s: %s must be a glob or a list of at most 64 globs", what, name),
             -1);
  for (size_t i = 0; i < count; i++) {
    if (t == LUA_TTABLE)
      lua_rawgeti(L, top, (lua_Integer)i + 1);
    else
      lua_pushvalue(L, top);
    if (lua_type(L, -1) != LUA_TSTRING)
      lh_raise(L, AGENTAI_EINVAL, lua_pushfstring(L, "%s: %s must hold strings", what, name), -1);
    if (!(out[*n] = strdup(lua_tostring(L, -1))))
      lh_raise(L, AGENTAI_ENOMEM, "out of memory", -1); /* the job's userdata frees it */
    (*n)++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The job is anchored in a userdata while arguments are parsed, so a raise frees it. */
static int job_gc(lua_State *L) {
  repo_job **slot = lua_touserdata(L, 1);
  job_free(*slot);
  *slot = NULL;
  return 0;
}

static repo_job *job_new(lua_State *L, int kind) {
  repo_job **slot = lua_newuserdatauv(L, sizeof *slot, 0);
  *slot = NULL;
  if (luaL_newmetatable(L, "agentai.repo_job")) {
    lua_pushcfunction(L, job_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  repo_job *j = calloc(1, sizeof *j);
  if (!j)
    lh_raise(L, AGENTAI_ENOMEM, "out of memory", -1);
  *slot = j;
  j->kind = kind;
  size_t n = 0;
  const char *root = luaL_checklstring(L, 1, &n);
  if (n == 0 || strlen(root) != n)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L, "%s: root must be a non-empty path", job_name(kind)), -1);
  if (!(j->root = strdup(root)))
    lh_raise(L, AGENTAI_ENOMEM, "out of memory", -1);
  return j;
}

static void job_set_arg(lua_State *L, repo_job *j, int idx, const char *name) {
  size_t n = 0;
  const char *s = lua_tolstring(L, idx, &n);
  if (lua_type(L, idx) != LUA_TSTRING)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L, "%s: %s must be a string", job_name(j->kind), name), -1);
  if (j->kind != JOB_PATCH && strlen(s) != n)
    lh_raise(L, AGENTAI_EINVAL,
             lua_pushfstring(L, "%s: %s holds a NUL byte", job_name(j->kind), name), -1);
  if (!(j->arg = malloc(n + 1)))
    lh_raise(L, AGENTAI_ENOMEM, "out of memory", -1);
  memcpy(j->arg, s, n + 1);
  j->arg_len = n;
}

/* Hands the job (at the userdata at stack index slot_idx) to the thread pool and waits. */
static int job_start(lua_State *L, int slot_idx) {
  repo_job **slot = lua_touserdata(L, slot_idx);
  repo_job *j = *slot;
  lh_vm *vm = lh_vm_of(L);
  /* The call's identity for the journal: what it works on, with which options. */
  static const char *const kinds[] = {"repo.scan", "repo.read", "repo.search", "repo.patch"};
  uint64_t h = lh_journal_hash(0, j->root, strlen(j->root));
  if (j->arg)
    h = lh_journal_hash(h, j->arg, j->arg_len);
  int64_t opts[] = {(int64_t)j->from, (int64_t)j->to,          j->dry_run,
                    j->fuzz,          (int64_t)j->search.mode, (int64_t)j->search.max_results};
  h = lh_journal_hash(h, opts, sizeof opts);
  lh_jcall jc;
  if (lh_journal_begin(L, kinds[j->kind], h, &jc))
    return lh_journal_replay(L, &jc); /* the job stays with its userdata: the GC frees it */
  if (jc.active) {
    if (!(j->jc = malloc(sizeof jc)))
      return lh_raise(L, AGENTAI_ENOMEM, "out of memory", -1);
    *j->jc = jc;
  }
  lh_op *op = lh_op_begin(L, job_name(j->kind), sizeof(repo_op), repo_push);
  *slot = NULL; /* the op owns it from here */
  ((repo_op *)op->data)->job = j;
  op->release = repo_release;
  /* Work on the pool cannot be stopped once it runs: if the workflow ends, the op is
   * detached (cancel stays NULL) and job_after frees it. */
  j->op = op;
  j->req.data = j;
  int rc = uv_queue_work(vm->svc->loop, &j->req, job_work, job_after);
  if (rc != 0) {
    lh_op_abort(op);
    return lh_raise(
        L, AGENTAI_EIO,
        lua_pushfstring(L, "%s: cannot queue the work: %s", job_name(j->kind), uv_strerror(rc)),
        -1);
  }
  return lh_op_await(L, op);
}

/* ai.repo.scan(root, {max_file_bytes=, max_files=, gitignore=true, include=, exclude=}) */
static int repo_scan_l(lua_State *L) {
  static const char *const known[] = {"max_file_bytes", "max_files", "gitignore",
                                      "include",        "exclude",   NULL};
  lua_settop(L, 2);
  check_fields(L, 2, "ai.repo.scan", known,
               "max_file_bytes, max_files, gitignore, include, exclude");
  repo_job *j = job_new(L, JOB_SCAN);
  repo_scan_opts_init(&j->scan);
  j->scan.max_file_bytes = (uint64_t)opt_int(L, 2, "max_file_bytes",
                                             (lua_Integer)j->scan.max_file_bytes, "ai.repo.scan");
  j->scan.max_files = (size_t)opt_int(L, 2, "max_files", 0, "ai.repo.scan");
  j->scan.honour_gitignore = opt_bool(L, 2, "gitignore", 1);
  opt_globs(L, 2, "include", j->globs, &j->nglobs, "ai.repo.scan");
  opt_globs(L, 2, "exclude", j->excludes, &j->nexcludes, "ai.repo.scan");
  return job_start(L, 3);
}

/* ai.repo.read(root, path, {from=1, to=}) -> text */
static int repo_read_l(lua_State *L) {
  static const char *const known[] = {"from", "to", NULL};
  lua_settop(L, 3);
  check_fields(L, 3, "ai.repo.read", known, "from, to");
  repo_job *j = job_new(L, JOB_READ);
  job_set_arg(L, j, 2, "path");
  j->from = (uint64_t)opt_int(L, 3, "from", 1, "ai.repo.read");
  j->to = (uint64_t)opt_int(L, 3, "to", 0, "ai.repo.read");
  return job_start(L, 4);
}

/* ai.repo.search(root, pattern, {plain=true, glob=, limit=1000}) -> {{path, line, text}} */
static int repo_search_l(lua_State *L) {
  static const char *const known[] = {"plain", "glob", "limit", "max_file_bytes", NULL};
  lua_settop(L, 3);
  check_fields(L, 3, "ai.repo.search", known, "plain, glob, limit, max_file_bytes");
  repo_job *j = job_new(L, JOB_SEARCH);
  job_set_arg(L, j, 2, "pattern");
  j->search.mode = opt_bool(L, 3, "plain", 1) ? REPO_MATCH_LITERAL : REPO_MATCH_LUA;
  j->search.max_results = (size_t)opt_int(L, 3, "limit", 1000, "ai.repo.search");
  j->search.max_file_bytes = (uint64_t)opt_int(L, 3, "max_file_bytes", 0, "ai.repo.search");
  if (j->search.max_results == 0)
    return lh_raise(L, AGENTAI_EINVAL, "ai.repo.search: limit must be at least 1", -1);
  opt_globs(L, 3, "glob", j->globs, &j->nglobs, "ai.repo.search");
  return job_start(L, 4);
}

/* ai.repo.patch(root, diff, {dry_run=false, fuzz=3}) -> {files = {{path, status, added, removed}}}
 */
static int repo_patch_l(lua_State *L) {
  static const char *const known[] = {"dry_run", "fuzz", NULL};
  lua_settop(L, 3);
  check_fields(L, 3, "ai.repo.patch", known, "dry_run, fuzz");
  repo_job *j = job_new(L, JOB_PATCH);
  job_set_arg(L, j, 2, "diff");
  j->dry_run = opt_bool(L, 3, "dry_run", 0);
  j->fuzz = (int)opt_int(L, 3, "fuzz", 3, "ai.repo.patch");
  if (j->fuzz > 1000)
    return lh_raise(L, AGENTAI_EINVAL, "ai.repo.patch: fuzz must be at most 1000", -1);
  return job_start(L, 4);
}

static int repo_readonly(lua_State *L) {
  return luaL_error(L, "the agentai module is read-only (tried to set '%s')",
                    luaL_tolstring(L, 2, NULL));
}

void lh_repo_register(lua_State *L) {
  static const luaL_Reg REPO[] = {{"scan", repo_scan_l},
                                  {"read", repo_read_l},
                                  {"search", repo_search_l},
                                  {"patch", repo_patch_l},
                                  {NULL, NULL}};
  lua_newtable(L); /* proxy */
  lua_newtable(L); /* its metatable */
  luaL_newlib(L, REPO);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, repo_readonly);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "repo");
}
