/* Telnyx v2 envelopes: the reference's payload examples map to the right
 * facts; everything that is not a v2 event is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

static char *s_fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s.json", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static cs_event_t s_parse_ok(const char *body)
{
    cs_event_t ev;
    char err[256] = "";
    int rc = cs_webhook_parse(body, strlen(body), &ev, err, sizeof err);
    if (rc)
        fail_msg("refused: %s", err);
    return ev;
}

static void test_inbound_initiated(void **state)
{
    (void)state;
    cs_event_t ev = s_parse_ok(s_fixture("call.initiated.inbound"));
    assert_int_equal(ev.kind, CS_EV_INITIATED);
    assert_int_equal(ev.clock, CS_CLOCK_PROVIDER);
    assert_int_equal(ev.at, 1763868600076);
    assert_string_equal(ev.id, "b97d4d5e-6fe7-4432-911f-79637bf6ebb7");
    assert_string_equal(ev.ccid, "v3:2EC-70CTEjlUq3tDM0CxKXIt5-5N4iP4wo7_-PfH-qub97Sk4EqO5w");
    assert_string_equal(ev.direction, "incoming");
    assert_string_equal(ev.role, "customer");
    assert_int_equal(ev.role_rank, 1);
    assert_string_equal(ev.from, "+18124040851");
    assert_string_equal(ev.cs_hint, "");
}

static void test_webrtc_leg_is_agent(void **state)
{
    (void)state;
    cs_event_t ev = s_parse_ok(s_fixture("call.initiated.webrtc"));
    assert_string_equal(ev.role, "agent");
    assert_string_equal(ev.direction, "outgoing");
}

static void test_answered_foreign_client_state(void **state)
{
    (void)state;
    /* client_state {"crmCallId":"42"} is someone else's: ignored, not refused */
    cs_event_t ev = s_parse_ok(s_fixture("call.answered"));
    assert_int_equal(ev.kind, CS_EV_ANSWERED);
    assert_string_equal(ev.cs_hint, "");
}

static void test_hangup(void **state)
{
    (void)state;
    cs_event_t ev = s_parse_ok(s_fixture("call.hangup"));
    assert_int_equal(ev.kind, CS_EV_HANGUP);
    assert_string_equal(ev.hangup_cause, "normal_clearing");
    assert_string_equal(ev.hangup_source, "caller");
    assert_string_equal(ev.sip_code, "503");
}

static void test_recording_without_control_id(void **state)
{
    (void)state;
    cs_event_t ev = s_parse_ok(s_fixture("call.recording.saved"));
    assert_int_equal(ev.kind, CS_EV_RECORDING_SAVED);
    assert_string_equal(ev.ccid, "");
    assert_string_equal(ev.value, "http://example.com/recording.mp3");
}

static void test_machine_and_unknown(void **state)
{
    (void)state;
    cs_event_t ev = s_parse_ok(s_fixture("call.machine.detection.ended"));
    assert_int_equal(ev.kind, CS_EV_MACHINE);
    assert_string_equal(ev.value, "machine");
    ev = s_parse_ok(s_fixture("call.playback.started"));
    assert_int_equal(ev.kind, CS_EV_UNKNOWN);
    assert_string_equal(ev.type, "call.playback.started");
}

static void test_our_client_state(void **state)
{
    (void)state;
    const char *cs = "{\"cs\":\"cs_01JABCDEF\",\"role\":\"agent\",\"agent\":\"a-7\"}";
    char b64[256], body[1024];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)cs, strlen(cs),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body,
             "{\"data\":{\"event_type\":\"call.initiated\",\"id\":\"e1\",\"occurred_at\":"
             "\"2025-11-23T03:30:00Z\",\"record_type\":\"event\",\"payload\":{\"call_control_"
             "id\":\"v3:x\",\"client_state\":\"%s\",\"to\":\"+15550100001\"}}}",
             b64);
    cs_event_t ev = s_parse_ok(body);
    assert_string_equal(ev.cs_hint, "cs_01JABCDEF");
    assert_string_equal(ev.role, "agent");
    assert_int_equal(ev.role_rank, 2);
    assert_string_equal(ev.agent_id, "a-7");
}

/* Each role of call.h is taken from our client_state; any other is not
 * (the leg's role is then inferred, rank 1). */
static void test_client_state_roles(void **state)
{
    (void)state;
    const struct {
        const char *role;
        int rank;
    } cases[] = {{"agent", 2},     {"customer", 2}, {"transfer", 2}, {"consult", 2},
                 {"consulted", 2}, {"boss", 0},     {"", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cs[128], b64[256];
        snprintf(cs, sizeof cs, "{\"cs\":\"cs_01JABCDEF\",\"role\":\"%s\"}", cases[i].role);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)cs, strlen(cs),
                          sodium_base64_VARIANT_ORIGINAL);
        cs_event_t ev;
        memset(&ev, 0, sizeof ev);
        cs_webhook_client_state(b64, &ev);
        assert_int_equal(ev.role_rank, cases[i].rank);
        assert_string_equal(ev.role, cases[i].rank ? cases[i].role : "");
        assert_string_equal(ev.cs_hint, "cs_01JABCDEF");
    }
}

static void test_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"event_type\":\"call_answered\",\"created_at\":\"x\"}", /* a v1 flat event */
        "{\"data\":[]}",
        "{\"data\":{\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:30:00Z\",\"record_type\":"
        "\"event\",\"payload\":{}}}",
        "{\"data\":{\"event_type\":\"Call Answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"event\",\"payload\":{}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"occurred_at\":\"2025-11-23T03:30:00Z\","
        "\"record_type\":\"event\",\"payload\":{\"call_control_id\":\"v3:x\"}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"yesterday\","
        "\"record_type\":\"event\",\"payload\":{\"call_control_id\":\"v3:x\"}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"call\",\"payload\":{\"call_control_id\":\"v3:x\"}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"event\",\"payload\":\"x\"}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"event\",\"payload\":{}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"event\",\"payload\":{\"call_control_id\":7}}}",
        "{\"data\":{\"event_type\":\"call.initiated\",\"id\":\"1\",\"occurred_at\":\"2025-11-23T03:"
        "30:00Z\",\"record_type\":\"event\",\"payload\":{\"call_control_id\":\"v3:x\","
        "\"direction\":\"sideways\"}}}",
        "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"id\":\"2\",\"occurred_at\":"
        "\"2025-11-23T03:30:00Z\",\"record_type\":\"event\",\"payload\":{\"call_control_id\":"
        "\"v3:x\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cs_event_t ev;
        char err[256] = "";
        if (cs_webhook_parse(bad[i], strlen(bad[i]), &ev, err, sizeof err) != -1)
            fail_msg("accepted bad body %zu: %s", i, bad[i]);
        assert_true(strlen(err) > 0);
    }
    /* an oversized field is refused, not truncated */
    char body[2048], big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(body, sizeof body,
             "{\"data\":{\"event_type\":\"call.answered\",\"id\":\"1\",\"occurred_at\":\"2025-11-"
             "23T03:30:00Z\",\"record_type\":\"event\",\"payload\":{\"call_control_id\":\"%s\"}}}",
             big);
    cs_event_t ev;
    char err[256];
    assert_int_equal(cs_webhook_parse(body, strlen(body), &ev, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_initiated),
        cmocka_unit_test(test_webrtc_leg_is_agent),
        cmocka_unit_test(test_answered_foreign_client_state),
        cmocka_unit_test(test_hangup),
        cmocka_unit_test(test_recording_without_control_id),
        cmocka_unit_test(test_machine_and_unknown),
        cmocka_unit_test(test_our_client_state),
        cmocka_unit_test(test_client_state_roles),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
