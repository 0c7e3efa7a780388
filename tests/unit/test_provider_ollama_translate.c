/* tests/unit/test_provider_ollama_translate.c — provider-ollama's pure parts: canonical requests to
 * Ollama bodies, Ollama responses (whole and NDJSON streamed) back to canonical shapes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Plugin code has hidden visibility and no exported symbols: compile it in. */
#include "../../plugins/common/upstream_http.c"
#include "../../plugins/provider-ollama/ollama_stream.c"
#include "../../plugins/provider-ollama/ollama_translate.c"

/* ---- helpers ---- */

static const cJSON *jget(const cJSON *root, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = root;
  for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
       tok = strtok_r(NULL, ".", &save))
    cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok))
                             : cJSON_GetObjectItemCaseSensitive(cur, tok);
  return cur;
}

static const char *jstr(const cJSON *root, const char *path) {
  const cJSON *v = jget(root, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *root, const char *path) {
  const cJSON *v = jget(root, path);
  CHECK(cJSON_IsNumber(v));
  return v->valuedouble;
}

#define CHECK_JSTR(root, path, expect)                                                 \
  do {                                                                                 \
    const char *got_ = jstr(root, path);                                               \
    if (!got_ || strcmp(got_, expect) != 0)                                            \
      fprintf(stderr, "%s = %s, expected %s\n", path, got_ ? got_ : "(none)", expect); \
    CHECK(got_ &&strcmp(got_, expect) == 0);                                           \
  } while (0)

/* Translates a chat request text; returns the body parsed (the caller deletes it). */
static cJSON *chat_body(const char *req_text, int *stream) {
  cJSON *req = cJSON_Parse(req_text);
  CHECK(req != NULL);
  char *body = NULL, err[400] = "";
  size_t len = 0;
  int rc = oll_chat_request(req, &body, &len, stream, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "translation failed: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(strlen(body), len);
  cJSON *out = cJSON_Parse(body);
  CHECK(out != NULL);
  free(body);
  cJSON_Delete(req);
  return out;
}

/* Expects the translation of req_text to fail with EINVAL naming `field`. */
static void chat_refused(const char *req_text, const char *field) {
  cJSON *req = cJSON_Parse(req_text);
  CHECK(req != NULL);
  char *body = NULL, err[400] = "";
  size_t len = 0;
  int stream = 0;
  CHECK_EQ_INT(oll_chat_request(req, &body, &len, &stream, err, sizeof err), AGENTAI_EINVAL);
  CHECK(body == NULL);
  CHECK_STR_CONTAINS(err, field);
  cJSON_Delete(req);
}

/* ---- chat requests ---- */

static void test_chat_request_full(void) {
  int stream = -1;
  cJSON *b = chat_body(
      "{\"model\":\"llama3\",\"stream\":true,\"messages\":["
      "{\"role\":\"developer\",\"content\":\"be brief\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
      "\"text\":\"b\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
      "iVBOR\"}}]},"
      "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c7\",\"type\":"
      "\"function\",\"function\":{\"name\":\"look\",\"arguments\":\"{\\\"q\\\":\\\"x\\\",\\\"n\\\":"
      "2}\"}},{\"id\":\"c8\",\"type\":\"function\",\"function\":{\"name\":\"none\",\"arguments\":"
      "\"\"}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c7\",\"content\":\"found\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"zz\",\"content\":\"orphan\"}],"
      "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"look\",\"parameters\":{}}}],"
      "\"tool_choice\":\"auto\",\"temperature\":0.5,\"top_p\":0.9,\"seed\":42,\"stop\":\"END\","
      "\"max_tokens\":77,\"presence_penalty\":null,\"response_format\":{\"type\":\"json_object\"},"
      "\"user\":\"ignored\",\"keep_alive\":\"5m\"}",
      &stream);
  CHECK_EQ_INT(stream, 1);
  CHECK(cJSON_IsTrue(jget(b, "stream")));
  CHECK_JSTR(b, "model", "llama3");
  CHECK_EQ_INT(cJSON_GetArraySize(jget(b, "messages")), 5);
  CHECK_JSTR(b, "messages.0.role", "system");
  CHECK_JSTR(b, "messages.0.content", "be brief");
  CHECK_JSTR(b, "messages.1.content", "a\nb");
  CHECK_JSTR(b, "messages.1.images.0", "iVBOR");
  CHECK_JSTR(b, "messages.2.role", "assistant");
  CHECK_JSTR(b, "messages.2.content", "");
  CHECK_JSTR(b, "messages.2.tool_calls.0.function.name", "look");
  CHECK(cJSON_IsObject(jget(b, "messages.2.tool_calls.0.function.arguments")));
  CHECK_JSTR(b, "messages.2.tool_calls.0.function.arguments.q", "x");
  CHECK_EQ_INT(jnum(b, "messages.2.tool_calls.0.function.arguments.n"), 2);
  CHECK(jget(b, "messages.2.tool_calls.0.id") == NULL); /* Ollama has no ids */
  CHECK(cJSON_IsObject(jget(b, "messages.2.tool_calls.1.function.arguments")));
  CHECK_EQ_INT(cJSON_GetArraySize(jget(b, "messages.2.tool_calls.1.function.arguments")), 0);
  CHECK_JSTR(b, "messages.3.role", "tool");
  CHECK_JSTR(b, "messages.3.content", "found");
  CHECK_JSTR(b, "messages.3.tool_name", "look");
  CHECK(jget(b, "messages.4.tool_name") == NULL);
  CHECK_JSTR(b, "tools.0.function.name", "look");
  CHECK(jget(b, "tool_choice") == NULL);
  CHECK(jnum(b, "options.temperature") == 0.5);
  CHECK(jnum(b, "options.top_p") == 0.9);
  CHECK_EQ_INT(jnum(b, "options.seed"), 42);
  CHECK_JSTR(b, "options.stop.0", "END");
  CHECK_EQ_INT(jnum(b, "options.num_predict"), 77);
  CHECK(jget(b, "options.presence_penalty") == NULL);
  CHECK_JSTR(b, "format", "json");
  CHECK_JSTR(b, "keep_alive", "5m");
  CHECK(jget(b, "user") == NULL && jget(b, "max_tokens") == NULL);
  cJSON_Delete(b);
}

static void test_chat_request_variants(void) {
  int stream = -1;
  /* minimal: stream false, no options object at all */
  cJSON *b =
      chat_body("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &stream);
  CHECK_EQ_INT(stream, 0);
  CHECK(cJSON_IsFalse(jget(b, "stream")));
  CHECK(jget(b, "options") == NULL && jget(b, "format") == NULL && jget(b, "tools") == NULL);
  cJSON_Delete(b);
  /* tool_choice none hides the tools; json_schema becomes the format; the canonical fields win
   * over the request's own options; max_completion_tokens over max_tokens */
  b = chat_body(
      "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":"
      "{\"name\":\"t\"}}],\"tool_choice\":\"none\",\"response_format\":{\"type\":"
      "\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":{\"type\":\"object\"}}},"
      "\"options\":{\"num_ctx\":4096,\"temperature\":1.5},\"temperature\":0.1,"
      "\"max_tokens\":5,\"max_completion_tokens\":9,\"stop\":[\"a\",\"b\"],"
      "\"think\":false,\"keep_alive\":0}",
      &stream);
  CHECK(jget(b, "tools") == NULL);
  CHECK_JSTR(b, "format.type", "object");
  CHECK_EQ_INT(jnum(b, "options.num_ctx"), 4096);
  CHECK(jnum(b, "options.temperature") == 0.1);
  CHECK_EQ_INT(jnum(b, "options.num_predict"), 9);
  CHECK_JSTR(b, "options.stop.1", "b");
  CHECK(cJSON_IsFalse(jget(b, "think")));
  CHECK_EQ_INT(jnum(b, "keep_alive"), 0);
  CHECK_EQ_INT(cJSON_GetArraySize(jget(b, "messages")), 0);
  cJSON_Delete(b);
  /* arguments already an object (lenient), response_format text, content null */
  b = chat_body("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
                "\"1\",\"function\":{\"name\":\"f\",\"arguments\":{\"k\":[1,2]}}}]},{\"role\":"
                "\"user\",\"content\":null}],\"response_format\":{\"type\":\"text\"}}",
                &stream);
  CHECK_EQ_INT(jnum(b, "messages.0.tool_calls.0.function.arguments.k.1"), 2);
  CHECK_JSTR(b, "messages.1.content", "");
  CHECK(jget(b, "format") == NULL);
  cJSON_Delete(b);
}

static void test_chat_request_refused(void) {
  chat_refused("[1]", "request");
  chat_refused("{\"messages\":[]}", "model");
  chat_refused("{\"model\":\"\",\"messages\":[]}", "model");
  chat_refused("{\"model\":\"m\"}", "messages");
  chat_refused("{\"model\":\"m\",\"messages\":{}}", "messages");
  chat_refused("{\"model\":\"m\",\"messages\":[7]}", "messages[0]");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"content\":\"x\"}]}",
               "messages[0].role: unknown role \"u\"");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":"
               "\"user\",\"content\":3}]}",
               "messages[1].content");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
               "\"audio\"}]}]}",
               "messages[0].content[0].type: unsupported part \"audio\"");
  chat_refused(
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
      "messages[0].content[0].type");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":1}]}]}",
               "messages[0].content[0].text");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
               "\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}]}",
               "messages[0].content[0].image_url: Ollama takes images as base64 data: URLs");
  chat_refused("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}",
               "messages[0].tool_calls");
  chat_refused(
      "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"arguments\":\"{}\"}}]}]}",
      "messages[0].tool_calls[0].function.name");
  chat_refused(
      "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"f\",\"arguments\":\"{not json\"}}]}]}",
      "messages[0].tool_calls[0].function.arguments");
  chat_refused(
      "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
      "messages[0].tool_calls[0].function.arguments");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}", "stream");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"temperature\":\"hot\"}", "temperature");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"seed\":1.5}", "seed: expected an integer");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"max_tokens\":\"9\"}", "max_tokens");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"stop\":[1]}", "stop");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"stop\":5}", "stop");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"options\":[]}", "options");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"response_format\":\"json\"}", "response_format");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"xml\"}}",
               "response_format.type: unsupported \"xml\"");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"json_schema\"}}",
               "response_format.json_schema.schema");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"tools\":{}}", "tools");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"tools\":[{\"type\":\"function\"}]}",
               "tools[0].function.name");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"keep_alive\":[]}", "keep_alive");
  chat_refused("{\"model\":\"m\",\"messages\":[],\"think\":1}", "think");
}

/* ---- chat responses ---- */

typedef struct chunks {
  char *text[64];
  size_t n;
  size_t stop_at; /* return non-zero from the n-th chunk (1-based), 0 = never */
} chunks;

static int collect(void *ud, const char *chunk, size_t len) {
  chunks *c = ud;
  CHECK(c->n < 64);
  CHECK_EQ_INT(strlen(chunk), len);
  c->text[c->n++] = strdup(chunk);
  return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void chunks_free(chunks *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->text[i]);
  c->n = 0;
}

static cJSON *chunk_at(const chunks *c, size_t i) {
  CHECK(i < c->n);
  cJSON *j = cJSON_Parse(c->text[i]);
  CHECK(j != NULL);
  return j;
}

/* Parses a whole (non-streamed) body; returns the response or NULL with *err set. */
static cJSON *whole(const char *body, int *err, char *msg, size_t msg_len) {
  oll_parse p;
  CHECK_EQ_INT(oll_parse_init(&p, "chatcmpl-t", "req-model", 1000, NULL, NULL), 0);
  char *out = NULL;
  size_t len = 0;
  *err = oll_parse_line(&p, body, strlen(body));
  if (*err == 0)
    *err = oll_parse_end(&p, 1, &out, &len);
  snprintf(msg, msg_len, "%s", p.message);
  oll_parse_free(&p);
  if (*err)
    return NULL;
  CHECK_EQ_INT(strlen(out), len);
  cJSON *r = cJSON_Parse(out);
  free(out);
  CHECK(r != NULL);
  return r;
}

static void test_whole_response(void) {
  int err;
  char msg[400];
  cJSON *r = whole("{\"model\":\"llama3:latest\",\"created_at\":\"2024-01-01T00:00:10.5Z\","
                   "\"message\":{\"role\":\"assistant\",\"content\":\"Hello!\"},\"done\":true,"
                   "\"done_reason\":\"length\",\"prompt_eval_count\":26,\"eval_count\":298}",
                   &err, msg, sizeof msg);
  CHECK(r != NULL);
  CHECK_JSTR(r, "id", "chatcmpl-t");
  CHECK_JSTR(r, "object", "chat.completion");
  CHECK_EQ_INT(jnum(r, "created"), 1704067210);
  CHECK_JSTR(r, "model", "llama3:latest");
  CHECK_JSTR(r, "choices.0.message.role", "assistant");
  CHECK_JSTR(r, "choices.0.message.content", "Hello!");
  CHECK_JSTR(r, "choices.0.finish_reason", "length");
  CHECK(jget(r, "choices.0.message.tool_calls") == NULL);
  CHECK_EQ_INT(jnum(r, "usage.prompt_tokens"), 26);
  CHECK_EQ_INT(jnum(r, "usage.completion_tokens"), 298);
  CHECK_EQ_INT(jnum(r, "usage.total_tokens"), 324);
  cJSON_Delete(r);

  /* tool calls: ids generated, arguments re-encoded as a string, content null; no created_at
   * (the fallback), no model (the request's) */
  r = whole(
      "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":"
      "{\"name\":\"look\",\"arguments\":{\"q\":\"x y\"}}},{\"function\":{\"name\":\"two\"}}]},"
      "\"done\":true,\"done_reason\":\"stop\"}",
      &err, msg, sizeof msg);
  CHECK(r != NULL);
  CHECK_EQ_INT(jnum(r, "created"), 1000);
  CHECK_JSTR(r, "model", "req-model");
  CHECK(cJSON_IsNull(jget(r, "choices.0.message.content")));
  CHECK_JSTR(r, "choices.0.finish_reason", "tool_calls");
  CHECK_JSTR(r, "choices.0.message.tool_calls.0.id", "call_1");
  CHECK_JSTR(r, "choices.0.message.tool_calls.0.type", "function");
  CHECK_JSTR(r, "choices.0.message.tool_calls.0.function.name", "look");
  CHECK_JSTR(r, "choices.0.message.tool_calls.0.function.arguments", "{\"q\":\"x y\"}");
  CHECK_JSTR(r, "choices.0.message.tool_calls.1.id", "call_2");
  CHECK_JSTR(r, "choices.0.message.tool_calls.1.function.arguments", "{}");
  CHECK_EQ_INT(jnum(r, "usage.total_tokens"), 0);
  cJSON_Delete(r);

  /* a whole body without done:true still answers (as "stop") */
  r = whole("{\"message\":{\"content\":\"partial\"}}", &err, msg, sizeof msg);
  CHECK(r != NULL);
  CHECK_JSTR(r, "choices.0.finish_reason", "stop");
  cJSON_Delete(r);

  static const struct {
    const char *body;
    int err;
    const char *msg;
  } bad[] = {
      {"{\"error\":\"model \\\"x\\\" not found\\nnow\"}", AGENTAI_EUPSTREAM,
       "upstream error: model \"x\" not found now"},
      {"{\"error\":{}}", AGENTAI_EUPSTREAM, "upstream error: an error without a message"},
      {"{\"choices\": [", AGENTAI_EMALFORMED, "the response is not a JSON object"},
      {"[1,2]", AGENTAI_EMALFORMED, "not a JSON object"},
      {"{\"message\":\"hi\"}", AGENTAI_EMALFORMED, "\"message\""},
      {"{\"message\":{\"content\":5}}", AGENTAI_EMALFORMED, "message.content"},
      {"{\"message\":{\"tool_calls\":{}}}", AGENTAI_EMALFORMED, "message.tool_calls"},
      {"{\"message\":{\"tool_calls\":[{\"function\":{}}]}}", AGENTAI_EMALFORMED, "function name"},
      {"{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":3}}]}}",
       AGENTAI_EMALFORMED, "not an object"},
      {"{\"done\":\"yes\"}", AGENTAI_EMALFORMED, "\"done\""},
      {"", AGENTAI_EMALFORMED, "empty"},
      {"  \r\n", AGENTAI_EMALFORMED, "empty"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = whole(bad[i].body, &err, msg, sizeof msg);
    if (err != bad[i].err)
      fprintf(stderr, "body %zu: %d %s\n", i, err, msg);
    CHECK(r == NULL);
    CHECK_EQ_INT(err, bad[i].err);
    CHECK_STR_CONTAINS(msg, bad[i].msg);
  }
}

#define LINE(content)                                                                    \
  "{\"model\":\"llama3\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{\"role\":" \
  "\"assistant\",\"content\":\"" content "\"},\"done\":false}\n"
#define FINAL                                                                                     \
  "{\"model\":\"llama3\",\"created_at\":\"2024-01-01T00:00:09Z\",\"message\":{\"role\":"          \
  "\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":" \
  "3,\"eval_count\":2}\n"

static int feed_line(void *ud, const char *line, size_t len) {
  return oll_parse_line(ud, line, len);
}

/* Feeds text to a stream parse through the line splitter, `piece` bytes at a time. Returns the
 * first non-zero code, or oll_parse_end's. */
static int stream_text(oll_parse *p, const char *text, size_t piece, char **out) {
  uh_lines ls;
  uh_lines_init(&ls, 0, 0);
  size_t len = strlen(text), n = 0;
  int rc = 0;
  for (size_t i = 0; i < len && rc == 0; i += piece)
    rc = uh_lines_feed(&ls, text + i, len - i < piece ? len - i : piece, feed_line, p);
  if (rc == 0)
    rc = uh_lines_finish(&ls, feed_line, p);
  uh_lines_free(&ls);
  *out = NULL;
  return rc ? rc : oll_parse_end(p, 0, out, &n);
}

static void test_stream_text(void) {
  const char *text =
      LINE("Hel") "\r\n" LINE("lo \\u00e9\xC3\xA9") LINE("") FINAL "{\"ignored\":\"after done\"}\n";
  char *first = NULL;
  for (size_t piece = 1; piece <= 64; piece = piece < 8 ? piece + 1 : piece * 2) {
    chunks c = {0};
    oll_parse p;
    CHECK_EQ_INT(oll_parse_init(&p, "chatcmpl-s", "m", 5, collect, &c), 0);
    char *out = NULL;
    CHECK_EQ_INT(stream_text(&p, text, piece, &out), 0);
    /* role+content, content, (the empty line says nothing), final */
    CHECK_EQ_INT(c.n, 3);
    cJSON *k = chunk_at(&c, 0);
    CHECK_JSTR(k, "object", "chat.completion.chunk");
    CHECK_JSTR(k, "id", "chatcmpl-s");
    CHECK_EQ_INT(jnum(k, "created"), 1704067200);
    CHECK_JSTR(k, "choices.0.delta.role", "assistant");
    CHECK_JSTR(k, "choices.0.delta.content", "Hel");
    CHECK(cJSON_IsNull(jget(k, "choices.0.finish_reason")));
    CHECK(jget(k, "usage") == NULL);
    cJSON_Delete(k);
    k = chunk_at(&c, 1);
    CHECK(jget(k, "choices.0.delta.role") == NULL);
    CHECK_JSTR(k, "choices.0.delta.content", "lo \xC3\xA9\xC3\xA9");
    cJSON_Delete(k);
    k = chunk_at(&c, 2);
    CHECK_JSTR(k, "choices.0.finish_reason", "stop");
    CHECK(jget(k, "choices.0.delta.content") == NULL);
    CHECK_EQ_INT(jnum(k, "usage.total_tokens"), 5);
    CHECK_EQ_INT(jnum(k, "created"), 1704067200); /* every chunk: the first created_at */
    cJSON_Delete(k);
    cJSON *r = cJSON_Parse(out);
    CHECK_JSTR(r, "choices.0.message.content", "Hello \xC3\xA9\xC3\xA9");
    CHECK_JSTR(r, "choices.0.finish_reason", "stop");
    CHECK_EQ_INT(jnum(r, "usage.prompt_tokens"), 3);
    CHECK_EQ_INT(jnum(r, "usage.completion_tokens"), 2);
    cJSON_Delete(r);
    /* however the bytes were split, the same answer */
    if (!first)
      first = strdup(out);
    else
      CHECK(strcmp(first, out) == 0);
    free(out);
    chunks_free(&c);
    oll_parse_free(&p);
  }
  free(first);
}

static void test_stream_tools_and_errors(void) {
  chunks c = {0};
  oll_parse p;
  char *out = NULL;
  CHECK_EQ_INT(oll_parse_init(&p, "x", "m", 5, collect, &c), 0);
  CHECK_EQ_INT(
      stream_text(&p,
                  "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
                  "{\"function\":{\"name\":\"a\",\"arguments\":{\"q\":1}}},{\"function\":{\"name\":"
                  "\"b\",\"arguments\":\"{\\\"raw\\\":true}\"}}]},\"done\":false}\n" FINAL,
                  5, &out),
      0);
  CHECK_EQ_INT(c.n, 2);
  cJSON *k = chunk_at(&c, 0);
  CHECK_JSTR(k, "choices.0.delta.role", "assistant");
  CHECK_EQ_INT(jnum(k, "choices.0.delta.tool_calls.0.index"), 0);
  CHECK_JSTR(k, "choices.0.delta.tool_calls.0.id", "call_1");
  CHECK_JSTR(k, "choices.0.delta.tool_calls.0.function.arguments", "{\"q\":1}");
  CHECK_EQ_INT(jnum(k, "choices.0.delta.tool_calls.1.index"), 1);
  CHECK_JSTR(k, "choices.0.delta.tool_calls.1.function.name", "b");
  CHECK_JSTR(k, "choices.0.delta.tool_calls.1.function.arguments", "{\"raw\":true}");
  cJSON_Delete(k);
  k = chunk_at(&c, 1);
  CHECK_JSTR(k, "choices.0.finish_reason", "tool_calls");
  cJSON_Delete(k);
  cJSON *r = cJSON_Parse(out);
  CHECK_JSTR(r, "choices.0.message.tool_calls.1.id", "call_2");
  CHECK(cJSON_IsNull(jget(r, "choices.0.message.content")));
  cJSON_Delete(r);
  free(out);
  chunks_free(&c);
  oll_parse_free(&p);

  /* an error line mid-stream: the deltas so far went out, then EUPSTREAM with its message */
  CHECK_EQ_INT(oll_parse_init(&p, "x", "m", 5, collect, &c), 0);
  CHECK_EQ_INT(stream_text(&p,
                           LINE("part1") LINE(" part2") "{\"error\":\"something went wrong\"}\n", 7,
                           &out),
               AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(c.n, 2);
  CHECK(strcmp(p.message, "upstream error: something went wrong") == 0);
  CHECK_EQ_INT(oll_parse_line(&p, "{}", 2), AGENTAI_EUPSTREAM); /* stays failed */
  chunks_free(&c);
  oll_parse_free(&p);

  /* cut before done (also: nothing at all) */
  static const char *const cut[] = {LINE("part1") LINE(" part2"), "", "\n\n",
                                    LINE("a") "{\"done\":false"};
  for (size_t i = 0; i < 4; i++) {
    CHECK_EQ_INT(oll_parse_init(&p, "x", "m", 5, collect, &c), 0);
    int rc = stream_text(&p, cut[i], 3, &out);
    CHECK_EQ_INT(rc, i == 3 ? AGENTAI_EMALFORMED : AGENTAI_EUPSTREAM);
    CHECK_STR_CONTAINS(p.message,
                       i == 3 ? "stream line 2 is not a JSON object" : "stream ended before done");
    CHECK(out == NULL);
    chunks_free(&c);
    oll_parse_free(&p);
  }

  /* the emitter says stop: its value comes back and nothing more is emitted */
  c.stop_at = 1;
  CHECK_EQ_INT(oll_parse_init(&p, "x", "m", 5, collect, &c), 0);
  CHECK_EQ_INT(stream_text(&p, LINE("a") LINE("b") FINAL, 4, &out), 7);
  CHECK_EQ_INT(c.n, 1);
  CHECK_EQ_INT(p.err, 0);
  chunks_free(&c);
  oll_parse_free(&p);
}

static void test_thinking(void) {
  chunks c = {0};
  oll_parse p;
  char *out = NULL;
  CHECK_EQ_INT(oll_parse_init(&p, "x", "m", 5, collect, &c), 0);
  CHECK_EQ_INT(stream_text(&p,
                           "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":"
                           "\"Let me\"}}\n{\"message\":{\"content\":\"\",\"thinking\":\" see\"}}\n"
                           "{\"message\":{\"content\":\"42\"}}\n" FINAL,
                           9, &out),
               0);
  CHECK_EQ_INT(c.n, 4);
  cJSON *k = chunk_at(&c, 1);
  CHECK_JSTR(k, "choices.0.delta.reasoning_content", " see");
  CHECK(jget(k, "choices.0.delta.content") == NULL);
  cJSON_Delete(k);
  cJSON *r = cJSON_Parse(out);
  CHECK_JSTR(r, "choices.0.message.reasoning_content", "Let me see");
  CHECK_JSTR(r, "choices.0.message.content", "42");
  cJSON_Delete(r);
  free(out);
  chunks_free(&c);
  oll_parse_free(&p);
  /* without thinking there is no reasoning_content; a thinking that is not text is refused */
  int err;
  char msg[400];
  r = whole("{\"message\":{\"content\":\"a\"},\"done\":true}", &err, msg, sizeof msg);
  CHECK(r != NULL && jget(r, "choices.0.message.reasoning_content") == NULL);
  cJSON_Delete(r);
  r = whole("{\"message\":{\"thinking\":[]}}", &err, msg, sizeof msg);
  CHECK(r == NULL);
  CHECK_EQ_INT(err, AGENTAI_EMALFORMED);
  CHECK_STR_CONTAINS(msg, "message.thinking");
}

/* ---- embeddings and models ---- */

static void test_embeddings(void) {
  cJSON *req = cJSON_Parse("{\"model\":\"nomic\",\"input\":[\"a\",\"b\"],\"dimensions\":4,"
                           "\"encoding_format\":\"base64\",\"user\":\"u\"}");
  char *body = NULL, err[400] = "";
  size_t len = 0;
  int enc = -1;
  CHECK_EQ_INT(oll_embed_request(req, &body, &len, &enc, err, sizeof err), 0);
  CHECK_EQ_INT(enc, OLL_ENC_BASE64);
  cJSON *b = cJSON_Parse(body);
  CHECK_JSTR(b, "model", "nomic");
  CHECK_JSTR(b, "input.1", "b");
  CHECK_EQ_INT(jnum(b, "dimensions"), 4);
  CHECK(jget(b, "user") == NULL && jget(b, "encoding_format") == NULL);
  cJSON_Delete(b);
  cJSON_Delete(req);
  free(body);

  static const struct {
    const char *req, *field;
  } bad[] = {
      {"{\"input\":\"a\"}", "model"},
      {"{\"model\":\"m\"}", "input"},
      {"{\"model\":\"m\",\"input\":[]}", "input"},
      {"{\"model\":\"m\",\"input\":[1,2]}", "input[0]"},
      {"{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"hex\"}", "encoding_format"},
      {"{\"model\":\"m\",\"input\":\"a\",\"dimensions\":0}", "dimensions"},
      {"{\"model\":\"m\",\"input\":\"a\",\"truncate\":1}", "truncate"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    req = cJSON_Parse(bad[i].req);
    body = NULL;
    CHECK_EQ_INT(oll_embed_request(req, &body, &len, &enc, err, sizeof err), AGENTAI_EINVAL);
    CHECK(body == NULL);
    CHECK_STR_CONTAINS(err, bad[i].field);
    cJSON_Delete(req);
  }

  const char *resp = "{\"model\":\"nomic\",\"embeddings\":[[1.0,-2.0],[0.5]],"
                     "\"prompt_eval_count\":4}";
  char *out = NULL;
  CHECK_EQ_INT(
      oll_embed_response(resp, strlen(resp), "req", OLL_ENC_FLOAT, &out, &len, err, sizeof err), 0);
  cJSON *r = cJSON_Parse(out);
  CHECK_JSTR(r, "object", "list");
  CHECK_JSTR(r, "model", "nomic");
  CHECK_JSTR(r, "data.1.object", "embedding");
  CHECK_EQ_INT(jnum(r, "data.1.index"), 1);
  CHECK(jnum(r, "data.0.embedding.1") == -2.0);
  CHECK_EQ_INT(jnum(r, "usage.prompt_tokens"), 4);
  CHECK_EQ_INT(jnum(r, "usage.total_tokens"), 4);
  cJSON_Delete(r);
  free(out);
  CHECK_EQ_INT(
      oll_embed_response(resp, strlen(resp), "req", OLL_ENC_BASE64, &out, &len, err, sizeof err),
      0);
  r = cJSON_Parse(out);
  /* float32 little-endian: 1.0 = 00 00 80 3f, -2.0 = 00 00 00 c0, 0.5 = 00 00 00 3f */
  CHECK_JSTR(r, "data.0.embedding", "AACAPwAAAMA=");
  CHECK_JSTR(r, "data.1.embedding", "AAAAPw==");
  cJSON_Delete(r);
  free(out);
  static const char *const bad_resp[] = {"{\"embeddings\":{}}", "{\"embeddings\":[[1,\"x\"]]}",
                                         "{\"embeddings\":[3]}", "nope", "{}"};
  for (size_t i = 0; i < 5; i++) {
    out = NULL;
    CHECK_EQ_INT(
        oll_embed_response(bad_resp[i], strlen(bad_resp[i]), "m", 0, &out, &len, err, sizeof err),
        AGENTAI_EMALFORMED);
    CHECK(out == NULL);
    CHECK_STR_CONTAINS(err, "embeddings");
  }
}

static void test_tags(void) {
  const char *body = "{\"models\":[{\"name\":\"llama3:latest\",\"modified_at\":"
                     "\"2024-01-01T02:00:00+02:00\",\"size\":1},{\"model\":\"x\",\"modified_at\":"
                     "\"0001-01-01T00:00:00Z\"}]}";
  char *out = NULL, err[400] = "";
  size_t len = 0;
  CHECK_EQ_INT(oll_tags_response(body, strlen(body), "me", &out, &len, err, sizeof err), 0);
  cJSON *r = cJSON_Parse(out);
  CHECK_JSTR(r, "object", "list");
  CHECK_JSTR(r, "data.0.id", "llama3:latest");
  CHECK_JSTR(r, "data.0.object", "model");
  CHECK_JSTR(r, "data.0.owned_by", "me");
  CHECK_EQ_INT(jnum(r, "data.0.created"), 1704067200);
  CHECK_JSTR(r, "data.1.id", "x");
  CHECK_EQ_INT(jnum(r, "data.1.created"), 0);
  cJSON_Delete(r);
  free(out);
  static const char *const bad[][2] = {{"{\"models\":{}}", "/api/tags"},
                                       {"{\"models\":[{\"size\":1}]}", "models[0] has no"},
                                       {"{", "/api/tags"},
                                       {"[]", "/api/tags"}};
  for (size_t i = 0; i < 4; i++) {
    out = NULL;
    CHECK_EQ_INT(oll_tags_response(bad[i][0], strlen(bad[i][0]), "o", &out, &len, err, sizeof err),
                 AGENTAI_EMALFORMED);
    CHECK(out == NULL);
    CHECK_STR_CONTAINS(err, bad[i][1]);
  }
}

static void test_rfc3339(void) {
  int64_t t = 0;
  CHECK_EQ_INT(uh_parse_rfc3339("2024-01-01T00:00:00Z", &t), 0);
  CHECK_EQ_INT(t, 1704067200);
  CHECK_EQ_INT(uh_parse_rfc3339("2023-12-12T14:13:43.416799123Z", &t), 0);
  CHECK_EQ_INT(t, 1702390423);
  CHECK_EQ_INT(uh_parse_rfc3339("2024-07-22T20:33:28.1-07:00", &t), 0);
  CHECK_EQ_INT(t, 1721705608);
  CHECK_EQ_INT(uh_parse_rfc3339("2024-02-29t23:59:60+00:30", &t), 0);
  CHECK_EQ_INT(t, 1709249400);
  static const char *const bad[] = {"",
                                    "2024-01-01",
                                    "2024-01-01T00:00:00",
                                    "2024-13-01T00:00:00Z",
                                    "2024-01-01T24:00:00Z",
                                    "2024-01-01T00:00:00.Z",
                                    "2024-01-01T00:00:00Zjunk",
                                    "2024-01-01T00:00:00+0100",
                                    "24-01-01T00:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = 42;
    CHECK_EQ_INT(uh_parse_rfc3339(bad[i], &t), -1);
    CHECK_EQ_INT(t, 42);
  }
}

int main(void) {
  RUN(test_chat_request_full);
  RUN(test_chat_request_variants);
  RUN(test_chat_request_refused);
  RUN(test_whole_response);
  RUN(test_stream_text);
  RUN(test_stream_tools_and_errors);
  RUN(test_thinking);
  RUN(test_embeddings);
  RUN(test_tags);
  RUN(test_rfc3339);
  CHECK_DONE();
}
