/* tests/unit/test_provider_openai_canned.c — provider-openai against a one-thread server that
 * answers each request with canned bytes: the response shapes the node upstream never sends. */
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "provider_openai_fixture.h"

/* ---- the canned server: one connection at a time, answer, close ---- */

static int srv_fd = -1, srv_port;
static pthread_t srv_thread;
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static char srv_answer[8192];
static char srv_request[8192]; /* the last request's head and body */

static void *srv_main(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(srv_fd, NULL, NULL);
    if (c < 0)
      return NULL; /* the socket was shut down: the suite is over */
    char req[8192];
    size_t len = 0;
    /* the head, then as many body bytes as Content-Length says */
    for (;;) {
      ssize_t n = recv(c, req + len, sizeof req - 1 - len, 0);
      if (n <= 0)
        break;
      len += (size_t)n;
      req[len] = '\0';
      char *end = strstr(req, "\r\n\r\n");
      const char *cl = strcasestr(req, "content-length:");
      if (end && (!cl || len - (size_t)(end + 4 - req) >= (size_t)atol(cl + 15)))
        break;
    }
    req[len] = '\0';
    pthread_mutex_lock(&srv_mu);
    memcpy(srv_request, req, len + 1);
    char answer[sizeof srv_answer];
    memcpy(answer, srv_answer, sizeof answer);
    pthread_mutex_unlock(&srv_mu);
    for (size_t off = 0, n = strlen(answer); off < n;) {
      ssize_t w = send(c, answer + off, n - off, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      off += (size_t)w;
    }
    close(c);
  }
}

static void srv_start(void) {
  srv_fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(srv_fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ_INT(bind(srv_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  CHECK_EQ_INT(listen(srv_fd, 8), 0);
  socklen_t sl = sizeof sa;
  CHECK_EQ_INT(getsockname(srv_fd, (struct sockaddr *)&sa, &sl), 0);
  srv_port = ntohs(sa.sin_port);
  CHECK_EQ_INT(pthread_create(&srv_thread, NULL, srv_main, NULL), 0);
}

static void srv_stop(void) {
  shutdown(srv_fd, SHUT_RDWR);
  pthread_join(srv_thread, NULL);
  close(srv_fd);
}

/* Sets the next answer: a status line, headers and body, sent as given then closed. */
static void answer(const char *status_and_headers, const char *body) {
  pthread_mutex_lock(&srv_mu);
  snprintf(srv_answer, sizeof srv_answer, "HTTP/1.1 %s\r\nConnection: close\r\n\r\n%s",
           status_and_headers, body);
  pthread_mutex_unlock(&srv_mu);
}

static void open_canned(fixture *f) {
  char cfg[512], err[1024];
  snprintf(cfg, sizeof cfg,
           "{\"providers\":{\"c\":{\"base_url\":\"http://127.0.0.1:%d/v1\",\"headers\":"
           "{\"X-Extra\":\"yes\"}}}}",
           srv_port);
  CHECK_EQ_INT(fx_try_open(f, cfg, "c", err, sizeof err), 0);
  CHECK(f->def != NULL);
}

static const char *REQ = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
static const char *REQ_STREAM =
    "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";

static void test_malformed_bodies(void) {
  static const struct {
    const char *body, *msg;
  } cases[] = {
      {"", "c: the response is not JSON"},
      {"[]", "c: the response is not a JSON object"},
      {"{\"object\":\"chat.completion\"}", "c: the response has no \"choices\" array"},
      {"{\"choices\":[]}", "c: the response has no choices[0]"},
      {"{\"choices\":[{\"index\":0}]}", "c: the response has no choices[0].message"},
      {"{\"choices\":[{\"message\":\"hi\"}]}", "c: the response has no choices[0].message"},
  };
  fixture f;
  open_canned(&f);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    answer("200 OK\r\nContent-Type: application/json", cases[i].body);
    result r;
    chat_sync(&f, &r, REQ, 5000);
    CHECK_EQ_INT(r.err, AGENTAI_EMALFORMED);
    CHECK_EQ_INT(r.http_status, 200);
    CHECK_STR_CONTAINS(r.message, cases[i].msg);
    result_free(&r);
  }
  /* what was sent: the path, our headers and the configured one, the body as given */
  CHECK_STR_CONTAINS(srv_request, "POST /v1/chat/completions HTTP/1.1");
  CHECK(strcasestr(srv_request, "\r\nX-Extra: yes\r\n") != NULL);
  CHECK(strcasestr(srv_request, "\r\nContent-Type: application/json\r\n") != NULL);
  CHECK(strcasestr(srv_request, "\r\nAccept: application/json\r\n") != NULL);
  CHECK(strcasestr(srv_request, "\r\nAuthorization:") == NULL); /* no key configured */
  CHECK_STR_CONTAINS(srv_request, REQ);
  /* embeddings and models need a data array */
  answer("200 OK\r\nContent-Type: application/json", "{\"object\":\"list\"}");
  result r;
  result_init(&r, &f);
  CHECK_EQ_INT(f.def->list_models(f.def->ud, &r.sink, &r.call), 0);
  run_until(&r.done, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EMALFORMED);
  CHECK_STR_CONTAINS(r.message, "c: the response has no \"data\" array");
  CHECK_STR_CONTAINS(srv_request, "GET /v1/models HTTP/1.1");
  result_free(&r);
  /* a 200 that is an error object */
  answer("200 OK\r\nContent-Type: application/json",
         "{\"error\":{\"message\":\"quota gone\",\"type\":\"insufficient_quota\"}}");
  chat_sync(&f, &r, REQ, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ERATELIMIT);
  CHECK_STR_CONTAINS(r.message, "c: upstream error: quota gone");
  result_free(&r);
  fx_close(&f);
}

static void test_status_details(void) {
  fixture f;
  open_canned(&f);
  result r;
  /* Retry-After as an HTTP date, and a plain-text error body */
  char status[256];
  time_t later = time(NULL) + 30;
  struct tm tm;
  gmtime_r(&later, &tm);
  char date[64];
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(status, sizeof status,
           "429 Too Many Requests\r\nRetry-After: %s\r\nX-RateLimit-Remaining-Tokens: 0", date);
  answer(status, "slow down please\nsecond line");
  chat_sync(&f, &r, REQ, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ERATELIMIT);
  CHECK(r.retry_after_ms > 27000 && r.retry_after_ms <= 30000);
  CHECK_STR_CONTAINS(r.message, "c: HTTP 429: slow down please");
  CHECK(strstr(r.message, "second line") == NULL);
  CHECK_STR_CONTAINS(r.ratelimit, "\"x-ratelimit-remaining-tokens\":\"0\"");
  result_free(&r);
  /* no Retry-After: the reset duration of the exhausted limit */
  answer("429 Too Many Requests\r\nx-ratelimit-remaining-requests: 0\r\n"
         "x-ratelimit-reset-requests: 6m0s",
         "{}");
  chat_sync(&f, &r, REQ, 5000);
  CHECK_EQ_INT(r.retry_after_ms, 360000);
  result_free(&r);
  /* the statuses the node upstream does not send */
  static const struct {
    const char *status;
    int err;
  } st[] = {{"403 Forbidden", AGENTAI_EAUTH},
            {"408 Request Timeout", AGENTAI_ETIMEDOUT},
            {"413 Too Large", AGENTAI_E2BIG},
            {"422 Unprocessable", AGENTAI_EINVAL},
            {"504 Gateway Timeout", AGENTAI_ETIMEDOUT},
            {"503 Unavailable", AGENTAI_EUPSTREAM},
            {"302 Found\r\nLocation: /x", AGENTAI_EUPSTREAM}};
  for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
    answer(st[i].status, "{\"error\":{\"message\":\"m\"}}");
    chat_sync(&f, &r, REQ, 5000);
    CHECK_EQ_INT(r.err, st[i].err);
    CHECK_EQ_INT(r.http_status, atoi(st[i].status));
    CHECK_EQ_INT(r.retry_after_ms, -1);
    result_free(&r);
  }
  /* a long message is cut to 300 bytes of it */
  char body[2048] = "{\"error\":{\"message\":\"";
  for (int i = 0; i < 1000; i++)
    strcat(body, "y");
  strcat(body, "\"}}");
  answer("500 Internal Server Error", body);
  chat_sync(&f, &r, REQ, 5000);
  CHECK_EQ_INT(strlen(r.message), strlen("c: HTTP 500: ") + 300);
  result_free(&r);
  fx_close(&f);
}

static void test_stream_shapes(void) {
  fixture f;
  open_canned(&f);
  result r;
  /* the server ignored "stream": one JSON answer becomes one chunk, then done */
  answer("200 OK\r\nContent-Type: application/json",
         "{\"id\":\"x1\",\"object\":\"chat.completion\",\"created\":7,\"model\":\"m\","
         "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
         "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
         "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}");
  chat_sync(&f, &r, REQ_STREAM, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.n_deltas, 1);
  cJSON *c = cJSON_Parse(r.deltas[0]);
  CHECK_JSTR(c, "object", "chat.completion.chunk");
  CHECK_JSTR(c, "choices.0.delta.tool_calls.0.function.name", "f");
  CHECK_EQ_INT(jnum(c, "choices.0.delta.tool_calls.0.index"), 0);
  CHECK(jget(c, "choices.0.message") == NULL);
  cJSON_Delete(c);
  CHECK_STR_CONTAINS(r.response, "\"object\":\"chat.completion\"");
  CHECK_STR_CONTAINS(srv_request, "\"stream_options\":{\"include_usage\":true}");
  CHECK(strcasestr(srv_request, "\r\nAccept: text/event-stream\r\n") != NULL);
  result_free(&r);
  /* SSE with CRLF line ends, comments, an event name, a two-line data field, and a connection
   * that is simply closed after [DONE] */
  answer("200 OK\r\nContent-Type: text/event-stream",
         ": hello\r\n\r\nevent: chunk\r\ndata: {\"id\":\"s\",\"choices\":[{\"index\":0,\r\n"
         "data: \"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":"
         "\"stop\"}]}\r\n\r\ndata: [DONE]\r\n\r\n");
  chat_sync(&f, &r, REQ_STREAM, 5000);
  cJSON *o = parse_response(&r);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_JSTR(o, "id", "s");
  CHECK_JSTR(o, "choices.0.message.content", "ab");
  CHECK(jget(o, "usage") == NULL); /* this server did not report usage */
  cJSON_Delete(o);
  result_free(&r);
  /* the body ends cleanly but without [DONE] */
  answer("200 OK\r\nContent-Type: text/event-stream",
         "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
  chat_sync(&f, &r, REQ_STREAM, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_EQ_INT(r.n_deltas, 1);
  CHECK(strcmp(r.message, "c: stream ended before [DONE]") == 0);
  result_free(&r);
  /* a chunk that is not JSON stops the stream */
  answer("200 OK\r\nContent-Type: text/event-stream",
         "data: {\"choices\":[]}\n\ndata: oops\n\ndata: [DONE]\n\n");
  chat_sync(&f, &r, REQ_STREAM, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EMALFORMED);
  CHECK_STR_CONTAINS(r.message, "c: stream data is not a JSON object");
  result_free(&r);
  /* cancel from inside the last delta, which only arrives when the body ends */
  answer("200 OK\r\nContent-Type: text/event-stream", "data: {\"choices\":[]}\n\ndata: {}");
  result_init(&r, &f);
  r.cancel_at_delta = 2;
  CHECK_EQ_INT(start_chat(&r, REQ_STREAM), 0);
  run_until(NULL, 300);
  CHECK_EQ_INT(r.n_deltas, 2);
  CHECK_EQ_INT(r.done, 0);
  result_free(&r);
  fx_close(&f);
}

int main(void) {
  suite_tmpdir();
  uv_loop_init(&loop);
  uv_timer_init(&loop, &deadline);
  uv_unref((uv_handle_t *)&deadline);
  srv_start();
  RUN(test_malformed_bodies);
  RUN(test_status_details);
  RUN(test_stream_shapes);
  srv_stop();
  suite_end();
  CHECK_DONE();
}
