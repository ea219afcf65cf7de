/* libFuzzer: any signature header, timestamp header and body. The input is
 * split at the first two NUL bytes. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char key[32];
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            return 0;
        randombytes_buf(key, sizeof key);
        ready = 1;
    }
    char buf[4096];
    if (size >= sizeof buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *sig = buf, *ts = memchr(buf, '\0', size + 1);
    if (!ts || ts == buf + size)
        return 0;
    ts++;
    char *body = ts + strlen(ts);
    if (body >= buf + size)
        return 0;
    body++;
    cs_verify(key, sig, ts, body, (size_t)(buf + size - body), 1764000000, 300);
    return 0;
}
