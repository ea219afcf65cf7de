/* libFuzzer: any bytes as a message on the relay's WS /ws (wsmsg.c), and as
 * a relay.push and an agent.changed body from the bus. Each one is either refused with a reason
 * or decoded into fields that are terminated within their buffers and
 * consistent with its type; never a crash, a leak or a read past the
 * input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsmsg.h"

static void s_check_str(const char *s, size_t size)
{
    if (!memchr(s, 0, size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t now = 1764000000000LL;
    cs_wsmsg_t m;
    /* a copy of exactly size bytes, so ASan sees any read past the frame */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    /* the same bytes as a relay.push from the bus: refused with a reason
     * and no message, or a message and terminated parts */
    cs_wspush_t push;
    json_t *msg;
    const char *pwhy = cs_wsmsg_push_decode(text, size, &push, &msg);
    if ((pwhy != NULL) == (msg != NULL) || (pwhy && !pwhy[0]))
        abort();
    s_check_str(push.from, sizeof push.from);
    s_check_str(push.agent, sizeof push.agent);
    json_decref(msg);
    /* as an agent.changed: refused with a reason and no agent, or an id */
    char agent[65];
    const char *awhy = cs_wsmsg_agent_decode(text, size, agent);
    s_check_str(agent, sizeof agent);
    if (awhy ? !awhy[0] || agent[0] : !agent[0])
        abort();
    const char *why = cs_wsmsg_decode(text, size, now, &m);
    free(text);
    if (why) {
        if (!why[0])
            abort();
        return 0;
    }
    s_check_str(m.call, sizeof m.call);
    s_check_str(m.leg, sizeof m.leg);
    s_check_str(m.to, sizeof m.to);
    s_check_str(m.state, sizeof m.state);
    s_check_str(m.disposition, sizeof m.disposition);
    s_check_str(m.notes, sizeof m.notes);
    switch (m.type) {
    case CS_WS_DIAL:
    case CS_WS_CONTACT:
        if (!cs_wsmsg_e164(m.to))
            abort();
        break;
    case CS_WS_SDK:
        if (!m.call[0] || m.at < now - 86400000LL || m.at > now + 60000LL ||
            (m.sdk_kind == CS_EV_SDK_STATE) != (m.state[0] != '\0'))
            abort();
        break;
    case CS_WS_WRAPUP:
        if (!m.call[0] || !m.disposition[0])
            abort();
        break;
    case CS_WS_CALLS:
        if (m.since < now - 7 * 86400000LL || m.since > now)
            abort();
        break;
    case CS_WS_TRANSFER:
    case CS_WS_CONSULT:
        if (!m.call[0] || !m.to[0] || (m.to[0] == '+' && !cs_wsmsg_e164(m.to)))
            abort();
        break;
    case CS_WS_GET:
    case CS_WS_COMPLETE:
    case CS_WS_ANSWER:
    case CS_WS_DECLINE:
    case CS_WS_HANGUP:
        if (!m.call[0])
            abort();
        break;
    case CS_WS_PRESENCE: /* a question, or one of the two statuses a page may set */
        s_check_str(m.status, sizeof m.status);
        if (m.status[0] && strcmp(m.status, "available") != 0 && strcmp(m.status, "offline") != 0)
            abort();
        break;
    case CS_WS_AGENTS:
    case CS_WS_RECENT:
        break;
    }
    return 0;
}
