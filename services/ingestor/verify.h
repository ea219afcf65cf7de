/* verify - Telnyx webhook signatures (API v2): Ed25519 over the bytes
 * `telnyx-timestamp + "|" + raw body`, with the signature as padded base64
 * in `telnyx-signature-ed25519`, and the timestamp (decimal Unix seconds)
 * within a tolerance of our clock. Pure: the caller passes `now`. */
#ifndef CS_VERIFY_H
#define CS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define CS_VERIFY_KEY_LEN 32

typedef enum {
    CS_VERIFY_OK = 0,
    CS_VERIFY_MISSING,   /* a header is absent */
    CS_VERIFY_MALFORMED, /* timestamp not ^[0-9]{1,12}$, or signature not 64 bytes of base64 */
    CS_VERIFY_STALE,     /* timestamp outside now ± tolerance */
    CS_VERIFY_BAD,       /* the signature does not match */
} cs_verify_result_t;

/* Decodes the base64 public key; -1 unless it is exactly 32 bytes. */
int cs_verify_key_parse(const char *b64, unsigned char key[CS_VERIFY_KEY_LEN]);

cs_verify_result_t cs_verify(const unsigned char key[CS_VERIFY_KEY_LEN], const char *signature,
                             const char *timestamp, const char *body, size_t len, int64_t now_s,
                             long tolerance_s);

const char *cs_verify_result_name(cs_verify_result_t r);

#endif
