// Harness for the browser tests: the real callsync-sim on a free port, a
// webhook collector standing in for the ingestor, a page server with the
// SDK bundled by esbuild, and Debian's chromium driven by playwright-core.
// Everything is on 127.0.0.1 and is torn down by stop(); the suite runs in
// a network namespace with only lo (scripts/netns.sh).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
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

const bin = (name) => join(root, 'bin', `callsync-${name}`);

export class Stack {
  // backbone: also Redis, the bus, the ingestor (the sim's webhooks go to
  // it, signed with a fresh keypair), the orchestrator and the timer: the
  // whole callsync stack between the page and the sim.
  // relayEnv: more settings for the relay (e.g. short presence leases).
  constructor({ backbone = false, relayEnv = {} } = {}) {
    this.backbone = backbone; this.relayExtra = relayEnv; this.procs = [];
  }

  // A service of the stack, logging to <dir>/<name>.log. It gets SIGTERM
  // when this process dies (setpriv execs it with PR_SET_PDEATHSIG), so a
  // test run killed from outside (a timeout, a cancelled CI job) leaves
  // nothing running, as the C harness's services do.
  spawnLogged(name, file, args, env) {
    const out = openSync(join(this.dir, `${name}.log`), 'a');
    const p = spawn('setpriv', ['--pdeathsig', 'TERM', '--', file, ...args],
      { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
    this.procs.push({ name, p });
    return p;
  }

  async startBackbone() {
    const sock = join(this.dir, 'redis.sock');
    this.spawnLogged('redis', 'redis-server', ['--port', '0', '--unixsocket', sock, '--dir', this.dir,
      '--save', '', '--appendonly', 'no']);
    await until('redis', () => { try { execFileSync('redis-cli', ['-s', sock, 'ping'], { stdio: 'ignore' }); return true; } catch { return false; } });
    const keys = JSON.parse(execFileSync(bin('ctl'), ['keypair'], { encoding: 'utf8' }));
    this.apiKey = 'crm-test-key';
    await this.startBus(sock);
    ({ port: this.ingestPort } = await this.startListening('ingestor', 'CALLSYNC_INGEST_PORT',
      { ...this.env, TELNYX_PUBLIC_KEY: keys.public_key }));
    this.seed = keys.seed;
  }

  // A port that was free when picked may be taken by another process before
  // the service binds it (any outgoing connection draws a port from the
  // same range). The service then exits saying `taken`, and start() is
  // called again, on new ports, up to 5 times. start() spawns and returns
  // { p, ready, result }: ready(said) tells from the process's new log
  // lines (and anything else) that it is up; result is what this returns.
  async startRetrying(name, start, taken) {
    const log = join(this.dir, `${name}.log`);
    const read = () => { try { return readFileSync(log, 'utf8'); } catch { return ''; } };
    for (let attempt = 1; ; attempt++) {
      const from = read().length;
      const said = () => read().slice(from);
      const { p, ready, result } = await start();
      const got = await until(`the ${name}`, async () => {
        if (p.exitCode !== null || p.signalCode !== null) return 'exited';
        return (await ready(said)) && 'up';
      });
      if (got === 'up') return result;
      this.procs = this.procs.filter((x) => x.p !== p);
      if (attempt === 5 || !said().includes(taken)) throw new Error(`the ${name} did not start:\n${said()}`);
    }
  }

  // A service on a new port, up once its /healthz answers 200: { port, p }.
  // name is its log's; binary, callsync-<binary> (default: the name).
  startListening(name, portVar, env, binary = name) {
    return this.startRetrying(name, async () => {
      const port = await freePort();
      const p = this.spawnLogged(name, bin(binary), [], { ...env, [portVar]: String(port) });
      const ready = async () => {
        try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
      };
      return { p, ready, result: { port, p } };
    }, 'cannot listen');
  }

  // The bus on new ports, before any service has been given them; up once
  // it says it is forwarding.
  startBus(sock) {
    return this.startRetrying('bus', async () => {
      const [pub, sub] = [await freePort(), await freePort()];
      this.env = {
        CALLSYNC_REDIS_URL: `unix://${sock}`,
        CALLSYNC_BUS_PUB: `tcp://127.0.0.1:${pub}`, CALLSYNC_BUS_SUB: `tcp://127.0.0.1:${sub}`,
        CALLSYNC_LOG_LEVEL: 'info',
      };
      const p = this.spawnLogged('bus', bin('bus'), [], this.env);
      return { p, ready: (said) => said().includes('bus: forwarding'), result: undefined };
    }, 'cannot bind');
  }

  async startServices() {
    const api = { TELNYX_API_BASE: `${this.base}/v2`, TELNYX_API_KEY: 'sim-key', TELNYX_CONNECTION_ID: '1001', CALLSYNC_CALLER_ID: '+15550009999' };
    ({ port: this.orchPort } = await this.startListening('orchestrator', 'CALLSYNC_ORCH_PORT',
      { ...this.env, ...api }));
    ({ port: this.timerPort } = await this.startListening('timer', 'CALLSYNC_TIMER_PORT',
      { ...this.env, ...api }));
    const relayEnv = {
      ...this.env, ...api, CALLSYNC_API_KEY: this.apiKey,
      CALLSYNC_RTC_HOST: `ws://127.0.0.1:${this.simPort}`, CALLSYNC_WEB_DIR: join(root, 'web', 'dist'),
      ...this.relayExtra,
    };
    ({ port: this.relayPort } = await this.startListening('relay', 'CALLSYNC_RELAY_PORT', relayEnv));
    this.relayEnv = { ...relayEnv, CALLSYNC_RELAY_PORT: String(this.relayPort) }; // restartRelay's
    this.relay = `http://127.0.0.1:${this.relayPort}`;
  }

  // One more relay on the same Redis and bus (as a deployment scales it),
  // logging to <name>.log: its port.
  async startRelay(name) {
    const env = { ...this.relayEnv };
    delete env.CALLSYNC_RELAY_PORT;
    return (await this.startListening(name, 'CALLSYNC_RELAY_PORT', env, 'relay')).port;
  }

  // Stops the relay (SIGTERM; it must exit 0) and starts it again on the
  // same port: every page's socket to it is cut meanwhile. With SIGKILL it
  // dies as a crashed one does, releasing nothing.
  async restartRelay(downMs = 300, signal = 'SIGTERM') {
    const i = this.procs.findIndex((x) => x.name === 'relay');
    const { p } = this.procs[i];
    const exited = new Promise((r) => p.once('exit', (code, sig) => r({ code, sig })));
    p.kill(signal);
    const e = await exited;
    if (signal === 'SIGTERM' && e.code !== 0) throw new Error(`the relay exited ${JSON.stringify(e)} on SIGTERM`);
    this.procs.splice(i, 1);
    await new Promise((r) => setTimeout(r, downMs));
    this.spawnLogged('relay', bin('relay'), [], this.relayEnv);
    await until('the relay again', async () => {
      try { return (await fetch(`${this.relay}/healthz`)).ok; } catch { return false; }
    });
  }

  // callsync-ctl with this stack's Redis and bus; its JSON output parsed.
  ctl(...args) {
    return JSON.parse(execFileSync(bin('ctl'), args, { env: { ...process.env, ...this.env }, encoding: 'utf8' }));
  }

  // callsync-ctl when it may fail: its exit status and what it wrote
  ctlResult(...args) {
    const r = spawnSync(bin('ctl'), args, { env: { ...process.env, ...this.env }, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'callsync-browser-'));
    this.events = [];
    if (this.backbone) await this.startBackbone();
    this.hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        try { this.events.push(JSON.parse(body).data); } catch { /* counted by the sim */ }
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => this.hooks.listen(0, '127.0.0.1', r));
    this.simLog = join(this.dir, 'sim.log');
    ({ port: this.simPort, p: this.sim } = await this.startListening('sim', 'CALLSYNC_SIM_PORT', {
      CALLSYNC_SIM_WEBHOOK_URL: this.backbone
        ? `http://127.0.0.1:${this.ingestPort}/webhooks/telnyx`
        : `http://127.0.0.1:${this.hooks.address().port}/webhooks`,
      CALLSYNC_LOG_LEVEL: process.env.CALLSYNC_LOG_LEVEL || 'info',
      ...(this.backbone ? { CALLSYNC_SIM_SIGNING_SEED: this.seed } : {}),
    }));
    this.base = `http://127.0.0.1:${this.simPort}`;
    if (this.backbone) await this.startServices();

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
    return {
      user: cred.body.data.sip_username, password: cred.body.data.sip_password, token: token.body,
      credentialId: cred.body.data.id,
    };
  }

  // The CRM's REST API on the relay.
  async crm(method, path, body, key = this.apiKey) {
    const res = await fetch(`${this.relay}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json };
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
    // every service gets SIGTERM, the sim last; each must exit 0
    this.exits = {};
    for (const { name, p } of [...this.procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) { this.exits[name] = { code: p.exitCode, sig: p.signalCode }; continue; }
      const exited = new Promise((r) => p.once('exit', (code, sig) => r({ code, sig })));
      p.kill('SIGTERM');
      this.exits[name] = await exited;
    }
    this.simExit = this.exits.sim;
    for (const s of [this.hooks, this.pages]) if (s) await new Promise((r) => s.close(r));
    // Under SANITIZE=... a service's report lands in its log: that fails the run.
    const reports = [];
    for (const { name } of this.procs) {
      if (name === 'redis') continue;
      const log = readFileSync(join(this.dir, `${name}.log`), 'utf8');
      if (/(AddressSanitizer|LeakSanitizer|runtime error:)/.test(log)) {
        reports.push(`${name}:\n${log.split('\n').filter((l) => /Sanitizer|runtime error|#\d+ /.test(l)).slice(0, 40).join('\n')}`);
      }
    }
    this.sanitizer = reports.length ? reports.join('\n') : null;
    if (process.env.CALLSYNC_KEEP) console.error(`kept ${this.dir}`);
    else if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
