/* rtc - the telnyx_rtc WebSocket side of the sim: what the real
 * @telnyx/webrtc SDK (2.27.10) logs into and places and takes calls
 * through, as ../shared/reference/telnyx-webrtc-signaling.md describes it
 * (its §8 MUSTs and SHOULDs; the section is named where each is done).
 *
 * It is tied to the Call Control model: an SDK's invite is a parked leg
 * (model.c) that waits for a command; what the model does to a browser's
 * leg (early media, answer, hangup, a call ringing an SDK user) comes back
 * as events (sim_model_rtc_outbox) that become frames here; the far end's
 * media is media.c's.
 *
 * Not thread-safe: the caller holds the sim's lock around every call, as
 * for the model. Frames leave through the send callback (which must not
 * block: cs_web_send queues). */
#ifndef SIM_RTC_H
#define SIM_RTC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "media.h"
#include "model.h"

typedef struct sim_rtc sim_rtc_t;

typedef struct {
    void *arg;
    int (*send)(void *arg, uint64_t conn, const char *text, size_t len);
    void (*close)(void *arg, uint64_t conn, int abrupt);
} sim_rtc_io_t;

/* media may be NULL (unit tests): then local SDPs come only from
 * sim_rtc_local_sdp. */
sim_rtc_t *sim_rtc_new(sim_model_t *model, sim_creds_t *creds, sim_media_t *media,
                       const char *connection_id, const sim_rtc_io_t *io);
void sim_rtc_destroy(sim_rtc_t **self_p);

/* A socket opened / closed (any path and query: §8 MUST 1). */
void sim_rtc_open(sim_rtc_t *self, uint64_t conn, int64_t now);
void sim_rtc_closed(sim_rtc_t *self, uint64_t conn, int64_t now);

/* One text frame. Bad input gets a JSON-RPC error and changes nothing:
 * not JSON -32700; not a request object -32600; an unknown method -32601;
 * bad params -32602; any request but login before login -32000 (the SDK
 * logs in again); a refused login -32001 (the SDK's LOGIN_FAILED). */
void sim_rtc_message(sim_rtc_t *self, uint64_t conn, const char *text, size_t len, int64_t now);

/* Turns the model's rtc events into frames and media; call after every
 * change to the model. */
void sim_rtc_apply(sim_rtc_t *self, int64_t now);

/* media.c's answer or offer for a leg is ready (sdp NULL: it failed). */
void sim_rtc_local_sdp(sim_rtc_t *self, const char *ccid, const char *sdp, int64_t now);

/* Ends the calls of sessions whose socket has been gone too long (the
 * SDK gave up reconnecting). Returns the next time it needs a tick (0:
 * none). */
int64_t sim_rtc_tick(sim_rtc_t *self, int64_t now);

/* For tests: cut the socket of a user's session without a close frame
 * (the network dropped). 0, or -1 when the user has none. */
int sim_rtc_drop(sim_rtc_t *self, const char *sip_user);

/* The browser side of a leg, for GET /sim/calls/{id} (new reference), or
 * NULL when the leg is not a browser's. */
json_t *sim_rtc_leg_json(sim_rtc_t *self, const char *ccid);

/* Whether a /phone page holds this number now. */
int sim_rtc_is_phone(sim_rtc_t *self, const char *number);

void sim_rtc_counts(sim_rtc_t *self, long *sessions, long *calls, long *frames_in, long *refused);

#endif
