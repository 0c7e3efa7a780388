/* core/timefmt.h — instants as RFC 3339 text, the time format of records, listings and the API. */
#pragma once

#include <stdint.h>

/** Characters timefmt_format writes, without the NUL ("2026-11-25T01:02:03.004Z"). */
#define TIMEFMT_LEN 24

/** Earliest and latest instants the format can write, in milliseconds since the Unix epoch:
 *  0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define TIMEFMT_MIN_MS (-62167219200000LL)
#define TIMEFMT_MAX_MS (253402300799999LL)

/**
 * Writes ms (milliseconds since the Unix epoch) as RFC 3339 UTC with milliseconds to out
 * (NUL-terminated, TIMEFMT_LEN characters). Returns 0, or AGENTAI_EINVAL (out set to "")
 * when the year falls outside 0000..9999.
 */
int timefmt_format(int64_t ms, char out[32]);

/**
 * Reads an RFC 3339 date-time (T, t or a space between date and time; an optional fraction,
 * truncated to milliseconds; Z, z or a +hh:mm / -hh:mm offset) or an integer of unix seconds
 * into *ms. Returns 0, or AGENTAI_EINVAL (*ms untouched) for anything else.
 */
int timefmt_parse(const char *text, int64_t *ms);
