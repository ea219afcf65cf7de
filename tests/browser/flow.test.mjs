// The whole backbone with the real SDK (issues 4 and 5): Redis, bus,
// ingestor, orchestrator and timer between Chromium and the sim. The
// record is read with callsync-ctl, as an operator (or the relay) would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, until } from './lib.mjs';

let stack;
let agent;
before(async () => {
  stack = await new Stack({ backbone: true }).start();
  agent = await stack.agent('alice');
  stack.ctl('agent', 'set', 'alice', '--sip-user', agent.user, '--status', 'available');
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64');

async function loggedIn() {
  const page = await stack.page();
  assert.equal(await page.evaluate(([h, t]) => window.cs.connect({ host: h, login_token: t }),
    [`ws://127.0.0.1:${stack.simPort}`, agent.token]), 'ready');
  return page;
}

async function record(id, pred, what) {
  return until(what, () => { const r = stack.ctl('call', id); return pred(r) && r; }, 15000);
}

async function agentAvailable() {
  // after a call the agent is in wrap-up; the test puts her back at once
  stack.ctl('agent', 'set', 'alice', '--sip-user', agent.user, '--status', 'available');
}

test('click to call from the browser: the record is made first, the SDK calls at once, the orchestrator transfers the parked leg; talk time starts at the customer\'s answer', async () => {
  const page = await loggedIn();
  const rec = stack.ctl('dial', '--agent', 'alice', '--to', '+15550100001', '--browser');
  assert.equal(rec.state, 'dialing');
  const id = await page.evaluate(([state, cs]) => window.cs.newCall({
    destinationNumber: '+15550100001', callerNumber: '+15550009999', clientState: state,
    customHeaders: [{ name: 'X-Callsync-Id', value: cs }],
  }), [b64({ cs: rec.id }), rec.id]);
  await record(rec.id, (r) => r.state === 'ringing', 'ringing');
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id, { timeout: 15000 });
  const active = await record(rec.id, (r) => r.state === 'active', 'active');
  assert.equal(active.direction, 'outbound');
  assert.equal(active.agent_id, 'alice');
  assert.equal(active.to, '+15550100001');
  const customer = active.legs.find((l) => l.role === 'customer');
  const agentLeg = active.legs.find((l) => l.role === 'agent');
  assert.ok(customer && agentLeg);
  const ids = (await page.evaluate((i) => window.cs.last(i), id)).ids;
  assert.equal(ids.telnyxCallControlId, agentLeg.call_control_id);
  // talk starts at the customer's answer (provider time), not at the click
  const sim = await stack.simLeg(customer.call_control_id);
  assert.equal(active.answered_at, sim.answered_at);
  assert.ok(Date.parse(active.answered_at) - Date.parse(rec.initiated_at || active.initiated_at) >= 900,
    'about one second of ringing is not talk time');
  await until('audio', async () => (await page.evaluate((i) => window.cs.audio(i), id))?.bytesReceived > 0);
  await page.evaluate((i) => window.cs.hangup(i), id);
  const ended = await record(rec.id, (r) => r.state === 'ended' && r.legs.every((l) => l.ended_at !== null && l.ended_at !== undefined) , 'ended');
  assert.ok(ended.talk_seconds >= 0);
  // the orchestrator ended the customer's leg too
  await until('the customer leg ends', async () => !(await stack.simLeg(customer.call_control_id)).is_alive);
  await page.context().close();
  await agentAvailable();
});

test('a busy customer: the call ends, the page hears USER_BUSY', async () => {
  const page = await loggedIn();
  const rec = stack.ctl('dial', '--agent', 'alice', '--to', '+15550100002', '--browser');
  const id = await page.evaluate((state) => window.cs.newCall({
    destinationNumber: '+15550100002', clientState: state }), b64({ cs: rec.id }));
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id, { timeout: 15000 });
  assert.equal((await page.evaluate((i) => window.cs.last(i), id)).cause, 'USER_BUSY');
  const r = await record(rec.id, (x) => x.state === 'ended', 'ended');
  assert.equal(r.hangup_cause, 'user_busy');
  assert.equal(r.answered_at, null);
  await page.context().close();
  await agentAvailable();
});

test('inbound: routed to the available agent, whose SDK rings; answered in the page; callsync-ctl hangup ends it everywhere', async () => {
  const page = await loggedIn();
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770001', to: '+15550009999' });
  const customer = inbound.body.data.call_control_id;
  const id = await until('the page rings', () => page.evaluate(() => window.cs.incoming()), 15000);
  await page.evaluate((i) => window.cs.answer(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const r = await record(customer, (x) => x.state === 'active', 'active');
  assert.equal(r.direction, 'inbound');
  assert.equal(r.agent_id, 'alice');
  assert.equal(r.from, '+15557770001');
  stack.ctl('hangup', r.id);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id, { timeout: 15000 });
  await record(r.id, (x) => x.state === 'ended', 'ended');
  await until('the customer leg ends', async () => !(await stack.simLeg(customer)).is_alive);
  await page.context().close();
});

test('inbound with nobody available: the caller waits in line, ringing, and rings the agent as soon as she is available; answered in the page', async () => {
  const page = await loggedIn();
  stack.ctl('agent', 'set', 'alice', '--sip-user', agent.user, '--status', 'offline');
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770003', to: '+15550009999' });
  const customer = inbound.body.data.call_control_id;
  // the sim answers the POST before its call.initiated reaches the ingestor
  const known = () => { try { return stack.ctl('call', customer); } catch { return null; } };
  const { id } = await until('the record', known, 15000);
  await until('in line', () => JSON.stringify(stack.ctl('events', id)).includes('waiting for an agent'));
  assert.equal(await page.evaluate(() => window.cs.incoming()), null, 'nobody is rung meanwhile');
  assert.equal((await stack.simLeg(customer)).is_alive, true, 'the caller is still there, hearing ringing');
  assert.equal(stack.ctl('call', id).state, 'ringing');

  stack.ctl('agent', 'set', 'alice', '--sip-user', agent.user, '--status', 'available');
  const sdkId = await until('the page rings', () => page.evaluate(() => window.cs.incoming()), 15000);
  await page.evaluate((i) => window.cs.answer(i), sdkId);
  const r = await record(id, (x) => x.state === 'active', 'active');
  assert.equal(r.agent_id, 'alice');
  stack.ctl('hangup', id);
  await record(id, (x) => x.state === 'ended', 'ended');
  await agentAvailable();
  await page.context().close();
});
