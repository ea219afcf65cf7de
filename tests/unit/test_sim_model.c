/* The sim's call model on a clock of our own: each scripted number's
 * timeline, transfer and bridge teardown, idempotency, and forgetting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define T0 1764000000000LL

static sim_model_t *s_m;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    s_m = sim_model_new("1001", "http://127.0.0.1:9/hooks", NULL);
    return s_m ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sim_model_destroy(&s_m);
    return 0;
}

/* Event types the outbox holds, as "a,b,c", for this leg (or all legs). */
static void s_types(json_t *outbox, const char *ccid, char *out, size_t size)
{
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(outbox, i, item)
    {
        json_t *ev = json_object_get(item, "event");
        const char *cc =
            json_string_value(json_object_get(json_object_get(ev, "payload"), "call_control_id"));
        if (ccid && (!cc || strcmp(cc, ccid) != 0))
            continue;
        strncat(out, json_string_value(json_object_get(ev, "event_type")), size - strlen(out) - 2);
        strncat(out, ",", size - strlen(out) - 1);
    }
}

static char *s_dial(const char *to, const char *extra, int64_t now)
{
    static char ccid[128];
    char text[512];
    snprintf(text, sizeof text,
             "{\"connection_id\":\"1001\",\"to\":\"%s\",\"from\":\"+15550009999\"%s}", to,
             extra ? extra : "");
    json_t *body = json_loads(text, 0, NULL), *data = NULL;
    sim_error_t err;
    assert_int_equal(sim_model_dial(s_m, body, now, &data, &err), 0);
    snprintf(ccid, sizeof ccid, "%s", json_string_value(json_object_get(data, "call_control_id")));
    json_decref(body);
    json_decref(data);
    return ccid;
}

/* Runs the clock from `from` to `to` in 50 ms steps; returns the outbox. */
static json_t *s_run(int64_t from, int64_t to)
{
    for (int64_t t = from; t <= to; t += 50)
        sim_model_tick(s_m, t);
    return sim_model_outbox(s_m);
}

static void test_timelines(void **state)
{
    (void)state;
    json_decref(sim_model_outbox(s_m));
    const struct {
        const char *to, *extra, *want;
        int64_t run_ms;
    } cases[] = {
        {"+15550100001", NULL, "call.initiated,call.answered,", 5000},
        {"+15550100002", NULL, "call.initiated,call.hangup,", 5000},
        {"+15550100003", ",\"timeout_secs\":5", "call.initiated,call.hangup,", 6000},
        {"+15550100004", NULL, "call.initiated,call.answered,call.hangup,", 5000},
        {"+15550100005", NULL, "call.initiated,call.hangup,", 5000},
        {"+15550100006", NULL, "call.initiated,call.answered,", 5000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = T0 + (int64_t)i * 100000;
        char ccid[128], got[256];
        snprintf(ccid, sizeof ccid, "%s", s_dial(cases[i].to, cases[i].extra, t));
        json_t *out = s_run(t, t + cases[i].run_ms);
        s_types(out, ccid, got, sizeof got);
        assert_string_equal(got, cases[i].want);
        json_decref(out);
    }
}

static void test_hangup_causes_and_90018(void **state)
{
    (void)state;
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_dial("+15550100003", NULL, T0));
    json_decref(s_run(T0, T0 + 500));
    json_t *data;
    sim_error_t err;
    json_t *empty = json_object();
    assert_int_equal(sim_model_action(s_m, ccid, "hangup", empty, T0 + 600, &data, &err), 0);
    json_decref(data);
    json_t *out = sim_model_outbox(s_m);
    json_t *p = json_object_get(json_object_get(json_array_get(out, 0), "event"), "payload");
    assert_string_equal(json_string_value(json_object_get(p, "hangup_cause")), "originator_cancel");
    assert_string_equal(json_string_value(json_object_get(p, "sip_hangup_cause")), "487");
    json_decref(out);
    assert_int_equal(sim_model_action(s_m, ccid, "hangup", empty, T0 + 700, &data, &err), -1);
    assert_string_equal(err.code, "90018");
    assert_int_equal(err.status, 422);
    assert_int_equal(sim_model_action(s_m, ccid, "teleport", empty, T0 + 700, &data, &err), -1);
    assert_int_equal(err.status, 404);
    json_decref(empty);
}

/* POST /sim/faults' refuse_actions: a named action is refused with 422
 * 10015 and changes nothing; the others still run; a bad list is refused
 * whole (not an array, a name the sim does not know, a number). */
static void test_refused_actions(void **state)
{
    (void)state;
    unsigned mask = 0;
    sim_error_t err;
    static const char *const bad[] = {
        "{\"refuse_actions\":\"bridge\"}",
        "{\"refuse_actions\":[\"bridge\",\"teleport\"]}",
        "{\"refuse_actions\":[7]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *b = json_loads(bad[i], 0, NULL);
        assert_int_equal(sim_model_refusals_parse(b, &mask, &err), -1);
        assert_int_equal(err.status, 422);
        assert_string_equal(err.pointer, "/refuse_actions");
        json_decref(b);
    }
    json_t *none = json_object();
    assert_int_equal(sim_model_refusals_parse(none, &mask, &err), 0);
    assert_int_equal(mask, 0);
    json_t *b = json_loads("{\"refuse_actions\":[\"bridge\",\"send_dtmf\"]}", 0, NULL);
    assert_int_equal(sim_model_refusals_parse(b, &mask, &err), 0);
    json_decref(b);
    sim_model_refuse(s_m, mask);

    char a[128], c[128];
    snprintf(a, sizeof a, "%s", s_dial("+15550100001", NULL, T0));
    snprintf(c, sizeof c, "%s", s_dial("+15550100001", NULL, T0));
    json_decref(s_run(T0, T0 + 2000)); /* both answered */
    json_t *data;
    json_t *bridge = json_pack("{s:s}", "call_control_id", c);
    assert_int_equal(sim_model_action(s_m, a, "bridge", bridge, T0 + 2100, &data, &err), -1);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.code, "10015");
    json_t *out = sim_model_outbox(s_m);
    assert_int_equal(json_array_size(out), 0); /* no call.bridged */
    json_decref(out);
    json_t *digits = json_pack("{s:s}", "digits", "1");
    assert_int_equal(sim_model_action(s_m, a, "send_dtmf", digits, T0 + 2100, &data, &err), -1);
    /* an action not named still runs */
    assert_int_equal(sim_model_action(s_m, a, "hangup", none, T0 + 2200, &data, &err), 0);
    json_decref(data);
    /* the next POST without the list lifts the refusals */
    assert_int_equal(sim_model_refusals_parse(none, &mask, &err), 0);
    sim_model_refuse(s_m, mask);
    assert_int_equal(sim_model_action(s_m, c, "send_dtmf", digits, T0 + 2300, &data, &err), 0);
    json_decref(data);
    assert_int_equal(sim_model_action(s_m, c, "hangup", none, T0 + 2400, &data, &err), 0);
    json_decref(data);
    json_decref(sim_model_outbox(s_m));
    json_decref(bridge);
    json_decref(digits);
    json_decref(none);
}

static void test_transfer_cancelled_with_its_leg(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"from\":\"+15557770001\",\"to\":\"+15550009999\"}", 0, NULL);
    json_t *data;
    sim_error_t err;
    assert_int_equal(sim_model_inbound(s_m, body, T0, &data, &err), 0);
    char in[128];
    snprintf(in, sizeof in, "%s", json_string_value(json_object_get(data, "call_control_id")));
    json_decref(data);
    json_decref(body);
    body = json_loads("{\"to\":\"+15550100003\"}", 0, NULL); /* never answers */
    assert_int_equal(sim_model_action(s_m, in, "transfer", body, T0 + 100, &data, &err), 0);
    json_decref(data);
    json_decref(body);
    json_decref(s_run(T0, T0 + 1000));
    body = json_object();
    assert_int_equal(sim_model_action(s_m, in, "hangup", body, T0 + 1100, &data, &err), 0);
    json_decref(data);
    json_decref(body);
    json_t *out = sim_model_outbox(s_m);
    char got[256];
    s_types(out, NULL, got, sizeof got);
    assert_string_equal(got, "call.hangup,call.hangup,"); /* the caller, then the ringing target */
    json_t *second = json_object_get(json_object_get(json_array_get(out, 1), "event"), "payload");
    assert_string_equal(json_string_value(json_object_get(second, "hangup_cause")),
                        "originator_cancel");
    json_decref(out);
}

static void test_status_forgotten_after_ten_minutes(void **state)
{
    (void)state;
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_dial("+15550100002", NULL, T0 + 5000000));
    json_decref(s_run(T0 + 5000000, T0 + 5001000));
    json_t *data;
    sim_error_t err;
    assert_int_equal(sim_model_status(s_m, ccid, T0 + 5002000, &data, &err), 0);
    assert_false(json_is_true(json_object_get(data, "is_alive")));
    json_decref(data);
    sim_model_tick(s_m, T0 + 5000000 + 9 * 60 * 1000);
    assert_int_equal(sim_model_status(s_m, ccid, T0 + 5000000 + 9 * 60 * 1000, &data, &err), 0);
    json_decref(data);
    sim_model_tick(s_m, T0 + 5000000 + 11 * 60 * 1000);
    assert_int_equal(sim_model_status(s_m, ccid, T0 + 5000000 + 11 * 60 * 1000, &data, &err), -1);
    assert_string_equal(err.code, "90015");
}

static void test_time_limit(void **state)
{
    (void)state;
    int64_t t = T0 + 9000000;
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_dial("+15550100001", ",\"time_limit_secs\":30", t));
    json_t *out = s_run(t, t + 32000);
    char got[256];
    s_types(out, ccid, got, sizeof got);
    assert_string_equal(got, "call.initiated,call.answered,call.hangup,");
    json_t *last = json_object_get(json_array_get(out, json_array_size(out) - 1), "event");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "payload"), "hangup_cause")),
        "time_limit");
    json_decref(out);
    json_t *body = json_loads("{\"connection_id\":\"1001\",\"to\":\"+15550100001\","
                              "\"from\":\"+15550009999\",\"time_limit_secs\":5}",
                              0, NULL),
           *data;
    sim_error_t err;
    assert_int_equal(sim_model_dial(s_m, body, t, &data, &err), -1);
    assert_string_equal(err.code, "10033");
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timelines),
        cmocka_unit_test(test_hangup_causes_and_90018),
        cmocka_unit_test(test_refused_actions),
        cmocka_unit_test(test_transfer_cancelled_with_its_leg),
        cmocka_unit_test(test_status_forgotten_after_ten_minutes),
        cmocka_unit_test(test_time_limit),
    };
    return cmocka_run_group_tests_name("sim_model", tests, setup, teardown);
}
