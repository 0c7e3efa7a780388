/* provider-ollama/ollama.h — internal interface of the Ollama provider: translation between the
 * canonical (OpenAI) shapes and Ollama's /api/chat, /api/embed and /api/tags, and the NDJSON
 * response parser. Everything here is pure (cJSON and plugins/common only, no host). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../common/upstream_http.h"

/* ---- cJSON helpers shared by the translation and the parser ---- */

/** The member key of obj, or NULL (also when obj is not an object). */
static inline const cJSON *oll_member(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/** Whether v is absent or JSON null: OpenAI clients send null for "not set". */
static inline int oll_unset(const cJSON *v) {
  return !v || cJSON_IsNull(v);
}

/** Adds item to obj under key, or frees it: ownership never dangles on failure. */
static inline int oll_attach(cJSON *obj, const char *key, cJSON *item) {
  if (item && obj && cJSON_AddItemToObject(obj, key, item))
    return 1;
  cJSON_Delete(item);
  return 0;
}

/* ---- requests ---- */

/**
 * Translates a canonical chat request (parsed) into an Ollama /api/chat body. On success returns
 * 0, stores the body (malloc'd, NUL-terminated) in *body and its length in *body_len, and whether
 * the canonical request streams in *stream. On a request that cannot be translated returns
 * AGENTAI_EINVAL with a one-line reason naming the field in err; AGENTAI_ENOMEM otherwise.
 */
int oll_chat_request(const cJSON *req, char **body, size_t *body_len, int *stream, char *err,
                     size_t err_len);

/** Embedding encodings a canonical embeddings request may ask for. */
enum oll_encoding { OLL_ENC_FLOAT = 0, OLL_ENC_BASE64 = 1 };

/**
 * Translates a canonical embeddings request into an Ollama /api/embed body ({model, input, ...}).
 * *encoding receives the encoding_format the response must use. Same returns as
 * oll_chat_request().
 */
int oll_embed_request(const cJSON *req, char **body, size_t *body_len, int *encoding, char *err,
                      size_t err_len);

/* ---- responses ---- */

/**
 * Translates an Ollama /api/embed response body into a canonical embeddings response
 * (malloc'd, NUL-terminated, in *out and *out_len). model names the request's model, used when
 * the body has none. Returns 0, AGENTAI_EMALFORMED (reason in err) or AGENTAI_ENOMEM.
 */
int oll_embed_response(const char *body, size_t len, const char *model, int encoding, char **out,
                       size_t *out_len, char *err, size_t err_len);

/**
 * Translates an Ollama /api/tags response body into a canonical model list
 * ({"object":"list","data":[{"id","object":"model","created","owned_by"}]}). owned_by is put in
 * every entry. Same returns as oll_embed_response().
 */
int oll_tags_response(const char *body, size_t len, const char *owned_by, char **out,
                      size_t *out_len, char *err, size_t err_len);

/* ---- the chat response parser (one JSON object, or NDJSON lines) ---- */

/** Receives one canonical chat.completion.chunk text (borrowed). Non-zero stops the parse. */
typedef int (*oll_emit_fn)(void *ud, const char *chunk, size_t len);

/** State of one chat response being parsed; see oll_parse_init(). */
typedef struct oll_parse {
  /* given */
  char id[64];      /* the canonical response id ("chatcmpl-...") */
  char *model;      /* the request's model, replaced by the upstream's when it names one */
  int64_t created;  /* fallback: now; replaced by the first created_at that parses */
  oll_emit_fn emit; /* NULL: no chunks (a non-streamed call) */
  void *emit_ud;    /* passed to emit */
  /* gathered */
  size_t objects;    /* JSON objects seen (non-blank lines) */
  int have_created;  /* created comes from the upstream */
  int started;       /* the first chunk (with role) went out */
  int done;          /* the done:true object arrived */
  int length;        /* done_reason was "length" */
  uh_buf content;    /* message content joined */
  uh_buf thinking;   /* message thinking joined (reasoning_content) */
  cJSON *tool_calls; /* canonical tool calls, or NULL */
  int64_t prompt_tokens, completion_tokens;
  /* outcome */
  int err;           /* 0 or the AGENTAI_E* code the parse stopped with */
  char message[400]; /* one line when err != 0 */
} oll_parse;

/**
 * Prepares a parse. id is copied (cut to 63 bytes); model (the request's, may be NULL) is
 * copied; now is the fallback "created" in Unix seconds; emit may be NULL. Returns 0 or
 * AGENTAI_ENOMEM.
 */
int oll_parse_init(oll_parse *p, const char *id, const char *model, int64_t now, oll_emit_fn emit,
                   void *emit_ud);

/**
 * Feeds one NDJSON line (without its terminator; blank lines are skipped, lines after done:true
 * ignored). With emit set, sends the chunk the line makes (the first carries role "assistant",
 * tool calls come whole with index and id "call_<n>", the done line carries finish_reason and
 * usage). Returns 0; a negative code with p->err and p->message set (AGENTAI_EUPSTREAM for an
 * {"error":...} line, AGENTAI_EMALFORMED for a line that is not a chat response object,
 * AGENTAI_ENOMEM); or the non-zero value emit returned (p->err untouched).
 */
int oll_parse_line(oll_parse *p, const char *line, size_t len);

/**
 * Ends the parse: builds the canonical chat.completion from what was gathered (malloc'd in *out
 * and *out_len). whole: the body was one non-streamed object, which counts as done even without
 * done:true. Returns 0, or AGENTAI_EUPSTREAM "stream ended before done" when no done line came,
 * AGENTAI_EMALFORMED when nothing came at all, AGENTAI_ENOMEM; p->err and p->message are set.
 */
int oll_parse_end(oll_parse *p, int whole, char **out, size_t *out_len);

/** Releases the parse's memory. */
void oll_parse_free(oll_parse *p);
