/* creds - see creds.h. */
#include "creds.h"

#include <czmq.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "text.h"
#include "timestamp.h"

#define S_TOKEN_LIFE_MS (24LL * 3600 * 1000)

typedef struct {
    char id[CS_UUID_STR_LEN];
    char name[128], tag[128];
    char sip_username[40], sip_password[40];
    int64_t created, expires; /* expires 0: never */
} s_cred_t;

struct sim_creds {
    char connection_id[32];
    unsigned char secret[32];
    zhashx_t *by_id;   /* id -> s_cred_t (owned) */
    zhashx_t *by_user; /* sip_username -> s_cred_t (borrowed) */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

sim_creds_t *sim_creds_new(const char *connection_id)
{
    sim_creds_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    CS_COPY(self->connection_id, connection_id);
    randombytes_buf(self->secret, sizeof self->secret);
    self->by_id = zhashx_new();
    self->by_user = zhashx_new();
    zhashx_set_destructor(self->by_id, s_free);
    return self;
}

void sim_creds_destroy(sim_creds_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->by_user);
    zhashx_destroy(&(*self_p)->by_id);
    sodium_memzero((*self_p)->secret, sizeof(*self_p)->secret);
    free(*self_p);
    *self_p = NULL;
}

/* Letters and digits from libsodium's randomness; SIP user names must not
 * start with a digit, which the "gencred" prefix guarantees. */
static void s_random_alnum(char *out, size_t n)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < n; i++)
        out[i] = chars[randombytes_uniform(sizeof chars - 1)];
    out[n] = '\0';
}

static json_t *s_ts(int64_t ms)
{
    char buf[CS_TS_LEN];
    cs_ts_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static int s_expired(const s_cred_t *c, int64_t now)
{
    return c->expires && now >= c->expires;
}

static json_t *s_json(const sim_creds_t *self, const s_cred_t *c, int64_t now)
{
    char resource[64];
    snprintf(resource, sizeof resource, "connection:%s", self->connection_id);
    /* absent, not null, when unset: the spec types them as strings */
    return json_pack("{s:s, s:s, s:s*, s:s*, s:s, s:s, s:s, s:b, s:o*, s:o, s:o}", "id", c->id,
                     "record_type", "credential", "name", c->name[0] ? c->name : NULL, "tag",
                     c->tag[0] ? c->tag : NULL, "sip_username", c->sip_username, "sip_password",
                     c->sip_password, "resource_id", resource, "expired", s_expired(c, now),
                     "expires_at", c->expires ? s_ts(c->expires) : NULL, "created_at",
                     s_ts(c->created), "updated_at", s_ts(c->created));
}

int sim_creds_create(sim_creds_t *self, const json_t *body, int64_t now, json_t **data,
                     sim_error_t *err)
{
    const char *conn = json_string_value(json_object_get(body, "connection_id"));
    const json_t *name = json_object_get(body, "name"), *tag = json_object_get(body, "tag");
    const json_t *expires = json_object_get(body, "expires_at");
    if (!conn)
        return sim_error(err, 422, "10004", "Missing required parameter",
                         "The 'connection_id' parameter is required.", "/connection_id");
    if (strcmp(conn, self->connection_id) != 0)
        return sim_error(err, 422, "10015", "Invalid value for connection_id",
                         "connection_id names no credential connection of this account",
                         "/connection_id");
    if ((name && !json_is_string(name)) || (tag && !json_is_string(tag)) ||
        json_string_length(name) >= 128 || json_string_length(tag) >= 128)
        return sim_error(err, 422, "10015", "Invalid value", "name and tag are strings under 128",
                         NULL);
    int64_t expires_ms = 0;
    if (expires && !json_is_null(expires) &&
        (!json_is_string(expires) || cs_ts_parse(json_string_value(expires), &expires_ms)))
        return sim_error(err, 422, "10015", "Invalid value", "expires_at must be ISO-8601",
                         "/expires_at");
    s_cred_t *c = calloc(1, sizeof *c);
    if (!c)
        return sim_error(err, 500, "10007", "Internal server error", "out of memory", NULL);
    cs_ids_uuid(c->id);
    CS_COPY(c->name, json_string_value(name));
    CS_COPY(c->tag, json_string_value(tag));
    memcpy(c->sip_username, "gencred", 7);
    s_random_alnum(c->sip_username + 7, 26);
    s_random_alnum(c->sip_password, 32);
    c->created = now;
    c->expires = expires_ms;
    zhashx_insert(self->by_id, c->id, c);
    zhashx_insert(self->by_user, c->sip_username, c);
    *data = s_json(self, c, now);
    return 0;
}

int sim_creds_get(sim_creds_t *self, const char *id, int64_t now, json_t **data, sim_error_t *err)
{
    s_cred_t *c = zhashx_lookup(self->by_id, id);
    if (!c)
        return sim_error(err, 404, "10005", "Resource not found", "no such credential", NULL);
    *data = s_json(self, c, now);
    return 0;
}

int sim_creds_token(sim_creds_t *self, const char *id, int64_t now, char **token, sim_error_t *err)
{
    s_cred_t *c = zhashx_lookup(self->by_id, id);
    if (!c)
        return sim_error(err, 404, "10005", "Resource not found", "no such credential", NULL);
    if (s_expired(c, now))
        return sim_error(err, 422, "10015", "Invalid value",
                         "an expired credential cannot mint tokens", NULL);
    int64_t exp = now + S_TOKEN_LIFE_MS;
    if (c->expires && c->expires < exp)
        exp = c->expires;
    char jti[CS_UUID_STR_LEN];
    cs_ids_uuid(jti);
    jwt_t *jwt = NULL;
    *token = NULL;
    if (jwt_new(&jwt) == 0 && jwt_add_grant(jwt, "iss", "callsync-sim") == 0 &&
        jwt_add_grant(jwt, "sub", c->id) == 0 &&
        jwt_add_grant(jwt, "telephony_credential_id", c->id) == 0 &&
        jwt_add_grant(jwt, "jti", jti) == 0 &&
        jwt_add_grant_int(jwt, "iat", (long)(now / 1000)) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)(exp / 1000)) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, self->secret, sizeof self->secret) == 0)
        *token = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!*token)
        return sim_error(err, 500, "10007", "Internal server error", "could not sign a token",
                         NULL);
    return 0;
}

int sim_creds_login_token(sim_creds_t *self, const char *token, int64_t now, char *sip_user,
                          size_t len)
{
    jwt_t *jwt = NULL;
    int rc = -1;
    if (!token || jwt_decode(&jwt, token, self->secret, sizeof self->secret) != 0)
        return -1;
    const char *id = jwt_get_grant(jwt, "telephony_credential_id");
    long exp = jwt_get_grant_int(jwt, "exp");
    s_cred_t *c = id ? zhashx_lookup(self->by_id, id) : NULL;
    if (jwt_get_alg(jwt) == JWT_ALG_HS256 && c && exp > now / 1000 && !s_expired(c, now)) {
        cs_copy(sip_user, len, c->sip_username);
        rc = 0;
    }
    jwt_free(jwt);
    return rc;
}

int sim_creds_login_password(sim_creds_t *self, const char *user, const char *password, int64_t now,
                             char *sip_user, size_t len)
{
    s_cred_t *c = user ? zhashx_lookup(self->by_user, user) : NULL;
    if (!c || !password || s_expired(c, now) || strlen(password) != strlen(c->sip_password) ||
        sodium_memcmp(password, c->sip_password, strlen(password)) != 0)
        return -1;
    cs_copy(sip_user, len, c->sip_username);
    return 0;
}

int sim_creds_has_user(sim_creds_t *self, const char *sip_user)
{
    return zhashx_lookup(self->by_user, sip_user) != NULL;
}
