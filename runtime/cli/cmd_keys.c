/* cli/cmd_keys.c — `agentai keys create|list|revoke`: API keys in the data folder, with the daemon
 * stopped or running (LMDB lets several processes share it). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "core/errors.h"
#include "core/timefmt.h"

static const char HELP[] =
    "usage: agentai keys create --role ROLE --tenant TENANT [--name NAME] [--expires WHEN]\n"
    "       agentai keys list [--json]\n"
    "       agentai keys revoke ID\n"
    "       (each also takes --data DIR and --config FILE)\n"
    "\n"
    "API keys for the /v1 API. Roles: admin (everything, all tenants, keys), operator\n"
    "(agents, tasks and webhooks of its tenant), reader (GET only). WHEN is an RFC 3339\n"
    "date-time or a duration: 90s, 15m, 12h, 30d, 2w. `create` prints the secret on stdout;\n"
    "it is shown only this once (only its SHA-256 is stored). While no key exists the API\n"
    "is open; once one exists every /v1 request needs `Authorization: Bearer <key>`.\n"
    "Works whether or not `agentai serve` is running on the same data folder.\n";

typedef struct keys_opts {
  const char *role, *tenant, *name, *expires;
  int json;
} keys_opts;

/* Takes this command's own options out of argv (compacting it) so the shared
 * parser sees only the common ones. */
static int take_options(int *argc, char **argv, keys_opts *o) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char **slot = !strcmp(a, "--role")      ? &o->role
                        : !strcmp(a, "--tenant")  ? &o->tenant
                        : !strcmp(a, "--name")    ? &o->name
                        : !strcmp(a, "--expires") ? &o->expires
                                                  : NULL;
    if (slot) {
      if (i + 1 >= *argc) {
        cli_error("%s needs a value", a);
        return CLI_USAGE;
      }
      *slot = argv[++i];
    } else if (!strcmp(a, "--json")) {
      o->json = 1;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return 0;
}

typedef struct wait_state {
  int done, err;
  auth_key_info info;
} wait_state;

static void on_done(void *ud, int err, const auth_key_info *info) {
  wait_state *w = ud;
  w->done = 1;
  w->err = err;
  w->info = *info;
}

static void wait_for(app *a, wait_state *w) {
  while (!w->done)
    uv_run(&a->loop, UV_RUN_ONCE);
}

static const char *when(int64_t ms, char buf[32]) {
  if (!ms || timefmt_format(ms, buf) < 0)
    return "-";
  return buf;
}

static int do_create(app *a, auth_keys *k, const keys_opts *o) {
  auth_role role = auth_role_parse(o->role);
  if (!o->role || role == AUTH_ROLE_NONE) {
    cli_error("keys create: --role must be admin, operator or reader");
    return CLI_USAGE;
  }
  if (!o->tenant) {
    cli_error("keys create: --tenant is required (e.g. --tenant default)");
    return CLI_USAGE;
  }
  int64_t expires = 0;
  if (o->expires && auth_parse_expiry(o->expires, auth_now_ms(), &expires) < 0) {
    cli_error("keys create: --expires '%s': expected a future RFC 3339 date-time or a duration "
              "such as 30d",
              o->expires);
    return CLI_USAGE;
  }
  char secret[AUTH_SECRET_MAX], why[256] = "";
  wait_state w = {0};
  int rc =
      auth_keys_create(k, role, o->tenant, o->name, expires, secret, on_done, &w, why, sizeof why);
  if (rc < 0) {
    cli_error("keys create: %s", why);
    return rc == AGENTAI_EINVAL ? CLI_USAGE : CLI_FAILED;
  }
  wait_for(a, &w);
  if (w.err < 0) {
    cli_error("keys create: the key could not be stored: %s", agentai_strerror(w.err));
    return CLI_FAILED;
  }
  char t[32];
  printf("%s\n", secret);
  fflush(stdout);
  fprintf(stderr,
          "agentai: created key %s (role %s, tenant %s, expires %s). The secret above is shown "
          "only once: store it now.\n",
          w.info.id, auth_role_name(w.info.role), w.info.tenant,
          w.info.expires_ms ? when(w.info.expires_ms, t) : "never");
  memset(secret, 0, sizeof secret);
  return CLI_OK;
}

static int print_row(void *ud, const auth_key_info *info) {
  int json = *(int *)ud;
  if (json) {
    cJSON *o = cJSON_CreateObject();
    auth_key_to_json(info, o);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text)
      printf("%s\n", text);
    free(text);
    return 0;
  }
  char c[32], e[32], r[32];
  printf("%-31s %-8s %-16s %-24s %-24s %-24s %s\n", info->id, auth_role_name(info->role),
         info->tenant, when(info->created_ms, c), when(info->expires_ms, e),
         when(info->revoked_ms, r), info->name);
  return 0;
}

static int do_list(auth_keys *k, const keys_opts *o) {
  int json = o->json;
  if (!json)
    printf("%-31s %-8s %-16s %-24s %-24s %-24s %s\n", "ID", "ROLE", "TENANT", "CREATED", "EXPIRES",
           "REVOKED", "NAME");
  int rc = auth_keys_list(k, o->tenant, print_row, &json);
  if (rc < 0) {
    cli_error("keys list: %s", agentai_strerror(rc));
    return CLI_FAILED;
  }
  return CLI_OK;
}

static int do_revoke(app *a, auth_keys *k, const char *id) {
  wait_state w = {0};
  int rc = auth_keys_revoke(k, id, on_done, &w);
  if (rc == AGENTAI_ENOENT) {
    cli_error("keys revoke: no key '%s' (see `agentai keys list`)", id);
    return CLI_FAILED;
  }
  if (rc == AGENTAI_EEXIST) {
    fprintf(stderr, "agentai: key %s was already revoked\n", id);
    return CLI_OK;
  }
  if (rc < 0) {
    cli_error("keys revoke: %s", agentai_strerror(rc));
    return CLI_FAILED;
  }
  wait_for(a, &w);
  if (w.err < 0) {
    cli_error("keys revoke: %s", agentai_strerror(w.err));
    return CLI_FAILED;
  }
  fprintf(stderr, "agentai: revoked key %s\n", id);
  return CLI_OK;
}

int cli_keys(int argc, char **argv) {
  if (cli_wants_help(argc, argv) || argc < 2) {
    fputs(HELP, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_USAGE : CLI_OK;
  }
  keys_opts o = {0};
  if (take_options(&argc, argv, &o))
    return CLI_USAGE;
  cli_args args;
  if (cli_parse(argc, argv, &args, 0, 0))
    return CLI_USAGE;
  const char *sub = args.npositional ? args.positional[0] : "";
  int create = !strcmp(sub, "create"), list = !strcmp(sub, "list"), revoke = !strcmp(sub, "revoke");
  if (!create && !list && !revoke) {
    cli_error("keys: unknown subcommand '%s' (create, list or revoke)", sub);
    return CLI_USAGE;
  }
  if (args.npositional != (revoke ? 2 : 1)) {
    if (revoke)
      cli_error("keys revoke needs exactly one key id");
    else
      cli_error("keys %s takes no arguments", sub);
    return CLI_USAGE;
  }
  if (!create && (o.role || o.name || o.expires || (revoke && o.tenant))) {
    cli_error("keys %s: --role, --name and --expires belong to `keys create`", sub);
    return CLI_USAGE;
  }
  app a;
  if (cli_start(&a, &args, 1))
    return CLI_FAILED;
  auth_keys *k = NULL;
  int status;
  if (auth_keys_new(&a.store, &k) < 0) {
    cli_error("out of memory");
    status = CLI_FAILED;
  } else if (create) {
    status = do_create(&a, k, &o);
  } else if (list) {
    status = do_list(k, &o);
  } else {
    status = do_revoke(&a, k, args.positional[1]);
  }
  auth_keys_free(k);
  app_stop(&a);
  return status;
}
