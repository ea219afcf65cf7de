// make bench, the relay section (issue 6): webhook received -> WS frame at
// the agent's socket, with AGENTS (default 1000) softphone sockets, one
// live call each, and webhooks at RATE (default 1000/s) for SECONDS
// (default 10). A WS load client, not browsers: node's WebSocket
// (--experimental-websocket). Starts its own Redis (AOF everysec), bus,
// ingestor and relay on free ports in a temp dir.
//
// Each webhook changes its call's record (answered, then hold/unhold
// toggles), so each one is exactly one push to one socket; the latency is
// from the moment the signed webhook is due to be sent to the moment its
// record arrives on the socket (the ingestor's HTTP, its Redis write, the
// bus, the relay's fan-out and the socket, all included).
//
// The webhooks are sent by bench/loadgen (C, libcurl, paced, 32 keep-alive
// connections; LOADGEN names the binary), not by this process: a node
// client sending 1 000 requests/s beside 1 000 sockets measured its own
// event loop. loadgen logs when each one was due and acknowledged on
// CLOCK_MONOTONIC, the clock of process.hrtime here, so the two ends of the
// path are timed on one clock. The n-th record pushed to socket i after the
// start is the answer to webhook n * AGENTS + i.
import { spawn, execFileSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { root, bin, freePort, until, up, cpuOf, rssOf, benchDir } from './stack.mjs';

const AGENTS = Number(process.env.AGENTS || 1000);
const RATE = Number(process.env.RATE || 1000);
const SECONDS = Number(process.env.SECONDS || 10);
const API_KEY = 'bench-api-key';
const LOADGEN = process.env.LOADGEN || join(root, 'build', 'rel', 'bench', 'loadgen');
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const { dir, run, redis, finish } = benchDir('relaybench');
async function main() {
  const sock = await redis();
  const keys = JSON.parse(execFileSync(bin('ctl'), ['keypair'], { encoding: 'utf8' }));
  const [pub, sub, ingest, relay] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    CALLSYNC_REDIS_URL: `unix://${sock}`, CALLSYNC_BUS_PUB: `tcp://127.0.0.1:${pub}`,
    CALLSYNC_BUS_SUB: `tcp://127.0.0.1:${sub}`, CALLSYNC_LOG_LEVEL: process.env.CALLSYNC_LOG_LEVEL || 'warn',
  };
  run('bus', bin('bus'), [], env);
  run('ingestor', bin('ingestor'), [], { ...env, CALLSYNC_INGEST_PORT: String(ingest), TELNYX_PUBLIC_KEY: keys.public_key });
  const relayProc = run('relay', bin('relay'), [], {
    ...env, CALLSYNC_RELAY_PORT: String(relay), CALLSYNC_API_KEY: API_KEY, CALLSYNC_RTC_HOST: 'ws://127.0.0.1:9',
    TELNYX_API_BASE: 'http://127.0.0.1:9/v2', TELNYX_API_KEY: 'unused',
  });
  await up(`http://127.0.0.1:${ingest}/healthz`);
  await up(`http://127.0.0.1:${relay}/healthz`);

  // agents and their tokens
  const ids = Array.from({ length: AGENTS }, (_, i) => `bench${String(i).padStart(5, '0')}`);
  for (let i = 0; i < ids.length; i += 32) {
    await Promise.all(ids.slice(i, i + 32).map((id) => new Promise((resolve, reject) => {
      const p = spawn(bin('ctl'), ['agent', 'set', id, '--sip-user', `${id}sip`, '--status', 'available'],
        { env: { ...process.env, ...env }, stdio: 'ignore' });
      p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`ctl agent set ${id}: ${c}`))));
    })));
  }
  const auth = { authorization: `Bearer ${API_KEY}` };
  const tokens = await Promise.all(ids.map(async (id) =>
    (await (await fetch(`http://127.0.0.1:${relay}/v1/agents/${id}/token`, { method: 'POST', headers: auth })).json()).token));

  // one socket per agent; each dials (the relay makes the record)
  const calls = new Array(AGENTS);
  const frames = new Array(AGENTS).fill(0); // per socket: records pushed since the start
  const frameAt = []; // per webhook: its push's arrival, ns (CLOCK_MONOTONIC)
  let measuring = false;
  let pushes = 0;
  const sockets = await Promise.all(tokens.map((t, i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${relay}/ws?token=${encodeURIComponent(t)}`);
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'hello') resolve(ws);
      else if (m.type === 'dial') calls[i] = m.call.id;
      else if (m.type === 'call' && measuring) {
        frameAt[frames[i]++ * AGENTS + i] = process.hrtime.bigint();
        pushes++;
      }
    };
    ws.onerror = () => reject(new Error(`socket ${i}`));
  })));
  sockets.forEach((ws, i) => ws.send(JSON.stringify({ type: 'dial', to: `+1555${String(2000000 + i).padStart(7, '0')}` })));
  await until('every record', () => calls.filter(Boolean).length === AGENTS, 30000);

  // the signed webhooks, made ahead of time
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(keys.seed, 'base64')]);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const total = RATE * SECONDS;
  const t0 = Date.now() - 60000;
  const hooks = [];
  for (let k = 0; k < total; k++) {
    const i = k % AGENTS;
    const j = Math.floor(k / AGENTS);
    const type = j === 0 ? 'call.initiated' : j === 1 ? 'call.answered' : j % 2 ? 'call.unhold' : 'call.hold';
    const cs = Buffer.from(JSON.stringify({ cs: calls[i], role: 'customer' })).toString('base64');
    const body = JSON.stringify({
      data: {
        event_type: type, id: `bench-${i}-${j}-${process.pid}`, record_type: 'event',
        occurred_at: new Date(t0 + j * 1000 + i).toISOString(),
        payload: {
          call_control_id: `v3:bench-${i}-C`, call_leg_id: `leg-${i}`, call_session_id: `sess-${i}`,
          client_state: cs, connection_id: '1001', from: '+15550009999', to: `+1555${String(2000000 + i).padStart(7, '0')}`,
          direction: 'outgoing', state: type === 'call.initiated' ? 'bridging' : 'answered',
          calling_party_type: 'pstn', start_time: new Date(t0).toISOString(),
        },
      },
      meta: { attempt: 1, delivered_to: 'bench' },
    });
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = sign(null, Buffer.from(`${ts}|${body}`), key).toString('base64');
    hooks.push({ i, body, headers: { 'content-type': 'application/json', 'telnyx-signature-ed25519': sig, 'telnyx-timestamp': ts } });
  }

  // paced sending, by loadgen
  const bodies = join(dir, 'webhooks.tsv');
  const sentLog = join(dir, 'sent.log');
  writeFileSync(bodies, hooks.map((h) => `${h.headers['telnyx-timestamp']}\t${h.headers['telnyx-signature-ed25519']}\t${h.body}\n`).join(''));
  const cpu0 = cpuOf(relayProc.pid);
  const start = performance.now();
  measuring = true;
  const out = await new Promise((resolve, reject) => {
    let text = '';
    const p = spawn(LOADGEN, ['--ports', String(ingest), '--bodies', bodies, '--rate', String(RATE),
      '--connections', '32', '--sent-log', sentLog], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.on('data', (d) => { text += d; });
    p.on('exit', (c) => (c === 0 || c === 1 ? resolve(text) : reject(new Error(`loadgen exit ${c}`))));
  });
  const elapsed = (performance.now() - start) / 1000;
  const log = readFileSync(sentLog, 'utf8').trim().split('\n').map((l) => l.split(' '));
  const failed = log.filter((l) => l[2] !== '200').length;
  await until('the last pushes', () => pushes >= total - failed, 10000).catch(() => {});
  const cpu = cpuOf(relayProc.pid) - cpu0;
  const ms = (ns) => Number(ns) / 1e6;
  const lat = [];
  const acks = [];
  const after = []; // the part after the ingestor's 2xx: bus, relay, socket (a push may beat the 2xx: 0)
  log.forEach(([sent, acked], k) => {
    acks.push(ms(BigInt(acked) - BigInt(sent)));
    if (frameAt[k] === undefined) return;
    lat.push(ms(frameAt[k] - BigInt(sent)));
    after.push(Math.max(0, ms(frameAt[k] - BigInt(acked))));
  });
  for (const x of [lat, acks, after]) x.sort((a, b) => a - b);
  const f = (x) => x.toFixed(2);
  console.log(`relay: ${AGENTS} sockets, ${total} webhooks at ${RATE}/s (${(total / elapsed).toFixed(0)}/s sent), ${pushes} pushes, ${failed} failed`);
  console.log(`  loadgen: ${out.trim()}`);
  console.log(`  webhook -> 2xx            p50 ${f(pct(acks, 50))} ms  p99 ${f(pct(acks, 99))} ms`);
  console.log(`  webhook -> WS frame       p50 ${f(pct(lat, 50))} ms  p90 ${f(pct(lat, 90))} ms  p99 ${f(pct(lat, 99))} ms  max ${f(lat[lat.length - 1])} ms`);
  console.log(`  2xx -> WS frame           p50 ${f(pct(after, 50))} ms  p90 ${f(pct(after, 90))} ms  p99 ${f(pct(after, 99))} ms`);
  console.log(`  relay CPU ${((100 * cpu) / elapsed).toFixed(1)} % of a core, RSS ${rssOf(relayProc.pid).toFixed(1)} MiB` +
    ` (machine: ${cpus().length} cores, ${cpus()[0].model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB)`);
  for (const ws of sockets) ws.close();
}

main().catch((e) => { console.error(`relayload: ${e.stack || e}`); process.exitCode = 1; })
  .finally(finish);
