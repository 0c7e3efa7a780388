/* api/internal.h — helpers shared by the REST handlers; not for other modules. */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

#include "api/api.h"
#include "api/listing.h"

struct api {
  api_deps d;
  size_t ws_count; /* open WebSocket connections */
  api_auth auth;   /* the caller of the request being dispatched */
};

/** Maximum JSON nesting accepted in request bodies. */
#define API_MAX_DEPTH 64

/** Answers req with the JSON of body (consumed). */
void api_respond(http_request *req, int status, cJSON *body);
/** Answers req with json text. */
void api_respond_text(http_request *req, int status, const char *json);
/** Answers with the error envelope; message formatted. */
void api_error(http_request *req, int status, const char *type, const char *param, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
/** Answers with the error a negative engine/storage code stands for. */
void api_error_code(http_request *req, int err, const char *message, const char *what_id);

/**
 * Parses the request body as a JSON object: 415 when the Content-Type is not
 * application/json, 400 with the byte offset when malformed, 400 when it is
 * not an object or nests deeper than API_MAX_DEPTH, or invalid UTF-8. Returns
 * the object (caller deletes), or NULL after answering req.
 */
cJSON *api_body_object(http_request *req);

/**
 * The parser behind api_body_object, without HTTP: body[0..len) must be a
 * JSON object of valid UTF-8, nested at most API_MAX_DEPTH deep, without
 * NUL in strings. Returns 0 with *out (caller deletes), or AGENTAI_EINVAL with
 * the error type ("invalid_json", "invalid_request") and a message naming
 * the byte offset; what ("body", "command") names the text in messages. Also
 * the fuzz target's entry.
 */
int api_parse_object(const char *body, size_t len, const char *what, cJSON **out, char type[32],
                     char message[256]);

/** FNV-1a of the body (idempotency keys compare request bodies). */
uint64_t api_body_hash(http_request *req);

/** Parses the listing query of req against fields; NULL after answering 400. */
listing_query *api_listing(http_request *req, const listing_field *fields, size_t n,
                           const char *default_order);

/** A listing over one key prefix (agents, events) or an index of ids whose
 *  records live under record_prefix (tasks). Answers req with a page. */
typedef struct api_list_source {
  const char *prefixes[8];   /**< key prefixes to scan: ids follow them */
  size_t nprefixes;          /**< several: a union, merged in id order */
  const char *record_prefix; /**< NULL: the scanned values are the records */
  const char *lo, *hi;       /**< id bounds (inclusive lo, exclusive hi); NULL = open */
  const char *require_field; /**< a string member every record must have ... */
  const char *require_value; /**< ... with this value (a filter the index cannot express) */
} api_list_source;
void api_list(api *a, http_request *req, listing_query *q, const api_list_source *src);

/* agents.c / tasks.c */
/** Narrows src to the ids created in q's created_at range (lo/hi: IDS_MAX bytes each). */
void api_id_bounds(const listing_query *q, const char *id_prefix, char *lo, char *hi,
                   api_list_source *src);
/** /v1/agents/{id}/tasks: POST submits, GET lists the agent's tasks. */
void api_agent_tasks(api *a, http_request *req, const char *agent_id);
void api_agents(api *a, http_request *req, const char *rest);
void api_tasks(api *a, http_request *req, const char *rest);
/** Streams task_id's events as Server-Sent Events (consumes req). */
void api_sse(api *a, http_request *req, const char *task_id);
/** The OpenAI-compatible gateway (/v1/chat/completions, /v1/embeddings,
 *  /v1/models): returns 1 when rest is one of its paths (req consumed). */
int api_gateway(api *a, http_request *req, const char *rest);
/** GET/DELETE /v1/agents/{id}/conversations/{cid} (conversations.c). */
void api_conversation(api *a, http_request *req, const char *agent_id, const char *cid);
/** auth.c: checks req's Bearer key against the route (rest: the path after
 *  /v1) and fills a->auth; returns 1 after answering 401/403/503, else 0. */
int api_auth_check(api *a, http_request *req, const char *rest);
/** auth.c: the key check of a WebSocket upgrade (Authorization header or
 *  ?access_token=); 0 to accept, else the HTTP status to refuse with. */
int api_auth_ws(api *a, http_ws *ws);
/** keys.c: /v1/keys and /v1/keys/{id} (admin only; checked before). */
void api_keys(api *a, http_request *req, const char *rest);
/** Answers 405 with Allow. */
void api_method_not_allowed(http_request *req, const char *allow);
