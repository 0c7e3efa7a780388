/* storage-lmdb/lmdb_writer.c — write batches: copy, queue to one writer thread that group-commits
 * them (one fsync for many batches), deliver completions on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

int slmdb_map_error(int rc) {
  switch (rc) {
    case 0:
      return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return AGENTAI_ENOSPC;
    case MDB_TXN_FULL:
      return AGENTAI_E2BIG;
    case MDB_BAD_VALSIZE:
    case EINVAL:
      return AGENTAI_EINVAL;
    case MDB_READERS_FULL:
    case MDB_BAD_RSLOT:
    case EAGAIN:
      return AGENTAI_EBUSY;
    case ENOMEM:
      return AGENTAI_ENOMEM;
    case MDB_NOTFOUND:
      return AGENTAI_ENOENT;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return AGENTAI_ECORRUPT;
    default:
      return AGENTAI_EIO;
  }
}

/* Thread-safe log of an LMDB failure; the writer thread calls it too. */
static void log_mdb(struct agentai_storage *db, const char *what, int rc) {
  char esc_path[PATH_MAX * 2], esc_why[512], fields[sizeof esc_path + sizeof esc_why + 64];
  slmdb_json_escape(esc_path, sizeof esc_path, db->path);
  slmdb_json_escape(esc_why, sizeof esc_why, mdb_strerror(rc));
  snprintf(fields, sizeof fields, "{\"path\":\"%s\",\"mdb_error\":%d,\"reason\":\"%s\"}", esc_path,
           rc, esc_why);
  db->host->log(db->host, AGENTAI_LOG_ERROR, what, fields);
}

int slmdb_write(struct agentai_storage *db, const agentai_kv_op *ops, size_t n,
                agentai_done_cb done, void *ud) {
  if (!db || (n && !ops))
    return AGENTAI_EINVAL;
  if (db->closing)
    return AGENTAI_EBUSY;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    const agentai_kv_op *op = &ops[i];
    if (op->type != AGENTAI_KV_PUT && op->type != AGENTAI_KV_DELETE)
      return AGENTAI_EINVAL;
    if (!op->key || op->key_len == 0 || op->key_len > db->max_key)
      return AGENTAI_EINVAL;
    size_t vlen = op->type == AGENTAI_KV_PUT ? op->value_len : 0;
    if (vlen && !op->value)
      return AGENTAI_EINVAL;
    /* LMDB stores value sizes in 32 bits. */
    if (vlen > UINT32_MAX || bytes > SIZE_MAX / 2 - op->key_len - vlen)
      return AGENTAI_E2BIG;
    bytes += op->key_len + vlen;
  }
  if (n > (SIZE_MAX / 2 - bytes) / sizeof(agentai_kv_op))
    return AGENTAI_E2BIG;
  slmdb_batch *b = malloc(sizeof *b + n * sizeof(agentai_kv_op) + bytes);
  if (!b)
    return AGENTAI_ENOMEM;
  b->next = NULL;
  b->done = done;
  b->ud = ud;
  b->err = 0;
  b->bytes = bytes;
  b->n = n;
  unsigned char *data = (unsigned char *)(b->ops + n);
  for (size_t i = 0; i < n; i++) {
    agentai_kv_op *op = &b->ops[i];
    op->type = ops[i].type;
    op->key = data;
    op->key_len = ops[i].key_len;
    memcpy(data, ops[i].key, op->key_len);
    data += op->key_len;
    op->value = data;
    op->value_len = op->type == AGENTAI_KV_PUT ? ops[i].value_len : 0;
    if (op->value_len)
      memcpy(data, ops[i].value, op->value_len);
    data += op->value_len;
  }
  pthread_mutex_lock(&db->lock);
  if (db->queue_tail)
    db->queue_tail->next = b;
  else
    db->queue_head = b;
  db->queue_tail = b;
  if (db->writer_idle)
    pthread_cond_signal(&db->cond);
  pthread_mutex_unlock(&db->lock);
  return 0;
}

static int apply_batch(struct agentai_storage *db, MDB_txn *txn, const slmdb_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    const agentai_kv_op *op = &b->ops[i];
    MDB_val k = {op->key_len, (void *)op->key};
    int rc;
    if (op->type == AGENTAI_KV_PUT) {
      MDB_val v = {op->value_len, (void *)op->value};
      rc = mdb_put(txn, db->dbi, &k, &v, 0);
    } else {
      rc = mdb_del(txn, db->dbi, &k, NULL);
      if (rc == MDB_NOTFOUND)
        rc = 0;
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Applies batches [first, stop) in one txn and commits; returns the LMDB code.
 * A failed txn is aborted, so nothing of it is applied. */
static int commit_txn(struct agentai_storage *db, slmdb_batch *first, slmdb_batch *stop) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
  if (rc != 0)
    return rc;
  for (slmdb_batch *b = first; b != stop && rc == 0; b = b->next)
    rc = apply_batch(db, txn, b);
  if (rc == 0)
    return mdb_txn_commit(txn); /* frees txn, even on failure */
  mdb_txn_abort(txn);
  return rc;
}

typedef struct group_counts {
  uint64_t commits, batches, map_full, fallbacks, errors;
} group_counts;

static int has_ops(const slmdb_batch *first) {
  for (const slmdb_batch *b = first; b; b = b->next)
    if (b->n)
      return 1;
  return 0;
}

/* Commits a group (a NULL-terminated list): one txn for all; if that fails,
 * each batch alone, so one batch that does not fit (or is otherwise refused)
 * fails by itself and every other batch still commits. */
static void commit_group(struct agentai_storage *db, slmdb_batch *group, size_t count,
                         group_counts *c) {
  if (!has_ops(group)) {
    /* Only empty batches: nothing to make durable. */
    c->batches += count;
    return;
  }
  int rc = commit_txn(db, group, NULL);
  if (rc == 0) {
    c->commits++;
    c->batches += count;
    return;
  }
  if (count > 1) {
    c->fallbacks++;
    if (rc != MDB_MAP_FULL && rc != MDB_TXN_FULL)
      log_mdb(db, "group commit failed; retrying its batches one by one", rc);
    for (slmdb_batch *b = group; b; b = b->next) {
      rc = b->n ? commit_txn(db, b, b->next) : 0;
      if (rc == 0) {
        c->commits += b->n ? 1 : 0;
        c->batches++;
        continue;
      }
      b->err = slmdb_map_error(rc);
      if (rc == MDB_MAP_FULL) {
        c->map_full++;
      } else {
        c->errors++;
        log_mdb(db, "write batch failed", rc);
      }
    }
    return;
  }
  group->err = slmdb_map_error(rc);
  if (rc == MDB_MAP_FULL) {
    c->map_full++;
  } else {
    c->errors++;
    log_mdb(db, "write batch failed", rc);
  }
}

static void deliver_post(void *ud) {
  struct agentai_storage *db = ud;
  if (!db->torn_down)
    slmdb_deliver(db);
  pthread_mutex_lock(&db->lock);
  db->posts_outstanding--;
  pthread_mutex_unlock(&db->lock);
  slmdb_release_if_unused(db);
}

static void *writer_main(void *arg) {
  struct agentai_storage *db = arg;
  pthread_mutex_lock(&db->lock);
  for (;;) {
    while (!db->queue_head && !db->stopping) {
      db->writer_idle = 1;
      pthread_cond_wait(&db->cond, &db->lock);
      db->writer_idle = 0;
    }
    if (!db->queue_head)
      break; /* stopping and drained */
    /* Take what is pending, within bounds; the first batch always goes. */
    slmdb_batch *group = db->queue_head, *last = group;
    size_t count = 1, bytes = group->bytes;
    while (last->next && count < SLMDB_GROUP_MAX_BATCHES &&
           bytes + last->next->bytes <= SLMDB_GROUP_MAX_BYTES) {
      last = last->next;
      bytes += last->bytes;
      count++;
    }
    db->queue_head = last->next;
    if (!db->queue_head)
      db->queue_tail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&db->lock);

    group_counts c = {0, 0, 0, 0, 0};
    commit_group(db, group, count, &c);

    pthread_mutex_lock(&db->lock);
    db->commits += c.commits;
    db->batches += c.batches;
    db->map_full_errors += c.map_full;
    db->group_fallbacks += c.fallbacks;
    db->write_errors += c.errors;
    if (db->done_tail)
      db->done_tail->next = group;
    else
      db->done_head = group;
    db->done_tail = last;
    int need_post = !db->post_pending && !db->stopping;
    if (need_post) {
      db->post_pending = 1;
      db->posts_outstanding++;
    }
    pthread_mutex_unlock(&db->lock);
    /* While stopping, close() delivers what is left itself once we exit. */
    if (need_post && db->host->post(db->host, deliver_post, db) != 0) {
      pthread_mutex_lock(&db->lock);
      db->post_pending = 0;
      db->posts_outstanding--;
      pthread_mutex_unlock(&db->lock);
      db->host->log(db->host, AGENTAI_LOG_WARN,
                    "cannot post write completions to the loop; they run at close", NULL);
    }
    pthread_mutex_lock(&db->lock);
  }
  pthread_mutex_unlock(&db->lock);
  return NULL;
}

void slmdb_deliver(struct agentai_storage *db) {
  pthread_mutex_lock(&db->lock);
  slmdb_batch *list = db->done_head;
  db->done_head = db->done_tail = NULL;
  db->post_pending = 0;
  pthread_mutex_unlock(&db->lock);
  if (!list)
    return;
  /* Before any callback: a read issued from a done callback must see the write. */
  db->gen++;
  if (db->read_depth == 0 && db->rtxn_live) {
    mdb_txn_reset(db->rtxn);
    db->rtxn_live = 0;
  }
  while (list) {
    slmdb_batch *next = list->next;
    if (list->done)
      list->done(list->ud, list->err);
    free(list);
    list = next;
  }
}

int slmdb_writer_start(struct agentai_storage *db) {
  int rc = pthread_create(&db->thread, NULL, writer_main, db);
  if (rc != 0)
    return AGENTAI_ENOMEM;
  db->thread_started = 1;
  return 0;
}

void slmdb_writer_stop(struct agentai_storage *db) {
  pthread_mutex_lock(&db->lock);
  db->stopping = 1;
  pthread_cond_signal(&db->cond);
  pthread_mutex_unlock(&db->lock);
  if (db->thread_started) {
    pthread_join(db->thread, NULL);
    db->thread_started = 0;
  }
}
