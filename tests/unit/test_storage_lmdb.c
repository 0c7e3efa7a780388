/* tests/unit/test_storage_lmdb.c — the storage-lmdb plugin through the real loader: reads, batches,
 * scans, snapshots, group commit, map full, config and open errors, durability under kill -9. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <uv.h>

#include "check.h"
#include "plugin/loader.h"

#define PLUGIN TEST_PLUGIN_DIR "/storage-lmdb.so"

/* ---- fixture: a loop, a registry with the plugin loaded, an open db ---- */

typedef struct fx {
  uv_loop_t loop;
  uv_timer_t tick; /* wakes UV_RUN_ONCE so waits can time out */
  plugin_registry *reg;
  const agentai_storage_def *def;
  agentai_storage *db;
  char dir[64];
} fx;

static void tick_cb(uv_timer_t *t) {
  (void)t;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  chmod(path, 0700);
  return remove(path);
}

static void rm_rf(const char *dir) {
  chmod(dir, 0700);
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_tmpdir(char *out, size_t len) {
  snprintf(out, len, "/tmp/agentai-lmdb-XXXXXX");
  CHECK(mkdtemp(out) != NULL);
}

/* Loop + registry + plugin; returns the load code, err holds the message. */
static int fx_load(fx *f, const char *cfg_json, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  make_tmpdir(f->dir, sizeof f->dir);
  CHECK_EQ_INT(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->tick);
  uv_timer_start(&f->tick, tick_cb, 20, 20);
  uv_unref((uv_handle_t *)&f->tick);
  CHECK_EQ_INT(plugin_registry_new(&f->loop, f->dir, &f->reg), 0);
  int rc = plugin_load(f->reg, PLUGIN, cfg_json, err, err_len);
  f->def = plugin_find_storage(f->reg, "lmdb");
  return rc;
}

static void fx_init(fx *f, const char *cfg_json) {
  char err[1024] = "";
  int rc = fx_load(f, cfg_json, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
  CHECK_EQ_INT(f->def->size, sizeof(agentai_storage_def));
  CHECK(f->def->open && f->def->close && f->def->get && f->def->scan && f->def->write &&
        f->def->snapshot_open && f->def->snapshot_close && f->def->stats);
}

static void fx_open(fx *f) {
  char err[1024] = "";
  int rc = f->def->open(f->def->ud, f->dir, &f->db, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "open: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->db != NULL);
}

static void fx_close_db(fx *f) {
  if (f->db)
    f->def->close(f->db);
  f->db = NULL;
}

static void fx_free(fx *f) {
  fx_close_db(f);
  plugin_registry_free(f->reg);
  uv_close((uv_handle_t *)&f->tick, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
  rm_rf(f->dir);
}

/* Runs the loop until *counter reaches want; fails after 20 s. */
static void wait_for(fx *f, const int *counter, int want) {
  uint64_t deadline = uv_hrtime() + 20000000000ull;
  while (*counter < want) {
    CHECK(uv_hrtime() < deadline);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
}

/* ---- sync helpers ---- */

typedef struct wres {
  int done;
  int err;
} wres;

static void on_done(void *ud, int err) {
  wres *r = ud;
  r->done++;
  r->err = err;
}

static int write_sync(fx *f, const agentai_kv_op *ops, size_t n) {
  wres r = {0, 0};
  int rc = f->def->write(f->db, ops, n, on_done, &r);
  if (rc != 0)
    return rc;
  wait_for(f, &r.done, 1);
  CHECK_EQ_INT(r.done, 1);
  return r.err;
}

static int put_sync(fx *f, const char *k, const char *v) {
  agentai_kv_op op = {AGENTAI_KV_PUT, k, strlen(k), v, strlen(v)};
  return write_sync(f, &op, 1);
}

static int del_sync(fx *f, const char *k) {
  agentai_kv_op op = {AGENTAI_KV_DELETE, k, strlen(k), NULL, 0};
  return write_sync(f, &op, 1);
}

typedef struct gres {
  int called;
  int err;
  char val[4096];
  size_t len;
} gres;

static void on_get(void *ud, int err, const void *value, size_t len) {
  gres *g = ud;
  g->called++;
  g->err = err;
  g->len = len;
  if (err == 0 && len < sizeof g->val) {
    if (len)
      memcpy(g->val, value, len);
    g->val[len] = '\0';
  }
}

/* Reads k; checks the read completed inline (before get() returned). */
static int get_sync(fx *f, agentai_snapshot *snap, const char *k, gres *g) {
  memset(g, 0, sizeof *g);
  CHECK_EQ_INT(f->def->get(f->db, snap, k, strlen(k), on_get, g), 0);
  CHECK_EQ_INT(g->called, 1);
  return g->err;
}

static void check_value(fx *f, const char *k, const char *want) {
  gres g;
  CHECK_EQ_INT(get_sync(f, NULL, k, &g), 0);
  CHECK_STR_CONTAINS(g.val, want);
  CHECK_EQ_INT(g.len, strlen(want));
}

static void check_absent(fx *f, const char *k) {
  gres g;
  CHECK_EQ_INT(get_sync(f, NULL, k, &g), AGENTAI_ENOENT);
}

typedef struct sres {
  int done, err, items, stop_after;
  char keys[1024];
} sres;

static int on_item(void *ud, const void *k, size_t klen, const void *v, size_t vlen) {
  sres *s = ud;
  (void)v;
  (void)vlen;
  size_t used = strlen(s->keys);
  snprintf(s->keys + used, sizeof s->keys - used, "%s%.*s", used ? "," : "", (int)klen,
           (const char *)k);
  s->items++;
  return s->stop_after && s->items >= s->stop_after;
}

static void on_scan_done(void *ud, int err) {
  sres *s = ud;
  s->done++;
  s->err = err;
}

static void scan_sync(fx *f, agentai_snapshot *snap, const agentai_scan_range *r, sres *s,
                      int stop_after) {
  memset(s, 0, sizeof *s);
  s->stop_after = stop_after;
  CHECK_EQ_INT(f->def->scan(f->db, snap, r, on_item, on_scan_done, s), 0);
  CHECK_EQ_INT(s->done, 1); /* inline */
  CHECK_EQ_INT(s->err, 0);
}

/* A number field of the stats JSON ("key":N). */
static double stat_of(fx *f, const char *key) {
  char *json = NULL;
  CHECK_EQ_INT(f->def->stats(f->db, &json), 0);
  CHECK(json != NULL);
  char needle[64];
  snprintf(needle, sizeof needle, "\"%s\":", key);
  const char *p = strstr(json, needle);
  CHECK_STR_CONTAINS(json, needle);
  double v = strtod(p + strlen(needle), NULL);
  free(json);
  return v;
}

/* ---- tests ---- */

static void test_roundtrip(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  check_absent(&f, "alpha");
  CHECK_EQ_INT(put_sync(&f, "alpha", "one"), 0);
  check_value(&f, "alpha", "one");
  CHECK_EQ_INT(put_sync(&f, "alpha", "uno"), 0); /* overwrite */
  check_value(&f, "alpha", "uno");
  CHECK_EQ_INT(put_sync(&f, "empty", ""), 0); /* empty value is a value */
  gres g;
  CHECK_EQ_INT(get_sync(&f, NULL, "empty", &g), 0);
  CHECK_EQ_INT(g.len, 0);
  CHECK_EQ_INT(del_sync(&f, "alpha"), 0);
  check_absent(&f, "alpha");
  CHECK_EQ_INT(del_sync(&f, "never-there"), 0); /* deleting a missing key is fine */
  /* binary key with NUL bytes */
  const char bin[] = {'b', 0, 'x', 0};
  agentai_kv_op op = {AGENTAI_KV_PUT, bin, sizeof bin, "bin", 3};
  CHECK_EQ_INT(write_sync(&f, &op, 1), 0);
  memset(&g, 0, sizeof g);
  CHECK_EQ_INT(f.def->get(f.db, NULL, bin, sizeof bin, on_get, &g), 0);
  CHECK_EQ_INT(g.err, 0);
  CHECK_EQ_INT(g.len, 3);
  CHECK_EQ_INT(f.def->get(f.db, NULL, bin, 1, on_get, &g), 0); /* prefix "b" is another key */
  CHECK_EQ_INT(g.err, AGENTAI_ENOENT);
  fx_free(&f);
}

static void test_atomic_batch(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "x", "old-x"), 0);
  CHECK_EQ_INT(put_sync(&f, "y", "old-y"), 0);
  agentai_kv_op ops[] = {
      {AGENTAI_KV_PUT, "a", 1, "A", 1},
      {AGENTAI_KV_PUT, "b", 1, "B", 1},
      {AGENTAI_KV_DELETE, "x", 1, NULL, 0},
      {AGENTAI_KV_PUT, "a", 1, "A2", 2}, /* later op in a batch wins */
  };
  CHECK_EQ_INT(write_sync(&f, ops, 4), 0);
  check_value(&f, "a", "A2");
  check_value(&f, "b", "B");
  check_absent(&f, "x");
  check_value(&f, "y", "old-y");

  /* A batch with one invalid op is refused whole: its valid ops are not applied. */
  agentai_kv_op bad[] = {
      {AGENTAI_KV_PUT, "c", 1, "C", 1},
      {7, "d", 1, "D", 1},
  };
  wres r = {0, 0};
  CHECK_EQ_INT(f.def->write(f.db, bad, 2, on_done, &r), AGENTAI_EINVAL);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(r.done, 0); /* refused: callback never called */
  check_absent(&f, "c");
  /* PUT with a length but no value pointer */
  agentai_kv_op novalue = {AGENTAI_KV_PUT, "e", 1, NULL, 4};
  CHECK_EQ_INT(f.def->write(f.db, &novalue, 1, on_done, &r), AGENTAI_EINVAL);
  CHECK_EQ_INT(f.def->write(f.db, NULL, 1, on_done, &r), AGENTAI_EINVAL);

  /* Empty batch: accepted, done(0). */
  CHECK_EQ_INT(write_sync(&f, NULL, 0), 0);
  /* The caller's buffers are copied before write() returns. */
  char key[8] = "temp", val[8] = "value";
  agentai_kv_op op = {AGENTAI_KV_PUT, key, 4, val, 5};
  r.done = 0;
  CHECK_EQ_INT(f.def->write(f.db, &op, 1, on_done, &r), 0);
  memset(key, 'Z', sizeof key);
  memset(val, 'Z', sizeof val);
  wait_for(&f, &r.done, 1);
  CHECK_EQ_INT(r.err, 0);
  check_value(&f, "temp", "value");
  fx_free(&f);
}

static void test_key_limits(void) {
  fx f;
  fx_init(&f, "{}");
  fx_open(&f);
  char key[600];
  memset(key, 'k', sizeof key);
  wres r = {0, 0};
  agentai_kv_op op = {AGENTAI_KV_PUT, key, 512, "v", 1};
  CHECK_EQ_INT(f.def->write(f.db, &op, 1, on_done, &r), AGENTAI_EINVAL);
  op.key_len = 0;
  CHECK_EQ_INT(f.def->write(f.db, &op, 1, on_done, &r), AGENTAI_EINVAL);
  op.key = NULL;
  op.key_len = 3;
  CHECK_EQ_INT(f.def->write(f.db, &op, 1, on_done, &r), AGENTAI_EINVAL);
  agentai_kv_op del = {AGENTAI_KV_DELETE, key, 600, NULL, 0};
  CHECK_EQ_INT(f.def->write(f.db, &del, 1, on_done, &r), AGENTAI_EINVAL);
  CHECK_EQ_INT(r.done, 0);
  /* 511 is the longest key */
  op.key = key;
  op.key_len = 511;
  CHECK_EQ_INT(write_sync(&f, &op, 1), 0);
  gres g;
  CHECK_EQ_INT(f.def->get(f.db, NULL, key, 511, on_get, &g), 0);
  CHECK_EQ_INT(g.err, 0);
  CHECK_EQ_INT(f.def->get(f.db, NULL, key, 512, on_get, &g), AGENTAI_EINVAL);
  CHECK_EQ_INT(f.def->get(f.db, NULL, key, 0, on_get, &g), AGENTAI_EINVAL);
  CHECK_EQ_INT(f.def->get(f.db, NULL, key, 5, NULL, &g), AGENTAI_EINVAL);
  fx_free(&f);
}

static void fill_scan_keys(fx *f) {
  const char *keys[] = {"c", "b/2", "a", "b/3", "b/1", "b0"};
  agentai_kv_op ops[6];
  for (int i = 0; i < 6; i++)
    ops[i] = (agentai_kv_op){AGENTAI_KV_PUT, keys[i], strlen(keys[i]), "v", 1};
  CHECK_EQ_INT(write_sync(f, ops, 6), 0);
}

static void test_scan(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  sres s;
  agentai_scan_range all = {0};
  scan_sync(&f, NULL, &all, &s, 0); /* empty database */
  CHECK_EQ_INT(s.items, 0);
  fill_scan_keys(&f);

  scan_sync(&f, NULL, &all, &s, 0);
  CHECK_STR_CONTAINS(s.keys, "a,b/1,b/2,b/3,b0,c");
  CHECK_EQ_INT(s.items, 6);
  all.flags = AGENTAI_SCAN_REVERSE;
  scan_sync(&f, NULL, &all, &s, 0);
  CHECK_STR_CONTAINS(s.keys, "c,b0,b/3,b/2,b/1,a");

  agentai_scan_range lim = {.limit = 2};
  scan_sync(&f, NULL, &lim, &s, 0);
  CHECK_EQ_INT(s.items, 2);
  CHECK(strcmp(s.keys, "a,b/1") == 0);
  lim.flags = AGENTAI_SCAN_REVERSE;
  scan_sync(&f, NULL, &lim, &s, 0);
  CHECK(strcmp(s.keys, "c,b0") == 0);

  scan_sync(&f, NULL, &all, &s, 3); /* item callback stops the scan */
  CHECK_EQ_INT(s.items, 3);
  CHECK(strcmp(s.keys, "c,b0,b/3") == 0);

  /* prefix "b/" = [b/, b0) */
  agentai_scan_range pre = {"b/", 2, "b0", 2, 0, 0};
  scan_sync(&f, NULL, &pre, &s, 0);
  CHECK(strcmp(s.keys, "b/1,b/2,b/3") == 0);
  pre.flags = AGENTAI_SCAN_REVERSE;
  scan_sync(&f, NULL, &pre, &s, 0);
  CHECK(strcmp(s.keys, "b/3,b/2,b/1") == 0);
  pre.limit = 1;
  scan_sync(&f, NULL, &pre, &s, 0);
  CHECK(strcmp(s.keys, "b/3") == 0);

  /* bounds that are not keys themselves, open ends */
  agentai_scan_range mid = {"b/15", 4, "b/25", 4, 0, 0};
  scan_sync(&f, NULL, &mid, &s, 0);
  CHECK(strcmp(s.keys, "b/2") == 0);
  mid.flags = AGENTAI_SCAN_REVERSE;
  scan_sync(&f, NULL, &mid, &s, 0);
  CHECK(strcmp(s.keys, "b/2") == 0);
  agentai_scan_range from = {"b0", 2, NULL, 0, 0, 0};
  scan_sync(&f, NULL, &from, &s, 0);
  CHECK(strcmp(s.keys, "b0,c") == 0);
  agentai_scan_range upto = {NULL, 0, "b/2", 3, AGENTAI_SCAN_REVERSE, 0};
  scan_sync(&f, NULL, &upto, &s, 0);
  CHECK(strcmp(s.keys, "b/1,a") == 0);
  agentai_scan_range past = {NULL, 0, "zzz", 3, AGENTAI_SCAN_REVERSE, 0};
  scan_sync(&f, NULL, &past, &s, 0);
  CHECK_EQ_INT(s.items, 6);

  /* empty ranges: end <= start, and an empty end */
  agentai_scan_range inverted = {"c", 1, "a", 1, 0, 0};
  scan_sync(&f, NULL, &inverted, &s, 0);
  CHECK_EQ_INT(s.items, 0);
  agentai_scan_range none = {NULL, 0, "", 0, AGENTAI_SCAN_REVERSE, 0};
  scan_sync(&f, NULL, &none, &s, 0);
  CHECK_EQ_INT(s.items, 0);

  /* a start longer than any key can be */
  char longstart[600];
  memset(longstart, 'b', sizeof longstart);
  agentai_scan_range lng = {longstart, sizeof longstart, NULL, 0, 0, 0};
  scan_sync(&f, NULL, &lng, &s, 0);
  CHECK(strcmp(s.keys, "c") == 0);
  agentai_scan_range lngrev = {NULL, 0, longstart, sizeof longstart, AGENTAI_SCAN_REVERSE, 0};
  scan_sync(&f, NULL, &lngrev, &s, 0);
  CHECK(strcmp(s.keys, "b0,b/3,b/2,b/1,a") == 0);

  /* refused: no callbacks */
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(f.def->scan(f.db, NULL, &all, NULL, on_scan_done, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(f.def->scan(f.db, NULL, NULL, on_item, on_scan_done, &s), AGENTAI_EINVAL);
  agentai_scan_range badptr = {NULL, 3, NULL, 0, 0, 0};
  CHECK_EQ_INT(f.def->scan(f.db, NULL, &badptr, on_item, on_scan_done, &s), AGENTAI_EINVAL);
  CHECK_EQ_INT(s.done, 0);
  fx_free(&f);
}

static void test_snapshot(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "k", "v1"), 0);
  agentai_snapshot *snap = NULL;
  CHECK_EQ_INT(f.def->snapshot_open(f.db, &snap), 0);
  CHECK(snap != NULL);
  CHECK_EQ_INT(put_sync(&f, "k", "v2"), 0);
  CHECK_EQ_INT(put_sync(&f, "new", "n"), 0);
  gres g;
  CHECK_EQ_INT(get_sync(&f, snap, "k", &g), 0);
  CHECK(strcmp(g.val, "v1") == 0);
  CHECK_EQ_INT(get_sync(&f, snap, "new", &g), AGENTAI_ENOENT);
  check_value(&f, "k", "v2");
  check_value(&f, "new", "n");
  sres s;
  agentai_scan_range all = {0};
  scan_sync(&f, snap, &all, &s, 0);
  CHECK(strcmp(s.keys, "k") == 0);
  scan_sync(&f, NULL, &all, &s, 0);
  CHECK(strcmp(s.keys, "k,new") == 0);
  /* a second snapshot sees the newer state */
  agentai_snapshot *snap2 = NULL;
  CHECK_EQ_INT(f.def->snapshot_open(f.db, &snap2), 0);
  CHECK_EQ_INT(get_sync(&f, snap2, "new", &g), 0);
  f.def->snapshot_close(f.db, snap);
  CHECK_EQ_INT(get_sync(&f, snap2, "k", &g), 0);
  CHECK(strcmp(g.val, "v2") == 0);
  f.def->snapshot_close(f.db, snap2);
  fx_free(&f);
}

/* Snapshots hold LMDB reader slots: when they run out, snapshot_open says busy. */
static void test_readers_full(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8,\"max_readers\":2}");
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "k", "v"), 0);
  check_value(&f, "k", "v"); /* the cached read txn takes one slot */
  int max = (int)stat_of(&f, "max_readers");
  agentai_snapshot *snaps[300];
  int n = 0, rc = 0;
  while (n < 300 && (rc = f.def->snapshot_open(f.db, &snaps[n])) == 0)
    n++;
  CHECK_EQ_INT(rc, AGENTAI_EBUSY);
  CHECK_EQ_INT(n, max - 1);
  check_value(&f, "k", "v"); /* the cached txn keeps its slot */
  for (int i = 0; i < n; i++)
    f.def->snapshot_close(f.db, snaps[i]);
  CHECK_EQ_INT(f.def->snapshot_open(f.db, &snaps[0]), 0);
  f.def->snapshot_close(f.db, snaps[0]);
  fx_free(&f);
}

/* Each done callback reads its own write, then issues the next write. */
typedef struct chain {
  fx *f;
  int step, steps, seen, failures;
} chain;

static void chain_next(chain *c);

static void chain_done(void *ud, int err) {
  chain *c = ud;
  char key[32], want[32];
  snprintf(key, sizeof key, "chain");
  snprintf(want, sizeof want, "value-%d", c->step);
  gres g;
  memset(&g, 0, sizeof g);
  if (err != 0 || c->f->def->get(c->f->db, NULL, key, strlen(key), on_get, &g) != 0 || g.err != 0 ||
      strcmp(g.val, want) != 0)
    c->failures++;
  c->seen++;
  c->step++;
  if (c->step < c->steps)
    chain_next(c);
}

static void chain_next(chain *c) {
  char val[32];
  gres g;
  /* a read first, so the cached read txn predates the write */
  memset(&g, 0, sizeof g);
  c->f->def->get(c->f->db, NULL, "chain", 5, on_get, &g);
  snprintf(val, sizeof val, "value-%d", c->step);
  agentai_kv_op op = {AGENTAI_KV_PUT, "chain", 5, val, strlen(val)};
  if (c->f->def->write(c->f->db, &op, 1, chain_done, c) != 0)
    c->failures++;
}

static void test_read_after_write(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  chain c = {&f, 0, 40, 0, 0};
  chain_next(&c);
  wait_for(&f, &c.seen, 40);
  CHECK_EQ_INT(c.failures, 0);
  fx_free(&f);
}

static void test_group_commit(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":16}");
  fx_open(&f);
  double commits0 = stat_of(&f, "commits"), batches0 = stat_of(&f, "batches");
  enum { N = 200 };
  wres r[N];
  int acked = 0;
  memset(r, 0, sizeof r);
  char val[1024];
  memset(val, 'v', sizeof val);
  for (int i = 0; i < N; i++) {
    char key[16];
    snprintf(key, sizeof key, "g%05d", i);
    agentai_kv_op op = {AGENTAI_KV_PUT, key, strlen(key), val, sizeof val};
    CHECK_EQ_INT(f.def->write(f.db, &op, 1, on_done, &r[i]), 0);
  }
  uint64_t deadline = uv_hrtime() + 20000000000ull;
  while (acked < N) {
    CHECK(uv_hrtime() < deadline);
    uv_run(&f.loop, UV_RUN_ONCE);
    acked = 0;
    for (int i = 0; i < N; i++)
      acked += r[i].done;
  }
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(r[i].done, 1);
    CHECK_EQ_INT(r[i].err, 0);
  }
  double commits = stat_of(&f, "commits") - commits0;
  double batches = stat_of(&f, "batches") - batches0;
  fprintf(stderr, "   200 writes: %.0f commits\n", commits);
  CHECK_EQ_INT((int)batches, N);
  CHECK(commits >= 1);
  CHECK(commits <= N / 10); /* grouped: far fewer fsyncs than writes */
  CHECK(stat_of(&f, "batches_per_commit") > 1.0);
  CHECK_EQ_INT((int)stat_of(&f, "entries"), N);
  sres s;
  agentai_scan_range pre = {"g", 1, "h", 1, 0, 0};
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(f.def->scan(f.db, NULL, &pre, on_item, on_scan_done, &s), 0);
  CHECK_EQ_INT(s.items, N);
  fx_free(&f);
}

/* A child process holds LMDB's write lock until told to let go, so the
 * plugin's writer blocks and the batches queued meanwhile form one group. */
typedef struct lock_holder {
  pid_t pid;
  int to_child, from_child;
} lock_holder;

static void holder_start(lock_holder *h, const char *env_dir) {
  int down[2], up[2];
  CHECK_EQ_INT(pipe(down), 0);
  CHECK_EQ_INT(pipe(up), 0);
  h->pid = fork();
  CHECK(h->pid >= 0);
  if (h->pid == 0) {
    char c;
    close(down[1]);
    close(up[0]);
    if (read(down[0], &c, 1) != 1) /* "go": the parent's env exists */
      _exit(1);
    MDB_env *env;
    MDB_txn *txn;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 1u << 20) ||
        mdb_env_open(env, env_dir, MDB_NOTLS, 0600) || mdb_txn_begin(env, NULL, 0, &txn))
      _exit(2);
    if (write(up[1], "L", 1) != 1 || read(down[0], &c, 1) != 1)
      _exit(3);
    mdb_txn_abort(txn);
    _exit(0);
  }
  close(down[0]);
  close(up[1]);
  h->to_child = down[1];
  h->from_child = up[0];
}

static void holder_lock(lock_holder *h) {
  char c;
  CHECK_EQ_INT(write(h->to_child, "g", 1), 1);
  CHECK_EQ_INT(read(h->from_child, &c, 1), 1);
}

static void holder_release(lock_holder *h) {
  int status = 0;
  CHECK_EQ_INT(write(h->to_child, "r", 1), 1);
  CHECK_EQ_INT(waitpid(h->pid, &status, 0), h->pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(h->to_child);
  close(h->from_child);
}

static void test_map_full(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":1}");
  char env_dir[128];
  snprintf(env_dir, sizeof env_dir, "%s/lmdb", f.dir);
  lock_holder h;
  holder_start(&h, env_dir); /* forked before the plugin starts threads */
  fx_open(&f);
  holder_lock(&h);
  size_t big_len = 2u << 20; /* twice the map */
  char *big = malloc(big_len);
  CHECK(big != NULL);
  memset(big, 'B', big_len);
  char val[512];
  memset(val, 's', sizeof val);
  agentai_kv_op small1 = {AGENTAI_KV_PUT, "small1", 6, val, sizeof val};
  agentai_kv_op bigops[] = {
      {AGENTAI_KV_PUT, "big-companion", 13, "c", 1},
      {AGENTAI_KV_PUT, "big", 3, big, big_len},
  };
  agentai_kv_op small2 = {AGENTAI_KV_PUT, "small2", 6, val, sizeof val};
  wres r1 = {0, 0}, rb = {0, 0}, r2 = {0, 0};
  CHECK_EQ_INT(f.def->write(f.db, &small1, 1, on_done, &r1), 0);
  CHECK_EQ_INT(f.def->write(f.db, bigops, 2, on_done, &rb), 0);
  CHECK_EQ_INT(f.def->write(f.db, &small2, 1, on_done, &r2), 0);
  free(big); /* copied at write() */
  usleep(50 * 1000);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(r1.done + rb.done + r2.done, 0); /* the writer waits for the lock */
  holder_release(&h);
  wait_for(&f, &r1.done, 1);
  wait_for(&f, &rb.done, 1);
  wait_for(&f, &r2.done, 1);
  CHECK_EQ_INT(r1.err, 0);
  CHECK_EQ_INT(rb.err, AGENTAI_ENOSPC);
  CHECK_EQ_INT(r2.err, 0);
  gres g;
  CHECK_EQ_INT(get_sync(&f, NULL, "small1", &g), 0);
  CHECK_EQ_INT(g.len, sizeof val);
  CHECK_EQ_INT(get_sync(&f, NULL, "small2", &g), 0);
  CHECK_EQ_INT(g.len, sizeof val);
  check_absent(&f, "big");
  check_absent(&f, "big-companion"); /* nothing of the failed batch */
  CHECK_EQ_INT((int)stat_of(&f, "map_full_errors"), 1);
  /* small1 went in the first txn; big and small2 queued behind it, or all three were one
   * group: either way a group failed and was retried batch by batch */
  CHECK((int)stat_of(&f, "group_fallbacks") >= 1);
  /* still usable, also for a lone oversized batch */
  CHECK_EQ_INT(put_sync(&f, "after", "ok"), 0);
  check_value(&f, "after", "ok");
  char *big2 = calloc(1, big_len);
  CHECK(big2 != NULL);
  agentai_kv_op alone = {AGENTAI_KV_PUT, "big2", 4, big2, big_len};
  CHECK_EQ_INT(write_sync(&f, &alone, 1), AGENTAI_ENOSPC);
  free(big2);
  CHECK_EQ_INT((int)stat_of(&f, "map_full_errors"), 2);
  CHECK_EQ_INT((int)stat_of(&f, "entries"), 3);
  fx_free(&f);
}

static void test_reopen(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  for (int i = 0; i < 20; i++) {
    char k[16], v[16];
    snprintf(k, sizeof k, "r%02d", i);
    snprintf(v, sizeof v, "val%02d", i);
    CHECK_EQ_INT(put_sync(&f, k, v), 0);
  }
  fx_close_db(&f);
  /* a database file exists under <data>/lmdb */
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "%s/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0600);
  snprintf(path, sizeof path, "%s/lmdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0700);
  fx_open(&f);
  check_value(&f, "r00", "val00");
  check_value(&f, "r19", "val19");
  CHECK_EQ_INT((int)stat_of(&f, "entries"), 20);
  /* the same environment cannot be opened twice in one process */
  agentai_storage *second = NULL;
  char err[1024] = "";
  CHECK_EQ_INT(f.def->open(f.def->ud, f.dir, &second, err, sizeof err), AGENTAI_EBUSY);
  CHECK_STR_CONTAINS(err, "already open");
  CHECK(second == NULL);
  fx_free(&f);
}

/* close() with writes in flight: every callback has run when it returns. */
typedef struct drain {
  fx *f;
  int done, ok, refused_after_close;
} drain;

static void drain_done(void *ud, int err) {
  drain *d = ud;
  d->done++;
  d->ok += err == 0;
  agentai_kv_op op = {AGENTAI_KV_PUT, "late", 4, "x", 1};
  if (d->f->def->write(d->f->db, &op, 1, drain_done, d) == AGENTAI_EBUSY)
    d->refused_after_close++;
}

static void test_close_drains(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  drain d = {&f, 0, 0, 0};
  for (int i = 0; i < 50; i++) {
    char k[16];
    snprintf(k, sizeof k, "w%02d", i);
    agentai_kv_op op = {AGENTAI_KV_PUT, k, strlen(k), "v", 1};
    CHECK_EQ_INT(f.def->write(f.db, &op, 1, drain_done, &d), 0);
  }
  f.def->close(f.db); /* no loop run in between */
  CHECK_EQ_INT(d.done, 50);
  CHECK_EQ_INT(d.ok, 50);
  CHECK_EQ_INT(d.refused_after_close, 50);
  f.db = NULL;
  uv_run(&f.loop, UV_RUN_NOWAIT); /* a stale completion post must be harmless */
  fx_open(&f);
  check_value(&f, "w00", "v");
  check_value(&f, "w49", "v");
  check_absent(&f, "late");
  fx_free(&f);
}

static void expect_config_error(const char *cfg_json, const char *needle) {
  fx f;
  char err[1024] = "";
  int rc = fx_load(&f, cfg_json, err, sizeof err);
  CHECK(rc < 0);
  CHECK_STR_CONTAINS(err, needle);
  CHECK(strchr(err, '\n') == NULL); /* one line */
  CHECK(f.def == NULL);             /* nothing registered */
  fx_free(&f);
}

static void test_bad_config(void) {
  expect_config_error("{\"map_size_mb\":\"big\"}", "key 'map_size_mb' must be an integer");
  expect_config_error("{\"map_size_mb\":0}", "key 'map_size_mb' must be between");
  expect_config_error("{\"map_size_mb\":1.5}", "key 'map_size_mb' must be an integer");
  expect_config_error("{\"max_readers\":true}", "key 'max_readers' must be an integer");
  expect_config_error("{\"max_readers\":-3}", "key 'max_readers'");
  expect_config_error("{\"subdir\":5}", "key 'subdir' must be a string");
  expect_config_error("{\"subdir\":\"../escape\"}", "key 'subdir' must not contain '..'");
  expect_config_error("{\"subdir\":\"/abs\"}", "key 'subdir'");
  expect_config_error("{\"map_size_mb\":4,\"sync\":false}", "unknown key 'sync'");
  expect_config_error("{\"nested\":{\"a\":[1,2]}}", "unknown key 'nested'");
  expect_config_error("{\"map_size_mb\":4", "invalid JSON");
  expect_config_error("[1]", "must be a JSON object");
  expect_config_error("{\"map_size_mb\":4} x", "trailing characters");
  expect_config_error("{\"subdir\":\"a\\q\"}", "bad escape");

  /* a valid configuration with every key, escapes included */
  fx f;
  fx_init(&f, " {\"map_size_mb\": 4, \"subdir\": \"x\\/y\", \"max_readers\": 10} ");
  fx_open(&f);
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "%s/x/y/data.mdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT((int)stat_of(&f, "map_size"), 4 << 20);
  CHECK_EQ_INT((int)stat_of(&f, "max_readers"), 10);
  fx_free(&f);
}

static void expect_open_error(fx *f, const char *dir, int code, const char *n1, const char *n2) {
  agentai_storage *db = NULL;
  char err[1024] = "";
  CHECK_EQ_INT(f->def->open(f->def->ud, dir, &db, err, sizeof err), code);
  CHECK(db == NULL);
  CHECK_STR_CONTAINS(err, n1);
  CHECK_STR_CONTAINS(err, n2);
  CHECK(strchr(err, '\n') == NULL);
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ_INT(write(fd, data, len), (long long)len);
  close(fd);
}

static void test_open_errors(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":4}");
  char path[128];

  /* data folder is a regular file */
  snprintf(path, sizeof path, "%s/file", f.dir);
  write_file(path, "x", 1);
  expect_open_error(&f, path, AGENTAI_EIO, path, "exists but is not a folder");

  /* garbage data.mdb */
  snprintf(path, sizeof path, "%s/bad/lmdb", f.dir);
  char mk[128];
  snprintf(mk, sizeof mk, "%s/bad", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  char garbage[16384];
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (char)(i * 131 + 7);
  snprintf(path, sizeof path, "%s/bad/lmdb/data.mdb", f.dir);
  write_file(path, garbage, sizeof garbage);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "data.mdb", "not a valid LMDB database");
  /* a truncated file: shorter than the meta pages */
  write_file(path, garbage, 100);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "data.mdb", "not a valid LMDB database");

  /* data.mdb that is a folder */
  snprintf(mk, sizeof mk, "%s/dirdb", f.dir);
  snprintf(path, sizeof path, "%s/dirdb/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  snprintf(path, sizeof path, "%s/dirdb/lmdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/dirdb/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, path, "not a regular file");

  /* lock file that is a folder */
  snprintf(mk, sizeof mk, "%s/lockdir", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  snprintf(path, sizeof path, "%s/lockdir/lmdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/lockdir/lmdb/lock.mdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "lock file", path);

  /* not writable (permissions do not bind root) */
  if (geteuid() != 0) {
    snprintf(mk, sizeof mk, "%s/ro", f.dir);
    CHECK_EQ_INT(mkdir(mk, 0500), 0);
    expect_open_error(&f, mk, AGENTAI_EIO, mk, "Permission denied");
  }
  /* the plugin still works after the failures */
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "ok", "1"), 0);
  fx_free(&f);
}

/* Another process's commit shows up within a few milliseconds, without a write of ours. */
static void test_sees_other_process(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "mine", "1"), 0);
  check_absent(&f, "theirs"); /* caches a read txn */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char path[128];
    snprintf(path, sizeof path, "%s/lmdb", f.dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    rc = rc ? rc : mdb_env_set_mapsize(env, 8u << 20);
    rc = rc ? rc : mdb_env_open(env, path, MDB_NOTLS, 0600);
    rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {6, "theirs"}, v = {3, "yes"};
    rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
    rc = rc ? rc : mdb_txn_commit(txn);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  usleep(20 * 1000);
  check_value(&f, "theirs", "yes");
  fx_free(&f);
}

/* ---- durability under kill -9 ---- */

typedef struct pump {
  fx *f;
  int fd;
  unsigned next, in_flight;
  char val[1024];
} pump;

typedef struct pump_req {
  pump *p;
  unsigned id;
} pump_req;

static void pump_issue(pump *p);

static void pump_done(void *ud, int err) {
  pump_req *r = ud;
  pump *p = r->p;
  if (err == 0) {
    char line[32];
    int n = snprintf(line, sizeof line, "%08u\n", r->id);
    if (write(p->fd, line, (size_t)n) != n)
      _exit(3);
  }
  free(r);
  p->in_flight--;
  pump_issue(p);
}

static void pump_issue(pump *p) {
  while (p->in_flight < 32) {
    pump_req *r = malloc(sizeof *r);
    if (!r)
      _exit(4);
    r->p = p;
    r->id = p->next++;
    char key[16];
    snprintf(key, sizeof key, "d%08u", r->id);
    agentai_kv_op ops[2] = {
        {AGENTAI_KV_PUT, key, strlen(key), p->val, sizeof p->val},
        {AGENTAI_KV_PUT, "last", 4, key, strlen(key)},
    };
    if (p->f->def->write(p->f->db, ops, 2, pump_done, r) != 0)
      _exit(5);
    p->in_flight++;
  }
}

static void test_durable_under_kill(void) {
  char dir[64];
  make_tmpdir(dir, sizeof dir);
  int fds[2];
  CHECK_EQ_INT(pipe(fds), 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    fx f;
    fx_init(&f, "{\"map_size_mb\":256}");
    rm_rf(f.dir);
    snprintf(f.dir, sizeof f.dir, "%s", dir);
    fx_open(&f);
    static pump p;
    p.f = &f;
    p.fd = fds[1];
    memset(p.val, 'd', sizeof p.val);
    pump_issue(&p);
    for (;;)
      uv_run(&f.loop, UV_RUN_ONCE);
  }
  close(fds[1]);
  /* Kill it mid-stream, once it has acknowledged a few hundred writes. */
  static char buf[1 << 20];
  size_t len = 0;
  uint64_t deadline = uv_hrtime() + 20000000000ull;
  int killed = 0;
  for (;;) {
    if (!killed && (len / 9 >= 2000 || uv_hrtime() > deadline)) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (n <= 0)
      break; /* EOF: the child is dead and everything it wrote is here */
    len += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  size_t acked = len / 9; /* "%08u\n"; a torn last line is not an ack */
  fprintf(stderr, "   %zu acknowledged writes before kill -9\n", acked);
  CHECK(acked >= 2000);

  fx f;
  fx_init(&f, "{\"map_size_mb\":256}");
  rm_rf(f.dir);
  snprintf(f.dir, sizeof f.dir, "%s", dir);
  fx_open(&f);
  size_t missing = 0;
  for (size_t i = 0; i < acked; i++) {
    char key[16];
    snprintf(key, sizeof key, "d%.8s", buf + i * 9);
    gres g;
    memset(&g, 0, sizeof g);
    CHECK_EQ_INT(f.def->get(f.db, NULL, key, strlen(key), on_get, &g), 0);
    if (g.err != 0 || g.len != 1024)
      missing++;
  }
  CHECK_EQ_INT(missing, 0);
  /* each batch also moved "last": it names a write that is there in full */
  gres last;
  CHECK_EQ_INT(get_sync(&f, NULL, "last", &last), 0);
  CHECK_EQ_INT(last.len, 9);
  gres g;
  CHECK_EQ_INT(get_sync(&f, NULL, last.val, &g), 0);
  CHECK_EQ_INT(g.len, 1024);
  CHECK(strncmp(last.val + 1, buf + (acked - 1) * 9, 8) >= 0); /* not older than the last ack */
  fx_free(&f);
}

int main(void) {
  RUN(test_roundtrip);
  RUN(test_atomic_batch);
  RUN(test_key_limits);
  RUN(test_scan);
  RUN(test_snapshot);
  RUN(test_readers_full);
  RUN(test_read_after_write);
  RUN(test_group_commit);
  RUN(test_map_full);
  RUN(test_reopen);
  RUN(test_close_drains);
  RUN(test_bad_config);
  RUN(test_open_errors);
  RUN(test_sees_other_process);
  RUN(test_durable_under_kill);
  CHECK_DONE();
}
