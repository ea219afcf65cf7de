// The softphone's logic without a DOM or an SDK: what the screen shows is
// a pure function of the call record the relay pushes (the one truth about
// the call) and of the SDK's last word on its own call. Nothing here
// guesses; nothing starts a timer on a click (ARCHITECTURE §1).

/** @typedef {{id: string, state: string, answered_at: string|null, ended_at: string|null,
 *   direction: string, from: string|null, to: string|null}} CallRecord */
/** @typedef {{state: string, direction: string, remote: string|null}} SdkCall */

/**
 * The view of the current call.
 * @param {CallRecord|null} record the relay's record (null before it exists)
 * @param {SdkCall|null} sdk the SDK's call, if any
 * @param {number} now ms since the epoch (the browser's clock)
 * @param {string} [me] this softphone's agent: the record's state is its
 *   screen only while the call is its own (record.agent_id); an agent whose
 *   part is a leg (a transfer ringing in, a consult it answered, a call it
 *   handed on) sees its own SDK call
 * @returns {{status: string, timer: string|null, inCall: boolean, ringingIn: boolean,
 *   canCall: boolean, canHangUp: boolean, held: boolean, remote: string|null,
 *   summary: string, canTransfer: boolean}}
 */
export function view(record, sdk, now, me) {
  const own = !!record && (!me || !record.agent_id || record.agent_id === me);
  const sdkState = sdk ? sdk.state : null;
  const recState = own ? record.state : null;
  const ended = recState === 'ended' || sdkState === 'hangup' || sdkState === 'destroy' ||
    sdkState === 'purge';
  // Either proof of the answer switches to "In call": the webhook (the
  // record says active) or the SDK's active (ARCHITECTURE §1).
  const answered = !ended && (recState === 'active' || recState === 'held' ||
    sdkState === 'active' || sdkState === 'held');
  const held = !ended && (recState === 'held' || sdkState === 'held');
  // the SDK says a call rings in; a tab without it (a mirror) has the
  // record's word: a leg the server rang at this agent, unanswered
  const ringingIn = !ended && !answered && (sdk
    ? sdk.direction === 'inbound' && (sdkState === 'ringing' || sdkState === 'new')
    : !!ringingLeg(record, me));
  let status = 'Ready';
  if (ended && (record || sdk)) status = 'Call ended';
  else if (held) status = 'On hold';
  else if (answered) status = 'In call';
  else if (ringingIn) status = 'Incoming call';
  else if (recState === 'ringing' || sdkState === 'early' || sdkState === 'ringing') status = 'Ringing…';
  else if (record || sdk) status = 'Calling…';
  // the customer's number: the record knows it (a transfer rings in from
  // the company's number); else what the SDK says
  const customer = record ? (record.direction === 'inbound' ? record.from : record.to) : null;
  const remote = customer || (sdk && sdk.remote) || null;
  return {
    status,
    // talk time counts from the provider's answer, never from a click or
    // from when this page heard of it; absent until the answer is known
    timer: !ended && own && record.answered_at ? clock(now - Date.parse(record.answered_at)) : null,
    inCall: answered,
    ringingIn,
    canCall: !record && !sdk ? true : ended,
    canHangUp: !ended && !!(record || sdk),
    held,
    remote,
    summary: ended && record ? summary(record, me)
      : ringingIn && record ? handedBy(record, me)
      : answered && own ? transferFailed(record, me) : '',
    canTransfer: answered && own,
  };
}

/**
 * The leg that rings at this agent's softphone: one the server rang (an
 * inbound call routed to the agent, a server dial, a transfer or consult to
 * it), live and unanswered; never a call the agent's browser placed. The
 * relay's answer and decline go by the same rule (services/relay/relay.c).
 * @param {CallRecord|null} record
 * @param {string} [me]
 * @returns {object|null} the leg, as the record has it
 */
export function ringingLeg(record, me) {
  if (!record || !me || record.state === 'ended') return null;
  const placed = record.flow === 'browser';
  return (record.legs || []).find((l) => l.agent_id === me && !l.answered_at && !l.ended_at &&
    l.role !== 'customer' && l.role !== 'consult' && !(placed && l.role === 'agent')) || null;
}

const CAUSES = {
  normal_clearing: 'hung up', originator_cancel: 'cancelled', user_busy: 'busy',
  call_rejected: 'declined', timeout: 'no answer', no_answer: 'no answer',
};

/** Whether a leg's party handed the call on (a request that did not fail). */
const handedOn = (l) => !!l.transferred_at && !l.transfer_failed;

/** My latest transfer, refused: the call stayed mine; say so, and why. */
export function transferFailed(record, me) {
  const legs = record.legs || [];
  const l = legs.find((x) => x.transferred_at && x.transfer_failed && (!me || x.agent_id === me));
  if (!l) return '';
  // a warm transfer names the consulted leg: say whose it is
  const consulted = l.transfer === 'warm' ? legs.find((x) => x.call_control_id === l.transfer_to) : null;
  const to = l.transfer === 'warm' ? (consulted && consulted.agent_id) || 'your colleague' : l.transfer_to;
  return `Transfer to ${to} failed (${l.transfer_failed}): the call is still yours`;
}

/**
 * Whether the record has a colleague to hand the call to: a consulted leg
 * that answered and has not ended. The relay refuses Complete transfer
 * until it does (services/relay/relay.c, s_transfer), and my own SDK's
 * consult can be active a moment before the record hears the answer; a
 * Complete sent in that moment was refused, and a Hang up clicked with it
 * ended the whole call. So the button waits for the record.
 */
export function consultAnswered(record) {
  return !!record && (record.legs || []).some((l) => l.role === 'consulted' && !!l.answered_at &&
    l.state !== 'ended');
}

/** Who hands a call ringing in to me: a transfer, or a consult. */
export function handedBy(record, me) {
  const by = (record.legs || []).find((l) => handedOn(l) && l.agent_id && l.agent_id !== me);
  if (by) return `Transfer from ${by.agent_id}`;
  if (record.consult && record.consult === me && record.agent_id !== me) return `Consult from ${record.agent_id}`;
  return '';
}

/** The call-ended line: how long it talked and how it ended, or to whom it was handed on. */
export function summary(record, me) {
  const mine = (record.legs || []).find((l) => handedOn(l) && (!me || l.agent_id === me));
  if (mine) return `Transferred to ${mine.transfer === 'warm' ? (record.agent_id || 'a colleague') : mine.transfer_to}`;
  if (record.state !== 'ended') return '';
  const talk = typeof record.talk_seconds === 'number' ? clock(record.talk_seconds * 1000) : null;
  const cause = CAUSES[record.hangup_cause] || (record.hangup_cause || '').replace(/_/g, ' ');
  if (!talk) return cause ? `Not answered: ${cause}` : 'Not answered';
  return `Talked ${talk}${cause ? ` · ${cause}` : ''}`;
}

/** m:ss (h:mm:ss past an hour); negative skews show 0:00. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * The clientState the SDK carries for a record (webhooks name the call by
 * it); a consult call says so, and whose it is.
 */
export function clientState(record, role, agent) {
  return btoa(JSON.stringify(role ? { cs: record.id, role, agent } : { cs: record.id }));
}

/** A transfer target as typed: "+E.164" or an agent id, or null. */
export function transferTarget(text) {
  const t = String(text || '').trim();
  if (t.startsWith('+') || /^[0-9(]/.test(t)) return e164(t);
  return /^[A-Za-z0-9_.@-]{1,63}$/.test(t) ? t : null;
}

/**
 * Recent calls as rows: the customer's number, an arrow for the direction,
 * when, and how it went (talk time, the agent's disposition, or the cause).
 */
export function recentRows(calls, me, now) {
  return calls.map((c) => {
    const at = Date.parse(c.initiated_at || c.answered_at || '') || now;
    const mins = Math.floor((now - at) / 60000);
    const when = mins < 1 ? 'just now' : mins < 60 ? `${mins} min ago` : `${Math.floor(mins / 60)} h ago`;
    const talk = typeof c.talk_seconds === 'number' ? clock(c.talk_seconds * 1000) : null;
    const outcome = [talk || (c.state === 'ended' ? 'missed' : c.state),
      c.wrapup && c.wrapup.disposition].filter(Boolean).join(' · ');
    return {
      id: c.id,
      number: (c.direction === 'inbound' ? c.from : c.to) || '?',
      arrow: c.direction === 'inbound' ? '↙' : '↗',
      when,
      outcome,
    };
  });
}

/**
 * A call-quality estimate from WebRTC stats over the last interval: the
 * ITU-T G.107 E-model, simplified as VoIP monitors do (one-way delay from
 * the RTT plus a jitter buffer, a loss penalty), mapped to a MOS of 1..4.5.
 * @param {{rtt: number, jitter: number, lost: number, received: number}} s
 *   rtt and jitter in seconds; lost and received packets in the interval
 * @returns {{mos: number, label: string}}
 */
export function mos({ rtt, jitter, lost, received }) {
  const latency = ((rtt || 0) * 1000) / 2 + (jitter || 0) * 1000 * 2 + 10;
  const total = (lost || 0) + (received || 0);
  const lossPct = total > 0 ? (100 * Math.max(0, lost || 0)) / total : 0;
  let r = 93.2 - (latency < 160 ? latency / 40 : (latency - 120) / 10) - 2.5 * lossPct;
  r = Math.max(0, Math.min(100, r));
  const m = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
  const value = Math.round(Math.max(1, Math.min(4.5, m)) * 10) / 10;
  return { mos: value, label: value >= 4 ? 'good' : value >= 3.1 ? 'fair' : 'poor' };
}

/**
 * The agent's own presence as the softphone shows it (cs:agent status),
 * and what its button offers: going offline when available, available
 * when offline or in wrap-up (which ends it early); nothing on a call,
 * whose end moves the agent.
 * @param {string|null} status
 * @returns {{label: string, action: string|null, status: string|null}}
 */
export function presenceView(status) {
  const labels = { available: 'Available', busy: 'On a call', wrap_up: 'Wrap-up', offline: 'Offline' };
  if (status === 'available') return { label: labels[status], action: 'Go offline', status: 'offline' };
  if (status === 'offline' || status === 'wrap_up') return { label: labels[status], action: 'Go available', status: 'available' };
  return { label: labels[status] || '', action: null, status: null };
}

/** A number as typed, to E.164 (+ and digits), or null. */
export function e164(text) {
  const t = String(text || '').replace(/[\s().-]/g, '');
  return /^\+[1-9][0-9]{2,14}$/.test(t) ? t : null;
}

/**
 * The wallboard's agents after one of them changed (the relay's push of
 * {"type":"agent"}): that agent replaced, or added if new, sorted by id as
 * the relay lists them; left out when removed (callsync-ctl agent rm:
 * {"type":"agent","agent":{"id"},"removed":true}). A new array; the old
 * one is left as it was.
 * @template {{id: string}} A
 * @param {A[]} agents
 * @param {A} agent
 * @param {boolean} [removed]
 * @returns {A[]}
 */
export function withAgent(agents, agent, removed = false) {
  const others = agents.filter((a) => a.id !== agent.id);
  return removed ? others : [...others, agent].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The wallboard's view: a row per live call, agents by presence (counted,
 * and a row each with how long they have been so), and the calls that
 * ended while the page was open.
 * @param {CallRecord[]} calls every record seen (latest version each)
 * @param {{id: string, name?: string, status: string}[]} agents
 * @param {number} now ms (the server's clock)
 */
export function board(calls, agents, now) {
  const live = calls.filter((c) => c.state !== 'ended')
    .sort((a, b) => String(a.initiated_at || a.id).localeCompare(String(b.initiated_at || b.id)));
  // people's names and words, not ids and states: a supervisor reads it
  const names = new Map(agents.map((a) => [a.id, a.name || a.id]));
  const states = { dialing: 'Dialing', ringing: 'Ringing', active: 'In call', held: 'On hold' };
  // an inbound caller no agent's phone rings for is in the line (the
  // orchestrator's cs:waiting): they hear ringing, but nobody is rung
  const waiting = (c) => c.direction === 'inbound' && c.state === 'ringing' &&
    !(c.legs || []).some((l) => l.role !== 'customer' && !l.ended_at);
  const rows = live.map((c) => ({
    id: c.id,
    agent: (c.agent_id && names.get(c.agent_id)) || c.agent_id || '—',
    direction: c.direction || '—',
    number: (c.direction === 'inbound' ? c.from : c.to) || '—',
    state: waiting(c) ? 'Waiting for an agent' : states[c.state] || c.state,
    time: c.answered_at ? clock(now - Date.parse(c.answered_at)) : '',
  }));
  // each agent, on a call first, then in wrap-up, available, offline; with
  // how long they have been so (the status's updated_at); counted by
  // status in the same order
  const order = ['busy', 'wrap_up', 'available', 'offline'];
  const rank = (a) => (order.includes(a.status) ? order.indexOf(a.status) : order.length);
  const presence = {};
  for (const a of [...agents].sort((x, y) => rank(x) - rank(y))) {
    const label = presenceView(a.status).label || a.status;
    (presence[label] = presence[label] || []).push(a.name || a.id);
  }
  const since = (a) => Date.parse(a.updated_at);
  const agentRows = [...agents]
    .sort((a, b) => rank(a) - rank(b) || String(a.name || a.id).localeCompare(String(b.name || b.id)))
    .map((a) => ({
      id: a.id,
      name: a.name || a.id,
      status: presenceView(a.status).label || a.status || '—',
      for: Number.isNaN(since(a)) ? '' : clock(now - since(a)),
    }));
  const ended = calls.filter((c) => c.state === 'ended');
  const outcomes = {};
  for (const c of ended) {
    const o = c.answered_at ? 'answered' : (c.hangup_cause || 'unanswered');
    outcomes[o] = (outcomes[o] || 0) + 1;
  }
  const talks = ended.map((c) => c.talk_seconds).filter((t) => typeof t === 'number');
  const gaps = calls.map((c) => c.post_answer_audio_gap_ms).filter((g) => typeof g === 'number')
    .sort((a, b) => a - b);
  const avg = (xs) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
  return {
    rows,
    presence,
    agentRows,
    outcomes,
    avgTalk: avg(talks),
    avgGap: avg(gaps),
    p95Gap: gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(0.95 * gaps.length))] : null,
  };
}
