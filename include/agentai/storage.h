/* agentai/storage.h — the storage interface: an ordered key-value store with atomic durable
 * batches. */
#pragma once

#include "agentai/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Conventions for every operation below:
 *  - keys and values are byte strings compared bytewise (memcmp, shorter
 *    first on a tie), so big-endian numbers and time-sorted ids sort right;
 *  - an operation returns 0 when accepted; its callback is then called
 *    exactly once on the loop thread, possibly BEFORE the operation returns
 *    (an embedded engine completes reads inline; a networked one later);
 *  - a negative return means refused: the callback is never called;
 *  - pointers passed to a callback are borrowed for that callback only.
 */

typedef struct agentai_storage agentai_storage;   /**< an open database (opaque) */
typedef struct agentai_snapshot agentai_snapshot; /**< a consistent read view (opaque) */

/** One write in a batch. */
enum agentai_kv_op_type { AGENTAI_KV_PUT = 1, AGENTAI_KV_DELETE = 2 };

typedef struct agentai_kv_op {
  int type; /**< AGENTAI_KV_PUT or AGENTAI_KV_DELETE */
  const void *key;
  size_t key_len;    /**< 1..511 bytes */
  const void *value; /**< PUT only */
  size_t value_len;
} agentai_kv_op;

/** Result of get(): err is 0 (value set), AGENTAI_ENOENT, or an error. */
typedef void (*agentai_get_cb)(void *ud, int err, const void *value, size_t value_len);
/** One item of a scan, in order. Return 0 to continue, non-zero to stop. */
typedef int (*agentai_scan_item_cb)(void *ud, const void *key, size_t key_len, const void *value,
                                    size_t value_len);
/** End of a scan or of a write: err is 0 or a negative code. For a write, 0
 *  means every op of the batch is durable (survives kill -9 and power loss
 *  to the extent fsync guarantees it); an error means none was applied. */
typedef void (*agentai_done_cb)(void *ud, int err);

/** Scan flags. */
#define AGENTAI_SCAN_REVERSE 0x1u /**< from the high end of the range down */

/** A key range [start, end). A NULL start is the first key, a NULL end is
 *  past the last key. A prefix scan is the range [prefix, prefix with its
 *  last byte incremented). */
typedef struct agentai_scan_range {
  const void *start;
  size_t start_len;
  const void *end;
  size_t end_len;
  uint32_t flags; /**< AGENTAI_SCAN_* */
  size_t limit;   /**< stop after this many items; 0 = no limit */
} agentai_scan_range;

/**
 * A storage backend, registered with host->register_storage() during init().
 * The host copies this struct; ud stays the plugin's. The host opens at most
 * one database per backend, the one its configuration selects.
 */
struct agentai_storage_def {
  uint32_t size;    /**< sizeof(agentai_storage_def) as the plugin built it */
  const char *name; /**< registry name, e.g. "lmdb" (copied) */
  void *ud;

  /** Opens (creating if needed) the database under data_dir. On failure
   *  writes a one-line reason to errbuf. */
  int (*open)(void *ud, const char *data_dir, agentai_storage **db, char *errbuf,
              size_t errbuf_len);
  /** Waits for writes in flight to complete (their callbacks run), then
   *  closes. Snapshots must have been released. */
  void (*close)(agentai_storage *db);

  /** Reads one key, from snap when non-NULL, else from the latest
   *  acknowledged state. */
  int (*get)(agentai_storage *db, agentai_snapshot *snap, const void *key, size_t key_len,
             agentai_get_cb cb, void *ud);

  /** Iterates a key range in order, then calls done. */
  int (*scan)(agentai_storage *db, agentai_snapshot *snap, const agentai_scan_range *range,
              agentai_scan_item_cb item, agentai_done_cb done, void *ud);

  /**
   * Applies ops[0..n) atomically and durably. Keys and values are copied
   * before write() returns. Concurrent batches may share one commit (group
   * commit); each batch is still all-or-nothing. done is called after the
   * commit is on disk. AGENTAI_ENOSPC when the store is full (nothing of the
   * batch applied, nothing else lost).
   */
  int (*write)(agentai_storage *db, const agentai_kv_op *ops, size_t n, agentai_done_cb done,
               void *ud);

  /** Opens a consistent read view of everything acknowledged so far. */
  int (*snapshot_open)(agentai_storage *db, agentai_snapshot **snap);
  /** Releases a read view. */
  void (*snapshot_close)(agentai_storage *db, agentai_snapshot *snap);

  /**
   * Describes the database as a JSON object text (entries, map size, used
   * bytes, commits, batches per commit...), allocated with host->alloc;
   * the host frees it. Used by readiness checks and metrics. May be NULL.
   */
  int (*stats)(agentai_storage *db, char **json_out);
};

#ifdef __cplusplus
}
#endif
