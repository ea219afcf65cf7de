/* callsync-ctl - the operator's CLI. Every command prints JSON on stdout;
 * errors go to stderr with exit 1 (unknown id, Redis down) or 2 (usage).
 *
 *   call <call_control_id | cs id>     the call record
 *   calls --active [--agent A]         records of calls not ended
 *   calls --since <time> [--agent A] [--limit N]
 *                                      calls started since (RFC 3339 or ms),
 *                                      newest first, 100 (at most 500)
 *   events <id>                        history in arrival order, with the
 *                                      record replayed after each merge
 *   agent set <id> --sip-user U [--name N] [--status S] [--credential C]
 *                                      [--role R]; the relays are told
 *                                      (agent.changed), so pages show it
 *   agent rm <id>                      removes the agent (refused while on a
 *                                      call or rung for one); their SIP user
 *                                      is free again, their open softphones
 *                                      are closed
 *   agents
 *   dial --agent <id> --to <E.164> [--browser]
 *                                      creates the record, asks the orchestrator
 *                                      (--browser: the record the softphone's
 *                                      own call joins with clientState)
 *   hangup <id>                        asks the orchestrator to end every leg
 *   transfer <id> --to <E.164 | agent id>
 *                                      blind transfer: the customer goes to the
 *                                      target, the call's agent leaves
 *   dtmf <id> <digits>                 sends DTMF to the customer's leg
 *   record <id> start|stop             records the call (the URL lands on the record)
 *   tail [--count N]                   prints bus messages as they pass
 *   keypair                            a new Ed25519 webhook signing seed and
 *                                      its public key (for the sim and local runs) */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "bus.h"
#include "config.h"
#include "ids.h"
#include "log.h"
#include "store.h"
#include "text.h"
#include "timestamp.h"

static const char *const s_vars[] = {"CALLSYNC_REDIS_URL", "CALLSYNC_BUS_PUB", "CALLSYNC_BUS_SUB",
                                     "CALLSYNC_LOG_LEVEL", NULL};

static const char *s_usage =
    "usage: callsync-ctl <command> [args]\n"
    "  call <call_control_id | cs id>\n"
    "  calls --active [--agent <agent_id>]\n"
    "  calls --since <RFC 3339 | ms> [--agent <agent_id>] [--limit 1-500]\n"
    "  events <call_control_id | cs id>\n"
    "  agent set <agent_id> --sip-user <user> [--name N] [--status available|offline]\n"
    "            [--credential <Telnyx telephony credential id>] [--role agent|supervisor]\n"
    "  agent rm <agent_id>\n"
    "  agents\n"
    "  dial --agent <agent_id> --to <E.164> [--browser]\n"
    "  hangup <call_control_id | cs id>\n"
    "  transfer <call_control_id | cs id> --to <E.164 | agent_id>\n"
    "  dtmf <call_control_id | cs id> <digits>\n"
    "  record <call_control_id | cs id> start|stop\n"
    "  tail [--count N]\n"
    "  keypair\n";

static void s_print(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
}

/* Looks up "--name value" among args; NULL when absent. */
static const char *s_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int s_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static int s_get(cs_store_t *store, const char *id, cs_call_t *call)
{
    char err[256];
    int rc = cs_store_get(store, id, call, err, sizeof err);
    if (rc == 1)
        fprintf(stderr, "callsync-ctl: no call %s\n", id);
    else if (rc < 0)
        fprintf(stderr, "callsync-ctl: %s\n", err);
    return rc == 0 ? 0 : 1;
}

static int s_call(cs_store_t *store, const char *id)
{
    static cs_call_t call;
    if (s_get(store, id, &call))
        return 1;
    json_t *j = cs_call_to_json(&call);
    s_print(j);
    json_decref(j);
    return 0;
}

/* calls --active [--agent A]: the live calls; calls --since <time> [--agent
 * A] [--limit N]: the calls started since, newest first (as the CRM's
 * GET /v1/calls lists them). A bad time, agent id or limit: exit 2. */
static int s_calls(cs_store_t *store, int argc, char **argv)
{
    const char *agent = s_opt(argc, argv, "--agent"), *since = s_opt(argc, argv, "--since");
    const char *limit = s_opt(argc, argv, "--limit");
    int active = s_flag(argc, argv, "--active");
    int known = active + (agent ? 2 : 0) + (since ? 2 : 0) + (limit ? 2 : 0);
    if (known != argc || active == !!since || (limit && !since)) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (agent && !cs_agent_id_ok(agent)) {
        fprintf(stderr, "callsync-ctl: %s\n", CS_AGENT_ID_RULE);
        return 2;
    }
    int64_t from = 0;
    if (since && cs_ts_parse_time(since, &from)) {
        fprintf(stderr, "callsync-ctl: --since takes an RFC 3339 time or ms since the epoch\n");
        return 2;
    }
    int n = CS_STORE_SINCE_LIMIT;
    if (limit && cs_store_since_limit(limit, &n)) {
        fprintf(stderr, "callsync-ctl: --limit takes 1 to 500\n");
        return 2;
    }
    char err[256];
    json_t *out = active ? cs_store_live(store, agent, err, sizeof err)
                         : cs_store_since(store, from, agent, n, err, sizeof err);
    if (!out) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    s_print(out);
    json_decref(out);
    return 0;
}

/* Replays the history through the pure model: what the record was after
 * each event, exactly as the merge saw it. */
static int s_events(cs_store_t *store, const char *id)
{
    static cs_call_t call, replay;
    if (s_get(store, id, &call))
        return 1;
    char err[256];
    json_t *hist = cs_store_history(store, call.id, err, sizeof err);
    if (!hist) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    cs_call_init(&replay, call.id);
    json_t *out = json_array();
    size_t i;
    json_t *entry;
    json_array_foreach(hist, i, entry)
    {
        cs_event_t ev;
        int64_t received_at;
        if (cs_call_history_event(&call, entry, &ev, &received_at, err, sizeof err)) {
            cs_warn("%s", err);
            continue;
        }
        bool changed = cs_call_merge(&replay, &ev, NULL);
        if (changed)
            replay.version++;
        char rx[CS_TS_LEN], at[CS_TS_LEN];
        cs_ts_format(received_at, rx, sizeof rx);
        cs_ts_format(ev.at, at, sizeof at);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", ev.id, "type", ev.type, "kind",
                              cs_event_kind_name(ev.kind), "occurred_at", at, "clock",
                              cs_clock_name(ev.clock));
        if (ev.ccid[0])
            json_object_set_new(e, "call_control_id", json_string(ev.ccid));
        if (ev.value[0]) /* a command's outcome, a digit, a recording URL... */
            json_object_set_new(e, "value", json_string(ev.value));
        json_array_append_new(out,
                              json_pack("{s:s, s:o, s:b, s:o}", "received_at", rx, "event", e,
                                        "changed", changed, "record", cs_call_to_json(&replay)));
    }
    s_print(out);
    json_decref(out);
    json_decref(hist);
    return 0;
}

/* A publisher on the bus, for a message or two: ctl runs once and exits. */
static cs_bus_t *s_bus_open(const cs_config_t *cfg, const char *what)
{
    cs_bus_t *bus = cs_bus_pub_new(cs_config_get(cfg, "CALLSYNC_BUS_PUB"));
    if (!bus)
        cs_warn("bus unusable: %s not sent", what);
    else
        zclock_sleep(100); /* PUB drops what it sends before the connection is up */
    return bus;
}

static int s_agent_set(const cs_config_t *cfg, cs_store_t *store, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *id = argv[0];
    const char *sip = s_opt(argc, argv, "--sip-user");
    char err[256];
    if (!cs_agent_id_ok(id)) {
        fprintf(stderr, "callsync-ctl: %s\n", CS_AGENT_ID_RULE);
        return 2;
    }
    /* A new agent without a SIP user, a SIP user another agent holds, a
     * bad SIP user, name or status: cs_agent_set says which, and writes
     * nothing. */
    if (cs_agent_set(cs_store_redis(store), id, sip, s_opt(argc, argv, "--name"),
                     s_opt(argc, argv, "--status"), err, sizeof err)) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    const char *cred = s_opt(argc, argv, "--credential"), *role = s_opt(argc, argv, "--role");
    if ((cred && cs_agent_set_credential(cs_store_redis(store), id, cred, err, sizeof err)) ||
        (role && cs_agent_set_role(cs_store_redis(store), id, role, err, sizeof err))) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    /* the softphones and dashboards show it at once (agent.changed) */
    cs_bus_t *bus = s_bus_open(cfg, "agent.changed");
    cs_agent_announce(bus, id);
    cs_bus_destroy(&bus);
    int missing;
    json_t *a = cs_agent_get(cs_store_redis(store), id, &missing, err, sizeof err);
    s_print(a);
    json_decref(a);
    return 0;
}

static int s_agent_rm(const cs_config_t *cfg, cs_store_t *store, const char *id)
{
    char err[256];
    int rc = cs_agent_remove(cs_store_redis(store), id, err, sizeof err);
    if (rc) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1; /* no such agent, on a call, Redis */
    }
    /* the relays close the agent's softphones, and the wallboards drop them */
    cs_bus_t *bus = s_bus_open(cfg, "agent.changed");
    cs_agent_announce(bus, id);
    cs_bus_destroy(&bus);
    json_t *out = json_pack("{s:s, s:b}", "id", id, "removed", 1);
    s_print(out);
    json_decref(out);
    return 0;
}

static int s_agents(cs_store_t *store)
{
    char err[256];
    json_t *list = cs_agent_list(cs_store_redis(store), err, sizeof err);
    if (!list) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    s_print(list);
    json_decref(list);
    return 0;
}

static int s_e164_ok(const char *n)
{
    size_t len = strlen(n);
    return len >= 3 && len <= 16 && n[0] == '+' && n[1] != '0' &&
           strspn(n + 1, "0123456789") == len - 1;
}

/* What ctl did goes on the bus: the change notice of the record it has
 * just written (store given), as every writer sends one, then the command
 * for the orchestrator (topic given). Both are already in Redis, so a lost
 * message is visible (a call stuck in "dialing") and the orchestrator's
 * sweep picks it up. */
static void s_command(const cs_config_t *cfg, const cs_store_t *store, const char *topic,
                      json_t *cmd)
{
    cs_bus_t *bus = s_bus_open(cfg, topic ? topic : "call.changed");
    if (!bus)
        return;
    if (store && cs_store_announce(store, bus))
        cs_warn("bus queue full: call.changed not sent");
    if (topic && cs_bus_publish(bus, topic, cmd))
        cs_warn("bus queue full: %s not sent", topic);
    cs_bus_destroy(&bus);
}

static int s_dial(const cs_config_t *cfg, cs_store_t *store, int argc, char **argv)
{
    const char *agent = s_opt(argc, argv, "--agent");
    const char *to = s_opt(argc, argv, "--to");
    if (!agent || !to) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!s_e164_ok(to)) {
        fprintf(stderr, "callsync-ctl: --to must be an E.164 number like +15550100001\n");
        return 2;
    }
    char err[256];
    int missing;
    json_t *a = cs_agent_get(cs_store_redis(store), agent, &missing, err, sizeof err);
    if (!a) {
        fprintf(stderr, "callsync-ctl: %s\n", missing ? "no such agent" : err);
        return 1;
    }
    json_decref(a);
    static cs_call_t call;
    /* --browser: the record for a call the agent's softphone places itself
     * (it passes clientState base64({"cs": id}) to newCall) */
    int browser = s_flag(argc, argv, "--browser");
    if ((browser ? cs_store_create_browser : cs_store_create_dial)(store, agent, to, &call, err,
                                                                   sizeof err)) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    if (browser) {
        s_command(cfg, store, NULL, NULL);
        json_t *j = cs_call_to_json(&call);
        s_print(j);
        json_decref(j);
        return 0;
    }
    char command_id[CS_UUID_STR_LEN];
    cs_ids_uuid(command_id);
    json_t *cmd = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "call", call.id, "agent_id", agent,
                            "to", to, "command_id", command_id);
    s_command(cfg, store, "cmd.dial", cmd);
    json_decref(cmd);
    json_t *j = cs_call_to_json(&call);
    s_print(j);
    json_decref(j);
    return 0;
}

/* After a request written as a fact: its change notice and the wake-up
 * on the bus ({"v":1, "call", "command_id"}), and the record printed. */
static int s_wake_and_print(const cs_config_t *cfg, const cs_store_t *store, const char *topic,
                            const cs_call_t *call)
{
    char command_id[CS_UUID_STR_LEN];
    cs_ids_uuid(command_id);
    json_t *cmd = json_pack("{s:i, s:s, s:s}", "v", 1, "call", call->id, "command_id", command_id);
    s_command(cfg, store, topic, cmd);
    json_decref(cmd);
    json_t *j = cs_call_to_json(call);
    s_print(j);
    json_decref(j);
    return 0;
}

/* The request is a fact on the record first (durable: the orchestrator's
 * rules and sweep act on it even if the bus message below is lost), then
 * a wake-up on the bus. */
static int s_hangup(const cs_config_t *cfg, cs_store_t *store, const char *id)
{
    static cs_call_t call;
    if (s_get(store, id, &call))
        return 1;
    char err[256];
    char cs_id[CS_ID_LEN];
    CS_COPY(cs_id, call.id);
    if (cs_store_request_hangup(store, cs_id, "callsync-ctl", &call, err, sizeof err)) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    return s_wake_and_print(cfg, store, "cmd.hangup", &call);
}

/* A blind transfer on the operator's word: the call's agent leaves, the
 * customer goes to the target. The request is a fact first (as hangup's). */
static int s_transfer(const cs_config_t *cfg, cs_store_t *store, int argc, char **argv)
{
    const char *to = argc == 3 && strcmp(argv[1], "--to") == 0 ? argv[2] : NULL;
    if (!to || !to[0]) {
        fputs(s_usage, stderr);
        return 2;
    }
    char err[256];
    if (to[0] == '+') {
        if (!s_e164_ok(to)) {
            fprintf(stderr, "callsync-ctl: --to must be an E.164 number or an agent id\n");
            return 2;
        }
    } else {
        int missing;
        json_t *a = cs_agent_get(cs_store_redis(store), to, &missing, err, sizeof err);
        int sip = json_string_value(json_object_get(a, "sip_user")) != NULL;
        json_decref(a);
        if (!sip) {
            fprintf(stderr, "callsync-ctl: %s\n",
                    a         ? "that agent has no SIP user"
                    : missing ? "no such agent"
                              : err);
            return 1;
        }
    }
    static cs_call_t call;
    if (s_get(store, argv[0], &call))
        return 1;
    const char *agent = cs_call_agent(&call);
    const cs_leg_t *leg = cs_call_agent_leg(&call, agent);
    if (cs_call_state(&call) != CS_STATE_ACTIVE && cs_call_state(&call) != CS_STATE_HELD) {
        fprintf(stderr, "callsync-ctl: only a call in progress can be transferred (it is %s)\n",
                cs_state_name(cs_call_state(&call)));
        return 1;
    }
    if (!leg) {
        fprintf(stderr, "callsync-ctl: agent %s has no live leg on this call\n", agent);
        return 1;
    }
    if (strcmp(to, agent) == 0) {
        fprintf(stderr, "callsync-ctl: the call is already %s's\n", agent);
        return 1;
    }
    char cs_id[CS_ID_LEN], ccid[CS_CCID_LEN];
    CS_COPY(cs_id, call.id);
    CS_COPY(ccid, leg->ccid);
    int rc = cs_store_request_transfer(store, cs_id, ccid, "blind", to, &call, err, sizeof err);
    if (rc) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        return 1;
    }
    return s_wake_and_print(cfg, store, "cmd.transfer", &call);
}

/* A dev signing identity: the sim signs with the seed
 * (CALLSYNC_SIM_SIGNING_SEED), the ingestor checks with the public key
 * (TELNYX_PUBLIC_KEY). Real Telnyx keeps its seed; you copy its public key. */
static int s_keypair(void)
{
    unsigned char seed[32], pk[32], sk[64];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    char seed64[64], pk64[64];
    sodium_bin2base64(seed64, sizeof seed64, seed, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pk64, sizeof pk64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(sk, sizeof sk);
    json_t *j = json_pack("{s:s, s:s}", "seed", seed64, "public_key", pk64);
    s_print(j);
    json_decref(j);
    return 0;
}

/* dtmf and record: validated here, carried out by the orchestrator. */
static int s_leg_command(const cs_config_t *cfg, cs_store_t *store, const char *id,
                         const char *topic, const char *key, const char *value)
{
    static cs_call_t call;
    if (s_get(store, id, &call))
        return 1;
    char command_id[CS_UUID_STR_LEN];
    cs_ids_uuid(command_id);
    json_t *cmd = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "call", call.id, key, value,
                            "command_id", command_id);
    s_command(cfg, NULL, topic, cmd);
    json_decref(cmd);
    json_t *j = cs_call_to_json(&call);
    s_print(j);
    json_decref(j);
    return 0;
}

static int s_tail(const cs_config_t *cfg, int argc, char **argv)
{
    const char *count_text = s_opt(argc, argv, "--count");
    long count = count_text ? strtol(count_text, NULL, 10) : -1;
    static const char *const all[] = {"", NULL};
    cs_bus_t *bus = cs_bus_sub_new(cs_config_get(cfg, "CALLSYNC_BUS_SUB"), all);
    if (!bus) {
        fprintf(stderr, "callsync-ctl: bus unusable\n");
        return 1;
    }
    while (!zsys_interrupted && count != 0) {
        char *topic, *body;
        size_t len;
        if (cs_bus_recv(bus, 500, &topic, &body, &len) != 0)
            continue;
        /* call.changed carries the stored record: show it as `call` does */
        static cs_call_t call;
        char err[256];
        json_t *msg =
            strcmp(topic, "call.changed") == 0
                ? (cs_store_decode(body, len, &call, err, sizeof err) ? NULL
                                                                      : cs_call_to_json(&call))
                : json_loadb(body, len, 0, NULL);
        json_t *line =
            json_pack("{s:s, s:o}", "topic", topic, "message", msg ? msg : json_string(body));
        char *text = json_dumps(line, JSON_COMPACT);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(line);
        free(topic);
        free(body);
        if (count > 0)
            count--;
    }
    cs_bus_destroy(&bus);
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    bool help;
    cs_config_t *cfg = cs_config_new("callsync-ctl", "operator CLI for callsync", s_vars, argc,
                                     argv, &help, err, sizeof err);
    if (!cfg || help) {
        if (!cfg)
            fprintf(stderr, "callsync-ctl: %s\n", err);
        else
            printf("\n%s", s_usage);
        int code = cfg ? 0 : 2;
        cs_config_destroy(&cfg);
        return code;
    }
    cs_log_level_t level = CS_LOG_WARN;
    cs_log_level_parse(cs_config_get(cfg, "CALLSYNC_LOG_LEVEL"), &level);
    cs_log_init("ctl", level < CS_LOG_WARN ? level : CS_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    int n = cs_config_argc(cfg);
    char **a = cs_config_argv(cfg);
    int rc = 2;
    cs_store_t *store = NULL;
    if (n < 1) {
        fputs(s_usage, stderr);
        goto out;
    }
    const char *cmd = a[0];
    if (strcmp(cmd, "keypair") == 0 && n == 1) {
        rc = s_keypair();
        goto out;
    }
    if (strcmp(cmd, "tail") == 0) {
        rc = s_tail(cfg, n - 1, a + 1);
        goto out;
    }
    store = cs_store_new(cs_config_get(cfg, "CALLSYNC_REDIS_URL"), NULL, err, sizeof err);
    if (!store) {
        fprintf(stderr, "callsync-ctl: %s\n", err);
        rc = 2;
        goto out;
    }
    if (strcmp(cmd, "call") == 0 && n == 2)
        rc = s_call(store, a[1]);
    else if (strcmp(cmd, "calls") == 0)
        rc = s_calls(store, n - 1, a + 1);
    else if (strcmp(cmd, "events") == 0 && n == 2)
        rc = s_events(store, a[1]);
    else if (strcmp(cmd, "agent") == 0 && n >= 3 && strcmp(a[1], "set") == 0)
        rc = s_agent_set(cfg, store, n - 2, a + 2);
    else if (strcmp(cmd, "agent") == 0 && n == 3 && strcmp(a[1], "rm") == 0)
        rc = s_agent_rm(cfg, store, a[2]);
    else if (strcmp(cmd, "agents") == 0 && n == 1)
        rc = s_agents(store);
    else if (strcmp(cmd, "dial") == 0)
        rc = s_dial(cfg, store, n - 1, a + 1);
    else if (strcmp(cmd, "hangup") == 0 && n == 2)
        rc = s_hangup(cfg, store, a[1]);
    else if (strcmp(cmd, "transfer") == 0 && n == 4)
        rc = s_transfer(cfg, store, n - 1, a + 1);
    else if (strcmp(cmd, "dtmf") == 0 && n == 3) {
        if (strspn(a[2], "0123456789ABCD*#wW") != strlen(a[2]) || strlen(a[2]) > 64) {
            fprintf(stderr, "callsync-ctl: digits may hold 0-9, A-D, *, #, w and W (64 at most)\n");
            rc = 2;
        } else {
            rc = s_leg_command(cfg, store, a[1], "cmd.dtmf", "digits", a[2]);
        }
    } else if (strcmp(cmd, "record") == 0 && n == 3 &&
               (strcmp(a[2], "start") == 0 || strcmp(a[2], "stop") == 0))
        rc = s_leg_command(cfg, store, a[1], "cmd.record", "action", a[2]);
    else
        fputs(s_usage, stderr);
out:
    cs_store_destroy(&store);
    cs_config_destroy(&cfg);
    return rc;
}
