/* ids - see ids.h. Randomness comes from libsodium. */
#include "ids.h"

#include <sodium.h>
#include <stdio.h>

void cs_ids_call(char out[CS_CALL_ID_LEN], int64_t now_ms)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char rnd[10];
    randombytes_buf(rnd, sizeof rnd);
    char *p = out;
    *p++ = 'c';
    *p++ = 's';
    *p++ = '_';
    uint64_t t = (uint64_t)now_ms;
    for (int i = 9; i >= 0; i--) /* 10 chars: 50 bits of time, top 2 zero */
        p[i] = alphabet[(t >> (5 * (9 - i))) & 31];
    p += 10;
    /* 80 random bits: 16 chars of 5 bits */
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 5; i++)
        hi = (hi << 8) | rnd[i];
    for (int i = 5; i < 10; i++)
        lo = (lo << 8) | rnd[i];
    for (int i = 7; i >= 0; i--) {
        p[i] = alphabet[hi & 31];
        hi >>= 5;
        p[8 + i] = alphabet[lo & 31];
        lo >>= 5;
    }
    p[16] = '\0';
}

void cs_ids_uuid(char out[CS_UUID_STR_LEN])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CS_UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
