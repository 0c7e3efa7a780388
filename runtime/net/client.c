/* net/client.c — the HTTP client's loop glue: libcurl's multi interface on libuv (a uv_poll_t per
 * socket, one uv_timer_t for curl's timeout, a uv_timer_t per request for the idle limit), and the
 * re-entrancy rules that let callbacks cancel, start and close. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "net/internal.h"

/* Per-host connection limit: enough parallelism for a provider, few enough
 * that a burst does not open hundreds of TLS sessions to one upstream. */
#define MAX_HOST_CONNECTIONS 32L
/* Idle connections kept for reuse. */
#define MAX_CACHED_CONNECTIONS 64L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) {
  global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- requests ---- */

static void call_link(net_client *c, agentai_http_call *call) {
  call->prev = NULL;
  call->next = c->head;
  if (c->head)
    c->head->prev = call;
  c->head = call;
}

static void call_unlink(net_client *c, agentai_http_call *call) {
  if (call->prev)
    call->prev->next = call->next;
  else
    c->head = call->next;
  if (call->next)
    call->next->prev = call->prev;
  call->next = call->prev = NULL;
}

static void call_closed(uv_handle_t *h) {
  free(h->data);
}

/* Takes the call out of curl and the client; it stays allocated. Never from
 * inside curl (in_curl == 0). */
static void call_detach(agentai_http_call *call) {
  net_client *c = call->client;
  if (call->in_multi) {
    curl_multi_remove_handle(c->multi, call->easy);
    call->in_multi = 0;
  }
  if (call->state != NET_CALL_CANCELED)
    c->active--;
  call_unlink(c, call);
  uv_timer_stop(&call->idle);
}

static void call_free(agentai_http_call *call) {
  net_call_free_parts(call);
  uv_close((uv_handle_t *)&call->idle, call_closed);
}

/* Drops a cancelled call: no sink callback. */
static void call_release(agentai_http_call *call) {
  call_detach(call);
  call_free(call);
}

/* Ends a call with done(). The caller holds c->depth. */
static void call_finish(agentai_http_call *call, int err) {
  static const char empty[] = "";
  call_detach(call);
  call->state = NET_CALL_FINISHED;
  agentai_http_result r = {.size = sizeof r,
                           .err = err,
                           .status = call->head_sent ? call->status : 0,
                           .message = err ? call->message : NULL};
  if (!err && !call->sink.body) {
    r.body = call->body ? call->body : empty;
    r.body_len = call->body_len;
  }
  call->sink.done(call->sink.ud, &r);
  call_free(call);
}

/* ---- the loop driving curl ---- */

static void client_release(net_client *c);

/* Leaves client code: a close requested meanwhile happens now. */
static void client_leave(net_client *c) {
  if (--c->depth == 0 && c->closing)
    client_release(c);
}

/* Calls cancelled while curl was on the stack go now; calls started then
 * join the multi handle. */
static void settle_lists(net_client *c) {
  for (agentai_http_call *call = c->head, *next; call; call = next) {
    next = call->next;
    if (call->state == NET_CALL_CANCELED)
      call_release(call);
  }
  int again = 1;
  while (again && !c->closing) { /* done() may change the list: rescan after it */
    again = 0;
    for (agentai_http_call *call = c->head; call; call = call->next) {
      if (call->state != NET_CALL_PENDING)
        continue;
      call->state = NET_CALL_RUNNING;
      if (curl_multi_add_handle(c->multi, call->easy) == CURLM_OK) {
        call->in_multi = 1;
        continue;
      }
      net_call_message(call, "cannot start the transfer (out of memory)");
      call_finish(call, AGENTAI_ENOMEM);
      again = 1;
      break;
    }
  }
}

/* Work that had to wait until curl returned, then the finished transfers. */
static void client_settle(net_client *c) {
  settle_lists(c);
  CURLMsg *m;
  int left = 0;
  while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURLcode code = m->data.result; /* m is invalid after the next curl call */
    agentai_http_call *call = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&call);
    if (!call)
      continue;
    if (call->state == NET_CALL_CANCELED) {
      call_release(call);
      continue;
    }
    /* The outcome may still deliver the head (a response without a body):
     * its callback's cancels and starts wait as if curl were on the stack. */
    c->in_curl++;
    int err = net_call_outcome(call, code);
    c->in_curl--;
    if (call->state != NET_CALL_CANCELED)
      call_finish(call, err);
    settle_lists(c);
  }
}

static void client_drive(net_client *c, curl_socket_t fd, int flags) {
  if (c->closing)
    return;
  int running = 0;
  c->depth++;
  c->in_curl++;
  curl_multi_socket_action(c->multi, fd, flags, &running);
  c->in_curl--;
  client_settle(c);
  client_leave(c);
}

static void on_timeout(uv_timer_t *t) {
  client_drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  net_client *c = userp;
  if (c->released)
    return 0;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else /* 0 means "soon": from the loop, never from inside this callback */
    uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  net_sock *s = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  client_drive(s->client, s->fd, flags);
}

static void sock_closed(uv_handle_t *h) {
  free(h->data);
}

static void sock_release(net_sock *s) {
  net_client *c = s->client;
  if (s->prev)
    s->prev->next = s->next;
  else
    c->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  net_client *c = userp;
  net_sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      if (!c->released)
        curl_multi_assign(c->multi, fd, NULL);
      sock_release(s);
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return -1;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    s->fd = fd;
    s->client = c;
    s->next = c->socks;
    if (c->socks)
      c->socks->prev = s;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
  }
  int events = 0;
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

/* The idle limit: checked lazily, so a busy stream costs one timestamp per
 * piece rather than a timer restart. */
static void on_idle(uv_timer_t *t) {
  agentai_http_call *call = t->data;
  net_client *c = call->client;
  uint64_t since = uv_now(c->loop) - call->last_rx;
  if (since < call->idle_ms) {
    uv_timer_start(t, on_idle, call->idle_ms - since, 0);
    return;
  }
  char what[96];
  snprintf(what, sizeof what, "no data received for %llu ms (idle timeout)",
           (unsigned long long)call->idle_ms);
  net_call_message(call, what);
  c->depth++;
  call_finish(call, AGENTAI_ETIMEDOUT);
  client_leave(c);
}

/* ---- public API ---- */

int net_client_new(uv_loop_t *loop, net_client **out) {
  pthread_once(&global_once, global_init);
  if (global_rc != CURLE_OK)
    return AGENTAI_ENOMEM;
  net_client *c = calloc(1, sizeof *c);
  if (!c)
    return AGENTAI_ENOMEM;
  c->loop = loop;
  if (!(c->multi = curl_multi_init())) {
    free(c);
    return AGENTAI_ENOMEM;
  }
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_HOST_CONNECTIONS);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, MAX_CACHED_CONNECTIONS);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  *out = c;
  return 0;
}

static void client_closed(uv_handle_t *h) {
  free(h->data);
}

/* Frees the client once no code of it is on the stack. */
static void client_release(net_client *c) {
  while (c->head)
    call_release(c->head);
  c->released = 1;
  curl_multi_cleanup(c->multi); /* closes the cached connections */
  c->multi = NULL;
  while (c->socks)
    sock_release(c->socks);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, client_closed);
}

void net_client_close(net_client *c) {
  if (!c || c->closing)
    return;
  c->closing = 1;
  for (agentai_http_call *call = c->head, *next; call; call = next) {
    next = call->next;
    if (call->state == NET_CALL_CANCELED)
      continue;
    if (c->in_curl) { /* curl is on the stack: remove after it returns */
      call->state = NET_CALL_CANCELED;
      c->active--;
      uv_timer_stop(&call->idle);
    } else {
      call_release(call);
    }
  }
  if (c->depth == 0)
    client_release(c);
}

int net_request_start(net_client *c, const agentai_http_request *req, const agentai_http_sink *sink,
                      agentai_http_call **out) {
  if (!c || !req || !sink || !out)
    return AGENTAI_EINVAL;
  if (c->closing)
    return AGENTAI_EBUSY;
  agentai_http_call *call = NULL;
  int rc = net_call_build(c, req, sink, &call);
  if (rc < 0)
    return rc;
  uv_timer_init(c->loop, &call->idle);
  call->idle.data = call;
  if (c->in_curl) { /* curl refuses new handles from its callbacks: add after it returns */
    call->state = NET_CALL_PENDING;
  } else if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
    call_free(call);
    return AGENTAI_ENOMEM;
  } else {
    call->state = NET_CALL_RUNNING;
    call->in_multi = 1;
  }
  call_link(c, call);
  c->active++;
  call->start_ms = call->last_rx = uv_now(c->loop);
  uv_timer_start(&call->idle, on_idle, call->idle_ms, 0);
  *out = call;
  return 0;
}

void net_request_cancel(net_client *c, agentai_http_call *call) {
  (void)c;
  if (!call || call->state == NET_CALL_CANCELED || call->state == NET_CALL_FINISHED)
    return;
  net_client *owner = call->client;
  if (owner->in_curl) {
    call->state = NET_CALL_CANCELED;
    owner->active--;
    uv_timer_stop(&call->idle);
    return;
  }
  call_release(call);
}

size_t net_client_active(const net_client *c) {
  return c ? c->active : 0;
}
