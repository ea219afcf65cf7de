// The softphone's view as a pure function: each of the five symptoms of a
// broken softphone (ARCHITECTURE §1) as a case that would fail if it came back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { view, clock, e164, clientState, summary, transferTarget, recentRows, mos, ringingLeg, consultAnswered, presenceView, withAgent } from '../src/core.js';

const T = Date.parse('2026-11-24T10:00:00.000Z');
const rec = (state, extra = {}) => ({ id: 'cs_1', state, answered_at: null, ended_at: null,
  direction: 'outbound', from: '+15550009999', to: '+15550100001', ...extra });

test('the timer starts at the provider answer, not at the click, and not before it is known', () => {
  assert.equal(view(rec('dialing'), { state: 'trying', direction: 'outbound' }, T).timer, null);
  assert.equal(view(rec('ringing'), { state: 'early', direction: 'outbound' }, T + 5000).timer, null);
  const answered = rec('active', { answered_at: new Date(T + 6000).toISOString() });
  assert.equal(view(answered, { state: 'active', direction: 'outbound' }, T + 6000).timer, '0:00');
  assert.equal(view(answered, { state: 'active', direction: 'outbound' }, T + 71000).timer, '1:05');
  // a late webhook cannot shift it: the same answered_at gives the same time
  assert.equal(view(answered, null, T + 71000).timer, '1:05');
});

test('"In call" from either proof of the answer: the webhook or the SDK', () => {
  assert.equal(view(rec('ringing'), { state: 'active', direction: 'outbound' }, T).status, 'In call');
  assert.equal(view(rec('active'), { state: 'early', direction: 'outbound' }, T).status, 'In call');
  assert.equal(view(rec('ringing'), { state: 'early', direction: 'outbound' }, T).status, 'Ringing…');
  assert.equal(view(rec('dialing'), { state: 'requesting', direction: 'outbound' }, T).status, 'Calling…');
  assert.equal(view(rec('held'), { state: 'active', direction: 'outbound' }, T).status, 'On hold');
});

test('an ended call stays ended whatever comes late', () => {
  const ended = rec('ended', { answered_at: new Date(T).toISOString(), ended_at: new Date(T + 1000).toISOString() });
  const v = view(ended, { state: 'active', direction: 'outbound' }, T + 2000);
  assert.equal(v.status, 'Call ended');
  assert.equal(v.timer, null);
  assert.equal(v.canHangUp, false);
  assert.equal(v.canCall, true);
  assert.equal(view(rec('active'), { state: 'destroy', direction: 'outbound' }, T).status, 'Call ended');
});

test('hang up is offered while anything is live, even before the record exists', () => {
  assert.equal(view(null, { state: 'requesting', direction: 'outbound' }, T).canHangUp, true);
  assert.equal(view(rec('dialing'), null, T).canHangUp, true);
  assert.equal(view(null, null, T).canHangUp, false);
  assert.equal(view(null, null, T).status, 'Ready');
});

test('an inbound call rings with the caller shown, and answers', () => {
  const v = view(null, { state: 'ringing', direction: 'inbound', remote: '+15557770001' }, T);
  assert.equal(v.status, 'Incoming call');
  assert.equal(v.ringingIn, true);
  assert.equal(v.remote, '+15557770001');
  assert.equal(view(rec('active', { direction: 'inbound', from: '+15557770001' }),
    { state: 'active', direction: 'inbound' }, T).ringingIn, false);
});

test('a tab without the SDK call (a mirror) rings from the record: a leg the server rang at me', () => {
  const leg = (extra) => ({ call_control_id: 'v3:a', role: 'agent', agent_id: 'tia', answered_at: null, ended_at: null, ...extra });
  const inbound = rec('ringing', { direction: 'inbound', flow: null, agent_id: 'tia',
    legs: [{ call_control_id: 'v3:c', role: 'customer', agent_id: null }, leg()] });
  assert.equal(ringingLeg(inbound, 'tia').call_control_id, 'v3:a');
  const v = view(inbound, null, T, 'tia');
  assert.equal(v.status, 'Incoming call');
  assert.equal(v.ringingIn, true);
  // not another agent's leg, not once answered or ended
  assert.equal(ringingLeg(inbound, 'omar'), null);
  assert.equal(ringingLeg({ ...inbound, legs: [leg({ answered_at: new Date(T).toISOString() })] }, 'tia'), null);
  assert.equal(ringingLeg({ ...inbound, legs: [leg({ ended_at: new Date(T).toISOString() })] }, 'tia'), null);
  assert.equal(ringingLeg({ ...inbound, state: 'ended' }, 'tia'), null);
  // a call the agent's browser placed never rings at it, nor does its consult call
  const placed = rec('ringing', { flow: 'browser', agent_id: 'tia', legs: [leg(), leg({ role: 'consult' })] });
  assert.equal(ringingLeg(placed, 'tia'), null);
  assert.equal(view(placed, null, T, 'tia').status, 'Ringing…');
  // a server dial rings the agent first; a transfer to me rings me
  assert.ok(ringingLeg(rec('dialing', { flow: 'server_dial', legs: [leg()] }), 'tia'));
  assert.ok(ringingLeg(rec('active', { flow: 'browser', agent_id: 'bob', legs: [leg({ role: 'transfer' })] }), 'tia'));
  // with the SDK's call, the SDK has the word
  assert.equal(view(inbound, { state: 'active', direction: 'inbound' }, T, 'tia').ringingIn, false);
});

test('helpers: clock, numbers, clientState', () => {
  assert.equal(clock(-5), '0:00');
  assert.equal(clock(3600 * 1000 + 61000), '1:01:01');
  assert.equal(e164(' +1 (555) 010-0001 '), '+15550100001');
  assert.equal(e164('5550100001'), null);
  assert.equal(e164('+0123'), null);
  assert.deepEqual(JSON.parse(atob(clientState({ id: 'cs_9' }))), { cs: 'cs_9' });
});

test('the wallboard: a row per live call with its timer, presence, outcomes and the audio gap', async () => {
  const { board } = await import('../src/core.js');
  const calls = [
    rec('active', { id: 'cs_a', agent_id: 'alice', answered_at: new Date(T - 65000).toISOString(), post_answer_audio_gap_ms: 12 }),
    rec('ringing', { id: 'cs_b', agent_id: 'bob', direction: 'inbound', from: '+15557770001',
      legs: [{ role: 'customer', ended_at: null }, { role: 'agent', ended_at: null }] }),
    rec('ended', { id: 'cs_c', answered_at: new Date(T - 9000).toISOString(), talk_seconds: 8, post_answer_audio_gap_ms: 30 }),
    rec('ended', { id: 'cs_d', hangup_cause: 'user_busy' }),
  ];
  const b = board(calls, [{ id: 'carol', name: 'Carol', status: 'available' }, { id: 'alice', name: 'Alice', status: 'busy' }], T);
  assert.deepEqual(b.rows.map((r) => [r.id, r.number, r.time]), [['cs_a', '+15550100001', '1:05'], ['cs_b', '+15557770001', '']]);
  // names and words: the agent's name when known (bob is not listed: his id), the state as a person says it
  assert.deepEqual(b.rows.map((r) => [r.agent, r.state]), [['Alice', 'In call'], ['bob', 'Ringing']]);
  assert.deepEqual(board([rec('held', { agent_id: null })], [], T).rows.map((r) => [r.agent, r.state]), [['—', 'On hold']]);
  // an inbound caller whom no agent's phone rings for waits in the line:
  // nobody rung yet, or the agent rung has rung out; an outbound call rings
  const customer = { role: 'customer', ended_at: null };
  const rungOut = { role: 'agent', ended_at: new Date(T - 1000).toISOString() };
  assert.deepEqual(board([
    rec('ringing', { id: 'cs_w1', agent_id: null, direction: 'inbound', legs: [customer] }),
    rec('ringing', { id: 'cs_w2', agent_id: 'bob', direction: 'inbound', legs: [customer, rungOut] }),
    rec('ringing', { id: 'cs_w3', agent_id: 'bob', direction: 'outbound', legs: [customer] }),
  ], [], T).rows.map((r) => r.state), ['Waiting for an agent', 'Waiting for an agent', 'Ringing']);
  // presence counted by label, on a call first
  assert.deepEqual(b.presence, { 'On a call': ['Alice'], Available: ['Carol'] });
  assert.deepEqual(Object.keys(b.presence), ['On a call', 'Available']);
  // a row per agent, on a call first, with the time in that status (none when unknown)
  const withSince = [
    { id: 'carol', name: 'Carol', status: 'available', updated_at: new Date(T - 3000).toISOString() },
    { id: 'dave', status: 'offline', updated_at: 'not a time' },
    { id: 'alice', status: 'busy', updated_at: new Date(T - 125000).toISOString() },
    { id: 'ann', status: 'wrap_up', updated_at: new Date(T - 20000).toISOString() },
    { id: 'bob', status: 'available', updated_at: new Date(T - 3725000).toISOString() },
  ];
  assert.deepEqual(board([], withSince, T).agentRows, [
    { id: 'alice', name: 'alice', status: 'On a call', for: '2:05' },
    { id: 'ann', name: 'ann', status: 'Wrap-up', for: '0:20' },
    { id: 'bob', name: 'bob', status: 'Available', for: '1:02:05' },
    { id: 'carol', name: 'Carol', status: 'Available', for: '0:03' },
    { id: 'dave', name: 'dave', status: 'Offline', for: '' },
  ]);
  assert.deepEqual(b.outcomes, { answered: 1, user_busy: 1 });
  assert.equal(b.avgTalk, 8);
  assert.equal(b.avgGap, 21);
  assert.equal(b.p95Gap, 30);
});

test('transfers: the record is my screen only while the call is mine; summaries say how it went', () => {
  const legs = [
    { call_control_id: 'a', role: 'agent', agent_id: 'ann', transferred_at: '2026-01-01T00:00:10.000Z',
      transfer: 'blind', transfer_to: 'ben', ended_at: '2026-01-01T00:00:10.100Z' },
    { call_control_id: 'c', role: 'customer', agent_id: null },
    { call_control_id: 't', role: 'transfer', agent_id: 'ben' },
  ];
  const r = rec('active', { answered_at: new Date(T).toISOString(), agent_id: 'ben', legs, to: '+15550100001' });
  // Ann handed it on: her SDK call is over; no timer for her, the summary says where it went
  const ann = view(r, { state: 'destroy', direction: 'outbound' }, T + 20000, 'ann');
  assert.equal(ann.status, 'Call ended');
  assert.equal(ann.timer, null);
  assert.equal(ann.summary, 'Transferred to ben');
  // Ben owns it: the record's timer (from the customer's answer)
  const ben = view(r, { state: 'active', direction: 'inbound' }, T + 20000, 'ben');
  assert.equal(ben.status, 'In call');
  assert.equal(ben.timer, '0:20');
  assert.equal(ben.canTransfer, true);
  // while it rings for Ben, he sees the customer and who hands it over
  const ringing = view({ ...r, agent_id: 'ann' }, { state: 'ringing', direction: 'inbound', remote: '+15550009999' },
    T + 12000, 'ben');
  assert.equal(ringing.status, 'Incoming call');
  assert.equal(ringing.remote, '+15550100001');
  assert.equal(ringing.summary, 'Transfer from ann');
  // a consult rings: the call is Ann's, and on hold for her, not for Ben
  const consult = view(rec('held', { agent_id: 'ann', consult: 'ben', legs: [] }),
    { state: 'active', direction: 'inbound' }, T, 'ben');
  assert.equal(consult.status, 'In call');
  assert.equal(consult.canTransfer, false);
  // Telnyx refused Ann's transfer: the call is still hers, and she is told why
  const refused = rec('active', { answered_at: new Date(T).toISOString(), agent_id: 'ann', legs: [
    { ...legs[0], ended_at: null, transfer_to: '+15550100009', transfer_failed: 'refused 422 10016' },
    legs[1]] });
  const kept = view(refused, { state: 'active', direction: 'outbound' }, T + 20000, 'ann');
  assert.equal(kept.status, 'In call');
  assert.equal(kept.timer, '0:20');
  assert.equal(kept.canTransfer, true);
  assert.equal(kept.summary, 'Transfer to +15550100009 failed (refused 422 10016): the call is still yours');
  // a warm completion refused: the failure names the colleague, not the leg
  const warm = rec('held', { answered_at: new Date(T).toISOString(), agent_id: 'ann', legs: [
    { ...legs[0], ended_at: null, transfer: 'warm', transfer_to: 'v3:ben-leg', transfer_failed: 'refused 422 90015' },
    legs[1], { call_control_id: 'v3:ben-leg', role: 'consulted', agent_id: 'ben', answered_at: new Date(T).toISOString(), ended_at: null }] });
  assert.equal(view(warm, { state: 'held', direction: 'outbound' }, T, 'ann').summary,
    'Transfer to ben failed (refused 422 90015): the call is still yours');
  assert.equal(summary({ ...refused, state: 'ended', talk_seconds: 30, hangup_cause: 'normal_clearing' }, 'ann'),
    'Talked 0:30 · hung up');
  assert.equal(summary(rec('ended', { talk_seconds: 65.2, hangup_cause: 'normal_clearing' })), 'Talked 1:05 · hung up');
  assert.equal(summary(rec('ended', { talk_seconds: null, hangup_cause: 'user_busy' })), 'Not answered: busy');
  assert.equal(transferTarget(' ben '), 'ben');
  assert.equal(transferTarget('+1 555 010 0001'), '+15550100001');
  assert.equal(transferTarget('+12'), null);
  assert.equal(transferTarget('bob smith'), null);
  assert.equal(clientState({ id: 'cs_1' }, 'consult', 'ann'), btoa('{"cs":"cs_1","role":"consult","agent":"ann"}'));
});

test('Complete transfer waits for the record to have the colleague\'s answer, as the relay does', () => {
  const at = new Date(T).toISOString();
  const leg = (extra) => ({ call_control_id: 'v3:ben-leg', role: 'consulted', agent_id: 'ben', answered_at: null,
    ended_at: null, state: 'ringing', ...extra });
  const withLegs = (...legs) => rec('held', { agent_id: 'ann', legs: [{ call_control_id: 'a', role: 'agent' }, ...legs] });
  assert.equal(consultAnswered(null), false);
  assert.equal(consultAnswered(rec('held')), false); // no legs at all
  // my SDK may say active already: the record has not heard the answer
  assert.equal(consultAnswered(withLegs(leg())), false);
  assert.equal(consultAnswered(withLegs(leg({ answered_at: at, state: 'active' }))), true);
  // the colleague hung up: nobody to hand it to
  assert.equal(consultAnswered(withLegs(leg({ answered_at: at, ended_at: at, state: 'ended' }))), false);
  // a customer or a transfer leg that answered is not a colleague on a consult
  assert.equal(consultAnswered(withLegs({ call_control_id: 'c', role: 'customer', answered_at: at, state: 'active' })), false);
  // an earlier consult that ended, and a second one that answered
  assert.equal(consultAnswered(withLegs(leg({ answered_at: at, ended_at: at, state: 'ended' }),
    leg({ call_control_id: 'v3:cid-leg', agent_id: 'cid', answered_at: at, state: 'active' }))), true);
});

test('recent calls: the customer number, direction, when, and how it went', () => {
  const rows = recentRows([
    rec('ended', { direction: 'inbound', from: '+15557770009', initiated_at: new Date(T - 5 * 60000).toISOString(),
      talk_seconds: 42, wrapup: { disposition: 'Follow-up' } }),
    rec('ended', { initiated_at: new Date(T - 2 * 3600000).toISOString(), talk_seconds: null }),
    rec('active', { initiated_at: new Date(T - 10000).toISOString() }),
  ], 'ann', T);
  assert.deepEqual(rows.map((r) => [r.number, r.arrow, r.when, r.outcome]), [
    ['+15557770009', '↙', '5 min ago', '0:42 · Follow-up'],
    ['+15550100001', '↗', '2 h ago', 'missed'],
    ['+15550100001', '↗', 'just now', 'active'],
  ]);
});

test('call quality: a clean loopback call is good, delay and loss bring it down', () => {
  assert.deepEqual(mos({ rtt: 0.001, jitter: 0.001, lost: 0, received: 100 }), { mos: 4.4, label: 'good' });
  assert.equal(mos({ rtt: 0.6, jitter: 0.05, lost: 0, received: 100 }).label, 'fair');
  assert.equal(mos({ rtt: 0.05, jitter: 0.01, lost: 20, received: 80 }).label, 'poor');
  assert.equal(mos({ rtt: 2, jitter: 0.5, lost: 90, received: 10 }).mos, 1);
  assert.deepEqual(mos({}), { mos: 4.4, label: 'good' }, 'nothing measured yet: no penalty');
});

test("the agent's own presence: what the header shows and what its button asks the relay for", () => {
  assert.deepEqual(presenceView('available'), { label: 'Available', action: 'Go offline', status: 'offline' });
  assert.deepEqual(presenceView('offline'), { label: 'Offline', action: 'Go available', status: 'available' });
  // wrap-up: available ends it early
  assert.deepEqual(presenceView('wrap_up'), { label: 'Wrap-up', action: 'Go available', status: 'available' });
  // on a call the call's end moves her: no button
  assert.deepEqual(presenceView('busy'), { label: 'On a call', action: null, status: null });
  // not known yet (before the relay answers), or a status this page does not know
  assert.deepEqual(presenceView(null), { label: '', action: null, status: null });
  assert.deepEqual(presenceView('lunch'), { label: '', action: null, status: null });
});

test("the wallboard's agents after one changed: replaced in place, or added in id order; the list it was given is not touched", () => {
  const before = [{ id: 'alice', status: 'busy' }, { id: 'carol', name: 'Carol', status: 'available' }];
  const copy = JSON.parse(JSON.stringify(before));
  assert.deepEqual(withAgent(before, { id: 'carol', name: 'Carol', status: 'wrap_up' }),
    [{ id: 'alice', status: 'busy' }, { id: 'carol', name: 'Carol', status: 'wrap_up' }]);
  assert.deepEqual(withAgent(before, { id: 'bob', status: 'offline' }).map((a) => a.id), ['alice', 'bob', 'carol']);
  assert.deepEqual(withAgent([], { id: 'dana', status: 'available' }), [{ id: 'dana', status: 'available' }]);
  // removed (callsync-ctl agent rm): their row goes; an unknown one changes nothing
  assert.deepEqual(withAgent(before, { id: 'carol' }, true), [{ id: 'alice', status: 'busy' }]);
  assert.deepEqual(withAgent(before, { id: 'zed' }, true), before);
  assert.deepEqual(before, copy);
});
