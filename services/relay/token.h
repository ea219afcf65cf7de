/* token - the short-lived agent tokens the relay mints for softphones
 * (POST /v1/agents/{id}/token) and checks on WS /ws?token=. A token is
 * "v1.<agent id, base64url>.<expiry, ms>.<MAC, base64url>": the MAC is
 * libsodium's crypto_auth (HMAC-SHA-512-256) over the first three parts,
 * keyed with a key derived from CALLSYNC_API_KEY, so every relay instance
 * accepts every other's tokens and a browser holding one learns no secret.
 * Pure functions: no clock, no I/O. */
#ifndef CS_TOKEN_H
#define CS_TOKEN_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define CS_TOKEN_LEN 256
#define CS_TOKEN_AGENT_LEN 64

typedef struct {
    unsigned char key[crypto_auth_KEYBYTES];
} cs_token_key_t;

/* Derives the MAC key from the API key (BLAKE2b, with its own context). */
void cs_token_key(cs_token_key_t *key, const char *api_key);

/* 0 with the token in out, -1 when the agent id is empty or too long. */
int cs_token_mint(const cs_token_key_t *key, const char *agent_id, int64_t expires_ms, char *out,
                  size_t outlen);

typedef enum {
    CS_TOKEN_OK,
    CS_TOKEN_MALFORMED, /* not four parts, bad base64, bad number, wrong version */
    CS_TOKEN_BAD_MAC,   /* not ours, or altered */
    CS_TOKEN_EXPIRED
} cs_token_result_t;

/* Checks a token at now_ms; on CS_TOKEN_OK the agent id is in agent. */
cs_token_result_t cs_token_verify(const cs_token_key_t *key, const char *token, int64_t now_ms,
                                  char agent[CS_TOKEN_AGENT_LEN]);

const char *cs_token_result_name(cs_token_result_t r);

#endif
