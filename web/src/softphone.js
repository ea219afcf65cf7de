// The softphone: the relay's socket (the call record, pushed), the real
// @telnyx/webrtc SDK (media, placed at once on Call), and the screen,
// rendered from core.view() on every change and every second. The page
// keeps no call state of its own beyond the SDK call it holds.
import { TelnyxRTC } from '@telnyx/webrtc';
import { view, clientState, e164, transferTarget } from './core.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token');

/** @type {import('./core.js').CallRecord|null} */
let record = null;
let sdkCall = null; // the SDK's Call
let client = null;
let ws = null;
let muted = false;
let skew = 0; // server time - this page's time, from hello
let me = ''; // this softphone's agent id, from hello
// A warm transfer's consult: a second SDK call to the colleague, while the
// customer waits on hold on the first (proto/README.md, "transfer").
let consultCall = null;
let consultTo = '';
let completing = false;
let panel = ''; // '' | 'pad' | 'xfer'
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
  const consulting = !!consultCall && !ENDED.includes(consultCall.state);
  // a panel belongs to the call it was opened on
  if ((panel === 'xfer' && !v.canTransfer && !consulting) || (panel === 'pad' && !v.inCall)) panel = '';
  $('keypad').disabled = !v.inCall;
  $('keypad').setAttribute('aria-expanded', String(panel === 'pad' && v.inCall));
  $('pad').hidden = !(panel === 'pad' && v.inCall);
  $('transfer').disabled = !v.canTransfer && !consulting;
  $('transfer').setAttribute('aria-expanded', String(panel === 'xfer'));
  $('xfer').hidden = !(panel === 'xfer' && (v.canTransfer || consulting));
  $('xfer-blind').disabled = consulting;
  $('xfer-consult').disabled = consulting;
  $('consult-status').textContent = consultCall
    ? `Consult with ${consultTo}: ${CONSULT_LABELS[consultCall.state] || 'ended'}` : '';
  $('xfer-complete').hidden = !consulting;
  $('xfer-complete').disabled = !consulting || consultCall.state !== 'active' || completing;
  $('xfer-cancel').hidden = !consulting;
  $('status').textContent = v.status;
  const timer = $('timer');
  timer.hidden = v.timer === null;
  timer.textContent = v.timer || '';
  $('remote').textContent = v.remote || '';
  $('call').disabled = !v.canCall || !client;
  $('answer').hidden = !v.ringingIn;
  $('decline').hidden = !v.ringingIn;
  $('hangup').disabled = !v.canHangUp;
  $('hangup').hidden = v.ringingIn;
  $('mute').disabled = !v.inCall;
  $('mute').setAttribute('aria-pressed', String(muted));
  $('hold').disabled = !v.inCall;
  $('hold').setAttribute('aria-pressed', String(v.held));
  window.softphone = {
    record, view: v, sdkState: sdkCall && sdkCall.state, callId: sdkCall && sdkCall.id, stats,
    consultState: consultCall && consultCall.state,
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
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function note(text) {
  $('note').textContent = text;
}

function place(rec) {
  // The media path is built now, while the far end rings (ARCHITECTURE §1);
  // nothing waits for a webhook.
  record = rec;
  muted = false;
  sdkCall = client.newCall({
    destinationNumber: rec.to,
    clientState: clientState(rec),
    customHeaders: [{ name: 'X-Callsync-Id', value: rec.id }],
    audio: true,
    video: false,
  });
  render();
}

function onRelay(msg) {
  if (msg.type === 'hello') {
    if (msg.server_time) skew = msg.server_time - Date.now();
    $('agent').textContent = msg.agent.name || msg.agent.id;
    me = msg.agent.id;
    if (!msg.rtc.login_token) {
      note('No SDK login for this agent: ask the operator to set its Telnyx credential.');
      return;
    }
    connectSdk(msg.rtc.host, msg.rtc.login_token);
    const live = (msg.calls || [])[0];
    if (live && !record) record = live;
  } else if (msg.type === 'dial') {
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

function connectSdk(host, loginToken) {
  client = new TelnyxRTC({ host, login_token: loginToken, iceServers: [] });
  client.on('telnyx.ready', () => { note(''); render(); });
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
        // yet on its first update)
        record = null;
        muted = false;
      }
      sdkCall = c;
      if (!record) record = [...recent.values()].find(ofSdkCall) || null;
      report(c, { state: c.state });
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

function hangUp() {
  // Both ends of the guarantee: the SDK's bye and the relay's hangup
  // request, which the orchestrator carries out on every live leg.
  if (sdkCall && !['hangup', 'destroy', 'purge'].includes(sdkCall.state)) sdkCall.hangup();
  if (record) send({ type: 'hangup', call: record.id });
  render();
}

function start() {
  $('dial').onsubmit = (e) => {
    e.preventDefault();
    const to = e164($('number').value);
    if (!to) { note('Enter a number like +15550100001'); return; }
    note('');
    record = null;
    sdkCall = null;
    send({ type: 'dial', to });
    render();
  };
  $('hangup').onclick = hangUp;
  $('decline').onclick = hangUp;
  $('answer').onclick = () => { if (sdkCall) sdkCall.answer(); };
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
    send({ type: 'complete', call: record.id });
    render();
  };
  $('xfer-cancel').onclick = cancelConsult;
  $('hold').onclick = () => {
    if (!sdkCall) return;
    if (sdkCall.state === 'held') sdkCall.unhold(); else sdkCall.hold();
  };
  if (!token) {
    note('Open this page with ?token=<agent token> (POST /v1/agents/{id}/token)');
    render();
    return;
  }
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.onmessage = (e) => onRelay(JSON.parse(e.data));
  ws.onclose = () => note('Disconnected from callsync: reload the page');
  setInterval(render, 1000);
  render();
}

start();
