/* text - see text.h. */
#include "text.h"

#include <string.h>

void cs_copy(char *dst, size_t size, const char *src)
{
    memset(dst, 0, size);
    if (!src || size == 0)
        return;
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
}
