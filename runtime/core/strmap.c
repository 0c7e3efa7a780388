/* core/strmap.c — linear probing with backward-shift deletion: no tombstones to sweep. */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"

typedef struct strmap_slot {
  char *key; /* NULL: empty */
  void *value;
  uint64_t hash;
} strmap_slot;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

void strmap_init(strmap *m) {
  m->slots = NULL;
  m->cap = 0;
  m->count = 0;
}

static strmap_slot *find(const strmap *m, const char *key, uint64_t h) {
  if (!m->cap)
    return NULL;
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    strmap_slot *s = &m->slots[i];
    if (!s->key)
      return NULL;
    if (s->hash == h && strcmp(s->key, key) == 0)
      return s;
  }
}

void *strmap_get(const strmap *m, const char *key) {
  strmap_slot *s = find(m, key, hash_str(key));
  return s ? s->value : NULL;
}

static void insert_slot(strmap_slot *slots, size_t cap, strmap_slot in) {
  size_t i = in.hash & (cap - 1);
  while (slots[i].key)
    i = (i + 1) & (cap - 1);
  slots[i] = in;
}

static int grow(strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  strmap_slot *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return AGENTAI_ENOMEM;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key)
      insert_slot(slots, cap, m->slots[i]);
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}

int strmap_put(strmap *m, const char *key, void *value) {
  uint64_t h = hash_str(key);
  strmap_slot *s = find(m, key, h);
  if (s) {
    s->value = value;
    return 0;
  }
  if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0) /* load factor <= 3/4 */
    return AGENTAI_ENOMEM;
  char *copy = strdup(key);
  if (!copy)
    return AGENTAI_ENOMEM;
  insert_slot(m->slots, m->cap, (strmap_slot){copy, value, h});
  m->count++;
  return 0;
}

void *strmap_remove(strmap *m, const char *key) {
  strmap_slot *s = find(m, key, hash_str(key));
  if (!s)
    return NULL;
  void *value = s->value;
  free(s->key);
  size_t mask = m->cap - 1;
  size_t hole = (size_t)(s - m->slots);
  /* Shift later members of the probe run back so lookups never stop early. */
  for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
    size_t home = m->slots[i].hash & mask;
    /* Move slot i into the hole unless its home lies cyclically in (hole, i]. */
    int stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      m->slots[hole] = m->slots[i];
      hole = i;
    }
  }
  m->slots[hole].key = NULL;
  m->slots[hole].value = NULL;
  m->count--;
  return value;
}

int strmap_next(const strmap *m, strmap_iter *it, const char **key, void **value) {
  for (; *it < m->cap; (*it)++) {
    if (m->slots[*it].key) {
      *key = m->slots[*it].key;
      *value = m->slots[*it].value;
      (*it)++;
      return 1;
    }
  }
  return 0;
}

void strmap_free(strmap *m) {
  for (size_t i = 0; i < m->cap; i++)
    free(m->slots[i].key);
  free(m->slots);
  strmap_init(m);
}
