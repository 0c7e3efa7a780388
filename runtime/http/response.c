/* http/response.c — building and writing responses, and the JSON error envelope. */
#include "http/internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentai/plugin.h"

/* Headers the server owns: a handler setting them would contradict the framing. */
static const char *const RESERVED[] = {"content-type",      "content-length", "connection",
                                       "transfer-encoding", "server",         "x-request-id",
                                       "keep-alive",        "upgrade"};

static int is_tchar(unsigned char c) {
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int valid_value(const char *v) {
  for (; *v; v++) {
    unsigned char c = (unsigned char)*v;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 0;
  }
  return 1;
}

int http_response_add_header(http_request *req, const char *name, const char *value) {
  if (!req || !name || !value)
    return AGENTAI_EINVAL;
  if (req->aborted)
    return AGENTAI_ECANCELED;
  if (req->state != HTTP_REQ_HANDLER)
    return AGENTAI_EINVAL;
  size_t nlen = strlen(name), vlen = strlen(value);
  if (nlen == 0 || nlen > 256 || vlen > 8192 || !valid_value(value))
    return AGENTAI_EINVAL;
  char *lname = http__req_alloc(req, nlen + 2);
  if (!lname)
    return AGENTAI_ENOMEM;
  for (size_t i = 0; i < nlen; i++) {
    if (!is_tchar((unsigned char)name[i]))
      return AGENTAI_EINVAL;
    lname[i] = (char)tolower((unsigned char)name[i]);
  }
  lname[nlen] = '\0';
  for (size_t i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
    if (strcmp(lname, RESERVED[i]) == 0)
      return AGENTAI_EINVAL;
  lname[nlen] = ':';
  lname[nlen + 1] = '\0';

  http_out_hdr *h = http__req_alloc(req, sizeof *h);
  char *v = http__req_strndup(req, value, vlen);
  if (!h || !v)
    return AGENTAI_ENOMEM;
  h->name = lname;
  h->value = v;
  h->next = NULL;
  if (req->out_hdrs_tail)
    req->out_hdrs_tail->next = h;
  else
    req->out_hdrs = h;
  req->out_hdrs_tail = h;
  req->out_hdrs_bytes += nlen + vlen + 4;
  return 0;
}

size_t http__head_room(const http_request *req) {
  return 192 + strlen(req->id) + req->out_hdrs_bytes +
         (req->srv && req->srv->server_name ? strlen(req->srv->server_name) : 0);
}

int http__head(http_request *req, int status, const char *ctype, unsigned char **p,
               unsigned char *end) {
  struct lws *wsi = req->wsi;
  unsigned int code = (unsigned int)status;
  if (!req->srv || !req->srv->server_name)
    code |= LWSAHH_FLAG_NO_SERVER_NAME;

  int bad = lws_add_http_header_status(wsi, code, p, end);
  if (!bad && ctype)
    bad = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                       (const unsigned char *)ctype, (int)strlen(ctype), p, end);
  if (!bad)
    bad = lws_add_http_header_by_name(wsi, (const unsigned char *)"x-request-id:",
                                      (const unsigned char *)req->id, (int)strlen(req->id), p, end);
  for (http_out_hdr *h = req->out_hdrs; h && !bad; h = h->next)
    bad =
        lws_add_http_header_by_name(wsi, (const unsigned char *)h->name,
                                    (const unsigned char *)h->value, (int)strlen(h->value), p, end);
  if (!bad && (req->close_after || req->keepalive_10)) {
    const char *c = req->close_after ? "close" : "keep-alive";
    bad = lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)c,
                                       (int)strlen(c), p, end);
  }
  return bad;
}

/* Status line, headers and body in one buffer after LWS_PRE, so a response
 * usually leaves in a single send(). */
static int build(http_request *req, int status, const char *ctype, const char *body, size_t len) {
  struct lws *wsi = req->wsi;
  int bodiless = status == 204 || status == 304;
  size_t blen = (bodiless || req->is_head) ? 0 : len;
  size_t hcap = http__head_room(req) + (ctype ? strlen(ctype) : 0);

  unsigned char *buf = malloc(LWS_PRE + hcap + blen);
  if (!buf)
    return AGENTAI_ENOMEM;
  unsigned char *start = buf + LWS_PRE, *p = start, *end = start + hcap;

  int bad = http__head(req, status, ctype, &p, end);
  if (!bad && !bodiless)
    bad = lws_add_http_header_content_length(wsi, (lws_filepos_t)len, &p, end);
  if (!bad)
    bad = lws_finalize_http_header(wsi, &p, end);
  if (bad) {
    free(buf);
    return AGENTAI_ENOMEM;
  }
  if (blen)
    memcpy(p, body, blen);
  p += blen;
  free(req->resp);
  req->resp = buf;
  req->resp_len = (size_t)(p - start);
  return 0;
}

/* Hands a built (or failed) response to the connection: written when the
 * dispatching callback returns, or on the next writable callback. */
static void queue(http_request *req) {
  req->state = HTTP_REQ_READY;
  if (!req->in_dispatch) {
    http__watch_stop(req);
    lws_callback_on_writable(req->wsi);
  }
}

static const char FALLBACK_500[] =
    "{\"error\":{\"type\":\"internal_error\",\"message\":\"invalid response\",\"param\":null}}";

int http_respond(http_request *req, int status, const char *content_type, const char *body,
                 size_t len) {
  if (!req)
    return AGENTAI_EINVAL;
  if (req->state == HTTP_REQ_READY || req->state == HTTP_REQ_STREAM)
    return AGENTAI_EINVAL; /* second respond inside one handler call: keep the first */
  if (req->aborted) {
    http__req_free(req);
    return AGENTAI_ECANCELED;
  }
  int rc = 0;
  /* lws_write() takes an int length. */
  if (status < 200 || status > 999 || (len && !body) || len > (size_t)INT_MAX / 2) {
    rc = AGENTAI_EINVAL;
    status = 500;
    content_type = "application/json";
    body = FALLBACK_500;
    len = sizeof FALLBACK_500 - 1;
  }
  http__req_report(req, status);
  int b = build(req, status, content_type, body, len);
  if (b < 0) {
    /* No memory for a response: the only honest answer left is closing. */
    free(req->resp);
    req->resp = NULL;
    req->close_after = 1;
    rc = b;
  }
  queue(req);
  return rc;
}

int http_respond_json(http_request *req, int status, const char *json) {
  return http_respond(req, status, "application/json", json, json ? strlen(json) : 0);
}

int http_respond_error(http_request *req, int status, const char *type, const char *message,
                       const char *param) {
  if (!req)
    return AGENTAI_EINVAL;
  if (req->aborted || req->state != HTTP_REQ_HANDLER)
    return http_respond(req, status, NULL, NULL, 0);

  cJSON *root = cJSON_CreateObject();
  cJSON *err = root ? cJSON_AddObjectToObject(root, "error") : NULL;
  char *text = NULL;
  if (err && cJSON_AddStringToObject(err, "type", type ? type : "internal_error") &&
      cJSON_AddStringToObject(err, "message", message ? message : "") &&
      (param ? cJSON_AddStringToObject(err, "param", param) != NULL
             : cJSON_AddNullToObject(err, "param") != NULL) &&
      cJSON_AddStringToObject(err, "request_id", req->id))
    text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text)
    return http_respond(req, status, "application/json", FALLBACK_500, sizeof FALLBACK_500 - 1);
  int rc = http_respond(req, status, "application/json", text, strlen(text));
  cJSON_free(text);
  return rc;
}

int http__write_response(http_request *req) {
  struct lws *wsi = req->wsi;
  int close = req->close_after;

  /* Detach first: ending the transaction re-binds the protocol, which frees
   * the lws user space (and calls us back with it) before it returns. */
  http__req_detach(req);
  http__watch_stop(req);

  if (!req->resp ||
      lws_write(wsi, req->resp + LWS_PRE, req->resp_len, LWS_WRITE_HTTP_FINAL) < (int)req->resp_len)
    close = 1;
  http__req_free(req);
  if (close)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}
