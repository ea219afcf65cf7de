// callsync-sim as Telnyx's own Node SDK sees it (telnyx@7.24.0 pointed at
// the sim with baseURL): dial, every action the sim implements, errors as
// the SDK's typed errors, and every webhook the sim sends verified by
// client.webhooks.unwrap() and validated against the schemas in Telnyx's
// OpenAPI: the Call Control subset of team-telnyx/openapi kept beside this
// file (a copy of ../shared/reference/telnyx-call-control.openapi.yml, so a
// clone anywhere runs the suite).
//
// Known real-world differences the validation allows (reference §1.5 and
// its captures OBS a, b): deliveries carry `meta`, which the spec's
// call-event schemas omit, and `client_state` is null until a command sets
// it, where the spec says string.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Telnyx, { UnprocessableEntityError, AuthenticationError } from 'telnyx';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const specPath = path.join(here, 'telnyx-call-control.openapi.yml');

let sim, simPort, receiver, client, publicKey, tmp;
const received = []; // {raw, headers, event}
const waiters = [];

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, timeoutMs = 8000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The events of one leg received so far, in arrival order. */
const eventsOf = (ccid) => received.filter((r) => r.event.data.payload.call_control_id === ccid);
const waitEvent = (ccid, type) =>
  waitFor(() => eventsOf(ccid).find((r) => r.event.data.event_type === type), `${type} for ${ccid}`);

// ---- OpenAPI validation ----
const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(spec, 'spec.json');
const eventSchemas = {
  'call.initiated': 'CallInitiatedEvent',
  'call.answered': 'CallAnsweredEvent',
  'call.bridged': 'CallBridgedEvent',
  'call.hangup': 'CallHangupEvent',
  'call.recording.saved': 'CallRecordingSavedEvent',
  'call.speak.started': 'CallSpeakStartedEvent',
  'call.speak.ended': 'CallSpeakEndedEvent',
  'call.playback.started': 'CallPlaybackStartedEvent',
  'call.playback.ended': 'CallPlaybackEndedEvent',
};
function validate(ref, value, what) {
  const check = ajv.getSchema(`spec.json#${ref}`) || ajv.compile({ $ref: `spec.json#${ref}` });
  assert.ok(check(value), `${what} does not match ${ref}: ${ajv.errorsText(check.errors)}`);
}
const ok200 = (p, method) =>
  `/paths/${p.replaceAll('/', '~1')}/${method}/responses/200/content/application~1json/schema`;

before(async () => {
  assert.ok(fs.existsSync(specPath), `the OpenAPI subset is expected at ${specPath}`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'callsync-conf-'));
  receiver = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      try {
        // what a CRM backend would do: verify with the public key, then parse
        const event = await client.webhooks.unwrap(raw, { headers: req.headers, key: publicKey });
        received.push({ raw, headers: req.headers, event });
        res.writeHead(200).end();
      } catch (e) {
        received.push({ raw, headers: req.headers, event: { data: { payload: {} } }, error: e });
        res.writeHead(400).end();
      }
    });
  });
  const hookPort = await freePort();
  await new Promise((r) => receiver.listen(hookPort, '127.0.0.1', r));
  simPort = await freePort();
  const seed = crypto.randomBytes(32).toString('base64');
  sim = spawn(path.join(root, 'bin/callsync-sim'), [], {
    env: {
      ...process.env,
      CALLSYNC_SIM_PORT: String(simPort),
      CALLSYNC_SIM_WEBHOOK_URL: `http://127.0.0.1:${hookPort}/hooks`,
      CALLSYNC_SIM_SIGNING_SEED: seed,
    },
    stdio: ['ignore', 'ignore', fs.openSync(path.join(tmp, 'sim.log'), 'a')],
  });
  await waitFor(async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${simPort}/sim/public-key`);
      if (r.ok) publicKey = await r.text();
      return r.ok;
    } catch {
      return false;
    }
  }, 'the sim');
  client = new Telnyx({ apiKey: 'sim-key', baseURL: `http://127.0.0.1:${simPort}/v2`, maxRetries: 0 });
});

after(async () => {
  sim?.kill('SIGTERM');
  await new Promise((r) => (sim ? sim.on('exit', r) : r()));
  receiver?.close();
  const log = tmp && fs.readFileSync(path.join(tmp, 'sim.log'), 'utf8');
  assert.ok(!/Sanitizer|runtime error/.test(log || ''), `sim log:\n${log}`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('dial answers as the spec says and the call is announced', async () => {
  const res = await client.calls.dial({
    connection_id: '1001',
    to: '+15550100001',
    from: '+15550009999',
    client_state: Buffer.from('{"cs":"cs_TEST"}').toString('base64'),
    command_id: crypto.randomUUID(),
  });
  validate(ok200('/calls', 'post'), res, 'dial response');
  const ccid = res.data.call_control_id;
  assert.match(ccid, /^v3:/);
  assert.equal(res.data.is_alive, false);
  const init = await waitEvent(ccid, 'call.initiated');
  assert.equal(init.event.data.payload.client_state, res.data.client_state);
  assert.equal(init.event.data.payload.direction, 'outgoing');
  await waitEvent(ccid, 'call.answered');
  const status = await client.calls.retrieveStatus(ccid);
  validate(ok200('/calls/{call_control_id}', 'get'), status, 'status response');
  assert.equal(status.data.is_alive, true);
  await client.calls.actions.hangup(ccid, { command_id: crypto.randomUUID() });
  const hangup = await waitEvent(ccid, 'call.hangup');
  assert.equal(hangup.event.data.payload.hangup_source, 'caller');
  assert.equal(hangup.event.data.payload.client_state, res.data.client_state);
});

test('actions on a live call, with the webhooks they cause', async () => {
  const res = await client.calls.dial({ connection_id: '1001', to: '+15550100001', from: '+15550009999' });
  const ccid = res.data.call_control_id;
  await waitEvent(ccid, 'call.answered');
  const ok = (r, action, method = 'post') => {
    assert.equal(r.data.result, 'ok');
    validate(ok200(`/calls/{call_control_id}/actions/${action}`, method), r, `${action} response`);
  };
  ok(await client.calls.actions.sendDtmf(ccid, { digits: '12#' }), 'send_dtmf');
  ok(await client.calls.actions.speak(ccid, { payload: 'Hello', voice: 'female' }), 'speak');
  await waitEvent(ccid, 'call.speak.ended');
  ok(await client.calls.actions.startPlayback(ccid, { audio_url: 'https://example.com/a.mp3' }),
    'playback_start');
  await waitEvent(ccid, 'call.playback.started');
  ok(await client.calls.actions.stopPlayback(ccid, {}), 'playback_stop');
  await waitEvent(ccid, 'call.playback.ended');
  ok(await client.calls.actions.startRecording(ccid, { format: 'mp3', channels: 'single' }),
    'record_start');
  ok(await client.calls.actions.stopRecording(ccid, {}), 'record_stop');
  await waitFor(
    () => received.find((r) => r.event.data.event_type === 'call.recording.saved' &&
      r.event.data.payload.call_leg_id === res.data.call_leg_id),
    'call.recording.saved');
  const state = Buffer.from('{"step":2}').toString('base64');
  ok(await client.calls.actions.updateClientState(ccid, { client_state: state }),
    'client_state_update', 'put');
  ok(await client.calls.actions.hangup(ccid, {}), 'hangup');
  const hangup = await waitEvent(ccid, 'call.hangup');
  assert.equal(hangup.event.data.payload.client_state, state);
});

test('inbound: answer, transfer, bridge, reject', async () => {
  const post = (p, body) =>
    fetch(`http://127.0.0.1:${simPort}${p}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
  const a = (await post('/sim/calls', { from: '+15557770001', to: '+15550009999' })).data.call_control_id;
  const init = await waitEvent(a, 'call.initiated');
  assert.equal(init.event.data.payload.direction, 'incoming');
  assert.equal(init.event.data.payload.state, 'parked');
  await client.calls.actions.answer(a, {});
  await waitEvent(a, 'call.answered');
  await client.calls.actions.transfer(a, { to: '+15550100006' });
  await waitEvent(a, 'call.bridged');

  const b = (await post('/sim/calls', { from: '+15557770002', to: '+15550009999' })).data.call_control_id;
  const c = (await post('/sim/calls', { from: '+15557770003', to: '+15550009999' })).data.call_control_id;
  await client.calls.actions.answer(b, {});
  await client.calls.actions.answer(c, {});
  await client.calls.actions.bridge(b, { call_control_id: c });
  await waitEvent(b, 'call.bridged');
  await waitEvent(c, 'call.bridged');
  await client.calls.actions.hangup(b, {});
  await waitEvent(c, 'call.hangup'); // a bridge ends with either side

  const d = (await post('/sim/calls', { from: '+15557770004', to: '+15550009999' })).data.call_control_id;
  await client.calls.actions.reject(d, { cause: 'USER_BUSY' });
  const rej = await waitEvent(d, 'call.hangup');
  assert.equal(rej.event.data.payload.hangup_cause, 'user_busy');
  await client.calls.actions.hangup(a, {});
});

test('errors reach the SDK as its typed errors with Telnyx codes', async () => {
  const res = await client.calls.dial({ connection_id: '1001', to: '+15550100002', from: '+15550009999' });
  const ccid = res.data.call_control_id;
  await waitEvent(ccid, 'call.hangup');
  await assert.rejects(client.calls.actions.hangup(ccid, {}), (e) => {
    assert.ok(e instanceof UnprocessableEntityError);
    assert.equal(e.status, 422);
    assert.equal(e.error.errors[0].code, '90018');
    validate('/components/schemas/call-control_Errors', e.error, '422 body');
    return true;
  });
  await assert.rejects(
    client.calls.dial({ connection_id: '1001', from: '+15550009999' }),
    (e) => e instanceof UnprocessableEntityError && e.error.errors[0].code === '10004');
  const stranger = new Telnyx({ apiKey: 'wrong', baseURL: `http://127.0.0.1:${simPort}/v2`, maxRetries: 0 });
  await assert.rejects(stranger.calls.retrieveStatus(ccid), (e) => e instanceof AuthenticationError);
});

test('telephony credentials and their login tokens', async () => {
  const cred = await client.telephonyCredentials.create({ connection_id: '1001', name: 'agent-1' });
  validate(
    '/paths/~1telephony_credentials/post/responses/201/content/application~1json/schema',
    cred, 'credential');
  assert.match(cred.data.sip_username, /^gencred[A-Za-z0-9]{26}$/);
  assert.equal(cred.data.resource_id, 'connection:1001');
  const again = await client.telephonyCredentials.retrieve(cred.data.id);
  assert.equal(again.data.sip_username, cred.data.sip_username);
  const token = await client.telephonyCredentials.createToken(cred.data.id);
  const [header, payload] = token.split('.').slice(0, 2)
    .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
  assert.equal(header.alg, 'HS256');
  assert.equal(payload.telephony_credential_id, cred.data.id);
  assert.ok(payload.exp - payload.iat <= 24 * 3600);
  await assert.rejects(
    client.telephonyCredentials.create({ connection_id: '999' }),
    (e) => e instanceof UnprocessableEntityError);
  const expired = await client.telephonyCredentials.create({
    connection_id: '1001', expires_at: '2020-01-01T00:00:00Z' });
  assert.equal(expired.data.expired, true);
  await assert.rejects(client.telephonyCredentials.createToken(expired.data.id),
    (e) => e instanceof UnprocessableEntityError);
});

test('every webhook was signed, verifies, and matches its schema', async () => {
  assert.ok(received.length >= 20, `only ${received.length} webhooks`);
  for (const r of received) {
    assert.equal(r.error, undefined, `unwrap refused a webhook: ${r.error}\n${r.raw}`);
    assert.match(r.headers['telnyx-timestamp'], /^\d+$/);
    assert.equal(r.headers['user-agent'], 'telnyx-webhooks');
    const { data, meta } = r.event;
    assert.equal(data.record_type, 'event');
    assert.match(data.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(meta.attempt, 1);
    const schema = eventSchemas[data.event_type];
    assert.ok(schema, `no schema known for ${data.event_type}`);
    const copy = structuredClone(data);
    if (copy.payload.client_state === null) delete copy.payload.client_state; // real, not spec
    validate(`/components/schemas/${schema}`, { data: copy }, data.event_type);
  }
  const ids = received.map((r) => r.event.data.id);
  assert.equal(new Set(ids).size, ids.length, 'an event id was used twice');
});
