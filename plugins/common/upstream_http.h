/* plugins/common/upstream_http.h — helpers shared by the HTTP provider plugins: error mapping,
 * rate-limit headers, a growable buffer, a line splitter for SSE/NDJSON, the "providers" config. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agentai/plugin.h"

/* These sources are compiled into each plugin (hidden visibility), so the
 * uh_ names never clash across plugins. */

/* ------------------------------------------------------------------------ */
/* Error mapping                                                             */
/* ------------------------------------------------------------------------ */

/** The canonical code for an HTTP status >= 400: 400->EINVAL, 401/403->EAUTH, 404->ENOENT,
 *  408/504->ETIMEDOUT, 413->E2BIG, 429->ERATELIMIT, other 5xx->EUPSTREAM, other 4xx->EINVAL.
 *  Any other status (1xx, 3xx, or not an HTTP status) gives EUPSTREAM; 2xx gives 0. */
int uh_status_to_err(int status);

/** The canonical code for a host transport error (agentai_http_result.err): ETIMEDOUT, E2BIG,
 *  ECANCELED, ENOMEM and EUPSTREAM keep their code; anything else becomes EUPSTREAM. 0 stays 0. */
int uh_transport_to_err(int host_err);

/** Extracts the upstream's error sentence from an error body: error.message (OpenAI), an "error"
 *  string (Ollama), a top-level "message", or else the body's first line when it is plain text (not
 *  HTML). Written to out (always NUL-terminated) as one line: control characters become spaces,
 *  whitespace is trimmed, cut at a UTF-8 boundary to at most min(outlen-1, 300) bytes. Returns the
 *  length written (0 when the body says nothing useful). */
size_t uh_error_detail(const char *body, size_t len, char *out, size_t outlen);

/* ------------------------------------------------------------------------ */
/* Rate limits                                                               */
/* ------------------------------------------------------------------------ */

/** Parses a Retry-After value: delta-seconds ("120", also "1.5") or an HTTP-date (IMF-fixdate,
 *  RFC 850 or asctime form). now_ms is the current wall-clock time in Unix milliseconds. Returns
 *  milliseconds to wait (0 for a date in the past), or -1 when the value does not parse. */
int64_t uh_parse_retry_after(const char *value, int64_t now_ms);

/** Parses a Go-style duration as OpenAI sends in x-ratelimit-reset-* ("1s", "6m0s", "250ms",
 *  "1h2m3.5s", "20us"). Returns milliseconds (rounded up), or -1 when it does not parse. */
int64_t uh_parse_reset_duration(const char *value);

/** How long the upstream asked to wait, from its response headers: retry-after-ms, else
 *  Retry-After, else the longest x-ratelimit-reset-{requests,tokens} whose matching remaining
 *  count is 0. Header names compare case-insensitively. Returns ms, or -1 when nothing says. */
int64_t uh_retry_after_ms(const agentai_http_header *headers, size_t n, int64_t now_ms);

/** The rate-limit headers (x-ratelimit-*, retry-after, retry-after-ms) as a JSON object of strings
 *  with lowercased names, malloc'd (free with free()); NULL when there are none (or out of memory).
 */
char *uh_ratelimit_json(const agentai_http_header *headers, size_t n);

/** Parses an RFC 3339 timestamp as Go writes them ("2024-05-01T12:00:00.123456789Z", also with
 *  a "+02:00" offset; the fraction is dropped) into Unix seconds in *unix_s. Returns 0, or -1
 *  when it does not parse. (Ollama's created_at and modified_at.) */
int uh_parse_rfc3339(const char *s, int64_t *unix_s);

/** Current wall-clock time in Unix milliseconds (for the parsers above). */
int64_t uh_wall_ms(void);

/* ------------------------------------------------------------------------ */
/* Growable buffer                                                           */
/* ------------------------------------------------------------------------ */

/** A byte buffer; zero-initialise it. data is NUL-terminated whenever len > 0 (or after
 *  uh_buf_cstr), so it can be handed on as a string. */
typedef struct uh_buf {
  char *data;
  size_t len, cap;
} uh_buf;

/** Appends n bytes. 0, or AGENTAI_ENOMEM (the buffer is unchanged). */
int uh_buf_append(uh_buf *b, const void *p, size_t n);
/** Appends a NUL-terminated string. */
int uh_buf_puts(uh_buf *b, const char *s);
/** Returns the content as a NUL-terminated string ("" for an empty buffer); NULL on ENOMEM. */
const char *uh_buf_cstr(uh_buf *b);
/** Hands the storage to the caller (malloc'd, NUL-terminated, free with free()) and empties b;
 *  NULL on ENOMEM. */
char *uh_buf_take(uh_buf *b);
/** Releases the storage; b is empty and reusable afterwards. */
void uh_buf_free(uh_buf *b);

/* ------------------------------------------------------------------------ */
/* Line splitter (SSE, NDJSON)                                               */
/* ------------------------------------------------------------------------ */

/** Receives one line without its terminator; borrowed for the call. Non-zero stops the feed and
 *  is returned by uh_lines_feed(). */
typedef int (*uh_line_fn)(void *ud, const char *line, size_t len);

/** Splits a byte stream delivered in arbitrary pieces into lines. A piece may end anywhere: in the
 *  middle of a UTF-8 sequence or between the \r and \n of one terminator. */
typedef struct uh_lines {
  uh_buf partial;  /* the unterminated tail of what was fed */
  size_t max_line; /* longest line accepted, in bytes */
  int cr_eol;   /* a lone \r ends a line (SSE); otherwise only \n, and a \r before it is dropped */
  int after_cr; /* the last piece ended with a \r that ended a line: skip a leading \n */
} uh_lines;

/** Prepares a splitter. cr_eol: 1 for SSE (\r\n, \n and \r all end a line), 0 for NDJSON (\n or
 *  \r\n). max_line: longest line accepted (0 = 1 MiB). */
void uh_lines_init(uh_lines *ls, size_t max_line, int cr_eol);
/** Feeds a piece and calls fn for every line it completes. Returns 0, AGENTAI_E2BIG when a line
 *  grows beyond max_line, AGENTAI_ENOMEM, or the first non-zero value fn returned. After a
 *  non-zero return the splitter must not be fed again. */
int uh_lines_feed(uh_lines *ls, const char *data, size_t len, uh_line_fn fn, void *ud);
/** At the end of the stream: calls fn for an unterminated last line, if any. Same returns. */
int uh_lines_finish(uh_lines *ls, uh_line_fn fn, void *ud);
/** Releases the splitter's buffer. */
void uh_lines_free(uh_lines *ls);

/* ------------------------------------------------------------------------ */
/* Configuration: {"providers": {"NAME": {...}}}                             */
/* ------------------------------------------------------------------------ */

/** One configured provider; every string is owned by the config (uh_config_free). */
typedef struct uh_provider_cfg {
  char *name;
  char *base_url;    /**< http(s) URL without a trailing '/' */
  char *api_key_env; /**< environment variable holding the key, or NULL for no key */
  char **models;     /**< informational model names */
  size_t n_models;
  agentai_http_header *headers; /**< extra request headers (name and value owned) */
  size_t n_headers;
  uint32_t timeout_ms, connect_timeout_ms, idle_timeout_ms; /**< 0 = the host's default */
  uint64_t max_response_bytes;                              /**< 0 = the host's default */
  char *ca_file;                                            /**< or NULL */
} uh_provider_cfg;

/** The plugin's defaults, used for the one provider registered when there is no "providers" key;
 *  entries of "providers" get default_base_url when they omit base_url, but no api_key_env. */
typedef struct uh_defaults {
  const char *name;
  const char *base_url;
  const char *api_key_env; /**< or NULL */
} uh_defaults;

/**
 * Reads a plugin section. With "providers" each member becomes one provider; without it, one
 * provider with the defaults. Unknown keys and wrong types are refused with a message naming the
 * key path, e.g. "providers.openai.base_ur: unknown key (known: ...)". On success stores a malloc'd
 * array in *out and its length in *n_out (free with uh_config_free); else returns AGENTAI_EINVAL or
 * AGENTAI_ENOMEM with a one-line reason in errbuf.
 */
int uh_config_parse(const char *config_json, const uh_defaults *defaults, uh_provider_cfg **out,
                    size_t *n_out, char *errbuf, size_t errbuf_len);
/** Releases what uh_config_parse() returned. */
void uh_config_free(uh_provider_cfg *cfgs, size_t n);

/* ------------------------------------------------------------------------ */
/* Building a request                                                        */
/* ------------------------------------------------------------------------ */

/** An agentai_http_request with the storage it points into. */
typedef struct uh_req {
  agentai_http_request req;
  char *url;
  agentai_http_header *headers;
  size_t n_headers;
  char *auth; /* "Bearer <key>": wiped before it is freed */
} uh_req;

/**
 * Fills r for METHOD {base_url}{path} with the configuration's timeouts, limits, CA file and extra
 * headers, plus Accept (when accept is not NULL), Content-Type: application/json (when there is a
 * body) and Authorization: Bearer $KEY (when api_key_env is set). body is borrowed and must outlive
 * the http_request() call. Returns 0; AGENTAI_EAUTH when the key variable is unset or empty, with
 * a message naming the variable (never a value) in msg; or AGENTAI_ENOMEM. Free with uh_req_free()
 * once http_request() has returned (the host copies what it keeps).
 */
int uh_req_prepare(uh_req *r, const uh_provider_cfg *cfg, const char *method, const char *path,
                   const char *accept, const char *body, size_t body_len, char *msg,
                   size_t msg_len);
/** Releases r's storage (wiping the key). */
void uh_req_free(uh_req *r);
