/* cli/cmd_config.c — `agentai config check FILE`: the file, the environment and every plugin
 * section. */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cli/cli.h"

static const char HELP[] =
    "usage: agentai config check FILE\n"
    "\n"
    "Validates FILE (format and known keys, with the environment overrides applied), then\n"
    "loads the plugins it names with their sections so plugin settings are checked too.\n"
    "Prints the error as FILE:LINE: ... and exits 1 when something is wrong.\n";

int cli_config(int argc, char **argv) {
  if (cli_wants_help(argc, argv) || argc < 2) {
    fputs(HELP, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  if (strcmp(argv[1], "check") != 0) {
    cli_error("unknown config subcommand '%s' (check)", argv[1]);
    return CLI_USAGE;
  }
  cli_args args;
  if (cli_parse(argc - 1, argv + 1, &args, 0, 0))
    return CLI_USAGE;
  if (args.npositional != 1 || args.config_path) {
    cli_error("config check needs exactly one file");
    return CLI_USAGE;
  }
  args.config_path = args.positional[0];
  app a;
  if (cli_start(&a, &args, 0))
    return CLI_FAILED;
  printf("%s: ok (listen %s:%d, data %s, storage %s, %zu plugins)\n", args.positional[0],
         a.cfg.listen_host, a.cfg.listen_port, a.cfg.data_dir, a.cfg.storage_backend,
         plugin_count(a.plugins));
  app_stop(&a);
  return CLI_OK;
}
