/* agentai/plugin.h — the plugin ABI: entry point, descriptor, host services table, error codes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agentai/http.h"
#include "agentai/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Error codes: every call returns 0 or one of these negative values.        */
/* The host's strerror() (host table) turns one into a sentence.            */
/* ------------------------------------------------------------------------ */

#define AGENTAI_OK 0
#define AGENTAI_EINVAL (-1)      /**< invalid argument or malformed input */
#define AGENTAI_ENOMEM (-2)      /**< out of memory */
#define AGENTAI_ENOENT (-3)      /**< no such key, file, provider or record */
#define AGENTAI_EEXIST (-4)      /**< already exists (duplicate name) */
#define AGENTAI_EIO (-5)         /**< I/O error from the OS or the storage engine */
#define AGENTAI_ENOSPC (-6)      /**< storage full (LMDB map size reached) */
#define AGENTAI_ETIMEDOUT (-7)   /**< operation timed out */
#define AGENTAI_ECANCELED (-8)   /**< operation cancelled */
#define AGENTAI_ENOTSUP (-9)     /**< operation not supported by this plugin */
#define AGENTAI_EBUSY (-10)      /**< resource busy or shutting down */
#define AGENTAI_E2BIG (-11)      /**< value, request or response too large */
#define AGENTAI_EABI (-12)       /**< plugin ABI mismatch */
#define AGENTAI_ERATELIMIT (-13) /**< provider rate limited the call (retryable) */
#define AGENTAI_EUPSTREAM (-14)  /**< provider or upstream server error (retryable) */
#define AGENTAI_EMALFORMED (-15) /**< provider returned output that does not parse */
#define AGENTAI_EAUTH (-16)      /**< authentication with the provider failed */
#define AGENTAI_ECORRUPT (-17)   /**< stored data is corrupted or unreadable */
#define AGENTAI_EPLUGIN (-18)    /**< a plugin failed (init error, bad descriptor) */

/* ------------------------------------------------------------------------ */
/* Host services                                                            */
/* ------------------------------------------------------------------------ */

/** Log levels for agentai_host.log. */
enum agentai_log_level {
  AGENTAI_LOG_DEBUG = 0,
  AGENTAI_LOG_INFO = 1,
  AGENTAI_LOG_WARN = 2,
  AGENTAI_LOG_ERROR = 3
};

typedef struct agentai_host agentai_host;
typedef struct agentai_timer agentai_timer;
typedef struct agentai_provider_def agentai_provider_def;
typedef struct agentai_storage_def agentai_storage_def;

/** Timer callback; runs on the loop thread. */
typedef void (*agentai_timer_cb)(void *ud);
/** Work function; runs on a thread-pool thread. Must not call host services
 *  other than log/alloc/free/now_ms/post. */
typedef void (*agentai_work_fn)(void *ud);
/** Completion of queue_work; runs on the loop thread. status is 0 or
 *  AGENTAI_ECANCELED when the host shut down before the work ran. */
typedef void (*agentai_after_work_fn)(void *ud, int status);
/** Function posted to the loop thread with post(). */
typedef void (*agentai_post_fn)(void *ud);

/**
 * The host services table. The host passes one table per plugin to init();
 * it stays valid until the process exits. All functions are called from the
 * loop thread unless their comment says otherwise.
 *
 * The table is append-only: new entries go at the end and bump
 * AGENTAI_ABI_MINOR. A plugin that uses an entry newer than ABI 1.0 guards
 * it with AGENTAI_HOST_HAS(host, entry).
 */
struct agentai_host {
  uint32_t size;      /**< sizeof(struct agentai_host) as the host built it */
  uint16_t abi_major; /**< host's AGENTAI_ABI_MAJOR */
  uint16_t abi_minor; /**< host's AGENTAI_ABI_MINOR */
  void *host_ctx;     /**< opaque to plugins; pass the table, not this */

  /** Writes a structured log line attributed to the plugin. fields_json is a
   *  JSON object text whose members are added to the line, or NULL. Both
   *  strings are borrowed for the call. Thread-safe. */
  void (*log)(const agentai_host *host, int level, const char *msg, const char *fields_json);

  /** Memory from the host allocator; free with free(). Thread-safe.
   *  Memory the host hands to a plugin, or a plugin hands to the host, as
   *  "host-allocated" is always from these three. */
  void *(*alloc)(const agentai_host *host, size_t size);
  void *(*realloc)(const agentai_host *host, void *ptr, size_t size);
  void (*free)(const agentai_host *host, void *ptr);

  /** Static sentence for an AGENTAI_E* code. Thread-safe. */
  const char *(*strerror)(int err);

  /** Monotonic milliseconds. Thread-safe. */
  uint64_t (*now_ms)(const agentai_host *host);

  /** Calls cb(ud) once on the loop thread after delay_ms. *out receives a
   *  handle valid until the callback has run or timer_cancel() returned. */
  int (*timer_start)(const agentai_host *host, uint64_t delay_ms, agentai_timer_cb cb, void *ud,
                     agentai_timer **out);
  /** Cancels a pending timer; its callback will not run. */
  void (*timer_cancel)(const agentai_host *host, agentai_timer *timer);

  /** Runs work(ud) on the host thread pool, then after(ud, status) on the loop. */
  int (*queue_work)(const agentai_host *host, agentai_work_fn work, agentai_after_work_fn after,
                    void *ud);

  /** Schedules fn(ud) to run on the loop thread soon. Callable from ANY
   *  thread (this is how a plugin's own threads complete work on the loop).
   *  Posts made before shutdown run before the host closes the plugin. */
  int (*post)(const agentai_host *host, agentai_post_fn fn, void *ud);

  /** Registers a provider under def->name. The host copies *def (and the
   *  name); def->ud stays owned by the plugin. AGENTAI_EEXIST if the name is
   *  taken. Only valid during init(). */
  int (*register_provider)(const agentai_host *host, const agentai_provider_def *def);

  /** Registers a storage backend under def->name; same rules as above. */
  int (*register_storage)(const agentai_host *host, const agentai_storage_def *def);

  /** The runtime's data folder (absolute path, borrowed, valid forever). */
  const char *(*data_dir)(const agentai_host *host);

  /* ---- ABI 1.1 ---- */

  /**
   * Starts a non-blocking HTTP request (agentai/http.h) on the host's client:
   * connections are reused, HTTP/2 is used where the server offers it, TLS is
   * verified, the proxy environment variables are honoured. Returns 0 when
   * accepted (sink->done will run once, never before this returns) and stores
   * a handle for http_cancel() in *out; or a negative code (AGENTAI_EINVAL for
   * a malformed request or URL, AGENTAI_EBUSY while shutting down), in which
   * case the sink is never called.
   */
  int (*http_request)(const agentai_host *host, const agentai_http_request *req,
                      const agentai_http_sink *sink, agentai_http_call **out);
  /** Stops an accepted request whose done() has not run; the sink is never called again. */
  void (*http_cancel)(const agentai_host *host, agentai_http_call *call);
};

/** True when the host table has entry `field` (use for entries newer than
 *  the ABI minor the plugin requires). */
#define AGENTAI_HOST_HAS(host, field)                                              \
  ((host)->size >= offsetof(struct agentai_host, field) + sizeof((host)->field) && \
   (host)->field != NULL)

/* ------------------------------------------------------------------------ */
/* The plugin descriptor                                                    */
/* ------------------------------------------------------------------------ */

/** "AGAI" — first field of every descriptor. */
#define AGENTAI_PLUGIN_MAGIC 0x49414741u

/**
 * What agentai_plugin_entry() returns. Static storage in the plugin; the
 * host reads it and never writes or frees it.
 */
typedef struct agentai_plugin {
  uint32_t magic;      /**< AGENTAI_PLUGIN_MAGIC */
  uint32_t size;       /**< sizeof(agentai_plugin) as the plugin built it */
  uint16_t abi_major;  /**< AGENTAI_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;  /**< AGENTAI_ABI_MINOR the plugin was built with */
  const char *name;    /**< short unique name, e.g. "storage-lmdb" */
  const char *version; /**< the plugin's own version, e.g. "1.2.0" */
  const char *summary; /**< one line for `agentai plugins list` */

  /**
   * Called once on the loop thread after the ABI checks pass.
   * config_json: the plugin's configuration section as a JSON object text
   * ("{}" when the configuration has none); borrowed for the call. The plugin
   * refuses unknown keys. On success returns 0 and may set *state (passed to
   * shutdown). On failure returns a negative code and writes a one-line
   * reason into errbuf (errbuf_len bytes, always NUL-terminated by the host).
   * Registrations happen here.
   */
  int (*init)(const agentai_host *host, const char *config_json, void **state, char *errbuf,
              size_t errbuf_len);

  /** Called once at shutdown on the loop thread, after every provider and
   *  storage the plugin registered is closed. May be NULL. */
  void (*shutdown)(void *state);
} agentai_plugin;

/** Makes a symbol visible from a plugin built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define AGENTAI_EXPORT __attribute__((visibility("default")))
#else
#define AGENTAI_EXPORT
#endif

/** The one symbol a plugin exports. */
typedef const agentai_plugin *(*agentai_plugin_entry_fn)(void);
#define AGENTAI_PLUGIN_ENTRY_SYMBOL "agentai_plugin_entry"

/** Fills the header fields of a descriptor with this SDK's values. */
#define AGENTAI_PLUGIN_HEADER                                                                    \
  .magic = AGENTAI_PLUGIN_MAGIC, .size = sizeof(agentai_plugin), .abi_major = AGENTAI_ABI_MAJOR, \
  .abi_minor = AGENTAI_ABI_MINOR

#ifdef __cplusplus
}
#endif
