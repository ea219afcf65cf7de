/* store - see store.h and proto/README.md. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callcache.h"
#include "ids.h"
#include "log.h"
#include "redis.h"
#include "text.h"
#include "timestamp.h"

#define S_MAX_RETRIES 32

struct cs_store {
    cs_redis_t *redis;
    cs_store_opts_t opts;
    char *last_record;            /* "<version> <json>" as last written */
    cs_callcache_t *cache;        /* NULL unless opts.cache_calls */
    unsigned long cache_connects; /* the Redis connection the cache was filled from */
};

/* Finds the call an event belongs to, creating its id when allowed, and
 * returns the record as stored: {"dup"} | {"none"} | {"ok", cs, record,
 * session's}: the last, when the session was looked up, is the call its
 * index names (set now or before; "" when not looked up), for the cache.
 * The duplicate check follows the call: an event with a leg, a session or
 * our client_state finds the same call every time it is delivered, so its
 * mark is a field of that call's cs:seen hash (ARGV[7] "0"); one with none
 * of them, or that finds no call, has a key of its own, cs:dedupe (KEYS[3]),
 * checked once. A call made here (a new id) has no marks and no record to
 * look up. */
static const cs_redis_script_t s_resolve = {
    "resolve",
    "if ARGV[7] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return {'dup'} end\n"
    "local cs, sess, fresh = false, '', false\n"
    "if ARGV[4] == '1' then cs = redis.call('GET', KEYS[1]) end\n"
    "if not cs then\n"
    "  if ARGV[1] ~= '' then cs = ARGV[1] end\n"
    "  if not cs and ARGV[5] == '1' then cs = redis.call('GET', KEYS[2]) end\n"
    "  if not cs then\n"
    "    if ARGV[3] ~= '1' then\n"
    "      if ARGV[7] ~= '1' and redis.call('EXISTS', KEYS[3]) == 1 then return {'dup'} end\n"
    "      return {'none'}\n"
    "    end\n"
    "    cs = ARGV[2]\n"
    "    fresh = true\n"
    "  end\n"
    "  if ARGV[4] == '1' then redis.call('SET', KEYS[1], cs, 'NX') end\n"
    "  if ARGV[5] == '1' then sess = redis.call('SET', KEYS[2], cs, 'NX', 'GET') or cs end\n"
    "end\n"
    "if not fresh and ARGV[7] ~= '1' and\n"
    "   redis.call('HEXISTS', 'cs:seen:' .. cs, ARGV[6]) == 1 then\n"
    "  return {'dup'}\n"
    "end\n"
    "return {'ok', cs, not fresh and redis.call('GET', 'cs:call:' .. cs) or '', sess}\n",
};

/* Writes everything one event leaves behind, atomically, if the record is
 * still at the version the merge started from: {"dup"} | {"conflict"} |
 * {"ok", version}. Each call into Redis from a script costs a microsecond
 * or two and a line in the AOF, so: the version is read from the record's
 * first bytes (not the whole record); the dedupe mark is both the duplicate
 * check and the write (HSETNX on the call's cs:seen when ARGV[13] is "1",
 * else SET NX on cs:dedupe, see s_resolve; nothing is written before it,
 * and a conflict, checked first, only reads); cs:active is written only when the
 * call's membership changes (ARGV[5]: "1" leave, "0" join, "" neither; the
 * commit that wrote the version read set it, see s_commit_args); the history
 * is trimmed only once it is over its length; and cs:calls is written only
 * when the call's start moved (ARGV[11] "0" otherwise). ARGV[12] "1": the
 * event's leg joins the call without a resolve (cs_callcache_find): it
 * must not be indexed to another call (a conflict: the full way decides),
 * and is indexed here when it is not indexed yet. */
static const cs_redis_script_t s_commit = {
    "commit",
    "local v = tonumber(ARGV[2])\n"
    "local stale = false\n"
    "if ARGV[3] ~= '' then\n"
    "  local cur = redis.call('GETRANGE', KEYS[1], 0, 20)\n"
    "  stale = (tonumber(string.match(cur, '^%d+')) or 0) ~= v\n"
    "end\n"
    "local owner = false\n"
    "if not stale and ARGV[12] == '1' then\n"
    "  owner = redis.call('GET', KEYS[7])\n"
    "  stale = owner and owner ~= ARGV[1]\n"
    "end\n"
    "local seen = ARGV[13] == '1'\n"
    "if stale then\n"
    "  if ARGV[9] ~= '' and (seen and redis.call('HEXISTS', KEYS[3], ARGV[9]) == 1 or\n"
    "                        not seen and redis.call('EXISTS', KEYS[3]) == 1) then\n"
    "    return {'dup'}\n"
    "  end\n"
    "  return {'conflict'}\n"
    "end\n"
    "if ARGV[9] ~= '' then\n"
    "  if seen then\n"
    "    if redis.call('HSETNX', KEYS[3], ARGV[9], '1') == 0 then return {'dup'} end\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "  elseif not redis.call('SET', KEYS[3], ARGV[1] ~= '' and ARGV[1] or '-', 'NX', 'EX',\n"
    "                        ARGV[6]) then\n"
    "    return {'dup'}\n"
    "  end\n"
    "end\n"
    "if ARGV[12] == '1' and not owner then redis.call('SET', KEYS[7], ARGV[1]) end\n"
    "if ARGV[3] ~= '' then\n"
    "  v = v + 1\n"
    "  redis.call('SET', KEYS[1], v .. ' ' .. ARGV[3])\n"
    "  if ARGV[5] == '1' then redis.call('SREM', KEYS[4], ARGV[1])\n"
    "  elseif ARGV[5] == '0' then redis.call('SADD', KEYS[4], ARGV[1]) end\n"
    "  if ARGV[11] ~= '0' then redis.call('ZADD', KEYS[6], 'LT', ARGV[11], ARGV[1]) end\n"
    "end\n"
    "if ARGV[1] ~= '' then\n"
    "  if redis.call('RPUSH', KEYS[2], ARGV[4]) > tonumber(ARGV[10]) then\n"
    "    redis.call('LTRIM', KEYS[2], -tonumber(ARGV[10]), -1)\n"
    "  end\n"
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
    self->opts = opts ? *opts : (cs_store_opts_t){86400, 100000, 512, 0};
    if (self->opts.cache_calls > 0) {
        self->cache = cs_callcache_new((size_t)self->opts.cache_calls);
        if (!self->cache) {
            snprintf(err, errlen, "out of memory");
            cs_store_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void cs_store_destroy(cs_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_redis_destroy(&(*self_p)->redis);
    cs_callcache_destroy(&(*self_p)->cache);
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

void cs_store_cache_counts(const cs_store_t *self, unsigned long long *hits,
                           unsigned long long *misses)
{
    *hits = *misses = 0;
    if (self->cache)
        cs_callcache_counts(self->cache, hits, misses);
}

const char *cs_store_last_record(const cs_store_t *self)
{
    return self->last_record;
}

int cs_store_announce(const cs_store_t *self, cs_bus_t *bus)
{
    const char *rec = self->last_record;
    if (!bus || !rec)
        return 0;
    return cs_bus_send(bus, "call.changed", rec, strlen(rec));
}

static int64_t s_started(const cs_call_t *call)
{
    int64_t best = call->created.at;
    for (int i = 0; i < call->nlegs; i++)
        if (call->legs[i].initiated.at && (!best || call->legs[i].initiated.at < best))
            best = call->legs[i].initiated.at;
    return best;
}

/* One event between its two scripts: the keys it names, the call it
 * resolved to, and the commit's arguments. Shared by cs_store_apply and
 * cs_store_apply_batch, so both write exactly the same things. */
typedef struct {
    char k_cc[CS_CCID_LEN + 16], k_sess[CS_UUID_LEN + 16], k_dedupe[CS_UUID_LEN + 16];
    bool own_mark; /* the dedupe mark is cs:dedupe, not a field of cs:seen (s_resolve) */
    char new_id[CS_CALL_ID_LEN];
    char cs_id[CS_ID_LEN]; /* "" until resolved; "" after: no known call (unlinked) */
    uint64_t version;      /* the record's version the merge started from */
    int64_t start_read;    /* and the call's start in it (s_started) */
    bool out_read;         /* and whether it was out of cs:active (s_out_of_active) */
    bool joins;            /* its leg joins the call without a resolve (cs_callcache_find) */
    int64_t received_at;
    const char *rargv[10];
    /* the commit */
    char *rec_text, *ev_text;
    char k_rec[CS_ID_LEN + 16], k_hist[CS_ID_LEN + 16], k_seen[CS_ID_LEN + 16], ver[24],
        started[24], ttl[24], raw_max[24], hist_max[24];
    const char *cargv[20];
    size_t clens[20];
} s_pending_t;

typedef enum { S_MERGED, S_DUP, S_REFUSED, S_CONFLICT, S_DONE, S_FAILED } s_step_t;

static void s_pending_init(s_pending_t *p, const cs_event_t *ev)
{
    snprintf(p->k_cc, sizeof p->k_cc, "cs:idx:cc:%s", ev->ccid);
    snprintf(p->k_sess, sizeof p->k_sess, "cs:idx:sess:%s", ev->session_id);
    snprintf(p->k_dedupe, sizeof p->k_dedupe, "cs:dedupe:%s", ev->id);
    p->received_at = cs_ts_now_ms();
    p->new_id[0] = '\0'; /* made when resolve is sent (s_new_id) */
    p->cs_id[0] = '\0';
    p->version = 0;
    p->start_read = 0;
    p->out_read = true;
    p->joins = false;
    p->own_mark = !ev->ccid[0] && !ev->session_id[0] && !ev->cs_hint[0];
    p->rec_text = p->ev_text = NULL;
    const char *rargv[] = {p->k_cc,
                           p->k_sess,
                           p->k_dedupe,
                           ev->cs_hint,
                           p->new_id,
                           ev->kind != CS_EV_UNKNOWN ? "1" : "0",
                           ev->ccid[0] ? "1" : "0",
                           ev->session_id[0] ? "1" : "0",
                           ev->id,
                           p->own_mark ? "1" : "0"};
    memcpy(p->rargv, rargv, sizeof rargv);
}

/* The id a new call would get, made only for a resolve: a cache hit needs
 * none, and each costs a getrandom() system call (libsodium). */
static void s_new_id(s_pending_t *p)
{
    if (!p->new_id[0])
        cs_ids_call(p->new_id, p->received_at);
}

static void s_pending_clear(s_pending_t *p)
{
    free(p->rec_text);
    free(p->ev_text);
    p->rec_text = p->ev_text = NULL;
}

/* A call leaves cs:active once it is ended and no leg is live: an ended
 * call with a leg still up is the orchestrator's to finish, and its sweep
 * reads cs:active (a lost change notice must not leave a leg up). */
static bool s_out_of_active(const cs_call_t *call)
{
    bool out = cs_call_state(call) == CS_STATE_ENDED;
    for (int i = 0; out && i < call->nlegs; i++)
        out = call->legs[i].ended.at != 0;
    return out;
}

/* Merges ev into the call's record as loaded: S_MERGED or S_REFUSED. */
static s_step_t s_merge(s_pending_t *p, const cs_event_t *ev, cs_call_t *call, bool *changed)
{
    CS_COPY(p->cs_id, call->id);
    p->version = call->version;
    p->start_read = s_started(call);
    p->out_read = !call->version || s_out_of_active(call); /* a new record is in no set */
    if ((ev->kind == CS_EV_TRANSFER_REQUESTED || ev->kind == CS_EV_CONSULT_REQUESTED) &&
        cs_call_state(call) == CS_STATE_ENDED)
        return S_REFUSED;
    bool dropped = false;
    *changed = cs_call_merge(call, ev, &dropped);
    if (dropped)
        cs_warn("call %s: leg %s beyond %d legs not tracked (event %s)", p->cs_id, ev->ccid,
                CS_MAX_LEGS, ev->id);
    return S_MERGED;
}

/* After a commit that landed: the cache keeps the record as it now stands
 * in Redis (changed or not, call->version is the stored one), packed, so a
 * hit costs a few copies where the stored JSON would cost a parse (~11 us).
 * An event of no known call (no id) leaves nothing to keep. */
static void s_remember(cs_store_t *self, const cs_call_t *call)
{
    char packed[sizeof *call];
    if (!self->cache || !call->id[0])
        return;
    cs_call_pack(call, packed);
    cs_callcache_set_record(self->cache, call->id, packed, cs_call_packed_size(call));
}

/* Loads the stored record doc (len bytes, "<version> <json>") from the
 * cache when it holds the same call at the same version: 0, or -1 (not
 * there; parse it). A version names one content, as every write of a
 * record goes through the commit's version check; the cache starts over
 * with each Redis connection (cs_store_apply_batch), so a Redis that lost
 * writes cannot make an old version mean something else here. Saves the
 * JSON parse (~10 us) when an event resolves to a call the cache holds
 * (a new leg whose session the cache has not seen). */
static int s_load_cached(cs_store_t *self, const char *cs, const char *doc, size_t len,
                         cs_call_t *call)
{
    size_t plen;
    const char *packed = self->cache && len ? cs_callcache_record(self->cache, cs, &plen) : NULL;
    char *end;
    uint64_t version = packed ? strtoull(doc, &end, 10) : 0;
    if (!packed || end == doc || *end != ' ' || cs_call_unpack(call, packed, plen) != 0)
        return -1;
    return call->version == version && strcmp(call->id, cs) == 0 ? 0 : -1;
}

/* Reads the resolve script's reply (taking it) and merges ev into *call:
 * S_MERGED (p->cs_id "" when the event belongs to no call), S_DUP,
 * S_REFUSED, or S_FAILED (err says why). */
static s_step_t s_resolved(cs_store_t *self, s_pending_t *p, const cs_event_t *ev, redisReply *r,
                           cs_call_t *call, bool *changed, char *err, size_t errlen)
{
    *changed = false;
    p->cs_id[0] = '\0';
    if (s_is_status(r, "dup")) {
        freeReplyObject(r);
        return S_DUP;
    }
    if (s_is_status(r, "none")) {
        freeReplyObject(r);
        cs_call_init(call, "");
        p->version = 0;
        return S_MERGED;
    }
    if (!s_is_status(r, "ok") || r->elements != 4) {
        s_redis_failed(self, r, "resolve", err, errlen);
        return S_FAILED;
    }
    const char *cs = r->element[1]->str;
    const redisReply *doc = r->element[2];
    if (s_load_cached(self, cs, doc->str, doc->len, call) == 0)
        ; /* the cache held this very version: no parse */
    else if (s_load(cs, doc->str, doc->len, call, err, errlen)) {
        freeReplyObject(r);
        return S_FAILED;
    }
    if (self->cache) { /* what the script settled; the record is kept once committed */
        cs_callcache_set_leg(self->cache, ev->ccid, cs);
        cs_callcache_set_session(self->cache, ev->session_id, r->element[3]->str);
    }
    freeReplyObject(r);
    return s_merge(p, ev, call, changed);
}

/* After a commit that did not land (conflict, duplicate, failure): the
 * cached record may be behind; the event goes the full way. */
static void s_forget(cs_store_t *self, const s_pending_t *p)
{
    if (self->cache && p->cs_id[0])
        cs_callcache_forget(self->cache, p->cs_id);
}

/* Builds the commit script's arguments for a merged event. 0, or -1 (out
 * of memory). */
static int s_commit_args(const cs_store_t *self, s_pending_t *p, const cs_event_t *ev,
                         const char *raw, size_t rawlen, const cs_call_t *call, bool changed)
{
    s_pending_clear(p);
    json_t *entry = cs_call_history_entry(call, ev, p->received_at);
    p->ev_text = json_dumps(entry, JSON_COMPACT);
    json_decref(entry);
    if (changed) {
        json_t *doc = cs_call_to_store(call);
        p->rec_text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
    }
    if (!p->ev_text || (changed && !p->rec_text))
        return -1;
    snprintf(p->k_rec, sizeof p->k_rec, "cs:call:%s", p->cs_id);
    snprintf(p->k_hist, sizeof p->k_hist, "cs:hist:%s", p->cs_id);
    snprintf(p->k_seen, sizeof p->k_seen, "cs:seen:%s", p->cs_id);
    bool seen = p->cs_id[0] && !p->own_mark;
    snprintf(p->ver, sizeof p->ver, "%llu", (unsigned long long)p->version);
    int64_t started = s_started(call);
    snprintf(p->started, sizeof p->started, "%lld",
             p->version && started == p->start_read ? 0LL : (long long)started);
    snprintf(p->ttl, sizeof p->ttl, "%ld", self->opts.dedupe_ttl_s);
    snprintf(p->raw_max, sizeof p->raw_max, "%ld", self->opts.raw_log_max);
    snprintf(p->hist_max, sizeof p->hist_max, "%ld", self->opts.history_max);
    /* cs:active follows the record: every commit that lands writes the
     * membership of the record it stores when that differs from the one of
     * the record it merged into (which the commit that stored that one
     * wrote, in the same atomic script), so a record and its membership
     * never disagree and an unchanged membership costs Redis nothing. */
    bool out = s_out_of_active(call);
    const char *active_op = !p->cs_id[0] || out == p->out_read ? "" : out ? "1" : "0";
    const char *cargv[] = {/* keys */
                           p->k_rec, p->k_hist, seen ? p->k_seen : p->k_dedupe, "cs:active",
                           "cs:raw", "cs:calls", p->k_cc,
                           /* ARGV[1..13] */
                           p->cs_id, p->ver, p->rec_text ? p->rec_text : "", p->ev_text, active_op,
                           p->ttl, raw ? raw : "", p->raw_max, ev->id, p->hist_max, p->started,
                           p->joins ? "1" : "0", seen ? "1" : "0"};
    memcpy(p->cargv, cargv, sizeof cargv);
    for (int i = 0; i < 20; i++) /* the raw body (13) is bytes, not a C string */
        p->clens[i] = i == 13 ? (raw ? rawlen : 0) : strlen(cargv[i]);
    return 0;
}

/* Reads the commit script's reply (taking it): S_DONE with call->version
 * and, when the event changed the record, *record = "<version> <json>"
 * (new, caller frees); or S_CONFLICT, S_DUP, S_FAILED. */
static s_step_t s_committed(cs_store_t *self, s_pending_t *p, redisReply *r, cs_call_t *call,
                            bool changed, char **record, char *err, size_t errlen)
{
    *record = NULL;
    s_step_t step = s_is_status(r, "conflict") ? S_CONFLICT
                    : s_is_status(r, "dup")    ? S_DUP
                                               : S_DONE;
    if (step != S_DONE) {
        freeReplyObject(r);
        return step;
    }
    if (!s_is_status(r, "ok") || r->elements != 2) {
        s_redis_failed(self, r, "commit", err, errlen);
        return S_FAILED;
    }
    call->version = strtoull(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    if (changed && p->rec_text) {
        size_t n = strlen(p->rec_text) + 24;
        *record = malloc(n);
        if (*record)
            snprintf(*record, n, "%llu %s", (unsigned long long)call->version, p->rec_text);
    }
    return S_DONE;
}

int cs_store_apply(cs_store_t *self, const cs_event_t *ev, const char *raw, size_t rawlen,
                   cs_apply_t *outcome, cs_call_t *call, bool *changed, char *err, size_t errlen)
{
    s_pending_t p;
    s_pending_init(&p, ev);
    *changed = false;
    int rc = -1;
    for (int attempt = 0; attempt < S_MAX_RETRIES; attempt++) {
        s_new_id(&p);
        redisReply *r = cs_redis_eval(self->redis, &s_resolve, 3, 10, p.rargv, NULL);
        s_step_t step = s_resolved(self, &p, ev, r, call, changed, err, errlen);
        if (step == S_FAILED)
            goto out;
        if (step == S_REFUSED) {
            *outcome = CS_APPLY_REFUSED;
            rc = 0;
            goto out;
        }
        if (step == S_MERGED) {
            if (s_commit_args(self, &p, ev, raw, rawlen, call, *changed)) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            r = cs_redis_eval(self->redis, &s_commit, 7, 20, p.cargv, p.clens);
            char *record;
            step = s_committed(self, &p, r, call, *changed, &record, err, errlen);
            if (step != S_DONE)
                s_forget(self, &p);
            if (step == S_CONFLICT)
                continue; /* another writer got there first: merge into its record */
            if (step == S_FAILED)
                goto out;
            if (step == S_DONE) {
                s_remember(self, call);
                free(self->last_record);
                self->last_record = record;
                *outcome = p.cs_id[0] ? CS_APPLY_STORED : CS_APPLY_UNLINKED;
                rc = 0;
                goto out;
            }
        }
        /* S_DUP: this event id is stored; the record as it is now */
        *outcome = CS_APPLY_DUPLICATE;
        *changed = false;
        rc = cs_store_get(self, ev->ccid[0] ? ev->ccid : "", call, err, errlen) < 0 ? -1 : 0;
        if (rc == 0 && !ev->ccid[0])
            cs_call_init(call, "");
        goto out;
    }
    snprintf(err, errlen, "call record contended: %d merge conflicts in a row", S_MAX_RETRIES);
out:
    s_pending_clear(&p);
    return rc;
}

void cs_store_apply_batch(cs_store_t *self, cs_store_job_t *const *jobs, size_t n)
{
    /* Each job goes through the two pipelined round trips (B_BATCH) until
     * it is finished there (B_FINISHED) or has to be applied alone,
     * afterwards and in order (B_ALONE): a duplicate (its record is read
     * back), a conflict, any failure (the single path retries, reconnects
     * or explains), and a second event of a call already in the batch,
     * which must merge into the first one's record once that is stored.
     * A job whose leg and record are in the cache skips the first round
     * trip (B_HIT); its commit's version check covers a stale record. */
    enum { B_ALONE, B_BATCH, B_HIT, B_FINISHED };
    s_pending_t *p = calloc(n ? n : 1, sizeof *p);
    unsigned char *state = calloc(n ? n : 1, 1);
    bool ready = p && state && cs_redis_prepare(self->redis, &s_resolve) == 0 &&
                 cs_redis_prepare(self->redis, &s_commit) == 0;
    if (self->cache && cs_redis_connects(self->redis) != self->cache_connects) {
        /* a new connection: Redis may have restarted without its last
         * writes (AOF everysec), or be a promoted replica. A record it has
         * lost could come back at a version another writer has reached
         * since, and pass the version check: so start from what it has. */
        cs_callcache_clear(self->cache);
        self->cache_connects = cs_redis_connects(self->redis);
    }
    for (size_t i = 0; i < n; i++) {
        jobs[i]->record = NULL;
        jobs[i]->changed = false;
        jobs[i]->err[0] = '\0';
        if (!ready)
            continue;
        s_pending_init(&p[i], jobs[i]->ev);
        const cs_event_t *ev = jobs[i]->ev;
        const char *cs;
        size_t len;
        const char *packed = self->cache ? cs_callcache_find(self->cache, ev->ccid, ev->session_id,
                                                             ev->cs_hint, &cs, &len, &p[i].joins)
                                         : NULL;
        if (packed && cs_call_unpack(jobs[i]->call, packed, len) == 0) {
            state[i] = B_HIT;
            continue;
        }
        p[i].joins = false;
        s_new_id(&p[i]);
        if (cs_redis_append_eval(self->redis, &s_resolve, 3, 10, p[i].rargv, NULL) == 0)
            state[i] = B_BATCH;
    }
    if (ready)
        cs_redis_flush(self->redis); /* Redis resolves while the hits are merged */
    for (size_t i = 0; i < n; i++) {
        if (state[i] != B_BATCH && state[i] != B_HIT)
            continue;
        cs_store_job_t *j = jobs[i];
        s_step_t step;
        if (state[i] == B_HIT) {
            step = s_merge(&p[i], j->ev, j->call, &j->changed);
        } else {
            redisReply *r = cs_redis_reply(self->redis);
            step = s_resolved(self, &p[i], j->ev, r, j->call, &j->changed, j->err, sizeof j->err);
        }
        if (step == S_REFUSED) {
            j->outcome = CS_APPLY_REFUSED;
            j->rc = 0;
            state[i] = B_FINISHED;
            continue;
        }
        bool alone = step != S_MERGED;
        for (size_t k = 0; k < i && !alone && p[i].cs_id[0]; k++)
            alone = state[k] == B_BATCH && strcmp(p[k].cs_id, p[i].cs_id) == 0;
        alone = alone ||
                s_commit_args(self, &p[i], j->ev, j->raw, j->rawlen, j->call, j->changed) ||
                cs_redis_append_eval(self->redis, &s_commit, 7, 20, p[i].cargv, p[i].clens);
        state[i] = alone ? B_ALONE : B_BATCH;
    }
    for (size_t i = 0; i < n; i++) {
        if (state[i] != B_BATCH)
            continue;
        cs_store_job_t *j = jobs[i];
        redisReply *r = cs_redis_reply(self->redis);
        if (s_committed(self, &p[i], r, j->call, j->changed, &j->record, j->err, sizeof j->err) ==
            S_DONE) {
            s_remember(self, j->call);
            if (p[i].joins) /* the commit indexed the leg (or found it indexed) to the call */
                cs_callcache_set_leg(self->cache, j->ev->ccid, p[i].cs_id);
            j->outcome = p[i].cs_id[0] ? CS_APPLY_STORED : CS_APPLY_UNLINKED;
            j->rc = 0;
            state[i] = B_FINISHED;
        } else {
            s_forget(self, &p[i]);
            state[i] = B_ALONE;
        }
    }
    for (size_t i = 0; i < n; i++) {
        cs_store_job_t *j = jobs[i];
        if (p)
            s_pending_clear(&p[i]);
        if (state && state[i] == B_FINISHED)
            continue;
        j->err[0] = '\0';
        j->rc = cs_store_apply(self, j->ev, j->raw, j->rawlen, &j->outcome, j->call, &j->changed,
                               j->err, sizeof j->err);
        if (j->rc == 0 && j->changed && self->last_record) {
            j->record = self->last_record; /* the job takes it */
            self->last_record = NULL;
        }
    }
    free(p);
    free(state);
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

int cs_store_since_limit(const char *text, int *limit)
{
    size_t n = strlen(text);
    if (n < 1 || strspn(text, "0123456789") != n) /* a long one saturates: over the max */
        return -1;
    long v = strtol(text, NULL, 10);
    if (v < 1 || v > CS_STORE_SINCE_MAX)
        return -1;
    *limit = (int)v;
    return 0;
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

/* Forgets one call (cs_store_forget_ended) if its record is at the
 * version read (ARGV[2]; "0": the record is gone, only the cs:calls entry
 * is left) and it is out of cs:active: 1 removed, 0 it stays (or another
 * sweeper removed it first). KEYS[6...] are its legs' and sessions'
 * indexes, deleted only while they name it. */
static const cs_redis_script_t s_forget_script = {
    "forget",
    "local cur = redis.call('GETRANGE', KEYS[1], 0, 20)\n"
    "if (tonumber(string.match(cur, '^%d+')) or 0) ~= tonumber(ARGV[2]) then return 0 end\n"
    "if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then return 0 end\n"
    "for i = 6, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "local entry = redis.call('ZREM', KEYS[4], ARGV[1])\n"
    "if ARGV[2] == '0' then return entry end\n"
    "return 1\n",
};

/* 1 removed, 0 stays, -1 Redis. call: the record read (NULL: it is gone). */
static int s_forget_call(cs_store_t *self, const char *cs_id, const cs_call_t *call, char *err,
                         size_t errlen)
{
    enum { FIXED = 5, MAX_KEYS = FIXED + 2 * CS_MAX_LEGS };
    char keys[MAX_KEYS][CS_CCID_LEN + 16], version[24];
    int nkeys = FIXED;
    snprintf(keys[0], sizeof keys[0], "cs:call:%s", cs_id);
    snprintf(keys[1], sizeof keys[1], "cs:hist:%s", cs_id);
    snprintf(keys[2], sizeof keys[2], "cs:seen:%s", cs_id);
    snprintf(keys[3], sizeof keys[3], "cs:calls");
    snprintf(keys[4], sizeof keys[4], "cs:active");
    for (int i = 0; call && i < call->nlegs; i++) {
        const cs_leg_t *leg = &call->legs[i];
        snprintf(keys[nkeys++], sizeof keys[0], "cs:idx:cc:%s", leg->ccid);
        if (leg->session_id[0])
            snprintf(keys[nkeys++], sizeof keys[0], "cs:idx:sess:%s", leg->session_id);
    }
    snprintf(version, sizeof version, "%llu", call ? (unsigned long long)call->version : 0ULL);
    const char *argv[MAX_KEYS + 2];
    for (int i = 0; i < nkeys; i++)
        argv[i] = keys[i];
    argv[nkeys] = cs_id;
    argv[nkeys + 1] = version;
    redisReply *r = cs_redis_eval(self->redis, &s_forget_script, nkeys, nkeys + 2, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return s_redis_failed(self, r, "forget", err, errlen);
    int removed = r->integer == 1;
    freeReplyObject(r);
    return removed;
}

int cs_store_forget_ended(cs_store_t *self, int64_t cutoff_ms, int max, long *cursor, bool *more,
                          char *err, size_t errlen)
{
    enum { PAGE = 100 };
    static __thread cs_call_t call; /* 20 KiB: off the caller's stack */
    int removed = 0, looked = 0;
    err[0] = '\0';
    *more = true;
    while (looked < max) {
        int page = max - looked < PAGE ? max - looked : PAGE;
        redisReply *r = cs_redis_cmd(self->redis, "ZRANGEBYSCORE cs:calls -inf %lld LIMIT %ld %d",
                                     (long long)cutoff_ms, *cursor, page);
        if (!r || r->type != REDIS_REPLY_ARRAY)
            return s_redis_failed(self, r, "ZRANGEBYSCORE", err, errlen);
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++, looked++) {
            const char *id = r->element[i]->str;
            redisReply *doc = cs_redis_cmd(self->redis, "GET cs:call:%s", id);
            if (!doc || (doc->type != REDIS_REPLY_STRING && doc->type != REDIS_REPLY_NIL)) {
                freeReplyObject(r);
                return s_redis_failed(self, doc, "GET", err, errlen);
            }
            int gone = 0;
            if (doc->type == REDIS_REPLY_NIL) { /* the record is gone: only the entry is left */
                gone = s_forget_call(self, id, NULL, err, errlen);
            } else if (s_load(id, doc->str, doc->len, &call, err, errlen) != 0) {
                cs_warn("retention: call %s kept: %s", id, err); /* for a person to see */
            } else {
                int64_t ended = cs_call_ended_at(&call);
                if (ended && ended < cutoff_ms)
                    gone = s_forget_call(self, id, &call, err, errlen);
            }
            freeReplyObject(doc);
            if (gone < 0) {
                freeReplyObject(r);
                return -1;
            }
            removed += gone;
            *cursor += !gone; /* it stays: the next page starts after it */
        }
        freeReplyObject(r);
        if ((int)n < page) {
            *cursor = 0; /* the whole range was looked at */
            *more = false;
            break;
        }
    }
    return removed;
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
