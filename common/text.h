/* text - bounded string copies, and a string's hash. Fixed-size fields are
 * zero-filled past the string, so two records holding equal values are
 * equal byte for byte. */
#ifndef CS_TEXT_H
#define CS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Copies at most size-1 bytes of src (NULL copies ""), zero-filling dst. */
void cs_copy(char *dst, size_t size, const char *src);
#define CS_COPY(dst, src) cs_copy((dst), sizeof(dst), (src))

/* FNV-1a (32 bits) of a NUL-terminated string: stable across builds and
 * hosts, for short tags and for sharing work out by key. */
uint32_t cs_fnv1a(const char *s);

#endif
