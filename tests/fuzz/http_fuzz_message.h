/* tests/fuzz/http_fuzz_message.h — turns a fuzz input into the bytes fuzz_http_request sends
 * (scheme in that file). */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *find(const uint8_t *h, size_t hn, const char *needle) {
  size_t nn = strlen(needle);
  for (size_t i = 0; i + nn <= hn; i++)
    if (memcmp(h + i, needle, nn) == 0)
      return h + i;
  return NULL;
}

#define MAX_SPLITS 8

typedef struct {
  uint8_t *buf;
  size_t len;
  int linger;
  size_t splits[MAX_SPLITS]; /* pause before sending these offsets */
  int nsplits;
} message;

static void put(message *m, const void *p, size_t n) {
  memcpy(m->buf + m->len, p, n);
  m->len += n;
}

/* Builds the bytes to send from an input (the scheme is at the top of the file).
 * Returns 1 with m filled (free m->buf), 0 when nothing is left to send, -1 when out of
 * memory. */
static int build_message(message *m, const uint8_t *data, size_t size) {
  memset(m, 0, sizeof *m);
  m->buf = malloc(size + 128);
  uint8_t *clean = malloc(size + 1);
  if (!m->buf || !clean) {
    free(clean);
    return -1;
  }

  /* 0xFF bytes are pause marks: removed, and the bytes before them sent first. */
  size_t clen = 0;
  for (size_t i = 0; i < size; i++) {
    if (data[i] != 0xff)
      clean[clen++] = data[i];
    else if (clen > 0 && m->nsplits < MAX_SPLITS &&
             (m->nsplits == 0 || m->splits[m->nsplits - 1] != clen))
      m->splits[m->nsplits++] = clen;
  }
  if (clen == 0) {
    free(clean);
    return 0;
  }
  if (clean[0] >= 'A' && clean[0] <= 'Z') {
    put(m, clean, clen);
    free(clean);
    return 1;
  }

  static const char *const METHODS[] = {"GET",     "POST",   "PUT",   "HEAD",
                                        "OPTIONS", "DELETE", "PATCH", "CONNECT"};
  unsigned c = clean[0];
  char prefix[96];
  int n = snprintf(prefix, sizeof prefix, "%s /%u%s", METHODS[c & 7], (c >> 3) & 3,
                   (c & 0x40) ? "" : " HTTP/1.1\r\nHost: fuzz\r\n");
  m->linger = (c & 0x20) != 0;
  for (int i = 0; i < m->nsplits; i++)
    m->splits[i] += (size_t)n - 1; /* the control byte is replaced by the prefix */

  /* Content-Length goes right after the request line, counting what follows the blank line. */
  message tmp;
  memset(&tmp, 0, sizeof tmp);
  if (!(tmp.buf = malloc(size + 128))) {
    free(clean);
    return -1;
  }
  put(&tmp, prefix, (size_t)n);
  put(&tmp, clean + 1, clen - 1);
  free(clean);
  const uint8_t *line_end = find(tmp.buf, tmp.len, "\r\n");
  const uint8_t *hdr_end = find(tmp.buf, tmp.len, "\r\n\r\n");
  if ((c & 0x80) && line_end && hdr_end) {
    size_t at = (size_t)(line_end - tmp.buf) + 2;
    size_t body = tmp.len - (size_t)(hdr_end - tmp.buf) - 4;
    char clh[48];
    int k = snprintf(clh, sizeof clh, "Content-Length: %zu\r\n", body);
    put(m, tmp.buf, at);
    put(m, clh, (size_t)k);
    put(m, tmp.buf + at, tmp.len - at);
    for (int i = 0; i < m->nsplits; i++)
      if (m->splits[i] >= at)
        m->splits[i] += (size_t)k;
  } else {
    put(m, tmp.buf, tmp.len);
  }
  free(tmp.buf);
  return 1;
}
