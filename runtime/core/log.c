/* core/log.c — structured JSON log lines on stderr, one write(2) per line. */
#include "core/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = AGENTAI_LOG_INFO;
static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

void log_set_level(int level) {
  g_level = level;
}

int log_get_level(void) {
  return g_level;
}

int log_level_parse(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, LEVEL_NAMES[i]) == 0)
      return i;
  return -1;
}

void log_write_fields(int level, const char *component, const char *msg, const cJSON *fields) {
  if (level < g_level || level < 0 || level > 3)
    return;
  cJSON *line = cJSON_CreateObject();
  if (!line)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[96];
  snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  cJSON_AddStringToObject(line, "ts", stamp);
  cJSON_AddStringToObject(line, "level", LEVEL_NAMES[level]);
  cJSON_AddStringToObject(line, "component", component ? component : "agentai");
  cJSON_AddStringToObject(line, "msg", msg ? msg : "");
  if (cJSON_IsObject(fields)) {
    const cJSON *f;
    cJSON_ArrayForEach(f, fields) {
      if (f->string && !cJSON_HasObjectItem(line, f->string))
        cJSON_AddItemToObject(line, f->string, cJSON_Duplicate(f, 1));
    }
  } else if (fields) {
    cJSON_AddItemToObject(line, "fields", cJSON_Duplicate(fields, 1));
  }
  char *text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  if (!text)
    return;
  size_t n = strlen(text);
  text[n] = '\n'; /* overwrite the NUL: one write for the whole line */
  ssize_t w = write(STDERR_FILENO, text, n + 1);
  (void)w;
  free(text);
}

void log_write(int level, const char *component, const char *msg, const char *fields_json) {
  if (level < g_level)
    return;
  cJSON *fields = fields_json ? cJSON_Parse(fields_json) : NULL;
  log_write_fields(level, component, msg, fields);
  cJSON_Delete(fields);
}

void log_printf(int level, const char *component, const char *fmt, ...) {
  if (level < g_level)
    return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  log_write(level, component, buf, NULL);
}
