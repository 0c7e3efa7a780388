/* bench/bench_task_submit.c — durable task submissions per second (POST /v1/agents/{id}/tasks,
 * 64 keep-alive clients) against raw LMDB group commits of the same records; then kill -9 and a
 * check that every accepted task survived. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <uv.h>

#include "bench_util.h"
#include "http_load.h"
#include "serve_proc.h"

#define ID_LEN 32
#define PEER_BATCH 64 /* submissions per fsync in the peer: one per client */

typedef struct opts {
  const char *dir, *agentai;
  double seconds;
  unsigned clients;
} opts;

/* ---- agentai: the load ---- */

typedef struct load {
  char req[1024];
  int req_len;
  double end;
  char (*ids)[ID_LEN];
  size_t nids, cap;
  long refused;
  char first_refusal[256];
  size_t record_len; /* length of a 202 body: the task record as stored */
} load;

static int load_gen(void *ud, char *buf, size_t cap) {
  load *l = ud;
  if (bench_now_s() >= l->end || (size_t)l->req_len >= cap)
    return 0;
  memcpy(buf, l->req, (size_t)l->req_len);
  return l->req_len;
}

static void load_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                      uint64_t latency_ns) {
  load *l = ud;
  (void)c, (void)latency_ns;
  if (status == 202 && body) {
    if (l->nids == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 65536;
      void *p = realloc(l->ids, cap * sizeof *l->ids);
      if (!p)
        return;
      l->ids = p;
      l->cap = cap;
    }
    if (sp_json_str(body, "id", l->ids[l->nids], ID_LEN) == 0)
      l->nids++;
    l->record_len = len;
    return;
  }
  if (!l->refused++)
    snprintf(l->first_refusal, sizeof l->first_refusal, "%d %.200s", status, body ? body : "");
}

/* ---- agentai: the check after kill -9 ---- */

typedef struct check {
  load *l;
  size_t next;
  size_t found, missing, other;
} check;

static int check_gen(void *ud, char *buf, size_t cap) {
  check *k = ud;
  if (k->next >= k->l->nids)
    return 0;
  char path[64];
  snprintf(path, sizeof path, "/v1/tasks/%s", k->l->ids[k->next++]);
  int n = hl_format(buf, cap, "GET", path, NULL);
  return n < 0 ? 0 : n;
}

static void check_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                       uint64_t latency_ns) {
  check *k = ud;
  (void)c, (void)len, (void)latency_ns;
  char id[ID_LEN];
  if (status == 200 && body && sp_json_str(body, "id", id, sizeof id) == 0) {
    k->found++;
  } else if (status == 404) {
    k->missing++;
  } else {
    k->other++;
  }
}

/* ---- the peer: 64 submissions' records per LMDB transaction, one fsync each ---- */

typedef struct peer_sizes {
  size_t record_len, event_len;
} peer_sizes;

static int peer_run(const char *dir, double seconds, const peer_sizes *sz, double *per_s) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc = mdb_env_create(&env);
  if (rc == 0)
    rc = mdb_env_set_mapsize(env, (size_t)8 << 30);
  if (rc == 0)
    rc = mdb_env_open(env, dir, 0, 0600); /* default flags: every commit is fsync'd */
  if (rc == 0 && (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
    rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    rc = rc ? rc : mdb_txn_commit(txn);
  }
  if (rc != 0) {
    fprintf(stderr, "peer: LMDB %s: %s\n", dir, mdb_strerror(rc));
    return -1;
  }
  char *record = malloc(sz->record_len + 1), *event = malloc(sz->event_len + 1);
  if (!record || !event) {
    free(record);
    free(event);
    mdb_env_close(env);
    return -1;
  }
  memset(record, 'r', sz->record_len);
  memset(event, 'e', sz->event_len);
  uint64_t n = 0;
  double t0 = bench_now_s(), t1 = t0;
  while (rc == 0 && (t1 = bench_now_s()) - t0 < seconds) {
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    /* Per submission the same five puts as the runtime's: the record, two index
     * entries, the task's first event and its global-sequence entry. */
    for (int i = 0; rc == 0 && i < PEER_BATCH; i++, n++) {
      char id[32], k[5][128], gval[48];
      snprintf(id, sizeof id, "tsk_%026" PRIu64, n);
      size_t kl[5];
      kl[0] = (size_t)snprintf(k[0], sizeof k[0], "tsk/%s", id);
      kl[1] = (size_t)snprintf(k[1], sizeof k[1], "ix/ta/agt_01m887a9vbahj05xanq1b7cg4p/%s", id);
      kl[2] = (size_t)snprintf(k[2], sizeof k[2], "ix/ts/queued/%s", id);
      kl[3] = (size_t)snprintf(k[3], sizeof k[3], "ev/%s/%016x", id, 1);
      kl[4] = (size_t)snprintf(k[4], sizeof k[4], "evg/%016" PRIx64, n);
      int gl = snprintf(gval, sizeof gval, "%s/1", id);
      MDB_val v[5] = {
          {sz->record_len, record}, {0, ""}, {0, ""}, {sz->event_len, event}, {(size_t)gl, gval}};
      for (int j = 0; rc == 0 && j < 5; j++) {
        MDB_val key = {kl[j], k[j]};
        rc = mdb_put(txn, dbi, &key, &v[j], 0);
      }
    }
    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
  }
  free(record);
  free(event);
  mdb_env_close(env);
  if (rc != 0) {
    fprintf(stderr, "peer: LMDB write: %s\n", mdb_strerror(rc));
    return -1;
  }
  *per_s = (double)n / (t1 - t0);
  return 0;
}

/* ---- main ---- */

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--dir BASE] [--agentai PATH] [--seconds S] [--clients N]\n"
          "Durable task submissions/s through `agentai serve` (N keep-alive clients, S s)\n"
          "against raw LMDB group commits of the same records; then kill -9, restart, and\n"
          "a check that every accepted task is there.\n",
          argv0);
  return 2;
}

int main(int argc, char **argv) {
  opts o = {.seconds = 10, .clients = 64};
  o.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--dir"))
      o.dir = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--agentai"))
      o.agentai = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
      o.seconds = atof(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--clients"))
      o.clients = (unsigned)atoi(argv[++i]);
    else
      return usage(argv[0]);
  }
  if (o.seconds <= 0 || o.clients == 0)
    return usage(argv[0]);
  char agentai[1024], work[512], path[1024], wf[600], data[600], log[600];
  if (sp_find_agentai(agentai, sizeof agentai, o.agentai) < 0 ||
      bench_make_dir(work, sizeof work, o.dir, "bench-task-submit") < 0)
    return 1;
  snprintf(wf, sizeof wf, "%s/workflows", work);
  snprintf(data, sizeof data, "%s/data", work);
  snprintf(log, sizeof log, "%s/serve.log", work);
  snprintf(path, sizeof path, "%s/echo.lua", wf);
  mkdir(wf, 0700);
  FILE *f = fopen(path, "w");
  if (!f) {
    bench_rm_tree(work);
    return 1;
  }
  fputs("-- returns at once: the benchmark measures submission, not the workflow\n"
        "return function(input) return input end\n",
        f);
  fclose(f);

  /* The peer runs half before and half after agentai, so that a change in the disk's
   * speed during the run weighs on both; its record sizes are the runtime's. */
  char peer_dir[600];
  snprintf(peer_dir, sizeof peer_dir, "%s/peer", work);
  mkdir(peer_dir, 0700);
  peer_sizes sz = {.record_len = 485, .event_len = 214};
  double peer_a = 0, peer_b = 0;
  printf("== peer (first half): raw LMDB, %d submissions per fsync'd commit, %.1f s\n", PEER_BATCH,
         o.seconds / 2);
  fflush(stdout);
  if (peer_run(peer_dir, o.seconds / 2, &sz, &peer_a) < 0) {
    bench_rm_tree(work);
    return 1;
  }
  printf("peer: %.0f submissions/s\n", peer_a);

  char env_wf[700], *env[] = {env_wf, "AGENTAI_MAX_RUNNING=10000", "AGENTAI_LOG_LEVEL=info", NULL};
  snprintf(env_wf, sizeof env_wf, "AGENTAI_WORKFLOW_PATH=%s", wf);
  sp_server srv = {0};
  sp_watchdog(&srv, (unsigned)(2 * o.seconds) + 300);
  int failed = 0;
  load l = {0};
  check k = {0};
  if (sp_start(&srv, agentai, data, log, env) < 0) {
    bench_rm_tree(work);
    return 1;
  }
  char body[4096], agent[64];
  int st = sp_http(srv.port, "POST", "/v1/agents", "{\"workflow\":\"echo\"}", body, sizeof body);
  if (st != 201 || sp_json_str(body, "id", agent, sizeof agent) < 0) {
    fprintf(stderr, "creating the agent: %d %s\n", st, body);
    sp_stop(&srv, SIGKILL);
    bench_rm_tree(work);
    return 1;
  }
  snprintf(path, sizeof path, "/v1/agents/%s/tasks", agent);
  l.req_len = hl_format(l.req, sizeof l.req, "POST", path, "{\"input\":{\"order\":12345}}");
  printf("== agentai serve: POST %s for %.0f s, %u keep-alive clients, AGENTAI_MAX_RUNNING=10000, "
         "echo workflow\n",
         path, o.seconds, o.clients);
  fflush(stdout);
  double t0 = bench_now_s();
  l.end = t0 + o.seconds;
  unsigned long errors = 0;
  if (hl_run(srv.port, o.clients, load_gen, load_done, &l, &errors) < 0) {
    sp_stop(&srv, SIGKILL);
    bench_rm_tree(work);
    return 1;
  }
  double elapsed = bench_now_s() - t0;
  double accepted_s = (double)l.nids / elapsed;
  printf("accepted %zu tasks in %.2f s: %.0f/s (refused %ld, connection errors %lu)\n", l.nids,
         elapsed, accepted_s, l.refused, errors);
  if (l.refused)
    printf("first refusal: %s\n", l.first_refusal);
  /* Context: how many batches (submissions and task updates) shared each fsync. */
  double per_commit = 0;
  char ready[8192];
  const char *bpc;
  if (sp_http(srv.port, "GET", "/readyz", NULL, ready, sizeof ready) == 200 &&
      (bpc = strstr(ready, "\"batches_per_commit\":")))
    per_commit = atof(bpc + strlen("\"batches_per_commit\":"));
  printf("storage: %.1f write batches per fsync'd commit on average (GET /readyz)\n", per_commit);

  /* kill -9 right after the last 202: tasks are queued and running. */
  sp_stop(&srv, SIGKILL);
  printf("== kill -9, restart on the same data, GET every accepted id\n");
  fflush(stdout);
  if (sp_start(&srv, agentai, data, log, env) < 0) {
    free(l.ids);
    bench_rm_tree(work);
    return 1;
  }
  k.l = &l;
  if (hl_run(srv.port, o.clients, check_gen, check_done, &k, &errors) < 0)
    failed = 1;
  sp_stop(&srv, SIGTERM);
  int lost = k.found != l.nids;
  printf("after restart: %zu of %zu accepted tasks found, %zu missing (404), %zu other answers, "
         "%lu connection errors\n",
         k.found, l.nids, k.missing, k.other, errors);
  if (lost)
    printf("FAILED: %zu accepted task(s) lost or unreadable after kill -9\n", l.nids - k.found);

  /* The second half: the same sizes as the runtime wrote. */
  sz.record_len = l.record_len ? l.record_len : sz.record_len;
  char event[512];
  sz.event_len = (size_t)snprintf(
      event, sizeof event,
      "{\"object\":\"event\",\"seq\":1,\"gseq\":%zu,\"type\":\"task.created\",\"task_id\":"
      "\"%s\",\"agent_id\":\"%s\",\"data\":{\"status\":\"queued\"},\"created_at\":"
      "\"2026-01-01T00:00:00.000Z\"}",
      l.nids, l.nids ? l.ids[0] : "tsk_01m887a9wx71433p1ty440953a", agent);
  printf("== peer (second half): raw LMDB, %d submissions (5 puts each: %zu B record, %zu B event, "
         "3 small) per fsync'd commit, %.1f s\n",
         PEER_BATCH, sz.record_len, sz.event_len, o.seconds / 2);
  fflush(stdout);
  if (peer_run(peer_dir, o.seconds / 2, &sz, &peer_b) < 0)
    failed = 1;
  printf("peer: %.0f submissions/s\n", peer_b);
  double peer_s = (peer_a + peer_b) / 2;
  bench_rm_tree(work);
  if (failed) {
    free(l.ids);
    return 1;
  }
  double ratio = accepted_s / peer_s;
  printf("result: durable task submissions: agentai %.0f/s | raw LMDB group commit (%d per fsync) "
         "%.0f/s | ratio %.2fx (target: agentai >= 5000/s) | after kill -9: %zu/%zu accepted "
         "tasks found%s\n",
         accepted_s, PEER_BATCH, peer_s, ratio, k.found, l.nids, lost ? " (FAILED)" : "");
  printf("{\"bench\":\"task_submit\",\"clients\":%u,\"seconds\":%.1f,\"agentai_per_s\":%.0f,"
         "\"peer\":\"raw LMDB, %d submissions per fsync\",\"peer_per_s\":%.0f,\"ratio\":%.3f,"
         "\"target_per_s\":5000,\"met\":%s,\"accepted\":%zu,\"found_after_kill\":%zu,"
         "\"durable\":%s}\n",
         o.clients, o.seconds, accepted_s, PEER_BATCH, peer_s, ratio,
         accepted_s >= 5000 ? "true" : "false", l.nids, k.found, lost ? "false" : "true");
  free(l.ids);
  return lost ? 1 : 0;
}
