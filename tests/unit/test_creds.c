/* The sim's credentials and login tokens: what logs in and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

#define NOW 1764000000000LL

static json_t *s_create(sim_creds_t *c, const char *body_text)
{
    json_t *body = json_loads(body_text, 0, NULL), *data = NULL;
    sim_error_t err;
    assert_int_equal(sim_creds_create(c, body, NOW, &data, &err), 0);
    json_decref(body);
    return data;
}

static void test_token_login(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    sim_creds_t *c = sim_creds_new("1001");
    json_t *cred = s_create(c, "{\"connection_id\":\"1001\"}");
    const char *id = json_string_value(json_object_get(cred, "id"));
    const char *user = json_string_value(json_object_get(cred, "sip_username"));
    char *token = NULL, who[64];
    sim_error_t err;
    assert_int_equal(sim_creds_token(c, id, NOW, &token, &err), 0);
    assert_int_equal(sim_creds_login_token(c, token, NOW + 1000, who, sizeof who), 0);
    assert_string_equal(who, user);
    /* 24 h later it is refused */
    assert_int_equal(
        sim_creds_login_token(c, token, NOW + 24LL * 3600 * 1000 + 1000, who, sizeof who), -1);
    /* one changed character in the payload breaks the signature */
    char *dot = strchr(token, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(sim_creds_login_token(c, token, NOW, who, sizeof who), -1);
    assert_int_equal(sim_creds_login_token(c, "not.a.jwt", NOW, who, sizeof who), -1);
    assert_int_equal(sim_creds_login_token(c, NULL, NOW, who, sizeof who), -1);
    free(token);
    /* another sim's token (another secret) is refused */
    sim_creds_t *other = sim_creds_new("1001");
    json_t *ocred = s_create(other, "{\"connection_id\":\"1001\"}");
    assert_int_equal(
        sim_creds_token(other, json_string_value(json_object_get(ocred, "id")), NOW, &token, &err),
        0);
    assert_int_equal(sim_creds_login_token(c, token, NOW, who, sizeof who), -1);
    free(token);
    json_decref(ocred);
    sim_creds_destroy(&other);
    json_decref(cred);
    sim_creds_destroy(&c);
    assert_null(c);
}

static void test_password_login_and_refusals(void **state)
{
    (void)state;
    sim_creds_t *c = sim_creds_new("1001");
    json_t *cred =
        s_create(c, "{\"connection_id\":\"1001\",\"expires_at\":\"2025-11-24T16:10:00Z\"}");
    const char *user = json_string_value(json_object_get(cred, "sip_username"));
    const char *pass = json_string_value(json_object_get(cred, "sip_password"));
    char who[64];
    assert_int_equal(sim_creds_login_password(c, user, pass, NOW, who, sizeof who), 0);
    assert_int_equal(sim_creds_login_password(c, user, "wrong", NOW, who, sizeof who), -1);
    assert_int_equal(sim_creds_login_password(c, "nobody", pass, NOW, who, sizeof who), -1);
    /* after the credential's expiry nothing logs in, and no token is made */
    int64_t later = NOW + 11 * 60 * 1000;
    assert_int_equal(sim_creds_login_password(c, user, pass, later, who, sizeof who), -1);
    char *token;
    sim_error_t err;
    assert_int_equal(
        sim_creds_token(c, json_string_value(json_object_get(cred, "id")), later, &token, &err),
        -1);
    assert_int_equal(err.status, 422);
    assert_int_equal(sim_creds_token(c, "no-such-id", NOW, &token, &err), -1);
    assert_int_equal(err.status, 404);
    json_t *bad = json_loads("{\"connection_id\":\"7\"}", 0, NULL), *data;
    assert_int_equal(sim_creds_create(c, bad, NOW, &data, &err), -1);
    assert_string_equal(err.code, "10015");
    json_decref(bad);
    bad = json_loads("{}", 0, NULL);
    assert_int_equal(sim_creds_create(c, bad, NOW, &data, &err), -1);
    assert_string_equal(err.code, "10004");
    json_decref(bad);
    json_decref(cred);
    sim_creds_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_login),
        cmocka_unit_test(test_password_login_and_refusals),
    };
    return cmocka_run_group_tests_name("creds", tests, NULL, NULL);
}
