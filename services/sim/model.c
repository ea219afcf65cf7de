/* model - see model.h. */
#include "model.h"

#include <ctype.h>
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "text.h"
#include "timestamp.h"

#define S_MAX_COMMANDS 32
#define S_MAX_TRANSFERS 8
#define S_KEEP_ENDED_MS (10 * 60 * 1000) /* GET /calls/{id} works this long after the end */

typedef enum {
    T_ANSWER,
    T_FAIL,
    T_TIMEOUT,
    T_CALLEE_HANGUP,
    T_TIME_LIMIT,
    T_SPEAK_END,
    T_PLAYBACK_END
} s_tkind_t;

typedef struct {
    char command_id[80];
    json_t *response; /* the data first answered */
} s_command_t;

typedef struct {
    char ccid[96], leg_id[40], session_id[40], connection_id[32];
    char from[64], to[128], direction[12], state[12];
    char client_state[700];
    char webhook_url[512];
    json_t *custom_headers;
    int64_t start, answered, ended;
    char peer[96];          /* bridged with */
    char transfer_from[96]; /* the leg this one was transferred from: bridge on answer */
    char transfers[S_MAX_TRANSFERS][96]; /* legs this one was transferred to */
    int ntransfers;
    char link_to[96];
    int bridge_on_answer;
    int time_limit_secs; /* from the answer on; default 14400 */
    sim_number_t script;
    int gen; /* bumps when the leg ends: its pending timers are void */
    int recording, speaking, playing;
    int64_t rec_start;
    /* The other end is a browser on the telnyx_rtc socket (rtc.c): an SDK's
     * own call, or a call ringing an SDK user. */
    int rtc;
    char rtc_user[64];
    char failed_cause[32], failed_sip[8]; /* of its last transfer that failed */
    s_command_t commands[S_MAX_COMMANDS];
    int ncommands;
} s_leg_t;

typedef struct {
    int64_t due;
    char ccid[96];
    int gen;
    s_tkind_t kind;
} s_timer_t;

struct sim_model {
    char connection_id[32];
    char webhook_url[512], failover_url[512];
    zhashx_t *legs;    /* ccid -> s_leg_t (owned) */
    zhashx_t *dials;   /* dial command_id -> json response (owned) */
    zhashx_t *numbers; /* number -> sim_number_t (owned) */
    s_timer_t *timers;
    size_t ntimers, cap;
    json_t *outbox;
    json_t *rtc_out; /* events for the telnyx_rtc side (sim_model_rtc_outbox) */
    int (*is_sdk)(void *arg, const char *user);
    int (*is_phone)(void *arg, const char *number);
    void *is_sdk_arg;
    long webhooks;
    int64_t last_prune;
    unsigned refused; /* bit i: s_actions[i] is refused (sim_model_refuse) */
};

/* ---- small helpers ---- */

int sim_error(sim_error_t *err, int status, const char *code, const char *title, const char *detail,
              const char *pointer)
{
    err->status = status;
    CS_COPY(err->code, code);
    CS_COPY(err->title, title);
    CS_COPY(err->detail, detail);
    CS_COPY(err->pointer, pointer ? pointer : "");
    return -1;
}

static int s_ended_error(sim_error_t *err)
{
    return sim_error(err, 422, "90018", "Call has already ended",
                     "This call is no longer active and can't receive commands.", NULL);
}

static void s_leg_free(void **item)
{
    s_leg_t *leg = *item;
    if (!leg)
        return;
    json_decref(leg->custom_headers);
    for (int i = 0; i < leg->ncommands; i++)
        json_decref(leg->commands[i].response);
    free(leg);
    *item = NULL;
}

static void s_json_free(void **item)
{
    json_decref(*item);
    *item = NULL;
}

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_number(sim_model_t *self, const char *n, int ring, int early, int answer,
                     int hangup_after, const char *cause, const char *sip)
{
    sim_number_t *s = calloc(1, sizeof *s);
    CS_COPY(s->number, n);
    s->ring_ms = ring;
    s->early_media = early;
    s->answer = answer;
    s->hangup_after_ms = hangup_after;
    CS_COPY(s->hangup_cause, cause);
    CS_COPY(s->sip_code, sip);
    zhashx_update(self->numbers, s->number, s);
}

sim_model_t *sim_model_new(const char *connection_id, const char *webhook_url,
                           const char *failover_url)
{
    sim_model_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    CS_COPY(self->connection_id, connection_id);
    CS_COPY(self->webhook_url, webhook_url);
    CS_COPY(self->failover_url, failover_url ? failover_url : "");
    self->legs = zhashx_new();
    self->dials = zhashx_new();
    self->numbers = zhashx_new();
    zhashx_set_destructor(self->legs, s_leg_free);
    zhashx_set_destructor(self->dials, s_json_free);
    zhashx_set_destructor(self->numbers, s_free);
    self->outbox = json_array();
    self->rtc_out = json_array();
    /* The scripted numbers of ARCHITECTURE §5. */
    s_number(self, "+15550100001", 1000, 1, 1, 0, "normal_clearing", "200");
    s_number(self, "+15550100002", 300, 0, 0, 0, "user_busy", "486");
    s_number(self, "+15550100003", -1, 1, 0, 0, "timeout", "487");
    s_number(self, "+15550100004", 1000, 1, 1, 3000, "normal_clearing", "200");
    s_number(self, "+15550100005", 500, 0, 0, 0, "call_rejected", "603");
    s_number(self, "+15550100006", 1000, 0, 1, 0, "normal_clearing", "200");
    return self;
}

void sim_model_destroy(sim_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_model_t *self = *self_p;
    zhashx_destroy(&self->legs);
    zhashx_destroy(&self->dials);
    zhashx_destroy(&self->numbers);
    free(self->timers);
    json_decref(self->outbox);
    json_decref(self->rtc_out);
    free(self);
    *self_p = NULL;
}

/* Numbers nobody scripted ring 2 s and answer: a person picking up. */
static sim_number_t s_script(sim_model_t *self, const char *to)
{
    sim_number_t *s = zhashx_lookup(self->numbers, to);
    if (s)
        return *s;
    sim_number_t d = {.ring_ms = 2000, .early_media = 1, .answer = 1};
    CS_COPY(d.number, to);
    CS_COPY(d.hangup_cause, "normal_clearing");
    CS_COPY(d.sip_code, "200");
    return d;
}

/* ---- timers: a binary min-heap on due time ---- */

static void s_timer_add(sim_model_t *self, const s_leg_t *leg, s_tkind_t kind, int64_t due)
{
    if (self->ntimers == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        s_timer_t *t = realloc(self->timers, cap * sizeof *t);
        if (!t)
            return;
        self->timers = t;
        self->cap = cap;
    }
    size_t i = self->ntimers++;
    s_timer_t add = {.due = due, .gen = leg->gen, .kind = kind};
    CS_COPY(add.ccid, leg->ccid);
    while (i > 0 && self->timers[(i - 1) / 2].due > due) {
        self->timers[i] = self->timers[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->timers[i] = add;
}

static s_timer_t s_timer_pop(sim_model_t *self)
{
    s_timer_t top = self->timers[0];
    s_timer_t last = self->timers[--self->ntimers];
    size_t i = 0, n = self->ntimers;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && self->timers[c + 1].due < self->timers[c].due)
            c++;
        if (self->timers[c].due >= last.due)
            break;
        self->timers[i] = self->timers[c];
        i = c;
    }
    if (n)
        self->timers[i] = last;
    return top;
}

/* ---- webhooks ---- */

static json_t *s_ts(int64_t ms)
{
    char buf[CS_TS_LEN];
    cs_ts_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *s_payload(const s_leg_t *leg)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "call_control_id", leg->ccid,
                     "call_leg_id", leg->leg_id, "call_session_id", leg->session_id, "client_state",
                     leg->client_state[0] ? json_string(leg->client_state) : json_null(),
                     "connection_id", leg->connection_id, "from", leg->from, "to", leg->to);
}

/* Queues one webhook; `payload` is stolen. Every event gets its own id. */
static void s_emit(sim_model_t *self, const s_leg_t *leg, const char *type, int64_t now,
                   json_t *payload)
{
    char id[CS_UUID_STR_LEN];
    cs_ids_uuid(id);
    json_t *event = json_pack("{s:s, s:s, s:o, s:s, s:o}", "event_type", type, "id", id,
                              "occurred_at", s_ts(now), "record_type", "event", "payload", payload);
    json_array_append_new(self->outbox,
                          json_pack("{s:s, s:s, s:o}", "url",
                                    leg->webhook_url[0] ? leg->webhook_url : self->webhook_url,
                                    "failover", self->failover_url, "event", event));
    self->webhooks++;
}

static void s_emit_simple(sim_model_t *self, const s_leg_t *leg, const char *type, int64_t now)
{
    s_emit(self, leg, type, now, s_payload(leg));
}

static void s_emit_initiated(sim_model_t *self, const s_leg_t *leg, int64_t now)
{
    json_t *p = s_payload(leg);
    json_object_set_new(p, "direction", json_string(leg->direction));
    json_object_set_new(p, "state", json_string(leg->state));
    json_object_set_new(p, "start_time", s_ts(leg->start));
    json_object_set_new(p, "caller_id_name", json_string(leg->from));
    json_object_set_new(
        p, "calling_party_type",
        json_string(leg->rtc || strncmp(leg->from, "sip:", 4) == 0 ? "sip" : "pstn"));
    json_object_set_new(p, "custom_headers",
                        leg->custom_headers ? json_incref(leg->custom_headers) : json_array());
    /* real payloads also carry SIP URIs (reference 1.5) */
    char uri[192];
    snprintf(uri, sizeof uri, "%s@sip.telnyx.com",
             strncmp(leg->from, "sip:", 4) == 0 ? leg->from + 4 : leg->from);
    json_object_set_new(p, "from_sip_uri", json_string(uri));
    snprintf(uri, sizeof uri, "%s%s", strncmp(leg->to, "sip:", 4) == 0 ? leg->to + 4 : leg->to,
             strchr(leg->to, '@') ? "" : "@sip.telnyx.com");
    json_object_set_new(p, "to_sip_uri", json_string(uri));
    s_emit(self, leg, "call.initiated", now, p);
}

static s_leg_t *s_leg(sim_model_t *self, const char *ccid)
{
    return ccid ? zhashx_lookup(self->legs, ccid) : NULL;
}

static s_leg_t *s_leg_new(sim_model_t *self, const char *direction, int64_t now)
{
    s_leg_t *leg = calloc(1, sizeof *leg);
    unsigned char rnd[42];
    randombytes_buf(rnd, sizeof rnd);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, rnd, sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(leg->ccid, sizeof leg->ccid, "v3:%s", b64);
    cs_ids_uuid(leg->leg_id);
    cs_ids_uuid(leg->session_id);
    CS_COPY(leg->connection_id, self->connection_id);
    CS_COPY(leg->direction, direction);
    leg->start = now;
    zhashx_insert(self->legs, leg->ccid, leg);
    return leg;
}

/* Queues an event for the telnyx_rtc side; `event` is stolen. */
static void s_rtc(sim_model_t *self, const s_leg_t *leg, const char *type, json_t *event)
{
    json_object_set_new(event, "type", json_string(type));
    json_object_set_new(event, "ccid", json_string(leg->ccid));
    json_array_append_new(self->rtc_out, event);
}

/* "sip:<user>@sip.telnyx.com": the user of a credential; else "". */
static void s_sdk_user(const char *to, char *user, size_t len)
{
    user[0] = '\0';
    const char *at = strchr(to, '@');
    if (strncmp(to, "sip:", 4) != 0 || !at || strcmp(at, "@sip.telnyx.com") != 0)
        return;
    size_t n = (size_t)(at - to - 4);
    if (n == 0 || n >= len)
        return;
    memcpy(user, to + 4, n);
    user[n] = '\0';
}

/* ---- leg lifecycle ---- */

static void s_end(sim_model_t *self, s_leg_t *leg, const char *cause, const char *source,
                  const char *sip, int64_t now);

static void s_answer(sim_model_t *self, s_leg_t *leg, int64_t now)
{
    if (leg->answered || leg->ended)
        return;
    leg->answered = now;
    CS_COPY(leg->state, "answered");
    json_t *p = s_payload(leg);
    json_object_set_new(p, "state", json_string("answered"));
    json_object_set_new(p, "start_time", s_ts(leg->start));
    /* real answers carry the codec, which the spec leaves out (reference 1.5) */
    json_object_set_new(p, "codec", json_string("PCMU"));
    json_object_set_new(p, "sampling_rate", json_integer(8000));
    s_emit(self, leg, "call.answered", now, p);
    /* An SDK's own call is answered by the far end: the browser hears it. */
    if (leg->rtc && strcmp(leg->direction, "incoming") == 0)
        s_rtc(self, leg, "answer", json_object());
    s_timer_add(self, leg, T_TIME_LIMIT,
                now + 1000LL * (leg->time_limit_secs ? leg->time_limit_secs : 14400));
}

/* Takes a leg out of its bridge: the leg on the other side hangs up, as
 * Telnyx does by default when a bridged leg is bridged elsewhere or
 * transferred (park_after_unbridge unset). */
static void s_unbridge(sim_model_t *self, s_leg_t *leg, int64_t now)
{
    s_leg_t *peer = s_leg(self, leg->peer);
    leg->peer[0] = '\0';
    if (!peer)
        return;
    peer->peer[0] = '\0';
    s_end(self, peer, "normal_clearing", "callee", "200", now);
}

static void s_bridge(sim_model_t *self, s_leg_t *a, s_leg_t *b, int64_t now)
{
    if (strcmp(a->peer, b->ccid) != 0)
        s_unbridge(self, a, now);
    if (strcmp(b->peer, a->ccid) != 0)
        s_unbridge(self, b, now);
    /* An unanswered leg (a parked incoming call, the browser's parked leg)
     * is answered by the bridge, as a PBX picks up on connect. */
    s_answer(self, a, now);
    s_answer(self, b, now);
    CS_COPY(a->peer, b->ccid);
    CS_COPY(b->peer, a->ccid);
    CS_COPY(a->state, "bridged");
    CS_COPY(b->state, "bridged");
    s_emit_simple(self, a, "call.bridged", now);
    s_emit_simple(self, b, "call.bridged", now);
    /* two browsers' legs hear each other (media.c links them) */
    if (a->rtc && b->rtc)
        s_rtc(self, a, "bridged", json_pack("{s:s}", "peer", b->ccid));
}

/* Starts the far end of a leg we dialled (dial or transfer). */
static void s_ring(sim_model_t *self, s_leg_t *leg, int timeout_secs, int64_t now)
{
    leg->script = s_script(self, leg->to);
    int64_t timeout = now + (int64_t)timeout_secs * 1000;
    s_sdk_user(leg->to, leg->rtc_user, sizeof leg->rtc_user);
    if (leg->rtc_user[0] && !(self->is_sdk && self->is_sdk(self->is_sdk_arg, leg->rtc_user)))
        leg->rtc_user[0] = '\0';
    if (!leg->rtc_user[0] && self->is_phone && self->is_phone(self->is_sdk_arg, leg->to)) {
        /* A number a person holds in a /phone tab rings there. */
        leg->rtc = 1;
        s_rtc(self, leg, "phone_ring",
              json_pack("{s:s, s:s}", "number", leg->to, "from", leg->from));
        s_timer_add(self, leg, T_TIMEOUT, timeout);
        return;
    }
    if (leg->rtc_user[0]) {
        /* A credential's SIP URI rings that user's browser: it answers or
         * not; only the timeout is ours. */
        leg->rtc = 1;
        s_rtc(self, leg, "invite",
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "user", leg->rtc_user, "from",
                        leg->from, "to", leg->to, "leg_id", leg->leg_id, "session_id",
                        leg->session_id, "client_state", leg->client_state, "custom_headers",
                        leg->custom_headers ? leg->custom_headers : json_null()));
        s_timer_add(self, leg, T_TIMEOUT, timeout);
        return;
    }
    /* A browser calling out hears this leg ring: early media (the media
     * path is set up now either way; only the ringback is the number's). */
    s_leg_t *from = s_leg(self, leg->transfer_from[0] ? leg->transfer_from : leg->link_to);
    if (from && from->rtc && !from->answered && !from->ended)
        s_rtc(self, from, "early", json_pack("{s:b}", "ringback", leg->script.early_media));
    const sim_number_t *s = &leg->script;
    if (s->ring_ms >= 0 && now + s->ring_ms < timeout)
        s_timer_add(self, leg, s->answer ? T_ANSWER : T_FAIL, now + s->ring_ms);
    else
        s_timer_add(self, leg, T_TIMEOUT, timeout);
}

/* Stops a recording and announces it (record_stop, or the leg's end). */
static void s_recording_saved(sim_model_t *self, s_leg_t *leg, int64_t now)
{
    if (!leg->recording)
        return;
    leg->recording = 0;
    json_t *p = s_payload(leg);
    json_object_del(p, "call_control_id"); /* as the spec's payload: no control id */
    char url[256];
    snprintf(url, sizeof url, "https://sim.invalid/recordings/%s.mp3", leg->leg_id);
    json_object_set_new(p, "channels", json_string("single"));
    json_object_set_new(p, "recording_started_at", s_ts(leg->rec_start));
    json_object_set_new(p, "recording_ended_at", s_ts(now));
    json_object_set_new(p, "recording_urls", json_pack("{s:s, s:n}", "mp3", url, "wav"));
    json_object_set_new(p, "public_recording_urls", json_pack("{s:n, s:n}", "mp3", "wav"));
    s_emit(self, leg, "call.recording.saved", now, p);
}

static void s_end(sim_model_t *self, s_leg_t *leg, const char *cause, const char *source,
                  const char *sip, int64_t now)
{
    if (leg->ended)
        return;
    leg->ended = now;
    leg->gen++;
    CS_COPY(leg->state, "hangup");
    s_recording_saved(self, leg, now);
    json_t *p = s_payload(leg);
    json_object_set_new(p, "state", json_string("hangup"));
    json_object_set_new(p, "hangup_cause", json_string(cause));
    json_object_set_new(p, "hangup_source", json_string(source));
    json_object_set_new(p, "sip_hangup_cause", json_string(sip));
    json_object_set_new(p, "start_time", s_ts(leg->start));
    json_object_set_new(p, "end_time", s_ts(now));
    json_object_set_new(p, "call_quality_stats", json_null());
    s_emit(self, leg, "call.hangup", now, p);
    if (leg->rtc) {
        /* An unanswered browser call whose transfer failed hears why (a
         * B2BUA passes the far end's cause back). */
        int failed = !leg->answered && leg->failed_cause[0];
        s_rtc(self, leg, "bye",
              json_pack("{s:s, s:s}", "cause", failed ? leg->failed_cause : cause, "sip",
                        failed ? leg->failed_sip : sip));
    }
    s_leg_t *origin = s_leg(self, leg->transfer_from);
    if (origin && !leg->answered) {
        CS_COPY(origin->failed_cause, cause);
        CS_COPY(origin->failed_sip, sip);
    }

    /* A bridge ends with either side; a transfer target still ringing is
     * cancelled with the leg it was for. */
    s_leg_t *peer = s_leg(self, leg->peer);
    if (peer && !peer->ended)
        s_end(self, peer, "normal_clearing", "callee", "200", now);
    for (int i = 0; i < leg->ntransfers; i++) {
        s_leg_t *t = s_leg(self, leg->transfers[i]);
        if (t && !t->ended && !t->answered)
            s_end(self, t, "originator_cancel", "caller", "487", now);
    }
}

/* Forgets legs ended long ago; at most once a second. */
static void s_prune(sim_model_t *self, int64_t now)
{
    if (now - self->last_prune < 1000)
        return;
    self->last_prune = now;
    /* collect copies of the keys first: deleting frees the hash's own */
    zlistx_t *old = zlistx_new();
    zlistx_set_destructor(old, s_free);
    for (s_leg_t *l = zhashx_first(self->legs); l; l = zhashx_next(self->legs))
        if (l->ended && now - l->ended > S_KEEP_ENDED_MS)
            zlistx_add_end(old, strdup(l->ccid));
    for (const char *k = zlistx_first(old); k; k = zlistx_next(old))
        zhashx_delete(self->legs, k);
    zlistx_destroy(&old);
}

/* The far end of a leg answered: bridge it with the leg it was dialled or
 * transferred for. */
static void s_far_answered(sim_model_t *self, s_leg_t *leg, int64_t now)
{
    s_answer(self, leg, now);
    s_leg_t *from = s_leg(self, leg->transfer_from[0] ? leg->transfer_from : leg->link_to);
    if (from && !from->ended && (leg->transfer_from[0] || leg->bridge_on_answer))
        s_bridge(self, from, leg, now);
}

int64_t sim_model_tick(sim_model_t *self, int64_t now)
{
    s_prune(self, now);
    while (self->ntimers && self->timers[0].due <= now) {
        s_timer_t t = s_timer_pop(self);
        s_leg_t *leg = s_leg(self, t.ccid);
        if (!leg || leg->gen != t.gen || leg->ended)
            continue;
        switch (t.kind) {
        case T_ANSWER: {
            s_far_answered(self, leg, t.due);
            if (leg->script.hangup_after_ms > 0)
                s_timer_add(self, leg, T_CALLEE_HANGUP, t.due + leg->script.hangup_after_ms);
            break;
        }
        case T_FAIL:
            s_end(self, leg, leg->script.hangup_cause, "callee", leg->script.sip_code, t.due);
            break;
        case T_TIMEOUT:
            s_end(self, leg, "timeout", "callee", "487", t.due);
            break;
        case T_CALLEE_HANGUP:
            s_end(self, leg, leg->script.hangup_cause, "callee", leg->script.sip_code, t.due);
            break;
        case T_TIME_LIMIT:
            s_end(self, leg, "time_limit", "unknown", "200", t.due);
            break;
        case T_SPEAK_END:
            if (leg->speaking) {
                leg->speaking = 0;
                json_t *p = s_payload(leg);
                json_object_set_new(p, "status", json_string("completed"));
                s_emit(self, leg, "call.speak.ended", t.due, p);
            }
            break;
        case T_PLAYBACK_END:
            if (leg->playing) {
                leg->playing = 0;
                json_t *p = s_payload(leg);
                json_object_set_new(p, "status", json_string("completed"));
                s_emit(self, leg, "call.playback.ended", t.due, p);
            }
            break;
        }
    }
    return self->ntimers ? self->timers[0].due : 0;
}

json_t *sim_model_rtc_outbox(sim_model_t *self)
{
    json_t *out = self->rtc_out;
    self->rtc_out = json_array();
    return out;
}

json_t *sim_model_outbox(sim_model_t *self)
{
    json_t *out = self->outbox;
    self->outbox = json_array();
    return out;
}

void sim_model_counts(sim_model_t *self, long *legs, long *alive, long *webhooks)
{
    *legs = (long)zhashx_size(self->legs);
    *alive = 0;
    for (s_leg_t *l = zhashx_first(self->legs); l; l = zhashx_next(self->legs))
        *alive += !l->ended;
    *webhooks = self->webhooks;
}

/* ---- request validation ---- */

static int s_e164(const char *n)
{
    size_t len = strlen(n);
    return len >= 3 && len <= 16 && n[0] == '+' && n[1] != '0' &&
           strspn(n + 1, "0123456789") == len - 1;
}

static int s_destination_ok(const char *to)
{
    return s_e164(to) || (strncmp(to, "sip:", 4) == 0 && strchr(to + 4, '@') && strlen(to) < 128);
}

static int s_base64_ok(const char *v)
{
    unsigned char buf[512];
    size_t len;
    return strlen(v) < 680 && sodium_base642bin(buf, sizeof buf, v, strlen(v), NULL, &len, NULL,
                                                sodium_base64_VARIANT_ORIGINAL) == 0;
}

/* An optional string field; -1 (err set) when present but not a string. */
static int s_opt_str(const json_t *body, const char *key, const char **out, sim_error_t *err)
{
    const json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        char ptr[48], detail[96];
        snprintf(ptr, sizeof ptr, "/%s", key);
        snprintf(detail, sizeof detail, "%s must be a string", key);
        return sim_error(err, 422, "10015", "Invalid value", detail, ptr);
    }
    *out = json_string_value(v);
    return 0;
}

static int s_req_str(const json_t *body, const char *key, const char **out, sim_error_t *err)
{
    if (s_opt_str(body, key, out, err))
        return -1;
    if (!*out || !**out) {
        char ptr[48], detail[96];
        snprintf(ptr, sizeof ptr, "/%s", key);
        snprintf(detail, sizeof detail, "The '%s' parameter is required.", key);
        return sim_error(err, 422, "10004", "Missing required parameter", detail, ptr);
    }
    return 0;
}

static int s_client_state(const json_t *body, const char *key, const char **out, sim_error_t *err)
{
    if (s_opt_str(body, key, out, err))
        return -1;
    if (*out && !s_base64_ok(*out)) {
        char ptr[48];
        snprintf(ptr, sizeof ptr, "/%s", key);
        return sim_error(err, 422, "10015", "Invalid value", "client_state must be base64", ptr);
    }
    return 0;
}

static int s_timeout(const json_t *body, int *secs, sim_error_t *err)
{
    const json_t *v = json_object_get(body, "timeout_secs");
    *secs = 30;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 5 || json_integer_value(v) > 600)
        return sim_error(err, 422, "10033", "Value out of range",
                         "timeout_secs must be an integer from 5 to 600", "/timeout_secs");
    *secs = (int)json_integer_value(v);
    return 0;
}

static int s_time_limit(const json_t *body, int *secs, sim_error_t *err)
{
    const json_t *v = json_object_get(body, "time_limit_secs");
    *secs = 14400;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 30 || json_integer_value(v) > 14400)
        return sim_error(err, 422, "10033", "Value out of range",
                         "time_limit_secs must be an integer from 30 to 14400", "/time_limit_secs");
    *secs = (int)json_integer_value(v);
    return 0;
}

static json_t *s_call_data(const s_leg_t *leg)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:b, s:s}", "call_control_id", leg->ccid, "call_leg_id",
                          leg->leg_id, "call_session_id", leg->session_id, "is_alive", 0,
                          "record_type", "call");
    if (leg->client_state[0])
        json_object_set_new(d, "client_state", json_string(leg->client_state));
    return d;
}

/* ---- REST ---- */

int sim_model_dial(sim_model_t *self, const json_t *body, int64_t now, json_t **data,
                   sim_error_t *err)
{
    if (!json_is_object(body))
        return sim_error(err, 422, "10015", "Invalid value", "The body must be a JSON object", "");
    const char *command_id, *connection, *from, *client_state, *link_to, *webhook_url;
    if (s_opt_str(body, "command_id", &command_id, err))
        return -1;
    json_t *seen = command_id ? zhashx_lookup(self->dials, command_id) : NULL;
    if (seen) { /* "Telnyx will ignore other Dial commands with the same command_id" */
        *data = json_deep_copy(seen);
        return 0;
    }
    const json_t *to_v = json_object_get(body, "to");
    if (json_is_array(to_v)) /* simultaneous ring: the sim rings the first */
        to_v = json_array_get(to_v, 0);
    const char *to = json_string_value(to_v);
    if (s_req_str(body, "connection_id", &connection, err))
        return -1;
    if (!to || !*to)
        return sim_error(err, 422, "10004", "Missing required parameter",
                         "The 'to' parameter is required.", "/to");
    if (s_req_str(body, "from", &from, err) ||
        s_client_state(body, "client_state", &client_state, err) ||
        s_opt_str(body, "link_to", &link_to, err) ||
        s_opt_str(body, "webhook_url", &webhook_url, err))
        return -1;
    if (strcmp(connection, self->connection_id) != 0)
        return sim_error(err, 422, "10015", "Invalid value for connection_id",
                         "Only Call Control Apps with valid webhook URL are accepted.",
                         "/connection_id");
    if (!s_destination_ok(to))
        return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                         "'to' must be +E.164 or a SIP URI", "/to");
    if (!s_e164(from))
        return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                         "'from' must be +E.164", "/from");
    int timeout, limit;
    if (s_timeout(body, &timeout, err) || s_time_limit(body, &limit, err))
        return -1;
    int bridge_intent = json_is_true(json_object_get(body, "bridge_intent"));
    int bridge_on_answer = json_is_true(json_object_get(body, "bridge_on_answer"));
    s_leg_t *linked = NULL;
    if (link_to) {
        linked = s_leg(self, link_to);
        if (!linked)
            return sim_error(err, 422, "90015", "Invalid Call Control ID", "link_to names no call",
                             "/link_to");
        if (linked->ended)
            return s_ended_error(err);
    } else if (bridge_intent || bridge_on_answer) {
        return sim_error(err, 422, "10004", "Missing required parameter",
                         "bridge_intent and bridge_on_answer need link_to", "/link_to");
    }
    const json_t *headers = json_object_get(body, "custom_headers");
    if (headers && !json_is_array(headers))
        return sim_error(err, 422, "10015", "Invalid value", "custom_headers must be an array",
                         "/custom_headers");

    s_leg_t *leg = s_leg_new(self, "outgoing", now);
    CS_COPY(leg->to, to);
    /* bridge_intent: "from is overwritten by the linked call's from" */
    CS_COPY(leg->from, bridge_intent && linked ? linked->from : from);
    CS_COPY(leg->client_state, client_state);
    CS_COPY(leg->webhook_url, webhook_url);
    CS_COPY(leg->state, "bridging");
    leg->time_limit_secs = limit;
    if (headers)
        leg->custom_headers = json_deep_copy(headers);
    if (linked) {
        CS_COPY(leg->session_id, linked->session_id);
        CS_COPY(leg->link_to, linked->ccid);
        leg->bridge_on_answer = bridge_on_answer || bridge_intent;
    }
    s_emit_initiated(self, leg, now);
    s_ring(self, leg, timeout, now);
    *data = s_call_data(leg);
    if (command_id)
        zhashx_insert(self->dials, command_id, json_deep_copy(*data));
    return 0;
}

int sim_model_inbound(sim_model_t *self, const json_t *body, int64_t now, json_t **data,
                      sim_error_t *err)
{
    const char *from, *to;
    if (!json_is_object(body))
        return sim_error(err, 422, "10015", "Invalid value", "The body must be a JSON object", "");
    if (s_req_str(body, "from", &from, err) || s_req_str(body, "to", &to, err))
        return -1;
    if (!s_e164(from) || !s_e164(to))
        return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                         "from and to must be +E.164", "");
    s_leg_t *leg = s_leg_new(self, "incoming", now);
    CS_COPY(leg->from, from);
    CS_COPY(leg->to, to);
    CS_COPY(leg->state, "parked");
    s_emit_initiated(self, leg, now);
    *data = s_call_data(leg);
    return 0;
}

int sim_model_set_number(sim_model_t *self, const json_t *body, sim_error_t *err)
{
    const char *number, *cause;
    if (!json_is_object(body))
        return sim_error(err, 422, "10015", "Invalid value", "The body must be a JSON object", "");
    if (s_req_str(body, "number", &number, err) || s_opt_str(body, "hangup_cause", &cause, err))
        return -1;
    if (!s_destination_ok(number))
        return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                         "number must be +E.164 or a SIP URI", "/number");
    const json_t *ring = json_object_get(body, "ring_ms");
    const json_t *after = json_object_get(body, "hangup_after_ms");
    if ((ring && !json_is_integer(ring)) || (after && !json_is_integer(after)))
        return sim_error(err, 422, "10015", "Invalid value",
                         "ring_ms and hangup_after_ms are integers", "");
    const json_t *answer = json_object_get(body, "answer");
    int answers = answer ? json_is_true(answer) : 1;
    const char *sip = !cause                                ? "200"
                      : strcmp(cause, "user_busy") == 0     ? "486"
                      : strcmp(cause, "call_rejected") == 0 ? "603"
                      : strcmp(cause, "timeout") == 0       ? "487"
                                                            : "200";
    s_number(self, number, ring ? (int)json_integer_value(ring) : 1000,
             json_is_true(json_object_get(body, "early_media")), answers,
             after ? (int)json_integer_value(after) : 0, cause ? cause : "normal_clearing", sip);
    return 0;
}

static const char *const s_actions[] = {
    "answer", "hangup",         "reject",        "transfer",
    "bridge", "send_dtmf",      "record_start",  "record_stop",
    "speak",  "playback_start", "playback_stop", "client_state_update",
    NULL};

/* The action's index in s_actions, or -1. */
static int s_action_index(const char *a)
{
    for (int i = 0; s_actions[i]; i++)
        if (strcmp(a, s_actions[i]) == 0)
            return i;
    return -1;
}

int sim_model_refusals_parse(const json_t *body, unsigned *mask, sim_error_t *err)
{
    const json_t *names = json_object_get(body, "refuse_actions");
    size_t i;
    const json_t *name;
    *mask = 0;
    if (!names)
        return 0;
    if (!json_is_array(names))
        return sim_error(err, 422, "10015", "Invalid value",
                         "refuse_actions must be an array of action names", "/refuse_actions");
    json_array_foreach(names, i, name)
    {
        int a = json_is_string(name) ? s_action_index(json_string_value(name)) : -1;
        if (a < 0)
            return sim_error(err, 422, "10015", "Invalid value",
                             "refuse_actions names an action the sim does not implement",
                             "/refuse_actions");
        *mask |= 1u << a;
    }
    return 0;
}

void sim_model_refuse(sim_model_t *self, unsigned mask)
{
    self->refused = mask;
}

static int s_in(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(v, *allowed) == 0)
            return 1;
    return 0;
}

/* Runs one action on a live leg; 0 with *data the result, or -1 + err. */
static int s_run_action(sim_model_t *self, s_leg_t *leg, const char *action, const json_t *body,
                        int64_t now, json_t **data, sim_error_t *err)
{
    *data = json_pack("{s:s}", "result", "ok");
    if (strcmp(action, "answer") == 0) {
        if (strcmp(leg->direction, "incoming") != 0)
            return sim_error(err, 422, "10015", "Invalid value",
                             "only an incoming call can be answered", NULL);
        s_answer(self, leg, now);
    } else if (strcmp(action, "hangup") == 0) {
        int answered = leg->answered != 0;
        s_end(self, leg, answered ? "normal_clearing" : "originator_cancel", "caller",
              answered ? "200" : "487", now);
    } else if (strcmp(action, "reject") == 0) {
        const char *cause;
        static const char *const causes[] = {"CALL_REJECTED", "USER_BUSY", NULL};
        if (s_req_str(body, "cause", &cause, err))
            return -1;
        if (!s_in(cause, causes))
            return sim_error(err, 422, "10032", "Invalid enum value",
                             "cause must be CALL_REJECTED or USER_BUSY", "/cause");
        if (leg->answered || strcmp(leg->direction, "incoming") != 0)
            return sim_error(err, 422, "10015", "Invalid value",
                             "only an unanswered incoming call can be rejected", NULL);
        int busy = strcmp(cause, "USER_BUSY") == 0;
        s_end(self, leg, busy ? "user_busy" : "call_rejected", "callee", busy ? "486" : "603", now);
    } else if (strcmp(action, "transfer") == 0) {
        const char *to, *from, *target_state, *webhook_url;
        int limit;
        if (leg->ntransfers == S_MAX_TRANSFERS)
            return sim_error(err, 422, "10015", "Invalid value",
                             "the sim allows 8 transfers per call", NULL);
        int timeout;
        if (s_req_str(body, "to", &to, err) || s_opt_str(body, "from", &from, err) ||
            s_client_state(body, "target_leg_client_state", &target_state, err) ||
            s_opt_str(body, "webhook_url", &webhook_url, err) || s_timeout(body, &timeout, err) ||
            s_time_limit(body, &limit, err))
            return -1;
        if (!s_destination_ok(to))
            return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                             "'to' must be +E.164 or a SIP URI", "/to");
        if (from && !s_e164(from))
            return sim_error(err, 422, "10016", "Phone number must be in +E164 format",
                             "'from' must be +E.164", "/from");
        s_unbridge(self, leg, now); /* a bridged leg leaves its bridge for the target */
        s_leg_t *target = s_leg_new(self, "outgoing", now);
        CS_COPY(target->to, to);
        CS_COPY(target->from, from ? from : leg->from);
        CS_COPY(target->session_id, leg->session_id);
        CS_COPY(target->client_state, target_state);
        CS_COPY(target->webhook_url, webhook_url ? webhook_url : leg->webhook_url);
        CS_COPY(target->transfer_from, leg->ccid);
        CS_COPY(leg->transfers[leg->ntransfers], target->ccid);
        leg->ntransfers++;
        CS_COPY(target->state, "bridging");
        target->time_limit_secs = limit;
        s_emit_initiated(self, target, now);
        s_ring(self, target, timeout, now);
    } else if (strcmp(action, "bridge") == 0) {
        const char *other_id;
        if (s_req_str(body, "call_control_id", &other_id, err))
            return -1;
        s_leg_t *other = s_leg(self, other_id);
        if (!other || other == leg)
            return sim_error(err, 422, "90015", "Invalid Call Control ID",
                             "call_control_id names no other call", "/call_control_id");
        if (other->ended)
            return s_ended_error(err);
        s_bridge(self, leg, other, now);
    } else if (strcmp(action, "send_dtmf") == 0) {
        const char *digits;
        if (s_req_str(body, "digits", &digits, err))
            return -1;
        if (strspn(digits, "0123456789ABCD*#wW") != strlen(digits))
            return sim_error(err, 422, "10015", "Invalid value",
                             "digits may hold 0-9, A-D, *, #, w and W", "/digits");
    } else if (strcmp(action, "record_start") == 0) {
        const char *format, *channels;
        static const char *const formats[] = {"wav", "mp3", NULL};
        static const char *const chans[] = {"single", "dual", NULL};
        if (s_req_str(body, "format", &format, err) || s_req_str(body, "channels", &channels, err))
            return -1;
        if (!s_in(format, formats) || !s_in(channels, chans))
            return sim_error(err, 422, "10032", "Invalid enum value",
                             "format is wav|mp3, channels single|dual", NULL);
        if (!leg->answered)
            return sim_error(err, 422, "90034", "Call not answered yet",
                             "This call has not been answered yet.", NULL);
        leg->recording = 1;
        leg->rec_start = now;
    } else if (strcmp(action, "record_stop") == 0) {
        s_recording_saved(self, leg, now);
    } else if (strcmp(action, "speak") == 0) {
        const char *text, *voice;
        if (s_req_str(body, "payload", &text, err) || s_req_str(body, "voice", &voice, err))
            return -1;
        leg->speaking = 1;
        s_emit_simple(self, leg, "call.speak.started", now);
        s_timer_add(self, leg, T_SPEAK_END, now + 500 + 60 * (int64_t)strlen(text));
    } else if (strcmp(action, "playback_start") == 0) {
        const char *url, *name, *content;
        if (s_opt_str(body, "audio_url", &url, err) || s_opt_str(body, "media_name", &name, err) ||
            s_opt_str(body, "playback_content", &content, err))
            return -1;
        if (!url && !name && !content)
            return sim_error(err, 422, "10004", "Missing required parameter",
                             "one of audio_url, media_name, playback_content is required",
                             "/audio_url");
        leg->playing = 1;
        json_t *p = s_payload(leg);
        json_object_set_new(p, "media_url", url ? json_string(url) : json_null());
        json_object_set_new(p, "overlay", json_false());
        s_emit(self, leg, "call.playback.started", now, p);
        s_timer_add(self, leg, T_PLAYBACK_END, now + 2000);
    } else if (strcmp(action, "playback_stop") == 0) {
        if (leg->playing) {
            leg->playing = 0;
            json_t *p = s_payload(leg);
            json_object_set_new(p, "status", json_string("cancelled"));
            s_emit(self, leg, "call.playback.ended", now, p);
        }
    } else if (strcmp(action, "client_state_update") == 0) {
        const char *cs;
        if (s_client_state(body, "client_state", &cs, err))
            return -1;
        if (!cs)
            return sim_error(err, 422, "10004", "Missing required parameter",
                             "The 'client_state' parameter is required.", "/client_state");
    }
    return 0;
}

int sim_model_action(sim_model_t *self, const char *ccid, const char *action, const json_t *body,
                     int64_t now, json_t **data, sim_error_t *err)
{
    *data = NULL;
    int index = s_action_index(action);
    if (index < 0)
        return sim_error(err, 404, "10005", "Resource not found",
                         "The sim does not implement this action", NULL);
    s_leg_t *leg = s_leg(self, ccid);
    if (!leg)
        return sim_error(err, 422, "90015", "Invalid Call Control ID",
                         "The call_control_id provided was not valid.", "/call_control_id");
    if (body && !json_is_object(body))
        return sim_error(err, 422, "10015", "Invalid value", "The body must be a JSON object", "");
    const char *command_id, *client_state;
    if (s_opt_str(body, "command_id", &command_id, err))
        return -1;
    /* "Telnyx will ignore any command with the same command_id for the same
     * call_control_id": the first answer is given again, nothing happens. */
    for (int i = 0; command_id && i < leg->ncommands; i++)
        if (strcmp(leg->commands[i].command_id, command_id) == 0) {
            *data = json_deep_copy(leg->commands[i].response);
            return 0;
        }
    if (leg->ended)
        return s_ended_error(err);
    if (self->refused & (1u << index))
        return sim_error(err, 422, "10015", "Invalid value",
                         "refused by the sim's faults (refuse_actions)", NULL);
    if (strcmp(action, "client_state_update") != 0 &&
        s_client_state(body, "client_state", &client_state, err))
        return -1;
    if (strcmp(action, "client_state_update") == 0)
        client_state = json_string_value(json_object_get(body, "client_state"));
    /* A command's client_state rides on this leg's later webhooks. */
    char previous[sizeof leg->client_state];
    memcpy(previous, leg->client_state, sizeof previous);
    if (client_state)
        CS_COPY(leg->client_state, client_state);
    if (s_run_action(self, leg, action, body, now, data, err)) {
        memcpy(leg->client_state, previous, sizeof previous);
        json_decref(*data);
        *data = NULL;
        return -1;
    }
    if (command_id) {
        int i = leg->ncommands < S_MAX_COMMANDS ? leg->ncommands++ : S_MAX_COMMANDS - 1;
        json_decref(leg->commands[i].response);
        CS_COPY(leg->commands[i].command_id, command_id);
        leg->commands[i].response = json_deep_copy(*data);
    }
    return 0;
}

int sim_model_status(sim_model_t *self, const char *ccid, int64_t now, json_t **data,
                     sim_error_t *err)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (!leg)
        return sim_error(err, 422, "90015", "Invalid Call Control ID",
                         "The call_control_id provided was not valid.", "/call_control_id");
    json_t *d = s_call_data(leg);
    json_object_set_new(d, "is_alive", json_boolean(!leg->ended));
    json_object_set_new(d, "client_state",
                        leg->client_state[0] ? json_string(leg->client_state) : json_null());
    json_object_set_new(d, "start_time", s_ts(leg->start));
    if (leg->ended)
        json_object_set_new(d, "end_time", s_ts(leg->ended));
    int64_t end = leg->ended ? leg->ended : now;
    json_object_set_new(d, "call_duration", json_integer((end - leg->start) / 1000));
    *data = d;
    return 0;
}

json_t *sim_model_leg_json(sim_model_t *self, const char *ccid)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (!leg)
        return NULL;
    json_t *o = s_call_data(leg);
    json_object_set_new(o, "is_alive", json_boolean(!leg->ended));
    json_object_set_new(o, "state", json_string(leg->state));
    json_object_set_new(o, "direction", json_string(leg->direction));
    json_object_set_new(o, "from", json_string(leg->from));
    json_object_set_new(o, "to", json_string(leg->to));
    json_object_set_new(o, "bridged_with", leg->peer[0] ? json_string(leg->peer) : json_null());
    json_object_set_new(o, "start_time", s_ts(leg->start));
    json_object_set_new(o, "answered_at", leg->answered ? s_ts(leg->answered) : json_null());
    json_object_set_new(o, "end_time", leg->ended ? s_ts(leg->ended) : json_null());
    return o;
}

/* ---- the telnyx_rtc side (rtc.c) ---- */

int sim_model_rtc_invite(sim_model_t *self, const char *sip_user, const char *connection_id,
                         const json_t *dialog, const char *sessid, int64_t now, json_t **ids,
                         sim_error_t *err)
{
    const char *to, *from, *state;
    if (!json_is_object(dialog))
        return sim_error(err, 400, "10015", "Invalid value", "dialogParams must be an object", "");
    if (s_req_str(dialog, "destination_number", &to, err) ||
        s_opt_str(dialog, "caller_id_number", &from, err) ||
        s_client_state(dialog, "clientState", &state, err))
        return -1;
    if (strlen(to) >= sizeof((s_leg_t *)0)->to)
        return sim_error(err, 400, "10015", "Invalid value", "destination_number is too long", "");
    const json_t *headers = json_object_get(dialog, "custom_headers");
    if (headers && !json_is_array(headers) && !json_is_null(headers))
        return sim_error(err, 400, "10015", "Invalid value", "custom_headers must be an array", "");
    /* Telnyx's view: the browser's call comes in on the credential's
     * connection, parked until a command says where it goes. */
    s_leg_t *leg = s_leg_new(self, "incoming", now);
    leg->rtc = 1;
    CS_COPY(leg->rtc_user, sip_user);
    CS_COPY(leg->connection_id, connection_id);
    CS_COPY(leg->to, to);
    if (from && *from && strlen(from) < sizeof leg->from)
        CS_COPY(leg->from, from);
    else
        snprintf(leg->from, sizeof leg->from, "sip:%s@sip.telnyx.com", sip_user);
    CS_COPY(leg->client_state, state ? state : "");
    CS_COPY(leg->state, "parked");
    /* Telnyx adds the SDK's own ids as headers (the reference fixture
     * call.initiated.webrtc): the server can name the browser's call. */
    leg->custom_headers = json_is_array(headers) ? json_deep_copy(headers) : json_array();
    json_array_append_new(leg->custom_headers,
                          json_pack("{s:s, s:s?}", "name", "X-RTC-CALLID", "value",
                                    json_string_value(json_object_get(dialog, "callID"))));
    json_array_append_new(leg->custom_headers,
                          json_pack("{s:s, s:s}", "name", "X-RTC-SESSID", "value", sessid));
    s_emit_initiated(self, leg, now);
    *ids = json_pack("{s:s, s:s, s:s}", "call_control_id", leg->ccid, "call_leg_id", leg->leg_id,
                     "call_session_id", leg->session_id);
    return 0;
}

void sim_model_rtc_answered(sim_model_t *self, const char *ccid, int64_t now)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (leg && leg->rtc && !leg->ended && !leg->answered)
        s_far_answered(self, leg, now);
}

void sim_model_rtc_hangup(sim_model_t *self, const char *ccid, int64_t now)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (!leg || leg->ended)
        return;
    /* The browser is the caller of its own call and the callee of a call
     * ringing it: a bye before the answer is a cancel or a rejection. */
    int own = strcmp(leg->direction, "incoming") == 0;
    if (leg->answered)
        s_end(self, leg, "normal_clearing", own ? "caller" : "callee", "200", now);
    else if (own)
        s_end(self, leg, "originator_cancel", "caller", "487", now);
    else
        s_end(self, leg, "user_busy", "callee", "486", now);
}

void sim_model_rtc_unreachable(sim_model_t *self, const char *ccid, int64_t now)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (leg && !leg->ended)
        s_end(self, leg, "not_found", "callee", "480", now);
}

void sim_model_rtc_hold(sim_model_t *self, const char *ccid, int hold, int64_t now)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (leg && !leg->ended)
        s_emit_simple(self, leg, hold ? "call.hold" : "call.unhold", now);
}

void sim_model_rtc_dtmf(sim_model_t *self, const char *ccid, const char *digits, int64_t now)
{
    s_leg_t *leg = s_leg(self, ccid);
    if (!leg || leg->ended)
        return;
    /* The digits are heard by the other party: its leg reports them. */
    s_leg_t *other = s_leg(self, leg->peer);
    if (!other || other->ended)
        other = leg;
    for (const char *d = digits; *d; d++) {
        if (!strchr("0123456789ABCD*#", *d))
            continue;
        char digit[2] = {*d, '\0'};
        json_t *p = s_payload(other);
        json_object_set_new(p, "digit", json_string(digit));
        s_emit(self, other, "call.dtmf.received", now, p);
    }
}

const char *sim_model_peer(sim_model_t *self, const char *ccid)
{
    s_leg_t *leg = s_leg(self, ccid);
    return leg && leg->peer[0] ? leg->peer : NULL;
}

void sim_model_set_browsers(sim_model_t *self, int (*is_sdk)(void *arg, const char *user),
                            int (*is_phone)(void *arg, const char *number), void *arg)
{
    self->is_sdk = is_sdk;
    self->is_phone = is_phone;
    self->is_sdk_arg = arg;
}
