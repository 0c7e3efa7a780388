/* core/toml_index.c — the parser's key index: every key with its line and type, found by (parent,
 * name) in O(1). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/toml_internal.h"

/* ---------------------------------------------------------------------- */
/* The index                                                              */
/* ---------------------------------------------------------------------- */

static uint64_t key_hash(int parent, const char *k, size_t len) {
  uint64_t h =
      UINT64_C(1469598103934665603) ^ ((uint64_t)(unsigned)parent * UINT64_C(0x9E3779B97F4A7C15));
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)k[i];
    h *= UINT64_C(1099511628211);
  }
  return h ^ (h >> 29);
}

int toml__ix_find(const toml_index *ix, int parent, const char *k, size_t len) {
  if (!ix->nslot)
    return -1;
  size_t mask = ix->nslot - 1;
  for (size_t i = key_hash(parent, k, len) & mask;; i = (i + 1) & mask) {
    int id = ix->slot[i];
    if (id < 0)
      return -1;
    const entry *e = &ix->e[id];
    if (e->parent == parent && e->key_len == len && memcmp(e->key, k, len) == 0)
      return id;
  }
}

static void ix_slot_put(toml_index *ix, int id) {
  const entry *e = &ix->e[id];
  size_t mask = ix->nslot - 1;
  size_t i = key_hash(e->parent, e->key, e->key_len) & mask;
  while (ix->slot[i] >= 0)
    i = (i + 1) & mask;
  ix->slot[i] = id;
}

static int ix_grow_slots(toml_index *ix) {
  size_t n = ix->nslot ? ix->nslot * 2 : 64;
  int *s = malloc(n * sizeof *s);
  if (!s)
    return AGENTAI_ENOMEM;
  for (size_t i = 0; i < n; i++)
    s[i] = -1;
  free(ix->slot);
  ix->slot = s;
  ix->nslot = n;
  for (size_t id = 0; id < ix->n; id++)
    if (ix->e[id].key)
      ix_slot_put(ix, (int)id);
  return 0;
}

/* Appends an entry; key (copied) may be NULL. Returns its id or AGENTAI_ENOMEM. */
int toml__ix_add(toml_index *ix, int parent, const char *key, size_t key_len, int kind, int type,
                 int line, cJSON *node) {
  if (ix->n == ix->cap) {
    size_t cap = ix->cap ? ix->cap * 2 : 32;
    entry *e = realloc(ix->e, cap * sizeof *e);
    if (!e)
      return AGENTAI_ENOMEM;
    ix->e = e;
    ix->cap = cap;
  }
  if (key && (ix->nkeyed + 1) * 2 > ix->nslot && ix_grow_slots(ix) < 0)
    return AGENTAI_ENOMEM;
  entry *e = &ix->e[ix->n];
  memset(e, 0, sizeof *e);
  if (key) {
    e->key = malloc(key_len + 1);
    if (!e->key)
      return AGENTAI_ENOMEM;
    memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    e->key_len = key_len;
  }
  e->parent = parent;
  e->kind = (unsigned char)kind;
  e->type = (unsigned char)type;
  e->line = line;
  e->node = node;
  e->depth = parent >= 0 ? ix->e[parent].depth + 1 : 0;
  int id = (int)ix->n++;
  if (key) {
    ix->nkeyed++;
    ix_slot_put(ix, id);
  }
  return id;
}

void toml_index_free(toml_index *ix) {
  if (!ix)
    return;
  for (size_t i = 0; i < ix->n; i++)
    free(ix->e[i].key);
  free(ix->e);
  free(ix->slot);
  free(ix);
}

int toml_index_lookup(const toml_index *ix, const char *const *path, size_t depth,
                      toml_type *type) {
  int id = 0;
  for (size_t i = 0; ix && id >= 0 && i < depth; i++)
    id = toml__ix_find(ix, id, path[i], strlen(path[i]));
  if (!ix || id < 0) {
    if (type)
      *type = TOML_NONE;
    return 0;
  }
  if (type)
    *type = (toml_type)ix->e[id].type;
  return ix->e[id].line;
}

const char *toml_type_name(toml_type type) {
  switch (type) {
    case TOML_STRING:
      return "string";
    case TOML_INTEGER:
      return "integer";
    case TOML_FLOAT:
      return "float";
    case TOML_BOOLEAN:
      return "boolean";
    case TOML_ARRAY:
      return "array";
    case TOML_TABLE:
      return "table";
    default:
      return "nothing";
  }
}
