/* ingest - what the ingestor does with one webhook, apart from HTTP:
 * verify, validate, store durably, then announce. Each refusal class has
 * its status (ARCHITECTURE §5), a counter, and one log line with the reason
 * and the event id when known; nothing is stored for any 4xx.
 *
 *   401  missing/invalid signature or timestamp outside the tolerance
 *   400  not a Telnyx v2 event (reason in the body)
 *   413  body over CS_INGEST_MAX_BODY (decided by the HTTP layer)
 *   503  Redis could not take the write: Telnyx retries, nothing is lost
 *   200  stored, or a duplicate of a stored data.id (changes nothing) */
#ifndef CS_INGEST_H
#define CS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "metrics.h"
#include "store.h"
#include "verify.h"

#define CS_INGEST_MAX_BODY (256 * 1024)

typedef struct cs_ingest cs_ingest_t;

typedef struct {
    unsigned char public_key[CS_VERIFY_KEY_LEN];
    long tolerance_s;
} cs_ingest_config_t;

/* bus may be NULL (no notices). Borrowed: must outlive the ingest. */
cs_ingest_t *cs_ingest_new(const cs_ingest_config_t *cfg, cs_bus_t *bus);
void cs_ingest_destroy(cs_ingest_t **self_p);

/* Handles one POST. Writes a small JSON body into resp. Returns the status. */
int cs_ingest_webhook(cs_ingest_t *self, cs_store_t *store, const char *signature,
                      const char *timestamp, const char *body, size_t len, char *resp,
                      size_t resplen);

/* Counts a body refused by the HTTP layer as too large. */
void cs_ingest_count_too_large(cs_ingest_t *self);

/* Prometheus text (caller frees). */
char *cs_ingest_metrics(cs_ingest_t *self, int redis_up);

#endif
