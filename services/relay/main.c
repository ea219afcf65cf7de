/* callsync-relay - the softphones' WebSocket and the CRM's REST API
 * (relay.h) on one port (common/web.c).
 *
 * The web loop runs on its own thread with its own store and bus
 * publisher; the main thread follows the bus (call.changed, relay.push,
 * agent.changed) and pushes each change to the sockets of the call's agent
 * (an agent's, to theirs and the dashboards), renews the presence
 * leases of the agents whose softphones are here (with a Redis connection
 * of its own), and stops on SIGTERM. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "redis.h"
#include "relay.h"
#include "service.h"
#include "store.h"
#include "telnyx.h"
#include "timestamp.h"
#include "web.h"

#define S_MAX_BODY (64 * 1024)
#define S_TOKEN_TTL_S (12 * 3600) /* a working day; the softphone asks again */
#define S_DRAIN 256               /* bus messages taken at once */

static void *s_web_loop(void *arg)
{
    cs_web_run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {"CALLSYNC_REDIS_URL",
                                       "CALLSYNC_BUS_PUB",
                                       "CALLSYNC_BUS_SUB",
                                       "CALLSYNC_RELAY_PORT",
                                       "CALLSYNC_API_KEY",
                                       "CALLSYNC_RTC_HOST",
                                       "TELNYX_API_KEY",
                                       "TELNYX_API_BASE",
                                       "CALLSYNC_WEB_DIR",
                                       "CALLSYNC_PRESENCE_GRACE_S",
                                       "CALLSYNC_PRESENCE_LEASE_S",
                                       "CALLSYNC_LOG_LEVEL",
                                       NULL};
    int rc;
    cs_config_t *cfg =
        cs_service_config("callsync-relay", "relay",
                          "softphone WebSocket push and the CRM REST API", vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    rc = 1;
    /* one descriptor per softphone: take every one the system allows (the
     * soft limit is often 1 024; the WebSocket server sizes its tables
     * from it) */
    struct rlimit fds;
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &fds))
            cs_warn("could not raise the open-file limit: %s", strerror(errno));
    }
    char err[256];
    long port, grace_s, lease_s;
    cs_store_t *store = NULL;
    cs_redis_t *presence = NULL; /* the main thread's own connection */
    cs_telnyx_t *api = NULL;
    cs_bus_t *pub = NULL, *notices = NULL;
    cs_relay_t *relay = NULL;
    cs_web_t *web = NULL;
    pthread_t loop;
    int loop_up = 0;
    const char *api_key = cs_config_get(cfg, "CALLSYNC_API_KEY");
    const char *telnyx_key = cs_config_get(cfg, "TELNYX_API_KEY");
    if (cs_config_int(cfg, "CALLSYNC_PRESENCE_GRACE_S", 0, 3600, &grace_s, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_PRESENCE_LEASE_S", 3, 3600, &lease_s, err, sizeof err)) {
        cs_error("%s", err);
        goto out;
    }
    if (cs_config_int(cfg, "CALLSYNC_RELAY_PORT", 1, 65535, &port, err, sizeof err) || !api_key ||
        strlen(api_key) < 8) {
        cs_error("%s", api_key ? (strlen(api_key) < 8 ? "CALLSYNC_API_KEY is too short" : err)
                               : "CALLSYNC_API_KEY is required (the CRM's bearer key; agent "
                                 "tokens are derived from it)");
        goto out;
    }
    if (sodium_init() < 0)
        goto out;
    sigset_t sigs;
    cs_service_signals(&sigs);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    store = cs_store_new(cs_config_get(cfg, "CALLSYNC_REDIS_URL"), NULL, err, sizeof err);
    if (store)
        presence = cs_redis_new(cs_config_get(cfg, "CALLSYNC_REDIS_URL"), err, sizeof err);
    if (!store || !presence) {
        cs_error("CALLSYNC_REDIS_URL: %s", err);
        goto out;
    }
    if (telnyx_key)
        api = cs_telnyx_new(cs_config_get(cfg, "TELNYX_API_BASE"), telnyx_key);
    else
        cs_warn("TELNYX_API_KEY unset: softphones get no SDK login token");
    pub = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    static const char *const topics[] = {"call.changed", "relay.push", "agent.changed", NULL};
    notices = cs_bus_sub_new(cs_config_get(cfg, "CALLSYNC_BUS_SUB"), topics);
    cs_relay_config_t rcfg = {.api_key = api_key,
                              .rtc_host = cs_config_get(cfg, "CALLSYNC_RTC_HOST"),
                              .token_ttl_s = S_TOKEN_TTL_S,
                              .web_dir = cs_config_get(cfg, "CALLSYNC_WEB_DIR"),
                              .presence_grace_s = (int)grace_s,
                              .presence_lease_s = (int)lease_s};
    relay = cs_relay_new(store, api, pub, &rcfg);
    if (!pub || !notices || !relay) {
        cs_error("cannot start (bus %s)", cs_config_get(cfg, "CALLSYNC_BUS_SUB"));
        goto out;
    }
    cs_web_handlers_t handlers = {.arg = relay,
                                  .http = cs_relay_http,
                                  .ws_open = cs_relay_ws_open,
                                  .ws_message = cs_relay_ws_message,
                                  .ws_close = cs_relay_ws_close};
    web = cs_web_new((int)port, S_MAX_BODY, &handlers, err, sizeof err);
    if (!web) {
        cs_error("%s", err);
        goto out;
    }
    cs_relay_set_web(relay, web);
    if (pthread_create(&loop, NULL, s_web_loop, web) != 0)
        goto out;
    loop_up = 1;
    cs_info("listening on :%ld (REST /v1, WebSocket /ws)", port);
    /* renewed three times a lease, so one missed renewal loses nothing */
    int64_t renew_ms = 1000LL * lease_s / 3, next_renew = cs_ts_now_ms() + renew_ms;
    for (;;) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(&sigs, NULL, &zero) > 0)
            break;
        if (cs_ts_now_ms() >= next_renew) {
            if (cs_relay_presence(relay, presence, 0) < 0)
                cs_warn("presence leases not renewed (Redis); trying again");
            next_renew = cs_ts_now_ms() + renew_ms;
        }
        char *topic, *body;
        size_t len;
        if (cs_bus_recv(notices, 100, &topic, &body, &len) != 0)
            continue;
        /* What is waiting is taken at once (S_DRAIN at most, so the leases
         * and SIGTERM are looked at between): records and pushes as they
         * come, agent notices gathered and read in one pipeline after, so
         * a burst of them (an outage's reconnects) costs a round trip per
         * S_DRAIN agents, not one each. */
        char *agent_bodies[S_DRAIN];
        size_t agent_lens[S_DRAIN], nagents = 0;
        for (int taken = 1;; taken++) {
            if (strcmp(topic, "agent.changed") == 0) {
                agent_bodies[nagents] = body;
                agent_lens[nagents++] = len;
                body = NULL;
            } else if (strcmp(topic, "relay.push") == 0) {
                cs_relay_push(relay, body, len);
            } else {
                cs_relay_notice(relay, body, len);
            }
            free(topic);
            free(body);
            if (taken == S_DRAIN || cs_bus_recv(notices, 0, &topic, &body, &len) != 0)
                break;
        }
        cs_relay_agent_notices(relay, presence, agent_bodies, agent_lens, nagents);
        for (size_t i = 0; i < nagents; i++)
            free(agent_bodies[i]);
    }
    cs_info("stopping");
    rc = 0;
out:
    if (loop_up) {
        cs_web_stop(web);
        pthread_join(loop, NULL);
        /* the sockets go with the relay: their agents are offline after the
         * grace unless they reconnect to a relay */
        if (cs_relay_presence(relay, presence, 1) < 0)
            cs_warn("presence leases not released (Redis); they run out in %lds", lease_s);
    }
    cs_redis_destroy(&presence);
    cs_web_destroy(&web);
    cs_relay_destroy(&relay);
    cs_bus_destroy(&notices);
    cs_bus_destroy(&pub);
    cs_telnyx_destroy(&api);
    cs_store_destroy(&store);
    cs_config_destroy(&cfg);
    curl_global_cleanup();
    return rc;
}
