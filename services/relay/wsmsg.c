/* wsmsg - see wsmsg.h. */
#include "wsmsg.h"

#include <jansson.h>
#include <string.h>

#include "agents.h"

static const struct {
    const char *name;
    cs_wsmsg_type_t type;
} s_types[] = {
    {"agents", CS_WS_AGENTS},   {"calls", CS_WS_CALLS},       {"dial", CS_WS_DIAL},
    {"get", CS_WS_GET},         {"sdk", CS_WS_SDK},           {"wrapup", CS_WS_WRAPUP},
    {"recent", CS_WS_RECENT},   {"contact", CS_WS_CONTACT},   {"transfer", CS_WS_TRANSFER},
    {"consult", CS_WS_CONSULT}, {"complete", CS_WS_COMPLETE}, {"answer", CS_WS_ANSWER},
    {"decline", CS_WS_DECLINE}, {"hangup", CS_WS_HANGUP},     {"presence", CS_WS_PRESENCE},
};

const char *cs_wsmsg_type_name(cs_wsmsg_type_t type)
{
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
        if (s_types[i].type == type)
            return s_types[i].name;
    return "";
}

int cs_wsmsg_e164(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    return len >= 3 && len <= 16 && n[0] == '+' && n[1] != '0' &&
           strspn(n + 1, "0123456789") == len - 1;
}

/* Copies the string member `key` into buf. 1 absent (buf ""), 0 copied,
 * -1 present but not a string, empty, or longer than buf holds. */
static int s_str(const json_t *o, const char *key, char *buf, size_t size)
{
    buf[0] = '\0';
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 1;
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n >= size || memchr(json_string_value(v), 0, n))
        return -1;
    memcpy(buf, json_string_value(v), n + 1);
    return 0;
}

const char *cs_wsmsg_push_decode(const char *body, size_t len, cs_wspush_t *push, json_t **msg)
{
    *msg = NULL;
    memset(push, 0, sizeof *push);
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *why = NULL;
    const json_t *m = json_object_get(o, "msg");
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!json_is_object(o))
        why = "not a JSON object";
    else if (json_integer_value(json_object_get(o, "v")) != 1 ||
             !json_is_integer(json_object_get(o, "v")))
        why = "v must be 1";
    else if (s_str(o, "from", push->from, sizeof push->from) != 0)
        why = "from must be a relay instance";
    else if (s_str(o, "agent", push->agent, sizeof push->agent) != 0 ||
             !cs_agent_id_ok(push->agent))
        why = "agent must be an agent id";
    else if (!json_is_object(m) || !type || (strcmp(type, "dial") && strcmp(type, "answer")))
        why = "msg must be a dial or an answer";
    else
        *msg = json_incref((json_t *)m);
    json_decref(o);
    return why;
}

const char *cs_wsmsg_agent_decode(const char *body, size_t len, char agent[65])
{
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *why = NULL;
    agent[0] = '\0';
    if (!json_is_object(o))
        why = "not a JSON object";
    else if (json_integer_value(json_object_get(o, "v")) != 1 ||
             !json_is_integer(json_object_get(o, "v")))
        why = "v must be 1";
    else if (s_str(o, "agent", agent, 65) != 0 || !cs_agent_id_ok(agent))
        why = "agent must be an agent id";
    if (why)
        agent[0] = '\0';
    json_decref(o);
    return why;
}

/* A number member as whole ms, or -1 when absent or not a number. */
static int64_t s_ms(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    return d >= 0 && d < 9e15 ? (int64_t)d : -1;
}

static const char *s_sdk(const json_t *o, int64_t now, cs_wsmsg_t *msg)
{
    static const char *const states[] = {
        "new",    "requesting", "trying", "recovering", "ringing", "answering", "early",
        "active", "held",       "hangup", "destroy",    "purge",   NULL};
    char event[CS_STR_LEN];
    int has_state = s_str(o, "state", msg->state, sizeof msg->state);
    int has_event = s_str(o, "event", event, sizeof event);
    msg->at = s_ms(o, "at");
    if (!msg->call[0] || msg->at < 0 || has_state < 0 || has_event < 0 ||
        (has_state == 0) == (has_event == 0))
        return "sdk needs call, at (ms) and one of state or event";
    if (msg->at < now - 86400000LL || msg->at > now + 60000LL)
        return "sdk: at is not a time of this call";
    if (s_str(o, "leg", msg->leg, sizeof msg->leg) < 0)
        return "sdk: leg is a call_control_id";
    if (has_event == 0) {
        if (strcmp(event, "media_connected") == 0)
            msg->sdk_kind = CS_EV_MEDIA_CONNECTED;
        else if (strcmp(event, "first_audio") == 0)
            msg->sdk_kind = CS_EV_FIRST_AUDIO;
        else
            return "sdk: event is media_connected or first_audio";
        return NULL;
    }
    msg->sdk_kind = CS_EV_SDK_STATE;
    for (int i = 0; states[i]; i++)
        if (strcmp(msg->state, states[i]) == 0)
            return NULL;
    return "sdk: not a state of the SDK's calls";
}

/* Checks what each type needs beyond its call (already read). */
static const char *s_fields(const json_t *o, int64_t now, int call, cs_wsmsg_t *msg)
{
    int to = s_str(o, "to", msg->to, sizeof msg->to);
    switch (msg->type) {
    case CS_WS_AGENTS:
    case CS_WS_RECENT:
        return NULL;
    case CS_WS_CALLS:
        msg->since = s_ms(o, "since");
        if (msg->since < 0 || msg->since < now - 7 * 86400000LL || msg->since > now)
            return "calls needs since: ms since the epoch, within the last 7 days";
        return NULL;
    case CS_WS_DIAL:
        return to == 0 && cs_wsmsg_e164(msg->to) ? NULL : "dial needs to: a +E.164 number";
    case CS_WS_CONTACT:
        if (s_str(o, "number", msg->to, sizeof msg->to) || !cs_wsmsg_e164(msg->to))
            return "contact needs number: a +E.164 number";
        return NULL;
    case CS_WS_SDK:
        return s_sdk(o, now, msg);
    case CS_WS_WRAPUP: {
        int notes = s_str(o, "notes", msg->notes, sizeof msg->notes);
        const json_t *n = json_object_get(o, "notes");
        if (call || s_str(o, "disposition", msg->disposition, sizeof msg->disposition))
            return "wrapup needs call and a disposition of 1 to 63 characters";
        /* "" is no notes; anything else must be a string that fits */
        if (notes < 0 && !(json_is_string(n) && json_string_length(n) == 0))
            return "wrapup notes: a string of 500 characters at most";
        return NULL;
    }
    case CS_WS_TRANSFER:
    case CS_WS_CONSULT:
        if (call)
            return "a transfer needs call: a call id";
        if (to)
            return "a transfer needs to: a +E.164 number or an agent id";
        if (msg->to[0] == '+' && !cs_wsmsg_e164(msg->to))
            return "to: a +E.164 number like +15550100001, or an agent id";
        return NULL;
    case CS_WS_HANGUP:
        if (call)
            return "hangup needs call: a call id";
        if (s_str(o, "leg", msg->leg, sizeof msg->leg) < 0)
            return "hangup of a leg needs call and leg (a call_control_id)";
        return NULL;
    case CS_WS_PRESENCE: { /* without status, a question */
        int status = s_str(o, "status", msg->status, sizeof msg->status);
        if (status == 1 || (status == 0 && (strcmp(msg->status, "available") == 0 ||
                                            strcmp(msg->status, "offline") == 0)))
            return NULL;
        return "presence status: available or offline";
    }
    case CS_WS_GET:
    case CS_WS_COMPLETE:
    case CS_WS_ANSWER:
    case CS_WS_DECLINE:
        return call ? "this message needs call: a call id" : NULL;
    }
    return "unknown message type";
}

const char *cs_wsmsg_decode(const char *text, size_t len, int64_t now_ms, cs_wsmsg_t *msg)
{
    memset(msg, 0, sizeof *msg);
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *why = "a message is a JSON object with a type";
    if (json_is_object(o) && type) {
        size_t i = 0, n = sizeof s_types / sizeof s_types[0];
        while (i < n && strcmp(s_types[i].name, type) != 0)
            i++;
        why = "unknown message type";
        if (i < n) {
            msg->type = s_types[i].type;
            int call = s_str(o, "call", msg->call, sizeof msg->call);
            why = s_fields(o, now_ms, call != 0, msg);
        }
    }
    json_decref(o);
    return why;
}
