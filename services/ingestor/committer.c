/* committer - see committer.h. */
#include "committer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct cs_committer {
    cs_store_t *store; /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    cs_commit_item_t *head, *tail;
    bool stopping;
    bool joined;             /* cs_committer_stop has joined the thread, or is joining it */
    cs_commit_stats_t stats; /* under lock; the cache's copied in after each batch */
};

static void *s_run(void *arg)
{
    cs_committer_t *self = arg;
    cs_commit_item_t *taken[CS_COMMIT_MAX_BATCH];
    cs_store_job_t *jobs[CS_COMMIT_MAX_BATCH];
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->head && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (!self->head)
            break; /* stopping, and nothing is left */
        size_t n = 0;
        while (self->head && n < CS_COMMIT_MAX_BATCH) {
            taken[n] = self->head;
            jobs[n] = taken[n]->job;
            self->head = self->head->next;
            n++;
        }
        if (!self->head)
            self->tail = NULL;
        self->stats.batches++;
        self->stats.items += n;
        pthread_mutex_unlock(&self->lock);
        cs_log_hold(); /* a line per webhook: written once per batch */
        cs_store_apply_batch(self->store, jobs, n);
        for (size_t i = 0; i < n; i++)
            taken[i]->done(taken[i]);
        cs_log_release();
        unsigned long long hits, misses;
        cs_store_cache_counts(self->store, &hits, &misses);
        pthread_mutex_lock(&self->lock);
        self->stats.cache_hits = hits;
        self->stats.cache_misses = misses;
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

cs_committer_t *cs_committer_new(const char *redis_url, const cs_store_opts_t *opts, char *err,
                                 size_t errlen)
{
    cs_committer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->store = cs_store_new(redis_url, opts, err, errlen);
    if (!self->store) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pthread_create(&self->thread, NULL, s_run, self)) {
        snprintf(err, errlen, "cannot start the committer thread");
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->wake);
        cs_store_destroy(&self->store);
        free(self);
        return NULL;
    }
    return self;
}

void cs_committer_stop(cs_committer_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool joined = self->joined;
    self->stopping = true;
    self->joined = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    if (!joined)
        pthread_join(self->thread, NULL);
}

void cs_committer_destroy(cs_committer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_committer_t *self = *self_p;
    cs_committer_stop(self);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    cs_store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

int cs_committer_submit(cs_committer_t *self, cs_commit_item_t *item)
{
    pthread_mutex_lock(&self->lock);
    if (self->stopping) {
        pthread_mutex_unlock(&self->lock);
        return -1;
    }
    item->next = NULL;
    bool was_empty = !self->head; /* else the thread is busy and will look again */
    if (self->tail)
        self->tail->next = item;
    else
        self->head = item;
    self->tail = item;
    if (was_empty)
        pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void cs_committer_stats(cs_committer_t *self, cs_commit_stats_t *stats)
{
    pthread_mutex_lock(&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock(&self->lock);
}
