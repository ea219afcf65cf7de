/* relay - the UI push relay and the CRM's REST API (ARCHITECTURE §5).
 *
 *   CRM REST under /v1 (Authorization: Bearer $CALLSYNC_API_KEY; 401 without):
 *     GET  /v1/calls/{id}            the record (as callsync-ctl call), 404 unknown
 *     GET  /v1/calls?active=1[&agent=A]  records of calls not ended
 *     POST /v1/calls {agent_id, to}  click-to-call: the record is made first
 *                                    (flow "browser") and the agent's softphone
 *                                    is told to place it (409: none online)
 *     POST /v1/calls/{id}/hangup     a hangup request fact, then the orchestrator
 *     POST /v1/agents/{id}/token     a short-lived agent token (token.h)
 *   WS /ws?token=<agent token>: the softphone. The relay sends
 *     {"type":"hello","agent":{...},"rtc":{"host","login_token"},"calls":[...],
 *      "server_time":ms}
 *     {"type":"call","call":record}      every change of the agent's calls
 *     {"type":"dial","call":record}      place this call (click-to-call)
 *     {"type":"error","error":"..."}     bad input; the socket stays
 *     {"type":"answer","call","leg"}     answer this ringing leg (the live tab)
 *   and takes {"type":"dial","to"}, {"type":"hangup","call"},
 *   {"type":"get","call"} (a page that saw a version gap asks again),
 *   {"type":"sdk","call","at", "state" | "event"} (what the SDK saw, as facts),
 *   answer, decline, transfer, consult, complete, wrapup... (decoded and
 *   checked by wsmsg.c; proto/README.md has every message).
 *
 *   GET / the softphone (?token=<agent token>), and its files, from
 *   CALLSYNC_WEB_DIR.
 *
 * Threads: HTTP and WebSocket handlers run on the web loop (common/web.c)
 * with their own store; change notices arrive on the bus thread
 * (cs_relay_notice, cs_relay_agent_notices) and are pushed with
 * cs_web_send. The socket table is behind one lock. */
#ifndef CS_RELAY_H
#define CS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "redis.h"
#include "store.h"
#include "telnyx.h"
#include "web.h"

typedef struct cs_relay cs_relay_t;

typedef struct {
    const char *api_key;  /* CALLSYNC_API_KEY */
    const char *rtc_host; /* CALLSYNC_RTC_HOST, handed to the SDK */
    int token_ttl_s;      /* agent tokens */
    const char *web_dir;  /* CALLSYNC_WEB_DIR: the built pages (web/dist) */
    int presence_grace_s; /* CALLSYNC_PRESENCE_GRACE_S */
    int presence_lease_s; /* CALLSYNC_PRESENCE_LEASE_S */
} cs_relay_config_t;

/* store (web thread only), api (may be NULL: no SDK tokens) and pub (bus
 * commands; may be NULL) are borrowed. */
cs_relay_t *cs_relay_new(cs_store_t *store, cs_telnyx_t *api, cs_bus_t *pub,
                         const cs_relay_config_t *cfg);
void cs_relay_destroy(cs_relay_t **self_p);

/* The web server it pushes through (set once, before the loop runs). */
void cs_relay_set_web(cs_relay_t *self, cs_web_t *web);

/* cs_web handlers (arg: the relay). */
void cs_relay_http(void *arg, const cs_web_request_t *req, cs_web_response_t *res);
void cs_relay_ws_open(void *arg, uint64_t conn, const char *path, const char *query);
void cs_relay_ws_message(void *arg, uint64_t conn, const char *text, size_t len);
void cs_relay_ws_close(void *arg, uint64_t conn);

/* A call.changed body from the bus ("<version> <stored JSON>"): pushed to
 * the sockets of the call's agent. Any thread. */
void cs_relay_notice(cs_relay_t *self, const char *body, size_t len);

/* A relay.push body from the bus (proto/README.md): a message another relay
 * sent to every softphone of an agent, delivered to this relay's sockets of
 * that agent. Its own and anything not a v1 dial or answer are dropped (the
 * latter with a log line). Any thread. */
void cs_relay_push(cs_relay_t *self, const char *body, size_t len);

/* agent.changed bodies from the bus (proto/README.md), as many as were
 * waiting: each names an agent whose status moved somewhere (a call, the
 * timer, an operator, a softphone). Each agent is read again once, all of
 * them in one pipeline (cs_agent_get_many) through `redis` (the caller's
 * connection; the notice carries no status, so notices that cross cannot
 * leave an older one shown), and sent as {"type":"presence","status"} to
 * this relay's softphones of the agent and {"type":"agent","agent"} to its
 * dashboards; nothing is read for an agent neither shows. An agent no
 * longer there was removed (agent rm): their softphones here are closed
 * and the dashboards drop them. A notice that does not decode is dropped
 * with a log line. The bus thread. */
void cs_relay_agent_notices(cs_relay_t *self, cs_redis_t *redis, char *const *bodies,
                            const size_t *lens, size_t n);

/* Presence from the softphones (common/agents.h): renews the lease of every
 * agent with a softphone on this relay, or with `stopping` lets each run
 * out after the grace (the relay is going; another may take the sockets).
 * Call every third of the lease, from a thread with its own redis (not the
 * web loop's store). Returns how many agents it renewed, -1 on a Redis
 * failure. */
int cs_relay_presence(cs_relay_t *self, cs_redis_t *redis, int stopping);

/* Prometheus text (caller frees). */
char *cs_relay_metrics(cs_relay_t *self);

#endif
