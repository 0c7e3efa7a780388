/* provider-ollama/ollama_stream.c — parses Ollama /api/chat responses (one object, or NDJSON lines
 * when streamed) into canonical chat.completion.chunk deltas and the assembled chat.completion. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ollama.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
set_err(oll_parse *p, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->message, sizeof p->message, fmt, ap);
  va_end(ap);
  p->err = err;
  return err;
}

/* Names the part of the response being read, for messages. */
static const char *where(const oll_parse *p, char *buf, size_t len) {
  if (!p->emit)
    return "the response";
  snprintf(buf, len, "stream line %zu", p->objects);
  return buf;
}

int oll_parse_init(oll_parse *p, const char *id, const char *model, int64_t now, oll_emit_fn emit,
                   void *emit_ud) {
  memset(p, 0, sizeof *p);
  snprintf(p->id, sizeof p->id, "%s", id ? id : "chatcmpl-ollama");
  p->created = now;
  p->emit = emit;
  p->emit_ud = emit_ud;
  p->model = strdup(model ? model : "");
  return p->model ? 0 : AGENTAI_ENOMEM;
}

void oll_parse_free(oll_parse *p) {
  free(p->model);
  p->model = NULL;
  uh_buf_free(&p->content);
  uh_buf_free(&p->thinking);
  cJSON_Delete(p->tool_calls);
  p->tool_calls = NULL;
}

static const char *finish_reason(const oll_parse *p) {
  if (cJSON_GetArraySize(p->tool_calls) > 0)
    return "tool_calls";
  return p->length ? "length" : "stop";
}

static int add_usage(cJSON *root, const oll_parse *p) {
  cJSON *usage = cJSON_AddObjectToObject(root, "usage");
  return usage && cJSON_AddNumberToObject(usage, "prompt_tokens", (double)p->prompt_tokens) &&
                 cJSON_AddNumberToObject(usage, "completion_tokens",
                                         (double)p->completion_tokens) &&
                 cJSON_AddNumberToObject(usage, "total_tokens",
                                         (double)(p->prompt_tokens + p->completion_tokens))
             ? 0
             : AGENTAI_ENOMEM;
}

/* The id, object, created and model members shared by chunks and the response. */
static cJSON *envelope(const oll_parse *p, const char *object) {
  cJSON *root = cJSON_CreateObject();
  if (root && cJSON_AddStringToObject(root, "id", p->id) &&
      cJSON_AddStringToObject(root, "object", object) &&
      cJSON_AddNumberToObject(root, "created", (double)p->created) &&
      cJSON_AddStringToObject(root, "model", p->model))
    return root;
  cJSON_Delete(root);
  return NULL;
}

/* A count member as an integer >= 0 (absent or odd values count as 0). */
static int64_t count(const cJSON *o, const char *key) {
  const cJSON *v = oll_member(o, key);
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9e15)
    return 0;
  return (int64_t)v->valuedouble;
}

/* Appends one Ollama tool call to p->tool_calls as a canonical one (id "call_<n>", arguments
 * as a JSON text) and, when delta is not NULL, to delta.tool_calls with its index. */
static int take_tool_call(oll_parse *p, const cJSON *tc, cJSON *delta) {
  char at[48];
  const cJSON *fn = oll_member(tc, "function");
  const cJSON *name = oll_member(fn, "name");
  if (!cJSON_IsObject(fn) || !cJSON_IsString(name))
    return set_err(p, AGENTAI_EMALFORMED, "a tool call in %s has no function name",
                   where(p, at, sizeof at));
  const cJSON *args = oll_member(fn, "arguments");
  char *text = NULL;
  if (oll_unset(args))
    text = strdup("{}");
  else if (cJSON_IsObject(args))
    text = cJSON_PrintUnformatted(args);
  else if (cJSON_IsString(args)) /* some Ollama-compatible servers send OpenAI's string form */
    text = strdup(args->valuestring);
  else
    return set_err(p, AGENTAI_EMALFORMED,
                   "tool call \"%.60s\" in %s has arguments that are not an object",
                   name->valuestring, where(p, at, sizeof at));
  if (!text)
    return set_err(p, AGENTAI_ENOMEM, "out of memory");
  if (!p->tool_calls && !(p->tool_calls = cJSON_CreateArray())) {
    free(text);
    return set_err(p, AGENTAI_ENOMEM, "out of memory");
  }
  int index = cJSON_GetArraySize(p->tool_calls);
  char id[32];
  snprintf(id, sizeof id, "call_%d", index + 1);
  cJSON *call = cJSON_CreateObject();
  cJSON *f = NULL;
  int ok = cJSON_AddItemToArray(p->tool_calls, call) && cJSON_AddStringToObject(call, "id", id) &&
           cJSON_AddStringToObject(call, "type", "function") &&
           (f = cJSON_AddObjectToObject(call, "function")) &&
           cJSON_AddStringToObject(f, "name", name->valuestring) &&
           cJSON_AddStringToObject(f, "arguments", text);
  free(text);
  if (ok && delta) {
    /* the delta form: OpenAI's index first, then the call whole */
    cJSON *list = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    if (!list)
      list = cJSON_AddArrayToObject(delta, "tool_calls");
    cJSON *item = cJSON_CreateObject();
    ok = list && cJSON_AddItemToArray(list, item) &&
         cJSON_AddNumberToObject(item, "index", index) && cJSON_AddStringToObject(item, "id", id) &&
         cJSON_AddStringToObject(item, "type", "function") &&
         oll_attach(item, "function", cJSON_Duplicate(f, 1));
    if (!list)
      cJSON_Delete(item);
  }
  return ok ? 0 : set_err(p, AGENTAI_ENOMEM, "out of memory");
}

/* Sends the chunk of one line; takes delta. */
static int emit_chunk(oll_parse *p, cJSON *delta, int final) {
  cJSON *root = envelope(p, "chat.completion.chunk");
  cJSON *choices = root ? cJSON_AddArrayToObject(root, "choices") : NULL;
  cJSON *choice = cJSON_CreateObject();
  int ok = choice && cJSON_AddNumberToObject(choice, "index", 0);
  ok = ok ? oll_attach(choice, "delta", delta) : (cJSON_Delete(delta), 0);
  ok = ok && cJSON_AddNullToObject(choice, "logprobs") &&
       (final ? cJSON_AddStringToObject(choice, "finish_reason", finish_reason(p)) != NULL
              : cJSON_AddNullToObject(choice, "finish_reason") != NULL);
  if (!choices || !cJSON_AddItemToArray(choices, choice)) {
    cJSON_Delete(choice);
    ok = 0;
  }
  ok = ok && (!final || add_usage(root, p) == 0);
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return set_err(p, AGENTAI_ENOMEM, "out of memory");
  p->started = 1;
  int rc = p->emit(p->emit_ud, text, strlen(text));
  free(text);
  return rc;
}

int oll_parse_line(oll_parse *p, const char *line, size_t len) {
  if (p->err)
    return p->err;
  if (p->done)
    return 0; /* Ollama ends a stream with done:true: anything after it is not part of the answer */
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
    i++;
  if (i == len)
    return 0;
  p->objects++;
  char at[48];
  cJSON *o = cJSON_ParseWithLength(line, len);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return set_err(p, AGENTAI_EMALFORMED, "%s is not a JSON object", where(p, at, sizeof at));
  }
  int rc = 0;
  cJSON *delta = NULL;
  const cJSON *error = oll_member(o, "error");
  const cJSON *msg = oll_member(o, "message");
  const cJSON *content = oll_member(msg, "content");
  const cJSON *thinking = oll_member(msg, "thinking");
  const cJSON *calls = oll_member(msg, "tool_calls");
  const cJSON *done = oll_member(o, "done");
  if (!oll_unset(error)) {
    char detail[310];
    if (!uh_error_detail(line, len, detail, sizeof detail))
      snprintf(detail, sizeof detail, "an error without a message");
    rc = set_err(p, AGENTAI_EUPSTREAM, "upstream error: %s", detail);
  } else if (!oll_unset(msg) && !cJSON_IsObject(msg)) {
    rc = set_err(p, AGENTAI_EMALFORMED, "\"message\" in %s is not an object",
                 where(p, at, sizeof at));
  } else if (!oll_unset(content) && !cJSON_IsString(content)) {
    rc = set_err(p, AGENTAI_EMALFORMED, "\"message.content\" in %s is not a string",
                 where(p, at, sizeof at));
  } else if (!oll_unset(thinking) && !cJSON_IsString(thinking)) {
    rc = set_err(p, AGENTAI_EMALFORMED, "\"message.thinking\" in %s is not a string",
                 where(p, at, sizeof at));
  } else if (!oll_unset(calls) && !cJSON_IsArray(calls)) {
    rc = set_err(p, AGENTAI_EMALFORMED, "\"message.tool_calls\" in %s is not an array",
                 where(p, at, sizeof at));
  } else if (!oll_unset(done) && !cJSON_IsBool(done)) {
    rc = set_err(p, AGENTAI_EMALFORMED, "\"done\" in %s is not a boolean", where(p, at, sizeof at));
  } else if (p->emit && !(delta = cJSON_CreateObject())) {
    rc = set_err(p, AGENTAI_ENOMEM, "out of memory");
  }
  if (rc < 0) {
    cJSON_Delete(o);
    return rc;
  }

  const cJSON *model = oll_member(o, "model");
  if (cJSON_IsString(model) && model->valuestring[0] && strcmp(model->valuestring, p->model)) {
    char *copy = strdup(model->valuestring);
    if (copy) {
      free(p->model);
      p->model = copy;
    }
  }
  const cJSON *created_at = oll_member(o, "created_at");
  int64_t t;
  if (!p->have_created && cJSON_IsString(created_at) &&
      uh_parse_rfc3339(created_at->valuestring, &t) == 0 && t >= 0) {
    p->created = t;
    p->have_created = 1;
  }

  int said = 0; /* the line adds something to the answer */
  if (delta && !p->started && !cJSON_AddStringToObject(delta, "role", "assistant"))
    rc = set_err(p, AGENTAI_ENOMEM, "out of memory");
  const char *text = cJSON_IsString(content) ? content->valuestring : "";
  if (rc == 0 && text[0]) {
    said = 1;
    if (uh_buf_puts(&p->content, text) < 0)
      rc = set_err(p, AGENTAI_ENOMEM, "out of memory");
  }
  if (rc == 0 && delta && (text[0] || !p->started) &&
      !cJSON_AddStringToObject(delta, "content", text))
    rc = set_err(p, AGENTAI_ENOMEM, "out of memory");
  /* a thinking model's reasoning (think: true), under the name DeepSeek and vLLM use */
  const char *thought = cJSON_IsString(thinking) ? thinking->valuestring : "";
  if (rc == 0 && thought[0]) {
    said = 1;
    if (uh_buf_puts(&p->thinking, thought) < 0 ||
        (delta && !cJSON_AddStringToObject(delta, "reasoning_content", thought)))
      rc = set_err(p, AGENTAI_ENOMEM, "out of memory");
  }
  const cJSON *tc;
  cJSON_ArrayForEach(tc, calls) {
    if (rc < 0)
      break;
    said = 1;
    rc = take_tool_call(p, tc, delta);
  }
  if (rc == 0 && cJSON_IsTrue(done)) {
    p->done = 1;
    const cJSON *reason = oll_member(o, "done_reason");
    p->length = cJSON_IsString(reason) && strcmp(reason->valuestring, "length") == 0;
    p->prompt_tokens = count(o, "prompt_eval_count");
    p->completion_tokens = count(o, "eval_count");
  }
  cJSON_Delete(o);
  if (rc < 0 || !delta) {
    cJSON_Delete(delta);
    return rc;
  }
  if (!said && p->started && !p->done) {
    cJSON_Delete(delta); /* an empty keep-going line: nothing to tell */
    return 0;
  }
  return emit_chunk(p, delta, p->done);
}

int oll_parse_end(oll_parse *p, int whole, char **out, size_t *out_len) {
  if (p->err)
    return p->err;
  if (p->objects == 0)
    return whole ? set_err(p, AGENTAI_EMALFORMED, "the response body is empty")
                 : set_err(p, AGENTAI_EUPSTREAM, "stream ended before done");
  if (!p->done && !whole)
    return set_err(p, AGENTAI_EUPSTREAM, "stream ended before done");
  cJSON *root = envelope(p, "chat.completion");
  cJSON *choices = root ? cJSON_AddArrayToObject(root, "choices") : NULL;
  cJSON *choice = cJSON_CreateObject();
  if (!choices || !cJSON_AddItemToArray(choices, choice)) {
    cJSON_Delete(choice);
    choice = NULL;
  }
  cJSON *msg = NULL;
  const char *content = uh_buf_cstr(&p->content);
  int calls = cJSON_GetArraySize(p->tool_calls) > 0;
  int ok = content && choice && cJSON_AddNumberToObject(choice, "index", 0) &&
           (msg = cJSON_AddObjectToObject(choice, "message")) &&
           cJSON_AddStringToObject(msg, "role", "assistant") &&
           /* OpenAI's shape: content is null when the answer is only tool calls */
           (calls && !content[0] ? cJSON_AddNullToObject(msg, "content") != NULL
                                 : cJSON_AddStringToObject(msg, "content", content) != NULL);
  if (ok && p->thinking.len)
    ok = cJSON_AddStringToObject(msg, "reasoning_content", p->thinking.data) != NULL;
  if (ok && calls)
    ok = oll_attach(msg, "tool_calls", cJSON_Duplicate(p->tool_calls, 1));
  ok = ok && cJSON_AddNullToObject(choice, "logprobs") &&
       cJSON_AddStringToObject(choice, "finish_reason", finish_reason(p)) &&
       add_usage(root, p) == 0;
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return set_err(p, AGENTAI_ENOMEM, "out of memory");
  *out = text;
  *out_len = strlen(text);
  return 0;
}
