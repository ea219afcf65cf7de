/* callsync-timer - runs callsync's durable timers (common/timers.h): takes
 * due timers from Redis every 100 ms, exactly once across instances, and
 * runs them (reconcile.c). /healthz and /metrics on CALLSYNC_TIMER_PORT.
 * Stops on SIGTERM. */
#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "callstats.h"
#include "http.h"
#include "log.h"
#include "reconcile.h"
#include "redis.h"
#include "service.h"
#include "store.h"

typedef struct {
    cs_reconcile_t *reconcile;
    cs_callstats_t *stats;
    cs_redis_t *health; /* the HTTP thread's own connection */
} s_http_t;

/* Timers, then calls and agents. */
static char *s_metrics(void *arg)
{
    s_http_t *h = arg;
    char *timers = cs_reconcile_metrics(h->reconcile);
    char *calls = cs_callstats_metrics(h->stats, h->health);
    size_t a = timers ? strlen(timers) : 0, b = calls ? strlen(calls) : 0;
    char *out = malloc(a + b + 1);
    if (out) {
        memcpy(out, timers ? timers : "", a);
        memcpy(out + a, calls ? calls : "", b);
        out[a + b] = '\0';
    }
    free(timers);
    free(calls);
    return out;
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {
        "CALLSYNC_REDIS_URL", "CALLSYNC_BUS_PUB", "CALLSYNC_BUS_SUB",   "CALLSYNC_TIMER_PORT",
        "TELNYX_API_KEY",     "TELNYX_API_BASE",  "CALLSYNC_LOG_LEVEL", NULL};
    int rc;
    cs_config_t *cfg =
        cs_service_config("callsync-timer", "timer",
                          "durable timers, hangup reconcile, call metrics", vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    rc = 1;
    char err[256];
    long port;
    cs_store_t *store = NULL;
    cs_telnyx_t *api = NULL;
    cs_bus_t *bus = NULL, *notices = NULL;
    s_http_t http = {0};
    struct MHD_Daemon *d = NULL;
    const char *key = cs_config_get(cfg, "TELNYX_API_KEY");
    if (cs_config_int(cfg, "CALLSYNC_TIMER_PORT", 1, 65535, &port, err, sizeof err) || !key) {
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
    http.stats = cs_callstats_new();
    static const char *const topics[] = {"call.changed", NULL};
    notices = cs_bus_sub_new(cs_config_get(cfg, "CALLSYNC_BUS_SUB"), topics);
    if (!http.stats || !notices) {
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
    cs_info("running timers; /healthz on :%ld", port);
    for (;;) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(&sigs, NULL, &zero) > 0)
            break;
        cs_reconcile_run(http.reconcile);
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
