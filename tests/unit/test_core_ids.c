/* tests/unit/test_core_ids.c — time-sortable ids and the string map the engine indexes with. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agentai/plugin.h"
#include "check.h"
#include "core/ids.h"
#include "core/strmap.h"

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_ids_sorted_and_valid(void) {
  char prev[IDS_MAX] = "", id[IDS_MAX];
  int64_t before = wall_ms();
  for (int i = 0; i < 20000; i++) { /* many per millisecond: the counter path */
    CHECK_EQ_INT(ids_new("tsk", id), 0);
    CHECK_EQ_INT(strlen(id), 30);
    CHECK(strncmp(id, "tsk_", 4) == 0);
    CHECK(strcmp(prev, id) < 0);
    memcpy(prev, id, sizeof id);
  }
  int64_t t = ids_time_ms(id, "tsk");
  CHECK(t >= before && t <= wall_ms());
  CHECK(ids_valid(id, "tsk"));
  CHECK(ids_valid(id, NULL));
  CHECK(!ids_valid(id, "agt"));
  CHECK(!ids_valid("tsk_short", "tsk"));
  CHECK(!ids_valid("tsk_01m885htwc8tfa4rrry4pv0j9u", "tsk")); /* 'u' is not Crockford */
  CHECK(!ids_valid("tsk_01M885HTWC8TFA4RRRY4PV0J9Z", "tsk")); /* upper case */
  CHECK(!ids_valid("../etc/passwd", NULL));
  CHECK(!ids_valid(NULL, NULL));
  CHECK_EQ_INT(ids_new("", id), AGENTAI_EINVAL);
  CHECK_EQ_INT(ids_new("toolong8", id), AGENTAI_EINVAL);
}

static void test_ids_floor(void) {
  char lo[IDS_MAX], id[IDS_MAX], hi[IDS_MAX];
  int64_t now = wall_ms();
  ids_floor("tsk", now - 1000, lo);
  ids_new("tsk", id);
  ids_floor("tsk", now + 60000, hi);
  CHECK(strcmp(lo, id) < 0);
  CHECK(strcmp(id, hi) < 0);
  CHECK_EQ_INT(ids_time_ms(lo, "tsk"), now - 1000);
  ids_floor("tsk", -5, lo); /* clamped, still well-formed */
  CHECK_EQ_INT(ids_time_ms(lo, "tsk"), 0);
}

static void test_strmap(void) {
  strmap m;
  strmap_init(&m);
  CHECK(strmap_get(&m, "absent") == NULL);
  CHECK(strmap_remove(&m, "absent") == NULL);
  static int values[5000];
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_EQ_INT(strmap_put(&m, key, &values[i]), 0);
  }
  CHECK_EQ_INT(m.count, 5000);
  /* remove every third key: backward-shift deletion must keep every other one findable */
  for (int i = 0; i < 5000; i += 3) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK(strmap_remove(&m, key) == &values[i]);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK(strmap_get(&m, key) == (i % 3 == 0 ? NULL : &values[i]));
  }
  CHECK_EQ_INT(strmap_put(&m, "k1", &values[0]), 0); /* replace keeps the count */
  CHECK(strmap_get(&m, "k1") == &values[0]);
  size_t seen = 0;
  strmap_iter it = 0;
  const char *k;
  void *v;
  while (strmap_next(&m, &it, &k, &v))
    seen++;
  CHECK_EQ_INT(seen, m.count);
  CHECK_EQ_INT(m.count, 5000 - 1667);
  strmap_free(&m);
  CHECK_EQ_INT(m.count, 0);
}

int main(void) {
  RUN(test_ids_sorted_and_valid);
  RUN(test_ids_floor);
  RUN(test_strmap);
  CHECK_DONE();
}
