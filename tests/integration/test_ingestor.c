/* The real ingestor, ctl and bus binaries against a real redis-server:
 * signed webhooks in, records out; refusals store nothing; Redis stopped
 * mid-stream loses nothing; two ingestors fed concurrently agree; and the
 * timer's retention removes what is left of old finished calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "call.h"
#include "harness.h"
#include "store.h"
#include "text.h"
#include "webhook.h"

static h_env_t s_env;
static int s_port;
static pid_t s_ingestor_pid;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&s_env))
        return -1;
    if (h_bus(&s_env) < 0)
        return -1;
    s_ingestor_pid = h_ingestor(&s_env, &s_port);
    return s_ingestor_pid > 0 ? 0 : -1;
}

static int s_teardown_failed;

static int teardown(void **state)
{
    (void)state;
    s_teardown_failed = h_cleanup(&s_env) != 0;
    return s_teardown_failed ? -1 : 0;
}

/* ---- event builders: one call is a prefix; its legs are <prefix>-A/-C ---- */

/* Ids as long as Telnyx's: a v3 control id of 59 characters, UUIDs. */
static void s_ids(const char *prefix, char leg, char *cc, char *leg_id, char *sess)
{
    snprintf(cc, 96, "v3:%s-%c-%.*s", prefix, leg, (int)(54 - strlen(prefix)),
             "k2Jx8QpL0aZr5TnVw3YcBd7HfGm1Es9Ui4Ko6Pq_RtXyNvMbLcJh-DgSeWa");
    snprintf(leg_id, 96, "%08x-c81c-11f0-afbb-%c2420aef93a0", (unsigned)strlen(prefix) * 7919u,
             leg);
    snprintf(sess, 96, "%.8s-c81c-11f0-abac-02420aef93a0", prefix);
}

/* The control id of a leg, as the tests look calls up. */
static const char *s_cc(const char *prefix, char leg)
{
    static char cc[96];
    char leg_id[96], sess[96];
    s_ids(prefix, leg, cc, leg_id, sess);
    return cc;
}

static json_t *s_leg(const char *prefix, char leg, const char *from, const char *to,
                     const char *party)
{
    char cc[96], leg_id[96], sess[96];
    s_ids(prefix, leg, cc, leg_id, sess);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n}", "call_control_id", cc,
                     "call_leg_id", leg_id, "call_session_id", sess, "connection_id",
                     "2811212257810187875", "from", from, "to", to, "calling_party_type", party,
                     "client_state");
}

#define CO "+15550009999"
#define CX "+15550100001"

typedef struct {
    char *body[8];
    int n;
} s_events_t;

/* An outbound browser call as Telnyx reports it: the parked WebRTC leg is
 * transferred to the customer, who answers after 1.25 s and talks talk_ms. */
static void s_outbound_talk(const char *prefix, int64_t t0, int64_t talk_ms, s_events_t *evs)
{
    char id[8][96];
    for (int i = 0; i < 6; i++)
        snprintf(id[i], sizeof id[i], "%.8s-%04d-4f0e-9d8e-0c5d5b1a7e11", prefix, i);
    json_t *p;
    evs->n = 0;
    p = s_leg(prefix, 'A', CO, CX, "sip");
    json_object_set_new(p, "direction", json_string("outgoing"));
    json_object_set_new(p, "state", json_string("parked"));
    evs->body[evs->n++] = h_event("call.initiated", id[0], t0, p);
    p = s_leg(prefix, 'C', CO, CX, "pstn");
    json_object_set_new(p, "direction", json_string("outgoing"));
    evs->body[evs->n++] = h_event("call.initiated", id[1], t0 + 150, p);
    evs->body[evs->n++] =
        h_event("call.answered", id[2], t0 + 1250, s_leg(prefix, 'C', CO, CX, "pstn"));
    evs->body[evs->n++] =
        h_event("call.bridged", id[3], t0 + 1260, s_leg(prefix, 'A', CO, CX, "sip"));
    p = s_leg(prefix, 'C', CO, CX, "pstn");
    json_object_set_new(p, "hangup_cause", json_string("normal_clearing"));
    json_object_set_new(p, "hangup_source", json_string("callee"));
    json_object_set_new(p, "sip_hangup_cause", json_string("200"));
    evs->body[evs->n++] = h_event("call.hangup", id[4], t0 + 1250 + talk_ms, p);
    p = s_leg(prefix, 'A', CO, CX, "sip");
    json_object_set_new(p, "hangup_cause", json_string("normal_clearing"));
    json_object_set_new(p, "hangup_source", json_string("caller"));
    evs->body[evs->n++] = h_event("call.hangup", id[5], t0 + 1300 + talk_ms, p);
}

/* ... talking 60 s. */
static void s_outbound(const char *prefix, int64_t t0, s_events_t *evs)
{
    s_outbound_talk(prefix, t0, 60000, evs);
}

static void s_free(s_events_t *evs)
{
    for (int i = 0; i < evs->n; i++)
        free(evs->body[i]);
}

static long s_post(const char *body, char **resp)
{
    return h_post_webhook(&s_env, s_port, body, 0, resp);
}

static json_t *s_ctl_ok(const char *const *args)
{
    json_t *out = NULL;
    char *err = NULL;
    int rc = h_ctl(&s_env, args, &out, &err);
    if (rc != 0)
        fail_msg("ctl %s failed (%d): %s", args[0], rc, err);
    free(err);
    assert_non_null(out);
    return out;
}

static const char *s_str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "(null)";
}

static long long s_redis_int(const char *cmd)
{
    redisContext *c = h_redis(&s_env);
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* ---- tests ---- */

static void test_refusals_store_nothing(void **state)
{
    (void)state;
    long long keys = s_redis_int("DBSIZE");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/webhooks/telnyx", s_port);
    char *good =
        h_event("call.initiated", "refused-1", h_now_ms(), s_leg("ref", 'A', CO, CX, "sip"));

    /* 401: no signature headers */
    const char *plain[] = {"Content-Type: application/json", NULL};
    assert_int_equal(h_http("POST", url, plain, good, strlen(good), NULL), 401);
    /* 401: signature over other bytes */
    const char *forged[] = {
        "telnyx-timestamp: 1764000000",
        "telnyx-signature-ed25519: "
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        NULL};
    assert_int_equal(h_http("POST", url, forged, good, strlen(good), NULL), 401);
    /* 401: timestamp outside the tolerance, either way */
    assert_int_equal(h_post_webhook(&s_env, s_port, good, -301, NULL), 401);
    assert_int_equal(h_post_webhook(&s_env, s_port, good, 301, NULL), 401);
    /* 400: signed, but not a v2 event */
    char *resp = NULL;
    assert_int_equal(s_post("{\"event_type\":\"call_answered\"}", &resp), 400);
    assert_non_null(strstr(resp, "not a Telnyx v2 event"));
    free(resp);
    assert_int_equal(s_post("{\"data\":{\"event_type\":\"call.answered\"", NULL), 400);
    /* 413: over 256 KiB, signed or not */
    size_t big_len = 300 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[big_len] = '\0';
    assert_int_equal(s_post(big, NULL), 413);
    free(big);
    /* wrong path and method */
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, NULL), 405);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nope", s_port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, NULL), 404);

    assert_int_equal(s_redis_int("DBSIZE"), keys);
    free(good);
}

static void test_outbound_call_record(void **state)
{
    (void)state;
    s_events_t evs;
    int64_t t0 = h_now_ms() - 70000;
    s_outbound("out1", t0, &evs);
    /* arrival order scrambled, with one redelivery */
    int order[] = {2, 0, 4, 1, 2, 5, 3};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char *resp = NULL;
        assert_int_equal(s_post(evs.body[order[i]], &resp), 200);
        if (i == 4)
            assert_non_null(strstr(resp, "\"duplicate\""));
        free(resp);
    }
    const char *by_ccid[] = {"call", s_cc("out1", 'C'), NULL};
    json_t *rec = s_ctl_ok(by_ccid);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "direction"), "outbound");
    assert_string_equal(s_str(rec, "to"), CX);
    assert_string_equal(s_str(rec, "from"), CO);
    assert_true(json_real_value(json_object_get(rec, "talk_seconds")) == 60.0);
    assert_true(json_real_value(json_object_get(rec, "ring_seconds")) == 1.25);
    assert_string_equal(s_str(rec, "hangup_cause"), "normal_clearing");
    assert_string_equal(s_str(rec, "hangup_source"), "callee");
    assert_true(json_is_null(json_object_get(rec, "post_answer_audio_gap_ms")));
    json_t *legs = json_object_get(rec, "legs");
    assert_int_equal(json_array_size(legs), 2);
    assert_string_equal(s_str(json_array_get(legs, 0), "role"), "agent");
    assert_string_equal(s_str(json_array_get(legs, 1), "call_session_id"),
                        "out1-c81c-11f0-abac-02420aef93a0");
    assert_int_equal(json_integer_value(json_object_get(rec, "version")), 6);

    /* the same record by cs id and by the other leg */
    const char *by_id[] = {"call", s_str(rec, "id"), NULL};
    json_t *same = s_ctl_ok(by_id);
    assert_true(json_equal(rec, same));
    json_decref(same);

    /* replay: six stored events, the last record equal to the stored one */
    const char *events[] = {"events", s_cc("out1", 'A'), NULL};
    json_t *hist = s_ctl_ok(events);
    assert_int_equal(json_array_size(hist), 6);
    json_t *last = json_object_get(json_array_get(hist, 5), "record");
    assert_true(json_equal(last, rec));
    /* the answer arrived first: the first replayed record is already active */
    assert_string_equal(s_str(json_object_get(json_array_get(hist, 0), "record"), "state"),
                        "active");
    json_decref(hist);

    /* a finished call's record and history stay within 2 KiB */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "MEMORY USAGE cs:call:%s", s_str(rec, "id"));
    long long rec_bytes = s_redis_int(cmd);
    snprintf(cmd, sizeof cmd, "MEMORY USAGE cs:hist:%s", s_str(rec, "id"));
    long long hist_bytes = s_redis_int(cmd);
    print_message("record %lld B + history %lld B\n", rec_bytes, hist_bytes);
    assert_true(rec_bytes > 0 && hist_bytes > 0);
    assert_true(rec_bytes + hist_bytes <= 2048);

    /* its six dedupe marks are fields of one hash beside the record,
     * remembered for CALLSYNC_DEDUPE_TTL_S after the call's last event,
     * not a key each */
    snprintf(cmd, sizeof cmd, "HLEN cs:seen:%s", s_str(rec, "id"));
    assert_int_equal(s_redis_int(cmd), 6);
    snprintf(cmd, sizeof cmd, "TTL cs:seen:%s", s_str(rec, "id"));
    long long ttl = s_redis_int(cmd);
    assert_true(ttl > 86000 && ttl <= 86400);
    assert_int_equal(s_redis_int("EXISTS cs:dedupe:out1-0002-4f0e-9d8e-0c5d5b1a7e11"), 0);
    snprintf(cmd, sizeof cmd, "MEMORY USAGE cs:seen:%s", s_str(rec, "id"));
    long long seen_bytes = s_redis_int(cmd);
    print_message("dedupe marks %lld B\n", seen_bytes);
    assert_true(seen_bytes > 0 && seen_bytes <= 512);
    json_decref(rec);
    s_free(&evs);
}

static void test_active_and_late_answer(void **state)
{
    (void)state;
    s_events_t evs;
    s_outbound("late1", h_now_ms() - 70000, &evs);
    assert_int_equal(s_post(evs.body[0], NULL), 200);
    assert_int_equal(s_post(evs.body[1], NULL), 200);
    const char *active[] = {"calls", "--active", NULL};
    json_t *list = s_ctl_ok(active);
    bool found = false;
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        json_t *leg0 = json_array_get(json_object_get(r, "legs"), 0);
        if (strcmp(s_str(leg0, "call_control_id"), s_cc("late1", 'A')) == 0) {
            found = true;
            assert_string_equal(s_str(r, "state"), "ringing");
        }
    }
    json_decref(list);
    assert_true(found);

    /* hangups first, the answer last: ended, and talk time still right */
    assert_int_equal(s_post(evs.body[4], NULL), 200);
    assert_int_equal(s_post(evs.body[5], NULL), 200);
    assert_int_equal(s_post(evs.body[2], NULL), 200);
    const char *call[] = {"call", s_cc("late1", 'A'), NULL};
    json_t *rec = s_ctl_ok(call);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_true(json_real_value(json_object_get(rec, "talk_seconds")) == 60.0);
    list = s_ctl_ok(active);
    json_array_foreach(list, i, r) assert_string_not_equal(s_str(r, "id"), s_str(rec, "id"));
    json_decref(list);
    json_decref(rec);
    s_free(&evs);
}

static void test_unknown_event_types(void **state)
{
    (void)state;
    s_events_t evs;
    s_outbound("unk1", h_now_ms() - 5000, &evs);
    char *resp = NULL;
    assert_int_equal(s_post(evs.body[0], &resp), 200);
    free(resp);
    char *playback =
        h_event("call.playback.started", "unk1-pb", h_now_ms(), s_leg("unk1", 'A', CO, CX, "sip"));
    assert_int_equal(s_post(playback, &resp), 200);
    assert_non_null(strstr(resp, "\"stored\""));
    assert_non_null(strstr(resp, "\"version\":1"));
    free(resp);
    char *orphan = h_event("call.speak.started", "unk1-orphan", h_now_ms(),
                           s_leg("nobody", 'A', CO, CX, "sip"));
    assert_int_equal(s_post(orphan, &resp), 200);
    assert_non_null(strstr(resp, "\"unlinked\""));
    free(resp);
    /* redelivered: both are duplicates. The linked one's mark is in its
     * call's cs:seen; the unlinked one has no call, so its own key. */
    assert_int_equal(s_post(playback, &resp), 200);
    assert_non_null(strstr(resp, "\"duplicate\""));
    free(resp);
    assert_int_equal(s_post(orphan, &resp), 200);
    assert_non_null(strstr(resp, "\"duplicate\""));
    free(resp);
    assert_int_equal(s_redis_int("EXISTS cs:dedupe:unk1-orphan"), 1);
    assert_int_equal(s_redis_int("EXISTS cs:dedupe:unk1-pb"), 0);
    const char *events[] = {"events", s_cc("unk1", 'A'), NULL};
    json_t *hist = s_ctl_ok(events);
    assert_int_equal(json_array_size(hist), 2);
    assert_false(json_is_true(json_object_get(json_array_get(hist, 1), "changed")));
    json_decref(hist);
    free(playback);
    free(orphan);
    s_free(&evs);
}

/* A recording that names only its leg id (no control id, no session, no
 * client_state) cannot find the same call twice: each delivery would start
 * a call of its own. Its dedupe mark is a key of its own, so the
 * redelivery is a duplicate and makes no second call. */
static void test_unlinkable_event_deduped(void **state)
{
    (void)state;
    json_t *p = json_pack("{s:s, s:{s:s}}", "call_leg_id", "rec1-leg-only", "public_recording_urls",
                          "mp3", "https://example.com/r.mp3");
    char *rec = h_event("call.recording.saved", "rec1-only-leg", h_now_ms(), p);
    char *resp = NULL;
    assert_int_equal(s_post(rec, &resp), 200);
    assert_non_null(strstr(resp, "\"stored\""));
    free(resp);
    long long keys = s_redis_int("DBSIZE");
    assert_int_equal(s_post(rec, &resp), 200);
    assert_non_null(strstr(resp, "\"duplicate\""));
    free(resp);
    assert_int_equal(s_redis_int("DBSIZE"), keys);
    assert_int_equal(s_redis_int("EXISTS cs:dedupe:rec1-only-leg"), 1);
    free(rec);
}

/* The GLIBC_TUNABLES a process runs with, or "" (its /proc environ). */
static void s_tunables(pid_t pid, char *out, size_t len)
{
    char path[64], buf[16384];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (strncmp(buf + i, "GLIBC_TUNABLES=", 15) == 0)
            snprintf(out, len, "%s", buf + i + 15);
}

/* The ingestor restarts itself once with a larger malloc cache (glibc
 * reads it only at exec), same pid; an operator's GLIBC_TUNABLES is kept. */
static void test_malloc_cache(void **state)
{
    (void)state;
    char t[256];
    s_tunables(s_ingestor_pid, t, sizeof t);
    assert_string_equal(t, "glibc.malloc.tcache_count=2000");
    setenv("GLIBC_TUNABLES", "glibc.malloc.mxfast=0", 1);
    int port;
    pid_t pid = h_ingestor(&s_env, &port);
    unsetenv("GLIBC_TUNABLES");
    assert_true(pid > 0);
    s_tunables(pid, t, sizeof t);
    assert_string_equal(t, "glibc.malloc.mxfast=0");
    h_stop(pid, SIGTERM);
}

/* A committer count out of [1, 16], or not a number: exit status 1 and a
 * log line naming the variable and the value, before anything starts. */
static void test_bad_committer_count(void **state)
{
    (void)state;
    const char *bad[] = {"0", "17", "two"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char redis[192], key[128], port[64], n[64], tag[16], want[128];
        snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
        snprintf(key, sizeof key, "TELNYX_PUBLIC_KEY=%s", s_env.pk_b64);
        snprintf(port, sizeof port, "CALLSYNC_INGEST_PORT=%d", h_free_port());
        snprintf(n, sizeof n, "CALLSYNC_INGEST_COMMITTERS=%s", bad[i]);
        snprintf(tag, sizeof tag, "committers%zu", i);
        const char *extra[] = {redis, key, port, n, NULL};
        pid_t pid = h_spawn(&s_env, "ingestor", extra, tag);
        assert_true(pid > 0);
        assert_int_equal(h_wait_exit(pid, 5000), 1);
        snprintf(want, sizeof want,
                 "CALLSYNC_INGEST_COMMITTERS must be an integer in [1, 16], not '%s'", bad[i]);
        assert_true(h_log_has(&s_env, "ingestor", tag, want));
    }
}

/* Bad configuration of the forwarder: an endpoint that is taken (here, the
 * running bus's own) or not an endpoint at all gets exit status 1 and a
 * log line naming it and the reason; the running bus is unaffected
 * (test_bus_notice comes after). */
static void test_bus_refuses_what_it_cannot_bind(void **state)
{
    (void)state;
    char taken[128], free_sub[128], bad[128];
    snprintf(taken, sizeof taken, "CALLSYNC_BUS_PUB=%s", s_env.bus_pub);
    snprintf(free_sub, sizeof free_sub, "CALLSYNC_BUS_SUB=tcp://127.0.0.1:%d", h_free_port());
    snprintf(bad, sizeof bad, "CALLSYNC_BUS_PUB=not-an-endpoint");
    const char *first[] = {taken, free_sub, NULL}, *second[] = {bad, free_sub, NULL};
    pid_t pid = h_spawn(&s_env, "bus", first, "taken");
    assert_true(pid > 0);
    assert_int_equal(h_wait_exit(pid, 5000), 1);
    char want[256];
    snprintf(want, sizeof want, "cannot bind %s: Address already in use", s_env.bus_pub);
    assert_true(h_log_has(&s_env, "bus", "taken", want));
    pid = h_spawn(&s_env, "bus", second, "bad");
    assert_true(pid > 0);
    assert_int_equal(h_wait_exit(pid, 5000), 1);
    assert_true(h_log_has(&s_env, "bus", "bad", "cannot bind not-an-endpoint: Invalid argument"));
}

/* A service whose port was taken between the harness picking it and the
 * service binding it exits, saying so; the harness then starts it on
 * another port (h_listener), so such a race costs a retry, not a test. */
static void test_a_taken_port_is_replaced(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    int taken = ntohs(a.sin_port), port = taken;
    char redis[192], key[128];
    snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
    snprintf(key, sizeof key, "TELNYX_PUBLIC_KEY=%s", s_env.pk_b64);
    const char *extra[] = {redis, key, NULL};
    pid_t pid = h_listener(&s_env, "ingestor", "CALLSYNC_INGEST_PORT", extra, &port);
    assert_true(pid > 0);
    assert_int_not_equal(port, taken);
    char tag[16];
    snprintf(tag, sizeof tag, "%d", taken);
    assert_true(h_log_has(&s_env, "ingestor", tag, "cannot listen on port"));
    close(fd);
    kill(pid, SIGTERM);
    assert_int_equal(h_wait_exit(pid, 5000), 0);
}

static void test_bus_notice(void **state)
{
    (void)state;
    static const char *const topics[] = {"call.changed", NULL};
    cs_bus_t *sub = cs_bus_sub_new(s_env.bus_sub, topics);
    assert_non_null(sub);
    s_events_t evs;
    s_outbound("bus1", h_now_ms() - 1000, &evs);
    /* a SUB joins asynchronously: post until a notice for this call arrives */
    bool seen = false;
    for (int attempt = 0; attempt < 40 && !seen; attempt++) {
        char id[64];
        snprintf(id, sizeof id, "bus1-dtmf-%d", attempt);
        json_t *p = s_leg("bus1", 'C', CO, CX, "pstn");
        json_object_set_new(p, "digit", json_string("5"));
        char *body = h_event("call.dtmf.received", id, h_now_ms() + attempt, p);
        char *resp = NULL;
        assert_int_equal(s_post(body, &resp), 200);
        json_t *ack = json_loads(resp, 0, NULL);
        char call_id[64];
        snprintf(call_id, sizeof call_id, "%s", s_str(ack, "call"));
        json_decref(ack);
        free(resp);
        free(body);
        char *topic, *msg;
        size_t len;
        while (cs_bus_recv(sub, 100, &topic, &msg, &len) == 0) {
            static cs_call_t call;
            char err[256];
            assert_string_equal(topic, "call.changed");
            assert_int_equal(cs_store_decode(msg, len, &call, err, sizeof err), 0);
            if (strcmp(call.id, call_id) == 0) {
                seen = true;
                assert_true(call.version >= 1);
                assert_int_equal(call.ndtmf, (int)call.version);
            }
            free(topic);
            free(msg);
        }
    }
    assert_true(seen);
    cs_bus_destroy(&sub);
    s_free(&evs);
}

static void test_redis_down_then_back(void **state)
{
    (void)state;
    s_events_t evs;
    s_outbound("down1", h_now_ms() - 70000, &evs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_post(evs.body[i], NULL), 200);
    h_redis_stop(&s_env);
    char health[128];
    snprintf(health, sizeof health, "http://127.0.0.1:%d/healthz", s_port);
    assert_int_equal(h_wait_http(health, 503, 3000), 0);
    char *resp = NULL;
    assert_int_equal(s_post(evs.body[3], &resp), 503);
    free(resp);
    assert_int_equal(s_post(evs.body[4], NULL), 503);
    assert_int_equal(h_redis_start(&s_env), 0); /* same dir: the AOF comes back */
    assert_int_equal(h_wait_http(health, 200, 3000), 0);
    /* Telnyx retries what got 503; everything lands */
    for (int i = 3; i < 6; i++)
        assert_int_equal(s_post(evs.body[i], NULL), 200);
    const char *call[] = {"call", s_cc("down1", 'C'), NULL};
    json_t *rec = s_ctl_ok(call);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_true(json_real_value(json_object_get(rec, "talk_seconds")) == 60.0);
    assert_int_equal(json_array_size(json_object_get(rec, "legs")), 2);
    const char *events[] = {"events", s_cc("down1", 'C'), NULL};
    json_t *hist = s_ctl_ok(events);
    assert_int_equal(json_array_size(hist), 6);
    json_decref(hist);
    json_decref(rec);
    s_free(&evs);
}

/* ---- two ingestors, fed at once ---- */

#define N_CALLS 24
typedef struct {
    int port;
    int parity;
    s_events_t *calls;
    int failures;
} s_feeder_t;

static void *s_feed(void *arg)
{
    s_feeder_t *f = arg;
    /* Each feeder posts every other event of every call, newest first, to
     * its own ingestor: every call is written from both at once. */
    for (int e = 5; e >= 0; e--)
        for (int c = 0; c < N_CALLS; c++)
            if ((e + c) % 2 == f->parity &&
                h_post_webhook(&s_env, f->port, f->calls[c].body[e], 0, NULL) != 200)
                f->failures++;
    return NULL;
}

static void test_two_ingestors_concurrently(void **state)
{
    (void)state;
    int port2;
    setenv("CALLSYNC_INGEST_COMMITTERS", "4", 1); /* the first has the default, 2 */
    pid_t second = h_ingestor(&s_env, &port2);
    unsetenv("CALLSYNC_INGEST_COMMITTERS");
    assert_true(second > 0);
    char tag[16];
    snprintf(tag, sizeof tag, "%d", port2);
    assert_true(h_log_has(&s_env, "ingestor", tag, "2 threads, 4 committers"));
    static s_events_t calls[N_CALLS];
    int64_t t0 = h_now_ms() - 70000;
    for (int c = 0; c < N_CALLS; c++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "two%d", c);
        s_outbound(prefix, t0 + c, &calls[c]);
    }
    s_feeder_t f[4] = {
        {s_port, 0, calls, 0}, {port2, 1, calls, 0}, {s_port, 1, calls, 0}, {port2, 0, calls, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, s_feed, &f[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f[i].failures, 0);

    /* every record equals what the pure model makes of the same events */
    char err[256];
    cs_store_t *store = cs_store_new(s_env.redis_url, NULL, err, sizeof err);
    assert_non_null(store);
    for (int c = 0; c < N_CALLS; c++) {
        static cs_call_t stored, expected;
        char prefix[32], cc[96];
        snprintf(prefix, sizeof prefix, "two%d", c);
        snprintf(cc, sizeof cc, "%s", s_cc(prefix, 'A'));
        assert_int_equal(cs_store_get(store, cc, &stored, err, sizeof err), 0);
        cs_call_init(&expected, stored.id);
        for (int e = 0; e < 6; e++) {
            cs_event_t ev;
            assert_int_equal(
                cs_webhook_parse(calls[c].body[e], strlen(calls[c].body[e]), &ev, err, sizeof err),
                0);
            cs_call_merge(&expected, &ev, NULL);
        }
        json_t *a = cs_call_to_store(&stored), *b = cs_call_to_store(&expected);
        if (!json_equal(a, b))
            fail_msg("call %d differs:\n%s\n%s", c, json_dumps(a, 0), json_dumps(b, 0));
        json_decref(a);
        json_decref(b);
        char cmd[96];
        snprintf(cmd, sizeof cmd, "LLEN cs:hist:%s", stored.id);
        assert_int_equal(s_redis_int(cmd), 6);
        s_free(&calls[c]);
    }
    cs_store_destroy(&store);
    h_stop(second, SIGTERM);
}

static void test_ctl_agents_dial_hangup(void **state)
{
    (void)state;
    const char *set[] = {"agent",  "set",   "alice",    "--sip-user", "alice01",
                         "--name", "Alice", "--status", "available",  NULL};
    json_t *a = s_ctl_ok(set);
    assert_string_equal(s_str(a, "sip_user"), "alice01");
    assert_string_equal(s_str(a, "status"), "available");
    json_decref(a);
    const char *list[] = {"agents", NULL};
    a = s_ctl_ok(list);
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);

    char *err = NULL;
    const char *bad_status[] = {"agent", "set", "alice", "--status", "napping", NULL};
    assert_int_equal(h_ctl(&s_env, bad_status, NULL, &err), 1);
    assert_non_null(strstr(err, "status must be"));
    free(err);
    const char *stolen[] = {"agent", "set", "bob", "--sip-user", "alice01", NULL};
    assert_int_equal(h_ctl(&s_env, stolen, NULL, &err), 1);
    assert_non_null(strstr(err, "sip user alice01 belongs to agent alice"));
    free(err);
    const char *no_sip[] = {"agent", "set", "bob", "--name", "Bob", NULL};
    assert_int_equal(h_ctl(&s_env, no_sip, NULL, &err), 1);
    assert_non_null(strstr(err, "a new agent needs a sip user"));
    free(err);
    const char *rm_none[] = {"agent", "rm", "bob", NULL};
    assert_int_equal(h_ctl(&s_env, rm_none, NULL, &err), 1);
    assert_non_null(strstr(err, "no such agent"));
    free(err);
    const char *no_agent[] = {"dial", "--agent", "bob", "--to", CX, NULL};
    assert_int_equal(h_ctl(&s_env, no_agent, NULL, &err), 1);
    assert_non_null(strstr(err, "no such agent"));
    free(err);
    const char *bad_number[] = {"dial", "--agent", "alice", "--to", "5550100001", NULL};
    assert_int_equal(h_ctl(&s_env, bad_number, NULL, &err), 2);
    free(err);

    const char *dial[] = {"dial", "--agent", "alice", "--to", CX, NULL};
    json_t *rec = s_ctl_ok(dial);
    assert_string_equal(s_str(rec, "state"), "dialing");
    assert_string_equal(s_str(rec, "direction"), "outbound");
    assert_string_equal(s_str(rec, "agent_id"), "alice");
    assert_string_equal(s_str(rec, "to"), CX);
    assert_int_equal(strncmp(s_str(rec, "id"), "cs_", 3), 0);
    /* listed: live, and since a time, by agent; none since later, none of another */
    const char *live[] = {"calls", "--active", "--agent", "alice", NULL};
    json_t *got = s_ctl_ok(live);
    assert_int_equal(json_array_size(got), 1);
    assert_string_equal(s_str(json_array_get(got, 0), "id"), s_str(rec, "id"));
    json_decref(got);
    const char *since[] = {"calls", "--since", "0", "--agent", "alice", "--limit", "5", NULL};
    got = s_ctl_ok(since);
    assert_int_equal(json_array_size(got), 1);
    assert_string_equal(s_str(json_array_get(got, 0), "id"), s_str(rec, "id"));
    json_decref(got);
    const char *later[] = {"calls", "--since", "2100-01-01T00:00:00Z", NULL};
    got = s_ctl_ok(later);
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    const char *others[] = {"calls", "--since", "0", "--agent", "dave", NULL};
    got = s_ctl_ok(others);
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    /* bad input: exit 2, a message */
    static const struct {
        const char *args[8], *says;
    } bad[] = {
        {{"calls", NULL}, "usage"},
        {{"calls", "--active", "--since", "0", NULL}, "usage"},
        {{"calls", "--active", "--limit", "5", NULL}, "usage"},
        {{"calls", "--since", NULL}, "usage"},
        {{"calls", "--since", "yesterday", NULL}, "--since takes"},
        {{"calls", "--since", "0", "--limit", "501", NULL}, "--limit takes 1 to 500"},
        {{"calls", "--since", "0", "--limit", "0", NULL}, "--limit takes 1 to 500"},
        {{"calls", "--active", "--agent", "a b", NULL}, "agent id must be"},
        {{"calls", "--active", "--verbose", NULL}, "usage"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(h_ctl(&s_env, bad[i].args, NULL, &err), 2);
        if (!strstr(err, bad[i].says))
            fail_msg("calls case %zu: \"%s\", want \"%s\"", i, err, bad[i].says);
        free(err);
    }
    const char *hangup[] = {"hangup", s_str(rec, "id"), NULL};
    json_t *again = s_ctl_ok(hangup);
    assert_string_equal(s_str(again, "id"), s_str(rec, "id"));
    json_decref(again);
    json_decref(rec);

    const char *unknown[] = {"call", "v3:no-such-call", NULL};
    assert_int_equal(h_ctl(&s_env, unknown, NULL, &err), 1);
    assert_non_null(strstr(err, "no call v3:no-such-call"));
    free(err);
    const char *usage[] = {"frobnicate", NULL};
    assert_int_equal(h_ctl(&s_env, usage, NULL, NULL), 2);
}

/* The reference's own payload examples, byte for byte as in the files. */
static void test_reference_fixtures(void **state)
{
    (void)state;
    const char *names[] = {"call.initiated.inbound", "call.answered",
                           "call.initiated.webrtc",  "call.hangup",
                           "call.recording.saved",   "call.machine.detection.ended",
                           "call.playback.started"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128], *resp = NULL;
        snprintf(path, sizeof path, "tests/fixtures/%s.json", names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char body[8192];
        size_t n = fread(body, 1, sizeof body - 1, f);
        fclose(f);
        body[n] = '\0';
        assert_int_equal(s_post(body, &resp), 200);
        free(resp);
    }
    /* inbound PSTN call: initiated then answered, one leg, the customer's */
    const char *inbound[] = {"call", "v3:2EC-70CTEjlUq3tDM0CxKXIt5-5N4iP4wo7_-PfH-qub97Sk4EqO5w",
                             NULL};
    json_t *rec = s_ctl_ok(inbound);
    assert_string_equal(s_str(rec, "direction"), "inbound");
    assert_string_equal(s_str(rec, "from"), "+18124040851");
    assert_string_equal(s_str(rec, "to"), "+13057864498");
    assert_string_equal(s_str(json_array_get(json_object_get(rec, "legs"), 0), "role"), "customer");
    assert_string_equal(s_str(json_array_get(json_object_get(rec, "legs"), 0), "answered_at"),
                        "2025-11-23T03:30:00.996Z");
    json_decref(rec);
    /* the WebRTC-originated leg: initiated then hung up by the caller */
    const char *webrtc[] = {"call", "v3:vZdWG4JkwAHwEj4KBrAFeLprgbHYQVN8qt9rAhmO8fQRZ5ohsjz1jw",
                            NULL};
    rec = s_ctl_ok(webrtc);
    assert_string_equal(s_str(rec, "state"), "ended");
    assert_string_equal(s_str(rec, "hangup_source"), "caller");
    assert_string_equal(s_str(rec, "sip_code"), "503");
    assert_string_equal(s_str(json_array_get(json_object_get(rec, "legs"), 0), "role"), "agent");
    json_decref(rec);
}

/* The store's URL for Redis database db (each test store its own keys). */
static void s_db_url(char *url, size_t len, int db)
{
    snprintf(url, len, "redis://127.0.0.1:%d/%d", s_env.redis_port, db);
}

/* The record of the call leg ccid belongs to, without its cs id (each
 * database made its own). New reference. */
static json_t *s_record_without_id(cs_store_t *store, const char *ccid)
{
    static cs_call_t call;
    char err[256];
    if (cs_store_get(store, ccid, &call, err, sizeof err) != 0)
        fail_msg("no record for %s: %s", ccid, err);
    json_t *rec = cs_call_to_json(&call);
    json_object_del(rec, "id");
    return rec;
}

/* What the commit script writes besides the record: cs:calls holds each
 * call under its start, which moves when an earlier leg turns up and not
 * otherwise (the script skips the write then); a call's history keeps its
 * last history_max entries. */
static void test_store_start_index_and_history(void **state)
{
    (void)state;
    s_events_t evs;
    int64_t t0 = 1764000100000;
    s_outbound("hist0001", t0, &evs);
    char url[160], err[256];
    s_db_url(url, sizeof url, 7);
    cs_store_t *store = cs_store_new(url, &(cs_store_opts_t){86400, 100000, 3, 0}, err, sizeof err);
    assert_non_null(store);
    redisContext *r = h_redis(&s_env);
    assert_non_null(r);
    freeReplyObject(redisCommand(r, "SELECT 7"));
    static const int order[] = {1, 0, 2, 3, 4, 5}; /* the customer's leg first */
    static const int64_t start[] = {150, 0, 0, 0, 0, 0};
    static cs_call_t call;
    for (int i = 0; i < 6; i++) {
        cs_event_t ev;
        cs_apply_t outcome;
        bool changed;
        const char *body = evs.body[order[i]];
        assert_int_equal(cs_webhook_parse(body, strlen(body), &ev, err, sizeof err), 0);
        assert_int_equal(cs_store_apply(store, &ev, body, strlen(body), &outcome, &call, &changed,
                                        err, sizeof err),
                         0);
        assert_int_equal(outcome, CS_APPLY_STORED);
        redisReply *score = redisCommand(r, "ZSCORE cs:calls %s", call.id);
        assert_non_null(score);
        assert_int_equal(score->type, REDIS_REPLY_STRING);
        assert_int_equal(strtoll(score->str, NULL, 10), t0 + start[i]);
        freeReplyObject(score);
        redisReply *len = redisCommand(r, "LLEN cs:hist:%s", call.id);
        assert_int_equal(len->integer, i + 1 < 3 ? i + 1 : 3);
        freeReplyObject(len);
    }
    redisReply *last = redisCommand(r, "LINDEX cs:hist:%s -1", call.id);
    assert_int_equal(last->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(last->str, "hist0001-0005")); /* the newest stays */
    freeReplyObject(last);
    redisFree(r);
    cs_store_destroy(&store);
    s_free(&evs);
}

/* cs:active follows the record, and the commit writes it only when the
 * call's membership changes: in from the first event, still in when the
 * call has ended with a leg up (the orchestrator's sweep finishes it), out
 * once every leg has ended, unchanged by a duplicate, back in when a new
 * leg of the same session turns up after that, and out when it ends. Each
 * event goes through the committer's path (a batch, with the cache). */
static void test_store_active_set_follows_the_record(void **state)
{
    (void)state;
    s_events_t evs;
    int64_t t0 = 1764000200000;
    s_outbound("acti0001", t0, &evs);
    json_t *p = s_leg("acti0001", 'D', CO, "+15550100002", "pstn");
    json_object_set_new(p, "direction", json_string("outgoing"));
    evs.body[evs.n++] =
        h_event("call.initiated", "acti0001-0006-4f0e-9d8e-0c5d5b1a7e11", t0 + 70000, p);
    p = s_leg("acti0001", 'D', CO, "+15550100002", "pstn");
    json_object_set_new(p, "hangup_cause", json_string("user_busy"));
    evs.body[evs.n++] =
        h_event("call.hangup", "acti0001-0007-4f0e-9d8e-0c5d5b1a7e11", t0 + 71000, p);
    /* event index (5 again: its duplicate) and cs:active after it */
    static const int order[] = {0, 1, 2, 3, 4, 5, 5, 6, 7};
    static const bool member[] = {true, true, true, true, true, false, false, true, false};
    static const cs_apply_t outcome[] = {CS_APPLY_STORED,    CS_APPLY_STORED, CS_APPLY_STORED,
                                         CS_APPLY_STORED,    CS_APPLY_STORED, CS_APPLY_STORED,
                                         CS_APPLY_DUPLICATE, CS_APPLY_STORED, CS_APPLY_STORED};
    char url[160], err[256];
    s_db_url(url, sizeof url, 8);
    cs_store_t *store =
        cs_store_new(url, &(cs_store_opts_t){86400, 100000, 512, 100}, err, sizeof err);
    assert_non_null(store);
    redisContext *r = h_redis(&s_env);
    assert_non_null(r);
    freeReplyObject(redisCommand(r, "SELECT 8"));
    static cs_event_t ev;
    static cs_call_t call;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *body = evs.body[order[i]];
        assert_int_equal(cs_webhook_parse(body, strlen(body), &ev, err, sizeof err), 0);
        cs_store_job_t job = {.ev = &ev, .raw = body, .rawlen = strlen(body), .call = &call};
        cs_store_job_t *batch[] = {&job};
        cs_store_apply_batch(store, batch, 1);
        if (job.rc != 0)
            fail_msg("event %zu: %s", i, job.err);
        free(job.record);
        assert_int_equal(job.outcome, outcome[i]);
        redisReply *in = redisCommand(r, "SISMEMBER cs:active %s", call.id);
        assert_non_null(in);
        if (in->integer != member[i])
            fail_msg("after event %zu (%s) cs:active %s the call, expected %s", i, ev.type,
                     in->integer ? "holds" : "lacks", member[i] ? "in" : "out");
        freeReplyObject(in);
    }
    assert_int_equal(call.nlegs, 3); /* the late leg joined the same call */
    /* the customer's leg joined through the cache (its session known), so
     * only the first event resolved, and the one after the duplicate (a
     * commit that did not land drops the cached record); the commit indexed
     * each leg that joined */
    unsigned long long hits, misses;
    cs_store_cache_counts(store, &hits, &misses);
    assert_int_equal(misses, 2);
    assert_int_equal(hits, 7);
    for (char leg = 'C'; leg <= 'D'; leg++) {
        redisReply *idx = redisCommand(r, "GET cs:idx:cc:%s", s_cc("acti0001", leg));
        assert_int_equal(idx->type, REDIS_REPLY_STRING);
        assert_string_equal(idx->str, call.id);
        freeReplyObject(idx);
    }
    redisFree(r);
    cs_store_destroy(&store);
    s_free(&evs);
}

/* Group commit is a way to store, not a different outcome: three calls'
 * events, interleaved as they arrive in production, with a duplicate and an
 * event of no known call among them, give the same outcome, change and
 * version per event, and the same records, whether stored one by one or in
 * batches (that hold several events of one call, so some go alone after
 * the batch). With Redis down every job of a batch fails with a reason. */
static void s_batch_same_as_one_by_one(long cache, int db_one, int db_batched,
                                       const char *const prefix[4])
{
    enum { NCALLS = 3, N = NCALLS * 6 + 2 };
    s_events_t calls[NCALLS];
    int64_t t0 = 1764000000000;
    for (int c = 0; c < NCALLS; c++)
        s_outbound(prefix[c], t0 + c * 10, &calls[c]);
    const char *order[N];
    int k = 0;
    for (int e = 0; e < 6; e++)
        for (int c = 0; c < NCALLS; c++) {
            order[k++] = calls[c].body[e];
            if (e == 2 && c == 0) /* a retry of call 0's answer, same batch */
                order[k++] = calls[0].body[2];
        }
    char *unknown = h_event("call.conversation.ended", "ba7c0009-0000-4f0e-9d8e-0c5d5b1a7e11", t0,
                            s_leg("ba7c0009", 'A', CO, CX, "sip"));
    order[k++] = unknown;
    assert_int_equal(k, N);

    static cs_event_t ev[N];
    static cs_call_t one[N], many[N];
    char err[256];
    for (int i = 0; i < N; i++)
        assert_int_equal(cs_webhook_parse(order[i], strlen(order[i]), &ev[i], err, sizeof err), 0);
    char url[160];
    s_db_url(url, sizeof url, db_one);
    cs_store_t *a = cs_store_new(url, NULL, err, sizeof err);
    s_db_url(url, sizeof url, db_batched);
    cs_store_t *b =
        cs_store_new(url, &(cs_store_opts_t){86400, 100000, 512, cache}, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);

    cs_apply_t outcome[N];
    bool changed[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(cs_store_apply(a, &ev[i], order[i], strlen(order[i]), &outcome[i], &one[i],
                                        &changed[i], err, sizeof err),
                         0);
    static cs_store_job_t jobs[N];
    const int sizes[] = {8, 1, 6, 5};
    int at = 0, nbatches = (int)(sizeof sizes / sizeof sizes[0]);
    for (int bi = 0; bi < nbatches; bi++) {
        for (int i = at; i < at + sizes[bi]; i++)
            jobs[i] = (cs_store_job_t){
                .ev = &ev[i], .raw = order[i], .rawlen = strlen(order[i]), .call = &many[i]};
        cs_store_job_t *batch[N];
        for (int i = 0; i < sizes[bi]; i++)
            batch[i] = &jobs[at + i];
        cs_store_apply_batch(b, batch, (size_t)sizes[bi]);
        at += sizes[bi];
    }
    assert_int_equal(at, N);
    for (int i = 0; i < N; i++) {
        cs_store_job_t *j = &jobs[i];
        if (j->rc != 0)
            fail_msg("event %d (%s): %s", i, ev[i].type, j->err);
        assert_int_equal(j->outcome, outcome[i]);
        assert_int_equal(j->changed, changed[i]);
        assert_int_equal(many[i].version, one[i].version);
        /* the bus notice: "<version> <record>" of this very write */
        assert_int_equal(j->record != NULL, changed[i]);
        if (j->record)
            assert_int_equal(strtoull(j->record, NULL, 10), many[i].version);
        free(j->record);
    }
    assert_int_equal(outcome[7], CS_APPLY_DUPLICATE);
    assert_int_equal(outcome[N - 1], CS_APPLY_UNLINKED);
    for (int c = 0; c < NCALLS; c++) {
        json_t *x = s_record_without_id(a, s_cc(prefix[c], 'A'));
        json_t *y = s_record_without_id(b, s_cc(prefix[c], 'A'));
        if (!json_equal(x, y)) {
            char *tx = json_dumps(x, JSON_COMPACT), *ty = json_dumps(y, JSON_COMPACT);
            fail_msg("call %d differs:\n one by one %s\n batched    %s", c, tx, ty);
        }
        assert_string_equal(json_string_value(json_object_get(y, "state")), "ended");
        json_decref(x);
        json_decref(y);
    }

    unsigned long long hits, misses;
    cs_store_cache_counts(b, &hits, &misses);
    if (cache) /* the later batches found calls the first one stored */
        assert_true(hits >= 6);
    else
        assert_true(hits == 0 && misses == 0);

    /* Redis down: every job fails and says why; nothing is assumed stored.
     * The call's first two events are stored before, so with a cache the
     * failing ones are hits that skip resolve. */
    s_events_t late;
    s_outbound(prefix[NCALLS], t0 + 100, &late);
    static cs_event_t lev[4];
    static cs_call_t lcall[4];
    cs_store_job_t ljobs[4], *lbatch[4] = {&ljobs[0], &ljobs[1], &ljobs[2], &ljobs[3]};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(
            cs_webhook_parse(late.body[i], strlen(late.body[i]), &lev[i], err, sizeof err), 0);
        ljobs[i] = (cs_store_job_t){
            .ev = &lev[i], .raw = late.body[i], .rawlen = strlen(late.body[i]), .call = &lcall[i]};
    }
    cs_store_apply_batch(b, lbatch, 2);
    h_redis_stop(&s_env);
    cs_store_apply_batch(b, lbatch + 2, 2);
    for (int i = 2; i < 4; i++) {
        assert_int_equal(ljobs[i].rc, -1);
        assert_true(strlen(ljobs[i].err) > 0);
    }
    assert_int_equal(h_redis_start(&s_env), 0);
    cs_store_cache_counts(b, &hits, &misses);
    unsigned long long hits_before = hits;
    cs_store_apply_batch(b, lbatch + 2, 2); /* the retry lands */
    cs_store_cache_counts(b, &hits, &misses);
    assert_true(hits == hits_before); /* a new connection: the cache started over */
    for (int i = 0; i < 4; i++) {
        if (ljobs[i].rc != 0)
            fail_msg("retry of event %d: %s", i, ljobs[i].err);
        assert_int_equal(ljobs[i].outcome, CS_APPLY_STORED);
        free(ljobs[i].record);
    }
    assert_int_equal(lcall[3].version, 4);
    s_free(&late);
    free(unknown);
    for (int c = 0; c < NCALLS; c++)
        s_free(&calls[c]);
    cs_store_destroy(&a);
    cs_store_destroy(&b);
}

static void test_store_batch_same_as_one_by_one(void **state)
{
    (void)state;
    const char *const prefix[] = {"ba7c0001", "ba7c0002", "ba7c0003", "ba7c0004"};
    s_batch_same_as_one_by_one(0, 1, 2, prefix);
}

/* The same with the cache the ingestor's committer uses: most events skip
 * resolve, and nothing else may differ. */
static void test_store_batch_cached_same_as_one_by_one(void **state)
{
    (void)state;
    const char *const prefix[] = {"ca7c0001", "ca7c0002", "ca7c0003", "ca7c0004"};
    s_batch_same_as_one_by_one(100, 3, 4, prefix);
}

/* A cached record goes stale when another writer (a second ingestor, the
 * orchestrator's command facts) stores a fact of the call. The next event
 * through the cache must not overwrite that fact: its commit meets a newer
 * version, goes the full way, and both facts are in the record. After it
 * the cache holds the current record again, and the next events use it. */
/* Two writers on one database and one outbound call's six events, parsed
 * and ready as jobs: `cached` is the committer's store (with its cache),
 * `other` a second writer (a second ingestor, the orchestrator). Freed with
 * every job's record by s_writers_destroy. */
typedef struct {
    s_events_t call;
    cs_event_t ev[6];
    cs_call_t rec[6];
    cs_store_job_t jobs[6];
    cs_store_t *cached, *other;
} s_writers_t;

static s_writers_t *s_writers_new(const char *prefix, int64_t t0, int db)
{
    s_writers_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    s_outbound(prefix, t0, &w->call);
    char err[256], url[160];
    for (int i = 0; i < 6; i++) {
        const char *b = w->call.body[i];
        assert_int_equal(cs_webhook_parse(b, strlen(b), &w->ev[i], err, sizeof err), 0);
        w->jobs[i] =
            (cs_store_job_t){.ev = &w->ev[i], .raw = b, .rawlen = strlen(b), .call = &w->rec[i]};
    }
    s_db_url(url, sizeof url, db);
    w->cached = cs_store_new(url, &(cs_store_opts_t){86400, 100000, 512, 100}, err, sizeof err);
    w->other = cs_store_new(url, NULL, err, sizeof err);
    assert_non_null(w->cached);
    assert_non_null(w->other);
    return w;
}

/* Stores event i through the cached writer's committer path (a batch of
 * one); its job says how it went. */
static cs_store_job_t *s_writers_batch(s_writers_t *w, int i)
{
    cs_store_job_t *job = &w->jobs[i];
    free(job->record);
    job->record = NULL;
    cs_store_job_t *batch[] = {job};
    cs_store_apply_batch(w->cached, batch, 1);
    return job;
}

/* Stores event i through the other writer; 0 or -1. */
static int s_writers_other(s_writers_t *w, int i)
{
    cs_apply_t outcome;
    bool changed;
    char err[256];
    return cs_store_apply(w->other, &w->ev[i], w->call.body[i], strlen(w->call.body[i]), &outcome,
                          &w->rec[i], &changed, err, sizeof err);
}

static void s_writers_destroy(s_writers_t **w_p)
{
    s_writers_t *w = *w_p;
    for (int i = 0; i < 6; i++)
        free(w->jobs[i].record);
    s_free(&w->call);
    cs_store_destroy(&w->cached);
    cs_store_destroy(&w->other);
    free(w);
    *w_p = NULL;
}

static void test_store_batch_cache_behind_another_writer(void **state)
{
    (void)state;
    s_writers_t *w = s_writers_new("be7c0001", 1764000000000, 5);
    cs_store_job_t *batch[] = {&w->jobs[0], &w->jobs[1]};
    cs_store_apply_batch(w->cached, batch, 2);
    assert_int_equal(w->jobs[1].rc, 0);
    assert_int_equal(w->rec[1].version, 2);

    assert_int_equal(s_writers_other(w, 2), 0);
    assert_int_equal(w->rec[2].version, 3); /* the answer, which the cache has not seen */

    unsigned long long hits0, misses0, hits, misses;
    cs_store_cache_counts(w->cached, &hits0, &misses0);
    cs_store_job_t *job = s_writers_batch(w, 3);
    if (job->rc != 0)
        fail_msg("bridged: %s", job->err);
    assert_int_equal(job->outcome, CS_APPLY_STORED);
    cs_store_cache_counts(w->cached, &hits, &misses);
    assert_true(hits == hits0 + 1); /* found, stale: the version check caught it */
    assert_int_equal(w->rec[3].version, 4);
    assert_true(w->rec[3].legs[0].answered.at || w->rec[3].legs[1].answered.at);

    for (int i = 4; i < 6; i++)
        if (s_writers_batch(w, i)->rc != 0)
            fail_msg("event %d: %s", i, w->jobs[i].err);
    cs_store_cache_counts(w->cached, &hits0, &misses0);
    assert_true(hits0 == hits + 2 && misses0 == misses);
    assert_int_equal(w->rec[5].version, 6);

    json_t *r = s_record_without_id(w->other, s_cc("be7c0001", 'A'));
    assert_string_equal(json_string_value(json_object_get(r, "state")), "ended");
    assert_non_null(json_string_value(json_object_get(r, "answered_at")));
    json_decref(r);

    /* Redis restarted (it may have lost its last second of writes): once
     * reconnected, the cache starts over instead of trusting records read
     * from the server before. The first batch after the restart meets the
     * dead connection and reconnects; the next one finds nothing cached. */
    h_redis_stop(&s_env);
    assert_int_equal(h_redis_start(&s_env), 0);
    s_writers_t *fresh = s_writers_new("be7c0002", 1764000100000, 5);
    cs_store_job_t *fjob = &fresh->jobs[0];
    batch[0] = fjob;
    cs_store_apply_batch(w->cached, batch, 1);
    if (fjob->rc != 0)
        fail_msg("after the restart: %s", fjob->err);
    cs_store_cache_counts(w->cached, &hits, &misses);
    job = s_writers_batch(w, 5); /* a retry of the hangup, cached before the restart */
    assert_int_equal(job->rc, 0);
    assert_int_equal(job->outcome, CS_APPLY_DUPLICATE);
    cs_store_cache_counts(w->cached, &hits0, &misses0);
    assert_true(hits0 == hits && misses0 == misses + 1);
    s_writers_destroy(&fresh);
    s_writers_destroy(&w);
}

/* A second leg's first event is not a cache hit (its leg is new), but its
 * call is cached: the record resolve returns is taken from the cache when
 * it is the same version, and parsed when another writer has moved it on.
 * Here the other writer stores the bridge between the two legs' events; the
 * customer's leg must join the record that has it, not the cached copy
 * without it. (Were the cached copy taken anyway, the commit's version check
 * would still catch it and send the event the full way: this is the
 * outcome that must hold either way.) */
static void test_store_second_leg_behind_another_writer(void **state)
{
    (void)state;
    s_writers_t *w = s_writers_new("se7c0001", 1764000300000, 9);
    assert_int_equal(s_writers_batch(w, 0)->rc, 0); /* the agent's leg: the call is cached */
    assert_int_equal(w->rec[0].version, 1);
    assert_int_equal(s_writers_other(w, 3), 0);
    assert_int_equal(w->rec[3].version, 2); /* the bridge, which the cache has not seen */

    cs_store_job_t *job = s_writers_batch(w, 1); /* the customer's leg, new */
    if (job->rc != 0)
        fail_msg("customer's leg: %s", job->err);
    assert_int_equal(job->outcome, CS_APPLY_STORED);
    assert_int_equal(w->rec[1].version, 3);
    assert_int_equal(w->rec[1].nlegs, 2);
    bool bridged = false;
    for (int i = 0; i < w->rec[1].nlegs; i++)
        bridged = bridged || w->rec[1].legs[i].bridged.at != 0;
    assert_true(bridged);

    job = s_writers_batch(w, 2); /* and the answer, a hit on the record just stored */
    assert_int_equal(job->rc, 0);
    assert_int_equal(w->rec[2].version, 4);
    json_t *r = s_record_without_id(w->other, s_cc("se7c0001", 'C'));
    assert_string_equal(json_string_value(json_object_get(r, "state")), "active");
    json_decref(r);
    s_writers_destroy(&w);
}

/* A leg the cache would join to its session's call, but that another
 * writer has already indexed to another call (its client_state named that
 * one): the commit finds the index, reports a conflict, and the event goes
 * the full way into the call the index names. The session's call is left
 * as it was. */
static void test_store_joining_leg_indexed_elsewhere(void **state)
{
    (void)state;
    s_writers_t *w = s_writers_new("je7c0001", 1764000400000, 10);
    assert_int_equal(s_writers_batch(w, 0)->rc, 0); /* the session's call, X */
    CS_COPY(w->ev[1].cs_hint, "cs_01OTHERCALL0000000000000Y");
    assert_int_equal(s_writers_other(w, 1), 0);
    assert_string_equal(w->rec[1].id, "cs_01OTHERCALL0000000000000Y");

    cs_store_job_t *job = s_writers_batch(w, 2); /* the customer's answer: no hint */
    if (job->rc != 0)
        fail_msg("answer: %s", job->err);
    assert_int_equal(job->outcome, CS_APPLY_STORED);
    assert_string_equal(w->rec[2].id, "cs_01OTHERCALL0000000000000Y");
    assert_int_equal(w->rec[2].version, 2);
    static cs_call_t x;
    char err[256];
    assert_int_equal(cs_store_get(w->other, s_cc("je7c0001", 'A'), &x, err, sizeof err), 0);
    assert_string_equal(x.id, w->rec[0].id);
    assert_int_equal(x.version, 1);
    assert_int_equal(x.nlegs, 1);
    s_writers_destroy(&w);
}

static void test_metrics(void **state)
{
    (void)state;
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "callsync_webhooks_total{outcome=\"stored\"}"));
    assert_non_null(strstr(body, "callsync_webhooks_refused_total{reason=\"bad_signature\"}"));
    assert_non_null(strstr(body, "callsync_webhook_ack_seconds_bucket{le=\"0.005\"}"));
    const char *delay = strstr(body, "callsync_webhook_delay_seconds_count ");
    assert_non_null(delay);
    assert_true(strtol(delay + strlen("callsync_webhook_delay_seconds_count "), NULL, 10) > 0);
    assert_non_null(strstr(body, "callsync_redis_up 1"));
    /* the calls posted by the tests before: their later events found the
     * call in the committer's cache */
    const char *hits = strstr(body, "\ncallsync_ingest_cache_hits_total ");
    assert_non_null(hits);
    assert_true(strtol(hits + strlen("\ncallsync_ingest_cache_hits_total "), NULL, 10) > 0);
    assert_non_null(strstr(body, "\ncallsync_ingest_cache_misses_total "));
    free(body);
}

/* ---- retention (callsync-timer, CALLSYNC_RETENTION_S) ---- */

/* cs_store_forget_ended in passes of 100: 30 calls still talking began
 * first, so they head the range of calls begun before the cutoff; the
 * 250 ended calls after them are removed pass by pass while the 30 stay,
 * skipped by the cursor; the pass that reaches the end says so (*more
 * false) and starts the next one from the head again. */
static void test_store_forget_in_passes(void **state)
{
    (void)state;
    enum { TALKING = 30, ENDED = 250 };
    const int64_t t0 = 1764000500000;
    char url[160], err[256];
    s_db_url(url, sizeof url, 11);
    cs_store_t *store =
        cs_store_new(url, &(cs_store_opts_t){86400, 100000, 512, 0}, err, sizeof err);
    assert_non_null(store);
    static cs_event_t ev;
    static cs_call_t call;
    for (int c = 0; c < TALKING + ENDED; c++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "fp%06d", c);
        s_events_t evs;
        s_outbound(prefix, t0 + (int64_t)c * 1000, &evs);
        for (int i = 0; i < (c < TALKING ? 3 : evs.n); i++) {
            assert_int_equal(
                cs_webhook_parse(evs.body[i], strlen(evs.body[i]), &ev, err, sizeof err), 0);
            cs_apply_t outcome;
            bool changed;
            if (cs_store_apply(store, &ev, NULL, 0, &outcome, &call, &changed, err, sizeof err))
                fail_msg("%s: %s", prefix, err);
        }
        s_free(&evs);
    }
    static const struct {
        int removed;
        bool more;
        long cursor;
    } pass[] = {{70, true, 30}, {100, true, 30}, {80, false, 0}, {0, false, 0}};
    long cursor = 0;
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        bool more;
        int removed = cs_store_forget_ended(store, t0 + 10 * 86400000LL, 100, &cursor, &more, err,
                                            sizeof err);
        if (removed != pass[i].removed || more != pass[i].more || cursor != pass[i].cursor)
            fail_msg("pass %zu: removed %d, more %d, cursor %ld; expected %d, %d, %ld", i, removed,
                     more, cursor, pass[i].removed, pass[i].more, pass[i].cursor);
    }
    redisContext *r = h_redis(&s_env);
    assert_non_null(r);
    freeReplyObject(redisCommand(r, "SELECT 11"));
    redisReply *n = redisCommand(r, "ZCARD cs:calls");
    assert_int_equal(n->integer, TALKING);
    freeReplyObject(n);
    /* nothing of the ended calls is left: each talking call keeps its
     * record, history, dedupe marks, two leg indexes and its session's,
     * beside cs:calls and cs:active */
    n = redisCommand(r, "DBSIZE");
    assert_int_equal(n->integer, TALKING * 6 + 2);
    freeReplyObject(n);
    redisFree(r);
    assert_int_equal(cs_store_get(store, s_cc("fp000029", 'C'), &call, err, sizeof err), 0);
    assert_int_equal(cs_store_get(store, s_cc("fp000030", 'C'), &call, err, sizeof err), 1);
    assert_int_equal(cs_store_get(store, s_cc("fp000279", 'A'), &call, err, sizeof err), 1);
    /* a record that does not decode stays, for a person to look at (a
     * warning says so), and so does its entry */
    r = h_redis(&s_env);
    assert_non_null(r);
    freeReplyObject(redisCommand(r, "SELECT 11"));
    freeReplyObject(redisCommand(r, "SET cs:call:cs_01DAMAGED00000000000000000 %s", "3 {\"t0\":"));
    freeReplyObject(
        redisCommand(r, "ZADD cs:calls %lld cs_01DAMAGED00000000000000000", (long long)t0 - 1000));
    bool more;
    assert_int_equal(
        cs_store_forget_ended(store, t0 + 10 * 86400000LL, 100, &cursor, &more, err, sizeof err),
        0);
    n = redisCommand(r, "EXISTS cs:call:cs_01DAMAGED00000000000000000");
    assert_int_equal(n->integer, 1);
    freeReplyObject(n);
    n = redisCommand(r, "ZCARD cs:calls");
    assert_int_equal(n->integer, TALKING + 1);
    freeReplyObject(n);
    redisFree(r);
    /* Redis gone: -1 and why */
    cs_store_destroy(&store);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", h_free_port());
    store = cs_store_new(url, &(cs_store_opts_t){86400, 100000, 512, 0}, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(cs_store_forget_ended(store, t0, 100, &cursor, &more, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis"));
    cs_store_destroy(&store);
}

/* A timer on this test's Redis and bus with CALLSYNC_RETENTION_S=value
 * (NULL: unset); *port set, its log tagged with it. No Telnyx behind it:
 * no timers are due in these tests. */
static pid_t s_timer(const char *retention, int *port)
{
    char redis[192], pub[128], sub[128], keep[64];
    snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
    snprintf(pub, sizeof pub, "CALLSYNC_BUS_PUB=%s", s_env.bus_pub);
    snprintf(sub, sizeof sub, "CALLSYNC_BUS_SUB=%s", s_env.bus_sub);
    snprintf(keep, sizeof keep, "CALLSYNC_RETENTION_S=%s", retention ? retention : "");
    const char *extra[] = {redis,
                           pub,
                           sub,
                           "TELNYX_API_KEY=test-key",
                           "TELNYX_API_BASE=http://127.0.0.1:9/v2",
                           retention ? keep : NULL,
                           NULL};
    *port = 0;
    return h_listener(&s_env, "timer", "CALLSYNC_TIMER_PORT", extra, port);
}

static int s_ctl_rc(const char *id)
{
    const char *args[] = {"call", id, NULL};
    json_t *out = NULL;
    char *err = NULL;
    int rc = h_ctl(&s_env, args, &out, &err);
    json_decref(out);
    free(err);
    return rc;
}

static long long s_exists(const char *fmt, const char *arg)
{
    char key[256], cmd[300];
    snprintf(key, sizeof key, fmt, arg);
    snprintf(cmd, sizeof cmd, "EXISTS %s", key);
    return s_redis_int(cmd);
}

/* What a value of CALLSYNC_RETENTION_S gets: a day or more, or 0, runs;
 * anything else exits 1 with the reason. 0 keeps calls forever: no sweep,
 * so no retention metrics either. */
static void test_retention_config(void **state)
{
    (void)state;
    static const struct {
        const char *value, *reason;
    } bad[] = {
        {"3600", "CALLSYNC_RETENTION_S must be 0 (keep calls forever) or at least 86400 (a day), "
                 "not '3600'"},
        {"-1", "CALLSYNC_RETENTION_S must be an integer in [0, 315360000], not '-1'"},
        {"30d", "CALLSYNC_RETENTION_S must be an integer in [0, 315360000], not '30d'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char redis[192], keep[64], port[64], tag[16];
        snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", s_env.redis_url);
        snprintf(keep, sizeof keep, "CALLSYNC_RETENTION_S=%s", bad[i].value);
        snprintf(port, sizeof port, "CALLSYNC_TIMER_PORT=%d", h_free_port());
        snprintf(tag, sizeof tag, "retention%zu", i);
        const char *extra[] = {redis, keep, port, "TELNYX_API_KEY=test-key", NULL};
        pid_t pid = h_spawn(&s_env, "timer", extra, tag);
        assert_true(pid > 0);
        assert_int_equal(h_wait_exit(pid, 5000), 1);
        assert_true(h_log_has(&s_env, "timer", tag, bad[i].reason));
    }
    int port;
    pid_t pid = s_timer("0", &port);
    assert_true(pid > 0);
    char tag[16], url[128], *body = NULL;
    snprintf(tag, sizeof tag, "%d", port);
    assert_true(h_log_has(&s_env, "timer", tag, "finished calls kept forever"));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "callsync_timers_fired_total"));
    assert_null(strstr(body, "callsync_calls_removed_total"));
    free(body);
    kill(pid, SIGTERM);
    assert_int_equal(h_wait_exit(pid, 5000), 0); /* a clean stop */
}

/* With CALLSYNC_RETENTION_S=86400 the timer removes every key of a call
 * that ended three days ago (record, history, dedupe marks, the indexes
 * of its legs and session, its cs:calls entry) and a cs:calls entry whose
 * record is gone; it keeps a call that ended two hours ago, one that
 * began three days ago and ended two hours ago (retention counts from the
 * end), one that began three days ago and has not ended, and one that
 * ended three days ago with a leg still live (in cs:active: its teardown
 * is not over). */
static void test_retention_removes_old_finished_calls(void **state)
{
    (void)state;
    const int64_t day = 86400000, now = h_now_ms();
    s_events_t old_call, new_call, long_call, open_call, live_call;
    s_outbound("ret-old", now - 3 * day, &old_call);
    s_outbound("ret-new", now - 2 * 3600000, &new_call);
    s_outbound_talk("ret-long", now - 3 * day, 3 * day - 2 * 3600000, &long_call);
    s_outbound("ret-open", now - 3 * day, &open_call);
    s_outbound("ret-live", now - 3 * day, &live_call);
    static const int all[] = {0, 1, 2, 3, 4, 5}, talking[] = {0, 1, 2}, one_gone[] = {0, 1, 2, 5};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(s_post(old_call.body[all[i]], NULL), 200);
        assert_int_equal(s_post(new_call.body[all[i]], NULL), 200);
        assert_int_equal(s_post(long_call.body[all[i]], NULL), 200);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_post(open_call.body[talking[i]], NULL), 200);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s_post(live_call.body[one_gone[i]], NULL), 200);

    const char *by_ccid[] = {"call", s_cc("ret-old", 'C'), NULL};
    json_t *rec = s_ctl_ok(by_ccid);
    assert_string_equal(s_str(rec, "state"), "ended");
    char old_id[64];
    snprintf(old_id, sizeof old_id, "%s", s_str(rec, "id"));
    json_decref(rec);
    const char *live_args[] = {"call", s_cc("ret-live", 'A'), NULL};
    rec = s_ctl_ok(live_args);
    assert_string_equal(s_str(rec, "state"), "ended");
    json_decref(rec);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ZADD cs:calls %lld cs_01ORPHANED0000000000000000",
             (long long)(now - 5 * day));
    assert_int_equal(s_redis_int(cmd), 1);
    assert_int_equal(s_exists("cs:hist:%s", old_id), 1);
    assert_int_equal(s_exists("cs:seen:%s", old_id), 1);

    int port;
    pid_t pid = s_timer("86400", &port);
    assert_true(pid > 0);
    int waited = 0;
    while (s_ctl_rc(s_cc("ret-old", 'C')) == 0 && waited < 10000) {
        struct timespec ms50 = {0, 50 * 1000000};
        nanosleep(&ms50, NULL);
        waited += 50;
    }
    assert_int_equal(s_ctl_rc(s_cc("ret-old", 'C')), 1); /* an unknown id now */
    assert_int_equal(s_ctl_rc(s_cc("ret-old", 'A')), 1);
    assert_int_equal(s_ctl_rc(old_id), 1);
    assert_int_equal(s_exists("cs:call:%s", old_id), 0);
    assert_int_equal(s_exists("cs:hist:%s", old_id), 0);
    assert_int_equal(s_exists("cs:seen:%s", old_id), 0);
    assert_int_equal(s_exists("cs:idx:cc:%s", s_cc("ret-old", 'A')), 0);
    assert_int_equal(s_exists("cs:idx:cc:%s", s_cc("ret-old", 'C')), 0);
    assert_int_equal(s_exists("cs:idx:sess:%s", "ret-old-c81c-11f0-abac-02420aef93a0"), 0);
    snprintf(cmd, sizeof cmd, "ZSCORE cs:calls %s", old_id);
    redisContext *c = h_redis(&s_env);
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd);
    assert_true(r && r->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = redisCommand(c, "ZSCORE cs:calls cs_01ORPHANED0000000000000000");
    assert_true(r && r->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(c);

    assert_int_equal(s_ctl_rc(s_cc("ret-new", 'C')), 0);
    assert_int_equal(s_ctl_rc(s_cc("ret-long", 'C')), 0);
    assert_int_equal(s_ctl_rc(s_cc("ret-open", 'C')), 0);
    assert_int_equal(s_ctl_rc(s_cc("ret-live", 'C')), 0);
    assert_int_equal(s_exists("cs:idx:sess:%s", "ret-live-c81c-11f0-abac-02420aef93a0"), 1);

    char tag[16], url[128], *body = NULL;
    snprintf(tag, sizeof tag, "%d", port);
    assert_true(h_log_has(&s_env, "timer", tag, "finished calls kept 86400 s"));
    assert_true(h_log_has(&s_env, "timer", tag, "retention: removed "));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    assert_int_equal(h_http("GET", url, NULL, NULL, 0, &body), 200);
    const char *removed = strstr(body, "\ncallsync_calls_removed_total ");
    assert_non_null(removed);
    /* these two, and any call of the tests before that ended a day ago */
    assert_true(strtol(removed + strlen("\ncallsync_calls_removed_total "), NULL, 10) >= 2);
    assert_non_null(strstr(body, "\ncallsync_retention_errors_total 0"));
    const char *stored = strstr(body, "\ncallsync_calls_stored ");
    assert_non_null(stored);
    assert_int_equal(strtoll(stored + strlen("\ncallsync_calls_stored "), NULL, 10),
                     s_redis_int("ZCARD cs:calls"));
    free(body);
    kill(pid, SIGTERM);
    assert_int_equal(h_wait_exit(pid, 5000), 0); /* a clean stop */
    s_free(&old_call);
    s_free(&new_call);
    s_free(&long_call);
    s_free(&open_call);
    s_free(&live_call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_store_nothing),
        cmocka_unit_test(test_outbound_call_record),
        cmocka_unit_test(test_active_and_late_answer),
        cmocka_unit_test(test_unknown_event_types),
        cmocka_unit_test(test_unlinkable_event_deduped),
        cmocka_unit_test(test_malloc_cache),
        cmocka_unit_test(test_bad_committer_count),
        cmocka_unit_test(test_bus_refuses_what_it_cannot_bind),
        cmocka_unit_test(test_a_taken_port_is_replaced),
        cmocka_unit_test(test_bus_notice),
        cmocka_unit_test(test_two_ingestors_concurrently),
        cmocka_unit_test(test_ctl_agents_dial_hangup),
        cmocka_unit_test(test_reference_fixtures),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_redis_down_then_back),
        cmocka_unit_test(test_store_start_index_and_history),
        cmocka_unit_test(test_store_active_set_follows_the_record),
        cmocka_unit_test(test_store_batch_same_as_one_by_one),
        cmocka_unit_test(test_store_batch_cached_same_as_one_by_one),
        cmocka_unit_test(test_store_batch_cache_behind_another_writer),
        cmocka_unit_test(test_store_second_leg_behind_another_writer),
        cmocka_unit_test(test_store_joining_leg_indexed_elsewhere),
        cmocka_unit_test(test_store_forget_in_passes),
        cmocka_unit_test(test_retention_config),
        cmocka_unit_test(test_retention_removes_old_finished_calls), /* last: it removes */
    };
    int failed = cmocka_run_group_tests_name("ingestor", tests, setup, teardown);
    /* cmocka reports a failed teardown but does not count it: we do, since
     * that is where a service's sanitizer report is found */
    return failed || s_teardown_failed;
}
