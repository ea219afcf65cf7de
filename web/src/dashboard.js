// The supervisors' wallboard: every live call (a row each, its timer
// ticking from the provider's answer), agents by presence (each change
// pushed as it happens), and today's calls (asked of the relay at the
// hello, since this browser's midnight, then kept current by the pushes).
// Rendered from core.board() over the records the relay sends; it holds no
// state of its own beyond them.
import { board, clock, withAgent } from './core.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const calls = new Map();
let agents = [];
let skew = 0;
let ws = null;

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text;
  tr.appendChild(td);
}

function render() {
  const b = board([...calls.values()], agents, Date.now() + skew);
  const body = $('calls');
  body.replaceChildren();
  for (const r of b.rows) {
    const tr = document.createElement('tr');
    tr.dataset.call = r.id;
    for (const t of [r.agent, r.direction, r.number, r.state, r.time]) cell(tr, t);
    body.appendChild(tr);
  }
  $('empty').hidden = b.rows.length > 0;
  const pres = $('presence');
  pres.replaceChildren();
  for (const [status, names] of Object.entries(b.presence)) {
    const li = document.createElement('li');
    li.textContent = `${status}: ${names.length} (${names.join(', ')})`;
    pres.appendChild(li);
  }
  const people = $('agents');
  people.replaceChildren();
  for (const a of b.agentRows) {
    const tr = document.createElement('tr');
    tr.dataset.agent = a.id;
    for (const t of [a.name, a.status, a.for]) cell(tr, t);
    people.appendChild(tr);
  }
  $('outcomes').textContent = Object.entries(b.outcomes).map(([o, n]) => `${o} ${n}`).join(' · ') || 'none yet';
  $('talk').textContent = b.avgTalk === null ? '—' : clock(b.avgTalk * 1000);
  $('gap').textContent = b.avgGap === null ? '—' : `${Math.round(b.avgGap)} ms (p95 ${Math.round(b.p95Gap)} ms)`;
  window.dashboard = { board: b };
}

// A record kept only if it is not older than the one held.
function keep(c) {
  const known = calls.get(c.id);
  if (!known || c.version >= known.version) calls.set(c.id, c);
  return known;
}

// The relay's socket. A wallboard stays up all day: when the socket is cut
// (the relay restarted, the network blinked) it says so and connects again,
// waiting 0.5 s, then twice as long each time up to 8 s; the new hello and
// today's calls bring back what changed meanwhile. A socket refused before
// its hello (a bad or expired token, not a supervisor) is not retried.
let backoff = 500;

function connect() {
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?view=dashboard&token=${encodeURIComponent(token)}`);
  let greeted = false;
  let refused = null;
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === 'hello') {
      greeted = true;
      backoff = 500;
      $('note').textContent = '';
      skew = msg.server_time - Date.now();
      for (const c of msg.calls) keep(c);
      agents = msg.agents || [];
      // today's calls, from the server: since this browser's midnight
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      ws.send(JSON.stringify({ type: 'calls', since: midnight.getTime() }));
    } else if (msg.type === 'calls') {
      for (const c of msg.calls) keep(c);
    } else if (msg.type === 'call') {
      const known = keep(msg.call);
      if (known && msg.call.version > known.version + 1) ws.send(JSON.stringify({ type: 'get', call: msg.call.id }));
    } else if (msg.type === 'agents') {
      agents = msg.agents;
    } else if (msg.type === 'agent') {
      // one agent's status moved (pushed as it happens)
      agents = withAgent(agents, msg.agent);
    } else if (msg.type === 'error') {
      if (!greeted) refused = msg.error;
      $('note').textContent = msg.error;
    }
    render();
  };
  ws.onclose = () => {
    if (refused) return; // the note says why
    $('note').textContent = 'Reconnecting…';
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 8000);
  };
}

function start() {
  if (!token) { $('note').textContent = 'Open with ?token=<a supervisor\'s agent token>'; return; }
  connect();
  setInterval(render, 1000);
  // the whole list again now and then, for a change whose notice the bus lost
  setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'agents' })), 30000);
}

start();
