/* tests/unit/lmdb_fixture.h — shared setup for the storage-lmdb tests: a loop, the plugin
 * loaded through the real loader, a database in a temporary folder, and synchronous
 * write/get/scan/stats helpers. */
#pragma once

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "check.h"
#include "plugin/loader.h"

#define PLUGIN TEST_PLUGIN_DIR "/storage-lmdb.so"

/* ---- fixture: a loop, a registry with the plugin loaded, an open db ---- */

typedef struct fx {
  uv_loop_t loop;
  uv_timer_t tick; /* wakes UV_RUN_ONCE so waits can time out */
  plugin_registry *reg;
  const agentai_storage_def *def;
  agentai_storage *db;
  char dir[64];
} fx;

static inline void tick_cb(uv_timer_t *t) {
  (void)t;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  chmod(path, 0700);
  return remove(path);
}

static inline void rm_rf(const char *dir) {
  chmod(dir, 0700);
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void make_tmpdir(char *out, size_t len) {
  snprintf(out, len, "/tmp/agentai-lmdb-XXXXXX");
  CHECK(mkdtemp(out) != NULL);
}

/* Loop + registry + plugin; returns the load code, err holds the message. */
static inline int fx_load(fx *f, const char *cfg_json, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  make_tmpdir(f->dir, sizeof f->dir);
  CHECK_EQ_INT(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->tick);
  uv_timer_start(&f->tick, tick_cb, 20, 20);
  uv_unref((uv_handle_t *)&f->tick);
  CHECK_EQ_INT(plugin_registry_new(&f->loop, f->dir, &f->reg), 0);
  int rc = plugin_load(f->reg, PLUGIN, cfg_json, err, err_len);
  f->def = plugin_find_storage(f->reg, "lmdb");
  return rc;
}

static inline void fx_init(fx *f, const char *cfg_json) {
  char err[1024] = "";
  int rc = fx_load(f, cfg_json, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "load: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->def != NULL);
  CHECK_EQ_INT(f->def->size, sizeof(agentai_storage_def));
  CHECK(f->def->open && f->def->close && f->def->get && f->def->scan && f->def->write &&
        f->def->snapshot_open && f->def->snapshot_close && f->def->stats);
}

static inline void fx_open(fx *f) {
  char err[1024] = "";
  int rc = f->def->open(f->def->ud, f->dir, &f->db, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "open: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(f->db != NULL);
}

static inline void fx_close_db(fx *f) {
  if (f->db)
    f->def->close(f->db);
  f->db = NULL;
}

static inline void fx_free(fx *f) {
  fx_close_db(f);
  plugin_registry_free(f->reg);
  uv_close((uv_handle_t *)&f->tick, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
  rm_rf(f->dir);
}

/* Runs the loop until *counter reaches want; fails after 20 s. */
static inline void wait_for(fx *f, const int *counter, int want) {
  uint64_t deadline = uv_hrtime() + 20000000000ull;
  while (*counter < want) {
    CHECK(uv_hrtime() < deadline);
    uv_run(&f->loop, UV_RUN_ONCE);
  }
}

/* ---- sync helpers ---- */

typedef struct wres {
  int done;
  int err;
} wres;

static inline void on_done(void *ud, int err) {
  wres *r = ud;
  r->done++;
  r->err = err;
}

static inline int write_sync(fx *f, const agentai_kv_op *ops, size_t n) {
  wres r = {0, 0};
  int rc = f->def->write(f->db, ops, n, on_done, &r);
  if (rc != 0)
    return rc;
  wait_for(f, &r.done, 1);
  CHECK_EQ_INT(r.done, 1);
  return r.err;
}

static inline int put_sync(fx *f, const char *k, const char *v) {
  agentai_kv_op op = {AGENTAI_KV_PUT, k, strlen(k), v, strlen(v)};
  return write_sync(f, &op, 1);
}

static inline int del_sync(fx *f, const char *k) {
  agentai_kv_op op = {AGENTAI_KV_DELETE, k, strlen(k), NULL, 0};
  return write_sync(f, &op, 1);
}

typedef struct gres {
  int called;
  int err;
  char val[4096];
  size_t len;
} gres;

static inline void on_get(void *ud, int err, const void *value, size_t len) {
  gres *g = ud;
  g->called++;
  g->err = err;
  g->len = len;
  if (err == 0 && len < sizeof g->val) {
    if (len)
      memcpy(g->val, value, len);
    g->val[len] = '\0';
  }
}

/* Reads k; checks the read completed inline (before get() returned). */
static inline int get_sync(fx *f, agentai_snapshot *snap, const char *k, gres *g) {
  memset(g, 0, sizeof *g);
  CHECK_EQ_INT(f->def->get(f->db, snap, k, strlen(k), on_get, g), 0);
  CHECK_EQ_INT(g->called, 1);
  return g->err;
}

static inline void check_value(fx *f, const char *k, const char *want) {
  gres g;
  CHECK_EQ_INT(get_sync(f, NULL, k, &g), 0);
  CHECK_STR_CONTAINS(g.val, want);
  CHECK_EQ_INT(g.len, strlen(want));
}

static inline void check_absent(fx *f, const char *k) {
  gres g;
  CHECK_EQ_INT(get_sync(f, NULL, k, &g), AGENTAI_ENOENT);
}

typedef struct sres {
  int done, err, items, stop_after;
  char keys[1024];
} sres;

static inline int on_item(void *ud, const void *k, size_t klen, const void *v, size_t vlen) {
  sres *s = ud;
  (void)v;
  (void)vlen;
  size_t used = strlen(s->keys);
  snprintf(s->keys + used, sizeof s->keys - used, "%s%.*s", used ? "," : "", (int)klen,
           (const char *)k);
  s->items++;
  return s->stop_after && s->items >= s->stop_after;
}

static inline void on_scan_done(void *ud, int err) {
  sres *s = ud;
  s->done++;
  s->err = err;
}

static inline void scan_sync(fx *f, agentai_snapshot *snap, const agentai_scan_range *r, sres *s,
                             int stop_after) {
  memset(s, 0, sizeof *s);
  s->stop_after = stop_after;
  CHECK_EQ_INT(f->def->scan(f->db, snap, r, on_item, on_scan_done, s), 0);
  CHECK_EQ_INT(s->done, 1); /* inline */
  CHECK_EQ_INT(s->err, 0);
}

/* A number field of the stats JSON ("key":N). */
static inline double stat_of(fx *f, const char *key) {
  char *json = NULL;
  CHECK_EQ_INT(f->def->stats(f->db, &json), 0);
  CHECK(json != NULL);
  char needle[64];
  snprintf(needle, sizeof needle, "\"%s\":", key);
  const char *p = strstr(json, needle);
  CHECK_STR_CONTAINS(json, needle);
  double v = strtod(p + strlen(needle), NULL);
  free(json);
  return v;
}
