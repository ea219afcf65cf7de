/* relay - see relay.h. */
#include "relay.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "text.h"
#include "timestamp.h"
#include "token.h"
#include "wsmsg.h"

/* Pushes by message type first (s_pushed_types, in this order), then the
 * refusals. */
enum {
    M_PUSHED_CALL,
    M_PUSHED_DIAL,
    M_PUSHED_ANSWER,
    M_PUSHED_PRESENCE,
    M_PUSHED_AGENT,
    M_REFUSED,
    M_WS_BAD,
    M_COUNT
};
static const char *const s_pushed_types[] = {"call", "dial", "answer", "presence", "agent"};

typedef struct {
    uint64_t conn;
    char agent[CS_TOKEN_AGENT_LEN]; /* "" until the token checked out */
    int dashboard;                  /* a supervisor's wallboard: every call, read-only */
} s_sock_t;

/* The sockets of one agent (its tabs), or of every dashboard: a push
 * looks up its recipients instead of scanning every socket. */
typedef struct {
    size_t n, cap;
    uint64_t *conns;
} s_conns_t;

struct cs_relay {
    cs_store_t *store;
    cs_telnyx_t *api;
    cs_bus_t *pub;
    cs_web_t *web;
    cs_relay_config_t cfg;
    cs_token_key_t key;
    char api_key[256];
    char rtc_host[256];
    char web_dir[512];
    char instance[40];    /* this relay's member in cs:online:<agent> */
    pthread_mutex_t lock; /* socks */
    zhashx_t *socks;      /* "conn" -> s_sock_t (owned) */
    zhashx_t *by_agent;   /* agent -> s_conns_t (owned): its softphones */
    s_conns_t dashboards;
    cs_counter_t counters[M_COUNT];
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_conns_free(void **item)
{
    s_conns_t *c = *item;
    if (c)
        free(c->conns);
    free(c);
    *item = NULL;
}

static int s_conns_add(s_conns_t *c, uint64_t conn)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        uint64_t *grown = realloc(c->conns, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->conns = grown;
        c->cap = cap;
    }
    c->conns[c->n++] = conn;
    return 0;
}

static void s_conns_remove(s_conns_t *c, uint64_t conn)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->conns[i] == conn) {
            c->conns[i] = c->conns[--c->n];
            return;
        }
}

cs_relay_t *cs_relay_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *pub,
                         const cs_relay_config_t *cfg)
{
    cs_relay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->api = api;
    self->pub = pub;
    self->cfg = *cfg;
    CS_COPY(self->api_key, cfg->api_key);
    CS_COPY(self->rtc_host, cfg->rtc_host ? cfg->rtc_host : "");
    CS_COPY(self->web_dir, cfg->web_dir ? cfg->web_dir : "web/dist");
    cs_token_key(&self->key, cfg->api_key);
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(self->instance, "relay-", 6);
    sodium_bin2hex(self->instance + 6, sizeof self->instance - 6, rnd, sizeof rnd);
    pthread_mutex_init(&self->lock, NULL);
    self->socks = zhashx_new();
    zhashx_set_destructor(self->socks, s_free);
    self->by_agent = zhashx_new();
    zhashx_set_destructor(self->by_agent, s_conns_free);
    static const char *labels[] = {"type=\"call\"", "type=\"dial\"", "type=\"answer\"",
                                   "type=\"presence\"", "type=\"agent\""};
    for (int i = M_PUSHED_CALL; i <= M_PUSHED_AGENT; i++)
        self->counters[i] = (cs_counter_t){.name = "callsync_relay_pushes_total",
                                           .help = "Messages pushed to sockets, by type",
                                           .labels = labels[i - M_PUSHED_CALL]};
    self->counters[M_REFUSED] = (cs_counter_t){.name = "callsync_relay_refused_total",
                                               .help = "API requests refused (4xx)"};
    self->counters[M_WS_BAD] =
        (cs_counter_t){.name = "callsync_relay_ws_bad_total", .help = "Socket messages refused"};
    return self;
}

void cs_relay_destroy(cs_relay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_relay_t *self = *self_p;
    zhashx_destroy(&self->socks);
    zhashx_destroy(&self->by_agent);
    free(self->dashboards.conns);
    pthread_mutex_destroy(&self->lock);
    sodium_memzero(&self->key, sizeof self->key);
    sodium_memzero(self->api_key, sizeof self->api_key);
    free(self);
    *self_p = NULL;
}

void cs_relay_set_web(cs_relay_t *self, cs_web_t *web)
{
    self->web = web;
}

/* ---- replies ---- */

static void s_json(cs_web_response_t *res, int status, json_t *body)
{
    res->status = status;
    res->content_type = "application/json";
    res->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
}

static void s_error(cs_relay_t *self, cs_web_response_t *res, int status, const char *msg)
{
    if (status >= 400 && status < 500)
        cs_counter_inc(&self->counters[M_REFUSED]);
    s_json(res, status, json_pack("{s:s}", "error", msg));
}

static void s_send(cs_relay_t *self, uint64_t conn, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text && self->web)
        cs_web_send(self->web, conn, text, strlen(text));
    free(text);
}

static void s_bus_command(cs_relay_t *self, const char *topic, json_t *cmd)
{
    if (self->pub && cs_bus_publish(self->pub, topic, cmd))
        cs_warn("bus queue full: %s not sent (the record has the fact)", topic);
    json_decref(cmd);
}

/* A cmd.* wake-up for a call (proto/README.md): {"v":1, "call", "leg"
 * when it names one, "command_id"}; the fact it acts on is already on
 * the record. */
static void s_wake(cs_relay_t *self, const char *topic, const char *cs_id, const char *leg)
{
    char command_id[CS_UUID_STR_LEN];
    cs_ids_uuid(command_id);
    json_t *cmd = json_pack("{s:i, s:s, s:s}", "v", 1, "call", cs_id, "command_id", command_id);
    if (leg)
        json_object_set_new(cmd, "leg", json_string(leg));
    s_bus_command(self, topic, cmd);
}

/* ---- shared actions ---- */

static int s_agent_online(cs_relay_t *self, const char *agent)
{
    pthread_mutex_lock(&self->lock);
    s_conns_t *c = zhashx_lookup(self->by_agent, agent);
    int online = c && c->n > 0;
    pthread_mutex_unlock(&self->lock);
    return online;
}

/* Sends msg (taken) to the softphones of the given agents, and to every
 * dashboard when `dashboards`: the recipients are looked up by agent, and
 * the message is serialized once, and counted by its type
 * (callsync_relay_pushes_total). Returns how many sockets it went to. */
static size_t s_push_msg(cs_relay_t *self, const char *const *agents, int nagents, int dashboards,
                         json_t *msg)
{
    s_conns_t to = {0, 0, NULL};
    pthread_mutex_lock(&self->lock);
    for (int i = 0; i < nagents; i++) {
        s_conns_t *c = agents[i][0] ? zhashx_lookup(self->by_agent, agents[i]) : NULL;
        for (size_t k = 0; c && k < c->n; k++)
            s_conns_add(&to, c->conns[k]);
    }
    for (size_t k = 0; dashboards && k < self->dashboards.n; k++)
        s_conns_add(&to, self->dashboards.conns[k]);
    pthread_mutex_unlock(&self->lock);
    char *text = to.n ? json_dumps(msg, JSON_COMPACT) : NULL;
    const char *type = json_string_value(json_object_get(msg, "type"));
    size_t sent = 0;
    for (size_t k = 0; text && self->web && k < to.n; k++, sent++)
        cs_web_send(self->web, to.conns[k], text, strlen(text));
    for (int i = M_PUSHED_CALL; sent && type && i <= M_PUSHED_AGENT; i++)
        if (strcmp(type, s_pushed_types[i - M_PUSHED_CALL]) == 0)
            cs_counter_add(&self->counters[i], sent);
    json_decref(msg);
    free(text);
    free(to.conns);
    return sent;
}

/* {"type", "call": record} to the agents' softphones; a record change
 * ("call") to every dashboard too. */
static void s_push(cs_relay_t *self, const char *const *agents, int nagents, const char *type,
                   const json_t *call)
{
    s_push_msg(self, agents, nagents, strcmp(type, "call") == 0,
               json_pack("{s:s, s:O}", "type", type, "call", call));
}

/* A message for every softphone of the agent, wherever it is connected:
 * this relay's sockets at once, and the other relays' through the bus
 * (relay.push; each delivers to its own, this one skips its own). msg is
 * taken. */
static void s_to_softphones(cs_relay_t *self, const char *agent, json_t *msg)
{
    if (self->pub) {
        json_t *push = json_pack("{s:i, s:s, s:s, s:O}", "v", 1, "from", self->instance, "agent",
                                 agent, "msg", msg);
        if (!push || cs_bus_publish(self->pub, "relay.push", push))
            cs_warn("relay.push to %s not sent: only this relay's sockets get it", agent);
        json_decref(push);
    }
    s_push_msg(self, &agent, 1, 0, msg);
}

/* The agent's status moved here: agent.changed on the bus tells every
 * relay (this one too), which show it to the agent's softphones and to
 * every dashboard (cs_relay_agent_notices). When the bus cannot take it,
 * this relay's softphones of the agent get `msg` (a presence, taken; NULL
 * for none) at once; the pages' resync shows it elsewhere. */
static void s_agent_changed(cs_relay_t *self, const char *agent, json_t *msg)
{
    if (self->pub && cs_agent_announce(self->pub, agent) == 0)
        json_decref(msg);
    else if (msg)
        s_push_msg(self, &agent, 1, 0, msg);
}

void cs_relay_push(cs_relay_t *self, const char *body, size_t len)
{
    cs_wspush_t push;
    json_t *msg;
    const char *why = cs_wsmsg_push_decode(body, len, &push, &msg);
    if (why) {
        cs_warn("relay.push dropped: %s", why);
        return;
    }
    const char *agent = push.agent;
    if (strcmp(push.from, self->instance) != 0) /* this relay's own went out at once */
        s_push_msg(self, &agent, 1, 0, msg);
    else
        json_decref(msg);
}

/* Whether the agent takes or took part in the call (its creator's agent,
 * a leg's): who sees it and may report on it. */
static int s_involved(const cs_call_t *call, const char *agent)
{
    const char *agents[CS_MAX_LEGS + 2];
    int n = cs_call_agents(call, agents, CS_MAX_LEGS + 2);
    for (int i = 0; i < n; i++)
        if (strcmp(agents[i], agent) == 0)
            return 1;
    return 0;
}

/* The call a socket message names (a cs id or a control id; wsmsg.c has
 * checked it is there), read into *call. Returns why it cannot be had, or
 * NULL. */
static const char *s_msg_call(cs_relay_t *self, const cs_wsmsg_t *m, cs_call_t *call)
{
    char err[256];
    int rc = cs_store_get(self->store, m->call, call, err, sizeof err);
    return rc == 0 ? NULL : rc == 1 ? "no such call" : "storage unavailable";
}

static void s_changed(cs_relay_t *self)
{
    cs_store_announce(self->store, self->pub);
}

/* Click-to-call, from the CRM or the softphone: the record first, then the
 * softphone places the call with clientState {"cs": id} (ARCHITECTURE §4). */
static int s_dial(cs_relay_t *self, const char *agent, const char *to, json_t **record, int *status,
                  const char **why)
{
    char err[256];
    int missing = 0;
    json_t *a = cs_agent_get(cs_store_redis(self->store), agent, &missing, err, sizeof err);
    if (!a) {
        *status = missing ? 404 : 503;
        *why = missing ? "no such agent" : "storage unavailable";
        return -1;
    }
    json_decref(a);
    /* a softphone here, or on another relay (the dial goes there by bus) */
    if (!s_agent_online(self, agent) &&
        cs_agent_reachable(cs_store_redis(self->store), agent, cs_ts_now_ms()) != 1) {
        *status = 409;
        *why = "the agent has no softphone online";
        return -1;
    }
    static __thread cs_call_t call;
    if (cs_store_create_browser(self->store, agent, to, &call, err, sizeof err)) {
        *status = 503;
        *why = "storage unavailable";
        return -1;
    }
    *record = cs_call_to_json(&call);
    s_to_softphones(self, agent, json_pack("{s:s, s:O}", "type", "dial", "call", *record));
    cs_info("call %s: %s dials %s from the browser", call.id, agent, to);
    return 0;
}

/* Hang up: a fact on the record (durable), then a wake-up on the bus.
 * agent: only a call of this agent (a softphone), or NULL (the CRM). An
 * agent whose part is only a leg (one the call was transferred to while it
 * rings, one that left) ends its own leg, never the customer's call. */
static int s_hangup(cs_relay_t *self, const char *id, const char *agent, const char *by,
                    json_t **record, int *status)
{
    static __thread cs_call_t call;
    char err[256];
    int rc = cs_store_get(self->store, id, &call, err, sizeof err);
    if (rc) {
        *status = rc == 1 ? 404 : 503;
        return -1;
    }
    if (agent && strcmp(cs_call_agent(&call), agent) != 0) {
        if (!s_involved(&call, agent)) {
            *status = 403;
            return -1;
        }
        const cs_leg_t *leg = cs_call_agent_leg(&call, agent);
        if (leg) {
            s_wake(self, "cmd.hangup", call.id, leg->ccid);
        }
        *record = cs_call_to_json(&call);
        return 0;
    }
    char cs_id[CS_ID_LEN];
    CS_COPY(cs_id, call.id);
    if (cs_store_request_hangup(self->store, cs_id, by, &call, err, sizeof err)) {
        *status = 503;
        return -1;
    }
    s_changed(self);
    s_wake(self, "cmd.hangup", cs_id, NULL);
    *record = cs_call_to_json(&call);
    return 0;
}

/* ---- CRM REST ---- */

static int s_authorized(const cs_relay_t *self, const char *auth)
{
    size_t n = strlen(self->api_key);
    return auth && strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == n &&
           sodium_memcmp(auth + 7, self->api_key, n) == 0;
}

/* GET /v1/calls?active=1[&agent=] (live calls) or ?since=<time>[&agent=]
 * [&limit=N] (calls started since, newest first; agent: the calls it took
 * part in). */
static void s_list(cs_relay_t *self, const cs_web_request_t *req, cs_web_response_t *res)
{
    char active[8] = "", agent[CS_TOKEN_AGENT_LEN] = "", since[40] = "", limit[8] = "", err[256];
    cs_web_query_arg(req->query, "active", active, sizeof active);
    cs_web_query_arg(req->query, "agent", agent, sizeof agent);
    cs_web_query_arg(req->query, "since", since, sizeof since);
    cs_web_query_arg(req->query, "limit", limit, sizeof limit);
    if (since[0]) {
        int64_t from;
        int n = CS_STORE_SINCE_LIMIT;
        if (cs_ts_parse_time(since, &from))
            return s_error(self, res, 400, "since: an RFC 3339 time or ms since the epoch");
        if (limit[0] && cs_store_since_limit(limit, &n))
            return s_error(self, res, 400, "limit: 1 to 500");
        json_t *out = cs_store_since(self->store, from, agent, n, err, sizeof err);
        if (!out)
            return s_error(self, res, 503, "storage unavailable");
        return s_json(res, 200, out);
    }
    if (strcmp(active, "1") != 0)
        return s_error(self, res, 400, "list with ?active=1 or ?since=<time>");
    json_t *out = cs_store_live(self->store, agent, err, sizeof err);
    if (!out)
        return s_error(self, res, 503, "storage unavailable");
    s_json(res, 200, out);
}

/* ---- contacts: the CRM's directory, for screen pop ---- */

/* The contact for a number (new reference), or NULL: *missing when there
 * is none, else Redis failed. */
static json_t *s_contact_get(cs_relay_t *self, const char *number, int *missing)
{
    *missing = 0;
    redisReply *r = cs_redis_cmd(cs_store_redis(self->store), "GET cs:contact:%s", number);
    json_t *c = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        c = json_loadb(r->str, r->len, 0, NULL);
    else if (r && r->type == REDIS_REPLY_NIL)
        *missing = 1;
    freeReplyObject(r);
    return c;
}

/* POST {number, name, company?, url?} stores (replaces) a contact; GET
 * ?number= reads one. Bad input: 400 and nothing stored. */
static void s_contacts(cs_relay_t *self, const cs_web_request_t *req, const json_t *body,
                       cs_web_response_t *res)
{
    if (strcmp(req->method, "GET") == 0) {
        char number[40] = "";
        cs_web_query_arg(req->query, "number", number, sizeof number);
        if (!cs_wsmsg_e164(number))
            return s_error(self, res, 400, "number: a +E.164 number");
        int missing;
        json_t *c = s_contact_get(self, number, &missing);
        if (!c)
            return s_error(self, res, missing ? 404 : 503,
                           missing ? "no contact with that number" : "storage unavailable");
        return s_json(res, 200, c);
    }
    const char *number = json_string_value(json_object_get(body, "number"));
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *company = json_string_value(json_object_get(body, "company"));
    const char *url = json_string_value(json_object_get(body, "url"));
    if (!cs_wsmsg_e164(number))
        return s_error(self, res, 400, "number: a +E.164 number");
    if (!name || !name[0] || strlen(name) > 100)
        return s_error(self, res, 400, "name: 1 to 100 characters");
    if ((json_object_get(body, "company") && (!company || strlen(company) > 100)))
        return s_error(self, res, 400, "company: a string of 100 characters at most");
    if (json_object_get(body, "url") &&
        (!url || strlen(url) > 500 ||
         (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)))
        return s_error(self, res, 400, "url: an http(s) URL of 500 characters at most");
    json_t *c = json_pack("{s:s, s:s}", "number", number, "name", name);
    if (company)
        json_object_set_new(c, "company", json_string(company));
    if (url)
        json_object_set_new(c, "url", json_string(url));
    char *text = json_dumps(c, JSON_COMPACT);
    redisReply *r = cs_redis_cmd(cs_store_redis(self->store), "SET cs:contact:%s %s", number, text);
    free(text);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        json_decref(c);
        return s_error(self, res, 503, "storage unavailable");
    }
    s_json(res, 200, c);
}

static void s_api(cs_relay_t *self, const cs_web_request_t *req, cs_web_response_t *res)
{
    if (!s_authorized(self, req->authorization))
        return s_error(self, res, 401, "a Bearer API key is required");
    int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    char id[160], err[256];
    const char *rest;
    json_t *body = NULL;
    if (post && req->len) {
        body = json_loadb(req->body, req->len, 0, NULL);
        if (!json_is_object(body)) {
            json_decref(body);
            return s_error(self, res, 400, "the body must be a JSON object");
        }
    }
    if (req->too_large)
        return s_error(self, res, 413, "body over the limit");
    if (get && strcmp(req->path, "/v1/calls") == 0) {
        s_list(self, req, res);
    } else if (post && strcmp(req->path, "/v1/calls") == 0) {
        const char *agent = json_string_value(json_object_get(body, "agent_id"));
        const char *to = json_string_value(json_object_get(body, "to"));
        json_t *rec = NULL;
        int status;
        const char *why;
        if (!agent || !*agent || !cs_wsmsg_e164(to))
            s_error(self, res, 400, "agent_id and to (+E.164) are required");
        else if (s_dial(self, agent, to, &rec, &status, &why))
            s_error(self, res, status, why);
        else
            s_json(res, 201, rec);
    } else if (cs_web_path_id(req->path, "/v1/calls/", id, sizeof id, &rest)) {
        static __thread cs_call_t call;
        json_t *rec = NULL;
        int status, rc;
        if (get && !*rest) {
            rc = cs_store_get(self->store, id, &call, err, sizeof err);
            if (rc)
                s_error(self, res, rc == 1 ? 404 : 503,
                        rc == 1 ? "no such call" : "storage unavailable");
            else
                s_json(res, 200, cs_call_to_json(&call));
        } else if (post && strcmp(rest, "/hangup") == 0) {
            if (s_hangup(self, id, NULL, "crm", &rec, &status))
                s_error(self, res, status, status == 404 ? "no such call" : "storage unavailable");
            else
                s_json(res, 202, rec);
        } else {
            s_error(self, res, 404, "no such endpoint");
        }
    } else if (strcmp(req->path, "/v1/contacts") == 0 && (get || post)) {
        s_contacts(self, req, body, res);
    } else if (post && cs_web_path_id(req->path, "/v1/agents/", id, sizeof id, &rest) &&
               strcmp(rest, "/token") == 0) {
        int missing = 0;
        json_t *a = cs_agent_get(cs_store_redis(self->store), id, &missing, err, sizeof err);
        char tok[CS_TOKEN_LEN], when[CS_TS_LEN];
        int64_t exp = cs_ts_now_ms() + 1000LL * self->cfg.token_ttl_s;
        if (!a)
            s_error(self, res, missing ? 404 : 503,
                    missing ? "no such agent" : "storage unavailable");
        else if (cs_token_mint(&self->key, id, exp, tok, sizeof tok))
            s_error(self, res, 400, "agent id too long");
        else {
            cs_ts_format(exp, when, sizeof when);
            s_json(res, 201, json_pack("{s:s, s:s}", "token", tok, "expires_at", when));
        }
        json_decref(a);
    } else {
        s_error(self, res, 404, "no such endpoint");
    }
    json_decref(body);
}

/* The built pages: "/" is the softphone; other names are files of the
 * web dir, one path segment of [A-Za-z0-9._-] (no way out of it). */
static void s_static(cs_relay_t *self, const char *path, cs_web_response_t *res)
{
    const char *name = strcmp(path, "/") == 0            ? "softphone.html"
                       : strcmp(path, "/dashboard") == 0 ? "dashboard.html"
                                                         : path + 1;
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return s_error(self, res, 404, "no such page");
    char file[700];
    snprintf(file, sizeof file, "%s/%s", self->web_dir, name);
    FILE *f = fopen(file, "rb");
    if (!f)
        return s_error(self, res, 404, "no such page (is web/dist built? make web)");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size >= 0 && size < 16 * 1024 * 1024 ? malloc((size_t)size + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return s_error(self, res, 500, "cannot read the page");
    }
    fclose(f);
    buf[size] = '\0';
    const char *dot = strrchr(name, '.');
    res->status = 200;
    res->content_type = !dot                        ? "application/octet-stream"
                        : strcmp(dot, ".html") == 0 ? "text/html; charset=utf-8"
                        : strcmp(dot, ".js") == 0   ? "text/javascript; charset=utf-8"
                        : strcmp(dot, ".css") == 0  ? "text/css; charset=utf-8"
                        : strcmp(dot, ".map") == 0  ? "application/json"
                                                    : "application/octet-stream";
    res->body = buf;
    res->len = (size_t)size;
}

void cs_relay_http(void *arg, const cs_web_request_t *req, cs_web_response_t *res)
{
    cs_relay_t *self = arg;
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/healthz") == 0) {
        int up = cs_store_ping(self->store);
        return s_json(res, up ? 200 : 503, json_pack("{s:s}", "status", up ? "ok" : "redis down"));
    }
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/metrics") == 0) {
        res->status = 200;
        res->content_type = "text/plain; version=0.0.4";
        res->body = cs_relay_metrics(self);
        return;
    }
    if (strncmp(req->path, "/v1/", 4) == 0)
        return s_api(self, req, res);
    if (strcmp(req->method, "GET") == 0)
        return s_static(self, req->path, res);
    s_error(self, res, 404, "no such page");
}

/* ---- the softphone's socket ---- */

/* Every agent and its presence, without credentials (new reference). */
static json_t *s_agents(cs_relay_t *self)
{
    char err[256];
    json_t *list = cs_agent_list(cs_store_redis(self->store), err, sizeof err);
    if (!list)
        return json_array();
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) json_object_del(a, "credential_id");
    return list;
}

/* The SDK's login token for the agent's credential, minted with the API
 * key the browser never sees (NULL when there is none). */
static char *s_sdk_token(cs_relay_t *self, const json_t *agent)
{
    const char *cred = json_string_value(json_object_get(agent, "credential_id"));
    if (!cred || !self->api)
        return NULL;
    char esc[256], path[320];
    cs_telnyx_escape(cred, esc, sizeof esc);
    snprintf(path, sizeof path, "/telephony_credentials/%s/token", esc);
    char *jwt = NULL;
    cs_telnyx_result_t r;
    json_t *empty = json_object();
    if (cs_telnyx_post_text(self->api, path, empty, &jwt, &r))
        cs_warn("SDK token for credential %s: %ld %s %s", cred, r.status, r.code, r.detail);
    json_decref(empty);
    return jwt;
}

void cs_relay_ws_open(void *arg, uint64_t conn, const char *path, const char *query)
{
    cs_relay_t *self = arg;
    char tok[CS_TOKEN_LEN] = "", agent[CS_TOKEN_AGENT_LEN], err[256];
    cs_web_query_arg(query, "token", tok, sizeof tok);
    cs_token_result_t v = strcmp(path, "/ws") == 0
                              ? cs_token_verify(&self->key, tok, cs_ts_now_ms(), agent)
                              : CS_TOKEN_MALFORMED;
    int missing = 0;
    json_t *a = v == CS_TOKEN_OK
                    ? cs_agent_get(cs_store_redis(self->store), agent, &missing, err, sizeof err)
                    : NULL;
    char view[16] = "";
    cs_web_query_arg(query, "view", view, sizeof view);
    int dashboard = strcmp(view, "dashboard") == 0;
    const char *role = json_string_value(json_object_get(a, "role"));
    if (a && dashboard && (!role || strcmp(role, "supervisor") != 0)) {
        cs_info("dashboard refused: %s is not a supervisor", agent);
        s_send(self, conn,
               json_pack("{s:s, s:s}", "type", "error", "error",
                         "the dashboard is for supervisors (callsync-ctl agent set --role)"));
        cs_web_close(self->web, conn, 0);
        json_decref(a);
        return;
    }
    if (!a) {
        cs_info("socket refused: %s", v != CS_TOKEN_OK ? cs_token_result_name(v) : "no such agent");
        s_send(self, conn,
               json_pack("{s:s, s:s}", "type", "error", "error",
                         v != CS_TOKEN_OK ? "a valid agent token is required (?token=)"
                                          : "no such agent"));
        cs_web_close(self->web, conn, 0);
        return;
    }
    s_sock_t *s = calloc(1, sizeof *s);
    s->conn = conn;
    s->dashboard = dashboard;
    CS_COPY(s->agent, agent);
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)conn);
    pthread_mutex_lock(&self->lock);
    zhashx_update(self->socks, key, s);
    s_conns_t *mine = dashboard ? &self->dashboards : zhashx_lookup(self->by_agent, agent);
    if (!mine) {
        mine = calloc(1, sizeof *mine);
        if (mine)
            zhashx_insert(self->by_agent, agent, mine);
    }
    if (!mine || s_conns_add(mine, conn))
        cs_warn("socket of %s: out of memory, it gets no pushes", agent);
    int first = !dashboard && mine && mine->n == 1;
    pthread_mutex_unlock(&self->lock);
    /* The agent's first softphone here takes a presence lease: an offline
     * agent who opens the softphone is available (agents.h). */
    if (first) {
        int64_t until = cs_ts_now_ms() + 1000LL * self->cfg.presence_lease_s;
        int moved =
            cs_agent_softphone_up(cs_store_redis(self->store), agent, self->instance, until, 1);
        if (moved < 0)
            cs_warn("presence of %s not stored (Redis)", agent);
        else
            json_object_set_new(a, "softphone", json_string("connected"));
        if (moved == 1) {
            json_object_set_new(a, "status", json_string("available"));
            cs_info("agent %s available: softphone connected", agent);
            s_agent_changed(self, agent, NULL); /* this socket has it in its hello */
        }
    }
    /* What the softphone starts from: who it is, how its SDK logs in, and
     * the agent's live calls (so a reload shows the call it was on). */
    char *jwt = dashboard ? NULL : s_sdk_token(self, a);
    json_t *calls = cs_store_live(self->store, dashboard ? NULL : agent, err, sizeof err);
    if (!calls)
        calls = json_array(); /* Redis down: the pushes will bring them */
    json_object_del(a, "credential_id");
    /* server_time: the page corrects its clock by it, so its timer (now -
     * answered_at) is right even on a skewed laptop clock */
    json_t *hello = json_pack("{s:s, s:o, s:{s:s, s:s?}, s:o, s:I}", "type", "hello", "agent", a,
                              "rtc", "host", self->rtc_host, "login_token", jwt, "calls", calls,
                              "server_time", (json_int_t)cs_ts_now_ms());
    if (dashboard) {
        json_object_set_new(hello, "view", json_string("dashboard"));
        json_object_set_new(hello, "agents", s_agents(self));
    }
    s_send(self, conn, hello);
    free(jwt);
    cs_info("softphone of %s connected", agent);
}

/* What the softphone's SDK saw, as facts on the record (source sdk, the
 * browser's clock): its call states, media connected, and the first audio
 * packet after the answer (post_answer_audio_gap_ms). An agent reports on
 * its own calls only. Returns why it was refused, or NULL. */
static const char *s_sdk_report(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m)
{
    static __thread cs_call_t call;
    char err[256];
    const char *bad = s_msg_call(self, m, &call);
    if (bad)
        return bad;
    if (!s_involved(&call, agent))
        return "not a call of this agent";
    /* the SDK call's leg, when the record knows it (never a leg of
     * another call: the control id index would file the fact there) */
    int known_leg = m->leg[0] && cs_call_leg(&call, m->leg);
    cs_event_t ev;
    memset(&ev, 0, sizeof ev);
    if (known_leg)
        CS_COPY(ev.ccid, m->leg);
    ev.kind = m->sdk_kind;
    ev.source = CS_SRC_SDK;
    ev.clock = CS_CLOCK_SDK;
    ev.at = m->at;
    CS_COPY(ev.type, ev.kind == CS_EV_SDK_STATE         ? "sdk.state"
                     : ev.kind == CS_EV_MEDIA_CONNECTED ? "sdk.media_connected"
                                                        : "sdk.first_audio");
    CS_COPY(ev.cs_hint, call.id);
    CS_COPY(ev.value, m->state);
    snprintf(ev.id, sizeof ev.id, "sdk-%.24s-%.15s-%lld", call.id + 3,
             m->state[0]                        ? m->state
             : ev.kind == CS_EV_MEDIA_CONNECTED ? "media_connected"
                                                : "first_audio",
             (long long)m->at);
    cs_apply_t applied;
    bool changed;
    if (cs_store_apply(self->store, &ev, NULL, 0, &applied, &call, &changed, err, sizeof err))
        return "storage unavailable";
    if (changed)
        s_changed(self);
    return NULL;
}

/* Hangs up one of the agent's own legs (its consult call, say): never the
 * customer's. Returns why it was refused, or NULL. */
static const char *s_hangup_leg(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m)
{
    static __thread cs_call_t call;
    const char *bad = s_msg_call(self, m, &call);
    if (bad)
        return bad;
    for (int i = 0; i < call.nlegs; i++) {
        const cs_leg_t *l = &call.legs[i];
        if (strcmp(l->ccid, m->leg) != 0)
            continue;
        if (!cs_call_leg_is_agents(&call, l, agent))
            return "not a leg of this agent";
        s_wake(self, "cmd.hangup", call.id, m->leg);
        return NULL;
    }
    return "no such leg on this call";
}

/* The leg that rings at the agent's softphone on that call: one the server
 * rang (an inbound call routed to the agent, a server dial, a transfer or
 * consult to it), live and not answered; never a call the agent's browser
 * placed itself. Returns why there is none, or NULL with *call read. */
static const char *s_ringing_leg(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m,
                                 cs_call_t *call, const cs_leg_t **leg)
{
    const char *bad = s_msg_call(self, m, call);
    if (bad)
        return bad;
    if (!s_involved(call, agent))
        return "not a call of this agent";
    int placed = strcmp(call->flow.v, "browser") == 0;
    *leg = NULL;
    for (int i = 0; i < call->nlegs && !*leg; i++) {
        const cs_leg_t *l = &call->legs[i];
        const char *role = l->role.v;
        if (cs_call_leg_is_agents(call, l, agent) && !l->ended.at && !l->answered.at &&
            strcmp(role, "consult") != 0 && !(placed && strcmp(role, "agent") == 0))
            *leg = l;
    }
    return *leg ? NULL : "nothing of this agent rings on that call";
}

/* Decline: the agent's own ringing leg is hung up, not the call: an
 * inbound call goes on to the next available agent (the orchestrator's
 * routing), a transfer ringing in fails back to routing, and a call the
 * agent was asked to place (server dial) ends, as it only had that leg. */
static const char *s_decline(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m)
{
    static __thread cs_call_t call;
    const cs_leg_t *leg;
    const char *bad = s_ringing_leg(self, agent, m, &call, &leg);
    if (bad)
        return bad;
    s_wake(self, "cmd.hangup", call.id, leg->ccid);
    cs_info("call %s: %s declines", call.id, agent);
    return NULL;
}

/* Answer, from any of the agent's tabs (a mirror, say) or its page's
 * keyboard: only the SDK holding the ringing call can answer it (the media
 * is in that browser), so the relay checks the leg is the agent's and
 * rings, then tells every softphone of the agent {"type":"answer","call",
 * "leg"}; the live tab answers its SDK call, the others show it. */
static const char *s_answer(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m)
{
    static __thread cs_call_t call;
    const cs_leg_t *leg;
    const char *bad = s_ringing_leg(self, agent, m, &call, &leg);
    if (bad)
        return bad;
    s_to_softphones(
        self, agent,
        json_pack("{s:s, s:s, s:s}", "type", "answer", "call", call.id, "leg", leg->ccid));
    cs_info("call %s: %s answers leg %s", call.id, agent, leg->ccid);
    return NULL;
}

/* A transfer target (wsmsg.c has checked its form): "+E.164", or another
 * agent who has a softphone credential (SIP user). Returns why not, or
 * NULL. */
static const char *s_target_bad(cs_relay_t *self, const char *to, const char *agent)
{
    if (to[0] == '+')
        return NULL; /* a number wsmsg.c has checked */
    if (strcmp(to, agent) == 0)
        return "the call is already yours";
    char err[256];
    int missing = 0;
    json_t *a = cs_agent_get(cs_store_redis(self->store), to, &missing, err, sizeof err);
    int sip = json_string_value(json_object_get(a, "sip_user")) != NULL;
    json_decref(a);
    if (!a)
        return missing ? "no such agent" : "storage unavailable";
    return sip ? NULL : "that agent has no softphone credential";
}

/* Transfer, consult, complete (proto/README.md): the request is a fact on
 * the record (refused once the call has ended), then a wake-up on the bus;
 * the orchestrator's rules carry it out. Only the call's agent, from its
 * live leg. Returns why it was refused, or NULL. */
static const char *s_transfer(cs_relay_t *self, uint64_t conn, const char *agent,
                              const cs_wsmsg_t *m)
{
    const char *to = m->to;
    static __thread cs_call_t call;
    char err[256];
    int rc;
    const char *bad = s_msg_call(self, m, &call);
    if (bad)
        return bad;
    if (strcmp(cs_call_agent(&call), agent) != 0)
        return "not a call of this agent";
    cs_state_t state = cs_call_state(&call);
    if (state != CS_STATE_ACTIVE && state != CS_STATE_HELD)
        return "only a call in progress can be transferred";
    const cs_leg_t *leg = cs_call_agent_leg(&call, agent);
    if (!leg)
        return "you have no live leg on this call";
    char cs_id[CS_ID_LEN], ccid[CS_CCID_LEN], target[CS_CCID_LEN] = "";
    CS_COPY(cs_id, call.id);
    CS_COPY(ccid, leg->ccid);
    if (m->type == CS_WS_COMPLETE) {
        /* the colleague who answered, and has not hung up: by Telnyx's
         * word or, sooner, by the colleague's softphone's */
        int gone = 0;
        for (int i = 0; i < call.nlegs && !target[0]; i++) {
            const cs_leg_t *l = &call.legs[i];
            if (strcmp(l->role.v, "consulted") != 0 || !l->answered.at)
                continue;
            if (l->ended.at || l->sdk_ended.at)
                gone = 1;
            else
                CS_COPY(target, l->ccid);
        }
        if (!target[0])
            return gone ? "your colleague has hung up"
                        : "nobody to hand the call to: the consult has not been answered";
    } else if ((bad = s_target_bad(self, to, agent))) {
        return bad;
    } else {
        CS_COPY(target, to);
    }
    int consult = m->type == CS_WS_CONSULT;
    rc = cs_store_request_transfer(self->store, cs_id, consult ? NULL : ccid,
                                   consult                     ? NULL
                                   : m->type == CS_WS_COMPLETE ? "warm"
                                                               : "blind",
                                   target, &call, err, sizeof err);
    if (rc)
        return rc == 1 ? "the call has ended" : "storage unavailable";
    s_changed(self);
    s_wake(self, "cmd.transfer", cs_id, NULL);
    if (consult) /* the page now places its consult call (role "consult") */
        s_send(self, conn,
               json_pack("{s:s, s:s, s:s}", "type", "consult", "call", cs_id, "to", to));
    cs_info("call %s: %s %s %s", cs_id, agent,
            consult                     ? "consults"
            : m->type == CS_WS_COMPLETE ? "completes a transfer to"
                                        : "transfers to",
            target);
    return NULL;
}

/* The agent's own presence, from the softphone: asked, or set to
 * available or offline from any status but busy (the call's end moves a
 * busy agent; from wrap_up it ends the wrap-up early). The answer,
 * {"type":"presence","status"}, goes to this socket for a question and to
 * every softphone of the agent for a change. Returns why it was refused,
 * or NULL. */
static const char *s_presence(cs_relay_t *self, uint64_t conn, const char *agent,
                              const cs_wsmsg_t *m)
{
    cs_redis_t *redis = cs_store_redis(self->store);
    char err[256], status[16];
    int missing = 0;
    json_t *a = cs_agent_get(redis, agent, &missing, err, sizeof err);
    if (!a)
        return missing ? "no such agent" : "storage unavailable";
    const char *now = json_string_value(json_object_get(a, "status"));
    CS_COPY(status, now ? now : "offline");
    json_decref(a);
    int change = m->status[0] && strcmp(status, m->status) != 0;
    if (change) {
        if (strcmp(status, "busy") == 0)
            return "you are on a call: your presence follows it until it ends";
        /* from the status just read, so a call's step taken meanwhile wins */
        int rc = cs_agent_transition(redis, agent, status, m->status);
        if (rc < 0)
            return "storage unavailable";
        if (rc == 0)
            return "your presence changed meanwhile: look again";
        cs_info("agent %s %s (from the softphone)", agent, m->status);
        CS_COPY(status, m->status);
    }
    json_t *msg = json_pack("{s:s, s:s}", "type", "presence", "status", status);
    if (change)
        s_agent_changed(self, agent, msg);
    else
        s_send(self, conn, msg);
    return NULL;
}

/* The agent's wrap-up of a call it took part in: disposition (1 to 63
 * characters) and notes (500 at most), a fact on the record; the agent is
 * then done (wrap-up -> available). Returns why it was refused, or NULL. */
static const char *s_wrapup(cs_relay_t *self, const char *agent, const cs_wsmsg_t *m)
{
    static __thread cs_call_t call;
    char err[256];
    const char *bad = s_msg_call(self, m, &call);
    if (bad)
        return bad;
    if (!s_involved(&call, agent))
        return "not a call of this agent";
    cs_event_t ev;
    cs_store_command_fact(&ev, CS_EV_WRAPUP, "callsync.wrapup", "wrapup", call.id);
    CS_COPY(ev.disposition, m->disposition);
    CS_COPY(ev.value, m->notes);
    CS_COPY(ev.agent_id, agent);
    cs_apply_t applied;
    bool changed;
    if (cs_store_apply(self->store, &ev, NULL, 0, &applied, &call, &changed, err, sizeof err))
        return "storage unavailable";
    if (changed)
        s_changed(self);
    if (cs_agent_transition(cs_store_redis(self->store), agent, "wrap_up", "available") == 1) {
        cs_info("agent %s available (wrap-up of %s done)", agent, call.id);
        s_agent_changed(self, agent,
                        json_pack("{s:s, s:s}", "type", "presence", "status", "available"));
    }
    return NULL;
}

/* The agent's calls of the last day, newest first (recent calls). */
static void s_recent(cs_relay_t *self, uint64_t conn, const char *agent)
{
    char err[256];
    json_t *calls =
        cs_store_since(self->store, cs_ts_now_ms() - 86400000LL, agent, 20, err, sizeof err);
    s_send(self, conn,
           json_pack("{s:s, s:o}", "type", "recent", "calls", calls ? calls : json_array()));
}

void cs_relay_ws_message(void *arg, uint64_t conn, const char *text, size_t len)
{
    cs_relay_t *self = arg;
    char key[24], agent[CS_TOKEN_AGENT_LEN] = "";
    int dashboard = 0;
    snprintf(key, sizeof key, "%llu", (unsigned long long)conn);
    pthread_mutex_lock(&self->lock);
    s_sock_t *s = zhashx_lookup(self->socks, key);
    if (s) {
        CS_COPY(agent, s->agent);
        dashboard = s->dashboard;
    }
    pthread_mutex_unlock(&self->lock);
    if (!agent[0])
        return;                   /* refused at open; it is closing */
    static __thread cs_wsmsg_t m; /* 1 KiB of fields: off the loop's stack */
    const char *bad = cs_wsmsg_decode(text, len, cs_ts_now_ms(), &m);
    /* a refusal names the request it answers, once it is known: a page
     * waiting on its outcome (Complete transfer) learns that it will not
     * come */
    const char *request = bad ? NULL : cs_wsmsg_type_name(m.type);
    json_t *rec = NULL;
    int status;
    char err[256];
    static __thread cs_call_t call;
    if (bad) {
        /* refused as it is: wsmsg.h */
    } else if (dashboard && m.type != CS_WS_AGENTS && m.type != CS_WS_CALLS &&
               m.type != CS_WS_GET) {
        bad = "the dashboard is read-only";
    } else {
        switch (m.type) {
        case CS_WS_AGENTS:
            s_send(self, conn, json_pack("{s:s, s:o}", "type", "agents", "agents", s_agents(self)));
            break;
        case CS_WS_CALLS: {
            /* history since a time (the dashboard's "today"): every call for
             * a dashboard (500 at most), the agent's own for a softphone (100) */
            json_t *calls = cs_store_since(self->store, m.since, dashboard ? NULL : agent,
                                           dashboard ? 500 : 100, err, sizeof err);
            if (!calls)
                bad = "storage unavailable";
            else
                s_send(self, conn, json_pack("{s:s, s:o}", "type", "calls", "calls", calls));
            break;
        }
        case CS_WS_DIAL:
            if (s_dial(self, agent, m.to, &rec, &status, &bad) == 0)
                json_decref(rec); /* the record went out as {"type":"dial"} */
            break;
        case CS_WS_GET: /* the Clone pattern: a page that missed a version asks again */
            if ((bad = s_msg_call(self, &m, &call)))
                break;
            if (!dashboard && !s_involved(&call, agent))
                bad = "not a call of this agent";
            else
                s_send(self, conn,
                       json_pack("{s:s, s:o}", "type", "call", "call", cs_call_to_json(&call)));
            break;
        case CS_WS_SDK:
            bad = s_sdk_report(self, agent, &m);
            break;
        case CS_WS_WRAPUP:
            bad = s_wrapup(self, agent, &m);
            break;
        case CS_WS_RECENT:
            s_recent(self, conn, agent);
            break;
        case CS_WS_CONTACT: {
            int missing = 0;
            json_t *c = s_contact_get(self, m.to, &missing);
            if (!c && !missing)
                bad = "storage unavailable";
            else
                s_send(self, conn,
                       json_pack("{s:s, s:s, s:o}", "type", "contact", "number", m.to, "contact",
                                 c ? c : json_null()));
            break;
        }
        case CS_WS_TRANSFER:
        case CS_WS_CONSULT:
        case CS_WS_COMPLETE:
            bad = s_transfer(self, conn, agent, &m);
            break;
        case CS_WS_ANSWER:
            bad = s_answer(self, agent, &m);
            break;
        case CS_WS_DECLINE:
            bad = s_decline(self, agent, &m);
            break;
        case CS_WS_PRESENCE:
            bad = s_presence(self, conn, agent, &m);
            break;
        case CS_WS_HANGUP:
            if (m.leg[0])
                bad = s_hangup_leg(self, agent, &m);
            else if (s_hangup(self, m.call, agent, agent, &rec, &status))
                bad = status == 404   ? "no such call"
                      : status == 403 ? "not a call of this agent"
                                      : "storage unavailable";
            else
                json_decref(rec); /* the change comes back as {"type":"call"} */
            break;
        }
    }
    if (bad) {
        cs_counter_inc(&self->counters[M_WS_BAD]);
        json_t *reply = json_pack("{s:s, s:s}", "type", "error", "error", bad);
        if (request)
            json_object_set_new(reply, "request", json_string(request));
        s_send(self, conn, reply);
    }
}

/* The agent's lease on this relay becomes a grace lease: offline after
 * CALLSYNC_PRESENCE_GRACE_S unless a softphone (a reload) comes back. */
static int s_grace(cs_relay_t *self, cs_redis_t *redis, const char *agent)
{
    return cs_agent_softphone_down(redis, agent, self->instance,
                                   cs_ts_now_ms() + 1000LL * self->cfg.presence_grace_s);
}

void cs_relay_ws_close(void *arg, uint64_t conn)
{
    cs_relay_t *self = arg;
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)conn);
    char gone[CS_TOKEN_AGENT_LEN] = ""; /* an agent whose last softphone here closed */
    pthread_mutex_lock(&self->lock);
    s_sock_t *s = zhashx_lookup(self->socks, key);
    if (s) {
        s_conns_t *c = s->dashboard ? &self->dashboards : zhashx_lookup(self->by_agent, s->agent);
        if (c)
            s_conns_remove(c, conn);
        if (c && !s->dashboard && c->n == 0) {
            zhashx_delete(self->by_agent, s->agent);
            CS_COPY(gone, s->agent);
        }
    }
    zhashx_delete(self->socks, key);
    pthread_mutex_unlock(&self->lock);
    if (gone[0] && s_grace(self, cs_store_redis(self->store), gone))
        cs_warn("presence of %s not stored (Redis)", gone);
}

int cs_relay_presence(cs_relay_t *self, cs_redis_t *redis, int stopping)
{
    pthread_mutex_lock(&self->lock);
    zlistx_t *agents = zhashx_keys(self->by_agent); /* copies */
    pthread_mutex_unlock(&self->lock);
    if (!agents)
        return -1;
    int64_t until = cs_ts_now_ms() + 1000LL * self->cfg.presence_lease_s;
    int n = 0, failed = 0;
    for (const char *agent = zlistx_first(agents); agent; agent = zlistx_next(agents)) {
        /* a renewal of an agent taken for gone (Redis was out of reach for
         * a lease) makes them available again, as a connect does */
        int rc = stopping ? s_grace(self, redis, agent)
                          : cs_agent_softphone_up(redis, agent, self->instance, until, 0);
        if (rc < 0)
            failed = 1;
        else
            n++;
        if (rc == 1) {
            cs_info("agent %s available again: softphone still connected", agent);
            s_agent_changed(self, agent,
                            json_pack("{s:s, s:s}", "type", "presence", "status", "available"));
        }
        /* A softphone that closed while this lease was being renewed: its
         * close put the grace lease in before the renewal put the full
         * lease back, which would keep the agent for a lease instead of
         * the grace. So whoever is no longer here gets the grace again (a
         * second grace, from a close after the renewal, only restarts it). */
        if (stopping || rc < 0)
            continue;
        pthread_mutex_lock(&self->lock);
        int here = zhashx_lookup(self->by_agent, agent) != NULL;
        pthread_mutex_unlock(&self->lock);
        if (!here && s_grace(self, redis, agent))
            failed = 1;
    }
    zlistx_destroy(&agents);
    return failed ? -1 : n;
}

void cs_relay_notice(cs_relay_t *self, const char *body, size_t len)
{
    static __thread cs_call_t call;
    char err[256];
    if (cs_store_decode(body, len, &call, err, sizeof err)) {
        cs_warn("call.changed not decoded: %s", err);
        return;
    }
    const char *agents[CS_MAX_LEGS + 2];
    int n = cs_call_agents(&call, agents, CS_MAX_LEGS + 2);
    json_t *rec = cs_call_to_json(&call);
    s_push(self, agents, n, "call", rec);
    json_decref(rec);
}

/* The agent is gone (callsync-ctl agent rm): their softphones here are
 * told why and closed (a reconnect is refused: no such agent), and every
 * dashboard drops their row. */
static void s_agent_removed(cs_relay_t *self, const char *agent, int softphones, int dashboards)
{
    if (softphones) {
        cs_info("agent %s removed: closing their softphones here", agent);
        s_conns_t gone = {0, 0, NULL};
        pthread_mutex_lock(&self->lock);
        s_conns_t *c = zhashx_lookup(self->by_agent, agent);
        for (size_t k = 0; c && k < c->n; k++)
            s_conns_add(&gone, c->conns[k]);
        pthread_mutex_unlock(&self->lock);
        for (size_t k = 0; k < gone.n; k++) {
            s_send(self, gone.conns[k],
                   json_pack("{s:s, s:s}", "type", "error", "error",
                             "your agent profile was removed"));
            if (self->web)
                cs_web_close(self->web, gone.conns[k], 0);
        }
        free(gone.conns);
    }
    if (dashboards)
        s_push_msg(
            self, NULL, 0, 1,
            json_pack("{s:s, s:{s:s}, s:b}", "type", "agent", "agent", "id", agent, "removed", 1));
}

/* One agent read again after its notice: pushed to this relay's
 * softphones of the agent and to its dashboards, where there are any. a is
 * taken. */
static void s_agent_show(cs_relay_t *self, const char *agent, json_t *a, int softphones,
                         int dashboards)
{
    json_object_del(a, "credential_id");
    const char *status = json_string_value(json_object_get(a, "status"));
    if (softphones)
        s_push_msg(
            self, &agent, 1, 0,
            json_pack("{s:s, s:s}", "type", "presence", "status", status ? status : "offline"));
    if (dashboards)
        s_push_msg(self, NULL, 0, 1, json_pack("{s:s, s:O}", "type", "agent", "agent", a));
    json_decref(a);
}

void cs_relay_agent_notices(cs_relay_t *self, cs_redis_t *redis, char *const *bodies,
                            const size_t *lens, size_t n)
{
    if (!n)
        return;
    char(*agents)[65] = calloc(n, sizeof *agents);
    const char **ids = calloc(n, sizeof *ids);
    int *phones = calloc(n, sizeof *phones);
    json_t **got = calloc(n, sizeof *got);
    if (!agents || !ids || !phones || !got) {
        cs_warn("agent.changed: %zu notices not shown: out of memory (the pages' resync will)", n);
        goto out;
    }
    size_t m = 0; /* the notices that decode, each agent once */
    for (size_t i = 0; i < n; i++) {
        const char *why = cs_wsmsg_agent_decode(bodies[i], lens[i], agents[m]);
        if (why) {
            cs_warn("agent.changed dropped: %s", why);
            continue;
        }
        size_t j = 0; /* an agent twice: one read shows the last status */
        while (j < m && strcmp(agents[j], agents[m]) != 0)
            j++;
        m += j == m;
    }
    size_t k = 0; /* those shown here: a softphone of theirs, or a dashboard */
    pthread_mutex_lock(&self->lock);
    int dashboards = self->dashboards.n > 0;
    for (size_t i = 0; i < m; i++) {
        s_conns_t *c = zhashx_lookup(self->by_agent, agents[i]);
        phones[k] = c && c->n > 0;
        if (phones[k] || dashboards)
            ids[k++] = agents[i];
    }
    pthread_mutex_unlock(&self->lock);
    if (!k)
        goto out;
    /* read again, not carried: notices that cross show the last status */
    char err[256];
    if (cs_agent_get_many(redis, ids, k, got, err, sizeof err)) {
        cs_warn("agent.changed for %zu agents not shown: %s (the pages' resync will)", k, err);
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        if (got[i])
            s_agent_show(self, ids[i], got[i], phones[i], dashboards);
        else
            s_agent_removed(self, ids[i], phones[i], dashboards);
    }
out:
    free(agents);
    free(ids);
    free(phones);
    free(got);
}

char *cs_relay_metrics(cs_relay_t *self)
{
    cs_counter_t *cs[M_COUNT];
    for (int i = 0; i < M_COUNT; i++)
        cs[i] = &self->counters[i];
    char *text = cs_metrics_render(cs, M_COUNT, NULL, 0);
    pthread_mutex_lock(&self->lock);
    size_t socks = zhashx_size(self->socks), agents = zhashx_size(self->by_agent);
    pthread_mutex_unlock(&self->lock);
    size_t n = text ? strlen(text) : 0;
    char *out = realloc(text, n + 320);
    if (out)
        snprintf(out + n, 320,
                 "# HELP callsync_relay_sockets Softphones connected\n"
                 "# TYPE callsync_relay_sockets gauge\ncallsync_relay_sockets %zu\n"
                 "# HELP callsync_relay_agents_online Agents with a softphone on this relay\n"
                 "# TYPE callsync_relay_agents_online gauge\ncallsync_relay_agents_online %zu\n",
                 socks, agents);
    return out;
}
