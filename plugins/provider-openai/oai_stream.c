/* provider-openai/oai_stream.c — reads an OpenAI SSE response (data lines, comments, multi-line
 * data, [DONE]) and assembles the chat.completion from its chunks; no host services used. */
#include "oai_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/upstream_http.h"

#define MAX_CHOICES 128 /* "n" is capped far lower by every server we know */
#define MAX_TOOL_INDEX 1024

typedef struct tool_acc {
  int index;
  char *id, *type, *name;
  uh_buf args;
} tool_acc;

typedef struct choice_acc {
  int index;
  char *role, *finish_reason;
  uh_buf content, refusal, reasoning;
  int has_content, has_refusal, has_reasoning;
  tool_acc *tools;
  size_t n_tools;
} choice_acc;

struct oai_stream {
  oai_chunk_fn fn;
  void *ud;
  int forward_usage_chunk;
  size_t max_event;
  uh_lines lines;
  uh_buf data; /* the current event's data lines, joined by \n */
  int has_data;
  int done;
  int failed; /* a non-zero return happened: ignore further input */
  size_t chunks;
  char message[400];

  char *id, *model, *fingerprint;
  double created;
  int has_created;
  cJSON *usage;
  choice_acc *choices;
  size_t n_choices;
};

int oai_error_code(const cJSON *e) {
  if (!cJSON_IsObject(e))
    return AGENTAI_EUPSTREAM;
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
  const cJSON *num = cJSON_IsNumber(code) ? code : cJSON_GetObjectItemCaseSensitive(e, "status");
  if (cJSON_IsNumber(num) && num->valuedouble >= 400 && num->valuedouble < 600)
    return uh_status_to_err((int)num->valuedouble);
  const char *words[2] = {NULL, NULL};
  if (cJSON_IsString(code))
    words[0] = code->valuestring;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
  if (cJSON_IsString(type))
    words[1] = type->valuestring;
  for (int i = 0; i < 2; i++) {
    const char *w = words[i];
    if (!w)
      continue;
    if (strncasecmp(w, "rate_limit", 10) == 0 || strcasecmp(w, "insufficient_quota") == 0)
      return AGENTAI_ERATELIMIT;
    if (strcasecmp(w, "invalid_api_key") == 0 || strncasecmp(w, "authentication", 14) == 0 ||
        strcasecmp(w, "permission_error") == 0)
      return AGENTAI_EAUTH;
    if (strcasecmp(w, "model_not_found") == 0 || strncasecmp(w, "not_found", 9) == 0)
      return AGENTAI_ENOENT;
    if (strcasecmp(w, "context_length_exceeded") == 0)
      return AGENTAI_E2BIG;
    if (strncasecmp(w, "invalid_request", 15) == 0)
      return AGENTAI_EINVAL;
  }
  return AGENTAI_EUPSTREAM;
}

static int fail(oai_stream *s, int rc, const char *fmt, const char *detail) {
  snprintf(s->message, sizeof s->message, fmt, detail ? detail : "");
  s->failed = 1;
  return rc;
}

static char *copy_str(const char *v) {
  size_t n = strlen(v) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, v, n);
  return d;
}

/* Keeps the first non-empty string value seen for a field. */
static int keep_first(char **dst, const cJSON *v) {
  if (*dst || !cJSON_IsString(v) || !*v->valuestring)
    return 0;
  return (*dst = copy_str(v->valuestring)) ? 0 : AGENTAI_ENOMEM;
}

/* A JSON index that is a small non-negative integer, else -1. */
static int small_index(const cJSON *v, int dflt, int max) {
  if (!v)
    return dflt;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= max ||
      v->valuedouble != (double)(int)v->valuedouble)
    return -1;
  return (int)v->valuedouble;
}

static choice_acc *choice_at(oai_stream *s, int index) {
  for (size_t i = 0; i < s->n_choices; i++)
    if (s->choices[i].index == index)
      return &s->choices[i];
  choice_acc *grown = realloc(s->choices, (s->n_choices + 1) * sizeof *grown);
  if (!grown)
    return NULL;
  s->choices = grown;
  choice_acc *c = &grown[s->n_choices++];
  memset(c, 0, sizeof *c);
  c->index = index;
  return c;
}

static tool_acc *tool_at(choice_acc *c, int index) {
  for (size_t i = 0; i < c->n_tools; i++)
    if (c->tools[i].index == index)
      return &c->tools[i];
  tool_acc *grown = realloc(c->tools, (c->n_tools + 1) * sizeof *grown);
  if (!grown)
    return NULL;
  c->tools = grown;
  tool_acc *t = &grown[c->n_tools++];
  memset(t, 0, sizeof *t);
  t->index = index;
  return t;
}

/* Appends a string delta field to buf (null and absent add nothing). */
static int join_text(uh_buf *buf, int *has, const cJSON *v) {
  if (!cJSON_IsString(v))
    return 0;
  *has = 1;
  return uh_buf_puts(buf, v->valuestring);
}

static int absorb_tool_calls(oai_stream *s, choice_acc *c, const cJSON *calls) {
  if (!calls || cJSON_IsNull(calls))
    return 0;
  if (!cJSON_IsArray(calls))
    return fail(s, AGENTAI_EMALFORMED, "stream chunk: delta.tool_calls is not an array", NULL);
  int pos = 0;
  for (const cJSON *tc = calls->child; tc; tc = tc->next, pos++) {
    if (!cJSON_IsObject(tc))
      return fail(s, AGENTAI_EMALFORMED, "stream chunk: a tool call delta is not an object", NULL);
    int idx = small_index(cJSON_GetObjectItemCaseSensitive(tc, "index"), pos, MAX_TOOL_INDEX);
    if (idx < 0)
      return fail(s, AGENTAI_EMALFORMED, "stream chunk: bad tool call index", NULL);
    tool_acc *t = tool_at(c, idx);
    if (!t)
      return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    int has_args = 0;
    if (keep_first(&t->id, cJSON_GetObjectItemCaseSensitive(tc, "id")) != 0 ||
        keep_first(&t->type, cJSON_GetObjectItemCaseSensitive(tc, "type")) != 0 ||
        keep_first(&t->name, cJSON_GetObjectItemCaseSensitive(fn, "name")) != 0 ||
        join_text(&t->args, &has_args, cJSON_GetObjectItemCaseSensitive(fn, "arguments")) != 0)
      return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  }
  return 0;
}

static int absorb_choice(oai_stream *s, const cJSON *ch, int pos) {
  if (!cJSON_IsObject(ch))
    return fail(s, AGENTAI_EMALFORMED, "stream chunk: a choice is not an object", NULL);
  int idx = small_index(cJSON_GetObjectItemCaseSensitive(ch, "index"), pos, MAX_CHOICES);
  if (idx < 0)
    return fail(s, AGENTAI_EMALFORMED, "stream chunk: bad choice index", NULL);
  choice_acc *c = choice_at(s, idx);
  if (!c)
    return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
  if (cJSON_IsString(fr) && *fr->valuestring) {
    free(c->finish_reason); /* the last word counts */
    if (!(c->finish_reason = copy_str(fr->valuestring)))
      return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  }
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
  if (!d || cJSON_IsNull(d))
    return 0;
  if (!cJSON_IsObject(d))
    return fail(s, AGENTAI_EMALFORMED, "stream chunk: delta is not an object", NULL);
  if (keep_first(&c->role, cJSON_GetObjectItemCaseSensitive(d, "role")) != 0 ||
      join_text(&c->content, &c->has_content, cJSON_GetObjectItemCaseSensitive(d, "content")) ||
      join_text(&c->refusal, &c->has_refusal, cJSON_GetObjectItemCaseSensitive(d, "refusal")) ||
      join_text(&c->reasoning, &c->has_reasoning,
                cJSON_GetObjectItemCaseSensitive(d, "reasoning_content")))
    return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  return absorb_tool_calls(s, c, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"));
}

/* One event's data: [DONE], an error object, or a chunk to fold in and forward. */
static int dispatch(oai_stream *s) {
  const char *text = uh_buf_cstr(&s->data);
  size_t len = s->data.len;
  s->has_data = 0;
  if (!text)
    return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  if (len == 0)
    return 0; /* as the SSE spec says: an event with empty data is not dispatched */
  if (len == 6 && memcmp(text, "[DONE]", 6) == 0) {
    s->done = 1;
    s->data.len = 0;
    return 0;
  }
  cJSON *chunk = cJSON_ParseWithLength(text, len);
  if (!cJSON_IsObject(chunk)) {
    cJSON_Delete(chunk);
    return fail(s, AGENTAI_EMALFORMED, "stream data is not a JSON object", NULL);
  }
  int rc = 0;
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(chunk, "error");
  if (err && !cJSON_IsNull(err)) {
    char detail[320];
    uh_error_detail(text, len, detail, sizeof detail);
    rc = fail(s, oai_error_code(err), "upstream error in stream: %s",
              *detail ? detail : "(no message)");
    goto out;
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
  if (choices && !cJSON_IsArray(choices)) {
    rc = fail(s, AGENTAI_EMALFORMED, "stream chunk: choices is not an array", NULL);
    goto out;
  }
  const cJSON *created = cJSON_GetObjectItemCaseSensitive(chunk, "created");
  if (!s->has_created && cJSON_IsNumber(created)) {
    s->created = created->valuedouble;
    s->has_created = 1;
  }
  if (keep_first(&s->id, cJSON_GetObjectItemCaseSensitive(chunk, "id")) != 0 ||
      keep_first(&s->model, cJSON_GetObjectItemCaseSensitive(chunk, "model")) != 0 ||
      keep_first(&s->fingerprint, cJSON_GetObjectItemCaseSensitive(chunk, "system_fingerprint"))) {
    rc = fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
    goto out;
  }
  int pos = 0;
  for (const cJSON *ch = choices ? choices->child : NULL; ch && rc == 0; ch = ch->next)
    rc = absorb_choice(s, ch, pos++);
  if (rc != 0)
    goto out;
  cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
  int usage_only = 0;
  if (cJSON_IsObject(usage)) {
    cJSON_Delete(s->usage);
    s->usage = cJSON_DetachItemViaPointer(chunk, usage);
    usage_only = cJSON_GetArraySize(choices) == 0;
  }
  s->chunks++;
  if (s->fn && (!usage_only || s->forward_usage_chunk)) {
    rc = s->fn(s->ud, text, len);
    if (rc != 0)
      s->failed = 1;
  }
out:
  cJSON_Delete(chunk);
  s->data.len = 0;
  return rc;
}

/* One SSE line (RFC: field ":" [" "] value; a line starting with ':' is a comment; an empty line
 * dispatches the event). */
static int on_line(void *ud, const char *line, size_t len) {
  oai_stream *s = ud;
  if (s->done)
    return 0;
  if (len == 0)
    return s->has_data ? dispatch(s) : 0;
  if (line[0] == ':')
    return 0;
  const char *colon = memchr(line, ':', len);
  size_t name_len = colon ? (size_t)(colon - line) : len;
  if (name_len != 4 || memcmp(line, "data", 4) != 0)
    return 0; /* event:, id:, retry: and unknown fields change nothing here */
  const char *v = colon ? colon + 1 : line + len;
  if (v < line + len && *v == ' ')
    v++;
  size_t vlen = (size_t)(line + len - v);
  if (s->data.len + vlen + 1 > s->max_event)
    return fail(s, AGENTAI_E2BIG, "stream event larger than the limit", NULL);
  if ((s->has_data && uh_buf_append(&s->data, "\n", 1) != 0) ||
      uh_buf_append(&s->data, v, vlen) != 0)
    return fail(s, AGENTAI_ENOMEM, "out of memory", NULL);
  s->has_data = 1;
  return 0;
}

int oai_stream_new(oai_chunk_fn fn, void *ud, int forward_usage_chunk, size_t max_event,
                   oai_stream **out) {
  oai_stream *s = calloc(1, sizeof *s);
  if (!s)
    return AGENTAI_ENOMEM;
  s->fn = fn;
  s->ud = ud;
  s->forward_usage_chunk = forward_usage_chunk;
  s->max_event = max_event ? max_event : (size_t)8 << 20;
  uh_lines_init(&s->lines, s->max_event, 1);
  *out = s;
  return 0;
}

int oai_stream_feed(oai_stream *s, const char *data, size_t len) {
  if (s->failed)
    return AGENTAI_EINVAL;
  if (s->done)
    return 0;
  int rc = uh_lines_feed(&s->lines, data, len, on_line, s);
  if (rc == AGENTAI_E2BIG && !s->failed)
    return fail(s, rc, "stream line longer than the limit", NULL);
  if (rc == AGENTAI_ENOMEM && !s->failed)
    return fail(s, rc, "out of memory", NULL);
  return rc;
}

int oai_stream_finish(oai_stream *s) {
  if (s->failed)
    return AGENTAI_EINVAL;
  if (!s->done) {
    int rc = uh_lines_finish(&s->lines, on_line, s);
    if (rc == 0 && s->has_data && !s->done)
      rc = dispatch(s);
    if (rc != 0)
      return rc;
  }
  if (!s->done)
    return fail(s, AGENTAI_EUPSTREAM, "stream ended before [DONE]", NULL);
  return 0;
}

int oai_stream_done(const oai_stream *s) {
  return s->done;
}

const char *oai_stream_message(const oai_stream *s) {
  return s->message;
}

size_t oai_stream_chunks(const oai_stream *s) {
  return s->chunks;
}

static int cmp_choice(const void *a, const void *b) {
  return ((const choice_acc *)a)->index - ((const choice_acc *)b)->index;
}

static int cmp_tool(const void *a, const void *b) {
  return ((const tool_acc *)a)->index - ((const tool_acc *)b)->index;
}

/* A buffer's text: "" when nothing was appended. */
static const char *text_of(const uh_buf *b) {
  return b->data ? b->data : "";
}

/* Adds a string member, or null when s is NULL; returns 0 or -1. */
static int add_str(cJSON *o, const char *k, const char *v) {
  return (v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)) ? 0 : -1;
}

static cJSON *build_message(const choice_acc *c) {
  cJSON *m = cJSON_CreateObject();
  if (!m || add_str(m, "role", c->role ? c->role : "assistant") != 0)
    goto fail;
  const char *content = c->has_content ? text_of(&c->content) : NULL;
  if (add_str(m, "content", content ? content : c->n_tools ? NULL : "") != 0)
    goto fail;
  if (c->has_refusal && add_str(m, "refusal", text_of(&c->refusal)) != 0)
    goto fail;
  if (c->has_reasoning && add_str(m, "reasoning_content", text_of(&c->reasoning)) != 0)
    goto fail;
  if (c->n_tools) {
    cJSON *arr = cJSON_AddArrayToObject(m, "tool_calls");
    if (!arr)
      goto fail;
    tool_acc *sorted = malloc(c->n_tools * sizeof *sorted);
    if (!sorted)
      goto fail;
    memcpy(sorted, c->tools, c->n_tools * sizeof *sorted);
    qsort(sorted, c->n_tools, sizeof *sorted, cmp_tool);
    int bad = 0;
    for (size_t i = 0; i < c->n_tools && !bad; i++) {
      const tool_acc *t = &sorted[i];
      cJSON *tc = cJSON_CreateObject(), *fn = NULL;
      const char *args = text_of(&t->args);
      bad = !tc || !cJSON_AddItemToArray(arr, tc) || add_str(tc, "id", t->id ? t->id : "") != 0 ||
            add_str(tc, "type", t->type ? t->type : "function") != 0 ||
            !(fn = cJSON_AddObjectToObject(tc, "function")) ||
            add_str(fn, "name", t->name ? t->name : "") != 0 || add_str(fn, "arguments", args);
    }
    free(sorted);
    if (bad)
      goto fail;
  }
  return m;
fail:
  cJSON_Delete(m);
  return NULL;
}

char *oai_stream_result(const oai_stream *s, size_t *len) {
  cJSON *r = cJSON_CreateObject(), *choices = NULL;
  char *text = NULL;
  if (!r || add_str(r, "id", s->id ? s->id : "") != 0 ||
      add_str(r, "object", "chat.completion") != 0 ||
      !cJSON_AddNumberToObject(r, "created", s->has_created ? s->created : 0) ||
      add_str(r, "model", s->model ? s->model : "") != 0 ||
      (s->fingerprint && add_str(r, "system_fingerprint", s->fingerprint) != 0) ||
      !(choices = cJSON_AddArrayToObject(r, "choices")))
    goto out;
  choice_acc *sorted = NULL;
  size_t n = s->n_choices ? s->n_choices : 1;
  choice_acc empty = {0};
  if (!(sorted = malloc(n * sizeof *sorted)))
    goto out;
  if (s->n_choices)
    memcpy(sorted, s->choices, n * sizeof *sorted);
  else
    sorted[0] = empty; /* no delta arrived at all: one empty answer, not a missing one */
  qsort(sorted, n, sizeof *sorted, cmp_choice);
  int bad = 0;
  for (size_t i = 0; i < n && !bad; i++) {
    const choice_acc *c = &sorted[i];
    cJSON *ch = cJSON_CreateObject(), *msg = NULL;
    bad = !ch || !cJSON_AddItemToArray(choices, ch) ||
          !cJSON_AddNumberToObject(ch, "index", c->index) || !(msg = build_message(c)) ||
          !cJSON_AddItemToObject(ch, "message", msg) || !cJSON_AddNullToObject(ch, "logprobs") ||
          add_str(ch, "finish_reason", c->finish_reason) != 0;
    if (bad && msg && !cJSON_GetObjectItemCaseSensitive(ch, "message"))
      cJSON_Delete(msg);
  }
  free(sorted);
  if (bad)
    goto out;
  if (s->usage) {
    cJSON *u = cJSON_Duplicate(s->usage, 1);
    if (!u || !cJSON_AddItemToObject(r, "usage", u)) {
      cJSON_Delete(u);
      goto out;
    }
  }
  text = cJSON_PrintUnformatted(r);
  if (text)
    *len = strlen(text);
out:
  cJSON_Delete(r);
  return text;
}

void oai_stream_free(oai_stream *s) {
  if (!s)
    return;
  uh_lines_free(&s->lines);
  uh_buf_free(&s->data);
  free(s->id);
  free(s->model);
  free(s->fingerprint);
  cJSON_Delete(s->usage);
  for (size_t i = 0; i < s->n_choices; i++) {
    choice_acc *c = &s->choices[i];
    free(c->role);
    free(c->finish_reason);
    uh_buf_free(&c->content);
    uh_buf_free(&c->refusal);
    uh_buf_free(&c->reasoning);
    for (size_t k = 0; k < c->n_tools; k++) {
      free(c->tools[k].id);
      free(c->tools[k].type);
      free(c->tools[k].name);
      uh_buf_free(&c->tools[k].args);
    }
    free(c->tools);
  }
  free(s->choices);
  free(s);
}
