/* webhook - a Telnyx Call Control v2 webhook body, validated and mapped to
 * a cs_event_t. Pure: bytes in, event out.
 *
 * What a body must be (anything else is "not a Telnyx v2 event", HTTP 400):
 *   {"data": {"event_type": "<a.b[.c]>", "id": "<1..63 chars>",
 *             "occurred_at": "<RFC 3339>", "record_type": "event",
 *             "payload": {...}}, "meta": {...}?}
 * A call event the model uses (call.initiated, .answered, .bridged, .hangup,
 * .hold, .unhold, .dtmf.received, .machine.*) must carry a string
 * payload.call_control_id; call.recording.saved may instead carry
 * call_leg_id or call_session_id (Telnyx's spec leaves the control id out).
 * Other event types are valid and map to CS_EV_UNKNOWN: kept, not merged. */
#ifndef CS_WEBHOOK_H
#define CS_WEBHOOK_H

#include <stddef.h>

#include "call.h"

/* Parses and maps a body. Returns 0, or -1 with a reason in err (for the
 * 400 response and the log). ev is valid only on 0. */
int cs_webhook_parse(const char *body, size_t len, cs_event_t *ev, char *err, size_t errlen);

/* Reads our own client_state (base64 of {"cs":…, "role":…, "agent":…}) into
 * ev. Anything else in client_state belongs to someone else and is ignored. */
void cs_webhook_client_state(const char *b64, cs_event_t *ev);

#endif
