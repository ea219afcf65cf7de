/* callsync-ingestor - the HTTP endpoint for Telnyx webhooks.
 *
 * libmicrohttpd with a pool of worker threads, each with its own Redis
 * connection (hiredis is not thread-safe). Bodies are collected up to
 * CS_INGEST_MAX_BODY and handed whole to ingest.c. Stops on SIGTERM. */
#include <czmq.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "store.h"

typedef struct {
    cs_ingest_t *ingest;
    const char *redis_url;
    cs_store_opts_t store_opts;
    pthread_key_t store_key;
} s_server_t;

typedef struct {
    char *buf;
    size_t len, cap;
    bool too_large;
} s_request_t;

static void s_store_free(void *p)
{
    cs_store_t *store = p;
    cs_store_destroy(&store);
}

/* The calling worker thread's store, made on first use. */
static cs_store_t *s_store(s_server_t *srv)
{
    cs_store_t *store = pthread_getspecific(srv->store_key);
    if (!store) {
        char err[256];
        store = cs_store_new(srv->redis_url, &srv->store_opts, err, sizeof err);
        if (store)
            pthread_setspecific(srv->store_key, store);
    }
    return store;
}

static enum MHD_Result s_reply(struct MHD_Connection *c, int status, const char *type,
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

static enum MHD_Result s_json(struct MHD_Connection *c, int status, const char *body)
{
    return s_reply(c, status, "application/json", body);
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    s_server_t *srv = cls;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/webhooks/telnyx") != 0) {
        cs_store_t *store = s_store(srv);
        bool up = store && cs_store_ping(store);
        if (strcmp(url, "/healthz") == 0)
            return s_json(c, up ? 200 : 503,
                          up ? "{\"status\":\"ok\",\"redis\":\"up\"}"
                             : "{\"status\":\"unavailable\",\"redis\":\"down\"}");
        if (strcmp(url, "/metrics") == 0) {
            char *text = cs_ingest_metrics(srv->ingest, up);
            enum MHD_Result r =
                s_reply(c, text ? 200 : 500, "text/plain; version=0.0.4", text ? text : "");
            free(text);
            return r;
        }
        return s_json(c, 404, "{\"error\":\"not found\"}");
    }
    if (!post)
        return s_json(c, 405, "{\"error\":\"POST only\"}");

    s_request_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > CS_INGEST_MAX_BODY) {
            cs_ingest_count_too_large(srv->ingest);
            cs_warn("webhook refused 413: Content-Length %s", cl);
            return s_json(c, 413, "{\"error\":\"body over 256 KiB\"}");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!req->too_large && req->len + *upload_size > CS_INGEST_MAX_BODY) {
            req->too_large = true;
            free(req->buf);
            req->buf = NULL;
        }
        if (!req->too_large) {
            if (req->len + *upload_size + 1 > req->cap) {
                size_t cap = (req->len + *upload_size + 1) * 2;
                char *b = realloc(req->buf, cap);
                if (!b)
                    return MHD_NO;
                req->buf = b;
                req->cap = cap;
            }
            memcpy(req->buf + req->len, upload, *upload_size);
            req->len += *upload_size;
            req->buf[req->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_large) {
        cs_ingest_count_too_large(srv->ingest);
        cs_warn("webhook refused 413: body over %d bytes", CS_INGEST_MAX_BODY);
        return s_json(c, 413, "{\"error\":\"body over 256 KiB\"}");
    }
    cs_store_t *store = s_store(srv);
    if (!store)
        return s_json(c, 503, "{\"error\":\"storage unavailable\"}");
    char resp[512];
    int status = cs_ingest_webhook(
        srv->ingest, store,
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "telnyx-signature-ed25519"),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "telnyx-timestamp"),
        req->buf ? req->buf : "", req->len, resp, sizeof resp);
    return s_json(c, status, resp);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    s_request_t *req = *con_cls;
    if (req) {
        free(req->buf);
        free(req);
        *con_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {
        "CALLSYNC_REDIS_URL", "CALLSYNC_INGEST_PORT",         "CALLSYNC_INGEST_THREADS",
        "TELNYX_PUBLIC_KEY",  "CALLSYNC_WEBHOOK_TOLERANCE_S", "CALLSYNC_DEDUPE_TTL_S",
        "CALLSYNC_BUS_PUB",   "CALLSYNC_LOG_LEVEL",           NULL};
    char err[256];
    bool help;
    cs_config_t *cfg =
        cs_config_new("callsync-ingestor", "receives Telnyx webhooks, stores their facts in Redis",
                      vars, argc, argv, &help, err, sizeof err);
    if (!cfg || help) {
        if (!cfg)
            fprintf(stderr, "callsync-ingestor: %s\n", err);
        int code = cfg ? 0 : 2;
        cs_config_destroy(&cfg);
        return code;
    }
    cs_log_level_t level = CS_LOG_INFO;
    cs_log_level_parse(cs_config_get(cfg, "CALLSYNC_LOG_LEVEL"), &level);
    cs_log_init("ingestor", level);

    int rc = 1;
    long port, threads, tolerance, ttl;
    cs_ingest_config_t icfg;
    s_server_t srv = {0};
    cs_bus_t *bus = NULL;
    struct MHD_Daemon *d = NULL;
    if (cs_config_int(cfg, "CALLSYNC_INGEST_PORT", 1, 65535, &port, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_INGEST_THREADS", 1, 64, &threads, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_WEBHOOK_TOLERANCE_S", 1, 86400, &tolerance, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_DEDUPE_TTL_S", 60, 30 * 86400, &ttl, err, sizeof err)) {
        cs_error("%s", err);
        goto out;
    }
    if (sodium_init() < 0) {
        cs_error("libsodium failed to initialise");
        goto out;
    }
    if (cs_verify_key_parse(cs_config_get(cfg, "TELNYX_PUBLIC_KEY"), icfg.public_key)) {
        cs_error("TELNYX_PUBLIC_KEY must be base64 of a 32-byte Ed25519 public key");
        goto out;
    }
    icfg.tolerance_s = tolerance;
    srv.redis_url = cs_config_get(cfg, "CALLSYNC_REDIS_URL");
    srv.store_opts = (cs_store_opts_t){ttl, 100000, 512};
    cs_store_t *probe = cs_store_new(srv.redis_url, &srv.store_opts, err, sizeof err);
    if (!probe) {
        cs_error("CALLSYNC_REDIS_URL: %s", err);
        goto out;
    }
    cs_store_destroy(&probe);

    /* Signals go to sigwait below, not to czmq's or any thread's handler. */
    zsys_handler_set(NULL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    bus = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    if (!bus)
        cs_warn("bus %s unusable: change notices are off", cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    srv.ingest = cs_ingest_new(&icfg, bus);
    pthread_key_create(&srv.store_key, s_store_free);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, s_handle, &srv, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT, 10000u,
                         MHD_OPTION_END);
    if (!d) {
        cs_error("cannot listen on port %ld", port);
        goto out;
    }
    cs_info("listening on :%ld (POST /webhooks/telnyx), %ld threads, redis %s", port, threads,
            srv.redis_url[0] == 'u' ? "unix socket" : "tcp");
    int sig;
    sigwait(&sigs, &sig);
    cs_info("signal %d: stopping", sig);
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    cs_ingest_destroy(&srv.ingest);
    cs_bus_destroy(&bus);
    cs_config_destroy(&cfg);
    return rc;
}
