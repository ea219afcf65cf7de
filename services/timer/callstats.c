/* callstats - see callstats.h. */
#include "callstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "store.h"

static const char *s_outcomes[] = {"answered", "busy",      "no_answer",
                                   "rejected", "cancelled", "failed"};
#define S_NOUT 6

struct cs_callstats {
    cs_counter_t calls[2][S_NOUT]; /* [outbound, inbound][outcome] */
    char labels[2][S_NOUT][64];
    cs_histogram_t ring, talk, gap;
};

cs_callstats_t *cs_callstats_new(void)
{
    cs_callstats_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < S_NOUT; o++) {
            snprintf(self->labels[d][o], sizeof self->labels[d][o],
                     "direction=\"%s\",outcome=\"%s\"", d ? "inbound" : "outbound", s_outcomes[o]);
            self->calls[d][o] = (cs_counter_t){.name = "callsync_calls_total",
                                               .help = "Finished calls, by direction and outcome",
                                               .labels = self->labels[d][o]};
        }
    self->ring = (cs_histogram_t){.name = "callsync_ring_seconds",
                                  .help = "Initiated to answered, provider clock",
                                  .nbuckets = 8,
                                  .bounds = {1, 2, 5, 10, 15, 20, 30, 60}};
    self->talk = (cs_histogram_t){.name = "callsync_talk_seconds",
                                  .help = "Answered to ended, provider clock",
                                  .nbuckets = 9,
                                  .bounds = {5, 15, 30, 60, 120, 300, 600, 1800, 3600}};
    self->gap =
        (cs_histogram_t){.name = "callsync_post_answer_audio_gap_seconds",
                         .help = "Answer to the first remote audio packet at the agent's browser",
                         .nbuckets = 8,
                         .bounds = {0.02, 0.04, 0.06, 0.1, 0.2, 0.5, 1, 3}};
    return self;
}

void cs_callstats_destroy(cs_callstats_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* The outcome label of an ended call, from its view: answered | busy |
 * no_answer | rejected | cancelled | failed. */
static const char *s_outcome(const json_t *v)
{
    const char *cause = json_string_value(json_object_get(v, "hangup_cause"));
    int answered = json_is_string(json_object_get(v, "answered_at"));
    const char *out =
        answered                                                           ? "answered"
        : !cause                                                           ? "failed"
        : strcmp(cause, "user_busy") == 0                                  ? "busy"
        : strcmp(cause, "timeout") == 0 || strcmp(cause, "no_answer") == 0 ? "no_answer"
        : strcmp(cause, "call_rejected") == 0                              ? "rejected"
        : strcmp(cause, "originator_cancel") == 0 || strcmp(cause, "normal_clearing") == 0
            ? "cancelled"
            : "failed";
    return out;
}

void cs_callstats_record(cs_callstats_t *self, cs_redis_t *redis, const cs_call_t *call)
{
    if (cs_call_state(call) != CS_STATE_ENDED)
        return;
    redisReply *r = cs_redis_cmd(redis, "SET cs:counted:%s 1 NX EX 86400", call->id);
    int mine = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!mine)
        return; /* counted before, here or by another instance */
    const char *dir = cs_call_direction(call);
    json_t *v = cs_call_to_json(call);
    const char *outcome = s_outcome(v);
    for (int o = 0; o < S_NOUT; o++)
        if (strcmp(outcome, s_outcomes[o]) == 0)
            cs_counter_inc(&self->calls[dir && strcmp(dir, "inbound") == 0][o]);
    json_t *ring = json_object_get(v, "ring_seconds"), *talk = json_object_get(v, "talk_seconds");
    json_t *gap = json_object_get(v, "post_answer_audio_gap_ms");
    if (json_is_number(ring))
        cs_histogram_observe(&self->ring, json_number_value(ring));
    if (json_is_number(talk))
        cs_histogram_observe(&self->talk, json_number_value(talk));
    if (json_is_integer(gap))
        cs_histogram_observe(&self->gap, (double)json_integer_value(gap) / 1000.0);
    json_decref(v);
}

/* Appends the gauges read from Redis; returns the grown text. */
static char *s_gauges(char *text, cs_redis_t *redis)
{
    long states[5] = {0}, presence[4] = {0};
    static const char *state_names[] = {"dialing", "ringing", "active", "held", "ended"};
    static const char *presence_names[] = {"available", "busy", "wrap_up", "offline"};
    redisReply *ids = cs_redis_cmd(redis, "SMEMBERS cs:active");
    for (size_t i = 0; ids && ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
        redisReply *rec = cs_redis_cmd(redis, "GET cs:call:%s", ids->element[i]->str);
        static cs_call_t call;
        char err[128];
        if (rec && rec->type == REDIS_REPLY_STRING &&
            cs_store_decode(rec->str, rec->len, &call, err, sizeof err) == 0)
            states[cs_call_state(&call)]++;
        freeReplyObject(rec);
    }
    freeReplyObject(ids);
    redisReply *agents = cs_redis_cmd(redis, "SMEMBERS cs:agents");
    for (size_t i = 0; agents && agents->type == REDIS_REPLY_ARRAY && i < agents->elements; i++) {
        redisReply *st = cs_redis_cmd(redis, "HGET cs:agent:%s status", agents->element[i]->str);
        for (int p = 0; st && st->type == REDIS_REPLY_STRING && p < 4; p++)
            presence[p] += strcmp(st->str, presence_names[p]) == 0;
        freeReplyObject(st);
    }
    freeReplyObject(agents);
    redisReply *kept = cs_redis_cmd(redis, "ZCARD cs:calls");
    long long stored = kept && kept->type == REDIS_REPLY_INTEGER ? kept->integer : -1;
    freeReplyObject(kept);
    size_t n = strlen(text), cap = n + 2048;
    char *out = realloc(text, cap);
    if (!out)
        return text;
    n += (size_t)snprintf(out + n, cap - n,
                          "# HELP callsync_calls_active Calls not ended, by state\n"
                          "# TYPE callsync_calls_active gauge\n");
    for (int s = 0; s < 4; s++)
        n += (size_t)snprintf(out + n, cap - n, "callsync_calls_active{state=\"%s\"} %ld\n",
                              state_names[s], states[s]);
    n += (size_t)snprintf(out + n, cap - n,
                          "# HELP callsync_agents Agents by presence\n"
                          "# TYPE callsync_agents gauge\n");
    for (int p = 0; p < 4; p++)
        n += (size_t)snprintf(out + n, cap - n, "callsync_agents{presence=\"%s\"} %ld\n",
                              presence_names[p], presence[p]);
    if (stored >= 0) /* left out while Redis cannot say */
        n += (size_t)snprintf(out + n, cap - n,
                              "# HELP callsync_calls_stored Calls kept in Redis, ended or not "
                              "(CALLSYNC_RETENTION_S removes the old ones)\n"
                              "# TYPE callsync_calls_stored gauge\n"
                              "callsync_calls_stored %lld\n",
                              stored);
    return out;
}

char *cs_callstats_metrics(cs_callstats_t *self, cs_redis_t *redis)
{
    cs_counter_t *cs[2 * S_NOUT];
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < S_NOUT; o++)
            cs[d * S_NOUT + o] = &self->calls[d][o];
    cs_histogram_t *hs[] = {&self->ring, &self->talk, &self->gap};
    char *text = cs_metrics_render(cs, 2 * S_NOUT, hs, 3);
    return text ? s_gauges(text, redis) : NULL;
}
