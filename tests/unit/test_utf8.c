/* tests/unit/test_utf8.c — the strict UTF-8 checker: RFC 3629 boundaries, overlongs, surrogates,
 * code points past U+10FFFF, truncated sequences and the offsets it reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/utf8.h"

/* One case: n bytes, and the offset of the first bad byte (n when all are good). */
typedef struct utf8_case {
  const char *bytes;
  size_t n;
  size_t bad_at;
} utf8_case;

#define GOOD(s) \
  { s, sizeof(s) - 1, sizeof(s) - 1 }
#define BAD(s, at) \
  { s, sizeof(s) - 1, at }

/* Checks c from an exact-size heap copy (ASan sees any read past its end). */
static void check_case(const utf8_case *c) {
  char *copy = malloc(c->n ? c->n : 1);
  CHECK(copy != NULL);
  memcpy(copy, c->bytes, c->n);
  size_t at = utf8_invalid_at(copy, c->n);
  if (at != c->bad_at) {
    fprintf(stderr, "bytes:");
    for (size_t i = 0; i < c->n; i++)
      fprintf(stderr, " %02x", (unsigned char)c->bytes[i]);
    fprintf(stderr, "\n");
  }
  CHECK_EQ_INT(at, c->bad_at);
  CHECK_EQ_INT(utf8_valid(copy, c->n), c->bad_at == c->n);
  free(copy);
}

static void run_cases(const utf8_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++)
    check_case(&cases[i]);
}

static void test_well_formed(void) {
  static const utf8_case cases[] = {
      GOOD(""),
      GOOD("plain ASCII, with\ttab and \x7f"),
      {"a\0b", 3, 3},           /* NUL is a character */
      GOOD("\xc2\x80"),         /* U+0080, the first two-byte character */
      GOOD("\xdf\xbf"),         /* U+07FF */
      GOOD("\xe0\xa0\x80"),     /* U+0800, the first three-byte character */
      GOOD("\xed\x9f\xbf"),     /* U+D7FF, just below the surrogates */
      GOOD("\xee\x80\x80"),     /* U+E000, just above them */
      GOOD("\xef\xbf\xbf"),     /* U+FFFF */
      GOOD("\xf0\x90\x80\x80"), /* U+10000, the first four-byte character */
      GOOD("\xf4\x8f\xbf\xbf"), /* U+10FFFF, the last code point */
      GOOD("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_overlongs(void) {
  static const utf8_case cases[] = {
      BAD("\xc0\x80", 0),                 /* NUL in two bytes */
      BAD("\xc1\xbf", 0),                 /* U+007F in two bytes */
      BAD("\xe0\x80\x80", 0),             /* NUL in three */
      BAD("\xe0\x9f\xbf", 0),             /* U+07FF in three */
      BAD("\xf0\x80\x80\x80", 0),         /* NUL in four */
      BAD("\xf0\x8f\xbf\xbf", 0),         /* U+FFFF in four */
      BAD("ok \xc0\xaf", 3),              /* the classic overlong '/' */
      BAD("\xf8\x88\x80\x80\x80", 0),     /* five-byte form */
      BAD("\xfc\x84\x80\x80\x80\x80", 0), /* six-byte form */
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_surrogates(void) {
  static const utf8_case cases[] = {
      BAD("\xed\xa0\x80", 0),              /* U+D800 */
      BAD("\xed\xaf\xbf", 0),              /* U+DBFF */
      BAD("\xed\xb0\x80", 0),              /* U+DC00 */
      BAD("\xed\xbf\xbf", 0),              /* U+DFFF */
      BAD("x\xed\xa0\xbd\xed\xb8\x82", 1), /* a pair written as two (CESU-8) */
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_beyond_max(void) {
  static const utf8_case cases[] = {
      BAD("\xf4\x90\x80\x80", 0),                             /* U+110000 */
      BAD("\xf4\xbf\xbf\xbf", 0), BAD("\xf5\x80\x80\x80", 0), /* lead bytes F5..FF never appear */
      BAD("\xf7\xbf\xbf\xbf", 0), BAD("ab\xfe", 2),           BAD("ab\xff", 2),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_truncated_and_stray(void) {
  static const utf8_case cases[] = {
      BAD("\xc3", 0),
      BAD("\xe2\x82", 0),
      BAD("\xf0\x9f\x99", 0),
      BAD("abc\xe2\x82", 3),      /* cut at the end */
      BAD("\xe2\x82x", 0),        /* cut by an ASCII byte */
      BAD("\xf0\x9f\x41\x80", 0), /* third byte not a continuation */
      BAD("\xf0\x9f\x99\x41", 0), /* fourth byte not a continuation */
      BAD("\x80", 0),             /* a lone continuation byte */
      BAD("\xc3\xa9\xbf", 2),     /* one continuation too many */
      BAD("\xc3\xa9\xe2\x82\xac\xc3", 5),
  };
  run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Only len bytes are read: a good character cut by len is truncated, bytes past len are not
 * looked at. */
static void test_length_bounds(void) {
  const char *euro = "\xe2\x82\xac";
  CHECK_EQ_INT(utf8_invalid_at(euro, 3), 3);
  CHECK_EQ_INT(utf8_invalid_at(euro, 2), 0);
  CHECK_EQ_INT(utf8_invalid_at(euro, 0), 0);
  CHECK_EQ_INT(utf8_valid(euro, 0), 1);
  CHECK_EQ_INT(utf8_valid("ab\xff", 2), 1);
}

static void test_char_len(void) {
  CHECK_EQ_INT(utf8_char_len("a", 1), 1);
  CHECK_EQ_INT(utf8_char_len("", 1), 1); /* NUL */
  CHECK_EQ_INT(utf8_char_len("\xc3\xa9!", 3), 2);
  CHECK_EQ_INT(utf8_char_len("\xe2\x82\xac!", 4), 3);
  CHECK_EQ_INT(utf8_char_len("\xf0\x9f\x99\x82!", 5), 4);
  CHECK_EQ_INT(utf8_char_len("\xf4\x8f\xbf\xbf", 4), 4);
  CHECK_EQ_INT(utf8_char_len("a", 0), 0);
  CHECK_EQ_INT(utf8_char_len("\xe2\x82\xac", 2), 0);
  CHECK_EQ_INT(utf8_char_len("\x80", 1), 0);
  CHECK_EQ_INT(utf8_char_len("\xc0\x80", 2), 0);
  CHECK_EQ_INT(utf8_char_len("\xe0\x9f\xbf", 3), 0);
  CHECK_EQ_INT(utf8_char_len("\xed\xa0\x80", 3), 0);
  CHECK_EQ_INT(utf8_char_len("\xf4\x90\x80\x80", 4), 0);
  CHECK_EQ_INT(utf8_char_len("\xf5\x80\x80\x80", 4), 0);
}

/* Every two-byte string: the checker agrees with decoding by the RFC 3629 definition. */
static void test_all_two_byte_strings(void) {
  for (unsigned a = 0; a < 256; a++) {
    for (unsigned b = 0; b < 256; b++) {
      char s[2] = {(char)a, (char)b};
      int ascii_a = a < 0x80, ascii_b = b < 0x80;
      unsigned cp = ((a & 0x1f) << 6) | (b & 0x3f);
      int pair = (a & 0xe0) == 0xc0 && (b & 0xc0) == 0x80 && cp >= 0x80;
      int want = (ascii_a && ascii_b) || pair;
      CHECK_EQ_INT(utf8_valid(s, 2), want);
    }
  }
}

int main(void) {
  RUN(test_well_formed);
  RUN(test_overlongs);
  RUN(test_surrogates);
  RUN(test_beyond_max);
  RUN(test_truncated_and_stray);
  RUN(test_length_bounds);
  RUN(test_char_len);
  RUN(test_all_two_byte_strings);
  CHECK_DONE();
}
