/* creds - the sim's telephony credentials (POST /v2/telephony_credentials)
 * and the JWTs the SDK logs in with (POST .../{id}/token: 201, text/plain).
 * Tokens are HS256 JWTs (libjwt) under a secret made at start, so only this
 * sim instance accepts its own; they live 24 h or until the credential
 * expires, as Telnyx's do. The telnyx_rtc login (sim part 2) asks
 * sim_creds_login_* who is logging in. */
#ifndef SIM_CREDS_H
#define SIM_CREDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct sim_creds sim_creds_t;

sim_creds_t *sim_creds_new(const char *connection_id);
void sim_creds_destroy(sim_creds_t **self_p);

/* POST /v2/telephony_credentials: 0 with data (new reference) or -1 + err. */
int sim_creds_create(sim_creds_t *self, const json_t *body, int64_t now, json_t **data,
                     sim_error_t *err);

/* GET /v2/telephony_credentials/{id}. */
int sim_creds_get(sim_creds_t *self, const char *id, int64_t now, json_t **data, sim_error_t *err);

/* POST /v2/telephony_credentials/{id}/token: the JWT (caller frees). */
int sim_creds_token(sim_creds_t *self, const char *id, int64_t now, char **jwt, sim_error_t *err);

/* Who a login_token or a user/password pair logs in as: 0 with the
 * credential's sip_username, -1 when refused (bad signature, expired,
 * unknown credential, wrong password). */
int sim_creds_login_token(sim_creds_t *self, const char *jwt, int64_t now, char *sip_user,
                          size_t len);
int sim_creds_login_password(sim_creds_t *self, const char *user, const char *password, int64_t now,
                             char *sip_user, size_t len);

/* Whether a SIP username is one of this sim's credentials. */
int sim_creds_has_user(sim_creds_t *self, const char *sip_user);

#endif
