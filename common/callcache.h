/* callcache - what one writer last saw of recent calls, so that most
 * events can skip the `resolve` round trip (common/store.c): which call a
 * leg (call_control_id) belongs to, and the call's record as last read or
 * written. The record's bytes are the store's to choose: it keeps the
 * packed record (cs_call_pack), so a hit is a few copies, not a parse.
 *
 * A cached record may be stale (another writer moved on): that is safe,
 * because the commit script checks the version and a conflict sends the
 * event through the full path. A leg's call never changes once indexed
 * (cs:idx:cc is set once, NX), so that part cannot be stale.
 *
 * Bounded: two generations of hash maps; a lookup that hits the old one
 * moves the entry to the new one, and when the new one is full the old one
 * is dropped. So what is used stays, at most `capacity` calls are held, and
 * nothing is scanned. Not thread-safe: one per store, one store per thread. */
#ifndef CS_CALLCACHE_H
#define CS_CALLCACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_callcache cs_callcache_t;

/* capacity: calls remembered (legs: twice as many). NULL when out of memory
 * or capacity is 0. */
cs_callcache_t *cs_callcache_new(size_t capacity);
void cs_callcache_destroy(cs_callcache_t **self_p);

/* The call an event belongs to and its record as last seen: the record
 * (*len bytes, as set) with its cs id in *cs_id, or NULL when either is
 * unknown (a miss). Both borrowed: valid until the next call into the
 * cache. Counted as a hit or a miss.
 *
 * By the event's leg (ccid) when the cache knows it (*joins false). Else,
 * for a leg new to the cache, by the call the leg joins, as `resolve`
 * would name it when the leg is not indexed yet (*joins true): the hint
 * (the cs id in our client_state) when there is one, else the call the
 * session belongs to; either way only when the session (sess, not empty)
 * is known here, so that its index is set in Redis. The caller must then
 * check in the same atomic step that the leg is not indexed to another
 * call, and index it (the commit script does). */
const char *cs_callcache_find(cs_callcache_t *self, const char *ccid, const char *sess,
                              const char *hint, const char **cs_id, size_t *len, bool *joins);

/* The call's record as last seen (*len bytes), or NULL: for an event
 * whose leg is new but whose call is known (a second leg), once resolve has
 * named the call. Borrowed, as above. Not counted as a hit or a miss. */
const char *cs_callcache_record(cs_callcache_t *self, const char *cs_id, size_t *len);

/* Remembers which call a leg belongs to. */
void cs_callcache_set_leg(cs_callcache_t *self, const char *ccid, const char *cs_id);

/* Remembers which call a session belongs to (its cs:idx:sess, as set). */
void cs_callcache_set_session(cs_callcache_t *self, const char *sess, const char *cs_id);

/* Remembers a copy of record (len bytes) for the call. */
void cs_callcache_set_record(cs_callcache_t *self, const char *cs_id, const char *record,
                             size_t len);

/* Forgets the call's record (it is known to be stale). */
void cs_callcache_forget(cs_callcache_t *self, const char *cs_id);

/* Forgets everything (the counts stay). */
void cs_callcache_clear(cs_callcache_t *self);

/* Records held now (at most the capacity). */
size_t cs_callcache_size(const cs_callcache_t *self);

/* cs_callcache_find() hits and misses since new (for /metrics and tests). */
void cs_callcache_counts(const cs_callcache_t *self, unsigned long long *hits,
                         unsigned long long *misses);

#endif
