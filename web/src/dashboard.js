// The supervisors' wallboard: every live call (a row each, its timer
// ticking from the provider's answer), agents by presence (each change
// pushed as it happens), and today's calls (asked of the relay at the
// hello, since this browser's midnight, then kept current by the pushes).
// Rendered from core.board() over the records the relay sends; it holds no
// state of its own beyond them.
import { board, clock, withAgent } from './core.js';
import { relaySocket } from './relaysocket.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const calls = new Map();
let agents = [];
let skew = 0;
let relay = null; // the relay's socket (relaySocket)

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
  for (const [label, names] of Object.entries(b.presence)) {
    const li = document.createElement('li');
    li.textContent = `${label}: ${names.length} (${names.join(', ')})`;
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

// Every message of the relay's socket.
function onRelay(msg) {
  if (msg.type === 'hello') {
    $('note').textContent = '';
    skew = msg.server_time - Date.now();
    for (const c of msg.calls) keep(c);
    agents = msg.agents || [];
    // today's calls, from the server: since this browser's midnight
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    relay.send({ type: 'calls', since: midnight.getTime() });
  } else if (msg.type === 'calls') {
    for (const c of msg.calls) keep(c);
  } else if (msg.type === 'call') {
    const known = keep(msg.call);
    if (known && msg.call.version > known.version + 1) relay.send({ type: 'get', call: msg.call.id });
  } else if (msg.type === 'agents') {
    agents = msg.agents;
  } else if (msg.type === 'agent') {
    // one agent's status moved, or they were removed (pushed as it happens)
    agents = withAgent(agents, msg.agent, msg.removed === true);
  } else if (msg.type === 'error') {
    $('note').textContent = msg.error;
  }
  render();
}

function start() {
  if (!token) { $('note').textContent = 'Open with ?token=<a supervisor\'s agent token>'; return; }
  // A wallboard stays up all day: when the socket is cut (the relay
  // restarted, the network blinked) it says so and connects again
  // (relaysocket.js); a refused one keeps its error in the note.
  relay = relaySocket(`/ws?view=dashboard&token=${encodeURIComponent(token)}`, {
    onMessage: onRelay,
    onDown: () => { $('note').textContent = 'Reconnecting…'; },
    onRefused: () => {},
  });
  setInterval(render, 1000);
  // the whole list again now and then, for a change whose notice the bus lost
  setInterval(() => relay.send({ type: 'agents' }), 30000);
}

start();
