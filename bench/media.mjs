// make bench, media part (issue 4): the real SDK in chromium against the
// sim's webrtcbin far end, in a network namespace with only loopback.
//  1. far-end answer -> first audio packet at the browser, with and without
//     early media, over CALLS calls each (p50/p95). The first packet is
//     estimated past Chrome's ~50 ms getStats cache as in the signaling
//     reference §7: max(last report without packets,
//     lastPacketReceivedTimestamp - (packetsReceived - 1) * 20 ms).
//  2. the sim's CPU and memory with 1, 5 and 10 concurrent media calls.
// Usage: scripts/netns.sh node bench/media.mjs; CALLS=n, VERBOSE=1 (every
// call's number), SKIP_CONC=1 (part 1 only).
import { readFileSync } from 'node:fs';
import { Stack, until } from '../tests/browser/lib.mjs';

const CALLS = Number(process.env.CALLS || 20);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64');
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const fmt = (xs) => `p50 ${pct(xs, 0.5).toFixed(1)} ms, p95 ${pct(xs, 0.95).toFixed(1)} ms (n=${xs.length})`;

function firstPacket(samples) {
  let lastEmpty = null;
  for (const s of samples) {
    if (s.packetsReceived === 0) { lastEmpty = s.reportTimestamp; continue; }
    const est = s.lastPacketReceivedTimestamp - (s.packetsReceived - 1) * 20;
    return lastEmpty === null ? est : Math.max(lastEmpty, est);
  }
  return null;
}

async function oneCall(stack, page, to, n) {
  const cs = `cs_bench_${to}_${n}`;
  const id = await page.evaluate(([dest, state]) => {
    const i = window.cs.newCall({ destinationNumber: dest, clientState: state });
    return i;
  }, [to, b64({ cs })]);
  await page.evaluate((i) => window.cs.watch(i), id);
  const init = await stack.webhook('call.initiated', (p) => p.client_state === b64({ cs }));
  const ccid = init.payload.call_control_id;
  await stack.rest('POST', `/v2/calls/${encodeURIComponent(ccid)}/actions/transfer`, { to });
  await page.waitForFunction((i) => window.cs.states(i).includes('active'), id, { timeout: 15000 });
  const customer = (await stack.simLeg(ccid)).bridged_with;
  const answered = await stack.webhook('call.answered', (p) => p.call_control_id === customer);
  await until('a few packets', async () => (await page.evaluate((i) => window.cs.audio(i), id))?.packetsReceived > 5);
  const samples = await page.evaluate((i) => window.cs.unwatch(i), id);
  const active = (await page.evaluate((i) => window.cs.log.find((e) => e.id === i && e.state === 'active'), id)).t;
  const m = (await stack.simLeg(ccid)).webrtc.media;
  await page.evaluate((i) => window.cs.hangup(i), id);
  await page.waitForFunction((i) => window.cs.states(i).includes('destroy'), id);
  const answerAt = Date.parse(answered.occurred_at);
  if (process.env.VERBOSE) {
    console.log(`    call ${n}: media ready ${m.created_at - answerAt} ms, DTLS up ${m.connected_at - answerAt} ms, first sent ${m.first_tx_at - answerAt} ms after the answer`);
  }
  return { first: firstPacket(samples) - answerAt, active: active - answerAt };
}

function proc(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return { ticks, rssKiB: rss };
}

const stack = await new Stack().start();
try {
  const agent = await stack.agent('bench');
  const page = await stack.page();
  await page.evaluate(([h, t]) => window.cs.connect({ host: h, login_token: t }),
    [`ws://127.0.0.1:${stack.simPort}`, agent.token]);
  console.log(`# media benchmark: ${CALLS} calls per mode, chromium ${stack.browser.version()}`);
  for (const [to, label] of [['+15550100001', 'early media (1 s of ringback, then answer)'],
    ['+15550100006', 'no early media (path ready, silent until answer)']]) {
    const firsts = []; const actives = [];
    for (let n = 0; n < CALLS; n++) {
      const r = await oneCall(stack, page, to, n);
      firsts.push(r.first); actives.push(r.active);
    }
    console.log(`${label}:`);
    console.log(`  far-end answer -> callUpdate active: ${fmt(actives)}`);
    console.log(`  far-end answer -> first audio packet (corrected): ${fmt(firsts)}`);
    if (process.env.VERBOSE) console.log(`  each: ${firsts.map((x) => x.toFixed(0)).join(" ")}`);
  }
  await page.context().close();

  // CPU and memory of the sim per concurrent media call
  const pid = stack.sim.pid;
  const hz = 100;
  const idle = proc(pid);
  console.log(`sim idle: RSS ${(idle.rssKiB / 1024).toFixed(1)} MiB`);
  for (const n of process.env.SKIP_CONC ? [] : [1, 5, 10]) {
    const pages = []; const ids = [];
    for (let i = 0; i < n; i++) {
      const p = await stack.page();
      await p.evaluate(([h, t]) => window.cs.connect({ host: h, login_token: t }),
        [`ws://127.0.0.1:${stack.simPort}`, (await stack.agent(`c${n}-${i}`)).token]);
      const cs = `cs_conc_${n}_${i}`;
      const id = await p.evaluate(([s]) => window.cs.newCall({ destinationNumber: '+15550100001', clientState: s }), [b64({ cs })]);
      const init = await stack.webhook('call.initiated', (q) => q.client_state === b64({ cs }));
      await stack.rest('POST', `/v2/calls/${encodeURIComponent(init.payload.call_control_id)}/actions/transfer`, { to: '+15550100001' });
      pages.push(p); ids.push(id);
    }
    for (let i = 0; i < n; i++) await pages[i].waitForFunction((id) => window.cs.states(id).includes('active'), ids[i], { timeout: 20000 });
    const a = proc(pid); const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const b = proc(pid); const secs = (Date.now() - t0) / 1000;
    const cpu = ((b.ticks - a.ticks) / hz) / secs * 100;
    console.log(`${n} concurrent call(s): sim CPU ${cpu.toFixed(1)} % of one core (${(cpu / n).toFixed(1)} % per call), RSS ${(b.rssKiB / 1024).toFixed(1)} MiB (+${((b.rssKiB - idle.rssKiB) / 1024 / n).toFixed(2)} MiB per call over idle)`);
    for (let i = 0; i < n; i++) { await pages[i].evaluate((id) => window.cs.hangup(id), ids[i]); await pages[i].context().close(); }
  }
} finally {
  await stack.stop();
}
