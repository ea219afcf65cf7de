/* The relay's socket messages (wsmsg.c): what each kind of bad input gets
 * back, and what a good message decodes to. Table-driven: one row per
 * message, the reason it is refused (NULL: accepted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "wsmsg.h"

#define NOW 1764000000000LL

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } rows[] = {
        {"", "a message is a JSON object with a type"},
        {"not json", "a message is a JSON object with a type"},
        {"[\"dial\"]", "a message is a JSON object with a type"},
        {"{\"type\":7}", "a message is a JSON object with a type"},
        {"{\"call\":\"cs_1\"}", "a message is a JSON object with a type"},
        {"{\"type\":\"dial\",\"type\":\"hangup\",\"call\":\"x\"}",
         "a message is a JSON object with a type"}, /* a duplicate key is not one message */
        {"{\"type\":\"reboot\"}", "unknown message type"},
        {"{\"type\":\"dial\"}", "dial needs to: a +E.164 number"},
        {"{\"type\":\"dial\",\"to\":\"15550100001\"}", "dial needs to: a +E.164 number"},
        {"{\"type\":\"dial\",\"to\":\"+05550100001\"}", "dial needs to: a +E.164 number"},
        {"{\"type\":\"dial\",\"to\":\"+1555010000123456\"}", "dial needs to: a +E.164 number"},
        {"{\"type\":\"dial\",\"to\":\"+1555\\u00000100\"}", /* NUL in a string: not parsed */
         "a message is a JSON object with a type"},
        {"{\"type\":\"hangup\"}", "hangup needs call: a call id"},
        {"{\"type\":\"hangup\",\"call\":\"\"}", "hangup needs call: a call id"},
        {"{\"type\":\"hangup\",\"call\":42}", "hangup needs call: a call id"},
        {"{\"type\":\"hangup\",\"call\":\"cs_1\",\"leg\":1}",
         "hangup of a leg needs call and leg (a call_control_id)"},
        {"{\"type\":\"get\"}", "this message needs call: a call id"},
        {"{\"type\":\"answer\",\"call\":null}", "this message needs call: a call id"},
        {"{\"type\":\"decline\",\"call\":[]}", "this message needs call: a call id"},
        {"{\"type\":\"complete\"}", "this message needs call: a call id"},
        {"{\"type\":\"calls\"}", "calls needs since: ms since the epoch, within the last 7 days"},
        {"{\"type\":\"calls\",\"since\":1}",
         "calls needs since: ms since the epoch, within the last 7 days"},
        {"{\"type\":\"calls\",\"since\":1764000060000}",
         "calls needs since: ms since the epoch, within the last 7 days"},
        {"{\"type\":\"contact\",\"number\":\"alice\"}", "contact needs number: a +E.164 number"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1764000000000}",
         "sdk needs call, at (ms) and one of state or event"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1764000000000,\"state\":\"active\","
         "\"event\":\"first_audio\"}",
         "sdk needs call, at (ms) and one of state or event"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":\"now\",\"state\":\"active\"}",
         "sdk needs call, at (ms) and one of state or event"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1763000000000,\"state\":\"active\"}",
         "sdk: at is not a time of this call"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1764000000000,\"state\":\"ringing!\"}",
         "sdk: not a state of the SDK's calls"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1764000000000,\"event\":\"dtmf\"}",
         "sdk: event is media_connected or first_audio"},
        {"{\"type\":\"sdk\",\"call\":\"cs_1\",\"at\":1764000000000,\"state\":\"new\",\"leg\":{}}",
         "sdk: leg is a call_control_id"},
        {"{\"type\":\"wrapup\",\"call\":\"cs_1\"}",
         "wrapup needs call and a disposition of 1 to 63 characters"},
        {"{\"type\":\"wrapup\",\"call\":\"cs_1\",\"disposition\":\"sale\",\"notes\":5}",
         "wrapup notes: a string of 500 characters at most"},
        {"{\"type\":\"transfer\",\"call\":\"cs_1\"}",
         "a transfer needs to: a +E.164 number or an agent id"},
        {"{\"type\":\"consult\",\"to\":\"bob\"}", "a transfer needs call: a call id"},
        {"{\"type\":\"transfer\",\"call\":\"cs_1\",\"to\":\"+1\"}",
         "to: a +E.164 number like +15550100001, or an agent id"},
        {"{\"type\":\"presence\",\"status\":\"busy\"}", "presence status: available or offline"},
        {"{\"type\":\"presence\",\"status\":\"\"}", "presence status: available or offline"},
        {"{\"type\":\"presence\",\"status\":false}", "presence status: available or offline"},
        {"{\"type\":\"presence\",\"status\":\"availableeeeeeeeeee\"}",
         "presence status: available or offline"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cs_wsmsg_t m;
        const char *why = cs_wsmsg_decode(rows[i].text, strlen(rows[i].text), NOW, &m);
        if (!why || strcmp(why, rows[i].why) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", rows[i].text, why ? why : "(accepted)",
                     rows[i].why);
    }
}

/* Strings longer than their fields are refused, not cut: a cut control id
 * could name another leg. */
static void test_overlong_fields(void **state)
{
    (void)state;
    char text[8192], big[CS_CCID_LEN + 2], notes[CS_WSMSG_NOTES_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memset(notes, 'n', sizeof notes - 1);
    notes[sizeof notes - 1] = '\0';
    cs_wsmsg_t m;
    snprintf(text, sizeof text, "{\"type\":\"hangup\",\"call\":\"%s\"}", big);
    assert_string_equal(cs_wsmsg_decode(text, strlen(text), NOW, &m),
                        "hangup needs call: a call id");
    snprintf(text, sizeof text, "{\"type\":\"hangup\",\"call\":\"cs_1\",\"leg\":\"%s\"}", big);
    assert_non_null(cs_wsmsg_decode(text, strlen(text), NOW, &m));
    snprintf(text, sizeof text,
             "{\"type\":\"wrapup\",\"call\":\"cs_1\",\"disposition\":\"sale\",\"notes\":\"%s\"}",
             notes);
    assert_string_equal(cs_wsmsg_decode(text, strlen(text), NOW, &m),
                        "wrapup notes: a string of 500 characters at most");
    notes[CS_WSMSG_NOTES_MAX] = '\0'; /* exactly 500 fit */
    snprintf(text, sizeof text,
             "{\"type\":\"wrapup\",\"call\":\"cs_1\",\"disposition\":\"sale\",\"notes\":\"%s\"}",
             notes);
    assert_null(cs_wsmsg_decode(text, strlen(text), NOW, &m));
    assert_int_equal(strlen(m.notes), CS_WSMSG_NOTES_MAX);
    snprintf(text, sizeof text, "{\"type\":\"transfer\",\"call\":\"cs_1\",\"to\":\"%.70s\"}", big);
    assert_string_equal(cs_wsmsg_decode(text, strlen(text), NOW, &m),
                        "a transfer needs to: a +E.164 number or an agent id");
}

static void test_accepted(void **state)
{
    (void)state;
    cs_wsmsg_t m;
    const char *t = "{\"type\":\"sdk\",\"call\":\"cs_01J\",\"at\":1764000000123.7,"
                    "\"event\":\"first_audio\",\"leg\":\"v3:abc\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.type, CS_WS_SDK);
    assert_int_equal(m.sdk_kind, CS_EV_FIRST_AUDIO);
    assert_int_equal(m.at, 1764000000123LL);
    assert_string_equal(m.call, "cs_01J");
    assert_string_equal(m.leg, "v3:abc");
    assert_string_equal(m.state, "");

    t = "{\"type\":\"sdk\",\"call\":\"cs_01J\",\"at\":1764000000000,\"state\":\"early\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.sdk_kind, CS_EV_SDK_STATE);
    assert_string_equal(m.state, "early");

    t = "{\"type\":\"dial\",\"to\":\"+15550100001\",\"extra\":true}"; /* unknown keys: ignored */
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.type, CS_WS_DIAL);
    assert_string_equal(m.to, "+15550100001");

    t = "{\"type\":\"answer\",\"call\":\"v3:leg\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.type, CS_WS_ANSWER);
    assert_string_equal(m.call, "v3:leg");

    t = "{\"type\":\"hangup\",\"call\":\"cs_1\",\"leg\":\"v3:consult\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_string_equal(m.leg, "v3:consult");

    t = "{\"type\":\"wrapup\",\"call\":\"cs_1\",\"disposition\":\"callback\",\"notes\":\"\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_string_equal(m.disposition, "callback");
    assert_string_equal(m.notes, "");

    t = "{\"type\":\"calls\",\"since\":1763990000000}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.since, 1763990000000LL);

    t = "{\"type\":\"consult\",\"call\":\"cs_1\",\"to\":\"bob\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.type, CS_WS_CONSULT);
    assert_string_equal(m.to, "bob");

    t = "{\"type\":\"contact\",\"number\":\"+15550009999\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_string_equal(m.to, "+15550009999");

    t = "{\"type\":\"presence\"}"; /* a question */
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_int_equal(m.type, CS_WS_PRESENCE);
    assert_string_equal(m.status, "");
    t = "{\"type\":\"presence\",\"status\":\"offline\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_string_equal(m.status, "offline");
    t = "{\"type\":\"presence\",\"status\":\"available\"}";
    assert_null(cs_wsmsg_decode(t, strlen(t), NOW, &m));
    assert_string_equal(m.status, "available");
}

/* A refusal names the request it answers by its wire name: every type
 * decodes from its name and back. */
static void test_type_names(void **state)
{
    (void)state;
    static const char *const names[] = {"agents",   "calls",  "dial",    "get",      "sdk",
                                        "wrapup",   "recent", "contact", "transfer", "consult",
                                        "complete", "answer", "decline", "hangup",   "presence"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, "{\"type\":\"%s\"}", names[i]);
        cs_wsmsg_t m;
        cs_wsmsg_decode(t, strlen(t), NOW, &m); /* refused or not, the type is read first */
        assert_string_equal(cs_wsmsg_type_name(m.type), names[i]);
    }
    assert_string_equal(cs_wsmsg_type_name(CS_WS_COMPLETE), "complete");
}

/* relay.push from the bus: each kind of bad body is refused with its
 * reason and no message; a good one gives its parts. */
static void test_push(void **state)
{
    (void)state;
    static const struct {
        const char *body, *why;
    } rows[] = {
        {"", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"v\":1,\"v\":1}", "not a JSON object"}, /* a duplicate key */
        {"{\"from\":\"relay-1\",\"agent\":\"bob\",\"msg\":{\"type\":\"dial\"}}", "v must be 1"},
        {"{\"v\":2,\"from\":\"relay-1\",\"agent\":\"bob\",\"msg\":{\"type\":\"dial\"}}",
         "v must be 1"},
        {"{\"v\":\"1\",\"from\":\"r\",\"agent\":\"bob\",\"msg\":{\"type\":\"dial\"}}",
         "v must be 1"},
        {"{\"v\":1,\"agent\":\"bob\",\"msg\":{\"type\":\"dial\"}}",
         "from must be a relay instance"},
        {"{\"v\":1,\"from\":\"relay-00000000000000000000000000000000000000000000\",\"agent\":"
         "\"bob\",\"msg\":{\"type\":\"dial\"}}",
         "from must be a relay instance"},
        {"{\"v\":1,\"from\":\"r\",\"agent\":\"bob smith\",\"msg\":{\"type\":\"dial\"}}",
         "agent must be an agent id"},
        {"{\"v\":1,\"from\":\"r\",\"agent\":7,\"msg\":{\"type\":\"dial\"}}",
         "agent must be an agent id"},
        {"{\"v\":1,\"from\":\"r\",\"agent\":\"bob\"}", "msg must be a dial or an answer"},
        {"{\"v\":1,\"from\":\"r\",\"agent\":\"bob\",\"msg\":{\"type\":\"hello\"}}",
         "msg must be a dial or an answer"},
        {"{\"v\":1,\"from\":\"r\",\"agent\":\"bob\",\"msg\":\"dial\"}",
         "msg must be a dial or an answer"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cs_wspush_t p;
        json_t *msg = (json_t *)1;
        const char *why = cs_wsmsg_push_decode(rows[i].body, strlen(rows[i].body), &p, &msg);
        if (!why || strcmp(why, rows[i].why) != 0)
            fail_msg("%s: got %s, want %s", rows[i].body, why ? why : "(accepted)", rows[i].why);
        assert_null(msg);
    }
    const char *good = "{\"v\":1,\"from\":\"relay-0a1b\",\"agent\":\"ann.lee-2\",\"msg\":{\"type\":"
                       "\"answer\",\"call\":\"cs_1\",\"leg\":\"v3:x\"}}";
    cs_wspush_t p;
    json_t *msg;
    assert_null(cs_wsmsg_push_decode(good, strlen(good), &p, &msg));
    assert_string_equal(p.from, "relay-0a1b");
    assert_string_equal(p.agent, "ann.lee-2");
    assert_string_equal(json_string_value(json_object_get(msg, "leg")), "v3:x");
    json_decref(msg);
    /* a presence goes as agent.changed now: a relay.push of one is refused */
    const char *presence = "{\"v\":1,\"from\":\"relay-0a1b\",\"agent\":\"ann\",\"msg\":{\"type\":"
                           "\"presence\",\"status\":\"offline\"}}";
    assert_string_equal(cs_wsmsg_push_decode(presence, strlen(presence), &p, &msg),
                        "msg must be a dial or an answer");
    assert_null(msg);
}

/* agent.changed from the bus: {"v":1, "agent"}; anything else is refused
 * with its reason and names no agent. */
static void test_agent_notice(void **state)
{
    (void)state;
    static const struct {
        const char *body, *why;
    } rows[] = {
        {"", "not a JSON object"},
        {"[\"bob\"]", "not a JSON object"},
        {"{\"v\":1,\"agent\":\"bob\"", "not a JSON object"},
        {"{\"agent\":\"bob\"}", "v must be 1"},
        {"{\"v\":2,\"agent\":\"bob\"}", "v must be 1"},
        {"{\"v\":\"1\",\"agent\":\"bob\"}", "v must be 1"},
        {"{\"v\":1}", "agent must be an agent id"},
        {"{\"v\":1,\"agent\":\"\"}", "agent must be an agent id"},
        {"{\"v\":1,\"agent\":7}", "agent must be an agent id"},
        {"{\"v\":1,\"agent\":\"bob smith\"}", "agent must be an agent id"},
        {"{\"v\":1,\"agent\":\"b\\u0000b\"}", "not a JSON object"}, /* no NUL in JSON here */
        {"{\"v\":1,\"agent\":\"bob\",\"agent\":\"eve\"}", "not a JSON object"},
    };
    char agent[65];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memcpy(agent, "junk", 5);
        const char *why = cs_wsmsg_agent_decode(rows[i].body, strlen(rows[i].body), agent);
        if (!why || strcmp(why, rows[i].why) != 0)
            fail_msg("%s: got %s, want %s", rows[i].body, why ? why : "(accepted)", rows[i].why);
        assert_string_equal(agent, "");
    }
    char long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    char body[128];
    snprintf(body, sizeof body, "{\"v\":1,\"agent\":\"%s\"}", long_id);
    assert_string_equal(cs_wsmsg_agent_decode(body, strlen(body), agent),
                        "agent must be an agent id");
    long_id[64] = '\0'; /* 64: the longest id */
    snprintf(body, sizeof body, "{\"v\":1,\"agent\":\"%s\"}", long_id);
    assert_null(cs_wsmsg_agent_decode(body, strlen(body), agent));
    assert_string_equal(agent, long_id);
    const char *good = "{\"v\":1,\"agent\":\"ann.lee-2\"}";
    assert_null(cs_wsmsg_agent_decode(good, strlen(good), agent));
    assert_string_equal(agent, "ann.lee-2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_overlong_fields),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_agent_notice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
