/* agentai/provider.h — the LLM provider interface: canonical chat requests in, responses and deltas
 * out. */
#pragma once

#include "agentai/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * How a chat call ended. Passed to agentai_chat_sink.done; every pointer in
 * it is borrowed for the duration of that callback only.
 */
typedef struct agentai_chat_outcome {
  uint32_t size;             /**< sizeof(agentai_chat_outcome) as the provider built it */
  int err;                   /**< 0, or AGENTAI_ERATELIMIT, AGENTAI_ETIMEDOUT, AGENTAI_EUPSTREAM,
                                  AGENTAI_EMALFORMED, AGENTAI_EAUTH, AGENTAI_ENOENT (unknown model),
                                  AGENTAI_EINVAL (bad request) ... */
  const char *response_json; /**< on success: an OpenAI `chat.completion` object (id, model,
                                  choices[0].message with content and/or tool_calls,
                                  choices[0].finish_reason, usage) */
  size_t response_len;
  const char *message;    /**< on error: one line saying what went wrong (no secrets) */
  int64_t retry_after_ms; /**< on AGENTAI_ERATELIMIT: how long the provider asked to wait,
                               or -1 when it did not say */
  int http_status;        /**< upstream HTTP status when there was one, else 0 */
  /* ---- ABI 1.1 ---- */
  const char *ratelimit_json; /**< the upstream's rate-limit headers (x-ratelimit-*, retry-after)
                                   as a JSON object of strings, or NULL */
} agentai_chat_outcome;

/**
 * Where a provider delivers a call's results. Owned by the host; valid from
 * chat() until done() returns or cancel() returns, whichever comes first.
 * Callbacks run on the loop thread and may run before chat() returns.
 */
typedef struct agentai_chat_sink {
  void *ud;
  /** One streamed delta: an OpenAI `chat.completion.chunk` JSON text,
   *  borrowed for the call. Only for requests with "stream": true. */
  void (*delta)(void *ud, const char *chunk_json, size_t len);
  /** Called exactly once per accepted call (unless the call is cancelled). For a
   *  streamed call, outcome->response_json is the whole response assembled from
   *  the chunks (content joined, tool call argument fragments joined by index,
   *  usage when the upstream reported it); an error after some deltas means
   *  the stream broke and the deltas so far are not a complete answer. */
  void (*done)(void *ud, const agentai_chat_outcome *outcome);
} agentai_chat_sink;

/**
 * A provider, registered with host->register_provider() during init().
 * The host copies this struct; ud stays the plugin's.
 */
struct agentai_provider_def {
  uint32_t size;    /**< sizeof(agentai_provider_def) as the plugin built it */
  const char *name; /**< registry name, e.g. "mock", "openai" (copied) */
  void *ud;         /**< passed back to every call */

  /**
   * Starts a chat call. request_json is an OpenAI Chat Completions request
   * (model, messages, tools, tool_choice, temperature, max_tokens, stream,
   * plus provider-specific members), borrowed for the call: copy what you
   * keep. Returns 0 when accepted (sink->done will be called once, possibly
   * before chat() returns) and stores a handle for cancel() in *call (NULL
   * if the call already completed); or a negative code when refused, in
   * which case the sink is never called.
   */
  int (*chat)(void *ud, const char *request_json, size_t request_len, const agentai_chat_sink *sink,
              void **call);

  /** Cancels an accepted, not yet completed call. After it returns the sink
   *  is never called again and the provider has released the call. */
  void (*cancel)(void *ud, void *call);

  /**
   * Describes the provider: a JSON object text with at least "models"
   * (array of names) and "calls" (number of chat calls received). Stored in
   * *json_out, allocated with host->alloc; the host frees it. May be NULL.
   */
  int (*info)(void *ud, char **json_out);

  /** Releases the provider at shutdown. May be NULL. */
  void (*close)(void *ud);

  /* ---- ABI 1.1 (check size before use; each may be NULL) ---- */

  /**
   * Starts an embeddings call: request_json is an OpenAI embeddings request
   * (model, input as a string or an array of strings, dimensions, ...),
   * borrowed for the call. On success done() gets an OpenAI embeddings
   * response ({"object":"list","data":[{"index","embedding"}],"model","usage"}).
   * Same contract as chat() otherwise (cancel() cancels it).
   */
  int (*embed)(void *ud, const char *request_json, size_t request_len,
               const agentai_chat_sink *sink, void **call);

  /**
   * Lists the models the upstream serves. On success done() gets an OpenAI
   * model list ({"object":"list","data":[{"id","object":"model","owned_by"}]}).
   * Same contract as chat() otherwise.
   */
  int (*list_models)(void *ud, const agentai_chat_sink *sink, void **call);
};

#ifdef __cplusplus
}
#endif
