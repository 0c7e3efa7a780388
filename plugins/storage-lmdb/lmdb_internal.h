/* storage-lmdb/lmdb_internal.h — shared state of the LMDB storage plugin (reads, writer, config).
 */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "agentai/storage.h"

/** Group-commit bounds: one write txn takes at most this many batches or
 *  bytes of keys and values (a single larger batch still goes alone). */
#define SLMDB_GROUP_MAX_BATCHES 4096
#define SLMDB_GROUP_MAX_BYTES (64u * 1024u * 1024u)

/** The cached read txn is renewed when older than this, so writes made by
 *  another process sharing the environment show up promptly. */
#define SLMDB_READ_TXN_MAX_AGE_MS 5

/** Parsed configuration section of the plugin. */
typedef struct slmdb_config {
  long map_size_mb;     /**< map size in MiB, default 1024 */
  char subdir[256];     /**< environment folder under the data dir, default "lmdb" */
  unsigned max_readers; /**< LMDB reader slots, default 126 */
} slmdb_config;

/** The plugin instance (the storage def's ud and init's state). */
typedef struct slmdb_plugin {
  const agentai_host *host;
  slmdb_config cfg;
  struct agentai_storage *open_dbs; /**< open environments, to refuse a double open */
} slmdb_plugin;

/** One write batch, copied in a single allocation: ops[] point into the
 *  bytes that follow the array. */
typedef struct slmdb_batch {
  struct slmdb_batch *next;
  agentai_done_cb done;
  void *ud;
  int err;      /**< set by the writer: 0 or AGENTAI_E* */
  size_t bytes; /**< sum of key and value lengths */
  size_t n;
  agentai_kv_op ops[];
} slmdb_batch;

struct agentai_snapshot {
  struct agentai_snapshot *prev, *next;
  MDB_txn *txn;
};

struct agentai_storage {
  slmdb_plugin *plugin;
  const agentai_host *host;
  struct agentai_storage *next_open;
  char path[PATH_MAX]; /**< the environment folder */
  MDB_env *env;
  MDB_dbi dbi;
  size_t max_key;

  /* Loop thread only. */
  MDB_txn *rtxn;       /**< cached read txn for non-snapshot reads */
  int rtxn_live;       /**< rtxn is renewed (not reset) */
  uint64_t rtxn_gen;   /**< gen when rtxn was renewed */
  uint64_t rtxn_ms;    /**< now_ms when rtxn was renewed */
  uint64_t gen;        /**< bumped when a commit's completions are delivered */
  int read_depth;      /**< reads whose callbacks are running (rtxn must not move) */
  int closing;         /**< close() started: writes are refused */
  int close_requested; /**< close() wants teardown once read_depth drops to 0 */
  agentai_snapshot *snaps;

  /* Shared with the writer thread, under lock. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  int thread_started;
  int writer_idle;
  int stopping;
  slmdb_batch *queue_head, *queue_tail; /**< waiting for the writer */
  slmdb_batch *done_head, *done_tail;   /**< committed, waiting for delivery */
  int post_pending;                     /**< a delivery post is queued */
  int posts_outstanding;                /**< posts that will still touch this struct */
  int torn_down;                        /**< env closed; free when posts_outstanding is 0 */
  uint64_t commits, batches, map_full_errors, group_fallbacks, write_errors;
};

/** Parses the plugin's JSON configuration section over defaults. On error
 *  returns AGENTAI_EINVAL and writes one line naming the key to err. */
int slmdb_config_parse(const char *json, slmdb_config *cfg, char *err, size_t err_len);

/** Maps an LMDB or errno code to an AGENTAI_E* code. */
int slmdb_map_error(int rc);

/** Writes s as the inside of a JSON string into out (cap bytes, truncated,
 *  always NUL-terminated). */
void slmdb_json_escape(char *out, size_t cap, const char *s);

/** Starts the writer thread of an opened db. */
int slmdb_writer_start(struct agentai_storage *db);
/** Stops accepting, drains and joins the writer thread (loop thread). */
void slmdb_writer_stop(struct agentai_storage *db);
/** Delivers committed batches' callbacks now (loop thread). */
void slmdb_deliver(struct agentai_storage *db);
/** The storage def's write(). */
int slmdb_write(struct agentai_storage *db, const agentai_kv_op *ops, size_t n,
                agentai_done_cb done, void *ud);
/** Frees the struct when it is torn down and no post still refers to it. */
void slmdb_release_if_unused(struct agentai_storage *db);
