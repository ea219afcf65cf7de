/* agents - agent profiles and presence in Redis (proto/README.md):
 * cs:agent:<id> hash {id, sip_user, name, status, updated_at}, the set
 * cs:agents, and cs:idx:sip:<sip_user> -> agent id (so a leg dialled to
 * sip:<user>@sip.telnyx.com can be tied to its agent). */
#ifndef CS_AGENTS_H
#define CS_AGENTS_H

#include <jansson.h>
#include <stddef.h>

#include "redis.h"

/* Valid presence values. */
int cs_agent_status_ok(const char *status);

/* Creates or updates an agent; NULL fields keep their stored value (a new
 * agent gets status "offline"). 0, or -1 with err. */
int cs_agent_set(cs_redis_t *redis, const char *id, const char *sip_user, const char *name,
                 const char *status, char *err, size_t errlen);

/* Sets the agent's Telnyx telephony credential (its id), from which the
 * relay mints the softphone's SDK login tokens. The agent must exist. */
int cs_agent_set_credential(cs_redis_t *redis, const char *id, const char *credential_id, char *err,
                            size_t errlen);

/* Sets the agent's role: "agent" (its own calls) or "supervisor" (also the
 * dashboard, every call). -1 with err for another value. */
int cs_agent_set_role(cs_redis_t *redis, const char *id, const char *role, char *err,
                      size_t errlen);

/* The agent as JSON (new reference) or NULL; *missing set when unknown. */
json_t *cs_agent_get(cs_redis_t *redis, const char *id, int *missing, char *err, size_t errlen);

/* Moves an agent to status `to` only if its status is `from` now, in one
 * step (a Lua script), so concurrent instances cannot undo each other.
 * 1 moved, 0 it was not in `from`, -1 Redis unreachable. */
int cs_agent_transition(cs_redis_t *redis, const char *id, const char *from, const char *to);

/* Every agent, sorted by id (new reference) or NULL on error. */
json_t *cs_agent_list(cs_redis_t *redis, char *err, size_t errlen);

#endif
