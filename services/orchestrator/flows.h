/* flows - what a call needs the orchestrator to do next, as a pure
 * function of its record (ARCHITECTURE §4). The orchestrator runs these
 * on every change notice and on a periodic sweep of the active calls, so a
 * lost notice or a restart only delays an intent, never loses it; each
 * intent has a stable key, which is both its Redis claim (one instance
 * issues it) and the command_id Telnyx dedupes on.
 *
 *   browser:     the agent's own (parked) leg is there, unanswered, and no
 *                customer leg yet -> transfer it to the customer
 *   server dial: no leg yet -> dial the agent's SIP URI;
 *                the agent's leg answered, no customer leg yet
 *                -> dial the customer, linked to the agent leg, bridged on answer
 *   inbound:     the customer waits (leg live, not ended) and no agent leg
 *                rings or talks -> route attempt n (n = agent legs so far):
 *                the next available agent, or nobody -> end the call
 *   teardown:    the call ended (any leg ended, or the SDK hung up) and a
 *                leg is still live -> hang that leg up
 *
 * Transfers (any flow; the requests are facts on the record, call.h):
 *   blind:       a leg's party asked for a blind transfer and the customer
 *                is live -> transfer the customer's leg to the target (the
 *                platform unbridges the leaving leg, which hangs up)
 *   failed:      every blind transfer's target leg is there, or Telnyx
 *                refused it, and every warm one was refused, after its
 *                agent had gone; and no target or agent leg is live
 *                -> route as inbound (the next available agent, or nobody
 *                -> end the call). Refused while the agent was still
 *                there: the agent keeps the call (call.h)
 *   consult:     an agent's consult call (a second SDK call, role
 *                "consult") is parked and the call names a consult target
 *                -> transfer that leg to the target
 *   consult end: a consult leg is live but every leg it reached has ended
 *                -> hang it up
 *   complete:    a warm transfer request stands, not yet carried out,
 *                and the customer is live -> bridge the customer with the
 *                consulted leg it names (the agent's two legs are
 *                unbridged and hang up), or, when that leg has ended,
 *                answer the request with its failure */
#ifndef CS_FLOWS_H
#define CS_FLOWS_H

#include "call.h"

typedef enum {
    CS_INTENT_DIAL_AGENT,
    CS_INTENT_DIAL_CUSTOMER,
    CS_INTENT_TRANSFER_CUSTOMER,
    CS_INTENT_ROUTE,
    CS_INTENT_HANGUP_LEG,
    CS_INTENT_TRANSFER,   /* the customer's leg to a blind transfer's target */
    CS_INTENT_CONSULT,    /* an agent's consult leg to the consult target */
    CS_INTENT_COMPLETE,   /* bridge the customer with the consulted leg */
    CS_INTENT_LEG_COMMAND /* not from the rules: an operator's command for a leg */
} cs_intent_kind_t;

typedef struct {
    cs_intent_kind_t kind;
    char key[CS_CCID_LEN + 72]; /* "<cs>:dial_agent", "<cs>:dial_customer", "<cs>:route:<n>",
                                   "<cs>:transfer_customer", "<cs>:hangup:<ccid>",
                                   "<cs>:xfer:<leaving ccid>:<request ms>",
                                   "<cs>:consult:<ccid>",
                                   "<cs>:complete:<leaving ccid>:<request ms>" */
    char ccid[CS_CCID_LEN];     /* the leg it acts on: the agent's for a dial, the
                                   customer's for a route, a transfer and a completion */
    char target[CS_STR_LEN];    /* TRANSFER, CONSULT: "+E.164" or an agent id */
    char other[CS_CCID_LEN];    /* TRANSFER, COMPLETE: the leaving leg (the agent's, whose
                                   request it carries out; a warm one names the consulted
                                   leg in its xfer_to) */
    int64_t at;                 /* TRANSFER, COMPLETE: the time of the request */
} cs_intent_t;

/* Fills out[] with up to max intents; returns how many. */
int cs_flows_next(const cs_call_t *call, cs_intent_t *out, int max);

#endif
