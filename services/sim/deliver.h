/* deliver - the sim's webhook delivery, as Telnyx does it: the v2 envelope
 * with meta.attempt and meta.delivered_to, signed with Ed25519 over
 * "timestamp|body" (headers telnyx-signature-ed25519, telnyx-timestamp),
 * a 2 s timeout, and retries.
 *
 * Retry policy (Telnyx documents none; this is the sim's): a timeout, a
 * connection error, 5xx, 408 or 429 is retried after 0.2, 0.4, 0.8, 1.6 s
 * (5 attempts); any other status ends it. When the primary URL has failed
 * every attempt and a failover URL is set, the failover gets the same 5
 * attempts. Faults for tests (POST /sim/faults): duplicate_rate (0..1: the
 * share of webhooks delivered twice), reorder_ms (a random extra delay up to
 * it), delay_ms (a fixed extra delay), fail_first_attempts (attempts that
 * are dropped as if they timed out). One thread with libcurl multi sends
 * everything, many at once. */
#ifndef SIM_DELIVER_H
#define SIM_DELIVER_H

#include <jansson.h>

#include "model.h"

typedef struct sim_deliver sim_deliver_t;

/* Starts the delivery thread; seed is the 32-byte Ed25519 signing seed. */
sim_deliver_t *sim_deliver_new(const unsigned char seed[32]);
void sim_deliver_destroy(sim_deliver_t **self_p);

/* Takes a model outbox ([{"url","failover","event"}]; stolen). */
void sim_deliver_push(sim_deliver_t *self, json_t *outbox);

int sim_deliver_faults(sim_deliver_t *self, const json_t *body, sim_error_t *err);

/* The last attempts, oldest first, optionally only those of one call
 * control id (new reference). */
json_t *sim_deliver_log(sim_deliver_t *self, const char *ccid);

/* base64 of the public key. */
const char *sim_deliver_public_key(const sim_deliver_t *self);

void sim_deliver_counts(sim_deliver_t *self, long *delivered, long *failed, long *pending);

#endif
