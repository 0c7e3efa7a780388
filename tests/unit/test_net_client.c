/* tests/unit/test_net_client.c — the non-blocking HTTP client against a real HTTP/1.1 server on
 * 127.0.0.1: bodies, timeouts, limits, errors, cancellation, re-entrancy, reuse, proxy, TLS. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "core/errors.h"
#include "net/net.h"
#include "net_fixture.h"
#include "plugin/loader.h"

static uv_loop_t loop;
static ts_server srv;
static net_client *net;
static char tmpdir[] = "/tmp/agentai-net-XXXXXX";

#include "net_rec.h"

/* ---- tests ---- */

static void test_libcurl_features(void) {
  /* what CURL_HTTP_VERSION_2TLS and the non-blocking resolver rely on */
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  CHECK(v->features & CURL_VERSION_HTTP2);
  CHECK(v->features & CURL_VERSION_SSL);
  CHECK(v->features & CURL_VERSION_ASYNCHDNS);
}

static void test_ok_and_headers(void) {
  rec r = {0};
  start(&r, url("/ok"), NULL);
  CHECK_EQ_INT(net_client_active(net), 1);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.early, 0);
  CHECK_EQ_INT(r.dones, 1);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.heads, 1);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(r.body, "hello") == 0);
  CHECK_STR_CONTAINS(r.headers, "X-Test: yes\n"); /* the name as received */
  CHECK_STR_CONTAINS(r.headers, "Content-Length: 5\n");
  CHECK_EQ_INT(r.body_before_head, 0);
  CHECK_EQ_INT(net_client_active(net), 0);
  rec_free(&r);
}

static void test_buffered_body(void) {
  rec r = {0};
  agentai_http_request req = {.size = sizeof req, .url = url("/chunked")};
  CHECK_EQ_INT(start_req(&r, &req, 0), 0);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.bodies, 0); /* no body(): buffered for done() */
  CHECK(r.body && strcmp(r.body, "hello world") == 0);
  CHECK_EQ_INT(r.body_len, 11);
  rec_free(&r);
  /* an empty buffered body is "" (not NULL) */
  rec e = {0};
  req.url = url("/nocontent");
  CHECK_EQ_INT(start_req(&e, &req, 0), 0);
  run_until(&e.dones, 5000);
  CHECK_EQ_INT(e.err, 0);
  CHECK_EQ_INT(e.status, 204);
  CHECK_EQ_INT(e.heads, 1);
  CHECK(e.body != NULL && e.body_len == 0);
  rec_free(&e);
}

static void test_streamed_chunks(void) {
  rec r = {0};
  start(&r, url("/chunked"), NULL);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK(r.bodies >= 1);
  CHECK(strcmp(r.body, "hello world") == 0);
  rec_free(&r);
}

static void test_connection_reuse(void) {
  int before = srv.accepted, requests = srv.requests;
  for (int i = 0; i < 5; i++) {
    rec r = {0};
    start(&r, url("/ok"), NULL);
    run_until(&r.dones, 5000);
    CHECK_EQ_INT(r.err, 0);
    rec_free(&r);
  }
  CHECK_EQ_INT(srv.requests - requests, 5);
  CHECK(srv.accepted - before <= 1);
  CHECK_EQ_INT(srv.accepted, 1); /* every request so far, sequential, on one connection */
}

static void test_echo_sends_what_was_asked(void) {
  rec r = {0};
  agentai_http_header h[] = {{"Authorization", "Bearer s3cr3t-token"},
                             {"X-Custom", "v1"},
                             {"Content-Type", "application/json"}};
  agentai_http_request req = {.size = sizeof req,
                              .method = "PUT",
                              .url = url("/echo?x=1"),
                              .headers = h,
                              .header_count = 3,
                              .body = "{\"a\":1}\0tail",
                              .body_len = 12};
  CHECK_EQ_INT(start_req(&r, &req, 0), 0);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK_STR_CONTAINS(r.body, "PUT /echo?x=1 HTTP/1.1\r\n");
  CHECK_STR_CONTAINS(r.body, "Authorization: Bearer s3cr3t-token\r\n");
  CHECK_STR_CONTAINS(r.body, "X-Custom: v1\r\n");
  CHECK_STR_CONTAINS(r.body, "Content-Type: application/json\r\n");
  CHECK_STR_CONTAINS(r.body, "Content-Length: 12\r\n");
  CHECK_STR_CONTAINS(r.body, "User-Agent: agentai/");
  CHECK(strstr(r.body, "Expect:") == NULL);
  CHECK(r.body_len >= 12 && memcmp(r.body + r.body_len - 12, "{\"a\":1}\0tail", 12) == 0);
  rec_free(&r);

  /* POST by default with a body; no invented form content type */
  rec p = {0};
  agentai_http_request post = {
      .size = sizeof post, .url = url("/echo"), .body = "x=1", .body_len = 3};
  CHECK_EQ_INT(start_req(&p, &post, 0), 0);
  run_until(&p.dones, 5000);
  CHECK_STR_CONTAINS(p.body, "POST /echo HTTP/1.1\r\n");
  CHECK(strstr(p.body, "Content-Type") == NULL);
  rec_free(&p);

  /* HEAD: head, no body */
  rec hd = {0};
  agentai_http_request head = {.size = sizeof head, .method = "HEAD", .url = url("/ok")};
  CHECK_EQ_INT(start_req(&hd, &head, 1), 0);
  run_until(&hd.dones, 5000);
  CHECK_EQ_INT(hd.err, 0);
  CHECK_EQ_INT(hd.heads, 1);
  CHECK_EQ_INT(hd.status, 200);
  CHECK_EQ_INT(hd.bodies, 0);
  rec_free(&hd);
}

static void test_status_and_interim(void) {
  rec r = {0};
  start(&r, url("/status/429"), NULL);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0); /* any whole response is a success at this level */
  CHECK_EQ_INT(r.status, 429);
  CHECK_STR_CONTAINS(r.headers, "Retry-After: 7\n");
  CHECK(strcmp(r.body, "slow down") == 0);
  rec_free(&r);

  rec i = {0};
  start(&i, url("/interim"), NULL);
  run_until(&i.dones, 5000);
  CHECK_EQ_INT(i.err, 0);
  CHECK_EQ_INT(i.heads, 1);
  CHECK_EQ_INT(i.status, 200);
  CHECK_STR_CONTAINS(i.headers, "X-Final: 1\n");
  CHECK(strstr(i.headers, "X-Interim") == NULL);
  rec_free(&i);

  int before = srv.requests;
  rec d = {0};
  start(&d, url("/redirect"), NULL);
  run_until(&d.dones, 5000);
  CHECK_EQ_INT(d.err, 0);
  CHECK_EQ_INT(d.status, 302); /* not followed */
  CHECK_STR_CONTAINS(d.headers, "Location: /ok\n");
  CHECK_EQ_INT(srv.requests - before, 1);
  rec_free(&d);

  rec f = {0};
  start(&f, url("/folded"), NULL);
  run_until(&f.dones, 5000);
  CHECK_STR_CONTAINS(f.headers, "X-Fold: first second\n");
  rec_free(&f);
}

static void test_idle_and_total_timeouts(void) {
  /* bytes every 50 ms keep a 200 ms idle limit from firing over 400 ms */
  rec d = {0};
  agentai_http_request t = {.size = sizeof t, .idle_timeout_ms = 200};
  start(&d, url("/slow-drip"), &t);
  run_until(&d.dones, 5000);
  CHECK_EQ_INT(d.err, 0);
  CHECK(strcmp(d.body, "drip0drip1drip2drip3drip4drip5drip6drip7") == 0);
  CHECK(d.bodies >= 8);
  CHECK(d.done_at - d.t0 >= 350);
  rec_free(&d);

  /* headers, then silence: the idle limit */
  rec s = {0};
  agentai_http_request idle = {.size = sizeof idle, .idle_timeout_ms = 200, .timeout_ms = 5000};
  start(&s, url("/stall"), &idle);
  run_until(&s.dones, 5000);
  CHECK_EQ_INT(s.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(s.heads, 1);
  CHECK_EQ_INT(s.status, 200);
  CHECK_STR_CONTAINS(s.message, "GET http://127.0.0.1:");
  CHECK_STR_CONTAINS(s.message, "/stall: no data received for 200 ms (idle timeout)");
  CHECK(s.done_at - s.t0 >= 190 && s.done_at - s.t0 < 2000);
  rec_free(&s);

  /* nothing at all: the total limit (idle longer) */
  rec h = {0};
  agentai_http_request total = {.size = sizeof total, .idle_timeout_ms = 5000, .timeout_ms = 300};
  start(&h, url("/hang"), &total);
  run_until(&h.dones, 5000);
  CHECK_EQ_INT(h.err, AGENTAI_ETIMEDOUT);
  CHECK_EQ_INT(h.heads, 0);
  CHECK_EQ_INT(h.status, 0);
  CHECK_STR_CONTAINS(h.message, "/hang: timed out after 300 ms");
  CHECK(h.done_at - h.t0 >= 290 && h.done_at - h.t0 < 2000);
  rec_free(&h);

  /* nothing at all, idle shorter: the idle limit covers the wait for the first byte */
  rec w = {0};
  agentai_http_request first = {.size = sizeof first, .idle_timeout_ms = 150, .timeout_ms = 5000};
  start(&w, url("/hang"), &first);
  run_until(&w.dones, 5000);
  CHECK_EQ_INT(w.err, AGENTAI_ETIMEDOUT);
  CHECK_STR_CONTAINS(w.message, "idle timeout");
  rec_free(&w);
}

/* A listener whose accept queue is full drops new SYNs: connecting hangs. */
static void test_connect_timeout(void) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  CHECK_EQ_INT(listen(lfd, 0), 0);
  int fillers[4];
  for (int i = 0; i < 4; i++) { /* fill the queue; never accepted */
    fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fillers[i], (struct sockaddr *)&addr, sizeof addr);
  }
  usleep(50000);
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/x", ntohs(addr.sin_port));
  rec r = {0};
  agentai_http_request req = {.size = sizeof req, .connect_timeout_ms = 200, .timeout_ms = 5000};
  start(&r, u, &req);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_ETIMEDOUT);
  CHECK_STR_CONTAINS(r.message, "/x: connect timed out after 200 ms");
  CHECK(r.done_at - r.t0 >= 190 && r.done_at - r.t0 < 2000);
  rec_free(&r);
  for (int i = 0; i < 4; i++)
    close(fillers[i]);
  close(lfd);
}

static void test_size_limit_and_broken_bodies(void) {
  agentai_http_request lim = {.size = sizeof lim, .max_response_bytes = 1000};
  rec h = {0};
  start(&h, url("/huge"), &lim); /* chunked: stopped in the write callback */
  run_until(&h.dones, 5000);
  CHECK_EQ_INT(h.err, AGENTAI_E2BIG);
  CHECK(h.body_len <= 1000);
  CHECK_STR_CONTAINS(h.message, "/huge: response body larger than 1000 bytes");
  rec_free(&h);

  rec c = {0};
  start(&c, url("/huge-cl"), &lim); /* Content-Length says it up front */
  run_until(&c.dones, 5000);
  CHECK_EQ_INT(c.err, AGENTAI_E2BIG);
  CHECK_EQ_INT(c.body_len, 0);
  rec_free(&c);

  /* the limit is inclusive: exactly max bytes pass */
  agentai_http_request exact = {.size = sizeof exact, .max_response_bytes = 200000};
  rec e = {0};
  start(&e, url("/huge"), &exact);
  run_until(&e.dones, 5000);
  CHECK_EQ_INT(e.err, 0);
  CHECK_EQ_INT(e.body_len, 200000);
  rec_free(&e);

  rec m = {0};
  start(&m, url("/close-mid-body"), NULL);
  run_until(&m.dones, 5000);
  CHECK_EQ_INT(m.err, AGENTAI_EUPSTREAM);
  CHECK(strcmp(m.body, "0123456789") == 0);
  CHECK_STR_CONTAINS(m.message, "/close-mid-body: connection closed before the whole response");
  rec_free(&m);
}

static void test_refused_and_secrets(void) {
  int port = ts_free_port(&loop);
  char u[256];
  snprintf(u, sizeof u, "http://alice:pa55word@127.0.0.1:%d/v1/chat?api_key=QUERYSECRET#frag",
           port);
  agentai_http_header h[] = {{"Authorization", "Bearer HEADERSECRET"}};
  agentai_http_request req = {.size = sizeof req,
                              .method = "POST",
                              .url = u,
                              .headers = h,
                              .header_count = 1,
                              .body = "{}",
                              .body_len = 2};
  rec r = {0};
  CHECK_EQ_INT(start_req(&r, &req, 1), 0);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  char expect[128];
  snprintf(expect, sizeof expect, "POST http://127.0.0.1:%d/v1/chat: connection refused", port);
  CHECK_STR_CONTAINS(r.message, expect);
  CHECK(strstr(r.message, "QUERYSECRET") == NULL);
  CHECK(strstr(r.message, "api_key") == NULL);
  CHECK(strstr(r.message, "pa55word") == NULL);
  CHECK(strstr(r.message, "alice") == NULL);
  CHECK(strstr(r.message, "HEADERSECRET") == NULL);
  CHECK(strstr(r.message, "frag") == NULL);
  CHECK(strchr(r.message, '\n') == NULL);
  CHECK_EQ_INT(r.heads, 0);
  rec_free(&r);

  /* a name that does not resolve */
  rec n = {0};
  start(&n, "http://no-such-host.invalid/x?token=QUERYSECRET", NULL);
  run_until(&n.dones, 10000);
  CHECK_EQ_INT(n.err, AGENTAI_EUPSTREAM);
  CHECK_STR_CONTAINS(n.message, "GET http://no-such-host.invalid/x: cannot resolve");
  CHECK(strstr(n.message, "QUERYSECRET") == NULL);
  rec_free(&n);
}

static void test_refused_synchronously(void) {
  rec r = {0};
  agentai_http_request req = {.size = sizeof req};
  const char *bad_urls[] = {"",
                            "not a url",
                            "http://",
                            "/relative/path",
                            "file:///etc/passwd",
                            "ftp://127.0.0.1/x",
                            "gopher://127.0.0.1/x",
                            "dict://127.0.0.1:11211/stat",
                            "http://exa mple.com/",
                            "http://example.com/\r\nX-Injected: 1",
                            NULL};
  for (int i = 0; bad_urls[i]; i++) {
    req.url = bad_urls[i];
    CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  }
  req.url = NULL;
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.url = url("/ok");
  req.method = "GE T";
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.method = "";
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.method = NULL;
  agentai_http_header crlf[] = {{"X-A", "v\r\nX-Injected: 1"}};
  req.headers = crlf;
  req.header_count = 1;
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  agentai_http_header badname[] = {{"X A", "v"}};
  req.headers = badname;
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  agentai_http_header noname[] = {{"", "v"}};
  req.headers = noname;
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.headers = NULL; /* a count without headers */
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.header_count = 0;
  req.body_len = 3; /* a length without a body */
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.body_len = 0;
  req.size = sizeof req - 8; /* an older, smaller layout than ABI 1.1's */
  CHECK_EQ_INT(start_req(&r, &req, 1), AGENTAI_EINVAL);
  req.size = sizeof req;
  agentai_http_sink nodone = {.ud = &r, .head = on_head};
  agentai_http_call *call = NULL;
  CHECK_EQ_INT(net_request_start(net, &req, &nodone, &call), AGENTAI_EINVAL);
  CHECK_EQ_INT(net_request_start(net, NULL, &nodone, &call), AGENTAI_EINVAL);
  CHECK_EQ_INT(net_client_active(net), 0);
  run_for(50);
  CHECK_EQ_INT(r.heads + r.bodies + r.dones, 0); /* the sink is never called */
  rec_free(&r);
}

static void test_cancel_paths(void) {
  /* right after start: nothing is ever called */
  rec a = {0};
  start(&a, url("/ok"), NULL);
  net_request_cancel(net, a.call);
  CHECK_EQ_INT(net_client_active(net), 0);
  run_for(100);
  CHECK_EQ_INT(a.heads + a.bodies + a.dones, 0);
  net_request_cancel(net, NULL); /* no-op */

  /* from inside head() */
  rec b = {.cancel_in_head = 1};
  start(&b, url("/slow-drip"), NULL);
  run_for(300);
  CHECK_EQ_INT(b.heads, 1);
  CHECK_EQ_INT(b.bodies, 0);
  CHECK_EQ_INT(b.dones, 0);

  /* from inside body() */
  rec c = {.cancel_in_body = 1};
  start(&c, url("/slow-drip"), NULL);
  run_for(300);
  CHECK_EQ_INT(c.bodies, 1);
  CHECK_EQ_INT(c.dones, 0);
  CHECK_EQ_INT(c.after_done, 0);
  CHECK_EQ_INT(net_client_active(net), 0);

  /* head() or body() returning non-zero: done(ECANCELED) */
  rec d = {.head_ret = 1};
  start(&d, url("/ok"), NULL);
  run_until(&d.dones, 5000);
  CHECK_EQ_INT(d.err, AGENTAI_ECANCELED);
  CHECK_EQ_INT(d.bodies, 0);
  CHECK_STR_CONTAINS(d.message, "/ok: stopped by the caller");
  rec e = {.body_ret = 1};
  start(&e, url("/slow-drip"), NULL);
  run_until(&e.dones, 5000);
  CHECK_EQ_INT(e.err, AGENTAI_ECANCELED);
  CHECK_EQ_INT(e.bodies, 1);
  /* head() stopping a response without a body (delivered at completion) */
  rec f = {.head_ret = 1};
  start(&f, url("/nocontent"), NULL);
  run_until(&f.dones, 5000);
  CHECK_EQ_INT(f.err, AGENTAI_ECANCELED);
  rec g = {.cancel_in_head = 1};
  start(&g, url("/nocontent"), NULL);
  run_for(200);
  CHECK_EQ_INT(g.heads, 1);
  CHECK_EQ_INT(g.dones, 0);

  /* cancelling itself from its own done() is a no-op */
  rec self = {0};
  self.cancel_in_done = &self;
  start(&self, url("/ok"), NULL);
  run_until(&self.dones, 5000);
  CHECK_EQ_INT(self.err, 0);
  run_for(50);
  CHECK_EQ_INT(self.dones, 1);

  /* the client still works */
  rec ok = {0};
  start(&ok, url("/ok"), NULL);
  run_until(&ok.dones, 5000);
  CHECK_EQ_INT(ok.err, 0);
  rec *all[] = {&a, &b, &c, &d, &e, &f, &g, &self, &ok};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    CHECK_EQ_INT(all[i]->early, 0);
    CHECK_EQ_INT(all[i]->after_done, 0);
    rec_free(all[i]);
  }
}

static void cancel_second(uv_timer_t *t) {
  rec *r = t->data;
  net_request_cancel(net, r->call);
}

static void test_cancel_one_of_parallel(void) {
  rec r[3] = {{0}};
  for (int i = 0; i < 3; i++)
    start(&r[i], url("/slow-drip"), NULL);
  CHECK_EQ_INT(net_client_active(net), 3);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  t.data = &r[1];
  uv_timer_start(&t, cancel_second, 120, 0);
  int both = 0;
  uint64_t deadline = uv_now(&loop) + 5000;
  while (!both && uv_now(&loop) < deadline) {
    run_for(20);
    both = r[0].dones && r[2].dones;
  }
  uv_close((uv_handle_t *)&t, NULL);
  run_for(100);
  const char *all = "drip0drip1drip2drip3drip4drip5drip6drip7";
  CHECK_EQ_INT(r[0].err, 0);
  CHECK(strcmp(r[0].body, all) == 0);
  CHECK_EQ_INT(r[2].err, 0);
  CHECK(strcmp(r[2].body, all) == 0);
  CHECK_EQ_INT(r[1].dones, 0);
  CHECK(r[1].bodies >= 1 && r[1].bodies < 8);
  for (int i = 0; i < 3; i++)
    rec_free(&r[i]);
}

static void test_reentrancy(void) {
  /* done() of one request cancels another in flight */
  rec slow = {0}, quick = {.cancel_in_done = &slow};
  start(&slow, url("/slow-drip"), NULL);
  start(&quick, url("/ok"), NULL);
  run_until(&quick.dones, 5000);
  int bodies = slow.bodies;
  run_for(300);
  CHECK_EQ_INT(slow.dones, 0);
  CHECK_EQ_INT(slow.bodies, bodies);
  CHECK_EQ_INT(net_client_active(net), 0);

  /* body() starts a new request: it runs once curl returns */
  rec inner = {0}, outer = {.start_in_body = &inner, .start_url = url("/chunked")};
  start(&outer, url("/ok"), NULL);
  run_until(&inner.dones, 5000);
  CHECK_EQ_INT(outer.err, 0);
  CHECK_EQ_INT(inner.err, 0);
  CHECK_EQ_INT(inner.early, 0);
  CHECK(strcmp(inner.body, "hello world") == 0);
  rec_free(&slow);
  rec_free(&quick);
  rec_free(&inner);
  rec_free(&outer);
}

static void test_close_with_requests_in_flight(void) {
  rec r[3] = {{0}};
  for (int i = 0; i < 3; i++)
    start(&r[i], url("/slow-drip"), NULL);
  run_for(80);
  net_client_close(net);
  net = NULL;
  run_for(300);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(r[i].dones, 0);
    CHECK(r[i].bodies <= 2);
    rec_free(&r[i]);
  }
  /* from inside a body() callback, with a sibling in flight */
  CHECK_EQ_INT(net_client_new(&loop, &net), 0);
  rec x = {.close_in_body = 1}, y = {0};
  start(&x, url("/slow-drip"), NULL);
  start(&y, url("/slow-drip"), NULL);
  run_for(400);
  CHECK(net == NULL);
  CHECK_EQ_INT(x.bodies, 1);
  CHECK_EQ_INT(x.dones + y.dones, 0);
  rec_free(&x);
  rec_free(&y);
  CHECK_EQ_INT(net_client_new(&loop, &net), 0);
}

static void test_proxy_environment(void) {
  char proxy[64];
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", srv.port);
  setenv("http_proxy", proxy, 1);
  rec r = {0};
  start(&r, "http://proxied.invalid/x?q=1", NULL);
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strcmp(srv.last_target, "http://proxied.invalid/x?q=1") == 0); /* absolute form */
  CHECK(strcmp(r.body, "proxied http://proxied.invalid/x?q=1") == 0);
  rec_free(&r);
  /* no_proxy wins for the hosts it names */
  setenv("no_proxy", "127.0.0.1", 1);
  rec d = {0};
  start(&d, url("/ok"), NULL);
  run_until(&d.dones, 5000);
  CHECK_EQ_INT(d.err, 0);
  CHECK(strcmp(srv.last_target, "/ok") == 0);
  rec_free(&d);
  unsetenv("no_proxy");
  unsetenv("http_proxy");
}

/* ---- TLS against `openssl s_server` ---- */

static pid_t tls_pid;
static int tls_port;

static int can_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static void tls_server_start(void) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
           "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout key.pem -out cert.pem "
           ">/dev/null 2>&1 && printf 'hello over tls' > hello.txt",
           tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  tls_port = ts_free_port(&loop);
  tls_pid = fork();
  CHECK(tls_pid >= 0);
  if (tls_pid == 0) {
    if (chdir(tmpdir) != 0)
      _exit(127);
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    char port[16];
    snprintf(port, sizeof port, "%d", tls_port);
    execlp("openssl", "openssl", "s_server", "-accept", port, "-cert", "cert.pem", "-key",
           "key.pem", "-WWW", "-quiet", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200 && !can_connect(tls_port); i++)
    usleep(25000);
  CHECK(can_connect(tls_port));
}

static void tls_server_stop(void) {
  kill(tls_pid, SIGTERM);
  waitpid(tls_pid, NULL, 0);
}

static void test_tls(void) {
  tls_server_start();
  char u[128], ca[300];
  snprintf(u, sizeof u, "https://localhost:%d/hello.txt?k=QUERYSECRET", tls_port);
  snprintf(ca, sizeof ca, "%s/cert.pem", tmpdir);

  /* the system trust store does not know the self-signed certificate */
  rec r = {0};
  start(&r, u, NULL);
  run_until(&r.dones, 10000);
  CHECK_EQ_INT(r.err, AGENTAI_EUPSTREAM);
  CHECK_STR_CONTAINS(r.message, "GET https://localhost:");
  CHECK_STR_CONTAINS(r.message, "certificate");
  CHECK(strstr(r.message, "QUERYSECRET") == NULL);
  rec_free(&r);

  /* ca_file trusts it (s_server -WWW reads a query as part of the file name) */
  snprintf(u, sizeof u, "https://localhost:%d/hello.txt", tls_port);
  rec ok = {0};
  agentai_http_request req = {.size = sizeof req, .ca_file = ca};
  start(&ok, u, &req);
  run_until(&ok.dones, 10000);
  CHECK_EQ_INT(ok.err, 0);
  CHECK_EQ_INT(ok.status, 200);
  CHECK(strcmp(ok.body, "hello over tls") == 0);
  rec_free(&ok);

  /* by IP address too (the certificate names 127.0.0.1) */
  rec ip = {0};
  snprintf(u, sizeof u, "https://127.0.0.1:%d/hello.txt", tls_port);
  start(&ip, u, &req);
  run_until(&ip.dones, 10000);
  CHECK_EQ_INT(ip.err, 0);
  rec_free(&ip);

  /* a CA file that is not there */
  rec bad = {0};
  agentai_http_request missing = {.size = sizeof missing, .ca_file = "/nonexistent/ca.pem"};
  start(&bad, u, &missing);
  run_until(&bad.dones, 10000);
  CHECK_EQ_INT(bad.err, AGENTAI_EUPSTREAM);
  CHECK_STR_CONTAINS(bad.message, "TLS");
  rec_free(&bad);

  /* plain HTTP to the TLS port: a protocol failure, not a hang */
  rec plain = {0};
  snprintf(u, sizeof u, "http://127.0.0.1:%d/hello.txt", tls_port);
  agentai_http_request quick = {.size = sizeof quick, .timeout_ms = 3000};
  start(&plain, u, &quick);
  run_until(&plain.dones, 10000);
  CHECK(plain.err == AGENTAI_EUPSTREAM || plain.err == AGENTAI_ETIMEDOUT);
  rec_free(&plain);
  tls_server_stop();
}

/* ---- the host table entries ---- */

static void test_host_table(void) {
  plugin_registry *reg = NULL;
  CHECK_EQ_INT(plugin_registry_new(&loop, "/tmp", &reg), 0);
  const agentai_host *host = plugin_runtime_host(reg);
  CHECK(AGENTAI_HOST_HAS(host, http_request));
  CHECK(AGENTAI_HOST_HAS(host, http_cancel));
  CHECK_EQ_INT(host->abi_minor, AGENTAI_ABI_MINOR);
  CHECK(plugin_registry_net(reg) != NULL);
  CHECK(plugin_registry_net(reg) == plugin_registry_net(reg)); /* one client */

  rec r = {0};
  agentai_http_request req = {.size = sizeof req, .url = url("/ok")};
  agentai_http_sink sink = sink_of(&r, 0);
  r.started = 0;
  CHECK_EQ_INT(host->http_request(host, &req, &sink, &r.call), 0);
  r.started = 1;
  run_until(&r.dones, 5000);
  CHECK_EQ_INT(r.err, 0);
  CHECK(strcmp(r.body, "hello") == 0);
  CHECK_EQ_INT(r.early, 0);

  req.url = "file:///etc/passwd";
  CHECK_EQ_INT(host->http_request(host, &req, &sink, &r.call), AGENTAI_EINVAL);
  CHECK_EQ_INT(host->http_request(host, NULL, &sink, &r.call), AGENTAI_EINVAL);

  rec c = {0};
  req.url = url("/slow-drip");
  sink = sink_of(&c, 1);
  CHECK_EQ_INT(host->http_request(host, &req, &sink, &c.call), 0);
  host->http_cancel(host, c.call);
  run_for(100);
  CHECK_EQ_INT(c.heads + c.dones, 0);

  /* freeing the registry cancels what is in flight */
  rec f = {0};
  sink = sink_of(&f, 1);
  CHECK_EQ_INT(host->http_request(host, &req, &sink, &f.call), 0);
  run_for(60);
  plugin_registry_free(reg);
  run_for(200);
  CHECK_EQ_INT(f.dones, 0);
  rec_free(&r);
  rec_free(&c);
  rec_free(&f);
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "open handle: %s closing=%d active=%d\n", uv_handle_type_name(h->type),
          uv_is_closing(h), uv_is_active(h));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  CHECK(mkdtemp(tmpdir) != NULL);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  ts_start(&srv, &loop);
  CHECK_EQ_INT(net_client_new(&loop, &net), 0);
  RUN(test_libcurl_features);
  RUN(test_ok_and_headers);
  RUN(test_buffered_body);
  RUN(test_streamed_chunks);
  RUN(test_connection_reuse);
  RUN(test_echo_sends_what_was_asked);
  RUN(test_status_and_interim);
  RUN(test_idle_and_total_timeouts);
  RUN(test_connect_timeout);
  RUN(test_size_limit_and_broken_bodies);
  RUN(test_refused_and_secrets);
  RUN(test_refused_synchronously);
  RUN(test_cancel_paths);
  RUN(test_cancel_one_of_parallel);
  RUN(test_reentrancy);
  RUN(test_close_with_requests_in_flight);
  RUN(test_proxy_environment);
  RUN(test_tls);
  RUN(test_host_table);
  net_client_close(net);
  ts_stop(&srv);
  for (int i = 0; i < 10; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  uv_walk(&loop, print_handle, NULL);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_DONE();
}
