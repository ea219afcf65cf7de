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
 * @returns {{status: string, timer: string|null, inCall: boolean, ringingIn: boolean,
 *   canCall: boolean, canHangUp: boolean, held: boolean, remote: string|null}}
 */
export function view(record, sdk, now) {
  const sdkState = sdk ? sdk.state : null;
  const recState = record ? record.state : null;
  const ended = recState === 'ended' || sdkState === 'hangup' || sdkState === 'destroy' ||
    sdkState === 'purge';
  // Either proof of the answer switches to "In call": the webhook (the
  // record says active) or the SDK's active (ARCHITECTURE §1).
  const answered = !ended && (recState === 'active' || recState === 'held' ||
    sdkState === 'active' || sdkState === 'held');
  const held = !ended && (recState === 'held' || sdkState === 'held');
  const ringingIn = !ended && !answered && !!sdk && sdk.direction === 'inbound' &&
    (sdkState === 'ringing' || sdkState === 'new');
  let status = 'Ready';
  if (ended && (record || sdk)) status = 'Call ended';
  else if (held) status = 'On hold';
  else if (answered) status = 'In call';
  else if (ringingIn) status = 'Incoming call';
  else if (recState === 'ringing' || sdkState === 'early' || sdkState === 'ringing') status = 'Ringing…';
  else if (record || sdk) status = 'Calling…';
  const remote = sdk && sdk.remote ? sdk.remote
    : record ? (record.direction === 'inbound' ? record.from : record.to) : null;
  return {
    status,
    // talk time counts from the provider's answer, never from a click or
    // from when this page heard of it; absent until the answer is known
    timer: !ended && record && record.answered_at ? clock(now - Date.parse(record.answered_at)) : null,
    inCall: answered,
    ringingIn,
    canCall: !record && !sdk ? true : ended,
    canHangUp: !ended && !!(record || sdk),
    held,
    remote,
  };
}

/** m:ss (h:mm:ss past an hour); negative skews show 0:00. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The clientState the SDK carries for a record (webhooks name the call by it). */
export function clientState(record) {
  return btoa(JSON.stringify({ cs: record.id }));
}

/** A number as typed, to E.164 (+ and digits), or null. */
export function e164(text) {
  const t = String(text || '').replace(/[\s().-]/g, '');
  return /^\+[1-9][0-9]{2,14}$/.test(t) ? t : null;
}

/**
 * The wallboard's view: a row per live call, agents by presence, and the
 * calls that ended while the page was open.
 * @param {CallRecord[]} calls every record seen (latest version each)
 * @param {{id: string, name?: string, status: string}[]} agents
 * @param {number} now ms (the server's clock)
 */
export function board(calls, agents, now) {
  const live = calls.filter((c) => c.state !== 'ended')
    .sort((a, b) => String(a.initiated_at || a.id).localeCompare(String(b.initiated_at || b.id)));
  const rows = live.map((c) => ({
    id: c.id,
    agent: c.agent_id || '—',
    direction: c.direction || '—',
    number: (c.direction === 'inbound' ? c.from : c.to) || '—',
    state: c.state,
    time: c.answered_at ? clock(now - Date.parse(c.answered_at)) : '',
  }));
  const presence = {};
  for (const a of agents) (presence[a.status] = presence[a.status] || []).push(a.name || a.id);
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
    outcomes,
    avgTalk: avg(talks),
    avgGap: avg(gaps),
    p95Gap: gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(0.95 * gaps.length))] : null,
  };
}
