/* lua/lib_agentai.c — the `agentai` Lua module: llm, kv, json, log, sleep, now, spawn, wait. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentai/provider.h"
#include "llm/llm.h"
#include "core/errors.h"
#include "core/log.h"
#include "lua/internal.h"
#include "lua/ljson.h"
#include "store/store.h"

#define KV_MAX_KEY 400

/* ---- ai.error (the structured error shape is in lerror.c) ---- */

/* ai.error{kind=, message=, retryable=}: lets a workflow raise the same
 * structured errors the bindings raise. */
static int ai_error(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "message");
  const char *msg = luaL_checkstring(L, -1);
  lh_push_error(L, AGENTAI_EINVAL, msg, -1);
  lua_getfield(L, 1, "kind");
  lua_setfield(L, -2, "kind");
  if (lua_getfield(L, 1, "retryable") != LUA_TNIL)
    lua_setfield(L, -2, "retryable");
  else
    lua_pop(L, 1);
  lh_push_where(L);
  lua_setfield(L, -2, "where");
  return lua_error(L);
}

/* ---- results stored in C by completions ---- */

/* A copied byte string: small ones live in the op itself. */
typedef struct op_bytes {
  char *ptr;
  size_t len;
  char small[160];
} op_bytes;

static int bytes_copy(op_bytes *b, const void *src, size_t len) {
  b->ptr = len < sizeof b->small ? b->small : malloc(len + 1);
  if (!b->ptr)
    return AGENTAI_ENOMEM;
  memcpy(b->ptr, src, len);
  b->ptr[len] = '\0';
  b->len = len;
  return 0;
}

static void bytes_free(op_bytes *b) {
  if (b->ptr && b->ptr != b->small)
    free(b->ptr);
  b->ptr = NULL;
}

/* Pushes the JSON value in b, or a structured error naming what; 1 or 0. */
static int push_json_or_error(lua_State *L, const op_bytes *b, int err_code, const char *what) {
  char why[256];
  if (ljson_decode(L, b->ptr, b->len, why, sizeof why) == 0)
    return 1;
  lh_push_error(L, err_code, lua_pushfstring(L, "%s: %s", what, why), -1);
  return 0;
}

/* ---- ai.llm ---- */

typedef struct llm_op {
  lh_op *op;
  lh_jcall *jc; /* when the workflow has a journal */
  llm_call *call;
  int err;
  int64_t retry_after_ms;
  op_bytes response;
  char message[256];
  lua_State *on_delta; /* thread holding on_delta, or NULL */
  int delta_failed;    /* on_delta raised: its error is on top of that thread */
} llm_op;

/* A streamed chunk: to the task's live subscribers (task.delta), then to on_delta. */
static void llm_delta(void *ud, const char *chunk, size_t len) {
  llm_op *c = ud;
  lh_vm *vm = c->op->vm;
  if (!vm || lh_op_detached(c->op) || c->delta_failed)
    return;
  if (vm->run.hooks && vm->run.hooks->delta)
    vm->run.hooks->delta(vm->run.hooks->ud, chunk, len);
  int rc = c->on_delta ? lh_callback_call(c->on_delta, c->op->fiber, chunk, len, 1) : 0;
  if (rc > 0)
    c->delta_failed = 1; /* the rest of the stream is dropped; raised when the call ends */
  else if (rc < 0)
    c->on_delta = NULL; /* killed: the fiber raises it when it resumes */
}

static void llm_recorded(void *ud, int err) {
  llm_op *c = ud;
  if (err < 0 && c->err == 0) {
    /* The call happened but is not durable: fail the attempt rather than
     * risk making it again after a crash without knowing. */
    c->err = err;
    snprintf(c->message, sizeof c->message, "cannot record the call in the task's journal: %s",
             agentai_strerror(err));
  }
  lh_op_complete(c->op);
}

static void llm_done(void *ud, const llm_result *o) {
  llm_op *c = ud;
  c->call = NULL;
  c->err = o->err;
  c->retry_after_ms = o->retry_after_ms;
  if (o->err == 0) {
    if (bytes_copy(&c->response, o->response_json, o->response_len) < 0)
      c->err = AGENTAI_ENOMEM;
  } else {
    snprintf(c->message, sizeof c->message, "ai.llm.chat: %s", o->message ? o->message : "");
  }
  lh_vm *vm = c->op->vm;
  /* A call whose on_delta raised is the workflow's failure, not the model's:
   * it is not journaled, so a replay makes it (and meets the error) again. */
  if (c->jc && vm && !lh_op_detached(c->op) && !c->delta_failed) {
    if (c->err == 0)
      lh_journal_notify(vm, "llm.chat", c->response.ptr, c->response.len, 0);
    size_t len = 0;
    char *entry = lh_journal_encode(c->jc, c->response.ptr, c->response.len, c->err, c->message,
                                    c->retry_after_ms, &len);
    /* From here the op waits for the journal, not the router: if the workflow
     * ends meanwhile, the op is detached and the write's callback frees it. */
    c->op->cancel = NULL;
    if (entry && lh_journal_write(vm, c->jc, entry, len, llm_recorded, c) == 0)
      return;
    llm_recorded(c, AGENTAI_ENOMEM);
    return;
  }
  lh_op_complete(c->op);
}

static int llm_push(lua_State *L, lh_op *op) {
  llm_op *c = op->data;
  if (c->delta_failed) {
    lua_xmove(c->on_delta, L, 1); /* on_delta's own error, raised as it was */
    return 0;
  }
  if (c->err) {
    lh_push_error(L, c->err, c->message, c->retry_after_ms);
    return 0;
  }
  return push_json_or_error(L, &c->response, AGENTAI_EMALFORMED,
                            "provider returned a response that is not JSON");
}

static void llm_release(lh_op *op) {
  llm_op *c = op->data;
  bytes_free(&c->response);
  free(c->jc);
}

static void llm_op_cancel(lh_op *op) {
  llm_op *c = op->data;
  if (c->call)
    llm_cancel(c->call);
  c->call = NULL;
}

/* ai.llm.chat{model=, messages=, ..., provider=?, cache=?, on_delta=?}: through the model
 * router. `provider` calls that provider directly; `cache = false` skips the response cache;
 * `stream = true` streams, each chunk going to the task's live subscribers and to on_delta. */
static int llm_chat(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lh_vm *vm = lh_vm_of(L);
  if (!vm->svc->llm)
    return lh_raise(L, AGENTAI_ENOTSUP, "ai.llm.chat: no model router is running", -1);
  const char *fallback =
      vm->run.default_provider ? vm->run.default_provider : vm->svc->default_provider;
  lua_getfield(L, 1, "provider");
  const char *name = luaL_optstring(L, -1, fallback);
  lua_getfield(L, 1, "cache");
  int cache_mode =
      lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1) ? LLM_CACHE_BYPASS : LLM_CACHE_USE;
  lua_pop(L, 1);
  /* The request is the table minus `provider` and `cache`, which are the router's. */
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) == LUA_TSTRING && (strcmp(lua_tostring(L, -2), "provider") == 0 ||
                                           strcmp(lua_tostring(L, -2), "cache") == 0 ||
                                           strcmp(lua_tostring(L, -2), "on_delta") == 0)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  if (vm->run.default_model && lua_getfield(L, -1, "model") == LUA_TNIL) {
    lua_pushstring(L, vm->run.default_model);
    lua_setfield(L, -3, "model");
  }
  lua_settop(L, 3); /* request, provider name, request copy */
  if (lua_getfield(L, 1, "on_delta") == LUA_TFUNCTION && lua_getfield(L, 3, "stream") == LUA_TNIL) {
    lua_pushboolean(L, 1); /* on_delta asks for a stream */
    lua_setfield(L, 3, "stream");
  }
  lua_settop(L, 3);
  char *json = NULL, why[256];
  size_t len = 0;
  if (ljson_encode(L, -1, &json, &len, why, sizeof why) < 0)
    return lh_raise(L, AGENTAI_EINVAL,
                    lua_pushfstring(L, "ai.llm.chat: request is not JSON-encodable: %s", why), -1);
  lh_jcall jc;
  uint64_t h =
      lh_journal_hash(lh_journal_hash(0, name ? name : "", name ? strlen(name) : 0), json, len);
  if (lh_journal_begin(L, "llm.chat", h, &jc)) {
    free(json);
    return lh_journal_replay(L, &jc);
  }
  lua_getfield(L, 1, "on_delta");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
    free(json);
    return luaL_argerror(L, 1, "on_delta must be a function");
  }
  lua_State *T = lua_isfunction(L, -1) ? lh_callback_new(L, -1) : NULL; /* anchored here */
  lh_op *op = lh_op_begin(L, "ai.llm.chat", sizeof(llm_op), llm_push);
  llm_op *c = op->data;
  c->op = op;
  c->on_delta = T;
  if (jc.active && !(c->jc = malloc(sizeof jc))) {
    free(json);
    lh_op_abort(op);
    return lh_raise(L, AGENTAI_ENOMEM, "ai.llm.chat: out of memory", -1);
  }
  if (c->jc)
    *c->jc = jc;
  op->release = llm_release;
  op->cancel = llm_op_cancel;
  llm_request req = {
      .kind = LLM_CHAT, .json = json, .len = len, .provider = name, .cache_mode = cache_mode};
  llm_sink sink = {.ud = c, .delta = llm_delta, .done = llm_done};
  llm_call *call = NULL;
  char err[256];
  int rc = llm_start(vm->svc->llm, &req, &sink, &call, err, sizeof err);
  free(json);
  if (rc < 0) {
    lh_op_abort(op);
    return lh_raise(L, rc, lua_pushfstring(L, "ai.llm.chat: %s", err), -1);
  }
  if (!op->completed)
    c->call = call;
  return lh_op_await(L, op);
}

/* ---- ai.kv ---- */

static const store *kv_store(lua_State *L) {
  const store *st = lh_vm_of(L)->svc->store;
  if (!st || !st->db)
    lh_raise(L, AGENTAI_ENOTSUP, "ai.kv: no storage is open", -1);
  return st;
}

/* Full storage key: the kv namespace + the workflow's key. */
static size_t kv_key(lua_State *L, int idx, char *out) {
  size_t len = 0;
  const char *key = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > KV_MAX_KEY)
    luaL_argerror(L, idx, "key must be 1 to 400 bytes");
  memcpy(out, STORE_NS_KV, sizeof STORE_NS_KV - 1);
  memcpy(out + sizeof STORE_NS_KV - 1, key, len);
  return len + sizeof STORE_NS_KV - 1;
}

typedef struct kv_get_op {
  lh_op *op;
  int err;
  lh_jcall *jc; /* when the workflow has a journal: record what was read */
  op_bytes value;
} kv_get_op;

/* Records a read (or a clock) in the journal so a replay sees the same
 * value. Not awaited: the storage writes in order, so it is durable before
 * any later side effect of the workflow is. */
static void journal_read(lua_State *L, const lh_jcall *jc, const char *json, size_t len, int err,
                         const char *message) {
  size_t n = 0;
  char *entry = lh_journal_encode(jc, json, len, err, message, -1, &n);
  if (entry)
    lh_journal_write(lh_vm_of(L), jc, entry, n, NULL, NULL);
}

/* Copies jc to the heap for an op that outlives the binding's C frame. */
static int keep_jcall(const lh_jcall *jc, lh_jcall **out) {
  *out = NULL;
  if (!jc->active)
    return 0;
  if (!(*out = malloc(sizeof *jc)))
    return AGENTAI_ENOMEM;
  **out = *jc;
  return 0;
}

static void kv_get_done(void *ud, int err, const void *value, size_t len) {
  kv_get_op *g = ud;
  g->err = err == 0 ? bytes_copy(&g->value, value, len) : err;
  lh_op_complete(g->op);
}

static int kv_get_push(lua_State *L, lh_op *op) {
  kv_get_op *g = op->data;
  if (g->err == AGENTAI_ENOENT) {
    if (g->jc)
      journal_read(L, g->jc, NULL, 0, 0, NULL);
    lua_pushnil(L);
    return 1;
  }
  if (g->err) {
    lh_push_error(L, g->err, "ai.kv.get failed", -1);
    return 0;
  }
  int ok = push_json_or_error(L, &g->value, AGENTAI_ECORRUPT, "ai.kv: stored value is not JSON");
  if (ok && g->jc)
    journal_read(L, g->jc, g->value.ptr, g->value.len, 0, NULL);
  return ok;
}

static void kv_get_release(lh_op *op) {
  kv_get_op *g = op->data;
  bytes_free(&g->value);
  free(g->jc);
}

static int kv_get(lua_State *L) {
  const store *st = kv_store(L);
  char key[KV_MAX_KEY + 8];
  size_t klen = kv_key(L, 1, key);
  lh_jcall jc;
  if (lh_journal_begin(L, "kv.get", lh_journal_hash(0, key, klen), &jc))
    return lh_journal_replay(L, &jc);
  lh_op *op = lh_op_begin(L, "ai.kv.get", sizeof(kv_get_op), kv_get_push);
  kv_get_op *g = op->data;
  g->op = op;
  op->release = kv_get_release;
  if (keep_jcall(&jc, &g->jc) < 0) {
    lh_op_abort(op);
    return lh_raise(L, AGENTAI_ENOMEM, "ai.kv.get: out of memory", -1);
  }
  int rc = st->def->get(st->db, NULL, key, klen, kv_get_done, g);
  if (rc < 0) {
    lh_op_abort(op);
    return lh_raise(L, rc, "ai.kv.get failed", -1);
  }
  return lh_op_await(L, op);
}

typedef struct kv_write_op {
  lh_op *op;
  int err;
} kv_write_op;

static void kv_write_done(void *ud, int err) {
  kv_write_op *w = ud;
  w->err = err; /* if the workflow ended first, the write is still durable */
  lh_op_complete(w->op);
}

static int kv_write_push(lua_State *L, lh_op *op) {
  kv_write_op *w = op->data;
  if (w->err == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lh_push_error(L, w->err,
                w->err == AGENTAI_ENOSPC ? "ai.kv: storage is full (raise map_size_mb)"
                                         : "ai.kv write failed",
                -1);
  return 0;
}

static int kv_write(lua_State *L, int type, const char *what) {
  const store *st = kv_store(L);
  char key[KV_MAX_KEY + 8];
  size_t klen = kv_key(L, 1, key);
  char *json = NULL, why[256];
  size_t len = 0;
  if (type == AGENTAI_KV_PUT) {
    luaL_checkany(L, 2);
    if (ljson_encode(L, 2, &json, &len, why, sizeof why) < 0)
      return lh_raise(L, AGENTAI_EINVAL,
                      lua_pushfstring(L, "%s: value is not JSON-encodable: %s", what, why), -1);
  }
  /* A journaled write commits with its journal entry in one batch: after a
   * crash it either happened and is replayed as done, or neither did. */
  lh_jcall jc;
  uint64_t h = lh_journal_hash(lh_journal_hash(0, key, klen), json ? json : "", len);
  if (lh_journal_begin(L, type == AGENTAI_KV_PUT ? "kv.put" : "kv.delete", h, &jc)) {
    free(json);
    return lh_journal_replay(L, &jc);
  }
  agentai_kv_op kops[2] = {
      {.type = type, .key = key, .key_len = klen, .value = json, .value_len = len}};
  size_t nops = 1;
  char *entry = NULL;
  if (jc.active) {
    size_t elen = 0;
    if (!(entry = lh_journal_encode(&jc, "true", 4, 0, NULL, -1, &elen))) {
      free(json);
      return lh_raise(L, AGENTAI_ENOMEM, lua_pushfstring(L, "%s: out of memory", what), -1);
    }
    kops[1] = (agentai_kv_op){.type = AGENTAI_KV_PUT,
                              .key = jc.key,
                              .key_len = jc.key_len,
                              .value = entry,
                              .value_len = elen};
    nops = 2;
  }
  lh_op *op = lh_op_begin(L, what, sizeof(kv_write_op), kv_write_push);
  kv_write_op *w = op->data;
  w->op = op;
  int rc = st->def->write(st->db, kops, nops, kv_write_done, w);
  free(json);
  free(entry);
  if (rc < 0) {
    lh_op_abort(op);
    return lh_raise(L, rc, lua_pushfstring(L, "%s: %s", what, agentai_strerror(rc)), -1);
  }
  return lh_op_await(L, op);
}

static int kv_put(lua_State *L) {
  return kv_write(L, AGENTAI_KV_PUT, "ai.kv.put");
}

static int kv_delete(lua_State *L) {
  return kv_write(L, AGENTAI_KV_DELETE, "ai.kv.delete");
}

/* Scan items are collected as C bytes: [key_len][key][value_len][value]... */
typedef struct kv_scan_op {
  lh_op *op;
  int err;
  lh_jcall *jc;
  size_t count;
  char *buf;
  size_t len, cap;
} kv_scan_op;

static int scan_append(kv_scan_op *s, const void *p, size_t n) {
  if (s->len + n > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    while (cap < s->len + n)
      cap *= 2;
    char *grown = realloc(s->buf, cap);
    if (!grown)
      return AGENTAI_ENOMEM;
    s->buf = grown;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  return 0;
}

static int kv_scan_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  kv_scan_op *s = ud;
  size_t ns = sizeof STORE_NS_KV - 1;
  size_t k = klen - ns;
  if (scan_append(s, &k, sizeof k) || scan_append(s, (const char *)key + ns, k) ||
      scan_append(s, &vlen, sizeof vlen) || scan_append(s, value, vlen)) {
    s->err = AGENTAI_ENOMEM;
    return 1;
  }
  s->count++;
  return 0;
}

static void kv_scan_done(void *ud, int err) {
  kv_scan_op *s = ud;
  if (!s->err)
    s->err = err;
  lh_op_complete(s->op);
}

static int kv_scan_push(lua_State *L, lh_op *op) {
  kv_scan_op *s = op->data;
  if (s->err) {
    lh_push_error(L, s->err, "ai.kv.scan failed", -1);
    return 0;
  }
  lua_createtable(L, (int)s->count, 0);
  size_t pos = 0;
  char why[256];
  for (size_t i = 1; i <= s->count; i++) {
    size_t klen, vlen;
    memcpy(&klen, s->buf + pos, sizeof klen);
    pos += sizeof klen;
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, s->buf + pos, klen);
    lua_setfield(L, -2, "key");
    pos += klen;
    memcpy(&vlen, s->buf + pos, sizeof vlen);
    pos += sizeof vlen;
    if (ljson_decode(L, s->buf + pos, vlen, why, sizeof why) < 0)
      lua_pushnil(L); /* not written by ai.kv: the key is still listed */
    lua_setfield(L, -2, "value");
    pos += vlen;
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  if (s->jc) {
    char *json = NULL;
    size_t len = 0;
    if (ljson_encode(L, -1, &json, &len, why, sizeof why) == 0)
      journal_read(L, s->jc, json, len, 0, NULL);
    free(json);
  }
  return 1;
}

static void kv_scan_release(lh_op *op) {
  kv_scan_op *s = op->data;
  free(s->buf);
  free(s->jc);
}

/* ai.kv.scan(prefix, {limit=100, after=key, reverse=false}) -> {{key=, value=}, ...} */
static int kv_scan(lua_State *L) {
  const store *st = kv_store(L);
  size_t plen = 0;
  const char *prefix = luaL_optlstring(L, 1, "", &plen);
  if (plen > KV_MAX_KEY)
    return luaL_argerror(L, 1, "prefix longer than 400 bytes");
  lua_Integer limit = 100;
  int reverse = 0;
  size_t alen = 0;
  const char *after = NULL;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "limit");
    limit = luaL_optinteger(L, -1, 100);
    lua_getfield(L, 2, "reverse");
    reverse = lua_toboolean(L, -1);
    lua_getfield(L, 2, "after");
    after = luaL_optlstring(L, -1, NULL, &alen);
    if (limit < 1 || limit > 10000)
      return luaL_argerror(L, 2, "limit must be 1..10000");
    if (alen > KV_MAX_KEY)
      return luaL_argerror(L, 2, "after must be a key of 1 to 400 bytes");
  }
  size_t ns = sizeof STORE_NS_KV - 1;
  char start[KV_MAX_KEY + 16], end[KV_MAX_KEY + 16];
  memcpy(start, STORE_NS_KV, ns);
  memcpy(start + ns, prefix, plen);
  size_t start_len = ns + plen;
  size_t end_len = store_prefix_end(start, start_len, end);
  if (after) {
    if (!reverse) { /* strictly after: the key followed by a zero byte */
      memcpy(start + ns, after, alen);
      start[ns + alen] = '\0';
      start_len = ns + alen + 1;
    } else { /* strictly before: the end bound is exclusive */
      memcpy(end, STORE_NS_KV, ns);
      memcpy(end + ns, after, alen);
      end_len = ns + alen;
    }
  }
  agentai_scan_range range = {.start = start,
                              .start_len = start_len,
                              .end = end_len ? end : NULL,
                              .end_len = end_len,
                              .flags = reverse ? AGENTAI_SCAN_REVERSE : 0,
                              .limit = (size_t)limit};
  lh_jcall jc;
  uint64_t h = lh_journal_hash(0, start, start_len);
  h = lh_journal_hash(h, end, end_len);
  h = lh_journal_hash(h, &range.limit, sizeof range.limit);
  h = lh_journal_hash(h, &range.flags, sizeof range.flags);
  if (lh_journal_begin(L, "kv.scan", h, &jc))
    return lh_journal_replay(L, &jc);
  lh_op *op = lh_op_begin(L, "ai.kv.scan", sizeof(kv_scan_op), kv_scan_push);
  kv_scan_op *s = op->data;
  s->op = op;
  op->release = kv_scan_release;
  if (keep_jcall(&jc, &s->jc) < 0) {
    lh_op_abort(op);
    return lh_raise(L, AGENTAI_ENOMEM, "ai.kv.scan: out of memory", -1);
  }
  int rc = st->def->scan(st->db, NULL, &range, kv_scan_item, kv_scan_done, s);
  if (rc < 0) {
    lh_op_abort(op);
    return lh_raise(L, rc, "ai.kv.scan failed", -1);
  }
  return lh_op_await(L, op);
}

/* ---- ai.sleep / ai.now ---- */

typedef struct sleep_op {
  lh_op *op;
  const agentai_host *host;
  agentai_timer *timer;
} sleep_op;

static void sleep_fired(void *ud) {
  sleep_op *s = ud;
  lh_op_complete(s->op);
}

static int sleep_push(lua_State *L, lh_op *op) {
  (void)op;
  lua_pushboolean(L, 1);
  return 1;
}

static void sleep_cancel(lh_op *op) {
  sleep_op *s = op->data;
  s->host->timer_cancel(s->host, s->timer);
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ai_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  if (!(seconds >= 0) || seconds > 86400.0 * 365)
    return luaL_argerror(L, 1, "seconds must be between 0 and one year");
  lh_vm *vm = lh_vm_of(L);
  /* A task's sleep is a durable timer: the deadline is journaled, so after a
   * restart only the time that is left is slept. */
  lh_jcall jc;
  if (lh_journal_begin(L, "sleep", lh_journal_hash(0, &seconds, sizeof seconds), &jc)) {
    lh_journal_replay(L, &jc);
    int64_t deadline = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    int64_t left = deadline - wall_ms();
    seconds = left > 0 ? (lua_Number)left / 1000.0 : 0;
  } else if (jc.active) {
    char deadline[32];
    int n = snprintf(deadline, sizeof deadline, "%lld",
                     (long long)(wall_ms() + llround(seconds * 1000.0)));
    journal_read(L, &jc, deadline, (size_t)n, 0, NULL);
  }
  lh_op *op = lh_op_begin(L, "ai.sleep", sizeof(sleep_op), sleep_push);
  sleep_op *s = op->data;
  s->op = op;
  s->host = plugin_runtime_host(vm->svc->plugins);
  op->cancel = sleep_cancel;
  if (s->host->timer_start(s->host, (uint64_t)llround(seconds * 1000.0), sleep_fired, s,
                           &s->timer) < 0) {
    lh_op_abort(op);
    return luaL_error(L, "ai.sleep: cannot start a timer");
  }
  return lh_op_await(L, op);
}

/* In a task, the clock is journaled so a replay sees the same times. */
static int ai_now(lua_State *L) {
  lh_jcall jc;
  if (lh_journal_begin(L, "now", 0, &jc))
    return lh_journal_replay(L, &jc);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  if (jc.active) {
    char text[48];
    lua_Number v = lua_tonumber(L, -1);
    int n = snprintf(text, sizeof text, "%.17g", (double)v);
    if (!strpbrk(text, ".eEn")) /* keep it a float through the JSON round trip */
      n += snprintf(text + n, sizeof text - (size_t)n, ".0");
    journal_read(L, &jc, text, (size_t)n, 0, NULL);
  }
  return 1;
}

static void make_readonly(lua_State *L);

/* ---- ai.task ---- */

/* ai.task.emit(kind, data): a progress event in the task's history, sent
 * live to subscribers. Journaled with the event in one batch, so a replay
 * does not emit it twice. */
static int task_emit(lua_State *L) {
  size_t klen = 0;
  const char *kind = luaL_checklstring(L, 1, &klen);
  if (klen == 0 || klen > 64)
    return luaL_argerror(L, 1, "kind must be 1 to 64 bytes");
  lua_settop(L, 2);
  char *data = NULL, why[256];
  size_t dlen = 0;
  if (ljson_encode(L, 2, &data, &dlen, why, sizeof why) < 0)
    return lh_raise(L, AGENTAI_EINVAL,
                    lua_pushfstring(L, "ai.task.emit: data is not JSON-encodable: %s", why), -1);
  lh_vm *vm = lh_vm_of(L);
  lh_jcall jc;
  uint64_t h = lh_journal_hash(lh_journal_hash(0, kind, klen), data, dlen);
  if (lh_journal_begin(L, "emit", h, &jc)) {
    free(data);
    return lh_journal_replay(L, &jc);
  }
  const lh_task_hooks *hooks = vm->run.hooks;
  int rc = AGENTAI_ENOTSUP;
  if (hooks && hooks->emit) {
    size_t elen = 0;
    char *entry = jc.active ? lh_journal_encode(&jc, "true", 4, 0, NULL, -1, &elen) : NULL;
    if (jc.active && !entry)
      rc = AGENTAI_ENOMEM;
    else
      rc = hooks->emit(hooks->ud, kind, data, jc.active ? jc.key : NULL, jc.key_len, entry, elen);
    free(entry);
  }
  free(data);
  if (rc < 0)
    return lh_raise(L, rc, lua_pushfstring(L, "ai.task.emit: %s", agentai_strerror(rc)), -1);
  lua_pushboolean(L, 1);
  return 1;
}

/* Sets ai.task on the module table at -1 when the workflow runs as a task. */
static void add_task(lua_State *L, lh_vm *vm) {
  if (!vm->run.task_id)
    return;
  lua_createtable(L, 0, 5);
  lua_pushstring(L, vm->run.task_id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, vm->run.attempt);
  lua_setfield(L, -2, "attempt");
  char why[256];
  if (!vm->run.agent_json ||
      ljson_decode(L, vm->run.agent_json, strlen(vm->run.agent_json), why, sizeof why) < 0)
    lua_pushnil(L);
  lua_setfield(L, -2, "agent");
  lua_pushcfunction(L, task_emit);
  lua_setfield(L, -2, "emit");
  lua_pushcfunction(L, lh_task_interrupt);
  lua_setfield(L, -2, "interrupt");
  make_readonly(L);
  lua_setfield(L, -2, "task");
}

/* ---- ai.log ---- */

static int ai_log_at(lua_State *L, int level) {
  const char *msg = luaL_checkstring(L, 1);
  if (level < log_get_level())
    return 0;
  lh_vm *vm = lh_vm_of(L);
  cJSON *fields = NULL;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    char why[256];
    fields = ljson_to_cjson(L, 2, why, sizeof why);
    if (!fields)
      return luaL_error(L, "ai.log: fields are not JSON-encodable: %s", why);
  }
  if (!cJSON_IsObject(fields)) {
    cJSON_Delete(fields);
    fields = cJSON_CreateObject();
  }
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
    char src[256];
    snprintf(src, sizeof src, "%s:%d", ar.short_src, ar.currentline);
    cJSON_AddStringToObject(fields, "src", src);
  }
  cJSON_AddStringToObject(fields, "workflow", vm->path);
  log_write_fields(level, "workflow", msg, fields);
  cJSON_Delete(fields);
  return 0;
}

static int log_debug(lua_State *L) {
  return ai_log_at(L, AGENTAI_LOG_DEBUG);
}
static int log_info(lua_State *L) {
  return ai_log_at(L, AGENTAI_LOG_INFO);
}
static int log_warn(lua_State *L) {
  return ai_log_at(L, AGENTAI_LOG_WARN);
}
static int log_error(lua_State *L) {
  return ai_log_at(L, AGENTAI_LOG_ERROR);
}

/* ---- the module ---- */

static int readonly_newindex(lua_State *L) {
  return luaL_error(L, "the agentai module is read-only (tried to set '%s')",
                    luaL_tolstring(L, 2, NULL));
}

/* Replaces the table on top of the stack with a read-only proxy of it, so a
 * workflow cannot patch the library other code relies on. */
static void make_readonly(lua_State *L) {
  lua_newtable(L);      /* t, proxy */
  lua_newtable(L);      /* t, proxy, mt */
  lua_pushvalue(L, -3); /* t, proxy, mt, t */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "read-only");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2); /* t, proxy */
  lua_remove(L, -2);
}

/* Sets `name` on the table at -2 to a read-only table of functions. */
static void add_sublib(lua_State *L, const char *name, const luaL_Reg *fns) {
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  make_readonly(L);
  lua_setfield(L, -2, name);
}

int lh_open_agentai(lua_State *L) {
  static const luaL_Reg LLM[] = {{"chat", llm_chat}, {NULL, NULL}};
  static const luaL_Reg KV[] = {
      {"get", kv_get}, {"put", kv_put}, {"delete", kv_delete}, {"scan", kv_scan}, {NULL, NULL}};
  static const luaL_Reg LOG[] = {{"debug", log_debug},
                                 {"info", log_info},
                                 {"warn", log_warn},
                                 {"error", log_error},
                                 {NULL, NULL}};
  static const luaL_Reg TOP[] = {{"sleep", ai_sleep},       {"now", ai_now},
                                 {"spawn", lh_sched_spawn}, {"wait", lh_sched_wait},
                                 {"error", ai_error},       {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, TOP, 0);
  add_sublib(L, "llm", LLM);
  add_sublib(L, "kv", KV);
  add_sublib(L, "log", LOG);
  lh_http_register(L);
  lh_repo_register(L);
  lh_schema_register(L);
  ljson_open(L);
  make_readonly(L);
  lua_setfield(L, -2, "json");
  lua_pushliteral(L, AGENTAI_VERSION_STRING);
  lua_setfield(L, -2, "version");
  add_task(L, lh_vm_of(L));

  make_readonly(L);
  return 1;
}
