/* ingest - see ingest.h. */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timestamp.h"
#include "webhook.h"

enum {
    M_STORED,
    M_DUPLICATE,
    M_UNLINKED,
    M_BAD_SIGNATURE,
    M_STALE,
    M_MISSING_HEADER,
    M_MALFORMED_HEADER,
    M_BAD_EVENT,
    M_TOO_LARGE,
    M_UNAVAILABLE,
    M_NOTICE_DROPPED,
    M_COUNT
};

struct cs_ingest {
    cs_ingest_config_t cfg;
    cs_bus_t *bus;
    cs_counter_t counters[M_COUNT];
    cs_histogram_t latency;
    cs_histogram_t delay; /* the provider's occurred_at -> in Redis */
};

cs_ingest_t *cs_ingest_new(const cs_ingest_config_t *cfg, cs_bus_t *bus)
{
    cs_ingest_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->bus = bus;
    const char *total = "callsync_webhooks_total";
    const char *help = "Webhooks received, by outcome";
    const char *refused = "callsync_webhooks_refused_total";
    const char *rhelp = "Webhooks refused, by reason";
    static const char *labels[M_COUNT] = {
        "outcome=\"stored\"",
        "outcome=\"duplicate\"",
        "outcome=\"unlinked\"",
        "reason=\"bad_signature\"",
        "reason=\"stale_timestamp\"",
        "reason=\"missing_header\"",
        "reason=\"malformed_header\"",
        "reason=\"bad_event\"",
        "reason=\"too_large\"",
        "reason=\"redis_unavailable\"",
        NULL,
    };
    for (int i = 0; i < M_COUNT; i++) {
        self->counters[i].name = i <= M_UNLINKED ? total : refused;
        self->counters[i].help = i <= M_UNLINKED ? help : rhelp;
        self->counters[i].labels = labels[i];
    }
    self->counters[M_NOTICE_DROPPED].name = "callsync_bus_notices_dropped_total";
    self->counters[M_NOTICE_DROPPED].help = "Change notices the bus could not queue";
    self->latency = (cs_histogram_t){
        .name = "callsync_webhook_ack_seconds",
        .help = "Time from a complete webhook body to its response, stored durably",
        .nbuckets = 10,
        .bounds = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2},
    };
    /* How stale a fact is when it lands: Telnyx's queueing, the network,
     * retries and us. Clocks differ by the NTP error (see README). */
    self->delay = (cs_histogram_t){
        .name = "callsync_webhook_delay_seconds",
        .help = "From the provider's occurred_at to the fact stored in Redis (new facts only)",
        .nbuckets = 10,
        .bounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30},
    };
    return self;
}

void cs_ingest_destroy(cs_ingest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void cs_ingest_count_too_large(cs_ingest_t *self)
{
    cs_counter_inc(&self->counters[M_TOO_LARGE]);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* JSON string content for an error message: drop quotes and controls. */
static void s_clean(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            *s = '\'';
}

int cs_ingest_check(cs_ingest_t *self, const char *signature, const char *timestamp,
                    const char *body, size_t len, cs_ingest_job_t *job)
{
    job->t0 = s_now();
    cs_verify_result_t v = cs_verify(self->cfg.public_key, signature, timestamp, body, len,
                                     cs_ts_now_ms() / 1000, self->cfg.tolerance_s);
    if (v != CS_VERIFY_OK) {
        static const int counter[] = {0, M_MISSING_HEADER, M_MALFORMED_HEADER, M_STALE,
                                      M_BAD_SIGNATURE};
        cs_counter_inc(&self->counters[counter[v]]);
        cs_warn("webhook refused 401: %s (timestamp %s)", cs_verify_result_name(v),
                timestamp ? timestamp : "-");
        snprintf(job->resp, sizeof job->resp, "{\"error\":\"%s\"}", cs_verify_result_name(v));
        return job->status = 401;
    }
    char err[256];
    if (cs_webhook_parse(body, len, &job->ev, err, sizeof err)) {
        cs_counter_inc(&self->counters[M_BAD_EVENT]);
        s_clean(err);
        cs_warn("webhook refused 400: %s (event %s)", err, job->ev.id[0] ? job->ev.id : "-");
        snprintf(job->resp, sizeof job->resp, "{\"error\":\"not a Telnyx v2 event: %s\"}", err);
        return job->status = 400;
    }
    job->store = (cs_store_job_t){.ev = &job->ev, .raw = body, .rawlen = len, .call = &job->call};
    return job->status = 0;
}

void cs_ingest_finish(cs_ingest_t *self, cs_ingest_job_t *job)
{
    const cs_event_t *ev = &job->ev;
    cs_store_job_t *st = &job->store;
    if (st->rc) {
        cs_counter_inc(&self->counters[M_UNAVAILABLE]);
        s_clean(st->err);
        cs_error("webhook %s (%s) not stored, 503: %s", ev->id, ev->type, st->err);
        snprintf(job->resp, sizeof job->resp, "{\"error\":\"storage unavailable\"}");
        job->status = 503;
        return;
    }
    static const char *names[] = {"stored", "duplicate", "unlinked"};
    cs_apply_t outcome = st->outcome;
    cs_counter_inc(&self->counters[outcome == CS_APPLY_STORED      ? M_STORED
                                   : outcome == CS_APPLY_DUPLICATE ? M_DUPLICATE
                                                                   : M_UNLINKED]);
    if (st->changed && self->bus && st->record &&
        cs_bus_send(self->bus, "call.changed", st->record, strlen(st->record)))
        cs_counter_inc(&self->counters[M_NOTICE_DROPPED]);
    free(st->record);
    st->record = NULL;
    double dt = s_now() - job->t0;
    cs_histogram_observe(&self->latency, dt);
    if (outcome == CS_APPLY_STORED && ev->clock == CS_CLOCK_PROVIDER && ev->at > 0) {
        int64_t late = cs_ts_now_ms() - ev->at;
        cs_histogram_observe(&self->delay, late > 0 ? (double)late / 1000.0 : 0.0);
    }
    const cs_call_t *call = &job->call;
    cs_info("webhook %s %s call=%s v=%llu %s%s %.2fms", ev->id, ev->type,
            call->id[0] ? call->id : "-", (unsigned long long)call->version, names[outcome],
            st->changed ? " changed" : "", dt * 1000);
    snprintf(job->resp, sizeof job->resp, "{\"status\":\"%s\",\"call\":\"%s\",\"version\":%llu}",
             names[outcome], call->id, (unsigned long long)call->version);
    job->status = 200;
}

char *cs_ingest_metrics(cs_ingest_t *self, int redis_up, const cs_commit_stats_t *commits)
{
    cs_counter_t *cs[M_COUNT];
    for (int i = 0; i < M_COUNT; i++)
        cs[i] = &self->counters[i];
    cs_histogram_t *hs[] = {&self->latency, &self->delay};
    char *text = cs_metrics_render(cs, M_COUNT, hs, 2);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 1024);
    if (!out) {
        free(text);
        return NULL;
    }
    snprintf(out + n, 1024,
             "# HELP callsync_redis_up Redis reachable\n# TYPE callsync_redis_up "
             "gauge\ncallsync_redis_up %d\n"
             "# HELP callsync_ingest_batches_total Group commits (one batch of webhooks each)\n"
             "# TYPE callsync_ingest_batches_total counter\ncallsync_ingest_batches_total %llu\n"
             "# HELP callsync_ingest_batched_total Webhooks that went through a group commit\n"
             "# TYPE callsync_ingest_batched_total counter\ncallsync_ingest_batched_total %llu\n"
             "# HELP callsync_ingest_cache_hits_total Webhooks whose call was cached (no resolve)\n"
             "# TYPE callsync_ingest_cache_hits_total counter\n"
             "callsync_ingest_cache_hits_total %llu\n"
             "# HELP callsync_ingest_cache_misses_total Webhooks whose call was resolved in Redis\n"
             "# TYPE callsync_ingest_cache_misses_total counter\n"
             "callsync_ingest_cache_misses_total %llu\n",
             redis_up, commits->batches, commits->items, commits->cache_hits,
             commits->cache_misses);
    return out;
}
