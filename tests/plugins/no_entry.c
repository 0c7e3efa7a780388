/* tests/plugins/no_entry.c — a shared object that exports no agentai_plugin_entry. */
#include "agentai/plugin.h"

AGENTAI_EXPORT int some_other_symbol(void);
int some_other_symbol(void) {
  return 42;
}
