/* lua/journal.c — records the outcome of every side-effecting call a task's workflow makes, and
 * replays recorded outcomes after a restart so completed calls are not made twice. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/log.h"
#include "lua/internal.h"
#include "lua/ljson.h"

/* An entry is one JSON object:
 *   {"k":"llm.chat","h":"<16 hex>","ok":<result>}            a result
 *   {"k":"kv.get","h":"...","none":true}                      "no value"
 *   {"k":"llm.chat","h":"...","err":{"code":-3,"message":"...","retry_after_ms":1500}}
 * k and h let a replay notice that the workflow now makes a different call
 * at the same place (its code changed): that is refused, not guessed at. */

uint64_t lh_journal_hash(uint64_t h, const void *data, size_t len) {
  if (h == 0)
    h = 1469598103934665603ULL;
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static int entry_cmp(const void *key, const void *elem) {
  const lh_jcall *jc = key;
  const lh_journal_entry *e = elem;
  size_t n = jc->key_len < e->key_len ? jc->key_len : e->key_len;
  int c = memcmp(jc->key, e->key, n);
  if (c)
    return c;
  return jc->key_len < e->key_len ? -1 : jc->key_len > e->key_len;
}

int lh_journal_begin(lua_State *L, const char *kind, uint64_t hash, lh_jcall *jc) {
  lh_vm *vm = lh_vm_of(L);
  memset(jc, 0, sizeof *jc);
  if (!vm->run.journal_prefix)
    return 0;
  lh_fiber *f = lh_fiber_of(L);
  if (!f)
    return 0; /* bindings refuse calls outside fibers themselves */
  jc->active = 1;
  snprintf(jc->kind, sizeof jc->kind, "%s", kind);
  jc->hash = hash;
  int n = snprintf(jc->key, sizeof jc->key, "%s%s/%08" PRIu32, vm->run.journal_prefix, f->path,
                   f->ncalls++);
  if (n < 0 || (size_t)n >= sizeof jc->key)
    return luaL_error(L, "journal key too long for task prefix '%s'", vm->run.journal_prefix);
  jc->key_len = (size_t)n;
  const lh_journal_entry *e = NULL; /* bsearch may not be given a NULL array */
  if (vm->run.journal_len)
    e = bsearch(jc, vm->run.journal, vm->run.journal_len, sizeof *vm->run.journal, entry_cmp);
  if (!e)
    return 0;
  /* Check kind and hash without decoding the (possibly large) result. */
  char expect[96];
  snprintf(expect, sizeof expect, "{\"k\":\"%s\",\"h\":\"%016" PRIx64 "\",", kind, hash);
  if (e->value_len < strlen(expect) || memcmp(e->value, expect, strlen(expect)) != 0) {
    char recorded[80];
    size_t rn = e->value_len < 60 ? e->value_len : 60;
    memcpy(recorded, e->value, rn);
    recorded[rn] = '\0';
    lh_push_error(L, AGENTAI_EINVAL,
                  lua_pushfstring(L,
                                  "the workflow no longer makes the calls its journal recorded: "
                                  "call %s is now %s, the journal has %s... (was the workflow "
                                  "file changed while the task ran?)",
                                  jc->key + strlen(vm->run.journal_prefix), kind, recorded),
                  -1);
    lua_pushliteral(L, "nondeterminism");
    lua_setfield(L, -2, "kind");
    lh_push_where(L);
    lua_setfield(L, -2, "where");
    return lua_error(L);
  }
  jc->found = e->value;
  jc->found_len = e->value_len;
  return 1;
}

int lh_journal_replay(lua_State *L, const lh_jcall *jc) {
  char why[256];
  if (ljson_decode(L, jc->found, jc->found_len, why, sizeof why) < 0 || !lua_istable(L, -1))
    return lh_raise(L, AGENTAI_ECORRUPT,
                    lua_pushfstring(L, "journal entry %s is not a JSON object", jc->key), -1);
  int entry = lua_gettop(L);
  if (lua_getfield(L, entry, "ok") != LUA_TNIL) {
    /* The entry is written as head + "\"ok\":" + result + "}" (see below), so
     * the result's exact text is a slice of it. */
    const char *ok = strstr(jc->found, "\"ok\":");
    if (ok && jc->found_len > (size_t)(ok - jc->found) + 6)
      lh_journal_notify(lh_vm_of(L), jc->kind, ok + 5,
                        jc->found_len - (size_t)(ok + 5 - jc->found) - 1, 1);
    return 1;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, entry, "err") == LUA_TTABLE) {
    lua_getfield(L, -1, "code");
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : AGENTAI_EINVAL;
    lua_getfield(L, -2, "message");
    const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
    lua_getfield(L, -3, "retry_after_ms");
    int64_t retry = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : -1;
    return lh_raise(L, code, msg, retry);
  }
  lua_pushnil(L); /* {"none":true} */
  return 1;
}

char *lh_journal_encode(const lh_jcall *jc, const char *result_json, size_t len, int err,
                        const char *message, int64_t retry_after_ms, size_t *out_len) {
  char head[96];
  int hn =
      snprintf(head, sizeof head, "{\"k\":\"%s\",\"h\":\"%016" PRIx64 "\",", jc->kind, jc->hash);
  if (err == 0) {
    const char *tail = result_json ? "\"ok\":" : "\"none\":true";
    size_t total = (size_t)hn + strlen(tail) + (result_json ? len : 0) + 2;
    char *out = malloc(total);
    if (!out)
      return NULL;
    int n = snprintf(out, total, "%s%s", head, tail);
    if (result_json)
      memcpy(out + n, result_json, len);
    size_t used = (size_t)n + (result_json ? len : 0);
    out[used++] = '}';
    out[used] = '\0';
    *out_len = used;
    return out;
  }
  cJSON *e = cJSON_CreateObject();
  cJSON_AddNumberToObject(e, "code", err);
  cJSON_AddStringToObject(e, "message", message ? message : "");
  if (retry_after_ms >= 0)
    cJSON_AddNumberToObject(e, "retry_after_ms", (double)retry_after_ms);
  char *etext = cJSON_PrintUnformatted(e);
  cJSON_Delete(e);
  if (!etext)
    return NULL;
  size_t total = (size_t)hn + strlen(etext) + 16;
  char *out = malloc(total);
  if (out) {
    int n = snprintf(out, total, "%s\"err\":%s}", head, etext);
    *out_len = (size_t)n;
  }
  free(etext);
  return out;
}

typedef struct journal_write {
  void (*cb)(void *ud, int err);
  void *ud;
  char key[224];
} journal_write;

static void journal_written(void *ud, int err) {
  journal_write *w = ud;
  if (err < 0)
    log_printf(AGENTAI_LOG_ERROR, "journal", "cannot record %s: %s", w->key, agentai_strerror(err));
  if (w->cb)
    w->cb(w->ud, err);
  free(w);
}

int lh_journal_write(lh_vm *vm, const lh_jcall *jc, char *entry, size_t len,
                     void (*cb)(void *ud, int err), void *ud) {
  const store *st = vm->svc->store;
  if (!st || !st->db) {
    free(entry);
    return AGENTAI_ENOTSUP;
  }
  journal_write *w = malloc(sizeof *w);
  if (!w) {
    free(entry);
    return AGENTAI_ENOMEM;
  }
  w->cb = cb;
  w->ud = ud;
  memcpy(w->key, jc->key, jc->key_len + 1);
  agentai_kv_op op = {.type = AGENTAI_KV_PUT,
                      .key = jc->key,
                      .key_len = jc->key_len,
                      .value = entry,
                      .value_len = len};
  int rc = st->def->write(st->db, &op, 1, journal_written, w);
  free(entry); /* the backend copies what it needs before returning */
  if (rc < 0)
    free(w);
  return rc;
}

void lh_journal_notify(lh_vm *vm, const char *kind, const char *result_json, size_t len,
                       int replayed) {
  const lh_task_hooks *h = vm->run.hooks;
  if (h && h->on_call)
    h->on_call(h->ud, kind, result_json, len, replayed);
}
