/* hello_provider.c — an out-of-tree agentai provider plugin, built against the installed SDK
 * headers only. */
#include <agentai/provider.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hello {
  const agentai_host *host;
  char greeting[128];
  unsigned long calls;
} hello;

/* Answers every request inline with the greeting and the last user message. */
static int hello_chat(void *ud, const char *request_json, size_t len, const agentai_chat_sink *sink,
                      void **call) {
  hello *h = ud;
  cJSON *req = cJSON_ParseWithLength(request_json, len);
  cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
  if (!cJSON_IsArray(messages)) {
    cJSON_Delete(req);
    return AGENTAI_EINVAL; /* refused: the sink is never called */
  }
  const char *last_user = "";
  const cJSON *m;
  cJSON_ArrayForEach(m, messages) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(role) && !strcmp(role->valuestring, "user") && cJSON_IsString(content))
      last_user = content->valuestring;
  }
  h->calls++;
  char text[512];
  snprintf(text, sizeof text, "%s %s", h->greeting, last_user);

  cJSON *resp = cJSON_CreateObject();
  cJSON_AddStringToObject(resp, "id", "chatcmpl-hello");
  cJSON_AddStringToObject(resp, "object", "chat.completion");
  cJSON_AddStringToObject(resp, "model", "hello-1");
  cJSON *choice = cJSON_CreateObject();
  cJSON_AddNumberToObject(choice, "index", 0);
  cJSON *msg = cJSON_AddObjectToObject(choice, "message");
  cJSON_AddStringToObject(msg, "role", "assistant");
  cJSON_AddStringToObject(msg, "content", text);
  cJSON_AddStringToObject(choice, "finish_reason", "stop");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(resp, "choices"), choice);
  cJSON *usage = cJSON_AddObjectToObject(resp, "usage");
  cJSON_AddNumberToObject(usage, "prompt_tokens", 1);
  cJSON_AddNumberToObject(usage, "completion_tokens", 1);
  cJSON_AddNumberToObject(usage, "total_tokens", 2);
  char *body = cJSON_PrintUnformatted(resp);
  cJSON_Delete(resp);
  cJSON_Delete(req);

  agentai_chat_outcome out = {.size = sizeof out,
                              .response_json = body,
                              .response_len = strlen(body),
                              .retry_after_ms = -1};
  *call = NULL; /* completed inline: nothing to cancel */
  sink->done(sink->ud, &out);
  free(body);
  return 0;
}

static int hello_info(void *ud, char **json_out) {
  hello *h = ud;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"models\":[\"hello-1\"],\"calls\":%lu}", h->calls);
  *json_out = h->host->alloc(h->host, (size_t)n + 1);
  if (!*json_out)
    return AGENTAI_ENOMEM;
  memcpy(*json_out, buf, (size_t)n + 1);
  return 0;
}

static int hello_init(const agentai_host *host, const char *config_json, void **state, char *errbuf,
                      size_t errbuf_len) {
  hello *h = calloc(1, sizeof *h);
  if (!h)
    return AGENTAI_ENOMEM;
  h->host = host;
  snprintf(h->greeting, sizeof h->greeting, "Hello,");
  cJSON *cfg = cJSON_Parse(config_json);
  const cJSON *item;
  cJSON_ArrayForEach(item, cfg) {
    if (!strcmp(item->string, "greeting") && cJSON_IsString(item)) {
      snprintf(h->greeting, sizeof h->greeting, "%s", item->valuestring);
    } else {
      snprintf(errbuf, errbuf_len, "unknown or mistyped key '%s' (known: greeting, a string)",
               item->string);
      cJSON_Delete(cfg);
      free(h);
      return AGENTAI_EINVAL;
    }
  }
  cJSON_Delete(cfg);
  agentai_provider_def def = {
      .size = sizeof def, .name = "hello", .ud = h, .chat = hello_chat, .info = hello_info};
  int rc = host->register_provider(host, &def);
  if (rc < 0) {
    snprintf(errbuf, errbuf_len, "cannot register provider 'hello': %s", host->strerror(rc));
    free(h);
    return rc;
  }
  *state = h;
  host->log(host, AGENTAI_LOG_DEBUG, "hello provider ready", NULL);
  return 0;
}

static void hello_shutdown(void *state) {
  free(state);
}

static const agentai_plugin DESCRIPTOR = {
    AGENTAI_PLUGIN_HEADER, .name = "hello-provider",
    .version = "1.0.0",    .summary = "example out-of-tree provider",
    .init = hello_init,    .shutdown = hello_shutdown,
};

AGENTAI_EXPORT const agentai_plugin *agentai_plugin_entry(void);
const agentai_plugin *agentai_plugin_entry(void) {
  return &DESCRIPTOR;
}
