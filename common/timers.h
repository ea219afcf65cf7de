/* timers - durable timers in Redis (proto/README.md): the sorted set
 * cs:timers, members "<kind>|<cs id>|<call_control_id>" scored by the due
 * time in ms. Adding is idempotent (ZADD GT: a new member is added, an
 * existing one only moves later); a due timer is taken by exactly one
 * taker across all instances (one Lua script removes what it returns), and
 * timers survive restarts with Redis. */
#ifndef CS_TIMERS_H
#define CS_TIMERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"

/* The member of cs:timers for (kind, cs id, control id), for scripts that
 * schedule a timer themselves. */
void cs_timers_member(const char *kind, const char *cs_id, const char *ccid, char *buf, size_t len);

/* Schedules kind for (cs id, control id) at due_ms. 0 or -1 (Redis down). */
int cs_timers_add(cs_redis_t *redis, const char *kind, const char *cs_id, const char *ccid,
                  int64_t due_ms);

/* Takes up to max timers due at now_ms: a new array of
 * {"kind", "call", "call_control_id", "due", "late_ms"}, or NULL (Redis down). */
json_t *cs_timers_take(cs_redis_t *redis, int64_t now_ms, int max);

#endif
