/* tests/unit/test_storage_lmdb_reads.c — storage-lmdb reads: round trips, scans, snapshots,
 * reader slots, reads after writes. */
#include <stdio.h>
#include <string.h>

#include "lmdb_fixture.h"

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

int main(void) {
  RUN(test_roundtrip);
  RUN(test_scan);
  RUN(test_snapshot);
  RUN(test_readers_full);
  RUN(test_read_after_write);
  CHECK_DONE();
}
