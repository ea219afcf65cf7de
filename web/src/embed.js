// Embedding the softphone in a CRM page: <script src="https://<relay>/callsync.js">
// then either the custom element
//     <callsync-softphone relay="https://<relay>" token="<agent token>"></callsync-softphone>
// or Callsync.mount(element, {relay, token}). The softphone runs in an
// iframe of the relay (its own origin, its own SDK and microphone), so the
// CRM page's code and the call never share a global. Callsync.dial(number)
// and any tel: link on the page dial through it; the page hears what the
// softphone shows as "callsync:state" events on window.
import { e164 } from './core.js';

const frames = new Set();

/** The softphone iframe for a relay and an agent token. */
function frameFor(relay, token) {
  const f = document.createElement('iframe');
  const base = String(relay || '').replace(/\/+$/, '');
  f.src = `${base}/?embed=1&token=${encodeURIComponent(token)}`;
  f.title = 'callsync softphone';
  // the microphone and autoplay belong to the frame's origin
  f.allow = 'microphone; autoplay';
  f.style.cssText = 'border:0;width:100%;min-height:32rem';
  f.dataset.origin = new URL(f.src, location.href).origin;
  return f;
}

/**
 * Puts a softphone in an element. Returns {frame, dial(number), unmount()}.
 * @param {HTMLElement} el
 * @param {{relay: string, token: string}} opts
 */
export function mount(el, { relay, token }) {
  if (!token) throw new Error('Callsync.mount needs {relay, token}: an agent token from POST /v1/agents/{id}/token');
  const f = frameFor(relay, token);
  el.replaceChildren(f);
  frames.add(f);
  return {
    frame: f,
    dial: (number) => post(f, number),
    unmount: () => { frames.delete(f); f.remove(); },
  };
}

function post(f, number) {
  const to = e164(number);
  if (!to) throw new Error(`not a number to dial: ${number}`);
  f.contentWindow.postMessage({ type: 'callsync.dial', to }, f.dataset.origin);
  return to;
}

/** Dials through the (first) softphone on the page. */
export function dial(number) {
  const f = [...frames][0];
  if (!f) throw new Error('no softphone on this page: mount one first');
  return post(f, number);
}

// tel: links anywhere on the page dial through the softphone.
document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a[href^="tel:"]') : null;
  if (!a || !frames.size) return;
  const to = e164(decodeURIComponent(a.getAttribute('href').slice(4)));
  if (!to) return;
  e.preventDefault();
  dial(to);
});

// What the softphone shows, for the CRM page: {status, call, remote}.
window.addEventListener('message', (e) => {
  const f = [...frames].find((x) => x.contentWindow === e.source);
  if (!f || e.origin !== f.dataset.origin || !e.data || e.data.type !== 'callsync.state') return;
  window.dispatchEvent(new CustomEvent('callsync:state', { detail: e.data }));
});

class CallsyncSoftphone extends HTMLElement {
  connectedCallback() {
    this.handle = mount(this, { relay: this.getAttribute('relay') || location.origin, token: this.getAttribute('token') });
  }

  disconnectedCallback() {
    if (this.handle) this.handle.unmount();
  }

  dial(number) { return this.handle.dial(number); }
}
if (!customElements.get('callsync-softphone')) customElements.define('callsync-softphone', CallsyncSoftphone);

window.Callsync = { mount, dial };
