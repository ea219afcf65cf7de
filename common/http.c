/* http - see http.h. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#include "redis.h"

enum MHD_Result cs_http_send(struct MHD_Connection *c, int status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

bool cs_http_collect(void **con_cls, size_t max, const char *upload, size_t *upload_size,
                     cs_http_body_t **body, enum MHD_Result *more)
{
    cs_http_body_t *b = *con_cls;
    *more = MHD_YES;
    if (!b) {
        b = calloc(1, sizeof *b);
        *con_cls = b;
        *body = b;
        if (!b) {
            *more = MHD_NO;
            return true;
        }
        b->max = max;
        return true;
    }
    *body = b;
    if (*upload_size == 0)
        return false;
    if (!b->too_large && b->len + *upload_size > b->max) {
        b->too_large = true;
        free(b->buf);
        b->buf = NULL;
        b->len = b->cap = 0;
    }
    if (!b->too_large) {
        if (b->len + *upload_size + 1 > b->cap) {
            size_t cap = (b->len + *upload_size + 1) * 2;
            char *p = realloc(b->buf, cap);
            if (!p) {
                *more = MHD_NO;
                return true;
            }
            b->buf = p;
            b->cap = cap;
        }
        memcpy(b->buf + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->buf[b->len] = '\0';
    }
    *upload_size = 0;
    return true;
}

void cs_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    cs_http_body_t *b = *con_cls;
    if (b) {
        if (b->user && b->user_free)
            b->user_free(b->user);
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

enum MHD_Result cs_http_ops(struct MHD_Connection *c, const char *url, struct cs_redis *redis,
                            char *(*metrics)(void *arg), void *arg)
{
    if (strcmp(url, "/healthz") == 0) {
        int up = cs_redis_ping(redis);
        return cs_http_send(c, up ? 200 : 503, "application/json",
                            up ? "{\"status\":\"ok\",\"redis\":\"up\"}"
                               : "{\"status\":\"unavailable\",\"redis\":\"down\"}");
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = metrics(arg);
        enum MHD_Result r =
            cs_http_send(c, text ? 200 : 500, "text/plain; version=0.0.4", text ? text : "");
        free(text);
        return r;
    }
    return cs_http_send(c, 404, "application/json", "{\"error\":\"not found\"}");
}

enum MHD_Result cs_http_ops_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    const cs_http_ops_t *ops = cls;
    return cs_http_ops(c, url, ops->redis, ops->metrics, ops->arg);
}
