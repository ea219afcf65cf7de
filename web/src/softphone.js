// The softphone: the relay's socket (the call record, pushed), the real
// @telnyx/webrtc SDK (media, placed at once on Call), and the screen,
// rendered from core.view() on every change and every second. The page
// keeps no call state of its own beyond the SDK call it holds.
import { TelnyxRTC } from '@telnyx/webrtc';
import { view, clientState, e164, transferTarget, recentRows, mos, transferFailed, consultAnswered, presenceView } from './core.js';
import { relaySocket } from './relaysocket.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token');
// Embedded in a CRM page (src/embed.js): the parent may ask to dial, and
// hears what the screen shows.
const embedded = params.get('embed') === '1' && window.parent !== window;
let postedState = '';

/** @type {import('./core.js').CallRecord|null} */
let record = null;
let sdkCall = null; // the SDK's Call
let client = null;
let relay = null; // the relay's socket (relaySocket)
let muted = false;
let skew = 0; // server time - this page's time, from hello
let me = ''; // this softphone's agent id, from hello
// A warm transfer's consult: a second SDK call to the colleague, while the
// customer waits on hold on the first (proto/README.md, "transfer").
let consultCall = null;
let consultTo = '';
let completing = false;
let completeVersion = 0; // the record's version when Complete transfer was asked
let completeSdkId = ''; // the customer's SDK call whose Complete transfer is on its way
let hangupAfterComplete = null; // Hang up pressed while it was: its timer (see hangUp)
const HANGUP_WAIT_MS = 10000;
let panel = ''; // '' | 'pad' | 'xfer'
// One live softphone per agent across tabs: the tab holding the Web Lock
// "callsync-live-<agent>" runs the SDK; the others mirror the agent's calls
// from the relay and can still hang up (the server ends every leg).
let live = false;
let sdkReady = false; // the SDK has logged in (telnyx.ready): calls can be placed
let lockAsked = false;
let rtc = null; // {host, login_token} from hello, for when this tab becomes live
let quality = null; // {mos, label} of the call on screen, every 2 s
let lastStats = null;
const contacts = new Map(); // number -> contact | null (screen pop, asked once per number)
let recentCalls = [];
let recentFor = ''; // the ended call the recent list was last fetched after
const ENDED = ['hangup', 'destroy', 'purge'];
const recent = new Map(); // the agent's records seen lately, by id (a call ringing in)

function sdkView() {
  if (!sdkCall) return null;
  return {
    state: sdkCall.state,
    direction: sdkCall.direction,
    remote: sdkCall.direction === 'inbound' ? sdkCall.options.remoteCallerNumber : sdkCall.options.destinationNumber,
  };
}

const CONSULT_LABELS = {
  new: 'calling…', requesting: 'calling…', trying: 'calling…', early: 'ringing…',
  ringing: 'ringing…', active: 'talking', held: 'on hold',
};

function render() {
  const v = view(record, sdkView(), Date.now() + skew, me);
  $('summary').textContent = v.summary;
  $('quality').hidden = !(v.inCall && live && quality);
  if (quality) $('quality').textContent = `Quality: ${quality.label} (MOS ${quality.mos.toFixed(1)})`;
  renderContact(v.remote);
  renderWrapup(v);
  // the recent list again once a call has ended, and once its wrap-up is in
  const recentKey = record ? `${record.id}:${record.wrapup ? record.wrapup.at : ''}` : '';
  if (v.status === 'Call ended' && record && recentFor !== recentKey) {
    recentFor = recentKey;
    send({ type: 'recent' });
  }
  const consulting = !!consultCall && !ENDED.includes(consultCall.state);
  // a panel belongs to the call it was opened on
  if ((panel === 'xfer' && !v.canTransfer && !consulting) || (panel === 'pad' && !v.inCall)) panel = '';
  $('keypad').disabled = !v.inCall || !live;
  $('keypad').setAttribute('aria-expanded', String(panel === 'pad' && v.inCall));
  $('pad').hidden = !(panel === 'pad' && v.inCall);
  $('transfer').disabled = (!v.canTransfer && !consulting) || !live;
  $('transfer').setAttribute('aria-expanded', String(panel === 'xfer'));
  $('xfer').hidden = !(panel === 'xfer' && (v.canTransfer || consulting));
  $('xfer-blind').disabled = consulting;
  $('xfer-consult').disabled = consulting;
  $('consult-status').textContent = consultCall
    ? `Consult with ${consultTo}: ${CONSULT_LABELS[consultCall.state] || 'ended'}` : '';
  $('xfer-complete').hidden = !consulting;
  $('xfer-complete').disabled = !consulting || consultCall.state !== 'active' || !consultAnswered(record) ||
    completing;
  $('xfer-cancel').hidden = !consulting;
  $('status').textContent = v.status;
  const timer = $('timer');
  timer.hidden = v.timer === null;
  timer.textContent = v.timer || '';
  $('remote').textContent = v.remote || '';
  $('call').disabled = !v.canCall || (live && !sdkReady);
  $('mirror').hidden = live || !me;
  $('answer').hidden = !v.ringingIn;
  $('decline').hidden = !v.ringingIn;
  $('hangup').disabled = !v.canHangUp;
  $('hangup').hidden = v.ringingIn;
  $('mute').disabled = !v.inCall || !live;
  $('mute').setAttribute('aria-pressed', String(muted));
  $('hold').disabled = !v.inCall || !live;
  $('hold').setAttribute('aria-pressed', String(v.held));
  if (embedded) {
    const state = { type: 'callsync.state', status: v.status, call: record ? record.id : null, remote: v.remote };
    const key = JSON.stringify(state);
    if (key !== postedState) {
      postedState = key;
      window.parent.postMessage(state, '*');
    }
  }
  window.softphone = {
    record, view: v, sdkState: sdkCall && sdkCall.state, callId: sdkCall && sdkCall.id, stats,
    consultState: consultCall && consultCall.state, live,
    micDevice: () => {
      const pc = sdkCall && sdkCall.peer && sdkCall.peer.instance;
      const s = pc && pc.getSenders().find((x) => x.track && x.track.kind === 'audio');
      return s ? s.track.getSettings().deviceId : null;
    },
  };
}

// For support and tests: the call's audio as WebRTC counts it.
async function stats() {
  const pc = sdkCall && sdkCall.peer && sdkCall.peer.instance;
  if (!pc) return null;
  const out = { bytesReceived: 0, packetsReceived: 0, bytesSent: 0 };
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      out.bytesReceived = r.bytesReceived || 0;
      out.packetsReceived = r.packetsReceived || 0;
    }
    if (r.type === 'outbound-rtp' && r.kind === 'audio') out.bytesSent = r.bytesSent || 0;
  });
  return out;
}

function send(msg) {
  if (relay) relay.send(msg);
}

// The agent's own presence (cs:agent status): the hello has it, and the
// relay pushes every change, wherever it was made (a call, the timer's end
// of wrap-up, an operator, another tab: agent.changed on the bus). The page
// asks again every 30 s, for a notice the bus lost.
let presence = null;

function renderPresence() {
  const p = presenceView(presence);
  $('presence').textContent = p.label;
  const toggle = $('presence-toggle');
  toggle.hidden = !p.action;
  toggle.textContent = p.action || '';
}

function note(text) {
  $('note').textContent = text;
}

// Microphone and speaker: the agent's choice, kept in this browser; the
// SDK opens the chosen microphone for each call (and switches a live
// call's), the speaker is where the page plays the far end.
const chosen = () => ({ mic: localStorage.getItem('callsync.mic') || '', spk: localStorage.getItem('callsync.speaker') || '' });

async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const all = await navigator.mediaDevices.enumerateDevices();
  const { mic, spk } = chosen();
  for (const [id, kind, current] of [['mic', 'audioinput', mic], ['spk', 'audiooutput', spk]]) {
    const sel = $(id);
    const opts = all.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== 'default');
    sel.replaceChildren(new Option('Default', ''), ...opts.map((d, n) => new Option(d.label || `${kind} ${n + 1}`, d.deviceId)));
    sel.value = opts.some((d) => d.deviceId === current) ? current : '';
  }
}

async function useSpeaker(id) {
  for (const el of [$('speaker'), $('consult-speaker')]) {
    if (typeof el.setSinkId === 'function') await el.setSinkId(id).catch(() => {});
  }
}

function place(rec) {
  // The media path is built now, while the far end rings (ARCHITECTURE §1);
  // nothing waits for a webhook.
  record = rec;
  muted = false;
  const { mic } = chosen();
  sdkCall = client.newCall({
    destinationNumber: rec.to,
    clientState: clientState(rec),
    ...(mic ? { micId: mic } : {}),
    customHeaders: [{ name: 'X-Callsync-Id', value: rec.id }],
    audio: true,
    video: false,
  });
  render();
}

function sdkRinging() {
  return !!sdkCall && sdkCall.direction === 'inbound' && ['new', 'ringing'].includes(sdkCall.state);
}

function answerSdk() {
  pendingAnswer = null;
  sdkCall.answer();
  const { mic } = chosen();
  if (mic) sdkCall.setAudioInDevice(mic).catch(() => {});
}

// An answer asked from another tab, for a leg whose invite has not reached
// this SDK yet: answered when it rings here, within 10 s.
let pendingAnswer = null; // {leg, until}

function answerPending() {
  if (!pendingAnswer || !live || !sdkRinging()) return;
  const leg = sdkCall.telnyxIDs && sdkCall.telnyxIDs.telnyxCallControlId;
  if (Date.now() > pendingAnswer.until) pendingAnswer = null;
  else if (!leg || leg === pendingAnswer.leg) answerSdk();
}

function onRelay(msg) {
  if (msg.type === 'hello') {
    if (msg.server_time) skew = msg.server_time - Date.now();
    $('agent').textContent = msg.agent.name || msg.agent.id;
    me = msg.agent.id;
    $('banner').hidden = true;
    send({ type: 'recent' });
    presence = msg.agent.status || null; // as the connect left it
    renderPresence();
    for (const c of msg.calls || []) recent.set(c.id, c);
    const current = (msg.calls || [])[0];
    if (current && (!record || record.state === 'ended')) record = current;
    if (!msg.rtc.login_token) {
      note('No SDK login for this agent: ask the operator to set its Telnyx credential.');
      return;
    }
    rtc = msg.rtc;
    becomeLive();
  } else if (msg.type === 'dial') {
    if (!live) {
      // the live tab places it; this one shows it
      if (!record || record.state === 'ended') record = msg.call;
      render();
      return;
    }
    if (record && record.state !== 'ended' && record.id !== msg.call.id) {
      note(`Busy: the call to ${msg.call.to} was not placed`);
      return;
    }
    place(msg.call);
  } else if (msg.type === 'call') {
    // versions only grow: an older copy is dropped, a gap is asked again
    const known = recent.get(msg.call.id) || (record && record.id === msg.call.id ? record : null);
    if (known && msg.call.version < known.version) return;
    if (known && msg.call.version > known.version + 1) send({ type: 'get', call: msg.call.id });
    recent.set(msg.call.id, msg.call);
    if (recent.size > 20) recent.delete(recent.keys().next().value);
    // the record of the call on screen, or the one whose leg is the SDK's
    // call: legs are linked by call_control_id, never guessed
    if ((record && msg.call.id === record.id) || (!record && ofSdkCall(msg.call))) record = msg.call;
    // a mirror shows the agent's call in progress
    else if (!live && msg.call.state !== 'ended' && msg.call.agent_id === me &&
      (!record || record.state === 'ended')) record = msg.call;
    // a completion that failed (the bridge refused) can be asked again:
    // the request is one version, its failure a later one. If the
    // colleague has gone (hung up as the call was handed over), back to
    // the customer, as when a consult ends.
    if (completing && record && record.version > completeVersion + 1 && transferFailed(record, me)) {
      const consultOver = !consultCall || ENDED.includes(consultCall.state);
      if (!completionSettled() && consultOver && sdkCall && sdkCall.state === 'held') sdkCall.unhold();
    }
  } else if (msg.type === 'presence') {
    presence = msg.status;
    renderPresence();
  } else if (msg.type === 'contact') {
    contacts.set(msg.number, msg.contact || null);
  } else if (msg.type === 'recent') {
    recentCalls = msg.calls || [];
    renderRecent();
  } else if (msg.type === 'answer') {
    // another tab of this agent answered: the live tab's SDK does it
    if (live) {
      pendingAnswer = { leg: msg.leg, until: Date.now() + 10000 };
      answerPending();
    }
  } else if (msg.type === 'consult') {
    // the relay has the consult on the record: place the consult call
    if (record && msg.call === record.id) startConsult(msg.to);
  } else if (msg.type === 'agents') {
    const list = $('agent-list');
    list.replaceChildren(...(msg.agents || []).filter((a) => a.id !== me).map((a) => {
      const o = document.createElement('option');
      o.value = a.id;
      o.label = `${a.name || a.id} (${a.status})`;
      return o;
    }));
  } else if (msg.type === 'error') {
    note(msg.error);
    // Complete transfer refused: nothing will be handed over
    if (msg.request === 'complete' && completing) completionSettled();
  }
  render();
}

function ofSdkCall(rec) {
  const ccid = sdkCall && sdkCall.telnyxIDs && sdkCall.telnyxIDs.telnyxCallControlId;
  return !!ccid && (rec.legs || []).some((l) => l.call_control_id === ccid);
}

// What the SDK sees goes to the record (relay: {"type":"sdk"}): its call
// states, media connected, and the first audio packet after the answer,
// from which the record derives post_answer_audio_gap_ms.
const reported = new Set();
function report(call, fields) {
  if (!record) return;
  const key = `${record.id}:${fields.state || fields.event}`;
  if (reported.has(key)) return;
  reported.add(key);
  // the leg it is about, once the SDK knows it: a leg's end ends that leg
  // only (one transferred away ends nothing), never the whole call
  const leg = call && call.telnyxIDs && call.telnyxIDs.telnyxCallControlId;
  send({ type: 'sdk', call: record.id, at: Date.now(), ...(leg ? { leg } : {}), ...fields });
}

function watchAudio(call) {
  const pc = call.peer && call.peer.instance;
  if (!pc || call._watched) return;
  call._watched = true;
  let base = null;
  const poll = setInterval(async () => {
    if (!record || ['hangup', 'destroy', 'purge'].includes(call.state)) { clearInterval(poll); return; }
    if (pc.connectionState === 'connected') report(call, { event: 'media_connected' });
    let inb = null;
    (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') inb = r; });
    if (call.state !== 'active' && call.state !== 'held') return;
    const packets = inb ? inb.packetsReceived || 0 : 0;
    if (base === null) { base = packets; return; }
    if (packets > base && inb.lastPacketReceivedTimestamp) {
      // getStats is cached ~50 ms: the first new packet came about
      // (new packets - 1) frames of 20 ms before the last one
      const at = inb.lastPacketReceivedTimestamp - (packets - base - 1) * 20;
      if (!reported.has(`${record.id}:first_audio`)) {
        reported.add(`${record.id}:first_audio`);
        send({ type: 'sdk', call: record.id, event: 'first_audio', at: Math.round(at) });
      }
      clearInterval(poll);
    }
  }, 20);
}

// Call quality from the SDK call's getStats, over the last 2 s.
async function sampleQuality() {
  const pc = sdkCall && sdkCall.peer && sdkCall.peer.instance;
  if (!pc || !['active', 'held'].includes(sdkCall.state)) { quality = null; lastStats = null; return; }
  let rtt = 0;
  let inb = null;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'candidate-pair' && r.nominated && typeof r.currentRoundTripTime === 'number') rtt = r.currentRoundTripTime;
    if (r.type === 'inbound-rtp' && r.kind === 'audio') inb = r;
  });
  if (!inb) return;
  const now = { lost: inb.packetsLost || 0, received: inb.packetsReceived || 0 };
  const prev = lastStats || { lost: 0, received: 0 };
  lastStats = now;
  quality = mos({ rtt, jitter: inb.jitter || 0, lost: now.lost - prev.lost, received: now.received - prev.received });
  render();
}

// Keyboard shortcuts (each button says its own in aria-keyshortcuts):
// Alt+A answer, Alt+D decline, Alt+H hang up, Alt+M mute, Alt+O hold,
// Alt+K keypad, Alt+T transfer; with the keypad open, digits send DTMF.
const SHORTCUTS = { a: 'answer', d: 'decline', h: 'hangup', m: 'mute', o: 'hold', k: 'keypad', t: 'transfer' };
function onKey(e) {
  const id = e.altKey && !e.ctrlKey && !e.metaKey ? SHORTCUTS[e.key.toLowerCase()] : null;
  if (id) {
    const b = $(id);
    if (!b.hidden && !b.disabled) { e.preventDefault(); b.click(); }
    return;
  }
  const typing = e.target && ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName);
  if (!typing && panel === 'pad' && /^[0-9*#]$/.test(e.key) && sdkCall && ['active', 'held'].includes(sdkCall.state)) {
    sdkCall.dtmf(e.key);
  }
}

function connectSdk(host, loginToken) {
  // hangupOnBeforeUnload off: a reload keeps the call (the SDK leaves a
  // recovery marker and the new page gets the call back by
  // telnyx_rtc.attach); a tab closed for good leaves the call to the other
  // tabs, the agent's Hang up anywhere, or the platform's timeout
  client = new TelnyxRTC({ host, login_token: loginToken, iceServers: [], hangupOnBeforeUnload: false });
  client.on('telnyx.ready', () => { sdkReady = true; note(''); render(); });
  client.on('telnyx.error', (e) => note(`Phone error: ${(e && e.error && e.error.message) || 'see the console'}`));
  client.on('telnyx.notification', (n) => {
    if (n.type !== 'callUpdate') return;
    const c = n.call;
    if (consultCall && c.id === consultCall.id) {
      onConsult(c);
      return;
    }
    if (!sdkCall || c.id === sdkCall.id || ['hangup', 'destroy', 'purge'].includes(sdkCall.state)) {
      if (!sdkCall || c.id !== sdkCall.id) {
        // a call this page did not place (ours is sdkCall from newCall on):
        // one ringing in, on a fresh screen (its direction may not be set
        // yet on its first update); or, after a reload, the call on screen
        // given back by the SDK (telnyx_rtc.attach): its leg is the record's
        sdkCall = c;
        if (!(record && record.state !== 'ended' && ofSdkCall(record))) record = null;
        muted = false;
      }
      sdkCall = c;
      if (!record) record = [...recent.values()].find(ofSdkCall) || null;
      report(c, { state: c.state });
      if (hangupAfterComplete && c.id === completeSdkId && ENDED.includes(c.state)) {
        clearTimeout(hangupAfterComplete); // handed over: the call ended here by itself
        hangupAfterComplete = null;
        note('');
      }
      answerPending();
      if (['early', 'active', 'held'].includes(c.state)) watchAudio(c);
      if (c.remoteStream) {
        const audio = $('speaker');
        if (audio.srcObject !== c.remoteStream) {
          audio.srcObject = c.remoteStream;
          audio.play().catch(() => {});
        }
      }
    }
    render();
  });
  client.connect();
}

// Screen pop: the CRM's contact for the number on screen (POST
// /v1/contacts), asked of the relay once per number.
function renderContact(number) {
  const el = $('contact');
  if (!number) { el.replaceChildren(); return; }
  if (!contacts.has(number)) {
    contacts.set(number, undefined);
    send({ type: 'contact', number });
  }
  const c = contacts.get(number);
  if (!c) { el.replaceChildren(); return; }
  const name = document.createElement('strong');
  name.textContent = c.company ? `${c.name} · ${c.company}` : c.name;
  const parts = [name];
  if (c.url) {
    const a = document.createElement('a');
    a.href = c.url;
    a.target = '_blank';
    a.rel = 'noopener';
    a.textContent = 'Open in CRM';
    parts.push(a);
  }
  el.replaceChildren(...parts);
}

// Wrap-up: once the agent's call has ended, a disposition and notes, saved
// on the record (and the agent is available again).
function renderWrapup(v) {
  const show = v.status === 'Call ended' && !!record && !v.summary.startsWith('Transferred');
  $('wrapup').hidden = !show;
  if (!show) return;
  const saved = record.wrapup && record.wrapup.agent_id === me ? record.wrapup : null;
  $('wrapup-saved').textContent = saved ? `Saved: ${saved.disposition}` : '';
  if ($('wrapup').dataset.call !== record.id) {
    // a fresh form per call
    $('wrapup').dataset.call = record.id;
    $('notes').value = saved ? saved.notes : '';
    if (saved) $('disposition').value = saved.disposition;
  }
}

function renderRecent() {
  const list = $('recent-list');
  list.replaceChildren(...recentRows(recentCalls, me, Date.now() + skew).map((r) => {
    const li = document.createElement('li');
    const who = document.createElement('button');
    who.type = 'button';
    who.textContent = r.number;
    who.title = `Call ${r.number}`;
    who.onclick = () => { $('number').value = r.number; $('number').focus(); };
    const what = document.createElement('span');
    what.className = 'muted';
    what.textContent = `${r.arrow} ${r.when} · ${r.outcome}`;
    li.append(who, what);
    return li;
  }));
}

function onConsult(c) {
  consultCall = c;
  if (c.remoteStream && $('consult-speaker').srcObject !== c.remoteStream) {
    $('consult-speaker').srcObject = c.remoteStream;
    $('consult-speaker').play().catch(() => {});
  }
  if (ENDED.includes(c.state)) {
    // the colleague declined, hung up, or was cancelled: back to the
    // customer (unless the call was handed over, and this leg with it)
    if (!completing && sdkCall && sdkCall.state === 'held') sdkCall.unhold();
    if (c.state !== 'hangup') consultCall = null;
  }
  render();
}

function startConsult(to) {
  // the customer waits on hold; the consult is a call of its own, which
  // the orchestrator sends to the colleague (role "consult")
  if (sdkCall && sdkCall.state === 'active') sdkCall.hold();
  consultTo = to;
  completing = false;
  consultCall = client.newCall({
    destinationNumber: to,
    clientState: clientState(record, 'consult', me),
    audio: true,
    video: false,
  });
  render();
}

function cancelConsult() {
  if (!consultCall) return;
  const leg = consultCall.telnyxIDs && consultCall.telnyxIDs.telnyxCallControlId;
  if (!ENDED.includes(consultCall.state)) consultCall.hangup();
  if (leg && record) send({ type: 'hangup', call: record.id, leg });
}

function buildPad() {
  for (const d of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = d;
    b.onclick = () => {
      // in-band of the call's own signalling (telnyx_rtc.info): the far end
      // gets call.dtmf.received
      if (sdkCall && ['active', 'held'].includes(sdkCall.state)) sdkCall.dtmf(d);
    };
    $('pad').appendChild(b);
  }
}

// The outcome of Complete transfer is in, and it did not hand the call
// over (or it is overdue): a hang-up asked for meanwhile is carried out.
function completionSettled() {
  completing = false;
  if (!hangupAfterComplete) return false;
  clearTimeout(hangupAfterComplete);
  hangupAfterComplete = null;
  note('');
  hangUp();
  return true;
}

function hangUp() {
  // Complete transfer is on its way: the orchestrator is about to bridge
  // the customer to the colleague. Ending either of this agent's calls now
  // would end the customer's or the colleague's with it (at Telnyx, a
  // bridged leg's far side hangs up with it), and the relay would end the
  // whole call, which is still this agent's for that moment. So the
  // hang-up waits for the outcome: handed over, this agent's calls end by
  // themselves; refused (by the relay or by Telnyx), it is carried out
  // then. A hang-up always happens: with no outcome in HANGUP_WAIT_MS (a
  // request lost with the socket, an orchestrator down), it goes ahead.
  if (completing && sdkCall && sdkCall.id === completeSdkId && !ENDED.includes(sdkCall.state)) {
    if (!hangupAfterComplete) hangupAfterComplete = setTimeout(completionSettled, HANGUP_WAIT_MS);
    note('Hanging up once the transfer has gone through');
    render();
    return;
  }
  // Both ends of the guarantee: the SDK's bye and the relay's hangup
  // request, which the orchestrator carries out on every live leg.
  if (sdkCall && !['hangup', 'destroy', 'purge'].includes(sdkCall.state)) sdkCall.hangup();
  if (record) send({ type: 'hangup', call: record.id });
  render();
}

// The relay's socket (relaysocket.js): on a cut, a "Reconnecting…" banner
// while it connects again; the hello that follows brings the calls back.
// The SDK's own socket reconnects by itself (telnyx_rtc reattach).
function connectRelay() {
  relay = relaySocket(`/ws?token=${encodeURIComponent(token)}`, {
    onMessage: onRelay,
    onDown: () => { $('banner').hidden = false; },
    onRefused: (error) => note(`callsync refused this page: ${error}`),
  });
}

function becomeLive() {
  if (live || lockAsked) return;
  if (!navigator.locks) { goLive(); return; }
  lockAsked = true;
  // held for the life of the tab; the next tab in line gets it when this
  // one closes
  navigator.locks.request(`callsync-live-${me}`, () => {
    goLive();
    return new Promise(() => {});
  });
  // not granted at once: another tab is live
  setTimeout(render, 0);
}

function goLive() {
  live = true;
  if (!client && rtc) connectSdk(rtc.host, rtc.login_token);
  render();
}

// Call: the record first (the relay), then the SDK places it (place()).
function dialNumber(text) {
  const to = e164(text);
  if (!to) { note('Enter a number like +15550100001'); return; }
  const v = view(record, sdkView(), Date.now() + skew, me);
  if (!v.canCall) { note(`Busy: finish this call before calling ${to}`); return; }
  if (live && !sdkReady) { note('The phone is still connecting: try again in a moment'); return; }
  note('');
  record = null;
  sdkCall = null;
  send({ type: 'dial', to });
  render();
}

function start() {
  $('dial').onsubmit = (e) => {
    e.preventDefault();
    dialNumber($('number').value);
  };
  if (embedded) {
    window.addEventListener('message', (e) => {
      if (e.source !== window.parent || !e.data || e.data.type !== 'callsync.dial') return;
      $('number').value = e.data.to;
      dialNumber(e.data.to);
    });
  }
  $('hangup').onclick = hangUp;
  // Decline passes the call on (the next agent, or routing), never drops
  // the caller: the SDK rejects, and the relay hangs up only this leg
  $('decline').onclick = () => {
    if (sdkCall && !ENDED.includes(sdkCall.state)) sdkCall.hangup();
    if (record) send({ type: 'decline', call: record.id });
    render();
  };
  // Answer: the SDK holding the ringing call answers it; a tab without it
  // (a mirror) asks the relay, which tells the live tab ({"type":"answer"})
  $('answer').onclick = () => {
    if (live && sdkRinging()) answerSdk();
    else if (record) send({ type: 'answer', call: record.id });
  };
  $('mic').onchange = () => {
    localStorage.setItem('callsync.mic', $('mic').value);
    if (sdkCall && ['active', 'held', 'early'].includes(sdkCall.state) && $('mic').value) {
      sdkCall.setAudioInDevice($('mic').value).catch((e) => note(`Microphone: ${e.message || e}`));
    }
  };
  $('spk').onchange = () => {
    localStorage.setItem('callsync.speaker', $('spk').value);
    useSpeaker($('spk').value);
  };
  $('devices').addEventListener('toggle', () => { if ($('devices').open) listDevices(); });
  if (navigator.mediaDevices) navigator.mediaDevices.addEventListener('devicechange', () => listDevices());
  listDevices().then(() => useSpeaker(chosen().spk));
  $('mute').onclick = () => {
    if (!sdkCall) return;
    muted = !muted;
    if (muted) sdkCall.muteAudio(); else sdkCall.unmuteAudio();
    render();
  };
  buildPad();
  $('keypad').onclick = () => { panel = panel === 'pad' ? '' : 'pad'; render(); };
  $('transfer').onclick = () => {
    panel = panel === 'xfer' ? '' : 'xfer';
    if (panel === 'xfer') send({ type: 'agents' });
    render();
    if (panel === 'xfer') $('xfer-to').focus();
  };
  const target = () => {
    const to = transferTarget($('xfer-to').value);
    if (!to) note('Transfer to an agent id or a number like +15550100001');
    return to;
  };
  $('xfer-form').onsubmit = (e) => {
    e.preventDefault();
    const to = target();
    if (!to || !record) return;
    note('');
    send({ type: 'transfer', call: record.id, to });
    panel = '';
    render();
  };
  $('xfer-consult').onclick = () => {
    const to = target();
    if (!to || !record) return;
    note('');
    send({ type: 'consult', call: record.id, to });
  };
  $('xfer-complete').onclick = () => {
    if (!record) return;
    completing = true;
    completeVersion = record.version;
    completeSdkId = sdkCall ? sdkCall.id : '';
    send({ type: 'complete', call: record.id });
    render();
  };
  $('xfer-cancel').onclick = cancelConsult;
  $('wrapup-form').onsubmit = (e) => {
    e.preventDefault();
    if (!record) return;
    send({ type: 'wrapup', call: record.id, disposition: $('disposition').value, notes: $('notes').value });
  };
  $('presence-toggle').onclick = () => {
    const p = presenceView(presence);
    if (p.status) send({ type: 'presence', status: p.status });
  };
  $('hold').onclick = () => {
    if (!sdkCall) return;
    if (sdkCall.state === 'held') sdkCall.unhold(); else sdkCall.hold();
  };
  if (!token) {
    note('Open this page with ?token=<agent token> (POST /v1/agents/{id}/token)');
    render();
    return;
  }
  connectRelay();
  // 4 times a second: the timer shown lags the talk time by 250 ms at most
  setInterval(render, 250);
  setInterval(() => { sampleQuality().catch(() => {}); }, 2000);
  setInterval(() => send({ type: 'presence' }), 30000);
  document.addEventListener('keydown', onKey);
  for (const [key, id] of Object.entries(SHORTCUTS)) $(id).setAttribute('aria-keyshortcuts', `Alt+${key.toUpperCase()}`);
  render();
}

start();
