/* auth/keys.c — API key records on storage, secrets hashed with SHA-256, and the verification
 * cache.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/errors.h"
#include "core/strmap.h"
#include "core/timefmt.h"

#define SECRET_PREFIX "ak_"
#define ID_PREFIX "key"
#define ID_LEN 30     /* "key_" + 26 */
#define RANDOM_LEN 43 /* 32 bytes in unpadded base64url */

typedef struct cached_key {
  auth_key_info info;
  unsigned char hash[SHA256_DIGEST_LENGTH];
  int64_t fetched_ms;
} cached_key;

struct auth_keys {
  store *st;
  strmap cache; /* id -> cached_key */
  int any;      /* a key record was seen: auth stays on */
};

const char *auth_role_name(auth_role r) {
  switch (r) {
    case AUTH_ROLE_ADMIN:
      return "admin";
    case AUTH_ROLE_OPERATOR:
      return "operator";
    case AUTH_ROLE_READER:
      return "reader";
    default:
      return NULL;
  }
}

auth_role auth_role_parse(const char *name) {
  if (!name)
    return AUTH_ROLE_NONE;
  if (!strcmp(name, "admin"))
    return AUTH_ROLE_ADMIN;
  if (!strcmp(name, "operator"))
    return AUTH_ROLE_OPERATOR;
  if (!strcmp(name, "reader"))
    return AUTH_ROLE_READER;
  return AUTH_ROLE_NONE;
}

int64_t auth_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int auth_parse_expiry(const char *text, int64_t now_ms, int64_t *ms) {
  if (!text || !*text)
    return AGENTAI_EINVAL;
  size_t n = strlen(text);
  size_t digits = strspn(text, "0123456789");
  if (digits > 0 && digits <= 9 && n == digits + 1) {
    int64_t unit;
    switch (text[digits]) {
      case 's':
        unit = 1000;
        break;
      case 'm':
        unit = 60 * 1000;
        break;
      case 'h':
        unit = 3600 * 1000;
        break;
      case 'd':
        unit = 86400 * 1000;
        break;
      case 'w':
        unit = 7 * 86400 * 1000LL;
        break;
      default:
        return AGENTAI_EINVAL;
    }
    int64_t count = strtoll(text, NULL, 10);
    if (count <= 0)
      return AGENTAI_EINVAL;
    *ms = now_ms + count * unit;
    return 0;
  }
  /* Only full date-times: a bare integer would read as Unix seconds, which is
   * too easy to confuse with a duration missing its unit. */
  if (digits == n)
    return AGENTAI_EINVAL;
  int64_t t;
  if (timefmt_parse(text, &t) < 0 || t <= now_ms)
    return AGENTAI_EINVAL;
  *ms = t;
  return 0;
}

int auth_keys_new(store *st, auth_keys **out) {
  auth_keys *k = calloc(1, sizeof *k);
  if (!k)
    return AGENTAI_ENOMEM;
  k->st = st;
  strmap_init(&k->cache);
  *out = k;
  return 0;
}

void auth_keys_forget(auth_keys *k) {
  strmap_iter it = 0;
  const char *key;
  void *v;
  while (strmap_next(&k->cache, &it, &key, &v))
    free(v);
  strmap_free(&k->cache);
  strmap_init(&k->cache);
}

void auth_keys_free(auth_keys *k) {
  if (!k)
    return;
  auth_keys_forget(k);
  free(k);
}

/* ---- records ---- */

static void hex(const unsigned char *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n) {
  if (!s || strlen(s) != 2 * n)
    return -1;
  for (size_t i = 0; i < n; i++) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[2 * i + (size_t)j];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    out[i] = (unsigned char)v;
  }
  return 0;
}

static void add_time(cJSON *o, const char *field, int64_t ms) {
  char t[32];
  if (ms && timefmt_format(ms, t) == 0)
    cJSON_AddStringToObject(o, field, t);
  else
    cJSON_AddNullToObject(o, field);
}

void auth_key_to_json(const auth_key_info *info, void *cjson_object) {
  cJSON *o = cjson_object;
  cJSON_AddStringToObject(o, "id", info->id);
  cJSON_AddStringToObject(o, "object", "api_key");
  if (info->name[0])
    cJSON_AddStringToObject(o, "name", info->name);
  else
    cJSON_AddNullToObject(o, "name");
  cJSON_AddStringToObject(o, "role", auth_role_name(info->role));
  cJSON_AddStringToObject(o, "tenant", info->tenant);
  add_time(o, "created_at", info->created_ms);
  add_time(o, "expires_at", info->expires_ms);
  add_time(o, "revoked_at", info->revoked_ms);
}

static char *record_text(const auth_key_info *info, const unsigned char *hash) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  auth_key_to_json(info, o);
  char h[2 * SHA256_DIGEST_LENGTH + 1];
  hex(hash, SHA256_DIGEST_LENGTH, h);
  cJSON_AddStringToObject(o, "sha256", h);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

static int read_time(const cJSON *o, const char *field, int64_t *ms) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  *ms = 0;
  if (!v || cJSON_IsNull(v))
    return 0;
  return cJSON_IsString(v) && timefmt_parse(v->valuestring, ms) == 0 ? 0 : -1;
}

static int copy_str(const cJSON *o, const char *field, char *out, size_t cap, int required) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  out[0] = '\0';
  if (!v || cJSON_IsNull(v))
    return required ? -1 : 0;
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
    return -1;
  memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

static int parse_record(const void *value, size_t len, cached_key *ck) {
  cJSON *o = cJSON_ParseWithLength(value, len);
  int rc = AGENTAI_ECORRUPT;
  memset(ck, 0, sizeof *ck);
  if (!o)
    return rc;
  char role[16];
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "sha256");
  if (copy_str(o, "id", ck->info.id, sizeof ck->info.id, 1) == 0 &&
      copy_str(o, "name", ck->info.name, sizeof ck->info.name, 0) == 0 &&
      copy_str(o, "tenant", ck->info.tenant, sizeof ck->info.tenant, 1) == 0 &&
      copy_str(o, "role", role, sizeof role, 1) == 0 &&
      (ck->info.role = auth_role_parse(role)) != AUTH_ROLE_NONE &&
      read_time(o, "created_at", &ck->info.created_ms) == 0 &&
      read_time(o, "expires_at", &ck->info.expires_ms) == 0 &&
      read_time(o, "revoked_at", &ck->info.revoked_ms) == 0 && cJSON_IsString(h) &&
      unhex(h->valuestring, ck->hash, sizeof ck->hash) == 0)
    rc = 0;
  cJSON_Delete(o);
  return rc;
}

/* ---- synchronous reads over the callback interface ---- */

/* A read the backend may complete later: then the context outlives the
 * caller, who has given up, and the callback frees it. */
typedef struct read_ctx {
  int done, abandoned, err;
  cached_key ck;
} read_ctx;

static void on_get(void *ud, int err, const void *value, size_t len) {
  read_ctx *c = ud;
  c->err = err == 0 ? parse_record(value, len, &c->ck) : err;
  c->done = 1;
  if (c->abandoned)
    free(c);
}

static int read_key(auth_keys *k, const char *id, cached_key *out) {
  char key[sizeof AUTH_NS_KEY + IDS_MAX];
  int n = snprintf(key, sizeof key, AUTH_NS_KEY "%s", id);
  read_ctx *c = calloc(1, sizeof *c);
  if (!c)
    return AGENTAI_ENOMEM;
  int rc = k->st->def->get(k->st->db, NULL, key, (size_t)n, on_get, c);
  if (rc < 0) {
    free(c);
    return rc;
  }
  if (!c->done) {
    c->abandoned = 1;
    return AGENTAI_EBUSY;
  }
  rc = c->err;
  if (rc == 0)
    *out = c->ck;
  free(c);
  return rc;
}

typedef struct scan_ctx {
  int done, abandoned, err;
  size_t items;
  auth_keys *k;
  int (*each)(void *ud, const auth_key_info *info);
  void *ud;
  int tenant_index; /* values are empty: ids come from the key */
} scan_ctx;

static int on_item(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  scan_ctx *c = ud;
  c->items++;
  if (c->abandoned || !c->each)
    return 0;
  cached_key ck;
  if (c->tenant_index) {
    const char *kp = key, *slash = NULL;
    for (size_t i = klen; i > 0 && !slash; i--)
      if (kp[i - 1] == '/')
        slash = kp + i - 1;
    size_t idlen = slash ? klen - (size_t)(slash + 1 - kp) : 0;
    char id[IDS_MAX];
    if (!slash || idlen >= sizeof id)
      return 0;
    memcpy(id, slash + 1, idlen);
    id[idlen] = '\0';
    int rc = read_key(c->k, id, &ck);
    if (rc < 0) {
      c->err = rc;
      return 1;
    }
  } else if (parse_record(value, vlen, &ck) < 0) {
    c->err = AGENTAI_ECORRUPT;
    return 1;
  }
  return c->each(c->ud, &ck.info);
}

static void on_scan_done(void *ud, int err) {
  scan_ctx *c = ud;
  if (err && !c->err)
    c->err = err;
  c->done = 1;
  if (c->abandoned)
    free(c);
}

static int scan_prefix(auth_keys *k, const char *prefix, size_t limit, scan_ctx *tmpl,
                       size_t *items) {
  char end[128];
  size_t plen = strlen(prefix);
  size_t elen = store_prefix_end(prefix, plen, end);
  agentai_scan_range r = {.start = prefix,
                          .start_len = plen,
                          .end = elen ? end : NULL,
                          .end_len = elen,
                          .limit = limit};
  scan_ctx *c = malloc(sizeof *c);
  if (!c)
    return AGENTAI_ENOMEM;
  *c = *tmpl;
  c->k = k;
  int rc = k->st->def->scan(k->st->db, NULL, &r, on_item, on_scan_done, c);
  if (rc < 0) {
    free(c);
    return rc;
  }
  if (!c->done) {
    c->abandoned = 1;
    return AGENTAI_EBUSY;
  }
  rc = c->err;
  if (items)
    *items = c->items;
  free(c);
  return rc;
}

int auth_keys_any(auth_keys *k) {
  if (k->any)
    return 1;
  scan_ctx tmpl = {0};
  size_t items = 0;
  int rc = scan_prefix(k, AUTH_NS_KEY, 1, &tmpl, &items);
  if (rc < 0)
    return rc;
  k->any = items > 0;
  return k->any;
}

int auth_keys_get(auth_keys *k, const char *id, auth_key_info *out) {
  if (!ids_valid(id, ID_PREFIX))
    return AGENTAI_ENOENT;
  cached_key ck;
  int rc = read_key(k, id, &ck);
  if (rc == 0)
    *out = ck.info;
  return rc;
}

int auth_keys_list(auth_keys *k, const char *tenant,
                   int (*each)(void *ud, const auth_key_info *info), void *ud) {
  scan_ctx tmpl = {.each = each, .ud = ud};
  if (!tenant)
    return scan_prefix(k, AUTH_NS_KEY, 0, &tmpl, NULL);
  char prefix[sizeof AUTH_NS_TENANT + AUTH_TENANT_MAX + 2];
  if (strlen(tenant) > AUTH_TENANT_MAX)
    return 0;
  snprintf(prefix, sizeof prefix, AUTH_NS_TENANT "%s/", tenant);
  tmpl.tenant_index = 1;
  return scan_prefix(k, prefix, 0, &tmpl, NULL);
}

/* ---- writes ---- */

typedef struct write_ctx {
  auth_keys *k;
  cached_key ck;
  int cache_it;
  auth_done_fn done;
  void *ud;
} write_ctx;

static void on_written(void *ud, int err) {
  write_ctx *w = ud;
  if (err == 0) {
    w->k->any = 1;
    free(strmap_remove(&w->k->cache, w->ck.info.id));
  }
  if (w->done)
    w->done(w->ud, err, &w->ck.info);
  free(w);
}

static int write_record(auth_keys *k, const cached_key *ck, int with_index, auth_done_fn done,
                        void *ud) {
  char *text = record_text(&ck->info, ck->hash);
  write_ctx *w = malloc(sizeof *w);
  if (!text || !w) {
    free(text);
    free(w);
    return AGENTAI_ENOMEM;
  }
  *w = (write_ctx){.k = k, .ck = *ck, .done = done, .ud = ud};
  char key[sizeof AUTH_NS_KEY + IDS_MAX], ikey[sizeof AUTH_NS_TENANT + AUTH_TENANT_MAX + IDS_MAX];
  int kn = snprintf(key, sizeof key, AUTH_NS_KEY "%s", ck->info.id);
  int in = snprintf(ikey, sizeof ikey, AUTH_NS_TENANT "%s/%s", ck->info.tenant, ck->info.id);
  agentai_kv_op ops[2] = {
      {.type = AGENTAI_KV_PUT,
       .key = key,
       .key_len = (size_t)kn,
       .value = text,
       .value_len = strlen(text)},
      {.type = AGENTAI_KV_PUT, .key = ikey, .key_len = (size_t)in, .value = "", .value_len = 0},
  };
  int rc = k->st->def->write(k->st->db, ops, with_index ? 2 : 1, on_written, w);
  free(text);
  if (rc < 0)
    free(w);
  return rc;
}

static int valid_tenant(const char *t) {
  size_t n = t ? strlen(t) : 0;
  if (n == 0 || n > AUTH_TENANT_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' && t[i] != '-')
      return 0;
  return 1;
}

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n > AUTH_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return 0;
  return 1;
}

static void base64url(const unsigned char *in, size_t n, char *out) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = abc[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out[o++] = abc[(acc << (6 - bits)) & 63];
  out[o] = '\0';
}

int auth_keys_create(auth_keys *k, auth_role role, const char *tenant, const char *name,
                     int64_t expires_ms, char secret[AUTH_SECRET_MAX], auth_done_fn done, void *ud,
                     char *why, size_t why_len) {
  if (!auth_role_name(role)) {
    snprintf(why, why_len, "role: expected admin, operator or reader");
    return AGENTAI_EINVAL;
  }
  if (!valid_tenant(tenant)) {
    snprintf(why, why_len, "tenant: expected 1 to %d characters of A-Z a-z 0-9 . _ -",
             AUTH_TENANT_MAX);
    return AGENTAI_EINVAL;
  }
  if (name && !valid_name(name)) {
    snprintf(why, why_len, "name: expected at most %d bytes without control characters",
             AUTH_NAME_MAX);
    return AGENTAI_EINVAL;
  }
  int64_t now = auth_now_ms();
  if (expires_ms != 0 && expires_ms <= now) {
    snprintf(why, why_len, "expires_at: must be in the future");
    return AGENTAI_EINVAL;
  }
  cached_key ck = {0};
  ck.info.role = role;
  ck.info.created_ms = now;
  ck.info.expires_ms = expires_ms;
  snprintf(ck.info.tenant, sizeof ck.info.tenant, "%s", tenant);
  snprintf(ck.info.name, sizeof ck.info.name, "%s", name ? name : "");
  unsigned char rnd[32];
  if (ids_new(ID_PREFIX, ck.info.id) < 0 || RAND_bytes(rnd, sizeof rnd) != 1) {
    snprintf(why, why_len, "no random bytes available");
    return AGENTAI_EIO;
  }
  char enc[RANDOM_LEN + 2];
  base64url(rnd, sizeof rnd, enc);
  OPENSSL_cleanse(rnd, sizeof rnd);
  snprintf(secret, AUTH_SECRET_MAX, SECRET_PREFIX "%s_%s", ck.info.id, enc);
  OPENSSL_cleanse(enc, sizeof enc);
  SHA256((const unsigned char *)secret, strlen(secret), ck.hash);
  int rc = write_record(k, &ck, 1, done, ud);
  if (rc < 0) {
    OPENSSL_cleanse(secret, AUTH_SECRET_MAX);
    snprintf(why, why_len, "the key could not be stored: %s", agentai_strerror(rc));
  }
  return rc;
}

int auth_keys_revoke(auth_keys *k, const char *id, auth_done_fn done, void *ud) {
  if (!ids_valid(id, ID_PREFIX))
    return AGENTAI_ENOENT;
  cached_key ck;
  int rc = read_key(k, id, &ck);
  if (rc < 0)
    return rc;
  if (ck.info.revoked_ms)
    return AGENTAI_EEXIST;
  ck.info.revoked_ms = auth_now_ms();
  free(strmap_remove(&k->cache, id)); /* refused at once, before the write is durable */
  return write_record(k, &ck, 0, done, ud);
}

/* ---- verification ---- */

auth_verdict auth_keys_verify(auth_keys *k, const char *secret, size_t len, int64_t now_ms,
                              auth_key_info *out) {
  const size_t want = sizeof SECRET_PREFIX - 1 + ID_LEN + 1 + RANDOM_LEN;
  if (len != want || memcmp(secret, SECRET_PREFIX, 3) != 0 || secret[3 + ID_LEN] != '_')
    return AUTH_MALFORMED;
  char id[IDS_MAX];
  memcpy(id, secret + 3, ID_LEN);
  id[ID_LEN] = '\0';
  if (!ids_valid(id, ID_PREFIX))
    return AUTH_MALFORMED;
  for (size_t i = 3 + ID_LEN + 1; i < len; i++)
    if (!isalnum((unsigned char)secret[i]) && secret[i] != '-' && secret[i] != '_')
      return AUTH_MALFORMED;
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)secret, len, hash);

  cached_key *ck = strmap_get(&k->cache, id);
  if (ck && now_ms - ck->fetched_ms > AUTH_CACHE_TTL_MS) {
    free(strmap_remove(&k->cache, id));
    ck = NULL;
  }
  if (!ck) {
    cached_key fresh;
    int rc = read_key(k, id, &fresh);
    if (rc == AGENTAI_ENOENT)
      return AUTH_UNKNOWN;
    if (rc < 0)
      return AUTH_UNAVAILABLE;
    /* Never trust a record filed under another id. */
    if (strcmp(fresh.info.id, id) != 0)
      return AUTH_UNKNOWN;
    k->any = 1;
    ck = malloc(sizeof *ck);
    if (!ck)
      return AUTH_UNAVAILABLE;
    *ck = fresh;
    ck->fetched_ms = now_ms;
    if (strmap_put(&k->cache, id, ck) < 0) {
      free(ck);
      return AUTH_UNAVAILABLE;
    }
  }
  if (CRYPTO_memcmp(hash, ck->hash, sizeof hash) != 0)
    return AUTH_UNKNOWN;
  if (ck->info.revoked_ms)
    return AUTH_REVOKED;
  if (ck->info.expires_ms && now_ms >= ck->info.expires_ms)
    return AUTH_EXPIRED;
  if (out)
    *out = ck->info;
  return AUTH_OK;
}
