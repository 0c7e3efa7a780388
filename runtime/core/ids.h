/* core/ids.h — prefixed, time-sortable identifiers (agt_…, tsk_…): key order is creation order. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** Room for any id: a prefix of up to 7 characters, '_', 26 characters, NUL. */
#define IDS_MAX 40

/**
 * Writes prefix + "_" + 26 lower-case Crockford base-32 characters into out:
 * 48 bits of Unix milliseconds, then 80 random bits (OpenSSL). Within one
 * millisecond the random part is incremented instead of redrawn, so ids made
 * by one process are strictly increasing and sort as they were made (the
 * property the storage key order, listings and cursors rely on).
 * Returns 0, or AGENTAI_EINVAL for a prefix that is empty or longer than 7.
 */
int ids_new(const char *prefix, char out[IDS_MAX]);

/** The creation time (Unix ms) encoded in id, or -1 when id does not have
 *  the shape ids_new() writes for the given prefix (prefix NULL: any). */
int64_t ids_time_ms(const char *id, const char *prefix);

/** 1 when id has the shape ids_new() writes for prefix, else 0. */
int ids_valid(const char *id, const char *prefix);

/** The smallest id of prefix at time ms (random part all zero): ids made at
 *  or after ms sort at or after it. For time-range scans over id-keyed
 *  records. out must hold IDS_MAX bytes. */
void ids_floor(const char *prefix, int64_t ms, char out[IDS_MAX]);
