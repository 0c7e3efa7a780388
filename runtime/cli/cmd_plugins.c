/* cli/cmd_plugins.c — `agentai plugins list|check`: what loads, and why a plugin is refused. */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cli/cli.h"

static const char HELP[] =
    "usage: agentai plugins list [--config FILE]\n"
    "       agentai plugins check FILE.so [--config FILE]\n"
    "\n"
    "list   loads the plugins the configuration names (by default every plugin in the\n"
    "       build's plugin folder) and prints each one's name, version, ABI and registrations.\n"
    "check  loads one plugin file with its configuration section, prints the same, or the\n"
    "       exact reason it is refused (exit status 1).\n";

static void print_header(void) {
  printf("%-18s %-9s %-5s %-36s %s\n", "NAME", "VERSION", "ABI", "PROVIDES", "PATH");
}

static void print_info(const plugin_info *p) {
  char abi[16];
  snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
  printf("%-18s %-9s %-5s %-36s %s\n", p->name, p->version, abi, p->provides[0] ? p->provides : "-",
         p->path);
}

int cli_plugins(int argc, char **argv) {
  if (cli_wants_help(argc, argv) || argc < 2) {
    fputs(HELP, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *sub = argv[1];
  cli_args args;
  if (cli_parse(argc - 1, argv + 1, &args, 0, 0))
    return CLI_USAGE;
  int check = !strcmp(sub, "check");
  if (!check && strcmp(sub, "list")) {
    cli_error("unknown plugins subcommand '%s' (list, check)", sub);
    return CLI_USAGE;
  }
  if (check != (args.npositional == 1) || args.npositional > 1) {
    cli_error(check ? "plugins check needs one plugin file" : "plugins list takes no arguments");
    return CLI_USAGE;
  }
  app a;
  if (!check) {
    if (cli_start(&a, &args, 0))
      return CLI_FAILED;
    print_header();
    for (size_t i = 0; i < plugin_count(a.plugins); i++)
      print_info(plugin_get_info(a.plugins, i));
    app_stop(&a);
    return CLI_OK;
  }
  /* check: a registry holding just this file */
  if (cli_configure(&a, &args))
    return CLI_FAILED;
  char err[2048];
  uv_loop_init(&a.loop);
  a.loop_ready = 1;
  int rc = plugin_registry_new(&a.loop, a.cfg.data_dir, &a.plugins);
  if (rc == 0)
    rc = plugin_load_with_config(a.plugins, args.positional[0], &a.cfg, err, sizeof err);
  if (rc < 0) {
    cli_error("plugin refused: %s", err);
    app_stop(&a);
    return CLI_FAILED;
  }
  print_header();
  print_info(plugin_get_info(a.plugins, 0));
  printf("ok: %s loads (host ABI %d.%d)\n", args.positional[0], AGENTAI_ABI_MAJOR,
         AGENTAI_ABI_MINOR);
  app_stop(&a);
  return CLI_OK;
}
