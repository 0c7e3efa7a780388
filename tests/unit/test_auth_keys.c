/* tests/unit/test_auth_keys.c — API keys on real LMDB: creation, hashing, verification, the cache,
 * revocation and expiry seen across instances, listing, bad input. */
#include <string.h>

#include "auth/auth.h"
#include "core/errors.h"
#include "lmdb_fixture.h"

typedef struct done_state {
  int calls, err;
  auth_key_info info;
} done_state;

static void on_key(void *ud, int err, const auth_key_info *info) {
  done_state *d = ud;
  d->calls++;
  d->err = err;
  d->info = *info;
}

static fx F;

/* Every stored value, checked for the secret (it must never be there). */
typedef struct raw_scan {
  const char *secret, *rnd;
  int done, items, leaks, hashed;
} raw_scan;

static int check_item(void *ud, const void *k, size_t klen, const void *v, size_t vlen) {
  raw_scan *r = ud;
  r->items++;
  if (memmem(v, vlen, r->rnd, strlen(r->rnd)) || memmem(v, vlen, r->secret, 20))
    r->leaks++;
  if (klen > 4 && !memcmp(k, "key/", 4) && memmem(v, vlen, "\"sha256\":\"", 10))
    r->hashed++;
  return 0;
}

static void raw_done(void *ud, int err) {
  raw_scan *r = ud;
  r->done++;
  CHECK_EQ_INT(err, 0);
}
static store ST;

static void setup(void) {
  fx_init(&F, NULL);
  fx_open(&F);
  ST.def = F.def;
  ST.db = F.db;
}

static void teardown(void) {
  fx_free(&F);
}

/* Creates a key and waits until it is durable; returns its id in d->info. */
static void create_ok(auth_keys *k, auth_role role, const char *tenant, int64_t expires,
                      char secret[AUTH_SECRET_MAX], done_state *d) {
  char why[256] = "";
  memset(d, 0, sizeof *d);
  int rc = auth_keys_create(k, role, tenant, "test", expires, secret, on_key, d, why, sizeof why);
  if (rc)
    fprintf(stderr, "create: %s\n", why);
  CHECK_EQ_INT(rc, 0);
  wait_for(&F, &d->calls, 1);
  CHECK_EQ_INT(d->err, 0);
}

static void test_roles_and_expiry_parsing(void) {
  CHECK_EQ_INT(auth_role_parse("admin"), AUTH_ROLE_ADMIN);
  CHECK_EQ_INT(auth_role_parse("operator"), AUTH_ROLE_OPERATOR);
  CHECK_EQ_INT(auth_role_parse("reader"), AUTH_ROLE_READER);
  CHECK_EQ_INT(auth_role_parse("Admin"), AUTH_ROLE_NONE);
  CHECK_EQ_INT(auth_role_parse(NULL), AUTH_ROLE_NONE);
  CHECK(auth_role_name(AUTH_ROLE_NONE) == NULL);
  CHECK(!strcmp(auth_role_name(AUTH_ROLE_READER), "reader"));

  int64_t now = 1700000000000LL, ms = 0;
  CHECK_EQ_INT(auth_parse_expiry("30d", now, &ms), 0);
  CHECK(ms == now + 30LL * 86400000);
  CHECK_EQ_INT(auth_parse_expiry("90s", now, &ms), 0);
  CHECK(ms == now + 90000);
  CHECK_EQ_INT(auth_parse_expiry("2w", now, &ms), 0);
  CHECK(ms == now + 14LL * 86400000);
  CHECK_EQ_INT(auth_parse_expiry("2030-01-01T00:00:00Z", now, &ms), 0);
  CHECK(ms == 1893456000000LL);
  ms = 7;
  const char *bad[] = {
      "", "5", "0d", "10x", "d", "-3d", "1.5d", "2001-01-01T00:00:00Z", "tomorrow", "1234567890d"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_EQ_INT(auth_parse_expiry(bad[i], now, &ms), AGENTAI_EINVAL);
  CHECK(ms == 7);
}

static void test_create_verify_and_storage(void) {
  setup();
  auth_keys *k = NULL;
  CHECK_EQ_INT(auth_keys_new(&ST, &k), 0);
  CHECK_EQ_INT(auth_keys_any(k), 0);

  char secret[AUTH_SECRET_MAX], why[256];
  done_state d = {0};
  CHECK_EQ_INT(
      auth_keys_create(k, AUTH_ROLE_NONE, "t", NULL, 0, secret, on_key, &d, why, sizeof why),
      AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(why, "role");
  CHECK_EQ_INT(
      auth_keys_create(k, AUTH_ROLE_ADMIN, "a/b", NULL, 0, secret, on_key, &d, why, sizeof why),
      AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(why, "tenant");
  CHECK_EQ_INT(
      auth_keys_create(k, AUTH_ROLE_ADMIN, "", NULL, 0, secret, on_key, &d, why, sizeof why),
      AGENTAI_EINVAL);
  CHECK_EQ_INT(auth_keys_create(k, AUTH_ROLE_ADMIN, "t", "bad\nname", 0, secret, on_key, &d, why,
                                sizeof why),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(why, "name");
  CHECK_EQ_INT(auth_keys_create(k, AUTH_ROLE_ADMIN, "t", NULL, auth_now_ms() - 1, secret, on_key,
                                &d, why, sizeof why),
               AGENTAI_EINVAL);
  CHECK_STR_CONTAINS(why, "expires_at");
  CHECK_EQ_INT(d.calls, 0);
  CHECK_EQ_INT(auth_keys_any(k), 0);

  create_ok(k, AUTH_ROLE_OPERATOR, "acme", 0, secret, &d);
  CHECK(strncmp(secret, "ak_key_", 7) == 0);
  CHECK_EQ_INT((int)strlen(secret), 77);
  CHECK(strstr(secret, d.info.id) == secret + 3);
  CHECK_EQ_INT(auth_keys_any(k), 1);

  auth_key_info info;
  int64_t now = auth_now_ms();
  CHECK_EQ_INT(auth_keys_verify(k, secret, strlen(secret), now, &info), AUTH_OK);
  CHECK(!strcmp(info.id, d.info.id));
  CHECK(!strcmp(info.tenant, "acme"));
  CHECK_EQ_INT(info.role, AUTH_ROLE_OPERATOR);

  /* a changed secret character, a truncated secret, junk */
  char wrong[AUTH_SECRET_MAX];
  memcpy(wrong, secret, sizeof wrong);
  wrong[70] = wrong[70] == 'A' ? 'B' : 'A';
  CHECK_EQ_INT(auth_keys_verify(k, wrong, strlen(wrong), now, NULL), AUTH_UNKNOWN);
  CHECK_EQ_INT(auth_keys_verify(k, secret, strlen(secret) - 1, now, NULL), AUTH_MALFORMED);
  CHECK_EQ_INT(auth_keys_verify(k, "", 0, now, NULL), AUTH_MALFORMED);
  wrong[50] = '!';
  CHECK_EQ_INT(auth_keys_verify(k, wrong, strlen(wrong), now, NULL), AUTH_MALFORMED);
  /* a well-formed secret for an id that does not exist */
  char ghost[AUTH_SECRET_MAX];
  memcpy(ghost, secret, sizeof ghost);
  ghost[10] = ghost[10] == '0' ? '1' : '0';
  CHECK_EQ_INT(auth_keys_verify(k, ghost, strlen(ghost), now, NULL), AUTH_UNKNOWN);

  /* storage holds the hash, never the secret */
  const char *rnd = secret + 3 + 30 + 1;
  raw_scan rs = {.secret = secret, .rnd = rnd};
  CHECK_EQ_INT(F.def->scan(F.db, NULL, &(agentai_scan_range){0}, check_item, raw_done, &rs), 0);
  CHECK_EQ_INT(rs.done, 1);
  CHECK(rs.items >= 2);
  CHECK_EQ_INT(rs.leaks, 0);
  CHECK_EQ_INT(rs.hashed, 1);

  /* a cold cache reads the record back */
  auth_keys_forget(k);
  CHECK_EQ_INT(auth_keys_verify(k, secret, strlen(secret), now, &info), AUTH_OK);
  auth_keys_free(k);
  teardown();
}

static int collect(void *ud, const auth_key_info *info) {
  char *out = ud;
  strcat(out, info->id);
  strcat(out, ",");
  return 0;
}

static void test_revoke_expire_and_other_instances(void) {
  setup();
  auth_keys *daemon = NULL, *cli = NULL;
  CHECK_EQ_INT(auth_keys_new(&ST, &daemon), 0);
  CHECK_EQ_INT(auth_keys_new(&ST, &cli), 0);
  CHECK_EQ_INT(auth_keys_any(daemon), 0);

  /* made by another instance: the daemon finds it on a miss */
  char s1[AUTH_SECRET_MAX], s2[AUTH_SECRET_MAX], s3[AUTH_SECRET_MAX];
  done_state d1, d2, d3;
  create_ok(cli, AUTH_ROLE_READER, "acme", 0, s1, &d1);
  CHECK_EQ_INT(auth_keys_any(daemon), 1);
  int64_t now = auth_now_ms();
  CHECK_EQ_INT(auth_keys_verify(daemon, s1, strlen(s1), now, NULL), AUTH_OK);

  /* revoked by the other instance: trusted from the cache until its TTL ends */
  done_state rv = {0};
  CHECK_EQ_INT(auth_keys_revoke(cli, d1.info.id, on_key, &rv), 0);
  wait_for(&F, &rv.calls, 1);
  CHECK_EQ_INT(rv.err, 0);
  CHECK(rv.info.revoked_ms > 0);
  CHECK_EQ_INT(auth_keys_verify(cli, s1, strlen(s1), now, NULL), AUTH_REVOKED);
  CHECK_EQ_INT(auth_keys_verify(daemon, s1, strlen(s1), now, NULL), AUTH_OK);
  CHECK_EQ_INT(auth_keys_verify(daemon, s1, strlen(s1), now + AUTH_CACHE_TTL_MS + 1, NULL),
               AUTH_REVOKED);
  CHECK_EQ_INT(auth_keys_revoke(cli, d1.info.id, on_key, &rv), AGENTAI_EEXIST);
  CHECK_EQ_INT(auth_keys_revoke(cli, "key_01m88gn0fkctjd06nyffe57s2s", on_key, &rv),
               AGENTAI_ENOENT);
  CHECK_EQ_INT(auth_keys_revoke(cli, "../etc", on_key, &rv), AGENTAI_ENOENT);
  CHECK_EQ_INT(rv.calls, 1);

  /* expiry */
  int64_t exp = auth_now_ms() + 60000;
  create_ok(daemon, AUTH_ROLE_ADMIN, "other", exp, s2, &d2);
  CHECK_EQ_INT(auth_keys_verify(daemon, s2, strlen(s2), exp - 1, NULL), AUTH_OK);
  CHECK_EQ_INT(auth_keys_verify(daemon, s2, strlen(s2), exp, NULL), AUTH_EXPIRED);

  /* get and list, all and by tenant */
  create_ok(daemon, AUTH_ROLE_OPERATOR, "acme", 0, s3, &d3);
  auth_key_info info;
  CHECK_EQ_INT(auth_keys_get(daemon, d2.info.id, &info), 0);
  CHECK(info.expires_ms == exp);
  CHECK_EQ_INT(auth_keys_get(daemon, "key_nope", &info), AGENTAI_ENOENT);
  char all[512] = "", acme[512] = "", none[512] = "";
  CHECK_EQ_INT(auth_keys_list(daemon, NULL, collect, all), 0);
  CHECK_EQ_INT(auth_keys_list(daemon, "acme", collect, acme), 0);
  CHECK_EQ_INT(auth_keys_list(daemon, "nobody", collect, none), 0);
  char want[512];
  snprintf(want, sizeof want, "%s,%s,%s,", d1.info.id, d2.info.id, d3.info.id);
  CHECK(!strcmp(all, want));
  snprintf(want, sizeof want, "%s,%s,", d1.info.id, d3.info.id);
  CHECK(!strcmp(acme, want));
  CHECK_EQ_INT((int)strlen(none), 0);

  auth_keys_free(daemon);
  auth_keys_free(cli);
  teardown();
}

static void test_cached_verify_is_fast(void) {
  setup();
  auth_keys *k = NULL;
  CHECK_EQ_INT(auth_keys_new(&ST, &k), 0);
  char secret[AUTH_SECRET_MAX];
  done_state d;
  create_ok(k, AUTH_ROLE_ADMIN, "default", 0, secret, &d);
  int64_t now = auth_now_ms();
  size_t len = strlen(secret);
  CHECK_EQ_INT(auth_keys_verify(k, secret, len, now, NULL), AUTH_OK);
  enum { N = 20000 };
  uint64_t t0 = uv_hrtime();
  int ok = 0;
  for (int i = 0; i < N; i++)
    ok += auth_keys_verify(k, secret, len, now, NULL) == AUTH_OK;
  double us = (double)(uv_hrtime() - t0) / 1e3 / N;
  fprintf(stderr, "cached verify: %.3f us\n", us);
  CHECK_EQ_INT(ok, N);
#ifndef __SANITIZE_ADDRESS__
  CHECK(us < 10.0);
#endif
  auth_keys_free(k);
  teardown();
}

int main(void) {
  RUN(test_roles_and_expiry_parsing);
  RUN(test_create_verify_and_storage);
  RUN(test_revoke_expire_and_other_instances);
  RUN(test_cached_verify_is_fast);
  CHECK_DONE();
}
