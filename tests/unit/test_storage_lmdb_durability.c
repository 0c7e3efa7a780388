/* tests/unit/test_storage_lmdb_durability.c — storage-lmdb across opens: reopen, config and
 * open errors, another process's commits, durability under kill -9. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "lmdb_fixture.h"

static void test_reopen(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  for (int i = 0; i < 20; i++) {
    char k[16], v[16];
    snprintf(k, sizeof k, "r%02d", i);
    snprintf(v, sizeof v, "val%02d", i);
    CHECK_EQ_INT(put_sync(&f, k, v), 0);
  }
  fx_close_db(&f);
  /* a database file exists under <data>/lmdb */
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "%s/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0600);
  snprintf(path, sizeof path, "%s/lmdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0700);
  fx_open(&f);
  check_value(&f, "r00", "val00");
  check_value(&f, "r19", "val19");
  CHECK_EQ_INT((int)stat_of(&f, "entries"), 20);
  /* the same environment cannot be opened twice in one process */
  agentai_storage *second = NULL;
  char err[1024] = "";
  CHECK_EQ_INT(f.def->open(f.def->ud, f.dir, &second, err, sizeof err), AGENTAI_EBUSY);
  CHECK_STR_CONTAINS(err, "already open");
  CHECK(second == NULL);
  fx_free(&f);
}

static void expect_config_error(const char *cfg_json, const char *needle) {
  fx f;
  char err[1024] = "";
  int rc = fx_load(&f, cfg_json, err, sizeof err);
  CHECK(rc < 0);
  CHECK_STR_CONTAINS(err, needle);
  CHECK(strchr(err, '\n') == NULL); /* one line */
  CHECK(f.def == NULL);             /* nothing registered */
  fx_free(&f);
}

static void test_bad_config(void) {
  expect_config_error("{\"map_size_mb\":\"big\"}", "key 'map_size_mb' must be an integer");
  expect_config_error("{\"map_size_mb\":0}", "key 'map_size_mb' must be between");
  expect_config_error("{\"map_size_mb\":1.5}", "key 'map_size_mb' must be an integer");
  expect_config_error("{\"max_readers\":true}", "key 'max_readers' must be an integer");
  expect_config_error("{\"max_readers\":-3}", "key 'max_readers'");
  expect_config_error("{\"subdir\":5}", "key 'subdir' must be a string");
  expect_config_error("{\"subdir\":\"../escape\"}", "key 'subdir' must not contain '..'");
  expect_config_error("{\"subdir\":\"/abs\"}", "key 'subdir'");
  expect_config_error("{\"map_size_mb\":4,\"sync\":false}", "unknown key 'sync'");
  expect_config_error("{\"nested\":{\"a\":[1,2]}}", "unknown key 'nested'");
  expect_config_error("{\"map_size_mb\":4", "invalid JSON");
  expect_config_error("[1]", "must be a JSON object");
  expect_config_error("{\"map_size_mb\":4} x", "trailing characters");
  expect_config_error("{\"subdir\":\"a\\q\"}", "bad escape");

  /* a valid configuration with every key, escapes included */
  fx f;
  fx_init(&f, " {\"map_size_mb\": 4, \"subdir\": \"x\\/y\", \"max_readers\": 10} ");
  fx_open(&f);
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "%s/x/y/data.mdb", f.dir);
  CHECK_EQ_INT(stat(path, &st), 0);
  CHECK_EQ_INT((int)stat_of(&f, "map_size"), 4 << 20);
  CHECK_EQ_INT((int)stat_of(&f, "max_readers"), 10);
  fx_free(&f);
}

static void expect_open_error(fx *f, const char *dir, int code, const char *n1, const char *n2) {
  agentai_storage *db = NULL;
  char err[1024] = "";
  CHECK_EQ_INT(f->def->open(f->def->ud, dir, &db, err, sizeof err), code);
  CHECK(db == NULL);
  CHECK_STR_CONTAINS(err, n1);
  CHECK_STR_CONTAINS(err, n2);
  CHECK(strchr(err, '\n') == NULL);
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ_INT(write(fd, data, len), (long long)len);
  close(fd);
}

static void test_open_errors(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":4}");
  char path[128];

  /* data folder is a regular file */
  snprintf(path, sizeof path, "%s/file", f.dir);
  write_file(path, "x", 1);
  expect_open_error(&f, path, AGENTAI_EIO, path, "exists but is not a folder");

  /* garbage data.mdb */
  snprintf(path, sizeof path, "%s/bad/lmdb", f.dir);
  char mk[128];
  snprintf(mk, sizeof mk, "%s/bad", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  char garbage[16384];
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (char)(i * 131 + 7);
  snprintf(path, sizeof path, "%s/bad/lmdb/data.mdb", f.dir);
  write_file(path, garbage, sizeof garbage);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "data.mdb", "not a valid LMDB database");
  /* a truncated file: shorter than the meta pages */
  write_file(path, garbage, 100);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "data.mdb", "not a valid LMDB database");

  /* data.mdb that is a folder */
  snprintf(mk, sizeof mk, "%s/dirdb", f.dir);
  snprintf(path, sizeof path, "%s/dirdb/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  snprintf(path, sizeof path, "%s/dirdb/lmdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/dirdb/lmdb/data.mdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, path, "not a regular file");

  /* lock file that is a folder */
  snprintf(mk, sizeof mk, "%s/lockdir", f.dir);
  CHECK_EQ_INT(mkdir(mk, 0700), 0);
  snprintf(path, sizeof path, "%s/lockdir/lmdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/lockdir/lmdb/lock.mdb", f.dir);
  CHECK_EQ_INT(mkdir(path, 0700), 0);
  expect_open_error(&f, mk, AGENTAI_ECORRUPT, "lock file", path);

  /* not writable (permissions do not bind root) */
  if (geteuid() != 0) {
    snprintf(mk, sizeof mk, "%s/ro", f.dir);
    CHECK_EQ_INT(mkdir(mk, 0500), 0);
    expect_open_error(&f, mk, AGENTAI_EIO, mk, "Permission denied");
  }
  /* the plugin still works after the failures */
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "ok", "1"), 0);
  fx_free(&f);
}

/* Another process's commit shows up within a few milliseconds, without a write of ours. */
static void test_sees_other_process(void) {
  fx f;
  fx_init(&f, "{\"map_size_mb\":8}");
  fx_open(&f);
  CHECK_EQ_INT(put_sync(&f, "mine", "1"), 0);
  check_absent(&f, "theirs"); /* caches a read txn */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char path[128];
    snprintf(path, sizeof path, "%s/lmdb", f.dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    rc = rc ? rc : mdb_env_set_mapsize(env, 8u << 20);
    rc = rc ? rc : mdb_env_open(env, path, MDB_NOTLS, 0600);
    rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {6, "theirs"}, v = {3, "yes"};
    rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
    rc = rc ? rc : mdb_txn_commit(txn);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  usleep(20 * 1000);
  check_value(&f, "theirs", "yes");
  fx_free(&f);
}

/* ---- durability under kill -9 ---- */

typedef struct pump {
  fx *f;
  int fd;
  unsigned next, in_flight;
  char val[1024];
} pump;

typedef struct pump_req {
  pump *p;
  unsigned id;
} pump_req;

static void pump_issue(pump *p);

static void pump_done(void *ud, int err) {
  pump_req *r = ud;
  pump *p = r->p;
  if (err == 0) {
    char line[32];
    int n = snprintf(line, sizeof line, "%08u\n", r->id);
    if (write(p->fd, line, (size_t)n) != n)
      _exit(3);
  }
  free(r);
  p->in_flight--;
  pump_issue(p);
}

static void pump_issue(pump *p) {
  while (p->in_flight < 32) {
    pump_req *r = malloc(sizeof *r);
    if (!r)
      _exit(4);
    r->p = p;
    r->id = p->next++;
    char key[16];
    snprintf(key, sizeof key, "d%08u", r->id);
    agentai_kv_op ops[2] = {
        {AGENTAI_KV_PUT, key, strlen(key), p->val, sizeof p->val},
        {AGENTAI_KV_PUT, "last", 4, key, strlen(key)},
    };
    if (p->f->def->write(p->f->db, ops, 2, pump_done, r) != 0)
      _exit(5);
    p->in_flight++;
  }
}

static void test_durable_under_kill(void) {
  char dir[64];
  make_tmpdir(dir, sizeof dir);
  int fds[2];
  CHECK_EQ_INT(pipe(fds), 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    fx f;
    fx_init(&f, "{\"map_size_mb\":256}");
    rm_rf(f.dir);
    snprintf(f.dir, sizeof f.dir, "%s", dir);
    fx_open(&f);
    static pump p;
    p.f = &f;
    p.fd = fds[1];
    memset(p.val, 'd', sizeof p.val);
    pump_issue(&p);
    for (;;)
      uv_run(&f.loop, UV_RUN_ONCE);
  }
  close(fds[1]);
  /* Kill it mid-stream, once it has acknowledged a few hundred writes. */
  static char buf[1 << 20];
  size_t len = 0;
  uint64_t deadline = uv_hrtime() + 20000000000ull;
  int killed = 0;
  for (;;) {
    if (!killed && (len / 9 >= 2000 || uv_hrtime() > deadline)) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (n <= 0)
      break; /* EOF: the child is dead and everything it wrote is here */
    len += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  size_t acked = len / 9; /* "%08u\n"; a torn last line is not an ack */
  fprintf(stderr, "   %zu acknowledged writes before kill -9\n", acked);
  CHECK(acked >= 2000);

  fx f;
  fx_init(&f, "{\"map_size_mb\":256}");
  rm_rf(f.dir);
  snprintf(f.dir, sizeof f.dir, "%s", dir);
  fx_open(&f);
  size_t missing = 0;
  for (size_t i = 0; i < acked; i++) {
    char key[16];
    snprintf(key, sizeof key, "d%.8s", buf + i * 9);
    gres g;
    memset(&g, 0, sizeof g);
    CHECK_EQ_INT(f.def->get(f.db, NULL, key, strlen(key), on_get, &g), 0);
    if (g.err != 0 || g.len != 1024)
      missing++;
  }
  CHECK_EQ_INT(missing, 0);
  /* each batch also moved "last": it names a write that is there in full */
  gres last;
  CHECK_EQ_INT(get_sync(&f, NULL, "last", &last), 0);
  CHECK_EQ_INT(last.len, 9);
  gres g;
  CHECK_EQ_INT(get_sync(&f, NULL, last.val, &g), 0);
  CHECK_EQ_INT(g.len, 1024);
  CHECK(strncmp(last.val + 1, buf + (acked - 1) * 9, 8) >= 0); /* not older than the last ack */
  fx_free(&f);
}

int main(void) {
  RUN(test_reopen);
  RUN(test_bad_config);
  RUN(test_open_errors);
  RUN(test_sees_other_process);
  RUN(test_durable_under_kill);
  CHECK_DONE();
}
