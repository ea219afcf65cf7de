/* agents - agent profiles and presence in Redis (proto/README.md):
 * cs:agent:<id> hash {id, sip_user, name, status, updated_at}, the set
 * cs:agents, and cs:idx:sip:<sip_user> -> agent id (so a leg dialled to
 * sip:<user>@sip.telnyx.com can be tied to its agent). */
#ifndef CS_AGENTS_H
#define CS_AGENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "redis.h"

/* Whether id is an agent id: 1 to 64 of [A-Za-z0-9._-]. */
int cs_agent_id_ok(const char *id);
#define CS_AGENT_ID_RULE "agent id must be 1-64 of [A-Za-z0-9._-]" /* what a bad one is told */

/* Valid presence values. */
int cs_agent_status_ok(const char *status);

#define CS_AGENT_SIP_USER_MAX 128
#define CS_AGENT_NAME_MAX 128

/* Whether sip_user can be an agent's SIP user: 1 to CS_AGENT_SIP_USER_MAX
 * of the characters RFC 3261 allows in a SIP URI's user part unescaped,
 * less ';', '?' and '/' (which a careless parser takes for the URI's
 * parameters or headers); no '@' or ':', so sip:<user>@<host> stays one. */
int cs_agent_sip_user_ok(const char *sip_user);

/* Whether name can be an agent's display name: valid UTF-8, no control
 * characters, at most CS_AGENT_NAME_MAX bytes (it shows on wallboards). */
int cs_agent_name_ok(const char *name);

/* Creates or updates an agent in one step; NULL fields keep their stored
 * value (a new agent gets status "offline"). A status given, even the same
 * one, sets updated_at (when the status was last set); a profile change
 * alone does not. 0, or -1 with err for: a bad id, SIP user, name or
 * status; a new agent without a SIP user; a SIP user that another agent
 * holds ("sip user X belongs to agent Y": nothing is written); Redis. */
int cs_agent_set(cs_redis_t *redis, const char *id, const char *sip_user, const char *name,
                 const char *status, char *err, size_t errlen);

/* Removes an agent in one step: the profile, the place in cs:agents, the
 * SIP index entry (while it is still theirs, so the SIP user is free
 * again), the softphone leases and the presence check. Refused while the
 * agent is on a call (busy): their presence follows that call until it
 * ends; and while a routed call rings them (cs_agent_offer): answered, it
 * would be theirs. Their calls keep their agent_id. 0 removed, 1 no such
 * agent (err says so), -1 with err (a bad id, on a call, rung, Redis). */
int cs_agent_remove(cs_redis_t *redis, const char *id, char *err, size_t errlen);

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

/* Agents read per pipeline by cs_agent_get_many. */
#define CS_AGENT_READ_CHUNK 256

/* The agents named, as cs_agent_get reads each, in pipelines of
 * CS_AGENT_READ_CHUNK (one round trip each, not one per agent): out[i] a
 * new reference, or NULL for an agent that does not exist. 0, or -1 with
 * err (Redis) and every out[i] NULL. */
int cs_agent_get_many(cs_redis_t *redis, const char *const *ids, size_t n, json_t **out, char *err,
                      size_t errlen);

/* Moves an agent to status `to` only if its status is `from` now, in one
 * step (a Lua script), so concurrent instances cannot undo each other.
 * 1 moved, 0 it was not in `from`, -1 Redis unreachable. */
int cs_agent_transition(cs_redis_t *redis, const char *id, const char *from, const char *to);

/* Presence from a call's record (the orchestrator's rules): moves the
 * agent to `to` ("busy", "wrap_up", or "free": available, or offline when
 * the softphone is gone) if its status is one of `from` (NULL-ended), on
 * what version `version` of call `call_id` said. A step decided on an older
 * version of that call than one already taken for this agent is refused:
 * an instance that read the record before another saw the agent's leg end
 * cannot make them busy again after their wrap-up began. Busy belongs to
 * the call that made the agent busy (`busy_call`): another call cannot
 * take them out of it (their leg on a second call that rang and ended
 * while they talk on the first). Whatever the step, the agent's offer of
 * this call ends (cs_agent_offer): the orchestrator takes one only once
 * their leg no longer rings. The status moved to, or NULL (not in `from`,
 * stale, busy on another call, no such agent, or Redis failed). */
const char *cs_agent_follow_call(cs_redis_t *redis, const char *id, const char *call_id,
                                 uint64_t version, const char *const from[], const char *to);

/* An agent is offered one routed call at a time: cs:offer:<id> names the
 * call whose leg rings them (proto/README.md). Their status stays
 * "available" while it rings (they are not on a call yet), so without the
 * offer a second inbound call could be routed to the same agent, whose
 * softphone shows one ringing call: the second would ring unseen until the
 * ring timeout. The offer lasts ttl_ms at most (the ring timeout and a
 * margin), and ends sooner with cs_agent_offer_end.
 *
 * Offer: 1 the agent is now offered call_id (or already was: an intent
 * run again after a crash keeps its agent), 0 another call's leg rings
 * them, -1 Redis. */
int cs_agent_offer(cs_redis_t *redis, const char *id, const char *call_id, int64_t ttl_ms);

/* The offer of call_id to the agent is over (their leg was answered or
 * ended, or the call ended): 1 ended, 0 the agent had no offer of that
 * call (none, or another call's: left alone), -1 Redis. */
int cs_agent_offer_end(cs_redis_t *redis, const char *id, const char *call_id);

/* How many of the agents ids[0..n) no call is offered to now (one MGET
 * of their offers), or -1 (Redis). */
long long cs_agent_unoffered(cs_redis_t *redis, const char *const *ids, size_t n);

/* Presence from the softphone's connection (proto/README.md). Each relay
 * holds a lease on cs:online:<agent>, its own member scored by the lease's
 * end (ms), for as long as it has one of the agent's softphones, and keeps
 * a presence_check timer (cs:timers) at the latest lease's end. The agent's
 * `softphone` field says "connected" or "gone" (absent: never had one, a
 * desk phone's agent, whom only operators move).
 *
 * Up (a relay's first socket of the agent, `connect` 1, or its periodic
 * renewal, 0): the lease runs to until_ms. A connect, or a renewal after
 * the agent was taken for gone, makes an offline agent available. 1 when
 * it did, 0 when not (or no such agent: nothing is written), -1 Redis. */
int cs_agent_softphone_up(cs_redis_t *redis, const char *id, const char *relay, int64_t until_ms,
                          int connect);

/* Down (the relay's last socket of the agent closed): its lease now ends at
 * until_ms (a grace for a reload), and the check is due then. 0, -1 Redis. */
int cs_agent_softphone_down(cs_redis_t *redis, const char *id, const char *relay, int64_t until_ms);

/* Whether some relay holds a socket of the agent now (a lease that is not
 * a closed one's grace): a message for their softphone can reach it
 * (relay.push on the bus). 1, 0, -1 Redis. */
int cs_agent_reachable(cs_redis_t *redis, const char *id, int64_t now_ms);

/* The presence_check timer: drops leases over at now_ms; with none left the
 * agent's softphone is gone, and an available or wrapping-up agent goes
 * offline (one on a call stays busy; its wrap-up ends offline). With some
 * left, the check is due again at the last one's end. 1 moved to offline,
 * 0 not, -1 Redis. */
int cs_agent_softphone_check(cs_redis_t *redis, const char *id, int64_t now_ms);

/* The agent is free again, from status `from` (busy at a call's end when
 * there is no wrap-up, wrap_up at its end): available, or offline when the
 * softphone is gone. The status it moved to ("available" or "offline"),
 * NULL when the agent was not in `from` (moved on meanwhile) or Redis
 * failed. */
const char *cs_agent_free(cs_redis_t *redis, const char *id, const char *from);

/* Tells whoever shows presence (the relays: the agent's softphones, every
 * dashboard) that the agent's hash changed: agent.changed {"v":1, "agent":
 * id} on the bus (proto/README.md). The notice carries no status: a relay
 * reads cs:agent:<id> again, so notices that cross on the bus (the
 * orchestrator's and the timer's) cannot leave an older status shown. A
 * NULL bus sends nothing. 0, or -1 when the bus could not queue it: the
 * change stands in Redis, and the pages' own resync shows it later. */
int cs_agent_announce(cs_bus_t *bus, const char *id);

/* Every agent, sorted by id (new reference) or NULL on error. */
json_t *cs_agent_list(cs_redis_t *redis, char *err, size_t errlen);

#endif
