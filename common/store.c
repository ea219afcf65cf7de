/* store - see store.h and proto/README.md. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "redis.h"
#include "text.h"
#include "timestamp.h"

#define S_MAX_RETRIES 32

struct cs_store {
    cs_redis_t *redis;
    cs_store_opts_t opts;
    char *last_record; /* "<version> <json>" as last written */
};

/* Finds the call an event belongs to, creating its id when allowed, and
 * returns the record as stored: {"dup"} | {"none"} | {"ok", cs, version, record}. */
static const cs_redis_script_t s_resolve = {
    "resolve",
    "if redis.call('EXISTS', KEYS[3]) == 1 then return {'dup'} end\n"
    "local cs = false\n"
    "if ARGV[4] == '1' then cs = redis.call('GET', KEYS[1]) end\n"
    "if not cs then\n"
    "  if ARGV[1] ~= '' then cs = ARGV[1] end\n"
    "  if not cs and ARGV[5] == '1' then cs = redis.call('GET', KEYS[2]) end\n"
    "  if not cs then\n"
    "    if ARGV[3] ~= '1' then return {'none'} end\n"
    "    cs = ARGV[2]\n"
    "  end\n"
    "  if ARGV[4] == '1' then redis.call('SET', KEYS[1], cs, 'NX') end\n"
    "  if ARGV[5] == '1' then redis.call('SET', KEYS[2], cs, 'NX') end\n"
    "end\n"
    "return {'ok', cs, redis.call('GET', 'cs:call:' .. cs) or ''}\n",
};

/* Writes everything one event leaves behind, atomically, if the record is
 * still at the version the merge started from: {"dup"} | {"conflict"} |
 * {"ok", version}. */
static const cs_redis_script_t s_commit = {
    "commit",
    "if redis.call('EXISTS', KEYS[3]) == 1 then return {'dup'} end\n"
    "local v = tonumber(ARGV[2])\n"
    "if ARGV[3] ~= '' then\n"
    "  local cur = redis.call('GET', KEYS[1])\n"
    "  if (cur and tonumber(string.match(cur, '^%d+')) or 0) ~= v then return {'conflict'} end\n"
    "  v = v + 1\n"
    "  redis.call('SET', KEYS[1], v .. ' ' .. ARGV[3])\n"
    "  if ARGV[5] == '1' then redis.call('SREM', KEYS[4], ARGV[1])\n"
    "  else redis.call('SADD', KEYS[4], ARGV[1]) end\n"
    "  if ARGV[11] ~= '0' then redis.call('ZADD', KEYS[6], 'LT', ARGV[11], ARGV[1]) end\n"
    "end\n"
    "if ARGV[1] ~= '' then\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[4])\n"
    "  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[10]), -1)\n"
    "end\n"
    "if ARGV[9] ~= '' then\n"
    "  redis.call('SET', KEYS[3], ARGV[1] ~= '' and ARGV[1] or '-', 'EX', ARGV[6])\n"
    "end\n"
    "if ARGV[7] ~= '' then\n"
    "  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'id', ARGV[9], 'cs', ARGV[1],\n"
    "             'body', ARGV[7])\n"
    "end\n"
    "return {'ok', tostring(v)}\n",
};

cs_store_t *cs_store_new(const char *redis_url, const cs_store_opts_t *opts, char *err,
                         size_t errlen)
{
    cs_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->redis = cs_redis_new(redis_url, err, errlen);
    if (!self->redis) {
        free(self);
        return NULL;
    }
    self->opts = opts ? *opts : (cs_store_opts_t){86400, 100000, 512};
    return self;
}

void cs_store_destroy(cs_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_redis_destroy(&(*self_p)->redis);
    free((*self_p)->last_record);
    free(*self_p);
    *self_p = NULL;
}

struct cs_redis *cs_store_redis(cs_store_t *self)
{
    return self->redis;
}

bool cs_store_ping(cs_store_t *self)
{
    return cs_redis_ping(self->redis);
}

static bool s_is_status(const redisReply *r, const char *status)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, status) == 0;
}

static int s_redis_failed(cs_store_t *self, redisReply *r, const char *what, char *err,
                          size_t errlen)
{
    snprintf(err, errlen, "redis %s: %s", what,
             !r                             ? cs_redis_error(self->redis)
             : r->type == REDIS_REPLY_ERROR ? r->str
                                            : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return -1;
}

/* Loads a stored record, "<version> <json>", into call; "" is no record
 * yet: a fresh one with this id at version 0. */
static int s_load(const char *id, const char *doc, size_t len, cs_call_t *call, char *err,
                  size_t errlen)
{
    if (len == 0) {
        cs_call_init(call, id);
        return 0;
    }
    return cs_store_decode(doc, len, call, err, errlen);
}

int cs_store_decode(const char *text, size_t len, cs_call_t *call, char *err, size_t errlen)
{
    char *end;
    uint64_t version = strtoull(text, &end, 10);
    if (end == text || (size_t)(end - text) >= len || *end != ' ') {
        snprintf(err, errlen, "stored record has no version");
        return -1;
    }
    size_t skip = (size_t)(end + 1 - text);
    json_error_t jerr;
    json_t *o = json_loadb(text + skip, len - skip, 0, &jerr);
    int rc = o ? cs_call_from_store(call, o, err, errlen) : -1;
    if (!o)
        snprintf(err, errlen, "stored record is not JSON: %s", jerr.text);
    json_decref(o);
    call->version = version;
    return rc;
}

const char *cs_store_last_record(const cs_store_t *self)
{
    return self->last_record;
}

static int64_t s_started(const cs_call_t *call)
{
    int64_t best = call->created.at;
    for (int i = 0; i < call->nlegs; i++)
        if (call->legs[i].initiated.at && (!best || call->legs[i].initiated.at < best))
            best = call->legs[i].initiated.at;
    return best;
}

int cs_store_apply(cs_store_t *self, const cs_event_t *ev, const char *raw, size_t rawlen,
                   cs_apply_t *outcome, cs_call_t *call, bool *changed, char *err, size_t errlen)
{
    char k_cc[CS_CCID_LEN + 16], k_sess[CS_UUID_LEN + 16], k_dedupe[CS_UUID_LEN + 16];
    char new_id[CS_CALL_ID_LEN];
    snprintf(k_cc, sizeof k_cc, "cs:idx:cc:%s", ev->ccid);
    snprintf(k_sess, sizeof k_sess, "cs:idx:sess:%s", ev->session_id);
    snprintf(k_dedupe, sizeof k_dedupe, "cs:dedupe:%s", ev->id);
    cs_ids_call(new_id, cs_ts_now_ms());
    *changed = false;

    int64_t received_at = cs_ts_now_ms();
    int rc = -1;
    char *rec_text = NULL, *ev_text = NULL;
    for (int attempt = 0; attempt < S_MAX_RETRIES; attempt++) {
        const char *rargv[] = {k_cc,
                               k_sess,
                               k_dedupe,
                               ev->cs_hint,
                               new_id,
                               ev->kind != CS_EV_UNKNOWN ? "1" : "0",
                               ev->ccid[0] ? "1" : "0",
                               ev->session_id[0] ? "1" : "0"};
        redisReply *r = cs_redis_eval(self->redis, &s_resolve, 3, 8, rargv, NULL);
        if (s_is_status(r, "dup")) {
            *outcome = CS_APPLY_DUPLICATE;
            freeReplyObject(r);
            rc = cs_store_get(self, ev->ccid[0] ? ev->ccid : "", call, err, errlen) < 0 ? -1 : 0;
            if (rc == 0 && !ev->ccid[0])
                cs_call_init(call, "");
            goto out;
        }
        const char *cs = "";
        uint64_t version = 0;
        if (s_is_status(r, "ok") && r->elements == 3) {
            cs = r->element[1]->str;
            if (s_load(cs, r->element[2]->str, r->element[2]->len, call, err, errlen)) {
                freeReplyObject(r);
                goto out;
            }
            version = call->version;
            if ((ev->kind == CS_EV_TRANSFER_REQUESTED || ev->kind == CS_EV_CONSULT_REQUESTED) &&
                cs_call_state(call) == CS_STATE_ENDED) {
                *outcome = CS_APPLY_REFUSED;
                freeReplyObject(r);
                rc = 0;
                goto out;
            }
            bool dropped = false;
            *changed = cs_call_merge(call, ev, &dropped);
            if (dropped)
                cs_warn("call %s: leg %s beyond %d legs not tracked (event %s)", cs, ev->ccid,
                        CS_MAX_LEGS, ev->id);
        } else if (!s_is_status(r, "none")) {
            s_redis_failed(self, r, "resolve", err, errlen);
            goto out;
        }
        char cs_id[CS_ID_LEN];
        CS_COPY(cs_id, cs);
        freeReplyObject(r);

        free(rec_text);
        free(ev_text);
        rec_text = NULL;
        json_t *entry = cs_call_history_entry(call, ev, received_at);
        ev_text = json_dumps(entry, JSON_COMPACT);
        json_decref(entry);
        if (*changed) {
            json_t *doc = cs_call_to_store(call);
            rec_text = json_dumps(doc, JSON_COMPACT);
            json_decref(doc);
        }
        char k_rec[CS_ID_LEN + 16], k_hist[CS_ID_LEN + 16], ver[24], started[24], ttl[24],
            raw_max[24], hist_max[24];
        snprintf(k_rec, sizeof k_rec, "cs:call:%s", cs_id);
        snprintf(k_hist, sizeof k_hist, "cs:hist:%s", cs_id);
        snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
        snprintf(started, sizeof started, "%lld", (long long)s_started(call));
        snprintf(ttl, sizeof ttl, "%ld", self->opts.dedupe_ttl_s);
        snprintf(raw_max, sizeof raw_max, "%ld", self->opts.raw_log_max);
        snprintf(hist_max, sizeof hist_max, "%ld", self->opts.history_max);
        /* A call leaves cs:active once it is ended and no leg is live: an
         * ended call with a leg still up is the orchestrator's to finish,
         * and its sweep reads cs:active (a lost change notice must not
         * leave a leg up). */
        bool ended = cs_id[0] && cs_call_state(call) == CS_STATE_ENDED;
        for (int i = 0; ended && i < call->nlegs; i++)
            ended = call->legs[i].ended.at != 0;
        const char *cargv[] = {k_rec,
                               k_hist,
                               k_dedupe,
                               "cs:active",
                               "cs:raw",
                               "cs:calls",
                               cs_id,
                               ver,
                               rec_text ? rec_text : "",
                               ev_text,
                               ended ? "1" : "0",
                               ttl,
                               raw ? raw : "",
                               raw_max,
                               ev->id,
                               hist_max,
                               started};
        size_t clens[17];
        for (int i = 0; i < 17; i++) /* the raw body (12) is bytes, not a C string */
            clens[i] = i == 12 ? (raw ? rawlen : 0) : strlen(cargv[i]);
        r = cs_redis_eval(self->redis, &s_commit, 6, 17, cargv, clens);
        if (s_is_status(r, "conflict")) {
            freeReplyObject(r);
            continue; /* another writer got there first: merge into its record */
        }
        if (s_is_status(r, "dup")) {
            freeReplyObject(r);
            *outcome = CS_APPLY_DUPLICATE;
            *changed = false;
            rc = 0;
            goto out;
        }
        if (!s_is_status(r, "ok") || r->elements != 2) {
            s_redis_failed(self, r, "commit", err, errlen);
            goto out;
        }
        call->version = strtoull(r->element[1]->str, NULL, 10);
        freeReplyObject(r);
        free(self->last_record);
        self->last_record = NULL;
        if (*changed && rec_text) {
            size_t n = strlen(rec_text) + 24;
            self->last_record = malloc(n);
            if (self->last_record)
                snprintf(self->last_record, n, "%llu %s", (unsigned long long)call->version,
                         rec_text);
        }
        *outcome = cs_id[0] ? CS_APPLY_STORED : CS_APPLY_UNLINKED;
        rc = 0;
        goto out;
    }
    snprintf(err, errlen, "call record contended: %d merge conflicts in a row", S_MAX_RETRIES);
out:
    free(rec_text);
    free(ev_text);
    return rc;
}

int cs_store_create(cs_store_t *self, const cs_event_t *ev, cs_call_t *call, char *err,
                    size_t errlen)
{
    cs_event_t created = *ev;
    created.kind = CS_EV_CREATED;
    char id[CS_CALL_ID_LEN];
    cs_ids_call(id, ev->at ? ev->at : cs_ts_now_ms());
    CS_COPY(created.cs_hint, id);
    created.ccid[0] = created.session_id[0] = '\0';
    if (!created.id[0])
        snprintf(created.id, sizeof created.id, "created-%s", id);
    cs_apply_t outcome;
    bool changed;
    return cs_store_apply(self, &created, NULL, 0, &outcome, call, &changed, err, errlen);
}

static int s_create_outbound(cs_store_t *self, const char *flow, const char *agent_id,
                             const char *to, cs_call_t *call, char *err, size_t errlen)
{
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.source = CS_SRC_COMMAND;
    ev.clock = CS_CLOCK_LOCAL;
    ev.at = cs_ts_now_ms();
    CS_COPY(ev.type, "callsync.dial");
    CS_COPY(ev.direction, "outbound");
    CS_COPY(ev.agent_id, agent_id);
    CS_COPY(ev.to, to);
    CS_COPY(ev.value, flow);
    return cs_store_create(self, &ev, call, err, errlen);
}

int cs_store_create_dial(cs_store_t *self, const char *agent_id, const char *to, cs_call_t *call,
                         char *err, size_t errlen)
{
    return s_create_outbound(self, "server_dial", agent_id, to, call, err, errlen);
}

int cs_store_create_browser(cs_store_t *self, const char *agent_id, const char *to, cs_call_t *call,
                            char *err, size_t errlen)
{
    return s_create_outbound(self, "browser", agent_id, to, call, err, errlen);
}

void cs_store_command_fact(cs_event_t *ev, cs_event_kind_t kind, const char *type,
                           const char *prefix, const char *cs_id)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->source = CS_SRC_COMMAND;
    ev->clock = CS_CLOCK_LOCAL;
    ev->at = cs_ts_now_ms();
    CS_COPY(ev->type, type);
    char uuid[CS_UUID_STR_LEN];
    cs_ids_uuid(uuid);
    snprintf(ev->id, sizeof ev->id, "%s-%s", prefix, uuid);
    CS_COPY(ev->cs_hint, cs_id);
}

int cs_store_request_hangup(cs_store_t *self, const char *cs_id, const char *by, cs_call_t *call,
                            char *err, size_t errlen)
{
    cs_event_t ev;
    cs_store_command_fact(&ev, CS_EV_HANGUP_REQUESTED, "callsync.hangup_requested", "hangup",
                          cs_id);
    CS_COPY(ev.value, by);
    cs_apply_t applied;
    bool changed;
    return cs_store_apply(self, &ev, NULL, 0, &applied, call, &changed, err, errlen);
}

int cs_store_request_transfer(cs_store_t *self, const char *cs_id, const char *ccid,
                              const char *mode, const char *to, cs_call_t *call, char *err,
                              size_t errlen)
{
    cs_event_t ev;
    cs_store_command_fact(&ev, ccid ? CS_EV_TRANSFER_REQUESTED : CS_EV_CONSULT_REQUESTED,
                          ccid ? "callsync.transfer_requested" : "callsync.consult_requested",
                          ccid ? "xfer" : "consult", cs_id);
    if (ccid)
        CS_COPY(ev.ccid, ccid);
    CS_COPY(ev.value, mode ? mode : "");
    CS_COPY(ev.to, to);
    cs_apply_t applied;
    bool changed;
    if (cs_store_apply(self, &ev, NULL, 0, &applied, call, &changed, err, errlen))
        return -1;
    if (applied == CS_APPLY_STORED)
        return 0;
    snprintf(err, errlen, applied == CS_APPLY_REFUSED ? "the call has ended" : "no such call");
    return 1;
}

int cs_store_get(cs_store_t *self, const char *id, cs_call_t *call, char *err, size_t errlen)
{
    char cs[CS_ID_LEN] = "";
    if (!id[0])
        return 1;
    if (strncmp(id, "cs_", 3) == 0) {
        CS_COPY(cs, id);
    } else {
        redisReply *r = cs_redis_cmd(self->redis, "GET cs:idx:cc:%s", id);
        if (!r || r->type == REDIS_REPLY_ERROR)
            return s_redis_failed(self, r, "GET", err, errlen);
        if (r->type == REDIS_REPLY_STRING)
            CS_COPY(cs, r->str);
        freeReplyObject(r);
        if (!cs[0])
            return 1;
    }
    redisReply *r = cs_redis_cmd(self->redis, "GET cs:call:%s", cs);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        return s_redis_failed(self, r, "GET", err, errlen);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 1;
    }
    int rc = s_load(cs, r->str, r->len, call, err, errlen);
    freeReplyObject(r);
    return rc;
}

json_t *cs_store_active(cs_store_t *self, char *err, size_t errlen)
{
    redisReply *r = cs_redis_cmd(self->redis, "SMEMBERS cs:active");
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_redis_failed(self, r, "SMEMBERS", err, errlen);
        return NULL;
    }
    json_t *ids = json_array();
    for (size_t i = 0; i < r->elements; i++)
        json_array_append_new(ids, json_stringn(r->element[i]->str, r->element[i]->len));
    freeReplyObject(r);
    return ids;
}

json_t *cs_store_since(cs_store_t *self, int64_t since_ms, const char *agent, int limit, char *err,
                       size_t errlen)
{
    enum { PAGE = 200, MAX_SCANNED = 5000 };
    json_t *out = json_array();
    static __thread cs_call_t call;
    for (int offset = 0; offset < MAX_SCANNED && (int)json_array_size(out) < limit;
         offset += PAGE) {
        redisReply *r = cs_redis_cmd(self->redis, "ZREVRANGEBYSCORE cs:calls +inf %lld LIMIT %d %d",
                                     (long long)since_ms, offset, PAGE);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            s_redis_failed(self, r, "ZREVRANGEBYSCORE", err, errlen);
            json_decref(out);
            return NULL;
        }
        size_t n = r->elements;
        for (size_t i = 0; i < n && (int)json_array_size(out) < limit; i++) {
            if (cs_store_get(self, r->element[i]->str, &call, err, errlen) != 0)
                continue; /* expired meanwhile */
            int keep = !agent || !agent[0];
            const char *agents[CS_MAX_LEGS + 2];
            int na = keep ? 0 : cs_call_agents(&call, agents, CS_MAX_LEGS + 2);
            for (int a = 0; a < na && !keep; a++)
                keep = strcmp(agents[a], agent) == 0;
            if (keep)
                json_array_append_new(out, cs_call_to_json(&call));
        }
        freeReplyObject(r);
        if (n < PAGE)
            break;
    }
    err[0] = '\0';
    return out;
}

json_t *cs_store_history(cs_store_t *self, const char *cs_id, char *err, size_t errlen)
{
    redisReply *r = cs_redis_cmd(self->redis, "LRANGE cs:hist:%s 0 -1", cs_id);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_redis_failed(self, r, "LRANGE", err, errlen);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        json_t *entry = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
        if (entry)
            json_array_append_new(out, entry);
    }
    freeReplyObject(r);
    return out;
}

json_t *cs_store_live(cs_store_t *self, const char *agent, char *err, size_t errlen)
{
    json_t *ids = cs_store_active(self, err, errlen);
    if (!ids)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *id;
    static __thread cs_call_t call; /* 20 KiB: off the caller's stack */
    json_array_foreach(ids, i, id)
    {
        if (cs_store_get(self, json_string_value(id), &call, err, errlen) == 0 &&
            cs_call_state(&call) != CS_STATE_ENDED &&
            (!agent || !agent[0] || strcmp(cs_call_agent(&call), agent) == 0))
            json_array_append_new(out, cs_call_to_json(&call));
    }
    json_decref(ids);
    return out;
}
