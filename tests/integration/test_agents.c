/* Agent presence steps (common/agents.c) against a real redis-server: what
 * a call's record moves, in the order the record's versions say, whatever
 * order the steps arrive in. Two orchestrators read the same call: one reads
 * it while the agent talks (version 4), the other after the agent's leg
 * ended (version 5) and starts the wrap-up; the first one's "busy", taken
 * last, must not undo it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agents.h"
#include "harness.h"
#include "redis.h"
#include "timers.h"

static h_env_t s_env;
static cs_redis_t *s_redis;
static int s_teardown_failed;

static const char *const s_idle[] = {"available", "wrap_up", NULL};
static const char *const s_on_call[] = {"busy", NULL};

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (h_setup(&s_env))
        return -1;
    s_redis = cs_redis_new(s_env.redis_url, err, sizeof err);
    return s_redis ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cs_redis_destroy(&s_redis);
    s_teardown_failed = h_cleanup(&s_env) != 0;
    return s_teardown_failed ? -1 : 0;
}

static void s_agent(const char *id, const char *status)
{
    char err[256];
    assert_int_equal(cs_agent_set(s_redis, id, id, NULL, status, err, sizeof err), 0);
}

/* A field of the agent's hash (a static buffer), "" when it has none. */
static const char *s_field(const char *id, const char *field)
{
    static char out[64];
    redisReply *r = cs_redis_cmd(s_redis, "HGET cs:agent:%s %s", id, field);
    snprintf(out, sizeof out, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return out;
}

static const char *s_status(const char *id)
{
    return s_field(id, "status");
}

static const char *s_follow(const char *id, const char *call, uint64_t version,
                            const char *const from[], const char *to)
{
    return cs_agent_follow_call(s_redis, id, call, version, from, to);
}

static void s_expect(const char *got, const char *want)
{
    if (!want && got)
        fail_msg("moved to %s: the step should have been refused", got);
    else if (want)
        assert_string_equal(got ? got : "(refused)", want);
}

static void test_stale_busy_cannot_undo_the_wrap_up(void **state)
{
    (void)state;
    s_agent("ann", "available");
    s_expect(s_follow("ann", "cs_A", 3, s_idle, "busy"), "busy");
    s_expect(s_follow("ann", "cs_A", 5, s_on_call, "wrap_up"), "wrap_up");
    /* version 4 was read before the leg ended; its step comes last */
    s_expect(s_follow("ann", "cs_A", 4, s_idle, "busy"), NULL);
    assert_string_equal(s_status("ann"), "wrap_up");

    /* the wrap-up ends (the timer, not a record): still refused after it */
    assert_string_equal(cs_agent_free(s_redis, "ann", "wrap_up"), "available");
    s_expect(s_follow("ann", "cs_A", 4, s_idle, "busy"), NULL);
    assert_string_equal(s_status("ann"), "available");

    /* the call comes back to her later (a transfer back): a newer version,
     * and a second wrap-up when it ends */
    s_expect(s_follow("ann", "cs_A", 9, s_idle, "busy"), "busy");
    s_expect(s_follow("ann", "cs_A", 11, s_on_call, "wrap_up"), "wrap_up");
    /* another call is not ordered against this one: its version 1 moves her */
    s_expect(s_follow("ann", "cs_B", 1, s_idle, "busy"), "busy");
    assert_string_equal(s_status("ann"), "busy");
}

/* Busy belongs to the call that made the agent busy: a second call that
 * rang her while she talks (a transfer to a busy agent) and ended cannot
 * free her, with or without a wrap-up; her own call's end does. An
 * operator's status clears the owner: any call may free her then. */
static void test_busy_belongs_to_its_call(void **state)
{
    (void)state;
    s_agent("eve", "available");
    s_expect(s_follow("eve", "cs_H", 2, s_idle, "busy"), "busy");
    assert_string_equal(s_field("eve", "busy_call"), "cs_H");
    s_expect(s_follow("eve", "cs_I", 3, s_on_call, "wrap_up"), NULL);
    s_expect(s_follow("eve", "cs_I", 4, s_on_call, "free"), NULL);
    assert_string_equal(s_status("eve"), "busy");
    assert_string_equal(s_field("eve", "busy_call"), "cs_H");
    s_expect(s_follow("eve", "cs_H", 5, s_on_call, "wrap_up"), "wrap_up");
    assert_string_equal(s_field("eve", "busy_call"), ""); /* not busy: no owner */

    s_expect(s_follow("eve", "cs_I", 6, s_idle, "busy"), "busy");
    s_agent("eve", "busy"); /* the operator's word */
    assert_string_equal(s_field("eve", "busy_call"), "");
    s_expect(s_follow("eve", "cs_J", 1, s_on_call, "free"), "available");
}

/* A step whose `from` does not match moves nothing, yet still counts as the
 * call's latest word on the agent: an operator's offline holds, and an older
 * read of the call cannot move her either. */
static void test_unexpected_status_moves_nothing(void **state)
{
    (void)state;
    s_agent("bo", "offline");
    s_expect(s_follow("bo", "cs_C", 7, s_idle, "busy"), NULL);
    assert_string_equal(s_status("bo"), "offline");
    s_expect(s_follow("bo", "cs_C", 8, s_on_call, "wrap_up"), NULL);
    s_agent("bo", "available");
    s_expect(s_follow("bo", "cs_C", 7, s_idle, "busy"), NULL);
    assert_string_equal(s_status("bo"), "available");
}

/* "free": available, or offline when the softphone went away meanwhile. */
static void test_free_after_the_call(void **state)
{
    (void)state;
    s_agent("cy", "available");
    s_expect(s_follow("cy", "cs_D", 2, s_idle, "busy"), "busy");
    s_expect(s_follow("cy", "cs_D", 4, s_on_call, "free"), "available");
    s_expect(s_follow("cy", "cs_E", 1, s_idle, "busy"), "busy");
    freeReplyObject(cs_redis_cmd(s_redis, "HSET cs:agent:cy softphone gone"));
    s_expect(s_follow("cy", "cs_E", 3, s_on_call, "free"), "offline");
    assert_string_equal(s_status("cy"), "offline");
}

/* updated_at is when the status was last set (the dashboard's "For"): a
 * step or an operator's status sets it, even the same status; a change of
 * name or SIP user leaves it. */
static void test_status_time(void **state)
{
    (void)state;
    static const char *const old = "2026-01-01T00:00:00.000Z";
    char err[256];
    s_agent("uma", NULL); /* new: offline, and when */
    assert_string_equal(s_status("uma"), "offline");
    assert_string_not_equal(s_field("uma", "updated_at"), "");
    freeReplyObject(cs_redis_cmd(s_redis, "HSET cs:agent:uma updated_at %s", old));
    assert_int_equal(cs_agent_set(s_redis, "uma", "uma02", "Uma", NULL, err, sizeof err), 0);
    assert_string_equal(s_field("uma", "name"), "Uma");
    assert_string_equal(s_field("uma", "updated_at"), old);
    assert_int_equal(cs_agent_set(s_redis, "uma", NULL, NULL, "offline", err, sizeof err), 0);
    assert_string_not_equal(s_field("uma", "updated_at"), old);
    freeReplyObject(cs_redis_cmd(s_redis, "HSET cs:agent:uma status available updated_at %s", old));
    s_expect(s_follow("uma", "cs_U", 1, s_idle, "busy"), "busy");
    assert_string_not_equal(s_field("uma", "updated_at"), old);
}

/* A string reply of Redis (a static buffer), "" for none. */
static const char *s_get(const char *key)
{
    static char out[64];
    redisReply *r = cs_redis_cmd(s_redis, "GET %s", key);
    snprintf(out, sizeof out, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return out;
}

static long long s_int(const char *cmd, const char *arg)
{
    redisReply *r = cs_redis_cmd(s_redis, cmd, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* What each kind of bad agent gets: a clear error, and nothing written. */
static void test_set_refusals(void **state)
{
    (void)state;
    char err[256], longest[CS_AGENT_SIP_USER_MAX + 2], longname[CS_AGENT_NAME_MAX + 2];
    memset(longest, 'v', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    static const struct {
        const char *id, *sip, *name, *status, *says;
    } bad[] = {
        {"vic", NULL, "Vic", NULL, "a new agent needs a sip user"},
        {"vic", "", NULL, NULL, "sip user must be"},
        {"vic", "v 01", NULL, NULL, "sip user must be"},
        {"vic", "v01@example.com", NULL, NULL, "sip user must be"},
        {"vic", "sip:v01", NULL, NULL, "sip user must be"},
        {"vic", "v01;transport=tcp", NULL, NULL, "sip user must be"},
        {"vic", "v%4001", NULL, NULL, "sip user must be"},
        {"vic", "v01", "Vic\nAdmin", NULL, "name must be"},
        {"vic", "v01", "Vic\x7f", NULL, "name must be"},
        {"vic", "v01", "V\xff\xfe", NULL, "name must be"},
        {"vic", "v01", NULL, "napping", "status must be"},
        {"vic/x", "v01", NULL, NULL, "agent id must be"},
        {"", "v01", NULL, NULL, "agent id must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cs_agent_set(s_redis, bad[i].id, bad[i].sip, bad[i].name, bad[i].status,
                                      err, sizeof err),
                         -1);
        if (!strstr(err, bad[i].says))
            fail_msg("case %zu: \"%s\", want \"%s\"", i, err, bad[i].says);
    }
    longest[CS_AGENT_SIP_USER_MAX] = '\0'; /* one more is refused; this many are not */
    assert_int_equal(cs_agent_set(s_redis, "vic", longest, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(cs_agent_set(s_redis, "vic", NULL, longname, NULL, err, sizeof err), -1);
    longname[CS_AGENT_NAME_MAX] = '\0';
    assert_int_equal(cs_agent_set(s_redis, "vic", "v01", longname, NULL, err, sizeof err), 0);
    assert_int_equal(cs_agent_set(s_redis, "vic", NULL, "Zoë O'Brien", NULL, err, sizeof err), 0);
    assert_string_equal(s_field("vic", "name"), "Zoë O'Brien");
    longest[CS_AGENT_SIP_USER_MAX] = 'v';
    assert_int_equal(cs_agent_set(s_redis, "vic", longest, NULL, NULL, err, sizeof err), -1);
    assert_string_equal(s_field("vic", "sip_user"), "v01");
}

/* A SIP user is one agent's: another agent asking for it is refused and
 * nothing of theirs is written (were it taken, the first agent's calls
 * would be tied to the second); once the first has moved on, it is free.
 * A move drops the old index entry only if it is still the agent's, and
 * an entry whose agent no longer has that SIP user is stale: taken over. */
static void test_sip_user_is_one_agents(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cs_agent_set(s_redis, "wes", "w01", "Wes", "available", err, sizeof err), 0);
    assert_int_equal(cs_agent_set(s_redis, "xan", "w01", "Xan", "available", err, sizeof err), -1);
    assert_string_equal(err, "sip user w01 belongs to agent wes");
    assert_int_equal(s_int("EXISTS %s", "cs:agent:xan"), 0);
    assert_int_equal(s_int("SISMEMBER cs:agents %s", "xan"), 0);
    assert_string_equal(s_get("cs:idx:sip:w01"), "wes");
    /* an existing agent asking for it changes nothing of theirs either */
    assert_int_equal(cs_agent_set(s_redis, "xan", "x01", "Xan", NULL, err, sizeof err), 0);
    assert_int_equal(cs_agent_set(s_redis, "xan", "w01", "Xander", "offline", err, sizeof err), -1);
    assert_string_equal(s_field("xan", "sip_user"), "x01");
    assert_string_equal(s_field("xan", "name"), "Xan");
    assert_string_equal(s_get("cs:idx:sip:x01"), "xan");

    assert_int_equal(cs_agent_set(s_redis, "wes", "w02", NULL, NULL, err, sizeof err), 0);
    assert_string_equal(s_get("cs:idx:sip:w01"), "");
    assert_string_equal(s_get("cs:idx:sip:w02"), "wes");
    assert_int_equal(cs_agent_set(s_redis, "xan", "w01", NULL, NULL, err, sizeof err), 0);
    assert_string_equal(s_get("cs:idx:sip:w01"), "xan");
    assert_string_equal(s_get("cs:idx:sip:x01"), "");
    assert_string_equal(s_field("wes", "status"), "available"); /* kept through the move */

    /* wes's old entry, meanwhile pointed elsewhere, is not wes's to drop */
    freeReplyObject(cs_redis_cmd(s_redis, "SET cs:idx:sip:w02 zed"));
    assert_int_equal(cs_agent_set(s_redis, "wes", "w03", NULL, NULL, err, sizeof err), 0);
    assert_string_equal(s_get("cs:idx:sip:w02"), "zed");
    /* and zed has no such agent (no w02 of theirs): the entry is stale */
    assert_int_equal(cs_agent_set(s_redis, "xan", "w02", NULL, NULL, err, sizeof err), 0);
    assert_string_equal(s_get("cs:idx:sip:w02"), "xan");
}

/* Removal: refused while on a call (the error names it), else every key of
 * the agent goes in one step, the SIP user is free again (its entry only
 * if still theirs), and a second removal finds no such agent. */
static void test_remove(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cs_agent_set(s_redis, "yan", "y01", "Yan", "available", err, sizeof err), 0);
    s_expect(s_follow("yan", "cs_Y", 1, s_idle, "busy"), "busy");
    assert_int_equal(cs_agent_remove(s_redis, "yan", err, sizeof err), -1);
    assert_string_equal(err, "agent yan is on call cs_Y: remove them once it has ended");
    assert_string_equal(s_status("yan"), "busy");
    s_expect(s_follow("yan", "cs_Y", 2, s_on_call, "wrap_up"), "wrap_up");
    assert_int_equal(cs_agent_softphone_up(s_redis, "yan", "relay-1", 4102444800000LL, 1), 0);
    assert_int_equal(s_int("EXISTS %s", "cs:online:yan"), 1);
    char timer[160];
    cs_timers_member("presence_check", "-", "yan", timer, sizeof timer);
    redisReply *r = cs_redis_cmd(s_redis, "ZSCORE cs:timers %s", timer);
    assert_true(r && r->type == REDIS_REPLY_STRING); /* its presence check is due */
    freeReplyObject(r);

    assert_int_equal(cs_agent_remove(s_redis, "yan", err, sizeof err), 0);
    assert_int_equal(s_int("EXISTS %s", "cs:agent:yan"), 0);
    assert_int_equal(s_int("EXISTS %s", "cs:online:yan"), 0);
    assert_int_equal(s_int("EXISTS %s", "cs:idx:sip:y01"), 0);
    assert_int_equal(s_int("SISMEMBER cs:agents %s", "yan"), 0);
    r = cs_redis_cmd(s_redis, "ZSCORE cs:timers %s", timer);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_NIL); /* its presence check is gone too */
    freeReplyObject(r);
    assert_int_equal(cs_agent_remove(s_redis, "yan", err, sizeof err), 1);
    assert_string_equal(err, "no such agent");
    assert_int_equal(cs_agent_remove(s_redis, "bad id", err, sizeof err), -1);
    assert_non_null(strstr(err, "agent id must be"));
    /* the SIP user is free again; a stale entry of theirs is not dropped */
    assert_int_equal(cs_agent_set(s_redis, "zoe", "y01", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(cs_agent_set(s_redis, "yan", "y02", NULL, NULL, err, sizeof err), 0);
    freeReplyObject(cs_redis_cmd(s_redis, "HSET cs:agent:yan sip_user y01"));
    assert_int_equal(cs_agent_remove(s_redis, "yan", err, sizeof err), 0);
    assert_string_equal(s_get("cs:idx:sip:y01"), "zoe");
    /* its presence steps write nothing now: no agent comes back */
    assert_int_equal(cs_agent_softphone_up(s_redis, "yan", "relay-1", 4102444800000LL, 1), 0);
    assert_int_equal(s_int("EXISTS %s", "cs:agent:yan"), 0);
}

/* One routed call rings an agent at a time: a second call's offer is
 * refused while the first stands; offering the same call again keeps it
 * (an intent run again after a crash); only the offered call ends it;
 * it lapses by itself; and the agent cannot be removed while rung. */
static void test_offer(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cs_agent_set(s_redis, "oli", "o01", "Oli", "available", err, sizeof err), 0);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O1", 60000), 1);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O2", 60000), 0);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O1", 60000), 1);
    assert_string_equal(s_get("cs:offer:oli"), "cs_O1");
    const char *floor[] = {"oli", "nobody-rings-me", "nor-me"};
    assert_int_equal(cs_agent_unoffered(s_redis, floor, 3), 2);
    assert_int_equal(cs_agent_unoffered(s_redis, floor, 0), 0);
    int64_t ttl = s_int("PTTL %s", "cs:offer:oli");
    assert_true(ttl > 50000 && ttl <= 60000);
    assert_string_equal(s_status("oli"), "available"); /* rung, not on a call yet */

    assert_int_equal(cs_agent_remove(s_redis, "oli", err, sizeof err), -1);
    assert_string_equal(err, "call cs_O1 is ringing agent oli: remove them once it has been "
                             "answered or has stopped ringing");
    assert_int_equal(s_int("EXISTS %s", "cs:agent:oli"), 1);

    assert_int_equal(cs_agent_offer_end(s_redis, "oli", "cs_O2"), 0); /* not its offer */
    assert_string_equal(s_get("cs:offer:oli"), "cs_O1");
    assert_int_equal(cs_agent_offer_end(s_redis, "oli", "cs_O1"), 1);
    assert_int_equal(s_int("EXISTS %s", "cs:offer:oli"), 0);
    assert_int_equal(cs_agent_offer_end(s_redis, "oli", "cs_O1"), 0);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O2", 60000), 1);

    /* an offer whose leg never came lapses, and the next call may ring them */
    freeReplyObject(cs_redis_cmd(s_redis, "PEXPIRE cs:offer:oli 1"));
    for (int i = 0; i < 200 && s_int("EXISTS %s", "cs:offer:oli"); i++)
        usleep(5000);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O3", 60000), 1);
    assert_int_equal(cs_agent_offer_end(s_redis, "oli", "cs_O3"), 1);
    assert_int_equal(cs_agent_remove(s_redis, "oli", err, sizeof err), 0);

    h_redis_stop(&s_env);
    assert_int_equal(cs_agent_offer(s_redis, "oli", "cs_O4", 60000), -1);
    assert_int_equal(cs_agent_offer_end(s_redis, "oli", "cs_O4"), -1);
    const char *one[] = {"oli"};
    assert_int_equal(cs_agent_unoffered(s_redis, one, 1), -1);
    assert_int_equal(h_redis_start(&s_env), 0);
}

/* Many agents read in pipelines (more than one chunk): each as
 * cs_agent_get reads it, NULL for one that does not exist, in the order
 * asked; the list is every agent, sorted. */
static void test_get_many(void **state)
{
    (void)state;
    enum { N = CS_AGENT_READ_CHUNK + 44 };
    static char names[N][16];
    const char *ids[N];
    char err[256];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "many%03d", i);
        ids[i] = names[i];
        if (i % 7 != 3) { /* every seventh is missing */
            char sip[24];
            snprintf(sip, sizeof sip, "many%03dsip", i);
            assert_int_equal(cs_agent_set(s_redis, ids[i], sip, NULL, NULL, err, sizeof err), 0);
        }
    }
    static json_t *got[N];
    assert_int_equal(cs_agent_get_many(s_redis, ids, N, got, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        if (i % 7 == 3) {
            assert_null(got[i]);
            continue;
        }
        assert_non_null(got[i]);
        assert_string_equal(json_string_value(json_object_get(got[i], "id")), ids[i]);
        json_decref(got[i]);
    }
    json_t *list = cs_agent_list(s_redis, err, sizeof err);
    assert_non_null(list);
    const char *prev = "";
    size_t many = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(list, i), "id"));
        assert_true(strcmp(prev, id) < 0);
        prev = id;
        many += strncmp(id, "many", 4) == 0;
    }
    assert_int_equal(many, N - (N + 3) / 7);
    json_decref(list);
    for (int i = 0; i < N; i++)
        if (i % 7 != 3)
            assert_int_equal(cs_agent_remove(s_redis, ids[i], err, sizeof err), 0);
    /* Redis gone: -1, a reason, nothing half read */
    h_redis_stop(&s_env);
    assert_int_equal(cs_agent_get_many(s_redis, ids, N, got, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis"));
    for (int i = 0; i < N; i++)
        assert_null(got[i]);
    assert_null(cs_agent_list(s_redis, err, sizeof err));
    assert_int_equal(h_redis_start(&s_env), 0);
}

/* An agent that does not exist gets nothing written, not even the mark. */
static void test_no_such_agent(void **state)
{
    (void)state;
    s_expect(s_follow("nobody", "cs_F", 1, s_idle, "busy"), NULL);
    redisReply *r = cs_redis_cmd(s_redis, "EXISTS cs:agent:nobody cs:presence:cs_F:nobody");
    assert_non_null(r);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

/* Redis out of reach: NULL, and the step is not half taken. */
static void test_redis_down(void **state)
{
    (void)state;
    s_agent("di", "available");
    h_redis_stop(&s_env);
    s_expect(s_follow("di", "cs_G", 1, s_idle, "busy"), NULL);
    assert_int_equal(h_redis_start(&s_env), 0);
    s_expect(s_follow("di", "cs_G", 1, s_idle, "busy"), "busy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_busy_cannot_undo_the_wrap_up),
        cmocka_unit_test(test_busy_belongs_to_its_call),
        cmocka_unit_test(test_unexpected_status_moves_nothing),
        cmocka_unit_test(test_free_after_the_call),
        cmocka_unit_test(test_status_time),
        cmocka_unit_test(test_set_refusals),
        cmocka_unit_test(test_sip_user_is_one_agents),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_offer),
        cmocka_unit_test(test_get_many),
        cmocka_unit_test(test_no_such_agent),
        cmocka_unit_test(test_redis_down),
    };
    int failed = cmocka_run_group_tests_name("agents", tests, setup, teardown);
    return failed || s_teardown_failed;
}
