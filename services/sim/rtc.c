/* rtc - see rtc.h. Section numbers (§) are those of
 * ../shared/reference/telnyx-webrtc-signaling.md. */
#include "rtc.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "text.h"
#include "timestamp.h"

/* How long a session's calls outlive its socket: the SDK reconnects within
 * about a minute of backoff (§2) or has given up. */
#define S_GRACE_MS (60 * 1000)

typedef struct {
    char sessid[CS_UUID_STR_LEN];
    char user[64];
    uint64_t conn; /* 0: the socket is gone */
    int64_t gone_since;
    long login_seq;         /* the newest login of a user is the one that rings */
    int64_t media_check_at; /* after a reconnection: is the page's media still there? */
} s_session_t;

typedef struct {
    char call_id[64]; /* the SDK's callID (its own calls) or ours (calls to it) */
    char ccid[96], leg_id[40], session_id[40];
    char sessid[CS_UUID_STR_LEN];
    char user[64];
    int to_sdk;   /* we invited the browser */
    int answered; /* the browser's leg is answered (either way) */
    int want_early, want_answer, want_invite, want_attach;
    int early_sent, answer_sent, invite_sent;
    char *local_sdp; /* media's answer (its own call) or offer (to it, attach) */
    json_t *invite;  /* the params of a telnyx_rtc.invite waiting for the offer */
    int held;
    /* a /phone page's leg: call_id is the call control id */
    int phone;
    uint64_t phone_conn;
    json_t *answer_id; /* its phone.answer, answered once our SDP is ready */
} s_call_t;

/* A number a person holds in a /phone tab. */
typedef struct {
    char number[32];
    uint64_t conn;
} s_phone_t;

/* No packet from the browser for this long: its page has gone (a browser
 * sends a packet every 20 ms, silence included). */
#define S_MEDIA_GONE_MS 400

struct sim_rtc {
    sim_model_t *model;
    sim_creds_t *creds;
    sim_media_t *media;
    char connection_id[32];
    sim_rtc_io_t io;
    char voice_sdk_id[48];
    zhashx_t *sessions; /* sessid -> s_session_t (owned) */
    zhashx_t *conns;    /* conn -> sessid (owned string); present once logged in */
    zhashx_t *calls;    /* call_id -> s_call_t (owned) */
    zhashx_t *by_ccid;  /* ccid -> s_call_t (borrowed) */
    zhashx_t *phones;   /* number -> s_phone_t (owned) */
    long next_id, logins;
    long frames_in, refused;
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_call_free(void **item)
{
    s_call_t *c = *item;
    if (c) {
        free(c->local_sdp);
        json_decref(c->invite);
        json_decref(c->answer_id);
        free(c);
    }
    *item = NULL;
}

sim_rtc_t *sim_rtc_new(sim_model_t *model, sim_creds_t *creds, sim_media_t *media,
                       const char *connection_id, const sim_rtc_io_t *io)
{
    sim_rtc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->model = model;
    self->creds = creds;
    self->media = media;
    CS_COPY(self->connection_id, connection_id);
    self->io = *io;
    /* One id for this sim: the SDK keeps it and reconnects with its old
     * sessid only when it has one (§0, §8 SHOULD). */
    char uuid[CS_UUID_STR_LEN];
    cs_ids_uuid(uuid);
    snprintf(self->voice_sdk_id, sizeof self->voice_sdk_id, "VSDK-sim-%.12s", uuid);
    self->sessions = zhashx_new();
    zhashx_set_destructor(self->sessions, s_free);
    self->conns = zhashx_new();
    zhashx_set_destructor(self->conns, s_free);
    self->calls = zhashx_new();
    zhashx_set_destructor(self->calls, s_call_free);
    self->by_ccid = zhashx_new();
    self->phones = zhashx_new();
    zhashx_set_destructor(self->phones, s_free);
    self->next_id = 1000;
    return self;
}

void sim_rtc_destroy(sim_rtc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_rtc_t *self = *self_p;
    zhashx_destroy(&self->by_ccid);
    zhashx_destroy(&self->phones);
    zhashx_destroy(&self->calls);
    zhashx_destroy(&self->conns);
    zhashx_destroy(&self->sessions);
    free(self);
    *self_p = NULL;
}

/* ---- frames out ---- */

static void s_key(uint64_t conn, char *key, size_t len)
{
    snprintf(key, len, "%llu", (unsigned long long)conn);
}

/* Sends msg (stolen) with the sim's voice_sdk_id on top (§0). */
static void s_send(sim_rtc_t *self, uint64_t conn, json_t *msg)
{
    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    json_object_set_new(msg, "voice_sdk_id", json_string(self->voice_sdk_id));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text && conn)
        self->io.send(self->io.arg, conn, text, strlen(text));
    free(text);
}

static void s_result(sim_rtc_t *self, uint64_t conn, json_t *id, json_t *result)
{
    s_send(self, conn, json_pack("{s:O, s:o}", "id", id ? id : json_null(), "result", result));
}

static void s_error(sim_rtc_t *self, uint64_t conn, json_t *id, int code, const char *message)
{
    self->refused++;
    s_send(self, conn,
           json_pack("{s:O, s:{s:i, s:s}}", "id", id ? id : json_null(), "error", "code", code,
                     "message", message));
}

/* A server request; params stolen. */
static void s_request(sim_rtc_t *self, uint64_t conn, const char *method, json_t *params)
{
    s_send(self, conn,
           json_pack("{s:I, s:s, s:o}", "id", (json_int_t)self->next_id++, "method", method,
                     "params", params));
}

static s_session_t *s_session_of(sim_rtc_t *self, uint64_t conn)
{
    char key[24];
    s_key(conn, key, sizeof key);
    const char *sessid = zhashx_lookup(self->conns, key);
    return sessid ? zhashx_lookup(self->sessions, sessid) : NULL;
}

static uint64_t s_conn_of(sim_rtc_t *self, const s_call_t *c)
{
    if (c->phone)
        return c->phone_conn;
    s_session_t *s = zhashx_lookup(self->sessions, c->sessid);
    return s ? s->conn : 0;
}

static void s_ids(json_t *params, const s_call_t *c)
{
    json_object_set_new(params, "telnyx_call_control_id", json_string(c->ccid));
    json_object_set_new(params, "telnyx_session_id", json_string(c->session_id));
    json_object_set_new(params, "telnyx_leg_id", json_string(c->leg_id));
}

/* Sends what a call is waiting for, in the order §3 requires (the invite
 * result went out first; media before answer). Nothing while the socket
 * is down: a re-login flushes. */
static void s_flush(sim_rtc_t *self, s_call_t *c)
{
    uint64_t conn = s_conn_of(self, c);
    if (!conn)
        return;
    if (c->phone) {
        if (c->answer_id && c->local_sdp) {
            s_result(self, conn, c->answer_id, json_pack("{s:s}", "sdp", c->local_sdp));
            json_decref(c->answer_id);
            c->answer_id = NULL;
        }
        return;
    }
    if (c->want_invite && !c->invite_sent && c->local_sdp) {
        json_object_set_new(c->invite, "sdp", json_string(c->local_sdp));
        s_request(self, conn, "telnyx_rtc.invite", json_incref(c->invite));
        c->invite_sent = 1;
    }
    if (c->want_attach && c->local_sdp) {
        json_t *p = json_pack("{s:s, s:s}", "callID", c->call_id, "sdp", c->local_sdp);
        s_ids(p, c);
        json_object_set_new(p, "callee_id_name", json_string(c->user));
        json_object_set_new(p, "callee_id_number", json_string(c->user));
        s_request(self, conn, "telnyx_rtc.attach", p);
        c->want_attach = 0;
    }
    if (c->to_sdk)
        return;
    if (c->want_early && !c->early_sent && !c->answer_sent && c->local_sdp) {
        s_request(self, conn, "telnyx_rtc.media",
                  json_pack("{s:s, s:s}", "callID", c->call_id, "sdp", c->local_sdp));
        c->early_sent = 1;
    }
    if (c->want_answer && !c->answer_sent && (c->early_sent || c->local_sdp)) {
        json_t *p = json_pack("{s:s}", "callID", c->call_id);
        if (c->local_sdp)
            json_object_set_new(p, "sdp", json_string(c->local_sdp));
        s_ids(p, c);
        s_request(self, conn, "telnyx_rtc.answer", p);
        c->answer_sent = 1;
    }
}

static void s_forget(sim_rtc_t *self, s_call_t *c)
{
    if (self->media)
        sim_media_close(self->media, c->ccid);
    zhashx_delete(self->by_ccid, c->ccid);
    zhashx_delete(self->calls, c->call_id);
}

/* ---- frames in ---- */

static const char *s_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Gives a call back to a session by telnyx_rtc.attach: a fresh offer from
 * new far-end media (the page that had it is gone). */
static void s_reattach(sim_rtc_t *self, s_call_t *c, const char *sessid)
{
    CS_COPY(c->sessid, sessid);
    free(c->local_sdp);
    c->local_sdp = NULL;
    c->want_attach = 1;
    if (self->media)
        sim_media_offer(self->media, c->ccid, SIM_TONE_TALK);
}

static void s_login(sim_rtc_t *self, uint64_t conn, json_t *id, const json_t *params, int64_t now)
{
    char user[64];
    const char *token = s_str(params, "login_token");
    const char *login = s_str(params, "login"), *passwd = s_str(params, "passwd");
    int ok = token ? sim_creds_login_token(self->creds, token, now, user, sizeof user)
             : (login && passwd)
                 ? sim_creds_login_password(self->creds, login, passwd, now, user, sizeof user)
                 : -1;
    if (ok != 0) {
        /* -32001, as the real server: the SDK says LOGIN_FAILED and stops. */
        cs_info("rtc: login refused (%s)", token ? "token" : "password");
        return s_error(self, conn, id, -32001, "Authentication Required");
    }
    /* A reconnect names its old session (§6): its calls go on. */
    const char *old = s_str(params, "sessid");
    s_session_t *s = old && json_is_true(json_object_get(params, "reconnection"))
                         ? zhashx_lookup(self->sessions, old)
                         : NULL;
    if (s && strcmp(s->user, user) != 0)
        s = NULL;
    if (!s) {
        s = calloc(1, sizeof *s);
        cs_ids_uuid(s->sessid);
        CS_COPY(s->user, user);
        zhashx_insert(self->sessions, s->sessid, s);
    }
    s->conn = conn;
    s->gone_since = 0;
    s->login_seq = ++self->logins;
    char key[24];
    s_key(conn, key, sizeof key);
    zhashx_update(self->conns, key, strdup(s->sessid));

    json_t *reattached = json_array();
    zlistx_t *attach = zlistx_new();
    for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls)) {
        if (strcmp(c->sessid, s->sessid) == 0) {
            json_array_append_new(reattached, json_string(c->call_id));
            /* the same session back: a socket cut (media flows on, peer
             * to peer) or a reload (sim_rtc_tick tells them apart) */
            s->media_check_at = now + S_MEDIA_GONE_MS + 100;
            continue;
        }
        /* A page that came back as a new session (a reload) gets its
         * answered calls back by telnyx_rtc.attach with a fresh offer. */
        s_session_t *owner = zhashx_lookup(self->sessions, c->sessid);
        if (strcmp(c->user, user) == 0 && c->answered && (!owner || !owner->conn))
            zlistx_add_end(attach, c);
    }
    s_result(self, conn, id, json_pack("{s:s, s:s}", "message", "logged in", "sessid", s->sessid));
    /* clientReady, then the SDK asks gatewayState (§1, §8 MUST 3). */
    s_request(self, conn, "telnyx_rtc.clientReady",
              json_pack("{s:o}", "reattached_sessions", reattached));
    cs_info("rtc: %s logged in (session %s)", user, s->sessid);
    for (s_call_t *c = zlistx_first(attach); c; c = zlistx_next(attach))
        s_reattach(self, c, s->sessid);
    zlistx_destroy(&attach);
    for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls))
        if (strcmp(c->sessid, s->sessid) == 0)
            s_flush(self, c);
}

static s_call_t *s_dialog_call(sim_rtc_t *self, const json_t *params)
{
    const char *id = s_str(json_object_get(params, "dialogParams"), "callID");
    if (!id)
        id = s_str(params, "callID");
    return id ? zhashx_lookup(self->calls, id) : NULL;
}

/* The SDK's own call (§3): a parked leg; its offer goes to the far end. */
static void s_invite(sim_rtc_t *self, uint64_t conn, json_t *id, s_session_t *s,
                     const json_t *params, int64_t now)
{
    const json_t *dialog = json_object_get(params, "dialogParams");
    const char *call_id = s_str(dialog, "callID"), *sdp = s_str(params, "sdp");
    if (!call_id || !*call_id || strlen(call_id) >= sizeof((s_call_t *)0)->call_id || !sdp)
        return s_error(self, conn, id, -32602, "Invalid params: dialogParams.callID and sdp");
    if (zhashx_lookup(self->calls, call_id))
        return s_error(self, conn, id, -32602, "Invalid params: callID is in use");
    json_t *ids = NULL;
    sim_error_t err = {0};
    if (sim_model_rtc_invite(self->model, s->user, self->connection_id, dialog, s->sessid, now,
                             &ids, &err))
        return s_error(self, conn, id, -32602, err.detail);
    s_call_t *c = calloc(1, sizeof *c);
    CS_COPY(c->call_id, call_id);
    CS_COPY(c->ccid, s_str(ids, "call_control_id"));
    CS_COPY(c->leg_id, s_str(ids, "call_leg_id"));
    CS_COPY(c->session_id, s_str(ids, "call_session_id"));
    CS_COPY(c->sessid, s->sessid);
    CS_COPY(c->user, s->user);
    json_decref(ids);
    zhashx_insert(self->calls, c->call_id, c);
    zhashx_insert(self->by_ccid, c->ccid, c);
    s_result(self, conn, id,
             json_pack("{s:s, s:s, s:s}", "callID", c->call_id, "message", "CALL CREATED", "sessid",
                       s->sessid));
    /* ringing only hands the SDK its telnyxIDs (no callUpdate, §3): the
     * softphone can name the leg before anything else happens. */
    json_t *p = json_pack("{s:s}", "callID", c->call_id);
    s_ids(p, c);
    s_request(self, conn, "telnyx_rtc.ringing", p);
    /* The media path is built now, while nothing rings yet (ARCHITECTURE
     * §1: audio must be there the moment the far end answers). */
    if (self->media)
        sim_media_answer(self->media, c->ccid, sdp, SIM_TONE_SILENT);
}

/* Causes as the SDK shows them (call.cause / causeCode). */
static void s_cause(const char *cause, const char **name, int *code)
{
    static const struct {
        const char *telnyx, *sdk;
        int code;
    } map[] = {
        {"normal_clearing", "NORMAL_CLEARING", 16},
        {"user_busy", "USER_BUSY", 17},
        {"call_rejected", "CALL_REJECTED", 21},
        {"timeout", "NO_ANSWER", 19},
        {"no_answer", "NO_ANSWER", 19},
        {"originator_cancel", "ORIGINATOR_CANCEL", 487},
        {"not_found", "UNALLOCATED_NUMBER", 1},
        {"time_limit", "ALLOTTED_TIMEOUT", 602},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(cause, map[i].telnyx) == 0) {
            *name = map[i].sdk;
            *code = map[i].code;
            return;
        }
    *name = "NORMAL_UNSPECIFIED";
    *code = 31;
}

/* The /phone page's own small protocol on the same socket (it is not an
 * SDK): phone.register {number}, phone.answer {call, sdp: its offer} ->
 * {sdp: our answer}, phone.hangup {call}; we send phone.ring {call, from,
 * to} and phone.bye {call, cause}. */
static void s_phone_in(sim_rtc_t *self, uint64_t conn, const char *method, json_t *id,
                       const json_t *params, int64_t now)
{
    if (strcmp(method, "phone.register") == 0) {
        const char *number = s_str(params, "number");
        size_t len = number ? strlen(number) : 0;
        if (len < 3 || len > 16 || number[0] != '+' || strspn(number + 1, "0123456789") != len - 1)
            return s_error(self, conn, id, -32602, "Invalid params: number must be +E.164");
        s_phone_t *p = calloc(1, sizeof *p);
        CS_COPY(p->number, number);
        p->conn = conn; /* the newest tab holding a number gets its calls */
        zhashx_update(self->phones, p->number, p);
        cs_info("rtc: a /phone page holds %s", number);
        return s_result(self, conn, id, json_pack("{s:s}", "number", number));
    }
    const char *call = s_str(params, "call");
    s_call_t *c = call ? zhashx_lookup(self->by_ccid, call) : NULL;
    if (!c || !c->phone || c->phone_conn != conn)
        return s_error(self, conn, id, -32602, "Invalid params: no such call on this page");
    if (strcmp(method, "phone.answer") == 0) {
        const char *sdp = s_str(params, "sdp");
        if (!sdp || c->answered)
            return s_error(self, conn, id, -32602, "Invalid params: sdp, on a ringing call");
        c->answered = 1;
        c->answer_id = json_incref(id ? id : json_null());
        if (self->media)
            sim_media_answer(self->media, c->ccid, sdp, SIM_TONE_SILENT);
        sim_model_rtc_answered(self->model, c->ccid, now);
        return;
    }
    if (strcmp(method, "phone.hangup") == 0) {
        s_result(self, conn, id, json_object());
        char ccid[96];
        CS_COPY(ccid, c->ccid);
        s_forget(self, c);
        sim_model_rtc_hangup(self->model, ccid, now);
        return;
    }
    s_error(self, conn, id, -32601, "Method not found");
}

static void s_request_in(sim_rtc_t *self, uint64_t conn, const char *method, json_t *id,
                         const json_t *params, int64_t now)
{
    if (strncmp(method, "phone.", 6) == 0)
        return s_phone_in(self, conn, method, id, params, now);
    if (strcmp(method, "login") == 0)
        return s_login(self, conn, id, params, now);
    s_session_t *s = s_session_of(self, conn);
    if (!s)
        return s_error(self, conn, id, -32000, "Authentication Required");
    if (strcmp(method, "telnyx_rtc.gatewayState") == 0)
        return s_result(self, conn, id, json_pack("{s:{s:s}}", "params", "state", "REGED"));
    if (strcmp(method, "telnyx_rtc.ping") == 0)
        return s_result(self, conn, id, json_pack("{s:s}", "message", "pong"));
    if (strcmp(method, "telnyx_rtc.invite") == 0)
        return s_invite(self, conn, id, s, params, now);

    static const char *const in_call[] = {"telnyx_rtc.bye",
                                          "telnyx_rtc.candidate",
                                          "telnyx_rtc.endOfCandidates",
                                          "telnyx_rtc.answer",
                                          "telnyx_rtc.attach",
                                          "telnyx_rtc.modify",
                                          "telnyx_rtc.info",
                                          NULL};
    int known = 0;
    for (int i = 0; in_call[i]; i++)
        known |= strcmp(method, in_call[i]) == 0;
    if (!known)
        return s_error(self, conn, id, -32601, "Method not found");
    s_call_t *c = s_dialog_call(self, params);
    if (strcmp(method, "telnyx_rtc.bye") == 0) {
        /* Any result lets the SDK reach destroy; an unknown call is gone. */
        const char *cid = c ? c->call_id : "";
        s_result(self, conn, id,
                 json_pack("{s:s, s:s, s:s}", "callID", cid, "message",
                           c ? "CALL ENDED" : "CALL DOES NOT EXIST", "sessid", s->sessid));
        if (c) {
            char ccid[96];
            CS_COPY(ccid, c->ccid);
            s_forget(self, c); /* first: the model's bye event finds no call */
            sim_model_rtc_hangup(self->model, ccid, now);
        }
        return;
    }
    if (strcmp(method, "telnyx_rtc.candidate") == 0 ||
        strcmp(method, "telnyx_rtc.endOfCandidates") == 0) {
        /* Trickle: the sim's answer carries its candidate, so the
         * browser's checks reach it and libnice learns the peer from them. */
        return s_result(self, conn, id, json_object());
    }
    if (!c)
        return s_error(self, conn, id, -32602, "Invalid params: no such callID");
    if (strcmp(method, "telnyx_rtc.answer") == 0 || strcmp(method, "telnyx_rtc.attach") == 0) {
        const char *sdp = s_str(params, "sdp");
        if (!sdp)
            return s_error(self, conn, id, -32602, "Invalid params: sdp");
        if (self->media)
            sim_media_remote_answer(self->media, c->ccid, sdp);
        s_result(self, conn, id,
                 json_pack("{s:s, s:s}", "callID", c->call_id, "sessid", s->sessid));
        if (strcmp(method, "telnyx_rtc.answer") == 0 && c->to_sdk && !c->answered) {
            c->answered = 1;
            if (self->media)
                sim_media_tone(self->media, c->ccid, SIM_TONE_TALK);
            sim_model_rtc_answered(self->model, c->ccid, now);
        }
        return;
    }
    if (strcmp(method, "telnyx_rtc.modify") == 0) {
        const char *action = s_str(params, "action");
        int hold;
        if (action && strcmp(action, "hold") == 0)
            hold = 1;
        else if (action && strcmp(action, "unhold") == 0)
            hold = 0;
        else if (action && strcmp(action, "toggleHold") == 0)
            hold = !c->held;
        else
            return s_error(self, conn, id, -32602,
                           "Invalid params: action is hold, unhold or toggleHold");
        s_result(self, conn, id,
                 json_pack("{s:s, s:s, s:s}", "callID", c->call_id, "action", action, "holdState",
                           hold ? "held" : "active"));
        if (hold != c->held) {
            c->held = hold;
            sim_model_rtc_hold(self->model, c->ccid, hold, now);
        }
        return;
    }
    if (strcmp(method, "telnyx_rtc.info") == 0) {
        /* The browser sends no RFC 4733 packets: its info is the DTMF (§4). */
        const char *dtmf = s_str(params, "dtmf");
        if (dtmf)
            sim_model_rtc_dtmf(self->model, c->ccid, dtmf, now);
        return s_result(self, conn, id, json_pack("{s:s}", "callID", c->call_id));
    }
}

void sim_rtc_message(sim_rtc_t *self, uint64_t conn, const char *text, size_t len, int64_t now)
{
    self->frames_in++;
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    if (!msg) {
        s_error(self, conn, NULL, -32700, "Parse error");
    } else if (!json_is_object(msg)) {
        s_error(self, conn, NULL, -32600, "Invalid Request");
    } else {
        json_t *id = json_object_get(msg, "id");
        const char *method = s_str(msg, "method");
        const json_t *params = json_object_get(msg, "params");
        if (method) {
            if (params && !json_is_object(params))
                s_error(self, conn, id, -32602, "Invalid params");
            else if (params)
                s_request_in(self, conn, method, id, params, now);
            else {
                json_t *none = json_object();
                s_request_in(self, conn, method, id, none, now);
                json_decref(none);
            }
        } else if (!json_object_get(msg, "result") && !json_object_get(msg, "error")) {
            s_error(self, conn, id, -32600, "Invalid Request");
        }
        /* else: the SDK's ack of one of our requests (§0): nothing to do */
    }
    json_decref(msg);
    sim_rtc_apply(self, now);
}

void sim_rtc_open(sim_rtc_t *self, uint64_t conn, int64_t now)
{
    (void)self;
    (void)now;
    cs_debug("rtc: socket %llu open", (unsigned long long)conn);
}

void sim_rtc_closed(sim_rtc_t *self, uint64_t conn, int64_t now)
{
    s_session_t *s = s_session_of(self, conn);
    char key[24];
    s_key(conn, key, sizeof key);
    if (s && s->conn == conn) {
        s->conn = 0;
        s->gone_since = now;
        cs_info("rtc: %s's socket closed; calls kept %d s for a reconnect", s->user,
                S_GRACE_MS / 1000);
    }
    zhashx_delete(self->conns, key);
    /* A /phone tab that goes takes its numbers and calls with it. */
    zlistx_t *gone = zlistx_new();
    zlistx_set_destructor(gone, s_free);
    for (s_phone_t *p = zhashx_first(self->phones); p; p = zhashx_next(self->phones))
        if (p->conn == conn)
            zlistx_add_end(gone, strdup(p->number));
    for (const char *n = zlistx_first(gone); n; n = zlistx_next(gone))
        zhashx_delete(self->phones, n);
    zlistx_purge(gone);
    for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls))
        if (c->phone && c->phone_conn == conn)
            zlistx_add_end(gone, strdup(c->ccid));
    for (const char *ccid = zlistx_first(gone); ccid; ccid = zlistx_next(gone)) {
        s_call_t *c = zhashx_lookup(self->by_ccid, ccid);
        if (c)
            s_forget(self, c);
        sim_model_rtc_hangup(self->model, ccid, now);
    }
    zlistx_destroy(&gone);
}

/* ---- model events ---- */

/* The newest session of a user with a socket. (Telnyx may fork a call to
 * every registration of a credential; the sim rings the newest only.) */
static s_session_t *s_user_session(sim_rtc_t *self, const char *user)
{
    s_session_t *best = NULL;
    for (s_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions))
        if (s->conn && strcmp(s->user, user) == 0 && (!best || s->login_seq > best->login_seq))
            best = s;
    return best;
}

static void s_event_invite(sim_rtc_t *self, const json_t *e, int64_t now)
{
    const char *ccid = s_str(e, "ccid");
    s_session_t *s = s_user_session(self, s_str(e, "user"));
    if (!s) {
        sim_model_rtc_unreachable(self->model, ccid, now);
        return;
    }
    s_call_t *c = calloc(1, sizeof *c);
    cs_ids_uuid(c->call_id);
    CS_COPY(c->ccid, ccid);
    CS_COPY(c->leg_id, s_str(e, "leg_id"));
    CS_COPY(c->session_id, s_str(e, "session_id"));
    CS_COPY(c->sessid, s->sessid);
    CS_COPY(c->user, s->user);
    c->to_sdk = 1;
    c->want_invite = 1;
    const char *from = s_str(e, "from"), *state = s_str(e, "client_state");
    const json_t *headers = json_object_get(e, "custom_headers");
    c->invite =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "callID", c->call_id, "caller_id_name", from,
                  "caller_id_number", from, "callee_id_name", s->user, "callee_id_number", s->user);
    s_ids(c->invite, c);
    if (state && *state)
        json_object_set_new(c->invite, "client_state", json_string(state));
    json_object_set_new(
        c->invite, "dialogParams",
        json_pack("{s:o}", "custom_headers",
                  json_is_array(headers) ? json_incref((json_t *)headers) : json_array()));
    zhashx_insert(self->calls, c->call_id, c);
    zhashx_insert(self->by_ccid, c->ccid, c);
    if (self->media)
        sim_media_offer(self->media, c->ccid, SIM_TONE_SILENT);
}

static void s_event_phone_ring(sim_rtc_t *self, const json_t *e, int64_t now)
{
    const char *ccid = s_str(e, "ccid");
    s_phone_t *p = zhashx_lookup(self->phones, s_str(e, "number"));
    if (!p) {
        sim_model_rtc_unreachable(self->model, ccid, now);
        return;
    }
    s_call_t *c = calloc(1, sizeof *c);
    CS_COPY(c->call_id, ccid);
    CS_COPY(c->ccid, ccid);
    c->phone = 1;
    c->to_sdk = 1;
    c->phone_conn = p->conn;
    zhashx_insert(self->calls, c->call_id, c);
    zhashx_insert(self->by_ccid, c->ccid, c);
    s_request(
        self, p->conn, "phone.ring",
        json_pack("{s:s, s:s, s:s}", "call", ccid, "from", s_str(e, "from"), "to", p->number));
}

static void s_event_bye(sim_rtc_t *self, s_call_t *c, const json_t *e)
{
    const char *name;
    int code;
    s_cause(s_str(e, "cause"), &name, &code);
    uint64_t conn = s_conn_of(self, c);
    if (c->phone) {
        if (conn)
            s_request(self, conn, "phone.bye",
                      json_pack("{s:s, s:s, s:s}", "call", c->ccid, "cause", s_str(e, "cause"),
                                "sdk_cause", name));
        s_forget(self, c);
        return;
    }
    const char *sip = s_str(e, "sip");
    int sip_code = sip ? (int)strtol(sip, NULL, 10) : 0;
    /* Before the SDK has the call (an invite still waiting for its offer)
     * there is nobody to tell. */
    if (conn && (!c->to_sdk || c->invite_sent)) {
        json_t *p =
            json_pack("{s:s, s:s, s:i}", "callID", c->call_id, "cause", name, "causeCode", code);
        if (sip_code > 0) {
            json_object_set_new(p, "sipCode", json_integer(sip_code));
            json_object_set_new(p, "sipReason",
                                json_string(sip_code == 200   ? "OK"
                                            : sip_code == 486 ? "Busy Here"
                                            : sip_code == 487 ? "Request Terminated"
                                            : sip_code == 603 ? "Decline"
                                            : sip_code == 480 ? "Temporarily Unavailable"
                                                              : "Error"));
        }
        s_request(self, conn, "telnyx_rtc.bye", p);
    }
    s_forget(self, c);
}

void sim_rtc_apply(sim_rtc_t *self, int64_t now)
{
    json_t *events = sim_model_rtc_outbox(self->model);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        const char *type = s_str(e, "type"), *ccid = s_str(e, "ccid");
        if (strcmp(type, "invite") == 0) {
            s_event_invite(self, e, now);
            continue;
        }
        if (strcmp(type, "phone_ring") == 0) {
            s_event_phone_ring(self, e, now);
            continue;
        }
        if (strcmp(type, "bridged") == 0) {
            if (self->media)
                sim_media_link(self->media, ccid, s_str(e, "peer"));
            continue;
        }
        s_call_t *c = zhashx_lookup(self->by_ccid, ccid);
        if (!c)
            continue; /* the browser already let go of it */
        if (strcmp(type, "early") == 0) {
            c->want_early = 1;
            if (self->media)
                sim_media_tone(self->media, c->ccid,
                               json_is_true(json_object_get(e, "ringback")) ? SIM_TONE_RINGBACK
                                                                            : SIM_TONE_SILENT);
            s_flush(self, c);
        } else if (strcmp(type, "answer") == 0) {
            c->want_answer = 1;
            c->answered = 1;
            if (self->media)
                sim_media_tone(self->media, c->ccid, SIM_TONE_TALK);
            s_flush(self, c);
        } else if (strcmp(type, "bye") == 0) {
            s_event_bye(self, c, e);
        }
    }
    json_decref(events);
}

void sim_rtc_local_sdp(sim_rtc_t *self, const char *ccid, const char *sdp, int64_t now)
{
    s_call_t *c = zhashx_lookup(self->by_ccid, ccid);
    if (!c)
        return;
    if (!sdp) {
        /* No media: the leg cannot work; end it as a media failure would. */
        cs_warn("rtc: no media for %s: hanging it up", ccid);
        uint64_t conn = s_conn_of(self, c);
        if (conn && (!c->to_sdk || c->invite_sent))
            s_request(self, conn, "telnyx_rtc.bye",
                      json_pack("{s:s, s:s, s:i}", "callID", c->call_id, "cause",
                                "INCOMPATIBLE_DESTINATION", "causeCode", 88));
        char id[96];
        CS_COPY(id, ccid);
        s_forget(self, c);
        sim_model_rtc_hangup(self->model, id, now);
        sim_rtc_apply(self, now);
        return;
    }
    free(c->local_sdp);
    c->local_sdp = strdup(sdp);
    s_flush(self, c);
}

/* A session that came back with reattached calls whose media has stopped:
 * the page was reloaded (the SDK kept its session across, with
 * hangupOnBeforeUnload off), and the new page has no call. It takes an
 * attach with a fresh offer (§6: an SDK without calls answers the first
 * attach as the call to recover). */
static int64_t s_media_checks(sim_rtc_t *self, int64_t now)
{
    int64_t next = 0;
    for (s_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions)) {
        if (!s->media_check_at)
            continue;
        if (now < s->media_check_at) {
            if (!next || s->media_check_at < next)
                next = s->media_check_at;
            continue;
        }
        s->media_check_at = 0;
        for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls)) {
            sim_media_stats_t st;
            if (strcmp(c->sessid, s->sessid) != 0 || !c->answered || c->held || c->phone ||
                !self->media || sim_media_stats(self->media, c->ccid, &st) != 0 || !st.last_rx_at ||
                now - st.last_rx_at <= S_MEDIA_GONE_MS)
                continue;
            cs_info("rtc: %s's call %s has no media since its page went: attach", s->user,
                    c->call_id);
            s_reattach(self, c, s->sessid); /* the offer comes by sim_rtc_local_sdp */
        }
    }
    return next;
}

int64_t sim_rtc_tick(sim_rtc_t *self, int64_t now)
{
    int64_t next = s_media_checks(self, now);
    zlistx_t *gone = zlistx_new();
    for (s_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions)) {
        if (s->conn || !s->gone_since)
            continue;
        if (now - s->gone_since >= S_GRACE_MS)
            zlistx_add_end(gone, s);
        else if (!next || s->gone_since + S_GRACE_MS < next)
            next = s->gone_since + S_GRACE_MS;
    }
    for (s_session_t *s = zlistx_first(gone); s; s = zlistx_next(gone)) {
        zlistx_t *ended = zlistx_new();
        zlistx_set_destructor(ended, s_free);
        for (s_call_t *c = zhashx_first(self->calls); c; c = zhashx_next(self->calls))
            if (strcmp(c->sessid, s->sessid) == 0)
                zlistx_add_end(ended, strdup(c->ccid));
        for (const char *ccid = zlistx_first(ended); ccid; ccid = zlistx_next(ended)) {
            s_call_t *c = zhashx_lookup(self->by_ccid, ccid);
            if (c)
                s_forget(self, c);
            sim_model_rtc_hangup(self->model, ccid, now);
        }
        cs_info("rtc: %s never came back: %zu call(s) ended", s->user, zlistx_size(ended));
        zlistx_destroy(&ended);
        zhashx_delete(self->sessions, s->sessid);
    }
    zlistx_destroy(&gone);
    sim_rtc_apply(self, now);
    return next;
}

int sim_rtc_drop(sim_rtc_t *self, const char *sip_user)
{
    s_session_t *s = s_user_session(self, sip_user);
    if (!s)
        return -1;
    self->io.close(self->io.arg, s->conn, 1);
    return 0;
}

json_t *sim_rtc_leg_json(sim_rtc_t *self, const char *ccid)
{
    s_call_t *c = zhashx_lookup(self->by_ccid, ccid);
    if (!c)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b}", "call_id", c->call_id, "user", c->user,
                          "sessid", c->sessid, "held", c->held, "socket", s_conn_of(self, c) != 0);
    sim_media_stats_t st;
    if (self->media && sim_media_stats(self->media, ccid, &st) == 0)
        json_object_set_new(
            o, "media",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:i}", "created_at",
                      (json_int_t)st.created_at, "rx_packets", (json_int_t)st.rx_packets,
                      "rx_bytes", (json_int_t)st.rx_bytes, "tx_packets", (json_int_t)st.tx_packets,
                      "loud_ms", (json_int_t)st.loud_ms, "connected_at",
                      (json_int_t)st.connected_at, "first_rx_at", (json_int_t)st.first_rx_at,
                      "first_tx_at", (json_int_t)st.first_tx_at, "last_peak_db", st.last_peak_db,
                      "generation", st.generation));
    return o;
}

void sim_rtc_counts(sim_rtc_t *self, long *sessions, long *calls, long *frames_in, long *refused)
{
    *sessions = 0;
    for (s_session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions))
        *sessions += s->conn != 0;
    *calls = (long)zhashx_size(self->calls);
    *frames_in = self->frames_in;
    *refused = self->refused;
}

int sim_rtc_is_phone(sim_rtc_t *self, const char *number)
{
    return zhashx_lookup(self->phones, number) != NULL;
}
