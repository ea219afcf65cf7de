// One agent, two tabs: one live softphone (the Web Lock holder runs the
// SDK), the other a mirror that shows the call and can hang it up; the
// mirror takes over when the live tab closes. And the relay going away:
// a "Reconnecting…" banner, then the calls come back with the hello.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, until } from './lib.mjs';

let stack;
let url;
let first;
let second;
const shots = process.env.CALLSYNC_ARTIFACTS || join(process.cwd(), 'artifacts');

before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await new Stack({ backbone: true }).start();
  const a = await stack.agent('tia');
  stack.ctl('agent', 'set', 'tia', '--sip-user', a.user, '--name', 'Tia', '--status', 'available',
    '--credential', a.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/tia/token');
  url = `${stack.relay}/?token=${encodeURIComponent(token)}`;
  // two tabs of one browser profile: they share Web Locks
  const ctx = await stack.browser.newContext();
  first = await ctx.newPage();
  await first.goto(url);
  await until('the first tab live', () => first.evaluate(() => window.softphone && window.softphone.live));
  second = await ctx.newPage();
  await second.goto(url);
  await until('the second tab ready', async () => (await second.getByRole('status').textContent()) === 'Ready', 15000);
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

const status = (p) => p.getByRole('status').textContent();
const waitStatus = (p, want, ms = 15000) => until(`"${want}"`, async () => (await status(p)) === want, ms);

test('two tabs: an inbound call rings in both, and Answer in the mirror answers it (the relay tells the live tab)', async () => {
  assert.equal(await second.evaluate(() => window.softphone.live), false);
  stack.ctl('agent', 'set', 'tia', '--status', 'available');
  await stack.rest('POST', '/sim/numbers', { number: '+15557770021', ring_ms: 0 });
  await stack.rest('POST', '/sim/calls', { from: '+15557770021', to: '+15550009999' });
  await waitStatus(first, 'Incoming call');
  await waitStatus(second, 'Incoming call');
  assert.equal(await second.locator('#remote').textContent(), '+15557770021');
  await second.screenshot({ path: join(shots, 'tabs-mirror-incoming.png') });
  await second.getByRole('button', { name: 'Answer' }).click();
  await waitStatus(first, 'In call');
  await waitStatus(second, 'In call');
  const rec = await until('the record', () => second.evaluate(() => window.softphone.record));
  const leg = await until("tia's leg answered", () => {
    const r = stack.ctl('call', rec.id);
    return r.legs.find((l) => l.agent_id === 'tia' && l.role !== 'customer' && l.answered_at);
  });
  assert.equal(leg.role, 'agent');
  assert.equal(await first.evaluate(() => window.softphone.sdkState), 'active', 'the live tab\'s SDK answered');
  await second.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus(first, 'Call ended');
  await waitStatus(second, 'Call ended');
  // and an answer for a call that does not ring at tia is refused
  const refused = await second.evaluate((id) => new Promise((resolve) => {
    const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws${location.search}`);
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'answer', call: id }));
      if (m.type === 'error') { ws.close(); resolve(m.error); }
    };
  }), rec.id);
  assert.equal(refused, 'nothing of this agent rings on that call');
});

test('two relays: Answer from a socket on one relay reaches the live tab on the other (relay.push)', async () => {
  const port2 = await stack.startRelay('relay2');
  const { body: { token } } = await stack.crm('POST', '/v1/agents/tia/token');
  const other = await stack.page();
  await other.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${port2}/ws?token=${token}`);
  await until('hello from the second relay', () => other.evaluate(() => window.relay.find('hello')));
  stack.ctl('agent', 'set', 'tia', '--status', 'available');
  await stack.rest('POST', '/sim/numbers', { number: '+15557770022', ring_ms: 0 });
  await stack.rest('POST', '/sim/calls', { from: '+15557770022', to: '+15550009999' });
  await waitStatus(first, 'Incoming call');
  const ringing = await until('the ringing call pushed to the second relay\'s socket', () => other.evaluate(() =>
    window.relay.find('call', (m) => m.call.state !== 'ended' && m.call.legs.some((l) => l.agent_id === 'tia' && !l.answered_at))));
  const leg = ringing.call.legs.find((l) => l.agent_id === 'tia');
  await other.evaluate((m) => window.relay.send({ type: 'answer', call: m.call.id, leg: m.leg }), { call: ringing.call, leg: leg.call_control_id });
  await waitStatus(first, 'In call');
  assert.equal(await first.evaluate(() => window.softphone.sdkState), 'active', 'the live tab\'s SDK answered');
  await first.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus(first, 'Call ended');
  await other.context().close();
});

test('two tabs: the second mirrors the first one\'s call and can hang it up; it takes over when the first closes', async () => {
  assert.equal(await second.evaluate(() => window.softphone.live), false);
  assert.equal(await second.locator('#mirror').isVisible(), true);
  await first.getByLabel('Number').fill('+15550100001');
  await first.getByRole('button', { name: 'Call' }).click();
  await waitStatus(first, 'In call');
  await waitStatus(second, 'In call');
  await until('the mirror\'s timer', () => second.getByRole('timer').isVisible());
  assert.equal(await second.getByRole('button', { name: 'Mute' }).isDisabled(), true, 'the media is in the other tab');
  await second.screenshot({ path: join(shots, 'tabs-mirror.png') });
  const id = (await second.evaluate(() => window.softphone.record)).id;
  await second.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus(second, 'Call ended');
  await waitStatus(first, 'Call ended');
  await until('every leg ended', () => {
    const r = stack.ctl('call', id);
    return r.state === 'ended' && r.legs.every((l) => l.ended_at);
  });
  await first.close();
  await until('the second tab live', () => second.evaluate(() => window.softphone.live));
  await until('its SDK ready', async () => !(await second.getByRole('button', { name: 'Call' }).isDisabled()), 15000);
  assert.equal(await second.locator('#mirror').isVisible(), false);
});

test('the relay restarts mid-call: a Reconnecting… banner, then the call is still there; quality shown; Alt+H hangs up', async () => {
  await second.getByLabel('Number').fill('+15550100001');
  await second.getByRole('button', { name: 'Call' }).click();
  await waitStatus(second, 'In call');
  const banner = second.getByRole('alert');
  const restarted = stack.restartRelay(1500);
  await until('the banner', () => banner.isVisible(), 5000);
  assert.equal(await banner.textContent(), 'Reconnecting…');
  await second.screenshot({ path: join(shots, 'tabs-reconnecting.png') });
  await restarted;
  await until('the banner gone', async () => !(await banner.isVisible()), 15000);
  assert.equal(await status(second), 'In call');
  // the quality indicator, from getStats: loopback is good
  await until('the quality', async () => /^Quality: good \(MOS 4\.\d\)$/.test(await second.locator('#quality').textContent()));
  // the keyboard: Alt+H hangs up (as the button says)
  assert.equal(await second.getByRole('button', { name: 'Hang up' }).getAttribute('aria-keyshortcuts'), 'Alt+H');
  await second.keyboard.press('Alt+h');
  await waitStatus(second, 'Call ended');
});

test('devices: the chosen microphone is the one the call sends from (kept across reloads)', async () => {
  await second.locator('#devices > summary').click();
  const mic = second.getByLabel('Microphone');
  await until('the microphones', async () => (await mic.locator('option').count()) > 1);
  const options = await mic.locator('option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  const pick = options[options.length - 1];
  await mic.selectOption(pick.value);
  await second.reload();
  await until('live again', () => second.evaluate(() => window.softphone && window.softphone.live), 15000);
  await until('ready', async () => !(await second.getByRole('button', { name: 'Call' }).isDisabled()), 15000);
  await second.getByLabel('Number').fill('+15550100001');
  await second.getByRole('button', { name: 'Call' }).click();
  await waitStatus(second, 'In call');
  assert.equal(await second.evaluate(() => window.softphone.micDevice()), pick.value, `the call sends from ${pick.label}`);
  await second.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus(second, 'Call ended');
});
