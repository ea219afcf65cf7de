/* callsync-timer - runs callsync's durable timers (common/timers.h): takes
 * due timers from Redis every 100 ms, exactly once across instances, and
 * runs them (reconcile.c); removes finished calls after
 * CALLSYNC_RETENTION_S (retention.c). /healthz and /metrics on
 * CALLSYNC_TIMER_PORT. Stops on SIGTERM. */
#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "callstats.h"
#include "http.h"
#include "log.h"
#include "reconcile.h"
#include "retention.h"
#include "redis.h"
#include "service.h"
#include "store.h"
#include "timestamp.h"

typedef struct {
    cs_reconcile_t *reconcile;
    cs_retention_t *retention; /* NULL: calls are kept forever */
    cs_callstats_t *stats;
    cs_redis_t *health; /* the HTTP thread's own connection */
} s_http_t;

/* Timers, retention, then calls and agents. */
static char *s_metrics(void *arg)
{
    s_http_t *h = arg;
    char *parts[3] = {cs_reconcile_metrics(h->reconcile),
                      h->retention ? cs_retention_metrics(h->retention) : NULL,
                      cs_callstats_metrics(h->stats, h->health)};
    size_t len[3], total = 0;
    for (int i = 0; i < 3; i++)
        total += len[i] = parts[i] ? strlen(parts[i]) : 0;
    char *out = malloc(total + 1);
    for (size_t i = 0, at = 0; out && i < 3; at += len[i], i++)
        memcpy(out + at, parts[i] ? parts[i] : "", len[i]);
    if (out)
        out[total] = '\0';
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    return out;
}

/* CALLSYNC_RETENTION_S: 0 keeps calls forever; less than a day would
 * remove a call whose webhooks Telnyx may still retry, or whose dedupe
 * marks (CALLSYNC_DEDUPE_TTL_S, a day by default) still stand. */
static int s_retention(const cs_config_t *cfg, long *out, char *err, size_t errlen)
{
    if (cs_config_int(cfg, "CALLSYNC_RETENTION_S", 0, 3650L * 86400, out, err, errlen))
        return -1;
    if (*out > 0 && *out < 86400) {
        snprintf(err, errlen,
                 "CALLSYNC_RETENTION_S must be 0 (keep calls forever) or at least 86400 (a day), "
                 "not '%ld'",
                 *out);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {
        "CALLSYNC_REDIS_URL",  "CALLSYNC_BUS_PUB",     "CALLSYNC_BUS_SUB",
        "CALLSYNC_TIMER_PORT", "CALLSYNC_RETENTION_S", "TELNYX_API_KEY",
        "TELNYX_API_BASE",     "CALLSYNC_LOG_LEVEL",   NULL};
    int rc;
    cs_config_t *cfg =
        cs_service_config("callsync-timer", "timer",
                          "durable timers, hangup reconcile, call metrics", vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    rc = 1;
    char err[256];
    long port, retention_s;
    cs_store_t *store = NULL;
    cs_telnyx_t *api = NULL;
    cs_bus_t *bus = NULL, *notices = NULL;
    s_http_t http = {0};
    struct MHD_Daemon *d = NULL;
    const char *key = cs_config_get(cfg, "TELNYX_API_KEY");
    if (cs_config_int(cfg, "CALLSYNC_TIMER_PORT", 1, 65535, &port, err, sizeof err) ||
        s_retention(cfg, &retention_s, err, sizeof err) || !key) {
        cs_error("%s", key ? err : "TELNYX_API_KEY is required");
        goto out;
    }
    if (sodium_init() < 0)
        goto out;
    sigset_t sigs;
    cs_service_signals(&sigs);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    store = cs_store_new(cs_config_get(cfg, "CALLSYNC_REDIS_URL"), NULL, err, sizeof err);
    http.health = cs_redis_new(cs_config_get(cfg, "CALLSYNC_REDIS_URL"), err, sizeof err);
    api = cs_telnyx_new(cs_config_get(cfg, "TELNYX_API_BASE"), key);
    bus = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    if (!store || !http.health || !api) {
        cs_error("CALLSYNC_REDIS_URL: %s", err);
        goto out;
    }
    http.reconcile = cs_reconcile_new(store, api, bus);
    http.retention = retention_s ? cs_retention_new(store, retention_s) : NULL;
    http.stats = cs_callstats_new();
    static const char *const topics[] = {"call.changed", NULL};
    notices = cs_bus_sub_new(cs_config_get(cfg, "CALLSYNC_BUS_SUB"), topics);
    if (!http.stats || !notices || (retention_s && !http.retention)) {
        cs_error("cannot start (bus %s)", cs_config_get(cfg, "CALLSYNC_BUS_SUB"));
        goto out;
    }
    cs_http_ops_t ops = {http.health, s_metrics, &http};
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, cs_http_ops_handler, &ops, MHD_OPTION_END);
    if (!http.reconcile || !d) {
        cs_error("cannot listen on port %ld", port);
        goto out;
    }
    if (retention_s)
        cs_info("running timers; finished calls kept %ld s; /healthz on :%ld", retention_s, port);
    else
        cs_info("running timers; finished calls kept forever; /healthz on :%ld", port);
    for (;;) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(&sigs, NULL, &zero) > 0)
            break;
        cs_reconcile_run(http.reconcile);
        if (http.retention)
            cs_retention_run(http.retention, cs_ts_now_ms());
        char *topic, *body;
        size_t len;
        if (cs_bus_recv(notices, 100, &topic, &body, &len) != 0)
            continue;
        static cs_call_t call;
        if (cs_store_decode(body, len, &call, err, sizeof err) == 0)
            cs_callstats_record(http.stats, cs_store_redis(store), &call);
        free(topic);
        free(body);
    }
    cs_info("stopping");
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    cs_reconcile_destroy(&http.reconcile);
    cs_retention_destroy(&http.retention);
    cs_callstats_destroy(&http.stats);
    cs_bus_destroy(&notices);
    cs_bus_destroy(&bus);
    cs_telnyx_destroy(&api);
    cs_redis_destroy(&http.health);
    cs_store_destroy(&store);
    cs_config_destroy(&cfg);
    curl_global_cleanup();
    return rc;
}
