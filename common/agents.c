/* agents - see agents.h. */
#include "agents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timestamp.h"

static const char *s_statuses[] = {"available", "busy", "wrap_up", "offline"};

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

int cs_agent_set(cs_redis_t *redis, const char *id, const char *sip_user, const char *name,
                 const char *status, char *err, size_t errlen)
{
    if (status && !cs_agent_status_ok(status)) {
        snprintf(err, errlen, "status must be available, busy, wrap_up or offline");
        return -1;
    }
    int missing = 0;
    json_t *old = cs_agent_get(redis, id, &missing, err, errlen);
    if (!old && !missing)
        return -1;
    const char *old_sip = json_string_value(json_object_get(old, "sip_user"));
    char now[CS_TS_LEN];
    cs_ts_format(cs_ts_now_ms(), now, sizeof now);
    const char *argv[16];
    int n = 0;
    char key[128];
    snprintf(key, sizeof key, "cs:agent:%s", id);
    argv[n++] = "HSET";
    argv[n++] = key;
    argv[n++] = "id";
    argv[n++] = id;
    argv[n++] = "updated_at";
    argv[n++] = now;
    if (sip_user) {
        argv[n++] = "sip_user";
        argv[n++] = sip_user;
    }
    if (name) {
        argv[n++] = "name";
        argv[n++] = name;
    }
    if (status || missing) {
        argv[n++] = "status";
        argv[n++] = status ? status : "offline";
    }
    /* One MULTI so the profile, the set and the SIP index change together. */
    int rc = -1;
    redisReply *r = cs_redis_cmd(redis, "MULTI");
    if (!r || r->type == REDIS_REPLY_ERROR)
        goto fail;
    freeReplyObject(r);
    freeReplyObject(cs_redis_argv(redis, n, argv, NULL));
    freeReplyObject(cs_redis_cmd(redis, "SADD cs:agents %s", id));
    if (sip_user) {
        if (old_sip && strcmp(old_sip, sip_user) != 0)
            freeReplyObject(cs_redis_cmd(redis, "DEL cs:idx:sip:%s", old_sip));
        freeReplyObject(cs_redis_cmd(redis, "SET cs:idx:sip:%s %s", sip_user, id));
    }
    r = cs_redis_cmd(redis, "EXEC");
    if (!r || r->type != REDIS_REPLY_ARRAY)
        goto fail;
    freeReplyObject(r);
    rc = 0;
    json_decref(old);
    return rc;
fail:
    json_decref(old);
    return s_fail(r, redis, err, errlen);
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
    redisReply *r = cs_redis_eval(redis, &s_transition, 1, 4, argv, NULL);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}

json_t *cs_agent_get(cs_redis_t *redis, const char *id, int *missing, char *err, size_t errlen)
{
    *missing = 0;
    redisReply *r = cs_redis_cmd(redis, "HGETALL cs:agent:%s", id);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_fail(r, redis, err, errlen);
        return NULL;
    }
    if (r->elements == 0) {
        *missing = 1;
        freeReplyObject(r);
        return NULL;
    }
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        json_object_set_new(o, r->element[i]->str, json_string(r->element[i + 1]->str));
    freeReplyObject(r);
    return o;
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
    char **ids = calloc(r->elements + 1, sizeof *ids);
    for (size_t i = 0; ids && i < r->elements; i++)
        ids[i] = r->element[i]->str;
    json_t *out = json_array();
    if (ids)
        qsort(ids, r->elements, sizeof *ids, s_cmp);
    for (size_t i = 0; ids && i < r->elements; i++) {
        int missing;
        json_t *a = cs_agent_get(redis, ids[i], &missing, err, errlen);
        if (a)
            json_array_append_new(out, a);
    }
    free(ids);
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
