/* callstats - the call metrics of /metrics on callsync-timer.
 *
 * Finished calls are counted from change notices: when a record arrives
 * ended, the first timer instance to claim cs:counted:<cs id> counts it
 * (calls by direction and outcome; ring, talk and post-answer audio gap
 * histograms), so several instances never count a call twice. Calls by
 * state and agents by presence are read from Redis when scraped. */
#ifndef CS_CALLSTATS_H
#define CS_CALLSTATS_H

#include "call.h"
#include "redis.h"

typedef struct cs_callstats cs_callstats_t;

cs_callstats_t *cs_callstats_new(void);
void cs_callstats_destroy(cs_callstats_t **self_p);

/* A record from a call.changed notice; counted once if it has ended.
 * redis is the caller's thread's connection (for the claim). */
void cs_callstats_record(cs_callstats_t *self, cs_redis_t *redis, const cs_call_t *call);

/* Prometheus text: the counters and histograms, then gauges read now from
 * redis (the HTTP thread's connection). Caller frees. */
char *cs_callstats_metrics(cs_callstats_t *self, cs_redis_t *redis);

#endif
