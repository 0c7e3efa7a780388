/* api/conversations.c — GET and DELETE /v1/agents/{id}/conversations/{cid}: the conversation
 * history that the Lua layer's agentai.history keeps in the key-value store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "store/store.h"

/* agentai.history's layout: kv/conv/<agent>/<conversation>/<turn>. */
#define CONV_NS STORE_NS_KV "conv/"
#define CONV_MAX_TURNS 100000

typedef struct conv_req {
  api *a;
  http_request *req;
  int deleting;
  char agent[64], cid[160];
  cJSON *turns;    /* GET: the turns read */
  cJSON *messages; /* GET: every message in order */
  char **keys;     /* DELETE: keys to remove */
  size_t nkeys, cap;
  int failed;
} conv_req;

static int valid_cid(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 128)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '_' || *p == ':' || *p == '-'))
      return 0;
  return 1;
}

static void conv_free(conv_req *c) {
  cJSON_Delete(c->turns);
  cJSON_Delete(c->messages);
  for (size_t i = 0; i < c->nkeys; i++)
    free(c->keys[i]);
  free(c->keys);
  free(c);
}

static int scanned(void *ud, const void *key, size_t key_len, const void *value, size_t len) {
  conv_req *c = ud;
  size_t plen = strlen(CONV_NS) + strlen(c->agent) + strlen(c->cid) + 2;
  if (c->deleting) {
    if (c->nkeys == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 16;
      char **grown = realloc(c->keys, cap * sizeof *grown);
      if (!grown)
        return c->failed = 1;
      c->keys = grown;
      c->cap = cap;
    }
    if (!(c->keys[c->nkeys] = strndup(key, key_len)))
      return c->failed = 1;
    c->nkeys++;
    return 0;
  }
  cJSON *v = cJSON_ParseWithLength(value, len);
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(v, "messages");
  cJSON *turn = cJSON_CreateObject();
  char id[160];
  snprintf(id, sizeof id, "%.*s", (int)(key_len > plen ? key_len - plen : 0),
           (const char *)key + plen);
  cJSON_AddStringToObject(turn, "id", id);
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(v, "at");
  cJSON_AddNumberToObject(turn, "at", cJSON_IsNumber(at) ? at->valuedouble : 0);
  cJSON_AddNumberToObject(turn, "messages", cJSON_GetArraySize(msgs));
  cJSON_AddItemToArray(c->turns, turn);
  for (const cJSON *m = msgs ? msgs->child : NULL; m; m = m->next)
    cJSON_AddItemToArray(c->messages, cJSON_Duplicate(m, 1));
  cJSON_Delete(v);
  return 0;
}

static void deleted(void *ud, int err) {
  conv_req *c = ud;
  if (err < 0)
    api_error_code(c->req, err, "the conversation could not be deleted", c->cid);
  else
    http_respond(c->req, 204, NULL, NULL, 0);
  conv_free(c);
}

static void scan_done(void *ud, int err) {
  conv_req *c = ud;
  if (err < 0 || c->failed) {
    api_error_code(c->req, err < 0 ? err : AGENTAI_ENOMEM, "the conversation could not be read",
                   c->cid);
    conv_free(c);
    return;
  }
  size_t n = c->deleting ? c->nkeys : (size_t)cJSON_GetArraySize(c->turns);
  if (n == 0) {
    api_error(c->req, 404, "not_found", NULL, "agent %s has no conversation '%s'", c->agent,
              c->cid);
    conv_free(c);
    return;
  }
  if (!c->deleting) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "conversation");
    cJSON_AddStringToObject(root, "id", c->cid);
    cJSON_AddStringToObject(root, "agent_id", c->agent);
    cJSON_AddItemToObject(root, "messages", c->messages);
    cJSON_AddItemToObject(root, "turns", c->turns);
    c->messages = c->turns = NULL;
    api_respond(c->req, 200, root);
    conv_free(c);
    return;
  }
  /* One batch: the conversation goes whole or stays whole. */
  agentai_kv_op *ops = calloc(c->nkeys, sizeof *ops);
  if (!ops) {
    api_error_code(c->req, AGENTAI_ENOMEM, "the conversation could not be deleted", c->cid);
    conv_free(c);
    return;
  }
  for (size_t i = 0; i < c->nkeys; i++)
    ops[i] = (agentai_kv_op){AGENTAI_KV_DELETE, c->keys[i], strlen(c->keys[i]), NULL, 0};
  store *st = c->a->d.store;
  int rc = st->def->write(st->db, ops, c->nkeys, deleted, c);
  free(ops);
  if (rc < 0)
    deleted(c, rc);
}

void api_conversation(api *a, http_request *req, const char *agent_id, const char *cid) {
  const char *m = http_request_method(req);
  int get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
  if (!get && strcmp(m, "DELETE") != 0) {
    api_method_not_allowed(req, "GET, HEAD, DELETE");
    return;
  }
  if (!engine_agent(a->d.engine, agent_id)) {
    api_error(req, 404, "not_found", NULL, "no agent with id '%s'", agent_id);
    return;
  }
  if (!valid_cid(cid)) {
    api_error(req, 400, "invalid_request", "conversation",
              "a conversation id is 1 to 128 characters of letters, digits, '.', '_', ':' or '-'");
    return;
  }
  conv_req *c = calloc(1, sizeof *c);
  if (!c) {
    api_error_code(req, AGENTAI_ENOMEM, "out of memory", NULL);
    return;
  }
  c->a = a;
  c->req = req;
  c->deleting = !get;
  snprintf(c->agent, sizeof c->agent, "%s", agent_id);
  snprintf(c->cid, sizeof c->cid, "%s", cid);
  c->turns = cJSON_CreateArray();
  c->messages = cJSON_CreateArray();
  char prefix[320], end[320];
  int n = snprintf(prefix, sizeof prefix, CONV_NS "%s/%s/", agent_id, cid);
  size_t elen = store_prefix_end(prefix, (size_t)n, end);
  agentai_scan_range r = {.start = prefix,
                          .start_len = (size_t)n,
                          .end = elen ? end : NULL,
                          .end_len = elen,
                          .limit = CONV_MAX_TURNS};
  store *st = a->d.store;
  if (st->def->scan(st->db, NULL, &r, scanned, scan_done, c) < 0) {
    api_error_code(req, AGENTAI_EIO, "the conversation could not be read", cid);
    conv_free(c);
  }
}
