/* tests/unit/test_provider_openai_common.c — the provider plugins' shared helpers
 * (plugins/common/upstream_http.c): error mapping, rate-limit headers, line splitter, config. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Plugin code has hidden visibility and no exported symbols: compile it in. */
#include "../../plugins/common/upstream_http.c"

/* ---- error mapping ---- */

static void test_status_mapping(void) {
  static const struct {
    int status, err;
  } table[] = {
      {200, 0},
      {204, 0},
      {400, AGENTAI_EINVAL},
      {401, AGENTAI_EAUTH},
      {403, AGENTAI_EAUTH},
      {404, AGENTAI_ENOENT},
      {408, AGENTAI_ETIMEDOUT},
      {504, AGENTAI_ETIMEDOUT},
      {413, AGENTAI_E2BIG},
      {429, AGENTAI_ERATELIMIT},
      {500, AGENTAI_EUPSTREAM},
      {502, AGENTAI_EUPSTREAM},
      {503, AGENTAI_EUPSTREAM},
      {599, AGENTAI_EUPSTREAM},
      {405, AGENTAI_EINVAL},
      {422, AGENTAI_EINVAL},
      {451, AGENTAI_EINVAL},
      {302, AGENTAI_EUPSTREAM},
      {0, AGENTAI_EUPSTREAM},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (uh_status_to_err(table[i].status) != table[i].err)
      fprintf(stderr, "status %d\n", table[i].status);
    CHECK_EQ_INT(uh_status_to_err(table[i].status), table[i].err);
  }
  CHECK_EQ_INT(uh_transport_to_err(0), 0);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_ETIMEDOUT), AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_E2BIG), AGENTAI_E2BIG);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_ECANCELED), AGENTAI_ECANCELED);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_EUPSTREAM), AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_ENOMEM), AGENTAI_ENOMEM);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_EIO), AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(uh_transport_to_err(AGENTAI_EINVAL), AGENTAI_EUPSTREAM);
}

static void test_error_detail(void) {
  char out[512];
  const char *oa = "{\"error\":{\"message\":\"Incorrect API key\\nprovided\",\"type\":\"x\"}}";
  CHECK(uh_error_detail(oa, strlen(oa), out, sizeof out) > 0);
  CHECK(strcmp(out, "Incorrect API key provided") == 0);
  const char *ol = "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}";
  uh_error_detail(ol, strlen(ol), out, sizeof out);
  CHECK(strcmp(out, "model \"x\" not found, try pulling it first") == 0);
  const char *msg = "{\"message\":\"  spaced\\t\\tout  \"}";
  uh_error_detail(msg, strlen(msg), out, sizeof out);
  CHECK(strcmp(out, "spaced out") == 0);
  const char *text = "  upstream connect error\nsecond line";
  uh_error_detail(text, strlen(text), out, sizeof out);
  CHECK(strcmp(out, "upstream connect error") == 0);
  const char *html = "\n<html><body>502 Bad Gateway</body></html>";
  CHECK_EQ_INT(uh_error_detail(html, strlen(html), out, sizeof out), 0);
  CHECK_EQ_INT(out[0], '\0');
  CHECK_EQ_INT(uh_error_detail("{\"error\":{}}", 12, out, sizeof out), 0);
  CHECK_EQ_INT(uh_error_detail(NULL, 0, out, sizeof out), 0);

  /* long: at most 300 bytes, never half a character */
  char body[2000];
  strcpy(body, "{\"error\":{\"message\":\"");
  for (int i = 0; i < 299; i++)
    strcat(body, "a");
  strcat(body, "\xC3\xA9\xC3\xA9 tail\"}}"); /* the cut falls inside the first é */
  size_t n = uh_error_detail(body, strlen(body), out, sizeof out);
  CHECK_EQ_INT(n, 299);
  CHECK_EQ_INT(strlen(out), 299);
  for (int i = 0; i < 1000; i++)
    body[i] = 'x';
  body[1000] = '\0';
  CHECK_EQ_INT(uh_error_detail(body, 1000, out, sizeof out), 300);
  /* a small output buffer bounds it too */
  char tiny[8];
  CHECK_EQ_INT(uh_error_detail(body, 1000, tiny, sizeof tiny), 7);
  CHECK_EQ_INT(strlen(tiny), 7);
}

/* ---- rate limits ---- */

static void test_retry_after(void) {
  int64_t now = 784111777000LL; /* Sun, 06 Nov 1994 08:49:37 GMT */
  CHECK_EQ_INT(uh_parse_retry_after("120", now), 120000);
  CHECK_EQ_INT(uh_parse_retry_after(" 2 ", now), 2000);
  CHECK_EQ_INT(uh_parse_retry_after("1.5", now), 1500);
  CHECK_EQ_INT(uh_parse_retry_after("0.0001", now), 1);
  CHECK_EQ_INT(uh_parse_retry_after("0", now), 0);
  CHECK_EQ_INT(uh_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
  CHECK_EQ_INT(uh_parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), 60000);
  CHECK_EQ_INT(uh_parse_retry_after("Sun Nov  6 08:49:40 1994", now), 3000);
  CHECK_EQ_INT(uh_parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0); /* past */
  CHECK_EQ_INT(uh_parse_retry_after("Wed, 01 Jan 2031 00:00:00 GMT", 1924992000000LL), 0);
  CHECK_EQ_INT(uh_parse_retry_after("Thu, 01 Jan 2032 00:00:01 GMT", 1956528000000LL), 1000);
  const char *bad[] = {"",
                       "  ",
                       "-1",
                       "12abc",
                       "1.",
                       ".5",
                       "soon",
                       "Sun, 06 Nov 1994 08:49:47",
                       "Sun, 06 Foo 1994 08:49:47 GMT",
                       "Sun, 32 Nov 1994 08:49:47 GMT",
                       "Sun, 06 Nov 1994 25:49:47 GMT",
                       "Sun Nov  6 08:49:40 94"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(uh_parse_retry_after(bad[i], now), -1);
  CHECK_EQ_INT(uh_parse_retry_after(NULL, now), -1);
}

static void test_reset_duration(void) {
  CHECK_EQ_INT(uh_parse_reset_duration("1s"), 1000);
  CHECK_EQ_INT(uh_parse_reset_duration("6m0s"), 360000);
  CHECK_EQ_INT(uh_parse_reset_duration("250ms"), 250);
  CHECK_EQ_INT(uh_parse_reset_duration("1h2m3.5s"), 3723500);
  CHECK_EQ_INT(uh_parse_reset_duration("0.3s"), 300);
  CHECK_EQ_INT(uh_parse_reset_duration("20us"), 1); /* rounded up: never "retry now" early */
  CHECK_EQ_INT(uh_parse_reset_duration("20\xC2\xB5s"), 1);
  CHECK_EQ_INT(uh_parse_reset_duration("0s"), 0);
  const char *bad[] = {"", "5", "1x", "s", "-1s", "1s ", "1 s", "ms"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(uh_parse_reset_duration(bad[i]), -1);
  CHECK_EQ_INT(uh_parse_reset_duration(NULL), -1);
}

static void test_retry_after_headers(void) {
  agentai_http_header h[] = {
      {"Content-Type", "application/json"}, {"Retry-After", "3"},
      {"X-RateLimit-Limit-Requests", "60"}, {"x-ratelimit-remaining-requests", "0"},
      {"x-ratelimit-reset-requests", "1s"}, {"x-ratelimit-remaining-tokens", "0"},
      {"x-ratelimit-reset-tokens", "6m0s"},
  };
  CHECK_EQ_INT(uh_retry_after_ms(h, 7, 0), 3000);
  agentai_http_header ms[] = {{"retry-after-ms", "250"}, {"Retry-After", "3"}};
  CHECK_EQ_INT(uh_retry_after_ms(ms, 2, 0), 250);
  /* no Retry-After: the longest reset of an exhausted limit */
  CHECK_EQ_INT(uh_retry_after_ms(h + 2, 5, 0), 360000);
  agentai_http_header left[] = {{"x-ratelimit-remaining-requests", "3"},
                                {"x-ratelimit-reset-requests", "1s"},
                                {"x-ratelimit-remaining-tokens", "0"},
                                {"x-ratelimit-reset-tokens", "250ms"}};
  CHECK_EQ_INT(uh_retry_after_ms(left, 4, 0), 250);
  CHECK_EQ_INT(uh_retry_after_ms(left, 2, 0), -1); /* requests left: no reason to wait */
  CHECK_EQ_INT(uh_retry_after_ms(h, 1, 0), -1);
  agentai_http_header junk[] = {{"Retry-After", "later"}};
  CHECK_EQ_INT(uh_retry_after_ms(junk, 1, 0), -1);

  char *json = uh_ratelimit_json(h, 7);
  CHECK(json != NULL);
  cJSON *o = cJSON_Parse(json);
  CHECK(cJSON_IsObject(o));
  CHECK_EQ_INT(cJSON_GetArraySize(o), 6); /* not content-type */
  CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(o, "retry-after")->valuestring, "3") == 0);
  CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(o, "x-ratelimit-limit-requests")->valuestring,
               "60") == 0);
  CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(o, "x-ratelimit-reset-tokens")->valuestring,
               "6m0s") == 0);
  cJSON_Delete(o);
  free(json);
  CHECK(uh_ratelimit_json(h, 1) == NULL);
  CHECK(uh_ratelimit_json(NULL, 0) == NULL);
}

/* ---- buffer ---- */

static void test_buf(void) {
  uh_buf b = {0};
  CHECK(strcmp(uh_buf_cstr(&b), "") == 0);
  CHECK_EQ_INT(uh_buf_puts(&b, "abc"), 0);
  for (int i = 0; i < 1000; i++)
    CHECK_EQ_INT(uh_buf_append(&b, "0123456789", 10), 0);
  CHECK_EQ_INT(b.len, 10003);
  CHECK_EQ_INT(strlen(b.data), 10003);
  char *t = uh_buf_take(&b);
  CHECK(t && strncmp(t, "abc0123", 7) == 0);
  CHECK(b.data == NULL && b.len == 0);
  free(t);
  uh_buf_free(&b);
}

/* ---- line splitter ---- */

typedef struct lines_rec {
  char out[4096];
  size_t n;
  int stop_at; /* return non-zero on this line (1-based), 0 = never */
} lines_rec;

/* Records each line as "<line>|". */
static int rec_line(void *ud, const char *line, size_t len) {
  lines_rec *r = ud;
  CHECK(r->n + len + 1 < sizeof r->out);
  memcpy(r->out + strlen(r->out), line, len);
  strcat(r->out, "|");
  r->n++;
  return r->stop_at && (int)r->n == r->stop_at ? 42 : 0;
}

/* Feeds input split at every pair of positions and compares with the expected lines. */
static void check_splits(const char *in, int cr_eol, const char *expected) {
  size_t len = strlen(in);
  for (size_t a = 0; a <= len; a++) {
    for (size_t b = a; b <= len; b++) {
      uh_lines ls;
      uh_lines_init(&ls, 0, cr_eol);
      lines_rec r = {0};
      CHECK_EQ_INT(uh_lines_feed(&ls, in, a, rec_line, &r), 0);
      CHECK_EQ_INT(uh_lines_feed(&ls, in + a, b - a, rec_line, &r), 0);
      CHECK_EQ_INT(uh_lines_feed(&ls, in + b, len - b, rec_line, &r), 0);
      CHECK_EQ_INT(uh_lines_finish(&ls, rec_line, &r), 0);
      if (strcmp(r.out, expected) != 0)
        fprintf(stderr, "split %zu,%zu: got '%s'\n", a, b, r.out);
      CHECK(strcmp(r.out, expected) == 0);
      uh_lines_free(&ls);
    }
  }
}

static void test_lines(void) {
  /* SSE: \r\n, \n and a lone \r end lines; an empty line is a line; multi-byte text intact */
  check_splits("data: h\xC3\xA9llo\r\n\r\ndata: \xE2\x82\xAC\rx\n\nlast", 1,
               "data: h\xC3\xA9llo||data: \xE2\x82\xAC|x||last|");
  check_splits("a\r\r\nb\r", 1, "a||b|");
  /* NDJSON: only \n ends a line; the \r of \r\n is dropped, a lone \r stays */
  check_splits("{\"a\":1}\r\n{\"b\":\"x\ry\"}\n\n{\"c\":3}", 0,
               "{\"a\":1}|{\"b\":\"x\ry\"}||{\"c\":3}|");

  /* line limit: a whole line, and one growing across pieces */
  uh_lines ls;
  lines_rec r = {0};
  uh_lines_init(&ls, 8, 1);
  CHECK_EQ_INT(uh_lines_feed(&ls, "12345678\n", 9, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "123456789\n", 10, rec_line, &r), AGENTAI_E2BIG);
  uh_lines_free(&ls);
  uh_lines_init(&ls, 8, 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "12345", 5, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "678\r", 4, rec_line, &r), 0); /* the \r is not counted */
  CHECK_EQ_INT(uh_lines_feed(&ls, "\n", 1, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "12345", 5, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "6789", 4, rec_line, &r), 0); /* 9: maybe 8 and a \r */
  CHECK_EQ_INT(uh_lines_feed(&ls, "\n", 1, rec_line, &r), AGENTAI_E2BIG);
  uh_lines_free(&ls);
  uh_lines_init(&ls, 8, 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "12345", 5, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "67890", 5, rec_line, &r), AGENTAI_E2BIG);
  uh_lines_free(&ls);
  uh_lines_init(&ls, 8, 1);
  CHECK_EQ_INT(uh_lines_feed(&ls, "12345", 5, rec_line, &r), 0);
  CHECK_EQ_INT(uh_lines_feed(&ls, "6789", 4, rec_line, &r), AGENTAI_E2BIG);
  uh_lines_free(&ls);
  CHECK(strcmp(r.out, "12345678|12345678|") == 0);

  /* the callback's non-zero return stops the feed */
  lines_rec s = {.stop_at = 2};
  uh_lines_init(&ls, 0, 1);
  CHECK_EQ_INT(uh_lines_feed(&ls, "a\nb\nc\n", 6, rec_line, &s), 42);
  CHECK(strcmp(s.out, "a|b|") == 0);
  uh_lines_free(&ls);
  /* finish with nothing pending calls nothing */
  lines_rec e = {0};
  uh_lines_init(&ls, 0, 1);
  CHECK_EQ_INT(uh_lines_feed(&ls, "x\n", 2, rec_line, &e), 0);
  CHECK_EQ_INT(uh_lines_finish(&ls, rec_line, &e), 0);
  CHECK_EQ_INT(e.n, 1);
  uh_lines_free(&ls);
}

/* ---- configuration ---- */

static const uh_defaults DEFAULTS = {"openai", "https://api.openai.com/v1", "OPENAI_API_KEY"};

static int parse(const char *json, uh_provider_cfg **c, size_t *n, char *err) {
  err[0] = '\0';
  return uh_config_parse(json, &DEFAULTS, c, n, err, 512);
}

static void test_config_defaults(void) {
  uh_provider_cfg *c;
  size_t n;
  char err[512];
  CHECK_EQ_INT(parse("{}", &c, &n, err), 0);
  CHECK_EQ_INT(n, 1);
  CHECK(strcmp(c[0].name, "openai") == 0);
  CHECK(strcmp(c[0].base_url, "https://api.openai.com/v1") == 0);
  CHECK(strcmp(c[0].api_key_env, "OPENAI_API_KEY") == 0);
  CHECK_EQ_INT(c[0].n_models, 0);
  CHECK_EQ_INT(c[0].timeout_ms, 0);
  CHECK(c[0].ca_file == NULL);
  uh_config_free(c, n);
  CHECK_EQ_INT(uh_config_parse(NULL, &DEFAULTS, &c, &n, err, sizeof err), 0);
  CHECK_EQ_INT(n, 1);
  uh_config_free(c, n);
}

static void test_config_full(void) {
  uh_provider_cfg *c;
  size_t n;
  char err[512];
  const char *json =
      "{\"providers\":{\"groq\":{\"base_url\":\"https://api.groq.com/openai/v1/\","
      "\"api_key_env\":\"GROQ_API_KEY\",\"models\":[\"llama-3\",\"mixtral\"],"
      "\"headers\":{\"X-Team\":\"ai\",\"OpenAI-Organization\":\"org-1\"},\"timeout_ms\":60000,"
      "\"connect_timeout_ms\":2000,\"idle_timeout_ms\":15000,\"max_response_mb\":4,"
      "\"ca_file\":\"certs/ca.pem\"},\"local\":{\"base_url\":\"http://127.0.0.1:8000/v1\"},"
      "\"plain\":{}}}";
  CHECK_EQ_INT(parse(json, &c, &n, err), 0);
  CHECK_EQ_INT(n, 3);
  CHECK(strcmp(c[0].name, "groq") == 0);
  CHECK(strcmp(c[0].base_url, "https://api.groq.com/openai/v1") == 0); /* no trailing / */
  CHECK(strcmp(c[0].api_key_env, "GROQ_API_KEY") == 0);
  CHECK_EQ_INT(c[0].n_models, 2);
  CHECK(strcmp(c[0].models[1], "mixtral") == 0);
  CHECK_EQ_INT(c[0].n_headers, 2);
  CHECK(strcmp(c[0].headers[0].name, "X-Team") == 0 && strcmp(c[0].headers[0].value, "ai") == 0);
  CHECK_EQ_INT(c[0].timeout_ms, 60000);
  CHECK_EQ_INT(c[0].connect_timeout_ms, 2000);
  CHECK_EQ_INT(c[0].idle_timeout_ms, 15000);
  CHECK_EQ_INT(c[0].max_response_bytes, 4u << 20);
  CHECK(strcmp(c[0].ca_file, "certs/ca.pem") == 0);
  CHECK(strcmp(c[1].name, "local") == 0);
  CHECK(c[1].api_key_env == NULL); /* entries get no default key */
  CHECK(strcmp(c[2].base_url, "https://api.openai.com/v1") == 0);
  uh_config_free(c, n);
}

static void test_config_errors(void) {
  static const struct {
    const char *json, *msg;
  } cases[] = {
      {"{\"providers\":{\"openai\":{\"base_ur\":\"x\"}}}",
       "providers.openai.base_ur: unknown key (known: base_url, api_key_env, models, headers, "
       "timeout_ms, connect_timeout_ms, idle_timeout_ms, max_response_mb, ca_file)"},
      {"{\"base_url\":\"http://x\"}", "base_url: unknown key (known: providers)"},
      {"[]", "configuration: not a JSON object"},
      {"{\"providers\":", "configuration: not a JSON object"},
      {"{\"providers\":{}}", "providers: must be an object with one member per provider"},
      {"{\"providers\":[1]}", "providers: must be an object"},
      {"{\"providers\":{\"a\":1}}", "providers.a: must be an object"},
      {"{\"providers\":{\"\":{}}}", "providers.\"\": a provider needs a name"},
      {"{\"providers\":{\"a\":{\"base_url\":\"ftp://x\"}}}", "providers.a.base_url: must be an"},
      {"{\"providers\":{\"a\":{\"base_url\":\"https://\"}}}", "providers.a.base_url: must be"},
      {"{\"providers\":{\"a\":{\"base_url\":\"http://a b\"}}}", "providers.a.base_url: must be"},
      {"{\"providers\":{\"a\":{\"base_url\":7}}}", "providers.a.base_url: must be"},
      {"{\"providers\":{\"a\":{\"api_key_env\":\"\"}}}", "providers.a.api_key_env: must be the"},
      {"{\"providers\":{\"a\":{\"api_key_env\":\"A=B\"}}}", "providers.a.api_key_env: must be"},
      {"{\"providers\":{\"a\":{\"models\":\"gpt\"}}}", "providers.a.models: must be an array"},
      {"{\"providers\":{\"a\":{\"models\":[\"x\",2]}}}", "providers.a.models: must be an array"},
      {"{\"providers\":{\"a\":{\"headers\":[]}}}", "providers.a.headers: must be an object"},
      {"{\"providers\":{\"a\":{\"headers\":{\"X-A\":1}}}}", "providers.a.headers.X-A: must be a"},
      {"{\"providers\":{\"a\":{\"headers\":{\"X-A\":\"v\\r\\nX-Evil: 1\"}}}}",
       "providers.a.headers.X-A: must be a string without line breaks"},
      {"{\"providers\":{\"a\":{\"headers\":{\"Bad Name\":\"v\"}}}}",
       "providers.a.headers.Bad Name: not a valid header name"},
      {"{\"providers\":{\"a\":{\"timeout_ms\":-1}}}", "providers.a.timeout_ms: must be a non-"},
      {"{\"providers\":{\"a\":{\"timeout_ms\":1.5}}}", "providers.a.timeout_ms: must be a non-"},
      {"{\"providers\":{\"a\":{\"connect_timeout_ms\":\"5\"}}}", "providers.a.connect_timeout_ms"},
      {"{\"providers\":{\"a\":{\"idle_timeout_ms\":5e12}}}", "providers.a.idle_timeout_ms: must"},
      {"{\"providers\":{\"a\":{\"max_response_mb\":0}}}", "providers.a.max_response_mb: must be"},
      {"{\"providers\":{\"a\":{\"ca_file\":true}}}", "providers.a.ca_file: must be a file path"},
      {"{\"providers\":{\"ok\":{},\"b\":{\"x\":1}}}", "providers.b.x: unknown key"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uh_provider_cfg *c = (void *)1;
    size_t n = 9;
    char err[512];
    CHECK_EQ_INT(parse(cases[i].json, &c, &n, err), AGENTAI_EINVAL);
    CHECK(c == NULL && n == 0);
    CHECK_STR_CONTAINS(err, cases[i].msg);
  }
}

/* ---- request building ---- */

static const char *find_header(const uh_req *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0)
      return r->headers[i].value;
  return NULL;
}

static void test_req_prepare(void) {
  uh_provider_cfg *c;
  size_t n;
  char err[512];
  CHECK_EQ_INT(
      parse("{\"providers\":{\"p\":{\"base_url\":\"http://h:1/v1\",\"api_key_env\":"
            "\"UH_TEST_KEY\",\"timeout_ms\":7,\"idle_timeout_ms\":8,\"ca_file\":\"ca\","
            "\"headers\":{\"X-A\":\"1\"}},\"q\":{\"headers\":{\"authorization\":\"Basic z\","
            "\"accept\":\"*/*\"},\"api_key_env\":\"UH_TEST_KEY\"}}}",
            &c, &n, err),
      0);
  uh_req r;
  char msg[256] = "";
  unsetenv("UH_TEST_KEY");
  CHECK_EQ_INT(uh_req_prepare(&r, &c[0], "POST", "/chat/completions", "text/event-stream", "{}", 2,
                              msg, sizeof msg),
               AGENTAI_EAUTH);
  CHECK_STR_CONTAINS(msg, "UH_TEST_KEY");
  CHECK_STR_CONTAINS(msg, "p:");
  setenv("UH_TEST_KEY", "", 1);
  CHECK_EQ_INT(uh_req_prepare(&r, &c[0], "GET", "/models", NULL, NULL, 0, msg, sizeof msg),
               AGENTAI_EAUTH);
  setenv("UH_TEST_KEY", "sk-secret-123", 1);
  msg[0] = '\0';
  CHECK_EQ_INT(uh_req_prepare(&r, &c[0], "POST", "/chat/completions", "text/event-stream", "{}", 2,
                              msg, sizeof msg),
               0);
  CHECK(strcmp(r.req.url, "http://h:1/v1/chat/completions") == 0);
  CHECK(strcmp(r.req.method, "POST") == 0);
  CHECK_EQ_INT(r.req.size, sizeof r.req);
  CHECK_EQ_INT(r.req.body_len, 2);
  CHECK_EQ_INT(r.req.timeout_ms, 7);
  CHECK_EQ_INT(r.req.idle_timeout_ms, 8);
  CHECK_EQ_INT(r.req.connect_timeout_ms, 0);
  CHECK(strcmp(r.req.ca_file, "ca") == 0);
  CHECK_EQ_INT(r.req.header_count, 4);
  CHECK(strcmp(find_header(&r, "Authorization"), "Bearer sk-secret-123") == 0);
  CHECK(strcmp(find_header(&r, "Accept"), "text/event-stream") == 0);
  CHECK(strcmp(find_header(&r, "Content-Type"), "application/json") == 0);
  CHECK(strcmp(find_header(&r, "X-A"), "1") == 0);
  uh_req_free(&r);
  CHECK(r.auth == NULL && r.url == NULL);

  /* configured headers replace ours; no body: no Content-Type */
  CHECK_EQ_INT(
      uh_req_prepare(&r, &c[1], "GET", "/models", "application/json", NULL, 0, msg, sizeof msg), 0);
  CHECK_EQ_INT(r.req.header_count, 2);
  CHECK(strcmp(find_header(&r, "authorization"), "Basic z") == 0);
  CHECK(strcmp(find_header(&r, "accept"), "*/*") == 0);
  CHECK(find_header(&r, "Content-Type") == NULL);
  CHECK(strcmp(r.req.url, "https://api.openai.com/v1/models") == 0);
  uh_req_free(&r);
  unsetenv("UH_TEST_KEY");
  uh_config_free(c, n);
}

int main(void) {
  RUN(test_status_mapping);
  RUN(test_error_detail);
  RUN(test_retry_after);
  RUN(test_reset_duration);
  RUN(test_retry_after_headers);
  RUN(test_buf);
  RUN(test_lines);
  RUN(test_config_defaults);
  RUN(test_config_full);
  RUN(test_config_errors);
  RUN(test_req_prepare);
  CHECK_DONE();
}
