/* reconcile - see reconcile.h. */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "log.h"
#include "metrics.h"
#include "text.h"
#include "timers.h"
#include "timestamp.h"

enum { R_SETTLED, R_RECONCILED, R_ALIVE, R_ERROR, R_COUNT };

struct cs_reconcile {
    cs_store_t *store;
    cs_telnyx_t *api;
    cs_bus_t *bus;
    cs_counter_t fired, outcomes[R_COUNT], guards[2];
    cs_histogram_t late;
};

cs_reconcile_t *cs_reconcile_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *bus)
{
    cs_reconcile_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->api = api;
    self->bus = bus;
    self->fired = (cs_counter_t){.name = "callsync_timers_fired_total",
                                 .help = "Timers taken and run, of every kind"};
    static const char *labels[R_COUNT] = {"outcome=\"settled\"", "outcome=\"reconciled\"",
                                          "outcome=\"still_alive\"", "outcome=\"error\""};
    for (int i = 0; i < R_COUNT; i++) {
        self->outcomes[i].name = "callsync_hangup_checks_total";
        self->outcomes[i].help = "Hangup checks by outcome";
        self->outcomes[i].labels = labels[i];
    }
    static const char *guard_labels[2] = {"reason=\"stuck\"", "reason=\"max_duration\""};
    for (int i = 0; i < 2; i++) {
        self->guards[i].name = "callsync_calls_ended_by_guard_total";
        self->guards[i].help = "Calls callsync ended itself: stuck before the answer, or too long";
        self->guards[i].labels = guard_labels[i];
    }
    self->late = (cs_histogram_t){
        .name = "callsync_timer_late_seconds",
        .help = "How late timers ran after their due time",
        .nbuckets = 6,
        .bounds = {0.01, 0.05, 0.1, 0.25, 1, 5},
    };
    return self;
}

void cs_reconcile_destroy(cs_reconcile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* A leg that Telnyx says is over (or no longer knows) gets its hangup
 * fact. After a hangup command (retry: a leg still alive is checked again
 * in 5 s) or on the periodic liveness check of an active call (no retry:
 * the next period looks again). */
static void s_leg_check(cs_reconcile_t *self, const char *cs_id, const char *ccid, int retry)
{
    static cs_call_t call;
    char err[256];
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) != 0) {
        cs_counter_inc(&self->outcomes[R_ERROR]);
        return;
    }
    const cs_leg_t *leg = cs_call_leg(&call, ccid);
    if (leg && leg->ended.at) {
        cs_counter_inc(&self->outcomes[R_SETTLED]); /* its webhook came */
        return;
    }
    char esc[CS_CCID_LEN * 3 + 1], path[CS_CCID_LEN * 3 + 16];
    cs_telnyx_escape(ccid, esc, sizeof esc);
    snprintf(path, sizeof path, "/calls/%s", esc);
    json_t *data = NULL;
    cs_telnyx_result_t res;
    int rc = cs_telnyx_get(self->api, path, &data, &res);
    int gone = (rc == 0 && json_is_false(json_object_get(data, "is_alive"))) ||
               strcmp(res.code, "90015") == 0; /* Telnyx forgot it: long over */
    if (!gone) {
        if (rc == 0 && !retry) {
            json_decref(data);
            return; /* a live call, as it should be */
        }
        if (rc == 0) {
            cs_counter_inc(&self->outcomes[R_ALIVE]);
            cs_warn("call %s: leg %s still alive after its hangup; checking again", cs_id, ccid);
        } else {
            cs_counter_inc(&self->outcomes[R_ERROR]);
            cs_warn("call %s: status of %s unknown (%ld %s); checking again", cs_id, ccid,
                    res.status, res.detail);
        }
        if (retry)
            cs_timers_add(cs_store_redis(self->store), "hangup_check", cs_id, ccid,
                          cs_ts_now_ms() + 5000);
        json_decref(data);
        return;
    }
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CS_EV_HANGUP;
    ev.source = CS_SRC_COMMAND;
    const char *end = json_string_value(json_object_get(data, "end_time"));
    ev.clock = end && cs_ts_parse(end, &ev.at) == 0 ? CS_CLOCK_PROVIDER : CS_CLOCK_LOCAL;
    if (ev.clock == CS_CLOCK_LOCAL)
        ev.at = cs_ts_now_ms();
    CS_COPY(ev.type, "callsync.hangup_reconciled");
    snprintf(ev.id, sizeof ev.id, "reconcile-%.48s",
             ccid + (strlen(ccid) > 48 ? strlen(ccid) - 48 : 0));
    CS_COPY(ev.ccid, ccid);
    CS_COPY(ev.cs_hint, cs_id);
    CS_COPY(ev.hangup_cause, "unspecified");
    CS_COPY(ev.hangup_source, "unknown");
    json_decref(data);
    cs_apply_t outcome;
    bool changed;
    if (cs_store_apply(self->store, &ev, NULL, 0, &outcome, &call, &changed, err, sizeof err)) {
        cs_counter_inc(&self->outcomes[R_ERROR]);
        cs_warn("call %s: reconciled hangup of %s not stored: %s", cs_id, ccid, err);
        cs_timers_add(cs_store_redis(self->store), "hangup_check", cs_id, ccid,
                      cs_ts_now_ms() + 2000);
        return;
    }
    cs_counter_inc(&self->outcomes[R_RECONCILED]);
    cs_info("call %s: leg %s had ended without a webhook; hangup reconciled", cs_id, ccid);
    if (changed)
        cs_store_announce(self->store, self->bus);
}

/* An agent's wrap-up is over: available again (offline when their
 * softphone went away meanwhile), unless they moved on (offline, or busy
 * on a new call). */
static void s_wrapup_end(cs_reconcile_t *self, const char *cs_id, const char *agent)
{
    const char *to = cs_agent_free(cs_store_redis(self->store), agent, "wrap_up");
    if (to) {
        cs_info("agent %s %s (wrap-up after call %s over)", agent, to, cs_id);
        cs_agent_announce(self->bus, agent);
    }
}

/* The leases on an agent's softphone presence ran out (agents.h): every
 * softphone of theirs has been gone for the grace, or its relay stopped
 * renewing. */
static void s_presence_check(cs_reconcile_t *self, const char *agent)
{
    if (cs_agent_softphone_check(cs_store_redis(self->store), agent, cs_ts_now_ms()) == 1) {
        cs_info("agent %s offline: no softphone connected", agent);
        cs_agent_announce(self->bus, agent);
    }
}

/* Every live leg of an active call, asked about (a hangup webhook lost
 * without any command of ours to notice it would leave the call and its
 * agent busy for ever). */
static void s_alive_check(cs_reconcile_t *self, const char *cs_id)
{
    static cs_call_t call;
    char err[256];
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) != 0 ||
        cs_call_state(&call) == CS_STATE_ENDED)
        return;
    char legs[CS_MAX_LEGS][CS_CCID_LEN];
    int n = 0;
    for (int i = 0; i < call.nlegs; i++)
        if (!call.legs[i].ended.at)
            CS_COPY(legs[n++], call.legs[i].ccid);
    for (int i = 0; i < n; i++)
        s_leg_check(self, cs_id, legs[i], 0);
}

/* A guard timer (scheduled by the orchestrator): the call is ended if it
 * is still in the state the guard is for. */
static void s_guard(cs_reconcile_t *self, const char *cs_id, const char *kind)
{
    static cs_call_t call;
    char err[256];
    if (cs_store_get(self->store, cs_id, &call, err, sizeof err) != 0)
        return;
    cs_state_t state = cs_call_state(&call);
    int stuck = strcmp(kind, "stuck_check") == 0;
    if (stuck ? state != CS_STATE_DIALING && state != CS_STATE_RINGING
              : state != CS_STATE_ACTIVE && state != CS_STATE_HELD)
        return;
    const char *by = stuck ? "stuck: never answered" : "max duration";
    cs_warn("call %s: %s; ending it", cs_id, by);
    if (cs_store_request_hangup(self->store, cs_id, by, &call, err, sizeof err)) {
        cs_warn("call %s: hangup request not stored: %s", cs_id, err);
        return;
    }
    cs_counter_inc(&self->guards[stuck ? 0 : 1]);
    cs_store_announce(self->store, self->bus);
}

int cs_reconcile_run(cs_reconcile_t *self)
{
    int64_t now = cs_ts_now_ms();
    json_t *due = cs_timers_take(cs_store_redis(self->store), now, 100);
    if (!due)
        return -1;
    size_t i;
    json_t *t;
    json_array_foreach(due, i, t)
    {
        cs_counter_inc(&self->fired);
        cs_histogram_observe(&self->late,
                             (double)json_integer_value(json_object_get(t, "late_ms")) / 1000.0);
        const char *kind = json_string_value(json_object_get(t, "kind"));
        const char *call = json_string_value(json_object_get(t, "call"));
        const char *subject = json_string_value(json_object_get(t, "call_control_id"));
        if (strcmp(kind, "hangup_check") == 0)
            s_leg_check(self, call, subject, 1);
        else if (strcmp(kind, "alive_check") == 0)
            s_alive_check(self, call);
        else if (strcmp(kind, "wrapup_end") == 0) /* subject: the agent */
            s_wrapup_end(self, call, subject);
        else if (strcmp(kind, "presence_check") == 0) /* subject: the agent */
            s_presence_check(self, subject);
        else if (strcmp(kind, "stuck_check") == 0 || strcmp(kind, "max_duration") == 0)
            s_guard(self, call, kind);
        else
            cs_warn("timer of unknown kind %s dropped", kind);
    }
    int n = (int)json_array_size(due);
    json_decref(due);
    return n;
}

char *cs_reconcile_metrics(cs_reconcile_t *self)
{
    cs_counter_t *cs[R_COUNT + 3] = {&self->fired};
    for (int i = 0; i < R_COUNT; i++)
        cs[i + 1] = &self->outcomes[i];
    cs[R_COUNT + 1] = &self->guards[0];
    cs[R_COUNT + 2] = &self->guards[1];
    cs_histogram_t *hs[] = {&self->late};
    return cs_metrics_render(cs, R_COUNT + 3, hs, 1);
}
