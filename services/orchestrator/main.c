/* callsync-orchestrator - runs the call flows against Telnyx's REST API.
 *
 * One thread follows the bus (change notices and commands), sweeps the
 * active calls every 2 s and publishes the changes its own facts make.
 * libmicrohttpd answers /healthz and /metrics on its own thread, with its
 * own Redis connection. Any number of instances may run: intents are
 * claimed in Redis (orchestrate.h). Stops on SIGTERM. */
#include <curl/curl.h>
#include <czmq.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "orchestrate.h"
#include "redis.h"
#include "service.h"
#include "store.h"
#include "timestamp.h"

typedef struct {
    cs_orch_t *orch;
    cs_redis_t *health; /* used by the HTTP thread only */
} s_http_t;

static char *s_metrics(void *arg)
{
    return cs_orch_metrics(arg);
}

/* cmd.* bodies are JSON with the call's cs id in "call". */
static void s_command(cs_orch_t *orch, const char *topic, const char *body, size_t len)
{
    json_t *cmd = json_loadb(body, len, 0, NULL);
    const char *call = json_string_value(json_object_get(cmd, "call"));
    if (!call) {
        cs_warn("bus: %s without a call id: dropped", topic);
    } else if (strcmp(topic, "cmd.dial") == 0 || strcmp(topic, "cmd.transfer") == 0) {
        cs_orch_wake(orch, call);
    } else if (strcmp(topic, "cmd.hangup") == 0) {
        cs_orch_hangup(orch, call, json_string_value(json_object_get(cmd, "leg")));
    } else if (strcmp(topic, "cmd.dtmf") == 0 || strcmp(topic, "cmd.record") == 0) {
        const char *digits = json_string_value(json_object_get(cmd, "digits"));
        const char *action = json_string_value(json_object_get(cmd, "action"));
        const char *command_id = json_string_value(json_object_get(cmd, "command_id"));
        int dtmf = strcmp(topic, "cmd.dtmf") == 0;
        if (!command_id || (dtmf && !digits) ||
            (!dtmf && (!action || (strcmp(action, "start") && strcmp(action, "stop")))))
            cs_warn("bus: %s for %s malformed: dropped", topic, call);
        else
            cs_orch_leg_command(orch, call,
                                dtmf                           ? "send_dtmf"
                                : strcmp(action, "start") == 0 ? "record_start"
                                                               : "record_stop",
                                digits, command_id);
    } else {
        cs_debug("bus: %s is not for the orchestrator", topic);
    }
    json_decref(cmd);
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {"CALLSYNC_REDIS_URL",      "CALLSYNC_BUS_PUB",
                                       "CALLSYNC_BUS_SUB",        "CALLSYNC_ORCH_PORT",
                                       "TELNYX_API_KEY",          "TELNYX_API_BASE",
                                       "TELNYX_CONNECTION_ID",    "CALLSYNC_CALLER_ID",
                                       "CALLSYNC_RING_TIMEOUT_S", "CALLSYNC_WRAPUP_S",
                                       "CALLSYNC_STUCK_S",        "CALLSYNC_MAX_CALL_S",
                                       "CALLSYNC_ALIVE_CHECK_S",  "CALLSYNC_QUEUE_WAIT_S",
                                       "CALLSYNC_LOG_LEVEL",      NULL};
    int rc;
    cs_config_t *cfg =
        cs_service_config("callsync-orchestrator", "orchestrator",
                          "runs the call flows and every Telnyx command", vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    char err[256];
    rc = 1;
    long port, ring_timeout, wrapup, stuck, max_call, alive, queue_wait;
    cs_store_t *store = NULL;
    cs_telnyx_t *api = NULL;
    cs_bus_t *bus = NULL, *notices = NULL;
    s_http_t http = {0};
    struct MHD_Daemon *d = NULL;
    const char *key = cs_config_get(cfg, "TELNYX_API_KEY");
    const char *conn = cs_config_get(cfg, "TELNYX_CONNECTION_ID");
    const char *caller = cs_config_get(cfg, "CALLSYNC_CALLER_ID");
    if (cs_config_int(cfg, "CALLSYNC_ORCH_PORT", 1, 65535, &port, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_RING_TIMEOUT_S", 5, 600, &ring_timeout, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_WRAPUP_S", 0, 3600, &wrapup, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_STUCK_S", 10, 86400, &stuck, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_MAX_CALL_S", 10, 86400, &max_call, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_ALIVE_CHECK_S", 0, 86400, &alive, err, sizeof err) ||
        cs_config_int(cfg, "CALLSYNC_QUEUE_WAIT_S", 0, 3600, &queue_wait, err, sizeof err)) {
        cs_error("%s", err);
        goto out;
    }
    if (queue_wait > 0 && queue_wait >= stuck) {
        cs_error("CALLSYNC_QUEUE_WAIT_S (%ld) must be below CALLSYNC_STUCK_S (%ld): a caller "
                 "still waiting would be ended as stuck",
                 queue_wait, stuck);
        goto out;
    }
    if (!key || !conn || !caller || caller[0] != '+') {
        cs_error("TELNYX_API_KEY, TELNYX_CONNECTION_ID and CALLSYNC_CALLER_ID (+E.164) are "
                 "required");
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
    if (!store || !http.health || !api) {
        cs_error("CALLSYNC_REDIS_URL: %s", err);
        goto out;
    }
    notices = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    if (!notices)
        cs_warn("bus %s unusable: change notices are off", cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    http.orch =
        cs_orch_new(store, api, notices,
                    &(cs_orch_config_t){conn, caller, (int)ring_timeout, (int)wrapup, (int)stuck,
                                        (int)max_call, (int)alive, (int)queue_wait});
    /* agent.changed: an agent may be free for the callers waiting */
    static const char *const topics[] = {"cmd.", "call.changed", "agent.changed", NULL};
    bus = cs_bus_sub_new(cs_config_get(cfg, "CALLSYNC_BUS_SUB"), topics);
    if (!http.orch || !bus) {
        cs_error("cannot start (bus %s)", cs_config_get(cfg, "CALLSYNC_BUS_SUB"));
        goto out;
    }
    cs_http_ops_t ops = {http.health, s_metrics, http.orch};
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, cs_http_ops_handler, &ops, MHD_OPTION_END);
    if (!d) {
        cs_error("cannot listen on port %ld", port);
        goto out;
    }
    cs_info("running: API %s, connection %s, bus %s, /healthz on :%ld",
            cs_config_get(cfg, "TELNYX_API_BASE"), conn, cs_config_get(cfg, "CALLSYNC_BUS_SUB"),
            port);
    int64_t next_sweep = 0, next_line = 0;
    int line_due = 0;
    for (;;) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(&sigs, NULL, &zero) > 0)
            break;
        if (cs_ts_now_ms() >= next_sweep) {
            cs_orch_sweep(http.orch); /* what lost notices or a restart left */
            next_sweep = cs_ts_now_ms() + 2000;
        }
        /* a storm of agent notices wakes the line once per 200 ms */
        line_due |= cs_orch_line_due(http.orch);
        if (line_due && cs_ts_now_ms() >= next_line) {
            cs_orch_queue_wake(http.orch);
            next_line = cs_ts_now_ms() + 200;
            line_due = 0;
        }
        char *topic, *body;
        size_t len;
        if (cs_bus_recv(bus, 200, &topic, &body, &len) != 0)
            continue;
        if (strcmp(topic, "agent.changed") == 0) {
            line_due = 1;
        } else if (strcmp(topic, "call.changed") == 0) {
            static cs_call_t call;
            if (cs_store_decode(body, len, &call, err, sizeof err) == 0)
                cs_orch_call(http.orch, &call);
            else
                cs_warn("bus: call.changed not a record: %s", err);
        } else {
            s_command(http.orch, topic, body, len);
        }
        free(topic);
        free(body);
    }
    cs_info("stopping");
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    cs_bus_destroy(&bus);
    cs_orch_destroy(&http.orch);
    cs_bus_destroy(&notices);
    cs_telnyx_destroy(&api);
    cs_redis_destroy(&http.health);
    cs_store_destroy(&store);
    cs_config_destroy(&cfg);
    curl_global_cleanup();
    return rc;
}
