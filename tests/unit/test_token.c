/* The relay's agent tokens: round trip, expiry, tampering, other keys and
 * malformed input, each getting its own answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "token.h"

#define NOW 1764000000000LL

static void test_round_trip_and_expiry(void **state)
{
    (void)state;
    cs_token_key_t key;
    cs_token_key(&key, "crm-key");
    char tok[CS_TOKEN_LEN], agent[CS_TOKEN_AGENT_LEN];
    assert_int_equal(cs_token_mint(&key, "alice", NOW + 1000, tok, sizeof tok), 0);
    assert_int_equal(cs_token_verify(&key, tok, NOW, agent), CS_TOKEN_OK);
    assert_string_equal(agent, "alice");
    assert_int_equal(cs_token_verify(&key, tok, NOW + 1000, agent), CS_TOKEN_EXPIRED);
    assert_string_equal(agent, "");
    /* another deployment's key, or the bare API key itself, is not ours */
    cs_token_key_t other;
    cs_token_key(&other, "another-key");
    assert_int_equal(cs_token_verify(&other, tok, NOW, agent), CS_TOKEN_BAD_MAC);
    assert_int_equal(cs_token_mint(&key, "", NOW, tok, sizeof tok), -1);
}

static void test_tampered_and_malformed(void **state)
{
    (void)state;
    cs_token_key_t key;
    cs_token_key(&key, "crm-key");
    char tok[CS_TOKEN_LEN], agent[CS_TOKEN_AGENT_LEN], bad[CS_TOKEN_LEN];
    assert_int_equal(cs_token_mint(&key, "alice", NOW + 60000, tok, sizeof tok), 0);
    /* a later expiry or another agent, with the old MAC */
    char bob[CS_TOKEN_LEN];
    assert_int_equal(cs_token_mint(&key, "bob", NOW + 60000, bob, sizeof bob), 0);
    const char *mac = strrchr(tok, '.');
    const char *bob_mac = strrchr(bob, '.');
    snprintf(bad, sizeof bad, "%.*s%s", (int)(bob_mac - bob), bob, mac);
    assert_int_equal(cs_token_verify(&key, bad, NOW, agent), CS_TOKEN_BAD_MAC);
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 1] ^= 1;
    assert_int_equal(cs_token_verify(&key, bad, NOW, agent), CS_TOKEN_BAD_MAC);
    static const char *const malformed[] = {"",        "v1",         "v1.a.b", "v2.YWxpY2U.1.xx",
                                            "v1..1.x", "v1.a.b.c.d", NULL};
    for (int i = 0; malformed[i]; i++)
        assert_int_not_equal(cs_token_verify(&key, malformed[i], NOW, agent), CS_TOKEN_OK);
    char longer[600];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(cs_token_verify(&key, longer, NOW, agent), CS_TOKEN_MALFORMED);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_expiry),
        cmocka_unit_test(test_tampered_and_malformed),
    };
    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
