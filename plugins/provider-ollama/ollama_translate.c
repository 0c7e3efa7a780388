/* provider-ollama/ollama_translate.c — canonical (OpenAI) requests to Ollama's /api/chat and
 * /api/embed bodies, and Ollama's /api/embed and /api/tags responses back to canonical shapes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ollama.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(char *err, size_t err_len, const char *fmt, ...) {
  if (err && err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EINVAL;
}

/* Prints root into *out / *out_len and deletes it. */
static int print_owned(cJSON *root, char **out, size_t *out_len) {
  char *text = root ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return AGENTAI_ENOMEM;
  *out = text;
  *out_len = strlen(text);
  return 0;
}

/* Whether v is a number with an integral value that a double holds exactly. */
static int is_integer(const cJSON *v) {
  return cJSON_IsNumber(v) && v->valuedouble >= -9007199254740992.0 &&
         v->valuedouble <= 9007199254740992.0 && (double)(int64_t)v->valuedouble == v->valuedouble;
}

/* ---- chat: messages ---- */

/* The base64 payload of a data: URL ("data:image/png;base64,AAAA"), or NULL. */
static const char *data_url_payload(const char *url) {
  if (strncmp(url, "data:", 5) != 0)
    return NULL;
  const char *comma = strchr(url, ',');
  if (!comma || comma - url < 12 || strncmp(comma - 7, ";base64", 7) != 0)
    return NULL;
  return comma + 1;
}

/* Sets msg.content (and msg.images) from a canonical content value: a string, null, or an array
 * of parts whose text parts are joined by newlines and whose data: URL images become images. */
static int put_content(cJSON *msg, const cJSON *content, size_t mi, char *err, size_t err_len) {
  if (oll_unset(content))
    return cJSON_AddStringToObject(msg, "content", "") ? 0 : AGENTAI_ENOMEM;
  if (cJSON_IsString(content))
    return cJSON_AddStringToObject(msg, "content", content->valuestring) ? 0 : AGENTAI_ENOMEM;
  if (!cJSON_IsArray(content))
    return fail(err, err_len, "messages[%zu].content: expected a string, an array of parts or null",
                mi);
  uh_buf text = {0};
  cJSON *images = NULL;
  int rc = 0;
  size_t j = 0;
  const cJSON *part;
  cJSON_ArrayForEach(part, content) {
    const cJSON *type = oll_member(part, "type");
    if (!cJSON_IsString(type)) {
      rc = fail(err, err_len, "messages[%zu].content[%zu].type: expected a string", mi, j);
      break;
    }
    if (strcmp(type->valuestring, "text") == 0) {
      const cJSON *t = oll_member(part, "text");
      if (!cJSON_IsString(t)) {
        rc = fail(err, err_len, "messages[%zu].content[%zu].text: expected a string", mi, j);
        break;
      }
      if ((text.len && (rc = uh_buf_puts(&text, "\n")) < 0) ||
          (rc = uh_buf_puts(&text, t->valuestring)) < 0)
        break;
    } else if (strcmp(type->valuestring, "image_url") == 0) {
      const cJSON *iu = oll_member(part, "image_url");
      const cJSON *url = cJSON_IsObject(iu) ? oll_member(iu, "url") : iu;
      const char *b64 = cJSON_IsString(url) ? data_url_payload(url->valuestring) : NULL;
      if (!b64) {
        rc = fail(err, err_len,
                  "messages[%zu].content[%zu].image_url: Ollama takes images as base64 data: URLs "
                  "only",
                  mi, j);
        break;
      }
      if ((!images && !(images = cJSON_AddArrayToObject(msg, "images"))) ||
          !cJSON_AddItemToArray(images, cJSON_CreateString(b64))) {
        rc = AGENTAI_ENOMEM;
        break;
      }
    } else {
      rc = fail(err, err_len,
                "messages[%zu].content[%zu].type: unsupported part \"%.40s\" (text and image_url "
                "are)",
                mi, j, type->valuestring);
      break;
    }
    j++;
  }
  const char *joined = rc == 0 ? uh_buf_cstr(&text) : NULL;
  if (rc == 0 && (!joined || !cJSON_AddStringToObject(msg, "content", joined)))
    rc = AGENTAI_ENOMEM;
  uh_buf_free(&text);
  return rc;
}

/* Translates an assistant message's tool_calls: arguments JSON strings become objects. */
static int put_tool_calls(cJSON *msg, const cJSON *calls, size_t mi, char *err, size_t err_len) {
  if (!cJSON_IsArray(calls))
    return fail(err, err_len, "messages[%zu].tool_calls: expected an array", mi);
  cJSON *out = cJSON_AddArrayToObject(msg, "tool_calls");
  if (!out)
    return AGENTAI_ENOMEM;
  size_t j = 0;
  const cJSON *call;
  cJSON_ArrayForEach(call, calls) {
    const cJSON *fn = oll_member(call, "function");
    const cJSON *name = cJSON_IsObject(fn) ? oll_member(fn, "name") : NULL;
    if (!cJSON_IsString(name))
      return fail(err, err_len, "messages[%zu].tool_calls[%zu].function.name: expected a string",
                  mi, j);
    const cJSON *args = oll_member(fn, "arguments");
    cJSON *obj = NULL;
    if (oll_unset(args) ||
        (cJSON_IsString(args) && args->valuestring[strspn(args->valuestring, " \t\r\n")] == '\0'))
      obj = cJSON_CreateObject(); /* no arguments */
    else if (cJSON_IsString(args))
      obj = cJSON_Parse(args->valuestring);
    else if (cJSON_IsObject(args))
      obj = cJSON_Duplicate(args, 1);
    if (!cJSON_IsObject(obj)) {
      cJSON_Delete(obj);
      return fail(err, err_len,
                  "messages[%zu].tool_calls[%zu].function.arguments: expected a JSON object text",
                  mi, j);
    }
    cJSON *item = cJSON_CreateObject();
    cJSON *f = item ? cJSON_AddObjectToObject(item, "function") : NULL;
    if (!cJSON_AddItemToArray(out, item) || !f ||
        !cJSON_AddStringToObject(f, "name", name->valuestring) ||
        !cJSON_AddItemToObject(f, "arguments", obj)) {
      cJSON_Delete(obj);
      return AGENTAI_ENOMEM;
    }
    j++;
  }
  return 0;
}

/* The function name of the tool call `id` in the latest assistant message before messages[mi]:
 * Ollama matches a tool result to its call by tool_name, not by id. */
static const char *tool_name_for(const cJSON *messages, size_t mi, const char *id) {
  for (size_t i = mi; i-- > 0;) {
    const cJSON *m = cJSON_GetArrayItem(messages, (int)i);
    const cJSON *calls = oll_member(m, "tool_calls");
    const cJSON *call;
    cJSON_ArrayForEach(call, calls) {
      const cJSON *cid = oll_member(call, "id");
      const cJSON *name = oll_member(oll_member(call, "function"), "name");
      if (cJSON_IsString(cid) && strcmp(cid->valuestring, id) == 0 && cJSON_IsString(name))
        return name->valuestring;
    }
  }
  return NULL;
}

static int put_message(cJSON *out, const cJSON *messages, const cJSON *m, size_t mi, char *err,
                       size_t err_len) {
  if (!cJSON_IsObject(m))
    return fail(err, err_len, "messages[%zu]: expected an object", mi);
  const cJSON *role = oll_member(m, "role");
  if (!cJSON_IsString(role))
    return fail(err, err_len, "messages[%zu].role: expected a string", mi);
  const char *r = role->valuestring;
  if (strcmp(r, "developer") == 0)
    r = "system"; /* OpenAI's newer name for the system role */
  else if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0 &&
           strcmp(r, "tool") != 0)
    return fail(err, err_len,
                "messages[%zu].role: unknown role \"%.40s\" (system, developer, user, assistant, "
                "tool)",
                mi, r);
  cJSON *msg = cJSON_CreateObject();
  if (!cJSON_AddItemToArray(out, msg) || !cJSON_AddStringToObject(msg, "role", r))
    return AGENTAI_ENOMEM;
  int rc = put_content(msg, oll_member(m, "content"), mi, err, err_len);
  if (rc < 0)
    return rc;
  const cJSON *calls = oll_member(m, "tool_calls");
  if (strcmp(r, "assistant") == 0 && !oll_unset(calls))
    return put_tool_calls(msg, calls, mi, err, err_len);
  if (strcmp(r, "tool") == 0) {
    const cJSON *id = oll_member(m, "tool_call_id");
    const char *name = cJSON_IsString(id) ? tool_name_for(messages, mi, id->valuestring) : NULL;
    if (name && !cJSON_AddStringToObject(msg, "tool_name", name))
      return AGENTAI_ENOMEM;
  }
  return 0;
}

/* ---- chat: options ---- */

/* Copies a number member (null = unset) into options under to. */
static int put_number(cJSON *options, const cJSON *req, const char *from, const char *to,
                      int integer, char *err, size_t err_len) {
  const cJSON *v = oll_member(req, from);
  if (oll_unset(v))
    return 0;
  if (integer ? !is_integer(v) : !cJSON_IsNumber(v))
    return fail(err, err_len, "%s: expected %s", from, integer ? "an integer" : "a number");
  cJSON_DeleteItemFromObjectCaseSensitive(options, to);
  return cJSON_AddNumberToObject(options, to, v->valuedouble) ? 0 : AGENTAI_ENOMEM;
}

static int put_stop(cJSON *options, const cJSON *stop, char *err, size_t err_len) {
  if (oll_unset(stop))
    return 0;
  cJSON *arr = NULL;
  if (cJSON_IsString(stop)) {
    arr = cJSON_CreateArray();
    if (arr && !cJSON_AddItemToArray(arr, cJSON_CreateString(stop->valuestring))) {
      cJSON_Delete(arr);
      arr = NULL;
    }
  } else if (cJSON_IsArray(stop)) {
    const cJSON *s;
    cJSON_ArrayForEach(s, stop) if (!cJSON_IsString(s)) return fail(
        err, err_len, "stop: expected a string or an array of strings");
    arr = cJSON_Duplicate(stop, 1);
  } else {
    return fail(err, err_len, "stop: expected a string or an array of strings");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(options, "stop");
  return oll_attach(options, "stop", arr) ? 0 : AGENTAI_ENOMEM;
}

/* Builds "options": the request's own Ollama options object, then the canonical sampling
 * members on top (they are the portable spelling, so they win). */
static int put_options(cJSON *body, const cJSON *req, char *err, size_t err_len) {
  const cJSON *given = oll_member(req, "options");
  if (!oll_unset(given) && !cJSON_IsObject(given))
    return fail(err, err_len, "options: expected an object of Ollama options");
  cJSON *options = oll_unset(given) ? cJSON_CreateObject() : cJSON_Duplicate(given, 1);
  if (!options)
    return AGENTAI_ENOMEM;
  int rc = 0;
  const cJSON *max = oll_member(req, "max_completion_tokens");
  const char *max_name = oll_unset(max) ? "max_tokens" : "max_completion_tokens";
  if ((rc = put_number(options, req, "temperature", "temperature", 0, err, err_len)) < 0 ||
      (rc = put_number(options, req, "top_p", "top_p", 0, err, err_len)) < 0 ||
      (rc = put_number(options, req, "seed", "seed", 1, err, err_len)) < 0 ||
      (rc = put_number(options, req, "presence_penalty", "presence_penalty", 0, err, err_len)) <
          0 ||
      (rc = put_number(options, req, "frequency_penalty", "frequency_penalty", 0, err, err_len)) <
          0 ||
      (rc = put_number(options, req, max_name, "num_predict", 1, err, err_len)) < 0 ||
      (rc = put_stop(options, oll_member(req, "stop"), err, err_len)) < 0) {
    cJSON_Delete(options);
    return rc;
  }
  if (!cJSON_GetArraySize(options)) {
    cJSON_Delete(options);
    return 0;
  }
  return cJSON_AddItemToObject(body, "options", options) ? 0
                                                         : (cJSON_Delete(options), AGENTAI_ENOMEM);
}

/* response_format: json_object -> "json", json_schema -> the schema itself (Ollama's structured
 * outputs), text -> nothing. */
static int put_format(cJSON *body, const cJSON *rf, char *err, size_t err_len) {
  if (oll_unset(rf))
    return 0;
  const cJSON *type = oll_member(rf, "type");
  if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
    return fail(err, err_len, "response_format: expected an object with a \"type\"");
  if (strcmp(type->valuestring, "text") == 0)
    return 0;
  if (strcmp(type->valuestring, "json_object") == 0)
    return cJSON_AddStringToObject(body, "format", "json") ? 0 : AGENTAI_ENOMEM;
  if (strcmp(type->valuestring, "json_schema") == 0) {
    const cJSON *schema = oll_member(oll_member(rf, "json_schema"), "schema");
    if (!cJSON_IsObject(schema))
      return fail(err, err_len, "response_format.json_schema.schema: expected an object");
    return oll_attach(body, "format", cJSON_Duplicate(schema, 1)) ? 0 : AGENTAI_ENOMEM;
  }
  return fail(err, err_len,
              "response_format.type: unsupported \"%.40s\" (text, json_object, json_schema)",
              type->valuestring);
}

static int put_tools(cJSON *body, const cJSON *req, char *err, size_t err_len) {
  const cJSON *tools = oll_member(req, "tools");
  if (oll_unset(tools))
    return 0;
  if (!cJSON_IsArray(tools))
    return fail(err, err_len, "tools: expected an array");
  size_t i = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, tools) {
    const cJSON *name = oll_member(oll_member(t, "function"), "name");
    if (!cJSON_IsObject(t) || !cJSON_IsString(name))
      return fail(err, err_len, "tools[%zu].function.name: expected a string", i);
    i++;
  }
  /* Ollama has no tool_choice: "none" is honoured by not offering the tools. */
  const cJSON *choice = oll_member(req, "tool_choice");
  if (cJSON_IsString(choice) && strcmp(choice->valuestring, "none") == 0)
    return 0;
  return oll_attach(body, "tools", cJSON_Duplicate(tools, 1)) ? 0 : AGENTAI_ENOMEM;
}

/* Copies keep_alive (a duration string or seconds) through unchanged. */
static int put_keep_alive(cJSON *body, const cJSON *req, char *err, size_t err_len) {
  const cJSON *ka = oll_member(req, "keep_alive");
  if (oll_unset(ka))
    return 0;
  if (!cJSON_IsString(ka) && !cJSON_IsNumber(ka))
    return fail(err, err_len, "keep_alive: expected a duration string or a number of seconds");
  return oll_attach(body, "keep_alive", cJSON_Duplicate(ka, 0)) ? 0 : AGENTAI_ENOMEM;
}

int oll_chat_request(const cJSON *req, char **body, size_t *body_len, int *stream, char *err,
                     size_t err_len) {
  if (!cJSON_IsObject(req))
    return fail(err, err_len, "request: expected a JSON object");
  const cJSON *model = oll_member(req, "model");
  if (!cJSON_IsString(model) || !model->valuestring[0])
    return fail(err, err_len, "model: expected a model name");
  const cJSON *messages = oll_member(req, "messages");
  if (!cJSON_IsArray(messages))
    return fail(err, err_len, "messages: expected an array");
  const cJSON *st = oll_member(req, "stream");
  if (!oll_unset(st) && !cJSON_IsBool(st))
    return fail(err, err_len, "stream: expected true or false");
  *stream = cJSON_IsTrue(st);

  cJSON *root = cJSON_CreateObject();
  cJSON *msgs = root ? cJSON_AddArrayToObject(root, "messages") : NULL;
  if (!msgs || !cJSON_AddStringToObject(root, "model", model->valuestring)) {
    cJSON_Delete(root);
    return AGENTAI_ENOMEM;
  }
  int rc = 0;
  size_t mi = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, messages) {
    if ((rc = put_message(msgs, messages, m, mi++, err, err_len)) < 0)
      break;
  }
  if (rc == 0 && !cJSON_AddBoolToObject(root, "stream", *stream))
    rc = AGENTAI_ENOMEM;
  if (rc == 0)
    rc = put_tools(root, req, err, err_len);
  if (rc == 0)
    rc = put_options(root, req, err, err_len);
  if (rc == 0)
    rc = put_format(root, oll_member(req, "response_format"), err, err_len);
  if (rc == 0)
    rc = put_keep_alive(root, req, err, err_len);
  const cJSON *think = oll_member(req, "think");
  if (rc == 0 && !oll_unset(think)) {
    if (!cJSON_IsBool(think) && !cJSON_IsString(think))
      rc = fail(err, err_len, "think: expected true, false or a level string");
    else if (!oll_attach(root, "think", cJSON_Duplicate(think, 0)))
      rc = AGENTAI_ENOMEM;
  }
  if (rc < 0) {
    cJSON_Delete(root);
    return rc;
  }
  return print_owned(root, body, body_len);
}

/* ---- embeddings ---- */

int oll_embed_request(const cJSON *req, char **body, size_t *body_len, int *encoding, char *err,
                      size_t err_len) {
  if (!cJSON_IsObject(req))
    return fail(err, err_len, "request: expected a JSON object");
  const cJSON *model = oll_member(req, "model");
  if (!cJSON_IsString(model) || !model->valuestring[0])
    return fail(err, err_len, "model: expected a model name");
  const cJSON *input = oll_member(req, "input");
  if (cJSON_IsArray(input)) {
    if (cJSON_GetArraySize(input) == 0)
      return fail(err, err_len, "input: expected a non-empty array");
    size_t i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, input) {
      if (!cJSON_IsString(s))
        return fail(err, err_len,
                    "input[%zu]: expected a string (Ollama embeds text, not token arrays)", i);
      i++;
    }
  } else if (!cJSON_IsString(input)) {
    return fail(err, err_len, "input: expected a string or an array of strings");
  }
  const cJSON *fmt = oll_member(req, "encoding_format");
  *encoding = OLL_ENC_FLOAT;
  if (!oll_unset(fmt)) {
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0)
      *encoding = OLL_ENC_BASE64;
    else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "float") != 0)
      return fail(err, err_len, "encoding_format: expected \"float\" or \"base64\"");
  }
  const cJSON *dims = oll_member(req, "dimensions");
  if (!oll_unset(dims) && (!is_integer(dims) || dims->valuedouble < 1))
    return fail(err, err_len, "dimensions: expected a positive integer");
  const cJSON *truncate = oll_member(req, "truncate");
  if (!oll_unset(truncate) && !cJSON_IsBool(truncate))
    return fail(err, err_len, "truncate: expected true or false");

  cJSON *root = cJSON_CreateObject();
  int rc = 0;
  if (!root || !cJSON_AddStringToObject(root, "model", model->valuestring) ||
      !oll_attach(root, "input", cJSON_Duplicate(input, 1)) ||
      (!oll_unset(dims) && !cJSON_AddNumberToObject(root, "dimensions", dims->valuedouble)) ||
      (!oll_unset(truncate) && !cJSON_AddBoolToObject(root, "truncate", cJSON_IsTrue(truncate))))
    rc = AGENTAI_ENOMEM;
  if (rc == 0)
    rc = put_keep_alive(root, req, err, err_len);
  if (rc < 0) {
    cJSON_Delete(root);
    return rc;
  }
  return print_owned(root, body, body_len);
}

/* Standard base64 of the embedding as little-endian float32s, as OpenAI's encoding_format
 * "base64" carries it. */
static cJSON *base64_floats(const cJSON *vec) {
  static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = (size_t)cJSON_GetArraySize(vec), bytes = n * 4;
  unsigned char *raw = malloc(bytes ? bytes : 1);
  char *text = malloc((bytes + 2) / 3 * 4 + 1);
  cJSON *out = NULL;
  if (raw && text) {
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vec) {
      float f = (float)v->valuedouble;
      uint32_t u;
      memcpy(&u, &f, 4);
      for (int k = 0; k < 4; k++)
        raw[i++] = (unsigned char)(u >> (8 * k));
    }
    size_t o = 0;
    for (i = 0; i + 2 < bytes; i += 3) {
      uint32_t w = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
      text[o++] = ALPHABET[w >> 18 & 63];
      text[o++] = ALPHABET[w >> 12 & 63];
      text[o++] = ALPHABET[w >> 6 & 63];
      text[o++] = ALPHABET[w & 63];
    }
    if (i < bytes) {
      uint32_t w = (uint32_t)raw[i] << 16 | (i + 1 < bytes ? (uint32_t)raw[i + 1] << 8 : 0);
      text[o++] = ALPHABET[w >> 18 & 63];
      text[o++] = ALPHABET[w >> 12 & 63];
      text[o++] = i + 1 < bytes ? ALPHABET[w >> 6 & 63] : '=';
      text[o++] = '=';
    }
    text[o] = '\0';
    out = cJSON_CreateString(text);
  }
  free(raw);
  free(text);
  return out;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
malformed(char *err, size_t err_len, const char *fmt, ...) {
  if (err && err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return AGENTAI_EMALFORMED;
}

int oll_embed_response(const char *body, size_t len, const char *model, int encoding, char **out,
                       size_t *out_len, char *err, size_t err_len) {
  cJSON *in = cJSON_ParseWithLength(body, len);
  const cJSON *embeddings = oll_member(in, "embeddings");
  if (!cJSON_IsObject(in) || !cJSON_IsArray(embeddings)) {
    cJSON_Delete(in);
    return malformed(err, err_len, "/api/embed answered without an \"embeddings\" array");
  }
  const cJSON *m = oll_member(in, "model");
  const cJSON *tokens = oll_member(in, "prompt_eval_count");
  cJSON *root = cJSON_CreateObject();
  cJSON *data = root ? cJSON_AddArrayToObject(root, "data") : NULL;
  int rc = data && cJSON_AddStringToObject(root, "object", "list") ? 0 : AGENTAI_ENOMEM;
  int index = 0;
  const cJSON *vec;
  cJSON_ArrayForEach(vec, embeddings) {
    if (rc < 0)
      break;
    const cJSON *x;
    int numbers = cJSON_IsArray(vec);
    cJSON_ArrayForEach(x, vec) numbers = numbers && cJSON_IsNumber(x);
    if (!numbers) {
      rc = malformed(err, err_len, "embeddings[%d] is not an array of numbers", index);
      break;
    }
    cJSON *item = cJSON_CreateObject();
    cJSON *e = encoding == OLL_ENC_BASE64 ? base64_floats(vec) : cJSON_Duplicate(vec, 1);
    if (!cJSON_AddItemToArray(data, item) || !e ||
        !cJSON_AddStringToObject(item, "object", "embedding") ||
        !cJSON_AddNumberToObject(item, "index", index) ||
        !cJSON_AddItemToObject(item, "embedding", e)) {
      cJSON_Delete(e);
      rc = AGENTAI_ENOMEM;
    }
    index++;
  }
  double n = cJSON_IsNumber(tokens) && tokens->valuedouble >= 0 ? tokens->valuedouble : 0;
  cJSON *usage = rc == 0 ? cJSON_AddObjectToObject(root, "usage") : NULL;
  if (rc == 0 && (!cJSON_AddStringToObject(root, "model",
                                           cJSON_IsString(m) ? m->valuestring
                                           : model           ? model
                                                             : "") ||
                  !usage || !cJSON_AddNumberToObject(usage, "prompt_tokens", n) ||
                  !cJSON_AddNumberToObject(usage, "total_tokens", n)))
    rc = AGENTAI_ENOMEM;
  cJSON_Delete(in);
  if (rc < 0) {
    cJSON_Delete(root);
    return rc;
  }
  return print_owned(root, out, out_len);
}

/* ---- models ---- */

int oll_tags_response(const char *body, size_t len, const char *owned_by, char **out,
                      size_t *out_len, char *err, size_t err_len) {
  cJSON *in = cJSON_ParseWithLength(body, len);
  const cJSON *models = oll_member(in, "models");
  if (!cJSON_IsObject(in) || !cJSON_IsArray(models)) {
    cJSON_Delete(in);
    return malformed(err, err_len, "/api/tags answered without a \"models\" array");
  }
  cJSON *root = cJSON_CreateObject();
  cJSON *data = root ? cJSON_AddArrayToObject(root, "data") : NULL;
  int rc = data && cJSON_AddStringToObject(root, "object", "list") ? 0 : AGENTAI_ENOMEM;
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    if (rc < 0)
      break;
    const cJSON *name = oll_member(m, "name");
    if (!cJSON_IsString(name))
      name = oll_member(m, "model");
    if (!cJSON_IsString(name)) {
      rc = malformed(err, err_len, "models[%d] has no \"name\"", i);
      break;
    }
    int64_t created = 0;
    const cJSON *mod = oll_member(m, "modified_at");
    if (!cJSON_IsString(mod) || uh_parse_rfc3339(mod->valuestring, &created) < 0 || created < 0)
      created = 0; /* Go's zero time is before 1970 */
    cJSON *item = cJSON_CreateObject();
    if (!cJSON_AddItemToArray(data, item) ||
        !cJSON_AddStringToObject(item, "id", name->valuestring) ||
        !cJSON_AddStringToObject(item, "object", "model") ||
        !cJSON_AddNumberToObject(item, "created", (double)created) ||
        !cJSON_AddStringToObject(item, "owned_by", owned_by ? owned_by : "ollama"))
      rc = AGENTAI_ENOMEM;
    i++;
  }
  cJSON_Delete(in);
  if (rc < 0) {
    cJSON_Delete(root);
    return rc;
  }
  return print_owned(root, out, out_len);
}
