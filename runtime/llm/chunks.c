/* llm/chunks.c — turns a whole chat.completion into the chunks a stream would have carried, so a
 * cached answer can be replayed to a streaming caller. */
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "llm/internal.h"

static cJSON *chunk_base(const cJSON *resp) {
  cJSON *c = cJSON_CreateObject();
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id");
  const cJSON *created = cJSON_GetObjectItemCaseSensitive(resp, "created");
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(resp, "model");
  cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : "chatcmpl-cache");
  cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
  cJSON_AddNumberToObject(c, "created", cJSON_IsNumber(created) ? created->valuedouble : 0);
  cJSON_AddStringToObject(c, "model", cJSON_IsString(model) ? model->valuestring : "");
  return c;
}

static int emit_chunk(cJSON *chunk, void (*emit)(void *, const char *, size_t), void *ud) {
  char *text = cJSON_PrintUnformatted(chunk);
  cJSON_Delete(chunk);
  if (!text)
    return AGENTAI_ENOMEM;
  emit(ud, text, strlen(text));
  free(text);
  return 0;
}

int llm_chunks_from_response(const char *response, size_t len,
                             void (*emit)(void *ud, const char *chunk, size_t len), void *ud) {
  cJSON *resp = cJSON_ParseWithLength(response, len);
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(resp, "choices");
  if (!cJSON_IsArray(choices)) {
    cJSON_Delete(resp);
    return AGENTAI_EINVAL;
  }
  int rc = 0;
  /* The content and tool calls of every choice, then every finish_reason. */
  for (int pass = 0; pass < 2 && rc == 0; pass++) {
    for (const cJSON *ch = choices->child; ch && rc == 0; ch = ch->next) {
      cJSON *chunk = chunk_base(resp);
      cJSON *arr = cJSON_AddArrayToObject(chunk, "choices");
      cJSON *c = cJSON_CreateObject();
      cJSON_AddItemToArray(arr, c);
      const cJSON *index = cJSON_GetObjectItemCaseSensitive(ch, "index");
      cJSON_AddNumberToObject(c, "index", cJSON_IsNumber(index) ? index->valuedouble : 0);
      cJSON *delta = cJSON_AddObjectToObject(c, "delta");
      if (pass == 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
        cJSON_AddStringToObject(delta, "role", "assistant");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(content))
          cJSON_AddStringToObject(delta, "content", content->valuestring);
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
        if (cJSON_IsArray(calls) && calls->child) {
          cJSON *out = cJSON_Duplicate(calls, 1);
          int i = 0;
          for (cJSON *tc = out ? out->child : NULL; tc; tc = tc->next, i++) {
            cJSON_DeleteItemFromObjectCaseSensitive(tc, "index");
            cJSON_AddNumberToObject(tc, "index", i);
          }
          cJSON_AddItemToObject(delta, "tool_calls", out);
        }
        cJSON_AddNullToObject(c, "finish_reason");
      } else {
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
        cJSON_AddItemToObject(c, "finish_reason",
                              cJSON_IsString(fr) ? cJSON_CreateString(fr->valuestring)
                                                 : cJSON_CreateString("stop"));
      }
      rc = emit_chunk(chunk, emit, ud);
    }
  }
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
  if (rc == 0 && cJSON_IsObject(usage)) {
    cJSON *chunk = chunk_base(resp);
    cJSON_AddArrayToObject(chunk, "choices");
    cJSON_AddItemToObject(chunk, "usage", cJSON_Duplicate(usage, 1));
    rc = emit_chunk(chunk, emit, ud);
  }
  cJSON_Delete(resp);
  return rc;
}
