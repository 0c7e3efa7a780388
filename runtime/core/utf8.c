/* core/utf8.c — a strict UTF-8 checker (RFC 3629 table). */
#include "core/utf8.h"

size_t utf8_char_len(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  if (len == 0)
    return 0;
  unsigned c = s[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
  if (c < 0x80) {
    return 1;
  } else if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0; /* overlong */
    if (c == 0xed)
      hi = 0x9f; /* surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90; /* overlong */
    if (c == 0xf4)
      hi = 0x8f; /* above U+10FFFF */
  } else {
    return 0;
  }
  if (n > len) /* truncated sequence */
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t k = 2; k < n; k++)
    if ((s[k] & 0xc0) != 0x80)
      return 0;
  return n;
}

size_t utf8_invalid_at(const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    if ((unsigned char)s[i] < 0x80) { /* the common case, without a call */
      i++;
      continue;
    }
    size_t n = utf8_char_len(s + i, len - i);
    if (!n)
      return i;
    i += n;
  }
  return len;
}

int utf8_valid(const char *s, size_t len) {
  return utf8_invalid_at(s, len) == len;
}
