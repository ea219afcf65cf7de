/* The whole backbone on one call: callsync-ctl dial -> the orchestrator
 * rings the agent (sim), then the customer when the agent answers, bridged
 * -> webhooks -> ingestor -> the record; the customer hangs up and the
 * orchestrator ends the agent's leg; `ctl hangup` ends every leg; two
 * orchestrators issue each command once. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents.h"
#include "bus.h"
#include "call.h"
#include "harness.h"
#include "store.h"

static h_env_t s_env;
static int s_ingest, s_sim, s_teardown_failed, s_orch_port, s_timer_port;
static pid_t s_orchs[4], s_timer_pid; /* the running instances, to kill mid-call */
static int s_orch_ports[4], s_norchs;

static int s_agent_leg_answered(const json_t *rec);

static pid_t s_orchestrator(void)
{
    char e_redis[192], e_pub[128], e_sub[128], e_base[128];
    snprintf(e_redis, sizeof e_redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
    snprintf(e_pub, sizeof e_pub, "CALLSYNC_BUS_PUB=%s", s_env.bus_pub);
    snprintf(e_sub, sizeof e_sub, "CALLSYNC_BUS_SUB=%s", s_env.bus_sub);
    snprintf(e_base, sizeof e_base, "TELNYX_API_BASE=http://127.0.0.1:%d/v2", s_sim);
    const char *extra[] = {e_redis,
                           e_pub,
                           e_sub,
                           e_base,
                           "TELNYX_API_KEY=sim-key",
                           "CALLSYNC_RING_TIMEOUT_S=5",
                           "CALLSYNC_WRAPUP_S=1",
                           "CALLSYNC_STUCK_S=15",
                           "CALLSYNC_MAX_CALL_S=12",
                           "CALLSYNC_ALIVE_CHECK_S=3",
                           "CALLSYNC_QUEUE_WAIT_S=10",
                           "TELNYX_CONNECTION_ID=1001",
                           "CALLSYNC_CALLER_ID=+15550009999",
                           NULL};
    int port = 0;
    pid_t pid = h_listener(&s_env, "orchestrator", "CALLSYNC_ORCH_PORT", extra, &port);
    if (pid > 0) {
        s_orch_port = port;
        if (s_norchs < 4) {
            s_orch_ports[s_norchs] = port;
            s_orchs[s_norchs++] = pid;
        }
    }
    return pid;
}

static pid_t s_timer(void)
{
    char e_redis[192], e_pub[128], e_sub[128], e_base[128];
    snprintf(e_redis, sizeof e_redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
    snprintf(e_pub, sizeof e_pub, "CALLSYNC_BUS_PUB=%s", s_env.bus_pub);
    snprintf(e_sub, sizeof e_sub, "CALLSYNC_BUS_SUB=%s", s_env.bus_sub);
    snprintf(e_base, sizeof e_base, "TELNYX_API_BASE=http://127.0.0.1:%d/v2", s_sim);
    const char *extra[] = {e_redis, e_pub, e_sub, e_base, "TELNYX_API_KEY=sim-key", NULL};
    int port = 0;
    pid_t pid = h_listener(&s_env, "timer", "CALLSYNC_TIMER_PORT", extra, &port);
    s_timer_pid = pid;
    if (pid > 0)
        s_timer_port = port;
    return pid;
}

static int setup(void **state)
{
    (void)state;
    if (h_setup(&s_env))
        return -1;
    if (h_bus(&s_env) < 0 || h_ingestor(&s_env, &s_ingest) < 0)
        return -1;
    char hook[128];
    snprintf(hook, sizeof hook, "http://127.0.0.1:%d/webhooks/telnyx", s_ingest);
    if (h_sim(&s_env, &s_sim, hook) < 0 || s_orchestrator() < 0 || s_timer() < 0)
        return -1;
    const char *agent[] = {"agent",   "set",      "alice",     "--sip-user",
                           "alice01", "--status", "available", NULL};
    return h_ctl(&s_env, agent, NULL, NULL) == 0 ? 0 : -1;
}

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

/* Polls `ctl call id` until check(record) holds; returns the record. */
static json_t *s_until(const char *id, int (*check)(const json_t *), int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        const char *args[] = {"call", id, NULL};
        json_t *rec = NULL;
        if (h_ctl(&s_env, args, &rec, NULL) == 0 && check(rec))
            return rec;
        json_decref(rec);
        struct timespec pause = {0, 100000000L};
        nanosleep(&pause, NULL);
    }
    fail_msg("call %s never reached the expected state", id);
    return NULL;
}

static int s_ended_both(const json_t *rec)
{
    const json_t *legs = json_object_get(rec, "legs");
    if (strcmp(s_str(rec, "state"), "ended") != 0 || json_array_size(legs) != 2)
        return 0;
    for (size_t i = 0; i < 2; i++)
        if (json_is_null(json_object_get(json_array_get(legs, i), "ended_at")))
            return 0;
    return 1;
}

static int s_active_both(const json_t *rec)
{
    return strcmp(s_str(rec, "state"), "active") == 0 &&
           json_array_size(json_object_get(rec, "legs")) == 2;
}

static char *s_dial(const char *to)
{
    static char id[64];
    const char *args[] = {"dial", "--agent", "alice", "--to", to, NULL};
    json_t *rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    snprintf(id, sizeof id, "%s", s_str(rec, "id"));
    assert_string_equal(s_str(rec, "flow"), "server_dial");
    json_decref(rec);
    return id;
}

/* How many history entries of a command type the call has. */
static int s_commands(const char *id, const char *type)
{
    const char *args[] = {"events", id, NULL};
    json_t *hist = NULL;
    assert_int_equal(h_ctl(&s_env, args, &hist, NULL), 0);
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(hist, i, e) n +=
        strcmp(s_str(json_object_get(e, "event"), "type"), type) == 0;
    json_decref(hist);
    return n;
}

static void test_server_dial_customer_hangs_up(void **state)
{
    (void)state;
    /* +4 answers 1 s after it is dialled and hangs up 3 s later */
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100004"));
    json_t *rec = s_until(id, s_ended_both, 15000);
    assert_string_equal(s_str(rec, "direction"), "outbound");
    assert_string_equal(s_str(rec, "agent_id"), "alice");
    assert_string_equal(s_str(rec, "to"), "+15550100004");
    assert_string_equal(s_str(rec, "hangup_source"), "callee");
    double talk = json_real_value(json_object_get(rec, "talk_seconds"));
    assert_true(talk >= 2.9 && talk <= 3.5);
    json_t *legs = json_object_get(rec, "legs");
    int agents = 0;
    for (size_t i = 0; i < 2; i++)
        agents += strcmp(s_str(json_array_get(legs, i), "role"), "agent") == 0;
    assert_int_equal(agents, 1);
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.dial_agent"), 1);
    assert_int_equal(s_commands(id, "command.dial_customer"), 1);
    assert_int_equal(s_commands(id, "command.hangup"), 1); /* the agent's leg, by teardown */
}

/* The scripted numbers the other tests do not reach by a server dial
 * (+1 stays, +2 is busy, +4 hangs up: elsewhere; +3 rings out after 30 s,
 * in the SDK tests): +5 rejects (603), the agent's leg is hung up; +6
 * answers without early media and talks until the operator hangs up. */
static void test_server_dial_rejected_and_no_early_media(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100005"));
    json_t *rec = s_until(id, s_ended_both, 15000);
    const json_t *customer = NULL;
    size_t i;
    json_t *leg;
    json_array_foreach(json_object_get(rec, "legs"), i, leg)
    {
        if (strcmp(s_str(leg, "role"), "customer") == 0)
            customer = leg;
    }
    assert_non_null(customer);
    assert_string_equal(s_str(customer, "hangup_cause"), "call_rejected");
    assert_string_equal(s_str(customer, "sip_code"), "603");
    assert_true(json_is_null(json_object_get(customer, "answered_at")));
    assert_true(json_is_null(json_object_get(rec, "talk_seconds")));
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.hangup"), 1); /* the agent's leg */

    snprintf(id, sizeof id, "%s", s_dial("+15550100006"));
    rec = s_until(id, s_active_both, 15000);
    assert_false(json_is_null(json_object_get(rec, "answered_at")));
    json_decref(rec);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_both, 8000));
}

/* An instance claimed the customer's dial and died before sending it
 * (the claim is planted here, 3 s instead of the real 15 s): once the
 * claim expires, the sweep sends it; once. */
static void test_claimed_then_crashed_is_recovered(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    redisContext *c = h_redis(&s_env);
    freeReplyObject(redisCommand(c, "SET cs:claim:%s:dial_customer dead-instance PX 3000", id));
    redisFree(c);
    int64_t planted = h_now_ms();
    json_decref(s_until(id, s_agent_leg_answered, 10000));
    json_decref(s_until(id, s_active_both, 15000));
    assert_true(h_now_ms() - planted >= 3000); /* not before the claim expired */
    assert_int_equal(s_commands(id, "command.dial_customer"), 1);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_both, 8000));
}

/* Whether a call.changed notice for the call arrives within timeout_ms
 * whose record satisfies pred(record, arg). */
static int s_notice(cs_bus_t *sub, const char *id, int (*pred)(const cs_call_t *, const char *),
                    const char *arg, int timeout_ms)
{
    int64_t end = h_now_ms() + timeout_ms;
    int seen = 0;
    while (!seen && h_now_ms() < end) {
        char *topic, *msg;
        size_t len;
        if (cs_bus_recv(sub, 100, &topic, &msg, &len) != 0)
            continue;
        static cs_call_t call;
        char err[256];
        seen = cs_store_decode(msg, len, &call, err, sizeof err) == 0 && strcmp(call.id, id) == 0 &&
               pred(&call, arg);
        free(topic);
        free(msg);
    }
    return seen;
}

/* Ended on request, with every leg still up: only the request's own
 * notice says this, before the orchestrator has hung anything up (the
 * hangups' webhooks each bring an ended leg). */
static int s_requested_end(const cs_call_t *call, const char *by)
{
    for (int i = 0; i < call->nlegs; i++)
        if (call->legs[i].ended.at)
            return 0;
    return cs_call_state(call) == CS_STATE_ENDED && strcmp(call->hangup_by.v, by) == 0;
}

static void test_ctl_hangup_ends_every_leg(void **state)
{
    (void)state;
    static const char *const topics[] = {"call.changed", NULL};
    cs_bus_t *sub = cs_bus_sub_new(s_env.bus_sub, topics);
    assert_non_null(sub);
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001")); /* answers and stays */
    json_decref(s_until(id, s_active_both, 15000));
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    /* ctl's change notice: the softphones show the end at once */
    assert_true(s_notice(sub, id, s_requested_end, "callsync-ctl", 5000));
    cs_bus_destroy(&sub);
    json_t *rec = s_until(id, s_ended_both, 8000);
    /* our side ended it, whichever leg the platform closed first */
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    assert_string_equal(s_str(rec, "hangup_requested_by"), "callsync-ctl");
    json_decref(rec);
}

/* The hang-up request is a fact on the record: with the bus message lost
 * (ctl publishes into the void), the orchestrator's sweep still ends every
 * leg, and the record says ended from the moment ctl returned. */
static void test_ctl_hangup_survives_a_lost_command(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    char saved[sizeof s_env.bus_pub];
    memcpy(saved, s_env.bus_pub, sizeof saved);
    snprintf(s_env.bus_pub, sizeof s_env.bus_pub, "tcp://127.0.0.1:9"); /* nobody */
    const char *hang[] = {"hangup", id, NULL};
    json_t *out = NULL;
    int rc = h_ctl(&s_env, hang, &out, NULL);
    memcpy(s_env.bus_pub, saved, sizeof saved);
    assert_int_equal(rc, 0);
    json_decref(out);
    const char *show[] = {"call", id, NULL};
    assert_int_equal(h_ctl(&s_env, show, &out, NULL), 0);
    assert_string_equal(s_str(out, "state"), "ended");
    json_decref(out);
    json_t *rec = s_until(id, s_ended_both, 8000);
    json_decref(rec);
}

static double s_num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static int s_ended(const json_t *rec)
{
    return strcmp(s_str(rec, "state"), "ended") == 0;
}

/* The guards (CALLSYNC_STUCK_S=15, CALLSYNC_MAX_CALL_S=12 here): a browser
 * call that no softphone ever placed ends 10 s after it was made; a call
 * still talking 12 s after the customer's answer is ended, every leg hung
 * up. */
static void test_guards_end_stuck_and_long_calls(void **state)
{
    (void)state;
    const char *args[] = {"dial", "--agent", "alice", "--to", "+15550100001", "--browser", NULL};
    json_t *rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    char stuck[64], longer[64];
    snprintf(stuck, sizeof stuck, "%s", s_str(rec, "id"));
    assert_string_equal(s_str(rec, "state"), "dialing");
    json_decref(rec);
    snprintf(longer, sizeof longer, "%s", s_dial("+15550100001")); /* answers and stays */
    json_decref(s_until(longer, s_active_both, 15000));
    rec = s_until(stuck, s_ended, 25000);
    assert_int_equal(json_array_size(json_object_get(rec, "legs")), 0);
    json_decref(rec);
    rec = s_until(longer, s_ended_both, 25000);
    /* counted from the customer's answer, as talk_seconds is: not from
     * the agent leg's, which answers first */
    assert_true(s_num(rec, "talk_seconds") >= 11.9);
    json_decref(rec);
    assert_int_equal(s_commands(stuck, "callsync.hangup_requested"), 1);
    assert_int_equal(s_commands(longer, "callsync.hangup_requested"), 1);
}

static void test_two_orchestrators_issue_once(void **state)
{
    (void)state;
    json_t *r = NULL; /* no faults left over from a test before */
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{}", &r), 200);
    json_decref(r);
    assert_true(s_orchestrator() > 0);
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100004"));
    json_decref(s_until(id, s_ended_both, 15000));
    assert_int_equal(s_commands(id, "command.dial_agent"), 1);
    assert_int_equal(s_commands(id, "command.dial_customer"), 1);
    assert_int_equal(s_commands(id, "command.hangup"), 1);
}

static void s_agent(const char *id, const char *sip, const char *status)
{
    const char *args[] = {"agent", "set", id, "--sip-user", sip, "--status", status, NULL};
    assert_int_equal(h_ctl(&s_env, args, NULL, NULL), 0);
}

/* The suite's four agents: the one named available, the others offline. */
static void s_only_available(const char *who)
{
    static const char *const team[][2] = {
        {"alice", "alice01"}, {"bob", "bob01"}, {"carol", "carol01"}, {"dave", "dave01"}};
    for (size_t i = 0; i < sizeof team / sizeof team[0]; i++)
        s_agent(team[i][0], team[i][1], strcmp(team[i][0], who) == 0 ? "available" : "offline");
}

/* An inbound call from the PSTN; returns the customer leg's control id. */
static char *s_inbound(const char *from)
{
    static char cc[128];
    char body[128];
    snprintf(body, sizeof body, "{\"from\":\"%s\",\"to\":\"+15550009999\"}", from);
    json_t *r = NULL;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/calls", body, &r), 200);
    snprintf(cc, sizeof cc, "%s", s_str(json_object_get(r, "data"), "call_control_id"));
    json_decref(r);
    return cc;
}

static int s_three_legs_active(const json_t *rec)
{
    return strcmp(s_str(rec, "state"), "active") == 0 &&
           json_array_size(json_object_get(rec, "legs")) == 3;
}

static int s_ended_any(const json_t *rec)
{
    return strcmp(s_str(rec, "state"), "ended") == 0;
}

/* Bob's phone (his SIP URI in the sim) rings until the ring timeout. */
static void s_bob_never_answers(void)
{
    json_t *r = NULL;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/numbers",
                                "{\"number\":\"sip:bob01@sip.telnyx.com\",\"ring_ms\":-1,"
                                "\"answer\":false}",
                                &r),
                     200);
    json_decref(r);
}

/* Bob never picks up; after the ring timeout the call goes to Carol. */
static void test_inbound_rings_the_next_agent(void **state)
{
    (void)state;
    s_agent("alice", "alice01", "offline");
    s_agent("bob", "bob01", "available");
    s_agent("carol", "carol01", "available");
    s_bob_never_answers();
    redisContext *c = h_redis(&s_env);
    freeReplyObject(redisCommand(c, "SET cs:rr 0")); /* bob (first by id) goes first */
    redisFree(c);
    char cc[128];
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770101"));
    json_t *rec = s_until(cc, s_three_legs_active, 15000);
    assert_string_equal(s_str(rec, "direction"), "inbound");
    assert_string_equal(s_str(rec, "agent_id"), "carol");
    assert_string_equal(s_str(rec, "from"), "+15557770101");
    int bob_rang_out = 0;
    size_t i;
    json_t *leg;
    json_array_foreach(json_object_get(rec, "legs"), i, leg)
    {
        if (strcmp(s_str(leg, "to"), "sip:bob01@sip.telnyx.com") == 0) {
            assert_string_equal(s_str(leg, "hangup_cause"), "timeout");
            bob_rang_out = 1;
        }
    }
    assert_true(bob_rang_out);
    char id[64];
    snprintf(id, sizeof id, "%s", s_str(rec, "id"));
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.transfer"), 2);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_any, 8000));
}

/* Nobody available: the caller waits in the line (ringing) for
 * CALLSYNC_QUEUE_WAIT_S (10 s here), then hears busy, and the record says
 * why. */
static void test_inbound_nobody_available(void **state)
{
    (void)state;
    s_agent("alice", "alice01", "offline");
    s_agent("bob", "bob01", "offline");
    s_agent("carol", "carol01", "offline");
    char cc[128];
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770102"));
    json_t *rec = s_until(cc, s_ended_any, 20000);
    assert_string_equal(s_str(rec, "hangup_cause"), "user_busy");
    char id[64];
    snprintf(id, sizeof id, "%s", s_str(rec, "id"));
    json_decref(rec);
    const char *args[] = {"events", id, NULL};
    json_t *hist = NULL;
    assert_int_equal(h_ctl(&s_env, args, &hist, NULL), 0);
    char *text = json_dumps(hist, 0);
    assert_non_null(strstr(text, "waiting for an agent (no agent available)"));
    assert_non_null(strstr(text, "no agent available (waited 1")); /* 10 s, or a sweep more */
    free(text);
    json_decref(hist);
    assert_int_equal(s_commands(id, "command.reject"), 1);
    s_agent("alice", "alice01", "available");
}

/* The hangup webhooks never arrive: the timer asks Telnyx 2 s after each
 * hangup and ends the legs itself. */
static void test_lost_hangup_webhooks_reconciled(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    json_t *r = NULL;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{\"fail_first_attempts\":5}", &r),
                     200);
    json_decref(r);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_t *rec = s_until(id, s_ended_both, 10000);
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{}", &r), 200);
    json_decref(r);
    json_t *legs = json_object_get(rec, "legs");
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(s_str(json_array_get(legs, i), "hangup_cause"), "unspecified");
    assert_string_equal(s_str(json_object_get(rec, "clocks"), "ended_at"), "provider");
    json_decref(rec);
}

/* The customer hangs up and every webhook about it is lost, with no
 * command of ours to notice: the periodic liveness check (every 3 s here)
 * asks Telnyx and ends the call. */
static void test_lost_webhooks_without_a_command_reconciled(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_t *rec = s_until(id, s_active_both, 15000);
    char customer[160] = "";
    json_t *legs = json_object_get(rec, "legs");
    for (size_t i = 0; i < json_array_size(legs); i++)
        if (strcmp(s_str(json_array_get(legs, i), "role"), "customer") == 0)
            snprintf(customer, sizeof customer, "%s",
                     s_str(json_array_get(legs, i), "call_control_id"));
    json_decref(rec);
    json_t *r = NULL;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{\"fail_first_attempts\":5}", &r),
                     200);
    json_decref(r);
    char path[256];
    snprintf(path, sizeof path, "/v2/calls/%s/actions/hangup", customer);
    assert_int_equal(h_sim_call(s_sim, "POST", path, "{}", &r), 200); /* behind our back */
    json_decref(r);
    rec = s_until(id, s_ended_both, 15000);
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", "{}", &r), 200);
    json_decref(r);
    json_decref(rec);
}

/* An agent's status in Redis, polled until it is `want` (1) or times out (0). */
/* Waits until the agent's status is (equal) or is no longer (!equal)
 * `status`: presence follows the record a moment after it changes. */
static int s_agent_status(const char *id, const char *status, bool equal, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        redisContext *c = h_redis(&s_env);
        redisReply *r = redisCommand(c, "HGET cs:agent:%s status", id);
        int ok = r && r->type == REDIS_REPLY_STRING && (strcmp(r->str, status) == 0) == equal;
        freeReplyObject(r);
        redisFree(c);
        if (ok)
            return 1;
        struct timespec pause = {0, 50000000L};
        nanosleep(&pause, NULL);
    }
    return 0;
}

static int s_agent_becomes(const char *id, const char *want, int timeout_ms)
{
    return s_agent_status(id, want, true, timeout_ms);
}

static void s_pause_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* The call's record as stored, "<version> <JSON>": what a call.changed
 * notice carries. Caller frees. */
static char *s_stored(const char *id)
{
    redisContext *c = h_redis(&s_env);
    redisReply *r = redisCommand(c, "GET cs:call:%s", id);
    assert_true(r && r->type == REDIS_REPLY_STRING);
    char *doc = strdup(r->str);
    freeReplyObject(r);
    redisFree(c);
    return doc;
}

/* Publishes `doc` as a call.changed notice, then a notice that is no
 * record, and waits until every orchestrator has logged the latter: each
 * takes the bus's messages in order, so it has handled `doc` by then. pub
 * must have been connected for a while (a new publisher's first messages
 * may go before the forwarder has heard of any subscriber). */
static void s_notice_handled(cs_bus_t *pub, const char *doc)
{
    static const char junk[] = "1 not a record";
    assert_int_equal(cs_bus_send(pub, "call.changed", doc, strlen(doc)), 0);
    assert_int_equal(cs_bus_send(pub, "call.changed", junk, sizeof junk - 1), 0);
    for (int i = 0; i < s_norchs; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "%d", s_orch_ports[i]);
        int waited = 0;
        while (!h_log_has(&s_env, "orchestrator", tag, "call.changed not a record") &&
               waited < 5000) {
            s_pause_ms(50);
            waited += 50;
        }
        assert_true(waited < 5000);
    }
}

/* Presence follows the call: busy while talking, wrap-up after, then
 * available again (CALLSYNC_WRAPUP_S=1 here). A notice of the call while
 * it talked that comes after the wrap-up began (late on the bus, or
 * overtaken by another orchestrator's read) does not make her busy again. */
static void test_presence_follows_the_call(void **state)
{
    (void)state;
    cs_bus_t *pub = cs_bus_pub_new(s_env.bus_pub);
    assert_non_null(pub);
    s_agent("alice", "alice01", "available");
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    assert_true(s_agent_becomes("alice", "busy", 3000));
    char *talking = s_stored(id);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    assert_true(s_agent_becomes("alice", "wrap_up", 5000));
    s_notice_handled(pub, talking);
    assert_true(s_agent_status("alice", "busy", false, 0));
    assert_true(s_agent_becomes("alice", "available", 5000));
    free(talking);
    cs_bus_destroy(&pub);
}

/* A field of the agent's hash ("" when absent). */
static void s_agent_field(const char *id, const char *field, char *out, size_t len)
{
    redisContext *c = h_redis(&s_env);
    redisReply *r = redisCommand(c, "HGET cs:agent:%s %s", id, field);
    snprintf(out, len, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

/* Presence from the softphone's connection (common/agents.h), as two
 * relays would keep it, with the timer service running the checks: a
 * connect makes an offline agent available; they stay while any relay
 * holds a lease; the last lease over takes them offline, but not off a
 * call, whose end then does; a desk-phone agent (no softphone ever) is
 * moved only by calls and operators; an unknown agent gets nothing. */
static void test_presence_follows_the_softphone(void **state)
{
    (void)state;
    char err[256], softphone[32];
    cs_redis_t *r = cs_redis_new(s_env.redis_url, err, sizeof err);
    assert_non_null(r);
    s_agent("dora", "dora01", "offline");
    int64_t now = h_now_ms();
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", now + 60000, 1), 1);
    assert_true(s_agent_becomes("dora", "available", 0));
    s_agent_field("dora", "softphone", softphone, sizeof softphone);
    assert_string_equal(softphone, "connected");
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-b", now + 60000, 1), 0);

    /* relay a's socket closes: relay b still holds her */
    assert_int_equal(cs_agent_softphone_down(r, "dora", "relay-a", h_now_ms() + 300), 0);
    s_pause_ms(1000);
    assert_true(s_agent_becomes("dora", "available", 0));
    /* and b's: offline after the grace */
    assert_int_equal(cs_agent_softphone_down(r, "dora", "relay-b", h_now_ms() + 300), 0);
    assert_true(s_agent_becomes("dora", "offline", 3000));
    s_agent_field("dora", "softphone", softphone, sizeof softphone);
    assert_string_equal(softphone, "gone");

    /* a renewal after she was taken for gone (Redis was out of reach for a
     * lease) brings her back; a plain renewal after that changes nothing,
     * nor does one while an operator has her offline; a connect does */
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", h_now_ms() + 60000, 0), 1);
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", h_now_ms() + 60000, 0), 0);
    s_agent("dora", "dora01", "offline");
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", h_now_ms() + 60000, 0), 0);
    assert_true(s_agent_becomes("dora", "offline", 0));
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", h_now_ms() + 60000, 1), 1);

    /* on a call when the softphone goes: busy until the call ends, then
     * offline, not available */
    assert_int_equal(cs_agent_transition(r, "dora", "available", "busy"), 1);
    assert_int_equal(cs_agent_softphone_down(r, "dora", "relay-a", h_now_ms() + 300), 0);
    for (int i = 0; i < 40; i++) { /* the check has run once the field says so */
        s_agent_field("dora", "softphone", softphone, sizeof softphone);
        if (strcmp(softphone, "gone") == 0)
            break;
        s_pause_ms(100);
    }
    assert_string_equal(softphone, "gone");
    assert_true(s_agent_becomes("dora", "busy", 0));
    assert_string_equal(cs_agent_free(r, "dora", "busy"), "offline");

    /* in wrap-up when it goes: offline at once */
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-a", h_now_ms() + 60000, 1), 1);
    assert_int_equal(cs_agent_transition(r, "dora", "available", "busy"), 1);
    assert_int_equal(cs_agent_transition(r, "dora", "busy", "wrap_up"), 1);
    assert_int_equal(cs_agent_softphone_down(r, "dora", "relay-a", h_now_ms() + 300), 0);
    assert_true(s_agent_becomes("dora", "offline", 3000));
    assert_null(cs_agent_free(r, "dora", "wrap_up")); /* she moved on */

    /* a relay that stops renewing (it died): offline when its lease ends */
    assert_int_equal(cs_agent_softphone_up(r, "dora", "relay-c", h_now_ms() + 500, 1), 1);
    assert_true(s_agent_becomes("dora", "offline", 3000));

    /* a desk-phone agent: free is available, no check moves her */
    s_agent("erin", "erin01", "wrap_up");
    assert_int_equal(cs_agent_softphone_check(r, "erin", h_now_ms()), 0);
    assert_string_equal(cs_agent_free(r, "erin", "wrap_up"), "available");
    s_agent("erin", "erin01", "offline"); /* out of the later tests' routing */

    /* no such agent: nothing written */
    assert_int_equal(cs_agent_softphone_up(r, "ghost", "relay-a", h_now_ms() + 60000, 1), 0);
    redisContext *c = h_redis(&s_env);
    redisReply *x = redisCommand(c, "EXISTS cs:online:ghost cs:agent:ghost");
    assert_int_equal(x->integer, 0);
    freeReplyObject(x);
    redisFree(c);
    cs_redis_destroy(&r);
}

static int s_has_recording(const json_t *rec)
{
    return json_is_string(json_object_get(rec, "recording_url"));
}

/* DTMF and recording from the operator's CLI, through the orchestrator. */
static void test_dtmf_and_recording(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    const char *bad[] = {"dtmf", id, "12x", NULL};
    assert_int_equal(h_ctl(&s_env, bad, NULL, NULL), 2);
    const char *dtmf[] = {"dtmf", id, "12#", NULL};
    assert_int_equal(h_ctl(&s_env, dtmf, NULL, NULL), 0);
    const char *start[] = {"record", id, "start", NULL};
    assert_int_equal(h_ctl(&s_env, start, NULL, NULL), 0);
    /* wait for the start to be sent before asking to stop */
    for (int i = 0; i < 100 && s_commands(id, "command.record_start") == 0; i++) {
        struct timespec pause = {0, 50000000L};
        nanosleep(&pause, NULL);
    }
    const char *stop[] = {"record", id, "stop", NULL};
    assert_int_equal(h_ctl(&s_env, stop, NULL, NULL), 0);
    json_t *rec = s_until(id, s_has_recording, 8000);
    assert_non_null(strstr(s_str(rec, "recording_url"), ".mp3"));
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.send_dtmf"), 1);
    assert_int_equal(s_commands(id, "command.record_stop"), 1);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_both, 8000));
}

/* A counter summed over every orchestrator instance still answering. */
static long s_orch_counter(const char *series)
{
    long sum = 0;
    for (int i = 0; i < s_norchs; i++) {
        char url[128], *body = NULL;
        snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_orch_ports[i]);
        const char *at = NULL;
        if (h_http("GET", url, NULL, NULL, 0, &body) == 200 && (at = strstr(body, series)))
            sum += strtol(at + strlen(series), NULL, 10);
        free(body);
    }
    return sum;
}

static void test_metrics(void **state)
{
    (void)state;
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_orch_port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "callsync_commands_total{outcome=\"ok\"}"));
    assert_non_null(strstr(body, "callsync_command_seconds_bucket"));
    assert_non_null(strstr(body, "callsync_command_failures_total{code=\"90018\"}"));
    free(body);
    /* this suite routed inbound calls to agents, and one waited for
     * nobody */
    assert_true(s_orch_counter("callsync_routes_total{outcome=\"agent_rung\"}") >= 2);
    assert_true(s_orch_counter("callsync_routes_total{outcome=\"queued\"}") >= 1);
    assert_true(s_orch_counter("callsync_routes_total{outcome=\"nobody_available\"}") >= 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_timer_port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "callsync_hangup_checks_total{outcome=\"reconciled\"}"));
    assert_non_null(strstr(body, "callsync_timers_fired_total"));
    /* calls counted from the notices: this suite ended several answered
     * outbound calls, and one inbound call nobody could take */
    const char *answered = strstr(body, "callsync_calls_total{direction=\"outbound\","
                                        "outcome=\"answered\"} ");
    assert_non_null(answered);
    assert_true(strtol(strchr(answered, '}') + 2, NULL, 10) >= 3);
    assert_non_null(strstr(body, "callsync_calls_total{direction=\"inbound\",outcome=\"busy\"} 1"));
    assert_non_null(strstr(body, "callsync_talk_seconds_count"));
    assert_non_null(strstr(body, "callsync_agents{presence=\"available\"}"));
    assert_non_null(strstr(body, "callsync_calls_active{state=\"active\"}"));
    free(body);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nothing", s_timer_port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, NULL), 404);
}

static const json_t *s_leg_of(const json_t *rec, const char *key, const char *value)
{
    size_t i;
    json_t *leg;
    json_array_foreach(json_object_get(rec, "legs"), i, leg)
    {
        if (strcmp(s_str(leg, key), value) == 0)
            return leg;
    }
    return NULL;
}

/* dave took the call over: it is his, his leg answered, alice's has ended */
static int s_taken_by_dave(const json_t *rec)
{
    const json_t *t = s_leg_of(rec, "role", "transfer");
    const json_t *a = s_leg_of(rec, "agent_id", "alice");
    return strcmp(s_str(rec, "state"), "active") == 0 &&
           strcmp(s_str(rec, "agent_id"), "dave") == 0 && t &&
           !json_is_null(json_object_get(t, "answered_at")) && a &&
           !json_is_null(json_object_get(a, "ended_at"));
}

/* ... and gave it back: it is alice's again, on a second leg of hers that
 * answered and is live */
static int s_taken_back_by_alice(const json_t *rec)
{
    if (strcmp(s_str(rec, "state"), "active") != 0 || strcmp(s_str(rec, "agent_id"), "alice") != 0)
        return 0;
    int hers = 0, live = 0;
    size_t i;
    json_t *leg;
    json_array_foreach(json_object_get(rec, "legs"), i, leg)
    {
        if (strcmp(s_str(leg, "agent_id"), "alice") != 0)
            continue;
        hers++;
        live |= !json_is_null(json_object_get(leg, "answered_at")) &&
                json_is_null(json_object_get(leg, "ended_at"));
    }
    return hers == 2 && live;
}

static json_t *s_agent_record(const char *id)
{
    const char *args[] = {"agents", NULL};
    json_t *all = NULL, *found = NULL;
    assert_int_equal(h_ctl(&s_env, args, &all, NULL), 0);
    size_t i;
    json_t *a;
    json_array_foreach(all, i, a)
    {
        if (strcmp(s_str(a, "id"), id) == 0)
            found = json_incref(a);
    }
    json_decref(all);
    return found;
}

/* Blind transfer by the operator (ctl transfer): alice's call goes to
 * dave. Alice's leg leaves (the platform unbridges it), the customer stays
 * up, dave's leg answers and the call is his; alice goes to wrap-up while
 * the call goes on. Then the call ends as any other: every leg hung up.
 * Bad requests are refused and change nothing. */
static void test_blind_transfer(void **state)
{
    (void)state;
    s_agent("dave", "dave01", "available");
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));

    const char *bad_number[] = {"transfer", id, "--to", "+1-555", NULL};
    assert_int_equal(h_ctl(&s_env, bad_number, NULL, NULL), 2);
    const char *nobody[] = {"transfer", id, "--to", "zed", NULL};
    assert_int_equal(h_ctl(&s_env, nobody, NULL, NULL), 1);
    const char *to_self[] = {"transfer", id, "--to", "alice", NULL};
    assert_int_equal(h_ctl(&s_env, to_self, NULL, NULL), 1);

    const char *xfer[] = {"transfer", id, "--to", "dave", NULL};
    assert_int_equal(h_ctl(&s_env, xfer, NULL, NULL), 0);
    json_t *rec = s_until(id, s_taken_by_dave, 15000);
    const json_t *alice = s_leg_of(rec, "agent_id", "alice");
    assert_string_equal(s_str(alice, "transfer"), "blind");
    assert_string_equal(s_str(alice, "transfer_to"), "dave");
    assert_false(json_is_null(json_object_get(alice, "transferred_at")));
    assert_true(json_is_null(json_object_get(s_leg_of(rec, "role", "customer"), "ended_at")));
    assert_string_equal(s_str(s_leg_of(rec, "role", "transfer"), "to"),
                        "sip:dave01@sip.telnyx.com");
    assert_int_equal(json_array_size(json_object_get(rec, "agents")), 2);
    json_decref(rec);
    /* wrap_up, or available after 1 s: the orchestrator moves her once it
     * sees her leg end, a moment after the record does */
    assert_true(s_agent_status("alice", "busy", false, 5000));
    assert_int_equal(s_commands(id, "command.transfer"), 1);
    assert_true(s_agent_becomes("dave", "busy", 5000));

    /* dave gives it back: alice is busy on it again, dave is not; when it
     * ends she gets a second wrap-up (she used to stay busy for good: the
     * call's one wrap-up was spent) */
    assert_true(s_agent_becomes("alice", "available", 5000));
    const char *back[] = {"transfer", id, "--to", "alice", NULL};
    assert_int_equal(h_ctl(&s_env, back, NULL, NULL), 0);
    json_decref(s_until(id, s_taken_back_by_alice, 15000));
    assert_true(s_agent_becomes("alice", "busy", 5000));
    assert_true(s_agent_status("dave", "busy", false, 5000));
    assert_int_equal(s_commands(id, "command.transfer"), 2);

    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    rec = s_until(id, s_ended_any, 8000);
    json_decref(rec);
    for (int waited = 0; waited < 8000; waited += 100) {
        const char *args[] = {"call", id, NULL};
        assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
        int live = 0;
        size_t i;
        json_t *leg;
        json_array_foreach(json_object_get(rec, "legs"), i, leg) live +=
            json_is_null(json_object_get(leg, "ended_at"));
        json_decref(rec);
        if (!live)
            break;
        struct timespec pause = {0, 100000000L};
        nanosleep(&pause, NULL);
    }
    assert_true(s_agent_status("alice", "busy", false, 5000));
    const char *late[] = {"transfer", id, "--to", "dave", NULL};
    assert_int_equal(h_ctl(&s_env, late, NULL, NULL), 1); /* ended: refused */
    s_agent("dave", "dave01", "offline");
}

/* A blind transfer nobody answers (+2 is busy) does not drop the customer:
 * the call goes back to routing; with nobody available it ends, and the
 * record says why. */
static void test_blind_transfer_that_fails(void **state)
{
    (void)state;
    s_agent("alice", "alice01", "available");
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    const char *xfer[] = {"transfer", id, "--to", "+15550100002", NULL};
    assert_int_equal(h_ctl(&s_env, xfer, NULL, NULL), 0);
    json_t *rec = s_until(id, s_ended_any, 15000);
    const json_t *t = s_leg_of(rec, "role", "transfer");
    assert_non_null(t);
    assert_string_equal(s_str(t, "hangup_cause"), "user_busy");
    assert_false(json_is_null(json_object_get(s_leg_of(rec, "role", "customer"), "ended_at")));
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.route"), 1); /* "no agent available" */
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* What a finished call's record says, without what depends on when we
 * looked or on how many times it changed (version, ids, times): its state,
 * parties, ending, each leg's role and ending (in role order), and the
 * commands its history holds by type. Not a leg's hangup_source: when we
 * hang up both legs, the one hung up first (in control id order, random
 * from call to call) is the "caller" and the other the "callee". The
 * call's own source is compared: for a call we ended it is our side's
 * (the model's rule), whichever leg closed first. Caller frees. */
static char *s_outcome(const char *id)
{
    const char *args[] = {"call", id, NULL};
    json_t *rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    char legs[4][160] = {{0}};
    size_t n = json_array_size(json_object_get(rec, "legs"));
    assert_true(n <= 4);
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(json_object_get(rec, "legs"), i);
        snprintf(legs[i], sizeof legs[i], "%s/%s/%s/%s", s_str(l, "role"), s_str(l, "hangup_cause"),
                 s_str(l, "sip_code"),
                 json_is_null(json_object_get(l, "answered_at")) ? "unanswered" : "answered");
    }
    qsort(legs, n, sizeof legs[0], s_cmp);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    fprintf(f, "%s %s agent=%s from=%s to=%s end=%s/%s", s_str(rec, "state"),
            s_str(rec, "direction"), s_str(rec, "agent_id"), s_str(rec, "from"), s_str(rec, "to"),
            s_str(rec, "hangup_cause"), s_str(rec, "hangup_source"));
    for (size_t i = 0; i < n; i++)
        fprintf(f, " leg=%s", legs[i]);
    static const char *const commands[] = {"command.dial_agent", "command.dial_customer",
                                           "command.transfer",   "command.hangup",
                                           "command.reject",     NULL};
    for (int i = 0; commands[i]; i++)
        fprintf(f, " %s=%d", commands[i] + 8, s_commands(id, commands[i]));
    fclose(f);
    json_decref(rec);
    return out;
}

/* How many duplicate webhooks the ingestor has acknowledged so far. */
static long s_duplicates(void)
{
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_ingest);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    const char *line = strstr(body, "callsync_webhooks_total{outcome=\"duplicate\"} ");
    long n = line ? strtol(strchr(line, '}') + 2, NULL, 10) : -1;
    free(body);
    return n;
}

static void s_faults(const char *body)
{
    json_t *r = NULL;
    assert_int_equal(h_sim_call(s_sim, "POST", "/sim/faults", body, &r), 200);
    json_decref(r);
}

/* Whether the sim has delivered every webhook it holds (none pending or
 * in flight) within timeout_ms: with reordering on, a call can look ended
 * while an earlier event of it (an answer) is still on its way. */
static int s_sim_delivered(int timeout_ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_sim);
    struct timespec pause = {0, 25 * 1000 * 1000};
    for (int64_t end = h_now_ms() + timeout_ms; h_now_ms() < end; nanosleep(&pause, NULL)) {
        char *body = NULL;
        if (h_http("GET", url, NULL, NULL, 0, &body) != 200) {
            free(body);
            continue;
        }
        const char *line = strstr(body, "\ncallsync_sim_webhooks_pending ");
        long n = line ? strtol(line + strlen("\ncallsync_sim_webhooks_pending "), NULL, 10) : -1;
        free(body);
        if (n == 0)
            return 1;
    }
    return 0;
}

/* A finished call's outcome, once every webhook of it has arrived. */
static char *s_final_outcome(const char *id)
{
    assert_true(s_sim_delivered(5000));
    return s_outcome(id);
}

/* Three flows to their end, one after the other: a server dial the callee
 * hangs up (+4), a server dial to a busy number (+2), and an inbound call
 * alice answers and the operator hangs up. Writes each call's outcome and
 * the +4 call's talk time. */
static void s_three_flows(char *out[3], double *talk)
{
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100004"));
    json_t *rec = s_until(id, s_ended_both, 20000);
    *talk = s_num(rec, "talk_seconds");
    json_decref(rec);
    out[0] = s_final_outcome(id);
    snprintf(id, sizeof id, "%s", s_dial("+15550100002"));
    json_decref(s_until(id, s_ended_both, 20000));
    out[1] = s_final_outcome(id);
    char cc[128];
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770103"));
    rec = s_until(cc, s_active_both, 20000);
    snprintf(id, sizeof id, "%s", s_str(rec, "id"));
    json_decref(rec);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_both, 20000));
    out[2] = s_final_outcome(id); /* the operator hung up */
}

/* Webhooks duplicated (half of them) and reordered (held up to 300 ms):
 * the same flows end in the same records, with each command issued once
 * as before. */
static void test_faults_change_no_final_record(void **state)
{
    (void)state;
    s_only_available("alice");
    char *clean[3], *faulty[3];
    double talk_clean, talk_faulty;
    s_faults("{}");
    s_three_flows(clean, &talk_clean);
    assert_true(s_agent_becomes("alice", "available", 5000));
    long duplicates = s_duplicates();
    assert_true(duplicates >= 0);
    s_faults("{\"duplicate_rate\":0.5,\"reorder_ms\":300}");
    s_three_flows(faulty, &talk_faulty);
    s_faults("{}");
    assert_true(s_duplicates() >=
                duplicates + 5); /* the faults were on: ~14 webhooks, half twice */
    for (int i = 0; i < 3; i++) {
        assert_string_equal(faulty[i], clean[i]);
        free(clean[i]);
        free(faulty[i]);
    }
    /* provider times: the faults delay webhooks, not what they report */
    assert_true(talk_clean > 2.9 && talk_clean < 3.1);
    assert_true(talk_faulty > 2.9 && talk_faulty < 3.1);
    assert_true(s_agent_becomes("alice", "available", 5000));
}

static int s_agent_leg_answered(const json_t *rec)
{
    const json_t *a = s_leg_of(rec, "role", "agent");
    return a && !json_is_null(json_object_get(a, "answered_at"));
}

static long long s_pending_timers(void)
{
    redisContext *c = h_redis(&s_env);
    redisReply *r = redisCommand(c, "ZCARD cs:timers");
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Every orchestrator and the timer are killed (SIGKILL) while the agent's
 * phone rings. The agent answers meanwhile. A new orchestrator carries the
 * call on from its record (dials the customer, who talks and hangs up;
 * hangs up the agent), each command once; the timers due meanwhile (the
 * hangup check, the end of alice's wrap-up) wait in Redis and fire when a
 * new timer starts. */
static void test_killed_mid_call_and_restarted(void **state)
{
    (void)state;
    s_agent("alice", "alice01", "available");
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100004"));
    for (int i = 0; i < 100 && s_commands(id, "command.dial_agent") == 0; i++) {
        struct timespec pause = {0, 20000000L};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(s_commands(id, "command.dial_agent"), 1);
    for (int i = 0; i < s_norchs; i++)
        h_stop(s_orchs[i], SIGKILL);
    s_norchs = 0;
    h_stop(s_timer_pid, SIGKILL);
    json_decref(s_until(id, s_agent_leg_answered, 10000)); /* the sim answers in 2 s */
    const char *args[] = {"call", id, NULL};
    json_t *rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    assert_int_equal(json_array_size(json_object_get(rec, "legs")), 1); /* nobody to dial */
    json_decref(rec);

    assert_true(s_orchestrator() > 0);
    json_decref(s_until(id, s_ended_both, 15000));
    assert_true(s_agent_becomes("alice", "wrap_up", 5000));
    assert_true(s_pending_timers() > 0); /* no timer service: they wait */
    assert_true(s_timer() > 0);
    assert_true(s_agent_becomes("alice", "available", 5000)); /* wrapup_end fired */
    assert_int_equal(s_commands(id, "command.dial_agent"), 1);
    assert_int_equal(s_commands(id, "command.dial_customer"), 1);
    assert_int_equal(s_commands(id, "command.hangup"), 1);
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_timer_port);
    for (int i = 0; i < 100; i++) { /* the late ones fired: counted in the new instance */
        free(body);
        body = NULL;
        assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
        if (!strstr(body, "callsync_timers_fired_total 0"))
            break;
        struct timespec pause = {0, 50000000L};
        nanosleep(&pause, NULL);
    }
    assert_null(strstr(body, "callsync_timers_fired_total 0"));
    free(body);
}

static int s_transfer_refused(const json_t *rec)
{
    const json_t *a = s_leg_of(rec, "agent_id", "alice");
    return a && json_is_string(json_object_get(a, "transfer_failed"));
}

/* A transfer request of the leg of agent `arg` failed. */
static int s_refused_for(const cs_call_t *call, const char *agent)
{
    int refused = 0;
    for (int i = 0; i < call->nlegs; i++)
        refused |= strcmp(call->legs[i].agent.v, agent) == 0 && call->legs[i].xfer.at &&
                   !cs_call_leg_transferring(&call->legs[i]);
    return refused;
}

/* Telnyx refuses a blind transfer (here: erin's SIP URI is longer than it
 * takes, 422 10016) while alice talks: alice keeps the call, the record
 * says why, and a change notice tells her softphone (the refusal is the
 * orchestrator's own fact: no webhook follows it); asked again, to dave,
 * the transfer goes through. */
static void test_blind_transfer_refused(void **state)
{
    (void)state;
    static const char *const topics[] = {"call.changed", NULL};
    cs_bus_t *sub = cs_bus_sub_new(s_env.bus_sub, topics);
    assert_non_null(sub);
    char long_user[121];
    memset(long_user, 'e', sizeof long_user - 1);
    long_user[sizeof long_user - 1] = '\0';
    s_agent("erin", long_user, "offline");
    s_agent("alice", "alice01", "available");
    s_agent("dave", "dave01", "available");
    char id[64];
    snprintf(id, sizeof id, "%s", s_dial("+15550100001"));
    json_decref(s_until(id, s_active_both, 15000));
    const char *to_erin[] = {"transfer", id, "--to", "erin", NULL};
    assert_int_equal(h_ctl(&s_env, to_erin, NULL, NULL), 0);
    assert_true(s_notice(sub, id, s_refused_for, "alice", 8000));
    cs_bus_destroy(&sub);
    json_t *rec = s_until(id, s_transfer_refused, 8000);
    const json_t *alice = s_leg_of(rec, "agent_id", "alice");
    assert_non_null(strstr(s_str(alice, "transfer_failed"), "10016"));
    assert_true(json_is_null(json_object_get(alice, "ended_at")));
    assert_string_equal(s_str(rec, "state"), "active");
    assert_string_equal(s_str(rec, "agent_id"), "alice");
    json_decref(rec);
    json_t *a = s_agent_record("alice");
    assert_string_equal(s_str(a, "status"), "busy"); /* still on the call */
    json_decref(a);

    const char *to_dave[] = {"transfer", id, "--to", "dave", NULL};
    assert_int_equal(h_ctl(&s_env, to_dave, NULL, NULL), 0);
    rec = s_until(id, s_taken_by_dave, 15000);
    assert_true(
        json_is_null(json_object_get(s_leg_of(rec, "agent_id", "alice"), "transfer_failed")));
    json_decref(rec);
    assert_int_equal(s_commands(id, "command.transfer"), 2);
    assert_int_equal(s_commands(id, "callsync.transfer_failed"), 1);
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_any, 8000));
    s_agent("dave", "dave01", "offline");
}

static int s_two_legs(const json_t *rec)
{
    return json_array_size(json_object_get(rec, "legs")) == 2;
}

static int s_known(const json_t *rec)
{
    return json_is_string(json_object_get(rec, "id"));
}

/* The record's cs id, for a control id: once its call.initiated has
 * arrived (the sim answers the POST before it sends the webhook). */
static void s_id_of(const char *cc, char *id, size_t size)
{
    json_t *rec = s_until(cc, s_known, 8000);
    snprintf(id, size, "%s", s_str(rec, "id"));
    json_decref(rec);
}

static int s_in_call(const json_t *rec)
{
    return strcmp(s_str(rec, "state"), "active") == 0;
}

static void s_hang_up(const char *id)
{
    const char *hang[] = {"hangup", id, NULL};
    assert_int_equal(h_ctl(&s_env, hang, NULL, NULL), 0);
    json_decref(s_until(id, s_ended_any, 8000));
}

/* Whether the call's history has an entry with this text. */
static int s_history_says(const char *id, const char *text)
{
    const char *args[] = {"events", id, NULL};
    json_t *hist = NULL;
    assert_int_equal(h_ctl(&s_env, args, &hist, NULL), 0);
    char *all = json_dumps(hist, 0);
    int found = all && strstr(all, text) != NULL;
    free(all);
    json_decref(hist);
    return found;
}

/* Whether the call's history comes to have an entry with this text
 * within timeout_ms. */
static int s_history_until(const char *id, const char *text, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (s_history_says(id, text))
            return 1;
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
    return s_history_says(id, text);
}

/* An agent rings for one routed call at a time (cs:offer:<agent>). While
 * bob rings for a first call he stays "available", yet a second call is
 * not routed to him: his softphone shows one ringing call, and the second
 * would ring unseen. Nobody else is available, so its caller waits in the
 * line. Once his leg has rung out for the first call, the offer is over
 * and the second call rings him. */
static void test_inbound_rings_an_agent_once_at_a_time(void **state)
{
    (void)state;
    s_only_available("bob");
    s_bob_never_answers();
    char first[128], second[128], one[64], two[64];
    snprintf(first, sizeof first, "%s", s_inbound("+15557770111"));
    json_decref(s_until(first, s_two_legs, 8000)); /* bob's leg rings */
    s_id_of(first, one, sizeof one);
    redisContext *c = h_redis(&s_env);
    redisReply *offer = redisCommand(c, "GET cs:offer:bob");
    assert_true(offer && offer->type == REDIS_REPLY_STRING);
    assert_string_equal(offer->str, one);
    freeReplyObject(offer);

    snprintf(second, sizeof second, "%s", s_inbound("+15557770112"));
    s_id_of(second, two, sizeof two);
    assert_true(s_history_until(two,
                                "waiting for an agent (no agent available: every available "
                                "agent (1) is being rung by another call)",
                                5000));
    assert_int_equal(s_commands(two, "command.transfer"), 0);
    assert_true(s_orch_counter("callsync_routes_total{outcome=\"queued\"}") >= 1);

    /* bob rings out for the first call (5 s here); the second rings him */
    json_t *rec = s_until(second, s_two_legs, 12000);
    assert_string_equal(s_str(rec, "state"), "ringing");
    json_decref(rec);
    assert_int_equal(s_commands(two, "command.transfer"), 1);
    offer = redisCommand(c, "GET cs:offer:bob");
    assert_true(offer && offer->type == REDIS_REPLY_STRING);
    assert_string_equal(offer->str, two);
    freeReplyObject(offer);
    assert_true(s_history_until(one, "waiting for an agent", 5000)); /* bob was its only one */

    s_hang_up(one);
    s_hang_up(two);
    offer = redisCommand(c, "EXISTS cs:offer:bob");
    assert_true(offer && offer->type == REDIS_REPLY_INTEGER && offer->integer == 0);
    freeReplyObject(offer);
    redisFree(c);
    s_agent("bob", "bob01", "offline");
}

/* Callers wait in a line for an agent, in the order they came: carol
 * talks on a first call; a second and a third caller wait (ringing); when
 * carol is free again (after her 1 s wrap-up here) the second, not the
 * third, rings her. Then dave is made available with no notice of it,
 * and a fourth call comes in at once: it finds dave free, yet leaves him
 * to the third caller, who has waited longer (and takes him at the next
 * look, the sweep's). */
static void test_inbound_callers_wait_in_line(void **state)
{
    (void)state;
    s_only_available("carol");
    char cc[128], a[64], b[64], third[64];
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770121"));
    json_decref(s_until(cc, s_active_both, 10000)); /* carol answered (2 s) */
    s_id_of(cc, a, sizeof a);
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770122"));
    s_id_of(cc, b, sizeof b);
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770123"));
    s_id_of(cc, third, sizeof third);
    assert_true(s_history_until(b, "waiting for an agent (no agent available)", 5000));
    assert_true(s_history_until(third, "waiting for an agent", 5000));

    s_hang_up(a);
    json_t *rec = s_until(b, s_in_call, 15000); /* carol, free again, answered */
    assert_string_equal(s_str(rec, "agent_id"), "carol");
    json_decref(rec);
    assert_int_equal(s_commands(third, "command.transfer"), 0);
    const char *args[] = {"call", third, NULL};
    rec = NULL;
    assert_int_equal(h_ctl(&s_env, args, &rec, NULL), 0);
    assert_string_equal(s_str(rec, "state"), "ringing"); /* still waiting */
    json_decref(rec);

    redisContext *c = h_redis(&s_env);
    freeReplyObject(redisCommand(c, "HSET cs:agent:dave status available"));
    redisFree(c);
    char d[64];
    snprintf(cc, sizeof cc, "%s", s_inbound("+15557770124"));
    s_id_of(cc, d, sizeof d);
    rec = s_until(third, s_two_legs, 8000); /* dave rings for the third */
    json_decref(rec);
    /* "behind callers waiting longer"; or, had the sweep given dave to the
     * third before the fourth looked, "being rung by another call" */
    assert_true(s_history_until(d, "waiting for an agent (", 5000));
    assert_int_equal(s_commands(d, "command.transfer"), 0);
    s_hang_up(d);
    s_hang_up(third);
    s_hang_up(b);
    s_agent("carol", "carol01", "offline");
    s_agent("dave", "dave01", "offline");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_dial_customer_hangs_up),
        cmocka_unit_test(test_server_dial_rejected_and_no_early_media),
        cmocka_unit_test(test_claimed_then_crashed_is_recovered),
        cmocka_unit_test(test_ctl_hangup_ends_every_leg),
        cmocka_unit_test(test_ctl_hangup_survives_a_lost_command),
        cmocka_unit_test(test_guards_end_stuck_and_long_calls),
        cmocka_unit_test(test_inbound_rings_the_next_agent),
        cmocka_unit_test(test_inbound_nobody_available),
        cmocka_unit_test(test_lost_hangup_webhooks_reconciled),
        cmocka_unit_test(test_lost_webhooks_without_a_command_reconciled),
        cmocka_unit_test(test_two_orchestrators_issue_once),
        cmocka_unit_test(test_presence_follows_the_call),
        cmocka_unit_test(test_presence_follows_the_softphone),
        cmocka_unit_test(test_dtmf_and_recording),
        cmocka_unit_test(test_blind_transfer),
        cmocka_unit_test(test_blind_transfer_that_fails),
        cmocka_unit_test(test_blind_transfer_refused),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_faults_change_no_final_record),
        cmocka_unit_test(test_killed_mid_call_and_restarted),
        cmocka_unit_test(test_inbound_rings_an_agent_once_at_a_time),
        cmocka_unit_test(test_inbound_callers_wait_in_line),
    };
    int failed = cmocka_run_group_tests_name("orchestrator", tests, setup, teardown);
    return failed || s_teardown_failed;
}
