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
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM`);
});

const status = (p) => p.getByRole('status').textContent();
const waitStatus = (p, want, ms = 15000) => until(`"${want}"`, async () => (await status(p)) === want, ms);

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
