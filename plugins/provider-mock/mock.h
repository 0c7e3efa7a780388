/* provider-mock/mock.h — internals shared by the mock's files: options, requests, replies. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/** What the mock does with a call (the `mode` key). */
enum mock_mode { MOCK_ECHO = 0, MOCK_FIXED, MOCK_SCRIPT, MOCK_ERROR };

/**
 * The behaviour of one call: the plugin configuration, with a request's
 * "mock" object laid over it key by key. Every cJSON pointer borrows from
 * the tree it was read from (the provider's config tree, or the request's
 * tree for the duration of chat()).
 */
typedef struct mock_opts {
  int mode;                 /**< enum mock_mode */
  const cJSON *text;        /**< string for "fixed", or NULL */
  const cJSON *script;      /**< validated array of replies, or NULL */
  const cJSON *error;       /**< validated error object, or NULL */
  uint64_t latency_ms;      /**< delay before the reply (or its first chunk) */
  uint64_t stream_delay_ms; /**< delay between streamed chunks */
  const cJSON *models;      /**< non-empty array of model names */
  const char *calls_file;   /**< configuration only; NULL when not set */
} mock_opts;

/** Parses a millisecond option value (integer, 0 to a day). Returns 0 or -1. */
int mock_parse_ms(const cJSON *v, uint64_t *out);

/** AGENTAI_E* code of an error kind ("rate_limited", ...), or 0 when unknown;
 *  *http_status (may be NULL) receives the simulated upstream status. */
int mock_error_kind(const char *kind, int *http_status);

/** Name of a mode ("echo", ...). */
const char *mock_mode_name(int mode);

/**
 * Validates obj (a JSON object of option keys) and lays it over *o.
 * prefix names where obj came from in messages ("" for the plugin
 * configuration, "mock." for a request). calls_file is accepted only when
 * is_config. On error returns AGENTAI_EINVAL, leaves *o partly updated and
 * writes "<prefix><key>: <reason>" to err.
 */
int mock_opts_apply(mock_opts *o, const cJSON *obj, const char *prefix, int is_config, char *err,
                    size_t err_len);

/** Checks that the mode has what it needs (text, script or error); same
 *  error convention as mock_opts_apply. */
int mock_opts_check(const mock_opts *o, const char *prefix, char *err, size_t err_len);

/**
 * Checks the shape of a parsed chat request (object, non-empty messages
 * array of objects with a string role, optional model/stream/tools/
 * max_tokens of the right types). Returns 0, or AGENTAI_EINVAL with a
 * one-line reason in why.
 */
int mock_request_check(const cJSON *req, char *why, size_t why_len);

/** Text of the last message with role "user" (text parts joined), or NULL
 *  when there is none. malloc'd; the caller frees. */
char *mock_last_user_text(const cJSON *messages);

/** The computed outcome of one accepted call, ready to be delivered. */
typedef struct mock_reply {
  int err;                /**< 0 or a negative AGENTAI_E* code */
  char message[512];      /**< on error */
  int64_t retry_after_ms; /**< -1 unless rate limited with a retry_after_ms */
  int http_status;        /**< simulated upstream status, 0 when none */
  uint64_t delay_ms;      /**< before done, or before the first chunk */
  char *response;         /**< on success: the chat.completion JSON text (malloc) */
  size_t response_len;
  char **chunks; /**< streamed chat.completion.chunk texts (malloc), in order */
  size_t *chunk_lens;
  size_t n_chunks;
} mock_reply;

/**
 * Computes the reply to a request that passed mock_request_check, with the
 * effective options o and the resolved model name. stream asks for chunks.
 * created is the `created` timestamp to stamp. Returns 0 (the outcome,
 * success or simulated failure, is in *out) or AGENTAI_ENOMEM.
 */
int mock_reply_build(const mock_opts *o, const cJSON *req, const char *model, int stream,
                     int64_t created, mock_reply *out);

/** Releases what mock_reply_build allocated; safe on a zeroed reply. */
void mock_reply_free(mock_reply *r);

/** Sets r to an error outcome with a formatted message. */
void mock_reply_error(mock_reply *r, int err, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
