/* store/store.c — opens the configured storage backend and helps with key ranges. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int store_open(store *st, plugin_registry *reg, const config *cfg, char *err, size_t err_len) {
  memset(st, 0, sizeof *st);
  const agentai_storage_def *def = plugin_find_storage(reg, cfg->storage_backend);
  if (!def) {
    snprintf(err, err_len,
             "storage backend '%s' is not registered by any loaded plugin (check plugins.load "
             "and storage.backend)",
             cfg->storage_backend);
    return AGENTAI_ENOENT;
  }
  char why[512] = "";
  int rc = def->open(def->ud, cfg->data_dir, &st->db, why, sizeof why);
  if (rc < 0) {
    why[sizeof why - 1] = '\0';
    snprintf(err, err_len, "storage '%s': %s", cfg->storage_backend, why[0] ? why : "open failed");
    return rc;
  }
  st->def = def;
  return 0;
}

void store_close(store *st) {
  if (st->def && st->db)
    st->def->close(st->db);
  st->db = NULL;
  st->def = NULL;
}

size_t store_prefix_end(const char *prefix, size_t len, char *end) {
  memcpy(end, prefix, len);
  while (len > 0) {
    unsigned char c = (unsigned char)end[len - 1];
    if (c != 0xff) {
      end[len - 1] = (char)(c + 1);
      return len;
    }
    len--;
  }
  return 0;
}
