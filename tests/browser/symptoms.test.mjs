// The five symptoms of a broken CRM softphone (ARCHITECTURE §1), one test
// each, with the limits issue 6 sets, driving the UI by its accessible
// names: the timer, "In call", audio at the answer, Hang up (also with the
// SDK's socket cut), and a webhook storm. Times are compared on one clock:
// the sim's provider times and the page run on the same machine.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, until } from './lib.mjs';

let stack;
let agent;
let page;
before(async () => {
  stack = await new Stack({ backbone: true }).start();
  agent = await stack.agent('sy');
  stack.ctl('agent', 'set', 'sy', '--sip-user', agent.user, '--name', 'Sy', '--status', 'available',
    '--credential', agent.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/sy/token');
  page = await (await stack.browser.newContext()).newPage();
  await page.goto(`${stack.relay}/?token=${encodeURIComponent(token)}`);
  await until('Ready', async () => (await status()) === 'Ready', 15000);
  // every change of the status line, with the page's clock
  await page.evaluate(() => {
    window.seen = [];
    const el = document.getElementById('status');
    new MutationObserver(() => window.seen.push({ s: el.textContent, at: Date.now() }))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

// a test that failed half-way leaves no call up for the next one
let current = null;
afterEach(async () => {
  if (!current) return;
  const r = stack.ctl('call', current);
  if (r.state !== 'ended') stack.ctl('hangup', current);
  await waitStatus('Call ended').catch(() => {});
  current = null;
});

const status = () => page.getByRole('status').textContent();
const waitStatus = (want, ms = 15000) => until(`"${want}"`, async () => (await status()) === want, ms);
const record = () => page.evaluate(() => window.softphone.record);

// The timer shows whole seconds of now - answered_at (m:ss, rounded down)
// and is redrawn 4 times a second: it may show up to 1.25 s less than the
// exact talk time, never more.
function timerOk(shown, answeredMs) {
  const [m, s] = shown.split(':').map(Number);
  const exact = (Date.now() - answeredMs) / 1000;
  return { ok: m * 60 + s <= exact + 0.05 && m * 60 + s >= exact - 1.3, exact };
}

async function call(number) {
  await page.evaluate(() => { window.seen = []; });
  await page.getByLabel('Number').fill(number);
  const clicked = Date.now();
  await page.getByRole('button', { name: 'Call' }).click();
  await waitStatus('In call');
  current = (await record())?.id ?? null; // afterEach hangs it up if what follows fails
  // the provider's answer (the SDK's "active" may come first, on the
  // browser's clock; the provider's time then wins, ARCHITECTURE §3)
  const rec = await until("the provider's answer on the record", async () => {
    const r = await record();
    return r && r.answered_at && r.answered_source === 'webhook' && r;
  });
  current = rec.id;
  return { clicked, rec };
}

async function hangUpAndCheck(id) {
  await page.getByRole('button', { name: 'Hang up' }).click();
  const at = Date.now();
  await waitStatus('Call ended', 1000);
  assert.ok(Date.now() - at <= 1000, '"Call ended" within 1 s of Hang up');
  await until('every leg ended', () => {
    const r = stack.ctl('call', id);
    return r.state === 'ended' && r.legs.length >= 2 && r.legs.every((l) => l.ended_at);
  }, 5000);
}

test('1. the timer: none until the customer answers, then it counts from the answer (within 1 s)', async () => {
  const { clicked, rec } = await call('+15550100001');
  const answered = Date.parse(rec.answered_at);
  assert.ok(answered - clicked >= 800, 'the answer came about 1 s after the click');
  const timerBefore = (await page.evaluate(() => window.seen)).filter((e) => e.at < answered - 50);
  assert.ok(timerBefore.every((e) => e.s !== 'In call'), 'not in call before the answer');
  await until('the timer', () => page.getByRole('timer').isVisible());
  await page.waitForTimeout(1200);
  const shown = await page.getByRole('timer').textContent();
  const t = timerOk(shown, answered);
  assert.ok(t.ok, `the timer ${shown} is now - answered_at (${t.exact.toFixed(2)} s), rounded down`);
  await hangUpAndCheck(rec.id);
});

test('2. "In call" within 300 ms of the answer; 3. remote audio within 300 ms of it', async () => {
  const { rec } = await call('+15550100006'); // no early media: the path must be ready anyway
  const answered = Date.parse(rec.answered_at);
  const inCall = (await page.evaluate(() => window.seen)).find((e) => e.s === 'In call');
  assert.ok(inCall.at - answered <= 300, `"In call" ${inCall.at - answered} ms after the answer`);
  const gap = await until('the audio gap', () => {
    const r = stack.ctl('call', rec.id);
    return r.post_answer_audio_gap_ms !== null && r.post_answer_audio_gap_ms;
  });
  assert.ok(gap <= 300, `first remote audio ${gap} ms after the answer`);
  await hangUpAndCheck(rec.id);
});

test('4. Hang up with the SDK\'s socket cut: "Call ended" within 1 s, every leg ended by the server', async () => {
  const { rec } = await call('+15550100001');
  const r = await stack.rest('POST', '/sim/rtc/drop', { user: agent.user });
  assert.equal(r.status, 200);
  await hangUpAndCheck(rec.id);
  const hist = stack.ctl('events', rec.id).map((e) => e.event.type);
  assert.ok(hist.includes('callsync.hangup_requested'), 'the request is on the record');
});

test('5. a webhook storm (duplicates, reordering) changes nothing the UI shows', async () => {
  await stack.rest('POST', '/sim/faults', { duplicate_rate: 0.5, reorder_ms: 300 });
  try {
    const { rec } = await call('+15550100001');
    await page.waitForTimeout(1500); // the storm's duplicates and late events arrive
    const seen = (await page.evaluate(() => window.seen)).map((e) => e.s);
    const order = ['Calling…', 'Ringing…', 'In call'];
    let at = -1;
    for (const s of seen) {
      const i = order.indexOf(s);
      assert.ok(i >= at, `the status never goes back: ${seen.join(' → ')}`);
      at = i;
    }
    assert.equal(await status(), 'In call');
    const r = stack.ctl('call', rec.id);
    assert.equal(r.answered_at, rec.answered_at, 'the answer time never moves');
    await hangUpAndCheck(rec.id);
  } finally {
    await stack.rest('POST', '/sim/faults', {});
  }
});

test('a page reload mid-call keeps the call, its timer and Hang up', async () => {
  const { rec } = await call('+15550100001');
  await page.waitForTimeout(1500);
  await page.reload();
  await waitStatus('In call');
  await until('the timer again', () => page.getByRole('timer').isVisible());
  const shown = await page.getByRole('timer').textContent();
  const t = timerOk(shown, Date.parse(rec.answered_at));
  assert.ok(t.ok, `the timer ${shown} still counts from the answer (${t.exact.toFixed(2)} s)`);
  // the SDK got the call back (telnyx_rtc.attach), so media and Hang up work
  await until('audio after the reload', async () => {
    const a = await page.evaluate(() => window.softphone.stats());
    return a && a.bytesReceived > 0;
  }, 10000);
  await hangUpAndCheck(rec.id);
});
