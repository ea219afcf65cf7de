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

static int s_role(const cs_leg_t *leg, const char *role)
{
    return strcmp(leg->role.v, role) == 0;
}

static const cs_leg_t *s_live_customer(const cs_call_t *call)
{
    for (int i = 0; i < call->nlegs; i++)
        if (s_role(&call->legs[i], "customer") && !call->legs[i].ended.at)
            return &call->legs[i];
    return NULL;
}

/* A consult leg whose consult is over: it reached a leg (one of its
 * session) and every such leg has ended. */
static int s_consult_over(const cs_call_t *call, const cs_leg_t *consult)
{
    int reached = 0;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        if (!s_role(l, "consulted") || strcmp(l->session_id, consult->session_id) != 0)
            continue;
        if (!l->ended.at)
            return 0;
        reached = 1;
    }
    return reached;
}

/* The transfer rules (flows.h); returns how many intents were written. */
static int s_transfers(const cs_call_t *call, cs_intent_t *out, int max)
{
    int n = 0;
    const cs_leg_t *customer = s_live_customer(call);
    for (int i = 0; i < call->nlegs && n < max; i++) {
        const cs_leg_t *leg = &call->legs[i];
        if (!cs_call_leg_transferring(leg) || !customer)
            continue;
        /* keyed by the request's time: a transfer asked again after one
         * failed is a new command */
        if (strcmp(leg->xfer_mode.v, "blind") == 0 && leg->xfer_to.v[0]) {
            out[n].kind = CS_INTENT_TRANSFER;
            snprintf(out[n].key, sizeof out[n].key, "%s:xfer:%s:%lld", call->id, leg->ccid,
                     (long long)leg->xfer.at);
            CS_COPY(out[n].ccid, customer->ccid);
            CS_COPY(out[n].target, leg->xfer_to.v);
            CS_COPY(out[n].other, leg->ccid);
            out[n].at = leg->xfer.at;
            n++;
        } else if (strcmp(leg->xfer_mode.v, "warm") == 0 && leg->xfer_done_at != leg->xfer.at) {
            /* also when the consulted leg has gone: the request must
             * still be answered, and its failure gives the call back */
            out[n].kind = CS_INTENT_COMPLETE;
            snprintf(out[n].key, sizeof out[n].key, "%s:complete:%s:%lld", call->id, leg->ccid,
                     (long long)leg->xfer.at);
            CS_COPY(out[n].ccid, customer->ccid);
            CS_COPY(out[n].other, leg->ccid);
            out[n].at = leg->xfer.at;
            n++;
        }
    }
    for (int i = 0; i < call->nlegs && n < max; i++) {
        const cs_leg_t *leg = &call->legs[i];
        if (!s_role(leg, "consult") || leg->ended.at)
            continue;
        if (s_consult_over(call, leg)) {
            out[n].kind = CS_INTENT_HANGUP_LEG;
            snprintf(out[n].key, sizeof out[n].key, "%s:hangup:%s", call->id, leg->ccid);
            CS_COPY(out[n].ccid, leg->ccid);
            n++;
        } else if (!leg->answered.at && call->consult[0]) {
            out[n].kind = CS_INTENT_CONSULT;
            snprintf(out[n].key, sizeof out[n].key, "%s:consult:%s", call->id, leg->ccid);
            CS_COPY(out[n].ccid, leg->ccid);
            CS_COPY(out[n].target, call->consult);
            n++;
        }
    }
    return n;
}

/* The transfers of parties who left failed: each blind one has its target
 * leg by now or was refused, each warm one was refused (none is pending),
 * and no agent-side leg is live. */
static int s_transfer_failed(const cs_call_t *call)
{
    int left = 0, settled = 0;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *leg = &call->legs[i];
        int gone = cs_call_leg_left(leg);
        left += gone;
        settled += s_role(leg, "transfer") + (gone && !cs_call_leg_transferring(leg));
        if (!leg->ended.at && !s_role(leg, "customer"))
            return 0;
    }
    return left > 0 && settled >= left;
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
    /* transfer intents are kept in the list once sent (their claims make
     * them no-ops), so the rules below must still be reached */
    n = s_transfers(call, out, max);
    const char *dir = cs_call_direction(call);
    if (((dir && strcmp(dir, "inbound") == 0) || s_transfer_failed(call)) && n < max) {
        const cs_leg_t *customer = s_live_customer(call);
        int agents = 0, agent_live = 0;
        for (int i = 0; i < call->nlegs; i++) {
            const cs_leg_t *leg = &call->legs[i];
            if (s_role(leg, "customer"))
                continue;
            agents += s_role(leg, "agent") || s_role(leg, "transfer");
            agent_live |= !leg->ended.at;
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
