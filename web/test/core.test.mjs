// The softphone's view as a pure function: each of the five symptoms of a
// broken softphone (ARCHITECTURE §1) as a case that would fail if it came back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { view, clock, e164, clientState } from '../src/core.js';

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
    rec('ringing', { id: 'cs_b', agent_id: 'bob', direction: 'inbound', from: '+15557770001' }),
    rec('ended', { id: 'cs_c', answered_at: new Date(T - 9000).toISOString(), talk_seconds: 8, post_answer_audio_gap_ms: 30 }),
    rec('ended', { id: 'cs_d', hangup_cause: 'user_busy' }),
  ];
  const b = board(calls, [{ id: 'alice', status: 'busy' }, { id: 'carol', name: 'Carol', status: 'available' }], T);
  assert.deepEqual(b.rows.map((r) => [r.id, r.number, r.time]), [['cs_a', '+15550100001', '1:05'], ['cs_b', '+15557770001', '']]);
  assert.deepEqual(b.presence, { busy: ['alice'], available: ['Carol'] });
  assert.deepEqual(b.outcomes, { answered: 1, user_busy: 1 });
  assert.equal(b.avgTalk, 8);
  assert.equal(b.avgGap, 21);
  assert.equal(b.p95Gap, 30);
});
