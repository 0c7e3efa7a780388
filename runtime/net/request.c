/* net/request.c — one HTTP request of the client: validation, the configured curl easy handle,
 * response parsing (status, headers, body) and one-line error messages without secrets. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agentai/version.h"
#include "core/errors.h"
#include "net/internal.h"

#define DEFAULT_CONNECT_MS 10000u
#define DEFAULT_TOTAL_MS (5u * 60u * 1000u)
#define DEFAULT_IDLE_MS 60000u
#define DEFAULT_MAX_BYTES ((uint64_t)64 << 20)
#define MAX_METHOD 32
/* Secrets shorter than this are not masked: they cannot be told from ordinary words. */
#define MIN_SECRET 4

/* RFC 9110 token characters: method and header names. */
static int is_token(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++) {
    unsigned char ch = (unsigned char)s[n];
    if (n >= max || ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
      return 0;
  }
  return n > 0;
}

/* Header values may hold anything but CR, LF and NUL (a C string has no NUL). */
static int is_field_value(const char *s) {
  return strpbrk(s, "\r\n") == NULL;
}

static int add_secret(agentai_http_call *call, const char *s) {
  if (!s || strlen(s) < MIN_SECRET)
    return 0;
  char **grown = realloc(call->secrets, (call->nsecrets + 1) * sizeof *grown);
  if (!grown)
    return AGENTAI_ENOMEM;
  call->secrets = grown;
  if (!(grown[call->nsecrets] = strdup(s)))
    return AGENTAI_ENOMEM;
  call->nsecrets++;
  return 0;
}

/* Parses the URL, refuses what is not absolute http(s), builds the label and
 * notes the parts that must never be printed. */
static int parse_url(agentai_http_call *call, const char *method, const char *url) {
  CURLU *u = curl_url();
  if (!u)
    return AGENTAI_ENOMEM;
  int rc = AGENTAI_EINVAL;
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  char *user = NULL, *password = NULL, *query = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
    goto out;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
    goto out;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
    goto out;
  curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when the URL names one */
  if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
    path = NULL;
  curl_url_get(u, CURLUPART_USER, &user, 0);
  curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  snprintf(call->label, sizeof call->label, "%s %s://%s%s%s%s", method, scheme, host,
           port ? ":" : "", port ? port : "", path ? path : "/");
  rc = 0;
  if (add_secret(call, user) < 0 || add_secret(call, password) < 0 || add_secret(call, query) < 0)
    rc = AGENTAI_ENOMEM;
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(user);
  curl_free(password);
  curl_free(query);
  curl_url_cleanup(u);
  return rc;
}

/* ---- response parsing ---- */

static int hbuf_append(agentai_http_call *call, const char *s, size_t n) {
  if (call->hbuf_len + n + 1 > call->hbuf_cap) {
    size_t cap = call->hbuf_cap ? call->hbuf_cap * 2 : 1024;
    while (cap < call->hbuf_len + n + 1)
      cap *= 2;
    char *grown = realloc(call->hbuf, cap);
    if (!grown)
      return AGENTAI_ENOMEM;
    call->hbuf = grown;
    call->hbuf_cap = cap;
  }
  memcpy(call->hbuf + call->hbuf_len, s, n);
  call->hbuf_len += n;
  call->hbuf[call->hbuf_len] = '\0';
  return 0;
}

static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

/* One header line of the current block (CRLF already stripped). */
static int header_line(agentai_http_call *call, const char *line, size_t n) {
  static const char nul = '\0';
  if (line[0] == ' ' || line[0] == '\t') { /* obsolete folding: continues the last value */
    if (!call->nheaders)
      return 0;
    trim(&line, &n);
    call->hbuf_len--; /* reopen the last value: drop its terminator */
    if (hbuf_append(call, " ", 1) < 0 || hbuf_append(call, line, n) < 0)
      return AGENTAI_ENOMEM;
    call->hbuf_len++; /* keep the terminator hbuf_append wrote */
    return 0;
  }
  const char *colon = memchr(line, ':', n);
  if (!colon || colon == line)
    return 0; /* not a header: ignored, as curl does */
  const char *value = colon + 1;
  size_t vn = n - (size_t)(value - line);
  size_t nn = (size_t)(colon - line);
  trim(&line, &nn);
  trim(&value, &vn);
  if (hbuf_append(call, line, nn) < 0 || hbuf_append(call, &nul, 1) < 0 ||
      hbuf_append(call, value, vn) < 0 || hbuf_append(call, &nul, 1) < 0)
    return AGENTAI_ENOMEM;
  call->nheaders++;
  return 0;
}

int net_call_deliver_head(agentai_http_call *call) {
  call->head_sent = 1;
  if (!call->sink.head)
    return 0;
  agentai_http_header *hdrs = NULL;
  if (call->nheaders) {
    hdrs = malloc(call->nheaders * sizeof *hdrs);
    if (!hdrs) {
      call->abort_err = AGENTAI_ENOMEM;
      return -1;
    }
    const char *p = call->hbuf;
    for (size_t i = 0; i < call->nheaders; i++) {
      hdrs[i].name = p;
      p += strlen(p) + 1;
      hdrs[i].value = p;
      p += strlen(p) + 1;
    }
  }
  int rc = call->sink.head(call->sink.ud, call->status, hdrs, call->nheaders);
  free(hdrs);
  if (call->state != NET_CALL_RUNNING)
    return -1; /* cancelled from inside head() */
  if (rc) {
    call->abort_err = AGENTAI_ECANCELED;
    return -1;
  }
  return 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
  agentai_http_call *call = ud;
  size_t len = size * nitems, n = len;
  if (call->state != NET_CALL_RUNNING)
    return CURL_WRITEFUNC_ERROR;
  call->last_rx = uv_now(call->client->loop);
  if (call->head_sent)
    return len; /* trailers */
  while (n && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
    n--;
  if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a status line opens a block */
    call->in_block = 1;
    call->hbuf_len = 0;
    call->nheaders = 0;
    call->status = 0;
    const char *sp = memchr(buf, ' ', n);
    if (sp && (size_t)(sp - buf) + 4 <= n && isdigit((unsigned char)sp[1]) &&
        isdigit((unsigned char)sp[2]) && isdigit((unsigned char)sp[3]))
      call->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
    return len;
  }
  if (!call->in_block)
    return len;
  if (n == 0) { /* the blank line ends the block */
    call->in_block = 0;
    if (call->status >= 100 && call->status < 200)
      return len; /* interim (100 Continue, 103 Early Hints): the real head follows */
    return net_call_deliver_head(call) == 0 ? len : CURL_WRITEFUNC_ERROR;
  }
  if (header_line(call, buf, n) < 0) {
    call->abort_err = AGENTAI_ENOMEM;
    return CURL_WRITEFUNC_ERROR;
  }
  return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud) {
  agentai_http_call *call = ud;
  size_t len = size * nmemb;
  if (call->state != NET_CALL_RUNNING)
    return CURL_WRITEFUNC_ERROR;
  call->last_rx = uv_now(call->client->loop);
  if (!call->head_sent) {
    long status = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    call->status = (int)status;
    if (net_call_deliver_head(call) != 0)
      return CURL_WRITEFUNC_ERROR;
  }
  if (len > call->max_bytes - call->received) {
    call->abort_err = AGENTAI_E2BIG;
    return CURL_WRITEFUNC_ERROR;
  }
  call->received += len;
  if (call->sink.body) {
    int rc = call->sink.body(call->sink.ud, data, len);
    if (call->state != NET_CALL_RUNNING)
      return CURL_WRITEFUNC_ERROR;
    if (rc) {
      call->abort_err = AGENTAI_ECANCELED;
      return CURL_WRITEFUNC_ERROR;
    }
    return len;
  }
  if (call->body_len + len + 1 > call->body_cap) {
    size_t cap = call->body_cap ? call->body_cap * 2 : 16384;
    while (cap < call->body_len + len + 1)
      cap *= 2;
    char *grown = realloc(call->body, cap);
    if (!grown) {
      call->abort_err = AGENTAI_ENOMEM;
      return CURL_WRITEFUNC_ERROR;
    }
    call->body = grown;
    call->body_cap = cap;
  }
  memcpy(call->body + call->body_len, data, len);
  call->body_len += len;
  call->body[call->body_len] = '\0';
  return len;
}

/* ---- messages ---- */

/* Replaces every occurrence of s in msg (capacity cap) with "***". */
static void mask(char *msg, size_t cap, const char *s) {
  size_t sn = strlen(s);
  char *p = msg;
  while ((p = strstr(p, s)) != NULL) {
    size_t tail = strlen(p + sn);
    if ((size_t)(p - msg) + 3 + tail + 1 > cap)
      tail = cap - (size_t)(p - msg) - 4;
    memmove(p + 3, p + sn, tail);
    p[3 + tail] = '\0';
    memcpy(p, "***", 3);
    p += 3;
  }
}

void net_call_message(agentai_http_call *call, const char *what) {
  char *m = call->message;
  snprintf(m, sizeof call->message, "%s: %s", call->label, what);
  for (size_t i = 0; i < call->nsecrets; i++)
    mask(m, sizeof call->message, call->secrets[i]);
  for (char *p = m; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
}

/* "<what>" or "<what> (<curl's own words>)": curl's error buffer says which
 * certificate check failed or how much of the body was missing. */
static void message_with_detail(agentai_http_call *call, const char *what) {
  char text[600];
  size_t n = strlen(call->errbuf);
  while (n && (call->errbuf[n - 1] == '\n' || call->errbuf[n - 1] == '\r'))
    call->errbuf[--n] = '\0';
  if (n)
    snprintf(text, sizeof text, "%s (%s)", what, call->errbuf);
  else
    snprintf(text, sizeof text, "%s", what);
  net_call_message(call, text);
}

int net_call_outcome(agentai_http_call *call, CURLcode code) {
  char what[160];
  if (code == CURLE_OK) {
    if (!call->head_sent) { /* a response without a body still has a head */
      long status = 0;
      curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
      call->status = (int)status;
      if (net_call_deliver_head(call) != 0)
        code = CURLE_WRITE_ERROR;
    }
    if (code == CURLE_OK)
      return 0;
  }
  if (call->abort_err && (code == CURLE_WRITE_ERROR || code == CURLE_ABORTED_BY_CALLBACK)) {
    if (call->abort_err == AGENTAI_E2BIG)
      snprintf(what, sizeof what, "response body larger than %llu bytes",
               (unsigned long long)call->max_bytes);
    else if (call->abort_err == AGENTAI_ECANCELED)
      snprintf(what, sizeof what, "stopped by the caller");
    else
      snprintf(what, sizeof what, "out of memory");
    net_call_message(call, what);
    return call->abort_err;
  }
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: {
      /* Which limit: the total one cannot fire before timeout_ms have passed
       * (curl's connect time reads 0 on a reused connection, so not that). */
      uint64_t elapsed = uv_now(call->client->loop) - call->start_ms;
      if (call->connect_timeout_ms < call->timeout_ms && elapsed + 20 < call->timeout_ms)
        snprintf(what, sizeof what, "connect timed out after %llu ms",
                 (unsigned long long)call->connect_timeout_ms);
      else
        snprintf(what, sizeof what, "timed out after %llu ms (the request's total limit)",
                 (unsigned long long)call->timeout_ms);
      net_call_message(call, what);
      return AGENTAI_ETIMEDOUT;
    }
    case CURLE_FILESIZE_EXCEEDED:
      snprintf(what, sizeof what, "response body larger than %llu bytes",
               (unsigned long long)call->max_bytes);
      net_call_message(call, what);
      return AGENTAI_E2BIG;
    case CURLE_OUT_OF_MEMORY:
      net_call_message(call, "out of memory");
      return AGENTAI_ENOMEM;
    case CURLE_COULDNT_RESOLVE_HOST:
      message_with_detail(call, "cannot resolve the host name");
      return AGENTAI_EUPSTREAM;
    case CURLE_COULDNT_RESOLVE_PROXY:
      message_with_detail(call, "cannot resolve the proxy's host name");
      return AGENTAI_EUPSTREAM;
    case CURLE_COULDNT_CONNECT: {
      long os = 0;
      curl_easy_getinfo(call->easy, CURLINFO_OS_ERRNO, &os);
      if (os == ECONNREFUSED) {
        net_call_message(call, "connection refused");
      } else if (os) {
        snprintf(what, sizeof what, "cannot connect: %s", strerror((int)os));
        message_with_detail(call, what);
      } else {
        message_with_detail(call, "cannot connect");
      }
      return AGENTAI_EUPSTREAM;
    }
    case CURLE_PEER_FAILED_VERIFICATION:
      message_with_detail(call, "TLS certificate verification failed");
      return AGENTAI_EUPSTREAM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      message_with_detail(call, "TLS failed");
      return AGENTAI_EUPSTREAM;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      message_with_detail(call, "connection failed");
      return AGENTAI_EUPSTREAM;
    case CURLE_PARTIAL_FILE:
      message_with_detail(call, "connection closed before the whole response arrived");
      return AGENTAI_EUPSTREAM;
    case CURLE_GOT_NOTHING:
      net_call_message(call, "the server closed the connection without answering");
      return AGENTAI_EUPSTREAM;
    default:
      snprintf(what, sizeof what, "transfer failed: %s", curl_easy_strerror(code));
      message_with_detail(call, what);
      return AGENTAI_EUPSTREAM;
  }
}

/* ---- building a call ---- */

static int add_header(agentai_http_call *call, const char *line) {
  struct curl_slist *l = curl_slist_append(call->headers, line);
  if (!l)
    return AGENTAI_ENOMEM;
  call->headers = l;
  return 0;
}

/* The request headers: the caller's, then what keeps curl from adding its
 * own defaults the caller did not ask for. */
static int build_headers(agentai_http_call *call, const agentai_http_request *req) {
  int has_expect = 0, has_type = 0;
  for (size_t i = 0; i < req->header_count; i++) {
    const agentai_http_header *h = &req->headers[i];
    if (!h->name || !h->value || !is_token(h->name, 256) || !is_field_value(h->value))
      return AGENTAI_EINVAL;
    has_expect |= strcasecmp(h->name, "Expect") == 0;
    has_type |= strcasecmp(h->name, "Content-Type") == 0;
    size_t n = strlen(h->name) + strlen(h->value) + 3;
    char *line = malloc(n);
    if (!line)
      return AGENTAI_ENOMEM;
    /* "Name;" is curl's spelling of a header with an empty value. */
    if (h->value[0])
      snprintf(line, n, "%s: %s", h->name, h->value);
    else
      snprintf(line, n, "%s;", h->name);
    int rc = add_header(call, line);
    free(line);
    if (rc < 0 || add_secret(call, h->value) < 0)
      return AGENTAI_ENOMEM;
  }
  /* No 100-continue round trip (a second of delay with servers that ignore
   * it), and no invented form content type for a body the caller did not
   * label. */
  if (!has_expect && add_header(call, "Expect:") < 0)
    return AGENTAI_ENOMEM;
  if (req->body && !has_type && add_header(call, "Content-Type:") < 0)
    return AGENTAI_ENOMEM;
  return 0;
}

static int configure(agentai_http_call *call, const agentai_http_request *req, const char *method) {
  CURL *e = call->easy;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                     \
  do {                                    \
    if (rc == CURLE_OK)                   \
      rc = curl_easy_setopt(e, opt, val); \
  } while (0)
  SET(CURLOPT_URL, req->url);
  SET(CURLOPT_PRIVATE, call);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (req->ca_file) {
    SET(CURLOPT_CAINFO, req->ca_file);
    SET(CURLOPT_CAPATH, (char *)NULL); /* the file replaces the system store, folder too */
  }
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)call->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, (long)call->timeout_ms);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)call->max_bytes);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, call);
  SET(CURLOPT_WRITEFUNCTION, on_write);
  SET(CURLOPT_WRITEDATA, call);
  SET(CURLOPT_ERRORBUFFER, call->errbuf);
  SET(CURLOPT_HTTPHEADER, call->headers);
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_USERAGENT, "agentai/" AGENTAI_VERSION_STRING);
  if (strcmp(method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else if (req->body || strcmp(method, "POST") == 0) {
    /* The size first: COPYPOSTFIELDS then copies that many bytes, NULs included. */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
    SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    if (strcmp(method, "POST") != 0)
      SET(CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "GET") != 0) {
    SET(CURLOPT_CUSTOMREQUEST, method);
  }
#undef SET
  if (rc == CURLE_OUT_OF_MEMORY)
    return AGENTAI_ENOMEM;
  return rc == CURLE_OK ? 0 : AGENTAI_EINVAL;
}

void net_call_free_parts(agentai_http_call *call) {
  if (call->easy)
    curl_easy_cleanup(call->easy);
  call->easy = NULL;
  curl_slist_free_all(call->headers);
  call->headers = NULL;
  for (size_t i = 0; i < call->nsecrets; i++) {
    /* the secrets are wiped, not just freed: they were header values */
    memset(call->secrets[i], 0, strlen(call->secrets[i]));
    free(call->secrets[i]);
  }
  free(call->secrets);
  call->secrets = NULL;
  call->nsecrets = 0;
  free(call->hbuf);
  call->hbuf = NULL;
  free(call->body);
  call->body = NULL;
}

int net_call_build(net_client *c, const agentai_http_request *req, const agentai_http_sink *sink,
                   agentai_http_call **out) {
  if (req->size < NET_REQUEST_MIN_SIZE || !sink->done || !req->url ||
      (!req->body && req->body_len) || (req->header_count && !req->headers))
    return AGENTAI_EINVAL;
  const char *method = req->method ? req->method : req->body ? "POST" : "GET";
  if (!is_token(method, MAX_METHOD))
    return AGENTAI_EINVAL;
  agentai_http_call *call = calloc(1, sizeof *call);
  if (!call)
    return AGENTAI_ENOMEM;
  call->client = c;
  call->sink = *sink;
  call->connect_timeout_ms = req->connect_timeout_ms ? req->connect_timeout_ms : DEFAULT_CONNECT_MS;
  call->timeout_ms = req->timeout_ms ? req->timeout_ms : DEFAULT_TOTAL_MS;
  call->idle_ms = req->idle_timeout_ms ? req->idle_timeout_ms : DEFAULT_IDLE_MS;
  call->max_bytes = req->max_response_bytes ? req->max_response_bytes : DEFAULT_MAX_BYTES;
  int rc = parse_url(call, method, req->url);
  if (rc == 0)
    rc = build_headers(call, req);
  if (rc == 0 && !(call->easy = curl_easy_init()))
    rc = AGENTAI_ENOMEM;
  if (rc == 0)
    rc = configure(call, req, method);
  if (rc < 0) {
    net_call_free_parts(call);
    free(call);
    return rc;
  }
  *out = call;
  return 0;
}
