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
  assert.equal(stack.sanitizer, null, 'no sanitizer report from the sim');
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
  const headers = Object.fromEntries(init.payload.custom_headers.map((h) => [h.name, h.value]));
  assert.equal(headers['X-Callsync-Id'], 'cs_test');
  assert.equal(headers['X-RTC-CALLID'], id); // Telnyx names the SDK's call for the server
  assert.equal(init.payload.calling_party_type, 'sip');
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

test('outbound without early media: the media path is ready at the answer, nothing plays before it', async () => {
  const page = await loggedIn(await stack.agent('noearly'));
  const { id, ccid } = await outbound(page, '+15550100006', 'cs_noearly');
  await page.waitForFunction((i) => window.cs.states(i).includes('early'), id);
  // ringing, media path up, yet no audio from the far end before the answer
  const leg = await until('DTLS up', async () => {
    const l = await stack.simLeg(ccid); return l.webrtc.media.connected_at > 0 && l;
  });
  assert.equal(leg.webrtc.media.tx_packets, 0);
  assert.equal(stack.webhooks('call.answered', ccid).length, 0);
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const answered = await stack.webhook('call.answered', (p) => p.call_control_id === ccid);
  assert.ok(answered);
  await until('audio after the answer', async () => (await audio(page, id))?.bytesReceived > 0);
  await page.evaluate((i) => window.cs.hangup(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  await page.context().close();
});

// The rest of the scripted numbers through park -> transfer: the states the
// page sees and the cause it is told, for a far end that never answers
// (the transfer's timeout_secs, 5 here), answers then hangs up, or rejects.
for (const [to, body, states, cause, customerCause] of [
  ['+15550100003', { timeout_secs: 5 }, ['trying', 'early', 'hangup', 'destroy'], 'NO_ANSWER', 'timeout'],
  ['+15550100004', {}, ['trying', 'early', 'active', 'hangup', 'destroy'], 'NORMAL_CLEARING', 'normal_clearing'],
  ['+15550100005', {}, ['trying', 'early', 'hangup', 'destroy'], 'CALL_REJECTED', 'call_rejected'],
]) {
  test(`outbound to ${to}: ${states.join(', ')}; the page hears ${cause}`, async () => {
    const page = await loggedIn(await stack.agent(`n${to.slice(-1)}`));
    const cs = `cs_n${to.slice(-1)}`;
    const id = await page.evaluate(([dest, state]) => window.cs.newCall({ destinationNumber: dest, clientState: state }),
      [to, b64({ cs })]);
    const init = await stack.webhook('call.initiated', (p) => p.client_state === b64({ cs }));
    const ccid = init.payload.call_control_id;
    assert.equal((await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/transfer`, { to, ...body })).status, 200);
    // the far end ends the customer's leg; Call Control then ends the browser's, as the orchestrator does
    const ended = await stack.webhook('call.hangup', (p) => p.to === to && p.call_control_id !== ccid &&
      stack.events.some((e) => e.event_type === 'call.initiated' && e.payload.call_control_id === p.call_control_id &&
        e.payload.call_session_id === init.payload.call_session_id), 15000);
    assert.equal(ended.payload.hangup_cause, customerCause);
    await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/hangup`, {});
    await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id, { timeout: 15000 });
    const seen = (await page.evaluate((i) => window.cs.states(i), id)).filter((x) => x !== 'new' && x !== 'requesting');
    assert.deepEqual(seen, states);
    const last = await page.evaluate((i) => window.cs.last(i), id);
    assert.equal(last.cause, cause);
    assert.equal(last.ids.telnyxCallControlId, ccid);
    await page.context().close();
  });
}

test('busy: the transfer fails, Call Control hangs up the parked leg, the page hears USER_BUSY', async () => {
  const page = await loggedIn(await stack.agent('busy'));
  const { id, ccid } = await outbound(page, '+15550100002', 'cs_busy');
  const target = await stack.webhook('call.hangup', (p) => p.to === '+15550100002' && p.call_control_id !== ccid);
  assert.equal(target.payload.hangup_cause, 'user_busy');
  const r = await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/hangup`, {});
  assert.equal(r.status, 200);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  const last = await page.evaluate((i) => window.cs.last(i), id);
  assert.equal(last.cause, 'USER_BUSY');
  assert.equal(last.sipCode, 486);
  await page.context().close();
});

test('inbound to the SDK through its SIP URI: ringing with the caller, answered in the page, bridged; hangup from Call Control', async () => {
  const agent = await stack.agent('inbound');
  const page = await loggedIn(agent);
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770001', to: '+15550000100' });
  const customer = inbound.body.data.call_control_id;
  const r = await stack.rest('POST', `/v2/calls/${encodeURIComponent(customer)}/actions/transfer`, {
    to: `sip:${agent.user}@sip.telnyx.com`, target_leg_client_state: b64({ cs: 'cs_in' }),
  });
  assert.equal(r.status, 200);
  const id = await until('the page rings', () => page.evaluate(() => window.cs.incoming()));
  const ringing = await page.evaluate((i) => window.cs.last(i), id);
  assert.equal(ringing.remoteCallerNumber, '+15557770001');
  assert.equal(ringing.clientState, b64({ cs: 'cs_in' }));
  const agentLeg = stack.events.find((e) => e.event_type === 'call.initiated' &&
    e.payload.to === `sip:${agent.user}@sip.telnyx.com`).payload.call_control_id;
  assert.equal(ringing.ids.telnyxCallControlId, agentLeg);
  await page.evaluate((i) => window.cs.answer(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  await stack.webhook('call.answered', (p) => p.call_control_id === agentLeg);
  await stack.webhook('call.bridged', (p) => p.call_control_id === customer);
  await until('audio both ways', async () => {
    const a = await audio(page, id);
    const leg = await stack.simLeg(agentLeg);
    return a && a.bytesReceived > 0 && leg.webrtc.media.rx_packets > 0;
  });
  await stack.rest('POST', `/v2/calls/${encodeURIComponent(agentLeg)}/actions/hangup`, {});
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  const last = await page.evaluate((i) => window.cs.last(i), id);
  assert.equal(last.cause, 'NORMAL_CLEARING');
  await stack.webhook('call.hangup', (p) => p.call_control_id === customer);
  await page.context().close();
});

test('an inbound call the page rejects: call.hangup user_busy from the callee', async () => {
  const agent = await stack.agent('reject');
  const page = await loggedIn(agent);
  const inbound = await stack.rest('POST', '/sim/calls', { from: '+15557770002', to: '+15550000100' });
  const customer = inbound.body.data.call_control_id;
  await stack.rest('POST', `/v2/calls/${encodeURIComponent(customer)}/actions/transfer`,
    { to: `sip:${agent.user}@sip.telnyx.com` });
  const id = await until('the page rings', () => page.evaluate(() => window.cs.incoming()));
  await page.evaluate((i) => window.cs.hangup(i), id);
  const h = await stack.webhook('call.hangup', (p) => p.to === `sip:${agent.user}@sip.telnyx.com`);
  assert.equal(h.payload.hangup_cause, 'user_busy');
  assert.equal(h.payload.hangup_source, 'callee');
  await page.context().close();
});

test('hold, unhold and DTMF: call.hold / call.unhold on the browser leg, call.dtmf.received on the other', async () => {
  const page = await loggedIn(await stack.agent('hold'));
  const { id, ccid } = await outbound(page, '+15550100001', 'cs_hold');
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const customer = (await stack.simLeg(ccid)).bridged_with;
  assert.ok(customer);
  await page.evaluate((i) => window.cs.hold(i), id);
  await page.waitForFunction((i) => window.cs.last(i).state === 'held', id);
  await stack.webhook('call.hold', (p) => p.call_control_id === ccid);
  await page.evaluate((i) => window.cs.unhold(i), id);
  await page.waitForFunction((i) => window.cs.last(i).state === 'active', id);
  await stack.webhook('call.unhold', (p) => p.call_control_id === ccid);
  await page.evaluate((i) => window.cs.dtmf(i, '5'), id);
  await page.evaluate((i) => window.cs.dtmf(i, '#'), id);
  await until('two digits', () => stack.webhooks('call.dtmf.received', customer).length === 2);
  assert.deepEqual(stack.webhooks('call.dtmf.received', customer).map((e) => e.payload.digit), ['5', '#']);
  await page.evaluate((i) => window.cs.hangup(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  await page.context().close();
});

test('mute: the sim stops hearing the page while muted', async () => {
  const page = await loggedIn(await stack.agent('mute'));
  const { id, ccid } = await outbound(page, '+15550100001', 'cs_mute');
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const loud = async () => (await stack.simLeg(ccid)).webrtc.media.loud_ms;
  await until('the page is heard', async () => (await loud()) > 0, 15000);
  await page.evaluate((i) => window.cs.mute(i), id);
  // let what was in flight arrive, then nothing more may be loud
  const quiet = await until('silence', async () => {
    const a = await loud();
    await new Promise((r) => setTimeout(r, 1500));
    const b = await loud();
    return a === b && { b };
  }, 15000);
  const leg = await stack.simLeg(ccid);
  assert.ok(leg.webrtc.media.rx_packets > 0);
  await page.evaluate((i) => window.cs.unmute(i), id);
  await until('heard again', async () => (await loud()) > quiet.b, 15000);
  await page.evaluate((i) => window.cs.hangup(i), id);
  await page.context().close();
});

test('the socket is cut mid-call: the SDK reconnects, the call stays up and audio keeps flowing', async () => {
  const agent = await stack.agent('cut');
  const page = await loggedIn(agent);
  const { id, ccid } = await outbound(page, '+15550100001', 'cs_cut');
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  await until('audio', async () => (await audio(page, id))?.bytesReceived > 0);
  const r = await stack.rest('POST', '/sim/rtc/drop', { user: agent.user });
  assert.equal(r.status, 200);
  await page.waitForFunction(() => window.cs.log.filter((e) => e.type === 'ready').length === 2,
    null, { timeout: 15000 });
  const before = (await audio(page, id)).bytesReceived;
  const rx = (await stack.simLeg(ccid)).webrtc.media.rx_packets;
  await until('audio after the reconnect', async () => (await audio(page, id)).bytesReceived > before);
  await until('the sim still hears', async () => (await stack.simLeg(ccid)).webrtc.media.rx_packets > rx);
  assert.equal((await page.evaluate((i) => window.cs.last(i), id)).state, 'active');
  assert.equal(stack.webhooks('call.hangup', ccid).length, 0);
  // and Call Control still reaches the page over the new socket
  await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/hangup`, {});
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  await page.context().close();
});

test('the page is reloaded mid-call: a new login gets the call back by telnyx_rtc.attach with fresh media', async () => {
  const agent = await stack.agent('reload');
  const first = await loggedIn(agent);
  const { id, ccid } = await outbound(first, '+15550100001', 'cs_reload');
  await first.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const gen = (await stack.simLeg(ccid)).webrtc.media.generation;
  await first.context().close(); // the tab goes away: socket and peer connection with it
  const second = await loggedIn(agent);
  await second.waitForFunction((i) => window.cs.last(i)?.state === 'active', id, { timeout: 15000 });
  const states = await second.evaluate((i) => window.cs.states(i), id);
  assert.ok(states.includes('recovering'), `states: ${states}`);
  const leg = await until('fresh media', async () => {
    const l = await stack.simLeg(ccid);
    return l.webrtc.media.generation > gen && l.webrtc.media.rx_packets > 0 && l;
  });
  assert.equal(leg.is_alive, true);
  await until('audio on the new page', async () => (await audio(second, id))?.bytesReceived > 0);
  assert.equal(stack.webhooks('call.hangup', ccid).length, 0);
  await second.evaluate((i) => window.cs.hangup(i), id);
  await stack.webhook('call.hangup', (p) => p.call_control_id === ccid);
  await second.context().close();
});

test('a person on /phone: the agent calls its number, the page rings, answers, both hear each other through the sim', async () => {
  const agentPage = await loggedIn(await stack.agent('phone'));
  const ctx = await stack.browser.newContext();
  const phone = await ctx.newPage();
  await phone.goto(`${stack.base}/phone`);
  await phone.getByLabel('Number').fill('+15550100777');
  await phone.getByRole('button', { name: 'Register' }).click();
  await until('registered', async () => /Registered/.test(await phone.getByRole('status').textContent()));
  const { id, ccid } = await outbound(agentPage, '+15550100777', 'cs_phone');
  await until('the phone rings', async () => /Ringing/.test(await phone.getByRole('status').textContent()));
  assert.equal(stack.webhooks('call.answered', ccid).length, 0);
  await phone.getByRole('button', { name: 'Answer' }).click();
  await until('in call', async () => (await phone.getByRole('status').textContent()) === 'In call');
  await agentPage.waitForFunction((i) => window.cs.states(i).includes('active'), id);
  const customer = (await stack.simLeg(ccid)).bridged_with;
  // the sim hears both browsers, and each page hears the other's voice:
  // the phone leg sends nothing of its own, so what the page hears is the
  // agent's microphone (Chrome's fake device beeps) relayed by the bridge
  await until('both legs heard', async () => {
    const a = await stack.simLeg(ccid); const c = await stack.simLeg(customer);
    return a.webrtc.media.loud_ms > 0 && c.webrtc.media.loud_ms > 0;
  }, 15000);
  await until('the person hears the agent', async () => (await phone.evaluate(() => window.phone.maxLevel)) > 0.05, 15000);
  await until('the agent hears the person', async () => (await audio(agentPage, id))?.bytesReceived > 0);
  // the person hangs up: both legs end, the agent's page too
  await phone.getByRole('button', { name: 'Hang up' }).click();
  const h = await stack.webhook('call.hangup', (p) => p.call_control_id === customer);
  assert.equal(h.payload.hangup_source, 'callee');
  await agentPage.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  await ctx.close();
  await agentPage.context().close();
});
