/* redis - see redis.h. */
#include "redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "text.h"

#define S_MAX_SCRIPTS 16

struct cs_redis {
    char host[256]; /* or the socket path when unix */
    int port;
    bool unix_socket;
    int db;
    char password[128];
    redisContext *ctx;
    char error[256];
    struct {
        const cs_redis_script_t *script;
        char sha[41];
    } shas[S_MAX_SCRIPTS];
    int nshas;
    unsigned long connects; /* connections made so far */
};

static int s_parse_url(cs_redis_t *self, const char *url, char *err, size_t errlen)
{
    self->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        self->unix_socket = true;
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (n == 0 || n >= sizeof self->host) {
            snprintf(err, errlen, "bad unix socket path in %s", url);
            return -1;
        }
        memcpy(self->host, path, n);
        if (q && sscanf(q, "?db=%d", &self->db) != 1) {
            snprintf(err, errlen, "bad ?db= in %s", url);
            return -1;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "Redis URL must start with redis:// or unix://, not '%s'", url);
        return -1;
    }
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof self->password) {
            snprintf(err, errlen, "Redis password too long");
            return -1;
        }
        memcpy(self->password, pw, n);
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof self->host) {
        snprintf(err, errlen, "no host in Redis URL");
        return -1;
    }
    memcpy(self->host, p, hlen);
    p += hlen;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "bad port in Redis URL");
            return -1;
        }
        self->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 15) {
            snprintf(err, errlen, "bad database number in Redis URL");
            return -1;
        }
        self->db = (int)db;
    }
    return 0;
}

/* `why` may point into the context (its errstr): copy it before freeing. */
static void s_drop(cs_redis_t *self, const char *why)
{
    cs_copy(self->error, sizeof self->error, why);
    if (self->ctx) {
        redisFree(self->ctx);
        self->ctx = NULL;
    }
    self->nshas = 0;
}

static int s_connect(cs_redis_t *self)
{
    if (self->ctx)
        return 0;
    struct timeval tv = {1, 0};
    self->ctx = self->unix_socket ? redisConnectUnixWithTimeout(self->host, tv)
                                  : redisConnectWithTimeout(self->host, self->port, tv);
    if (!self->ctx || self->ctx->err) {
        s_drop(self, self->ctx ? self->ctx->errstr : "out of memory");
        return -1;
    }
    struct timeval cmd_tv = {2, 0};
    redisSetTimeout(self->ctx, cmd_tv);
    redisReply *r = NULL;
    if (self->password[0]) {
        r = redisCommand(self->ctx, "AUTH %s", self->password);
        if (!r || r->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(r);
    }
    if (self->db) {
        r = redisCommand(self->ctx, "SELECT %d", self->db);
        if (!r || r->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(r);
    }
    self->connects++;
    return 0;
fail:
    s_drop(self, r ? r->str : self->ctx->errstr);
    if (r)
        freeReplyObject(r);
    return -1;
}

cs_redis_t *cs_redis_new(const char *url, char *err, size_t errlen)
{
    cs_redis_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (s_parse_url(self, url, err, errlen)) {
        free(self);
        return NULL;
    }
    if (s_connect(self))
        cs_warn("redis %s unreachable for now: %s", self->host, self->error);
    return self;
}

void cs_redis_destroy(cs_redis_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->ctx)
        redisFree((*self_p)->ctx);
    free(*self_p);
    *self_p = NULL;
}

/* After an I/O error the context is useless: drop it, reconnect next time. */
static redisReply *s_checked(cs_redis_t *self, redisReply *r)
{
    if (!r)
        s_drop(self, self->ctx && self->ctx->err ? self->ctx->errstr : "connection lost");
    return r;
}

redisReply *cs_redis_argv(cs_redis_t *self, int argc, const char **argv, const size_t *lens)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_connect(self))
            return NULL;
        redisReply *r = s_checked(self, redisCommandArgv(self->ctx, argc, argv, lens));
        if (r)
            return r;
    }
    return NULL;
}

redisReply *cs_redis_cmd(cs_redis_t *self, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_connect(self))
            return NULL;
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = s_checked(self, redisvCommand(self->ctx, fmt, ap));
        va_end(ap);
        if (r)
            return r;
    }
    return NULL;
}

static const char *s_sha(cs_redis_t *self, const cs_redis_script_t *script)
{
    for (int i = 0; i < self->nshas; i++)
        if (self->shas[i].script == script)
            return self->shas[i].sha;
    redisReply *r = cs_redis_cmd(self, "SCRIPT LOAD %s", script->body);
    if (!r)
        return NULL;
    if (r->type != REDIS_REPLY_STRING || r->len != 40 || self->nshas == S_MAX_SCRIPTS) {
        cs_error("redis: cannot load script %s: %s", script->name,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        snprintf(self->error, sizeof self->error, "script %s not loaded", script->name);
        freeReplyObject(r);
        return NULL;
    }
    int i = self->nshas++;
    self->shas[i].script = script;
    memcpy(self->shas[i].sha, r->str, 41);
    freeReplyObject(r);
    return self->shas[i].sha;
}

/* The argv of "EVALSHA sha nkeys args..." (at most S_EVAL_MAX entries; av
 * borrows sha, nk and argv). Returns its length. */
#define S_EVAL_MAX 64
static int s_evalsha_argv(const char *sha, const char *nk, int argc, const char **argv,
                          const size_t *lens, const char **av, size_t *al)
{
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = sha;
    al[1] = 40;
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    return argc + 3;
}

redisReply *cs_redis_eval(cs_redis_t *self, const cs_redis_script_t *script, int nkeys, int argc,
                          const char **argv, const size_t *lens)
{
    const char *av[S_EVAL_MAX];
    size_t al[S_EVAL_MAX];
    char nk[16];
    if (argc + 3 > S_EVAL_MAX)
        return NULL;
    snprintf(nk, sizeof nk, "%d", nkeys);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *sha = s_sha(self, script);
        if (!sha)
            return NULL;
        int n = s_evalsha_argv(sha, nk, argc, argv, lens, av, al);
        redisReply *r = cs_redis_argv(self, n, av, al);
        if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            self->nshas = 0; /* the server was restarted or flushed its scripts */
            continue;
        }
        return r;
    }
    return NULL;
}

int cs_redis_prepare(cs_redis_t *self, const cs_redis_script_t *script)
{
    return s_sha(self, script) ? 0 : -1;
}

int cs_redis_append_eval(cs_redis_t *self, const cs_redis_script_t *script, int nkeys, int argc,
                         const char **argv, const size_t *lens)
{
    const char *sha = NULL;
    for (int i = 0; i < self->nshas && !sha; i++)
        if (self->shas[i].script == script)
            sha = self->shas[i].sha;
    if (!sha || !self->ctx || argc + 3 > S_EVAL_MAX)
        return -1; /* not prepared on this connection (it may be a new one) */
    const char *av[S_EVAL_MAX];
    size_t al[S_EVAL_MAX];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int n = s_evalsha_argv(sha, nk, argc, argv, lens, av, al);
    return redisAppendCommandArgv(self->ctx, n, av, al) == REDIS_OK ? 0 : -1;
}

int cs_redis_append(cs_redis_t *self, int argc, const char **argv, const size_t *lens)
{
    if (s_connect(self))
        return -1;
    return redisAppendCommandArgv(self->ctx, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

redisReply *cs_redis_reply(cs_redis_t *self)
{
    if (!self->ctx)
        return NULL;
    void *r = NULL;
    if (redisGetReply(self->ctx, &r) != REDIS_OK)
        return s_checked(self, NULL);
    return r;
}

int cs_redis_flush(cs_redis_t *self)
{
    if (!self->ctx)
        return -1;
    int done = 0;
    while (!done)
        if (redisBufferWrite(self->ctx, &done) != REDIS_OK) {
            s_checked(self, NULL);
            return -1;
        }
    return 0;
}

bool cs_redis_ping(cs_redis_t *self)
{
    redisReply *r = cs_redis_cmd(self, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    return ok;
}

unsigned long cs_redis_connects(const cs_redis_t *self)
{
    return self->connects;
}

const char *cs_redis_error(const cs_redis_t *self)
{
    return self->error;
}
