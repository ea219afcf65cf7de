/* config - see config.h. The table below is the single place where a
 * variable, its default and its meaning are written. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *def; /* NULL: no default */
    const char *help;
} s_var_t;

static const s_var_t s_vars[] = {
    {"CALLSYNC_REDIS_URL", "redis://127.0.0.1:6379/0",
     "Redis holding every call record (redis://host:port/db or unix:///path/redis.sock)"},
    {"CALLSYNC_BUS_PUB", "tcp://127.0.0.1:5570",
     "bus forwarder endpoint that services publish to (callsync-bus binds it)"},
    {"CALLSYNC_BUS_SUB", "tcp://127.0.0.1:5571",
     "bus forwarder endpoint that services subscribe to (callsync-bus binds it)"},
    {"CALLSYNC_INGEST_PORT", "8081", "ingestor HTTP port (POST /webhooks/telnyx)"},
    {"CALLSYNC_INGEST_THREADS", "2",
     "ingestor HTTP worker threads (signature checks; storing is the committers')"},
    {"CALLSYNC_INGEST_COMMITTERS", "2",
     "ingestor threads that store webhooks, each with its own Redis connection (a call's go to "
     "one)"},
    {"CALLSYNC_INGEST_CACHE", "20000",
     "calls the ingestor's committers remember to skip a Redis round trip (0: none)"},
    {"CALLSYNC_RELAY_PORT", "8080", "relay HTTP/WebSocket port"},
    {"CALLSYNC_ORCH_PORT", "8082", "orchestrator /healthz and /metrics port"},
    {"CALLSYNC_TIMER_PORT", "8083", "timer /metrics port"},
    {"CALLSYNC_SIM_PORT", "8090", "sim port (REST, telnyx_rtc WebSocket, pages)"},
    {"CALLSYNC_SIM_WEBHOOK_URL", "http://127.0.0.1:8081/webhooks/telnyx",
     "where the sim delivers webhooks"},
    {"CALLSYNC_SIM_FAILOVER_URL", NULL, "where the sim delivers webhooks the first URL refused"},
    {"CALLSYNC_SIM_API_KEY", "sim-key", "the only Bearer key the sim's REST API accepts"},
    {"CALLSYNC_SIM_CONNECTION_ID", "1001", "the sim's Call Control app / connection id"},
    {"CALLSYNC_SIM_SIGNING_SEED", NULL,
     "base64 of the sim's 32-byte Ed25519 signing seed (random when unset)"},
    {"TELNYX_PUBLIC_KEY", NULL,
     "base64 of Telnyx's 32-byte Ed25519 public key (portal: Keys & Credentials > Public Key)"},
    {"CALLSYNC_WEBHOOK_TOLERANCE_S", "300", "accepted webhook timestamp skew, seconds"},
    {"CALLSYNC_DEDUPE_TTL_S", "86400",
     "how long a webhook id is remembered for dedupe, seconds (after its call's last webhook)"},
    {"CALLSYNC_LOG_LEVEL", "info", "debug|info|warn|error"},
    {"TELNYX_API_KEY", NULL, "Telnyx API v2 key (server side only; never logged)"},
    {"TELNYX_API_BASE", "https://api.telnyx.com/v2", "Telnyx REST base URL"},
    {"TELNYX_CONNECTION_ID", NULL, "Call Control app / credential connection used to dial"},
    {"CALLSYNC_CALLER_ID", NULL, "the company number (+E.164) shown on the calls callsync dials"},
    {"CALLSYNC_RING_TIMEOUT_S", "20", "how long one agent rings on an inbound call, seconds"},
    {"CALLSYNC_QUEUE_WAIT_S", "60",
     "how long an inbound caller waits, hearing ringing, for an agent to be free before busy, "
     "seconds; 0: busy at once"},
    {"CALLSYNC_WRAPUP_S", "30", "an agent's wrap-up after a call, seconds (0: none)"},
    {"CALLSYNC_PRESENCE_GRACE_S", "10",
     "an agent whose last softphone closed goes offline this long after, seconds (a reload "
     "keeps them)"},
    {"CALLSYNC_PRESENCE_LEASE_S", "30",
     "a relay renews its agents' presence leases every third of this; if it stops, its agents "
     "go offline this long after, seconds"},
    {"CALLSYNC_STUCK_S", "120",
     "a call still dialing or ringing this long after it began is ended, seconds"},
    {"CALLSYNC_MAX_CALL_S", "14400", "a call answered this long ago is ended, seconds"},
    {"CALLSYNC_ALIVE_CHECK_S", "60",
     "how often Telnyx is asked about a live call's legs (a lost hangup webhook), seconds; 0: "
     "never"},
    {"CALLSYNC_RETENTION_S", "2592000",
     "a finished call is removed from Redis this long after it ended, seconds (30 days; 0: "
     "never; else at least 86400)"},
    {"CALLSYNC_API_KEY", NULL, "bearer key of the CRM REST API"},
    {"CALLSYNC_RTC_HOST", "wss://rtc.telnyx.com", "the SDK host handed to the softphone"},
    {"CALLSYNC_WEB_DIR", "web/dist", "where the relay finds the built softphone (make web)"},
};

#define S_NVARS (sizeof s_vars / sizeof s_vars[0])

struct cs_config {
    const char *values[S_NVARS]; /* borrowed from env/argv or the table */
    int argc;
    char **argv; /* owned array, borrowed strings */
};

static int s_find(const char *name, size_t len)
{
    for (size_t i = 0; i < S_NVARS; i++)
        if (strlen(s_vars[i].name) == len && strncmp(s_vars[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static bool s_listed(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

static void s_print(const char *const *names)
{
    for (; *names; names++) {
        int i = s_find(*names, strlen(*names));
        if (i < 0)
            continue;
        printf("  %-30s %s\n  %-30s default: %s\n", s_vars[i].name, s_vars[i].help, "",
               s_vars[i].def ? s_vars[i].def : "(none)");
    }
}

void cs_config_print_table(const char *const *names)
{
    s_print(names);
}

cs_config_t *cs_config_new(const char *prog, const char *summary, const char *const *names,
                           int argc, char **argv, bool *help_shown, char *err, size_t errlen)
{
    *help_shown = false;
    cs_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!self->argv) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < S_NVARS; i++) {
        if (!s_listed(names, s_vars[i].name))
            continue;
        const char *env = getenv(s_vars[i].name);
        self->values[i] = env && *env ? env : s_vars[i].def;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            printf("%s - %s\n\nEnvironment (a flag --NAME=value overrides):\n", prog, summary);
            s_print(names);
            *help_shown = true;
            return self;
        }
        if (strncmp(arg, "--", 2) != 0 || !(arg[2] >= 'A' && arg[2] <= 'Z')) {
            self->argv[self->argc++] = argv[a];
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int i = s_find(name, len);
        if (i < 0 || !s_listed(names, s_vars[i].name)) {
            snprintf(err, errlen, "unknown option %.*s (see --help)", (int)len + 2, arg);
            goto fail;
        }
        if (eq) {
            self->values[i] = eq + 1;
        } else if (a + 1 < argc) {
            self->values[i] = argv[++a];
        } else {
            snprintf(err, errlen, "option %s needs a value", arg);
            goto fail;
        }
    }
    return self;
fail:
    cs_config_destroy(&self);
    return NULL;
}

void cs_config_destroy(cs_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->argv);
    free(*self_p);
    *self_p = NULL;
}

const char *cs_config_get(const cs_config_t *self, const char *name)
{
    int i = s_find(name, strlen(name));
    return i < 0 ? NULL : self->values[i];
}

int cs_config_int(const cs_config_t *self, const char *name, long min, long max, long *out,
                  char *err, size_t errlen)
{
    const char *text = cs_config_get(self, name);
    if (!text) {
        snprintf(err, errlen, "%s is required", name);
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        snprintf(err, errlen, "%s must be an integer in [%ld, %ld], not '%s'", name, min, max,
                 text);
        return -1;
    }
    *out = v;
    return 0;
}

int cs_config_argc(const cs_config_t *self)
{
    return self->argc;
}
char **cs_config_argv(const cs_config_t *self)
{
    return self->argv;
}
