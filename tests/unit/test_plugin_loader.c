/* tests/unit/test_plugin_loader.c — the plugin loader: ABI checks, broken plugins' messages,
 * registry, host services. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "plugin/loader.h"

static uv_loop_t loop;

static plugin_registry *new_registry(void) {
  plugin_registry *reg = NULL;
  CHECK_EQ_INT(plugin_registry_new(&loop, "/tmp", &reg), 0);
  return reg;
}

static void free_registry(plugin_registry *reg) {
  plugin_registry_free(reg);
  uv_run(&loop, UV_RUN_DEFAULT);
}

/* Loads path and returns the error code; the message lands in err. */
static int load(const char *name, char *err, size_t len) {
  plugin_registry *reg = new_registry();
  int rc = plugin_load(reg, name, NULL, err, len);
  free_registry(reg);
  return rc;
}

static void test_missing_file(void) {
  char err[1024];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/does_not_exist.so", err, sizeof err), AGENTAI_ENOENT);
  CHECK_STR_CONTAINS(err, "does_not_exist.so: cannot load plugin: No such file or directory");
}

static void test_not_a_shared_object(void) {
  char err[1024];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/not_a_plugin.so", err, sizeof err), AGENTAI_EPLUGIN);
  CHECK_STR_CONTAINS(err, "not_a_plugin.so: not a loadable shared object:");
}

static void test_no_entry_symbol(void) {
  char err[1024];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/no_entry.so", err, sizeof err), AGENTAI_EPLUGIN);
  CHECK_STR_CONTAINS(err, "no_entry.so: no 'agentai_plugin_entry' symbol: not an agentai plugin");
}

static void test_null_descriptor(void) {
  char err[1024];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/null_descriptor.so", err, sizeof err),
               AGENTAI_EPLUGIN);
  CHECK_STR_CONTAINS(err, "agentai_plugin_entry() returned NULL instead of a descriptor");
}

static void test_bad_magic(void) {
  char err[1024];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/bad_magic.so", err, sizeof err), AGENTAI_EABI);
  CHECK_STR_CONTAINS(err, "bad descriptor magic 0xdeadbeef (expected 0x49414741)");
}

static void test_abi_major_mismatch(void) {
  char err[1024], expect[256];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/abi_major.so", err, sizeof err), AGENTAI_EABI);
  snprintf(expect, sizeof expect,
           "plugin ABI %d.0 is incompatible with host ABI %d.%d (the major must be equal): "
           "rebuild the plugin against agentai %s SDK headers",
           AGENTAI_ABI_MAJOR + 1, AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR, AGENTAI_VERSION_STRING);
  CHECK_STR_CONTAINS(err, expect);
}

static void test_abi_minor_newer(void) {
  char err[1024], expect[256];
  CHECK_EQ_INT(load(TEST_BROKEN_PLUGIN_DIR "/abi_minor_newer.so", err, sizeof err), AGENTAI_EABI);
  snprintf(expect, sizeof expect, "plugin ABI %d.%d is newer than host ABI %d.%d: upgrade agentai",
           AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR + 3, AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR);
  CHECK_STR_CONTAINS(err, expect);
}

static void test_init_fails_rolls_back(void) {
  char err[1024];
  plugin_registry *reg = new_registry();
  CHECK_EQ_INT(plugin_load(reg, TEST_BROKEN_PLUGIN_DIR "/init_fails.so", NULL, err, sizeof err),
               AGENTAI_EIO);
  CHECK_STR_CONTAINS(err, "plugin 'init-fails' failed to initialize: cannot reach the license "
                          "server at example.invalid (input/output error)");
  /* Nothing half-started: neither the plugin nor what it registered stays. */
  CHECK_EQ_INT(plugin_count(reg), 0);
  CHECK(plugin_find_provider(reg, "half-started") == NULL);
  free_registry(reg);
}

static void done_cb(void *ud, const agentai_chat_outcome *out) {
  *(int *)ud = out->err == 0 && strstr(out->response_json, "minimal") ? 1 : -1;
}

static void test_minimal_plugin_loads(void) {
  char err[1024] = "";
  plugin_registry *reg = new_registry();
  CHECK_EQ_INT(plugin_load(reg, TEST_BROKEN_PLUGIN_DIR "/minimal.so", "{\"greeting\":\"hi\"}", err,
                           sizeof err),
               0);
  CHECK_EQ_INT(plugin_count(reg), 1);
  const plugin_info *info = plugin_get_info(reg, 0);
  CHECK(strcmp(info->name, "minimal") == 0);
  CHECK(strcmp(info->version, "1.0.0") == 0);
  CHECK_EQ_INT(info->abi_major, AGENTAI_ABI_MAJOR);
  CHECK(strcmp(info->provides, "provider:minimal") == 0);
  const agentai_provider_def *p = plugin_find_provider(reg, "minimal");
  CHECK(p != NULL);
  CHECK(strcmp(plugin_provider_name(reg, 0), "minimal") == 0);
  CHECK(plugin_provider_name(reg, 1) == NULL);
  /* Its config section reached init. */
  char *json = NULL;
  CHECK_EQ_INT(p->info(p->ud, &json), 0);
  CHECK_STR_CONTAINS(json, "\"greeting\":\"hi\"");
  free(json);
  int got = 0;
  void *call = (void *)1;
  agentai_chat_sink sink = {.ud = &got, .done = done_cb};
  CHECK_EQ_INT(p->chat(p->ud, "{}", 2, &sink, &call), 0);
  CHECK_EQ_INT(got, 1);
  CHECK(call == NULL);
  /* The same plugin twice is refused by name. */
  CHECK_EQ_INT(plugin_load(reg, TEST_BROKEN_PLUGIN_DIR "/minimal.so", NULL, err, sizeof err),
               AGENTAI_EEXIST);
  CHECK_STR_CONTAINS(err, "a plugin named 'minimal' is already loaded");
  free_registry(reg);
}

/* ---- host services through the runtime host table ---- */

static int timer_fired, post_ran, work_ran, after_ran;

static void on_timer(void *ud) {
  (void)ud;
  timer_fired++;
}

static void on_post(void *ud) {
  post_ran += *(int *)ud;
}

static void post_thread(void *arg) {
  const agentai_host *host = arg;
  static int one = 1;
  for (int i = 0; i < 100; i++)
    host->post(host, on_post, &one);
}

static void on_work(void *ud) {
  (void)ud;
  work_ran++;
}

static void on_after(void *ud, int status) {
  (void)ud;
  if (status == 0)
    after_ran++;
}

static void test_host_services(void) {
  plugin_registry *reg = new_registry();
  const agentai_host *host = plugin_runtime_host(reg);
  CHECK_EQ_INT(host->size, sizeof(agentai_host));
  CHECK(AGENTAI_HOST_HAS(host, data_dir));
  CHECK(strcmp(host->data_dir(host), "/tmp") == 0);
  CHECK(strcmp(host->strerror(AGENTAI_ENOSPC), "storage is full (raise the map size)") == 0);

  agentai_timer *t1 = NULL, *t2 = NULL;
  uint64_t start = host->now_ms(host);
  CHECK_EQ_INT(host->timer_start(host, 20, on_timer, NULL, &t1), 0);
  CHECK_EQ_INT(host->timer_start(host, 10, on_timer, NULL, &t2), 0);
  host->timer_cancel(host, t2);
  CHECK_EQ_INT(host->queue_work(host, on_work, on_after, NULL), 0);

  uv_thread_t th;
  uv_thread_create(&th, post_thread, (void *)host);
  while (timer_fired == 0 || post_ran < 100 || after_ran == 0)
    uv_run(&loop, UV_RUN_ONCE);
  uv_thread_join(&th);
  CHECK_EQ_INT(timer_fired, 1); /* the cancelled one never fires */
  CHECK(host->now_ms(host) - start >= 19);
  CHECK_EQ_INT(post_ran, 100);
  CHECK_EQ_INT(work_ran, 1);
  CHECK_EQ_INT(after_ran, 1);

  /* Registration outside init is refused. */
  agentai_provider_def def = {.size = sizeof def, .name = "late"};
  CHECK_EQ_INT(host->register_provider(host, &def), AGENTAI_EINVAL);
  free_registry(reg);
}

int main(void) {
  uv_loop_init(&loop);
  RUN(test_missing_file);
  RUN(test_not_a_shared_object);
  RUN(test_no_entry_symbol);
  RUN(test_null_descriptor);
  RUN(test_bad_magic);
  RUN(test_abi_major_mismatch);
  RUN(test_abi_minor_newer);
  RUN(test_init_fails_rolls_back);
  RUN(test_minimal_plugin_loads);
  RUN(test_host_services);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  CHECK_DONE();
}
