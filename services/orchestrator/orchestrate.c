/* orchestrate - see orchestrate.h. */
#include "orchestrate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents.h"
#include "bus.h"
#include "flows.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "text.h"
#include "timers.h"
#include "timestamp.h"

enum { M_OK, M_ALREADY_ENDED, M_REFUSED, M_UNANSWERED, M_COUNT };
/* How an inbound call's looks for an agent went: one rung, the caller put
 * in the line (once a call), or turned away (busy) with nobody available
 * or with every available agent ringing for another call */
enum { R_RUNG, R_QUEUED, R_NOBODY, R_ALL_RINGING, R_COUNT };

/* Failed commands by Telnyx error code: the codes a call flow meets (the
 * reference's error table), then the rest by class. */
static const char *const s_codes[] = {"90018", "90015", "90034", "10004", "10005", "10009",
                                      "10015", "10016", "10032", "10033", NULL};
enum { F_KNOWN = 10, F_OTHER_4XX = F_KNOWN, F_UNAVAILABLE, F_COUNT };

struct cs_orch {
    cs_store_t *store;
    cs_telnyx_t *api;
    cs_bus_t *notices;
    char connection_id[32], caller_id[32];
    int ring_timeout_s, wrapup_s, stuck_s, max_call_s, alive_check_s, queue_wait_s;
    int line_due; /* an offer ended: its agent may be free for a caller waiting */
    char instance[64];
    cs_counter_t counters[M_COUNT];
    cs_counter_t claims_lost;
    cs_counter_t routes[R_COUNT];
    cs_counter_t failures[F_COUNT];
    char failure_labels[F_COUNT][32];
    cs_histogram_t latency;
};

cs_orch_t *cs_orch_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *notices,
                       const cs_orch_config_t *cfg)
{
    cs_orch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->api = api;
    self->notices = notices;
    CS_COPY(self->connection_id, cfg->connection_id);
    CS_COPY(self->caller_id, cfg->caller_id);
    self->ring_timeout_s = cfg->ring_timeout_s;
    self->wrapup_s = cfg->wrapup_s;
    self->stuck_s = cfg->stuck_s;
    self->max_call_s = cfg->max_call_s;
    self->alive_check_s = cfg->alive_check_s;
    self->queue_wait_s = cfg->queue_wait_s;
    char host[32] = "";
    gethostname(host, sizeof host - 1);
    snprintf(self->instance, sizeof self->instance, "%s:%d", host, (int)getpid());
    static const char *labels[M_COUNT] = {"outcome=\"ok\"", "outcome=\"already_ended\"",
                                          "outcome=\"refused\"", "outcome=\"no_answer\""};
    for (int i = 0; i < M_COUNT; i++) {
        self->counters[i].name = "callsync_commands_total";
        self->counters[i].help = "Telnyx commands sent, by outcome";
        self->counters[i].labels = labels[i];
    }
    for (int i = 0; i < F_COUNT; i++) {
        snprintf(self->failure_labels[i], sizeof self->failure_labels[i], "code=\"%s\"",
                 i < F_KNOWN        ? s_codes[i]
                 : i == F_OTHER_4XX ? "other_4xx"
                                    : "unavailable");
        self->failures[i].name = "callsync_command_failures_total";
        self->failures[i].help = "Telnyx commands that failed, by error code (unavailable: "
                                 "5xx, timeouts, connection errors)";
        self->failures[i].labels = self->failure_labels[i];
    }
    static const char *routes[R_COUNT] = {"outcome=\"agent_rung\"", "outcome=\"queued\"",
                                          "outcome=\"nobody_available\"",
                                          "outcome=\"all_ringing\""};
    for (int i = 0; i < R_COUNT; i++) {
        self->routes[i].name = "callsync_routes_total";
        self->routes[i].help = "Inbound calls' looks for an agent, by outcome (queued: the caller "
                               "waits in the line; nobody_available, all_ringing: turned away, "
                               "every available agent being rung by another call)";
        self->routes[i].labels = routes[i];
    }
    self->claims_lost.name = "callsync_intents_claimed_elsewhere_total";
    self->claims_lost.help = "Intents another orchestrator instance had claimed";
    self->latency = (cs_histogram_t){
        .name = "callsync_command_seconds",
        .help = "Telnyx command latency, retries included",
        .nbuckets = 8,
        .bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5},
    };
    return self;
}

void cs_orch_destroy(cs_orch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static int s_is_reply(redisReply *r, int type)
{
    return r && r->type == type;
}

/* 1: this instance may send the intent now; 0: done or claimed elsewhere;
 * -1: Redis unreachable. */
static int s_claim(cs_orch_t *self, const char *key)
{
    cs_redis_t *redis = cs_store_redis(self->store);
    redisReply *r = cs_redis_cmd(redis, "EXISTS cs:done:%s", key);
    if (!s_is_reply(r, REDIS_REPLY_INTEGER)) {
        freeReplyObject(r);
        return -1;
    }
    int done = r->integer == 1;
    freeReplyObject(r);
    if (done)
        return 0;
    r = cs_redis_cmd(redis, "SET cs:claim:%s %s NX PX 15000", key, self->instance);
    int won = s_is_reply(r, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    if (!won)
        cs_counter_inc(&self->claims_lost);
    return won;
}

static void s_done(cs_orch_t *self, const char *key)
{
    freeReplyObject(cs_redis_cmd(cs_store_redis(self->store), "SET cs:done:%s 1 EX 86400", key));
}

/* Lets a claimed intent go undone, so the next look (a notice, the sweep)
 * claims and runs it again: a caller waiting in the line. */
static void s_unclaim(cs_orch_t *self, const char *key)
{
    freeReplyObject(cs_redis_cmd(cs_store_redis(self->store), "DEL cs:claim:%s", key));
}

/* Merges a fact of ours into the call (and its history) and, when that
 * changed the record, says so on the bus, as every writer does: the
 * softphones see a transfer's outcome, and the rules here run on it at
 * once, not at the next sweep. A failure is logged, as the sweep will act
 * on the record again. */
static void s_record(cs_orch_t *self, const cs_event_t *ev)
{
    static cs_call_t after;
    cs_apply_t applied;
    bool changed;
    char err[256];
    if (cs_store_apply(self->store, ev, NULL, 0, &applied, &after, &changed, err, sizeof err)) {
        cs_warn("call %s: %s not recorded: %s", ev->cs_hint, ev->type, err);
        return;
    }
    if (changed && cs_store_announce(self->store, self->notices))
        cs_warn("call %s: change notice not sent", after.id);
}

/* The command and its outcome, as a fact in the call's history. */
static void s_fact(cs_orch_t *self, const cs_call_t *call, const char *type, const char *ccid,
                   const char *outcome)
{
    cs_event_t ev;
    cs_store_command_fact(&ev, CS_EV_UNKNOWN, type, "cmd", call->id);
    CS_COPY(ev.ccid, ccid);
    CS_COPY(ev.value, outcome);
    s_record(self, &ev);
}

/* A transfer Telnyx refused (a blind one's transfer, a warm one's bridge)
 * or that has no target to dial: a fact on the leaving leg, answering its
 * request. If that leg is still in
 * the call, its agent keeps the call; if it has gone, the customer goes
 * back to routing (flows.h). A hangup of the leg racing this check is read
 * as "kept", and then ends the call, as a hangup without a transfer does. */
static void s_transfer_failed(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in,
                              const char *why)
{
    const cs_leg_t *leaving = cs_call_leg(call, in->other);
    int live = leaving && !leaving->ended.at;
    cs_event_t ev;
    cs_store_command_fact(&ev, CS_EV_TRANSFER_FAILED, "callsync.transfer_failed", "xfail",
                          call->id);
    CS_COPY(ev.ccid, in->other);
    ev.at = in->at; /* the request it answers */
    CS_COPY(ev.value, why);
    CS_COPY(ev.disposition, live ? "kept" : "left");
    cs_info("call %s: transfer to %s failed (%s): %s", call->id,
            in->target[0] ? in->target : "the consulted leg", why,
            live ? "the agent keeps the call" : "the customer goes back to routing");
    s_record(self, &ev);
}

/* Why a warm request failed when its colleague hung up before the bridge. */
#define S_CONSULTED_GONE "the consulted leg had ended"

/* An offer outlives the ring timeout by this much: the transfer's round
 * trip and the webhooks that end the leg (cs_agent_offer). */
#define S_OFFER_MARGIN_S 10

/* A warm request carried out: the customer is bridged to the consulted
 * leg, which owns the call from now on (call.h, xfer_done_at). */
static void s_transfer_completed(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in)
{
    cs_event_t ev;
    cs_store_command_fact(&ev, CS_EV_TRANSFER_COMPLETED, "callsync.transfer_completed", "xdone",
                          call->id);
    CS_COPY(ev.ccid, in->other);
    ev.at = in->at; /* the request it answers */
    cs_info("call %s: transfer to the consulted leg completed", call->id);
    s_record(self, &ev);
}

static char *s_client_state(const char *cs_id, const char *role, const char *agent)
{
    json_t *j = json_pack("{s:s, s:s}", "cs", cs_id, "role", role);
    if (agent && *agent)
        json_object_set_new(j, "agent", json_string(agent));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    size_t n = sodium_base64_encoded_len(strlen(text), sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(n);
    sodium_bin2base64(b64, n, (const unsigned char *)text, strlen(text),
                      sodium_base64_VARIANT_ORIGINAL);
    free(text);
    return b64;
}

/* Sends one command for an intent and settles it: 0 sent, 1 Telnyx
 * refused it (or the call had ended), -1 no answer (the sweep sends it
 * again). */
static int s_send(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in, const char *path,
                  json_t *body, const char *type)
{
    json_t *data = NULL;
    cs_telnyx_result_t res;
    json_object_set_new(body, "command_id", json_string(in->key));
    int rc = cs_telnyx_post(self->api, path, body, &data, &res);
    json_decref(body);
    cs_histogram_observe(&self->latency, res.seconds);
    const char *new_leg = json_string_value(json_object_get(data, "call_control_id"));
    char outcome[256];
    int settle = 1;
    int ended = rc != 0 && strcmp(res.code, "90018") == 0; /* "call has already ended" */
    if (rc == 0) {
        cs_counter_inc(&self->counters[M_OK]);
        snprintf(outcome, sizeof outcome, "ok");
    } else if (ended) {
        cs_counter_inc(&self->counters[M_ALREADY_ENDED]);
        snprintf(outcome, sizeof outcome, "already ended");
    } else if (res.status >= 400 && res.status < 500) {
        cs_counter_inc(&self->counters[M_REFUSED]);
        snprintf(outcome, sizeof outcome, "refused %ld %s: %s", res.status, res.code, res.detail);
    } else {
        cs_counter_inc(&self->counters[M_UNANSWERED]);
        snprintf(outcome, sizeof outcome, "no answer after %d attempts: %s", res.attempts,
                 res.detail);
        settle = 0; /* the claim expires; the sweep sends it again, same command_id */
    }
    if (rc != 0) {
        int f = res.status >= 400 && res.status < 500 ? F_OTHER_4XX : F_UNAVAILABLE;
        for (int i = 0; f == F_OTHER_4XX && s_codes[i]; i++)
            if (strcmp(res.code, s_codes[i]) == 0)
                f = i;
        cs_counter_inc(&self->failures[f]);
    }
    cs_info("call %s: %s %s -> %s (%.1f ms)", call->id, type, in->ccid[0] ? in->ccid : "-", outcome,
            res.seconds * 1000);
    /* hangup is guaranteed: if no hangup fact arrives in 2 s, the timer
     * service asks Telnyx and reconciles (services/timer). "Already ended"
     * too: Telnyx knows, but its webhook may never have reached us. */
    if ((rc == 0 || ended) && in->kind == CS_INTENT_HANGUP_LEG &&
        cs_timers_add(cs_store_redis(self->store), "hangup_check", call->id, in->ccid,
                      cs_ts_now_ms() + 2000))
        cs_warn("call %s: hangup check for %s not scheduled (Redis)", call->id, in->ccid);
    s_fact(self, call, type, new_leg ? new_leg : in->ccid, outcome);
    /* 90018 on a blind transfer: the customer has gone, and the call with
     * them. On a bridge it may be either side, so it fails the request,
     * said as the colleague's end: had the customer gone, the call has
     * ended anyway. */
    if (rc != 0 && settle && in->kind == CS_INTENT_TRANSFER && !ended)
        s_transfer_failed(self, call, in, outcome);
    if (rc != 0 && settle && in->kind == CS_INTENT_COMPLETE)
        s_transfer_failed(self, call, in, ended ? S_CONSULTED_GONE : outcome);
    if (rc == 0 && in->kind == CS_INTENT_COMPLETE)
        s_transfer_completed(self, call, in);
    /* settled last: a crash before this leaves the claim to expire and the
     * intent to be sent again (same command_id), unless the facts above
     * already answer it (a transfer failed or completed) */
    if (settle)
        s_done(self, in->key);
    json_decref(data);
    return rc == 0 ? 0 : settle ? 1 : -1;
}

/* The call's offer of the agent is over (cs_agent_offer_end). One that
 * was there leaves the agent available with no notice of it (rung out,
 * declined, a transfer refused): the line looks again now rather than at
 * the next sweep. */
static void s_offer_end(cs_orch_t *self, const cs_call_t *call, const char *agent)
{
    int ended = cs_agent_offer_end(cs_store_redis(self->store), agent, call->id);
    if (ended < 0)
        cs_warn("call %s: agent %s's offer not ended (Redis): it lapses by itself", call->id,
                agent);
    self->line_due |= ended == 1;
}

/* The line of inbound calls waiting for an agent (cs:waiting, scored by
 * when each began to wait: proto/README.md). KEYS: cs:waiting, cs:active;
 * ARGV: the call. {how many calls still live began waiting before it (all
 * of them for a call not in the line), 1 if it is in the line}; calls
 * gone meanwhile (abandoned) are dropped from the line on the way. */
static const cs_redis_script_t s_queue_ahead = {
    "queue_ahead",
    "local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "local ids\n"
    "if mine then ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. mine)\n"
    "else ids = redis.call('ZRANGE', KEYS[1], 0, -1) end\n"
    "local ahead = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  if redis.call('SISMEMBER', KEYS[2], id) == 1 then ahead = ahead + 1\n"
    "  else redis.call('ZREM', KEYS[1], id) end\n"
    "end\n"
    "return {ahead, mine and 1 or 0}\n",
};

/* KEYS: cs:waiting; ARGV: the call, now (ms). Joins the line, keeping the
 * place of a call already in it. {1 joined now | 0 was in it, since (ms)} */
static const cs_redis_script_t s_queue_join = {
    "queue_join",
    "local joined = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])\n"
    "return {joined, redis.call('ZSCORE', KEYS[1], ARGV[1])}\n",
};

static void s_leave_line(cs_redis_t *redis, const cs_call_t *call)
{
    freeReplyObject(cs_redis_cmd(redis, "ZREM cs:waiting %s", call->id));
}

/* How a look for an agent went (s_pick_agent). */
typedef struct {
    size_t rung;     /* candidates passed over: another call rings them */
    long long ahead; /* calls waiting longer than this one, still live */
    int in_line;     /* this call is in the line (cs:waiting) */
} s_look_t;

/* The next agent for an inbound call: available, with a SIP user, not yet
 * rung on this call, not rung by another call (cs_agent_offer, which this
 * takes); round robin over the sorted candidates (cs:rr). The line goes
 * first: while as many calls have waited longer as there are agents free,
 * this one leaves the agents to them. Returns the agent (new reference)
 * or NULL when nobody is left for it; *look says how it went. */
static json_t *s_pick_agent(cs_orch_t *self, const cs_call_t *call, s_look_t *look)
{
    char err[256];
    cs_redis_t *redis = cs_store_redis(self->store);
    json_t *all = cs_agent_list(redis, err, sizeof err), *candidates = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(all, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *status = json_string_value(json_object_get(a, "status"));
        if (!id || !status || strcmp(status, "available") != 0 ||
            !json_string_value(json_object_get(a, "sip_user")))
            continue;
        int tried = 0;
        for (int l = 0; l < call->nlegs; l++)
            tried |= strcmp(call->legs[l].agent.v, id) == 0;
        if (!tried)
            json_array_append(candidates, a);
    }
    json_decref(all);
    json_t *pick = NULL;
    size_t n = json_array_size(candidates);
    *look = (s_look_t){0};
    if (n && self->queue_wait_s > 0) {
        const char *argv[] = {"cs:waiting", "cs:active", call->id};
        redisReply *r = cs_redis_eval(redis, &s_queue_ahead, 2, 3, argv, NULL);
        if (s_is_reply(r, REDIS_REPLY_ARRAY) && r->elements == 2) {
            look->ahead = r->element[0]->integer;
            look->in_line = r->element[1]->integer == 1;
        }
        freeReplyObject(r);
        const char **ids = look->ahead > 0 ? calloc(n, sizeof *ids) : NULL;
        for (size_t k = 0; ids && k < n; k++)
            ids[k] = json_string_value(json_object_get(json_array_get(candidates, k), "id"));
        long long free_n = ids ? cs_agent_unoffered(redis, ids, n) : -1;
        if (free_n >= 0 && free_n <= look->ahead)
            n = 0; /* the free agents are theirs */
        free(ids);
    }
    if (n) {
        redisReply *r = cs_redis_cmd(redis, "INCR cs:rr");
        long long turn = s_is_reply(r, REDIS_REPLY_INTEGER) ? r->integer - 1 : 0;
        freeReplyObject(r);
        /* the agent whose turn it is, or the next one no other call rings */
        for (size_t k = 0; k < n && !pick; k++) {
            json_t *next = json_array_get(candidates, ((size_t)turn + k) % n);
            const char *id = json_string_value(json_object_get(next, "id"));
            int offered = cs_agent_offer(redis, id, call->id,
                                         1000LL * (self->ring_timeout_s + S_OFFER_MARGIN_S));
            if (offered < 0)
                cs_warn("call %s: agent %s rung without an offer (Redis): another call may ring "
                        "them too",
                        call->id, id);
            if (offered != 0)
                pick = json_incref(next);
            else
                look->rung++;
        }
    }
    json_decref(candidates);
    if (pick && look->in_line)
        s_leave_line(redis, call);
    return pick;
}

/* No agent for a caller still ringing: they wait in the line (they hear
 * ringing) until an agent is free for them or CALLSYNC_QUEUE_WAIT_S has
 * passed since they began to wait. 1 waits (the route intent is let go, so
 * the next look runs it again: the sweep every 2 s, or an agent.changed),
 * 0 the wait is over or cannot be kept (Redis): turn them away. */
static int s_wait(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in,
                  const s_look_t *look, char *why, size_t size)
{
    cs_redis_t *redis = cs_store_redis(self->store);
    char now[24];
    int64_t at = cs_ts_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)at);
    const char *argv[] = {"cs:waiting", call->id, now};
    redisReply *r = cs_redis_eval(redis, &s_queue_join, 1, 3, argv, NULL);
    if (!s_is_reply(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        cs_warn("call %s: cannot join the line (Redis): turned away", call->id);
        return 0;
    }
    int joined = r->element[0]->integer == 1;
    long long since = strtoll(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    if (at - since >= 1000LL * self->queue_wait_s) {
        s_leave_line(redis, call);
        snprintf(why + strlen(why), size - strlen(why), " (waited %lld s)",
                 (long long)((at - since) / 1000));
        return 0;
    }
    if (joined) {
        char what[200];
        snprintf(what, sizeof what, "waiting for an agent (%s)",
                 look->ahead > 0 ? "behind callers waiting longer" : why);
        cs_info("call %s: %s", call->id, what);
        s_fact(self, call, "command.route", in->ccid, what);
        cs_counter_inc(&self->routes[R_QUEUED]);
    }
    s_unclaim(self, in->key);
    return 1;
}

static void s_route(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in)
{
    const cs_leg_t *customer = cs_call_leg(call, in->ccid);
    char esc[CS_CCID_LEN * 3 + 1], path[CS_CCID_LEN * 3 + 64];
    cs_telnyx_escape(in->ccid, esc, sizeof esc);
    s_look_t look;
    json_t *agent = s_pick_agent(self, call, &look);
    if (!agent) {
        char why[160] = "no agent available";
        if (look.rung)
            snprintf(why, sizeof why,
                     "no agent available: every available agent (%zu) is being rung by another "
                     "call",
                     look.rung);
        int answered = customer && customer->answered.at;
        /* a caller who hears ringing can wait; one already talking (a
         * transfer that failed) is not left in silence */
        if (!answered && self->queue_wait_s > 0 && s_wait(self, call, in, &look, why, sizeof why))
            return;
        /* nobody to take it: the caller hears busy, and the record says why */
        cs_counter_inc(&self->routes[look.rung ? R_ALL_RINGING : R_NOBODY]);
        cs_info("call %s: %s", call->id, why);
        s_fact(self, call, "command.route", in->ccid, why);
        snprintf(path, sizeof path, "/calls/%s/actions/%s", esc, answered ? "hangup" : "reject");
        json_t *body = answered ? json_object() : json_pack("{s:s}", "cause", "USER_BUSY");
        s_send(self, call, in, path, body, answered ? "command.hangup" : "command.reject");
        return;
    }
    cs_counter_inc(&self->routes[R_RUNG]);
    const char *id = json_string_value(json_object_get(agent, "id"));
    char to[160];
    snprintf(to, sizeof to, "sip:%s@sip.telnyx.com",
             json_string_value(json_object_get(agent, "sip_user")));
    char *cs = s_client_state(call->id, "agent", id);
    snprintf(path, sizeof path, "/calls/%s/actions/transfer", esc);
    json_t *body = json_pack("{s:s, s:s, s:i}", "to", to, "target_leg_client_state", cs,
                             "timeout_secs", self->ring_timeout_s);
    free(cs);
    cs_info("call %s: ringing agent %s", call->id, id);
    /* refused, the agent will not ring: free them for the next call now */
    if (s_send(self, call, in, path, body, "command.transfer") == 1)
        s_offer_end(self, call, id);
    json_decref(agent);
}

/* Where a transfer target is dialled: "+E.164" as is, an agent id at its
 * SIP URI. Returns -1 (and records why) for an agent without a SIP user. */
static int s_target(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in, const char *type,
                    char *to, size_t size)
{
    if (in->target[0] == '+') {
        cs_copy(to, size, in->target);
        return 0;
    }
    int missing = 0;
    char err[256];
    json_t *agent =
        cs_agent_get(cs_store_redis(self->store), in->target, &missing, err, sizeof err);
    const char *sip = json_string_value(json_object_get(agent, "sip_user"));
    if (sip)
        snprintf(to, size, "sip:%s@sip.telnyx.com", sip);
    json_decref(agent);
    if (sip)
        return 0;
    cs_warn("call %s: %s to agent %s, who has no SIP user", call->id, type, in->target);
    s_done(self, in->key);
    s_fact(self, call, type, in->ccid, "refused: no such agent");
    if (in->kind == CS_INTENT_TRANSFER)
        s_transfer_failed(self, call, in, "refused: no such agent");
    return -1;
}

/* A blind transfer (the customer's leg) or a consult (the agent's consult
 * leg): the leg goes to the target, whose leg says its role. */
static void s_transfer_to_target(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in)
{
    int consult = in->kind == CS_INTENT_CONSULT;
    const char *type = consult ? "command.consult" : "command.transfer";
    char to[160], esc[CS_CCID_LEN * 3 + 1], path[CS_CCID_LEN * 3 + 64];
    if (s_target(self, call, in, type, to, sizeof to))
        return;
    cs_telnyx_escape(in->ccid, esc, sizeof esc);
    snprintf(path, sizeof path, "/calls/%s/actions/transfer", esc);
    char *cs = s_client_state(call->id, consult ? "consulted" : "transfer",
                              in->target[0] == '+' ? NULL : in->target);
    json_t *body = json_pack("{s:s, s:s, s:i}", "to", to, "target_leg_client_state", cs,
                             "timeout_secs", self->ring_timeout_s);
    free(cs);
    cs_info("call %s: %s to %s", call->id, consult ? "consult" : "blind transfer", in->target);
    s_send(self, call, in, path, body, type);
}

static void s_run(cs_orch_t *self, const cs_call_t *call, const cs_intent_t *in)
{
    int claim = s_claim(self, in->key);
    if (claim <= 0)
        return;
    char path[CS_CCID_LEN * 3 + 64];
    switch (in->kind) {
    case CS_INTENT_DIAL_AGENT: {
        int missing = 0;
        char err[256];
        json_t *agent =
            cs_agent_get(cs_store_redis(self->store), call->agent_id.v, &missing, err, sizeof err);
        const char *sip = json_string_value(json_object_get(agent, "sip_user"));
        if (!sip) {
            cs_warn("call %s: agent %s has no SIP user; not dialled", call->id, call->agent_id.v);
            s_done(self, in->key);
            s_fact(self, call, "command.dial_agent", "", "refused: no such agent");
            json_decref(agent);
            return;
        }
        char to[160];
        snprintf(to, sizeof to, "sip:%s@sip.telnyx.com", sip);
        char *cs = s_client_state(call->id, "agent", call->agent_id.v);
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "connection_id", self->connection_id, "to", to,
                      "from", self->caller_id, "client_state", cs, "timeout_secs", 30);
        free(cs);
        json_decref(agent);
        s_send(self, call, in, "/calls", body, "command.dial_agent");
        break;
    }
    case CS_INTENT_DIAL_CUSTOMER: {
        char *cs = s_client_state(call->id, "customer", NULL);
        json_t *body =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i}", "connection_id", self->connection_id,
                      "to", call->to.v, "from", self->caller_id, "client_state", cs, "link_to",
                      in->ccid, "bridge_on_answer", 1, "timeout_secs", 30);
        free(cs);
        s_send(self, call, in, "/calls", body, "command.dial_customer");
        break;
    }
    case CS_INTENT_TRANSFER_CUSTOMER: {
        char esc[CS_CCID_LEN * 3 + 1];
        cs_telnyx_escape(in->ccid, esc, sizeof esc);
        snprintf(path, sizeof path, "/calls/%s/actions/transfer", esc);
        char *cs = s_client_state(call->id, "customer", NULL);
        json_t *body = json_pack("{s:s, s:s, s:s, s:i}", "to", call->to.v, "from", self->caller_id,
                                 "target_leg_client_state", cs, "timeout_secs", 30);
        free(cs);
        s_send(self, call, in, path, body, "command.transfer");
        break;
    }
    case CS_INTENT_ROUTE:
        s_route(self, call, in);
        break;
    case CS_INTENT_TRANSFER:
    case CS_INTENT_CONSULT:
        s_transfer_to_target(self, call, in);
        break;
    case CS_INTENT_COMPLETE: { /* the customer to the leg the warm request names */
        const cs_leg_t *leaving = cs_call_leg(call, in->other);
        if (!leaving)
            break;
        const cs_leg_t *to = cs_call_leg(call, leaving->xfer_to.v);
        if (!to || to->ended.at) {
            /* the colleague hung up first: no bridge to ask for */
            s_done(self, in->key);
            s_transfer_failed(self, call, in, S_CONSULTED_GONE);
            break;
        }
        char esc[CS_CCID_LEN * 3 + 1];
        cs_telnyx_escape(in->ccid, esc, sizeof esc);
        snprintf(path, sizeof path, "/calls/%s/actions/bridge", esc);
        s_send(self, call, in, path, json_pack("{s:s}", "call_control_id", leaving->xfer_to.v),
               "command.bridge");
        break;
    }
    case CS_INTENT_LEG_COMMAND: /* sent by cs_orch_leg_command, never by the rules */
        break;
    case CS_INTENT_HANGUP_LEG: {
        char esc[CS_CCID_LEN * 3 + 1];
        cs_telnyx_escape(in->ccid, esc, sizeof esc);
        snprintf(path, sizeof path, "/calls/%s/actions/hangup", esc);
        s_send(self, call, in, path, json_object(), "command.hangup");
        break;
    }
    }
}

/* Guard timers, run by callsync-timer (services/timer/reconcile.h): a call
 * that never gets past dialing or ringing (a softphone that never placed
 * it, a leg nobody reports on) ends after CALLSYNC_STUCK_S from its start;
 * an answered one after CALLSYNC_MAX_CALL_S of talk. Each due time is a
 * fixed point of the record, so adding it on every wake is idempotent. */
static void s_guards(cs_orch_t *self, const cs_call_t *call)
{
    cs_state_t state = cs_call_state(call);
    int64_t start = call->created.at, answered = cs_call_answered_at(call);
    for (int i = 0; !start && i < call->nlegs; i++)
        start = call->legs[i].initiated.at;
    if (state == CS_STATE_ENDED || !start)
        return;
    cs_redis_t *redis = cs_store_redis(self->store);
    const char *kind = NULL;
    int64_t due = 0;
    if (state == CS_STATE_DIALING || state == CS_STATE_RINGING) {
        kind = "stuck_check";
        due = start + 1000LL * self->stuck_s;
    } else if (answered) { /* the talk time, as the record counts it */
        kind = "max_duration";
        due = answered + 1000LL * self->max_call_s;
    }
    if (kind && cs_timers_add(redis, kind, call->id, "-", due))
        cs_warn("call %s: %s not scheduled (Redis)", call->id, kind);
    /* The liveness check: the next point of a fixed grid from the call's
     * start, so every wake names the same due time until it has passed. */
    int64_t period = 1000LL * self->alive_check_s, now = cs_ts_now_ms();
    if (period > 0 && call->nlegs > 0 &&
        cs_timers_add(redis, "alive_check", call->id, "-",
                      start + ((now - start) / period + 1) * period))
        cs_warn("call %s: alive_check not scheduled (Redis)", call->id);
}

/* One agent's presence from one call (see orchestrate.h): busy while its
 * part of the call talks, wrap-up once its part is over (the call ended,
 * or every leg of its ended: it transferred the call on). The creator's
 * agent owns the legs that name no agent (the SDK's own leg). */
static void s_agent_presence(cs_orch_t *self, const cs_call_t *call, const char *agent)
{
    cs_redis_t *redis = cs_store_redis(self->store);
    cs_state_t state = cs_call_state(call);
    int mine = 0, live = 0, talking = 0;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        int own = cs_call_leg_is_agents(call, l, agent);
        mine += own;
        live |= own && !l->ended.at;
        talking |= own && !l->ended.at && (l->answered.at || l->bridged.at);
    }
    int current = strcmp(cs_call_agent(call), agent) == 0;
    int busy = current ? state == CS_STATE_ACTIVE || state == CS_STATE_HELD : talking;
    /* The call's offer of the agent (cs_agent_offer) ends with each step
     * below (cs_agent_follow_call), so it costs no round trip of its own:
     * busy (answered), the call over, or every leg of theirs ended while
     * another agent has it. A routed leg not seen yet is not theirs yet,
     * and one that rings takes no step: the offer stands. */
    if (busy && state != CS_STATE_ENDED) {
        static const char *const idle[] = {"available", "wrap_up", NULL};
        if (cs_agent_follow_call(redis, agent, call->id, call->version, idle, "busy")) {
            cs_info("agent %s busy (call %s)", agent, call->id);
            cs_agent_announce(self->notices, agent);
        }
        return;
    }
    if (state != CS_STATE_ENDED && !(mine && !live && !current)) {
        /* their legs ended (declined, rung out) while the call is still
         * theirs: no step to take, but the offer is over */
        if (mine && !live)
            s_offer_end(self, call, agent);
        return;
    }
    /* No claim: the step itself moves the agent out of busy once,
     * whichever instance takes it first, and only on the call that made
     * them busy (cs_agent_follow_call). So a call transferred back to the
     * agent gives a second wrap-up, and a call that rang them while they
     * talk on another cannot free them. Without a wrap-up the agent is
     * free at once: available, or offline when their softphone went away
     * during the call. */
    static const char *const on_call[] = {"busy", NULL};
    const char *to = cs_agent_follow_call(redis, agent, call->id, call->version, on_call,
                                          self->wrapup_s ? "wrap_up" : "free");
    if (!to)
        return;
    cs_info("agent %s %s after call %s", agent, self->wrapup_s ? "in wrap-up" : to, call->id);
    cs_agent_announce(self->notices, agent);
    if (self->wrapup_s && cs_timers_add(redis, "wrapup_end", call->id, agent,
                                        cs_ts_now_ms() + 1000LL * self->wrapup_s))
        cs_warn("agent %s: wrap-up end not scheduled (Redis)", agent);
}

static void s_presence(cs_orch_t *self, const cs_call_t *call)
{
    const char *agents[CS_MAX_LEGS + 2];
    int n = cs_call_agents(call, agents, CS_MAX_LEGS + 2);
    for (int i = 0; i < n; i++)
        s_agent_presence(self, call, agents[i]);
}

void cs_orch_call(cs_orch_t *self, const cs_call_t *call)
{
    cs_intent_t in[CS_MAX_LEGS + 1];
    int n = cs_flows_next(call, in, CS_MAX_LEGS + 1);
    for (int i = 0; i < n; i++)
        s_run(self, call, &in[i]);
    s_presence(self, call);
    s_guards(self, call);
}

void cs_orch_wake(cs_orch_t *self, const char *cs_id)
{
    static cs_call_t call;
    char err[256];
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) == 0)
        cs_orch_call(self, &call);
    else
        cs_warn("call %s: cannot read it: %s", cs_id, err[0] ? err : "no such call");
}

void cs_orch_hangup(cs_orch_t *self, const char *cs_id, const char *ccid)
{
    static cs_call_t call;
    char err[256] = "";
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) != 0) {
        cs_warn("hangup %s: cannot read the call: %s", cs_id, err[0] ? err : "no such call");
        return;
    }
    for (int i = 0; i < call.nlegs; i++) {
        if (call.legs[i].ended.at || (ccid && strcmp(call.legs[i].ccid, ccid) != 0))
            continue;
        cs_intent_t in = {.kind = CS_INTENT_HANGUP_LEG};
        snprintf(in.key, sizeof in.key, "%s:hangup:%s", call.id, call.legs[i].ccid);
        CS_COPY(in.ccid, call.legs[i].ccid);
        s_run(self, &call, &in);
    }
}

void cs_orch_leg_command(cs_orch_t *self, const char *cs_id, const char *action, const char *digits,
                         const char *command_id)
{
    static cs_call_t call;
    char err[256] = "";
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) != 0) {
        cs_warn("%s %s: cannot read the call: %s", action, cs_id, err[0] ? err : "no such call");
        return;
    }
    const cs_leg_t *leg = NULL;
    for (int i = 0; i < call.nlegs && !leg; i++)
        if (!call.legs[i].ended.at && strcmp(call.legs[i].role.v, "customer") == 0)
            leg = &call.legs[i];
    for (int i = 0; i < call.nlegs && !leg; i++)
        if (!call.legs[i].ended.at)
            leg = &call.legs[i];
    char type[48];
    snprintf(type, sizeof type, "command.%s", action);
    if (!leg) {
        s_fact(self, &call, type, "", "refused: no live leg");
        return;
    }
    cs_intent_t in = {.kind = CS_INTENT_LEG_COMMAND};
    snprintf(in.key, sizeof in.key, "%s:cmd:%s", call.id, command_id);
    CS_COPY(in.ccid, leg->ccid);
    if (s_claim(self, in.key) != 1)
        return;
    json_t *body = strcmp(action, "send_dtmf") == 0 ? json_pack("{s:s}", "digits", digits)
                   : strcmp(action, "record_start") == 0
                       ? json_pack("{s:s, s:s}", "format", "mp3", "channels", "single")
                       : json_object();
    char esc[CS_CCID_LEN * 3 + 1], path[CS_CCID_LEN * 3 + 64];
    cs_telnyx_escape(leg->ccid, esc, sizeof esc);
    snprintf(path, sizeof path, "/calls/%s/actions/%s", esc, action);
    s_send(self, &call, &in, path, body, type);
}

void cs_orch_sweep(cs_orch_t *self)
{
    char err[256];
    json_t *ids = cs_store_active(self->store, err, sizeof err);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) cs_orch_wake(self, json_string_value(id));
    json_decref(ids);
}

int cs_orch_line_due(cs_orch_t *self)
{
    int due = self->line_due;
    self->line_due = 0;
    return due;
}

void cs_orch_queue_wake(cs_orch_t *self)
{
    cs_redis_t *redis = cs_store_redis(self->store);
    /* counting ahead of no call walks the whole line: it drops the gone */
    const char *argv[] = {"cs:waiting", "cs:active", "-"};
    freeReplyObject(cs_redis_eval(redis, &s_queue_ahead, 2, 3, argv, NULL));
    redisReply *r = cs_redis_cmd(redis, "ZRANGE cs:waiting 0 -1");
    for (size_t i = 0; s_is_reply(r, REDIS_REPLY_ARRAY) && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            cs_orch_wake(self, r->element[i]->str);
    freeReplyObject(r);
}

char *cs_orch_metrics(cs_orch_t *self)
{
    cs_counter_t *cs[M_COUNT + 1 + F_COUNT + R_COUNT];
    size_t n = 0;
    for (int i = 0; i < M_COUNT; i++)
        cs[n++] = &self->counters[i];
    for (int i = 0; i < R_COUNT; i++)
        cs[n++] = &self->routes[i];
    for (int i = 0; i < F_COUNT; i++)
        cs[n++] = &self->failures[i];
    cs[n++] = &self->claims_lost;
    cs_histogram_t *hs[] = {&self->latency};
    return cs_metrics_render(cs, n, hs, 1);
}
