// The softphone embedded in a CRM page (web/crm-example.html, the relay
// serves it): <callsync-softphone> puts it in an iframe; a tel: link and
// Callsync.dial() place calls through it; the page hears its state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, until } from './lib.mjs';

let stack;
let page;
let phone;
const shots = process.env.CALLSYNC_ARTIFACTS || join(process.cwd(), 'artifacts');

before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await new Stack({ backbone: true }).start();
  const a = await stack.agent('eve');
  stack.ctl('agent', 'set', 'eve', '--sip-user', a.user, '--name', 'Eve', '--status', 'available',
    '--credential', a.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/eve/token');
  page = await (await stack.browser.newContext()).newPage();
  await page.goto(`${stack.relay}/crm-example.html?token=${encodeURIComponent(token)}`);
  phone = page.frameLocator('iframe[title="callsync softphone"]');
  await until('the embedded softphone ready', async () =>
    (await phone.getByRole('status').textContent().catch(() => '')) === 'Ready', 20000);
  // its SDK logged in: the Call button says so
  await until('its phone connected', async () => !(await phone.getByRole('button', { name: 'Call' }).isDisabled()), 20000);
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

const waitStatus = (want, ms = 15000) =>
  until(`"${want}"`, async () => (await phone.getByRole('status').textContent()) === want, ms);
const log = () => page.getByRole('list', { name: 'Softphone events' }).textContent();

test('a tel: link on the CRM page dials through the embedded softphone; the page hears its state', async () => {
  await page.getByRole('link', { name: '+1 555 010 0001' }).click();
  await waitStatus('In call');
  await until('the page heard it', async () => /In call · \+15550100001/.test(await log()));
  await page.screenshot({ path: join(shots, 'embed-in-call.png') });
  await phone.getByRole('button', { name: 'Hang up' }).click();
  await waitStatus('Call ended');
  await until('the page heard the end', async () => /Call ended/.test(await log()));
});

test('Callsync.dial() from the page (a contact\'s Call button); bad numbers are refused', async () => {
  await page.getByRole('button', { name: 'Call Charles' }).click();
  await waitStatus('In call');
  assert.equal(await phone.getByLabel('Number').inputValue(), '+15550100004');
  await waitStatus('Call ended', 10000); // +4 hangs up 3 s after answering
  const err = await page.evaluate(() => { try { Callsync.dial('not a number'); return null; } catch (e) { return e.message; } });
  assert.match(err, /not a number to dial/);
  const calls = await stack.crm('GET', `/v1/calls?since=${Date.now() - 60000}&agent=eve`);
  assert.deepEqual(calls.body.map((c) => c.to), ['+15550100004', '+15550100001']);
});
