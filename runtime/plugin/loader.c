/* plugin/loader.c — dlopen plugins, check their descriptor and ABI, run init, keep the registry. */
#include "plugin/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"
#include "plugin/host.h"

/* The descriptor size of ABI 1.0: a plugin must provide at least this much. */
#define DESCRIPTOR_MIN_SIZE (offsetof(agentai_plugin, shutdown) + sizeof(void (*)(void *)))

typedef struct loaded_plugin {
  plugin_info info;
  const agentai_plugin *desc;
  void *state;
  agentai_host host; /* the plugin's host table; its address is stable */
  host_ctx ctx;
} loaded_plugin;

typedef struct provider_entry {
  char name[128];
  agentai_provider_def def;
  loaded_plugin *owner;
} provider_entry;

typedef struct storage_entry {
  char name[128];
  agentai_storage_def def;
  loaded_plugin *owner;
} storage_entry;

struct plugin_registry {
  uv_loop_t *loop;
  char data_dir[PATH_MAX];
  host_post_queue *posts;
  loaded_plugin **plugins;
  size_t n_plugins;
  provider_entry *providers;
  size_t n_providers;
  storage_entry *storages;
  size_t n_storages;
  agentai_host runtime_host; /* host table for runtime code and tests */
  host_ctx runtime_ctx;
  net_client *net; /* created on first use */
  int closing;     /* plugin_registry_free has begun: no new HTTP client */
};

int plugin_registry_new(uv_loop_t *loop, const char *data_dir, plugin_registry **out) {
  plugin_registry *reg = calloc(1, sizeof *reg);
  if (!reg)
    return AGENTAI_ENOMEM;
  reg->loop = loop;
  snprintf(reg->data_dir, sizeof reg->data_dir, "%s", data_dir ? data_dir : "");
  if (host_post_queue_new(loop, &reg->posts) < 0) {
    free(reg);
    return AGENTAI_ENOMEM;
  }
  reg->runtime_ctx.reg = reg;
  snprintf(reg->runtime_ctx.plugin_name, sizeof reg->runtime_ctx.plugin_name, "runtime");
  host_table_init(&reg->runtime_host, &reg->runtime_ctx);
  *out = reg;
  return 0;
}

uv_loop_t *plugin_registry_loop(plugin_registry *reg) {
  return reg->loop;
}

host_post_queue *plugin_registry_posts(plugin_registry *reg) {
  return reg->posts;
}

const char *plugin_registry_data_dir(plugin_registry *reg) {
  return reg->data_dir;
}

const agentai_host *plugin_runtime_host(plugin_registry *reg) {
  return &reg->runtime_host;
}

net_client *plugin_registry_net(plugin_registry *reg) {
  if (!reg->net && !reg->closing && net_client_new(reg->loop, &reg->net) < 0)
    reg->net = NULL;
  return reg->closing ? NULL : reg->net;
}

/* Copies a size-prefixed definition: fields beyond what the plugin built
 * with stay zero, so newer optional members read as "absent". */
static void copy_prefixed(void *dst, size_t dst_size, const void *src, uint32_t src_size) {
  memset(dst, 0, dst_size);
  memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
}

static void append_provides(loaded_plugin *p, const char *kind, const char *name) {
  size_t len = strlen(p->info.provides);
  snprintf(p->info.provides + len, sizeof p->info.provides - len, "%s%s:%s", len ? ", " : "", kind,
           name);
}

static loaded_plugin *owner_of(plugin_registry *reg, host_ctx *ctx) {
  for (size_t i = 0; i < reg->n_plugins; i++)
    if (&reg->plugins[i]->ctx == ctx)
      return reg->plugins[i];
  return NULL;
}

int plugin_registry_add_provider(plugin_registry *reg, host_ctx *ctx,
                                 const agentai_provider_def *def) {
  if (!ctx->registering || !def || !def->name || !def->name[0] || !def->chat ||
      def->size < offsetof(agentai_provider_def, info))
    return AGENTAI_EINVAL;
  if (plugin_find_provider(reg, def->name))
    return AGENTAI_EEXIST;
  provider_entry *grown = realloc(reg->providers, (reg->n_providers + 1) * sizeof *grown);
  if (!grown)
    return AGENTAI_ENOMEM;
  reg->providers = grown;
  provider_entry *e = &reg->providers[reg->n_providers++];
  copy_prefixed(&e->def, sizeof e->def, def, def->size);
  snprintf(e->name, sizeof e->name, "%s", def->name);
  e->def.name = e->name;
  e->owner = owner_of(reg, ctx);
  if (e->owner)
    append_provides(e->owner, "provider", e->name);
  return 0;
}

int plugin_registry_add_storage(plugin_registry *reg, host_ctx *ctx,
                                const agentai_storage_def *def) {
  if (!ctx->registering || !def || !def->name || !def->name[0] || !def->open || !def->get ||
      !def->write || !def->scan || def->size < offsetof(agentai_storage_def, stats))
    return AGENTAI_EINVAL;
  if (plugin_find_storage(reg, def->name))
    return AGENTAI_EEXIST;
  storage_entry *grown = realloc(reg->storages, (reg->n_storages + 1) * sizeof *grown);
  if (!grown)
    return AGENTAI_ENOMEM;
  reg->storages = grown;
  storage_entry *e = &reg->storages[reg->n_storages++];
  copy_prefixed(&e->def, sizeof e->def, def, def->size);
  snprintf(e->name, sizeof e->name, "%s", def->name);
  e->def.name = e->name;
  e->owner = owner_of(reg, ctx);
  if (e->owner)
    append_provides(e->owner, "storage", e->name);
  return 0;
}

/* Drops what a plugin registered (its init failed after registering). */
static void unregister_owned(plugin_registry *reg, loaded_plugin *p) {
  size_t w = 0;
  for (size_t i = 0; i < reg->n_providers; i++)
    if (reg->providers[i].owner != p)
      reg->providers[w++] = reg->providers[i];
  reg->n_providers = w;
  w = 0;
  for (size_t i = 0; i < reg->n_storages; i++)
    if (reg->storages[i].owner != p)
      reg->storages[w++] = reg->storages[i];
  reg->n_storages = w;
  /* Names point into the entries themselves; re-point after compaction. */
  for (size_t i = 0; i < reg->n_providers; i++)
    reg->providers[i].def.name = reg->providers[i].name;
  for (size_t i = 0; i < reg->n_storages; i++)
    reg->storages[i].def.name = reg->storages[i].name;
}

/* Opens and checks a plugin file without calling init: shared by load and check. */
static int open_descriptor(const char *path, const agentai_plugin **desc_out, char *err,
                           size_t err_len) {
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(err, err_len, "%s: cannot load plugin: %s", path, strerror(errno));
    return AGENTAI_ENOENT;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, err_len, "%s: cannot load plugin: not a regular file", path);
    return AGENTAI_EINVAL;
  }
  /* dlopen needs a slash to avoid searching the library path. */
  char resolved[PATH_MAX];
  if (!realpath(path, resolved))
    snprintf(resolved, sizeof resolved, "%s", path);
  void *lib = dlopen(resolved, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    snprintf(err, err_len, "%s: not a loadable shared object: %s", path, why ? why : "unknown");
    return AGENTAI_EPLUGIN;
  }
  dlerror();
  void *sym = dlsym(lib, AGENTAI_PLUGIN_ENTRY_SYMBOL);
  if (!sym) {
    snprintf(err, err_len,
             "%s: no '%s' symbol: not an agentai plugin (export it with AGENTAI_EXPORT from "
             "<agentai/plugin.h>)",
             path, AGENTAI_PLUGIN_ENTRY_SYMBOL);
    return AGENTAI_EPLUGIN; /* never dlclose: the library may have run constructors */
  }
  agentai_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const agentai_plugin *desc = entry();
  if (!desc) {
    snprintf(err, err_len, "%s: %s() returned NULL instead of a descriptor", path,
             AGENTAI_PLUGIN_ENTRY_SYMBOL);
    return AGENTAI_EPLUGIN;
  }
  if (desc->magic != AGENTAI_PLUGIN_MAGIC) {
    snprintf(err, err_len,
             "%s: bad descriptor magic 0x%08x (expected 0x%08x): not an agentai plugin "
             "descriptor; start it with AGENTAI_PLUGIN_HEADER",
             path, (unsigned)desc->magic, (unsigned)AGENTAI_PLUGIN_MAGIC);
    return AGENTAI_EABI;
  }
  if (desc->size < DESCRIPTOR_MIN_SIZE) {
    snprintf(err, err_len,
             "%s: descriptor size %u is smaller than ABI %d.0's %zu bytes: rebuild the plugin "
             "against the agentai SDK headers",
             path, (unsigned)desc->size, AGENTAI_ABI_MAJOR, (size_t)DESCRIPTOR_MIN_SIZE);
    return AGENTAI_EABI;
  }
  if (desc->abi_major != AGENTAI_ABI_MAJOR) {
    snprintf(err, err_len,
             "%s: plugin ABI %u.%u is incompatible with host ABI %d.%d (the major must be "
             "equal): rebuild the plugin against agentai %s SDK headers",
             path, desc->abi_major, desc->abi_minor, AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR,
             AGENTAI_VERSION_STRING);
    return AGENTAI_EABI;
  }
  if (desc->abi_minor > AGENTAI_ABI_MINOR) {
    snprintf(err, err_len,
             "%s: plugin ABI %u.%u is newer than host ABI %d.%d: upgrade agentai, or rebuild "
             "the plugin against agentai %s SDK headers",
             path, desc->abi_major, desc->abi_minor, AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR,
             AGENTAI_VERSION_STRING);
    return AGENTAI_EABI;
  }
  if (!desc->name || !desc->name[0] || !desc->init) {
    snprintf(err, err_len, "%s: descriptor has no %s", path, desc->init ? "name" : "init function");
    return AGENTAI_EPLUGIN;
  }
  *desc_out = desc;
  return 0;
}

static const char *plugin_config_or_empty(const char *config_json) {
  return config_json ? config_json : "{}";
}

/* Loads a plugin; config comes from cfg's section for its name when cfg is
 * given, else from config_json. */
static int load_one(plugin_registry *reg, const char *path, const config *cfg,
                    const char *config_json, char *err, size_t err_len) {
  const agentai_plugin *desc = NULL;
  int rc = open_descriptor(path, &desc, err, err_len);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < reg->n_plugins; i++) {
    if (strcmp(reg->plugins[i]->info.name, desc->name) == 0) {
      snprintf(err, err_len, "%s: a plugin named '%s' is already loaded from %s", path, desc->name,
               reg->plugins[i]->info.path);
      return AGENTAI_EEXIST;
    }
  }
  loaded_plugin **grown = realloc(reg->plugins, (reg->n_plugins + 1) * sizeof *grown);
  if (!grown)
    return AGENTAI_ENOMEM;
  reg->plugins = grown;
  loaded_plugin *p = calloc(1, sizeof *p);
  if (!p)
    return AGENTAI_ENOMEM;
  p->desc = desc;
  snprintf(p->info.path, sizeof p->info.path, "%s", path);
  snprintf(p->info.name, sizeof p->info.name, "%s", desc->name);
  snprintf(p->info.version, sizeof p->info.version, "%s", desc->version ? desc->version : "");
  snprintf(p->info.summary, sizeof p->info.summary, "%s", desc->summary ? desc->summary : "");
  p->info.abi_major = desc->abi_major;
  p->info.abi_minor = desc->abi_minor;
  p->ctx.reg = reg;
  snprintf(p->ctx.plugin_name, sizeof p->ctx.plugin_name, "%s", desc->name);
  host_table_init(&p->host, &p->ctx);
  reg->plugins[reg->n_plugins++] = p;

  char *owned_json = cfg ? config_plugin_json(cfg, desc->name) : NULL;
  char why[512] = "";
  p->ctx.registering = 1;
  rc = desc->init(&p->host, owned_json ? owned_json : plugin_config_or_empty(config_json),
                  &p->state, why, sizeof why);
  p->ctx.registering = 0;
  free(owned_json);
  why[sizeof why - 1] = '\0';
  if (rc == 0 && p->ctx.failed_registration < 0) {
    rc = p->ctx.failed_registration;
    snprintf(why, sizeof why, "a registration was refused: %s", agentai_strerror(rc));
  }
  if (rc != 0) {
    snprintf(err, err_len, "%s: plugin '%s' failed to initialize: %s (%s)", path, desc->name,
             why[0] ? why : "no reason given", agentai_strerror(rc < 0 ? rc : AGENTAI_EPLUGIN));
    unregister_owned(reg, p);
    reg->n_plugins--;
    free(p);
    return rc < 0 ? rc : AGENTAI_EPLUGIN;
  }
  log_write(AGENTAI_LOG_DEBUG, "plugins", "plugin loaded", NULL);
  return 0;
}

int plugin_load(plugin_registry *reg, const char *path, const char *config_json, char *err,
                size_t err_len) {
  return load_one(reg, path, NULL, config_json, err, err_len);
}

int plugin_load_with_config(plugin_registry *reg, const char *path, const config *cfg, char *err,
                            size_t err_len) {
  return load_one(reg, path, cfg, NULL, err, err_len);
}

int plugin_default_dir(char *out, size_t out_len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return AGENTAI_EIO;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return AGENTAI_EIO;
  *slash = '\0';
  char candidate[PATH_MAX + 32];
  struct stat st;
  snprintf(candidate, sizeof candidate, "%s/plugins", exe);
  if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(out, out_len, "%s", candidate);
    return 0;
  }
  snprintf(candidate, sizeof candidate, "%s/../lib/agentai/plugins", exe);
  if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(out, out_len, "%s", candidate);
    return 0;
  }
  /* tests and benchmarks live one folder below the build root */
  snprintf(candidate, sizeof candidate, "%s/../plugins", exe);
  if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(out, out_len, "%s", candidate);
    return 0;
  }
  return AGENTAI_ENOENT;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of every *.so in dir, sorted so load order is stable. */
static int list_plugin_dir(const char *dir, char ***names, size_t *count, char *err,
                           size_t err_len) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, err_len, "plugin folder %s: %s", dir, strerror(errno));
    return AGENTAI_ENOENT;
  }
  char **list = NULL;
  size_t n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    size_t len = strlen(ent->d_name);
    if (len <= 3 || strcmp(ent->d_name + len - 3, ".so") != 0)
      continue;
    char **grown = realloc(list, (n + 1) * sizeof *grown);
    if (!grown)
      break;
    list = grown;
    list[n++] = strdup(ent->d_name);
  }
  closedir(d);
  if (n > 1) /* qsort(NULL, 0, ...) is undefined behaviour */
    qsort(list, n, sizeof *list, cmp_str);
  *names = list;
  *count = n;
  return 0;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int plugin_load_configured(plugin_registry *reg, const config *cfg, char *err, size_t err_len) {
  char dir[PATH_MAX];
  if (cfg->plugin_dir[0]) {
    snprintf(dir, sizeof dir, "%s", cfg->plugin_dir);
  } else if (plugin_default_dir(dir, sizeof dir) < 0) {
    snprintf(err, err_len,
             "no plugin folder next to the agentai binary; set plugins.dir or AGENTAI_PLUGIN_DIR");
    return AGENTAI_ENOENT;
  }
  int rc = 0;
  if (cfg->plugin_load) {
    for (size_t i = 0; i < cfg->plugin_load_count && rc == 0; i++) {
      const char *entry = cfg->plugin_load[i];
      char path[PATH_MAX + 256];
      if (strchr(entry, '/') ||
          (strlen(entry) > 3 && strcmp(entry + strlen(entry) - 3, ".so") == 0))
        snprintf(path, sizeof path, "%s", entry);
      else
        snprintf(path, sizeof path, "%s/%s.so", dir, entry);
      rc = load_one(reg, path, cfg, NULL, err, err_len);
    }
  } else {
    char **names = NULL;
    size_t n = 0;
    rc = list_plugin_dir(dir, &names, &n, err, err_len);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      char path[PATH_MAX + 256];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      rc = load_one(reg, path, cfg, NULL, err, err_len);
    }
    free_names(names, n);
  }
  if (rc < 0)
    return rc;
  /* A section for a plugin that is not loaded is a typo or a missing plugin. */
  const cJSON *section;
  cJSON_ArrayForEach(section, cfg->plugin_settings) {
    int found = 0;
    for (size_t i = 0; i < reg->n_plugins && !found; i++)
      found = strcmp(reg->plugins[i]->info.name, section->string) == 0;
    if (!found) {
      snprintf(err, err_len, "%s: section [plugins.%s] names no loaded plugin", cfg->source,
               section->string);
      return AGENTAI_ENOENT;
    }
  }
  return 0;
}

size_t plugin_count(const plugin_registry *reg) {
  return reg->n_plugins;
}

const plugin_info *plugin_get_info(const plugin_registry *reg, size_t i) {
  return i < reg->n_plugins ? &reg->plugins[i]->info : NULL;
}

const agentai_provider_def *plugin_find_provider(const plugin_registry *reg, const char *name) {
  for (size_t i = 0; i < reg->n_providers; i++)
    if (strcmp(reg->providers[i].name, name) == 0)
      return &reg->providers[i].def;
  return NULL;
}

const char *plugin_provider_name(const plugin_registry *reg, size_t i) {
  return i < reg->n_providers ? reg->providers[i].name : NULL;
}

const agentai_storage_def *plugin_find_storage(const plugin_registry *reg, const char *name) {
  for (size_t i = 0; i < reg->n_storages; i++)
    if (strcmp(reg->storages[i].name, name) == 0)
      return &reg->storages[i].def;
  return NULL;
}

void plugin_registry_free(plugin_registry *reg) {
  if (!reg)
    return;
  reg->closing = 1; /* no new requests; those in flight may still be cancelled */
  for (size_t i = 0; i < reg->n_providers; i++)
    if (reg->providers[i].def.close)
      reg->providers[i].def.close(reg->providers[i].def.ud);
  host_post_queue_drain(reg->posts);
  for (size_t i = reg->n_plugins; i-- > 0;) {
    loaded_plugin *p = reg->plugins[i];
    if (p->desc->shutdown)
      p->desc->shutdown(p->state);
    free(p);
  }
  /* After the providers and plugins: their close and shutdown may cancel
   * requests, which needs the client. */
  net_client_close(reg->net);
  reg->net = NULL;
  host_post_queue_close(reg->posts);
  free(reg->plugins);
  free(reg->providers);
  free(reg->storages);
  free(reg);
}
