/* model - the sim's Telnyx Call Control state: legs, sessions, bridges,
 * scripted far ends and their timers. No I/O and no clock of its own: the
 * caller passes `now` and holds one lock around every call, and the
 * webhooks a change causes are collected in an outbox (sim_model_outbox)
 * for the delivery thread. Behaviour follows ../shared/reference/
 * telnyx-call-control.md; where Telnyx is silent, the choice is written at
 * the place it is made. */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <jansson.h>
#include <stdint.h>

typedef struct sim_model sim_model_t;

/* An error as Telnyx shapes it: HTTP status + one entry of "errors". */
typedef struct {
    int status;
    char code[8];
    char title[64];
    char detail[200];
    char pointer[48];
} sim_error_t;

/* Fills err; returns -1, so `return sim_error(...)` reads as a refusal. */
int sim_error(sim_error_t *err, int status, const char *code, const char *title, const char *detail,
              const char *pointer);

/* How a dialled number behaves (POST /sim/numbers sets more). */
typedef struct {
    char number[32];
    int ring_ms;           /* until answer or failure; -1: rings until timeout_secs */
    int early_media;       /* ringback before the answer */
    int answer;            /* answers after ring_ms */
    int hangup_after_ms;   /* the callee hangs up this long after answering; 0: never */
    char hangup_cause[32]; /* when it fails or hangs up */
    char sip_code[8];
} sim_number_t;

sim_model_t *sim_model_new(const char *connection_id, const char *webhook_url,
                           const char *failover_url);
void sim_model_destroy(sim_model_t **self_p);

/* POST /v2/calls. 0 with the response's data (new reference) or -1 + err. */
int sim_model_dial(sim_model_t *self, const json_t *body, int64_t now, json_t **data,
                   sim_error_t *err);

/* POST /v2/calls/{id}/actions/{action} (and PUT client_state_update). */
int sim_model_action(sim_model_t *self, const char *ccid, const char *action, const json_t *body,
                     int64_t now, json_t **data, sim_error_t *err);

/* GET /v2/calls/{id}. */
int sim_model_status(sim_model_t *self, const char *ccid, int64_t now, json_t **data,
                     sim_error_t *err);

/* POST /sim/calls: an inbound PSTN call {from, to} to a company number on
 * the default connection. Returns the new leg (new reference). */
int sim_model_inbound(sim_model_t *self, const json_t *body, int64_t now, json_t **data,
                      sim_error_t *err);

/* POST /sim/numbers. */
int sim_model_set_number(sim_model_t *self, const json_t *body, sim_error_t *err);

/* POST /sim/faults' "refuse_actions": the Call Control actions named in it
 * (an array of action names, or absent for none) are refused from now on
 * with 422 10015, as Telnyx refuses a command it cannot carry out, until
 * the next POST. Parsed into *mask (0 with it set, or -1 + err: not an
 * array, or a name the sim does not implement); sim_model_refuse applies
 * it, so that a body refused by the other faults changes nothing. */
int sim_model_refusals_parse(const json_t *body, unsigned *mask, sim_error_t *err);
void sim_model_refuse(sim_model_t *self, unsigned mask);

/* The sim's view of a leg for tests (GET /sim/calls/{id}); NULL if unknown. */
json_t *sim_model_leg_json(sim_model_t *self, const char *ccid);

/* Fires every timer due at `now`. Returns the next due time (0: none). */
int64_t sim_model_tick(sim_model_t *self, int64_t now);

/* Takes the webhooks produced so far: [{"url", "failover", "event": {data}}]
 * (new reference, possibly empty). */
json_t *sim_model_outbox(sim_model_t *self);

/* Which far ends are browsers. is_sdk: a SIP user that is one of the sim's
 * credentials (a dial or transfer to sip:<user>@sip.telnyx.com rings that
 * user's SDK; any other SIP URI is a scripted far end, a desk phone).
 * is_phone: a number a person holds open in a /phone tab. Without them,
 * every far end is scripted. */
void sim_model_set_browsers(sim_model_t *self, int (*is_sdk)(void *arg, const char *user),
                            int (*is_phone)(void *arg, const char *number), void *arg);

/* The telnyx_rtc side (rtc.c): events for it, and what the browser does.
 *
 * sim_model_rtc_outbox takes the events since the last call (new
 * reference, possibly empty), each {"type", "ccid", ...}:
 *   invite {user, from, to, leg_id, session_id, client_state, custom_headers}
 *          a leg rings an SDK user (a dial or transfer to
 *          sip:<user>@sip.telnyx.com);
 *   early {ringback}  an SDK's own call hears its far end ring;
 *   phone_ring {number, from}  a leg rings a /phone page's number;
 *   answer            an SDK's own call was answered;
 *   bridged {peer}    two browsers' legs were bridged: link their media;
 *   bye {cause, sip}  a browser's leg ended (not by the browser itself,
 *                     or by it: the rtc side knows which). */
json_t *sim_model_rtc_outbox(sim_model_t *self);

/* An SDK's telnyx_rtc.invite: its dialogParams make a parked incoming leg
 * on connection_id. 0 with *ids {call_control_id, call_leg_id,
 * call_session_id} (new reference), or -1 + err for bad params. */
int sim_model_rtc_invite(sim_model_t *self, const char *sip_user, const char *connection_id,
                         const json_t *dialog, const char *sessid, int64_t now, json_t **ids,
                         sim_error_t *err);
/* The browser answered a leg that rang it. */
void sim_model_rtc_answered(sim_model_t *self, const char *ccid, int64_t now);
/* The browser hung up (or cancelled, or rejected). */
void sim_model_rtc_hangup(sim_model_t *self, const char *ccid, int64_t now);
/* Nobody is logged in as the user a leg rings. */
void sim_model_rtc_unreachable(sim_model_t *self, const char *ccid, int64_t now);
void sim_model_rtc_hold(sim_model_t *self, const char *ccid, int hold, int64_t now);
/* DTMF from the browser: call.dtmf.received on the other leg, a digit each. */
void sim_model_rtc_dtmf(sim_model_t *self, const char *ccid, const char *digits, int64_t now);
/* The leg a leg is bridged with, or NULL (borrowed until the next call). */
const char *sim_model_peer(sim_model_t *self, const char *ccid);

/* Counters for /metrics. */
void sim_model_counts(sim_model_t *self, long *legs, long *alive, long *webhooks);

#endif
