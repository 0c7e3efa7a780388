/* provider-openai/oai_stream.h — the OpenAI streaming response reader: Server-Sent Events in,
 * chat.completion.chunk objects out, and the whole chat.completion assembled from them. */
#pragma once

#include <stddef.h>

#include <cjson/cJSON.h>

/** Receives one chunk's JSON text (borrowed for the call). Non-zero stops the stream: the
 *  feed returns that value and the reader must not be fed again. */
typedef int (*oai_chunk_fn)(void *ud, const char *json, size_t len);

typedef struct oai_stream oai_stream;

/**
 * Creates a reader. fn gets every chunk as received (NULL: none are forwarded). When
 * forward_usage_chunk is 0, the usage-only chunk that stream_options.include_usage adds at the
 * end (empty choices, a usage object) is folded into the result but not forwarded. max_event
 * bounds one line and one event's data (0 = 8 MiB). Returns 0 or AGENTAI_ENOMEM.
 */
int oai_stream_new(oai_chunk_fn fn, void *ud, int forward_usage_chunk, size_t max_event,
                   oai_stream **out);

/**
 * Feeds a piece of the response body (split anywhere). Returns 0; a non-zero value from fn;
 * AGENTAI_E2BIG (a line or event over max_event), AGENTAI_EMALFORMED (a data payload that is
 * not a JSON object, a bad index), a mapped code for an {"error":...} payload, or
 * AGENTAI_ENOMEM — each with oai_stream_message() set. Bytes after `data: [DONE]` are ignored.
 */
int oai_stream_feed(oai_stream *s, const char *data, size_t len);

/** Ends the body: dispatches a last event left without its blank line, then returns 0 when
 *  [DONE] was seen, else AGENTAI_EUPSTREAM "stream ended before [DONE]" (or a feed error). */
int oai_stream_finish(oai_stream *s);

/** Whether `data: [DONE]` arrived. */
int oai_stream_done(const oai_stream *s);

/** The reason for the last non-zero return of feed/finish (one line, no secrets), or "". */
const char *oai_stream_message(const oai_stream *s);

/**
 * The chat.completion assembled from the chunks so far: id, object, created, model (and
 * system_fingerprint when sent) from the chunks; per choice the joined content (null when the
 * choice has tool calls and no text), refusal and reasoning_content when sent, tool_calls joined
 * by index (id, type and name from the first fragment that has them, arguments concatenated),
 * finish_reason; usage from the chunk that carried it. malloc'd text (free with free()) with its
 * length in *len, or NULL on ENOMEM.
 */
char *oai_stream_result(const oai_stream *s, size_t *len);

/** Number of chunks parsed so far (forwarded or not). */
size_t oai_stream_chunks(const oai_stream *s);

/** Releases the reader. */
void oai_stream_free(oai_stream *s);

/** The canonical code for an OpenAI-style error object ({"message","type","code"}): a numeric
 *  code or status is mapped like an HTTP status; else rate_limit* -> ERATELIMIT,
 *  invalid_api_key/authentication* -> EAUTH, model_not_found/not_found* -> ENOENT,
 *  context_length_exceeded -> E2BIG, invalid_request* -> EINVAL; otherwise EUPSTREAM. */
int oai_error_code(const cJSON *error_object);
