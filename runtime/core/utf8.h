/* core/utf8.h — UTF-8 validation for text that arrives from outside. */
#pragma once

#include <stddef.h>

/** 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, at
 *  most U+10FFFF), else 0. NUL bytes count as valid characters. */
int utf8_valid(const char *s, size_t len);

/** Offset of the first byte of s[0..len) that is not well-formed UTF-8, or
 *  len when all of it is. */
size_t utf8_invalid_at(const char *s, size_t len);

/** Bytes (1 to 4) of the well-formed character that s[0..len) starts with,
 *  or 0 when it starts with none (len 0, a bad lead byte, an overlong, a
 *  surrogate, a sequence cut short by len). For walking text character by
 *  character, e.g. to cut it on a character boundary. */
size_t utf8_char_len(const char *s, size_t len);
