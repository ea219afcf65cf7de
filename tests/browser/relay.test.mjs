// The relay (issue 6, first increment) with the real SDK: the CRM's REST
// API, agent tokens, the softphone's socket (hello with the SDK's login
// token, pushes of every change, click-to-call, hang up), through the
// whole backbone and the sim. The page holds the socket and the SDK the
// way the softphone will.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, until } from './lib.mjs';

let stack;
let agent;
before(async () => {
  // presence leases short enough to watch run out (the defaults: 10 s, 30 s)
  stack = await new Stack({ backbone: true, relayEnv: { CALLSYNC_PRESENCE_GRACE_S: '1', CALLSYNC_PRESENCE_LEASE_S: '3' } }).start();
  agent = await stack.agent('bob');
});
after(async () => {
  await stack.stop();
  assert.equal(stack.sanitizer, null, 'no sanitizer report from any service');
  for (const [name, e] of Object.entries(stack.exits)) assert.equal(e.code, 0, `${name} exits 0 on SIGTERM (it ended ${JSON.stringify(e)})`);
});

test('the CRM API: 401 without the key, 404s, 400s, agent tokens', async () => {
  assert.equal((await stack.crm('GET', '/v1/calls?active=1', undefined, null)).status, 401);
  assert.equal((await stack.crm('GET', '/v1/calls?active=1', undefined, 'wrong-key-123')).status, 401);
  assert.equal((await stack.crm('GET', '/v1/calls/cs_nope')).status, 404);
  assert.equal((await stack.crm('GET', '/v1/calls')).status, 400);
  assert.equal((await stack.crm('POST', '/v1/calls', { agent_id: 'bob' })).status, 400);
  assert.equal((await stack.crm('POST', '/v1/calls', { agent_id: 'nobody', to: '+15550100001' })).status, 404);
  assert.equal((await stack.crm('POST', '/v1/agents/nobody/token')).status, 404);
  const r = await fetch(`${stack.relay}/v1/calls`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: '{not json' });
  assert.equal(r.status, 400);
  stack.ctl('agent', 'set', 'carol', '--sip-user', 'carol01', '--status', 'available');
  const tok = await stack.crm('POST', '/v1/agents/carol/token');
  assert.equal(tok.status, 201);
  assert.match(tok.body.token, /^v1\./);
  assert.ok(Date.parse(tok.body.expires_at) > Date.now());
  // carol has no softphone online: click-to-call says so
  const c = await stack.crm('POST', '/v1/calls', { agent_id: 'carol', to: '+15550100001' });
  assert.equal(c.status, 409);
});

test('contacts for screen pop, and calls since a time: bad input is 400 and stores nothing', async () => {
  const ada = { number: '+15550100001', name: 'Ada Lovelace', company: 'Analytical', url: 'https://crm.example/c/1' };
  for (const bad of [
    { name: 'No number' },
    { number: '15550100001', name: 'No plus' },
    { number: '+15550100002' },
    { number: '+15550100002', name: 'x'.repeat(101) },
    { number: '+15550100002', name: 'Bad url', url: 'javascript:alert(1)' },
    { number: '+15550100002', name: 'Bad company', company: 7 },
  ]) assert.equal((await stack.crm('POST', '/v1/contacts', bad)).status, 400, JSON.stringify(bad));
  assert.equal((await stack.crm('GET', '/v1/contacts?number=%2B15550100002')).status, 404, 'nothing was stored');
  assert.equal((await stack.crm('GET', '/v1/contacts?number=555')).status, 400);
  assert.equal((await stack.crm('GET', '/v1/contacts?number=%2B15550100001', undefined, null)).status, 401);
  const put = await stack.crm('POST', '/v1/contacts', ada);
  assert.equal(put.status, 200);
  assert.deepEqual((await stack.crm('GET', '/v1/contacts?number=%2B15550100001')).body, ada);
  // calls since a time: a call made now is listed, newest first; bad times are refused
  stack.ctl('agent', 'set', 'dora', '--sip-user', 'dora01', '--status', 'available');
  const before = Date.now() - 1000;
  const made = stack.ctl('dial', '--agent', 'dora', '--to', '+15550100004', '--browser');
  const list = await stack.crm('GET', `/v1/calls?since=${before}&agent=dora`);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((c) => c.id), [made.id]);
  const iso = await stack.crm('GET', `/v1/calls?since=${encodeURIComponent(new Date(before).toISOString())}&limit=1`);
  assert.equal(iso.status, 200);
  assert.equal(iso.body.length, 1);
  assert.equal((await stack.crm('GET', `/v1/calls?since=${Date.now() + 60000}`)).body.length, 0);
  assert.equal((await stack.crm('GET', '/v1/calls?since=yesterday')).status, 400);
  assert.equal((await stack.crm('GET', `/v1/calls?since=${before}&limit=0`)).status, 400);
  assert.equal((await stack.crm('GET', `/v1/calls?since=${before}&limit=501`)).status, 400);
  stack.ctl('hangup', made.id);
});

test('a softphone socket: refused without a token; with one, hello carries the SDK login token', async () => {
  const page = await stack.page();
  const ws = `ws://127.0.0.1:${stack.relayPort}/ws`;
  await page.evaluate((u) => window.relay.open(`${u}?token=v1.forged.1.x`), ws);
  await page.waitForFunction(() => window.relay.closed !== undefined);
  assert.match((await page.evaluate(() => window.relay.find('error'))).error, /token/);
  await page.context().close();
});

test('click-to-call from the CRM: the softphone is told to dial, the SDK places the call, every change is pushed, the CRM hangs up', async () => {
  const credId = agent.credentialId;
  stack.ctl('agent', 'set', 'bob', '--sip-user', agent.user, '--status', 'available', '--credential', credId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/bob/token');
  const page = await stack.page();
  await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${token}`);
  const hello = await until('hello', () => page.evaluate(() => window.relay.find('hello')));
  assert.ok(Math.abs(hello.server_time - Date.now()) < 5000, 'hello carries the server time');
  assert.equal(hello.agent.id, 'bob');
  assert.equal(hello.agent.credential_id, undefined, 'the credential stays on the server');
  assert.equal(hello.rtc.host, `ws://127.0.0.1:${stack.simPort}`);
  assert.ok(hello.rtc.login_token, 'the relay minted the SDK login token');
  // the SDK logs in with what the relay handed over: no secret in the page
  assert.equal(await page.evaluate((h) => window.cs.connect({ host: h.rtc.host, login_token: h.rtc.login_token }), hello), 'ready');
  const created = await stack.crm('POST', '/v1/calls', { agent_id: 'bob', to: '+15550100001' });
  assert.equal(created.status, 201);
  const id = created.body.id;
  const dial = await until('dial pushed', () => page.evaluate((cs) => window.relay.find('dial', (m) => m.call.id === cs), id));
  assert.equal(dial.call.state, 'dialing');
  const callId = await page.evaluate((c) => window.cs.newCall({
    destinationNumber: c.to, clientState: btoa(JSON.stringify({ cs: c.id })),
  }), dial.call);
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), callId, { timeout: 15000 });
  const active = await until('active pushed', () => page.evaluate((cs) => window.relay.find('call', (m) => m.call.id === cs && m.call.state === 'active'), id));
  assert.ok(active.call.answered_at);
  const listed = await stack.crm('GET', '/v1/calls?active=1&agent=bob');
  assert.deepEqual(listed.body.map((c) => c.id), [id]);
  assert.equal((await stack.crm('GET', `/v1/calls/${id}`)).body.state, 'active');
  const hung = await stack.crm('POST', `/v1/calls/${id}/hangup`);
  assert.equal(hung.status, 202);
  assert.equal(hung.body.state, 'ended'); // at once: the request is a fact
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), callId, { timeout: 15000 });
  await until('ended pushed with both legs down', () => page.evaluate((cs) => window.relay.find('call', (m) => m.call.id === cs &&
    m.call.state === 'ended' && m.call.legs.length === 2 && m.call.legs.every((l) => l.ended_at)), id));
  // another agent sees none of it and cannot act on it
  const { body: { token: carolToken } } = await stack.crm('POST', '/v1/agents/carol/token');
  const other = await stack.page();
  await other.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${carolToken}`);
  await until('carol hello', () => other.evaluate(() => window.relay.find('hello')));
  await other.evaluate((cs) => window.relay.send({ type: 'get', call: cs }), id);
  await other.evaluate((cs) => window.relay.send({ type: 'hangup', call: cs }), id);
  await until('two refusals', () => other.evaluate(() => window.relay.messages.filter((m) => m.type === 'error').length === 2));
  // each names the request it refuses
  assert.deepEqual((await other.evaluate(() => window.relay.messages.filter((m) => m.type === 'error')))
    .map((m) => m.request).sort(), ['get', 'hangup']);
  assert.equal(await other.evaluate(() => window.relay.messages.filter((m) => m.type === 'call').length), 0);
  await other.context().close();
  // bob asks again for a version he may have missed: the record comes back
  const n = await page.evaluate(() => window.relay.messages.length);
  await page.evaluate((cs) => window.relay.send({ type: 'get', call: cs }), id);
  await until('get answered', () => page.evaluate((k) => window.relay.messages.length > k, n));
  // the socket's own hang up, for a call that is already over, is harmless
  await page.evaluate((cs) => window.relay.send({ type: 'hangup', call: cs }), id);
  await page.evaluate(() => window.relay.send({ type: 'nonsense' }));
  await until('an error for nonsense', () => page.evaluate(() => window.relay.find('error')));
  // a message that did not decode names no request
  assert.equal((await page.evaluate(() => window.relay.find('error'))).request, undefined);
  await page.context().close();
});

test('presence follows the softphone: opening it makes an offline agent available, a reload keeps them, closing it or a relay that dies takes them offline', async () => {
  stack.ctl('agent', 'set', 'pia', '--sip-user', 'pia01', '--status', 'offline');
  const pia = () => stack.ctl('agents').find((a) => a.id === 'pia');
  const open = async (page) => {
    const { body: { token } } = await stack.crm('POST', '/v1/agents/pia/token');
    await page.evaluate(() => { window.relay.messages = []; });
    await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${token}`);
    return until('hello', () => page.evaluate(() => window.relay.find('hello')));
  };
  const page = await stack.page();
  const hello = await open(page);
  assert.equal(hello.agent.status, 'available', 'the hello says so at once');
  assert.equal(hello.agent.softphone, 'connected');
  assert.deepEqual([pia().status, pia().softphone], ['available', 'connected']);
  // a reload: the socket closes and a new one opens within the grace
  await page.evaluate(() => window.relay.ws.close());
  await open(page);
  await new Promise((r) => setTimeout(r, 4000)); // past the grace and a whole lease
  assert.deepEqual([pia().status, pia().softphone], ['available', 'connected'], 'kept through the reload');
  // the tab closes: offline after the grace
  await page.context().close();
  await until('pia offline', () => pia().status === 'offline', 8000);
  assert.equal(pia().softphone, 'gone');
  // back, then her relay dies (no close, no release): offline when its lease runs out
  const again = await stack.page();
  await open(again);
  assert.equal(pia().status, 'available');
  await stack.restartRelay(0, 'SIGKILL');
  await until('pia offline after the lease', () => pia().status === 'offline', 10000);
  await again.context().close();
});

test("the agent's own presence from the softphone: asked, set offline and available, told to every tab; refused while on a call or for another status", async () => {
  stack.ctl('agent', 'set', 'quinn', '--sip-user', 'quinn01', '--status', 'offline');
  const quinn = () => stack.ctl('agents').find((a) => a.id === 'quinn');
  const { body: { token } } = await stack.crm('POST', '/v1/agents/quinn/token');
  const open = async () => {
    const page = await stack.page();
    await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${token}`);
    await until('hello', () => page.evaluate(() => window.relay.find('hello')));
    return page;
  };
  const presences = (page) => page.evaluate(() => window.relay.messages.filter((m) => m.type === 'presence').map((m) => m.status));
  const errors = (page) => page.evaluate(() => window.relay.messages.filter((m) => m.type === 'error').map((m) => m.error));
  const one = await open();
  // opening it made her available, and that is pushed like any change
  await until('the connect pushed', async () => (await presences(one)).includes('available'));
  const two = await open();
  await one.evaluate(() => { window.relay.messages = []; });
  // a question: the answer to this tab only
  await one.evaluate(() => window.relay.send({ type: 'presence' }));
  await until('asked', async () => (await presences(one)).length === 1);
  assert.deepEqual(await presences(one), ['available']);
  assert.deepEqual(await presences(two), [], 'the answer went to the tab that asked');
  // going offline: stored, and told to both tabs
  await one.evaluate(() => window.relay.send({ type: 'presence', status: 'offline' }));
  await until('offline in both tabs', async () => (await presences(two)).includes('offline'));
  assert.deepEqual(await presences(one), ['available', 'offline']);
  assert.equal(quinn().status, 'offline');
  await two.evaluate(() => window.relay.send({ type: 'presence', status: 'available' }));
  await until('available again', async () => (await presences(one)).at(-1) === 'available');
  assert.equal(quinn().status, 'available');
  // in wrap-up (an operator's change, pushed to both tabs): available ends it early
  stack.ctl('agent', 'set', 'quinn', '--sip-user', 'quinn01', '--status', 'wrap_up');
  await until('wrap-up pushed', async () => (await presences(two)).at(-1) === 'wrap_up');
  await one.evaluate(() => window.relay.send({ type: 'presence', status: 'available' }));
  await until('wrap-up ended', async () => quinn().status === 'available');
  // on a call: refused, nothing changes (the call's end moves her)
  stack.ctl('agent', 'set', 'quinn', '--sip-user', 'quinn01', '--status', 'busy');
  await one.evaluate(() => window.relay.send({ type: 'presence', status: 'offline' }));
  await until('refused on a call', async () => (await errors(one)).length === 1);
  assert.deepEqual(await errors(one), ['you are on a call: your presence follows it until it ends']);
  assert.equal(quinn().status, 'busy');
  // a status of the server's own is not the page's to set
  await one.evaluate(() => window.relay.send({ type: 'presence', status: 'busy' }));
  await until('refused status', async () => (await errors(one)).length === 2);
  assert.equal((await errors(one))[1], 'presence status: available or offline');
  stack.ctl('agent', 'set', 'quinn', '--sip-user', 'quinn01', '--status', 'offline');
  await one.context().close();
  await two.context().close();
});

test('presence changes are pushed as they happen, to the agent\'s softphone and every dashboard: a connect, an operator, the softphone, the timer when it is gone; nothing asked', async () => {
  stack.ctl('agent', 'set', 'sue', '--sip-user', 'sue01', '--status', 'offline', '--role', 'supervisor');
  stack.ctl('agent', 'set', 'rita', '--sip-user', 'rita01', '--name', 'Rita', '--status', 'offline');
  const socket = async (id, view) => {
    const { body: { token } } = await stack.crm('POST', `/v1/agents/${id}/token`);
    const page = await stack.page();
    await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${token}${view ? `&view=${view}` : ''}`);
    await until(`hello to ${id}`, () => page.evaluate(() => window.relay.find('hello')));
    return page;
  };
  const pushes = async (type) => Number((await (await fetch(`${stack.relay}/metrics`)).text())
    .match(new RegExp(`^callsync_relay_pushes_total\\{type="${type}"\\} (\\d+)$`, 'm'))?.[1]);
  const before = { agent: await pushes('agent'), presence: await pushes('presence') };
  const board = await socket('sue', 'dashboard');
  const rita = (page) => page.evaluate(() => window.relay.messages.filter((m) => m.type === 'agent' && m.agent.id === 'rita').map((m) => m.agent));
  const pushed = (page) => page.evaluate(() => window.relay.messages.filter((m) => m.type === 'presence').map((m) => m.status));
  // her softphone opens: available, on the board at once
  const phone = await socket('rita');
  await until('available on the board', async () => (await rita(board)).at(-1)?.status === 'available');
  const shown = (await rita(board)).at(-1);
  assert.equal(shown.name, 'Rita');
  assert.equal(shown.credential_id, undefined, 'no credential on the board');
  // an operator: her softphone and the board
  stack.ctl('agent', 'set', 'rita', '--sip-user', 'rita01', '--status', 'wrap_up');
  await until('wrap-up on her softphone', async () => (await pushed(phone)).at(-1) === 'wrap_up');
  await until('wrap-up on the board', async () => (await rita(board)).at(-1)?.status === 'wrap_up');
  // she ends it herself
  await phone.evaluate(() => window.relay.send({ type: 'presence', status: 'available' }));
  await until('available on the board again', async () => (await rita(board)).at(-1)?.status === 'available');
  // her softphone closes: the timer takes her offline after the grace, and says so
  await phone.context().close();
  await until('offline on the board', async () => (await rita(board)).at(-1)?.status === 'offline', 8000);
  assert.equal((await rita(board)).at(-1).softphone, 'gone');
  // the board never asked: every one of these was pushed
  assert.equal(await board.evaluate(() => window.relay.messages.filter((m) => m.type === 'agents').length), 0);
  // and counted, by type, on the relay's /metrics
  assert.ok(await pushes('agent') - before.agent >= 4, 'four changes to the board at least');
  assert.ok(await pushes('presence') - before.presence >= 3, 'three to her softphone at least');
  await board.context().close();
});

test('an agent removed (callsync-ctl agent rm) leaves every wallboard and their softphone, which cannot come back; one on a call is refused', async () => {
  stack.ctl('agent', 'set', 'sue', '--sip-user', 'sue01', '--status', 'offline', '--role', 'supervisor');
  stack.ctl('agent', 'set', 'rex', '--sip-user', 'rex01', '--name', 'Rex', '--status', 'offline');
  const token = async (id) => (await stack.crm('POST', `/v1/agents/${id}/token`)).body.token;
  const socket = async (tok, view) => {
    const page = await stack.page();
    await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${tok}${view ? `&view=${view}` : ''}`);
    await until('hello', () => page.evaluate(() => window.relay.find('hello')));
    return page;
  };
  const board = await socket(await token('sue'), 'dashboard');
  const rexToken = await token('rex');
  const phone = await socket(rexToken);
  await until('rex on the board', () => board.evaluate(() => window.relay.find('agent', (m) => m.agent.id === 'rex')));
  // on a call (busy, as the orchestrator makes him): refused, nothing removed
  stack.ctl('agent', 'set', 'rex', '--sip-user', 'rex01', '--status', 'busy');
  const busy = stack.ctlResult('agent', 'rm', 'rex');
  assert.equal(busy.status, 1);
  assert.match(busy.stderr, /agent rex is on call/);
  assert.equal(stack.ctl('agents').some((a) => a.id === 'rex'), true);
  stack.ctl('agent', 'set', 'rex', '--sip-user', 'rex01', '--status', 'available');
  assert.deepEqual(stack.ctl('agent', 'rm', 'rex'), { id: 'rex', removed: true });
  // the board drops him, his softphone is told and closed
  await until('removed on the board', () => board.evaluate(() => window.relay.find('agent', (m) => m.agent.id === 'rex' && m.removed === true)));
  await until('his softphone closed', () => phone.evaluate(() => window.relay.closed !== undefined));
  assert.ok(await phone.evaluate(() => window.relay.find('error', (m) => /removed/.test(m.error))));
  // his token no longer opens a socket; his SIP user is free; a second rm says so
  const again = await stack.page();
  await again.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${stack.relayPort}/ws?token=${rexToken}`);
  await until('refused', () => again.evaluate(() => window.relay.closed !== undefined));
  assert.equal((await again.evaluate(() => window.relay.find('error'))).error, 'no such agent');
  stack.ctl('agent', 'set', 'rory', '--sip-user', 'rex01', '--status', 'offline');
  const twice = stack.ctlResult('agent', 'rm', 'rex');
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /no such agent/);
  for (const p of [board, phone, again]) await p.context().close();
});

test('the dashboard connects again by itself when the relay restarts, and shows what changed meanwhile', async () => {
  stack.ctl('agent', 'set', 'sue', '--sip-user', 'sue01', '--status', 'offline', '--role', 'supervisor');
  stack.ctl('agent', 'set', 'rita', '--sip-user', 'rita01', '--name', 'Rita', '--status', 'offline');
  const { body: { token } } = await stack.crm('POST', '/v1/agents/sue/token');
  const ctx = await stack.browser.newContext();
  const board = await ctx.newPage();
  await board.goto(`${stack.relay}/dashboard?token=${encodeURIComponent(token)}`);
  const presence = () => board.locator('#presence').textContent();
  await until('rita offline on the board', async () => /Offline: \d+ \([^)]*Rita/.test(await presence()));
  // the relay goes away for 1.5 s; an operator moves Rita meanwhile
  const restarted = stack.restartRelay(1500);
  await until('"Reconnecting…"', async () => (await board.locator('#note').textContent()) === 'Reconnecting…');
  stack.ctl('agent', 'set', 'rita', '--sip-user', 'rita01', '--status', 'wrap_up');
  await restarted;
  await until('back, with the change made while it was away', async () => /Wrap-up: \d+ \([^)]*Rita/.test(await presence()), 15000);
  assert.equal(await board.locator('#note').textContent(), '');
  // and the new socket is pushed changes again
  stack.ctl('agent', 'set', 'rita', '--sip-user', 'rita01', '--status', 'available');
  await until('pushed after the reconnect', async () => /Available: \d+ \([^)]*Rita/.test(await presence()));
  await ctx.close();
});

test('two relays: click-to-call through one reaches the softphone on the other; a closed softphone is not reachable', async () => {
  const port2 = await stack.startRelay('relay2');
  stack.ctl('agent', 'set', 'bob', '--sip-user', agent.user, '--status', 'available', '--credential', agent.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/bob/token');
  const page = await stack.page();
  await page.evaluate((u) => window.relay.open(u), `ws://127.0.0.1:${port2}/ws?token=${token}`);
  await until('hello from the second relay', () => page.evaluate(() => window.relay.find('hello')));
  const created = await stack.crm('POST', '/v1/calls', { agent_id: 'bob', to: '+15550100001' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const dial = await until('dial pushed through the bus', () => page.evaluate((cs) => window.relay.find('dial', (m) => m.call.id === cs), created.body.id));
  assert.equal(dial.call.state, 'dialing');
  assert.match(await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text(), /^callsync_relay_pushes_total\{type="dial"\} 1$/m,
    'the second relay counts the dial it pushed');
  stack.ctl('hangup', created.body.id);
  // his only softphone closes: within the grace he is still present, but
  // nothing can reach him, so click-to-call says so
  await page.evaluate(() => window.relay.ws.close());
  await until('the second relay has no agent', async () =>
    /^callsync_relay_agents_online 0$/m.test(await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text()));
  assert.equal((await stack.crm('POST', '/v1/calls', { agent_id: 'bob', to: '+15550100001' })).status, 409);
  await page.context().close();
});
