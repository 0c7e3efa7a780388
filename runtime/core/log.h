/* core/log.h — structured JSON log lines on stderr. */
#pragma once

#include <stdarg.h>

#include "agentai/plugin.h"

/** Minimum level written (AGENTAI_LOG_*); default INFO. */
void log_set_level(int level);
int log_get_level(void);
/** Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int log_level_parse(const char *name);

/**
 * Writes one line: {"ts":..., "level":..., "component":..., "msg":..., <fields>}.
 * fields_json is a JSON object text whose members are appended, or NULL.
 * Thread-safe (one write(2) per line).
 */
void log_write(int level, const char *component, const char *msg, const char *fields_json);

/** log_write with the fields already as a cJSON object (borrowed; members
 *  are copied into the line, a non-object is added as "fields"). Spares
 *  callers that build fields as a tree a print and a parse. */
struct cJSON;
void log_write_fields(int level, const char *component, const char *msg,
                      const struct cJSON *fields);

/** printf-style convenience over log_write without fields. */
void log_printf(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
