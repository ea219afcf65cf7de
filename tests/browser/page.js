// The test page: the real @telnyx/webrtc SDK, bundled by esbuild, with a
// small recorder the tests read through page.evaluate. Nothing here fakes
// the SDK; it only writes down what the SDK says and measures the audio the
// way ../shared/reference/telnyx-webrtc-signaling.md §7 does.
import { TelnyxRTC } from '@telnyx/webrtc';

const log = [];          // every callUpdate, error and ready, in order
const calls = new Map(); // callID -> the SDK's Call
let client = null;

function note(entry) {
  log.push({ t: performance.timeOrigin + performance.now(), ...entry });
}

// Chrome decodes remote audio only when something plays it (reference:
// gstreamer-webrtcbin-farend.md item 9): a muted <audio> and an analyser.
const audioCtx = new AudioContext();
function play(call) {
  if (!call.remoteStream || call._played) return;
  call._played = true;
  const el = new Audio();
  el.muted = true;
  el.srcObject = call.remoteStream;
  el.play().catch(() => {});
  const src = audioCtx.createMediaStreamSource(call.remoteStream);
  const analyser = audioCtx.createAnalyser();
  src.connect(analyser);
  call._analyser = analyser;
}

window.cs = {
  log,
  connect(options) {
    return new Promise((resolve) => {
      client = new TelnyxRTC({ ...options, iceServers: [] });
      client.on('telnyx.ready', () => { note({ type: 'ready' }); resolve('ready'); });
      client.on('telnyx.error', (e) => {
        const err = e && (e.error || e);
        note({ type: 'error', code: err && err.code, message: err && err.message });
        resolve('error');
      });
      client.on('telnyx.warning', (w) => note({ type: 'warning', code: w && w.code }));
      client.on('telnyx.socket.close', () => note({ type: 'socket.close' }));
      client.on('telnyx.notification', (n) => {
        if (n.type !== 'callUpdate') return;
        const c = n.call;
        calls.set(c.id, c);
        if (c.state === 'active' || c.state === 'early') play(c);
        note({
          type: 'callUpdate', id: c.id, state: c.state, direction: c.direction,
          ids: { ...(c.telnyxIDs || {}) }, cause: c.cause, causeCode: c.causeCode,
          sipCode: c.sipCode, clientState: c.options && c.options.clientState,
          remoteCallerNumber: c.options && c.options.remoteCallerNumber,
        });
      });
      client.connect();
    });
  },
  newCall(options) {
    const call = client.newCall(options);
    calls.set(call.id, call);
    return call.id;
  },
  states(id) { return log.filter((e) => e.type === 'callUpdate' && e.id === id).map((e) => e.state); },
  last(id) { return [...log].reverse().find((e) => e.type === 'callUpdate' && e.id === id); },
  incoming() {
    const e = log.find((x) => x.type === 'callUpdate' && x.direction === 'inbound' && x.state === 'ringing');
    return e ? e.id : null;
  },
  answer(id) { return calls.get(id).answer(); },
  hangup(id) { return calls.get(id).hangup(); },
  hold(id) { return calls.get(id).hold(); },
  unhold(id) { return calls.get(id).unhold(); },
  dtmf(id, digit) { return calls.get(id).dtmf(digit); },
  mute(id) { return calls.get(id).muteAudio(); },
  unmute(id) { return calls.get(id).unmuteAudio(); },
  // inbound-rtp audio as getStats reports it, with the first packet's time
  // estimated past Chrome's ~50 ms stats cache (§7).
  async audio(id) {
    const call = calls.get(id);
    const pc = call && call.peer && call.peer.instance;
    if (!pc) return null;
    const stats = await pc.getStats();
    let out = null;
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out = {
          bytesReceived: r.bytesReceived || 0, packetsReceived: r.packetsReceived || 0,
          lastPacketReceivedTimestamp: r.lastPacketReceivedTimestamp || null,
          reportTimestamp: r.timestamp,
        };
      }
    });
    return out;
  },
  // For the benchmark: getStats every 10 ms from now on, kept per call.
  watch(id) {
    const samples = [];
    const timer = setInterval(async () => {
      const a = await window.cs.audio(id);
      if (a) samples.push({ t: performance.timeOrigin + performance.now(), ...a });
    }, 10);
    window.cs.samples = window.cs.samples || {};
    window.cs.samples[id] = samples;
    window.cs.timers = window.cs.timers || {};
    window.cs.timers[id] = timer;
  },
  unwatch(id) { clearInterval(window.cs.timers[id]); return window.cs.samples[id]; },
  disconnect() { client && client.disconnect(); },
};

// A relay socket, as the softphone will hold one: every message kept.
window.relay = {
  messages: [],
  open(url) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      window.relay.ws = ws;
      ws.onmessage = (e) => window.relay.messages.push(JSON.parse(e.data));
      ws.onopen = () => resolve('open');
      ws.onclose = (e) => { window.relay.closed = e.code; resolve('closed'); };
    });
  },
  send(msg) { window.relay.ws.send(JSON.stringify(msg)); },
  find(type, pred = () => true) { return window.relay.messages.find((m) => m.type === type && pred(m)) || null; },
};
