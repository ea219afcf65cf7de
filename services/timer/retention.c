/* retention - see retention.h. */
#include "retention.h"

#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "metrics.h"
#include "timestamp.h"

/* A pass of 200 calls took ~35 ms here (each call: a read, a decode, the
 * script), and the service's timers wait for it: passes of that size keep
 * a backlog from making them more than a few tens of ms late, and still
 * remove ~2 000 calls/s (one pass per 100 ms tick of the main loop). */
enum {
    S_PERIOD_MS = 60 * 1000, /* between sweeps that found no backlog */
    S_PASS = 200,            /* calls looked at per pass */
};

struct cs_retention {
    cs_store_t *store;
    int64_t retention_ms;
    int64_t next_ms; /* when the next pass is due */
    long cursor;     /* calls skipped at the head of the range (cs_store_forget_ended) */
    long swept;      /* calls removed by this sweep's passes so far */
    bool failing;    /* the last pass failed: logged once until one succeeds */
    cs_counter_t removed, errors;
};

cs_retention_t *cs_retention_new(cs_store_t *store, long retention_s)
{
    cs_retention_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->retention_ms = (int64_t)retention_s * 1000;
    self->removed = (cs_counter_t){.name = "callsync_calls_removed_total",
                                   .help = "Finished calls removed from Redis after "
                                           "CALLSYNC_RETENTION_S"};
    self->errors = (cs_counter_t){.name = "callsync_retention_errors_total",
                                  .help = "Retention sweeps that Redis failed"};
    return self;
}

void cs_retention_destroy(cs_retention_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int cs_retention_run(cs_retention_t *self, int64_t now_ms)
{
    if (now_ms < self->next_ms)
        return 0;
    char err[256];
    int64_t cutoff = now_ms - self->retention_ms;
    bool more;
    int removed =
        cs_store_forget_ended(self->store, cutoff, S_PASS, &self->cursor, &more, err, sizeof err);
    if (removed < 0) {
        cs_counter_inc(&self->errors);
        if (!self->failing)
            cs_warn("retention: %s; trying again in %d s", err, S_PERIOD_MS / 1000);
        self->failing = true;
        self->next_ms = now_ms + S_PERIOD_MS;
        return -1;
    }
    self->failing = false;
    cs_counter_add(&self->removed, (uint64_t)removed);
    self->swept += removed;
    /* a pass that stopped before the end of the range goes on at once; the
     * sweep's one log line comes when it reaches the end */
    self->next_ms = more ? now_ms : now_ms + S_PERIOD_MS;
    if (!more && self->swept > 0) {
        char when[40];
        cs_ts_format(cutoff, when, sizeof when);
        cs_info("retention: removed %ld calls that ended before %s", self->swept, when);
        self->swept = 0;
    }
    return removed;
}

char *cs_retention_metrics(cs_retention_t *self)
{
    cs_counter_t *cs[] = {&self->removed, &self->errors};
    return cs_metrics_render(cs, 2, NULL, 0);
}
