/* cli/cli.h — the agentai subcommands; each returns the process exit status. */
#pragma once

/** Exit statuses shared by every command. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_run(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_plugins(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_version(int argc, char **argv);
int cli_keys(int argc, char **argv);

/** Prints "agentai: <msg>" on stderr (the one way commands report errors). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/**
 * Parses the options shared by commands (--config FILE, --listen HOST:PORT,
 * --data DIR, --input JSON) and collects the rest as positionals. Returns 0,
 * or CLI_USAGE after printing what was wrong. Options a command does not
 * accept are refused by passing NULL for them.
 */
typedef struct cli_args {
  const char *config_path, *listen, *data_dir, *input;
  const char *positional[4];
  int npositional;
} cli_args;
int cli_parse(int argc, char **argv, cli_args *out, int allow_listen, int allow_input);

struct app;
/** Builds a's configuration from the defaults, args->config_path, the
 *  environment and the flags. On failure prints why and returns CLI_FAILED
 *  with nothing left to release; else 0. */
int cli_configure(struct app *a, const cli_args *args);
/** cli_configure, then app_start (plugins; storage when open_store). On
 *  failure prints why and returns CLI_FAILED with nothing left to release. */
int cli_start(struct app *a, const cli_args *args, int open_store);
