/* bench/bench_task_listing.c — latency of filtered task listings (GET /v1/tasks?status=eq.succeeded
 * &limit=20, with an agent filter, with a cursor) over 100,000 tasks, against the same 20-record
 * read done in-process with a raw LMDB cursor over the status index. */
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
#define MAX_AGENTS 8
#define PAGE 20
#define STATUS_PREFIX "ix/ts/succeeded/"

typedef struct opts {
  const char *dir, *agentai;
  long tasks, requests;
  unsigned clients, agents;
} opts;

enum { CASE_PLAIN, CASE_AGENT, CASE_CURSOR, NCASES };
static const char *const CASE_NAMES[NCASES] = {"status", "status+agent", "status+cursor"};

typedef struct bench {
  opts o;
  char agents[MAX_AGENTS][64];
  char (*ids)[ID_LEN]; /* accepted ids, in acceptance order */
  long nids, sent, refused;
  uint64_t rng;
  /* measuring */
  int kase;
  long issued, bad;
  uint64_t *lat;
  size_t nlat;
  char first_bad[256];
} bench;

static uint64_t next_rand(bench *b) { /* xorshift64: reproducible cursors */
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return b->rng;
}

/* ---- fill ---- */

static int fill_gen(void *ud, char *buf, size_t cap) {
  bench *b = ud;
  if (b->sent >= b->o.tasks)
    return 0;
  char path[128];
  snprintf(path, sizeof path, "/v1/agents/%s/tasks", b->agents[b->sent % b->o.agents]);
  b->sent++;
  int n = hl_format(buf, cap, "POST", path, "{\"input\":{\"order\":12345}}");
  return n < 0 ? 0 : n;
}

static void fill_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                      uint64_t latency_ns) {
  bench *b = ud;
  (void)c, (void)len, (void)latency_ns;
  if (status == 202 && body && b->nids < b->o.tasks &&
      sp_json_str(body, "id", b->ids[b->nids], ID_LEN) == 0)
    b->nids++;
  else
    b->refused++;
}

/* ---- measure ---- */

static int case_path(bench *b, int kase, char *path, size_t len) {
  if (kase == CASE_PLAIN)
    return snprintf(path, len, "/v1/tasks?status=eq.succeeded&limit=%d", PAGE);
  if (kase == CASE_AGENT)
    return snprintf(path, len, "/v1/tasks?status=eq.succeeded&agent_id=eq.%s&limit=%d",
                    b->agents[0], PAGE);
  /* a cursor anywhere but among the last pages, so that a full page follows it */
  long span = b->nids > 4 * PAGE ? b->nids - 4 * PAGE : 1;
  long at = 4 * PAGE + (long)(next_rand(b) % (uint64_t)span);
  const char *id = b->ids[at < b->nids ? at : b->nids - 1];
  return snprintf(path, len, "/v1/tasks?status=eq.succeeded&limit=%d&starting_after=%s", PAGE, id);
}

static int measure_gen(void *ud, char *buf, size_t cap) {
  bench *b = ud;
  if (b->issued >= b->o.requests)
    return 0;
  b->issued++;
  char path[256];
  case_path(b, b->kase, path, sizeof path);
  int n = hl_format(buf, cap, "GET", path, NULL);
  return n < 0 ? 0 : n;
}

static size_t count_str(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

static void measure_done(void *ud, hl_conn *c, int status, const char *body, size_t len,
                         uint64_t latency_ns) {
  bench *b = ud;
  (void)c, (void)len;
  /* every answer must be a full page (each record names its status twice: the task's and
   * its one attempt's) */
  if (status != 200 || !body || count_str(body, "\"object\":\"task\"") != PAGE ||
      count_str(body, "\"status\":\"succeeded\"") != 2 * PAGE) {
    if (!b->bad++)
      snprintf(b->first_bad, sizeof b->first_bad, "%d %.200s", status, body ? body : "");
    return;
  }
  b->lat[b->nlat++] = latency_ns;
}

/* ---- the peer: the same page read with a raw LMDB cursor, in-process ---- */

typedef struct peer {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *txn;
  MDB_cursor *cur;
} peer;

/* One page: up to PAGE task records, newest first, below `below` (a full index key) or from
 * the end of the index; with agent set, only records of that agent count. Returns the count. */
static int peer_page(peer *p, const char *below, const char *agent, uint64_t *sum) {
  mdb_txn_renew(p->txn);
  mdb_cursor_renew(p->txn, p->cur);
  char end[128];
  snprintf(end, sizeof end, "%s", below ? below : "ix/ts/succeeded0"); /* '0' follows '/' */
  MDB_val k = {strlen(end), end}, v;
  int rc = mdb_cursor_get(p->cur, &k, &v, MDB_SET_RANGE);
  rc = rc == MDB_NOTFOUND ? mdb_cursor_get(p->cur, &k, &v, MDB_LAST)
                          : mdb_cursor_get(p->cur, &k, &v, MDB_PREV);
  char needle[96];
  size_t nlen = agent ? (size_t)snprintf(needle, sizeof needle, "\"agent_id\":\"%s\"", agent) : 0;
  int got = 0;
  size_t plen = strlen(STATUS_PREFIX);
  while (rc == 0 && got < PAGE && k.mv_size > plen && !memcmp(k.mv_data, STATUS_PREFIX, plen)) {
    char tkey[64];
    int tl = snprintf(tkey, sizeof tkey, "tsk/%.*s", (int)(k.mv_size - plen),
                      (const char *)k.mv_data + plen);
    MDB_val tk = {(size_t)tl, tkey}, tv;
    if (mdb_get(p->txn, p->dbi, &tk, &tv) == 0) {
      const unsigned char *d = tv.mv_data;
      *sum += d[0] + d[tv.mv_size - 1]; /* touch the record: nothing optimised away */
      if (!agent || memmem(tv.mv_data, tv.mv_size, needle, nlen))
        got++;
    }
    rc = mdb_cursor_get(p->cur, &k, &v, MDB_PREV);
  }
  mdb_txn_reset(p->txn);
  return got;
}

static int peer_measure(bench *b, const char *lmdb_dir, double p50[NCASES], double p99[NCASES]) {
  peer p = {0};
  int rc = mdb_env_create(&p.env);
  if (rc == 0)
    rc = mdb_env_open(p.env, lmdb_dir, MDB_RDONLY | MDB_NOTLS, 0600);
  if (rc == 0)
    rc = mdb_txn_begin(p.env, NULL, MDB_RDONLY, &p.txn);
  if (rc == 0)
    rc = mdb_dbi_open(p.txn, NULL, 0, &p.dbi);
  if (rc == 0)
    rc = mdb_cursor_open(p.txn, p.dbi, &p.cur);
  if (rc != 0) {
    fprintf(stderr, "peer: LMDB %s: %s\n", lmdb_dir, mdb_strerror(rc));
    if (p.env)
      mdb_env_close(p.env);
    return -1;
  }
  mdb_txn_reset(p.txn);
  uint64_t sum = 0;
  int short_pages = 0;
  for (int kase = 0; kase < NCASES; kase++) {
    b->nlat = 0;
    for (long i = 0; i < b->o.requests; i++) {
      char below[128];
      const char *cursor = NULL;
      if (kase == CASE_CURSOR) {
        long span = b->nids > 4 * PAGE ? b->nids - 4 * PAGE : 1;
        long at = 4 * PAGE + (long)(next_rand(b) % (uint64_t)span);
        snprintf(below, sizeof below, STATUS_PREFIX "%s", b->ids[at < b->nids ? at : b->nids - 1]);
        cursor = below;
      }
      uint64_t t0 = uv_hrtime();
      int got = peer_page(&p, cursor, kase == CASE_AGENT ? b->agents[0] : NULL, &sum);
      b->lat[b->nlat++] = uv_hrtime() - t0;
      short_pages += got != PAGE;
    }
    p50[kase] = hl_quantile_ms(b->lat, b->nlat, 0.50);
    p99[kase] = hl_quantile_ms(b->lat, b->nlat, 0.99);
  }
  mdb_cursor_close(p.cur);
  mdb_txn_abort(p.txn);
  mdb_env_close(p.env);
  if (short_pages)
    fprintf(stderr, "peer: %d pages had fewer than %d records (checksum %llu)\n", short_pages, PAGE,
            (unsigned long long)sum);
  return short_pages ? -1 : 0;
}

/* ---- main ---- */

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--dir BASE] [--agentai PATH] [--tasks N] [--requests R] [--clients C]\n"
          "Fills `agentai serve` with N tasks (C clients, spread over 4 agents, echo workflow),\n"
          "then times R sequential GET /v1/tasks listings per case against a raw LMDB cursor\n"
          "reading the same pages in-process.\n",
          argv0);
  return 2;
}

/* Waits until no task is queued or running (or the time is up); 0 when none is. */
static int wait_idle(int port, int seconds) {
  char body[4096];
  for (int i = 0; i < seconds * 4; i++) {
    int st = sp_http(port, "GET", "/v1/tasks?status=in.(queued,running)&limit=1", NULL, body,
                     sizeof body);
    if (st == 200 && strstr(body, "\"data\":[]"))
      return 0;
    uv_sleep(250);
  }
  return -1;
}

int main(int argc, char **argv) {
  bench b = {.o = {.tasks = 100000, .requests = 2000, .clients = 64, .agents = 4},
             .rng = 0x9e3779b97f4a7c15ULL};
  opts *o = &b.o;
  o->dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--dir"))
      o->dir = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--agentai"))
      o->agentai = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--tasks"))
      o->tasks = atol(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--requests"))
      o->requests = atol(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--clients"))
      o->clients = (unsigned)atoi(argv[++i]);
    else
      return usage(argv[0]);
  }
  if (o->tasks < 10 * PAGE * (long)o->agents || o->requests <= 0 || o->clients == 0)
    return usage(argv[0]);
  char agentai[1024], work[512], wf[600], data[600], log[600], path[1024], lmdb_dir[700];
  b.ids = malloc((size_t)o->tasks * sizeof *b.ids);
  b.lat = malloc((size_t)o->requests * sizeof *b.lat);
  if (!b.ids || !b.lat || sp_find_agentai(agentai, sizeof agentai, o->agentai) < 0 ||
      bench_make_dir(work, sizeof work, o->dir, "bench-task-listing") < 0)
    return 1;
  snprintf(wf, sizeof wf, "%s/workflows", work);
  snprintf(data, sizeof data, "%s/data", work);
  snprintf(log, sizeof log, "%s/serve.log", work);
  snprintf(lmdb_dir, sizeof lmdb_dir, "%s/lmdb", data);
  snprintf(path, sizeof path, "%s/echo.lua", wf);
  mkdir(wf, 0700);
  FILE *f = fopen(path, "w");
  if (!f)
    return 1;
  fputs("return function(input) return input end\n", f);
  fclose(f);
  char env_wf[700], *env[] = {env_wf, "AGENTAI_MAX_RUNNING=10000", NULL};
  snprintf(env_wf, sizeof env_wf, "AGENTAI_WORKFLOW_PATH=%s", wf);
  sp_server srv = {0};
  sp_watchdog(&srv, 1800); /* the fill may take minutes; a hung server must not hang the run */
  if (sp_start(&srv, agentai, data, log, env) < 0) {
    bench_rm_tree(work);
    return 1;
  }
  int failed = 0;
  char body[4096];
  for (unsigned i = 0; i < o->agents && !failed; i++) {
    int st = sp_http(srv.port, "POST", "/v1/agents", "{\"workflow\":\"echo\"}", body, sizeof body);
    if (st != 201 || sp_json_str(body, "id", b.agents[i], sizeof b.agents[i]) < 0) {
      fprintf(stderr, "creating an agent: %d %s\n", st, body);
      failed = 1;
    }
  }
  double t0 = bench_now_s();
  if (!failed) {
    printf("== fill: %ld tasks over %u agents, %u clients, echo workflow\n", o->tasks, o->agents,
           o->clients);
    fflush(stdout);
    unsigned long errors = 0;
    failed =
        hl_run(srv.port, o->clients, fill_gen, fill_done, &b, &errors) < 0 || b.nids != o->tasks;
    if (failed)
      fprintf(stderr, "fill: %ld of %ld tasks accepted (%ld refused, %lu connection errors)\n",
              b.nids, o->tasks, b.refused, errors);
  }
  if (!failed && wait_idle(srv.port, 600) < 0) {
    fprintf(stderr, "fill: tasks still queued or running after 10 minutes\n");
    failed = 1;
  }
  if (failed) {
    sp_stop(&srv, SIGKILL);
    bench_rm_tree(work);
    return 1;
  }
  printf("filled and ran %ld tasks in %.1f s\n", b.nids, bench_now_s() - t0);

  double a50[NCASES], a99[NCASES], p50[NCASES], p99[NCASES];
  for (int kase = 0; kase < NCASES && !failed; kase++) {
    char example[256];
    case_path(&b, kase, example, sizeof example);
    b.kase = kase;
    b.issued = b.bad = 0;
    b.nlat = 0;
    /* a warm-up pass of 100 requests, then the measured one: one connection, one at a time */
    long req = o->requests;
    o->requests = req < 100 ? req : 100;
    hl_run(srv.port, 1, measure_gen, measure_done, &b, NULL);
    o->requests = req;
    b.issued = b.bad = 0;
    b.nlat = 0;
    unsigned long errors = 0;
    if (hl_run(srv.port, 1, measure_gen, measure_done, &b, &errors) < 0 || b.bad || errors) {
      fprintf(stderr, "%s: %ld bad answers, %lu connection errors; first: %s\n", CASE_NAMES[kase],
              b.bad, errors, b.first_bad);
      failed = 1;
      break;
    }
    a50[kase] = hl_quantile_ms(b.lat, b.nlat, 0.50);
    a99[kase] = hl_quantile_ms(b.lat, b.nlat, 0.99);
    printf("agentai %-14s p50 %.3f ms  p99 %.3f ms  (%ld requests, e.g. GET %s)\n",
           CASE_NAMES[kase], a50[kase], a99[kase], o->requests, example);
  }
  sp_stop(&srv, SIGTERM); /* the peer opens the same LMDB file once the server is gone */
  b.rng = 0x9e3779b97f4a7c15ULL;
  if (!failed && peer_measure(&b, lmdb_dir, p50, p99) < 0)
    failed = 1;
  bench_rm_tree(work);
  free(b.ids);
  free(b.lat);
  if (failed)
    return 1;
  for (int kase = 0; kase < NCASES; kase++)
    printf("peer    %-14s p50 %.4f ms p99 %.4f ms  (raw LMDB cursor over the status index, 20 "
           "records, in-process)\n",
           CASE_NAMES[kase], p50[kase], p99[kase]);
  int met = a99[CASE_PLAIN] < 5 && a99[CASE_AGENT] < 5 && a99[CASE_CURSOR] < 5;
  printf("result: task listing over %ld tasks, p99 (p50): status %.2f ms (%.2f) | +agent %.2f ms "
         "(%.2f) | +cursor %.2f ms (%.2f) | raw LMDB cursor %.3f ms (%.3f) | ratio %.0fx at p99 "
         "(target: agentai p99 < 5 ms)\n",
         o->tasks, a99[0], a50[0], a99[1], a50[1], a99[2], a50[2], p99[0], p50[0], a99[0] / p99[0]);
  printf("{\"bench\":\"task_listing\",\"tasks\":%ld,\"requests\":%ld,", o->tasks, o->requests);
  for (int kase = 0; kase < NCASES; kase++)
    printf("\"%s\":{\"agentai_p50_ms\":%.3f,\"agentai_p99_ms\":%.3f,\"peer_p50_ms\":%.4f,"
           "\"peer_p99_ms\":%.4f},",
           kase == CASE_PLAIN   ? "status"
           : kase == CASE_AGENT ? "status_agent"
                                : "status_cursor",
           a50[kase], a99[kase], p50[kase], p99[kase]);
  printf("\"peer\":\"raw LMDB cursor over the status index, in-process\",\"ratio_p99\":%.1f,"
         "\"target_p99_ms\":5,\"met\":%s}\n",
         a99[0] / p99[0], met ? "true" : "false");
  return 0;
}
