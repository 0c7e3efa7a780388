/* core/timefmt.c — RFC 3339 text of millisecond instants, written and read (see core/timefmt.h). */
#include "core/timefmt.h"

#include <string.h>

#include "agentai/plugin.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int timefmt_format(int64_t ms, char out[32]) {
  if (ms < TIMEFMT_MIN_MS || ms > TIMEFMT_MAX_MS) {
    out[0] = '\0';
    return AGENTAI_EINVAL;
  }
  int64_t days = ms / 86400000, rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned t = (unsigned)rem;
  /* Fixed-width fields written by hand: snprintf cannot prove they fit, and this is hot. */
  unsigned f[7] = {(unsigned)y, m, d, t / 3600000, t / 60000 % 60, t / 1000 % 60, t % 1000};
  static const char LAYOUT[] = "0000-00-00T00:00:00.000Z";
  static const unsigned WIDTH[7] = {4, 2, 2, 2, 2, 2, 3};
  memcpy(out, LAYOUT, sizeof LAYOUT);
  size_t pos = 0;
  for (int k = 0; k < 7; k++) {
    for (unsigned w = WIDTH[k], v = f[k]; w > 0; w--, v /= 10)
      out[pos + w - 1] = (char)('0' + v % 10);
    pos += WIDTH[k] + 1;
  }
  return 0;
}

/* Reads exactly n digits at *p into *v and advances *p. */
static int digits(const char **p, int n, unsigned *v) {
  unsigned x = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return 0;
    x = x * 10 + (unsigned)(c - '0');
  }
  *p += n;
  *v = x;
  return 1;
}

/* Unix seconds: an optional '-', then only decimal digits (at least one). Returns 1 with *ms
 * set, 0 when s is not such an integer, -1 when it is one outside the writable range. */
static int unix_seconds(const char *s, int64_t *ms) {
  int neg = *s == '-';
  const char *p = s + neg;
  int64_t v = 0;
  if (!*p)
    return 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    if (v <= TIMEFMT_MAX_MS) /* past the range it stays past it, and cannot overflow */
      v = v * 10 + (*p - '0');
  }
  v = neg ? -v : v;
  if (v < TIMEFMT_MIN_MS / 1000 || v > TIMEFMT_MAX_MS / 1000)
    return -1;
  *ms = v * 1000;
  return 1;
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int timefmt_parse(const char *text, int64_t *ms) {
  if (!text || !ms)
    return AGENTAI_EINVAL;
  int secs = unix_seconds(text, ms);
  if (secs != 0)
    return secs > 0 ? 0 : AGENTAI_EINVAL;
  static const unsigned MDAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *p = text;
  unsigned y, mo, d, h, mi, s, frac = 0;
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
    return AGENTAI_EINVAL;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return AGENTAI_EINVAL;
  p++;
  if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &s))
    return AGENTAI_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
      mi > 59 || s > 59)
    return AGENTAI_EINVAL;
  if (*p == '.') {
    size_t nd = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, nd++)
      if (nd < 3) /* finer than milliseconds: truncated */
        frac = frac * 10 + (unsigned)(*p - '0');
    if (!nd)
      return AGENTAI_EINVAL;
    for (; nd < 3; nd++) /* ".5" is 500 ms */
      frac *= 10;
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    unsigned oh, om;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
      return AGENTAI_EINVAL;
    off = sign * (int64_t)(oh * 60 + om) * 60000;
  } else {
    return AGENTAI_EINVAL;
  }
  if (*p)
    return AGENTAI_EINVAL;
  int64_t v =
      days_from_civil(y, mo, d) * 86400000 + (int64_t)(h * 3600 + mi * 60 + s) * 1000 + frac - off;
  if (v < TIMEFMT_MIN_MS || v > TIMEFMT_MAX_MS)
    return AGENTAI_EINVAL;
  *ms = v;
  return 0;
}
