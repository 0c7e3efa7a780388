/* net/internal.h — structures shared by the HTTP client's loop glue (client.c) and its per-request
 * code (request.c). */
#pragma once

#include <curl/curl.h>
#include <stdint.h>

#include "net/net.h"

enum net_call_state {
  NET_CALL_PENDING,  /* accepted, not yet in the multi handle (started from a curl callback) */
  NET_CALL_RUNNING,  /* in the multi handle */
  NET_CALL_CANCELED, /* cancelled from inside curl: removed once curl returns */
  NET_CALL_FINISHED  /* done() is running: a cancel now is a no-op */
};

struct net_client {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;               /* curl's one timeout */
  struct agentai_http_call *head; /* every request not yet finished or released */
  struct net_sock *socks;         /* every socket curl asked us to watch */
  size_t active;
  int in_curl;  /* >0 inside curl_multi_socket_action: curl API calls must wait */
  int depth;    /* >0 while this client's code is on the stack (callbacks may close it) */
  int closing;  /* net_client_close was called */
  int released; /* the multi handle is gone, the timer is closing */
};

/** One watched socket: curl's CURLMOPT_SOCKETFUNCTION state for it. */
typedef struct net_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  net_client *client;
  struct net_sock *next, *prev;
} net_sock;

struct agentai_http_call {
  net_client *client;
  CURL *easy;
  struct curl_slist *headers;
  agentai_http_sink sink;
  int state;
  int in_multi;
  struct agentai_http_call *next, *prev;
  uv_timer_t idle; /* the gap-between-bytes limit; the call is freed in its close callback */
  uint64_t idle_ms, last_rx, start_ms, max_bytes, received, timeout_ms, connect_timeout_ms;
  int abort_err; /* why a callback stopped the transfer: E2BIG, ECANCELED, ENOMEM */
  /* the final response head, parsed from the header lines curl hands over */
  int status;
  int head_sent;
  int in_block; /* a header block is being read */
  char *hbuf;   /* "name\0value\0"... of the current block */
  size_t hbuf_len, hbuf_cap, nheaders;
  /* the body, when the sink has no body() */
  char *body;
  size_t body_len, body_cap;
  /* values that must never appear in a message (query, credentials, header values) */
  char **secrets;
  size_t nsecrets;
  char label[320]; /* "METHOD scheme://host[:port]/path" for messages */
  char message[640];
  char errbuf[CURL_ERROR_SIZE];
};

/* request.c */

/** Validates req and builds the call with its configured easy handle. */
int net_call_build(net_client *c, const agentai_http_request *req, const agentai_http_sink *sink,
                   agentai_http_call **out);
/** Frees what the call owns except its idle timer and the call itself. */
void net_call_free_parts(agentai_http_call *call);
/** Sets err and call->message for a transfer curl ended with code. */
int net_call_outcome(agentai_http_call *call, CURLcode code);
/** Writes "<label>: <what>" into call->message, with secrets masked, on one line. */
void net_call_message(agentai_http_call *call, const char *what);
/** Delivers the response head to the sink (once). Returns 0 to go on. */
int net_call_deliver_head(agentai_http_call *call);
