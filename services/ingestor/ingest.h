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
#include "committer.h"
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

/* A webhook between its checks and its answer. */
typedef struct {
    cs_store_job_t store; /* what the store is asked, and what it answered */
    cs_event_t ev;
    cs_call_t call;
    double t0;  /* when its checks began (the ack latency counts from here) */
    int status; /* the answer, set by cs_ingest_check or cs_ingest_finish */
    char resp[512];
} cs_ingest_job_t;

/* Checks one POST: signature, then envelope. 0 when the webhook is to be
 * stored: job->store is ready for the store (it borrows body, which must
 * outlive the job). Else the refusal's status, also in job->status, with
 * job->resp the JSON body to answer. */
int cs_ingest_check(cs_ingest_t *self, const char *signature, const char *timestamp,
                    const char *body, size_t len, cs_ingest_job_t *job);

/* After the store has answered for a checked job: counts it, announces a
 * changed record on the bus, logs its line, and sets job->status (200, or
 * 503 when Redis could not take it: Telnyx retries) and job->resp. */
void cs_ingest_finish(cs_ingest_t *self, cs_ingest_job_t *job);

/* Counts a body refused by the HTTP layer as too large. */
void cs_ingest_count_too_large(cs_ingest_t *self);

/* Prometheus text (caller frees): the counters and histograms here, Redis
 * reachability, and what the committers have done (summed). */
char *cs_ingest_metrics(cs_ingest_t *self, int redis_up, const cs_commit_stats_t *commits);

#endif
