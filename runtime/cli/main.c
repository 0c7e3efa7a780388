/* cli/main.c — the agentai command line: run, serve, plugins, config, keys, version. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: agentai <command> [options]\n"
    "\n"
    "commands:\n"
    "  run FILE.lua [--input JSON]   run a workflow to completion, print its result as JSON\n"
    "  serve                         serve the HTTP API (default 127.0.0.1:8080)\n"
    "  plugins list                  list the plugins the configuration loads\n"
    "  plugins check FILE.so         load one plugin and report it, or why it is refused\n"
    "  config check FILE             validate a configuration file\n"
    "  keys create|list|revoke       manage API keys for the /v1 API\n"
    "  version                       print versions\n"
    "\n"
    "common options: --config FILE, --data DIR (see `agentai <command> --help`)\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return CLI_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(USAGE, stdout);
    return CLI_OK;
  }
  if (!strcmp(cmd, "run"))
    return cli_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "serve"))
    return cli_serve(argc - 1, argv + 1);
  if (!strcmp(cmd, "plugins"))
    return cli_plugins(argc - 1, argv + 1);
  if (!strcmp(cmd, "config"))
    return cli_config(argc - 1, argv + 1);
  if (!strcmp(cmd, "keys"))
    return cli_keys(argc - 1, argv + 1);
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
    return cli_version(argc - 1, argv + 1);
  cli_error("unknown command '%s'", cmd);
  fputs(USAGE, stderr);
  return CLI_USAGE;
}
