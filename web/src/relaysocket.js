// The relay's WebSocket as the softphone and the dashboard hold it: kept
// open for the life of the page. On a cut, onDown() and a new socket after
// 0.5 s, then twice as long each time up to 8 s; the delay starts again at
// each hello, which brings back what changed meanwhile. A socket refused
// before its hello (an error first: a bad or expired token, not a
// supervisor) is not retried: onRefused(error) says why.

/**
 * @param {string} path the relay's WS path and query (e.g. "/ws?token=…")
 * @param {{onMessage: (msg: any) => void, onDown: () => void, onRefused: (error: string) => void}} on
 * @returns {{send: (msg: any) => boolean}} send: false when the socket is not open
 */
export function relaySocket(path, { onMessage, onDown, onRefused }) {
  let ws = null;
  let backoff = 500;
  const open = () => {
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`);
    let greeted = false;
    let refused = null;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'hello') {
        greeted = true;
        backoff = 500;
      } else if (msg.type === 'error' && !greeted) refused = msg.error;
      onMessage(msg);
    };
    ws.onclose = () => {
      if (refused) {
        onRefused(refused);
        return;
      }
      onDown();
      setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, 8000);
    };
  };
  open();
  return {
    send(msg) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(msg));
      return true;
    },
  };
}
