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

uint32_t cs_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}
