/* orchload - what the orchestrator adds to a call, measured from the
 * calls' own histories. Server-dial calls are created as `callsync-ctl
 * dial` does (a record, then cmd.dial on the bus): N at once (a burst), or
 * paced at R calls/s for S seconds (steady rate; the schedule counts, so
 * falling behind is charged). When all are bridged, each history says when
 * the agent's call.answered webhook arrived and when the orchestrator's
 * dial_customer command was recorded as sent (the reaction time); a paced
 * run also reports each call's setup: scheduled creation -> the later
 * leg's call.bridged (provider clock: the sim, on this machine).
 *
 *   orchload --redis-url U --bus-pub E --agent A --to +E164 --calls N
 *   orchload --redis-url U --bus-pub E --agent A --to +E164 --rate R --seconds S
 *
 * The agent and the sim must be set up by the caller (scripts/bench.sh). */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "call.h"
#include "ids.h"
#include "store.h"
#include "text.h"
#include "timestamp.h"

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *pub = NULL, *agent = "alice", *to = "+15550100001";
    int calls = 200, rate = 0, seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--redis-url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--bus-pub"))
            pub = argv[i + 1];
        else if (!strcmp(argv[i], "--agent"))
            agent = argv[i + 1];
        else if (!strcmp(argv[i], "--to"))
            to = argv[i + 1];
        else if (!strcmp(argv[i], "--calls"))
            calls = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rate"))
            rate = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (rate > 0)
        calls = rate * seconds;
    if (!url || !pub || calls < 1 || calls > 10000 || sodium_init() < 0) {
        fprintf(stderr, "usage: see the top of bench/orchload.c\n");
        return 2;
    }
    char err[256];
    cs_store_t *store = cs_store_new(url, NULL, err, sizeof err);
    cs_bus_t *bus = cs_bus_pub_new(pub);
    if (!store || !bus)
        return 1;
    zclock_sleep(300); /* let the PUB connect before the first command */
    char(*ids)[CS_ID_LEN] = calloc((size_t)calls, CS_ID_LEN);
    int64_t *due = calloc((size_t)calls, sizeof *due);
    static cs_call_t call;
    int64_t t0 = cs_ts_now_ms();
    for (int i = 0; i < calls; i++) {
        due[i] = rate > 0 ? t0 + (int64_t)i * 1000 / rate : t0;
        int64_t wait = due[i] - cs_ts_now_ms();
        if (wait > 0)
            zclock_sleep((int)wait);
        if (cs_store_create_dial(store, agent, to, &call, err, sizeof err))
            return 1;
        CS_COPY(ids[i], call.id);
        char command_id[CS_UUID_STR_LEN];
        cs_ids_uuid(command_id);
        json_t *cmd = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "call", call.id, "agent_id",
                                agent, "to", to, "command_id", command_id);
        cs_bus_publish(bus, "cmd.dial", cmd);
        json_decref(cmd);
    }
    /* wait until every call is bridged (both legs), at most 60 s after
     * the last was made */
    int64_t last_bridge = 0, made = cs_ts_now_ms();
    double *setup = calloc((size_t)calls, sizeof *setup);
    int nsetup = 0;
    for (int done = 0; done < calls && cs_ts_now_ms() - made < 60000;) {
        done = 0;
        last_bridge = 0;
        nsetup = 0;
        for (int i = 0; i < calls; i++) {
            if (cs_store_get(store, ids[i], &call, err, sizeof err) != 0)
                continue;
            int64_t bridged = 0;
            for (int l = 0; l < call.nlegs; l++)
                if (call.legs[l].bridged.at > bridged)
                    bridged = call.legs[l].bridged.at;
            done += call.nlegs == 2 && bridged;
            if (call.nlegs == 2 && bridged)
                setup[nsetup++] = (double)(bridged - due[i]);
            if (bridged > last_bridge)
                last_bridge = bridged;
        }
        if (done < calls)
            zclock_sleep(200);
    }
    /* reaction: agent's call.answered arrival -> dial_customer recorded */
    double *react = calloc((size_t)calls, sizeof *react);
    int n = 0;
    for (int i = 0; i < calls; i++) {
        json_t *hist = cs_store_history(store, ids[i], err, sizeof err);
        if (cs_store_get(store, ids[i], &call, err, sizeof err) != 0 || !hist)
            continue;
        int64_t answered_rx = 0, command_at = 0;
        size_t k;
        json_t *entry;
        json_array_foreach(hist, k, entry)
        {
            cs_event_t ev;
            int64_t rx;
            if (cs_call_history_event(&call, entry, &ev, &rx, err, sizeof err))
                continue;
            if (ev.kind == CS_EV_ANSWERED && strcmp(ev.role, "agent") == 0 && !answered_rx)
                answered_rx = rx;
            if (strcmp(ev.type, "command.dial_customer") == 0)
                command_at = ev.at;
        }
        json_decref(hist);
        if (answered_rx && command_at)
            react[n++] = (double)(command_at - answered_rx);
    }
    qsort(react, (size_t)n, sizeof *react, s_cmp);
    qsort(setup, (size_t)nsetup, sizeof *setup, s_cmp);
    double span = (double)(last_bridge - t0) / 1000.0;
#define P(a, k, q) ((k) ? (a)[((k) * (q)) / 100 < (k) ? ((k) * (q)) / 100 : (k)-1] : -1)
    if (rate > 0)
        printf("orchestrator, steady %d calls/s for %d s: %d calls, %d bridged; agent answered "
               "(webhook in) -> customer dial sent: p50 %.0f ms, p99 %.0f ms; setup (scheduled "
               "dial -> bridged) p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
               rate, seconds, calls, n, P(react, n, 50), P(react, n, 99), P(setup, nsetup, 50),
               P(setup, nsetup, 99), nsetup ? setup[nsetup - 1] : -1);
    else
        printf("orchestrator: %d server-dial calls, %d bridged; agent answered (webhook in) -> "
               "customer dial sent: p50 %.0f ms, p99 %.0f ms; %.0f setups/s from first dial to "
               "last bridge (%.2f s, including the scripted rings)\n",
               calls, n, P(react, n, 50), P(react, n, 99), span > 0 ? calls / span : 0, span);
    free(react);
    free(setup);
    free(due);
    free(ids);
    cs_bus_destroy(&bus);
    cs_store_destroy(&store);
    return n == calls ? 0 : 1;
}
