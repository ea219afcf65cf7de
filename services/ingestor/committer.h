/* committer - group commit for the ingestor. The HTTP threads check a
 * webhook (signature, envelope) and hand it here; one thread with its own
 * Redis connection stores whatever has queued up meanwhile as one batch
 * (cs_store_apply_batch: two pipelined round trips for the batch instead
 * of two per webhook), then calls each item's done(). The HTTP threads
 * never wait on Redis, so a few of them serve many connections, and under
 * load the batches grow by themselves: no timer holds a webhook back to
 * fill one. Items are taken in arrival order, CS_COMMIT_MAX_BATCH at most.
 * The ingestor runs several (CALLSYNC_INGEST_COMMITTERS), each with its own
 * queue, and gives all of a call's webhooks to the same one: while one
 * waits on Redis another merges, so no single thread's round trips bound
 * the rate, and a call's events still meet in one queue and one cache. */
#ifndef CS_COMMITTER_H
#define CS_COMMITTER_H

#include <stddef.h>

#include "store.h"

#define CS_COMMIT_MAX_BATCH 64

typedef struct cs_committer cs_committer_t;

/* What the committer has done so far (for /metrics). */
typedef struct {
    unsigned long long batches;      /* group commits */
    unsigned long long items;        /* webhooks in them */
    unsigned long long cache_hits;   /* webhooks that skipped resolve (store.h) */
    unsigned long long cache_misses; /* webhooks that did not */
} cs_commit_stats_t;

typedef struct cs_commit_item cs_commit_item_t;
struct cs_commit_item {
    cs_store_job_t *job;                  /* borrowed until done() */
    void (*done)(cs_commit_item_t *item); /* on the committer's thread */
    void *arg;                            /* the caller's */
    cs_commit_item_t *next;               /* the queue's */
};

/* Starts the thread. NULL (reason in err) for a bad Redis URL or no thread. */
cs_committer_t *cs_committer_new(const char *redis_url, const cs_store_opts_t *opts, char *err,
                                 size_t errlen);

/* Stops taking items (cs_committer_submit returns -1 from then on),
 * stores (or fails) every item already queued, calls their done(), then
 * joins the thread. Idempotent; one caller at a time. */
void cs_committer_stop(cs_committer_t *self);

/* cs_committer_stop, then frees it. Idempotent. */
void cs_committer_destroy(cs_committer_t **self_p);

/* Queues item. 0, or -1 when the committer is stopping (item untouched,
 * done() is not called). */
int cs_committer_submit(cs_committer_t *self, cs_commit_item_t *item);

/* A snapshot of the counts. */
void cs_committer_stats(cs_committer_t *self, cs_commit_stats_t *stats);

#endif
