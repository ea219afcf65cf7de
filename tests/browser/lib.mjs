// Harness for the browser tests: the real callsync-sim on a free port, a
// webhook collector standing in for the ingestor, a page server with the
// SDK bundled by esbuild, and Debian's chromium driven by playwright-core.
// Everything is on 127.0.0.1 and is torn down by stop(); the suite runs in
// a network namespace with only lo (scripts/netns.sh).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--disable-features=WebRtcHideLocalIpsWithMdns', '--autoplay-policy=no-user-gesture-required',
];

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Waits for cond() to be truthy (polling, no fixed sleeps), or throws what
// it was waiting for.
export async function until(what, cond, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class Stack {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'callsync-browser-'));
    this.events = [];
    this.hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        try { this.events.push(JSON.parse(body).data); } catch { /* counted by the sim */ }
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => this.hooks.listen(0, '127.0.0.1', r));
    this.simPort = await freePort();
    this.simLog = join(this.dir, 'sim.log');
    const out = openSync(this.simLog, 'a');
    this.sim = spawn(join(root, 'bin', 'callsync-sim'), [], {
      env: {
        ...process.env,
        CALLSYNC_SIM_PORT: String(this.simPort),
        CALLSYNC_SIM_WEBHOOK_URL: `http://127.0.0.1:${this.hooks.address().port}/webhooks`,
        CALLSYNC_LOG_LEVEL: process.env.CALLSYNC_LOG_LEVEL || 'info',
      },
      stdio: ['ignore', out, out],
    });
    this.base = `http://127.0.0.1:${this.simPort}`;
    await until('the sim', async () => {
      try { return (await fetch(`${this.base}/healthz`)).ok; } catch { return false; }
    });

    const bundle = await esbuild.build({
      entryPoints: [join(here, 'page.js')], bundle: true, write: false, format: 'esm',
      platform: 'browser', logLevel: 'silent',
    });
    const js = bundle.outputFiles[0].text;
    this.pages = createServer((req, res) => {
      if (req.url === '/app.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>sdk</title><script type="module" src="/app.js"></script>');
      }
    });
    await new Promise((r) => this.pages.listen(0, '127.0.0.1', r));
    this.browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    return this;
  }

  async page() {
    const ctx = await this.browser.newContext();
    const page = await ctx.newPage();
    page.on('pageerror', (e) => { this.pageErrors = (this.pageErrors || []).concat(String(e)); });
    await page.goto(`http://127.0.0.1:${this.pages.address().port}/`);
    await page.waitForFunction(() => window.cs);
    return page;
  }

  async rest(method, path, body) {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: 'Bearer sim-key', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json };
  }

  // A credential and a login token for it, as the relay will mint them.
  async agent(name = 'agent') {
    const cred = await this.rest('POST', '/v2/telephony_credentials', { connection_id: '1001', name });
    const token = await this.rest('POST', `/v2/telephony_credentials/${cred.body.data.id}/token`);
    return { user: cred.body.data.sip_username, password: cred.body.data.sip_password, token: token.body };
  }

  webhooks(type, ccid) {
    return this.events.filter((e) => e.event_type === type &&
      (!ccid || e.payload.call_control_id === ccid));
  }

  async webhook(type, pred = () => true, timeoutMs = 10000) {
    return until(`webhook ${type}`, () => this.events.find((e) => e.event_type === type && pred(e.payload)),
      timeoutMs);
  }

  async simLeg(ccid) {
    return (await this.rest('GET', `/sim/calls/${encodeURIComponent(ccid)}`)).body.data;
  }

  log() { return readFileSync(this.simLog, 'utf8'); }

  async stop() {
    if (this.browser) await this.browser.close();
    if (this.sim) {
      const exited = new Promise((r) => this.sim.once('exit', (code, sig) => r({ code, sig })));
      this.sim.kill('SIGTERM');
      this.simExit = await exited;
    }
    for (const s of [this.hooks, this.pages]) if (s) await new Promise((r) => s.close(r));
    // Under SANITIZE=... the sim's report lands in its log: that fails the run.
    const log = this.sim ? this.log() : '';
    this.sanitizer = /(AddressSanitizer|LeakSanitizer|runtime error:)/.test(log)
      ? log.split('\n').filter((l) => /Sanitizer|runtime error|#\d+ /.test(l)).slice(0, 40).join('\n')
      : null;
    if (process.env.CALLSYNC_KEEP) console.error(`kept ${this.dir}`);
    else if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
