// make bench, softphone part (issue 6): the whole stack (bus, ingestor,
// orchestrator, timer, relay, sim) and the real softphone page in
// chromium, driven as an agent does: type the number, click Call, and when
// it is "In call", Hang up. Per call, on one clock (the sim's provider
// times and the page run on this machine):
//  - answer -> "In call": the customer leg's call.answered occurred_at to
//    the status line's change (a MutationObserver) and to the next frame
//    after it (requestAnimationFrame: painted);
//  - the post-answer audio gap: the record's post_answer_audio_gap_ms, the
//    softphone's own report of its first remote audio packet (estimated
//    past Chrome's getStats cache) minus the provider's answer.
// CALLS calls per mode (p50/p95): without early media (+15550100006: the
// path is built while it rings, silent) and with it (+15550100001).
// Usage: scripts/netns.sh node bench/softphone.mjs; CALLS=n.
import { Stack, until } from '../tests/browser/lib.mjs';

const CALLS = Number(process.env.CALLS || 20);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const fmt = (xs) => `p50 ${pct(xs, 0.5).toFixed(0)} ms, p95 ${pct(xs, 0.95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;

const stack = await new Stack({ backbone: true }).start();
try {
  const agent = await stack.agent('bench');
  stack.ctl('agent', 'set', 'bench', '--sip-user', agent.user, '--name', 'Bench', '--status', 'available',
    '--credential', agent.credentialId);
  const { body: { token } } = await stack.crm('POST', '/v1/agents/bench/token');
  const page = await (await stack.browser.newContext()).newPage();
  await page.goto(`${stack.relay}/?token=${encodeURIComponent(token)}`);
  const status = () => page.getByRole('status').textContent();
  await until('Ready', async () => (await status()) === 'Ready', 15000);
  await page.evaluate(() => {
    window.seen = [];
    const el = document.getElementById('status');
    new MutationObserver(() => {
      const e = { s: el.textContent, at: Date.now(), painted: null };
      window.seen.push(e);
      requestAnimationFrame(() => { e.painted = Date.now(); });
    }).observe(el, { childList: true, characterData: true, subtree: true });
  });

  for (const [to, label] of [['+15550100006', 'no early media'], ['+15550100001', 'early media']]) {
    const inCall = [], painted = [], gap = [];
    for (let i = 0; i < CALLS; i++) {
      await page.evaluate(() => { window.seen = []; });
      await page.getByLabel('Number').fill(to);
      await page.getByRole('button', { name: 'Call' }).click();
      await until('"In call"', async () => (await status()) === 'In call', 15000);
      const rec = await until("the provider's answer", async () => {
        const r = await page.evaluate(() => window.softphone.record);
        return r && r.answered_at && r.answered_source === 'webhook' && r;
      }, 15000);
      const answered = Date.parse(rec.answered_at);
      const g = await until('the audio gap', () => {
        const r = stack.ctl('call', rec.id);
        return r.post_answer_audio_gap_ms !== null && r;
      }, 15000);
      const e = (await page.evaluate(() => window.seen)).find((x) => x.s === 'In call');
      inCall.push(e.at - answered);
      painted.push(e.painted - answered);
      gap.push(g.post_answer_audio_gap_ms);
      await page.getByRole('button', { name: 'Hang up' }).click();
      await until('"Call ended"', async () => (await status()) === 'Call ended', 5000);
      await until('every leg ended', () => {
        const r = stack.ctl('call', rec.id);
        return r.state === 'ended' && r.legs.every((l) => l.ended_at);
      }, 5000);
    }
    console.log(`softphone, ${to} (${label}), ${CALLS} calls: answer -> "In call" ${fmt(inCall)}; ` +
      `painted ${fmt(painted)}; post-answer audio gap ${fmt(gap)}`);
  }
} finally {
  await stack.stop();
}
