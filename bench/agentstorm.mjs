// make bench, the relay's presence section: AGENTS (default 10 000) agents
// and one supervisor's dashboard on a relay. Two things a big floor does to
// it, timed from the dashboard's socket:
//  - the dashboard's list of every agent ({"type":"agents"}: at its hello,
//    and its resync every 30 s), which the relay reads on its web loop;
//  - a storm of agent.changed notices (every agent at once, as after an
//    outage when every softphone reconnects) at STORM_RATE a second
//    (default 30 000): how long after the last notice the dashboard has
//    every push, and the relay's CPU per notice.
// Starts its own Redis (AOF everysec), bus and relay on free ports in a temp
// dir. RELAY_BIN= runs another relay binary (to compare two builds).
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { root, bin, freePort, until, up, cpuOf, benchDir } from './stack.mjs';

const AGENTS = Number(process.env.AGENTS || 10000);
const RATE = Number(process.env.STORM_RATE || 30000);
const RUNS = 3;
const RELAY = process.env.RELAY_BIN || bin('relay');
const STORM = process.env.STORM || join(root, 'build', 'rel', 'bench', 'agentstorm');
const API_KEY = 'bench-api-key';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { run, redis, finish } = benchDir('agentstorm');

async function main() {
  const sock = await redis();
  const [pub, sub, port] = [await freePort(), await freePort(), await freePort()];
  const env = {
    CALLSYNC_REDIS_URL: `unix://${sock}`, CALLSYNC_BUS_PUB: `tcp://127.0.0.1:${pub}`,
    CALLSYNC_BUS_SUB: `tcp://127.0.0.1:${sub}`, CALLSYNC_LOG_LEVEL: 'warn',
  };
  run('bus', bin('bus'), [], env);
  const relay = run('relay', RELAY, [], {
    ...env, CALLSYNC_RELAY_PORT: String(port), CALLSYNC_API_KEY: API_KEY, CALLSYNC_RTC_HOST: 'ws://127.0.0.1:9',
    TELNYX_API_BASE: 'http://127.0.0.1:9/v2', TELNYX_API_KEY: 'unused',
  });
  await up(`http://127.0.0.1:${port}/healthz`);

  // the agents, written straight into Redis as `agent set` leaves them (a
  // ctl process each would take minutes), and one supervisor
  let cmds = '';
  for (let i = 0; i < AGENTS; i++) {
    const id = `storm${String(i).padStart(5, '0')}`;
    cmds += `HSET cs:agent:${id} id ${id} sip_user ${id}sip status available updated_at 2026-11-25T00:00:00.000Z\nSADD cs:agents ${id}\nSET cs:idx:sip:${id}sip ${id}\n`;
  }
  execFileSync('redis-cli', ['-s', sock, '--pipe'], { input: cmds, stdio: ['pipe', 'ignore', 'inherit'] });
  execFileSync(bin('ctl'), ['agent', 'set', 'boss', '--sip-user', 'boss01', '--role', 'supervisor'], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const { token } = await (await fetch(`http://127.0.0.1:${port}/v1/agents/boss/token`,
    { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } })).json();

  let pushes = 0, last = 0n, lists = 0, listed = 0;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?view=dashboard&token=${encodeURIComponent(token)}`);
  await new Promise((resolve, reject) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'hello') resolve();
      else if (m.type === 'agents') { lists++; listed = m.agents.length; }
      else if (m.type === 'agent') { pushes++; last = process.hrtime.bigint(); }
    };
    ws.onerror = () => reject(new Error('the dashboard socket'));
  });

  const listMs = [];
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    const before = lists;
    ws.send(JSON.stringify({ type: 'agents' }));
    await until('the agents list', () => lists > before);
    listMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(`dashboard's list of ${listed} agents: ${listMs.map((x) => x.toFixed(1)).join(', ')} ms (median ${median(listMs).toFixed(1)} ms)`);

  const lagMs = [], cpuUs = [];
  for (let r = 0; r < RUNS; r++) {
    pushes = 0;
    const c0 = cpuOf(relay.pid);
    const storm = spawn(STORM, [`tcp://127.0.0.1:${pub}`, String(AGENTS), String(RATE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    storm.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => storm.on('exit', resolve));
    if (code !== 0) throw new Error(`agentstorm exited ${code} (notices the bus did not queue)`);
    const sentAt = BigInt(out.trim()); // its last notice, on our clock
    await until(`${AGENTS} pushes`, () => pushes >= AGENTS, 60000);
    lagMs.push(Number(last - sentAt) / 1e6);
    cpuUs.push((cpuOf(relay.pid) - c0) * 1e6 / AGENTS);
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`storm of ${AGENTS} agent.changed at ${RATE}/s: every push on the dashboard ${lagMs.map((x) => x.toFixed(1)).join(', ')} ms after the last notice (median ${median(lagMs).toFixed(1)} ms); relay CPU per notice ${cpuUs.map((x) => x.toFixed(1)).join(', ')} us (median ${median(cpuUs).toFixed(1)} us)`);
  ws.close();
}

main().catch((e) => { console.error(`agentstorm: ${e.stack || e}`); process.exitCode = 1; }).finally(finish);
