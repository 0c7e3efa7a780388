/* tests/unit/check.h — minimal assertions for C unit tests: fail loudly with file:line, count
 * checks. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_count_ = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    check_count_++;                                                            \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                       \
  do {                                                                                           \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                        \
    check_count_++;                                                                              \
    if (va_ != vb_) {                                                                            \
      fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, expected %s == %lld\n", __FILE__, \
              __LINE__, #a, va_, #b, vb_);                                                       \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                 \
  do {                                                                                  \
    const char *h_ = (hay), *n_ = (needle);                                             \
    check_count_++;                                                                     \
    if (!h_ || !strstr(h_, n_)) {                                                       \
      fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__, __LINE__, \
              h_ ? h_ : "(null)", n_);                                                  \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

/** Runs one test function, printing its name. */
#define RUN(fn)                      \
  do {                               \
    fprintf(stderr, "-- %s\n", #fn); \
    fn();                            \
  } while (0)

/** Ends main(): prints how many checks ran; a test with none is a failure. */
#define CHECK_DONE()                                  \
  do {                                                \
    fprintf(stderr, "ok: %d checks\n", check_count_); \
    return check_count_ > 0 ? 0 : 1;                  \
  } while (0)
