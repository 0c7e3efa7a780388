/* cli/args.c — option parsing and error printing shared by the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("agentai: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
      return 1;
  return 0;
}

int cli_parse(int argc, char **argv, cli_args *out, int allow_listen, int allow_input) {
  memset(out, 0, sizeof *out);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "--config") || !strcmp(a, "-c"))
      slot = &out->config_path;
    else if (!strcmp(a, "--data"))
      slot = &out->data_dir;
    else if (!strcmp(a, "--listen") && allow_listen)
      slot = &out->listen;
    else if (!strcmp(a, "--input") && allow_input)
      slot = &out->input;
    if (slot) {
      if (i + 1 >= argc) {
        cli_error("%s needs a value", a);
        return CLI_USAGE;
      }
      *slot = argv[++i];
      continue;
    }
    if (a[0] == '-' && a[1]) {
      cli_error("unknown option '%s' (see --help)", a);
      return CLI_USAGE;
    }
    if (out->npositional >= 4) {
      cli_error("too many arguments (see --help)");
      return CLI_USAGE;
    }
    out->positional[out->npositional++] = a;
  }
  return 0;
}

int cli_configure(app *a, const cli_args *args) {
  char err[2048];
  app_options opts = {
      .config_path = args->config_path, .listen = args->listen, .data_dir = args->data_dir};
  if (app_config(a, &opts, err, sizeof err) < 0) {
    config_free(&a->cfg);
    cli_error("%s", err);
    return CLI_FAILED;
  }
  return 0;
}

int cli_start(app *a, const cli_args *args, int open_store) {
  if (cli_configure(a, args))
    return CLI_FAILED;
  char err[2048];
  if (app_start(a, open_store, err, sizeof err) < 0) {
    cli_error("%s", err); /* app_start released everything */
    return CLI_FAILED;
  }
  return 0;
}
