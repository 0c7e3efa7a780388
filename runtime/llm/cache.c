/* llm/cache.c — the exact-match response cache: a SHA-256 of the canonical request, a bounded
 * in-memory LRU front, and the entries persisted in storage under "cache/" with a TTL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/evp.h>

#include "core/errors.h"
#include "core/log.h"
#include "llm/internal.h"

#define CACHE_NS "cache/"

typedef struct centry {
  struct centry *prev, *next; /* LRU: head is the most recent */
  uint64_t expires_ms;        /* wall clock: entries outlive the process */
  size_t len;
  char key[65];
  char data[];
} centry;

struct llm_cache {
  store *st;
  uint64_t ttl_ms;
  size_t mem_cap, mem_used;
  int nonzero_temperature;
  strmap map;
  centry *head, *tail;
};

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

llm_cache *llm_cache_new(store *st, const config *cfg) {
  llm_cache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->st = st && st->db ? st : NULL;
  c->ttl_ms = (uint64_t)cfg->cache_ttl_s * 1000u;
  c->mem_cap = (size_t)cfg->cache_memory_mb * 1024 * 1024;
  c->nonzero_temperature = cfg->cache_nonzero_temperature;
  strmap_init(&c->map);
  return c;
}

static void unlink_entry(llm_cache *c, centry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void push_front(llm_cache *c, centry *e) {
  e->next = c->head;
  if (c->head)
    c->head->prev = e;
  c->head = e;
  if (!c->tail)
    c->tail = e;
}

static void drop(llm_cache *c, centry *e) {
  unlink_entry(c, e);
  strmap_remove(&c->map, e->key);
  c->mem_used -= sizeof *e + e->len;
  free(e);
}

void llm_cache_free(llm_cache *c) {
  if (!c)
    return;
  while (c->head)
    drop(c, c->head);
  strmap_free(&c->map);
  free(c);
}

/* ---- the key ---- */

/* Feeds a value into the digest in a canonical, unambiguous form: a type tag,
 * lengths before bytes, object members sorted by name. Nothing is printed, so
 * the hash costs no allocation per string. */
static int cmp_names(const void *a, const void *b) {
  return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static int feed(EVP_MD_CTX *md, const cJSON *v, int top) {
  char buf[64];
  if (cJSON_IsString(v)) {
    size_t n = strlen(v->valuestring);
    int k = snprintf(buf, sizeof buf, "s%zu:", n);
    return EVP_DigestUpdate(md, buf, (size_t)k) && EVP_DigestUpdate(md, v->valuestring, n) ? 0 : -1;
  }
  if (cJSON_IsNumber(v)) {
    int k = snprintf(buf, sizeof buf, "n%.17g;", v->valuedouble);
    return EVP_DigestUpdate(md, buf, (size_t)k) ? 0 : -1;
  }
  if (cJSON_IsBool(v) || cJSON_IsNull(v))
    return EVP_DigestUpdate(md, cJSON_IsTrue(v) ? "t" : cJSON_IsFalse(v) ? "f" : "z", 1) ? 0 : -1;
  size_t n = 0;
  for (const cJSON *c = v->child; c; c = c->next)
    n++;
  if (cJSON_IsArray(v)) {
    int k = snprintf(buf, sizeof buf, "a%zu[", n);
    if (!EVP_DigestUpdate(md, buf, (size_t)k))
      return -1;
    for (const cJSON *c = v->child; c; c = c->next)
      if (feed(md, c, 0) < 0)
        return -1;
    return 0;
  }
  if (!cJSON_IsObject(v))
    return -1;
  const cJSON **members = malloc((n ? n : 1) * sizeof *members);
  if (!members)
    return -1;
  size_t m = 0;
  for (const cJSON *c = v->child; c; c = c->next) {
    /* Members that do not change the answer (top level only). */
    if (top && (strcmp(c->string, "stream") == 0 || strcmp(c->string, "stream_options") == 0 ||
                strcmp(c->string, "user") == 0 || strcmp(c->string, "metadata") == 0))
      continue;
    members[m++] = c;
  }
  qsort(members, m, sizeof *members, cmp_names);
  int k = snprintf(buf, sizeof buf, "o%zu{", m);
  int rc = EVP_DigestUpdate(md, buf, (size_t)k) ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < m; i++) {
    size_t kl = strlen(members[i]->string);
    k = snprintf(buf, sizeof buf, "k%zu:", kl);
    if (!EVP_DigestUpdate(md, buf, (size_t)k) || !EVP_DigestUpdate(md, members[i]->string, kl))
      rc = -1;
    else
      rc = feed(md, members[i], 0);
  }
  free(members);
  return rc;
}

int llm_cache_key(const llm_cache *c, int kind, const char *provider, const cJSON *req,
                  char key[65]) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "temperature");
  if (kind == LLM_CHAT && cJSON_IsNumber(t) && t->valuedouble > 0 && !c->nonzero_temperature)
    return AGENTAI_ENOTSUP; /* the caller asked for variety: a cached answer would defeat it */
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "n");
  if (cJSON_IsNumber(n) && n->valuedouble > 1 && !c->nonzero_temperature)
    return AGENTAI_ENOTSUP;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  int ok =
      md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
      EVP_DigestUpdate(md, kind == LLM_EMBED ? "embed\n" : "chat\n", kind == LLM_EMBED ? 6 : 5) &&
      /* A call pinned to one provider must not get another provider's answer. */
      (!provider ||
       (EVP_DigestUpdate(md, "p:", 2) && EVP_DigestUpdate(md, provider, strlen(provider) + 1))) &&
      feed(md, req, 1) == 0 && EVP_DigestFinal_ex(md, digest, &dlen) && dlen == 32;
  EVP_MD_CTX_free(md);
  if (!ok)
    return AGENTAI_ENOMEM;
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    key[2 * i] = hex[digest[i] >> 4];
    key[2 * i + 1] = hex[digest[i] & 15];
  }
  key[64] = '\0';
  return 0;
}

/* ---- memory front ---- */

static void remember(llm_cache *c, const char *key, const char *data, size_t len,
                     uint64_t expires) {
  if (!c->mem_cap || sizeof(centry) + len > c->mem_cap / 4)
    return; /* no front, or one entry would crowd out the rest */
  centry *old = strmap_get(&c->map, key);
  if (old)
    drop(c, old);
  centry *e = malloc(sizeof *e + len);
  if (!e)
    return;
  memcpy(e->key, key, 65);
  memcpy(e->data, data, len);
  e->len = len;
  e->expires_ms = expires;
  e->prev = e->next = NULL;
  if (strmap_put(&c->map, e->key, e) < 0) {
    free(e);
    return;
  }
  push_front(c, e);
  c->mem_used += sizeof *e + len;
  while (c->mem_used > c->mem_cap && c->tail && c->tail != e)
    drop(c, c->tail);
}

/* ---- storage ---- */

static void write_done(void *ud, int err) {
  (void)ud;
  if (err < 0)
    log_printf(AGENTAI_LOG_WARN, "llm", "response cache: storing an entry failed: %s",
               agentai_strerror(err));
}

static void storage_delete(llm_cache *c, const char *skey) {
  agentai_kv_op op = {.type = AGENTAI_KV_DELETE, .key = skey, .key_len = strlen(skey)};
  c->st->def->write(c->st->db, &op, 1, write_done, NULL);
}

typedef struct lookup {
  llm_cache *c;
  llm_cache_cb cb;
  void *ud;
  char key[65];
} lookup;

/* Storage's answer; the LMDB backend gives it before get() returns, another
 * backend may give it later (the router keeps the call alive until then). */
static void got(void *ud, int err, const void *value, size_t len) {
  lookup *l = ud;
  llm_cache_cb cb = l->cb;
  void *cb_ud = l->ud;
  const unsigned char *v = value;
  uint64_t expires = 0;
  for (int i = 0; err == 0 && len >= 8 && i < 8; i++)
    expires = expires << 8 | v[i];
  if (err < 0 || len < 8) {
    free(l);
    cb(cb_ud, NULL, 0);
    return;
  }
  if (expires <= wall_ms()) {
    char skey[80];
    snprintf(skey, sizeof skey, CACHE_NS "%s", l->key);
    storage_delete(l->c, skey);
    free(l);
    cb(cb_ud, NULL, 0);
    return;
  }
  remember(l->c, l->key, (const char *)v + 8, len - 8, expires);
  free(l);
  cb(cb_ud, (const char *)v + 8, len - 8);
}

void llm_cache_get(llm_cache *c, const char *key, llm_cache_cb cb, void *ud) {
  centry *e = strmap_get(&c->map, key);
  if (e) {
    if (e->expires_ms > wall_ms()) {
      unlink_entry(c, e);
      push_front(c, e);
      cb(ud, e->data, e->len);
      return;
    }
    drop(c, e);
  }
  lookup *l = c->st ? malloc(sizeof *l) : NULL;
  if (!l) {
    cb(ud, NULL, 0);
    return;
  }
  l->c = c;
  l->cb = cb;
  l->ud = ud;
  memcpy(l->key, key, 65);
  char skey[80];
  int n = snprintf(skey, sizeof skey, CACHE_NS "%s", key);
  int rc = c->st->def->get(c->st->db, NULL, skey, (size_t)n, got, l);
  if (rc < 0) { /* refused: got() was not called */
    free(l);
    cb(ud, NULL, 0);
  }
}

void llm_cache_put(llm_cache *c, const char *key, const char *response, size_t len) {
  uint64_t expires = wall_ms() + c->ttl_ms;
  remember(c, key, response, len, expires);
  if (!c->st)
    return;
  unsigned char *value = malloc(len + 8);
  if (!value)
    return;
  for (int i = 0; i < 8; i++)
    value[i] = (unsigned char)(expires >> (56 - 8 * i));
  memcpy(value + 8, response, len);
  char skey[80];
  int n = snprintf(skey, sizeof skey, CACHE_NS "%s", key);
  agentai_kv_op op = {.type = AGENTAI_KV_PUT,
                      .key = skey,
                      .key_len = (size_t)n,
                      .value = value,
                      .value_len = len + 8};
  int rc = c->st->def->write(c->st->db, &op, 1, write_done, NULL);
  if (rc < 0)
    write_done(NULL, rc);
  free(value); /* write() copies keys and values */
}
