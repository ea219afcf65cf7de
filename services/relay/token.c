/* token - see token.h. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_token_key(cs_token_key_t *key, const char *api_key)
{
    static const unsigned char context[] = "callsync agent token v1";
    crypto_generichash(key->key, sizeof key->key, (const unsigned char *)api_key, strlen(api_key),
                       context, sizeof context - 1);
}

static void s_mac64(const cs_token_key_t *key, const char *msg, size_t len, char *out,
                    size_t outlen)
{
    unsigned char mac[crypto_auth_BYTES];
    crypto_auth(mac, (const unsigned char *)msg, len, key->key);
    sodium_bin2base64(out, outlen, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int cs_token_mint(const cs_token_key_t *key, const char *agent_id, int64_t expires_ms, char *out,
                  size_t outlen)
{
    size_t n = strlen(agent_id);
    if (n == 0 || n >= CS_TOKEN_AGENT_LEN)
        return -1;
    char agent64[sodium_base64_ENCODED_LEN(CS_TOKEN_AGENT_LEN,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(agent64, sizeof agent64, (const unsigned char *)agent_id, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char body[CS_TOKEN_LEN];
    int len = snprintf(body, sizeof body, "v1.%s.%lld", agent64, (long long)expires_ms);
    char mac64[sodium_base64_ENCODED_LEN(crypto_auth_BYTES,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    s_mac64(key, body, (size_t)len, mac64, sizeof mac64);
    if ((size_t)snprintf(out, outlen, "%s.%s", body, mac64) >= outlen)
        return -1;
    return 0;
}

cs_token_result_t cs_token_verify(const cs_token_key_t *key, const char *token, int64_t now_ms,
                                  char agent[CS_TOKEN_AGENT_LEN])
{
    agent[0] = '\0';
    size_t len = strlen(token);
    if (len >= CS_TOKEN_LEN || strncmp(token, "v1.", 3) != 0)
        return CS_TOKEN_MALFORMED;
    const char *a = token + 3, *dot1 = strchr(a, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
        return CS_TOKEN_MALFORMED;
    /* the MAC first: nothing of an unauthenticated token is trusted */
    char mac64[sodium_base64_ENCODED_LEN(crypto_auth_BYTES,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    s_mac64(key, token, (size_t)(dot2 - token), mac64, sizeof mac64);
    if (strlen(dot2 + 1) != strlen(mac64) || sodium_memcmp(dot2 + 1, mac64, strlen(mac64)) != 0)
        return CS_TOKEN_BAD_MAC;
    size_t alen = 0;
    unsigned char raw[CS_TOKEN_AGENT_LEN];
    if (sodium_base642bin(raw, sizeof raw - 1, a, (size_t)(dot1 - a), NULL, &alen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        alen == 0 || memchr(raw, '\0', alen))
        return CS_TOKEN_MALFORMED;
    char *end = NULL;
    long long exp = strtoll(dot1 + 1, &end, 10);
    if (end != dot2 || exp <= 0)
        return CS_TOKEN_MALFORMED;
    if (now_ms >= exp)
        return CS_TOKEN_EXPIRED;
    memcpy(agent, raw, alen);
    agent[alen] = '\0';
    return CS_TOKEN_OK;
}

const char *cs_token_result_name(cs_token_result_t r)
{
    static const char *names[] = {"ok", "malformed", "bad MAC", "expired"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}
