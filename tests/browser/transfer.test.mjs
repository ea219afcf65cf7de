// Transfers as agents do them, in two softphones with the real SDK: blind
// (Transfer now), warm (Consult, then Complete transfer) and a consult
// cancelled. The call is one record throughout: the customer's leg stays,
// the agent who hands it on leaves, the one who takes it over owns it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Stack, until } from './lib.mjs';

let stack;
const pages = {};
const shots = process.env.CALLSYNC_ARTIFACTS || join(process.cwd(), 'artifacts');

before(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await new Stack({ backbone: true }).start();
  for (const [id, name] of [['ann', 'Ann'], ['ben', 'Ben']]) {
    const a = await stack.agent(id);
    stack.ctl('agent', 'set', id, '--sip-user', a.user, '--name', name, '--status', 'available',
      '--credential', a.credentialId);
    const { body: { token } } = await stack.crm('POST', `/v1/agents/${id}/token`);
    const page = await (await stack.browser.newContext()).newPage();
    if (process.env.CALLSYNC_DEBUG) page.on('console', (m) => console.error(`${id}: ${m.text()}`));
    await page.goto(`${stack.relay}/?token=${encodeURIComponent(token)}`);
    pages[id] = page;
    await until(`${id} ready`, async () => (await status(id)) === 'Ready', 15000);
  }
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

const status = (id) => pages[id].getByRole('status').textContent();
const button = (id, name) => pages[id].getByRole('button', { name, exact: true });
const shot = (id, name) => pages[id].screenshot({ path: join(shots, `transfer-${name}-${id}.png`) });
const waitStatus = (id, want, ms = 15000) =>
  until(`${id}: "${want}"`, async () => (await status(id)) === want, ms);
const record = (id) => pages[id].evaluate(() => window.softphone.record);

async function annCalls() {
  await pages.ann.getByLabel('Number').fill('+15550100001');
  await button('ann', 'Call').click();
  await waitStatus('ann', 'In call');
  return (await record('ann')).id;
}

async function openTransfer(to) {
  await button('ann', 'Transfer').click();
  await pages.ann.getByLabel('Transfer to').fill(to);
}

// Complete transfer as Ann's page sends it, from a second tab of hers (the
// first has disabled the button once its consult call ended): the relay's
// refusal, or null when it took the request.
function sideComplete(id) {
  return pages.ann.evaluate((call) => new Promise((resolve) => {
    const token = new URLSearchParams(location.search).get('token');
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'hello') {
        ws.send(JSON.stringify({ type: 'complete', call }));
        setTimeout(() => { ws.close(); resolve(null); }, 1000);
      } else if (msg.type === 'error') {
        ws.close();
        resolve(msg.error);
      }
    };
  }), id);
}

// Ann calls the customer and consults Ben, who answers: her call is on
// hold, his is in call. Returns the call's id.
async function annConsultsBen() {
  const id = await annCalls();
  await openTransfer('ben');
  await button('ann', 'Consult').click();
  await waitStatus('ann', 'On hold');
  await waitStatus('ben', 'Incoming call');
  await button('ben', 'Answer').click();
  await waitStatus('ben', 'In call');
  return id;
}

// Ann's consult call and Ben's are in call with each other, and the record
// has heard Ben answer (his leg's webhook or his SDK's report), which
// Complete transfer needs: Ann's SDK can see the answer first, and her
// page enables the button only once its record has the answer too.
async function consultTalks(id) {
  await until('the consult talks', async () =>
    /talking/.test(await pages.ann.locator('#consult-status').textContent()));
  await until("the record has Ben's answer", () =>
    stack.ctl('call', id).legs.some((l) => l.role === 'consulted' && l.answered_at));
  await until('Complete transfer is enabled', async () => button('ann', 'Complete transfer').isEnabled());
}

// Ben, who has the call, hangs up: every leg ends.
async function benHangsUp(id) {
  await waitStatus('ben', 'In call');
  await button('ben', 'Hang up').click();
  await waitStatus('ben', 'Call ended');
  await bothEnd(id);
}

// Ann, back with the customer, hangs up: every leg ends.
async function annHangsUp(id) {
  await waitStatus('ann', 'In call');
  await button('ann', 'Hang up').click();
  await waitStatus('ann', 'Call ended');
  await bothEnd(id);
}

async function bothEnd(id) {
  return until('every leg ended', () => {
    const r = stack.ctl('call', id);
    return r.state === 'ended' && r.legs.every((l) => l.ended_at) && r;
  }, 10000);
}

test('blind: Ann transfers her call to Ben, who answers and owns it; Ann is done', async () => {
  const id = await annCalls();
  await openTransfer('ben');
  await shot('ann', 'panel');
  await button('ann', 'Transfer now').click();
  await waitStatus('ann', 'Call ended');
  await waitStatus('ben', 'Incoming call');
  await shot('ben', 'blind-ringing');
  await button('ben', 'Answer').click();
  await waitStatus('ben', 'In call');
  await until('Ben owns the call', () => stack.ctl('call', id).agent_id === 'ben');
  await until("Ann's summary", async () => (await pages.ann.locator('#summary').textContent()) === 'Transferred to ben');
  await until("Ben's timer", () => pages.ben.getByRole('timer').isVisible());
  await shot('ann', 'blind-done');
  await shot('ben', 'blind-in-call');
  const r = stack.ctl('call', id);
  assert.equal(r.state, 'active');
  const annLeg = r.legs.find((l) => l.agent_id === 'ann');
  assert.ok(annLeg.ended_at && annLeg.transferred_at, "Ann's leg left, transferred");
  assert.equal(annLeg.transfer, 'blind');
  assert.ok(!r.legs.find((l) => l.role === 'customer').ended_at, 'the customer stays');
  // the timer is the conversation's: from the customer's answer
  assert.equal((await record('ben')).answered_at, r.answered_at);
  assert.equal(stack.ctl('agents').find((a) => a.id === 'ben').status, 'busy');
  await benHangsUp(id);
});

test('warm: Ann consults Ben with the customer on hold, then hands the call over', async () => {
  const id = await annConsultsBen();
  await consultTalks(id);
  // Ann and Ben hear each other (the sim bridges their two browser legs)
  await until('Ben hears Ann', async () => {
    const s = await pages.ben.evaluate(() => window.softphone.stats());
    return s && s.bytesReceived > 2000;
  });
  const during = stack.ctl('call', id);
  assert.equal(during.agent_id, 'ann', 'the call is still Ann\'s during the consult');
  assert.equal(during.consult, 'ben');
  await shot('ann', 'consulting');
  await button('ann', 'Complete transfer').click();
  await waitStatus('ann', 'Call ended');
  await until('Ben owns the call', () => stack.ctl('call', id).agent_id === 'ben');
  await until("Ann's summary", async () => (await pages.ann.locator('#summary').textContent()) === 'Transferred to ben');
  const r = stack.ctl('call', id);
  assert.equal(r.state, 'active', 'not on hold: the leg that held it has left');
  assert.ok(r.legs.filter((l) => l.agent_id === 'ann').every((l) => l.ended_at), "Ann's legs left");
  assert.ok(!r.legs.find((l) => l.role === 'customer').ended_at, 'the customer stays');
  await waitStatus('ben', 'In call');
  await shot('ben', 'warm-in-call');
  await benHangsUp(id);
});

// Ann hangs up the moment she completes: both clicks in one task of her
// page, before the orchestrator can bridge. For that moment the call is
// still hers, and her legs are bridged to the customer and to Ben (ending
// one ends its far side at Telnyx), but her Hang up means she is done, not
// that the customer's call ends: the page waits for the handover, and the
// customer stays, with Ben.
test('warm: Ann hangs up the moment she completes; the customer stays with Ben', async () => {
  const id = await annConsultsBen();
  await consultTalks(id);
  await pages.ann.evaluate(() => {
    document.getElementById('xfer-complete').click();
    document.getElementById('hangup').click();
  });
  await waitStatus('ann', 'Call ended');
  await until('Ben owns the call', () => stack.ctl('call', id).agent_id === 'ben');
  const r = stack.ctl('call', id);
  assert.equal(r.state, 'active');
  assert.equal(r.hangup_requested_by, null, 'no end of the call was asked for');
  assert.ok(!r.legs.find((l) => l.role === 'customer').ended_at, 'the customer stays');
  await benHangsUp(id);
});

// Ann completes and hangs up at once, and Telnyx refuses the bridge (the
// sim's refuse_actions fault). The relay took the request, so the page's
// Hang up waits for its outcome: the record's transfer_failed settles it,
// and the hang-up goes ahead then, well before the page's 10 s limit.
// Nobody was handed the call, so it ends.
test('warm: Telnyx refuses the bridge; the Hang up pressed with Complete ends the call at once', async () => {
  const id = await annConsultsBen();
  await consultTalks(id);
  await stack.rest('POST', '/sim/faults', { refuse_actions: ['bridge'] });
  let r;
  try {
    const t0 = Date.now();
    await pages.ann.evaluate(() => {
      document.getElementById('xfer-complete').click();
      document.getElementById('hangup').click();
    });
    r = await until("the call ended on Ann's request", () => {
      const c = stack.ctl('call', id);
      return c.hangup_requested_by === 'ann' && c;
    }, 8000);
    assert.ok(Date.now() - t0 < 8000, 'settled by the refusal, not by the page\'s 10 s limit');
  } finally {
    await stack.rest('POST', '/sim/faults', {});
  }
  const annLeg = r.legs.find((l) => l.role === 'agent');
  assert.equal(annLeg.transfer, 'warm', 'the request was made');
  assert.match(annLeg.transfer_failed || '', /422/, 'and Telnyx refused it');
  assert.notEqual(r.agent_id, 'ben', 'nobody was handed the call');
  await waitStatus('ann', 'Call ended');
  await waitStatus('ben', 'Call ended');
  await bothEnd(id);
});

// A PSTN colleague whose webhooks the sim holds back: Ann's consult call
// is in call, but the record has not heard the answer, so the relay would
// have nobody to hand the call to. Complete transfer waits for the record
// (it is disabled until then). A refusal can still come in such an
// instant (the colleague's softphone hung up), so the page is made to send
// one here: Hang up pressed while it is on its way goes ahead as soon as
// the refusal settles it, not after the page's 10 s wait.
test('warm: Complete waits for the record; Hang up while a refused Complete was on its way ends the call at once', async () => {
  const id = await annCalls();
  await openTransfer('+15550100001');
  await stack.rest('POST', '/sim/faults', { delay_ms: 3000 });
  try {
    await button('ann', 'Consult').click();
    await until("Ann's consult call talks", async () =>
      (await pages.ann.evaluate(() => window.softphone.consultState)) === 'active', 15000);
    assert.ok(!stack.ctl('call', id).legs.some((l) => l.role === 'consulted' && l.answered_at),
      'the record has not heard the answer yet');
    assert.equal(await button('ann', 'Complete transfer').isDisabled(), true,
      'Complete transfer waits for the record to have the answer');
    await pages.ann.evaluate(() => {
      const complete = document.getElementById('xfer-complete');
      complete.disabled = false; // as if sent in the instant before a refusal
      complete.click();
      document.getElementById('hangup').click();
    });
    await until("the call ended on Ann's request", () => stack.ctl('call', id).hangup_requested_by === 'ann', 5000);
  } finally {
    await stack.rest('POST', '/sim/faults', {});
  }
  assert.equal(stack.ctl('call', id).legs.find((l) => l.role === 'agent').transferred_at, null,
    'no request was made');
  await waitStatus('ann', 'Call ended');
  await bothEnd(id);
});

// The colleague hangs up at the moment the agent hands the call over. A
// PSTN colleague (+4: answers, hangs up 3 s later) whose hangup webhook the
// sim holds back, so Ann's request reaches the record while his leg is gone
// at Telnyx and the bridge finds it ended. The request hands nothing over:
// Ann keeps the customer, and the colleague's late hangup ends nothing.
test('warm: the colleague hangs up as Ann completes; Ann keeps the customer', async () => {
  const id = await annCalls();
  await openTransfer('+15550100004');
  await button('ann', 'Consult').click();
  await until('the colleague answered, on the record', () =>
    stack.ctl('call', id).legs.some((l) => l.role === 'consulted' && l.answered_at), 10000);
  await stack.rest('POST', '/sim/faults', { delay_ms: 3000 });
  let refused;
  try {
    // his hangup, 3 s after his answer, ends Ann's consult call at once
    // (the sim's bye); its webhook is still on its way
    await until("Ann's consult call ended", async () => {
      const st = await pages.ann.evaluate(() => window.softphone.consultState);
      return st == null || ['hangup', 'destroy', 'purge'].includes(st);
    }, 10000);
    refused = await sideComplete(id);
  } finally {
    await stack.rest('POST', '/sim/faults', {});
  }
  assert.equal(refused, null, 'the relay took the request: the record had his leg live');
  const r = await until('his hangup on the record', () => {
    const c = stack.ctl('call', id);
    return c.legs.some((l) => l.role === 'consulted' && l.ended_at) && c;
  }, 15000);
  assert.notEqual(r.state, 'ended', 'his hangup did not end the call');
  assert.ok(!r.legs.find((l) => l.role === 'customer').ended_at, 'the customer stays');
  assert.equal(r.agent_id, 'ann');
  const annLeg = r.legs.find((l) => l.role === 'agent');
  assert.equal(annLeg.transfer, 'warm', "the request is on Ann's own leg");
  assert.equal(r.legs.find((l) => l.role === 'consulted').agent_id, null, 'a number is nobody\'s leg');
  assert.equal(annLeg.transfer_completed, false);
  assert.equal(annLeg.transfer_failed, 'the consulted leg had ended', 'the request failed, and says why');
  await waitStatus('ann', 'In call');
  await until("Ann's summary", async () => (await pages.ann.locator('#summary').textContent()) ===
    'Transfer to your colleague failed (the consulted leg had ended): the call is still yours');
  await shot('ann', 'complete-failed');
  await annHangsUp(id);
});

// Complete transfer asked after the colleague's softphone has hung up, but
// before Telnyx's hangup webhook (held back here): refused at once, and
// said so, rather than sent to a bridge that can only fail.
test('warm: Complete after Ben\'s softphone hung up is refused at once', async () => {
  const id = await annConsultsBen();
  const benLeg = (await until('Ben\'s leg answered, on the record', () =>
    stack.ctl('call', id).legs.find((l) => l.role === 'consulted' && l.answered_at))).call_control_id;
  await stack.rest('POST', '/sim/faults', { delay_ms: 3000 });
  let refused;
  try {
    await button('ben', 'Hang up').click();
    await until("Ben's softphone's hangup, on the record", () => stack.ctl('events', id).some((e) =>
      e.event.kind === 'sdk_state' && e.event.call_control_id === benLeg &&
      ['hangup', 'destroy'].includes(e.event.value)));
    refused = await sideComplete(id);
  } finally {
    await stack.rest('POST', '/sim/faults', {});
  }
  assert.equal(refused, 'your colleague has hung up');
  const r = stack.ctl('call', id);
  assert.equal(r.legs.find((l) => l.role === 'agent').transferred_at, null, 'no request was made');
  await annHangsUp(id);
});

test('a consult cancelled: Ben stops ringing, Ann is back with the customer', async () => {
  const id = await annCalls();
  await openTransfer('ben');
  await button('ann', 'Consult').click();
  await waitStatus('ben', 'Incoming call');
  await button('ann', 'Cancel consult').click();
  await waitStatus('ben', 'Call ended');
  await waitStatus('ann', 'In call');
  const r = await until('the consult legs ended', () => {
    const c = stack.ctl('call', id);
    return c.legs.filter((l) => l.role === 'consult' || l.role === 'consulted').every((l) => l.ended_at) && c;
  });
  assert.equal(r.state, 'active');
  assert.equal(r.agent_id, 'ann');
  await annHangsUp(id);
});
