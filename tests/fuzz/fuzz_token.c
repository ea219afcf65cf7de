/* libFuzzer: any bytes as an agent token (the relay's ?token=). Only a
 * token minted with the key may verify, and a verified one names the agent
 * it was minted for. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_token_key_t key;
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        cs_token_key(&key, "fuzz-api-key");
        ready = 1;
    }
    char token[1024], agent[CS_TOKEN_AGENT_LEN];
    size_t n = size < sizeof token - 1 ? size : sizeof token - 1;
    memcpy(token, data, n);
    token[n] = '\0';
    if (cs_token_verify(&key, token, 1764000000000LL, agent) == CS_TOKEN_OK) {
        /* it verified: minting for that agent and expiry must give it back */
        char again[CS_TOKEN_LEN];
        const char *exp = strchr(token + 3, '.');
        if (!exp || cs_token_mint(&key, agent, strtoll(exp + 1, NULL, 10), again, sizeof again) ||
            strcmp(again, token) != 0)
            abort();
    }
    /* whatever the input, a token minted from it as an agent id verifies */
    if (n > 0 && n < CS_TOKEN_AGENT_LEN && !memchr(token, '\0', n)) {
        char minted[CS_TOKEN_LEN], back[CS_TOKEN_AGENT_LEN];
        if (cs_token_mint(&key, token, 1764000000001LL, minted, sizeof minted) == 0 &&
            (cs_token_verify(&key, minted, 1764000000000LL, back) != CS_TOKEN_OK ||
             strcmp(back, token) != 0))
            abort();
    }
    return 0;
}
