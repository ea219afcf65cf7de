/* The call model: realistic event sets merged in every order, with
 * duplicates, give the same record; and the record says the right things. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z */

static cs_event_t s_wh(cs_event_kind_t kind, const char *id, int64_t dt, const char *ccid,
                       const char *role)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.source = CS_SRC_WEBHOOK;
    ev.clock = CS_CLOCK_PROVIDER;
    ev.at = T0 + dt;
    snprintf(ev.id, sizeof ev.id, "%s", id);
    snprintf(ev.ccid, sizeof ev.ccid, "%s", ccid);
    snprintf(ev.leg_id, sizeof ev.leg_id, "leg-%s", ccid);
    snprintf(ev.session_id, sizeof ev.session_id, "sess-1");
    snprintf(ev.role, sizeof ev.role, "%s", role);
    ev.role_rank = 2;
    return ev;
}

static cs_event_t s_hangup(const char *id, int64_t dt, const char *ccid, const char *role,
                           const char *cause, const char *source, const char *sip)
{
    cs_event_t ev = s_wh(CS_EV_HANGUP, id, dt, ccid, role);
    snprintf(ev.hangup_cause, sizeof ev.hangup_cause, "%s", cause);
    snprintf(ev.hangup_source, sizeof ev.hangup_source, "%s", source);
    snprintf(ev.sip_code, sizeof ev.sip_code, "%s", sip);
    return ev;
}

static cs_event_t s_numbers(cs_event_t ev, const char *dir, const char *from, const char *to)
{
    snprintf(ev.direction, sizeof ev.direction, "%s", dir);
    snprintf(ev.from, sizeof ev.from, "%s", from);
    snprintf(ev.to, sizeof ev.to, "%s", to);
    return ev;
}

static cs_event_t s_created(int64_t dt)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CS_EV_CREATED;
    ev.source = CS_SRC_COMMAND;
    ev.clock = CS_CLOCK_LOCAL;
    ev.at = T0 + dt;
    snprintf(ev.id, sizeof ev.id, "created");
    snprintf(ev.direction, sizeof ev.direction, "outbound");
    snprintf(ev.agent_id, sizeof ev.agent_id, "agent-1");
    snprintf(ev.from, sizeof ev.from, "+15550009999");
    snprintf(ev.to, sizeof ev.to, "+15550100001");
    return ev;
}

static cs_event_t s_sdk(const char *state, int64_t dt)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CS_EV_SDK_STATE;
    ev.source = CS_SRC_SDK;
    ev.clock = CS_CLOCK_SDK;
    ev.at = T0 + dt;
    snprintf(ev.id, sizeof ev.id, "sdk-%s", state);
    snprintf(ev.value, sizeof ev.value, "%s", state);
    return ev;
}

#define AG "v3:agent-leg"
#define CU "v3:customer-leg"
#define CO "+15550009999"
#define CX "+15550100001"

/* Merges events in the order given. */
static void s_merge_each(cs_call_t *call, const cs_event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_call_merge(call, &evs[i], NULL);
}

/* ---- permutation machinery ---- */

/* The stored form must give back exactly the record it was made from. */
static void s_round_trip(const cs_call_t *call)
{
    static cs_call_t back;
    char err[128];
    json_t *doc = cs_call_to_store(call);
    assert_int_equal(cs_call_from_store(&back, doc, err, sizeof err), 0);
    assert_memory_equal(&back, call, sizeof back);
    json_decref(doc);
    /* so is the packed form, which a cache hit reads instead */
    static char packed[sizeof *call];
    size_t len = cs_call_packed_size(call);
    cs_call_pack(call, packed);
    memset(&back, 0xa5, sizeof back);
    assert_int_equal(cs_call_unpack(&back, packed, len), 0);
    assert_memory_equal(&back, call, sizeof back);
}

static json_t *s_merge_all(const cs_event_t *evs, const int *order, int n)
{
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    for (int i = 0; i < n; i++)
        cs_call_merge(&call, &evs[order[i]], NULL);
    if (order[0] == 0 && order[n - 1] == n - 1)
        s_round_trip(&call);
    json_t *view = cs_call_to_json(&call);
    json_object_del(view, "version");
    json_object_set_new(view, "store", cs_call_to_store(&call));
    return view;
}

/* Heap's algorithm over every order; each result must equal the first. */
static int s_all_orders(const cs_event_t *evs, int n, json_t **first)
{
    int order[16], c[16] = {0}, count = 1;
    for (int i = 0; i < n; i++)
        order[i] = i;
    *first = s_merge_all(evs, order, n);
    for (int i = 1; i < n;) {
        if (c[i] < i) {
            int j = i % 2 ? c[i] : 0, t = order[j];
            order[j] = order[i];
            order[i] = t;
            json_t *got = s_merge_all(evs, order, n);
            if (!json_equal(got, *first)) {
                char *a = json_dumps(*first, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
                fail_msg("order-dependent record:\n%s\n%s", a, b);
            }
            json_decref(got);
            count++;
            c[i]++;
            i = 1;
        } else {
            c[i++] = 0;
        }
    }
    return count;
}

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
static double s_num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void test_outbound_answered(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "e1", 0, AG, "agent"), "outgoing", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "e2", 150, CU, "customer"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "e3", 1250, CU, "customer"),
        s_wh(CS_EV_ANSWERED, "e3", 1250, CU, "customer"), /* redelivered */
        s_wh(CS_EV_BRIDGED, "e4", 1260, CU, "customer"),
        s_hangup("e5", 61250, CU, "customer", "normal_clearing", "callee", "200"),
        s_hangup("e6", 61300, AG, "agent", "normal_clearing", "caller", "200"),
    };
    json_t *rec;
    int n = s_all_orders(evs, 8, &rec);
    assert_int_equal(n, 40320);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "direction"), "outbound");
    assert_string_equal(s_str(rec, "to"), CX);
    assert_string_equal(s_str(rec, "from"), CO);
    assert_string_equal(s_str(rec, "agent_id"), "agent-1");
    assert_string_equal(s_str(rec, "initiated_at"), "2025-11-24T16:00:00.000Z");
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:01.250Z");
    assert_string_equal(s_str(rec, "ended_at"), "2025-11-24T16:01:01.250Z");
    assert_true(s_num(rec, "talk_seconds") == 60.0);
    assert_true(s_num(rec, "ring_seconds") == 1.25);
    assert_string_equal(s_str(rec, "hangup_cause"), "normal_clearing");
    assert_string_equal(s_str(rec, "hangup_source"), "callee");
    assert_int_equal(json_array_size(json_object_get(rec, "legs")), 2);
    json_decref(rec);
}

/* A server dial: the agent's leg answers first, the customer's later. The
 * conversation (answered_at, talk time, the max-duration guard through
 * cs_call_answered_at) starts at the customer's answer. */
static void test_answered_at_is_the_customers(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "e1", 0, AG, "agent"), "outgoing", CO, "sip:a@x"),
        s_wh(CS_EV_ANSWERED, "e2", 2000, AG, "agent"),
        s_numbers(s_wh(CS_EV_INITIATED, "e3", 2100, CU, "customer"), "outgoing", CO, CX),
    };
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    assert_int_equal(cs_call_answered_at(&call), 0);
    assert_int_equal(cs_call_state(&call), CS_STATE_RINGING);
    cs_event_t answer = s_wh(CS_EV_ANSWERED, "e4", 5500, CU, "customer");
    cs_call_merge(&call, &answer, NULL);
    assert_int_equal(cs_call_answered_at(&call), T0 + 5500);
    json_t *rec = cs_call_to_json(&call);
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:05.500Z");
    json_decref(rec);
}

/* Hang up pressed while the customer rings: the call is ended at once (the
 * request is a fact), a late answer cannot revive it, and when Telnyx's
 * hangups arrive their provider times win for ended_at and the cause. In
 * every order of 7 events (5 040). */
static void test_hangup_requested(void **state)
{
    (void)state;
    cs_event_t req;
    memset(&req, 0, sizeof req);
    req.kind = CS_EV_HANGUP_REQUESTED;
    req.source = CS_SRC_COMMAND;
    req.clock = CS_CLOCK_LOCAL;
    req.at = T0 + 900;
    snprintf(req.id, sizeof req.id, "req");
    snprintf(req.value, sizeof req.value, "alice");
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "e1", 0, AG, "agent"), "incoming", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "e2", 150, CU, "customer"), "outgoing", CO, CX),
        req,
        s_wh(CS_EV_ANSWERED, "e3", 950, CU, "customer"), /* raced the request */
        s_hangup("e4", 1000, AG, "agent", "normal_clearing", "caller", "200"),
        s_hangup("e5", 1010, CU, "customer", "normal_clearing", "caller", "200"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "ended_at"), "2025-11-24T16:00:01.000Z");
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    assert_string_equal(s_str(rec, "hangup_requested_by"), "alice");
    json_decref(rec);
    /* Which leg the platform closes first, and so which one says "caller",
     * is a race when we hang up both: our side ended this outbound call
     * either way. */
    evs[5] = s_hangup("e4", 1000, AG, "agent", "normal_clearing", "callee", "200");
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    json_decref(rec);
    /* the customer hung up before anyone asked: the far end's word stands */
    evs[6] = s_hangup("e5", 850, CU, "customer", "normal_clearing", "callee", "200");
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "hangup_source"), "callee");
    assert_string_equal(s_str(rec, "hangup_requested_by"), "alice");
    json_decref(rec);
    evs[5] = s_hangup("e4", 1000, AG, "agent", "normal_clearing", "caller", "200");
    evs[6] = s_hangup("e5", 1010, CU, "customer", "normal_clearing", "caller", "200");
    /* before Telnyx says anything: ended, by the request's own clock */
    static cs_call_t call;
    cs_call_init(&call, "cs_REQ");
    cs_event_t first[] = {evs[0], evs[1], evs[2], evs[3]};
    for (int i = 0; i < 4; i++)
        cs_call_merge(&call, &first[i], NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);
    assert_false(cs_call_merge(&call, &req, NULL)); /* twice changes nothing */
    cs_call_merge(&call, &evs[4], NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);
    s_round_trip(&call);
}

static void test_inbound(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_numbers(s_wh(CS_EV_INITIATED, "i1", 0, CU, "customer"), "incoming", CX, CO),
        s_numbers(s_wh(CS_EV_INITIATED, "i2", 300, AG, "agent"), "outgoing", CX,
                  "sip:agent1@sip.telnyx.com"),
        s_wh(CS_EV_ANSWERED, "i3", 4300, AG, "agent"),
        s_wh(CS_EV_BRIDGED, "i4", 4310, CU, "customer"),
        s_hangup("i5", 30000, AG, "agent", "normal_clearing", "caller", "200"),
        s_hangup("i5", 30000, AG, "agent", "normal_clearing", "caller", "200"),
        s_hangup("i6", 30020, CU, "customer", "normal_clearing", "callee", "200"),
    };
    evs[2].role_rank = evs[3].role_rank = 1; /* inferred on some events only */
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "direction"), "inbound");
    assert_string_equal(s_str(rec, "from"), CX);
    assert_string_equal(s_str(rec, "to"), CO);
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:04.300Z");
    assert_true(s_num(rec, "ring_seconds") == 4.3);
    assert_true(s_num(rec, "talk_seconds") == 25.7);
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    json_decref(rec);
}

static cs_event_t s_agent_ev(cs_event_t ev, const char *agent)
{
    snprintf(ev.agent_id, sizeof ev.agent_id, "%s", agent);
    return ev;
}

/* Inbound routing: the first agent rings out, the second answers. The
 * unanswered agent leg does not end the call; the answering agent is the
 * call's agent; talk starts at the second agent's answer. */
static void test_inbound_second_agent(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_numbers(s_wh(CS_EV_INITIATED, "r1", 0, CU, "customer"), "incoming", CX, CO),
        s_agent_ev(s_numbers(s_wh(CS_EV_INITIATED, "r2", 100, "v3:agent-1", "agent"), "outgoing",
                             CX, "sip:bob@sip.telnyx.com"),
                   "bob"),
        s_agent_ev(s_hangup("r3", 20100, "v3:agent-1", "agent", "timeout", "callee", "487"), "bob"),
        s_agent_ev(s_numbers(s_wh(CS_EV_INITIATED, "r4", 20200, "v3:agent-2", "agent"), "outgoing",
                             CX, "sip:carol@sip.telnyx.com"),
                   "carol"),
        s_agent_ev(s_wh(CS_EV_ANSWERED, "r5", 23200, "v3:agent-2", "agent"), "carol"),
        s_wh(CS_EV_BRIDGED, "r6", 23210, CU, "customer"),
        s_hangup("r7", 83200, CU, "customer", "normal_clearing", "caller", "200"),
        s_agent_ev(s_hangup("r8", 83250, "v3:agent-2", "agent", "normal_clearing", "callee", "200"),
                   "carol"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 8, &rec), 40320);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "direction"), "inbound");
    assert_string_equal(s_str(rec, "agent_id"), "carol");
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:23.200Z");
    assert_string_equal(s_str(rec, "ended_at"), "2025-11-24T16:01:23.200Z");
    assert_string_equal(s_str(rec, "hangup_cause"), "normal_clearing");
    assert_true(s_num(rec, "talk_seconds") == 60.0);
    json_decref(rec);

    /* while the first agent has rung out and nobody else rings yet, the
     * call is still ringing: the customer waits */
    static cs_call_t call;
    cs_call_init(&call, "cs_R");
    for (int i = 0; i < 3; i++)
        cs_call_merge(&call, &evs[i], NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_RINGING);
}

static void test_busy(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-10),
        s_numbers(s_wh(CS_EV_INITIATED, "b1", 0, AG, "agent"), "outgoing", CO, "+15550100002"),
        s_numbers(s_wh(CS_EV_INITIATED, "b2", 100, CU, "customer"), "outgoing", CO, "+15550100002"),
        s_hangup("b3", 600, CU, "customer", "user_busy", "callee", "486"),
        s_hangup("b3", 600, CU, "customer", "user_busy", "callee", "486"),
        s_hangup("b4", 700, AG, "agent", "normal_clearing", "caller", "200"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 6, &rec), 720);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "hangup_cause"), "user_busy");
    assert_string_equal(s_str(rec, "sip_code"), "486");
    assert_true(json_is_null(json_object_get(rec, "answered_at")));
    assert_true(json_is_null(json_object_get(rec, "talk_seconds")));
    assert_true(json_is_null(json_object_get(rec, "ring_seconds")));
    json_decref(rec);
}

static void test_no_answer(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_numbers(s_wh(CS_EV_INITIATED, "n1", 0, AG, "agent"), "outgoing", CO, "+15550100003"),
        s_numbers(s_wh(CS_EV_INITIATED, "n2", 100, CU, "customer"), "outgoing", CO, "+15550100003"),
        s_sdk("early", 300),
        s_hangup("n3", 30100, CU, "customer", "timeout", "callee", "487"),
        s_hangup("n4", 30200, AG, "agent", "normal_clearing", "caller", "200"),
        s_sdk("hangup", 30250),
        s_sdk("hangup", 30250),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "hangup_cause"), "timeout");
    assert_string_equal(s_str(rec, "ended_at"), "2025-11-24T16:00:30.100Z");
    assert_string_equal(s_str(rec, "sdk_state"), "hangup");
    json_decref(rec);
}

static void test_cancelled(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-20),
        s_numbers(s_wh(CS_EV_INITIATED, "c1", 0, AG, "agent"), "outgoing", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "c2", 100, CU, "customer"), "outgoing", CO, CX),
        s_sdk("hangup", 2000),
        s_hangup("c3", 2010, AG, "agent", "normal_clearing", "caller", "200"),
        s_hangup("c4", 2050, CU, "customer", "originator_cancel", "caller", "487"),
        s_hangup("c4", 2050, CU, "customer", "originator_cancel", "caller", "487"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    assert_string_equal(s_str(rec, "state"), "ended");
    /* Provider time outranks the browser's, even though the browser was first. */
    assert_string_equal(s_str(rec, "ended_at"), "2025-11-24T16:00:02.010Z");
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    json_decref(rec);
}

static void test_transferred_with_hold(void **state)
{
    (void)state;
    /* The parked browser leg is transferred to the customer; hold toggles
     * arrive out of order; the SDK reports active before the webhook. */
    cs_event_t evs[] = {
        s_numbers(s_wh(CS_EV_INITIATED, "t1", 0, AG, "agent"), "outgoing", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "t2", 120, CU, "customer"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "t3", 2000, CU, "customer"),
        s_sdk("active", 2040),
        s_wh(CS_EV_HOLD, "t5", 5000, AG, "agent"),
        s_wh(CS_EV_UNHOLD, "t6", 9000, AG, "agent"),
        s_wh(CS_EV_HOLD, "t7", 12000, AG, "agent"),
        s_wh(CS_EV_HOLD, "t7", 12000, AG, "agent"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 8, &rec), 40320);
    assert_string_equal(s_str(rec, "state"), "held");
    assert_string_equal(s_str(rec, "answered_source"), "webhook");
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:02.000Z");
    json_decref(rec);
}

/* A transfer request: the command fact on the leaving leg. */
static cs_event_t s_xfer(const char *id, int64_t dt, const char *ccid, const char *mode,
                         const char *to)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CS_EV_TRANSFER_REQUESTED;
    ev.source = CS_SRC_COMMAND;
    ev.clock = CS_CLOCK_LOCAL;
    ev.at = T0 + dt;
    snprintf(ev.id, sizeof ev.id, "%s", id);
    snprintf(ev.ccid, sizeof ev.ccid, "%s", ccid);
    snprintf(ev.value, sizeof ev.value, "%s", mode);
    snprintf(ev.to, sizeof ev.to, "%s", to);
    return ev;
}

static cs_event_t s_agent_leg(cs_event_t ev, const char *agent)
{
    snprintf(ev.agent_id, sizeof ev.agent_id, "%s", agent);
    return ev;
}

#define TR "v3:transfer-leg"
#define CL "v3:consult-leg"

/* Blind transfer: agent-1 hands the customer to bob and leaves. Its leg's
 * end does not end the call; bob's answer makes bob the call's agent; the
 * record is the same in every order of 8 events (40 320). */
static void test_blind_transfer(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "b1", 0, AG, "agent"), "outgoing", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "b2", 150, CU, "customer"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "b3", 1250, CU, "customer"),
        s_xfer("x1", 20000, AG, "blind", "bob"),
        s_hangup("b4", 20100, AG, "agent", "normal_clearing", "callee", "200"),
        s_agent_leg(s_wh(CS_EV_INITIATED, "b5", 20100, TR, "transfer"), "bob"),
        s_agent_leg(s_wh(CS_EV_ANSWERED, "b6", 23000, TR, "transfer"), "bob"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 8, &rec), 40320);
    assert_string_equal(s_str(rec, "state"), "active");
    assert_string_equal(s_str(rec, "agent_id"), "bob");
    assert_string_equal(s_str(rec, "answered_at"), "2025-11-24T16:00:01.250Z");
    json_t *agents = json_object_get(rec, "agents");
    assert_int_equal(json_array_size(agents), 2);
    assert_string_equal(json_string_value(json_array_get(agents, 0)), "bob");
    assert_string_equal(json_string_value(json_array_get(agents, 1)), "agent-1");
    json_t *legs = json_object_get(rec, "legs");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(legs); i++) {
        json_t *l = json_array_get(legs, i);
        if (strcmp(s_str(l, "call_control_id"), AG) != 0)
            continue;
        assert_string_equal(s_str(l, "transfer"), "blind");
        assert_string_equal(s_str(l, "transfer_to"), "bob");
        assert_string_equal(s_str(l, "transferred_at"), "2025-11-24T16:00:20.000Z");
        seen = 1;
    }
    assert_true(seen);
    json_decref(rec);

    /* bob (who took it over) hangs up: now the call ends, talk time whole */
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    cs_event_t bye = s_hangup("b7", 61250, TR, "transfer", "normal_clearing", "caller", "200");
    cs_call_merge(&call, &bye, NULL);
    rec = cs_call_to_json(&call);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_true(s_num(rec, "talk_seconds") == 60.0);
    json_decref(rec);
}

/* A blind transfer nobody answers does not end the call: the customer
 * stays (the orchestrator routes it on), and agent-1 is still its agent. */
static void test_blind_transfer_unanswered(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "u1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "u3", 1250, CU, "customer"),
        s_xfer("x1", 20000, AG, "blind", "+15550100002"),
        s_hangup("u4", 20100, AG, "agent", "normal_clearing", "callee", "200"),
        s_wh(CS_EV_INITIATED, "u5", 20100, TR, "transfer"),
        s_hangup("u6", 21000, TR, "transfer", "user_busy", "callee", "486"),
    };
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_string_equal(cs_call_agent(&call), "agent-1");
}

static cs_event_t s_xfer_failed(const char *id, int64_t request_dt, const char *ccid,
                                const char *kept)
{
    cs_event_t ev = s_xfer(id, request_dt, ccid, "", "");
    ev.kind = CS_EV_TRANSFER_FAILED;
    snprintf(ev.value, sizeof ev.value, "refused 422 10016: bad to");
    snprintf(ev.disposition, sizeof ev.disposition, "%s", kept);
    return ev;
}

/* Telnyx refuses a blind transfer while agent-1 is still talking: agent-1
 * keeps the call; asked again, to bob, the transfer stands, whatever the
 * order of the two requests and the failure (of the first). In every order
 * of 7 events (5 040). */
static void test_blind_transfer_refused(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "r1", 0, AG, "agent"), "outgoing", CO, CX),
        s_numbers(s_wh(CS_EV_INITIATED, "r2", 150, CU, "customer"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "r3", 1250, CU, "customer"),
        s_xfer("x1", 20000, AG, "blind", "+15550100009"),
        s_xfer_failed("x2", 20000, AG, "kept"),
        s_xfer("x3", 30000, AG, "blind", "bob"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 7, &rec), 5040);
    json_t *leg = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(rec, "legs")); i++)
        if (strcmp(s_str(json_array_get(json_object_get(rec, "legs"), i), "call_control_id"), AG) ==
            0)
            leg = json_array_get(json_object_get(rec, "legs"), i);
    assert_non_null(leg);
    assert_string_equal(s_str(leg, "transfer_to"), "bob");
    assert_string_equal(s_str(leg, "transferred_at"), "2025-11-24T16:00:30.000Z");
    assert_true(json_is_null(json_object_get(leg, "transfer_failed")));
    json_decref(rec);

    /* with only the first request and its failure: agent-1 keeps the call,
     * and its hangup ends it */
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    s_merge_each(&call, evs, 6);
    rec = cs_call_to_json(&call);
    assert_string_equal(s_str(json_array_get(json_object_get(rec, "legs"), 0), "transfer_failed"),
                        "refused 422 10016: bad to");
    json_decref(rec);
    assert_non_null(cs_call_agent_leg(&call, "agent-1"));
    cs_event_t bye = s_hangup("r4", 40000, AG, "agent", "normal_clearing", "caller", "200");
    cs_call_merge(&call, &bye, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);

    /* refused after agent-1 had hung up: its end still ends nothing */
    cs_call_init(&call, "cs_TEST");
    s_merge_each(&call, evs, 5);
    cs_event_t gone = s_hangup("r5", 20050, AG, "agent", "normal_clearing", "caller", "200");
    cs_event_t left = s_xfer_failed("x4", 20000, AG, "left");
    cs_call_merge(&call, &gone, NULL);
    cs_call_merge(&call, &left, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_null(cs_call_agent_leg(&call, "agent-1"));
}

/* The record's leg with this control id. */
static const json_t *s_leg_with(const json_t *rec, const char *ccid)
{
    size_t i;
    const json_t *leg;
    json_array_foreach(json_object_get(rec, "legs"), i, leg)
    {
        if (strcmp(s_str(leg, "call_control_id"), ccid) == 0)
            return leg;
    }
    fail_msg("no leg %s", ccid);
    return NULL;
}

static cs_event_t s_xfer_done(const char *id, int64_t request_dt, const char *ccid)
{
    cs_event_t ev = s_xfer(id, request_dt, ccid, "", "");
    ev.kind = CS_EV_TRANSFER_COMPLETED;
    return ev;
}

/* Warm transfer: agent-1's own leg holds the customer; its consult call
 * (a second SDK call) reaches bob; bob's end during the consult ends
 * nothing; once the transfer is completed to bob's leg (the request, then
 * the orchestrator's bridge), agent-1 leaves and bob is the agent. In
 * every order of 8 events. */
static void test_warm_transfer(void **state)
{
    (void)state;
    cs_event_t consult;
    memset(&consult, 0, sizeof consult);
    consult.kind = CS_EV_CONSULT_REQUESTED;
    consult.source = CS_SRC_COMMAND;
    consult.clock = CS_CLOCK_LOCAL;
    consult.at = T0 + 10000;
    snprintf(consult.id, sizeof consult.id, "c0");
    snprintf(consult.to, sizeof consult.to, "bob");
    cs_event_t evs[] = {
        s_numbers(s_wh(CS_EV_INITIATED, "w1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "w3", 1250, CU, "customer"),
        consult,
        s_wh(CS_EV_INITIATED, "w4", 10100, CL, "consult"),
        s_agent_leg(s_wh(CS_EV_ANSWERED, "w5", 12000, TR, "consulted"), "bob"),
        s_xfer("x2", 30000, AG, "warm", TR),
        s_xfer_done("x3", 30000, AG),
        s_hangup("w6", 30100, AG, "agent", "normal_clearing", "callee", "200"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 8, &rec), 40320);
    assert_string_equal(s_str(rec, "state"), "active");
    assert_string_equal(s_str(rec, "agent_id"), "bob");
    assert_string_equal(s_str(rec, "consult"), "bob");
    const json_t *ann = s_leg_with(rec, AG);
    assert_true(json_is_true(json_object_get(ann, "transfer_completed")));
    json_decref(rec);

    /* before the completion, bob hanging up ends the consult, not the call */
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    cs_event_t created = s_created(-30);
    cs_call_merge(&call, &created, NULL);
    for (size_t i = 0; i < 5; i++)
        cs_call_merge(&call, &evs[i], NULL);
    cs_event_t bye = s_hangup("w8", 15000, TR, "consulted", "normal_clearing", "callee", "200");
    cs_event_t gone = s_hangup("w9", 15000, CL, "consult", "normal_clearing", "callee", "200");
    cs_call_merge(&call, &bye, NULL);
    cs_call_merge(&call, &gone, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_string_equal(cs_call_agent(&call), "agent-1");
}

/* A number the call was consulted or transferred to is nobody's leg: not
 * the agent's to hand on or hang up, whatever the legs' order. */
static void test_a_number_is_nobodys_leg(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    const char *number = "v3:a-number-leg"; /* sorts before the agent's */
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "n1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "n2", 1000, AG, "agent"),
        s_wh(CS_EV_ANSWERED, "n3", 1250, CU, "customer"),
        s_wh(CS_EV_ANSWERED, "n4", 12000, number, "consulted"),
        s_wh(CS_EV_ANSWERED, "n5", 13000, TR, "transfer"),
    };
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    const cs_leg_t *leg = cs_call_agent_leg(&call, "agent-1");
    assert_non_null(leg);
    assert_string_equal(leg->ccid, AG);
    assert_false(cs_call_leg_is_agents(&call, cs_call_leg(&call, number), "agent-1"));
    assert_false(cs_call_leg_is_agents(&call, cs_call_leg(&call, TR), "agent-1"));
    json_t *rec = cs_call_to_json(&call);
    assert_true(json_is_null(json_object_get(s_leg_with(rec, number), "agent_id")));
    assert_true(json_is_null(json_object_get(s_leg_with(rec, TR), "agent_id")));
    assert_string_equal(s_str(s_leg_with(rec, AG), "agent_id"), "agent-1");
    json_decref(rec);
}

/* Bob hangs up as agent-1 asks to complete, before the bridge: the request
 * hands nothing over, so bob's end ends nothing, and the customer is never
 * hung up; the orchestrator's failure gives the call back to agent-1, whose
 * own end then ends it. In every order of 8 events. */
static void test_warm_transfer_colleague_gone_first(void **state)
{
    (void)state;
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "g1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "g2", 1250, CU, "customer"),
        s_wh(CS_EV_INITIATED, "g3", 10100, CL, "consult"),
        s_agent_leg(s_wh(CS_EV_ANSWERED, "g4", 12000, TR, "consulted"), "bob"),
        s_xfer("x1", 30000, AG, "warm", TR),
        s_hangup("g5", 29990, TR, "consulted", "normal_clearing", "callee", "200"),
        s_xfer_failed("x2", 30000, AG, "kept"),
    };
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 8, &rec), 40320);
    assert_string_equal(s_str(rec, "state"), "active");
    assert_string_equal(s_str(rec, "agent_id"), "agent-1");
    const json_t *ann = s_leg_with(rec, AG);
    assert_true(json_is_false(json_object_get(ann, "transfer_completed")));
    assert_string_equal(s_str(ann, "transfer_failed"), "refused 422 10016: bad to");
    json_decref(rec);

    /* before the failure is known: still not ended, still agent-1's */
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    s_merge_each(&call, evs, 7);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_string_equal(cs_call_agent(&call), "agent-1");
    /* with the failure, agent-1's end ends the call again */
    cs_event_t fail = evs[7],
               bye = s_hangup("g6", 40000, AG, "agent", "normal_clearing", "caller", "200");
    cs_call_merge(&call, &fail, NULL);
    cs_call_merge(&call, &bye, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);

    /* a completion of an older request hands nothing over */
    cs_call_init(&call, "cs_TEST");
    s_merge_each(&call, evs, 7);
    cs_event_t old = s_xfer_done("x3", 20000, AG);
    assert_true(cs_call_merge(&call, &old, NULL));
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    assert_string_equal(cs_call_agent(&call), "agent-1");
    /* the bridge done after bob hung up (it cannot be, but the record
     * would say so): bob took over and his end ended the call */
    cs_event_t done = s_xfer_done("x4", 30000, AG);
    cs_call_merge(&call, &done, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);
}

/* Hold belongs to the leg that put the call on hold: once that agent has
 * transferred the call on and left, the call is no longer held. */
static void test_hold_leaves_with_its_leg(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "h1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "h2", 1250, CU, "customer"),
        s_wh(CS_EV_HOLD, "h3", 5000, AG, "agent"),
    };
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    assert_int_equal(cs_call_state(&call), CS_STATE_HELD);
    cs_event_t xfer = s_xfer("x3", 20000, AG, "warm", TR);
    cs_call_merge(&call, &xfer, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    /* a same-instant hold from another leg: the smaller control id wins,
     * whatever the order */
    static cs_call_t other;
    cs_call_init(&other, "cs_TEST");
    cs_event_t a = s_wh(CS_EV_HOLD, "h4", 7000, CU, "customer");
    cs_event_t b = s_wh(CS_EV_HOLD, "h5", 7000, AG, "agent");
    cs_call_merge(&call, &a, NULL);
    cs_call_merge(&call, &b, NULL);
    cs_call_merge(&other, &b, NULL);
    cs_call_merge(&other, &a, NULL);
    assert_string_equal(call.hold_leg, other.hold_leg);
}

/* Wrap-up: the latest one wins as a whole, in any order; it survives the
 * stored form. */
static void test_wrapup(void **state)
{
    (void)state;
    cs_event_t a, b;
    memset(&a, 0, sizeof a);
    a.kind = CS_EV_WRAPUP;
    a.source = CS_SRC_COMMAND;
    a.clock = CS_CLOCK_LOCAL;
    a.at = T0 + 70000;
    snprintf(a.id, sizeof a.id, "w1");
    snprintf(a.disposition, sizeof a.disposition, "Follow-up");
    snprintf(a.value, sizeof a.value, "call back Tuesday");
    snprintf(a.agent_id, sizeof a.agent_id, "agent-1");
    b = a;
    b.at = T0 + 90000;
    snprintf(b.id, sizeof b.id, "w2");
    snprintf(b.disposition, sizeof b.disposition, "Resolved");
    b.value[0] = '\0'; /* the notes cleared */
    cs_event_t evs[] = {s_created(-30), a, b};
    json_t *rec;
    assert_int_equal(s_all_orders(evs, 3, &rec), 6);
    json_t *w = json_object_get(rec, "wrapup");
    assert_string_equal(s_str(w, "disposition"), "Resolved");
    assert_string_equal(s_str(w, "notes"), "");
    assert_string_equal(s_str(w, "agent_id"), "agent-1");
    assert_string_equal(s_str(w, "at"), "2025-11-24T16:01:30.000Z");
    json_decref(rec);
}

/* The SDK's hangup of a leg it names ends that leg (so a leg transferred
 * away ends nothing); one that names no leg ends the call, as before. */
static void test_sdk_hangup_of_a_leg(void **state)
{
    (void)state;
    static cs_call_t call;
    cs_call_init(&call, "cs_TEST");
    cs_event_t evs[] = {
        s_created(-30),
        s_numbers(s_wh(CS_EV_INITIATED, "s1", 0, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "s3", 1250, CU, "customer"),
        s_xfer("x1", 20000, AG, "blind", "bob"),
    };
    s_merge_each(&call, evs, sizeof evs / sizeof evs[0]);
    cs_event_t leg_bye = s_sdk("hangup", 20050);
    snprintf(leg_bye.ccid, sizeof leg_bye.ccid, "%s", AG);
    cs_call_merge(&call, &leg_bye, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    cs_event_t call_bye = s_sdk("destroy", 20060);
    cs_call_merge(&call, &call_bye, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);
}

static void test_sdk_answer_then_webhook(void **state)
{
    (void)state;
    cs_call_t call;
    cs_call_init(&call, "cs_X");
    cs_event_t init = s_numbers(s_wh(CS_EV_INITIATED, "a", 0, CU, "customer"), "outgoing", CO, CX);
    cs_event_t active = s_sdk("active", 1900);
    cs_event_t answered = s_wh(CS_EV_ANSWERED, "b", 2000, CU, "customer");
    assert_true(cs_call_merge(&call, &init, NULL));
    assert_int_equal(cs_call_state(&call), CS_STATE_RINGING);
    assert_true(cs_call_merge(&call, &active, NULL));
    assert_int_equal(cs_call_state(&call), CS_STATE_ACTIVE);
    json_t *v = cs_call_to_json(&call);
    assert_string_equal(s_str(v, "answered_source"), "sdk");
    json_decref(v);
    assert_true(cs_call_merge(&call, &answered, NULL));
    v = cs_call_to_json(&call);
    assert_string_equal(s_str(v, "answered_source"), "webhook");
    assert_string_equal(s_str(json_object_get(v, "clocks"), "answered_at"), "provider");
    json_decref(v);
}

static void test_duplicate_changes_nothing(void **state)
{
    (void)state;
    cs_call_t call;
    cs_call_init(&call, "cs_X");
    cs_event_t e = s_wh(CS_EV_ANSWERED, "x", 10, CU, "customer");
    assert_true(cs_call_merge(&call, &e, NULL));
    assert_false(cs_call_merge(&call, &e, NULL));
    cs_event_t unknown = e;
    unknown.kind = CS_EV_UNKNOWN;
    assert_false(cs_call_merge(&call, &unknown, NULL));
}

static void test_ended_is_never_revived(void **state)
{
    (void)state;
    cs_call_t call;
    cs_call_init(&call, "cs_X");
    cs_event_t hang = s_hangup("h", 5000, CU, "customer", "normal_clearing", "callee", "200");
    cs_event_t late_answer = s_wh(CS_EV_ANSWERED, "a", 1000, CU, "customer");
    cs_event_t late_hold = s_wh(CS_EV_HOLD, "o", 9000, CU, "customer");
    cs_call_merge(&call, &hang, NULL);
    assert_true(cs_call_merge(&call, &late_answer, NULL));
    cs_call_merge(&call, &late_hold, NULL);
    assert_int_equal(cs_call_state(&call), CS_STATE_ENDED);
    json_t *v = cs_call_to_json(&call);
    assert_true(s_num(v, "talk_seconds") == 4.0); /* the late answer still fixes talk time */
    json_decref(v);
}

static void test_leg_limit(void **state)
{
    (void)state;
    cs_call_t call;
    cs_call_init(&call, "cs_X");
    bool dropped = false;
    for (int i = 0; i <= CS_MAX_LEGS; i++) {
        char cc[32];
        snprintf(cc, sizeof cc, "v3:leg-%d", i);
        cs_event_t e = s_wh(CS_EV_INITIATED, cc, i, cc, "customer");
        cs_call_merge(&call, &e, &dropped);
        assert_int_equal(dropped, i == CS_MAX_LEGS);
    }
    assert_int_equal(call.nlegs, CS_MAX_LEGS);
    s_round_trip(&call); /* every leg slot in use */
}

/* The packed form (the ingestor's cache): what each kind of bad bytes
 * gets. Every refusal is -1 and leaves the call as it was. */
static void test_packed_refused(void **state)
{
    (void)state;
    static cs_call_t call, out, before;
    cs_call_init(&call, "cs_PK");
    cs_event_t e = s_wh(CS_EV_DTMF, "1", 100, CU, "customer");
    snprintf(e.value, sizeof e.value, "5");
    cs_call_merge(&call, &e, NULL);
    assert_int_equal(call.nlegs, 1);
    assert_int_equal(call.ndtmf, 1);
    static char packed[sizeof call + 1];
    size_t len = cs_call_packed_size(&call);
    assert_true(len < sizeof call / 2); /* 1 leg of 8, 1 digit of 64 */
    cs_call_pack(&call, packed);
    cs_call_init(&out, "cs_UNTOUCHED");
    before = out;
    assert_int_equal(cs_call_unpack(&out, packed, len - 1), -1); /* cut short */
    assert_int_equal(cs_call_unpack(&out, packed, len + 1), -1); /* a byte too many */
    assert_int_equal(cs_call_unpack(&out, packed, 10), -1);      /* not even the head */
    int bad = CS_MAX_LEGS + 1;                                   /* a count out of range */
    memcpy(packed + offsetof(cs_call_t, nlegs), &bad, sizeof bad);
    assert_int_equal(cs_call_unpack(&out, packed, len), -1);
    bad = -1;
    memcpy(packed + offsetof(cs_call_t, nlegs), &bad, sizeof bad);
    assert_int_equal(cs_call_unpack(&out, packed, len), -1);
    assert_memory_equal(&out, &before, sizeof out);
    cs_call_pack(&call, packed);
    assert_int_equal(cs_call_unpack(&out, packed, len), 0);
    assert_memory_equal(&out, &call, sizeof out);
}

static void test_store_round_trip(void **state)
{
    (void)state;
    cs_call_t a, b;
    cs_call_init(&a, "cs_RT");
    cs_event_t evs[] = {
        s_created(0),
        s_numbers(s_wh(CS_EV_INITIATED, "1", 5, AG, "agent"), "outgoing", CO, CX),
        s_wh(CS_EV_ANSWERED, "2", 900, CU, "customer"),
        s_wh(CS_EV_HOLD, "3", 1000, CU, "customer"),
        s_sdk("active", 905),
        s_wh(CS_EV_DTMF, "4", 1100, CU, "customer"),
    };
    snprintf(evs[5].value, sizeof evs[5].value, "#");
    json_t *entries[6];
    for (size_t i = 0; i < 6; i++) {
        cs_call_merge(&a, &evs[i], NULL);
        entries[i] = cs_call_history_entry(&a, &evs[i], T0 + 5000);
    }
    /* each entry reads back, against the final record, as the event it was */
    for (size_t i = 0; i < 6; i++) {
        cs_event_t back;
        int64_t rx;
        char err[128];
        assert_int_equal(cs_call_history_event(&a, entries[i], &back, &rx, err, sizeof err), 0);
        assert_int_equal(rx, T0 + 5000);
        memcpy(back.type, evs[i].type, sizeof back.type); /* "" reads back as the canonical type */
        assert_memory_equal(&back, &evs[i], sizeof back);
        json_decref(entries[i]);
    }
    s_round_trip(&a); /* stored and packed, DTMF and hold included */
    char err[128];
    json_t *bad = json_pack("{s:s, s:i, s:[{s:i}]}", "id", "cs_X", "t0", 0, "legs", "cc", 1);
    assert_int_equal(cs_call_from_store(&b, bad, err, sizeof err), -1);
    json_decref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbound_answered),
        cmocka_unit_test(test_hangup_requested),
        cmocka_unit_test(test_answered_at_is_the_customers),
        cmocka_unit_test(test_inbound),
        cmocka_unit_test(test_inbound_second_agent),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_no_answer),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_transferred_with_hold),
        cmocka_unit_test(test_blind_transfer),
        cmocka_unit_test(test_blind_transfer_unanswered),
        cmocka_unit_test(test_blind_transfer_refused),
        cmocka_unit_test(test_warm_transfer),
        cmocka_unit_test(test_warm_transfer_colleague_gone_first),
        cmocka_unit_test(test_a_number_is_nobodys_leg),
        cmocka_unit_test(test_sdk_hangup_of_a_leg),
        cmocka_unit_test(test_wrapup),
        cmocka_unit_test(test_hold_leaves_with_its_leg),
        cmocka_unit_test(test_sdk_answer_then_webhook),
        cmocka_unit_test(test_duplicate_changes_nothing),
        cmocka_unit_test(test_ended_is_never_revived),
        cmocka_unit_test(test_leg_limit),
        cmocka_unit_test(test_packed_refused),
        cmocka_unit_test(test_store_round_trip),
    };
    return cmocka_run_group_tests_name("call", tests, NULL, NULL);
}
