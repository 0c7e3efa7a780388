/* cli/cmd_version.c — `agentai version`: the runtime, ABI and library versions. */
#include <lua.h>
#include <stdio.h>
#include <uv.h>

#include "agentai/version.h"
#include "cli/cli.h"
#include "http/server.h"

int cli_version(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("agentai %s (plugin ABI %d.%d, %s, libuv %s, libwebsockets %s)\n", AGENTAI_VERSION_STRING,
         AGENTAI_ABI_MAJOR, AGENTAI_ABI_MINOR, LUA_RELEASE, uv_version_string(),
         http_library_version());
  return CLI_OK;
}
