/* webhook - see webhook.h. */
#include "webhook.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "text.h"
#include "timestamp.h"

typedef struct {
    const char *type;
    cs_event_kind_t kind;
} s_map_t;

static const s_map_t s_map[] = {
    {"call.initiated", CS_EV_INITIATED},
    {"call.answered", CS_EV_ANSWERED},
    {"call.bridged", CS_EV_BRIDGED},
    {"call.hangup", CS_EV_HANGUP},
    {"call.hold", CS_EV_HOLD},
    {"call.unhold", CS_EV_UNHOLD},
    {"call.recording.saved", CS_EV_RECORDING_SAVED},
    {"call.dtmf.received", CS_EV_DTMF},
    {"call.machine.detection.ended", CS_EV_MACHINE},
    {"call.machine.premium.detection.ended", CS_EV_MACHINE},
    {"call.machine.greeting.ended", CS_EV_MACHINE},
    {"call.machine.premium.greeting.ended", CS_EV_MACHINE},
};

/* A string field: absent or null is fine (""), anything else must be a
 * string that fits. Returns -1 for a wrong type or an oversized value. */
static int s_field(const json_t *obj, const char *key, char *dst, size_t size, char *err,
                   size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        memset(dst, 0, size);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= size) {
        snprintf(err, errlen, "payload.%s must be a string shorter than %zu", key, size);
        return -1;
    }
    cs_copy(dst, size, json_string_value(v));
    return 0;
}
#define S_FIELD(obj, key, dst) s_field((obj), (key), (dst), sizeof(dst), err, errlen)

static bool s_event_type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n >= CS_STR_LEN || !islower((unsigned char)t[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' &&
            !isdigit((unsigned char)t[i]))
            return false;
    return true;
}

static bool s_cs_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 4 || n >= CS_ID_LEN || strncmp(id, "cs_", 3) != 0)
        return false;
    for (size_t i = 3; i < n; i++)
        if (!isalnum((unsigned char)id[i]))
            return false;
    return true;
}

void cs_webhook_client_state(const char *b64, cs_event_t *ev)
{
    unsigned char raw[512];
    size_t len = 0;
    if (!b64 || !*b64 || strlen(b64) > 680)
        return;
    if (sodium_base642bin(raw, sizeof raw - 1, b64, strlen(b64), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return;
    json_t *cs = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(cs)) {
        json_decref(cs);
        return;
    }
    const char *id = json_string_value(json_object_get(cs, "cs"));
    const char *role = json_string_value(json_object_get(cs, "role"));
    const char *agent = json_string_value(json_object_get(cs, "agent"));
    if (id && s_cs_id_ok(id))
        CS_COPY(ev->cs_hint, id);
    /* the roles of call.h: who the leg's party is in the conversation */
    static const char *const roles[] = {"agent", "customer", "transfer", "consult", "consulted"};
    bool known = false;
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        known |= strcmp(role, roles[i]) == 0;
    if (known) {
        CS_COPY(ev->role, role);
        ev->role_rank = 2;
    }
    if (agent && strlen(agent) < sizeof ev->agent_id)
        CS_COPY(ev->agent_id, agent);
    json_decref(cs);
}

/* Without our client_state, a leg is the agent's when it is a SIP/WebRTC
 * leg (the SDK's own leg, or one dialled to an agent's SIP URI) and the
 * customer's otherwise. client_state, when it says, outranks this. */
static void s_infer_role(const json_t *p, cs_event_t *ev)
{
    if (ev->role_rank)
        return;
    const char *party = json_string_value(json_object_get(p, "calling_party_type"));
    bool sip = (party && strcmp(party, "sip") == 0) || strncmp(ev->to, "sip:", 4) == 0 ||
               strncmp(ev->from, "sip:", 4) == 0;
    CS_COPY(ev->role, sip ? "agent" : "customer");
    ev->role_rank = 1;
}

int cs_webhook_parse(const char *body, size_t len, cs_event_t *ev, char *err, size_t errlen)
{
    int rc = -1;
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "body is not JSON: %s", jerr.text);
        return -1;
    }
    const json_t *data = json_object_get(root, "data");
    const json_t *payload = json_object_get(data, "payload");
    const char *type = json_string_value(json_object_get(data, "event_type"));
    const char *id = json_string_value(json_object_get(data, "id"));
    const char *occurred = json_string_value(json_object_get(data, "occurred_at"));
    const char *record_type = json_string_value(json_object_get(data, "record_type"));
    if (!json_is_object(root) || !json_is_object(data)) {
        snprintf(err, errlen, "no data object (not a v2 webhook)");
        goto out;
    }
    if (!type || !s_event_type_ok(type)) {
        snprintf(err, errlen, "data.event_type missing or malformed");
        goto out;
    }
    if (!id || !*id || strlen(id) >= sizeof ev->id) {
        snprintf(err, errlen, "data.id missing or longer than %zu", sizeof ev->id - 1);
        goto out;
    }
    CS_COPY(ev->id, id);
    if (!record_type || strcmp(record_type, "event") != 0) {
        snprintf(err, errlen, "data.record_type is not \"event\"");
        goto out;
    }
    if (!occurred || cs_ts_parse(occurred, &ev->at)) {
        snprintf(err, errlen, "data.occurred_at missing or not RFC 3339");
        goto out;
    }
    if (!json_is_object(payload)) {
        snprintf(err, errlen, "data.payload is not an object");
        goto out;
    }
    const json_t *meta = json_object_get(root, "meta");
    if (meta && !json_is_object(meta)) {
        snprintf(err, errlen, "meta is not an object");
        goto out;
    }
    CS_COPY(ev->type, type);
    ev->source = CS_SRC_WEBHOOK;
    ev->clock = CS_CLOCK_PROVIDER;
    for (size_t i = 0; i < sizeof s_map / sizeof s_map[0]; i++)
        if (strcmp(type, s_map[i].type) == 0)
            ev->kind = s_map[i].kind;

    char client_state[700];
    if (S_FIELD(payload, "call_control_id", ev->ccid) ||
        S_FIELD(payload, "call_leg_id", ev->leg_id) ||
        S_FIELD(payload, "call_session_id", ev->session_id) || S_FIELD(payload, "from", ev->from) ||
        S_FIELD(payload, "to", ev->to) || S_FIELD(payload, "direction", ev->direction) ||
        S_FIELD(payload, "hangup_cause", ev->hangup_cause) ||
        S_FIELD(payload, "hangup_source", ev->hangup_source) ||
        S_FIELD(payload, "sip_hangup_cause", ev->sip_code) ||
        S_FIELD(payload, "client_state", client_state))
        goto out;
    if (ev->direction[0] && strcmp(ev->direction, "incoming") != 0 &&
        strcmp(ev->direction, "outgoing") != 0) {
        snprintf(err, errlen, "payload.direction is neither incoming nor outgoing");
        goto out;
    }
    switch (ev->kind) {
    case CS_EV_DTMF:
        if (S_FIELD(payload, "digit", ev->value))
            goto out;
        break;
    case CS_EV_MACHINE:
        if (S_FIELD(payload, "result", ev->value))
            goto out;
        break;
    case CS_EV_RECORDING_SAVED: {
        const json_t *urls = json_object_get(payload, "recording_urls");
        const json_t *pub = json_object_get(payload, "public_recording_urls");
        const char *url = NULL;
        const char *keys[] = {"mp3", "wav"};
        for (int i = 0; !url && i < 2; i++)
            url = json_string_value(json_object_get(pub, keys[i]));
        for (int i = 0; !url && i < 2; i++)
            url = json_string_value(json_object_get(urls, keys[i]));
        if (url && strlen(url) >= sizeof ev->value) {
            snprintf(err, errlen, "recording URL longer than %zu", sizeof ev->value - 1);
            goto out;
        }
        CS_COPY(ev->value, url);
        break;
    }
    default:
        break;
    }
    if (ev->kind != CS_EV_UNKNOWN && !ev->ccid[0] &&
        !(ev->kind == CS_EV_RECORDING_SAVED && (ev->leg_id[0] || ev->session_id[0]))) {
        snprintf(err, errlen, "%s without payload.call_control_id", type);
        goto out;
    }
    cs_webhook_client_state(client_state, ev);
    if (ev->ccid[0])
        s_infer_role(payload, ev);
    rc = 0;
out:
    json_decref(root);
    return rc;
}
