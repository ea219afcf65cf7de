// What the node benches (relayload.mjs, agentstorm.mjs) share: free ports,
// waiting on a condition, a process's CPU and memory, and a temp dir whose
// processes (Redis, the bus, services) log there and are stopped at the end.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const bin = (n) => join(root, 'bin', `callsync-${n}`);

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export async function until(what, cond, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const up = (url) => until(url, async () => { try { return (await fetch(url)).ok; } catch { return false; } });

/** CPU seconds (user + system) the process has used so far. */
export function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, s (USER_HZ 100)
}

export const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/**
 * A temp dir for one bench: run() starts a process logging to <dir>/<name>.log,
 * redis() a redis-server (AOF everysec, as in production) on a unix socket
 * there, finish() stops them all and removes the dir (CALLSYNC_KEEP keeps it).
 */
export function benchDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `callsync-${name}-`));
  const procs = [];
  const run = (what, file, args, env) => {
    const out = openSync(join(dir, `${what}.log`), 'a');
    const p = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
    procs.push(p);
    return p;
  };
  const redis = async () => {
    const sock = join(dir, 'redis.sock');
    run('redis', 'redis-server', ['--port', '0', '--unixsocket', sock, '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'everysec']);
    await until('redis', () => { try { execFileSync('redis-cli', ['-s', sock, 'ping'], { stdio: 'ignore' }); return true; } catch { return false; } });
    return sock;
  };
  const finish = () => {
    for (const p of procs.reverse()) p.kill('SIGTERM');
    if (process.env.CALLSYNC_KEEP) console.error(`kept ${dir}`);
    else setTimeout(() => rmSync(dir, { recursive: true, force: true }), 300);
  };
  return { dir, run, redis, finish };
}
