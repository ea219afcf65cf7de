/* verify - see verify.h. */
#include "verify.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int cs_verify_key_parse(const char *b64, unsigned char key[CS_VERIFY_KEY_LEN])
{
    size_t len = 0;
    if (!b64 || sodium_base642bin(key, CS_VERIFY_KEY_LEN, b64, strlen(b64), NULL, &len, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return len == CS_VERIFY_KEY_LEN ? 0 : -1;
}

cs_verify_result_t cs_verify(const unsigned char key[CS_VERIFY_KEY_LEN], const char *signature,
                             const char *timestamp, const char *body, size_t len, int64_t now_s,
                             long tolerance_s)
{
    if (!signature || !timestamp)
        return CS_VERIFY_MISSING;
    size_t tslen = strlen(timestamp);
    if (tslen == 0 || tslen > 12 || strspn(timestamp, "0123456789") != tslen)
        return CS_VERIFY_MALFORMED;
    unsigned char sig[crypto_sign_BYTES + 1];
    size_t siglen = 0;
    if (sodium_base642bin(sig, sizeof sig, signature, strlen(signature), NULL, &siglen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        siglen != crypto_sign_BYTES)
        return CS_VERIFY_MALFORMED;
    int64_t ts = strtoll(timestamp, NULL, 10);
    if (ts < now_s - tolerance_s || ts > now_s + tolerance_s)
        return CS_VERIFY_STALE;

    /* The signed message is timestamp|body; small ones stay on the stack. */
    unsigned char small[4096];
    size_t mlen = tslen + 1 + len;
    unsigned char *msg = mlen <= sizeof small ? small : malloc(mlen);
    if (!msg)
        return CS_VERIFY_BAD;
    memcpy(msg, timestamp, tslen);
    msg[tslen] = '|';
    memcpy(msg + tslen + 1, body, len);
    int ok = crypto_sign_verify_detached(sig, msg, mlen, key);
    if (msg != small)
        free(msg);
    return ok == 0 ? CS_VERIFY_OK : CS_VERIFY_BAD;
}

const char *cs_verify_result_name(cs_verify_result_t r)
{
    static const char *names[] = {"ok", "missing_header", "malformed_header", "stale_timestamp",
                                  "bad_signature"};
    return names[r];
}
