// The real @telnyx/webrtc 2.27.10 in Debian's chromium against callsync-sim
// (issue 4): login, calls both ways through Call Control, hold, DTMF,
// hangups from either side, a socket cut mid-call, and real audio both
// ways. The test plays the orchestrator's part with plain REST calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, until } from './lib.mjs';

let stack;
before(async () => { stack = await new Stack().start(); });
after(async () => {
  await stack.stop();
  assert.equal(stack.simExit.code, 0, 'the sim stops cleanly on SIGTERM');
});

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64');

async function loggedIn(agent) {
  const page = await stack.page();
  const host = `ws://127.0.0.1:${stack.simPort}`;
  assert.equal(await page.evaluate(([h, t]) => window.cs.connect({ host: h, login_token: t }),
    [host, agent.token]), 'ready');
  return page;
}

async function audio(page, id) { return page.evaluate((i) => window.cs.audio(i), id); }

// Places a call from the page and plays the orchestrator: the parked leg
// (call.initiated carrying the page's clientState) is transferred to `to`.
async function outbound(page, to, cs = 'cs_test') {
  const id = await page.evaluate(([dest, state]) => window.cs.newCall({
    destinationNumber: dest, callerNumber: '+15550009999', clientState: state,
    customHeaders: [{ name: 'X-Callsync-Id', value: 'cs_test' }],
  }), [to, b64({ cs })]);
  const init = await stack.webhook('call.initiated', (p) => p.client_state === b64({ cs }) && p.to === to);
  assert.equal(init.payload.state, 'parked');
  assert.equal(init.payload.direction, 'incoming');
  assert.deepEqual(init.payload.custom_headers, [{ name: 'X-Callsync-Id', value: 'cs_test' }]);
  const ccid = init.payload.call_control_id;
  const r = await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/transfer`, { to });
  assert.equal(r.status, 200);
  return { id, ccid };
}

test('login with a token; a bad token gets LOGIN_FAILED', async () => {
  const agent = await stack.agent('login');
  const page = await loggedIn(agent);
  const bad = await stack.page();
  const r = await bad.evaluate((h) => window.cs.connect({ host: h, login_token: 'not.a.jwt' }),
    `ws://127.0.0.1:${stack.simPort}`);
  assert.equal(r, 'error');
  const err = await bad.evaluate(() => window.cs.log.find((e) => e.type === 'error'));
  assert.equal(err.code, 46001);
  const pw = await stack.page();
  assert.equal(await pw.evaluate(([h, l, p]) => window.cs.connect({ host: h, login: l, password: p }),
    [`ws://127.0.0.1:${stack.simPort}`, agent.user, agent.password]), 'ready');
  for (const p of [page, bad, pw]) await p.context().close();
});

test('outbound with early media: trying, early, active; ids equal the webhooks; audio both ways; hangup from the page', async () => {
  const page = await loggedIn(await stack.agent('early'));
  const { id, ccid } = await outbound(page, '+15550100001');
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id, { timeout: 10000 });
  const states = await page.evaluate((i) => window.cs.states(i), id);
  assert.deepEqual(states.filter((s) => s !== 'new' && s !== 'requesting'), ['trying', 'early', 'active']);
  const last = await page.evaluate((i) => window.cs.last(i), id);
  const answered = stack.webhooks('call.answered', ccid)[0];
  assert.ok(answered, 'the browser leg was answered by the bridge');
  assert.equal(last.ids.telnyxCallControlId, ccid);
  assert.equal(last.ids.telnyxLegId, answered.payload.call_leg_id);
  assert.equal(last.ids.telnyxSessionId, answered.payload.call_session_id);
  // audio from the far end grows on the page; the sim hears the page
  const a1 = await until('audio at the page', async () => {
    const a = await audio(page, id); return a && a.bytesReceived > 0 && a;
  });
  await until('more audio', async () => (await audio(page, id)).bytesReceived > a1.bytesReceived);
  await until('the sim hears the page', async () => {
    const leg = await stack.simLeg(ccid);
    return leg.webrtc && leg.webrtc.media && leg.webrtc.media.rx_packets > 10;
  });
  await page.evaluate((i) => window.cs.hangup(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  const hangup = await stack.webhook('call.hangup', (p) => p.call_control_id === ccid);
  assert.equal(hangup.payload.hangup_source, 'caller');
  assert.equal(hangup.payload.hangup_cause, 'normal_clearing');
  await page.context().close();
});
