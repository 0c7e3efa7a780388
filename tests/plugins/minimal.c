/* tests/plugins/minimal.c — the smallest valid plugin: one provider that answers inline, config
 * echoed. */
#include <stdio.h>
#include <string.h>

#include "agentai/provider.h"

static const agentai_host *g_host;
static char g_config[256];

static int chat(void *ud, const char *req, size_t len, const agentai_chat_sink *sink, void **call) {
  (void)ud, (void)req, (void)len;
  static const char RESPONSE[] = "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                                 "\"content\":\"minimal\"},\"finish_reason\":\"stop\"}]}";
  agentai_chat_outcome out = {.size = sizeof out,
                              .response_json = RESPONSE,
                              .response_len = sizeof RESPONSE - 1,
                              .retry_after_ms = -1};
  *call = NULL;
  sink->done(sink->ud, &out);
  return 0;
}

static int info(void *ud, char **json_out) {
  (void)ud;
  size_t n = strlen(g_config) + 64;
  *json_out = g_host->alloc(g_host, n);
  snprintf(*json_out, n, "{\"models\":[],\"calls\":0,\"config\":%s}", g_config);
  return 0;
}

static int init(const agentai_host *host, const char *cfg, void **state, char *err, size_t len) {
  (void)state, (void)err, (void)len;
  g_host = host;
  snprintf(g_config, sizeof g_config, "%s", cfg);
  agentai_provider_def def = {.size = sizeof def, .name = "minimal", .chat = chat, .info = info};
  return host->register_provider(host, &def);
}

static const agentai_plugin DESC = {
    AGENTAI_PLUGIN_HEADER, .name = "minimal",
    .version = "1.0.0",    .summary = "smallest valid plugin",
    .init = init,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESC;
}
