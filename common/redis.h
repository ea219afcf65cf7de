/* redis - one hiredis connection with what every service needs around it:
 * URLs (redis://[:password@]host[:port][/db] and unix:///path[?db=N]),
 * timeouts, reconnect on the next command after any I/O error, Lua scripts
 * called by SHA (loaded once per connection, reloaded after NOSCRIPT), and
 * pipelining. Not thread-safe: one connection per thread. */
#ifndef CS_REDIS_H
#define CS_REDIS_H

#include <hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cs_redis cs_redis_t;

/* A Lua script; define them as static const, the SHA lives per connection. */
typedef struct {
    const char *name;
    const char *body;
} cs_redis_script_t;

/* Parses the URL and connects. Returns NULL (reason in err) only for a bad
 * URL; an unreachable server is retried by every later command. */
cs_redis_t *cs_redis_new(const char *url, char *err, size_t errlen);
void cs_redis_destroy(cs_redis_t **self_p);

/* Runs a command given as argv. Returns a reply the caller frees with
 * freeReplyObject(), or NULL when the server could not be reached (the
 * reason is kept for cs_redis_error()). A Redis error reply is returned as
 * a REDIS_REPLY_ERROR reply, not NULL. */
redisReply *cs_redis_argv(cs_redis_t *self, int argc, const char **argv, const size_t *lens);

/* printf-style convenience for fixed commands (no binary-unsafe %s misuse:
 * hiredis passes each %s as one argument). */
redisReply *cs_redis_cmd(cs_redis_t *self, const char *fmt, ...);

/* EVALSHA with the script's SHA, loading it when the server lacks it. */
redisReply *cs_redis_eval(cs_redis_t *self, const cs_redis_script_t *script, int nkeys, int argc,
                          const char **argv, const size_t *lens);

/* Pipelining: queue commands, then read their replies in order. */
int cs_redis_append(cs_redis_t *self, int argc, const char **argv, const size_t *lens);
redisReply *cs_redis_reply(cs_redis_t *self);

/* Sends what is queued without waiting for a reply, so the server works
 * while the caller does; cs_redis_reply() would send it anyway. 0, or -1
 * on an I/O error (the replies then fail). */
int cs_redis_flush(cs_redis_t *self);

/* Pipelined scripts: cs_redis_prepare() loads the script's SHA when this
 * connection lacks it (a blocking round trip, so call it before queueing
 * anything); cs_redis_append_eval() then queues an EVALSHA, -1 when the
 * script is not prepared or the server cannot be reached. A NOSCRIPT reply
 * to a queued EVALSHA (the server lost its scripts) is the caller's to
 * handle: cs_redis_eval() of the same script loads it again. */
int cs_redis_prepare(cs_redis_t *self, const cs_redis_script_t *script);
int cs_redis_append_eval(cs_redis_t *self, const cs_redis_script_t *script, int nkeys, int argc,
                         const char **argv, const size_t *lens);

bool cs_redis_ping(cs_redis_t *self);

/* Connections made so far: a change means the server may be another one,
 * or restarted and missing its last writes (what a cache must forget). */
unsigned long cs_redis_connects(const cs_redis_t *self);
const char *cs_redis_error(const cs_redis_t *self);

#endif
