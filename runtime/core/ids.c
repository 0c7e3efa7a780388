/* core/ids.c — ULID-style identifiers behind a type prefix, monotonic within a process. */
#include "core/ids.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#include "agentai/plugin.h"

static const char ALPHABET[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* Last id's time and random part; ids are made on the loop thread, but a
 * CLI command may make some too: a mutex-free design relies on one thread
 * making ids at a time per process, which holds for the runtime. */
static int64_t g_last_ms = -1;
static unsigned char g_last_rand[10];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Encodes 48-bit time + 80 random bits as 26 base-32 characters. */
static void encode(int64_t ms, const unsigned char rnd[10], char out[26]) {
  uint64_t t = (uint64_t)ms;
  for (int i = 9; i >= 0; i--) {
    out[i] = ALPHABET[t & 31];
    t >>= 5;
  }
  /* 80 bits = 16 characters of 5 bits, most significant first */
  int bit = 0;
  for (int i = 0; i < 16; i++) {
    unsigned v = 0;
    for (int b = 0; b < 5; b++, bit++)
      v = (v << 1) | ((rnd[bit / 8] >> (7 - bit % 8)) & 1u);
    out[10 + i] = ALPHABET[v];
  }
}

int ids_new(const char *prefix, char out[IDS_MAX]) {
  size_t plen = prefix ? strlen(prefix) : 0;
  if (plen == 0 || plen > 7)
    return AGENTAI_EINVAL;
  int64_t ms = now_ms();
  if (ms <= g_last_ms) {
    /* Same (or an earlier, the clock stepped back) millisecond: keep the
     * last time and count up, so order still follows creation. */
    ms = g_last_ms;
    for (int i = 9; i >= 0; i--)
      if (++g_last_rand[i] != 0)
        break;
  } else {
    if (RAND_bytes(g_last_rand, sizeof g_last_rand) != 1) {
      /* No entropy source: time plus a counter still gives unique, sorted ids. */
      memset(g_last_rand, 0, sizeof g_last_rand);
    }
    g_last_rand[0] &= 0x7f; /* room to count up within a millisecond */
    g_last_ms = ms;
  }
  memcpy(out, prefix, plen);
  out[plen] = '_';
  encode(ms, g_last_rand, out + plen + 1);
  out[plen + 27] = '\0';
  return 0;
}

static int decode_char(char c) {
  const char *p = c ? strchr(ALPHABET, c) : NULL;
  return p ? (int)(p - ALPHABET) : -1;
}

int64_t ids_time_ms(const char *id, const char *prefix) {
  if (!id)
    return -1;
  const char *us = strchr(id, '_');
  if (!us || us == id || us - id > 7)
    return -1;
  if (prefix && (strlen(prefix) != (size_t)(us - id) || strncmp(id, prefix, (size_t)(us - id))))
    return -1;
  const char *body = us + 1;
  if (strlen(body) != 26)
    return -1;
  int64_t ms = 0;
  for (int i = 0; i < 26; i++) {
    int v = decode_char(body[i]);
    if (v < 0)
      return -1;
    if (i < 10)
      ms = ms * 32 + v;
  }
  return ms;
}

int ids_valid(const char *id, const char *prefix) {
  return ids_time_ms(id, prefix) >= 0;
}

void ids_floor(const char *prefix, int64_t ms, char out[IDS_MAX]) {
  static const unsigned char zero[10];
  size_t plen = strlen(prefix);
  if (plen > 7)
    plen = 7;
  if (ms < 0)
    ms = 0;
  if (ms > ((int64_t)1 << 48) - 1)
    ms = ((int64_t)1 << 48) - 1;
  memcpy(out, prefix, plen);
  out[plen] = '_';
  encode(ms, zero, out + plen + 1);
  out[plen + 27] = '\0';
}
