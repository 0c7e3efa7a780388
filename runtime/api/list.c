/* api/list.c — filtered, ordered, cursor-paged listings over key prefixes and id indexes; reads
 * a bounded batch at a time, so a page of 20 never reads the whole collection. */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"

#define BATCH 64
#define KEY_MAX 256

typedef struct list_item {
  char id[KEY_MAX];
  cJSON *rec;
} list_item;

typedef struct prefix_state {
  char prefix[KEY_MAX];
  size_t plen;
  char from[KEY_MAX]; /* asc: next start key; desc: next end key (exclusive) */
  size_t from_len;
  int exhausted;
  list_item *matches;
  size_t nmatches;
} prefix_state;

typedef struct lister {
  api *a;
  http_request *req;
  listing_query *q;
  char record_prefix[64];
  int direct; /* values are the records */
  int desc;
  size_t want; /* limit + 1: one more tells has_more */
  char lo[KEY_MAX], hi[KEY_MAX];
  int has_lo, has_hi;
  prefix_state p[8];
  size_t np, cur;
  /* the batch being read */
  list_item batch[BATCH];
  size_t nbatch, pending_gets;
  int batch_full, failed;
  char require_field[32], require_value[64];
  int stepping, again, done; /* trampoline state; done: answered, free when unwound */
} lister;

static void step(lister *l);

static void lister_free(lister *l) {
  for (size_t i = 0; i < l->np; i++) {
    for (size_t k = 0; k < l->p[i].nmatches; k++)
      cJSON_Delete(l->p[i].matches[k].rec);
    free(l->p[i].matches);
  }
  for (size_t k = 0; k < l->nbatch; k++)
    cJSON_Delete(l->batch[k].rec);
  listing_free(l->q);
  l->q = NULL;
  l->nbatch = 0;
  for (size_t i = 0; i < l->np; i++)
    l->p[i].matches = NULL, l->p[i].nmatches = 0;
  /* inside step(): freed when the trampoline unwinds */
  if (l->stepping)
    l->done = 1;
  else
    free(l);
}

static int item_cmp_asc(const void *x, const void *y) {
  return strcmp(((const list_item *)x)->id, ((const list_item *)y)->id);
}

static int item_cmp_desc(const void *x, const void *y) {
  return -item_cmp_asc(x, y);
}

static void finish(lister *l) {
  size_t total = 0;
  for (size_t i = 0; i < l->np; i++)
    total += l->p[i].nmatches;
  list_item *all = calloc(total ? total : 1, sizeof *all);
  if (!all) {
    http_respond_error(l->req, 500, "internal_error", "out of memory", NULL);
    lister_free(l);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < l->np; i++) {
    if (l->p[i].nmatches) /* memcpy may not be given a NULL source */
      memcpy(all + n, l->p[i].matches, l->p[i].nmatches * sizeof *all);
    n += l->p[i].nmatches;
    l->p[i].nmatches = 0; /* moved */
  }
  if (l->np > 1)
    qsort(all, n, sizeof *all, l->desc ? item_cmp_desc : item_cmp_asc);
  size_t limit = l->want - 1;
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "object", "list");
  cJSON *data = cJSON_AddArrayToObject(body, "data");
  for (size_t i = 0; i < n && i < limit; i++) {
    cJSON_AddItemToArray(data, all[i].rec);
    all[i].rec = NULL;
  }
  int more = n > limit;
  cJSON_AddBoolToObject(body, "has_more", more);
  if (more)
    cJSON_AddStringToObject(body, "next_cursor", all[limit - 1].id);
  else
    cJSON_AddNullToObject(body, "next_cursor");
  for (size_t i = 0; i < n; i++)
    cJSON_Delete(all[i].rec);
  free(all);
  api_respond(l->req, 200, body);
  lister_free(l);
}

/* Matches the batch's records in key order; moves on or reads more. */
static void batch_done(lister *l) {
  prefix_state *p = &l->p[l->cur];
  if (l->failed) {
    http_respond_error(l->req, 500, "internal_error", "storage read failed", NULL);
    lister_free(l);
    return;
  }
  for (size_t k = 0; k < l->nbatch; k++) {
    list_item *it = &l->batch[k];
    int required = 1;
    if (l->require_field[0]) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(it->rec, l->require_field);
      required = cJSON_IsString(v) && strcmp(v->valuestring, l->require_value) == 0;
    }
    if (p->nmatches < l->want && it->rec && required && listing_match(l->q, it->rec)) {
      list_item *grown = realloc(p->matches, (p->nmatches + 1) * sizeof *grown);
      if (grown) {
        p->matches = grown;
        p->matches[p->nmatches++] = *it;
        it->rec = NULL;
      }
    }
    cJSON_Delete(it->rec);
    it->rec = NULL;
  }
  if (l->nbatch) {
    /* continue after (asc) or before (desc) the last key read */
    const char *last = l->batch[l->nbatch - 1].id;
    size_t idlen = strlen(last);
    if (p->plen + idlen + 1 > sizeof p->from)
      idlen = sizeof p->from - p->plen - 1;
    memcpy(p->from, p->prefix, p->plen);
    memcpy(p->from + p->plen, last, idlen);
    p->from[p->plen + idlen] = '\0';
    p->from_len = p->plen + idlen + (l->desc ? 0 : 1); /* asc: key + "\0" is the next key */
  }
  if (!l->batch_full || p->nmatches >= l->want)
    p->exhausted = 1;
  l->nbatch = 0;
  if (p->exhausted)
    l->cur++;
  step(l);
}

typedef struct get_ctx {
  lister *l;
  size_t k;
} get_ctx;

static void got_record(void *ud, int err, const void *value, size_t len) {
  get_ctx *g = ud;
  lister *l = g->l;
  if (err == 0)
    l->batch[g->k].rec = cJSON_ParseWithLength(value, len);
  else if (err != AGENTAI_ENOENT) /* a record deleted since the index was read is skipped */
    l->failed = 1;
  free(g);
  if (--l->pending_gets == 0)
    batch_done(l);
}

static int scanned(void *ud, const void *key, size_t klen, const void *value, size_t vlen) {
  lister *l = ud;
  prefix_state *p = &l->p[l->cur];
  list_item *it = &l->batch[l->nbatch];
  size_t idlen = klen - p->plen;
  if (idlen >= sizeof it->id)
    idlen = sizeof it->id - 1;
  memcpy(it->id, (const char *)key + p->plen, idlen);
  it->id[idlen] = '\0';
  it->rec = l->direct ? cJSON_ParseWithLength(value, vlen) : NULL;
  l->nbatch++;
  return l->nbatch >= BATCH;
}

static void scan_done(void *ud, int err) {
  lister *l = ud;
  if (err < 0)
    l->failed = 1;
  l->batch_full = l->nbatch >= BATCH;
  if (l->direct || l->failed || l->nbatch == 0) {
    batch_done(l);
    return;
  }
  /* One get per id; the last answer (inline or later) continues. */
  l->pending_gets = l->nbatch + 1;
  store *st = l->a->d.store;
  for (size_t k = 0; k < l->nbatch; k++) {
    char key[KEY_MAX + 64];
    int n = snprintf(key, sizeof key, "%s%s", l->record_prefix, l->batch[k].id);
    get_ctx *g = malloc(sizeof *g);
    if (g) {
      g->l = l;
      g->k = k;
    }
    if (!g || st->def->get(st->db, NULL, key, (size_t)n, got_record, g) < 0) {
      free(g);
      l->failed = 1;
      l->pending_gets--;
    }
  }
  if (--l->pending_gets == 0)
    batch_done(l);
}

static void step_once(lister *l);

/* Reads the next batch of the current prefix, or finishes. Storage that
 * answers inline calls back into step: a trampoline keeps the stack flat
 * however many batches a selective filter needs. */
static void step(lister *l) {
  if (l->stepping) {
    l->again = 1;
    return;
  }
  l->stepping = 1;
  do {
    l->again = 0;
    step_once(l);
  } while (l->again && !l->done);
  if (l->done)
    free(l);
  else
    l->stepping = 0;
}

static void step_once(lister *l) {
  if (l->cur >= l->np) {
    finish(l);
    return;
  }
  prefix_state *p = &l->p[l->cur];
  char start[KEY_MAX + 8], end[KEY_MAX + 8];
  size_t slen, elen;
  if (!l->desc) {
    memcpy(start, p->from, p->from_len);
    slen = p->from_len;
    if (l->has_hi) {
      elen = (size_t)snprintf(end, sizeof end, "%s%s", p->prefix, l->hi);
    } else {
      elen = store_prefix_end(p->prefix, p->plen, end);
    }
  } else {
    if (l->has_lo)
      slen = (size_t)snprintf(start, sizeof start, "%s%s", p->prefix, l->lo);
    else {
      memcpy(start, p->prefix, p->plen);
      slen = p->plen;
    }
    memcpy(end, p->from, p->from_len);
    elen = p->from_len;
  }
  agentai_scan_range r = {start, slen, elen ? end : NULL, elen, l->desc ? AGENTAI_SCAN_REVERSE : 0,
                          BATCH};
  store *st = l->a->d.store;
  l->nbatch = 0;
  if (st->def->scan(st->db, NULL, &r, scanned, scan_done, l) < 0) {
    l->failed = 1;
    batch_done(l);
  }
}

/* out = a + b, cut to cap - 1 bytes; returns the length. (The pieces live in
 * the same struct as out, which snprintf may not be given.) */
static size_t join(char *out, size_t cap, const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > cap - 1)
    na = cap - 1;
  if (nb > cap - 1 - na)
    nb = cap - 1 - na;
  memmove(out, a, na);
  memmove(out + na, b, nb);
  out[na + nb] = '\0';
  return na + nb;
}

void api_list(api *a, http_request *req, listing_query *q, const api_list_source *src) {
  lister *l = calloc(1, sizeof *l);
  if (!l) {
    listing_free(q);
    http_respond_error(req, 500, "internal_error", "out of memory", NULL);
    return;
  }
  l->a = a;
  l->req = req;
  l->q = q;
  l->direct = src->record_prefix == NULL;
  if (src->record_prefix)
    snprintf(l->record_prefix, sizeof l->record_prefix, "%s", src->record_prefix);
  l->desc = listing_order_desc(q);
  l->want = (size_t)listing_limit(q) + 1;
  if (src->lo && strlen(src->lo) < sizeof l->lo)
    l->has_lo = (memcpy(l->lo, src->lo, strlen(src->lo) + 1), 1);
  if (src->hi && strlen(src->hi) < sizeof l->hi)
    l->has_hi = (memcpy(l->hi, src->hi, strlen(src->hi) + 1), 1);
  if (src->require_field) {
    snprintf(l->require_field, sizeof l->require_field, "%s", src->require_field);
    snprintf(l->require_value, sizeof l->require_value, "%s", src->require_value);
  }
  const char *cursor = listing_cursor(q);
  l->np = src->nprefixes;
  for (size_t i = 0; i < l->np; i++) {
    prefix_state *p = &l->p[i];
    p->plen = (size_t)snprintf(p->prefix, sizeof p->prefix, "%s", src->prefixes[i]);
    if (!l->desc) {
      /* from the larger of lo and just after the cursor */
      const char *from = l->has_lo ? l->lo : "";
      int after = 0;
      if (cursor && strcmp(cursor, from) >= 0) {
        from = cursor;
        after = 1;
      }
      size_t n = join(p->from, sizeof p->from, p->prefix, from);
      p->from_len = n + (size_t)after; /* key + "\0": strictly after */
    } else {
      /* down from the smaller of hi and the cursor (both exclusive) */
      if (cursor && (!l->has_hi || strcmp(cursor, l->hi) < 0))
        p->from_len = join(p->from, sizeof p->from, p->prefix, cursor);
      else if (l->has_hi)
        p->from_len = join(p->from, sizeof p->from, p->prefix, l->hi);
      else
        p->from_len = store_prefix_end(p->prefix, p->plen, p->from);
    }
  }
  step(l);
}
