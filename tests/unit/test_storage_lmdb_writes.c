/* tests/unit/test_storage_lmdb_writes.c — storage-lmdb writes: atomic batches, key limits,
 * group commit, map full, close with writes in flight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "lmdb_fixture.h"

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

int main(void) {
  RUN(test_atomic_batch);
  RUN(test_key_limits);
  RUN(test_group_commit);
  RUN(test_map_full);
  RUN(test_close_drains);
  CHECK_DONE();
}
