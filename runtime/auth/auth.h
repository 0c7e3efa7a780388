/* auth/auth.h — API keys: creation, hashing, revocation, expiry and fast verification of Bearer
 * secrets, stored as `key/<id>` records on the storage backend. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"
#include "store/store.h"

/** Key namespaces: the records, and an index of ids by tenant (written in the same batch). */
#define AUTH_NS_KEY "key/"
#define AUTH_NS_TENANT "keyt/"

/** Room for a secret: "ak_" + id (30) + "_" + 43 base64url characters + NUL (77), with slack. */
#define AUTH_SECRET_MAX 96
/** Longest tenant and name accepted (bytes, without the NUL). */
#define AUTH_TENANT_MAX 63
#define AUTH_NAME_MAX 127

/** How long a verified key is trusted from memory before its record is read
 *  again: a revoke made by another process (the CLI) takes effect within it. */
#define AUTH_CACHE_TTL_MS 1000

/** Roles, in increasing power. */
typedef enum auth_role {
  AUTH_ROLE_NONE = 0,
  AUTH_ROLE_READER = 1,   /**< GET/HEAD only */
  AUTH_ROLE_OPERATOR = 2, /**< agents, tasks, webhooks of its tenant */
  AUTH_ROLE_ADMIN = 3     /**< everything, all tenants, keys */
} auth_role;

/** A key's public description (never the secret or its hash). */
typedef struct auth_key_info {
  char id[IDS_MAX];
  char name[AUTH_NAME_MAX + 1];
  char tenant[AUTH_TENANT_MAX + 1];
  auth_role role;
  int64_t created_ms;
  int64_t expires_ms; /**< 0: never */
  int64_t revoked_ms; /**< 0: not revoked */
} auth_key_info;

/** The keys of one store, with the in-memory verification cache. */
typedef struct auth_keys auth_keys;

/** "admin", "operator", "reader" (NULL for anything else). */
const char *auth_role_name(auth_role r);
/** The role called name, or AUTH_ROLE_NONE. */
auth_role auth_role_parse(const char *name);

/** Wall-clock now in Unix milliseconds (expiry and record times use it). */
int64_t auth_now_ms(void);

/**
 * Reads an expiry: RFC 3339 ("2027-01-01T00:00:00Z") or a duration from now
 * ("90s", "15m", "12h", "30d", "2w"). Returns 0 with *ms, or AGENTAI_EINVAL
 * for anything else, a zero duration or an instant not after now.
 */
int auth_parse_expiry(const char *text, int64_t now_ms, int64_t *ms);

/** Keys over st (borrowed for the keys' lifetime). 0, or AGENTAI_ENOMEM. */
int auth_keys_new(store *st, auth_keys **out);
/** Frees the cache (writes in flight must have completed). NULL is fine. */
void auth_keys_free(auth_keys *k);

/**
 * 1 when at least one key record exists (revoked or expired ones count too:
 * revoking the last key must not reopen the API), 0 when none does, or a
 * negative code when storage could not answer at once. Once 1, it stays 1
 * without reading storage again; while 0 every call looks again (a cheap
 * one-item scan), so a key made by another process switches auth on at once.
 */
int auth_keys_any(auth_keys *k);

/** Called once a write is durable (err 0) or failed; info is borrowed for the call. */
typedef void (*auth_done_fn)(void *ud, int err, const auth_key_info *info);

/**
 * Makes a key: role and tenant are required (tenant 1..AUTH_TENANT_MAX of
 * [A-Za-z0-9._-]), name optional (NULL or up to AUTH_NAME_MAX bytes of
 * printable text), expires_ms 0 or in the future. Writes the new secret into
 * secret (shown once: only its SHA-256 is stored) and calls done when the
 * record is durable. Returns 0 (done will be called, possibly before this
 * returns), or AGENTAI_EINVAL with why[0..why_len) naming the field, or a
 * storage error (done is not called).
 */
int auth_keys_create(auth_keys *k, auth_role role, const char *tenant, const char *name,
                     int64_t expires_ms, char secret[AUTH_SECRET_MAX], auth_done_fn done, void *ud,
                     char *why, size_t why_len);

/**
 * Marks key id revoked (now) and drops it from the cache. Returns 0 (done
 * will be called with the updated description), AGENTAI_ENOENT when no such
 * key exists, AGENTAI_EEXIST when it is already revoked (nothing written),
 * or a storage error.
 */
int auth_keys_revoke(auth_keys *k, const char *id, auth_done_fn done, void *ud);

/** Reads key id's description. 0, AGENTAI_ENOENT, AGENTAI_EBUSY (the backend
 *  did not answer at once), or AGENTAI_ECORRUPT. */
int auth_keys_get(auth_keys *k, const char *id, auth_key_info *out);

/** Calls each(ud, info) for every key in id (creation) order, only those of
 *  tenant when it is non-NULL; each returns non-zero to stop. 0 or an error. */
int auth_keys_list(auth_keys *k, const char *tenant,
                   int (*each)(void *ud, const auth_key_info *info), void *ud);

/** Why a presented secret was refused. */
typedef enum auth_verdict {
  AUTH_OK = 0,
  AUTH_MALFORMED,   /**< not the shape of a secret */
  AUTH_UNKNOWN,     /**< no such key, or the secret does not match */
  AUTH_REVOKED,     /**< the key was revoked */
  AUTH_EXPIRED,     /**< the key is past its expiry */
  AUTH_UNAVAILABLE, /**< storage could not answer at once: try again */
} auth_verdict;

/**
 * Checks a presented secret (the text after "Bearer "): one SHA-256 and a map
 * lookup when the key is cached; on a miss (or an entry older than
 * AUTH_CACHE_TTL_MS) the record is read from storage. Hashes are compared in
 * constant time. On AUTH_OK fills *out (may be NULL).
 */
auth_verdict auth_keys_verify(auth_keys *k, const char *secret, size_t len, int64_t now_ms,
                              auth_key_info *out);

/** Drops every cached key (tests; after changes made behind the cache's back). */
void auth_keys_forget(auth_keys *k);

/** Appends the description's public fields to a cJSON object (cJSON *). */
void auth_key_to_json(const auth_key_info *info, void *cjson_object);
