/* cli/cmd_run.c — `agentai run FILE.lua`: one workflow to completion on the embedded default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cli/cli.h"
#include "core/log.h"

static const char HELP[] =
    "usage: agentai run FILE.lua [--input JSON] [--config FILE] [--data DIR]\n"
    "\n"
    "Runs the workflow in FILE.lua (a Lua file that returns a function) in a sandboxed VM\n"
    "with the input decoded from JSON, and prints the function's result as JSON on stdout.\n"
    "Logs go to stderr. Exit status 1 when the workflow fails (the message names file:line).\n";

typedef struct run_state {
  app *a;
  int status;
  char *result;
  char *error;
  char kind[32];
} run_state;

static void on_done(void *ud, lh_workflow *wf, const lh_outcome *out) {
  run_state *rs = ud;
  rs->status = out->status;
  if (out->status == 0)
    rs->result = strdup(out->result_json);
  else {
    rs->error = strdup(out->error ? out->error : "workflow failed");
    snprintf(rs->kind, sizeof rs->kind, "%s", out->error_kind ? out->error_kind : "error");
  }
  lh_workflow_free(wf);
  uv_stop(&rs->a->loop);
}

int cli_run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    fputs(HELP, stdout);
    return CLI_OK;
  }
  cli_args args;
  if (cli_parse(argc, argv, &args, 0, 1))
    return CLI_USAGE;
  if (args.npositional != 1) {
    cli_error("run needs exactly one workflow file (see --help)");
    return CLI_USAGE;
  }
  app a;
  char err[2048];
  if (cli_start(&a, &args, 1))
    return CLI_FAILED;
  run_state rs = {.a = &a};
  lh_workflow *wf = NULL;
  if (lh_workflow_start(&a.lua, args.positional[0], args.input, on_done, &rs, &wf, err,
                        sizeof err) < 0) {
    app_stop(&a);
    cli_error("%s", err);
    return CLI_FAILED;
  }
  uv_run(&a.loop, UV_RUN_DEFAULT);
  app_stop(&a);
  if (rs.status != 0) {
    cli_error("workflow failed (%s): %s", rs.kind, rs.error);
    free(rs.error);
    return CLI_FAILED;
  }
  printf("%s\n", rs.result);
  free(rs.result);
  return CLI_OK;
}
