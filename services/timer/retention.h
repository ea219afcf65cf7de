/* retention - how long Redis keeps a finished call (CALLSYNC_RETENTION_S).
 *
 * Nothing of a call expires by itself: its record, history and indexes
 * stay until something removes them, and Redis holds them all in memory
 * (and rewrites them all into each AOF base). The timer service sweeps:
 * every minute it removes the calls that ended more than the retention ago
 * (cs_store_forget_ended), oldest first, in passes of 200; while
 * a pass finds a full page of them (a backlog: the first sweep after an
 * upgrade, or after the service was down), the next pass follows at once.
 * Several timer instances may sweep together: each removal checks the
 * record's version in one script, so a call is removed once, and one
 * that took a late event meanwhile stays.
 *
 * Keep the retention above CALLSYNC_DEDUPE_TTL_S (and Telnyx's retries):
 * a webhook of a call already removed finds no call, and is stored as a
 * new one. The CRM keeps its own history (GET /v1/calls?since=). */
#ifndef CS_RETENTION_H
#define CS_RETENTION_H

#include <stdint.h>

#include "store.h"

typedef struct cs_retention cs_retention_t;

/* retention_s > 0; store is borrowed (the caller's thread's). */
cs_retention_t *cs_retention_new(cs_store_t *store, long retention_s);
void cs_retention_destroy(cs_retention_t **self_p);

/* Sweeps when a sweep is due at now_ms (the first call sweeps at once);
 * returns how many calls it removed, -1 when Redis failed (logged once;
 * the next sweep is tried in a minute). */
int cs_retention_run(cs_retention_t *self, int64_t now_ms);

/* Prometheus text (caller frees). */
char *cs_retention_metrics(cs_retention_t *self);

#endif
