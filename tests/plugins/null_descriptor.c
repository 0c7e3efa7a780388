/* tests/plugins/null_descriptor.c — an entry point that returns no descriptor. */
#include <stddef.h>

#include "agentai/plugin.h"

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return NULL;
}
