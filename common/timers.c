/* timers - see timers.h. */
#include "timers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cs_redis_script_t s_take = {
    "timers_take",
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', "
    "0, ARGV[2])\n"
    "for i = 1, #due, 2 do redis.call('ZREM', KEYS[1], due[i]) end\n"
    "return due\n",
};

void cs_timers_member(const char *kind, const char *cs_id, const char *ccid, char *buf, size_t len)
{
    snprintf(buf, len, "%s|%s|%s", kind, cs_id, ccid ? ccid : "");
}

int cs_timers_add(cs_redis_t *redis, const char *kind, const char *cs_id, const char *ccid,
                  int64_t due_ms)
{
    char member[512], score[32];
    cs_timers_member(kind, cs_id, ccid, member, sizeof member);
    snprintf(score, sizeof score, "%lld", (long long)due_ms);
    const char *argv[] = {"ZADD", "cs:timers", "GT", score, member};
    redisReply *r = cs_redis_argv(redis, 5, argv, NULL);
    int ok = r && r->type == REDIS_REPLY_INTEGER; /* GT adds new members, moves old ones later */
    freeReplyObject(r);
    return ok ? 0 : -1;
}

json_t *cs_timers_take(cs_redis_t *redis, int64_t now_ms, int max)
{
    char now[32], n[16];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(n, sizeof n, "%d", max);
    const char *argv[] = {"cs:timers", now, n};
    redisReply *r = cs_redis_eval(redis, &s_take, 1, 3, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        char member[512];
        snprintf(member, sizeof member, "%s", r->element[i]->str);
        char *kind = member, *cs = strchr(kind, '|'), *cc = cs ? strchr(cs + 1, '|') : NULL;
        if (!cs || !cc)
            continue; /* not ours: dropped */
        *cs++ = '\0';
        *cc++ = '\0';
        long long due = strtoll(r->element[i + 1]->str, NULL, 10);
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:I, s:I}", "kind", kind, "call", cs,
                                             "call_control_id", cc, "due", (json_int_t)due,
                                             "late_ms", (json_int_t)(now_ms - due)));
    }
    freeReplyObject(r);
    return out;
}
