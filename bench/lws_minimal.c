/* bench/lws_minimal.c — the peer of the HTTP benchmarks: the least a libwebsockets + libuv server
 * does to answer a small static JSON body, written inline from the LWS_CALLBACK_HTTP callback. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <uv.h>

static const char BODY[] = "{\"n\":42,\"ok\":true}";

/* Headers and body go out in one lws_write, from the request callback: no writable
 * callback round trip, the fastest pattern lws offers for a known small answer. */
static int answer(struct lws *wsi) {
  unsigned char buf[LWS_PRE + 1024];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
  if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", sizeof BODY - 1, &p,
                                  end) ||
      lws_finalize_http_header(wsi, &p, end) || (size_t)(end - p) < sizeof BODY)
    return -1;
  memcpy(p, BODY, sizeof BODY - 1);
  p += sizeof BODY - 1;
  int len = (int)(p - start);
  if (lws_write(wsi, start, (size_t)len, LWS_WRITE_HTTP_FINAL) < len)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  if (reason == LWS_CALLBACK_HTTP)
    return answer(wsi);
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols PROTOCOLS[] = {
    {"http", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_stop(h->loop);
}

int main(int argc, char **argv) {
  int port = 0;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: %s [--port N]\n"
              "Answers %s to every GET on 127.0.0.1:N (0: a free port, printed on stdout).\n",
              argv[0], BODY);
      return 2;
    }
  }
  lws_set_log_level(LLL_ERR, NULL);
  uv_loop_t loop;
  uv_loop_init(&loop);
  void *foreign[1] = {&loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_LIBUV;
  info.foreign_loops = foreign;
  info.port = port;
  info.iface = "127.0.0.1";
  info.protocols = PROTOCOLS;
  info.server_string = "lws_minimal";
  struct lws_context *ctx = lws_create_context(&info);
  struct lws_vhost *vh = ctx ? lws_get_vhost_by_name(ctx, "default") : NULL;
  if (!ctx || !vh) {
    fprintf(stderr, "lws_minimal: cannot start libwebsockets on libuv (libwebsockets-evlib-uv "
                    "installed?)\n");
    return 1;
  }
  uv_signal_t sigterm, sigint;
  uv_signal_init(&loop, &sigterm);
  uv_signal_init(&loop, &sigint);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  printf("listening on port %d\n", lws_get_vhost_listen_port(vh));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* A foreign loop: lws closes its handles, the loop runs their close callbacks. */
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  lws_context_destroy(ctx);
  uv_run(&loop, UV_RUN_DEFAULT);
  lws_context_destroy(ctx);
  uv_loop_close(&loop);
  return 0;
}
