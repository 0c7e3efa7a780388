/* core/errors.h — the one error model: 0 or a negative AGENTAI_E* code, and its sentence. */
#pragma once

#include "agentai/plugin.h"

/** Static sentence describing an AGENTAI_E* code ("unknown error -N" for others). */
const char *agentai_strerror(int err);

/** Short stable name of an error code ("rate_limited", "timeout", ...), used as
 *  the `kind` of errors surfaced to Lua and over the API. */
const char *agentai_errname(int err);

/** Whether an error kind is worth retrying (rate limit, timeout, upstream). */
int agentai_err_retryable(int err);
