/* agents - see agents.h. */
#include "agents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timers.h"
#include "timestamp.h"

static const char *s_statuses[] = {"available", "busy", "wrap_up", "offline"};

int cs_agent_id_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 64 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int cs_agent_status_ok(const char *status)
{
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++)
        if (strcmp(status, s_statuses[i]) == 0)
            return 1;
    return 0;
}

static int s_fail(redisReply *r, cs_redis_t *redis, char *err, size_t errlen)
{
    snprintf(err, errlen, "redis: %s",
             r && r->type == REDIS_REPLY_ERROR ? r->str : cs_redis_error(redis));
    if (r)
        freeReplyObject(r);
    return -1;
}

int cs_agent_sip_user_ok(const char *sip_user)
{
    size_t n = strlen(sip_user);
    return n >= 1 && n <= CS_AGENT_SIP_USER_MAX &&
           strspn(sip_user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_.!~*'()&=+$,") == n;
}

int cs_agent_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n > CS_AGENT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    json_t *utf8 = json_string(name); /* NULL unless valid UTF-8 */
    json_decref(utf8);
    return utf8 != NULL;
}

/* The whole of an agent's set in one step, so that two operators (or an
 * operator and a call's step) cannot leave the SIP index and the profile
 * disagreeing: the old SIP user's entry goes only if it is still this
 * agent's, and a SIP user another agent holds is refused (were it taken,
 * that agent's calls would be tied to this one). An index entry whose
 * agent no longer has that SIP user is stale, and is taken over.
 * KEYS: cs:agent:<id>, cs:agents, cs:idx:sip:<sip user> (or the agent's
 * key again when none is given); ARGV: id, sip user ("" keep), name, "1"
 * when a name is given, status ("" keep), now (RFC 3339).
 * {"ok"} | {"no_sip"} (a new agent without one) | {"taken", owner}. */
static const cs_redis_script_t s_set = {
    "agent_set",
    "local id, sip, status = ARGV[1], ARGV[2], ARGV[5]\n"
    "local exists = redis.call('EXISTS', KEYS[1]) == 1\n"
    "if not exists and sip == '' then return {'no_sip'} end\n"
    "if sip ~= '' then\n"
    "  local owner = redis.call('GET', KEYS[3])\n"
    "  if owner and owner ~= id and\n"
    "     redis.call('HGET', 'cs:agent:' .. owner, 'sip_user') == sip then\n"
    "    return {'taken', owner}\n"
    "  end\n"
    "  local old = redis.call('HGET', KEYS[1], 'sip_user')\n"
    "  if old and old ~= sip and redis.call('GET', 'cs:idx:sip:' .. old) == id then\n"
    "    redis.call('DEL', 'cs:idx:sip:' .. old)\n"
    "  end\n"
    "  redis.call('SET', KEYS[3], id)\n"
    "  redis.call('HSET', KEYS[1], 'sip_user', sip)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'id', id)\n"
    "if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[3]) end\n"
    "if status ~= '' or not exists then\n"
    "  redis.call('HSET', KEYS[1], 'status', status ~= '' and status or 'offline',\n"
    "             'updated_at', ARGV[6])\n"
    "end\n"
    "if status ~= '' then redis.call('HDEL', KEYS[1], 'busy_call') end\n"
    "redis.call('SADD', KEYS[2], id)\n"
    "return {'ok'}\n",
};

int cs_agent_set(cs_redis_t *redis, const char *id, const char *sip_user, const char *name,
                 const char *status, char *err, size_t errlen)
{
    if (!cs_agent_id_ok(id)) {
        snprintf(err, errlen, "%s", CS_AGENT_ID_RULE);
        return -1;
    }
    if (sip_user && !cs_agent_sip_user_ok(sip_user)) {
        snprintf(err, errlen, "sip user must be 1-%d of [A-Za-z0-9-_.!~*'()&=+$,]",
                 CS_AGENT_SIP_USER_MAX);
        return -1;
    }
    if (name && !cs_agent_name_ok(name)) {
        snprintf(err, errlen, "name must be UTF-8 without control characters, at most %d bytes",
                 CS_AGENT_NAME_MAX);
        return -1;
    }
    if (status && !cs_agent_status_ok(status)) {
        snprintf(err, errlen, "status must be available, busy, wrap_up or offline");
        return -1;
    }
    char key[128], idx[192], now[CS_TS_LEN];
    snprintf(key, sizeof key, "cs:agent:%s", id);
    snprintf(idx, sizeof idx, "cs:idx:sip:%s", sip_user ? sip_user : "");
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    /* the agent's own key stands in for the index when there is no SIP user:
     * the script reads KEYS[3] only with one */
    const char *argv[] = {key,
                          "cs:agents",
                          sip_user ? idx : key,
                          id,
                          sip_user ? sip_user : "",
                          name ? name : "",
                          name ? "1" : "0",
                          status ? status : "",
                          now};
    redisReply *r = cs_redis_eval(redis, &s_set, 3, 9, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return s_fail(r, redis, err, errlen);
    const char *outcome = r->element[0]->str;
    int rc = 0;
    if (strcmp(outcome, "no_sip") == 0) {
        snprintf(err, errlen, "a new agent needs a sip user");
        rc = -1;
    } else if (strcmp(outcome, "taken") == 0) {
        snprintf(err, errlen, "sip user %s belongs to agent %s", sip_user,
                 r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str
                                                                              : "?");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* An integer reply (freed), or -1 for any other or none. */
static int s_integer(redisReply *r)
{
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}

static const cs_redis_script_t s_transition = {
    "agent_transition",
    "if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[3])\n"
    "return 1\n",
};

int cs_agent_transition(cs_redis_t *redis, const char *id, const char *from, const char *to)
{
    char key[128], now[CS_TS_LEN];
    snprintf(key, sizeof key, "cs:agent:%s", id);
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    const char *argv[] = {key, from, to, now};
    return s_integer(cs_redis_eval(redis, &s_transition, 1, 4, argv, NULL));
}

/* KEYS: cs:agent:<id>, cs:online:<id>, cs:timers; ARGV: the relay, the
 * lease's end, now (RFC 3339), the timer's member, 1 for a connect. */
static const cs_redis_script_t s_softphone_up = {
    "agent_softphone_up",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[3], 'GT', ARGV[2], ARGV[4])\n"
    "if ARGV[5] ~= '1' and redis.call('HGET', KEYS[1], 'softphone') == 'connected' then\n"
    "  return 0 end\n"
    "redis.call('HSET', KEYS[1], 'softphone', 'connected')\n"
    "if redis.call('HGET', KEYS[1], 'status') ~= 'offline' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'available', 'updated_at', ARGV[3])\n"
    "return 1\n",
};

/* KEYS: cs:online:<id>, cs:timers; ARGV: the relay, the lease's end, the
 * timer's member. The relay's lease becomes a grace lease ("<relay>#grace":
 * it keeps the agent's presence, but names no socket to reach them by).
 * The check may come earlier than it was (not GT, as a renewal's): one that
 * finds another relay's lease running sets itself again at that lease's
 * end. */
static const cs_redis_script_t s_softphone_down = {
    "agent_softphone_down",
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1] .. '#grace')\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])\n"
    "return 0\n",
};

/* KEYS: cs:agent:<id>, cs:online:<id>, cs:timers; ARGV: now (ms), now
 * (RFC 3339), the timer's member. */
static const cs_redis_script_t s_softphone_check = {
    "agent_softphone_check",
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])\n"
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')\n"
    "if #last > 0 then\n"
    "  redis.call('ZADD', KEYS[3], 'GT', last[2], ARGV[3])\n"
    "  return 0 end\n"
    "if redis.call('HGET', KEYS[1], 'softphone') ~= 'connected' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'softphone', 'gone')\n"
    "local status = redis.call('HGET', KEYS[1], 'status')\n"
    "if status ~= 'available' and status ~= 'wrap_up' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'offline', 'updated_at', ARGV[2])\n"
    "return 1\n",
};

/* Lua: sets the local `to` to the status a freed agent (KEYS[1]) takes:
 * available, or offline when their softphone is gone. */
#define S_LUA_FREED_TO                                                                             \
    "to = 'available'\n"                                                                           \
    "if redis.call('HGET', KEYS[1], 'softphone') == 'gone' then to = 'offline' end\n"

/* KEYS: cs:agent:<id>; ARGV: now (RFC 3339), the status it must be in. */
static const cs_redis_script_t s_free = {
    "agent_free",
    "if redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return false end\n"
    "local to\n" S_LUA_FREED_TO "redis.call('HSET', KEYS[1], 'status', to, 'updated_at', ARGV[1])\n"
    "return to\n",
};

/* KEYS: cs:agent:<id>, cs:presence:<cs id>:<id>, cs:offer:<id>; ARGV: the
 * version, now (RFC 3339), the target ("busy", "wrap_up" or "free"), the
 * cs id, then each status it may move from. The second key holds the
 * latest version of the call that moved (or tried to move) this agent.
 * `busy_call` is the call that made the agent busy: only that call's end
 * frees them (one made busy before the field existed, or by an operator,
 * has none). The call's offer of the agent ends first, whatever the step:
 * the orchestrator asks for a step only once their legs in the call no
 * longer ring (answered, or ended) or the call is over. */
static const cs_redis_script_t s_follow_call = {
    "agent_follow_call",
    "if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "local v = tonumber(ARGV[1])\n"
    "if tonumber(redis.call('GET', KEYS[2]) or '0') > v then return false end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'EX', 86400)\n"
    "local status = redis.call('HGET', KEYS[1], 'status')\n"
    "local from = false\n"
    "for i = 5, #ARGV do from = from or status == ARGV[i] end\n"
    "if not from then return false end\n"
    "local to = ARGV[3]\n"
    "if to == 'busy' then\n"
    "  redis.call('HSET', KEYS[1], 'status', to, 'updated_at', ARGV[2], 'busy_call', ARGV[4])\n"
    "  return to\n"
    "end\n"
    "local owner = redis.call('HGET', KEYS[1], 'busy_call')\n"
    "if status == 'busy' and owner and owner ~= ARGV[4] then return false end\n"
    "if to == 'free' then\n" S_LUA_FREED_TO "end\n"
    "redis.call('HSET', KEYS[1], 'status', to, 'updated_at', ARGV[2])\n"
    "redis.call('HDEL', KEYS[1], 'busy_call')\n"
    "return to\n",
};

typedef struct {
    char agent[128], online[128], timer[160];
} s_presence_keys_t;

static void s_presence_keys(const char *id, s_presence_keys_t *k)
{
    snprintf(k->agent, sizeof k->agent, "cs:agent:%s", id);
    snprintf(k->online, sizeof k->online, "cs:online:%s", id);
    cs_timers_member("presence_check", "-", id, k->timer, sizeof k->timer);
}

static void s_offer_key(const char *id, char *key, size_t size)
{
    snprintf(key, size, "cs:offer:%s", id);
}

/* KEYS: cs:agent:<id>, cs:agents, cs:online:<id>, cs:timers, cs:offer:<id>;
 * ARGV: id, the presence check's timer member.
 * {"ok"} | {"missing"} | {"busy", call} | {"offered", call}. */
static const cs_redis_script_t s_remove = {
    "agent_remove",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end\n"
    "if redis.call('HGET', KEYS[1], 'status') == 'busy' then\n"
    "  return {'busy', redis.call('HGET', KEYS[1], 'busy_call') or ''}\n"
    "end\n"
    "local offered = redis.call('GET', KEYS[5])\n"
    "if offered then return {'offered', offered} end\n"
    "local sip = redis.call('HGET', KEYS[1], 'sip_user')\n"
    "if sip and redis.call('GET', 'cs:idx:sip:' .. sip) == ARGV[1] then\n"
    "  redis.call('DEL', 'cs:idx:sip:' .. sip)\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[3])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZREM', KEYS[4], ARGV[2])\n"
    "return {'ok'}\n",
};

int cs_agent_remove(cs_redis_t *redis, const char *id, char *err, size_t errlen)
{
    if (!cs_agent_id_ok(id)) {
        snprintf(err, errlen, "%s", CS_AGENT_ID_RULE);
        return -1;
    }
    s_presence_keys_t k;
    s_presence_keys(id, &k);
    char offer[128];
    s_offer_key(id, offer, sizeof offer);
    const char *argv[] = {k.agent, "cs:agents", k.online, "cs:timers", offer, id, k.timer};
    redisReply *r = cs_redis_eval(redis, &s_remove, 5, 7, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return s_fail(r, redis, err, errlen);
    int rc = 0;
    const char *what = r->element[0]->str;
    const char *call =
        r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->str[0]
            ? r->element[1]->str
            : "(unknown)";
    if (strcmp(what, "missing") == 0) {
        snprintf(err, errlen, "no such agent");
        rc = 1;
    } else if (strcmp(what, "busy") == 0) {
        snprintf(err, errlen, "agent %s is on call %s: remove them once it has ended", id, call);
        rc = -1;
    } else if (strcmp(what, "offered") == 0) {
        snprintf(err, errlen,
                 "call %s is ringing agent %s: remove them once it has been answered or has "
                 "stopped ringing",
                 call, id);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* KEYS: cs:offer:<id>; ARGV: the call, the offer's life (ms). 1 offered
 * (or already offered that call), 0 another call's offer stands. */
static const cs_redis_script_t s_offer = {
    "agent_offer",
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 1\n",
};

/* KEYS: cs:offer:<id>; ARGV: the call. 1 ended, 0 not that call's. */
static const cs_redis_script_t s_offer_end = {
    "agent_offer_end",
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return 1\n",
};

int cs_agent_offer(cs_redis_t *redis, const char *id, const char *call_id, int64_t ttl_ms)
{
    char key[128], ttl[32];
    s_offer_key(id, key, sizeof key);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    const char *argv[] = {key, call_id, ttl};
    return s_integer(cs_redis_eval(redis, &s_offer, 1, 3, argv, NULL));
}

int cs_agent_offer_end(cs_redis_t *redis, const char *id, const char *call_id)
{
    char key[128];
    s_offer_key(id, key, sizeof key);
    const char *argv[] = {key, call_id};
    return s_integer(cs_redis_eval(redis, &s_offer_end, 1, 2, argv, NULL));
}

long long cs_agent_unoffered(cs_redis_t *redis, const char *const *ids, size_t n)
{
    const char **argv = calloc(n + 1, sizeof *argv);
    char(*keys)[128] = calloc(n ? n : 1, sizeof *keys);
    long long free_n = -1;
    if (!argv || !keys)
        goto out;
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        s_offer_key(ids[i], keys[i], sizeof keys[i]);
        argv[i + 1] = keys[i];
    }
    redisReply *r = n ? cs_redis_argv(redis, (int)n + 1, argv, NULL) : NULL;
    if (!n || (r && r->type == REDIS_REPLY_ARRAY && r->elements == n)) {
        free_n = 0;
        for (size_t i = 0; i < n; i++)
            free_n += r->element[i]->type == REDIS_REPLY_NIL;
    }
    freeReplyObject(r);
out:
    free(argv);
    free(keys);
    return free_n;
}

int cs_agent_softphone_up(cs_redis_t *redis, const char *id, const char *relay, int64_t until_ms,
                          int connect)
{
    s_presence_keys_t k;
    s_presence_keys(id, &k);
    char until[32], now[CS_TS_LEN];
    snprintf(until, sizeof until, "%lld", (long long)until_ms);
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    const char *argv[] = {k.agent, k.online, "cs:timers", relay,
                          until,   now,      k.timer,     connect ? "1" : "0"};
    return s_integer(cs_redis_eval(redis, &s_softphone_up, 3, 8, argv, NULL));
}

int cs_agent_softphone_down(cs_redis_t *redis, const char *id, const char *relay, int64_t until_ms)
{
    s_presence_keys_t k;
    s_presence_keys(id, &k);
    char until[32];
    snprintf(until, sizeof until, "%lld", (long long)until_ms);
    const char *argv[] = {k.online, "cs:timers", relay, until, k.timer};
    return s_integer(cs_redis_eval(redis, &s_softphone_down, 2, 5, argv, NULL)) < 0 ? -1 : 0;
}

int cs_agent_softphone_check(cs_redis_t *redis, const char *id, int64_t now_ms)
{
    s_presence_keys_t k;
    s_presence_keys(id, &k);
    char now[32], ts[CS_TS_LEN];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    cs_ts_format(now_ms, ts, sizeof ts);
    const char *argv[] = {k.agent, k.online, "cs:timers", now, ts, k.timer};
    return s_integer(cs_redis_eval(redis, &s_softphone_check, 3, 6, argv, NULL));
}

const char *cs_agent_free(cs_redis_t *redis, const char *id, const char *from)
{
    s_presence_keys_t k;
    s_presence_keys(id, &k);
    char now[CS_TS_LEN];
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    const char *argv[] = {k.agent, now, from};
    redisReply *r = cs_redis_eval(redis, &s_free, 1, 3, argv, NULL);
    const char *to = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        to = strcmp(r->str, "offline") == 0 ? "offline" : "available";
    freeReplyObject(r);
    return to;
}

const char *cs_agent_follow_call(cs_redis_t *redis, const char *id, const char *call_id,
                                 uint64_t version, const char *const from[], const char *to)
{
    static const char *const statuses[] = {"available", "busy", "wrap_up", "offline"};
    char agent[128], seen[192], offer[128], ver[24], now[CS_TS_LEN];
    snprintf(agent, sizeof agent, "cs:agent:%s", id);
    snprintf(seen, sizeof seen, "cs:presence:%s:%s", call_id, id);
    s_offer_key(id, offer, sizeof offer);
    snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    const char *argv[7 + 4] = {agent, seen, offer, ver, now, to, call_id}; /* + four `from` */
    int argc = 7;
    for (int i = 0; from[i] && argc < (int)(sizeof argv / sizeof argv[0]); i++)
        argv[argc++] = from[i];
    redisReply *r = cs_redis_eval(redis, &s_follow_call, 3, argc, argv, NULL);
    const char *moved = NULL;
    for (size_t i = 0; r && r->type == REDIS_REPLY_STRING && i < 4; i++)
        if (strcmp(r->str, statuses[i]) == 0)
            moved = statuses[i];
    freeReplyObject(r);
    return moved;
}

int cs_agent_reachable(cs_redis_t *redis, const char *id, int64_t now_ms)
{
    redisReply *r =
        cs_redis_cmd(redis, "ZRANGEBYSCORE cs:online:%s (%lld +inf", id, (long long)now_ms);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    int reachable = 0;
    for (size_t i = 0; i < r->elements && !reachable; i++)
        reachable = r->element[i]->type == REDIS_REPLY_STRING && !strstr(r->element[i]->str, "#");
    freeReplyObject(r);
    return reachable;
}

/* An agent's hash (an HGETALL reply) as JSON: a new reference, NULL when
 * it is empty (no such agent). */
static json_t *s_agent_json(const redisReply *r)
{
    if (r->elements == 0)
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; o && i + 1 < r->elements; i += 2)
        json_object_set_new(o, r->element[i]->str, json_string(r->element[i + 1]->str));
    return o;
}

json_t *cs_agent_get(cs_redis_t *redis, const char *id, int *missing, char *err, size_t errlen)
{
    *missing = 0;
    redisReply *r = cs_redis_cmd(redis, "HGETALL cs:agent:%s", id);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_fail(r, redis, err, errlen);
        return NULL;
    }
    json_t *o = s_agent_json(r);
    *missing = r->elements == 0;
    if (!o && !*missing)
        snprintf(err, errlen, "out of memory");
    freeReplyObject(r);
    return o;
}

int cs_agent_get_many(cs_redis_t *redis, const char *const *ids, size_t n, json_t **out, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (size_t from = 0; from < n; from += CS_AGENT_READ_CHUNK) {
        size_t to = from + CS_AGENT_READ_CHUNK < n ? from + CS_AGENT_READ_CHUNK : n;
        char key[128];
        for (size_t i = from; i < to; i++) {
            snprintf(key, sizeof key, "cs:agent:%s", ids[i]);
            const char *argv[] = {"HGETALL", key};
            if (cs_redis_append(redis, 2, argv, NULL))
                goto fail; /* not connected: nothing was queued on a live connection */
        }
        /* every reply is read, even after a bad one, so the connection stays in step */
        int bad = 0;
        for (size_t i = from; i < to; i++) {
            redisReply *r = cs_redis_reply(redis);
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                if (!bad)
                    snprintf(err, errlen, "redis: %s",
                             r && r->type == REDIS_REPLY_ERROR ? r->str : cs_redis_error(redis));
                bad = 1;
            } else {
                out[i] = s_agent_json(r);
            }
            freeReplyObject(r);
        }
        if (bad)
            goto fail_noted;
    }
    return 0;
fail:
    snprintf(err, errlen, "redis: %s", cs_redis_error(redis));
fail_noted:
    for (size_t i = 0; i < n; i++) {
        json_decref(out[i]);
        out[i] = NULL;
    }
    return -1;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *cs_agent_list(cs_redis_t *redis, char *err, size_t errlen)
{
    redisReply *r = cs_redis_cmd(redis, "SMEMBERS cs:agents");
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_fail(r, redis, err, errlen);
        return NULL;
    }
    size_t n = r->elements;
    const char **ids = calloc(n + 1, sizeof *ids);
    json_t **got = calloc(n + 1, sizeof *got);
    json_t *out = NULL;
    if (!ids || !got) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = r->element[i]->str;
    qsort(ids, n, sizeof *ids, s_cmp);
    /* one pipeline, not a round trip per agent: the list is every agent */
    if (cs_agent_get_many(redis, ids, n, got, err, errlen))
        goto done;
    out = json_array();
    for (size_t i = 0; out && i < n; i++)
        if (got[i]) /* removed since SMEMBERS */
            json_array_append_new(out, got[i]);
done:
    free(ids);
    free(got);
    freeReplyObject(r);
    return out;
}

static int s_set_field(cs_redis_t *redis, const char *id, const char *field, const char *value,
                       char *err, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "cs:agent:%s", id);
    const char *argv[] = {"HSET", key, field, value};
    redisReply *r = cs_redis_argv(redis, 4, argv, NULL);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "HSET %s: %s", key, r ? r->str : "Redis unreachable");
    freeReplyObject(r);
    return rc;
}

int cs_agent_set_credential(cs_redis_t *redis, const char *id, const char *credential_id, char *err,
                            size_t errlen)
{
    return s_set_field(redis, id, "credential_id", credential_id, err, errlen);
}

int cs_agent_set_role(cs_redis_t *redis, const char *id, const char *role, char *err, size_t errlen)
{
    if (strcmp(role, "agent") != 0 && strcmp(role, "supervisor") != 0) {
        snprintf(err, errlen, "role must be agent or supervisor");
        return -1;
    }
    return s_set_field(redis, id, "role", role, err, errlen);
}

int cs_agent_announce(cs_bus_t *bus, const char *id)
{
    if (!bus)
        return 0;
    json_t *notice = json_pack("{s:i, s:s}", "v", 1, "agent", id);
    int rc = notice ? cs_bus_publish(bus, "agent.changed", notice) : -1;
    json_decref(notice);
    if (rc)
        cs_warn("agent.changed for %s not sent (bus queue full): pages see it at their resync", id);
    return rc;
}
