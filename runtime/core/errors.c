/* core/errors.c — sentences and stable names for AGENTAI_E* codes. */
#include "core/errors.h"

#include <stddef.h>

typedef struct {
  int code;
  const char *name;
  const char *sentence;
} err_entry;

static const err_entry ERRORS[] = {
    {AGENTAI_OK, "ok", "success"},
    {AGENTAI_EINVAL, "invalid", "invalid argument"},
    {AGENTAI_ENOMEM, "no_memory", "out of memory"},
    {AGENTAI_ENOENT, "not_found", "not found"},
    {AGENTAI_EEXIST, "exists", "already exists"},
    {AGENTAI_EIO, "io", "input/output error"},
    {AGENTAI_ENOSPC, "storage_full", "storage is full (raise the map size)"},
    {AGENTAI_ETIMEDOUT, "timeout", "operation timed out"},
    {AGENTAI_ECANCELED, "cancelled", "operation cancelled"},
    {AGENTAI_ENOTSUP, "not_supported", "operation not supported"},
    {AGENTAI_EBUSY, "busy", "resource busy"},
    {AGENTAI_E2BIG, "too_large", "value too large"},
    {AGENTAI_EABI, "abi_mismatch", "plugin ABI mismatch"},
    {AGENTAI_ERATELIMIT, "rate_limited", "rate limited by the provider"},
    {AGENTAI_EUPSTREAM, "server_error", "provider server error"},
    {AGENTAI_EMALFORMED, "malformed_output", "provider returned malformed output"},
    {AGENTAI_EAUTH, "authentication", "authentication failed"},
    {AGENTAI_ECORRUPT, "corrupt", "stored data is corrupted"},
    {AGENTAI_EPLUGIN, "plugin_error", "plugin failed"},
};

static const err_entry *find(int err) {
  for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
    if (ERRORS[i].code == err)
      return &ERRORS[i];
  return NULL;
}

const char *agentai_strerror(int err) {
  const err_entry *e = find(err);
  return e ? e->sentence : "unknown error";
}

const char *agentai_errname(int err) {
  const err_entry *e = find(err);
  return e ? e->name : "unknown";
}

int agentai_err_retryable(int err) {
  return err == AGENTAI_ERATELIMIT || err == AGENTAI_ETIMEDOUT || err == AGENTAI_EUPSTREAM;
}
