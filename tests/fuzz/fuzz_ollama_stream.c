/* tests/fuzz/fuzz_ollama_stream.c — fuzzes provider-ollama's response side (NDJSON split into
 * arbitrary pieces, a whole body, /api/embed and /api/tags bodies) and its request translation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser and translation are internal to the plugin (hidden visibility, no exported
 * symbols), so the target compiles their sources in. */
#include "../../plugins/common/upstream_http.c"
#include "../../plugins/provider-ollama/ollama_stream.c"
#include "../../plugins/provider-ollama/ollama_translate.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                             \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "fuzz_ollama_stream: broken: %s\n", #cond); \
      abort();                                                    \
    }                                                             \
  } while (0)

/* What the emitter saw: the content deltas joined, to compare with the assembled answer. */
typedef struct seen {
  uh_buf content;
  size_t chunks;
  size_t tool_calls;
  size_t stop_at; /* ask to stop at this chunk (1-based), 0 = never */
} seen;

static int on_chunk(void *ud, const char *chunk, size_t len) {
  seen *s = ud;
  REQUIRE(strlen(chunk) == len);
  cJSON *c = cJSON_ParseWithLength(chunk, len);
  REQUIRE(cJSON_IsObject(c));
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(c, "object");
  REQUIRE(cJSON_IsString(obj) && strcmp(obj->valuestring, "chat.completion.chunk") == 0);
  const cJSON *delta = oll_member(cJSON_GetArrayItem(oll_member(c, "choices"), 0), "delta");
  REQUIRE(cJSON_IsObject(delta));
  if (s->chunks == 0)
    REQUIRE(cJSON_IsString(oll_member(delta, "role")));
  const cJSON *content = oll_member(delta, "content");
  if (cJSON_IsString(content))
    REQUIRE(uh_buf_puts(&s->content, content->valuestring) == 0);
  const cJSON *tc;
  cJSON_ArrayForEach(tc, oll_member(delta, "tool_calls")) {
    REQUIRE(cJSON_IsNumber(oll_member(tc, "index")));
    REQUIRE((size_t)oll_member(tc, "index")->valuedouble == s->tool_calls);
    s->tool_calls++;
  }
  cJSON_Delete(c);
  s->chunks++;
  return s->stop_at && s->chunks == s->stop_at;
}

static int on_line(void *ud, const char *line, size_t len) {
  return oll_parse_line(ud, line, len);
}

/* Checks an assembled response against what the chunks said. */
static void check_response(const char *text, size_t len, const seen *s) {
  REQUIRE(strlen(text) == len);
  cJSON *r = cJSON_ParseWithLength(text, len);
  REQUIRE(cJSON_IsObject(r));
  const cJSON *msg = oll_member(cJSON_GetArrayItem(oll_member(r, "choices"), 0), "message");
  REQUIRE(cJSON_IsObject(msg));
  const cJSON *fin = oll_member(cJSON_GetArrayItem(oll_member(r, "choices"), 0), "finish_reason");
  REQUIRE(cJSON_IsString(fin));
  const cJSON *content = oll_member(msg, "content");
  if (s) {
    /* cJSON strings end at a NUL: compare what it kept */
    const char *joined = s->content.data ? s->content.data : "";
    REQUIRE(cJSON_IsNull(content) ? joined[0] == '\0' : strcmp(content->valuestring, joined) == 0);
    REQUIRE((size_t)cJSON_GetArraySize(oll_member(msg, "tool_calls")) == s->tool_calls);
  }
  cJSON_Delete(r);
}

static void fuzz_stream(const char *text, size_t len, size_t piece, size_t stop_at) {
  seen s = {.stop_at = stop_at};
  oll_parse p;
  if (oll_parse_init(&p, "chatcmpl-fuzz", "m", 1, on_chunk, &s) != 0)
    return;
  uh_lines ls;
  uh_lines_init(&ls, 4096, 0);
  int rc = 0;
  for (size_t i = 0; i < len && rc == 0; i += piece)
    rc = uh_lines_feed(&ls, text + i, len - i < piece ? len - i : piece, on_line, &p);
  if (rc == 0)
    rc = uh_lines_finish(&ls, on_line, &p);
  if (rc > 0)
    REQUIRE(stop_at && s.chunks == stop_at);
  if (rc == 0) {
    char *out = NULL;
    size_t out_len = 0;
    rc = oll_parse_end(&p, 0, &out, &out_len);
    if (rc == 0) {
      REQUIRE(p.done);
      check_response(out, out_len, &s);
      free(out);
    }
  }
  if (rc < 0 && rc != AGENTAI_E2BIG)
    REQUIRE(p.err == rc && p.message[0]);
  uh_lines_free(&ls);
  oll_parse_free(&p);
  uh_buf_free(&s.content);
}

static void fuzz_whole(const char *text, size_t len) {
  oll_parse p;
  if (oll_parse_init(&p, "chatcmpl-fuzz", NULL, 1, NULL, NULL) != 0)
    return;
  int rc = oll_parse_line(&p, text, len);
  char *out = NULL;
  size_t out_len = 0;
  if (rc == 0)
    rc = oll_parse_end(&p, 1, &out, &out_len);
  if (rc == 0)
    check_response(out, out_len, NULL);
  else
    REQUIRE(p.err == rc && p.message[0]);
  free(out);
  oll_parse_free(&p);
}

static void fuzz_requests_and_lists(const char *text, size_t len) {
  char *out = NULL, err[400];
  size_t out_len = 0;
  int flag = 0;
  err[0] = '\0';
  cJSON *req = cJSON_ParseWithLength(text, len);
  if (req) {
    int rc = oll_chat_request(req, &out, &out_len, &flag, err, sizeof err);
    if (rc == 0) {
      cJSON *b = cJSON_ParseWithLength(out, out_len);
      REQUIRE(cJSON_IsObject(b));
      cJSON_Delete(b);
      free(out);
    } else {
      REQUIRE(out == NULL || rc == AGENTAI_ENOMEM);
      REQUIRE(rc != AGENTAI_EINVAL || err[0]);
    }
    out = NULL;
    err[0] = '\0';
    rc = oll_embed_request(req, &out, &out_len, &flag, err, sizeof err);
    REQUIRE(rc != AGENTAI_EINVAL || err[0]);
    free(out);
    cJSON_Delete(req);
  }
  for (int enc = 0; enc < 2; enc++) {
    out = NULL;
    err[0] = '\0';
    int rc = oll_embed_response(text, len, "m", enc, &out, &out_len, err, sizeof err);
    REQUIRE(rc != AGENTAI_EMALFORMED || err[0]);
    if (rc == 0)
      REQUIRE(strlen(out) == out_len);
    free(out);
  }
  out = NULL;
  err[0] = '\0';
  int rc = oll_tags_response(text, len, "ollama", &out, &out_len, err, sizeof err);
  REQUIRE(rc != AGENTAI_EMALFORMED || err[0]);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  /* The first byte picks the piece size (a split anywhere, incl. inside \r\n or UTF-8) and
   * where the consumer asks to stop. */
  size_t piece = (size_t)(data[0] & 0x1f) + 1;
  size_t stop_at = (size_t)(data[0] >> 5);
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  fuzz_stream(text, len, piece, stop_at);
  fuzz_whole(text, len);
  fuzz_requests_and_lists(text, len);
  return 0;
}
