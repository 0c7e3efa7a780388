/* tests/fuzz/fuzz_lmdb_config.c — fuzzes the storage-lmdb plugin's own parser of its configuration
 * section. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The parser is internal to the plugin (hidden visibility, no exported
 * symbol), so the target compiles its source in. */
#include "../../plugins/storage-lmdb/lmdb_config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a path has a ".." component (written independently of the plugin). */
static int has_dotdot_component(const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    int starts = i == 0 || s[i - 1] == '/';
    if (starts && s[i] == '.' && i + 1 < n && s[i + 1] == '.' && (i + 2 == n || s[i + 2] == '/'))
      return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* the plugin receives NUL-terminated JSON text */
  slmdb_config cfg;
  char err[256];
  err[0] = '\0';
  int rc = slmdb_config_parse(text, &cfg, err, sizeof err);
  /* A refusal always explains itself; an acceptance stays within the limits. */
  if (rc != 0 && (rc > 0 || err[0] == '\0' || !memchr(err, '\0', sizeof err)))
    abort();
  if (rc == 0 &&
      (cfg.map_size_mb < 1 || cfg.max_readers < 1 || cfg.max_readers > 65536 ||
       cfg.subdir[0] == '\0' || cfg.subdir[0] == '/' || has_dotdot_component(cfg.subdir)))
    abort();
  free(text);
  return 0;
}
