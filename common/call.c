/* call - see call.h. Each fact type has one merge rule, written once:
 *   s_sfact_merge  set-once string, best (rank desc, at asc, value asc)
 *   s_tfact_merge  set-once time, best (clock desc, at asc)
 *   s_lww_*        toggles and latest values, latest at wins
 * Every rule is a join on a total order, which is what makes the whole
 * merge order-independent (tests/unit/test_call.c checks permutations). */
#include "call.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static const char *s_kind_names[] = {
    "unknown",
    "created",
    "initiated",
    "answered",
    "bridged",
    "hangup",
    "hold",
    "unhold",
    "recording_saved",
    "dtmf",
    "machine",
    "sdk_state",
    "media_connected",
    "first_audio",
    "hangup_requested",
    "transfer_requested",
    "consult_requested",
    "wrapup",
    "transfer_failed",
    "transfer_completed",
};

const char *cs_event_kind_name(cs_event_kind_t kind)
{
    if ((unsigned)kind >= sizeof s_kind_names / sizeof s_kind_names[0])
        return "unknown";
    return s_kind_names[kind];
}

static int s_kind_parse(const char *name)
{
    for (size_t i = 0; i < sizeof s_kind_names / sizeof s_kind_names[0]; i++)
        if (strcmp(name, s_kind_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool s_sfact_merge(cs_sfact_t *f, const char *v, int64_t at, int rank)
{
    if (!v || !*v)
        return false;
    if (f->v[0]) {
        if (rank != f->rank) {
            if (rank < f->rank)
                return false;
        } else if (at != f->at) {
            if (at > f->at)
                return false;
        } else if (strncmp(v, f->v, sizeof f->v - 1) >= 0) {
            return false;
        }
    }
    CS_COPY(f->v, v);
    f->at = at;
    f->rank = rank;
    return true;
}

static bool s_tfact_better(const cs_tfact_t *a, const cs_tfact_t *b)
{
    if (!a->at)
        return false;
    if (!b->at)
        return true;
    if (a->clock != b->clock)
        return a->clock > b->clock;
    return a->at < b->at;
}

static bool s_tfact_merge(cs_tfact_t *f, int64_t at, cs_clock_t clock)
{
    cs_tfact_t claim = {at, clock};
    if (!s_tfact_better(&claim, f))
        return false;
    f->at = at; /* field by field: padding stays zero, records compare bytewise */
    f->clock = clock;
    return true;
}

/* Latest-wins string; ties go to the larger value so the order of two
 * same-time claims cannot matter. */
static bool s_lww_str(char *cur, size_t size, int64_t *cur_at, const char *v, int64_t at)
{
    if (!v || !*v)
        return false;
    if (*cur_at && (at < *cur_at || (at == *cur_at && strncmp(v, cur, size - 1) <= 0)))
        return false;
    cs_copy(cur, size, v);
    *cur_at = at;
    return true;
}

/* The latest wrap-up wins as a whole; a same-instant tie goes to the
 * larger (disposition, notes, agent), so order cannot matter. */
static bool s_lww_wrapup(cs_call_t *call, const cs_event_t *ev)
{
    if (!ev->disposition[0])
        return false;
    if (call->wrapup_at) {
        if (ev->at < call->wrapup_at)
            return false;
        if (ev->at == call->wrapup_at) {
            int c = strcmp(ev->disposition, call->disposition);
            if (!c)
                c = strncmp(ev->value, call->notes, sizeof call->notes - 1);
            if (!c)
                c = strcmp(ev->agent_id, call->wrapup_by);
            if (c <= 0)
                return false;
        }
    }
    CS_COPY(call->disposition, ev->disposition);
    CS_COPY(call->notes, ev->value);
    CS_COPY(call->wrapup_by, ev->agent_id);
    call->wrapup_at = ev->at;
    return true;
}

/* Ties between hold and unhold at the same instant go to hold: the safer
 * reading for an agent who pressed Hold; two same-instant claims of the
 * same value go to the smaller leg, so that order cannot matter. */
static bool s_lww_hold(cs_call_t *call, bool on, int64_t at, const char *ccid)
{
    if (call->hold_at && at < call->hold_at)
        return false;
    if (call->hold_at && at == call->hold_at) {
        if (call->hold != on ? call->hold : strcmp(ccid, call->hold_leg) >= 0)
            return false;
    }
    call->hold = on;
    call->hold_at = at;
    CS_COPY(call->hold_leg, ccid);
    return true;
}

/* The latest transfer request wins as a whole; a same-instant tie goes to
 * the larger (mode, target), so order cannot matter. */
static bool s_lww_xfer(cs_leg_t *leg, const cs_event_t *ev)
{
    if (!ev->value[0] || !ev->to[0])
        return false;
    if (leg->xfer.at) {
        if (ev->at < leg->xfer.at)
            return false;
        if (ev->at == leg->xfer.at) {
            int c = strcmp(ev->value, leg->xfer_mode.v);
            if (!c)
                c = strcmp(ev->to, leg->xfer_to.v);
            if (c <= 0)
                return false;
        }
    }
    leg->xfer.at = ev->at;
    leg->xfer.clock = ev->clock;
    CS_COPY(leg->xfer_mode.v, ev->value);
    CS_COPY(leg->xfer_to.v, ev->to);
    leg->xfer_mode.at = leg->xfer_to.at = ev->at;
    leg->xfer_mode.rank = leg->xfer_to.rank = (int)ev->clock;
    return true;
}

/* The failure of the latest request answered wins (ties: kept, then the
 * larger reason). */
static bool s_lww_xfer_fail(cs_leg_t *leg, const cs_event_t *ev)
{
    bool kept = strcmp(ev->disposition, "kept") == 0;
    if (!ev->at)
        return false;
    if (leg->xfer_fail_at) {
        if (ev->at < leg->xfer_fail_at)
            return false;
        if (ev->at == leg->xfer_fail_at) {
            int c = (int)kept - (int)leg->xfer_kept;
            if (!c)
                c = strncmp(ev->value, leg->xfer_fail, sizeof leg->xfer_fail - 1);
            if (c <= 0)
                return false;
        }
    }
    leg->xfer_fail_at = ev->at;
    leg->xfer_kept = kept;
    CS_COPY(leg->xfer_fail, ev->value);
    return true;
}

bool cs_call_leg_transferring(const cs_leg_t *leg)
{
    return leg->xfer.at && leg->xfer_fail_at != leg->xfer.at;
}

bool cs_call_leg_left(const cs_leg_t *leg)
{
    return cs_call_leg_transferring(leg) || (leg->xfer.at && !leg->xfer_kept);
}

/* On hold: the last word was hold, and the leg that said it is still in
 * the call (an agent who held the customer, then transferred the call on
 * and left, holds nothing). */
static bool s_held(const cs_call_t *call)
{
    if (!call->hold)
        return false;
    for (int i = 0; i < call->nlegs; i++)
        if (strcmp(call->legs[i].ccid, call->hold_leg) == 0)
            return !call->legs[i].ended.at && !cs_call_leg_left(&call->legs[i]);
    return true;
}

static bool s_dtmf_merge(cs_call_t *call, const char *digit, int64_t at)
{
    if (!digit[0])
        return false;
    int i = 0;
    for (; i < call->ndtmf; i++) {
        int c = call->dtmf[i].at != at ? (call->dtmf[i].at < at ? -1 : 1)
                                       : strcmp(call->dtmf[i].digit, digit);
        if (c == 0)
            return false;
        if (c > 0)
            break;
    }
    if (i == CS_MAX_DTMF)
        return false; /* keep the earliest CS_MAX_DTMF digits */
    int n = call->ndtmf < CS_MAX_DTMF ? call->ndtmf : CS_MAX_DTMF - 1;
    memmove(&call->dtmf[i + 1], &call->dtmf[i], (size_t)(n - i) * sizeof call->dtmf[0]);
    memset(&call->dtmf[i], 0, sizeof call->dtmf[i]);
    call->dtmf[i].at = at;
    CS_COPY(call->dtmf[i].digit, digit);
    call->ndtmf = n + 1;
    return true;
}

void cs_call_init(cs_call_t *call, const char *id)
{
    memset(call, 0, sizeof *call);
    CS_COPY(call->id, id);
}

/* The packed form is four runs of the struct: everything before the
 * legs, the legs in use, everything from the legs' end to the DTMF list,
 * the digits in use. nlegs and ndtmf travel in the first and third. */
#define S_HEAD offsetof(cs_call_t, legs)
#define S_MID_AT (offsetof(cs_call_t, legs) + sizeof(((cs_call_t *)0)->legs))
#define S_MID (offsetof(cs_call_t, dtmf) - S_MID_AT)
_Static_assert(offsetof(cs_call_t, dtmf) + sizeof(((cs_call_t *)0)->dtmf) == sizeof(cs_call_t),
               "the DTMF list ends the record");
_Static_assert(offsetof(cs_call_t, nlegs) < S_HEAD, "nlegs is in the head");
_Static_assert(offsetof(cs_call_t, ndtmf) >= S_MID_AT, "ndtmf is in the middle run");

static size_t s_packed(int nlegs, int ndtmf)
{
    return S_HEAD + (size_t)nlegs * sizeof(cs_leg_t) + S_MID + (size_t)ndtmf * sizeof(cs_dtmf_t);
}

size_t cs_call_packed_size(const cs_call_t *call)
{
    return s_packed(call->nlegs, call->ndtmf);
}

void cs_call_pack(const cs_call_t *call, void *out)
{
    char *o = out;
    const char *c = (const char *)call;
    size_t legs = (size_t)call->nlegs * sizeof(cs_leg_t);
    memcpy(o, c, S_HEAD);
    memcpy(o + S_HEAD, call->legs, legs);
    memcpy(o + S_HEAD + legs, c + S_MID_AT, S_MID);
    memcpy(o + S_HEAD + legs + S_MID, call->dtmf, (size_t)call->ndtmf * sizeof(cs_dtmf_t));
}

int cs_call_unpack(cs_call_t *call, const void *in, size_t len)
{
    const char *i = in;
    int nlegs, ndtmf;
    if (len < S_HEAD + S_MID)
        return -1;
    memcpy(&nlegs, i + offsetof(cs_call_t, nlegs), sizeof nlegs);
    if (nlegs < 0 || nlegs > CS_MAX_LEGS || len < s_packed(nlegs, 0))
        return -1;
    size_t legs = (size_t)nlegs * sizeof(cs_leg_t);
    memcpy(&ndtmf, i + S_HEAD + legs + (offsetof(cs_call_t, ndtmf) - S_MID_AT), sizeof ndtmf);
    if (ndtmf < 0 || ndtmf > CS_MAX_DTMF || len != s_packed(nlegs, ndtmf))
        return -1;
    char *c = (char *)call;
    memset(call, 0, sizeof *call); /* the unused slots, as cs_call_init leaves them */
    memcpy(c, i, S_HEAD);
    memcpy(call->legs, i + S_HEAD, legs);
    memcpy(c + S_MID_AT, i + S_HEAD + legs, S_MID);
    memcpy(call->dtmf, i + S_HEAD + legs + S_MID, (size_t)ndtmf * sizeof(cs_dtmf_t));
    return 0;
}

/* Finds the event's leg, adding it (kept sorted by ccid) when new. */
static cs_leg_t *s_leg(cs_call_t *call, const cs_event_t *ev, bool *added, bool *dropped)
{
    *added = false;
    if (!ev->ccid[0]) {
        for (int i = 0; ev->leg_id[0] && i < call->nlegs; i++)
            if (strcmp(call->legs[i].leg_id, ev->leg_id) == 0)
                return &call->legs[i];
        return NULL;
    }
    int i = 0;
    for (; i < call->nlegs; i++) {
        int c = strcmp(call->legs[i].ccid, ev->ccid);
        if (c == 0)
            return &call->legs[i];
        if (c > 0)
            break;
    }
    if (call->nlegs == CS_MAX_LEGS) {
        if (dropped)
            *dropped = true;
        return NULL;
    }
    memmove(&call->legs[i + 1], &call->legs[i], (size_t)(call->nlegs - i) * sizeof(cs_leg_t));
    memset(&call->legs[i], 0, sizeof(cs_leg_t));
    CS_COPY(call->legs[i].ccid, ev->ccid);
    call->nlegs++;
    *added = true;
    return &call->legs[i];
}

/* A leg's ids never change; when two reports disagree the smaller wins. */
static bool s_id_merge(char *cur, size_t size, const char *v)
{
    if (!v[0] || (cur[0] && strncmp(v, cur, size - 1) >= 0))
        return false;
    cs_copy(cur, size, v);
    return true;
}

static bool s_merge_leg(cs_leg_t *leg, const cs_event_t *ev)
{
    bool ch = false;
    int64_t at = ev->at;
    ch |= s_id_merge(leg->leg_id, sizeof leg->leg_id, ev->leg_id);
    ch |= s_id_merge(leg->session_id, sizeof leg->session_id, ev->session_id);
    ch |= s_sfact_merge(&leg->role, ev->role, at, ev->role_rank);
    ch |= s_sfact_merge(&leg->direction, ev->direction, at, (int)ev->clock);
    ch |= s_sfact_merge(&leg->from, ev->from, at, (int)ev->clock);
    ch |= s_sfact_merge(&leg->to, ev->to, at, (int)ev->clock);
    ch |= s_sfact_merge(&leg->agent, ev->agent_id, at, (int)ev->clock);
    switch (ev->kind) {
    case CS_EV_INITIATED:
        ch |= s_tfact_merge(&leg->initiated, at, ev->clock);
        break;
    case CS_EV_ANSWERED:
        ch |= s_tfact_merge(&leg->answered, at, ev->clock);
        break;
    case CS_EV_BRIDGED:
        ch |= s_tfact_merge(&leg->bridged, at, ev->clock);
        break;
    case CS_EV_SDK_STATE:
        if (strcmp(ev->value, "hangup") == 0 || strcmp(ev->value, "destroy") == 0)
            ch |= s_tfact_merge(&leg->sdk_ended, at, ev->clock);
        break;
    case CS_EV_HANGUP:
        ch |= s_tfact_merge(&leg->ended, at, ev->clock);
        ch |= s_sfact_merge(&leg->hangup_cause, ev->hangup_cause, at, (int)ev->clock);
        ch |= s_sfact_merge(&leg->hangup_source, ev->hangup_source, at, (int)ev->clock);
        ch |= s_sfact_merge(&leg->sip_code, ev->sip_code, at, (int)ev->clock);
        break;
    default:
        break;
    }
    return ch;
}

bool cs_call_merge(cs_call_t *call, const cs_event_t *ev, bool *dropped_leg)
{
    if (dropped_leg)
        *dropped_leg = false;
    if (ev->kind == CS_EV_UNKNOWN)
        return false;
    bool ch = false;
    int64_t at = ev->at;
    /* an agent named with a leg belongs to that leg (inbound routing may
     * ring several agents); the call's agent is derived (s_agent) */
    if (ev->kind == CS_EV_CREATED || !ev->ccid[0])
        ch |= s_sfact_merge(&call->agent_id, ev->agent_id, at, ev->kind == CS_EV_CREATED ? 3 : 2);
    switch (ev->kind) {
    case CS_EV_CREATED:
        ch |= s_sfact_merge(&call->direction, ev->direction, at, 3);
        ch |= s_sfact_merge(&call->from, ev->from, at, 3);
        ch |= s_sfact_merge(&call->to, ev->to, at, 3);
        ch |= s_sfact_merge(&call->flow, ev->value, at, 3);
        ch |= s_tfact_merge(&call->created, at, ev->clock);
        return ch; /* a dial intent names no leg */
    case CS_EV_HOLD:
    case CS_EV_UNHOLD:
        ch |= s_lww_hold(call, ev->kind == CS_EV_HOLD, at, ev->ccid);
        break;
    case CS_EV_RECORDING_SAVED:
        ch |= s_lww_str(call->recording_url, sizeof call->recording_url, &call->recording_at,
                        ev->value, at);
        break;
    case CS_EV_DTMF:
        ch |= s_dtmf_merge(call, ev->value, at);
        break;
    case CS_EV_MACHINE:
        ch |= s_sfact_merge(&call->machine, ev->value, at, (int)ev->clock);
        break;
    case CS_EV_SDK_STATE:
        ch |=
            s_lww_str(call->sdk_state, sizeof call->sdk_state, &call->sdk_state_at, ev->value, at);
        if (strcmp(ev->value, "active") == 0)
            ch |= s_tfact_merge(&call->sdk_answered, at, ev->clock);
        /* a report naming its leg ends that leg (the SDK may hold several:
         * a consult call, a leg transferred away); one without ends the call */
        if ((strcmp(ev->value, "hangup") == 0 || strcmp(ev->value, "destroy") == 0) && !ev->ccid[0])
            ch |= s_tfact_merge(&call->sdk_ended, at, ev->clock);
        break;
    case CS_EV_MEDIA_CONNECTED:
        ch |= s_tfact_merge(&call->media_connected, at, ev->clock);
        break;
    case CS_EV_HANGUP_REQUESTED:
        ch |= s_tfact_merge(&call->hangup_requested, at, ev->clock);
        ch |= s_sfact_merge(&call->hangup_by, ev->value, at, (int)ev->clock);
        break;
    case CS_EV_FIRST_AUDIO:
        ch |= s_tfact_merge(&call->first_audio, at, ev->clock);
        break;
    case CS_EV_WRAPUP:
        return ch | s_lww_wrapup(call, ev);
    case CS_EV_CONSULT_REQUESTED:
        return ch | s_lww_str(call->consult, sizeof call->consult, &call->consult_at, ev->to, at);
    case CS_EV_TRANSFER_REQUESTED: {
        /* only the transfer's own facts: its "to" is the target, not the leg's */
        bool added = false;
        cs_leg_t *leg = s_leg(call, ev, &added, dropped_leg);
        if (!leg)
            return ch;
        return ch | added | s_lww_xfer(leg, ev);
    }
    case CS_EV_TRANSFER_FAILED: {
        bool added = false;
        cs_leg_t *leg = s_leg(call, ev, &added, dropped_leg);
        return leg ? ch | added | s_lww_xfer_fail(leg, ev) : ch;
    }
    case CS_EV_TRANSFER_COMPLETED: {
        /* the latest request carried out; the model asks whether it is
         * the standing one (s_handed_to) */
        bool added = false;
        cs_leg_t *leg = s_leg(call, ev, &added, dropped_leg);
        if (!leg)
            return ch;
        if (ev->at <= leg->xfer_done_at)
            return ch | added;
        leg->xfer_done_at = ev->at;
        return true;
    }
    default:
        break;
    }
    /* Any event naming a leg is evidence of that leg and its ids. */
    bool added = false;
    cs_leg_t *leg = s_leg(call, ev, &added, dropped_leg);
    if (leg)
        ch |= s_merge_leg(leg, ev) | added;
    return ch;
}

/* ---- derived values: pure functions of the facts ---- */

static const char *s_direction(const cs_call_t *call)
{
    if (call->direction.v[0])
        return call->direction.v;
    for (int i = 0; i < call->nlegs; i++)
        if (strcmp(call->legs[i].role.v, "customer") == 0 &&
            strcmp(call->legs[i].direction.v, "incoming") == 0)
            return "inbound";
    return call->nlegs ? "outbound" : NULL;
}

/* The leg of a role with the best time in the given field (offset into
 * cs_leg_t), or NULL when no leg of that role has one. */
static const cs_leg_t *s_best_leg(const cs_call_t *call, const char *role, size_t field)
{
    const cs_leg_t *best = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *leg = &call->legs[i];
        if (role && strcmp(leg->role.v, role) != 0)
            continue;
        const cs_tfact_t *t = (const cs_tfact_t *)((const char *)leg + field);
        if (s_tfact_better(t, best ? (const cs_tfact_t *)((const char *)best + field)
                                   : &(cs_tfact_t){0, CS_CLOCK_NONE}))
            best = leg;
    }
    return best;
}

static cs_tfact_t s_leg_time(const cs_leg_t *leg, size_t field)
{
    return leg ? *(const cs_tfact_t *)((const char *)leg + field) : (cs_tfact_t){0, CS_CLOCK_NONE};
}

/* Whether a warm transfer handed the call to this consulted leg: the
 * standing request names it, and the orchestrator bridged it. Until the
 * bridge, the leg is still only the colleague on a consult. */
static int s_handed_to(const cs_call_t *call, const cs_leg_t *leg)
{
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        if (cs_call_leg_transferring(l) && strcmp(l->xfer_mode.v, "warm") == 0 &&
            strcmp(l->xfer_to.v, leg->ccid) == 0 && l->xfer_done_at == l->xfer.at)
            return 1;
    }
    return 0;
}

/* A leg that took the call over from a transfer, and talks: the target of
 * a blind transfer, or a consulted leg a warm transfer was completed to. */
static int s_took_over(const cs_call_t *call, const cs_leg_t *leg)
{
    if (!leg->answered.at)
        return 0;
    if (strcmp(leg->role.v, "transfer") == 0)
        return 1;
    return strcmp(leg->role.v, "consulted") == 0 && s_handed_to(call, leg);
}

/* The call's agent: after a transfer, the agent who took it over (the
 * latest to answer, and not gone on); else the one its creator named; else
 * the agent whose leg answered first; else the first agent rung; else what
 * a leg-less event said. */
static const char *s_agent(const cs_call_t *call)
{
    const cs_leg_t *took = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        if (l->agent.v[0] && !cs_call_leg_left(l) && s_took_over(call, l) &&
            (!took || l->answered.at > took->answered.at))
            took = l;
    }
    if (took)
        return took->agent.v;
    if (call->agent_id.rank == 3)
        return call->agent_id.v;
    const cs_leg_t *best = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        if (l->agent.v[0] && l->answered.at &&
            (!best || s_tfact_better(&l->answered, &best->answered)))
            best = l;
    }
    for (int i = 0; !best && i < call->nlegs; i++)
        if (call->legs[i].agent.v[0])
            best = &call->legs[i];
    return best ? best->agent.v : call->agent_id.v;
}

/* Talk starts when the far side answers: the customer on an outbound
 * call, the agent on an inbound one. The SDK's `active` proves it too. */
static cs_tfact_t s_answered(const cs_call_t *call, const char **source)
{
    const char *dir = s_direction(call);
    const char *role = dir && strcmp(dir, "inbound") == 0 ? "agent" : "customer";
    cs_tfact_t t = s_leg_time(s_best_leg(call, role, offsetof(cs_leg_t, answered)),
                              offsetof(cs_leg_t, answered));
    *source = t.at ? "webhook" : NULL;
    if (s_tfact_better(&call->sdk_answered, &t)) {
        t = call->sdk_answered;
        *source = "sdk";
    }
    return t;
}

/* A leg's end: Telnyx's hangup, or its SDK's. */
static cs_tfact_t s_leg_end(const cs_leg_t *leg)
{
    return s_tfact_better(&leg->sdk_ended, &leg->ended) ? leg->sdk_ended : leg->ended;
}

/* Whether a leg's end ends the conversation:
 * - a leg whose party transferred the call on: never (it left on purpose);
 * - an agent's consult call, a consulted leg the call was not handed to,
 *   or a transfer target that never answered: never (the consult or the
 *   transfer failed; the customer stays);
 * - the customer's leg, a leg that took the call over, or an agent's leg
 *   that was talking: always;
 * - an agent's leg that never answered: on an outbound call (the agent
 *   gave up), not on an inbound one, where it is one agent not picking up
 *   while the customer waits. */
static int s_ends_call(const cs_call_t *call, const cs_leg_t *leg, const char *dir)
{
    if (!s_leg_end(leg).at || cs_call_leg_left(leg))
        return 0;
    const char *role = leg->role.v;
    if (strcmp(role, "consult") == 0)
        return 0;
    if (strcmp(role, "transfer") == 0 || strcmp(role, "consulted") == 0)
        return s_took_over(call, leg);
    if (strcmp(role, "agent") != 0 || leg->answered.at || leg->bridged.at)
        return 1;
    return !dir || strcmp(dir, "inbound") != 0;
}

static cs_tfact_t s_ended(const cs_call_t *call, const cs_leg_t **by)
{
    const char *dir = s_direction(call);
    cs_tfact_t t = {0, CS_CLOCK_NONE};
    *by = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        cs_tfact_t end = s_leg_end(&call->legs[i]);
        if (s_ends_call(call, &call->legs[i], dir) && s_tfact_better(&end, &t)) {
            t = end;
            *by = &call->legs[i];
        }
    }
    if (s_tfact_better(&call->sdk_ended, &t)) {
        t = call->sdk_ended;
        *by = NULL;
    }
    if (s_tfact_better(&call->hangup_requested, &t)) {
        t = call->hangup_requested;
        *by = NULL;
    }
    return t;
}

cs_state_t cs_call_state(const cs_call_t *call)
{
    const cs_leg_t *by;
    const char *source;
    if (s_ended(call, &by).at)
        return CS_STATE_ENDED;
    if (s_held(call))
        return CS_STATE_HELD;
    if (s_answered(call, &source).at)
        return CS_STATE_ACTIVE;
    if (call->nlegs || call->sdk_state[0])
        return CS_STATE_RINGING;
    return CS_STATE_DIALING;
}

int64_t cs_call_answered_at(const cs_call_t *call)
{
    const char *source;
    return s_answered(call, &source).at;
}

int64_t cs_call_ended_at(const cs_call_t *call)
{
    const cs_leg_t *by;
    return s_ended(call, &by).at;
}

const char *cs_call_direction(const cs_call_t *call)
{
    return s_direction(call);
}

const char *cs_call_agent(const cs_call_t *call)
{
    return s_agent(call);
}

/* The agent whose leg it is: the one it names; else, for a leg of the
 * agent's own side (the SDK's call, which names nobody), the creator's.
 * A customer, or a number a call was transferred or consulted to, is
 * nobody's. */
static const char *s_leg_agent(const cs_call_t *call, const cs_leg_t *leg)
{
    if (leg->agent.v[0])
        return leg->agent.v;
    const char *role = leg->role.v;
    if (strcmp(role, "customer") == 0 || strcmp(role, "transfer") == 0 ||
        strcmp(role, "consulted") == 0)
        return "";
    return call->agent_id.v;
}

bool cs_call_leg_is_agents(const cs_call_t *call, const cs_leg_t *leg, const char *agent)
{
    return strcmp(s_leg_agent(call, leg), agent) == 0;
}

const cs_leg_t *cs_call_leg(const cs_call_t *call, const char *ccid)
{
    for (int i = 0; i < call->nlegs; i++)
        if (strcmp(call->legs[i].ccid, ccid) == 0)
            return &call->legs[i];
    return NULL;
}

const cs_leg_t *cs_call_agent_leg(const cs_call_t *call, const char *agent)
{
    const cs_leg_t *best = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        if (!cs_call_leg_is_agents(call, l, agent) || l->ended.at || cs_call_leg_left(l) ||
            strcmp(l->role.v, "customer") == 0 || strcmp(l->role.v, "consult") == 0)
            continue;
        if (!best || (l->answered.at && !best->answered.at))
            best = l;
    }
    return best;
}

static int s_add_agent(const char *out[], int n, int max, const char *agent)
{
    if (!agent[0] || n == max)
        return n;
    for (int i = 0; i < n; i++)
        if (strcmp(out[i], agent) == 0)
            return n;
    out[n] = agent;
    return n + 1;
}

int cs_call_agents(const cs_call_t *call, const char *out[], int max)
{
    int n = s_add_agent(out, 0, max, s_agent(call));
    n = s_add_agent(out, n, max, call->agent_id.v);
    for (int i = 0; i < call->nlegs; i++)
        n = s_add_agent(out, n, max, call->legs[i].agent.v);
    return n;
}

const char *cs_state_name(cs_state_t state)
{
    static const char *names[] = {"dialing", "ringing", "active", "held", "ended"};
    return names[state];
}

/* ---- JSON ---- */

static json_t *s_str_or_null(const char *v)
{
    return v && *v ? json_string(v) : json_null();
}

static json_t *s_time_or_null(int64_t at)
{
    char buf[CS_TS_LEN];
    if (!at || cs_ts_format(at, buf, sizeof buf))
        return json_null();
    return json_string(buf);
}

static json_t *s_seconds(int64_t from, int64_t to)
{
    if (!from || !to)
        return json_null();
    int64_t ms = to > from ? to - from : 0;
    return json_real((double)ms / 1000.0);
}

static const char *s_leg_state(const cs_leg_t *leg)
{
    if (leg->ended.at)
        return "ended";
    if (leg->answered.at || leg->bridged.at)
        return "active";
    return "ringing";
}

json_t *cs_call_to_json(const cs_call_t *call)
{
    const char *answered_by;
    const cs_leg_t *ended_by;
    cs_tfact_t answered = s_answered(call, &answered_by);
    cs_tfact_t ended = s_ended(call, &ended_by);
    const cs_leg_t *init = s_best_leg(call, NULL, offsetof(cs_leg_t, initiated));
    cs_tfact_t initiated = s_leg_time(init, offsetof(cs_leg_t, initiated));
    if (s_tfact_better(&call->created, &initiated))
        initiated = call->created;
    const cs_leg_t *bridged_leg = s_best_leg(call, NULL, offsetof(cs_leg_t, bridged));
    cs_tfact_t bridged = s_leg_time(bridged_leg, offsetof(cs_leg_t, bridged));

    /* from/to name the company and the customer numbers: the customer
     * leg's when there is one, else the agent leg's (an outbound browser
     * call dials the customer number), else what the creator said. */
    const cs_leg_t *numbers = s_best_leg(call, "customer", offsetof(cs_leg_t, initiated));
    for (int i = 0; !numbers && i < call->nlegs; i++)
        if (strcmp(call->legs[i].role.v, "customer") == 0)
            numbers = &call->legs[i];
    for (int i = 0; !numbers && i < call->nlegs; i++)
        if (call->legs[i].to.v[0] && strncmp(call->legs[i].to.v, "sip:", 4) != 0)
            numbers = &call->legs[i];
    const char *from = numbers && numbers->from.v[0] ? numbers->from.v : call->from.v;
    const char *to = numbers && numbers->to.v[0] ? numbers->to.v : call->to.v;

    json_t *legs = json_array();
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        json_array_append_new(
            legs,
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, "
                      "s:o, s:o}",
                      "call_control_id", l->ccid, "call_leg_id", s_str_or_null(l->leg_id),
                      "call_session_id", s_str_or_null(l->session_id), "role",
                      s_str_or_null(l->role.v), "direction", s_str_or_null(l->direction.v), "from",
                      s_str_or_null(l->from.v), "to", s_str_or_null(l->to.v), "state",
                      s_leg_state(l), "initiated_at", s_time_or_null(l->initiated.at),
                      "answered_at", s_time_or_null(l->answered.at), "bridged_at",
                      s_time_or_null(l->bridged.at), "ended_at", s_time_or_null(l->ended.at),
                      "hangup_cause", s_str_or_null(l->hangup_cause.v), "hangup_source",
                      s_str_or_null(l->hangup_source.v), "sip_code", s_str_or_null(l->sip_code.v)));
        json_t *lo = json_array_get(legs, json_array_size(legs) - 1);
        json_object_set_new(lo, "agent_id", s_str_or_null(s_leg_agent(call, l)));
        json_object_set_new(lo, "transferred_at", s_time_or_null(l->xfer.at));
        json_object_set_new(lo, "transfer", s_str_or_null(l->xfer_mode.v));
        json_object_set_new(lo, "transfer_to", s_str_or_null(l->xfer_to.v));
        json_object_set_new(lo, "transfer_failed",
                            l->xfer.at && !cs_call_leg_transferring(l) ? json_string(l->xfer_fail)
                                                                       : json_null());
        /* a warm request is carried out by the orchestrator's bridge */
        int warm = strcmp(l->xfer_mode.v, "warm") == 0;
        json_object_set_new(
            lo, "transfer_completed",
            warm ? json_boolean(cs_call_leg_transferring(l) && l->xfer_done_at == l->xfer.at)
                 : json_null());
    }
    const char *agents[CS_MAX_LEGS + 2];
    int nagents = cs_call_agents(call, agents, CS_MAX_LEGS + 2);
    json_t *agents_j = json_array();
    for (int i = 0; i < nagents; i++)
        json_array_append_new(agents_j, json_string(agents[i]));
    char digits[CS_MAX_DTMF * 2 + 1] = "";
    for (int i = 0; i < call->ndtmf; i++)
        strncat(digits, call->dtmf[i].digit, sizeof digits - strlen(digits) - 1);

    json_t *gap = json_null();
    if (answered.at && call->first_audio.at)
        gap = json_integer(call->first_audio.at - answered.at);

    json_t *clocks =
        json_pack("{s:s, s:s, s:s}", "initiated_at", cs_clock_name(initiated.clock), "answered_at",
                  cs_clock_name(answered.clock), "ended_at", cs_clock_name(ended.clock));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(call->id));
    json_object_set_new(o, "version", json_integer((json_int_t)call->version));
    json_object_set_new(o, "state", json_string(cs_state_name(cs_call_state(call))));
    json_object_set_new(o, "direction", s_str_or_null(s_direction(call)));
    json_object_set_new(o, "agent_id", s_str_or_null(s_agent(call)));
    json_object_set_new(o, "agents", agents_j);
    json_object_set_new(o, "flow", s_str_or_null(call->flow.v));
    json_object_set_new(o, "from", s_str_or_null(from));
    json_object_set_new(o, "to", s_str_or_null(to));
    json_object_set_new(o, "legs", legs);
    json_object_set_new(o, "initiated_at", s_time_or_null(initiated.at));
    json_object_set_new(o, "answered_at", s_time_or_null(answered.at));
    json_object_set_new(o, "answered_source", s_str_or_null(answered_by));
    json_object_set_new(o, "bridged_at", s_time_or_null(bridged.at));
    json_object_set_new(o, "ended_at", s_time_or_null(ended.at));
    json_object_set_new(o, "hangup_cause",
                        s_str_or_null(ended_by ? ended_by->hangup_cause.v : NULL));
    /* A call we ended (Hang up, the CRM, callsync-ctl, a guard) was ended
     * by our side, the company's: the caller of an outbound call, the
     * callee of an inbound one. Not the source on whichever leg the
     * platform happened to close first, which differs from call to call
     * when we hang up both. A far end that hung up before we asked keeps
     * its own. */
    const char *source = ended_by ? ended_by->hangup_source.v : NULL;
    if (call->hangup_requested.at &&
        (!ended_by || s_leg_end(ended_by).at >= call->hangup_requested.at)) {
        const char *dir = s_direction(call);
        source = dir && strcmp(dir, "inbound") == 0 ? "callee" : "caller";
    }
    json_object_set_new(o, "hangup_source", s_str_or_null(source));
    json_object_set_new(o, "hangup_requested_by", s_str_or_null(call->hangup_by.v));
    json_object_set_new(o, "sip_code", s_str_or_null(ended_by ? ended_by->sip_code.v : NULL));
    json_object_set_new(o, "talk_seconds", s_seconds(answered.at, ended.at));
    json_object_set_new(o, "ring_seconds", s_seconds(initiated.at, answered.at));
    json_object_set_new(o, "post_answer_audio_gap_ms", gap);
    json_object_set_new(o, "hold", json_boolean(s_held(call)));
    json_object_set_new(o, "sdk_state", s_str_or_null(call->sdk_state));
    json_object_set_new(o, "media_connected_at", s_time_or_null(call->media_connected.at));
    json_object_set_new(o, "first_audio_at", s_time_or_null(call->first_audio.at));
    json_object_set_new(o, "recording_url", s_str_or_null(call->recording_url));
    json_object_set_new(o, "machine_detection", s_str_or_null(call->machine.v));
    json_object_set_new(o, "dtmf", json_string(digits));
    json_object_set_new(o, "consult", s_str_or_null(call->consult));
    json_object_set_new(o, "wrapup",
                        call->wrapup_at ? json_pack("{s:s, s:s, s:o, s:o}", "disposition",
                                                    call->disposition, "notes", call->notes,
                                                    "agent_id", s_str_or_null(call->wrapup_by),
                                                    "at", s_time_or_null(call->wrapup_at))
                                        : json_null());
    json_object_set_new(o, "clocks", clocks);
    return o;
}

/* Stored form. Every time is an offset from "t0", the record's earliest
 * time, which keeps a record small (see proto/README.md). sfact: [v, at,
 * rank]; tfact: [at, clock]; both omitted when unknown. */

static void s_min(int64_t *t0, int64_t at)
{
    if (at && (!*t0 || at < *t0))
        *t0 = at;
}

static int64_t s_earliest(const cs_call_t *call)
{
    int64_t t0 = 0;
    const cs_sfact_t *sf[] = {&call->direction, &call->agent_id, &call->from,     &call->to,
                              &call->machine,   &call->flow,     &call->hangup_by};
    for (size_t i = 0; i < sizeof sf / sizeof sf[0]; i++)
        s_min(&t0, sf[i]->at);
    const cs_tfact_t *tf[] = {&call->created,         &call->sdk_answered, &call->sdk_ended,
                              &call->media_connected, &call->first_audio,  &call->hangup_requested};
    for (size_t i = 0; i < sizeof tf / sizeof tf[0]; i++)
        s_min(&t0, tf[i]->at);
    s_min(&t0, call->hold_at);
    s_min(&t0, call->sdk_state_at);
    s_min(&t0, call->recording_at);
    s_min(&t0, call->consult_at);
    s_min(&t0, call->wrapup_at);
    for (int i = 0; i < call->ndtmf; i++)
        s_min(&t0, call->dtmf[i].at);
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        const cs_sfact_t *lsf[] = {&l->role,      &l->agent,        &l->direction,     &l->from,
                                   &l->to,        &l->hangup_cause, &l->hangup_source, &l->sip_code,
                                   &l->xfer_mode, &l->xfer_to};
        for (size_t j = 0; j < sizeof lsf / sizeof lsf[0]; j++)
            s_min(&t0, lsf[j]->at);
        const cs_tfact_t *ltf[] = {&l->initiated, &l->answered,  &l->bridged,
                                   &l->ended,     &l->sdk_ended, &l->xfer};
        for (size_t j = 0; j < sizeof ltf / sizeof ltf[0]; j++)
            s_min(&t0, ltf[j]->at);
        s_min(&t0, l->xfer_fail_at);
        s_min(&t0, l->xfer_done_at);
    }
    return t0;
}

static void s_put_sfact(json_t *o, const char *key, const cs_sfact_t *f, int64_t t0)
{
    if (f->v[0])
        json_object_set_new(o, key,
                            json_pack("[s, I, i]", f->v, (json_int_t)(f->at - t0), f->rank));
}

/* A leg's claim made at the leg's own initiated (or ended) time and clock is
 * stored as the bare value: most claims are, and it halves their size. */
static void s_put_leg_sfact(json_t *o, const char *key, const cs_sfact_t *f, int64_t t0,
                            const cs_tfact_t *def)
{
    if (f->v[0] && def->at && f->at == def->at && f->rank == (int)def->clock)
        json_object_set_new(o, key, json_string(f->v));
    else
        s_put_sfact(o, key, f, t0);
}

static void s_put_tfact(json_t *o, const char *key, const cs_tfact_t *f, int64_t t0)
{
    if (f->at)
        json_object_set_new(o, key, json_pack("[I, i]", (json_int_t)(f->at - t0), (int)f->clock));
}

static void s_put_lww(json_t *o, const char *key, const char *v, int64_t at, int64_t t0)
{
    if (at)
        json_object_set_new(o, key, json_pack("[s, I]", v, (json_int_t)(at - t0)));
}

static int s_get_sfact(const json_t *o, const char *key, cs_sfact_t *f, int64_t t0)
{
    const json_t *a = json_object_get(o, key);
    if (!a)
        return 0;
    const char *v;
    json_int_t at;
    int rank;
    if (json_unpack((json_t *)a, "[s, I, i]", &v, &at, &rank))
        return -1;
    CS_COPY(f->v, v);
    f->at = at + t0;
    f->rank = rank;
    return 0;
}

static int s_get_leg_sfact(const json_t *o, const char *key, cs_sfact_t *f, int64_t t0,
                           const cs_tfact_t *def)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        return s_get_sfact(o, key, f, t0);
    if (!def->at)
        return -1;
    CS_COPY(f->v, v);
    f->at = def->at;
    f->rank = (int)def->clock;
    return 0;
}

static int s_get_tfact(const json_t *o, const char *key, cs_tfact_t *f, int64_t t0)
{
    const json_t *a = json_object_get(o, key);
    if (!a)
        return 0;
    json_int_t at;
    int clock;
    if (json_unpack((json_t *)a, "[I, i]", &at, &clock) || clock < 0 || clock > CS_CLOCK_PROVIDER)
        return -1;
    f->at = at + t0;
    f->clock = (cs_clock_t)clock;
    return 0;
}

static int s_get_lww(const json_t *o, const char *key, char *dst, size_t size, int64_t *at,
                     int64_t t0)
{
    const json_t *a = json_object_get(o, key);
    if (!a)
        return 0;
    const char *v;
    json_int_t t;
    if (json_unpack((json_t *)a, "[s, I]", &v, &t))
        return -1;
    cs_copy(dst, size, v);
    *at = t + t0;
    return 0;
}

static void s_put_str(json_t *o, const char *key, const char *v)
{
    if (v[0])
        json_object_set_new(o, key, json_string(v));
}

static void s_get_str(const json_t *o, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(o, key));
    cs_copy(dst, size, v);
}
#define S_GET_STR(o, key, dst) s_get_str((o), (key), (dst), sizeof(dst))

json_t *cs_call_to_store(const cs_call_t *call)
{
    int64_t t0 = s_earliest(call);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(call->id));
    json_object_set_new(o, "t0", json_integer(t0));
    s_put_sfact(o, "dir", &call->direction, t0);
    s_put_sfact(o, "agent", &call->agent_id, t0);
    s_put_sfact(o, "from", &call->from, t0);
    s_put_sfact(o, "to", &call->to, t0);
    s_put_sfact(o, "flow", &call->flow, t0);
    s_put_tfact(o, "created", &call->created, t0);
    json_t *legs = json_array();
    for (int i = 0; i < call->nlegs; i++) {
        const cs_leg_t *l = &call->legs[i];
        json_t *lo = json_object();
        json_object_set_new(lo, "cc", json_string(l->ccid));
        s_put_str(lo, "leg", l->leg_id);
        /* legs of one call mostly share a session: say it once */
        if (i == 0 || strcmp(l->session_id, call->legs[0].session_id) != 0)
            s_put_str(lo, "sess", l->session_id);
        s_put_sfact(lo, "role", &l->role, t0);
        s_put_leg_sfact(lo, "agent", &l->agent, t0, &l->initiated);
        s_put_leg_sfact(lo, "dir", &l->direction, t0, &l->initiated);
        s_put_leg_sfact(lo, "from", &l->from, t0, &l->initiated);
        s_put_leg_sfact(lo, "to", &l->to, t0, &l->initiated);
        s_put_tfact(lo, "init", &l->initiated, t0);
        s_put_tfact(lo, "ans", &l->answered, t0);
        s_put_tfact(lo, "br", &l->bridged, t0);
        s_put_tfact(lo, "end", &l->ended, t0);
        s_put_leg_sfact(lo, "cause", &l->hangup_cause, t0, &l->ended);
        s_put_leg_sfact(lo, "hsrc", &l->hangup_source, t0, &l->ended);
        s_put_leg_sfact(lo, "sip", &l->sip_code, t0, &l->ended);
        s_put_tfact(lo, "sdk_end", &l->sdk_ended, t0);
        s_put_tfact(lo, "xfer", &l->xfer, t0);
        s_put_leg_sfact(lo, "xmode", &l->xfer_mode, t0, &l->xfer);
        s_put_leg_sfact(lo, "xto", &l->xfer_to, t0, &l->xfer);
        if (l->xfer_fail_at)
            json_object_set_new(lo, "xfail",
                                json_pack("[I, b, s]", (json_int_t)(l->xfer_fail_at - t0),
                                          l->xfer_kept, l->xfer_fail));
        if (l->xfer_done_at)
            json_object_set_new(lo, "xdone", json_integer(l->xfer_done_at - t0));
        json_array_append_new(legs, lo);
    }
    json_object_set_new(o, "legs", legs);
    s_put_tfact(o, "sdk_ans", &call->sdk_answered, t0);
    s_put_tfact(o, "sdk_end", &call->sdk_ended, t0);
    s_put_tfact(o, "media", &call->media_connected, t0);
    s_put_tfact(o, "audio", &call->first_audio, t0);
    s_put_tfact(o, "hup_req", &call->hangup_requested, t0);
    s_put_sfact(o, "hup_by", &call->hangup_by, t0);
    if (call->hold_at)
        json_object_set_new(
            o, "hold",
            json_pack("[b, I, s]", call->hold, (json_int_t)(call->hold_at - t0), call->hold_leg));
    s_put_lww(o, "sdk", call->sdk_state, call->sdk_state_at, t0);
    s_put_lww(o, "rec", call->recording_url, call->recording_at, t0);
    s_put_lww(o, "consult", call->consult, call->consult_at, t0);
    if (call->wrapup_at)
        json_object_set_new(o, "wrap",
                            json_pack("[s, s, s, I]", call->disposition, call->notes,
                                      call->wrapup_by, (json_int_t)(call->wrapup_at - t0)));
    s_put_sfact(o, "amd", &call->machine, t0);
    if (call->ndtmf) {
        json_t *d = json_array();
        for (int i = 0; i < call->ndtmf; i++)
            json_array_append_new(
                d, json_pack("[I, s]", (json_int_t)(call->dtmf[i].at - t0), call->dtmf[i].digit));
        json_object_set_new(o, "dtmf", d);
    }
    return o;
}

int cs_call_from_store(cs_call_t *call, const json_t *o, char *err, size_t errlen)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const json_t *t0j = json_object_get(o, "t0");
    if (!json_is_object(o) || !id || !json_is_integer(t0j)) {
        snprintf(err, errlen, "record is not an object with an id and t0");
        return -1;
    }
    int64_t t0 = json_integer_value(t0j);
    cs_call_init(call, id);
    int rc = 0;
    rc |= s_get_sfact(o, "dir", &call->direction, t0);
    rc |= s_get_sfact(o, "agent", &call->agent_id, t0);
    rc |= s_get_sfact(o, "from", &call->from, t0);
    rc |= s_get_sfact(o, "to", &call->to, t0);
    rc |= s_get_sfact(o, "flow", &call->flow, t0);
    rc |= s_get_tfact(o, "created", &call->created, t0);
    const json_t *legs = json_object_get(o, "legs");
    if (legs && (!json_is_array(legs) || json_array_size(legs) > CS_MAX_LEGS))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < json_array_size(legs); i++) {
        const json_t *lo = json_array_get(legs, i);
        cs_leg_t *l = &call->legs[call->nlegs++];
        if (!json_string_value(json_object_get(lo, "cc"))) {
            rc = -1;
            break;
        }
        S_GET_STR(lo, "cc", l->ccid);
        S_GET_STR(lo, "leg", l->leg_id);
        if (json_object_get(lo, "sess") || i == 0)
            S_GET_STR(lo, "sess", l->session_id);
        else
            CS_COPY(l->session_id, call->legs[0].session_id);
        rc |= s_get_tfact(lo, "init", &l->initiated, t0);
        rc |= s_get_tfact(lo, "ans", &l->answered, t0);
        rc |= s_get_tfact(lo, "br", &l->bridged, t0);
        rc |= s_get_tfact(lo, "end", &l->ended, t0);
        rc |= s_get_sfact(lo, "role", &l->role, t0);
        rc |= s_get_leg_sfact(lo, "agent", &l->agent, t0, &l->initiated);
        rc |= s_get_leg_sfact(lo, "dir", &l->direction, t0, &l->initiated);
        rc |= s_get_leg_sfact(lo, "from", &l->from, t0, &l->initiated);
        rc |= s_get_leg_sfact(lo, "to", &l->to, t0, &l->initiated);
        rc |= s_get_leg_sfact(lo, "cause", &l->hangup_cause, t0, &l->ended);
        rc |= s_get_leg_sfact(lo, "hsrc", &l->hangup_source, t0, &l->ended);
        rc |= s_get_leg_sfact(lo, "sip", &l->sip_code, t0, &l->ended);
        rc |= s_get_tfact(lo, "sdk_end", &l->sdk_ended, t0);
        rc |= s_get_tfact(lo, "xfer", &l->xfer, t0);
        rc |= s_get_leg_sfact(lo, "xmode", &l->xfer_mode, t0, &l->xfer);
        rc |= s_get_leg_sfact(lo, "xto", &l->xfer_to, t0, &l->xfer);
        const json_t *xfail = json_object_get(lo, "xfail");
        if (xfail) {
            json_int_t at;
            int kept;
            const char *why;
            if (json_unpack((json_t *)xfail, "[I, b, s]", &at, &kept, &why)) {
                rc = -1;
            } else {
                l->xfer_fail_at = at + t0;
                l->xfer_kept = kept;
                CS_COPY(l->xfer_fail, why);
            }
        }
        const json_t *xdone = json_object_get(lo, "xdone");
        if (xdone && !json_is_integer(xdone))
            rc = -1;
        else if (xdone)
            l->xfer_done_at = json_integer_value(xdone) + t0;
    }
    rc |= s_get_tfact(o, "sdk_ans", &call->sdk_answered, t0);
    rc |= s_get_tfact(o, "sdk_end", &call->sdk_ended, t0);
    rc |= s_get_tfact(o, "media", &call->media_connected, t0);
    rc |= s_get_tfact(o, "audio", &call->first_audio, t0);
    rc |= s_get_tfact(o, "hup_req", &call->hangup_requested, t0);
    rc |= s_get_sfact(o, "hup_by", &call->hangup_by, t0);
    const json_t *hold = json_object_get(o, "hold");
    if (hold) {
        int on;
        json_int_t at;
        const char *leg = "";
        /* [on, at, leg]; records stored before the leg was kept have [on, at] */
        if (json_array_size(hold) == 2)
            rc |= json_unpack((json_t *)hold, "[b, I]", &on, &at);
        else
            rc |= json_unpack((json_t *)hold, "[b, I, s]", &on, &at, &leg);
        call->hold = on;
        call->hold_at = at + t0;
        CS_COPY(call->hold_leg, leg);
    }
    rc |= s_get_lww(o, "sdk", call->sdk_state, sizeof call->sdk_state, &call->sdk_state_at, t0);
    rc |= s_get_lww(o, "rec", call->recording_url, sizeof call->recording_url, &call->recording_at,
                    t0);
    rc |= s_get_lww(o, "consult", call->consult, sizeof call->consult, &call->consult_at, t0);
    const json_t *wrap = json_object_get(o, "wrap");
    if (wrap) {
        const char *disp, *notes, *by;
        json_int_t at;
        if (json_unpack((json_t *)wrap, "[s, s, s, I]", &disp, &notes, &by, &at) == 0) {
            CS_COPY(call->disposition, disp);
            CS_COPY(call->notes, notes);
            CS_COPY(call->wrapup_by, by);
            call->wrapup_at = at + t0;
        } else {
            rc = -1;
        }
    }
    rc |= s_get_sfact(o, "amd", &call->machine, t0);
    const json_t *d = json_object_get(o, "dtmf");
    for (size_t i = 0; rc == 0 && i < json_array_size(d) && i < CS_MAX_DTMF; i++) {
        const char *digit;
        json_int_t at;
        rc |= json_unpack(json_array_get(d, i), "[I, s]", &at, &digit);
        if (rc == 0) {
            call->dtmf[i].at = at + t0;
            CS_COPY(call->dtmf[i].digit, digit);
            call->ndtmf++;
        }
    }
    if (rc) {
        snprintf(err, errlen, "record %s has a malformed fact", id);
        return -1;
    }
    return 0;
}

/* ---- history entries ----
 * {"k":kind, "id":event id, "rx":received ms, "at":occurred - rx, "r":leg ref,
 *  ...only what differs}. The leg is named by a short hash of its control id
 * ("r"), and the leg's ids, role, direction and numbers are left out where
 * they equal the leg's stored values: a call's whole history then costs a
 * few hundred bytes instead of kilobytes (proto/README.md). */

typedef struct {
    const char *key;
    size_t offset, size;
    long leg_offset; /* the matching char field of cs_leg_t, or -1 */
} s_ev_field_t;

#define S_EVF(key, field, leg)                                                                     \
    {                                                                                              \
        key, offsetof(cs_event_t, field), sizeof(((cs_event_t *)0)->field), leg                    \
    }
static const s_ev_field_t s_ev_fields[] = {
    S_EVF("leg", leg_id, (long)offsetof(cs_leg_t, leg_id)),
    S_EVF("sess", session_id, (long)offsetof(cs_leg_t, session_id)),
    S_EVF("role", role, (long)offsetof(cs_leg_t, role.v)),
    S_EVF("dir", direction, (long)offsetof(cs_leg_t, direction.v)),
    S_EVF("from", from, (long)offsetof(cs_leg_t, from.v)),
    S_EVF("to", to, (long)offsetof(cs_leg_t, to.v)),
    S_EVF("agent", agent_id, -1),
    S_EVF("cause", hangup_cause, -1),
    S_EVF("hsrc", hangup_source, -1),
    S_EVF("sip", sip_code, -1),
    S_EVF("v", value, -1),
    S_EVF("disp", disposition, -1),
};
#define S_NEVF (sizeof s_ev_fields / sizeof s_ev_fields[0])

static const char *s_canonical_type[] = {
    "",
    "",
    "call.initiated",
    "call.answered",
    "call.bridged",
    "call.hangup",
    "call.hold",
    "call.unhold",
    "call.recording.saved",
    "call.dtmf.received",
    "call.machine.detection.ended",
    "sdk.state",
    "sdk.media_connected",
    "sdk.first_audio",
    "callsync.hangup_requested",
    "callsync.transfer_requested",
    "callsync.consult_requested",
    "callsync.wrapup",
    "callsync.transfer_failed",
    "callsync.transfer_completed",
};
/* one name and one canonical type per kind: a new kind must add both */
_Static_assert(sizeof s_canonical_type / sizeof s_canonical_type[0] == CS_EV_TRANSFER_COMPLETED + 1,
               "s_canonical_type must name every cs_event_kind_t");
_Static_assert(sizeof s_kind_names / sizeof s_kind_names[0] == CS_EV_TRANSFER_COMPLETED + 1,
               "s_kind_names must name every cs_event_kind_t");

static const char *s_sources[] = {"webhook", "sdk", "command"};
static const cs_clock_t s_default_clock[] = {CS_CLOCK_PROVIDER, CS_CLOCK_SDK, CS_CLOCK_LOCAL};

/* FNV-1a of the control id, in base 36. */
static void s_legref(const char *ccid, char out[8])
{
    uint32_t h = cs_fnv1a(ccid);
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    int n = 0;
    char tmp[8];
    do {
        tmp[n++] = digits[h % 36];
        h /= 36;
    } while (h && n < 7);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* The leg with this ref, if exactly one leg has it. */
static const cs_leg_t *s_leg_by_ref(const cs_call_t *call, const char *ref)
{
    const cs_leg_t *found = NULL;
    for (int i = 0; i < call->nlegs; i++) {
        char r[8];
        s_legref(call->legs[i].ccid, r);
        if (strcmp(r, ref) == 0) {
            if (found)
                return NULL;
            found = &call->legs[i];
        }
    }
    return found;
}

json_t *cs_call_history_entry(const cs_call_t *call, const cs_event_t *ev, int64_t received_at)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "k", cs_event_kind_name(ev->kind), "id", ev->id,
                          "rx", (json_int_t)received_at, "at", (json_int_t)(ev->at - received_at));
    if (ev->source != CS_SRC_WEBHOOK)
        json_object_set_new(o, "src", json_string(s_sources[ev->source]));
    if (ev->clock != s_default_clock[ev->source])
        json_object_set_new(o, "clk", json_string(cs_clock_name(ev->clock)));
    if (ev->type[0] && strcmp(ev->type, s_canonical_type[ev->kind]) != 0)
        json_object_set_new(o, "type", json_string(ev->type));
    const cs_leg_t *leg = NULL;
    if (ev->ccid[0]) {
        char ref[8];
        s_legref(ev->ccid, ref);
        leg = s_leg_by_ref(call, ref);
        if (leg && strcmp(leg->ccid, ev->ccid) != 0)
            leg = NULL;
        json_object_set_new(o, leg ? "r" : "cc", json_string(leg ? ref : ev->ccid));
    }
    for (size_t i = 0; i < S_NEVF; i++) {
        const char *v = (const char *)ev + s_ev_fields[i].offset;
        if (leg && s_ev_fields[i].leg_offset >= 0) {
            if (strcmp(v, (const char *)leg + s_ev_fields[i].leg_offset) != 0)
                json_object_set_new(o, s_ev_fields[i].key, json_string(v));
        } else {
            s_put_str(o, s_ev_fields[i].key, v);
        }
    }
    if (ev->role_rank != (leg ? leg->role.rank : 0))
        json_object_set_new(o, "rr", json_integer(ev->role_rank));
    if (ev->cs_hint[0] && strcmp(ev->cs_hint, call->id) != 0)
        json_object_set_new(o, "cs", json_string(ev->cs_hint));
    return o;
}

int cs_call_history_event(const cs_call_t *call, const json_t *o, cs_event_t *ev,
                          int64_t *received_at, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    const char *k = json_string_value(json_object_get(o, "k"));
    const char *id = json_string_value(json_object_get(o, "id"));
    const json_t *rx = json_object_get(o, "rx"), *at = json_object_get(o, "at");
    int kind = k ? s_kind_parse(k) : -1;
    if (kind < 0 || !id || !json_is_integer(rx) || !json_is_integer(at)) {
        snprintf(err, errlen, "history entry lacks a valid k, id, rx or at");
        return -1;
    }
    ev->kind = (cs_event_kind_t)kind;
    CS_COPY(ev->id, id);
    *received_at = json_integer_value(rx);
    ev->at = *received_at + json_integer_value(at);
    const char *src = json_string_value(json_object_get(o, "src"));
    for (int i = 0; src && i < 3; i++)
        if (strcmp(src, s_sources[i]) == 0)
            ev->source = (cs_source_t)i;
    const char *clk = json_string_value(json_object_get(o, "clk"));
    if (!clk || cs_clock_parse(clk, &ev->clock))
        ev->clock = s_default_clock[ev->source];
    const char *type = json_string_value(json_object_get(o, "type"));
    CS_COPY(ev->type, type ? type : s_canonical_type[ev->kind]);
    const char *ref = json_string_value(json_object_get(o, "r"));
    const cs_leg_t *leg = ref ? s_leg_by_ref(call, ref) : NULL;
    if (ref && !leg) {
        snprintf(err, errlen, "history entry %s names leg %s, which the record lacks", id, ref);
        return -1;
    }
    if (leg)
        CS_COPY(ev->ccid, leg->ccid);
    else
        S_GET_STR(o, "cc", ev->ccid);
    for (size_t i = 0; i < S_NEVF; i++) {
        char *dst = (char *)ev + s_ev_fields[i].offset;
        const json_t *v = json_object_get(o, s_ev_fields[i].key);
        if (!v && leg && s_ev_fields[i].leg_offset >= 0)
            cs_copy(dst, s_ev_fields[i].size, (const char *)leg + s_ev_fields[i].leg_offset);
        else
            cs_copy(dst, s_ev_fields[i].size, json_string_value(v));
    }
    const json_t *rr = json_object_get(o, "rr");
    ev->role_rank = rr ? (int)json_integer_value(rr) : leg ? leg->role.rank : 0;
    S_GET_STR(o, "cs", ev->cs_hint);
    return 0;
}
