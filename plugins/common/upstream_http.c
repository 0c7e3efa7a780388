/* plugins/common/upstream_http.c — helpers shared by the HTTP provider plugins (see
 * upstream_http.h): error mapping, rate-limit headers, buffer, line splitter, "providers" config,
 * request building. */
#include "upstream_http.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define UH_DETAIL_MAX 300

/* ---- error mapping ---- */

int uh_status_to_err(int status) {
  if (status >= 200 && status < 300)
    return 0;
  switch (status) {
    case 400:
      return AGENTAI_EINVAL;
    case 401:
    case 403:
      return AGENTAI_EAUTH;
    case 404:
      return AGENTAI_ENOENT;
    case 408:
    case 504:
      return AGENTAI_ETIMEDOUT;
    case 413:
      return AGENTAI_E2BIG;
    case 429:
      return AGENTAI_ERATELIMIT;
    default:
      break;
  }
  if (status >= 400 && status < 500)
    return AGENTAI_EINVAL;
  return AGENTAI_EUPSTREAM;
}

int uh_transport_to_err(int host_err) {
  switch (host_err) {
    case 0:
    case AGENTAI_ETIMEDOUT:
    case AGENTAI_E2BIG:
    case AGENTAI_ECANCELED:
    case AGENTAI_ENOMEM:
    case AGENTAI_EUPSTREAM:
      return host_err;
    default:
      return AGENTAI_EUPSTREAM;
  }
}

/* Copies s as one line: control characters become spaces, runs of spaces collapse, the ends are
 * trimmed, and the cut falls on a UTF-8 character boundary. */
static size_t one_line(const char *s, size_t len, char *out, size_t outlen) {
  if (outlen == 0)
    return 0;
  size_t cap = outlen - 1 < UH_DETAIL_MAX ? outlen - 1 : UH_DETAIL_MAX;
  size_t n = 0;
  int space = 1; /* drops leading blanks */
  for (size_t i = 0; i < len && n < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f || c == ' ') {
      if (!space)
        out[n++] = ' ';
      space = 1;
      continue;
    }
    out[n++] = (char)c;
    space = 0;
  }
  /* A cut inside a multi-byte character: back up to its lead byte. */
  if (n == cap && n > 0) {
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
      k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
      unsigned char lead = (unsigned char)out[k - 1];
      size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (n - (k - 1) < need)
        n = k - 1;
    }
  }
  while (n > 0 && out[n - 1] == ' ')
    n--;
  out[n] = '\0';
  return n;
}

size_t uh_error_detail(const char *body, size_t len, char *out, size_t outlen) {
  if (outlen == 0)
    return 0;
  out[0] = '\0';
  if (!body || len == 0)
    return 0;
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (root) {
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *msg = NULL;
    if (cJSON_IsObject(err))
      msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    else if (cJSON_IsString(err))
      msg = err;
    if (!cJSON_IsString(msg))
      msg = cJSON_GetObjectItemCaseSensitive(root, "message");
    size_t n = 0;
    if (cJSON_IsString(msg))
      n = one_line(msg->valuestring, strlen(msg->valuestring), out, outlen);
    cJSON_Delete(root);
    return n;
  }
  /* Plain text is worth quoting; an HTML error page from a proxy is not. */
  size_t i = 0;
  while (i < len && isspace((unsigned char)body[i]))
    i++;
  if (i < len && body[i] == '<')
    return 0;
  const char *nl = memchr(body + i, '\n', len - i);
  return one_line(body + i, nl ? (size_t)(nl - (body + i)) : len - i, out, outlen);
}

/* ---- rate limits ---- */

int64_t uh_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (no locale, no timegm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int month_index(const char *s) {
  static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  for (int i = 0; i < 12; i++)
    if (strncmp(s, names + 3 * i, 3) == 0)
      return i + 1;
  return 0;
}

/* Reads exactly `digits` decimal digits (or 1..digits when exact is 0). */
static const char *read_num(const char *p, int digits, int exact, int *out) {
  int v = 0, n = 0;
  while (n < digits && *p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    n++;
  }
  if (n == 0 || (exact && n != digits))
    return NULL;
  *out = v;
  return p;
}

/* "08:49:37" */
static const char *read_clock(const char *p, int *h, int *mi, int *s) {
  if (!(p = read_num(p, 2, 1, h)) || *p++ != ':' || !(p = read_num(p, 2, 1, mi)) || *p++ != ':' ||
      !(p = read_num(p, 2, 1, s)))
    return NULL;
  return p;
}

/* Parses the three HTTP-date forms of RFC 9110 into Unix seconds; -1 when it is none of them. */
static int64_t parse_http_date(const char *s) {
  int d = 0, mon = 0, y = 0, h = 0, mi = 0, sec = 0;
  const char *p = strchr(s, ',');
  if (p) {
    p++;
    while (*p == ' ')
      p++;
    if (!(p = read_num(p, 2, 0, &d)))
      return -1;
    if (*p == ' ') { /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
      if (!(mon = month_index(p + 1)) || p[4] != ' ' || !(p = read_num(p + 5, 4, 1, &y)))
        return -1;
    } else if (*p == '-') { /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
      if (!(mon = month_index(p + 1)) || p[4] != '-' || !(p = read_num(p + 5, 2, 1, &y)))
        return -1;
      y += y < 70 ? 2000 : 1900;
    } else {
      return -1;
    }
    if (*p++ != ' ' || !(p = read_clock(p, &h, &mi, &sec)) || strcmp(p, " GMT") != 0)
      return -1;
  } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (strlen(s) < 24 || s[3] != ' ' || !(mon = month_index(s + 4)) || s[7] != ' ')
      return -1;
    p = s + 8;
    if (*p == ' ')
      p++;
    if (!(p = read_num(p, 2, 0, &d)) || *p++ != ' ' || !(p = read_clock(p, &h, &mi, &sec)) ||
        *p++ != ' ' || !(p = read_num(p, 4, 1, &y)) || *p)
      return -1;
  }
  if (d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  return days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60 + sec;
}

int uh_parse_rfc3339(const char *s, int64_t *unix_s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  const char *p = s;
  if (!p || !(p = read_num(p, 4, 1, &y)) || *p++ != '-' || !(p = read_num(p, 2, 1, &mo)) ||
      *p++ != '-' || !(p = read_num(p, 2, 1, &d)) || (*p != 'T' && *p != 't' && *p != ' ') ||
      !(p = read_clock(p + 1, &h, &mi, &sec)))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  if (*p == '.') { /* fractions of a second: dropped */
    if (!isdigit((unsigned char)*++p))
      return -1;
    while (isdigit((unsigned char)*p))
      p++;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh = 0, om = 0;
    if (!(p = read_num(p, 2, 1, &oh)) || *p++ != ':' || !(p = read_num(p, 2, 1, &om)) || oh > 23 ||
        om > 59)
      return -1;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return -1;
  }
  if (*p)
    return -1;
  *unix_s = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return 0;
}

/* Parses "123" or "1.5" (seconds) into ms, rounding up; -1 when not a plain decimal. */
static int64_t parse_seconds(const char *s) {
  const char *p = s;
  int64_t whole = 0;
  if (!(*p >= '0' && *p <= '9'))
    return -1;
  while (*p >= '0' && *p <= '9') {
    if (whole < INT64_MAX / 10000)
      whole = whole * 10 + (*p - '0');
    p++;
  }
  int64_t frac_ms = 0;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9'))
      return -1;
    int64_t scale = 100;
    int rest = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (scale)
        frac_ms += (*p - '0') * scale, scale /= 10;
      else if (*p != '0')
        rest = 1;
    }
    frac_ms += rest;
  }
  if (*p)
    return -1;
  if (whole >= INT64_MAX / 10000)
    return INT64_MAX / 10;
  return whole * 1000 + frac_ms;
}

int64_t uh_parse_retry_after(const char *value, int64_t now_ms) {
  if (!value)
    return -1;
  while (*value == ' ' || *value == '\t')
    value++;
  char tmp[64];
  size_t n = strlen(value);
  while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
    n--;
  if (n == 0 || n >= sizeof tmp)
    return -1;
  memcpy(tmp, value, n);
  tmp[n] = '\0';
  int64_t ms = parse_seconds(tmp);
  if (ms >= 0)
    return ms;
  int64_t at = parse_http_date(tmp);
  if (at < 0)
    return -1;
  int64_t wait = at * 1000 - now_ms;
  return wait > 0 ? wait : 0;
}

int64_t uh_parse_reset_duration(const char *value) {
  if (!value || !*value)
    return -1;
  const char *p = value;
  double total_ms = 0;
  while (*p) {
    if (!((*p >= '0' && *p <= '9') || *p == '.'))
      return -1;
    char *end;
    double v = strtod(p, &end);
    if (end == p)
      return -1;
    p = end;
    double unit;
    if (strncmp(p, "ms", 2) == 0)
      unit = 1, p += 2;
    else if (strncmp(p, "us", 2) == 0)
      unit = 1e-3, p += 2;
    else if (strncmp(p, "\xC2\xB5s", 3) == 0) /* "µs" */
      unit = 1e-3, p += 3;
    else if (strncmp(p, "ns", 2) == 0)
      unit = 1e-6, p += 2;
    else if (*p == 'h')
      unit = 3600e3, p++;
    else if (*p == 'm')
      unit = 60e3, p++;
    else if (*p == 's')
      unit = 1e3, p++;
    else
      return -1;
    total_ms += v * unit;
    if (total_ms > 1e15)
      return -1;
  }
  int64_t ms = (int64_t)total_ms;
  return (double)ms < total_ms ? ms + 1 : ms;
}

static const char *header_get(const agentai_http_header *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (h[i].name && h[i].value && strcasecmp(h[i].name, name) == 0)
      return h[i].value;
  return NULL;
}

int64_t uh_retry_after_ms(const agentai_http_header *headers, size_t n, int64_t now_ms) {
  const char *v = header_get(headers, n, "retry-after-ms");
  int64_t ms;
  if (v) {
    char *end;
    double d = strtod(v, &end);
    if (end != v && *end == '\0' && d >= 0 && d < 1e12 && isdigit((unsigned char)*v))
      return (int64_t)d + ((double)(int64_t)d < d);
  }
  if ((v = header_get(headers, n, "retry-after")) && (ms = uh_parse_retry_after(v, now_ms)) >= 0)
    return ms;
  static const char *kinds[] = {"requests", "tokens"};
  int64_t best = -1;
  for (size_t i = 0; i < 2; i++) {
    char name[64];
    snprintf(name, sizeof name, "x-ratelimit-remaining-%s", kinds[i]);
    const char *left = header_get(headers, n, name);
    if (!left || strtol(left, NULL, 10) != 0 || !isdigit((unsigned char)*left))
      continue;
    snprintf(name, sizeof name, "x-ratelimit-reset-%s", kinds[i]);
    int64_t reset = uh_parse_reset_duration(header_get(headers, n, name));
    if (reset > best)
      best = reset;
  }
  return best;
}

char *uh_ratelimit_json(const agentai_http_header *headers, size_t n) {
  cJSON *obj = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *name = headers[i].name;
    if (!name || !headers[i].value)
      continue;
    if (strncasecmp(name, "x-ratelimit-", 12) != 0 && strcasecmp(name, "retry-after") != 0 &&
        strcasecmp(name, "retry-after-ms") != 0)
      continue;
    char lower[128];
    size_t len = strlen(name);
    if (len >= sizeof lower)
      continue;
    for (size_t k = 0; k <= len; k++)
      lower[k] = (char)tolower((unsigned char)name[k]);
    if (!obj && !(obj = cJSON_CreateObject()))
      return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, lower); /* a repeated header: the last wins */
    if (!cJSON_AddStringToObject(obj, lower, headers[i].value)) {
      cJSON_Delete(obj);
      return NULL;
    }
  }
  if (!obj)
    return NULL;
  char *text = cJSON_PrintUnformatted(obj);
  cJSON_Delete(obj);
  return text;
}

/* ---- growable buffer ---- */

int uh_buf_append(uh_buf *b, const void *p, size_t n) {
  if (n > SIZE_MAX - b->len - 1)
    return AGENTAI_ENOMEM;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return AGENTAI_ENOMEM;
    b->data = grown;
    b->cap = cap;
  }
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int uh_buf_puts(uh_buf *b, const char *s) {
  return uh_buf_append(b, s, strlen(s));
}

const char *uh_buf_cstr(uh_buf *b) {
  if (!b->data && uh_buf_append(b, "", 0) != 0)
    return NULL;
  return b->data;
}

char *uh_buf_take(uh_buf *b) {
  if (!uh_buf_cstr(b))
    return NULL;
  char *d = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

void uh_buf_free(uh_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- line splitter ---- */

void uh_lines_init(uh_lines *ls, size_t max_line, int cr_eol) {
  memset(ls, 0, sizeof *ls);
  ls->max_line = max_line ? max_line : (size_t)1 << 20;
  ls->cr_eol = cr_eol;
}

/* Delivers a line (partial + data[0..n)) and empties partial. */
static int emit_line(uh_lines *ls, const char *data, size_t n, uh_line_fn fn, void *ud) {
  const char *line = data;
  if (ls->partial.len) {
    if (uh_buf_append(&ls->partial, data, n) != 0)
      return AGENTAI_ENOMEM;
    line = ls->partial.data;
    n = ls->partial.len;
  }
  if (!ls->cr_eol && n > 0 && line[n - 1] == '\r')
    n--;
  ls->partial.len = 0;
  if (n > ls->max_line)
    return AGENTAI_E2BIG;
  return fn(ud, line, n);
}

int uh_lines_feed(uh_lines *ls, const char *data, size_t len, uh_line_fn fn, void *ud) {
  size_t i = 0;
  if (ls->after_cr && len > 0) {
    ls->after_cr = 0;
    if (data[0] == '\n')
      i = 1;
  }
  while (i < len) {
    size_t j = i;
    while (j < len && data[j] != '\n' && !(ls->cr_eol && data[j] == '\r'))
      j++;
    if (j == len) {
      /* NDJSON: the \r that may precede the coming \n is not part of the line */
      if (ls->partial.len + (len - i) > ls->max_line + (ls->cr_eol ? 0 : 1))
        return AGENTAI_E2BIG;
      return uh_buf_append(&ls->partial, data + i, len - i);
    }
    int rc = emit_line(ls, data + i, j - i, fn, ud);
    if (rc != 0)
      return rc;
    if (data[j] == '\r') {
      if (j + 1 == len)
        ls->after_cr = 1;
      else if (data[j + 1] == '\n')
        j++;
    }
    i = j + 1;
  }
  return 0;
}

int uh_lines_finish(uh_lines *ls, uh_line_fn fn, void *ud) {
  if (ls->partial.len == 0)
    return 0;
  return emit_line(ls, "", 0, fn, ud);
}

void uh_lines_free(uh_lines *ls) {
  uh_buf_free(&ls->partial);
}

/* ---- configuration ---- */

static const char *const ENTRY_KEYS[] = {"base_url",        "api_key_env",     "models",
                                         "headers",         "timeout_ms",      "connect_timeout_ms",
                                         "idle_timeout_ms", "max_response_mb", "ca_file"};
#define N_ENTRY_KEYS (sizeof ENTRY_KEYS / sizeof ENTRY_KEYS[0])

static int cfg_fail(char *errbuf, size_t len, const char *path, const char *key, const char *what) {
  if (errbuf && len)
    snprintf(errbuf, len, "%s%s%s: %s", path, *path ? "." : "", key, what);
  return AGENTAI_EINVAL;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* An HTTP header name is a token (RFC 9110); a value has no control characters but tab. */
static int header_name_ok(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
      return 0;
  return 1;
}

static int header_value_ok(const char *s) {
  for (; *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
      return 0;
  return 1;
}

static int base_url_ok(const char *s) {
  const char *rest = NULL;
  if (strncasecmp(s, "http://", 7) == 0)
    rest = s + 7;
  else if (strncasecmp(s, "https://", 8) == 0)
    rest = s + 8;
  if (!rest || !*rest || *rest == '/')
    return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

/* Reads a non-negative integer member into *out (at most max). */
static int cfg_uint(const cJSON *v, uint64_t max, uint64_t *out) {
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
      v->valuedouble != (double)(uint64_t)v->valuedouble)
    return -1;
  *out = (uint64_t)v->valuedouble;
  return 0;
}

static int set_string(char **dst, const cJSON *v) {
  free(*dst);
  return (*dst = dup_str(v->valuestring)) ? 0 : AGENTAI_ENOMEM;
}

static int parse_entry(const cJSON *entry, const char *path, uh_provider_cfg *c, char *errbuf,
                       size_t len) {
  char known[256] = "";
  for (size_t k = 0; k < N_ENTRY_KEYS; k++)
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
             ENTRY_KEYS[k]);
  for (const cJSON *v = entry->child; v; v = v->next) {
    const char *key = v->string;
    uint64_t num = 0;
    if (strcmp(key, "base_url") == 0) {
      if (!cJSON_IsString(v) || !base_url_ok(v->valuestring))
        return cfg_fail(errbuf, len, path, key, "must be an http:// or https:// URL");
      if (set_string(&c->base_url, v) != 0)
        return AGENTAI_ENOMEM;
    } else if (strcmp(key, "api_key_env") == 0) {
      if (!cJSON_IsString(v) || !*v->valuestring || strchr(v->valuestring, '='))
        return cfg_fail(errbuf, len, path, key, "must be the name of an environment variable");
      if (set_string(&c->api_key_env, v) != 0)
        return AGENTAI_ENOMEM;
    } else if (strcmp(key, "ca_file") == 0) {
      if (!cJSON_IsString(v) || !*v->valuestring)
        return cfg_fail(errbuf, len, path, key, "must be a file path");
      if (set_string(&c->ca_file, v) != 0)
        return AGENTAI_ENOMEM;
    } else if (strcmp(key, "models") == 0) {
      if (!cJSON_IsArray(v))
        return cfg_fail(errbuf, len, path, key, "must be an array of strings");
      size_t n = (size_t)cJSON_GetArraySize(v);
      if (!(c->models = calloc(n ? n : 1, sizeof *c->models)))
        return AGENTAI_ENOMEM;
      for (const cJSON *m = v->child; m; m = m->next) {
        if (!cJSON_IsString(m) || !*m->valuestring)
          return cfg_fail(errbuf, len, path, key, "must be an array of non-empty strings");
        if (!(c->models[c->n_models++] = dup_str(m->valuestring)))
          return AGENTAI_ENOMEM;
      }
    } else if (strcmp(key, "headers") == 0) {
      if (!cJSON_IsObject(v))
        return cfg_fail(errbuf, len, path, key, "must be an object of header strings");
      size_t n = (size_t)cJSON_GetArraySize(v);
      if (!(c->headers = calloc(n ? n : 1, sizeof *c->headers)))
        return AGENTAI_ENOMEM;
      for (const cJSON *h = v->child; h; h = h->next) {
        char sub[200];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        if (!header_name_ok(h->string))
          return cfg_fail(errbuf, len, sub, h->string, "not a valid header name");
        if (!cJSON_IsString(h) || !header_value_ok(h->valuestring))
          return cfg_fail(errbuf, len, sub, h->string, "must be a string without line breaks");
        agentai_http_header *slot = &c->headers[c->n_headers++];
        if (!(slot->name = dup_str(h->string)) || !(slot->value = dup_str(h->valuestring)))
          return AGENTAI_ENOMEM;
      }
    } else if (strcmp(key, "timeout_ms") == 0 || strcmp(key, "connect_timeout_ms") == 0 ||
               strcmp(key, "idle_timeout_ms") == 0) {
      if (cfg_uint(v, UINT32_MAX, &num) != 0)
        return cfg_fail(errbuf, len, path, key, "must be a non-negative integer (milliseconds)");
      uint32_t *dst = key[0] == 't'   ? &c->timeout_ms
                      : key[0] == 'c' ? &c->connect_timeout_ms
                                      : &c->idle_timeout_ms;
      *dst = (uint32_t)num;
    } else if (strcmp(key, "max_response_mb") == 0) {
      if (cfg_uint(v, 1u << 20, &num) != 0 || num == 0)
        return cfg_fail(errbuf, len, path, key, "must be a positive integer (MiB)");
      c->max_response_bytes = num << 20;
    } else {
      char what[320];
      snprintf(what, sizeof what, "unknown key (known: %s)", known);
      return cfg_fail(errbuf, len, path, key, what);
    }
  }
  return 0;
}

void uh_config_free(uh_provider_cfg *cfgs, size_t n) {
  if (!cfgs)
    return;
  for (size_t i = 0; i < n; i++) {
    uh_provider_cfg *c = &cfgs[i];
    free(c->name);
    free(c->base_url);
    free(c->api_key_env);
    free(c->ca_file);
    for (size_t k = 0; k < c->n_models; k++)
      free(c->models[k]);
    free(c->models);
    for (size_t k = 0; k < c->n_headers; k++) {
      free((char *)c->headers[k].name);
      free((char *)c->headers[k].value);
    }
    free(c->headers);
  }
  free(cfgs);
}

/* Applies the defaults and drops a trailing '/' of base_url. */
static int finish_entry(uh_provider_cfg *c, const uh_defaults *d) {
  if (!c->base_url && !(c->base_url = dup_str(d->base_url)))
    return AGENTAI_ENOMEM;
  size_t n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/')
    c->base_url[--n] = '\0';
  return 0;
}

int uh_config_parse(const char *config_json, const uh_defaults *d, uh_provider_cfg **out,
                    size_t *n_out, char *errbuf, size_t errbuf_len) {
  *out = NULL;
  *n_out = 0;
  cJSON *root = cJSON_Parse(config_json ? config_json : "{}");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    snprintf(errbuf, errbuf_len, "configuration: not a JSON object");
    return AGENTAI_EINVAL;
  }
  int rc = 0;
  const cJSON *providers = NULL;
  for (const cJSON *v = root->child; v; v = v->next) {
    if (strcmp(v->string, "providers") != 0) {
      rc = cfg_fail(errbuf, errbuf_len, "", v->string, "unknown key (known: providers)");
      goto out;
    }
    providers = v;
  }
  if (providers && (!cJSON_IsObject(providers) || !providers->child)) {
    rc = cfg_fail(errbuf, errbuf_len, "", "providers",
                  "must be an object with one member per provider");
    goto out;
  }
  size_t n = providers ? (size_t)cJSON_GetArraySize(providers) : 1;
  uh_provider_cfg *cfgs = calloc(n, sizeof *cfgs);
  if (!cfgs) {
    rc = AGENTAI_ENOMEM;
    goto out;
  }
  size_t made = 0;
  if (!providers) {
    made = 1;
    if (!(cfgs[0].name = dup_str(d->name)) ||
        (d->api_key_env && !(cfgs[0].api_key_env = dup_str(d->api_key_env))) ||
        finish_entry(&cfgs[0], d) != 0)
      rc = AGENTAI_ENOMEM;
  }
  for (const cJSON *e = providers ? providers->child : NULL; e && rc == 0; e = e->next) {
    uh_provider_cfg *c = &cfgs[made++];
    char path[160];
    snprintf(path, sizeof path, "providers.%s", e->string);
    if (!*e->string)
      rc = cfg_fail(errbuf, errbuf_len, "providers", "\"\"", "a provider needs a name");
    else if (!cJSON_IsObject(e))
      rc = cfg_fail(errbuf, errbuf_len, "providers", e->string, "must be an object");
    else if (!(c->name = dup_str(e->string)))
      rc = AGENTAI_ENOMEM;
    else if ((rc = parse_entry(e, path, c, errbuf, errbuf_len)) == 0)
      rc = finish_entry(c, d);
  }
  if (rc == AGENTAI_ENOMEM)
    snprintf(errbuf, errbuf_len, "configuration: out of memory");
  if (rc != 0) {
    uh_config_free(cfgs, made);
    goto out;
  }
  *out = cfgs;
  *n_out = made;
out:
  cJSON_Delete(root);
  return rc;
}

/* ---- request building ---- */

static void wipe(char *s) {
  if (!s)
    return;
  volatile char *p = s;
  while (*p)
    *p++ = 0;
}

void uh_req_free(uh_req *r) {
  wipe(r->auth);
  free(r->auth);
  free(r->url);
  free(r->headers);
  memset(r, 0, sizeof *r);
}

int uh_req_prepare(uh_req *r, const uh_provider_cfg *cfg, const char *method, const char *path,
                   const char *accept, const char *body, size_t body_len, char *msg,
                   size_t msg_len) {
  memset(r, 0, sizeof *r);
  if (cfg->api_key_env) {
    const char *key = getenv(cfg->api_key_env);
    if (!key || !*key) {
      snprintf(msg, msg_len, "%s: the API key variable %s is not set or empty", cfg->name,
               cfg->api_key_env);
      return AGENTAI_EAUTH;
    }
    size_t n = strlen(key) + sizeof "Bearer ";
    if (!(r->auth = malloc(n)))
      goto nomem;
    snprintf(r->auth, n, "Bearer %s", key);
  }
  size_t ulen = strlen(cfg->base_url) + strlen(path) + 1;
  if (!(r->url = malloc(ulen)))
    goto nomem;
  snprintf(r->url, ulen, "%s%s", cfg->base_url, path);
  if (!(r->headers = calloc(cfg->n_headers + 3, sizeof *r->headers)))
    goto nomem;
  /* A configured header replaces ours of the same name (e.g. a proxy's own Authorization). */
  if (accept && !header_get(cfg->headers, cfg->n_headers, "Accept"))
    r->headers[r->n_headers++] = (agentai_http_header){"Accept", accept};
  if (body && !header_get(cfg->headers, cfg->n_headers, "Content-Type"))
    r->headers[r->n_headers++] = (agentai_http_header){"Content-Type", "application/json"};
  if (r->auth && !header_get(cfg->headers, cfg->n_headers, "Authorization"))
    r->headers[r->n_headers++] = (agentai_http_header){"Authorization", r->auth};
  for (size_t i = 0; i < cfg->n_headers; i++)
    r->headers[r->n_headers++] = cfg->headers[i];
  r->req = (agentai_http_request){
      .size = sizeof r->req,
      .method = method,
      .url = r->url,
      .headers = r->headers,
      .header_count = r->n_headers,
      .body = body,
      .body_len = body_len,
      .connect_timeout_ms = cfg->connect_timeout_ms,
      .timeout_ms = cfg->timeout_ms,
      .idle_timeout_ms = cfg->idle_timeout_ms,
      .max_response_bytes = cfg->max_response_bytes,
      .ca_file = cfg->ca_file,
  };
  return 0;
nomem:
  uh_req_free(r);
  snprintf(msg, msg_len, "%s: out of memory", cfg->name);
  return AGENTAI_ENOMEM;
}
