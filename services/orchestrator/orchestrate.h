/* orchestrate - carries out what flows.c says a call needs, against the
 * Telnyx REST API, exactly once across instances:
 *
 *   1. skip an intent marked done (cs:done:<key>);
 *   2. claim it (SET cs:claim:<key> NX PX 15000): one instance wins;
 *   3. send the command with command_id = <key>, so a resend after a crash
 *      between claim and send (the claim expires, the sweep claims again)
 *      is ignored by Telnyx if the first one had gone out;
 *   4. mark it done unless it failed in a way worth retrying (no answer,
 *      5xx): then the claim just expires and the sweep tries again.
 * Error 90018 ("already ended") counts as done. Every command and its
 * outcome goes into the call's history as a fact (callsync-ctl events).
 *
 * Presence follows the calls: the call's agent goes available -> busy while
 * the call is answered, busy -> wrap_up when it ends, and a durable timer
 * (wrapup_end, run by callsync-timer) takes them back to available after
 * CALLSYNC_WRAPUP_S. Transitions only move from the expected status, so an
 * agent who went offline meanwhile stays offline, and only on a version of
 * the call at least as new as the last that moved the agent: a notice that
 * arrives late, or a record read just before another instance saw the
 * agent's leg end, cannot put them back to busy (cs_agent_follow_call).
 * Single-threaded: one orchestrate per thread. */
#ifndef CS_ORCHESTRATE_H
#define CS_ORCHESTRATE_H

#include "call.h"
#include "bus.h"
#include "store.h"
#include "telnyx.h"

typedef struct cs_orch cs_orch_t;

typedef struct {
    const char *connection_id; /* TELNYX_CONNECTION_ID */
    const char *caller_id;     /* CALLSYNC_CALLER_ID: from number of the calls we dial */
    int ring_timeout_s;        /* CALLSYNC_RING_TIMEOUT_S: how long one agent rings */
    int wrapup_s;              /* CALLSYNC_WRAPUP_S: after a call, before available again */
    int stuck_s;               /* CALLSYNC_STUCK_S: dialing/ringing longer than this ends */
    int max_call_s;            /* CALLSYNC_MAX_CALL_S: talking longer than this ends */
    int alive_check_s;         /* CALLSYNC_ALIVE_CHECK_S: ask Telnyx about live legs */
    int queue_wait_s;          /* CALLSYNC_QUEUE_WAIT_S: an inbound caller waits for an agent */
} cs_orch_config_t;

/* store, api and notices are borrowed and must outlive it. notices (may
 * be NULL: none sent) publishes call.changed for every record the
 * orchestrator's own facts change (a transfer failed or completed). */
cs_orch_t *cs_orch_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *notices,
                       const cs_orch_config_t *cfg);
void cs_orch_destroy(cs_orch_t **self_p);

/* Runs the flow rules for one record (from a notice or a read). */
void cs_orch_call(cs_orch_t *self, const cs_call_t *call);

/* Reads a call by cs id and runs its rules (cmd.dial wakes this). */
void cs_orch_wake(cs_orch_t *self, const char *cs_id);

/* cmd.hangup: hang up every live leg of the call; with ccid (the command
 * names a leg), that leg only (an agent leaving its part of the call: a
 * consult it cancels, a call ringing in it declines). */
void cs_orch_hangup(cs_orch_t *self, const char *cs_id, const char *ccid);

/* cmd.dtmf / cmd.record: a command for the call's customer leg (else its
 * first live leg): send_dtmf with `digits`, or record_start/record_stop.
 * command_id comes from the command, so a resend is deduped by Telnyx. */
void cs_orch_leg_command(cs_orch_t *self, const char *cs_id, const char *action, const char *digits,
                         const char *command_id);

/* Runs the rules for every active call: what lost notices missed. */
void cs_orch_sweep(cs_orch_t *self);

/* The inbound calls waiting for an agent (cs:waiting) look again, the
 * longest waiting first: an agent may have become free (agent.changed).
 * The sweep looks too, every 2 s. */
void cs_orch_queue_wake(cs_orch_t *self);

/* Whether the rules run since the last ask ended an agent's offer (they
 * may be free with no agent.changed: rung out, declined); clears it. The
 * caller wakes the line then, not from inside the rules. */
int cs_orch_line_due(cs_orch_t *self);

/* Prometheus text (caller frees). */
char *cs_orch_metrics(cs_orch_t *self);

#endif
