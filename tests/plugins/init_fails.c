/* tests/plugins/init_fails.c — a plugin whose init registers a provider and then fails with a
 * message. */
#include <stdio.h>

#include "agentai/provider.h"

static int chat(void *ud, const char *req, size_t len, const agentai_chat_sink *sink, void **call) {
  (void)ud, (void)req, (void)len, (void)sink, (void)call;
  return AGENTAI_ENOTSUP;
}

static int init(const agentai_host *host, const char *cfg, void **state, char *err, size_t len) {
  (void)cfg, (void)state;
  /* Registered before failing: the loader must roll this back. */
  agentai_provider_def def = {.size = sizeof def, .name = "half-started", .chat = chat};
  host->register_provider(host, &def);
  snprintf(err, len, "cannot reach the license server at example.invalid");
  return AGENTAI_EIO;
}

static const agentai_plugin DESC = {
    AGENTAI_PLUGIN_HEADER,
    .name = "init-fails",
    .version = "0.0.1",
    .init = init,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESC;
}
