/* http/request.c — the request object: what lws parsed, accessors, header lookup, request ids. */
#include "http/internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "agentai/plugin.h"

static const char *const METHOD_NAMES[] = {"GET",    "POST",    "OPTIONS", "PUT",  "PATCH",
                                           "DELETE", "CONNECT", "HEAD",    ":path"};

/* ------------------------------------------------------------------------ */
/* Allocation                                                               */
/* ------------------------------------------------------------------------ */

void *http__req_alloc(http_request *req, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n > req->a_left) {
    size_t cap = n > 2048 ? n : 2048;
    http_chunk *c = malloc(sizeof(http_chunk) + 16 + cap);
    if (!c)
      return NULL;
    c->next = req->chunks;
    c->cap = cap;
    req->chunks = c;
    char *base = (char *)c + ((sizeof(http_chunk) + 15) & ~(size_t)15);
    /* Keep using the old block for small allocations if it has more room left. */
    if (cap - n < req->a_left)
      return base;
    req->a_ptr = base + n;
    req->a_left = cap - n;
    return base;
  }
  void *p = req->a_ptr;
  req->a_ptr += n;
  req->a_left -= n;
  return p;
}

char *http__req_strndup(http_request *req, const char *s, size_t len) {
  char *d = http__req_alloc(req, len + 1);
  if (!d)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void http__req_free(http_request *req) {
  if (!req)
    return;
  http_chunk *c = req->chunks;
  while (c) {
    http_chunk *n = c->next;
    free(c);
    c = n;
  }
  free(req->body);
  free(req->resp);
  free(req);
}

/* ------------------------------------------------------------------------ */
/* Header names -> lws tokens                                               */
/* ------------------------------------------------------------------------ */

/* lws stores the ~90 headers it knows by token index and the rest as
 * "custom" headers; a lookup by name must pick the right store. */
typedef struct {
  const char *name; /* "content-type:" as lws spells it */
  size_t len;
  int token;
} tok_entry;

static tok_entry g_tokens[WSI_TOKEN_COUNT];
static int g_ntokens;
static pthread_once_t g_tokens_once = PTHREAD_ONCE_INIT;

static void tokens_build(void) {
  for (int i = 0; i < WSI_TOKEN_COUNT; i++) {
    const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)i);
    if (!s || !*s || s[0] == ':')
      continue;
    size_t n = strlen(s);
    if (s[n - 1] != ':') /* request-line tokens ("get ", "http/1.1 ") */
      continue;
    g_tokens[g_ntokens].name = s;
    g_tokens[g_ntokens].len = n;
    g_tokens[g_ntokens].token = i;
    g_ntokens++;
  }
}

void http__headers_init(void) {
  pthread_once(&g_tokens_once, tokens_build);
}

static int token_for(const char *lname_colon, size_t len) {
  for (int i = 0; i < g_ntokens; i++)
    if (g_tokens[i].len == len && memcmp(g_tokens[i].name, lname_colon, len) == 0)
      return g_tokens[i].token;
  return -1;
}

/* Copies header lname (lower case, with ':') out of lws into req; NULL when absent. */
static char *header_fetch(http_request *req, const char *lname_colon, size_t len) {
  struct lws *wsi = req->wsi;
  int tok = token_for(lname_colon, len);
  if (tok >= 0) {
    int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)tok);
    if (n <= 0)
      return NULL;
    char *v = http__req_alloc(req, (size_t)n + 1);
    if (!v || lws_hdr_copy(wsi, v, n + 1, (enum lws_token_indexes)tok) < 0)
      return NULL;
    return v;
  }
  int n = lws_hdr_custom_length(wsi, lname_colon, (int)len);
  if (n < 0)
    return NULL;
  char *v = http__req_alloc(req, (size_t)n + 1);
  if (!v || lws_hdr_custom_copy(wsi, v, n + 1, lname_colon, (int)len) < 0)
    return NULL;
  /* lws keeps trailing blanks of unknown headers; RFC 9110 says they are not part of the value. */
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    v[--n] = '\0';
  return v;
}

const char *http_request_header(http_request *req, const char *name) {
  if (!req || !name || !*name)
    return NULL;
  char lname[128];
  size_t len = strlen(name);
  if (len + 2 > sizeof lname)
    return NULL;
  for (size_t i = 0; i < len; i++)
    lname[i] = (char)tolower((unsigned char)name[i]);
  lname[len] = '\0';

  for (http_hdr_cache *c = req->hdr_cache; c; c = c->next)
    if (strcmp(c->name, lname) == 0)
      return c->value;
  if (req->aborted || !req->wsi)
    return NULL;

  lname[len] = ':';
  lname[len + 1] = '\0';
  char *value = header_fetch(req, lname, len + 1);
  lname[len] = '\0';

  http_hdr_cache *c = http__req_alloc(req, sizeof *c);
  char *cname = c ? http__req_strndup(req, lname, len) : NULL;
  if (c && cname) {
    c->name = cname;
    c->value = value;
    c->next = req->hdr_cache;
    req->hdr_cache = c;
  }
  return value;
}

/* ------------------------------------------------------------------------ */
/* Query string                                                             */
/* ------------------------------------------------------------------------ */

static int unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static size_t pct_encoded_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += unreserved((unsigned char)*s) ? 1 : 3;
  return n;
}

static char *pct_encode(char *out, const char *s) {
  static const char HEX[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (unreserved(c)) {
      *out++ = (char)c;
    } else {
      *out++ = '%';
      *out++ = HEX[c >> 4];
      *out++ = HEX[c & 15];
    }
  }
  return out;
}

/* lws splits the query at '&' and ';' into url-decoded fragments "name=value". */
static int parse_query(http_request *req) {
  struct lws *wsi = req->wsi;
  req->query = "";
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (total <= 0)
    return 0;

  int count = 0;
  char *tmp = http__req_alloc(req, (size_t)total + 1);
  if (!tmp)
    return AGENTAI_ENOMEM;
  while (lws_hdr_copy_fragment(wsi, tmp, total + 1, WSI_TOKEN_HTTP_URI_ARGS, count) >= 0)
    count++;
  if (count == 0)
    return 0;

  req->params = http__req_alloc(req, sizeof(http_param) * (size_t)count);
  if (!req->params)
    return AGENTAI_ENOMEM;
  size_t qlen = 0;
  for (int i = 0; i < count; i++) {
    int n = lws_hdr_copy_fragment(wsi, tmp, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break;
    if (n == 0) /* "a=1&&b=2" */
      continue;
    char *eq = memchr(tmp, '=', (size_t)n);
    size_t nlen = eq ? (size_t)(eq - tmp) : (size_t)n;
    const char *name = http__req_strndup(req, tmp, nlen);
    const char *value = eq ? http__req_strndup(req, eq + 1, (size_t)n - nlen - 1) : "";
    if (!name || !value)
      return AGENTAI_ENOMEM;
    http_param *p = &req->params[req->nparams++];
    p->name = name;
    p->value = value;
    qlen += pct_encoded_len(name) + 1 + pct_encoded_len(value) + 1;
  }

  char *q = http__req_alloc(req, qlen + 1);
  if (!q)
    return AGENTAI_ENOMEM;
  char *o = q;
  for (int i = 0; i < req->nparams; i++) {
    if (i)
      *o++ = '&';
    o = pct_encode(o, req->params[i].name);
    *o++ = '=';
    o = pct_encode(o, req->params[i].value);
  }
  *o = '\0';
  req->query = q;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Request id                                                               */
/* ------------------------------------------------------------------------ */

static int id_is_sane(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    unsigned char c = (unsigned char)s[n];
    if (!(isalnum(c) || strchr("._:/+=-", c)))
      return 0;
    if (n >= 128)
      return 0;
  }
  return n > 0;
}

static void id_generate(http_server *srv, char *out) {
  static const char HEX[] = "0123456789abcdef";
  if (srv->rnd_pos + 12 > sizeof srv->rnd) {
    if (RAND_bytes(srv->rnd, (int)sizeof srv->rnd) != 1) {
      /* Ids need to be unique, not secret: fall back to the clock and a counter. */
      static uint64_t counter;
      uint64_t t = uv_hrtime() ^ (++counter << 40);
      for (size_t i = 0; i < sizeof srv->rnd; i++)
        srv->rnd[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    srv->rnd_pos = 0;
  }
  memcpy(out, "req_", 4);
  for (int i = 0; i < 12; i++) {
    unsigned char b = srv->rnd[srv->rnd_pos + (size_t)i];
    out[4 + i * 2] = HEX[b >> 4];
    out[5 + i * 2] = HEX[b & 15];
  }
  out[28] = '\0';
  srv->rnd_pos += 12;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                             */
/* ------------------------------------------------------------------------ */

http_request *http__req_new(http_server *srv, struct lws *wsi, http_pss *pss, const char *uri,
                            size_t uri_len) {
  http_request *req = malloc(sizeof *req);
  if (!req)
    return NULL;
  /* Only the fixed part needs zeroing; the inline arena is handed out as needed. */
  memset(req, 0, offsetof(http_request, a_inline));
  req->a_ptr = req->a_inline;
  req->a_left = sizeof req->a_inline;
  req->srv = srv;
  req->wsi = wsi;
  req->pss = pss;
  req->state = HTTP_REQ_READING;
  req->started_ns = uv_hrtime();

  char *uri_ptr = NULL;
  int ulen = 0;
  int m = lws_http_get_uri_and_method(wsi, &uri_ptr, &ulen);
  req->method =
      (m >= 0 && m < (int)(sizeof METHOD_NAMES / sizeof METHOD_NAMES[0])) ? METHOD_NAMES[m] : "GET";
  req->is_head = m == LWSHUMETH_HEAD;

  req->path = http__req_strndup(req, uri ? uri : "/", uri ? uri_len : 1);
  if (!req->path || parse_query(req) < 0) {
    http__req_free(req);
    return NULL;
  }

  const char *cid = http_request_header(req, "x-request-id");
  if (cid && id_is_sane(cid))
    memcpy(req->id, cid, strlen(cid) + 1);
  else
    id_generate(srv, req->id);
  return req;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

const char *http_request_method(const http_request *req) {
  return req->method;
}

const char *http_request_path(const http_request *req) {
  return req->path;
}

const char *http_request_query(const http_request *req) {
  return req->query;
}

const char *http_request_query_param(const http_request *req, const char *name) {
  if (!name)
    return NULL;
  for (int i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0)
      return req->params[i].value;
  return NULL;
}

const char *http_request_body(const http_request *req, size_t *len) {
  if (len)
    *len = req->body ? req->body_len : 0;
  return req->body ? req->body : "";
}

const char *http_request_id(const http_request *req) {
  return req->id;
}

int http_request_aborted(const http_request *req) {
  return req->aborted;
}

void http_request_on_abort(http_request *req, http_abort_fn cb, void *ud) {
  req->abort_cb = cb;
  req->abort_ud = ud;
}

void http_request_set_route(http_request *req, const char *route) {
  req->route = route;
}

const char *http_request_route(const http_request *req) {
  return req->route;
}

void http__req_report(http_request *req, int status) {
  http_server *srv = req->srv;
  if (srv && srv->on_response)
    srv->on_response(srv->ud, req, status, (double)(uv_hrtime() - req->started_ns) / 1e9);
}
