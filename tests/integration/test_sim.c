/* callsync-sim as Telnyx: the REST API's answers and errors, each scripted
 * number's webhooks, transfer and bridge, idempotency, delivery faults —
 * delivered, signed, to the real ingestor, whose records must come out
 * right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static h_env_t s_env;
static int s_ingest, s_sim;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&s_env) || h_ingestor(&s_env, &s_ingest) < 0)
        return -1;
    char hook[128];
    snprintf(hook, sizeof hook, "http://127.0.0.1:%d/webhooks/telnyx", s_ingest);
    return h_sim(&s_env, &s_sim, hook) < 0 ? -1 : 0;
}

static int s_teardown_failed;

static int teardown(void **state)
{
    (void)state;
    s_teardown_failed = h_cleanup(&s_env) != 0;
    return s_teardown_failed ? -1 : 0;
}

static const char *s_str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(null)";
}

/* Dials and returns the new call control id (static buffer per slot). */
static const char *s_dial(const char *to, const char *extra, int slot)
{
    static char ids[16][128];
    char body[512];
    snprintf(body, sizeof body,
             "{\"connection_id\":\"1001\",\"to\":\"%s\",\"from\":\"+15550009999\"%s%s}", to,
             extra ? "," : "", extra ? extra : "");
    json_t *resp = NULL;
    long status = h_sim_call(s_sim, "POST", "/v2/calls", body, &resp);
    if (status != 200)
        fail_msg("dial %s: %ld %s", to, status, json_dumps(resp, 0));
    json_t *data = json_object_get(resp, "data");
    assert_false(json_is_true(json_object_get(data, "is_alive")));
    assert_string_equal(s_str(data, "record_type"), "call");
    snprintf(ids[slot], sizeof ids[slot], "%s", s_str(data, "call_control_id"));
    assert_int_equal(strncmp(ids[slot], "v3:", 3), 0);
    json_decref(resp);
    return ids[slot];
}

static void s_expect_error(long status, json_t *resp, long want_status, const char *code)
{
    if (status != want_status)
        fail_msg("status %ld, wanted %ld: %s", status, want_status, json_dumps(resp, 0));
    json_t *e = json_array_get(json_object_get(resp, "errors"), 0);
    assert_string_equal(s_str(e, "code"), code);
    assert_true(strlen(s_str(e, "title")) > 0);
    json_decref(resp);
}

static json_t *s_record(const char *ccid)
{
    const char *args[] = {"call", ccid, NULL};
    json_t *rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    return rec;
}

static void test_auth_and_validation(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/calls", s_sim);
    const char *wrong[] = {"Authorization: Bearer not-the-key", NULL};
    assert_int_equal(h_http("POST", url, wrong, "{}", 2, NULL), 401);
    assert_int_equal(h_http("POST", url, NULL, "{}", 2, NULL), 401);
    json_t *r;
    long st;
    st = h_sim_call(s_sim, "POST", "/v2/calls",
                    "{\"connection_id\":\"1001\",\"from\":\"+15550009999\"}", &r);
    s_expect_error(st, r, 422, "10004");
    st = h_sim_call(s_sim, "POST", "/v2/calls",
                    "{\"connection_id\":\"1001\",\"to\":\"+15550100001\",\"from\":\"5550009999\"}",
                    &r);
    s_expect_error(st, r, 422, "10016");
    st = h_sim_call(s_sim, "POST", "/v2/calls",
                    "{\"connection_id\":\"42\",\"to\":\"+15550100001\",\"from\":\"+15550009999\"}",
                    &r);
    s_expect_error(st, r, 422, "10015");
    st = h_sim_call(s_sim, "POST", "/v2/calls",
                    "{\"connection_id\":\"1001\",\"to\":\"+15550100001\",\"from\":\"+15550009999\","
                    "\"timeout_secs\":2}",
                    &r);
    s_expect_error(st, r, 422, "10033");
    st = h_sim_call(s_sim, "POST", "/v2/calls",
                    "{\"connection_id\":\"1001\",\"to\":\"+15550100001\",\"from\":\"+15550009999\","
                    "\"client_state\":\"not base64!\"}",
                    &r);
    s_expect_error(st, r, 422, "10015");
    st = h_sim_call(s_sim, "POST", "/v2/calls", "{not json", &r);
    s_expect_error(st, r, 400, "10015");
    st = h_sim_call(s_sim, "POST", "/v2/calls/v3:nope/actions/hangup", "{}", &r);
    s_expect_error(st, r, 422, "90015");
    st = h_sim_call(s_sim, "GET", "/v2/nothing", NULL, &r);
    s_expect_error(st, r, 404, "10005");
}

/* Every scripted number at once; each must produce Telnyx's sequence and
 * the ingestor's record must say what happened. */
static void test_scripted_numbers(void **state)
{
    (void)state;
    const char *c1 = s_dial("+15550100001", NULL, 1);
    const char *c2 = s_dial("+15550100002", NULL, 2);
    const char *c3 = s_dial("+15550100003", "\"timeout_secs\":5", 3);
    const char *c4 = s_dial("+15550100004", NULL, 4);
    const char *c5 = s_dial("+15550100005", NULL, 5);
    const char *c6 = s_dial("+15550100006", NULL, 6);

    assert_int_equal(h_sim_wait_event(s_sim, c2, "call.hangup", 1, 3000), 1);
    json_t *rec = s_record(c2);
    assert_string_equal(s_str(rec, "hangup_cause"), "user_busy");
    assert_string_equal(s_str(rec, "sip_code"), "486");
    assert_true(json_is_null(json_object_get(rec, "answered_at")));
    json_decref(rec);

    assert_int_equal(h_sim_wait_event(s_sim, c5, "call.hangup", 1, 3000), 1);
    rec = s_record(c5);
    assert_string_equal(s_str(rec, "hangup_cause"), "call_rejected");
    assert_string_equal(s_str(rec, "sip_code"), "603");
    json_decref(rec);

    assert_int_equal(h_sim_wait_event(s_sim, c1, "call.answered", 1, 3000), 1);
    assert_int_equal(h_sim_wait_event(s_sim, c6, "call.answered", 1, 3000), 1);
    rec = s_record(c6);
    assert_string_equal(s_str(rec, "state"), "active");
    double ring = json_real_value(json_object_get(rec, "ring_seconds"));
    assert_true(ring >= 0.95 && ring <= 1.5);
    json_decref(rec);

    /* +1: hung up by us, through the API; a second hangup finds it ended */
    json_t *r;
    char path[256];
    snprintf(path, sizeof path, "/v2/calls/%s/actions/hangup", c1);
    assert_int_equal(h_sim_call(s_sim, "POST", path, "{\"command_id\":\"h1\"}", &r), 200);
    assert_string_equal(s_str(json_object_get(r, "data"), "result"), "ok");
    json_decref(r);
    assert_int_equal(h_sim_call(s_sim, "POST", path, "{\"command_id\":\"h1\"}", &r), 200);
    json_decref(r); /* the same command_id: the same answer, nothing done */
    long st = h_sim_call(s_sim, "POST", path, "{}", &r);
    s_expect_error(st, r, 422, "90018");
    assert_int_equal(h_sim_wait_event(s_sim, c1, "call.hangup", 1, 3000), 1);
    rec = s_record(c1);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    json_decref(rec);

    /* +4: answers after 1 s, the callee hangs up 3 s later */
    assert_int_equal(h_sim_wait_event(s_sim, c4, "call.hangup", 1, 6000), 1);
    rec = s_record(c4);
    assert_string_equal(s_str(rec, "hangup_source"), "callee");
    double talk = json_real_value(json_object_get(rec, "talk_seconds"));
    assert_true(talk >= 2.95 && talk <= 3.2);
    json_decref(rec);

    /* +3: never answers; the dial's timeout_secs ends it */
    assert_int_equal(h_sim_wait_event(s_sim, c3, "call.hangup", 1, 7000), 1);
    rec = s_record(c3);
    assert_string_equal(s_str(rec, "hangup_cause"), "timeout");
    json_decref(rec);

    /* GET status of an ended call */
    snprintf(path, sizeof path, "/v2/calls/%s", c3);
    assert_int_equal(h_sim_call(s_sim, "GET", path, NULL, &r), 200);
    assert_false(json_is_true(json_object_get(json_object_get(r, "data"), "is_alive")));
    assert_non_null(json_object_get(json_object_get(r, "data"), "end_time"));
    json_decref(r);
}

static void test_dial_idempotent(void **state)
{
    (void)state;
    const char *a = s_dial("+15550100001", "\"command_id\":\"same-dial\"", 7);
    const char *b = s_dial("+15550100001", "\"command_id\":\"same-dial\"", 8);
    assert_string_equal(a, b);
    char path[256];
    snprintf(path, sizeof path, "/v2/calls/%s/actions/hangup", a);
    json_t *r;
    assert_int_equal(h_sim_call(s_sim, "POST", path, "{}", &r), 200);
    json_decref(r);
}

/* An inbound call, parked, transferred to an agent's SIP URI: the new leg
 * shares the session, and the answer bridges both. */
static void test_inbound_transfer(void **state)
{
    (void)state;
    json_t *r;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/calls",
                                "{\"from\":\"+15557770001\",\"to\":\"+15550009999\"}", &r),
                     200);
    char in[128], path[256];
    snprintf(in, sizeof in, "%s", s_str(json_object_get(r, "data"), "call_control_id"));
    json_decref(r);
    assert_int_equal(h_sim_wait_event(s_sim, in, "call.initiated", 1, 3000), 1);
    snprintf(path, sizeof path, "/v2/calls/%s/actions/transfer", in);
    assert_int_equal(h_sim_call(s_sim, "POST", path,
                                "{\"to\":\"sip:agent1@sip.telnyx.com\",\"command_id\":\"t1\"}", &r),
                     200);
    json_decref(r);
    assert_int_equal(h_sim_wait_event(s_sim, in, "call.bridged", 1, 4000), 1);
    /* the sim's own view of the leg, for tests */
    snprintf(path, sizeof path, "/sim/calls/%s", in);
    assert_int_equal(h_sim_call(s_sim, "GET", path, NULL, &r), 200);
    json_t *leg = json_object_get(r, "data");
    assert_string_equal(s_str(leg, "state"), "bridged");
    assert_string_equal(s_str(leg, "direction"), "incoming");
    assert_true(json_is_true(json_object_get(leg, "is_alive")));
    assert_true(json_is_string(json_object_get(leg, "bridged_with")));
    json_decref(r);
    assert_int_equal(h_sim_call(s_sim, "GET", "/sim/calls/v3:none", NULL, &r), 404);
    json_decref(r);
    json_t *rec = s_record(in);
    assert_string_equal(s_str(rec, "direction"), "inbound");
    assert_string_equal(s_str(rec, "state"), "active");
    assert_string_equal(s_str(rec, "from"), "+15557770001");
    json_t *legs = json_object_get(rec, "legs");
    assert_int_equal(json_array_size(legs), 2);
    assert_string_equal(s_str(json_array_get(legs, 0), "call_session_id"),
                        s_str(json_array_get(legs, 1), "call_session_id"));
    json_decref(rec);
    /* the caller hangs up: both legs end */
    snprintf(path, sizeof path, "/v2/calls/%s/actions/hangup", in);
    assert_int_equal(h_sim_call(s_sim, "POST", path, "{}", &r), 200);
    json_decref(r);
    assert_int_equal(h_sim_wait_event(s_sim, in, "call.hangup", 1, 3000), 1);
    rec = s_record(in);
    assert_string_equal(s_str(rec, "state"), "ended");
    legs = json_object_get(rec, "legs");
    for (size_t i = 0; i < 2; i++)
        if (json_is_null(json_object_get(json_array_get(legs, i), "ended_at"))) {
            /* the agent leg's hangup may still be on its way */
            assert_int_equal(h_sim_wait_event(s_sim,
                                              s_str(json_array_get(legs, i), "call_control_id"),
                                              "call.hangup", 1, 3000),
                             1);
        }
    json_decref(rec);
}

/* Duplicates, reordering and lost first attempts change nothing. */
static void test_faults(void **state)
{
    (void)state;
    json_t *r;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults",
                                "{\"duplicate_rate\":1.0,\"reorder_ms\":300,"
                                "\"fail_first_attempts\":1}",
                                &r),
                     200);
    json_decref(r);
    const char *c = s_dial("+15550100004", NULL, 9);
    assert_true(h_sim_wait_event(s_sim, c, "call.hangup", 2, 8000) == 2); /* delivered twice */
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{}", &r), 200);
    json_decref(r);
    char path[256];
    snprintf(path, sizeof path, "/sim/deliveries?call_control_id=%s", c);
    assert_int_equal(h_sim_call(s_sim, "GET", path, NULL, &r), 200);
    int dropped = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r, "data"), i, e)
    {
        if (strcmp(s_str(e, "outcome"), "dropped_by_fault") == 0)
            dropped++;
        if (strcmp(s_str(e, "outcome"), "delivered") == 0)
            assert_int_equal(json_integer_value(json_object_get(e, "attempt")), 2);
    }
    assert_int_equal(dropped, 6); /* 3 events x 2 copies, each lost once */
    json_decref(r);
    json_t *rec = s_record(c);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_int_equal(json_integer_value(json_object_get(rec, "version")), 3);
    double talk = json_real_value(json_object_get(rec, "talk_seconds"));
    assert_true(talk >= 2.95 && talk <= 3.2);
    json_decref(rec);
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{\"duplicate_rate\":2}", &r), 422);
    json_decref(r);

    /* delay_ms holds every webhook back */
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{\"delay_ms\":700}", &r), 200);
    json_decref(r);
    int64_t t0 = h_now_ms();
    const char *d = s_dial("+15550100002", NULL, 10);
    assert_int_equal(h_sim_wait_event(s_sim, d, "call.initiated", 1, 3000), 1);
    assert_true(h_now_ms() - t0 >= 700);
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{}", &r), 200);
    json_decref(r);
}

/* A primary URL that refuses connections: 5 attempts, then the failover. */
static void test_failover(void **state)
{
    (void)state;
    int port = 0, dead = h_free_port();
    unsigned char seed[32];
    char seed64[64], e_hook[128], e_fail[128], e_seed[128];
    crypto_sign_ed25519_sk_to_seed(seed, s_env.sk);
    sodium_bin2base64(seed64, sizeof seed64, seed, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(e_hook, sizeof e_hook, "CALLSYNC_SIM_WEBHOOK_URL=http://127.0.0.1:%d/", dead);
    snprintf(e_fail, sizeof e_fail, "CALLSYNC_SIM_FAILOVER_URL=http://127.0.0.1:%d/webhooks/telnyx",
             s_ingest);
    snprintf(e_seed, sizeof e_seed, "CALLSYNC_SIM_SIGNING_SEED=%s", seed64);
    const char *extra[] = {e_hook, e_fail, e_seed, NULL};
    assert_true(h_listener(&s_env, "sim", "CALLSYNC_SIM_PORT", extra, &port) > 0);
    json_t *r;
    assert_int_equal(h_sim_call(port, "POST", "/sim/calls",
                                "{\"from\":\"+15557770009\",\"to\":\"+15550009999\"}", &r),
                     200);
    char cc[128];
    snprintf(cc, sizeof cc, "%s", s_str(json_object_get(r, "data"), "call_control_id"));
    json_decref(r);
    assert_int_equal(h_sim_wait_event(port, cc, "call.initiated", 1, 8000), 1);
    char path[256];
    snprintf(path, sizeof path, "/sim/deliveries?call_control_id=%s", cc);
    assert_int_equal(h_sim_call(port, "GET", path, NULL, &r), 200);
    json_t *log = json_object_get(r, "data");
    /* attempts 1-4 are retried, the 5th fails over, the 6th (to the failover) lands */
    assert_int_equal(json_array_size(log), 6);
    assert_string_equal(s_str(json_array_get(log, 0), "outcome"), "retry_no_response");
    assert_string_equal(s_str(json_array_get(log, 4), "outcome"), "failover");
    json_t *last = json_array_get(log, 5);
    assert_string_equal(s_str(last, "outcome"), "delivered");
    assert_int_equal(json_integer_value(json_object_get(last, "attempt")), 6);
    assert_non_null(strstr(s_str(last, "url"), "/webhooks/telnyx"));
    json_decref(r);
    json_t *rec = s_record(cc);
    assert_string_equal(s_str(rec, "direction"), "inbound");
    json_decref(rec);
}

static void test_public_key(void **state)
{
    (void)state;
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sim/public-key", s_sim);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    assert_string_equal(body, s_env.pk_b64);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_and_validation),
        cmocka_unit_test(test_scripted_numbers),
        cmocka_unit_test(test_dial_idempotent),
        cmocka_unit_test(test_inbound_transfer),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_public_key),
    };
    int failed = cmocka_run_group_tests_name("sim", tests, setup, teardown);
    /* cmocka reports a failed teardown but does not count it: we do, since
     * that is where a service's sanitizer report is found */
    return failed || s_teardown_failed;
}
