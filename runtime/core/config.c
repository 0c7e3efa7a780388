/* core/config.c — the runtime configuration: embedded defaults, schema checks of config files,
 * environment overrides. */
#include "core/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "core/config_internal.h"
#include "core/log.h"
#include "core/toml.h"

/* Config files are small; anything bigger is a mistake, not a configuration. */
#define CONFIG_FILE_MAX (16u * 1024 * 1024)
/* Largest integer a file can carry (see TOML_INT_LIMIT in core/toml.c). */
#define CONFIG_INT_MAX 999999999999999LL

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */
/* ---------------------------------------------------------------------- */

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || !err_len)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

static int copy_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap)
    return AGENTAI_E2BIG;
  memcpy(dst, src, n + 1);
  return 0;
}

static void free_list(char **list, size_t count) {
  if (!list)
    return;
  for (size_t i = 0; i < count; i++)
    free(list[i]);
  free(list);
}

/* A malloc'd array of copies of items[0..n); non-NULL even when n == 0. */
static char **dup_list(const char *const *items, const size_t *lens, size_t n) {
  char **out = calloc(n ? n : 1, sizeof *out);
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    size_t len = lens ? lens[i] : strlen(items[i]);
    out[i] = malloc(len + 1);
    if (!out[i]) {
      free_list(out, i);
      return NULL;
    }
    memcpy(out[i], items[i], len);
    out[i][len] = '\0';
  }
  return out;
}

/* Copies a key for messages with control characters replaced, bounded. */
static const char *printable(const char *s, char *buf, size_t cap) {
  size_t i = 0;
  for (; s && s[i] && i + 1 < cap; i++)
    buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  buf[i] = '\0';
  return buf;
}

/* ---------------------------------------------------------------------- */
/* Defaults, listen, lifetime                                             */
/* ---------------------------------------------------------------------- */

void config_defaults(config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  copy_str(cfg->source, sizeof cfg->source, "<embedded default>");
  copy_str(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
  cfg->listen_port = 8080;
  copy_str(cfg->data_dir, sizeof cfg->data_dir, "./data");
  copy_str(cfg->storage_backend, sizeof cfg->storage_backend, "lmdb");
  cfg->plugin_dir[0] = '\0';
  cfg->plugin_load = NULL;
  cfg->plugin_load_count = 0;
  cfg->plugin_settings = cJSON_CreateObject();
  cfg->lua_memory_limit = (size_t)64 * 1024 * 1024;
  cfg->lua_cpu_limit = 2000000000ULL; /* a runaway loop stops after seconds, not never */
  cfg->lua_slice_instructions = 100000;
  static const char *const dirs[] = {"workflows"};
  cfg->workflow_dirs = dup_list(dirs, NULL, 1);
  cfg->workflow_dir_count = cfg->workflow_dirs ? 1 : 0;
  static const char *const routes[] = {"routes"};
  cfg->route_dirs = dup_list(routes, NULL, 1);
  cfg->route_dir_count = cfg->route_dirs ? 1 : 0;
  cfg->engine_max_running = 16;
  cfg->log_level = AGENTAI_LOG_INFO;
  config_llm_defaults(cfg);
}

void config_free(config *cfg) {
  if (!cfg)
    return;
  free_list(cfg->plugin_load, cfg->plugin_load_count);
  cfg->plugin_load = NULL;
  cfg->plugin_load_count = 0;
  free_list(cfg->workflow_dirs, cfg->workflow_dir_count);
  cfg->workflow_dirs = NULL;
  free_list(cfg->route_dirs, cfg->route_dir_count);
  cfg->route_dirs = NULL;
  cfg->route_dir_count = 0;
  cfg->workflow_dir_count = 0;
  cJSON_Delete(cfg->plugin_settings);
  cfg->plugin_settings = NULL;
  config_llm_free(cfg);
}

static int host_char_ok(char c, int bracketed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
      c == '-' || c == '_')
    return 1;
  return bracketed && (c == ':' || c == '%');
}

int config_parse_listen(const char *text, char *host, size_t host_len, int *port) {
  if (!text || !host || !host_len || !port)
    return AGENTAI_EINVAL;
  const char *hs, *he, *ps;
  int bracketed = text[0] == '[';
  if (bracketed) {
    hs = text + 1;
    he = strchr(hs, ']');
    if (!he || he[1] != ':')
      return AGENTAI_EINVAL;
    ps = he + 2;
  } else {
    hs = text;
    he = strrchr(text, ':');
    if (!he)
      return AGENTAI_EINVAL;
    ps = he + 1;
  }
  size_t hlen = (size_t)(he - hs);
  if (hlen == 0 || hlen >= host_len)
    return AGENTAI_EINVAL;
  for (size_t i = 0; i < hlen; i++)
    if (!host_char_ok(hs[i], bracketed))
      return AGENTAI_EINVAL;
  size_t plen = strlen(ps);
  if (plen == 0 || plen > 5)
    return AGENTAI_EINVAL;
  long p = 0;
  for (size_t i = 0; i < plen; i++) {
    if (ps[i] < '0' || ps[i] > '9')
      return AGENTAI_EINVAL;
    p = p * 10 + (ps[i] - '0');
  }
  if (p > 65535)
    return AGENTAI_EINVAL;
  memcpy(host, hs, hlen);
  host[hlen] = '\0';
  *port = (int)p;
  return 0;
}

char *config_plugin_json(const config *cfg, const char *plugin_name) {
  const cJSON *sec = cfg && plugin_name
                         ? cJSON_GetObjectItemCaseSensitive(cfg->plugin_settings, plugin_name)
                         : NULL;
  if (cJSON_IsObject(sec))
    return cJSON_PrintUnformatted(sec);
  return strdup("{}");
}

/* ---------------------------------------------------------------------- */
/* Schema validation of a parsed file                                     */
/* ---------------------------------------------------------------------- */

static const char *const SECTIONS = "server, storage, plugins, lua, engine, llm, cache, log";

int cfgv_line_of(const vctx *V, const char *sec, const char *key) {
  const char *path[2] = {sec, key};
  int line = toml_index_lookup(V->ix, path, key ? 2 : 1, NULL);
  return line > 0 ? line : 1;
}

toml_type cfgv_type_of(const vctx *V, const char *sec, const cJSON *item) {
  const char *path[2] = {sec, item->string};
  toml_type t = TOML_NONE;
  toml_index_lookup(V->ix, path, 2, &t);
  return t;
}

/* "FILE:LINE: key 'sec.key': <message>" */
int cfgv_key_err(const vctx *V, const char *sec, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cfgv_key_err(const vctx *V, const char *sec, const char *key, const char *fmt, ...) {
  if (!V->err || !V->err_len)
    return AGENTAI_EINVAL;
  char a[128], b[128];
  int n =
      snprintf(V->err, V->err_len, "%s:%d: key '%s%s%s': ", V->file, cfgv_line_of(V, sec, key),
               printable(sec, a, sizeof a), key ? "." : "", key ? printable(key, b, sizeof b) : "");
  if (n > 0 && (size_t)n < V->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(V->err + n, V->err_len - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EINVAL;
}

int cfgv_unknown_key(const vctx *V, const char *sec, const char *key, const char *known) {
  char a[128], b[128];
  set_err(V->err, V->err_len, "%s:%d: unknown key '%s.%s' (known: %s)", V->file,
          cfgv_line_of(V, sec, key), printable(sec, a, sizeof a), printable(key, b, sizeof b),
          known);
  return AGENTAI_EINVAL;
}

int cfgv_nomem(const vctx *V) {
  set_err(V->err, V->err_len, "%s: out of memory", V->file);
  return AGENTAI_ENOMEM;
}

/* Type name of an array element (elements have no index entry). */
const char *cfgv_json_type_name(const cJSON *v) {
  if (cJSON_IsString(v))
    return "string";
  if (cJSON_IsNumber(v))
    return "number";
  if (cJSON_IsBool(v))
    return "boolean";
  if (cJSON_IsArray(v))
    return "array";
  if (cJSON_IsObject(v))
    return "table";
  return "nothing";
}

/* A string value of at most cap-1 bytes, non-empty unless allow_empty. */
int cfgv_get_string(const vctx *V, const char *sec, const cJSON *item, const char *desc, size_t cap,
                    int allow_empty, const char **out) {
  toml_type t = cfgv_type_of(V, sec, item);
  if (t != TOML_STRING || !cJSON_IsString(item))
    return cfgv_key_err(V, sec, item->string, "expected %s, got %s", desc, toml_type_name(t));
  size_t n = strlen(item->valuestring);
  if (!allow_empty && n == 0)
    return cfgv_key_err(V, sec, item->string, "expected %s, got an empty string", desc);
  if (n >= cap)
    return cfgv_key_err(V, sec, item->string, "too long (%zu bytes, at most %zu)", n, cap - 1);
  *out = item->valuestring;
  return 0;
}

int cfgv_get_int(const vctx *V, const char *sec, const cJSON *item, const char *desc, long long min,
                 long long max, long long *out) {
  toml_type t = cfgv_type_of(V, sec, item);
  if (t != TOML_INTEGER || !cJSON_IsNumber(item))
    return cfgv_key_err(V, sec, item->string, "expected %s, got %s", desc, toml_type_name(t));
  double d = item->valuedouble;
  if (d < (double)min || d > (double)max)
    return cfgv_key_err(V, sec, item->string, "%.0f is out of range (%lld..%lld)", d, min, max);
  *out = (long long)d;
  return 0;
}

/* An array of non-empty strings shorter than CONFIG_PATH_MAX, copied into
 * (*list, *count) when applying. */
static int get_string_list(const vctx *V, const char *sec, const cJSON *item, const char *desc,
                           char ***list, size_t *count) {
  toml_type t = cfgv_type_of(V, sec, item);
  if (t != TOML_ARRAY || !cJSON_IsArray(item))
    return cfgv_key_err(V, sec, item->string, "expected %s, got %s", desc, toml_type_name(t));
  size_t n = 0;
  for (const cJSON *el = item->child; el; el = el->next, n++) {
    if (!cJSON_IsString(el) || !el->valuestring[0])
      return cfgv_key_err(V, sec, item->string, "element %zu: expected a non-empty string, got %s",
                          n, cJSON_IsString(el) ? "an empty string" : cfgv_json_type_name(el));
    if (strlen(el->valuestring) >= CONFIG_PATH_MAX)
      return cfgv_key_err(V, sec, item->string, "element %zu: too long (at most %d bytes)", n,
                          CONFIG_PATH_MAX - 1);
  }
  if (!V->apply)
    return 0;
  const char **items = calloc(n ? n : 1, sizeof *items);
  if (!items)
    return cfgv_nomem(V);
  size_t i = 0;
  for (const cJSON *el = item->child; el; el = el->next)
    items[i++] = el->valuestring;
  char **copy = dup_list(items, NULL, n);
  free(items);
  if (!copy)
    return cfgv_nomem(V);
  free_list(*list, *count);
  *list = copy;
  *count = n;
  return 0;
}

static int check_section_table(const vctx *V, const cJSON *sec) {
  toml_type t = TOML_NONE;
  const char *path[1] = {sec->string};
  toml_index_lookup(V->ix, path, 1, &t);
  if (t != TOML_TABLE || !cJSON_IsObject(sec))
    return cfgv_key_err(V, sec->string, NULL, "expected a table ([%s]), got %s", sec->string,
                        toml_type_name(t));
  return 0;
}

static int v_server(const vctx *V, const cJSON *sec) {
  for (const cJSON *it = sec->child; it; it = it->next) {
    if (strcmp(it->string, "listen") != 0)
      return cfgv_unknown_key(V, "server", it->string, "listen");
    const char *s = NULL;
    int rc = cfgv_get_string(V, "server", it, "a \"HOST:PORT\" string", 512, 0, &s);
    if (rc < 0)
      return rc;
    char host[sizeof V->cfg->listen_host];
    int port;
    if (config_parse_listen(s, host, sizeof host, &port) < 0)
      return cfgv_key_err(V, "server", it->string,
                          "expected \"HOST:PORT\" with a port from 0 to 65535 (\"[::1]:PORT\" for "
                          "IPv6), got '%s'",
                          s);
    if (V->apply) {
      memcpy(V->cfg->listen_host, host, sizeof host);
      V->cfg->listen_port = port;
    }
  }
  return 0;
}

static int v_storage(const vctx *V, const cJSON *sec) {
  config *cfg = V->cfg;
  for (const cJSON *it = sec->child; it; it = it->next) {
    const char *s;
    int rc;
    if (strcmp(it->string, "data_dir") == 0) {
      if ((rc = cfgv_get_string(V, "storage", it, "a non-empty path", sizeof cfg->data_dir, 0,
                                &s)) < 0)
        return rc;
      if (V->apply)
        copy_str(cfg->data_dir, sizeof cfg->data_dir, s);
    } else if (strcmp(it->string, "backend") == 0) {
      if ((rc = cfgv_get_string(V, "storage", it, "a storage backend name",
                                sizeof cfg->storage_backend, 0, &s)) < 0)
        return rc;
      if (V->apply)
        copy_str(cfg->storage_backend, sizeof cfg->storage_backend, s);
    } else {
      return cfgv_unknown_key(V, "storage", it->string, "data_dir, backend");
    }
  }
  return 0;
}

static int v_plugins(const vctx *V, const cJSON *sec) {
  config *cfg = V->cfg;
  for (const cJSON *it = sec->child; it; it = it->next) {
    const char *s = NULL;
    int rc;
    if (strcmp(it->string, "dir") == 0) {
      if ((rc = cfgv_get_string(V, "plugins", it, "a path", sizeof cfg->plugin_dir, 1, &s)) < 0)
        return rc;
      if (V->apply)
        copy_str(cfg->plugin_dir, sizeof cfg->plugin_dir, s);
    } else if (strcmp(it->string, "load") == 0) {
      if ((rc = get_string_list(V, "plugins", it, "an array of plugin names or paths",
                                &cfg->plugin_load, &cfg->plugin_load_count)) < 0)
        return rc;
    } else if (cfgv_type_of(V, "plugins", it) == TOML_TABLE && cJSON_IsObject(it)) {
      if (!it->string[0])
        return cfgv_key_err(V, "plugins", it->string, "a plugin section needs a plugin name");
      if (!V->apply)
        continue;
      /* Verbatim: the plugin validates its own section when it starts. */
      cJSON *copy = cJSON_Duplicate(it, 1);
      if (!copy)
        return cfgv_nomem(V);
      if (!cfg->plugin_settings && !(cfg->plugin_settings = cJSON_CreateObject())) {
        cJSON_Delete(copy);
        return cfgv_nomem(V);
      }
      cJSON_DeleteItemFromObjectCaseSensitive(cfg->plugin_settings, it->string);
      cJSON_AddItemToObject(cfg->plugin_settings, it->string, copy);
    } else {
      return cfgv_unknown_key(V, "plugins", it->string, "dir, load, and [plugins.<name>] tables");
    }
  }
  return 0;
}

static int v_lua(const vctx *V, const cJSON *sec) {
  config *cfg = V->cfg;
  for (const cJSON *it = sec->child; it; it = it->next) {
    long long v;
    int rc;
    if (strcmp(it->string, "memory_limit_mb") == 0) {
      if ((rc = cfgv_get_int(V, "lua", it, "a positive integer", 1, 65536, &v)) < 0)
        return rc;
      if (V->apply)
        cfg->lua_memory_limit = (size_t)v * 1024 * 1024;
    } else if (strcmp(it->string, "cpu_limit") == 0) {
      if ((rc = cfgv_get_int(V, "lua", it, "a non-negative integer", 0, CONFIG_INT_MAX, &v)) < 0)
        return rc;
      if (V->apply)
        cfg->lua_cpu_limit = (uint64_t)v;
    } else if (strcmp(it->string, "slice_instructions") == 0) {
      if ((rc = cfgv_get_int(V, "lua", it, "a positive integer", 1000, 100000000, &v)) < 0)
        return rc;
      if (V->apply)
        cfg->lua_slice_instructions = (uint32_t)v;
    } else if (strcmp(it->string, "workflow_path") == 0) {
      if ((rc = get_string_list(V, "lua", it, "an array of folder paths", &cfg->workflow_dirs,
                                &cfg->workflow_dir_count)) < 0)
        return rc;
    } else if (strcmp(it->string, "route_path") == 0) {
      if ((rc = get_string_list(V, "lua", it, "an array of folder paths", &cfg->route_dirs,
                                &cfg->route_dir_count)) < 0)
        return rc;
    } else {
      return cfgv_unknown_key(V, "lua", it->string,
                              "memory_limit_mb, cpu_limit, slice_instructions, workflow_path, "
                              "route_path");
    }
  }
  return 0;
}

static int v_engine(const vctx *V, const cJSON *sec) {
  for (const cJSON *it = sec->child; it; it = it->next) {
    long long v = 0;
    int rc;
    if (strcmp(it->string, "max_running") != 0)
      return cfgv_unknown_key(V, "engine", it->string, "max_running");
    if ((rc = cfgv_get_int(V, "engine", it, "an integer from 1 to 10000", 1, 10000, &v)) < 0)
      return rc;
    if (V->apply)
      V->cfg->engine_max_running = (int)v;
  }
  return 0;
}

static int v_log(const vctx *V, const cJSON *sec) {
  static const char *const desc = "one of \"debug\", \"info\", \"warn\", \"error\"";
  for (const cJSON *it = sec->child; it; it = it->next) {
    if (strcmp(it->string, "level") != 0)
      return cfgv_unknown_key(V, "log", it->string, "level");
    const char *s = NULL;
    int rc = cfgv_get_string(V, "log", it, desc, 64, 1, &s);
    if (rc < 0)
      return rc;
    int level = log_level_parse(s);
    if (level < 0)
      return cfgv_key_err(V, "log", it->string, "expected %s, got '%s'", desc, s);
    if (V->apply)
      V->cfg->log_level = level;
  }
  return 0;
}

static int validate(const vctx *V, const cJSON *root) {
  for (const cJSON *sec = root->child; sec; sec = sec->next) {
    int (*fn)(const vctx *, const cJSON *) = NULL;
    if (strcmp(sec->string, "server") == 0)
      fn = v_server;
    else if (strcmp(sec->string, "storage") == 0)
      fn = v_storage;
    else if (strcmp(sec->string, "plugins") == 0)
      fn = v_plugins;
    else if (strcmp(sec->string, "lua") == 0)
      fn = v_lua;
    else if (strcmp(sec->string, "engine") == 0)
      fn = v_engine;
    else if (strcmp(sec->string, "log") == 0)
      fn = v_log;
    else if (strcmp(sec->string, "llm") == 0)
      fn = cfgv_llm;
    else if (strcmp(sec->string, "cache") == 0)
      fn = cfgv_cache;
    if (!fn) {
      char a[128];
      set_err(V->err, V->err_len, "%s:%d: unknown section '%s' (known: %s)", V->file,
              cfgv_line_of(V, sec->string, NULL), printable(sec->string, a, sizeof a), SECTIONS);
      return AGENTAI_EINVAL;
    }
    int rc = check_section_table(V, sec);
    if (rc == 0)
      rc = fn(V, sec);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int config_load_buffer(config *cfg, const char *text, size_t len, const char *filename, char *err,
                       size_t err_len) {
  if (err && err_len)
    err[0] = '\0';
  const char *file = filename ? filename : "<input>";
  if (strlen(file) >= sizeof cfg->source) {
    set_err(err, err_len, "%.64s...: file name too long", file);
    return AGENTAI_EINVAL;
  }
  cJSON *root = NULL;
  toml_index *ix = NULL;
  int rc = toml_parse(text, len, file, &root, &ix, err, err_len);
  if (rc < 0)
    return rc;
  vctx V = {cfg, ix, file, err, err_len, 0};
  rc = validate(&V, root);
  if (rc == 0) {
    V.apply = 1;
    rc = validate(&V, root);
  }
  if (rc == 0)
    copy_str(cfg->source, sizeof cfg->source, file);
  cJSON_Delete(root);
  toml_index_free(ix);
  return rc;
}

int config_load_file(config *cfg, const char *path, char *err, size_t err_len) {
  if (err && err_len)
    err[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    set_err(err, err_len, "%s: cannot open: %s", path, strerror(e));
    return e == ENOENT ? AGENTAI_ENOENT : AGENTAI_EIO;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= CONFIG_FILE_MAX) {
        set_err(err, err_len, "%s: file larger than %u bytes", path, CONFIG_FILE_MAX);
        rc = AGENTAI_E2BIG;
        break;
      }
      cap = cap ? cap * 2 : 8192;
      char *nb = realloc(buf, cap);
      if (!nb) {
        set_err(err, err_len, "%s: out of memory", path);
        rc = AGENTAI_ENOMEM;
        break;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        set_err(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        rc = AGENTAI_EIO;
      }
      break;
    }
  }
  fclose(f);
  if (rc == 0)
    rc = config_load_buffer(cfg, buf, len, path, err, err_len);
  free(buf);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Environment                                                            */
/* ---------------------------------------------------------------------- */

/* A set-but-empty variable counts as unset. */
static const char *env_get(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static int env_err(char *err, size_t err_len, const char *var, const char *expected,
                   const char *value) {
  set_err(err, err_len, "%s: expected %s, got '%.200s'", var, expected, value);
  return AGENTAI_EINVAL;
}

/* Parses an unsigned decimal integer in [min, max]. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out) {
  if (!*s)
    return AGENTAI_EINVAL;
  unsigned long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return AGENTAI_EINVAL;
    unsigned d = (unsigned)(*p - '0');
    if (v > (max - d) / 10)
      return AGENTAI_EINVAL;
    v = v * 10 + d;
  }
  if (v < min)
    return AGENTAI_EINVAL;
  *out = v;
  return 0;
}

/* Splits text at sep into non-empty parts (trimmed of blanks when trim).
 * Returns the count, or AGENTAI_EINVAL for an empty or too long part;
 * fills (*list) only when list is not NULL. */
static int split_list(const char *text, char sep, int trim, char ***list) {
  size_t n = 1;
  for (const char *p = text; *p; p++)
    n += *p == sep;
  const char **items = calloc(n, sizeof *items);
  size_t *lens = calloc(n, sizeof *lens);
  int rc = 0;
  if (!items || !lens) {
    rc = AGENTAI_ENOMEM;
    goto out;
  }
  const char *p = text;
  for (size_t i = 0; i < n; i++) {
    const char *e = strchr(p, sep);
    if (!e)
      e = p + strlen(p);
    const char *s = p;
    if (trim) {
      while (s < e && (*s == ' ' || *s == '\t'))
        s++;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    }
    if (e == s || (size_t)(e - s) >= CONFIG_PATH_MAX) {
      rc = AGENTAI_EINVAL;
      goto out;
    }
    items[i] = s;
    lens[i] = (size_t)(e - s);
    p = strchr(p, sep);
    p = p ? p + 1 : "";
  }
  if (list && !(*list = dup_list(items, lens, n)))
    rc = AGENTAI_ENOMEM;
out:
  free(items);
  free(lens);
  return rc < 0 ? rc : (int)n;
}

/* Like file validation, the environment is checked whole before cfg changes. */
static int env_pass(config *cfg, int apply, char *err, size_t err_len) {
  const char *v;
  int rc;
  if ((v = env_get("AGENTAI_LISTEN"))) {
    char host[sizeof cfg->listen_host];
    int port;
    if (config_parse_listen(v, host, sizeof host, &port) < 0)
      return env_err(err, err_len, "AGENTAI_LISTEN",
                     "HOST:PORT with a port from 0 to 65535 ([::1]:PORT for IPv6)", v);
    if (apply) {
      memcpy(cfg->listen_host, host, sizeof host);
      cfg->listen_port = port;
    }
  }
  static const struct {
    const char *var;
    size_t off, cap;
  } strs[] = {
      {"AGENTAI_DATA", offsetof(config, data_dir), sizeof cfg->data_dir},
      {"AGENTAI_STORAGE", offsetof(config, storage_backend), sizeof cfg->storage_backend},
      {"AGENTAI_PLUGIN_DIR", offsetof(config, plugin_dir), sizeof cfg->plugin_dir},
  };
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    if (!(v = env_get(strs[i].var)))
      continue;
    if (strlen(v) >= strs[i].cap) {
      set_err(err, err_len, "%s: value too long (%zu bytes, at most %zu)", strs[i].var, strlen(v),
              strs[i].cap - 1);
      return AGENTAI_EINVAL;
    }
    if (apply)
      copy_str((char *)cfg + strs[i].off, strs[i].cap, v);
  }
  if ((v = env_get("AGENTAI_PLUGINS"))) {
    char **list = NULL;
    rc = split_list(v, ',', 1, apply ? &list : NULL);
    if (rc == AGENTAI_ENOMEM) {
      set_err(err, err_len, "AGENTAI_PLUGINS: out of memory");
      return rc;
    }
    if (rc < 0)
      return env_err(err, err_len, "AGENTAI_PLUGINS",
                     "a comma-separated list of plugin names or paths, without empty entries", v);
    if (apply) {
      free_list(cfg->plugin_load, cfg->plugin_load_count);
      cfg->plugin_load = list;
      cfg->plugin_load_count = (size_t)rc;
    }
  }
  if ((v = env_get("AGENTAI_LOG_LEVEL"))) {
    int level = log_level_parse(v);
    if (level < 0)
      return env_err(err, err_len, "AGENTAI_LOG_LEVEL", "one of debug, info, warn, error", v);
    if (apply)
      cfg->log_level = level;
  }
  unsigned long long n;
  if ((v = env_get("AGENTAI_LUA_MEMORY_MB"))) {
    if (parse_uint(v, 1, 65536, &n) < 0)
      return env_err(err, err_len, "AGENTAI_LUA_MEMORY_MB", "an integer from 1 to 65536", v);
    if (apply)
      cfg->lua_memory_limit = (size_t)n * 1024 * 1024;
  }
  if ((v = env_get("AGENTAI_LUA_CPU_LIMIT"))) {
    if (parse_uint(v, 0, UINT64_MAX, &n) < 0)
      return env_err(err, err_len, "AGENTAI_LUA_CPU_LIMIT",
                     "a non-negative integer (instructions, 0 = unlimited)", v);
    if (apply)
      cfg->lua_cpu_limit = (uint64_t)n;
  }
  if ((v = env_get("AGENTAI_WORKFLOW_PATH"))) {
    char **list = NULL;
    rc = split_list(v, ':', 0, apply ? &list : NULL);
    if (rc == AGENTAI_ENOMEM) {
      set_err(err, err_len, "AGENTAI_WORKFLOW_PATH: out of memory");
      return rc;
    }
    if (rc < 0)
      return env_err(err, err_len, "AGENTAI_WORKFLOW_PATH",
                     "a colon-separated list of folders, without empty entries", v);
    if (apply) {
      free_list(cfg->workflow_dirs, cfg->workflow_dir_count);
      cfg->workflow_dirs = list;
      cfg->workflow_dir_count = (size_t)rc;
    }
  }
  if ((v = env_get("AGENTAI_ROUTE_PATH"))) {
    char **list = NULL;
    rc = split_list(v, ':', 0, apply ? &list : NULL);
    if (rc == AGENTAI_ENOMEM) {
      set_err(err, err_len, "AGENTAI_ROUTE_PATH: out of memory");
      return rc;
    }
    if (rc < 0)
      return env_err(err, err_len, "AGENTAI_ROUTE_PATH",
                     "a colon-separated list of folders, without empty entries", v);
    if (apply) {
      free_list(cfg->route_dirs, cfg->route_dir_count);
      cfg->route_dirs = list;
      cfg->route_dir_count = (size_t)rc;
    }
  }
  if ((v = env_get("AGENTAI_MAX_RUNNING"))) {
    if (parse_uint(v, 1, 10000, &n) < 0)
      return env_err(err, err_len, "AGENTAI_MAX_RUNNING", "an integer from 1 to 10000", v);
    if (apply)
      cfg->engine_max_running = (int)n;
  }
  return 0;
}

int config_apply_env(config *cfg, char *err, size_t err_len) {
  if (err && err_len)
    err[0] = '\0';
  int rc = env_pass(cfg, 0, err, err_len);
  return rc < 0 ? rc : env_pass(cfg, 1, err, err_len);
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */
/* ---------------------------------------------------------------------- */

static cJSON *string_array(char *const *items, size_t n) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < n; i++) {
    cJSON *s = cJSON_CreateString(items[i]);
    if (!s) {
      cJSON_Delete(arr);
      return NULL;
    }
    cJSON_AddItemToArray(arr, s);
  }
  return arr;
}

char *config_to_json(const config *cfg) {
  cJSON *root = cJSON_CreateObject();
  cJSON *server = cJSON_AddObjectToObject(root, "server");
  cJSON *storage = cJSON_AddObjectToObject(root, "storage");
  cJSON *plugins = cJSON_AddObjectToObject(root, "plugins");
  cJSON *lua = cJSON_AddObjectToObject(root, "lua");
  cJSON *logsec = cJSON_AddObjectToObject(root, "log");
  char *out = NULL;
  if (!server || !storage || !plugins || !lua || !logsec)
    goto done;
  char listen[sizeof cfg->listen_host + 16];
  int v6 = strchr(cfg->listen_host, ':') != NULL;
  snprintf(listen, sizeof listen, "%s%s%s:%d", v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "",
           cfg->listen_port);
  cJSON_AddStringToObject(server, "listen", listen);
  cJSON_AddStringToObject(storage, "data_dir", cfg->data_dir);
  cJSON_AddStringToObject(storage, "backend", cfg->storage_backend);
  cJSON_AddStringToObject(plugins, "dir", cfg->plugin_dir);
  if (cfg->plugin_load) {
    cJSON *load = string_array(cfg->plugin_load, cfg->plugin_load_count);
    if (!load)
      goto done;
    cJSON_AddItemToObject(plugins, "load", load);
  }
  for (const cJSON *s = cfg->plugin_settings ? cfg->plugin_settings->child : NULL; s; s = s->next) {
    cJSON *copy = cJSON_Duplicate(s, 1);
    if (!copy)
      goto done;
    cJSON_AddItemToObject(plugins, s->string, copy);
  }
  cJSON_AddNumberToObject(lua, "memory_limit_mb", (double)(cfg->lua_memory_limit / (1024 * 1024)));
  cJSON_AddNumberToObject(lua, "cpu_limit", (double)cfg->lua_cpu_limit);
  cJSON_AddNumberToObject(lua, "slice_instructions", (double)cfg->lua_slice_instructions);
  cJSON *wf = string_array(cfg->workflow_dirs, cfg->workflow_dir_count);
  if (!wf)
    goto done;
  cJSON_AddItemToObject(lua, "workflow_path", wf);
  cJSON *rt = string_array(cfg->route_dirs, cfg->route_dir_count);
  if (!rt)
    goto done;
  cJSON_AddItemToObject(lua, "route_path", rt);
  cJSON *eng = cJSON_AddObjectToObject(root, "engine");
  if (!eng)
    goto done;
  cJSON_AddNumberToObject(eng, "max_running", cfg->engine_max_running);
  if (config_llm_to_json(cfg, root) < 0)
    goto done;
  int lvl = cfg->log_level >= 0 && cfg->log_level <= 3 ? cfg->log_level : AGENTAI_LOG_INFO;
  cJSON_AddStringToObject(logsec, "level", LEVEL_NAMES[lvl]);
  cJSON_AddStringToObject(root, "source", cfg->source);
  out = cJSON_PrintUnformatted(root);
done:
  cJSON_Delete(root);
  return out;
}

int config_parse_toml(const char *text, size_t len, const char *filename, cJSON **out, char *err,
                      size_t err_len) {
  return toml_parse(text, len, filename, out, NULL, err, err_len);
}
