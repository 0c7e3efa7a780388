/* provider-mock/mock_reply.c — the deterministic replies and streamed chunks the mock computes
 * for a request. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentai/plugin.h"
#include "mock.h"

/* Streamed tool-call arguments come in fragments of at most this many bytes. */
#define MOCK_ARG_FRAGMENT 16

/* Unicode code points of UTF-8 text: what "characters" means for usage. */
static size_t utf8_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* Byte length of the first `chars` code points of s. */
static size_t utf8_prefix(const char *s, size_t chars) {
  size_t i = 0, seen = 0;
  for (; s[i]; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (seen == chars)
        break;
      seen++;
    }
  }
  return i;
}

static int64_t tokens_of(size_t chars) {
  return (int64_t)((chars + 3) / 4);
}

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325u;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3u;
  }
  return h;
}

void mock_reply_error(mock_reply *r, int err, int http_status, const char *fmt, ...) {
  r->err = err;
  r->http_status = http_status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
}

void mock_reply_free(mock_reply *r) {
  free(r->response);
  for (size_t i = 0; i < r->n_chunks; i++)
    free(r->chunks[i]);
  free(r->chunks);
  free(r->chunk_lens);
  memset(r, 0, sizeof *r);
}

static void error_outcome(const mock_opts *o, const cJSON *e, mock_reply *out) {
  static const struct {
    const char *kind, *message;
  } DEFAULTS[] = {
      {"rate_limited", "mock provider: rate limited"},
      {"timeout", "mock provider: request timed out"},
      {"server_error", "mock provider: upstream server error"},
      {"malformed", "mock provider: response does not parse"},
      {"auth", "mock provider: authentication failed"},
  };
  const char *kind = cJSON_GetObjectItemCaseSensitive(e, "kind")->valuestring;
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
  const char *text = cJSON_IsString(msg) ? msg->valuestring : NULL;
  for (size_t i = 0; !text && i < sizeof DEFAULTS / sizeof DEFAULTS[0]; i++)
    if (strcmp(kind, DEFAULTS[i].kind) == 0)
      text = DEFAULTS[i].message;
  int http = 0;
  int code = mock_error_kind(kind, &http);
  mock_reply_error(out, code, http, "%s", text);
  uint64_t ms;
  if (mock_parse_ms(cJSON_GetObjectItemCaseSensitive(e, "retry_after_ms"), &ms) == 0)
    out->retry_after_ms = (int64_t)ms;
  out->delay_ms =
      mock_parse_ms(cJSON_GetObjectItemCaseSensitive(e, "after_ms"), &ms) == 0 ? ms : o->latency_ms;
}

/* One tool call of a completion, with every string resolved. */
typedef struct tool_call {
  const char *name;
  char *arguments; /* malloc */
  char id[64];
} tool_call;

/* The resolved completion before it is turned into JSON. */
typedef struct completion {
  char *content; /* malloc; NULL = JSON null */
  tool_call *calls;
  size_t n_calls;
  const char *finish_reason;
  int64_t prompt_tokens, completion_tokens;
  char id[64];
  const char *model;
  int64_t created;
} completion;

static void completion_free(completion *c) {
  free(c->content);
  for (size_t i = 0; i < c->n_calls; i++)
    free(c->calls[i].arguments);
  free(c->calls);
}

/* Fills c from a validated script reply; returns 0 or AGENTAI_ENOMEM. */
static int completion_from_script(completion *c, const cJSON *reply, size_t index) {
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(reply, "content");
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(reply, "tool_calls");
  const cJSON *finish = cJSON_GetObjectItemCaseSensitive(reply, "finish_reason");
  size_t n = (size_t)cJSON_GetArraySize(calls);
  if (cJSON_IsString(content)) {
    if (!(c->content = strdup(content->valuestring)))
      return AGENTAI_ENOMEM;
  } else if (!content && n == 0) {
    if (!(c->content = strdup("")))
      return AGENTAI_ENOMEM;
  }
  if (n) {
    if (!(c->calls = calloc(n, sizeof *c->calls)))
      return AGENTAI_ENOMEM;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls) {
      tool_call *t = &c->calls[c->n_calls];
      const cJSON *args = cJSON_GetObjectItemCaseSensitive(tc, "arguments");
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
      t->name = cJSON_GetObjectItemCaseSensitive(tc, "name")->valuestring;
      /* A string is passed through verbatim, so a script can send arguments
       * that do not parse and test how the caller copes. */
      t->arguments = cJSON_IsString(args)   ? strdup(args->valuestring)
                     : cJSON_IsObject(args) ? cJSON_PrintUnformatted(args)
                                            : strdup("{}");
      if (!t->arguments)
        return AGENTAI_ENOMEM;
      if (cJSON_IsString(id))
        snprintf(t->id, sizeof t->id, "%s", id->valuestring);
      else
        snprintf(t->id, sizeof t->id, "call_mock_%zu_%zu", index, c->n_calls);
      c->n_calls++;
    }
  }
  c->finish_reason = cJSON_IsString(finish) ? finish->valuestring : n ? "tool_calls" : "stop";
  return 0;
}

static cJSON *usage_json(const completion *c) {
  cJSON *u = cJSON_CreateObject();
  cJSON_AddNumberToObject(u, "prompt_tokens", (double)c->prompt_tokens);
  cJSON_AddNumberToObject(u, "completion_tokens", (double)c->completion_tokens);
  cJSON_AddNumberToObject(u, "total_tokens", (double)(c->prompt_tokens + c->completion_tokens));
  return u;
}

static cJSON *tool_call_json(const tool_call *t, size_t index, int with_index, const char *args) {
  cJSON *j = cJSON_CreateObject();
  if (with_index)
    cJSON_AddNumberToObject(j, "index", (double)index);
  if (t) {
    cJSON_AddStringToObject(j, "id", t->id);
    cJSON_AddStringToObject(j, "type", "function");
  }
  cJSON *fn = cJSON_AddObjectToObject(j, "function");
  if (t)
    cJSON_AddStringToObject(fn, "name", t->name);
  cJSON_AddStringToObject(fn, "arguments", args);
  return j;
}

static char *response_json(const completion *c, size_t *len) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "id", c->id);
  cJSON_AddStringToObject(root, "object", "chat.completion");
  cJSON_AddNumberToObject(root, "created", (double)c->created);
  cJSON_AddStringToObject(root, "model", c->model);
  cJSON *choice = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
  cJSON_AddNumberToObject(choice, "index", 0);
  cJSON *msg = cJSON_AddObjectToObject(choice, "message");
  cJSON_AddStringToObject(msg, "role", "assistant");
  if (c->content)
    cJSON_AddStringToObject(msg, "content", c->content);
  else
    cJSON_AddNullToObject(msg, "content");
  if (c->n_calls) {
    cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
    for (size_t i = 0; i < c->n_calls; i++)
      cJSON_AddItemToArray(calls, tool_call_json(&c->calls[i], i, 0, c->calls[i].arguments));
  }
  cJSON_AddStringToObject(choice, "finish_reason", c->finish_reason);
  cJSON_AddItemToObject(root, "usage", usage_json(c));
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (text)
    *len = strlen(text);
  return text;
}

/* A chunk skeleton; *delta receives its (empty) delta object. */
static cJSON *chunk_new(const completion *c, cJSON **delta, const char *finish_reason) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "id", c->id);
  cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
  cJSON_AddNumberToObject(root, "created", (double)c->created);
  cJSON_AddStringToObject(root, "model", c->model);
  cJSON *choices = cJSON_AddArrayToObject(root, "choices");
  if (delta) {
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    *delta = cJSON_AddObjectToObject(choice, "delta");
    if (finish_reason)
      cJSON_AddStringToObject(choice, "finish_reason", finish_reason);
    else
      cJSON_AddNullToObject(choice, "finish_reason");
  }
  return root;
}

/* Prints and appends a chunk to r (consumes root). */
static int chunk_push(mock_reply *r, cJSON *root, size_t cap) {
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text || r->n_chunks >= cap) {
    free(text);
    return AGENTAI_ENOMEM;
  }
  r->chunk_lens[r->n_chunks] = strlen(text);
  r->chunks[r->n_chunks++] = text;
  return 0;
}

static int is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Content pieces: each word with the whitespace after it (leading
 * whitespace rides with the first), so the pieces join to the content. */
static size_t next_word(const char *s, size_t start) {
  size_t i = start;
  while (s[i] && is_space(s[i]))
    i++;
  while (s[i] && !is_space(s[i]))
    i++;
  while (s[i] && is_space(s[i]))
    i++;
  return i;
}

/* Next argument fragment end: at most MOCK_ARG_FRAGMENT bytes, never
 * splitting a UTF-8 sequence. */
static size_t next_fragment(const char *s, size_t start, size_t len) {
  size_t end = start + MOCK_ARG_FRAGMENT;
  if (end >= len)
    return len;
  while (end > start + 1 && ((unsigned char)s[end] & 0xC0) == 0x80)
    end--;
  return end;
}

static int build_chunks(const completion *c, mock_reply *r) {
  /* Count first so one allocation holds every chunk. */
  size_t cap = 3; /* role, finish, usage */
  if (c->content)
    for (size_t i = 0; c->content[i]; i = next_word(c->content, i))
      cap++;
  for (size_t k = 0; k < c->n_calls; k++) {
    const char *a = c->calls[k].arguments;
    size_t len = strlen(a);
    cap++;
    for (size_t i = 0; i < len; i = next_fragment(a, i, len))
      cap++;
  }
  r->chunks = calloc(cap, sizeof *r->chunks);
  r->chunk_lens = calloc(cap, sizeof *r->chunk_lens);
  if (!r->chunks || !r->chunk_lens)
    return AGENTAI_ENOMEM;

  cJSON *delta, *root = chunk_new(c, &delta, NULL);
  cJSON_AddStringToObject(delta, "role", "assistant");
  if (c->content)
    cJSON_AddStringToObject(delta, "content", "");
  else
    cJSON_AddNullToObject(delta, "content");
  if (chunk_push(r, root, cap) < 0)
    return AGENTAI_ENOMEM;

  if (c->content) {
    for (size_t i = 0, end; c->content[i]; i = end) {
      end = next_word(c->content, i);
      char *piece = strndup(c->content + i, end - i);
      if (!piece)
        return AGENTAI_ENOMEM;
      root = chunk_new(c, &delta, NULL);
      cJSON_AddStringToObject(delta, "content", piece);
      free(piece);
      if (chunk_push(r, root, cap) < 0)
        return AGENTAI_ENOMEM;
    }
  }
  for (size_t k = 0; k < c->n_calls; k++) {
    const char *a = c->calls[k].arguments;
    size_t len = strlen(a);
    root = chunk_new(c, &delta, NULL);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"),
                         tool_call_json(&c->calls[k], k, 1, ""));
    if (chunk_push(r, root, cap) < 0)
      return AGENTAI_ENOMEM;
    for (size_t i = 0, end; i < len; i = end) {
      end = next_fragment(a, i, len);
      char *piece = strndup(a + i, end - i);
      if (!piece)
        return AGENTAI_ENOMEM;
      root = chunk_new(c, &delta, NULL);
      cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"),
                           tool_call_json(NULL, k, 1, piece));
      free(piece);
      if (chunk_push(r, root, cap) < 0)
        return AGENTAI_ENOMEM;
    }
  }
  root = chunk_new(c, &delta, c->finish_reason);
  if (chunk_push(r, root, cap) < 0)
    return AGENTAI_ENOMEM;
  root = chunk_new(c, NULL, NULL);
  cJSON_AddItemToObject(root, "usage", usage_json(c));
  return chunk_push(r, root, cap);
}

/* Smallest positive of max_tokens / max_completion_tokens, or 0 for none. */
static int64_t max_tokens_of(const cJSON *req) {
  int64_t best = 0;
  const char *keys[] = {"max_tokens", "max_completion_tokens"};
  for (int i = 0; i < 2; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, keys[i]);
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e15) {
      int64_t n = (int64_t)v->valuedouble;
      if (!best || n < best)
        best = n;
    }
  }
  return best;
}

int mock_reply_build(const mock_opts *o, const cJSON *req, const char *model, int stream,
                     int64_t created, mock_reply *out) {
  memset(out, 0, sizeof *out);
  out->retry_after_ms = -1;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");

  /* Stateless script position: one reply per assistant turn already in the
   * conversation, so a replay of the same messages gets the same reply. */
  size_t index = 0;
  size_t prompt_chars = 0;
  const cJSON *msg;
  cJSON_ArrayForEach(msg, msgs) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
    if (strcmp(role->valuestring, "assistant") == 0)
      index++;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content)) {
      prompt_chars += utf8_chars(content->valuestring, strlen(content->valuestring));
    } else if (cJSON_IsArray(content)) {
      const cJSON *part;
      cJSON_ArrayForEach(part, content) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text))
          prompt_chars += utf8_chars(text->valuestring, strlen(text->valuestring));
      }
    }
  }

  completion c = {.model = model, .created = created};
  const cJSON *err_obj = NULL;
  int rc = 0;
  switch (o->mode) {
    case MOCK_FIXED:
      c.content = strdup(o->text->valuestring);
      rc = c.content ? 0 : AGENTAI_ENOMEM;
      break;
    case MOCK_SCRIPT: {
      size_t n = (size_t)cJSON_GetArraySize(o->script);
      if (index >= n) {
        mock_reply_error(out, AGENTAI_EINVAL, 0,
                         "mock script has %zu %s; the conversation asks for reply %zu", n,
                         n == 1 ? "reply" : "replies", index + 1);
        out->delay_ms = o->latency_ms;
        return 0;
      }
      const cJSON *reply = cJSON_GetArrayItem(o->script, (int)index);
      err_obj = cJSON_GetObjectItemCaseSensitive(reply, "error");
      if (!err_obj)
        rc = completion_from_script(&c, reply, index);
      break;
    }
    case MOCK_ERROR:
      err_obj = o->error;
      break;
    default: {
      char *last = mock_last_user_text(msgs);
      c.content = last ? last : strdup("");
      rc = c.content ? 0 : AGENTAI_ENOMEM;
      break;
    }
  }
  if (err_obj) {
    error_outcome(o, err_obj, out);
    return 0;
  }
  if (rc < 0) {
    completion_free(&c);
    return rc;
  }
  if (!c.finish_reason)
    c.finish_reason = "stop";

  int64_t limit = max_tokens_of(req);
  if (limit && c.content && !c.n_calls &&
      tokens_of(utf8_chars(c.content, strlen(c.content))) > limit) {
    c.content[utf8_prefix(c.content, (size_t)limit * 4)] = '\0';
    c.finish_reason = "length";
  }

  size_t completion_chars = c.content ? utf8_chars(c.content, strlen(c.content)) : 0;
  for (size_t i = 0; i < c.n_calls; i++)
    completion_chars += utf8_chars(c.calls[i].name, strlen(c.calls[i].name)) +
                        utf8_chars(c.calls[i].arguments, strlen(c.calls[i].arguments));
  c.prompt_tokens = tokens_of(prompt_chars);
  c.completion_tokens = tokens_of(completion_chars);

  char *printed = cJSON_PrintUnformatted(msgs);
  if (!printed) {
    completion_free(&c);
    return AGENTAI_ENOMEM;
  }
  snprintf(c.id, sizeof c.id, "chatcmpl-mock-%016" PRIx64 "-%zu", fnv1a64(printed), index);
  free(printed);

  out->delay_ms = o->latency_ms;
  out->response = response_json(&c, &out->response_len);
  rc = out->response ? 0 : AGENTAI_ENOMEM;
  if (rc == 0 && stream)
    rc = build_chunks(&c, out);
  completion_free(&c);
  if (rc < 0)
    mock_reply_free(out);
  return rc;
}
