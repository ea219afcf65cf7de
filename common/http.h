/* http - what every libmicrohttpd service here does the same way: send a
 * body with a status and type, and collect a request body up to a limit.
 * Each service keeps its own routing. */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Queues body (copied) with status and Content-Type. */
enum MHD_Result cs_http_send(struct MHD_Connection *c, int status, const char *type,
                             const char *body);

/* A request body being collected: NUL-terminated, capped at `max`. */
typedef struct {
    char *buf;
    size_t len, cap, max;
    bool too_large;                /* more than max arrived: buf was dropped */
    void *user;                    /* the service's state for this request, freed with */
    void (*user_free)(void *user); /* the body when the request completes */
} cs_http_body_t;

/* For an access handler: on the first call makes the body (into *con_cls),
 * then collects upload data. Returns true while the handler should return
 * MHD_YES (*more set) to get more, false when the body is complete (or
 * allocation failed: *body NULL). */
bool cs_http_collect(void **con_cls, size_t max, const char *upload, size_t *upload_size,
                     cs_http_body_t **body, enum MHD_Result *more);

/* The operational endpoints of a service whose HTTP port has nothing else:
 * GET /healthz (200 while Redis answers, else 503), GET /metrics (the text
 * metrics(arg) returns, freed here), anything else 404. redis must be used
 * by the HTTP thread only. */
struct cs_redis;
enum MHD_Result cs_http_ops(struct MHD_Connection *c, const char *url, struct cs_redis *redis,
                            char *(*metrics)(void *arg), void *arg);

/* The same as a whole access handler, for a port with nothing else:
 * pass it to MHD_start_daemon with a cs_http_ops_t as its cls. */
typedef struct {
    struct cs_redis *redis;
    char *(*metrics)(void *arg);
    void *arg;
} cs_http_ops_t;
enum MHD_Result cs_http_ops_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls);

/* MHD_OPTION_NOTIFY_COMPLETED callback freeing a collected body (and its
 * user state). */
void cs_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe);

#endif
