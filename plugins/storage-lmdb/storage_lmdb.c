/* storage-lmdb/storage_lmdb.c — the LMDB storage plugin: entry point, open/close, inline reads,
 * snapshots and stats (writes are in lmdb_writer.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdb_internal.h"

/* ------------------------------------------------------------------------ */
/* open                                                                     */
/* ------------------------------------------------------------------------ */

/* mkdir -p with mode 0700, naming the component that fails. */
static int make_dirs(const char *path, char *err, size_t err_len) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf) {
    snprintf(err, err_len, "data folder path is too long: '%s'", path);
    return AGENTAI_EINVAL;
  }
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0) {
      int e = errno;
      struct stat st;
      if (e == EEXIST && stat(buf, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
          snprintf(err, err_len, "cannot create data folder '%s': '%s' exists but is not a folder",
                   path, buf);
          return AGENTAI_EIO;
        }
      } else if (e != EEXIST) {
        snprintf(err, err_len, "cannot create data folder '%s': %s", buf, strerror(e));
        return e == ENOSPC ? AGENTAI_ENOSPC : AGENTAI_EIO;
      }
    }
    buf[i] = saved;
  }
  return 0;
}

/* A file of the environment that exists must be a regular file we can use. */
static int check_env_file(const char *dir, const char *name, const char *role, char *err,
                          size_t err_len) {
  char file[PATH_MAX + 16];
  struct stat st;
  snprintf(file, sizeof file, "%s/%s", dir, name);
  if (stat(file, &st) != 0)
    return 0; /* created by LMDB */
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, err_len, "%s '%s' is not a regular file: not a valid LMDB environment", role,
             file);
    return AGENTAI_ECORRUPT;
  }
  if (access(file, R_OK | W_OK) != 0) {
    snprintf(err, err_len, "%s '%s' is not readable and writable: %s", role, file, strerror(errno));
    return AGENTAI_EIO;
  }
  return 0;
}

static int open_env(struct agentai_storage *db, const slmdb_config *cfg, char *err,
                    size_t err_len) {
  int rc = mdb_env_create(&db->env);
  if (rc != 0) {
    snprintf(err, err_len, "cannot create an LMDB environment: %s", mdb_strerror(rc));
    return slmdb_map_error(rc);
  }
  if ((rc = mdb_env_set_mapsize(db->env, (size_t)cfg->map_size_mb << 20)) != 0 ||
      (rc = mdb_env_set_maxreaders(db->env, cfg->max_readers)) != 0) {
    snprintf(err, err_len, "cannot configure the LMDB environment: %s", mdb_strerror(rc));
    goto fail;
  }
  /* NOTLS: the loop's read txns are not tied to a thread. Default sync: an
   * acknowledged commit is on disk. */
  rc = mdb_env_open(db->env, db->path, MDB_NOTLS, 0600);
  if (rc == MDB_INVALID) {
    snprintf(err, err_len,
             "'%s/data.mdb' is not a valid LMDB database (%s); move it away or choose another "
             "data folder",
             db->path, mdb_strerror(rc));
    goto fail;
  }
  if (rc == MDB_VERSION_MISMATCH) {
    snprintf(err, err_len,
             "'%s' is not a compatible LMDB database: it was written by another LMDB version (%s)",
             db->path, mdb_strerror(rc));
    goto fail;
  }
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
    snprintf(err, err_len, "'%s/data.mdb' is corrupted, not a valid LMDB database (%s)", db->path,
             mdb_strerror(rc));
    goto fail;
  }
  if (rc != 0) {
    snprintf(err, err_len, "cannot open the LMDB environment '%s' (data.mdb, lock.mdb): %s",
             db->path, mdb_strerror(rc));
    goto fail;
  }
  int dead = 0;
  mdb_reader_check(db->env, &dead); /* slots of killed processes */
  MDB_txn *txn;
  rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, NULL, 0, &db->dbi);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (rc != 0) {
    snprintf(err, err_len, "cannot read the LMDB database '%s/data.mdb': %s", db->path,
             mdb_strerror(rc));
    goto fail;
  }
  db->max_key = (size_t)mdb_env_get_maxkeysize(db->env);
  return 0;
fail:
  mdb_env_close(db->env);
  db->env = NULL;
  return slmdb_map_error(rc);
}

static int lmdb_open(void *ud, const char *data_dir, agentai_storage **out, char *err,
                     size_t err_len) {
  slmdb_plugin *pl = ud;
  char scratch[8];
  if (!err || !err_len) {
    err = scratch;
    err_len = sizeof scratch;
  }
  err[0] = '\0';
  if (!pl || !out) {
    snprintf(err, err_len, "storage-lmdb: open called without a database out-parameter");
    return AGENTAI_EINVAL;
  }
  if (!data_dir || !data_dir[0])
    data_dir = pl->host->data_dir(pl->host);
  if (!data_dir || !data_dir[0]) {
    snprintf(err, err_len, "storage-lmdb: no data folder given");
    return AGENTAI_EINVAL;
  }
  char env_path[PATH_MAX];
  if ((size_t)snprintf(env_path, sizeof env_path, "%s/%s", data_dir, pl->cfg.subdir) >=
      sizeof env_path) {
    snprintf(err, err_len, "data folder path is too long: '%s'", data_dir);
    return AGENTAI_EINVAL;
  }
  int rc = make_dirs(env_path, err, err_len);
  if (rc < 0)
    return rc;
  if (access(env_path, W_OK | X_OK) != 0) {
    snprintf(err, err_len, "data folder '%s' is not writable: %s", env_path, strerror(errno));
    return AGENTAI_EIO;
  }
  if ((rc = check_env_file(env_path, "data.mdb", "database file", err, err_len)) < 0 ||
      (rc = check_env_file(env_path, "lock.mdb", "lock file", err, err_len)) < 0)
    return rc;

  struct agentai_storage *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(err, err_len, "out of memory");
    return AGENTAI_ENOMEM;
  }
  if (!realpath(env_path, db->path))
    snprintf(db->path, sizeof db->path, "%s", env_path);
  /* Two environments on one file in one process break LMDB's locks. */
  for (struct agentai_storage *o = pl->open_dbs; o; o = o->next_open) {
    if (strcmp(o->path, db->path) == 0) {
      snprintf(err, err_len, "LMDB environment '%s' is already open in this process", db->path);
      free(db);
      return AGENTAI_EBUSY;
    }
  }
  db->plugin = pl;
  db->host = pl->host;
  rc = open_env(db, &pl->cfg, err, err_len);
  if (rc < 0) {
    free(db);
    return rc;
  }
  pthread_mutex_init(&db->lock, NULL);
  pthread_cond_init(&db->cond, NULL);
  rc = slmdb_writer_start(db);
  if (rc < 0) {
    snprintf(err, err_len, "cannot start the LMDB writer thread");
    mdb_env_close(db->env);
    pthread_cond_destroy(&db->cond);
    pthread_mutex_destroy(&db->lock);
    free(db);
    return rc;
  }
  db->next_open = pl->open_dbs;
  pl->open_dbs = db;
  *out = db;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* close                                                                    */
/* ------------------------------------------------------------------------ */

void slmdb_release_if_unused(struct agentai_storage *db) {
  pthread_mutex_lock(&db->lock);
  int unused = db->torn_down && db->posts_outstanding == 0;
  pthread_mutex_unlock(&db->lock);
  if (!unused)
    return;
  pthread_cond_destroy(&db->cond);
  pthread_mutex_destroy(&db->lock);
  free(db);
}

/* Closes the environment; the struct lives on while a queued post refers to it. */
static void teardown(struct agentai_storage *db) {
  if (db->snaps)
    db->host->log(db->host, AGENTAI_LOG_WARN, "closing with snapshots still open; releasing them",
                  NULL);
  while (db->snaps) {
    agentai_snapshot *s = db->snaps;
    db->snaps = s->next;
    mdb_txn_abort(s->txn);
    free(s);
  }
  if (db->rtxn)
    mdb_txn_abort(db->rtxn);
  db->rtxn = NULL;
  mdb_env_close(db->env);
  db->env = NULL;
  for (struct agentai_storage **p = db->plugin ? &db->plugin->open_dbs : NULL; p && *p;
       p = &(*p)->next_open) {
    if (*p == db) {
      *p = db->next_open;
      break;
    }
  }
  pthread_mutex_lock(&db->lock);
  db->torn_down = 1;
  pthread_mutex_unlock(&db->lock);
  slmdb_release_if_unused(db);
}

/* Ends a read; finishes a close() that a read callback requested. */
static void read_end(struct agentai_storage *db) {
  if (--db->read_depth == 0 && db->close_requested)
    teardown(db);
}

static void lmdb_close(agentai_storage *db) {
  if (!db || db->closing)
    return;
  db->closing = 1; /* write() refuses from now on */
  slmdb_writer_stop(db);
  /* The writer committed everything queued; run the callbacks now rather
   * than in a post, so every write has completed when close returns. */
  slmdb_deliver(db);
  db->close_requested = 1;
  if (db->read_depth == 0)
    teardown(db);
}

/* ------------------------------------------------------------------------ */
/* reads                                                                    */
/* ------------------------------------------------------------------------ */

/* The cached read txn, renewed when our own writes were delivered since, or
 * when it is old enough that another process's commits may be missing. Not
 * moved while a read callback runs (its pointers point into the txn). */
/* Age checks use the coarse monotonic clock: it is read from memory the
 * kernel updates every tick, while a precise clock may cost more than the
 * LMDB read itself on virtual machines. A few ms of resolution is plenty for
 * a staleness bound of SLMDB_READ_TXN_MAX_AGE_MS. */
static uint64_t coarse_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int read_txn(struct agentai_storage *db, MDB_txn **out) {
  uint64_t now = coarse_now_ms();
  if (db->rtxn_live && db->read_depth == 0 &&
      (db->rtxn_gen != db->gen || now - db->rtxn_ms > SLMDB_READ_TXN_MAX_AGE_MS)) {
    mdb_txn_reset(db->rtxn);
    db->rtxn_live = 0;
  }
  if (!db->rtxn_live) {
    int rc =
        db->rtxn ? mdb_txn_renew(db->rtxn) : mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->rtxn);
    if (rc != 0) {
      if (db->rtxn)
        mdb_txn_abort(db->rtxn);
      db->rtxn = NULL;
      return slmdb_map_error(rc);
    }
    db->rtxn_live = 1;
    db->rtxn_gen = db->gen;
    db->rtxn_ms = now;
  }
  *out = db->rtxn;
  return 0;
}

static int lmdb_get(agentai_storage *db, agentai_snapshot *snap, const void *key, size_t key_len,
                    agentai_get_cb cb, void *ud) {
  if (!db || !cb || !key || key_len == 0 || key_len > db->max_key)
    return AGENTAI_EINVAL;
  if (db->close_requested)
    return AGENTAI_EBUSY;
  MDB_txn *txn = snap ? snap->txn : NULL;
  if (!txn) {
    int rc = read_txn(db, &txn);
    if (rc < 0)
      return rc;
  }
  MDB_val k = {key_len, (void *)key}, v = {0, NULL};
  int rc = mdb_get(txn, db->dbi, &k, &v);
  db->read_depth++;
  if (rc == 0)
    cb(ud, 0, v.mv_data, v.mv_size);
  else
    cb(ud, slmdb_map_error(rc), NULL, 0);
  read_end(db);
  return 0;
}

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c)
    return c;
  return alen < blen ? -1 : alen > blen;
}

/* Positions on the first item of the range in scan order. A bound longer
 * than the longest key is looked up by its prefix, then stepped past. */
static int scan_first(struct agentai_storage *db, MDB_cursor *cur, const agentai_scan_range *r,
                      int reverse, MDB_val *k, MDB_val *v) {
  int rc;
  if (!reverse) {
    if (!r->start || r->start_len == 0)
      return mdb_cursor_get(cur, k, v, MDB_FIRST);
    k->mv_size = r->start_len < db->max_key ? r->start_len : db->max_key;
    k->mv_data = (void *)r->start;
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    while (rc == 0 && cmp_bytes(k->mv_data, k->mv_size, r->start, r->start_len) < 0)
      rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
  }
  if (!r->end)
    return mdb_cursor_get(cur, k, v, MDB_LAST);
  k->mv_size = r->end_len < db->max_key ? r->end_len : db->max_key;
  k->mv_data = (void *)r->end;
  rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND)
    rc = mdb_cursor_get(cur, k, v, MDB_LAST);
  while (rc == 0 && cmp_bytes(k->mv_data, k->mv_size, r->end, r->end_len) >= 0)
    rc = mdb_cursor_get(cur, k, v, MDB_PREV);
  return rc;
}

static int scan_txn(struct agentai_storage *db, MDB_txn *txn, const agentai_scan_range *r,
                    agentai_scan_item_cb item, void *ud) {
  int reverse = (r->flags & AGENTAI_SCAN_REVERSE) != 0;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, db->dbi, &cur);
  if (rc != 0)
    return slmdb_map_error(rc);
  MDB_val k = {0, NULL}, v = {0, NULL};
  size_t count = 0;
  rc = scan_first(db, cur, r, reverse, &k, &v);
  while (rc == 0) {
    if (!reverse && r->end && cmp_bytes(k.mv_data, k.mv_size, r->end, r->end_len) >= 0)
      break;
    if (reverse && r->start && cmp_bytes(k.mv_data, k.mv_size, r->start, r->start_len) < 0)
      break;
    if (item(ud, k.mv_data, k.mv_size, v.mv_data, v.mv_size) != 0)
      break;
    if (db->close_requested) {
      mdb_cursor_close(cur);
      return AGENTAI_ECANCELED;
    }
    if (r->limit && ++count >= r->limit)
      break;
    rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : slmdb_map_error(rc);
}

static int lmdb_scan(agentai_storage *db, agentai_snapshot *snap, const agentai_scan_range *range,
                     agentai_scan_item_cb item, agentai_done_cb done, void *ud) {
  if (!db || !range || !item || !done || (range->start_len && !range->start) ||
      (range->end_len && !range->end))
    return AGENTAI_EINVAL;
  if (db->close_requested)
    return AGENTAI_EBUSY;
  /* [start, end) with end <= start, or an empty end: nothing to visit. */
  if (range->end &&
      (range->end_len == 0 || (range->start && cmp_bytes(range->start, range->start_len, range->end,
                                                         range->end_len) >= 0))) {
    done(ud, 0);
    return 0;
  }
  MDB_txn *txn = snap ? snap->txn : NULL;
  if (!txn) {
    int rc = read_txn(db, &txn);
    if (rc < 0)
      return rc;
  }
  db->read_depth++;
  int err = scan_txn(db, txn, range, item, ud);
  read_end(db); /* may free db: do not touch it below */
  done(ud, err);
  return 0;
}

static int lmdb_snapshot_open(agentai_storage *db, agentai_snapshot **out) {
  if (!db || !out)
    return AGENTAI_EINVAL;
  if (db->close_requested)
    return AGENTAI_EBUSY;
  agentai_snapshot *s = calloc(1, sizeof *s);
  if (!s)
    return AGENTAI_ENOMEM;
  int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &s->txn);
  if (rc != 0) {
    free(s);
    return slmdb_map_error(rc);
  }
  s->next = db->snaps;
  if (db->snaps)
    db->snaps->prev = s;
  db->snaps = s;
  *out = s;
  return 0;
}

static void lmdb_snapshot_close(agentai_storage *db, agentai_snapshot *s) {
  if (!db || !s)
    return;
  if (s->prev)
    s->prev->next = s->next;
  else
    db->snaps = s->next;
  if (s->next)
    s->next->prev = s->prev;
  mdb_txn_abort(s->txn);
  free(s);
}

void slmdb_json_escape(char *out, size_t cap, const char *s) {
  size_t j = 0;
  for (; *s && j + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[j++] = '\\';
      out[j++] = (char)c;
    } else if (c < 0x20) {
      j += (size_t)snprintf(out + j, cap - j, "\\u%04x", c);
    } else {
      out[j++] = (char)c;
    }
  }
  out[j] = '\0';
}

static int lmdb_stats(agentai_storage *db, char **json_out) {
  if (!db || !json_out)
    return AGENTAI_EINVAL;
  if (db->close_requested)
    return AGENTAI_EBUSY;
  MDB_txn *txn = NULL;
  int rc = read_txn(db, &txn);
  if (rc < 0)
    return rc;
  MDB_stat st;
  MDB_envinfo info;
  if ((rc = mdb_stat(txn, db->dbi, &st)) != 0 || (rc = mdb_env_info(db->env, &info)) != 0)
    return slmdb_map_error(rc);
  pthread_mutex_lock(&db->lock);
  uint64_t commits = db->commits, batches = db->batches, map_full = db->map_full_errors;
  uint64_t fallbacks = db->group_fallbacks, errors = db->write_errors;
  size_t pending = 0;
  for (slmdb_batch *b = db->queue_head; b; b = b->next)
    pending++;
  pthread_mutex_unlock(&db->lock);
  char path[PATH_MAX * 2];
  slmdb_json_escape(path, sizeof path, db->path);
  size_t cap = sizeof path + 640;
  char *out = db->host->alloc(db->host, cap);
  if (!out)
    return AGENTAI_ENOMEM;
  snprintf(out, cap,
           "{\"backend\":\"lmdb\",\"path\":\"%s\",\"entries\":%zu,\"map_size\":%zu,"
           "\"used_bytes\":%zu,\"page_size\":%u,\"commits\":%llu,\"batches\":%llu,"
           "\"batches_per_commit\":%.2f,\"map_full_errors\":%llu,\"group_fallbacks\":%llu,"
           "\"write_errors\":%llu,\"pending_batches\":%zu,\"readers_used\":%u,"
           "\"max_readers\":%u}",
           path, st.ms_entries, info.me_mapsize, (info.me_last_pgno + 1) * st.ms_psize, st.ms_psize,
           (unsigned long long)commits, (unsigned long long)batches,
           commits ? (double)batches / (double)commits : 0.0, (unsigned long long)map_full,
           (unsigned long long)fallbacks, (unsigned long long)errors, pending, info.me_numreaders,
           info.me_maxreaders);
  *json_out = out;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* plugin entry                                                             */
/* ------------------------------------------------------------------------ */

static int plugin_init(const agentai_host *host, const char *config_json, void **state,
                       char *errbuf, size_t errbuf_len) {
  if (!host || !AGENTAI_HOST_HAS(host, data_dir)) {
    snprintf(errbuf, errbuf_len, "storage-lmdb: the host services table is too old");
    return AGENTAI_EABI;
  }
  slmdb_plugin *pl = calloc(1, sizeof *pl);
  if (!pl) {
    snprintf(errbuf, errbuf_len, "storage-lmdb: out of memory");
    return AGENTAI_ENOMEM;
  }
  pl->host = host;
  int rc = slmdb_config_parse(config_json, &pl->cfg, errbuf, errbuf_len);
  if (rc < 0) {
    free(pl);
    return rc;
  }
  agentai_storage_def def = {
      .size = sizeof(agentai_storage_def),
      .name = "lmdb",
      .ud = pl,
      .open = lmdb_open,
      .close = lmdb_close,
      .get = lmdb_get,
      .scan = lmdb_scan,
      .write = slmdb_write,
      .snapshot_open = lmdb_snapshot_open,
      .snapshot_close = lmdb_snapshot_close,
      .stats = lmdb_stats,
  };
  rc = host->register_storage(host, &def);
  if (rc < 0) {
    snprintf(errbuf, errbuf_len, "storage-lmdb: cannot register storage backend 'lmdb': %s",
             host->strerror(rc));
    free(pl);
    return rc;
  }
  *state = pl;
  return 0;
}

static void plugin_shutdown(void *state) {
  slmdb_plugin *pl = state;
  if (!pl)
    return;
  if (pl->open_dbs)
    pl->host->log(pl->host, AGENTAI_LOG_WARN, "shutdown with databases still open; closing them",
                  NULL);
  while (pl->open_dbs) {
    struct agentai_storage *db = pl->open_dbs;
    lmdb_close(db);
    if (pl->open_dbs == db) { /* close deferred by a running read: unlink anyway */
      pl->open_dbs = db->next_open;
      db->plugin = NULL;
    }
  }
  free(pl);
}

static const agentai_plugin descriptor = {
    AGENTAI_PLUGIN_HEADER,
    .name = "storage-lmdb",
    .version = AGENTAI_VERSION_STRING,
    .summary = "Durable ordered key-value storage on LMDB with group commit",
    .init = plugin_init,
    .shutdown = plugin_shutdown,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void) {
  return &descriptor;
}
