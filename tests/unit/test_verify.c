/* Webhook signatures, as Telnyx and its SDKs define them (reference §2.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "verify.h"

static unsigned char s_pk[32], s_sk[64], s_other_pk[32], s_other_sk[64];
static const char *s_body = "{\"data\":{\"event_type\":\"call.answered\"}}";
#define NOW 1764000000

static void s_sign(const unsigned char *sk, const char *ts, const char *body, char *out,
                   size_t size)
{
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "%s|%s", ts, body);
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (unsigned char *)msg, (unsigned long long)n, sk);
    sodium_bin2base64(out, size, sig, 64, sodium_base64_VARIANT_ORIGINAL);
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(s_pk, s_sk);
    crypto_sign_keypair(s_other_pk, s_other_sk);
    return 0;
}

static cs_verify_result_t s_check(const char *sig, const char *ts, const char *body)
{
    return cs_verify(s_pk, sig, ts, body, strlen(body), NOW, 300);
}

static void test_valid(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_sk, "1764000000", s_body, sig, sizeof sig);
    assert_int_equal(strlen(sig), 88);
    assert_int_equal(s_check(sig, "1764000000", s_body), CS_VERIFY_OK);
}

static void test_body_changed_by_one_byte(void **state)
{
    (void)state;
    char sig[128], body[256];
    s_sign(s_sk, "1764000000", s_body, sig, sizeof sig);
    snprintf(body, sizeof body, "%s", s_body);
    body[10] ^= 1;
    assert_int_equal(s_check(sig, "1764000000", body), CS_VERIFY_BAD);
    snprintf(body, sizeof body, "%s ", s_body); /* a trailing space */
    assert_int_equal(s_check(sig, "1764000000", body), CS_VERIFY_BAD);
}

static void test_other_key(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_other_sk, "1764000000", s_body, sig, sizeof sig);
    assert_int_equal(s_check(sig, "1764000000", s_body), CS_VERIFY_BAD);
}

static void test_signature_over_other_timestamp(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_sk, "1764000001", s_body, sig, sizeof sig);
    assert_int_equal(s_check(sig, "1764000000", s_body), CS_VERIFY_BAD);
}

static void test_missing_headers(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_sk, "1764000000", s_body, sig, sizeof sig);
    assert_int_equal(s_check(NULL, "1764000000", s_body), CS_VERIFY_MISSING);
    assert_int_equal(s_check(sig, NULL, s_body), CS_VERIFY_MISSING);
}

static void test_tolerance_edges(void **state)
{
    (void)state;
    const struct {
        long offset;
        cs_verify_result_t want;
    } cases[] = {
        {-299, CS_VERIFY_OK},
        {-300, CS_VERIFY_OK},
        {-301, CS_VERIFY_STALE},
        {299, CS_VERIFY_OK},
        {300, CS_VERIFY_OK},
        {301, CS_VERIFY_STALE},
        {86400 * 365, CS_VERIFY_STALE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ts[32], sig[128];
        snprintf(ts, sizeof ts, "%ld", NOW + cases[i].offset);
        s_sign(s_sk, ts, s_body, sig, sizeof sig);
        assert_int_equal(s_check(sig, ts, s_body), cases[i].want);
    }
}

static void test_milliseconds_timestamp(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_sk, "1764000000000", s_body, sig, sizeof sig);
    assert_int_equal(s_check(sig, "1764000000000", s_body), CS_VERIFY_MALFORMED);
    s_sign(s_sk, "176400000000", s_body, sig, sizeof sig); /* 12 digits: far future */
    assert_int_equal(s_check(sig, "176400000000", s_body), CS_VERIFY_STALE);
}

static void test_malformed(void **state)
{
    (void)state;
    char sig[128];
    s_sign(s_sk, "1764000000", s_body, sig, sizeof sig);
    assert_int_equal(s_check(sig, "", s_body), CS_VERIFY_MALFORMED);
    assert_int_equal(s_check(sig, "17640000x0", s_body), CS_VERIFY_MALFORMED);
    assert_int_equal(s_check(sig, "-1764000000", s_body), CS_VERIFY_MALFORMED);
    assert_int_equal(s_check("not base64!", "1764000000", s_body), CS_VERIFY_MALFORMED);
    assert_int_equal(s_check("AAAA", "1764000000", s_body), CS_VERIFY_MALFORMED);
    sig[87] = '\0'; /* padding removed */
    assert_int_equal(s_check(sig, "1764000000", s_body), CS_VERIFY_MALFORMED);
}

static void test_large_body(void **state)
{
    (void)state;
    static char body[3000], sig[128];
    memset(body, 'x', sizeof body - 1);
    s_sign(s_sk, "1764000000", body, sig, sizeof sig);
    assert_int_equal(s_check(sig, "1764000000", body), CS_VERIFY_OK);
}

static void test_key_parse(void **state)
{
    (void)state;
    char b64[64];
    unsigned char key[32];
    sodium_bin2base64(b64, sizeof b64, s_pk, 32, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(cs_verify_key_parse(b64, key), 0);
    assert_memory_equal(key, s_pk, 32);
    assert_int_equal(cs_verify_key_parse("AAAA", key), -1);
    assert_int_equal(cs_verify_key_parse("", key), -1);
    assert_int_equal(cs_verify_key_parse(NULL, key), -1);
    sodium_bin2base64(b64, sizeof b64, s_sk, 33, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(cs_verify_key_parse(b64, key), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_body_changed_by_one_byte),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_signature_over_other_timestamp),
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_tolerance_edges),
        cmocka_unit_test(test_milliseconds_timestamp),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_large_body),
        cmocka_unit_test(test_key_parse),
    };
    return cmocka_run_group_tests_name("verify", tests, setup, NULL);
}
