// The softphone as a person uses it (ARCHITECTURE §6: accessible names),
// served by the relay, with the whole backbone and the sim behind it: the
// five symptoms of a broken softphone are each checked here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, until } from './lib.mjs';

const shots = process.env.CALLSYNC_ARTIFACTS || join(process.cwd(), 'artifacts');

let stack;
let agent;
let page;
before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await new Stack({ backbone: true }).start();
  agent = await stack.agent('dana');
  stack.ctl('agent', 'set', 'dana', '--sip-user', agent.user, '--name', 'Dana', '--status', 'available',
    '--credential', agent.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/dana/token');
  const ctx = await stack.browser.newContext();
  page = await ctx.newPage();
  if (process.env.CALLSYNC_DEBUG) page.on('console', (m) => console.error(`page: ${m.text()}`));
  await page.goto(`${stack.relay}/?token=${encodeURIComponent(token)}`);
  await until('Ready', async () => (await status()) === 'Ready', 15000);
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

const status = () => page.getByRole('status').textContent();
const timerShown = () => page.getByRole('timer').isVisible();

async function waitStatus(want, ms = 15000) {
  const seen = [];
  await until(`status "${want}"`, async () => {
    const s = await status();
    if (seen[seen.length - 1] !== s) seen.push(s);
    return s === want;
  }, ms);
  return seen;
}

test('outbound: Calling…, Ringing… (no timer), In call with the timer from the answer, Hang up ends every leg', async () => {
  await page.getByLabel('Number').fill('+15550100001');
  const clicked = Date.now();
  await page.getByRole('button', { name: 'Call' }).click();
  const seen = await waitStatus('Ringing…');
  assert.ok(seen.includes('Calling…') || seen.includes('Ringing…'));
  assert.equal(await timerShown(), false, 'no timer while it rings');
  await waitStatus('In call');
  // the timer appears with the provider's answer (the webhook, pushed)
  await until('the timer', () => timerShown());
  const rec = await page.evaluate(() => window.softphone.record);
  assert.ok(rec.answered_at, 'the record has the provider answer');
  // symptom 1: talk time starts at the answer, about 1 s after the click
  assert.ok(Date.parse(rec.answered_at) - clicked >= 800);
  assert.match(await page.getByRole('timer').textContent(), /^0:0\d$/);
  // symptom 2: audio is flowing by the answer (early media built the path)
  const a = await page.evaluate(() => window.softphone.stats());
  assert.ok(a.bytesReceived > 0 && a.bytesSent > 0, `audio both ways at the answer: ${JSON.stringify(a)}`);
  // ... and the record knows it: the softphone reports its first packet
  // after the answer, the record derives the post-answer audio gap
  const gap = await until('the audio gap on the record', () => {
    const r = stack.ctl('call', rec.id);
    return r.post_answer_audio_gap_ms !== null && r;
  });
  assert.ok(gap.post_answer_audio_gap_ms > -100 && gap.post_answer_audio_gap_ms < 1000,
    `post_answer_audio_gap_ms ${gap.post_answer_audio_gap_ms}`);
  await page.getByRole('button', { name: 'Hold' }).click();
  await waitStatus('On hold');
  await page.getByRole('button', { name: 'Hold' }).click();
  await waitStatus('In call');
  // symptom 4: Hang up works, and the record says so for every leg
  await page.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus('Call ended');
  assert.equal(await timerShown(), false);
  const ended = await until('both legs ended', () => {
    const r = stack.ctl('call', rec.id);
    return r.state === 'ended' && r.legs.length === 2 && r.legs.every((l) => l.ended_at) && r;
  });
  assert.ok(ended.talk_seconds >= 0);
});

test("the dashboard: a supervisor sees a row per live call, its timer, agents by presence and today's calls; an agent is refused", async () => {
  stack.ctl('agent', 'set', 'sam', '--sip-user', 'sam01', '--name', 'Sam', '--status', 'offline', '--role', 'supervisor');
  const { body: { token: samToken } } = await stack.crm('POST', '/v1/agents/sam/token');
  const ctx = await stack.browser.newContext();
  const board = await ctx.newPage();
  await board.goto(`${stack.relay}/dashboard?token=${encodeURIComponent(samToken)}`);
  await until('the board', () => board.evaluate(() => !!window.dashboard));
  // today's figures come from the server: the call of the test before is there
  await until("today's calls", async () => /answered 1/.test(await board.locator('#outcomes').textContent()));
  const rows = board.getByRole('table', { name: 'Live calls' }).locator('tbody tr');
  // dana calls; the wallboard shows the call, then its talk time
  stack.ctl('agent', 'set', 'dana', '--sip-user', agent.user, '--status', 'available');
  await page.getByLabel('Number').fill('+15550100001');
  await page.getByRole('button', { name: 'Call' }).click();
  await until('a row', async () => (await rows.count()) === 1, 15000);
  await waitStatus('In call');
  await until('talk time on the board', async () => /^0:0\d$/.test(await rows.first().locator('td').nth(4).textContent()), 15000);
  const cells = await rows.first().locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 4), ['Dana', 'outbound', '+15550100001', 'In call']);
  await until('dana busy on the board', async () => /On a call: 1 \(Dana\)/.test(await board.locator('#presence').textContent()));
  // her row in the agents table: on a call, for how long
  const danaRow = board.getByRole('table', { name: 'Agent status' }).locator('tr[data-agent="dana"] td');
  await until('Dana on a call in the agents table', async () => (await danaRow.nth(1).textContent()) === 'On a call');
  assert.equal(await danaRow.nth(0).textContent(), 'Dana');
  assert.match(await danaRow.nth(2).textContent(), /^0:\d\d$/);
  await board.screenshot({ path: `${shots}/dashboard.png` });
  await page.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus('Call ended');
  await until('the row goes', async () => (await rows.count()) === 0, 15000);
  await until('the outcome', async () => /answered 2/.test(await board.locator('#outcomes').textContent()));
  // an agent's token does not open the wallboard
  const { body: { token: danaToken } } = await stack.crm('POST', '/v1/agents/dana/token');
  const refused = await ctx.newPage();
  await refused.goto(`${stack.relay}/dashboard?token=${encodeURIComponent(danaToken)}`);
  await until('refused', async () => /supervisors/.test(await refused.locator('#note').textContent()));
  await ctx.close();
});

test('inbound: the softphone rings with the caller and pops the CRM contact, Answer puts it in call, the caller hangs up; wrap-up and recent calls', async () => {
  stack.ctl('agent', 'set', 'dana', '--sip-user', agent.user, '--status', 'available');
  await stack.rest('POST', '/sim/numbers', { number: '+15557770009', ring_ms: 0 });
  assert.equal((await stack.crm('POST', '/v1/contacts',
    { number: '+15557770009', name: 'Grace Hopper', company: 'Navy', url: 'https://crm.example/c/9' })).status, 200);
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770009', to: '+15550009999' });
  const customer = inbound.body.data.call_control_id;
  try {
    await waitStatus('Incoming call');
  } catch (e) {
    throw new Error(`${e.message}; the page: ${JSON.stringify(await page.evaluate(() => ({ sdkState: window.softphone.sdkState, callId: window.softphone.callId, view: window.softphone.view })))}`);
  }
  assert.equal(await page.locator('#remote').textContent(), '+15557770009');
  // screen pop: the CRM's contact for the caller, while it rings
  await until('the contact', async () => /Grace Hopper · Navy/.test(await page.locator('#contact').textContent()));
  assert.equal(await page.getByRole('link', { name: 'Open in CRM' }).getAttribute('href'), 'https://crm.example/c/9');
  await page.screenshot({ path: `${shots}/softphone-incoming.png` });
  await page.getByRole('button', { name: 'Answer' }).click();
  await waitStatus('In call');
  await until('the timer', () => timerShown());
  // the screen renders the call's record, found by the SDK leg's control id
  const rec = await until('the record', () => page.evaluate(() => window.softphone.record));
  assert.equal(rec.direction, 'inbound');
  assert.equal(rec.from, '+15557770009');
  assert.equal(rec.agent_id, 'dana');
  await stack.rest('POST', `/v2/calls/${encodeURIComponent(customer)}/actions/hangup`, {});
  await waitStatus('Call ended');
  // the summary is the record's: it follows the provider's hangup, which may
  // reach the page after the SDK's own
  await until('the summary', async () => /^Talked 0:0\d · hung up$/.test(await page.locator('#summary').textContent()));
  // wrap-up: a disposition and notes, on the record
  const wrap = page.getByRole('region', { name: 'Wrap-up' });
  await wrap.getByLabel('Disposition').selectOption('Follow-up');
  await wrap.getByLabel('Notes').fill('Wants a callback on Tuesday');
  await wrap.getByRole('button', { name: 'Save' }).click();
  const saved = await until('the wrap-up on the record', () => {
    const r = stack.ctl('call', rec.id);
    return r.wrapup && r;
  });
  assert.deepEqual({ ...saved.wrapup, at: undefined },
    { disposition: 'Follow-up', notes: 'Wants a callback on Tuesday', agent_id: 'dana', at: undefined });
  await until('"Saved"', async () => (await page.locator('#wrapup-saved').textContent()) === 'Saved: Follow-up');
  // recent calls: this one, with how it went
  const recent = page.getByRole('region', { name: 'Recent calls' });
  await until('the call in recent calls', async () =>
    /Follow-up/.test(await recent.locator('li', { hasText: '+15557770009' }).first().textContent().catch(() => '')));
  await page.screenshot({ path: `${shots}/softphone-wrapup.png` });
  // a number in the list fills the dial input
  await recent.getByRole('button', { name: '+15557770009' }).first().click();
  assert.equal(await page.getByLabel('Number').inputValue(), '+15557770009');
});

test('Decline passes an inbound call to the next agent; the caller is never dropped', async () => {
  stack.ctl('agent', 'set', 'omar', '--sip-user', 'omar01', '--name', 'Omar', '--status', 'offline');
  stack.ctl('agent', 'set', 'dana', '--sip-user', agent.user, '--status', 'available');
  await stack.rest('POST', '/sim/numbers', { number: '+15557770010', ring_ms: 0 });
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770010', to: '+15550009999' });
  const customer = inbound.body.data.call_control_id;
  await waitStatus('Incoming call');
  // omar comes online while it rings dana (his phone is a desk phone: the sim answers it)
  stack.ctl('agent', 'set', 'omar', '--sip-user', 'omar01', '--status', 'available');
  await page.getByRole('button', { name: 'Decline' }).click();
  await waitStatus('Call ended');
  const rec = await until('omar has it', () => {
    const r = stack.ctl('call', customer);
    return r.agent_id === 'omar' && r.state === 'active' && r;
  }, 15000);
  const dana = rec.legs.find((l) => l.agent_id === 'dana');
  assert.ok(dana.ended_at && !dana.answered_at, "dana's leg ended unanswered");
  assert.ok(!rec.legs.find((l) => l.role === 'customer').ended_at, 'the caller is still there');
  stack.ctl('hangup', rec.id);
});

test("the agent's own presence in the header: Go offline and Go available; On a call while she talks, which only the call's end changes", async () => {
  const presence = () => page.locator('#presence').textContent();
  const dana = () => stack.ctl('agents').find((a) => a.id === 'dana').status;
  stack.ctl('agent', 'set', 'dana', '--sip-user', agent.user, '--status', 'available');
  await until('Available', async () => (await presence()) === 'Available', 5000); // pushed: the page asks only every 30 s
  await page.getByRole('button', { name: 'Go offline' }).click();
  await until('Offline', async () => (await presence()) === 'Offline');
  assert.equal(dana(), 'offline');
  await page.getByRole('button', { name: 'Go available' }).click();
  await until('Available again', async () => (await presence()) === 'Available');
  assert.equal(dana(), 'available');
  // a call: busy on the server, "On a call" here, and no button until it ends
  await page.getByLabel('Number').fill('+15550100004'); // answers, then hangs up 3 s later
  await page.getByRole('button', { name: 'Call' }).click();
  await waitStatus('In call');
  await until('On a call', async () => (await presence()) === 'On a call');
  assert.equal(await page.locator('#presence-toggle').isVisible(), false);
  await waitStatus('Call ended');
  await until('out of the call', async () => ['Wrap-up', 'Available'].includes(await presence()), 5000);
  if ((await presence()) === 'Wrap-up') await page.getByRole('button', { name: 'Go available' }).click();
  await until('Available after it', async () => (await presence()) === 'Available');
  assert.equal(dana(), 'available');
});
