/* callsync-ingestor - the HTTP endpoint for Telnyx webhooks.
 *
 * libmicrohttpd with a pool of worker threads. Bodies are collected up to
 * CS_INGEST_MAX_BODY and checked whole by ingest.c on the worker; a
 * webhook that passes is handed to a committer (group commit, its own
 * Redis connection; CALLSYNC_INGEST_COMMITTERS of them, a call's webhooks
 * all to the same one) and its connection suspended until the committer
 * has stored it, so no worker waits on Redis. /healthz pings Redis on the
 * worker's own connection (hiredis is not thread-safe). On SIGTERM: stop
 * accepting, let the committers finish what they hold (every suspended
 * connection is resumed and answered), then stop. */
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "committer.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "service.h"
#include "store.h"
#include "text.h"

#define S_MAX_COMMITTERS 16

typedef struct {
    cs_ingest_t *ingest;
    cs_committer_t *committers[S_MAX_COMMITTERS];
    int ncommitters;
    const char *redis_url;
    cs_store_opts_t store_opts;
    pthread_key_t store_key;
} s_server_t;

/* A webhook in the committer's hands; the request's user state. */
typedef struct {
    cs_ingest_job_t job;
    cs_commit_item_t item;
    struct MHD_Connection *conn;
    cs_ingest_t *ingest;
} s_webhook_t;

/* On the committer's thread, once the store has answered. */
static void s_stored(cs_commit_item_t *item)
{
    s_webhook_t *w = item->arg;
    cs_ingest_finish(w->ingest, &w->job);
    MHD_resume_connection(w->conn); /* the handler runs again and answers */
}

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

/* The committer of the webhook's call: by its session (every leg of a
 * call Telnyx links shares it), else the call our client_state names, else
 * the leg. One call's webhooks then meet in one committer, in order, and
 * its call cache; were they split, the commit's version check would still
 * keep the record right, at the cost of a retry. */
static cs_committer_t *s_committer_for(s_server_t *srv, const cs_event_t *ev)
{
    const char *key = ev->session_id[0] ? ev->session_id : ev->cs_hint[0] ? ev->cs_hint : ev->ccid;
    return srv->committers[cs_fnv1a(key) % (uint32_t)srv->ncommitters];
}

static void s_commit_stats(s_server_t *srv, cs_commit_stats_t *sum)
{
    *sum = (cs_commit_stats_t){0};
    for (int i = 0; i < srv->ncommitters; i++) {
        cs_commit_stats_t one;
        cs_committer_stats(srv->committers[i], &one);
        sum->batches += one.batches;
        sum->items += one.items;
        sum->cache_hits += one.cache_hits;
        sum->cache_misses += one.cache_misses;
    }
}

static enum MHD_Result s_json(struct MHD_Connection *c, int status, const char *body)
{
    return cs_http_send(c, status, "application/json", body);
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    s_server_t *srv = cls;
    if (strcmp(url, "/webhooks/telnyx") != 0) {
        cs_store_t *store = s_store(srv);
        bool up = store && cs_store_ping(store);
        if (strcmp(url, "/healthz") == 0)
            return s_json(c, up ? 200 : 503,
                          up ? "{\"status\":\"ok\",\"redis\":\"up\"}"
                             : "{\"status\":\"unavailable\",\"redis\":\"down\"}");
        if (strcmp(url, "/metrics") == 0) {
            cs_commit_stats_t commits;
            s_commit_stats(srv, &commits);
            char *text = cs_ingest_metrics(srv->ingest, up, &commits);
            enum MHD_Result r =
                cs_http_send(c, text ? 200 : 500, "text/plain; version=0.0.4", text ? text : "");
            free(text);
            return r;
        }
        return s_json(c, 404, "{\"error\":\"not found\"}");
    }
    if (strcmp(method, "POST") != 0)
        return s_json(c, 405, "{\"error\":\"POST only\"}");

    /* A declared length over the limit is refused before reading a byte. */
    if (!*con_cls) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > CS_INGEST_MAX_BODY) {
            cs_ingest_count_too_large(srv->ingest);
            cs_warn("webhook refused 413: Content-Length %s", cl);
            return s_json(c, 413, "{\"error\":\"body over 256 KiB\"}");
        }
    }
    cs_http_body_t *req;
    enum MHD_Result more;
    if (cs_http_collect(con_cls, CS_INGEST_MAX_BODY, upload, upload_size, &req, &more))
        return more;
    if (req->too_large) {
        cs_ingest_count_too_large(srv->ingest);
        cs_warn("webhook refused 413: body over %d bytes", CS_INGEST_MAX_BODY);
        return s_json(c, 413, "{\"error\":\"body over 256 KiB\"}");
    }
    s_webhook_t *w = req->user;
    if (w) /* resumed: the committer has answered */
        return s_json(c, w->job.status, w->job.resp);
    w = malloc(sizeof *w); /* not zeroed: 20 KiB, and every field read is set */
    if (!w)
        return s_json(c, 503, "{\"error\":\"out of memory\"}");
    req->user = w;
    req->user_free = free;
    if (cs_ingest_check(srv->ingest,
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "telnyx-signature-ed25519"),
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "telnyx-timestamp"),
                        req->buf ? req->buf : "", req->len, &w->job))
        return s_json(c, w->job.status, w->job.resp);
    w->conn = c;
    w->ingest = srv->ingest;
    w->item = (cs_commit_item_t){.job = &w->job.store, .done = s_stored, .arg = w};
    /* Suspended first, so the committer's resume cannot come before it. */
    MHD_suspend_connection(c);
    if (cs_committer_submit(s_committer_for(srv, &w->job.ev), &w->item)) {
        w->job.status = 503; /* stopping */
        snprintf(w->job.resp, sizeof w->job.resp, "{\"error\":\"shutting down\"}");
        MHD_resume_connection(c);
    }
    return MHD_YES;
}

int main(int argc, char **argv)
{
    cs_service_malloc_cache(argv);
    static const char *const vars[] = {"CALLSYNC_REDIS_URL",
                                       "CALLSYNC_INGEST_PORT",
                                       "CALLSYNC_INGEST_THREADS",
                                       "TELNYX_PUBLIC_KEY",
                                       "CALLSYNC_WEBHOOK_TOLERANCE_S",
                                       "CALLSYNC_DEDUPE_TTL_S",
                                       "CALLSYNC_BUS_PUB",
                                       "CALLSYNC_LOG_LEVEL",
                                       "CALLSYNC_INGEST_CACHE",
                                       "CALLSYNC_INGEST_COMMITTERS",
                                       NULL};
    int rc;
    cs_config_t *cfg = cs_service_config("callsync-ingestor", "ingestor",
                                         "receives Telnyx webhooks, stores their facts in Redis",
                                         vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    rc = 1;
    char err[256];
    long port, threads, tolerance, ttl, cache, committers;
    cs_ingest_config_t icfg;
    s_server_t srv = {0};
    cs_bus_t *bus = NULL;
    struct MHD_Daemon *d = NULL;
    if (cs_config_int(cfg, "CALLSYNC_INGEST_PORT", 1, 65535, &port, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_INGEST_THREADS", 1, 64, &threads, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_WEBHOOK_TOLERANCE_S", 1, 86400, &tolerance, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_DEDUPE_TTL_S", 60, 30 * 86400, &ttl, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_INGEST_CACHE", 0, 10000000, &cache, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_INGEST_COMMITTERS", 1, S_MAX_COMMITTERS, &committers, err,
                      sizeof err)) {
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
    srv.store_opts = (cs_store_opts_t){ttl, 100000, 512, 0};
    cs_store_t *probe = cs_store_new(srv.redis_url, &srv.store_opts, err, sizeof err);
    if (!probe) {
        cs_error("CALLSYNC_REDIS_URL: %s", err);
        goto out;
    }
    cs_store_destroy(&probe);

    sigset_t sigs;
    cs_service_signals(&sigs); /* SIGTERM goes to the sigwait below */
    bus = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    if (!bus)
        cs_warn("bus %s unusable: change notices are off", cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    srv.ingest = cs_ingest_new(&icfg, bus);
    pthread_key_create(&srv.store_key, s_store_free);
    cs_store_opts_t committing = srv.store_opts;                    /* only the committers batch */
    committing.cache_calls = (cache + committers - 1) / committers; /* shared out */
    for (; srv.ncommitters < committers; srv.ncommitters++) {
        srv.committers[srv.ncommitters] =
            cs_committer_new(srv.redis_url, &committing, err, sizeof err);
        if (!srv.committers[srv.ncommitters]) {
            cs_error("committer: %s", err);
            goto out;
        }
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                             MHD_ALLOW_SUSPEND_RESUME,
                         (uint16_t)port, NULL, NULL, s_handle, &srv, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, cs_http_completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT, 10000u,
                         MHD_OPTION_END);
    if (!d) {
        cs_error("cannot listen on port %ld", port);
        goto out;
    }
    cs_info("listening on :%ld (POST /webhooks/telnyx), %ld threads, %d committers, redis %s", port,
            threads, srv.ncommitters, srv.redis_url[0] == 'u' ? "unix socket" : "tcp");
    int sig;
    sigwait(&sigs, &sig);
    cs_info("signal %d: stopping", sig);
    rc = 0;
out:
    if (d)
        MHD_quiesce_daemon(d); /* no new connections */
    /* Each answers every webhook it holds, and refuses (503) what a kept-alive
     * connection sends meanwhile, so no connection stays suspended: stopping
     * the daemon with one suspended is not allowed. They are freed only once
     * the daemon, whose workers submit to them, has stopped. */
    for (int i = 0; i < srv.ncommitters; i++)
        cs_committer_stop(srv.committers[i]);
    if (d)
        MHD_stop_daemon(d);
    for (int i = 0; i < srv.ncommitters; i++)
        cs_committer_destroy(&srv.committers[i]);
    cs_ingest_destroy(&srv.ingest);
    cs_bus_destroy(&bus);
    cs_config_destroy(&cfg);
    return rc;
}
