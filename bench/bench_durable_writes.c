/* bench/bench_durable_writes.c — durable 1 KB writes/s: a raw LMDB commit-per-write loop (the peer)
 * against many concurrent writes through the storage-lmdb plugin's group commit, same disk, one
 * run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <ftw.h>
#include <unistd.h>

#include <lmdb.h>
#include <uv.h>

#include "bench_util.h"
#include "plugin/loader.h"

#define VALUE_BYTES 1024
#define TMPFS_MAGIC_NUMBER 0x01021994

typedef struct opts {
  const char *dir;        /* base folder; both stores live under it (same disk) */
  const char *plugin_dir; /* where storage-lmdb.so is */
  double seconds;         /* per side, split in rounds */
  unsigned in_flight;     /* agentai: writes outstanding at all times */
} opts;

static void make_key(char *key, unsigned long long n) {
  snprintf(key, 17, "k%015llu", n); /* time-ordered ids: appends, as the runtime writes them */
}

/* ---- the peer: one fsync'd LMDB commit per write ---- */

typedef struct peer {
  MDB_env *env;
  MDB_dbi dbi;
  unsigned long long next;
  char value[VALUE_BYTES];
} peer;

static int peer_open(peer *p, const char *dir) {
  MDB_txn *txn;
  int rc = mdb_env_create(&p->env);
  if (rc == 0)
    rc = mdb_env_set_mapsize(p->env, (size_t)4 << 30);
  if (rc == 0)
    rc = mdb_env_open(p->env, dir, 0, 0600); /* default flags: durable commits */
  if (rc == 0 && (rc = mdb_txn_begin(p->env, NULL, 0, &txn)) == 0) {
    rc = mdb_dbi_open(txn, NULL, 0, &p->dbi);
    rc = rc ? rc : mdb_txn_commit(txn);
  }
  if (rc != 0)
    fprintf(stderr, "peer: LMDB open %s: %s\n", dir, mdb_strerror(rc));
  memset(p->value, 'v', sizeof p->value);
  return rc;
}

/* Writes for `seconds`; adds the writes and the time taken. */
static int peer_slice(peer *p, double seconds, double *writes, double *elapsed) {
  double t0 = bench_now_s(), t = t0;
  unsigned long long n = 0;
  while (t - t0 < seconds) {
    char key[17];
    MDB_txn *txn;
    make_key(key, p->next++);
    MDB_val k = {16, key}, v = {sizeof p->value, p->value};
    int rc;
    if ((rc = mdb_txn_begin(p->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_put(txn, p->dbi, &k, &v, 0)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
      fprintf(stderr, "peer: write: %s\n", mdb_strerror(rc));
      return 1;
    }
    n++;
    t = bench_now_s();
  }
  *writes += (double)n;
  *elapsed += t - t0;
  return 0;
}

/* ---- agentai: the plugin through the real loader, N writes in flight ---- */

typedef struct run {
  uv_loop_t loop;
  plugin_registry *reg;
  const agentai_storage_def *def;
  agentai_storage *db;
  unsigned long long next, done, errors;
  unsigned in_flight;
  double stop_at, t_last;
  char value[VALUE_BYTES];
} run;

static void issue(run *r);

static void on_done(void *ud, int err) {
  run *r = ud;
  r->in_flight--;
  r->done++;
  if (err)
    r->errors++;
  r->t_last = bench_now_s();
  if (r->t_last < r->stop_at)
    issue(r);
}

static void issue(run *r) {
  char key[17];
  make_key(key, r->next++);
  agentai_kv_op op = {AGENTAI_KV_PUT, key, 16, r->value, sizeof r->value};
  int rc = r->def->write(r->db, &op, 1, on_done, r);
  if (rc != 0) {
    fprintf(stderr, "agentai: write refused: %d\n", rc);
    r->errors++;
    return;
  }
  r->in_flight++;
}

static int agentai_open(run *r, const opts *o, const char *dir) {
  char err[1024] = "", plugin[4200];
  uv_loop_init(&r->loop);
  if (plugin_registry_new(&r->loop, dir, &r->reg) != 0)
    return 1;
  snprintf(plugin, sizeof plugin, "%s/storage-lmdb.so", o->plugin_dir);
  if (plugin_load(r->reg, plugin, "{\"map_size_mb\":4096}", err, sizeof err) != 0) {
    fprintf(stderr, "agentai: %s\n", err);
    return 1;
  }
  r->def = plugin_find_storage(r->reg, "lmdb");
  if (!r->def || r->def->open(r->def->ud, dir, &r->db, err, sizeof err) != 0) {
    fprintf(stderr, "agentai: open: %s\n", err);
    return 1;
  }
  memset(r->value, 'v', sizeof r->value);
  return 0;
}

/* Keeps in_flight writes outstanding for `seconds`, then drains; the drain
 * counts in the time taken. */
static int agentai_slice(run *r, unsigned in_flight, double seconds, double *writes,
                         double *elapsed) {
  unsigned long long done0 = r->done;
  double t0 = bench_now_s();
  r->stop_at = t0 + seconds;
  for (unsigned i = 0; i < in_flight; i++)
    issue(r);
  while (r->in_flight > 0)
    uv_run(&r->loop, UV_RUN_ONCE);
  if (r->errors) {
    fprintf(stderr, "agentai: %llu writes failed\n", r->errors);
    return 1;
  }
  *writes += (double)(r->done - done0);
  *elapsed += r->t_last - t0;
  return 0;
}

static double agentai_per_commit(run *r) {
  char *stats = NULL;
  double v = 0;
  if (r->db && r->def->stats(r->db, &stats) == 0) {
    const char *p = strstr(stats, "\"batches_per_commit\":");
    v = p ? strtod(p + 21, NULL) : 0;
    free(stats);
  }
  return v;
}

static void agentai_close(run *r) {
  if (r->db)
    r->def->close(r->db);
  if (r->reg) {
    plugin_registry_free(r->reg);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
  }
}

/* ---- main ---- */

static void usage(void) {
  fprintf(stderr, "usage: bench_durable_writes [--dir BASE] [--plugin-dir DIR] [--seconds S] "
                  "[--in-flight N]\n");
}

int main(int argc, char **argv) {
  opts o = {NULL, NULL, 3.0, 256};
  char default_plugins[4096];
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
      o.dir = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--plugin-dir") == 0)
      o.plugin_dir = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
      o.seconds = atof(argv[++i]);
    else if (i + 1 < argc && strcmp(argv[i], "--in-flight") == 0)
      o.in_flight = (unsigned)atoi(argv[++i]);
    else {
      usage();
      return 2;
    }
  }
  if (o.seconds <= 0 || o.in_flight == 0) {
    usage();
    return 2;
  }
  if (!o.plugin_dir) {
    if (plugin_default_dir(default_plugins, sizeof default_plugins) == 0)
      o.plugin_dir = default_plugins;
    else
      o.plugin_dir = BENCH_PLUGIN_DIR;
  }
  if (!o.dir)
    o.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";

  char base[4096], peer_dir[4200], agentai_dir[4200];
  if (bench_make_dir(base, sizeof base, o.dir, "bench-durable") < 0)
    return 1;
  struct statfs fs;
  if (statfs(base, &fs) == 0 && (unsigned long)fs.f_type == TMPFS_MAGIC_NUMBER)
    fprintf(stderr,
            "warning: %s is on tmpfs: fsync is free there, the ratio means little; "
            "use --dir on a real disk\n",
            base);
  snprintf(peer_dir, sizeof peer_dir, "%s/peer", base);
  snprintf(agentai_dir, sizeof agentai_dir, "%s/agentai", base);
  mkdir(peer_dir, 0700);

  /* Alternate the two in short slices so a change in machine load (other
   * processes, the disk's cache) hits both alike. */
  enum { ROUNDS = 3 };
  static peer p;
  static run r;
  double pw = 0, pt = 0, aw = 0, at = 0, per_commit = 0;
  int rc = peer_open(&p, peer_dir) != 0 || agentai_open(&r, &o, agentai_dir) != 0;
  for (int i = 0; i < ROUNDS && rc == 0; i++) {
    rc = peer_slice(&p, o.seconds / ROUNDS, &pw, &pt);
    if (rc == 0)
      rc = agentai_slice(&r, o.in_flight, o.seconds / ROUNDS, &aw, &at);
  }
  if (rc == 0)
    per_commit = agentai_per_commit(&r);
  agentai_close(&r);
  if (p.env)
    mdb_env_close(p.env);
  bench_rm_tree(base);
  if (rc != 0)
    return 1;
  double peer_rate = pw / pt, ours = aw / at;

  double ratio = ours / peer_rate;
  printf("result: durable 1 KB writes/s: raw LMDB commit-per-write %.0f | agentai storage-lmdb "
         "(%u in flight, group commit, %.1f writes/fsync) %.0f | ratio %.1fx (target >= 10x)\n",
         peer_rate, o.in_flight, per_commit, ours, ratio);
  printf("{\"bench\":\"durable_writes\",\"value_bytes\":%d,\"seconds\":%.1f,\"in_flight\":%u,"
         "\"peer\":\"lmdb commit per write\",\"peer_writes_per_s\":%.0f,"
         "\"agentai_writes_per_s\":%.0f,\"batches_per_commit\":%.1f,\"ratio\":%.2f,"
         "\"target_ratio\":10}\n",
         VALUE_BYTES, o.seconds, o.in_flight, peer_rate, ours, per_commit, ratio);
  return 0;
}
