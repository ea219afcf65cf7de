/* call - the call model: facts in, record out. Pure: no I/O, no clock.
 *
 * A call record is one conversation with up to CS_MAX_LEGS legs, each a
 * Telnyx call_control_id. Everything known about it is a fact, and every
 * fact merges as a join: set-once facts keep the best claim by a total
 * order (stronger source, then earlier time, then smaller value), toggles
 * keep the latest claim. So cs_call_merge() is commutative, associative
 * and idempotent: the same set of events in any order, with any
 * duplicates, gives the same record. The state and the durations shown
 * anywhere are computed from the facts by cs_call_to_json(), never stored.
 * See proto/README.md for the JSON forms. */
#ifndef CS_CALL_H
#define CS_CALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "timestamp.h"

#define CS_ID_LEN 40    /* "cs_" + 26 ULID characters, with room */
#define CS_CCID_LEN 160 /* Telnyx call_control_id ("v3:" + ~56 base64url) */
#define CS_UUID_LEN 64  /* call_leg_id, call_session_id, event ids */
#define CS_STR_LEN 64   /* numbers, causes, names */
#define CS_URL_LEN 512  /* recording URLs */
#define CS_MAX_LEGS 8
#define CS_MAX_DTMF 64

typedef enum {
    CS_EV_UNKNOWN = 0,        /* kept in the history, changes nothing */
    CS_EV_CREATED,            /* a dial intent: relay, ctl or the CRM created the call */
    CS_EV_INITIATED,          /* call.initiated */
    CS_EV_ANSWERED,           /* call.answered */
    CS_EV_BRIDGED,            /* call.bridged */
    CS_EV_HANGUP,             /* call.hangup */
    CS_EV_HOLD,               /* call.hold */
    CS_EV_UNHOLD,             /* call.unhold */
    CS_EV_RECORDING_SAVED,    /* call.recording.saved */
    CS_EV_DTMF,               /* call.dtmf.received */
    CS_EV_MACHINE,            /* call.machine.*detection.ended / greeting.ended */
    CS_EV_SDK_STATE,          /* the softphone's SDK reported a call state */
    CS_EV_MEDIA_CONNECTED,    /* the softphone's ICE/DTLS is up */
    CS_EV_FIRST_AUDIO,        /* first remote audio packet at the softphone */
    CS_EV_HANGUP_REQUESTED,   /* an agent, operator or the CRM asked to end the call */
    CS_EV_TRANSFER_REQUESTED, /* an agent hands the call on and leaves: ccid = its leg,
                                 value = "blind" | "warm", to = the target (see below) */
    CS_EV_CONSULT_REQUESTED,  /* an agent consults before a warm transfer: to = the target */
    CS_EV_WRAPUP,             /* an agent's wrap-up: disposition, value = notes, agent_id */
    CS_EV_TRANSFER_FAILED,    /* the orchestrator could not carry a transfer out (Telnyx
                                 refused the command, the target has no phone): ccid = the
                                 leaving leg, at = the time of the request it answers,
                                 value = why, disposition = "kept" when the leaving leg was
                                 still in the call (its party keeps the call) or "left" */
    CS_EV_TRANSFER_COMPLETED, /* the orchestrator bridged the customer to the consulted leg a
                                 warm request named: ccid = the leaving leg, at = the time
                                 of the request it answers */
} cs_event_kind_t;

typedef enum { CS_SRC_WEBHOOK = 0, CS_SRC_SDK, CS_SRC_COMMAND } cs_source_t;

/* One fact-bearing event, normalized from a webhook, an SDK report or a
 * command. Empty strings mean "not said". */
typedef struct {
    cs_event_kind_t kind;
    cs_source_t source;
    char type[CS_STR_LEN]; /* event_type as received, e.g. "call.answered" */
    char id[CS_UUID_LEN];  /* data.id: the dedupe key */
    cs_clock_t clock;
    int64_t at; /* occurred_at, ms */
    char ccid[CS_CCID_LEN];
    char leg_id[CS_UUID_LEN];
    char session_id[CS_UUID_LEN];
    char role[16];      /* "agent" | "customer" | "transfer" | "consult" | "consulted" */
    int role_rank;      /* 2: said by client_state, 1: inferred */
    char direction[16]; /* Telnyx's "incoming" | "outgoing"; CREATED: "inbound" | "outbound" */
    char from[CS_STR_LEN];
    char to[CS_STR_LEN];
    char cs_hint[CS_ID_LEN]; /* the cs id carried in client_state */
    char agent_id[CS_STR_LEN];
    char hangup_cause[CS_STR_LEN];
    char hangup_source[16];
    char sip_code[16];
    char value[CS_URL_LEN];       /* digit, recording URL, machine result, SDK state; CREATED: flow;
                                     WRAPUP: notes */
    char disposition[CS_STR_LEN]; /* WRAPUP: how the call went, in the agent's words;
                                     TRANSFER_FAILED: "kept" | "left" */
} cs_event_t;

/* A set-once string: the best claim by (rank desc, at asc, value asc). */
typedef struct {
    char v[CS_STR_LEN];
    int64_t at;
    int rank;
} cs_sfact_t;

/* A set-once time: the best claim by (clock desc, at asc). at == 0: unknown. */
typedef struct {
    int64_t at;
    cs_clock_t clock;
} cs_tfact_t;

typedef struct {
    char ccid[CS_CCID_LEN];
    char leg_id[CS_UUID_LEN];
    char session_id[CS_UUID_LEN];
    cs_sfact_t role, direction, from, to;
    cs_sfact_t agent; /* the agent this leg rings (our client_state says) */
    cs_tfact_t initiated, answered, bridged, ended;
    /* The hangup's strings, ranked by the hangup's time so that the earliest
     * hangup report of the leg decides all three together. */
    cs_sfact_t hangup_cause, hangup_source, sip_code;
    cs_tfact_t sdk_ended; /* the SDK holding this leg hung up (its report named the leg) */
    /* The leg's party hands the call on and leaves: a blind transfer (to:
     * "+E.164" or an agent id), or a warm transfer (to: the control id of
     * the consulted leg that is to take over). The latest request wins,
     * all three together, so a transfer that failed can be asked again.
     * Its end then does not end the call (cs_call_leg_left). */
    cs_tfact_t xfer;
    cs_sfact_t xfer_mode, xfer_to;
    /* The request of xfer_fail_at failed, for the reason xfer_fail; kept:
     * the leg was still in the call then, and its party keeps it. The
     * latest request answered wins (ties: kept, then the larger reason). */
    int64_t xfer_fail_at;
    bool xfer_kept;
    char xfer_fail[CS_STR_LEN];
    /* The warm request of xfer_done_at was carried out: the customer is
     * bridged to the consulted leg, which owns the call from then on. A
     * request alone hands nothing over: the colleague may hang up before
     * the bridge, and the call must stay with the agent who asked. */
    int64_t xfer_done_at;
} cs_leg_t;

typedef struct {
    int64_t at;
    char digit[8];
} cs_dtmf_t;

typedef struct {
    char id[CS_ID_LEN];
    uint64_t version;     /* bumped by the store on every change; not a fact */
    cs_sfact_t direction; /* said by the creator ("outbound" | "inbound") */
    cs_sfact_t agent_id;  /* said by the creator, or by an event naming no leg */
    cs_sfact_t from, to;  /* said by the creator */
    cs_sfact_t flow;      /* said by the creator: "server_dial" | "browser" */
    cs_tfact_t created;
    int nlegs;
    cs_leg_t legs[CS_MAX_LEGS]; /* sorted by ccid */
    cs_tfact_t sdk_answered, sdk_ended, media_connected, first_audio;
    /* Asked to end (Hang up, callsync-ctl hangup, the CRM): an ending fact,
     * so the call is ended at once and the rules hang up every live leg
     * until none is left; a lost bus message cannot undo it. */
    cs_tfact_t hangup_requested;
    cs_sfact_t hangup_by; /* who asked first: an agent id, "callsync-ctl", "max duration"... */
    bool hold;            /* last writer wins by event time */
    int64_t hold_at;
    char hold_leg[CS_CCID_LEN]; /* the leg that put it on hold: held only while it is there */
    char sdk_state[16];         /* last writer wins by event time */
    int64_t sdk_state_at;
    char recording_url[CS_URL_LEN]; /* last writer wins */
    int64_t recording_at;
    cs_sfact_t machine;       /* answering machine detection result */
    char consult[CS_STR_LEN]; /* the latest consult's target ("+E.164" or an agent id) */
    int64_t consult_at;
    /* The agent's wrap-up: the latest one wins, all three together (ties by
     * the larger disposition, then notes). */
    char disposition[CS_STR_LEN], notes[CS_URL_LEN], wrapup_by[CS_STR_LEN];
    int64_t wrapup_at;
    int ndtmf;
    cs_dtmf_t dtmf[CS_MAX_DTMF]; /* sorted by (at, digit) */
} cs_call_t;

typedef enum {
    CS_STATE_DIALING,
    CS_STATE_RINGING,
    CS_STATE_ACTIVE,
    CS_STATE_HELD,
    CS_STATE_ENDED
} cs_state_t;

/* Starts an empty record with the given id. */
void cs_call_init(cs_call_t *call, const char *id);

/* Merges one event. Returns true when the record changed. Events the model
 * does not use (CS_EV_UNKNOWN) change nothing; so does a leg beyond
 * CS_MAX_LEGS (reported by *dropped_leg when not NULL). */
bool cs_call_merge(cs_call_t *call, const cs_event_t *ev, bool *dropped_leg);

cs_state_t cs_call_state(const cs_call_t *call);

/* The call's agent as cs_call_to_json shows it ("" when none). */
const char *cs_call_agent(const cs_call_t *call);

/* Whether the leg is the agent's: it names the agent, or it names nobody,
 * is of the agent's own side (not the customer's, nor a number the call
 * was transferred or consulted to), and the agent is the creator's (the
 * SDK's own call). */
bool cs_call_leg_is_agents(const cs_call_t *call, const cs_leg_t *leg, const char *agent);

/* The call's leg with this control id (borrowed from call), or NULL. */
const cs_leg_t *cs_call_leg(const cs_call_t *call, const char *ccid);

/* The live leg through which an agent takes part in the call: its own leg
 * (one naming it, or for the creator's agent one naming nobody: the SDK's
 * own call), not the customer's, not a consult call, not one transferred
 * away; an answered one first. NULL when it has none. */
const cs_leg_t *cs_call_agent_leg(const cs_call_t *call, const char *agent);

/* Whether the leg's latest transfer request stands: asked, and not failed. */
bool cs_call_leg_transferring(const cs_leg_t *leg);

/* Whether the leg's party has left the call by a transfer: its request
 * stands, or it failed after the leg had gone. Such a leg's end ends
 * nothing, and it is nobody's way into the call. */
bool cs_call_leg_left(const cs_leg_t *leg);

/* Every agent the call has involved (its creator's, every leg's), for
 * pushing the record to each; returns how many were written to out[]. */
int cs_call_agents(const cs_call_t *call, const char *out[], int max);

/* When the conversation began (the record's answered_at, from which
 * talk_seconds counts), in ms since the epoch; 0 before the answer. */
int64_t cs_call_answered_at(const cs_call_t *call);

/* When the call ended (the record's ended_at), in ms since the epoch; 0
 * while it has not. */
int64_t cs_call_ended_at(const cs_call_t *call);

/* "outbound" | "inbound" | NULL while unknown (see cs_call_to_json). */
const char *cs_call_direction(const cs_call_t *call);
const char *cs_state_name(cs_state_t state);

/* The record as shown to people and programs (ctl, the CRM API, the UI):
 * facts plus derived state and durations. New reference. */
json_t *cs_call_to_json(const cs_call_t *call);

/* The stored form: every fact with its rank and time, so merges can go on
 * after a round trip. to_store returns a new reference; from_store returns
 * 0, or -1 with a message for a malformed document. */
json_t *cs_call_to_store(const cs_call_t *call);
int cs_call_from_store(cs_call_t *call, const json_t *doc, char *err, size_t errlen);

/* The record as bytes for an in-process cache (common/callcache.c): the
 * struct without its unused leg and DTMF slots, so that a two-leg call
 * takes ~4.7 KB instead of 13 and its unpack is a few copies instead of a
 * JSON parse. Not a stored or wire format: only the binary that packed it
 * may unpack it. pack writes cs_call_packed_size(call) bytes to out;
 * unpack returns 0, or -1 (call untouched) when the bytes are not a
 * packed record. */
size_t cs_call_packed_size(const cs_call_t *call);
void cs_call_pack(const cs_call_t *call, void *out);
int cs_call_unpack(cs_call_t *call, const void *in, size_t len);

/* An event as kept in the call's history, written with the record as it is
 * after the event was merged (new reference). Compact: it names its leg by
 * a short ref and leaves out leg fields equal to the record's. */
json_t *cs_call_history_entry(const cs_call_t *call, const cs_event_t *ev, int64_t received_at);

/* Reads a history entry back, given the record as stored now (whose legs
 * the entry refers to). 0, or -1 with a message. */
int cs_call_history_event(const cs_call_t *call, const json_t *entry, cs_event_t *ev,
                          int64_t *received_at, char *err, size_t errlen);

const char *cs_event_kind_name(cs_event_kind_t kind);

#endif
