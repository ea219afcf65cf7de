/* wsmsg - the messages a softphone or dashboard sends over WS /ws, decoded
 * and checked before anything is looked up (proto/README.md has each one).
 *
 * Pure and bounded: any bytes in, either a typed message whose strings fit
 * their fields or the reason it is refused, which the relay sends back as
 * {"type":"error","error":<reason>} (the socket stays open, nothing is
 * stored). What needs Redis (does the call exist, is it this agent's, is
 * the transfer target an agent with a softphone) is the relay's to check
 * afterwards. Fuzzed by tests/fuzz/fuzz_wsmsg.c. */
#ifndef CS_WSMSG_H
#define CS_WSMSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"

typedef enum {
    CS_WS_AGENTS,   /* the agents and their presence */
    CS_WS_CALLS,    /* history since a time (since) */
    CS_WS_DIAL,     /* place a call to `to` */
    CS_WS_GET,      /* the record of `call` again (a version gap) */
    CS_WS_SDK,      /* what the SDK saw: state or event, at, leg */
    CS_WS_WRAPUP,   /* disposition and notes */
    CS_WS_RECENT,   /* the agent's recent calls */
    CS_WS_CONTACT,  /* the contact of `number` (screen pop) */
    CS_WS_TRANSFER, /* blind transfer of `call` to `to` */
    CS_WS_CONSULT,  /* warm transfer, step 1: consult `to` */
    CS_WS_COMPLETE, /* warm transfer, step 2 */
    CS_WS_ANSWER,   /* answer the agent's ringing leg (from any of its tabs) */
    CS_WS_DECLINE,  /* hang up the agent's ringing leg only */
    CS_WS_HANGUP,   /* end the call, or with `leg` that leg only */
    CS_WS_PRESENCE, /* the agent's own presence: asked, or set (`status`) */
} cs_wsmsg_type_t;

#define CS_WSMSG_NOTES_MAX 500

typedef struct {
    cs_wsmsg_type_t type;
    char call[CS_CCID_LEN];   /* a cs id or a call_control_id; "" when the type takes none */
    char leg[CS_CCID_LEN];    /* a call_control_id, or "" */
    char to[CS_STR_LEN];      /* "+E.164" (dial, contact's number) or an agent id */
    char state[CS_STR_LEN];   /* sdk: an SDK call state, or "" for an event */
    cs_event_kind_t sdk_kind; /* sdk: CS_EV_SDK_STATE, _MEDIA_CONNECTED or _FIRST_AUDIO */
    int64_t at;               /* sdk: ms, the browser's clock */
    int64_t since;            /* calls: ms since the epoch */
    char status[16];          /* presence: "available" | "offline", or "" (asked) */
    char disposition[CS_STR_LEN];
    char notes[CS_WSMSG_NOTES_MAX + 1];
} cs_wsmsg_t;

/* Decodes text (len bytes, not NUL-terminated) into *msg; now_ms is the
 * relay's clock, against which `at` and `since` must be plausible.
 * Returns NULL, or why the message is refused (a static string). */
const char *cs_wsmsg_decode(const char *text, size_t len, int64_t now_ms, cs_wsmsg_t *msg);

/* The wire name of a message type ("complete"), for replies that name the
 * request they answer. */
const char *cs_wsmsg_type_name(cs_wsmsg_type_t type);

/* A relay.push body from the bus (proto/README.md): a message another relay
 * sends to every softphone of an agent. */
typedef struct {
    char from[48];  /* the sending relay's instance */
    char agent[65]; /* 1-64 of [A-Za-z0-9._-] */
} cs_wspush_t;

/* Decodes len bytes strictly: "v" 1, "from" and "agent" as above, "msg" an
 * object whose "type" is "dial" or "answer" (the only messages relays pass
 * on; a presence goes as agent.changed). Returns NULL with *msg a new reference, or why it is
 * refused (a static string) with *msg NULL. */
const char *cs_wsmsg_push_decode(const char *body, size_t len, cs_wspush_t *push, json_t **msg);

/* An agent.changed body from the bus (proto/README.md): {"v":1, "agent"},
 * decoded strictly into agent (1-64 of [A-Za-z0-9._-]). Returns NULL, or
 * why it is refused (a static string). */
const char *cs_wsmsg_agent_decode(const char *body, size_t len, char agent[65]);

/* Whether n is a +E.164 number: "+", no leading 0, 2 to 15 digits. */
int cs_wsmsg_e164(const char *n);

#endif
