/*
 * utf8.h: strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), for text messages (close 1007) and every JSON
 * text either side writes. Used by the master and the workers alike.
 */
#ifndef JSON_UTF8_H
#define JSON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const void *s, size_t n);

/*
 * Length of the valid UTF-8 sequence starting at s (1-4), or 0 when the
 * bytes at s do not start a valid, complete sequence within n bytes.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
