/* store - call records in Redis: the only place where the call model meets
 * storage. Keys and their forms are written down in proto/README.md.
 *
 * cs_store_apply() is how every fact enters: in two round trips it resolves
 * the event to a call (by call_control_id, our client_state, then the
 * session), merges it with the pure model, and commits record, history
 * entry, dedupe mark and raw body in one Lua script that checks the record
 * version (optimistic concurrency: on a conflict it re-reads and merges
 * again). So several writers on one call never lose a fact, and a webhook
 * is acknowledged only after it is in Redis. One store per thread. */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "call.h"

typedef struct cs_store cs_store_t;

typedef enum {
    CS_APPLY_STORED,    /* in the call's history (and merged, when it said something new) */
    CS_APPLY_DUPLICATE, /* this event id was stored before: nothing changed */
    CS_APPLY_UNLINKED,  /* an event type the model does not use, for no known call: raw log only */
    CS_APPLY_REFUSED,   /* a transfer or consult request for a call that has ended: not stored */
} cs_apply_t;

typedef struct {
    long dedupe_ttl_s; /* how long event ids are remembered */
    long raw_log_max;  /* entries kept in the raw webhook stream (approximate) */
    long history_max;  /* entries kept per call history (approximate) */
    long cache_calls;  /* calls whose leg ids and record cs_store_apply_batch() remembers,
                          to skip the resolve round trip (common/callcache.h); 0: none */
} cs_store_opts_t;

/* NULL only for a bad URL (reason in err). */
cs_store_t *cs_store_new(const char *redis_url, const cs_store_opts_t *opts, char *err,
                         size_t errlen);
void cs_store_destroy(cs_store_t **self_p);

/* Stores one event. raw (may be NULL) is the body as received. On 0, *outcome
 * says what happened and, unless UNLINKED, *call holds the record after the
 * merge and *changed whether this event changed it. -1: Redis could not
 * take the write (err says why); nothing may be assumed stored. */
int cs_store_apply(cs_store_t *self, const cs_event_t *ev, const char *raw, size_t rawlen,
                   cs_apply_t *outcome, cs_call_t *call, bool *changed, char *err, size_t errlen);

/* One event of a batch. The caller sets ev, raw, rawlen and call (where the
 * record is written); the batch sets the rest, as cs_store_apply() would:
 * rc 0 with outcome, changed and *call, and record = "<version> <stored
 * JSON>" when the event changed the record (new; the caller frees it); or
 * rc -1 with err. */
typedef struct {
    const cs_event_t *ev;
    const char *raw;
    size_t rawlen;
    cs_call_t *call;
    int rc;
    cs_apply_t outcome;
    bool changed;
    char *record;
    char err[200];
} cs_store_job_t;

/* Stores n events with the same effect as cs_store_apply() on each in
 * turn, but in two pipelined round trips for the whole batch (group
 * commit: one write and one read each way instead of two per event). The
 * scripts still check each record's version, so batches from several
 * writers interleave safely. What cannot go in the batch is applied alone
 * afterwards, in order: a second event of a call already in the batch (it
 * merges into the first one's stored record), a duplicate, a version
 * conflict, a Redis error. Does not change cs_store_last_record().
 * With opts.cache_calls, an event whose leg and record this store has seen
 * skips the resolve round trip: it merges into the record as this store
 * last read or wrote it, and the commit's version check sends it the full
 * way when another writer has moved the record on. */
void cs_store_apply_batch(cs_store_t *self, cs_store_job_t *const *jobs, size_t n);

/* Batch events that found their call in the cache (and skipped resolve)
 * and that did not, since new; 0 and 0 without a cache. */
void cs_store_cache_counts(const cs_store_t *self, unsigned long long *hits,
                           unsigned long long *misses);

/* The record as stored after the last cs_store_apply() that changed it,
 * "<version> <stored JSON>" (borrowed; valid until the next apply), or NULL.
 * This is also the body of a call.changed bus message. */
const char *cs_store_last_record(const cs_store_t *self);

/* Publishes that record as call.changed on bus (ARCHITECTURE §3: every
 * merge that changes a record is announced). 0 when queued or when there is
 * nothing to send (no bus, no record); -1 when the bus's queue was full.
 * Callers that apply facts guard it with their `changed`: a merge that
 * changed nothing announces nothing. */
int cs_store_announce(const cs_store_t *self, cs_bus_t *bus);

/* Decodes "<version> <stored JSON>" (from Redis or the bus). 0, or -1 with
 * a message. */
int cs_store_decode(const char *text, size_t len, cs_call_t *call, char *err, size_t errlen);

/* Creates a new call record from a CREATED event (ev->cs_hint ignored). */
int cs_store_create(cs_store_t *self, const cs_event_t *ev, cs_call_t *call, char *err,
                    size_t errlen);

/* Creates the record of a server dial (callsync-ctl dial, the CRM's
 * click-to-call): outbound, flow "server_dial", for agent_id, to the
 * customer number `to`. The orchestrator then rings the agent and the
 * customer (cmd.dial wakes it). */
int cs_store_create_dial(cs_store_t *self, const char *agent_id, const char *to, cs_call_t *call,
                         char *err, size_t errlen);

/* Creates the record of a call the agent's browser places (the default
 * flow, ARCHITECTURE §4): outbound, flow "browser". The softphone then
 * calls newCall with clientState base64({"cs": id}); the orchestrator
 * transfers that parked leg to `to`. */
int cs_store_create_browser(cs_store_t *self, const char *agent_id, const char *to, cs_call_t *call,
                            char *err, size_t errlen);

/* A fact a command makes (source command, this machine's clock, now) for a
 * call: *ev is cleared, then kind, type, cs_hint and a fresh id
 * ("<prefix>-<uuid>") are set; the caller adds what the fact says. */
void cs_store_command_fact(cs_event_t *ev, cs_event_kind_t kind, const char *type,
                           const char *prefix, const char *cs_id);

/* Records a transfer request (CS_EV_TRANSFER_REQUESTED) on the leaving
 * leg `ccid`: mode "blind" (to: "+E.164" or an agent id) or "warm" (to:
 * the consulted leg's control id). Or, with ccid NULL, a consult request
 * (CS_EV_CONSULT_REQUESTED, to: the target). The call must not have ended
 * when the fact is written (checked in the same atomic merge, so a request
 * cannot revive an ended call): 0 stored, 1 refused (the call has ended,
 * or there is no such call), -1 Redis. *call holds the record after. */
int cs_store_request_transfer(cs_store_t *self, const char *cs_id, const char *ccid,
                              const char *mode, const char *to, cs_call_t *call, char *err,
                              size_t errlen);

/* Records that the call must end (an ending fact, CS_EV_HANGUP_REQUESTED):
 * `by` says who asked ("callsync-ctl", "max duration", an agent...). The
 * orchestrator's rules then hang up every live leg, sweep after sweep,
 * until none is left. 0 with *call after the merge, or -1 (Redis). */
int cs_store_request_hangup(cs_store_t *self, const char *cs_id, const char *by, cs_call_t *call,
                            char *err, size_t errlen);

/* Reads a record by cs id or by any leg's call_control_id.
 * 0 found, 1 no such call, -1 Redis error. */
int cs_store_get(cs_store_t *self, const char *id, cs_call_t *call, char *err, size_t errlen);

/* Ids of calls not ended (new reference: array of strings). NULL on error. */
json_t *cs_store_active(cs_store_t *self, char *err, size_t errlen);

/* The records (as cs_call_to_json) of calls not ended, only agent's when
 * agent is set; cs:active also holds ended calls whose last leg is being
 * hung up, which are left out. New reference, NULL on error. */
json_t *cs_store_live(cs_store_t *self, const char *agent, char *err, size_t errlen);

/* The records (JSON, as cs_call_to_json) of calls started at or after
 * since_ms, newest first, at most limit; with agent, only the calls that
 * agent took part in (cs_call_agents). At most 5 000 calls are looked at
 * per request (the listing is for recent history, not bulk export). New
 * array, or NULL (Redis; reason in err). */
json_t *cs_store_since(cs_store_t *self, int64_t since_ms, const char *agent, int limit, char *err,
                       size_t errlen);

#define CS_STORE_SINCE_LIMIT 100 /* calls listed when the client names no limit */
#define CS_STORE_SINCE_MAX 500   /* the most a client may ask for */

/* A listing's limit as a client writes it (the CRM's ?limit=, ctl's
 * --limit): 1 to CS_STORE_SINCE_MAX in decimal digits. 0 with *limit set,
 * or -1 for anything else. */
int cs_store_since_limit(const char *text, int *limit);

/* The call's history entries in arrival order (decode each with
 * cs_call_history_event() and the record). New reference, NULL on error. */
json_t *cs_store_history(cs_store_t *self, const char *cs_id, char *err, size_t errlen);

/* Retention: removes what Redis keeps of calls that ended before
 * cutoff_ms (ms since the epoch): the record, its history, its dedupe
 * marks, the indexes of its legs and sessions that still name it, and its
 * cs:calls entry. One script per call does it all, after checking that
 * the record is still the version read and the call is out of cs:active,
 * so a call that took a late event meanwhile, or whose teardown is not
 * over, stays. A cs:calls entry whose record is gone is removed as well.
 * Looks at up to `max` of the calls that started before the cutoff, oldest
 * first, from *cursor (how many that had to stay to skip; 0 at first).
 * Sets *more when it stopped at max with more to look at, and *cursor
 * where the next pass starts (0 again once the range was looked through).
 * Returns how many calls were removed, or -1 (Redis; err says why). */
int cs_store_forget_ended(cs_store_t *self, int64_t cutoff_ms, int max, long *cursor, bool *more,
                          char *err, size_t errlen);

bool cs_store_ping(cs_store_t *self);

/* The connection, for modules that keep their own keys (agents, timers). */
struct cs_redis *cs_store_redis(cs_store_t *self);

#endif
