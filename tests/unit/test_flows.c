/* The orchestrator's rules: the record in, the intents out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "flows.h"

static cs_event_t s_ev(cs_event_kind_t kind, const char *ccid, const char *role, int64_t at)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.clock = CS_CLOCK_PROVIDER;
    ev.at = at;
    snprintf(ev.ccid, sizeof ev.ccid, "%s", ccid);
    snprintf(ev.role, sizeof ev.role, "%s", role);
    ev.role_rank = 2;
    return ev;
}

static void s_created(cs_call_t *call, const char *flow)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CS_EV_CREATED;
    ev.clock = CS_CLOCK_LOCAL;
    ev.at = 1;
    snprintf(ev.direction, sizeof ev.direction, "outbound");
    snprintf(ev.value, sizeof ev.value, "%s", flow);
    cs_call_merge(call, &ev, NULL);
}

static void test_server_dial(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    cs_call_init(&call, "cs_A");
    s_created(&call, "server_dial");
    assert_int_equal(cs_flows_next(&call, in, 4), 1); /* first, ring the agent */
    assert_int_equal(in[0].kind, CS_INTENT_DIAL_AGENT);
    assert_string_equal(in[0].key, "cs_A:dial_agent");
    cs_event_t e = s_ev(CS_EV_INITIATED, "v3:agent", "agent", 10);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* then wait for the agent */
    e = s_ev(CS_EV_ANSWERED, "v3:agent", "agent", 20);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_DIAL_CUSTOMER);
    assert_string_equal(in[0].key, "cs_A:dial_customer");
    assert_string_equal(in[0].ccid, "v3:agent");
    e = s_ev(CS_EV_INITIATED, "v3:cust", "customer", 30);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* dialled once */
    /* a browser call never gets a customer dialled by this rule */
    cs_call_init(&call, "cs_B");
    s_created(&call, "browser");
    e = s_ev(CS_EV_ANSWERED, "v3:agent", "agent", 20);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
}

/* The browser's own call: its parked leg goes to the customer, once. */
static void test_browser(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    cs_call_init(&call, "cs_C");
    s_created(&call, "browser");
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* nothing until the SDK's leg */
    cs_event_t e = s_ev(CS_EV_INITIATED, "v3:sdk", "agent", 10);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_TRANSFER_CUSTOMER);
    assert_string_equal(in[0].key, "cs_C:transfer_customer");
    assert_string_equal(in[0].ccid, "v3:sdk");
    e = s_ev(CS_EV_INITIATED, "v3:cust", "customer", 20);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* transferred once */
    /* a customer that was busy ends the call: the browser's leg is hung up */
    e = s_ev(CS_EV_HANGUP, "v3:cust", "customer", 30);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_HANGUP_LEG);
    assert_string_equal(in[0].ccid, "v3:sdk");
    /* the SDK hung up before anything: nothing is transferred */
    cs_call_init(&call, "cs_D");
    s_created(&call, "browser");
    e = s_ev(CS_EV_INITIATED, "v3:sdk2", "agent", 10);
    cs_call_merge(&call, &e, NULL);
    e = s_ev(CS_EV_HANGUP, "v3:sdk2", "agent", 11);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
}

static void test_teardown(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    cs_call_init(&call, "cs_C");
    cs_event_t e = s_ev(CS_EV_ANSWERED, "v3:a", "agent", 10);
    cs_call_merge(&call, &e, NULL);
    e = s_ev(CS_EV_ANSWERED, "v3:c", "customer", 10);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
    e = s_ev(CS_EV_HANGUP, "v3:c", "customer", 50);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_HANGUP_LEG);
    assert_string_equal(in[0].ccid, "v3:a");
    assert_string_equal(in[0].key, "cs_C:hangup:v3:a");
    e = s_ev(CS_EV_HANGUP, "v3:a", "agent", 60);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
}

static void test_inbound_routing(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    cs_call_init(&call, "cs_I");
    cs_event_t e = s_ev(CS_EV_INITIATED, "v3:cust", "customer", 10);
    snprintf(e.direction, sizeof e.direction, "incoming");
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_ROUTE);
    assert_string_equal(in[0].key, "cs_I:route:0");
    assert_string_equal(in[0].ccid, "v3:cust");
    e = s_ev(CS_EV_INITIATED, "v3:bob", "agent", 20);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* bob rings */
    e = s_ev(CS_EV_HANGUP, "v3:bob", "agent", 5020);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1); /* bob rang out: the next one */
    assert_string_equal(in[0].key, "cs_I:route:1");
    e = s_ev(CS_EV_INITIATED, "v3:carol", "agent", 5100);
    cs_call_merge(&call, &e, NULL);
    e = s_ev(CS_EV_ANSWERED, "v3:carol", "agent", 7100);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
    e = s_ev(CS_EV_HANGUP, "v3:cust", "customer", 9000);
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 1); /* teardown of carol's leg */
    assert_int_equal(in[0].kind, CS_INTENT_HANGUP_LEG);
}

/* A fact of ours (a request, a command's outcome) about a leg. */
static cs_event_t s_command_ev(cs_event_kind_t kind, const char *ccid, int64_t at)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.source = CS_SRC_COMMAND;
    ev.clock = CS_CLOCK_LOCAL;
    ev.at = at;
    snprintf(ev.ccid, sizeof ev.ccid, "%s", ccid);
    return ev;
}

static void s_request(cs_call_t *call, cs_event_kind_t kind, const char *ccid, const char *mode,
                      const char *to, int64_t at)
{
    cs_event_t ev = s_command_ev(kind, ccid, at);
    snprintf(ev.value, sizeof ev.value, "%s", mode);
    snprintf(ev.to, sizeof ev.to, "%s", to);
    cs_call_merge(call, &ev, NULL);
}

static void s_merge(cs_call_t *call, cs_event_kind_t kind, const char *ccid, const char *role,
                    int64_t at, const char *session)
{
    cs_event_t e = s_ev(kind, ccid, role, at);
    snprintf(e.session_id, sizeof e.session_id, "%s", session);
    cs_call_merge(call, &e, NULL);
}

/* An outbound call in progress: the agent's browser leg and the customer. */
static void s_talking(cs_call_t *call, const char *id)
{
    cs_call_init(call, id);
    s_created(call, "browser");
    s_merge(call, CS_EV_INITIATED, "v3:agent", "agent", 10, "s1");
    s_merge(call, CS_EV_INITIATED, "v3:cust", "customer", 20, "s1");
    s_merge(call, CS_EV_ANSWERED, "v3:cust", "customer", 1000, "s1");
}

/* Blind: the customer's leg goes to the target, once per request; when
 * the target's leg ends unanswered (and the agent's has left), the call
 * goes back to routing, not before its target leg is there. */
static void test_blind_transfer(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    s_talking(&call, "cs_T");
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "blind", "ben", 2000);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_TRANSFER);
    assert_string_equal(in[0].key, "cs_T:xfer:v3:agent:2000");
    assert_string_equal(in[0].other, "v3:agent");
    assert_true(in[0].at == 2000);
    assert_string_equal(in[0].ccid, "v3:cust");
    assert_string_equal(in[0].target, "ben");
    s_merge(&call, CS_EV_HANGUP, "v3:agent", "agent", 2100, "s1"); /* unbridged */
    assert_int_equal(cs_flows_next(&call, in, 4), 1); /* still only the transfer (claimed) */
    assert_int_equal(in[0].kind, CS_INTENT_TRANSFER);
    s_merge(&call, CS_EV_INITIATED, "v3:ben", "transfer", 2100, "s1");
    s_merge(&call, CS_EV_HANGUP, "v3:ben", "transfer", 9000, "s1"); /* ben never answered */
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_int_equal(cs_flows_next(&call, in, 4), 2);
    assert_int_equal(in[1].kind, CS_INTENT_ROUTE);
    assert_string_equal(in[1].key, "cs_T:route:2");
    assert_string_equal(in[1].ccid, "v3:cust");
}

static void s_failed(cs_call_t *call, const char *ccid, int64_t request_at, const char *kept)
{
    cs_event_t ev = s_command_ev(CS_EV_TRANSFER_FAILED, ccid, request_at);
    snprintf(ev.value, sizeof ev.value, "refused 422 10016");
    snprintf(ev.disposition, sizeof ev.disposition, "%s", kept);
    cs_call_merge(call, &ev, NULL);
}

/* Telnyx refuses a blind transfer while the agent is still there: no more
 * transfer, no route; the agent's leg ends the call again. Asked again,
 * it is a new command. Refused after the agent had gone: the customer
 * goes back to routing. */
static void test_blind_transfer_refused(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    s_talking(&call, "cs_T");
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "blind", "+15550100009", 2000);
    s_failed(&call, "v3:agent", 2000, "kept");
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "blind", "ben", 3000);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_TRANSFER);
    assert_string_equal(in[0].key, "cs_T:xfer:v3:agent:3000");
    assert_string_equal(in[0].target, "ben");
    s_failed(&call, "v3:agent", 2000, "kept"); /* a late copy of the first failure */
    assert_int_equal(cs_flows_next(&call, in, 4), 1);

    s_talking(&call, "cs_U");
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "blind", "+15550100009", 2000);
    s_merge(&call, CS_EV_HANGUP, "v3:agent", "agent", 2050, "s1"); /* the agent left at once */
    s_failed(&call, "v3:agent", 2000, "left");
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_ROUTE);
    assert_string_equal(in[0].ccid, "v3:cust");
}

/* Warm: the consult leg goes to the target; a consult whose colleague's
 * leg ended is hung up; a completion bridges the customer with the
 * consulted leg, once; a completion whose colleague has gone is still
 * answered. */
static void test_warm_transfer(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_intent_t in[4];
    s_talking(&call, "cs_W");
    s_merge(&call, CS_EV_INITIATED, "v3:consult", "consult", 3000, "s2");
    assert_int_equal(cs_flows_next(&call, in, 4), 0); /* no target on the record yet */
    s_request(&call, CS_EV_CONSULT_REQUESTED, "", "", "+15550100006", 2900);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_CONSULT);
    assert_string_equal(in[0].key, "cs_W:consult:v3:consult");
    assert_string_equal(in[0].ccid, "v3:consult");
    assert_string_equal(in[0].target, "+15550100006");
    s_merge(&call, CS_EV_INITIATED, "v3:colleague", "consulted", 3100, "s2");
    s_merge(&call, CS_EV_ANSWERED, "v3:colleague", "consulted", 4000, "s2");
    s_merge(&call, CS_EV_ANSWERED, "v3:consult", "consult", 4000, "s2");
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "warm", "v3:colleague", 6000);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_COMPLETE);
    assert_string_equal(in[0].key, "cs_W:complete:v3:agent:6000");
    assert_string_equal(in[0].ccid, "v3:cust");
    assert_string_equal(in[0].other, "v3:agent");
    assert_int_equal(in[0].at, 6000);
    /* the bridge refused: the agent keeps the customer (on hold) and the
     * colleague; "Complete transfer" again is a new request, a new command */
    s_failed(&call, "v3:agent", 6000, "kept");
    assert_int_equal(cs_flows_next(&call, in, 4), 0);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "warm", "v3:colleague", 7000);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_string_equal(in[0].key, "cs_W:complete:v3:agent:7000");
    /* carried out: nothing more to do for it */
    cs_event_t done = s_command_ev(CS_EV_TRANSFER_COMPLETED, "v3:agent", 7000);
    cs_call_merge(&call, &done, NULL);
    assert_int_equal(cs_flows_next(&call, in, 4), 0);

    /* the colleague hung up before the bridge: the request is still
     * answered (the orchestrator fails it without a command), and the
     * call is the agent's again; had the agent gone too, the customer
     * goes back to routing */
    s_talking(&call, "cs_G");
    s_merge(&call, CS_EV_INITIATED, "v3:consult", "consult", 3000, "s2");
    s_merge(&call, CS_EV_ANSWERED, "v3:colleague", "consulted", 4000, "s2");
    s_request(&call, CS_EV_TRANSFER_REQUESTED, "v3:agent", "warm", "v3:colleague", 6000);
    s_merge(&call, CS_EV_HANGUP, "v3:colleague", "consulted", 6010, "s2");
    s_merge(&call, CS_EV_HANGUP, "v3:consult", "consult", 6010, "s2");
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_COMPLETE);
    assert_string_equal(in[0].key, "cs_G:complete:v3:agent:6000");
    s_merge(&call, CS_EV_HANGUP, "v3:agent", "agent", 6020, "s1");
    s_failed(&call, "v3:agent", 6000, "left");
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_ROUTE);
    assert_string_equal(in[0].ccid, "v3:cust");

    /* a consult the colleague hangs up: its leg is hung up, the call goes on */
    s_talking(&call, "cs_C");
    s_request(&call, CS_EV_CONSULT_REQUESTED, "", "", "ben", 2900);
    s_merge(&call, CS_EV_INITIATED, "v3:consult", "consult", 3000, "s2");
    s_merge(&call, CS_EV_INITIATED, "v3:colleague", "consulted", 3100, "s2");
    s_merge(&call, CS_EV_HANGUP, "v3:colleague", "consulted", 5000, "s2");
    assert_int_equal(cs_flows_next(&call, in, 4), 1);
    assert_int_equal(in[0].kind, CS_INTENT_HANGUP_LEG);
    assert_string_equal(in[0].ccid, "v3:consult");
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_dial),    cmocka_unit_test(test_browser),
        cmocka_unit_test(test_teardown),       cmocka_unit_test(test_inbound_routing),
        cmocka_unit_test(test_blind_transfer), cmocka_unit_test(test_blind_transfer_refused),
        cmocka_unit_test(test_warm_transfer),
    };
    return cmocka_run_group_tests_name("flows", tests, NULL, NULL);
}
