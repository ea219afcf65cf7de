/* flows - see flows.h. */
#include "flows.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

static int s_has_role(const cs_call_t *call, const char *role)
{
    for (int i = 0; i < call->nlegs; i++)
        if (strcmp(call->legs[i].role.v, role) == 0)
            return 1;
    return 0;
}

int cs_flows_next(const cs_call_t *call, cs_intent_t *out, int max)
{
    int n = 0;
    if (cs_call_state(call) == CS_STATE_ENDED) {
        for (int i = 0; i < call->nlegs && n < max; i++) {
            const cs_leg_t *leg = &call->legs[i];
            if (leg->ended.at)
                continue;
            out[n].kind = CS_INTENT_HANGUP_LEG;
            snprintf(out[n].key, sizeof out[n].key, "%s:hangup:%s", call->id, leg->ccid);
            CS_COPY(out[n].ccid, leg->ccid);
            n++;
        }
        return n;
    }
    const char *dir = cs_call_direction(call);
    if (dir && strcmp(dir, "inbound") == 0 && n < max) {
        const cs_leg_t *customer = NULL;
        int agents = 0, agent_live = 0;
        for (int i = 0; i < call->nlegs; i++) {
            const cs_leg_t *leg = &call->legs[i];
            if (strcmp(leg->role.v, "agent") == 0) {
                agents++;
                agent_live |= !leg->ended.at;
            } else if (!leg->ended.at && !customer) {
                customer = leg;
            }
        }
        if (customer && !agent_live) {
            out[n].kind = CS_INTENT_ROUTE;
            snprintf(out[n].key, sizeof out[n].key, "%s:route:%d", call->id, agents);
            CS_COPY(out[n].ccid, customer->ccid);
            n++;
        }
        return n;
    }
    /* The browser placed its call at once (ARCHITECTURE §4): Telnyx parked
     * it; it goes to the customer, whose ringing and early media the
     * browser hears on that leg. */
    if (strcmp(call->flow.v, "browser") == 0 && !s_has_role(call, "customer")) {
        for (int i = 0; i < call->nlegs && n < max; i++) {
            const cs_leg_t *leg = &call->legs[i];
            if (strcmp(leg->role.v, "agent") != 0 || leg->answered.at || leg->ended.at)
                continue;
            out[n].kind = CS_INTENT_TRANSFER_CUSTOMER;
            snprintf(out[n].key, sizeof out[n].key, "%s:transfer_customer", call->id);
            CS_COPY(out[n].ccid, leg->ccid);
            n++;
            break;
        }
        return n;
    }
    if (strcmp(call->flow.v, "server_dial") == 0 && call->nlegs == 0 && n < max) {
        out[n].kind = CS_INTENT_DIAL_AGENT;
        snprintf(out[n].key, sizeof out[n].key, "%s:dial_agent", call->id);
        out[n].ccid[0] = '\0';
        return n + 1;
    }
    if (strcmp(call->flow.v, "server_dial") == 0 && !s_has_role(call, "customer")) {
        for (int i = 0; i < call->nlegs && n < max; i++) {
            const cs_leg_t *leg = &call->legs[i];
            if (strcmp(leg->role.v, "agent") != 0 || !leg->answered.at)
                continue;
            out[n].kind = CS_INTENT_DIAL_CUSTOMER;
            snprintf(out[n].key, sizeof out[n].key, "%s:dial_customer", call->id);
            CS_COPY(out[n].ccid, leg->ccid);
            n++;
            break;
        }
    }
    return n;
}
