/* reconcile - what the timer service does when a timer fires.
 *
 *   hangup_check (scheduled 2 s after the orchestrator hung up a leg): if
 *   the record already has the leg's hangup, nothing; else ask Telnyx
 *   (GET /v2/calls/{id}); a leg that is no longer alive (or that Telnyx no
 *   longer knows) gets its hangup fact from us, at Telnyx's end_time when
 *   it gives one, cause "unspecified", source "unknown", so the call ends
 *   even when its webhook was lost; a leg still alive is checked again in
 *   5 s.
 *
 *   wrapup_end (scheduled by the orchestrator when a call ends): the agent
 *   goes wrap_up -> available, unless they left wrap_up meanwhile.
 *
 *   alive_check (scheduled by the orchestrator every CALLSYNC_ALIVE_CHECK_S
 *   of a call's life, on fixed points from its start): each live leg is
 *   asked about; one Telnyx no longer has gets its hangup fact as above, so
 *   a lost hangup webhook cannot keep a call (and its agent) busy.
 *
 *   stuck_check / max_duration (scheduled by the orchestrator at the call's
 *   start + CALLSYNC_STUCK_S, at its answer + CALLSYNC_MAX_CALL_S): a call
 *   still dialing or ringing, or still talking, gets a hangup request (an
 *   ending fact; the orchestrator then hangs up every live leg). */
#ifndef CS_RECONCILE_H
#define CS_RECONCILE_H

#include <jansson.h>

#include "bus.h"
#include "store.h"
#include "telnyx.h"

typedef struct cs_reconcile cs_reconcile_t;

/* store, api and bus (may be NULL) are borrowed. */
cs_reconcile_t *cs_reconcile_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *bus);
void cs_reconcile_destroy(cs_reconcile_t **self_p);

/* Takes and runs every due timer; returns how many ran, -1 if Redis is down. */
int cs_reconcile_run(cs_reconcile_t *self);

/* Prometheus text (caller frees). */
char *cs_reconcile_metrics(cs_reconcile_t *self);

#endif
