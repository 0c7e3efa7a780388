/* core/strmap.h — a string-keyed hash map of pointers (open addressing), for in-memory indexes. */
#pragma once

#include <stddef.h>

/** A map from NUL-terminated keys to non-NULL pointers. Keys are copied. */
typedef struct strmap {
  struct strmap_slot *slots;
  size_t cap;   /* power of two, or 0 */
  size_t count; /* live entries */
} strmap;

/** Iteration position: start with 0, pass the returned value back. */
typedef size_t strmap_iter;

/** An empty map (no allocation until the first put). */
void strmap_init(strmap *m);

/** The value under key, or NULL. */
void *strmap_get(const strmap *m, const char *key);

/** Sets key to value (non-NULL), replacing an existing value. Returns 0 or
 *  AGENTAI_ENOMEM (the map is unchanged). */
int strmap_put(strmap *m, const char *key, void *value);

/** Removes key; returns its value, or NULL when absent. */
void *strmap_remove(strmap *m, const char *key);

/** Visits entries in no particular order: returns 1 with *key and *value set,
 *  or 0 at the end. The map must not change while iterating. */
int strmap_next(const strmap *m, strmap_iter *it, const char **key, void **value);

/** Frees the map's memory (not the values). */
void strmap_free(strmap *m);
