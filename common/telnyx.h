/* telnyx - the Telnyx Call Control REST client (libcurl): Bearer auth, one
 * kept-alive connection per client, JSON in and out, and Telnyx's error
 * shape read back. Retries follow Telnyx's command guidance: a timeout, a
 * connection error or a 5xx is retried (with the same command_id, so Telnyx
 * ignores a copy it already ran); a 4xx never is. Error 90018 ("call has
 * already ended") is reported as such so callers can count a hangup done.
 * One client per thread. */
#ifndef CS_TELNYX_H
#define CS_TELNYX_H

#include <jansson.h>
#include <stddef.h>

typedef struct cs_telnyx cs_telnyx_t;

typedef struct {
    long status;      /* HTTP status, 0 when no answer came */
    char code[16];    /* Telnyx error code ("90018"), "" when none */
    char detail[200]; /* the error's title/detail or the transport error */
    int attempts;
    double seconds; /* the whole call, retries included */
} cs_telnyx_result_t;

/* api_base like "https://api.telnyx.com/v2"; the key is kept, never logged. */
cs_telnyx_t *cs_telnyx_new(const char *api_base, const char *api_key);
void cs_telnyx_destroy(cs_telnyx_t **self_p);

/* POSTs body (borrowed) to api_base + path. Returns 0 on 2xx with the
 * response's "data" in *data (new reference, may be NULL), else -1 with
 * *res saying why. */
int cs_telnyx_post(cs_telnyx_t *self, const char *path, const json_t *body, json_t **data,
                   cs_telnyx_result_t *res);

/* The same, for the endpoints that answer with a bare body rather than
 * JSON (POST /telephony_credentials/{id}/token: the JWT): 0 on 2xx with
 * the body in *text (caller frees). */
int cs_telnyx_post_text(cs_telnyx_t *self, const char *path, const json_t *body, char **text,
                        cs_telnyx_result_t *res);

/* GET api_base + path, same contract. */
int cs_telnyx_get(cs_telnyx_t *self, const char *path, json_t **data, cs_telnyx_result_t *res);

/* Percent-encodes a call control id for a path segment (out must hold
 * 3 * strlen(id) + 1). */
void cs_telnyx_escape(const char *id, char *out, size_t size);

#endif
