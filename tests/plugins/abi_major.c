/* tests/plugins/abi_major.c — a plugin built for a different ABI major. */
#include "agentai/plugin.h"

static int init(const agentai_host *host, const char *cfg, void **state, char *err, size_t len) {
  (void)host, (void)cfg, (void)state, (void)err, (void)len;
  return 0;
}

static const agentai_plugin DESC = {
    .magic = AGENTAI_PLUGIN_MAGIC,
    .size = sizeof(agentai_plugin),
    .abi_major = AGENTAI_ABI_MAJOR + 1,
    .abi_minor = 0,
    .name = "abi-major",
    .version = "0.0.1",
    .init = init,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESC;
}
