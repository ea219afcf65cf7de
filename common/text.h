/* text - bounded string copies. Fixed-size fields are zero-filled past the
 * string, so two records holding equal values are equal byte for byte. */
#ifndef CS_TEXT_H
#define CS_TEXT_H

#include <stddef.h>

/* Copies at most size-1 bytes of src (NULL copies ""), zero-filling dst. */
void cs_copy(char *dst, size_t size, const char *src);
#define CS_COPY(dst, src) cs_copy((dst), sizeof(dst), (src))

#endif
