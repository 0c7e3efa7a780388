/* tests/unit/test_lua_routes.c — Lua routes over a real HTTP server: matching, req fields,
 * answers, route errors, per-request CPU and memory kills, waiting handlers, disconnects. */
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "http_fixture.h"
#include "lua/routes.h"

static app a;
static char tmpdir[] = "/tmp/agentai-routes-XXXXXX";
static lh_routes *g_routes;
static int g_unrouted;

/* ---- server side (loop thread) ---- */

/* /_stats and /_close belong to the harness; everything else is offered to
 * the routes first and answered 404 when they say no. */
static void route_handler(void *ud, http_request *req) {
  (void)ud;
  const char *path = http_request_path(req);
  char buf[256];
  if (!strcmp(path, "/_stats")) {
    snprintf(buf, sizeof buf, "{\"routes\":%zu,\"memory\":%zu,\"unrouted\":%d}",
             lh_routes_count(g_routes), lh_routes_memory(g_routes), g_unrouted);
    http_respond_json(req, 200, buf);
    return;
  }
  if (!strcmp(path, "/_close")) {
    lh_routes_close(g_routes);
    g_routes = NULL;
    http_respond_json(req, 200, "{\"closed\":true}");
    return;
  }
  if (lh_routes_dispatch(g_routes, req))
    return;
  g_unrouted++;
  snprintf(buf, sizeof buf, "no route for %s", path);
  http_respond_error(req, 404, "not_found", buf, NULL);
}

static void serve(void (*client)(void)) {
  g_server_closed = 0;
  g_stop_requested = 0;
  g_unrouted = 0;
  char err[256];
  int rc = http_server_start(&a.loop, "127.0.0.1", 0, route_handler, NULL, NULL, &g_srv, err,
                             sizeof err);
  if (rc)
    fprintf(stderr, "http_server_start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  g_port = http_server_port(g_srv);
  CHECK_EQ_INT(uv_async_init(&a.loop, &g_done_async, on_done_async), 0);
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, client_main, (void *)(uintptr_t)client), 0);
  while (!g_server_closed)
    uv_run(&a.loop, UV_RUN_ONCE);
  CHECK_EQ_INT(pthread_join(th, NULL), 0);
}

/* ---- files ---- */

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/%s", tmpdir, dir, name);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static const char *make_dir(const char *name) {
  static char path[8][512];
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  CHECK_EQ_INT(mkdir(p, 0700), 0);
  return p;
}

/* Opens the routes of one folder; returns the code, message in err. */
static int open_dir(const char *dir, lh_routes **out, char *err, size_t len) {
  const char *dirs[] = {dir};
  return lh_routes_open(&a.lua, dirs, 1, out, err, len);
}

/* Lets a closed route VM's idle handle finish closing. */
static void settle(void) {
  for (int i = 0; i < 5; i++)
    uv_run(&a.loop, UV_RUN_NOWAIT);
}

/* ---- client helpers ---- */

static void request(conn *c, const char *method, const char *path, const char *headers,
                    const char *body) {
  char req[8192];
  snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n%s", method,
           path, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
  conn_sends(c, req);
}

static void call(const char *method, const char *path, const char *headers, const char *body,
                 resp *r) {
  conn c;
  conn_open(&c);
  request(&c, method, path, headers, body);
  CHECK_EQ_INT(read_resp(&c, r, !strcmp(method, "HEAD")), 0);
  conn_close(&c);
}

static int stats_value(const char *name) {
  resp r;
  call("GET", "/_stats", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(r.body, key);
  CHECK(p != NULL);
  int v = atoi(p + strlen(key));
  resp_free(&r);
  return v;
}

/* The number after "name": in the body of GET path. */
static double json_number(const char *path, const char *name) {
  resp r;
  call("GET", path, NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(r.body, key);
  CHECK(p != NULL);
  double v = atof(p + strlen(key));
  resp_free(&r);
  return v;
}

/* ======================================================================== */
/* Load errors                                                              */
/* ======================================================================== */

static void expect_load_error(const char *dir, int code, const char *needle1, const char *needle2) {
  char err[1024] = "";
  lh_routes *r = NULL;
  CHECK_EQ_INT(open_dir(dir, &r, err, sizeof err), code);
  CHECK(r == NULL);
  CHECK_STR_CONTAINS(err, needle1);
  if (needle2)
    CHECK_STR_CONTAINS(err, needle2);
  settle();
}

static void test_load_errors(void) {
  const char *d = make_dir("v1");
  write_file("v1", "a.lua", "local ai = require('agentai')\nai.route.get('/v1/things', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "a.lua:2:", "belongs to the built-in API");

  d = make_dir("health");
  write_file("health", "h.lua", "require('agentai').route.add('get', '/healthz', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "h.lua:1:", "'/healthz' belongs to the built-in API");

  d = make_dir("v1root");
  write_file("v1root", "h.lua", "require('agentai').route.post('/v1', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "h.lua:1:", "built-in API");

  /* Same method and shape in two files: both are named. */
  d = make_dir("dup");
  write_file("dup", "a.lua", "require('agentai').route.get('/x/{id}', print)\n");
  write_file("dup", "b.lua",
             "local ai = require('agentai')\nai.route.get('/x/{name}', function() end)\n");
  expect_load_error(d, AGENTAI_EINVAL, "b.lua:2: ai.route: duplicate route GET /x/{name}",
                    "a.lua:1");

  d = make_dir("badpattern");
  write_file("badpattern", "p.lua", "require('agentai').route.get('/x/{a b}', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "bad pattern '/x/{a b}'");
  write_file("badpattern", "p.lua", "require('agentai').route.get('x', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "starts with '/'");
  write_file("badpattern", "p.lua", "require('agentai').route.get('/x/', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "empty segment");
  write_file("badpattern", "p.lua", "require('agentai').route.get('/{a}/{a}', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "same parameter name");
  write_file("badpattern", "p.lua", "require('agentai').route.get('/x', 'not a function')\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "function expected");
  write_file("badpattern", "p.lua", "require('agentai').route.add('BREW', '/x', print)\n");
  expect_load_error(d, AGENTAI_EINVAL, "p.lua:1:", "method must be GET");

  d = make_dir("syntax");
  write_file("syntax", "s.lua", "local x = \n");
  expect_load_error(d, AGENTAI_EINVAL, "s.lua:2:", NULL);

  d = make_dir("raises");
  write_file("raises", "r.lua", "local ai = require('agentai')\nerror('oops at load')\n");
  expect_load_error(d, AGENTAI_EINVAL, "r.lua:2: oops at load", NULL);

  /* Waiting calls are for handlers, not for the files' top level. */
  d = make_dir("waits");
  write_file("waits", "w.lua", "local ai = require('agentai')\n\nai.sleep(0)\n");
  expect_load_error(d, AGENTAI_EINVAL, "w.lua:3:", "ai.sleep");

  /* A file's top level has the CPU budget too. */
  d = make_dir("spins");
  write_file("spins", "s.lua", "while true do end\n");
  uint64_t saved = a.cfg.lua_cpu_limit;
  a.cfg.lua_cpu_limit = 1000000;
  expect_load_error(d, AGENTAI_ETIMEDOUT, "s.lua:1:", "cpu budget exceeded");
  a.cfg.lua_cpu_limit = saved;

  /* A missing folder has no routes; a file that is not *.lua is skipped. */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/nowhere", tmpdir);
  d = make_dir("fine");
  write_file("fine", "notes.txt", "this is not Lua (\n");
  write_file("fine", "ok.lua", "require('agentai').route.get('/ok', function() return 'ok' end)\n");
  const char *dirs[] = {missing, d};
  lh_routes *r = NULL;
  char err[512] = "";
  int rc = lh_routes_open(&a.lua, dirs, 2, &r, err, sizeof err);
  if (rc)
    fprintf(stderr, "open: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(lh_routes_count(r), 1);
  CHECK(lh_routes_memory(r) > 0);
  lh_routes_close(r);
  CHECK_EQ_INT(lh_routes_open(&a.lua, NULL, 0, &r, err, sizeof err), 0);
  CHECK_EQ_INT(lh_routes_count(r), 0);
  lh_routes_close(r);
  CHECK_EQ_INT(lh_routes_count(NULL), 0);
  CHECK_EQ_INT(lh_routes_dispatch(NULL, NULL), 0);
  lh_routes_close(NULL);
  settle();
}

/* ======================================================================== */
/* Serving                                                                  */
/* ======================================================================== */

static const char MAIN_ROUTES[] =
    "local ai = require('agentai')\n"
    "local calls = 0\n"
    "ai.route.get('/hello/{name}', function(req)\n"
    "  calls = calls + 1\n"
    "  return {status = 200, json = {hello = req.params.name, q = req.query.x,\n"
    "          method = req.method, path = req.path, id = req.id}}\n"
    "end)\n"
    "ai.route.get('/calls', function() return {json = {calls = calls}} end)\n"
    "ai.route.post('/echo', function(req)\n"
    "  calls = calls + 1\n"
    "  return {json = req.json or {raw = req.body}}\n"
    "end)\n"
    "ai.route.get('/query', function(req) return {json = req.query} end)\n"
    "ai.route.get('/header', function(req)\n"
    "  return {json = {lower = req.headers['x-test'], upper = req.headers['X-Test'],\n"
    "                  call = req.headers('x-test'), missing = req.headers['x-none'] == nil}}\n"
    "end)\n"
    "ai.route.get('/text', function() return 'plain words' end)\n"
    "ai.route.add('put', '/custom/{id}', function(req)\n"
    "  return {status = 201, body = 'id=' .. req.params.id .. ';' .. req.body,\n"
    "          content_type = 'text/csv', headers = {['X-Extra'] = 'yes', ['X-Num'] = 7}}\n"
    "end)\n"
    "ai.route.get('/nothing', function() return {status = 204} end)\n"
    "ai.route.get('/users/me', function() return 'me' end)\n"
    "ai.route.get('/users/{id}', function(req) return 'user ' .. req.params.id end)\n"
    "ai.route.delete('/users/{id}', function(req) return 'deleted ' .. req.params.id end)\n"
    "ai.route.get('/{a}/{b}', function(req) return 'catchall ' .. req.params.a end)\n"
    "local stash\n"
    "ai.route.get('/stash', function(req) stash = req return 'kept' end)\n"
    "ai.route.get('/stash/read', function(req)\n"
    "  local ok, err = pcall(function() return stash.query end)\n"
    "  return {json = {ok = ok, err = tostring(err), method = stash.method}}\n"
    "end)\n"
    "ai.route.get('/co/{x}', function(req)\n"
    "  return coroutine.wrap(function() return req.params.x .. req.query.a .. req.id end)()\n"
    "end)\n";

static const char ERROR_ROUTES[] =
    "local ai = require('agentai')\n"
    "ai.route.get('/boom', function() error('secret detail') end)\n"
    "ai.route.get('/boom/structured', function() ai.error{kind = 'bad', message = 'hidden'} end)\n"
    "ai.route.get('/bad/return', function() return 42 end)\n"
    "ai.route.get('/bad/nil', function() end)\n"
    "ai.route.get('/bad/status', function() return {status = 99} end)\n"
    "ai.route.get('/bad/both', function() return {json = {}, body = 'x'} end)\n"
    "ai.route.get('/bad/header', function()\n"
    "  return {body = 'x', headers = {['Content-Length'] = '3', ['X-Before'] = 'no'}}\n"
    "end)\n"
    "ai.route.get('/bad/crlf', function() return {body = 'x', headers = {['X-A'] = 'a\\r\\nb'}} "
    "end)\n"
    "ai.route.get('/bad/json', function() return {json = {f = print}} end)\n"
    "ai.route.get('/late', function() ai.route.get('/later', print) return 'x' end)\n"
    "ai.route.get('/bad/field', function() return {stauts = 201, body = 'x'} end)\n";

static const char WAIT_ROUTES[] =
    "local ai = require('agentai')\n"
    "local started, finished = 0, 0\n"
    "ai.route.get('/sleep', function(req)\n"
    "  local t = ai.now()\n"
    "  ai.sleep(tonumber(req.query.s or '0.05'))\n"
    "  return {json = {slept = ai.now() - t, name = req.query.name}}\n"
    "end)\n"
    "ai.route.get('/slow', function(req)\n"
    "  started = started + 1\n"
    "  ai.sleep(tonumber(req.query.s or '0.5'))\n"
    "  finished = finished + 1\n"
    "  return 'done'\n"
    "end)\n"
    "ai.route.get('/slow/stats', function() return {json = {started = started, finished = "
    "finished}} end)\n"
    "ai.route.get('/spawn', function()\n"
    "  local h1 = ai.spawn(function() ai.sleep(0.02) return 1 end)\n"
    "  local h2 = ai.spawn(function(x) return x end, 2)\n"
    "  local x, y = ai.wait(h1, h2)\n"
    "  ai.spawn(function() ai.sleep(30) end) -- stopped when the request ends\n"
    "  return {json = {sum = x + y}}\n"
    "end)\n"
    "ai.route.post('/kv/{key}', function(req)\n"
    "  ai.kv.put('route/' .. req.params.key, req.json)\n"
    "  return {json = ai.kv.get('route/' .. req.params.key)}\n"
    "end)\n"
    "ai.route.get('/llm', function(req)\n"
    "  local r = ai.llm.chat{messages = {{role = 'user', content = req.query.say}}}\n"
    "  return {json = {content = r.choices[1].message.content}}\n"
    "end)\n";

static const char BUDGET_ROUTES[] =
    "local ai = require('agentai')\n"
    "ai.route.get('/spin', function() while true do end end)\n"
    "ai.route.get('/spin/pcall', function()\n"
    "  for i = 1, 100 do pcall(function() while true do end end) end\n"
    "  return 'swallowed'\n"
    "end)\n"
    "ai.route.get('/spin/child', function()\n"
    "  ai.spawn(function() while true do end end)\n"
    "  ai.sleep(30)\n"
    "  return 'not reached'\n"
    "end)\n"
    "ai.route.get('/hog', function()\n"
    "  local t = {}\n"
    "  for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end\n"
    "end)\n"
    "ai.route.get('/fine', function() local t = {} for i = 1, 1000 do t[i] = i end return "
    "{json = {n = #t}} end)\n"
    "ai.route.get('/gc', function() collectgarbage() return 'collected' end)\n"
    "ai.route.get('/garbage', function()\n"
    "  local t = {}\n"
    "  for i = 1, 10000 do t[i] = string.rep('y', 1000) .. i end\n"
    "  return {json = {n = #t}}\n"
    "end)\n";

static void client_basics(void) {
  resp r;
  char v[256];
  call("GET", "/hello/ada?x=1&y=2", "X-Request-Id: rt-123\r\n", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "content-type", v, sizeof v) && !strcmp(v, "application/json"));
  CHECK(!strcmp(r.body, "{\"hello\":\"ada\",\"id\":\"rt-123\",\"method\":\"GET\",\"path\":"
                        "\"/hello/ada\",\"q\":\"1\"}"));
  resp_free(&r);

  /* Query values are decoded; the first of a repeated name wins; a bare name is "". */
  call("GET", "/query?a=x%26y&b=%20sp&a=2&flag", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"a\":\"x&y\",\"b\":\" sp\",\"flag\":\"\"}"));
  resp_free(&r);
  call("GET", "/query", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "{}"));
  resp_free(&r);

  call("GET", "/header", "X-Test: Value 1\r\n", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(
      r.body,
      "{\"call\":\"Value 1\",\"lower\":\"Value 1\",\"missing\":true,\"upper\":\"Value 1\"}"));
  resp_free(&r);

  /* JSON bodies are decoded for the handler, with or without parameters. */
  call("POST", "/echo", "Content-Type: application/json; charset=utf-8\r\n",
       "{\"b\":[1,2.5,null],\"a\":\"z\"}", &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"a\":\"z\",\"b\":[1,2.5,null]}"));
  resp_free(&r);
  call("POST", "/echo", "Content-Type: text/plain\r\n", "{not json", &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"raw\":\"{not json\"}"));
  resp_free(&r);

  /* Malformed JSON: 400 with the decoder's byte offset; the handler never ran. */
  int calls = (int)json_number("/calls", "calls");
  call("POST", "/echo", "Content-Type: application/json\r\n", "{\"a\":1,}", &r);
  CHECK_EQ_INT(r.status, 400);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"invalid_json\"");
  CHECK_STR_CONTAINS(r.body, "at byte 7");
  CHECK_STR_CONTAINS(r.body, "\"param\":\"body\"");
  resp_free(&r);
  CHECK_EQ_INT((int)json_number("/calls", "calls"), calls);

  call("GET", "/text", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "content-type", v, sizeof v) &&
        !strcmp(v, "text/plain; charset=utf-8"));
  CHECK(!strcmp(r.body, "plain words"));
  resp_free(&r);

  call("PUT", "/custom/7", NULL, "a,b", &r);
  CHECK_EQ_INT(r.status, 201);
  CHECK(find_header(r.head, "content-type", v, sizeof v) && !strcmp(v, "text/csv"));
  CHECK(find_header(r.head, "x-extra", v, sizeof v) && !strcmp(v, "yes"));
  CHECK(find_header(r.head, "x-num", v, sizeof v) && !strcmp(v, "7"));
  CHECK(!strcmp(r.body, "id=7;a,b"));
  resp_free(&r);

  call("GET", "/nothing", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 204);
  resp_free(&r);

  /* HEAD runs the GET route; the body is dropped. */
  call("HEAD", "/hello/bo", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(find_header(r.head, "content-length", v, sizeof v) && atoi(v) > 10);
  resp_free(&r);

  /* The most literal pattern wins; methods pick among the patterns. */
  call("GET", "/users/me", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "me"));
  resp_free(&r);
  call("GET", "/users/42", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "user 42"));
  resp_free(&r);
  call("DELETE", "/users/me", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "deleted me"));
  resp_free(&r);

  /* A pattern that matches but not the method: 405 with Allow. */
  call("POST", "/hello/x", NULL, "", &r);
  CHECK_EQ_INT(r.status, 405);
  CHECK(find_header(r.head, "allow", v, sizeof v) && !strcmp(v, "GET, HEAD"));
  CHECK_STR_CONTAINS(r.body, "method_not_allowed");
  resp_free(&r);
  call("PATCH", "/users/5", NULL, "", &r);
  CHECK_EQ_INT(r.status, 405);
  CHECK(find_header(r.head, "allow", v, sizeof v) && !strcmp(v, "GET, HEAD, DELETE"));
  resp_free(&r);

  /* Nothing matches: the routes decline and the caller answers. The
   * built-in API's paths are never a route's, even for a catch-all. */
  call("GET", "/x/y", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "catchall x"));
  resp_free(&r);
  int before = stats_value("unrouted");
  const char *declined[] = {"/v1/models", "/nope", "/hello", "/hello/a/b", "/hello/", "/"};
  for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
    call("GET", declined[i], NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK_STR_CONTAINS(r.body, "no route for");
    resp_free(&r);
  }
  CHECK_EQ_INT(stats_value("unrouted"), before + 6);

  /* Many requests on one keep-alive connection (fibers are pooled). */
  conn c;
  conn_open(&c);
  for (int i = 0; i < 200; i++) {
    char path[64];
    snprintf(path, sizeof path, "/hello/n%d", i);
    get(&c, path, NULL);
    CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    snprintf(path, sizeof path, "\"hello\":\"n%d\"", i);
    CHECK_STR_CONTAINS(r.body, path);
    resp_free(&r);
  }
  conn_close(&c);
  /* req's fields are made on first use, from the request running; a req
   * kept past its request only keeps what was already read. */
  call("GET", "/co/p?a=q", "X-Request-Id: co-1\r\n", NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "pqco-1"));
  resp_free(&r);
  call("GET", "/stash?a=1", NULL, NULL, &r);
  CHECK(!strcmp(r.body, "kept"));
  resp_free(&r);
  call("GET", "/stash/read", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR_CONTAINS(r.body, "\"ok\":false");
  CHECK_STR_CONTAINS(r.body, "req.query is only readable while its own request runs");
  CHECK_STR_CONTAINS(r.body, "\"method\":\"GET\"");
  resp_free(&r);

  CHECK_EQ_INT(stats_value("routes"), 15);
}

static void client_errors(void) {
  resp r;
  char v[256];
  /* A Lua error: 500 route_error naming the route and the request id; the
   * error itself and its traceback only go to the log. */
  call("GET", "/boom", "X-Request-Id: boom-1\r\n", NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"route_error\"");
  CHECK_STR_CONTAINS(r.body, "route GET /boom failed (request boom-1)");
  CHECK_STR_CONTAINS(r.body, "\"request_id\":\"boom-1\"");
  CHECK(!strstr(r.body, "secret detail"));
  CHECK(!strstr(r.body, "traceback"));
  CHECK(!strstr(r.body, ".lua"));
  resp_free(&r);
  call("GET", "/boom/structured", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  CHECK(!strstr(r.body, "hidden"));
  resp_free(&r);

  const char *bad[] = {"/bad/return", "/bad/nil",  "/bad/status", "/bad/both", "/bad/header",
                       "/bad/crlf",   "/bad/json", "/bad/field",  "/late"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    call("GET", bad[i], NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "route_error");
    CHECK_STR_CONTAINS(r.body, bad[i]);
    /* a header refused after another was accepted leaves no trace */
    CHECK(!find_header(r.head, "x-before", v, sizeof v));
    resp_free(&r);
  }
}

static void client_waiting(void) {
  resp r;
  /* A handler that waits, then answers; two of them wait side by side. */
  conn c1, c2;
  conn_open(&c1);
  conn_open(&c2);
  double t0 = now_ms();
  get(&c1, "/sleep?s=0.3&name=one", NULL);
  get(&c2, "/sleep?s=0.3&name=two", NULL);
  CHECK_EQ_INT(read_resp(&c1, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR_CONTAINS(r.body, "\"name\":\"one\"");
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c2, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR_CONTAINS(r.body, "\"name\":\"two\"");
  resp_free(&r);
  double elapsed = now_ms() - t0;
  CHECK(elapsed >= 290 && elapsed < 550);
  /* keep-alive still works after a late answer */
  get(&c1, "/sleep?s=0", NULL);
  CHECK_EQ_INT(read_resp(&c1, &r, 0), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  conn_close(&c1);
  conn_close(&c2);

  /* Many at once: each answer is its own request's. */
  conn many[16];
  for (int i = 0; i < 16; i++) {
    char path[64];
    conn_open(&many[i]);
    snprintf(path, sizeof path, "/sleep?s=0.%d&name=c%d", 1 + i % 3, i);
    get(&many[i], path, NULL);
  }
  for (int i = 0; i < 16; i++) {
    char want[32];
    CHECK_EQ_INT(read_resp(&many[i], &r, 0), 0);
    CHECK_EQ_INT(r.status, 200);
    snprintf(want, sizeof want, "\"name\":\"c%d\"", i);
    CHECK_STR_CONTAINS(r.body, want);
    resp_free(&r);
    conn_close(&many[i]);
  }

  call("GET", "/spawn", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"sum\":3}"));
  resp_free(&r);

  call("POST", "/kv/k1", "Content-Type: application/json\r\n", "{\"v\":[1,2]}", &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"v\":[1,2]}"));
  resp_free(&r);

  call("GET", "/llm?say=bonjour", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"content\":\"bonjour\"}"));
  resp_free(&r);

  /* The client leaves while the handler sleeps: its sleep is cancelled and
   * the rest of the handler never runs. */
  conn c;
  conn_open(&c);
  get(&c, "/slow?s=0.5", NULL);
  for (int i = 0; i < 100 && json_number("/slow/stats", "started") < 1; i++)
    usleep(10 * 1000);
  CHECK_EQ_INT((int)json_number("/slow/stats", "started"), 1);
  conn_close(&c);
  usleep(800 * 1000);
  CHECK_EQ_INT((int)json_number("/slow/stats", "finished"), 0);
  /* the same route still answers a client that stays */
  call("GET", "/slow?s=0.01", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "done"));
  resp_free(&r);
  CHECK_EQ_INT((int)json_number("/slow/stats", "finished"), 1);

  /* Closing the routes answers 503 to a request still waiting. */
  conn_open(&c);
  get(&c, "/slow?s=5", NULL);
  for (int i = 0; i < 100 && json_number("/slow/stats", "started") < 3; i++)
    usleep(10 * 1000);
  t0 = now_ms();
  call("GET", "/_close", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&c, &r, 0), 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK_STR_CONTAINS(r.body, "\"type\":\"unavailable\"");
  CHECK(now_ms() - t0 < 2000);
  resp_free(&r);
  conn_close(&c);
  call("GET", "/sleep", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);
}

static void client_budgets(void) {
  resp r;
  /* A runaway handler is time-sliced and then killed: another request is
   * answered meanwhile, and the VM lives on. */
  conn spin, other;
  conn_open(&spin);
  conn_open(&other);
  get(&spin, "/spin", "X-Request-Id: spin-1\r\n");
  usleep(20 * 1000);
  get(&other, "/fine", NULL);
  CHECK_EQ_INT(read_resp(&other, &r, 0), 0);
  double t_other = now_ms();
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"n\":1000}"));
  resp_free(&r);
  CHECK_EQ_INT(read_resp(&spin, &r, 0), 0);
  double t_spin = now_ms();
  CHECK_EQ_INT(r.status, 500);
  CHECK_STR_CONTAINS(r.body, "route GET /spin failed (request spin-1)");
  CHECK(!strstr(r.body, "cpu budget"));
  resp_free(&r);
  CHECK(t_other < t_spin);
  conn_close(&spin);
  conn_close(&other);

  /* pcall cannot swallow the kill; a spawned child's runaway ends its request. */
  call("GET", "/spin/pcall", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  CHECK(!strstr(r.body, "swallowed"));
  resp_free(&r);
  double t0 = now_ms();
  call("GET", "/spin/child", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  CHECK(now_ms() - t0 < 20000);
  resp_free(&r);

  /* 10 MB each within a 16 MB budget: the garbage of the one before is
   * collected before anyone is killed for it. */
  for (int i = 0; i < 6; i++) {
    call("GET", "/garbage", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!strcmp(r.body, "{\"n\":10000}"));
    resp_free(&r);
  }

  /* Over the VM's memory budget: the request that allocates is killed, the
   * next one works, and the memory comes back. */
  call("GET", "/hog", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 500);
  resp_free(&r);
  CHECK(stats_value("memory") > 8 << 20); /* the hog's garbage, not collected yet */
  call("GET", "/fine", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  call("GET", "/gc", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK(stats_value("memory") < 2 << 20);
}

/* examples/routes/hello.lua does what its comments say. */
static void client_example(void) {
  resp r;
  call("GET", "/hello/Ada?greeting=Bonjour", NULL, NULL, &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"message\":\"Bonjour, Ada!\"}"));
  resp_free(&r);
  call("POST", "/hello/echo", "Content-Type: application/json\r\n", "{\"a\":1}", &r);
  CHECK_EQ_INT(r.status, 200);
  CHECK(!strcmp(r.body, "{\"a\":1}"));
  resp_free(&r);
  call("POST", "/hello/echo", NULL, "x", &r);
  CHECK_EQ_INT(r.status, 415);
  resp_free(&r);
  for (int i = 1; i <= 2; i++) {
    call("POST", "/hello/Ada/visits", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 201);
    char want[64];
    snprintf(want, sizeof want, "{\"name\":\"Ada\",\"visits\":%d}", i);
    CHECK(!strcmp(r.body, want));
    resp_free(&r);
  }
}

static void test_example(void) {
  char err[1024];
  int rc = open_dir(TEST_SOURCE_DIR "/examples/routes", &g_routes, err, sizeof err);
  if (rc)
    fprintf(stderr, "open the example: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(lh_routes_count(g_routes), 3);
  serve(client_example);
  lh_routes_close(g_routes);
  g_routes = NULL;
  settle();
}

static void serve_routes(const char *dirname, const char *file, const char *source,
                         void (*client)(void)) {
  const char *d = make_dir(dirname);
  write_file(dirname, file, source);
  char err[1024];
  int rc = open_dir(d, &g_routes, err, sizeof err);
  if (rc)
    fprintf(stderr, "open %s: %s\n", dirname, err);
  CHECK_EQ_INT(rc, 0);
  serve(client);
  lh_routes_close(g_routes);
  g_routes = NULL;
  settle();
}

static void test_basics(void) {
  serve_routes("main", "hello.lua", MAIN_ROUTES, client_basics);
}

static void test_route_errors(void) {
  serve_routes("errors", "errors.lua", ERROR_ROUTES, client_errors);
}

static void test_waiting_handlers(void) {
  serve_routes("wait", "wait.lua", WAIT_ROUTES, client_waiting);
}

static void test_budgets(void) {
  uint64_t cpu = a.cfg.lua_cpu_limit;
  size_t mem = a.cfg.lua_memory_limit;
  a.cfg.lua_cpu_limit = 300000000; /* a few hundred ms of a tight loop */
  a.cfg.lua_memory_limit = 16u << 20;
  serve_routes("budget", "budget.lua", BUDGET_ROUTES, client_budgets);
  a.cfg.lua_cpu_limit = cpu;
  a.cfg.lua_memory_limit = mem;
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  char data[300], err[1024];
  snprintf(data, sizeof data, "%s/data", tmpdir);
  app_options opts = {.data_dir = data};
  CHECK_EQ_INT(app_config(&a, &opts, err, sizeof err), 0);
  snprintf(a.cfg.plugin_dir, sizeof a.cfg.plugin_dir, "%s", TEST_PLUGIN_DIR);
  int rc = app_start(&a, 1, err, sizeof err);
  if (rc)
    fprintf(stderr, "app_start: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  RUN(test_load_errors);
  RUN(test_basics);
  RUN(test_route_errors);
  RUN(test_waiting_handlers);
  RUN(test_budgets);
  RUN(test_example);
  app_stop(&a);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_DONE();
}
